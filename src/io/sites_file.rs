//! Inventory files in and out through GDAL: reading sites for import (any vector format, with a field
//! mapping) and writing the published sites for export.
//!
//! # Export ([`write_sites`])
//!
//! One `sites` point layer in EPSG:4326, one column per property key (first-seen order). A column is
//! Real when every non-null value is a number, otherwise text; booleans are written `true`/`false`,
//! lists and objects as compact JSON text. The file is written into a private temporary directory
//! next to the target and renamed into place, so a failed export leaves nothing behind and a reader
//! never sees half a file.
//!
//! Per-format choices (each one keeps the data readable back by [`read_sites`]):
//! - GeoPackage, FlatGeobuf: native types, exact doubles. FlatGeobuf is written without a spatial
//!   index, which would reorder the features; the inventory is small enough not to need one. (An
//!   empty export keeps the index: without it GDAL 3.6 writes an empty layer as a 0-byte file.)
//! - GeoJSON: 17 significant digits (GDAL prints the shortest form that reads back exactly), a
//!   `crs` member naming CRS84. `RFC7946=YES` is not used: it rounds coordinates to 7 decimals.
//!   GDAL tidies binary noise such as `0.30000000000000004` to `0.3` (a 1-ulp change); values that
//!   came from decimal text are not affected.
//! - CSV: every column is text, numbers in their shortest exact form (GDAL's own Real formatting
//!   keeps 15 digits); no geometry column, as `lon` and `lat` are properties (`X`/`Y` columns are
//!   added only when they are not).
//! - KML: GDAL's `KML` driver; `name` becomes the placemark name, the rest `ExtendedData`. KML keeps
//!   15 significant digits of numbers and coordinates, and only GDAL's `LIBKML` driver reads the
//!   `ExtendedData` back.
//! - Shapefile, written as `sites.shp.zip` (GDAL ≥ 3.1 zips it itself), UTF-8 `.cpg`. DBF limits are
//!   worked around without losing data:
//!   - column names have at most 10 bytes: keys longer than that take the short name in
//!     [`SHAPEFILE_NAMES`], other long keys a deterministic truncation (`_1`, `_2`… on clashes);
//!   - Real columns get the width and decimals their values need to read back exactly (a column
//!     whose numbers do not fit in 255 characters is written as text);
//!   - a text longer than 254 bytes is cut at UTF-8 character boundaries into continuation columns
//!     `<name>`, `<name>_2`, `<name>_3`… (the base truncated so the name still fits: `attributes`,
//!     `attribut_2`); no cut is next to a blank, because DBF readers strip leading and trailing
//!     blanks. The importer joins the parts back.
//!
//! # Import ([`read_sites`])
//!
//! Reads the `sites` layer (or the first one) of any file GDAL opens; a `.zip` is read through
//! `/vsizip/`. A [`Mapping`] says which column feeds which site field, which fields are constants,
//! how source vocabularies translate and how to derive ids. The default mapping matches columns
//! named like the site fields (case-insensitively), their shapefile short names and their 10-byte
//! truncations (what GDAL and ArcGIS make of long names). Every row is validated with
//! [`Site::try_from`]; a bad row becomes an error naming the field and value, and reading goes on.
//! A repeated id is an error of the later row. Empty rows (spreadsheet padding) are skipped.
//!
//! The point is the feature's geometry when it has one (reprojected to WGS 84 if the layer has
//! another CRS), otherwise the `lon`/`lat` columns. For CSV, GDAL builds the geometry from
//! `lon`/`longitude`/`x`… columns (and the mapping's `lon`/`lat` columns) or a `wkt`/`geometry`
//! column; it parses those coordinates itself, so a coordinate that is not a number leaves the row
//! without a point and is reported as a missing `lon`/`lat`. Spreadsheets (XLSX, ODS) are read with
//! their first row as the header.
//!
//! Mapping file (JSON; every key optional, unknown keys and unknown site fields are errors):
//!
//! ```json
//! {
//!   "description": "free text",
//!   "layer": "Sheet1",
//!   "columns":   { "name": "TSF Name", "lat": "Latitude", "volume_m3": "Storage Volume (m3)" },
//!   "constants": { "kind": "tailings", "sources": "Global Tailings Portal, https://tailing.grida.no/" },
//!   "values":    { "status": { "Active": "active", "Closed": "inactive" } },
//!   "id":        { "from": "TSF Name", "prefix": "gtp-" }
//! }
//! ```
//!
//! - `columns`: site field → source column (exact name, else case-insensitive). A mapped column
//!   missing from the file is an error, except `lon`/`lat` when the layer has geometry.
//! - `constants`: site field → value for every row (text, number, or a list of text for
//!   `substances`/`sources`). A field cannot be both a column and a constant.
//! - `values`: site field → { source value → our value }, matched trimmed and case-insensitively;
//!   values not listed pass through unchanged (and fail validation if they are not ours).
//! - `id`: derive the id from one column (or a list of columns, joined with `-`): `prefix` + a slug
//!   of the value (lower case, transliterated to `a-z 0-9 _ -`).
//! - `layer`: the layer to read, when it is neither `sites` nor the first.
//!
//! Fields the mapping does not mention are matched by name as in the default mapping. Numbers
//! accept numeric text (trimmed; empty is null); `substances` and `sources` accept a JSON array, text
//! split on `;`, or a list-typed field; `attributes` accepts a JSON object or text holding one.
//! Source columns nothing reads are listed in [`ImportRead::ignored_columns`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::{
    Feature, FieldDefn, FieldValue, Geometry, LayerAccess, LayerOptions, OGRFieldType,
    OGRwkbGeometryType, geometry_type_flatten, geometry_type_to_name,
};
use gdal::{Dataset, DriverManager};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{IoError, gdal_reason};
use crate::model::{
    CoordinatePrecision, Iso3, ModelError, Site, SiteDraft, SiteId, SiteKind, SiteStatus,
    Wgs84Point,
};

const LAYER: &str = "sites";

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------

/// A file format [`write_sites`] can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Gpkg,
    Shp,
    Kml,
    Csv,
    Fgb,
    GeoJson,
}

impl ExportFormat {
    /// Every format, in the order they are offered.
    pub const ALL: &'static [ExportFormat] = &[
        ExportFormat::Gpkg,
        ExportFormat::Shp,
        ExportFormat::Kml,
        ExportFormat::Csv,
        ExportFormat::Fgb,
        ExportFormat::GeoJson,
    ];

    /// Parses a format name (`gpkg`, `shp`, `kml`, `csv`, `fgb`, `geojson`), ignoring case.
    pub fn parse(s: &str) -> Result<Self, IoError> {
        let wanted = s.trim();
        Self::ALL
            .iter()
            .copied()
            .find(|f| f.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| IoError::File {
                path: "export format".into(),
                reason: format!(
                    "{wanted:?} is not a format; expected one of: {}",
                    Self::ALL
                        .iter()
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// The format's name as [`ExportFormat::parse`] accepts it.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Gpkg => "gpkg",
            ExportFormat::Shp => "shp",
            ExportFormat::Kml => "kml",
            ExportFormat::Csv => "csv",
            ExportFormat::Fgb => "fgb",
            ExportFormat::GeoJson => "geojson",
        }
    }

    /// The media type to serve the file with.
    pub fn media_type(self) -> &'static str {
        match self {
            ExportFormat::Gpkg => "application/geopackage+sqlite3",
            ExportFormat::Shp => "application/zip",
            ExportFormat::Kml => "application/vnd.google-earth.kml+xml",
            ExportFormat::Csv => "text/csv",
            ExportFormat::Fgb => "application/flatgeobuf",
            ExportFormat::GeoJson => "application/geo+json",
        }
    }

    /// The conventional file name of an export in this format.
    pub fn file_name(self) -> &'static str {
        match self {
            ExportFormat::Gpkg => "sites.gpkg",
            ExportFormat::Shp => "sites.shp.zip",
            ExportFormat::Kml => "sites.kml",
            ExportFormat::Csv => "sites.csv",
            ExportFormat::Fgb => "sites.fgb",
            ExportFormat::GeoJson => "sites.geojson",
        }
    }

    fn driver(self) -> &'static str {
        match self {
            ExportFormat::Gpkg => "GPKG",
            ExportFormat::Shp => "ESRI Shapefile",
            ExportFormat::Kml => "KML",
            ExportFormat::Csv => "CSV",
            ExportFormat::Fgb => "FlatGeobuf",
            ExportFormat::GeoJson => "GeoJSON",
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExportFormat {
    type Err = IoError;

    fn from_str(s: &str) -> Result<Self, IoError> {
        Self::parse(s)
    }
}

/// One site to write: WGS 84 position and its flat properties (site attributes followed by analysis
/// fields).
#[derive(Debug, Clone, Copy)]
pub struct ExportFeature<'a> {
    pub lon: f64,
    pub lat: f64,
    pub properties: &'a Map<String, Value>,
}

/// Shapefile column names for the property keys longer than the DBF limit of 10 bytes: the site
/// fields (which [`read_sites`] knows as aliases) and the analysis fields. Other long keys are
/// truncated deterministically.
pub const SHAPEFILE_NAMES: &[(&str, &str)] = &[
    // Site fields.
    ("status_note", "status_nt"),
    ("dam_height_m", "dam_h_m"),
    ("receiving_river", "recv_river"),
    // Analysis fields.
    ("located_country", "loc_cntry"),
    ("country_match", "cntry_mtch"),
    ("country_check", "cntry_chk"),
    ("nearest_river_id", "river_id"),
    ("nearest_river_name", "river_name"),
    ("river_distance_m", "river_m"),
    ("nearest_river_lon", "river_lon"),
    ("nearest_river_lat", "river_lat"),
    ("nearest_border_id", "border_id"),
    ("border_countries", "border_cty"),
    ("neighbour_country", "neighb_cty"),
    ("border_distance_m", "border_m"),
    ("nearest_border_lon", "border_lon"),
    ("nearest_border_lat", "border_lat"),
    ("downstream_status", "ds_status"),
    ("snap_distance_m", "snap_m"),
    ("snap_river_id", "snap_river"),
    ("drainage_confidence", "drain_conf"),
    ("downstream_countries", "ds_cntries"),
    ("first_crossing_from", "cross_from"),
    ("first_crossing_to", "cross_to"),
    ("first_crossing_lon", "cross_lon"),
    ("first_crossing_lat", "cross_lat"),
    ("downstream_border_km", "ds_bord_km"),
    ("downstream_water_bodies", "ds_waters"),
    ("terminal_water_body", "term_water"),
    ("runout_released_volume_m3", "ro_rel_m3"),
    ("runout_distance_km", "ro_dist_km"),
    ("runout_reaches_border", "ro_border"),
    ("runout_note", "ro_note"),
];

/// DBF limits: bytes in a column name, in a text value, in a field.
const DBF_NAME_MAX: usize = 10;
const DBF_TEXT_MAX: usize = 254;
const DBF_WIDTH_MAX: usize = 255;

/// Distinguishes concurrent exports of one process in temporary directory names.
static EXPORT_SEQ: AtomicUsize = AtomicUsize::new(0);

