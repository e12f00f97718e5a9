//! `sortby`: the features a selection matches, in the order of one or more properties.
//!
//! Order: numbers by value, texts by their Unicode code points, `risk_class` by severity (`low` …
//! `very_high`), and a feature without the property (null) last whichever the direction, so
//! `-risk_score` starts with the highest score. Ties keep the collection's order, so paging through
//! a sorted result is stable. The number matched is the length of the one list of matches: no
//! second pass. Only the page is fully sorted; the rest is partitioned around it.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use crate::model::SiteValue;
use crate::schema::{ANALYSIS_FIELDS, FieldType, RISK_FIELDS, SITE_FIELDS};

use super::sites::SiteRecord;
use super::time::TimeRange;
use super::{Collection, FeatureRef, Features, Selection};

/// One key of a `sortby`: a property, ascending or descending.
#[derive(Debug, Clone, PartialEq, Eq)]
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

fn site_value(r: &SiteRecord, key: SiteKey) -> Key<'_> {
    match key {
        SiteKey::Id => Key::Text(Cow::Borrowed(r.site.id.as_str())),
        SiteKey::Site(i) => match r.site.values()[i] {
            SiteValue::Text(t) => Key::Text(Cow::Borrowed(t)),
            SiteValue::Number(n) if n.is_finite() => Key::Num(n),
            _ => Key::Null,
        },
        SiteKey::Analysis(i) => match r.fields().value(i) {
            crate::analysis::Field::Text(t) => Key::Text(t),
            crate::analysis::Field::Number(n) if n.is_finite() => Key::Num(n),
            _ => Key::Null,
        },
        // hazard_score, risk_score, risk_class (by severity), toxicity_class.
        SiteKey::Risk(0) => Key::Num(r.risk.hazard()),
        SiteKey::Risk(1) => Key::Num(r.risk.score()),
        SiteKey::Risk(2) => Key::Num(r.risk.class as u8 as f64),
        SiteKey::Risk(3) => Key::Text(Cow::Borrowed(r.risk.toxicity.as_str())),
        SiteKey::Risk(_) => Key::Null,
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
        let rows = match &self.features {
            Features::Sites(t) => {
                let ks: Vec<SiteKey> = keys
                    .iter()
                    .map(|k| site_key(&k.property))
                    .collect::<Result<_, _>>()?;
                let records = t.records();
                let keyed = matched.into_iter().map(|i| {
                    let r = &records[i];
                    (i, ks.iter().map(|&k| site_value(r, k)).collect::<Vec<_>>())
                });
                top(keyed, keys, offset, limit)
            }
            Features::Layer(_) => {
                let feats: Vec<FeatureRef<'_>> =
                    matched.iter().filter_map(|&i| self.get(i)).collect();
                let keyed = matched.iter().zip(&feats).map(|(&i, f)| {
                    let values = keys
                        .iter()
                        .map(|k| match (k.property.as_str(), f) {
                            ("id", _) => Key::Text(Cow::Borrowed(f.id())),
                            (p, FeatureRef::Layer(l)) => from_json(l.properties.get(p)),
                            (_, FeatureRef::Site(_)) => Key::Null,
                        })
                        .collect::<Vec<_>>();
                    (i, values)
                });
                top(keyed, keys, offset, limit)
            }
        };
        Ok((n, rows))
    }
}

/// The positions of `[offset, offset + limit)` in the order of `keys`, ties by position.
fn top<'a>(
    keyed: impl Iterator<Item = (usize, Vec<Key<'a>>)>,
    keys: &[SortKey],
    offset: usize,
    limit: usize,
) -> Vec<usize> {
    let mut all: Vec<(usize, Vec<Key<'a>>)> = keyed.collect();
    let cmp = |a: &(usize, Vec<Key<'a>>), b: &(usize, Vec<Key<'a>>)| {
        keys.iter()
            .zip(a.1.iter().zip(&b.1))
            .map(|(k, (x, y))| x.cmp_for(y, k.descending))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
            .then(a.0.cmp(&b.0))
    };
    if offset >= all.len() {
        return Vec::new();
    }
    let end = offset.saturating_add(limit).min(all.len());
    // Everything before `end` comes before everything after it, then the page alone is sorted.
    if end < all.len() {
        all.select_nth_unstable_by(end, cmp);
        all.truncate(end);
    }
    if offset > 0 {
        all.select_nth_unstable_by(offset, cmp);
        all.drain(..offset);
    }
    all.sort_unstable_by(cmp);
    all.into_iter().map(|(i, _)| i).collect()
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
        let keys = [SortKey {
            property: "v".into(),
            descending: true,
        }];
        let key = |v: &Option<i32>| v.map_or(Key::Null, |x| Key::Num(f64::from(x)));
        let mut full: Vec<usize> = (0..values.len()).collect();
        full.sort_by(|&a, &b| key(&values[a]).cmp_for(&key(&values[b]), true));
        for (offset, limit) in [(0, 10), (5, 17), (290, 50), (0, 1000), (299, 1), (400, 5)] {
            let keyed = values.iter().enumerate().map(|(i, v)| (i, vec![key(v)]));
            let page = top(keyed, &keys, offset, limit);
            let expected: Vec<usize> = full.iter().skip(offset).take(limit).copied().collect();
            assert_eq!(page, expected, "offset {offset} limit {limit}");
        }
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
}
