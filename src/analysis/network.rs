//! The directed river network and the walk downstream from a site: along-river distance, every
//! crossing of an international border, the lakes and reservoirs passed, and where the water ends.
//!
//! Method (and its limits, also in the README):
//! - A layer with HydroRIVERS fields (`HYRIV_ID`, `NEXT_DOWN`, `LENGTH_KM`) is linked and measured as it
//!   states. Otherwise:
//! - Every river line (canals excluded) is a chain of vertices; line order is taken to run downstream
//!   (both sources draw lines that way) but is checked: a line whose end leads nowhere while its start
//!   meets another line is reversed, and counted.
//! - A line's last vertex continues into another line's vertex within [`JOIN_TOLERANCE_M`]: a line
//!   start if one is there (end-to-start), else the nearest vertex (a tributary entering mid-line).
//!   Ends that join nothing are recorded: they stop in a terminal water body, leave the mapped area,
//!   or simply end (the data cannot say more).
//! - The walk follows the chain from the site's snap point, adding geodesic segment lengths.
//! - Crossings come from the border lines, not the polygons. A crossing whose side is not the current
//!   country cannot be oriented and makes the sequence `unknown` from there on. Back-and-forth pairs
//!   closer than [`GRAZE_MERGE_M`] along the river, where a coarse line grazes a border, are merged away.

use geo::{BoundingRect, Contains};
use rstar::primitives::GeomWithData;
use rstar::{AABB, RTree};
use serde::Serialize;
use serde_json::Value;

use super::LineSet;
use crate::geodesy;
use crate::index::SegmentRef;
use crate::model::Iso3;
use crate::reference::RefLayer;

/// How far apart a line's end and the vertex it flows into may be.
pub const JOIN_TOLERANCE_M: f64 = 2_000.0;
/// A crossing and its reversal closer than this along the river are one grazing, not two crossings.
pub const GRAZE_MERGE_M: f64 = 5_000.0;
/// How close to a water body a line's end must be for the water to end there.
pub const TERMINAL_TOLERANCE_M: f64 = 10_000.0;

#[derive(Debug, Clone)]
pub(super) struct NetLine {
    pub(super) coords: Vec<[f64; 2]>,
    /// Geodesic distance from the first vertex, per vertex, metres.
    pub(super) cum_m: Vec<f64>,
    pub(super) next: Option<(usize, usize)>,
    end: LineEnd,
    /// Length of the edge from the last vertex into `next`, metres (0 without one).
    pub(super) join_m: f64,
    /// Stated length over drawn length (1 unless the layer states lengths).
    scale: f64,
    /// What every walk through this line meets, computed once ([`RiverNetwork::prepare`]).
    pub(super) prepared: Prepared,
}

/// Per-line facts a walk needs, in along-line metres (the join edge continues past the last vertex).
#[derive(Debug, Clone, Default)]
pub(super) struct Prepared {
    pub(super) crossings: Vec<RawCrossing>,
    /// Along-positions of the vertices farther than [`GRAZE_DISTANCE_M`] from every border.
    far_from_border: Vec<f64>,
    /// The vertices inside a water body: (along, vertex, water index), by along.
    waters: Vec<(f64, usize, usize)>,
}

/// What happens at the end of a line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineEnd {
    /// Flows into another line.
    Joins,
    /// Ends in (or at) this water body (id, name).
    WaterBody { id: String, name: Option<String> },
    /// Reaches the edge of the mapped area.
    LeavesMappedArea,
    /// Ends with nothing to continue into.
    Ends,
}

/// A water body polygon.
#[derive(Debug, Clone)]
struct Water {
    id: String,
    name: Option<String>,
    kind: Option<String>,
    shape: geo::Geometry<f64>,
    boundary: geo::MultiLineString<f64>,
}

/// Counts describing how the network was built.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NetworkReport {
    pub lines: usize,
    pub reversed: usize,
    pub joined: usize,
    pub ends_in_water_body: usize,
    pub leaves_mapped_area: usize,
    pub unjoined_ends: usize,
    /// Indexes (into the river lines) of the lines whose end joins nothing and ends nowhere known.
    #[serde(skip)]
    pub unjoined: Vec<usize>,
    /// Indexes of the lines that were reversed.
    #[serde(skip)]
    pub reversed_lines: Vec<usize>,
}

