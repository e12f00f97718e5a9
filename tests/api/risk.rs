//! The risk fields of the sites and the basin risk layers, through the real router.

use actix_web::http::StatusCode;
use serde_json::Value;

use crate::common::{default_state, get};

async fn features(uri: &str) -> Vec<Value> {
    let r = get(&default_state(), uri).await;
    assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
    r.json()["features"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn every_site_has_a_score_its_factors_add_up_to() {
    let sites = features("/collections/sites/items?limit=1000&f=json").await;
    assert!(!sites.is_empty());
    for s in &sites {
        let p = &s["properties"];
        let score = p["risk_score"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&score));
        let class = p["risk_class"].as_str().unwrap();
        assert!(["low", "medium", "high", "very_high"].contains(&class));
        let f = p["risk_factors"].as_object().unwrap();
        let names: Vec<&str> = f.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "kind", "toxicity", "quantity", "status", "river", "border", "runout"
            ]
        );
        let sum: f64 = f.values().map(|v| v["points"].as_f64().unwrap()).sum();
        assert!((sum - score).abs() < 1e-6, "{}", s["id"]);
        let hazard: f64 = ["kind", "toxicity", "quantity", "status"]
            .iter()
            .map(|k| f[*k]["points"].as_f64().unwrap())
            .sum();
        assert!((hazard - p["hazard_score"].as_f64().unwrap()).abs() < 1e-6);
        assert!(f.values().all(|v| v["assumed"].is_boolean()));
    }
    // One site's item says the same.
    let one = get(
        &default_state(),
        "/collections/sites/items/tjk_degmay?f=json",
    )
    .await;
    assert_eq!(one.json()["properties"]["risk_class"], "very_high");
}

#[actix_web::test]
async fn risk_layers_are_collections_with_their_properties() {
    let reaches = features("/collections/risk-reaches/items?limit=10000&f=json").await;
    assert!(reaches.len() > 20);
    for r in &reaches {
        let p = &r["properties"];
        assert_eq!(r["geometry"]["type"], "LineString");
        assert!(p["load"].as_f64().unwrap() >= 0.0);
        assert!(p["upstream_sites"].as_u64().unwrap() >= 1);
        let share = p["top_site_share"].as_f64().unwrap();
        assert!(share > 0.0 && share <= 1.0 + 1e-9);
    }
    let crossings = features("/collections/border-crossings/items?limit=10000&f=json").await;
    assert!(crossings.iter().any(|c| {
        let p = &c["properties"];
        p["from_country"] == "UZB" && p["to_country"] == "KAZ" && p["load"].as_f64().unwrap() > 0.0
    }));
    for c in &crossings {
        let p = &c["properties"];
        assert_ne!(p["from_country"], p["to_country"]);
        let shares: f64 = p["contributors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["share"].as_f64().unwrap())
            .sum();
        assert!(shares <= 1.0 + 1e-3, "{shares}");
    }
    // Filters on the risk layers' queryables.
    let uzb_kaz =
        features("/collections/border-crossings/items?from_country=UZB&to_country=KAZ&f=json")
            .await;
    assert!(!uzb_kaz.is_empty());
    assert!(
        uzb_kaz
            .iter()
            .all(|c| c["properties"]["to_country"] == "KAZ")
    );
    let summary = features("/collections/country-summary/items?f=json").await;
    let tjk = summary.iter().find(|f| f["id"] == "TJK").unwrap();
    assert!(tjk["properties"]["load_out"]["UZB"].as_f64().unwrap() > 0.0);
    assert_eq!(tjk["properties"]["site_count"], 4);
}

#[actix_web::test]
async fn hexagons_at_every_resolution_hold_every_site() {
    let n = features("/collections/sites/items?limit=1000&f=json")
        .await
        .len() as u64;
    for res in 4..=8 {
        let cells = features(&format!(
            "/collections/risk-hexagons/items?resolution={res}&limit=10000&f=json"
        ))
        .await;
        let count: u64 = cells
            .iter()
            .map(|c| c["properties"]["site_count"].as_u64().unwrap())
            .sum();
        assert_eq!(count, n, "resolution {res}");
        assert!(cells.iter().all(|c| c["properties"]["resolution"] == res));
    }
    for bad in ["9", "3", "six", "-1"] {
        let r = get(
            &default_state(),
            &format!("/collections/risk-hexagons/items?resolution={bad}"),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.text().contains("resolution"), "{}", r.text());
    }
    // Only the hexagons take a resolution.
    let r = get(&default_state(), "/collections/sites/items?resolution=6").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
