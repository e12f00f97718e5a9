//! OGC API – Tiles over the catalog: vector tiles of each collection and of the whole map, their
//! tileset metadata, TileJSON 3.0, the WebMercatorQuad tile matrix set, and the files of the
//! tiles directory (PMTiles archives) with HTTP range requests. Tiles come from the bounded tile
//! cache, or are encoded on the blocking pool and cached.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::http::{StatusCode, header};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::ApiError;
use super::handlers::{collection_or_404, link};
use super::params::CRS84;
use super::respond::{self, JSON};
use crate::catalog::Catalog;
use crate::tiles::cache::{EncodedTile, TileKey};
use crate::tiles::{self as core, MAX_ZOOM, TMS_CRS, TMS_ID, TMS_URI, TileError, TileId};

/// The media type of a Mapbox Vector Tile.
pub const MVT: &str = "application/vnd.mapbox-vector-tile";
/// The media type of a PMTiles archive.
pub const PMTILES: &str = "application/vnd.pmtiles";
const TILEJSON: &str = "application/json";
/// The link relation of a collection's vector tilesets.
pub const REL_TILESETS_VECTOR: &str = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector";
const REL_TILING_SCHEME: &str = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme";
/// The cache key and layer name of the multi-layer map tiles.
pub const MAP: &str = "map";

/// Tiles are revalidated (cheaply, by ETag): the inventory can change at any time.
const TILE_CACHE_CONTROL: &str = "public, no-cache";

fn tile_error(e: TileError) -> ApiError {
    ApiError::not_found(e.to_string())
}

/// Checks the tile matrix set's name.
fn tms_or_404(tms: &str) -> Result<(), ApiError> {
    if tms == TMS_ID {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no tile matrix set {tms:?}; available: {TMS_ID}"
        )))
    }
}

/// Parses z, x and y: a non-integer is a 400 naming it, a tile outside the matrix a 404.
fn parse_tile(z: &str, x: &str, y: &str) -> Result<TileId, ApiError> {
    fn int(name: &str, v: &str) -> Result<u64, ApiError> {
        v.parse::<u64>().map_err(|_| {
            ApiError::bad_parameter(name, format!("{v:?} is not a non-negative integer"))
        })
    }
    let z = int("tileMatrix", z)?;
    let x = int("tileCol", x)?;
    let y = int("tileRow", y)?;
    let z = u32::try_from(z).unwrap_or(u32::MAX);
    TileId::new(z, x, y).map_err(tile_error)
}

/// A query of no parameter but `f`, and `f` (if given) only `only`: `why` says what is offered.
fn only_f(query: &str, only: &str, why: &str) -> Result<(), ApiError> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != "f" {
            return Err(ApiError::unknown_parameter(k, &["f"]));
        }
        if v != only {
            return Err(ApiError::bad_parameter("f", format!("{v:?}: {why}")));
        }
    }
    Ok(())
}

/// A metadata request takes no parameters but `f=json`.
fn json_only(req: &HttpRequest) -> Result<(), ApiError> {
    only_f(req.query_string(), "json", "only json is offered here")
}

/// A tile request takes no parameters but `f=mvt`.
fn tile_query(query: &str) -> Result<(), ApiError> {
    only_f(query, "mvt", "tiles are served as mvt only")
}

/// Whether an `If-None-Match` header holds `tag` (weak comparison, as for every ETag here).
fn if_none_match(header: &str, tag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    header.trim() == "*" || header.split(',').any(|c| bare(c) == bare(tag))
}

/// A tile with its validator, as sent.
struct Served {
    tile: Arc<EncodedTile>,
    tag: String,
}

/// Weak (the response may be gzipped on the way), and from the tile's bytes alone: a tile that
/// did not change keeps its validator, and every replica gives the same one for the same tile.
fn tag_of(tile: &EncodedTile) -> String {
    format!("W/\"{:016x}\"", tile.hash)
}

