//! The filter's unit tests, and the CQL2 conformance corpus (tests/fixtures/cql2).
#![cfg(test)]

use std::borrow::Cow;

use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::*;

/// A feature of the corpus (or a test): properties by name, and a geometry.
struct JsonRecord<'a> {
    props: &'a serde_json::Map<String, Value>,
    names: &'a [Queryable],
    geometry: geo::Geometry<f64>,
}

impl FilterRecord for JsonRecord<'_> {
    fn value(&self, field: usize) -> FilterValue<'_> {
        let q = &self.names[field];
        match (self.props.get(&q.name), q.ty) {
            (None | Some(Value::Null), _) => FilterValue::Null,
            (Some(Value::String(s)), QueryableType::Date | QueryableType::Timestamp) => {
                match chrono::DateTime::parse_from_rfc3339(s) {
                    Ok(t) => FilterValue::Time(t.timestamp_millis()),
                    Err(_) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map_or(FilterValue::Null, |t| {
                            FilterValue::Time(t.and_utc().timestamp_millis())
                        }),
                }
            }
            (Some(Value::String(s)), _) => FilterValue::Str(Cow::Borrowed(s)),
            (Some(Value::Number(n)), _) => n.as_f64().map_or(FilterValue::Null, FilterValue::Num),
            (Some(Value::Bool(b)), _) => FilterValue::Bool(*b),
            _ => FilterValue::Null,
        }
    }

    fn geometry(&self) -> Cow<'_, geo::Geometry<f64>> {
        Cow::Borrowed(&self.geometry)
    }
}

fn q(name: &str, ty: QueryableType) -> Queryable {
    Queryable {
        name: name.into(),
        ty,
        unit: None,
        description: String::new(),
    }
}

fn corpus_queryables() -> Vec<Queryable> {
    use QueryableType::*;
    vec![
        q("intfield", Integer),
        q("floatfield", Number),
        q("textfield", String),
        q("boolfield", Boolean),
        q("datefield", Date),
        q("ts_start", Timestamp),
        q("ts_end", Timestamp),
        q("nfield", Boolean),
        q("geom", Geometry),
    ]
}

fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cql2")
}

