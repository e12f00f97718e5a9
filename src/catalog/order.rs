//! `sortby`: the features a selection matches, in the order of one or more properties.
//!
//! Order: numbers by value, texts by their Unicode code points, `risk_class` by severity (`low` …
//! `very_high`), and a feature without the property (null) last whichever the direction, so
//! `-risk_score` starts with the highest score. Ties keep the collection's order, so paging through
//! a sorted result is stable. The number matched is the length of the one list of matches: no
//! second pass. Each key is read once into a typed column (numbers as integers in the order of
//! `f64::total_cmp`, nulls last); a short page is kept in a buffer of twice its length as the rows
//! go by, a long one partitioned from the rest; only the page is fully sorted.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use crate::model::SiteValue;
use crate::schema::{ANALYSIS_FIELDS, FieldType, RISK_FIELDS, SITE_FIELDS};

use super::sites::{SiteRecord, SiteTable};
use super::sorted::SORT_ORDER_MIN;
use super::time::TimeRange;
use super::{Collection, FeatureRef, Features, Selection};

/// One key of a `sortby`: a property, ascending or descending.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortKey {
    pub property: String,
    pub descending: bool,
}

/// Why a `sortby` cannot be used on a collection.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SortError {
    #[error("{0:?} is not a sortable property of this collection; sortable: {1}")]
    Unknown(String, String),
    #[error("{0:?} holds lists or objects, which have no order")]
    NotScalar(String),
    #[error("{0}")]
    Syntax(String),
}

/// Parses `sortby`: comma-separated properties, each optionally prefixed by `+` (ascending, the
/// default) or `-` (descending). A `+` sent unencoded arrives as a space, and is read as one.
pub fn parse_sortby(value: &str) -> Result<Vec<SortKey>, SortError> {
    let mut keys: Vec<SortKey> = Vec::new();
    for part in value.split(',') {
        let t = part.trim_start();
        let (descending, name) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(SortError::Syntax(format!(
                "{value:?} has an empty key; write properties separated by commas, each with an \
                 optional + or - (e.g. -risk_score,+name)"
            )));
        }
        if keys.iter().any(|k| k.property == name) {
            return Err(SortError::Syntax(format!("{name:?} is given twice")));
        }
        keys.push(SortKey {
            property: name.to_owned(),
            descending,
        });
    }
    Ok(keys)
}

/// Where a site's sort value is read from.
#[derive(Debug, Clone, Copy)]
enum SiteKey {
    Id,
    Site(usize),
    Analysis(usize),
    Risk(usize),
}

fn site_key(name: &str) -> Result<SiteKey, SortError> {
    if name == "id" {
        return Ok(SiteKey::Id);
    }
    let (key, ty) = if let Some(i) = SITE_FIELDS.iter().position(|f| f.name == name) {
        (SiteKey::Site(i), SITE_FIELDS[i].ty)
    } else if let Some(i) = ANALYSIS_FIELDS.iter().position(|f| f.name == name) {
        (SiteKey::Analysis(i), ANALYSIS_FIELDS[i].ty)
    } else if let Some(i) = RISK_FIELDS.iter().position(|f| f.name == name) {
        (SiteKey::Risk(i), RISK_FIELDS[i].ty)
    } else {
        return Err(SortError::Unknown(name.to_owned(), sortable_site_fields()));
    };
    match ty {
        FieldType::Text | FieldType::CountryCode | FieldType::Number => Ok(key),
        FieldType::TextList | FieldType::Object => Err(SortError::NotScalar(name.to_owned())),
    }
}

fn sortable_site_fields() -> String {
    let names: Vec<&str> = std::iter::once("id")
        .chain(
            SITE_FIELDS
                .iter()
                .chain(crate::schema::computed_fields())
                .filter(|f| !matches!(f.ty, FieldType::TextList | FieldType::Object))
                .map(|f| f.name),
        )
        .collect();
    names.join(", ")
}

/// A value as it sorts.
#[derive(Debug, Clone, PartialEq)]
enum Key<'a> {
    Null,
    Num(f64),
    Text(Cow<'a, str>),
}

