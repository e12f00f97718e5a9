//! The basin risk map for reports, rendered in pure Rust: the published catalog drawn with
//! tiny-skia into a PNG (or the same drawing as SVG), with text from the embedded DejaVu Sans.
//!
//! - Projection: Web Mercator (EPSG:3857), as the web map and the vector tiles; north is up
//!   everywhere. The box is WGS 84 degrees `W,S,E,N` (default: the extent of the sites and of the
//!   risk layers, padded); the height follows from the box's aspect at the width asked for
//!   (default [`DEFAULT_WIDTH`] px, at most [`view::MAX_SIDE`] px each way).
//! - Content, bottom to top: countries, lakes, rivers (by downstream hazard load when
//!   `risk-reaches` is published), borders, border-crossing hotspots (`border-crossings`, sized by
//!   load), sites by `risk_class`; then the title, legend, scale bar, north arrow and attribution.
//! - Deterministic: the same catalog and options give the same bytes (a fixed draw order, no time
//!   stamps, no hash-map iteration, one thread).
//!
//! ```
//! use tailings_atlas::render::{Bounds, MapOptions};
//! let opts = MapOptions { bbox: Some(Bounds::parse("66,39,79,45").unwrap()), width: 800 };
//! assert!(Bounds::parse("70,40,60,45").is_err()); // west must be less than east
//! assert_eq!(opts.width, 800);
//! ```

pub mod canvas;
mod legend;
mod scene;
pub mod style;
mod text;
pub mod view;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::catalog::Catalog;
pub use canvas::Op;
pub use scene::Drawn;
pub use view::{Bounds, View, parse_width};

/// The default width of a map, in px.
pub const DEFAULT_WIDTH: u32 = 2000;

/// What can go wrong making a map.
#[derive(Debug, Error)]
pub enum RenderError {
    /// A bad option: `param` is `bbox`, `width` or `format`.
    #[error("`{param}`: {reason}")]
    BadParameter { param: &'static str, reason: String },
    #[error("cannot allocate a {width} × {height} px canvas")]
    Canvas { width: u32, height: u32 },
    #[error("PNG encoding failed: {0}")]
    Encode(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    /// `png` or `svg` (any case).
    pub fn parse(text: &str) -> Result<Self, RenderError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "png" => Ok(Format::Png),
            "svg" => Ok(Format::Svg),
            _ => Err(RenderError::BadParameter {
                param: "format",
                reason: format!("{text:?} is not a map format; use png or svg"),
            }),
        }
    }

    /// The format a file name's extension asks for (`.png` or `.svg`).
    pub fn from_path(path: &Path) -> Result<Self, RenderError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        Format::parse(&ext).map_err(|_| RenderError::BadParameter {
            param: "out",
            reason: format!(
                "{:?} does not end in .png or .svg (or give --format)",
                path.file_name().unwrap_or_default()
            ),
        })
    }

    /// The media type.
    pub fn media_type(&self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Svg => "image/svg+xml",
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }
}

/// What to draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapOptions {
    /// The box to show; `None`: [`default_bounds`].
    pub bbox: Option<Bounds>,
    /// The width in px.
    pub width: u32,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            bbox: None,
            width: DEFAULT_WIDTH,
        }
    }
}

/// The collections whose extent frames the default map: the inventory and the risk layers.
const FRAMING: &[&str] = &[scene::SITES, scene::RISK_REACHES, scene::BORDER_CROSSINGS];

