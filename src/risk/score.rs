//! One site's risk: the points of each factor (to 0.1, kept as integer tenths so they add up to the
//! score exactly), its class, and what each factor was computed from.

use serde::Serialize;
use serde_json::{Map, Value};

use super::model::{RiskClass, RiskModel, Toxicity};
use crate::analysis::{AnalysisRecord, DrainageConfidence, runout::ReachesBorder};
use crate::model::{Shared, Site, SiteStatus};

/// The factors, in the order of `risk_factors`.
pub const FACTORS: [&str; 7] = [
    "kind", "toxicity", "quantity", "status", "river", "border", "runout",
];
/// How many of [`FACTORS`] (the first ones) make up the hazard.
pub const HAZARD_FACTORS: usize = 4;

/// Where the quantity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityBasis {
    Volume,
    Tonnage,
    Assumed,
}

/// What the border factor was measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BorderBasis {
    /// Along the river to the first crossing.
    AlongRiver,
    /// The path never leaves the country.
    NoCrossing,
    /// No downstream path: the straight-line distance to the nearest border.
    StraightLine,
    /// Nothing to measure (no border layer).
    None,
}

/// A site's risk, as published.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRisk {
    /// Points of each of [`FACTORS`], in tenths.
    pub tenths: [u16; 7],
    /// Bit `i` set: factor `i`'s value was assumed.
    pub assumed: u8,
    pub class: RiskClass,
    pub toxicity: Toxicity,
    /// The keyword that decided the toxicity class, if one did.
    pub matched: Option<Shared>,
    /// The quantity scored, cubic metres.
    pub quantity_m3: f64,
    pub quantity_basis: QuantityBasis,
    pub border_basis: BorderBasis,
}

