//! Changes to the inventory over HTTP: OGC API – Features Part 4 (create, replace, update, delete) on
//! the sites collection, a site's history and its restoration. Every change needs a bearer token
//! with the right to the site's country, and every change to an existing site needs `If-Match` with
//! the site's current ETag, so that two editors never silently overwrite each other.

use std::collections::HashSet;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::ApiError;
use super::respond::{self, GEOJSON, JSON};
use crate::auth::{AuthError, Grant};
use crate::model::{Site, SiteDraft, SiteId};
use crate::reference::SITES;
use crate::store::{Author, Change, Expect, Op, Role, StoreError, Written};

/// The header that carries a change's reason into the history.
pub const REASON_HEADER: &str = "X-Change-Reason";

/// The bearer token of the request (401 without a usable one; 405 on a service that cannot be changed).
fn bearer(req: &HttpRequest, state: &AppState) -> Result<String, ApiError> {
    if state.auth.is_none() {
        return Err(ApiError::method_not_allowed_on(
            req.method().as_str(),
            req.path(),
            "GET, HEAD",
        ));
    }
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized(AuthError::Missing.to_string()))?;
    let text = value
        .to_str()
        .map_err(|_| ApiError::unauthorized(AuthError::Malformed.to_string()))?;
    text.strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .map(str::to_owned)
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))
}

fn check_token(state: &AppState, token: &str) -> Result<Grant, ApiError> {
    let Some(auth) = &state.auth else {
        return Err(ApiError::internal());
    };
    auth.authenticate(token).map_err(|e| match e {
        AuthError::Store(e) => store_error(e),
        AuthError::Hash(_) => ApiError::internal(),
        e => ApiError::unauthorized(e.to_string()),
    })
}

/// The grant of the request's bearer token, checked on the blocking pool (a first check of a token
/// costs an argon2 verification, and the token lookup may wait for the store). The token is read
/// from the headers now; the returned future holds no reference to the request, so middleware can
/// await it before the handler runs.
pub fn grant(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> impl std::future::Future<Output = Result<Grant, ApiError>> + use<> {
    let token = bearer(req, state);
    let st = state.clone();
    async move {
        let token = token?;
        web::block(move || check_token(&st, &token))
            .await
            .map_err(|_| ApiError::internal())?
    }
}

/// [`grant`], awaited.
pub async fn grant_blocking(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<Grant, ApiError> {
    grant(req, state).await
}

/// Maps a refused or failed store write to HTTP.
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict { .. } => ApiError::precondition_failed(format!(
            "If-Match: {e}; fetch the site again and re-apply your change"
        )),
        StoreError::NotFound { .. } | StoreError::NoSuchVersion { .. } => {
            ApiError::not_found(e.to_string())
        }
        StoreError::Exists { .. } | StoreError::Deleted { .. } => ApiError::conflict(e.to_string()),
        StoreError::Busy { .. } => ApiError::busy(e.to_string()),
        other => {
            tracing::error!(error = %other, "store write failed");
            ApiError::internal()
        }
    }
}

/// 413 for a body over `limit` bytes.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::too_large(format!(
        "the request body is larger than the limit of {limit} bytes (serve --max-body-mb)"
    ))
}

/// 413 now if `Content-Length` already says the body is over `limit`.
pub fn check_content_length(req: &HttpRequest, limit: usize) -> Result<(), ApiError> {
    match req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(n) if n > limit => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// The body, refused with 413 past the limit (checked against `Content-Length` first, then while
/// reading, for chunked bodies).
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    check_content_length(req, limit)?;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_body(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// 415 unless the body's media type is one of `allowed`.
pub fn check_content_type(req: &HttpRequest, allowed: &[&str]) -> Result<(), ApiError> {
    let given = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = given.split(';').next().unwrap_or("").trim();
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(media)) {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(format!(
            "Content-Type: {} is not accepted here; send {}",
            if given.is_empty() {
                "(none)".to_owned()
            } else {
                format!("{given:?}")
            },
            allowed.join(" or ")
        )))
    }
}

