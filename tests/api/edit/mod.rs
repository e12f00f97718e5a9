//! Edits through the real router on a real GeoPackage store: OGC API – Features Part 4, ETags,
//! history and restore, ids and other processes' writes here; tokens and rights in [`rights`],
//! every kind of bad input in [`bodies`].

mod bodies;
mod datetime;
mod rights;
mod risk;

use actix_web::http::StatusCode;
use actix_web::test as atest;
use actix_web::web;
use serde_json::{Value, json};
use tailings_atlas::api::AppState;
use tailings_atlas::store::Role;

use crate::common::{Reply, call, get, off_runtime, repo_path, seeded_with_tokens};

struct Env {
    state: web::Data<AppState>,
    admin: String,
    kgz: String,
    reader: String,
    dir: std::path::PathBuf,
    /// The store's location: a GeoPackage in `dir`, or a PostGIS database ([`crate::common::test_store`]).
    store: std::path::PathBuf,
}

fn env_with(tag: &str, tune: impl FnOnce(AppState) -> AppState) -> Env {
    let tokens: &[(&str, Role, &[&str])] = &[
        ("Admin", Role::Admin, &[]),
        ("Ainura", Role::Editor, &["KGZ"]),
        ("Reader", Role::Reader, &[]),
    ];
    let (dir, store, state, texts) = seeded_with_tokens(tag, tokens, tune);
    let [admin, kgz, reader] = <[String; 3]>::try_from(texts).unwrap();
    Env {
        state,
        admin,
        kgz,
        reader,
        dir,
        store,
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
async fn changes_by_another_process_are_published_without_restart() {
    let e = env("edit-other");
    // A second connection to the same file stands in for a CLI import running beside the service.
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
    // Opened, written and closed off the test's runtime (a PostGIS store's client blocks).
    off_runtime(|| {
        tailings_atlas::service::open_store(&e.store, &repo_path("data"))
            .unwrap()
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
    });
    assert_eq!(
        get(&e.state, "/collections/sites/items/kaz_other_process")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(off_runtime(|| e.state.service.refresh().unwrap()), 1);
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

/// A page served again from the page cache is the page of the current inventory: a create and a
/// delete each show in the very next request for the same page.
#[actix_web::test]
async fn repeated_pages_follow_every_change() {
    let e = env("page-cache");
    let page = "/collections/sites/items?limit=1000&bbox=72,41,73.5,42";
    let ids = |r: &Reply| -> Vec<String> {
        r.json()["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = get(&e.state, page).await;
    let again = get(&e.state, page).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(ids(&first), ids(&again));
    assert_eq!(etag(&first), etag(&again));
    assert!(!ids(&first).contains(&"kgz_cache_probe".to_owned()));

    let r = post(
        &e,
        &e.kgz,
        &feature(Some("kgz_cache_probe"), 72.5, 41.5, "KGZ"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let after = get(&e.state, page).await;
    assert!(ids(&after).contains(&"kgz_cache_probe".to_owned()));
    assert_ne!(etag(&after), etag(&first));
    let n: u64 = after.json()["numberMatched"].as_u64().unwrap();
    assert_eq!(n, first.json()["numberMatched"].as_u64().unwrap() + 1);

    let tag = etag(&get(&e.state, "/collections/sites/items/kgz_cache_probe").await);
    let r = change(
        &e,
        actix_web::http::Method::DELETE,
        "kgz_cache_probe",
        &e.kgz,
        Some(&tag),
        None,
    )
    .await;
    assert!(r.status.is_success(), "{}", r.text());
    let gone = get(&e.state, page).await;
    assert_eq!(ids(&gone), ids(&first));
    // The time stamp is that of each response, not of the cached page.
    assert!(gone.json()["timeStamp"].is_string());
}
