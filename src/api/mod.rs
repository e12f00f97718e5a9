//! The HTTP layer: OGC API – Features over the [`Catalog`], on actix-web. Errors become OGC exception
//! JSON here and nowhere else.

mod analysis;
mod cache;
mod conn;
pub mod crs;
pub mod edit;
pub mod error;
mod handlers;
mod html;
mod items;
mod maps;
mod openapi;
mod ops;
pub mod params;
mod queryables;
mod respond;
mod seq;
pub mod throttle;
pub mod tiles;
mod transfer;
mod webmap;

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_service::ServiceFactoryExt as _;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::{App, HttpRequest, HttpResponse, ResponseError, middleware, web};
use futures_util::FutureExt;

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::service::{Atlas, Service as AtlasService};

use error::ApiError;

pub use handlers::CONFORMANCE;

/// What every handler reads: the live service (catalog, analyzer, store) and the pre-rendered API
/// definition.
pub struct AppState {
    pub service: AtlasService,
    openapi: String,
    base_url: Option<String>,
    /// Checks bearer tokens; `None` without a store (then nothing can be changed).
    auth: Option<Authenticator>,
    /// Request bodies above this are refused with 413.
    pub max_body_bytes: usize,
    /// Imports stop with 413 past this many features (`serve --max-import-rows`).
    pub max_import_rows: usize,
    /// Whether reads need no token.
    pub public_reads: bool,
    /// Serialised `/items` pages of the current published state.
    pages: cache::PageCache,
    /// Encoded vector tiles of the current published state.
    tiles: crate::tiles::TileCache,
    /// The directory `/tiles/{file}` serves (`serve --tiles-dir`).
    tiles_dir: std::path::PathBuf,
    /// Token checks per address and writes per token.
    throttle: throttle::Throttle,
    /// How long a read may take to answer (`serve --time-budget-s`).
    time_budget: std::time::Duration,
}

/// How long requests in flight may take to finish once the server is told to stop, in seconds.
pub const SHUTDOWN_GRACE_S: u64 = 30;

/// How long a read may take to answer by default, in seconds (`serve --time-budget-s`).
pub const DEFAULT_TIME_BUDGET_S: u64 = 30;

/// The default request body limit: 20 MB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 20 * 1024 * 1024;

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("base_url", &self.base_url)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("public_reads", &self.public_reads)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Wraps a built atlas for serving.
    pub fn new(atlas: Atlas) -> Self {
        let openapi = openapi::document(&atlas.catalog).to_string();
        let service = AtlasService::new(atlas);
        // Token lookups go through the service's (timed) store.
        let auth = service.store.clone().map(|s| {
            let tokens: Arc<dyn crate::store::TokenStore> = s;
            Authenticator::new(tokens)
        });
        AppState {
            service,
            openapi,
            base_url: None,
            auth,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_import_rows: crate::io::sites::DEFAULT_MAX_ROWS,
            public_reads: true,
            pages: cache::PageCache::new(cache::DEFAULT_BUDGET_BYTES),
            tiles: crate::tiles::TileCache::new(crate::tiles::cache::DEFAULT_BUDGET_BYTES),
            tiles_dir: tiles::default_tiles_dir().to_owned(),
            throttle: throttle::Throttle::default(),
            time_budget: std::time::Duration::from_secs(DEFAULT_TIME_BUDGET_S),
        }
    }

    /// Sets how long a read may take to answer before it is a 503.
    pub fn with_time_budget(mut self, budget: std::time::Duration) -> Self {
        self.time_budget = budget;
        self
    }

    /// Sets the rate limits: token verifications a minute per client address, writes a minute per
    /// token (0: no limit).
    pub fn with_rate_limits(
        mut self,
        token_checks_per_minute: u32,
        writes_per_minute: u32,
    ) -> Self {
        self.throttle = throttle::Throttle::new(token_checks_per_minute, writes_per_minute);
        self
    }

    /// Sets the directory whose files `/tiles/{file}` serves (`serve --tiles-dir`).
    pub fn with_tiles_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.tiles_dir = dir;
        self
    }

    /// Sets the memory for cached vector tiles (0: none).
    pub fn with_tile_cache_bytes(mut self, n: usize) -> Self {
        self.tiles = crate::tiles::TileCache::new(n);
        self
    }

    /// Sets the request body limit.
    pub fn with_max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// Sets the most features an import reads.
    pub fn with_max_import_rows(mut self, n: usize) -> Self {
        self.max_import_rows = n;
        self
    }

    /// Sets the memory for cached `/items` pages (`serve --page-cache-mb`; 0: none).
    pub fn with_page_cache_bytes(mut self, n: usize) -> Self {
        self.pages = cache::PageCache::new(n);
        self
    }

    /// Makes every read need a token (any role).
    pub fn with_private_reads(mut self) -> Self {
        self.public_reads = false;
        self
    }

    /// Links start with `base_url` (from [`check_base_url`]) instead of the scheme and host the client
    /// used: for proxies that send no `Forwarded` headers, and so a forged `Host` cannot steer links.
    pub fn with_base_url(mut self, base_url: String) -> Self {
        self.base_url = Some(base_url);
        self
    }

    /// The prefix of every absolute link in a response to `req`.
    pub fn base_url(&self, req: &HttpRequest) -> String {
        self.base_url
            .clone()
            .unwrap_or_else(|| respond::request_base_url(req))
    }
}

