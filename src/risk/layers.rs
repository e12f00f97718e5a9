//! The basin risk layers, computed from the published sites' risk and the river network:
//! - `risk-reaches`: each reach's downstream hazard load (the hazard of every site whose water
//!   passes through it, each halved every `load.half_distance_km` along the river from the site),
//!   its upstream site count and its top contributing site;
//! - `border-crossings`: every point where a river passes from one country into another, with the
//!   load arriving there and the sites it comes from, top ones first, with their share;
//! - `country-summary`: per country, sites by class, the top sites, and the load it passes to and
//!   receives from each neighbour;
//! - `risk-hexagons` (in [`super::hexagons`]).
//!
//! One pass over the reach graph, upstream first: a reach's load is what its upstream reaches pass
//! on plus its own sites'; what it passes on is the same, decayed over its length (its own sites'
//! from where they join it). The top contributors are exact with a fixed number kept per reach: all
//! the sites arriving through one upstream reach decay alike from there on, so a site that is not
//! among the top of its branch can never overtake those above it.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::model::{RiskClass, RiskModel};
use super::score::SiteRisk;
use crate::analysis::Analyzer;
use crate::analysis::network::NetPosition;
use crate::analysis::reaches::ReachGraph;
use crate::model::Iso3;
use crate::reference::{RefFeature, RefLayer};

/// How many contributing sites each reach and crossing keeps, top first.
pub const TOP_CONTRIBUTORS: usize = 5;
/// How many top sites a country summary lists.
pub const TOP_SITES: usize = 5;

/// What the layers need of one published site.
#[derive(Debug, Clone, Copy)]
pub struct RiskSite<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub country: &'a Iso3,
    pub point: [f64; 2],
    pub risk: &'a SiteRisk,
    /// Where its water joins the network, if it does.
    pub start: Option<NetPosition>,
}

/// A site's contribution somewhere downstream: (site index, decayed hazard).
type Contribution = (u32, f64);

/// Keeps the `TOP_CONTRIBUTORS` largest, largest first (ties: lower site index first).
fn keep_top(items: &mut Vec<Contribution>) {
    items.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    items.truncate(TOP_CONTRIBUTORS);
}

/// The loads over the reach graph.
#[derive(Debug, Clone, Default)]
pub struct Loads {
    /// Per reach: the load entering it (its upstream reaches' and its own sites').
    pub load: Vec<f64>,
    /// Per reach: what it passes on at its downstream end.
    pub exit: Vec<f64>,
    /// Per reach: how many sites drain through it.
    pub sites: Vec<u32>,
    /// Per reach: the top contributors entering it.
    pub top: Vec<Vec<Contribution>>,
    /// Per reach: the top contributors at its downstream end.
    pub top_exit: Vec<Vec<Contribution>>,
}

/// Per reach, its own sites: (site index, metres from the reach's start).
pub fn local_sites(graph: &ReachGraph, sites: &[RiskSite]) -> Vec<Vec<(u32, f64)>> {
    let mut local = vec![Vec::new(); graph.reaches.len()];
    for (i, s) in sites.iter().enumerate() {
        if let Some(p) = s.start
            && let Some((r, offset)) = graph.locate(p.line, p.along_m)
        {
            local[r].push((i as u32, offset));
        }
    }
    local
}

/// The loads of every reach, upstream first.
pub fn loads(
    model: &RiskModel,
    graph: &ReachGraph,
    sites: &[RiskSite],
    local: &[Vec<(u32, f64)>],
) -> Loads {
    let n = graph.reaches.len();
    let mut out = Loads {
        load: vec![0.0; n],
        exit: vec![0.0; n],
        sites: vec![0; n],
        top: vec![Vec::new(); n],
        top_exit: vec![Vec::new(); n],
    };
    // Per reach, what its upstream reaches pass on: (load, count, contributors).
    let mut incoming: Vec<(f64, u32, Vec<Contribution>)> = vec![(0.0, 0, Vec::new()); n];
    for &r in &graph.order {
        let (in_load, in_count, in_top) = std::mem::take(&mut incoming[r]);
        let len_km = graph.reaches[r].length_m() / 1000.0;
        let decay = model.load_decay(len_km);
        let mut load = in_load;
        let mut exit = in_load * decay;
        let mut top = in_top.clone();
        let mut top_exit: Vec<Contribution> = in_top.iter().map(|&(s, c)| (s, c * decay)).collect();
        for &(s, offset_m) in &local[r] {
            let h = sites[s as usize].risk.hazard();
            load += h;
            let at_exit = h * model.load_decay(len_km - offset_m / 1000.0);
            exit += at_exit;
            top.push((s, h));
            top_exit.push((s, at_exit));
        }
        keep_top(&mut top);
        keep_top(&mut top_exit);
        let count = in_count + local[r].len() as u32;
        if let Some(next) = graph.reaches[r].next {
            let slot = &mut incoming[next];
            slot.0 += exit;
            slot.1 += count;
            slot.2.extend(top_exit.iter().copied());
            keep_top(&mut slot.2);
        }
        out.load[r] = load;
        out.exit[r] = exit;
        out.sites[r] = count;
        out.top[r] = top;
        out.top_exit[r] = top_exit;
    }
    out
}

