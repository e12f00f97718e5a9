//! Tailings runout screening: the volume a dam failure would release and how far it would run, from
//! the empirical regressions of Rico et al. (2008, J. Hazardous Materials 154:79–87), with the
//! coefficients read from a configuration file that carries their citation.
//!
//! A screening, not a simulation: the regressions were fitted on a few dozen historical failures and
//! scatter by an order of magnitude. Missing inputs give `unknown`, never 0.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The configuration shipped with the service (`config/runout.json`).
pub const DEFAULT_CONFIG: &str = include_str!("../../config/runout.json");

/// Why a runout configuration was refused.
#[derive(Debug, Error)]
pub enum RunoutConfigError {
    #[error("not a runout configuration: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("field `{0}` must be a finite, positive number")]
    Coefficient(&'static str),
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
struct Power {
    #[serde(default)]
    formula: String,
    #[serde(alias = "c")]
    a: f64,
    #[serde(alias = "d")]
    b: f64,
}

/// The regression coefficients and where they come from.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RunoutModel {
    pub model: String,
    pub citation: String,
    released_volume: Power,
    runout_distance: Power,
}

/// Whether a runout reaches the first border crossing downstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReachesBorder {
    /// The runout distance is at least the along-river distance to the first crossing.
    Yes,
    /// It is shorter, or no border lies downstream.
    No,
    /// An input is missing, or the site has no downstream path.
    Unknown,
}

impl ReachesBorder {
    /// `true`, `false` or `unknown`, as written in files and properties.
    pub fn as_str(self) -> &'static str {
        match self {
            ReachesBorder::Yes => "true",
            ReachesBorder::No => "false",
            ReachesBorder::Unknown => "unknown",
        }
    }
}

impl Serialize for ReachesBorder {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The screening result for one facility.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Runout {
    /// Released volume VF, cubic metres, when computable.
    pub released_volume_m3: Option<f64>,
    /// Runout distance Dmax, kilometres, when computable.
    pub distance_km: Option<f64>,
    /// Whether the runout reaches the first border downstream.
    pub reaches_border: ReachesBorder,
    /// What was missing, if anything.
    pub note: Option<&'static str>,
}

impl RunoutModel {
    /// Parses and checks a configuration.
    pub fn from_json(text: &str) -> Result<Self, RunoutConfigError> {
        let m: RunoutModel = serde_json::from_str(text)?;
        for (name, v) in [
            ("released_volume.a", m.released_volume.a),
            ("released_volume.b", m.released_volume.b),
            ("runout_distance.c", m.runout_distance.a),
            ("runout_distance.d", m.runout_distance.b),
        ] {
            if !v.is_finite() || v <= 0.0 {
                return Err(RunoutConfigError::Coefficient(name));
            }
        }
        Ok(m)
    }

    /// Screens a facility storing `volume_m3` behind a dam `dam_height_m` high, whose water first
    /// crosses a border `border_km` along the river (`Some(None)`: it never does; `None`: unknown).
    pub fn screen(
        &self,
        volume_m3: Option<f64>,
        dam_height_m: Option<f64>,
        border_km: Option<Option<f64>>,
    ) -> Runout {
        let (Some(vt), Some(h)) = (volume_m3, dam_height_m) else {
            return Runout {
                released_volume_m3: None,
                distance_km: None,
                reaches_border: ReachesBorder::Unknown,
                note: Some(match volume_m3 {
                    None if dam_height_m.is_none() => "missing volume_m3 and dam_height_m",
                    None => "missing volume_m3",
                    Some(_) => "missing dam_height_m",
                }),
            };
        };
        let vf_mm3 = self.released_volume.a * (vt / 1e6).powf(self.released_volume.b);
        let dmax_km = self.runout_distance.a * (h * vf_mm3).powf(self.runout_distance.b);
        let (reaches_border, note) = match border_km {
            Some(Some(km)) if dmax_km >= km => (ReachesBorder::Yes, None),
            Some(_) => (ReachesBorder::No, None),
            None => (ReachesBorder::Unknown, Some("no downstream path")),
        };
        Runout {
            released_volume_m3: Some(vf_mm3 * 1e6),
            distance_km: Some(dmax_km),
            reaches_border,
            note,
        }
    }
}

impl Default for RunoutModel {
    fn default() -> Self {
        // The shipped file is checked by a test; failing that, the published coefficients.
        RunoutModel::from_json(DEFAULT_CONFIG).unwrap_or(RunoutModel {
            model: "Rico et al. (2008)".into(),
            citation: "Rico et al. (2008), J. Hazardous Materials 154:79-87".into(),
            released_volume: Power {
                formula: String::new(),
                a: 0.354,
                b: 1.01,
            },
            runout_distance: Power {
                formula: String::new(),
                a: 1.61,
                b: 0.66,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_configuration_parses() {
        let m = RunoutModel::from_json(DEFAULT_CONFIG).unwrap();
        assert!(m.citation.contains("154"));
    }

    #[test]
    fn regressions_by_hand() {
        let m = RunoutModel::default();
        // VT = 2 Mm3, H = 20 m: VF = 0.354 * 2^1.01, Dmax = 1.61 * (20 * VF)^0.66.
        let vf = 0.354 * 2f64.powf(1.01);
        let dmax = 1.61 * (20.0 * vf).powf(0.66);
        let r = m.screen(Some(2e6), Some(20.0), Some(Some(dmax - 0.1)));
        assert!((r.released_volume_m3.unwrap() - vf * 1e6).abs() < 1e-6);
        assert!((r.distance_km.unwrap() - dmax).abs() < 1e-12);
        assert_eq!(r.reaches_border.as_str(), "true");
        assert_eq!(
            m.screen(Some(2e6), Some(20.0), Some(Some(dmax + 0.1)))
                .reaches_border
                .as_str(),
            "false"
        );
        assert_eq!(
            m.screen(Some(2e6), Some(20.0), Some(None))
                .reaches_border
                .as_str(),
            "false"
        );
        assert_eq!(
            m.screen(Some(2e6), Some(20.0), None)
                .reaches_border
                .as_str(),
            "unknown"
        );
    }

    #[test]
    fn missing_inputs_are_unknown_not_zero() {
        let r = RunoutModel::default().screen(Some(1e6), None, Some(Some(1.0)));
        assert_eq!(
            (r.reaches_border.as_str(), r.distance_km),
            ("unknown", None)
        );
        assert_eq!(r.note, Some("missing dam_height_m"));
        let m = RunoutModel::default();
        assert_eq!(
            m.screen(None, Some(20.0), None).note,
            Some("missing volume_m3")
        );
        assert_eq!(
            m.screen(None, None, None).note,
            Some("missing volume_m3 and dam_height_m")
        );
    }

    #[test]
    fn bad_configuration_is_refused() {
        let bad = DEFAULT_CONFIG.replace("0.354", "-1");
        let err = RunoutModel::from_json(&bad).unwrap_err().to_string();
        assert!(err.contains("released_volume.a"), "{err}");
        assert!(RunoutModel::from_json("{}").is_err());
    }
}
