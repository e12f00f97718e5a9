//! `tailings-atlas export --format F --out FILE`: the inventory with every analysis field.

use std::path::Path;
use std::process::ExitCode;

use super::{AnalysisArgs, Sources, fail};
use tailings_atlas::service::export;

pub(super) fn run(
    format: &str,
    out: &Path,
    analysis: &AnalysisArgs,
    sources: &Sources,
) -> ExitCode {
    let format = match tailings_atlas::io::sites_file::ExportFormat::parse(format) {
        Ok(f) => f,
        Err(e) => return fail(format!("--format: {e}")),
    };
    let t0 = std::time::Instant::now();
    let atlas = match super::load_atlas(analysis, sources) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let service = tailings_atlas::service::Service::new(atlas);
    let all = match export::selected_ids(&service, &Default::default(), &[], None) {
        Ok(ids) => ids,
        Err(e) => return fail(e),
    };
    let t1 = std::time::Instant::now();
    match export::write_file(&service, &all, format, out) {
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