/// The revision named by `If-Match` (428 without one).
fn if_match(req: &HttpRequest, current: i64) -> Result<i64, ApiError> {
    let value = req
        .headers()
        .get(header::IF_MATCH)
        .ok_or_else(|| {
            ApiError::precondition_required(
                "If-Match is required to change a site: send the ETag of the version you edited",
            )
        })?
        .to_str()
        .map_err(|_| {
            ApiError::bad_body(
                "If-Match: not a list of ETags (only visible ASCII is allowed); send the ETag as \
                 the site's GET gave it, such as \"28\"",
            )
        })?;
    if value.trim() == "*" {
        return Ok(current);
    }
    let mut weak = false;
    for tag in value.split(',') {
        let tag = tag.trim();
        // RFC 9110 compares If-Match strongly: a weak tag never matches.
        if tag.starts_with("W/") {
            weak = true;
            continue;
        }
        if let Ok(r) = tag.trim_matches('"').parse::<i64>()
            && r == current
        {
            return Ok(r);
        }
    }
    if weak {
        return Err(ApiError::precondition_failed(format!(
            "If-Match: {value}: a weak ETag (W/…) never matches, as If-Match compares strongly \
             (RFC 9110); send the ETag \"{current}\" of the current version if that is what you edited"
        )));
    }
    Err(ApiError::precondition_failed(format!(
        "If-Match: {value} is not the current version of this site (ETag \"{current}\"); it was changed \
         by someone else: fetch it again and re-apply your change"
    )))
}

/// The change's author: the token, and the reason from `X-Change-Reason` (UTF-8, so reasons in
/// Russian, Kyrgyz, Kazakh, Tajik or Uzbek are kept).
pub fn author(req: &HttpRequest, actor: String) -> Result<Author, ApiError> {
    let reason = match req.headers().get(REASON_HEADER) {
        None => None,
        Some(v) => Some(
            std::str::from_utf8(v.as_bytes())
                .map_err(|_| ApiError::bad_body(format!("{REASON_HEADER}: not UTF-8 text")))?
                .trim()
                .to_owned(),
        )
        .filter(|s| !s.is_empty()),
    };
    Ok(Author { actor, reason })
}

/// 403 unless `grant` covers every state of the change: the old site (if any) and the new one, each
/// by its declared country and by the country its position falls in.
fn authorize(
    state: &AppState,
    grant: &Grant,
    old: Option<&Site>,
    new: Option<&Site>,
) -> Result<(), ApiError> {
    match grant.role {
        Role::Admin => return Ok(()),
        Role::Reader => {
            return Err(ApiError::forbidden(format!(
                "token {} has the reader role and may not change sites",
                grant.token_id
            )));
        }
        Role::Editor => {}
    }
    for site in old.into_iter().chain(new) {
        let declared = site.country.as_str();
        let located = state
            .service
            .analyzer
            .locate_country(site.location.lon(), site.location.lat());
        let Some(located) = located else {
            return Err(ApiError::forbidden(format!(
                "token {} may change sites in {} only; site {} lies in no country of the reference \
                 layer (within its tolerance), which only an admin may edit",
                grant.token_id,
                grant.countries.join(", "),
                site.id
            )));
        };
        for (what, c) in [("country", declared), ("location", located.as_str())] {
            if !grant.covers(c) {
                return Err(ApiError::forbidden(format!(
                    "token {} may change sites in {} only; site {} has {what} {c}",
                    grant.token_id,
                    grant.countries.join(", "),
                    site.id
                )));
            }
        }
    }
    Ok(())
}

/// A JSON body, refusing a key repeated in any object (`properties.name: duplicate key`) rather than
/// silently keeping the last value.
fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    crate::service::edits::parse_json(body).map_err(|e| {
        if e.is_data() {
            ApiError::bad_body(e.to_string())
        } else {
            ApiError::bad_body(format!("the body is not valid JSON: {e}"))
        }
    })
}

/// The flat site properties of a GeoJSON Feature body, with the position from its Point geometry.
fn feature_properties(body: &[u8]) -> Result<(Option<String>, Map<String, Value>), ApiError> {
    let value = json_body(body)?;
    let Value::Object(mut feature) = value else {
        return Err(ApiError::bad_body(
            "the body must be a GeoJSON Feature object",
        ));
    };
    match feature.get("type") {
        Some(Value::String(t)) if t == "Feature" => {}
        other => {
            return Err(ApiError::bad_body(format!(
                "type: expected \"Feature\", got {}",
                other.map_or("nothing".to_owned(), Value::to_string)
            )));
        }
    }
    let id = match feature.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            return Err(ApiError::bad_body(format!(
                "id: must be a string, got {other}"
            )));
        }
    };
    let mut props = match feature.remove("properties") {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => Map::new(),
        Some(other) => {
            return Err(ApiError::bad_body(format!(
                "properties: must be an object, got {other}"
            )));
        }
    };
    if let Some((lon, lat)) = point_geometry(feature.get("geometry"))? {
        props.insert("lon".into(), lon.into());
        props.insert("lat".into(), lat.into());
    }
    Ok((id, props))
}

