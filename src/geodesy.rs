//! Distances on the WGS 84 ellipsoid, in metres (Karney's geodesics, via `geographiclib-rs`): between
//! points, from a point to a geodesic segment, and the bounds that let an R-tree in degrees find the
//! nearest feature in metres without missing it.
//!
//! Positions are `[lon, lat]` in degrees, as in GeoJSON. Degrees are never used as a distance.

use std::sync::OnceLock;

use geographiclib_rs::{DirectGeodesic, Geodesic, InverseGeodesic};

/// WGS 84 semi-major axis, metres.
pub const WGS84_A: f64 = 6_378_137.0;
/// WGS 84 flattening.
pub const WGS84_F: f64 = 1.0 / 298.257_223_563;
const E2: f64 = WGS84_F * (2.0 - WGS84_F);
/// The smallest meridional radius of curvature (at the equator), metres: no degree of latitude is
/// shorter than this many metres × π/180.
pub const MERIDIAN_RADIUS_MIN: f64 = WGS84_A * (1.0 - E2);

fn geodesic() -> &'static Geodesic {
    static G: OnceLock<Geodesic> = OnceLock::new();
    G.get_or_init(Geodesic::wgs84)
}

/// Geodesic distance between two positions, metres.
///
/// ```
/// use tailings_atlas::geodesy::distance_m;
/// // One degree of latitude at the equator.
/// let d = distance_m([0.0, 0.0], [0.0, 1.0]);
/// assert!((d - 110_574.4).abs() < 0.1);
/// ```
pub fn distance_m(p: [f64; 2], q: [f64; 2]) -> f64 {
    geodesic().inverse(p[1], p[0], q[1], q[0])
}

/// The point of a segment nearest to a given point, and the distance to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Closest {
    /// `[lon, lat]` of the nearest point on the segment.
    pub point: [f64; 2],
    /// Geodesic distance to it, metres.
    pub distance_m: f64,
    /// Geodesic distance from the segment's start to the nearest point, metres.
    pub along_m: f64,
}

/// The nearest point to `p` on the geodesic segment from `a` to `b`.
///
/// The first guess is the foot of the perpendicular from `p` to the straight chord between `a` and `b`
/// in Earth-centred coordinates, which lies within centimetres of the true foot for the segments and
/// distances of a river basin. One direct and one inverse geodesic then give the distance, and the
/// angle at which the geodesic from `p` meets the segment tells whether that guess is the foot: if not
/// (or not closely enough to matter), Newton's method on the along-segment distance takes over (at a
/// point X of the segment, the foot lies `d·cos(θ)` back along it, where `d` is the distance from `p`
/// to X and `θ` the angle between the segment and the geodesic from `p` at X; exact in the plane, two
/// or three steps on the ellipsoid). The result is clamped to the segment.
///
/// ```
/// use tailings_atlas::geodesy::closest_on_segment;
/// // A point 1° north of the middle of an equatorial segment.
/// let c = closest_on_segment([0.5, 1.0], [0.0, 0.0], [1.0, 0.0]);
/// assert!((c.point[0] - 0.5).abs() < 1e-6 && c.point[1].abs() < 1e-9);
/// assert!((c.distance_m - 110_574.4).abs() < 0.1);
/// ```
pub fn closest_on_segment(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> Closest {
    let g = segment_geodesic(a, b);
    let t0 = chord_parameter(ecef(p), ecef(a), ecef(b));
    closest_on_segment_with(p, a, b, &g, t0).closest
}

/// A segment's geodesic: its length and the azimuths at both ends, worth computing once per segment
/// of an index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentGeodesic {
    /// Length, metres.
    pub len_m: f64,
    /// Azimuth at the start, degrees.
    pub azi_a: f64,
    /// (Forward) azimuth at the end, degrees.
    pub azi_b: f64,
}

/// The geodesic from `a` to `b`, as [`closest_on_segment_with`] needs it.
pub fn segment_geodesic(a: [f64; 2], b: [f64; 2]) -> SegmentGeodesic {
    let (len_m, azi_a, azi_b, _): (f64, f64, f64, f64) = geodesic().inverse(a[1], a[0], b[1], b[0]);
    SegmentGeodesic {
        len_m,
        azi_a,
        azi_b,
    }
}

