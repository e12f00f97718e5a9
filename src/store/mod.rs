//! Durable storage of the inventory. [`SiteStore`] is the boundary; [`GpkgStore`] keeps the sites in a
//! GeoPackage through GDAL, so the file itself opens in QGIS.

mod gpkg;

pub use gpkg::GpkgStore;

use thiserror::Error;

use crate::model::{ModelError, Site};

/// Why the store failed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store {path}: {message}")]
    Backend { path: String, message: String },
    #[error("store {path}: feature {fid}: {source}")]
    InvalidRow {
        path: String,
        fid: u64,
        source: ModelError,
    },
    #[error("store {path}: duplicate site id {id:?}")]
    DuplicateId { path: String, id: String },
}

/// The sites a new store starts with, and a fingerprint of where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Seed {
    pub sites: Vec<Site>,
    /// Identifies the seed file's content (e.g. `sha256:…`), kept so a later start can tell whether the
    /// data directory's seed has changed since.
    pub origin: String,
}

/// Where sites are kept.
pub trait SiteStore {
    /// Every site, ordered by id.
    fn load_sites(&self) -> Result<Vec<Site>, StoreError>;

    /// The [`Seed::origin`] the store was created from, if it recorded one.
    fn seed_origin(&self) -> Result<Option<String>, StoreError>;
}
