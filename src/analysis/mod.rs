//! Transboundary exposure of a point or a site: the country it lies in, its nearest river and its
//! nearest international border, all in geodesic metres on WGS 84.
//!
//! Built once from the reference layers ([`Analyzer::new`]); queries are read-only and run in
//! parallel with rayon.

pub mod country;
pub mod fields;
pub mod nearest;
pub mod network;
pub mod reaches;
mod record;
mod results;
pub mod runout;

use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::index::{self, SegmentIndex};
use crate::model::{Interner, Iso3, Site};
use crate::reference::{RefLayer, ReferenceData};
use country::{CountryLocator, CountryMatch};
pub use fields::{Field, SiteFields};
pub use record::{AnalysisRecord, BorderHit, DownstreamRecord, FirstCrossing, RiverHit};
pub use results::{
    Assessment, CountryCheck, CountryMatchKind, Downstream, DownstreamStatus, DrainageConfidence,
    NearestBorder, NearestRiver, Proximity, UNKNOWN_COUNTRY,
};

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
    /// Each line's two sides (`iso3_left`, `iso3_right`), where they are valid ISO3 codes.
    sides: Vec<(Option<Iso3>, Option<Iso3>)>,
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
                .map(|f| {
                    let code = |key| text(f, key).and_then(|c| Iso3::parse(&c, "iso3").ok());
                    (code("iso3_left"), code("iso3_right"))
                })
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
    fn sides(&self, feature: usize) -> Option<(&Iso3, &Iso3)> {
        match &self.sides[feature] {
            (Some(l), Some(r)) => Some((l, r)),
            _ => None,
        }
    }
}

/// The prepared reference layers.
#[derive(Debug)]
pub struct Analyzer {
    rivers: LineSet,
    /// The main rivers (named Natural Earth lines, GSHHG levels 1–2), and each one's index in
    /// `rivers` (`None` for a main river that is not among the rivers).
    main_rivers: LineSet,
    main_to_river: Vec<Option<usize>>,
    /// Per river line, whether it is a main river.
    river_is_main: Vec<bool>,
    borders: LineSet,
    countries: CountryLocator,
    network: network::RiverNetwork,
    /// The border lines of each pair of countries (sorted ISO3 codes), indexed on first use.
    border_pairs: std::sync::OnceLock<BorderPairs>,
    /// Sites farther than this from every river get no downstream result.
    snap_limit_m: f64,
    /// The runout screening's coefficients.
    runout: runout::RunoutModel,
    /// The network cut into reaches, made on first use.
    reaches: std::sync::OnceLock<reaches::ReachGraph>,
}

/// Builds an [`Analyzer`]: the reference layers, and the settings users may change.
///
/// ```no_run
/// # use tailings_atlas::analysis::{Analyzer, runout::RunoutModel};
/// # let reference = tailings_atlas::reference::ReferenceData::default();
/// let analyzer = Analyzer::builder(&reference)
///     .snap_limit_m(50_000.0)
///     .runout(RunoutModel::default())
///     .build();
/// ```
#[derive(Debug)]
pub struct AnalyzerBuilder<'a> {
    reference: &'a ReferenceData,
    snap_limit_m: f64,
    runout: runout::RunoutModel,
}

impl AnalyzerBuilder<'_> {
    /// Sites farther than this from every river get no downstream result (default
    /// [`DEFAULT_SNAP_LIMIT_M`]).
    pub fn snap_limit_m(mut self, snap_limit_m: f64) -> Self {
        self.snap_limit_m = snap_limit_m;
        self
    }

    /// The runout screening's coefficients (default: the shipped `config/runout.json`).
    pub fn runout(mut self, runout: runout::RunoutModel) -> Self {
        self.runout = runout;
        self
    }

    /// Prepares rivers (canals excluded: they are not natural drainage), borders and countries.
    pub fn build(self) -> Analyzer {
        let mut analyzer = Analyzer::prepare(self.reference);
        analyzer.snap_limit_m = self.snap_limit_m;
        analyzer.runout = self.runout;
        analyzer
    }
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

/// The key of a pair of countries: both codes, in order.
fn pair_key(a: &Iso3, b: &Iso3) -> (Iso3, Iso3) {
    if a <= b {
        (a.clone(), b.clone())
    } else {
        (b.clone(), a.clone())
    }
}