fn round(v: f64, decimals: i32) -> f64 {
    let k = 10f64.powi(decimals);
    (v * k).round() / k
}

fn line_geometry(coords: &[[f64; 2]]) -> geo::Geometry<f64> {
    geo::Geometry::LineString(geo::LineString::from(
        coords.iter().map(|c| (c[0], c[1])).collect::<Vec<_>>(),
    ))
}

fn contributors(sites: &[RiskSite], top: &[Contribution], total: f64) -> Value {
    Value::Array(
        top.iter()
            .map(|&(s, c)| {
                let site = &sites[s as usize];
                json!({
                    "id": site.id,
                    "name": site.name,
                    "share": if total > 0.0 { round(c / total, 4) } else { 0.0 },
                })
            })
            .collect(),
    )
}

/// The `risk-reaches` features: every reach with sites upstream of it.
pub fn reach_features(
    analyzer: &Analyzer,
    graph: &ReachGraph,
    loads: &Loads,
    sites: &[RiskSite],
) -> Vec<RefFeature> {
    graph
        .reaches
        .iter()
        .enumerate()
        .filter(|&(r, _)| loads.sites[r] > 0)
        .map(|(r, reach)| {
            let (river_id, river_name) = analyzer.river_line(reach.line);
            let top = loads.top[r].first();
            let mut p = Map::new();
            p.insert("id".into(), format!("reach-{r}").into());
            p.insert("river_id".into(), river_id.into());
            p.insert("river_name".into(), river_name.into());
            p.insert("load".into(), round(loads.load[r], 2).into());
            p.insert("upstream_sites".into(), loads.sites[r].into());
            p.insert(
                "top_site_id".into(),
                top.map(|&(s, _)| sites[s as usize].id).into(),
            );
            p.insert(
                "top_site_name".into(),
                top.map(|&(s, _)| sites[s as usize].name).into(),
            );
            p.insert(
                "top_site_share".into(),
                top.map(|&(_, c)| round(c / loads.load[r], 4)).into(),
            );
            p.insert(
                "length_km".into(),
                round(reach.length_m() / 1000.0, 3).into(),
            );
            RefFeature {
                id: format!("reach-{r}"),
                properties: p,
                geometry: line_geometry(&reach.coords),
            }
        })
        .collect()
}

/// A border crossing with load, as the summaries need it.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossingLoad {
    pub reach: usize,
    pub from: Iso3,
    pub to: Iso3,
    pub load: f64,
}

/// Every crossing where water passes from one country into another, with the load arriving there.
pub fn crossing_loads(graph: &ReachGraph, loads: &Loads) -> Vec<CrossingLoad> {
    graph
        .reaches
        .iter()
        .enumerate()
        .filter_map(|(r, reach)| {
            let c = reach.crossing.as_ref().filter(|c| c.passes())?;
            Some(CrossingLoad {
                reach: r,
                from: c.from.clone()?,
                to: c.to.clone()?,
                load: loads.exit[r],
            })
        })
        .collect()
}

