//! Imports and exports of the inventory, shared by the CLI and the HTTP API: every row is validated
//! before anything is written, the write is one transaction (upsert by id, so re-importing a file
//! changes nothing), and the report names each rejected row and why.

use std::path::Path;

use serde::Serialize;
use thiserror::Error;

use crate::io::IoError;
use crate::io::sites::{self, DEFAULT_MAX_ROWS, ImportRead, Mapping, ReadOptions};
use crate::model::{ModelError, Site};
use crate::store::{Author, Change, Expect, Op, StoreError, Written};

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
/// of the later row).
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

/// Imports `path`: reads and validates every row (`read_progress` per row), then, unless refused,
/// hands the upserts to `write` in one call (one transaction).
pub fn import_file(
    path: &Path,
    mapping: &Mapping,
    options: &ImportOptions,
    read_progress: &(dyn Fn(usize) + Sync),
    write: impl FnOnce(&[Change]) -> Result<Vec<Written>, StoreError>,
) -> Result<ImportReport, ImportError> {
    let read = sites::read_sites_with(path, mapping, &options.read(), read_progress)?;
    let (sites, mut report) = validate(read);
    report.dry_run = options.dry_run;
    if report.rows == 0 {
        return Err(ImportError::Io(IoError::File {
            path: options
                .shown_name
                .clone()
                .unwrap_or_else(|| path.display().to_string()),
            reason: format!(
                "{} layer {:?} has no features to import",
                report.driver, report.layer
            ),
        }));
    }
    if !report.invalid.is_empty() && !options.skip_invalid {
        return Err(ImportError::Invalid(Box::new(report)));
    }
    if options.dry_run || sites.is_empty() {
        return Ok(report);
    }
    let changes: Vec<Change> = sites
        .into_iter()
        .map(|site| Change::Put {
            site,
            expect: Expect::Any,
        })
        .collect();
    let written = write(&changes)?;
    report.written = true;
    for w in &written {
        match w.op {
            Some(Op::Create) => report.created += 1,
            None => report.unchanged += 1,
            Some(_) => report.updated += 1,
        }
    }
    Ok(report)
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
        let err = import_file(&path, &Mapping::default(), &options, &|_| {}, |_| {
            unreachable!("nothing to write")
        })
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("Sites 2024.csv: "), "{err}");
        assert!(!err.contains(&dir.display().to_string()), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
