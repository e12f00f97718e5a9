//! The inventory's domain types: a [`Site`] and the newtypes that guard its invariants.
//!
//! Everything here is validated when it is built ("parse, don't validate"): a [`Site`] that exists is a
//! valid site, so the index, the store and the API can trust it. A bad value yields a [`ModelError`]
//! that names the field and the offending value.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

pub mod intern;
pub mod limits;
pub mod slug;

pub use intern::{Interner, Shared};

/// Why a value could not become part of a [`Site`].
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ModelError {
    /// A required field is absent or blank.
    #[error("field `{field}` is required")]
    Missing { field: &'static str },
    /// A field has a value outside its domain.
    #[error("field `{field}`: {reason} (got {value:?})")]
    Invalid {
        field: &'static str,
        value: String,
        reason: String,
    },
}

impl ModelError {
    /// The name of the field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            ModelError::Missing { field } | ModelError::Invalid { field, .. } => field,
        }
    }

    fn invalid(field: &'static str, value: impl fmt::Display, reason: impl Into<String>) -> Self {
        ModelError::Invalid {
            field,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// A stable site identifier: 1–128 characters of `a-z`, `0-9`, `_` and `-`, so it is safe in URLs and
/// file names without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SiteId(String);

impl SiteId {
    /// Checks the identifier's syntax.
    ///
    /// ```
    /// use tailings_atlas::model::SiteId;
    /// assert!(SiteId::parse("kgz_mailuu_suu_complex").is_ok());
    /// assert!(SiteId::parse("Mailuu Suu").is_err());
    /// ```
    pub fn parse(raw: &str) -> Result<Self, ModelError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ModelError::Missing { field: "id" });
        }
        if s.len() > 128 {
            return Err(ModelError::invalid("id", s, "longer than 128 characters"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(ModelError::invalid(
                "id",
                s,
                "only lower-case letters a-z, digits, '_' and '-' are allowed",
            ));
        }
        Ok(SiteId(s.to_owned()))
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 3166-1 alpha-3 country code (three upper-case letters), held inline: three bytes, no
/// allocation, however many sites and results name it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Iso3([u8; 3]);

impl fmt::Debug for Iso3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Iso3").field(&self.as_str()).finish()
    }
}

impl Serialize for Iso3 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Iso3 {
    /// Checks the code's syntax; lower case is accepted and normalised.
    ///
    /// ```
    /// use tailings_atlas::model::Iso3;
    /// assert_eq!(Iso3::parse("kgz", "country").unwrap().as_str(), "KGZ");
    /// assert!(Iso3::parse("KG", "country").is_err());
    /// ```
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, ModelError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ModelError::Missing { field });
        }
        if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ModelError::invalid(
                field,
                s,
                "expected an ISO 3166-1 alpha-3 code such as KGZ",
            ));
        }
        let b = s.as_bytes();
        Ok(Iso3([
            b[0].to_ascii_uppercase(),
            b[1].to_ascii_uppercase(),
            b[2].to_ascii_uppercase(),
        ]))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored (see `parse`).
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

