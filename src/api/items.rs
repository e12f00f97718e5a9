//! The features of a collection: `/collections/{id}/items` (a page, with its paging links) and
//! `/collections/{id}/items/{fid}`, as GeoJSON or HTML, and a page as GeoJSON Text Sequences
//! ([`super::seq`]). Both are built on the blocking pool, as they read the published state and a
//! page can hold 10,000 features. Coordinates are written in the `crs` asked for
//! ([`super::crs`]), with the `properties` asked for, or without geometry (`skipGeometry`).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use std::sync::Arc;

use super::AppState;
use super::cache::CachedPage;
use super::crs::{self, Crs};
use super::error::ApiError;
use super::handlers::{collection_or_404, link};
use askama::Template;

use super::html::{self, Cell};
use super::params::{self, Format, ItemsParams};
use super::respond::{self, GEOJSON, GEOJSON_SEQ, HTML, JSON, Tagged};
use crate::catalog::Collection;
use crate::catalog::write::{PropertySelection, Reproject, WriteOptions};

/// The parameters that change how features are written, not which: what the HTML pages leave out
/// of the GeoJSON their map loads.
const WRITE_PARAMS: &[&str] = &["crs", "properties", "skipGeometry"];

/// The reprojection of stored geometries into `crs`, for the writers.
pub(super) fn reprojection(crs: Crs) -> impl Fn(&mut geo::Geometry<f64>) -> Result<(), String> {
    move |g| crs::from_crs84(crs, g).map_err(|e| e.to_string())
}

/// `properties`, checked against the collection.
pub(super) fn property_selection(
    c: &Collection,
    names: Option<&Vec<String>>,
) -> Result<Option<PropertySelection>, ApiError> {
    Ok(names.map(|n| c.select_properties(n)).transpose()?)
}

/// The write options of a request: `reproject` and `selection` are what [`reprojection`] and
/// [`property_selection`] made for it.
pub(super) fn write_options<'a>(
    crs: Crs,
    reproject: Reproject<'a>,
    selection: Option<&'a PropertySelection>,
    skip_geometry: bool,
) -> WriteOptions<'a> {
    WriteOptions {
        reproject: (crs != Crs::Crs84).then_some(reproject),
        properties: selection,
        skip_geometry,
    }
}

/// How many features match, and the page of them: [`Collection::page_sorted`], and for a `bbox`
/// in a projected `bbox-crs` only the features that meet it in that CRS (the CRS84 box around it
/// selects a few more).
pub(super) fn select_page(
    c: &Collection,
    p: &ItemsParams,
) -> Result<(usize, Vec<usize>), ApiError> {
    let Some(b) = p.projected_bbox else {
        return Ok(c.page_sorted(
            &p.selection,
            &p.sortby,
            p.datetime.as_ref(),
            p.offset,
            p.limit,
        )?);
    };
    let (_, all) = c.page_sorted(&p.selection, &p.sortby, p.datetime.as_ref(), 0, usize::MAX)?;
    let kept: Vec<usize> = all
        .into_iter()
        .filter(|&i| {
            c.get(i)
                .is_some_and(|f| crs::in_box(p.bbox_crs, b, &f.geometry()))
        })
        .collect();
    let rows = kept.iter().skip(p.offset).take(p.limit).copied().collect();
    Ok((kept.len(), rows))
}

/// A query string equal to the request's but for the given overrides.
fn query_with(pairs: &[(String, String)], overrides: &[(&str, String)]) -> String {
    let mut out: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k))
        .cloned()
        .collect();
    out.extend(overrides.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    serde_urlencoded::to_string(out).unwrap_or_default()
}

