//! Writing analysis results as CSV or GeoJSON (chosen by the file extension), through a temporary
//! file renamed into place, so an interrupted run leaves no half-written output.

use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{Map, Value};

use super::IoError;
use super::points::InputPoint;

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    GeoJson,
}

impl Format {
    /// From the extension of `path`: `.csv`, `.geojson` or `.json`.
    pub fn of(path: &Path) -> Result<Self, IoError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Ok(Format::Csv),
            Some("geojson") | Some("json") => Ok(Format::GeoJson),
            _ => Err(IoError::File {
                path: path.display().to_string(),
                reason: "the output must end in .csv, .geojson or .json".into(),
            }),
        }
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Writes one row per point: `id`, `lon`, `lat`, then every analysis field.
pub fn write_results(
    path: &Path,
    rows: &[(InputPoint, Map<String, Value>)],
) -> Result<(), IoError> {
    let format = Format::of(path)?;
    let err = |e: std::io::Error| IoError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let tmp = path.with_extension(format!("partial-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut w = BufWriter::new(std::fs::File::create(&tmp)?);
        let keys: Vec<String> = rows
            .first()
            .map(|(_, m)| m.keys().cloned().collect())
            .unwrap_or_default();
        match format {
            Format::Csv => {
                let mut csv = csv::Writer::from_writer(&mut w);
                let mut header = vec!["id".to_owned(), "lon".into(), "lat".into()];
                header.extend(keys.iter().cloned());
                csv.write_record(&header).map_err(std::io::Error::other)?;
                for (p, m) in rows {
                    let mut rec = vec![
                        p.id.clone(),
                        p.location.lon().to_string(),
                        p.location.lat().to_string(),
                    ];
                    rec.extend(keys.iter().map(|k| cell(m.get(k).unwrap_or(&Value::Null))));
                    csv.write_record(&rec).map_err(std::io::Error::other)?;
                }
                csv.flush()?;
            }
            Format::GeoJson => {
                w.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
                for (n, (p, m)) in rows.iter().enumerate() {
                    let mut props = Map::new();
                    props.insert("id".into(), p.id.clone().into());
                    props.extend(m.clone());
                    let f = serde_json::json!({
                        "type": "Feature",
                        "geometry": { "type": "Point", "coordinates": [p.location.lon(), p.location.lat()] },
                        "properties": props,
                    });
                    if n > 0 {
                        w.write_all(b",\n")?;
                    }
                    serde_json::to_writer(&mut w, &f)?;
                }
                w.write_all(b"\n]}\n")?;
            }
        }
        w.flush()
    })();
    match result.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(err(e))
        }
    }
}
