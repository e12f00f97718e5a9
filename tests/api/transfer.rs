//! Import and export end to end: the real binary (kill -9 in the middle of a large import, a CLI
//! import beside a running service, every export format read back by the importer), and
//! `POST /import` through the real router.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::test as atest;
use actix_web::web;
use gdal::vector::LayerAccess;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tailings_atlas::api::AppState;
use tailings_atlas::store::Role;

use crate::common::{call, get, repo_path, temp_dir};

const BIN: &str = env!("CARGO_BIN_EXE_tailings-atlas");
const SEED_SITES: usize = 27;

/// `n` valid synthetic sites in the basin as CSV, from a fixed seed.
pub fn synthetic_csv(path: &Path, n: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = String::from(
        "id,name,kind,activity,country,status,lon,lat,precision,volume_m3,dam_height_m,sources\n",
    );
    let countries = ["KAZ", "KGZ", "TJK", "UZB"];
    for i in 0..n {
        out.push_str(&format!(
            "syn_{seed}_{i:06},Synthetic site {i},tailings,test,{},legacy,{:.5},{:.5},site,{:.0},{:.1},seeded synthetic data\n",
            countries[rng.random_range(0..4)],
            rng.random_range(60.0..78.0),
            rng.random_range(38.0..47.0),
            rng.random_range(1e4..1e7),
            rng.random_range(2.0..60.0),
        ));
    }
    std::fs::write(path, out).unwrap();
}

fn cli(args: &[&str], store: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--store")
        .arg(store)
        .arg("--data")
        .arg(repo_path("data"))
        .output()
        .expect("binary runs")
}

fn count_sites(store: &Path) -> usize {
    let s = tailings_atlas::service::open_store(store, &repo_path("data")).unwrap();
    s.load_sites().unwrap().len()
}

#[test]
fn kill_9_during_an_import_leaves_all_or_nothing() {
    let dir = temp_dir("kill9");
    let store = dir.join("atlas.gpkg");
    let csv = dir.join("big.csv");
    const ROWS: usize = 20_000;
    synthetic_csv(&csv, ROWS, 9);
    // Seed the store first, so every kill below lands in an import.
    assert_eq!(count_sites(&store), SEED_SITES);
    let mut killed_mid_write = 0;
    for delay_ms in [0u64, 40, 150, 400] {
        let mut child = Command::new(BIN)
            .arg("import")
            .arg(&csv)
            .arg("--store")
            .arg(&store)
            .arg("--data")
            .arg(repo_path("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if err.read_line(&mut line).unwrap() == 0 {
                break;
            }
            if line.contains("writing to the store in one transaction") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        let n = count_sites(&store);
        assert!(
            n == SEED_SITES || n == SEED_SITES + ROWS,
            "after kill -9 at +{delay_ms} ms the store has {n} sites: a partial write"
        );
        if n == SEED_SITES && status.code().is_none() {
            killed_mid_write += 1;
        }
        if n != SEED_SITES {
            break; // the import finished before the kill; nothing more to interrupt
        }
    }
    assert!(killed_mid_write > 0, "no kill landed inside the write");
    // GDAL still reads the file as a GeoPackage.
    let ds = gdal::Dataset::open(&store).unwrap();
    assert_eq!(ds.driver().short_name(), "GPKG");
    drop(ds);
    // An uninterrupted run writes everything; a second one changes nothing and adds no versions.
    let out = cli(&["import", csv.to_str().unwrap()], &store);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count_sites(&store), SEED_SITES + ROWS);
    let s = tailings_atlas::service::open_store(&store, &repo_path("data")).unwrap();
    let rev = s.latest_revision().unwrap();
    let out = cli(&["import", csv.to_str().unwrap()], &store);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("0 created, 0 updated, {ROWS} unchanged")),
        "{text}"
    );
    assert_eq!(
        s.latest_revision().unwrap(),
        rev,
        "a re-import creates no versions"
    );
    drop(s);
    std::fs::remove_dir_all(&dir).ok();
}

struct Server {
    child: std::process::Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(store: &Path) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--workers", "2"])
        .arg("--store")
        .arg(store)
        .arg("--data")
        .arg(repo_path("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .to_owned();
    Server { child, addr }
}

fn http_get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[end + 2..end + 2 + size]);
        b = &b[end + 2 + size + 2..];
    }
}

