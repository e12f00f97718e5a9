//! `analyze`: every point of a file against the reference layers, in parallel, written as it goes.

use std::path::Path;
use std::time::Instant;

use thiserror::Error;

use crate::analysis::Analyzer;
use crate::model::{Iso3, Site};

use super::startup::{AnalysisConfig, StartupError, load_reference};

/// Analyses every point of `input` (any vector file GDAL reads) against the reference layers of
/// `data`, in parallel, and writes the results to `output` (CSV or GeoJSON). `progress` is told how many
/// points there are once they are read, then how many more are finished, in batches. Returns how many
/// points were analysed.
pub fn analyze_file(
    input: &Path,
    output: &Path,
    data: &Path,
    config: &AnalysisConfig,
    progress: impl Fn(Progress) + Sync,
) -> Result<usize, AnalyzeError> {
    use rayon::prelude::*;
    // Check the output name before the work, not after.
    crate::io::results::Format::of(output)?;
    // The layers are checked before the points are read, the work after.
    let layer_paths = config.layer_paths(data)?;
    let t0 = Instant::now();
    // GDAL reads the points on one thread while the reference layers load and the analysis is
    // prepared on the others.
    let (points, analyzer) = rayon::join(
        || {
            let points = crate::io::points::read_points(input);
            (points, t0.elapsed().as_millis() as u64)
        },
        || load_reference(&layer_paths, data).map(|r| config.analyzer(&r)),
    );
    let (points, read_ms) = points;
    let (points, analyzer) = (points?, analyzer?);
    progress(Progress::Total(points.len() as u64));
    // In chunks, written as they are done: the analysis fields of a million points would not fit in
    // a sensible amount of memory all at once. Each chunk is written while the next is analysed.
    let mut writer = crate::io::results::ResultWriter::create(output)?;
    let format = writer.format();
    let mut done: Option<Vec<std::io::Result<Vec<u8>>>> = None;
    for chunk in points.chunks(ANALYZE_CHUNK) {
        let previous = done.take();
        let (rows, written) = rayon::join(
            || {
                // In the order of a fine lon/lat grid, so that neighbours are analysed one after
                // the other and find the reference data they share still in the cache; the rows
                // keep their input order.
                let mut order: Vec<u32> = (0..chunk.len() as u32).collect();
                let cell = |p: &crate::io::points::InputPoint| {
                    // 0.05° cells (7200 x 3600 cover the world in 16 bits each).
                    let q = |v: f64| ((v + 180.0) * 20.0) as u16;
                    crate::index::z_order(q(p.location.lon()), q(p.location.lat()))
                };
                order.par_sort_by_cached_key(|&i| cell(&chunk[i as usize]));
                let mut rows: Vec<(u32, std::io::Result<Vec<u8>>)> = order
                    .par_iter()
                    .map_init(
                        || {
                            (
                                crate::io::results::RowFormatter::new(format),
                                Tally::new(&progress),
                                crate::model::Interner::new(),
                            )
                        },
                        |(formatter, tally, interner), &i| {
                            let p = &chunk[i as usize];
                            // A declared country that is no ISO3 code is compared as text
                            // (it differs), and takes no part in the analysis.
                            let declared = p
                                .country
                                .as_deref()
                                .and_then(|c| Iso3::parse(c, "country").ok());
                            let a = analyzer.assess(
                                [p.location.lon(), p.location.lat()],
                                declared.as_ref(),
                                p.volume_m3,
                                p.dam_height_m,
                            );
                            tally.add();
                            let record = crate::analysis::AnalysisRecord::of(&a, interner);
                            (i, formatter.row(p, record.fields(p.country.as_deref())))
                        },
                    )
                    .collect();
                rows.par_sort_unstable_by_key(|r| r.0);
                rows.into_iter().map(|(_, r)| r).collect::<Vec<_>>()
            },
            || previous.map_or(Ok(()), |rows| writer.write(&rows)),
        );
        written?;
        done = Some(rows);
    }
    if let Some(rows) = done {
        writer.write(&rows)?;
    }
    writer.finish()?;
    tracing::info!(
        points = points.len(),
        read_ms,
        analyse_and_write_ms = (t0.elapsed().as_millis() as u64).saturating_sub(read_ms),
        candidate_grid = ?analyzer.grid_usage(),
        "analysis written"
    );
    Ok(points.len())
}

/// What [`analyze_file`] reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The input is read: this many points will be analysed.
    Total(u64),
    /// This many more points are analysed.
    Done(u64),
}

/// Points counted on one thread, passed on to a progress callback in batches (and the rest when
/// dropped): a shared counter touched for every point costs more than some analyses.
struct Tally<'a, F: Fn(Progress)> {
    progress: &'a F,
    pending: u64,
}

impl<'a, F: Fn(Progress)> Tally<'a, F> {
    fn new(progress: &'a F) -> Self {
        Tally {
            progress,
            pending: 0,
        }
    }

    fn add(&mut self) {
        self.pending += 1;
        if self.pending == 1024 {
            (self.progress)(Progress::Done(std::mem::take(&mut self.pending)));
        }
    }
}

impl<F: Fn(Progress)> Drop for Tally<'_, F> {
    fn drop(&mut self) {
        if self.pending > 0 {
            (self.progress)(Progress::Done(self.pending));
        }
    }
}

/// How many points are analysed between writes.
const ANALYZE_CHUNK: usize = 131_072;

/// Why an analysis run failed.
#[derive(Debug, Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    #[error(transparent)]
    Startup(#[from] StartupError),
}

/// How many of some sites drain across a border, and how many lie near one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposure {
    /// Sites whose water is known to enter another country (the first crossing has a known side).
    pub drain_across_border: usize,
    /// Sites within the given distance of an international border (to the 0.1 m printed).
    pub near_border: usize,
}

/// The transboundary exposure of `sites`, analysed in parallel.
pub fn exposure(analyzer: &Analyzer, sites: &[Site], near_border_m: f64) -> Exposure {
    use rayon::prelude::*;
    let (drain_across_border, near_border) = sites
        .par_iter()
        .map(|site| {
            let p = analyzer.proximity(
                site.location.lon(),
                site.location.lat(),
                Some(&site.country),
            );
            let crosses = p
                .downstream
                .as_ref()
                .and_then(|d| d.crossings.first())
                .is_some_and(|c| c.to.is_some());
            // As printed: to 0.1 m.
            let near = p
                .border
                .is_some_and(|b| (b.distance_m * 10.0).round() / 10.0 <= near_border_m);
            (usize::from(crosses), usize::from(near))
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    Exposure {
        drain_across_border,
        near_border,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed count is what the published properties say.
    #[test]
    fn exposure_counts_what_the_properties_say() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let reference = crate::io::layers::load_reference_dir(&data).unwrap();
        let sites =
            crate::reference::seed::read_seed_sites(&data.join(crate::reference::SITES_SPEC.file))
                .unwrap();
        let analyzer = Analyzer::new(&reference);
        let maps = analyzer.analyse_sites(&sites);
        let crossing = maps
            .iter()
            .filter(|m| !m["first_crossing_to"].is_null())
            .count();
        let near = maps
            .iter()
            .filter(|m| {
                m["border_distance_m"]
                    .as_f64()
                    .is_some_and(|d| d <= 10_000.0)
            })
            .count();
        let e = exposure(&analyzer, &sites, 10_000.0);
        assert_eq!((e.drain_across_border, e.near_border), (crossing, near));
        assert!(crossing > 0 && near > 0, "{e:?}");
    }
}
