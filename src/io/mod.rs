//! Files in and out, through GDAL for what GIS users bring: points to analyse, and the analysis
//! results as CSV or GeoJSON.

pub mod layers;
pub mod points;
pub mod results;
pub mod sites;
/// The old name of [`sites`], kept for its callers.
pub use sites as sites_file;

use thiserror::Error;

/// Why a file could not be read or written. `path` is the name the user knows the file by (the
/// path they gave, or an upload's own file name), never a server's temporary file.
#[derive(Debug, Error)]
pub enum IoError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("{path}: row {row}: {reason}")]
    Row {
        path: String,
        row: usize,
        reason: String,
    },
    /// The file is over a limit on the work an import may do (rows, unzipped bytes).
    #[error("{path}: {reason}")]
    TooLarge { path: String, reason: String },
    /// A value that cannot be part of a site, outside any row (a mapping's constant, say).
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
}

/// What a GDAL error says, without the names of GDAL's functions (which mean nothing to a user).
/// Callers still replace server paths in it with the name the user knows the file by.
pub(crate) fn gdal_reason(e: &gdal::errors::GdalError) -> String {
    use gdal::errors::GdalError;
    match e {
        GdalError::CplError { msg, .. } | GdalError::NullPointer { msg, .. }
            if !msg.trim().is_empty() =>
        {
            msg.trim().to_owned()
        }
        _ => "GDAL reported an error".to_owned(),
    }
}

/// Opens `path` read-only as a vector dataset (with driver open options, if any).
fn open_vector(
    path: &std::path::Path,
    open_options: Option<&[&str]>,
) -> Result<gdal::Dataset, String> {
    open_vector_with(path, open_options, None)
}

/// [`open_vector`] with only the given GDAL drivers allowed.
fn open_vector_with(
    path: &std::path::Path,
    open_options: Option<&[&str]>,
    allowed_drivers: Option<&[&str]>,
) -> Result<gdal::Dataset, String> {
    gdal::Dataset::open_ex(
        path,
        gdal::DatasetOptions {
            open_flags: gdal::GdalOpenFlags::GDAL_OF_VECTOR | gdal::GdalOpenFlags::GDAL_OF_READONLY,
            open_options,
            allowed_drivers,
            ..Default::default()
        },
    )
    // GDAL's error names its own function ('GDALOpenEx') and the path it was given: neither is
    // the user's business.
    .map_err(|_| "GDAL cannot open it as a vector file".to_owned())
}

/// The file formats an upload may be: GDAL would otherwise also open, by content, formats that
/// reference other files or URLs (VRT, for one), and a client could read the server's files.
pub const UPLOAD_DRIVERS: &[&str] = &[
    "GeoJSON",
    "GeoJSONSeq",
    "CSV",
    "ESRI Shapefile",
    "GPKG",
    "KML",
    "LIBKML",
    "FlatGeobuf",
    "XLSX",
    "ODS",
    "GML",
    "GPX",
    "MapInfo File",
    "OpenFileGDB",
    "DXF",
];

/// The transformation of a layer's coordinates to WGS 84 longitude/latitude, if it has another CRS.
fn to_wgs84(
    srs: Option<gdal::spatial_ref::SpatialRef>,
) -> Result<Option<gdal::spatial_ref::CoordTransform>, String> {
    use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
    match srs {
        Some(mut source) if source.auth_code().ok() != Some(4326) => {
            source.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
            let mut wgs84 = SpatialRef::from_epsg(4326).map_err(|e| gdal_reason(&e))?;
            wgs84.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
            CoordTransform::new(&source, &wgs84)
                .map(Some)
                .map_err(|e| format!("cannot reproject to WGS 84: {}", gdal_reason(&e)))
        }
        _ => Ok(None),
    }
}
