//! Reading an import file through GDAL ([`read_sites`]): opening it (open options, limits), finding
//! each site field's column, and turning every feature into a validated site or a row error.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use gdal::spatial_ref::CoordTransform;
use gdal::vector::{
    Feature, FieldValue, Geometry, LayerAccess, OGRwkbGeometryType, geometry_type_flatten,
    geometry_type_to_name,
};

use super::LAYER;
use super::dbf::continuation_name;
use super::fields::SiteField;
use super::guard::{Refused, check_before_gdal, refuse_views_in};
use super::mapping::Mapping;
use super::rows::{Cell, FirstRows, assign, text_of};
use crate::io::{IoError, gdal_reason};
use crate::model::slug::{derive_id, site_id_base};
use crate::model::{Site, SiteDraft};

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

/// What [`read_sites_chunked`] tells of a file besides its rows: [`ImportRead`] without them.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportLayer {
    pub layer: String,
    /// GDAL's short driver name (`CSV`, `GPKG`, `ESRI Shapefile`…).
    pub driver: String,
    /// Source columns that no site field reads.
    pub ignored_columns: Vec<String>,
    /// The layer's CRS (e.g. `EPSG:32642`) when points were reprojected to WGS 84.
    pub reprojected_from: Option<String>,
    /// How many rows were handed out (empty rows are skipped and not counted).
    pub rows: usize,
}

/// The rows [`read_sites_chunked`] hands out at a time, unless told otherwise: about 10 MB of
/// sites, so an import's memory does not grow with its file.
pub const IMPORT_CHUNK_ROWS: usize = 10_000;

pub(super) const CSV_X_NAMES: &[&str] = &["lon", "longitude", "x", "long", "lng"];

pub(super) const CSV_Y_NAMES: &[&str] = &["lat", "latitude", "y"];

pub(super) const CSV_GEOM_NAMES: &[&str] = &["wkt", "geometry", "geom", "WKT"];

/// Fields the KML drivers add to every placemark; not the user's columns.
pub(super) const KML_FIELDS: &[&str] = &[
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
pub(super) enum Source {
    /// Column indices: the column, then its shapefile continuation columns.
    Columns(Vec<usize>),
    Constant(Cell),
    /// One entry per `id.from` column (each with its continuations), and the prefix.
    DerivedId(Vec<Vec<usize>>, String),
    /// No id column and no rule: `{country}_{name}`, as `POST` derives ids, made unique within the
    /// file in row order (`-2`, `-3`, …), so a re-import of the same file gives the same ids.
    NameCountry,
    Absent,
}

/// The layer's columns, looked up by name as GDAL does (exact first, then ignoring case).
pub(super) struct Columns(Vec<String>);

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
    /// Only these GDAL drivers may open the file (uploads: [`crate::io::UPLOAD_DRIVERS`]); `None`:
    /// any.
    pub allowed_drivers: Option<&'a [&'a str]>,
    /// What messages call the file: the name its user knows it by (an upload's own file name), as
    /// the path it is read from may be a server's temporary file. `None`: the path as given.
    pub shown_name: Option<&'a str>,
    /// Reading stops with [`IoError::TooLarge`] once the layer has more features than this.
    pub max_rows: usize,
    /// A zip archive whose entries expand to more than this many bytes is refused before GDAL
    /// reads it ([`IoError::TooLarge`]); `None`: no limit.
    pub max_unzipped_bytes: Option<u64>,
    /// Refuse GeoPackages that hold SQL views or virtual tables (uploads; checked before GDAL
    /// opens the file).
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
/// to, no SQL views; messages name the file [`ReadOptions::shown_name`]. Holds every row: files of
/// any size are read with [`read_sites_chunked`].
pub fn read_sites_with(
    path: &Path,
    mapping: &Mapping,
    options: &ReadOptions<'_>,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<ImportRead, IoError> {
    let mut rows = Vec::new();
    let layer = read_sites_chunked(
        path,
        mapping,
        options,
        IMPORT_CHUNK_ROWS,
        progress,
        &mut |chunk| {
            rows.extend(chunk);
            Ok::<_, IoError>(())
        },
    )?;
    Ok(ImportRead {
        rows,
        layer: layer.layer,
        driver: layer.driver,
        ignored_columns: layer.ignored_columns,
        reprojected_from: layer.reprojected_from,
    })
}

