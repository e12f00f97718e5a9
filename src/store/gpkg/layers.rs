//! A new store file, laid out through GDAL.

use std::path::Path;

use gdal::DriverManager;
use gdal::vector::{Feature, LayerAccess, LayerOptions, OGRFieldType};

use super::{LAYER, META, now, real_fields, text_fields};

/// Creates the empty `sites` layer and the `atlas_meta` table through GDAL, so the file is laid out as
/// GDAL and QGIS expect (spatial index, contents, SRS).
pub(super) fn create_layers(path: &Path, origin: &str) -> Result<(), String> {
    let driver = DriverManager::get_driver_by_name("GPKG").map_err(|e| e.to_string())?;
    let mut ds = driver
        .create_vector_only(path)
        .map_err(|e| format!("cannot create: {e}"))?;
    let srs = gdal::spatial_ref::SpatialRef::from_epsg(4326).map_err(|e| e.to_string())?;
    let mut tx = ds.start_transaction().map_err(|e| e.to_string())?;
    {
        let layer = tx
            .create_layer(LayerOptions {
                name: LAYER,
                srs: Some(&srs),
                ty: gdal::vector::OGRwkbGeometryType::wkbPoint,
                options: Some(&["FID=fid", "GEOMETRY_NAME=geom"]),
            })
            .map_err(|e| format!("cannot create layer: {e}"))?;
        let mut fields: Vec<(&str, OGRFieldType::Type)> = text_fields()
            .map(|f| (f, OGRFieldType::OFTString))
            .collect();
        fields.extend(real_fields().map(|f| (f, OGRFieldType::OFTReal)));
        layer
            .create_defn_fields(&fields)
            .map_err(|e| format!("cannot create fields: {e}"))?;
    }
    {
        let meta = tx
            .create_layer(LayerOptions {
                name: META,
                srs: None,
                ty: gdal::vector::OGRwkbGeometryType::wkbNone,
                options: None,
            })
            .map_err(|e| format!("cannot create {META}: {e}"))?;
        meta.create_defn_fields(&[
            ("key", OGRFieldType::OFTString),
            ("value", OGRFieldType::OFTString),
        ])
        .map_err(|e| format!("cannot create {META} fields: {e}"))?;
        let seeded_at = now();
        for (key, value) in [("seed_origin", origin), ("seeded_at", &seeded_at)] {
            let mut f = Feature::new(meta.defn()).map_err(|e| e.to_string())?;
            f.set_field_string(0, key).map_err(|e| e.to_string())?;
            f.set_field_string(1, value).map_err(|e| e.to_string())?;
            f.create(&meta)
                .map_err(|e| format!("cannot write {META}: {e}"))?;
        }
    }
    tx.commit().map_err(|e| format!("cannot commit: {e}"))?;
    ds.close().map_err(|e| format!("cannot close: {e}"))?;
    Ok(())
}
