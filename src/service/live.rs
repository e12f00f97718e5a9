//! The running service's state: what is published, re-analysed and swapped in as sites change, from
//! this process's edits or from other processes' writes to the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::Instant;

use crate::analysis::Analyzer;
use crate::catalog::{Catalog, Collection, SiteRecord, SiteTable};
use crate::metrics::Metrics;
use crate::model::{Interner, Site, SiteId};
use crate::reference::RefLayer;
use crate::risk::{RiskModel, SiteRisk};
use crate::store::{Author, Change, Store, StoreError, Timed, Written};

use super::startup::Atlas;

/// How many changed sites a refresh reads and publishes at a time.
const REFRESH_CHUNK: usize = 10_000;

/// What a running service publishes; changed piecemeal as sites change.
#[derive(Debug)]
pub struct Live {
    pub catalog: Catalog,
    /// The newest store version reflected here.
    pub revision: i64,
    /// Counts the changes published here: what was derived from one state (a cached page) is
    /// valid while this stays the same.
    pub generation: u64,
    /// Deleted sites and the version that deleted them, so a stale update cannot bring one back.
    deleted: HashMap<String, i64>,
    /// The [`SiteTable::fingerprint`] of the sites the published risk layers were computed from.
    risk_basis: u64,
}

impl Live {
    fn new(catalog: Catalog, revision: i64) -> Self {
        // The risk layers a service starts with are computed from the sites it starts with.
        let risk_basis = catalog.sites().map_or(0, SiteTable::fingerprint);
        Live {
            catalog,
            revision,
            generation: 0,
            deleted: HashMap::new(),
            risk_basis,
        }
    }

    /// Identifies what is published by the data alone (the sites' ids and store versions, and the
    /// sites the risk layers were computed from), not by this process's history: every replica
    /// that publishes the same state gives the same tag, so a validator (ETag) made from it is
    /// good on each of them. [`Live::generation`] is this process's own counter.
    pub fn state_tag(&self) -> String {
        let sites = self.sites().map_or(0, SiteTable::fingerprint);
        format!("{sites:016x}{:016x}", self.risk_basis)
    }

    /// The published sites.
    pub fn sites(&self) -> Option<&SiteTable> {
        self.catalog.sites()
    }

    /// The newest version of `id` published here (a delete counts).
    fn revision_of(&self, id: &str) -> Option<i64> {
        let live = self
            .sites()
            .and_then(|t| t.record(id))
            .and_then(|r| r.revision);
        live.or_else(|| self.deleted.get(id).copied())
    }
}

/// A site's new state, to publish: `None` once deleted. `revision` is the version that made it.
#[derive(Debug, Clone)]
pub struct Update {
    pub id: SiteId,
    pub site: Option<Site>,
    pub revision: i64,
    /// When that version was written, if known.
    pub updated: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<&Written> for Update {
    fn from(w: &Written) -> Self {
        Update {
            id: w.id.clone(),
            site: w.site.clone(),
            revision: w.revision,
            updated: w.updated,
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
    /// Shares the texts of the published analysis records.
    pub interner: Arc<Interner>,
    /// Scores the sites.
    pub risk: Arc<RiskModel>,
    /// The country polygons of the risk summary.
    countries: RefLayer,
    /// One recompute of the risk layers at a time.
    risk_lock: Mutex<()>,
    /// What the service counts and times (the store's operations among them).
    pub metrics: Arc<Metrics>,
    /// Publishes of many changes at once under way: the site index is being rebuilt.
    rebuilding: AtomicUsize,
}

/// Marks a bulk publish under way for as long as it lives.
struct Rebuilding<'a>(&'a AtomicUsize);

impl<'a> Rebuilding<'a> {
    fn start(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Rebuilding(n)
    }
}

impl Drop for Rebuilding<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").finish_non_exhaustive()
    }
}

impl Service {
    pub fn new(atlas: Atlas) -> Self {
        let metrics = Arc::new(Metrics::default());
        let store = atlas
            .store
            .map(|s| Arc::new(Timed::new(s, metrics.clone())) as Arc<dyn Store>);
        Service {
            live: RwLock::new(Live::new(atlas.catalog, atlas.revision)),
            analyzer: atlas.analyzer,
            store,
            interner: atlas.interner,
            risk: atlas.risk,
            countries: atlas.countries,
            risk_lock: Mutex::new(()),
            metrics,
            rebuilding: AtomicUsize::new(0),
        }
    }

    /// Whether many changes are being published at once (the site index is rebuilt for them):
    /// reads still answer, from the state before, but a replica in this state is not ready.
    pub fn rebuilding(&self) -> bool {
        self.rebuilding.load(Ordering::SeqCst) > 0
    }