/// The tile from the cache, or encoded (on the blocking pool) and cached. `layer` is a
/// collection id or [`MAP`].
async fn serve(state: &web::Data<AppState>, layer: &str, tile: TileId) -> Result<Served, ApiError> {
    // A tile of the current state in the cache is sent from here, without the blocking pool's
    // round trip: the published state's read lock is held for the look-up only (an integer and an
    // id). Readers share it; a publish holds it per changed site, its analysis done before.
    let key = {
        let live = state.service.live();
        let layer: &'static str = if layer == MAP {
            MAP
        } else {
            collection_or_404(&live.catalog, layer)?.id()
        };
        TileKey {
            layer,
            tile,
            generation: live.generation,
        }
    };
    if let Some(t) = state.tiles.get(&key) {
        let tag = tag_of(&t);
        return Ok(Served { tile: t, tag });
    }
    let layer = key.layer;
    let st = state.clone();
    web::block(move || -> Result<Served, ApiError> {
        let live = st.service.live();
        let catalog = &live.catalog;
        if layer != MAP {
            collection_or_404(catalog, layer)?;
        }
        let key = TileKey {
            layer,
            tile,
            generation: live.generation,
        };
        if let Some(t) = st.tiles.get(&key) {
            let tag = tag_of(&t);
            return Ok(Served { tile: t, tag });
        }
        let bytes = if layer == MAP {
            core::encode_layers(catalog, tile)
        } else {
            core::encode_tile(catalog, layer, tile).map_err(tile_error)?
        };
        let t = Arc::new(EncodedTile::new(bytes));
        let tag = tag_of(&t);
        st.tiles.put(key, t.clone());
        Ok(Served { tile: t, tag })
    })
    .await?
}

fn send_tile(req: &HttpRequest, served: Served) -> HttpResponse {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| if_none_match(v, &served.tag));
    let mut b = if fresh {
        HttpResponse::NotModified()
    } else if served.tile.is_empty() {
        HttpResponse::NoContent()
    } else {
        HttpResponse::Ok()
    };
    b.insert_header((header::ETAG, served.tag))
        .insert_header((header::CACHE_CONTROL, TILE_CACHE_CONTROL));
    if fresh || served.tile.is_empty() {
        b.finish()
    } else {
        b.content_type(MVT)
            .body(Bytes::from_owner(ArcBytes(served.tile)))
    }
}

/// Lets a cached tile be sent without copying it.
struct ArcBytes(Arc<EncodedTile>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.data.as_slice()
    }
}

/// `GET /collections/{id}/tiles/{tms}/{z}/{x}/{y}`
pub async fn tile(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let m = req.match_info();
    let part = |k: &str| m.get(k).unwrap_or_default();
    tms_or_404(part("tms"))?;
    let t = parse_tile(part("z"), part("x"), part("y"))?;
    tile_query(req.query_string())?;
    let served = serve(&state, part("id"), t).await?;
    Ok(send_tile(&req, served))
}

/// `GET /map/tiles/{z}/{x}/{y}`: every collection, one MVT layer each.
pub async fn map_tile(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let m = req.match_info();
    let part = |k: &str| m.get(k).unwrap_or_default();
    let t = parse_tile(part("z"), part("x"), part("y"))?;
    tile_query(req.query_string())?;
    let served = serve(&state, MAP, t).await?;
    Ok(send_tile(&req, served))
}

/// Reads the published catalog on the blocking pool and renders a JSON document from it.
async fn from_catalog(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    content_type: &'static str,
    render: impl FnOnce(&Catalog, &str) -> Result<Value, ApiError> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    json_only(req)?;
    let base = state.base_url(req);
    let st = state.clone();
    let body = web::block(move || -> Result<String, ApiError> {
        let live = st.service.live();
        Ok(render(&live.catalog, &base)?.to_string())
    })
    .await??;
    Ok(respond::send(req, content_type, body))
}

fn tiles_href(base: &str, id: &str) -> String {
    format!("{base}/collections/{}/tiles", respond::segment(id))
}

/// The collection's tile template, in the `{z}/{x}/{y}` order of the URLs.
fn xyz_template(base: &str, id: &str) -> String {
    format!("{}/{TMS_ID}/{{z}}/{{x}}/{{y}}", tiles_href(base, id))
}

fn tileset_summary(base: &str, id: &str, title: &str) -> Value {
    let href = format!("{}/{TMS_ID}", tiles_href(base, id));
    json!({
        "title": format!("{title} (vector tiles, {TMS_ID})"),
        "dataType": "vector",
        "crs": TMS_CRS,
        "tileMatrixSetURI": TMS_URI,
        "links": [
            link(href, "self", JSON, "The tileset"),
            link(format!("{base}/tileMatrixSets/{TMS_ID}"), REL_TILING_SCHEME, JSON, "The tile matrix set"),
        ],
    })
}

