//! The published inventory: each site as a typed record (its attributes and the typed results of its
//! analysis), with the indexes the queries answer from. Nothing is kept as JSON; the writers in
//! [`super::json`] format a record when it is asked for.
//!
//! Indexes, all updated in place as sites change:
//! - a point R-tree (bbox pages and k-nearest queries);
//! - the sites ordered by their published distance to the nearest border (near-border queries);
//! - for each text queryable, a column of small codes, one per site, so an equality filter scans
//!   four bytes a site rather than the records.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::analysis::nearest::PointIndex;
use crate::analysis::{AnalysisRecord, SiteFields};
use crate::model::{Site, SiteValue};
use crate::risk::SiteRisk;
use crate::schema::{ANALYSIS_FIELDS, FieldType, RISK_FIELDS, SITE_FIELDS};

use super::{PropertyFilter, Selection};
use crate::filter::Filter;

/// One published site: what the store holds, the typed results of its analysis, and its version.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRecord {
    pub site: Site,
    pub analysis: AnalysisRecord,
    /// Its risk score, from the site and its analysis.
    pub risk: SiteRisk,
    /// The number of the site's latest version in the store (its ETag); `None` without a store.
    pub revision: Option<i64>,
    /// When that version was written (what `datetime` matches); `None` without a store.
    pub updated: Option<chrono::DateTime<chrono::Utc>>,
}

impl SiteRecord {
    /// The analysis as flat fields; the declared country is the site's.
    pub fn fields(&self) -> SiteFields<'_> {
        self.analysis.fields(Some(self.site.country.as_str()))
    }

    /// `[lon, lat]`.
    pub fn point(&self) -> [f64; 2] {
        [self.site.location.lon(), self.site.location.lat()]
    }

    /// The risk fields' values, in schema order.
    pub fn risk_values(&self) -> [Value; RISK_FIELDS.len()] {
        self.risk.values(&self.site, &self.analysis)
    }

    /// Every property, as a map (HTML pages and exports through GDAL; the GeoJSON writers do
    /// without).
    pub fn properties(&self) -> Map<String, Value> {
        let mut p = self.site.properties();
        p.extend(self.fields().to_map());
        p.extend(
            RISK_FIELDS
                .iter()
                .map(|f| f.name.to_owned())
                .zip(self.risk_values()),
        );
        p
    }

    /// One property by name, if the schema has it.
    pub fn property(&self, key: &str) -> Option<Value> {
        if let Some(i) = SITE_FIELDS.iter().position(|f| f.name == key) {
            return Some(self.site.value(i).to_value());
        }
        if let Some(i) = ANALYSIS_FIELDS.iter().position(|f| f.name == key) {
            return Some(self.fields().value(i).to_value());
        }
        let i = RISK_FIELDS.iter().position(|f| f.name == key)?;
        Some(self.risk_values()[i].clone())
    }

    /// The GeoJSON Feature, as served.
    pub fn geojson(&self) -> String {
        let mut out = Vec::with_capacity(2048);
        super::json::write_feature(&mut out, self);
        // The writer emits JSON text only, so always UTF-8.
        String::from_utf8(out).unwrap_or_default()
    }
}

/// A text queryable's values as codes: equal texts (ignoring ASCII case, as the filters compare)
/// share one code.
#[derive(Debug)]
struct Column {
    /// The field's position in [`SITE_FIELDS`].
    field: usize,
    codes: Vec<u32>,
    dictionary: HashMap<String, u32>,
}

/// The code of a value that is not text (null): never equal to a filter's value.
const NO_TEXT: u32 = u32::MAX;

impl Column {
    fn code_of(&mut self, v: SiteValue<'_>) -> u32 {
        let SiteValue::Text(t) = v else {
            return NO_TEXT;
        };
        let key = t.to_ascii_lowercase();
        let next = self.dictionary.len() as u32;
        *self.dictionary.entry(key).or_insert(next)
    }

    fn lookup(&self, value: &str) -> Option<u32> {
        self.dictionary.get(&value.to_ascii_lowercase()).copied()
    }
}

/// The sites collection's features and indexes.
#[derive(Debug)]
pub struct SiteTable {
    records: Vec<SiteRecord>,
    by_id: HashMap<String, u32>,
    points: PointIndex,
    /// (published border distance as ordered bits, position).
    by_border_m: BTreeSet<(u64, u32)>,
    columns: Vec<Column>,
    /// The queryables filters read, as columns, until the sites change.
    filter_columns: super::columns::Columns,
    /// Every site in the order of a `sortby`, per `sortby`, until the sites change.
    sort_orders: super::sorted::SortOrders,
    /// [`SiteTable::fingerprint`], kept up to date by every change.
    fingerprint: u64,
}

