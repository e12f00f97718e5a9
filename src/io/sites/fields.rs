//! The site fields as mapping files and column names know them, and what type each holds.

use serde::Deserialize;

use super::dbf::{DBF_NAME_MAX, short_name, truncate_bytes};
use super::mapping::mapping_err;
use crate::io::IoError;

/// What a site field holds, for converting source values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FieldKind {
    Text,
    Number,
    List,
    Object,
}

/// A field of [`SiteDraft`], as mapping files name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub(super) enum SiteField {
    #[serde(rename = "id")]
    Id,
    #[serde(rename = "name")]
    Name,
    #[serde(rename = "local_name")]
    LocalName,
    #[serde(rename = "kind")]
    Kind,
    #[serde(rename = "activity")]
    Activity,
    #[serde(rename = "country")]
    Country,
    #[serde(rename = "status")]
    Status,
    #[serde(rename = "status_note")]
    StatusNote,
    #[serde(rename = "lon")]
    Lon,
    #[serde(rename = "lat")]
    Lat,
    #[serde(rename = "precision")]
    Precision,
    #[serde(rename = "volume_m3")]
    VolumeM3,
    #[serde(rename = "tonnage_t")]
    TonnageT,
    #[serde(rename = "dam_height_m")]
    DamHeightM,
    #[serde(rename = "area_m2")]
    AreaM2,
    #[serde(rename = "substances")]
    Substances,
    #[serde(rename = "receiving_river")]
    ReceivingRiver,
    #[serde(rename = "sources")]
    Sources,
    #[serde(rename = "attributes")]
    Attributes,
}

impl SiteField {
    pub(super) const ALL: [SiteField; 19] = [
        SiteField::Id,
        SiteField::Name,
        SiteField::LocalName,
        SiteField::Kind,
        SiteField::Activity,
        SiteField::Country,
        SiteField::Status,
        SiteField::StatusNote,
        SiteField::Lon,
        SiteField::Lat,
        SiteField::Precision,
        SiteField::VolumeM3,
        SiteField::TonnageT,
        SiteField::DamHeightM,
        SiteField::AreaM2,
        SiteField::Substances,
        SiteField::ReceivingRiver,
        SiteField::Sources,
        SiteField::Attributes,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            SiteField::Id => "id",
            SiteField::Name => "name",
            SiteField::LocalName => "local_name",
            SiteField::Kind => "kind",
            SiteField::Activity => "activity",
            SiteField::Country => "country",
            SiteField::Status => "status",
            SiteField::StatusNote => "status_note",
            SiteField::Lon => "lon",
            SiteField::Lat => "lat",
            SiteField::Precision => "precision",
            SiteField::VolumeM3 => "volume_m3",
            SiteField::TonnageT => "tonnage_t",
            SiteField::DamHeightM => "dam_height_m",
            SiteField::AreaM2 => "area_m2",
            SiteField::Substances => "substances",
            SiteField::ReceivingRiver => "receiving_river",
            SiteField::Sources => "sources",
            SiteField::Attributes => "attributes",
        }
    }

    pub(super) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    pub(super) fn parse(name: &str) -> Result<Self, IoError> {
        Self::from_name(name.trim()).ok_or_else(|| {
            mapping_err(format!(
                "unknown site field `{}`; expected one of: {}",
                name.trim(),
                Self::ALL.map(|f| f.name()).join(", ")
            ))
        })
    }

    /// What the field holds, as the schema defines it.
    pub(super) fn kind(self) -> FieldKind {
        use crate::schema::FieldType;
        match crate::schema::field(self.name()).map(|f| f.ty) {
            Some(FieldType::Number) => FieldKind::Number,
            Some(FieldType::TextList) => FieldKind::List,
            Some(FieldType::Object) => FieldKind::Object,
            Some(FieldType::Text | FieldType::CountryCode) | None => FieldKind::Text,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed keys a mapping names are the schema's site fields, every one.
    #[test]
    fn the_keys_are_the_schemas_site_fields() {
        let mut keys: Vec<&str> = SiteField::ALL.iter().map(|f| f.name()).collect();
        let mut fields: Vec<&str> = crate::schema::SITE_FIELDS.iter().map(|f| f.name).collect();
        keys.sort_unstable();
        fields.sort_unstable();
        assert_eq!(keys, fields);
    }
}
