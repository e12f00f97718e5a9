//! Mapbox Vector Tile encoding of a collection's features for one tile: select with the R-tree
//! (the tile plus its buffer), project to tile units (WebMercator, [`EXTENT`] per tile, y down),
//! simplify in tile units, clip to the tile plus [`BUFFER`] (polygons with geo's boolean
//! operations, so they stay valid; lines with the same clipper), snap to the integer grid, drop
//! what collapsed, orient rings as MVT wants (exterior positive area in tile coordinates, i.e.
//! clockwise on screen) and encode with geozero.

use geo::algorithm::repair_polygon::MakeValid;
use geo::{
    BooleanOps, BoundingRect, Coord, Geometry, LineString, MapCoords, MultiLineString, MultiPoint,
    MultiPolygon, Point, Polygon, Rect, RemoveRepeatedPoints, Simplify, Validation,
    orient::{Direction, Orient},
};
use geozero::ToMvt;
use geozero::mvt::{Message, TagsBuilder, Tile, TileValue, tile};
use serde_json::Value;

use super::{BUFFER, EXTENT, TileError, TileId, layers, lonlat_to_tile, selection_bbox};
use crate::catalog::{Catalog, Collection, FeatureRef, Selection};

/// Simplification tolerance in tile units: a quarter of a screen pixel on a 256-pixel tile.
pub const SIMPLIFY_UNITS: f64 = 4.0;

/// The tile-space frame of one tile: projects degrees to tile units.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub tile: TileId,
    /// [west, south, east, north] in degrees of the box parts are cut to before projection.
    reach: [f64; 4],
}

impl Frame {
    pub fn new(tile: TileId) -> Self {
        // Parts are cut to a box four buffers wide before they are projected: the cut's own
        // edges then lie outside the final clip, which removes them.
        let m = 4.0 * BUFFER as f64 / EXTENT as f64;
        let (x, y, z) = (tile.x as f64, tile.y as f64, tile.z);
        let (west, north) = super::tile_to_lonlat(x - m, y - m, z);
        let (east, south) = super::tile_to_lonlat(x + 1.0 + m, y + 1.0 + m, z);
        Frame {
            tile,
            reach: [west, south, east, north],
        }
    }

    /// A ring cut to the reach box (Sutherland–Hodgman, in degrees); what lies beyond the box is
    /// replaced by runs along its edges, outside the final clip.
    fn cut_ring(&self, ring: &LineString<f64>) -> Vec<Coord<f64>> {
        let [w, s, e, n] = self.reach;
        let mut pts: Vec<Coord<f64>> = ring.0.clone();
        for edge in 0..4 {
            if pts.is_empty() {
                break;
            }
            let keep = |c: &Coord<f64>| match edge {
                0 => c.x >= w,
                1 => c.x <= e,
                2 => c.y >= s,
                _ => c.y <= n,
            };
            let cross = |a: Coord<f64>, b: Coord<f64>| {
                let t = match edge {
                    0 => (w - a.x) / (b.x - a.x),
                    1 => (e - a.x) / (b.x - a.x),
                    2 => (s - a.y) / (b.y - a.y),
                    _ => (n - a.y) / (b.y - a.y),
                };
                Coord {
                    x: a.x + t * (b.x - a.x),
                    y: a.y + t * (b.y - a.y),
                }
            };
            let mut out = Vec::with_capacity(pts.len() + 4);
            for i in 0..pts.len() {
                let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
                match (keep(&a), keep(&b)) {
                    (true, true) => out.push(b),
                    (true, false) => out.push(cross(a, b)),
                    (false, true) => {
                        out.push(cross(a, b));
                        out.push(b);
                    }
                    (false, false) => {}
                }
            }
            pts = out;
        }
        if pts.len() >= 3 {
            pts.push(pts[0]);
        }
        pts
    }

