//! The risk layers follow the inventory: after an edit, the next read of every risk layer shows it.

use super::*;

async fn features(e: &Env, collection: &str) -> Vec<Value> {
    let r = get(
        &e.state,
        &format!("/collections/{collection}/items?limit=10000&f=json"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{collection}: {}", r.text());
    r.json()["features"].as_array().unwrap().clone()
}

fn total(fs: &[Value], key: &str) -> f64 {
    fs.iter()
        .map(|f| f["properties"][key].as_f64().unwrap_or(0.0))
        .sum()
}

#[actix_web::test]
async fn an_edit_shows_in_every_risk_layer_on_the_next_read() {
    let e = env("risk-current");
    let hexagons = features(&e, "risk-hexagons").await;
    let sites_before = total(&hexagons, "site_count");
    let kgz_before = features(&e, "country-summary")
        .await
        .into_iter()
        .find(|f| f["id"] == "KGZ")
        .unwrap();
    let uzb_in_before = kgz_before["properties"]["load_out"]["UZB"]
        .as_f64()
        .unwrap_or(0.0);
    // A big uranium tailings dam on the Mailuu-Suu, upstream of the Uzbek border.
    let mut f = feature(Some("kgz_test_mailuu_new"), 72.46, 41.27, "KGZ");
    f["properties"]["volume_m3"] = 5.0e7.into();
    let r = post(&e, &e.kgz, &f).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let p = &r.json()["properties"];
    let score = p["risk_score"].as_f64().unwrap();
    let hazard = p["hazard_score"].as_f64().unwrap();
    assert!(hazard > 40.0, "{p}");
    let factors = p["risk_factors"].as_object().unwrap();
    let sum: f64 = factors
        .values()
        .map(|v| v["points"].as_f64().unwrap())
        .sum();
    assert!((sum - score).abs() < 1e-6, "{sum} vs {score}");

    // The next reads.
    let hexagons = features(&e, "risk-hexagons").await;
    assert_eq!(total(&hexagons, "site_count"), sites_before + 1.0);
    let kgz = features(&e, "country-summary")
        .await
        .into_iter()
        .find(|f| f["id"] == "KGZ")
        .unwrap();
    assert_eq!(
        kgz["properties"]["site_count"].as_u64().unwrap(),
        kgz_before["properties"]["site_count"].as_u64().unwrap() + 1
    );
    let out = kgz["properties"]["load_out"]["UZB"].as_f64().unwrap();
    assert!(
        out > uzb_in_before + hazard * 0.5,
        "{out} vs {uzb_in_before}"
    );
    let reaches = features(&e, "risk-reaches").await;
    assert!(
        reaches
            .iter()
            .any(|r| r["properties"]["top_site_id"] == "kgz_test_mailuu_new"),
        "the new site tops no reach"
    );
    let crossings = features(&e, "border-crossings").await;
    let top = crossings
        .iter()
        .find(|c| c["properties"]["top_site_id"] == "kgz_test_mailuu_new")
        .expect("a crossing the new site tops");
    assert_eq!(top["properties"]["from_country"], "KGZ");
    assert_eq!(top["properties"]["to_country"], "UZB");
    let share = top["properties"]["contributors"][0]["share"]
        .as_f64()
        .unwrap();
    assert!(share > 0.3 && share <= 1.0, "{share}");

    // Deleted: gone from the layers again.
    let r = change(
        &e,
        actix_web::http::Method::DELETE,
        "kgz_test_mailuu_new",
        &e.kgz,
        Some(&r.header("etag").unwrap()),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let hexagons = features(&e, "risk-hexagons").await;
    assert_eq!(total(&hexagons, "site_count"), sites_before);
    let reaches = features(&e, "risk-reaches").await;
    assert!(
        !reaches
            .iter()
            .any(|r| r["properties"]["top_site_id"] == "kgz_test_mailuu_new")
    );
}