impl Key<'_> {
    fn cmp_present(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Key::Num(a), Key::Num(b)) => a.total_cmp(b),
            (Key::Text(a), Key::Text(b)) => a.cmp(b),
            // A property that holds numbers in some features and text in others: numbers first.
            (Key::Num(_), Key::Text(_)) => Ordering::Less,
            (Key::Text(_), Key::Num(_)) => Ordering::Greater,
            _ => Ordering::Equal,
        }
    }

    /// `self` against `other` for a key in direction `descending`; null last either way.
    fn cmp_for(&self, other: &Self, descending: bool) -> Ordering {
        match (self, other) {
            (Key::Null, Key::Null) => Ordering::Equal,
            (Key::Null, _) => Ordering::Greater,
            (_, Key::Null) => Ordering::Less,
            _ if descending => other.cmp_present(self),
            _ => self.cmp_present(other),
        }
    }
}

fn from_json(v: Option<&Value>) -> Key<'_> {
    match v {
        Some(Value::Number(n)) => n.as_f64().map_or(Key::Null, Key::Num),
        Some(Value::String(s)) => Key::Text(Cow::Borrowed(s)),
        Some(Value::Bool(b)) => Key::Num(f64::from(u8::from(*b))),
        _ => Key::Null,
    }
}

fn site_field(r: &SiteRecord, i: usize) -> Key<'_> {
    match r.site.values()[i] {
        SiteValue::Text(t) => Key::Text(Cow::Borrowed(t)),
        SiteValue::Number(n) if n.is_finite() => Key::Num(n),
        _ => Key::Null,
    }
}

/// The analysis field that reads the site's declared country; the others do without it (and
/// turning the site's code into text cost more than reading a distance).
const COUNTRY_CHECK: &str = "country_check";

fn analysis_field(fields: crate::analysis::SiteFields<'_>, i: usize) -> Key<'_> {
    match fields.value(i) {
        crate::analysis::Field::Text(t) => Key::Text(t),
        crate::analysis::Field::Number(n) if n.is_finite() => Key::Num(n),
        _ => Key::Null,
    }
}

/// The column of `key` for the sites at `rows`. The key is looked at once, not for every site: each
/// arm is a loop of its own (`f` inlined), so reading one value from each of 100,000 records (a cache
/// miss each) overlaps the misses instead of calling through a match per record.
fn site_column<'a>(
    records: &'a [SiteRecord],
    rows: &[usize],
    key: SiteKey,
    descending: bool,
) -> Column<'a> {
    fn each<'a>(
        records: &'a [SiteRecord],
        rows: &[usize],
        descending: bool,
        f: impl Fn(&'a SiteRecord) -> Key<'a>,
    ) -> Column<'a> {
        column(rows.iter().map(|&i| f(&records[i])), descending, rows.len())
    }
    let (r, d) = (records, descending);
    match key {
        SiteKey::Id => each(r, rows, d, |s| Key::Text(Cow::Borrowed(s.site.id.as_str()))),
        SiteKey::Site(i) => each(r, rows, d, |s| site_field(s, i)),
        SiteKey::Analysis(i) if ANALYSIS_FIELDS[i].name == COUNTRY_CHECK => {
            each(r, rows, d, |s| analysis_field(s.fields(), i))
        }
        SiteKey::Analysis(i) => each(r, rows, d, |s| analysis_field(s.analysis.fields(None), i)),
        // hazard_score, risk_score, risk_class (by severity), toxicity_class.
        SiteKey::Risk(0) => each(r, rows, d, |s| Key::Num(s.risk.hazard())),
        SiteKey::Risk(1) => each(r, rows, d, |s| Key::Num(s.risk.score())),
        SiteKey::Risk(2) => each(r, rows, d, |s| Key::Num(f64::from(s.risk.class as u8))),
        SiteKey::Risk(3) => each(r, rows, d, |s| {
            Key::Text(Cow::Borrowed(s.risk.toxicity.as_str()))
        }),
        SiteKey::Risk(_) => each(r, rows, d, |_| Key::Null),
    }
}

