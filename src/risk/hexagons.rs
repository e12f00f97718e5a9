//! `risk-hexagons`: the sites binned into H3 cells (h3o), with each cell's site count, maximum and
//! summed score, and counts by class. Resolutions [`MIN_RESOLUTION`] to [`MAX_RESOLUTION`]; the
//! published collection is at [`DEFAULT_RESOLUTION`], others are computed when asked for.

use std::collections::BTreeMap;

use h3o::{CellIndex, LatLng, Resolution};
use serde_json::Map;

use super::RiskError;
use super::layers::{ClassCounts, RiskSite, insert_counts};

/// The coarsest resolution served (cells of about 1,770 km²).
pub const MIN_RESOLUTION: u8 = 4;
/// The finest resolution served (cells of about 0.74 km²).
pub const MAX_RESOLUTION: u8 = 8;
/// The resolution of the published collection (cells of about 36 km²).
pub const DEFAULT_RESOLUTION: u8 = 6;

/// Checks a requested resolution.
pub fn resolution(r: u8) -> Result<Resolution, RiskError> {
    if !(MIN_RESOLUTION..=MAX_RESOLUTION).contains(&r) {
        return Err(RiskError::Resolution(r));
    }
    Resolution::try_from(r).map_err(|_| RiskError::Resolution(r))
}

/// One cell's aggregate.
#[derive(Debug, Clone, Default, PartialEq)]
struct Cell {
    count: u32,
    max_score: f64,
    sum_score: f64,
    classes: ClassCounts,
}

/// The cell of a point at `res`, if the point is a valid coordinate.
pub fn cell_of(point: [f64; 2], res: Resolution) -> Option<CellIndex> {
    LatLng::new(point[1], point[0])
        .ok()
        .map(|ll| ll.to_cell(res))
}

/// The features of `risk-hexagons` at resolution `res`, one per cell holding a site, ordered by
/// cell index.
pub fn hexagon_features(sites: &[RiskSite], res: Resolution) -> Vec<crate::reference::RefFeature> {
    let mut cells: BTreeMap<CellIndex, Cell> = BTreeMap::new();
    for s in sites {
        let Some(c) = cell_of(s.point, res) else {
            continue;
        };
        let cell = cells.entry(c).or_default();
        let score = s.risk.score();
        cell.count += 1;
        cell.max_score = cell.max_score.max(score);
        cell.sum_score += score;
        cell.classes[s.risk.class as usize] += 1;
    }
    cells
        .into_iter()
        .map(|(c, cell)| {
            let id = c.to_string();
            let mut p = Map::new();
            p.insert("id".into(), id.clone().into());
            p.insert("resolution".into(), u8::from(res).into());
            p.insert("site_count".into(), cell.count.into());
            p.insert("max_score".into(), cell.max_score.into());
            p.insert(
                "sum_score".into(),
                ((cell.sum_score * 10.0).round() / 10.0).into(),
            );
            insert_counts(&mut p, &cell.classes);
            let shape: geo::MultiPolygon<f64> = c.into();
            let geometry = match shape.0.len() {
                1 => geo::Geometry::Polygon(shape.0.into_iter().next().expect("one polygon")),
                _ => geo::Geometry::MultiPolygon(shape),
            };
            crate::reference::RefFeature {
                id,
                properties: p,
                geometry,
            }
        })
        .collect()
}