/// `GET /collections/{id}/tiles`
pub async fn tilesets(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    from_catalog(&req, &state, JSON, move |catalog, base| {
        let c = collection_or_404(catalog, &id)?;
        Ok(json!({
            "links": [link(tiles_href(base, c.id()), "self", JSON, "Tilesets")],
            "tilesets": [tileset_summary(base, c.id(), c.spec.title)],
        }))
    })
    .await
}

fn geometry_dimension(c: &crate::catalog::Collection) -> Option<u8> {
    use geo::Geometry as G;
    Some(match &*c.get(0)?.geometry() {
        G::Point(_) | G::MultiPoint(_) => 0,
        G::Line(_) | G::LineString(_) | G::MultiLineString(_) => 1,
        _ => 2,
    })
}

fn limits() -> Vec<Value> {
    (0..=MAX_ZOOM)
        .map(|z| {
            let max = TileId::matrix_size(z) - 1;
            json!({ "tileMatrix": z.to_string(), "minTileRow": 0, "maxTileRow": max,
                "minTileCol": 0, "maxTileCol": max })
        })
        .collect()
}

/// `GET /collections/{id}/tiles/{tms}`
pub async fn tileset(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, tms) = path.into_inner();
    tms_or_404(&tms)?;
    from_catalog(&req, &state, JSON, move |catalog, base| {
        let c = collection_or_404(catalog, &id)?;
        let mut doc = tileset_summary(base, c.id(), c.spec.title);
        let href = tiles_href(base, c.id());
        let properties: Map<String, Value> = core::layers::fields(c.id())
            .iter()
            .map(|(n, t)| {
                let ty = match t {
                    core::layers::FieldType::String => "string",
                    core::layers::FieldType::Number => "number",
                    core::layers::FieldType::Boolean => "boolean",
                };
                ((*n).to_owned(), json!({ "type": ty }))
            })
            .collect();
        let e = c.extent.unwrap_or([-180.0, -90.0, 180.0, 90.0]);
        doc["description"] = c.spec.description.into();
        doc["tileMatrixSetLimits"] = limits().into();
        doc["boundingBox"] =
            json!({ "lowerLeft": [e[0], e[1]], "upperRight": [e[2], e[3]], "crs": CRS84 });
        doc["layers"] = json!([{
            "id": c.id(), "dataType": "vector", "geometryDimension": geometry_dimension(c),
            "minTileMatrix": "0", "maxTileMatrix": MAX_ZOOM.to_string(),
            "propertiesSchema": { "type": "object", "properties": properties },
        }]);
        if let Some(links) = doc["links"].as_array_mut() {
            links.push(json!({
                "href": format!("{href}/{TMS_ID}/{{tileMatrix}}/{{tileCol}}/{{tileRow}}"),
                "rel": "item", "type": MVT, "templated": true, "title": "A vector tile",
            }));
            links.push(link(
                format!("{href}/{TMS_ID}/tilejson.json"),
                "describedby",
                TILEJSON,
                "TileJSON 3.0.0",
            ));
            links.push(link(
                format!("{base}/collections/{}", respond::segment(c.id())),
                "collection",
                JSON,
                c.spec.title,
            ));
        }
        Ok(doc)
    })
    .await
}

fn tilejson(
    catalog: &Catalog,
    name: &str,
    description: &str,
    tiles: String,
    ids: &[&str],
) -> Value {
    let bounds = core::catalog_bounds(catalog).unwrap_or([-180.0, -85.0, 180.0, 85.0]);
    let layers: Vec<Value> = core::archive::vector_layers(catalog, 0, MAX_ZOOM)
        .into_iter()
        .filter(|l| ids.iter().any(|id| l["id"] == *id))
        .collect();
    json!({
        "tilejson": "3.0.0",
        "name": name,
        "description": description,
        "version": "1.0.0",
        "attribution": core::archive::attribution(catalog),
        "scheme": "xyz",
        "tiles": [tiles],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2.0, (bounds[1] + bounds[3]) / 2.0, 5],
        "vector_layers": layers,
    })
}