/// One page of an `/items` answer: which features, out of how many, and where the neighbours are.
struct Page<'a> {
    collection: &'a Collection,
    /// Indexes into the collection's features.
    rows: Vec<usize>,
    matched: usize,
    offset: usize,
    pairs: &'a [(String, String)],
    items_url: String,
    next: Option<[(&'static str, String); 2]>,
    prev: Option<[(&'static str, String); 2]>,
}

impl Page<'_> {
    /// This page's URL in format `f`, with `extra` parameters replaced.
    fn href(&self, f: &str, extra: &[(&str, String)]) -> String {
        let mut o: Vec<(&str, String)> = vec![("f", f.to_owned())];
        o.extend(extra.iter().cloned());
        format!("{}?{}", self.items_url, query_with(self.pairs, &o))
    }
}

/// `GET /collections/{id}/items`
pub async fn items(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if path.as_str() == crate::reference::SITES {
        let pairs = params::parse_pairs(req.query_string())?;
        if let Some(format) = super::transfer::export_format(&pairs) {
            return super::transfer::export(&state, format, pairs).await;
        }
    }
    let query = req.query_string().to_owned();
    // What `f` does not say, the Accept header does.
    let accepted = respond::negotiate(&req, None);
    let wants_seq = respond::prefers_seq(&req);
    let base = state.base_url(&req);
    let cid = path.into_inner();
    let st = state.clone();
    // Selecting and serialising a page of up to 10,000 features, under the published state's lock:
    // on the blocking pool.
    let answer = web::block(move || -> Result<Answer, ApiError> {
        let live = st.service.live();
        // The same page of the same published state, asked for again: sent as it was made.
        let key = format!("{cid}\u{0}{query}\u{0}{base}\u{0}{accepted:?}{wants_seq}");
        if let Some(page) = st.pages.get(live.generation, &key) {
            return Ok(Answer::Page(stamped(&page), page.crs));
        }
        let published = collection_or_404(&live.catalog, &cid)?;
        let hexagons = cid == crate::risk::RISK_HEXAGONS;
        let extras: &[&str] = if hexagons { &["resolution"] } else { &[] };
        let (mut p, own) = params::parse_items_with(&query, published.spec.queryables, extras)?;
        // `risk-hexagons` at another resolution than the published one: binned for this request.
        let mut other = None;
        if let Some((_, v)) = own.iter().find(|(k, _)| k == "resolution") {
            let r = v
                .parse::<u8>()
                .map_err(|_| {
                    ApiError::bad_parameter("resolution", format!("{v:?} is not a whole number"))
                })
                .and_then(|r| {
                    crate::risk::hexagons::resolution(r)
                        .map_err(|e| ApiError::bad_parameter("resolution", e))
                })?;
            if u8::from(r) != crate::risk::hexagons::DEFAULT_RESOLUTION
                && let Some(table) = live.sites()
            {
                other = Some(
                    crate::service::risk::hexagon_collection(table, r)
                        .map_err(ApiError::internal_from)?,
                );
            }
        }
        let c = other.as_ref().unwrap_or(published);
        p.compile_filter(c.queryables())?;
        let selection = property_selection(c, p.properties.as_ref())?;
        let reproject = reprojection(p.crs);
        let options = write_options(p.crs, &reproject, selection.as_ref(), p.skip_geometry);
        // One pass: the number matched and the page, never a list of every match.
        let (matched, rows) = select_page(c, &p)?;
        if p.seq || (p.format.is_none() && wants_seq) {
            let first = super::seq::first_batch(c, &rows, &options)?;
            let source = match other {
                // Features of the published state: looked up again, batch by batch, by id.
                None => super::seq::Source::Published {
                    cid,
                    ids: rows
                        .iter()
                        .filter_map(|&i| c.get(i).map(|f| f.id().to_owned()))
                        .collect(),
                },
                Some(owned) => super::seq::Source::Owned {
                    collection: Box::new(owned),
                    rows,
                },
            };
            return Ok(Answer::Seq(Box::new(super::seq::Plan {
                source,
                first,
                crs: p.crs,
                selection,
                skip_geometry: p.skip_geometry,
            })));
        }
        let limit = p.limit.to_string();
        let end = p.offset.saturating_add(rows.len());
        let next = (end < matched).then(|| [("offset", end.to_string()), ("limit", limit.clone())]);
        // From past the end, "previous" is the last full page, not another empty one.
        let prev = (p.offset > 0).then(|| {
            let start = p.offset.min(matched).saturating_sub(p.limit);
            [("offset", start.to_string()), ("limit", limit.clone())]
        });
        let page = Page {
            collection: c,
            rows,
            matched,
            offset: p.offset,
            pairs: &p.pairs,
            items_url: format!("{base}/collections/{}/items", c.id()),
            next,
            prev,
        };
        let made = Arc::new(match p.format.unwrap_or(accepted) {
            Format::Json => items_json(&base, &page, &options, p.crs)?,
            Format::Html => {
                let t = items_html(&page)?;
                CachedPage {
                    content_type: t.content_type,
                    tag: t.tag,
                    head: t.body,
                    tail: String::new(),
                    stamped: false,
                    crs: None,
                }
            }
        });
        let body = stamped(&made);
        let crs = made.crs;
        st.pages.put(live.generation, key, made);
        Ok(Answer::Page(body, crs))
    })
    .await??;
    Ok(match answer {
        Answer::Page(body, crs) => {
            let res = body.send(&req);
            match crs {
                Some(uri) => respond::content_crs(res, uri),
                None => res,
            }
        }
        Answer::Seq(plan) => super::seq::stream(state, *plan),
    })
}

/// What an `/items` request is answered with.
enum Answer {
    /// A page, and the URI of its CRS (JSON) for `Content-Crs`.
    Page(Tagged, Option<&'static str>),
    /// GeoJSON Text Sequences, streamed.
    Seq(Box<super::seq::Plan>),
}

/// A cached page as a response: its time stamp is the time it is sent.
fn stamped(page: &CachedPage) -> Tagged {
    let mut body = String::with_capacity(page.head.len() + page.tail.len() + 40);
    body.push_str(&page.head);
    if page.stamped {
        body.push_str(&format!(
            ",\"timeStamp\":\"{}\"",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    body.push_str(&page.tail);
    Tagged {
        content_type: page.content_type,
        tag: page.tag.clone(),
        body,
    }
}

fn items_json(
    base: &str,
    page: &Page,
    options: &WriteOptions<'_>,
    crs: Crs,
) -> Result<CachedPage, ApiError> {
    let c = page.collection;
    let mut links = vec![
        link(page.href("json", &[]), "self", GEOJSON, "This page"),
        link(
            page.href("html", &[]),
            "alternate",
            "text/html",
            "This page as HTML",
        ),
        link(
            page.href("geojsonseq", &[]),
            "alternate",
            GEOJSON_SEQ,
            "This page as GeoJSON Text Sequences",
        ),
        link(
            format!("{base}/collections/{}", c.id()),
            "collection",
            JSON,
            c.spec.title,
        ),
    ];
    if let Some(n) = &page.next {
        links.push(link(page.href("json", n), "next", GEOJSON, "Next page"));
    }
    if let Some(pv) = &page.prev {
        links.push(link(
            page.href("json", pv),
            "prev",
            GEOJSON,
            "Previous page",
        ));
    }
    let head = format!(
        "{{\"type\":\"FeatureCollection\",\"numberMatched\":{},\"numberReturned\":{},\"links\":{}",
        page.matched,
        page.rows.len(),
        Value::Array(links)
    );
    let mut features: Vec<u8> = Vec::with_capacity(page.rows.len() * 2048 + 16);
    features.extend_from_slice(b",\"features\":[");
    for (n, f) in page.rows.iter().filter_map(|&i| c.get(i)).enumerate() {
        if n > 0 {
            features.push(b',');
        }
        f.write_json_with(&mut features, options)?;
    }
    features.extend_from_slice(b"]}");
    // The writers emit JSON text only, which is UTF-8.
    let features = String::from_utf8(features).unwrap_or_default();
    // The time stamp changes on every request; leaving it out of the ETag lets caches revalidate.
    let tag = respond::etag(&[&head, &features]);
    Ok(CachedPage {
        content_type: GEOJSON,
        tag,
        head,
        tail: features,
        stamped: true,
        crs: Some(crs.uri()),
    })
}

/// A column head of the items table; `about` from the schema, for the sites.
struct Head<'a> {
    name: &'a str,
    about: Option<String>,
}

struct Row {
    href: String,
    id: String,
    cells: Vec<Cell>,
}

#[derive(Template)]
#[template(path = "pager.html")]
struct Pager {
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "items.html")]
struct ItemsPage<'a> {
    page: html::Page,
    shown: usize,
    matched: usize,
    offset: usize,
    map: html::FeatureMap,
    pager: Pager,
    heads: Vec<Head<'a>>,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "item.html")]
struct ItemPage {
    page: html::Page,
    geometry: String,
    map: html::FeatureMap,
    /// Whether the properties have their unit and meaning (from the schema: the sites).
    described: bool,
    properties: Vec<PropertyRow>,
}

struct PropertyRow {
    name: String,
    cell: Cell,
    about: Option<String>,
}

/// A property's unit and meaning, where the collection's fields are the schema's (the sites).
fn about(c: &Collection, name: &str) -> Option<String> {
    (c.id() == crate::reference::SITES)
        .then(|| crate::schema::field(name).map(html::about))
        .flatten()
}

fn items_html(page: &Page) -> Result<Tagged, ApiError> {
    let c = page.collection;
    let title_key = c.title_key();
    let columns: Vec<&str> = std::iter::once(title_key)
        .chain(c.spec.queryables.iter().copied())
        .collect();
    let rows = page
        .rows
        .iter()
        .filter_map(|&i| c.get(i))
        .map(|f| Row {
            href: format!(
                "/collections/{}/items/{}?f=html",
                c.id(),
                respond::segment(f.id())
            ),
            id: f.id().to_owned(),
            cells: columns
                .iter()
                .map(|key| Cell::of(&f.property(key).unwrap_or(Value::Null)))
                .collect(),
        })
        .collect();
    // The map wants CRS84 geometries with their properties, whatever this page was asked with.
    let map_pairs: Vec<(String, String)> = page
        .pairs
        .iter()
        .filter(|(k, _)| !WRITE_PARAMS.contains(&k.as_str()))
        .cloned()
        .collect();
    let json_href = format!(
        "/collections/{}/items?{}",
        c.id(),
        query_with(&map_pairs, &[("f", "json".into())])
    );
    let body = ItemsPage {
        shown: page.rows.len(),
        matched: page.matched,
        offset: page.offset,
        map: super::webmap::feature_map(&json_href),
        pager: Pager {
            prev: page.prev.as_ref().map(|p| page.href("html", p)),
            next: page.next.as_ref().map(|n| page.href("html", n)),
        },
        heads: columns
            .iter()
            .map(|name| Head {
                name,
                about: about(c, name),
            })
            .collect(),
        rows,
        page: html::Page::new("Features", html::collection_trail(c), json_href),
    };
    Ok(respond::tagged(HTML, html::render(&body)?))
}

/// `GET /collections/{id}/items/{fid}`
pub async fn item(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cid, fid) = path.into_inner();
    let p = params::parse_item(req.query_string())?;
    let base = state.base_url(&req);
    let format = respond::negotiate(&req, p.format);
    let st = state.clone();
    let crs = p.crs;
    let body = web::block(move || item_body(&st, &cid, &fid, &base, format, &p)).await??;
    let res = body.send(&req);
    Ok(match format {
        Format::Json => respond::content_crs(res, crs.uri()),
        Format::Html => res,
    })
}

/// One feature in `format`, from the published state (which may wait for a bulk publish).
fn item_body(
    state: &AppState,
    cid: &str,
    fid: &str,
    base: &str,
    format: Format,
    p: &params::ItemParams,
) -> Result<Tagged, ApiError> {
    let live = state.service.live();
    let c = collection_or_404(&live.catalog, cid)?;
    let feature = c
        .feature(fid)
        .ok_or_else(|| ApiError::not_found(format!("collection {cid:?} has no feature {fid:?}")))?;
    Ok(match format {
        Format::Json => {
            let selection = property_selection(c, p.properties.as_ref())?;
            let reproject = reprojection(p.crs);
            let options = write_options(p.crs, &reproject, selection.as_ref(), p.skip_geometry);
            let mut text = Vec::with_capacity(2048);
            feature.write_json_with(&mut text, &options)?;
            let mut doc: Value = serde_json::from_slice(&text)?;
            let item_url = format!("{base}/collections/{cid}/items/{}", respond::segment(fid));
            doc["links"] = json!([
                link(
                    format!("{item_url}?f=json"),
                    "self",
                    GEOJSON,
                    "This feature"
                ),
                link(
                    format!("{item_url}?f=html"),
                    "alternate",
                    "text/html",
                    "This feature as HTML"
                ),
                link(
                    format!("{base}/collections/{cid}"),
                    "collection",
                    JSON,
                    c.spec.title
                ),
            ]);
            match feature.revision().filter(|_| options.is_plain()) {
                // A site's ETag is its version in the store: what If-Match must name to change it.
                // Another representation of it (another CRS, some properties) is tagged by content.
                Some(r) => Tagged {
                    content_type: GEOJSON,
                    tag: format!("\"{r}\""),
                    body: doc.to_string(),
                },
                None => respond::tagged(GEOJSON, doc.to_string()),
            }
        }
        Format::Html => {
            let geom = match &*feature.geometry() {
                geo::Geometry::Point(p) => format!("Point ({:.6}, {:.6})", p.x(), p.y()),
                g => format!(
                    "{} with {} vertices",
                    geometry_kind(g),
                    geo::CoordsIter::coords_count(g)
                ),
            };
            let mut trail = html::collection_trail(c);
            trail.push((
                format!("/collections/{cid}/items?f=html"),
                "Features".to_owned(),
            ));
            let json_href = format!(
                "/collections/{cid}/items/{}?f=json",
                respond::segment(feature.id())
            );
            let title = match feature.property("name") {
                Some(Value::String(name)) => name,
                _ => feature.id().to_owned(),
            };
            let properties = feature
                .properties()
                .iter()
                .map(|(name, v)| PropertyRow {
                    name: name.clone(),
                    cell: Cell::of(v),
                    about: about(c, name),
                })
                .collect();
            let body = ItemPage {
                geometry: geom,
                map: super::webmap::feature_map(&json_href),
                described: c.id() == crate::reference::SITES,
                properties,
                page: html::Page::new(title, trail, json_href),
            };
            respond::tagged(HTML, html::render(&body)?)
        }
    })
}

fn geometry_kind(g: &geo::Geometry<f64>) -> &'static str {
    match g {
        geo::Geometry::Point(_) => "Point",
        geo::Geometry::Line(_) => "Line",
        geo::Geometry::LineString(_) => "LineString",
        geo::Geometry::Polygon(_) => "Polygon",
        geo::Geometry::MultiPoint(_) => "MultiPoint",
        geo::Geometry::MultiLineString(_) => "MultiLineString",
        geo::Geometry::MultiPolygon(_) => "MultiPolygon",
        geo::Geometry::GeometryCollection(_) => "GeometryCollection",
        geo::Geometry::Rect(_) => "Rect",
        geo::Geometry::Triangle(_) => "Triangle",
    }
}