/// Declares a closed vocabulary: parsing from its snake_case names, an error naming the field and the
/// allowed values, and serde in the same spelling.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value's name as it appears in files and URLs.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = ModelError;

            fn from_str(raw: &str) -> Result<Self, ModelError> {
                let s = raw.trim();
                if s.is_empty() {
                    return Err(ModelError::Missing { field: $field });
                }
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ModelError::invalid(
                        $field,
                        s,
                        format!("expected one of: {}", [$($text),+].join(", ")),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// What kind of facility a site is.
    SiteKind, "kind" {
        /// A tailings storage facility (pond, dam, dump of processing waste).
        Tailings => "tailings",
        /// Any other hazardous site: plants, refineries, waste rock dumps, dams.
        HazardousSite => "hazardous_site",
    }
);

vocabulary!(
    /// The operational state of a site.
    SiteStatus, "status" {
        /// Operating.
        Active => "active",
        /// Closed or idle, not remediated.
        Inactive => "inactive",
        /// Abandoned Soviet-era legacy, possibly under remediation.
        Legacy => "legacy",
        /// Remediation completed.
        Remediated => "remediated",
        /// No reliable information.
        Unknown => "unknown",
    }
);

vocabulary!(
    /// How precisely a site's coordinate locates the facility itself.
    CoordinatePrecision, "precision" {
        /// The coordinate is on the facility.
        Site => "site",
        /// The coordinate is near the facility (within a few kilometres).
        SiteApprox => "site_approx",
        /// Only the nearest town is known.
        Town => "town",
    }
);

/// A WGS 84 position, longitude then latitude, in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Wgs84Point {
    lon: f64,
    lat: f64,
}

impl Wgs84Point {
    /// Checks that both values are finite and within range.
    ///
    /// ```
    /// use tailings_atlas::model::Wgs84Point;
    /// assert!(Wgs84Point::new(72.448, 41.246).is_ok());
    /// let err = Wgs84Point::new(181.0, 41.0).unwrap_err();
    /// assert_eq!(err.field(), "lon");
    /// ```
    pub fn new(lon: f64, lat: f64) -> Result<Self, ModelError> {
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(ModelError::invalid(
                "lon",
                lon,
                "longitude must be within [-180, 180]",
            ));
        }
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(ModelError::invalid(
                "lat",
                lat,
                "latitude must be within [-90, 90]",
            ));
        }
        Ok(Wgs84Point { lon, lat })
    }

    /// Longitude in degrees.
    pub fn lon(&self) -> f64 {
        self.lon
    }

    /// Latitude in degrees.
    pub fn lat(&self) -> f64 {
        self.lat
    }

    /// The position as a `geo` point (x = lon, y = lat).
    pub fn to_geo(&self) -> geo::Point<f64> {
        geo::Point::new(self.lon, self.lat)
    }
}

/// Optional physical quantities, each in the unit its name ends with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Quantities {
    /// Stored volume, cubic metres.
    pub volume_m3: Option<f64>,
    /// Stored mass, tonnes.
    pub tonnage_t: Option<f64>,
    /// Dam height, metres.
    pub dam_height_m: Option<f64>,
    /// Footprint area, square metres.
    pub area_m2: Option<f64>,
}

impl Quantities {
    fn checked(self) -> Result<Self, ModelError> {
        for (field, value) in [
            ("volume_m3", self.volume_m3),
            ("tonnage_t", self.tonnage_t),
            ("dam_height_m", self.dam_height_m),
            ("area_m2", self.area_m2),
        ] {
            if let Some(v) = value
                && (!v.is_finite() || v < 0.0)
            {
                return Err(ModelError::invalid(
                    field,
                    v,
                    "must be a finite, non-negative number",
                ));
            }
        }
        Ok(self)
    }
}

/// A tailings facility or hazardous site of the inventory. Built only through [`Site::try_from`] on a
/// [`SiteDraft`], so every instance is valid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Site {
    pub id: SiteId,
    pub name: String,
    pub local_name: Option<String>,
    pub kind: SiteKind,
    pub activity: String,
    pub country: Iso3,
    pub status: SiteStatus,
    /// The free-text status as the source states it (dates, programmes).
    pub status_note: Option<String>,
    pub location: Wgs84Point,
    pub precision: CoordinatePrecision,
    pub quantities: Quantities,
    pub substances: Vec<String>,
    pub receiving_river: Option<String>,
    pub sources: Vec<String>,
    pub attributes: Map<String, Value>,
}

