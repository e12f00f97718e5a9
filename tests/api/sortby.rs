//! `sortby` on items: order, paging through a sorted result, errors, and the same order in exports.

use super::common::*;
use actix_web::http::StatusCode;
use serde_json::Value;

fn ids(doc: &Value) -> Vec<String> {
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

fn numbers(doc: &Value, key: &str) -> Vec<Option<f64>> {
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"][key].as_f64())
        .collect()
}

/// Sorted pages, one after another, are the pages of the whole result sorted in the test.
#[actix_web::test]
async fn pages_of_a_sorted_result_are_the_sorted_result() {
    let state = random_state(&random_sites(1313, 400));
    let all = get(&state, "/collections/sites/items?limit=10000")
        .await
        .json();
    let mut expected: Vec<(f64, String, usize)> = all["features"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            (
                f["properties"]["risk_score"].as_f64().unwrap(),
                f["id"].as_str().unwrap().to_owned(),
                i,
            )
        })
        .collect();
    // -risk_score, then +id.
    expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let expected: Vec<String> = expected.into_iter().map(|(_, id, _)| id).collect();
    let mut got = Vec::new();
    for offset in (0..400).step_by(70) {
        let page = get(
            &state,
            &format!("/collections/sites/items?sortby=-risk_score,%2Bid&limit=70&offset={offset}"),
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        let doc = page.json();
        assert_eq!(doc["numberMatched"], 400);
        got.extend(ids(&doc));
    }
    assert_eq!(got, expected);
}

#[actix_web::test]
async fn sortby_combines_with_filters_and_puts_nulls_last() {
    let state = default_state();
    // Ascending along-river distance to the first crossing: sites without one come last.
    let doc = get(
        &state,
        "/collections/sites/items?sortby=downstream_border_km&limit=1000",
    )
    .await
    .json();
    let d = numbers(&doc, "downstream_border_km");
    let first_null = d.iter().position(Option::is_none).unwrap_or(d.len());
    assert!(d[first_null..].iter().all(Option::is_none), "{d:?}");
    let present: Vec<f64> = d[..first_null].iter().map(|v| v.unwrap()).collect();
    assert!(present.windows(2).all(|w| w[0] <= w[1]), "{present:?}");
    // The same descending: still null last.
    let doc = get(
        &state,
        "/collections/sites/items?sortby=-downstream_border_km&limit=1000",
    )
    .await
    .json();
    let d = numbers(&doc, "downstream_border_km");
    assert!(d[0].is_some() && d.last().unwrap().is_none(), "{d:?}");
    // With an equality filter: only those, sorted by name.
    let doc = get(&state, "/collections/sites/items?country=KGZ&sortby=name")
        .await
        .json();
    let names: Vec<String> = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["properties"]["country"], "KGZ");
            f["properties"]["name"].as_str().unwrap().to_owned()
        })
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert!(names.len() > 2);
    assert_eq!(names, sorted);
}

#[actix_web::test]
async fn layers_sort_and_bad_keys_are_400s() {
    let state = default_state();
    let doc = get(&state, "/collections/border-crossings/items?sortby=-load")
        .await
        .json();
    let loads = numbers(&doc, "load");
    assert!(!loads.is_empty());
    assert!(
        loads.windows(2).all(|w| w[0].unwrap() >= w[1].unwrap()),
        "{loads:?}"
    );
    for (q, says) in [
        ("/collections/sites/items?sortby=colour", "colour"),
        ("/collections/sites/items?sortby=sources", "no order"),
        ("/collections/sites/items?sortby=name,", "empty key"),
        ("/collections/rivers/items?sortby=risk_score", "risk_score"),
    ] {
        let r = get(&state, q).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        let text = r.json()["description"].as_str().unwrap().to_owned();
        assert!(
            text.contains("`sortby`") && text.contains(says),
            "{q}: {text}"
        );
    }
}

#[actix_web::test]
async fn exports_follow_sortby() {
    let state = default_state();
    let r = get(&state, "/collections/sites/items?f=csv&sortby=-risk_score").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let text = r.text();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    let col = headers.iter().position(|h| h == "risk_score").unwrap();
    let scores: Vec<f64> = rdr
        .records()
        .map(|r| r.unwrap()[col].parse::<f64>().unwrap())
        .collect();
    assert!(scores.len() > 20);
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
}