fn tenths(points: f64) -> u16 {
    (points * 10.0).round().clamp(0.0, 1000.0) as u16
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

impl SiteRisk {
    /// Scores `site` from its attributes and its analysis.
    pub fn of(model: &RiskModel, site: &Site, analysis: &AnalysisRecord) -> Self {
        let mut assumed = 0u8;
        let (kind, _) = model.kind_points(site.kind, &site.activity);
        let texts = site
            .substances
            .iter()
            .map(String::as_str)
            .chain([site.activity.as_str()]);
        let (toxicity, matched) = match model.toxicity_of(texts) {
            Some((t, w)) => (t, Some(w)),
            None => {
                assumed |= 1 << 1;
                (model.hazard.toxicity.default, None)
            }
        };
        let tox = model.hazard.toxicity.points[&toxicity];
        let q = &site.quantities;
        let (quantity_m3, quantity_basis) = match (q.volume_m3, q.tonnage_t) {
            (Some(v), _) => (v, QuantityBasis::Volume),
            (None, Some(t)) => (
                t / model.hazard.quantity.density_t_per_m3,
                QuantityBasis::Tonnage,
            ),
            (None, None) => {
                assumed |= 1 << 2;
                (model.hazard.quantity.default_m3, QuantityBasis::Assumed)
            }
        };
        let quantity = model.quantity_points(quantity_m3);
        if site.status == SiteStatus::Unknown {
            assumed |= 1 << 3;
        }
        let status = model.status_points(site.status);

        let x = &model.exposure;
        let d = analysis.downstream.as_deref();
        let river = match (analysis.river.as_ref(), d) {
            (Some(r), Some(d)) => {
                let w = match d.drainage_confidence {
                    DrainageConfidence::Direct => x.river.direct,
                    DrainageConfidence::Near => x.river.near,
                    DrainageConfidence::Regional => x.river.regional,
                };
                x.river.max * w * 0.5f64.powf(r.distance_m / 1000.0 / x.river.half_distance_km)
            }
            // Beyond the snap limit, or no rivers: the water reaches no mapped river.
            _ => 0.0,
        };
        let half = x.border.half_distance_km;
        let (border, border_basis) = match (d, analysis.border.as_ref()) {
            (Some(d), _) => match d.downstream_border_km {
                Some(km) => (
                    x.border.max * 0.5f64.powf(km / half),
                    BorderBasis::AlongRiver,
                ),
                None => (0.0, BorderBasis::NoCrossing),
            },
            (None, Some(b)) => (
                x.border.max
                    * x.border.straight_line_weight
                    * 0.5f64.powf(b.distance_m / 1000.0 / half),
                BorderBasis::StraightLine,
            ),
            (None, None) => (0.0, BorderBasis::None),
        };
        let runout = match analysis.runout.reaches_border {
            ReachesBorder::Yes => x.runout.reaches,
            ReachesBorder::No => x.runout.falls_short,
            ReachesBorder::Unknown => {
                assumed |= 1 << 6;
                x.runout.unknown
            }
        };
        let tenths = [kind, tox, quantity, status, river, border, runout].map(tenths);
        let score = f64::from(tenths.iter().map(|&t| u32::from(t)).sum::<u32>()) / 10.0;
        SiteRisk {
            tenths,
            assumed,
            class: model.class_of(score),
            toxicity,
            matched,
            quantity_m3,
            quantity_basis,
            border_basis,
        }
    }

    /// Points of factor `i` of [`FACTORS`].
    pub fn points(&self, i: usize) -> f64 {
        f64::from(self.tenths[i]) / 10.0
    }

    /// `risk_score`: the factors' points added up, 0 to 100.
    pub fn score(&self) -> f64 {
        f64::from(self.tenths.iter().map(|&t| u32::from(t)).sum::<u32>()) / 10.0
    }

    /// `hazard_score`: the points of the hazard factors, 0 to 55 in the shipped model.
    pub fn hazard(&self) -> f64 {
        f64::from(
            self.tenths[..HAZARD_FACTORS]
                .iter()
                .map(|&t| u32::from(t))
                .sum::<u32>(),
        ) / 10.0
    }

    /// Whether factor `i` was computed from an assumed value.
    pub fn is_assumed(&self, i: usize) -> bool {
        self.assumed & (1 << i) != 0
    }

    /// `risk_factors`: for each factor, its points, the value it was computed from and whether that
    /// value was assumed.
    pub fn factors(&self, site: &Site, analysis: &AnalysisRecord) -> Map<String, Value> {
        match serde_json::to_value(self.factor_view(site, analysis)) {
            Ok(Value::Object(m)) => m,
            // Plain data always serialises; never a broken record.
            _ => Map::new(),
        }
    }

    /// `risk_factors` as typed data, written without building a map (the GeoJSON writers);
    /// [`SiteRisk::factors`] is the same as a map.
    pub fn factor_view<'a>(&'a self, site: &'a Site, analysis: &'a AnalysisRecord) -> Factors<'a> {
        let d = analysis.downstream.as_deref();
        let km = |m: f64| round1(m / 1000.0);
        let factor = |i: usize| (self.points(i), self.is_assumed(i));
        Factors {
            kind: Factor::new(
                factor(0),
                KindFrom {
                    value: site.kind.as_str(),
                    activity: &site.activity,
                },
            ),
            toxicity: Factor::new(
                factor(1),
                ToxicityFrom {
                    value: self.toxicity.as_str(),
                    matched: self.matched.as_deref(),
                },
            ),
            quantity: Factor::new(
                factor(2),
                QuantityFrom {
                    value: self.quantity_m3.round(),
                    unit: "m3",
                    from: match self.quantity_basis {
                        QuantityBasis::Volume => "volume_m3",
                        QuantityBasis::Tonnage => "tonnage_t",
                        QuantityBasis::Assumed => "default",
                    },
                },
            ),
            status: Factor::new(
                factor(3),
                ValueFrom {
                    value: site.status.as_str(),
                },
            ),
            river: Factor::new(
                factor(4),
                RiverFrom {
                    value: analysis.river.as_ref().map(|r| km(r.distance_m)),
                    unit: "km",
                    drainage_confidence: d.map(|d| d.drainage_confidence.as_str()),
                },
            ),
            border: Factor::new(
                factor(5),
                BorderFrom {
                    value: match self.border_basis {
                        BorderBasis::AlongRiver => {
                            d.and_then(|d| d.downstream_border_km).map(round1)
                        }
                        BorderBasis::StraightLine => {
                            analysis.border.as_ref().map(|b| km(b.distance_m))
                        }
                        BorderBasis::NoCrossing | BorderBasis::None => None,
                    },
                    unit: "km",
                    basis: match self.border_basis {
                        BorderBasis::AlongRiver => "along_river",
                        BorderBasis::NoCrossing => "no_crossing_downstream",
                        BorderBasis::StraightLine => "straight_line",
                        BorderBasis::None => "no_border_data",
                    },
                },
            ),
            runout: Factor::new(
                factor(6),
                ValueFrom {
                    value: analysis.runout.reaches_border.as_str(),
                },
            ),
        }
    }
}

