//! The risk layers of the published state: computed from the published sites when the catalog is
//! built, and again after every change of the sites (an edit, an import, or a change published from
//! another process), then swapped in whole.

use std::time::Instant;

use crate::analysis::Analyzer;
use crate::catalog::{Catalog, Collection, SiteTable};
use crate::reference::RefLayer;
use crate::risk::{self, RiskModel, RiskSite};

/// What a site table gives the risk layers.
pub fn risk_sites(table: &SiteTable) -> Vec<RiskSite<'_>> {
    table
        .records()
        .iter()
        .map(|r| RiskSite {
            id: r.site.id.as_str(),
            name: &r.site.name,
            country: &r.site.country,
            point: r.point(),
            risk: &r.risk,
            start: r.analysis.downstream.as_ref().map(|d| d.start),
        })
        .collect()
}

/// The risk layers' collections for the sites of `table`.
pub fn risk_collections(
    model: &RiskModel,
    analyzer: &Analyzer,
    countries: &RefLayer,
    table: &SiteTable,
) -> Result<Vec<Collection>, serde_json::Error> {
    let t0 = Instant::now();
    let sites = risk_sites(table);
    let layers = risk::compute_layers(model, analyzer, countries, &sites);
    let collections = layers
        .iter()
        .map(Collection::from_layer)
        .collect::<Result<Vec<_>, _>>()?;
    tracing::debug!(
        sites = sites.len(),
        ms = t0.elapsed().as_secs_f64() * 1e3,
        "risk layers computed"
    );
    Ok(collections)
}

/// Puts the risk layers into `catalog` (replacing those it has).
pub fn install(catalog: &mut Catalog, collections: Vec<Collection>) {
    for c in collections {
        match catalog.collections.iter_mut().find(|x| x.id() == c.id()) {
            Some(slot) => *slot = c,
            None => catalog.collections.push(c),
        }
    }
}

/// The `risk-hexagons` collection at resolution `res` (the published one is at
/// [`risk::hexagons::DEFAULT_RESOLUTION`]).
pub fn hexagon_collection(
    table: &SiteTable,
    res: h3o::Resolution,
) -> Result<Collection, serde_json::Error> {
    let sites = risk_sites(table);
    let layer = RefLayer {
        spec: risk::spec(risk::RISK_HEXAGONS).expect("a risk layer"),
        features: risk::hexagons::hexagon_features(&sites, res),
        user_source: None,
    };
    Collection::from_layer(&layer)
}