impl Collection {
    /// Whether any feature of this (reference or risk) collection has property `name`.
    fn layer_has(&self, name: &str) -> bool {
        name == "id" || self.iter().any(|f| f.property(name).is_some())
    }

    /// Checks `keys` against this collection's properties.
    pub fn check_sortby(&self, keys: &[SortKey]) -> Result<(), SortError> {
        for k in keys {
            match &self.features {
                Features::Sites(_) => {
                    site_key(&k.property)?;
                }
                Features::Layer(t) => {
                    if !self.layer_has(&k.property) {
                        let mut names: Vec<&str> = vec!["id"];
                        for f in &t.features {
                            for name in f.properties.keys() {
                                if !names.contains(&name.as_str()) {
                                    names.push(name);
                                }
                            }
                        }
                        return Err(SortError::Unknown(k.property.clone(), names.join(", ")));
                    }
                }
            }
        }
        Ok(())
    }

    /// As [`Collection::page`], for sites only those whose current version was written in
    /// `datetime` (other collections have no time, and it selects all of them), in the order of
    /// `keys` (the collection's own order when empty).
    pub fn page_sorted(
        &self,
        selection: &Selection,
        keys: &[SortKey],
        datetime: Option<&TimeRange>,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<usize>), SortError> {
        let datetime = datetime.filter(|_| matches!(self.features, Features::Sites(_)));
        if keys.is_empty() && datetime.is_none() {
            return Ok(self.page(selection, offset, limit));
        }
        self.check_sortby(keys)?;
        if let Features::Sites(t) = &self.features
            && !keys.is_empty()
            && t.len() >= SORT_ORDER_MIN
            && let Some(page) = sites_by_order(self, t, selection, keys, datetime, offset, limit)?
        {
            return Ok(page);
        }
        let mut matched = self.select(selection);
        if let (Some(range), Features::Sites(t)) = (datetime, &self.features) {
            let records = t.records();
            matched.retain(|&i| range.contains(records[i].updated));
        }
        let n = matched.len();
        if keys.is_empty() {
            let rows = matched.into_iter().skip(offset).take(limit).collect();
            return Ok((n, rows));
        }
        // Each key's values are read once, into a column; the rows are then compared by index.
        let columns: Vec<Column<'_>> = match &self.features {
            Features::Sites(t) => {
                let records = t.records();
                keys.iter()
                    .map(|k| {
                        let key = site_key(&k.property)?;
                        Ok(site_column(records, &matched, key, k.descending))
                    })
                    .collect::<Result<_, SortError>>()?
            }
            Features::Layer(_) => keys
                .iter()
                .map(|k| {
                    let values =
                        matched
                            .iter()
                            .map(|&i| match (k.property.as_str(), self.get(i)) {
                                (_, None) => Key::Null,
                                ("id", Some(f)) => Key::Text(Cow::Borrowed(f.id())),
                                (p, Some(FeatureRef::Layer(l))) => from_json(l.properties.get(p)),
                                (_, Some(FeatureRef::Site(_))) => Key::Null,
                            });
                    column(values, k.descending, n)
                })
                .collect(),
        };
        // `matched` is ascending, so ties broken by index into it are ties broken by position.
        debug_assert!(matched.windows(2).all(|w| w[0] < w[1]));
        let rows = top(&columns, n, offset, limit)
            .into_iter()
            .map(|j| matched[j])
            .collect();
        Ok((n, rows))
    }
}

