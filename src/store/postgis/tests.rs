//! The PostGIS store on a throw-away cluster ([`super::testdb`]): the conformance suite, migrations,
//! the constraints, seeding and errors.

use std::sync::Arc;

use postgres::fallible_iterator::FallibleIterator;

use super::migrations::{self, checks, column_type, vocabulary};
use super::testdb;
use super::*;
use crate::model::{Site, SiteDraft};
use crate::schema::{FieldType, SITE_FIELDS};
use crate::store::conformance::{self, Fresh, author, site, sites_of};
use crate::store::{Op, SiteStore};

fn seeded(url: &str, sites: Vec<Site>) -> PgStore {
    PgStore::open(url, || {
        Ok::<_, String>(Seed {
            sites,
            origin: "test".into(),
        })
    })
    .unwrap()
}

fn postgis_factory(tag: &str, sites: Vec<Site>) -> Fresh {
    let url = testdb::database(tag);
    Fresh {
        store: Arc::new(seeded(&url, sites)),
        cleanup: None,
    }
}

conformance::conformance_tests!(postgis_factory);

#[test]
fn the_column_types_and_checks_come_from_the_schema() {
    let sql = &migrations::migrations()[0];
    for f in &SITE_FIELDS {
        let conditions = checks(f).join(" AND ");
        if let Some(max) = f.max_bytes {
            let column = match f.ty {
                FieldType::TextList => format!("array_to_json({})::text", f.name),
                FieldType::Object => format!("{}::text", f.name),
                _ => f.name.to_owned(),
            };
            assert!(
                conditions.contains(&format!("octet_length({column}) <= {max}")),
                "{}: {conditions}",
                f.name
            );
        }
        if let Some(max) = f.max_item_bytes {
            assert!(
                conditions.contains(&format!("atlas_longest_item_bytes({}) <= {max}", f.name)),
                "{}",
                f.name
            );
        }
        if let Some(values) = vocabulary(f.name) {
            for v in values {
                assert!(conditions.contains(&format!("'{v}'")), "{}: {v}", f.name);
            }
        }
        if f.ty == FieldType::Number {
            assert!(!conditions.is_empty(), "{} has no check", f.name);
        }
        match column_type(f) {
            Some(ty) => assert!(sql.contains(&format!("{} {ty}", f.name)), "{}", f.name),
            None => assert!(matches!(f.name, "lon" | "lat")),
        }
        if !conditions.is_empty() {
            assert!(
                sql.contains(&format!(
                    "CONSTRAINT sites_{}_valid CHECK ({conditions})",
                    f.name
                )),
                "{}",
                f.name
            );
        }
    }
    // Every vocabulary of the model is one.
    for field in ["kind", "status", "precision"] {
        assert!(vocabulary(field).is_some_and(|v| !v.is_empty()), "{field}");
    }
}

