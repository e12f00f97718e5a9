//! The OGC API – Features endpoints but the features themselves ([`super::items`]): landing page,
//! conformance, API definition, collections, health and attribution. Each handler parses, asks the
//! catalog, and renders JSON or HTML; failures are [`ApiError`]s.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::html::{self, Page};
use super::params::{self, CRS84, Format};
use super::respond::{self, GEOJSON, HTML, JSON, OPENAPI, Tagged};
use crate::catalog::{Catalog, Collection};
use crate::service::Live;

/// The conformance classes we implement.
pub const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    // Part 2: coordinate reference systems by reference (src/api/crs.rs)
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
    // OGC API - Tiles (src/api/tiles.rs)
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    // OGC API - Features - Part 3: Filtering, and CQL2 (src/filter)
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/accent-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/property-property",
    "http://www.opengis.net/spec/cql2/1.0/conf/arithmetic",
];

const TITLE: &str = "tailings-atlas: Syr Darya tailings and hazardous sites";

pub(super) fn link(href: String, rel: &str, kind: &str, title: &str) -> Value {
    json!({ "href": href, "rel": rel, "type": kind, "title": title })
}

pub(super) fn collection_or_404<'a>(
    catalog: &'a Catalog,
    id: &str,
) -> Result<&'a Collection, ApiError> {
    catalog.collection(id).ok_or_else(|| {
        let ids: Vec<&str> = catalog.collections.iter().map(|c| c.id()).collect();
        ApiError::not_found(format!(
            "no collection {id:?}; available: {}",
            ids.join(", ")
        ))
    })
}

/// `GET /`
pub async fn landing(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let f = params::format_only(req.query_string())?;
    let base = state.base_url(&req);
    let doc = json!({
        "title": TITLE,
        "description": "Inventory of tailings facilities and hazardous sites in the Syr Darya basin, with the \
            basin's countries, international borders, rivers and water bodies, served as OGC API - Features.",
        "links": [
            link(format!("{base}/?f=json"), "self", JSON, "This document"),
            link(format!("{base}/?f=html"), "alternate", "text/html", "This document as HTML"),
            link(format!("{base}/api"), "service-desc", OPENAPI, "The API definition (OpenAPI 3.0)"),
            link(format!("{base}/api?f=html"), "service-doc", "text/html", "The API documentation"),
            link(format!("{base}/conformance"), "conformance", JSON, "Conformance classes"),
            link(format!("{base}/conformance"), "http://www.opengis.net/def/rel/ogc/1.0/conformance", JSON, "Conformance classes"),
            link(format!("{base}/collections"), "data", JSON, "Collections"),
            link(format!("{base}/collections"), "http://www.opengis.net/def/rel/ogc/1.0/data", JSON, "Collections"),
            link(format!("{base}/attribution"), "license", "text/markdown", "Data sources, attributions and licences"),
        ],
    });
    Ok(match respond::negotiate(&req, f) {
        Format::Json => respond::send(&req, JSON, doc.to_string()),
        Format::Html => {
            let page = Landing {
                page: Page::new(TITLE, Vec::new(), "/?f=json"),
                description: doc["description"].as_str().unwrap_or_default(),
            };
            respond::send(&req, HTML, html::render(&page)?)
        }
    })
}

/// `GET /conformance`
pub async fn conformance(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let f = params::format_only(req.query_string())?;
    Ok(match respond::negotiate(&req, f) {
        Format::Json => respond::send(&req, JSON, json!({ "conformsTo": CONFORMANCE }).to_string()),
        Format::Html => {
            let page = ConformancePage {
                page: Page::new("Conformance", html::home(), "/conformance?f=json"),
                classes: CONFORMANCE,
            };
            respond::send(&req, HTML, html::render(&page)?)
        }
    })
}

/// `GET /api`
pub async fn api(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let f = params::format_only(req.query_string())?;
    Ok(match respond::negotiate(&req, f) {
        Format::Json => respond::send(&req, OPENAPI, state.openapi.clone()),
        Format::Html => {
            let doc: Value = serde_json::from_str(&state.openapi)?;
            let operations = doc["paths"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(path, ops)| {
                    let summary = ops["get"]["summary"].as_str().unwrap_or_default();
                    (path.clone(), summary.to_owned())
                })
                .collect();
            let page = ApiPage {
                page: Page::new("API", html::home(), "/api?f=json"),
                operations,
            };
            respond::send(&req, HTML, html::render(&page)?)
        }
    })
}

/// Resolves a server-relative href (`/attribution`) against the base URL.
fn absolute(base: &str, href: &str) -> String {
    if href.starts_with('/') {
        format!("{base}{href}")
    } else {
        href.to_owned()
    }
}

