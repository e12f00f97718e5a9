//! Property-based fuzzing (proptest, seeded) of every parser that takes a user's text, through the
//! full application: query parameters of items, features, analysis and tiles; CQL2 text and JSON;
//! GeoJSON bodies for create, replace and patch. The property: never a server error or a crash, and
//! a refusal is an OGC exception naming what it refused. Each target runs `ATLAS_FUZZ_CASES` cases
//! (default 200); `scripts/fuzz.sh` runs many more.

use actix_web::http::StatusCode;
use actix_web::test as atest;
use actix_web::web;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{Value, json};
use tailings_atlas::api::AppState;
use tailings_atlas::store::Role;

use crate::common::{Reply, call, default_state, seeded_with_tokens};

/// A runner with a fixed seed per target, `ATLAS_FUZZ_CASES` cases, and no failure files.
fn runner(target: &str) -> TestRunner {
    let cases = std::env::var("ATLAS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut seed = [0u8; 32];
    for (i, b) in target.bytes().enumerate() {
        seed[i % 32] ^= b;
    }
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    )
}

/// The property every answer has: no server error, and a refusal is an OGC exception with a
/// description.
fn check(what: &str, r: &Reply) -> Result<(), TestCaseError> {
    prop_assert!(
        !r.status.is_server_error(),
        "{what}: {} {}",
        r.status,
        r.text()
    );
    if r.status.is_client_error() {
        let doc: Value = serde_json::from_slice(&r.body).map_err(|e| {
            TestCaseError::fail(format!("{what}: {} not JSON ({e}): {}", r.status, r.text()))
        })?;
        let d = doc["description"].as_str().unwrap_or_default();
        prop_assert!(!d.is_empty(), "{what}: no description in {doc}");
        prop_assert!(
            !d.contains("/work/") && !d.contains("/tmp/") && !d.contains("panicked"),
            "{what}: internals in {d}"
        );
    }
    Ok(())
}

/// Runs `strategy` through `requests`, each value a request to send, all on one runtime.
fn fuzz<S: Strategy>(
    target: &str,
    state: web::Data<AppState>,
    strategy: S,
    request: impl Fn(&S::Value) -> (String, atest::TestRequest),
) where
    S::Value: std::fmt::Debug,
{
    let rt = actix_web::rt::System::new();
    let mut runner = runner(target);
    let (answered, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let outcome = runner.run(&strategy, |value| {
        let (what, req) = request(&value);
        let r = rt.block_on(call(&state, req));
        if r.status.is_success() {
            answered.set(answered.get() + 1);
        } else {
            refused.set(refused.get() + 1);
        }
        check(&what, &r)
    });
    if let Err(e) = outcome {
        panic!("{target}: {e}");
    }
    // The inputs reach both sides: some are taken, some refused.
    eprintln!(
        "{target}: {} answered, {} refused",
        answered.get(),
        refused.get()
    );
    assert!(answered.get() > 0, "{target}: no input was taken");
    assert!(refused.get() > 0, "{target}: no input was refused");
}

/// Text a client might send: anything printable, numbers, lists of numbers, and the odd edge.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        "-?[0-9]{1,12}(\\.[0-9]{0,8})?(e-?[0-9]{1,3})?",
        prop::collection::vec("-?[0-9]{1,4}(\\.[0-9]{1,4})?", 0..7).prop_map(|v| v.join(",")),
        Just(String::new()),
        Just("NaN".to_owned()),
        Just("inf".to_owned()),
        Just("1e309".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("http://www.opengis.net/def/crs/EPSG/0/32642".to_owned()),
        Just("2026-12-01T00:00:00Z/..".to_owned()),
        "[-+]?[a-z_]{1,12}(,[-+]?[a-z_]{1,12}){0,3}",
    ]
}

fn query(keys: &'static [&'static str]) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (prop::sample::select(keys).prop_map(str::to_owned), value()),
        0..5,
    )
}

