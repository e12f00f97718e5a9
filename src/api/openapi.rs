//! The OpenAPI 3.0 definition, generated from the catalog so every collection's filters are documented
//! with the type their values have in the data.

use serde_json::{Map, Value, json};

use super::params::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::catalog::{Catalog, Collection};
use crate::schema::{FieldType, SITE_FIELDS, is_analysis_field};

const OPENAPI_MEDIA: &str = "application/vnd.oai.openapi+json;version=3.0";

/// A GET operation; `not_found` says whether the path names something that may not exist.
fn get(summary: &str, params: Vec<Value>, ok: Value, not_found: bool) -> Value {
    let mut responses = json!({
        "200": ok,
        "304": { "description": "Not modified: If-None-Match matched the ETag" },
        "400": { "$ref": "#/components/responses/BadRequest" },
        "405": { "$ref": "#/components/responses/MethodNotAllowed" },
        "500": { "$ref": "#/components/responses/ServerError" },
    });
    if not_found {
        responses["404"] = json!({ "$ref": "#/components/responses/NotFound" });
    }
    json!({ "get": { "summary": summary, "parameters": params, "responses": responses } })
}

/// A 200 response in `media` with `schema`, plus its HTML twin.
fn ok(description: &str, media: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {
            media: { "schema": { "$ref": format!("#/components/schemas/{schema}") } },
            "text/html": { "schema": { "type": "string" } },
        },
    })
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/exception" } } },
    })
}

/// The JSON type of a queryable's values: the schema's for the sites, else the data's (the first
/// non-null value decides).
fn queryable_type(c: &Collection, property: &str) -> &'static str {
    if c.spec.id == crate::reference::SITES
        && let Some(f) = crate::schema::field(property)
    {
        return f.ty.json_type();
    }
    match c
        .iter()
        .find_map(|f| f.property(property).filter(|v| !v.is_null()))
    {
        Some(Value::Number(_)) => "number",
        Some(Value::Bool(_)) => "boolean",
        _ => "string",
    }
}

/// A site's properties, from the one schema ([`crate::schema`]): each field's type, description and
/// unit (`x-ogc-unit`, as in the queryables). None is listed as required: `properties=` selects.
fn site_properties() -> Value {
    let fields = SITE_FIELDS.iter().chain(crate::schema::computed_fields());
    let properties: Map<String, Value> = fields
        .map(|f| {
            let mut description = f.description.to_owned();
            if let Some(n) = f.max_bytes {
                description.push_str(&format!(" At most {n} bytes of UTF-8."));
            }
            if is_analysis_field(f.name) {
                description.push_str(" Computed by the service; read-only.");
            }
            let mut schema = json!({ "type": f.ty.json_type(), "description": description });
            if !f.required {
                schema["nullable"] = true.into();
            }
            if f.ty == FieldType::TextList {
                schema["items"] = json!({ "type": "string" });
            }
            if let Some(unit) = f.unit {
                schema["x-ogc-unit"] = unit.into();
            }
            (f.name.to_owned(), schema)
        })
        .collect();
    json!({ "type": "object", "properties": properties })
}

