//! `f=geojsonseq`: GeoJSON Text Sequences (RFC 8142), decoded here and compared with the JSON page
//! of the same request.

use actix_web::http::StatusCode;
use actix_web::test as atest;
use serde_json::Value;

use super::common::*;

/// The records of a sequence: each must open with 0x1E and close with a line feed, and hold one
/// JSON text.
fn decode(body: &[u8]) -> Vec<Value> {
    if body.is_empty() {
        return Vec::new();
    }
    assert_eq!(body[0], 0x1E, "a sequence opens with the record separator");
    body[1..]
        .split(|&b| b == 0x1E)
        .map(|rec| {
            assert_eq!(
                rec.last(),
                Some(&b'\n'),
                "each record ends with a line feed"
            );
            serde_json::from_slice(&rec[..rec.len() - 1]).unwrap_or_else(|e| {
                panic!("record is not JSON ({e}): {}", String::from_utf8_lossy(rec))
            })
        })
        .collect()
}

fn features(doc: &Value) -> Vec<Value> {
    doc["features"].as_array().unwrap().clone()
}

async fn same_as_json(
    state: &actix_web::web::Data<tailings_atlas::api::AppState>,
    q: &str,
) -> usize {
    let json = get(state, &format!("{q}&f=json")).await;
    assert_eq!(json.status, StatusCode::OK, "{q}: {}", json.text());
    let seq = get(state, &format!("{q}&f=geojsonseq")).await;
    assert_eq!(seq.status, StatusCode::OK, "{q}: {}", seq.text());
    assert_eq!(
        seq.header("content-type").as_deref(),
        Some("application/geo+json-seq")
    );
    assert_eq!(seq.header("content-crs"), json.header("content-crs"), "{q}");
    let records = decode(&seq.body);
    let expected = features(&json.json());
    assert_eq!(records.len(), expected.len(), "{q}");
    assert_eq!(records, expected, "{q}");
    records.len()
}

#[actix_web::test]
async fn sequences_are_the_json_pages_features() {
    let state = default_state();
    for q in [
        "/collections/sites/items?limit=1000",
        "/collections/sites/items?limit=5&offset=3&sortby=-risk_score",
        "/collections/sites/items?bbox=69,40,72,41.5&country=UZB",
        "/collections/sites/items?datetime=2000-01-01/..",
        "/collections/sites/items?crs=EPSG:32642&properties=name,risk_class",
        "/collections/sites/items?skipGeometry=true&limit=4",
        "/collections/sites/items?bbox=400000,4400000,700000,4650000&bbox-crs=EPSG:32642",
        "/collections/rivers/items?limit=1000&bbox=68,40,74,42",
        "/collections/countries/items?crs=EPSG:3857&limit=2",
        "/collections/risk-reaches/items?sortby=-load&limit=50",
        "/collections/risk-hexagons/items?resolution=5&limit=1000",
        "/collections/sites/items?offset=100000",
    ] {
        same_as_json(&state, q).await;
    }
}

/// More features than one batch (256): the batches after the first are written as they go.
#[actix_web::test]
async fn long_sequences_come_in_batches_and_in_order() {
    let state = random_state(&random_sites(8142, 1500));
    let n = same_as_json(&state, "/collections/sites/items?limit=1200&offset=100").await;
    assert_eq!(n, 1200);
    let n = same_as_json(
        &state,
        "/collections/sites/items?limit=10000&sortby=name&crs=EPSG:4326",
    )
    .await;
    assert_eq!(n, 1500);
}

#[actix_web::test]
async fn accept_header_and_errors() {
    let state = default_state();
    let r = call(
        &state,
        atest::TestRequest::get()
            .uri("/collections/sites/items?limit=3")
            .insert_header(("Accept", "application/geo+json-seq")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/geo+json-seq")
    );
    assert_eq!(decode(&r.body).len(), 3);
    // JSON preferred: JSON.
    let r = call(
        &state,
        atest::TestRequest::get()
            .uri("/collections/sites/items?limit=3")
            .insert_header((
                "Accept",
                "application/geo+json, application/geo+json-seq;q=0.5",
            )),
    )
    .await;
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/geo+json")
    );
    // `f` wins over Accept.
    let r = call(
        &state,
        atest::TestRequest::get()
            .uri("/collections/sites/items?limit=3&f=json")
            .insert_header(("Accept", "application/geo+json-seq")),
    )
    .await;
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/geo+json")
    );

    // Bad requests are refused before anything is streamed.
    for (q, param) in [
        ("f=geojsonseq&properties=colour", "properties"),
        ("f=geojsonseq&crs=EPSG:1", "crs"),
        ("f=geojsonseq&limit=0", "limit"),
    ] {
        let r = get(&state, &format!("/collections/sites/items?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(r.text().contains(&format!("`{param}`")), "{}", r.text());
    }
    // The `f` error lists the sequences.
    let r = get(&state, "/collections/rivers/items?f=xml").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("geojsonseq"), "{}", r.text());
    // The JSON page links to its sequence.
    let doc = get(&state, "/collections/sites/items?limit=2").await.json();
    let alt = doc["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["type"] == "application/geo+json-seq")
        .expect("an alternate link to the sequence");
    assert_eq!(alt["rel"], "alternate");
    let seq = get(&state, &path_of(alt["href"].as_str().unwrap())).await;
    assert_eq!(decode(&seq.body), features(&doc));
}
