//! The nearest segment to a point, in geodesic metres, found through an R-tree without ever missing
//! the true nearest.
//!
//! Segments are searched in Earth-centred 3-D coordinates (see [`nearest`]), where straight-line
//! distance bounds the geodesic one from below; k-nearest points use the degree tree with a box that
//! provably holds every point within the k-th distance.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RStarInsertionStrategy, RTree, RTreeNode, RTreeParams};

use crate::geodesy::{self, Closest, Foot, SegmentGeodesic};
use crate::index::{SegmentIndex, SegmentRef};

/// The nearest segment and the nearest point on it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub segment: SegmentRef,
    pub closest: Closest,
}

fn better(candidate: &Hit, best: &Option<Hit>) -> bool {
    match best {
        None => true,
        // Ties go to the lowest segment reference, so the answer does not depend on tree order.
        Some(b) => {
            let key = |h: &Hit| (h.segment.feature, h.segment.part, h.segment.segment);
            candidate.closest.distance_m < b.closest.distance_m
                || (candidate.closest.distance_m == b.closest.distance_m && key(candidate) < key(b))
        }
    }
}

/// The smallest radius of curvature of the ellipsoid (meridional, at the equator), metres: no curve on
/// the surface bends more sharply.
const MIN_CURVATURE_RADIUS: f64 = geodesy::MERIDIAN_RADIUS_MIN;

/// How far a geodesic segment whose end points are `chord` metres apart can stray from that chord.
/// The sagitta of a circle of radius [`MIN_CURVATURE_RADIUS`] over the chord (no curve that bends
/// less strays farther within a half circle), with a margin.
fn sagitta_m(chord: f64) -> f64 {
    let r = MIN_CURVATURE_RADIUS;
    let half = chord / 2.0;
    if half >= r {
        return f64::INFINITY;
    }
    // r − √(r² − half²), written without cancellation.
    1.01 * half * half / (r + (r * r - half * half).sqrt()) + 0.01
}

/// An upper bound of the geodesic length of a surface curve whose end points are `chord` metres apart:
/// no geodesic bends more sharply than a circle of radius [`MIN_CURVATURE_RADIUS`], and (Schur's
/// comparison theorem) a curve bent less has the longer chord for its length. Raised by what
/// [`geodesy::closest_on_segment_with`] may leave in its distances, so that a segment pruned against
/// it can never have been computed nearer than the one that set it.
fn arc_upper_bound_m(chord: f64) -> f64 {
    let r = MIN_CURVATURE_RADIUS;
    let x = chord / (2.0 * r);
    if x >= 1.0 {
        f64::INFINITY
    } else {
        // A little over the exact bound, for rounding.
        let arc = 2.0 * r * x.asin() * (1.0 + 1e-12) + 1e-6;
        arc + 1.01 * geodesy::negligible_m(arc)
    }
}

/// One segment: its chord in Earth-centred coordinates, how far its geodesic can stray from that chord,
/// and what the exact search needs.
#[derive(Debug, Clone)]
struct Arc {
    a3: [f64; 3],
    b3: [f64; 3],
    sagitta_m: f64,
    a: [f64; 2],
    b: [f64; 2],
    /// `None` when left to be computed on use (layers searched rarely).
    geodesic: Option<SegmentGeodesic>,
    segment: SegmentRef,
}

impl Arc {
    /// The chord fraction of the foot from `q`, and the straight-line distance to the chord: less the
    /// sagitta, no point of the geodesic segment is nearer to `q` than that; plus twice the sagitta, some
    /// point of it is no farther (in a straight line).
    fn chord_distance(&self, q: [f64; 3]) -> (f64, f64) {
        geodesy::chord_foot(q, self.a3, self.b3)
    }
}

/// Wider nodes than rstar's default: fewer levels to walk for a static tree.
#[derive(Debug, Clone, Copy)]
struct Wide;