fn encode(pairs: &[(String, String)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

const ITEMS_KEYS: &[&str] = &[
    "bbox",
    "bbox-crs",
    "limit",
    "offset",
    "crs",
    "sortby",
    "properties",
    "skipGeometry",
    "datetime",
    "filter",
    "filter-lang",
    "filter-crs",
    "f",
    "country",
    "kind",
    "risk_score",
    "resolution",
    "nosuch",
];

/// GETs of any of `paths` with any query of `keys` on the default data.
fn fuzz_queries(target: &str, paths: &'static [&'static str], keys: &'static [&'static str]) {
    fuzz(
        target,
        default_state(),
        (prop::sample::select(paths), query(keys)),
        |(path, pairs)| {
            let uri = format!("{path}?{}", encode(pairs));
            (uri.clone(), atest::TestRequest::get().uri(&uri))
        },
    );
}

#[test]
fn items_and_feature_query_parameters() {
    let paths: &'static [&'static str] = &[
        "/collections/sites/items",
        "/collections/rivers/items",
        "/collections/risk-hexagons/items",
        "/collections/sites/items/kgz_mailuu_suu_complex",
        "/collections/nosuch/items",
    ];
    fuzz_queries("items", paths, ITEMS_KEYS);
}

#[test]
fn analysis_query_parameters() {
    let paths: &'static [&'static str] = &[
        "/analysis/proximity",
        "/analysis/near-border",
        "/analysis/nearest",
        "/collections/sites/items/kgz_mailuu_suu_complex/downstream",
        "/maps/basin-risk.png",
    ];
    let keys: &'static [&'static str] = &[
        "lon",
        "lat",
        "k",
        "within_km",
        "country",
        "neighbour",
        "kind",
        "bbox",
        "width",
        "height",
        "f",
        "resolution",
        "nosuch",
    ];
    fuzz_queries("analysis", paths, keys);
}

#[test]
fn tile_coordinates() {
    let part = prop_oneof![
        "-?[0-9]{1,3}",
        "[0-9]{4,25}",
        "\\PC{0,6}",
        Just("5".to_owned()),
        Just("22".to_owned()),
        Just("11.mvt".to_owned()),
    ];
    let collections: &'static [&'static str] = &["sites", "rivers", "risk-hexagons", "nosuch"];
    let tms: &'static [&'static str] = &["WebMercatorQuad", "WorldCRS84Quad", "x"];
    fuzz(
        "tiles",
        default_state(),
        (
            prop::sample::select(collections),
            prop::sample::select(tms),
            part.clone(),
            part.clone(),
            part,
        ),
        |(c, t, z, x, y)| {
            let enc = |s: &str| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            };
            let uri = format!(
                "/collections/{c}/tiles/{t}/{}/{}/{}",
                enc(z),
                enc(x),
                enc(y)
            );
            (uri.clone(), atest::TestRequest::get().uri(&uri))
        },
    );
}

/// CQL2 text made of the language's own words, in any order: most are syntax errors, some are
/// filters, none may be a server error or a crash.
#[test]
fn cql2_text() {
    let word = prop::sample::select(
        &[
            "country",
            "=",
            "<>",
            "<",
            ">=",
            "'KGZ'",
            "'it''s'",
            "1",
            "-2.5",
            "1e-3",
            "AND",
            "OR",
            "NOT",
            "(",
            ")",
            ",",
            "+",
            "-",
            "*",
            "/",
            "LIKE",
            "'%a%'",
            "IN",
            "BETWEEN",
            "IS",
            "NULL",
            "TRUE",
            "S_INTERSECTS",
            "S_DWITHIN",
            "geometry",
            "POINT(72 41)",
            "POLYGON((70 40, 73 40, 73 42, 70 40))",
            "BBOX(70, 40, 73, 42)",
            "DATE('2026-01-01')",
            "T_AFTER",
            "updated",
            "A_CONTAINS",
            "sources",
            "CASEI",
            "ACCENTI",
            "risk_score",
            "river_distance_m",
            "kilometers",
            "\"name\"",
            "nosuch",
        ][..],
    );
    let filter = prop::collection::vec(word, 1..24).prop_map(|w| w.join(" "));
    fuzz("cql2-text", default_state(), filter, |f| {
        let uri = format!(
            "/collections/sites/items?{}",
            encode(&[("filter".into(), f.clone())])
        );
        (f.clone(), atest::TestRequest::get().uri(&uri))
    });
}

