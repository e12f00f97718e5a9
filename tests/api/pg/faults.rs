//! PostGIS faults, on clusters of each test's own (`testdb::OwnCluster`) that the test stops and
//! starts: the database going away under a running service (503s within the connect timeout,
//! reads still served, recovery without a restart), a crash of the primary in the middle of an
//! import (all or nothing), and bulk reads from a hot standby (`--read-store`) with its lag on
//! `/health`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::testdb::OwnCluster;
use super::{BIN, SEED_SITES, admin_token, cli, features, header, http, ok, put, renamed, serve};
use crate::common::{Server, repo_path, spawn_server, temp_dir};

/// The URL of `c`'s database with a short connect timeout, so waits in these tests stay short.
fn short_url(c: &OwnCluster) -> String {
    format!("{}&connect_timeout=2", c.url("atlas"))
}

fn health(addr: &str) -> (u16, Value) {
    let (status, _, body) = http(addr, "GET", "/health", &[], "");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Polls `probe` every 100 ms until it holds, for at most `limit`; how long that took.
fn within(limit: Duration, what: &str, mut probe: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if probe() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn name_on(addr: &str, id: &str) -> String {
    let (status, _, body) = http(
        addr,
        "GET",
        &format!("/collections/sites/items/{id}"),
        &[],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let f: Value = serde_json::from_str(&body).unwrap();
    f["properties"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The database stops under two running replicas: `/health` turns 503 "unready" within the
/// connect timeout, reads are still served from the published inventory, an edit is a 503
/// `StoreUnavailable` with `Retry-After` that names no server path; when the database is back, both
/// recover without a restart: the edit goes through one and the other publishes it.
#[test]
fn a_database_that_goes_away_is_503_and_comes_back_without_a_restart() {
    let mut pg = OwnCluster::new("away");
    let url = short_url(&pg);
    let token = admin_token(&url);
    let a = serve(&url);
    let b = serve(&url);
    let (status, doc) = health(a.addr());
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["store"]["reachable"], true, "{doc}");
    let id = features(a.addr())[0]["id"].as_str().unwrap().to_owned();
    let (etag, body) = renamed(a.addr(), &id, "Renamed while the database was away");

    pg.stop(true);
    // connect_timeout=2: a health check answers within it, plus the pool's own wait.
    let took = within(Duration::from_secs(20), "/health turns 503", || {
        health(a.addr()).0 == 503
    });
    let (status, doc) = health(a.addr());
    assert_eq!(status, 503, "{doc}");
    assert_eq!(doc["status"], "unready", "{doc}");
    assert_eq!(doc["store"]["reachable"], false, "{doc}");
    eprintln!("/health answered 503 {took:?} after the database stopped");
    // Readiness follows the store, liveness does not (the process still serves what it published).
    let (status, head, text) = http(a.addr(), "GET", "/health/ready", &[], "");
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("the store"), "{text}");
    assert!(header(&head, "Retry-After").is_some(), "{head}");
    let (status, _, text) = http(a.addr(), "GET", "/health/live", &[], "");
    assert_eq!(status, 200, "{text}");

    // Reads: the published inventory, unchanged.
    assert_eq!(features(a.addr()).len(), SEED_SITES);
    assert_eq!(features(b.addr()).len(), SEED_SITES);

    // An edit: refused with a clear, retryable 503, and nothing of the server in the message.
    let started = Instant::now();
    let auth = format!("Bearer {token}");
    let (status, head, text) = http(
        a.addr(),
        "PUT",
        &format!("/collections/sites/items/{id}"),
        &[
            ("Authorization", &auth),
            ("If-Match", &etag),
            ("Content-Type", "application/geo+json"),
        ],
        &body,
    );
    assert_eq!(status, 503, "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(header(&head, "Retry-After").as_deref(), Some("5"), "{head}");
    assert!(text.contains("StoreUnavailable"), "{text}");
    let dir = url
        .split("host=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    assert!(!text.contains(dir) && !text.contains("/tmp"), "{text}");

    pg.start();
    within(Duration::from_secs(30), "/health is 200 again", || {
        health(a.addr()).0 == 200 && health(b.addr()).0 == 200
    });
    within(
        Duration::from_secs(30),
        "/health/ready is 200 again",
        || http(a.addr(), "GET", "/health/ready", &[], "").0 == 200,
    );
    let (status, text) = put(b.addr(), &id, &token, &etag, &body);
    assert_eq!(status, 200, "the edit after recovery: {text}");
    // A follows the change again (its LISTEN is remade, or its poll finds it).
    let took = within(
        Duration::from_secs(20),
        "the other replica publishes the edit",
        || name_on(a.addr(), &id) == "Renamed while the database was away",
    );
    eprintln!("the other replica published the edit {took:?} after it was made");
}

/// The primary crashes (an immediate shutdown, as close to pulling the plug as a test gets) while a
/// command-line import writes 20,000 sites: the import fails with a clear error and not a panic,
/// and after crash recovery the database holds all of the import or none of it, its history too.
/// An uninterrupted run then writes everything.
#[test]
fn a_crash_of_the_database_during_an_import_leaves_all_or_nothing() {
    let mut pg = OwnCluster::new("crash");
    let url = short_url(&pg);
    let dir = temp_dir("pg-crash");
    let csv = dir.join("big.csv");
    const ROWS: i64 = 20_000;
    crate::transfer::synthetic_csv(&csv, ROWS as usize, 14);
    admin_token(&url); // migrated and seeded: the crash lands in the import
    let counts = |pg: &OwnCluster| -> (i64, i64) {
        let mut c = pg.connect("atlas");
        let sites: i64 = c
            .query_one("SELECT count(*) FROM sites", &[])
            .unwrap()
            .get(0);
        let versions: i64 = c
            .query_one("SELECT count(*) FROM site_versions", &[])
            .unwrap()
            .get(0);
        (sites, versions)
    };
    let before = counts(&pg);
    assert_eq!(before.0, SEED_SITES as i64);
    let mut crashed_mid_write = 0;
    for delay_ms in [100u64, 700] {
        let mut child = Command::new(BIN)
            .arg("import")
            .arg(&csv)
            .args(["--store", &url])
            .arg("--data")
            .arg(repo_path("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let mut told = String::new();
        loop {
            line.clear();
            if err.read_line(&mut line).unwrap() == 0 {
                break;
            }
            told.push_str(&line);
            if line.contains("writing to the store in one transaction") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        pg.stop(false);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
        told.push_str(&rest);
        let status = child.wait().unwrap();
        pg.start();
        let after = counts(&pg);
        let added = (after.0 - before.0, after.1 - before.1);
        assert!(
            added == (0, 0) || added == (ROWS, ROWS),
            "after a crash at +{delay_ms} ms: {added:?} sites and versions added, a partial write"
        );
        assert!(!told.contains("panicked"), "{told}");
        if added == (0, 0) {
            assert!(
                !status.success(),
                "an import that wrote nothing succeeded: {told}"
            );
            crashed_mid_write += 1;
        } else {
            break; // the import committed before the crash; nothing more to interrupt
        }
    }
    assert!(crashed_mid_write > 0, "no crash landed inside the write");
    let out = cli(&["import", csv.to_str().unwrap()], &url);
    ok(&out);
    assert_eq!(counts(&pg).0, SEED_SITES as i64 + ROWS);
}

/// Two replicas read from a hot standby (`--read-store`) and write to the primary. With the
/// standby's replay paused, an edit through one still succeeds (the primary takes it, and that
/// replica shows its own write), the other keeps serving what the standby has and `/health` tells
/// how far behind it is; once replay resumes, it publishes the edit and the lag goes back to 0.
#[test]
fn bulk_reads_from_a_hot_standby_with_its_lag_on_health() {
    let primary = OwnCluster::new("primary");
    let purl = short_url(&primary);
    let token = admin_token(&purl); // migrated and seeded on the primary
    let standby = OwnCluster::standby_of(&primary, "standby");
    let surl = short_url(&standby);
    within(Duration::from_secs(30), "the standby has the seed", || {
        standby
            .connect("atlas")
            .query_one("SELECT count(*) FROM atlas_tokens", &[])
            .is_ok_and(|r| r.get::<_, i64>(0) == 1)
    });
    let replica = || -> Server {
        spawn_server(
            Command::new(BIN)
                .args(["serve", "--bind", "127.0.0.1:0", "--workers", "2"])
                .args(["--store", &purl, "--read-store", &surl])
                .arg("--data")
                .arg(repo_path("data"))
                .stderr(Stdio::null()),
        )
    };
    let a = replica();
    let b = replica();
    let (status, doc) = health(b.addr());
    assert_eq!(status, 200, "{doc}");
    let rs = &doc["read_store"];
    assert_eq!(rs["reachable"], true, "{doc}");
    assert_eq!(rs["standby"], true, "{doc}");
    assert_eq!(rs["revisions_behind"], 0, "{doc}");
    assert_eq!(features(b.addr()).len(), SEED_SITES);

    standby
        .connect("atlas")
        .batch_execute("SELECT pg_wal_replay_pause()")
        .unwrap();
    let id = features(a.addr())[0]["id"].as_str().unwrap().to_owned();
    let old = name_on(b.addr(), &id);
    let (etag, body) = renamed(a.addr(), &id, "Renamed on the primary");
    let (status, text) = put(a.addr(), &id, &token, &etag, &body);
    assert_eq!(status, 200, "an edit with the standby paused: {text}");
    assert_eq!(name_on(a.addr(), &id), "Renamed on the primary");
    let (status, doc) = health(b.addr());
    assert_eq!(status, 200, "{doc}");
    let rs = &doc["read_store"];
    assert!(rs["revisions_behind"].as_i64().unwrap() >= 1, "{doc}");
    assert!(rs["lag_bytes"].as_i64().unwrap() > 0, "{doc}");
    // B publishes from the standby, which has not replayed the edit.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(name_on(b.addr(), &id), old);

    standby
        .connect("atlas")
        .batch_execute("SELECT pg_wal_replay_resume()")
        .unwrap();
    within(
        Duration::from_secs(20),
        "B publishes the edit once replayed",
        || name_on(b.addr(), &id) == "Renamed on the primary",
    );
    within(Duration::from_secs(20), "the lag goes back to 0", || {
        health(b.addr()).1["read_store"]["revisions_behind"] == 0
    });
}
