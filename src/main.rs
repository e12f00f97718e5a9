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
        /// Most features a `POST /import` reads before refusing the file (413).
        #[arg(long, default_value_t = tailings_atlas::io::sites::DEFAULT_MAX_ROWS)]
        max_import_rows: usize,
        #[command(flatten)]
        analysis: AnalysisArgs,
        #[command(flatten)]
        sources: Sources,
    },
    /// Import sites from any vector file GDAL reads (GeoJSON, CSV with lon/lat or WKT, zipped
    /// Shapefile, GeoPackage, KML, FlatGeobuf, XLSX…) into the store: every row is validated first;
    /// sites are upserted by id in one transaction.
    Import {
        /// The file to import.
        file: PathBuf,
        /// Field mapping (JSON; see config/mappings/global-tailings-portal.json).
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Read a site field from a column: --map name="TSF Name" (repeatable).
        #[arg(long = "map", value_name = "FIELD=COLUMN")]
        map: Vec<String>,
        /// Give a site field one value for every row: --set kind=tailings (repeatable).
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Import the valid rows even if some are invalid (those are listed).
        #[arg(long)]
        skip_invalid: bool,
        /// Validate and report only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Most features to read; a file with more is refused.
        #[arg(long, default_value_t = tailings_atlas::io::sites::DEFAULT_MAX_ROWS)]
        max_rows: usize,
        /// Who is importing, for the history (default: cli:$USER).
        #[arg(long)]
        actor: Option<String>,
        /// Why, for the history.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        analysis: AnalysisArgs,
        #[command(flatten)]
        sources: Sources,
    },
    /// Export the inventory with every attribute and analysis field.
    Export {
        /// gpkg, shp (zipped), kml, csv, fgb or geojson.
        #[arg(long)]
        format: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
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
            max_import_rows,
            analysis,
            sources,
        } => serve(
            &bind,
            workers,
            base_url.as_deref(),
            &ServeLimits {
                max_body_bytes: (max_body_mb * 1024 * 1024) as usize,
                private_reads,
                max_import_rows,
            },
            &analysis,
            &sources,
        ),
        Command::Token { action, sources } => token(action, &sources),
        Command::Import {
            file,
            mapping,
            map,
            set,
            skip_invalid,
            dry_run,
            max_rows,
            actor,
            reason,
            analysis,
            sources,
        } => import(
            &file,
            &ImportArgs {
                mapping,
                map,
                set,
                options: tailings_atlas::transfer::ImportOptions {
                    dry_run,
                    skip_invalid,
                    max_rows,
                    ..Default::default()
                },
                actor,
                reason,
            },
            &analysis,
            &sources,
        ),
        Command::Export {
            format,
            out,
            analysis,
            sources,
        } => export(&format, &out, &analysis, &sources),
    }
}

struct ImportArgs {
    mapping: Option<PathBuf>,
    map: Vec<String>,
    set: Vec<String>,
    options: tailings_atlas::transfer::ImportOptions,
    actor: Option<String>,
    reason: Option<String>,
}

fn build_mapping(args: &ImportArgs) -> Result<tailings_atlas::io::sites_file::Mapping, String> {
    use tailings_atlas::io::sites_file::Mapping;
    let mut mapping = match &args.mapping {
        Some(p) => Mapping::load(p).map_err(|e| format!("--mapping: {e}"))?,
        None => Mapping::default(),
    };
    for (flag, list) in [("--map", &args.map), ("--set", &args.set)] {
        for pair in list {
            let (field, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("{flag} {pair:?}: expected FIELD=VALUE"))?;
            let r = if flag == "--map" {
                mapping.map_column(field.trim(), value)
            } else {
                mapping.set_constant(field.trim(), value)
            };
            r.map_err(|e| format!("{flag} {pair:?}: {e}"))?;
        }
    }
    Ok(mapping)
}

