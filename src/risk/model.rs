//! The risk model's configuration (`config/risk-model.toml`), read and checked once, and the score of
//! one site: seven factors whose points add up to `risk_score` (see the file for what each means).

use serde::Deserialize;
use std::collections::BTreeMap;

use super::RiskError;
use crate::model::{Shared, SiteKind, SiteStatus};

/// The toxicity classes, most hazardous first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Toxicity {
    Radioactive,
    Cyanide,
    HeavyMetals,
    Acids,
    Oil,
    OtherChemicals,
}

impl Toxicity {
    /// Every class, most hazardous first.
    pub const ALL: [Toxicity; 6] = [
        Toxicity::Radioactive,
        Toxicity::Cyanide,
        Toxicity::HeavyMetals,
        Toxicity::Acids,
        Toxicity::Oil,
        Toxicity::OtherChemicals,
    ];

    /// The class's name, as in the configuration and the `toxicity_class` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Toxicity::Radioactive => "radioactive",
            Toxicity::Cyanide => "cyanide",
            Toxicity::HeavyMetals => "heavy_metals",
            Toxicity::Acids => "acids",
            Toxicity::Oil => "oil",
            Toxicity::OtherChemicals => "other_chemicals",
        }
    }
}

/// The risk classes, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RiskClass {
    Low,
    Medium,
    High,
    VeryHigh,
}

impl RiskClass {
    /// Every class, lowest first.
    pub const ALL: [RiskClass; 4] = [
        RiskClass::Low,
        RiskClass::Medium,
        RiskClass::High,
        RiskClass::VeryHigh,
    ];

    /// `low`, `medium`, `high` or `very_high`.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskClass::Low => "low",
            RiskClass::Medium => "medium",
            RiskClass::High => "high",
            RiskClass::VeryHigh => "very_high",
        }
    }

    /// The class named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// `risk_class` thresholds: the lower bound of each class above `low`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classes {
    pub medium: f64,
    pub high: f64,
    pub very_high: f64,
}

/// What the facility is.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindConfig {
    pub max: f64,
    pub tailings: f64,
    pub hazardous_site: f64,
    pub processing_bonus: f64,
    pub processing_keywords: Vec<String>,
}

/// Toxicity classes and their keywords.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToxicityConfig {
    pub max: f64,
    pub default: Toxicity,
    pub order: Vec<Toxicity>,
    pub points: BTreeMap<Toxicity, f64>,
    pub keywords: BTreeMap<Toxicity, Vec<String>>,
}

/// The quantity's log scale.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantityConfig {
    pub max: f64,
    pub zero_m3: f64,
    pub full_m3: f64,
    pub density_t_per_m3: f64,
    pub default_m3: f64,
}

/// Points by status.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    pub max: f64,
    pub legacy: f64,
    pub inactive: f64,
    pub active: f64,
    pub remediated: f64,
    pub default: SiteStatus,
}

/// The hazard factors.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HazardConfig {
    pub kind: KindConfig,
    pub toxicity: ToxicityConfig,
    pub quantity: QuantityConfig,
    pub status: StatusConfig,
}

/// How surely the water reaches the network.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiverConfig {
    pub max: f64,
    pub half_distance_km: f64,
    pub direct: f64,
    pub near: f64,
    pub regional: f64,
}

/// How far the first border is.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BorderConfig {
    pub max: f64,
    pub half_distance_km: f64,
    pub straight_line_weight: f64,
}

/// Whether the runout reaches the border.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunoutConfig {
    pub max: f64,
    pub reaches: f64,
    pub falls_short: f64,
    pub unknown: f64,
}

/// The exposure factors.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExposureConfig {
    pub river: RiverConfig,
    pub border: BorderConfig,
    pub runout: RunoutConfig,
}

/// The downstream load's decay.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    pub half_distance_km: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RiskConfig {
    classes: Classes,
    hazard: HazardConfig,
    exposure: ExposureConfig,
    load: LoadConfig,
}