/// A position on the network: a river line (index in the river layer) and the along-metres on it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetPosition {
    pub line: usize,
    pub along_m: f64,
}

/// The directed network.
#[derive(Debug)]
pub struct RiverNetwork {
    pub(super) lines: Vec<NetLine>,
    waters: Vec<Water>,
    water_tree: RTree<GeomWithData<rstar::primitives::Rectangle<[f64; 2]>, usize>>,
    pub report: NetworkReport,
}

fn cumulative(coords: &[[f64; 2]]) -> Vec<f64> {
    let mut cum = Vec::with_capacity(coords.len());
    let mut total = 0.0;
    cum.push(0.0);
    for w in coords.windows(2) {
        total += geodesy::distance_m(w[0], w[1]);
        cum.push(total);
    }
    cum
}

fn line_coords(g: &geo::Geometry<f64>) -> Vec<[f64; 2]> {
    match g {
        geo::Geometry::LineString(l) => l.coords().map(|c| [c.x, c.y]).collect(),
        geo::Geometry::MultiLineString(m) => {
            m.0.iter()
                .flat_map(|l| l.coords().map(|c| [c.x, c.y]))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// All vertices, for joining ends.
struct Vertices(RTree<GeomWithData<[f64; 2], (usize, usize)>>);

impl Vertices {
    fn new(lines: &[Vec<[f64; 2]>]) -> Self {
        let entries = lines
            .iter()
            .enumerate()
            .flat_map(|(l, cs)| {
                cs.iter()
                    .enumerate()
                    .map(move |(v, c)| GeomWithData::new(*c, (l, v)))
            })
            .collect();
        Vertices(RTree::bulk_load(entries))
    }

    /// The vertex of another line that the end `p` of line `own` flows into, if any: a line start
    /// within the tolerance, else the nearest vertex that is not a line's last.
    fn continuation(
        &self,
        lines: &[Vec<[f64; 2]>],
        own: usize,
        p: [f64; 2],
    ) -> Option<(usize, usize)> {
        let [w, s, e, n] = geodesy::search_box(p, JOIN_TOLERANCE_M)?;
        let mut best_start: Option<(f64, (usize, usize))> = None;
        let mut best_mid: Option<(f64, (usize, usize))> = None;
        for v in self
            .0
            .locate_in_envelope(&AABB::from_corners([w, s], [e, n]))
        {
            let (l, i) = v.data;
            if l == own || i + 1 == lines[l].len() {
                continue;
            }
            let d = geodesy::distance_m(p, *v.geom());
            if d > JOIN_TOLERANCE_M {
                continue;
            }
            let slot = if i == 0 {
                &mut best_start
            } else {
                &mut best_mid
            };
            if slot.is_none_or(|(bd, bk)| d < bd || (d == bd && (l, i) < bk)) {
                *slot = Some((d, (l, i)));
            }
        }
        best_start.or(best_mid).map(|(_, k)| k)
    }
}

impl RiverNetwork {
    /// Builds the network over the lines of `rivers` and the polygons of `water_bodies`.
    pub fn new(rivers: &LineSet, water_bodies: &RefLayer) -> Self {
        let waters: Vec<Water> = water_bodies
            .features
            .iter()
            // The historic shoreline is not water today.
            .filter(|f| f.properties.get("kind").and_then(|v| v.as_str()) != Some("historic_lake"))
            .map(|f| Water {
                id: f.id.clone(),
                name: f
                    .properties
                    .get("name")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
                kind: f
                    .properties
                    .get("kind")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
                boundary: geo::MultiLineString(match &f.geometry {
                    geo::Geometry::Polygon(p) => std::iter::once(p.exterior().clone())
                        .chain(p.interiors().iter().cloned())
                        .collect(),
                    geo::Geometry::MultiPolygon(m) => {
                        m.0.iter()
                            .flat_map(|p| {
                                std::iter::once(p.exterior().clone())
                                    .chain(p.interiors().iter().cloned())
                            })
                            .collect()
                    }
                    _ => Vec::new(),
                }),
                shape: f.geometry.clone(),
            })
            .collect();
        let water_tree = RTree::bulk_load(
            waters
                .iter()
                .enumerate()
                .filter_map(|(i, w)| {
                    let r = w.shape.bounding_rect()?;
                    Some(GeomWithData::new(
                        rstar::primitives::Rectangle::from_corners(
                            [r.min().x, r.min().y],
                            [r.max().x, r.max().y],
                        ),
                        i,
                    ))
                })
                .collect(),
        );
        let mut net = RiverNetwork {
            lines: Vec::new(),
            waters,
            water_tree,
            report: NetworkReport::default(),
        };
        let mut coords: Vec<Vec<[f64; 2]>> = rivers.geometries().iter().map(line_coords).collect();
        let extent =
            coords
                .iter()
                .flatten()
                .fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |e, c| {
                    [
                        e[0].min(c[0]),
                        e[1].min(c[1]),
                        e[2].max(c[0]),
                        e[3].max(c[1]),
                    ]
                });
        let at_edge = |c: [f64; 2]| {
            let eps = 1e-3;
            c[0] - extent[0] < eps
                || c[1] - extent[1] < eps
                || extent[2] - c[0] < eps
                || extent[3] - c[1] < eps
        };
        // A HydroRIVERS-style layer states its topology: each reach's NEXT_DOWN is the HYRIV_ID of
        // the reach it flows into (0 at an outlet), and LENGTH_KM its length. Use it as given.
        let field = |l: usize, k: &str| rivers.properties[l].get(k).and_then(Value::as_f64);
        let hydro = !coords.is_empty()
            && (0..coords.len())
                .all(|l| field(l, "HYRIV_ID").is_some() && field(l, "NEXT_DOWN").is_some());
        let by_hyriv: std::collections::HashMap<i64, usize> = if hydro {
            (0..coords.len())
                .filter_map(|l| Some((field(l, "HYRIV_ID")? as i64, l)))
                .collect()
        } else {
            Default::default()
        };
        let stated_next = |l: usize| -> Option<(usize, usize)> {
            let down = field(l, "NEXT_DOWN")? as i64;
            (down != 0)
                .then(|| by_hyriv.get(&down).map(|&n| (n, 0)))
                .flatten()
        };
        // Check the drawn direction: an end that leads nowhere while the start meets another line means
        // the line was drawn upstream.
        let vertices = Vertices::new(&coords);
        let mut reversed = 0;
        let mut reversed_lines = Vec::new();
        for l in 0..coords.len() {
            if hydro {
                break;
            }
            let (Some(&first), Some(&last)) = (coords[l].first(), coords[l].last()) else {
                continue;
            };
            let end_leads = vertices.continuation(&coords, l, last).is_some()
                || net.water_at(last).is_some()
                || at_edge(last);
            let start_meets = !at_edge(first) && vertices.continuation(&coords, l, first).is_some();
            if !end_leads && start_meets {
                coords[l].reverse();
                reversed += 1;
                reversed_lines.push(l);
            }
        }
        let vertices = if reversed > 0 {
            Vertices::new(&coords)
        } else {
            vertices
        };
        let mut report = NetworkReport {
            lines: coords.len(),
            reversed,
            reversed_lines,
            ..Default::default()
        };
        net.lines = coords
            .iter()
            .enumerate()
            .map(|(l, cs)| {
                let last = cs.last().copied().unwrap_or([0.0, 0.0]);
                let next = if hydro {
                    stated_next(l)
                } else {
                    vertices.continuation(&coords, l, last)
                };
                let end = if next.is_some() {
                    report.joined += 1;
                    LineEnd::Joins
                } else if let Some(w) = net.water_at(last) {
                    report.ends_in_water_body += 1;
                    LineEnd::WaterBody {
                        id: net.waters[w].id.clone(),
                        name: net.waters[w].name.clone(),
                    }
                } else if at_edge(last) {
                    report.leaves_mapped_area += 1;
                    LineEnd::LeavesMappedArea
                } else {
                    report.unjoined_ends += 1;
                    report.unjoined.push(l);
                    LineEnd::Ends
                };
                let mut cum_m = cumulative(cs);
                let mut scale = 1.0;
                // The stated length wins over the drawn one (which a simplified line shortens).
                if let (true, Some(km), Some(&drawn)) = (hydro, field(l, "LENGTH_KM"), cum_m.last())
                    && drawn > 0.0
                    && km > 0.0
                {
                    scale = km * 1000.0 / drawn;
                    cum_m.iter_mut().for_each(|c| *c *= scale);
                }
                NetLine {
                    cum_m,
                    scale,
                    join_m: next.map_or(0.0, |(n, v)| geodesy::distance_m(last, coords[n][v])),
                    coords: cs.clone(),
                    next,
                    end,
                    prepared: Prepared::default(),
                }
            })
            .collect();
        net.report = report;
        net
    }

    /// The water body containing `p`, or the nearest within [`TERMINAL_TOLERANCE_M`].
    fn water_at(&self, p: [f64; 2]) -> Option<usize> {
        if let Some(i) = self.water_containing(p) {
            return Some(i);
        }
        let [w, s, e, n] = geodesy::search_box(p, TERMINAL_TOLERANCE_M)?;
        self.water_tree
            .locate_in_envelope_intersecting(&AABB::from_corners([w, s], [e, n]))
            .filter_map(|entry| {
                let water = &self.waters[entry.data];
                let d = water
                    .boundary
                    .0
                    .iter()
                    .flat_map(|ls| ls.lines())
                    .filter(|l| {
                        geodesy::lower_bound_m(
                            p,
                            [
                                l.start.x.min(l.end.x),
                                l.start.y.min(l.end.y),
                                l.start.x.max(l.end.x),
                                l.start.y.max(l.end.y),
                            ],
                        ) <= TERMINAL_TOLERANCE_M
                    })
                    .map(|l| {
                        geodesy::closest_on_segment(p, [l.start.x, l.start.y], [l.end.x, l.end.y])
                            .distance_m
                    })
                    .fold(f64::INFINITY, f64::min);
                (d <= TERMINAL_TOLERANCE_M).then_some((d, entry.data))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map(|(_, i)| i)
    }

    fn water_containing(&self, p: [f64; 2]) -> Option<usize> {
        let pt = geo::Point::new(p[0], p[1]);
        self.water_tree
            .locate_all_at_point(&p)
            .map(|e| e.data)
            .filter(|&i| self.waters[i].shape.contains(&pt))
            .min()
    }

    /// The raw border crossings of line `line` (along its join edge too), if it is a line.
    pub fn line_crossings(&self, line: usize) -> Option<&[RawCrossing]> {
        self.lines
            .get(line)
            .map(|l| l.prepared.crossings.as_slice())
    }

    /// The network position of the point `along_in_segment_m` into segment `seg`.
    pub fn position(&self, seg: SegmentRef, along_in_segment_m: f64) -> NetPosition {
        let l = &self.lines[seg.feature];
        NetPosition {
            line: seg.feature,
            along_m: l.cum_m[seg.segment] + along_in_segment_m * l.scale,
        }
    }

    /// Computes, for every line, the border crossings, the vertices far from any border and the water
    /// bodies entered, so that a walk only has to chain them (in parallel over the lines).
    pub fn prepare(&mut self, borders: &LineSet) {
        use rayon::prelude::*;
        let prepared: Vec<Prepared> = self
            .lines
            .par_iter()
            .map(|l| {
                let mut path = l.coords.clone();
                let mut along = l.cum_m.clone();
                if let Some((n, v)) = l.next {
                    path.push(self.lines[n].coords[v]);
                    along.push(l.cum_m.last().copied().unwrap_or(0.0) + l.join_m);
                }
                // Every vertex inside a water body: a walk may start after a line's first one.
                let waters: Vec<(f64, usize, usize)> = l
                    .coords
                    .iter()
                    .enumerate()
                    .filter_map(|(v, c)| self.water_containing(*c).map(|w| (l.cum_m[v], v, w)))
                    .collect();
                Prepared {
                    crossings: raw_crossings(&path, &along, borders),
                    far_from_border: l
                        .coords
                        .iter()
                        .zip(&l.cum_m)
                        .filter(|(c, _)| {
                            super::nearest::nearest(&borders.metric, **c, GRAZE_DISTANCE_M)
                                .is_none()
                        })
                        .map(|(_, a)| *a)
                        .collect(),
                    waters,
                }
            })
            .collect();
        for (l, p) in self.lines.iter_mut().zip(prepared) {
            l.prepared = p;
        }
    }

    /// The lines a walk from along-line position `from_m` of line `line` passes, and why it stops.
    fn legs(&self, line: usize, from_m: f64) -> (Vec<Leg>, WalkEnd) {
        let mut legs = Vec::new();
        let (mut line, mut from_m, mut base_m) = (line, from_m, 0.0);
        let mut visited = vec![false; self.lines.len()];
        loop {
            visited[line] = true;
            let l = &self.lines[line];
            let line_end = l.cum_m.last().copied().unwrap_or(0.0);
            // A join back into a line already walked is not taken.
            let looped = l.next.is_some_and(|(n, _)| visited[n]);
            let to_m = if looped {
                line_end
            } else {
                line_end + l.join_m
            };
            legs.push(Leg {
                line,
                from_m,
                to_m,
                base_m,
            });
            base_m += to_m - from_m;
            match l.next {
                Some(_) if looped => return (legs, WalkEnd::Loop),
                Some((n, v)) => {
                    line = n;
                    from_m = self.lines[n].cum_m[v];
                }
                None => {
                    let end = match &l.end {
                        LineEnd::WaterBody { id, name } => WalkEnd::WaterBody {
                            id: id.clone(),
                            name: name.clone(),
                        },
                        LineEnd::LeavesMappedArea => WalkEnd::LeavesMappedArea,
                        _ => WalkEnd::NetworkEnds,
                    };
                    return (legs, end);
                }
            }
        }
    }

    /// The point at path distance `along` (clamped to the walk).
    fn point_on_legs(&self, legs: &[Leg], start: [f64; 2], along: f64) -> [f64; 2] {
        let Some(leg) = legs
            .iter()
            .rev()
            .find(|g| g.base_m <= along)
            .or(legs.first())
        else {
            return start;
        };
        if along <= 0.0 {
            return start;
        }
        self.point_on_line(leg.line, (leg.from_m + (along - leg.base_m)).min(leg.to_m))
    }

    /// The point at along-metres `a` of line `line`, on the join edge past its last vertex where
    /// `a` runs beyond it.
    pub(super) fn point_on_line(&self, line: usize, a: f64) -> [f64; 2] {
        let l = &self.lines[line];
        let last = l.coords.len() - 1;
        if a >= l.cum_m[last] {
            // On the join edge (or past the end).
            return match l.next {
                Some((n, v)) if l.join_m > 0.0 => {
                    let t = ((a - l.cum_m[last]) / l.join_m).clamp(0.0, 1.0);
                    let (p, q) = (l.coords[last], self.lines[n].coords[v]);
                    [p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]
                }
                _ => l.coords[last],
            };
        }
        let i = l.cum_m.partition_point(|&c| c <= a).clamp(1, last);
        let (a0, a1) = (l.cum_m[i - 1], l.cum_m[i]);
        let t = if a1 > a0 { (a - a0) / (a1 - a0) } else { 0.0 };
        let (p, q) = (l.coords[i - 1], l.coords[i]);
        [p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]
    }

    /// What the water meets downstream of `start` (on segment `seg`, `along_in_segment_m` from its
    /// start): the same result as walking the full path ([`RiverNetwork::walk`] then [`crossings`]),
    /// from the per-line facts of [`RiverNetwork::prepare`].
    pub fn summary(
        &self,
        borders: &LineSet,
        seg: SegmentRef,
        start: [f64; 2],
        along_in_segment_m: f64,
        start_country: Option<&Iso3>,
        locate: impl Fn([f64; 2]) -> Option<Iso3>,
    ) -> Summary {
        let first = &self.lines[seg.feature];
        let from_m = first.cum_m[seg.segment] + along_in_segment_m * first.scale;
        let (legs, end) = self.legs(seg.feature, from_m);
        let mut raw = Vec::new();
        let mut water_bodies: Vec<WaterPass> = Vec::new();
        let push_water = |w: usize, along_m: f64, point: [f64; 2], passes: &mut Vec<WaterPass>| {
            let water = &self.waters[w];
            if !passes.iter().any(|p| p.id == water.id) {
                passes.push(WaterPass {
                    id: water.id.clone(),
                    name: water.name.clone(),
                    kind: water.kind.clone(),
                    along_m,
                    point,
                });
            }
        };
        if let Some(w) = self.water_containing(start) {
            push_water(w, 0.0, start, &mut water_bodies);
        }
        for (k, leg) in legs.iter().enumerate() {
            let p = &self.lines[leg.line].prepared;
            // The first leg starts inside a segment; later ones start at a vertex, included.
            let keep = |a: f64| {
                (if k == 0 {
                    a > leg.from_m
                } else {
                    a >= leg.from_m
                }) && a <= leg.to_m
            };
            raw.extend(
                p.crossings
                    .iter()
                    .filter(|c| keep(c.along_m))
                    .map(|c| RawCrossing {
                        along_m: leg.base_m + c.along_m - leg.from_m,
                        ..*c
                    }),
            );
            for &(a, v, w) in &p.waters {
                if keep(a) {
                    push_water(
                        w,
                        leg.base_m + a - leg.from_m,
                        self.lines[leg.line].coords[v],
                        &mut water_bodies,
                    );
                }
            }
        }
        let far_between = |from: f64, to: f64| {
            legs.iter().enumerate().any(|(k, leg)| {
                let far = &self.lines[leg.line].prepared.far_from_border;
                // The open interval (from, to) of the path, in this leg's along-line terms; a later
                // leg's first vertex (where the join lands) is on the path, the first leg's is not.
                let lo = leg.from_m + (from - leg.base_m);
                let hi = (leg.from_m + (to - leg.base_m)).min(leg.to_m);
                let i = if k > 0 && lo < leg.from_m {
                    far.partition_point(|&a| a < leg.from_m)
                } else {
                    far.partition_point(|&a| a <= lo.max(leg.from_m))
                };
                far.get(i).is_some_and(|&a| a < hi)
            })
        };
        let crossings = orient(
            raw,
            borders,
            start_country,
            |a| locate(self.point_on_legs(&legs, start, a)),
            far_between,
        );
        let length_m = legs.last().map_or(0.0, |g| g.base_m + g.to_m - g.from_m);
        Summary {
            crossings,
            water_bodies,
            end,
            length_m,
        }
    }

    /// The walk downstream from the point `start` on segment `seg` of the river lines.
    pub fn walk(&self, seg: SegmentRef, start: [f64; 2], along_in_segment_m: f64) -> Walk {
        self.walk_until(seg, start, along_in_segment_m, f64::INFINITY)
    }

    /// [`RiverNetwork::walk`], stopped at the first vertex at least `limit_m` downstream (its end is
    /// then `NetworkEnds`, whatever lies beyond).
    pub fn walk_until(
        &self,
        seg: SegmentRef,
        start: [f64; 2],
        along_in_segment_m: f64,
        limit_m: f64,
    ) -> Walk {
        let mut path = vec![start];
        let mut along = Vec::new();
        along.push(0.0);
        let mut total = 0.0;
        let mut line = seg.feature;
        let mut from_vertex = seg.segment + 1;
        // Distance already covered on the first line, to express the rest through its cumulative lengths.
        let mut offset =
            self.lines[line].cum_m[seg.segment] + along_in_segment_m * self.lines[line].scale;
        let mut visited = vec![false; self.lines.len()];
        let end = 'walk: loop {
            visited[line] = true;
            let l = &self.lines[line];
            for v in from_vertex..l.coords.len() {
                total += l.cum_m[v] - offset;
                offset = l.cum_m[v];
                path.push(l.coords[v]);
                along.push(total);
                if total >= limit_m {
                    break 'walk WalkEnd::NetworkEnds;
                }
            }
            match l.next {
                Some((next_line, vertex)) => {
                    if visited[next_line] {
                        break WalkEnd::Loop;
                    }
                    let n = &self.lines[next_line];
                    total += geodesy::distance_m(*path.last().unwrap_or(&start), n.coords[vertex]);
                    path.push(n.coords[vertex]);
                    along.push(total);
                    line = next_line;
                    from_vertex = vertex + 1;
                    offset = n.cum_m[vertex];
                }
                None => {
                    break match &l.end {
                        LineEnd::WaterBody { id, name } => WalkEnd::WaterBody {
                            id: id.clone(),
                            name: name.clone(),
                        },
                        LineEnd::LeavesMappedArea => WalkEnd::LeavesMappedArea,
                        _ => WalkEnd::NetworkEnds,
                    };
                }
            }
        };
        Walk {
            path,
            along_m: along,
            end,
        }
    }

    /// The lakes and reservoirs the path runs through, in order, with the along-river distance where
    /// it enters each (the terminal one included), from the full path: the reference that
    /// [`RiverNetwork::summary`] is tested against.
    #[cfg(test)]
    pub fn water_bodies_on(&self, walk: &Walk) -> Vec<WaterPass> {
        let mut passes: Vec<WaterPass> = Vec::new();
        for (p, &a) in walk.path.iter().zip(&walk.along_m) {
            if let Some(i) = self.water_containing(*p)
                && !passes.iter().any(|w| w.id == self.waters[i].id)
            {
                let w = &self.waters[i];
                passes.push(WaterPass {
                    id: w.id.clone(),
                    name: w.name.clone(),
                    kind: w.kind.clone(),
                    along_m: a,
                    point: *p,
                });
            }
        }
        passes
    }
}

/// Why a walk stopped.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum WalkEnd {
    WaterBody { id: String, name: Option<String> },
    LeavesMappedArea,
    NetworkEnds,
    Loop,
}

/// One line's stretch of a walk, in that line's along-metres.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Leg {
    line: usize,
    from_m: f64,
    to_m: f64,
    /// The path distance at `from_m`.
    base_m: f64,
}

/// What the water meets downstream, without the path geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub crossings: Vec<Crossing>,
    pub water_bodies: Vec<WaterPass>,
    pub end: WalkEnd,
    pub length_m: f64,
}

