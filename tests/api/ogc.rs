//! OGC API – Features behaviour of the real router, in-process.

use std::collections::{BTreeSet, HashSet};
use std::io::Read;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::common::*;
use crate::geojson_rules::check_geometry;

const COLLECTIONS: &[&str] = &[
    "sites",
    "rivers",
    "borders",
    "countries",
    "water-bodies",
    "risk-reaches",
    "border-crossings",
    "risk-hexagons",
    "country-summary",
];

#[actix_web::test]
async fn landing_page_carries_the_links_qgis_needs() {
    let state = default_state();
    let r = get(&state, "/").await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    for rel in ["self", "service-desc", "conformance", "data"] {
        assert!(link(&doc, rel).is_some(), "landing page lacks rel={rel}");
    }
    assert!(link(&doc, "service-desc").unwrap().ends_with("/api"));
    assert!(link(&doc, "data").unwrap().ends_with("/collections"));
    // Links are absolute, built from the Host the client used.
    assert!(link(&doc, "self").unwrap().starts_with("http://"));
}

#[actix_web::test]
async fn conformance_declares_core_geojson_html_oas30() {
    let doc = get(&default_state(), "/conformance").await.json();
    let classes: Vec<&str> = doc["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for c in ["core", "geojson", "html", "oas30"] {
        let uri = format!("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{c}");
        assert!(classes.contains(&uri.as_str()), "missing {uri}");
    }
}

#[actix_web::test]
async fn api_is_an_openapi_30_document_covering_every_collection() {
    let r = get(&default_state(), "/api").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").unwrap().contains("openapi"));
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    for id in COLLECTIONS {
        let items = &doc["paths"][format!("/collections/{id}/items")]["get"];
        assert!(items.is_object(), "no items path for {id}");
    }
    for path in [
        "/analysis/proximity",
        "/analysis/near-border",
        "/analysis/nearest",
        "/collections/sites/items/{featureId}/downstream",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "no {path}");
    }
    // Every $ref must resolve inside the document.
    let text = r.text();
    for piece in text.split("\"$ref\":\"#/").skip(1) {
        let pointer = format!("/{}", &piece[..piece.find('"').unwrap()]);
        assert!(doc.pointer(&pointer).is_some(), "dangling $ref {pointer}");
    }
}

#[actix_web::test]
async fn collections_have_metadata_and_attribution() {
    let state = default_state();
    let doc = get(&state, "/collections").await.json();
    let list = doc["collections"].as_array().unwrap();
    let ids: BTreeSet<&str> = list.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, COLLECTIONS.iter().copied().collect());
    for c in list {
        let id = c["id"].as_str().unwrap();
        for key in ["title", "description", "attribution", "license"] {
            assert!(
                !c[key].as_str().unwrap_or("").is_empty(),
                "{id} lacks {key}"
            );
        }
        let bbox = c["extent"]["spatial"]["bbox"][0].as_array().unwrap();
        assert_eq!(bbox.len(), 4, "{id} extent");
        assert!(link(c, "items").is_some());
        assert!(link(c, "license").is_some(), "{id} has no license link");
        let one = get(&state, &format!("/collections/{id}")).await;
        assert_eq!(one.status, StatusCode::OK);
        assert_eq!(one.json()["id"], id);
    }
    let countries = list.iter().find(|c| c["id"] == "countries").unwrap();
    assert!(
        countries["attribution"]
            .as_str()
            .unwrap()
            .contains("OpenStreetMap")
    );
    assert!(countries["license"].as_str().unwrap().contains("ODbL"));
    let rivers = list.iter().find(|c| c["id"] == "rivers").unwrap();
    assert!(rivers["license"].as_str().unwrap().contains("LGPL"));
}

/// Reads every page of `uri` by following `next` links; returns the feature ids in order.
async fn follow_all(
    state: &actix_web::web::Data<tailings_atlas::api::AppState>,
    uri: &str,
) -> (Vec<String>, u64) {
    let mut ids = Vec::new();
    let mut next = Some(uri.to_owned());
    let mut matched = None;
    let mut pages = 0;
    while let Some(u) = next {
        pages += 1;
        assert!(pages < 10_000, "pagination does not end");
        let r = get(state, &u).await;
        assert_eq!(r.status, StatusCode::OK, "{u}: {}", r.text());
        let doc = r.json();
        let m = doc["numberMatched"].as_u64().unwrap();
        assert_eq!(
            *matched.get_or_insert(m),
            m,
            "numberMatched changed between pages"
        );
        let features = doc["features"].as_array().unwrap();
        assert_eq!(
            doc["numberReturned"].as_u64().unwrap() as usize,
            features.len()
        );
        ids.extend(
            features
                .iter()
                .map(|f| f["id"].as_str().unwrap().to_owned()),
        );
        next = link(&doc, "next").map(path_of);
    }
    (ids, matched.unwrap_or(0))
}

