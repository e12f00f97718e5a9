//! Imports and exports of the inventory, shared by the CLI and the HTTP API: every row is validated
//! before anything is written, the write is one transaction (upsert by id, so re-importing a file
//! changes nothing), and the report names each rejected row and why. An import holds a chunk of
//! rows at a time, never the whole file ([`import_file`]).

use std::path::Path;

use serde::Serialize;
use thiserror::Error;

use crate::io::IoError;
use crate::io::sites::{
    self, DEFAULT_MAX_ROWS, IMPORT_CHUNK_ROWS, ImportRead, ImportRow, Mapping, ReadOptions,
};
use crate::model::{ModelError, Site};
use crate::store::{Abandon, Author, Change, Expect, NextChunk, StoreError, Streamed};

/// What to do with an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Validate and report only.
    pub dry_run: bool,
    /// Write the valid rows even if some are invalid (those are listed in the report).
    pub skip_invalid: bool,
    /// Only these GDAL drivers may open the file (uploads); `None`: any.
    pub allowed_drivers: Option<&'static [&'static str]>,
    /// Reading stops with an error once the file has more features than this. Default
    /// [`DEFAULT_MAX_ROWS`] (1,000,000); `import --max-rows`, `serve --max-import-rows`.
    pub max_rows: usize,
    /// A zip archive whose entries expand to more than this many bytes is refused before it is
    /// read; `None` (the default): no limit. Uploads: [`UNZIP_FACTOR`] × the body limit.
    pub max_unzipped_bytes: Option<u64>,
    /// Refuse GeoPackages that hold SQL views or virtual tables (uploads). Default: false.
    pub refuse_views: bool,
    /// What messages call the file: the name its user knows it by (an upload's own file name);
    /// `None` (the default): the path as given.
    pub shown_name: Option<String>,
    /// The rows read, validated and written at a time (default [`IMPORT_CHUNK_ROWS`]): what an
    /// import's memory is proportional to.
    pub chunk_rows: usize,
}

pub use crate::io::sites::UNZIP_FACTOR;

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dry_run: false,
            skip_invalid: false,
            allowed_drivers: None,
            max_rows: DEFAULT_MAX_ROWS,
            max_unzipped_bytes: None,
            refuse_views: false,
            shown_name: None,
            chunk_rows: IMPORT_CHUNK_ROWS,
        }
    }
}

impl ImportOptions {
    /// The limits of an upload of at most `max_body_bytes`: the upload formats only, a zip may
    /// expand to [`UNZIP_FACTOR`] times the body limit, no SQL views.
    pub fn upload(max_body_bytes: usize) -> Self {
        ImportOptions {
            allowed_drivers: Some(crate::io::UPLOAD_DRIVERS),
            max_unzipped_bytes: Some(UNZIP_FACTOR.saturating_mul(max_body_bytes as u64)),
            refuse_views: true,
            ..ImportOptions::default()
        }
    }

    /// The limits [`crate::io::sites::read_sites_with`] reads with.
    fn read(&self) -> ReadOptions<'_> {
        ReadOptions {
            allowed_drivers: self.allowed_drivers,
            shown_name: self.shown_name.as_deref(),
            max_rows: self.max_rows,
            max_unzipped_bytes: self.max_unzipped_bytes,
            refuse_views: self.refuse_views,
        }
    }
}

/// A rejected row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowProblem {
    /// 1-based feature number (data row for CSV and spreadsheets).
    pub row: usize,
    pub reason: String,
}

