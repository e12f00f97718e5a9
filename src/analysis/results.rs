//! What the analysis finds for a point, as typed values: the country it lies in, its nearest river and
//! border, where its water goes, and the runout screening. They stay typed up to the edge where they
//! are written out ([`super::fields`] for the flat fields of files and GeoJSON properties).

use std::fmt;

use serde::{Serialize, Serializer};

use super::{network, runout};
use crate::model::Iso3;

/// How a point's country was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CountryMatchKind {
    /// Inside the country's polygon.
    Inside,
    /// Outside every polygon, within [`super::COUNTRY_TOLERANCE_M`] of this one.
    Nearest,
    /// Outside every polygon and beyond the tolerance.
    None,
}

impl CountryMatchKind {
    /// `inside`, `nearest` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            CountryMatchKind::Inside => "inside",
            CountryMatchKind::Nearest => "nearest",
            CountryMatchKind::None => "none",
        }
    }
}

/// Whether the country a point lies in agrees with the one declared for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountryCheck {
    Matches,
    Differs,
    /// A country was found, but none was declared.
    NotDeclared,
    /// The point lies in no country polygon (within the tolerance): nothing to compare with.
    Unknown,
}

impl CountryCheck {
    /// Compares the located country with the declared one (as declared: a code, or not).
    pub fn of(located: Option<&Iso3>, declared: Option<&str>) -> Self {
        match (located, declared) {
            (None, _) => CountryCheck::Unknown,
            (Some(_), None) => CountryCheck::NotDeclared,
            (Some(l), Some(d)) if l.as_str() == d => CountryCheck::Matches,
            (Some(_), Some(_)) => CountryCheck::Differs,
        }
    }

    /// `matches`, `differs`, `not declared` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            CountryCheck::Matches => "matches",
            CountryCheck::Differs => "differs",
            CountryCheck::NotDeclared => "not declared",
            CountryCheck::Unknown => "unknown",
        }
    }
}

/// How surely the river a point was snapped to carries its water, by the snap distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DrainageConfidence {
    /// Within 2 km of the river.
    Direct,
    /// Within 15 km.
    Near,
    /// Farther: the receiving main river is assumed.
    Regional,
}

impl DrainageConfidence {
    /// The class of a snap `snap_m` metres long.
    pub fn of_snap_m(snap_m: f64) -> Self {
        if snap_m <= 2_000.0 {
            DrainageConfidence::Direct
        } else if snap_m <= super::REGIONAL_SNAP_M {
            DrainageConfidence::Near
        } else {
            DrainageConfidence::Regional
        }
    }

    /// `direct`, `near` or `regional`.
    pub fn as_str(self) -> &'static str {
        match self {
            DrainageConfidence::Direct => "direct",
            DrainageConfidence::Near => "near",
            DrainageConfidence::Regional => "regional",
        }
    }
}

/// Whether a point has a downstream result, and why not.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DownstreamStatus {
    Ok,
    /// The river layer is empty.
    NoRiverData,
    /// The nearest river is `nearest_m` away, beyond the snap limit `limit_m`.
    BeyondSnapLimit {
        limit_m: f64,
        nearest_m: f64,
    },
}

impl fmt::Display for DownstreamStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownstreamStatus::Ok => f.write_str("ok"),
            DownstreamStatus::NoRiverData => f.write_str("no river data"),
            DownstreamStatus::BeyondSnapLimit { limit_m, nearest_m } => write!(
                f,
                "no river within {:.0} km (nearest is {:.1} km away)",
                limit_m / 1000.0,
                nearest_m / 1000.0
            ),
        }
    }
}

impl Serialize for DownstreamStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The nearest river to a point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearestRiver {
    pub id: String,
    pub name: Option<String>,
    pub distance_m: f64,
    /// `[lon, lat]` of the nearest point on the river.
    pub point: [f64; 2],
}

/// The nearest international border to a point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearestBorder {
    pub id: String,
    /// The countries of the two sides (`iso3_left`, `iso3_right`), where the layer gives them.
    pub countries: [Option<Iso3>; 2],
    /// The side that is not the point's own country, when the point's country is one of the sides.
    pub neighbour_country: Option<Iso3>,
    pub distance_m: f64,
    /// `[lon, lat]` of the nearest point on the border.
    pub point: [f64; 2],
}

