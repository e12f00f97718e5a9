//! Exports of the published sites that stream, shared by the CLI and the HTTP API.
//!
//! The selection is taken once (the ids, in the collection's order); the records are then formatted a
//! chunk at a time, holding the published state's read lock only for one chunk, so an export of a
//! million sites neither holds up edits nor copies the inventory. A site deleted meanwhile is left
//! out; one changed meanwhile is exported as it is when its chunk is formatted.
//! - GeoJSON and CSV are written straight from the typed records and sent as they are formatted.
//! - The GDAL formats (GeoPackage, Shapefile, KML, FlatGeobuf) need a file: it is written from the
//!   records, a feature at a time, then sent in pieces.

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::analysis::Field;
use crate::catalog::{Selection, SiteRecord};
use crate::io::IoError;
use crate::io::sites::{self, ExportFeature, ExportFormat, ExportSource};
use crate::model::SiteValue;
use crate::schema::{SITE_FIELDS, computed_fields};

use super::Service;

/// Sites formatted per hold of the read lock.
pub const CHUNK: usize = 1_024;

/// Bytes sent at a time from a written file.
const FILE_PIECE: usize = 256 * 1024;

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing the file failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The receiver went away (a client that hung up, a full disk).
    #[error("cannot send the export: {0}")]
    Send(#[source] std::io::Error),
    #[error("no sites collection")]
    NoSites,
    /// A `sortby` the sites cannot be sorted by.
    #[error(transparent)]
    Sort(#[from] crate::catalog::order::SortError),
}

/// The ids of the published sites `selection` matches (written in `datetime`, if given), in the
/// order of `sortby` (the collection's order when empty).
pub fn selected_ids(
    service: &Service,
    selection: &Selection,
    sortby: &[crate::catalog::order::SortKey],
    datetime: Option<&crate::catalog::time::TimeRange>,
) -> Result<Vec<String>, ExportError> {
    let live = service.live();
    let c = live
        .catalog
        .collection(crate::reference::SITES)
        .ok_or(ExportError::NoSites)?;
    let t = c.sites().ok_or(ExportError::NoSites)?;
    let (_, rows) = c.page_sorted(selection, sortby, datetime, 0, usize::MAX)?;
    Ok(rows
        .into_iter()
        .filter_map(|i| t.get(i))
        .map(|r| r.site.id.to_string())
        .collect())
}

/// Formats the records of `ids` that are still published with `format`, a chunk at a time under the
/// read lock, and hands each chunk's bytes to `send` once the lock is released (a slow receiver
/// must not hold up edits).
fn each_chunk(
    service: &Service,
    ids: &[String],
    format: &mut dyn FnMut(&[&SiteRecord], &mut Vec<u8>),
    send: &mut dyn FnMut(Vec<u8>) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    for chunk in ids.chunks(CHUNK) {
        let mut out = Vec::with_capacity(chunk.len() * 2048);
        {
            let live = service.live();
            let t = live.sites().ok_or(ExportError::NoSites)?;
            let records: Vec<&SiteRecord> = chunk.iter().filter_map(|id| t.record(id)).collect();
            format(&records, &mut out);
        }
        send(out)?;
    }
    Ok(())
}

/// Writes the export of `ids` in `format` to `send`, piece by piece, as the records are formatted:
/// for the formats written here ([`writes_itself`]). The others go through a file: [`write_file`],
/// then [`send_file`].
pub fn stream(
    service: &Service,
    ids: &[String],
    format: ExportFormat,
    send: &mut dyn FnMut(Vec<u8>) -> std::io::Result<()>,
) -> Result<(), ExportError> {
    match format {
        _ if !writes_itself(format, ids) => Err(ExportError::Io(IoError::File {
            path: format.file_name().into(),
            reason: "this export is written through a file (write_file, then send_file)".into(),
        })),
        ExportFormat::Csv => stream_csv(service, ids, send),
        _ => stream_geojson(service, ids, send),
    }
}

/// Sends a written export file in pieces.
pub fn send_file(
    path: &Path,
    send: &mut dyn FnMut(Vec<u8>) -> std::io::Result<()>,
) -> Result<(), ExportError> {
    let shown = || {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let read_err = |e: std::io::Error| {
        ExportError::Io(IoError::File {
            path: shown(),
            reason: format!("cannot read the export back: {e}"),
        })
    };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    loop {
        let mut piece = vec![0; FILE_PIECE];
        let n = file.read(&mut piece).map_err(read_err)?;
        if n == 0 {
            return Ok(());
        }
        piece.truncate(n);
        send(piece).map_err(ExportError::Send)?;
    }
}

/// Whether the export is written here rather than through GDAL: GeoJSON, and CSV with rows (an empty
/// CSV is GDAL's, which names its `X`/`Y` columns).
pub fn writes_itself(format: ExportFormat, ids: &[String]) -> bool {
    format == ExportFormat::GeoJson || (format == ExportFormat::Csv && !ids.is_empty())
}

/// Writes the export of `ids` in `format` to the file `out` (atomically: nothing is left at `out`
/// on error).
pub fn write_file(
    service: &Service,
    ids: &[String],
    format: ExportFormat,
    out: &Path,
) -> Result<(), ExportError> {
    match format {
        _ if writes_itself(format, ids) => {
            let shown = out.display().to_string();
            let file_err = |e: std::io::Error| {
                ExportError::Io(IoError::File {
                    path: shown.clone(),
                    reason: e.to_string(),
                })
            };
            let name = out.file_name().map(|n| n.to_string_lossy().into_owned());
            let tmp = out.with_file_name(format!(
                ".{}.{}.tmp",
                name.unwrap_or_default(),
                std::process::id()
            ));
            let result = (|| {
                let file = std::fs::File::create(&tmp).map_err(|e| {
                    ExportError::Io(IoError::File {
                        path: shown.clone(),
                        reason: format!("cannot create a temporary file: {e}"),
                    })
                })?;
                let mut w = std::io::BufWriter::new(file);
                stream(service, ids, format, &mut |bytes| {
                    std::io::Write::write_all(&mut w, &bytes)
                })
                .map_err(|e| match e {
                    ExportError::Send(e) => file_err(e),
                    e => e,
                })?;
                let file = w.into_inner().map_err(|e| file_err(e.into_error()))?;
                file.sync_all().map_err(file_err)?;
                std::fs::rename(&tmp, out).map_err(file_err)
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result
        }
        _ => {
            let source = Records { service, ids };
            Ok(sites::write_sites_from(out, format, &source)?)
        }
    }
}

/// The records of `ids` as export features, built as they are visited (for the GDAL writer).
struct Records<'a> {
    service: &'a Service,
    ids: &'a [String],
}

impl ExportSource for Records<'_> {
    fn count(&self) -> usize {
        let live = self.service.live();
        live.sites().map_or(0, |t| {
            self.ids.iter().filter(|id| t.record(id).is_some()).count()
        })
    }

    fn visit(
        &self,
        f: &mut dyn FnMut(&ExportFeature<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        for chunk in self.ids.chunks(CHUNK) {
            // Copied out under the lock, handed to GDAL without it.
            let rows: Vec<([f64; 2], serde_json::Map<String, serde_json::Value>)> = {
                let live = self.service.live();
                let t = live.sites().ok_or("no sites collection")?;
                chunk
                    .iter()
                    .filter_map(|id| t.record(id))
                    .map(|r| (r.point(), r.properties()))
                    .collect()
            };
            for ([lon, lat], properties) in &rows {
                f(&ExportFeature {
                    lon: *lon,
                    lat: *lat,
                    properties,
                })?;
            }
        }
        Ok(())
    }
}

/// The GeoJSON document's opening: named like the layer of the other formats, with the CRS84 `crs`
/// member GDAL writes.
const GEOJSON_HEAD: &[u8] = b"{\"type\":\"FeatureCollection\",\"name\":\"sites\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"urn:ogc:def:crs:OGC:1.3:CRS84\"}},\"features\":[\n";

fn stream_geojson(
    service: &Service,
    ids: &[String],
    send: &mut dyn FnMut(Vec<u8>) -> std::io::Result<()>,
) -> Result<(), ExportError> {
    send(GEOJSON_HEAD.to_vec()).map_err(ExportError::Send)?;
    let mut first = true;
    each_chunk(
        service,
        ids,
        &mut |records, out| {
            for r in records {
                if !first {
                    out.extend_from_slice(b",\n");
                }
                first = false;
                crate::catalog::json::write_feature(out, r);
            }
        },
        &mut |out| send(out).map_err(ExportError::Send),
    )?;
    send(b"\n]}\n".to_vec()).map_err(ExportError::Send)
}

/// A CSV field as GDAL's CSV driver writes it with `STRING_QUOTING=IF_NEEDED`: quoted when it holds
/// a quote, a comma, a semicolon, a tab or a line break, with quotes doubled.
fn csv_field(out: &mut Vec<u8>, text: &str) {
    if text.contains(['"', ',', ';', '\t', '\n', '\r']) {
        out.push(b'"');
        for b in text.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

fn json_text<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Every column as text, as the GDAL export writes it: numbers in their shortest exact form, lists
/// and objects as compact JSON, null as an empty field.
fn csv_row(out: &mut Vec<u8>, r: &SiteRecord) {
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !first {
            out.push(b',');
        }
        first = false;
    };
    for v in r.site.values() {
        sep(out);
        match v {
            SiteValue::Null => {}
            SiteValue::Text(t) => csv_field(out, t),
            SiteValue::Number(n) if n.is_finite() => csv_field(out, &n.to_string()),
            SiteValue::Number(_) => {}
            SiteValue::List(items) => csv_field(out, &json_text(items)),
            SiteValue::Object(m) => csv_field(out, &json_text(m)),
        }
    }
    for v in r.fields().values() {
        sep(out);
        match v {
            Field::Null => {}
            Field::Text(t) => csv_field(out, &t),
            Field::Number(n) if n.is_finite() => csv_field(out, &n.to_string()),
            Field::Number(_) => {}
        }
    }
    for v in r.risk_values() {
        sep(out);
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::String(t) => csv_field(out, &t),
            serde_json::Value::Number(n) => {
                // As the analysis fields: the shortest form of the double (`36`, not `36.0`).
                csv_field(
                    out,
                    &n.as_f64().map_or_else(|| n.to_string(), |v| v.to_string()),
                )
            }
            other => csv_field(out, &json_text(&other)),
        }
    }
    out.push(b'\n');
}

fn stream_csv(
    service: &Service,
    ids: &[String],
    send: &mut dyn FnMut(Vec<u8>) -> std::io::Result<()>,
) -> Result<(), ExportError> {
    let mut head = Vec::new();
    for (i, f) in SITE_FIELDS.iter().chain(computed_fields()).enumerate() {
        if i > 0 {
            head.push(b',');
        }
        csv_field(&mut head, f.name);
    }
    head.push(b'\n');
    send(head).map_err(ExportError::Send)?;
    each_chunk(
        service,
        ids,
        &mut |records, out| {
            for r in records {
                csv_row(out, r);
            }
        },
        &mut |out| send(out).map_err(ExportError::Send),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::test_sites::{reference, seed_sites, seeded_sites};
    use crate::service::{Atlas, Update};

    fn service(n: usize) -> Service {
        let mut sites = seed_sites();
        sites.extend(seeded_sites(n, 3));
        Service::new(Atlas::build(&sites, reference()).unwrap())
    }

    fn collect(service: &Service, ids: &[String], format: ExportFormat) -> Vec<u8> {
        let mut out = Vec::new();
        stream(service, ids, format, &mut |b| {
            out.extend_from_slice(&b);
            Ok(())
        })
        .unwrap();
        out
    }

    fn tempdir(tag: &str) -> std::path::PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "atlas-export-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// What GDAL writes from the records' JSON maps (the export before it streamed).
    fn through_gdal(service: &Service, ids: &[String], format: ExportFormat) -> Vec<u8> {
        let live = service.live();
        let t = live.sites().unwrap();
        let rows: Vec<([f64; 2], serde_json::Map<String, serde_json::Value>)> = ids
            .iter()
            .filter_map(|id| t.record(id))
            .map(|r| (r.point(), r.properties()))
            .collect();
        let features: Vec<ExportFeature> = rows
            .iter()
            .map(|([lon, lat], properties)| ExportFeature {
                lon: *lon,
                lat: *lat,
                properties,
            })
            .collect();
        let dir = tempdir("gdal");
        let out = dir.join(format.file_name());
        sites::write_sites(&out, format, &features).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        bytes
    }

    /// The streamed CSV is byte for byte GDAL's, on the seed and 10,000 sites with texts that need
    /// quoting, lists, objects and missing values.
    #[test]
    fn csv_streams_what_gdal_wrote() {
        let s = service(10_000);
        let ids = selected_ids(&s, &Selection::default(), &[], None).unwrap();
        let ours = collect(&s, &ids, ExportFormat::Csv);
        let gdal = through_gdal(&s, &ids, ExportFormat::Csv);
        if ours != gdal {
            let a = String::from_utf8_lossy(&ours);
            let b = String::from_utf8_lossy(&gdal);
            let line = a.lines().zip(b.lines()).position(|(x, y)| x != y);
            panic!(
                "line {line:?}: ours {:?} gdal {:?}",
                line.and_then(|l| a.lines().nth(l)),
                line.and_then(|l| b.lines().nth(l))
            );
        }
        // The GDAL formats are written from the records as GDAL wrote them from the maps.
        let dir = tempdir("kml");
        let out = dir.join("sites.kml");
        write_file(&s, &ids[..500], ExportFormat::Kml, &out).unwrap();
        assert_eq!(
            std::fs::read(&out).unwrap(),
            through_gdal(&s, &ids[..500], ExportFormat::Kml)
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The streamed GeoJSON holds the features the items pages serve, and GDAL reads it back to
    /// the same values GDAL's own export held.
    #[test]
    fn geojson_streams_the_served_features() {
        let s = service(2_000);
        let ids = selected_ids(&s, &Selection::default(), &[], None).unwrap();
        let ours: serde_json::Value =
            serde_json::from_slice(&collect(&s, &ids, ExportFormat::GeoJson)).unwrap();
        let gdal: serde_json::Value =
            serde_json::from_slice(&through_gdal(&s, &ids, ExportFormat::GeoJson)).unwrap();
        assert_eq!(ours["crs"], gdal["crs"]);
        assert_eq!(ours["name"], "sites");
        let (a, b) = (
            ours["features"].as_array().unwrap(),
            gdal["features"].as_array().unwrap(),
        );
        assert_eq!(a.len(), ids.len());
        assert_eq!(a.len(), b.len());
        let live = s.live();
        let t = live.sites().unwrap();
        for (i, (fa, fb)) in a.iter().zip(b).enumerate() {
            let served: serde_json::Value =
                serde_json::from_str(&t.record(&ids[i]).unwrap().geojson()).unwrap();
            assert_eq!(*fa, served);
            let (pa, pb) = (
                fa["properties"].as_object().unwrap(),
                fb["properties"].as_object().unwrap(),
            );
            assert_eq!(pa.keys().collect::<Vec<_>>(), pb.keys().collect::<Vec<_>>());
            for (k, va) in pa {
                let vb = &pb[k];
                match (va.as_f64(), vb.as_f64()) {
                    // GDAL prints 17 significant digits and tidies binary noise (a 1-ulp change).
                    (Some(x), Some(y)) => assert!((x - y).abs() <= x.abs() * 1e-15, "{k}: {x} {y}"),
                    _ => assert_eq!(va, vb, "{k}"),
                }
            }
        }
    }

    /// The first bytes go out before the later sites are read: a site deleted after the first
    /// piece was sent is not in the export.
    #[test]
    fn export_sends_before_it_reads_every_site() {
        let s = service(5_000);
        let ids = selected_ids(&s, &Selection::default(), &[], None).unwrap();
        let last = ids.last().unwrap().clone();
        let mut pieces = 0;
        let mut out = Vec::new();
        stream(&s, &ids, ExportFormat::GeoJson, &mut |b| {
            pieces += 1;
            if pieces == 2 {
                // One chunk formatted, the rest not yet read: delete the last site now.
                s.publish(&[Update {
                    id: crate::model::SiteId::parse(&last).unwrap(),
                    site: None,
                    revision: 99,
                    updated: None,
                }]);
            }
            out.extend_from_slice(&b);
            Ok(())
        })
        .unwrap();
        assert!(pieces > 3, "{pieces}");
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let features = doc["features"].as_array().unwrap();
        assert_eq!(features.len(), ids.len() - 1);
        assert!(features.iter().all(|f| f["id"] != last.as_str()));
    }
}
