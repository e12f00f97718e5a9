//! The `tailings-atlas` command: parses arguments and calls into the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tailings_atlas::analysis::runout::RunoutModel;
use tailings_atlas::api::{self, AppState};
use tailings_atlas::app::{AnalysisConfig, load_with};

#[derive(Parser)]
#[command(
    name = "tailings-atlas",
    version,
    about = "Syr Darya tailings and hazardous-site atlas"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The flags every subcommand that reads the store or the data takes.
#[derive(Args)]
struct Sources {
    /// GeoPackage holding the inventory; created and seeded from --data on first start.
    #[arg(long, default_value = "atlas.gpkg")]
    store: PathBuf,
    /// Directory with the reference layers and the seed inventory.
    #[arg(long, default_value = "data")]
    data: PathBuf,
}

/// The flags that shape the analysis.
#[derive(Args)]
struct AnalysisArgs {
    /// Runout regression coefficients (JSON, see config/runout.json); default: the shipped ones.
    #[arg(long)]
    runout_config: Option<PathBuf>,
    /// Other reference layers (JSON: {"rivers": "hydrorivers.gpkg", ...}, any GDAL format);
    /// default: the files of --data.
    #[arg(long)]
    layers: Option<PathBuf>,
    /// Sites farther than this from every river get no downstream result.
    #[arg(long, default_value_t = 100.0, value_parser = parse_snap_km, allow_negative_numbers = true)]
    snap_limit_km: f64,
}

fn parse_snap_km(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v.is_finite() && (0.0..=1000.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside [0, 1000]"))
    }
}

impl AnalysisArgs {
    fn config(&self) -> Result<AnalysisConfig, String> {
        let runout = match &self.runout_config {
            Some(path) => read_runout(path).map_err(|e| format!("--runout-config: {e}"))?,
            None => RunoutModel::default(),
        };
        Ok(AnalysisConfig {
            runout,
            layers: self.layers.clone(),
            snap_limit_m: Some(self.snap_limit_km * 1000.0),
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Analyse every point of a file (GeoJSON, CSV with lon/lat, GeoPackage, any GDAL vector format)
    /// and write CSV or GeoJSON with the same fields as the sites.
    Analyze {
        /// The points to analyse.
        input: PathBuf,
        /// Where to write the results: .csv, .geojson or .json.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        analysis: AnalysisArgs,
        #[command(flatten)]
        sources: Sources,
    },
    /// Serve the inventory and reference layers as OGC API - Features.
    Serve {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: String,
        /// HTTP worker threads (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// Public URL prefix for links (e.g. https://atlas.example.org); default: from each request.
        #[arg(long)]
        base_url: Option<String>,
        #[command(flatten)]
        analysis: AnalysisArgs,
        #[command(flatten)]
        sources: Sources,
    },
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("ATLAS_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze {
            input,
            out,
            analysis,
            sources,
        } => analyze(&input, &out, &analysis, &sources),
        Command::Serve {
            bind,
            workers,
            base_url,
            analysis,
            sources,
        } => serve(&bind, workers, base_url.as_deref(), &analysis, &sources),
    }
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

fn read_runout(path: &Path) -> Result<RunoutModel, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    RunoutModel::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn analyze(input: &Path, out: &Path, analysis: &AnalysisArgs, sources: &Sources) -> ExitCode {
    let config = match analysis.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {pos} points analysed ({per_sec}) {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let t0 = std::time::Instant::now();
    let result =
        tailings_atlas::app::analyze_file(input, out, &sources.data, &config, || bar.inc(1));
    bar.finish_and_clear();
    match result {
        Ok(n) => {
            eprintln!(
                "analysed {n} points in {:.2} s; wrote {}",
                t0.elapsed().as_secs_f64(),
                out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
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

fn serve(
    bind: &str,
    workers: Option<usize>,
    base_url: Option<&str>,
    analysis: &AnalysisArgs,
    sources: &Sources,
) -> ExitCode {
    let config = match analysis.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let base_url = match base_url.map(api::check_base_url).transpose() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: --base-url: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Bind before loading: a taken port fails at once, and clients that connect during start-up
    // wait in the backlog instead of being refused.
    let listeners = match listen(bind) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: --bind {bind}: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let atlas = match load_with(&sources.store, &sources.data, &config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut state = AppState::new(atlas);
    if let Some(url) = base_url {
        state = state.with_base_url(url);
    }
    release_startup_memory();
    let result = actix_web::rt::System::new().block_on(async move {
        let (server, addrs) =
            api::server(state, listeners, workers).map_err(|e| format!("--bind {bind}: {e}"))?;
        for a in &addrs {
            // Scripts and tests read the chosen port from this line.
            println!("listening on http://{a}");
            tracing::info!(address = %a, "listening");
        }
        server.await.map_err(|e| format!("server failed: {e}"))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