impl RTreeParams for Wide {
    const MIN_SIZE: usize = 5;
    const MAX_SIZE: usize = 12;
    const REINSERTION_COUNT: usize = 3;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

/// A tree entry: the box that holds a segment's geodesic, seen from above the centre of the frame
/// (east and north only), and the segment's position.
type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// Segments in Earth-centred 3-D coordinates, where straight-line distance never exceeds the geodesic
/// distance: boxes that hold each geodesic (its chord widened by the sagitta) bound metres from below.
#[derive(Debug, Clone)]
pub struct MetricIndex {
    tree: RTree<Entry, Wide>,
    arcs: Vec<Arc>,
    /// The arcs' chords, packed small enough to stay in cache for the grid's scans.
    chords: Vec<Chord>,
    frame: Frame,
    grid: Option<Grid>,
}

/// A segment's chord in `f32` (frame coordinates), with a slack that covers both the sagitta and what
/// the rounding moved the ends: the distance to it, less the slack, still bounds the geodesic one from
/// below.
#[derive(Debug, Clone, Copy)]
struct Chord {
    a: [f32; 3],
    b: [f32; 3],
    slack_m: f32,
}

impl Chord {
    fn of(arc: &Arc) -> Chord {
        let (a, b) = (arc.a3.map(|v| v as f32), arc.b3.map(|v| v as f32));
        // Each coordinate is kept to 2^-24 of its size; moving the ends moves no point of the chord
        // farther than the larger move.
        let size = arc
            .a3
            .iter()
            .chain(&arc.b3)
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let rounding = 2.0 * size * f64::from(f32::EPSILON) + 1e-3;
        Chord {
            a,
            b,
            slack_m: ((arc.sagitta_m + rounding) * (1.0 + 1e-6)) as f32,
        }
    }

    /// Straight-line distance from `q` to the chord.
    fn distance(&self, q: [f64; 3]) -> f64 {
        geodesy::chord_foot(q, self.a.map(f64::from), self.b.map(f64::from)).1
    }
}

/// The arcs reordered along a Z-order curve of their middles, so that the segments of one place sit
/// together in memory.
fn in_space_order(mut arcs: Vec<Arc>) -> Vec<Arc> {
    let mid = |a: &Arc| [(a.a3[0] + a.b3[0]) / 2.0, (a.a3[1] + a.b3[1]) / 2.0];
    let Some((lo, hi)) = extent(arcs.iter().map(mid)) else {
        return arcs;
    };
    let spread = |k: usize| (hi[k] - lo[k]).max(1.0);
    let key = |a: &Arc| {
        let m = mid(a);
        let q = |k: usize| (((m[k] - lo[k]) / spread(k)) * 65535.0) as u16;
        crate::index::z_order(q(0), q(1))
    };
    arcs.par_sort_by_cached_key(key);
    arcs
}

/// Earth-centred axes turned so that the third points up at the centre of the indexed segments and the
/// others east and north: boxes of segments of one region are then flat and tight, not inflated by
/// the tilt of the surface against the Earth's axes. Distances are the same in any such frame.
#[derive(Debug, Clone, Copy)]
struct Frame {
    east: [f64; 3],
    north: [f64; 3],
    up: [f64; 3],
}

/// Subtracted from a frame's third axis, so that positions near the surface are numbers small enough
/// for `f32` to keep them to a fraction of a metre (the rounding goes into each chord's slack).
const FRAME_HEIGHT_M: f64 = geodesy::WGS84_A;

impl Frame {
    fn at(p: [f64; 2]) -> Frame {
        let (sl, cl) = p[0].to_radians().sin_cos();
        let (sp, cp) = p[1].to_radians().sin_cos();
        Frame {
            east: [-sl, cl, 0.0],
            north: [-sp * cl, -sp * sl, cp],
            up: [cp * cl, cp * sl, sp],
        }
    }

    /// `p` in this frame's axes, metres (from the Earth's centre, less [`FRAME_HEIGHT_M`] on the third).
    fn position(&self, p: [f64; 2]) -> [f64; 3] {
        let v = geodesy::ecef(p);
        let dot = |a: [f64; 3]| a[0] * v[0] + a[1] * v[1] + a[2] * v[2];
        [
            dot(self.east),
            dot(self.north),
            dot(self.up) - FRAME_HEIGHT_M,
        ]
    }
}

impl MetricIndex {
    /// Indexes the same segments as `index`, with their geodesics computed up front.
    pub fn new(index: &SegmentIndex) -> Self {
        Self::from_segments(index.iter().collect(), true)
    }

