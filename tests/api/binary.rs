//! The real binary on port 0, spoken to over TCP, and read by GDAL's own OGC API client (ogrinfo), the
//! library QGIS uses.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Server, repo_path, spawn_server, temp_dir, venv_python};

fn start(tag: &str) -> Server {
    let dir = temp_dir(tag);
    start_with(&dir.join("atlas.gpkg"), &repo_path("data"), Stdio::null())
}

fn start_with(store: &Path, data: &Path, stderr: Stdio) -> Server {
    spawn_server(
        Command::new(env!("CARGO_BIN_EXE_tailings-atlas"))
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "2"])
            .arg("--store")
            .arg(store)
            .arg("--data")
            .arg(data)
            .stderr(stderr),
    )
}

/// A minimal HTTP/1.1 GET; returns status and body.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn binary_serves_over_http() {
    let server = start("binary");
    let (status, body) = http_get(server.addr(), "/health");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"sites\":27"), "{body}");
    let (status, body) = http_get(server.addr(), "/collections/sites/items?limit=abc");
    assert_eq!(status, 400);
    assert!(body.contains("`limit`"));
}

/// Sends `request` as is on a new connection and reads until the server closes it.
fn http_raw(addr: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    String::from_utf8_lossy(&raw).into_owned()
}

/// The status, headers and OGC exception of the last response in `raw`.
fn last_exception(raw: &str) -> (u16, String, serde_json::Value) {
    let at = raw.rfind("HTTP/1.1 ").unwrap();
    let (head, body) = raw[at..].split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let doc = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {head} {body:?}"));
    (status, head.to_ascii_lowercase(), doc)
}