/// The `border-crossings` features: every crossing, loaded or not (a crossing with no site upstream
/// has load 0).
pub fn crossing_features(
    analyzer: &Analyzer,
    graph: &ReachGraph,
    loads: &Loads,
    crossings: &[CrossingLoad],
    sites: &[RiskSite],
) -> Vec<RefFeature> {
    crossings
        .iter()
        .map(|c| {
            let reach = &graph.reaches[c.reach];
            let x = reach.crossing.as_ref().expect("a crossing reach");
            let (river_id, river_name) = analyzer.river_line(reach.line);
            let top = &loads.top_exit[c.reach];
            let first = top.first();
            let id = format!("crossing-{}", c.reach);
            let mut p = Map::new();
            p.insert("id".into(), id.clone().into());
            p.insert("from_country".into(), c.from.as_str().into());
            p.insert("to_country".into(), c.to.as_str().into());
            p.insert("river_id".into(), river_id.into());
            p.insert("river_name".into(), river_name.into());
            p.insert("border_id".into(), x.border_id.as_deref().into());
            p.insert("load".into(), round(c.load, 2).into());
            p.insert("site_count".into(), loads.sites[c.reach].into());
            p.insert(
                "top_site_id".into(),
                first.map(|&(s, _)| sites[s as usize].id).into(),
            );
            p.insert(
                "top_site_name".into(),
                first.map(|&(s, _)| sites[s as usize].name).into(),
            );
            p.insert("contributors".into(), contributors(sites, top, c.load));
            RefFeature {
                id,
                properties: p,
                geometry: geo::Geometry::Point(geo::Point::new(x.point[0], x.point[1])),
            }
        })
        .collect()
}

/// Site counts by class, in [`RiskClass::ALL`] order.
pub type ClassCounts = [u32; 4];

/// Counts of `sites` by class.
pub fn class_counts<'a>(sites: impl Iterator<Item = &'a RiskSite<'a>>) -> ClassCounts {
    let mut n = [0; 4];
    for s in sites {
        n[s.risk.class as usize] += 1;
    }
    n
}

/// Puts `low` … `very_high` counts into `p`.
pub fn insert_counts(p: &mut Map<String, Value>, counts: &ClassCounts) {
    for (c, n) in RiskClass::ALL.iter().zip(counts) {
        p.insert(c.as_str().into(), (*n).into());
    }
}

/// The `country-summary` features: one per country polygon of `countries`.
pub fn country_features(
    countries: &RefLayer,
    crossings: &[CrossingLoad],
    sites: &[RiskSite],
) -> Vec<RefFeature> {
    countries
        .features
        .iter()
        .filter_map(|f| {
            let iso3 = f.properties.get("iso3")?.as_str()?;
            let code = Iso3::parse(iso3, "iso3").ok()?;
            let own: Vec<&RiskSite> = sites.iter().filter(|s| *s.country == code).collect();
            let mut top: Vec<&RiskSite> = own.clone();
            top.sort_by(|a, b| {
                b.risk
                    .score()
                    .total_cmp(&a.risk.score())
                    .then(a.id.cmp(b.id))
            });
            top.truncate(TOP_SITES);
            let mut out: BTreeMap<&str, f64> = BTreeMap::new();
            let mut inflow: BTreeMap<&str, f64> = BTreeMap::new();
            for c in crossings {
                // Crossings no site's water reaches pass nothing on.
                if c.load <= 0.0 {
                    continue;
                }
                if c.from == code {
                    *out.entry(c.to.as_str()).or_default() += c.load;
                }
                if c.to == code {
                    *inflow.entry(c.from.as_str()).or_default() += c.load;
                }
            }
            let as_object = |m: &BTreeMap<&str, f64>| {
                Value::Object(
                    m.iter()
                        .map(|(k, v)| ((*k).to_owned(), round(*v, 2).into()))
                        .collect(),
                )
            };
            let mut p = Map::new();
            p.insert("id".into(), iso3.into());
            p.insert("iso3".into(), iso3.into());
            p.insert(
                "name".into(),
                f.properties.get("name").cloned().unwrap_or(Value::Null),
            );
            p.insert("site_count".into(), own.len().into());
            insert_counts(&mut p, &class_counts(own.iter().copied()));
            p.insert(
                "top_sites".into(),
                Value::Array(
                    top.iter()
                        .map(|s| {
                            json!({
                                "id": s.id,
                                "name": s.name,
                                "risk_score": s.risk.score(),
                                "risk_class": s.risk.class.as_str(),
                            })
                        })
                        .collect(),
                ),
            );
            p.insert("load_out".into(), as_object(&out));
            p.insert("load_in".into(), as_object(&inflow));
            // `+ 0.0`: an empty sum is -0.0.
            let total = |m: &BTreeMap<&str, f64>| round(m.values().sum::<f64>() + 0.0, 2);
            p.insert("load_out_total".into(), total(&out).into());
            p.insert("load_in_total".into(), total(&inflow).into());
            Some(RefFeature {
                id: iso3.to_owned(),
                properties: p,
                geometry: f.geometry.clone(),
            })
        })
        .collect()
}
