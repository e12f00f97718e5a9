//! Evaluation of a compiled filter on a whole table at once, from its columns, as a column store
//! runs a predicate: each comparison is one loop over a dense column, and `AND`, `OR` and `NOT`
//! combine bit sets, 64 rows a word. The outcome is that of [`super::eval`] row by row (tested), in
//! the same three-valued logic: a row is true, false or unknown.
//!
//! A term that reads one text column is decided once per distinct value of the column (the column
//! holds codes into a dictionary of them) and then looked up by code; a comparison of a number
//! column with a number is a loop of float comparisons; any other term that reads one column is
//! evaluated row by row on that value alone. A term that reads the geometry or several columns, or
//! a column that is not there, makes the batch give up (`None`), and the caller evaluates row by
//! row instead.

use std::borrow::Cow;

use super::compile::{CmpOp, Lit, Node, Scalar, properties};
use super::eval::eval;
use super::{Filter, FilterRecord, FilterValue};

/// One queryable's values for every row, as a caller's column store holds them.
#[derive(Debug, Clone, Copy)]
pub enum ColumnRef<'a> {
    /// Numbers, NaN for null.
    Num(&'a [f64]),
    /// Codes into `values`; [`NULL_CODE`] for null.
    Text {
        codes: &'a [u32],
        values: &'a [String],
    },
    /// Milliseconds since the epoch.
    Time(&'a [Option<i64>]),
}

/// A text row without a value.
pub const NULL_CODE: u32 = u32::MAX;

/// Where the batch finds the columns of the queryables it reads.
pub trait Columns {
    /// The column of queryable `field`, if there is one.
    fn column(&self, field: usize) -> Option<ColumnRef<'_>>;
}

/// The outcome for every row: bit `i` of `yes` is set when row `i` is true, of `no` when false
/// (neither: unknown).
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    yes: Vec<u64>,
    no: Vec<u64>,
    len: usize,
}

impl Truth {
    fn constant(v: Option<bool>, len: usize) -> Truth {
        let words = len.div_ceil(64);
        let fill = |on: bool| vec![if on { u64::MAX } else { 0 }; words];
        Truth {
            yes: fill(v == Some(true)),
            no: fill(v == Some(false)),
            len,
        }
    }

    /// Sets each row's bits from `f`.
    fn from_fn(len: usize, mut f: impl FnMut(usize) -> Option<bool>) -> Truth {
        Truth::from_known(len, |i| match f(i) {
            Some(v) => (true, v),
            None => (false, false),
        })
    }

    /// Sets each row's bits from `f`, which gives (known, value): a word of 64 rows at a time, with
    /// no branch per row, so a comparison over a column runs at the speed of reading it.
    fn from_known(len: usize, mut f: impl FnMut(usize) -> (bool, bool)) -> Truth {
        let words = len.div_ceil(64);
        let (mut yes, mut no) = (Vec::with_capacity(words), Vec::with_capacity(words));
        for w in 0..words {
            let start = w * 64;
            let (mut y, mut n) = (0u64, 0u64);
            for (j, i) in (start..len.min(start + 64)).enumerate() {
                let (known, value) = f(i);
                y |= u64::from(known & value) << j;
                n |= u64::from(known & !value) << j;
            }
            yes.push(y);
            no.push(n);
        }
        Truth { yes, no, len }
    }

    /// How many rows are true.
    pub fn count_true(&self) -> usize {
        self.yes.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The true rows, ascending.
    pub fn true_rows(&self) -> impl Iterator<Item = usize> + '_ {
        self.yes.iter().enumerate().flat_map(|(w, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let j = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    w * 64 + j
                })
            })
        })
    }

    /// Whether row `i` is true.
    pub fn is_true(&self, i: usize) -> bool {
        i < self.len && self.yes[i / 64] >> (i % 64) & 1 == 1
    }

    /// Row `i`'s outcome: true, false or unknown (`None`).
    pub fn outcome(&self, i: usize) -> Option<bool> {
        if i >= self.len {
            return None;
        }
        let bit = |words: &[u64]| words[i / 64] >> (i % 64) & 1 == 1;
        match (bit(&self.yes), bit(&self.no)) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }

    fn and(mut self, other: &Truth) -> Truth {
        for (a, b) in self.yes.iter_mut().zip(&other.yes) {
            *a &= b;
        }
        for (a, b) in self.no.iter_mut().zip(&other.no) {
            *a |= b;
        }
        self
    }

    fn or(mut self, other: &Truth) -> Truth {
        for (a, b) in self.yes.iter_mut().zip(&other.yes) {
            *a |= b;
        }
        for (a, b) in self.no.iter_mut().zip(&other.no) {
            *a &= b;
        }
        self
    }

    fn not(self) -> Truth {
        Truth {
            yes: self.no,
            no: self.yes,
            len: self.len,
        }
    }
}

