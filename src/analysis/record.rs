//! What a published site keeps of its analysis: the typed results its flat fields are written from,
//! and nothing more. Reference ids and names are [`Shared`], so a million sites draining to the Syr
//! Darya point at one copy of its id; countries are inline [`Iso3`] codes.
//!
//! [`SiteFields`](super::SiteFields) writes the same fields from a record whether it was made for
//! `analyze` or for the catalog, so both print the same values.

use super::network::NetPosition;
use super::runout::Runout;
use super::{
    Assessment, CountryMatchKind, Downstream, DownstreamStatus, DrainageConfidence, NearestBorder,
    NearestRiver,
};
use crate::model::{Interner, Iso3, Shared};

/// A point's analysis, as published.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisRecord {
    /// The country the point lies in (or within the tolerance of).
    pub country: Option<Iso3>,
    pub country_match: CountryMatchKind,
    pub river: Option<RiverHit>,
    pub border: Option<BorderHit>,
    pub downstream_status: DownstreamStatus,
    /// Boxed: most of the size, and absent for points off the network.
    pub downstream: Option<Box<DownstreamRecord>>,
    pub runout: Runout,
}

/// The nearest river line.
#[derive(Debug, Clone, PartialEq)]
pub struct RiverHit {
    pub id: Shared,
    pub name: Option<Shared>,
    pub distance_m: f64,
    /// `[lon, lat]` of the nearest point on the river.
    pub point: [f64; 2],
}

/// The nearest international border line.
#[derive(Debug, Clone, PartialEq)]
pub struct BorderHit {
    pub id: Shared,
    /// The two sides' countries, where the layer gives them.
    pub countries: [Option<Iso3>; 2],
    /// The side that is not the point's own country, when the point's country is one of the sides.
    pub neighbour_country: Option<Iso3>,
    pub distance_m: f64,
    /// `[lon, lat]` of the nearest point on the border.
    pub point: [f64; 2],
}

/// Where the water goes: what the published fields say of the downstream path.
#[derive(Debug, Clone, PartialEq)]
pub struct DownstreamRecord {
    /// The river line the path starts on.
    pub river_id: Shared,
    /// Where on the network it starts.
    pub start: NetPosition,
    pub snap_distance_m: f64,
    pub drainage_confidence: DrainageConfidence,
    /// The countries the water passes through, in order; `None` where a crossing has no orientation.
    pub countries: Box<[Option<Iso3>]>,
    pub first_crossing: Option<FirstCrossing>,
    /// Along-river distance to the first crossing, kilometres.
    pub downstream_border_km: Option<f64>,
    /// The water bodies passed, by name (or id where unnamed), in order.
    pub water_bodies: Box<[Shared]>,
    pub terminal_water_body: Option<Shared>,
}

/// The first border crossing downstream.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstCrossing {
    pub from: Option<Iso3>,
    pub to: Option<Iso3>,
    pub point: [f64; 2],
}

impl AnalysisRecord {
    /// The record of `a`, its texts shared through `interner`.
    pub fn of(a: &Assessment, interner: &Interner) -> Self {
        let p = &a.proximity;
        AnalysisRecord {
            country: p.country.clone(),
            country_match: p.country_match,
            river: p.river.as_ref().map(|r| RiverHit::of(r, interner)),
            border: p.border.as_ref().map(|b| BorderHit::of(b, interner)),
            downstream_status: p.downstream_status,
            downstream: p
                .downstream
                .as_ref()
                .map(|d| Box::new(DownstreamRecord::of(d, interner))),
            runout: a.runout.clone(),
        }
    }

    /// The along-river distance to the first border crossing, kilometres.
    pub fn downstream_border_km(&self) -> Option<f64> {
        self.downstream
            .as_ref()
            .and_then(|d| d.downstream_border_km)
    }
}

impl RiverHit {
    fn of(r: &NearestRiver, interner: &Interner) -> Self {
        RiverHit {
            id: interner.intern(&r.id),
            name: r.name.as_deref().map(|n| interner.intern(n)),
            distance_m: r.distance_m,
            point: r.point,
        }
    }
}

impl BorderHit {
    fn of(b: &NearestBorder, interner: &Interner) -> Self {
        BorderHit {
            id: interner.intern(&b.id),
            countries: b.countries.clone(),
            neighbour_country: b.neighbour_country.clone(),
            distance_m: b.distance_m,
            point: b.point,
        }
    }
}

impl DownstreamRecord {
    fn of(d: &Downstream, interner: &Interner) -> Self {
        DownstreamRecord {
            river_id: interner.intern(&d.river_id),
            start: d.start,
            snap_distance_m: d.snap_distance_m,
            drainage_confidence: d.drainage_confidence,
            countries: d.countries.clone().into_boxed_slice(),
            first_crossing: d.crossings.first().map(|c| FirstCrossing {
                from: c.from.clone(),
                to: c.to.clone(),
                point: c.point,
            }),
            downstream_border_km: d.downstream_border_km,
            water_bodies: d
                .water_bodies
                .iter()
                .map(|w| interner.intern(w.name.as_deref().unwrap_or(&w.id)))
                .collect(),
            terminal_water_body: d.terminal_water_body.as_deref().map(|t| interner.intern(t)),
        }
    }

    /// The countries in order, comma-separated (`KGZ,UZB,unknown`).
    pub fn countries_text(&self) -> String {
        let names: Vec<&str> = self
            .countries
            .iter()
            .map(|c| c.as_ref().map_or(super::UNKNOWN_COUNTRY, Iso3::as_str))
            .collect();
        names.join(",")
    }
}
