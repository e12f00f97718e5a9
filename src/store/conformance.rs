//! The tests every store backend must pass, written against [`Store`] only. A backend runs them
//! all with [`conformance_tests!`], given a factory for a fresh store holding the given sites (each
//! recorded as created): the GeoPackage store does in `gpkg`'s tests, a PostGIS store would do the
//! same.

use std::sync::Arc;
use std::time::Duration;

use super::{
    Abandon, Author, Change, Expect, Op, Store, StoreError, Streamed, TokenRecord, Written,
};
use crate::model::{Iso3, Site, SiteDraft, SiteId};

/// A fresh store for one case; `cleanup` runs when it is dropped.
pub struct Fresh {
    pub store: Arc<dyn Store>,
    pub cleanup: Option<Box<dyn FnOnce()>>,
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Some(cleanup) = self.cleanup.take() {
            cleanup();
        }
    }
}

/// Makes a fresh store named `tag` (unique per case) holding `sites`.
pub type Factory = dyn Fn(&str, Vec<Site>) -> Fresh;

/// One `#[test]` per case of the suite, each on a fresh store from `$factory` (a
/// `fn(&str, Vec<Site>) -> Fresh`).
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::store::conformance::conformance_tests!(@cases $factory;
            edits_are_versioned_checked_and_restorable,
            stale_and_impossible_changes_are_refused,
            a_failed_change_rolls_back_the_whole_write,
            a_batch_of_puts_writes_what_the_puts_one_at_a_time_write,
            history_and_change_tracking,
            tokens_are_added_listed_read_and_revoked,
            derived_ids_are_picked_inside_the_write,
            a_streamed_write_is_all_or_nothing,
            a_streamed_write_counts_and_reports_each_chunk,
            sites_are_read_in_chunks);
    };
    (@cases $factory:expr; $($case:ident),+) => {
        $(
            #[test]
            fn $case() {
                $crate::store::conformance::$case(&$factory);
            }
        )+
    };
}
pub(crate) use conformance_tests;

pub fn site(id: &str, lon: f64) -> Site {
    Site::try_from(SiteDraft {
        id: Some(id.into()),
        name: Some(format!("Site {id}")),
        kind: Some("tailings".into()),
        activity: Some("uranium legacy".into()),
        country: Some("KGZ".into()),
        status: Some("legacy".into()),
        lon: Some(lon),
        lat: Some(41.0),
        precision: Some("site".into()),
        volume_m3: Some(1.5e6),
        substances: vec!["Ra-226".into(), "U".into()],
        sources: vec!["https://example.org/a".into()],
        ..Default::default()
    })
    .unwrap()
}

pub fn author(actor: &str) -> Author {
    Author {
        actor: actor.into(),
        reason: Some(format!("test by {actor}")),
    }
}

pub fn sites_of(store: &dyn Store) -> Vec<Site> {
    store
        .load_sites()
        .unwrap()
        .into_iter()
        .map(|s| s.site)
        .collect()
}

fn sid(id: &str) -> SiteId {
    SiteId::parse(id).unwrap()
}

fn put(site: Site, expect: Expect) -> Change {
    Change::Put { site, expect }
}

