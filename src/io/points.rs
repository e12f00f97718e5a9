//! Reading points from any vector file GDAL opens (GeoJSON, GeoPackage, Shapefile, CSV with lon/lat
//! columns…), reprojected to WGS 84 when the layer has another CRS.

use std::path::Path;

use gdal::vector::{FieldValue, LayerAccess};

use super::IoError;
use crate::model::Wgs84Point;

/// One input point with the optional attributes the analysis uses.
#[derive(Debug, Clone, PartialEq)]
pub struct InputPoint {
    /// 1-based position in the layer (the data row, for CSV).
    pub row: usize,
    /// The `id` field if there is one, else the row number.
    pub id: String,
    pub location: Wgs84Point,
    /// `country` (ISO3), if given.
    pub country: Option<String>,
    pub volume_m3: Option<f64>,
    pub dam_height_m: Option<f64>,
}

fn text(f: &gdal::vector::Feature, name: &str) -> Option<String> {
    let idx = f.field_index(name).ok()?;
    match f.field(idx).ok()?? {
        FieldValue::StringValue(s) => Some(s).filter(|s| !s.trim().is_empty()),
        FieldValue::IntegerValue(i) => Some(i.to_string()),
        FieldValue::Integer64Value(i) => Some(i.to_string()),
        FieldValue::RealValue(r) => Some(r.to_string()),
        _ => None,
    }
}

fn number(
    f: &gdal::vector::Feature,
    name: &str,
    row: usize,
    path: &str,
) -> Result<Option<f64>, IoError> {
    match text(f, name) {
        None => Ok(None),
        Some(t) => t
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(Some)
            .ok_or_else(|| IoError::Row {
                path: path.to_owned(),
                row,
                reason: format!("field `{name}`: {t:?} is not a non-negative number"),
            }),
    }
}

/// Reads every feature of the first layer of `path` as a point.
pub fn read_points(path: &Path) -> Result<Vec<InputPoint>, IoError> {
    let shown = path.display().to_string();
    let file_err = |reason: String| IoError::File {
        path: shown.clone(),
        reason,
    };
    if !path.is_file() {
        return Err(file_err("no such file".into()));
    }
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    // CSV: the coordinate columns become the geometry; other drivers do not know these options.
    let csv_options: &[&str] = &[
        "X_POSSIBLE_NAMES=lon,longitude,x,long,lng",
        "Y_POSSIBLE_NAMES=lat,latitude,y",
        "KEEP_GEOM_COLUMNS=NO",
    ];
    let ds = super::open_vector(path, is_csv.then_some(csv_options)).map_err(file_err)?;
    let mut layer = ds.layer(0).map_err(|_| file_err("has no layer".into()))?;
    let transform = super::to_wgs84(layer.spatial_ref()).map_err(file_err)?;
    let mut out = Vec::new();
    for (n, f) in layer.features().enumerate() {
        let row = n + 1;
        let row_err = |reason: String| IoError::Row {
            path: shown.clone(),
            row,
            reason,
        };
        let geom = f.geometry().ok_or_else(|| {
            row_err(
                "no point: the geometry (or the lon/lat columns) is missing or not numeric".into(),
            )
        })?;
        if geom.geometry_type() != gdal::vector::OGRwkbGeometryType::wkbPoint
            && geom.geometry_type() != gdal::vector::OGRwkbGeometryType::wkbPoint25D
        {
            return Err(row_err(format!(
                "geometry is {}, not a point",
                geom.geometry_name()
            )));
        }
        let (mut x, mut y, _) = geom.get_point(0);
        if let Some(t) = &transform {
            let (mut xs, mut ys) = ([x], [y]);
            t.transform_coords(&mut xs, &mut ys, &mut [])
                .map_err(|e| row_err(format!("cannot reproject: {e}")))?;
            (x, y) = (xs[0], ys[0]);
        }
        let location = Wgs84Point::new(x, y).map_err(|e| row_err(e.to_string()))?;
        out.push(InputPoint {
            row,
            id: text(&f, "id").unwrap_or_else(|| row.to_string()),
            location,
            country: text(&f, "country").map(|c| c.trim().to_ascii_uppercase()),
            volume_m3: number(&f, "volume_m3", row, &shown)?,
            dam_height_m: number(&f, "dam_height_m", row, &shown)?,
        });
    }
    Ok(out)
}