    /// The published state, to read.
    pub fn live(&self) -> RwLockReadGuard<'_, Live> {
        self.live.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The record of `site` as this service would publish it, at store version `revision` written
    /// at `updated`.
    pub fn record(
        &self,
        site: Site,
        revision: Option<i64>,
        updated: Option<chrono::DateTime<chrono::Utc>>,
    ) -> SiteRecord {
        let analysis = self.analyzer.site_record(&site, &self.interner);
        SiteRecord {
            risk: SiteRisk::of(&self.risk, &site, &analysis),
            analysis,
            site,
            revision,
            updated,
        }
    }

    /// Recomputes the risk layers from the published sites and swaps them in. Readers keep reading
    /// meanwhile; recomputes run one at a time, each from the sites as published when it starts, so
    /// the last one reflects every change published before it.
    pub fn recompute_risk(&self) {
        let _one = self.risk_lock.lock().unwrap_or_else(|p| p.into_inner());
        let start = Instant::now();
        let (basis, layers) = {
            let live = self.live();
            let Some(table) = live.sites() else {
                return;
            };
            (
                table.fingerprint(),
                super::risk::risk_collections(&self.risk, &self.analyzer, &self.countries, table),
            )
        };
        match layers {
            Ok(layers) => {
                let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
                super::risk::install(&mut live.catalog, layers);
                live.risk_basis = basis;
                live.generation += 1;
                drop(live);
                self.metrics.step("risk_layers", start.elapsed());
            }
            Err(e) => tracing::error!(error = %e, "cannot publish the risk layers"),
        }
    }

    /// Re-analyses the changed sites (in parallel) and publishes them, then the risk layers they
    /// change; updates older than what is already published are ignored. The work under the lock is
    /// per changed site, never per site published.
    pub fn publish(&self, updates: &[Update]) {
        let start = Instant::now();
        if self.publish_sites(updates) {
            self.metrics.step("sites", start.elapsed());
            self.recompute_risk();
        }
    }

    /// The sites' part of [`Service::publish`]: whether anything was published.
    fn publish_sites(&self, updates: &[Update]) -> bool {
        use rayon::prelude::*;
        if updates.is_empty() {
            return false;
        }
        // What is already published at this version or later is not analysed again (this
        // process's own writes, coming back through the store's change feed).
        let fresh: Vec<&Update> = {
            let live = self.live();
            updates
                .iter()
                .filter(|u| {
                    live.revision_of(u.id.as_str())
                        .is_none_or(|r| r < u.revision)
                })
                .collect()
        };
        if fresh.is_empty() {
            return false;
        }
        let many = self.live().sites().map_or(0, SiteTable::len) / 4;
        let bulk = fresh.len() > 1_000 && fresh.len() > many;
        let _rebuilding = bulk.then(|| Rebuilding::start(&self.rebuilding));
        // Analysis happens before the lock, so readers never wait for it.
        let prepared: Vec<(&Update, Option<SiteRecord>)> = fresh
            .par_iter()
            .map(|u| {
                (
                    *u,
                    u.site
                        .clone()
                        .map(|s| self.record(s, Some(u.revision), u.updated)),
                )
            })
            .collect();
        let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
        let live = &mut *live;
        for (u, record) in prepared {
            if live
                .revision_of(u.id.as_str())
                .is_some_and(|r| r >= u.revision)
            {
                continue;
            }
            let Some(c) = live.catalog.collection_mut(crate::reference::SITES) else {
                return false;
            };
            live.generation += 1;
            match record {
                Some(record) => {
                    c.put_site(record);
                    live.deleted.remove(u.id.as_str());
                }
                None => {
                    if let Some(t) = c.sites_mut() {
                        t.remove(u.id.as_str());
                    }
                    live.deleted.insert(u.id.to_string(), u.revision);
                }
            }
        }
        // Many changes at once: one bulk load packs the R-tree better than many inserts.
        if bulk
            && let Some(t) = live
                .catalog
                .collection_mut(crate::reference::SITES)
                .and_then(Collection::sites_mut)
        {
            t.rebuild_points();
        }
        true
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
        super::audit::written(author, &written);
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
        let mut updates = Vec::new();
        let mut count = 0;
        let mut newest = seen;
        for (id, revision) in changed {
            newest = newest.max(revision);
            // Published already (this process wrote it): nothing to read.
            if self
                .live()
                .revision_of(id.as_str())
                .is_some_and(|r| r >= revision)
            {
                continue;
            }
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
                updated: current.as_ref().and_then(|s| s.updated),
                site: current.map(|s| s.site),
            });
            // Another process's bulk import: published a chunk at a time, in bounded memory.
            if updates.len() >= REFRESH_CHUNK {
                count += updates.len();
                self.publish(&std::mem::take(&mut updates));
            }
        }
        count += updates.len();
        self.publish(&updates);
        let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
        live.revision = live.revision.max(newest);
        Ok(count)
    }
}

