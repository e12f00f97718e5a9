//! The analysis endpoints: exposure of any point, sites near a border, and the sites nearest a point.
//! Distances are geodesic metres on WGS 84; `_km` parameters are kilometres.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::params::{self, Format};
use super::respond::{self, GEOJSON, JSON};
use crate::catalog::Collection;
use crate::catalog::json::append_properties;
use crate::model::{Iso3, SiteKind};
use crate::reference::SITES;
use crate::service::Live;
use crate::service::queries;

/// The largest `within_km` accepted.
const MAX_WITHIN_KM: f64 = 1_000.0;

/// Reads the named parameters of `query`; any other parameter is an error.
fn take<'a>(
    pairs: &'a [(String, String)],
    allowed: &[&str],
) -> Result<impl Fn(&str) -> Option<&'a str>, ApiError> {
    if let Some((k, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(ApiError::unknown_parameter(k, allowed));
    }
    Ok(move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    })
}

fn number(param: &str, value: Option<&str>, min: f64, max: f64) -> Result<f64, ApiError> {
    let raw = value.ok_or_else(|| ApiError::bad_parameter(param, "is required"))?;
    let text = raw.trim();
    let v: f64 = text
        .parse()
        .ok()
        .filter(|v: &f64| !v.is_nan())
        // `inf` and `infinity` are words, not numbers; digits too many for a float are a number.
        .filter(|v: &f64| v.is_finite() || !text.to_ascii_lowercase().contains("inf"))
        .ok_or_else(|| ApiError::bad_parameter(param, format!("{raw:?} is not a number")))?;
    if v.is_infinite() {
        return Err(ApiError::bad_parameter(
            param,
            format!("{text} is outside [{min}, {max}]"),
        ));
    }
    if v < min || v > max {
        return Err(ApiError::bad_parameter(
            param,
            format!("{v} is outside [{min}, {max}]"),
        ));
    }
    Ok(v)
}

/// An integer in `[min, max]`. Any integer outside, however many digits it has, is out of range;
/// anything else is not an integer.
fn integer(param: &str, raw: &str, min: usize, max: usize) -> Result<usize, ApiError> {
    let text = raw.trim();
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_parameter(
            param,
            format!("{raw:?} is not a positive integer"),
        ));
    }
    // All digits: the only parse failure left is overflow, which is out of range too.
    match digits.parse::<usize>() {
        Ok(n) if !text.starts_with('-') && (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_parameter(
            param,
            format!("{text} is out of range [{min}, {max}]"),
        )),
    }
}

fn point(get: &impl Fn(&str) -> Option<String>) -> Result<[f64; 2], ApiError> {
    Ok([
        number("lon", get("lon").as_deref(), -180.0, 180.0)?,
        number("lat", get("lat").as_deref(), -90.0, 90.0)?,
    ])
}

fn only_json(f: Option<&str>) -> Result<(), ApiError> {
    match f.map(params::parse_format).transpose()? {
        Some(Format::Html) => Err(ApiError::bad_parameter(
            "f",
            "analysis results are served as JSON only",
        )),
        _ => Ok(()),
    }
}

fn sites(live: &Live) -> Result<&Collection, ApiError> {
    live.catalog
        .collection(SITES)
        .ok_or_else(|| ApiError::not_found("no sites collection"))
}

/// Runs one point's analysis on the blocking pool: a downstream walk takes milliseconds, which the
/// actix executor threads must not spend.
async fn analyse(
    state: &web::Data<AppState>,
    lon: f64,
    lat: f64,
    own: Option<crate::model::Iso3>,
) -> Result<crate::analysis::Proximity, ApiError> {
    let state = state.clone();
    Ok(web::block(move || state.service.analyzer.proximity(lon, lat, own.as_ref())).await?)
}

/// `GET /analysis/proximity?lon=&lat=`
pub async fn proximity(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = params::parse_pairs(req.query_string())?;
    let get = take(&pairs, &["lon", "lat", "f"])?;
    only_json(get("f"))?;
    let get = |k: &str| get(k).map(str::to_owned);
    let [lon, lat] = point(&get)?;
    let result = analyse(&state, lon, lat, None).await?;
    let body = serde_json::to_string(&result)?;
    Ok(respond::send(&req, JSON, body))
}

fn feature_collection(features: Vec<String>, matched: usize) -> String {
    let mut out = json!({
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": features.len(),
        "timeStamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "features": [],
    })
    .to_string();
    // The features as written (one pass over the text rather than a parse and a re-serialisation).
    out.truncate(out.len() - 2);
    out.reserve(features.iter().map(|f| f.len() + 1).sum());
    for (i, f) in features.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(f);
    }
    out.push_str("]}");
    out
}

