//! `tailings-atlas tiles --out FILE [--minzoom Z] [--maxzoom Z]`: the atlas loaded as `serve`
//! loads it, every collection written into one PMTiles archive, with a progress bar.

use std::path::Path;
use std::process::ExitCode;

use super::{AnalysisArgs, Sources, fail};
use tailings_atlas::tiles::archive::{ArchiveOptions, write_archive};

pub(super) fn run(
    out: &Path,
    minzoom: u8,
    maxzoom: u8,
    analysis: &AnalysisArgs,
    sources: &Sources,
) -> ExitCode {
    if minzoom > maxzoom {
        return fail(format!("--minzoom {minzoom} is above --maxzoom {maxzoom}"));
    }
    let t0 = std::time::Instant::now();
    let atlas = match super::load_atlas(analysis, sources) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let t1 = std::time::Instant::now();
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} tiles {bar:40} {pos}/{len} ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let result = write_archive(
        &atlas.catalog,
        out,
        ArchiveOptions { minzoom, maxzoom },
        &mut progress,
    );
    bar.finish_and_clear();
    match result {
        Ok(r) => {
            eprintln!(
                "wrote {} ({} bytes): {} tiles with features of {} over z{minzoom}-z{maxzoom} in {:.2} s \
                 (load and analysis {:.2} s)",
                out.display(),
                r.bytes,
                r.tiles_written,
                r.tiles_considered,
                t1.elapsed().as_secs_f64(),
                (t1 - t0).as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
