//! Start-up shared by the subcommands: open (and on first run seed) the store, load the reference
//! layers, and build the catalog.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Instant;

use thiserror::Error;

use crate::analysis::Analyzer;
use crate::analysis::nearest::PointIndex;
use crate::analysis::runout::RunoutModel;
use crate::catalog::{Catalog, Collection};
use crate::model::{Site, SiteId};
use crate::reference::seed::read_seed_sites;
use crate::reference::{LayerPaths, ReferenceData, ReferenceError, SITES_SPEC};
use crate::store::{Author, Change, GpkgStore, Seed, SiteStore, Store, StoreError, Written};

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

    /// Where the reference layers of `data` (and `--layers`) are: checked before any work starts.
    fn layer_paths(&self, data: &Path) -> Result<LayerPaths, StartupError> {
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
fn load_reference(paths: &LayerPaths, data: &Path) -> Result<ReferenceData, StartupError> {
    crate::io::layers::load_reference(paths).map_err(|source| StartupError::Data {
        dir: data.to_owned(),
        source,
    })
}

/// Opens (and on first use creates and seeds) the store at `store`, with the seed file of `data`.
pub fn open_store(store: &Path, data: &Path) -> Result<GpkgStore, StartupError> {
    if !data.is_dir() {
        return Err(StartupError::DataDir(data.to_owned()));
    }
    let seed_file = data.join(SITES_SPEC.file);
    let current_origin = seed_origin(&seed_file);
    let store = GpkgStore::open_or_create(store, || {
        Ok::<_, ReferenceError>(Seed {
            sites: read_seed_sites(&seed_file)?,
            origin: current_origin.clone().unwrap_or_default(),
        })
    })?;
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
    let layer_paths = config.layer_paths(data)?;
    let t0 = Instant::now();
    let (store, reference) = rayon::join(
        || open_store(store, data),
        || load_reference(&layer_paths, data),
    );
    let store = store?;
    // Read before the sites: a change that lands in between is picked up again by the next refresh.
    let revision = store.latest_revision()?;
    let stored = store.load_sites()?;
    let reference = reference?;
    let t_loaded = t0.elapsed();
    let sites: Vec<Site> = stored.iter().map(|s| s.site.clone()).collect();
    let mut atlas = Atlas::build_with(&sites, &reference, config)?;
    let revisions: HashMap<String, i64> = stored
        .iter()
        .map(|s| (s.site.id.to_string(), s.revision))
        .collect();
    if let Some(c) = atlas.catalog.collection_mut(crate::reference::SITES) {
        c.set_revisions(&revisions);
    }
    atlas.store = Some(Arc::new(store));
    atlas.revision = revision;
    tracing::info!(
        sites = sites.len(),
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
        let analyzer = config.analyzer(reference);
        let extra = analyzer.analyse_sites(sites);
        let catalog = Catalog::build(sites, &extra, reference)?;
        Ok(Atlas {
            catalog,
            analyzer,
            store: None,
            revision: 0,
        })
    }
}

/// What a running service publishes; replaced piecemeal as sites change.
#[derive(Debug)]
pub struct Live {
    pub catalog: Catalog,
    /// The sites' positions, for k-nearest queries (same order as the sites collection).
    pub site_points: PointIndex,
    /// The newest store version reflected here.
    pub revision: i64,
    /// Deleted sites and the version that deleted them, so a stale update cannot bring one back.
    deleted: HashMap<String, i64>,
}

impl Live {
    fn new(catalog: Catalog, revision: i64) -> Self {
        let mut live = Live {
            catalog,
            site_points: PointIndex::new(&[]),
            revision,
            deleted: HashMap::new(),
        };
        live.reindex_points();
        live
    }

    fn reindex_points(&mut self) {
        let points: Vec<[f64; 2]> = self
            .catalog
            .collection(crate::reference::SITES)
            .map(|c| {
                c.features
                    .iter()
                    .filter_map(|f| point_of(&f.geometry))
                    .collect()
            })
            .unwrap_or_default();
        self.site_points = PointIndex::new(&points);
    }

    /// The newest version of `id` published here (a delete counts).
    fn revision_of(&self, id: &str) -> Option<i64> {
        let live = self
            .catalog
            .collection(crate::reference::SITES)
            .and_then(|c| c.feature(id))
            .and_then(|f| f.revision);
        live.or_else(|| self.deleted.get(id).copied())
    }
}

fn point_of(g: &geo::Geometry<f64>) -> Option<[f64; 2]> {
    match g {
        geo::Geometry::Point(p) => Some([p.x(), p.y()]),
        _ => None,
    }
}

/// A site's new state, to publish: `None` once deleted. `revision` is the version that made it.
#[derive(Debug, Clone)]
pub struct Update {
    pub id: SiteId,
    pub site: Option<Site>,
    pub revision: i64,
}

impl From<&Written> for Update {
    fn from(w: &Written) -> Self {
        Update {
            id: w.id.clone(),
            site: w.site.clone(),
            revision: w.revision,
        }
    }
}

/// The running service's state: what is published, the analyzer, and the store edits go to. Readers
/// share the published state; an edit re-analyses the changed sites outside the lock and swaps them
/// in, so reads never wait for an analysis.
pub struct Service {
    live: RwLock<Live>,
    pub analyzer: Analyzer,
    pub store: Option<Arc<dyn Store>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").finish_non_exhaustive()
    }
}

