//! What operators and their tools ask of a running service: liveness and readiness for an
//! orchestrator or load balancer, Prometheus metrics, and the security headers on every response.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::respond::JSON;
use crate::metrics::{Sample, SampleKind};

/// The policy of the HTML pages, the web map and their scripts: everything from this origin, nothing inline,
/// no plug-ins, no framing. MapLibre's CSP build runs its worker from a file here; it draws
/// images from `blob:` and `data:` URLs.
pub const HTML_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; worker-src 'self' blob:; \
     child-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The policy of everything else (JSON, GeoJSON, tiles, images, style sheets): a document that
/// runs nothing.
pub const DATA_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// How long a readiness check waits for the store.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Sets the security headers on a response: `nosniff` and no referrer everywhere, and a
/// Content-Security-Policy by what the body is. Headers a handler set itself are kept. A 304 gets
/// no policy: it has no body to judge by, and a browser would put the policy it carries on the
/// page it already holds (which keeps the one it came with).
pub fn security_headers(status: StatusCode, headers: &mut HeaderMap) {
    // A worker runs under the policy its script came with: MapLibre's worker fetches the tiles,
    // so scripts get the pages' policy too.
    let page = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html") || v.starts_with("text/javascript"));
    let set = |headers: &mut HeaderMap, name: HeaderName, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    if status != StatusCode::NOT_MODIFIED {
        set(
            headers,
            header::CONTENT_SECURITY_POLICY,
            if page { HTML_CSP } else { DATA_CSP },
        );
    }
}

fn no_store(mut r: actix_web::HttpResponseBuilder, body: String) -> HttpResponse {
    r.content_type(JSON)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// `GET /health/live`: the process answers. Nothing is read: a live service that cannot reach its
/// store must not be restarted for it (it still serves what it published).
pub async fn live() -> HttpResponse {
    no_store(HttpResponse::Ok(), json!({ "status": "live" }).to_string())
}

/// Why a service is not ready, if it is not: the store does not answer (in time), or many changes
/// are being published and the site index rebuilt.
fn unready_reason(state: &AppState) -> Option<String> {
    if state.service.rebuilding() {
        return Some("many changes are being published; the site index is being rebuilt".into());
    }
    let store = state.service.store.as_ref()?;
    match store.latest_revision() {
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "ready: the store cannot be reached");
            Some("the store cannot be reached".into())
        }
    }
}

/// `GET /health/ready`: 200 while the store answers and no bulk publish is rebuilding the
/// indexes; else 503 with the reason and `Retry-After`. The store gets [`READY_TIMEOUT`] to
/// answer.
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let check = web::block(move || unready_reason(&st));
    let reason = match actix_web::rt::time::timeout(READY_TIMEOUT, check).await {
        Ok(answer) => answer?,
        Err(_) => Some(format!(
            "the store did not answer within {} s",
            READY_TIMEOUT.as_secs()
        )),
    };
    Ok(match reason {
        None => no_store(HttpResponse::Ok(), json!({ "status": "ready" }).to_string()),
        Some(reason) => {
            let mut r = HttpResponse::ServiceUnavailable();
            r.insert_header((header::RETRY_AFTER, "5"));
            no_store(
                r,
                json!({ "status": "unready", "reason": reason }).to_string(),
            )
        }
    })
}

/// What `/metrics` reads at scrape time: caches, the published sites, the store's versions.
fn scraped(state: &AppState) -> Vec<Sample> {
    let (_, _, tile_hits, tile_misses) = state.tiles.stats();
    let (page_hits, page_misses) = state.pages.stats();
    let live = state.service.live();
    let sites = live.sites().map_or(0, |t| t.len() as u64);
    drop(live);
    let counter = |name, help, value| Sample {
        name,
        help,
        kind: SampleKind::Counter,
        value,
    };
    let gauge = |name, help, value| Sample {
        name,
        help,
        kind: SampleKind::Gauge,
        value,
    };
    let mut out = vec![
        counter(
            "tile_cache_hits",
            "Vector tiles answered from the tile cache",
            tile_hits,
        ),
        counter(
            "tile_cache_misses",
            "Vector tiles encoded because the tile cache did not have them",
            tile_misses,
        ),
        counter(
            "page_cache_hits",
            "Pages of items answered from the page cache",
            page_hits,
        ),
        counter(
            "page_cache_misses",
            "Pages of items written because the page cache did not have them",
            page_misses,
        ),
        gauge("sites", "Sites published", sites),
    ];
    if let Some(store) = &state.service.store {
        match store.latest_revision() {
            Ok(v) => out.push(gauge(
                "store_versions",
                "Versions in the store (the number of its newest version)",
                v.max(0) as u64,
            )),
            Err(e) => tracing::warn!(error = %e, "metrics: the store cannot be reached"),
        }
    }
    out
}

/// `GET /metrics`: the OpenMetrics text Prometheus scrapes.
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let text = web::block(move || {
        let now = scraped(&st);
        st.service.metrics.encode(now)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_gets_the_page_policy_and_everything_else_the_data_policy() {
        let mut html = HeaderMap::new();
        html.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        security_headers(StatusCode::OK, &mut html);
        assert_eq!(html.get(header::CONTENT_SECURITY_POLICY).unwrap(), HTML_CSP);
        assert_eq!(html.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
        assert_eq!(html.get(header::REFERRER_POLICY).unwrap(), "no-referrer");
        assert!(
            !HTML_CSP.contains("unsafe"),
            "no unsafe-inline or unsafe-eval"
        );

        let mut data = HeaderMap::new();
        data.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/geo+json"),
        );
        data.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        security_headers(StatusCode::OK, &mut data);
        assert_eq!(data.get(header::CONTENT_SECURITY_POLICY).unwrap(), DATA_CSP);
        // A handler's own choice is kept.
        assert_eq!(data.get(header::REFERRER_POLICY).unwrap(), "same-origin");

        // A 304 keeps the policy of what the client holds.
        let mut not_modified = HeaderMap::new();
        security_headers(StatusCode::NOT_MODIFIED, &mut not_modified);
        assert!(not_modified.get(header::CONTENT_SECURITY_POLICY).is_none());
        assert_eq!(
            not_modified.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
            "nosniff"
        );
    }
}