/// Border segments grouped by the two countries they separate.
type BorderPairs = std::collections::HashMap<(Iso3, Iso3), nearest::MetricIndex>;

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
    /// An analyzer over `reference` with the default settings; see [`Analyzer::builder`].
    pub fn new(reference: &ReferenceData) -> Self {
        Analyzer::builder(reference).build()
    }

    /// Starts building an analyzer over `reference`.
    pub fn builder(reference: &ReferenceData) -> AnalyzerBuilder<'_> {
        AnalyzerBuilder {
            reference,
            snap_limit_m: DEFAULT_SNAP_LIMIT_M,
            runout: runout::RunoutModel::default(),
        }
    }

    fn prepare(reference: &ReferenceData) -> Self {
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
                    || LineSet::new(layer("rivers"), |p| !is_canal(p)),
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
        let main_to_river: Vec<Option<usize>> = main_rivers
            .ids
            .iter()
            .map(|id| by_id.get(id.as_str()).copied())
            .collect();
        let mut river_is_main = vec![false; rivers.ids.len()];
        for &i in main_to_river.iter().flatten() {
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
            reaches: std::sync::OnceLock::new(),
            snap_limit_m: DEFAULT_SNAP_LIMIT_M,
            runout: runout::RunoutModel::default(),
        }
    }

    /// Sites farther than this from every river get no downstream result.
    pub fn snap_limit_m(&self) -> f64 {
        self.snap_limit_m
    }

    /// The geodesic distance (metres) from `p` to the border between countries `a` and `b` (in
    /// either order), if they share a mapped border within `max_m`: "how far is this site from
    /// Uzbekistan", where the nearest border of all may be another one.
    pub fn border_distance_between(
        &self,
        p: [f64; 2],
        a: &Iso3,
        b: &Iso3,
        max_m: f64,
    ) -> Option<f64> {
        let pairs = self.border_pairs.get_or_init(|| {
            let mut segments: std::collections::HashMap<(Iso3, Iso3), Vec<_>> = Default::default();
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

    /// The country a point lies in, or is nearest to within [`COUNTRY_TOLERANCE_M`].
    pub fn locate_country(&self, p: [f64; 2]) -> Option<Iso3> {
        match self.countries.locate(p, COUNTRY_TOLERANCE_M) {
            CountryMatch::Inside(c) | CountryMatch::Nearest(c, _) => Some(c),
            CountryMatch::None => None,
        }
    }

    /// River line `line`'s id and name (the lines of [`Analyzer::reaches`] and of network positions).
    pub fn river_line(&self, line: usize) -> (&str, Option<&str>) {
        (&self.rivers.ids[line], self.rivers.name(line))
    }

    /// The river network cut into reaches at confluences and border crossings (made on first use).
    pub fn reaches(&self) -> &reaches::ReachGraph {
        self.reaches.get_or_init(|| {
            let net = &self.network;
            reaches::ReachGraph::new(net, |line| {
                let Some(raw) = net.line_crossings(line) else {
                    return Vec::new();
                };
                let at = |a: f64| net.point_on_line(line, a.max(0.0));
                let start = self.locate_country(at(0.0));
                // Grazings merge by their distance along the river alone.
                network::orient(
                    raw.to_vec(),
                    &self.borders,
                    start.as_ref(),
                    |a| self.locate_country(at(a)),
                    |_, _| true,
                )
            })
        })
    }

    /// The exposure of one point; `own_country` (e.g. a site's declared country) decides the
    /// neighbour across the border when the point's polygon cannot.
    pub fn proximity(&self, lon: f64, lat: f64, own_country: Option<&Iso3>) -> Proximity {
        self.proximity_and_snap(lon, lat, own_country).0
    }

    /// [`Analyzer::proximity`] and the downstream path (the full walk, with along-river distances),
    /// when the point snaps to the network: one search for both.
    pub fn proximity_with_path(
        &self,
        lon: f64,
        lat: f64,
        own_country: Option<&Iso3>,
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
        own_country: Option<&Iso3>,
    ) -> (Proximity, Option<nearest::Hit>) {
        let p = [lon, lat];
        let located = self.countries.locate(p, COUNTRY_TOLERANCE_M);
        let (country, country_match, country_distance_m) = match located {
            CountryMatch::Inside(c) => (Some(c), CountryMatchKind::Inside, Some(0.0)),
            CountryMatch::Nearest(c, d) => (Some(c), CountryMatchKind::Nearest, Some(d)),
            CountryMatch::None => (None, CountryMatchKind::None, None),
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
        let own = country.as_ref().or(own_country);
        let (downstream, downstream_status) = match river_hit {
            None => (None, DownstreamStatus::NoRiverData),
            Some(h) if h.closest.distance_m > self.snap_limit_m => (
                None,
                DownstreamStatus::BeyondSnapLimit {
                    limit_m: self.snap_limit_m,
                    nearest_m: h.closest.distance_m,
                },
            ),
            Some(h) => (Some(self.snap(p, h)), DownstreamStatus::Ok),
        };
        let downstream = downstream.map(|hit| (hit, self.downstream(p, hit, own)));
        let border = nearest::nearest(&self.borders.metric, p, f64::INFINITY).map(|h| {
            let f = h.segment.feature;
            let (left, right) = &self.borders.sides[f];
            let neighbour_country = match own {
                Some(c) if Some(c) == left.as_ref() => right.clone(),
                Some(c) if Some(c) == right.as_ref() => left.clone(),
                _ => None,
            };
            NearestBorder {
                id: self.borders.ids[f].clone(),
                countries: [left.clone(), right.clone()],
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
        let main = nearest::nearest(&self.main_rivers.metric, p, self.snap_limit_m)
            .and_then(|h| Some((self.main_to_river[h.segment.feature]?, h)));
        match main {
            Some((feature, h)) => nearest::Hit {
                segment: index::SegmentRef {
                    feature,
                    ..h.segment
                },
                closest: h.closest,
            },
            None => nearest_hit,
        }
    }

    /// The country the water starts its mapped journey in: a regional snap can land across a border,
    /// so the snap point's country when it lies inside one (near one, it may be on a reservoir the
    /// polygons omit), else the site's own.
    fn snap_country(&self, hit: &nearest::Hit, own: Option<&Iso3>) -> Option<Iso3> {
        match self.countries.locate(hit.closest.point, 0.0) {
            CountryMatch::Inside(c) => Some(c),
            _ => own.cloned(),
        }
    }

    /// Where the straight (lon/lat) line from a site in `own` to its snap point in another country
    /// first enters another country's polygon (sampled every ~2 km, then by bisection to half a
    /// metre), and the border line there, if one is within 2 km of that point.
    fn leaving_point(
        &self,
        site: [f64; 2],
        snap: [f64; 2],
        own: &Iso3,
    ) -> ([f64; 2], Option<String>) {
        let at = |t: f64| {
            [
                site[0] + t * (snap[0] - site[0]),
                site[1] + t * (snap[1] - site[1]),
            ]
        };
        // Still in `own` until inside another country's polygon: a gap between the polygons (a
        // reservoir) is not taken for a border.
        let in_own = |t: f64| !matches!(self.countries.locate(at(t), 0.0), CountryMatch::Inside(c) if c != *own);
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
        own: Option<&Iso3>,
        hit: &nearest::Hit,
    ) -> Vec<network::Crossing> {
        let unseen = |current: Option<&Iso3>, c: &network::Crossing| matches!((current, c.from.as_ref()), (Some(a), Some(b)) if a != b);
        let mut current = own;
        if !crossings.iter().any(|c| {
            let gap = unseen(current, c);
            current = c.to.as_ref();
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
        let (mut current, mut since_m) = (own.cloned(), 0.0);
        for c in crossings {
            if unseen(current.as_ref(), &c)
                && let Some(entered) = c.from.as_ref()
            {
                // From where the water is still in `current` to where it is inside the polygon of
                // `entered` (a gap between the polygons is not yet `entered`).
                let is_in = |a: f64| {
                    matches!(
                        self.countries.locate(network::point_at(&walk, a), 0.0),
                        CountryMatch::Inside(c) if c == *entered
                    )
                };
                let hi = bisect(since_m, c.along_m, 30, is_in);
                out.push(network::Crossing {
                    border_id: None,
                    point: network::point_at(&walk, hi),
                    along_m: hi,
                    from: current.clone(),
                    to: Some(entered.clone()),
                });
            }
            current = c.to.clone();
            since_m = c.along_m;
            out.push(c);
        }
        out
    }

    fn downstream(&self, site: [f64; 2], hit: nearest::Hit, own: Option<&Iso3>) -> Downstream {
        let snap_country = self.snap_country(&hit, own);
        let summary = self.network.summary(
            &self.borders,
            hit.segment,
            hit.closest.point,
            hit.closest.along_m,
            snap_country.as_ref(),
            |p| self.locate_country(p),
        );
        // A snap into another country crosses a border before the river does: that crossing comes
        // first, or the first crossing reported would be one the water meets after it has already
        // left the site's country. One crossing, straight to the snap point's country: a straight
        // line is no evidence of the way the water takes through any country between.
        let crossings = match (own, snap_country.as_ref()) {
            (Some(own), Some(snapped)) if own != snapped => {
                let (point, border_id) = self.leaving_point(site, hit.closest.point, own);
                let mut river = summary.crossings;
                // A site beside a border river, snapped to a point just across the line, whose
                // river crosses back within GRAZE_MERGE_M: a grazing, dropped as two river
                // crossings would be.
                let back = river.first().is_some_and(|next| {
                    next.along_m < network::GRAZE_MERGE_M
                        && next.from.as_ref() == Some(snapped)
                        && next.to.as_ref() == Some(own)
                });
                if back {
                    river.remove(0);
                    river
                } else {
                    let mut all = vec![network::Crossing {
                        border_id,
                        point,
                        along_m: 0.0,
                        from: Some(own.clone()),
                        to: Some(snapped.clone()),
                    }];
                    all.extend(river);
                    all
                }
            }
            _ => summary.crossings,
        };
        let crossings = self.with_unseen_crossings(crossings, own, &hit);
        let mut countries: Vec<Option<Iso3>> = own.cloned().map(Some).into_iter().collect();
        // The crossings chain from `own`; where one could not be oriented (`None`: unknown), or
        // `own` is not known, the next crossing's upstream side names where the water is again.
        let steps = crossings.iter().flat_map(|c| {
            [c.from.clone().map(Some), Some(c.to.clone())]
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
            start: self.network.position(hit.segment, hit.closest.along_m),
            snap_distance_m: snap,
            drainage_confidence: DrainageConfidence::of_snap_m(snap),
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
            Some(&site.country),
            q.volume_m3,
            q.dam_height_m,
        )
    }

    /// The same fields for any point: `own_country` is the declared country, if known, and the
    /// quantities feed the runout screening.
    pub fn point_analysis(
        &self,
        p: [f64; 2],
        own_country: Option<&Iso3>,
        volume_m3: Option<f64>,
        dam_height_m: Option<f64>,
    ) -> Map<String, Value> {
        let a = self.assess(p, own_country, volume_m3, dam_height_m);
        AnalysisRecord::of(&a, &Interner::new())
            .fields(own_country.map(Iso3::as_str))
            .to_map()
    }

    /// One site's analysis as the catalog keeps it, its texts shared through `interner`.
    pub fn site_record(&self, site: &Site, interner: &Interner) -> AnalysisRecord {
        let q = &site.quantities;
        let a = self.assess(
            [site.location.lon(), site.location.lat()],
            Some(&site.country),
            q.volume_m3,
            q.dam_height_m,
        );
        AnalysisRecord::of(&a, interner)
    }

    /// A point's exposure and runout screening, from which [`Assessment::fields`] gives its flat fields.
    pub fn assess(
        &self,
        p: [f64; 2],
        own_country: Option<&Iso3>,
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

/// What tests across the analysis share.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::Analyzer;
    use std::sync::OnceLock;

    /// An analyzer over the default data.
    pub fn seed_analyzer() -> &'static Analyzer {
        static A: OnceLock<Analyzer> = OnceLock::new();
        A.get_or_init(|| {
            let reference = crate::io::layers::load_reference_dir(
                &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data"),
            )
            .unwrap();
            Analyzer::new(&reference)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geodesy;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::sync::OnceLock;

    fn iso(code: &str) -> Iso3 {
        Iso3::parse(code, "country").unwrap()
    }

    /// The declared country is checked against the polygon only where there is one to check.
    #[test]
    fn country_check_compares_with_the_declared_country() {
        let analyzer = Analyzer::new(reference());
        let check = |declared: Option<&str>| {
            let declared = declared.map(iso);
            analyzer.point_analysis([72.448, 41.246], declared.as_ref(), None, None)
                ["country_check"]
                .clone()
        };
        assert_eq!(check(Some("KGZ")), "matches");
        assert_eq!(check(Some("UZB")), "differs");
        assert_eq!(check(None), "not declared");
        // In the sea off Antarctica: no polygon to compare with.
        let far = analyzer.point_analysis([0.0, -70.0], Some(&iso("KGZ")), None, None);
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
                .and_then(|h| Some((analyzer.main_to_river[h.segment.feature]?, h)))
                .map_or(hit, |(feature, h)| nearest::Hit {
                    segment: index::SegmentRef {
                        feature,
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
        let analyzer = Analyzer::new(reference());
        let near = analyzer.proximity(72.448, 41.246, Some(&iso("KGZ")));
        assert_eq!(near.downstream_status.to_string(), "ok");
        let analyzer = Analyzer::builder(reference()).snap_limit_m(1_000.0).build();
        let far = analyzer.proximity(72.448, 41.246, Some(&iso("KGZ")));
        assert!(far.downstream.is_none());
        assert!(
            far.downstream_status
                .to_string()
                .starts_with("no river within 1 km"),
            "{}",
            far.downstream_status
        );
        let confidence = |m| DrainageConfidence::of_snap_m(m).as_str();
        assert_eq!(confidence(2_000.0), "direct");
        assert_eq!(confidence(2_000.1), "near");
        assert_eq!(confidence(15_000.1), "regional");
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
            let (a, b) = (&iso(a), &iso(b));
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
            assert!(!segments.is_empty(), "{a:?}-{b:?}");
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
                    "{p:?} {a:?}-{b:?}: {got} vs {brute}"
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
            analyzer.border_distance_between([70.0, 41.0], &iso("KGZ"), &iso("FRA"), 1e7),
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
            let (Some(own), Some(d)) = (prox.country.as_ref(), prox.downstream.as_ref()) else {
                continue;
            };
            checked += 1;
            assert_eq!(d.countries.first(), Some(&Some(own.clone())), "{p:?}");
            let Some(first) = d.crossings.first() else {
                continue;
            };
            assert_eq!(first.from.as_ref(), Some(own), "{p:?}: {:?}", d.crossings);
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
            let locate = |q: [f64; 2]| analyzer.locate_country(q);
            let walk = analyzer
                .network
                .walk(hit.segment, hit.closest.point, hit.closest.along_m);
            let full = network::crossings(&walk, &analyzer.borders, start_country.as_ref(), locate);
            let fast = analyzer.network.summary(
                &analyzer.borders,
                hit.segment,
                hit.closest.point,
                hit.closest.along_m,
                start_country.as_ref(),
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
        let p = analyzer.proximity(10.3, 10.82, Some(&iso("KGZ")));
        let d = p.downstream.expect("snaps to reach 101");
        assert_eq!(d.river_id, "101", "a reach is known by its HYRIV_ID");
        assert_eq!(p.river.as_ref().unwrap().id, "101");
        assert_eq!(d.countries_text(), "KGZ,UZB");
        assert_eq!(d.terminal_water_body.as_deref(), Some("Test Lake"));
        // Along the stated lengths: all of reach 101 (30 km), then 4/7 of reach 102 (80 km) to the
        // border at lon 11 (fractions measured along the drawn line, close to 4/7 here).
        let border_km = d.downstream_border_km.unwrap();
        assert!(
            (border_km - (30.0 + 80.0 * 4.0 / 7.0)).abs() < 1.0,
            "{border_km}"
        );
        // Reach 104 ends by reach 102's start but states it is an outlet: it does not join.
        let q = analyzer.proximity(10.55, 10.31, Some(&iso("KGZ")));
        let d = q.downstream.unwrap();
        assert_eq!(d.countries_text(), "KGZ");
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
            assert_eq!(
                p.country.as_ref().map(Iso3::as_str),
                Some(iso3),
                "{lon},{lat}"
            );
            assert_eq!(p.country_match.as_str(), "inside");
        }
        let far = analyzer.proximity(10.0, 10.0, None);
        assert_eq!((far.country, far.country_match.as_str()), (None, "none"));
    }
}
