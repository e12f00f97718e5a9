//! The field mapping of an import ([`Mapping`]): the mapping file (its format is documented in
//! [`super`]) and the CLI's `--map` and `--set`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::fields::SiteField;
use super::rows::{Cell, assign};
use crate::io::IoError;
use crate::model::{CoordinatePrecision, Iso3, SiteDraft, SiteId, SiteKind, SiteStatus};

pub(super) fn mapping_err(reason: String) -> IoError {
    IoError::File {
        path: "mapping".into(),
        reason,
    }
}

/// How a derived id is built.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IdRule {
    pub(super) from: OneOrMany,
    #[serde(default)]
    pub(super) prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(super) fn columns(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(c) => vec![c.as_str()],
            OneOrMany::Many(cs) => cs.iter().map(String::as_str).collect(),
        }
    }
}

/// The mapping file as written, before its values are checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MappingFile {
    #[serde(default)]
    #[allow(dead_code)] // Documentation for people; accepted so files can carry it.
    description: Option<String>,
    #[serde(default)]
    layer: Option<String>,
    #[serde(default)]
    columns: BTreeMap<SiteField, String>,
    #[serde(default)]
    constants: BTreeMap<SiteField, Value>,
    #[serde(default)]
    values: BTreeMap<SiteField, BTreeMap<String, String>>,
    #[serde(default)]
    id: Option<IdRule>,
}

/// How source columns become site fields. Default = identity (columns named like the site fields:
/// id, name, local_name, kind, activity, country, status, status_note, lon, lat, precision,
/// volume_m3, tonnage_t, dam_height_m, area_m2, substances, receiving_river, sources, attributes),
/// plus the shapefile short names of [`shapefile_names`](super::shapefile_names). See the module
/// documentation for the JSON format.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(try_from = "MappingFile")]
pub struct Mapping {
    pub(super) layer: Option<String>,
    pub(super) columns: BTreeMap<SiteField, String>,
    pub(super) constants: BTreeMap<SiteField, Cell>,
    /// Per field: trimmed, lower-cased source value → our value.
    pub(super) values: BTreeMap<SiteField, HashMap<String, String>>,
    pub(super) id: Option<IdRule>,
}

pub(super) fn vocabulary_key(s: &str) -> String {
    s.trim().to_lowercase()
}

impl TryFrom<MappingFile> for Mapping {
    type Error = String;

    fn try_from(file: MappingFile) -> Result<Self, String> {
        let mut m = Mapping {
            layer: file.layer.filter(|l| !l.trim().is_empty()),
            ..Mapping::default()
        };
        for (field, column) in file.columns {
            if column.trim().is_empty() {
                return Err(format!("columns.{}: empty column name", field.name()));
            }
            m.columns.insert(field, column);
        }
        for (field, value) in file.constants {
            if m.columns.contains_key(&field) {
                return Err(format!(
                    "`{}` is both a column and a constant; keep one",
                    field.name()
                ));
            }
            let cell = Cell::from_json(&value).ok_or_else(|| {
                format!(
                    "constants.{}: expected text, a number or a list of text (got {value})",
                    field.name()
                )
            })?;
            check_constant(field, &cell).map_err(|e| format!("constants.{}: {e}", field.name()))?;
            m.constants.insert(field, cell);
        }
        for (field, table) in file.values {
            let mut normalised = HashMap::new();
            for (from, to) in table {
                if normalised.insert(vocabulary_key(&from), to).is_some() {
                    return Err(format!(
                        "values.{}: {from:?} is listed twice (values match ignoring case and blanks)",
                        field.name()
                    ));
                }
            }
            m.values.insert(field, normalised);
        }
        if let Some(rule) = file.id {
            if m.columns.contains_key(&SiteField::ID) || m.constants.contains_key(&SiteField::ID) {
                return Err("`id` is derived and also a column or constant; keep one".into());
            }
            let columns = rule.from.columns();
            if columns.is_empty() || columns.iter().any(|c| c.trim().is_empty()) {
                return Err("id.from: name one column or a list of columns".into());
            }
            if !rule
                .prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            {
                return Err(format!(
                    "id.prefix: {:?} may only hold a-z, 0-9, '_' and '-'",
                    rule.prefix
                ));
            }
            m.id = Some(rule);
        }
        Ok(m)
    }
}

/// Checks a constant once, so a typo fails the mapping rather than every row.
pub(super) fn check_constant(field: SiteField, cell: &Cell) -> Result<(), String> {
    let mut d = SiteDraft::default();
    assign(&mut d, field, cell.clone(), None).map_err(|e| e.to_string())?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let checked = match field {
        SiteField::ID => SiteId::parse(&text(&d.id)).map(|_| ()),
        SiteField::KIND => text(&d.kind).parse::<SiteKind>().map(|_| ()),
        SiteField::STATUS => text(&d.status).parse::<SiteStatus>().map(|_| ()),
        SiteField::PRECISION => text(&d.precision)
            .parse::<CoordinatePrecision>()
            .map(|_| ()),
        SiteField::COUNTRY => Iso3::parse(&text(&d.country), "country").map(|_| ()),
        _ => Ok(()),
    };
    checked.map_err(|e| e.to_string())
}

impl Mapping {
    /// Reads a mapping file (JSON; see the module documentation). Unknown keys and unknown target
    /// fields are errors naming them.
    pub fn load(path: &Path) -> Result<Self, IoError> {
        let shown = path.display().to_string();
        let text = std::fs::read(path).map_err(|e| IoError::File {
            path: shown.clone(),
            reason: format!("cannot read: {e}"),
        })?;
        Self::from_json(&text, &shown)
    }