/// A Point geometry's position; `None` if there is no geometry.
fn point_geometry(g: Option<&Value>) -> Result<Option<(f64, f64)>, ApiError> {
    let g = match g {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(g)) => g,
        Some(other) => {
            return Err(ApiError::bad_body(format!(
                "geometry: must be a GeoJSON geometry object, got {other}"
            )));
        }
    };
    match g.get("type").and_then(Value::as_str) {
        Some("Point") => {}
        Some(other) => {
            return Err(ApiError::bad_body(format!(
                "geometry: sites are points; expected a Point, got {other}"
            )));
        }
        None => return Err(ApiError::bad_body("geometry.type: missing")),
    }
    let coords = g
        .get("coordinates")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_body("geometry.coordinates: missing or not an array"))?;
    match coords.as_slice() {
        [_, _, z] if !z.is_number() => Err(ApiError::bad_body(format!(
            "geometry.coordinates: a third value is an elevation and must be a number, got {z}"
        ))),
        [x, y] | [x, y, _] => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => Ok(Some((x, y))),
            _ => Err(ApiError::bad_body(
                "geometry.coordinates: longitude and latitude must be numbers",
            )),
        },
        _ => Err(ApiError::bad_body(format!(
            "geometry.coordinates: a Point has 2 (or 3) numbers, got {}",
            coords.len()
        ))),
    }
}

/// A valid site from flat properties: analysis fields are dropped, unknown ones refused.
fn site_from(props: Map<String, Value>, computed: &HashSet<String>) -> Result<Site, ApiError> {
    let mut clean = Map::new();
    for (k, v) in props {
        // The site fields a client may send; what the analysis adds is read-only and ignored.
        if Site::FIELDS.contains(&k.as_str()) || k == "lon" || k == "lat" {
            clean.insert(k, v);
        } else if !computed.contains(&k) && k != "distance_m" {
            return Err(ApiError::bad_body(format!(
                "properties.{k}: unknown field; a site has: {} (analysis fields are computed and ignored)",
                Site::FIELDS.join(", ")
            )));
        }
    }
    // Lists and the free attributes: null means empty.
    for k in ["substances", "sources"] {
        if clean.get(k).is_some_and(Value::is_null) {
            clean.insert(k.into(), Value::Array(vec![]));
        }
    }
    if clean.get("attributes").is_some_and(Value::is_null) {
        clean.insert("attributes".into(), Value::Object(Map::new()));
    }
    for (k, v) in &clean {
        let expected = match k.as_str() {
            "lon" | "lat" | "volume_m3" | "tonnage_t" | "dam_height_m" | "area_m2" => {
                (!(v.is_null() || v.is_number())).then_some("a number")
            }
            "substances" | "sources" => {
                (!v.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
                    .then_some("a list of strings")
            }
            "attributes" => (!v.is_object()).then_some("an object"),
            _ => (!(v.is_null() || v.is_string())).then_some("a string"),
        };
        if let Some(expected) = expected {
            return Err(ApiError::bad_body(format!(
                "properties.{k}: expected {expected}, got {v}"
            )));
        }
    }
    let draft: SiteDraft = serde_json::from_value(Value::Object(clean))
        .map_err(|e| ApiError::bad_body(format!("properties: {e}")))?;
    Site::try_from(draft).map_err(|e| ApiError::bad_body(format!("properties.{e}")))
}

/// `{country}_{name}` as an id (transliterated): the base from which the store picks the first
/// free id (`base`, `base-2`, …) inside its write.
fn derive_base(props: &Map<String, Value>) -> Result<String, ApiError> {
    let text = |k: &str| props.get(k).and_then(Value::as_str).unwrap_or("").trim();
    let (country, name) = (text("country"), text("name"));
    if country.is_empty() || name.is_empty() {
        return Err(ApiError::bad_body(
            "id: missing, and no country and name to derive one from",
        ));
    }
    let slug =
        crate::io::sites_file::derive_id(&format!("{}_", country.to_ascii_lowercase()), name)
            .map_err(|e| ApiError::bad_body(format!("id: missing, and {e}")))?;
    Ok(slug.chars().take(100).collect())
}

fn sites_only(cid: &str, req: &HttpRequest) -> Result<(), ApiError> {
    if cid == SITES {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed_on(
            req.method().as_str(),
            req.path(),
            "GET, HEAD",
        ))
    }
}

