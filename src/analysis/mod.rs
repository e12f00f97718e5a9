//! Transboundary exposure of a point or a site: the country it lies in, its nearest river and its
//! nearest international border, all in geodesic metres on WGS 84.
//!
//! Built once from the reference layers ([`Analyzer::new`]); queries are read-only and run in
//! parallel with rayon.

pub mod country;
pub mod nearest;
pub mod network;
pub mod runout;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::index::{self, SegmentIndex};
use crate::model::Site;
use crate::reference::{RefLayer, ReferenceData};
use country::{CountryLocator, CountryMatch};

/// How far from a country polygon a point may lie and still be taken to be in it: the OSM land
/// polygons leave out wide rivers and reservoirs, so points on the Syr Darya fall in no polygon.
pub const COUNTRY_TOLERANCE_M: f64 = 5_000.0;

/// A line layer prepared for nearest searches.
#[derive(Debug)]
pub struct LineSet {
    index: SegmentIndex,
    metric: nearest::MetricIndex,
    ids: Vec<String>,
    properties: Vec<Map<String, Value>>,
    geometries: Vec<geo::Geometry<f64>>,
    /// Looked up once here rather than in the properties for every point.
    names: Vec<Option<String>>,
    sides: Vec<(Option<String>, Option<String>)>,
}

impl LineSet {
    /// The features of `layer` for which `keep` holds.
    pub fn new(layer: &RefLayer, keep: impl Fn(&Map<String, Value>) -> bool) -> Self {
        let kept: Vec<_> = layer
            .features
            .iter()
            .filter(|f| keep(&f.properties))
            .collect();
        let geoms: Vec<&geo::Geometry<f64>> = kept.iter().map(|f| &f.geometry).collect();
        let index = SegmentIndex::new(&geoms);
        let text = |f: &crate::reference::RefFeature, key: &str| {
            f.properties.get(key)?.as_str().map(str::to_owned)
        };
        LineSet {
            metric: nearest::MetricIndex::new(&index).with_grid(),
            index,
            ids: kept.iter().map(|f| f.id.clone()).collect(),
            properties: kept.iter().map(|f| f.properties.clone()).collect(),
            geometries: kept.iter().map(|f| f.geometry.clone()).collect(),
            names: kept.iter().map(|f| text(f, "name")).collect(),
            sides: kept
                .iter()
                .map(|f| (text(f, "iso3_left"), text(f, "iso3_right")))
                .collect(),
        }
    }

    /// The features' geometries, in index order.
    pub fn geometries(&self) -> &[geo::Geometry<f64>] {
        &self.geometries
    }

    /// Number of indexed segments.
    pub fn segments(&self) -> usize {
        self.index.len()
    }

    /// A line's `name`, if it has one.
    fn name(&self, feature: usize) -> Option<&str> {
        self.names[feature].as_deref()
    }

    /// A border line's two sides (`iso3_left`, `iso3_right`), if both are known.
    fn sides(&self, feature: usize) -> Option<(&str, &str)> {
        match &self.sides[feature] {
            (Some(l), Some(r)) => Some((l, r)),
            _ => None,
        }
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
    /// ISO3 codes of the two sides.
    pub countries: [String; 2],
    /// The side that is not the point's own country, when the point's country is one of the sides.
    pub neighbour_country: Option<String>,
    pub distance_m: f64,
    /// `[lon, lat]` of the nearest point on the border.
    pub point: [f64; 2],
}

/// Everything known about a point's transboundary exposure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proximity {
    pub lon: f64,
    pub lat: f64,
    /// ISO3 of the country the point lies in (or within [`COUNTRY_TOLERANCE_M`] of).
    pub country: Option<String>,
    /// `inside`, `nearest` (outside every polygon, within the tolerance) or `none`.
    pub country_match: &'static str,
    /// Distance to the country's polygon: 0 inside it.
    pub country_distance_m: Option<f64>,
    pub river: Option<NearestRiver>,
    pub border: Option<NearestBorder>,
    /// The path downstream, when the point snaps to the network.
    pub downstream: Option<Downstream>,
    /// `ok`, or why there is no downstream result.
    pub downstream_status: String,
}

/// Where the water goes from a point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Downstream {
    /// The river line the point was snapped to.
    pub river_id: String,
    pub snap_distance_m: f64,
    /// `direct` (≤ 2 km), `near` (≤ 15 km) or `regional` (the receiving main river is assumed).
    pub drainage_confidence: &'static str,
    /// The countries the water passes through, in order; `unknown` where a crossing cannot be oriented.
    pub countries: Vec<String>,
    pub crossings: Vec<network::Crossing>,
    /// Along-river distance to the first crossing, kilometres.
    pub downstream_border_km: Option<f64>,
    pub water_bodies: Vec<network::WaterPass>,
    pub terminal_water_body: Option<String>,
    pub end: network::WalkEnd,
    pub length_km: f64,
}

/// `direct`, `near` or `regional`, by snap distance.
pub fn drainage_confidence(snap_m: f64) -> &'static str {
    if snap_m <= 2_000.0 {
        "direct"
    } else if snap_m <= 15_000.0 {
        "near"
    } else {
        "regional"
    }
}

/// The prepared reference layers.
#[derive(Debug)]
pub struct Analyzer {
    rivers: LineSet,
    /// The main rivers (named Natural Earth lines, GSHHG levels 1–2), and each one's index in `rivers`.
    main_rivers: LineSet,
    main_to_river: Vec<usize>,
    /// Per river line, whether it is a main river.
    river_is_main: Vec<bool>,
    borders: LineSet,
    countries: CountryLocator,
    network: network::RiverNetwork,
    /// The border lines of each pair of countries (sorted ISO3 codes), indexed on first use.
    border_pairs: std::sync::OnceLock<BorderPairs>,
    /// Sites farther than this from every river get no downstream result.
    pub snap_limit_m: f64,
    /// The runout screening's coefficients.
    pub runout: runout::RunoutModel,
}