#[actix_web::test]
async fn bbox_returns_exactly_the_sites_inside() {
    let sites = random_sites(0xB0B0, 3_000);
    let state = random_state(&sites);
    let mut rng = StdRng::seed_from_u64(0xB0C5);
    let mut antimeridian = 0;
    for n in 0..60 {
        // Every fourth box crosses the antimeridian; whole degrees so that edge points occur.
        let (w, e) = if n % 4 == 0 {
            (
                rng.random_range(0..180) as f64,
                rng.random_range(-180..0) as f64,
            )
        } else {
            let a = rng.random_range(-180..=180) as f64;
            let b = rng.random_range(-180..=180) as f64;
            (a.min(b), a.max(b))
        };
        let s = rng.random_range(-90..=90) as f64;
        let no = rng.random_range(s as i32..=90) as f64;
        antimeridian += usize::from(w > e);
        let expected: BTreeSet<String> = sites
            .iter()
            .filter(|site| {
                let (lon, lat) = (site.location.lon(), site.location.lat());
                let in_lon = if w > e {
                    lon >= w || lon <= e
                } else {
                    lon >= w && lon <= e
                };
                in_lon && lat >= s && lat <= no
            })
            .map(|site| site.id.to_string())
            .collect();
        let (ids, matched) = follow_all(
            &state,
            &format!("/collections/sites/items?bbox={w},{s},{e},{no}&limit=500"),
        )
        .await;
        let got: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(got.len(), ids.len(), "a feature came twice");
        assert_eq!(got, expected, "bbox {w},{s},{e},{no}");
        assert_eq!(matched as usize, expected.len());
    }
    assert!(antimeridian >= 10);
}

#[actix_web::test]
async fn next_links_visit_every_feature_exactly_once() {
    let sites = random_sites(0x9A6E, 1_234);
    let state = random_state(&sites);
    for limit in [1, 37, 100, 1_234, 5_000] {
        let (ids, matched) =
            follow_all(&state, &format!("/collections/sites/items?limit={limit}")).await;
        assert_eq!(matched as usize, sites.len());
        let all: Vec<String> = sites.iter().map(|s| s.id.to_string()).collect();
        assert_eq!(ids, all, "limit {limit}");
    }
    // With a filter, the pages cover exactly the filtered set.
    let (ids, matched) = follow_all(
        &state,
        "/collections/sites/items?country=KGZ&kind=tailings&limit=50",
    )
    .await;
    let expected: Vec<String> = sites
        .iter()
        .filter(|s| s.country.as_str() == "KGZ" && s.kind.as_str() == "tailings")
        .map(|s| s.id.to_string())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(ids, expected);
    assert_eq!(matched as usize, expected.len());
}

#[actix_web::test]
async fn prev_links_walk_back() {
    let state = random_state(&random_sites(7, 250));
    let doc = get(&state, "/collections/sites/items?offset=200&limit=100")
        .await
        .json();
    assert!(link(&doc, "next").is_none());
    let prev = get(&state, &path_of(link(&doc, "prev").unwrap()))
        .await
        .json();
    assert_eq!(prev["features"][0]["id"], "s00100");
    let first = get(&state, "/collections/sites/items").await.json();
    assert!(link(&first, "prev").is_none());
    assert_eq!(first["numberReturned"], 100, "default limit");
}

