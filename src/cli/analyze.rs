//! `tailings-atlas analyze INPUT --out OUTPUT`: every point of a file, with a progress bar.

use std::path::Path;
use std::process::ExitCode;

use super::{AnalysisArgs, Sources, fail};
use tailings_atlas::service::{Progress, analyze_file};

pub(super) fn run(
    input: &Path,
    out: &Path,
    analysis: &AnalysisArgs,
    sources: &Sources,
) -> ExitCode {
    let config = match analysis.config() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    // A spinner while the points and the reference layers are read, then a bar over the points.
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message("reading the points and the reference layers");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let t0 = std::time::Instant::now();
    let result = analyze_file(input, out, &sources.data, &config, |p| match p {
        Progress::Total(n) => {
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
        Progress::Done(n) => bar.inc(n),
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
        Err(e) => fail(e),
    }
}