/// [`read_sites_with`], handing the rows to `on_chunk` in file order, at most `chunk_rows` at a
/// time (at least one), as they are read: only the ids read so far are kept (a repeated id is an
/// error of the later row, as in [`read_sites`]), so memory does not grow with the file. An error
/// of `on_chunk` stops the reading and is returned; `progress` is told how many rows were read.
pub fn read_sites_chunked<E: From<IoError>>(
    path: &Path,
    mapping: &Mapping,
    options: &ReadOptions<'_>,
    chunk_rows: usize,
    progress: &(dyn Fn(usize) + Sync),
    on_chunk: &mut dyn FnMut(Vec<ImportRow>) -> Result<(), E>,
) -> Result<ImportLayer, E> {
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
        return Err(file_err("no such file".into()).into());
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
    let ds = crate::io::open_vector_with(
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
    let transform = crate::io::to_wgs84(layer.spatial_ref()).map_err(&file_err)?;
    let reprojected_from = crs.filter(|_| transform.is_some());

    let mut sources = Vec::with_capacity(crate::schema::SITE_FIELDS.len());
    let mut used: HashSet<usize> = HashSet::new();
    for field in SiteField::all() {
        let source = resolve(field, mapping, &columns, has_geometry).map_err(&file_err)?;
        match &source {
            Source::Columns(idx) => used.extend(idx),
            Source::DerivedId(cols, _) => used.extend(cols.iter().flatten()),
            Source::Constant(_) | Source::Absent | Source::NameCountry => {}
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

    let derives_ids = sources
        .iter()
        .any(|(_, s)| matches!(s, Source::NameCountry));
    let mut derived = DerivedIds::default();
    let chunk_rows = chunk_rows.max(1);
    let mut chunk = Vec::with_capacity(chunk_rows.min(IMPORT_CHUNK_ROWS));
    let mut ids = FirstRows::default();
    let mut read = 0;
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
            }
            .into());
        }
        // Spreadsheets often end in formatted but empty rows.
        if feature_geometry(&feature).is_none()
            && (0..columns.0.len()).all(|i| read_cell(&feature, i).is_blank())
        {
            continue;
        }
        let site = draft_of(&feature, &sources, mapping, transform.as_ref()).and_then(|mut d| {
            if derives_ids {
                d.id = Some(derived.next(&d)?);
            }
            Site::try_from(d).map_err(|e| with_fix(&e))
        });
        let mut import_row = ImportRow { row, site };
        ids.check(&mut import_row);
        chunk.push(import_row);
        read += 1;
        if read % 100 == 0 {
            progress(read);
        }
        if chunk.len() == chunk_rows {
            on_chunk(std::mem::take(&mut chunk))?;
        }
    }
    if !chunk.is_empty() {
        on_chunk(chunk)?;
    }
    progress(read);
    Ok(ImportLayer {
        layer: layer_name,
        driver,
        ignored_columns,
        reprojected_from,
        rows: read,
    })
}

pub(super) fn open_options(extension: &str, mapping: &Mapping) -> Vec<String> {
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
                format!("X_POSSIBLE_NAMES={}", names(CSV_X_NAMES, SiteField::LON)),
                format!("Y_POSSIBLE_NAMES={}", names(CSV_Y_NAMES, SiteField::LAT)),
                format!("GEOM_POSSIBLE_NAMES={}", CSV_GEOM_NAMES.join(",")),
                // The lon/lat columns stay readable for rows GDAL could not make a point of.
                "KEEP_GEOM_COLUMNS=YES".into(),
            ]
        }
        _ => vec![],
    }
}