#[actix_web::test]
async fn number_matched_counts_filters_on_real_data() {
    let state = default_state();
    let csv = std::fs::read_to_string(repo_path("data/sites/seed_sites.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let count = |country: &str, kind: &str| {
        rows.iter()
            .filter(|r| &r[col("country")] == country && &r[col("kind")] == kind)
            .count()
    };
    for (country, kind) in [
        ("KGZ", "tailings"),
        ("UZB", "hazardous_site"),
        ("TJK", "tailings"),
        ("KAZ", "tailings"),
    ] {
        let doc = get(
            &state,
            &format!("/collections/sites/items?country={country}&kind={kind}"),
        )
        .await
        .json();
        assert_eq!(
            doc["numberMatched"].as_u64().unwrap() as usize,
            count(country, kind),
            "{country} {kind}"
        );
        for f in doc["features"].as_array().unwrap() {
            assert_eq!(f["properties"]["country"], country);
            assert_eq!(f["properties"]["kind"], kind);
        }
    }
    let all = get(&state, "/collections/sites/items").await.json();
    assert_eq!(all["numberMatched"].as_u64().unwrap() as usize, rows.len());
    assert_eq!(rows.len(), 27);
}

#[actix_web::test]
async fn every_geometry_is_valid_rfc7946() {
    let state = default_state();
    for id in COLLECTIONS {
        let r = get(&state, &format!("/collections/{id}/items?limit=10000")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("application/geo+json")
        );
        let doc = r.json();
        assert_eq!(doc["type"], "FeatureCollection");
        assert!(doc.get("crs").is_none());
        let features = doc["features"].as_array().unwrap();
        assert!(!features.is_empty(), "{id} is empty");
        assert_eq!(
            doc["numberMatched"].as_u64().unwrap() as usize,
            features.len()
        );
        let mut seen = HashSet::new();
        for f in features {
            assert_eq!(f["type"], "Feature");
            let fid = f["id"].as_str().expect("string id");
            assert!(seen.insert(fid.to_owned()), "{id}: duplicate id {fid}");
            if let Err(e) = check_geometry(&f["geometry"]) {
                panic!("{id}/{fid}: {e}");
            }
        }
    }
}

#[actix_web::test]
async fn bbox_on_lines_and_polygons_uses_the_geometry() {
    let state = default_state();
    // A small box around Mailuu-Suu: Kyrgyzstan, not Kazakhstan.
    let doc = get(
        &state,
        "/collections/countries/items?bbox=72.40,41.22,72.50,41.30",
    )
    .await
    .json();
    let ids: Vec<&str> = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["KGZ"]);
    // Box far from any river in the data: empty, yet valid.
    let doc = get(&state, "/collections/rivers/items?bbox=-10,-10,-9,-9")
        .await
        .json();
    assert_eq!(doc["numberMatched"], 0);
    assert_eq!(doc["features"].as_array().unwrap().len(), 0);
}

#[actix_web::test]
async fn attribution_is_served() {
    let r = get(&default_state(), "/attribution").await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.text();
    for notice in ["ODbL", "LGPL", "Natural Earth", "CC BY"] {
        assert!(text.contains(notice), "attribution lacks {notice}");
    }
    let sites = get(&default_state(), "/collections/sites").await.json();
    assert!(sites["links"].as_array().unwrap().iter().any(|l| l["rel"] == "license"
        && l["href"].as_str().unwrap().ends_with("/attribution")));
    assert!(sites["license"].as_str().unwrap().contains("CC-BY-4.0"));
}

#[actix_web::test]
async fn single_feature_in_json_and_html() {
    let state = default_state();
    let r = get(&state, "/collections/sites/items/kgz_mailuu_suu_tailing_3").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/geo+json")
    );
    let doc = r.json();
    assert_eq!(doc["type"], "Feature");
    assert_eq!(doc["properties"]["precision"], "site");
    assert_eq!(doc["properties"]["country"], "KGZ");
    assert!(link(&doc, "collection").is_some());
    check_geometry(&doc["geometry"]).unwrap();

    let html = get(
        &state,
        "/collections/sites/items/kgz_mailuu_suu_tailing_3?f=html",
    )
    .await;
    assert!(
        html.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(html.text().contains("Mailuu-Suu Tailing No. 3"));

    // A browser's Accept header gets HTML without f.
    let req = atest::TestRequest::get()
        .uri("/collections/sites/items?limit=5")
        .insert_header(("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"));
    let r = call(&state, req).await;
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let text = r.text();
    assert!(
        text.contains("/collections/sites/items/"),
        "HTML lists features with links"
    );
    assert!(text.contains("next"), "HTML has a next link");
}