/// The checked risk model.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskModel {
    pub classes: Classes,
    pub hazard: HazardConfig,
    pub exposure: ExposureConfig,
    pub load: LoadConfig,
    /// (class, lower-cased keyword), in the order they are tried.
    keywords: Vec<(Toxicity, Shared)>,
    processing: Vec<String>,
}

/// The configuration shipped in `config/risk-model.toml`, built into the binary.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/risk-model.toml");

fn check(ok: bool, what: &str, why: &str) -> Result<(), RiskError> {
    if ok {
        Ok(())
    } else {
        Err(RiskError::Config(format!("{what}: {why}")))
    }
}

fn positive(v: f64, what: &str) -> Result<(), RiskError> {
    check(v.is_finite() && v > 0.0, what, "must be a number above 0")
}

fn points_within(v: f64, max: f64, what: &str) -> Result<(), RiskError> {
    check(
        v.is_finite() && (0.0..=max).contains(&v),
        what,
        &format!("must be between 0 and the factor's max ({max})"),
    )
}

impl Default for RiskModel {
    fn default() -> Self {
        Self::default_model()
    }
}

impl RiskModel {
    /// The shipped model.
    pub fn default_model() -> Self {
        Self::from_toml(DEFAULT_CONFIG).expect("the shipped risk model is valid")
    }

    /// Parses and checks a configuration: every factor's points within its `max`, the maxima adding up
    /// to 100, classes ascending, every toxicity class with points and keywords.
    pub fn from_toml(text: &str) -> Result<Self, RiskError> {
        let c: RiskConfig = toml::from_str(text).map_err(|e| RiskError::Config(e.to_string()))?;
        let (h, x) = (&c.hazard, &c.exposure);
        let k = &h.kind;
        positive(k.max, "hazard.kind.max")?;
        points_within(k.tailings, k.max, "hazard.kind.tailings")?;
        points_within(k.hazardous_site, k.max, "hazard.kind.hazardous_site")?;
        points_within(k.processing_bonus, k.max, "hazard.kind.processing_bonus")?;
        let t = &h.toxicity;
        positive(t.max, "hazard.toxicity.max")?;
        for class in Toxicity::ALL {
            let name = class.as_str();
            let p = t.points.get(&class).copied().ok_or_else(|| {
                RiskError::Config(format!("hazard.toxicity.points: {name} is missing"))
            })?;
            points_within(p, t.max, &format!("hazard.toxicity.points.{name}"))?;
            check(
                t.order.contains(&class),
                "hazard.toxicity.order",
                &format!("{name} is missing"),
            )?;
        }
        check(
            t.order.len() == Toxicity::ALL.len(),
            "hazard.toxicity.order",
            "must list each class once",
        )?;
        let q = &h.quantity;
        positive(q.max, "hazard.quantity.max")?;
        positive(q.zero_m3, "hazard.quantity.zero_m3")?;
        check(
            q.full_m3.is_finite() && q.full_m3 > q.zero_m3,
            "hazard.quantity.full_m3",
            "must be above zero_m3",
        )?;
        positive(q.density_t_per_m3, "hazard.quantity.density_t_per_m3")?;
        positive(q.default_m3, "hazard.quantity.default_m3")?;
        let s = &h.status;
        positive(s.max, "hazard.status.max")?;
        for (v, n) in [
            (s.legacy, "legacy"),
            (s.inactive, "inactive"),
            (s.active, "active"),
            (s.remediated, "remediated"),
        ] {
            points_within(v, s.max, &format!("hazard.status.{n}"))?;
        }
        check(
            s.default != SiteStatus::Unknown,
            "hazard.status.default",
            "must be a known status",
        )?;
        let r = &x.river;
        positive(r.max, "exposure.river.max")?;
        positive(r.half_distance_km, "exposure.river.half_distance_km")?;
        for (v, n) in [
            (r.direct, "direct"),
            (r.near, "near"),
            (r.regional, "regional"),
        ] {
            points_within(v, 1.0, &format!("exposure.river.{n} (a weight)"))?;
        }
        let b = &x.border;
        positive(b.max, "exposure.border.max")?;
        positive(b.half_distance_km, "exposure.border.half_distance_km")?;
        points_within(
            b.straight_line_weight,
            1.0,
            "exposure.border.straight_line_weight (a weight)",
        )?;
        let o = &x.runout;
        positive(o.max, "exposure.runout.max")?;
        for (v, n) in [
            (o.reaches, "reaches"),
            (o.falls_short, "falls_short"),
            (o.unknown, "unknown"),
        ] {
            points_within(v, o.max, &format!("exposure.runout.{n}"))?;
        }
        let total = k.max + t.max + q.max + s.max + r.max + b.max + o.max;
        check(
            (total - 100.0).abs() < 1e-9,
            "the factors' max",
            &format!("must add up to 100 (they add up to {total})"),
        )?;
        let cl = &c.classes;
        check(
            0.0 < cl.medium
                && cl.medium < cl.high
                && cl.high < cl.very_high
                && cl.very_high <= 100.0,
            "classes",
            "need 0 < medium < high < very_high <= 100",
        )?;
        positive(c.load.half_distance_km, "load.half_distance_km")?;
        let mut keywords = Vec::new();
        for class in &t.order {
            let list = t.keywords.get(class).map(Vec::as_slice).unwrap_or(&[]);
            check(
                !list.is_empty(),
                &format!("hazard.toxicity.keywords.{}", class.as_str()),
                "needs at least one keyword",
            )?;
            for w in list {
                let w = w.trim().to_lowercase();
                check(
                    !w.is_empty(),
                    &format!("hazard.toxicity.keywords.{}", class.as_str()),
                    "has an empty keyword",
                )?;
                keywords.push((*class, Shared::from(w)));
            }
        }
        let processing = k
            .processing_keywords
            .iter()
            .map(|w| w.trim().to_lowercase())
            .filter(|w| !w.is_empty())
            .collect();
        Ok(RiskModel {
            classes: c.classes,
            hazard: c.hazard,
            exposure: c.exposure,
            load: c.load,
            keywords,
            processing,
        })
    }

