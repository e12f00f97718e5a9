//! Which country a point lies in: an even-odd ray cast over an R-tree of the country polygons'
//! edges, and, for points in no polygon, the nearest polygon within a tolerance.

use rstar::primitives::{GeomWithData, Line as RLine};
use rstar::{AABB, RTree};

use super::nearest;
use crate::index::SegmentIndex;
use crate::reference::RefLayer;

/// The result of locating a point.
#[derive(Debug, Clone, PartialEq)]
pub enum CountryMatch {
    /// Inside this country's polygon (ISO3).
    Inside(String),
    /// In no polygon, but this country's is the nearest, at this many metres (within the tolerance).
    Nearest(String, f64),
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
    iso3: Vec<String>,
    east: f64,
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
    /// Indexes the polygons of `layer`, whose features carry `iso3`.
    pub fn new(layer: &RefLayer) -> Self {
        let iso3: Vec<String> = layer
            .features
            .iter()
            .map(|f| {
                f.properties
                    .get("iso3")
                    .and_then(|v| v.as_str())
                    .unwrap_or(&f.id)
                    .to_owned()
            })
            .collect();
        let entries: Vec<_> = layer
            .features
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
        let boundary_geoms: Vec<geo::Geometry<f64>> = layer
            .features
            .iter()
            .map(|f| {
                geo::Geometry::MultiLineString(geo::MultiLineString(
                    rings(&f.geometry).into_iter().cloned().collect(),
                ))
            })
            .collect();
        CountryLocator {
            edges: RTree::bulk_load(entries),
            boundaries: nearest::MetricIndex::new(&SegmentIndex::new(&boundary_geoms)),
            iso3,
            east,
        }
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

    /// Locates `p`: the containing country, else the nearest within `tolerance_m`.
    pub fn locate(&self, p: [f64; 2], tolerance_m: f64) -> CountryMatch {
        // Polygons of neighbours do not overlap in the data; if they ever do, the first wins.
        if let Some(&i) = self.containing(p).first() {
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
        match locator.locate([2.0, 2.0], 200_000.0) {
            CountryMatch::Nearest(c, d) => assert!(c == "AAA" && d > 100_000.0 && d < 112_000.0),
            other => panic!("{other:?}"),
        }
    }
}