/// Writes `features` to `out` in `format`, through GDAL, atomically (write to a temporary sibling
/// file, then rename; nothing is left behind on error). Layer name `sites`, EPSG:4326.
pub fn write_sites(
    out: &Path,
    format: ExportFormat,
    features: &[ExportFeature<'_>],
) -> Result<(), IoError> {
    let shown = out.display().to_string();
    for (n, f) in features.iter().enumerate() {
        Wgs84Point::new(f.lon, f.lat).map_err(|e| IoError::Row {
            path: shown.clone(),
            row: n + 1,
            reason: e.to_string(),
        })?;
    }
    let file_err = |reason: String| IoError::File {
        path: shown.clone(),
        reason,
    };
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .ok_or_else(|| file_err("not a file path".into()))?
        .to_string_lossy()
        .into_owned();
    // A private directory, not just a temporary file: some drivers write side files (journals,
    // shapefile members before zipping) that must go too.
    let tmp_dir = dir.join(format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        EXPORT_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir(&tmp_dir)
        .map_err(|e| file_err(format!("cannot create a temporary directory: {e}")))?;
    // The driver picks its flavour from the name (`.shp.zip` zips, `.csv` is a file, not a folder).
    let tmp = tmp_dir.join(format.file_name());
    let result = write_file(&tmp, format, features)
        .and_then(|()| verify(&tmp, features.len()))
        .and_then(|()| {
            std::fs::rename(&tmp, out).map_err(|e| format!("cannot move into place: {e}"))
        });
    let _ = std::fs::remove_dir_all(&tmp_dir);
    result.map_err(file_err)
}

/// How one property key becomes columns of the output file.
struct Column<'a> {
    key: &'a str,
    real: bool,
    /// The column and, for long shapefile texts, its continuation columns.
    names: Vec<String>,
    /// DBF width and decimals of each name; empty for other formats.
    dbf: Vec<(i32, i32)>,
}

/// Site fields whose column stays Real even when no feature has a value.
const NUMERIC_FIELDS: &[&str] = &[
    "lon",
    "lat",
    "volume_m3",
    "tonnage_t",
    "dam_height_m",
    "area_m2",
];

fn write_file(
    path: &Path,
    format: ExportFormat,
    features: &[ExportFeature<'_>],
) -> Result<(), String> {
    let columns = plan_columns(format, features)?;
    let driver = DriverManager::get_driver_by_name(format.driver()).map_err(|e| {
        format!(
            "GDAL has no {} driver: {}",
            format.driver(),
            gdal_reason(&e)
        )
    })?;
    let mut ds = driver
        .create_vector_only(path)
        .map_err(|e| format!("cannot create: {}", gdal_reason(&e)))?;
    let has_lon_lat = ["lon", "lat"]
        .iter()
        .all(|k| columns.iter().any(|c| c.key == *k));
    let mut options: Vec<&str> = match format {
        ExportFormat::Shp => vec!["ENCODING=UTF-8"],
        ExportFormat::Csv => vec!["STRING_QUOTING=IF_NEEDED"],
        // Without the index, GDAL 3.6 writes an empty layer as a 0-byte file.
        ExportFormat::Fgb if features.is_empty() => vec![],
        ExportFormat::Fgb => vec!["SPATIAL_INDEX=NO"],
        ExportFormat::GeoJson => vec!["SIGNIFICANT_FIGURES=17"],
        ExportFormat::Gpkg | ExportFormat::Kml => vec![],
    };
    if format == ExportFormat::Csv && !has_lon_lat {
        options.push("GEOMETRY=AS_XY");
    }
    // The KML writer turns a null field into an empty `SimpleData`; leave it out instead.
    let explicit_nulls = format != ExportFormat::Kml;
    if format == ExportFormat::Gpkg {
        // One transaction: GeoPackage commits every feature on its own otherwise.
        let mut tx = ds
            .start_transaction()
            .map_err(|e| format!("cannot start a transaction: {}", gdal_reason(&e)))?;
        fill_layer(&mut tx, &options, &columns, features, explicit_nulls)?;
        tx.commit()
            .map_err(|e| format!("cannot commit: {}", gdal_reason(&e)))?;
    } else {
        fill_layer(&mut ds, &options, &columns, features, explicit_nulls)?;
    }
    // GDAL < 3.7 does not report errors on close; `verify` reopens the file instead.
    ds.close()
        .map_err(|e| format!("cannot close: {}", gdal_reason(&e)))
}

fn fill_layer(
    ds: &mut Dataset,
    options: &[&str],
    columns: &[Column<'_>],
    features: &[ExportFeature<'_>],
    explicit_nulls: bool,
) -> Result<(), String> {
    let mut srs = SpatialRef::from_epsg(4326).map_err(|e| gdal_reason(&e))?;
    // Geometries are (lon, lat); without this, drivers that honour EPSG axis order would swap them.
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let layer = ds
        .create_layer(LayerOptions {
            name: LAYER,
            srs: Some(&srs),
            ty: OGRwkbGeometryType::wkbPoint,
            options: Some(options),
        })
        .map_err(|e| format!("cannot create the layer: {}", gdal_reason(&e)))?;
    for c in columns {
        let ty = if c.real {
            OGRFieldType::OFTReal
        } else {
            OGRFieldType::OFTString
        };
        for (i, name) in c.names.iter().enumerate() {
            let defn = FieldDefn::new(name, ty).map_err(|e| gdal_reason(&e))?;
            if let Some((width, decimals)) = c.dbf.get(i) {
                defn.set_width(*width);
                defn.set_precision(*decimals);
            }
            defn.add_to_layer(&layer)
                .map_err(|e| format!("cannot create column {name}: {}", gdal_reason(&e)))?;
        }
    }
    // Drivers may launder names; find every column by the name it was given or fail loudly.
    let indices: Vec<Vec<usize>> = columns
        .iter()
        .map(|c| {
            c.names
                .iter()
                .map(|n| {
                    layer
                        .defn()
                        .field_index(n)
                        .map_err(|_| format!("GDAL renamed column {n}"))
                })
                .collect()
        })
        .collect::<Result<_, _>>()?;
    // A CSV layer only has a geometry field when it writes `X`/`Y` columns.
    let with_geometry = layer.defn().geom_fields().count() > 0;
    for (n, f) in features.iter().enumerate() {
        write_feature(&layer, columns, &indices, f, with_geometry, explicit_nulls)
            .map_err(|e| format!("feature {}: {}", n + 1, gdal_reason(&e)))?;
    }
    Ok(())
}

fn write_feature<L: LayerAccess>(
    layer: &L,
    columns: &[Column<'_>],
    indices: &[Vec<usize>],
    f: &ExportFeature<'_>,
    with_geometry: bool,
    explicit_nulls: bool,
) -> Result<(), gdal::errors::GdalError> {
    let mut feature = Feature::new(layer.defn())?;
    if with_geometry {
        let mut point = Geometry::empty(OGRwkbGeometryType::wkbPoint)?;
        point.add_point_2d((f.lon, f.lat));
        feature.set_geometry(point)?;
    }
    let null = |feature: &mut Feature, idx: usize| {
        if explicit_nulls {
            feature.set_field_null(idx)
        } else {
            Ok(())
        }
    };
    for (c, idx) in columns.iter().zip(indices) {
        let value = f.properties.get(c.key).unwrap_or(&Value::Null);
        if c.real {
            match value.as_f64() {
                Some(v) => feature.set_field_double(idx[0], v)?,
                None => null(&mut feature, idx[0])?,
            }
            continue;
        }
        let text = value_text(value);
        let parts = match (&text, idx.len()) {
            (Some(t), 2..) => split_dbf_text(t),
            (Some(t), _) => vec![t.as_str()],
            (None, _) => vec![],
        };
        for (i, field) in idx.iter().enumerate() {
            match parts.get(i) {
                Some(part) => feature.set_field_string(*field, part)?,
                None => null(&mut feature, *field)?,
            }
        }
    }
    feature.create(layer)
}

/// A property value as text: numbers in their shortest exact form, lists and objects as JSON.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.as_f64().map_or_else(|| n.to_string(), |f| f.to_string())),
        Value::Array(_) | Value::Object(_) => Some(v.to_string()),
    }
}

fn plan_columns<'a>(
    format: ExportFormat,
    features: &[ExportFeature<'a>],
) -> Result<Vec<Column<'a>>, String> {
    let mut keys: Vec<&'a str> = Vec::new();
    let mut seen = HashSet::new();
    for f in features {
        for k in f.properties.keys() {
            if seen.insert(k.as_str()) {
                keys.push(k.as_str());
            }
        }
    }
    let dbf = format == ExportFormat::Shp;
    let mut columns = Vec::with_capacity(keys.len());
    for key in keys {
        let values: Vec<&Value> = features
            .iter()
            .filter_map(|f| f.properties.get(key))
            .filter(|v| !v.is_null())
            .collect();
        let numbers: Vec<f64> = values.iter().filter_map(|v| v.as_f64()).collect();
        // CSV has no column types; GDAL would print its Real columns with only 15 digits.
        let mut real = format != ExportFormat::Csv
            && numbers.len() == values.len()
            && (!numbers.is_empty() || NUMERIC_FIELDS.contains(&key));
        let mut widths = Vec::new();
        if dbf && real {
            match dbf_real_format(&numbers) {
                Some(w) => widths.push(w),
                None => real = false,
            }
        }
        if dbf && !real {
            for v in &values {
                let text = value_text(v).unwrap_or_default();
                for (i, part) in split_dbf_text(&text).iter().enumerate() {
                    if widths.len() <= i {
                        widths.push((1, 0));
                    }
                    widths[i].0 = widths[i].0.max(part.len() as i32);
                }
            }
            if widths.is_empty() {
                widths.push((1, 0));
            }
        }
        columns.push(Column {
            key,
            real,
            names: vec![key.to_owned()],
            dbf: widths,
        });
    }
    if dbf {
        let wanted: Vec<(&str, usize)> = columns.iter().map(|c| (c.key, c.dbf.len())).collect();
        for (c, names) in columns.iter_mut().zip(dbf_names(&wanted)?) {
            c.names = names;
        }
    }
    Ok(columns)
}

/// DBF width and decimals with which every value reads back as the same double, or `None` when
/// that does not fit a DBF field.
fn dbf_real_format(values: &[f64]) -> Option<(i32, i32)> {
    if values.is_empty() {
        // GDAL's own default for a Real column.
        return Some((24, 15));
    }
    // Rust prints the shortest decimal that reads back exactly; at least that many decimals with
    // printf's `%.*f` (what the DBF writer uses) reads back too. Checked rather than trusted.
    let decimals = |v: f64| {
        let s = v.to_string();
        s.find('.').map_or(0, |i| s.len() - i - 1)
    };
    let mut p = values
        .iter()
        .map(|&v| decimals(v))
        .max()
        .unwrap_or(0)
        .max(1);
    while values
        .iter()
        .any(|&v| format!("{v:.p$}").parse::<f64>().ok() != Some(v))
    {
        p += 1;
        if p > 40 {
            return None;
        }
    }
    let width = values.iter().map(|&v| format!("{v:.p$}").len()).max()?;
    (width <= DBF_WIDTH_MAX).then_some((width as i32, p as i32))
}

/// Cuts `text` into pieces of at most 254 bytes, at character boundaries and never next to a blank
/// (DBF readers strip leading and trailing blanks, which would lose them).
fn split_dbf_text(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > DBF_TEXT_MAX {
        let max = floor_char_boundary(rest, DBF_TEXT_MAX);
        let cut = (1..=max)
            .rev()
            .filter(|&i| rest.is_char_boundary(i))
            .find(|&i| {
                !rest[..i].ends_with(char::is_whitespace)
                    && !rest[i..].starts_with(char::is_whitespace)
            })
            // Only a run of blanks longer than a whole field gets here; it cannot be kept anyway.
            .unwrap_or(max);
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    parts.push(rest);
    parts
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

fn truncate_bytes(s: &str, max: usize) -> &str {
    &s[..floor_char_boundary(s, max)]
}

/// The name of part `part` (2, 3…) of a text column cut for a shapefile.
fn continuation_name(base: &str, part: usize) -> String {
    let suffix = format!("_{part}");
    format!(
        "{}{suffix}",
        truncate_bytes(base, DBF_NAME_MAX.saturating_sub(suffix.len()))
    )
}

fn short_name(key: &str) -> Option<&'static str> {
    SHAPEFILE_NAMES
        .iter()
        .find(|(long, _)| *long == key)
        .map(|(_, short)| *short)
}

/// Shapefile names for `(key, parts)` columns: the name of each and of its continuation parts.
fn dbf_names(columns: &[(&str, usize)]) -> Result<Vec<Vec<String>>, String> {
    let mut taken: HashSet<String> = HashSet::new();
    let mut out = vec![Vec::new(); columns.len()];
    // Site fields first: the importer expects their names, so they never yield to another key.
    let (site, other): (Vec<usize>, Vec<usize>) =
        (0..columns.len()).partition(|&i| SiteField::from_name(columns[i].0).is_some());
    for i in site.into_iter().chain(other) {
        let (key, parts) = columns[i];
        let is_site = SiteField::from_name(key).is_some();
        let preferred = short_name(key)
            .map(str::to_owned)
            .unwrap_or_else(|| truncate_bytes(key, DBF_NAME_MAX).to_owned());
        let numbered = (1..10_000usize).map(|n| {
            let suffix = format!("_{n}");
            format!(
                "{}{suffix}",
                truncate_bytes(key, DBF_NAME_MAX - suffix.len())
            )
        });
        let candidates: Box<dyn Iterator<Item = String>> = if is_site {
            Box::new(std::iter::once(preferred))
        } else {
            Box::new(std::iter::once(preferred).chain(numbered))
        };
        let names = candidates
            .map(|base| {
                let mut names = vec![base.clone()];
                names.extend((2..=parts).map(|p| continuation_name(&base, p)));
                names
            })
            .find(|names| {
                names
                    .iter()
                    .all(|n| !n.is_empty() && !taken.contains(&n.to_lowercase()))
            })
            .ok_or_else(|| format!("no free shapefile column name for `{key}`"))?;
        taken.extend(names.iter().map(|n| n.to_lowercase()));
        out[i] = names;
    }
    Ok(out)
}

/// Reopens a written file: GDAL before 3.7 reports no error when closing fails to flush.
fn verify(path: &Path, expected: usize) -> Result<(), String> {
    let ds = super::open_vector(path, None)?;
    let layer = ds
        .layer_by_name(LAYER)
        .or_else(|_| ds.layer(0))
        .map_err(|_| "the written file has no layer".to_owned())?;
    let count = layer.feature_count();
    if count != expected as u64 {
        return Err(format!(
            "the written file has {count} features instead of {expected}"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Import: the mapping
// ---------------------------------------------------------------------------------------------

/// What a site field holds, for converting source values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Text,
    Number,
    List,
    Object,
}

/// A field of [`SiteDraft`], as mapping files name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
enum SiteField {
    #[serde(rename = "id")]
    Id,
    #[serde(rename = "name")]
    Name,
    #[serde(rename = "local_name")]
    LocalName,
    #[serde(rename = "kind")]
    Kind,
    #[serde(rename = "activity")]
    Activity,
    #[serde(rename = "country")]
    Country,
    #[serde(rename = "status")]
    Status,
    #[serde(rename = "status_note")]
    StatusNote,
    #[serde(rename = "lon")]
    Lon,
    #[serde(rename = "lat")]
    Lat,
    #[serde(rename = "precision")]
    Precision,
    #[serde(rename = "volume_m3")]
    VolumeM3,
    #[serde(rename = "tonnage_t")]
    TonnageT,
    #[serde(rename = "dam_height_m")]
    DamHeightM,
    #[serde(rename = "area_m2")]
    AreaM2,
    #[serde(rename = "substances")]
    Substances,
    #[serde(rename = "receiving_river")]
    ReceivingRiver,
    #[serde(rename = "sources")]
    Sources,
    #[serde(rename = "attributes")]
    Attributes,
}

impl SiteField {
    const ALL: [SiteField; 19] = [
        SiteField::Id,
        SiteField::Name,
        SiteField::LocalName,
        SiteField::Kind,
        SiteField::Activity,
        SiteField::Country,
        SiteField::Status,
        SiteField::StatusNote,
        SiteField::Lon,
        SiteField::Lat,
        SiteField::Precision,
        SiteField::VolumeM3,
        SiteField::TonnageT,
        SiteField::DamHeightM,
        SiteField::AreaM2,
        SiteField::Substances,
        SiteField::ReceivingRiver,
        SiteField::Sources,
        SiteField::Attributes,
    ];

    fn name(self) -> &'static str {
        match self {
            SiteField::Id => "id",
            SiteField::Name => "name",
            SiteField::LocalName => "local_name",
            SiteField::Kind => "kind",
            SiteField::Activity => "activity",
            SiteField::Country => "country",
            SiteField::Status => "status",
            SiteField::StatusNote => "status_note",
            SiteField::Lon => "lon",
            SiteField::Lat => "lat",
            SiteField::Precision => "precision",
            SiteField::VolumeM3 => "volume_m3",
            SiteField::TonnageT => "tonnage_t",
            SiteField::DamHeightM => "dam_height_m",
            SiteField::AreaM2 => "area_m2",
            SiteField::Substances => "substances",
            SiteField::ReceivingRiver => "receiving_river",
            SiteField::Sources => "sources",
            SiteField::Attributes => "attributes",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    fn parse(name: &str) -> Result<Self, IoError> {
        Self::from_name(name.trim()).ok_or_else(|| {
            mapping_err(format!(
                "unknown site field `{}`; expected one of: {}",
                name.trim(),
                Self::ALL.map(|f| f.name()).join(", ")
            ))
        })
    }

    fn kind(self) -> FieldKind {
        match self {
            SiteField::Lon
            | SiteField::Lat
            | SiteField::VolumeM3
            | SiteField::TonnageT
            | SiteField::DamHeightM
            | SiteField::AreaM2 => FieldKind::Number,
            SiteField::Substances | SiteField::Sources => FieldKind::List,
            SiteField::Attributes => FieldKind::Object,
            _ => FieldKind::Text,
        }
    }

    /// Column names the default mapping reads this field from, best first.
    fn default_columns(self) -> Vec<String> {
        let name = self.name();
        let mut names = vec![name.to_owned()];
        names.extend(short_name(name).map(str::to_owned));
        if name.len() > DBF_NAME_MAX {
            // What GDAL, QGIS and ArcGIS make of a long name in a shapefile.
            names.push(truncate_bytes(name, DBF_NAME_MAX).to_owned());
        }
        names
    }
}

fn mapping_err(reason: String) -> IoError {
    IoError::File {
        path: "mapping".into(),
        reason,
    }
}

/// A source value, whatever the field type it came from.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Text(String),
    Number(f64),
    List(Vec<String>),
}

impl Cell {
    fn is_blank(&self) -> bool {
        match self {
            Cell::Null => true,
            Cell::Text(t) => t.trim().is_empty(),
            Cell::List(l) => l.iter().all(|s| s.trim().is_empty()),
            Cell::Number(_) => false,
        }
    }

    fn from_json(v: &Value) -> Option<Cell> {
        match v {
            Value::String(s) => Some(Cell::Text(s.clone())),
            Value::Number(n) => n.as_f64().map(Cell::Number),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Cell::List),
            Value::Object(_) => Some(Cell::Text(v.to_string())),
            Value::Null | Value::Bool(_) => None,
        }
    }
}

/// How a derived id is built.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdRule {
    from: OneOrMany,
    #[serde(default)]
    prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn columns(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(c) => vec![c.as_str()],
            OneOrMany::Many(cs) => cs.iter().map(String::as_str).collect(),
        }
    }
}

/// The mapping file as written, before its values are checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[serde(default)]
    #[allow(dead_code)] // Documentation for people; accepted so files can carry it.
    description: Option<String>,
    #[serde(default)]
    layer: Option<String>,
    #[serde(default)]
    columns: BTreeMap<SiteField, String>,
    #[serde(default)]
    constants: BTreeMap<SiteField, Value>,
    #[serde(default)]
    values: BTreeMap<SiteField, BTreeMap<String, String>>,
    #[serde(default)]
    id: Option<IdRule>,
}

/// How source columns become site fields. Default = identity (columns named like the site fields:
/// id, name, local_name, kind, activity, country, status, status_note, lon, lat, precision,
/// volume_m3, tonnage_t, dam_height_m, area_m2, substances, receiving_river, sources, attributes),
/// plus the shapefile short names of [`SHAPEFILE_NAMES`]. See the module documentation for the
/// JSON format.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(try_from = "MappingFile")]
pub struct Mapping {
    layer: Option<String>,
    columns: BTreeMap<SiteField, String>,
    constants: BTreeMap<SiteField, Cell>,
    /// Per field: trimmed, lower-cased source value → our value.
    values: BTreeMap<SiteField, HashMap<String, String>>,
    id: Option<IdRule>,
}

fn vocabulary_key(s: &str) -> String {
    s.trim().to_lowercase()
}

impl TryFrom<MappingFile> for Mapping {
    type Error = String;

    fn try_from(file: MappingFile) -> Result<Self, String> {
        let mut m = Mapping {
            layer: file.layer.filter(|l| !l.trim().is_empty()),
            ..Mapping::default()
        };
        for (field, column) in file.columns {
            if column.trim().is_empty() {
                return Err(format!("columns.{}: empty column name", field.name()));
            }
            m.columns.insert(field, column);
        }
        for (field, value) in file.constants {
            if m.columns.contains_key(&field) {
                return Err(format!(
                    "`{}` is both a column and a constant; keep one",
                    field.name()
                ));
            }
            let cell = Cell::from_json(&value).ok_or_else(|| {
                format!(
                    "constants.{}: expected text, a number or a list of text (got {value})",
                    field.name()
                )
            })?;
            check_constant(field, &cell).map_err(|e| format!("constants.{}: {e}", field.name()))?;
            m.constants.insert(field, cell);
        }
        for (field, table) in file.values {
            let mut normalised = HashMap::new();
            for (from, to) in table {
                if normalised.insert(vocabulary_key(&from), to).is_some() {
                    return Err(format!(
                        "values.{}: {from:?} is listed twice (values match ignoring case and blanks)",
                        field.name()
                    ));
                }
            }
            m.values.insert(field, normalised);
        }
        if let Some(rule) = file.id {
            if m.columns.contains_key(&SiteField::Id) || m.constants.contains_key(&SiteField::Id) {
                return Err("`id` is derived and also a column or constant; keep one".into());
            }
            let columns = rule.from.columns();
            if columns.is_empty() || columns.iter().any(|c| c.trim().is_empty()) {
                return Err("id.from: name one column or a list of columns".into());
            }
            if !rule
                .prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            {
                return Err(format!(
                    "id.prefix: {:?} may only hold a-z, 0-9, '_' and '-'",
                    rule.prefix
                ));
            }
            m.id = Some(rule);
        }
        Ok(m)
    }
}

/// Checks a constant once, so a typo fails the mapping rather than every row.
fn check_constant(field: SiteField, cell: &Cell) -> Result<(), String> {
    let mut d = SiteDraft::default();
    assign(&mut d, field, cell.clone(), None).map_err(|e| e.to_string())?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let checked = match field {
        SiteField::Id => SiteId::parse(&text(&d.id)).map(|_| ()),
        SiteField::Kind => text(&d.kind).parse::<SiteKind>().map(|_| ()),
        SiteField::Status => text(&d.status).parse::<SiteStatus>().map(|_| ()),
        SiteField::Precision => text(&d.precision)
            .parse::<CoordinatePrecision>()
            .map(|_| ()),
        SiteField::Country => Iso3::parse(&text(&d.country), "country").map(|_| ()),
        _ => Ok(()),
    };
    checked.map_err(|e| e.to_string())
}

impl Mapping {
    /// Reads a mapping file (JSON; see the module documentation). Unknown keys and unknown target
    /// fields are errors naming them.
    pub fn load(path: &Path) -> Result<Self, IoError> {
        let shown = path.display().to_string();
        let text = std::fs::read(path).map_err(|e| IoError::File {
            path: shown.clone(),
            reason: format!("cannot read: {e}"),
        })?;
        Self::from_json(&text, &shown)
    }

    /// Reads a mapping from its JSON text; `shown` names it in messages (an upload's file name).
    pub fn from_json(json: &[u8], shown: &str) -> Result<Self, IoError> {
        serde_json::from_slice(json).map_err(|e| IoError::File {
            path: shown.to_owned(),
            reason: format!("not a valid mapping: {e}"),
        })
    }

    /// Reads `field` from `column` (the CLI's `--map field=Column`); replaces a constant or id rule
    /// for the same field.
    pub fn map_column(&mut self, field: &str, column: &str) -> Result<(), IoError> {
        let f = SiteField::parse(field)?;
        let column = column.trim();
        if column.is_empty() {
            return Err(mapping_err(format!("`{}`: empty column name", f.name())));
        }
        self.constants.remove(&f);
        if f == SiteField::Id {
            self.id = None;
        }
        self.columns.insert(f, column.to_owned());
        Ok(())
    }

    /// Sets `field` to `value` for every row (the CLI's `--set field=value`); replaces a column or
    /// id rule for the same field.
    pub fn set_constant(&mut self, field: &str, value: &str) -> Result<(), IoError> {
        let f = SiteField::parse(field)?;
        let cell = Cell::Text(value.to_owned());
        check_constant(f, &cell).map_err(|e| mapping_err(format!("`{}`: {e}", f.name())))?;
        self.columns.remove(&f);
        if f == SiteField::Id {
            self.id = None;
        }
        self.constants.insert(f, cell);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Import: reading
// ---------------------------------------------------------------------------------------------

/// One feature of an imported file.
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// 1-based feature number in the layer (the data row, for CSV and spreadsheets).
    pub row: usize,
    /// The valid site, or why not, naming the field (e.g. "field `lat`: latitude must be within
    /// [-90, 90] (got \"95\")").
    pub site: Result<Site, String>,
}

/// Everything read from an imported file.
#[derive(Debug, Clone)]
pub struct ImportRead {
    pub rows: Vec<ImportRow>,
    pub layer: String,
    /// GDAL's short driver name (`CSV`, `GPKG`, `ESRI Shapefile`…).
    pub driver: String,
    /// Source columns that no site field reads.
    pub ignored_columns: Vec<String>,
    /// The layer's CRS (e.g. `EPSG:32642`) when points were reprojected to WGS 84.
    pub reprojected_from: Option<String>,
}

const CSV_X_NAMES: &[&str] = &["lon", "longitude", "x", "long", "lng"];
const CSV_Y_NAMES: &[&str] = &["lat", "latitude", "y"];
const CSV_GEOM_NAMES: &[&str] = &["wkt", "geometry", "geom", "WKT"];
/// Fields the KML drivers add to every placemark; not the user's columns.
const KML_FIELDS: &[&str] = &[
    "description",
    "timestamp",
    "begin",
    "end",
    "altitudeMode",
    "tessellate",
    "extrude",
    "visibility",
    "drawOrder",
    "icon",
    "snippet",
];

/// Where a site field's value comes from in one layer.
enum Source {
    /// Column indices: the column, then its shapefile continuation columns.
    Columns(Vec<usize>),
    Constant(Cell),
    /// One entry per `id.from` column (each with its continuations), and the prefix.
    DerivedId(Vec<Vec<usize>>, String),
    Absent,
}

/// The layer's columns, looked up by name as GDAL does (exact first, then ignoring case).
struct Columns(Vec<String>);

impl Columns {
    fn find(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|c| c == name).or_else(|| {
            let lower = name.to_lowercase();
            self.0.iter().position(|c| c.to_lowercase() == lower)
        })
    }

    /// `idx` and the continuation columns a shapefile export split its text into.
    fn with_parts(&self, idx: usize) -> Vec<usize> {
        let mut parts = vec![idx];
        for part in 2.. {
            match self.find(&continuation_name(&self.0[idx], part)) {
                Some(j) if !parts.contains(&j) => parts.push(j),
                _ => break,
            }
        }
        parts
    }
}

/// The default of [`ReadOptions::max_rows`]: a million features, ten times the largest inventory
/// benchmarked (`bench/store.sh`).
pub const DEFAULT_MAX_ROWS: usize = 1_000_000;

/// How [`read_sites_with`] reads a file, and how far.
#[derive(Debug, Clone)]
pub struct ReadOptions<'a> {
    /// Only these GDAL drivers may open the file (uploads: [`super::UPLOAD_DRIVERS`]); `None`: any.
    pub allowed_drivers: Option<&'a [&'a str]>,
    /// What messages call the file: the name its user knows it by (an upload's own file name), as
    /// the path it is read from may be a server's temporary file. `None`: the path as given.
    pub shown_name: Option<&'a str>,
    /// Reading stops with [`IoError::TooLarge`] once the layer has more features than this.
    pub max_rows: usize,
    /// A zip archive whose entries expand to more than this many bytes is refused before GDAL
    /// reads it ([`IoError::TooLarge`]); `None`: no limit.
    pub max_unzipped_bytes: Option<u64>,
    /// Refuse GeoPackages that hold SQL views or virtual tables (uploads; see [`super::guard`]).
    pub refuse_views: bool,
}