impl Filter {
    /// The filter's outcome for each of `len` rows, from `columns`; `None` when it reads what the
    /// columns do not hold (the geometry, a missing column) or a term reads several columns.
    pub fn eval_columns(&self, columns: &dyn Columns, len: usize) -> Option<Truth> {
        batch(&self.root, columns, len)
    }
}

fn batch(n: &Node, columns: &dyn Columns, len: usize) -> Option<Truth> {
    match n {
        Node::Const(v) => Some(Truth::constant(*v, len)),
        Node::And(nodes) => {
            let mut acc = Truth::constant(Some(true), len);
            for x in nodes {
                acc = acc.and(&batch(x, columns, len)?);
            }
            Some(acc)
        }
        Node::Or(nodes) => {
            let mut acc = Truth::constant(Some(false), len);
            for x in nodes {
                acc = acc.or(&batch(x, columns, len)?);
            }
            Some(acc)
        }
        Node::Not(x) => Some(batch(x, columns, len)?.not()),
        Node::Spatial(..) | Node::DWithin(..) => None,
        leaf => term(leaf, columns, len),
    }
}

/// A record with one queryable's value: what a term that reads only that queryable sees.
struct One<'a> {
    field: usize,
    value: FilterValue<'a>,
}

impl FilterRecord for One<'_> {
    fn value(&self, field: usize) -> FilterValue<'_> {
        if field == self.field {
            self.value.clone()
        } else {
            FilterValue::Null
        }
    }

    fn geometry(&self) -> Cow<'_, geo::Geometry<f64>> {
        // Terms that read the geometry never get here (`batch` gives up on them).
        Cow::Owned(geo::Geometry::Point(geo::Point::new(0.0, 0.0)))
    }
}

/// A comparison term, leaf of the tree, reading at most one queryable.
fn term(n: &Node, columns: &dyn Columns, len: usize) -> Option<Truth> {
    let mut read = Vec::new();
    properties(n, &mut read);
    read.sort_unstable();
    read.dedup();
    let field = match read.as_slice() {
        // Literals only: the same outcome for every row.
        [] => {
            return Some(Truth::constant(
                eval(
                    n,
                    &One {
                        field: usize::MAX,
                        value: FilterValue::Null,
                    },
                ),
                len,
            ));
        }
        [f] => *f,
        _ => return None,
    };
    let on = |value: FilterValue<'_>| eval(n, &One { field, value });
    match columns.column(field)? {
        ColumnRef::Text { codes, values } => {
            if codes.len() < len {
                return None;
            }
            let known = |v: Option<bool>| (v.is_some(), v == Some(true));
            let table: Vec<(bool, bool)> = values
                .iter()
                .map(|v| known(on(FilterValue::Str(Cow::Borrowed(v)))))
                .collect();
            let null = known(on(FilterValue::Null));
            Some(Truth::from_known(len, |i| match codes[i] {
                NULL_CODE => null,
                c => table.get(c as usize).copied().unwrap_or((false, false)),
            }))
        }
        ColumnRef::Num(v) => {
            if v.len() < len {
                return None;
            }
            if let Some((op, x)) = number_comparison(n, field) {
                return Some(compare_all(&v[..len], op, x));
            }
            Some(Truth::from_fn(len, |i| {
                on(if v[i].is_nan() {
                    FilterValue::Null
                } else {
                    FilterValue::Num(v[i])
                })
            }))
        }
        ColumnRef::Time(v) => {
            if v.len() < len {
                return None;
            }
            Some(Truth::from_fn(len, |i| {
                on(v[i].map_or(FilterValue::Null, FilterValue::Time))
            }))
        }
    }
}

/// `field OP x` (or `x OP field`, turned around) with a finite number `x`.
fn number_comparison(n: &Node, field: usize) -> Option<(CmpOp, f64)> {
    let Node::Cmp(op, a, b) = n else {
        return None;
    };
    let flip = |op: CmpOp| match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        same => same,
    };
    match (a, b) {
        (Scalar::Prop(p), Scalar::Lit(Lit::Num(x))) if *p == field && x.is_finite() => {
            Some((*op, *x))
        }
        (Scalar::Lit(Lit::Num(x)), Scalar::Prop(p)) if *p == field && x.is_finite() => {
            Some((flip(*op), *x))
        }
        _ => None,
    }
}

/// `v[i] OP x` for every row, the operator chosen once, not per row. A null (NaN) or non-finite
/// value compares as unknown, as in `eval`.
fn compare_all(v: &[f64], op: CmpOp, x: f64) -> Truth {
    fn all(v: &[f64], c: impl Fn(f64) -> bool) -> Truth {
        Truth::from_known(v.len(), |i| (v[i].is_finite(), c(v[i])))
    }
    match op {
        CmpOp::Eq => all(v, |y| y == x),
        CmpOp::Ne => all(v, |y| y != x),
        CmpOp::Lt => all(v, |y| y < x),
        CmpOp::Le => all(v, |y| y <= x),
        CmpOp::Gt => all(v, |y| y > x),
        CmpOp::Ge => all(v, |y| y >= x),
    }
}