    /// The class of a score.
    pub fn class_of(&self, score: f64) -> RiskClass {
        let c = &self.classes;
        if score >= c.very_high {
            RiskClass::VeryHigh
        } else if score >= c.high {
            RiskClass::High
        } else if score >= c.medium {
            RiskClass::Medium
        } else {
            RiskClass::Low
        }
    }

    /// The toxicity class of a site's texts and the keyword that decided it; `None` if none matched.
    pub fn toxicity_of<'a>(
        &self,
        texts: impl Iterator<Item = &'a str> + Clone,
    ) -> Option<(Toxicity, Shared)> {
        let lowered: Vec<String> = texts.map(str::to_lowercase).collect();
        self.keywords
            .iter()
            .find(|(_, w)| lowered.iter().any(|t| starts_a_word(t, w)))
            .map(|(c, w)| (*c, w.clone()))
    }

    /// Points for what the facility is, and whether its activity says it processes.
    pub fn kind_points(&self, kind: SiteKind, activity: &str) -> (f64, bool) {
        let k = &self.hazard.kind;
        let base = match kind {
            SiteKind::Tailings => k.tailings,
            SiteKind::HazardousSite => k.hazardous_site,
        };
        let lowered = activity.to_lowercase();
        let processing = self.processing.iter().any(|w| starts_a_word(&lowered, w));
        let bonus = if processing { k.processing_bonus } else { 0.0 };
        ((base + bonus).min(k.max), processing)
    }

    /// Points for a quantity of `m3` cubic metres on the log scale.
    pub fn quantity_points(&self, m3: f64) -> f64 {
        let q = &self.hazard.quantity;
        let t = (m3.max(f64::MIN_POSITIVE).log10() - q.zero_m3.log10())
            / (q.full_m3.log10() - q.zero_m3.log10());
        q.max * t.clamp(0.0, 1.0)
    }

    /// Points for a (known) status.
    pub fn status_points(&self, status: SiteStatus) -> f64 {
        let s = &self.hazard.status;
        match status {
            SiteStatus::Legacy => s.legacy,
            SiteStatus::Inactive => s.inactive,
            SiteStatus::Active => s.active,
            SiteStatus::Remediated => s.remediated,
            SiteStatus::Unknown => self.status_points(s.default),
        }
    }

    /// The decay of a load `km` kilometres downstream: 1/2 every `load.half_distance_km`.
    pub fn load_decay(&self, km: f64) -> f64 {
        0.5f64.powf(km.max(0.0) / self.load.half_distance_km)
    }
}

