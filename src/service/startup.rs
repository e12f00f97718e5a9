//! Start-up shared by the subcommands: open (and on first run seed) the store, load the reference
//! layers, analyse the sites and build the catalog.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use thiserror::Error;

use crate::analysis::Analyzer;
use crate::analysis::runout::RunoutModel;
use crate::catalog::{Catalog, SiteRecord};
use crate::model::{Interner, Site};
use crate::reference::RefLayer;
use crate::reference::seed::read_seed_sites;
use crate::reference::{LayerPaths, ReferenceData, ReferenceError, SITES_SPEC};
use crate::risk::{RiskModel, SiteRisk};
use crate::store::{Seed, Store, StoreError};

/// Why the service could not start.
#[derive(Debug, Error)]
pub enum StartupError {
    #[error("--data {dir}: {source}")]
    Data {
        dir: PathBuf,
        source: ReferenceError,
    },
    #[error("--data {0}: not a directory")]
    DataDir(PathBuf),
    #[error("--layers: {0}")]
    Layers(ReferenceError),
    #[error("--store: {0}")]
    Store(#[from] StoreError),
    #[error("--store: {0}")]
    StoreLocation(String),
    #[error("cannot serialise features: {0}")]
    Serialise(#[from] serde_json::Error),
}

/// `sha256:<hex>` of the seed file, if it can be read.
fn seed_origin(path: &Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).ok()?;
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(format!("sha256:{hex}"))
}

/// Opens the store at `store` (seeding it from `data` if it does not exist), loads the reference layers
/// of `data`, analyses the sites and builds the catalog.
pub fn load(store: &Path, data: &Path) -> Result<Atlas, StartupError> {
    load_with(store, data, &AnalysisConfig::default())
}

/// The user's choices for the analysis: the runout model (`--runout-config`) and other reference
/// layer files (`--layers`).
#[derive(Debug, Clone, Default)]
pub struct AnalysisConfig {
    pub runout: RunoutModel,
    pub layers: Option<PathBuf>,
    /// How far a site may lie from every river and still get a downstream result (default 100 km).
    pub snap_limit_m: Option<f64>,
    /// The risk model (`--risk-model`; default `config/risk-model.toml` as built in).
    pub risk: Arc<RiskModel>,
}

impl AnalysisConfig {
    /// An analyzer over `reference` with these settings.
    pub fn analyzer(&self, reference: &ReferenceData) -> Analyzer {
        let builder = Analyzer::builder(reference).runout(self.runout.clone());
        match self.snap_limit_m {
            Some(m) => builder.snap_limit_m(m),
            None => builder,
        }
        .build()
    }

    /// Checks, before any work starts, that `data` is a directory and that the layers file (if any)
    /// names known layers.
    pub fn check(&self, data: &Path) -> Result<(), StartupError> {
        self.layer_paths(data).map(|_| ())
    }

