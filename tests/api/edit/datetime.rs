//! `datetime` on `sites`: the time of each site's current version in the store.

use super::*;

fn ids(r: &Reply) -> Vec<String> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn datetime_matches_the_time_of_the_current_version() {
    let e = env("datetime");
    let all = ids(&get(&e.state, "/collections/sites/items?limit=1000").await);
    // Every seeded site has a version from before this test started.
    let before = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let since = |t: chrono::DateTime<chrono::Utc>| {
        format!(
            "/collections/sites/items?limit=1000&datetime={}/..",
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        )
    };
    let until = |t: chrono::DateTime<chrono::Utc>| {
        format!(
            "/collections/sites/items?limit=1000&datetime=../{}",
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        )
    };
    assert!(ids(&get(&e.state, &since(before)).await).is_empty());
    assert_eq!(ids(&get(&e.state, &until(before)).await), all);

    let created = post(
        &e,
        &e.admin,
        &feature(Some("kgz_datetime_test"), 72.4, 41.2, "KGZ"),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    // Only the new site was written since; the others still before.
    assert_eq!(
        ids(&get(&e.state, &since(before)).await),
        ["kgz_datetime_test"]
    );
    let old = ids(&get(&e.state, &until(before)).await);
    assert_eq!(old.len(), all.len());
    assert!(!old.contains(&"kgz_datetime_test".to_owned()));
    // Today's date, as a day, holds the new site; a day long past holds nothing.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let day = ids(&get(
        &e.state,
        &format!("/collections/sites/items?limit=1000&datetime={today}"),
    )
    .await);
    assert!(day.contains(&"kgz_datetime_test".to_owned()), "{day:?}");
    assert!(ids(&get(&e.state, "/collections/sites/items?datetime=1999-01-01").await).is_empty());
    // With sortby, and with an equality filter.
    let kgz = ids(&get(
        &e.state,
        &format!("{}&country=KGZ&sortby=-name", since(before)),
    )
    .await);
    assert_eq!(kgz, ["kgz_datetime_test"]);
    // Empty is no filter; a start after the end is a 400 naming the parameter.
    assert_eq!(
        ids(&get(&e.state, "/collections/sites/items?limit=1000&datetime=").await).len(),
        all.len() + 1
    );
    let bad = get(
        &e.state,
        "/collections/sites/items?datetime=2026-12-02/2026-12-01",
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("`datetime`"), "{}", bad.text());
}