    /// Reads a mapping from its JSON text; `shown` names it in messages (an upload's file name).
    pub fn from_json(json: &[u8], shown: &str) -> Result<Self, IoError> {
        serde_json::from_slice(json).map_err(|e| IoError::File {
            path: shown.to_owned(),
            reason: format!("not a valid mapping: {e}"),
        })
    }

    /// Reads `field` from `column` (the CLI's `--map field=Column`); replaces a constant or id rule
    /// for the same field.
    pub fn map_column(&mut self, field: &str, column: &str) -> Result<(), IoError> {
        let f = SiteField::parse(field)?;
        let column = column.trim();
        if column.is_empty() {
            return Err(mapping_err(format!("`{}`: empty column name", f.name())));
        }
        self.constants.remove(&f);
        if f == SiteField::ID {
            self.id = None;
        }
        self.columns.insert(f, column.to_owned());
        Ok(())
    }

    /// Sets `field` to `value` for every row (the CLI's `--set field=value`); replaces a column or
    /// id rule for the same field.
    pub fn set_constant(&mut self, field: &str, value: &str) -> Result<(), IoError> {
        let f = SiteField::parse(field)?;
        let cell = Cell::Text(value.to_owned());
        check_constant(f, &cell).map_err(|e| mapping_err(format!("`{}`: {e}", f.name())))?;
        self.columns.remove(&f);
        if f == SiteField::ID {
            self.id = None;
        }
        self.constants.insert(f, cell);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::sites::read_sites;
    use crate::io::sites::test_support::*;
    use crate::model::SiteDraft;

    #[test]
    fn mapping_from_cli_flags() {
        let dir = TempDir::new("cli-mapping");
        let path = dir.path("sheet.csv");
        std::fs::write(
            &path,
            "Facility,Nation,Lat_deg,Lon_deg,Vol,Notes\n\
             Kara-Balta uranium mill tailings,kgz,42.78,73.85,1500000,near the town\n",
        )
        .unwrap();
        let mut m = Mapping::default();
        for (field, column) in [
            ("name", "Facility"),
            ("country", "Nation"),
            ("lat", "Lat_deg"),
            ("lon", "Lon_deg"),
            ("volume_m3", "Vol"),
        ] {
            m.map_column(field, column).unwrap();
        }
        for (field, value) in [
            ("id", "kgz_kara_balta"),
            ("kind", "Tailings"),
            ("activity", "uranium milling"),
            ("precision", "site"),
            ("sources", "https://example.org/a; https://example.org/b"),
        ] {
            m.set_constant(field, value).unwrap();
        }
        let (sites, read) = read_ok(&path, &m);
        assert_eq!(read.ignored_columns, ["Notes"]);
        assert_eq!(
            sites,
            [site(SiteDraft {
                id: Some("kgz_kara_balta".into()),
                name: Some("Kara-Balta uranium mill tailings".into()),
                kind: Some("tailings".into()),
                activity: Some("uranium milling".into()),
                country: Some("KGZ".into()),
                lon: Some(73.85),
                lat: Some(42.78),
                precision: Some("site".into()),
                volume_m3: Some(1.5e6),
                sources: strings(&["https://example.org/a", "https://example.org/b"]),
                ..SiteDraft::default()
            })]
        );

        let err = m.map_column("volume", "Vol").unwrap_err().to_string();
        assert!(
            err.contains("`volume`") && err.contains("volume_m3"),
            "{err}"
        );
        let err = m
            .set_constant("precision", "exact")
            .unwrap_err()
            .to_string();
        assert!(err.contains("precision") && err.contains("exact"), "{err}");
        let err = m.set_constant("volume_m3", "lots").unwrap_err().to_string();
        assert!(err.contains("volume_m3") && err.contains("lots"), "{err}");

        // A mapped column the file lacks fails the file, naming the column.
        m.map_column("name", "Facility Name").unwrap();
        let err = read_sites(&path, &m, &no_progress).unwrap_err();
        assert!(matches!(err, IoError::File { .. }), "{err}");
        assert!(err.to_string().contains("\"Facility Name\""), "{err}");
    }

    #[test]
    fn bad_mapping_files_name_the_problem() {
        let dir = TempDir::new("bad-mapping");
        for (json, expected) in [
            (
                r#"{"columns": {"volume": "Vol"}}"#,
                vec!["`volume`", "volume_m3"],
            ),
            (r#"{"colums": {}}"#, vec!["`colums`"]),
            (r#"{"values": {"state": {"A": "active"}}}"#, vec!["`state`"]),
            (r#"{"constants": {"kind": "mine"}}"#, vec!["kind", "mine"]),
            (r#"{"constants": {"lat": true}}"#, vec!["constants.lat"]),
            (
                r#"{"columns": {"kind": "K"}, "constants": {"kind": "tailings"}}"#,
                vec!["`kind`", "both"],
            ),
            (
                r#"{"id": {"from": "Name", "prefix": "Bad Prefix"}}"#,
                vec!["id.prefix"],
            ),
            (
                r#"{"values": {"status": {"Active": "active", " active ": "inactive"}}}"#,
                vec!["values.status", "twice"],
            ),
        ] {
            let path = dir.path("mapping.json");
            std::fs::write(&path, json).unwrap();
            let err = Mapping::load(&path).unwrap_err().to_string();
            assert!(err.contains("mapping.json"), "{err}");
            for e in expected {
                assert!(err.contains(e), "{json}: {err} should name {e}");
            }
        }
        let err = Mapping::load(&dir.path("none.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read"), "{err}");
    }
}
