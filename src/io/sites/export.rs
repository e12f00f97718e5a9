//! Writing the published sites through GDAL ([`write_sites`]): the column plan (types, DBF widths
//! and names), the features, and a check that the file reads back. The per-format choices are
//! documented in [`super`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use gdal::spatial_ref::{AxisMappingStrategy, SpatialRef};
use gdal::vector::{
    Feature, FieldDefn, Geometry, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType,
};
use gdal::{Dataset, DriverManager};
use serde_json::{Map, Value};

use super::LAYER;
use super::dbf::{dbf_names, dbf_real_format, split_dbf_text};
use super::formats::ExportFormat;
use crate::io::{IoError, gdal_reason};
use crate::model::Wgs84Point;

/// One site to write: WGS 84 position and its flat properties (site attributes followed by analysis
/// fields).
#[derive(Debug, Clone, Copy)]
pub struct ExportFeature<'a> {
    pub lon: f64,
    pub lat: f64,
    pub properties: &'a Map<String, Value>,
}

/// Where an export's features come from: visited in order, as often as the writer needs (once to plan
/// the columns, once to write them), so a source may build each feature as it is visited rather than
/// hold them all.
pub trait ExportSource {
    /// How many features a visit gives.
    fn count(&self) -> usize;
    /// Calls `f` with every feature, in order, stopping at its first error.
    fn visit(
        &self,
        f: &mut dyn FnMut(&ExportFeature<'_>) -> Result<(), String>,
    ) -> Result<(), String>;
}

impl ExportSource for &[ExportFeature<'_>] {
    fn count(&self) -> usize {
        self.len()
    }

    fn visit(
        &self,
        f: &mut dyn FnMut(&ExportFeature<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        self.iter().try_for_each(f)
    }
}

/// Distinguishes concurrent exports of one process in temporary directory names.
pub(super) static EXPORT_SEQ: AtomicUsize = AtomicUsize::new(0);

/// Writes `features` to `out` in `format`, through GDAL, atomically (write to a temporary sibling
/// file, then rename; nothing is left behind on error). Layer name `sites`, EPSG:4326.
pub fn write_sites(
    out: &Path,
    format: ExportFormat,
    features: &[ExportFeature<'_>],
) -> Result<(), IoError> {
    write_sites_from(out, format, &features)
}

/// [`write_sites`] from a source that builds the features as they are visited: the memory used is
/// that of one feature (and, for Shapefiles, the numbers that size each column), whatever the count.
pub fn write_sites_from(
    out: &Path,
    format: ExportFormat,
    features: &dyn ExportSource,
) -> Result<(), IoError> {
    let shown = out.display().to_string();
    let mut n = 0;
    let mut bad = None;
    let _ = features.visit(&mut |f| {
        n += 1;
        match Wgs84Point::new(f.lon, f.lat) {
            Ok(_) => Ok(()),
            Err(e) => {
                bad = Some((n, e.to_string()));
                Err(String::new())
            }
        }
    });
    if let Some((row, reason)) = bad {
        return Err(IoError::Row {
            path: shown,
            row,
            reason,
        });
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
        .and_then(|()| verify(&tmp, features.count()))
        .and_then(|()| {
            std::fs::rename(&tmp, out).map_err(|e| format!("cannot move into place: {e}"))
        });
    let _ = std::fs::remove_dir_all(&tmp_dir);
    result.map_err(file_err)
}

/// How one property key becomes columns of the output file.
pub(super) struct Column {
    key: String,
    real: bool,
    /// The column and, for long shapefile texts, its continuation columns.
    names: Vec<String>,
    /// DBF width and decimals of each name; empty for other formats.
    dbf: Vec<(i32, i32)>,
}

/// Site fields whose column stays Real even when no feature has a value.
pub(super) const NUMERIC_FIELDS: &[&str] = &[
    "lon",
    "lat",
    "volume_m3",
    "tonnage_t",
    "dam_height_m",
    "area_m2",
];

pub(super) fn write_file(
    path: &Path,
    format: ExportFormat,
    features: &dyn ExportSource,
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
        ExportFormat::Fgb if features.count() == 0 => vec![],
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

pub(super) fn fill_layer(
    ds: &mut Dataset,
    options: &[&str],
    columns: &[Column],
    features: &dyn ExportSource,
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
    let mut n = 0;
    features.visit(&mut |f| {
        n += 1;
        write_feature(&layer, columns, &indices, f, with_geometry, explicit_nulls)
            .map_err(|e| format!("feature {n}: {}", gdal_reason(&e)))
    })
}

pub(super) fn write_feature<L: LayerAccess>(
    layer: &L,
    columns: &[Column],
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
        let value = f.properties.get(&c.key).unwrap_or(&Value::Null);
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
pub(super) fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.as_f64().map_or_else(|| n.to_string(), |f| f.to_string())),
        Value::Array(_) | Value::Object(_) => Some(v.to_string()),
    }
}

pub(super) fn plan_columns(
    format: ExportFormat,
    features: &dyn ExportSource,
) -> Result<Vec<Column>, String> {
    /// What one visit learns of a key's values.
    #[derive(Default)]
    struct Seen {
        values: usize,
        numbers: usize,
        /// Shapefiles only: the numbers (their DBF width needs them all) and the widths of the text
        /// parts.
        all_numbers: Vec<f64>,
        text_widths: Vec<i32>,
    }
    let dbf = format == ExportFormat::Shp;
    let mut keys: Vec<(String, Seen)> = Vec::new();
    let mut position: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    features.visit(&mut |f| {
        for (k, v) in f.properties {
            let i = match position.get(k.as_str()) {
                Some(&i) => i,
                None => {
                    position.insert(k.clone(), keys.len());
                    keys.push((k.clone(), Seen::default()));
                    keys.len() - 1
                }
            };
            if v.is_null() {
                continue;
            }
            let seen = &mut keys[i].1;
            seen.values += 1;
            if let Some(n) = v.as_f64() {
                seen.numbers += 1;
                if dbf {
                    seen.all_numbers.push(n);
                }
            }
            if dbf {
                let text = value_text(v).unwrap_or_default();
                for (j, part) in split_dbf_text(&text).iter().enumerate() {
                    if seen.text_widths.len() <= j {
                        seen.text_widths.push(1);
                    }
                    seen.text_widths[j] = seen.text_widths[j].max(part.len() as i32);
                }
            }
        }
        Ok(())
    })?;
    let mut columns = Vec::with_capacity(keys.len());
    for (key, seen) in keys {
        // CSV has no column types; GDAL would print its Real columns with only 15 digits.
        let mut real = format != ExportFormat::Csv
            && seen.numbers == seen.values
            && (seen.numbers > 0 || NUMERIC_FIELDS.contains(&key.as_str()));
        let mut widths = Vec::new();
        if dbf && real {
            match dbf_real_format(&seen.all_numbers) {
                Some(w) => widths.push(w),
                None => real = false,
            }
        }
        if dbf && !real {
            widths = seen.text_widths.iter().map(|&w| (w, 0)).collect();
            if widths.is_empty() {
                widths.push((1, 0));
            }
        }
        columns.push(Column {
            names: vec![key.clone()],
            key,
            real,
            dbf: widths,
        });
    }
    if dbf {
        let wanted: Vec<(&str, usize)> = columns
            .iter()
            .map(|c| (c.key.as_str(), c.dbf.len()))
            .collect();
        let names = dbf_names(&wanted)?;
        for (c, names) in columns.iter_mut().zip(names) {
            c.names = names;
        }
    }
    Ok(columns)
}

/// Reopens a written file: GDAL before 3.7 reports no error when closing fails to flush.
pub(super) fn verify(path: &Path, expected: usize) -> Result<(), String> {
    let ds = crate::io::open_vector(path, None)?;
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use gdal::vector::{LayerAccess, OGRFieldType};

    use super::*;
    use crate::io::sites::dbf::DBF_NAME_MAX;
    use crate::io::sites::dbf::DBF_TEXT_MAX;
    use crate::io::sites::test_support::*;
    use crate::io::sites::{Mapping, read_sites};
    use crate::model::{Site, SiteDraft};

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
        let ds =
            crate::io::open_vector(Path::new(&format!("/vsizip/{}", out.display())), None).unwrap();
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
