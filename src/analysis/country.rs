//! Which country a point lies in: an even-odd ray cast over an R-tree of the country polygons'
//! edges, and, for points in no polygon, the nearest polygon within a tolerance.

use rstar::primitives::{GeomWithData, Line as RLine};
use rstar::{AABB, RTree};

use super::nearest;
use crate::index::segments_of;
use crate::model::Iso3;
use crate::reference::RefLayer;

/// The result of locating a point.
#[derive(Debug, Clone, PartialEq)]
pub enum CountryMatch {
    /// Inside this country's polygon.
    Inside(Iso3),
    /// In no polygon, but this country's is the nearest, at this many metres (within the tolerance).
    Nearest(Iso3, f64),
    /// In no polygon and none within the tolerance.
    None,
}

/// Country polygons prepared for point location.
#[derive(Debug)]
pub struct CountryLocator {
    /// Every ring edge, tagged with its country.
    edges: RTree<GeomWithData<RLine<[f64; 2]>, usize>>,
    /// The same edges for nearest searches.
    boundaries: nearest::MetricIndex,
    iso3: Vec<Iso3>,
    east: f64,
    grid: Grid,
}

/// Cell size of the lookup grid, degrees.
const CELL_DEG: f64 = 0.05;

/// A raster over the polygons: each cell that no edge touches holds its country (or none), so most
/// points are located without a ray cast; cells crossed by an edge defer to the ray cast.
#[derive(Debug, Default)]
struct Grid {
    west: f64,
    south: f64,
    nx: usize,
    ny: usize,
    /// 0: an edge crosses the cell; 1: no country; k + 2: country k.
    cells: Vec<u32>,
}

impl Grid {
    fn cell_of(&self, p: [f64; 2]) -> Option<usize> {
        let i = ((p[0] - self.west) / CELL_DEG).floor();
        let j = ((p[1] - self.south) / CELL_DEG).floor();
        (i >= 0.0 && j >= 0.0 && (i as usize) < self.nx && (j as usize) < self.ny)
            .then(|| j as usize * self.nx + i as usize)
    }

    fn build(edges: &RTree<GeomWithData<RLine<[f64; 2]>, usize>>, countries: usize) -> Grid {
        let env = edges.root().envelope();
        let (lo, hi) = (env.lower(), env.upper());
        if edges.size() == 0 || !(hi[0] > lo[0] && hi[1] > lo[1]) {
            return Grid::default();
        }
        let nx = ((hi[0] - lo[0]) / CELL_DEG).ceil() as usize;
        let ny = ((hi[1] - lo[1]) / CELL_DEG).ceil() as usize;
        let mut grid = Grid {
            west: lo[0],
            south: lo[1],
            nx,
            ny,
            cells: vec![1; nx * ny],
        };
        for e in edges.iter() {
            let ([x1, y1], [x2, y2]) = (e.geom().from, e.geom().to);
            let (i0, i1) = (
                ((x1.min(x2) - lo[0]) / CELL_DEG) as usize,
                ((x1.max(x2) - lo[0]) / CELL_DEG) as usize,
            );
            let (j0, j1) = (
                ((y1.min(y2) - lo[1]) / CELL_DEG) as usize,
                ((y1.max(y2) - lo[1]) / CELL_DEG) as usize,
            );
            for j in j0..=j1.min(ny - 1) {
                for i in i0..=i1.min(nx - 1) {
                    grid.cells[j * nx + i] = 0;
                }
            }
        }
        // Row by row: the crossings of the row's centre line, swept from the east, give the parity of
        // every cell centre (the same even-odd rule as the ray cast).
        for j in 0..ny {
            let y = lo[1] + (j as f64 + 0.5) * CELL_DEG;
            let ray = AABB::from_corners([lo[0], y], [hi[0], y]);
            let mut xs: Vec<(f64, usize)> = edges
                .locate_in_envelope_intersecting(&ray)
                .filter_map(|e| {
                    let ([x1, y1], [x2, y2]) = (e.geom().from, e.geom().to);
                    ((y1 > y) != (y2 > y)).then(|| (x1 + (y - y1) * (x2 - x1) / (y2 - y1), e.data))
                })
                .collect();
            xs.sort_by(|a, b| b.0.total_cmp(&a.0));
            let mut parity = vec![false; countries];
            let mut k = 0;
            for i in (0..nx).rev() {
                let x = lo[0] + (i as f64 + 0.5) * CELL_DEG;
                while k < xs.len() && xs[k].0 > x {
                    parity[xs[k].1] = !parity[xs[k].1];
                    k += 1;
                }
                let cell = &mut grid.cells[j * nx + i];
                if *cell != 0 {
                    *cell = parity.iter().position(|&p| p).map_or(1, |c| c as u32 + 2);
                }
            }
        }
        grid
    }
}