/// Everything known about a point's transboundary exposure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proximity {
    pub lon: f64,
    pub lat: f64,
    /// The country the point lies in (or within [`super::COUNTRY_TOLERANCE_M`] of).
    pub country: Option<Iso3>,
    pub country_match: CountryMatchKind,
    /// Distance to the country's polygon: 0 inside it.
    pub country_distance_m: Option<f64>,
    pub river: Option<NearestRiver>,
    pub border: Option<NearestBorder>,
    /// The path downstream, when the point snaps to the network.
    pub downstream: Option<Downstream>,
    /// `ok`, or why there is no downstream result.
    pub downstream_status: DownstreamStatus,
}

/// Where the water goes from a point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Downstream {
    /// The river line the point was snapped to.
    pub river_id: String,
    /// Where on the network the path starts.
    #[serde(skip)]
    pub start: network::NetPosition,
    pub snap_distance_m: f64,
    pub drainage_confidence: DrainageConfidence,
    /// The countries the water passes through, in order; `None` (written `unknown`) where a crossing
    /// cannot be oriented.
    #[serde(serialize_with = "countries_or_unknown")]
    pub countries: Vec<Option<Iso3>>,
    pub crossings: Vec<network::Crossing>,
    /// Along-river distance to the first crossing, kilometres.
    pub downstream_border_km: Option<f64>,
    pub water_bodies: Vec<network::WaterPass>,
    pub terminal_water_body: Option<String>,
    pub end: network::WalkEnd,
    pub length_km: f64,
}

/// How a country the water passes through is written: its code, or `unknown`.
pub const UNKNOWN_COUNTRY: &str = "unknown";

fn countries_or_unknown<S: Serializer>(v: &[Option<Iso3>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(
        v.iter()
            .map(|c| c.as_ref().map_or(UNKNOWN_COUNTRY, Iso3::as_str)),
    )
}

impl Downstream {
    /// The countries in order, comma-separated (`KGZ,UZB,unknown`).
    pub fn countries_text(&self) -> String {
        let names: Vec<&str> = self
            .countries
            .iter()
            .map(|c| c.as_ref().map_or(UNKNOWN_COUNTRY, Iso3::as_str))
            .collect();
        names.join(",")
    }
}

/// A point's exposure and runout screening.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub proximity: Proximity,
    pub runout: runout::Runout,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_as_before() {
        assert_eq!(DownstreamStatus::Ok.to_string(), "ok");
        let far = DownstreamStatus::BeyondSnapLimit {
            limit_m: 1_000.0,
            nearest_m: 2_345.0,
        };
        assert_eq!(
            far.to_string(),
            "no river within 1 km (nearest is 2.3 km away)"
        );
        assert_eq!(serde_json::to_value(far).unwrap(), far.to_string());
        assert_eq!(DrainageConfidence::of_snap_m(2_000.0).as_str(), "direct");
        assert_eq!(DrainageConfidence::of_snap_m(2_000.1).as_str(), "near");
        assert_eq!(DrainageConfidence::of_snap_m(15_000.1).as_str(), "regional");
        assert_eq!(
            serde_json::to_value(DrainageConfidence::Regional).unwrap(),
            "regional"
        );
        assert_eq!(
            serde_json::to_value(CountryMatchKind::None).unwrap(),
            "none"
        );
        let kgz = Iso3::parse("KGZ", "country").unwrap();
        let uzb = Iso3::parse("UZB", "country").unwrap();
        assert_eq!(
            CountryCheck::of(Some(&kgz), Some("KGZ")),
            CountryCheck::Matches
        );
        assert_eq!(
            CountryCheck::of(Some(&kgz), Some(uzb.as_str())),
            CountryCheck::Differs
        );
        // A declared country that is no code at all differs from every located one.
        assert_eq!(
            CountryCheck::of(Some(&kgz), Some("Kyrgyzstan")),
            CountryCheck::Differs
        );
        assert_eq!(CountryCheck::of(Some(&kgz), None).as_str(), "not declared");
        assert_eq!(CountryCheck::of(None, Some("KGZ")), CountryCheck::Unknown);
    }
}
