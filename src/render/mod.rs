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
        ids.filter_map(|c| c.extent).fold(None, |acc: Option<[f64; 4]>, e| {
            Some(match acc {
                None => e,
                Some(a) => [a[0].min(e[0]), a[1].min(e[1]), a[2].max(e[2]), a[3].max(e[3])],
            })
        })
    };
    let framing = union(&mut catalog
        .collections
        .iter()
        .filter(|c| FRAMING.contains(&c.id())));
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
    Bounds::new(
        w.max(-180.0),
        s.max(-lat),
        e.min(180.0),
        n.min(lat),
    )
    .ok()
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
        self.raster()?
            .encode_png()
            .map_err(|e| RenderError::Encode(e.to_string()))
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

/// The map of `catalog` in `format`.
pub fn render(catalog: &Catalog, opts: &MapOptions, format: Format) -> Result<Vec<u8>, RenderError> {
    Scene::build(catalog, opts)?.encode(format)
}

/// What [`write_file`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub width: u32,
    pub height: u32,
    pub bytes: usize,
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
    let scene = Scene::build(catalog, opts)?;
    let bytes = scene.encode(format)?;
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
    })
}

