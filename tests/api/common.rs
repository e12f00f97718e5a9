//! Shared helpers: building the app on the default data or on seeded random sites, and calling it.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test as atest;
use actix_web::web;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tailings_atlas::api::{AppState, app};
use tailings_atlas::model::{Site, SiteDraft};
use tailings_atlas::reference::ReferenceData;
use tailings_atlas::service::Atlas;

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A fresh, empty directory for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("atlas-it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The catalog of the repository's default data, through a freshly seeded GeoPackage (built once).
pub fn default_state() -> web::Data<AppState> {
    static STATE: OnceLock<web::Data<AppState>> = OnceLock::new();
    STATE
        .get_or_init(|| {
            let dir = temp_dir("default");
            let atlas = tailings_atlas::service::load(&dir.join("atlas.gpkg"), &repo_path("data"))
                .expect("default data loads");
            web::Data::new(AppState::new(atlas))
        })
        .clone()
}

pub const COUNTRIES: &[&str] = &["KAZ", "KGZ", "TJK", "UZB"];
pub const KINDS: &[&str] = &["tailings", "hazardous_site"];

/// `n` sites scattered over the globe from a fixed seed; a fifth sit on whole degrees so that box edges
/// are exercised.
/// The backend the in-process edit suite runs on: with `ATLAS_TEST_STORE=postgis` (as
/// `scripts/test.sh` runs it a second time) each test's store is a fresh database of the tests' own
/// PostgreSQL cluster; otherwise a GeoPackage in the test's directory.
pub fn test_store(dir: &Path, tag: &str) -> PathBuf {
    match std::env::var("ATLAS_TEST_STORE").as_deref() {
        Ok("postgis") => PathBuf::from(crate::pg::testdb::database(tag)),
        Ok("gpkg") | Ok("") | Err(_) => dir.join("atlas.gpkg"),
        Ok(other) => panic!("ATLAS_TEST_STORE={other}: expected gpkg or postgis"),
    }
}

/// Runs `f` on a thread of its own: what a test calls of a store from its async body. PostgreSQL's
/// blocking client cannot run in an async runtime (the service calls it on its blocking pool).
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("the store call returns"))
}

/// The states of the tests on PostGIS, kept to the end of the process: dropping a pool of
/// PostgreSQL's blocking clients inside a test's async runtime would panic.
static KEPT: Mutex<Vec<web::Data<AppState>>> = Mutex::new(Vec::new());

/// A service on a fresh store of its own ([`test_store`] for `temp_dir(tag)`, seeded from
/// `data/`), with a token made for each `(name, role, countries)`, in order, and `tune` applied:
/// the directory, the store's location, the state and the tokens' texts.
pub fn seeded_with_tokens(
    tag: &str,
    tokens: &[(&str, tailings_atlas::store::Role, &[&str])],
    tune: impl FnOnce(AppState) -> AppState,
) -> (PathBuf, PathBuf, web::Data<AppState>, Vec<String>) {
    let dir = temp_dir(tag);
    let (location, atlas, texts) = off_runtime(|| {
        let location = test_store(&dir, tag);
        let atlas = tailings_atlas::service::load(&location, &repo_path("data")).unwrap();
        let store = atlas.store.clone().unwrap();
        let texts: Vec<String> = tokens
            .iter()
            .map(|(name, role, countries)| {
                let (record, text) =
                    tailings_atlas::auth::new_token(name, *role, countries).unwrap();
                store.add_token(&record).unwrap();
                text
            })
            .collect();
        (location, atlas, texts)
    });
    let state = web::Data::new(tune(AppState::new(atlas)));
    if location.to_string_lossy().starts_with("postgresql://") {
        KEPT.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(state.clone());
    }
    (dir, location, state, texts)
}