/// A GDAL configuration option set for this thread until dropped, then restored.
pub(super) struct ThreadConfig {
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
pub(super) fn spreadsheet_headers(extension: &str) -> Option<ThreadConfig> {
    match extension {
        "xlsx" | "xlsm" => Some(ThreadConfig::set("OGR_XLSX_HEADERS", "FORCE")),
        "ods" => Some(ThreadConfig::set("OGR_ODS_HEADERS", "FORCE")),
        _ => None,
    }
}

/// The feature's geometry, when it has a non-empty one.
pub(super) fn feature_geometry<'f>(f: &'f Feature) -> Option<&'f Geometry> {
    let g = f.geometry()?;
    // SAFETY: only reads the handle the gdal crate holds. For a feature without geometry the crate
    // returns a wrapper around a null handle, which must not reach OGR.
    let null = unsafe { g.c_geometry() }.is_null();
    (!null && !g.is_empty()).then_some(g)
}

pub(super) fn resolve(
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
            None if has_geometry && matches!(field, SiteField::LON | SiteField::LAT) => {
                Ok(Source::Absent)
            }
            None => Err(missing_column(column, field, columns)),
        };
    }
    if field == SiteField::ID
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
    let absent = if field == SiteField::ID {
        Source::NameCountry
    } else {
        Source::Absent
    };
    Ok(field
        .default_columns()
        .iter()
        .find_map(|name| columns.find(name))
        .map_or(absent, |idx| Source::Columns(columns.with_parts(idx))))
}

/// The ids derived from names and countries so far in one file.
#[derive(Default)]
struct DerivedIds {
    used: HashSet<String>,
    /// For each base used more than once, the next suffix to try.
    next_suffix: HashMap<String, usize>,
}

impl DerivedIds {
    /// The next row's id: its base, or the base with the first free suffix (`-2`, `-3`, …).
    fn next(&mut self, draft: &SiteDraft) -> Result<String, String> {
        let text = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").to_owned();
        let (country, name) = (text(&draft.country), text(&draft.name));
        if country.is_empty() || name.is_empty() {
            return Err(format!(
                "field `id` is required: the file has no `id` column, and this row has no {} to \
                 derive one from (`{{country}}_{{name}}`); fill in the row, add an `id` column, or \
                 map one in a mapping file (`columns.id`, or `id.from`)",
                if name.is_empty() { "name" } else { "country" }
            ));
        }
        let base = site_id_base(&country, &name).map_err(|e| {
            format!(
                "{e}: the file has no `id` column, so ids are made from the names; add an `id` column"
            )
        })?;
        if self.used.insert(base.clone()) {
            return Ok(base);
        }
        let n = self.next_suffix.entry(base.clone()).or_insert(2);
        loop {
            let id = format!("{base}-{n}");
            *n += 1;
            if self.used.insert(id.clone()) {
                return Ok(id);
            }
        }
    }
}

/// A row's error, with how to fix the file where the error alone does not say.
fn with_fix(e: &crate::model::ModelError) -> String {
    match e {
        crate::model::ModelError::Missing { field } => format!(
            "{e}: fill it in, add a `{field}` column or map one in a mapping file (`columns.{field}`), or give \
             every row the same value (`constants.{field}` in a mapping file; on the command line \
             `--set {field}=VALUE`)"
        ),
        other => other.to_string(),
    }
}

pub(super) fn missing_column(column: &str, field: SiteField, columns: &Columns) -> String {
    format!(
        "mapping reads `{}` from column {column:?}, which is not in the file; its columns are: {}",
        field.name(),
        columns.0.join(", ")
    )
}