/// The default box: the extent of the sites and of the risk layers (all collections if none of those
/// has features), padded by 5 % each way (at least 0.2°), and widened where needed so the map is
/// between 0.4 and 1.4 times as tall as wide. `None` if the catalog has no features at all.
pub fn default_bounds(catalog: &Catalog) -> Option<Bounds> {
    let union = |ids: &mut dyn Iterator<Item = &crate::catalog::Collection>| {
        ids.filter_map(|c| c.extent)
            .fold(None, |acc: Option<[f64; 4]>, e| {
                Some(match acc {
                    None => e,
                    Some(a) => [
                        a[0].min(e[0]),
                        a[1].min(e[1]),
                        a[2].max(e[2]),
                        a[3].max(e[3]),
                    ],
                })
            })
    };
    let framing = union(
        &mut catalog
            .collections
            .iter()
            .filter(|c| FRAMING.contains(&c.id())),
    );
    let [w, s, e, n] = framing.or_else(|| union(&mut catalog.collections.iter()))?;
    let px = ((e - w) * 0.05).max(0.2);
    let py = ((n - s) * 0.05).max(0.2);
    let (mut w, mut s, mut e, mut n) = (w - px, s - py, e + px, n + py);
    // Height over width in Web Mercator, near enough at the centre latitude.
    let cos = ((s + n) / 2.0).to_radians().cos().max(0.05);
    let aspect = (n - s) / cos / (e - w);
    if aspect < 0.4 {
        let grow = ((0.4 / aspect) - 1.0) * (n - s) / 2.0;
        s -= grow;
        n += grow;
    } else if aspect > 1.4 {
        let grow = (aspect / 1.4 - 1.0) * (e - w) / 2.0;
        w -= grow;
        e += grow;
    }
    let lat = view::MAX_LAT - 0.01;
    Bounds::new(w.max(-180.0), s.max(-lat), e.min(180.0), n.min(lat)).ok()
}

/// A map drawn into operations, ready to be painted: everything read from the catalog is in it,
/// so a caller holding a lock on the catalog can release it before the (slower) painting.
#[derive(Debug, Clone)]
pub struct Scene {
    pub view: View,
    pub ops: Vec<Op>,
    pub drawn: Drawn,
}

impl Scene {
    /// Draws the map of `catalog`.
    pub fn build(catalog: &Catalog, opts: &MapOptions) -> Result<Self, RenderError> {
        view::check_width(opts.width)?;
        let bounds = match opts.bbox {
            Some(b) => b,
            None => default_bounds(catalog).ok_or_else(|| RenderError::BadParameter {
                param: "bbox",
                reason: "the catalog has no features to frame a default map; give a box".into(),
            })?,
        };
        let view = View::new(bounds, opts.width)?;
        let mut p = scene::Painter::new(&view);
        let drawn = scene::layers(catalog, &mut p);
        legend::furniture(catalog, &mut p, &drawn);
        let ops = p.ops;
        Ok(Scene { view, ops, drawn })
    }

    /// Paints the scene on a raster canvas.
    pub fn raster(&self) -> Result<tiny_skia::Pixmap, RenderError> {
        let (width, height) = (self.view.width, self.view.height);
        let mut c = canvas::PngCanvas::new(width, height, style::BACKGROUND)
            .ok_or(RenderError::Canvas { width, height })?;
        canvas::Canvas::paint(&mut c, &self.ops);
        Ok(c.pixmap)
    }

    /// The PNG.
    pub fn png(&self) -> Result<Vec<u8>, RenderError> {
        encode_png(&self.raster()?)
    }

    /// The SVG document.
    pub fn svg(&self) -> String {
        let mut c = canvas::SvgCanvas::new(self.view.width, self.view.height, style::BACKGROUND);
        canvas::Canvas::paint(&mut c, &self.ops);
        c.finish()
    }

    /// The map in `format`.
    pub fn encode(&self, format: Format) -> Result<Vec<u8>, RenderError> {
        match format {
            Format::Png => self.png(),
            Format::Svg => Ok(self.svg().into_bytes()),
        }
    }
}

