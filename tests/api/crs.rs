//! OGC API – Features Part 2 through the HTTP API: `crs` and `bbox-crs` on items and single
//! features, against coordinates computed independently by pyproj (tests/fixtures/crs/generate.py
//! wrote tests/fixtures/crs/expected.json), the axis order of EPSG:4326, `Content-Crs`, the
//! collections' CRS lists, and the errors.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use serde_json::Value;
use tailings_atlas::api::crs::{Crs, to_crs84};
use tailings_atlas::model::{Site, SiteDraft};

use super::common::*;

const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const EPSG4326: &str = "http://www.opengis.net/def/crs/EPSG/0/4326";
const UTM42: &str = "http://www.opengis.net/def/crs/EPSG/0/32642";

fn fixture() -> Value {
    let text = std::fs::read_to_string(repo_path("tests/fixtures/crs/expected.json"))
        .expect("tests/fixtures/crs/expected.json (tests/fixtures/crs/generate.py writes it)");
    serde_json::from_str(&text).unwrap()
}

/// `v` for a query string.
fn enc(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn pair(v: &Value) -> (f64, f64) {
    (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
}

/// Every position of a GeoJSON geometry, in order.
fn positions(g: &Value) -> Vec<(f64, f64)> {
    fn walk(c: &Value, out: &mut Vec<(f64, f64)>) {
        match c.as_array() {
            Some(a) if a.first().is_some_and(Value::is_number) => out.push(pair(c)),
            Some(a) => a.iter().for_each(|x| walk(x, out)),
            None => {}
        }
    }
    let mut out = Vec::new();
    walk(&g["coordinates"], &mut out);
    out
}

/// Projected coordinates are given to the millimetre: within half of it of PROJ's (and a hair for
/// the two PROJ versions); degrees to the last bit.
fn close(crs: &str, got: (f64, f64), want: (f64, f64)) -> bool {
    let tol = if crs == EPSG4326 || crs == CRS84 {
        0.0
    } else {
        0.0005 + 1e-6
    };
    (got.0 - want.0).abs() <= tol && (got.1 - want.1).abs() <= tol
}

fn by_id(doc: &Value) -> std::collections::HashMap<String, (f64, f64)> {
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                pair(&f["geometry"]["coordinates"]),
            )
        })
        .collect()
}