    /// The runs of a line's segments that come near the reach box, projected.
    fn cut_line(&self, line: &LineString<f64>, out: &mut Vec<LineString<f64>>) {
        let [w, s, e, n] = self.reach;
        let mut run: Vec<Coord<f64>> = Vec::new();
        for seg in line.0.windows(2) {
            let (a, b) = (seg[0], seg[1]);
            let near =
                a.x.max(b.x) >= w && a.x.min(b.x) <= e && a.y.max(b.y) >= s && a.y.min(b.y) <= n;
            if near {
                if run.is_empty() {
                    run.push(self.project(a));
                }
                run.push(self.project(b));
            } else if !run.is_empty() {
                out.push(LineString::new(std::mem::take(&mut run)));
            }
        }
        if run.len() >= 2 {
            out.push(LineString::new(run));
        }
    }

    /// Tile units of a longitude and latitude (y grows southwards).
    pub fn project(&self, c: Coord<f64>) -> Coord<f64> {
        let (x, y) = lonlat_to_tile(c.x, c.y, self.tile.z);
        Coord {
            x: (x - self.tile.x as f64) * EXTENT as f64,
            y: (y - self.tile.y as f64) * EXTENT as f64,
        }
    }

    /// Whether a part with this bounding rectangle (degrees) can reach the tile and its buffer.
    fn reaches(&self, r: Option<Rect<f64>>) -> bool {
        r.is_some_and(|r| {
            let [w, s, e, n] = self.reach;
            r.max().x >= w && r.min().x <= e && r.max().y >= s && r.min().y <= n
        })
    }

    /// The clipping square: the tile plus its buffer, in tile units.
    pub fn clip_rect() -> Rect<f64> {
        let b = BUFFER as f64;
        let e = EXTENT as f64;
        Rect::new((-b, -b), (e + b, e + b))
    }
}

fn inside(c: Coord<f64>, r: &Rect<f64>) -> bool {
    c.x >= r.min().x && c.x <= r.max().x && c.y >= r.min().y && c.y <= r.max().y
}

fn snap(c: Coord<f64>) -> Coord<f64> {
    Coord {
        x: c.x.round(),
        y: c.y.round(),
    }
}

fn snap_line(l: &LineString<f64>) -> LineString<f64> {
    let mut l = l.map_coords(snap);
    l.remove_repeated_points_mut();
    l
}

/// A ring snapped to the grid, if it still encloses an area.
fn snap_ring(l: &LineString<f64>) -> Option<LineString<f64>> {
    use geo::Area;
    let mut l = snap_line(l);
    l.close();
    (l.0.len() >= 4 && Polygon::new(l.clone(), vec![]).unsigned_area() >= 1.0).then_some(l)
}

fn snap_polygons(mp: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    MultiPolygon::new(
        mp.iter()
            .filter_map(|p| {
                let exterior = snap_ring(p.exterior())?;
                let interiors = p.interiors().iter().filter_map(snap_ring).collect();
                Some(Polygon::new(exterior, interiors))
            })
            .collect(),
    )
}

/// Clips projected polygons to the tile and buffer, snapped and valid.
fn clip_polygons(mp: MultiPolygon<f64>) -> Option<MultiPolygon<f64>> {
    let clip = Frame::clip_rect().to_polygon();
    let simplified = mp.simplify(SIMPLIFY_UNITS);
    let snapped = snap_polygons(&simplified.intersection(&clip));
    // Snapping to the grid can make a ring touch or cross itself or a neighbour: a union with
    // nothing resolves that (its output keeps the snapped vertices, plus any crossing points,
    // which are snapped once more). A polygon still invalid after that (a ring that touches
    // itself) is repaired, and if its repair does not survive the grid either, left out: at low
    // zoom such a polygon is a few units across.
    let resolved = snap_polygons(&snapped.union(&MultiPolygon::new(vec![])));
    let mut polygons = Vec::with_capacity(resolved.0.len());
    for p in resolved {
        if p.is_valid() {
            polygons.push(p);
        } else if let Ok(repaired) = p.make_valid() {
            polygons.extend(
                snap_polygons(&repaired)
                    .into_iter()
                    .filter(|p| p.is_valid()),
            );
        }
    }
    let out = MultiPolygon::new(polygons).orient(Direction::Default);
    (!out.0.is_empty()).then_some(out)
}