/// What an import found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub driver: String,
    pub layer: String,
    pub reprojected_from: Option<String>,
    pub ignored_columns: Vec<String>,
    pub rows: usize,
    pub valid: usize,
    pub invalid: Vec<RowProblem>,
    pub dry_run: bool,
    /// Whether anything was written (false for a dry run or a refused file).
    pub written: bool,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Why an import wrote nothing.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The file could not be read at all.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Some rows are invalid (and `--skip-invalid` was not given): the report lists them.
    #[error("{} of {} rows are invalid; nothing was written (use --skip-invalid to import the {} valid rows)", .0.invalid.len(), .0.rows, .0.valid)]
    Invalid(Box<ImportReport>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ModelError> for ImportError {
    fn from(e: ModelError) -> Self {
        ImportError::Io(IoError::from(e))
    }
}

/// Sorts the rows into valid sites and problems (the reader already marks a repeated id as a problem
/// of the later row). Holds every site: [`import_file`] reads files of any size in chunks instead.
pub fn validate(read: ImportRead) -> (Vec<Site>, ImportReport) {
    let mut report = ImportReport {
        driver: read.driver,
        layer: read.layer,
        reprojected_from: read.reprojected_from,
        ignored_columns: read.ignored_columns,
        rows: read.rows.len(),
        ..Default::default()
    };
    let mut sites = Vec::new();
    for row in read.rows {
        match row.site {
            Ok(site) => sites.push(site),
            Err(reason) => report.invalid.push(RowProblem {
                row: row.row,
                reason,
            }),
        }
    }
    report.valid = sites.len();
    (sites, report)
}

/// Imports `path` in two passes over the file, each holding one chunk of rows
/// ([`ImportOptions::chunk_rows`]) at a time, so that memory does not grow with the file:
///
/// 1. read and validate every row (`read_progress` is told how many were read), keeping only the
///    report (every invalid row, with its reason) and a digest of what was read; with an invalid
///    row (and not [`ImportOptions::skip_invalid`]), an empty file or a dry run, stop there, having
///    written nothing and taken no lock;
/// 2. otherwise read the file again, on a thread of its own, and hand `write` the number of valid
///    rows and the source of its upserts ([`NextChunk`]), one chunk at a time, to write in one
///    transaction (say, with [`crate::store::SiteStore::write_stream`]) while the next chunk is
///    read. Should the second reading differ from the first (the file changed in between) or fail,
///    the source gives up ([`crate::store::Abandon`]), the transaction rolls back, and nothing is
///    written.
///
/// Two passes rather than one that writes as it reads and rolls back at an invalid row: a file
/// with a bad row, however large, writes nothing and holds the store's write lock not at all, a
/// valid one holds it only while it is written, and the progress of the write has a known end.
pub fn import_file(
    path: &Path,
    mapping: &Mapping,
    options: &ImportOptions,
    read_progress: &(dyn Fn(usize) + Sync),
    write: impl FnOnce(usize, &mut NextChunk<'_>) -> Result<Streamed, StoreError>,
) -> Result<ImportReport, ImportError> {
    let read = options.read();
    let mut report = ImportReport::default();
    let mut digest = Digest::default();
    let layer = sites::read_sites_chunked(
        path,
        mapping,
        &read,
        options.chunk_rows,
        read_progress,
        &mut |chunk| {
            for row in chunk {
                digest.add(&row);
                match row.site {
                    Ok(_) => report.valid += 1,
                    Err(reason) => report.invalid.push(RowProblem {
                        row: row.row,
                        reason,
                    }),
                }
            }
            Ok::<_, ImportError>(())
        },
    )?;
    let shown = || {
        options
            .shown_name
            .clone()
            .unwrap_or_else(|| path.display().to_string())
    };
    report.rows = layer.rows;
    report.dry_run = options.dry_run;
    if report.rows == 0 {
        return Err(ImportError::Io(IoError::File {
            path: shown(),
            reason: format!(
                "{} layer {:?} has no features to import",
                layer.driver, layer.layer
            ),
        }));
    }
    let first = layer.clone();
    report.driver = layer.driver;
    report.layer = layer.layer;
    report.reprojected_from = layer.reprojected_from;
    report.ignored_columns = layer.ignored_columns;
    if !report.invalid.is_empty() && !options.skip_invalid {
        return Err(ImportError::Invalid(Box::new(report)));
    }
    if options.dry_run || report.valid == 0 {
        return Ok(report);
    }
    let streamed = std::thread::scope(|scope| {
        // One chunk read ahead while one is written: at most three chunks in memory.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Change>>(1);
        let reader = scope.spawn(move || -> Result<(), ImportError> {
            let mut again = Digest::default();
            let layer = sites::read_sites_chunked(
                path,
                mapping,
                &read,
                options.chunk_rows,
                &|_| {},
                &mut |chunk| {
                    let mut changes = Vec::with_capacity(chunk.len());
                    for row in chunk {
                        again.add(&row);
                        if let Ok(site) = row.site {
                            changes.push(Change::Put {
                                site,
                                expect: Expect::Any,
                            });
                        }
                    }
                    match changes.is_empty() {
                        true => Ok(()),
                        // The writer stopped (it failed): stop reading.
                        false => tx
                            .send(changes)
                            .map_err(|_| ImportError::Store(StoreError::Abandoned)),
                    }
                },
            )?;
            if again != digest || layer != first {
                return Err(ImportError::Io(IoError::File {
                    path: shown(),
                    reason:
                        "changed while it was being imported; nothing was written, import it again"
                            .into(),
                }));
            }
            Ok(())
        });
        let mut reader = Some(reader);
        let mut failure: Option<ImportError> = None;
        let mut next = || -> Result<Option<Vec<Change>>, Abandon> {
            if let Ok(chunk) = rx.recv() {
                return Ok(Some(chunk));
            }
            // The reader is done: the end, unless it failed.
            let outcome = match reader.take().map(|r| r.join()) {
                None | Some(Ok(Ok(()))) => return Ok(None),
                Some(Ok(Err(e))) => e,
                Some(Err(_)) => ImportError::Io(IoError::File {
                    path: shown(),
                    reason: "reading stopped unexpectedly; nothing was written".into(),
                }),
            };
            failure = Some(outcome);
            Err(Abandon)
        };
        let result = write(report.valid, &mut next);
        // Should the write have stopped early, the reader's next send fails and it stops.
        drop(rx);
        match (result, failure) {
            (Err(StoreError::Abandoned), Some(e)) => Err(e),
            (result, _) => result.map_err(ImportError::Store),
        }
    })?;
    report.written = true;
    report.created = streamed.created;
    report.unchanged = streamed.unchanged;
    report.updated = streamed.changes - streamed.created - streamed.unchanged;
    Ok(report)
}

/// What a reading of a file gave, row by row, in 64 bits: the second pass of [`import_file`]
/// must give what the first did.
#[derive(Debug, Default, PartialEq)]
struct Digest(u64);

impl Digest {
    fn add(&mut self, row: &ImportRow) {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: the same in both passes of one process.
        let mut h = std::hash::DefaultHasher::new();
        self.0.hash(&mut h);
        row.row.hash(&mut h);
        // `Debug` writes every field, numbers in their shortest exact form.
        let _ = std::fmt::Write::write_fmt(&mut HashWriter(&mut h), format_args!("{:?}", row.site));
        self.0 = h.finish();
    }
}

/// Feeds formatted text to a hasher without building the string.
struct HashWriter<'a>(&'a mut std::hash::DefaultHasher);

impl std::fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        std::hash::Hasher::write(self.0, s.as_bytes());
        Ok(())
    }
}

/// The author of an import: who ran it, and from which file.
pub fn import_author(actor: &str, path: &Path, reason: Option<&str>) -> Author {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    Author {
        actor: actor.to_owned(),
        reason: Some(match reason {
            Some(r) => format!("{r} (import of {file})"),
            None => format!("import of {file}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_convert_and_name_the_users_file_only() {
        let model = ModelError::Missing { field: "name" };
        let import: ImportError = model.clone().into();
        assert_eq!(import.to_string(), model.to_string());
        let import: ImportError = IoError::from(model).into();
        assert!(matches!(import, ImportError::Io(IoError::Model(_))));

        // An upload's errors name the file as the client sent it.
        let dir = std::env::temp_dir().join(format!("atlas-transfer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("upload.csv");
        std::fs::write(&path, "id,name\n").unwrap();
        let options = ImportOptions {
            shown_name: Some("Sites 2024.csv".into()),
            ..ImportOptions::upload(1024)
        };
        let err = import_file(&path, &Mapping::default(), &options, &|_| {}, |_, _| {
            unreachable!("nothing to write")
        })
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("Sites 2024.csv: "), "{err}");
        assert!(!err.contains(&dir.display().to_string()), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
