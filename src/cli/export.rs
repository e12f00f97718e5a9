//! `tailings-atlas export --format F --out FILE [--filter CQL2] [--sortby KEYS]`: the inventory with
//! every analysis field, or the sites a filter selects.

use std::path::Path;
use std::process::ExitCode;

use super::{AnalysisArgs, Sources, fail};
use tailings_atlas::service::export;

/// Which sites, in which order.
pub(super) struct Query<'a> {
    pub filter: Option<&'a str>,
    pub sortby: Option<&'a str>,
}

pub(super) fn run(
    format: &str,
    out: &Path,
    query: Query<'_>,
    analysis: &AnalysisArgs,
    sources: &Sources,
) -> ExitCode {
    let format = match tailings_atlas::io::sites_file::ExportFormat::parse(format) {
        Ok(f) => f,
        Err(e) => return fail(format!("--format: {e}")),
    };
    let sortby = match query
        .sortby
        .map(tailings_atlas::catalog::order::parse_sortby)
    {
        None => Vec::new(),
        Some(Ok(keys)) => keys,
        Some(Err(e)) => return fail(format!("--sortby: {e}")),
    };
    let mut selection = tailings_atlas::catalog::Selection::default();
    if let Some(text) = query.filter {
        match tailings_atlas::filter::compile(
            text,
            tailings_atlas::filter::FilterLang::Cql2Text,
            tailings_atlas::catalog::queryables::sites(),
            None,
        ) {
            Ok(f) => selection.filter = Some(std::sync::Arc::new(f)),
            Err(e) => return fail(format!("--filter: {e}")),
        }
    }
    let t0 = std::time::Instant::now();
    let atlas = match super::load_atlas(analysis, sources) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let service = tailings_atlas::service::Service::new(atlas);
    let all = match export::selected_ids(&service, &selection, &sortby, None) {
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
