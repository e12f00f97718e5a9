//! `tailings-atlas import FILE`: validate every row, then upsert in one transaction, with a
//! progress bar; then the imported sites' transboundary exposure, analysed chunk by chunk as they
//! are written. A chunk of rows at a time is held, never the whole file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{AnalysisArgs, Sources, fail};

pub(super) struct ImportArgs {
    pub mapping: Option<PathBuf>,
    pub map: Vec<String>,
    pub set: Vec<String>,
    pub options: tailings_atlas::service::transfer::ImportOptions,
    pub actor: Option<String>,
    pub reason: Option<String>,
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

pub(super) fn run(
    file: &Path,
    args: &ImportArgs,
    analysis: &AnalysisArgs,
    sources: &Sources,
) -> ExitCode {
    use tailings_atlas::service::transfer::{ImportError, import_author, import_file};
    let (config, mapping) = match analysis
        .config()
        .and_then(|c| Ok((c, build_mapping(args)?)))
    {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let store = match tailings_atlas::service::open_store(&sources.store, &sources.data) {
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
    let (data, store) = (&sources.data, &store);
    // When the write ended: the analysis of its last chunks may take a little longer.
    let mut committed = None;
    let (result, exposure) = std::thread::scope(|scope| {
        let mut exposure: Option<Exposure<'_>> = None;
        let result = import_file(
            file,
            &mapping,
            &args.options,
            &|n| bar.set_position(n as u64),
            |valid, next| {
                bar.set_position(0);
                bar.set_length(valid as u64);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg} [{bar:30}] {pos}/{len} rows ({per_sec}) {elapsed}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar.set_message("writing");
                // The exposure is analysed chunk by chunk beside the write, and printed once it
                // is committed.
                let worker = exposure.insert(Exposure::start(scope, data, &config));
                // Scripts and tests watch for this line: the transaction starts now.
                tracing::info!(rows = valid, "writing to the store in one transaction");
                let streamed = store.write_stream(next, &author, &|| bar.inc(1), &mut |written| {
                    worker.send(written.iter().filter_map(|w| w.site.clone()).collect());
                });
                committed = Some(t0.elapsed());
                if let Ok(s) = &streamed {
                    tailings_atlas::service::audit::streamed(&author, s);
                }
                streamed
            },
        );
        (result, exposure.map(Exposure::finish))
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
    let seconds = committed.unwrap_or_else(|| t0.elapsed()).as_secs_f64();
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
        tailings_atlas::store::shown_location(&sources.store.to_string_lossy()),
        report.created,
        report.updated,
        report.unchanged,
        seconds,
        report.rows as f64 / seconds.max(1e-9)
    );
    // The imported sites' transboundary exposure, as the service will publish it.
    match exposure {
        Some(Ok(e)) if e.sites > 0 => eprintln!(
            "analysed {} sites in {:.2} s: {} drain across a border, {} lie within 10 km of one \
             (total {:.2} s, {:.0} rows/s including analysis)",
            e.sites,
            e.seconds,
            e.drain_across_border,
            e.near_border,
            t0.elapsed().as_secs_f64(),
            report.rows as f64 / t0.elapsed().as_secs_f64().max(1e-9)
        ),
        Some(Err(e)) => eprintln!("warning: imported, but cannot analyse: {e}"),
        _ => {}
    }
    ExitCode::SUCCESS
}

/// The exposure of the written sites, analysed on a thread of its own (and one core) as the chunks
/// are written: the analyzer is loaded while the first chunks are, and at most four chunks wait
/// for it.
struct Exposure<'scope> {
    chunks: Option<std::sync::mpsc::SyncSender<Vec<tailings_atlas::model::Site>>>,
    worker: std::thread::ScopedJoinHandle<'scope, Result<Counted, String>>,
}

/// The exposure of every site written.
#[derive(Default)]
struct Counted {
    sites: usize,
    drain_across_border: usize,
    near_border: usize,
    /// Time spent analysing (not waiting for chunks).
    seconds: f64,
}

impl<'scope> Exposure<'scope> {
    fn start<'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        data: &'env Path,
        config: &'env tailings_atlas::service::AnalysisConfig,
    ) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<tailings_atlas::model::Site>>(4);
        let worker = scope.spawn(move || {
            // One thread: the other core is the store's, whose write is what holds the lock.
            let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
            let t = std::time::Instant::now();
            // Without an analyzer the chunks are still taken, so the write never waits for them.
            let analyzer = tailings_atlas::service::analyzer_for(data, config);
            let mut counted = Counted {
                seconds: t.elapsed().as_secs_f64(),
                ..Counted::default()
            };
            for chunk in rx {
                let Ok(analyzer) = &analyzer else { continue };
                let t = std::time::Instant::now();
                let exposure =
                    || tailings_atlas::service::analyze::exposure(analyzer, &chunk, 10_000.0);
                let e = match &pool {
                    Ok(pool) => pool.install(exposure),
                    Err(_) => exposure(),
                };
                counted.sites += chunk.len();
                counted.drain_across_border += e.drain_across_border;
                counted.near_border += e.near_border;
                counted.seconds += t.elapsed().as_secs_f64();
            }
            analyzer.map(|_| counted).map_err(|e| e.to_string())
        });
        Exposure {
            chunks: Some(tx),
            worker,
        }
    }

    fn send(&self, sites: Vec<tailings_atlas::model::Site>) {
        if let Some(tx) = &self.chunks {
            // Only fails if the worker is gone, which `finish` reports.
            let _ = tx.send(sites);
        }
    }

    /// Waits for the last chunk's analysis.
    fn finish(mut self) -> Result<Counted, String> {
        drop(self.chunks.take());
        self.worker
            .join()
            .unwrap_or_else(|_| Err("the analysis stopped unexpectedly".into()))
    }
}

fn print_problems(problems: &[tailings_atlas::service::transfer::RowProblem]) {
    for p in problems {
        eprintln!("row {}: {}", p.row, p.reason);
    }
}