/// Checks a public base URL (`https://atlas.example.org/ogc`) and drops a trailing slash.
pub fn check_base_url(url: &str) -> Result<String, String> {
    let url = url.trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains(char::is_whitespace) || rest.contains(['?', '#']) {
        return Err(format!(
            "{url:?} is not a base URL (scheme, host, optional path)"
        ));
    }
    Ok(url.to_owned())
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    ApiError::method_not_allowed(req.method().as_str(), req.path()).error_response()
}

/// The collections whose items can be created, replaced, changed and deleted: only the inventory.
pub const EDITABLE_COLLECTIONS: &[&str] = &[crate::reference::SITES];

/// Whether collection `cid` can be changed here: it is the inventory, and the service has a store
/// (and so tokens) to change it with. The one place that knows; the `Allow` headers follow from it.
pub fn editable(state: &AppState, cid: &str) -> bool {
    state.auth.is_some() && EDITABLE_COLLECTIONS.contains(&cid)
}

/// The methods `/collections/{cid}/items` supports.
pub fn items_allow(state: &AppState, cid: &str) -> &'static str {
    if editable(state, cid) {
        "GET, HEAD, POST"
    } else {
        "GET, HEAD"
    }
}

/// The methods `/collections/{cid}/items/{fid}` supports.
pub fn item_allow(state: &AppState, cid: &str) -> &'static str {
    if editable(state, cid) {
        "GET, HEAD, PUT, PATCH, DELETE"
    } else {
        "GET, HEAD"
    }
}

/// The 405 answer of a collection's items resource, whose methods depend on the collection.
fn not_allowed_in_collection(allow: fn(&AppState, &str) -> &'static str) -> actix_web::Route {
    web::to(
        move |req: HttpRequest, state: web::Data<AppState>| async move {
            let cid = req.match_info().get("id").unwrap_or_default();
            ApiError::method_not_allowed_on(req.method().as_str(), req.path(), allow(&state, cid))
                .error_response()
        },
    )
}

/// The 405 answer of a resource that supports `allow`.
fn not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move |req: HttpRequest| async move {
        ApiError::method_not_allowed_on(req.method().as_str(), req.path(), allow).error_response()
    })
}

