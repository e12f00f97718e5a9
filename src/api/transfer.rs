//! Bulk transfer over HTTP: `POST /import` (multipart, admin only) and the file downloads of
//! `GET /collections/sites/items?f=gpkg|shp|kml|csv|fgb|geojson`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::json;

use super::AppState;
use super::edit::{author, check_content_length, check_content_type, grant_blocking, too_large};
use super::error::ApiError;
use super::params;
use crate::io::IoError;
use crate::io::sites::{ExportFormat, Mapping};
use crate::service::transfer::{self, ImportError, ImportOptions};
use crate::store::Role;

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A private scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Result<Self, ApiError> {
        let dir = std::env::temp_dir().join(format!(
            "atlas-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| {
            ApiError::internal_from(format_args!("cannot create a scratch directory: {e}"))
        })?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The file name an upload is saved under: only its extension is kept (GDAL picks drivers by it),
/// never the client's path.
fn upload_name(client_name: Option<&str>) -> String {
    let name = client_name.unwrap_or("").to_ascii_lowercase();
    let ext = if name.ends_with(".shp.zip") {
        "shp.zip".to_owned()
    } else {
        Path::new(&name)
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| e.len() <= 8 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
            .unwrap_or("dat")
            .to_owned()
    };
    format!("upload.{ext}")
}

/// The name messages give an uploaded file: the client's file name without any folders (some
/// clients send a whole path), or `default` when it sent none.
fn shown_name(client_name: Option<&str>, default: &str) -> String {
    let base = client_name
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if clean.trim().is_empty() {
        default.to_owned()
    } else {
        clean
    }
}

fn flag(pairs: &[(String, String)], name: &str) -> Result<bool, ApiError> {
    match pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
    {
        None => Ok(false),
        Some("" | "true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(ApiError::bad_parameter(
            name,
            format!("{other:?} is not true or false"),
        )),
    }
}

/// `POST /import[?dry_run=true][&skip_invalid=true]`: multipart with the file in the field `file`
/// and, optionally, a field mapping (JSON) in the field `mapping`.
pub async fn import(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let grant = grant_blocking(&req, &state).await?;
    if grant.role != Role::Admin {
        return Err(ApiError::forbidden(format!(
            "token {} is not an admin token; imports need the admin role",
            grant.token_id
        )));
    }
    let pairs = params::parse_pairs(req.query_string())?;
    if let Some((k, _)) = pairs
        .iter()
        .find(|(k, _)| k != "dry_run" && k != "skip_invalid")
    {
        return Err(ApiError::unknown_parameter(k, &["dry_run", "skip_invalid"]));
    }
    let mut options = ImportOptions {
        dry_run: flag(&pairs, "dry_run")?,
        skip_invalid: flag(&pairs, "skip_invalid")?,
        max_rows: state.max_import_rows,
        ..ImportOptions::upload(state.max_body_bytes)
    };
    check_content_type(&req, &["multipart/form-data"])?;
    let limit = state.max_body_bytes;
    check_content_length(&req, limit)?;
    let scratch = Scratch::new("import")?;
    let mut multipart = Multipart::new(req.headers(), payload);
    let mut file: Option<PathBuf> = None;
    let mut mapping: Option<(Vec<u8>, String)> = None;
    let mut total = 0usize;
    while let Some(part) = multipart.next().await {
        let mut part =
            part.map_err(|e| ApiError::bad_body(format!("the multipart body is malformed: {e}")))?;
        let name = part.name().unwrap_or("").to_owned();
        let client = part
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_owned);
        let mut data = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::bad_body(format!("field `{name}`: cannot read: {e}")))?;
            total += chunk.len();
            if total > limit {
                return Err(too_large(limit));
            }
            data.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "file" => {
                options.shown_name = Some(shown_name(client.as_deref(), "upload"));
                let path = scratch.0.join(upload_name(client.as_deref()));
                std::fs::write(&path, &data).map_err(|e| {
                    ApiError::internal_from(format_args!("cannot save an upload: {e}"))
                })?;
                file = Some(path);
            }
            "mapping" => mapping = Some((data, shown_name(client.as_deref(), "mapping"))),
            other => {
                return Err(ApiError::bad_body(format!(
                    "field `{other}`: unknown; send the file in `file` and an optional field mapping in `mapping`"
                )));
            }
        }
    }
    let file =
        file.ok_or_else(|| ApiError::bad_body("field `file`: missing; send the file to import"))?;
    let mapping = match mapping {
        None => Mapping::default(),
        Some((bytes, shown)) => Mapping::from_json(&bytes, &shown)
            .map_err(|e| ApiError::bad_body(format!("field `mapping`: {e}")))?,
    };
    let reason = author(&req, grant.actor())?.reason;
    let author = transfer::import_author(&grant.actor(), &file, reason.as_deref());
    let st = state.clone();
    let result = web::block(move || {
        // Written in one transaction, chunk by chunk; published in chunks once committed.
        let r = transfer::import_file(&file, &mapping, &options, &|_| {}, |_, next| {
            st.service.write_stream(next, &author, &|| {})
        });
        drop(scratch);
        r
    })
    .await?;
    match result {
        Ok(report) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(json!({ "report": report }).to_string())),
        Err(ImportError::Invalid(report)) => {
            let first: Vec<String> = report
                .invalid
                .iter()
                .take(5)
                .map(|p| format!("row {}: {}", p.row, p.reason))
                .collect();
            let description = format!(
                "{} of {} rows are invalid; nothing was written (skip_invalid=true imports the {} valid rows): {}",
                report.invalid.len(),
                report.rows,
                report.valid,
                first.join("; ")
            );
            Ok(HttpResponse::BadRequest()
                .content_type("application/json")
                .body(
                    json!({ "code": "InvalidValue", "description": description, "report": report })
                        .to_string(),
                ))
        }
        // The messages name the file as the client sent it (`shown_name`), never the server's copy.
        Err(ImportError::Io(e @ IoError::TooLarge { .. })) => {
            Err(ApiError::too_large(format!("field `file`: {e}")))
        }
        Err(ImportError::Io(e)) => Err(ApiError::bad_body(format!("field `file`: {e}"))),
        Err(ImportError::Store(e)) => Err(e.into()),
    }
}

