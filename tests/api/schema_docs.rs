//! The site schema ([`tailings_atlas::schema`]) as clients read it: the OpenAPI document's site
//! properties and the HTML pages' units and meanings come from it, and what the service serves
//! conforms to what it documents.

use serde_json::Value;

use crate::common::*;
use tailings_atlas::schema::{self, FieldType};

/// Whether `v` is of the OpenAPI 3.0 schema `s` (its type; null where it is nullable).
fn conforms(v: &Value, s: &Value) -> bool {
    match v {
        Value::Null => s["nullable"] == true,
        Value::String(_) => s["type"] == "string",
        Value::Number(_) => s["type"] == "number",
        Value::Array(items) => {
            s["type"] == "array" && items.iter().all(|i| conforms(i, &s["items"]))
        }
        Value::Object(_) => s["type"] == "object",
        Value::Bool(_) => s["type"] == "boolean",
    }
}

#[actix_web::test]
async fn the_openapi_site_properties_are_the_schema_and_every_site_conforms() {
    let state = default_state();
    let api = get(&state, "/api").await.json();
    let schemas = &api["components"]["schemas"];
    let props = schemas["siteProperties"]["properties"].as_object().unwrap();
    // Every field of the schema, documented as the schema has it.
    let fields: Vec<_> = schema::SITE_FIELDS
        .iter()
        .chain(schema::computed_fields())
        .collect();
    assert_eq!(props.len(), fields.len());
    for f in &fields {
        let p = &props[f.name];
        assert_eq!(p["type"], f.ty.json_type(), "{}", f.name);
        assert!(
            p["description"]
                .as_str()
                .unwrap()
                .starts_with(f.description),
            "{}",
            f.name
        );
        assert_eq!(p["x-ogc-unit"].as_str(), f.unit, "{}", f.name);
        assert_eq!(p["nullable"] == true, !f.required, "{}", f.name);
        if f.ty == FieldType::TextList {
            assert_eq!(p["items"]["type"], "string");
        }
    }
    assert!(props["volume_m3"]["description"] == "Stored volume.");
    assert!(
        props["name"]["description"]
            .as_str()
            .unwrap()
            .ends_with("At most 500 bytes of UTF-8.")
    );
    assert!(
        props["river_distance_m"]["description"]
            .as_str()
            .unwrap()
            .contains("read-only")
    );
    // The sites' items and item responses and the bodies of edits name the site schemas.
    let content = |path: &str, op: &str, code: &str| {
        api["paths"][path][op]["responses"][code]["content"]["application/geo+json"]["schema"]
            ["$ref"]
            .clone()
    };
    assert_eq!(
        content("/collections/sites/items", "get", "200"),
        "#/components/schemas/siteFeatureCollection"
    );
    assert_eq!(
        content("/collections/sites/items/{featureId}", "get", "200"),
        "#/components/schemas/siteFeature"
    );
    assert_eq!(
        content("/collections/rivers/items", "get", "200"),
        "#/components/schemas/featureCollectionGeoJSON"
    );
    assert_eq!(
        api["paths"]["/collections/sites/items"]["post"]["requestBody"]["content"]["application/geo+json"]
            ["schema"]["$ref"],
        "#/components/schemas/siteFeature"
    );
    for name in ["siteFeature", "siteFeatureCollection"] {
        let refs = schemas[name]["allOf"].as_array().unwrap();
        for r in refs.iter().filter_map(|r| r["$ref"].as_str()) {
            let target = r.trim_start_matches("#/components/schemas/");
            assert!(schemas[target].is_object(), "{name} names {target}");
        }
    }

    // Every property of every served site is documented, with the type it has.
    let page = get(&state, "/collections/sites/items?limit=10000")
        .await
        .json();
    let features = page["features"].as_array().unwrap();
    assert!(features.len() > 20);
    let mut seen_null = false;
    for feature in features {
        for (k, v) in feature["properties"].as_object().unwrap() {
            let s = props
                .get(k)
                .unwrap_or_else(|| panic!("{k} is served but not documented"));
            assert!(conforms(v, s), "{}: {k} = {v} is not {s}", feature["id"]);
            seen_null |= v.is_null();
        }
    }
    assert!(
        seen_null,
        "the default data has missing values, documented as nullable"
    );
}

#[actix_web::test]
async fn html_pages_give_each_site_field_its_unit_and_meaning() {
    let state = default_state();
    let html = get(
        &state,
        "/collections/sites/items/kgz_mailuu_suu_tailing_3?f=html",
    )
    .await
    .text();
    assert!(html.contains("<th>property</th><th>value</th><th>unit · meaning</th>"));
    let f = schema::field("river_distance_m").unwrap();
    assert!(
        html.contains(&format!("<td class=\"about\">m · {}</td>", f.description)),
        "{html}"
    );
    assert!(html.contains(&format!(
        "<td class=\"about\">{}</td>",
        schema::field("kind").unwrap().description
    )));
    // The items table's column heads carry the meaning as a tooltip.
    let items = get(&state, "/collections/sites/items?f=html&limit=3")
        .await
        .text();
    assert!(
        items.contains(&format!(
            "<th title=\"{}\">country</th>",
            schema::field("country").unwrap().description
        )),
        "{items}"
    );
    // A reference layer has no schema: two columns, no third.
    let river = get(&state, "/collections/rivers/items?f=json&limit=1")
        .await
        .json();
    let id = river["features"][0]["id"].to_string();
    let id = id.trim_matches('"');
    let page = get(&state, &format!("/collections/rivers/items/{id}?f=html")).await;
    assert_eq!(page.status, actix_web::http::StatusCode::OK);
    assert!(!page.text().contains("class=\"about\""));
}
