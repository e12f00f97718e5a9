//! Bulk writes to the running service (imports): one transaction fed chunk by chunk, and the
//! written sites published to readers in chunks, only once the transaction is committed.

use crate::store::{Author, NextChunk, Store, StoreError, Streamed, Written};

use super::{Service, Update};

/// The most changed sites a bulk write keeps to publish after its commit (some 20 MB); beyond
/// that, it keeps none and reads the sites it wrote back from the store, a chunk at a time.
pub const PUBLISH_BUDGET: usize = 20_000;

/// The most sites one [`Service::publish`] of a bulk write gets: the analysis and serialisation of
/// a chunk are what is held at once.
pub const PUBLISH_CHUNK: usize = 10_000;

impl Service {
    /// Writes the chunks `next_chunk` gives in one transaction
    /// ([`crate::store::SiteStore::write_stream`]), then publishes the changed sites in chunks of
    /// [`PUBLISH_CHUNK`], never before the commit. Up to [`PUBLISH_BUDGET`] changed sites are kept
    /// from the write for that; a larger write keeps none and reads back, in chunks, the sites
    /// whose latest version it made (a site changed again since by someone else is left to
    /// [`Service::refresh`], as is a streamed delete).
    pub fn write_stream(
        &self,
        next_chunk: &mut NextChunk<'_>,
        author: &Author,
        progress: &(dyn Fn() + Sync),
    ) -> Result<Streamed, StoreError> {
        self.write_stream_within(next_chunk, author, progress, PUBLISH_BUDGET)
    }

    /// [`Service::write_stream`], keeping at most `budget` changed sites to publish.
    fn write_stream_within(
        &self,
        next_chunk: &mut NextChunk<'_>,
        author: &Author,
        progress: &(dyn Fn() + Sync),
        budget: usize,
    ) -> Result<Streamed, StoreError> {
        let Some(store) = &self.store else {
            return Err(StoreError::Backend {
                path: "(none)".into(),
                message: "this service runs without a store".into(),
            });
        };
        let mut kept: Option<Vec<Update>> = Some(Vec::new());
        let streamed = store.write_stream(next_chunk, author, progress, &mut |written| {
            keep_within_budget(&mut kept, written, budget);
        })?;
        super::audit::streamed(author, &streamed);
        // Committed: only now may readers see the sites.
        match (kept, streamed.revisions) {
            (_, None) => {}
            (Some(updates), Some(_)) => {
                for chunk in updates.chunks(PUBLISH_CHUNK) {
                    self.publish(chunk);
                }
            }
            (None, Some(range)) => self.publish_written(&**store, range)?,
        }
        Ok(streamed)
    }

    /// Publishes the live sites whose latest version lies in `first..=last`, read back from the
    /// store a chunk at a time.
    fn publish_written(
        &self,
        store: &dyn Store,
        (first, last): (i64, i64),
    ) -> Result<(), StoreError> {
        let mut pending: Vec<Update> = Vec::with_capacity(PUBLISH_CHUNK);
        store.for_each_site_chunk(PUBLISH_CHUNK, &mut |chunk| {
            pending.extend(
                chunk
                    .into_iter()
                    .filter(|s| (first..=last).contains(&s.revision))
                    .map(|s| Update {
                        id: s.site.id.clone(),
                        site: Some(s.site),
                        revision: s.revision,
                        updated: s.updated,
                    }),
            );
            // Publishing whole chunks: each publish of many sites rebuilds the k-nearest index.
            if pending.len() >= PUBLISH_CHUNK {
                self.publish(&pending);
                pending.clear();
            }
            Ok(())
        })?;
        self.publish(&pending);
        Ok(())
    }
}

/// Adds the changed sites of `written` to `kept`, or gives up keeping (`None`) once they would be
/// more than `budget`.
fn keep_within_budget(kept: &mut Option<Vec<Update>>, written: &[Written], budget: usize) {
    let Some(updates) = kept else { return };
    let changed = written.iter().filter(|w| w.op.is_some());
    if updates.len() + changed.clone().count() > budget {
        *kept = None;
    } else {
        updates.extend(changed.map(Update::from));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::store::conformance::{author, site};
    use crate::store::{Abandon, Change, Expect};

    const SEED: usize = 27;

    fn sites_published(service: &Service) -> usize {
        let live = service.live();
        live.catalog
            .collection(crate::reference::SITES)
            .map_or(0, |c| c.len())
    }

    /// A service on a fresh store seeded from `data/`.
    fn service(tag: &str) -> (std::path::PathBuf, Service) {
        let dir = std::env::temp_dir().join(format!("atlas-bulk-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let atlas = crate::service::load(&dir.join("atlas.gpkg"), &data).unwrap();
        (dir, Service::new(atlas))
    }

    /// Chunks of sites `bulk_<i>`, in the basin; nothing of them is published while the stream
    /// runs: the service publishes `published` sites before each chunk.
    fn stream(
        service: &Service,
        published: usize,
        (chunks, per_chunk): (usize, usize),
        abandon: bool,
    ) -> impl FnMut() -> Result<Option<Vec<Change>>, Abandon> + '_ {
        let mut given = 0;
        move || {
            assert_eq!(
                sites_published(service),
                published,
                "published before the commit"
            );
            if given == chunks {
                return if abandon { Err(Abandon) } else { Ok(None) };
            }
            let chunk = (0..per_chunk)
                .map(|i| Change::Put {
                    site: site(
                        &format!("bulk_{}", given * per_chunk + i),
                        70.0 + (given * per_chunk + i) as f64 / 1000.0,
                    ),
                    expect: Expect::Any,
                })
                .collect();
            given += 1;
            Ok(Some(chunk))
        }
    }

    #[test]
    fn written_sites_are_published_after_the_commit_from_memory_or_read_back() {
        for (tag, budget) in [("kept", 1_000), ("read-back", 10)] {
            let (dir, service) = service(tag);
            assert_eq!(sites_published(&service), SEED);
            let streamed = service
                .write_stream_within(
                    &mut stream(&service, SEED, (4, 6), false),
                    &author("x"),
                    &|| {},
                    budget,
                )
                .unwrap();
            assert_eq!((streamed.changes, streamed.created), (24, 24));
            assert_eq!(sites_published(&service), SEED + 24, "{tag}");
            let live = service.live();
            let sites = live.catalog.collection(crate::reference::SITES).unwrap();
            let f = sites.feature("bulk_23").unwrap();
            assert!(
                f.properties()["located_country"].is_string(),
                "{tag}: analysed"
            );
            assert!(f.revision().is_some(), "{tag}");
            drop(live);
            // The same again changes nothing, and publishes nothing new.
            let streamed = service
                .write_stream_within(
                    &mut stream(&service, SEED + 24, (4, 6), false),
                    &author("x"),
                    &|| {},
                    budget,
                )
                .unwrap_or_else(|e| panic!("{tag}: {e}"));
            assert_eq!((streamed.unchanged, streamed.revisions), (24, None));
            std::fs::remove_dir_all(&dir).ok();
        }
    }

    #[test]
    fn an_abandoned_stream_publishes_and_writes_nothing() {
        let (dir, service) = service("abandoned");
        let store = service.store.clone().unwrap();
        let before = store.latest_revision().unwrap();
        let err = service
            .write_stream_within(
                &mut stream(&service, SEED, (3, 5), true),
                &author("x"),
                &|| {},
                10,
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Abandoned), "{err}");
        assert_eq!(sites_published(&service), SEED);
        assert_eq!(store.latest_revision().unwrap(), before);
        std::fs::remove_dir_all(&dir).ok();
    }
}
