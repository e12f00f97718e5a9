//! The map's layers, from the published catalog into drawing operations, bottom to top: countries
//! (filled by country), lakes (the historic Aral shoreline dashed), rivers (coloured and weighted by
//! downstream hazard load when `risk-reaches` is published, else the plain network), borders,
//! border-crossing hotspots sized by load, and the sites by risk class. Collections are looked up
//! by id and properties by name; a layer that is absent is left out, and its legend entry with it.

use geo::{BoundingRect, Geometry};
use serde_json::Value;
use tiny_skia::PathBuilder;

use super::canvas::{Line, Op};
use super::style::{self, Rgba};
use super::view::View;
use crate::catalog::{Catalog, Collection, FeatureRef};

/// Collection ids the map reads.
pub const COUNTRIES: &str = "countries";
pub const BORDERS: &str = "borders";
pub const RIVERS: &str = "rivers";
pub const WATER_BODIES: &str = "water-bodies";
pub const RISK_REACHES: &str = "risk-reaches";
pub const BORDER_CROSSINGS: &str = "border-crossings";
pub const SITES: &str = crate::reference::SITES;

/// Vertices closer than this to the previous one (in px) are dropped: invisible, and they would
/// only slow the rasteriser.
const MIN_STEP_PX: f32 = 0.3;

/// What the map drew, for its legend and attribution.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drawn {
    /// The collections drawn, in draw order.
    pub collections: Vec<&'static str>,
    /// The largest reach load, when rivers are drawn by load.
    pub max_reach_load: Option<f64>,
    /// The largest crossing load, when hotspots are drawn.
    pub max_crossing_load: Option<f64>,
    /// Whether any site had no (known) risk class.
    pub unscored_sites: bool,
    /// How many sites were drawn.
    pub sites: usize,
    pub lakes: bool,
    pub historic_lakes: bool,
    pub borders: bool,
}

/// Builds pixel paths from WGS 84 geometries in one view.
pub(super) struct Painter<'v> {
    pub view: &'v View,
    pub ops: Vec<Op>,
    /// The view's box grown by a margin, in degrees: features wholly outside are skipped.
    cull: [f64; 4],
}

impl<'v> Painter<'v> {
    pub fn new(view: &'v View) -> Self {
        let b = view.bounds;
        let mx = (b.east - b.west) * 0.05;
        let my = (b.north - b.south) * 0.05;
        Painter {
            view,
            ops: Vec::new(),
            cull: [b.west - mx, b.south - my, b.east + mx, b.north + my],
        }
    }

    /// Whether any of `g` may show in the view.
    fn visible(&self, g: &Geometry<f64>) -> bool {
        let Some(r) = g.bounding_rect() else {
            return false;
        };
        let c = self.cull;
        r.max().x >= c[0] && r.min().x <= c[2] && r.max().y >= c[1] && r.min().y <= c[3]
    }

    fn push_coords(&self, pb: &mut PathBuilder, coords: &[geo::Coord<f64>], close: bool) {
        let mut last: Option<(f32, f32)> = None;
        let n = coords.len();
        for (i, c) in coords.iter().enumerate() {
            let p = self.view.px(c.x, c.y);
            match last {
                None => pb.move_to(p.0, p.1),
                Some(q) => {
                    let far = (p.0 - q.0).abs() > MIN_STEP_PX || (p.1 - q.1).abs() > MIN_STEP_PX;
                    if !far && i + 1 < n {
                        continue;
                    }
                    pb.line_to(p.0, p.1);
                }
            }
            last = Some(p);
        }
        if close && last.is_some() {
            pb.close();
        }
    }

    /// The outline of `g`'s polygons and lines (points are left out), or `None` if there is none.
    fn path(&self, g: &Geometry<f64>) -> Option<tiny_skia::Path> {
        let mut pb = PathBuilder::new();
        self.push_geometry(&mut pb, g);
        pb.finish()
    }

