//! Reference layers from any vector file GDAL reads (GeoJSON, GeoPackage, Shapefile, FlatGeobuf…),
//! reprojected to WGS 84 when they carry another CRS.

use std::collections::HashSet;
use std::path::Path;

use gdal::vector::{FieldValue, LayerAccess};
use geo::BoundingRect;
use serde_json::{Map, Value};

use crate::reference::{
    LayerPaths, LayerSpec, REFERENCE_LAYERS, RefFeature, RefLayer, ReferenceData, ReferenceError,
};

fn json(v: FieldValue) -> Value {
    match v {
        FieldValue::IntegerValue(i) => i.into(),
        FieldValue::Integer64Value(i) => i.into(),
        FieldValue::RealValue(r) => {
            serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number)
        }
        FieldValue::StringValue(s) => s.into(),
        FieldValue::IntegerListValue(l) => l.into(),
        FieldValue::Integer64ListValue(l) => l.into(),
        FieldValue::RealListValue(l) => l
            .into_iter()
            .map(|r| serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number))
            .collect(),
        FieldValue::StringListValue(l) => l.into(),
        FieldValue::DateValue(d) => d.to_string().into(),
        FieldValue::DateTimeValue(d) => d.to_rfc3339().into(),
    }
}

/// The fields a feature's id is read from, in order of preference.
const ID_FIELDS: [&str; 3] = ["id", "HYRIV_ID", "Hylak_id"];

/// Reads the first layer of `path` as the reference layer `spec`. A feature's id is its `id` field
/// (or `HYRIV_ID`, `Hylak_id`), else its GDAL feature id; ids must be unique.
pub fn read_layer(spec: &'static LayerSpec, path: &Path) -> Result<RefLayer, ReferenceError> {
    let invalid = |reason: String| ReferenceError::Invalid {
        path: path.to_owned(),
        reason,
    };
    if !path.is_file() && !crate::reference::is_datasource(&path.to_string_lossy()) {
        return Err(ReferenceError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let ds = super::open_vector(path, None).map_err(invalid)?;
    let mut layer = ds.layer(0).map_err(|_| invalid("has no layer".into()))?;
    let transform = super::to_wgs84(layer.spatial_ref()).map_err(invalid)?;
    let mut seen = HashSet::new();
    let mut features = Vec::new();
    for (n, f) in layer.features().enumerate() {
        let mut properties = Map::new();
        for (name, value) in f.fields() {
            properties.insert(name, value.map_or(Value::Null, json));
        }
        // The layer's own ids where it has them: `id`, else the id fields of the HydroSHEDS
        // products users bring (a HydroRIVERS reach is known by its HYRIV_ID); else the feature's
        // number in the file.
        let id = ID_FIELDS
            .iter()
            .find_map(|k| match properties.get(*k) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(Value::Number(x)) => Some(match x.as_f64() {
                    Some(v) if v.fract() == 0.0 && v.abs() < 9e15 => format!("{}", v as i64),
                    _ => x.to_string(),
                }),
                _ => None,
            })
            .unwrap_or_else(|| f.fid().unwrap_or(n as u64).to_string());
        if !seen.insert(id.clone()) {
            return Err(invalid(format!("duplicate feature id {id:?}")));
        }
        let geometry = f
            .geometry()
            .ok_or_else(|| invalid(format!("feature {id:?} has no geometry")))?;
        let geometry = match &transform {
            Some(t) => geometry
                .transform(t)
                .map_err(|e| invalid(format!("feature {id:?}: cannot reproject: {e}")))?
                .to_geo(),
            None => geometry.to_geo(),
        }
        .map_err(|e| invalid(format!("feature {id:?}: {e}")))?;
        if geometry.bounding_rect().is_none() {
            return Err(invalid(format!("feature {id:?} has an empty geometry")));
        }
        properties.insert("id".into(), id.clone().into());
        features.push(RefFeature {
            id,
            properties,
            geometry,
        });
    }
    Ok(RefLayer {
        spec,
        features,
        user_source: None,
    })
}

/// Reads every layer in [`REFERENCE_LAYERS`] from the data directory `dir`, in parallel.
pub fn load_reference_dir(dir: &Path) -> Result<ReferenceData, ReferenceError> {
    load_reference(&LayerPaths::in_dir(dir))
}

/// Reads every layer from the files `paths` names, through GDAL, in parallel.
pub fn load_reference(paths: &LayerPaths) -> Result<ReferenceData, ReferenceError> {
    use rayon::prelude::*;
    let layers = paths
        .files
        .par_iter()
        .map(|(id, file)| {
            let spec = REFERENCE_LAYERS
                .iter()
                .find(|s| s.id == *id)
                .ok_or_else(|| ReferenceError::invalid(file, format!("unknown layer {id:?}")))?;
            let mut layer = read_layer(spec, file)?;
            if paths.replaced.contains(id) {
                layer.user_source = Some(file.display().to_string());
            }
            Ok(layer)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let notices = paths
        .notices
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    Ok(ReferenceData { layers, notices })
}
