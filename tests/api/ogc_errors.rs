//! Errors and refusals through the real router: malformed and unusual requests, unknown paths,
//! errors from the middleware and a panicking handler, methods on read-only collections; each an
//! OGC exception in JSON.

use actix_web::http::StatusCode;
use actix_web::test as atest;
use serde_json::Value;

use crate::common::*;

#[actix_web::test]
async fn malformed_requests_get_400_naming_the_parameter() {
    let state = default_state();
    for (query, param) in [
        ("bbox=1,2,3", "bbox"),
        ("bbox=1,2,3,4,5", "bbox"),
        ("bbox=a,2,3,4", "bbox"),
        ("bbox=0,60,10,50", "bbox"),
        ("bbox=0,0,190,10", "bbox"),
        ("bbox=", "bbox"),
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=1e3", "limit"),
        ("offset=-3", "offset"),
        ("offset=x", "offset"),
        ("f=xml", "f"),
        (
            "bbox-crs=http://www.opengis.net/def/crs/EPSG/0/2154",
            "bbox-crs",
        ),
        ("limit=5&limit=6", "limit"),
        ("countri=KGZ", "countri"),
        ("datetime=yesterday", "datetime"),
        ("datetime=../..", "datetime"),
    ] {
        let r = get(&state, &format!("/collections/sites/items?{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("application/json")
        );
        let doc = r.json();
        assert_eq!(doc["code"], "InvalidParameterValue", "{query}");
        let d = doc["description"].as_str().unwrap();
        assert!(d.contains(&format!("`{param}`")), "{query}: {d}");
    }
    let r = get(&state, "/collections?f=pdf").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = get(&state, "/collections/sites?limit=5").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "only f is defined there");
    assert!(
        r.json()["description"]
            .as_str()
            .unwrap()
            .contains("`limit`")
    );
}

#[actix_web::test]
async fn unusual_but_valid_requests_succeed() {
    let state = random_state(&random_sites(11, 30));
    let doc = get(
        &state,
        "/collections/sites/items?datetime=2020-01-01T00:00:00Z/..",
    )
    .await
    .json();
    // Without a store, no site has a version time, so a datetime selects none of them (the times
    // of stored versions are tested in edit::datetime); a collection without time ignores it.
    assert_eq!(
        doc["numberMatched"], 0,
        "no version times: nothing in the interval"
    );
    let reference = default_state();
    let all = get(&reference, "/collections/borders/items").await.json();
    let doc = get(
        &reference,
        "/collections/borders/items?datetime=2020-01-01T00:00:00Z/..",
    )
    .await
    .json();
    assert!(all["numberMatched"].as_u64().unwrap() > 10);
    assert_eq!(
        doc["numberMatched"], all["numberMatched"],
        "no temporal property: datetime selects everything"
    );
    let doc = get(
        &state,
        "/collections/sites/items?limit=99999999999999999999",
    )
    .await
    .json();
    assert_eq!(
        doc["numberReturned"], 30,
        "an overflowing limit is capped, not rejected"
    );
    let doc = get(
        &state,
        "/collections/sites/items?offset=99999999999999999999&limit=10",
    )
    .await
    .json();
    assert_eq!(doc["numberReturned"], 0);
    assert!(link(&doc, "next").is_none());
    // From past the end, prev is the last page.
    let prev = get(&state, &path_of(link(&doc, "prev").unwrap()))
        .await
        .json();
    assert_eq!(prev["features"][0]["id"], "s00020");
    assert_eq!(prev["numberReturned"], 10);
    let doc = get(&state, "/collections/sites/items?bbox=0,0,0,0&country=kgz")
        .await
        .json();
    assert!(doc["features"].is_array());
}

#[actix_web::test]
async fn unknown_things_get_404_exceptions() {
    let state = default_state();
    for uri in [
        "/collections/nope",
        "/collections/nope/items",
        "/collections/sites/items/no_such_site",
        "/collections/rivers/items/ne-0-0",
        "/nothing/here",
        "/collections/%FF%FE/items",
        "/collections/sites/items/%C3%28",
    ] {
        let r = get(&state, uri).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        let doc = r.json();
        assert_eq!(doc["code"], "NotFound");
        assert!(!doc["description"].as_str().unwrap().is_empty());
    }
    let r = call(&state, atest::TestRequest::post().uri("/collections")).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"));
    assert_eq!(r.json()["code"], "MethodNotAllowed");
}

