//! The spatial part of a filter: the `S_*` relations (DE-9IM through `geo`'s `Relate`, in the plane
//! of longitude and latitude, as CQL2 defines them for CRS84), the geodesic `S_DWITHIN` extension,
//! and the box a filter's matches provably lie in.
//!
//! `S_DWITHIN(geometry, POINT(lon lat), d, meters)` holds when the geodesic distance on WGS 84 from
//! the point to the feature's geometry is at most `d` metres: 0 inside a polygon, else the least
//! distance to a vertex or an edge, each edge taken as the geodesic between its vertices
//! ([`crate::geodesy::closest_on_segment`], the search the analysis uses). Features are first
//! narrowed to [`crate::geodesy::search_box`], a degree box that contains every point within `d` of
//! the point, so the search is complete: no feature within `d` is left out.

use geo::{BoundingRect, Contains, CoordsIter, Intersects, Relate};

use super::ToCrs84;
use super::compile::{GeomArg, Node};
use crate::index::BBox;

/// A spatial relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpatialOp {
    Intersects,
    Disjoint,
    Within,
    Contains,
    Equals,
    Touches,
    Overlaps,
    Crosses,
}

impl SpatialOp {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "s_intersects" => SpatialOp::Intersects,
            "s_disjoint" => SpatialOp::Disjoint,
            "s_within" => SpatialOp::Within,
            "s_contains" => SpatialOp::Contains,
            "s_equals" => SpatialOp::Equals,
            "s_touches" => SpatialOp::Touches,
            "s_overlaps" => SpatialOp::Overlaps,
            "s_crosses" => SpatialOp::Crosses,
            _ => return None,
        })
    }
}

/// A literal geometry with its bounding box.
#[derive(Debug, Clone)]
pub struct Literal {
    pub geometry: geo::Geometry<f64>,
    pub rect: Option<geo::Rect<f64>>,
}

impl Literal {
    pub fn new(geometry: geo::Geometry<f64>) -> Self {
        let rect = geometry.bounding_rect();
        Literal { geometry, rect }
    }
}

/// Whether `a op b`.
pub fn relate(op: SpatialOp, a: &geo::Geometry<f64>, b: &geo::Geometry<f64>) -> bool {
    if matches!(op, SpatialOp::Intersects | SpatialOp::Disjoint) {
        let i = a.intersects(b);
        return if op == SpatialOp::Intersects { i } else { !i };
    }
    let m = a.relate(b);
    match op {
        SpatialOp::Within => m.is_within(),
        SpatialOp::Contains => m.is_contains(),
        SpatialOp::Equals => m.is_equal_topo(),
        SpatialOp::Touches => m.is_touches(),
        SpatialOp::Overlaps => m.is_overlaps(),
        SpatialOp::Crosses => m.is_crosses(),
        SpatialOp::Intersects => m.is_intersects(),
        SpatialOp::Disjoint => m.is_disjoint(),
    }
}

/// Whether `feature op literal`, rejecting by the boxes first where the relation needs them to meet.
pub fn relate_with(op: SpatialOp, feature: &geo::Geometry<f64>, literal: &Literal) -> bool {
    let meet = match (feature.bounding_rect(), literal.rect) {
        (Some(a), Some(b)) => a.intersects(&b),
        _ => false,
    };
    if !meet {
        // Boxes apart: the geometries are disjoint, so only S_DISJOINT holds.
        return op == SpatialOp::Disjoint;
    }
    if let (geo::Geometry::Point(p), SpatialOp::Intersects | SpatialOp::Within) = (feature, op)
        && matches!(
            literal.geometry,
            geo::Geometry::Polygon(_) | geo::Geometry::MultiPolygon(_) | geo::Geometry::Rect(_)
        )
    {
        // A point intersects a polygon on its boundary too, but is within it only inside.
        return match op {
            SpatialOp::Within => literal.geometry.contains(p),
            _ => literal.geometry.intersects(p),
        };
    }
    relate(op, feature, &literal.geometry)
}