/// WGS 84 position to Earth-centred, Earth-fixed coordinates, metres (height 0).
pub fn ecef(p: [f64; 2]) -> [f64; 3] {
    let (sin_lon, cos_lon) = p[0].to_radians().sin_cos();
    let (sin_lat, cos_lat) = p[1].to_radians().sin_cos();
    let n = WGS84_A / (1.0 - E2 * sin_lat * sin_lat).sqrt();
    [
        n * cos_lat * cos_lon,
        n * cos_lat * sin_lon,
        n * (1.0 - E2) * sin_lat,
    ]
}

/// Where the perpendicular from `q` meets the straight chord from `a` to `b` (all Earth-centred), as a
/// fraction of the chord clamped to [0, 1].
pub fn chord_parameter(q: [f64; 3], a: [f64; 3], b: [f64; 3]) -> f64 {
    let d = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    let len2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    if len2 <= 0.0 {
        return 0.0;
    }
    let t = ((q[0] - a[0]) * d[0] + (q[1] - a[1]) * d[1] + (q[2] - a[2]) * d[2]) / len2;
    t.clamp(0.0, 1.0)
}

/// The chord fraction of the foot from `q` to the chord from `a` to `b` ([`chord_parameter`]) and the
/// straight-line distance to that foot (all Earth-centred, or in any frame turned from it).
pub fn chord_foot(q: [f64; 3], a: [f64; 3], b: [f64; 3]) -> (f64, f64) {
    let t = chord_parameter(q, a, b);
    let c = [0, 1, 2].map(|k| a[k] + t * (b[k] - a[k]) - q[k]);
    (t, (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt())
}

/// The nearest point of a segment and the azimuth (degrees) at that point of the geodesic arriving
/// from the query point: enough to tell, without another geodesic, whether a neighbouring segment
/// that shares the point could come nearer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Foot {
    pub closest: Closest,
    pub azi_from_p: f64,
}

/// How far (metres) the distance `d` at a point of a segment could still drop, when the foot lies `step`
/// metres along the segment from it (exact in the plane).
fn gain_m(d: f64, step: f64) -> f64 {
    d - (d * d - step * step).max(0.0).sqrt()
}

/// The along-segment offset (metres, positive means back towards the start) of the foot from a point at
/// distance `d` reached with azimuth `azi_from_p`, on a segment running with azimuth `azi_line`.
pub fn foot_step_m(d: f64, azi_from_p: f64, azi_line: f64) -> f64 {
    // At X == p the angle is undefined and d is 0.
    if d > 0.0 {
        d * (azi_from_p - azi_line).to_radians().cos()
    } else {
        0.0
    }
}

/// Whether the point at distance `d` at an end of a segment (`at_start`), reached with a Newton step of
/// `step` metres, is the segment's nearest point up to a negligible part of the tolerance.
pub fn end_is_nearest(d: f64, step: f64, at_start: bool) -> bool {
    let inward = if at_start { -step } else { step };
    inward <= 0.0 || gain_m(d, inward) <= negligible_m(d)
}

/// A distance error too small to matter: a thousandth of the tolerance (1 m or 0.1 %). A distance
/// from [`closest_on_segment_with`] exceeds the true one by at most this.
pub fn negligible_m(d: f64) -> f64 {
    1e-3 * (1e-3 * d).max(1.0)
}