impl Service {
    pub fn new(atlas: Atlas) -> Self {
        Service {
            live: RwLock::new(Live::new(atlas.catalog, atlas.revision)),
            analyzer: atlas.analyzer,
            store: atlas.store,
        }
    }

    /// The published state, to read.
    pub fn live(&self) -> RwLockReadGuard<'_, Live> {
        self.live.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-analyses the changed sites (in parallel) and publishes them; updates older than what is
    /// already published are ignored.
    pub fn publish(&self, updates: &[Update]) {
        use rayon::prelude::*;
        if updates.is_empty() {
            return;
        }
        // Analysis and serialisation happen before the lock, so readers never wait for them.
        let prepared: Vec<_> = updates
            .par_iter()
            .map(|u| {
                let feature = u.site.as_ref().map(|s| {
                    let extra = self.analyzer.site_analysis(s);
                    Collection::site_feature(s, extra, Some(u.revision))
                });
                (u, feature)
            })
            .collect();
        let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
        // Many changes: rebuild the k-nearest index once; a few: update it in place.
        let bulk = prepared.len() > 1_000;
        let mut changed = false;
        for (u, feature) in prepared {
            if live
                .revision_of(u.id.as_str())
                .is_some_and(|r| r >= u.revision)
            {
                continue;
            }
            let live = &mut *live;
            let Some(c) = live.catalog.collection_mut(crate::reference::SITES) else {
                return;
            };
            match feature {
                Some(Ok(feature)) => {
                    let point = point_of(&feature.geometry);
                    let (i, old) = c.put(feature);
                    if !bulk {
                        if let Some(old) = old.as_ref().and_then(point_of) {
                            live.site_points.remove(old, i);
                        }
                        if let Some(p) = point {
                            live.site_points.insert(p, i);
                        }
                    }
                    live.deleted.remove(u.id.as_str());
                }
                Some(Err(e)) => {
                    tracing::error!(id = %u.id, error = %e, "cannot publish site");
                    continue;
                }
                None => {
                    let last = c.features.len().saturating_sub(1);
                    let moved = c.features.get(last).and_then(|f| point_of(&f.geometry));
                    if let Some((i, removed)) = c.remove(u.id.as_str())
                        && !bulk
                    {
                        if let Some(p) = point_of(&removed.geometry) {
                            live.site_points.remove(p, i);
                        }
                        if i != last
                            && let Some(m) = moved
                        {
                            live.site_points.remove(m, last);
                            live.site_points.insert(m, i);
                        }
                    }
                    live.deleted.insert(u.id.to_string(), u.revision);
                }
            }
            changed = true;
        }
        if changed && bulk {
            live.reindex_points();
        }
    }

    /// Writes `changes` to the store in one transaction and publishes the result.
    pub fn write(&self, changes: &[Change], author: &Author) -> Result<Vec<Written>, StoreError> {
        self.write_with_progress(changes, author, &|| {})
    }

    /// [`Service::write`], telling `progress` of each change stored.
    pub fn write_with_progress(
        &self,
        changes: &[Change],
        author: &Author,
        progress: &(dyn Fn() + Sync),
    ) -> Result<Vec<Written>, StoreError> {
        let Some(store) = &self.store else {
            return Err(StoreError::Backend {
                path: "(none)".into(),
                message: "this service runs without a store".into(),
            });
        };
        let written = store.write(changes, author, progress)?;
        let updates: Vec<Update> = written
            .iter()
            .filter(|w| w.op.is_some())
            .map(Update::from)
            .collect();
        self.publish(&updates);
        Ok(written)
    }

