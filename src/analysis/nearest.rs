//! The nearest segment to a point, in geodesic metres, found through an R-tree in degrees without
//! ever missing the true nearest.
//!
//! Segments are searched in Earth-centred 3-D coordinates (see [`nearest`]), where the R-tree's
//! straight-line distance is a lower bound of the geodesic one; k-nearest points use the degree tree
//! with a box that provably holds every point within the k-th distance.

use crate::geodesy::{self, Closest};
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

/// WGS 84 position to Earth-centred, Earth-fixed coordinates, metres (height 0).
fn ecef(p: [f64; 2]) -> [f64; 3] {
    let e2 = geodesy::WGS84_F * (2.0 - geodesy::WGS84_F);
    let (lon, lat) = (p[0].to_radians(), p[1].to_radians());
    let n = geodesy::WGS84_A / (1.0 - e2 * lat.sin().powi(2)).sqrt();
    [
        n * lat.cos() * lon.cos(),
        n * lat.cos() * lon.sin(),
        n * (1.0 - e2) * lat.sin(),
    ]
}

/// The smallest radius of curvature of the ellipsoid (meridional, at the equator), metres: no curve on
/// the surface bends more sharply.
const MIN_CURVATURE_RADIUS: f64 =
    geodesy::WGS84_A * (1.0 - geodesy::WGS84_F * (2.0 - geodesy::WGS84_F));

/// How far a geodesic segment whose end points are `chord` metres apart can stray from that chord.
fn sagitta_m(chord: f64) -> f64 {
    1.01 * chord * chord / (8.0 * MIN_CURVATURE_RADIUS) + 0.01
}

/// A segment's reference, its end points and its geodesic (length, azimuth at the start).
type MetricData = (SegmentRef, [f64; 2], [f64; 2], (f64, f64));
type MetricEntry = rstar::primitives::GeomWithData<rstar::primitives::Line<[f64; 3]>, MetricData>;

/// Segments in Earth-centred 3-D coordinates, where straight-line distance never exceeds the geodesic
/// distance: the R-tree then yields candidates in an order that bounds metres from below.
#[derive(Debug, Clone)]
pub struct MetricIndex {
    tree: rstar::RTree<MetricEntry>,
    max_sagitta_m: f64,
}

impl MetricIndex {
    /// Indexes the same segments as `index`.
    pub fn new(index: &SegmentIndex) -> Self {
        use rayon::prelude::*;
        let segments: Vec<_> = index.iter().collect();
        // One inverse geodesic per segment, computed here rather than on every query.
        let entries: Vec<MetricEntry> = segments
            .par_iter()
            .map(|&(a, b, r)| {
                rstar::primitives::GeomWithData::new(
                    rstar::primitives::Line::new(ecef(a), ecef(b)),
                    (r, a, b, geodesy::segment_geodesic(a, b)),
                )
            })
            .collect();
        let max_sagitta_m = entries
            .iter()
            .map(|e| sagitta_m(e.geom().length_2().sqrt()))
            .fold(0.0, f64::max);
        MetricIndex {
            tree: rstar::RTree::bulk_load(entries),
            max_sagitta_m,
        }
    }

    /// Number of indexed segments.
    pub fn len(&self) -> usize {
        self.tree.size()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }
}

/// The segment of `index` nearest to `p`, if one lies within `max_m` metres.
///
/// The tree yields segments by increasing straight-line (3-D) distance `d` from `p`. The geodesic
/// distance to a segment is at least `d` less the segment's sagitta (a path on the surface is no
/// shorter than the straight line, and the segment stays within its sagitta of its chord), so once
/// `d` less the largest sagitta exceeds the best geodesic distance found, no later segment can be
/// nearer. Exact geodesic distances ([`geodesy::closest_on_segment`]) are computed only for the
/// segments whose bound does not already rule them out.
pub fn nearest(index: &MetricIndex, p: [f64; 2], max_m: f64) -> Option<Hit> {
    let q = ecef(p);
    let mut best: Option<Hit> = None;
    for (entry, d2) in index.tree.nearest_neighbor_iter_with_distance_2(&q) {
        let d = d2.sqrt();
        let limit = best.map_or(max_m, |h| h.closest.distance_m);
        if d - index.max_sagitta_m > limit {
            break;
        }
        let (r, a, b, (len, azi)) = entry.data;
        if d - sagitta_m(entry.geom().length_2().sqrt()) > limit {
            continue;
        }
        let hit = Hit {
            segment: r,
            closest: geodesy::closest_on_segment_with(p, a, b, len, azi),
        };
        if hit.closest.distance_m <= max_m && better(&hit, &best) {
            best = Some(hit);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

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