/// A pixmap as an RGBA PNG. What tiny-skia's `Pixmap::encode_png` does (the same `png` crate,
/// straight alpha), but with the crate's `Fast` compression (fdeflate) instead of its default
/// `Balanced`: on the 2,000 px basin map 7 ms instead of 70–85 ms, for a file 19 % larger (498 kB
/// against 419 kB). The default compression took two thirds of the whole render and made the map
/// slower than Mapnik's (bench/render.sh). A map is opaque, so its premultiplied pixels are already
/// straight and need no copy; any translucent pixel gets the demultiplied copy.
pub fn encode_png(pixmap: &tiny_skia::Pixmap) -> Result<Vec<u8>, RenderError> {
    let opaque = pixmap.pixels().iter().all(|p| p.alpha() == 255);
    let straight;
    let data: &[u8] = if opaque {
        pixmap.data()
    } else {
        straight = pixmap.clone().take_demultiplied();
        &straight
    };
    let mut out = Vec::with_capacity(data.len() / 8);
    let encode = |out: &mut Vec<u8>| -> Result<(), png::EncodingError> {
        let mut encoder = png::Encoder::new(out, pixmap.width(), pixmap.height());
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(data)?;
        writer.finish()
    };
    encode(&mut out).map_err(|e| RenderError::Encode(e.to_string()))?;
    Ok(out)
}

/// The map of `catalog` in `format`.
pub fn render(
    catalog: &Catalog,
    opts: &MapOptions,
    format: Format,
) -> Result<Vec<u8>, RenderError> {
    Scene::build(catalog, opts)?.encode(format)
}

/// What [`write_file`] wrote, and the time each step took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Written {
    pub width: u32,
    pub height: u32,
    pub bytes: usize,
    /// Seconds to draw the scene from the catalog.
    pub draw_s: f64,
    /// Seconds to paint it (PNG only; SVG is painted as it is encoded).
    pub paint_s: f64,
    /// Seconds to encode it.
    pub encode_s: f64,
    /// Seconds to write the file.
    pub write_s: f64,
}