fn import(file: &Path, args: &ImportArgs, analysis: &AnalysisArgs, sources: &Sources) -> ExitCode {
    use tailings_atlas::store::SiteStore;
    use tailings_atlas::transfer::{ImportError, import_author, import_file};
    let (config, mapping) = match analysis
        .config()
        .and_then(|c| Ok((c, build_mapping(args)?)))
    {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let store = match tailings_atlas::app::open_store(&sources.store, &sources.data) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let actor = args.actor.clone().unwrap_or_else(|| {
        format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        )
    });
    let author = import_author(&actor, file, args.reason.as_deref());
    let t0 = std::time::Instant::now();
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} rows ({per_sec}) {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message("reading");
    let mut stored_sites = Vec::new();
    let result = import_file(file, &mapping, &args.options, &|_| bar.inc(1), |changes| {
        bar.set_position(0);
        bar.set_length(changes.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} rows ({per_sec}) {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message("writing");
        // Scripts and tests watch for this line: the transaction starts now.
        tracing::info!(
            rows = changes.len(),
            "writing to the store in one transaction"
        );
        let written = store.write(changes, &author, &|| bar.inc(1))?;
        stored_sites = written.iter().filter_map(|w| w.site.clone()).collect();
        Ok(written)
    });
    bar.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(ImportError::Invalid(report)) => {
            print_problems(&report.invalid);
            return fail(format!(
                "{}: {} of {} rows are invalid; nothing was written (--skip-invalid imports the {} valid rows)",
                file.display(),
                report.invalid.len(),
                report.rows,
                report.valid
            ));
        }
        Err(e) => return fail(e),
    };
    print_problems(&report.invalid);
    let seconds = t0.elapsed().as_secs_f64();
    eprintln!(
        "{}: {} rows ({} layer {:?}{}); {} valid, {} invalid{}",
        file.display(),
        report.rows,
        report.driver,
        report.layer,
        report
            .reprojected_from
            .as_deref()
            .map(|c| format!(", reprojected from {c}"))
            .unwrap_or_default(),
        report.valid,
        report.invalid.len(),
        if report.ignored_columns.is_empty() {
            String::new()
        } else {
            format!("; ignored columns: {}", report.ignored_columns.join(", "))
        }
    );
    if report.dry_run {
        eprintln!("dry run: nothing was written");
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "stored in {}: {} created, {} updated, {} unchanged ({:.2} s, {:.0} rows/s)",
        sources.store.display(),
        report.created,
        report.updated,
        report.unchanged,
        seconds,
        report.rows as f64 / seconds.max(1e-9)
    );
    // The imported sites' transboundary exposure, as the service will publish it.
    if !stored_sites.is_empty() {
        let t1 = std::time::Instant::now();
        match tailings_atlas::app::analyzer_for(&sources.data, &config) {
            Ok(analyzer) => {
                let extra = analyzer.analyse_sites(&stored_sites);
                let crossing = extra
                    .iter()
                    .filter(|m| m.get("first_crossing_to").is_some_and(|v| !v.is_null()))
                    .count();
                let near = extra
                    .iter()
                    .filter(|m| {
                        m.get("border_distance_m")
                            .and_then(|v| v.as_f64())
                            .is_some_and(|d| d <= 10_000.0)
                    })
                    .count();
                eprintln!(
                    "analysed {} sites in {:.2} s: {} drain across a border, {} lie within 10 km of one \
                     (total {:.2} s, {:.0} rows/s including analysis)",
                    stored_sites.len(),
                    t1.elapsed().as_secs_f64(),
                    crossing,
                    near,
                    t0.elapsed().as_secs_f64(),
                    report.rows as f64 / t0.elapsed().as_secs_f64().max(1e-9)
                );
            }
            Err(e) => eprintln!("warning: imported, but cannot analyse: {e}"),
        }
    }
    ExitCode::SUCCESS
}

fn print_problems(problems: &[tailings_atlas::transfer::RowProblem]) {
    for p in problems {
        eprintln!("row {}: {}", p.row, p.reason);
    }
}

fn export(format: &str, out: &Path, analysis: &AnalysisArgs, sources: &Sources) -> ExitCode {
    let format = match tailings_atlas::io::sites_file::ExportFormat::parse(format) {
        Ok(f) => f,
        Err(e) => return fail(format!("--format: {e}")),
    };
    let config = match analysis.config() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let t0 = std::time::Instant::now();
    let atlas = match load_with(&sources.store, &sources.data, &config) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let Some(sites) = atlas.catalog.collection(tailings_atlas::reference::SITES) else {
        return fail("no sites collection");
    };
    let all: Vec<usize> = (0..sites.features.len()).collect();
    let t1 = std::time::Instant::now();
    match tailings_atlas::transfer::export_sites(sites, &all, format, out) {
        Ok(()) => {
            eprintln!(
                "exported {} sites to {} ({}) in {:.2} s (load and analysis {:.2} s)",
                all.len(),
                out.display(),
                format.as_str(),
                t1.elapsed().as_secs_f64(),
                (t1 - t0).as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

struct ServeLimits {
    max_body_bytes: usize,
    private_reads: bool,
    max_import_rows: usize,
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
    // A spinner while the points and the reference layers are read, then a bar over the points.
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message("reading the points and the reference layers");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let t0 = std::time::Instant::now();
    let result =
        tailings_atlas::app::analyze_file(input, out, &sources.data, &config, |p| match p {
            tailings_atlas::app::Progress::Total(n) => {
                bar.disable_steady_tick();
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:40} {human_pos}/{human_len} points analysed, {eta} left",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar.set_length(n);
                bar.reset_elapsed();
            }
            tailings_atlas::app::Progress::Done(n) => bar.inc(n),
        });
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
    let mut state = AppState::new(atlas)
        .with_max_body_bytes(limits.max_body_bytes)
        .with_max_import_rows(limits.max_import_rows);
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

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
