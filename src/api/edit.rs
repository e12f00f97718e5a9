//! Changes to the inventory over HTTP: OGC API – Features Part 4 (create, replace, update, delete) on
//! the sites collection, a site's history and its restoration. Every change needs a bearer token
//! with the right to the site's country, and every change to an existing site needs `If-Match` with
//! the site's current ETag, so that two editors never silently overwrite each other.
//!
//! The handlers read the request (headers, body) and call one function of [`crate::service::edits`]
//! on the blocking pool, which does the checks and the write.

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::respond::{self, GEOJSON, JSON};
use crate::auth::{AuthError, Grant};
use crate::model::Wgs84Point;
use crate::reference::SITES;
use crate::service::edits::{self, EditError, EditRequest, Edits, IfMatch};
use crate::store::{Author, Change, Written};

pub use crate::service::edits::REASON_HEADER;

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
        return Err(ApiError::internal_from(
            "a token was checked on a service without a store",
        ));
    };
    Ok(auth.authenticate(token)?)
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
    let peer = req.peer_addr().map(|a| a.ip());
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD);
    let st = state.clone();
    async move {
        let token = token?;
        // A token not verified before costs an argon2 hash: those are limited per address.
        if st.auth.as_ref().is_some_and(|a| !a.is_verified(&token)) {
            st.throttle.token_check(peer).inspect_err(|_| {
                st.service.metrics.refused("token_checks_per_address");
            })?;
        }
        let checker = st.clone();
        let grant = web::block(move || check_token(&checker, &token)).await??;
        if writes {
            st.throttle.write(&grant.token_id).inspect_err(|_| {
                st.service.metrics.refused("writes_per_token");
            })?;
        }
        Ok(grant)
    }
}

/// [`grant`], awaited.
pub async fn grant_blocking(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<Grant, ApiError> {
    grant(req, state).await
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

/// The change's author: the token, and the reason from `X-Change-Reason` (UTF-8, so reasons in
/// Russian, Kyrgyz, Kazakh, Tajik or Uzbek are kept).
pub fn author(req: &HttpRequest, actor: String) -> Result<Author, ApiError> {
    let reason = edits::reason_text(req.headers().get(REASON_HEADER).map(|v| v.as_bytes()))?;
    Ok(Author { actor, reason })
}

/// Who asks, on what condition (`If-Match`) and why (`X-Change-Reason`).
fn edit_request(req: &HttpRequest, grant: Grant) -> EditRequest {
    let headers = req.headers();
    EditRequest {
        grant,
        if_match: IfMatch::from_header(headers.get(header::IF_MATCH).map(|v| v.as_bytes())),
        reason: headers.get(REASON_HEADER).map(|v| v.as_bytes().to_vec()),
    }
}

/// What every change with a body checks first, in this order: an editable collection (405), a token
/// (401), the media type (415), the body within the limit (413); then who asks and on what condition.
async fn edit_with_body(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    cid: &str,
    payload: web::Payload,
    types: &[&str],
) -> Result<(EditRequest, web::Bytes), ApiError> {
    sites_only(state, cid, req)?;
    let grant = grant_blocking(req, state).await?;
    check_content_type(req, types)?;
    let body = read_body(req, payload, state.max_body_bytes).await?;
    Ok((edit_request(req, grant), body))
}

/// Runs an edit on the blocking pool (store reads and writes, re-analysis and GDAL are not for the
/// executor), writing through the service so that the change is published.
async fn run<T: Send + 'static>(
    state: &web::Data<AppState>,
    edit: impl FnOnce(&Edits) -> Result<T, EditError> + Send + 'static,
) -> Result<T, ApiError> {
    let st = state.clone();
    Ok(web::block(move || {
        let Some(store) = st.service.store.as_deref() else {
            return Err(EditError::NotFound(
                "this service keeps no store; nothing can be changed".into(),
            ));
        };
        let write = |changes: &[Change], author: &Author| st.service.write(changes, author);
        let locate = |p: &Wgs84Point| st.service.analyzer.locate_country([p.lon(), p.lat()]);
        edit(&Edits {
            store,
            write: &write,
            locate: &locate,
        })
    })
    .await??)
}

fn sites_only(state: &AppState, cid: &str, req: &HttpRequest) -> Result<(), ApiError> {
    if super::editable(state, cid) {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed_on(
            req.method().as_str(),
            req.path(),
            "GET, HEAD",
        ))
    }
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
            .filter(|f| f.revision() == Some(written.revision))
            .map(|f| f.json())
    };
    let body = match (published, &written.site) {
        (Some(text), _) => text,
        (None, Some(site)) => state
            .service
            .record(site.clone(), Some(written.revision), written.updated)
            .geojson(),
        (None, None) => {
            return Err(ApiError::internal_from(format_args!(
                "site {id} was written, but is neither published nor returned"
            )));
        }
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
    let (request, body) = edit_with_body(&req, &state, &path, payload, FEATURE_TYPES).await?;
    let written = run(&state, move |e| e.create(&request, &body)).await?;
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
    let (request, body) = edit_with_body(&req, &state, &cid, payload, FEATURE_TYPES).await?;
    let written = run(&state, move |e| e.replace(&request, &id, &body)).await?;
    feature_response(&state, &req, StatusCode::OK, &written)
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
    let types = [
        "application/merge-patch+json",
        "application/geo+json",
        "application/json",
    ];
    let (request, body) = edit_with_body(&req, &state, &cid, payload, &types).await?;
    let written = run(&state, move |e| e.patch(&request, &id, &body)).await?;
    feature_response(&state, &req, StatusCode::OK, &written)
}

/// `DELETE /collections/sites/items/{id}`: the site leaves the items but stays in its history.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cid, id) = path.into_inner();
    sites_only(&state, &cid, &req)?;
    let grant = grant_blocking(&req, &state).await?;
    let request = edit_request(&req, grant);
    run(&state, move |e| e.delete(&request, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /collections/sites/items/{id}/history`: `{"versions": [...]}`, newest first. Token holders
/// are named to authenticated readers only.
pub async fn history(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    crate::api::params::format_only(req.query_string())?;
    let id = path.into_inner();
    if state.service.store.is_none() {
        return Err(ApiError::not_found(
            "this service keeps no history (no store)",
        ));
    }
    let named = req.headers().contains_key(header::AUTHORIZATION);
    if named {
        grant_blocking(&req, &state).await?;
    }
    let site_id = id.clone();
    let versions = run(&state, move |e| e.history(&site_id, named)).await?;
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
        restore_version(&body)?
    };
    if state.service.store.is_none() {
        return Err(ApiError::not_found(
            "this service keeps no history (no store)",
        ));
    }
    let request = edit_request(&req, grant);
    let written = run(&state, move |e| e.restore(&request, &id, requested)).await?;
    feature_response(&state, &req, StatusCode::OK, &written)
}

/// The version a restore body (`{"version": 12}`) names, if any.
fn restore_version(body: &[u8]) -> Result<Option<i64>, ApiError> {
    let v = edits::parse_json(body).map_err(|e| {
        if e.is_data() {
            ApiError::bad_body(e.to_string())
        } else {
            ApiError::bad_body(format!("the body is not valid JSON: {e}"))
        }
    })?;
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
        None | Some(Value::Null) => Ok(None),
        Some(n) => Ok(Some(n.as_i64().ok_or_else(|| {
            ApiError::bad_body(format!("version: must be an integer, got {n}"))
        })?)),
    }
}
