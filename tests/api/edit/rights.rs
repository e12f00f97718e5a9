//! Tokens and the rights they grant: roles, countries before and after a change, restores,
//! private reads, and who the history names to whom.

use super::*;

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
    assert!(off_runtime(|| store.revoke_token(id).unwrap()));
    assert_error(
        &post(&e, &e.kgz, &feature(Some("kgz_new"), 72.45, 41.25, "KGZ")).await,
        401,
        "revoked",
    );
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
