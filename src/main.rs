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
    #[arg(long, default_value = "atlas.gpkg", global = true)]
    store: PathBuf,
    /// Directory with the reference layers and the seed inventory.
    #[arg(long, default_value = "data", global = true)]
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
        /// Largest request body accepted (edits, imports), in megabytes.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        max_body_mb: u64,
        /// Require a token (any role) for reads too; by default reads are public.
        #[arg(long)]
        private_reads: bool,
        #[command(flatten)]
        analysis: AnalysisArgs,
        #[command(flatten)]
        sources: Sources,
    },
    /// Manage the API tokens kept in the store.
    Token {
        #[command(subcommand)]
        action: TokenAction,
        #[command(flatten)]
        sources: Sources,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create a token and print it (once: only its hash is kept).
    Create {
        /// reader, editor or admin.
        #[arg(long)]
        role: String,
        /// For editors: the ISO3 codes of the countries whose sites the token may change (KGZ,TJK).
        #[arg(long, value_delimiter = ',')]
        countries: Vec<String>,
        /// Who holds the token; recorded in the history of every change made with it.
        #[arg(long)]
        name: String,
    },
    /// List the tokens (never their secrets).
    List,
    /// Revoke a token by its id (as `token list` shows it).
    Revoke { id: String },
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
            max_body_mb,
            private_reads,
            analysis,
            sources,
        } => serve(
            &bind,
            workers,
            base_url.as_deref(),
            &ServeLimits {
                max_body_bytes: (max_body_mb * 1024 * 1024) as usize,
                private_reads,
            },
            &analysis,
            &sources,
        ),
        Command::Token { action, sources } => token(action, &sources),
    }
}

struct ServeLimits {
    max_body_bytes: usize,
    private_reads: bool,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

fn token(action: TokenAction, sources: &Sources) -> ExitCode {
    use tailings_atlas::store::{Role, TokenStore};
    let store = match tailings_atlas::app::open_store(&sources.store, &sources.data) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    match action {
        TokenAction::Create {
            role,
            countries,
            name,
        } => {
            let role: Role = match role.parse() {
                Ok(r) => r,
                Err(e) => return fail(format!("--role: {e}")),
            };
            let mut codes = Vec::new();
            for c in countries.iter().filter(|c| !c.trim().is_empty()) {
                match tailings_atlas::model::Iso3::parse(c, "countries") {
                    Ok(code) => codes.push(code.as_str().to_owned()),
                    Err(e) => return fail(format!("--countries: {e}")),
                }
            }
            if role == Role::Editor && codes.is_empty() {
                return fail(
                    "--countries: an editor needs at least one country (e.g. --countries KGZ,TJK)",
                );
            }
            if role != Role::Editor && !codes.is_empty() {
                return fail(format!(
                    "--countries: only editors are limited to countries; a {} token is not",
                    role.as_str()
                ));
            }
            if name.trim().is_empty() {
                return fail("--name: must not be empty");
            }
            let (record, text) = match tailings_atlas::auth::new_token(name.trim(), role, &codes) {
                Ok(t) => t,
                Err(e) => return fail(e),
            };
            if let Err(e) = store.add_token(&record) {
                return fail(e);
            }
            eprintln!(
                "created token {} ({}{}) for {:?}; it is shown only now:",
                record.token_id,
                role.as_str(),
                if codes.is_empty() {
                    String::new()
                } else {
                    format!(": {}", codes.join(","))
                },
                record.name
            );
            println!("{text}");
            ExitCode::SUCCESS
        }
        TokenAction::List => match store.tokens() {
            Ok(tokens) => {
                println!("id\trole\tcountries\tname\tcreated\trevoked");
                for t in tokens {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        t.token_id,
                        t.role.as_str(),
                        t.countries.join(","),
                        t.name,
                        t.created_at,
                        t.revoked_at.as_deref().unwrap_or("-")
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        TokenAction::Revoke { id } => match store.revoke_token(id.trim()) {
            Ok(true) => {
                eprintln!("revoked token {id}");
                ExitCode::SUCCESS
            }
            Ok(false) => fail(format!("no active token {id:?} (see `token list`)")),
            Err(e) => fail(e),
        },
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
    limits: &ServeLimits,
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
    let mut state = AppState::new(atlas).with_max_body_bytes(limits.max_body_bytes);
    if limits.private_reads {
        state = state.with_private_reads();
    }
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
