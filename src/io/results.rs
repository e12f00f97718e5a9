//! Writing analysis results as CSV or GeoJSON (chosen by the file extension), streamed chunk by chunk
//! through a temporary file that is renamed into place only when complete, so an interrupted run
//! leaves no half-written output.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::IoError;
use super::points::InputPoint;
use crate::analysis::{Field, SiteFields};

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

/// The columns of a row before the analysis fields: the point and the inputs it was analysed with.
pub const INPUT_COLUMNS: [&str; 6] = ["id", "lon", "lat", "country", "volume_m3", "dam_height_m"];

/// Formats rows of the [`INPUT_COLUMNS`] and the analysis fields; one per thread, so that rows are
/// formatted in parallel and only copied in order by the [`ResultWriter`].
pub struct RowFormatter {
    format: Format,
    csv: csv::Writer<Sink>,
    row: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
    /// Scratch space for one formatted number.
    number: Vec<u8>,
}

impl RowFormatter {
    /// A formatter for rows of a file in `format`.
    pub fn new(format: Format) -> Self {
        let row = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        RowFormatter {
            format,
            csv: csv::WriterBuilder::new()
                .buffer_capacity(1024)
                .from_writer(Sink(row.clone())),
            row,
            number: Vec::with_capacity(32),
        }
    }

    /// One point and its fields as a row of the file (CSV line or GeoJSON feature).
    pub fn row(&mut self, p: &InputPoint, fields: SiteFields<'_>) -> std::io::Result<Vec<u8>> {
        match self.format {
            Format::Csv => {
                let (csv, number) = (&mut self.csv, &mut self.number);
                let err = std::io::Error::other;
                csv.write_field(&p.id).map_err(err)?;
                for v in [p.location.lon(), p.location.lat()] {
                    number.clear();
                    write_decimal(number, v)?;
                    csv.write_field(&number[..]).map_err(err)?;
                }
                // The inputs the analysis used, as read: the runout fields are checked against them.
                csv.write_field(p.country.as_deref().unwrap_or(""))
                    .map_err(err)?;
                for v in [p.volume_m3, p.dam_height_m] {
                    number.clear();
                    if let Some(v) = v {
                        write_decimal(number, v)?;
                    }
                    csv.write_field(&number[..]).map_err(err)?;
                }
                for v in fields.values() {
                    match v {
                        Field::Null => csv.write_field(""),
                        Field::Text(t) => csv.write_field(t.as_bytes()),
                        Field::Number(x) => {
                            number.clear();
                            serde_json::to_writer(&mut *number, &x)?;
                            csv.write_field(&number[..])
                        }
                    }
                    .map_err(err)?;
                }
                csv.write_record(None::<&[u8]>).map_err(err)?;
                csv.flush()?;
                Ok(std::mem::take(&mut *self.row.borrow_mut()))
            }
            Format::GeoJson => {
                let mut w = Vec::with_capacity(1024);
                w.write_all(
                    b"{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[",
                )?;
                serde_json::to_writer(&mut w, &p.location.lon())?;
                w.write_all(b",")?;
                serde_json::to_writer(&mut w, &p.location.lat())?;
                w.write_all(b"]},\"properties\":{\"id\":")?;
                serde_json::to_writer(&mut w, &p.id)?;
                w.write_all(b",\"country\":")?;
                serde_json::to_writer(&mut w, &p.country)?;
                w.write_all(b",\"volume_m3\":")?;
                serde_json::to_writer(&mut w, &p.volume_m3)?;
                w.write_all(b",\"dam_height_m\":")?;
                serde_json::to_writer(&mut w, &p.dam_height_m)?;
                for (k, v) in SiteFields::NAMES.iter().zip(fields.values()) {
                    w.write_all(b",\"")?;
                    w.write_all(k.as_bytes())?;
                    w.write_all(b"\":")?;
                    match v {
                        Field::Null => w.write_all(b"null")?,
                        Field::Text(t) => serde_json::to_writer(&mut w, &*t)?,
                        Field::Number(x) => serde_json::to_writer(&mut w, &x)?,
                    }
                }
                w.write_all(b"}}")?;
                Ok(w)
            }
        }
    }
}