/// The attributions that apply to a collection: the default layer's, or none of them when the user
/// replaced the layer with a file of their own (whose terms we cannot know).
fn attributions(c: &Collection) -> &'static [crate::reference::Attribution] {
    if c.user_source.is_some() {
        &[]
    } else {
        c.spec.attribution
    }
}

/// (attribution, licence) texts of a collection.
fn terms(c: &Collection) -> (String, String) {
    match &c.user_source {
        Some(file) => (
            format!(
                "Layer replaced by the operator with {file} (--layers); that file's own attribution applies."
            ),
            "The licence of the operator's file".to_owned(),
        ),
        None => (
            c.spec
                .attribution
                .iter()
                .map(|a| a.text)
                .collect::<Vec<_>>()
                .join(" "),
            c.spec
                .attribution
                .iter()
                .map(|a| a.license)
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

fn collection_doc(base: &str, c: &Collection) -> Value {
    let id = c.id();
    let spec = c.spec;
    let (attribution, license) = terms(c);
    let mut links = vec![
        link(format!("{base}/collections/{id}"), "self", JSON, spec.title),
        link(
            format!("{base}/collections/{id}?f=html"),
            "alternate",
            "text/html",
            spec.title,
        ),
        link(
            format!("{base}/collections/{id}/items"),
            "items",
            GEOJSON,
            "Features as GeoJSON",
        ),
        link(
            format!("{base}/collections/{id}/items?f=html"),
            "items",
            "text/html",
            "Features as HTML",
        ),
        link(
            format!("{base}/collections/{id}/queryables"),
            super::queryables::REL_QUERYABLES,
            super::queryables::SCHEMA_JSON,
            "The properties a CQL2 filter may name",
        ),
        link(
            format!("{base}/collections/{id}/tiles"),
            super::tiles::REL_TILESETS_VECTOR,
            JSON,
            "Vector tilesets (MVT, WebMercatorQuad)",
        ),
    ];
    for a in attributions(c) {
        let kind = if a.license_url.starts_with('/') {
            "text/markdown"
        } else {
            "text/html"
        };
        links.push(link(
            absolute(base, a.license_url),
            "license",
            kind,
            a.license,
        ));
    }
    let bbox = c.extent.map(|e| vec![e]).unwrap_or_default();
    json!({
        "id": id,
        "title": spec.title,
        "description": spec.description,
        "attribution": attribution,
        "license": license,
        "itemType": "feature",
        "crs": super::crs::Crs::supported_uris(),
        "storageCrs": CRS84,
        "extent": {
            "spatial": { "bbox": bbox, "crs": CRS84 },
            "temporal": { "interval": [[null, null]] },
        },
        "numberOfFeatures": c.len(),
        "queryables": spec.queryables,
        "links": links,
    })
}

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing<'a> {
    page: Page,
    description: &'a str,
}

#[derive(Template)]
#[template(path = "conformance.html")]
struct ConformancePage {
    page: Page,
    classes: &'static [&'static str],
}

#[derive(Template)]
#[template(path = "api.html")]
struct ApiPage {
    page: Page,
    /// (path, summary) of each GET.
    operations: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "collections.html")]
struct CollectionsPage<'a> {
    page: Page,
    collections: &'a [Collection],
}

#[derive(Template)]
#[template(path = "collection.html")]
struct CollectionPage<'a> {
    page: Page,
    description: &'a str,
    id: &'a str,
    features: usize,
    extent: String,
    queryables: String,
    /// The terms of a layer the operator supplied, instead of the shipped attributions.
    user_terms: Option<String>,
    attributions: &'static [crate::reference::Attribution],
}

fn collection_html(c: &Collection, page: Page) -> Result<String, ApiError> {
    let spec = c.spec;
    let extent = c
        .extent
        .map(|e| format!("{:.4}, {:.4}, {:.4}, {:.4}", e[0], e[1], e[2], e[3]))
        .unwrap_or_else(|| "empty".into());
    html::render(&CollectionPage {
        page,
        description: spec.description,
        id: c.id(),
        features: c.len(),
        extent,
        queryables: spec.queryables.join(", "),
        user_terms: c.user_source.is_some().then(|| self::terms(c).0),
        attributions: attributions(c),
    })
}

/// `GET /collections`
pub async fn collections(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    with_live(req, state, |live, format, base| {
        Ok(match format {
            Format::Json => {
                let docs: Vec<Value> = live
                    .catalog
                    .collections
                    .iter()
                    .map(|c| collection_doc(base, c))
                    .collect();
                let doc = json!({
                    "links": [
                        link(format!("{base}/collections"), "self", JSON, "Collections"),
                        link(format!("{base}/collections?f=html"), "alternate", "text/html", "Collections as HTML"),
                    ],
                    "collections": docs,
                });
                respond::tagged(JSON, doc.to_string())
            }
            Format::Html => {
                let page = CollectionsPage {
                    page: Page::new("Collections", html::home(), "/collections?f=json"),
                    collections: &live.catalog.collections,
                };
                respond::tagged(HTML, html::render(&page)?)
            }
        })
    })
    .await
}

