//! Several replicas of the real binary on one store, behind Debian's nginx running the shipped
//! `deploy/nginx.conf` (only its upstream servers and its `listen` line rewritten, to addresses the
//! test owns: the replicas on port 0, nginx on a unix socket). The replicas agree on every answer and
//! validator, an edit through the balancer reaches every replica, a client may read from one and
//! write to the other, a replica killed under load costs the clients nothing, and a restarted one
//! catches up on what it missed.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Server, repo_path, spawn_server, temp_dir};

/// Where a request goes: a replica's TCP address, or nginx's unix socket.
#[derive(Clone, Debug)]
pub enum Target {
    Tcp(String),
    Unix(PathBuf),
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{e}: HTTP {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One HTTP/1.1 exchange on a new connection (`Connection: close`), chunked bodies decoded.
pub fn request(
    to: &Target,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: atlas.test\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut raw = Vec::new();
    let timeout = Some(Duration::from_secs(60));
    match to {
        Target::Tcp(addr) => {
            let mut s = std::net::TcpStream::connect(addr)?;
            s.set_read_timeout(timeout)?;
            s.write_all(head.as_bytes())?;
            s.write_all(body)?;
            s.read_to_end(&mut raw)?;
        }
        Target::Unix(path) => {
            let mut s = UnixStream::connect(path)?;
            s.set_read_timeout(timeout)?;
            s.write_all(head.as_bytes())?;
            s.write_all(body)?;
            s.read_to_end(&mut raw)?;
        }
    }
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of head"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or_else(|| bad("bad chunk"))?;
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[..nl])
                    .split(';')
                    .next()
                    .unwrap()
                    .trim(),
                16,
            )
            .map_err(|_| bad("bad chunk size"))?;
            rest = &rest[nl + 2..];
            if size == 0 {
                break;
            }
            if rest.len() < size + 2 {
                return Err(bad("short chunk"));
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = out;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// `serve` on port 0 with one worker, on `store`.
pub fn replica(store: &str) -> Server {
    spawn_server(
        Command::new(env!("CARGO_BIN_EXE_tailings-atlas"))
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "1"])
            .args(["--store", store])
            .arg("--data")
            .arg(repo_path("data"))
            .stderr(Stdio::null()),
    )
}

