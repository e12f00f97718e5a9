//! Edits through the real router on a real GeoPackage store: OGC API – Features Part 4, ETags,
//! tokens and rights, history and restore, and every kind of bad input.

use actix_web::http::StatusCode;
use actix_web::test as atest;
use actix_web::web;
use serde_json::{Value, json};
use tailings_atlas::api::AppState;
use tailings_atlas::store::Role;

use crate::common::{Reply, call, get, repo_path, temp_dir};

struct Env {
    state: web::Data<AppState>,
    admin: String,
    kgz: String,
    reader: String,
    dir: std::path::PathBuf,
}

fn env_with(tag: &str, tune: impl FnOnce(AppState) -> AppState) -> Env {
    let dir = temp_dir(tag);
    let atlas = tailings_atlas::service::load(&dir.join("atlas.gpkg"), &repo_path("data")).unwrap();
    let store = atlas.store.clone().unwrap();
    let token = |name: &str, role: Role, countries: &[&str]| {
        let codes: Vec<String> = countries.iter().map(|c| c.to_string()).collect();
        let (record, text) = tailings_atlas::auth::new_token(name, role, &codes).unwrap();
        store.add_token(&record).unwrap();
        text
    };
    let admin = token("Admin", Role::Admin, &[]);
    let kgz = token("Ainura", Role::Editor, &["KGZ"]);
    let reader = token("Reader", Role::Reader, &[]);
    Env {
        state: web::Data::new(tune(AppState::new(atlas))),
        admin,
        kgz,
        reader,
        dir,
    }
}

fn env(tag: &str) -> Env {
    env_with(tag, |s| s)
}

fn feature(id: Option<&str>, lon: f64, lat: f64, country: &str) -> Value {
    let mut f = json!({
        "type": "Feature",
        "geometry": { "type": "Point", "coordinates": [lon, lat] },
        "properties": {
            "name": "Test tailings",
            "kind": "tailings",
            "activity": "uranium legacy",
            "country": country,
            "status": "legacy",
            "precision": "site",
            "volume_m3": 250000.0,
            "dam_height_m": 12.0,
            "sources": ["https://example.org/survey-2024"],
        }
    });
    if let Some(id) = id {
        f["id"] = id.into();
    }
    f
}

fn send(
    method: actix_web::http::Method,
    uri: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<web::Bytes>,
) -> atest::TestRequest {
    let mut r = atest::TestRequest::default()
        .method(method)
        .uri(uri)
        .set_payload(body.into());
    if let Some(t) = token {
        r = r.insert_header(("Authorization", format!("Bearer {t}")));
    }
    if let Some(ct) = content_type {
        r = r.insert_header(("Content-Type", ct));
    }
    r
}

async fn post(e: &Env, token: &str, body: &Value) -> Reply {
    call(
        &e.state,
        send(
            actix_web::http::Method::POST,
            "/collections/sites/items",
            Some(token),
            Some("application/geo+json"),
            body.to_string(),
        ),
    )
    .await
}

async fn change(
    e: &Env,
    method: actix_web::http::Method,
    id: &str,
    token: &str,
    if_match: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let ct = match method.as_str() {
        "PATCH" => Some("application/merge-patch+json"),
        "PUT" => Some("application/geo+json"),
        _ => None,
    };
    let mut r = send(
        method,
        &format!("/collections/sites/items/{id}"),
        Some(token),
        ct,
        body.map(|b| b.to_string()).unwrap_or_default(),
    );
    if let Some(m) = if_match {
        r = r.insert_header(("If-Match", m));
    }
    call(
        &e.state,
        r.insert_header(("X-Change-Reason", "field survey")),
    )
    .await
}

/// `GET uri` with a bearer token.
async fn get_as(e: &Env, uri: &str, token: &str) -> Reply {
    call(
        &e.state,
        atest::TestRequest::get()
            .uri(uri)
            .insert_header(("Authorization", format!("Bearer {token}"))),
    )
    .await
}

/// `POST …/{id}/restore` with a raw body.
async fn restore(e: &Env, id: &str, token: &str, body: &str) -> Reply {
    call(
        &e.state,
        send(
            actix_web::http::Method::POST,
            &format!("/collections/sites/items/{id}/restore"),
            Some(token),
            (!body.is_empty()).then_some("application/json"),
            body.to_owned(),
        ),
    )
    .await
}

fn etag(r: &Reply) -> String {
    r.header("etag").expect("an ETag")
}

fn assert_error(r: &Reply, status: u16, needle: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text());
    let body = r.json();
    let d = body["description"].as_str().unwrap_or_default();
    assert!(body["code"].is_string(), "{body}");
    assert!(d.contains(needle), "{d:?} should mention {needle:?}");
}