/// Any JSON at all as a CQL2 JSON filter, with operators and properties of the language mixed in.
#[test]
fn cql2_json() {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,8}".prop_map(Value::from),
        prop::sample::select(&["country", "risk_score", "geometry", "sources", "nosuch"][..])
            .prop_map(|p| json!({ "property": p })),
        Just(json!({ "type": "Point", "coordinates": [72.0, 41.0] })),
        Just(json!({ "date": "2026-01-01" })),
    ];
    let tree = leaf.prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            (
                prop::sample::select(
                    &[
                        "=",
                        "<",
                        "and",
                        "or",
                        "not",
                        "like",
                        "in",
                        "between",
                        "isNull",
                        "s_intersects",
                        "s_dwithin",
                        "t_after",
                        "a_contains",
                        "+",
                        "casei",
                        "x"
                    ][..]
                ),
                prop::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(op, args)| json!({ "op": op, "args": args })),
            prop::collection::vec(inner, 0..4).prop_map(Value::from),
        ]
    });
    fuzz("cql2-json", default_state(), tree, |f| {
        let pairs = [
            ("filter".to_owned(), f.to_string()),
            ("filter-lang".to_owned(), "cql2-json".to_owned()),
        ];
        let uri = format!("/collections/sites/items?{}", encode(&pairs));
        (f.to_string(), atest::TestRequest::get().uri(&uri))
    });
}

/// Create, replace and patch bodies: a valid site with some of its members replaced by anything.
#[test]
fn geojson_bodies_for_create_replace_and_patch() {
    let tokens: &[(&str, Role, &[&str])] = &[("Fuzz", Role::Editor, &["KAZ", "KGZ", "TJK", "UZB"])];
    let (_dir, _store, state, tokens) = seeded_with_tokens("fuzz-bodies", tokens, |s| s);
    let token = tokens[0].clone();
    let junk = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,30}".prop_map(Value::from),
        prop::collection::vec("\\PC{0,6}".prop_map(Value::from), 0..3).prop_map(Value::from),
        Just(json!({ "nested": { "deeper": [1, 2, 3] } })),
        Just(json!([[72.0, 41.0]])),
    ];
    let keys = prop::sample::select(
        &[
            "type",
            "id",
            "geometry",
            "properties",
            "name",
            "kind",
            "country",
            "status",
            "lon",
            "lat",
            "precision",
            "volume_m3",
            "tonnage_t",
            "dam_height_m",
            "sources",
            "substances",
            "attributes",
            "risk_score",
            "commissioned",
            "nosuch",
        ][..],
    );
    let edits = prop::collection::vec((keys, junk), 0..4);
    let methods = prop::sample::select(&["POST", "PUT", "PATCH"][..]);
    let raw = prop_oneof![Just(None), "\\PC{0,40}".prop_map(Some)];
    fuzz(
        "bodies",
        state,
        (methods, edits, raw, 0u32..1_000_000),
        |(method, edits, raw, n)| {
            let id = format!("kgz_fuzz_{n}");
            let mut f = json!({
                "type": "Feature", "id": id,
                "geometry": { "type": "Point", "coordinates": [72.4, 41.2] },
                "properties": { "name": "Fuzzed site", "kind": "tailings", "activity": "test",
                    "country": "KGZ", "status": "legacy", "precision": "site",
                    "sources": ["https://example.org/fuzz"] }
            });
            for (k, v) in edits {
                if matches!(*k, "type" | "id" | "geometry" | "properties") {
                    f[*k] = v.clone();
                } else if let Some(p) = f["properties"].as_object_mut() {
                    p.insert((*k).to_owned(), v.clone());
                }
            }
            let body = raw.clone().unwrap_or_else(|| f.to_string());
            let (uri, content_type) = match *method {
                "POST" => (
                    "/collections/sites/items".to_owned(),
                    "application/geo+json",
                ),
                "PUT" => (
                    format!("/collections/sites/items/{id}"),
                    "application/geo+json",
                ),
                _ => (
                    format!("/collections/sites/items/{id}"),
                    "application/merge-patch+json",
                ),
            };
            let req = atest::TestRequest::default()
                .method(method.parse().unwrap())
                .uri(&uri)
                .insert_header(("Authorization", format!("Bearer {token}")))
                .insert_header(("Content-Type", content_type))
                .insert_header(("If-Match", "\"1\""))
                .set_payload(body.clone());
            (format!("{method} {uri} {body}"), req)
        },
    );
    // The service still answers.
    let rt = actix_web::rt::System::new();
    let r = rt.block_on(crate::common::get(&default_state(), "/health"));
    assert_eq!(r.status, StatusCode::OK);
}