/// Create, update (with the right revision), a no-op write, delete and restore, each versioned.
pub fn edits_are_versioned_checked_and_restorable(factory: &Factory) {
    let fresh = factory("edits", vec![site("a", 71.0)]);
    let store = &*fresh.store;
    let id = SiteId::parse("a").unwrap();
    let r0 = store.get(&id).unwrap().unwrap().revision;

    // Update with the right revision.
    let mut changed = site("a", 71.5);
    changed.name = "Renamed".into();
    let w = store
        .write(
            &[Change::Put {
                site: changed.clone(),
                expect: Expect::Revision(r0),
            }],
            &author("alice"),
            &|| {},
        )
        .unwrap();
    assert_eq!(w[0].op, Some(Op::Update));
    let r1 = w[0].revision;
    assert!(r1 > r0);
    // The write and a later read tell the same time of the new version, which is now.
    let t1 = w[0]
        .updated
        .expect("a write tells when its version was written");
    let age = chrono::Utc::now() - t1;
    assert!(
        age >= chrono::TimeDelta::zero() - chrono::TimeDelta::seconds(1),
        "{t1}"
    );
    assert!(age < chrono::TimeDelta::hours(1), "{t1}");
    assert_eq!(store.get(&id).unwrap().unwrap().updated, Some(t1));
    assert!(
        store
            .load_sites()
            .unwrap()
            .iter()
            .all(|s| s.updated.is_some())
    );

    // A stale revision is refused and changes nothing.
    let err = store
        .write(
            &[Change::Put {
                site: site("a", 72.0),
                expect: Expect::Revision(r0),
            }],
            &author("bob"),
            &|| {},
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { expected, actual, .. } if expected == r0 && actual == r1),
        "{err}"
    );
    assert_eq!(store.get(&id).unwrap().unwrap().site, changed);

    // Writing the same site again is not a change.
    let w = store
        .write(
            &[Change::Put {
                site: changed.clone(),
                expect: Expect::Any,
            }],
            &author("alice"),
            &|| {},
        )
        .unwrap();
    assert_eq!((w[0].op, w[0].revision), (None, r1));

    // Delete, then the site is gone but its history stays.
    store
        .write(
            &[Change::Delete {
                id: id.clone(),
                expect: Expect::Revision(r1),
            }],
            &author("carol"),
            &|| {},
        )
        .unwrap();
    assert!(store.get(&id).unwrap().is_none());
    let h = store.history(&id).unwrap();
    let ops: Vec<Op> = h.iter().map(|v| v.op).collect();
    assert_eq!(ops, vec![Op::Delete, Op::Update, Op::Create]);
    assert_eq!(h[1].actor, "alice");
    assert_eq!(h[1].reason.as_deref(), Some("test by alice"));
    assert_eq!(h[1].changes["name"]["old"], "Site a");
    assert_eq!(h[1].changes["name"]["new"], "Renamed");
    assert_eq!(h[1].changes["lon"]["new"], 71.5);
    assert!(!h[1].changes.contains_key("kind"));

    // Restore the renamed state.
    let w = store
        .write(
            &[Change::Restore {
                id: id.clone(),
                version: r1,
                expect: Expect::Absent,
            }],
            &author("dave"),
            &|| {},
        )
        .unwrap();
    assert_eq!(w[0].op, Some(Op::Restore));
    assert_eq!(store.get(&id).unwrap().unwrap().site, changed);
    assert_eq!(store.history(&id).unwrap().len(), 4);
}

/// A change that does not match the stored state is refused, and changes nothing.
pub fn stale_and_impossible_changes_are_refused(factory: &Factory) {
    let fresh = factory("refused", vec![site("a", 71.0)]);
    let store = &*fresh.store;
    let r0 = store.get(&sid("a")).unwrap().unwrap().revision;
    let before = store.latest_revision().unwrap();
    let refused = |change: Change| store.write(&[change], &author("x"), &|| {}).unwrap_err();
    let e = refused(Change::Delete {
        id: sid("a"),
        expect: Expect::Revision(r0 + 100),
    });
    assert!(
        matches!(e, StoreError::Conflict { expected, actual, .. } if expected == r0 + 100 && actual == r0),
        "{e}"
    );
    let e = refused(Change::Restore {
        id: sid("a"),
        version: r0,
        expect: Expect::Revision(r0 - 1),
    });
    assert!(matches!(e, StoreError::Conflict { .. }), "{e}");
    let e = refused(put(site("a", 72.0), Expect::Absent));
    assert!(matches!(e, StoreError::Exists { .. }), "{e}");
    let e = refused(put(site("b", 72.0), Expect::Revision(1)));
    assert!(matches!(e, StoreError::NotFound { .. }), "{e}");
    let e = refused(Change::Delete {
        id: sid("b"),
        expect: Expect::Any,
    });
    assert!(matches!(e, StoreError::NotFound { .. }), "{e}");
    let e = refused(Change::Restore {
        id: sid("a"),
        version: r0 + 100,
        expect: Expect::Any,
    });
    assert!(matches!(e, StoreError::NoSuchVersion { .. }), "{e}");
    assert_eq!(store.latest_revision().unwrap(), before);
    // A deleted site's id cannot be taken by a create.
    store
        .write(
            &[Change::Delete {
                id: sid("a"),
                expect: Expect::Revision(r0),
            }],
            &author("x"),
            &|| {},
        )
        .unwrap();
    let e = refused(put(site("a", 72.0), Expect::Absent));
    assert!(matches!(e, StoreError::Deleted { .. }), "{e}");
}

