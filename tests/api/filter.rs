//! CQL2 `filter` on items (OGC API – Features Part 3): the server's answer is the answer the test
//! computes from the unfiltered features; errors name the position and the reason; queryables.

use super::common::*;
use actix_web::http::StatusCode;
use serde_json::{Value, json};

fn ids(doc: &Value) -> Vec<String> {
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

fn enc(s: &str) -> String {
    serde_urlencoded::to_string([("filter", s)]).unwrap()
}

/// Every feature of a collection, unfiltered.
async fn all(state: &actix_web::web::Data<tailings_atlas::api::AppState>, id: &str) -> Vec<Value> {
    let doc = get(state, &format!("/collections/{id}/items?limit=10000"))
        .await
        .json();
    doc["features"].as_array().unwrap().clone()
}

/// The ids of `features` that `keep` accepts, in order.
fn expected(features: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<String> {
    features
        .iter()
        .filter(|f| keep(&f["properties"]))
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn filtered(
    state: &actix_web::web::Data<tailings_atlas::api::AppState>,
    id: &str,
    query: &str,
) -> (usize, Vec<String>) {
    let r = get(
        state,
        &format!("/collections/{id}/items?limit=10000&{query}"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text());
    let doc = r.json();
    (doc["numberMatched"].as_u64().unwrap() as usize, ids(&doc))
}

#[actix_web::test]
async fn text_and_json_filters_select_what_the_test_selects() {
    let state = default_state();
    let features = all(&state, "sites").await;
    let want = expected(&features, |p| {
        p["country"] == "KGZ" && p["river_distance_m"].as_f64().is_some_and(|d| d < 30_000.0)
    });
    assert!(!want.is_empty() && want.len() < features.len(), "{want:?}");
    let text = "country = 'KGZ' AND river_distance_m < 30000";
    for query in [
        enc(text),
        format!("{}&filter-lang=cql2-text", enc(text)),
        // GDAL 3.6's OAPIF driver sends the draft's name.
        format!("{}&filter-lang=cql-text", enc(text)),
        format!(
            "{}&filter-lang=cql2-json",
            enc(&json!({"op": "and", "args": [
                {"op": "=", "args": [{"property": "country"}, "KGZ"]},
                {"op": "<", "args": [{"property": "river_distance_m"}, 30000]},
            ]})
            .to_string())
        ),
    ] {
        let (matched, got) = filtered(&state, "sites", &query).await;
        assert_eq!(got, want, "{query}");
        assert_eq!(matched, want.len());
    }
    // Paging a filtered result: the pages are the pages of the whole.
    let r = get(
        &state,
        &format!("/collections/sites/items?{}&limit=1&offset=1", enc(text)),
    )
    .await
    .json();
    assert_eq!(r["numberMatched"], want.len());
    assert_eq!(ids(&r), want[1..2]);
}

#[actix_web::test]
async fn advanced_operators_nulls_and_risk_fields() {
    let state = default_state();
    let features = all(&state, "sites").await;
    let risk = |p: &Value| p["risk_class"].as_str().unwrap_or("").to_owned();
    type Keep = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(&str, Keep)> = vec![
        (
            "risk_class IN ('high','very_high')",
            Box::new(move |p| matches!(risk(p).as_str(), "high" | "very_high")),
        ),
        (
            "risk_score BETWEEN 30 AND 60",
            Box::new(|p| {
                p["risk_score"]
                    .as_f64()
                    .is_some_and(|s| (30.0..=60.0).contains(&s))
            }),
        ),
        (
            "name LIKE 'M%'",
            Box::new(|p| p["name"].as_str().is_some_and(|n| n.starts_with('M'))),
        ),
        (
            "CASEI(country) = casei('kgz')",
            Box::new(|p| p["country"] == "KGZ"),
        ),
        (
            "downstream_border_km IS NULL",
            Box::new(|p| p["downstream_border_km"].is_null()),
        ),
        (
            "NOT (downstream_border_km IS NULL) AND downstream_border_km * 1000 < river_distance_m + 100000",
            Box::new(|p| {
                match (
                    p["downstream_border_km"].as_f64(),
                    p["river_distance_m"].as_f64(),
                ) {
                    (Some(k), Some(r)) => k * 1000.0 < r + 100_000.0,
                    _ => false,
                }
            }),
        ),
        (
            // A comparison with a null is not true, nor is its negation.
            "NOT (downstream_border_km > 50)",
            Box::new(|p| {
                p["downstream_border_km"]
                    .as_f64()
                    .is_some_and(|k| k <= 50.0)
            }),
        ),
    ];
    for (filter, keep) in cases {
        let want = expected(&features, keep);
        let (matched, got) = filtered(&state, "sites", &enc(filter)).await;
        assert_eq!(got, want, "{filter}");
        assert_eq!(matched, want.len(), "{filter}");
    }
}

/// `S_DWITHIN` in geodesic metres: the sites the test finds within the distance with its own
/// geodesic (geo's Karney), none left out, none extra.
#[actix_web::test]
async fn dwithin_is_geodesic_metres_and_complete() {
    use geo::{Distance, Geodesic, Point};
    let state = random_state(&random_sites(77, 3_000));
    let features = all(&state, "sites").await;
    let centre = Point::new(70.5, 41.0);
    for metres in [50_000.0, 500_000.0, 2_000_000.0] {
        let want: Vec<String> = features
            .iter()
            .filter(|f| {
                let c = &f["geometry"]["coordinates"];
                let p = Point::new(c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
                Geodesic.distance(centre, p) <= metres
            })
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect();
        let filter = format!("S_DWITHIN(geometry, POINT(70.5 41), {metres}, meters)");
        let (matched, got) = filtered(&state, "sites", &enc(&filter)).await;
        assert_eq!(got, want, "{metres}");
        assert_eq!(matched, want.len());
        let km = format!(
            "S_DWITHIN(geometry, POINT(70.5 41), {}, kilometers)",
            metres / 1000.0
        );
        assert_eq!(filtered(&state, "sites", &enc(&km)).await.1, want);
    }
}

#[actix_web::test]
async fn spatial_filters_match_bbox_and_combine_with_it() {
    let state = random_state(&random_sites(78, 2_000));
    let polygon = "POLYGON((60 30, 80 30, 80 50, 60 50, 60 30))";
    let by_bbox = filtered(&state, "sites", "bbox=60,30,80,50").await.1;
    assert!(!by_bbox.is_empty());
    let by_filter = filtered(
        &state,
        "sites",
        &enc(&format!("S_INTERSECTS(geometry, {polygon})")),
    )
    .await
    .1;
    assert_eq!(by_filter, by_bbox);
    // S_DISJOINT is the complement.
    let all_ids = ids(&get(&state, "/collections/sites/items?limit=10000")
        .await
        .json());
    let disjoint = filtered(
        &state,
        "sites",
        &enc(&format!("S_DISJOINT(geometry, {polygon})")),
    )
    .await
    .1;
    assert_eq!(disjoint.len() + by_bbox.len(), all_ids.len());
    // bbox and filter together: both hold. Within is strict: a point on the boundary is not.
    let features = all(&state, "sites").await;
    let want: Vec<String> = features
        .iter()
        .filter(|f| {
            let c = &f["geometry"]["coordinates"];
            let (x, y) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
            (70.0..=90.0).contains(&x)
                && (40.0..=60.0).contains(&y)
                && x > 60.0
                && x < 80.0
                && y > 30.0
                && y < 50.0
        })
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!want.is_empty());
    let both = filtered(
        &state,
        "sites",
        &format!(
            "bbox=70,40,90,60&{}",
            enc(&format!("S_WITHIN(geometry, {polygon})"))
        ),
    )
    .await
    .1;
    assert_eq!(both, want);
    // Boxes that do not meet: nothing, quickly, and still a 200.
    let none = filtered(
        &state,
        "sites",
        &format!(
            "bbox=0,0,10,10&{}",
            enc(&format!("S_INTERSECTS(geometry, {polygon})"))
        ),
    )
    .await;
    assert_eq!(none, (0, vec![]));
}

/// A risk layer and a reference layer take filters on their own properties.
#[actix_web::test]
async fn layers_take_filters_on_their_properties() {
    let state = default_state();
    let q = get(&state, "/collections/risk-reaches/queryables").await;
    assert_eq!(q.status, StatusCode::OK);
    let schema = q.json();
    let numeric: Vec<String> = schema["properties"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, p)| p["type"] == "number" || p["type"] == "integer")
        .map(|(k, _)| k.clone())
        .collect();
    assert!(!numeric.is_empty(), "{schema}");
    let features = all(&state, "risk-reaches").await;
    for key in &numeric {
        let mut values: Vec<f64> = features
            .iter()
            .filter_map(|f| f["properties"][key].as_f64())
            .collect();
        values.sort_by(f64::total_cmp);
        let Some(&median) = values.get(values.len() / 2) else {
            continue;
        };
        let want = expected(&features, |p| p[key].as_f64().is_some_and(|v| v >= median));
        let (_, got) = filtered(&state, "risk-reaches", &enc(&format!("{key} >= {median}"))).await;
        assert_eq!(got, want, "{key} >= {median}");
    }
    let rivers = all(&state, "rivers").await;
    let name = rivers
        .iter()
        .find_map(|f| f["properties"]["name"].as_str())
        .unwrap()
        .to_owned();
    let want = expected(&rivers, |p| p["name"] == name.as_str());
    let (_, got) = filtered(
        &state,
        "rivers",
        &enc(&format!("name = '{}'", name.replace('\'', "''"))),
    )
    .await;
    assert_eq!(got, want);
}

/// A 400 names `filter`, the position and the reason; nothing else fails with a 500.
#[actix_web::test]
async fn bad_filters_are_400s_that_say_where_and_why() {
    let state = default_state();
    let cases = [
        ("country = ", &["filter", "character"][..]),
        ("nosuchfield = 1", &["nosuchfield", "queryables"][..]),
        ("country = 5", &["filter", "country"][..]),
        ("name LIKE 5", &["filter"][..]),
        ("S_INTERSECTS(country, POINT(1 2))", &["filter"][..]),
        ("country = 'KGZ' AND", &["filter"][..]),
    ];
    for (filter, words) in cases {
        let r = get(&state, &format!("/collections/sites/items?{}", enc(filter))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{filter}: {}", r.text());
        let d = r.json()["description"].as_str().unwrap().to_owned();
        for w in words {
            assert!(d.contains(w), "{filter}: {d}");
        }
        assert!(!d.contains("/work") && !d.contains(".rs"), "{d}");
    }
    let r = get(
        &state,
        "/collections/sites/items?filter=x%3D1&filter-lang=sql",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("filter-lang"), "{}", r.text());
    let r = get(
        &state,
        &format!(
            "/collections/sites/items?{}&filter-lang=cql2-json",
            enc("{\"op\": ")
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("filter"), "{}", r.text());
}

/// A filter of up to 16 KiB works in a GET; a longer one is refused by name.
#[actix_web::test]
async fn long_filters_work_up_to_16_kib() {
    let state = default_state();
    let mut codes: Vec<String> = (0..2_000).map(|i| format!("'X{i:04}'")).collect();
    codes.push("'KGZ'".into());
    let mut filter = format!("country IN ({})", codes.join(","));
    while filter.len() < 15_900 {
        filter = format!("({filter}) OR name = 'none'");
    }
    assert!(filter.len() <= 16 * 1024);
    let features = all(&state, "sites").await;
    let want = expected(&features, |p| p["country"] == "KGZ");
    let (_, got) = filtered(&state, "sites", &enc(&filter)).await;
    assert_eq!(got, want);
    let too_long = format!("{filter}{}", " ".repeat(16 * 1024));
    let r = get(
        &state,
        &format!("/collections/sites/items?{}", enc(&too_long)),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("16384"), "{}", r.text());
}

#[actix_web::test]
async fn queryables_are_json_schema_from_the_schema() {
    let state = default_state();
    let r = get(&state, "/collections/sites/queryables").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/schema+json"),
        "{:?}",
        r.header("content-type")
    );
    let doc = r.json();
    assert_eq!(doc["type"], "object");
    assert!(doc["$schema"].as_str().unwrap().contains("json-schema.org"));
    let p = &doc["properties"];
    assert_eq!(p["river_distance_m"]["type"], "number");
    assert_eq!(p["river_distance_m"]["x-ogc-unit"], "m");
    assert!(p["river_distance_m"]["description"].as_str().unwrap().len() > 10);
    assert_eq!(p["country"]["type"], "string");
    assert_eq!(p["risk_class"]["type"], "string");
    assert_eq!(p["updated"]["format"], "date-time");
    assert_eq!(p["geometry"]["x-ogc-role"], "primary-geometry");
    assert!(p.get("substances").is_none(), "lists are not queryable");
    // Every queryable but the geometry filters without error.
    for (name, q) in p.as_object().unwrap() {
        let filter = match q["type"].as_str() {
            Some("string") if q["format"] == "date-time" => {
                format!("{name} > TIMESTAMP('2000-01-01T00:00:00Z')")
            }
            Some("string") => format!("{name} <> 'x'"),
            Some("number" | "integer") => format!("{name} >= 0"),
            _ => continue,
        };
        let r = get(
            &state,
            &format!("/collections/sites/items?{}", enc(&filter)),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{filter}: {}", r.text());
    }
    // Every collection has queryables and links to them.
    let collections = get(&state, "/collections").await.json();
    for c in collections["collections"].as_array().unwrap() {
        let href = link(c, "http://www.opengis.net/def/rel/ogc/1.0/queryables")
            .unwrap_or_else(|| panic!("{} links to its queryables", c["id"]));
        let r = get(&state, &path_of(href)).await;
        assert_eq!(r.status, StatusCode::OK, "{href}");
        assert!(r.json()["properties"]["geometry"].is_object(), "{href}");
        let html = get(&state, &format!("{}?f=html", path_of(href))).await;
        assert!(html.text().contains("<table>"), "{href}");
    }
    let r = get(&state, "/collections/nope/queryables").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn conformance_and_openapi_advertise_filtering() {
    let state = default_state();
    let conf = get(&state, "/conformance").await.json();
    let classes: Vec<&str> = conf["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for c in [
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
        "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
        "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
        "http://www.opengis.net/spec/cql2/1.0/conf/accent-insensitive-comparison",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
        "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
        "http://www.opengis.net/spec/cql2/1.0/conf/arithmetic",
    ] {
        assert!(classes.contains(&c), "{c}");
    }
    let api = get(&state, "/api").await.json();
    let lang = &api["components"]["parameters"]["filter-lang"]["schema"]["enum"];
    for l in ["cql2-text", "cql2-json", "cql-text"] {
        assert!(lang.as_array().unwrap().iter().any(|v| v == l), "{lang}");
    }
    let params = api["paths"]["/collections/sites/items"]["get"]["parameters"].to_string();
    assert!(params.contains("filter-lang"), "{params}");
}

/// Exports take the filter too: the same sites as the items.
#[actix_web::test]
async fn exports_honour_the_filter() {
    let state = default_state();
    let filter = enc("risk_class IN ('high','very_high') OR country = 'TJK'");
    let (_, want) = filtered(&state, "sites", &filter).await;
    let r = get(&state, &format!("/collections/sites/items?f=csv&{filter}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let text = r.text();
    let got: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().trim_matches('"').to_owned())
        .collect();
    assert_eq!(got, want);
}

/// `filter-crs`: literals given in EPSG:4326 (latitude first) or in UTM 42N select what the same
/// literals in CRS84 select.
#[actix_web::test]
async fn filter_crs_reprojects_the_literals() {
    let state = random_state(&random_sites(79, 2_000));
    let crs84 = filtered(
        &state,
        "sites",
        &enc("S_INTERSECTS(geometry, POLYGON((60 30, 80 30, 80 50, 60 50, 60 30)))"),
    )
    .await
    .1;
    assert!(!crs84.is_empty());
    let swapped = filtered(
        &state,
        "sites",
        &format!(
            "{}&filter-crs=http://www.opengis.net/def/crs/EPSG/0/4326",
            enc("S_INTERSECTS(geometry, POLYGON((30 60, 30 80, 50 80, 50 60, 30 60)))")
        ),
    )
    .await
    .1;
    assert_eq!(swapped, crs84);
    // A site's own UTM 42N coordinates (as the server writes them, checked against pyproj in
    // tests/api/crs.rs) as the centre of an S_DWITHIN: the same sites as its longitude/latitude.
    let site = get(&state, "/collections/sites/items?limit=1&bbox=66,38,72,44")
        .await
        .json();
    let f = &site["features"][0];
    let id = f["id"].as_str().unwrap();
    let (lon, lat) = (
        f["geometry"]["coordinates"][0].as_f64().unwrap(),
        f["geometry"]["coordinates"][1].as_f64().unwrap(),
    );
    let utm = get(
        &state,
        &format!("/collections/sites/items/{id}?crs=http://www.opengis.net/def/crs/EPSG/0/32642"),
    )
    .await
    .json();
    let (x, y) = (
        utm["geometry"]["coordinates"][0].as_f64().unwrap(),
        utm["geometry"]["coordinates"][1].as_f64().unwrap(),
    );
    let by_lonlat = filtered(
        &state,
        "sites",
        &enc(&format!(
            "S_DWITHIN(geometry, POINT({lon} {lat}), 400, kilometers)"
        )),
    )
    .await
    .1;
    let by_utm = filtered(
        &state,
        "sites",
        &format!(
            "{}&filter-crs=http://www.opengis.net/def/crs/EPSG/0/32642",
            enc(&format!(
                "S_DWITHIN(geometry, POINT({x} {y}), 400, kilometers)"
            ))
        ),
    )
    .await
    .1;
    assert!(by_lonlat.iter().any(|s| s == id));
    assert_eq!(by_utm, by_lonlat);
    let r = get(
        &state,
        &format!(
            "/collections/sites/items?{}&filter-crs=EPSG:9999",
            enc("S_INTERSECTS(geometry, POINT(1 2))")
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("filter-crs"), "{}", r.text());
}

/// Filters that nest deeper than a parser's stack can follow (each within the 16 KiB): a 400 that
/// says so, never a crash; the service answers on.
#[actix_web::test]
async fn deeply_nested_filters_are_400s_not_crashes() {
    let state = default_state();
    let fill = |unit: &str, head: &str, tail_unit: &str, core: &str| {
        let n = (16 * 1024 - head.len() - core.len() - 2) / (unit.len() + tail_unit.len());
        format!("{head}{}{core}{}", unit.repeat(n), tail_unit.repeat(n))
    };
    let shapes = [
        fill("NOT ", "", "", "country = 'KGZ'"),
        fill("NOT (", "", ")", "country = 'KGZ'"),
        fill("(", "", ")", "country = 'KGZ'"),
        fill("1+", "river_distance_m < ", "", "1"),
        fill("-", "river_distance_m < ", "", "1"),
        fill("1 -", "river_distance_m < ", "", "1"),
        fill("(", "A_CONTAINS(sources, ", ")", "'x')"),
        // Found in review: comparisons chained, and a geometry word used as a name.
        fill("1=", "", "", "1"),
        fill("'a' LIKE ", "", "", "'a'"),
        fill("-", "point = 1 AND river_distance_m = ", "", "1"),
    ];
    for filter in shapes {
        assert!(filter.len() <= 16 * 1024, "{}", filter.len());
        let r = get(
            &state,
            &format!("/collections/sites/items?{}", enc(&filter)),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{}: {}",
            &filter[..40],
            r.text()
        );
        let d = r.json()["description"].as_str().unwrap().to_owned();
        assert!(d.contains("nests") && d.contains("64"), "{d}");
    }
    // 64 levels still parse: 31 `NOT (`, each two, and the comparison.
    let ok = format!("{}country = 'KGZ'{}", "NOT (".repeat(31), ")".repeat(31));
    let r = get(&state, &format!("/collections/sites/items?{}", enc(&ok))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}