#[test]
fn over_long_request_heads_get_ogc_exceptions() {
    let server = start("long-heads");
    let long_query = format!("/collections/sites/items?name={}", "a".repeat(70_000));
    let request = format!("GET {long_query} HTTP/1.1\r\nHost: x\r\n\r\n");
    let (status, head, doc) = last_exception(&http_raw(server.addr(), request.as_bytes()));
    assert_eq!(status, 400);
    assert!(head.contains("content-type: application/json"), "{head}");
    let d = doc["description"].as_str().unwrap();
    assert!(
        d.contains("request line is too long") && d.contains("64 KiB"),
        "{d}"
    );
    assert!(!doc["code"].as_str().unwrap().is_empty());

    // After other requests on a kept-alive connection (with a body), they are answered first.
    let mut pipelined =
        b"POST /collections/rivers/items HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
            .to_vec();
    pipelined.extend(std::iter::repeat_n(b'{', 100_000));
    pipelined.extend(b"GET /conformance HTTP/1.1\r\nHost: x\r\n\r\n");
    pipelined.extend(request.as_bytes());
    let raw = http_raw(server.addr(), &pipelined);
    assert_eq!(
        raw.matches("HTTP/1.1 ").count(),
        3,
        "{}",
        &raw[..raw.len().min(2000)]
    );
    assert!(raw.starts_with("HTTP/1.1 405"), "{}", &raw[..200]);
    assert!(raw.contains("conformsTo"));
    assert_eq!(last_exception(&raw).0, 400);

    // Headers too large for actix's buffer.
    let request = format!(
        "GET /collections HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
        "p".repeat(140_000)
    );
    let (status, head, doc) = last_exception(&http_raw(server.addr(), request.as_bytes()));
    assert_eq!(status, 431);
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(doc["description"].as_str().unwrap().contains("too long"));

    // More header fields than actix parses.
    let fields: String = (0..100).map(|n| format!("X-Field-{n}: 1\r\n")).collect();
    let request = format!("GET /collections HTTP/1.1\r\nHost: x\r\n{fields}\r\n");
    let (status, _, doc) = last_exception(&http_raw(server.addr(), request.as_bytes()));
    assert_eq!(status, 431);
    assert!(
        doc["description"]
            .as_str()
            .unwrap()
            .contains("header fields")
    );

    // Just under the limit is still served.
    let fits = format!("/collections/sites/items?country={}", "a".repeat(60_000));
    let (status, body) = http_get(server.addr(), &fits);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn gdal_ogc_api_client_reads_every_layer() {
    let server = start("ogrinfo");
    let url = format!("OAPIF:http://{}", server.addr());
    let out = Command::new("ogrinfo")
        .args(["-ro", "-q", &url])
        .output()
        .expect("ogrinfo (gdal-bin) is installed by scripts/setup.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for layer in ["sites", "rivers", "borders", "countries", "water-bodies"] {
        assert!(
            text.contains(layer),
            "ogrinfo does not list {layer}:\n{text}"
        );
    }
    let out = Command::new("ogrinfo")
        .args(["-ro", "-so", &url, "sites"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Feature Count: 27"), "{text}");
    assert!(text.contains("country"), "fields are listed:\n{text}");
    // GDAL pages through items with our next links and reads every feature.
    let out = Command::new("ogrinfo")
        .args(["-ro", "-al", "-q", &url, "rivers", "-oo", "PAGE_SIZE=50"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.matches("OGRFeature(rivers)").count(),
        184,
        "every river read once"
    );
}

/// GDAL's OAPIF driver sends a `-where` that is not a plain equality to the server as CQL2 (it
/// does so only when the OpenAPI lists `filter-lang` with `cql-text` and the collection links to its
/// queryables), and reads back the features the server's own filter selects.
#[test]
fn gdal_pushes_where_down_as_cql2() {
    let server = start("ogrwhere");
    let url = format!("OAPIF:http://{}", server.addr());
    let filter = "country = 'KGZ' AND river_distance_m < 30000";
    let out = Command::new("ogrinfo")
        .args(["-ro", "-al", "-q", &url, "sites", "-where", filter])
        .args(["--config", "CPL_DEBUG", "ON"])
        .output()
        .expect("ogrinfo (gdal-bin) is installed by scripts/setup.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let pushed: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("/collections/sites/items") && l.contains("filter="))
        .collect();
    assert!(
        !pushed.is_empty(),
        "GDAL did not send the filter to the server:\n{stderr}"
    );
    assert!(
        pushed.iter().any(|l| l.contains("filter-lang=cql")),
        "{pushed:?}"
    );
    let query = serde_urlencoded::to_string([("filter", filter)]).unwrap();
    let (status, body) = http_get(
        server.addr(),
        &format!("/collections/sites/items?limit=10000&{query}"),
    );
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let matched = doc["numberMatched"].as_u64().unwrap() as usize;
    assert!(matched > 0 && matched < 27, "{matched}");
    assert_eq!(
        stdout.matches("OGRFeature(sites)").count(),
        matched,
        "{stdout}"
    );
}

/// owslib's Features client sends CQL2 filters; shapely and pyproj, deciding the same filters from
/// the unfiltered features, agree with the server (tests/python/check_filter.py).
#[test]
fn owslib_filters_agree_with_shapely_and_pyproj() {
    let server = start("owslib");
    let out = Command::new(venv_python())
        .arg(repo_path("tests/python/check_filter.py"))
        .arg(&server.base)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("ok: ").count(), 3, "{stdout}");
}

#[test]
fn qgis_loads_every_layer() {
    let server = start("qgis");
    // Debian's python3-qgis belongs to the system interpreter, not to any other python3 on PATH.
    let out = Command::new("/usr/bin/python3")
        .arg(repo_path("tests/qgis/check_layers.py"))
        .arg(format!("http://{}", server.addr()))
        .output()
        .expect("/usr/bin/python3 with python3-qgis (installed by scripts/setup.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "QGIS check failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("sites: valid, 27 features"), "{stdout}");
    assert!(stdout.contains("sites where country = 'KGZ'"), "{stdout}");
}

/// Runs `serve` with the given arguments, expecting it to refuse to start; returns stderr. Unless the
/// arguments name one, the address is port 0: some arguments are checked only after binding, and the
/// default port may be taken by a running service.
fn serve_fails(args: &[&str]) -> String {
    let bind: &[&str] = if args.contains(&"--bind") {
        &[]
    } else {
        &["--bind", "127.0.0.1:0"]
    };
    let out = Command::new(env!("CARGO_BIN_EXE_tailings-atlas"))
        .arg("serve")
        .args(bind)
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_start_up_input_is_a_clear_cli_error() {
    let dir = temp_dir("cli-errors");
    let store = dir.join("atlas.gpkg");
    let store = store.to_str().unwrap();
    let data = repo_path("data");
    let data = data.to_str().unwrap();

    let err = serve_fails(&["--bind", "not-an-address", "--store", store, "--data", data]);
    assert!(err.contains("--bind not-an-address"), "{err}");

    let err = serve_fails(&[
        "--base-url",
        "ftp://atlas",
        "--store",
        store,
        "--data",
        data,
    ]);
    assert!(err.contains("--base-url") && err.contains("http"), "{err}");

    let err = serve_fails(&["--store", store, "--data", "/nonexistent/atlas-data"]);
    assert!(
        err.contains("--data /nonexistent/atlas-data: not a directory"),
        "{err}"
    );
    assert!(
        !std::path::Path::new(store).exists(),
        "nothing is half-written"
    );

    // A seed file with an out-of-range latitude names the line, the field and the value.
    let bad = repo_path("tests/fixtures/bad-sites");
    let err = serve_fails(&["--store", store, "--data", bad.to_str().unwrap()]);
    assert!(
        err.contains("line 3") && err.contains("`lat`") && err.contains("95.5"),
        "{err}"
    );
    assert!(
        !std::path::Path::new(store).exists(),
        "nothing is half-written"
    );

    let garbage = dir.join("garbage.gpkg");
    std::fs::write(&garbage, "not a geopackage").unwrap();
    let err = serve_fails(&["--store", garbage.to_str().unwrap(), "--data", data]);
    assert!(
        err.contains("--store") && err.contains("GeoPackage"),
        "{err}"
    );
}

/// Starts the server on `store` and `data`, waits until it listens, stops it, and returns its log.
fn start_stop_log(store: &Path, data: &Path) -> String {
    let mut server = start_with(store, data, Stdio::piped());
    let _ = server.child.kill();
    let mut log = String::new();
    server
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    log
}

#[test]
fn a_changed_seed_file_is_reported_not_applied() {
    let dir = temp_dir("reseed");
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("sites")).unwrap();
    for f in [
        "README.md",
        "countries.geojson",
        "borders.geojson",
        "rivers.geojson",
        "water-bodies.geojson",
        "sites/seed_sites.csv",
    ] {
        std::fs::copy(repo_path("data").join(f), data.join(f)).unwrap();
    }
    let store = dir.join("atlas.gpkg");
    let warning = "different version of the seed file";
    assert!(
        !start_stop_log(&store, &data).contains(warning),
        "fresh store"
    );
    assert!(
        !start_stop_log(&store, &data).contains(warning),
        "unchanged seed"
    );
    let csv = data.join("sites/seed_sites.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    std::fs::write(&csv, text.replacen("Mailuu-Suu", "Mailuu Suu", 1)).unwrap();
    assert!(
        start_stop_log(&store, &data).contains(warning),
        "changed seed"
    );
}

fn analyze(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tailings-atlas"))
        .arg("analyze")
        .args(args)
        .arg("--data")
        .arg(repo_path("data"))
        .output()
        .unwrap()
}

#[test]
fn analyze_writes_csv_and_geojson_with_the_site_fields() {
    let dir = temp_dir("analyze");
    let out = dir.join("out.csv");
    let input = repo_path("tests/fixtures/points.csv");
    let r = analyze(&[input.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[0][col("id")], "mailuu");
    assert_eq!(&rows[0][col("downstream_countries")], "KGZ,UZB,TJK,UZB,KAZ");
    assert_eq!(&rows[1][col("runout_reaches_border")], "true");
    assert_eq!(&rows[2][col("downstream_countries")], "KAZ");
    // The inputs come back as read, beside the fields computed from them.
    assert_eq!(&rows[1][col("country")], "TJK");
    assert_eq!(&rows[1][col("volume_m3")], "20000000");
    assert_eq!(&rows[1][col("dam_height_m")], "40");
    assert_eq!(&rows[0][col("volume_m3")], "");
    assert_eq!(&rows[0][col("country_check")], "matches");
    assert!(!rows[0][col("snap_river_id")].is_empty());
    for name in [
        "river_distance_m",
        "nearest_river_lon",
        "nearest_river_lat",
        "border_distance_m",
        "nearest_border_lon",
        "nearest_border_lat",
        "neighbour_country",
        "drainage_confidence",
    ] {
        col(name);
    }

    let out = dir.join("out.geojson");
    let input = repo_path("tests/fixtures/points.geojson");
    let r = analyze(&[input.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let f = &doc["features"][1];
    assert_eq!(f["properties"]["id"], "taboshar");
    assert_eq!(f["properties"]["downstream_countries"], "TJK,UZB,KAZ");
}

#[test]
fn analyze_errors_name_the_row_or_file() {
    let dir = temp_dir("analyze-errors");
    let out = dir.join("out.csv");
    let bad = repo_path("tests/fixtures/points_bad_row.csv");
    let r = analyze(&[bad.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(
        err.contains("row 2") && err.contains("`lat`") && err.contains("95.5"),
        "{err}"
    );
    assert!(!out.exists(), "nothing is written");

    let r = analyze(&["/nonexistent/points.csv", "--out", out.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("no such file"));
    let good = repo_path("tests/fixtures/points.csv");
    let r = analyze(&[
        good.to_str().unwrap(),
        "--out",
        dir.join("out.txt").to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&r.stderr).contains(".csv, .geojson or .json"));
    assert!(!r.status.success());
}

#[test]
fn analyze_reads_other_layers_named_in_a_layers_file() {
    let dir = temp_dir("analyze-layers");
    let out = dir.join("out.csv");
    let fixture = repo_path("tests/fixtures/hydrorivers");
    let r = analyze(&[
        fixture.join("points.csv").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--layers",
        fixture.join("layers.json").to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("\"KGZ,UZB\"") && text.contains("Test Lake"),
        "{text}"
    );

    let bad = dir.join("layers.json");
    std::fs::write(&bad, r#"{"lakes": "x.gpkg"}"#).unwrap();
    let r = analyze(&[
        fixture.join("points.csv").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--layers",
        bad.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        !r.status.success() && err.contains("--layers") && err.contains("\"lakes\""),
        "{err}"
    );
}

#[test]
fn analyze_snap_limit_is_configurable() {
    let dir = temp_dir("analyze-snap");
    let out = dir.join("out.csv");
    let input = repo_path("tests/fixtures/points.csv");
    let r = analyze(&[
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--snap-limit-km",
        "1",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("no river within 1 km"), "{text}");
    let r = analyze(&[
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--snap-limit-km",
        "-5",
    ]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("--snap-limit-km"));
}

#[test]
fn analyze_reprojects_input_in_another_crs() {
    let dir = temp_dir("analyze-utm");
    let out = dir.join("out.csv");
    // Mailuu-Suu in UTM zone 42N (EPSG:32642), written by pyproj.
    let input = repo_path("tests/fixtures/points_utm42n.geojson");
    let r = analyze(&[input.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let row = reader.records().next().unwrap().unwrap();
    let (lon, lat): (f64, f64) = (row[1].parse().unwrap(), row[2].parse().unwrap());
    assert!(
        (lon - 72.448039).abs() < 1e-6 && (lat - 41.2457479).abs() < 1e-6,
        "{lon} {lat}"
    );
}

/// Every argument is checked before the port is bound: with the port taken, a bad `--data`,
/// `--layers` or `--store` is still what the error names, and `--workers 0` is refused.
#[test]
fn arguments_are_checked_before_the_port_is_bound() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let dir = temp_dir("checked-before-bind");
    let store = dir.join("atlas.gpkg");
    let store = store.to_str().unwrap();
    let data = repo_path("data");
    let data = data.to_str().unwrap();
    let missing = dir.join("no-such-dir");
    let missing = missing.to_str().unwrap();

    let err = serve_fails(&["--bind", &bind, "--store", store, "--data", missing]);
    assert!(
        err.contains("--data") && !err.contains("cannot listen"),
        "{err}"
    );

    let layers = dir.join("layers.json");
    std::fs::write(&layers, r#"{"lakes": "x.gpkg"}"#).unwrap();
    let layers = layers.to_str().unwrap();
    let err = serve_fails(&[
        "--bind", &bind, "--store", store, "--data", data, "--layers", layers,
    ]);
    assert!(err.contains("--layers") && err.contains("lakes"), "{err}");

    let nested = format!("{missing}/atlas.gpkg");
    let err = serve_fails(&["--bind", &bind, "--store", &nested, "--data", data]);
    assert!(
        err.contains("--store") && !err.contains("cannot listen"),
        "{err}"
    );

    let err = serve_fails(&[
        "--bind",
        &bind,
        "--store",
        store,
        "--data",
        data,
        "--workers",
        "0",
    ]);
    assert!(err.contains("--workers"), "{err}");

    // A PostGIS URL whose server does not answer (the taken port accepts but never speaks
    // PostgreSQL) is a clear --store error within its connect_timeout, without the password.
    let url = format!("postgresql://atlas:secret@{bind}/atlas?connect_timeout=1");
    // (Reaching the database comes after the bind, so this one binds a port of its own.)
    let err = serve_fails(&["--store", &url, "--data", data]);
    assert!(
        err.contains("--store") && err.contains("unavailable") && !err.contains("secret"),
        "{err}"
    );
    drop(taken);
}