impl Default for ReadOptions<'_> {
    fn default() -> Self {
        ReadOptions {
            allowed_drivers: None,
            shown_name: None,
            max_rows: DEFAULT_MAX_ROWS,
            max_unzipped_bytes: None,
            refuse_views: false,
        }
    }
}

/// Reads every feature of the first layer (or the layer named `sites` if there is one) of `path`.
pub fn read_sites(
    path: &Path,
    mapping: &Mapping,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<ImportRead, IoError> {
    read_sites_with(path, mapping, &ReadOptions::default(), progress)
}

/// [`read_sites`] with limits: the GDAL drivers allowed, the rows read, the bytes a zip may expand
/// to, no SQL views; messages name the file [`ReadOptions::shown_name`].
pub fn read_sites_with(
    path: &Path,
    mapping: &Mapping,
    options: &ReadOptions<'_>,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<ImportRead, IoError> {
    let real = path.display().to_string();
    let shown = options
        .shown_name
        .map_or_else(|| real.clone(), str::to_owned);
    let lower_name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let zipped = lower_name.ends_with(".zip");
    let open_path = if zipped {
        PathBuf::from(format!("/vsizip/{real}"))
    } else {
        path.to_owned()
    };
    // GDAL's messages may quote the path it was given: the user knows the file by another name.
    let vsi_path = open_path.display().to_string();
    let scrub = |reason: String| -> String {
        if options.shown_name.is_none() {
            return reason;
        }
        reason.replace(&vsi_path, &shown).replace(&real, &shown)
    };
    let file_err = |reason: String| IoError::File {
        path: shown.clone(),
        reason: scrub(reason),
    };
    if !path.exists() {
        return Err(file_err("no such file".into()));
    }
    check_before_gdal(path, options).map_err(|e| match e {
        Refused::TooLarge(reason) => IoError::TooLarge {
            path: shown.clone(),
            reason,
        },
        Refused::Invalid(reason) => file_err(reason),
    })?;
    let extension = lower_name.rsplit('.').next().unwrap_or("");
    let open = open_options(extension, mapping);
    let _headers = spreadsheet_headers(extension);
    let option_refs: Vec<&str> = open.iter().map(String::as_str).collect();
    let ds = super::open_vector_with(
        &open_path,
        (!option_refs.is_empty()).then_some(&option_refs[..]),
        options.allowed_drivers,
    )
    .map_err(&file_err)?;
    let driver = ds.driver().short_name();
    if options.refuse_views && driver == "GPKG" {
        // A GeoPackage inside a zip: checked now, before any layer is read.
        refuse_views_in(&ds).map_err(&file_err)?;
    }
    let names: Vec<String> = ds.layers().map(|l| l.name()).collect();
    let layer_name = match &mapping.layer {
        Some(wanted) => names
            .iter()
            .find(|n| *n == wanted)
            .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(wanted)))
            .ok_or_else(|| {
                file_err(format!(
                    "has no layer {wanted:?}; its layers are: {}",
                    names.join(", ")
                ))
            })?,
        None => names
            .iter()
            .find(|n| n.as_str() == LAYER)
            .or_else(|| names.first())
            .ok_or_else(|| file_err("has no vector layer".into()))?,
    }
    .clone();
    let mut layer = ds.layer_by_name(&layer_name).map_err(|e| {
        file_err(format!(
            "cannot read layer {layer_name:?}: {}",
            gdal_reason(&e)
        ))
    })?;
    let columns = Columns(layer.defn().fields().map(|f| f.name()).collect());
    let has_geometry = layer.defn().geom_fields().count() > 0;
    let crs = layer
        .spatial_ref()
        .and_then(|s| s.authority().ok().or_else(|| s.name()));
    let transform = super::to_wgs84(layer.spatial_ref()).map_err(&file_err)?;
    let reprojected_from = crs.filter(|_| transform.is_some());

    let mut sources = Vec::with_capacity(SiteField::ALL.len());
    let mut used: HashSet<usize> = HashSet::new();
    for field in SiteField::ALL {
        let source = resolve(field, mapping, &columns, has_geometry).map_err(&file_err)?;
        match &source {
            Source::Columns(idx) => used.extend(idx),
            Source::DerivedId(cols, _) => used.extend(cols.iter().flatten()),
            Source::Constant(_) | Source::Absent => {}
        }
        sources.push((field, source));
    }
    let is_kml = driver.eq_ignore_ascii_case("LIBKML") || driver.eq_ignore_ascii_case("KML");
    let ignored_columns = columns
        .0
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, name)| name)
        // GDAL made these into the geometry.
        .filter(|name| {
            !(driver == "CSV"
                && has_geometry
                && CSV_GEOM_NAMES.iter().any(|g| g.eq_ignore_ascii_case(name)))
        })
        .filter(|name| !(is_kml && KML_FIELDS.iter().any(|k| k.eq_ignore_ascii_case(name))))
        .cloned()
        .collect();

    let mut rows = Vec::new();
    for (n, feature) in layer.features().enumerate() {
        let row = n + 1;
        if row > options.max_rows {
            return Err(IoError::TooLarge {
                path: shown.clone(),
                reason: format!(
                    "layer {layer_name:?} has more than {} features, the most an import reads \
                     (import --max-rows, serve --max-import-rows)",
                    options.max_rows
                ),
            });
        }
        // Spreadsheets often end in formatted but empty rows.
        if feature_geometry(&feature).is_none()
            && (0..columns.0.len()).all(|i| read_cell(&feature, i).is_blank())
        {
            continue;
        }
        let site = draft_of(&feature, &sources, mapping, transform.as_ref())
            .and_then(|d| Site::try_from(d).map_err(|e| e.to_string()));
        rows.push(ImportRow { row, site });
        if rows.len() % 100 == 0 {
            progress(rows.len());
        }
    }
    mark_duplicates(&mut rows);
    progress(rows.len());
    Ok(ImportRead {
        rows,
        layer: layer_name,
        driver,
        ignored_columns,
        reprojected_from,
    })
}

