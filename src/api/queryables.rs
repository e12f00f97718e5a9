//! `GET /collections/{id}/queryables` (OGC API – Features Part 3): the properties a `filter` may
//! name, as a JSON Schema (2020-12) with each property's type, unit and description, or as HTML.
//! The list is the collection's own ([`crate::catalog::queryables`]): for sites, from the schema.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::ApiError;
use super::handlers::collection_or_404;
use super::html::{self, esc};
use super::params::{self, Format};
use super::respond::{self, HTML, Tagged};
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

fn table(c: &Collection) -> String {
    let rows: String = c
        .queryables()
        .iter()
        .map(|q| {
            let (ty, format) = q.ty.json_schema();
            let ty = match (q.ty, format) {
                (QueryableType::Geometry, _) => "geometry".to_owned(),
                (_, Some(f)) => format!("{ty} ({f})"),
                (_, None) => ty.to_owned(),
            };
            format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&q.name),
                esc(&ty),
                esc(q.unit.as_deref().unwrap_or("")),
                esc(&q.description)
            )
        })
        .collect();
    format!(
        "<p>The properties a <code>filter</code> on this collection may name, in CQL2 text or \
         JSON; for example <code>/collections/{id}/items?filter=…&amp;filter-lang=cql2-text</code>.</p>\
         <table><tr><th>name</th><th>type</th><th>unit</th><th>description</th></tr>{rows}</table>",
        id = esc(c.id()),
    )
}

/// `GET /collections/{id}/queryables`
pub async fn queryables(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let f = params::format_only(req.query_string())?;
    let base = state.base_url(&req);
    let format = respond::negotiate(&req, f);
    let id = path.into_inner();
    let st = state.clone();
    let body = web::block(move || -> Result<Tagged, ApiError> {
        let live = st.service.live();
        let c = collection_or_404(&live.catalog, &id)?;
        Ok(match format {
            Format::Json => respond::tagged(SCHEMA_JSON, schema(&base, c).to_string()),
            Format::Html => {
                let trail = [
                    ("/".to_owned(), "Home".to_owned()),
                    ("/collections?f=html".to_owned(), "Collections".to_owned()),
                    (
                        format!("/collections/{}?f=html", c.id()),
                        c.spec.title.to_owned(),
                    ),
                ];
                let json_href = format!("/collections/{}/queryables?f=json", c.id());
                respond::tagged(
                    HTML,
                    html::page("Queryables", &trail, &table(c), &json_href),
                )
            }
        })
    })
    .await??;
    Ok(body.send(&req))
}
