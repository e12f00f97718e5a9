//! The OpenAPI 3.0 definition, generated from the catalog so every collection's filters are documented.

use serde_json::{Value, json};

use super::params::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::catalog::Catalog;

fn get(summary: &str, params: Vec<Value>, ok: Value) -> Value {
    json!({ "get": {
        "summary": summary,
        "parameters": params,
        "responses": {
            "200": ok,
            "304": { "description": "Not modified (If-None-Match matched the ETag)" },
            "400": { "$ref": "#/components/responses/BadRequest" },
            "404": { "$ref": "#/components/responses/NotFound" },
        },
    }})
}

fn ok(description: &str, media: &[&str]) -> Value {
    let content: serde_json::Map<String, Value> = media
        .iter()
        .map(|m| ((*m).to_owned(), json!({ "schema": { "type": "object" } })))
        .collect();
    json!({ "description": description, "content": content })
}

fn html_ok(description: &str, media: &str) -> Value {
    let mut v = ok(description, &[media]);
    v["content"]["text/html"] = json!({ "schema": { "type": "string" } });
    v
}

/// The whole document for this catalog.
pub fn document(catalog: &Catalog) -> Value {
    let f = json!({ "$ref": "#/components/parameters/f" });
    let mut paths = serde_json::Map::new();
    paths.insert(
        "/".into(),
        get(
            "Landing page",
            vec![f.clone()],
            html_ok("Landing page", "application/json"),
        ),
    );
    paths.insert(
        "/conformance".into(),
        get(
            "Conformance classes",
            vec![f.clone()],
            html_ok("Conformance declaration", "application/json"),
        ),
    );
    paths.insert(
        "/api".into(),
        get(
            "This API definition",
            vec![f.clone()],
            html_ok(
                "OpenAPI 3.0 document",
                "application/vnd.oai.openapi+json;version=3.0",
            ),
        ),
    );
    paths.insert(
        "/collections".into(),
        get(
            "Feature collections",
            vec![f.clone()],
            html_ok("Collections", "application/json"),
        ),
    );
    for c in &catalog.collections {
        let id = c.id();
        let mut params = vec![
            json!({ "$ref": "#/components/parameters/bbox" }),
            json!({ "$ref": "#/components/parameters/bbox-crs" }),
            json!({ "$ref": "#/components/parameters/crs" }),
            json!({ "$ref": "#/components/parameters/datetime" }),
            json!({ "$ref": "#/components/parameters/limit" }),
            json!({ "$ref": "#/components/parameters/offset" }),
            f.clone(),
        ];
        for q in c.spec.queryables {
            params.push(json!({
                "name": q, "in": "query", "required": false, "style": "form", "explode": false,
                "description": format!("Only features whose `{q}` equals this value."),
                "schema": { "type": "string" },
            }));
        }
        paths.insert(
            format!("/collections/{id}"),
            get(
                &format!("Describe {id}"),
                vec![f.clone()],
                html_ok(c.spec.title, "application/json"),
            ),
        );
        paths.insert(
            format!("/collections/{id}/items"),
            get(
                &format!("Features of {id}"),
                params,
                html_ok(
                    "A page of features as a GeoJSON FeatureCollection",
                    "application/geo+json",
                ),
            ),
        );
        paths.insert(
            format!("/collections/{id}/items/{{featureId}}"),
            get(
                &format!("One feature of {id}"),
                vec![
                    json!({ "$ref": "#/components/parameters/featureId" }),
                    f.clone(),
                ],
                html_ok("A GeoJSON Feature", "application/geo+json"),
            ),
        );
    }
    paths.insert(
        "/health".into(),
        json!({ "get": { "summary": "Readiness: 200 once the indexes are built",
            "responses": { "200": ok("Feature counts per collection", &["application/json"]) } } }),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "tailings-atlas",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "OGC API - Features for the Syr Darya tailings and hazardous-site inventory.",
        },
        "servers": [{ "url": "/" }],
        "paths": paths,
        "components": {
            "parameters": {
                "f": { "name": "f", "in": "query", "required": false,
                    "description": "Response format; without it the Accept header decides.",
                    "schema": { "type": "string", "enum": ["json", "html"] } },
                "bbox": { "name": "bbox", "in": "query", "required": false, "style": "form", "explode": false,
                    "description": "west,south,east,north in WGS 84 degrees (or 6 numbers with heights); west > east crosses the antimeridian. Features intersecting the box are returned.",
                    "schema": { "type": "array", "minItems": 4, "maxItems": 6, "items": { "type": "number" } } },
                "bbox-crs": { "name": "bbox-crs", "in": "query", "required": false,
                    "schema": { "type": "string", "enum": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"] } },
                "crs": { "name": "crs", "in": "query", "required": false,
                    "schema": { "type": "string", "enum": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"] } },
                "datetime": { "name": "datetime", "in": "query", "required": false,
                    "description": "Accepted for conformance; no collection has a temporal property, so it does not filter.",
                    "schema": { "type": "string" } },
                "limit": { "name": "limit", "in": "query", "required": false,
                    "description": format!("Page size; larger values are served {MAX_LIMIT}."),
                    "schema": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT } },
                "offset": { "name": "offset", "in": "query", "required": false,
                    "schema": { "type": "integer", "minimum": 0, "default": 0 } },
                "featureId": { "name": "featureId", "in": "path", "required": true,
                    "schema": { "type": "string" } },
            },
            "schemas": {
                "exception": { "type": "object", "required": ["code"],
                    "properties": { "code": { "type": "string" }, "description": { "type": "string" } } },
            },
            "responses": {
                "BadRequest": { "description": "A parameter is malformed; the description names it.",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/exception" } } } },
                "NotFound": { "description": "No such collection or feature.",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/exception" } } } },
            },
        },
    })
}
