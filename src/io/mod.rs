//! Files in and out, through GDAL for what GIS users bring: points to analyse, and the analysis
//! results as CSV or GeoJSON.

pub mod layers;
pub mod points;
pub mod results;

use thiserror::Error;

/// Why a file could not be read or written.
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
}
