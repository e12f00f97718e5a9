//! `POST /import` through the real router: validation first, idempotence, refusals.

use super::*;

#[actix_web::test]
async fn post_import_validates_everything_first_and_is_idempotent() {
    let e = env("post-import");
    let store = e.state.service.store.clone().unwrap();
    let gtp = std::fs::read(repo_path("tests/fixtures/import/gtp_sample.csv")).unwrap();
    let mapping = std::fs::read(repo_path("config/mappings/global-tailings-portal.json")).unwrap();
    let before = off_runtime(|| store.latest_revision().unwrap());
    let gtp_parts = [
        ("file", "gtp.csv", &gtp[..]),
        ("mapping", "m.json", &mapping[..]),
    ];

    // Invalid rows: 400 naming each row and field; nothing written.
    let r = upload(&e, "", &e.admin, &gtp_parts).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let body = r.json();
    let d = body["description"].as_str().unwrap();
    assert!(d.contains("row 4") && d.contains("`lat`"), "{d}");
    assert!(d.contains("row 5") && d.contains("`status`"), "{d}");
    assert_eq!(body["report"]["invalid"].as_array().unwrap().len(), 2);
    assert_eq!(off_runtime(|| store.latest_revision().unwrap()), before);

    // Dry run with skip_invalid: a report, still nothing written.
    let r = upload(&e, "?dry_run=true&skip_invalid=true", &e.admin, &gtp_parts).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["report"]["valid"], 3);
    assert_eq!(r.json()["report"]["written"], false);
    assert_eq!(off_runtime(|| store.latest_revision().unwrap()), before);

    // skip_invalid: the three valid rows are written, published and analysed at once.
    let r = upload(&e, "?skip_invalid=true", &e.admin, &gtp_parts).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let report = &r.json()["report"];
    assert_eq!(
        (report["created"].as_u64(), report["written"].as_bool()),
        (Some(3), Some(true))
    );
    let health = get(&e.state, "/health").await.json();
    assert_eq!(health["collections"]["sites"], SEED_SITES + 3);
    let items = get(&e.state, "/collections/sites/items?limit=1000")
        .await
        .json();
    let imported: Vec<&Value> = items["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with("gtp-"))
        .collect();
    assert_eq!(imported.len(), 3);
    assert!(
        imported
            .iter()
            .all(|f| f["properties"]["located_country"].is_string())
    );
    let after = off_runtime(|| store.latest_revision().unwrap());

    // The same file again: nothing changes, no versions.
    let r = upload(&e, "?skip_invalid=true", &e.admin, &gtp_parts).await;
    assert_eq!(r.json()["report"]["unchanged"], 3, "{}", r.text());
    assert_eq!(off_runtime(|| store.latest_revision().unwrap()), after);
    std::fs::remove_dir_all(&e.dir).ok();
}

#[actix_web::test]
async fn post_import_refusals() {
    let e = env("post-import-bad");
    let csv = b"id,name,kind,activity,country,lon,lat,precision,sources\nkgz_x,X,tailings,t,KGZ,72.4,41.2,site,s\n";
    // Not an admin: 403. No token: 401.
    let r = upload(&e, "", &e.editor, &[("file", "a.csv", csv)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = call(
        &e.state,
        atest::TestRequest::post()
            .uri("/import")
            .insert_header(("Content-Type", "multipart/form-data; boundary=x"))
            .set_payload("--x--\r\n"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Not multipart: 415.
    let r = call(
        &e.state,
        atest::TestRequest::post()
            .uri("/import")
            .insert_header(("Authorization", format!("Bearer {}", e.admin)))
            .insert_header(("Content-Type", "text/csv"))
            .set_payload(&csv[..]),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text());
    // No `file` field, an unknown field, a file GDAL cannot open: 400 naming the field.
    for (parts, needle) in [
        (vec![("mapping", "m.json", &b"{}"[..])], "`file`"),
        (
            vec![("file", "a.csv", &csv[..]), ("other", "x", &b"1"[..])],
            "`other`",
        ),
        (
            vec![("file", "broken.gpkg", &b"this is not a geopackage"[..])],
            "`file`",
        ),
        (
            vec![
                ("file", "a.csv", &csv[..]),
                (
                    "mapping",
                    "m.json",
                    &b"{\"columns\": {\"colour\": \"x\"}}"[..],
                ),
            ],
            "`mapping`",
        ),
    ] {
        let r = upload(&e, "", &e.admin, &parts).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        let d = r.json()["description"].as_str().unwrap().to_owned();
        assert!(d.contains(needle), "{d} should name {needle}");
    }
    // A polygon in a GeoJSON: the row is named.
    let poly = br#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[72,41],[72.1,41],[72,41.1],[72,41]]]},"properties":{"id":"p1","name":"P","kind":"tailings","activity":"t","country":"KGZ","precision":"site","sources":"s"}}]}"#;
    let r = upload(&e, "", &e.admin, &[("file", "p.geojson", poly)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(d.contains("row 1") && d.contains("Polygon"), "{d}");
    // Over the body limit: 413, nothing written.
    let small = env_limited("post-import-limit", 1024);
    let big = format!(
        "{}{}",
        std::str::from_utf8(csv).unwrap(),
        "kgz_y,Y,tailings,t,KGZ,72.4,41.2,site,s\n".repeat(100)
    );
    let r = upload(
        &small,
        "",
        &small.admin,
        &[("file", "big.csv", big.as_bytes())],
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert!(r.json()["description"].as_str().unwrap().contains("1024"));
    assert_eq!(
        get(&small.state, "/collections/sites/items/kgz_x")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    std::fs::remove_dir_all(&small.dir).ok();
    // A VRT would let a client make the server read other files: not an upload format.
    let vrt = br#"<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>"#;
    let r = upload(&e, "", &e.admin, &[("file", "x.csv", vrt)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = upload(&e, "", &e.admin, &[("file", "x.vrt", vrt)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(!r.text().contains("root:"), "{}", r.text());
    // Unknown query parameter.
    let r = upload(&e, "?force=1", &e.admin, &[("file", "a.csv", csv)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        get(&e.state, "/collections/sites/items/kgz_x").await.status,
        StatusCode::NOT_FOUND
    );
    std::fs::remove_dir_all(&e.dir).ok();
}