/// Whether `word` (lower case) begins `text` or a word of it (after a character that is not a letter
/// or digit): `lead` matches `lead-zinc` and `Pb, lead`, not `misleading` or `leach`.
fn starts_a_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_is_valid_and_adds_up_to_100() {
        let m = RiskModel::default_model();
        assert_eq!(m.class_of(0.0), RiskClass::Low);
        assert_eq!(m.class_of(m.classes.medium), RiskClass::Medium);
        assert_eq!(m.class_of(100.0), RiskClass::VeryHigh);
    }

    #[test]
    fn keywords_match_at_word_starts_in_class_order() {
        let m = RiskModel::default_model();
        let tox = |t: &str| {
            m.toxicity_of([t].into_iter())
                .map(|(c, w)| (c, w.to_string()))
        };
        assert_eq!(
            tox("lead-zinc-barite mining"),
            Some((Toxicity::HeavyMetals, "lead".into()))
        );
        // `leach` is not `lead`; the acid of an acid leach is.
        assert_eq!(tox("acid leach").map(|x| x.0), Some(Toxicity::Acids));
        assert_eq!(
            tox("uranium ISL mining (acid leach)").map(|x| x.0),
            Some(Toxicity::Radioactive)
        );
        assert_eq!(
            tox("Th-230; Ra-226").map(|x| x.0),
            Some(Toxicity::Radioactive)
        );
        assert_eq!(
            tox("gold mining (CIL, cyanide)").map(|x| x.0),
            Some(Toxicity::Cyanide)
        );
        assert_eq!(tox("oil refining").map(|x| x.0), Some(Toxicity::Oil));
        assert_eq!(
            tox("Урановый рудник").map(|x| x.0),
            Some(Toxicity::Radioactive)
        );
        assert_eq!(tox("misleading"), None);
        assert_eq!(tox("hydropower dam"), None);
    }

    #[test]
    fn quantity_points_rise_with_the_log_of_the_volume() {
        let m = RiskModel::default_model();
        let q = &m.hazard.quantity;
        assert_eq!(m.quantity_points(q.zero_m3 / 10.0), 0.0);
        assert_eq!(m.quantity_points(q.full_m3 * 10.0), q.max);
        let mid = (q.zero_m3 * q.full_m3).sqrt();
        assert!((m.quantity_points(mid) - q.max / 2.0).abs() < 1e-9);
        let mut last = -1.0;
        for e in 0..200 {
            let v = m.quantity_points(10f64.powf(2.0 + e as f64 * 0.04));
            assert!(v >= last);
            last = v;
        }
    }

    #[test]
    fn bad_configurations_name_the_field() {
        let bad = |from: &str, to: &str| {
            let text = DEFAULT_CONFIG.replacen(from, to, 1);
            assert_ne!(text, DEFAULT_CONFIG, "{from} not in the file");
            RiskModel::from_toml(&text).unwrap_err().to_string()
        };
        assert!(bad("very_high = 65.0", "very_high = 20.0").contains("classes"));
        assert!(bad("tailings = 10.0", "tailings = 11.0").contains("hazard.kind.tailings"));
        assert!(bad("max = 20.0\ndefault", "max = 25.0\ndefault").contains("add up to 100"));
        assert!(bad("oil = 9.0", "").contains("oil is missing"));
        assert!(
            bad("half_distance_km = 100.0\n", "half_distance_km = -1.0\n")
                .contains("half_distance_km")
        );
        assert!(bad("[load]", "[load]\nextra = 1").contains("extra"));
    }
}
