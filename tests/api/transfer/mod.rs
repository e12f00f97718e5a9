//! Import and export end to end: the real binary (kill -9 in the middle of a large import, a CLI
//! import beside a running service, every export format read back by the importer), and
//! `POST /import` through the real router ([`upload`]); the CLI's import and tokens ([`cli`]); what
//! bounds an import and what every export must hold ([`limits`]).

mod bounded;
mod cli;
mod limits;
mod upload;

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

use crate::common::{call, get, off_runtime, repo_path, seeded_with_tokens, temp_dir};

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

pub fn cli(args: &[&str], store: &Path) -> std::process::Output {
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
    let tokens: &[(&str, Role, &[&str])] =
        &[("t", Role::Admin, &[]), ("t", Role::Editor, &["KGZ"])];
    let (dir, _store, state, texts) = seeded_with_tokens(tag, tokens, tune);
    let [admin, editor] = <[String; 2]>::try_from(texts).unwrap();
    Env {
        state,
        admin,
        editor,
        dir,
    }
}

pub fn multipart(parts: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
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