/// Renders the map of `catalog` into `path`, all or nothing: the map goes to a temporary file
/// beside `path`, which then replaces `path` in one rename; on any failure `path` is untouched and
/// the temporary file is gone.
pub fn write_file(
    catalog: &Catalog,
    opts: &MapOptions,
    format: Format,
    path: &Path,
) -> Result<Written, RenderError> {
    let t0 = std::time::Instant::now();
    let scene = Scene::build(catalog, opts)?;
    let t1 = std::time::Instant::now();
    let (bytes, tp) = match format {
        Format::Png => {
            let pixmap = scene.raster()?;
            let tp = std::time::Instant::now();
            (encode_png(&pixmap)?, tp)
        }
        Format::Svg => (scene.svg().into_bytes(), t1),
    };
    let t2 = std::time::Instant::now();
    let io = |source| RenderError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| io(std::io::Error::other("not a file name")))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(Written {
        width: scene.view.width,
        height: scene.view.height,
        bytes: bytes.len(),
        draw_s: (t1 - t0).as_secs_f64(),
        paint_s: (tp - t1).as_secs_f64(),
        encode_s: (t2 - tp).as_secs_f64(),
        write_s: t2.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::style::{self, Rgba};
    use super::*;
    use crate::catalog::Collection;
    use crate::reference::{LayerSpec, RefFeature, RefLayer};
    use crate::service::test_sites;
    use geo::{Contains, Geometry};
    use serde_json::{Map, json};

    /// The catalog of the repository's data: the seed sites and every reference layer.
    fn catalog() -> Catalog {
        crate::service::Atlas::build(&test_sites::seed_sites(), test_sites::reference())
            .unwrap()
            .catalog
    }

    fn pixel(p: &tiny_skia::Pixmap, x: u32, y: u32) -> Rgba {
        let c = p.pixel(x, y).unwrap().demultiply();
        Rgba(c.red(), c.green(), c.blue(), c.alpha())
    }

    /// Every segment of `g`'s lines and rings, in the view's pixels.
    fn segments(view: &View, g: &Geometry<f64>, out: &mut Vec<[(f64, f64); 2]>) {
        let mut line = |cs: &[geo::Coord<f64>]| {
            for w in cs.windows(2) {
                let a = view.px(w[0].x, w[0].y);
                let b = view.px(w[1].x, w[1].y);
                out.push([(a.0 as f64, a.1 as f64), (b.0 as f64, b.1 as f64)]);
            }
        };
        let mut poly = |p: &geo::Polygon<f64>| {
            line(&p.exterior().0);
            p.interiors().iter().for_each(|r| line(&r.0));
        };
        match g {
            Geometry::LineString(l) => line(&l.0),
            Geometry::MultiLineString(m) => m.0.iter().for_each(|l| line(&l.0)),
            Geometry::Polygon(p) => poly(p),
            Geometry::MultiPolygon(m) => m.0.iter().for_each(&mut poly),
            Geometry::Point(p) => line(&[p.0, p.0]),
            _ => {}
        }
    }

    fn distance(p: (f64, f64), s: &[(f64, f64); 2]) -> f64 {
        let ((ax, ay), (bx, by)) = (s[0], s[1]);
        let (dx, dy) = (bx - ax, by - ay);
        let len2 = dx * dx + dy * dy;
        let t = if len2 == 0.0 {
            0.0
        } else {
            (((p.0 - ax) * dx + (p.1 - ay) * dy) / len2).clamp(0.0, 1.0)
        };
        ((p.0 - ax - t * dx).powi(2) + (p.1 - ay - t * dy).powi(2)).sqrt()
    }

    /// Everything drawn as a line or marker in `view`, as pixel segments.
    fn drawn_lines(catalog: &Catalog, view: &View, ids: &[&str]) -> Vec<[(f64, f64); 2]> {
        let mut out = Vec::new();
        for id in ids {
            if let Some(c) = catalog.collection(id) {
                for f in c.iter() {
                    segments(view, &f.geometry(), &mut out);
                }
            }
        }
        out
    }

    /// The pixel in the middle half of the view, inside `area` (if given), farthest from every
    /// segment of `avoid`, with that distance.
    fn clearest(
        view: &View,
        area: Option<&Geometry<f64>>,
        avoid: &[[(f64, f64); 2]],
    ) -> ((u32, u32), f64) {
        let (w, h) = (view.width, view.height);
        let mut best = ((0, 0), -1.0);
        for y in (h / 4..3 * h / 4).step_by(3) {
            for x in (w / 4..3 * w / 4).step_by(3) {
                let c = (x as f64 + 0.5, y as f64 + 0.5);
                let (lon, lat) = view.lonlat(c.0, c.1);
                if area.is_some_and(|a| !a.contains(&geo::Point::new(lon, lat))) {
                    continue;
                }
                let d = avoid
                    .iter()
                    .map(|s| distance(c, s))
                    .fold(f64::INFINITY, f64::min);
                if d > best.1 {
                    best = ((x, y), d);
                }
            }
        }
        best
    }

    const ALL: &[&str] = &["countries", "water-bodies", "rivers", "borders", "sites"];

    fn geometry_of(catalog: &Catalog, collection: &str, id: &str) -> Geometry<f64> {
        catalog
            .collection(collection)
            .unwrap()
            .feature(id)
            .unwrap()
            .geometry()
            .into_owned()
    }

    #[test]
    fn the_default_map_is_not_blank_and_frames_every_site() {
        let cat = catalog();
        let b = default_bounds(&cat).unwrap();
        for f in cat.collection("sites").unwrap().iter() {
            let Geometry::Point(p) = f.geometry().into_owned() else {
                panic!()
            };
            assert!(p.x() > b.west && p.x() < b.east && p.y() > b.south && p.y() < b.north);
        }
        let scene = Scene::build(&cat, &MapOptions::default()).unwrap();
        assert_eq!(scene.view.width, 2000);
        assert!(scene.view.height > 800 && scene.view.height < 2800);
        assert_eq!(scene.drawn.sites, cat.collection("sites").unwrap().len());
        assert!(scene.drawn.lakes && scene.drawn.borders);
        let px = scene.raster().unwrap();
        let mut colours: Vec<[u8; 4]> = px
            .pixels()
            .iter()
            .map(|c| [c.red(), c.green(), c.blue(), c.alpha()])
            .collect();
        let background = colours
            .iter()
            .filter(|c| Rgba(c[0], c[1], c[2], c[3]) == style::BACKGROUND)
            .count();
        assert!(background < colours.len() / 2, "mostly background");
        colours.sort_unstable();
        colours.dedup();
        assert!(colours.len() > 200, "only {} colours", colours.len());
        // The title's text is drawn: dark pixels in the top-left panel.
        let s = scene.view.scale();
        let dark = (0..(400.0 * s) as u32)
            .flat_map(|x| (0..(60.0 * s) as u32).map(move |y| (x, y)))
            .filter(|&(x, y)| pixel(&px, x, y).near(style::INK, 30))
            .count();
        assert!(dark > 100, "{dark} dark pixels in the title");
    }

    #[test]
    fn a_lake_interior_is_lake_blue() {
        let cat = catalog();
        for (lake, bbox) in [
            ("ne-lake-toktogul-suu-saktagychy", "72.2,41.45,73.5,42.15"),
            ("ne-lake-aral-sea", "57.5,43.3,62.5,47.2"),
        ] {
            let opts = MapOptions {
                bbox: Some(Bounds::parse(bbox).unwrap()),
                width: 1000,
            };
            let scene = Scene::build(&cat, &opts).unwrap();
            let area = geometry_of(&cat, "water-bodies", lake);
            let avoid = drawn_lines(&cat, &scene.view, ALL);
            let ((x, y), d) = clearest(&scene.view, Some(&area), &avoid);
            assert!(d > 6.0, "{lake}: no clear point inside ({d} px)");
            let px = scene.raster().unwrap();
            assert_eq!(pixel(&px, x, y), style::LAKE, "{lake} at ({x}, {y})");
        }
    }

    #[test]
    fn a_country_interior_has_its_fill_and_a_border_its_line() {
        let cat = catalog();
        let opts = MapOptions {
            bbox: Some(Bounds::parse("69,39.2,76,43.2").unwrap()),
            width: 1200,
        };
        let scene = Scene::build(&cat, &opts).unwrap();
        let px = scene.raster().unwrap();
        let avoid = drawn_lines(&cat, &scene.view, ALL);
        let kgz = geometry_of(&cat, "countries", "KGZ");
        let ((x, y), d) = clearest(&scene.view, Some(&kgz), &avoid);
        assert!(d > 6.0, "{d}");
        assert_eq!(pixel(&px, x, y), style::country_fill(Some("KGZ")));
        // A border vertex in the middle of the map, away from rivers, lakes and sites.
        let others = drawn_lines(&cat, &scene.view, &["water-bodies", "rivers", "sites"]);
        let borders = drawn_lines(&cat, &scene.view, &["borders"]);
        let (w, h) = (scene.view.width as f64, scene.view.height as f64);
        let (cx, cy, _) = borders
            .iter()
            .map(|s| s[0])
            .filter(|p| {
                p.0 > w / 4.0 && p.0 < 3.0 * w / 4.0 && p.1 > h / 4.0 && p.1 < 3.0 * h / 4.0
            })
            .map(|p| {
                let d = others
                    .iter()
                    .map(|s| distance(p, s))
                    .fold(f64::INFINITY, f64::min);
                (p.0, p.1, d)
            })
            .max_by(|a, b| a.2.total_cmp(&b.2))
            .unwrap();
        let (bx, by) = (cx.floor() as u32, cy.floor() as u32);
        let on_line = (bx - 1..=bx + 1)
            .flat_map(|x| (by - 1..=by + 1).map(move |y| (x, y)))
            .any(|(x, y)| pixel(&px, x, y).near(style::BORDER, 12));
        assert!(on_line, "no border colour around ({bx}, {by})");
    }

    static CROSSINGS: LayerSpec = LayerSpec {
        id: "border-crossings",
        file: "",
        title: "Border crossings",
        description: "test",
        attribution: &[],
        queryables: &[],
    };
    static REACHES: LayerSpec = LayerSpec {
        id: "risk-reaches",
        file: "",
        title: "Risk reaches",
        description: "test",
        attribution: &[],
        queryables: &[],
    };

    fn feature(id: &str, geometry: Geometry<f64>, load: f64) -> RefFeature {
        let mut properties = Map::new();
        properties.insert("id".into(), json!(id));
        properties.insert("load".into(), json!(load));
        RefFeature {
            id: id.into(),
            properties,
            geometry,
        }
    }

    #[test]
    fn hotspots_and_reaches_are_drawn_by_load() {
        let mut cat = catalog();
        // Two crossings on the map's middle row, far from each other; a heavy reach across the
        // bottom, a light one across the top.
        let bbox = Bounds::parse("88,20,98,26").unwrap();
        let crossings = vec![
            feature("big", Geometry::Point(geo::Point::new(90.5, 23.0)), 40.0),
            feature("small", Geometry::Point(geo::Point::new(95.5, 23.0)), 1.0),
        ];
        let line =
            |lat: f64| Geometry::LineString(geo::LineString::from(vec![(89.0, lat), (97.0, lat)]));
        let reaches = vec![
            feature("heavy", line(21.5), 120.0),
            feature("light", line(24.5), 0.5),
        ];
        for (spec, features) in [(&CROSSINGS, crossings), (&REACHES, reaches)] {
            let layer = RefLayer {
                spec,
                features,
                user_source: None,
            };
            // Instead of the risk layers the catalog computed.
            cat.collections.retain(|c| c.id() != spec.id);
            cat.collections
                .push(Collection::from_layer(&layer).unwrap());
        }
        let opts = MapOptions {
            bbox: Some(bbox),
            width: 2000,
        };
        let scene = Scene::build(&cat, &opts).unwrap();
        assert_eq!(scene.drawn.max_crossing_load, Some(40.0));
        assert_eq!(scene.drawn.max_reach_load, Some(120.0));
        let px = scene.raster().unwrap();
        let at = |lon: f64, lat: f64| {
            let (x, y) = scene.view.px(lon, lat);
            pixel(&px, x as u32, y as u32)
        };
        // Nothing else is drawn here: the box lies outside every reference layer.
        assert_eq!(at(90.5, 23.0), style::HOTSPOT);
        assert_eq!(at(95.5, 23.0), style::HOTSPOT);
        let s = scene.view.scale();
        let big = style::hotspot_radius(40.0, 40.0) * s;
        let small = style::hotspot_radius(1.0, 40.0) * s;
        assert!(big > 2.0 * small);
        // Within the big one's radius but outside the small one's: only the big one is there.
        let (x, y) = scene.view.px(90.5, 23.0);
        let off = (small + big) / 2.0;
        assert_eq!(pixel(&px, (x + off) as u32, y as u32), style::HOTSPOT);
        let (x, y) = scene.view.px(95.5, 23.0);
        assert_ne!(pixel(&px, (x + off) as u32, y as u32), style::HOTSPOT);
        // The heavy reach in the top colour of the ramp, the light one near the bottom.
        assert_eq!(at(93.0, 21.5), style::load_colour(1.0));
        let light = style::load_colour(style::load_position(0.5, 120.0));
        let (x, y) = scene.view.px(93.0, 24.5);
        let column: Vec<Rgba> = (-1..=1)
            .map(|d| pixel(&px, x as u32, (y as i32 + d) as u32))
            .collect();
        assert!(column.iter().any(|c| c.near(light, 3)), "{column:?}");
    }

    #[test]
    fn the_same_inputs_give_the_same_bytes() {
        let cat = catalog();
        let opts = MapOptions {
            bbox: None,
            width: 900,
        };
        let a = render(&cat, &opts, Format::Png).unwrap();
        let b = render(&catalog(), &opts, Format::Png).unwrap();
        assert!(a == b, "two renders differ");
        assert_eq!(&a[..8], b"\x89PNG\r\n\x1a\n");
        let svg1 = render(&cat, &opts, Format::Svg).unwrap();
        let svg2 = render(&cat, &opts, Format::Svg).unwrap();
        assert!(svg1 == svg2);
        let svg = String::from_utf8(svg1).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("width=\"900\""));
        // Another width is another image.
        let c = render(&cat, &MapOptions { width: 901, ..opts }, Format::Png).unwrap();
        assert!(a != c);
    }

    #[test]
    fn png_encoding_keeps_the_pixels_opaque_or_not() {
        let mut px = tiny_skia::Pixmap::new(3, 2).unwrap();
        px.fill(tiny_skia::Color::from_rgba8(10, 200, 30, 255));
        let back = tiny_skia::Pixmap::decode_png(&encode_png(&px).unwrap()).unwrap();
        assert_eq!(back.data(), px.data());
        px.fill(tiny_skia::Color::from_rgba8(10, 200, 30, 128));
        let back = tiny_skia::Pixmap::decode_png(&encode_png(&px).unwrap()).unwrap();
        assert!(pixel(&back, 1, 1).near(Rgba(10, 200, 30, 128), 2));
    }

    #[test]
    fn bad_options_are_refused_naming_the_parameter() {
        let cat = catalog();
        let param = |opts: MapOptions| match Scene::build(&cat, &opts) {
            Err(RenderError::BadParameter { param, .. }) => param,
            other => panic!("{:?}", other.map(|s| s.view)),
        };
        assert_eq!(
            param(MapOptions {
                bbox: None,
                width: 9000
            }),
            "width"
        );
        assert_eq!(
            param(MapOptions {
                bbox: Some(Bounds::new(60.0, -80.0, 61.0, 80.0).unwrap()),
                width: 2000
            }),
            "bbox"
        );
        let empty = Catalog {
            collections: Vec::new(),
            notices: None,
        };
        assert!(matches!(
            Scene::build(&empty, &MapOptions::default()),
            Err(RenderError::BadParameter { param: "bbox", .. })
        ));
        assert_eq!(
            Format::from_path(Path::new("a/map.SVG")).unwrap(),
            Format::Svg
        );
        assert!(matches!(
            Format::from_path(Path::new("map.jpg")),
            Err(RenderError::BadParameter { param: "out", .. })
        ));
        assert!(Format::parse("gif").is_err());
    }

    #[test]
    fn write_file_is_all_or_nothing() {
        let cat = catalog();
        let dir = std::env::temp_dir().join(format!("atlas-render-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("map.png");
        let opts = MapOptions {
            bbox: None,
            width: 600,
        };
        let w = write_file(&cat, &opts, Format::Png, &out).unwrap();
        let png = tiny_skia::Pixmap::load_png(&out).unwrap();
        assert_eq!((png.width(), png.height()), (w.width, w.height));
        assert_eq!(std::fs::metadata(&out).unwrap().len() as usize, w.bytes);
        // A failing render leaves the old file as it was and no temporary file.
        let bad = MapOptions { width: 50, ..opts };
        assert!(write_file(&cat, &bad, Format::Png, &out).is_err());
        assert_eq!(tiny_skia::Pixmap::load_png(&out).unwrap().width(), 600);
        // So does a failing write.
        assert!(matches!(
            write_file(&cat, &opts, Format::Png, &dir.join("missing/map.png")),
            Err(RenderError::Io { .. })
        ));
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("map.png")]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