/// Publishes what other processes (or this one) write to the store, as its change feed tells of
/// it, on a thread of its own, for as long as the process runs. `service` finds the [`Service`]
/// inside `owner`; nothing happens for a service without a store.
pub fn follow_store<T: Send + Sync + 'static>(
    owner: Arc<T>,
    service: fn(&T) -> &Service,
    interval: std::time::Duration,
) -> std::io::Result<()> {
    let Some(store) = service(&owner).store.clone() else {
        return Ok(());
    };
    let since = service(&owner).live().revision;
    let feed = store
        .changes(since, interval)
        .map_err(std::io::Error::other)?;
    std::thread::Builder::new()
        .name("store-watch".into())
        .spawn(move || {
            for change in feed {
                match change.and_then(|_| service(&owner).refresh()) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(sites = n, "published changes from the store"),
                    Err(e) => tracing::warn!(error = %e, "cannot read changes from the store"),
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Selection;
    use crate::index::BBox;
    use crate::model::SiteDraft;
    use crate::reference::SITES_SPEC;
    use crate::reference::seed::read_seed_sites;
    use std::path::Path;

    #[test]
    fn a_bulk_publish_marks_the_service_rebuilding_until_it_is_done() {
        use crate::service::test_sites::{reference, seed_sites, seeded_sites};
        let service = Service::new(Atlas::build(&seed_sites(), reference()).unwrap());
        assert!(!service.rebuilding());
        // More than 1,000 new sites and more than a quarter of those published: a bulk publish.
        let updates: Vec<Update> = seeded_sites(3_000, 7)
            .into_iter()
            .map(|s| Update {
                id: s.id.clone(),
                site: Some(s),
                revision: 1,
                updated: None,
            })
            .collect();
        let seen = std::thread::scope(|scope| {
            let publishing = scope.spawn(|| service.publish(&updates));
            let mut seen = false;
            while !publishing.is_finished() {
                seen |= service.rebuilding();
            }
            publishing.join().unwrap();
            seen
        });
        assert!(seen, "rebuilding() was never true during the bulk publish");
        assert!(!service.rebuilding());
        // A single change is not a rebuild.
        let one = seeded_sites(1, 8).remove(0);
        let id = one.id.clone();
        let seen = std::thread::scope(|scope| {
            let publishing = scope.spawn(|| {
                service.publish(&[Update {
                    id,
                    site: Some(one),
                    revision: 2,
                    updated: None,
                }])
            });
            let mut seen = false;
            while !publishing.is_finished() {
                seen |= service.rebuilding();
            }
            publishing.join().unwrap();
            seen
        });
        assert!(!seen);
    }

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
                updated: None,
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
                .properties()
                .into_owned()
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
                filter: None,
            })
            .into_iter()
            .map(|i| c.get(i).unwrap().id().to_owned())
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
            service.live().catalog.collection("sites").unwrap().len(),
            sites.len() + 1
        );
    }

    #[test]
    fn the_state_tag_follows_the_data_not_the_order_it_was_published_in() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let reference = crate::io::layers::load_reference_dir(&data).unwrap();
        let sites = read_seed_sites(&data.join(SITES_SPEC.file)).unwrap();
        let service = || Service::new(Atlas::build(&sites, &reference).unwrap());
        let (a, b) = (service(), service());
        let start = a.live().state_tag();
        assert_eq!(start, b.live().state_tag());
        let update = |i: usize, revision: i64, lon: f64| {
            let mut site = sites[i].clone();
            site.location = crate::model::Wgs84Point::new(lon, site.location.lat()).unwrap();
            Update {
                id: site.id.clone(),
                site: Some(site),
                revision,
                updated: None,
            }
        };
        let gone = Update {
            id: sites[3].id.clone(),
            site: None,
            revision: 12,
            updated: None,
        };
        let (u1, u2) = (update(0, 10, 70.1), update(1, 11, 70.2));
        // Replica a is told of the changes one by one, replica b all at once in another order.
        a.publish(std::slice::from_ref(&u1));
        let between = a.live().state_tag();
        assert_ne!(between, start);
        a.publish(std::slice::from_ref(&u2));
        a.publish(std::slice::from_ref(&gone));
        b.publish(&[gone.clone(), u2.clone(), u1.clone()]);
        assert_eq!(a.live().state_tag(), b.live().state_tag());
        assert_ne!(a.live().generation, b.live().generation);
        // The risk layers are part of it: computed from other sites, another tag.
        let mut live = a.live.write().unwrap();
        let full = live.state_tag();
        live.risk_basis ^= 1;
        assert_ne!(live.state_tag(), full);
        assert_eq!(live.state_tag()[..16], full[..16]);
    }
}