/// A GET-only resource (HEAD answered too); other methods get a 405 exception.
fn get_resource<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::route().method(Method::GET).to(handler.clone()))
        .route(web::route().method(Method::HEAD).to(handler))
        .default_service(web::to(method_not_allowed))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_resource("/", handlers::landing))
        .service(get_resource("/conformance", handlers::conformance))
        // Tiles come in hundreds per map view: their routes are matched before the others.
        .service(get_resource("/collections/{id}/tiles", tiles::tilesets))
        .service(get_resource(
            "/collections/{id}/tiles/{tms}",
            tiles::tileset,
        ))
        .service(get_resource(
            "/collections/{id}/tiles/{tms}/tilejson.json",
            tiles::collection_tilejson,
        ))
        .service(get_resource(
            "/collections/{id}/tiles/{tms}/{z}/{x}/{y}",
            tiles::tile,
        ))
        .service(get_resource("/map/tilejson.json", tiles::map_tilejson))
        .service(get_resource("/map/tiles/{z}/{x}/{y}", tiles::map_tile))
        .service(get_resource("/api", handlers::api))
        .service(get_resource("/collections", handlers::collections))
        .service(get_resource("/collections/{id}", handlers::collection))
        .service(get_resource(
            "/collections/{id}/queryables",
            queryables::queryables,
        ))
        .service(
            web::resource("/collections/{id}/items")
                .route(web::route().method(Method::GET).to(items::items))
                .route(web::route().method(Method::HEAD).to(items::items))
                .route(web::route().method(Method::POST).to(edit::create))
                .default_service(not_allowed_in_collection(items_allow)),
        )
        .service(
            web::resource("/collections/{id}/items/{fid}")
                .route(web::route().method(Method::GET).to(items::item))
                .route(web::route().method(Method::HEAD).to(items::item))
                .route(web::route().method(Method::PUT).to(edit::replace))
                .route(web::route().method(Method::PATCH).to(edit::patch))
                .route(web::route().method(Method::DELETE).to(edit::delete))
                .default_service(not_allowed_in_collection(item_allow)),
        )
        .service(get_resource(
            "/collections/sites/items/{fid}/history",
            edit::history,
        ))
        .service(
            web::resource("/collections/sites/items/{fid}/restore")
                .route(web::route().method(Method::POST).to(edit::restore))
                .default_service(not_allowed("POST")),
        )
        .service(get_resource(
            "/collections/sites/items/{fid}/downstream",
            analysis::downstream,
        ))
        .service(
            web::resource("/import")
                .route(web::route().method(Method::POST).to(transfer::import))
                .default_service(not_allowed("POST")),
        )
        .service(get_resource("/health", handlers::health))
        .service(get_resource("/health/live", ops::live))
        .service(get_resource("/health/ready", ops::ready))
        .service(get_resource("/metrics", ops::metrics))
        .service(get_resource("/attribution", handlers::attribution))
        .service(get_resource("/analysis/proximity", analysis::proximity))
        .service(get_resource("/analysis/near-border", analysis::near_border))
        .service(get_resource("/analysis/nearest", analysis::nearest_sites))
        .service(get_resource("/tileMatrixSets", tiles::tile_matrix_sets))
        .service(get_resource(
            "/tileMatrixSets/{tms}",
            tiles::tile_matrix_set,
        ))
        .service(get_resource("/tiles/{file}", tiles::file))
        .service(get_resource("/maps/{file}", maps::map))
        .service(get_resource("/map", webmap::page))
        .service(get_resource("/map/style.json", webmap::style))
        .service(get_resource("/map/static/{file}", webmap::static_file));
}

fn cors() -> actix_cors::Cors {
    actix_cors::Cors::default()
        .allow_any_origin()
        .allowed_methods(["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"])
        .allow_any_header()
        // What a browser script on another origin may read: a PMTiles reader needs the ranges and
        // the ETag, an OGC client the CRS of what it got.
        .expose_headers([
            "ETag",
            "Location",
            "Content-Range",
            "Accept-Ranges",
            "Content-Length",
            "Content-Crs",
        ])
        .max_age(86_400)
}

/// The application with its full middleware stack; tests and the server build it the same way.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    app_with(state, |_| {})
}