/// A batch with one failing change writes nothing.
pub fn a_failed_change_rolls_back_the_whole_write(factory: &Factory) {
    let fresh = factory("rollback", vec![site("a", 71.0)]);
    let store = &*fresh.store;
    let before = store.latest_revision().unwrap();
    let err = store
        .write(
            &[
                Change::Put {
                    site: site("b", 70.0),
                    expect: Expect::Absent,
                },
                Change::Put {
                    site: site("a", 70.0),
                    expect: Expect::Absent,
                },
            ],
            &author("x"),
            &|| {},
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Exists { .. }), "{err}");
    assert_eq!(sites_of(store).len(), 1);
    assert_eq!(store.latest_revision().unwrap(), before);
}

/// Many puts in one write (an import's chunk) give each what it gives alone: a create, an update
/// with the right revision, an unchanged site (no new version), in order, with increasing
/// revisions and one version each; and a refusal anywhere in the batch (a stale revision, a create
/// of a deleted id) writes none of it.
pub fn a_batch_of_puts_writes_what_the_puts_one_at_a_time_write(factory: &Factory) {
    let fresh = factory(
        "batch",
        vec![site("a", 71.0), site("b", 72.0), site("gone", 73.0)],
    );
    let store = &*fresh.store;
    let ra = store.get(&sid("a")).unwrap().unwrap().revision;
    let rb = store.get(&sid("b")).unwrap().unwrap().revision;
    let rg = store.get(&sid("gone")).unwrap().unwrap().revision;
    store
        .write(
            &[Change::Delete {
                id: sid("gone"),
                expect: Expect::Revision(rg),
            }],
            &author("x"),
            &|| {},
        )
        .unwrap();
    let mut a = site("a", 71.5);
    a.name = "Renamed in a batch".into();
    let batch = |more: Vec<Change>| {
        let mut changes = vec![
            put(site("c", 70.0), Expect::Absent),
            put(a.clone(), Expect::Revision(ra)),
            put(site("b", 72.0), Expect::Any),
            put(site("d", 69.0), Expect::Any),
        ];
        changes.extend(more);
        changes
    };

    // Refused part-way: nothing of the batch is written.
    let before = store.latest_revision().unwrap();
    for (bad, what) in [
        (put(site("b", 60.0), Expect::Revision(rb + 100)), "stale"),
        (put(site("gone", 60.0), Expect::Absent), "deleted"),
        (put(site("e", 60.0), Expect::Revision(1)), "missing"),
    ] {
        let mut changes = batch(vec![]);
        changes.insert(2, bad);
        changes.remove(3); // b appears once
        let err = store.write(&changes, &author("x"), &|| {}).unwrap_err();
        match what {
            "stale" => assert!(matches!(err, StoreError::Conflict { .. }), "{err}"),
            "deleted" => assert!(matches!(err, StoreError::Deleted { .. }), "{err}"),
            _ => assert!(matches!(err, StoreError::NotFound { .. }), "{err}"),
        }
        assert_eq!(store.latest_revision().unwrap(), before, "{what}");
        assert!(store.get(&sid("c")).unwrap().is_none(), "{what}");
    }

    let w = store
        .write(&batch(vec![]), &author("importer"), &|| {})
        .unwrap();
    let ids: Vec<&str> = w.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids, ["c", "a", "b", "d"]);
    let ops: Vec<Option<Op>> = w.iter().map(|w| w.op).collect();
    assert_eq!(
        ops,
        [Some(Op::Create), Some(Op::Update), None, Some(Op::Create)]
    );
    assert_eq!(w[2].revision, rb, "an unchanged site keeps its revision");
    assert!(w[0].revision > before);
    assert!(w[0].revision < w[1].revision && w[1].revision < w[3].revision);
    for written in &w {
        let now = store.get(&written.id).unwrap().unwrap();
        assert_eq!(now.revision, written.revision, "{}", written.id);
        assert_eq!(now.updated, written.updated, "{}", written.id);
        assert_eq!(Some(&now.site), written.site.as_ref(), "{}", written.id);
    }
    assert_eq!(store.get(&sid("a")).unwrap().unwrap().site, a);
    let versions = |id: &str| store.history(&sid(id)).unwrap();
    assert_eq!(versions("c").len(), 1);
    assert_eq!(versions("b").len(), 1);
    let ha = versions("a");
    assert_eq!(ha.len(), 2);
    assert_eq!(ha[0].actor, "importer");
    assert_eq!(ha[0].changes["name"]["new"], "Renamed in a batch");
    assert_eq!(store.latest_revision().unwrap(), w[3].revision);
}