#[test]
fn a_cli_import_beside_the_service_is_served_without_restart_and_exports_round_trip() {
    let dir = temp_dir("beside");
    let store = dir.join("atlas.gpkg");
    let server = serve(&store);
    let csv = dir.join("new.csv");
    synthetic_csv(&csv, 50, 77);
    let out = cli(&["import", csv.to_str().unwrap()], &store);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = http_get(&server.addr, "/collections/sites/items/syn_77_000049");
        if status == 200 {
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert!(
                v["properties"]["located_country"].is_string(),
                "analysed: {v}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the service never showed the imported site"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, health) = http_get(&server.addr, "/health");
    let health: Value = serde_json::from_slice(&health).unwrap();
    assert_eq!(health["collections"]["sites"], SEED_SITES + 50);

    // Every export format, read back by the importer into the same store, changes nothing: every
    // attribute survived the trip.
    for f in ["gpkg", "shp", "kml", "csv", "fgb", "geojson"] {
        let (status, body) = http_get(&server.addr, &format!("/collections/sites/items?f={f}"));
        assert_eq!(status, 200, "f={f}: {}", String::from_utf8_lossy(&body));
        let name = match f {
            "shp" => "export.shp.zip".to_owned(),
            other => format!("export.{other}"),
        };
        let file = dir.join(name);
        std::fs::write(&file, &body).unwrap();
        let out = cli(&["import", file.to_str().unwrap()], &store);
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "f={f}: {text}");
        assert!(
            text.contains(&format!(
                "0 created, 0 updated, {} unchanged",
                SEED_SITES + 50
            )),
            "f={f}: the round trip changed sites: {text}"
        );
    }
    // The CLI export writes the same thing.
    let out_file = dir.join("cli.gpkg");
    let out = cli(
        &[
            "export",
            "--format",
            "gpkg",
            "--out",
            out_file.to_str().unwrap(),
        ],
        &store,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ds = gdal::Dataset::open(&out_file).unwrap();
    let layer = ds.layer_by_name("sites").unwrap();
    assert_eq!(layer.feature_count() as usize, SEED_SITES + 50);
    let defn: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    for field in [
        "name",
        "volume_m3",
        "sources",
        "river_distance_m",
        "downstream_countries",
        "runout_reaches_border",
    ] {
        assert!(
            defn.iter().any(|d| d == field),
            "{field} missing from {defn:?}"
        );
    }
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}

// --- POST /import through the router -----------------------------------------------------------

struct Env {
    state: web::Data<AppState>,
    admin: String,
    editor: String,
    dir: PathBuf,
}

fn env(tag: &str) -> Env {
    env_with(tag, |s| s)
}

fn env_limited(tag: &str, max_body_bytes: usize) -> Env {
    env_with(tag, |s| s.with_max_body_bytes(max_body_bytes))
}

fn env_with(tag: &str, tune: impl FnOnce(AppState) -> AppState) -> Env {
    let dir = temp_dir(tag);
    let atlas = tailings_atlas::service::load(&dir.join("atlas.gpkg"), &repo_path("data")).unwrap();
    let store = atlas.store.clone().unwrap();
    let token = |role: Role, countries: &[&str]| {
        let c: Vec<String> = countries.iter().map(|s| s.to_string()).collect();
        let (record, text) = tailings_atlas::auth::new_token("t", role, &c).unwrap();
        store.add_token(&record).unwrap();
        text
    };
    let admin = token(Role::Admin, &[]);
    let editor = token(Role::Editor, &["KGZ"]);
    Env {
        state: web::Data::new(tune(AppState::new(atlas))),
        admin,
        editor,
        dir,
    }
}

fn multipart(parts: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "atlas-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(b"Content-Type: application/octet-stream\r\n\r\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    e: &Env,
    query: &str,
    token: &str,
    parts: &[(&str, &str, &[u8])],
) -> crate::common::Reply {
    let (ct, body) = multipart(parts);
    call(
        &e.state,
        atest::TestRequest::post()
            .uri(&format!("/import{query}"))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("Content-Type", ct))
            .set_payload(body),
    )
    .await
}