    /// Indexes `segments`; `geodesics` computes each one's geodesic now (one inverse problem per
    /// segment) rather than on each use.
    pub fn from_segments(segments: Vec<([f64; 2], [f64; 2], SegmentRef)>, geodesics: bool) -> Self {
        let frame = Frame::at(centre(&segments));
        let arcs: Vec<Arc> = segments
            .par_iter()
            .map(|&(a, b, segment)| {
                let (a3, b3) = (frame.position(a), frame.position(b));
                let chord =
                    ((b3[0] - a3[0]).powi(2) + (b3[1] - a3[1]).powi(2) + (b3[2] - a3[2]).powi(2))
                        .sqrt();
                Arc {
                    a3,
                    b3,
                    sagitta_m: sagitta_m(chord),
                    a,
                    b,
                    geodesic: geodesics.then(|| geodesy::segment_geodesic(a, b)),
                    segment,
                }
            })
            .collect();
        let arcs = in_space_order(arcs);
        let chords = arcs.iter().map(Chord::of).collect();
        let entries: Vec<Entry> = arcs
            .iter()
            .enumerate()
            .map(|(i, arc)| {
                let r = arc.sagitta_m;
                let lo = [0, 1].map(|k| arc.a3[k].min(arc.b3[k]) - r);
                let hi = [0, 1].map(|k| arc.a3[k].max(arc.b3[k]) + r);
                GeomWithData::new(Rectangle::from_corners(lo, hi), i as u32)
            })
            .collect();
        MetricIndex {
            tree: RTree::bulk_load_with_params(entries),
            arcs,
            chords,
            frame,
            grid: None,
        }
    }

    /// Adds a grid of candidate lists over the segments' extent (widened by [`GRID_MARGIN_DEG`]),
    /// for layers searched for every point: each cell, once first queried, lists the only segments
    /// that can be nearest to any point in it, and later queries there skip the tree.
    pub fn with_grid(mut self) -> Self {
        let Some((lo, hi)) = extent(self.arcs.iter().flat_map(|arc| [arc.a, arc.b])) else {
            return self;
        };
        let west = (lo[0] - GRID_MARGIN_DEG).max(-180.0);
        let south = (lo[1] - GRID_MARGIN_DEG).max(-89.0);
        let east = (hi[0] + GRID_MARGIN_DEG).min(180.0);
        let north = (hi[1] + GRID_MARGIN_DEG).min(89.0);
        // Coarser cells for layers that cover a continent or the world, so that the (mostly empty)
        // grid stays small: at most GRID_MAX_CELLS cells.
        let area = (east - west) * (north - south);
        let mut cell_deg = GRID_CELL_DEG.max((area / GRID_MAX_CELLS as f64).sqrt());
        let count = |deg: f64| {
            (
                ((east - west) / deg).ceil().max(1.0) as usize,
                ((north - south) / deg).ceil().max(1.0) as usize,
            )
        };
        while count(cell_deg).0 * count(cell_deg).1 > GRID_MAX_CELLS {
            cell_deg *= 1.01;
        }
        let (nx, ny) = count(cell_deg);
        self.grid = Some(Grid {
            west,
            south,
            cell_deg,
            nx,
            ny,
            cells: (0..nx * ny).map(|_| std::sync::OnceLock::new()).collect(),
        });
        self
    }

    /// Number of indexed segments.
    pub fn len(&self) -> usize {
        self.arcs.len()
    }