/// The version counter, the changes since a revision, the history's order and differences, and the
/// change feed.
pub fn history_and_change_tracking(factory: &Factory) {
    let fresh = factory("tracking", vec![site("a", 71.0), site("b", 72.0)]);
    let store = &*fresh.store;
    let seen = store.latest_revision().unwrap();
    assert!(seen > 0);
    assert!(store.changed_since(seen).unwrap().is_empty());
    assert!(store.history(&sid("never")).unwrap().is_empty());
    let mut feed = store.changes(seen, Duration::from_millis(10)).unwrap();
    let mut progress = 0;
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let written = store
        .write(
            &[
                put(site("c", 70.0), Expect::Absent),
                put(site("a", 71.5), Expect::Any),
            ],
            &author("x"),
            &|| {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            },
        )
        .unwrap();
    progress += counter.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(progress, 2);
    assert_eq!(written[0].op, Some(Op::Create));
    assert_eq!(written[1].op, Some(Op::Update));
    let latest = store.latest_revision().unwrap();
    assert_eq!(latest, written[1].revision.max(written[0].revision));
    let mut changed = store.changed_since(seen).unwrap();
    changed.sort();
    assert_eq!(
        changed,
        vec![
            (sid("a"), written[1].revision),
            (sid("c"), written[0].revision)
        ]
    );
    assert_eq!(feed.next().unwrap().unwrap(), latest);
    // A feed made after the write, from the revision read before it, misses nothing.
    let mut late = store.changes(seen, Duration::from_millis(10)).unwrap();
    assert_eq!(late.next().unwrap().unwrap(), latest);
    let h = store.history(&sid("a")).unwrap();
    assert_eq!(
        h.iter().map(|v| v.op).collect::<Vec<_>>(),
        [Op::Update, Op::Create]
    );
    assert!(h[0].version > h[1].version);
    assert_eq!(h[0].changes["lon"]["old"], 71.0);
    assert_eq!(h[0].changes["lon"]["new"], 71.5);
    assert_eq!(h[0].properties["lon"], 71.5);
    assert_eq!(
        store.get(&sid("a")).unwrap().unwrap().revision,
        written[1].revision
    );
}

/// Tokens: added, listed in order, read by id, revoked once.
pub fn tokens_are_added_listed_read_and_revoked(factory: &Factory) {
    let fresh = factory("tokens", vec![]);
    let store = &*fresh.store;
    let token = |id: &str, countries: &[&str]| TokenRecord {
        token_id: id.into(),
        name: format!("holder of {id}"),
        role: if countries.is_empty() {
            super::Role::Admin
        } else {
            super::Role::Editor
        },
        countries: countries
            .iter()
            .map(|c| Iso3::parse(c, "country").unwrap())
            .collect(),
        hash: format!("$argon2id$hash-of-{id}"),
        created_at: "2026-01-01T00:00:00Z".into(),
        revoked_at: None,
    };
    assert!(store.tokens().unwrap().is_empty());
    let (a, b) = (token("0a0a", &["KGZ", "TJK"]), token("0b0b", &[]));
    store.add_token(&a).unwrap();
    store.add_token(&b).unwrap();
    assert!(store.add_token(&a).is_err(), "token ids are unique");
    assert_eq!(store.tokens().unwrap(), vec![a.clone(), b.clone()]);
    assert_eq!(store.token("0a0a").unwrap(), Some(a));
    assert_eq!(store.token("ffff").unwrap(), None);
    assert!(store.revoke_token("0b0b").unwrap());
    assert!(!store.revoke_token("0b0b").unwrap(), "already revoked");
    assert!(!store.revoke_token("ffff").unwrap());
    let revoked = store.token("0b0b").unwrap().unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(revoked.hash, b.hash);
}