/// `GET /collections/{id}`
pub async fn collection(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    with_collection(req, state, path.into_inner(), |c, format, base| {
        Ok(match format {
            Format::Json => respond::tagged(JSON, collection_doc(base, c).to_string()),
            Format::Html => {
                let json_href = format!("/collections/{}?f=json", c.id());
                let page = Page::new(c.spec.title, html::collections_trail(), json_href);
                respond::tagged(HTML, collection_html(c, page)?)
            }
        })
    })
    .await
}

/// A GET that takes only `f` and answers from the published state: `answer` runs on the blocking
/// pool (the state's lock can wait for a bulk publish) with the format asked for and the base URL.
async fn with_live(
    req: HttpRequest,
    state: web::Data<AppState>,
    answer: impl FnOnce(&Live, Format, &str) -> Result<Tagged, ApiError> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    let f = params::format_only(req.query_string())?;
    let base = state.base_url(&req);
    let format = respond::negotiate(&req, f);
    let st = state.clone();
    let body = web::block(move || answer(&st.service.live(), format, &base)).await??;
    Ok(body.send(&req))
}

/// As [`with_live`], for a resource of collection `id` (404 if there is none).
pub(super) async fn with_collection(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: String,
    answer: impl FnOnce(&Collection, Format, &str) -> Result<Tagged, ApiError> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    with_live(req, state, move |live, format, base| {
        answer(collection_or_404(&live.catalog, &id)?, format, base)
    })
    .await
}

/// `GET /health`: the indexes are built before the server binds, so answering at all means the
/// published state is ready; with a store, it is also asked for its newest version (one indexed
/// read), so a load balancer or orchestrator sees at once when the store is away: 503, `"status":
/// "unready"`, until it is back. `store.behind` is how many versions the store has that this
/// replica has not published yet (0 once it has caught up).
pub async fn health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    // The published state's lock can wait for a bulk publish, and the store read is I/O: both on
    // the blocking pool.
    let (ready, body) = web::block(move || {
        let store = st.service.store.as_ref().map(|store| {
            let published = st.service.live().revision;
            match store.latest_revision() {
                Ok(latest) => json!({
                    "reachable": true,
                    "revision": latest,
                    "published_revision": published,
                    "behind": (latest - published).max(0),
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "health: the store cannot be reached");
                    json!({
                        "reachable": false,
                        "published_revision": published,
                        "error": "the store cannot be reached; the published inventory is still \
                                  served, edits are refused until it is back",
                    })
                }
            }
        });
        // With a read store, how far behind the primary it is (the primary answered above).
        let read_store = st.service.store.as_ref().and_then(|s| s.read_lag()).map(|lag| match lag {
            Ok(lag) => {
                let mut v = serde_json::to_value(&lag).unwrap_or_default();
                v["reachable"] = true.into();
                v
            }
            Err(e) => {
                tracing::warn!(error = %e, "health: the read store or the primary cannot be reached");
                json!({
                    "reachable": false,
                    "error": "the read store, or the primary it is measured against, cannot be reached",
                })
            }
        });
        let ready = store.as_ref().is_none_or(|s| s["reachable"] == true)
            && read_store.as_ref().is_none_or(|s| s["reachable"] == true);
        let live = st.service.live();
        let counts: serde_json::Map<String, Value> = live
            .catalog
            .collections
            .iter()
            .map(|c| (c.id().to_owned(), c.len().into()))
            .collect();
        let segments: serde_json::Map<String, Value> = st
            .service
            .analyzer
            .segment_counts()
            .iter()
            .map(|(id, n)| ((*id).to_owned(), (*n).into()))
            .collect();
        let mut doc = json!({
            "status": if ready { "ok" } else { "unready" },
            "collections": counts,
            "segment_index": segments,
            "river_network": st.service.analyzer.network_summary(),
        });
        if let Some(store) = store {
            doc["store"] = store;
        }
        if let Some(read_store) = read_store {
            doc["read_store"] = read_store;
        }
        (ready, doc.to_string())
    })
    .await?;
    let mut response = if ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    Ok(response
        .content_type(JSON)
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// `GET /attribution`: the data directory's README, with every source and licence.
pub async fn attribution(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    params::format_only(req.query_string())?;
    let st = state.clone();
    let text = web::block(move || st.service.live().catalog.notices.clone())
        .await?
        .ok_or_else(|| ApiError::not_found("this data directory has no README.md"))?;
    Ok(respond::send(&req, "text/markdown; charset=utf-8", text))
}

/// Any path we do not serve.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    ApiError::not_found(format!("no resource at {}", req.path())).error_response()
}