    /// Grid cells filled so far, and the candidates they list.
    pub fn grid_usage(&self) -> (usize, usize) {
        self.grid.as_ref().map_or((0, 0), |g| {
            g.cells
                .iter()
                .filter_map(|c| c.get())
                .fold((0, 0), |(n, k), c| (n + 1, k + c.candidates.len()))
        })
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.arcs.is_empty()
    }
}

/// The middle of the segments' extent in degrees (longitudes taken as they are: a frame for a layer that
/// crosses the antimeridian is merely less tight, never wrong).
fn centre(segments: &[([f64; 2], [f64; 2], SegmentRef)]) -> [f64; 2] {
    extent(segments.iter().flat_map(|&(a, b, _)| [a, b])).map_or([0.0, 0.0], |(lo, hi)| {
        [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0]
    })
}

/// The smallest and largest of each coordinate of `points`, if there are any.
fn extent(points: impl IntoIterator<Item = [f64; 2]>) -> Option<([f64; 2], [f64; 2])> {
    points.into_iter().fold(None, |acc, p| {
        let (lo, hi) = acc.unwrap_or((p, p));
        Some((
            [lo[0].min(p[0]), lo[1].min(p[1])],
            [hi[0].max(p[0]), hi[1].max(p[1])],
        ))
    })
}

/// Cell size of the candidate grid, degrees (unless the layer is too wide for it).
const GRID_CELL_DEG: f64 = 0.1;
/// The most cells a candidate grid has (about 6 MB when empty).
const GRID_MAX_CELLS: usize = 1 << 18;
/// How far beyond the segments the candidate grid reaches, degrees; farther points search the tree.
pub const GRID_MARGIN_DEG: f64 = 2.0;

/// Candidate lists over a lon/lat grid, each filled on first use.
#[derive(Debug, Clone)]
struct Grid {
    west: f64,
    south: f64,
    cell_deg: f64,
    nx: usize,
    ny: usize,
    cells: Vec<std::sync::OnceLock<Cell>>,
}

/// A cell's candidates: every segment that can be nearest to a point in it, nearest its centre first.
#[derive(Debug, Clone)]
struct Cell {
    /// The centre, in the index's frame.
    centre: [f64; 3],
    candidates: Box<[Candidate]>,
}

/// A segment that can be nearest somewhere in a cell, with a lower bound of its distance from the
/// cell's centre (less the distance from the centre, it bounds the distance from a point: an early
/// stop).
#[derive(Debug, Clone, Copy)]
struct Candidate {
    arc: u32,
    from_centre_m: f32,
}

impl Grid {
    /// The cell holding `p`, and its corners `[west, south, east, north]`.
    fn cell(&self, p: [f64; 2]) -> Option<(usize, [f64; 4])> {
        let i = ((p[0] - self.west) / self.cell_deg).floor();
        let j = ((p[1] - self.south) / self.cell_deg).floor();
        if !(i >= 0.0 && j >= 0.0 && (i as usize) < self.nx && (j as usize) < self.ny) {
            return None;
        }
        let w = self.west + i * self.cell_deg;
        let s = self.south + j * self.cell_deg;
        Some((
            j as usize * self.nx + i as usize,
            [w, s, w + self.cell_deg, s + self.cell_deg],
        ))
    }
}

/// The straight-line radius (metres) around the centre of a small lon/lat cell that holds all of it:
/// its farthest corner, with a margin for the bulge of its edges.
fn cell_radius_m(index: &MetricIndex, rect: [f64; 4], centre: [f64; 3]) -> f64 {
    let [w, s, e, n] = rect;
    let far = [[w, s], [w, n], [e, s], [e, n]]
        .iter()
        .map(|&c| {
            let v = index.frame.position(c);
            ((v[0] - centre[0]).powi(2) + (v[1] - centre[1]).powi(2) + (v[2] - centre[2]).powi(2))
                .sqrt()
        })
        .fold(0.0, f64::max);
    far * 1.01 + 1.0
}

/// The candidate list of a cell: every segment that could be nearest to some point of the cell. With
/// `d` the nearest distance from the centre and `r` the cell's straight-line radius, a point of the
/// cell has a segment within `d + g(r)` (geodesic, `g` = [`arc_upper_bound_m`]), and a segment can
/// only be within that of the point if its chord, less its sagitta, comes within `d + g(r) + r` of the
/// centre.
fn cell_candidates(index: &MetricIndex, rect: [f64; 4]) -> Cell {
    let c = [(rect[0] + rect[2]) / 2.0, (rect[1] + rect[3]) / 2.0];
    let q = index.frame.position(c);
    let Some(hit) = tree_nearest(index, c, f64::INFINITY) else {
        return Cell {
            centre: q,
            candidates: Box::new([]),
        };
    };
    let r = cell_radius_m(index, rect, q);
    let reach = hit.closest.distance_m + arc_upper_bound_m(r) + r;
    let mut found: Vec<Candidate> = Vec::new();
    let mut stack = vec![index.tree.root()];
    while let Some(node) = stack.pop() {
        for child in node.children() {
            match child {
                RTreeNode::Parent(n) => {
                    if box_distance2(q, &n.envelope()) <= reach * reach {
                        stack.push(n);
                    }
                }
                RTreeNode::Leaf(e) => {
                    let arc = &index.arcs[e.data as usize];
                    let lb = arc.chord_distance(q).1 - arc.sagitta_m;
                    if lb <= reach {
                        found.push(Candidate {
                            arc: e.data,
                            // Rounded down, so that it stays a lower bound.
                            from_centre_m: lb as f32 - 1.0,
                        });
                    }
                }
            }
        }
    }
    found.sort_by(|a, b| {
        a.from_centre_m
            .total_cmp(&b.from_centre_m)
            .then(a.arc.cmp(&b.arc))
    });
    Cell {
        centre: q,
        candidates: found.into_boxed_slice(),
    }
}

/// The nearest among a cell's candidates (which hold every segment that can be nearest there): the
/// same answer as the tree search, without walking the tree.
fn grid_nearest(index: &MetricIndex, cell: &Cell, p: [f64; 2]) -> Option<Hit> {
    let q = index.frame.position(p);
    // A chord is no nearer to `q` than to the centre less this (triangle inequality).
    let off_centre = (0..3)
        .map(|k| (q[k] - cell.centre[k]).powi(2))
        .sum::<f64>()
        .sqrt();
    let mut limit = f64::INFINITY;
    let mut limit_chord = f64::INFINITY;
    let mut open: Vec<(f64, u32)> = Vec::with_capacity(8);
    for c in cell.candidates.iter() {
        // Candidates come by their bound from the centre: once that, less the offset, exceeds the
        // limit, no later one can be nearest.
        if c.from_centre_m as f64 - off_centre > limit {
            break;
        }
        let chord = &index.chords[c.arc as usize];
        let d = chord.distance(q);
        let slack = chord.slack_m as f64;
        let lb = d - slack;
        if lb <= limit {
            // A point of the geodesic lies within twice the slack of the chord's foot.
            let reach = d + 2.0 * slack;
            if reach < limit_chord {
                limit_chord = reach;
                limit = arc_upper_bound_m(reach);
            }
            open.push((lb, c.arc));
        }
    }
    open.retain(|c| c.0 <= limit);
    open.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut best: Option<Hit> = None;
    let mut best_foot: Option<Foot> = None;
    for (lb, i) in open {
        if best.is_some_and(|b| lb > b.closest.distance_m) {
            break;
        }
        let arc = &index.arcs[i as usize];
        // From the full-precision chord, as the tree search starts: the same answer to the last bit.
        let t = arc.chord_distance(q).0;
        let foot = exact(arc, p, t, best_foot.as_ref());
        let hit = Hit {
            segment: arc.segment,
            closest: foot.closest,
        };
        // As the tree's `<= max_m` does: a distance that is not a number never wins.
        if !hit.closest.distance_m.is_nan() && better(&hit, &best) {
            best = Some(hit);
            best_foot = Some(foot);
        }
    }
    best
}

/// Squared distance from `q` to the box, seen from above (east and north): projecting drops the vertical
/// part of any straight line, so this never exceeds the straight-line distance to what the box holds.
fn box_distance2(q: [f64; 3], env: &AABB<[f64; 2]>) -> f64 {
    let (lo, hi) = (env.lower(), env.upper());
    let mut near = 0.0;
    for k in 0..2 {
        let gap = (lo[k] - q[k]).max(q[k] - hi[k]).max(0.0);
        near += gap * gap;
    }
    near
}

/// What waits in the search queue: a node of the tree, or a segment with its chord fraction.
enum Pending<'t> {
    Node(&'t rstar::ParentNode<Entry>),
    Arc(u32, f64),
}

/// A queue item, ordered so that the smallest lower bound comes out first.
struct Queued<'t>(f64, Pending<'t>);

