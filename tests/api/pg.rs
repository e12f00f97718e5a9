//! The real binary on a PostGIS store (`--store postgresql://…`), on a throw-away cluster of the
//! test process's own (`src/store/postgis/testdb.rs`, included here): serving the seed and keeping
//! an edit across a restart, two servers on one database refusing a lost update, import and export
//! giving what they give on a GeoPackage, tokens, replicas behind nginx; faults in `pg/faults.rs`.

#[path = "../../src/store/postgis/testdb.rs"]
pub(crate) mod testdb;

mod faults;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::{Server, header, http, repo_path, spawn_server, temp_dir};

const BIN: &str = env!("CARGO_BIN_EXE_tailings-atlas");
const SEED_SITES: usize = 27;

fn serve(store: &str) -> Server {
    spawn_server(
        Command::new(BIN)
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "2"])
            .args(["--store", store])
            .arg("--data")
            .arg(repo_path("data"))
            .stderr(Stdio::null()),
    )
}

fn cli(args: &[&str], store: &str) -> Output {
    Command::new(BIN)
        .args(args)
        .args(["--store", store])
        .arg("--data")
        .arg(repo_path("data"))
        .output()
        .expect("binary runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn features(addr: &str) -> Vec<Value> {
    let (status, _, body) = http(addr, "GET", "/collections/sites/items?limit=1000", &[], "");
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    doc["features"].as_array().unwrap().clone()
}

/// A site's feature with only its own (writable) fields, renamed.
fn renamed(addr: &str, id: &str, name: &str) -> (String, String) {
    let (status, head, body) = http(
        addr,
        "GET",
        &format!("/collections/sites/items/{id}"),
        &[],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let etag = header(&head, "ETag").expect("an ETag");
    let f: Value = serde_json::from_str(&body).unwrap();
    let own: serde_json::Map<String, Value> = tailings_atlas::schema::SITE_FIELDS
        .iter()
        .filter(|d| !matches!(d.name, "id" | "lon" | "lat"))
        .filter_map(|d| Some((d.name.to_owned(), f["properties"].get(d.name)?.clone())))
        .filter(|(_, v)| !v.is_null())
        .collect();
    let mut own = Value::Object(own);
    own["name"] = name.into();
    let body = serde_json::json!({
        "type": "Feature",
        "id": id,
        "geometry": f["geometry"],
        "properties": own,
    });
    (etag, body.to_string())
}

fn put(addr: &str, id: &str, token: &str, etag: &str, body: &str) -> (u16, String) {
    let auth = format!("Bearer {token}");
    let (status, _, body) = http(
        addr,
        "PUT",
        &format!("/collections/sites/items/{id}"),
        &[
            ("Authorization", &auth),
            ("If-Match", etag),
            ("Content-Type", "application/geo+json"),
            ("X-Change-Reason", "pg test"),
        ],
        body,
    );
    (status, body)
}

fn admin_token(store: &str) -> String {
    ok(&cli(
        &["token", "create", "--role", "admin", "--name", "pg test"],
        store,
    ))
    .trim()
    .to_owned()
}

#[test]
fn serve_on_postgis_answers_with_the_seed_and_keeps_an_edit_across_a_restart() {
    let store = testdb::database("api_serve");
    let token = admin_token(&store);
    let server = serve(&store);
    let sites = features(server.addr());
    assert_eq!(sites.len(), SEED_SITES);
    let id = sites[0]["id"].as_str().unwrap().to_owned();
    let (etag, body) = renamed(server.addr(), &id, "Renamed on PostGIS");
    let (status, text) = put(server.addr(), &id, &token, &etag, &body);
    assert_eq!(status, 200, "{text}");
    drop(server);
    let server = serve(&store);
    let (status, _, body) = http(
        server.addr(),
        "GET",
        &format!("/collections/sites/items/{id}"),
        &[],
        "",
    );
    assert_eq!(status, 200);
    let f: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(f["properties"]["name"], "Renamed on PostGIS");
    assert_eq!(features(server.addr()).len(), SEED_SITES);
}

#[test]
fn two_servers_on_one_database_let_exactly_one_of_two_racing_edits_through() {
    let store = testdb::database("api_race");
    let token = admin_token(&store);
    let (a, b) = (serve(&store), serve(&store));
    let id = features(a.addr())[0]["id"].as_str().unwrap().to_owned();
    let (etag, body_a) = renamed(a.addr(), &id, "Edit through A");
    let (etag_b, body_b) = renamed(b.addr(), &id, "Edit through B");
    assert_eq!(etag, etag_b, "both servers start from the same revision");
    let barrier = std::sync::Barrier::new(2);
    let mut statuses: Vec<u16> = std::thread::scope(|s| {
        let ha = s.spawn(|| {
            barrier.wait();
            put(a.addr(), &id, &token, &etag, &body_a)
        });
        let hb = s.spawn(|| {
            barrier.wait();
            put(b.addr(), &id, &token, &etag, &body_b)
        });
        [ha.join().unwrap(), hb.join().unwrap()]
            .into_iter()
            .map(|(s, text)| {
                assert!(s == 200 || s == 412, "{s}: {text}");
                s
            })
            .collect()
    });
    statuses.sort();
    assert_eq!(statuses, [200, 412]);
}

/// The nginx scenario of `replicas.rs` (edits through the balancer reach both replicas, reads on
/// one and writes on the other, `kill -9` of one under read load, a restarted one catching up) on
/// one PostGIS database, where changes travel by LISTEN/NOTIFY.
#[test]
fn replicas_on_one_postgis_database_behind_nginx() {
    let dir = temp_dir("replicas-pg");
    crate::replicas::replicas_behind_nginx(&dir, &testdb::database("api_replicas"));
}

/// A GeoJSON export's features by id, without what tells when they were written.
fn exported(path: &Path) -> Vec<(String, Value)> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out: Vec<(String, Value)> = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let mut f = f.clone();
            if let Some(p) = f["properties"].as_object_mut() {
                p.remove("updated");
            }
            (f["id"].as_str().unwrap_or_default().to_owned(), f)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn import_then_export_on_postgis_gives_what_a_geopackage_gives() {
    let dir = temp_dir("pg-import-export");
    let csv = dir.join("sites.csv");
    crate::transfer::synthetic_csv(&csv, 40, 14);
    let pg = testdb::database("api_import");
    let gpkg = dir.join("atlas.gpkg");
    let gpkg = gpkg.to_str().unwrap();
    let mut exports = Vec::new();
    for store in [pg.as_str(), gpkg] {
        let out = cli(&["import", csv.to_str().unwrap()], store);
        ok(&out);
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("40 created"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        let file = dir.join(format!("export-{}.geojson", exports.len()));
        ok(&cli(
            &[
                "export",
                "--format",
                "geojson",
                "--out",
                file.to_str().unwrap(),
            ],
            store,
        ));
        exports.push(exported(&file));
    }
    assert_eq!(exports[0].len(), SEED_SITES + 40);
    assert_eq!(exports[0], exports[1]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn tokens_are_created_listed_and_revoked_on_postgis() {
    let store = testdb::database("api_tokens");
    let out = ok(&cli(
        &[
            "token",
            "create",
            "--role",
            "editor",
            "--countries",
            "KGZ,tjk",
            "--name",
            "Ainura",
        ],
        &store,
    ));
    let token = out.trim();
    let id = token.split('_').nth(1).unwrap();
    let secret = token.rsplit('_').next().unwrap();
    let list = ok(&cli(&["token", "list"], &store));
    assert!(
        list.contains(id) && list.contains("editor") && list.contains("KGZ,TJK"),
        "{list}"
    );
    assert!(!list.contains(secret));
    // The secret is nowhere in the database.
    let cluster = testdb::cluster();
    let db = store.split('/').nth(3).unwrap().split('?').next().unwrap();
    let mut c = cluster.connect(db);
    let hits: i64 = c
        .query_one(
            "SELECT count(*) FROM atlas_tokens WHERE hash LIKE '%' || $1 || '%' OR name LIKE '%' || $1 || '%'",
            &[&secret],
        )
        .unwrap()
        .get(0);
    assert_eq!(hits, 0);
    ok(&cli(&["token", "revoke", id], &store));
    assert!(!cli(&["token", "revoke", id], &store).status.success());
}

#[test]
fn an_unreachable_database_is_a_clear_error_without_the_password() {
    let dir = temp_dir("pg-unreachable");
    let url = format!(
        "postgresql://atlas:s3cret@/atlas?host={}",
        dir.join("no-server").display()
    );
    let out = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--store", &url])
        .arg("--data")
        .arg(repo_path("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("cannot connect"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `--layers` can name a PostGIS table through GDAL's PostgreSQL driver: the analysis with the
/// rivers read from the database is the analysis with them read from the file they were loaded from.
#[test]
fn a_reference_layer_can_be_a_postgis_table() {
    let dir = temp_dir("pg-layers");
    let fixture = repo_path("tests/fixtures/hydrorivers");
    let url = testdb::database("layers");
    let db = url
        .split('/')
        .nth(3)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let pg = format!(
        "PG:dbname={db} host={} user={}",
        testdb::cluster().socket_dir().display(),
        testdb::USER
    );
    let out = Command::new("ogr2ogr")
        .args(["-f", "PostgreSQL", &pg])
        .arg(fixture.join("rivers.geojson"))
        .args(["-nln", "rivers", "-lco", "LAUNDER=NO"])
        .output()
        .expect("ogr2ogr runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut layers: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("layers.json")).unwrap())
            .unwrap();
    for v in layers.values_mut() {
        *v = fixture.join(v.as_str().unwrap()).to_str().unwrap().into();
    }
    let from_files = dir.join("files.json");
    std::fs::write(&from_files, Value::Object(layers.clone()).to_string()).unwrap();
    layers.insert("rivers".into(), format!("{pg} tables=rivers").into());
    let from_pg = dir.join("pg.json");
    std::fs::write(&from_pg, Value::Object(layers).to_string()).unwrap();
    let mut results = Vec::new();
    for (i, layers) in [&from_files, &from_pg].into_iter().enumerate() {
        let csv = dir.join(format!("out-{i}.csv"));
        let r = Command::new(BIN)
            .arg("analyze")
            .arg(fixture.join("points.csv"))
            .arg("--out")
            .arg(&csv)
            .arg("--layers")
            .arg(layers)
            .arg("--data")
            .arg(repo_path("data"))
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        results.push(std::fs::read_to_string(&csv).unwrap());
    }
    assert!(results[0].contains("river"), "{}", results[0]);
    assert_eq!(results[0], results[1]);
    std::fs::remove_dir_all(&dir).ok();
}

/// SIGTERM stops a server on PostGIS as it stops one on a GeoPackage: exit 0, with nothing on
/// stderr but log lines (its connections are closed outside the async runtime).
#[test]
fn sigterm_stops_a_server_on_postgis_with_exit_0() {
    let store = testdb::database("api_sigterm");
    let mut server = spawn_server(
        Command::new(BIN)
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "2"])
            .args(["--store", &store])
            .arg("--data")
            .arg(repo_path("data"))
            .stderr(Stdio::piped()),
    );
    assert_eq!(features(server.addr()).len(), SEED_SITES);
    let pid = server.child.id() as i32;
    // SAFETY: a plain signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = server.child.wait().unwrap();
    let mut stderr = String::new();
    if let Some(mut e) = server.child.stderr.take() {
        e.read_to_string(&mut stderr).unwrap();
    }
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
