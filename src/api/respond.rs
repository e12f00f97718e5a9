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
/// GeoJSON Text Sequences (RFC 8142).
pub const GEOJSON_SEQ: &str = "application/geo+json-seq";

/// The media ranges of the `Accept` header, lower-cased, each with its q (1 by default).
fn accepted(req: &HttpRequest) -> impl Iterator<Item = (String, f32)> + '_ {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.split(',').map(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        (media, q)
    })
}

/// The format to answer in: `f` wins; otherwise the `Accept` header, where HTML must be preferred
/// (higher q) over every JSON type for a browser to get HTML. Without a preference, JSON.
pub fn negotiate(req: &HttpRequest, f: Option<Format>) -> Format {
    if let Some(f) = f {
        return f;
    }
    let (mut html, mut json) = (0.0f32, 0.0f32);
    for (media, q) in accepted(req) {
        match media.as_str() {
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            "application/json" | "application/geo+json" => json = json.max(q),
            m if m.ends_with("+json") => json = json.max(q),
            _ => {}
        }
    }
    if html > json {
        Format::Html
    } else {
        Format::Json
    }
}

/// Whether the `Accept` header prefers GeoJSON Text Sequences (`application/geo+json-seq`, or
/// `application/json-seq`) to both JSON and HTML (strictly higher q).
pub fn prefers_seq(req: &HttpRequest) -> bool {
    let (mut seq, mut other) = (0.0f32, 0.0f32);
    for (media, q) in accepted(req) {
        match media.as_str() {
            "application/geo+json-seq" | "application/json-seq" => seq = seq.max(q),
            "text/html" | "application/xhtml+xml" | "application/json" | "application/geo+json" => {
                other = other.max(q)
            }
            m if m.ends_with("+json") => other = other.max(q),
            _ => {}
        }
    }
    seq > other
}

/// Adds `Content-Crs: <uri>` (OGC API – Features Part 2) to a response with coordinates in `uri`.
pub fn content_crs(mut res: HttpResponse, uri: &str) -> HttpResponse {
    if let Ok(v) = header::HeaderValue::from_str(&format!("<{uri}>")) {
        res.headers_mut()
            .insert(header::HeaderName::from_static("content-crs"), v);
    }
    res
}

/// Scheme and host the client used (honouring `Forwarded`/`X-Forwarded-*` from a proxy), for absolute links.
pub fn request_base_url(req: &HttpRequest) -> String {
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
    // The same URL answers JSON or HTML by Accept; caches must keep them apart, and revalidate (cheap,
    // thanks to the ETag) because the inventory can change.
    let mut builder = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    builder
        .insert_header((header::ETAG, tag))
        .append_header((header::VARY, "Accept"))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    // GeoJSON is in CRS84 unless the handler says otherwise (`crs`, with [`content_crs`]).
    if content_type == GEOJSON {
        builder.insert_header((
            header::HeaderName::from_static("content-crs"),
            format!("<{}>", super::crs::CRS84),
        ));
    }
    if fresh {
        builder.finish()
    } else {
        builder.content_type(content_type.to_owned()).body(body)
    }
}

/// Sends `body`, tagged by its own content.
pub fn send(req: &HttpRequest, content_type: &str, body: String) -> HttpResponse {
    let tag = etag(&[&body]);
    with_etag(req, content_type, tag, body)
}

/// A response body with its type and ETag, built away from the request (on the blocking pool) and
/// sent with [`Tagged::send`].
#[derive(Debug)]
pub struct Tagged {
    pub content_type: &'static str,
    pub tag: String,
    pub body: String,
}

/// `body`, tagged by its own content.
pub fn tagged(content_type: &'static str, body: String) -> Tagged {
    Tagged {
        content_type,
        tag: etag(&[&body]),
        body,
    }
}

impl Tagged {
    /// The response to `req`: the body, or `304` if the client holds this version.
    pub fn send(self, req: &HttpRequest) -> HttpResponse {
        with_etag(req, self.content_type, self.tag, self.body)
    }
}

/// Percent-encodes an id for use as one URL path segment.
pub fn segment(id: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(id, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn with_accept(accept: &str) -> Format {
        negotiate(
            &TestRequest::default()
                .insert_header(("Accept", accept))
                .to_http_request(),
            None,
        )
    }

    #[test]
    fn accept_with_q_values() {
        assert_eq!(
            with_accept("text/html,application/xhtml+xml,*/*;q=0.8"),
            Format::Html
        );
        assert_eq!(with_accept("TEXT/HTML"), Format::Html);
        assert_eq!(with_accept("application/json;q=0, text/html"), Format::Html);
        assert_eq!(
            with_accept("text/html;q=0.5, application/geo+json"),
            Format::Json
        );
        assert_eq!(with_accept("application/json, text/html"), Format::Json);
        assert_eq!(with_accept("*/*"), Format::Json);
        assert_eq!(with_accept(""), Format::Json);
    }

    #[test]
    fn accept_for_sequences() {
        let seq = |accept: &str| {
            prefers_seq(
                &TestRequest::default()
                    .insert_header(("Accept", accept))
                    .to_http_request(),
            )
        };
        assert!(seq("application/geo+json-seq"));
        assert!(seq("application/geo+json-seq, application/geo+json;q=0.9"));
        assert!(seq("application/json-seq, text/html;q=0.5"));
        assert!(!seq("application/geo+json, application/geo+json-seq"));
        assert!(!seq("text/html,*/*;q=0.8"));
        assert!(!seq(""));
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("kgz_mailuu-suu.1"), "kgz_mailuu-suu.1");
        assert_eq!(segment("a b/c?"), "a%20b%2Fc%3F");
    }

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