/// The export format asked for with `f`, if it is a file format rather than JSON or HTML.
pub fn export_format(pairs: &[(String, String)]) -> Option<ExportFormat> {
    let f = pairs.iter().find(|(k, _)| k == "f").map(|(_, v)| v)?;
    ExportFormat::parse(f).ok()
}

/// The sites selected by the query (filters and bbox; paging does not apply) as one file, streamed:
/// GeoJSON and CSV as they are formatted, the GDAL formats once their file is written (so a failure
/// to write one is still an error status).
pub async fn export(
    state: &web::Data<AppState>,
    format: ExportFormat,
    pairs: Vec<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    use crate::service::export;
    let selection: Vec<_> = pairs
        .into_iter()
        .filter(|(k, _)| k != "f" && k != "limit" && k != "offset")
        .collect();
    let query = serde_urlencoded::to_string(&selection).map_err(ApiError::internal_from)?;
    let st = state.clone();
    let ids = web::block(move || -> Result<Vec<String>, ApiError> {
        let mut p = params::parse_items(&query, crate::reference::SITES_SPEC.queryables)?;
        // The files are written as stored; `properties` and `skipGeometry` do not apply to them.
        if p.crs != super::crs::Crs::Crs84 {
            return Err(ApiError::bad_parameter(
                "crs",
                format!(
                    "the file exports are written in {}; use f=json or f=geojsonseq for another CRS",
                    super::crs::CRS84
                ),
            ));
        }
        p.compile_filter(crate::catalog::queryables::sites())?;
        export::selected_ids(&st.service, &p.selection, &p.sortby, p.datetime.as_ref())
            .map_err(export_error)
    })
    .await??;
    // What is sent: the records of `ids`, formatted as they go, or a file written first.
    enum Source {
        Records(Vec<String>),
        File(Scratch, PathBuf),
    }
    let source = if export::writes_itself(format, &ids) {
        Source::Records(ids)
    } else {
        let st = state.clone();
        web::block(move || -> Result<Source, ApiError> {
            let scratch = Scratch::new("export")?;
            let out = scratch.0.join(format.file_name());
            export::write_file(&st.service, &ids, format, &out).map_err(export_error)?;
            Ok(Source::File(scratch, out))
        })
        .await??
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(4);
    let st = state.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let mut send = |bytes: Vec<u8>| {
            tx.blocking_send(Ok(web::Bytes::from(bytes)))
                .map_err(|_| std::io::Error::other("the client went away"))
        };
        let result = match &source {
            Source::Records(ids) => export::stream(&st.service, ids, format, &mut send),
            Source::File(_scratch, out) => export::send_file(out, &mut send),
        };
        match result {
            Ok(()) | Err(export::ExportError::Send(_)) => {}
            Err(e) => {
                // The status is sent: all that is left is to cut the body short, so the client
                // sees a broken download rather than a complete-looking file.
                tracing::error!(error = %e, "export failed while streaming");
                let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
            }
        }
        // The scratch directory (if any) goes once the file is sent.
        drop(source);
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(HttpResponse::Ok()
        .content_type(format.media_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", format.file_name()),
        ))
        .streaming(body))
}

fn export_error(e: crate::service::export::ExportError) -> ApiError {
    use crate::service::export::ExportError;
    match e {
        ExportError::NoSites => ApiError::not_found("no sites collection"),
        ExportError::Sort(e) => e.into(),
        e => ApiError::internal_from(format_args!("export failed: {e}")),
    }
}