/// A path downstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Walk {
    pub path: Vec<[f64; 2]>,
    /// Along-river distance at each path vertex, metres.
    pub along_m: Vec<f64>,
    pub end: WalkEnd,
}

/// A water body on the path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaterPass {
    pub id: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub along_m: f64,
    pub point: [f64; 2],
}

/// Where the path crosses an international border line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Crossing {
    /// The border line crossed; `None` where the crossing is inferred from the country polygons, the
    /// border lines leaving a gap there (a reservoir between the polygons).
    pub border_id: Option<String>,
    pub point: [f64; 2],
    pub along_m: f64,
    /// The country the water leaves, if it can be told.
    pub from: Option<Iso3>,
    /// The country the water enters, if it can be told.
    pub to: Option<Iso3>,
}

fn intersection(p1: [f64; 2], p2: [f64; 2], q1: [f64; 2], q2: [f64; 2]) -> Option<f64> {
    let r = [p2[0] - p1[0], p2[1] - p1[1]];
    let s = [q2[0] - q1[0], q2[1] - q1[1]];
    let denom = r[0] * s[1] - r[1] * s[0];
    if denom == 0.0 {
        return None;
    }
    let qp = [q1[0] - p1[0], q1[1] - p1[1]];
    let t = (qp[0] * s[1] - qp[1] * s[0]) / denom;
    let u = (qp[0] * r[1] - qp[1] * r[0]) / denom;
    ((0.0..=1.0).contains(&t) && (0.0..=1.0).contains(&u)).then_some(t)
}