fn clip_lines(ml: MultiLineString<f64>) -> Option<MultiLineString<f64>> {
    let clip = Frame::clip_rect().to_polygon();
    let simplified = ml.simplify(SIMPLIFY_UNITS);
    let clipped = clip.clip(&simplified, false);
    let lines: Vec<LineString<f64>> = clipped
        .iter()
        .map(snap_line)
        .filter(|l| l.0.len() >= 2)
        .collect();
    (!lines.is_empty()).then(|| MultiLineString::new(lines))
}

/// A feature's geometry in tile units, clipped, snapped and oriented; `None` if nothing is left.
pub fn tile_geometry(frame: &Frame, g: &Geometry<f64>) -> Option<Geometry<f64>> {
    let rect = Frame::clip_rect();
    match g {
        Geometry::Point(p) => {
            let c = frame.project(p.0);
            inside(c, &rect).then(|| Geometry::Point(Point(snap(c))))
        }
        Geometry::MultiPoint(mp) => {
            let pts: Vec<Point<f64>> = mp
                .iter()
                .map(|p| frame.project(p.0))
                .filter(|c| inside(*c, &rect))
                .map(|c| Point(snap(c)))
                .collect();
            match pts.len() {
                0 => None,
                1 => Some(Geometry::Point(pts[0])),
                _ => Some(Geometry::MultiPoint(MultiPoint::new(pts))),
            }
        }
        Geometry::LineString(l) => lines(frame, std::slice::from_ref(l)),
        Geometry::MultiLineString(ml) => lines(frame, &ml.0),
        Geometry::Line(l) => lines(frame, &[LineString::from(*l)]),
        Geometry::Polygon(p) => polygons(frame, std::slice::from_ref(p)),
        Geometry::MultiPolygon(mp) => polygons(frame, &mp.0),
        Geometry::Rect(r) => polygons(frame, &[r.to_polygon()]),
        Geometry::Triangle(t) => polygons(frame, &[t.to_polygon()]),
        // MVT features have one geometry type: a collection keeps its largest dimension.
        Geometry::GeometryCollection(gc) => {
            let mut best: Option<Geometry<f64>> = None;
            for member in gc.iter() {
                if let Some(g) = tile_geometry(frame, member) {
                    let rank = |g: &Geometry<f64>| match g {
                        Geometry::Point(_) | Geometry::MultiPoint(_) => 0,
                        Geometry::LineString(_) | Geometry::MultiLineString(_) => 1,
                        _ => 2,
                    };
                    if best.as_ref().is_none_or(|b| rank(&g) > rank(b)) {
                        best = Some(g);
                    }
                }
            }
            best
        }
    }
}

fn lines(frame: &Frame, parts: &[LineString<f64>]) -> Option<Geometry<f64>> {
    let mut near: Vec<LineString<f64>> = Vec::new();
    for l in parts.iter().filter(|l| frame.reaches(l.bounding_rect())) {
        frame.cut_line(l, &mut near);
    }
    if near.is_empty() {
        return None;
    }
    let ml = clip_lines(MultiLineString::new(near))?;
    Some(if ml.0.len() == 1 {
        Geometry::LineString(ml.0.into_iter().next()?)
    } else {
        Geometry::MultiLineString(ml)
    })
}

fn polygons(frame: &Frame, parts: &[Polygon<f64>]) -> Option<Geometry<f64>> {
    let ring = |r: &LineString<f64>| -> Option<LineString<f64>> {
        if !frame.reaches(r.bounding_rect()) {
            return None;
        }
        let cut = frame.cut_ring(r);
        (cut.len() >= 4)
            .then(|| LineString::new(cut.into_iter().map(|c| frame.project(c)).collect()))
    };
    let near: Vec<Polygon<f64>> = parts
        .iter()
        .filter_map(|p| {
            let exterior = ring(p.exterior())?;
            Some(Polygon::new(
                exterior,
                p.interiors().iter().filter_map(ring).collect(),
            ))
        })
        .collect();
    if near.is_empty() {
        return None;
    }
    let mp = clip_polygons(MultiPolygon::new(near))?;
    Some(if mp.0.len() == 1 {
        Geometry::Polygon(mp.0.into_iter().next()?)
    } else {
        Geometry::MultiPolygon(mp)
    })
}