/// `v` as Rust's `Display` writes it (the shortest digits that read back the same, the closest of
/// them, never an exponent), by Ryū (the same digits, faster) wherever the two lay them out alike:
/// numbers with a fraction, neither tiny nor large (large ones can fall exactly halfway between two
/// 17-digit decimals, where the two round the tie differently).
fn write_decimal(out: &mut Vec<u8>, v: f64) -> std::io::Result<()> {
    if v.fract() != 0.0 && (1e-4..1e7).contains(&v.abs()) {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
        Ok(())
    } else {
        write!(out, "{v}")
    }
}

/// Where a formatter's CSV writer puts a row, for the formatter to take.
struct Sink(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The output file: a header, rows in order, and a footer, through a temporary file.
pub struct ResultWriter {
    path: PathBuf,
    tmp: PathBuf,
    format: Format,
    out: Option<BufWriter<File>>,
    started: bool,
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
            out: Some(BufWriter::with_capacity(1 << 20, file)),
            started: false,
            rows: 0,
        })
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        self.format
    }

    fn fail(&mut self, e: impl std::fmt::Display) -> IoError {
        self.out = None;
        let _ = std::fs::remove_file(&self.tmp);
        IoError::File {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    /// Appends rows made by a [`RowFormatter`] (or the error that stopped one).
    pub fn write(&mut self, rows: &[std::io::Result<Vec<u8>>]) -> Result<(), IoError> {
        let result = self.write_inner(rows);
        result.map_err(|e| self.fail(e))
    }

    fn start(&mut self) -> std::io::Result<()> {
        let Some(w) = self.out.as_mut() else {
            return Err(std::io::Error::other("the writer already failed"));
        };
        match self.format {
            Format::Csv => {
                let mut csv = csv::Writer::from_writer(&mut *w);
                csv.write_record(INPUT_COLUMNS.iter().chain(&SiteFields::NAMES))
                    .map_err(std::io::Error::other)?;
                csv.flush()?;
            }
            Format::GeoJson => w.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?,
        }
        self.started = true;
        Ok(())
    }

    fn write_inner(&mut self, rows: &[std::io::Result<Vec<u8>>]) -> std::io::Result<()> {
        if !self.started {
            self.start()?;
        }
        let Some(w) = self.out.as_mut() else {
            return Err(std::io::Error::other("the writer already failed"));
        };
        for row in rows {
            let row = row
                .as_ref()
                .map_err(|e| std::io::Error::new(e.kind(), e.to_string()))?;
            if self.format == Format::GeoJson && self.rows > 0 {
                w.write_all(b",\n")?;
            }
            w.write_all(row)?;
            self.rows += 1;
        }
        Ok(())
    }

    /// Completes the file and moves it into place.
    pub fn finish(mut self) -> Result<(), IoError> {
        let result = (|| -> std::io::Result<()> {
            // No rows: still a file with its header (CSV) or an empty collection (GeoJSON).
            if !self.started {
                self.start()?;
            }
            let Some(mut w) = self.out.take() else {
                return Err(std::io::Error::other("the writer already failed"));
            };
            if self.format == Format::GeoJson {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// No rows still make a complete file: the CSV header, or an empty FeatureCollection.
    #[test]
    fn an_empty_result_is_a_file_with_its_header() {
        let dir = std::env::temp_dir().join(format!("atlas-results-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("empty.csv");
        ResultWriter::create(&csv).unwrap().finish().unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        assert!(
            text.starts_with("id,lon,lat,country,volume_m3,dam_height_m,located_country,"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1);
        let json = dir.join("empty.geojson");
        ResultWriter::create(&json).unwrap().finish().unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(doc["features"].as_array().map(Vec::len), Some(0));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn decimals_are_written_as_display_writes_them() {
        let mut rng = StdRng::seed_from_u64(0xD15);
        let mut out = Vec::new();
        let mut check = |v: f64| {
            out.clear();
            write_decimal(&mut out, v).unwrap();
            assert_eq!(std::str::from_utf8(&out).unwrap(), v.to_string(), "{v:e}");
        };
        for _ in 0..200_000 {
            check(rng.random_range(-180.0..180.0));
            // Coordinates as files carry them: six decimals.
            check((rng.random_range(-180.0..180.0f64) * 1e6).round() / 1e6);
            check(rng.random_range(-1e-3..1e-3));
            check(10f64.powi(rng.random_range(-8..17)) * rng.random_range(0.5..2.0));
            check(rng.random_range(1e6..1e7));
        }
        for v in [
            0.0,
            -0.0,
            60.0,
            -180.0,
            180.0,
            1e-4,
            1e-5,
            1e15,
            1e16,
            0.1,
            0.2 + 0.1,
        ] {
            check(v);
        }
    }
}