/// The published site and its revision.
fn current(state: &AppState, id: &str) -> Result<(Site, i64), ApiError> {
    let store = state
        .service
        .store
        .as_ref()
        .ok_or_else(|| ApiError::not_found(format!("no site {id:?}")))?;
    let sid = SiteId::parse(id).map_err(|_| ApiError::not_found(format!("no site {id:?}")))?;
    match store.get(&sid).map_err(store_error)? {
        Some(s) => Ok((s.site, s.revision)),
        None => Err(ApiError::not_found(format!(
            "no site {id:?} (a deleted site can be restored from its history)"
        ))),
    }
}

/// Runs a write on the blocking pool (SQLite commits and re-analysis are not for the executor).
async fn write(
    state: &web::Data<AppState>,
    change: Change,
    author: Author,
) -> Result<Written, ApiError> {
    let st = state.clone();
    let written = web::block(move || st.service.write(&[change], &author))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(store_error)?;
    written.into_iter().next().ok_or_else(ApiError::internal)
}

/// The site as written, with its analysis, as GeoJSON with its ETag: the published feature when it
/// is that version, else built from the write itself (a later change may already have replaced it).
fn feature_response(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    written: &Written,
) -> Result<HttpResponse, ApiError> {
    let id = &written.id;
    let published = {
        let live = state.service.live();
        live.catalog
            .collection(SITES)
            .and_then(|c| c.feature(id.as_str()))
            .filter(|f| f.revision == Some(written.revision))
            .map(|f| f.geojson.get().to_owned())
    };
    let body = match (published, &written.site) {
        (Some(text), _) => text,
        (None, Some(site)) => {
            let mut properties = site.properties();
            properties.extend(state.service.analyzer.site_analysis(site));
            json!({
                "type": "Feature",
                "id": id.as_str(),
                "geometry": { "type": "Point", "coordinates": [site.location.lon(), site.location.lat()] },
                "properties": properties,
            })
            .to_string()
        }
        (None, None) => return Err(ApiError::internal()),
    };
    let mut res = HttpResponse::build(status);
    res.content_type(GEOJSON);
    res.insert_header((header::ETAG, format!("\"{}\"", written.revision)));
    if status == StatusCode::CREATED {
        res.insert_header((
            header::LOCATION,
            format!(
                "{}/collections/{SITES}/items/{}",
                state.base_url(req),
                respond::segment(id.as_str())
            ),
        ));
    }
    Ok(res.body(body))
}

const FEATURE_TYPES: &[&str] = &["application/geo+json", "application/json"];

/// `POST /collections/sites/items`
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    sites_only(&path, &req)?;
    let grant = grant_blocking(&req, &state).await?;
    check_content_type(&req, FEATURE_TYPES)?;
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let (fid, mut props) = feature_properties(&body)?;
    let prop_id = props.get("id").and_then(Value::as_str).map(str::to_owned);
    let (id, derived) = match (fid, prop_id) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad_body(format!(
                "id: the feature id {a:?} and properties.id {b:?} differ"
            )));
        }
        (Some(a), _) | (None, Some(a)) => (a, false),
        (None, None) => (derive_base(&props)?, true),
    };
    props.insert("id".into(), id.into());
    let site = site_from(props, &state.computed_fields)?;
    authorize(&state, &grant, None, Some(&site))?;
    let change = if derived {
        Change::CreateDerived { site }
    } else {
        Change::Put {
            site,
            expect: Expect::Absent,
        }
    };
    let written = write(&state, change, author(&req, grant.actor())?).await?;
    feature_response(&state, &req, StatusCode::CREATED, &written)
}

