//! A point's analysis as flat fields (GIS clients want columns, not nested objects): the edge where
//! the typed [`AnalysisRecord`] is written out, to files by `analyze` and to GeoJSON properties.

use serde_json::{Map, Value};

use super::{AnalysisRecord, CountryCheck, DownstreamStatus};
use crate::model::Iso3;

/// A border side's code, or nothing where the layer does not give it.
fn side(c: &Option<Iso3>) -> &str {
    c.as_ref().map_or("", Iso3::as_str)
}

fn round(v: f64, decimals: i32) -> f64 {
    let k = 10f64.powi(decimals);
    (v * k).round() / k
}

/// One value of a site's flat analysis fields.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<'a> {
    Null,
    Text(std::borrow::Cow<'a, str>),
    Number(f64),
}

impl Field<'_> {
    /// As a JSON value: text as a string, numbers as numbers.
    pub fn to_value(&self) -> Value {
        match self {
            Field::Null => Value::Null,
            Field::Text(t) => Value::String(t.to_string()),
            Field::Number(v) => Value::from(*v),
        }
    }
}

impl<'a> From<Option<&'a str>> for Field<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Field::Null, |t| Field::Text(t.into()))
    }
}

impl From<Option<String>> for Field<'_> {
    fn from(v: Option<String>) -> Self {
        v.map_or(Field::Null, |t| Field::Text(t.into()))
    }
}

impl From<Option<f64>> for Field<'_> {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Field::Null, Field::Number)
    }
}

/// A site's analysis as flat fields (GIS clients want columns, not nested objects), borrowed from its
/// [`AnalysisRecord`]: written straight to files by `analyze` and by the catalog's writers.
#[derive(Debug, Clone, Copy)]
pub struct SiteFields<'a> {
    record: &'a AnalysisRecord,
    /// The country the site or point is declared in, if any.
    declared_country: Option<&'a str>,
}

impl AnalysisRecord {
    /// `border_distance_m` as published: metres to the nearest border, to 0.1 m.
    pub fn border_distance_m(&self) -> Option<f64> {
        self.border.as_ref().map(|b| round(b.distance_m, 1))
    }

    /// The flat fields; `own_country` is the declared country, if known.
    pub fn fields<'a>(&'a self, own_country: Option<&'a str>) -> SiteFields<'a> {
        SiteFields {
            record: self,
            declared_country: own_country,
        }
    }
}

impl<'a> SiteFields<'a> {
    /// The field names, in the order [`SiteFields::values`] gives them.
    pub const NAMES: [&'static str; 30] = crate::schema::ANALYSIS_FIELD_NAMES;

    /// The values, in the order of [`SiteFields::NAMES`].
    pub fn values(&self) -> [Field<'a>; 30] {
        std::array::from_fn(|i| self.value(i))
    }

    /// The value of field `i` of [`SiteFields::NAMES`] alone (`Null` past the end): what a sort or a
    /// filter on one field reads, without formatting the others.
    pub fn value(&self, i: usize) -> Field<'a> {
        let a = self.record;
        let text = |t: &'a str| Field::Text(t.into());
        let river = a.river.as_ref();
        let border = a.border.as_ref();
        let d = a.downstream.as_deref();
        let first = d.and_then(|d| d.first_crossing.as_ref());
        let r = &a.runout;
        match i {
            0 => a.country.as_ref().map(Iso3::as_str).into(),
            1 => text(a.country_match.as_str()),
            2 => text(CountryCheck::of(a.country.as_ref(), self.declared_country).as_str()),
            3 => river.map(|r| &*r.id).into(),
            4 => river.and_then(|r| r.name.as_deref()).into(),
            5 => river.map(|r| round(r.distance_m, 1)).into(),
            // Coordinates to 1e-6° (about 0.1 m), as the distances are to 0.1 m.
            6 => river.map(|r| round(r.point[0], 6)).into(),
            7 => river.map(|r| round(r.point[1], 6)).into(),
            8 => border.map(|b| &*b.id).into(),
            9 => border
                .map(|b| {
                    let [l, r] = &b.countries;
                    format!("{}-{}", side(l), side(r))
                })
                .into(),
            10 => border
                .and_then(|b| b.neighbour_country.as_ref().map(Iso3::as_str))
                .into(),
            11 => a.border_distance_m().into(),
            12 => border.map(|b| round(b.point[0], 6)).into(),
            13 => border.map(|b| round(b.point[1], 6)).into(),
            14 => match a.downstream_status {
                DownstreamStatus::Ok => text("ok"),
                other => Field::Text(other.to_string().into()),
            },
            15 => d.map(|d| round(d.snap_distance_m, 1)).into(),
            // The river the path starts on: for a `regional` snap, a main river, not the nearest one.
            16 => d.map(|d| &*d.river_id).into(),
            17 => d.map(|d| d.drainage_confidence.as_str()).into(),
            18 => d.map(|d| d.countries_text()).into(),
            19 => first.and_then(|c| c.from.as_ref().map(Iso3::as_str)).into(),
            20 => first.and_then(|c| c.to.as_ref().map(Iso3::as_str)).into(),
            21 => first.map(|c| round(c.point[0], 6)).into(),
            22 => first.map(|c| round(c.point[1], 6)).into(),
            23 => d
                .and_then(|d| d.downstream_border_km)
                .map(|v| round(v, 3))
                .into(),
            24 => d
                .map(|d| {
                    d.water_bodies
                        .iter()
                        .map(|w| &**w)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .into(),
            25 => d.and_then(|d| d.terminal_water_body.as_deref()).into(),
            26 => r.released_volume_m3.map(|v| round(v, 0)).into(),
            27 => r.distance_km.map(|v| round(v, 3)).into(),
            28 => text(r.reaches_border.as_str()),
            29 => r.note.into(),
            _ => Field::Null,
        }
    }

    /// The fields as JSON properties.
    pub fn to_map(&self) -> Map<String, Value> {
        Self::NAMES
            .iter()
            .zip(self.values())
            .map(|(k, v)| ((*k).to_owned(), v.to_value()))
            .collect()
    }
}