#[actix_web::test]
async fn create_replace_patch_delete_restore_with_history() {
    let e = env("edit-cycle");
    // Create: 201, Location, ETag, and the analysis is there.
    let r = post(
        &e,
        &e.kgz,
        &feature(Some("kgz_test_tsf"), 72.45, 41.25, "KGZ"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let location = r.header("location").unwrap();
    assert!(location.ends_with("/collections/sites/items/kgz_test_tsf"));
    let created = r.json();
    assert_eq!(created["properties"]["located_country"], "KGZ");
    assert!(created["properties"]["river_distance_m"].is_number());
    let tag = etag(&r);
    let r = get(&e.state, "/collections/sites/items/kgz_test_tsf").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(etag(&r), tag);

    // Replace: without If-Match 428, with a wrong one 412, with the right one 200 and re-analysed.
    let moved = feature(Some("kgz_test_tsf"), 73.0, 41.6, "KGZ");
    let r = change(
        &e,
        actix_web::http::Method::PUT,
        "kgz_test_tsf",
        &e.kgz,
        None,
        Some(moved.clone()),
    )
    .await;
    assert_error(&r, 428, "If-Match");
    let r = change(
        &e,
        actix_web::http::Method::PUT,
        "kgz_test_tsf",
        &e.kgz,
        Some("\"1\""),
        Some(moved.clone()),
    )
    .await;
    assert_error(&r, 412, "If-Match");
    let r = change(
        &e,
        actix_web::http::Method::PUT,
        "kgz_test_tsf",
        &e.kgz,
        Some(&tag),
        Some(moved),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let after_put = r.json();
    assert_eq!(after_put["geometry"]["coordinates"], json!([73.0, 41.6]));
    assert_ne!(
        after_put["properties"]["river_distance_m"], created["properties"]["river_distance_m"],
        "moving the site must re-run its analysis"
    );
    let tag2 = etag(&r);
    assert_ne!(tag, tag2);
    // The next read shows it, and the R-tree has it at its new place.
    let r = get(
        &e.state,
        "/collections/sites/items?bbox=72.9,41.5,73.1,41.7",
    )
    .await;
    assert!(r.text().contains("kgz_test_tsf"));
    let r = get(
        &e.state,
        "/collections/sites/items?bbox=72.4,41.2,72.5,41.3",
    )
    .await;
    assert!(!r.text().contains("kgz_test_tsf"));

    // A second editor holding the old ETag cannot overwrite the first one's change.
    let r = change(
        &e,
        actix_web::http::Method::PATCH,
        "kgz_test_tsf",
        &e.admin,
        Some(&tag),
        Some(json!({"properties": {"name": "stale edit"}})),
    )
    .await;
    assert_error(&r, 412, "changed by someone else");

    // Patch: set one field, clear another.
    let r = change(
        &e,
        actix_web::http::Method::PATCH,
        "kgz_test_tsf",
        &e.kgz,
        Some(&tag2),
        Some(json!({"properties": {"name": "Renamed", "dam_height_m": null}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let p = r.json();
    assert_eq!(p["properties"]["name"], "Renamed");
    assert!(p["properties"]["dam_height_m"].is_null());
    assert_eq!(
        p["properties"]["runout_reaches_border"], "unknown",
        "no dam height, no runout"
    );
    let tag3 = etag(&r);

    // Delete: 204, gone from the items, kept in the history.
    let r = change(
        &e,
        actix_web::http::Method::DELETE,
        "kgz_test_tsf",
        &e.kgz,
        Some(&tag3),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(
        get(&e.state, "/collections/sites/items/kgz_test_tsf")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Token names are shown to authenticated readers of the history.
    let h = get_as(
        &e,
        "/collections/sites/items/kgz_test_tsf/history",
        &e.reader,
    )
    .await
    .json();
    let ops: Vec<&str> = h["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["op"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        ["delete", "update", "update", "create"],
        "newest first"
    );
    let v = &h["versions"][1];
    assert!(v["actor"].as_str().unwrap().starts_with("Ainura"));
    assert_eq!(v["reason"], "field survey");
    assert_eq!(v["changes"]["name"]["old"], "Test tailings");
    assert_eq!(v["changes"]["name"]["new"], "Renamed");
    assert_eq!(v["changes"]["dam_height_m"]["old"], 12.0);
    assert!(v["changes"]["dam_height_m"]["new"].is_null());
    assert!(v["at"].as_str().unwrap().ends_with('Z'));

    // Restore: the deleted site comes back as it was.
    let r = call(
        &e.state,
        send(
            actix_web::http::Method::POST,
            "/collections/sites/items/kgz_test_tsf/restore",
            Some(&e.kgz),
            None,
            "",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let back = get(&e.state, "/collections/sites/items/kgz_test_tsf")
        .await
        .json();
    assert_eq!(back["properties"]["name"], "Renamed");
    let h = get(&e.state, "/collections/sites/items/kgz_test_tsf/history")
        .await
        .json();
    assert_eq!(h["versions"][0]["op"], "restore");
    assert_eq!(h["versions"].as_array().unwrap().len(), 5);
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn tokens_and_rights() {
    let e = env("edit-rights");
    let body = feature(Some("uzb_test"), 69.24, 41.31, "UZB");
    // No token, a malformed one, an unknown one: 401 with a challenge.
    let r = call(
        &e.state,
        send(
            actix_web::http::Method::POST,
            "/collections/sites/items",
            None,
            Some("application/geo+json"),
            body.to_string(),
        ),
    )
    .await;
    assert_error(&r, 401, "bearer token");
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    assert_error(&post(&e, "nonsense", &body).await, 401, "malformed");
    let forged = format!("{}0", &e.admin[..e.admin.len() - 1]);
    let forged = if forged == e.admin {
        format!("{}1", &e.admin[..e.admin.len() - 1])
    } else {
        forged
    };
    assert_error(&post(&e, &forged, &body).await, 401, "not valid");
    // A reader may not write; a KGZ editor may not create in Uzbekistan.
    assert_error(&post(&e, &e.reader, &body).await, 403, "reader");
    assert_error(&post(&e, &e.kgz, &body).await, 403, "KGZ only");
    // Declared KGZ but placed in Uzbekistan: refused too.
    assert_error(
        &post(&e, &e.kgz, &feature(Some("kgz_fake"), 69.24, 41.31, "KGZ")).await,
        403,
        "location UZB",
    );
    // The admin may.
    assert_eq!(post(&e, &e.admin, &body).await.status, StatusCode::CREATED);
    // The KGZ editor may not delete it, nor move a KGZ site into Uzbekistan.
    let tag = etag(&get(&e.state, "/collections/sites/items/uzb_test").await);
    let r = change(
        &e,
        actix_web::http::Method::DELETE,
        "uzb_test",
        &e.kgz,
        Some(&tag),
        None,
    )
    .await;
    assert_error(&r, 403, "KGZ only");
    let tag = etag(&get(&e.state, "/collections/sites/items/kgz_sumsar").await);
    let r = change(
        &e,
        actix_web::http::Method::PATCH,
        "kgz_sumsar",
        &e.kgz,
        Some(&tag),
        Some(json!({"geometry": {"type": "Point", "coordinates": [69.24, 41.31]}})),
    )
    .await;
    assert_error(&r, 403, "location UZB");
    // A revoked token stops working at once.
    let store = e.state.service.store.clone().unwrap();
    let id = e.kgz.split('_').nth(1).unwrap();
    assert!(store.revoke_token(id).unwrap());
    assert_error(
        &post(&e, &e.kgz, &feature(Some("kgz_new"), 72.45, 41.25, "KGZ")).await,
        401,
        "revoked",
    );
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn bad_bodies_get_a_4xx_naming_the_field_and_write_nothing() {
    let e = env_with("edit-bad", |s| s.with_max_body_bytes(4096));
    let store = e.state.service.store.clone().unwrap();
    let before = store.latest_revision().unwrap();
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
    assert_eq!(store.latest_revision().unwrap(), before);
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
async fn private_reads_need_a_token_and_discovery_stays_open() {
    let e = env_with("edit-private", |s| s.with_private_reads());
    assert_eq!(get(&e.state, "/").await.status, StatusCode::OK);
    assert_eq!(get(&e.state, "/conformance").await.status, StatusCode::OK);
    assert_error(
        &get(&e.state, "/collections/sites/items").await,
        401,
        "bearer token",
    );
    let r = call(
        &e.state,
        atest::TestRequest::get()
            .uri("/collections/sites/items")
            .insert_header(("Authorization", format!("Bearer {}", e.reader))),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // Checked on the blocking pool: a single item, an unknown token id, a forged secret.
    let r = get_as(&e, "/collections/sites/items/kgz_sumsar", &e.reader).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_error(
        &get_as(&e, "/collections/sites/items", "ta_0123456789ab_secret").await,
        401,
        "not valid",
    );
    let forged = format!("{}x", &e.reader[..e.reader.len() - 1]);
    assert_error(
        &get_as(&e, "/collections/sites/items", &forged).await,
        401,
        "not valid",
    );
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn changes_by_another_process_are_published_without_restart() {
    let e = env("edit-other");
    // A second connection to the same file stands in for a CLI import running beside the service.
    let other =
        tailings_atlas::service::open_store(&e.dir.join("atlas.gpkg"), &repo_path("data")).unwrap();
    let site = tailings_atlas::model::Site::try_from(tailings_atlas::model::SiteDraft {
        id: Some("kaz_other_process".into()),
        name: Some("Written elsewhere".into()),
        kind: Some("tailings".into()),
        activity: Some("test".into()),
        country: Some("KAZ".into()),
        lon: Some(66.0),
        lat: Some(44.6),
        precision: Some("site".into()),
        sources: vec!["test".into()],
        ..Default::default()
    })
    .unwrap();
    other
        .write(
            &[tailings_atlas::store::Change::Put {
                site,
                expect: tailings_atlas::store::Expect::Absent,
            }],
            &tailings_atlas::store::Author {
                actor: "cli".into(),
                reason: None,
            },
            &|| {},
        )
        .unwrap();
    assert_eq!(
        get(&e.state, "/collections/sites/items/kaz_other_process")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(e.state.service.refresh().unwrap(), 1);
    let r = get(&e.state, "/collections/sites/items/kaz_other_process").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["properties"]["downstream_countries"], "KAZ");
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn review_cases_ids_merge_reasons_restore_and_rights() {
    let e = env("edit-review");
    // A deleted site's id cannot be taken over by a create: 409, restore it instead.
    let r = post(&e, &e.kgz, &feature(Some("kgz_gone"), 72.45, 41.25, "KGZ")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let tag = etag(&r);
    let r = change(
        &e,
        actix_web::http::Method::DELETE,
        "kgz_gone",
        &e.kgz,
        Some(&tag),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_error(
        &post(&e, &e.kgz, &feature(Some("kgz_gone"), 72.45, 41.25, "KGZ")).await,
        409,
        "restore",
    );

    // An id derived from a Cyrillic name is transliterated.
    let mut f = feature(None, 72.45, 41.25, "KGZ");
    f["properties"]["name"] = json!("Майлуу-Суу хвостохранилище 3");
    let r = post(&e, &e.kgz, &f).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["id"], "kgz_mayluu-suu-khvostokhranilishche-3");

    // PATCH merges the free attributes member by member; null removes one.
    let mut f = feature(Some("kgz_attrs"), 72.45, 41.25, "KGZ");
    f["properties"]["attributes"] = json!({"cells": 4, "operator": "state", "note": "x"});
    let r = post(&e, &e.kgz, &f).await;
    let tag = etag(&r);
    let r = call(
        &e.state,
        send(
            actix_web::http::Method::PATCH,
            "/collections/sites/items/kgz_attrs",
            Some(&e.kgz),
            Some("application/merge-patch+json"),
            json!({"properties": {"attributes": {"cells": 5, "note": null}}}).to_string(),
        )
        .insert_header(("If-Match", tag.as_str()))
        .insert_header((
            "X-Change-Reason",
            actix_web::http::header::HeaderValue::from_bytes(
                "уточнение по обследованию 2024".as_bytes(),
            )
            .unwrap(),
        )),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json()["properties"]["attributes"],
        json!({"cells": 5, "operator": "state"})
    );
    let h = get(&e.state, "/collections/sites/items/kgz_attrs/history")
        .await
        .json();
    assert_eq!(h["versions"][0]["reason"], "уточнение по обследованию 2024");

    // Restore refuses a body it does not understand.
    let r = call(
        &e.state,
        send(
            actix_web::http::Method::POST,
            "/collections/sites/items/kgz_gone/restore",
            Some(&e.kgz),
            Some("application/json"),
            r#"{"versoin": 1}"#,
        ),
    )
    .await;
    assert_error(&r, 400, "versoin");

    // An editor may not move a site to where no country is known (the middle of the Caspian).
    let tag = etag(&get(&e.state, "/collections/sites/items/kgz_attrs").await);
    let r = change(
        &e,
        actix_web::http::Method::PATCH,
        "kgz_attrs",
        &e.kgz,
        Some(&tag),
        Some(json!({"geometry": {"type": "Point", "coordinates": [51.0, 42.0]}})),
    )
    .await;
    assert_error(&r, 403, "no country");
    // A 403 comes before any If-Match check.
    let r = change(
        &e,
        actix_web::http::Method::DELETE,
        "kgz_attrs",
        &e.reader,
        None,
        None,
    )
    .await;
    assert_error(&r, 403, "reader");
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn restore_is_judged_on_the_deleted_state_too() {
    let e = env("edit-restore-rights");
    // A site created in Kyrgyzstan, moved by the admin to Uzbekistan, then deleted.
    let r = post(
        &e,
        &e.admin,
        &feature(Some("kgz_wander"), 72.45, 41.25, "KGZ"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let created = etag(&r).trim_matches('"').parse::<i64>().unwrap();
    let r = change(
        &e,
        actix_web::http::Method::PUT,
        "kgz_wander",
        &e.admin,
        Some(&etag(&r)),
        Some(feature(Some("kgz_wander"), 69.24, 41.31, "UZB")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = change(
        &e,
        actix_web::http::Method::DELETE,
        "kgz_wander",
        &e.admin,
        Some(&etag(&r)),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // The KGZ editor may not bring back a site that was Uzbek when deleted, even by naming its
    // older Kyrgyz version.
    let body = format!("{{\"version\": {created}}}");
    assert_error(&restore(&e, "kgz_wander", &e.kgz, &body).await, 403, "UZB");
    assert_error(&restore(&e, "kgz_wander", &e.kgz, "").await, 403, "UZB");
    assert_eq!(
        get(&e.state, "/collections/sites/items/kgz_wander")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The admin may.
    assert_eq!(
        restore(&e, "kgz_wander", &e.admin, &body).await.status,
        StatusCode::OK
    );
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn concurrent_creates_without_an_id_each_get_their_own() {
    let e = env("edit-race");
    let mut f = feature(None, 72.45, 41.25, "KGZ");
    f["properties"]["name"] = json!("Race tailings");
    // The token is verified once beforehand, so the twenty requests do not queue behind argon2.
    let r = post(&e, &e.kgz, &feature(Some("kgz_warm"), 72.45, 41.25, "KGZ")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let replies = futures_util::future::join_all((0..20).map(|_| post(&e, &e.kgz, &f))).await;
    let mut ids = std::collections::BTreeSet::new();
    for r in &replies {
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        ids.insert(r.json()["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 20, "{ids:?}");
    assert!(ids.contains("kgz_race-tailings") && ids.contains("kgz_race-tailings-20"));
    // A deleted site's id stays taken.
    let tag = etag(&get(&e.state, "/collections/sites/items/kgz_race-tailings").await);
    let r = change(
        &e,
        actix_web::http::Method::DELETE,
        "kgz_race-tailings",
        &e.kgz,
        Some(&tag),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = post(&e, &e.kgz, &f).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["id"], "kgz_race-tailings-21");
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
    let before = store.latest_revision().unwrap();
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
    assert_eq!(store.latest_revision().unwrap(), before);
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

#[actix_web::test]
async fn history_names_token_holders_only_to_authenticated_readers() {
    let e = env("edit-history-names");
    let r = post(&e, &e.kgz, &feature(Some("kgz_named"), 72.45, 41.25, "KGZ")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = change(
        &e,
        actix_web::http::Method::PATCH,
        "kgz_named",
        &e.admin,
        Some(&etag(&r)),
        Some(json!({"properties": {"name": "Renamed"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let uri = "/collections/sites/items/kgz_named/history";
    let anonymous = get(&e.state, uri).await;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert!(!anonymous.text().contains("Ainura") && !anonymous.text().contains("Admin ("));
    let kgz_id = e.kgz.split('_').nth(1).unwrap();
    assert!(!anonymous.text().contains(kgz_id), "no token ids either");
    let h = anonymous.json();
    assert_eq!(h["versions"][0]["actor"], "admin");
    assert_eq!(h["versions"][1]["actor"], "editor (KGZ)");
    // Any valid token sees who.
    let h = get_as(&e, uri, &e.reader).await.json();
    assert_eq!(
        h["versions"][0]["actor"].as_str().unwrap(),
        format!("Admin (token {})", e.admin.split('_').nth(1).unwrap())
    );
    assert_eq!(
        h["versions"][1]["actor"].as_str().unwrap(),
        format!("Ainura (token {kgz_id})")
    );
    // A bad token is refused rather than silently shown the anonymous view.
    assert_error(&get_as(&e, uri, "ta_ffff_abc").await, 401, "not valid");
    // Seeded sites show their seed actor to everyone.
    let h = get(&e.state, "/collections/sites/items/kgz_sumsar/history")
        .await
        .json();
    assert_eq!(h["versions"][0]["actor"], "seed");
    std::fs::remove_dir_all(&e.dir).ok();
}