fn schemas() -> Value {
    let link = json!({ "$ref": "#/components/schemas/link" });
    let links = json!({ "type": "array", "items": link });
    let position =
        json!({ "type": "array", "minItems": 2, "maxItems": 3, "items": { "type": "number" } });
    json!({
        "siteProperties": site_properties(),
        "siteFeature": { "allOf": [{ "$ref": "#/components/schemas/featureGeoJSON" },
            { "type": "object", "properties": {
                "properties": { "$ref": "#/components/schemas/siteProperties" } } }] },
        "siteFeatureCollection": { "allOf": [{ "$ref": "#/components/schemas/featureCollectionGeoJSON" },
            { "type": "object", "properties": {
                "features": { "type": "array", "items": { "$ref": "#/components/schemas/siteFeature" } } } }] },
        "exception": { "type": "object", "required": ["code"],
            "properties": { "code": { "type": "string" }, "description": { "type": "string" } } },
        "link": { "type": "object", "required": ["href"],
            "properties": { "href": { "type": "string" }, "rel": { "type": "string" },
                "type": { "type": "string" }, "title": { "type": "string" } } },
        "landingPage": { "type": "object", "required": ["links"],
            "properties": { "title": { "type": "string" }, "description": { "type": "string" }, "links": links } },
        "confClasses": { "type": "object", "required": ["conformsTo"],
            "properties": { "conformsTo": { "type": "array", "items": { "type": "string" } } } },
        "collection": { "type": "object", "required": ["id", "links"],
            "properties": {
                "id": { "type": "string" }, "title": { "type": "string" }, "description": { "type": "string" },
                "attribution": { "type": "string" }, "license": { "type": "string" },
                "itemType": { "type": "string" }, "crs": { "type": "array", "items": { "type": "string" } },
                "extent": { "type": "object" }, "links": links } },
        "collections": { "type": "object", "required": ["links", "collections"],
            "properties": { "links": links,
                "collections": { "type": "array", "items": { "$ref": "#/components/schemas/collection" } } } },
        "geometryGeoJSON": { "type": "object", "required": ["type"],
            "properties": {
                "type": { "type": "string", "enum": ["Point", "MultiPoint", "LineString", "MultiLineString",
                    "Polygon", "MultiPolygon", "GeometryCollection"] },
                "coordinates": { "type": "array", "items": {} },
                "geometries": { "type": "array", "items": { "$ref": "#/components/schemas/geometryGeoJSON" } } },
            "description": format!("RFC 7946 geometry; positions are {position}") },
        "featureGeoJSON": { "type": "object", "required": ["type", "geometry", "properties"],
            "properties": {
                "type": { "type": "string", "enum": ["Feature"] },
                "id": { "oneOf": [{ "type": "string" }, { "type": "integer" }] },
                // null with `skipGeometry=true` (RFC 7946 §3.2: an unlocated feature).
                "geometry": { "nullable": true, "allOf": [{ "$ref": "#/components/schemas/geometryGeoJSON" }] },
                "properties": { "type": "object", "nullable": true },
                "links": links } },
        "featureCollectionGeoJSON": { "type": "object", "required": ["type", "features"],
            "properties": {
                "type": { "type": "string", "enum": ["FeatureCollection"] },
                "features": { "type": "array", "items": { "$ref": "#/components/schemas/featureGeoJSON" } },
                "links": links,
                "timeStamp": { "type": "string", "format": "date-time" },
                "numberMatched": { "type": "integer", "minimum": 0 },
                "numberReturned": { "type": "integer", "minimum": 0 } } },
        "health": { "type": "object", "required": ["status"],
            "properties": { "status": { "type": "string", "enum": ["ok", "unready"] },
                "collections": { "type": "object" }, "segment_index": { "type": "object" },
                "store": { "type": "object", "properties": {
                    "reachable": { "type": "boolean" }, "revision": { "type": "integer" },
                    "published_revision": { "type": "integer" },
                    "behind": { "type": "integer", "minimum": 0 }, "error": { "type": "string" } } },
                "read_store": { "type": "object", "description":
                    "With serve --read-store: how far the read store (a hot standby) is behind the primary",
                    "properties": {
                    "reachable": { "type": "boolean" }, "location": { "type": "string" },
                    "standby": { "type": "boolean" },
                    "lag_bytes": { "type": "integer", "minimum": 0 },
                    "lag_s": { "type": "number", "minimum": 0 },
                    "revisions_behind": { "type": "integer", "minimum": 0 },
                    "error": { "type": "string" } } } } },
    })
}