/// Unvalidated site fields, as they come from a file, the store or a request body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteDraft {
    pub id: Option<String>,
    pub name: Option<String>,
    pub local_name: Option<String>,
    pub kind: Option<String>,
    pub activity: Option<String>,
    pub country: Option<String>,
    pub status: Option<String>,
    pub status_note: Option<String>,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub precision: Option<String>,
    pub volume_m3: Option<f64>,
    pub tonnage_t: Option<f64>,
    pub dam_height_m: Option<f64>,
    pub area_m2: Option<f64>,
    pub substances: Vec<String>,
    pub receiving_river: Option<String>,
    pub sources: Vec<String>,
    pub attributes: Map<String, Value>,
}

fn required_text(value: Option<String>, field: &'static str) -> Result<String, ModelError> {
    optional_text(value).ok_or(ModelError::Missing { field })
}

fn optional_text(value: Option<String>) -> Option<String> {
    value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn text_list(values: Vec<String>) -> Vec<String> {
    values
        .into_iter()
        .filter_map(|s| optional_text(Some(s)))
        .collect()
}

/// The start of a long value, for an error message that should not echo all of it.
fn excerpt(s: &str) -> String {
    let mut e: String = s.chars().take(40).collect();
    if e.len() < s.len() {
        e.push('…');
    }
    e
}

/// Refuses `text` (what `field` holds, or item `item` of it) when it is longer than `max` bytes.
fn within(
    field: &'static str,
    text: &str,
    max: usize,
    item: Option<usize>,
) -> Result<(), ModelError> {
    if text.len() <= max {
        return Ok(());
    }
    let (what, per) = match item {
        Some(i) => (format!("item {} is", i + 1), " per item"),
        None => ("is".to_owned(), ""),
    };
    Err(ModelError::invalid(
        field,
        excerpt(text),
        format!(
            "{what} {} bytes long; the limit is {max} bytes{per} (UTF-8)",
            text.len()
        ),
    ))
}

/// Checks a text field against its limit ([`limits::max_bytes`]).
fn check_text(field: &'static str, text: Option<&str>) -> Result<(), ModelError> {
    match (text, limits::max_bytes(field)) {
        (Some(t), Some(max)) => within(field, t, max, None),
        _ => Ok(()),
    }
}

/// Checks a list field: each item, and the whole as the JSON text flat formats write.
fn check_list(field: &'static str, items: &[String]) -> Result<(), ModelError> {
    if let Some(max) = limits::max_item_bytes(field) {
        for (i, item) in items.iter().enumerate() {
            within(field, item, max, Some(i))?;
        }
    }
    check_json(field, items)
}

/// Checks the JSON text of a list or object against `field`'s limit.
fn check_json(field: &'static str, value: &(impl Serialize + ?Sized)) -> Result<(), ModelError> {
    match limits::max_bytes(field) {
        Some(max) => {
            let json = serde_json::to_string(value).unwrap_or_default();
            within(field, &json, max, None)
        }
        None => Ok(()),
    }
}

impl TryFrom<SiteDraft> for Site {
    type Error = ModelError;

    fn try_from(d: SiteDraft) -> Result<Self, ModelError> {
        let id = SiteId::parse(d.id.as_deref().unwrap_or(""))?;
        let name = required_text(d.name, "name")?;
        let kind: SiteKind = d.kind.as_deref().unwrap_or("").parse()?;
        let activity = required_text(d.activity, "activity")?;
        let country = Iso3::parse(d.country.as_deref().unwrap_or(""), "country")?;
        // A site whose state nobody has reported is `unknown`, not an error.
        let status = match optional_text(d.status) {
            None => SiteStatus::Unknown,
            Some(s) => s.parse()?,
        };
        let lon = d.lon.ok_or(ModelError::Missing { field: "lon" })?;
        let lat = d.lat.ok_or(ModelError::Missing { field: "lat" })?;
        let location = Wgs84Point::new(lon, lat)?;
        let precision: CoordinatePrecision = d.precision.as_deref().unwrap_or("").parse()?;
        let quantities = Quantities {
            volume_m3: d.volume_m3,
            tonnage_t: d.tonnage_t,
            dam_height_m: d.dam_height_m,
            area_m2: d.area_m2,
        }
        .checked()?;
        let sources = text_list(d.sources);
        if sources.is_empty() {
            // An inventory entry nobody can trace cannot be defended in a meeting.
            return Err(ModelError::Missing { field: "sources" });
        }
        let local_name = optional_text(d.local_name);
        let status_note = optional_text(d.status_note);
        let receiving_river = optional_text(d.receiving_river);
        let substances = text_list(d.substances);
        let site = Site {
            id,
            name,
            local_name,
            kind,
            activity,
            country,
            status,
            status_note,
            location,
            precision,
            quantities,
            substances,
            receiving_river,
            sources,
            attributes: d.attributes,
        };
        // Every text, list and object against its limit in the schema.
        for (f, v) in crate::schema::SITE_FIELDS.iter().zip(site.values()) {
            match v {
                SiteValue::Text(t) => check_text(f.name, Some(t))?,
                SiteValue::List(items) => check_list(f.name, items)?,
                SiteValue::Object(m) => check_json(f.name, m)?,
                SiteValue::Null | SiteValue::Number(_) => {}
            }
        }
        Ok(site)
    }
}

impl Site {
    /// The attribute names of a site, as in its properties (besides `lon` and `lat`).
    pub const FIELDS: &'static [&'static str] = &crate::schema::SITE_ATTRIBUTES;

    /// The site's attributes as flat GeoJSON properties, in [`crate::schema::SITE_FIELDS`] order;
    /// arrays and the free attributes stay JSON.
    pub fn properties(&self) -> Map<String, Value> {
        crate::schema::SITE_FIELDS
            .iter()
            .zip(self.values())
            .map(|(f, v)| (f.name.to_owned(), v.to_value()))
            .collect()
    }

    /// The values of [`crate::schema::SITE_FIELDS`], in order, borrowed from the site.
    pub fn values(&self) -> [SiteValue<'_>; crate::schema::SITE_FIELDS.len()] {
        std::array::from_fn(|i| self.value(i))
    }

    /// The value of field `i` of [`crate::schema::SITE_FIELDS`] alone (`Null` past the end): what a
    /// filter reads, without borrowing the others.
    pub fn value(&self, i: usize) -> SiteValue<'_> {
        let q = &self.quantities;
        fn text(t: &Option<String>) -> SiteValue<'_> {
            t.as_deref().map_or(SiteValue::Null, SiteValue::Text)
        }
        let number = |v: Option<f64>| v.map_or(SiteValue::Null, SiteValue::Number);
        match i {
            0 => SiteValue::Text(self.id.as_str()),
            1 => SiteValue::Text(&self.name),
            2 => text(&self.local_name),
            3 => SiteValue::Text(self.kind.as_str()),
            4 => SiteValue::Text(&self.activity),
            5 => SiteValue::Text(self.country.as_str()),
            6 => SiteValue::Text(self.status.as_str()),
            7 => text(&self.status_note),
            8 => SiteValue::Text(self.precision.as_str()),
            9 => SiteValue::Number(self.location.lon()),
            10 => SiteValue::Number(self.location.lat()),
            11 => number(q.volume_m3),
            12 => number(q.tonnage_t),
            13 => number(q.dam_height_m),
            14 => number(q.area_m2),
            15 => SiteValue::List(&self.substances),
            16 => text(&self.receiving_river),
            17 => SiteValue::List(&self.sources),
            18 => SiteValue::Object(&self.attributes),
            _ => SiteValue::Null,
        }
    }
}