    /// Publishes what other processes (or this one) wrote to the store since the last look; returns
    /// how many sites changed.
    pub fn refresh(&self) -> Result<usize, StoreError> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let seen = self.live().revision;
        if store.latest_revision()? <= seen {
            return Ok(0);
        }
        let changed = store.changed_since(seen)?;
        let mut updates = Vec::with_capacity(changed.len());
        let mut newest = seen;
        for (id, revision) in changed {
            newest = newest.max(revision);
            // One unreadable row (say, edited by hand in QGIS) must not stop every later refresh.
            let current = match store.get(&id) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(%id, error = %e, "cannot read a changed site; not published");
                    continue;
                }
            };
            // A deleted site comes back as `None`, at the version that deleted it.
            updates.push(Update {
                id,
                revision: current.as_ref().map_or(revision, |s| s.revision),
                site: current.map(|s| s.site),
            });
        }
        self.publish(&updates);
        let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
        live.revision = live.revision.max(newest);
        Ok(updates.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Selection;
    use crate::index::BBox;
    use crate::model::SiteDraft;

    #[test]
    fn a_changed_site_is_reanalysed_and_reindexed() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let reference = crate::io::layers::load_reference_dir(&data).unwrap();
        let sites = read_seed_sites(&data.join(SITES_SPEC.file)).unwrap();
        let service = Service::new(Atlas::build(&sites, &reference).unwrap());
        let changed = |site: &Site, revision: i64| {
            service.publish(&[Update {
                id: site.id.clone(),
                site: Some(site.clone()),
                revision,
            }])
        };
        let props = |service: &Service, id: &str| {
            service
                .live()
                .catalog
                .collection("sites")
                .unwrap()
                .feature(id)
                .unwrap()
                .properties
                .clone()
        };
        assert_eq!(props(&service, "kgz_sumsar")["located_country"], "KGZ");

        // Move the site to the lower Syr Darya in Kazakhstan.
        let mut moved = sites
            .iter()
            .find(|s| s.id.as_str() == "kgz_sumsar")
            .unwrap()
            .clone();
        moved.location = crate::model::Wgs84Point::new(66.0, 44.6).unwrap();
        moved.country = crate::model::Iso3::parse("KAZ", "country").unwrap();
        changed(&moved, 1);
        let p = props(&service, "kgz_sumsar");
        assert_eq!(p["located_country"], "KAZ");
        assert_eq!(p["downstream_countries"], "KAZ");

        let select = |service: &Service, b: BBox| {
            let live = service.live();
            let c = live.catalog.collection("sites").unwrap();
            c.select(&Selection {
                bbox: Some(b),
                filters: vec![],
            })
            .into_iter()
            .map(|i| c.features[i].id.clone())
            .collect::<Vec<_>>()
        };
        assert!(
            select(&service, BBox::new(65.9, 44.5, 66.1, 44.7).unwrap())
                .contains(&"kgz_sumsar".to_owned())
        );
        assert!(
            !select(&service, BBox::new(71.2, 41.2, 71.4, 41.4).unwrap())
                .contains(&"kgz_sumsar".to_owned())
        );

        // A new site is added.
        let new = Site::try_from(SiteDraft {
            id: Some("new_site".into()),
            name: Some("New".into()),
            kind: Some("tailings".into()),
            activity: Some("test".into()),
            country: Some("UZB".into()),
            lon: Some(69.24),
            lat: Some(41.31),
            precision: Some("site".into()),
            sources: vec!["test".into()],
            ..Default::default()
        })
        .unwrap();
        changed(&new, 2);
        assert_eq!(props(&service, "new_site")["located_country"], "UZB");
        assert_eq!(
            service
                .live()
                .catalog
                .collection("sites")
                .unwrap()
                .features
                .len(),
            sites.len() + 1
        );
    }
}