#[test]
fn a_fresh_database_is_migrated_seeded_once_and_reopened_without_change() {
    let url = testdb::database("migrate");
    let store = seeded(&url, vec![site("b", 72.0), site("a", 71.5)]);
    assert_eq!(store.seed_origin().unwrap().as_deref(), Some("test"));
    let ids: Vec<String> = sites_of(&store).iter().map(|s| s.id.to_string()).collect();
    assert_eq!(ids, ["a", "b"]);
    let h = store
        .history(&crate::model::SiteId::parse("a").unwrap())
        .unwrap();
    assert_eq!(
        (h.len(), h[0].op, h[0].actor.as_str()),
        (1, Op::Create, "seed")
    );
    let revision = store.latest_revision().unwrap();
    // Reopening neither migrates nor seeds again.
    let again = PgStore::open(&url, || Err::<Seed, _>("must not seed")).unwrap();
    assert_eq!(again.latest_revision().unwrap(), revision);
    assert_eq!(sites_of(&again).len(), 2);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let versions: Vec<i32> = c
        .query(
            "SELECT version FROM atlas_schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let all: Vec<i32> = (1..=migrations::migrations().len() as i32).collect();
    assert_eq!(versions, all);
    // An empty seed is recorded too: the store is not seeded again later.
    let empty = testdb::database("empty_seed");
    let store = seeded(&empty, vec![]);
    assert_eq!(store.seed_origin().unwrap().as_deref(), Some("test"));
    assert!(PgStore::open(&empty, || Err::<Seed, _>("must not seed")).is_ok());
}

#[test]
fn two_processes_opening_a_fresh_database_at_once_migrate_and_seed_it_once() {
    let url = testdb::database("concurrent_open");
    let seeds = std::sync::atomic::AtomicUsize::new(0);
    let stores: Vec<PgStore> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    PgStore::open(&url, || {
                        seeds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        Ok::<_, String>(Seed {
                            sites: vec![site("a", 71.0), site("b", 72.0)],
                            origin: "test".into(),
                        })
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    for store in &stores {
        assert_eq!(sites_of(store).len(), 2);
        for s in store.load_sites().unwrap() {
            assert_eq!(store.history(&s.site.id).unwrap().len(), 1, "seeded once");
        }
    }
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM atlas_schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, migrations::migrations().len() as i64);
    assert!(seeds.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

#[test]
fn a_database_with_a_newer_schema_is_refused() {
    let url = testdb::database("newer");
    drop(seeded(&url, vec![site("a", 71.0)]));
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let newer = migrations::migrations().len() as i32 + 1;
    c.execute(
        "INSERT INTO atlas_schema_migrations (version) VALUES ($1)",
        &[&newer],
    )
    .unwrap();
    let e = PgStore::open(&url, || Err::<Seed, _>("must not seed")).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, StoreError::Backend { .. }), "{text}");
    assert!(
        text.contains(&format!(
            "schema is at version {newer}, newer than this build knows"
        )),
        "{text}"
    );
}

/// Raw SQL that puts a row into `sites` with `column = value` and everything else valid.
fn insert_with(
    c: &mut impl postgres::GenericClient,
    id: &str,
    set: &str,
) -> Result<u64, postgres::Error> {
    c.execute(
        &format!(
            "INSERT INTO sites (id, name, kind, activity, country, status, precision, sources, geom) \
             VALUES ('{id}', 'n', 'tailings', 'uranium', 'KGZ', 'legacy', 'site', ARRAY['s'], \
             ST_SetSRID(ST_MakePoint(71, 41), 4326))"
        ),
        &[],
    )?;
    c.execute(&format!("UPDATE sites SET {set} WHERE id = '{id}'"), &[])
}

#[test]
fn the_database_refuses_rows_the_model_refuses() {
    let url = testdb::database("constraints");
    drop(seeded(&url, vec![]));
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    // A valid row goes in (the baseline the refusals below differ from).
    let mut tx = c.transaction().unwrap();
    insert_with(&mut tx, "ok", "name = 'fine'").unwrap();
    tx.rollback().unwrap();
    let long = |n: usize| format!("'{}'", "x".repeat(n));
    let mut bad: Vec<(String, &str)> = vec![
        (
            "geom = ST_SetSRID(ST_MakePoint(181, 41), 4326)".into(),
            "sites_lon_valid",
        ),
        (
            "geom = ST_SetSRID(ST_MakePoint(71, -90.5), 4326)".into(),
            "sites_lat_valid",
        ),
        ("geom = ST_SetSRID(ST_MakePoint(71, 41), 3857)".into(), ""),
        (
            "geom = ST_SetSRID(ST_MakeLine(ST_MakePoint(71, 41), ST_MakePoint(72, 41)), 4326)"
                .into(),
            "",
        ),
        ("id = 'Upper Case'".into(), "sites_id_valid"),
        (format!("id = {}", long(129)), "sites_id_valid"),
        ("kind = 'mine'".into(), "sites_kind_valid"),
        ("status = 'closed'".into(), "sites_status_valid"),
        ("precision = 'exact'".into(), "sites_precision_valid"),
        ("country = 'kg'".into(), "sites_country_valid"),
        ("country = 'kgz'".into(), "sites_country_valid"),
        ("name = '   '".into(), "sites_name_valid"),
        ("volume_m3 = -1".into(), "sites_volume_m3_valid"),
        ("tonnage_t = 'NaN'".into(), "sites_tonnage_t_valid"),
        ("area_m2 = 'Infinity'".into(), "sites_area_m2_valid"),
        ("sources = '{}'".into(), "sites_sources_valid"),
        (
            "sources = ARRAY[NULL]::text[]".into(),
            "sites_sources_valid",
        ),
        ("attributes = '[1]'".into(), "sites_attributes_valid"),
    ];
    for f in &SITE_FIELDS {
        if let Some(max) = f.max_bytes {
            let set = match f.ty {
                FieldType::TextList => format!("{} = ARRAY[{}]", f.name, long(max)),
                FieldType::Object => format!("{} = json_build_object('k', {})", f.name, long(max)),
                _ => format!("{} = {}", f.name, long(max + 1)),
            };
            bad.push((set, "valid"));
        }
        if let Some(max) = f.max_item_bytes {
            bad.push((format!("{} = ARRAY[{}]", f.name, long(max + 1)), "valid"));
        }
    }
    for (i, (set, constraint)) in bad.iter().enumerate() {
        let mut tx = c.transaction().unwrap();
        let e = insert_with(&mut tx, &format!("r{i}"), set).expect_err(&format!("accepted {set}"));
        let db = e.as_db_error().unwrap_or_else(|| panic!("{set}: {e}"));
        assert!(
            db.constraint().unwrap_or("").contains(constraint)
                || (constraint.is_empty() && db.message().to_lowercase().contains("geometry")),
            "{set}: {} {:?}",
            db.message(),
            db.constraint()
        );
        tx.rollback().unwrap();
    }
    // At each limit exactly, what the model accepts, the database takes.
    let max = |field: &str| crate::model::limits::max_bytes(field).unwrap();
    let item = |field: &str| crate::model::limits::max_item_bytes(field).unwrap();
    let mut attributes = serde_json::Map::new();
    // `{"k":"…"}` is 8 bytes around the text.
    attributes.insert("k".into(), "a".repeat(max("attributes") - 8).into());
    let at_limit = Site::try_from(SiteDraft {
        id: Some("x".repeat(128)),
        name: Some("n".repeat(max("name"))),
        local_name: Some("л".repeat(max("local_name") / 2)),
        kind: Some("hazardous_site".into()),
        activity: Some("a".repeat(max("activity"))),
        country: Some("TJK".into()),
        status: Some("unknown".into()),
        status_note: Some("s".repeat(max("status_note"))),
        lon: Some(-180.0),
        lat: Some(90.0),
        precision: Some("town".into()),
        volume_m3: Some(0.0),
        substances: (0..10)
            .map(|i| {
                let n = if i < 9 {
                    item("substances")
                } else {
                    max("substances") - 31 - 9 * item("substances")
                };
                "u".repeat(n)
            })
            .collect(),
        receiving_river: Some("r".repeat(max("receiving_river"))),
        // n items as JSON take their bytes and 3·n + 1 more (quotes, commas and brackets).
        sources: vec![
            "a".repeat(item("sources")),
            "b".repeat(item("sources")),
            "c".repeat(item("sources")),
            "d".repeat(max("sources") - 3 * item("sources") - 13),
        ],
        attributes,
        ..Default::default()
    })
    .expect("a site at every limit is valid");
    let store = PgStore::open(&url, || Err::<Seed, _>("seeded")).unwrap();
    store
        .write(
            &[Change::Put {
                site: at_limit.clone(),
                expect: Expect::Absent,
            }],
            &author("x"),
            &|| {},
        )
        .unwrap();
    assert_eq!(store.get(&at_limit.id).unwrap().unwrap().site, at_limit);
}

#[test]
fn a_row_the_model_refuses_is_an_invalid_row_not_a_panic() {
    let url = testdb::database("invalid_row");
    let store = seeded(&url, vec![site("a", 71.0)]);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    // Another tool, past the constraints (dropped), writes what the model refuses.
    c.batch_execute(
        "ALTER TABLE sites DROP CONSTRAINT sites_kind_valid; UPDATE sites SET kind = 'mine'",
    )
    .unwrap();
    let e = store.load_sites().unwrap_err();
    assert!(
        matches!(&e, StoreError::InvalidRow { id, source, .. } if id == "a" && source.field() == "kind"),
        "{e}"
    );
    let e = store
        .get(&crate::model::SiteId::parse("a").unwrap())
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidRow { .. }), "{e}");
}

