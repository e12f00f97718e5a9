//! The web map: `/map` (an HTML page drawing the service's own vector tiles with MapLibre GL JS),
//! `/map/style.json` (its MapLibre style, made from the published catalog) and `/map/static/{file}`
//! (the page's script and style sheet and the vendored libraries, embedded in the binary so the map
//! works from any directory and with no internet).
//!
//! The style has one vector source per collection, with the collection's tile endpoint as its
//! template, and layers only for the collections the catalog holds: the risk layers appear once
//! they are published. Colour ramps for the hazard `load` are scaled to the loads in the data. Its
//! `metadata` carries what the page's layer switcher, legend, filters and download links need, so
//! a copy of the style on a static host (with the PMTiles archive) is all the page reads.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::ApiError;
use super::params;
use super::respond::{self, HTML, JSON};
use crate::catalog::{Catalog, Collection};
use crate::model::SiteKind;

/// The page itself; `__V__` becomes the assets' version.
const MAP_HTML: &str = include_str!("../../web/map.html");

/// The files under `/map/static/`: name, content type, bytes.
const STATIC: &[(&str, &str, &[u8])] = &[
    ("map.js", JS, include_bytes!("../../web/map.js")),
    ("map.css", CSS, include_bytes!("../../web/map.css")),
    ("pages.css", CSS, include_bytes!("../../web/pages.css")),
    (
        "feature-map.js",
        JS,
        include_bytes!("../../web/feature-map.js"),
    ),
    (
        "maplibre-gl-csp.js",
        JS,
        include_bytes!("../../web/vendor/maplibre-gl-csp.js"),
    ),
    (
        "maplibre-gl-csp-worker.js",
        JS,
        include_bytes!("../../web/vendor/maplibre-gl-csp-worker.js"),
    ),
    (
        "maplibre-gl.css",
        CSS,
        include_bytes!("../../web/vendor/maplibre-gl.css"),
    ),
    (
        "pmtiles.js",
        JS,
        include_bytes!("../../web/vendor/pmtiles.js"),
    ),
    (
        "maplibre-gl.LICENSE.txt",
        TEXT,
        include_bytes!("../../web/vendor/maplibre-gl.LICENSE.txt"),
    ),
    (
        "pmtiles.LICENSE.txt",
        TEXT,
        include_bytes!("../../web/vendor/pmtiles.LICENSE.txt"),
    ),
    (
        "VERSIONS.md",
        MARKDOWN,
        include_bytes!("../../web/vendor/VERSIONS.md"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const MARKDOWN: &str = "text/markdown; charset=utf-8";
/// The style's media type (MapLibre reads any JSON).
const STYLE: &str = JSON;

/// Static files are asked for with `?v=` this version, so they can be cached for a year: a build
/// with other files has another version, and the page (always revalidated) names it.
pub(super) fn assets_version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let parts: Vec<&str> = STATIC
            .iter()
            .map(|(name, _, bytes)| {
                // Every embedded file is text; a file that were not would still change the name.
                std::str::from_utf8(bytes).unwrap_or(name)
            })
            .collect();
        respond::etag(&parts)
            .trim_start_matches("W/")
            .trim_matches('"')
            .get(..12)
            .unwrap_or_default()
            .to_owned()
    })
}

/// The URL of static file `name`, versioned.
pub(super) fn asset(name: &str) -> String {
    format!("/map/static/{name}?v={}", assets_version())
}

/// The small map of the page's own features (read from `json_href`, the page's GeoJSON twin) that
/// an items or feature page shows.
pub(super) fn feature_map(json_href: &str) -> super::html::FeatureMap {
    super::html::FeatureMap {
        css: asset("maplibre-gl.css"),
        src: json_href.to_owned(),
        maplibre: asset("maplibre-gl-csp.js"),
        script: asset("feature-map.js"),
    }
}

/// `GET /map`
pub async fn page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    // The page takes its own parameters (source, archive), read by its script; none is the server's.
    let body = MAP_HTML.replace("__V__", assets_version());
    Ok(respond::send(&req, HTML, body))
}

