//! Coordinate reference systems by reference (OGC API – Features Part 2): the CRSs the service
//! answers in, how `crs`, `bbox-crs` (and, for the filters, `filter-crs`) name them, and the
//! reprojections, through PROJ by GDAL's OSR. Everything is stored in CRS84; only this module
//! knows other CRSs, so the core stays free of GDAL.
//!
//! **Thread safety.** An OSR `CoordTransform` must not be used from two threads at once, nor, as
//! PROJ ties it to the creating thread's context, from a thread other than the one that made it.
//! Each thread therefore keeps its own transforms, made on first use and kept for the thread's life
//! (a handful per thread: one per CRS and direction), in a `thread_local!` cache.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use geo::Coord;

use crate::index::BBox;

/// WGS 84 longitude/latitude: what is stored, and the default.
pub const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

/// A CRS the service answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Crs {
    /// WGS 84, longitude then latitude (the storage CRS).
    #[default]
    Crs84,
    /// EPSG:4326: WGS 84, latitude then longitude, as EPSG defines its axes.
    Epsg4326,
    /// EPSG:3857, Web Mercator.
    WebMercator,
    /// EPSG:32641, UTM zone 41N.
    Utm41N,
    /// EPSG:32642, UTM zone 42N.
    Utm42N,
    /// EPSG:32643, UTM zone 43N.
    Utm43N,
}

/// Why a CRS or a coordinate in it cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CrsError {
    /// A CRS the service does not know or serve, as the client named it in `param`.
    #[error("unsupported CRS {value:?}; supported: {supported}")]
    Unsupported {
        param: &'static str,
        value: String,
        supported: String,
    },
    /// Coordinates the transform cannot take (outside the CRS's domain), from parameter `param`
    /// (`bbox`) or asked for by it (`crs`).
    #[error("{reason}")]
    Outside { param: &'static str, reason: String },
    /// PROJ could not make a transform it should know: a broken installation, not the client.
    #[error("cannot set up the transform {from} -> {to}: {reason}")]
    Setup {
        from: &'static str,
        to: &'static str,
        reason: String,
    },
}

impl Crs {
    /// Every CRS served, the storage CRS first.
    pub const SUPPORTED: [Crs; 6] = [
        Crs::Crs84,
        Crs::Epsg4326,
        Crs::WebMercator,
        Crs::Utm41N,
        Crs::Utm42N,
        Crs::Utm43N,
    ];

    /// The EPSG code (none for CRS84, which EPSG does not define).
    pub fn epsg(self) -> Option<u32> {
        match self {
            Crs::Crs84 => None,
            Crs::Epsg4326 => Some(4326),
            Crs::WebMercator => Some(3857),
            Crs::Utm41N => Some(32641),
            Crs::Utm42N => Some(32642),
            Crs::Utm43N => Some(32643),
        }
    }

    /// The CRS's URI, as `crs` takes it and `Content-Crs` gives it.
    pub fn uri(self) -> &'static str {
        match self {
            Crs::Crs84 => CRS84,
            Crs::Epsg4326 => "http://www.opengis.net/def/crs/EPSG/0/4326",
            Crs::WebMercator => "http://www.opengis.net/def/crs/EPSG/0/3857",
            Crs::Utm41N => "http://www.opengis.net/def/crs/EPSG/0/32641",
            Crs::Utm42N => "http://www.opengis.net/def/crs/EPSG/0/32642",
            Crs::Utm43N => "http://www.opengis.net/def/crs/EPSG/0/32643",
        }
    }

    /// The URIs of every CRS served.
    pub fn supported_uris() -> Vec<&'static str> {
        Crs::SUPPORTED.iter().map(|c| c.uri()).collect()
    }

    /// Whether coordinates are metres (easting, northing) rather than degrees.
    pub fn is_projected(self) -> bool {
        !matches!(self, Crs::Crs84 | Crs::Epsg4326)
    }

    /// Reads a CRS as a client names it: the OGC URI (`http://www.opengis.net/def/crs/EPSG/0/32642`,
    /// also over https), a safe CURIE (`[EPSG:32642]`, `[OGC:CRS84]`), an OGC URN
    /// (`urn:ogc:def:crs:EPSG::32642`) or `EPSG:32642`. `param` is the parameter it came in.
    pub fn parse(param: &'static str, value: &str) -> Result<Crs, CrsError> {
        let unsupported = || CrsError::Unsupported {
            param,
            value: value.to_owned(),
            supported: Crs::supported_uris().join(", "),
        };
        let v = value.trim();
        let (authority, code) = parse_name(v).ok_or_else(unsupported)?;
        match (authority.to_ascii_uppercase().as_str(), code) {
            ("OGC", c) if c.eq_ignore_ascii_case("CRS84") => Ok(Crs::Crs84),
            ("EPSG", c) => {
                let code: u32 = c.parse().map_err(|_| unsupported())?;
                Crs::SUPPORTED
                    .into_iter()
                    .find(|crs| crs.epsg() == Some(code))
                    .ok_or_else(unsupported)
            }
            _ => Err(unsupported()),
        }
    }

    fn spatial_ref(self) -> gdal::errors::Result<SpatialRef> {
        let mut srs = match self.epsg() {
            None => SpatialRef::from_definition("OGC:CRS84")?,
            Some(code) => SpatialRef::from_epsg(code)?,
        };
        // The axes as the authority defines them: latitude first for EPSG:4326, longitude first
        // for CRS84, easting first for the projected ones.
        srs.set_axis_mapping_strategy(AxisMappingStrategy::AuthorityCompliant);
        Ok(srs)
    }
}