impl PartialEq for Queued<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Queued<'_> {}
impl PartialOrd for Queued<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0)
    }
}

/// The segment of `index` nearest to `p`, if one lies within `max_m` metres.
///
/// Best-first over the tree: nodes and segments come out of the queue by increasing lower bound (the
/// straight-line distance to a box that holds the geodesics, or to a segment's chord less its
/// sagitta, never more than the geodesic distance), and the search stops once that bound exceeds the
/// best exact distance found. Exact geodesic distances ([`geodesy::closest_on_segment_with`]) are
/// computed only for segments whose bound does not rule them out; a segment that meets the best one
/// at its nearest point is settled from the azimuths already known, without another geodesic.
///
/// Where the index has a candidate grid ([`MetricIndex::with_grid`]) and the bound is not tight, the
/// cell's list replaces the tree walk, with the same answer.
pub fn nearest(index: &MetricIndex, p: [f64; 2], max_m: f64) -> Option<Hit> {
    // The grid answers the unbounded question; a tight bound is cheaper to search in the tree.
    if let Some(grid) = &index.grid
        && max_m >= 50_000.0
        && let Some((cell, rect)) = grid.cell(p)
    {
        let cell = grid.cells[cell].get_or_init(|| cell_candidates(index, rect));
        return grid_nearest(index, cell, p).filter(|h| h.closest.distance_m <= max_m);
    }
    tree_nearest(index, p, max_m)
}