fn ids(doc: &Value) -> BTreeSet<String> {
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A site at each position, named `g{i}`.
fn sites_at(points: &[(f64, f64)]) -> Vec<Site> {
    points
        .iter()
        .enumerate()
        .map(|(i, &(lon, lat))| {
            Site::try_from(SiteDraft {
                id: Some(format!("g{i:03}")),
                name: Some(format!("Grid point {i}")),
                kind: Some("tailings".into()),
                activity: Some("test".into()),
                country: Some("KGZ".into()),
                status: Some("unknown".into()),
                lon: Some(lon),
                lat: Some(lat),
                precision: Some("site".into()),
                sources: vec!["crs test grid".into()],
                ..Default::default()
            })
            .unwrap()
        })
        .collect()
}

#[actix_web::test]
async fn seed_sites_in_every_crs_are_where_pyproj_puts_them() {
    let fx = fixture();
    let state = default_state();
    let plain = get(&state, "/collections/sites/items?limit=1000").await;
    assert_eq!(
        plain.header("content-crs").as_deref(),
        Some(&*format!("<{CRS84}>"))
    );
    let stored = by_id(&plain.json());
    // The fixture was made from the same data.
    let expected84 = fx["crs84"]["sites"].as_object().unwrap();
    let stale = "data/ changed: run tests/fixtures/crs/generate.py again";
    assert_eq!(stored.len(), expected84.len(), "{stale}");
    for (id, p) in expected84 {
        assert_eq!(stored.get(id), Some(&pair(p)), "{id}: {stale}");
    }
    for (crs, expected) in fx["crs"].as_object().unwrap() {
        let r = get(
            &state,
            &format!("/collections/sites/items?limit=1000&crs={}", enc(crs)),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{crs}: {}", r.text());
        assert_eq!(r.header("content-crs"), Some(format!("<{crs}>")));
        let got = by_id(&r.json());
        for (id, want) in expected["sites"].as_object().unwrap() {
            assert!(
                close(crs, got[id], pair(want)),
                "{crs} {id}: {:?} vs {want}",
                got[id]
            );
        }
    }
}

/// EPSG:4326 is latitude first: the CRS84 coordinates swapped, exactly; CRS84 is the default.
#[actix_web::test]
async fn epsg_4326_puts_latitude_first() {
    let state = default_state();
    let lonlat = by_id(
        &get(&state, "/collections/sites/items?limit=1000")
            .await
            .json(),
    );
    let named = get(
        &state,
        &format!("/collections/sites/items?limit=1000&crs={}", enc(CRS84)),
    )
    .await;
    assert_eq!(by_id(&named.json()), lonlat);
    for crs in [EPSG4326, "[EPSG:4326]", "urn:ogc:def:crs:EPSG::4326"] {
        let r = get(
            &state,
            &format!("/collections/sites/items?limit=1000&crs={}", enc(crs)),
        )
        .await;
        assert_eq!(
            r.header("content-crs"),
            Some(format!("<{EPSG4326}>")),
            "{crs}"
        );
        let latlon = by_id(&r.json());
        for (id, (lon, lat)) in &lonlat {
            assert_eq!(latlon[id], (*lat, *lon), "{id}");
            // The basin: latitudes 35-46 come first, longitudes 60-80 second.
            assert!((35.0..46.0).contains(&latlon[id].0), "{id}");
        }
    }
}

/// Points over and beyond the basin, served as sites: every CRS, and back to CRS84 (the inverse
/// that `bbox-crs` and `filter-crs` use) to 1e-9°.
#[actix_web::test]
async fn grid_points_round_trip() {
    let fx = fixture();
    let grid: Vec<(f64, f64)> = fx["crs84"]["grid"]
        .as_array()
        .unwrap()
        .iter()
        .map(pair)
        .collect();
    let state = random_state(&sites_at(&grid));
    for (crs, expected) in fx["crs"].as_object().unwrap() {
        let doc = get(
            &state,
            &format!("/collections/sites/items?limit=1000&crs={}", enc(crs)),
        )
        .await
        .json();
        let got = by_id(&doc);
        let parsed = Crs::parse("crs", crs).unwrap();
        for (i, want) in expected["grid"].as_array().unwrap().iter().enumerate() {
            let id = format!("g{i:03}");
            assert!(
                close(crs, got[&id], pair(want)),
                "{crs} {:?}: {:?} vs {want}",
                grid[i],
                got[&id]
            );
            let (x, y) = pair(want);
            let back = to_crs84(parsed, geo::Coord { x, y }).unwrap();
            assert!(
                (back.x - grid[i].0).abs() < 1e-9 && (back.y - grid[i].1).abs() < 1e-9,
                "{crs}: {:?} came back as {back:?}",
                grid[i]
            );
        }
    }
}

/// Lines and polygons: every vertex, in order, on the single-feature endpoint.
#[actix_web::test]
async fn reference_features_keep_their_vertices_in_order() {
    let fx = fixture();
    let state = default_state();
    let originals = fx["crs84"]["features"].as_array().unwrap();
    for f in originals {
        let (cid, fid) = (f["collection"].as_str().unwrap(), f["id"].as_str().unwrap());
        let doc = get(&state, &format!("/collections/{cid}/items/{fid}"))
            .await
            .json();
        let want: Vec<(f64, f64)> = f["coordinates"]
            .as_array()
            .unwrap()
            .iter()
            .map(pair)
            .collect();
        assert_eq!(positions(&doc["geometry"]), want, "{cid}/{fid} as stored");
    }
    for (crs, expected) in fx["crs"].as_object().unwrap() {
        for f in expected["features"].as_array().unwrap() {
            let (cid, fid) = (f["collection"].as_str().unwrap(), f["id"].as_str().unwrap());
            let r = get(
                &state,
                &format!("/collections/{cid}/items/{fid}?crs={}", enc(crs)),
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            assert_eq!(r.header("content-crs"), Some(format!("<{crs}>")));
            let got = positions(&r.json()["geometry"]);
            let want: Vec<(f64, f64)> = f["coordinates"]
                .as_array()
                .unwrap()
                .iter()
                .map(pair)
                .collect();
            assert_eq!(got.len(), want.len(), "{crs} {cid}/{fid}");
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    close(crs, *g, *w),
                    "{crs} {cid}/{fid} vertex {k}: {g:?} vs {w:?}"
                );
            }
        }
    }
}

/// A box in a projected `bbox-crs` selects the sites inside it there (pyproj decided which), not
/// merely those in its CRS84 envelope; the envelope, asked for in CRS84, holds them all.
#[actix_web::test]
async fn bbox_crs_selects_what_lies_in_the_box_in_that_crs() {
    let fx = fixture();
    let state = default_state();
    let mut envelope_differs = false;
    for b in fx["boxes"].as_array().unwrap() {
        let crs = b["crs"].as_str().unwrap();
        let nums: Vec<String> = b["bbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap().to_string())
            .collect();
        let inside: BTreeSet<String> = b["inside"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert!(!inside.is_empty());
        let r = get(
            &state,
            &format!(
                "/collections/sites/items?limit=1000&bbox={}&bbox-crs={}",
                nums.join(","),
                enc(crs)
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        // The box's CRS is not the answer's: that is `crs`, CRS84 by default.
        assert_eq!(r.header("content-crs"), Some(format!("<{CRS84}>")));
        let doc = r.json();
        assert_eq!(ids(&doc), inside, "{crs}");
        assert_eq!(doc["numberMatched"], inside.len());

        let env: Vec<String> = b["crs84_envelope"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap().to_string())
            .collect();
        let in_envelope = ids(&get(
            &state,
            &format!("/collections/sites/items?limit=1000&bbox={}", env.join(",")),
        )
        .await
        .json());
        assert!(in_envelope.is_superset(&inside), "{crs}");
        envelope_differs |= in_envelope != inside;

        // Paging through the projected box gives the same sites.
        let mut paged = BTreeSet::new();
        for offset in (0..inside.len()).step_by(4) {
            let page = get(
                &state,
                &format!(
                    "/collections/sites/items?limit=4&offset={offset}&bbox={}&bbox-crs={}",
                    nums.join(","),
                    enc(crs)
                ),
            )
            .await
            .json();
            paged.extend(ids(&page));
        }
        assert_eq!(paged, inside);
    }
    // The fixture has a site in an envelope but not in its box, so the test can tell them apart.
    assert!(envelope_differs);
}

/// `bbox-crs=EPSG:4326` reads the box as south, west, north, east.
#[actix_web::test]
async fn bbox_in_epsg_4326_is_latitude_first() {
    let state = default_state();
    let lonlat = ids(&get(
        &state,
        "/collections/sites/items?limit=1000&bbox=69,40,72,41.5",
    )
    .await
    .json());
    assert!(lonlat.len() > 3);
    let latlon = ids(&get(
        &state,
        &format!(
            "/collections/sites/items?limit=1000&bbox=40,69,41.5,72&bbox-crs={}",
            enc(EPSG4326)
        ),
    )
    .await
    .json());
    assert_eq!(latlon, lonlat);
    // The reference layers too, with the R-tree.
    let rivers = get(
        &state,
        "/collections/rivers/items?limit=1000&bbox=69,40,72,41.5",
    )
    .await
    .json();
    let rivers_latlon = get(
        &state,
        &format!(
            "/collections/rivers/items?limit=1000&bbox=40,69,41.5,72&bbox-crs={}",
            enc(EPSG4326)
        ),
    )
    .await
    .json();
    assert_eq!(ids(&rivers), ids(&rivers_latlon));
}

/// A projected box on a line layer: the rivers with a segment through the box in that CRS, not
/// those whose extent merely meets the box's CRS84 envelope.
#[actix_web::test]
async fn bbox_crs_on_lines_is_decided_in_that_crs() {
    let state = default_state();
    // All rivers in UTM 42N, and the box 400-600 km E, 4400-4600 km N.
    let all = get(
        &state,
        &format!("/collections/rivers/items?limit=10000&crs={}", enc(UTM42)),
    )
    .await
    .json();
    let b = (400_000.0, 4_400_000.0, 600_000.0, 4_600_000.0);
    // Inside the box by the segments, decided here by clipping each projected segment.
    let crosses = |p: (f64, f64), q: (f64, f64)| {
        // Liang-Barsky.
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        let (dx, dy) = (q.0 - p.0, q.1 - p.1);
        for (pk, qk) in [
            (-dx, p.0 - b.0),
            (dx, b.2 - p.0),
            (-dy, p.1 - b.1),
            (dy, b.3 - p.1),
        ] {
            if pk == 0.0 {
                if qk < 0.0 {
                    return false;
                }
            } else {
                let t = qk / pk;
                if pk < 0.0 {
                    t0 = t0.max(t);
                } else {
                    t1 = t1.min(t);
                }
            }
        }
        t0 <= t1
    };
    let expected: BTreeSet<String> = all["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            let pts = positions(&f["geometry"]);
            pts.windows(2).any(|w| crosses(w[0], w[1]))
        })
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(expected.len() > 3, "{expected:?}");
    let got = get(
        &state,
        &format!(
            "/collections/rivers/items?limit=10000&bbox={},{},{},{}&bbox-crs={}",
            b.0,
            b.1,
            b.2,
            b.3,
            enc(UTM42)
        ),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(ids(&got.json()), expected);
}

#[actix_web::test]
async fn collections_list_their_crss_and_conformance_says_part_2() {
    let state = default_state();
    let doc = get(&state, "/collections").await.json();
    let wanted: Vec<Value> = [
        CRS84,
        EPSG4326,
        "http://www.opengis.net/def/crs/EPSG/0/3857",
        "http://www.opengis.net/def/crs/EPSG/0/32641",
        UTM42,
        "http://www.opengis.net/def/crs/EPSG/0/32643",
    ]
    .iter()
    .map(|s| Value::from(*s))
    .collect();
    let collections = doc["collections"].as_array().unwrap();
    assert!(collections.len() >= 9, "the risk layers too");
    for c in collections {
        assert_eq!(c["storageCrs"], CRS84, "{}", c["id"]);
        assert_eq!(c["crs"].as_array().unwrap(), &wanted, "{}", c["id"]);
        let one = get(
            &state,
            &format!("/collections/{}", c["id"].as_str().unwrap()),
        )
        .await
        .json();
        assert_eq!(one["crs"], c["crs"]);
        assert_eq!(one["storageCrs"], CRS84);
    }
    let conf = get(&state, "/conformance").await.json();
    assert!(
        conf["conformsTo"]
            .as_array()
            .unwrap()
            .contains(&Value::from(
                "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"
            ))
    );
}

/// Every collection takes `crs`, the risk layers included.
#[actix_web::test]
async fn every_collection_answers_in_another_crs() {
    let state = default_state();
    let doc = get(&state, "/collections").await.json();
    for c in doc["collections"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let plain = get(&state, &format!("/collections/{id}/items?limit=3"))
            .await
            .json();
        let r = get(
            &state,
            &format!("/collections/{id}/items?limit=3&crs={}", enc(UTM42)),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{id}: {}", r.text());
        assert_eq!(r.header("content-crs"), Some(format!("<{UTM42}>")), "{id}");
        let projected = r.json();
        assert_eq!(ids(&projected), ids(&plain), "{id}");
        for (a, b) in plain["features"]
            .as_array()
            .unwrap()
            .iter()
            .zip(projected["features"].as_array().unwrap())
        {
            assert_eq!(a["properties"], b["properties"], "{id}");
            let (pa, pb) = (positions(&a["geometry"]), positions(&b["geometry"]));
            assert_eq!(pa.len(), pb.len(), "{id}");
            // Metres now, not degrees.
            assert!(
                pb.iter().all(|p| p.0.is_finite() && p.1.is_finite()),
                "{id}"
            );
            assert!(
                pb.iter().any(|p| p.0.abs() > 360.0 || p.1.abs() > 360.0),
                "{id}"
            );
            assert_ne!(pa, pb, "{id}");
            // To the millimetre.
            assert!(
                pb.iter()
                    .all(|p| (p.0 * 1000.0 - (p.0 * 1000.0).round()).abs() < 1e-6)
            );
        }
    }
}

#[actix_web::test]
async fn unknown_crs_and_coordinates_outside_a_crs_are_400() {
    let state = default_state();
    for (q, param) in [
        ("crs=EPSG:2154", "crs"),
        ("crs=http://www.opengis.net/def/crs/EPSG/0/32644", "crs"),
        ("crs=4326", "crs"),
        ("bbox=1,2,3,4&bbox-crs=EPSG:9999", "bbox-crs"),
        (
            "bbox=700000,4400000,300000,4700000&bbox-crs=EPSG:32642",
            "bbox",
        ),
        ("bbox=1,2,3&bbox-crs=EPSG:32642", "bbox"),
    ] {
        for path in ["/collections/sites/items", "/collections/rivers/items"] {
            let r = get(&state, &format!("{path}?{q}")).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
            let doc = r.json();
            let d = doc["description"].as_str().unwrap();
            assert!(d.contains(&format!("`{param}`")), "{q}: {d}");
            assert!(!d.contains("/work") && !d.contains(".rs"), "{d}");
        }
    }
    let r = get(&state, "/collections/sites/items?crs=EPSG:2154").await;
    assert!(
        r.text().contains("EPSG/0/32643"),
        "lists what is served: {}",
        r.text()
    );
    let r = get(&state, "/collections/sites/items/kgz_sumsar?crs=EPSG:2154").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("`crs`"));
    // A single feature has no bbox.
    let r = get(
        &state,
        "/collections/sites/items/kgz_sumsar?bbox-crs=EPSG:4326",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // The file exports are CRS84.
    let r = get(&state, "/collections/sites/items?f=csv&crs=EPSG:3857").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("`crs`"), "{}", r.text());

    // Web Mercator has no pole: a site there cannot be given in it, and the error says which.
    let state = random_state(&sites_at(&[(69.0, 41.0), (10.0, 90.0)]));
    let r = get(&state, "/collections/sites/items?crs=EPSG:3857").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(d.contains("`crs`") && d.contains("g001"), "{d}");
    let ok = get(&state, "/collections/sites/items/g000?crs=EPSG:3857").await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(
        get(&state, "/collections/sites/items?crs=EPSG:32642")
            .await
            .status,
        StatusCode::OK
    );
}

/// `Content-Crs` on the single feature and on the other GeoJSON the service sends; none on HTML.
#[actix_web::test]
async fn content_crs_on_geojson_responses() {
    let state = default_state();
    let crs84 = Some(format!("<{CRS84}>"));
    for uri in [
        "/collections/sites/items/kgz_sumsar",
        "/collections/rivers/items?limit=2",
        "/analysis/nearest?lon=72.6&lat=41.3&k=2",
        "/analysis/near-border?within_km=5",
        "/collections/sites/items/kgz_sumsar/downstream",
    ] {
        let r = get(&state, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.header("content-crs"), crs84, "{uri}");
    }
    let r = get(
        &state,
        &format!("/collections/sites/items/kgz_sumsar?crs={}", enc(EPSG4326)),
    )
    .await;
    assert_eq!(r.header("content-crs"), Some(format!("<{EPSG4326}>")));
    let doc = r.json();
    let plain = get(&state, "/collections/sites/items/kgz_sumsar").await;
    let (lon, lat) = pair(&plain.json()["geometry"]["coordinates"]);
    assert_eq!(pair(&doc["geometry"]["coordinates"]), (lat, lon));
    // The store's version is the ETag of the site as stored, not of another CRS's copy of it.
    assert_ne!(r.header("etag"), plain.header("etag"));
    let html = get(&state, "/collections/sites/items?f=html").await;
    assert_eq!(html.header("content-crs"), None);
    // A page from the cache keeps its CRS.
    let again = get(
        &state,
        &format!("/collections/sites/items?limit=5&crs={}", enc(UTM42)),
    )
    .await;
    let cached = get(
        &state,
        &format!("/collections/sites/items?limit=5&crs={}", enc(UTM42)),
    )
    .await;
    assert_eq!(again.body.len(), cached.body.len());
    assert_eq!(cached.header("content-crs"), Some(format!("<{UTM42}>")));
}

/// The committed fixture is what its generator writes (pyproj pinned in the project's venv).
#[test]
fn the_fixture_is_what_the_generator_writes() {
    let py = repo_path(".venv/bin/python");
    let has_pyproj = std::process::Command::new(&py)
        .args(["-c", "import pyproj"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_pyproj,
        "{} has no pyproj: run scripts/setup.sh with ATLAS_NEED_QGIS=1 (the test command does)",
        py.display()
    );
    let out = temp_dir("crs-fixture").join("expected.json");
    let run = std::process::Command::new(&py)
        .arg(repo_path("tests/fixtures/crs/generate.py"))
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let made: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        made,
        fixture(),
        "run tests/fixtures/crs/generate.py and commit what it writes"
    );
}