/// `PUT /collections/sites/items/{id}`: replaces the whole site.
pub async fn replace(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (cid, id) = path.into_inner();
    sites_only(&cid, &req)?;
    let grant = grant_blocking(&req, &state).await?;
    check_content_type(&req, FEATURE_TYPES)?;
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let (old, revision) = current(&state, &id)?;
    let (fid, mut props) = feature_properties(&body)?;
    for given in [
        fid,
        props.get("id").and_then(Value::as_str).map(str::to_owned),
    ]
    .into_iter()
    .flatten()
    {
        if given != id {
            return Err(ApiError::bad_body(format!(
                "id: the body's id {given:?} is not the site {id:?} of the URL; ids cannot change"
            )));
        }
    }
    props.insert("id".into(), id.clone().into());
    let site = site_from(props, &state.computed_fields)?;
    replace_checked(&state, &req, &grant, (old, revision), site).await
}

/// Replaces `old` (at `revision`) by `site`: rights first, then `If-Match`, then the write.
async fn replace_checked(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    grant: &Grant,
    (old, revision): (Site, i64),
    site: Site,
) -> Result<HttpResponse, ApiError> {
    authorize(state, grant, Some(&old), Some(&site))?;
    let expected = if_match(req, revision)?;
    let change = Change::Put {
        site,
        expect: Expect::Revision(expected),
    };
    let written = write(state, change, author(req, grant.actor())?).await?;
    feature_response(state, req, StatusCode::OK, &written)
}

/// `PATCH /collections/sites/items/{id}`: a JSON merge patch (RFC 7396) of the feature; `null`
/// clears an optional property.
pub async fn patch(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (cid, id) = path.into_inner();
    sites_only(&cid, &req)?;
    let grant = grant_blocking(&req, &state).await?;
    check_content_type(
        &req,
        &[
            "application/merge-patch+json",
            "application/geo+json",
            "application/json",
        ],
    )?;
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let (old, revision) = current(&state, &id)?;
    let patch = json_body(&body)?;
    let Value::Object(patch) = patch else {
        return Err(ApiError::bad_body(
            "the body must be a JSON object (a merge patch of the feature)",
        ));
    };
    let mut props = old.properties();
    for (k, v) in &patch {
        match k.as_str() {
            "type" | "links" => {}
            "id" if v.as_str() == Some(id.as_str()) => {}
            "id" => return Err(ApiError::bad_body("id: ids cannot change")),
            "properties" => {
                let Value::Object(p) = v else {
                    return Err(ApiError::bad_body("properties: must be an object"));
                };
                for (pk, pv) in p {
                    if pk == "id" && pv.as_str() != Some(id.as_str()) {
                        return Err(ApiError::bad_body("properties.id: ids cannot change"));
                    }
                    match (props.get_mut(pk), pv) {
                        // RFC 7396: objects merge member by member, `null` removes a member.
                        (Some(Value::Object(target)), Value::Object(patch)) => {
                            merge_patch(target, patch)
                        }
                        _ => {
                            props.insert(pk.clone(), pv.clone());
                        }
                    }
                }
            }
            "geometry" => match point_geometry(Some(v))? {
                Some((lon, lat)) => {
                    props.insert("lon".into(), lon.into());
                    props.insert("lat".into(), lat.into());
                }
                None => return Err(ApiError::bad_body("geometry: a site cannot lose its point")),
            },
            other => {
                return Err(ApiError::bad_body(format!(
                    "{other}: not a member of a feature patch (use properties, geometry)"
                )));
            }
        }
    }
    let site = site_from(props, &state.computed_fields)?;
    replace_checked(&state, &req, &grant, (old, revision), site).await
}