pub(crate) fn tree_nearest(index: &MetricIndex, p: [f64; 2], max_m: f64) -> Option<Hit> {
    if index.arcs.is_empty() {
        return None;
    }
    let q = index.frame.position(p);
    let mut best: Option<Hit> = None;
    let mut best_foot: Option<Foot> = None;
    // No nearest can lie beyond this: the best exact distance, or an upper bound known before it.
    let mut limit = max_m;
    let mut queue: BinaryHeap<Queued> = BinaryHeap::with_capacity(64);
    queue.push(Queued(0.0, Pending::Node(index.tree.root())));
    while let Some(Queued(bound, pending)) = queue.pop() {
        if bound > limit {
            break;
        }
        match pending {
            Pending::Node(node) => {
                for child in node.children() {
                    match child {
                        RTreeNode::Parent(n) => {
                            let near2 = box_distance2(q, &n.envelope());
                            if near2 <= limit * limit {
                                queue.push(Queued(near2.sqrt(), Pending::Node(n)));
                            }
                        }
                        RTreeNode::Leaf(e) => {
                            let arc = &index.arcs[e.data as usize];
                            let (t, chord) = arc.chord_distance(q);
                            let lb = chord - arc.sagitta_m;
                            if lb <= limit {
                                // A point of the geodesic lies within the sagitta of the chord's foot.
                                limit = limit.min(arc_upper_bound_m(chord + 2.0 * arc.sagitta_m));
                                queue.push(Queued(lb, Pending::Arc(e.data, t)));
                            }
                        }
                    }
                }
            }
            Pending::Arc(i, t) => {
                let arc = &index.arcs[i as usize];
                let foot = exact(arc, p, t, best_foot.as_ref());
                let hit = Hit {
                    segment: arc.segment,
                    closest: foot.closest,
                };
                if hit.closest.distance_m <= max_m && better(&hit, &best) {
                    best = Some(hit);
                    best_foot = Some(foot);
                    limit = limit.min(hit.closest.distance_m);
                }
            }
        }
    }
    best
}