/// Part 4 on the sites, the history, restore, import and the file exports.
fn add_edit_paths(paths: &mut Map<String, Value>) {
    let auth = json!([{ "bearer": [] }]);
    let site = json!({ "$ref": "#/components/schemas/siteFeature" });
    let feature_body = json!({ "required": true, "content": {
        "application/geo+json": { "schema": site },
        "application/json": { "schema": site } } });
    let errors = json!({
        "400": error_response("Malformed JSON or GeoJSON, or a bad field; the description names it."),
        "401": error_response("No bearer token, or not a valid one."),
        "403": error_response("The token lacks the role or the country."),
        "413": error_response("The body is over the limit (serve --max-body-mb, default 20 MB)."),
        "415": error_response("A Content-Type this operation does not take."),
        "429": error_response("Too many token checks from this address, or writes with this token (serve --token-checks-per-minute, --writes-per-minute); `Retry-After` says when to try again."),
    });
    let with = |extra: Value| {
        let mut m = errors.as_object().cloned().unwrap_or_default();
        if let Value::Object(e) = extra {
            m.extend(e);
        }
        Value::Object(m)
    };
    if let Some(items) = paths.get_mut("/collections/sites/items") {
        let export_f = json!({ "name": "f", "in": "query", "required": false,
            "description": "json or html: a page of features; geojsonseq: the page as GeoJSON Text Sequences (RFC 8142), streamed. gpkg, shp (zipped), kml, csv, fgb or geojson: every selected site (filters and bbox apply, paging does not) as a file with every attribute and analysis field, in CRS84 (`crs` must be CRS84; `properties` and `skipGeometry` do not apply).",
            "schema": { "type": "string", "enum": ["json", "html", "geojsonseq", "gpkg", "shp", "kml", "csv", "fgb", "geojson"] } });
        // The shared `f` parameter does not list the file formats: this one replaces it here.
        if let Some(params) = items["get"]["parameters"].as_array_mut() {
            params.retain(|p| p["$ref"] != "#/components/parameters/f-items");
            params.push(export_f);
        }
        // The files, each as its format's media type.
        if let Some(content) = items["get"]["responses"]["200"]["content"].as_object_mut() {
            for f in crate::io::sites::ExportFormat::ALL {
                content.entry(f.media_type()).or_insert_with(
                    || json!({ "schema": { "type": "string", "format": "binary" } }),
                );
            }
        }
        items["post"] = json!({ "summary": "Create a site (OGC API - Features Part 4); 201 with Location and ETag",
            "security": auth, "requestBody": feature_body,
            "responses": with(json!({ "201": { "description": "Created; the body is the site with its analysis" },
                "409": error_response("A site with this id exists.") })) });
    }
    if let Some(item) = paths.get_mut("/collections/sites/items/{featureId}") {
        let if_match = json!({ "name": "If-Match", "in": "header", "required": true,
            "description": "The ETag of the version being changed.", "schema": { "type": "string" } });
        let id = json!({ "$ref": "#/components/parameters/featureId" });
        let changed = |summary: &str, body: Option<Value>| {
            let mut op = json!({ "summary": summary, "security": auth, "parameters": [id, if_match],
                "responses": with(json!({ "200": { "description": "The site as stored, re-analysed, with its new ETag" },
                    "204": { "description": "Deleted" },
                    "404": error_response("No such site."),
                    "412": error_response("If-Match does not name the current version."),
                    "428": error_response("If-Match is missing.") })) });
            if let Some(b) = body {
                op["requestBody"] = b;
            }
            op
        };
        item["put"] = changed("Replace a site", Some(feature_body.clone()));
        item["patch"] = changed(
            "Change some of a site's properties or its position (JSON merge patch)",
            Some(json!({ "required": true, "content": {
                "application/merge-patch+json": { "schema": { "type": "object" } } } })),
        );
        item["delete"] = changed("Delete a site (it stays in its history)", None);
    }
    let id = json!({ "$ref": "#/components/parameters/featureId" });
    paths.insert(
        "/collections/sites/items/{featureId}/history".into(),
        json!({ "get": { "summary": "Every version of a site, newest first: who, when, old and new values, reason",
            "parameters": [id],
            "responses": { "200": { "description": "{\"versions\": [...]}" },
                "404": { "$ref": "#/components/responses/NotFound" } } } }),
    );
    paths.insert(
        "/collections/sites/items/{featureId}/restore".into(),
        json!({ "post": { "summary": "Put back an earlier version (body {\"version\": n}; default: the state before the last change or delete)",
            "security": auth, "parameters": [id],
            "responses": with(json!({ "200": { "description": "The restored site" },
                "404": error_response("No such site, or no such version of it.") })) } }),
    );
    paths.insert(
        "/import".into(),
        json!({ "post": { "summary": "Import sites from a file (multipart field `file`, optional `mapping`); admin only",
            "security": auth,
            "parameters": [
                { "name": "dry_run", "in": "query", "required": false, "schema": { "type": "boolean" } },
                { "name": "skip_invalid", "in": "query", "required": false, "schema": { "type": "boolean" } } ],
            "requestBody": { "required": true, "content": { "multipart/form-data": { "schema": {
                "type": "object", "properties": { "file": { "type": "string", "format": "binary" },
                    "mapping": { "type": "string", "format": "binary" } } } } } },
            "responses": with(json!({ "200": { "description": "The import report" } })) } }),
    );
}

