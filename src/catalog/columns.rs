//! The sites' queryable values as columns, built on first use and kept until the sites change: a
//! filter that reads `country` and `river_distance_m` then scans two dense arrays rather than
//! every record (each some hundred bytes apart in memory), as a database scans an index.
//!
//! A column holds one queryable of [`super::queryables::sites`]: numbers as `f64` (NaN for
//! null), texts as codes into a dictionary of the distinct values, timestamps as milliseconds.
//! Columns are built with [`site_value`], the same reader the filter uses on a record, so a filter
//! reads the same values either way (tested).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::filter::{
    ColumnRef, Columns as FilterColumns, FilterRecord, FilterValue, NULL_CODE, QueryableType,
};

use super::SiteRecord;
use super::queryables::{site_value, sites};

/// One queryable's values, a site a slot.
#[derive(Debug)]
pub(super) enum Column {
    Num(Vec<f64>),
    Text {
        codes: Vec<u32>,
        values: Vec<String>,
    },
    Time(Vec<Option<i64>>),
}

impl Column {
    fn build(records: &[SiteRecord], field: usize) -> Column {
        match sites()[field].ty {
            QueryableType::String => {
                let mut dictionary: HashMap<String, u32> = HashMap::new();
                let mut values = Vec::new();
                let codes = records
                    .iter()
                    .map(|r| match site_value(r, field) {
                        FilterValue::Str(t) => {
                            if let Some(&c) = dictionary.get(t.as_ref()) {
                                return c;
                            }
                            let c = values.len() as u32;
                            dictionary.insert(t.to_string(), c);
                            values.push(t.into_owned());
                            c
                        }
                        _ => NULL_CODE,
                    })
                    .collect();
                Column::Text { codes, values }
            }
            QueryableType::Timestamp | QueryableType::Date => Column::Time(
                records
                    .iter()
                    .map(|r| match site_value(r, field) {
                        FilterValue::Time(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => Column::Num(
                records
                    .iter()
                    .map(|r| match site_value(r, field) {
                        FilterValue::Num(n) => n,
                        _ => f64::NAN,
                    })
                    .collect(),
            ),
        }
    }

    fn value(&self, i: usize) -> FilterValue<'_> {
        match self {
            Column::Num(v) => match v[i] {
                n if n.is_nan() => FilterValue::Null,
                n => FilterValue::Num(n),
            },
            Column::Text { codes, values } => match codes[i] {
                NULL_CODE => FilterValue::Null,
                c => FilterValue::Str(Cow::Borrowed(&values[c as usize])),
            },
            Column::Time(v) => v[i].map_or(FilterValue::Null, FilterValue::Time),
        }
    }
}

/// The columns built so far, by queryable; emptied when a site changes.
#[derive(Debug, Default)]
pub(super) struct Columns {
    built: Mutex<HashMap<usize, Arc<Column>>>,
}

impl Columns {
    /// Forgets every column (the sites changed).
    pub(super) fn clear(&mut self) {
        self.built
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The columns of `fields`, built from `records` where missing.
    pub(super) fn get(&self, records: &[SiteRecord], fields: &[usize]) -> ColumnSet {
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        let n = sites().len();
        let mut cols = vec![None; n];
        for &f in fields.iter().filter(|&&f| f < n) {
            let c = built
                .entry(f)
                .or_insert_with(|| Arc::new(Column::build(records, f)));
            cols[f] = Some(c.clone());
        }
        ColumnSet(cols)
    }
}

/// The columns one filter reads, by queryable.
pub(super) struct ColumnSet(Vec<Option<Arc<Column>>>);

/// What [`crate::filter::Filter::eval_columns`] reads: a filter on these columns runs on all of
/// them at once.
impl FilterColumns for ColumnSet {
    fn column(&self, field: usize) -> Option<ColumnRef<'_>> {
        Some(match &**self.0.get(field)?.as_ref()? {
            Column::Num(v) => ColumnRef::Num(v),
            Column::Text { codes, values } => ColumnRef::Text { codes, values },
            Column::Time(v) => ColumnRef::Time(v),
        })
    }
}

/// Site `i` as a filter reads it, from the columns (and its record for the geometry).
pub(super) struct ColumnRow<'a> {
    pub columns: &'a ColumnSet,
    pub record: &'a SiteRecord,
    pub i: usize,
}

impl FilterRecord for ColumnRow<'_> {
    fn value(&self, field: usize) -> FilterValue<'_> {
        match self.columns.0.get(field) {
            Some(Some(c)) => c.value(self.i),
            // A field the filter was not compiled to read: from the record.
            _ => site_value(self.record, field),
        }
    }

    fn geometry(&self) -> Cow<'_, geo::Geometry<f64>> {
        Cow::Owned(geo::Geometry::Point(self.record.site.location.to_geo()))
    }
}
