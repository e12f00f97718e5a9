//! Risk: an explainable score per site ([`score::SiteRisk`], configured by [`model::RiskModel`] from
//! `config/risk-model.toml`) and the basin risk layers computed from the scores and the river
//! network ([`layers`], [`hexagons`]). No HTTP, GDAL or SQL here.

pub mod hexagons;
pub mod layers;
pub mod model;
pub mod score;
#[cfg(test)]
mod tests;

use rayon::prelude::*;
use thiserror::Error;

use crate::analysis::Analyzer;
use crate::reference::{Attribution, LayerSpec, RefLayer};
pub use layers::RiskSite;
pub use model::{RiskClass, RiskModel, Toxicity};
pub use score::SiteRisk;

/// Why a risk model or a risk query was refused.
#[derive(Debug, Error)]
pub enum RiskError {
    #[error("risk model: {0}")]
    Config(String),
    #[error(
        "resolution {0} is not served: use {min} to {max}",
        min = hexagons::MIN_RESOLUTION,
        max = hexagons::MAX_RESOLUTION
    )]
    Resolution(u8),
}

const DERIVED: Attribution = Attribution {
    text: "Computed by tailings-atlas from the site inventory and the reference layers (rivers, borders, \
        countries, water bodies); their attributions apply.",
    license: "As the inputs",
    license_url: "/attribution",
};

/// The collection ids of the risk layers.
pub const RISK_REACHES: &str = "risk-reaches";
pub const BORDER_CROSSINGS: &str = "border-crossings";
pub const RISK_HEXAGONS: &str = "risk-hexagons";
pub const COUNTRY_SUMMARY: &str = "country-summary";

/// The risk layers' descriptions, in the order they are listed.
pub const RISK_LAYERS: [LayerSpec; 4] = [
    LayerSpec {
        id: RISK_REACHES,
        file: "",
        title: "River reaches by downstream hazard load",
        description: "River reaches (lines cut at confluences and border crossings) with sites upstream: `load` \
            is the sum of the hazard_score of every site whose water passes through the reach, each halved every \
            load.half_distance_km (config/risk-model.toml, default 100 km) along the river; `upstream_sites` \
            counts them; `top_site_*` is the largest contributor and its share of the load.",
        attribution: &[DERIVED],
        queryables: &["river_id", "river_name"],
    },
    LayerSpec {
        id: BORDER_CROSSINGS,
        file: "",
        title: "Transboundary hotspots: where rivers cross borders",
        description: "Every point where a river passes from one country into another (from_country, to_country: \
            ISO 3166-1 alpha-3, found 2 km upstream and downstream along the river), with the hazard load \
            arriving there, the number of sites upstream, and the top contributing sites with their share.",
        attribution: &[DERIVED],
        queryables: &["from_country", "to_country", "river_id"],
    },
    LayerSpec {
        id: RISK_HEXAGONS,
        file: "",
        title: "Site risk by H3 hexagon",
        description: "H3 cells (resolution 6 by default; ?resolution=4..8) holding at least one site, with the \
            site count, the maximum and summed risk_score, and the counts by risk_class.",
        attribution: &[DERIVED],
        queryables: &[],
    },
    LayerSpec {
        id: COUNTRY_SUMMARY,
        file: "",
        title: "Risk summary by country",
        description: "One feature per country polygon: its sites by risk_class, its top sites by risk_score, and \
            the hazard load it passes to each downstream neighbour (load_out) and receives from each upstream \
            neighbour (load_in), summed over the border crossings.",
        attribution: &[DERIVED],
        queryables: &["iso3"],
    },
];

/// The spec of risk layer `id`.
pub fn spec(id: &str) -> Option<&'static LayerSpec> {
    RISK_LAYERS.iter().find(|s| s.id == id)
}

/// Every risk layer, computed from the sites (in parallel where it pays).
pub fn compute_layers(
    model: &RiskModel,
    analyzer: &Analyzer,
    countries: &RefLayer,
    sites: &[RiskSite],
) -> Vec<RefLayer> {
    let graph = analyzer.reaches();
    let local = layers::local_sites(graph, sites);
    let loads = layers::loads(model, graph, sites, &local);
    let crossings = layers::crossing_loads(graph, &loads);
    let res = hexagons::resolution(hexagons::DEFAULT_RESOLUTION).expect("the default is served");
    let features: Vec<Vec<crate::reference::RefFeature>> = (0..4)
        .into_par_iter()
        .map(|k| match k {
            0 => layers::reach_features(analyzer, graph, &loads, sites),
            1 => layers::crossing_features(analyzer, graph, &loads, &crossings, sites),
            2 => hexagons::hexagon_features(sites, res),
            _ => layers::country_features(countries, &crossings, sites),
        })
        .collect();
    RISK_LAYERS
        .iter()
        .zip(features)
        .map(|(spec, features)| RefLayer {
            spec,
            features,
            user_source: None,
        })
        .collect()
}