/// `GET /collections/{id}/tiles/{tms}/tilejson.json`
pub async fn collection_tilejson(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, tms) = path.into_inner();
    tms_or_404(&tms)?;
    from_catalog(&req, &state, TILEJSON, move |catalog, base| {
        let c = collection_or_404(catalog, &id)?;
        let mut doc = tilejson(
            catalog,
            c.spec.title,
            c.spec.description,
            xyz_template(base, c.id()),
            &[c.id()],
        );
        // One collection: its own bounds and attribution.
        if let Some(e) = c.extent {
            doc["bounds"] = json!(e);
            doc["center"] = json!([(e[0] + e[2]) / 2.0, (e[1] + e[3]) / 2.0, 5]);
        }
        doc["attribution"] = c
            .spec
            .attribution
            .iter()
            .map(|a| a.text)
            .collect::<Vec<_>>()
            .join(" ")
            .into();
        Ok(doc)
    })
    .await
}

/// `GET /map/tilejson.json`: the multi-layer map tiles.
pub async fn map_tilejson(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    from_catalog(&req, &state, TILEJSON, move |catalog, base| {
        let ids: Vec<&str> = catalog.collections.iter().map(|c| c.id()).collect();
        Ok(tilejson(
            catalog,
            "Syr Darya basin risk map",
            "Every collection of the atlas, one vector-tile layer each (named by the collection id).",
            format!("{base}/map/tiles/{{z}}/{{x}}/{{y}}"),
            &ids,
        ))
    })
    .await
}

/// The WebMercatorQuad definition (OGC 17-083r4, Annex D.1), every tile matrix 0–24.
fn web_mercator_quad(base: &str) -> Value {
    let matrices: Vec<Value> = (0..=24u32)
        .map(|z| {
            let n = 1u64 << z;
            let cell = 2.0 * core::HALF_WORLD_M / (256.0 * n as f64);
            json!({
                "id": z.to_string(),
                "scaleDenominator": cell / 0.000_28,
                "cellSize": cell,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-core::HALF_WORLD_M, core::HALF_WORLD_M],
                "tileWidth": 256, "tileHeight": 256,
                "matrixWidth": n, "matrixHeight": n,
            })
        })
        .collect();
    json!({
        "id": TMS_ID,
        "title": "Google Maps Compatible for the World",
        "uri": TMS_URI,
        "crs": TMS_CRS,
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "links": [link(format!("{base}/tileMatrixSets/{TMS_ID}"), "self", JSON, TMS_ID)],
        "tileMatrices": matrices,
    })
}

/// `GET /tileMatrixSets`
pub async fn tile_matrix_sets(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    json_only(&req)?;
    let base = state.base_url(&req);
    let doc = json!({
        "links": [link(format!("{base}/tileMatrixSets"), "self", JSON, "Tile matrix sets")],
        "tileMatrixSets": [{
            "id": TMS_ID, "title": "Google Maps Compatible for the World", "uri": TMS_URI, "crs": TMS_CRS,
            "links": [link(format!("{base}/tileMatrixSets/{TMS_ID}"), "self", JSON, TMS_ID)],
        }],
    });
    Ok(respond::send(&req, JSON, doc.to_string()))
}

/// `GET /tileMatrixSets/{tms}`
pub async fn tile_matrix_set(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    json_only(&req)?;
    tms_or_404(&path.into_inner())?;
    let base = state.base_url(&req);
    Ok(respond::send(
        &req,
        JSON,
        web_mercator_quad(&base).to_string(),
    ))
}

/// Whether `name` is a plain file name: no directory part, not hidden, no odd characters.
fn plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn file_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()) {
        Some(e) if e == "pmtiles" => PMTILES,
        Some(e) if e == "json" => JSON,
        Some(e) if e == "mvt" || e == "pbf" => MVT,
        _ => "application/octet-stream",
    }
}

/// The byte range a `Range` header asks of a file of `len` bytes: `Ok(None)` for the whole
/// file (no header, another unit, or several ranges, which are answered whole), `Err` when it
/// cannot be satisfied.
fn byte_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 || len == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            let e: u64 = b.parse().map_err(|_| ())?;
            if e < start {
                return Err(());
            }
            e.min(len.saturating_sub(1))
        };
        if start >= len {
            return Err(());
        }
        (start, end)
    };
    Ok(Some(range))
}

/// Bytes read from the file per chunk of a streamed body.
const CHUNK: u64 = 256 * 1024;