/// `GET /map/static/{file}`
pub async fn static_file(
    req: HttpRequest,
    file: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = file.into_inner();
    let (_, content_type, bytes) = STATIC.iter().find(|(n, _, _)| *n == name).ok_or_else(|| {
        ApiError::not_found(format!(
            "no static file {name:?} for the map; there are: {}",
            STATIC
                .iter()
                .map(|(n, ..)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let tag = format!("\"{}-{name}\"", assets_version());
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == tag)
        });
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"));
    Ok(if fresh {
        res.finish()
    } else {
        res.content_type(*content_type).body(*bytes)
    })
}

/// `GET /map/style.json`
pub async fn style(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    params::format_only(req.query_string())?;
    let base = state.base_url(&req);
    let st = state.clone();
    // Reads the published state (waiting for its lock) and scans the loads: on the blocking pool.
    let doc = web::block(move || style_document(&st.service.live().catalog, &base)).await?;
    let body = doc.to_string();
    // From the document alone: the same on every replica that publishes the same state.
    let tag = respond::etag(&[&body]);
    Ok(respond::with_etag(&req, STYLE, tag, body))
}

/// The OpenAPI paths of the web map.
pub(super) fn add_paths(paths: &mut Map<String, Value>) {
    let nf = json!({ "$ref": "#/components/responses/NotFound" });
    let bad = json!({ "$ref": "#/components/responses/BadRequest" });
    let body = |d: &str, media: &str| json!({ "description": d, "content": { media: { "schema": { "type": "string" } } } });
    paths.insert(
        "/map".into(),
        json!({ "get": { "summary": "The web map (MapLibre GL JS): risk layers from the service's vector tiles, \
            with a layer switcher, legend, filters, site popups, downstream paths, a near-border tool and downloads. \
            Its own parameters, read in the browser: source=tiles|pmtiles|geojson, archive (with pmtiles), style",
            "responses": { "200": body("The page", "text/html"), "304": { "description": "Not modified" } } } }),
    );
    paths.insert(
        "/map/style.json".into(),
        json!({ "get": { "summary": "The web map's MapLibre style (v8): a vector source per collection and layers for \
            the published collections only; metadata for the page's layer switcher, legend, filters and downloads",
            "parameters": [{ "$ref": "#/components/parameters/f" }],
            "responses": { "200": { "description": "A MapLibre style", "content": { "application/json": { "schema": { "type": "object" } } } },
                "304": { "description": "Not modified" }, "400": bad } } }),
    );
    paths.insert(
        "/map/static/{file}".into(),
        json!({ "get": { "summary": "The web map's script and style sheet and the vendored MapLibre GL JS and pmtiles \
            libraries with their licences, cached for a year (their URLs carry the build's version)",
            "parameters": [{ "name": "file", "in": "path", "required": true, "schema": { "type": "string" },
                "description": STATIC.iter().map(|(n, ..)| *n).collect::<Vec<_>>().join(", ") }],
            "responses": { "200": body("The file", "text/javascript"), "304": { "description": "Not modified" }, "404": nf } } }),
    );
}

/// The colours of the risk classes, low to very high.
pub const CLASS_COLOURS: [(&str, &str, &str); 4] = [
    ("low", "Low", "#1a9850"),
    ("medium", "Medium", "#e6b531"),
    ("high", "High", "#f46d43"),
    ("very_high", "Very high", "#a50026"),
];
/// Sites without a risk class yet.
const UNSCORED: &str = "#6b6b7b";
/// The hazard-load ramp, from the smallest load to the largest.
const LOAD_RAMP: [&str; 4] = ["#fdd870", "#fb9a29", "#dd4a10", "#7a0a03"];
const RIVER: &str = "#6ea8d8";
const WATER: &str = "#b9d7ee";
const LAND: &str = "#f7f5ef";
const NEIGHBOUR: &str = "#e6e4de";
const BORDER: &str = "#6d4f86";

/// What the page needs to know of one drawn collection.
struct Drawn {
    id: String,
    title: String,
    geometry: &'static str,
    layers: Vec<Value>,
    legend: Vec<Value>,
    visible: bool,
}

/// The MapLibre style of the risk map, for the collections `catalog` holds, with absolute URLs
/// under `base`.
pub fn style_document(catalog: &Catalog, base: &str) -> Value {
    // Bottom to top: what a later layer draws covers an earlier one.
    const ORDER: &[&str] = &[
        "countries",
        "country-summary",
        "water-bodies",
        "risk-hexagons",
        "rivers",
        "risk-reaches",
        "borders",
        "border-crossings",
        "sites",
    ];
    let basin = site_countries(catalog);
    let mut drawn: Vec<Drawn> = Vec::new();
    for id in ORDER {
        if let Some(d) = catalog.collection(id).and_then(|c| known_layers(c, &basin)) {
            drawn.push(d);
        }
    }
    // A collection this style does not know yet is drawn plainly, hidden until switched on.
    for c in &catalog.collections {
        if !ORDER.contains(&c.id())
            && let Some(d) = plain_layers(c)
        {
            let at = drawn
                .iter()
                .position(|x| x.id == crate::reference::SITES)
                .unwrap_or(drawn.len());
            drawn.insert(at, d);
        }
    }
    let mut sources = Map::new();
    let mut layers = vec![json!({
        "id": "background", "type": "background", "paint": { "background-color": "#e4e8ec" }
    })];
    let mut collections = Vec::new();
    for d in drawn {
        let c = catalog.collection(&d.id);
        let mut source = json!({
            "type": "vector",
            "tiles": [format!(
                "{base}/collections/{}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}",
                respond::segment(&d.id)
            )],
            "minzoom": 0,
            "maxzoom": crate::tiles::MAX_ZOOM.min(12),
            "attribution": attribution(base, &d.id),
        });
        if let Some([w, s, e, n]) = c.and_then(|c| c.extent) {
            // Tiles outside the data are never asked for; a point layer's box is widened so that
            // symbols at its edge are not cut.
            let pad = 0.5;
            source["bounds"] = json!([
                (w - pad).max(-180.0),
                (s - pad).max(-85.0511),
                (e + pad).min(180.0),
                (n + pad).min(85.0511)
            ]);
        }
        sources.insert(d.id.clone(), source);
        let ids: Vec<Value> = d.layers.iter().map(|l| l["id"].clone()).collect();
        for mut l in d.layers {
            l["source"] = json!(d.id);
            l["source-layer"] = json!(d.id);
            if !d.visible {
                l["layout"]["visibility"] = json!("none");
            }
            layers.push(l);
        }
        collections.push(json!({
            "id": d.id,
            "title": d.title,
            "geometry": d.geometry,
            "layers": ids,
            "visible": d.visible,
            "legend": d.legend,
            "downloads": downloads(base, &d.id),
            "items": format!("{base}/collections/{}/items", respond::segment(&d.id)),
        }));
    }
    json!({
        "version": 8,
        "name": "tailings-atlas: Syr Darya basin risk map",
        "center": [70.6, 41.3],
        "zoom": 5.5,
        "sources": sources,
        "layers": layers,
        "metadata": {
            "tailings-atlas:collections": collections,
            "tailings-atlas:filters": filters(catalog),
            "tailings-atlas:bounds": sites_bounds(catalog),
            "tailings-atlas:labels": country_labels(catalog),
            "tailings-atlas:base": base,
        },
    })
}

/// The data's attribution, short, as the map shows it, linking to the full text at `/attribution`.
fn attribution(base: &str, id: &str) -> String {
    let text = match id {
        "countries" | "country-summary" => {
            "Countries © OpenStreetMap contributors (ODbL), Natural Earth"
        }
        "rivers" | "risk-reaches" | "border-crossings" => "Rivers: Natural Earth, GSHHG (LGPL-3.0)",
        "sites" | "risk-hexagons" => "Sites: public sources, GeoNames (CC BY 4.0)",
        _ => "Natural Earth",
    };
    // MapLibre shows attributions as HTML; the base comes from the request's Host.
    format!(
        "<a href=\"{}/attribution\">{text}</a>",
        super::html::escape(base)
    )
}

/// The download links of a collection: every format its items resource exports.
fn downloads(base: &str, id: &str) -> Vec<Value> {
    let items = format!("{base}/collections/{}/items", respond::segment(id));
    if id == crate::reference::SITES {
        // The export formats (README, "Export"): the whole selection, not a page.
        [
            ("GeoJSON", "geojson"),
            ("CSV", "csv"),
            ("GeoPackage", "gpkg"),
        ]
        .iter()
        .map(|(label, f)| json!({ "label": label, "href": format!("{items}?f={f}") }))
        .collect()
    } else {
        vec![json!({
            "label": "GeoJSON",
            "href": format!("{items}?f=json&limit={}", params::MAX_LIMIT),
        })]
    }
}

/// The countries the sites declare, in order.
fn site_countries(catalog: &Catalog) -> Vec<&str> {
    let set: BTreeSet<&str> = catalog
        .sites()
        .map(|t| {
            t.records()
                .iter()
                .map(|r| r.site.country.as_str())
                .collect()
        })
        .unwrap_or_default();
    set.into_iter().collect()
}

/// The values the page's filters offer: the sites' countries and kinds, and the risk classes.
fn filters(catalog: &Catalog) -> Value {
    json!({
        "country": site_countries(catalog),
        "kind": SiteKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "risk_class": CLASS_COLOURS
            .iter()
            .map(|(v, label, c)| json!({ "value": v, "label": label, "colour": c }))
            .collect::<Vec<_>>(),
    })
}

/// Where each country's name goes, as HTML labels (the style uses no fonts): a point inside the
/// largest part of the country within the sites' box widened by 1.5° (or of the whole country,
/// where none of it lies in that box).
fn country_labels(catalog: &Catalog) -> Vec<Value> {
    use geo::{Area, BooleanOps, Centroid, Contains, InteriorPoint};
    let Some(c) = catalog.collection("countries") else {
        return Vec::new();
    };
    let [w, s, e, n] = sites_bounds(catalog);
    let m = 1.5;
    let view = geo::Rect::new(
        geo::coord! { x: w - m, y: s - m },
        geo::coord! { x: e + m, y: n + m },
    )
    .to_polygon();
    let largest = |mp: geo::MultiPolygon<f64>| {
        mp.into_iter()
            .max_by(|a, b| a.unsigned_area().total_cmp(&b.unsigned_area()))
    };
    c.iter()
        .filter_map(|f| {
            let name = match f.property("name") {
                Some(Value::String(s)) => s,
                _ => return None,
            };
            let mp = match &*f.geometry() {
                geo::Geometry::Polygon(p) => geo::MultiPolygon(vec![p.clone()]),
                geo::Geometry::MultiPolygon(mp) => mp.clone(),
                _ => return None,
            };
            let part = largest(mp.intersection(&view)).or_else(|| largest(mp))?;
            // The centroid where it lies inside (it reads best), else a point surely inside.
            let p = part
                .centroid()
                .filter(|p| part.contains(p))
                .or_else(|| part.interior_point())?;
            Some(json!({ "text": name, "lon": round6(p.x()), "lat": round6(p.y()), "kind": "country" }))
        })
        .collect()
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Where the map opens: the sites' box, or the basin's without sites.
fn sites_bounds(catalog: &Catalog) -> [f64; 4] {
    catalog
        .collection(crate::reference::SITES)
        .and_then(|c| c.extent)
        .unwrap_or([66.0, 39.0, 78.5, 46.0])
}

/// The numeric values of `property` over a collection's features.
fn values(c: &Collection, property: &str) -> Vec<f64> {
    c.iter()
        .filter_map(|f| f.property(property).and_then(|v| v.as_f64()))
        .filter(|v| v.is_finite())
        .collect()
}

/// Four strictly increasing stops for a ramp over `values`: the smallest, the median, the 90th
/// percentile and the largest, pulled apart where they coincide (loads are skewed: a few reaches
/// below the worst sites carry most of it). Without values, 0 to 1.
pub fn ramp_stops(mut values: Vec<f64>) -> [f64; 4] {
    values.retain(|v| v.is_finite() && *v >= 0.0);
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    let mut s = if values.is_empty() {
        [0.0, 0.25, 0.5, 1.0]
    } else {
        [0.0, at(0.5), at(0.9), at(1.0)]
    };
    let top = s[3].max(1e-9);
    for i in 1..4 {
        // Each stop at least 0.1 % of the range above the one before.
        let min = s[i - 1] + top * 0.001;
        if s[i] < min {
            s[i] = min;
        }
    }
    s
}

/// `["interpolate", ["linear"], <value>, s0, o0, s1, o1, …]`.
fn interpolate(input: Value, stops: &[f64; 4], outputs: [Value; 4]) -> Value {
    let mut e = vec![json!("interpolate"), json!(["linear"]), input];
    for (s, o) in stops.iter().zip(outputs) {
        e.push(json!(s));
        e.push(o);
    }
    Value::Array(e)
}

fn load_of(stops: &[f64; 4]) -> Value {
    json!(["coalesce", ["to-number", ["get", "load"]], stops[0]])
}

fn load_colour(stops: &[f64; 4]) -> Value {
    interpolate(load_of(stops), stops, LOAD_RAMP.map(|c| json!(c)))
}

fn load_legend(what: &str, stops: &[f64; 4], shape: &str) -> Vec<Value> {
    stops
        .iter()
        .zip(LOAD_RAMP)
        .map(|(s, c)| json!({ "label": format!("{what} {}", round_sig(*s)), "colour": c, "shape": shape }))
        .collect()
}

/// A number to three significant digits, for legends.
fn round_sig(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}

/// The colour of a site: by its risk class, or grey before it has one.
fn class_colour() -> Value {
    let mut e = vec![json!("match"), json!(["get", "risk_class"])];
    for (v, _, c) in CLASS_COLOURS {
        e.push(json!(v));
        e.push(json!(c));
    }
    e.push(json!(UNSCORED));
    Value::Array(e)
}

fn class_legend(shape: &str) -> Vec<Value> {
    let mut l: Vec<Value> = CLASS_COLOURS
        .iter()
        .map(|(_, label, c)| json!({ "label": label, "colour": c, "shape": shape }))
        .collect();
    l.push(json!({ "label": "Not scored", "colour": UNSCORED, "shape": shape }));
    l
}

/// Line widths that grow with the zoom: `w` at z4, `w * 4` at z12.
fn zoom_width(w: f64) -> Value {
    json!([
        "interpolate",
        ["exponential", 1.5],
        ["zoom"],
        4,
        w,
        12,
        w * 4.0
    ])
}

fn layer(id: &str, kind: &str, paint: Value) -> Value {
    json!({ "id": id, "type": kind, "paint": paint, "layout": {} })
}

/// The layers of a collection this style knows, by its id.
fn known_layers(c: &Collection, basin: &[&str]) -> Option<Drawn> {
    let id = c.id();
    let mut d = Drawn {
        id: id.to_owned(),
        title: c.spec.title.to_owned(),
        geometry: "polygon",
        layers: Vec::new(),
        legend: Vec::new(),
        visible: true,
    };
    match id {
        "countries" => {
            // The countries that hold sites stand out from their neighbours.
            let fill = if basin.is_empty() {
                json!(LAND)
            } else {
                json!(["match", ["get", "iso3"], basin, LAND, NEIGHBOUR])
            };
            d.layers = vec![
                layer("countries-fill", "fill", json!({ "fill-color": fill })),
                layer(
                    "countries-outline",
                    "line",
                    json!({ "line-color": "#b9b2a4", "line-width": 0.6 }),
                ),
            ];
            d.legend = vec![
                json!({ "label": "Countries with sites", "colour": LAND, "shape": "fill" }),
                json!({ "label": "Neighbouring countries", "colour": NEIGHBOUR, "shape": "fill" }),
            ];
        }
        "country-summary" => {
            // The load a country passes downstream, as a choropleth under the rivers; off at first.
            let stops = ramp_stops(values(c, "load_out_total"));
            d.visible = false;
            d.layers = vec![layer(
                "country-summary-fill",
                "fill",
                json!({
                    "fill-color": interpolate(
                        json!(["coalesce", ["to-number", ["get", "load_out_total"]], 0]),
                        &stops,
                        LOAD_RAMP.map(|c| json!(c)),
                    ),
                    "fill-opacity": 0.35,
                }),
            )];
            d.legend = load_legend("load passed on", &stops, "fill");
        }
        "water-bodies" => {
            d.layers = vec![
                layer("water-bodies-fill", "fill", json!({ "fill-color": WATER })),
                layer(
                    "water-bodies-outline",
                    "line",
                    json!({ "line-color": "#86b6dc", "line-width": 0.6 }),
                ),
            ];
            d.legend =
                vec![json!({ "label": "Lakes and reservoirs", "colour": WATER, "shape": "fill" })];
        }
        "risk-hexagons" => {
            d.layers = vec![layer(
                "risk-hexagons-fill",
                "fill",
                json!({
                    "fill-color": interpolate(
                        json!(["coalesce", ["to-number", ["get", "max_score"]], 0]),
                        &[0.0, 25.0, 50.0, 100.0],
                        [json!("#fff1c1"), json!(CLASS_COLOURS[1].2), json!(CLASS_COLOURS[2].2), json!(CLASS_COLOURS[3].2)],
                    ),
                    "fill-opacity": 0.4,
                    "fill-outline-color": "rgba(120,60,20,0.35)",
                }),
            )];
            d.legend = vec![
                json!({ "label": "highest score 0–25", "colour": "#fff1c1", "shape": "fill" }),
                json!({ "label": "highest score 50", "colour": CLASS_COLOURS[2].2, "shape": "fill" }),
                json!({ "label": "highest score 100", "colour": CLASS_COLOURS[3].2, "shape": "fill" }),
            ];
        }
        "rivers" => {
            d.geometry = "line";
            let major = json!([
                "any",
                ["==", ["get", "source"], "natural_earth"],
                ["in", ["coalesce", ["get", "level"], 0], ["literal", [1, 2]]]
            ]);
            d.layers = vec![layer(
                "rivers-line",
                "line",
                json!({
                    // Main rivers (GSHHG levels 1–2, the named Natural Earth lines) drawn wider.
                    "line-color": RIVER,
                    "line-width": ["interpolate", ["exponential", 1.5], ["zoom"],
                        4, ["case", major.clone(), 1.5, 0.6],
                        12, ["case", major, 5, 2.4]],
                    "line-opacity": ["match", ["get", "feature_class"], "Canal", 0.5, 0.95],
                }),
            )];
            d.legend = vec![json!({ "label": "Rivers", "colour": RIVER, "shape": "line" })];
        }
        "risk-reaches" => {
            d.geometry = "line";
            let stops = ramp_stops(values(c, "load"));
            let load = load_of(&stops);
            d.layers = vec![layer(
                "risk-reaches-line",
                "line",
                json!({
                    "line-color": load_colour(&stops),
                    "line-width": ["interpolate", ["linear"], ["zoom"],
                        4, interpolate(load.clone(), &stops, [json!(0.8), json!(1.6), json!(3.2), json!(5.5)]),
                        10, interpolate(load, &stops, [json!(2), json!(4), json!(8), json!(14)])],
                    "line-opacity": 0.9,
                }),
            )];
            d.legend = load_legend("load", &stops, "line");
        }
        "borders" => {
            d.geometry = "line";
            d.layers = vec![
                layer(
                    "borders-casing",
                    "line",
                    json!({ "line-color": "rgba(255,255,255,0.8)", "line-width": zoom_width(2.4) }),
                ),
                layer(
                    "borders-line",
                    "line",
                    json!({
                        "line-color": BORDER,
                        "line-width": zoom_width(1.1),
                        "line-dasharray": [3, 1.5],
                    }),
                ),
            ];
            d.legend = vec![
                json!({ "label": "International borders", "colour": BORDER, "shape": "dash" }),
            ];
        }
        "border-crossings" => {
            d.geometry = "point";
            let stops = ramp_stops(values(c, "load"));
            d.layers = vec![layer(
                "border-crossings-circle",
                "circle",
                json!({
                    "circle-color": load_colour(&stops),
                    "circle-radius": interpolate(load_of(&stops), &stops, [json!(4), json!(7), json!(12), json!(20)]),
                    "circle-opacity": 0.85,
                    "circle-stroke-color": "#3b0a02",
                    "circle-stroke-width": 1.2,
                }),
            )];
            d.legend = load_legend("incoming load", &stops, "circle");
        }
        "sites" => {
            // The sites: by risk class, larger with a higher score.
            d.geometry = "point";
            d.layers = vec![layer(
                "sites-circle",
                "circle",
                json!({
                    "circle-color": class_colour(),
                    "circle-radius": ["interpolate", ["linear"], ["zoom"],
                        4, ["interpolate", ["linear"], ["coalesce", ["to-number", ["get", "risk_score"]], 40], 0, 3, 100, 7],
                        10, ["interpolate", ["linear"], ["coalesce", ["to-number", ["get", "risk_score"]], 40], 0, 6, 100, 13]],
                    "circle-stroke-color": "#ffffff",
                    "circle-stroke-width": 1.3,
                }),
            )];
            d.legend = class_legend("circle");
        }
        _ => return plain_layers(c),
    }
    Some(d)
}

/// A plain drawing of a collection the style has no layers for, by its first geometry.
fn plain_layers(c: &Collection) -> Option<Drawn> {
    let id = c.id();
    let (geometry, kind, paint) = match &*c.iter().next()?.geometry() {
        geo::Geometry::Point(_) | geo::Geometry::MultiPoint(_) => (
            "point",
            "circle",
            json!({ "circle-color": "#5a5a5a", "circle-radius": 4 }),
        ),
        geo::Geometry::LineString(_) | geo::Geometry::MultiLineString(_) => (
            "line",
            "line",
            json!({ "line-color": "#5a5a5a", "line-width": 1.5 }),
        ),
        _ => (
            "polygon",
            "fill",
            json!({ "fill-color": "#5a5a5a", "fill-opacity": 0.3 }),
        ),
    };
    Some(Drawn {
        id: id.to_owned(),
        title: c.spec.title.to_owned(),
        geometry,
        layers: vec![layer(&format!("{id}-{kind}"), kind, paint)],
        legend: vec![json!({ "label": c.spec.title, "colour": "#5a5a5a", "shape": kind })],
        visible: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn increasing(s: &[f64; 4]) -> bool {
        s.windows(2).all(|w| w[0] < w[1])
    }

    #[test]
    fn ramp_stops_are_strictly_increasing_whatever_the_data() {
        assert_eq!(ramp_stops(vec![]), [0.0, 0.25, 0.5, 1.0]);
        for values in [
            vec![5.0],
            vec![0.0, 0.0, 0.0],
            vec![3.0; 100],
            vec![f64::NAN, -1.0, f64::INFINITY],
            (0..1000).map(|i| (i as f64).powi(3)).collect(),
        ] {
            let s = ramp_stops(values.clone());
            assert!(increasing(&s), "{values:?} gave {s:?}");
            assert_eq!(s[0], 0.0);
        }
        // Skewed loads: the median and the 90th percentile, not evenly spaced stops.
        let mut v: Vec<f64> = vec![1.0; 85];
        v.extend(vec![10.0; 14]);
        v.push(1000.0);
        assert_eq!(ramp_stops(v), [0.0, 1.0, 10.0, 1000.0]);
    }

    #[test]
    fn legend_numbers_have_three_significant_digits() {
        assert_eq!(round_sig(0.0), "0");
        assert_eq!(round_sig(1234.5), "1234");
        assert_eq!(round_sig(12.345), "12.3");
        assert_eq!(round_sig(0.012345), "0.0123");
    }

    #[test]
    fn assets_are_versioned_and_the_feature_map_escapes_its_source() {
        let v = assets_version();
        assert_eq!(v.len(), 12);
        assert!(v.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(asset("map.js"), format!("/map/static/map.js?v={v}"));
        let html = askama::Template::render(&feature_map("/collections/x/items?a=1&b=\"<script>"))
            .unwrap();
        assert!(html.contains("data-src=\"/collections/x/items?a=1&#38;b=&#34;&#60;script&#62;\""));
        // Every file the HTML names is embedded.
        for name in ["maplibre-gl.css", "maplibre-gl-csp.js", "feature-map.js"] {
            assert!(STATIC.iter().any(|(n, ..)| *n == name));
        }
        for name in MAP_HTML
            .split('"')
            .filter_map(|s| s.strip_prefix("map/static/"))
        {
            let file = name.split('?').next().unwrap();
            assert!(STATIC.iter().any(|(n, ..)| *n == file), "{file}");
        }
    }

    #[test]
    fn class_colours_cover_every_risk_class() {
        let classes: Vec<&str> = CLASS_COLOURS.iter().map(|(v, ..)| *v).collect();
        assert_eq!(classes, ["low", "medium", "high", "very_high"]);
        let e = class_colour();
        assert_eq!(e[0], "match");
        // match, input, four pairs, the fallback.
        assert_eq!(e.as_array().unwrap().len(), 2 + 8 + 1);
    }
}
