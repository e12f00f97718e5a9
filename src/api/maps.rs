//! `GET /maps/basin-risk.png?bbox=W,S,E,N&width=PX` (and `basin-risk.svg`): the basin risk map of
//! the published state, rendered on the blocking pool. The ETag is made of the published state's
//! data tag ([`crate::service::Live::state_tag`], the same on every replica) and the parameters, so
//! a client that holds the map gets a `304` without a render.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::error::ApiError;
use super::params;
use crate::render::{self, Bounds, Format, MapOptions, Scene};

/// The map files served under `/maps/`.
pub const MAP_NAME: &str = "basin-risk";

/// The parameters `/maps/basin-risk.*` takes.
const PARAMS: &[&str] = &["bbox", "width"];

/// The format a `/maps/{file}` name asks for, if it names the map.
fn format_of(file: &str) -> Option<Format> {
    let (name, ext) = file.rsplit_once('.')?;
    if name != MAP_NAME {
        return None;
    }
    match ext {
        "png" => Some(Format::Png),
        "svg" => Some(Format::Svg),
        _ => None,
    }
}

fn parse(query: &str) -> Result<MapOptions, ApiError> {
    let pairs = params::parse_pairs(query)?;
    let mut opts = MapOptions::default();
    for (key, value) in &pairs {
        match key.as_str() {
            "bbox" => opts.bbox = Some(Bounds::parse(value)?),
            "width" => opts.width = render::parse_width(value)?,
            other => return Err(ApiError::unknown_parameter(other, PARAMS)),
        }
    }
    // A box too tall or too flat for the width is refused here, before any work.
    if let Some(b) = opts.bbox {
        render::View::new(b, opts.width)?;
    }
    Ok(opts)
}

/// The map's validator: the published state it is drawn from, and what was asked.
fn tag(state: &str, opts: &MapOptions, format: Format) -> String {
    let bbox = opts.bbox.map_or_else(|| "default".to_owned(), |b| b.text());
    super::respond::etag(&[
        MAP_NAME,
        env!("CARGO_PKG_VERSION"),
        state,
        &bbox,
        &opts.width.to_string(),
        format.as_str(),
    ])
}

fn fresh(req: &HttpRequest, tag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "*" || v.split(',').any(|c| bare(c) == bare(tag)))
}

fn headers(builder: &mut actix_web::HttpResponseBuilder, tag: String) {
    builder
        .insert_header((header::ETAG, tag))
        // The inventory can change: caches keep the map but revalidate (a cheap 304).
        .insert_header((header::CACHE_CONTROL, "public, no-cache"));
}

/// `GET /maps/{file}`
pub async fn map(
    req: HttpRequest,
    state: web::Data<AppState>,
    file: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let format = format_of(&file).ok_or_else(|| {
        ApiError::not_found(format!(
            "no map {:?}; maps: {MAP_NAME}.png, {MAP_NAME}.svg",
            file.as_str()
        ))
    })?;
    let opts = parse(req.query_string())?;
    let current = {
        let live = state.service.live();
        tag(&live.state_tag(), &opts, format)
    };
    if fresh(&req, &current) {
        let mut b = HttpResponse::NotModified();
        headers(&mut b, current);
        return Ok(b.finish());
    }
    let st = state.clone();
    let (tag, body) = web::block(move || -> Result<(String, Vec<u8>), ApiError> {
        // Drawn under the read lock; painted and encoded after it is released.
        let (tag, scene) = {
            let live = st.service.live();
            let tag = tag(&live.state_tag(), &opts, format);
            (tag, Scene::build(&live.catalog, &opts)?)
        };
        Ok((tag, scene.encode(format)?))
    })
    .await??;
    let mut b = HttpResponse::Ok();
    headers(&mut b, tag);
    Ok(b.content_type(format.media_type()).body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_names_and_parameters_are_checked() {
        assert_eq!(format_of("basin-risk.png"), Some(Format::Png));
        assert_eq!(format_of("basin-risk.svg"), Some(Format::Svg));
        assert_eq!(format_of("basin-risk.jpg"), None);
        assert_eq!(format_of("other.png"), None);
        let e = parse("width=9000").unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(e.description.contains("`width`"), "{}", e.description);
        let e = parse("bbox=1,2,3").unwrap_err();
        assert!(e.description.contains("`bbox`"), "{}", e.description);
        let e = parse("zoom=3").unwrap_err();
        assert!(e.description.contains("zoom"), "{}", e.description);
        let o = parse("bbox=66,39,79,45&width=800").unwrap();
        assert_eq!(o.width, 800);
        let a = tag("00ab", &o, Format::Png);
        assert_eq!(a, tag("00ab", &o, Format::Png));
        assert_ne!(a, tag("00ac", &o, Format::Png));
        assert_ne!(a, tag("00ab", &o, Format::Svg));
        assert_ne!(a, tag("00ab", &MapOptions::default(), Format::Png));
    }
}