/// `(authority, code)` of a CRS name in any of the forms [`Crs::parse`] takes.
fn parse_name(v: &str) -> Option<(&str, &str)> {
    for prefix in [
        "http://www.opengis.net/def/crs/",
        "https://www.opengis.net/def/crs/",
    ] {
        if let Some(rest) = v.strip_prefix(prefix) {
            // AUTHORITY/VERSION/CODE
            let mut parts = rest.split('/');
            let (a, _version, c) = (parts.next()?, parts.next()?, parts.next()?);
            return (parts.next().is_none() && !c.is_empty()).then_some((a, c));
        }
    }
    if let Some(rest) = v.strip_prefix("urn:ogc:def:crs:") {
        // AUTHORITY:VERSION:CODE, the version often empty.
        let mut parts = rest.split(':');
        let (a, _version, c) = (parts.next()?, parts.next()?, parts.next()?);
        return (parts.next().is_none() && !c.is_empty()).then_some((a, c));
    }
    let curie = v
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(v);
    let (a, c) = curie.split_once(':')?;
    (!a.is_empty() && !c.is_empty() && !c.contains(':')).then_some((a, c))
}

thread_local! {
    /// This thread's transforms, by (from, to).
    static TRANSFORMS: RefCell<HashMap<(Crs, Crs), Rc<CoordTransform>>> = RefCell::new(HashMap::new());
}

/// This thread's transform from `from` to `to`, made on first use.
fn transform(from: Crs, to: Crs) -> Result<Rc<CoordTransform>, CrsError> {
    if let Some(t) = TRANSFORMS.with(|m| m.borrow().get(&(from, to)).cloned()) {
        return Ok(t);
    }
    let setup = |e: gdal::errors::GdalError| CrsError::Setup {
        from: from.uri(),
        to: to.uri(),
        reason: e.to_string(),
    };
    let t = Rc::new(
        CoordTransform::new(
            &from.spatial_ref().map_err(setup)?,
            &to.spatial_ref().map_err(setup)?,
        )
        .map_err(setup)?,
    );
    TRANSFORMS.with(|m| m.borrow_mut().insert((from, to), t.clone()));
    Ok(t)
}

/// The latitude Web Mercator stops at (its square world, as WebMercatorQuad's): beyond it the
/// formulas still give numbers, up to the pole itself, but EPSG:3857 does not cover them.
const MERCATOR_MAX_LAT: f64 = 85.051_128_779_806_6;

/// Half the side of Web Mercator's square world, in metres.
const MERCATOR_HALF_WORLD: f64 = 20_037_508.342_789_244;

