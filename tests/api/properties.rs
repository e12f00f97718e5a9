//! `properties` (which properties, in which order) and `skipGeometry` on items and single features.

use actix_web::http::StatusCode;
use serde_json::Value;

use super::common::*;

fn keys(f: &Value) -> Vec<String> {
    f["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[actix_web::test]
async fn properties_select_and_order() {
    let state = default_state();
    let all = get(&state, "/collections/sites/items?limit=1000")
        .await
        .json();
    let some = get(
        &state,
        "/collections/sites/items?limit=1000&properties=risk_class,name,country,river_distance_m",
    )
    .await;
    assert_eq!(some.status, StatusCode::OK, "{}", some.text());
    let some = some.json();
    assert_eq!(some["numberMatched"], all["numberMatched"]);
    let (a, s) = (
        all["features"].as_array().unwrap(),
        some["features"].as_array().unwrap(),
    );
    assert_eq!(a.len(), s.len());
    for (full, picked) in a.iter().zip(s) {
        assert_eq!(picked["id"], full["id"]);
        assert_eq!(picked["geometry"], full["geometry"]);
        assert_eq!(
            keys(picked),
            ["risk_class", "name", "country", "river_distance_m"]
        );
        for k in keys(picked) {
            assert_eq!(picked["properties"][&k], full["properties"][&k], "{k}");
        }
    }
    // The paging links carry the selection.
    let page = get(&state, "/collections/sites/items?limit=2&properties=name")
        .await
        .json();
    let next = link(&page, "next").unwrap();
    assert!(next.contains("properties=name"), "{next}");
    let next = get(&state, &path_of(next)).await.json();
    assert_eq!(keys(&next["features"][0]), ["name"]);
}

#[actix_web::test]
async fn properties_on_reference_and_risk_layers_and_single_features() {
    let state = default_state();
    for (cid, names) in [
        ("rivers", "name,id"),
        ("countries", "iso3,name"),
        ("country-summary", "site_count"),
    ] {
        let r = get(
            &state,
            &format!("/collections/{cid}/items?limit=5&properties={names}"),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{cid}: {}", r.text());
        let want: Vec<&str> = names.split(',').collect();
        for f in r.json()["features"].as_array().unwrap() {
            // A feature lacking one of them leaves it out, as it does from its full properties.
            let got = keys(f);
            let expected: Vec<&str> = want
                .iter()
                .copied()
                .filter(|k| got.contains(&k.to_string()))
                .collect();
            assert_eq!(got, expected, "{cid}");
            assert!(!got.is_empty(), "{cid}");
        }
    }
    let one = get(
        &state,
        "/collections/sites/items/kgz_sumsar?properties=name,risk_score&skipGeometry=true",
    )
    .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text());
    let doc = one.json();
    assert_eq!(keys(&doc), ["name", "risk_score"]);
    assert_eq!(doc["geometry"], Value::Null);
    assert_eq!(doc["id"], "kgz_sumsar");
    assert!(link(&doc, "self").is_some());
}

#[actix_web::test]
async fn unknown_or_repeated_properties_are_400() {
    let state = default_state();
    for (uri, named) in [
        ("/collections/sites/items?properties=name,colour", "colour"),
        (
            "/collections/rivers/items?properties=risk_class",
            "risk_class",
        ),
        (
            "/collections/sites/items/kgz_sumsar?properties=colour",
            "colour",
        ),
        ("/collections/sites/items?properties=name,name", "name"),
        (
            "/collections/sites/items?properties=name,,country",
            "properties",
        ),
    ] {
        let r = get(&state, uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        let d = r.json()["description"].as_str().unwrap().to_owned();
        assert!(
            d.contains("`properties`") && d.contains(named),
            "{uri}: {d}"
        );
    }
    // The error lists what there is.
    let r = get(&state, "/collections/sites/items?properties=colour").await;
    assert!(r.text().contains("risk_score"), "{}", r.text());
}

#[actix_web::test]
async fn skip_geometry_gives_null_geometries_and_the_same_selection() {
    let state = default_state();
    for cid in ["sites", "rivers", "risk-reaches"] {
        let all = get(
            &state,
            &format!("/collections/{cid}/items?limit=20&bbox=68,40,74,42"),
        )
        .await
        .json();
        let r = get(
            &state,
            &format!("/collections/{cid}/items?limit=20&bbox=68,40,74,42&skipGeometry=true"),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{cid}: {}", r.text());
        let skipped = r.json();
        assert_eq!(skipped["numberMatched"], all["numberMatched"], "{cid}");
        let (a, s) = (
            all["features"].as_array().unwrap(),
            skipped["features"].as_array().unwrap(),
        );
        assert!(!s.is_empty(), "{cid}");
        assert_eq!(a.len(), s.len());
        for (full, bare) in a.iter().zip(s) {
            assert_eq!(bare["geometry"], Value::Null);
            assert_eq!(bare["properties"], full["properties"]);
            assert_eq!(bare["id"], full["id"]);
        }
    }
    let f = get(
        &state,
        "/collections/sites/items?skipGeometry=false&limit=1",
    )
    .await
    .json();
    assert!(f["features"][0]["geometry"].is_object());
    let bad = get(&state, "/collections/sites/items?skipGeometry=1").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("`skipGeometry`"));
}

/// The HTML pages ignore them, and their map asks for CRS84 geometries with every property.
#[actix_web::test]
async fn html_ignores_the_write_parameters() {
    let state = default_state();
    let r = get(
        &state,
        "/collections/sites/items?f=html&skipGeometry=true&properties=name&crs=EPSG:32642&country=KGZ",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let html = r.text();
    assert!(html.contains("country=KGZ"), "the selection stays");
    assert!(
        !html.contains("skipGeometry") && !html.contains("32642"),
        "{html}"
    );
}

#[actix_web::test]
async fn the_api_documents_the_new_parameters() {
    let doc = get(&default_state(), "/api").await.json();
    let params = &doc["components"]["parameters"];
    let crs = params["crs"]["schema"]["enum"].as_array().unwrap();
    assert!(crs.contains(&Value::from("http://www.opengis.net/def/crs/EPSG/0/32642")));
    assert_eq!(
        params["bbox-crs"]["schema"]["enum"],
        params["crs"]["schema"]["enum"]
    );
    assert!(params["properties"]["description"].is_string());
    assert_eq!(params["skipGeometry"]["schema"]["type"], "boolean");
    for cid in ["sites", "rivers", "risk-hexagons"] {
        let items = &doc["paths"][format!("/collections/{cid}/items")]["get"];
        let names: Vec<String> = items["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p["$ref"]
                    .as_str()
                    .map(|r| r.rsplit('/').next().unwrap().to_owned())
                    .unwrap_or_else(|| p["name"].as_str().unwrap().to_owned())
            })
            .collect();
        for p in ["crs", "bbox-crs", "properties", "skipGeometry"] {
            assert!(names.iter().any(|n| n == p), "{cid}: {p} in {names:?}");
        }
        assert!(
            items["responses"]["200"]["content"]["application/geo+json-seq"].is_object(),
            "{cid}"
        );
        assert!(
            items["responses"]["200"]["headers"]["Content-Crs"].is_object(),
            "{cid}"
        );
        let item = &doc["paths"][format!("/collections/{cid}/items/{{featureId}}")]["get"];
        let n = item["parameters"].to_string();
        assert!(
            n.contains("crs") && n.contains("skipGeometry") && n.contains("properties"),
            "{n}"
        );
    }
    let f = doc["paths"]["/collections/rivers/items"]["get"]["parameters"].to_string();
    assert!(f.contains("#/components/parameters/f-items"), "{f}");
    let f = params["f-items"]["schema"]["enum"].to_string();
    assert!(f.contains("geojsonseq"), "{f}");
    let f = doc["paths"]["/collections/sites/items"]["get"]["parameters"].to_string();
    assert!(f.contains("geojsonseq") && f.contains("gpkg"), "{f}");
}