/// The point at along-river distance `target` on the path (planar interpolation between vertices,
/// good enough to stand on one side of a border), clamped to the path.
pub fn point_at(walk: &Walk, target: f64) -> [f64; 2] {
    let n = walk.path.len();
    if n < 2 {
        return walk.path.first().copied().unwrap_or([0.0, 0.0]);
    }
    let i = walk
        .along_m
        .partition_point(|&a| a < target)
        .clamp(1, n - 1);
    let (a0, a1) = (walk.along_m[i - 1], walk.along_m[i]);
    let t = if a1 > a0 {
        ((target - a0) / (a1 - a0)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (p, q) = (walk.path[i - 1], walk.path[i]);
    [p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]
}

/// How far before and after a crossing the two sides are sampled, when the country the water is in
/// is not one of the line's sides.
pub const SIDE_PROBE_M: f64 = 2_000.0;
/// A river that stays this close to a border between two crossings of it runs along the border.
pub const GRAZE_DISTANCE_M: f64 = 2_000.0;

/// The raw crossings of `borders` by the polyline `path` (with along-distances `along`), sorted.
fn raw_crossings(path: &[[f64; 2]], along: &[f64], borders: &LineSet) -> Vec<RawCrossing> {
    let mut raw = Vec::new();
    for (i, w) in path.windows(2).enumerate() {
        let (a, b) = (w[0], w[1]);
        let rect = [
            a[0].min(b[0]),
            a[1].min(b[1]),
            a[0].max(b[0]),
            a[1].max(b[1]),
        ];
        for (q1, q2, r) in borders.index.in_rect(rect) {
            if let Some(t) = intersection(a, b, q1, q2) {
                raw.push(RawCrossing {
                    along_m: along[i] + t * (along[i + 1] - along[i]),
                    point: [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])],
                    border: r.feature,
                });
            }
        }
    }
    sort_raw(&mut raw);
    raw
}