#[actix_web::test]
async fn html_pages_render() {
    let state = default_state();
    for uri in [
        "/?f=html",
        "/collections?f=html",
        "/collections/rivers?f=html",
        "/conformance?f=html",
        "/api?f=html",
        "/collections/borders/items?f=html",
    ] {
        let r = get(&state, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert!(r.text().starts_with("<!DOCTYPE html>"), "{uri}");
    }
}

#[actix_web::test]
async fn etag_gives_304_and_gzip_and_cors_apply() {
    let state = default_state();
    let uri = "/collections/sites/items?limit=100";
    let first = get(&state, uri).await;
    let tag = first.header("etag").expect("ETag header");
    let again = get(&state, uri).await;
    assert_eq!(
        again.header("etag").unwrap(),
        tag,
        "same content, same ETag, despite timeStamp"
    );
    let req = atest::TestRequest::get()
        .uri(uri)
        .insert_header(("If-None-Match", tag.as_str()));
    let r = call(&state, req).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());
    let other = get(&state, "/collections/sites/items?limit=99").await;
    assert_ne!(other.header("etag").unwrap(), tag);
    // JSON and HTML share a URL, so caches must key on Accept.
    let vary: Vec<String> = first
        .headers
        .get_all("vary")
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .collect();
    assert!(vary.iter().any(|v| v.contains("accept")), "{vary:?}");
    assert_eq!(first.header("cache-control").as_deref(), Some("no-cache"));

    let req = atest::TestRequest::get()
        .uri(uri)
        .insert_header(("Accept-Encoding", "gzip"));
    let r = call(&state, req).await;
    assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut plain)
        .unwrap();
    let doc: Value = serde_json::from_str(&plain).unwrap();
    assert_eq!(doc["numberReturned"], 27);

    let req = atest::TestRequest::get()
        .uri(uri)
        .insert_header(("Origin", "https://maps.example.org"));
    let r = call(&state, req).await;
    assert!(
        r.header("access-control-allow-origin").is_some(),
        "CORS header missing"
    );
}

#[actix_web::test]
async fn health_reports_counts() {
    let r = get(&default_state(), "/health").await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    assert_eq!(doc["status"], "ok");
    assert_eq!(doc["collections"]["sites"], 27);
    let net = &doc["river_network"];
    assert!(net["joined"].as_u64().unwrap() > 0);
    assert!(net["unjoined"].is_array() && net["reversed"].is_array());
}

#[actix_web::test]
async fn base_url_overrides_the_host_in_links() {
    let sites = random_sites(3, 5);
    let atlas = tailings_atlas::service::Atlas::build(&sites, &Default::default()).unwrap();
    let base = tailings_atlas::api::check_base_url("https://atlas.example.org/ogc/").unwrap();
    let state =
        actix_web::web::Data::new(tailings_atlas::api::AppState::new(atlas).with_base_url(base));
    let req = atest::TestRequest::get()
        .uri("/")
        .insert_header(("Host", "evil.example"));
    let doc = call(&state, req).await.json();
    for l in doc["links"].as_array().unwrap() {
        assert!(
            l["href"]
                .as_str()
                .unwrap()
                .starts_with("https://atlas.example.org/ogc/"),
            "{l}"
        );
    }
    for bad in ["ftp://x", "https://", "https://a b", "atlas.example.org"] {
        assert!(tailings_atlas::api::check_base_url(bad).is_err(), "{bad}");
    }
}

#[actix_web::test]
async fn replaced_layers_do_not_claim_the_default_attribution() {
    let dir = temp_dir("replaced-layers");
    let config = tailings_atlas::service::AnalysisConfig {
        layers: Some(repo_path("tests/fixtures/hydrorivers/layers.json")),
        ..Default::default()
    };
    let atlas =
        tailings_atlas::service::load_with(&dir.join("atlas.gpkg"), &repo_path("data"), &config)
            .unwrap();
    let state = actix_web::web::Data::new(tailings_atlas::api::AppState::new(atlas));
    let doc = get(&state, "/collections/rivers").await.json();
    assert!(
        doc["attribution"]
            .as_str()
            .unwrap()
            .contains("rivers.geojson"),
        "{doc}"
    );
    assert!(
        !doc["attribution"]
            .as_str()
            .unwrap()
            .contains("Natural Earth")
    );
    assert!(link(&doc, "license").is_none());
    let html = get(&state, "/collections/rivers?f=html").await.text();
    assert!(!html.contains("naturalearthdata"));
    // The sites keep theirs.
    let sites = get(&state, "/collections/sites").await.json();
    assert!(link(&sites, "license").is_some());
}

#[actix_web::test]
async fn an_empty_datetime_is_no_filter() {
    let state = random_state(&random_sites(12, 20));
    let r = get(&state, "/collections/sites/items?datetime=").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["numberMatched"], 20);
    // The API definition agrees: the parameter says an empty value is accepted.
    let api = get(&state, "/api").await.json();
    let d = api["components"]["parameters"]["datetime"]["description"]
        .as_str()
        .unwrap();
    assert!(d.contains("empty"), "{d}");
    assert!(
        api["components"]["parameters"]["datetime"]["allowEmptyValue"]
            .as_bool()
            .unwrap()
    );
}