/// [`Change::CreateDerived`] takes the first id of base, base-2, … that no live or deleted site
/// has, also when writers race.
pub fn derived_ids_are_picked_inside_the_write(factory: &Factory) {
    let fresh = factory("derived", vec![site("kgz_x", 71.0), site("kgz_x-3", 71.0)]);
    let store = &*fresh.store;
    let derived = |base: &str| {
        let w = store
            .write(
                &[Change::CreateDerived {
                    site: site(base, 72.0),
                }],
                &author("x"),
                &|| {},
            )
            .unwrap();
        assert_eq!(w[0].op, Some(Op::Create));
        assert_eq!(w[0].site.as_ref().unwrap().id, w[0].id);
        w[0].id.to_string()
    };
    assert_eq!(derived("kgz_y"), "kgz_y");
    assert_eq!(derived("kgz_x"), "kgz_x-2");
    assert_eq!(derived("kgz_x"), "kgz_x-4");
    // A deleted site's id stays taken.
    let r = store.get(&sid("kgz_y")).unwrap().unwrap().revision;
    store
        .write(
            &[Change::Delete {
                id: sid("kgz_y"),
                expect: Expect::Revision(r),
            }],
            &author("x"),
            &|| {},
        )
        .unwrap();
    assert_eq!(derived("kgz_y"), "kgz_y-2");
    assert_eq!(
        store.get(&sid("kgz_y-2")).unwrap().unwrap().site.name,
        "Site kgz_y"
    );
    // Writers racing on one base each get their own id.
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| derived("kgz_race"))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 8, "{ids:?}");
}

/// A source of changes for [`super::SiteStore::write_stream`] giving `chunks` in turn, then the end
/// (or, with `abandon`, giving up instead).
fn chunks_of(
    chunks: Vec<Vec<Change>>,
    abandon: bool,
) -> impl FnMut() -> Result<Option<Vec<Change>>, Abandon> {
    let mut chunks = chunks.into_iter();
    move || match chunks.next() {
        Some(c) => Ok(Some(c)),
        None if abandon => Err(Abandon),
        None => Ok(None),
    }
}

/// A streamed write that fails in a later chunk, or that its source gives up after the last one,
/// writes nothing of the earlier chunks.
pub fn a_streamed_write_is_all_or_nothing(factory: &Factory) {
    let fresh = factory("stream-rollback", vec![site("a", 71.0)]);
    let store = &*fresh.store;
    let before = store.latest_revision().unwrap();
    let first = || {
        vec![
            put(site("b", 70.0), Expect::Absent),
            put(site("a", 70.5), Expect::Any),
        ]
    };
    let mut seen = 0;
    // A change of the third chunk is refused.
    let mut next = chunks_of(
        vec![
            first(),
            vec![put(site("c", 70.0), Expect::Any)],
            vec![put(site("a", 72.0), Expect::Absent)],
            vec![put(site("d", 70.0), Expect::Any)],
        ],
        false,
    );
    let err = store
        .write_stream(&mut next, &author("x"), &|| {}, &mut |w| seen += w.len())
        .unwrap_err();
    assert!(matches!(err, StoreError::Exists { .. }), "{err}");
    assert_eq!(
        seen, 3,
        "the chunks before the failing one were applied, then undone"
    );
    // The source gives up after its last chunk.
    let mut next = chunks_of(vec![first(), vec![put(site("c", 70.0), Expect::Any)]], true);
    let err = store
        .write_stream(&mut next, &author("x"), &|| {}, &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, StoreError::Abandoned), "{err}");
    assert_eq!(sites_of(store), vec![site("a", 71.0)]);
    assert_eq!(store.latest_revision().unwrap(), before);
    assert!(store.changed_since(before).unwrap().is_empty());
    // The store is usable after both: a whole stream commits.
    let mut next = chunks_of(vec![first()], false);
    store
        .write_stream(&mut next, &author("x"), &|| {}, &mut |_| {})
        .unwrap();
    assert_eq!(sites_of(store).len(), 2);
}

