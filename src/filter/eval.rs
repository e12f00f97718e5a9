//! Evaluation of a compiled filter on one feature, in three-valued logic (`None`: unknown, as a
//! comparison with a null is).

use std::borrow::Cow;
use std::cmp::Ordering;

use like::Like;

use super::compile::{ArOp, CmpOp, GeomArg, Lit, Node, Scalar};
use super::spatial;
use super::{FilterRecord, FilterValue};

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
enum V<'a> {
    Null,
    Text(Cow<'a, str>),
    Num(f64),
    Bool(bool),
    Time(i64),
}

fn lit(l: &Lit) -> V<'_> {
    match l {
        Lit::Null => V::Null,
        Lit::Text(t) => V::Text(Cow::Borrowed(t)),
        Lit::Num(n) => V::Num(*n),
        Lit::Bool(b) => V::Bool(*b),
        Lit::Time(t) => V::Time(*t),
    }
}

fn scalar<'a>(s: &'a Scalar, r: &'a dyn FilterRecord) -> V<'a> {
    match s {
        Scalar::Prop(i) => match r.value(*i) {
            FilterValue::Null => V::Null,
            FilterValue::Str(t) => V::Text(t),
            FilterValue::Num(n) if n.is_finite() => V::Num(n),
            FilterValue::Num(_) => V::Null,
            FilterValue::Bool(b) => V::Bool(b),
            FilterValue::Time(t) => V::Time(t),
        },
        Scalar::Lit(l) => lit(l),
        Scalar::CaseI(inner) => match scalar(inner, r) {
            V::Text(t) => V::Text(Cow::Owned(t.to_lowercase())),
            other => other,
        },
        Scalar::AccentI(inner) => match scalar(inner, r) {
            V::Text(t) => V::Text(Cow::Owned(unaccent::unaccent(&*t))),
            other => other,
        },
        Scalar::Arith(op, a, b) => match (scalar(a, r), scalar(b, r)) {
            (V::Num(x), V::Num(y)) => {
                let v = match op {
                    ArOp::Add => x + y,
                    ArOp::Sub => x - y,
                    ArOp::Mul => x * y,
                    ArOp::Div => x / y,
                    ArOp::Mod => x % y,
                    ArOp::Pow => x.powf(y),
                    ArOp::IntDiv => (x / y).trunc(),
                };
                if v.is_finite() { V::Num(v) } else { V::Null }
            }
            _ => V::Null,
        },
    }
}

/// The order of two non-null values of one type (`None` for null or mixed types).
fn order(a: &V<'_>, b: &V<'_>) -> Option<Ordering> {
    match (a, b) {
        (V::Num(x), V::Num(y)) => x.partial_cmp(y),
        (V::Text(x), V::Text(y)) => Some(x.cmp(y)),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(y)),
        (V::Time(x), V::Time(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn compare(op: CmpOp, a: &V<'_>, b: &V<'_>) -> Option<bool> {
    let o = order(a, b)?;
    Some(match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Ne => o != Ordering::Equal,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
    })
}

fn not(v: Option<bool>) -> Option<bool> {
    v.map(|b| !b)
}

pub(super) fn eval(n: &Node, r: &dyn FilterRecord) -> Option<bool> {
    match n {
        Node::Const(v) => *v,
        Node::And(nodes) => {
            let mut unknown = false;
            for x in nodes {
                match eval(x, r) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            if unknown { None } else { Some(true) }
        }
        Node::Or(nodes) => {
            let mut unknown = false;
            for x in nodes {
                match eval(x, r) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            if unknown { None } else { Some(false) }
        }
        Node::Not(x) => not(eval(x, r)),
        Node::Cmp(op, a, b) => compare(*op, &scalar(a, r), &scalar(b, r)),
        Node::Like(v, p) => match (scalar(v, r), scalar(p, r)) {
            (V::Text(t), V::Text(pat)) => Like::<true>::like(&*t, &*pat).ok(),
            _ => None,
        },
        Node::Between(v, lo, hi) => {
            let (v, lo, hi) = (scalar(v, r), scalar(lo, r), scalar(hi, r));
            let above = compare(CmpOp::Ge, &v, &lo)?;
            let below = compare(CmpOp::Le, &v, &hi)?;
            Some(above && below)
        }
        Node::In(v, list) => {
            let v = scalar(v, r);
            if v == V::Null {
                return None;
            }
            let mut unknown = false;
            for item in list {
                match compare(CmpOp::Eq, &v, &scalar(item, r)) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            if unknown { None } else { Some(false) }
        }
        Node::IsNull(s) => Some(scalar(s, r) == V::Null),
        Node::BoolProp(s) => match scalar(s, r) {
            V::Bool(b) => Some(b),
            _ => None,
        },
        Node::Spatial(op, a, b) => {
            let g = r.geometry();
            let side = |x: &'_ GeomArg| -> geo::Geometry<f64> {
                match x {
                    GeomArg::Feature => (*g).clone(),
                    GeomArg::Literal(l) => l.geometry.clone(),
                }
            };
            // The common case, the feature's geometry against a literal, without copying either.
            Some(match (a, b) {
                (GeomArg::Feature, GeomArg::Literal(l)) => spatial::relate_with(*op, &g, l),
                (GeomArg::Literal(l), GeomArg::Feature) => spatial::relate(*op, &l.geometry, &g),
                _ => spatial::relate(*op, &side(a), &side(b)),
            })
        }
        Node::DWithin(point, metres) => Some(spatial::within_m(&r.geometry(), point, *metres)),
    }
}