/// [`app`] with extra routes, so tests can mount a handler that misbehaves under the real middleware.
pub fn app_with(
    state: web::Data<AppState>,
    extra: impl FnOnce(&mut web::ServiceConfig),
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        // A path segment that is not valid percent-encoded UTF-8 names no collection or feature.
        .app_data(web::PathConfig::default().error_handler(|err, req| {
            ApiError::not_found(format!("no resource at {}: {err}", req.path())).into()
        }))
        .configure(routes)
        .configure(extra)
        .default_service(web::to(handlers::not_found))
        // A read that takes longer than the budget to answer is a 503 with `Retry-After`, not a
        // client left waiting (its work on the blocking pool runs out; a stream, once its head is
        // sent, is not cut). Writes are never cut short: their outcome must be known.
        .wrap_fn(|req, srv| {
            let limited = req
                .app_data::<web::Data<AppState>>()
                .filter(|_| matches!(*req.method(), Method::GET | Method::HEAD))
                .map(|s| (s.time_budget, s.service.metrics.clone()));
            let path = req.path().to_owned();
            let fut = srv.call(req);
            async move {
                let Some((budget, metrics)) = limited else {
                    return fut.await;
                };
                match actix_web::rt::time::timeout(budget, fut).await {
                    Ok(res) => res,
                    Err(_) => {
                        tracing::warn!(%path, budget_ms = budget.as_millis() as u64, "over the time budget");
                        metrics.refused("time_budget");
                        Err(ApiError::busy(format!(
                            "the answer took longer than this service's time budget of {} ms; \
                             try again, or ask for less (a smaller bbox, page or map)",
                            budget.as_millis()
                        ))
                        .into())
                    }
                }
            }
        })
        // A panic must not drop the connection or leak its message: answer a plain 500 and log it.
        .wrap_fn(|req, srv| {
            // Only the path is kept: a clone of the request would stop the router from matching it.
            let path = req.path().to_owned();
            let fut = srv.call(req);
            async move {
                match AssertUnwindSafe(fut).catch_unwind().await {
                    Ok(res) => res,
                    Err(_) => {
                        tracing::error!(%path, "handler panicked");
                        Err(ApiError::internal().into())
                    }
                }
            }
        })
        // Reads need a token only when the operator said so; the landing page, conformance, API
        // definition and health stay open so clients can discover the service, and so do the web
        // map's page and its static files (no data: the page asks for a token and sends it with
        // every request for data).
        .wrap_fn(|req, srv| {
            let check = req.app_data::<web::Data<AppState>>().and_then(|state| {
                let open = state.public_reads
                    || !matches!(*req.method(), Method::GET | Method::HEAD)
                    || matches!(
                        req.path(),
                        "/" | "/conformance"
                            | "/api"
                            | "/health"
                            | "/health/live"
                            | "/health/ready"
                            | "/metrics"
                            | "/map"
                    )
                    || req.path().starts_with("/map/static/");
                // The token is checked on the blocking pool (argon2, a store lookup).
                (!open).then(|| edit::grant(req.request(), state))
            });
            // Routing happens now; the handler runs only when `fut` is first polled, after the check.
            let fut = srv.call(req);
            async move {
                if let Some(check) = check {
                    check.await?;
                }
                fut.await
            }
        })
        .wrap(middleware::Compress::default())
        .wrap(cors())
        // CORS and compression answer some errors themselves, in plain text; clients get OGC JSON.
        .wrap_fn(|req, srv| {
            let fut = srv.call(req);
            async move {
                let res = match fut.await {
                    Ok(res) => res,
                    // Ours already (a 429 or 503 from the middleware): kept as it is, with its
                    // code and Retry-After.
                    Err(e) if e.as_error::<ApiError>().is_some() => return Err(e),
                    Err(e) => {
                        let status = e.as_response_error().status_code();
                        return Err(ApiError::from_status(status, e.to_string()).into());
                    }
                };
                let is_json = res
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/json"));
                let status = res.status();
                if !(status.is_client_error() || status.is_server_error()) || is_json {
                    return Ok(res.map_into_boxed_body());
                }
                let (req, res) = res.into_parts();
                let headers = res.headers().clone();
                let body = actix_web::body::to_bytes(res.into_body())
                    .await
                    .unwrap_or_default();
                let text = String::from_utf8_lossy(&body).trim().to_owned();
                let description = if text.is_empty() {
                    status.canonical_reason().unwrap_or("error").to_owned()
                } else {
                    text
                };
                let mut out = ApiError::from_status(status, description).error_response();
                for (name, value) in &headers {
                    if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                        out.headers_mut().append(name.clone(), value.clone());
                    }
                }
                Ok(ServiceResponse::new(req, out).map_into_boxed_body())
            }
        })
        // Outermost: every response (CORS preflights and errors too) gets the security headers,
        // and is logged and counted.
        .wrap_fn(|req, srv| {
            let start = Instant::now();
            let method = req.method().to_string();
            let path = req.path().to_owned();
            let query = req.query_string().to_owned();
            let peer = req.peer_addr();
            let metrics = req
                .app_data::<web::Data<AppState>>()
                .map(|s| s.service.metrics.clone());
            let fut = srv.call(req);
            async move {
                let mut res = fut.await;
                let (status, route) = match &mut res {
                    Ok(r) => {
                        let status = r.status();
                        ops::security_headers(status, r.headers_mut());
                        (r.status().as_u16(), r.request().match_pattern())
                    }
                    Err(e) => (e.as_response_error().status_code().as_u16(), None),
                };
                let elapsed = start.elapsed();
                if let Some(m) = metrics {
                    m.request(route.as_deref(), &method, status, elapsed);
                }
                // Every refused authorization (no or a bad token, no right, over a limit).
                if matches!(status, 401 | 403 | 429) {
                    tracing::warn!(
                        target: "tailings_atlas::audit",
                        event = "refused",
                        %method, %path, status,
                        peer = %peer.map_or_else(|| "-".to_owned(), |p| p.ip().to_string()),
                        "authorization refused"
                    );
                }
                tracing::info!(
                    target: "tailings_atlas::http",
                    %method, %path, %query, status,
                    elapsed_us = elapsed.as_micros() as u64,
                    "request"
                );
                res
            }
        })
}