/// The geodesic distance, metres, from `p` to `g` (0 when a polygon holds it).
pub fn distance_m(g: &geo::Geometry<f64>, p: [f64; 2]) -> f64 {
    use geo::Geometry as G;
    let point = geo::Point::new(p[0], p[1]);
    let inside = match g {
        G::Polygon(x) => x.intersects(&point),
        G::MultiPolygon(x) => x.intersects(&point),
        G::Rect(x) => x.intersects(&point),
        G::Triangle(x) => x.intersects(&point),
        _ => false,
    };
    if inside {
        return 0.0;
    }
    let mut best = f64::INFINITY;
    let mut segment = |a: geo::Coord<f64>, b: geo::Coord<f64>| {
        let d = if a == b {
            crate::geodesy::distance_m(p, [a.x, a.y])
        } else {
            crate::geodesy::closest_on_segment(p, [a.x, a.y], [b.x, b.y]).distance_m
        };
        best = best.min(d);
    };
    match g {
        G::Point(q) => segment(q.0, q.0),
        G::MultiPoint(m) => m.iter().for_each(|q| segment(q.0, q.0)),
        other => {
            let mut lines = Vec::new();
            collect_lines(other, &mut lines);
            for line in &lines {
                match line.0.as_slice() {
                    [only] => segment(*only, *only),
                    coords => coords.windows(2).for_each(|w| segment(w[0], w[1])),
                }
            }
            if lines.is_empty() {
                other.coords_iter().for_each(|c| segment(c, c));
            }
        }
    }
    best
}

fn collect_lines(g: &geo::Geometry<f64>, out: &mut Vec<geo::LineString<f64>>) {
    use geo::Geometry as G;
    match g {
        G::Line(l) => out.push(geo::LineString::from(vec![l.start, l.end])),
        G::LineString(l) => out.push(l.clone()),
        G::MultiLineString(m) => out.extend(m.0.iter().cloned()),
        G::Polygon(p) => {
            out.push(p.exterior().clone());
            out.extend(p.interiors().iter().cloned());
        }
        G::MultiPolygon(m) => {
            m.0.iter()
                .for_each(|p| collect_lines(&G::Polygon(p.clone()), out))
        }
        G::Rect(r) => collect_lines(&G::Polygon(r.to_polygon()), out),
        G::Triangle(t) => collect_lines(&G::Polygon(t.to_polygon()), out),
        G::GeometryCollection(c) => c.0.iter().for_each(|x| collect_lines(x, out)),
        G::Point(_) | G::MultiPoint(_) => {}
    }
}

/// Whether `g` lies within `metres` of the literal point (geodesic).
pub fn within_m(g: &geo::Geometry<f64>, point: &Literal, metres: f64) -> bool {
    let geo::Geometry::Point(p) = point.geometry else {
        return false;
    };
    let p = [p.x(), p.y()];
    // Quick rejection by the box that holds every point within `metres`.
    if let (Some(b), Some(r)) = (crate::geodesy::search_box(p, metres), g.bounding_rect())
        && (r.max().x < b[0] || r.min().x > b[2] || r.max().y < b[1] || r.min().y > b[3])
    {
        return false;
    }
    distance_m(g, p) <= metres
}

/// The degree box every feature a node's matches lie in, if the node implies one.
fn node_box(n: &Node) -> Option<[f64; 4]> {
    match n {
        Node::Spatial(op, a, b) if *op != super::spatial::SpatialOp::Disjoint => {
            let lit = match (a, b) {
                (GeomArg::Feature, GeomArg::Literal(l))
                | (GeomArg::Literal(l), GeomArg::Feature) => l,
                _ => return None,
            };
            // Every relation but S_DISJOINT has the two geometries meet, so the feature meets the
            // literal's box.
            let r = lit.rect?;
            Some([r.min().x, r.min().y, r.max().x, r.max().y])
        }
        Node::DWithin(point, metres) => match point.geometry {
            geo::Geometry::Point(p) => crate::geodesy::search_box([p.x(), p.y()], *metres),
            _ => None,
        },
        Node::And(nodes) => nodes.iter().filter_map(node_box).reduce(|a, b| {
            [
                a[0].max(b[0]),
                a[1].max(b[1]),
                a[2].min(b[2]),
                a[3].min(b[3]),
            ]
        }),
        _ => None,
    }
}

/// The R-tree hint of a compiled filter, as a valid WGS 84 box (clamped to the world). Terms whose
/// boxes do not meet give none: evaluation then decides, and finds nothing.
pub(super) fn hint(root: &Node) -> Option<BBox> {
    let [w, s, e, n] = node_box(root)?;
    if w > e || s > n {
        return None;
    }
    BBox::new(w.max(-180.0), s.max(-90.0), e.min(180.0), n.min(90.0)).ok()
}

/// `g` with every coordinate reprojected by `f`.
pub(super) fn reproject(
    mut g: geo::Geometry<f64>,
    f: ToCrs84<'_>,
) -> Result<geo::Geometry<f64>, String> {
    use geo::MapCoordsInPlace;
    let err = std::cell::RefCell::new(None);
    g.map_coords_in_place(|c| match f(c) {
        Ok(out) => out,
        Err(e) => {
            err.borrow_mut().get_or_insert(e);
            c
        }
    });
    match err.into_inner() {
        Some(e) => Err(e),
        None => Ok(g),
    }
}
