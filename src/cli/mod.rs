//! The subcommands, one module each: each parses its flags into the library's types, calls one
//! service function, and reports. `main.rs` only parses the command line and calls [`run`].

mod analyze;
mod export;
mod import;
mod map;
mod serve;
mod tiles;
mod token;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tailings_atlas::analysis::runout::RunoutModel;
use tailings_atlas::risk::RiskModel;
use tailings_atlas::service::AnalysisConfig;

#[derive(Parser)]
#[command(
    name = "tailings-atlas",
    version,
    about = "Syr Darya tailings and hazardous-site atlas"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The flags every subcommand that reads the store or the data takes.
#[derive(Args)]
struct Sources {
    /// The inventory: a GeoPackage path (created and seeded from --data on first start) or a
    /// postgresql:// URL (a PostGIS database, migrated and seeded on first start).
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
    /// The risk model (TOML, see config/risk-model.toml); default: the shipped one.
    #[arg(long)]
    risk_model: Option<PathBuf>,
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
        let risk = match &self.risk_model {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--risk-model {}: cannot read it: {e}", path.display()))?;
                RiskModel::from_toml(&text)
                    .map_err(|e| format!("--risk-model {}: {e}", path.display()))?
            }
            None => RiskModel::default_model(),
        };
        Ok(AnalysisConfig {
            runout,
            layers: self.layers.clone(),
            snap_limit_m: Some(self.snap_limit_km * 1000.0),
            risk: std::sync::Arc::new(risk),
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
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
        workers: Option<u64>,
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
        #[arg(long, default_value_t = tailings_atlas::io::sites::DEFAULT_MAX_ROWS as u64,
              value_parser = clap::value_parser!(u64).range(1..))]
        max_import_rows: u64,
        /// Memory for serialised `/items` pages of the current inventory, in megabytes (0: none).
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(0..=100_000))]
        page_cache_mb: u64,
        /// Directory whose files (PMTiles archives) `/tiles/{file}` serves.
        #[arg(long, default_value = "tiles")]
        tiles_dir: PathBuf,
        /// Token verifications a minute per client address, past which 429 (a token once
        /// accepted is not verified again; 0: no limit).
        #[arg(long, default_value_t = tailings_atlas::api::throttle::DEFAULT_TOKEN_CHECKS_PER_MINUTE)]
        token_checks_per_minute: u32,
        /// Writes (edits, restores, imports) a minute per token, past which 429 (0: no limit).
        #[arg(long, default_value_t = tailings_atlas::api::throttle::DEFAULT_WRITES_PER_MINUTE)]
        writes_per_minute: u32,
        /// Seconds a read may take to answer before it is a 503 with Retry-After (writes are
        /// never cut short).
        #[arg(long, default_value_t = tailings_atlas::api::DEFAULT_TIME_BUDGET_S,
              value_parser = clap::value_parser!(u64).range(1..=86_400))]
        time_budget_s: u64,
        /// A hot standby of the PostgreSQL --store to read the inventory from
        /// (postgresql://…); writes still go to --store. Its lag is reported on /health.
        #[arg(long)]
        read_store: Option<String>,
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
        #[arg(long, default_value_t = tailings_atlas::io::sites::DEFAULT_MAX_ROWS as u64,
              value_parser = clap::value_parser!(u64).range(1..))]
        max_rows: u64,
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
        /// Only the sites this CQL2 text filter selects, as `filter` on the items
        /// (`--filter "country = 'KGZ' AND risk_class IN ('high','very_high')"`).
        #[arg(long)]
        filter: Option<String>,
        /// The order of the sites, as `sortby` on the items (`-risk_score,+name`).
        #[arg(long)]
        sortby: Option<String>,
        #[command(flatten)]
        analysis: AnalysisArgs,
        #[command(flatten)]
        sources: Sources,
    },
    /// Write every collection into one PMTiles v3 archive of vector tiles (gzip-compressed MVT).
    Tiles {
        /// The archive to write (replaced only once the new one is complete).
        #[arg(long, default_value = "tiles/syr-darya.pmtiles")]
        out: PathBuf,
        /// Lowest zoom level.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=14))]
        minzoom: u8,
        /// Highest zoom level (at most 14).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=14))]
        maxzoom: u8,
        #[command(flatten)]
        analysis: AnalysisArgs,
        #[command(flatten)]
        sources: Sources,
    },
    /// Render the basin risk map (PNG or SVG) of the published inventory, for reports.
    Map {
        /// The file to write: .png or .svg (written whole or not at all).
        #[arg(long)]
        out: PathBuf,
        /// The box to show, WGS 84 degrees west,south,east,north (default: the sites and risk
        /// layers, padded).
        #[arg(long, allow_hyphen_values = true)]
        bbox: Option<String>,
        /// Width in pixels (200 to 8000); the height follows from the box.
        #[arg(long, default_value_t = tailings_atlas::render::DEFAULT_WIDTH)]
        width: u32,
        /// png or svg (default: from the extension of --out).
        #[arg(long)]
        format: Option<String>,
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
pub(crate) enum TokenAction {
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

/// Logs to stderr (`RUST_LOG`, `ATLAS_LOG_FORMAT=json`).
pub fn init_tracing() {
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

/// Runs the subcommand `cli` names.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Analyze {
            input,
            out,
            analysis,
            sources,
        } => analyze::run(&input, &out, &analysis, &sources),
        Command::Serve {
            bind,
            workers,
            base_url,
            max_body_mb,
            private_reads,
            max_import_rows,
            page_cache_mb,
            tiles_dir,
            token_checks_per_minute,
            writes_per_minute,
            time_budget_s,
            read_store,
            analysis,
            sources,
        } => serve::run(
            &bind,
            workers,
            base_url.as_deref(),
            &serve::ServeLimits {
                max_body_bytes: (max_body_mb * 1024 * 1024) as usize,
                private_reads,
                max_import_rows: max_import_rows as usize,
                page_cache_bytes: (page_cache_mb * 1024 * 1024) as usize,
                tiles_dir,
                token_checks_per_minute,
                writes_per_minute,
                time_budget: std::time::Duration::from_secs(time_budget_s),
                read_store,
            },
            &analysis,
            &sources,
        ),
        Command::Token { action, sources } => token::run(action, &sources),
        Command::Tiles {
            out,
            minzoom,
            maxzoom,
            analysis,
            sources,
        } => tiles::run(&out, minzoom, maxzoom, &analysis, &sources),
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
        } => import::run(
            &file,
            &import::ImportArgs {
                mapping,
                map,
                set,
                options: tailings_atlas::service::transfer::ImportOptions {
                    dry_run,
                    skip_invalid,
                    max_rows: max_rows as usize,
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
            filter,
            sortby,
            analysis,
            sources,
        } => export::run(
            &format,
            &out,
            export::Query {
                filter: filter.as_deref(),
                sortby: sortby.as_deref(),
            },
            &analysis,
            &sources,
        ),
        Command::Map {
            out,
            bbox,
            width,
            format,
            analysis,
            sources,
        } => map::run(
            &out,
            bbox.as_deref(),
            width,
            format.as_deref(),
            &analysis,
            &sources,
        ),
    }
}

pub(crate) fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// The atlas as `serve` loads it, from the store and data the flags name; a failure is reported.
fn load_atlas(
    analysis: &AnalysisArgs,
    sources: &Sources,
) -> Result<tailings_atlas::service::Atlas, ExitCode> {
    let config = analysis.config().map_err(fail)?;
    tailings_atlas::service::load_with(&sources.store, &sources.data, &config).map_err(fail)
}

fn read_runout(path: &Path) -> Result<RunoutModel, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    RunoutModel::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}