    /// Where the reference layers of `data` (and `--layers`) are: checked before any work starts.
    pub(crate) fn layer_paths(&self, data: &Path) -> Result<LayerPaths, StartupError> {
        if !data.is_dir() {
            return Err(StartupError::DataDir(data.to_owned()));
        }
        let paths = LayerPaths::in_dir(data);
        match &self.layers {
            None => Ok(paths),
            Some(file) => paths.with_overrides(file).map_err(StartupError::Layers),
        }
    }
}

/// An analyzer over the reference layers of `data` (and `--layers`).
pub fn analyzer_for(data: &Path, config: &AnalysisConfig) -> Result<Analyzer, StartupError> {
    let paths = config.layer_paths(data)?;
    let reference = load_reference(&paths, data)?;
    Ok(config.analyzer(&reference))
}

/// Reads the reference layers at `paths`, blaming `--data` for what fails.
pub(crate) fn load_reference(
    paths: &LayerPaths,
    data: &Path,
) -> Result<ReferenceData, StartupError> {
    crate::io::layers::load_reference(paths).map_err(|source| StartupError::Data {
        dir: data.to_owned(),
        source,
    })
}

/// Checks that a store can be opened or created at `store`: an existing file, or a new one in an
/// existing directory.
pub fn check_store_location(store: &Path) -> Result<(), StartupError> {
    if store.to_string_lossy().contains("://") {
        // A database URL: the store itself says whether it can open it.
        return Ok(());
    }
    if store.is_dir() {
        return Err(StartupError::StoreLocation(format!(
            "{} is a directory, not a GeoPackage file",
            store.display()
        )));
    }
    let parent = store.parent().filter(|p| !p.as_os_str().is_empty());
    if !store.exists() && parent.is_some_and(|p| !p.is_dir()) {
        return Err(StartupError::StoreLocation(format!(
            "{}: the directory {} does not exist",
            store.display(),
            parent
                .map(Path::display)
                .map(|d| d.to_string())
                .unwrap_or_default()
        )));
    }
    Ok(())
}

/// Opens (and on first use creates and seeds) the store at location `store` (a GeoPackage path; see
/// [`crate::store::open`]), with the seed file of `data`.
pub fn open_store(store: &Path, data: &Path) -> Result<Arc<dyn Store>, StartupError> {
    open_store_reading_from(store, None, data)
}

/// [`open_store`], reading in bulk from `read_store` if given (a hot standby of the PostgreSQL
/// `store`: see [`crate::store::ReadSplit`]).
pub fn open_store_reading_from(
    store: &Path,
    read_store: Option<&str>,
    data: &Path,
) -> Result<Arc<dyn Store>, StartupError> {
    if !data.is_dir() {
        return Err(StartupError::DataDir(data.to_owned()));
    }
    let seed_file = data.join(SITES_SPEC.file);
    let current_origin = seed_origin(&seed_file);
    let seed = || {
        Ok::<_, ReferenceError>(Seed {
            sites: read_seed_sites(&seed_file)?,
            origin: current_origin.clone().unwrap_or_default(),
        })
    };
    let location = store.to_string_lossy();
    let store = match read_store {
        Some(read) => crate::store::open_with_read_store(&location, read, seed)?,
        None => crate::store::open(&location, seed)?,
    };
    if let (Some(stored), Some(current)) = (store.seed_origin()?, &current_origin)
        && stored != *current
    {
        // The store is the inventory of record and may hold edits; never overwrite it silently.
        tracing::warn!(
            seed = %seed_file.display(),
            "the store was seeded from a different version of the seed file; serving the store as it is \
             (move the store aside to re-seed from the current file)"
        );
    }
    Ok(store)
}

/// [`load`] with the user's analysis configuration.
pub fn load_with(
    store: &Path,
    data: &Path,
    config: &AnalysisConfig,
) -> Result<Atlas, StartupError> {
    load_reading_from(store, None, data, config)
}

/// [`load_with`], reading the inventory from `read_store` if given ([`open_store_reading_from`]).
pub fn load_reading_from(
    store: &Path,
    read_store: Option<&str>,
    data: &Path,
    config: &AnalysisConfig,
) -> Result<Atlas, StartupError> {
    let layer_paths = config.layer_paths(data)?;
    let t0 = Instant::now();
    let (store, reference) = rayon::join(
        || open_store_reading_from(store, read_store, data),
        || load_reference(&layer_paths, data),
    );
    let store = store?;
    // Read before the sites: a change that lands in between is picked up again by the next refresh.
    let revision = store.latest_revision()?;
    let stored = store.load_sites()?;
    let reference = reference?;
    let t_loaded = t0.elapsed();
    let n = stored.len();
    // The stored sites move into their records: no second copy of the inventory.
    let records: Vec<(Site, Option<i64>, Option<chrono::DateTime<chrono::Utc>>)> = stored
        .into_iter()
        .map(|s| (s.site, Some(s.revision), s.updated))
        .collect();
    let mut atlas = Atlas::from_sites(records, &reference, config)?;
    atlas.store = Some(store);
    atlas.revision = revision;
    tracing::info!(
        sites = n,
        load_ms = t_loaded.as_millis() as u64,
        index_ms = (t0.elapsed() - t_loaded).as_millis() as u64,
        "catalog built and sites analysed"
    );
    Ok(atlas)
}

/// What the service runs on: the published collections, the prepared reference layers, and the store
/// they came from (none for an atlas built from sites in memory).
pub struct Atlas {
    pub catalog: Catalog,
    pub analyzer: Analyzer,
    pub store: Option<Arc<dyn Store>>,
    /// The store's latest version when the catalog was read from it.
    pub revision: i64,
    /// Shares the texts of the published analysis records (kept for the records published later).
    pub interner: Arc<Interner>,
    /// Scores the sites.
    pub risk: Arc<RiskModel>,
    /// The country polygons the risk summary is made over.
    pub countries: RefLayer,
}

impl std::fmt::Debug for Atlas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Atlas")
            .field("catalog", &self.catalog)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

impl Atlas {
    /// Prepares the reference layers, analyses every site (in parallel) and publishes the sites with
    /// their analysis alongside the reference layers.
    pub fn build(sites: &[Site], reference: &ReferenceData) -> Result<Self, serde_json::Error> {
        Atlas::build_with(sites, reference, &AnalysisConfig::default())
    }

    /// [`Atlas::build`] with the user's analysis configuration.
    pub fn build_with(
        sites: &[Site],
        reference: &ReferenceData,
        config: &AnalysisConfig,
    ) -> Result<Self, serde_json::Error> {
        let sites = sites.iter().map(|s| (s.clone(), None, None)).collect();
        Atlas::from_sites(sites, reference, config)
    }

    /// Analyses `sites` (each with its store version and its time, if any), in parallel, and publishes them, in
    /// the order given, alongside the reference layers.
    pub fn from_sites(
        sites: Vec<(Site, Option<i64>, Option<chrono::DateTime<chrono::Utc>>)>,
        reference: &ReferenceData,
        config: &AnalysisConfig,
    ) -> Result<Self, serde_json::Error> {
        use rayon::prelude::*;
        let analyzer = config.analyzer(reference);
        let interner = Arc::new(Interner::new());
        let risk = config.risk.clone();
        let records: Vec<SiteRecord> = sites
            .into_par_iter()
            .map(|(site, revision, updated)| {
                let analysis = analyzer.site_record(&site, &interner);
                SiteRecord {
                    risk: SiteRisk::of(&risk, &site, &analysis),
                    analysis,
                    site,
                    revision,
                    updated,
                }
            })
            .collect();
        let mut catalog = Catalog::build(records, reference)?;
        let countries = reference
            .layer("countries")
            .cloned()
            .unwrap_or_else(|| RefLayer {
                spec: &crate::reference::REFERENCE_LAYERS[2],
                features: Vec::new(),
                user_source: None,
            });
        if let Some(table) = catalog.sites() {
            let layers = super::risk::risk_collections(&risk, &analyzer, &countries, table)?;
            super::risk::install(&mut catalog, layers);
        }
        Ok(Atlas {
            catalog,
            analyzer,
            store: None,
            revision: 0,
            interner,
            risk,
            countries,
        })
    }
}