/// `risk_factors` as written: each of [`FACTORS`], in that order (the field names are its names).
#[derive(Debug, Serialize)]
pub struct Factors<'a> {
    kind: Factor<KindFrom<'a>>,
    toxicity: Factor<ToxicityFrom<'a>>,
    quantity: Factor<QuantityFrom>,
    status: Factor<ValueFrom<'a>>,
    river: Factor<RiverFrom>,
    border: Factor<BorderFrom>,
    runout: Factor<ValueFrom<'a>>,
}

/// One factor: its points, what it was computed from (`E`'s fields), whether that was assumed.
#[derive(Debug, Serialize)]
struct Factor<E> {
    points: f64,
    #[serde(flatten)]
    from: E,
    assumed: bool,
}

impl<E> Factor<E> {
    fn new((points, assumed): (f64, bool), from: E) -> Self {
        Factor {
            points,
            from,
            assumed,
        }
    }
}

#[derive(Debug, Serialize)]
struct KindFrom<'a> {
    value: &'a str,
    activity: &'a str,
}

#[derive(Debug, Serialize)]
struct ToxicityFrom<'a> {
    value: &'a str,
    matched: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct QuantityFrom {
    value: f64,
    unit: &'static str,
    from: &'static str,
}

#[derive(Debug, Serialize)]
struct ValueFrom<'a> {
    value: &'a str,
}

#[derive(Debug, Serialize)]
struct RiverFrom {
    value: Option<f64>,
    unit: &'static str,
    drainage_confidence: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct BorderFrom {
    value: Option<f64>,
    unit: &'static str,
    basis: &'static str,
}

/// One risk field's value, borrowed: what the writers write.
// The five values of a site are made on the stack and written at once; boxing the factors would
// cost an allocation per feature written.
#[allow(clippy::large_enum_variant)]
pub enum RiskValue<'a> {
    Number(f64),
    Text(&'static str),
    Factors(Factors<'a>),
}

impl SiteRisk {
    /// The risk fields' values, in [`crate::schema::RISK_FIELDS`] order.
    pub fn values(&self, site: &Site, analysis: &AnalysisRecord) -> [Value; 5] {
        self.typed_values(site, analysis).map(|v| match v {
            RiskValue::Number(n) => Value::from(n),
            RiskValue::Text(t) => Value::from(t),
            RiskValue::Factors(f) => serde_json::to_value(f).unwrap_or_else(|_| Map::new().into()),
        })
    }

    /// The risk fields' values as typed data, in [`crate::schema::RISK_FIELDS`] order.
    pub fn typed_values<'a>(
        &'a self,
        site: &'a Site,
        analysis: &'a AnalysisRecord,
    ) -> [RiskValue<'a>; 5] {
        [
            RiskValue::Number(self.hazard()),
            RiskValue::Number(self.score()),
            RiskValue::Text(self.class.as_str()),
            RiskValue::Text(self.toxicity.as_str()),
            RiskValue::Factors(self.factor_view(site, analysis)),
        ]
    }
}