/// Transforms `xs`/`ys` in place; every result must be finite, and in Web Mercator within its
/// square world.
fn run(from: Crs, to: Crs, xs: &mut [f64], ys: &mut [f64]) -> Result<(), CrsError> {
    if from == to || xs.is_empty() {
        return Ok(());
    }
    let param = if to == Crs::Crs84 { "bbox" } else { "crs" };
    let lat_out = match from {
        Crs::Crs84 => ys.iter().find(|y| y.abs() > MERCATOR_MAX_LAT),
        Crs::Epsg4326 => xs.iter().find(|x| x.abs() > MERCATOR_MAX_LAT),
        _ => None,
    };
    if let (Crs::WebMercator, Some(lat)) = (to, lat_out) {
        return Err(CrsError::Outside {
            param,
            reason: format!(
                "latitude {lat} is beyond {} (±{MERCATOR_MAX_LAT}°)",
                to.uri()
            ),
        });
    }
    if from == Crs::WebMercator
        && let Some(v) = xs
            .iter()
            .chain(ys.iter())
            .find(|v| v.abs() > MERCATOR_HALF_WORLD + 1e-3)
    {
        return Err(CrsError::Outside {
            param,
            reason: format!("{v} m is outside {} (±{MERCATOR_HALF_WORLD} m)", from.uri()),
        });
    }
    let t = transform(from, to)?;
    let outside = |why: &str| CrsError::Outside {
        param,
        reason: format!(
            "coordinates outside the domain of the transform from {} to {}{why}",
            from.uri(),
            to.uri()
        ),
    };
    t.transform_coords(xs, ys, &mut [])
        .map_err(|e| outside(&format!(" ({e})")))?;
    if xs.iter().chain(ys.iter()).all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(outside(""))
    }
}

/// Calls `f` on every coordinate of `g`, always in the same order.
fn each_coord(g: &mut geo::Geometry<f64>, f: &mut impl FnMut(&mut Coord<f64>)) {
    use geo::Geometry as G;
    let line = |l: &mut geo::LineString<f64>, f: &mut dyn FnMut(&mut Coord<f64>)| {
        l.0.iter_mut().for_each(&mut *f)
    };
    let polygon = |p: &mut geo::Polygon<f64>, f: &mut dyn FnMut(&mut Coord<f64>)| {
        p.exterior_mut(|l| line(l, f));
        p.interiors_mut(|ls| ls.iter_mut().for_each(|l| line(l, f)));
    };
    match g {
        G::Point(p) => f(&mut p.0),
        G::Line(l) => {
            f(&mut l.start);
            f(&mut l.end);
        }
        G::LineString(l) => line(l, f),
        G::Polygon(p) => polygon(p, f),
        G::MultiPoint(m) => m.0.iter_mut().for_each(|p| f(&mut p.0)),
        G::MultiLineString(m) => m.0.iter_mut().for_each(|l| line(l, f)),
        G::MultiPolygon(m) => m.0.iter_mut().for_each(|p| polygon(p, f)),
        G::GeometryCollection(c) => c.0.iter_mut().for_each(|g| each_coord(g, f)),
        G::Rect(r) => {
            let (mut min, mut max) = (r.min(), r.max());
            f(&mut min);
            f(&mut max);
            *r = geo::Rect::new(min, max);
        }
        G::Triangle(t) => {
            let (mut a, mut b, mut c) = (t.v1(), t.v2(), t.v3());
            f(&mut a);
            f(&mut b);
            f(&mut c);
            *t = geo::Triangle::new(a, b, c);
        }
    }
}

/// Transforms every coordinate of `g` from `from` to `to` in one call to PROJ.
fn reproject(from: Crs, to: Crs, g: &mut geo::Geometry<f64>) -> Result<(), CrsError> {
    if from == to {
        return Ok(());
    }
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    each_coord(g, &mut |c| {
        xs.push(c.x);
        ys.push(c.y);
    });
    run(from, to, &mut xs, &mut ys)?;
    let mut i = 0;
    each_coord(g, &mut |c| {
        c.x = xs[i];
        c.y = ys[i];
        i += 1;
    });
    Ok(())
}

