//! Response plumbing shared by the handlers: content negotiation, absolute links, and ETags with
//! `304 Not Modified`.

use std::hash::{Hash, Hasher};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use super::params::Format;

pub const GEOJSON: &str = "application/geo+json";
pub const JSON: &str = "application/json";
pub const HTML: &str = "text/html; charset=utf-8";
pub const OPENAPI: &str = "application/vnd.oai.openapi+json;version=3.0";

/// The format to answer in: `f` wins; otherwise a browser (Accept naming text/html and no JSON) gets HTML.
pub fn negotiate(req: &HttpRequest, f: Option<Format>) -> Format {
    if let Some(f) = f {
        return f;
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("text/html") && !accept.contains("json") {
        Format::Html
    } else {
        Format::Json
    }
}

/// Scheme and host the client used (honouring `Forwarded`/`X-Forwarded-*` from a proxy), for absolute links.
pub fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// A weak validator over the given parts: weak, because gzip may re-encode the same content.
pub fn etag(parts: &[&str]) -> String {
    // SipHash with fixed keys: stable across restarts of the same build, which is all a cache needs.
    let mut h = std::hash::DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    format!("W/\"{:016x}\"", h.finish())
}

fn matches(if_none_match: &str, tag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if_none_match.trim() == "*"
        || if_none_match
            .split(',')
            .any(|candidate| bare(candidate) == bare(tag))
}

/// Sends `body` with `tag`, or `304` if the client already holds that version.
pub fn with_etag(req: &HttpRequest, content_type: &str, tag: String, body: String) -> HttpResponse {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches(v, &tag));
    if fresh {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, tag))
            .finish();
    }
    HttpResponse::Ok()
        .content_type(content_type.to_owned())
        .insert_header((header::ETAG, tag))
        .body(body)
}

/// Sends `body`, tagged by its own content.
pub fn send(req: &HttpRequest, content_type: &str, body: String) -> HttpResponse {
    let tag = etag(&[&body]);
    with_etag(req, content_type, tag, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_forms() {
        let tag = etag(&["abc"]);
        assert!(matches(&tag, &tag));
        assert!(matches(&tag.replace("W/", ""), &tag));
        assert!(matches(&format!("\"other\", {tag}"), &tag));
        assert!(matches("*", &tag));
        assert!(!matches(&etag(&["abd"]), &tag));
    }
}
