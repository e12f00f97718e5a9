//! CQL2 filters (OGC API – Features Part 3): a `filter` in cql2-text or cql2-json, parsed by the
//! `cql2` crate, compiled once per request into a typed predicate over a collection's queryables, then
//! evaluated per feature.
//!
//! What is implemented (the conformance classes served at `/conformance`): basic CQL2 (comparisons,
//! `AND`/`OR`/`NOT`, `IS NULL`, dates and timestamps), advanced comparison (`LIKE`, `BETWEEN`, `IN`),
//! `CASEI` and `ACCENTI`, property-property comparisons, arithmetic (`+ - * / % ^ div`), and the
//! spatial functions (`S_INTERSECTS`, `S_WITHIN`, `S_CONTAINS`, `S_DISJOINT`, `S_EQUALS`,
//! `S_TOUCHES`, `S_OVERLAPS`, `S_CROSSES`, with points, lines, polygons, their multi-forms and
//! `BBOX`). Temporal functions (`T_*`) and array functions (`A_*`) are refused with a clear error.
//!
//! One extension: `S_DWITHIN(geometry, POINT(lon lat), 5000, meters)` — within a geodesic distance
//! on WGS 84 (metres or kilometres), decided in metres, never degrees (see [`spatial`]).
//!
//! Null semantics are the standard's: a comparison with a null is not true, and `NOT` of it is not
//! true either (three-valued logic); `IS NULL` is the way to ask for nulls.
//!
//! A long scan evaluates the filter on the table's columns at once ([`Filter::eval_columns`],
//! [`batch`]) where it can, with the same outcome as row by row.
//!
//! Type errors are found when compiling, not per feature: comparing text with a number, `LIKE` on a
//! number, arithmetic on text, or a spatial function on a property that is not the geometry.

mod batch;
mod compile;
mod depth;
mod eval;
pub mod spatial;

use std::borrow::Cow;

use thiserror::Error;

use crate::index::BBox;

pub use batch::{ColumnRef, Columns, NULL_CODE, Truth};
pub use compile::compile;
pub use depth::MAX_NESTING;

/// The longest filter accepted, bytes.
pub const MAX_FILTER_BYTES: usize = 16 * 1024;

/// The encodings of a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterLang {
    Cql2Text,
    Cql2Json,
}

impl FilterLang {
    /// The names clients send: `cql2-text`, `cql2-json`, and `cql-text`, the draft's name that GDAL
    /// 3.6's OAPIF driver sends (read as CQL2 text).
    pub const NAMES: [&'static str; 3] = ["cql2-text", "cql2-json", "cql-text"];

    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "cql2-text" | "cql-text" => Some(FilterLang::Cql2Text),
            "cql2-json" => Some(FilterLang::Cql2Json),
            _ => None,
        }
    }
}

/// What a queryable holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryableType {
    String,
    Number,
    Integer,
    Boolean,
    Date,
    Timestamp,
    Geometry,
}

impl QueryableType {
    /// The JSON Schema `type` (and `format`) of the queryable.
    pub fn json_schema(self) -> (&'static str, Option<&'static str>) {
        match self {
            QueryableType::String => ("string", None),
            QueryableType::Number => ("number", None),
            QueryableType::Integer => ("integer", None),
            QueryableType::Boolean => ("boolean", None),
            QueryableType::Date => ("string", Some("date")),
            QueryableType::Timestamp => ("string", Some("date-time")),
            QueryableType::Geometry => ("object", None),
        }
    }
}

/// One property a filter may name.
#[derive(Debug, Clone, PartialEq)]
pub struct Queryable {
    pub name: String,
    pub ty: QueryableType,
    pub unit: Option<String>,
    pub description: String,
}

/// The name of the geometry queryable (`geom` is accepted too).
pub const GEOMETRY: &str = "geometry";

/// A feature's value of one queryable, as a filter reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue<'a> {
    Null,
    Str(Cow<'a, str>),
    Num(f64),
    Bool(bool),
    /// Milliseconds since 1970-01-01T00:00:00Z (a date is its midnight, UTC).
    Time(i64),
}

/// A feature as a filter sees it.
pub trait FilterRecord {
    /// The value of queryable `field` (its position in the list the filter was compiled against).
    fn value(&self, field: usize) -> FilterValue<'_>;
    /// The feature's geometry, in WGS 84 longitude/latitude.
    fn geometry(&self) -> Cow<'_, geo::Geometry<f64>>;
}

/// A reprojection of a filter's literal coordinates to WGS 84 longitude/latitude (`filter-crs`).
pub type ToCrs84<'a> = &'a dyn Fn(geo::Coord<f64>) -> Result<geo::Coord<f64>, String>;

/// Why a filter cannot be used.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum FilterError {
    #[error("the filter is {0} bytes; at most {MAX_FILTER_BYTES} are accepted")]
    TooLong(usize),
    #[error(
        "the filter nests {0} levels deep (parentheses, NOT, arithmetic operators and comparisons \
         chained without AND/OR each count); at most {MAX_NESTING} are accepted"
    )]
    TooDeep(usize),
    #[error("does not parse{at}: {reason}", at = at(*.position))]
    Syntax {
        /// Character offset (0-based) where the parser stopped, if it says.
        position: Option<usize>,
        reason: String,
    },
    #[error("unknown property {name:?}{at}; the queryables are: {known}", at = at(*.position))]
    UnknownProperty {
        name: String,
        position: Option<usize>,
        known: String,
    },
    #[error("{reason}{at}", at = at(*.position))]
    Type {
        position: Option<usize>,
        reason: String,
    },
    #[error("{what}{at} is not supported", at = at(*.position))]
    Unsupported {
        position: Option<usize>,
        what: String,
    },
    #[error("filter-crs: {0}")]
    Crs(String),
}

fn at(position: Option<usize>) -> String {
    position.map_or(String::new(), |p| format!(" at character {}", p + 1))
}

/// A compiled filter.
#[derive(Debug, Clone)]
pub struct Filter {
    root: compile::Node,
    hint: Option<BBox>,
}

impl Filter {
    /// Whether the feature satisfies the filter (a null outcome does not).
    pub fn matches(&self, r: &dyn FilterRecord) -> bool {
        eval::eval(&self.root, r) == Some(true)
    }

    /// A box every matching feature intersects, when the filter's top-level `AND` holds a spatial
    /// term that implies one: the catalog asks the R-tree with it first.
    pub fn bbox(&self) -> Option<BBox> {
        self.hint
    }

    /// The queryables the filter reads (positions in the list it was compiled against), ascending,
    /// each once.
    pub fn properties(&self) -> Vec<usize> {
        let mut out = Vec::new();
        compile::properties(&self.root, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether the filter reads the feature's geometry.
    pub fn is_spatial(&self) -> bool {
        compile::is_spatial(&self.root)
    }
}

#[cfg(test)]
mod tests;