/// Why [`check_before_gdal`] refused a file.
enum Refused {
    /// Over a limit on the work an import may do.
    TooLarge(String),
    /// Not a file an upload may be.
    Invalid(String),
}

/// The checks made before GDAL opens the file: a zip's unzipped size, a GeoPackage's views.
fn check_before_gdal(path: &Path, options: &ReadOptions<'_>) -> Result<(), Refused> {
    if let Some(max) = options.max_unzipped_bytes
        && is_zip(path)
    {
        super::guard::check_zip(path, max).map_err(|e| match e {
            super::guard::ZipRefusal::Unreadable => {
                Refused::Invalid("is not a zip archive whose directory can be read".into())
            }
            super::guard::ZipRefusal::TooLarge { total } => Refused::TooLarge(format!(
                "the zip archive expands to {total} bytes, more than the {max} bytes an upload may \
                 expand to (ten times serve --max-body-mb)"
            )),
        })?;
    }
    if options.refuse_views && super::guard::is_sqlite(path) {
        let schema = super::guard::sqlite_schema(path).map_err(Refused::Invalid)?;
        super::guard::refuse_views(&schema).map_err(Refused::Invalid)?;
    }
    Ok(())
}

/// Whether the file is a zip archive, by its first bytes (whatever its name).
fn is_zip(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && (head == *b"PK\x03\x04" || head == *b"PK\x05\x06")
}

/// [`super::guard::refuse_views`] on a GeoPackage GDAL has opened (one inside a zip).
fn refuse_views_in(ds: &Dataset) -> Result<(), String> {
    let unreadable = |_| "cannot read the GeoPackage's schema".to_owned();
    let mut result = ds
        .execute_sql(
            "SELECT type, name, COALESCE(sql, '') FROM sqlite_master",
            None,
            gdal::vector::sql::Dialect::DEFAULT,
        )
        .map_err(unreadable)?
        .ok_or("cannot read the GeoPackage's schema")?;
    let mut schema = Vec::new();
    for f in result.features() {
        let text = |i: usize| f.field_as_string(i).ok().flatten().unwrap_or_default();
        schema.push(super::guard::SchemaEntry {
            kind: text(0),
            name: text(1),
            sql: text(2),
        });
    }
    super::guard::refuse_views(&schema)
}

fn open_options(extension: &str, mapping: &Mapping) -> Vec<String> {
    match extension {
        "csv" | "tsv" => {
            let names = |defaults: &[&str], field: SiteField| {
                let mut names: Vec<String> = defaults.iter().map(|s| (*s).to_owned()).collect();
                // The list is comma-separated; a name with a comma cannot be passed.
                names.extend(
                    mapping
                        .columns
                        .get(&field)
                        .filter(|c| !c.contains(','))
                        .cloned(),
                );
                names.join(",")
            };
            vec![
                format!("X_POSSIBLE_NAMES={}", names(CSV_X_NAMES, SiteField::Lon)),
                format!("Y_POSSIBLE_NAMES={}", names(CSV_Y_NAMES, SiteField::Lat)),
                format!("GEOM_POSSIBLE_NAMES={}", CSV_GEOM_NAMES.join(",")),
                // The lon/lat columns stay readable for rows GDAL could not make a point of.
                "KEEP_GEOM_COLUMNS=YES".into(),
            ]
        }
        _ => vec![],
    }
}

