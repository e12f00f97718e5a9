//! Vector tiles (OGC API – Tiles): status codes, ETags and metadata through the in-process router;
//! served tiles decoded by an independent decoder (PyPI's mapbox-vector-tile), the PMTiles archive
//! read by the reference reader (PyPI's pmtiles) from the file and over HTTP ranges, and the tiles
//! drawn by QGIS's vector-tile provider, all against the real binary on port 0.

use std::path::Path;
use std::process::{Command, Stdio};

use actix_web::http::StatusCode;
use actix_web::test as atest;
use serde_json::json;
use tailings_atlas::store::Role;

use crate::common::{
    Server, call, default_state, get, link, path_of, repo_path, seeded_with_tokens, spawn_server,
    temp_dir, venv_python,
};

const MVT: &str = "application/vnd.mapbox-vector-tile";
/// A z7 tile over the Fergana valley (Mailuu-Suu and its neighbours).
const FERGANA_Z7: &str = "7/89/47";

fn tile_uri(collection: &str, zxy: &str) -> String {
    format!("/collections/{collection}/tiles/WebMercatorQuad/{zxy}")
}

#[actix_web::test]
async fn tiles_answer_with_etags_204_404_and_400() {
    let state = default_state();
    let r = get(&state, &tile_uri("sites", FERGANA_Z7)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type").as_deref(), Some(MVT));
    assert!(r.header("cache-control").unwrap().contains("no-cache"));
    assert!(!r.body.is_empty());
    // MVT keeps strings as they are: the site names are in the tile.
    assert!(r.text().contains("Mailuu-Suu"), "{:?}", r.text());
    let tag = r.header("etag").unwrap();
    let again = call(
        &state,
        atest::TestRequest::get()
            .uri(&tile_uri("sites", FERGANA_Z7))
            .insert_header(("If-None-Match", tag.as_str())),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    // The same tile from the cache: same bytes, same tag.
    let cached = get(&state, &tile_uri("sites", FERGANA_Z7)).await;
    assert_eq!(cached.header("etag"), Some(tag));
    assert_eq!(cached.body, r.body);

    // The Pacific: no features.
    let r = get(&state, &tile_uri("rivers", "6/2/30")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.header("etag").is_some());

    for (uri, status, says) in [
        (
            tile_uri("rivers", "15/0/0"),
            404,
            "zoom level 15 is outside this tileset's 0..=14",
        ),
        (tile_uri("rivers", "3/8/0"), 404, "column 8"),
        (tile_uri("rivers", "3/0/8"), 404, "row 8"),
        (tile_uri("rivers", "x/0/0"), 400, "tileMatrix"),
        (tile_uri("rivers", "3/1.5/0"), 400, "tileCol"),
        (tile_uri("rivers", "3/0/-1"), 400, "tileRow"),
        (tile_uri("nope", "3/0/0"), 404, "no collection \\\"nope\\\""),
        (
            "/collections/rivers/tiles/WorldCRS84Quad/3/0/0".into(),
            404,
            "WebMercatorQuad",
        ),
        (
            format!("{}?size=2", tile_uri("rivers", "3/0/0")),
            400,
            "size",
        ),
        (format!("{}?f=png", tile_uri("rivers", "3/0/0")), 400, "mvt"),
        ("/map/tiles/15/0/0".into(), 404, "0..=14"),
        ("/map/tiles/1/a/0".into(), 400, "tileCol"),
    ] {
        let r = get(&state, &uri).await;
        assert_eq!(r.status.as_u16(), status, "{uri}: {}", r.text());
        assert!(r.text().contains(says), "{uri}: {}", r.text());
        assert!(
            !r.text().contains("/work") && !r.text().contains("src/"),
            "{}",
            r.text()
        );
    }
    let r = get(&state, &format!("{}?f=mvt", tile_uri("rivers", "5/22/12"))).await;
    assert_eq!(r.status, StatusCode::OK);
    // The combined map tile has a layer per collection (MVT layer names are plain strings).
    let r = get(&state, "/map/tiles/5/22/12").await;
    assert_eq!(r.status, StatusCode::OK);
    for name in ["sites", "rivers", "borders", "countries", "water-bodies"] {
        assert!(r.text().contains(name), "map tile lacks {name}");
    }
}

#[actix_web::test]
async fn the_etag_follows_the_published_inventory() {
    let (_dir, _store, state, tokens) =
        seeded_with_tokens("tiles-etag", &[("Admin", Role::Admin, &[])], |s| s);
    let before = get(&state, &tile_uri("sites", FERGANA_Z7)).await;
    let map_before = get(&state, "/map/tiles/7/89/47").await;
    let site = json!({
        "type": "Feature",
        "geometry": { "type": "Point", "coordinates": [72.46, 41.26] },
        "properties": { "name": "Tile test tailings", "kind": "tailings", "country": "KGZ", "activity": "uranium legacy",
            "status": "legacy", "precision": "site", "sources": ["https://example.org/tiles"] },
    });
    let r = call(
        &state,
        atest::TestRequest::post()
            .uri("/collections/sites/items")
            .insert_header(("Authorization", format!("Bearer {}", tokens[0])))
            .insert_header(("Content-Type", "application/geo+json"))
            .set_payload(site.to_string()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let after = get(&state, &tile_uri("sites", FERGANA_Z7)).await;
    assert_ne!(after.header("etag"), before.header("etag"));
    assert!(after.text().contains("Tile test tailings"));
    assert!(!before.text().contains("Tile test tailings"));
    // The old tag no longer matches.
    let r = call(
        &state,
        atest::TestRequest::get()
            .uri(&tile_uri("sites", FERGANA_Z7))
            .insert_header(("If-None-Match", before.header("etag").unwrap().as_str())),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let map_after = get(&state, "/map/tiles/7/89/47").await;
    assert_ne!(map_after.header("etag"), map_before.header("etag"));
    assert!(map_after.text().contains("Tile test tailings"));
}

#[actix_web::test]
async fn tileset_metadata_tilejson_and_the_tile_matrix_set() {
    let state = default_state();
    let conf = get(&state, "/conformance").await.json();
    for c in [
        "core",
        "tileset",
        "tilesets-list",
        "geodata-tilesets",
        "mvt",
        "oas30",
    ] {
        let uri = format!("http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/{c}");
        assert!(
            conf["conformsTo"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == &uri),
            "{uri}"
        );
    }
    let rel = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector";
    let all = get(&state, "/collections").await.json();
    for c in all["collections"].as_array().unwrap() {
        let href = link(c, rel).unwrap_or_else(|| panic!("{} has no {rel} link", c["id"]));
        assert!(
            href.starts_with("http://") && href.ends_with("/tiles"),
            "{href}"
        );
    }
    let one = get(&state, "/collections/rivers").await.json();
    let list = get(&state, &path_of(link(&one, rel).unwrap())).await.json();
    let ts = &list["tilesets"][0];
    assert_eq!(ts["dataType"], "vector");
    assert_eq!(ts["crs"], "http://www.opengis.net/def/crs/EPSG/0/3857");
    assert_eq!(
        ts["tileMatrixSetURI"],
        "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    );
    assert!(link(ts, "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme").is_some());
    let tileset = get(&state, &path_of(link(ts, "self").unwrap()))
        .await
        .json();
    let item = tileset["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "item")
        .unwrap();
    assert_eq!(item["templated"], true);
    assert_eq!(item["type"], MVT);
    // The template names the OGC variables, in the order of our URLs (z/x/y).
    let href = item["href"].as_str().unwrap();
    assert!(
        href.ends_with("/WebMercatorQuad/{tileMatrix}/{tileCol}/{tileRow}"),
        "{href}"
    );
    let filled = path_of(href)
        .replace("{tileMatrix}", "5")
        .replace("{tileCol}", "22")
        .replace("{tileRow}", "12");
    assert_eq!(get(&state, &filled).await.status, StatusCode::OK);
    assert_eq!(tileset["tileMatrixSetLimits"].as_array().unwrap().len(), 15);
    assert_eq!(tileset["layers"][0]["geometryDimension"], 1);
    assert_eq!(
        tileset["layers"][0]["propertiesSchema"]["properties"]["level"]["type"],
        "number"
    );

    let tms = get(&state, "/tileMatrixSets/WebMercatorQuad").await.json();
    let m = tms["tileMatrices"].as_array().unwrap();
    assert_eq!(m.len(), 25);
    assert_eq!(m[0]["matrixWidth"], 1);
    assert!((m[0]["scaleDenominator"].as_f64().unwrap() - 559_082_264.028_717_8).abs() < 1e-3);
    let sets = get(&state, "/tileMatrixSets").await.json();
    assert_eq!(sets["tileMatrixSets"][0]["id"], "WebMercatorQuad");
    assert_eq!(
        get(&state, "/tileMatrixSets/Other").await.status,
        StatusCode::NOT_FOUND
    );

    // TileJSON: absolute tile URLs from the request, fields with types, zooms, bounds.
    let tj = call(
        &state,
        atest::TestRequest::get()
            .uri("/collections/sites/tiles/WebMercatorQuad/tilejson.json")
            .insert_header(("Host", "atlas.example.org")),
    )
    .await
    .json();
    assert_eq!(tj["tilejson"], "3.0.0");
    assert_eq!(
        tj["tiles"][0],
        "http://atlas.example.org/collections/sites/tiles/WebMercatorQuad/{z}/{x}/{y}"
    );
    assert_eq!(
        (tj["minzoom"].as_u64(), tj["maxzoom"].as_u64()),
        (Some(0), Some(14))
    );
    let layer = &tj["vector_layers"][0];
    assert_eq!(layer["id"], "sites");
    assert_eq!(layer["fields"]["risk_score"], "Number");
    assert_eq!(layer["fields"]["name"], "String");
    assert_eq!(tj["bounds"].as_array().unwrap().len(), 4);
    assert!(tj["attribution"].as_str().unwrap().contains("GeoNames"));

    let map = get(&state, "/map/tilejson.json").await.json();
    assert!(
        map["tiles"][0]
            .as_str()
            .unwrap()
            .ends_with("/map/tiles/{z}/{x}/{y}")
    );
    let ids: Vec<&str> = map["vector_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    for id in ["sites", "rivers", "borders", "countries", "water-bodies"] {
        assert!(ids.contains(&id), "{ids:?}");
    }
    // The API definition documents the tile paths.
    let api = get(&state, "/api").await.json();
    for p in [
        "/collections/sites/tiles",
        "/collections/sites/tiles/WebMercatorQuad",
        "/collections/sites/tiles/WebMercatorQuad/{z}/{x}/{y}",
        "/collections/sites/tiles/WebMercatorQuad/tilejson.json",
        "/map/tilejson.json",
        "/map/tiles/{z}/{x}/{y}",
        "/tileMatrixSets",
        "/tileMatrixSets/WebMercatorQuad",
        "/tiles/{file}",
    ] {
        assert!(api["paths"].get(p).is_some(), "{p} not in /api");
    }
    assert_eq!(
        get(&state, "/collections/sites/tiles?f=xml").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[actix_web::test]
async fn files_of_the_tiles_directory_by_range() {
    let files = temp_dir("tiles-files");
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(files.join("a.pmtiles"), &data).unwrap();
    std::fs::write(files.parent().unwrap().join("secret.txt"), "no").unwrap();
    let dir = files.clone();
    let (_d, _store, state, _) =
        seeded_with_tokens("tiles-files-state", &[], move |s| s.with_tiles_dir(dir));
    let ranged = |range: &'static str| {
        atest::TestRequest::get()
            .uri("/tiles/a.pmtiles")
            .insert_header(("Range", range))
            .insert_header(("Accept-Encoding", "gzip"))
    };
    let r = call(&state, ranged("bytes=100-199")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body, &data[100..200]);
    assert_eq!(
        r.header("content-range").as_deref(),
        Some("bytes 100-199/10000")
    );
    assert_eq!(r.header("accept-ranges").as_deref(), Some("bytes"));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/vnd.pmtiles")
    );
    assert_ne!(r.header("content-encoding").as_deref(), Some("gzip"));
    // A PMTiles reader on another origin (a static web map) can read the range headers.
    let r = call(
        &state,
        ranged("bytes=0-9").insert_header(("Origin", "https://maps.example.org")),
    )
    .await;
    let exposed = r
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for h in ["content-range", "etag", "accept-ranges", "content-crs"] {
        assert!(exposed.contains(h), "{h} not exposed: {exposed}");
    }
    let r = call(&state, ranged("bytes=-16")).await;
    assert_eq!(r.body, &data[10_000 - 16..]);
    let r = call(&state, ranged("bytes=9990-")).await;
    assert_eq!(r.body, &data[9990..]);
    let r = call(&state, ranged("bytes=10000-")).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range").as_deref(), Some("bytes */10000"));
    let r = get(&state, "/tiles/a.pmtiles").await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, 10_000));
    assert_eq!(r.body, data);
    // An If-Range naming another version gets the whole file.
    let r = call(
        &state,
        ranged("bytes=0-9").insert_header(("If-Range", "W/\"other\"")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // Only plain names of files in the directory.
    for uri in [
        "/tiles/..%2Fsecret.txt",
        "/tiles/.hidden",
        "/tiles/missing.pmtiles",
        "/tiles/..",
        "/tiles/%2e%2e%2fsecret.txt",
    ] {
        let r = get(&state, uri).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(!r.text().contains(files.to_str().unwrap()), "{}", r.text());
    }
    assert_eq!(
        get(&state, "/tiles/../secret.txt").await.status,
        StatusCode::NOT_FOUND
    );
}

fn atlas() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tailings-atlas"))
}

fn serve(store: &Path, tiles_dir: &Path) -> Server {
    spawn_server(
        atlas()
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "2"])
            .arg("--store")
            .arg(store)
            .arg("--data")
            .arg(repo_path("data"))
            .arg("--tiles-dir")
            .arg(tiles_dir)
            .stderr(Stdio::null()),
    )
}

fn run_checked(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn independent_readers_decode_the_served_tiles_and_the_archive() {
    let dir = temp_dir("tiles-binary");
    let store = dir.join("atlas.gpkg");
    let tiles = dir.join("tiles");
    // A bad zoom range is refused, and nothing is written.
    let out = atlas()
        .args(["tiles", "--minzoom", "6", "--maxzoom", "2", "--out"])
        .arg(tiles.join("bad.pmtiles"))
        .arg("--store")
        .arg(&store)
        .arg("--data")
        .arg(repo_path("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--minzoom 6 is above --maxzoom 2"));
    assert!(!tiles.join("bad.pmtiles").exists());
    let out = atlas().args(["tiles", "--maxzoom", "15"]).output().unwrap();
    assert!(!out.status.success());

    let archive = tiles.join("syr-darya.pmtiles");
    let mut cmd = atlas();
    cmd.args(["tiles", "--minzoom", "0", "--maxzoom", "6", "--out"])
        .arg(&archive)
        .arg("--store")
        .arg(&store)
        .arg("--data")
        .arg(repo_path("data"));
    run_checked(&mut cmd, "tailings-atlas tiles");
    // No temporary file is left beside the archive.
    let names: Vec<String> = std::fs::read_dir(&tiles)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["syr-darya.pmtiles"]);

    let server = serve(&store, &tiles);
    let py = venv_python();
    let stdout = run_checked(
        Command::new(&py)
            .arg(repo_path("tests/tiles/check_tiles.py"))
            .arg(&server.base),
        "tests/tiles/check_tiles.py",
    );
    assert!(stdout.contains("map 5/22/12:"), "{stdout}");
    let stdout = run_checked(
        Command::new(&py)
            .arg(repo_path("tests/tiles/check_archive.py"))
            .arg(&archive)
            .arg(format!("{}/tiles/syr-darya.pmtiles", server.base)),
        "tests/tiles/check_archive.py",
    );
    assert_eq!(stdout.matches("tiles addressed").count(), 2, "{stdout}");
}

#[test]
fn qgis_draws_the_vector_tiles() {
    let dir = temp_dir("tiles-qgis");
    let server = serve(&dir.join("atlas.gpkg"), &dir);
    let png = dir.join("qgis-tiles.png");
    // Debian's python3-qgis belongs to the system interpreter, not to any other python3 on PATH.
    let stdout = run_checked(
        Command::new("/usr/bin/python3")
            .arg(repo_path("tests/qgis/check_tiles.py"))
            .arg(&server.base)
            .env("ATLAS_QGIS_TILES_PNG", &png),
        "tests/qgis/check_tiles.py (python3-qgis is installed by scripts/setup.sh)",
    );
    for layer in [
        "sites: valid",
        "rivers: valid",
        "countries: valid",
        "map: valid",
    ] {
        assert!(stdout.contains(layer), "{stdout}");
    }
    assert!(png.exists());
}