/// Starts serving on already bound listeners; returns the server and the addresses it listens on.
pub fn server(
    state: AppState,
    listeners: Vec<std::net::TcpListener>,
    workers: Option<usize>,
) -> std::io::Result<(Server, Vec<SocketAddr>)> {
    let state = web::Data::new(state);
    // Other processes (a CLI import, another replica) may write to the same store: publish their
    // changes as the store tells of them (a store that must poll looks four times a second: one
    // indexed read of the newest version), so no restart is needed.
    crate::service::follow_store(
        state.clone().into_inner(),
        |s: &AppState| &s.service,
        std::time::Duration::from_millis(250),
    )?;
    // actix-web's `HttpServer::listen`, assembled from the same parts with the same settings, so that
    // each connection's stream goes through a `HeadGuard`: actix answers a request line or head too
    // long to parse with an empty 400 or 431 before any middleware, and the guard answers those
    // with an OGC exception instead.
    // On SIGTERM or SIGINT: stop accepting at once, let requests in flight (a large export among
    // them) finish for up to the grace period, then stop the workers; the store closes as the
    // state is dropped, and the process exits 0.
    let mut builder = actix_server::Server::build().shutdown_timeout(SHUTDOWN_GRACE_S);
    if let Some(n) = workers {
        builder = builder.workers(n);
    }
    let shutdown = builder.graceful_shutdown_signal();
    let mut addrs = Vec::with_capacity(listeners.len());
    for listener in listeners {
        let addr = listener.local_addr()?;
        addrs.push(addr);
        let state = state.clone();
        let shutdown = shutdown.clone();
        builder = builder.listen(format!("tailings-atlas-{addr}"), listener, move || {
            let shutdown = shutdown.clone();
            let http = actix_http::HttpService::build()
                .graceful_shutdown_signal(move || {
                    let signal = shutdown.clone();
                    async move { signal.notified().await }
                })
                .keep_alive(actix_http::KeepAlive::default())
                .client_request_timeout(std::time::Duration::from_secs(5))
                .client_disconnect_timeout(std::time::Duration::from_secs(1))
                .h1_allow_half_closed(true)
                .local_addr(addr)
                .finish(actix_service::map_config(
                    actix_service::IntoServiceFactory::into_factory(app(state.clone()))
                        .map_err(|err: actix_web::Error| err.error_response()),
                    // As `HttpServer` configures the app: plain HTTP, the listening address as host.
                    move |()| {
                        actix_web::dev::AppConfig::__priv_test_new(false, addr.to_string(), addr)
                    },
                ));
            actix_service::fn_service(|io: actix_web::rt::net::TcpStream| async move {
                // Compressed bodies go out in several writes; with Nagle's algorithm on, each waits for
                // the client's delayed ACK (~40 ms) on keep-alive connections.
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                Ok::<_, actix_http::error::DispatchError>((
                    conn::HeadGuard::new(io),
                    actix_http::Protocol::Http1,
                    peer,
                ))
            })
            .and_then(http)
        })?;
    }
    Ok((builder.run(), addrs))
}