/// The analysis endpoints and a site's downstream path.
fn add_analysis_paths(paths: &mut Map<String, Value>) {
    let number = |name: &str, required: bool, description: &str, min: f64, max: f64| {
        json!({ "name": name, "in": "query", "required": required, "description": description,
            "schema": { "type": "number", "minimum": min, "maximum": max } })
    };
    let iso3 = |name: &str, description: &str| {
        json!({ "name": name, "in": "query", "required": false, "description": description,
            "schema": { "type": "string", "pattern": "^[A-Za-z]{3}$" } })
    };
    let lon = number("lon", true, "Longitude, WGS 84 degrees.", -180.0, 180.0);
    let lat = number("lat", true, "Latitude, WGS 84 degrees.", -90.0, 90.0);
    let bad = json!({ "$ref": "#/components/responses/BadRequest" });
    let body = |description: &str, media: &str| json!({ "description": description, "content": { media: { "schema": { "type": "object" } } } });
    paths.insert(
        "/analysis/proximity".into(),
        json!({ "get": { "summary": "A point's exposure: its country, nearest river and nearest international border (geodesic metres, nearest points as coordinates) and the path downstream",
            "parameters": [lon, lat],
            "responses": { "200": body("The full result", "application/json"), "400": bad } } }),
    );
    paths.insert(
        "/analysis/near-border".into(),
        json!({ "get": { "summary": "The sites within a geodesic distance of a border, nearest first, each with `distance_m` and `neighbour`",
            "parameters": [
                number("within_km", false, "Kilometres (default 10).", 0.0, 1000.0),
                iso3("country", "Only sites of this country (ISO3)."),
                iso3("neighbour", "Distance to the border between the site's country and this one (ISO3), rather than to the nearest border."),
                { "name": "kind", "in": "query", "required": false,
                  "schema": { "type": "string", "enum": ["tailings", "hazardous_site"] } } ],
            "responses": { "200": body("A FeatureCollection of sites", "application/geo+json"), "400": bad } } }),
    );
    paths.insert(
        "/analysis/nearest".into(),
        json!({ "get": { "summary": "The k sites nearest a point, with their geodesic `distance_m`",
            "parameters": [lon, lat, { "name": "k", "in": "query", "required": false,
                "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 5 } }],
            "responses": { "200": body("A FeatureCollection of sites", "application/geo+json"), "400": bad } } }),
    );
    paths.insert(
        "/collections/sites/items/{featureId}/downstream".into(),
        json!({ "get": { "summary": "A site's path downstream as a LineString (from the site, by its snap to the river), with its border crossings and water bodies as Points and their along-river `along_km`",
            "parameters": [{ "$ref": "#/components/parameters/featureId" }],
            "responses": { "200": body("A FeatureCollection", "application/geo+json"), "400": bad,
                "404": { "$ref": "#/components/responses/NotFound" } } } }),
    );
}

/// The whole document for this catalog.
pub fn document(catalog: &Catalog) -> Value {
    let f = json!({ "$ref": "#/components/parameters/f" });
    let content_crs = json!({ "Content-Crs": { "description": "The CRS of the coordinates, as `<URI>` (OGC API - Features Part 2)",
        "schema": { "type": "string" } } });
    let mut paths = Map::new();
    paths.insert(
        "/".into(),
        get(
            "Landing page",
            vec![f.clone()],
            ok("Landing page", "application/json", "landingPage"),
            false,
        ),
    );
    paths.insert(
        "/conformance".into(),
        get(
            "Conformance classes",
            vec![f.clone()],
            ok("Conformance declaration", "application/json", "confClasses"),
            false,
        ),
    );
    paths.insert(
        "/api".into(),
        get(
            "This API definition",
            vec![f.clone()],
            ok("OpenAPI 3.0 document", OPENAPI_MEDIA, "landingPage"),
            false,
        ),
    );
    // The API definition is not a landing page: describe it as a plain object.
    paths["/api"]["get"]["responses"]["200"]["content"][OPENAPI_MEDIA]["schema"] =
        json!({ "type": "object" });
    paths.insert(
        "/collections".into(),
        get(
            "Feature collections",
            vec![f.clone()],
            ok("Collections", "application/json", "collections"),
            false,
        ),
    );
    let items_f = json!({ "$ref": "#/components/parameters/f-items" });
    for c in &catalog.collections {
        let id = c.id();
        // Every items parameter but `f`, which has an items-specific definition of its own.
        let mut params = super::params::ITEMS_PARAMS
            .iter()
            .filter(|p| **p != "f")
            .map(|p| json!({ "$ref": format!("#/components/parameters/{p}") }))
            .collect::<Vec<_>>();
        params.push(items_f.clone());
        for q in c.spec.queryables {
            params.push(json!({
                "name": q, "in": "query", "required": false,
                "description": format!("Only features whose `{q}` equals this value (ASCII letters compare case-insensitively)."),
                "schema": { "type": queryable_type(c, q) },
            }));
        }
        paths.insert(
            format!("/collections/{id}"),
            get(
                &format!("Describe {id}"),
                vec![f.clone()],
                ok(c.spec.title, "application/json", "collection"),
                true,
            ),
        );
        let sites = id == crate::reference::SITES;
        let mut page = ok(
            "A page of features, in `crs`",
            "application/geo+json",
            if sites {
                "siteFeatureCollection"
            } else {
                "featureCollectionGeoJSON"
            },
        );
        page["content"][super::respond::GEOJSON_SEQ] = json!({ "schema": { "type": "string",
            "description": "GeoJSON Text Sequences (RFC 8142): each feature of the page, preceded by 0x1E and followed by a line feed (f=geojsonseq, or Accept: application/geo+json-seq)" } });
        page["headers"] = content_crs.clone();
        paths.insert(
            format!("/collections/{id}/items"),
            get(&format!("Features of {id}"), params, page, true),
        );
        let mut one = ok(
            "A feature, in `crs`",
            "application/geo+json",
            if sites {
                "siteFeature"
            } else {
                "featureGeoJSON"
            },
        );
        one["headers"] = content_crs.clone();
        paths.insert(
            format!("/collections/{id}/items/{{featureId}}"),
            get(
                &format!("One feature of {id}"),
                vec![
                    json!({ "$ref": "#/components/parameters/featureId" }),
                    json!({ "$ref": "#/components/parameters/crs" }),
                    json!({ "$ref": "#/components/parameters/properties" }),
                    json!({ "$ref": "#/components/parameters/skipGeometry" }),
                    f.clone(),
                ],
                one,
                true,
            ),
        );
        paths.insert(
            format!("/collections/{id}/queryables"),
            get(
                &format!("The properties a filter on {id} may name"),
                vec![f.clone()],
                json!({
                    "description": "A JSON Schema (2020-12): each queryable's type, unit (x-ogc-unit) and description",
                    "content": {
                        "application/schema+json": { "schema": { "type": "object" } },
                        "text/html": { "schema": { "type": "string" } },
                    },
                }),
                true,
            ),
        );
    }
    add_edit_paths(&mut paths);
    add_analysis_paths(&mut paths);
    super::tiles::add_paths(&mut paths, catalog);
    super::webmap::add_paths(&mut paths);
    paths.insert(
        "/health".into(),
        json!({ "get": { "summary": "Readiness: 200 once the indexes are built and while the store answers",
            "responses": {
                "200": { "description": "Feature and segment counts per collection; the store's newest and the published version",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/health" } } } },
                "503": { "description": "Unready: the store cannot be reached (the published inventory is still served)",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/health" } } } } } } }),
    );
    paths.insert(
        "/health/live".into(),
        json!({ "get": { "summary": "Liveness: 200 while the process answers (nothing is read)",
            "responses": { "200": { "description": "`{\"status\": \"live\"}`",
                "content": { "application/json": { "schema": { "type": "object", "required": ["status"],
                    "properties": { "status": { "type": "string", "enum": ["live"] } } } } } } } } }),
    );
    let ready_schema = json!({ "type": "object", "required": ["status"], "properties": {
        "status": { "type": "string", "enum": ["ready", "unready"] },
        "reason": { "type": "string" } } });
    paths.insert(
        "/health/ready".into(),
        json!({ "get": { "summary": "Readiness: 200 while the store answers (within 2 s) and no bulk publish is rebuilding the site index",
            "responses": {
                "200": { "description": "Ready", "content": { "application/json": { "schema": ready_schema } } },
                "503": { "description": "Not ready, with the reason; `Retry-After` says when to ask again",
                    "headers": { "Retry-After": { "schema": { "type": "integer" } } },
                    "content": { "application/json": { "schema": ready_schema } } } } } }),
    );
    paths.insert(
        "/metrics".into(),
        json!({ "get": { "summary": "Prometheus metrics (OpenMetrics text): requests by route and status, latency histograms, store operation latencies, publish and risk recompute times, tile and page cache hits and misses, sites and store versions",
            "responses": { "200": { "description": "OpenMetrics text",
                "content": { crate::metrics::CONTENT_TYPE: { "schema": { "type": "string" } } } } } } }),
    );
    for (ext, media) in [("png", "image/png"), ("svg", "image/svg+xml")] {
        paths.insert(
            format!("/maps/basin-risk.{ext}"),
            json!({ "get": { "summary": format!("The basin risk map as {}: countries, lakes, rivers by downstream hazard load, borders, border-crossing hotspots by load, sites by risk class, with a title, legend, scale bar, north arrow and attribution (Web Mercator; the same request gives the same bytes)", ext.to_uppercase()),
                "parameters": [
                    { "name": "bbox", "in": "query", "required": false, "style": "form", "explode": false,
                      "description": "west,south,east,north in WGS 84 degrees; west < east, latitudes within ±85.05 (default: the sites and risk layers, padded)",
                      "schema": { "type": "array", "minItems": 4, "maxItems": 4, "items": { "type": "number" } } },
                    { "name": "width", "in": "query", "required": false,
                      "description": "Width in pixels; the height follows from the box's aspect and must lie in [100, 8000]",
                      "schema": { "type": "integer", "minimum": crate::render::view::MIN_WIDTH,
                          "maximum": crate::render::view::MAX_SIDE, "default": crate::render::DEFAULT_WIDTH } } ],
                "responses": {
                    "200": { "description": "The map; ETag from the published state and the parameters",
                        "content": { media: { "schema": { "type": "string", "format": "binary" } } } },
                    "304": { "description": "Not modified (If-None-Match)" },
                    "400": { "$ref": "#/components/responses/BadRequest" } } } }),
        );
    }
    paths.insert(
        "/attribution".into(),
        json!({ "get": { "summary": "Data sources, attributions and licences (the data directory's README)",
            "responses": {
                "200": { "description": "Markdown", "content": { "text/markdown": { "schema": { "type": "string" } } } },
                "404": { "$ref": "#/components/responses/NotFound" } } } }),
    );
    let crs_uris = json!({ "type": "string", "enum": super::crs::Crs::supported_uris(),
        "default": super::crs::CRS84 });
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
                    "schema": { "type": "string", "enum": ["json", "geojson", "html"] } },
                "f-items": { "name": "f", "in": "query", "required": false,
                    "description": "Response format; without it the Accept header decides. geojsonseq: the page as GeoJSON Text Sequences (RFC 8142, application/geo+json-seq), streamed; limit, offset, bbox, filters, sortby and datetime apply as to the JSON page.",
                    "schema": { "type": "string", "enum": ["json", "geojson", "html", "geojsonseq"] } },
                "bbox": { "name": "bbox", "in": "query", "required": false, "style": "form", "explode": false,
                    "description": "Lower corner then upper corner, each in the axis order of `bbox-crs` (default CRS84: west,south,east,north in WGS 84 degrees; for EPSG:4326 south,west,north,east), or 6 numbers with heights; in degrees, west > east crosses the antimeridian. Features intersecting the box, in `bbox-crs`, are returned.",
                    "schema": { "type": "array", "minItems": 4, "maxItems": 6, "items": { "type": "number" } } },
                "bbox-crs": { "name": "bbox-crs", "in": "query", "required": false,
                    "description": "The CRS of `bbox` (OGC API - Features Part 2). A box in a projected CRS selects what meets it in that CRS.",
                    "schema": crs_uris },
                "crs": { "name": "crs", "in": "query", "required": false,
                    "description": "The CRS of the coordinates in the response (OGC API - Features Part 2), named in `Content-Crs`. EPSG:4326 is latitude, longitude; projected CRSs are metres to the millimetre. Also taken as a safe CURIE ([EPSG:32642]), an OGC URN or EPSG:32642.",
                    "schema": crs_uris },
                "properties": { "name": "properties", "in": "query", "required": false, "style": "form", "explode": false,
                    "description": "Only these properties, in this order (comma-separated); a name the collection's features do not have is a 400. A feature of a reference layer lacking one leaves it out.",
                    "schema": { "type": "array", "items": { "type": "string" } } },
                "skipGeometry": { "name": "skipGeometry", "in": "query", "required": false,
                    "description": "true: every feature's geometry is null (the selection, bbox included, is unchanged).",
                    "schema": { "type": "boolean", "default": false } },
                "datetime": { "name": "datetime", "in": "query", "required": false, "allowEmptyValue": true,
                    "description": "On `sites`: the time each site's current version was written in the store. An RFC 3339 instant, a date (the whole UTC day) or an interval `start/end`, both ends included (`..` or empty for an open end); empty is no filter, as if absent. Other collections have no time: every feature matches.",
                    "schema": { "type": "string" } },
                "limit": { "name": "limit", "in": "query", "required": false,
                    // No `maximum`: OGC API – Features (7.15.3) wants a larger value served as the
                    // maximum, not refused, and a schema maximum would say it is refused.
                    "description": format!("Page size, at most {MAX_LIMIT}: larger values are not an error, they are served {MAX_LIMIT}."),
                    "schema": { "type": "integer", "minimum": 1, "default": DEFAULT_LIMIT } },
                "offset": { "name": "offset", "in": "query", "required": false,
                    "schema": { "type": "integer", "minimum": 0, "default": 0 } },
                "sortby": { "name": "sortby", "in": "query", "required": false, "style": "form", "explode": false,
                    "description": "Properties to sort by, each with an optional `+` (ascending, the default) or `-` (descending): `-risk_score,+name`. Numbers sort by value, text by code point, `risk_class` by severity; features without the property come last either way; ties keep the collection's order. Lists and objects cannot be sorted by.",
                    "schema": { "type": "array", "items": { "type": "string", "pattern": "^[+-]?[A-Za-z_][A-Za-z0-9_:.-]*$" } } },
                "filter": { "name": "filter", "in": "query", "required": false,
                    "description": "A CQL2 filter (OGC API - Features Part 3) over the collection's queryables (`/collections/{id}/queryables`), in the language of `filter-lang`: comparisons, `AND`/`OR`/`NOT`, `IS NULL`, `LIKE`, `BETWEEN`, `IN`, `CASEI`, `ACCENTI`, arithmetic, dates and timestamps, and the spatial functions `S_INTERSECTS`, `S_WITHIN`, `S_CONTAINS`, `S_DISJOINT`, `S_EQUALS`, `S_TOUCHES`, `S_OVERLAPS`, `S_CROSSES`. Extension: `S_DWITHIN(geometry, POINT(lon lat), distance, meters)` (or `kilometers`) holds within that geodesic distance on WGS 84, decided in metres, never degrees. At most 16 KiB. A filter that does not parse, names an unknown property or compares incompatible types is a 400 naming the character position and the reason. Example: `country = 'KGZ' AND risk_class IN ('high','very_high')`.",
                    "schema": { "type": "string", "maxLength": crate::filter::MAX_FILTER_BYTES } },
                "filter-lang": { "name": "filter-lang", "in": "query", "required": false,
                    "description": "The encoding of `filter`: `cql2-text` (the default), `cql2-json`, or `cql-text`, the draft's name for CQL2 text that GDAL's OAPIF driver sends.",
                    "schema": { "type": "string", "enum": crate::filter::FilterLang::NAMES, "default": "cql2-text" } },
                "filter-crs": { "name": "filter-crs", "in": "query", "required": false,
                    "description": "The CRS of the filter's geometry literals (OGC API - Features Part 3 with Part 2), reprojected to CRS84 before the filter is evaluated; `S_DWITHIN` distances stay geodesic metres.",
                    "schema": crs_uris },
                "featureId": { "name": "featureId", "in": "path", "required": true,
                    "schema": { "type": "string" } },
            },
            "schemas": schemas(),
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer",
                "description": "A token from `tailings-atlas token create`" } },
            "responses": {
                "BadRequest": error_response("A parameter is malformed or unknown; the description names it."),
                "NotFound": error_response("No such collection or feature."),
                "MethodNotAllowed": error_response("Only GET and HEAD are supported."),
                "ServerError": error_response("An internal error; details are in the server log only."),
            },
        },
    })
}