/// One site's part of [`SiteTable::fingerprint`]: its id and store version. `DefaultHasher::new`
/// hashes the same in every process of one build, so every replica of the service computes the
/// same value for the same sites.
fn record_hash(r: &SiteRecord) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    r.site.id.as_str().hash(&mut h);
    r.revision.hash(&mut h);
    h.finish()
}

/// A non-negative distance as bits that sort as the numbers do.
fn distance_key(m: f64) -> u64 {
    m.max(0.0).to_bits()
}

impl SiteTable {
    /// Indexes `records` (kept in the order given).
    pub fn new(records: Vec<SiteRecord>) -> Self {
        let points: Vec<[f64; 2]> = records.iter().map(SiteRecord::point).collect();
        let columns = SITE_FIELDS
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                f.queryable && matches!(f.ty, FieldType::Text | FieldType::CountryCode)
            })
            .map(|(field, _)| Column {
                field,
                codes: Vec::with_capacity(records.len()),
                dictionary: HashMap::new(),
            })
            .collect();
        let mut table = SiteTable {
            by_id: HashMap::with_capacity(records.len()),
            points: PointIndex::new(&points),
            by_border_m: BTreeSet::new(),
            columns,
            filter_columns: Default::default(),
            sort_orders: Default::default(),
            fingerprint: 0,
            records: Vec::new(),
        };
        for (i, r) in records.iter().enumerate() {
            table.fingerprint = table.fingerprint.wrapping_add(record_hash(r));
            table.by_id.insert(r.site.id.to_string(), i as u32);
            Self::index_secondary(&mut table.by_border_m, &mut table.columns, r, i as u32);
        }
        table.records = records;
        table
    }

    fn index_secondary(
        by_border_m: &mut BTreeSet<(u64, u32)>,
        columns: &mut [Column],
        r: &SiteRecord,
        i: u32,
    ) {
        if let Some(d) = r.analysis.border_distance_m() {
            by_border_m.insert((distance_key(d), i));
        }
        let values = r.site.values();
        for c in columns {
            let code = c.code_of(values[c.field]);
            match c.codes.get_mut(i as usize) {
                Some(slot) => *slot = code,
                None => c.codes.push(code),
            }
        }
    }

    fn unindex_border(&mut self, r: &SiteRecord, i: u32) {
        if let Some(d) = r.analysis.border_distance_m() {
            self.by_border_m.remove(&(distance_key(d), i));
        }
    }

    /// The number of sites.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Every record, in the collection's order.
    pub fn records(&self) -> &[SiteRecord] {
        &self.records
    }

    /// The record at position `i`.
    pub fn get(&self, i: usize) -> Option<&SiteRecord> {
        self.records.get(i)
    }

    /// Identifies the published sites by their ids and store versions, whatever the order they
    /// were published in: two processes that publish the same versions of the same sites (two
    /// replicas on one store) have the same fingerprint, so validators derived from it agree.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The orders of the sites kept for `sortby`s.
    pub(super) fn sort_orders(&self) -> &super::sorted::SortOrders {
        &self.sort_orders
    }

    /// The position of the site with this id.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).map(|&i| i as usize)
    }

    /// The site with this id.
    pub fn record(&self, id: &str) -> Option<&SiteRecord> {
        self.position(id).map(|i| &self.records[i])
    }

    /// Publishes `record`, replacing the site with its id; returns its position.
    pub fn put(&mut self, record: SiteRecord) -> usize {
        self.filter_columns.clear();
        self.sort_orders.clear();
        self.fingerprint = self.fingerprint.wrapping_add(record_hash(&record));
        match self.position(record.site.id.as_str()) {
            Some(i) => {
                let old = std::mem::replace(&mut self.records[i], record);
                self.fingerprint = self.fingerprint.wrapping_sub(record_hash(&old));
                self.points.remove(old.point(), i);
                self.unindex_border(&old, i as u32);
                let new = &self.records[i];
                self.points.insert(new.point(), i);
                Self::index_secondary(&mut self.by_border_m, &mut self.columns, new, i as u32);
                i
            }
            None => {
                let i = self.records.len();
                self.points.insert(record.point(), i);
                self.by_id.insert(record.site.id.to_string(), i as u32);
                Self::index_secondary(&mut self.by_border_m, &mut self.columns, &record, i as u32);
                self.records.push(record);
                i
            }
        }
    }

    /// Withdraws a site; the last site takes its place, so positions stay dense.
    pub fn remove(&mut self, id: &str) -> Option<SiteRecord> {
        let i = self.by_id.remove(id)? as usize;
        self.filter_columns.clear();
        self.sort_orders.clear();
        let last = self.records.len() - 1;
        let point = self.records[i].point();
        self.points.remove(point, i);
        let removed = self.records.swap_remove(i);
        self.fingerprint = self.fingerprint.wrapping_sub(record_hash(&removed));
        self.unindex_border(&removed, i as u32);
        for c in &mut self.columns {
            c.codes.swap_remove(i);
        }
        if i != last {
            // The former last site now sits at `i`.
            let moved = &self.records[i];
            self.points.remove(moved.point(), last);
            self.points.insert(moved.point(), i);
            if let Some(d) = moved.analysis.border_distance_m() {
                self.by_border_m.remove(&(distance_key(d), last as u32));
                self.by_border_m.insert((distance_key(d), i as u32));
            }
            self.by_id.insert(moved.site.id.to_string(), i as u32);
        }
        Some(removed)
    }

    /// Rebuilds the point R-tree in one bulk load (after many changes at once).
    pub fn rebuild_points(&mut self) {
        let points: Vec<[f64; 2]> = self.records.iter().map(SiteRecord::point).collect();
        self.points = PointIndex::new(&points);
    }

    /// Whether site `i` passes a filter on a field without a code column.
    fn passes(&self, i: usize, filter: &PropertyFilter) -> bool {
        self.records[i]
            .property(&filter.property)
            .is_some_and(|v| filter.matches_value(&v))
    }

    /// The codes a filter on a code column compares with (`None`: the column has no such value,
    /// so nothing matches), or the filter if it has no column.
    fn compile<'f>(&self, filters: &'f [PropertyFilter]) -> Option<Compiled<'f>> {
        let mut coded = Vec::new();
        let mut other = Vec::new();
        for f in filters {
            match self
                .columns
                .iter()
                .position(|c| SITE_FIELDS[c.field].name == f.property)
            {
                Some(ci) => coded.push((ci, self.columns[ci].lookup(&f.value)?)),
                None => other.push(f),
            }
        }
        Some(Compiled { coded, other })
    }

    /// The matching positions in `candidates` (ascending), counted, with those in
    /// `[offset, offset + limit)` kept: one pass, and nothing allocated per match outside the page.
    /// Many candidates and a predicate costlier than the code columns (a CQL2 filter, a filter on
    /// a field without a column) are split into chunks tested in parallel, each keeping only the
    /// matches that can still fall in the page.
    fn scan(
        &self,
        candidates: Candidates,
        filters: &[PropertyFilter],
        filter: Option<&Filter>,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<usize>) {
        let Some(compiled) = self.compile(filters) else {
            return (0, Vec::new());
        };
        let n = candidates.len();
        // A long scan reads the values the filter needs from columns (built once per state of the
        // sites); a short one, say a small bbox, reads its few records rather than build them.
        let values = filter
            .filter(|_| n >= PARALLEL_SCAN_MIN)
            .map(|f| self.filter_columns.get(&self.records, &f.properties()));
        // On columns, the filter runs on every site at once where it can (one loop per term).
        let truth = filter
            .zip(values.as_ref())
            .and_then(|(f, columns)| f.eval_columns(columns, self.records.len()));
        let ok = |i: usize| {
            compiled
                .coded
                .iter()
                .all(|&(ci, code)| self.columns[ci].codes[i] == code)
                && compiled.other.iter().all(|f| self.passes(i, f))
                && filter.is_none_or(|f| match (&truth, &values) {
                    (Some(truth), _) => truth.is_true(i),
                    (None, Some(columns)) => f.matches(&super::columns::ColumnRow {
                        columns,
                        record: &self.records[i],
                        i,
                    }),
                    (None, None) => f.matches(&super::queryables::SiteRow(&self.records[i])),
                })
        };
        // Every site and the filter alone, decided on the columns: the count and the page come
        // straight from its bits.
        if let (Some(truth), Candidates::All(_), true, true) = (
            &truth,
            &candidates,
            compiled.coded.is_empty(),
            compiled.other.is_empty(),
        ) {
            let page = truth.true_rows().skip(offset).take(limit).collect();
            return (truth.count_true(), page);
        }
        let costly = (filter.is_some() && truth.is_none()) || !compiled.other.is_empty();
        if !costly || n < PARALLEL_SCAN_MIN {
            return page_of(candidates.iter().filter(|&i| ok(i)), offset, limit);
        }
        use rayon::prelude::*;
        let keep = offset.saturating_add(limit);
        let chunks: Vec<(usize, Vec<usize>)> = (0..n.div_ceil(SCAN_CHUNK))
            .into_par_iter()
            .map(|c| {
                let (mut count, mut rows) = (0, Vec::new());
                for k in c * SCAN_CHUNK..n.min((c + 1) * SCAN_CHUNK) {
                    let i = candidates.get(k);
                    if ok(i) {
                        if rows.len() < keep {
                            rows.push(i);
                        }
                        count += 1;
                    }
                }
                (count, rows)
            })
            .collect();
        let (mut matched, mut page) = (0, Vec::new());
        for (count, rows) in chunks {
            // The chunk's j-th match is match number `matched + j` overall.
            let from = offset.saturating_sub(matched).min(rows.len());
            let room = limit - page.len();
            page.extend(rows[from..].iter().take(room));
            matched += count;
        }
        (matched, page)
    }

    /// How many sites `selection` matches, and the positions of those in `[offset, offset + limit)`.
    pub fn page(&self, selection: &Selection, offset: usize, limit: usize) -> (usize, Vec<usize>) {
        let filter = selection.filter.as_deref();
        let search = match selection.search_box() {
            super::SearchBox::Nothing => return (0, Vec::new()),
            super::SearchBox::All => None,
            super::SearchBox::Within(b) => Some(b),
        };
        match (search, selection.filters.is_empty() && filter.is_none()) {
            (None, true) => {
                let n = self.records.len();
                let start = offset.min(n);
                (n, (start..n.min(start.saturating_add(limit))).collect())
            }
            (None, false) => self.scan(
                Candidates::All(self.records.len()),
                &selection.filters,
                filter,
                offset,
                limit,
            ),
            (Some(b), _) => {
                let hits = self.points.in_bbox(&b);
                self.scan(
                    Candidates::Some(hits),
                    &selection.filters,
                    filter,
                    offset,
                    limit,
                )
            }
        }
    }

    /// Every position `selection` matches, ascending.
    pub fn select(&self, selection: &Selection) -> Vec<usize> {
        self.page(selection, 0, usize::MAX).1
    }

    /// The `k` sites nearest `p`, nearest first, with geodesic metres.
    pub fn nearest_k(&self, p: [f64; 2], k: usize) -> Vec<(usize, f64)> {
        self.points.nearest_k(p, k)
    }

    /// The positions of the sites whose published nearest-border distance is at most `max_m`,
    /// nearest first.
    pub fn within_border_m(&self, max_m: f64) -> impl Iterator<Item = usize> + '_ {
        let end = distance_key(max_m);
        self.by_border_m
            .range(..=(end, u32::MAX))
            .map(|&(_, i)| i as usize)
    }
}