/// A page of sorted sites read along the table's kept order for `keys` (built here on first use):
/// a slice of it when every site is selected, else a walk along it through the matches, which stops
/// once the page is full. `None` when the selection matches too few sites for that to pay (sorting
/// the matches is then cheaper than walking the whole order).
fn sites_by_order(
    c: &Collection,
    t: &SiteTable,
    selection: &Selection,
    keys: &[SortKey],
    datetime: Option<&TimeRange>,
    offset: usize,
    limit: usize,
) -> Result<Option<(usize, Vec<usize>)>, SortError> {
    let records = t.records();
    let n = records.len();
    let site_keys = keys
        .iter()
        .map(|k| site_key(&k.property))
        .collect::<Result<Vec<_>, _>>()?;
    let everything = datetime.is_none()
        && selection.bbox.is_none()
        && selection.filters.is_empty()
        && selection.filter.is_none();
    let matched = if everything {
        None
    } else {
        let mut matched = c.select(selection);
        if let Some(range) = datetime {
            matched.retain(|&i| range.contains(records[i].updated));
        }
        if matched.len() < n / 16 {
            return Ok(None);
        }
        Some(matched)
    };
    let order = t.sort_orders().get(keys, || {
        let all: Vec<usize> = (0..n).collect();
        let columns: Vec<Column<'_>> = keys
            .iter()
            .zip(&site_keys)
            .map(|(k, &key)| site_column(records, &all, key, k.descending))
            .collect();
        top(&columns, n, 0, n)
            .into_iter()
            .map(|i| i as u32)
            .collect()
    });
    let Some(matched) = matched else {
        let start = offset.min(n);
        let end = start.saturating_add(limit).min(n);
        return Ok(Some((
            n,
            order[start..end].iter().map(|&i| i as usize).collect(),
        )));
    };
    let mut selected = vec![false; n];
    for &i in &matched {
        selected[i] = true;
    }
    let rows = order
        .iter()
        .map(|&i| i as usize)
        .filter(|&i| selected[i])
        .skip(offset)
        .take(limit)
        .collect();
    Ok(Some((matched.len(), rows)))
}

/// A null in a numeric column: after every number, whichever the direction.
const NULL_LAST: u64 = u64::MAX;

/// `x` as an integer in the order of [`f64::total_cmp`], reversed when `descending`. The values
/// sorted are finite (the catalog publishes no NaN and JSON holds none), and no finite number maps
/// to [`NULL_LAST`] in either direction.
fn num_key(x: f64, descending: bool) -> u64 {
    let bits = x.to_bits();
    let up = if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    };
    if descending { !up } else { up }
}

/// The number [`num_key`] made `k` from.
fn num_of(k: u64, descending: bool) -> f64 {
    let up = if descending { !k } else { k };
    f64::from_bits(if up >> 63 == 1 { up & !(1 << 63) } else { !up })
}

/// One sort key's values for the matched rows, in the rows' order.
enum Column<'a> {
    /// Every value a number or null: [`num_key`]s in the key's direction, null as [`NULL_LAST`].
    Num(Vec<u64>),
    /// Texts, or numbers and texts mixed (a layer's property may hold both).
    Keys(Vec<Key<'a>>, bool),
}

impl Column<'_> {
    fn cmp(&self, a: usize, b: usize) -> Ordering {
        match self {
            Column::Num(v) => v[a].cmp(&v[b]),
            Column::Keys(v, descending) => v[a].cmp_for(&v[b], *descending),
        }
    }
}

/// Reads `values` (`len` of them) into a column: numbers as integers until a text shows up, then
/// every value as a [`Key`].
fn column<'a>(
    mut values: impl Iterator<Item = Key<'a>>,
    descending: bool,
    len: usize,
) -> Column<'a> {
    let mut nums = Vec::with_capacity(len);
    while let Some(v) = values.next() {
        match v {
            Key::Null => nums.push(NULL_LAST),
            Key::Num(x) => nums.push(num_key(x, descending)),
            Key::Text(_) => {
                let mut keys = Vec::with_capacity(len);
                keys.extend(nums.iter().map(|&k| match k {
                    NULL_LAST => Key::Null,
                    k => Key::Num(num_of(k, descending)),
                }));
                keys.push(v);
                keys.extend(values);
                return Column::Keys(keys, descending);
            }
        }
    }
    Column::Num(nums)
}