fn rings(g: &geo::Geometry<f64>) -> Vec<&geo::LineString<f64>> {
    match g {
        geo::Geometry::Polygon(p) => std::iter::once(p.exterior()).chain(p.interiors()).collect(),
        geo::Geometry::MultiPolygon(m) => {
            m.0.iter()
                .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
                .collect()
        }
        _ => Vec::new(),
    }
}

impl CountryLocator {
    /// Indexes the polygons of `layer`, whose features carry `iso3` (else their id is taken for the
    /// code). A polygon without a valid ISO 3166-1 alpha-3 code names no country and is left out.
    pub fn new(layer: &RefLayer) -> Self {
        let coded: Vec<(Iso3, &crate::reference::RefFeature)> = layer
            .features
            .iter()
            .filter_map(|f| {
                let code = f
                    .properties
                    .get("iso3")
                    .and_then(|v| v.as_str())
                    .unwrap_or(&f.id);
                match Iso3::parse(code, "iso3") {
                    Ok(c) => Some((c, f)),
                    Err(e) => {
                        tracing::warn!(feature = %f.id, error = %e, "country polygon left out");
                        None
                    }
                }
            })
            .collect();
        let iso3: Vec<Iso3> = coded.iter().map(|(c, _)| c.clone()).collect();
        let features: Vec<&crate::reference::RefFeature> = coded.iter().map(|(_, f)| *f).collect();
        let entries: Vec<_> = features
            .iter()
            .enumerate()
            .flat_map(|(i, f)| {
                rings(&f.geometry)
                    .into_iter()
                    .flat_map(move |r| r.lines())
                    .map(move |l| {
                        GeomWithData::new(RLine::new([l.start.x, l.start.y], [l.end.x, l.end.y]), i)
                    })
            })
            .collect();
        let east = entries
            .iter()
            .map(|e| e.geom().from[0].max(e.geom().to[0]))
            .fold(f64::NEG_INFINITY, f64::max);
        // Ring boundaries as lines, for the nearest-polygon fallback.
        let boundary_geoms: Vec<geo::Geometry<f64>> = features
            .iter()
            .map(|f| {
                geo::Geometry::MultiLineString(geo::MultiLineString(
                    rings(&f.geometry).into_iter().cloned().collect(),
                ))
            })
            .collect();
        let edges = RTree::bulk_load(entries);
        CountryLocator {
            grid: Grid::build(&edges, iso3.len()),
            edges,
            // Rarely searched (points in no polygon): geodesics are computed on use.
            boundaries: nearest::MetricIndex::from_segments(segments_of(&boundary_geoms), false),
            iso3,
            east,
        }
    }

    /// The position of a country (ISO3) among the polygons.
    pub fn index_of(&self, iso3: &Iso3) -> Option<usize> {
        self.iso3.iter().position(|c| c == iso3)
    }

    /// Number of indexed polygon edges.
    pub fn segments(&self) -> usize {
        self.boundaries.len()
    }

    /// The countries whose polygons contain `p` (even-odd rule on a ray cast east).
    pub fn containing(&self, p: [f64; 2]) -> Vec<usize> {
        if p[0].is_nan() || p[0] > self.east {
            return Vec::new();
        }
        let ray = AABB::from_corners([p[0], p[1]], [self.east, p[1]]);
        let mut parity = vec![false; self.iso3.len()];
        for e in self.edges.locate_in_envelope_intersecting(&ray) {
            let ([x1, y1], [x2, y2]) = (e.geom().from, e.geom().to);
            // Half-open in y, so a ray through a vertex counts the two edges that meet there once.
            if (y1 > p[1]) != (y2 > p[1]) {
                let x = x1 + (p[1] - y1) * (x2 - x1) / (y2 - y1);
                if x > p[0] {
                    parity[e.data] = !parity[e.data];
                }
            }
        }
        parity
            .iter()
            .enumerate()
            .filter_map(|(i, &inside)| inside.then_some(i))
            .collect()
    }

    /// The country containing `p`, which lies in grid cell `cell` (crossed by an edge): the ray east
    /// stops at the first cell no edge touches, whose country is known, instead of running to the
    /// eastern end of the data. Inside `p`'s polygon ⇔ odd crossings from `p` to that cell, XOR the
    /// cell lies inside it.
    fn containing_near(&self, p: [f64; 2], cell: usize) -> Option<usize> {
        let g = &self.grid;
        let (i, j) = (cell % g.nx, cell / g.nx);
        let mut k = i + 1;
        while k < g.nx && g.cells[j * g.nx + k] == 0 {
            k += 1;
        }
        let (stop_x, beyond) = if k < g.nx {
            (g.west + k as f64 * CELL_DEG, g.cells[j * g.nx + k])
        } else {
            // No edge-free cell before the end of the row: the full ray (edges may lie on the
            // grid's eastern edge itself, so no bound on x).
            (f64::INFINITY, 1)
        };
        let ray = AABB::from_corners([p[0], p[1]], [stop_x.min(self.east).max(p[0]), p[1]]);
        let mut parity = vec![false; self.iso3.len()];
        for e in self.edges.locate_in_envelope_intersecting(&ray) {
            let ([x1, y1], [x2, y2]) = (e.geom().from, e.geom().to);
            if (y1 > p[1]) != (y2 > p[1]) {
                let x = x1 + (p[1] - y1) * (x2 - x1) / (y2 - y1);
                // No edge touches the stop cell, so no crossing lies at stop_x itself.
                if x > p[0] && x < stop_x {
                    parity[e.data] = !parity[e.data];
                }
            }
        }
        (0..parity.len()).find(|&c| parity[c] != (beyond == c as u32 + 2))
    }