    fn push_geometry(&self, pb: &mut PathBuilder, g: &Geometry<f64>) {
        match g {
            Geometry::Polygon(p) => self.push_polygon(pb, p),
            Geometry::MultiPolygon(mp) => mp.0.iter().for_each(|p| self.push_polygon(pb, p)),
            Geometry::LineString(l) => self.push_coords(pb, &l.0, false),
            Geometry::MultiLineString(ml) => {
                ml.0.iter().for_each(|l| self.push_coords(pb, &l.0, false))
            }
            Geometry::Line(l) => self.push_coords(pb, &[l.start, l.end], false),
            Geometry::Rect(r) => self.push_polygon(pb, &r.to_polygon()),
            Geometry::Triangle(t) => self.push_polygon(pb, &t.to_polygon()),
            Geometry::GeometryCollection(gc) => gc.0.iter().for_each(|g| self.push_geometry(pb, g)),
            Geometry::Point(_) | Geometry::MultiPoint(_) => {}
        }
    }

    fn push_polygon(&self, pb: &mut PathBuilder, p: &geo::Polygon<f64>) {
        self.push_coords(pb, &p.exterior().0, true);
        for ring in p.interiors() {
            self.push_coords(pb, &ring.0, true);
        }
    }

    pub fn fill(&mut self, path: Option<tiny_skia::Path>, colour: Rgba) {
        if let Some(path) = path {
            self.ops.push(Op::Fill {
                path,
                colour,
                even_odd: true,
            });
        }
    }

    pub fn stroke(&mut self, path: Option<tiny_skia::Path>, colour: Rgba, width: f32) {
        self.stroke_dashed(path, colour, width, None);
    }

    pub fn stroke_dashed(
        &mut self,
        path: Option<tiny_skia::Path>,
        colour: Rgba,
        width: f32,
        dash: Option<Vec<f32>>,
    ) {
        if let Some(path) = path {
            self.ops.push(Op::Stroke {
                path,
                line: Line {
                    colour,
                    width,
                    dash,
                },
            });
        }
    }

    /// A filled circle at pixel (`x`, `y`) with an outline.
    pub fn marker(&mut self, x: f32, y: f32, r: f32, fill: Rgba, edge: Rgba, edge_width: f32) {
        let circle = PathBuilder::from_circle(x, y, r);
        if let Some(c) = &circle {
            self.ops.push(Op::Fill {
                path: c.clone(),
                colour: fill,
                even_odd: false,
            });
        }
        self.stroke(circle, edge, edge_width);
    }
}

fn text_of(v: Option<Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn number_of(v: Option<Value>) -> Option<f64> {
    v.and_then(|v| v.as_f64()).filter(|x| x.is_finite())
}

/// The WGS 84 position of a point feature.
fn point_of(f: &FeatureRef<'_>) -> Option<(f64, f64)> {
    match f.geometry().as_ref() {
        Geometry::Point(p) => Some((p.x(), p.y())),
        Geometry::MultiPoint(mp) => mp.0.first().map(|p| (p.x(), p.y())),
        _ => None,
    }
}

fn present<'c>(catalog: &'c Catalog, id: &str) -> Option<&'c Collection> {
    catalog.collection(id).filter(|c| !c.is_empty())
}

/// A site to mark: its class rank, id, class and position.
type SiteMark<'a> = (usize, &'a str, Option<String>, (f64, f64));

