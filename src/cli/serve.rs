//! `tailings-atlas serve`: every argument checked, the socket bound, then the store opened, the
//! layers loaded and the sites analysed while early clients wait in the backlog.

use std::process::ExitCode;

use super::{AnalysisArgs, Sources, fail};
use tailings_atlas::api::{self, AppState};
use tailings_atlas::service::load_reading_from;

pub(super) struct ServeLimits {
    pub max_body_bytes: usize,
    pub private_reads: bool,
    pub max_import_rows: usize,
    pub page_cache_bytes: usize,
    pub tiles_dir: std::path::PathBuf,
    pub token_checks_per_minute: u32,
    pub writes_per_minute: u32,
    pub time_budget: std::time::Duration,
    pub read_store: Option<String>,
}

/// Parsing the reference GeoJSON peaks well above what the catalog keeps; glibc holds on to those
/// pages unless asked to return them.
fn release_startup_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Binds every address `bind` resolves to (`localhost` may mean both 127.0.0.1 and ::1).
fn listen(bind: &str) -> std::io::Result<Vec<std::net::TcpListener>> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = bind.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(std::io::Error::other("resolves to no address"));
    }
    addrs.into_iter().map(std::net::TcpListener::bind).collect()
}

pub(super) fn run(
    bind: &str,
    workers: Option<u64>,
    base_url: Option<&str>,
    limits: &ServeLimits,
    analysis: &AnalysisArgs,
    sources: &Sources,
) -> ExitCode {
    let config = match analysis.config() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let base_url = match base_url.map(api::check_base_url).transpose() {
        Ok(u) => u,
        Err(e) => return fail(format!("--base-url: {e}")),
    };
    // Every argument is checked before the socket is bound: a mistake is reported at once, not
    // after a client found the port taken.
    if let Err(e) = config.check(&sources.data) {
        return fail(e);
    }
    if let Err(e) = tailings_atlas::service::startup::check_store_location(&sources.store) {
        return fail(e);
    }
    // Bind before loading: a taken port fails at once, and clients that connect during start-up
    // wait in the backlog instead of being refused.
    let listeners = match listen(bind) {
        Ok(l) => l,
        Err(e) => return fail(format!("--bind {bind}: cannot listen: {e}")),
    };
    let atlas = match load_reading_from(
        &sources.store,
        limits.read_store.as_deref(),
        &sources.data,
        &config,
    ) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let mut state = AppState::new(atlas)
        .with_max_body_bytes(limits.max_body_bytes)
        .with_max_import_rows(limits.max_import_rows)
        .with_page_cache_bytes(limits.page_cache_bytes)
        .with_tiles_dir(limits.tiles_dir.clone())
        .with_rate_limits(limits.token_checks_per_minute, limits.writes_per_minute)
        .with_time_budget(limits.time_budget);
    if limits.private_reads {
        state = state.with_private_reads();
    }
    if let Some(url) = base_url {
        state = state.with_base_url(url);
    }
    release_startup_memory();
    let result = actix_web::rt::System::new().block_on(async move {
        let (server, addrs) = api::server(state, listeners, workers.map(|n| n as usize))
            .map_err(|e| format!("--bind {bind}: {e}"))?;
        for a in &addrs {
            // Scripts and tests read the chosen port from this line.
            println!("listening on http://{a}");
            tracing::info!(address = %a, "listening");
        }
        server.await.map_err(|e| format!("server failed: {e}"))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}