fn tile_value(v: Value) -> Option<TileValue> {
    match v {
        Value::String(s) => Some(TileValue::Str(s)),
        Value::Bool(b) => Some(TileValue::Bool(b)),
        Value::Number(n) => Some(if let Some(i) = n.as_i64() {
            TileValue::Sint(i)
        } else if let Some(u) = n.as_u64() {
            TileValue::Uint(u)
        } else {
            TileValue::Double(n.as_f64()?)
        }),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn mvt_feature(
    frame: &Frame,
    f: FeatureRef<'_>,
    fields: &[(&str, layers::FieldType)],
    tags: &mut TagsBuilder,
) -> Option<tile::Feature> {
    let geometry = tile_geometry(frame, &f.geometry())?;
    let mut feature = geometry.to_mvt_unscaled().ok()?;
    for (name, _) in fields {
        let value = if *name == "id" {
            Some(TileValue::Str(f.id().to_owned()))
        } else {
            f.property(name).and_then(tile_value)
        };
        if let Some(v) = value {
            let (k, v) = tags.insert_ref(name, v);
            feature.tags.push(k);
            feature.tags.push(v);
        }
    }
    Some(feature)
}

/// The MVT layer of collection `c` for `tile` (named by the collection id), if any feature
/// reaches the tile.
pub fn collection_layer(c: &Collection, tile: TileId) -> Option<tile::Layer> {
    let frame = Frame::new(tile);
    let selection = Selection {
        bbox: Some(selection_bbox(tile)),
        filters: vec![],
        filter: None,
    };
    let fields = layers::fields(c.id());
    let mut tags = TagsBuilder::new();
    let features: Vec<tile::Feature> = c
        .select(&selection)
        .into_iter()
        .filter_map(|i| c.get(i))
        .filter_map(|f| mvt_feature(&frame, f, fields, &mut tags))
        .collect();
    if features.is_empty() {
        return None;
    }
    let (keys, values) = tags.into_tags();
    Some(tile::Layer {
        version: 2,
        name: c.id().to_owned(),
        features,
        keys,
        values: values.into_iter().map(Into::into).collect(),
        extent: Some(EXTENT),
    })
}

/// The MVT of one collection's tile; empty (zero bytes) when no feature reaches it.
pub fn encode_tile(
    catalog: &Catalog,
    collection: &str,
    tile: TileId,
) -> Result<Vec<u8>, TileError> {
    let c = catalog
        .collection(collection)
        .ok_or_else(|| TileError::NoCollection(collection.to_owned()))?;
    Ok(match collection_layer(c, tile) {
        Some(layer) => Tile {
            layers: vec![layer],
        }
        .encode_to_vec(),
        None => Vec::new(),
    })
}

/// The multi-layer MVT of `tile`: one layer per collection (named by its id) in drawing order
/// ([`layers::order`]); empty when no collection reaches the tile.
pub fn encode_layers(catalog: &Catalog, tile: TileId) -> Vec<u8> {
    let mut collections: Vec<&Collection> = catalog.collections.iter().collect();
    collections.sort_by_key(|c| layers::order(c.id()));
    let tile_layers: Vec<tile::Layer> = collections
        .into_iter()
        .filter_map(|c| collection_layer(c, tile))
        .collect();
    if tile_layers.is_empty() {
        Vec::new()
    } else {
        Tile {
            layers: tile_layers,
        }
        .encode_to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiles::tiles_covering;
    use geo::Area;

    /// Decodes an MVT geometry command stream into its parts (rings or lines or points).
    fn decode(f: &tile::Feature) -> Vec<Vec<(i32, i32)>> {
        let (mut parts, mut cur) = (Vec::new(), Vec::new());
        let (mut x, mut y, mut i) = (0i32, 0i32, 0);
        let g = &f.geometry;
        let zz = |v: u32| ((v >> 1) as i32) ^ -((v & 1) as i32);
        while i < g.len() {
            let (cmd, count) = (g[i] & 7, g[i] >> 3);
            i += 1;
            match cmd {
                1 | 2 => {
                    for _ in 0..count {
                        if cmd == 1 && !cur.is_empty() {
                            parts.push(std::mem::take(&mut cur));
                        }
                        x += zz(g[i]);
                        y += zz(g[i + 1]);
                        i += 2;
                        cur.push((x, y));
                    }
                }
                7 => {
                    let first = cur[0];
                    cur.push(first);
                }
                _ => panic!("command {cmd}"),
            }
        }
        if !cur.is_empty() {
            parts.push(cur);
        }
        parts
    }

    fn reference_catalog() -> &'static Catalog {
        static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        CATALOG.get_or_init(|| {
            Catalog::build(vec![], crate::service::test_sites::reference()).unwrap()
        })
    }

    fn layers_of(bytes: &[u8]) -> Vec<tile::Layer> {
        Tile::decode(bytes).unwrap().layers
    }

    #[test]
    fn a_square_is_clipped_to_the_buffer_and_wound_for_mvt() {
        // A square over the tile's north-west corner, wound clockwise in degrees.
        let t = TileId { z: 7, x: 89, y: 47 };
        let [w, s, e, n] = crate::tiles::tile_bounds(t);
        let (dx, dy) = (e - w, n - s);
        let sq = Polygon::new(
            LineString::from(vec![
                (w - dx, n + dy),
                (w + dx / 2.0, n + dy),
                (w + dx / 2.0, n - dy / 2.0),
                (w - dx, n - dy / 2.0),
                (w - dx, n + dy),
            ]),
            vec![],
        );
        let g = tile_geometry(&Frame::new(t), &Geometry::Polygon(sq)).unwrap();
        let Geometry::Polygon(p) = g else {
            panic!("{g:?}")
        };
        assert!(p.is_valid());
        // Exterior: positive area in tile coordinates (y down): clockwise on screen.
        assert!(p.signed_area() > 0.0);
        let b = BUFFER as f64;
        for c in p.exterior().coords() {
            assert!(
                c.x >= -b && c.x <= 2048.0 && c.y >= -b && c.y <= 2100.0,
                "{c:?}"
            );
            assert_eq!(c.x, c.x.round());
        }
        // The clipped square spans from the buffer's edge to the tile's middle (in longitude;
        // the middle latitude in degrees is a little south of the middle in Mercator).
        let r = p.bounding_rect().unwrap();
        assert_eq!((r.min().x, r.min().y, r.max().x), (-b, -b, 2048.0));
        assert!((2048.0..2100.0).contains(&r.max().y), "{r:?}");
    }

    #[test]
    fn a_line_is_cut_at_the_buffer_and_far_parts_are_dropped() {
        let t = TileId { z: 5, x: 22, y: 11 };
        let [w, s, e, n] = crate::tiles::tile_bounds(t);
        let mid = (s + n) / 2.0;
        let line = geo::MultiLineString::new(vec![
            LineString::from(vec![(w - 1.0, mid), (e + 1.0, mid)]),
            LineString::from(vec![(w - 10.0, s - 10.0), (w - 9.0, s - 10.0)]),
        ]);
        let g = tile_geometry(&Frame::new(t), &Geometry::MultiLineString(line)).unwrap();
        let Geometry::LineString(l) = g else {
            panic!("{g:?}")
        };
        let xs: Vec<f64> = l.coords().map(|c| c.x).collect();
        assert_eq!(
            xs.iter().cloned().fold(f64::MAX, f64::min),
            -(BUFFER as f64)
        );
        assert_eq!(
            xs.iter().cloned().fold(f64::MIN, f64::max),
            (EXTENT + BUFFER) as f64
        );
        // A point outside the buffer is not in the tile.
        let p = Geometry::Point(Point::new(w - 1.0, mid));
        assert!(tile_geometry(&Frame::new(t), &p).is_none());
        let p = Geometry::Point(Point::new((w + e) / 2.0, mid));
        assert!(tile_geometry(&Frame::new(t), &p).is_some());
    }

    #[test]
    fn reference_tiles_decode_inside_the_buffer_with_valid_polygons() {
        let catalog = reference_catalog();
        let bounds = crate::tiles::catalog_bounds(catalog).unwrap();
        let lo = -(BUFFER as i32);
        let hi = (EXTENT + BUFFER) as i32;
        let (mut polygons, mut tiles_with_data) = (0, 0);
        for z in 0u8..=10 {
            // Every tile up to z6, then a sample.
            let step = if z <= 6 { 1 } else { 11 };
            for t in tiles_covering(bounds, z).step_by(step) {
                let bytes = encode_layers(catalog, t);
                if bytes.is_empty() {
                    continue;
                }
                tiles_with_data += 1;
                for layer in layers_of(&bytes) {
                    assert_eq!(layer.extent, Some(EXTENT));
                    let fields = layers::fields(&layer.name);
                    for k in &layer.keys {
                        assert!(fields.iter().any(|f| f.0 == k), "{} has {k}", layer.name);
                    }
                    for f in &layer.features {
                        // Every feature has its id.
                        let id = layer.keys.iter().position(|k| k == "id").unwrap() as u32;
                        assert!(f.tags.chunks(2).any(|kv| kv[0] == id));
                        let parts = decode(f);
                        assert!(!parts.is_empty());
                        for (x, y) in parts.iter().flatten() {
                            assert!(
                                (lo..=hi).contains(x) && (lo..=hi).contains(y),
                                "{x},{y} in {t:?}"
                            );
                        }
                        if f.r#type == Some(tile::GeomType::Polygon as i32) {
                            // Rings: exterior (positive area) then its holes (negative).
                            let mut polys: Vec<Polygon<f64>> = Vec::new();
                            for ring in parts {
                                let ls = LineString::from(
                                    ring.iter()
                                        .map(|&(x, y)| (x as f64, y as f64))
                                        .collect::<Vec<_>>(),
                                );
                                let a = Polygon::new(ls.clone(), vec![]).signed_area();
                                assert!(a != 0.0);
                                if a > 0.0 {
                                    polys.push(Polygon::new(ls, vec![]));
                                } else {
                                    polys
                                        .last_mut()
                                        .expect("a hole after an exterior")
                                        .interiors_push(ls);
                                }
                            }
                            for p in &polys {
                                polygons += 1;
                                assert!(
                                    p.is_valid(),
                                    "{} in {} at {t:?}: {:?}",
                                    layer.name,
                                    f.tags.len(),
                                    p.validation_errors()
                                );
                            }
                        }
                    }
                }
            }
        }
        assert!(
            tiles_with_data > 20 && polygons > 50,
            "{tiles_with_data} {polygons}"
        );
    }

    #[test]
    fn one_layer_or_all_and_nothing_far_away() {
        let catalog = reference_catalog();
        let t = TileId { z: 6, x: 44, y: 23 };
        let rivers = layers_of(&encode_tile(catalog, "rivers", t).unwrap());
        assert_eq!(rivers.len(), 1);
        assert_eq!(rivers[0].name, "rivers");
        let all: Vec<String> = layers_of(&encode_layers(catalog, t))
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert!(all.len() >= 3, "{all:?}");
        assert!(all.iter().position(|l| l == "countries") < all.iter().position(|l| l == "rivers"));
        // The Pacific: nothing.
        let far = TileId { z: 6, x: 2, y: 30 };
        assert!(encode_tile(catalog, "rivers", far).unwrap().is_empty());
        assert!(encode_layers(catalog, far).is_empty());
        assert_eq!(
            encode_tile(catalog, "nope", t),
            Err(TileError::NoCollection("nope".into()))
        );
    }
}