fn sort_raw(raw: &mut Vec<RawCrossing>) {
    raw.sort_by(|x, y| {
        x.along_m
            .total_cmp(&y.along_m)
            .then(x.border.cmp(&y.border))
    });
    // A path through a vertex shared by two border segments meets both: keep one.
    raw.dedup_by(|x, y| x.border == y.border && (x.along_m - y.along_m).abs() < 1.0);
}

/// A border line met by the river, before merging and orientation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawCrossing {
    pub along_m: f64,
    pub point: [f64; 2],
    /// Index of the border feature.
    pub border: usize,
}

/// Every crossing of `borders` along `walk`, grazings merged, each oriented (see [`orient`]), from
/// the full path: the reference that [`RiverNetwork::summary`] is tested against.
#[cfg(test)]
pub fn crossings(
    walk: &Walk,
    borders: &LineSet,
    start_country: Option<&Iso3>,
    locate: impl Fn([f64; 2]) -> Option<Iso3>,
) -> Vec<Crossing> {
    let raw = raw_crossings(&walk.path, &walk.along_m, borders);
    let far_between = |from: f64, to: f64| {
        walk.path
            .iter()
            .zip(&walk.along_m)
            .filter(|(_, a)| **a > from && **a < to)
            .any(|(p, _)| super::nearest::nearest(&borders.metric, *p, GRAZE_DISTANCE_M).is_none())
    };
    orient(
        raw,
        borders,
        start_country,
        |a| locate(point_at(walk, a)),
        far_between,
    )
}