/// Output in a projected CRS is given to the millimetre; degrees keep every digit.
fn round_mm(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Rewrites a stored (CRS84) geometry in `to`, as a response gives it: projected coordinates to the
/// millimetre, EPSG:4326 as latitude, longitude.
pub fn from_crs84(to: Crs, g: &mut geo::Geometry<f64>) -> Result<(), CrsError> {
    reproject(Crs::Crs84, to, g)?;
    if to.is_projected() {
        each_coord(g, &mut |c| {
            c.x = round_mm(c.x);
            c.y = round_mm(c.y);
        });
    }
    Ok(())
}

/// One coordinate given in `from` (axes in that CRS's order), in CRS84: for `filter-crs`, as
/// [`crate::filter`] takes it (`&|c| crs::to_crs84(crs, c)`).
pub fn to_crs84(from: Crs, c: Coord<f64>) -> Result<Coord<f64>, String> {
    let (mut x, mut y) = ([c.x], [c.y]);
    run(from, Crs::Crs84, &mut x, &mut y).map_err(|e| e.to_string())?;
    Ok(Coord { x: x[0], y: y[0] })
}

/// A box given in `from` (`[min axis 1, min axis 2, max axis 1, max axis 2]`, so for EPSG:4326
/// south, west, north, east) as a CRS84 box holding all of it: the edges are densified (21 points
/// each), transformed, their envelope taken and widened by 1 % on each side, so the box never
/// misses a point of the area (what lies in it but not in the given box is left to
/// [`in_box`]).
pub fn box_to_crs84(from: Crs, b: [f64; 4]) -> Result<BBox, CrsError> {
    let bad = |reason: String| CrsError::Outside {
        param: "bbox",
        reason,
    };
    let invalid = |e: crate::index::BBoxError| bad(e.to_string());
    match from {
        Crs::Crs84 => BBox::new(b[0], b[1], b[2], b[3]).map_err(invalid),
        // The same ellipsoidal coordinates, axes swapped: exact, and crossing the antimeridian
        // as a CRS84 box does when west > east.
        Crs::Epsg4326 => BBox::new(b[1], b[0], b[3], b[2]).map_err(invalid),
        _ => {
            if !(b[0] <= b[2] && b[1] <= b[3]) {
                return Err(bad(format!(
                    "the minimum ({}, {}) must not exceed the maximum ({}, {}) in {}",
                    b[0],
                    b[1],
                    b[2],
                    b[3],
                    from.uri()
                )));
            }
            check_inverse(from, b)?;
            let t = transform(from, Crs::Crs84)?;
            let [w, s, e, n] = t.transform_bounds(&b, 21).map_err(|e| {
                bad(format!(
                    "the box is outside the domain of {} ({e})",
                    from.uri()
                ))
            })?;
            if ![w, s, e, n].iter().all(|v| v.is_finite()) {
                return Err(bad(format!(
                    "the box is outside the domain of {}",
                    from.uri()
                )));
            }
            let (dx, dy) = ((e - w).abs() * 0.01 + 1e-7, (n - s) * 0.01 + 1e-7);
            let (w, e) = if w <= e {
                ((w - dx).max(-180.0), (e + dx).min(180.0))
            } else {
                // Across the antimeridian.
                (w - dx, e + dx)
            };
            BBox::new(w, (s - dy).max(-90.0), e, (n + dy).min(90.0)).map_err(invalid)
        }
    }
}

/// Checks that the corners and edge midpoints of a projected box are points of its CRS: they map
/// to CRS84 and back to within a millimetre (far outside a UTM zone, or past Web Mercator's world,
/// the inverse gives numbers that are no position).
fn check_inverse(crs: Crs, b: [f64; 4]) -> Result<(), CrsError> {
    let (mx, my) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
    let mut xs = vec![b[0], b[2], b[2], b[0], mx, b[2], mx, b[0]];
    let mut ys = vec![b[1], b[1], b[3], b[3], b[1], my, b[3], my];
    let (x0, y0) = (xs.clone(), ys.clone());
    run(crs, Crs::Crs84, &mut xs, &mut ys)?;
    run(Crs::Crs84, crs, &mut xs, &mut ys).map_err(|e| CrsError::Outside {
        param: "bbox",
        reason: e.to_string(),
    })?;
    let far = x0
        .iter()
        .zip(&y0)
        .zip(xs.iter().zip(&ys))
        .find(|((x, y), (x1, y1))| (*x - *x1).abs() > 1e-3 || (*y - *y1).abs() > 1e-3);
    match far {
        None => Ok(()),
        Some(((x, y), _)) => Err(CrsError::Outside {
            param: "bbox",
            reason: format!("({x}, {y}) is not a position of {}", crs.uri()),
        }),
    }
}

/// Whether a stored (CRS84) geometry meets the box `b` given in `crs` (as for
/// [`box_to_crs84`]), decided in `crs` itself. A geometry outside the CRS's domain is not in it.
pub fn in_box(crs: Crs, b: [f64; 4], g: &geo::Geometry<f64>) -> bool {
    use geo::Intersects;
    let mut g = g.clone();
    if reproject(Crs::Crs84, crs, &mut g).is_err() {
        return false;
    }
    let rect = geo::Rect::new(Coord { x: b[0], y: b[1] }, Coord { x: b[2], y: b[3] });
    g.intersects(&rect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_every_form() {
        for (v, crs) in [
            (CRS84, Crs::Crs84),
            ("[OGC:CRS84]", Crs::Crs84),
            ("urn:ogc:def:crs:OGC:1.3:CRS84", Crs::Crs84),
            ("http://www.opengis.net/def/crs/EPSG/0/4326", Crs::Epsg4326),
            ("https://www.opengis.net/def/crs/EPSG/0/32642", Crs::Utm42N),
            ("[EPSG:3857]", Crs::WebMercator),
            ("EPSG:32641", Crs::Utm41N),
            ("urn:ogc:def:crs:EPSG::32643", Crs::Utm43N),
        ] {
            assert_eq!(Crs::parse("crs", v), Ok(crs), "{v}");
        }
        for c in Crs::SUPPORTED {
            assert_eq!(Crs::parse("crs", c.uri()), Ok(c));
        }
        for v in [
            "EPSG:2154",
            "http://www.opengis.net/def/crs/EPSG/0/32644",
            "http://www.opengis.net/def/crs/EPSG/0/",
            "CRS84",
            "",
            "EPSG:4326:1",
            "http://example.org/def/crs/EPSG/0/4326",
        ] {
            let e = Crs::parse("bbox-crs", v).unwrap_err();
            assert!(
                matches!(
                    e,
                    CrsError::Unsupported {
                        param: "bbox-crs",
                        ..
                    }
                ),
                "{v}"
            );
            assert!(e.to_string().contains("EPSG/0/32643"), "{e}");
        }
    }

    #[test]
    fn every_coordinate_is_visited_once_in_a_fixed_order() {
        use geo::{MapCoords, coord, polygon};
        let hole = polygon!(
            exterior: [(x: 0., y: 0.), (x: 10., y: 0.), (x: 10., y: 10.), (x: 0., y: 0.)],
            interiors: [[(x: 1., y: 1.), (x: 2., y: 1.), (x: 2., y: 2.), (x: 1., y: 1.)]],
        );
        let shifted = hole.map_coords(|c| coord! { x: c.x + 20.0, y: c.y });
        let original = geo::Geometry::GeometryCollection(geo::GeometryCollection(vec![
            geo::Geometry::MultiPolygon(geo::MultiPolygon(vec![hole, shifted])),
            geo::Geometry::Point(geo::Point(coord! { x: 5., y: 6. })),
        ]));
        let mut g = original.clone();
        let mut seen = Vec::new();
        each_coord(&mut g, &mut |c| seen.push(c.x));
        let mut expected = vec![0., 10., 10., 0., 1., 2., 2., 1.];
        expected.extend(expected.clone().iter().map(|x| x + 20.0));
        expected.push(5.);
        assert_eq!(seen, expected);
        // Written back in the same order, each to its place.
        each_coord(&mut g, &mut |c| *c = coord! { x: c.y * 2.0, y: c.x - 1.0 });
        assert_eq!(
            g,
            original.map_coords(|c| coord! { x: c.y * 2.0, y: c.x - 1.0 })
        );
    }

    #[test]
    fn epsg_4326_swaps_the_axes_exactly() {
        let mut g = geo::Geometry::Point(geo::Point::new(72.6581234567, 41.2745678901));
        from_crs84(Crs::Epsg4326, &mut g).unwrap();
        let geo::Geometry::Point(p) = g else { panic!() };
        assert_eq!((p.x(), p.y()), (41.2745678901, 72.6581234567));
        let back = to_crs84(Crs::Epsg4326, p.0).unwrap();
        assert_eq!((back.x, back.y), (72.6581234567, 41.2745678901));
    }

    #[test]
    fn projected_round_trip_and_domain() {
        let start = Coord { x: 71.5, y: 41.0 };
        for crs in [Crs::WebMercator, Crs::Utm41N, Crs::Utm42N, Crs::Utm43N] {
            let mut g = geo::Geometry::Point(geo::Point(start));
            from_crs84(crs, &mut g).unwrap();
            let geo::Geometry::Point(p) = g else { panic!() };
            assert!(
                p.x().abs() > 1000.0 && p.y() > 1000.0,
                "{crs:?}: metres, {p:?}"
            );
            // Millimetres.
            assert_eq!(p.x(), round_mm(p.x()));
            let back = to_crs84(crs, p.0).unwrap();
            assert!((back.x - start.x).abs() < 1e-7 && (back.y - start.y).abs() < 1e-7);
        }
        // Web Mercator has no pole.
        for lat in [90.0, 85.06, -89.0] {
            let mut pole = geo::Geometry::Point(geo::Point::new(10.0, lat));
            assert!(matches!(
                from_crs84(Crs::WebMercator, &mut pole),
                Err(CrsError::Outside { param: "crs", .. })
            ));
        }
        let mut edge = geo::Geometry::Point(geo::Point::new(180.0, MERCATOR_MAX_LAT));
        from_crs84(Crs::WebMercator, &mut edge).unwrap();
        let geo::Geometry::Point(p) = edge else {
            panic!()
        };
        assert!(
            (p.x() - MERCATOR_HALF_WORLD).abs() < 1e-3
                && (p.y() - MERCATOR_HALF_WORLD).abs() < 1e-3
        );
    }

    /// The transforms are per thread: many threads reprojecting at once all get the same answers.
    #[test]
    fn threads_reproject_independently() {
        let one = |lon: f64| {
            let mut g = geo::Geometry::Point(geo::Point::new(lon, 41.0));
            from_crs84(Crs::Utm42N, &mut g).unwrap();
            g
        };
        let expected: Vec<_> = (0..200).map(|i| one(66.0 + i as f64 * 0.01)).collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        (0..200)
                            .map(|i| one(66.0 + i as f64 * 0.01))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                assert_eq!(h.join().unwrap(), expected);
            }
        });
    }

    #[test]
    fn boxes_hold_what_the_projected_box_holds() {
        // A UTM 42N box; its corners and edge midpoints fall inside the CRS84 box made of it.
        let b = [300_000.0, 4_400_000.0, 700_000.0, 4_700_000.0];
        let env = box_to_crs84(Crs::Utm42N, b).unwrap();
        // Corners and edges, a metre inside.
        let (w, s, e, n) = (b[0] + 1.0, b[1] + 1.0, b[2] - 1.0, b[3] - 1.0);
        for (x, y) in [
            (w, s),
            (e, n),
            (w, n),
            (e, s),
            (500_000.0, s),
            (500_000.0, n),
            (w, 4_550_000.0),
        ] {
            let c = to_crs84(Crs::Utm42N, Coord { x, y }).unwrap();
            assert!(
                env.west <= c.x && c.x <= env.east && env.south <= c.y && c.y <= env.north,
                "{c:?} outside {env:?}"
            );
            let g = geo::Geometry::Point(geo::Point(c));
            assert!(in_box(Crs::Utm42N, b, &g));
        }
        let far = geo::Geometry::Point(geo::Point::new(69.0, 45.0));
        assert!(!in_box(Crs::Utm42N, b, &far));
        assert!(box_to_crs84(Crs::Utm42N, [7e5, 0.0, 3e5, 1.0]).is_err());
        for bad in [
            (Crs::WebMercator, [0.0, 0.0, 1e12, 1e12]),
            (Crs::WebMercator, [0.0, 0.0, 1e6, 2.1e7]),
            (Crs::Utm42N, [0.0, 0.0, 1e12, 1e12]),
            (Crs::Utm42N, [-5e7, 0.0, 1e5, 1e5]),
        ] {
            let e = box_to_crs84(bad.0, bad.1).unwrap_err();
            assert!(
                matches!(e, CrsError::Outside { param: "bbox", .. }),
                "{bad:?}: {e:?}"
            );
        }
        // EPSG:4326 boxes are south, west, north, east.
        let swapped = box_to_crs84(Crs::Epsg4326, [40.0, 69.0, 42.0, 74.5]).unwrap();
        assert_eq!(
            (swapped.west, swapped.south, swapped.east, swapped.north),
            (69.0, 40.0, 74.5, 42.0)
        );
    }
}