/// Applies a JSON merge patch (RFC 7396) to an object.
fn merge_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        match (target.get_mut(k), v) {
            (_, Value::Null) => {
                target.remove(k);
            }
            (Some(Value::Object(t)), Value::Object(p)) => merge_patch(t, p),
            _ => {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `DELETE /collections/sites/items/{id}`: the site leaves the items but stays in its history.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cid, id) = path.into_inner();
    sites_only(&cid, &req)?;
    let grant = grant_blocking(&req, &state).await?;
    let (old, revision) = current(&state, &id)?;
    authorize(&state, &grant, Some(&old), None)?;
    let expected = if_match(&req, revision)?;
    let change = Change::Delete {
        id: old.id.clone(),
        expect: Expect::Revision(expected),
    };
    write(&state, change, author(&req, grant.actor())?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /collections/sites/items/{id}/history`: `{"versions": [...]}`, newest first.
pub async fn history(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    crate::api::params::format_only(req.query_string())?;
    let id = path.into_inner();
    let store = state
        .service
        .store
        .clone()
        .ok_or_else(|| ApiError::not_found("this service keeps no history (no store)"))?;
    let sid = SiteId::parse(&id).map_err(|_| ApiError::not_found(format!("no site {id:?}")))?;
    // Who made a change is shown to authenticated readers; others see what kind of token did.
    let named = match req.headers().contains_key(header::AUTHORIZATION) {
        true => Some(grant_blocking(&req, &state).await?),
        false => None,
    };
    let versions = web::block(move || {
        let mut versions = store.history(&sid)?;
        if named.is_none() {
            let tokens = store.tokens()?;
            for v in &mut versions {
                v.actor = crate::service::edits::public_actor(&v.actor, &tokens);
            }
        }
        Ok::<_, StoreError>(versions)
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(store_error)?;
    if versions.is_empty() {
        return Err(ApiError::not_found(format!(
            "no site {id:?} has ever existed"
        )));
    }
    let body = json!({ "site_id": id, "versions": versions }).to_string();
    Ok(respond::send(&req, JSON, body))
}

/// `POST /collections/sites/items/{id}/restore` with `{"version": n}` (default: the state before
/// the latest delete, or the previous version): puts that state back as a new version.
pub async fn restore(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let grant = grant_blocking(&req, &state).await?;
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let requested = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        check_content_type(&req, &["application/json"])?;
        let v = json_body(&body)?;
        let Value::Object(members) = &v else {
            return Err(ApiError::bad_body(
                "the body must be a JSON object such as {\"version\": 12}",
            ));
        };
        if let Some(k) = members.keys().find(|k| *k != "version") {
            return Err(ApiError::bad_body(format!(
                "{k}: unknown member; the body may only name the `version` to restore"
            )));
        }
        match v.get("version") {
            None | Some(Value::Null) => None,
            Some(n) => Some(n.as_i64().ok_or_else(|| {
                ApiError::bad_body(format!("version: must be an integer, got {n}"))
            })?),
        }
    };
    let store = state
        .service
        .store
        .clone()
        .ok_or_else(|| ApiError::not_found("this service keeps no history (no store)"))?;
    let sid = SiteId::parse(&id).map_err(|_| ApiError::not_found(format!("no site {id:?}")))?;
    let versions = store.history(&sid).map_err(store_error)?;
    if versions.is_empty() {
        return Err(ApiError::not_found(format!(
            "no site {id:?} has ever existed"
        )));
    }
    let live = store.get(&sid).map_err(store_error)?;
    // By default: the newest version that is not the current state (a delete records the state it
    // removed, so after a delete that is the deleted site).
    let version = match requested {
        Some(v) => versions
            .iter()
            .find(|x| x.version == v)
            .ok_or_else(|| ApiError::not_found(format!("site {id:?} has no version {v}")))?,
        None => match &live {
            None => &versions[0],
            Some(_) => versions.get(1).ok_or_else(|| {
                ApiError::bad_body("version: the site has only one version; nothing to restore")
            })?,
        },
    };
    let target = site_from(version.properties.clone(), &state.computed_fields).map_err(|e| {
        ApiError::bad_body(format!("version {}: {}", version.version, e.description))
    })?;
    // The state the restore replaces: the live site, or the one the latest delete removed (a delete
    // records the state it removed). An editor must hold the rights to it as to the restored one.
    let replaced = match &live {
        Some(s) => Some(s.site.clone()),
        None => versions
            .iter()
            .find(|v| v.op == Op::Delete)
            .map(|v| {
                site_from(v.properties.clone(), &state.computed_fields).map_err(|e| {
                    ApiError::bad_body(format!("version {}: {}", v.version, e.description))
                })
            })
            .transpose()?,
    };
    let expect = match &live {
        None => Expect::Absent,
        Some(s) => Expect::Revision(if_match(&req, s.revision)?),
    };
    authorize(&state, &grant, replaced.as_ref(), Some(&target))?;
    let change = Change::Restore {
        id: sid.clone(),
        version: version.version,
        expect,
    };
    let written = write(&state, change, author(&req, grant.actor())?).await?;
    feature_response(&state, &req, StatusCode::OK, &written)
}