/// Draws every map layer of `catalog` in `p`'s view.
pub(super) fn layers(catalog: &Catalog, p: &mut Painter<'_>) -> Drawn {
    let s = p.view.scale();
    let mut drawn = Drawn::default();

    if let Some(c) = present(catalog, COUNTRIES) {
        for f in c.iter() {
            let g = f.geometry();
            if p.visible(&g) {
                let colour = style::country_fill(text_of(f.property("iso3")).as_deref());
                let path = p.path(&g);
                p.fill(path, colour);
            }
        }
        drawn.collections.push(COUNTRIES);
    }

    if let Some(c) = present(catalog, WATER_BODIES) {
        let historic =
            |f: &FeatureRef<'_>| text_of(f.property("kind")).is_some_and(|k| k == "historic_lake");
        // The historic shoreline first, dashed, so today's lakes lie over it.
        for f in c.iter().filter(|f| historic(f)) {
            let g = f.geometry();
            if p.visible(&g) {
                let path = p.path(&g);
                p.stroke_dashed(
                    path,
                    style::LAKE_EDGE,
                    1.3 * s,
                    Some(vec![6.0 * s, 4.0 * s]),
                );
                drawn.historic_lakes = true;
            }
        }
        for f in c.iter().filter(|f| !historic(f)) {
            let g = f.geometry();
            if p.visible(&g) {
                let path = p.path(&g);
                p.fill(path.clone(), style::LAKE);
                p.stroke(path, style::LAKE_EDGE, 0.8 * s);
                drawn.lakes = true;
            }
        }
        drawn.collections.push(WATER_BODIES);
    }

    let reaches = present(catalog, RISK_REACHES);
    if let Some(c) = present(catalog, RIVERS) {
        // Under the loaded reaches the plain network is only context: thin and light.
        let (colour, base) = if reaches.is_some() {
            (style::RIVER.with_alpha(150), 0.7)
        } else {
            (style::RIVER, 1.0)
        };
        for f in c.iter() {
            let g = f.geometry();
            if !p.visible(&g) {
                continue;
            }
            let level = number_of(f.property("level"));
            let named = text_of(f.property("source")).is_some_and(|s| s == "natural_earth");
            let (w, dash) = match level {
                // Intermittent rivers, dashed; canals thin.
                Some(6.0) => (0.7, Some(vec![4.0 * s, 3.0 * s])),
                Some(l) if l >= 10.0 => (0.7, None),
                _ if named => (1.5, None),
                _ => (1.0, None),
            };
            let path = p.path(&g);
            p.stroke_dashed(path, colour, w * base * s, dash);
        }
        drawn.collections.push(RIVERS);
    }
    if let Some(c) = reaches {
        let mut items: Vec<(f64, &str, FeatureRef<'_>)> = c
            .iter()
            .map(|f| {
                (
                    number_of(f.property("load")).unwrap_or(0.0).max(0.0),
                    f.id(),
                    f,
                )
            })
            .collect();
        let max = items.iter().map(|i| i.0).fold(0.0, f64::max);
        // The heaviest on top; ties in id order.
        items.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        for (load, _, f) in items {
            let g = f.geometry();
            if p.visible(&g) {
                let t = style::load_position(load, max);
                let path = p.path(&g);
                p.stroke(path, style::load_colour(t), style::load_width(t) * s);
            }
        }
        drawn.max_reach_load = Some(max);
        drawn.collections.push(RISK_REACHES);
    }

    if let Some(c) = present(catalog, BORDERS) {
        for f in c.iter() {
            let g = f.geometry();
            if p.visible(&g) {
                let path = p.path(&g);
                p.stroke(path, style::BORDER, 1.8 * s);
                drawn.borders = true;
            }
        }
        drawn.collections.push(BORDERS);
    }

    if let Some(c) = present(catalog, BORDER_CROSSINGS) {
        let mut items: Vec<(f64, &str, (f64, f64))> = c
            .iter()
            .filter_map(|f| {
                let load = number_of(f.property("load")).unwrap_or(0.0).max(0.0);
                // A crossing no site's water reaches is no hotspot.
                (load > 0.0).then_some(())?;
                Some((load, f.id(), point_of(&f)?))
            })
            .collect();
        let max = items.iter().map(|i| i.0).fold(0.0, f64::max);
        // The largest first, so the small ones stay visible on top of them.
        items.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        for (load, _, (lon, lat)) in items {
            let (x, y) = p.view.px(lon, lat);
            let r = style::hotspot_radius(load, max) * s;
            p.marker(x, y, r, style::HOTSPOT, style::HALO, 1.4 * s);
        }
        drawn.max_crossing_load = Some(max);
        drawn.collections.push(BORDER_CROSSINGS);
    }

    if let Some(c) = present(catalog, SITES) {
        let mut items: Vec<SiteMark<'_>> = c
            .iter()
            .filter_map(|f| {
                let class = text_of(f.property("risk_class"));
                Some((
                    style::class_rank(class.as_deref()),
                    f.id(),
                    class,
                    point_of(&f)?,
                ))
            })
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        let r = style::SITE_RADIUS * s;
        let (w, h) = (p.view.width as f32, p.view.height as f32);
        for (rank, _, class, (lon, lat)) in items {
            let (x, y) = p.view.px(lon, lat);
            if x < -r || y < -r || x > w + r || y > h + r {
                continue;
            }
            if rank == 0 {
                drawn.unscored_sites = true;
            }
            let colour = style::class_colour(class.as_deref());
            p.marker(x, y, r, colour, style::INK, 0.9 * s);
            drawn.sites += 1;
        }
        drawn.collections.push(SITES);
    }
    drawn
}