fn corpus_records() -> Vec<serde_json::Map<String, Value>> {
    std::fs::read_to_string(corpus_dir().join("cql2testdata.ndjson"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str(l).unwrap() {
            Value::Object(m) => m,
            _ => panic!("not an object: {l}"),
        })
        .collect()
}

fn geometry_of(props: &serde_json::Map<String, Value>) -> geo::Geometry<f64> {
    let g: geojson::Geometry = serde_json::from_value(props["geom"].clone()).unwrap();
    geo::Geometry::try_from(g).unwrap()
}

/// Whether an error is the refusal of a class we do not claim (temporal and array functions).
fn unclaimed(e: &FilterError) -> bool {
    matches!(e, FilterError::Unsupported { what, .. } if what.contains("temporal") || what.contains("array"))
}

/// Every query of the corpus that does not use temporal or array functions compiles with our
/// compiler, and selects exactly the records cql2-rs (and DuckDB) select.
#[test]
fn the_cql2_corpus_agrees() {
    let queryables = corpus_queryables();
    let records = corpus_records();
    let geometries: Vec<_> = records.iter().map(geometry_of).collect();
    let text = std::fs::read_to_string(corpus_dir().join("operators_expected.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (mut agreed, mut refused, mut failures) = (0, Vec::new(), Vec::new());
    for pair in lines.chunks(2) {
        let [query, expected] = pair else {
            panic!("odd line count")
        };
        let filter = match compile(query, FilterLang::Cql2Text, &queryables, None) {
            Ok(f) => f,
            Err(e) if unclaimed(&e) => {
                refused.push(*query);
                continue;
            }
            Err(e) => {
                failures.push(format!("{query}: does not compile: {e}"));
                continue;
            }
        };
        let got: Vec<String> = records
            .iter()
            .zip(&geometries)
            .filter(|(p, g)| {
                filter.matches(&JsonRecord {
                    props: p,
                    names: &queryables,
                    geometry: (*g).clone(),
                })
            })
            .map(|(p, _)| p["intfield"].to_string())
            .collect();
        if got.join(" ") == *expected {
            agreed += 1;
        } else {
            failures.push(format!(
                "{query}\n   got      {}\n   expected {expected}",
                got.join(" ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Only temporal and array queries are refused, and the others are the greater part.
    assert!(
        refused
            .iter()
            .all(|q| q.starts_with("t_") || q.starts_with("a_")),
        "{refused:?}"
    );
    assert!(agreed >= 60, "only {agreed} agree");
    eprintln!(
        "CQL2 corpus: {agreed} queries agree, {} temporal/array refused",
        refused.len()
    );
}

/// Every expression of the ATS in the classes we claim compiles, or is refused for a type error
/// its placeholder substitution made (`textfield BETWEEN 0 AND 100`), never for syntax.
#[test]
fn the_ats_expressions_of_our_classes_compile() {
    const CLAIMED: &[&str] = &[
        "basic-cql2",
        "advanced-comparison-operators",
        "case-insensitive-comparison",
        "accent-insensitive-comparison",
        "basic-spatial-functions",
        "basic-spatial-functions-plus",
        "spatial-functions",
        "property-property",
        "arithmetic",
    ];
    let queryables = corpus_queryables();
    let text = std::fs::read_to_string(corpus_dir().join("ats_expressions.txt")).unwrap();
    let (mut compiled, mut typed, mut bad) = (0, 0, Vec::new());
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let Some((class, expr)) = line.split_once('|') else {
            continue;
        };
        if !CLAIMED.contains(&class) {
            continue;
        }
        match compile(expr, FilterLang::Cql2Text, &queryables, None) {
            Ok(_) => compiled += 1,
            Err(FilterError::Type { .. }) => typed += 1,
            Err(e) => bad.push(format!("[{class}] {expr}: {e}")),
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(
        compiled > 60 && typed < 10,
        "{compiled} compiled, {typed} type errors"
    );
}

fn sites_queryables() -> Vec<Queryable> {
    use QueryableType::*;
    vec![
        q("name", String),
        q("country", String),
        q("risk_score", Number),
        q("river_distance_m", Number),
        q("active", Boolean),
        q("geometry", Geometry),
    ]
}

fn rec<'a>(
    props: &'a serde_json::Map<String, Value>,
    names: &'a [Queryable],
    lon: f64,
    lat: f64,
) -> JsonRecord<'a> {
    JsonRecord {
        props,
        names,
        geometry: geo::Geometry::Point(geo::Point::new(lon, lat)),
    }
}

fn props(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn matches(filter: &str, p: &serde_json::Map<String, Value>) -> bool {
    let qs = sites_queryables();
    compile(filter, FilterLang::Cql2Text, &qs, None)
        .unwrap_or_else(|e| panic!("{filter}: {e}"))
        .matches(&rec(p, &qs, 72.45, 41.25))
}

#[test]
fn operators_and_null_semantics() {
    let p = props(serde_json::json!({
        "name": "Mailuu-Suu tailings pile 3", "country": "KGZ", "risk_score": 71.5,
        "river_distance_m": 1200.0, "active": false
    }));
    for (f, want) in [
        ("country = 'KGZ' AND risk_score > 70", true),
        ("country = 'KGZ' AND river_distance_m < 1000", false),
        ("country IN ('KAZ', 'KGZ')", true),
        ("country NOT IN ('KAZ', 'UZB')", true),
        ("name LIKE 'Mailuu%'", true),
        ("name LIKE 'mailuu%'", false),
        ("CASEI(name) LIKE CASEI('MAILUU%')", true),
        (
            "ACCENTI(name) = ACCENTI('Mailuu-Suu tailings pile 3')",
            true,
        ),
        ("risk_score BETWEEN 70 AND 72", true),
        ("risk_score NOT BETWEEN 70 AND 72", false),
        ("risk_score * 2 - 3 = 140", true),
        ("river_distance_m / 1000 >= 1.2", true),
        ("active = false", true),
        ("NOT active", true),
        ("risk_score > river_distance_m", false),
        ("name IS NOT NULL", true),
        ("S_INTERSECTS(geometry, BBOX(72, 41, 73, 42))", true),
        (
            "S_WITHIN(geometry, POLYGON((72 41, 73 41, 73 42, 72 42, 72 41)))",
            true,
        ),
        ("S_DISJOINT(geometry, POINT(0 0))", true),
        (
            "S_DWITHIN(geometry, POINT(72.46 41.25), 1000, meters)",
            true,
        ),
        (
            "S_DWITHIN(geometry, POINT(72.46 41.25), 0.5, kilometers)",
            false,
        ),
    ] {
        assert_eq!(matches(f, &p), want, "{f}");
    }
    // A missing value: neither a comparison nor its negation holds; IS NULL does.
    let missing = props(serde_json::json!({ "name": "X", "country": "KGZ" }));
    assert!(!matches("risk_score > 10", &missing));
    assert!(!matches("NOT (risk_score > 10)", &missing));
    assert!(matches("risk_score IS NULL", &missing));
    assert!(matches("risk_score > 10 OR country = 'KGZ'", &missing));
    assert!(!matches("risk_score > 10 AND country = 'KGZ'", &missing));
}

#[test]
fn errors_name_the_position_and_the_reason() {
    let qs = sites_queryables();
    let err = |f: &str| compile(f, FilterLang::Cql2Text, &qs, None).unwrap_err();
    let e = err("country = 'KGZ' AND colour = 'red'");
    assert!(
        matches!(
            e,
            FilterError::UnknownProperty {
                position: Some(20),
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("colour") && e.to_string().contains("risk_score"),
        "{e}"
    );
    let e = err("name > 5");
    assert!(matches!(e, FilterError::Type { .. }), "{e}");
    assert!(e.to_string().contains("incompatible types"), "{e}");
    assert!(err("risk_score LIKE 'a%'").to_string().contains("LIKE"));
    assert!(err("name + 1 = 2").to_string().contains("arithmetic"));
    assert!(
        err("S_INTERSECTS(name, POINT(1 2))")
            .to_string()
            .contains("not a geometry")
    );
    let e = err("country = = 'KGZ'");
    let FilterError::Syntax {
        position: Some(p), ..
    } = e
    else {
        panic!("{e}")
    };
    assert!((8..=11).contains(&p), "{p}");
    assert!(
        err("T_AFTER(name, DATE('2020-01-01'))")
            .to_string()
            .contains("not supported")
    );
    assert!(
        err("S_DWITHIN(geometry, POINT(1 2), 5, parsecs)")
            .to_string()
            .contains("unit")
    );
    assert!(matches!(
        compile(
            &"a".repeat(MAX_FILTER_BYTES + 1),
            FilterLang::Cql2Text,
            &qs,
            None
        ),
        Err(FilterError::TooLong(_))
    ));
    let e = compile(
        "{\"op\": \"=\", \"args\": [",
        FilterLang::Cql2Json,
        &qs,
        None,
    )
    .unwrap_err();
    assert!(matches!(e, FilterError::Syntax { .. }), "{e}");
}

#[test]
fn json_and_text_agree_and_filter_crs_reprojects() {
    let qs = sites_queryables();
    let p = props(serde_json::json!({ "country": "KGZ", "risk_score": 50.0 }));
    let json = r#"{"op":"and","args":[{"op":"=","args":[{"property":"country"},"KGZ"]},
        {"op":"s_intersects","args":[{"property":"geometry"},{"bbox":[72,41,73,42]}]}]}"#;
    let f = compile(json, FilterLang::Cql2Json, &qs, None).unwrap();
    assert!(f.matches(&rec(&p, &qs, 72.45, 41.25)));
    assert!(!f.matches(&rec(&p, &qs, 71.0, 41.25)));
    // A literal in lat/lon order, turned by `filter-crs` into lon/lat.
    let swap = |c: geo::Coord<f64>| Ok(geo::coord! { x: c.y, y: c.x });
    let f = compile(
        "S_INTERSECTS(geometry, BBOX(41, 72, 42, 73))",
        FilterLang::Cql2Text,
        &qs,
        Some(&swap),
    )
    .unwrap();
    assert!(f.matches(&rec(&p, &qs, 72.45, 41.25)));
    let b = f.bbox().unwrap();
    assert_eq!((b.west, b.south, b.east, b.north), (72.0, 41.0, 73.0, 42.0));
}

/// S_DWITHIN agrees with brute-force geodesic distances on seeded points, near the threshold too,
/// and every match lies in the filter's box.
#[test]
fn dwithin_is_complete_and_the_box_is_sound() {
    let qs = sites_queryables();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261202);
    let empty = serde_json::Map::new();
    for _ in 0..20 {
        let c = [rng.random_range(60.0..80.0), rng.random_range(35.0..50.0)];
        let r_m = rng.random_range(100.0..80_000.0);
        let f = compile(
            &format!(
                "S_DWITHIN(geometry, POINT({} {}), {r_m}, meters) AND country IS NULL",
                c[0], c[1]
            ),
            FilterLang::Cql2Text,
            &qs,
            None,
        )
        .unwrap();
        let b = f.bbox().unwrap();
        for _ in 0..300 {
            // Most points near the circle's edge.
            let az: f64 = rng.random_range(0.0..360.0);
            let d = r_m * rng.random_range(0.9..1.1);
            let p = {
                use geographiclib_rs::DirectGeodesic;
                let (lat, lon): (f64, f64) =
                    geographiclib_rs::Geodesic::wgs84().direct(c[1], c[0], az, d);
                [lon, lat]
            };
            let truth = crate::geodesy::distance_m(c, p) <= r_m;
            let got = f.matches(&rec(&empty, &qs, p[0], p[1]));
            assert_eq!(got, truth, "{c:?} {r_m} {p:?}");
            if got {
                assert!(b.contains_point(p[0], p[1]), "{p:?} outside {b:?}");
            }
        }
    }
    // Against a line: the distance to the edge, not to its vertices.
    let line = geo::Geometry::LineString(geo::LineString::from(vec![(70.0, 40.0), (72.0, 40.0)]));
    let point = spatial::Literal::new(geo::Geometry::Point(geo::Point::new(71.0, 40.01)));
    assert!(spatial::within_m(&line, &point, 1_200.0));
    assert!(!spatial::within_m(&line, &point, 1_000.0));
}

/// The corpus's records as columns, the way a catalog holds them: numbers (NaN for null), texts as
/// codes into a dictionary, times; booleans and the geometry have none.
struct CorpusColumns {
    num: Vec<Option<Vec<f64>>>,
    text: Vec<Option<(Vec<u32>, Vec<String>)>>,
    time: Vec<Option<Vec<Option<i64>>>>,
}

impl CorpusColumns {
    fn new(records: &[JsonRecord<'_>], queryables: &[Queryable]) -> Self {
        let n = queryables.len();
        let (mut num, mut text, mut time) = (vec![None; n], vec![None; n], vec![None; n]);
        for (f, q) in queryables.iter().enumerate() {
            match q.ty {
                QueryableType::Integer | QueryableType::Number => {
                    num[f] = Some(
                        records
                            .iter()
                            .map(|r| match r.value(f) {
                                FilterValue::Num(x) => x,
                                _ => f64::NAN,
                            })
                            .collect(),
                    )
                }
                QueryableType::String => {
                    let mut values: Vec<String> = Vec::new();
                    let codes = records
                        .iter()
                        .map(|r| match r.value(f) {
                            FilterValue::Str(t) => match values.iter().position(|v| *v == *t) {
                                Some(c) => c as u32,
                                None => {
                                    values.push(t.into_owned());
                                    values.len() as u32 - 1
                                }
                            },
                            _ => NULL_CODE,
                        })
                        .collect();
                    text[f] = Some((codes, values));
                }
                QueryableType::Date | QueryableType::Timestamp => {
                    time[f] = Some(
                        records
                            .iter()
                            .map(|r| match r.value(f) {
                                FilterValue::Time(t) => Some(t),
                                _ => None,
                            })
                            .collect(),
                    )
                }
                _ => {}
            }
        }
        CorpusColumns { num, text, time }
    }
}

impl Columns for CorpusColumns {
    fn column(&self, field: usize) -> Option<ColumnRef<'_>> {
        if let Some(Some(v)) = self.num.get(field) {
            return Some(ColumnRef::Num(v));
        }
        if let Some(Some((codes, values))) = self.text.get(field) {
            return Some(ColumnRef::Text { codes, values });
        }
        if let Some(Some(v)) = self.time.get(field) {
            return Some(ColumnRef::Time(v));
        }
        None
    }
}

/// On columns, every query of the corpus (and more, with nulls and several terms) has the outcome it
/// has row by row, true, false or unknown; those it cannot run on columns are the spatial ones and
/// those reading booleans.
#[test]
fn filters_run_on_columns_as_row_by_row() {
    let queryables = corpus_queryables();
    let raw = corpus_records();
    // The corpus's records, and as many again with fields blanked, for nulls.
    let mut maps = raw.clone();
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    for r in &raw {
        let mut m = r.clone();
        for k in [
            "intfield",
            "floatfield",
            "textfield",
            "datefield",
            "ts_start",
        ] {
            if rng.random_bool(0.4) {
                m.insert(k.into(), Value::Null);
            }
        }
        maps.push(m);
    }
    let geometries: Vec<_> = maps.iter().map(geometry_of).collect();
    let records: Vec<JsonRecord<'_>> = maps
        .iter()
        .zip(&geometries)
        .map(|(p, g)| JsonRecord {
            props: p,
            names: &queryables,
            geometry: g.clone(),
        })
        .collect();
    let columns = CorpusColumns::new(&records, &queryables);
    let text = std::fs::read_to_string(corpus_dir().join("operators_expected.txt")).unwrap();
    let mut queries: Vec<String> = text.lines().step_by(2).map(str::to_owned).collect();
    queries.extend(
        [
            "intfield > 2 AND NOT (textfield = 'a' OR floatfield < 3.5)",
            "NOT (intfield IS NULL) OR textfield LIKE 'b%'",
            "5 < intfield",
            "floatfield + 1 >= intfield",
            "CASEI(textfield) IN ('A', 'BB', 'c')",
            "intfield BETWEEN 1 AND 4 AND datefield > DATE('2000-01-01')",
            "1 = 1 AND textfield <> 'x'",
            "1 = 2 OR NOT floatfield = 0",
        ]
        .map(str::to_owned),
    );
    let (mut batched, mut row_only) = (0, 0);
    for query in &queries {
        let Ok(filter) = compile(query, FilterLang::Cql2Text, &queryables, None) else {
            continue;
        };
        let Some(truth) = filter.eval_columns(&columns, records.len()) else {
            row_only += 1;
            continue;
        };
        batched += 1;
        for (i, r) in records.iter().enumerate() {
            assert_eq!(
                truth.outcome(i),
                eval::eval(&filter.root, r),
                "{query}: record {i}: {:?}",
                maps[i]
            );
            assert_eq!(truth.is_true(i), filter.matches(r), "{query}: record {i}");
        }
        // A column shorter than the rows asked for is not read past its end.
        if !filter.properties().is_empty() {
            assert!(
                filter.eval_columns(&columns, records.len() + 1).is_none(),
                "{query}"
            );
        }
    }
    assert!(
        batched >= 50,
        "only {batched} ran on columns ({row_only} did not)"
    );
    eprintln!("{batched} filters ran on columns, {row_only} row by row only");
}
