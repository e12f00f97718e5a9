//! The site fields as mapping files and column names know them, and what type each holds.

use serde::Deserialize;

use super::dbf::{DBF_NAME_MAX, short_name, truncate_bytes};
use super::mapping::mapping_err;
use crate::io::IoError;
use crate::schema::SITE_FIELDS;

/// What a site field holds, for converting source values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FieldKind {
    Text,
    Number,
    List,
    Object,
}

/// A site field, as mapping files and column names know it: its position in
/// [`crate::schema::SITE_FIELDS`], so the fields are the schema's, every one, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct SiteField(usize);

/// The position of `name` in the schema's site fields (a build error in a constant if it is none).
const fn position(name: &str) -> usize {
    let mut i = 0;
    while i < SITE_FIELDS.len() {
        let (a, b) = (SITE_FIELDS[i].name.as_bytes(), name.as_bytes());
        if a.len() == b.len() {
            let mut k = 0;
            while k < a.len() && a[k] == b[k] {
                k += 1;
            }
            if k == a.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("not a site field")
}

impl SiteField {
    /// The fields the import treats specially: the id (derived when absent), the coordinates (read
    /// from the geometry when there is one) and the closed vocabularies.
    pub(super) const ID: SiteField = SiteField(position("id"));
    pub(super) const KIND: SiteField = SiteField(position("kind"));
    pub(super) const COUNTRY: SiteField = SiteField(position("country"));
    pub(super) const STATUS: SiteField = SiteField(position("status"));
    pub(super) const PRECISION: SiteField = SiteField(position("precision"));
    pub(super) const LON: SiteField = SiteField(position("lon"));
    pub(super) const LAT: SiteField = SiteField(position("lat"));

    /// Every site field, in the schema's order.
    pub(super) fn all() -> impl Iterator<Item = SiteField> {
        (0..SITE_FIELDS.len()).map(SiteField)
    }

    /// Its position in [`crate::schema::SITE_FIELDS`] (what [`crate::model::SiteDraft::set`] takes).
    pub(super) fn index(self) -> usize {
        self.0
    }

    pub(super) fn name(self) -> &'static str {
        SITE_FIELDS[self.0].name
    }

    pub(super) fn from_name(name: &str) -> Option<Self> {
        SITE_FIELDS
            .iter()
            .position(|f| f.name == name)
            .map(SiteField)
    }

    pub(super) fn parse(name: &str) -> Result<Self, IoError> {
        Self::from_name(name.trim()).ok_or_else(|| mapping_err(Self::unknown(name)))
    }

    fn unknown(name: &str) -> String {
        let names: Vec<&str> = Self::all().map(Self::name).collect();
        format!(
            "unknown site field `{}`; expected one of: {}",
            name.trim(),
            names.join(", ")
        )
    }

    /// What the field holds, as the schema defines it.
    pub(super) fn kind(self) -> FieldKind {
        use crate::schema::FieldType;
        match SITE_FIELDS[self.0].ty {
            FieldType::Number => FieldKind::Number,
            FieldType::TextList => FieldKind::List,
            FieldType::Object => FieldKind::Object,
            FieldType::Text | FieldType::CountryCode => FieldKind::Text,
        }
    }

    /// Column names the default mapping reads this field from, best first.
    pub(super) fn default_columns(self) -> Vec<String> {
        let name = self.name();
        let mut names = vec![name.to_owned()];
        names.extend(short_name(name).map(str::to_owned));
        if name.len() > DBF_NAME_MAX {
            // What GDAL, QGIS and ArcGIS make of a long name in a shapefile.
            names.push(truncate_bytes(name, DBF_NAME_MAX).to_owned());
        }
        names
    }
}

/// As a mapping file names it: an unknown field is an error that lists the known ones.
impl<'de> Deserialize<'de> for SiteField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        SiteField::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(SiteField::unknown(&name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed keys a mapping names are the schema's site fields, every one.
    #[test]
    fn the_keys_are_the_schemas_site_fields() {
        let mut keys: Vec<&str> = SiteField::all().map(|f| f.name()).collect();
        let mut fields: Vec<&str> = crate::schema::SITE_FIELDS.iter().map(|f| f.name).collect();
        keys.sort_unstable();
        fields.sort_unstable();
        assert_eq!(keys, fields);
    }
}