/// [`closest_on_segment`] for a segment whose [`segment_geodesic`] is known, starting from the chord
/// fraction `t0` ([`chord_parameter`]).
pub fn closest_on_segment_with(
    p: [f64; 2],
    a: [f64; 2],
    b: [f64; 2],
    seg: &SegmentGeodesic,
    t0: f64,
) -> Foot {
    let g = geodesic();
    let len = seg.len_m;
    let evaluate = |s: f64| -> (Foot, f64) {
        // The ends are taken as they are, not recomputed: a shared vertex then has one position.
        let (point, azi_line) = if s <= 0.0 {
            (a, seg.azi_a)
        } else if s >= len {
            (b, seg.azi_b)
        } else {
            let (lat, lon, azi): (f64, f64, f64) = g.direct(a[1], a[0], seg.azi_a, s);
            ([lon, lat], azi)
        };
        let (d, _, azi_from_p, _): (f64, f64, f64, f64) = g.inverse(p[1], p[0], point[1], point[0]);
        let foot = Foot {
            closest: Closest {
                point,
                distance_m: d,
                along_m: s.clamp(0.0, len),
            },
            azi_from_p,
        };
        (foot, foot_step_m(d, azi_from_p, azi_line))
    };
    if len < 1e-3 {
        return evaluate(0.0).0;
    }
    let mut s = if t0 <= 0.0 {
        0.0
    } else if t0 >= 1.0 {
        len
    } else {
        t0 * len
    };
    let (first, step) = evaluate(s);
    let d = first.closest.distance_m;
    let settled = if s <= 0.0 || s >= len {
        end_is_nearest(d, step, s <= 0.0)
    } else {
        gain_m(d, step) <= negligible_m(d)
    };
    if settled {
        return first;
    }
    let mut best = first;
    let mut step = step;
    for _ in 0..8 {
        let next = (s - step).clamp(0.0, len);
        if (next - s).abs() < 1e-4 {
            break;
        }
        s = next;
        let (here, here_step) = evaluate(s);
        if here.closest.distance_m < best.closest.distance_m {
            best = here;
        }
        step = here_step;
    }
    best
}

/// A box in degrees that contains every point within `radius_m` of `p` (geodesically), or `None` if
/// it would reach a pole (then every longitude qualifies).
///
/// Latitude: no degree of latitude is shorter than at the equator. Longitude: moving east is the
/// fastest way to change longitude, at `N·cos φ ≥ a·cos φ` metres per radian, so the widest change is
/// bounded with the largest |latitude| the box reaches.
pub fn search_box(p: [f64; 2], radius_m: f64) -> Option<[f64; 4]> {
    let dlat = (radius_m / MERIDIAN_RADIUS_MIN).to_degrees();
    let south = p[1] - dlat;
    let north = p[1] + dlat;
    let max_abs_lat = south.abs().max(north.abs());
    if max_abs_lat >= 89.9 {
        return None;
    }
    let dlon = (radius_m / (WGS84_A * max_abs_lat.to_radians().cos())).to_degrees();
    if dlon >= 180.0 {
        return None;
    }
    Some([p[0] - dlon, south, p[0] + dlon, north])
}

