//! The web map: `/map`, `/map/style.json`, `/map/static/{file}` and the small maps of the HTML item
//! pages, in-process; and the end-to-end test in headless Chromium against the real binary.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use actix_web::http::StatusCode;
use actix_web::test as atest;
use serde_json::Value;

use crate::common::{
    Server, default_state, get, random_sites, random_state, repo_path, spawn_server, status_of,
    temp_dir,
};

/// Every `"map/static/…"` (or `/map/static/…`) URL a page names.
fn static_urls(html: &str) -> Vec<String> {
    html.split('"')
        .filter(|s| s.starts_with("map/static/") || s.starts_with("/map/static/"))
        .map(|s| format!("/{}", s.trim_start_matches('/')))
        .collect()
}

#[actix_web::test]
async fn map_page_names_versioned_assets_that_exist() {
    let state = default_state();
    let r = get(&state, "/map").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(r.header("cache-control").as_deref(), Some("no-cache"));
    let html = r.text();
    assert!(!html.contains("__V__"), "the version is filled in");
    let urls = static_urls(&html);
    assert_eq!(urls.len(), 5, "{urls:?}");
    for url in urls {
        assert!(url.contains("?v="), "{url} is versioned");
        let a = get(&state, &url).await;
        assert_eq!(a.status, StatusCode::OK, "{url}");
        assert!(!a.body.is_empty());
    }
    // The page takes parameters of its own (read by its script), and answers HEAD.
    let r = get(
        &state,
        "/map?source=pmtiles&archive=/tiles/syr-darya.pmtiles",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let head = crate::common::call(
        &state,
        atest::TestRequest::default()
            .method(actix_web::http::Method::HEAD)
            .uri("/map"),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    let post = crate::common::call(&state, atest::TestRequest::post().uri("/map")).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[actix_web::test]
async fn static_assets_have_their_types_long_caching_and_404s() {
    let state = default_state();
    for (file, ty) in [
        ("map.js", "text/javascript; charset=utf-8"),
        ("feature-map.js", "text/javascript; charset=utf-8"),
        ("maplibre-gl-csp.js", "text/javascript; charset=utf-8"),
        (
            "maplibre-gl-csp-worker.js",
            "text/javascript; charset=utf-8",
        ),
        ("pmtiles.js", "text/javascript; charset=utf-8"),
        ("map.css", "text/css; charset=utf-8"),
        ("maplibre-gl.css", "text/css; charset=utf-8"),
        ("maplibre-gl.LICENSE.txt", "text/plain; charset=utf-8"),
        ("pmtiles.LICENSE.txt", "text/plain; charset=utf-8"),
        ("VERSIONS.md", "text/markdown; charset=utf-8"),
    ] {
        let r = get(&state, &format!("/map/static/{file}")).await;
        assert_eq!(r.status, StatusCode::OK, "{file}");
        assert_eq!(r.header("content-type").as_deref(), Some(ty), "{file}");
        assert_eq!(
            r.header("cache-control").as_deref(),
            Some("public, max-age=31536000, immutable")
        );
        // The files are those of the repository, byte for byte.
        let path = if file.starts_with("map") && !file.starts_with("maplibre")
            || file == "feature-map.js"
        {
            repo_path(&format!("web/{file}"))
        } else {
            repo_path(&format!("web/vendor/{file}"))
        };
        assert_eq!(r.body, std::fs::read(&path).unwrap(), "{file}");
        let tag = r.header("etag").unwrap();
        let again = crate::common::call(
            &state,
            atest::TestRequest::get()
                .uri(&format!("/map/static/{file}"))
                .insert_header(("If-None-Match", tag)),
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{file}");
    }
    // MapLibre's licence travels with it.
    let licence = get(&state, "/map/static/maplibre-gl.LICENSE.txt")
        .await
        .text();
    assert!(licence.contains("MapLibre contributors"));
    for bad in [
        "/map/static/nope.js",
        "/map/static/..%2Fmap.html",
        "/map/static/map.js.map",
        "/map/static/",
        "/map/static/MAP.JS",
    ] {
        let r = get(&state, bad).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}");
        let body = r.json();
        assert_eq!(body["code"], "NotFound", "{bad}");
        assert!(
            !r.text().contains("/work/") && !r.text().contains("web/"),
            "{bad}: no server path"
        );
    }
}

/// The style's every URL, recursively.
fn urls(v: &Value, out: &mut Vec<String>) {
    match v {
        // A plain URL, or one inside an attribution's HTML.
        Value::String(s) => out.extend(
            s.split(['"', ' '])
                .filter(|t| t.contains("://"))
                .map(str::to_owned),
        ),
        Value::Array(a) => a.iter().for_each(|x| urls(x, out)),
        Value::Object(o) => o.values().for_each(|x| urls(x, out)),
        _ => {}
    }
}

#[actix_web::test]
async fn style_references_only_published_collections_with_absolute_urls() {
    let state = default_state();
    let r = crate::common::call(
        &state,
        atest::TestRequest::get()
            .uri("/map/style.json")
            .insert_header(("X-Forwarded-Proto", "https"))
            .insert_header(("X-Forwarded-Host", "atlas.example.org")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(r.header("etag").is_some());
    let style = r.json();
    assert_eq!(style["version"], 8);
    let collections: BTreeSet<String> = get(&state, "/collections").await.json()["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let sources = style["sources"].as_object().unwrap();
    assert!(!sources.is_empty());
    for (id, s) in sources {
        assert!(collections.contains(id), "source {id} is a collection");
        assert_eq!(s["type"], "vector");
        assert_eq!(
            s["tiles"][0],
            format!(
                "https://atlas.example.org/collections/{id}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}"
            )
        );
    }
    for id in ["countries", "water-bodies", "rivers", "borders", "sites"] {
        assert!(sources.contains_key(id), "{id} is drawn");
    }
    let layers = style["layers"].as_array().unwrap();
    let layer_ids: BTreeSet<&str> = layers.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(layer_ids.len(), layers.len(), "layer ids are unique");
    for l in layers.iter().filter(|l| l["type"] != "background") {
        let src = l["source"].as_str().unwrap();
        assert!(
            sources.contains_key(src),
            "layer {} draws source {src}",
            l["id"]
        );
        assert_eq!(
            l["source-layer"], src,
            "the MVT layer is named as the collection"
        );
        assert!(["fill", "line", "circle"].contains(&l["type"].as_str().unwrap()));
    }
    // No text, so no glyphs or sprites to fetch from anywhere.
    assert!(style.get("glyphs").is_none() && style.get("sprite").is_none());
    let mut all = Vec::new();
    urls(&style, &mut all);
    assert!(!all.is_empty());
    for u in &all {
        assert!(
            u == "https://atlas.example.org" || u.starts_with("https://atlas.example.org/"),
            "{u} is absolute, under the base URL"
        );
    }
    // The page's metadata: one entry per drawn collection, naming layers that exist.
    let meta = &style["metadata"];
    for c in meta["tailings-atlas:collections"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        assert!(sources.contains_key(id));
        for l in c["layers"].as_array().unwrap() {
            assert!(layer_ids.contains(l.as_str().unwrap()), "{l}");
        }
        assert!(
            !c["legend"].as_array().unwrap().is_empty(),
            "{id} has a legend"
        );
        assert!(
            !c["downloads"].as_array().unwrap().is_empty(),
            "{id} has downloads"
        );
    }
    // The sites' downloads are the export formats, and each answers.
    let sites = meta["tailings-atlas:collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "sites")
        .unwrap();
    let labels: Vec<&str> = sites["downloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["GeoJSON", "CSV", "GeoPackage"]);
    for d in sites["downloads"].as_array().unwrap() {
        let href = d["href"].as_str().unwrap();
        let r = get(&state, &crate::common::path_of(href)).await;
        assert_eq!(r.status, StatusCode::OK, "{href}");
    }
    let countries: Vec<&str> = meta["tailings-atlas:filters"]["country"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(countries, ["KAZ", "KGZ", "TJK", "UZB"]);
    let labels = meta["tailings-atlas:labels"].as_array().unwrap();
    assert!(labels.iter().any(|l| l["text"] == "Kyrgyzstan"));
    // The same published state gives the same ETag, and a 304.
    let again = crate::common::call(
        &state,
        atest::TestRequest::get()
            .uri("/map/style.json")
            .insert_header(("X-Forwarded-Proto", "https"))
            .insert_header(("X-Forwarded-Host", "atlas.example.org"))
            .insert_header(("If-None-Match", r.header("etag").unwrap())),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    // The style takes no parameters but `f`.
    let bad = get(&state, "/map/style.json?source=x").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("source"), "{}", bad.text());
}

#[actix_web::test]
async fn style_leaves_out_what_is_not_published() {
    // Only sites: no reference layers. The risk layers are computed from the sites, but without
    // a river network or countries only the hexagons hold anything.
    let state = random_state(&random_sites(7, 50));
    let style = get(&state, "/map/style.json").await.json();
    let mut sources: Vec<&str> = style["sources"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    sources.sort_unstable();
    let reference = ["rivers", "borders", "countries", "water-bodies"];
    assert!(sources.contains(&"sites"), "{sources:?}");
    assert!(
        !sources.iter().any(|s| reference.contains(s)),
        "{sources:?}"
    );
    let layers: Vec<&str> = style["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert!(layers.contains(&"sites-circle"), "{layers:?}");
    assert!(
        !layers
            .iter()
            .any(|l| reference.iter().any(|r| l.starts_with(r))),
        "{layers:?}"
    );
    assert_eq!(
        style["metadata"]["tailings-atlas:labels"],
        serde_json::json!([])
    );
}

#[actix_web::test]
async fn html_item_pages_carry_a_small_map_of_their_features() {
    let state = default_state();
    let page = get(
        &state,
        "/collections/sites/items?f=html&country=KGZ&limit=5",
    )
    .await
    .text();
    assert!(page.contains("id=\"feature-map\""), "{page}");
    // Its data is the page's own GeoJSON twin, with the same filters (escaped for the attribute).
    assert!(
        page.contains("data-src=\"/collections/sites/items?country=KGZ&#38;limit=5&#38;f=json\""),
        "{page}"
    );
    for url in static_urls(&page) {
        assert_eq!(get(&state, &url).await.status, StatusCode::OK, "{url}");
    }
    let one = get(&state, "/collections/rivers/items/ne-170-3?f=html").await;
    assert_eq!(one.status, StatusCode::OK);
    assert!(
        one.text()
            .contains("data-src=\"/collections/rivers/items/ne-170-3?f=json\"")
    );
    // What the attribute names is served.
    let json = get(
        &state,
        "/collections/sites/items?country=KGZ&limit=5&f=json",
    )
    .await;
    assert_eq!(json.json()["numberReturned"], 5);
}

/// Serves a fresh store in a directory of its own, whose `tiles/` holds the PMTiles archive of
/// every layer (z0–z8), written first by `tailings-atlas tiles`.
fn serve(tag: &str) -> Server {
    serve_with(&temp_dir(tag), &[])
}

/// As [`serve`], in `dir`, with `extra` flags for `serve`.
fn serve_with(dir: &std::path::Path, extra: &[&str]) -> Server {
    cli(
        dir,
        &[
            "tiles",
            "--out",
            "tiles/syr-darya.pmtiles",
            "--maxzoom",
            "8",
        ],
    );
    spawn_server(
        Command::new(env!("CARGO_BIN_EXE_tailings-atlas"))
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "2"])
            .args(extra)
            .arg("--store")
            .arg(dir.join("atlas.gpkg"))
            .arg("--data")
            .arg(repo_path("data"))
            .current_dir(dir)
            .stderr(Stdio::null()),
    )
}

/// `tailings-atlas ARGS --store DIR/atlas.gpkg --data data` run in `dir`; panics unless it succeeds.
fn cli(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_tailings-atlas"))
        .args(args)
        .arg("--store")
        .arg(dir.join("atlas.gpkg"))
        .arg("--data")
        .arg(repo_path("data"))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `node tests/web/map_e2e.mjs BASE OUTDIR QUERY`; panics with its report unless every check passed.
fn run_e2e(base: &str, out: &std::path::Path, query: &str) -> Value {
    run_e2e_with(base, out, query, None)
}

/// As [`run_e2e`], with `token` for a service whose reads are private (`ATLAS_TOKEN`).
fn run_e2e_with(base: &str, out: &std::path::Path, query: &str, token: Option<&str>) -> Value {
    let web = repo_path("tests/web");
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "tests/web/node_modules is missing: run scripts/setup.sh (npm ci in tests/web)"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run scripts/setup.sh (apt-get install chromium)"
    );
    let run = Command::new("node")
        .current_dir(&web)
        .arg("map_e2e.mjs")
        .arg(base)
        .arg(out)
        .arg(query)
        .env("ATLAS_TOKEN", token.unwrap_or(""))
        .output()
        .expect("node runs (scripts/setup.sh installs it)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&run.stderr)
        )
    });
    assert!(
        run.status.success() && report["problems"].as_array().is_some_and(|p| p.is_empty()),
        "the web map failed in Chromium ({query}): {:#}",
        report["problems"]
    );
    report
}

#[test]
fn web_map_works_in_headless_chromium() {
    let server = serve("webmap-e2e");
    let out = repo_path("target/webmap-e2e");
    let report = run_e2e(&server.base, &out, "");
    // The clicked site's popup, the path and the screenshots.
    assert!(report["path"]["rendered"].as_u64().unwrap() > 0);
    for shot in [
        "map.png",
        "map-popup.png",
        "map-downstream.png",
        "items.png",
    ] {
        let meta = std::fs::metadata(out.join(shot)).unwrap();
        assert!(meta.len() > 10_000, "{shot} is a real picture");
    }
    // The same page from the static PMTiles archive (range requests to /tiles/…), and from the
    // GeoJSON items instead of tiles.
    let pm = run_e2e(
        &server.base,
        &out.join("pmtiles"),
        "?source=pmtiles&archive=/tiles/syr-darya.pmtiles",
    );
    assert!(pm["layers"]["rendered"]["rivers"].as_u64().unwrap() > 0);
    run_e2e(&server.base, &out.join("geojson"), "?source=geojson");
}

/// Under `serve --private-reads` the map's page and its files are open, nothing else is; the page
/// asks for a token, then sends it with every request for data (style, tiles, the archive's
/// ranges, popups, paths, the near-border tool), and the map works as it does on a public service.
#[test]
fn web_map_works_under_private_reads_with_a_token() {
    let dir = temp_dir("webmap-private");
    let made = cli(
        &dir,
        &[
            "token",
            "create",
            "--role",
            "reader",
            "--name",
            "map viewer",
        ],
    );
    let token = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    let server = serve_with(&dir, &["--private-reads"]);
    let bearer = format!("Bearer {token}");
    let status = |path: &str, token: bool| {
        let auth = [("Authorization", bearer.as_str())];
        status_of(server.addr(), path, if token { &auth } else { &[] })
    };
    for open in ["/map", "/map/static/map.js"] {
        assert_eq!(status(open, false), 200, "{open} is open");
    }
    for closed in [
        "/map/style.json",
        "/collections/sites/items",
        "/collections/sites/tiles/WebMercatorQuad/5/22/11",
        "/tiles/syr-darya.pmtiles",
    ] {
        assert_eq!(status(closed, false), 401, "{closed} needs a token");
        let with = status(closed, true);
        assert!(
            (200..300).contains(&with),
            "{closed} with the token: {with}"
        );
    }
    let out = repo_path("target/webmap-e2e-private");
    let report = run_e2e_with(&server.base, &out, "", Some(&token));
    assert!(report["path"]["rendered"].as_u64().unwrap() > 0);
    run_e2e_with(
        &server.base,
        &out.join("pmtiles"),
        "?source=pmtiles&archive=/tiles/syr-darya.pmtiles",
        Some(&token),
    );
}