#[actix_web::test]
async fn post_import_validates_everything_first_and_is_idempotent() {
    let e = env("post-import");
    let store = e.state.service.store.clone().unwrap();
    let gtp = std::fs::read(repo_path("tests/fixtures/import/gtp_sample.csv")).unwrap();
    let mapping = std::fs::read(repo_path("config/mappings/global-tailings-portal.json")).unwrap();
    let before = store.latest_revision().unwrap();
    let gtp_parts = [
        ("file", "gtp.csv", &gtp[..]),
        ("mapping", "m.json", &mapping[..]),
    ];

    // Invalid rows: 400 naming each row and field; nothing written.
    let r = upload(&e, "", &e.admin, &gtp_parts).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let body = r.json();
    let d = body["description"].as_str().unwrap();
    assert!(d.contains("row 4") && d.contains("`lat`"), "{d}");
    assert!(d.contains("row 5") && d.contains("`status`"), "{d}");
    assert_eq!(body["report"]["invalid"].as_array().unwrap().len(), 2);
    assert_eq!(store.latest_revision().unwrap(), before);

    // Dry run with skip_invalid: a report, still nothing written.
    let r = upload(&e, "?dry_run=true&skip_invalid=true", &e.admin, &gtp_parts).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["report"]["valid"], 3);
    assert_eq!(r.json()["report"]["written"], false);
    assert_eq!(store.latest_revision().unwrap(), before);

    // skip_invalid: the three valid rows are written, published and analysed at once.
    let r = upload(&e, "?skip_invalid=true", &e.admin, &gtp_parts).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let report = &r.json()["report"];
    assert_eq!(
        (report["created"].as_u64(), report["written"].as_bool()),
        (Some(3), Some(true))
    );
    let health = get(&e.state, "/health").await.json();
    assert_eq!(health["collections"]["sites"], SEED_SITES + 3);
    let items = get(&e.state, "/collections/sites/items?limit=1000")
        .await
        .json();
    let imported: Vec<&Value> = items["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with("gtp-"))
        .collect();
    assert_eq!(imported.len(), 3);
    assert!(
        imported
            .iter()
            .all(|f| f["properties"]["located_country"].is_string())
    );
    let after = store.latest_revision().unwrap();

    // The same file again: nothing changes, no versions.
    let r = upload(&e, "?skip_invalid=true", &e.admin, &gtp_parts).await;
    assert_eq!(r.json()["report"]["unchanged"], 3, "{}", r.text());
    assert_eq!(store.latest_revision().unwrap(), after);
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn post_import_refusals() {
    let e = env("post-import-bad");
    let csv = b"id,name,kind,activity,country,lon,lat,precision,sources\nkgz_x,X,tailings,t,KGZ,72.4,41.2,site,s\n";
    // Not an admin: 403. No token: 401.
    let r = upload(&e, "", &e.editor, &[("file", "a.csv", csv)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = call(
        &e.state,
        atest::TestRequest::post()
            .uri("/import")
            .insert_header(("Content-Type", "multipart/form-data; boundary=x"))
            .set_payload("--x--\r\n"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Not multipart: 415.
    let r = call(
        &e.state,
        atest::TestRequest::post()
            .uri("/import")
            .insert_header(("Authorization", format!("Bearer {}", e.admin)))
            .insert_header(("Content-Type", "text/csv"))
            .set_payload(&csv[..]),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text());
    // No `file` field, an unknown field, a file GDAL cannot open: 400 naming the field.
    for (parts, needle) in [
        (vec![("mapping", "m.json", &b"{}"[..])], "`file`"),
        (
            vec![("file", "a.csv", &csv[..]), ("other", "x", &b"1"[..])],
            "`other`",
        ),
        (
            vec![("file", "broken.gpkg", &b"this is not a geopackage"[..])],
            "`file`",
        ),
        (
            vec![
                ("file", "a.csv", &csv[..]),
                (
                    "mapping",
                    "m.json",
                    &b"{\"columns\": {\"colour\": \"x\"}}"[..],
                ),
            ],
            "`mapping`",
        ),
    ] {
        let r = upload(&e, "", &e.admin, &parts).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        let d = r.json()["description"].as_str().unwrap().to_owned();
        assert!(d.contains(needle), "{d} should name {needle}");
    }
    // A polygon in a GeoJSON: the row is named.
    let poly = br#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[72,41],[72.1,41],[72,41.1],[72,41]]]},"properties":{"id":"p1","name":"P","kind":"tailings","activity":"t","country":"KGZ","precision":"site","sources":"s"}}]}"#;
    let r = upload(&e, "", &e.admin, &[("file", "p.geojson", poly)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(d.contains("row 1") && d.contains("Polygon"), "{d}");
    // Over the body limit: 413, nothing written.
    let small = env_limited("post-import-limit", 1024);
    let big = format!(
        "{}{}",
        std::str::from_utf8(csv).unwrap(),
        "kgz_y,Y,tailings,t,KGZ,72.4,41.2,site,s\n".repeat(100)
    );
    let r = upload(
        &small,
        "",
        &small.admin,
        &[("file", "big.csv", big.as_bytes())],
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert!(r.json()["description"].as_str().unwrap().contains("1024"));
    assert_eq!(
        get(&small.state, "/collections/sites/items/kgz_x")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    std::fs::remove_dir_all(&small.dir).ok();
    // A VRT would let a client make the server read other files: not an upload format.
    let vrt = br#"<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>"#;
    let r = upload(&e, "", &e.admin, &[("file", "x.csv", vrt)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = upload(&e, "", &e.admin, &[("file", "x.vrt", vrt)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(!r.text().contains("root:"), "{}", r.text());
    // Unknown query parameter.
    let r = upload(&e, "?force=1", &e.admin, &[("file", "a.csv", csv)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        get(&e.state, "/collections/sites/items/kgz_x").await.status,
        StatusCode::NOT_FOUND
    );
    std::fs::remove_dir_all(&e.dir).ok();
}

#[test]
fn cli_import_reports_rows_and_honours_skip_invalid_and_dry_run() {
    let dir = temp_dir("cli-import");
    let store = dir.join("atlas.gpkg");
    let gtp = repo_path("tests/fixtures/import/gtp_sample.csv");
    let mapping = repo_path("config/mappings/global-tailings-portal.json");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "import",
            gtp.to_str().unwrap(),
            "--mapping",
            mapping.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = cli(&refs, &store);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Invalid rows: exit 1, each named, nothing written.
    let (ok, text) = run(&[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("row 4: field `lat`") && text.contains("row 5: field `status`"),
        "{text}"
    );
    assert!(text.contains("nothing was written"), "{text}");
    assert_eq!(count_sites(&store), SEED_SITES);
    // Dry run: a report, nothing written.
    let (ok, text) = run(&["--skip-invalid", "--dry-run"]);
    assert!(ok, "{text}");
    assert!(text.contains("dry run"), "{text}");
    assert_eq!(count_sites(&store), SEED_SITES);
    // Skip the invalid rows: the three valid ones are written, by the named actor, with the reason.
    let (ok, text) = run(&[
        "--skip-invalid",
        "--actor",
        "Basin secretariat",
        "--reason",
        "GTP 2024 sheet",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("3 created"), "{text}");
    assert_eq!(count_sites(&store), SEED_SITES + 3);
    let s = tailings_atlas::service::open_store(&store, &repo_path("data")).unwrap();
    let ids: Vec<String> = s
        .load_sites()
        .unwrap()
        .into_iter()
        .map(|x| x.site.id.to_string())
        .filter(|id| id.starts_with("gtp-"))
        .collect();
    let h = s
        .history(&tailings_atlas::model::SiteId::parse(&ids[0]).unwrap())
        .unwrap();
    assert_eq!(h[0].actor, "Basin secretariat");
    assert_eq!(
        h[0].reason.as_deref(),
        Some("GTP 2024 sheet (import of gtp_sample.csv)")
    );
    // Flags instead of a mapping file: a column mapped and a constant set.
    let csv = dir.join("sheet.csv");
    std::fs::write(
        &csv,
        "Site,Lon,Lat,Code\nAk-Tuz tailings,75.79,42.88,kgz_ak_tuz_flags\n",
    )
    .unwrap();
    let out = cli(
        &[
            "import",
            csv.to_str().unwrap(),
            "--map",
            "name=Site",
            "--map",
            "id=Code",
            "--map",
            "lon=Lon",
            "--map",
            "lat=Lat",
            "--set",
            "kind=tailings",
            "--set",
            "activity=lead mining legacy",
            "--set",
            "country=KGZ",
            "--set",
            "precision=site_approx",
            "--set",
            "sources=field notes",
        ],
        &store,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let site = s
        .get(&tailings_atlas::model::SiteId::parse("kgz_ak_tuz_flags").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(site.site.name, "Ak-Tuz tailings");
    assert_eq!(site.site.location.lon(), 75.79);
    // A file GDAL cannot open: a clear error, exit 1.
    let bad = dir.join("broken.gpkg");
    std::fs::write(&bad, "not a geopackage").unwrap();
    let out = cli(&["import", bad.to_str().unwrap()], &store);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.gpkg"));
    drop(s);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn token_cli_creates_lists_and_revokes_without_keeping_secrets() {
    let dir = temp_dir("token-cli");
    let store = dir.join("atlas.gpkg");
    let out = cli(
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
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("ta_"), "{token}");
    let id = token.split('_').nth(1).unwrap().to_owned();
    let list = cli(&["token", "list"], &store);
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(
        text.contains(&id) && text.contains("editor") && text.contains("KGZ,TJK"),
        "{text}"
    );
    let secret = token.rsplit('_').next().unwrap();
    assert!(!text.contains(secret));
    // The secret is nowhere in the store file.
    let bytes = std::fs::read(&store).unwrap();
    assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    // Bad flags are refused, naming the flag.
    for (args, needle) in [
        (
            vec!["token", "create", "--role", "king", "--name", "x"],
            "--role",
        ),
        (
            vec!["token", "create", "--role", "editor", "--name", "x"],
            "--countries",
        ),
        (
            vec![
                "token",
                "create",
                "--role",
                "editor",
                "--countries",
                "KG",
                "--name",
                "x",
            ],
            "--countries",
        ),
    ] {
        let out = cli(&args, &store);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}"
        );
    }
    let out = cli(&["token", "revoke", &id], &store);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&cli(&["token", "list"], &store).stdout).into_owned();
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with(&id) && l.ends_with("\t-")),
        "{text}"
    );
    assert!(
        !cli(&["token", "revoke", &id], &store).status.success(),
        "revoking twice is an error"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn qgis_opens_the_store_and_every_export() {
    let dir = temp_dir("qgis-files");
    let store = dir.join("atlas.gpkg");
    let mut uris = vec![format!("{}|layername=sites", store.display())];
    for f in ["gpkg", "shp", "kml", "csv", "fgb", "geojson"] {
        let out = dir.join(match f {
            "shp" => "sites.shp.zip".to_owned(),
            other => format!("sites.{other}"),
        });
        let o = cli(
            &["export", "--format", f, "--out", out.to_str().unwrap()],
            &store,
        );
        assert!(
            o.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        uris.push(match f {
            "shp" => format!("/vsizip/{}", out.display()),
            "csv" => format!(
                "file://{}?type=csv&xField=lon&yField=lat&crs=EPSG:4326",
                out.display()
            ),
            _ => out.display().to_string(),
        });
    }
    // Debian's python3-qgis belongs to the system interpreter, not to any other python3 on PATH.
    let out = Command::new("/usr/bin/python3")
        .arg(repo_path("tests/qgis/check_files.py"))
        .arg(SEED_SITES.to_string())
        .arg("id,name,kind,country,status,sources")
        .args(&uris)
        .output()
        .expect("/usr/bin/python3 with python3-qgis (installed by scripts/setup.sh)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches(": valid,").count(), uris.len(), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

// --- Text limits: every site the store accepts exports in every format --------------------------

/// Text of exactly `n` bytes: Cyrillic and Latin words with blanks, no blank at either end.
fn text_of_bytes(n: usize) -> String {
    let phrase = "Хвостохранилище № 3 — uranium tailings; ";
    let mut t = String::new();
    for c in phrase.chars().cycle() {
        if t.len() + c.len_utf8() > n {
            break;
        }
        t.push(c);
    }
    while t.ends_with(char::is_whitespace) {
        t.pop();
    }
    let pad = n - t.len();
    t.push_str(&"x".repeat(pad));
    t
}

/// Items of at most `item_max` bytes whose JSON array is exactly `whole_max` bytes.
fn list_of_bytes(item_max: usize, whole_max: usize) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    let mut len = 2; // []
    loop {
        let overhead = if items.is_empty() { 2 } else { 3 }; // "", and a comma
        let room = whole_max - len;
        if room <= overhead {
            break;
        }
        let k = (room - overhead).min(item_max);
        // Leave no remainder too small for another item: the last two share it.
        let k = if room - overhead - k > 0 && room - overhead - k < 4 {
            k - 4
        } else {
            k
        };
        items.push(text_of_bytes(k));
        len += k + overhead;
    }
    assert_eq!(serde_json::to_string(&items).unwrap().len(), whole_max);
    items
}

/// A site with every text field at its limit in `tailings_atlas::model::limits`.
fn site_at_every_limit(id: &str) -> Value {
    use tailings_atlas::model::limits::{max_bytes, max_item_bytes};
    let max = |f: &str| max_bytes(f).unwrap();
    // {"note":"…"}
    let attributes_text = text_of_bytes(max("attributes") - 11);
    let f = serde_json::json!({
        "type": "Feature",
        "id": id,
        "geometry": { "type": "Point", "coordinates": [72.45, 41.25] },
        "properties": {
            "name": text_of_bytes(max("name")),
            "local_name": text_of_bytes(max("local_name")),
            "kind": "tailings",
            "activity": text_of_bytes(max("activity")),
            "country": "KGZ",
            "status": "legacy",
            "status_note": text_of_bytes(max("status_note")),
            "precision": "site",
            "volume_m3": 250000.0,
            "receiving_river": text_of_bytes(max("receiving_river")),
            "substances": list_of_bytes(max_item_bytes("substances").unwrap(), max("substances")),
            "sources": list_of_bytes(max_item_bytes("sources").unwrap(), max("sources")),
            "attributes": { "note": attributes_text },
        }
    });
    assert_eq!(
        f["properties"]["attributes"].to_string().len(),
        max("attributes")
    );
    f
}

async fn post_site(e: &Env, body: &Value) -> crate::common::Reply {
    call(
        &e.state,
        atest::TestRequest::post()
            .uri("/collections/sites/items")
            .insert_header(("Authorization", format!("Bearer {}", e.admin)))
            .insert_header(("Content-Type", "application/geo+json"))
            .set_payload(body.to_string()),
    )
    .await
}

#[actix_web::test]
async fn a_site_at_every_text_limit_exports_in_every_format_and_reads_back() {
    let e = env("text-limits");
    let store = e.state.service.store.clone().unwrap();
    let r = post_site(&e, &site_at_every_limit("kgz_at_every_limit")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = tailings_atlas::model::SiteId::parse("kgz_at_every_limit").unwrap();
    let stored = store.get(&id).unwrap().unwrap().site;
    for f in ["gpkg", "shp", "kml", "csv", "fgb", "geojson"] {
        let r = get(&e.state, &format!("/collections/sites/items?f={f}")).await;
        assert_eq!(r.status, StatusCode::OK, "f={f}: {}", r.text());
        let file = e.dir.join(match f {
            "shp" => "export.shp.zip".to_owned(),
            other => format!("export.{other}"),
        });
        std::fs::write(&file, &r.body).unwrap();
        let read = tailings_atlas::io::sites::read_sites(
            &file,
            &tailings_atlas::io::sites::Mapping::default(),
            &|_| {},
        )
        .unwrap_or_else(|err| panic!("f={f}: {err}"));
        assert_eq!(read.rows.len(), SEED_SITES + 1, "f={f}");
        let back = read
            .rows
            .iter()
            .filter_map(|row| row.site.as_ref().ok())
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("f={f}: the site is not in the export"));
        assert_eq!(back, &stored, "f={f}");
    }
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn a_text_over_its_limit_is_refused_naming_the_field_and_the_limit() {
    let e = env("text-over-limit");
    // Create: 400 naming the field and its limit; the Shapefile export still works for everyone.
    let mut body = site_at_every_limit("kgz_over_limit");
    body["properties"]["name"] = text_of_bytes(61_000).into();
    let r = post_site(&e, &body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "the site was accepted");
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(d.contains("`name`") && d.contains("500 bytes"), "{d}");
    assert!(d.len() < 1000, "the message quotes an excerpt only: {d}");
    let r = get(&e.state, "/collections/sites/items?f=shp").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Import: the row is refused, naming the field and its limit.
    let csv = format!(
        "id,name,kind,activity,country,lon,lat,precision,sources,attributes\n\
         kgz_long_note,Long,tailings,t,KGZ,72.4,41.2,site,s,\"{{\"\"note\"\":\"\"{}\"\"}}\"\n",
        "n".repeat(9_000)
    );
    let r = upload(&e, "", &e.admin, &[("file", "long.csv", csv.as_bytes())]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(
        d.contains("row 1") && d.contains("`attributes`") && d.contains("8000 bytes"),
        "{d}"
    );
    std::fs::remove_dir_all(&e.dir).ok();
}

// --- Import errors name the user's file, and nothing of the server -----------------------------

/// Asserts that `text` names nothing of the server: no temporary path, process id or GDAL call.
fn assert_no_server_detail(text: &str) {
    let tmp = std::env::temp_dir().display().to_string();
    for leak in [
        tmp.as_str(),
        "atlas-import",
        "upload.",
        "/mapping.json",
        "GDAL method",
        "GDALOpenEx",
        "/vsizip/",
    ] {
        assert!(!text.contains(leak), "{leak:?} leaked: {text}");
    }
    assert!(
        !text.contains(&format!("-{}-", std::process::id())),
        "the process id leaked: {text}"
    );
}

#[actix_web::test]
async fn import_errors_name_the_users_file_and_nothing_of_the_server() {
    let e = env("import-errors");
    let csv = b"id,name,kind,activity,country,lon,lat,precision,sources\nkgz_x,X,tailings,t,KGZ,72.4,41.2,site,s\n";
    for (parts, names) in [
        // A file GDAL cannot open.
        (
            vec![("file", "broken.gpkg", &b"this is not a geopackage"[..])],
            vec!["broken.gpkg", "cannot open"],
        ),
        // A zip that is not one; a client that sends a whole path.
        (
            vec![(
                "file",
                "C:\\Users\\ainura\\sites.zip",
                &b"PK\x03\x04 truncated"[..],
            )],
            vec!["sites.zip"],
        ),
        // A mapping that is not valid JSON, and one that names a column the file lacks.
        (
            vec![
                ("file", "a.csv", &csv[..]),
                ("mapping", "my-mapping.json", &b"{\"colums\": {}}"[..]),
            ],
            vec!["my-mapping.json", "`colums`"],
        ),
        (
            vec![
                ("file", "sites-2024.csv", &csv[..]),
                (
                    "mapping",
                    "m.json",
                    &b"{\"columns\": {\"name\": \"TSF Name\"}}"[..],
                ),
            ],
            vec!["sites-2024.csv", "\"TSF Name\""],
        ),
    ] {
        let r = upload(&e, "", &e.admin, &parts).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        let d = r.json()["description"].as_str().unwrap().to_owned();
        for name in names {
            assert!(d.contains(name), "{d} should name {name}");
        }
        assert_no_server_detail(&d);
    }
    std::fs::remove_dir_all(&e.dir).ok();
}

// --- The size of an upload bounds the work of importing it --------------------------------------

/// A zip archive of `files`, deflated, as any zip tool writes it.
fn deflated_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    use flate2::write::DeflateEncoder;
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for (name, data) in files {
        let mut enc = DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(data).unwrap();
        let packed = enc.finish().unwrap();
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let offset = out.len() as u32;
        let common = |h: &mut Vec<u8>| {
            h.extend_from_slice(&20u16.to_le_bytes()); // version needed
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&8u16.to_le_bytes()); // deflate
            h.extend_from_slice(&[0; 4]); // time, date
            h.extend_from_slice(&crc.sum().to_le_bytes());
            h.extend_from_slice(&(packed.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&packed);
        directory.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        directory.extend_from_slice(&20u16.to_le_bytes()); // made by
        common(&mut directory);
        directory.extend_from_slice(&[0; 6]); // comment, disk, internal attributes
        directory.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        directory.extend_from_slice(&offset.to_le_bytes());
        directory.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&directory);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(directory.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// `n` valid CSV rows with a header.
fn csv_rows(n: usize) -> String {
    let mut csv = String::from("id,name,kind,activity,country,lon,lat,precision,sources\n");
    for i in 0..n {
        csv.push_str(&format!(
            "kgz_row_{i},Row {i},tailings,t,KGZ,72.4,41.2,site,s\n"
        ));
    }
    csv
}

#[actix_web::test]
async fn a_zip_that_expands_past_ten_times_the_body_limit_is_refused_unread() {
    let e = env_limited("zip-bomb", 64 * 1024);
    // 2 MB of CSV in a few kilobytes.
    let big = csv_rows(1).into_bytes();
    let mut csv = big.clone();
    let line = b"kgz_row_0,Row 0,tailings,t,KGZ,72.4,41.2,site,s\n";
    while csv.len() < 2_000_000 {
        csv.extend_from_slice(line);
    }
    let zip = deflated_zip(&[("sites.csv", &csv)]);
    assert!(zip.len() < 64 * 1024, "{} bytes", zip.len());
    let r = upload(&e, "", &e.admin, &[("file", "sites.zip", &zip)]).await;
    let text: String = r.text().chars().take(500).collect();
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(
        d.contains("sites.zip") && d.contains(&(640 * 1024).to_string()),
        "{d}"
    );
    assert_no_server_detail(&d);
    // The same rows under the limit import.
    let zip = deflated_zip(&[("sites.csv", &big)]);
    let r = upload(&e, "", &e.admin, &[("file", "sites.zip", &zip)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn imports_stop_past_the_row_limit() {
    let e = env_with("row-limit", |s| s.with_max_import_rows(10));
    let r = upload(
        &e,
        "?dry_run=true",
        &e.admin,
        &[("file", "ten.csv", csv_rows(10).as_bytes())],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = upload(
        &e,
        "",
        &e.admin,
        &[("file", "eleven.csv", csv_rows(11).as_bytes())],
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(
        d.contains("eleven.csv")
            && d.contains("more than 10 features")
            && d.contains("--max-import-rows"),
        "{d}"
    );
    assert_eq!(
        get(&e.state, "/collections/sites/items/kgz_row_0")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The CLI's flag.
    let csv = e.dir.join("twelve.csv");
    std::fs::write(&csv, csv_rows(12)).unwrap();
    let out = cli(
        &[
            "import",
            csv.to_str().unwrap(),
            "--max-rows",
            "5",
            "--dry-run",
        ],
        &e.dir.join("cli.gpkg"),
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("more than 5 features") && text.contains("--max-rows"),
        "{text}"
    );
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn a_geopackage_with_a_view_or_a_virtual_table_is_refused_unread() {
    let e = env("gpkg-view");
    // A real GeoPackage of one site, then a recursive view of 5,000 rows registered as a layer.
    let gpkg = e.dir.join("made.gpkg");
    let props = serde_json::json!({
        "id": "kgz_one", "name": "One", "kind": "tailings", "activity": "t", "country": "KGZ",
        "precision": "site", "sources": "s",
    });
    tailings_atlas::io::sites::write_sites(
        &gpkg,
        tailings_atlas::io::sites::ExportFormat::Gpkg,
        &[tailings_atlas::io::sites::ExportFeature {
            lon: 72.4,
            lat: 41.2,
            properties: props.as_object().unwrap(),
        }],
    )
    .unwrap();
    let plain = std::fs::read(&gpkg).unwrap();
    let conn = rusqlite::Connection::open(&gpkg).unwrap();
    conn.execute_batch(
        "CREATE VIEW many AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
           SELECT n.i AS fid, s.geom AS geom, 'many_' || n.i AS id, s.name, s.kind, s.activity, \
                  s.country, s.precision, s.sources FROM n, sites s; \
         INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) \
           VALUES ('many', 'features', 'many', 4326); \
         INSERT INTO gpkg_geometry_columns VALUES ('many', 'geom', 'POINT', 4326, 0, 0);",
    )
    .unwrap();
    drop(conn);
    let with_view = std::fs::read(&gpkg).unwrap();
    let mapping = br#"{"layer": "many"}"#;
    for (name, bytes) in [
        ("inventory.gpkg", &with_view),
        ("inventory.dat", &with_view),
    ] {
        let r = upload(
            &e,
            "?dry_run=true",
            &e.admin,
            &[("file", name, bytes), ("mapping", "m.json", mapping)],
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.text());
        let d = r.json()["description"].as_str().unwrap().to_owned();
        assert!(
            d.contains(name) && d.contains("\"many\"") && d.contains("view"),
            "{d}"
        );
        assert_no_server_detail(&d);
    }
    // Zipped, it is checked once GDAL has opened it, before a layer is read.
    let zip = deflated_zip(&[("inventory.gpkg", &with_view)]);
    let r = upload(
        &e,
        "?dry_run=true",
        &e.admin,
        &[
            ("file", "inventory.zip", &zip),
            ("mapping", "m.json", mapping),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(d.contains("inventory.zip") && d.contains("\"many\""), "{d}");
    // A virtual table other than a spatial index.
    let conn = rusqlite::Connection::open(&gpkg).unwrap();
    conn.execute_batch("DROP VIEW many; CREATE VIRTUAL TABLE notes USING fts5(body);")
        .unwrap();
    drop(conn);
    let with_fts = std::fs::read(&gpkg).unwrap();
    let r = upload(
        &e,
        "?dry_run=true",
        &e.admin,
        &[("file", "notes.gpkg", &with_fts)],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(
        d.contains("\"notes\"") && d.contains("virtual table"),
        "{d}"
    );
    // The GeoPackage as GDAL wrote it (with its R-tree index) imports.
    let r = upload(
        &e,
        "?dry_run=true",
        &e.admin,
        &[("file", "plain.gpkg", &plain)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["report"]["valid"], 1, "{}", r.text());
    std::fs::remove_dir_all(&e.dir).ok();
}