/// `GET /tiles/{file}`: a file of the tiles directory, whole or by byte range.
pub async fn file(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner();
    if !plain_file_name(&name) {
        return Err(ApiError::not_found(format!(
            "no file {name:?} in the tiles directory (plain file names only)"
        )));
    }
    let full: PathBuf = state.tiles_dir.join(&name);
    let shown = name.clone();
    let opened = web::block(
        move || -> std::io::Result<(std::fs::File, u64, Option<std::time::SystemTime>)> {
            let f = std::fs::File::open(&full)?;
            let meta = f.metadata()?;
            if !meta.is_file() {
                return Err(std::io::Error::from(std::io::ErrorKind::NotFound));
            }
            Ok((f, meta.len(), meta.modified().ok()))
        },
    )
    .await?;
    let (mut f, len, modified) = opened
        .map_err(|_| ApiError::not_found(format!("no file {shown:?} in the tiles directory")))?;
    let stamp = modified
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let tag = respond::etag(&[&name, &len.to_string(), &stamp.to_string()]);
    let range_header = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok());
    // A range applies only while the client's copy (If-Range) is still this file.
    let if_range_ok = req
        .headers()
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == tag);
    let range = if if_range_ok {
        byte_range(range_header, len)
    } else {
        Ok(None)
    };
    let mut b = match range {
        Err(()) => {
            return Ok(HttpResponse::build(StatusCode::RANGE_NOT_SATISFIABLE)
                .insert_header((header::CONTENT_RANGE, format!("bytes */{len}")))
                .insert_header((header::ACCEPT_RANGES, "bytes"))
                .insert_header((header::CONTENT_ENCODING, "identity"))
                .finish());
        }
        Ok(Some((start, end))) => {
            let mut b = HttpResponse::build(StatusCode::PARTIAL_CONTENT);
            b.insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}")));
            (b, start, end + 1 - start)
        }
        Ok(None) => {
            let fresh = req
                .headers()
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| if_none_match(v, &tag));
            if fresh {
                return Ok(HttpResponse::NotModified()
                    .insert_header((header::ETAG, tag))
                    .finish());
            }
            (HttpResponse::Ok(), 0, len)
        }
    };
    let (builder, start, count) = (&mut b.0, b.1, b.2);
    builder
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Byte ranges are of the file as stored: no compression on the way.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .content_type(file_type(&name));
    if start > 0 {
        f = web::block(move || f.seek(SeekFrom::Start(start)).map(|_| f))
            .await?
            .map_err(ApiError::internal_from)?;
    }
    let chunks = futures_util::stream::try_unfold((f, count), |(mut f, left)| async move {
        if left == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        let n = left.min(CHUNK);
        let (f, buf) = web::block(move || -> std::io::Result<_> {
            let mut buf = vec![0u8; n as usize];
            f.read_exact(&mut buf)?;
            Ok((f, buf))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(Some((Bytes::from(buf), (f, left - n))))
    });
    Ok(builder.body(actix_web::body::SizedStream::new(count, chunks)))
}

/// The default tiles directory (`serve --tiles-dir`).
pub fn default_tiles_dir() -> &'static Path {
    Path::new("tiles")
}