/// Merges grazings and orients crossings.
///
/// Merging: two successive crossings of the same border line cancel out when they are less than
/// [`GRAZE_MERGE_M`] apart along the river, or when the river between them never leaves
/// [`GRAZE_DISTANCE_M`] of a border (`far_between` tells whether it does): a river that *is* the
/// border, drawn a little off it.
///
/// Orientation: from the country the water is in (`start_country` at first) when that is one of the
/// line's two sides; otherwise by the countries found [`SIDE_PROBE_M`] upstream and downstream of the
/// crossing (`locate_at` an along-river distance); otherwise `to` is `None` (unknown).
pub fn orient(
    raw: Vec<RawCrossing>,
    borders: &LineSet,
    start_country: Option<&Iso3>,
    locate_at: impl Fn(f64) -> Option<Iso3>,
    far_between: impl Fn(f64, f64) -> bool,
) -> Vec<Crossing> {
    let mut kept: Vec<RawCrossing> = Vec::new();
    for c in raw {
        if let Some(prev) = kept.last()
            && prev.border == c.border
            && (c.along_m - prev.along_m < GRAZE_MERGE_M || !far_between(prev.along_m, c.along_m))
        {
            kept.pop();
            continue;
        }
        kept.push(c);
    }
    let mut current = start_country.cloned();
    let mut out = Vec::with_capacity(kept.len());
    for c in kept {
        let f = c.border;
        let Some((left, right)) = borders.sides(f) else {
            continue;
        };
        let other = |x: &Iso3| {
            (x == left)
                .then(|| right.clone())
                .or_else(|| (x == right).then(|| left.clone()))
        };
        let (from, to) = match current.as_ref().and_then(other) {
            Some(to) => (current.clone(), Some(to)),
            None => {
                let before = locate_at(c.along_m - SIDE_PROBE_M);
                let after = locate_at(c.along_m + SIDE_PROBE_M);
                match (before, after) {
                    (Some(b), Some(a)) if other(&b).as_ref() == Some(&a) => (Some(b), Some(a)),
                    _ => (current.clone(), None),
                }
            }
        };
        current = to.clone();
        out.push(Crossing {
            border_id: Some(borders.ids[f].clone()),
            point: c.point,
            along_m: c.along_m,
            from,
            to,
        });
    }
    out
}