/// Debian's nginx running `deploy/nginx.conf` in front of `upstreams`, listening on a unix socket
/// in `dir`; stopped when dropped.
pub struct Nginx {
    child: Child,
    pub socket: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `deploy/nginx.conf` with its upstream `server` lines replaced by one per address of `upstreams`
/// (keeping their options) and its `listen` line by `socket`. Panics if the file no longer has
/// those lines, so the test cannot drift from what is shipped.
fn site_conf(upstreams: &[&str], socket: &Path) -> String {
    let shipped = std::fs::read_to_string(repo_path("deploy/nginx.conf")).unwrap();
    let mut out = String::new();
    let (mut servers, mut listens) = (0, 0);
    for line in shipped.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("server 127.0.0.1:") {
            servers += 1;
            if servers == 1 {
                let options = rest.split_once(' ').map_or(";", |(_, o)| o);
                for u in upstreams {
                    out.push_str(&format!("    server {u} {options}\n"));
                }
            }
        } else if t.starts_with("listen ") {
            listens += 1;
            out.push_str(&format!("    listen unix:{};\n", socket.display()));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(
        servers >= 1 && listens == 1,
        "deploy/nginx.conf changed shape"
    );
    out
}

pub fn start_nginx(dir: &Path, upstreams: &[&str]) -> Nginx {
    let nginx = Path::new("/usr/sbin/nginx");
    assert!(
        nginx.exists(),
        "nginx is not installed: scripts/setup.sh installs Debian's nginx-light"
    );
    let socket = dir.join("nginx.sock");
    let _ = std::fs::remove_file(&socket);
    std::fs::write(dir.join("site.conf"), site_conf(upstreams, &socket)).unwrap();
    let d = dir.display();
    // One process, as the user running the tests (no `user` switch, no master to signal).
    let main = format!(
        "daemon off;\nmaster_process off;\nerror_log {d}/nginx-error.log info;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log {d}/nginx-access.log;\n  client_body_temp_path {d}/nginx-body;\n  \
         proxy_temp_path {d}/nginx-proxy;\n  include {d}/site.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("nginx-error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx starts");
    let n = Nginx { child, socket };
    let t0 = Instant::now();
    while UnixStream::connect(&n.socket).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "nginx did not listen: {}",
            std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    n
}

/// An admin token made with the CLI on `store`.
pub fn admin_token(store: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tailings-atlas"))
        .args([
            "token",
            "create",
            "--role",
            "admin",
            "--name",
            "replica-test",
        ])
        .args(["--store", store])
        .arg("--data")
        .arg(repo_path("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn get(to: &Target, path: &str) -> Response {
    let r = request(to, "GET", path, &[], b"").unwrap();
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r
}

/// What two replicas must agree on: each resource's ETag, and its body where it has no time stamp.
const AGREED: &[(&str, bool)] = &[
    ("/collections/sites/items/kgz_sumsar", true),
    (
        "/collections/sites/items?limit=50&sortby=-risk_score",
        false,
    ),
    ("/collections/risk-reaches/items?limit=20", false),
    ("/collections/country-summary/items", false),
    ("/map/style.json", true),
    ("/collections/sites/tiles/WebMercatorQuad/6/44/23", true),
    (
        "/collections/risk-reaches/tiles/WebMercatorQuad/6/44/23",
        true,
    ),
    ("/maps/basin-risk.png?width=256", true),
];

fn assert_agree(a: &Target, b: &Target, context: &str) {
    for &(path, same_body) in AGREED {
        let (x, y) = (get(a, path), get(b, path));
        assert!(x.header("etag").is_some(), "{path}: no ETag");
        assert_eq!(
            x.header("etag"),
            y.header("etag"),
            "{context}: {path}: the replicas' ETags differ"
        );
        if same_body {
            assert!(
                x.body == y.body,
                "{context}: {path}: the replicas' bodies differ"
            );
        }
    }
}

/// Polls `to` until `path`'s ETag is `want`; returns how long that took.
fn await_etag(to: &Target, path: &str, want: &str, within: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let r = get(to, path);
        if r.header("etag") == Some(want) {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < within,
            "{path} on {to:?} still at {:?}, not {want}, after {within:?}",
            r.header("etag")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// PATCHes site `id`'s name, with `If-Match: etag`.
fn rename(to: &Target, token: &str, id: &str, etag: &str, name: &str) -> Response {
    let body = serde_json::to_vec(&serde_json::json!({"properties": {"name": name}})).unwrap();
    let auth = format!("Bearer {token}");
    request(
        to,
        "PATCH",
        &format!("/collections/sites/items/{id}"),
        &[
            ("Authorization", &auth),
            ("If-Match", etag),
            ("Content-Type", "application/merge-patch+json"),
        ],
        &body,
    )
    .unwrap()
}

/// Runs the whole scenario on `store` (a GeoPackage path or a PostgreSQL URL), in `dir`.
pub fn replicas_behind_nginx(dir: &Path, store: &str) {
    let token = admin_token(store);
    let a = replica(store);
    let b = replica(store);
    let (ta, tb) = (Target::Tcp(a.addr().into()), Target::Tcp(b.addr().into()));
    let nginx = start_nginx(dir, &[a.addr(), b.addr()]);
    let lb = Target::Unix(nginx.socket.clone());
    assert_agree(&ta, &tb, "at start");
    // Through the balancer, the same answers as from a replica.
    let item = "/collections/sites/items/kgz_sumsar";
    let e0 = get(&lb, item).header("etag").unwrap().to_owned();
    assert_eq!(get(&ta, item).header("etag"), Some(e0.as_str()));

    // An edit through the balancer reaches both replicas, with its re-analysis and risk layers.
    let w = rename(
        &lb,
        &token,
        "kgz_sumsar",
        &e0,
        "Sumsar (renamed through nginx)",
    );
    assert_eq!(w.status, 200, "{}", String::from_utf8_lossy(&w.body));
    let e1 = w.header("etag").unwrap().to_owned();
    assert_ne!(e1, e0);
    for t in [&ta, &tb] {
        await_etag(t, item, &e1, Duration::from_secs(10));
    }
    // Both replicas have published the change: the risk layers may still be being recomputed.
    let t0 = Instant::now();
    loop {
        let same = AGREED.iter().all(|&(p, _)| {
            get(&ta, p).header("etag").map(str::to_owned)
                == get(&tb, p).header("etag").map(str::to_owned)
        });
        if same {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the replicas never agreed after an edit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_agree(&ta, &tb, "after an edit");

    // A client that reads from A and writes to B gets no spurious 412; a stale ETag is refused.
    let read = get(&ta, item).header("etag").unwrap().to_owned();
    let w = rename(
        &tb,
        &token,
        "kgz_sumsar",
        &read,
        "Sumsar (read on A, written on B)",
    );
    assert_eq!(w.status, 200, "{}", String::from_utf8_lossy(&w.body));
    let e2 = w.header("etag").unwrap().to_owned();
    let stale = rename(&lb, &token, "kgz_sumsar", &e1, "stale");
    assert_eq!(
        stale.status,
        412,
        "{}",
        String::from_utf8_lossy(&stale.body)
    );
    await_etag(&ta, item, &e2, Duration::from_secs(10));

    // kill -9 one replica under read load through the balancer: no client sees an error.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let readers: Vec<_> = (0..4)
        .map(|k| {
            let (lb, stop, ok, failed) = (lb.clone(), stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let paths = [
                    "/collections/sites/items?limit=10",
                    "/collections/sites/items/kgz_sumsar",
                ];
                let mut i = k;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    match request(&lb, "GET", paths[i % 2], &[], b"") {
                        Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let before_kill = ok.load(Ordering::Relaxed);
    let mut a = a;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(
        before_kill > 0 && ok > before_kill,
        "{before_kill} then {ok}"
    );
    assert_eq!(
        failed,
        0,
        "{failed} of {} reads failed through nginx after a replica was killed",
        ok + failed
    );

    // Changes while A is down, through the balancer (to B)...
    let e3 = rename(&lb, &token, "kgz_sumsar", &e2, "Sumsar (while A was down)");
    assert_eq!(e3.status, 200, "{}", String::from_utf8_lossy(&e3.body));
    let e3 = e3.header("etag").unwrap().to_owned();
    let other = "/collections/sites/items/tjk_taboshar";
    let r = get(&lb, other);
    let eo = r.header("etag").unwrap().to_owned();
    let w = rename(
        &lb,
        &token,
        "tjk_taboshar",
        &eo,
        "Taboshar (while A was down)",
    );
    assert_eq!(w.status, 200, "{}", String::from_utf8_lossy(&w.body));
    // ...are all there on a restarted A, which agrees with B on every validator (B has published
    // many changes since it started, the new A none).
    let a2 = replica(store);
    let ta2 = Target::Tcp(a2.addr().into());
    assert_eq!(get(&ta2, item).header("etag"), Some(e3.as_str()));
    assert_eq!(
        get(&ta2, other).json()["properties"]["name"],
        "Taboshar (while A was down)"
    );
    let t0 = Instant::now();
    while get(&tb, other).header("etag") != get(&ta2, other).header("etag") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "B never saw its own write"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let t0 = Instant::now();
    loop {
        let same = AGREED.iter().all(|&(p, _)| {
            get(&ta2, p).header("etag").map(str::to_owned)
                == get(&tb, p).header("etag").map(str::to_owned)
        });
        if same {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "a restarted replica disagrees"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_agree(&ta2, &tb, "after a restart");
    drop(nginx);
}

#[test]
fn replicas_on_one_geopackage_behind_nginx() {
    let dir = temp_dir("replicas-gpkg");
    let store = dir.join("atlas.gpkg");
    replicas_behind_nginx(&dir, store.to_str().unwrap());
}