/// A GDAL configuration option set for this thread until dropped, then restored.
struct ThreadConfig {
    key: &'static str,
    previous: Option<String>,
}

impl ThreadConfig {
    fn set(key: &'static str, value: &str) -> Self {
        let previous = gdal::config::get_thread_local_config_option(key, "")
            .ok()
            .filter(|v| !v.is_empty());
        // Failing to set it only costs the header detection below; reading still works.
        let _ = gdal::config::set_thread_local_config_option(key, value);
        ThreadConfig { key, previous }
    }
}

impl Drop for ThreadConfig {
    fn drop(&mut self) {
        let _ = match &self.previous {
            Some(v) => gdal::config::set_thread_local_config_option(self.key, v),
            None => gdal::config::clear_thread_local_config_option(self.key),
        };
    }
}

/// Spreadsheets: the header row is only detected when the data rows hold numbers, but an import
/// sheet always has one. GDAL 3.6 takes this as a configuration option only (no open option), and
/// reads the sheet lazily, so it stays set while the file is read.
fn spreadsheet_headers(extension: &str) -> Option<ThreadConfig> {
    match extension {
        "xlsx" | "xlsm" => Some(ThreadConfig::set("OGR_XLSX_HEADERS", "FORCE")),
        "ods" => Some(ThreadConfig::set("OGR_ODS_HEADERS", "FORCE")),
        _ => None,
    }
}

/// The feature's geometry, when it has a non-empty one.
fn feature_geometry<'f>(f: &'f Feature) -> Option<&'f Geometry> {
    let g = f.geometry()?;
    // SAFETY: only reads the handle the gdal crate holds. For a feature without geometry the crate
    // returns a wrapper around a null handle, which must not reach OGR.
    let null = unsafe { g.c_geometry() }.is_null();
    (!null && !g.is_empty()).then_some(g)
}

fn resolve(
    field: SiteField,
    mapping: &Mapping,
    columns: &Columns,
    has_geometry: bool,
) -> Result<Source, String> {
    if let Some(cell) = mapping.constants.get(&field) {
        return Ok(Source::Constant(cell.clone()));
    }
    if let Some(column) = mapping.columns.get(&field) {
        return match columns.find(column) {
            Some(idx) => Ok(Source::Columns(columns.with_parts(idx))),
            // A geometry makes lon/lat columns unnecessary.
            None if has_geometry && matches!(field, SiteField::Lon | SiteField::Lat) => {
                Ok(Source::Absent)
            }
            None => Err(missing_column(column, field, columns)),
        };
    }
    if field == SiteField::Id
        && let Some(rule) = &mapping.id
    {
        let idx = rule
            .from
            .columns()
            .into_iter()
            .map(|c| {
                columns
                    .find(c)
                    .map(|i| columns.with_parts(i))
                    .ok_or_else(|| missing_column(c, field, columns))
            })
            .collect::<Result<_, _>>()?;
        return Ok(Source::DerivedId(idx, rule.prefix.clone()));
    }
    Ok(field
        .default_columns()
        .iter()
        .find_map(|name| columns.find(name))
        .map_or(Source::Absent, |idx| {
            Source::Columns(columns.with_parts(idx))
        }))
}

fn missing_column(column: &str, field: SiteField, columns: &Columns) -> String {
    format!(
        "mapping reads `{}` from column {column:?}, which is not in the file; its columns are: {}",
        field.name(),
        columns.0.join(", ")
    )
}

fn read_cell(f: &Feature, idx: usize) -> Cell {
    // The gdal crate only asks OGR whether a field is null, and OGR reads an unset field (a KML
    // placemark without that `SimpleData`) as 0. OGR's text of an unset or null field is empty.
    if f.field_as_string(idx)
        .ok()
        .flatten()
        .is_none_or(|t| t.is_empty())
    {
        return Cell::Null;
    }
    match f.field(idx) {
        Ok(None) => Cell::Null,
        Ok(Some(v)) => match v {
            FieldValue::StringValue(s) => Cell::Text(s),
            FieldValue::IntegerValue(i) => Cell::Number(f64::from(i)),
            FieldValue::Integer64Value(i) => Cell::Number(i as f64),
            FieldValue::RealValue(r) => Cell::Number(r),
            FieldValue::StringListValue(l) => Cell::List(l),
            FieldValue::IntegerListValue(l) => Cell::List(l.iter().map(i32::to_string).collect()),
            FieldValue::Integer64ListValue(l) => Cell::List(l.iter().map(i64::to_string).collect()),
            FieldValue::RealListValue(l) => Cell::List(l.iter().map(f64::to_string).collect()),
            FieldValue::DateValue(d) => Cell::Text(d.to_string()),
            FieldValue::DateTimeValue(d) => Cell::Text(d.to_rfc3339()),
        },
        // Types the gdal crate does not convert (binary, …): GDAL's own text, if any.
        Err(_) => f
            .field_as_string(idx)
            .ok()
            .flatten()
            .map_or(Cell::Null, Cell::Text),
    }
}

/// A column's value, with the parts of a text a shapefile export cut up joined back.
fn read_joined(f: &Feature, idx: &[usize]) -> Cell {
    if idx.len() == 1 {
        return read_cell(f, idx[0]);
    }
    let mut joined = String::new();
    for &i in idx {
        match read_cell(f, i) {
            Cell::Null => {}
            Cell::Text(t) => joined.push_str(&t),
            // Not a split text after all: keep the column's own value.
            other if i == idx[0] => return other,
            _ => {}
        }
    }
    if joined.is_empty() {
        Cell::Null
    } else {
        Cell::Text(joined)
    }
}

fn draft_of(
    f: &Feature,
    sources: &[(SiteField, Source)],
    mapping: &Mapping,
    transform: Option<&CoordTransform>,
) -> Result<SiteDraft, String> {
    let mut draft = SiteDraft::default();
    let point = match feature_geometry(f) {
        None => None,
        Some(g) => {
            let ty = geometry_type_flatten(g.geometry_type());
            if ty != OGRwkbGeometryType::wkbPoint {
                return Err(format!(
                    "geometry: expected a Point, got {}",
                    geometry_type_to_name(ty)
                ));
            }
            let (mut x, mut y, _) = g.get_point(0);
            if let Some(t) = transform {
                let (mut xs, mut ys) = ([x], [y]);
                t.transform_coords(&mut xs, &mut ys, &mut []).map_err(|e| {
                    format!("geometry: cannot reproject to WGS 84: {}", gdal_reason(&e))
                })?;
                (x, y) = (xs[0], ys[0]);
            }
            Some((x, y))
        }
    };
    for (field, source) in sources {
        let vocabulary = mapping.values.get(field);
        match (field, point) {
            (SiteField::Lon, Some((x, _))) => draft.lon = Some(x),
            (SiteField::Lat, Some((_, y))) => draft.lat = Some(y),
            _ => match source {
                Source::Absent => {}
                // Constants are already in our vocabulary.
                Source::Constant(cell) => {
                    assign(&mut draft, *field, cell.clone(), None).map_err(|e| e.to_string())?
                }
                Source::Columns(idx) => assign(&mut draft, *field, read_joined(f, idx), vocabulary)
                    .map_err(|e| e.to_string())?,
                Source::DerivedId(cols, prefix) => {
                    let parts: Vec<String> = cols
                        .iter()
                        .filter_map(|idx| text_of(&read_joined(f, idx), vocabulary))
                        .collect();
                    if !parts.is_empty() {
                        draft.id =
                            Some(derive_id(prefix, &parts.join("-")).map_err(|e| e.to_string())?);
                    }
                }
            },
        }
    }
    Ok(draft)
}

/// `prefix` + a slug of `value` (Cyrillic and accented letters transliterated), within the rules of
/// [`SiteId::parse`].
pub fn derive_id(prefix: &str, value: &str) -> Result<String, ModelError> {
    let mut slug = String::new();
    for c in value.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            slug.push(c);
        } else if let Some(t) = transliterate(c) {
            slug.push_str(t);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        return Err(ModelError::Invalid {
            field: "id",
            value: value.to_owned(),
            reason: "no letters or digits to make an id from".into(),
        });
    }
    let id = format!("{prefix}{slug}");
    Ok(truncate_bytes(&id, 128).trim_end_matches('-').to_owned())
}

/// Latin letters for the Cyrillic and accented letters of Central Asian names (lower case).
fn transliterate(c: char) -> Option<&'static str> {
    Some(match c {
        'а' | 'ә' | 'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'ā' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'ғ' | 'ğ' => "gh",
        'д' => "d",
        'е' | 'э' | 'é' | 'è' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' => "e",
        'ё' => "yo",
        'ж' => "zh",
        'з' | 'ž' | 'ź' | 'ż' => "z",
        'и' | 'і' | 'ӣ' | 'í' | 'ì' | 'î' | 'ï' | 'ī' | 'ı' => "i",
        'й' | 'ы' | 'ý' | 'ÿ' => "y",
        'к' => "k",
        'қ' => "q",
        'л' => "l",
        'м' => "m",
        'н' | 'ñ' | 'ń' | 'ň' => "n",
        'ң' => "ng",
        'о' | 'ө' | 'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'ō' | 'ő' => "o",
        'п' => "p",
        'р' => "r",
        'с' | 'ś' => "s",
        'ş' | 'š' => "sh",
        'т' => "t",
        'у' | 'ұ' | 'ү' | 'ӯ' | 'ú' | 'ù' | 'û' | 'ü' | 'ū' | 'ű' => "u",
        'ф' => "f",
        'х' | 'ҳ' => "kh",
        'һ' => "h",
        'ц' => "ts",
        'ч' | 'ç' | 'č' => "ch",
        'ҷ' => "j",
        'ш' => "sh",
        'щ' => "shch",
        'ю' => "yu",
        'я' => "ya",
        'ß' => "ss",
        // Signs and apostrophes (Uzbek oʻ, gʻ) vanish rather than split the word.
        'ъ' | 'ь' | 'ʻ' | 'ʼ' | '\'' | '‘' | '’' => "",
        _ => return None,
    })
}

/// The text of a value for a text field, translated through the field's vocabulary.
fn text_of(cell: &Cell, vocabulary: Option<&HashMap<String, String>>) -> Option<String> {
    let text = match cell {
        Cell::Null => return None,
        Cell::Text(t) => t.trim().to_owned(),
        Cell::Number(n) => n.to_string(),
        Cell::List(l) => l.join("; "),
    };
    let text = translate(&text, vocabulary);
    (!text.is_empty()).then_some(text)
}

fn translate(text: &str, vocabulary: Option<&HashMap<String, String>>) -> String {
    vocabulary
        .and_then(|v| v.get(&vocabulary_key(text)))
        .map_or_else(|| text.trim().to_owned(), |t| t.trim().to_owned())
}