#[test]
fn attributes_keep_their_order_and_the_table_is_plain_postgis() {
    let url = testdb::database("order");
    let mut s = site("a", 71.25);
    for k in ["zeta", "alpha", "mid"] {
        s.attributes
            .insert(k.into(), serde_json::json!({"z": 1, "a": [2, 3]}));
    }
    let store = seeded(&url, vec![s.clone()]);
    let back = store.get(&s.id).unwrap().unwrap().site;
    assert_eq!(
        back.attributes.keys().collect::<Vec<_>>(),
        ["zeta", "alpha", "mid"]
    );
    assert_eq!(back, s);
    // Other tools read it as a PostGIS layer: a point in EPSG:4326, typed columns, a GiST index.
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let row = c
        .query_one(
            "SELECT ST_AsText(geom), ST_SRID(geom), substances, volume_m3 FROM sites",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "POINT(71.25 41)");
    assert_eq!(row.get::<_, i32>(1), 4326);
    assert_eq!(row.get::<_, Vec<String>>(2), ["Ra-226", "U"]);
    assert_eq!(row.get::<_, Option<f64>>(3), Some(1.5e6));
    let gist: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'sites' AND indexdef LIKE '%gist%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(gist, 1);
}

#[test]
fn each_write_notifies_its_revision() {
    let url = testdb::database("notify");
    let store = seeded(&url, vec![site("a", 71.0)]);
    let mut listener = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    listener.batch_execute("LISTEN atlas_changes").unwrap();
    let w = store
        .write(
            &[Change::Put {
                site: site("b", 72.0),
                expect: Expect::Absent,
            }],
            &author("x"),
            &|| {},
        )
        .unwrap();
    let mut notes = listener.notifications();
    let n = notes
        .timeout_iter(std::time::Duration::from_secs(10))
        .next()
        .unwrap()
        .expect("a notification");
    assert_eq!(n.channel(), "atlas_changes");
    assert_eq!(n.payload(), w[0].revision.to_string());
}