/// The nearest point of `arc` to `p`, from the chord fraction `t`. When the chord puts it at an end
/// that is the best point found so far (two segments of a line meeting at the vertex nearest to `p`),
/// the azimuths known there settle it without another geodesic, with the same answer the full
/// evaluation would give.
fn exact(arc: &Arc, p: [f64; 2], t: f64, best: Option<&Foot>) -> Foot {
    let g = arc
        .geodesic
        .unwrap_or_else(|| geodesy::segment_geodesic(arc.a, arc.b));
    // A segment under a millimetre is always taken at its start by the full evaluation: no shortcut.
    if let Some(best) = best.filter(|_| g.len_m >= 1e-3) {
        let end = if t <= 0.0 && arc.a == best.closest.point {
            Some((true, g.azi_a, 0.0))
        } else if t >= 1.0 && arc.b == best.closest.point {
            Some((false, g.azi_b, g.len_m))
        } else {
            None
        };
        if let Some((at_start, azi_line, along_m)) = end {
            let d = best.closest.distance_m;
            let step = geodesy::foot_step_m(d, best.azi_from_p, azi_line);
            if geodesy::end_is_nearest(d, step, at_start) {
                return Foot {
                    closest: Closest {
                        along_m,
                        ..best.closest
                    },
                    azi_from_p: best.azi_from_p,
                };
            }
        }
    }
    geodesy::closest_on_segment_with(p, arc.a, arc.b, &g, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer spanning the world gets a coarser grid, not millions of cells, and the grid still gives
    /// the tree's answers.
    #[test]
    fn a_world_wide_layer_gets_a_bounded_grid_with_the_same_answers() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(0x3011D);
        let geoms: Vec<geo::Geometry<f64>> = (0..400)
            .map(|_| {
                let (x, y) = (
                    rng.random_range(-175.0..175.0),
                    rng.random_range(-70.0..80.0),
                );
                let pts: Vec<(f64, f64)> = (0..6)
                    .map(|k| (x + k as f64 * 0.3, y + rng.random_range(-0.2..0.2)))
                    .collect();
                geo::Geometry::LineString(geo::LineString::from(pts))
            })
            .collect();
        let index = MetricIndex::new(&SegmentIndex::new(&geoms)).with_grid();
        let grid = index.grid.as_ref().unwrap();
        assert!(
            grid.cells.len() <= GRID_MAX_CELLS,
            "{} cells",
            grid.cells.len()
        );
        assert!(grid.cell_deg > GRID_CELL_DEG);
        for _ in 0..1_500 {
            let p = [
                rng.random_range(-180.0..180.0),
                rng.random_range(-80.0..85.0),
            ];
            assert_eq!(
                nearest(&index, p, f64::INFINITY),
                tree_nearest(&index, p, f64::INFINITY),
                "{p:?}"
            );
        }
    }

    #[test]
    fn finds_the_metric_nearest_not_the_degree_nearest() {
        // At 60°N a degree of longitude is half a degree of latitude: the segment 0.8° east is nearer
        // in metres (~44 km) than the one 0.6° north (~67 km), though farther in degrees.
        let geoms = vec![
            geo::Geometry::LineString(geo::LineString::from(vec![(9.5, 60.6), (10.5, 60.6)])),
            geo::Geometry::LineString(geo::LineString::from(vec![(10.8, 59.5), (10.8, 60.5)])),
        ];
        let index = MetricIndex::new(&SegmentIndex::new(&geoms));
        let hit = nearest(&index, [10.0, 60.0], f64::INFINITY).unwrap();
        assert_eq!(hit.segment.feature, 1);
        assert!(
            nearest(&index, [10.0, 60.0], 10_000.0).is_none(),
            "nothing within 10 km"
        );
    }
}

/// Points prepared for k-nearest queries in metres.
#[derive(Debug, Clone)]
pub struct PointIndex {
    tree: rstar::RTree<rstar::primitives::GeomWithData<[f64; 2], usize>>,
}

impl PointIndex {
    /// Entry `i` is `points[i]`.
    pub fn new(points: &[[f64; 2]]) -> Self {
        let entries = points
            .iter()
            .enumerate()
            .map(|(i, p)| rstar::primitives::GeomWithData::new(*p, i))
            .collect();
        PointIndex {
            tree: rstar::RTree::bulk_load(entries),
        }
    }

