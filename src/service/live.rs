//! The running service's state: what is published, re-analysed and swapped in as sites change, from
//! this process's edits or from other processes' writes to the store.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use crate::analysis::Analyzer;
use crate::analysis::nearest::PointIndex;
use crate::catalog::{Catalog, Collection};
use crate::model::{Site, SiteId};
use crate::store::{Author, Change, Store, StoreError, Written};

use super::startup::Atlas;

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