#[actix_web::test]
async fn middleware_errors_are_ogc_json_too() {
    let state = default_state();
    // A CORS preflight for a method we do not allow is refused by the CORS layer itself.
    let req = atest::TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/collections")
        .insert_header(("Origin", "https://maps.example.org"))
        .insert_header(("Access-Control-Request-Method", "TRACE"));
    let r = call(&state, req).await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(!r.json()["code"].as_str().unwrap().is_empty());
    // Preflights for reads and for Part 4 edits (with their headers) are answered.
    let req = atest::TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/collections/sites/items/kgz_sumsar")
        .insert_header(("Origin", "https://maps.example.org"))
        .insert_header(("Access-Control-Request-Method", "PATCH"))
        .insert_header((
            "Access-Control-Request-Headers",
            "authorization, if-match, content-type",
        ));
    let r = call(&state, req).await;
    assert_eq!(r.status, StatusCode::OK);
    let req = atest::TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/collections")
        .insert_header(("Origin", "https://maps.example.org"))
        .insert_header(("Access-Control-Request-Method", "GET"));
    let r = call(&state, req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("access-control-allow-origin").is_some());
}

#[actix_web::test]
async fn a_panicking_handler_answers_500_json_without_details() {
    let state = default_state();
    let svc = atest::init_service(tailings_atlas::api::app_with(state, |cfg| {
        cfg.route(
            "/boom",
            actix_web::web::get().to(|| async {
                if std::hint::black_box(true) {
                    panic!("secret internal detail");
                }
                "unreachable"
            }),
        );
    }))
    .await;
    let res =
        actix_web::dev::Service::call(&svc, atest::TestRequest::get().uri("/boom").to_request())
            .await;
    let resp = match res {
        Ok(r) => r.into_parts().1.map_into_boxed_body(),
        Err(e) => e.error_response(),
    };
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = actix_web::body::to_bytes(resp.into_body()).await.unwrap();
    let text = String::from_utf8_lossy(&body);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["code"], "ServerError");
    assert!(!text.contains("secret"), "{text}");
}

#[actix_web::test]
async fn read_only_collections_allow_only_get_and_head() {
    let state = default_state();
    use actix_web::http::Method;
    for (method, uri) in [
        (Method::PUT, "/collections/rivers/items/x"),
        (Method::PATCH, "/collections/rivers/items/x"),
        (Method::DELETE, "/collections/borders/items/x"),
        (Method::POST, "/collections/rivers/items"),
        (Method::POST, "/collections/rivers/items/x"),
        (Method::OPTIONS, "/collections/countries/items"),
        (Method::TRACE, "/collections/water-bodies/items/x"),
        (Method::PUT, "/collections/nope/items/x"),
    ] {
        let req = atest::TestRequest::default()
            .method(method.clone())
            .uri(uri)
            .insert_header(("Content-Type", "application/geo+json"))
            .set_payload("{}");
        let r = call(&state, req).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert_eq!(
            r.header("allow").as_deref(),
            Some("GET, HEAD"),
            "{method} {uri}"
        );
        assert_eq!(r.json()["code"], "MethodNotAllowed");
        let d = r.json()["description"].as_str().unwrap().to_owned();
        assert!(d.ends_with("; use GET, HEAD"), "{method} {uri}: {d}");
    }
    // The inventory itself is editable.
    for (method, uri, allow) in [
        (Method::TRACE, "/collections/sites/items", "GET, HEAD, POST"),
        (
            Method::POST,
            "/collections/sites/items/x",
            "GET, HEAD, PUT, PATCH, DELETE",
        ),
    ] {
        let r = call(
            &state,
            atest::TestRequest::default()
                .method(method.clone())
                .uri(uri),
        )
        .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert_eq!(r.header("allow").as_deref(), Some(allow), "{method} {uri}");
    }
    // Without a store nothing is editable, the inventory included.
    let state = random_state(&random_sites(13, 3));
    for method in [Method::TRACE, Method::POST] {
        let r = call(
            &state,
            atest::TestRequest::default()
                .method(method.clone())
                .uri("/collections/sites/items"),
        )
        .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"), "{method}");
    }
}