fn invalid(field: SiteField, value: impl Into<String>, reason: &str) -> ModelError {
    ModelError::Invalid {
        field: field.name(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// Converts `cell` to `field`'s type and stores it in `draft`.
fn assign(
    draft: &mut SiteDraft,
    field: SiteField,
    cell: Cell,
    vocabulary: Option<&HashMap<String, String>>,
) -> Result<(), ModelError> {
    match field.kind() {
        FieldKind::Text => {
            let mut text = text_of(&cell, vocabulary);
            // Our vocabularies are lower case; "Active" is a spelling, not another value. A value
            // that is not ours stays as given so the error quotes it.
            if let Some(t) = text.as_mut() {
                let lower = t.to_ascii_lowercase();
                let known = match field {
                    SiteField::Kind => lower.parse::<SiteKind>().is_ok(),
                    SiteField::Status => lower.parse::<SiteStatus>().is_ok(),
                    SiteField::Precision => lower.parse::<CoordinatePrecision>().is_ok(),
                    _ => false,
                };
                if known {
                    *t = lower;
                }
            }
            let slot = match field {
                SiteField::Id => &mut draft.id,
                SiteField::Name => &mut draft.name,
                SiteField::LocalName => &mut draft.local_name,
                SiteField::Kind => &mut draft.kind,
                SiteField::Activity => &mut draft.activity,
                SiteField::Country => &mut draft.country,
                SiteField::Status => &mut draft.status,
                SiteField::StatusNote => &mut draft.status_note,
                SiteField::Precision => &mut draft.precision,
                _ => &mut draft.receiving_river,
            };
            *slot = text;
        }
        FieldKind::Number => {
            let value = match cell {
                Cell::Number(n) => Some(n),
                other => match text_of(&other, vocabulary) {
                    None => None,
                    Some(t) => Some(
                        t.parse::<f64>()
                            .map_err(|_| invalid(field, t, "expected a number"))?,
                    ),
                },
            };
            let slot = match field {
                SiteField::Lon => &mut draft.lon,
                SiteField::Lat => &mut draft.lat,
                SiteField::VolumeM3 => &mut draft.volume_m3,
                SiteField::TonnageT => &mut draft.tonnage_t,
                SiteField::DamHeightM => &mut draft.dam_height_m,
                _ => &mut draft.area_m2,
            };
            *slot = value;
        }
        FieldKind::List => {
            let items: Vec<String> = match cell {
                Cell::Null => vec![],
                Cell::Number(n) => vec![n.to_string()],
                Cell::List(l) => l,
                Cell::Text(t) => {
                    let t = t.trim();
                    if t.starts_with('[') {
                        serde_json::from_str::<Vec<String>>(t).map_err(|e| {
                            invalid(field, t, &format!("not a JSON array of text: {e}"))
                        })?
                    } else {
                        t.split(';').map(str::to_owned).collect()
                    }
                }
            };
            let items = items
                .iter()
                .map(|i| translate(i, vocabulary))
                .filter(|i| !i.is_empty())
                .collect();
            if field == SiteField::Substances {
                draft.substances = items;
            } else {
                draft.sources = items;
            }
        }
        FieldKind::Object => {
            draft.attributes = match cell {
                Cell::Null => Map::new(),
                Cell::Text(t) if t.trim().is_empty() => Map::new(),
                Cell::Text(t) => serde_json::from_str::<Map<String, Value>>(t.trim())
                    .map_err(|e| invalid(field, t.trim(), &format!("not a JSON object: {e}")))?,
                Cell::Number(n) => return Err(invalid(field, n.to_string(), "not a JSON object")),
                Cell::List(l) => return Err(invalid(field, l.join("; "), "not a JSON object")),
            };
        }
    }
    Ok(())
}

/// A later row with an id already read is an error: the file does not say which one it means.
fn mark_duplicates(rows: &mut [ImportRow]) {
    let mut first: HashMap<SiteId, usize> = HashMap::new();
    for r in rows.iter_mut() {
        let Ok(site) = &r.site else { continue };
        if let Some(earlier) = first.get(&site.id) {
            r.site = Err(format!(
                "field `id`: {} is already used by row {earlier}",
                site.id
            ));
        } else {
            first.insert(site.id.clone(), r.row);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::sync::atomic::AtomicUsize;

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// A directory under the system temp dir, removed when dropped (also when the test fails).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let p = std::env::temp_dir()
                .join(format!("atlas-sites-file-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }

        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }

        fn entries(&self) -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn repo(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    fn fixture(name: &str) -> PathBuf {
        repo("tests/fixtures/import").join(name)
    }

    fn no_progress(_: usize) {}

    fn read_ok(path: &Path, mapping: &Mapping) -> (Vec<Site>, ImportRead) {
        let read = read_sites(path, mapping, &no_progress)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let sites = read
            .rows
            .iter()
            .map(|r| {
                r.site
                    .clone()
                    .unwrap_or_else(|e| panic!("{}: row {}: {e}", path.display(), r.row))
            })
            .collect();
        (sites, read)
    }

    fn site(d: SiteDraft) -> Site {
        Site::try_from(d).unwrap()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn tool(name: &str) -> bool {
        let found = Command::new(name).arg("--version").output().is_ok();
        if !found {
            eprintln!("skipped: {name} is not installed");
        }
        found
    }

    fn run(cmd: &mut Command) {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Five sites with every field used somewhere, long texts that a shapefile must split, and one
    /// site with every optional field empty.
    fn sample_sites() -> Vec<Site> {
        let attributes = serde_json::json!({
            "founded": 1946,
            "note": "the pile sits on a landslide-prone slope above the Mailuu-Suu river; a 1958 \
                     dam failure released about 600 000 m³ of tailings into the river, which \
                     flows into the Fergana Valley and on to Uzbekistan",
            "risk": {"level": "high", "score": 0.75},
            "tags": ["uranium", "legacy", "landslide"]
        });
        vec![
            site(SiteDraft {
                id: Some("kgz_mailuu_suu_tp3".into()),
                name: Some("Mailuu-Suu tailings pile 3".into()),
                local_name: Some("Майлуу-Суу хвостохранилище № 3".into()),
                kind: Some("tailings".into()),
                activity: Some("uranium legacy".into()),
                country: Some("KGZ".into()),
                status: Some("legacy".into()),
                status_note: Some("remediated 2013–2017 under the EU programme".into()),
                lon: Some(72.448039),
                lat: Some(41.2457479),
                precision: Some("site".into()),
                volume_m3: Some(1.5e6),
                tonnage_t: Some(2.7e6),
                dam_height_m: Some(12.5),
                area_m2: Some(31_000.0),
                substances: strings(&["U", "Ra-226", "Th-230"]),
                receiving_river: Some("Mailuu-Suu".into()),
                sources: strings(&[
                    "https://www.iaea.org/sites/default/files/central-asia-uranium-legacy-sites.pdf",
                    "https://example.org/reports/mailuu-suu tailings pile 3 (2014 survey).pdf",
                    "Министерство чрезвычайных ситуаций Кыргызской Республики, 2019",
                    "https://www.unece.org/fileadmin/DAM/env/epr/epr_studies/kyrgyzstan.pdf",
                    "https://example.org/a/very/long/path/to/another/report/about/the/same/pile",
                ]),
                attributes: attributes.as_object().unwrap().clone(),
            }),
            site(SiteDraft {
                id: Some("tjk_degmay".into()),
                name: Some("Degmay tailings".into()),
                local_name: Some("Дигмай".into()),
                kind: Some("tailings".into()),
                activity: Some("uranium processing legacy".into()),
                country: Some("TJK".into()),
                status: Some("inactive".into()),
                // Cyrillic text longer than a DBF field: cut at character boundaries.
                status_note: Some(
                    "Хвостохранилище Дигмай — одно из крупнейших в Центральной Азии; \
                     работы по консервации начаты, но не завершены, пыление с поверхности \
                     продолжается, мониторинг ведётся нерегулярно."
                        .into(),
                ),
                lon: Some(69.75),
                lat: Some(40.25),
                precision: Some("site_approx".into()),
                volume_m3: Some(2e7),
                tonnage_t: Some(3.6e7),
                dam_height_m: Some(40.0),
                area_m2: Some(9e5),
                substances: strings(&["U", "Th", "Ra-226"]),
                receiving_river: Some("Syr Darya".into()),
                sources: strings(&["https://example.org/degmay"]),
                attributes: Map::new(),
            }),
            site(SiteDraft {
                id: Some("uzb_almalyk_tsf2".into()),
                name: Some("Almalyk MMC tailings storage 2".into()),
                local_name: Some("Олмалиқ КМК".into()),
                kind: Some("tailings".into()),
                activity: Some("copper-gold processing".into()),
                country: Some("UZB".into()),
                status: Some("active".into()),
                status_note: Some("active (expanding)".into()),
                lon: Some(69.608),
                lat: Some(40.852),
                precision: Some("site_approx".into()),
                volume_m3: Some(7.25e8),
                tonnage_t: Some(1.5e9),
                dam_height_m: Some(65.5),
                area_m2: Some(7.5e6),
                substances: strings(&["Cu", "Mo", "As"]),
                receiving_river: Some("Akhangaran".into()),
                sources: strings(&["https://example.org/almalyk"]),
                attributes: serde_json::json!({"operator": "АГМК"})
                    .as_object()
                    .unwrap()
                    .clone(),
            }),
            site(SiteDraft {
                id: Some("kaz_kentau_achisai".into()),
                name: Some("Кентау «Ачисай» tailings".into()),
                local_name: Some("Ачисай".into()),
                kind: Some("hazardous_site".into()),
                activity: Some("lead-zinc legacy".into()),
                country: Some("KAZ".into()),
                status: Some("remediated".into()),
                lon: Some(68.50463),
                lat: Some(43.51672),
                precision: Some("town".into()),
                sources: strings(&["http://greenwomen.kz/xxi_pollut2_eng.htm"]),
                ..SiteDraft::default()
            }),
            site(SiteDraft {
                id: Some("kgz_minimal".into()),
                name: Some("Unnamed dump near Shekaftar".into()),
                kind: Some("hazardous_site".into()),
                activity: Some("uranium legacy".into()),
                country: Some("KGZ".into()),
                lon: Some(71.33),
                lat: Some(41.46),
                precision: Some("town".into()),
                sources: strings(&["https://example.org/shekaftar"]),
                ..SiteDraft::default()
            }),
        ]
    }

    /// Site properties followed by analysis-like fields, as the exporter receives them.
    fn export_properties(sites: &[Site]) -> Vec<Map<String, Value>> {
        sites
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut p = s.properties();
                p.insert(
                    "river_distance_m".into(),
                    (i != 3).then_some(1234.5 * i as f64).into(),
                );
                p.insert("downstream_countries".into(), "KGZ,UZB,KAZ".into());
                p.insert("runout_reaches_border".into(), (i % 2 == 0).into());
                p.insert("nearest_river_id".into(), format!("ne-{i}-1").into());
                p
            })
            .collect()
    }

    fn features<'a>(sites: &[Site], props: &'a [Map<String, Value>]) -> Vec<ExportFeature<'a>> {
        sites
            .iter()
            .zip(props)
            .map(|(s, p)| ExportFeature {
                lon: s.location.lon(),
                lat: s.location.lat(),
                properties: p,
            })
            .collect()
    }

    #[test]
    fn sample_has_texts_longer_than_a_dbf_field() {
        let sites = sample_sites();
        let p = sites[0].properties();
        assert!(p["sources"].to_string().len() > DBF_TEXT_MAX);
        assert!(p["attributes"].to_string().len() > DBF_TEXT_MAX);
        assert!(sites[1].status_note.as_ref().unwrap().len() > DBF_TEXT_MAX);
    }

    #[test]
    fn round_trip_every_format() {
        let dir = TempDir::new("round-trip");
        let sites = sample_sites();
        let props = export_properties(&sites);
        let features = features(&sites, &props);
        for &format in ExportFormat::ALL {
            let out = dir.path(format.file_name());
            write_sites(&out, format, &features).unwrap_or_else(|e| panic!("{format}: {e}"));
            let (back, read) = read_ok(&out, &Mapping::default());
            assert_eq!(back, sites, "{format} ({})", read.driver);
            assert_eq!(read.layer, "sites", "{format}");
            assert_eq!(read.reprojected_from, None, "{format}");
            let analysis = if format == ExportFormat::Shp {
                ["river_m", "ds_cntries", "ro_border", "river_id"]
            } else {
                [
                    "river_distance_m",
                    "downstream_countries",
                    "runout_reaches_border",
                    "nearest_river_id",
                ]
            };
            assert_eq!(read.ignored_columns, analysis, "{format}");
        }
        // Only the exports: no temporary directory or side file is left.
        let mut expected: Vec<String> = ExportFormat::ALL
            .iter()
            .map(|f| f.file_name().to_owned())
            .collect();
        expected.sort();
        assert_eq!(dir.entries(), expected);
    }

    #[test]
    fn shapefile_columns_fit_dbf_limits() {
        let dir = TempDir::new("dbf-limits");
        let sites = sample_sites();
        let props = export_properties(&sites);
        let out = dir.path("sites.shp.zip");
        write_sites(&out, ExportFormat::Shp, &features(&sites, &props)).unwrap();
        let ds = super::super::open_vector(Path::new(&format!("/vsizip/{}", out.display())), None)
            .unwrap();
        let layer = ds.layer_by_name("sites").unwrap();
        let names: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
        for n in &names {
            assert!(n.len() <= DBF_NAME_MAX, "{n}");
        }
        for n in [
            "status_nt",
            "status_n_2",
            "dam_h_m",
            "recv_river",
            "sources",
            "sources_2",
            "attributes",
            "attribut_2",
        ] {
            assert!(names.iter().any(|c| c == n), "{n} missing from {names:?}");
        }
        for f in layer.defn().fields() {
            if f.field_type() == OGRFieldType::OFTString {
                assert!(f.width() <= DBF_TEXT_MAX as i32, "{}", f.name());
            }
        }
    }

    #[test]
    fn gpkg_opens_in_ogrinfo() {
        if !tool("ogrinfo") {
            return;
        }
        let dir = TempDir::new("ogrinfo");
        let sites = sample_sites();
        let props = export_properties(&sites);
        let out = dir.path("sites.gpkg");
        write_sites(&out, ExportFormat::Gpkg, &features(&sites, &props)).unwrap();
        let o = Command::new("ogrinfo")
            .args(["-so", "-ro"])
            .arg(&out)
            .arg("sites")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(text.contains("Layer name: sites"), "{text}");
        assert!(text.contains("Feature Count: 5"), "{text}");
        assert!(text.contains("EPSG\",4326"), "{text}");
    }

    #[test]
    fn full_precision_survives_all_but_kml() {
        let dir = TempDir::new("precision");
        let sites = vec![
            site(SiteDraft {
                id: Some("p17".into()),
                name: Some("seventeen digits".into()),
                kind: Some("tailings".into()),
                activity: Some("test".into()),
                country: Some("KGZ".into()),
                lon: Some(72.448_039_123_456_78),
                lat: Some(41.245_747_912_345_67),
                precision: Some("site".into()),
                volume_m3: Some(1_234_567.891_234_567_8),
                dam_height_m: Some(12.345_678_901_234_567),
                sources: strings(&["s"]),
                ..SiteDraft::default()
            }),
            site(SiteDraft {
                id: Some("small".into()),
                name: Some("small coordinates".into()),
                kind: Some("tailings".into()),
                activity: Some("test".into()),
                country: Some("KGZ".into()),
                lon: Some(5.123_456_789_012_345),
                lat: Some(-0.000_123_456_789_012_345_67),
                precision: Some("site".into()),
                tonnage_t: Some(1e-7),
                area_m2: Some(9.876_543_210_987_654e12),
                sources: strings(&["s"]),
                ..SiteDraft::default()
            }),
        ];
        let props: Vec<_> = sites.iter().map(Site::properties).collect();
        let features = features(&sites, &props);
        for &format in ExportFormat::ALL {
            if format == ExportFormat::Kml {
                continue; // 15 significant digits, documented.
            }
            let out = dir.path(format.file_name());
            write_sites(&out, format, &features).unwrap_or_else(|e| panic!("{format}: {e}"));
            let (back, _) = read_ok(&out, &Mapping::default());
            assert_eq!(back, sites, "{format}");
        }
    }

    #[test]
    fn failed_export_leaves_nothing_behind() {
        let dir = TempDir::new("failed-export");
        let sites = sample_sites();
        let props = export_properties(&sites);
        let mut bad = features(&sites, &props);
        bad[2].lat = f64::NAN;
        let err = write_sites(&dir.path("sites.gpkg"), ExportFormat::Gpkg, &bad).unwrap_err();
        assert!(matches!(err, IoError::Row { row: 3, .. }), "{err}");
        assert!(err.to_string().contains("lat"), "{err}");
        assert!(dir.entries().is_empty(), "{:?}", dir.entries());

        // Written, then the rename fails: the target is a non-empty directory.
        let target = dir.path("taken.gpkg");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), "x").unwrap();
        let err = write_sites(&target, ExportFormat::Gpkg, &features(&sites, &props)).unwrap_err();
        assert!(err.to_string().contains("cannot move into place"), "{err}");
        assert_eq!(dir.entries(), ["taken.gpkg"]);
    }

    #[test]
    fn export_format_names() {
        for &f in ExportFormat::ALL {
            assert_eq!(ExportFormat::parse(f.as_str()).unwrap(), f);
            assert_eq!(ExportFormat::parse(&f.as_str().to_uppercase()).unwrap(), f);
            assert!(f.file_name().starts_with("sites."));
        }
        assert_eq!(
            " GeoJSON ".parse::<ExportFormat>().unwrap(),
            ExportFormat::GeoJson
        );
        assert_eq!(ExportFormat::Shp.media_type(), "application/zip");
        let err = ExportFormat::parse("xls").unwrap_err().to_string();
        assert!(err.contains("\"xls\""), "{err}");
        assert!(err.contains("gpkg, shp, kml, csv, fgb, geojson"), "{err}");
    }

    #[test]
    fn dbf_text_split_is_lossless() {
        let mut rng = StdRng::seed_from_u64(20240611);
        let alphabet: Vec<char> = "ab c  dé Жж№ «»😀\t-_[]\"".chars().collect();
        for _ in 0..500 {
            let len = rng.random_range(0..900);
            let text: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let parts = split_dbf_text(&text);
            assert_eq!(parts.concat(), text);
            for (i, p) in parts.iter().enumerate() {
                assert!(p.len() <= DBF_TEXT_MAX);
                if i + 1 < parts.len() {
                    assert!(!p.ends_with(char::is_whitespace), "{p:?}");
                    assert!(!parts[i + 1].starts_with(char::is_whitespace));
                }
            }
        }
    }

    #[test]
    fn dbf_names_are_short_unique_and_stable() {
        let names = dbf_names(&[
            ("downstream_water_bodies_extra", 1),
            ("attributes", 3),
            ("status_note", 2),
            ("river_distance_m", 1),
            ("downstream_water_bodies_more", 1),
            ("sources_2", 1),
            ("sources", 2),
        ])
        .unwrap();
        assert_eq!(names[0], ["downstream"]);
        assert_eq!(names[1], ["attributes", "attribut_2", "attribut_3"]);
        assert_eq!(names[2], ["status_nt", "status_n_2"]);
        assert_eq!(names[3], ["river_m"]);
        assert_eq!(names[4], ["downstre_1"]);
        // The site field keeps its continuation name; the other key yields.
        assert_eq!(names[6], ["sources", "sources_2"]);
        assert_eq!(names[5], ["sources__1"]);
        assert_eq!(continuation_name("sources", 10), "sources_10");
        let all: Vec<&String> = names.iter().flatten().collect();
        let unique: HashSet<String> = all.iter().map(|n| n.to_lowercase()).collect();
        assert_eq!(unique.len(), all.len());
        // The table itself: short, unique, and no short name is a site field.
        let mut seen = HashSet::new();
        for (long, short) in SHAPEFILE_NAMES {
            assert!(long.len() > DBF_NAME_MAX && short.len() <= DBF_NAME_MAX);
            assert!(seen.insert(*short), "{short} twice");
            assert!(SiteField::from_name(short).is_none());
        }
    }

    #[test]
    fn dbf_reals_read_back_exactly() {
        let values = [0.1 + 0.2, 1.5e9, 72.448039, 1e-7, 2.0];
        let (width, decimals) = dbf_real_format(&values).unwrap();
        for v in values {
            let text = format!(
                "{v:width$.p$}",
                width = width as usize,
                p = decimals as usize
            );
            assert_eq!(text.len(), width as usize);
            assert_eq!(text.trim().parse::<f64>().unwrap(), v);
        }
        assert_eq!(dbf_real_format(&[1e300]), None);
    }

    #[test]
    fn ids_are_derived_as_slugs() {
        assert_eq!(
            derive_id("gtp-", "Kumtor Central Valley TSF").unwrap(),
            "gtp-kumtor-central-valley-tsf"
        );
        assert_eq!(derive_id("", "Кумтөр  (No. 2)").unwrap(), "kumtor-no-2");
        assert_eq!(derive_id("x-", "Oʻzbekiston").unwrap(), "x-ozbekiston");
        let err = derive_id("gtp-", "—").unwrap_err();
        assert_eq!(err.field(), "id");
        assert!(SiteId::parse(&derive_id("p-", &"ab ".repeat(100)).unwrap()).is_ok());
    }

    /// The three sites of the `tests/fixtures/import/sites_*` files.
    fn fixture_sites() -> Vec<Site> {
        vec![
            site(SiteDraft {
                id: Some("kgz_mailuu_suu_tp3".into()),
                name: Some("Mailuu-Suu tailings pile 3".into()),
                local_name: Some("Майлуу-Суу хвостохранилище № 3".into()),
                kind: Some("tailings".into()),
                activity: Some("uranium legacy".into()),
                country: Some("KGZ".into()),
                status: Some("legacy".into()),
                status_note: Some("remediated 2013-2017, monitored".into()),
                lon: Some(72.448039),
                lat: Some(41.2457479),
                precision: Some("site".into()),
                volume_m3: Some(1.5e6),
                dam_height_m: Some(12.5),
                substances: strings(&["U", "Ra-226"]),
                receiving_river: Some("Mailuu-Suu".into()),
                sources: strings(&["https://example.org/mailuu-report"]),
                attributes: serde_json::json!({"founded": 1946})
                    .as_object()
                    .unwrap()
                    .clone(),
                ..SiteDraft::default()
            }),
            site(SiteDraft {
                id: Some("tjk_degmay".into()),
                name: Some("Degmay tailings".into()),
                local_name: Some("Дигмай".into()),
                kind: Some("tailings".into()),
                activity: Some("uranium processing legacy".into()),
                country: Some("TJK".into()),
                status: Some("inactive".into()),
                lon: Some(69.75),
                lat: Some(40.25),
                precision: Some("site_approx".into()),
                volume_m3: Some(2e7),
                tonnage_t: Some(3.6e7),
                dam_height_m: Some(40.0),
                area_m2: Some(9e5),
                substances: strings(&["U", "Th", "Ra-226"]),
                receiving_river: Some("Syr Darya".into()),
                sources: strings(&[
                    "https://example.org/degmay",
                    "https://example.org/iaea-2020",
                ]),
                ..SiteDraft::default()
            }),
            site(SiteDraft {
                id: Some("uzb_angren_tsf".into()),
                name: Some("Angren ash and tailings".into()),
                kind: Some("hazardous_site".into()),
                activity: Some("coal and gold processing".into()),
                country: Some("UZB".into()),
                // "Active" in the files: our vocabulary, spelled in another case.
                status: Some("active".into()),
                lon: Some(70.1436),
                lat: Some(41.0167),
                precision: Some("town".into()),
                receiving_river: Some("Akhangaran".into()),
                sources: strings(&["https://example.org/angren"]),
                attributes: serde_json::json!({"note": "coordinate is the town"})
                    .as_object()
                    .unwrap()
                    .clone(),
                ..SiteDraft::default()
            }),
        ]
    }

    #[test]
    fn imports_csv_with_lon_lat_columns() {
        let calls = AtomicUsize::new(0);
        let last = AtomicUsize::new(0);
        let progress = |n: usize| {
            calls.fetch_add(1, Ordering::Relaxed);
            last.store(n, Ordering::Relaxed);
        };
        let read =
            read_sites(&fixture("sites_lonlat.csv"), &Mapping::default(), &progress).unwrap();
        assert_eq!(read.driver, "CSV");
        assert_eq!(read.layer, "sites_lonlat");
        assert!(
            read.ignored_columns.is_empty(),
            "{:?}",
            read.ignored_columns
        );
        assert_eq!(read.reprojected_from, None);
        assert_eq!(
            read.rows.iter().map(|r| r.row).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        let sites: Vec<Site> = read.rows.into_iter().map(|r| r.site.unwrap()).collect();
        assert_eq!(sites, fixture_sites());
        assert!(calls.load(Ordering::Relaxed) >= 1);
        assert_eq!(last.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn imports_csv_with_wkt_column() {
        let (sites, read) = read_ok(&fixture("sites_wkt.csv"), &Mapping::default());
        assert_eq!(sites, fixture_sites());
        // The WKT column became the geometry: it is not reported as ignored.
        assert!(
            read.ignored_columns.is_empty(),
            "{:?}",
            read.ignored_columns
        );
    }

    #[test]
    fn imports_projected_geojson_reprojected_to_wgs84() {
        let (sites, read) = read_ok(&fixture("sites_utm42n.geojson"), &Mapping::default());
        assert_eq!(read.reprojected_from.as_deref(), Some("EPSG:32642"));
        let expected = fixture_sites();
        assert_eq!(sites.len(), expected.len());
        for (mut got, want) in sites.into_iter().zip(expected) {
            let (dlon, dlat) = (
                got.location.lon() - want.location.lon(),
                got.location.lat() - want.location.lat(),
            );
            assert!(
                dlon.abs() < 1e-6 && dlat.abs() < 1e-6,
                "{}: {dlon} {dlat}",
                want.id
            );
            // Native list and object fields, not JSON text, in this file.
            got.location = want.location;
            assert_eq!(got, want);
        }
    }

    #[test]
    fn imports_xlsx_kml_and_zipped_shapefile_made_by_ogr2ogr() {
        if !tool("ogr2ogr") {
            return;
        }
        let dir = TempDir::new("ogr2ogr");
        let csv = fixture("sites_lonlat.csv");
        let as_points = [
            "-oo",
            "X_POSSIBLE_NAMES=lon",
            "-oo",
            "Y_POSSIBLE_NAMES=lat",
            "-a_srs",
            "EPSG:4326",
        ];
        let xlsx = dir.path("sites.xlsx");
        run(Command::new("ogr2ogr")
            .args(["-f", "XLSX"])
            .arg(&xlsx)
            .arg(&csv));
        let kml = dir.path("sites.kml");
        run(Command::new("ogr2ogr")
            .args(["-f", "KML"])
            .arg(&kml)
            .arg(&csv)
            .args(as_points));
        // GDAL truncates long names (status_note → status_not): the importer knows them.
        let shp = dir.path("sites.shp.zip");
        run(Command::new("ogr2ogr")
            .args([
                "-f",
                "ESRI Shapefile",
                "-lco",
                "ENCODING=UTF-8",
                "-nln",
                "sites",
            ])
            .arg(&shp)
            .arg(&csv)
            .args(as_points));
        let upload = dir.path("upload.zip");
        std::fs::copy(&shp, &upload).unwrap();
        for (path, driver) in [
            (&xlsx, "XLSX"),
            (&kml, "LIBKML"),
            (&shp, "ESRI Shapefile"),
            (&upload, "ESRI Shapefile"),
        ] {
            let (sites, read) = read_ok(path, &Mapping::default());
            assert_eq!(read.driver, driver, "{}", path.display());
            assert_eq!(sites, fixture_sites(), "{}", path.display());
            assert!(
                read.ignored_columns.is_empty(),
                "{}: {:?}",
                path.display(),
                read.ignored_columns
            );
        }
    }

    #[test]
    fn global_tailings_portal_sheet() {
        let mapping = Mapping::load(&repo("config/mappings/global-tailings-portal.json")).unwrap();
        let read = read_sites(&fixture("gtp_sample.csv"), &mapping, &no_progress).unwrap();
        assert!(
            read.ignored_columns.is_empty(),
            "{:?}",
            read.ignored_columns
        );
        assert_eq!(read.rows.len(), 5);
        let gtp = |id: &str, name: &str, country: &str, status: &str, lon, lat| SiteDraft {
            id: Some(id.into()),
            name: Some(name.into()),
            kind: Some("tailings".into()),
            activity: Some("mining".into()),
            country: Some(country.into()),
            status: Some(status.into()),
            lon: Some(lon),
            lat: Some(lat),
            precision: Some("site".into()),
            sources: strings(&["Global Tailings Portal (GRID-Arendal), https://tailing.grida.no/"]),
            ..SiteDraft::default()
        };
        let expected = [
            site(SiteDraft {
                dam_height_m: Some(32.0),
                volume_m3: Some(8.5e7),
                ..gtp(
                    "gtp-kumtor-central-valley-tsf",
                    "Kumtor Central Valley TSF",
                    "KGZ",
                    "active",
                    78.192,
                    41.862,
                )
            }),
            site(SiteDraft {
                dam_height_m: Some(65.0),
                ..gtp(
                    "gtp-almalyk-mmc-tailings-storage-no-2",
                    "Almalyk MMC Tailings Storage No. 2",
                    "UZB",
                    "active",
                    69.608,
                    40.852,
                )
            }),
            site(SiteDraft {
                volume_m3: Some(4.2e6),
                ..gtp(
                    "gtp-zeravshan-jilau-tsf",
                    "Zeravshan Jilau TSF",
                    "TJK",
                    "inactive",
                    68.57,
                    39.39,
                )
            }),
        ];
        for (row, want) in read.rows.iter().zip(&expected) {
            assert_eq!(row.site.as_ref(), Ok(want), "row {}", row.row);
        }
        let errors: Vec<(usize, &String)> = read
            .rows
            .iter()
            .filter_map(|r| r.site.as_ref().err().map(|e| (r.row, e)))
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].0, 4);
        assert!(
            errors[0].1.contains("`lat`") && errors[0].1.contains("435.2"),
            "{errors:?}"
        );
        assert_eq!(errors[1].0, 5);
        assert!(
            errors[1].1.contains("`status`") && errors[1].1.contains("Proposed"),
            "{errors:?}"
        );
    }

    #[test]
    fn mapping_from_cli_flags() {
        let dir = TempDir::new("cli-mapping");
        let path = dir.path("sheet.csv");
        std::fs::write(
            &path,
            "Facility,Nation,Lat_deg,Lon_deg,Vol,Notes\n\
             Kara-Balta uranium mill tailings,kgz,42.78,73.85,1500000,near the town\n",
        )
        .unwrap();
        let mut m = Mapping::default();
        for (field, column) in [
            ("name", "Facility"),
            ("country", "Nation"),
            ("lat", "Lat_deg"),
            ("lon", "Lon_deg"),
            ("volume_m3", "Vol"),
        ] {
            m.map_column(field, column).unwrap();
        }
        for (field, value) in [
            ("id", "kgz_kara_balta"),
            ("kind", "Tailings"),
            ("activity", "uranium milling"),
            ("precision", "site"),
            ("sources", "https://example.org/a; https://example.org/b"),
        ] {
            m.set_constant(field, value).unwrap();
        }
        let (sites, read) = read_ok(&path, &m);
        assert_eq!(read.ignored_columns, ["Notes"]);
        assert_eq!(
            sites,
            [site(SiteDraft {
                id: Some("kgz_kara_balta".into()),
                name: Some("Kara-Balta uranium mill tailings".into()),
                kind: Some("tailings".into()),
                activity: Some("uranium milling".into()),
                country: Some("KGZ".into()),
                lon: Some(73.85),
                lat: Some(42.78),
                precision: Some("site".into()),
                volume_m3: Some(1.5e6),
                sources: strings(&["https://example.org/a", "https://example.org/b"]),
                ..SiteDraft::default()
            })]
        );

        let err = m.map_column("volume", "Vol").unwrap_err().to_string();
        assert!(
            err.contains("`volume`") && err.contains("volume_m3"),
            "{err}"
        );
        let err = m
            .set_constant("precision", "exact")
            .unwrap_err()
            .to_string();
        assert!(err.contains("precision") && err.contains("exact"), "{err}");
        let err = m.set_constant("volume_m3", "lots").unwrap_err().to_string();
        assert!(err.contains("volume_m3") && err.contains("lots"), "{err}");

        // A mapped column the file lacks fails the file, naming the column.
        m.map_column("name", "Facility Name").unwrap();
        let err = read_sites(&path, &m, &no_progress).unwrap_err();
        assert!(matches!(err, IoError::File { .. }), "{err}");
        assert!(err.to_string().contains("\"Facility Name\""), "{err}");
    }

    #[test]
    fn bad_rows_are_reported_and_reading_goes_on() {
        let dir = TempDir::new("bad-rows");
        let csv = dir.path("bad.csv");
        std::fs::write(
            &csv,
            "id,name,kind,activity,country,lon,lat,precision,sources,volume_m3,attributes\n\
             a,A,tailings,x,KGZ,72,41,site,s,lots,\n\
             b,B,tailings,x,KGZ,72,41,site,s,-5,\n\
             c,C,tailings,x,KGZ,72,41,site,s,,{not json\n\
             d,D,tailings,x,KGZ,72,41,site,s, 7.5 ,\n\
             d,D again,tailings,x,KGZ,72,41,site,s,,\n\
             e,E,tailings,x,KGZ,,41,site,s,,\n",
        )
        .unwrap();
        let read = read_sites(&csv, &Mapping::default(), &no_progress).unwrap();
        let results: Vec<(usize, Result<&Site, &String>)> =
            read.rows.iter().map(|r| (r.row, r.site.as_ref())).collect();
        assert_eq!(results.len(), 6);
        let err = |i: usize| results[i].1.unwrap_err().as_str();
        assert!(
            err(0).contains("`volume_m3`") && err(0).contains("lots"),
            "{}",
            err(0)
        );
        assert!(
            err(1).contains("`volume_m3`") && err(1).contains("-5"),
            "{}",
            err(1)
        );
        assert!(err(2).contains("`attributes`"), "{}", err(2));
        assert_eq!(results[3].1.unwrap().quantities.volume_m3, Some(7.5));
        assert!(
            err(4).contains("`id`") && err(4).contains("row 4"),
            "{}",
            err(4)
        );
        assert!(err(5).contains("`lon`"), "{}", err(5));

        let geojson = dir.path("shapes.geojson");
        let props = r#""name":"P","kind":"tailings","activity":"a","country":"KGZ","precision":"site","sources":"s""#;
        std::fs::write(
            &geojson,
            format!(
                r#"{{"type":"FeatureCollection","features":[
{{"type":"Feature","properties":{{"id":"poly",{props}}},"geometry":{{"type":"Polygon","coordinates":[[[72,41],[72.1,41],[72.1,41.1],[72,41]]]}}}},
{{"type":"Feature","properties":{{"id":"pt",{props}}},"geometry":{{"type":"Point","coordinates":[72,41]}}}}]}}"#
            ),
        )
        .unwrap();
        let read = read_sites(&geojson, &Mapping::default(), &no_progress).unwrap();
        assert_eq!(
            read.rows[0].site.as_ref().unwrap_err(),
            "geometry: expected a Point, got Polygon"
        );
        assert_eq!(read.rows[1].site.as_ref().unwrap().id.as_str(), "pt");
    }

    #[test]
    fn unreadable_files_are_file_errors() {
        let dir = TempDir::new("unreadable");
        let garbage = dir.path("upload.dat");
        let mut rng = StdRng::seed_from_u64(7);
        let bytes: Vec<u8> = (0..4096).map(|_| rng.random()).collect();
        std::fs::write(&garbage, bytes).unwrap();
        for (path, reason) in [
            (garbage, "GDAL cannot open it as a vector file"),
            (dir.path("missing.csv"), "no such file"),
        ] {
            match read_sites(&path, &Mapping::default(), &no_progress) {
                Err(IoError::File { path: p, reason: r }) => {
                    assert!(p.ends_with(path.file_name().unwrap().to_str().unwrap()));
                    assert!(r.contains(reason), "{r}");
                }
                other => panic!("{}: {other:?}", path.display()),
            }
        }
    }

    #[test]
    fn bad_mapping_files_name_the_problem() {
        let dir = TempDir::new("bad-mapping");
        for (json, expected) in [
            (
                r#"{"columns": {"volume": "Vol"}}"#,
                vec!["`volume`", "volume_m3"],
            ),
            (r#"{"colums": {}}"#, vec!["`colums`"]),
            (r#"{"values": {"state": {"A": "active"}}}"#, vec!["`state`"]),
            (r#"{"constants": {"kind": "mine"}}"#, vec!["kind", "mine"]),
            (r#"{"constants": {"lat": true}}"#, vec!["constants.lat"]),
            (
                r#"{"columns": {"kind": "K"}, "constants": {"kind": "tailings"}}"#,
                vec!["`kind`", "both"],
            ),
            (
                r#"{"id": {"from": "Name", "prefix": "Bad Prefix"}}"#,
                vec!["id.prefix"],
            ),
            (
                r#"{"values": {"status": {"Active": "active", " active ": "inactive"}}}"#,
                vec!["values.status", "twice"],
            ),
        ] {
            let path = dir.path("mapping.json");
            std::fs::write(&path, json).unwrap();
            let err = Mapping::load(&path).unwrap_err().to_string();
            assert!(err.contains("mapping.json"), "{err}");
            for e in expected {
                assert!(err.contains(e), "{json}: {err} should name {e}");
            }
        }
        let err = Mapping::load(&dir.path("none.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read"), "{err}");
    }

    #[test]
    fn empty_selection_exports_in_every_format() {
        let dir = TempDir::new("empty");
        for &format in ExportFormat::ALL {
            let out = dir.path(format.file_name());
            write_sites(&out, format, &[]).unwrap_or_else(|e| panic!("{format}: {e}"));
            let read = read_sites(&out, &Mapping::default(), &no_progress)
                .unwrap_or_else(|e| panic!("{format}: {e}"));
            assert!(read.rows.is_empty(), "{format}");
        }
    }
}