/// One value of a draft's field, owned: what a reader of a store row or a file sets, by the field's
/// [`crate::schema::FieldType`] (text and country codes as `Text`).
#[derive(Debug, Clone, PartialEq)]
pub enum DraftValue {
    Text(Option<String>),
    Number(Option<f64>),
    List(Vec<String>),
    Object(Map<String, Value>),
}

impl SiteDraft {
    /// Sets field `i` of [`crate::schema::SITE_FIELDS`] (the order of [`Site::value`]). A value
    /// of another type than the field's is a bug of the caller, which reads by the schema's types:
    /// it panics in debug builds and leaves the field as it was otherwise.
    pub fn set(&mut self, i: usize, value: DraftValue) {
        use DraftValue::{List, Number, Object, Text};
        match (i, value) {
            (0, Text(v)) => self.id = v,
            (1, Text(v)) => self.name = v,
            (2, Text(v)) => self.local_name = v,
            (3, Text(v)) => self.kind = v,
            (4, Text(v)) => self.activity = v,
            (5, Text(v)) => self.country = v,
            (6, Text(v)) => self.status = v,
            (7, Text(v)) => self.status_note = v,
            (8, Text(v)) => self.precision = v,
            (9, Number(v)) => self.lon = v,
            (10, Number(v)) => self.lat = v,
            (11, Number(v)) => self.volume_m3 = v,
            (12, Number(v)) => self.tonnage_t = v,
            (13, Number(v)) => self.dam_height_m = v,
            (14, Number(v)) => self.area_m2 = v,
            (15, List(v)) => self.substances = v,
            (16, Text(v)) => self.receiving_river = v,
            (17, List(v)) => self.sources = v,
            (18, Object(v)) => self.attributes = v,
            (i, v) => debug_assert!(false, "site field {i} cannot take {v:?}"),
        }
    }
}