    /// Locates `p`: the containing country, else the nearest within `tolerance_m`.
    pub fn locate(&self, p: [f64; 2], tolerance_m: f64) -> CountryMatch {
        // Polygons of neighbours do not overlap in the data; if they ever do, the first wins.
        let inside = match self.grid.cell_of(p) {
            Some(c) => match self.grid.cells[c] {
                1 => None,
                k if k >= 2 => Some(k as usize - 2),
                _ => self.containing_near(p, c),
            },
            None => self.containing(p).first().copied(),
        };
        if let Some(i) = inside {
            return CountryMatch::Inside(self.iso3[i].clone());
        }
        match nearest::nearest(&self.boundaries, p, tolerance_m) {
            Some(h) => {
                CountryMatch::Nearest(self.iso3[h.segment.feature].clone(), h.closest.distance_m)
            }
            None => CountryMatch::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::Contains;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn ray_cast_agrees_with_geo_contains() {
        // A square with a square hole, and a second polygon beside it.
        let outer = geo::LineString::from(vec![
            (0.0, 0.0),
            (4.0, 0.0),
            (4.0, 4.0),
            (0.0, 4.0),
            (0.0, 0.0),
        ]);
        let hole = geo::LineString::from(vec![
            (1.0, 1.0),
            (1.0, 3.0),
            (3.0, 3.0),
            (3.0, 1.0),
            (1.0, 1.0),
        ]);
        let a = geo::Polygon::new(outer, vec![hole]);
        let b = geo::Polygon::new(
            geo::LineString::from(vec![(5.0, 0.0), (7.0, 2.0), (5.0, 4.0), (5.0, 0.0)]),
            vec![],
        );
        let layer = RefLayer {
            user_source: None,
            spec: &crate::reference::REFERENCE_LAYERS[2],
            features: vec![
                crate::reference::RefFeature {
                    id: "AAA".into(),
                    properties: Default::default(),
                    geometry: geo::Geometry::Polygon(a.clone()),
                },
                crate::reference::RefFeature {
                    id: "BBB".into(),
                    properties: Default::default(),
                    geometry: geo::Geometry::Polygon(b.clone()),
                },
            ],
        };
        let locator = CountryLocator::new(&layer);
        let mut rng = StdRng::seed_from_u64(0xC0);
        for _ in 0..5_000 {
            let p = [rng.random_range(-1.0..8.0), rng.random_range(-1.0..5.0)];
            let pt = geo::Point::new(p[0], p[1]);
            let mut expected = Vec::new();
            if a.contains(&pt) {
                expected.push(0);
            }
            if b.contains(&pt) {
                expected.push(1);
            }
            // Points exactly on an edge may go either way; random points never are.
            assert_eq!(locator.containing(p), expected, "{p:?}");
        }
        assert_eq!(
            locator.locate([2.0, 2.0], 1.0),
            CountryMatch::None,
            "in the hole"
        );
        // Points near the edges, where the grid defers to the short ray: the same answer as the
        // full ray cast.
        let edges: Vec<_> = locator.edges.iter().map(|e| *e.geom()).collect();
        for _ in 0..20_000 {
            let e = edges[rng.random_range(0..edges.len())];
            let t = rng.random_range(0.0..1.0);
            let p = [
                e.from[0] + t * (e.to[0] - e.from[0]) + rng.random_range(-0.03..0.03),
                e.from[1] + t * (e.to[1] - e.from[1]) + rng.random_range(-0.03..0.03),
            ];
            let expected = locator.containing(p).first().copied();
            let got = match locator.locate(p, 0.0) {
                CountryMatch::Inside(c) => locator.index_of(&c),
                _ => None,
            };
            assert_eq!(got, expected, "{p:?}");
        }
        match locator.locate([2.0, 2.0], 200_000.0) {
            CountryMatch::Nearest(c, d) => {
                assert!(c.as_str() == "AAA" && d > 100_000.0 && d < 112_000.0)
            }
            other => panic!("{other:?}"),
        }
    }
}