/// The indices (into the columns) of `[offset, offset + limit)` in the order of `columns`, ties
/// by index. Each row travels with its first column's integer when that column is numeric, so
/// most comparisons read no column at all; a single numeric key sorts plain `(u64, usize)` pairs.
fn top(columns: &[Column<'_>], len: usize, offset: usize, limit: usize) -> Vec<usize> {
    let end = offset.saturating_add(limit).min(len);
    if offset >= end {
        return Vec::new();
    }
    let (lead, rest): (Option<&[u64]>, &[Column<'_>]) = match columns.split_first() {
        Some((Column::Num(lead), rest)) => (Some(lead), rest),
        _ => (None, columns),
    };
    let rows = (0..len).map(|i| (lead.map_or(0, |l| l[i]), i));
    let page = if rest.is_empty() {
        first(rows, len, offset, end, Ord::cmp)
    } else {
        first(rows, len, offset, end, |a, b| {
            a.0.cmp(&b.0)
                .then_with(|| {
                    rest.iter()
                        .map(|c| c.cmp(a.1, b.1))
                        .find(|o| o.is_ne())
                        .unwrap_or(Ordering::Equal)
                })
                .then(a.1.cmp(&b.1))
        })
    };
    page.into_iter().map(|(_, i)| i).collect()
}

/// Items `[offset, end)` of the `len` `items` in the order `cmp` (a total order), sorted;
/// `offset < end <= len`.
///
/// A short page (the first pages, as a client asks for them) is kept in a buffer of at most twice
/// its length: an item is looked at further only if it comes before the last one kept, so most
/// take one comparison and none is copied. A long one is partitioned from the rest of a full copy.
fn first<T: Copy>(
    items: impl Iterator<Item = T>,
    len: usize,
    offset: usize,
    end: usize,
    mut cmp: impl FnMut(&T, &T) -> Ordering,
) -> Vec<T> {
    if end > len / 16 {
        let mut all: Vec<T> = items.collect();
        partial_sort(&mut all, offset, end, cmp);
        return all;
    }
    let mut kept: Vec<T> = Vec::with_capacity(2 * end);
    let mut last: Option<T> = None;
    for item in items {
        if last.is_some_and(|l| cmp(&item, &l).is_ge()) {
            continue;
        }
        kept.push(item);
        if kept.len() == 2 * end {
            kept.select_nth_unstable_by(end - 1, &mut cmp);
            kept.truncate(end);
            last = Some(kept[end - 1]);
        }
    }
    partial_sort(&mut kept, offset, end, cmp);
    kept
}

/// Leaves `rows[offset..end]` of the order `cmp` (a total order) in `rows`, sorted: everything
/// before `end` is partitioned from everything after it, then the first `offset` are dropped, and
/// only the page is sorted.
fn partial_sort<T>(
    rows: &mut Vec<T>,
    offset: usize,
    end: usize,
    mut cmp: impl FnMut(&T, &T) -> Ordering,
) {
    if end < rows.len() {
        rows.select_nth_unstable_by(end, &mut cmp);
        rows.truncate(end);
    }
    if offset > 0 {
        rows.select_nth_unstable_by(offset, &mut cmp);
        rows.drain(..offset);
    }
    rows.sort_unstable_by(cmp);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sortby_syntax() {
        let k = parse_sortby("-risk_score, name,+country").unwrap();
        let got: Vec<(&str, bool)> = k
            .iter()
            .map(|k| (k.property.as_str(), k.descending))
            .collect();
        assert_eq!(
            got,
            [("risk_score", true), ("name", false), ("country", false)]
        );
        // `+name` unencoded in a query string arrives as ` name`.
        assert_eq!(parse_sortby(" name").unwrap()[0].property, "name");
        assert!(parse_sortby("name,").is_err());
        assert!(parse_sortby("-").is_err());
        assert!(parse_sortby("name,-name").is_err());
    }

    #[test]
    fn nulls_sort_last_both_ways() {
        let (a, b, n) = (Key::Num(1.0), Key::Num(2.0), Key::Null);
        assert_eq!(a.cmp_for(&b, false), Ordering::Less);
        assert_eq!(a.cmp_for(&b, true), Ordering::Greater);
        assert_eq!(n.cmp_for(&a, false), Ordering::Greater);
        assert_eq!(n.cmp_for(&a, true), Ordering::Greater);
    }

    /// The page of a partial sort is the page of a full stable sort, for every offset and limit.
    #[test]
    fn the_page_is_the_page_of_a_full_sort() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let values: Vec<Option<i32>> = (0..300)
            .map(|_| rng.random_bool(0.8).then(|| rng.random_range(0..40)))
            .collect();
        let key = |v: &Option<i32>| v.map_or(Key::Null, |x| Key::Num(f64::from(x)));
        let mut full: Vec<usize> = (0..values.len()).collect();
        full.sort_by(|&a, &b| key(&values[a]).cmp_for(&key(&values[b]), true));
        let columns = [column(values.iter().map(key), true, values.len())];
        assert!(matches!(columns[0], Column::Num(_)));
        for (offset, limit) in [
            (0, 10),
            (3, 15),
            (7, 0),
            (0, 0),
            (5, 17),
            (290, 50),
            (0, 1000),
            (299, 1),
            (400, 5),
        ] {
            let page = top(&columns, values.len(), offset, limit);
            let expected: Vec<usize> = full.iter().skip(offset).take(limit).copied().collect();
            assert_eq!(page, expected, "offset {offset} limit {limit}");
        }
    }

    /// Several keys, texts, nulls and a column mixing numbers and texts: every page is the page of
    /// a full stable sort by the keys compared one by one.
    #[test]
    fn several_keys_sort_as_a_full_stable_sort() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(1313);
        let words = ["alpha", "beta", "Beta", "gamma", "Ürgüp", ""];
        let n = 500;
        let mut random_key = |kind: u8| -> Key<'static> {
            match (kind, rng.random_range(0..10)) {
                (_, 0) => Key::Null,
                // Few distinct numbers, negative and signed zeros among them: many ties.
                (0, _) => Key::Num([-2.5, -0.0, 0.0, 1.0, 1e9, -1e-9][rng.random_range(0..6)]),
                (1, _) => Key::Text(Cow::Borrowed(words[rng.random_range(0..words.len())])),
                (_, k) if k < 5 => Key::Num(f64::from(rng.random_range(0..3))),
                _ => Key::Text(Cow::Owned(format!("t{}", rng.random_range(0..3)))),
            }
        };
        // A numeric, a text and a mixed column.
        let rows: Vec<[Key<'static>; 3]> = (0..n)
            .map(|_| [random_key(0), random_key(1), random_key(2)])
            .collect();
        for order in [[0, 1, 2], [1, 0, 2], [2, 0, 1], [2, 1, 0], [0, 2, 1]] {
            for directions in [
                [false, false, false],
                [true, false, true],
                [true, true, true],
            ] {
                let columns: Vec<Column<'_>> = order
                    .iter()
                    .zip(directions)
                    .map(|(&c, d)| column(rows.iter().map(|r| r[c].clone()), d, n))
                    .collect();
                assert!(matches!(
                    columns[order.iter().position(|&c| c == 0).unwrap()],
                    Column::Num(_)
                ));
                let mut full: Vec<usize> = (0..n).collect();
                full.sort_by(|&a, &b| {
                    order
                        .iter()
                        .zip(directions)
                        .map(|(&c, d)| rows[a][c].cmp_for(&rows[b][c], d))
                        .find(|o| o.is_ne())
                        .unwrap_or(Ordering::Equal)
                });
                for (offset, limit) in [(0, 7), (2, 20), (13, 40), (0, n), (n - 3, 10), (250, 1)] {
                    let page = top(&columns, n, offset, limit);
                    let expected: Vec<usize> =
                        full.iter().skip(offset).take(limit).copied().collect();
                    assert_eq!(
                        page, expected,
                        "{order:?} {directions:?} offset {offset} limit {limit}"
                    );
                }
            }
        }
    }

    /// The integer keys order as `total_cmp` in both directions, stay clear of the null, and give
    /// the number back.
    #[test]
    fn number_keys_keep_the_order_of_numbers() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut xs = vec![
            0.0,
            -0.0,
            f64::MIN,
            f64::MAX,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            1e-310,
        ];
        xs.extend(
            (0..2000)
                .map(|_| rng.random_range(-1e6..1e6) * 10f64.powi(rng.random_range(-300..300))),
        );
        for &a in &xs {
            for d in [false, true] {
                assert_ne!(num_key(a, d), NULL_LAST);
                assert_eq!(num_of(num_key(a, d), d).to_bits(), a.to_bits());
            }
        }
        for w in xs.windows(2) {
            let (a, b) = (w[0], w[1]);
            assert_eq!(
                num_key(a, false).cmp(&num_key(b, false)),
                a.total_cmp(&b),
                "{a} {b}"
            );
            assert_eq!(
                num_key(a, true).cmp(&num_key(b, true)),
                b.total_cmp(&a),
                "{a} {b}"
            );
        }
    }

    /// Sorting reads the analysis fields without the declared country, but `country_check`:
    /// every other field must be the same without it.
    #[test]
    fn only_country_check_reads_the_declared_country() {
        let c = seed_collection();
        let Features::Sites(t) = &c.features else {
            panic!("sites")
        };
        let (mut same, mut differs) = (0, 0);
        for r in t.records() {
            for (i, f) in ANALYSIS_FIELDS.iter().enumerate() {
                let with = r.fields().value(i);
                let without = r.analysis.fields(None).value(i);
                if f.name == COUNTRY_CHECK {
                    differs += usize::from(with != without);
                } else {
                    assert_eq!(with, without, "{} {}", r.site.id, f.name);
                    same += 1;
                }
            }
        }
        // The name is the field's, and it does read the country.
        assert!(same > 0 && differs > 0, "{same} {differs}");
    }

    fn seed_collection() -> Collection {
        use crate::service::test_sites::{reference, seed_sites};
        let analyzer = crate::analysis::Analyzer::new(reference());
        let interner = crate::model::Interner::new();
        let model = crate::risk::RiskModel::default_model();
        let records = seed_sites()
            .into_iter()
            .map(|site| {
                let analysis = analyzer.site_record(&site, &interner);
                SiteRecord {
                    risk: crate::risk::SiteRisk::of(&model, &site, &analysis),
                    analysis,
                    site,
                    revision: Some(1),
                    updated: None,
                }
            })
            .collect();
        Collection::from_records(records)
    }

    #[test]
    fn sites_sort_by_typed_fields() {
        let c = seed_collection();
        let sel = Selection::default();
        let k = |s: &str| parse_sortby(s).unwrap();
        let (n, rows) = c
            .page_sorted(&sel, &k("-risk_score,id"), None, 0, 5)
            .unwrap();
        assert_eq!(n, c.len());
        let scores: Vec<f64> = rows
            .iter()
            .map(|&i| {
                c.get(i)
                    .unwrap()
                    .property("risk_score")
                    .unwrap()
                    .as_f64()
                    .unwrap()
            })
            .collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        let max = c
            .iter()
            .map(|f| f.property("risk_score").unwrap().as_f64().unwrap())
            .fold(f64::MIN, f64::max);
        assert_eq!(scores[0], max);
        let (_, by_name) = c
            .page_sorted(&sel, &k("name"), None, 0, usize::MAX)
            .unwrap();
        let names: Vec<String> = by_name
            .iter()
            .map(|&i| {
                c.get(i)
                    .unwrap()
                    .property("name")
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(matches!(
            c.page_sorted(&sel, &k("colour"), None, 0, 5),
            Err(SortError::Unknown(..))
        ));
        assert!(matches!(
            c.page_sorted(&sel, &k("sources"), None, 0, 5),
            Err(SortError::NotScalar(_))
        ));
    }

    /// A table large enough to keep sort orders: the seed sites many times over, with ties (the
    /// copies share their risk) and nulls (every third volume is missing).
    fn large_collection() -> Collection {
        let Features::Sites(t) = &seed_collection().features else {
            unreachable!()
        };
        let copies = SORT_ORDER_MIN.div_ceil(t.len()) + 1;
        let mut records = Vec::new();
        for k in 0..copies {
            for r in t.records() {
                let mut r = r.clone();
                r.site.id = crate::model::SiteId::parse(&format!("{}-{k}", r.site.id)).unwrap();
                let j = records.len();
                r.site.quantities.volume_m3 =
                    (j % 3 != 0).then(|| ((j * 7919) % 1000) as f64 * 1.0e3);
                records.push(r);
            }
        }
        Collection::from_records(records)
    }

    /// The page a stable sort of every match by its JSON properties gives.
    fn reference_page(
        c: &Collection,
        selection: &Selection,
        keys: &[SortKey],
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<usize>) {
        let mut matched = c.select(selection);
        let props: Vec<Vec<Option<Value>>> = (0..c.len())
            .map(|i| {
                let f = c.get(i).unwrap();
                keys.iter()
                    .map(|k| match k.property.as_str() {
                        "id" => Some(Value::String(f.id().to_owned())),
                        p => f.property(p),
                    })
                    .collect()
            })
            .collect();
        matched.sort_by(|&a, &b| {
            keys.iter()
                .enumerate()
                .map(|(j, k)| {
                    from_json(props[a][j].as_ref())
                        .cmp_for(&from_json(props[b][j].as_ref()), k.descending)
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        let n = matched.len();
        (n, matched.into_iter().skip(offset).take(limit).collect())
    }

    #[test]
    fn pages_read_from_a_kept_order_are_those_of_a_sort_of_the_matches() {
        let mut c = large_collection();
        assert!(c.len() >= SORT_ORDER_MIN);
        let all = Selection::default();
        let kgz = Selection {
            filters: vec![crate::catalog::PropertyFilter {
                property: "country".into(),
                value: "KGZ".into(),
            }],
            ..Default::default()
        };
        let few = Selection {
            bbox: Some(crate::index::BBox {
                west: 70.0,
                south: 40.0,
                east: 71.5,
                north: 41.0,
            }),
            ..Default::default()
        };
        let n_kgz = c.select(&kgz).len();
        assert!(n_kgz >= c.len() / 16 && n_kgz < c.len(), "{n_kgz}");
        assert!(c.select(&few).len() < c.len() / 16);
        let check = |c: &Collection| {
            for sortby in [
                "-risk_score",
                "volume_m3",
                "-volume_m3,name",
                "name,id",
                "-hazard_score",
            ] {
                let keys = parse_sortby(sortby).unwrap();
                for sel in [&all, &kgz, &few] {
                    for (offset, limit) in [(0, 10), (37, 100), (0, usize::MAX), (c.len() - 5, 10)]
                    {
                        let got = c.page_sorted(sel, &keys, None, offset, limit).unwrap();
                        let want = reference_page(c, sel, &keys, offset, limit);
                        assert_eq!(got, want, "{sortby} {sel:?} {offset} {limit}");
                    }
                }
            }
        };
        check(&c);
        // A change drops the kept orders: the changed site moves to where it now belongs.
        let Features::Sites(t) = &c.features else {
            unreachable!()
        };
        let mut changed = t.records()[5].clone();
        changed.site.quantities.volume_m3 = Some(9.9e12);
        c.put_site(changed.clone()).unwrap();
        let keys = parse_sortby("-volume_m3").unwrap();
        let (_, rows) = c.page_sorted(&all, &keys, None, 0, 1).unwrap();
        assert_eq!(c.get(rows[0]).unwrap().id(), changed.site.id.as_str());
        check(&c);
        let Features::Sites(t) = &mut c.features else {
            unreachable!()
        };
        t.remove(changed.site.id.as_str()).unwrap();
        let (_, rows) = c.page_sorted(&all, &keys, None, 0, 1).unwrap();
        assert_ne!(c.get(rows[0]).unwrap().id(), changed.site.id.as_str());
        check(&c);
    }
}