/// One value of a site's fields, borrowed: what GeoJSON, HTML, CSV and the filters are written from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SiteValue<'a> {
    Null,
    Text(&'a str),
    Number(f64),
    List(&'a [String]),
    Object(&'a Map<String, Value>),
}

impl SiteValue<'_> {
    /// As a JSON value (a number that is not finite is `null`, as serde_json has it).
    pub fn to_value(self) -> Value {
        match self {
            SiteValue::Null => Value::Null,
            SiteValue::Text(t) => Value::String(t.to_owned()),
            SiteValue::Number(v) => Value::from(v),
            SiteValue::List(items) => Value::from(items.to_vec()),
            SiteValue::Object(m) => Value::Object(m.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> SiteDraft {
        SiteDraft {
            id: Some("kgz_test".into()),
            name: Some("Test tailings".into()),
            kind: Some("tailings".into()),
            activity: Some("uranium legacy".into()),
            country: Some("KGZ".into()),
            status: Some("legacy".into()),
            lon: Some(72.45),
            lat: Some(41.25),
            precision: Some("site".into()),
            sources: vec!["https://example.org/report".into()],
            ..SiteDraft::default()
        }
    }

    /// A draft set field by field from a site's values, by the schema's types, is that site.
    #[test]
    fn set_takes_each_field_where_value_reads_it() {
        use crate::schema::{FieldType, SITE_FIELDS};
        let mut full = draft();
        full.local_name = Some("Тест".into());
        full.status_note = Some("note".into());
        full.volume_m3 = Some(1.5);
        full.tonnage_t = Some(2.5);
        full.dam_height_m = Some(3.5);
        full.area_m2 = Some(4.5);
        full.substances = vec!["uranium".into(), "arsenic".into()];
        full.receiving_river = Some("Mailuu-Suu".into());
        full.attributes = serde_json::json!({"k": 1}).as_object().unwrap().clone();
        let site = Site::try_from(full).unwrap();
        let mut copy = SiteDraft::default();
        for (i, f) in SITE_FIELDS.iter().enumerate() {
            let v = site.value(i);
            assert_ne!(v, SiteValue::Null, "{} is set in the test site", f.name);
            copy.set(
                i,
                match (f.ty, v) {
                    (FieldType::Number, SiteValue::Number(x)) => DraftValue::Number(Some(x)),
                    (FieldType::TextList, SiteValue::List(l)) => DraftValue::List(l.to_vec()),
                    (FieldType::Object, SiteValue::Object(m)) => DraftValue::Object(m.clone()),
                    (FieldType::Text | FieldType::CountryCode, SiteValue::Text(t)) => {
                        DraftValue::Text(Some(t.to_owned()))
                    }
                    (ty, v) => panic!("{}: {v:?} is not a {ty:?}", f.name),
                },
            );
        }
        assert_eq!(Site::try_from(copy).unwrap(), site);
    }

    #[test]
    fn valid_draft_builds() {
        let site = Site::try_from(draft()).unwrap();
        assert_eq!(site.id.as_str(), "kgz_test");
        assert_eq!(site.kind, SiteKind::Tailings);
        assert_eq!(site.precision, CoordinatePrecision::Site);
        assert_eq!(site.location.lon(), 72.45);
    }

    #[test]
    fn errors_name_field_and_value() {
        let cases: Vec<(SiteDraft, &str, Option<&str>)> = vec![
            (
                SiteDraft {
                    lon: Some(180.5),
                    ..draft()
                },
                "lon",
                Some("180.5"),
            ),
            (
                SiteDraft {
                    lat: Some(-91.0),
                    ..draft()
                },
                "lat",
                Some("-91"),
            ),
            (
                SiteDraft {
                    lat: Some(f64::NAN),
                    ..draft()
                },
                "lat",
                Some("NaN"),
            ),
            (
                SiteDraft {
                    kind: Some("mine".into()),
                    ..draft()
                },
                "kind",
                Some("mine"),
            ),
            (
                SiteDraft {
                    status: Some("dormant".into()),
                    ..draft()
                },
                "status",
                Some("dormant"),
            ),
            (
                SiteDraft {
                    precision: Some("exact".into()),
                    ..draft()
                },
                "precision",
                Some("exact"),
            ),
            (
                SiteDraft {
                    country: Some("KG".into()),
                    ..draft()
                },
                "country",
                Some("KG"),
            ),
            (
                SiteDraft {
                    id: Some("Bad Id".into()),
                    ..draft()
                },
                "id",
                Some("Bad Id"),
            ),
            (
                SiteDraft {
                    volume_m3: Some(-1.0),
                    ..draft()
                },
                "volume_m3",
                Some("-1"),
            ),
            (
                SiteDraft {
                    name: Some("  ".into()),
                    ..draft()
                },
                "name",
                None,
            ),
            (
                SiteDraft {
                    lon: None,
                    ..draft()
                },
                "lon",
                None,
            ),
            (
                SiteDraft {
                    sources: vec![],
                    ..draft()
                },
                "sources",
                None,
            ),
        ];
        for (d, field, value) in cases {
            let err = Site::try_from(d).unwrap_err();
            assert_eq!(err.field(), field, "{err}");
            let msg = err.to_string();
            assert!(msg.contains(field), "{msg}");
            if let Some(v) = value {
                assert!(msg.contains(v), "{msg} should quote {v}");
            }
        }
    }

    #[test]
    fn boundary_coordinates_are_valid() {
        for (lon, lat) in [(-180.0, -90.0), (180.0, 90.0), (0.0, 0.0)] {
            assert!(Wgs84Point::new(lon, lat).is_ok());
        }
    }

    #[test]
    fn fields_are_the_properties() {
        let properties = Site::try_from(draft()).unwrap().properties();
        let mut keys: Vec<&str> = properties
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "lon" && *k != "lat")
            .collect();
        let mut fields = Site::FIELDS.to_vec();
        keys.sort_unstable();
        fields.sort_unstable();
        assert_eq!(keys, fields);
    }

    /// `n` bytes of text with blanks and two-byte letters, as long fields tend to be.
    fn text_of_bytes(n: usize) -> String {
        let mut t = String::new();
        while t.len() < n {
            t.push(if t.len() % 7 == 6 {
                ' '
            } else if t.len().is_multiple_of(3) {
                'a'
            } else {
                'ж'
            });
        }
        while t.len() > n {
            t.pop();
        }
        t.push_str(&"b".repeat(n - t.len()));
        t
    }

    #[test]
    fn every_text_field_has_a_limit_in_bytes() {
        for (field, max) in limits::limited() {
            let at = |n: usize| {
                let text = text_of_bytes(n);
                let mut d = draft();
                match field {
                    "name" => d.name = Some(text),
                    "local_name" => d.local_name = Some(text),
                    "activity" => d.activity = Some(text),
                    "status_note" => d.status_note = Some(text),
                    "receiving_river" => d.receiving_river = Some(text),
                    // Items within their own limit, the whole (as JSON) just over or at the limit.
                    "substances" | "sources" => {
                        let item = limits::max_item_bytes(field).unwrap().min(100);
                        let mut items = Vec::new();
                        let mut len = 2; // the brackets
                        while len < n {
                            let take = (n - len).saturating_sub(3).clamp(1, item);
                            len += take + 2 + usize::from(!items.is_empty());
                            items.push("x".repeat(take));
                        }
                        if field == "substances" {
                            d.substances = items;
                        } else {
                            d.sources = items;
                        }
                    }
                    "attributes" => {
                        // {"k":"…"} is 8 bytes around the text.
                        d.attributes = serde_json::json!({ "k": "y".repeat(n - 8) })
                            .as_object()
                            .unwrap()
                            .clone();
                    }
                    other => panic!("no test for {other}"),
                }
                Site::try_from(d)
            };
            let json_len = |s: &Site| match field {
                "substances" => serde_json::to_string(&s.substances).unwrap().len(),
                "sources" => serde_json::to_string(&s.sources).unwrap().len(),
                "attributes" => serde_json::to_string(&s.attributes).unwrap().len(),
                _ => 0,
            };
            let ok = at(max).unwrap_or_else(|e| panic!("{field} at its limit: {e}"));
            if json_len(&ok) > 0 {
                assert!(json_len(&ok) <= max && json_len(&ok) + 3 > max, "{field}");
            }
            let err = at(max + 3).unwrap_err();
            assert_eq!(err.field(), field, "{err}");
            let msg = err.to_string();
            assert!(msg.contains(&format!("the limit is {max} bytes")), "{msg}");
            assert!(msg.len() < 300, "the message quotes an excerpt only: {msg}");
        }
        for (field, max) in limits::limited_items() {
            let items = vec!["ok".to_owned(), "z".repeat(max + 1)];
            let d = if field == "substances" {
                SiteDraft {
                    substances: items,
                    ..draft()
                }
            } else {
                SiteDraft {
                    sources: items,
                    ..draft()
                }
            };
            let msg = Site::try_from(d).unwrap_err().to_string();
            assert!(
                msg.contains(&format!("`{field}`"))
                    && msg.contains("item 2")
                    && msg.contains(&format!("{max} bytes per item")),
                "{msg}"
            );
        }
    }

    #[test]
    fn missing_status_is_unknown() {
        let site = Site::try_from(SiteDraft {
            status: None,
            ..draft()
        })
        .unwrap();
        assert_eq!(site.status, SiteStatus::Unknown);
    }

    #[test]
    fn vocabularies_round_trip() {
        for s in SiteStatus::ALL {
            assert_eq!(s.as_str().parse::<SiteStatus>().unwrap(), *s);
        }
        for k in SiteKind::ALL {
            assert_eq!(k.as_str().parse::<SiteKind>().unwrap(), *k);
        }
        for p in CoordinatePrecision::ALL {
            assert_eq!(p.as_str().parse::<CoordinatePrecision>().unwrap(), *p);
        }
    }
}
