//! The file formats of an export: names, media types, file names and GDAL drivers.

use std::fmt;
use std::str::FromStr;

use crate::io::IoError;

/// A file format [`write_sites`](super::write_sites) can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Gpkg,
    Shp,
    Kml,
    Csv,
    Fgb,
    GeoJson,
}

impl ExportFormat {
    /// Every format, in the order they are offered.
    pub const ALL: &'static [ExportFormat] = &[
        ExportFormat::Gpkg,
        ExportFormat::Shp,
        ExportFormat::Kml,
        ExportFormat::Csv,
        ExportFormat::Fgb,
        ExportFormat::GeoJson,
    ];

    /// Parses a format name (`gpkg`, `shp`, `kml`, `csv`, `fgb`, `geojson`), ignoring case.
    pub fn parse(s: &str) -> Result<Self, IoError> {
        let wanted = s.trim();
        Self::ALL
            .iter()
            .copied()
            .find(|f| f.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| IoError::File {
                path: "export format".into(),
                reason: format!(
                    "{wanted:?} is not a format; expected one of: {}",
                    Self::ALL
                        .iter()
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// The format's name as [`ExportFormat::parse`] accepts it.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Gpkg => "gpkg",
            ExportFormat::Shp => "shp",
            ExportFormat::Kml => "kml",
            ExportFormat::Csv => "csv",
            ExportFormat::Fgb => "fgb",
            ExportFormat::GeoJson => "geojson",
        }
    }

    /// The media type to serve the file with.
    pub fn media_type(self) -> &'static str {
        match self {
            ExportFormat::Gpkg => "application/geopackage+sqlite3",
            ExportFormat::Shp => "application/zip",
            ExportFormat::Kml => "application/vnd.google-earth.kml+xml",
            ExportFormat::Csv => "text/csv",
            ExportFormat::Fgb => "application/flatgeobuf",
            ExportFormat::GeoJson => "application/geo+json",
        }
    }

    /// The conventional file name of an export in this format.
    pub fn file_name(self) -> &'static str {
        match self {
            ExportFormat::Gpkg => "sites.gpkg",
            ExportFormat::Shp => "sites.shp.zip",
            ExportFormat::Kml => "sites.kml",
            ExportFormat::Csv => "sites.csv",
            ExportFormat::Fgb => "sites.fgb",
            ExportFormat::GeoJson => "sites.geojson",
        }
    }

    pub(super) fn driver(self) -> &'static str {
        match self {
            ExportFormat::Gpkg => "GPKG",
            ExportFormat::Shp => "ESRI Shapefile",
            ExportFormat::Kml => "KML",
            ExportFormat::Csv => "CSV",
            ExportFormat::Fgb => "FlatGeobuf",
            ExportFormat::GeoJson => "GeoJSON",
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExportFormat {
    type Err = IoError;

    fn from_str(s: &str) -> Result<Self, IoError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_format_names() {
        for &f in ExportFormat::ALL {
            assert_eq!(ExportFormat::parse(f.as_str()).unwrap(), f);
            assert_eq!(ExportFormat::parse(&f.as_str().to_uppercase()).unwrap(), f);
            assert!(f.file_name().starts_with("sites."));
        }
        assert_eq!(
            " GeoJSON ".parse::<ExportFormat>().unwrap(),
            ExportFormat::GeoJson
        );
        assert_eq!(ExportFormat::Shp.media_type(), "application/zip");
        let err = ExportFormat::parse("xls").unwrap_err().to_string();
        assert!(err.contains("\"xls\""), "{err}");
        assert!(err.contains("gpkg, shp, kml, csv, fgb, geojson"), "{err}");
    }
}