pub(super) fn read_cell(f: &Feature, idx: usize) -> Cell {
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
pub(super) fn read_joined(f: &Feature, idx: &[usize]) -> Cell {
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

pub(super) fn draft_of(
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
        match (*field, point) {
            (SiteField::LON, Some((x, _))) => draft.lon = Some(x),
            (SiteField::LAT, Some((_, y))) => draft.lat = Some(y),
            _ => match source {
                Source::Absent | Source::NameCountry => {}
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::io::sites::test_support::*;

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

    /// A file with no id column gets `{country}_{name}` ids, as `POST` derives them, unique within
    /// the file in row order, and the same ids on every read.
    #[test]
    fn a_file_without_ids_gets_them_from_names_and_countries() {
        let path = fixture("sites_no_id.csv");
        let (sites, _) = read_ok(&path, &Mapping::default());
        let ids: Vec<&str> = sites.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "kgz_mailuu-suu-tailings-pile-3",
                "kgz_mailuu-suu-tailings-pile-3-2",
                // Its own base is taken by the row before, so it gets the next suffix.
                "kgz_mailuu-suu-tailings-pile-3-2-2",
                "tjk_digmay",
            ]
        );
        let (again, _) = read_ok(&path, &Mapping::default());
        assert_eq!(again, sites);

        // A row without a name cannot have an id made: the refusal says how to fix the file.
        let dir = TempDir::new("no-id-no-name");
        let bad = dir.path("bad.csv");
        std::fs::write(
            &bad,
            "name,kind,activity,country,status,lon,lat,precision,sources\n\
             ,tailings,gold,KGZ,active,72.4,41.2,site,https://example.org/x\n",
        )
        .unwrap();
        let read = read_sites(&bad, &Mapping::default(), &no_progress).unwrap();
        let err = read.rows[0].site.as_ref().unwrap_err();
        assert!(err.contains("field `id` is required"), "{err}");
        assert!(
            err.contains("no name") && err.contains("add an `id` column"),
            "{err}"
        );
    }

    /// A missing required field says how to supply it.
    #[test]
    fn a_missing_field_says_how_to_fix_the_file() {
        let dir = TempDir::new("no-kind");
        let path = dir.path("no_kind.csv");
        std::fs::write(
            &path,
            "id,name,activity,country,status,lon,lat,precision,sources\n\
             kgz_x,X,gold,KGZ,active,72.4,41.2,site,https://example.org/x\n",
        )
        .unwrap();
        let read = read_sites(&path, &Mapping::default(), &no_progress).unwrap();
        let err = read.rows[0].site.as_ref().unwrap_err();
        assert!(err.starts_with("field `kind` is required"), "{err}");
        assert!(
            err.contains("constants.kind") && err.contains("--set kind="),
            "{err}"
        );
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
    fn chunks_hold_at_most_the_size_asked_and_ids_are_checked_across_them() {
        let dir = TempDir::new("chunks");
        let csv = dir.path("many.csv");
        let mut text = String::from("id,name,kind,activity,country,lon,lat,precision,sources\n");
        for i in 0..25 {
            // Row 24 repeats row 3's id, two chunks later; row 10 is invalid.
            let id = match i {
                23 => "s2".to_owned(),
                _ => format!("s{i}"),
            };
            let lat = if i == 9 { "95" } else { "41" };
            text.push_str(&format!("{id},S,tailings,x,KGZ,72,{lat},site,s\n"));
        }
        std::fs::write(&csv, text).unwrap();
        let whole = read_sites(&csv, &Mapping::default(), &no_progress).unwrap();
        let mut sizes = Vec::new();
        let mut rows = Vec::new();
        let layer = read_sites_chunked(
            &csv,
            &Mapping::default(),
            &ReadOptions::default(),
            10,
            &no_progress,
            &mut |chunk| {
                sizes.push(chunk.len());
                rows.extend(chunk);
                Ok::<_, IoError>(())
            },
        )
        .unwrap();
        assert_eq!(sizes, [10, 10, 5]);
        assert_eq!(layer.rows, 25);
        assert_eq!(
            (layer.driver.as_str(), layer.layer.as_str()),
            ("CSV", "many")
        );
        let text = |rows: &[ImportRow]| format!("{rows:?}");
        assert_eq!(
            text(&rows),
            text(&whole.rows),
            "the same rows as read whole"
        );
        assert_eq!(
            rows[23].site.as_ref().unwrap_err(),
            "field `id`: s2 is already used by row 3"
        );
        assert!(rows[9].site.as_ref().unwrap_err().contains("`lat`"));
        assert_eq!(rows.iter().filter(|r| r.site.is_err()).count(), 2);

        // An error of the callback stops the reading.
        let mut calls = 0;
        let err = read_sites_chunked(
            &csv,
            &Mapping::default(),
            &ReadOptions::default(),
            10,
            &no_progress,
            &mut |_| {
                calls += 1;
                Err(IoError::File {
                    path: "x".into(),
                    reason: "stop".into(),
                })
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("stop"), "{err}");
        assert_eq!(calls, 1);
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
}