/// Below this many candidates a costly scan runs on one thread.
const PARALLEL_SCAN_MIN: usize = 16_384;
/// The candidates one parallel task tests.
const SCAN_CHUNK: usize = 8_192;

/// The positions a scan tests, ascending.
enum Candidates {
    /// Every site: `0..n`.
    All(usize),
    Some(Vec<usize>),
}

impl Candidates {
    fn len(&self) -> usize {
        match self {
            Candidates::All(n) => *n,
            Candidates::Some(v) => v.len(),
        }
    }

    fn get(&self, k: usize) -> usize {
        match self {
            Candidates::All(_) => k,
            Candidates::Some(v) => v[k],
        }
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len()).map(|k| self.get(k))
    }
}

/// The number of `matches` and those in `[offset, offset + limit)`.
fn page_of(
    matches: impl Iterator<Item = usize>,
    offset: usize,
    limit: usize,
) -> (usize, Vec<usize>) {
    let mut matched = 0;
    let mut rows = Vec::new();
    for i in matches {
        if matched >= offset && rows.len() < limit {
            rows.push(i);
        }
        matched += 1;
    }
    (matched, rows)
}

/// Filters split into code comparisons and the rest.
struct Compiled<'f> {
    coded: Vec<(usize, u32)>,
    other: Vec<&'f PropertyFilter>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Analyzer;
    use crate::catalog::queryables::SiteRow;
    use crate::index::BBox;
    use crate::model::Interner;
    use crate::service::test_sites::{reference, seed_sites, seeded_sites};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn records(sites: Vec<Site>) -> Vec<SiteRecord> {
        let analyzer = Analyzer::new(reference());
        let interner = Interner::new();
        let model = crate::risk::RiskModel::default_model();
        sites
            .into_iter()
            .map(|site| {
                let analysis = analyzer.site_record(&site, &interner);
                SiteRecord {
                    risk: SiteRisk::of(&model, &site, &analysis),
                    analysis,
                    site,
                    revision: Some(1),
                    updated: None,
                }
            })
            .collect()
    }

    /// The writer gives byte for byte what serialising the properties as a JSON map gave, and the
    /// map is the site's properties followed by the analysis fields the analyzer reports.
    #[test]
    fn features_are_written_as_their_json_maps_serialise() {
        let analyzer = Analyzer::new(reference());
        let mut sites = seed_sites();
        sites.extend(seeded_sites(10_000, 7));
        for r in records(sites) {
            let geometry = geo::Geometry::Point(r.site.location.to_geo());
            let mut map = r.site.properties();
            map.extend(analyzer.site_analysis(&r.site));
            map.extend(
                RISK_FIELDS
                    .iter()
                    .map(|f| f.name.to_owned())
                    .zip(r.risk_values()),
            );
            assert_eq!(r.properties(), map, "{}", r.site.id);
            let old = super::super::feature_json(r.site.id.as_str(), &geometry, &map).unwrap();
            assert_eq!(r.geojson(), old.get(), "{}", r.site.id);
            for (k, v) in &map {
                assert_eq!(r.property(k).as_ref(), Some(v), "{} {k}", r.site.id);
            }
        }
    }

    fn naive(t: &SiteTable, s: &Selection) -> Vec<usize> {
        (0..t.len())
            .filter(|&i| {
                let r = &t.records()[i];
                let [x, y] = r.point();
                s.bbox.as_ref().is_none_or(|b| b.contains_point(x, y))
                    && s.filters
                        .iter()
                        .all(|f| r.property(&f.property).is_some_and(|v| f.matches_value(&v)))
            })
            .collect()
    }

    /// A scan split into parallel chunks gives the pages one thread gives: counts and rows.
    #[test]
    fn parallel_scans_page_as_one_thread_does() {
        let mut t = SiteTable::new(records(seeded_sites(
            PARALLEL_SCAN_MIN + 3 * SCAN_CHUNK / 2,
            21,
        )));
        let queryables = super::super::queryables::sites();
        let cql = crate::filter::compile(
            "river_distance_m < 40000 OR country = 'UZB'",
            crate::filter::FilterLang::Cql2Text,
            queryables,
            None,
        )
        .unwrap();
        let selections = [
            Selection {
                bbox: None,
                filters: vec![PropertyFilter {
                    property: "located_country".into(),
                    value: "KGZ".into(),
                }],
                filter: None,
            },
            Selection {
                bbox: None,
                filters: vec![],
                filter: Some(std::sync::Arc::new(cql)),
            },
            // A spatial term: evaluated row by row from the columns, not on them at once.
            Selection {
                bbox: None,
                filters: vec![],
                filter: Some(std::sync::Arc::new(
                    crate::filter::compile(
                        "(river_distance_m < 40000 OR country = 'UZB') OR \
                         S_INTERSECTS(geometry, BBOX(0, 0, 0.001, 0.001))",
                        crate::filter::FilterLang::Cql2Text,
                        queryables,
                        None,
                    )
                    .unwrap(),
                )),
            },
        ];
        let naive = |t: &SiteTable, s: &Selection| -> Vec<usize> {
            (0..t.len())
                .filter(|&i| {
                    let r = &t.records()[i];
                    s.filters
                        .iter()
                        .all(|f| r.property(&f.property).is_some_and(|v| f.matches_value(&v)))
                        && s.filter.as_ref().is_none_or(|f| f.matches(&SiteRow(r)))
                })
                .collect()
        };
        for s in &selections {
            let expected = naive(&t, s);
            // Matches in every chunk, and not all sites.
            for c in 0..t.len().div_ceil(SCAN_CHUNK) {
                assert!(expected.iter().any(|&i| i / SCAN_CHUNK == c), "chunk {c}");
            }
            assert!(
                expected.len() > 1_000 && expected.len() < t.len(),
                "{}",
                expected.len()
            );
            for (offset, limit) in [
                (0, 1),
                (0, 100),
                (5, 100),
                (SCAN_CHUNK - 3, 10),
                (expected.len() - 2, 100),
                (0, usize::MAX),
                (expected.len() + 5, 10),
            ] {
                let (matched, rows) = t.page(s, offset, limit);
                assert_eq!(matched, expected.len());
                let want: Vec<usize> = expected.iter().skip(offset).take(limit).copied().collect();
                assert_eq!(rows, want, "offset {offset} limit {limit}");
            }
        }
        // The columns a filter reads follow the sites: after changes, the same answers as the records.
        let moved: Vec<SiteRecord> = t.records()[..500].to_vec();
        for (k, mut r) in moved.into_iter().enumerate() {
            if k % 2 == 0 {
                r.site.country = t.records()[k + 1].site.country.clone();
                r.analysis = t.records()[k + 1].analysis.clone();
                t.put(r);
            } else {
                t.remove(r.site.id.as_str());
            }
        }
        let s = &selections[1];
        let expected = naive(&t, s);
        assert_eq!(t.page(s, 0, usize::MAX), (expected.len(), expected));
    }

    /// After seeded puts, moves and removes, every index answers as a scan of the records does.
    #[test]
    fn indexes_answer_as_a_scan_after_changes() {
        let all = records(seeded_sites(3_000, 11));
        let (first, rest) = all.split_at(2_000);
        let mut t = SiteTable::new(first.to_vec());
        let mut rng = StdRng::seed_from_u64(5);
        for r in rest {
            match rng.random_range(0..3) {
                0 => {
                    t.put(r.clone());
                }
                1 => {
                    // Replace an existing site with another's position and attributes.
                    let i = rng.random_range(0..t.len());
                    let mut moved = r.clone();
                    moved.site.id = t.records()[i].site.id.clone();
                    t.put(moved);
                }
                _ => {
                    let i = rng.random_range(0..t.len());
                    let id = t.records()[i].site.id.to_string();
                    assert!(t.remove(&id).is_some());
                    assert!(t.record(&id).is_none());
                }
            }
        }
        for (i, r) in t.records().iter().enumerate() {
            assert_eq!(t.position(r.site.id.as_str()), Some(i));
        }
        let filter = |k: &str, v: &str| PropertyFilter {
            property: k.into(),
            value: v.into(),
        };
        let selections = [
            Selection::default(),
            Selection {
                bbox: Some(BBox::new(65.0, 40.0, 70.0, 43.0).unwrap()),
                filters: vec![],
                filter: None,
            },
            Selection {
                bbox: Some(BBox::new(65.0, 40.0, 70.0, 43.0).unwrap()),
                filters: vec![filter("country", "kaz"), filter("kind", "tailings")],
                filter: None,
            },
            Selection {
                bbox: None,
                filters: vec![filter("status", "legacy")],
                filter: None,
            },
            Selection {
                bbox: None,
                filters: vec![filter("country", "FRA")],
                filter: None,
            },
            Selection {
                bbox: None,
                filters: vec![filter("located_country", "KGZ")],
                filter: None,
            },
        ];
        for s in &selections {
            let expected = naive(&t, s);
            assert_eq!(t.select(s), expected, "{s:?}");
            let (matched, rows) = t.page(s, 10, 25);
            assert_eq!(matched, expected.len(), "{s:?}");
            assert_eq!(
                rows,
                expected
                    .iter()
                    .skip(10)
                    .take(25)
                    .copied()
                    .collect::<Vec<_>>()
            );
        }
        assert!(!t.select(&selections[2]).is_empty());
        for max_m in [0.0, 2_000.0, 25_000.0] {
            let mut got: Vec<usize> = t.within_border_m(max_m).collect();
            got.sort_unstable();
            let expected: Vec<usize> = (0..t.len())
                .filter(|&i| {
                    t.records()[i]
                        .analysis
                        .border_distance_m()
                        .is_some_and(|d| d <= max_m)
                })
                .collect();
            assert_eq!(got, expected, "{max_m}");
        }
        for p in [[70.0, 41.0], [64.0, 44.5]] {
            let got = t.nearest_k(p, 15);
            let mut all: Vec<(usize, f64)> = t
                .records()
                .iter()
                .enumerate()
                .map(|(i, r)| (i, crate::geodesy::distance_m(p, r.point())))
                .collect();
            all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            all.truncate(15);
            assert_eq!(got, all);
        }
    }
}