/// A streamed write counts what it did, tells of each chunk once applied and of each change, and
/// says which versions it made.
pub fn a_streamed_write_counts_and_reports_each_chunk(factory: &Factory) {
    let fresh = factory("stream-counts", vec![site("a", 71.0), site("b", 72.0)]);
    let store = &*fresh.store;
    let before = store.latest_revision().unwrap();
    let r_b = store.get(&sid("b")).unwrap().unwrap().revision;
    let mut next = chunks_of(
        vec![
            vec![
                put(site("c", 70.0), Expect::Absent),
                put(site("a", 71.5), Expect::Any),
            ],
            vec![],
            vec![
                put(site("a", 71.5), Expect::Any),
                Change::Delete {
                    id: sid("b"),
                    expect: Expect::Revision(r_b),
                },
                Change::Restore {
                    id: sid("b"),
                    version: r_b,
                    expect: Expect::Absent,
                },
            ],
        ],
        false,
    );
    let progress = std::sync::atomic::AtomicUsize::new(0);
    let mut chunks: Vec<Vec<Written>> = Vec::new();
    let summary = store
        .write_stream(
            &mut next,
            &author("x"),
            &|| {
                progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            },
            &mut |w| chunks.push(w.to_vec()),
        )
        .unwrap();
    let latest = store.latest_revision().unwrap();
    assert_eq!(
        summary,
        Streamed {
            changes: 5,
            created: 1,
            updated: 1,
            restored: 1,
            deleted: 1,
            unchanged: 1,
            revisions: Some((before + 1, latest)),
        }
    );
    assert_eq!(latest, before + 4);
    assert_eq!(progress.into_inner(), 5);
    // An empty chunk is not reported.
    assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(chunks[0][0].site, Some(site("c", 70.0)));
    assert_eq!(chunks[1][0].op, None);
    assert_eq!(
        (chunks[1][1].op, &chunks[1][1].site),
        (Some(Op::Delete), &None)
    );
    assert_eq!(chunks[1][2].revision, latest);
    assert_eq!(
        sites_of(store),
        vec![site("a", 71.5), site("b", 72.0), site("c", 70.0)]
    );
    // An empty stream changes nothing.
    let mut next = chunks_of(vec![], false);
    let summary = store
        .write_stream(&mut next, &author("x"), &|| {}, &mut |_| {})
        .unwrap();
    assert_eq!(summary, Streamed::default());
    assert_eq!(store.latest_revision().unwrap(), latest);
}

/// [`super::SiteStore::for_each_site_chunk`] gives what `load_sites` gives, in chunks of at most
/// the size asked, and stops at the first error of its callback.
pub fn sites_are_read_in_chunks(factory: &Factory) {
    let sites: Vec<Site> = (0..7)
        .map(|i| site(&format!("s{i}"), 70.0 + i as f64 / 10.0))
        .collect();
    let fresh = factory("chunks", sites);
    let store = &*fresh.store;
    let all = store.load_sites().unwrap();
    for chunk in [0, 1, 3, 7, 100] {
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        store
            .for_each_site_chunk(chunk, &mut |c| {
                sizes.push(c.len());
                // The store may be used meanwhile.
                assert!(store.get(&c[0].site.id).unwrap().is_some());
                got.extend(c);
                Ok(())
            })
            .unwrap();
        assert_eq!(got, all, "chunks of {chunk}");
        let most = chunk.max(1);
        assert!(
            sizes.iter().all(|&n| n >= 1 && n <= most),
            "{chunk}: {sizes:?}"
        );
        assert_eq!(sizes.len(), all.len().div_ceil(most), "{chunk}: {sizes:?}");
    }
    let mut calls = 0;
    let err = store
        .for_each_site_chunk(2, &mut |_| {
            calls += 1;
            Err(StoreError::NotFound { id: "stop".into() })
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert_eq!(calls, 1);
}