/// A lower bound, metres, on the geodesic distance from `p` to any point of the box
/// `[west, south, east, north]` (which must not cross the antimeridian).
///
/// Any path from `p` to a point of the box covers at least the latitude gap `Δφ` and the longitude gap
/// `Δλ`; its length is at least `√((M_min·Δφ)² + (c·Δλ)²)`, with `M_min` the smallest meridional radius
/// and `c = a·cos(φ_max)` a lower bound of the parallel radius over the latitudes the path can cross.
pub fn lower_bound_m(p: [f64; 2], rect: [f64; 4]) -> f64 {
    let [west, south, east, north] = rect;
    let dlon = if p[0] < west {
        west - p[0]
    } else if p[0] > east {
        p[0] - east
    } else {
        0.0
    };
    let dlon = dlon.min(360.0 - dlon).max(0.0);
    let dlat = if p[1] < south {
        south - p[1]
    } else if p[1] > north {
        p[1] - north
    } else {
        0.0
    };
    let max_abs_lat = p[1].abs().max(south.abs()).max(north.abs()).min(90.0);
    let y = MERIDIAN_RADIUS_MIN * dlat.to_radians();
    let x = WGS84_A * max_abs_lat.to_radians().cos() * dlon.to_radians();
    (x * x + y * y).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Brute force: the minimum over many points spaced along the segment, then a fine search.
    fn sampled(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
        let g = geodesic();
        let (len, azi, _, _): (f64, f64, f64, f64) = g.inverse(a[1], a[0], b[1], b[0]);
        let at = |s: f64| {
            let (lat, lon): (f64, f64) = g.direct(a[1], a[0], azi, s);
            distance_m(p, [lon, lat])
        };
        let n = 400;
        let (mut best_s, mut best) = (0.0, at(0.0));
        for i in 1..=n {
            let s = len * i as f64 / n as f64;
            let d = at(s);
            if d < best {
                (best_s, best) = (s, d);
            }
        }
        let (mut lo, mut hi) = (
            (best_s - len / n as f64).max(0.0),
            (best_s + len / n as f64).min(len),
        );
        for _ in 0..60 {
            let m1 = lo + (hi - lo) / 3.0;
            let m2 = hi - (hi - lo) / 3.0;
            if at(m1) < at(m2) {
                hi = m2;
            } else {
                lo = m1;
            }
        }
        best.min(at((lo + hi) / 2.0))
    }

    #[test]
    fn closest_matches_dense_sampling() {
        let mut rng = StdRng::seed_from_u64(0x6E0);
        for _ in 0..300 {
            let a = [rng.random_range(60.0..78.0), rng.random_range(38.0..47.0)];
            let len_deg = rng.random_range(0.001..1.5);
            let dir = rng.random_range(0.0..std::f64::consts::TAU);
            let b = [a[0] + len_deg * dir.cos(), a[1] + len_deg * dir.sin()];
            let p = [
                a[0] + rng.random_range(-2.0..2.0),
                a[1] + rng.random_range(-1.5..1.5),
            ];
            let c = closest_on_segment(p, a, b);
            let reference = sampled(p, a, b);
            let tol = (reference * 1e-3).max(1.0);
            assert!(
                (c.distance_m - reference).abs() <= tol,
                "p {p:?} a {a:?} b {b:?}: {} vs {reference}",
                c.distance_m
            );
            // The reported point is on the segment at the reported distance.
            assert!((distance_m(p, c.point) - c.distance_m).abs() < 1e-6);
        }
    }

    /// Against pyproj (PROJ's geodesics), an independent implementation: see
    /// `scripts/geodesic_reference.py`.
    #[test]
    fn closest_matches_independent_reference() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/geodesic_point_segment.csv"
        );
        let mut reader = csv::Reader::from_path(path).unwrap();
        let mut worst: f64 = 0.0;
        let mut n = 0;
        for row in reader.records() {
            let row = row.unwrap();
            let v: Vec<f64> = (1..row.len()).map(|i| row[i].parse().unwrap()).collect();
            let (p, a, b, reference) = ([v[0], v[1]], [v[2], v[3]], [v[4], v[5]], v[6]);
            let c = closest_on_segment(p, a, b);
            let tol = (reference * 1e-3).max(1.0);
            let err = (c.distance_m - reference).abs();
            assert!(
                err <= tol,
                "{}: {} m vs reference {reference} m",
                &row[0],
                c.distance_m
            );
            worst = worst.max(err / tol);
            n += 1;
        }
        assert!(n >= 400, "fixture has {n} rows");
        // Far inside the tolerance, in practice.
        assert!(worst < 0.01, "worst error is {worst} of the tolerance");
    }

    #[test]
    fn bounds_hold() {
        let mut rng = StdRng::seed_from_u64(0xB0D);
        for _ in 0..2_000 {
            let p = [
                rng.random_range(-179.0..179.0),
                rng.random_range(-80.0..80.0),
            ];
            let q = [
                p[0] + rng.random_range(-3.0..3.0),
                (p[1] + rng.random_range(-3.0..3.0f64)).clamp(-89.0, 89.0),
            ];
            let d = distance_m(p, q);
            if let Some([w, s, e, n]) = search_box(p, d * 1.000_001 + 1e-6) {
                assert!(
                    q[0] >= w && q[0] <= e && q[1] >= s && q[1] <= n,
                    "{p:?} {q:?} {d}"
                );
            }
            let lb = lower_bound_m(p, [q[0], q[1], q[0], q[1]]);
            assert!(
                lb <= d * 1.000_001 + 1e-6,
                "lower bound {lb} > distance {d}"
            );
        }
    }
}