#[test]
fn a_writer_waiting_too_long_for_the_lock_is_told_the_store_is_busy() {
    let url = testdb::database("busy");
    let store = seeded(&url, vec![site("a", 71.0)]);
    let mut holder = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut tx = holder.transaction().unwrap();
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
        .unwrap();
    // Another writer holds the write lock longer than this store waits for it.
    let e = store_with_timeout(&url, "200ms")
        .write(
            &[Change::Put {
                site: site("b", 72.0),
                expect: Expect::Absent,
            }],
            &author("x"),
            &|| {},
        )
        .unwrap_err();
    assert!(matches!(e, StoreError::Busy { .. }), "{e}");
    tx.rollback().unwrap();
    drop(store);
}

fn store_with_timeout(url: &str, timeout: &str) -> PgStore {
    let mut store = PgStore::open(url, || Err::<Seed, _>("seeded")).unwrap();
    store.lock_timeout = timeout.to_owned();
    store
}

#[test]
fn connection_failures_are_clear_and_never_show_the_password() {
    let dir = testdb::cluster().socket_dir().join("nothing-here");
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("postgresql://atlas:s3cret@/atlas?host={}", dir.display());
    let e = PgStore::open(&url, || Err::<Seed, _>("must not seed")).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, StoreError::Unavailable { .. }), "{text}");
    assert!(text.contains("cannot connect"), "{text}");
    assert!(text.contains("postgresql://atlas@/atlas"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    // A database that does not exist.
    let url = testdb::cluster()
        .url("no_such_db")
        .replace("atlas-pg@", "atlas-pg:pw0rd@");
    let e = PgStore::open(&url, || Err::<Seed, _>("must not seed")).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("no_such_db") && text.contains("does not exist"),
        "{text}"
    );
    assert!(!text.contains("pw0rd"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_change_feed_listens_and_sees_writes_of_another_process() {
    let url = testdb::database("listen");
    let store = seeded(&url, vec![site("a", 71.0)]);
    let other = PgStore::open(&url, || Err::<Seed, _>("seeded")).unwrap();
    let seen = store.latest_revision().unwrap();
    let mut feed = store
        .changes(seen, std::time::Duration::from_secs(3600))
        .unwrap();
    let writer = std::thread::spawn(move || {
        // The feed listens on a connection of its own (the poll interval above is never waited
        // for), from its first `next`.
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let listening: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND query = 'LISTEN atlas_changes'",
                    &[],
                )
                .unwrap()
                .get(0);
            if listening == 1 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the feed never listened"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        other
            .write(
                &[Change::Put {
                    site: site("b", 72.0),
                    expect: Expect::Absent,
                }],
                &author("x"),
                &|| {},
            )
            .unwrap()[0]
            .revision
    });
    let got = feed.next().unwrap().unwrap();
    assert_eq!(got, writer.join().unwrap());
}