/// The OpenAPI paths of the tiles endpoints.
pub(super) fn add_paths(paths: &mut Map<String, Value>, catalog: &Catalog) {
    let bad = json!({ "$ref": "#/components/responses/BadRequest" });
    let nf = json!({ "$ref": "#/components/responses/NotFound" });
    let json_ok = |d: &str| json!({ "description": d, "content": { "application/json": { "schema": { "type": "object" } } } });
    let p = |name: &str, d: &str| json!({ "name": name, "in": "path", "required": true, "description": d, "schema": { "type": "integer", "minimum": 0 } });
    let zxy = vec![
        p("z", &format!("Zoom level (tile matrix), 0 to {MAX_ZOOM}")),
        p("x", "Tile column, from the west"),
        p("y", "Tile row, from the north"),
    ];
    let tile_responses = json!({
        "200": { "description": "A Mapbox Vector Tile", "content": { MVT: { "schema": { "type": "string", "format": "binary" } } } },
        "204": { "description": "No feature reaches this tile" },
        "304": { "description": "Not modified: If-None-Match matched the ETag" },
        "400": bad, "404": nf,
    });
    let doc = |summary: String, ok: Value, params: Vec<Value>| {
        json!({ "get": { "summary": summary, "parameters": params,
            "responses": { "200": ok, "400": bad, "404": nf, "304": { "description": "Not modified" } } } })
    };
    for c in &catalog.collections {
        let id = c.id();
        paths.insert(
            format!("/collections/{id}/tiles"),
            doc(
                format!("Vector tilesets of {id}"),
                json_ok("Tileset list"),
                vec![],
            ),
        );
        paths.insert(
            format!("/collections/{id}/tiles/{TMS_ID}"),
            doc(
                format!("Tileset metadata of {id}"),
                json_ok("Tileset"),
                vec![],
            ),
        );
        paths.insert(
            format!("/collections/{id}/tiles/{TMS_ID}/tilejson.json"),
            doc(
                format!("TileJSON 3.0.0 of {id}"),
                json_ok("TileJSON"),
                vec![],
            ),
        );
        paths.insert(
            format!("/collections/{id}/tiles/{TMS_ID}/{{z}}/{{x}}/{{y}}"),
            json!({ "get": { "summary": format!("A vector tile of {id}"), "parameters": zxy, "responses": tile_responses } }),
        );
    }
    paths.insert(
        "/map/tilejson.json".into(),
        doc(
            "TileJSON 3.0.0 of the whole map (one layer per collection)".into(),
            json_ok("TileJSON"),
            vec![],
        ),
    );
    paths.insert(
        "/map/tiles/{z}/{x}/{y}".into(),
        json!({ "get": { "summary": "A vector tile of every collection, one MVT layer each", "parameters": zxy, "responses": tile_responses } }),
    );
    paths.insert(
        "/tileMatrixSets".into(),
        doc(
            "Tile matrix sets".into(),
            json_ok("The tile matrix sets"),
            vec![],
        ),
    );
    paths.insert(
        format!("/tileMatrixSets/{TMS_ID}"),
        doc(
            "The WebMercatorQuad tile matrix set".into(),
            json_ok("Tile matrix set"),
            vec![],
        ),
    );
    paths.insert(
        "/tiles/{file}".into(),
        json!({ "get": { "summary": "A file of the tiles directory (a PMTiles archive), whole or by HTTP byte range",
            "parameters": [{ "name": "file", "in": "path", "required": true, "schema": { "type": "string" } },
                { "name": "Range", "in": "header", "required": false, "schema": { "type": "string" } }],
            "responses": {
                "200": { "description": "The file", "content": { PMTILES: { "schema": { "type": "string", "format": "binary" } } } },
                "206": { "description": "The requested byte range" },
                "416": { "description": "The range is outside the file" },
                "404": nf } } }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(byte_range(None, 100), Ok(None));
        assert_eq!(byte_range(Some("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(byte_range(Some("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=-1000"), 100), Ok(Some((0, 99))));
        assert_eq!(byte_range(Some("bytes=50-1000"), 100), Ok(Some((50, 99))));
        assert_eq!(byte_range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(byte_range(Some("bytes=9-3"), 100), Err(()));
        assert_eq!(byte_range(Some("bytes=x-3"), 100), Err(()));
        assert_eq!(byte_range(Some("bytes=-0"), 100), Err(()));
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(byte_range(Some("items=0-1"), 100), Ok(None));
    }

    #[test]
    fn file_names() {
        assert!(plain_file_name("syr-darya.pmtiles"));
        for bad in ["", "..", ".hidden", "a/b", "..%2Fx", "a\\b", "x y"] {
            assert!(!plain_file_name(bad), "{bad}");
        }
        assert_eq!(file_type("a.PMTILES"), PMTILES);
        assert_eq!(file_type("a.bin"), "application/octet-stream");
    }

    #[test]
    fn tile_addresses() {
        assert!(parse_tile("7", "89", "47").is_ok());
        let e = parse_tile("7.5", "1", "1").unwrap_err();
        assert!(e.to_string().contains("tileMatrix"), "{e}");
        assert!(parse_tile("-1", "1", "1").is_err());
        assert!(parse_tile("99999999999", "1", "1").is_err());
        assert!(tile_query("").is_ok() && tile_query("f=mvt").is_ok());
        assert!(tile_query("f=png").is_err() && tile_query("x=1").is_err());
    }
}