pub fn random_sites(seed: u64, n: usize) -> Vec<Site> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let mut lon = rng.random_range(-180.0..=180.0f64);
            let mut lat = rng.random_range(-90.0..=90.0f64);
            if rng.random_bool(0.2) {
                lon = lon.round();
                lat = lat.round();
            }
            Site::try_from(SiteDraft {
                id: Some(format!("s{i:05}")),
                name: Some(format!("Random site {i}")),
                kind: Some(KINDS[rng.random_range(0..KINDS.len())].into()),
                activity: Some("test".into()),
                country: Some(COUNTRIES[rng.random_range(0..COUNTRIES.len())].into()),
                status: Some("unknown".into()),
                lon: Some(lon),
                lat: Some(lat),
                precision: Some("site".into()),
                sources: vec!["seeded random test data".into()],
                ..Default::default()
            })
            .unwrap()
        })
        .collect()
}

pub fn random_state(sites: &[Site]) -> web::Data<AppState> {
    let atlas = Atlas::build(sites, &ReferenceData::default()).unwrap();
    web::Data::new(AppState::new(atlas))
}

/// A response, read.
pub struct Reply {
    pub status: StatusCode,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

async fn read<B: MessageBody>(res: ServiceResponse<B>) -> Reply {
    let status = res.status();
    let headers = res.headers().clone();
    let body = atest::read_body(res).await.to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// Sends a request through the full app (all middleware) and reads the reply.
pub async fn call(state: &web::Data<AppState>, req: atest::TestRequest) -> Reply {
    let svc = atest::init_service(app(state.clone())).await;
    match svc.call(req.to_request()).await {
        Ok(res) => read(res).await,
        // What the server's dispatcher would send for an error that escaped the handlers.
        Err(e) => {
            let res = e.error_response();
            let status = res.status();
            let headers = res.headers().clone();
            let body = actix_web::body::to_bytes(res.into_body())
                .await
                .unwrap_or_default()
                .to_vec();
            Reply {
                status,
                headers,
                body,
            }
        }
    }
}

/// `GET uri`, reading the reply.
pub async fn get(state: &web::Data<AppState>, uri: &str) -> Reply {
    call(state, atest::TestRequest::get().uri(uri)).await
}

/// `GET` of an absolute URL from a `links` entry, through the in-process app.
pub fn path_of(href: &str) -> String {
    let rest = href.split_once("://").map(|(_, r)| r).unwrap_or(href);
    rest.find('/')
        .map(|i| rest[i..].to_owned())
        .unwrap_or_else(|| "/".into())
}

pub fn link<'a>(doc: &'a Value, rel: &str) -> Option<&'a str> {
    doc["links"]
        .as_array()?
        .iter()
        .find(|l| l["rel"] == rel)
        .and_then(|l| l["href"].as_str())
}

/// The project's venv with the independent readers (scripts/setup.sh makes it).
pub fn venv_python() -> PathBuf {
    let py = repo_path(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run scripts/setup.sh with ATLAS_NEED_QGIS=1 (the test command does)",
        py.display()
    );
    py
}

/// The real binary, serving; killed when dropped.
pub struct Server {
    pub child: std::process::Child,
    /// `http://HOST:PORT`, as the binary printed it.
    pub base: String,
}

impl Server {
    /// `HOST:PORT`.
    pub fn addr(&self) -> &str {
        self.base.strip_prefix("http://").unwrap_or(&self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` (a command with its flags, `--bind 127.0.0.1:0` among them) and waits for the
/// address it prints first.
pub fn spawn_server(cmd: &mut std::process::Command) -> Server {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Server { child, base }
}

/// The status of a `GET path` with `headers` to the server at `addr` (`HOST:PORT`), over a new
/// connection; the body is read and dropped.
pub fn status_of(addr: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let head = String::from_utf8_lossy(&raw[..raw.len().min(64)]).into_owned();
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {head:?}"))
}

/// One HTTP/1.1 request; status, head and body.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    std::io::Write::write_all(&mut s, req.as_bytes()).unwrap();
    let mut raw = String::new();
    std::io::Read::read_to_string(&mut s, &mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, head.to_owned(), body)
}

pub fn dechunk(mut b: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = b.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        b = &rest[size + 2..];
    }
}

pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}
