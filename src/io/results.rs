//! Writing analysis results as CSV or GeoJSON (chosen by the file extension), streamed chunk by chunk
//! through a temporary file that is renamed into place only when complete, so an interrupted run
//! leaves no half-written output.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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

/// Rows of `id`, `lon`, `lat` and the analysis fields, written as they come.
pub struct ResultWriter {
    path: PathBuf,
    tmp: PathBuf,
    format: Format,
    out: Option<BufWriter<File>>,
    keys: Option<Vec<String>>,
    rows: usize,
}

impl ResultWriter {
    /// Starts the output `path` (the format from its extension).
    pub fn create(path: &Path) -> Result<Self, IoError> {
        let format = Format::of(path)?;
        let tmp = path.with_extension(format!("partial-{}", std::process::id()));
        let file = File::create(&tmp).map_err(|e| IoError::File {
            path: path.display().to_string(),
            reason: format!("cannot create: {e}"),
        })?;
        Ok(ResultWriter {
            path: path.to_owned(),
            tmp,
            format,
            out: Some(BufWriter::new(file)),
            keys: None,
            rows: 0,
        })
    }

    fn fail(&mut self, e: impl std::fmt::Display) -> IoError {
        self.out = None;
        let _ = std::fs::remove_file(&self.tmp);
        IoError::File {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    /// Appends rows; the first row fixes the columns.
    pub fn write(&mut self, rows: &[(InputPoint, Map<String, Value>)]) -> Result<(), IoError> {
        let result = self.write_inner(rows);
        result.map_err(|e| self.fail(e))
    }

    fn write_inner(&mut self, rows: &[(InputPoint, Map<String, Value>)]) -> std::io::Result<()> {
        let Some(w) = self.out.as_mut() else {
            return Err(std::io::Error::other("the writer already failed"));
        };
        if self.keys.is_none() && !rows.is_empty() {
            let keys: Vec<String> = rows[0].1.keys().cloned().collect();
            match self.format {
                Format::Csv => {
                    let mut header = vec!["id".to_owned(), "lon".into(), "lat".into()];
                    header.extend(keys.iter().cloned());
                    let mut csv = csv::Writer::from_writer(&mut *w);
                    csv.write_record(&header).map_err(std::io::Error::other)?;
                    csv.flush()?;
                }
                Format::GeoJson => {
                    w.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?
                }
            }
            self.keys = Some(keys);
        }
        let keys = self.keys.as_deref().unwrap_or_default();
        match self.format {
            Format::Csv => {
                let mut csv = csv::Writer::from_writer(&mut *w);
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
                for (p, m) in rows {
                    let mut props = Map::new();
                    props.insert("id".into(), p.id.clone().into());
                    props.extend(m.clone());
                    let f = serde_json::json!({
                        "type": "Feature",
                        "geometry": { "type": "Point", "coordinates": [p.location.lon(), p.location.lat()] },
                        "properties": props,
                    });
                    if self.rows > 0 {
                        w.write_all(b",\n")?;
                    }
                    serde_json::to_writer(&mut *w, &f)?;
                    self.rows += 1;
                }
            }
        }
        Ok(())
    }

    /// Completes the file and moves it into place.
    pub fn finish(mut self) -> Result<(), IoError> {
        let result = (|| -> std::io::Result<()> {
            let Some(mut w) = self.out.take() else {
                return Err(std::io::Error::other("the writer already failed"));
            };
            if self.format == Format::GeoJson {
                if self.keys.is_none() {
                    w.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
                }
                w.write_all(b"\n]}\n")?;
            }
            w.flush()?;
            std::fs::rename(&self.tmp, &self.path)
        })();
        result.map_err(|e| self.fail(e))
    }
}

impl Drop for ResultWriter {
    fn drop(&mut self) {
        // Not finished: leave nothing behind.
        if self.out.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