    /// Adds entry `i` at `p`.
    pub fn insert(&mut self, p: [f64; 2], i: usize) {
        self.tree.insert(rstar::primitives::GeomWithData::new(p, i));
    }

    /// Removes entry `i` at `p`.
    pub fn remove(&mut self, p: [f64; 2], i: usize) {
        self.tree
            .remove(&rstar::primitives::GeomWithData::new(p, i));
    }

    /// Entries of the points inside `bbox` (its edges included), ascending.
    pub fn in_bbox(&self, bbox: &crate::index::BBox) -> Vec<usize> {
        let mut hits: Vec<usize> = Vec::new();
        for r in bbox.rects() {
            hits.extend(
                self.tree
                    .locate_in_envelope(&crate::index::aabb(&r))
                    .map(|e| e.data),
            );
        }
        hits.sort_unstable();
        hits.dedup();
        hits
    }

    /// The number of points.
    pub fn len(&self) -> usize {
        self.tree.size()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }

    /// The `k` points nearest to `p`, nearest first, with their geodesic distances in metres.
    ///
    /// The first `k` points nearest in degrees bound the k-th distance from above by `r`; every point
    /// within `r` lies in [`geodesy::search_box`], and those are ranked exactly.
    pub fn nearest_k(&self, p: [f64; 2], k: usize) -> Vec<(usize, f64)> {
        if k == 0 {
            return Vec::new();
        }
        let seed: Vec<f64> = self
            .tree
            .nearest_neighbor_iter(&p)
            .take(k)
            .map(|e| geodesy::distance_m(p, *e.geom()))
            .collect();
        let radius = seed.iter().copied().fold(0.0, f64::max);
        let candidates: Vec<(usize, [f64; 2])> = if seed.len() < k {
            self.tree.iter().map(|e| (e.data, *e.geom())).collect()
        } else {
            match geodesy::search_box(p, radius * (1.0 + 1e-9) + 1e-6) {
                Some([w, s, e, n]) => {
                    let mut boxes = vec![rstar::AABB::from_corners([w, s], [e, n])];
                    if w < -180.0 {
                        boxes.push(rstar::AABB::from_corners([w + 360.0, s], [180.0, n]));
                    }
                    if e > 180.0 {
                        boxes.push(rstar::AABB::from_corners([-180.0, s], [e - 360.0, n]));
                    }
                    boxes
                        .iter()
                        .flat_map(|b| self.tree.locate_in_envelope(b))
                        .map(|e| (e.data, *e.geom()))
                        .collect()
                }
                None => self.tree.iter().map(|e| (e.data, *e.geom())).collect(),
            }
        };
        let mut ranked: Vec<(usize, f64)> = candidates
            .into_iter()
            .map(|(i, q)| (i, geodesy::distance_m(p, q)))
            .collect();
        ranked.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        ranked.dedup_by_key(|(i, _)| *i);
        ranked.truncate(k);
        ranked
    }
}

#[cfg(test)]
mod point_tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn nearest_k_equals_sorting_everything() {
        let mut rng = StdRng::seed_from_u64(0x4B);
        let points: Vec<[f64; 2]> = (0..3_000)
            .map(|_| [rng.random_range(55.0..82.0), rng.random_range(34.0..60.0)])
            .collect();
        let index = PointIndex::new(&points);
        for _ in 0..200 {
            let p = [rng.random_range(55.0..82.0), rng.random_range(34.0..60.0)];
            let k = rng.random_range(1..40);
            let mut all: Vec<(usize, f64)> = points
                .iter()
                .enumerate()
                .map(|(i, q)| (i, geodesy::distance_m(p, *q)))
                .collect();
            all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            all.truncate(k);
            assert_eq!(index.nearest_k(p, k), all, "{p:?} k={k}");
        }
        assert_eq!(
            PointIndex::new(&points[..3])
                .nearest_k([60.0, 40.0], 10)
                .len(),
            3
        );
    }
}
