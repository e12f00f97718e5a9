//! `GET /collections/{id}/queryables` (OGC API – Features Part 3): the properties a `filter` may
//! name, as a JSON Schema (2020-12) with each property's type, unit and description, or as HTML.
//! The list is the collection's own ([`crate::catalog::queryables`]): for sites, from the schema.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::ApiError;
use askama::Template;

use super::handlers::with_collection;
use super::html::{self, Page};
use super::params::Format;
use super::respond::{self, HTML};
use crate::catalog::Collection;
use crate::filter::QueryableType;

/// The media type of a JSON Schema.
pub const SCHEMA_JSON: &str = "application/schema+json";

/// The link relation from a collection to its queryables.
pub const REL_QUERYABLES: &str = "http://www.opengis.net/def/rel/ogc/1.0/queryables";

/// The JSON Schema of a collection's queryables.
pub fn schema(base: &str, c: &Collection) -> Value {
    let mut properties = Map::new();
    for q in c.queryables() {
        let mut p = Map::new();
        p.insert("title".into(), q.name.clone().into());
        if !q.description.is_empty() {
            p.insert("description".into(), q.description.clone().into());
        }
        if q.ty == QueryableType::Geometry {
            let format = if c.sites().is_some() {
                "geometry-point"
            } else {
                "geometry-any"
            };
            p.insert("format".into(), format.into());
            p.insert("x-ogc-role".into(), "primary-geometry".into());
        } else {
            let (ty, format) = q.ty.json_schema();
            p.insert("type".into(), ty.into());
            if let Some(f) = format {
                p.insert("format".into(), f.into());
            }
        }
        if let Some(unit) = &q.unit {
            p.insert("x-ogc-unit".into(), unit.clone().into());
        }
        properties.insert(q.name.clone(), Value::Object(p));
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{base}/collections/{}/queryables", c.id()),
        "type": "object",
        "title": c.spec.title,
        "description": format!(
            "The properties a CQL2 filter on {} may name (filter, filter-lang=cql2-text or \
             cql2-json). Distances are geodesic metres on WGS 84.",
            c.id()
        ),
        "properties": properties,
        "additionalProperties": false,
    })
}

/// A queryable as a row of the HTML table.
struct Row<'a> {
    name: &'a str,
    ty: String,
    unit: &'a str,
    description: &'a str,
}

#[derive(Template)]
#[template(path = "queryables.html")]
struct QueryablesPage<'a> {
    page: Page,
    id: &'a str,
    rows: Vec<Row<'a>>,
}

fn table(c: &Collection) -> Result<String, ApiError> {
    let queryables = c.queryables();
    let rows = queryables
        .iter()
        .map(|q| {
            let (ty, format) = q.ty.json_schema();
            let ty = match (q.ty, format) {
                (QueryableType::Geometry, _) => "geometry".to_owned(),
                (_, Some(f)) => format!("{ty} ({f})"),
                (_, None) => ty.to_owned(),
            };
            Row {
                name: &q.name,
                ty,
                unit: q.unit.as_deref().unwrap_or(""),
                description: &q.description,
            }
        })
        .collect();
    let json_href = format!("/collections/{}/queryables?f=json", c.id());
    html::render(&QueryablesPage {
        page: Page::new("Queryables", html::collection_trail(c), json_href),
        id: c.id(),
        rows,
    })
}

/// `GET /collections/{id}/queryables`
pub async fn queryables(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    with_collection(req, state, path.into_inner(), |c, format, base| {
        Ok(match format {
            Format::Json => respond::tagged(SCHEMA_JSON, schema(base, c).to_string()),
            Format::Html => respond::tagged(HTML, table(c)?),
        })
    })
    .await
}