/// Where `entered` starts to hold between `lo` (where it does not) and `hi` (where it does), to
/// `(hi - lo) / 2^steps`: the end where it holds.
fn bisect(mut lo: f64, mut hi: f64, steps: usize, entered: impl Fn(f64) -> bool) -> f64 {
    for _ in 0..steps {
        let mid = (lo + hi) / 2.0;
        if entered(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// The key of a pair of countries: both ISO3 codes in upper case, in order.
fn pair_key(a: &str, b: &str) -> (String, String) {
    let (a, b) = (a.to_ascii_uppercase(), b.to_ascii_uppercase());
    if a <= b { (a, b) } else { (b, a) }
}

/// Border segments grouped by the two countries they separate.
type BorderPairs = std::collections::HashMap<(String, String), nearest::MetricIndex>;

/// Beyond this snap distance the site's own stream is not in the data, and the receiving main river
/// is assumed.
pub const REGIONAL_SNAP_M: f64 = 15_000.0;

fn is_canal(p: &Map<String, Value>) -> bool {
    p.get("feature_class") == Some(&Value::from("Canal"))
}

fn is_main_river(p: &Map<String, Value>) -> bool {
    !is_canal(p)
        && (p.get("source") == Some(&Value::from("natural_earth"))
            || p.get("level")
                .and_then(Value::as_u64)
                .is_some_and(|l| l <= 2))
}

/// The default snapping limit: about half the seed sites lie 30–75 km from any mapped river.
pub const DEFAULT_SNAP_LIMIT_M: f64 = 100_000.0;

impl Analyzer {
    /// Prepares rivers (canals excluded: they are not natural drainage), borders and countries.
    pub fn new(reference: &ReferenceData) -> Self {
        let empty = RefLayer {
            user_source: None,
            spec: &crate::reference::REFERENCE_LAYERS[0],
            features: Vec::new(),
        };
        let layer = |id: &str| reference.layer(id).unwrap_or(&empty);
        // The network needs rivers and borders; countries and main rivers build beside it.
        let (((rivers, borders), network), (countries, main_rivers)) = rayon::join(
            || {
                let (rivers, borders) = rayon::join(
                    || {
                        LineSet::new(layer("rivers"), |p| {
                            p.get("feature_class") != Some(&Value::from("Canal"))
                        })
                    },
                    || LineSet::new(layer("borders"), |_| true),
                );
                let mut network = network::RiverNetwork::new(&rivers, layer("water-bodies"));
                network.prepare(&borders);
                ((rivers, borders), network)
            },
            || {
                rayon::join(
                    || CountryLocator::new(layer("countries")),
                    || LineSet::new(layer("rivers"), is_main_river),
                )
            },
        );
        let by_id: std::collections::HashMap<&str, usize> = rivers
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let main_to_river: Vec<usize> = main_rivers
            .ids
            .iter()
            .map(|id| by_id.get(id.as_str()).copied().unwrap_or(usize::MAX))
            .collect();
        let mut river_is_main = vec![false; rivers.ids.len()];
        for &i in main_to_river.iter().filter(|&&i| i != usize::MAX) {
            river_is_main[i] = true;
        }
        tracing::info!(report = ?network.report, "river network built");
        Analyzer {
            rivers,
            main_rivers,
            main_to_river,
            river_is_main,
            borders,
            countries,
            network,
            border_pairs: std::sync::OnceLock::new(),
            snap_limit_m: DEFAULT_SNAP_LIMIT_M,
            runout: runout::RunoutModel::default(),
        }
    }

    /// The geodesic distance (metres) from `p` to the border between countries `a` and `b` (ISO3, in
    /// either order), if they share a mapped border within `max_m`: "how far is this site from
    /// Uzbekistan", where the nearest border of all may be another one.
    pub fn border_distance_between(
        &self,
        p: [f64; 2],
        a: &str,
        b: &str,
        max_m: f64,
    ) -> Option<f64> {
        let pairs = self.border_pairs.get_or_init(|| {
            let mut segments: std::collections::HashMap<(String, String), Vec<_>> =
                Default::default();
            for seg in self.borders.index.iter() {
                if let Some((l, r)) = self.borders.sides(seg.2.feature) {
                    segments.entry(pair_key(l, r)).or_default().push(seg);
                }
            }
            segments
                .into_iter()
                .map(|(k, segs)| (k, nearest::MetricIndex::from_segments(segs, true)))
                .collect()
        });
        let index = pairs.get(&pair_key(a, b))?;
        nearest::nearest(index, p, max_m).map(|h| h.closest.distance_m)
    }

    /// Candidate-grid cells filled so far and the candidates they list, per layer (rivers, main
    /// rivers, borders).
    pub fn grid_usage(&self) -> [(usize, usize); 3] {
        [
            self.rivers.metric.grid_usage(),
            self.main_rivers.metric.grid_usage(),
            self.borders.metric.grid_usage(),
        ]
    }

    /// How the river network was assembled.
    pub fn network_report(&self) -> &network::NetworkReport {
        &self.network.report
    }

    /// The report with line ids, for people: which lines were reversed and which end nowhere.
    pub fn network_summary(&self) -> Value {
        let r = &self.network.report;
        let ids = |v: &[usize]| {
            v.iter()
                .map(|&i| self.rivers.ids[i].clone())
                .collect::<Vec<_>>()
        };
        serde_json::json!({
            "lines": r.lines,
            "joined": r.joined,
            "ends_in_water_body": r.ends_in_water_body,
            "leaves_mapped_area": r.leaves_mapped_area,
            "reversed": ids(&r.reversed_lines),
            "unjoined": ids(&r.unjoined),
            "join_tolerance_m": network::JOIN_TOLERANCE_M,
            "snap_limit_m": self.snap_limit_m,
        })
    }

    /// Segment counts per prepared layer, for health reports.
    pub fn segment_counts(&self) -> [(&'static str, usize); 3] {
        [
            ("rivers", self.rivers.segments()),
            ("borders", self.borders.segments()),
            ("countries", self.countries.segments()),
        ]
    }

    /// The exposure of one point; `own_country` (e.g. a site's declared country) decides the
    /// neighbour across the border when the point's polygon cannot.
    /// The country (ISO3) a point lies in, or nearest to within the documented tolerance.
    pub fn locate_country(&self, lon: f64, lat: f64) -> Option<String> {
        match self.countries.locate([lon, lat], COUNTRY_TOLERANCE_M) {
            CountryMatch::Inside(c) | CountryMatch::Nearest(c, _) => Some(c),
            CountryMatch::None => None,
        }
    }

    pub fn proximity(&self, lon: f64, lat: f64, own_country: Option<&str>) -> Proximity {
        self.proximity_and_snap(lon, lat, own_country).0
    }

    /// [`Analyzer::proximity`] and the downstream path (the full walk, with along-river distances),
    /// when the point snaps to the network: one search for both.
    pub fn proximity_with_path(
        &self,
        lon: f64,
        lat: f64,
        own_country: Option<&str>,
    ) -> (Proximity, Option<network::Walk>) {
        let (proximity, snap) = self.proximity_and_snap(lon, lat, own_country);
        let walk = snap.map(|hit| {
            self.network
                .walk(hit.segment, hit.closest.point, hit.closest.along_m)
        });
        (proximity, walk)
    }

    fn proximity_and_snap(
        &self,
        lon: f64,
        lat: f64,
        own_country: Option<&str>,
    ) -> (Proximity, Option<nearest::Hit>) {
        let p = [lon, lat];
        let located = self.countries.locate(p, COUNTRY_TOLERANCE_M);
        let (country, country_match, country_distance_m) = match &located {
            CountryMatch::Inside(c) => (Some(c.clone()), "inside", Some(0.0)),
            CountryMatch::Nearest(c, d) => (Some(c.clone()), "nearest", Some(*d)),
            CountryMatch::None => (None, "none", None),
        };
        let river_hit = nearest::nearest(&self.rivers.metric, p, f64::INFINITY);
        let river = river_hit.map(|h| {
            let f = h.segment.feature;
            NearestRiver {
                id: self.rivers.ids[f].clone(),
                name: self.rivers.name(f).map(str::to_owned),
                distance_m: h.closest.distance_m,
                point: h.closest.point,
            }
        });
        let own = country.as_deref().or(own_country);
        let (downstream, downstream_status) = match river_hit {
            None => (None, "no river data".to_owned()),
            Some(h) if h.closest.distance_m > self.snap_limit_m => (
                None,
                format!(
                    "no river within {:.0} km (nearest is {:.1} km away)",
                    self.snap_limit_m / 1000.0,
                    h.closest.distance_m / 1000.0
                ),
            ),
            Some(h) => (Some(self.snap(p, h)), "ok".to_owned()),
        };
        let downstream = downstream.map(|hit| (hit, self.downstream(p, hit, own)));
        let border = nearest::nearest(&self.borders.metric, p, f64::INFINITY).map(|h| {
            let f = h.segment.feature;
            let (left, right) = &self.borders.sides[f];
            let (left, right) = (
                left.clone().unwrap_or_default(),
                right.clone().unwrap_or_default(),
            );
            let neighbour_country = match own {
                Some(c) if c == left => Some(right.clone()),
                Some(c) if c == right => Some(left.clone()),
                _ => None,
            };
            NearestBorder {
                id: self.borders.ids[f].clone(),
                countries: [left, right],
                neighbour_country,
                distance_m: h.closest.distance_m,
                point: h.closest.point,
            }
        });
        let snap = downstream.as_ref().map(|(hit, _)| *hit);
        let proximity = Proximity {
            lon,
            lat,
            country,
            country_match,
            country_distance_m,
            river,
            border,
            downstream: downstream.map(|(_, d)| d),
            downstream_status,
        };
        (proximity, snap)
    }

    /// Where the water of `p` joins the network: the nearest river, or, beyond [`REGIONAL_SNAP_M`], the
    /// nearest main river within the snap limit (a small line that far away is a guess, the main river
    /// it feeds is not).
    fn snap(&self, p: [f64; 2], nearest_hit: nearest::Hit) -> nearest::Hit {
        // A main river nearest of all rivers is the nearest main river: no second search.
        if nearest_hit.closest.distance_m <= REGIONAL_SNAP_M
            || self.river_is_main[nearest_hit.segment.feature]
        {
            return nearest_hit;
        }
        match nearest::nearest(&self.main_rivers.metric, p, self.snap_limit_m) {
            Some(h) if self.main_to_river[h.segment.feature] != usize::MAX => nearest::Hit {
                segment: index::SegmentRef {
                    feature: self.main_to_river[h.segment.feature],
                    ..h.segment
                },
                closest: h.closest,
            },
            _ => nearest_hit,
        }
    }

    fn locate(&self, p: [f64; 2]) -> Option<String> {
        match self.countries.locate(p, COUNTRY_TOLERANCE_M) {
            CountryMatch::Inside(c) | CountryMatch::Nearest(c, _) => Some(c),
            CountryMatch::None => None,
        }
    }

    /// The country the water starts its mapped journey in: a regional snap can land across a border,
    /// so the snap point's country when it lies inside one (near one, it may be on a reservoir the
    /// polygons omit), else the site's own.
    fn snap_country(&self, hit: &nearest::Hit, own: Option<&str>) -> Option<String> {
        match self.countries.locate(hit.closest.point, 0.0) {
            CountryMatch::Inside(c) => Some(c),
            _ => own.map(str::to_owned),
        }
    }

    /// Where the straight (lon/lat) line from a site in `own` to its snap point in another country
    /// first enters another country's polygon (sampled every ~2 km, then by bisection to half a
    /// metre), and the border line there, if one is within 2 km of that point.
    fn leaving_point(
        &self,
        site: [f64; 2],
        snap: [f64; 2],
        own: &str,
    ) -> ([f64; 2], Option<String>) {
        let at = |t: f64| {
            [
                site[0] + t * (snap[0] - site[0]),
                site[1] + t * (snap[1] - site[1]),
            ]
        };
        // Still in `own` until inside another country's polygon: a gap between the polygons (a
        // reservoir) is not taken for a border.
        let in_own = |t: f64| !matches!(self.countries.locate(at(t), 0.0), CountryMatch::Inside(c) if c != own);
        let steps = ((snap[0] - site[0]).abs().max((snap[1] - site[1]).abs()) / 0.02)
            .ceil()
            .clamp(1.0, 1000.0) as usize;
        let out = (1..=steps)
            .map(|k| k as f64 / steps as f64)
            .find(|&t| !in_own(t))
            .unwrap_or(1.0);
        // 2 km / 2^12: to half a metre.
        let point = at(bisect(out - 1.0 / steps as f64, out, 12, |t| !in_own(t)));
        let border_id = nearest::nearest(&self.borders.metric, point, 2_000.0)
            .map(|h| self.borders.ids[h.segment.feature].clone());
        (point, border_id)
    }

    /// Where the river leaves a country without crossing a border line (the lines leave gaps
    /// between the polygons at reservoirs), the crossing is placed by the polygons: along the river,
    /// by bisection between the last crossing and the next one, and has no `border_id`. Rare; the
    /// walk is made only then.
    fn with_unseen_crossings(
        &self,
        crossings: Vec<network::Crossing>,
        own: Option<&str>,
        hit: &nearest::Hit,
    ) -> Vec<network::Crossing> {
        let unseen = |current: Option<&str>, c: &network::Crossing| matches!((current, c.from.as_deref()), (Some(a), Some(b)) if a != b);
        let mut current = own;
        if !crossings.iter().any(|c| {
            let gap = unseen(current, c);
            current = c.to.as_deref();
            gap
        }) {
            return crossings;
        }
        let last_m = crossings.last().map_or(0.0, |c| c.along_m);
        let walk = self.network.walk_until(
            hit.segment,
            hit.closest.point,
            hit.closest.along_m,
            last_m + 1.0,
        );
        let mut out = Vec::with_capacity(crossings.len() + 1);
        let (mut current, mut since_m) = (own.map(str::to_owned), 0.0);
        for c in crossings {
            if unseen(current.as_deref(), &c)
                && let Some(entered) = c.from.as_deref()
            {
                // From where the water is still in `current` to where it is inside the polygon of
                // `entered` (a gap between the polygons is not yet `entered`).
                let is_in = |a: f64| {
                    matches!(
                        self.countries.locate(network::point_at(&walk, a), 0.0),
                        CountryMatch::Inside(c) if c == entered
                    )
                };
                let hi = bisect(since_m, c.along_m, 30, is_in);
                out.push(network::Crossing {
                    border_id: None,
                    point: network::point_at(&walk, hi),
                    along_m: hi,
                    from: current.clone(),
                    to: Some(entered.to_owned()),
                });
            }
            current = c.to.clone();
            since_m = c.along_m;
            out.push(c);
        }
        out
    }

    fn downstream(&self, site: [f64; 2], hit: nearest::Hit, own: Option<&str>) -> Downstream {
        let snap_country = self.snap_country(&hit, own);
        let summary = self.network.summary(
            &self.borders,
            hit.segment,
            hit.closest.point,
            hit.closest.along_m,
            snap_country.as_deref(),
            |p| self.locate(p),
        );
        // A snap into another country crosses a border before the river does: that crossing comes
        // first, or the first crossing reported would be one the water meets after it has already
        // left the site's country. One crossing, straight to the snap point's country: a straight
        // line is no evidence of the way the water takes through any country between.
        let crossings = match (own, snap_country.as_deref()) {
            (Some(own), Some(snapped)) if own != snapped => {
                let (point, border_id) = self.leaving_point(site, hit.closest.point, own);
                let mut river = summary.crossings;
                // A site beside a border river, snapped to a point just across the line, whose
                // river crosses back within GRAZE_MERGE_M: a grazing, dropped as two river
                // crossings would be.
                let back = river.first().is_some_and(|next| {
                    next.along_m < network::GRAZE_MERGE_M
                        && next.from.as_deref() == Some(snapped)
                        && next.to.as_deref() == Some(own)
                });
                if back {
                    river.remove(0);
                    river
                } else {
                    let mut all = vec![network::Crossing {
                        border_id,
                        point,
                        along_m: 0.0,
                        from: Some(own.to_owned()),
                        to: Some(snapped.to_owned()),
                    }];
                    all.extend(river);
                    all
                }
            }
            _ => summary.crossings,
        };
        let crossings = self.with_unseen_crossings(crossings, own, &hit);
        let mut countries: Vec<String> = own.map(str::to_owned).into_iter().collect();
        // The crossings chain from `own`; where one could not be oriented (`unknown`), or `own` is
        // not known, the next crossing's upstream side names where the water is again.
        let steps = crossings.iter().flat_map(|c| {
            [
                c.from.clone(),
                Some(c.to.clone().unwrap_or_else(|| "unknown".into())),
            ]
            .into_iter()
            .flatten()
        });
        for next in steps {
            if countries.last() != Some(&next) {
                countries.push(next);
            }
        }
        let water_bodies = summary.water_bodies;
        let terminal_water_body = match &summary.end {
            network::WalkEnd::WaterBody { name, id } => {
                Some(name.clone().unwrap_or_else(|| id.clone()))
            }
            _ => None,
        };
        let snap = hit.closest.distance_m;
        Downstream {
            river_id: self.rivers.ids[hit.segment.feature].clone(),
            snap_distance_m: snap,
            drainage_confidence: drainage_confidence(snap),
            countries,
            downstream_border_km: crossings.first().map(|c| c.along_m / 1000.0),
            crossings,
            water_bodies,
            terminal_water_body,
            end: summary.end,
            length_km: summary.length_m / 1000.0,
        }
    }

    /// One site's analysis as flat properties: its exposure and its runout screening.
    pub fn site_analysis(&self, site: &Site) -> Map<String, Value> {
        let q = &site.quantities;
        self.point_analysis(
            [site.location.lon(), site.location.lat()],
            Some(site.country.as_str()),
            q.volume_m3,
            q.dam_height_m,
        )
    }

    /// The same fields for any point: `own_country` is the declared country, if known, and the
    /// quantities feed the runout screening.
    pub fn point_analysis(
        &self,
        p: [f64; 2],
        own_country: Option<&str>,
        volume_m3: Option<f64>,
        dam_height_m: Option<f64>,
    ) -> Map<String, Value> {
        self.assess(p, own_country, volume_m3, dam_height_m)
            .fields(own_country)
            .to_map()
    }

    /// A point's exposure and runout screening, from which [`Assessment::fields`] gives its flat fields.
    pub fn assess(
        &self,
        p: [f64; 2],
        own_country: Option<&str>,
        volume_m3: Option<f64>,
        dam_height_m: Option<f64>,
    ) -> Assessment {
        let proximity = self.proximity(p[0], p[1], own_country);
        let border_km = proximity
            .downstream
            .as_ref()
            .map(|d| d.downstream_border_km);
        let runout = self.runout.screen(volume_m3, dam_height_m, border_km);
        Assessment { proximity, runout }
    }

    /// Every site's analysis, in parallel, in the order given.
    pub fn analyse_sites(&self, sites: &[Site]) -> Vec<Map<String, Value>> {
        sites.par_iter().map(|s| self.site_analysis(s)).collect()
    }
}

fn round(v: f64, decimals: i32) -> f64 {
    let k = 10f64.powi(decimals);
    (v * k).round() / k
}

/// A point's exposure and runout screening.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub proximity: Proximity,
    pub runout: runout::Runout,
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
/// [`Assessment`]: written straight to files by `analyze`, turned into properties for the API.
#[derive(Debug, Clone, Copy)]
pub struct SiteFields<'a> {
    assessment: &'a Assessment,
    /// The country the site or point is declared in, if any.
    declared_country: Option<&'a str>,
}

impl Assessment {
    /// The flat fields; `own_country` is the declared country, if known.
    pub fn fields<'a>(&'a self, own_country: Option<&'a str>) -> SiteFields<'a> {
        SiteFields {
            assessment: self,
            declared_country: own_country,
        }
    }
}

impl<'a> SiteFields<'a> {
    /// The field names, in the order [`SiteFields::values`] gives them.
    pub const NAMES: [&'static str; 30] = [
        "located_country",
        "country_match",
        "country_check",
        "nearest_river_id",
        "nearest_river_name",
        "river_distance_m",
        "nearest_river_lon",
        "nearest_river_lat",
        "nearest_border_id",
        "border_countries",
        "neighbour_country",
        "border_distance_m",
        "nearest_border_lon",
        "nearest_border_lat",
        "downstream_status",
        "snap_distance_m",
        "snap_river_id",
        "drainage_confidence",
        "downstream_countries",
        "first_crossing_from",
        "first_crossing_to",
        "first_crossing_lon",
        "first_crossing_lat",
        "downstream_border_km",
        "downstream_water_bodies",
        "terminal_water_body",
        "runout_released_volume_m3",
        "runout_distance_km",
        "runout_reaches_border",
        "runout_note",
    ];

    /// The values, in the order of [`SiteFields::NAMES`].
    pub fn values(&self) -> [Field<'a>; 30] {
        let p = &self.assessment.proximity;
        let r = &self.assessment.runout;
        let text = |t: &'a str| Field::Text(t.into());
        let river = p.river.as_ref();
        let border = p.border.as_ref();
        let d = p.downstream.as_ref();
        let first = d.and_then(|d| d.crossings.first());
        [
            p.country.as_deref().into(),
            text(p.country_match),
            text(match &p.country {
                Some(_) if self.declared_country.is_none() => "not declared",
                Some(c) if Some(c.as_str()) == self.declared_country => "matches",
                Some(_) => "differs",
                None => "unknown",
            }),
            river.map(|r| r.id.as_str()).into(),
            river.and_then(|r| r.name.as_deref()).into(),
            river.map(|r| round(r.distance_m, 1)).into(),
            // Coordinates to 1e-6° (about 0.1 m), as the distances are to 0.1 m.
            river.map(|r| round(r.point[0], 6)).into(),
            river.map(|r| round(r.point[1], 6)).into(),
            border.map(|b| b.id.as_str()).into(),
            border.map(|b| b.countries.join("-")).into(),
            border.and_then(|b| b.neighbour_country.as_deref()).into(),
            border.map(|b| round(b.distance_m, 1)).into(),
            border.map(|b| round(b.point[0], 6)).into(),
            border.map(|b| round(b.point[1], 6)).into(),
            text(&p.downstream_status),
            d.map(|d| round(d.snap_distance_m, 1)).into(),
            // The river the path starts on: for a `regional` snap, a main river, not the nearest one.
            d.map(|d| d.river_id.as_str()).into(),
            d.map(|d| d.drainage_confidence).into(),
            d.map(|d| d.countries.join(",")).into(),
            first.and_then(|c| c.from.as_deref()).into(),
            first.and_then(|c| c.to.as_deref()).into(),
            first.map(|c| round(c.point[0], 6)).into(),
            first.map(|c| round(c.point[1], 6)).into(),
            d.and_then(|d| d.downstream_border_km)
                .map(|v| round(v, 3))
                .into(),
            d.map(|d| {
                d.water_bodies
                    .iter()
                    .map(|w| w.name.as_deref().unwrap_or(&w.id))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .into(),
            d.and_then(|d| d.terminal_water_body.as_deref()).into(),
            r.released_volume_m3.map(|v| round(v, 0)).into(),
            r.distance_km.map(|v| round(v, 3)).into(),
            text(r.reaches_border),
            r.note.into(),
        ]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geodesy;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::sync::OnceLock;

    /// The declared country is checked against the polygon only where there is one to check.
    #[test]
    fn country_check_compares_with_the_declared_country() {
        let analyzer = Analyzer::new(reference());
        let check = |declared: Option<&str>| {
            analyzer.point_analysis([72.448, 41.246], declared, None, None)["country_check"].clone()
        };
        assert_eq!(check(Some("KGZ")), "matches");
        assert_eq!(check(Some("UZB")), "differs");
        assert_eq!(check(None), "not declared");
        // In the sea off Antarctica: no polygon to compare with.
        let far = analyzer.point_analysis([0.0, -70.0], Some("KGZ"), None, None);
        assert_eq!(far["country_check"], "unknown");
    }

    fn reference() -> &'static ReferenceData {
        static R: OnceLock<ReferenceData> = OnceLock::new();
        R.get_or_init(|| {
            crate::io::layers::load_reference_dir(
                &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data"),
            )
            .unwrap()
        })
    }

    /// Brute force over every segment, without the R-tree: a planar estimate (mean-latitude
    /// equirectangular, ellipsoidal radii) shortlists every segment within 10 % + 2 km of the best
    /// estimate, far wider than that estimate's error at these distances, and the exact geodesic
    /// distance decides among them.
    fn brute_force(segments: &[([f64; 2], [f64; 2], usize)], p: [f64; 2]) -> (usize, f64) {
        let phi = p[1].to_radians();
        let m = geodesy::WGS84_A * (1.0 - 0.006_694_38)
            / (1.0 - 0.006_694_38 * phi.sin().powi(2)).powf(1.5);
        let n = geodesy::WGS84_A / (1.0 - 0.006_694_38 * phi.sin().powi(2)).sqrt();
        let xy = |q: [f64; 2]| {
            let mid = ((q[1] + p[1]) / 2.0).to_radians();
            (
                (q[0] - p[0]).to_radians() * n * mid.cos(),
                (q[1] - p[1]).to_radians() * m,
            )
        };
        let approx: Vec<f64> = segments
            .iter()
            .map(|(a, b, _)| {
                let ((ax, ay), (bx, by)) = (xy(*a), xy(*b));
                let (dx, dy) = (bx - ax, by - ay);
                let len2 = dx * dx + dy * dy;
                let t = if len2 > 0.0 {
                    (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                ((ax + t * dx).powi(2) + (ay + t * dy).powi(2)).sqrt()
            })
            .collect();
        let floor = approx.iter().cloned().fold(f64::INFINITY, f64::min);
        let mut best = (usize::MAX, f64::INFINITY);
        for (i, (a, b, f)) in segments.iter().enumerate() {
            if approx[i] <= floor * 1.1 + 2_000.0 {
                let d = geodesy::closest_on_segment(p, *a, *b).distance_m;
                if d < best.1 {
                    best = (*f, d);
                }
            }
        }
        best
    }

    fn check_layer(set: &LineSet, seed: u64, n: usize) {
        let segments: Vec<([f64; 2], [f64; 2], usize)> = set
            .index
            .iter()
            .map(|(a, b, r)| (a, b, r.feature))
            .collect();
        let mut rng = StdRng::seed_from_u64(seed);
        let points: Vec<[f64; 2]> = (0..n)
            .map(|_| [rng.random_range(60.0..78.0), rng.random_range(38.0..47.0)])
            .collect();
        let mismatches: Vec<String> = points
            .par_iter()
            .filter_map(|&p| {
                let hit = nearest::nearest(&set.metric, p, f64::INFINITY).unwrap();
                let (feature, distance) = brute_force(&segments, p);
                let tol = (distance * 1e-3).max(1.0);
                let same = hit.segment.feature == feature
                    || (hit.closest.distance_m - distance).abs() < 1e-6; // an exact tie
                (!same || (hit.closest.distance_m - distance).abs() > tol).then(|| {
                    format!(
                        "{p:?}: tree {} at {} m, brute force {} at {distance} m",
                        set.ids[hit.segment.feature], hit.closest.distance_m, set.ids[feature]
                    )
                })
            })
            .collect();
        assert!(
            mismatches.is_empty(),
            "{} of {n} points differ: {:?}",
            mismatches.len(),
            &mismatches[..mismatches.len().min(5)]
        );
    }

    #[test]
    fn nearest_river_equals_brute_force_on_10000_points() {
        let analyzer = Analyzer::new(reference());
        check_layer(&analyzer.rivers, 0xA11_5EED, 10_000);
    }

    #[test]
    fn nearest_border_equals_brute_force_on_10000_points() {
        let analyzer = Analyzer::new(reference());
        check_layer(&analyzer.borders, 0xB0_5EED, 10_000);
    }

    /// The candidate grid gives exactly what the tree search gives (the tree alone answers searches
    /// with a tight bound), also beyond the grid's reach.
    #[test]
    fn grid_and_tree_searches_agree() {
        let analyzer = Analyzer::new(reference());
        let mut rng = StdRng::seed_from_u64(0x6121D);
        for set in [&analyzer.rivers, &analyzer.borders, &analyzer.main_rivers] {
            for _ in 0..4_000 {
                let p = [rng.random_range(50.0..90.0), rng.random_range(30.0..55.0)];
                let grid = nearest::nearest(&set.metric, p, f64::INFINITY);
                let tree = nearest::tree_nearest(&set.metric, p, f64::INFINITY);
                assert_eq!(grid, tree, "{p:?}");
            }
        }
    }

    /// Taking a main river that is nearest of all rivers as the snap skips a search, not a result.
    #[test]
    fn regional_snap_equals_the_main_river_search() {
        let analyzer = Analyzer::new(reference());
        let mut rng = StdRng::seed_from_u64(0x5A1F);
        let mut regional = 0;
        for _ in 0..3_000 {
            let p = [rng.random_range(60.0..78.0), rng.random_range(38.0..47.0)];
            let hit = nearest::nearest(&analyzer.rivers.metric, p, f64::INFINITY).unwrap();
            if hit.closest.distance_m <= REGIONAL_SNAP_M
                || hit.closest.distance_m > analyzer.snap_limit_m
            {
                continue;
            }
            regional += 1;
            let searched = nearest::nearest(&analyzer.main_rivers.metric, p, analyzer.snap_limit_m)
                .filter(|h| analyzer.main_to_river[h.segment.feature] != usize::MAX)
                .map_or(hit, |h| nearest::Hit {
                    segment: index::SegmentRef {
                        feature: analyzer.main_to_river[h.segment.feature],
                        ..h.segment
                    },
                    closest: h.closest,
                });
            // The same segment and point; the two indexes' frames may differ in the last bits.
            let snapped = analyzer.snap(p, hit);
            assert_eq!(snapped.segment, searched.segment, "{p:?}");
            assert!(
                (snapped.closest.distance_m - searched.closest.distance_m).abs() < 1e-6
                    && (snapped.closest.along_m - searched.closest.along_m).abs() < 1e-6,
                "{p:?}: {snapped:?} vs {searched:?}"
            );
        }
        assert!(regional > 500, "only {regional} regional points");
    }

    #[test]
    fn beyond_the_snap_limit_there_is_no_downstream_result() {
        let mut analyzer = Analyzer::new(reference());
        let near = analyzer.proximity(72.448, 41.246, Some("KGZ"));
        assert_eq!(near.downstream_status, "ok");
        analyzer.snap_limit_m = 1_000.0;
        let far = analyzer.proximity(72.448, 41.246, Some("KGZ"));
        assert!(far.downstream.is_none());
        assert!(
            far.downstream_status.starts_with("no river within 1 km"),
            "{}",
            far.downstream_status
        );
        assert_eq!(drainage_confidence(2_000.0), "direct");
        assert_eq!(drainage_confidence(2_000.1), "near");
        assert_eq!(drainage_confidence(15_000.1), "regional");
    }

    /// The distance to the border between two given countries is the brute-force minimum over that
    /// border's segments, wherever the point is.
    #[test]
    fn border_distance_between_two_countries_is_the_brute_force_minimum() {
        let analyzer = Analyzer::new(reference());
        let mut rng = StdRng::seed_from_u64(0xB0_4DE2);
        for (a, b) in [
            ("KGZ", "UZB"),
            ("UZB", "TJK"),
            ("KAZ", "UZB"),
            ("KGZ", "TJK"),
        ] {
            let segments: Vec<_> = analyzer
                .borders
                .index
                .iter()
                .filter(|s| {
                    analyzer
                        .borders
                        .sides(s.2.feature)
                        .is_some_and(|(l, r)| (l, r) == (a, b) || (l, r) == (b, a))
                })
                .collect();
            assert!(!segments.is_empty(), "{a}-{b}");
            for _ in 0..200 {
                let p = [rng.random_range(60.0..78.0), rng.random_range(38.0..47.0)];
                let brute = segments
                    .iter()
                    .map(|s| crate::geodesy::closest_on_segment(p, s.0, s.1).distance_m)
                    .fold(f64::INFINITY, f64::min);
                let got = analyzer
                    .border_distance_between(p, a, b, f64::INFINITY)
                    .unwrap();
                assert!(
                    (got - brute).abs() <= 1e-3 + 1e-6 * brute,
                    "{p:?} {a}-{b}: {got} vs {brute}"
                );
                // Bounded: only within the limit.
                assert_eq!(
                    analyzer.border_distance_between(p, b, a, brute * 0.99),
                    None,
                    "{p:?}"
                );
            }
        }
        assert_eq!(
            analyzer.border_distance_between([70.0, 41.0], "KGZ", "FRA", 1e7),
            None
        );
    }

    /// The water leaves the site's country first; a crossing onto the snap point is never undone
    /// at once by the river crossing back (a border river, a grazing); the countries follow the
    /// crossings.
    #[test]
    fn crossings_start_from_the_sites_country_and_do_not_zigzag() {
        let analyzer = Analyzer::new(reference());
        let mut rng = StdRng::seed_from_u64(0x5_1A9);
        let (mut leg, mut checked) = (0, 0);
        for _ in 0..4_000 {
            let p = [rng.random_range(60.0..78.0), rng.random_range(38.0..47.0)];
            let prox = analyzer.proximity(p[0], p[1], None);
            let (Some(own), Some(d)) = (prox.country.as_deref(), prox.downstream.as_ref()) else {
                continue;
            };
            checked += 1;
            assert_eq!(d.countries.first().map(String::as_str), Some(own), "{p:?}");
            let Some(first) = d.crossings.first() else {
                continue;
            };
            assert_eq!(first.from.as_deref(), Some(own), "{p:?}: {:?}", d.crossings);
            if first.along_m == 0.0 {
                leg += 1;
            }
            // Crossings on the snap line (at 0 km) never undo each other, nor does the river undo
            // the last of them within GRAZE_MERGE_M.
            for w in d.crossings.windows(2) {
                // They chain: each starts where the previous one ended (unless that is unknown).
                if w[0].to.is_some() {
                    assert_eq!(w[1].from, w[0].to, "{p:?}: {:?}", d.crossings);
                }
                let undone = w[0].along_m == 0.0
                    && w[1].along_m < network::GRAZE_MERGE_M
                    && w[1].from == w[0].to
                    && w[1].to == w[0].from;
                assert!(!undone, "{p:?}: {:?}", d.crossings);
            }
        }
        assert!(checked > 2_000 && leg > 100, "{checked} {leg}");
    }

    /// The per-line precomputation gives what walking the whole path gives.
    #[test]
    fn prepared_summary_equals_the_full_walk() {
        let analyzer = Analyzer::new(reference());
        let mut rng = StdRng::seed_from_u64(0xD0_5EED);
        let mut with_crossings = 0;
        for _ in 0..1_500 {
            let p = [rng.random_range(60.0..78.0), rng.random_range(38.0..47.0)];
            let hit = nearest::nearest(&analyzer.rivers.metric, p, f64::INFINITY).unwrap();
            let start_country = analyzer.snap_country(&hit, None);
            let locate = |q: [f64; 2]| analyzer.locate(q);
            let walk = analyzer
                .network
                .walk(hit.segment, hit.closest.point, hit.closest.along_m);
            let full =
                network::crossings(&walk, &analyzer.borders, start_country.as_deref(), locate);
            let fast = analyzer.network.summary(
                &analyzer.borders,
                hit.segment,
                hit.closest.point,
                hit.closest.along_m,
                start_country.as_deref(),
                locate,
            );
            let key = |c: &network::Crossing| (c.border_id.clone(), c.from.clone(), c.to.clone());
            assert_eq!(
                fast.crossings.iter().map(key).collect::<Vec<_>>(),
                full.iter().map(key).collect::<Vec<_>>(),
                "{p:?}"
            );
            for (a, b) in fast.crossings.iter().zip(&full) {
                assert!(
                    (a.along_m - b.along_m).abs() < 1.0,
                    "{p:?}: {} vs {}",
                    a.along_m,
                    b.along_m
                );
            }
            with_crossings += usize::from(!full.is_empty());
            let waters = analyzer.network.water_bodies_on(&walk);
            let ids = |w: &[network::WaterPass]| w.iter().map(|x| x.id.clone()).collect::<Vec<_>>();
            assert_eq!(ids(&fast.water_bodies), ids(&waters), "{p:?}");
            assert_eq!(fast.end, walk.end);
            assert!(
                (fast.length_m - walk.along_m.last().unwrap()).abs() < 1.0,
                "{p:?}"
            );
        }
        assert!(
            with_crossings > 50,
            "only {with_crossings} walks crossed a border"
        );
    }

    /// A HydroRIVERS-style layer brings its own topology and lengths (NEXT_DOWN, LENGTH_KM).
    #[test]
    fn hydrorivers_topology_is_used_as_stated() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hydrorivers");
        let paths = crate::reference::LayerPaths::in_dir(std::path::Path::new("/nonexistent"))
            .with_overrides(&dir.join("layers.json"))
            .unwrap();
        let reference = crate::io::layers::load_reference(&paths).unwrap();
        let analyzer = Analyzer::new(&reference);
        assert_eq!(analyzer.network_report().reversed, 0);
        let p = analyzer.proximity(10.3, 10.82, Some("KGZ"));
        let d = p.downstream.expect("snaps to reach 101");
        assert_eq!(d.river_id, "101", "a reach is known by its HYRIV_ID");
        assert_eq!(p.river.as_ref().unwrap().id, "101");
        assert_eq!(d.countries, vec!["KGZ", "UZB"]);
        assert_eq!(d.terminal_water_body.as_deref(), Some("Test Lake"));
        // Along the stated lengths: all of reach 101 (30 km), then 4/7 of reach 102 (80 km) to the
        // border at lon 11 (fractions measured along the drawn line, close to 4/7 here).
        let border_km = d.downstream_border_km.unwrap();
        assert!(
            (border_km - (30.0 + 80.0 * 4.0 / 7.0)).abs() < 1.0,
            "{border_km}"
        );
        // Reach 104 ends by reach 102's start but states it is an outlet: it does not join.
        let q = analyzer.proximity(10.55, 10.31, Some("KGZ"));
        let d = q.downstream.unwrap();
        assert_eq!(d.countries, vec!["KGZ"]);
        assert!(d.crossings.is_empty());
        // The walk starts ~1.1 km (of 33 km drawn) along the reach, so ~96.6 % of its stated 10 km remain.
        assert!((d.length_km - 9.66).abs() < 0.1, "{}", d.length_km);
    }

    #[test]
    fn network_is_assembled_and_reported() {
        let analyzer = Analyzer::new(reference());
        let r = analyzer.network_report();
        assert_eq!(
            r.lines,
            r.joined + r.ends_in_water_body + r.leaves_mapped_area + r.unjoined_ends
        );
        assert!(r.joined > r.lines / 2, "{r:?}");
        assert!(r.ends_in_water_body > 0, "{r:?}");
    }

    #[test]
    fn country_grid_agrees_with_the_ray_cast_on_real_polygons() {
        let analyzer = Analyzer::new(reference());
        let mut rng = StdRng::seed_from_u64(0xC0DE);
        for _ in 0..20_000 {
            let p = [rng.random_range(54.0..83.0), rng.random_range(33.0..51.0)];
            let expected = analyzer.countries.containing(p).first().copied();
            let got = match analyzer.countries.locate(p, 0.0) {
                CountryMatch::Inside(c) => analyzer.countries.index_of(&c),
                _ => None,
            };
            assert_eq!(got, expected, "{p:?}");
        }
        // And along the real borders, where the short ray cast decides.
        let borders = &analyzer.borders.geometries;
        for _ in 0..20_000 {
            let Some(geo::Geometry::LineString(l)) =
                borders.get(rng.random_range(0..borders.len()))
            else {
                continue;
            };
            let c = l.0[rng.random_range(0..l.0.len())];
            let p = [
                c.x + rng.random_range(-0.05..0.05),
                c.y + rng.random_range(-0.05..0.05),
            ];
            let expected = analyzer.countries.containing(p).first().copied();
            let got = match analyzer.countries.locate(p, 0.0) {
                CountryMatch::Inside(c) => analyzer.countries.index_of(&c),
                _ => None,
            };
            assert_eq!(got, expected, "{p:?}");
        }
    }

    #[test]
    fn points_of_the_basin_find_their_country() {
        let analyzer = Analyzer::new(reference());
        // Osh (KGZ), Khujand (TJK), Tashkent (UZB), Shymkent (KAZ), and the Shardara reservoir's water,
        // which the OSM land polygons leave out.
        for (lon, lat, iso3) in [
            (72.80, 40.53, "KGZ"),
            (69.63, 40.28, "TJK"),
            (69.24, 41.31, "UZB"),
            (69.60, 42.32, "KAZ"),
        ] {
            let p = analyzer.proximity(lon, lat, None);
            assert_eq!(p.country.as_deref(), Some(iso3), "{lon},{lat}");
            assert_eq!(p.country_match, "inside");
        }
        let far = analyzer.proximity(10.0, 10.0, None);
        assert_eq!((far.country, far.country_match), (None, "none"));
    }
}
