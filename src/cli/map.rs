//! `tailings-atlas map --out basin-risk.png [--bbox W,S,E,N] [--width PX] [--format png|svg]`: the
//! basin risk map of the published inventory, for reports.

use std::path::Path;
use std::process::ExitCode;

use super::{AnalysisArgs, Sources, fail};
use tailings_atlas::render::{self, Bounds, Format, MapOptions, RenderError};
use tailings_atlas::service::Service;

/// A render error as the CLI reports it: a bad option names its flag.
fn report(e: RenderError) -> ExitCode {
    match e {
        RenderError::BadParameter { param, reason } => fail(format!("--{param}: {reason}")),
        other => fail(other),
    }
}

pub(super) fn run(
    out: &Path,
    bbox: Option<&str>,
    width: u32,
    format: Option<&str>,
    analysis: &AnalysisArgs,
    sources: &Sources,
) -> ExitCode {
    // Every option is checked before the atlas is loaded.
    let format = match format
        .map(Format::parse)
        .unwrap_or_else(|| Format::from_path(out))
    {
        Ok(f) => f,
        Err(e) => return report(e),
    };
    let bbox = match bbox.map(Bounds::parse).transpose() {
        Ok(b) => b,
        Err(e) => return report(e),
    };
    if let Err(e) = render::view::check_width(width) {
        return report(e);
    }
    if let Some(b) = bbox
        && let Err(e) = render::View::new(b, width)
    {
        return report(e);
    }
    let t0 = std::time::Instant::now();
    let atlas = match super::load_atlas(analysis, sources) {
        Ok(a) => a,
        Err(code) => return code,
    };
    // What `serve` would publish.
    let service = Service::new(atlas);
    let t1 = std::time::Instant::now();
    let opts = MapOptions { bbox, width };
    let written = {
        let live = service.live();
        render::write_file(&live.catalog, &opts, format, out)
    };
    match written {
        Ok(w) => {
            eprintln!(
                "wrote {} ({} × {} px, {}, {} bytes) in {:.3} s: drawn {:.3} s, painted {:.3} s, \
                 encoded {:.3} s, written {:.3} s (load and analysis before: {:.2} s)",
                out.display(),
                w.width,
                w.height,
                format.as_str(),
                w.bytes,
                t1.elapsed().as_secs_f64(),
                w.draw_s,
                w.paint_s,
                w.encode_s,
                w.write_s,
                (t1 - t0).as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => report(e),
    }
}