/// Analyses every point of `input` (any vector file GDAL reads) against the reference layers of
/// `data`, in parallel, and writes the results to `output` (CSV or GeoJSON). `progress` is told how many
/// points there are once they are read, then how many more are finished, in batches. Returns how many
/// points were analysed.
pub fn analyze_file(
    input: &Path,
    output: &Path,
    data: &Path,
    config: &AnalysisConfig,
    progress: impl Fn(Progress) + Sync,
) -> Result<usize, AnalyzeError> {
    use rayon::prelude::*;
    // Check the output name before the work, not after.
    crate::io::results::Format::of(output)?;
    // The layers are checked before the points are read, the work after.
    let layer_paths = config.layer_paths(data)?;
    let t0 = Instant::now();
    // GDAL reads the points on one thread while the reference layers load and the analysis is
    // prepared on the others.
    let (points, analyzer) = rayon::join(
        || {
            let points = crate::io::points::read_points(input);
            (points, t0.elapsed().as_millis() as u64)
        },
        || load_reference(&layer_paths, data).map(|r| config.analyzer(&r)),
    );
    let (points, read_ms) = points;
    let (points, analyzer) = (points?, analyzer?);
    progress(Progress::Total(points.len() as u64));
    // In chunks, written as they are done: the analysis fields of a million points would not fit in
    // a sensible amount of memory all at once. Each chunk is written while the next is analysed.
    let mut writer = crate::io::results::ResultWriter::create(output)?;
    let format = writer.format();
    let mut done: Option<Vec<std::io::Result<Vec<u8>>>> = None;
    for chunk in points.chunks(ANALYZE_CHUNK) {
        let previous = done.take();
        let (rows, written) = rayon::join(
            || {
                // In the order of a fine lon/lat grid, so that neighbours are analysed one after
                // the other and find the reference data they share still in the cache; the rows
                // keep their input order.
                let mut order: Vec<u32> = (0..chunk.len() as u32).collect();
                let cell = |p: &crate::io::points::InputPoint| {
                    // 0.05° cells (7200 x 3600 cover the world in 16 bits each).
                    let q = |v: f64| ((v + 180.0) * 20.0) as u16;
                    crate::index::z_order(q(p.location.lon()), q(p.location.lat()))
                };
                order.par_sort_by_cached_key(|&i| cell(&chunk[i as usize]));
                let mut rows: Vec<(u32, std::io::Result<Vec<u8>>)> = order
                    .par_iter()
                    .map_init(
                        || {
                            (
                                crate::io::results::RowFormatter::new(format),
                                Tally::new(&progress),
                            )
                        },
                        |(formatter, tally), &i| {
                            let p = &chunk[i as usize];
                            let a = analyzer.assess(
                                [p.location.lon(), p.location.lat()],
                                p.country.as_ref(),
                                p.volume_m3,
                                p.dam_height_m,
                            );
                            tally.add();
                            (i, formatter.row(p, a.fields(p.country.as_ref())))
                        },
                    )
                    .collect();
                rows.par_sort_unstable_by_key(|r| r.0);
                rows.into_iter().map(|(_, r)| r).collect::<Vec<_>>()
            },
            || previous.map_or(Ok(()), |rows| writer.write(&rows)),
        );
        written?;
        done = Some(rows);
    }
    if let Some(rows) = done {
        writer.write(&rows)?;
    }
    writer.finish()?;
    tracing::info!(
        points = points.len(),
        read_ms,
        analyse_and_write_ms = (t0.elapsed().as_millis() as u64).saturating_sub(read_ms),
        candidate_grid = ?analyzer.grid_usage(),
        "analysis written"
    );
    Ok(points.len())
}

/// What [`analyze_file`] reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The input is read: this many points will be analysed.
    Total(u64),
    /// This many more points are analysed.
    Done(u64),
}

/// Points counted on one thread, passed on to a progress callback in batches (and the rest when
/// dropped): a shared counter touched for every point costs more than some analyses.
struct Tally<'a, F: Fn(Progress)> {
    progress: &'a F,
    pending: u64,
}

impl<'a, F: Fn(Progress)> Tally<'a, F> {
    fn new(progress: &'a F) -> Self {
        Tally {
            progress,
            pending: 0,
        }
    }

    fn add(&mut self) {
        self.pending += 1;
        if self.pending == 1024 {
            (self.progress)(Progress::Done(std::mem::take(&mut self.pending)));
        }
    }
}

impl<F: Fn(Progress)> Drop for Tally<'_, F> {
    fn drop(&mut self) {
        if self.pending > 0 {
            (self.progress)(Progress::Done(self.pending));
        }
    }
}

/// How many points are analysed between writes.
const ANALYZE_CHUNK: usize = 131_072;

/// Why an analysis run failed.
#[derive(Debug, Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    #[error(transparent)]
    Startup(#[from] StartupError),
}
