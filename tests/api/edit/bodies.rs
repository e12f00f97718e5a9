//! Bad edit requests: every kind gets a 4xx naming the field and writes nothing (bodies, media
//! types, limits, If-Match, duplicate keys).

use super::*;

#[actix_web::test]
async fn bad_bodies_get_a_4xx_naming_the_field_and_write_nothing() {
    let e = env_with("edit-bad", |s| s.with_max_body_bytes(4096));
    let store = e.state.service.store.clone().unwrap();
    let before = off_runtime(|| store.latest_revision().unwrap());
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = feature(Some("kgz_bad"), 72.45, 41.25, "KGZ");
        f(&mut v);
        v.to_string()
    };
    let cases: Vec<(String, &str, u16, &str)> = vec![
        (
            "{\"type\": \"Feature\",".into(),
            "application/geo+json",
            400,
            "not valid JSON",
        ),
        ("[1, 2]".into(), "application/geo+json", 400, "Feature"),
        (
            json!({"type": "FeatureCollection"}).to_string(),
            "application/geo+json",
            400,
            "type",
        ),
        (
            with(
                &|v| v["geometry"] = json!({"type": "Polygon", "coordinates": [[[72.0, 41.0], [72.1, 41.0], [72.0, 41.1], [72.0, 41.0]]]}),
            ),
            "application/geo+json",
            400,
            "geometry",
        ),
        (
            with(&|v| v["geometry"]["coordinates"] = json!([190.0, 41.0])),
            "application/geo+json",
            400,
            "lon",
        ),
        (
            with(&|v| v["geometry"]["coordinates"] = json!([72.0, -95.0])),
            "application/geo+json",
            400,
            "lat",
        ),
        (
            with(&|v| v["geometry"]["coordinates"] = json!(["x", 41.0])),
            "application/geo+json",
            400,
            "geometry.coordinates",
        ),
        (
            with(&|v| v["geometry"]["coordinates"] = json!([72.45, 41.25, "x"])),
            "application/geo+json",
            400,
            "geometry.coordinates",
        ),
        (
            with(&|v| v["geometry"]["coordinates"] = json!([72.45, 41.25, null])),
            "application/geo+json",
            400,
            "geometry.coordinates",
        ),
        (
            with(&|v| v["properties"]["kind"] = json!("mine")),
            "application/geo+json",
            400,
            "kind",
        ),
        (
            with(&|v| v["properties"]["status"] = json!("dormant")),
            "application/geo+json",
            400,
            "status",
        ),
        (
            with(&|v| v["properties"]["volume_m3"] = json!(-5.0)),
            "application/geo+json",
            400,
            "volume_m3",
        ),
        (
            with(&|v| v["properties"]["volume_m3"] = json!("lots")),
            "application/geo+json",
            400,
            "properties",
        ),
        (
            with(&|v| v["properties"]["colour"] = json!("red")),
            "application/geo+json",
            400,
            "colour",
        ),
        (
            with(&|v| v["id"] = json!("Bad Id!")),
            "application/geo+json",
            400,
            "id",
        ),
        (with(&|_| {}), "text/csv", 415, "Content-Type"),
        (with(&|_| {}), "", 415, "Content-Type"),
        (
            with(&|v| v["properties"]["status_note"] = json!("x".repeat(5000))),
            "application/geo+json",
            413,
            "limit",
        ),
    ];
    for (body, ct, status, needle) in cases {
        let r = call(
            &e.state,
            send(
                actix_web::http::Method::POST,
                "/collections/sites/items",
                Some(&e.admin),
                (!ct.is_empty()).then_some(ct),
                body.clone(),
            ),
        )
        .await;
        assert_error(&r, status, needle);
    }
    // The whole batch left the store untouched.
    assert_eq!(off_runtime(|| store.latest_revision().unwrap()), before);
    assert_eq!(
        get(&e.state, "/collections/sites/items/kgz_bad")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Editing a collection that is not the inventory, or an unknown site.
    let r = call(
        &e.state,
        send(
            actix_web::http::Method::POST,
            "/collections/rivers/items",
            Some(&e.admin),
            Some("application/geo+json"),
            "{}",
        ),
    )
    .await;
    assert_error(&r, 405, "POST");
    let r = change(
        &e,
        actix_web::http::Method::DELETE,
        "no_such_site",
        &e.admin,
        Some("*"),
        None,
    )
    .await;
    assert_error(&r, 404, "no_such_site");
    // The id in the body must match the URL.
    let tag = etag(&get(&e.state, "/collections/sites/items/kgz_sumsar").await);
    let r = change(
        &e,
        actix_web::http::Method::PUT,
        "kgz_sumsar",
        &e.admin,
        Some(&tag),
        Some(feature(Some("other_id"), 72.45, 41.25, "KGZ")),
    )
    .await;
    assert_error(&r, 400, "id");
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn the_default_body_limit_is_20_mb() {
    let e = env("edit-limit");
    let big = format!(
        "{{\"type\":\"Feature\",\"pad\":\"{}\"}}",
        "x".repeat(20 * 1024 * 1024)
    );
    let r = post(&e, &e.admin, &serde_json::from_str::<Value>(&big).unwrap()).await;
    assert_error(&r, 413, "20971520");
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn if_match_compares_strongly_and_refuses_unreadable_values() {
    let e = env("edit-if-match");
    let r = post(&e, &e.kgz, &feature(Some("kgz_tags"), 72.45, 41.25, "KGZ")).await;
    let tag = etag(&r);
    let weak = format!("W/{tag}");
    let patch = json!({"properties": {"name": "Renamed"}});
    for method in [
        actix_web::http::Method::PUT,
        actix_web::http::Method::PATCH,
        actix_web::http::Method::DELETE,
    ] {
        let body = match method.as_str() {
            "PUT" => Some(feature(Some("kgz_tags"), 72.45, 41.25, "KGZ")),
            "PATCH" => Some(patch.clone()),
            _ => None,
        };
        let r = change(
            &e,
            method.clone(),
            "kgz_tags",
            &e.kgz,
            Some(&weak),
            body.clone(),
        )
        .await;
        assert_error(&r, 412, "If-Match");
        let r = call(
            &e.state,
            send(
                method.clone(),
                "/collections/sites/items/kgz_tags",
                Some(&e.kgz),
                match method.as_str() {
                    "PATCH" => Some("application/merge-patch+json"),
                    "PUT" => Some("application/geo+json"),
                    _ => None,
                },
                body.map(|b| b.to_string()).unwrap_or_default(),
            )
            .insert_header((
                "If-Match",
                actix_web::http::header::HeaderValue::from_bytes("\"ä\"".as_bytes()).unwrap(),
            )),
        )
        .await;
        assert_error(&r, 400, "If-Match");
        assert!(
            !r.json()["description"]
                .as_str()
                .unwrap()
                .contains("required")
        );
    }
    // The site is as it was; a strong tag in a list still matches.
    let r = change(
        &e,
        actix_web::http::Method::PATCH,
        "kgz_tags",
        &e.kgz,
        Some(&format!("{weak}, \"999999\", {tag}")),
        Some(patch),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn duplicate_keys_in_edit_bodies_are_refused() {
    let e = env("edit-dup-keys");
    let store = e.state.service.store.clone().unwrap();
    let text = feature(Some("kgz_dup"), 72.45, 41.25, "KGZ").to_string();
    let dup_name = text.replacen("\"name\":", "\"name\":\"First\",\"name\":", 1);
    assert!(dup_name.contains("First"));
    let before = off_runtime(|| store.latest_revision().unwrap());
    let r = call(
        &e.state,
        send(
            actix_web::http::Method::POST,
            "/collections/sites/items",
            Some(&e.kgz),
            Some("application/geo+json"),
            dup_name,
        ),
    )
    .await;
    assert_error(&r, 400, "properties.name: duplicate key");
    let dup_top = text.replacen("{", "{\"id\":\"kgz_other\",", 1);
    let r = call(
        &e.state,
        send(
            actix_web::http::Method::POST,
            "/collections/sites/items",
            Some(&e.kgz),
            Some("application/geo+json"),
            dup_top,
        ),
    )
    .await;
    assert_error(&r, 400, "id: duplicate key");
    assert_eq!(off_runtime(|| store.latest_revision().unwrap()), before);
    // A merge patch and a restore body.
    let r = post(&e, &e.kgz, &feature(Some("kgz_dup"), 72.45, 41.25, "KGZ")).await;
    let tag = etag(&r);
    let r = call(
        &e.state,
        send(
            actix_web::http::Method::PATCH,
            "/collections/sites/items/kgz_dup",
            Some(&e.kgz),
            Some("application/merge-patch+json"),
            r#"{"properties": {"attributes": {"a": 1, "a": 2}}}"#,
        )
        .insert_header(("If-Match", tag.as_str())),
    )
    .await;
    assert_error(&r, 400, "properties.attributes.a: duplicate key");
    let r = restore(&e, "kgz_dup", &e.kgz, r#"{"version": 1, "version": 2}"#).await;
    assert_error(&r, 400, "version: duplicate key");
    std::fs::remove_dir_all(&e.dir).ok();
}