/// `GET /analysis/near-border?within_km=10[&country=KGZ][&neighbour=UZB][&kind=tailings]`
pub async fn near_border(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = params::parse_pairs(req.query_string())?;
    let get = take(&pairs, &["within_km", "country", "neighbour", "kind", "f"])?;
    only_json(get("f"))?;
    let within_km = match get("within_km") {
        None => 10.0,
        v => number("within_km", v, 0.0, MAX_WITHIN_KM)?,
    };
    let iso3 = |param: &str| {
        get(param)
            .map(|raw| {
                Iso3::parse(raw, "country").map_err(|_| {
                    ApiError::bad_parameter(
                        param,
                        format!("{raw:?} is not an ISO 3166-1 alpha-3 country code (such as KGZ)"),
                    )
                })
            })
            .transpose()
    };
    let country = iso3("country")?;
    let neighbour = iso3("neighbour")?;
    let kind = get("kind")
        .map(|raw| {
            raw.trim()
                .to_ascii_lowercase()
                .parse::<SiteKind>()
                .map_err(|_| {
                    ApiError::bad_parameter(
                        "kind",
                        format!(
                            "{raw:?} is not a site kind (one of: {})",
                            SiteKind::ALL
                                .iter()
                                .map(|k| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })
        })
        .transpose()?;
    let query = queries::NearBorderQuery {
        within_m: within_km * 1_000.0,
        country,
        neighbour,
        kind,
    };
    let st = state.clone();
    // With a neighbour, each site's distance to that neighbour's border is searched: on the blocking
    // pool, as it grows with the inventory.
    let features = web::block(move || -> Result<Vec<String>, ApiError> {
        Ok(queries::near_border(&st.service, &query)?
            .into_iter()
            .map(|mut hit| {
                append_properties(
                    &mut hit.geojson,
                    &[
                        ("distance_m", json!(round_dm(hit.distance_m))),
                        ("neighbour", json!(hit.neighbour)),
                    ],
                );
                hit.geojson
            })
            .collect())
    })
    .await??;
    let n = features.len();
    Ok(respond::send(
        &req,
        GEOJSON,
        feature_collection(features, n),
    ))
}

/// Metres to the decimetre, as every analysis distance is published.
fn round_dm(m: f64) -> f64 {
    (m * 10.0).round() / 10.0
}

/// `GET /analysis/nearest?lon=&lat=&k=5`
pub async fn nearest_sites(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = params::parse_pairs(req.query_string())?;
    let get = take(&pairs, &["lon", "lat", "k", "f"])?;
    only_json(get("f"))?;
    let k = match get("k") {
        None => 5,
        Some(raw) => integer("k", raw, 1, queries::MAX_K)?,
    };
    let get = |k: &str| get(k).map(str::to_owned);
    let query = queries::NearestQuery {
        point: point(&get)?,
        k,
    };
    let st = state.clone();
    let (features, n) = web::block(move || -> Result<(Vec<String>, usize), ApiError> {
        let nearest = queries::nearest_sites(&st.service, &query)?;
        let features = nearest
            .hits
            .into_iter()
            .map(|mut hit| {
                append_properties(
                    &mut hit.geojson,
                    &[("distance_m", json!(round_dm(hit.distance_m)))],
                );
                hit.geojson
            })
            .collect();
        Ok((features, nearest.searched))
    })
    .await??;
    Ok(respond::send(
        &req,
        GEOJSON,
        feature_collection(features, n),
    ))
}

/// `GET /collections/sites/items/{id}/downstream`: the path as a LineString (from the site, by its snap
/// to the river, then down the river), and the crossings and water bodies on it as Points, with their
/// along-river distances.
pub async fn downstream(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    params::format_only(req.query_string()).and_then(|f| only_json(f.map(|_| "json")))?;
    let id = path.into_inner();
    let st = state.clone();
    let site_id = id.clone();
    // The lookup waits for the published state's lock, and the walk takes milliseconds: both on the
    // blocking pool.
    let (lon, lat, result, path) = web::block(move || {
        let (pt, own) = {
            let live = st.service.live();
            let c = sites(&live)?;
            let site = c
                .sites()
                .and_then(|t| t.record(&site_id))
                .ok_or_else(|| ApiError::not_found(format!("no site {site_id:?}")))?;
            (site.point(), Some(site.site.country.clone()))
        };
        let [lon, lat] = pt;
        let (result, path) = st
            .service
            .analyzer
            .proximity_with_path(lon, lat, own.as_ref());
        Ok::<_, ApiError>((lon, lat, result, path))
    })
    .await??;
    let (Some(d), Some(walk)) = (result.downstream, path) else {
        return Err(ApiError::not_found(format!(
            "site {id:?} has no downstream path: {}",
            result.downstream_status
        )));
    };
    let km = |m: f64| (m / 10.0).round() / 100.0;
    // From the site: the first leg is the snap to the river, on which a border can already lie.
    let mut line: Vec<[f64; 2]> = Vec::with_capacity(walk.path.len() + 1);
    for p in std::iter::once([lon, lat]).chain(walk.path) {
        if line.last() != Some(&p) {
            line.push(p);
        }
    }
    let mut features = vec![json!({
        "type": "Feature",
        "id": format!("{id}/path"),
        "geometry": { "type": "LineString", "coordinates": line },
        "properties": {
            "kind": "path",
            "site_id": id,
            "river_id": d.river_id,
            "snap_distance_m": (d.snap_distance_m * 10.0).round() / 10.0,
            "drainage_confidence": d.drainage_confidence,
            "downstream_countries": d.countries_text(),
            "downstream_border_km": d.downstream_border_km,
            "terminal_water_body": d.terminal_water_body,
            "end": d.end,
            "length_km": km(d.length_km * 1000.0),
        },
    })];
    for (n, x) in d.crossings.iter().enumerate() {
        features.push(json!({
            "type": "Feature",
            "id": format!("{id}/crossing/{}", n + 1),
            "geometry": { "type": "Point", "coordinates": x.point },
            "properties": {
                "kind": "crossing", "order": n + 1, "border_id": x.border_id,
                "from": x.from, "to": x.to, "along_km": km(x.along_m),
            },
        }));
    }
    for (n, w) in d.water_bodies.iter().enumerate() {
        features.push(json!({
            "type": "Feature",
            "id": format!("{id}/water/{}", n + 1),
            "geometry": { "type": "Point", "coordinates": w.point },
            "properties": {
                "kind": "water_body", "order": n + 1, "water_body_id": w.id,
                "name": w.name, "water_kind": w.kind, "along_km": km(w.along_m),
            },
        }));
    }
    let n = features.len();
    let features = features.iter().map(Value::to_string).collect();
    Ok(respond::send(
        &req,
        GEOJSON,
        feature_collection(features, n),
    ))
}