/// Import files and mappings: CSV of the schema's columns and some others, with any cells, and a
/// mapping of any of them; a dry run as admin. Refused rows are reported, never a server error.
#[test]
fn import_rows_and_mappings() {
    let tokens: &[(&str, Role, &[&str])] = &[("Admin", Role::Admin, &[])];
    let (_dir, _store, state, tokens) = seeded_with_tokens("fuzz-import", tokens, |s| s);
    let token = tokens[0].clone();
    let columns: &'static [&'static str] = &[
        "id",
        "name",
        "kind",
        "activity",
        "country",
        "status",
        "lon",
        "lat",
        "precision",
        "volume_m3",
        "dam_height_m",
        "sources",
        "substances",
        "wkt",
        "x",
        "y",
        "Name",
        "nosuch",
    ];
    let cell = prop_oneof![
        "\\PC{0,12}",
        "-?[0-9]{1,3}(\\.[0-9]{1,6})?",
        prop::sample::select(
            &[
                "KGZ",
                "UZB",
                "tailings",
                "legacy",
                "site",
                "POINT(72 41)",
                "",
                "\"",
                ";"
            ][..]
        )
        .prop_map(str::to_owned),
    ];
    let header = prop::collection::vec(prop::sample::select(columns), 1..10);
    let any_csv = header.prop_flat_map(move |h| {
        let width = h.len();
        let rows = prop::collection::vec(prop::collection::vec(cell.clone(), width..=width), 0..5);
        (Just(h), rows)
    });
    // A valid row with one more column of anything: some imports must be taken.
    let valid = "\\PC{0,12}".prop_map(|extra| {
        let header = [
            "id",
            "name",
            "kind",
            "activity",
            "country",
            "status",
            "lon",
            "lat",
            "precision",
            "sources",
            "note",
        ];
        let row = [
            "kgz_fuzz_import",
            "Fuzz import",
            "tailings",
            "test",
            "KGZ",
            "legacy",
            "72.4",
            "41.2",
            "site",
            "fuzz",
        ];
        let mut row: Vec<String> = row.iter().map(|c| (*c).to_owned()).collect();
        row.push(extra);
        (header.to_vec(), vec![row])
    });
    let csv = prop_oneof![3 => any_csv, 1 => valid];
    let mapping = prop_oneof![
        Just(None),
        prop::collection::btree_map(
            prop::sample::select(columns).prop_map(str::to_owned),
            prop_oneof![
                prop::sample::select(columns).prop_map(Value::from),
                Just(Value::Null),
                any::<i64>().prop_map(Value::from),
            ],
            0..4
        )
        .prop_map(|m| Some(serde_json::to_string(&m).unwrap())),
        "\\PC{0,20}".prop_map(Some),
    ];
    fuzz(
        "import",
        state,
        (csv, mapping),
        |((header, rows), mapping)| {
            let quote = |c: &String| format!("\"{}\"", c.replace('"', "\"\""));
            let mut text = header.join(",");
            for row in rows {
                text.push('\n');
                text.push_str(&row.iter().map(quote).collect::<Vec<_>>().join(","));
            }
            text.push('\n');
            let mut parts: Vec<(&str, &str, &[u8])> = vec![("file", "sites.csv", text.as_bytes())];
            if let Some(m) = mapping {
                parts.push(("mapping", "mapping.json", m.as_bytes()));
            }
            let (ct, body) = crate::transfer::multipart(&parts);
            let req = atest::TestRequest::post()
                .uri("/import?dry_run=true")
                .insert_header(("Authorization", format!("Bearer {token}")))
                .insert_header(("Content-Type", ct))
                .set_payload(body);
            (format!("{text}\nmapping: {mapping:?}"), req)
        },
    );
}
