//! From a `cql2::Expr` to a typed [`Node`] tree over the queryables, checking names and types once.

use cql2::Expr;

use super::spatial::{self, Literal, SpatialOp};
use super::{
    Filter, FilterError, FilterLang, GEOMETRY, MAX_FILTER_BYTES, Queryable, QueryableType, ToCrs84,
};

/// The static type of an operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    Number,
    Bool,
    Time,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Number => "a number",
            Kind::Bool => "a boolean",
            Kind::Time => "a date or timestamp",
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Lit {
    Null,
    Text(String),
    Num(f64),
    Bool(bool),
    Time(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    IntDiv,
}

/// A scalar operand.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scalar {
    Prop(usize),
    Lit(Lit),
    Arith(ArOp, Box<Scalar>, Box<Scalar>),
    CaseI(Box<Scalar>),
    AccentI(Box<Scalar>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A geometry operand: the feature's own, or a literal.
#[derive(Debug, Clone)]
pub(super) enum GeomArg {
    Feature,
    Literal(Literal),
}

/// A compiled predicate.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Const(Option<bool>),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Cmp(CmpOp, Scalar, Scalar),
    Like(Scalar, Scalar),
    Between(Scalar, Scalar, Scalar),
    In(Scalar, Vec<Scalar>),
    IsNull(Scalar),
    BoolProp(Scalar),
    Spatial(SpatialOp, GeomArg, GeomArg),
    /// The feature within this many geodesic metres of the literal point.
    DWithin(Literal, f64),
}

/// Appends the queryables `n` reads.
pub(super) fn properties(n: &Node, out: &mut Vec<usize>) {
    fn scalar(s: &Scalar, out: &mut Vec<usize>) {
        match s {
            Scalar::Prop(i) => out.push(*i),
            Scalar::Lit(_) => {}
            Scalar::Arith(_, a, b) => {
                scalar(a, out);
                scalar(b, out);
            }
            Scalar::CaseI(a) | Scalar::AccentI(a) => scalar(a, out),
        }
    }
    match n {
        Node::Const(_) | Node::Spatial(..) | Node::DWithin(..) => {}
        Node::And(v) | Node::Or(v) => v.iter().for_each(|x| properties(x, out)),
        Node::Not(x) => properties(x, out),
        Node::Cmp(_, a, b) | Node::Like(a, b) => {
            scalar(a, out);
            scalar(b, out);
        }
        Node::Between(a, b, c) => [a, b, c].into_iter().for_each(|x| scalar(x, out)),
        Node::In(a, list) => std::iter::once(a).chain(list).for_each(|x| scalar(x, out)),
        Node::IsNull(a) | Node::BoolProp(a) => scalar(a, out),
    }
}

/// Whether `n` reads the feature's geometry.
pub(super) fn is_spatial(n: &Node) -> bool {
    match n {
        Node::Spatial(_, a, b) => matches!(a, GeomArg::Feature) || matches!(b, GeomArg::Feature),
        Node::DWithin(..) => true,
        Node::And(v) | Node::Or(v) => v.iter().any(is_spatial),
        Node::Not(x) => is_spatial(x),
        _ => false,
    }
}

struct Ctx<'a> {
    src: &'a str,
    queryables: &'a [Queryable],
    to_crs84: Option<ToCrs84<'a>>,
}

/// Compiles `src` (in `lang`) against `queryables`; `to_crs84` reprojects literal geometries given
/// in another CRS (`filter-crs`).
pub fn compile(
    src: &str,
    lang: FilterLang,
    queryables: &[Queryable],
    to_crs84: Option<ToCrs84<'_>>,
) -> Result<Filter, FilterError> {
    if src.len() > MAX_FILTER_BYTES {
        return Err(FilterError::TooLong(src.len()));
    }
    if src.trim().is_empty() {
        return Err(FilterError::Syntax {
            position: Some(0),
            reason: "the filter is empty".into(),
        });
    }
    if lang == FilterLang::Cql2Text {
        let levels = super::depth::nesting(src);
        if levels > super::MAX_NESTING {
            return Err(FilterError::TooDeep(levels));
        }
    }
    let expr = match lang {
        FilterLang::Cql2Text => cql2::parse_text(src).map_err(|e| text_error(src, e))?,
        FilterLang::Cql2Json => cql2::parse_json(src).map_err(|e| FilterError::Syntax {
            position: char_offset(src, e.line(), e.column()),
            reason: format!("not CQL2 JSON: {e}"),
        })?,
    };
    let ctx = Ctx {
        src,
        queryables,
        to_crs84,
    };
    let root = ctx.node(&expr)?;
    let hint = spatial::hint(&root);
    Ok(Filter { root, hint })
}

/// The character offset of a 1-based line and column.
fn char_offset(src: &str, line: usize, column: usize) -> Option<usize> {
    if line == 0 {
        return None;
    }
    let before: usize = src
        .split('\n')
        .take(line - 1)
        .map(|l| l.chars().count() + 1)
        .sum();
    Some(before + column.saturating_sub(1))
}

fn text_error(src: &str, e: cql2::Error) -> FilterError {
    match e {
        cql2::Error::Pest(p) => {
            let position = match p.location {
                pest::error::InputLocation::Pos(b) | pest::error::InputLocation::Span((b, _)) => {
                    Some(src[..b.min(src.len())].chars().count())
                }
            };
            let reason = format!("not CQL2 text: {}", p.variant.message());
            FilterError::Syntax { position, reason }
        }
        other => FilterError::Syntax {
            position: None,
            reason: other.to_string(),
        },
    }
}

fn cmp_op(op: &str) -> Option<CmpOp> {
    Some(match op {
        "=" => CmpOp::Eq,
        "<>" => CmpOp::Ne,
        "<" => CmpOp::Lt,
        "<=" => CmpOp::Le,
        ">" => CmpOp::Gt,
        ">=" => CmpOp::Ge,
        _ => return None,
    })
}

fn ar_op(op: &str) -> Option<ArOp> {
    Some(match op {
        "+" => ArOp::Add,
        "-" => ArOp::Sub,
        "*" => ArOp::Mul,
        "/" => ArOp::Div,
        "%" => ArOp::Mod,
        "^" => ArOp::Pow,
        "div" => ArOp::IntDiv,
        _ => return None,
    })
}

/// Milliseconds since the epoch of a date (its UTC midnight) or an RFC 3339 timestamp.
fn time_ms(text: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

impl Ctx<'_> {
    /// Where `name` first appears in the source as a word (ASCII case ignored), for messages.
    fn position_of(&self, name: &str) -> Option<usize> {
        let (hay, needle) = (self.src.to_ascii_lowercase(), name.to_ascii_lowercase());
        if needle.is_empty() {
            return None;
        }
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        let mut from = 0;
        while let Some(i) = hay[from..].find(&needle) {
            let b = from + i;
            let before = hay[..b].chars().next_back();
            let after = hay[b + needle.len()..].chars().next();
            let alnum = needle.chars().all(|c| c.is_alphanumeric() || c == '_');
            if !alnum || (!word(before) && !word(after)) {
                return Some(self.src[..b].chars().count());
            }
            from = b + needle.len();
        }
        None
    }

    /// An operand as a message names it.
    fn describe(&self, s: &Scalar) -> String {
        match (s, self.kind(s)) {
            (Scalar::Prop(i), Some(k)) => format!("{:?} ({})", self.queryables[*i].name, k.name()),
            (_, Some(k)) => k.name().to_owned(),
            (_, None) => "null".to_owned(),
        }
    }

    fn type_error(&self, near: &str, reason: String) -> FilterError {
        FilterError::Type {
            position: self.position_of(near),
            reason,
        }
    }

    fn property(&self, name: &str) -> Result<usize, FilterError> {
        self.queryables
            .iter()
            .position(|q| q.name == name)
            .ok_or_else(|| FilterError::UnknownProperty {
                name: name.to_owned(),
                position: self.position_of(name),
                known: self
                    .queryables
                    .iter()
                    .map(|q| q.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    fn is_geometry(&self, name: &str) -> bool {
        name == GEOMETRY || name == "geom"
    }

    fn node(&self, e: &Expr) -> Result<Node, FilterError> {
        match e {
            Expr::Bool(b) => Ok(Node::Const(Some(*b))),
            Expr::Property { property } => {
                let s = self.scalar(e)?;
                match self.kind(&s) {
                    Some(Kind::Bool) => Ok(Node::BoolProp(s)),
                    _ => Err(self.type_error(
                        property,
                        format!(
                            "{property:?} is not a boolean, so it cannot stand alone as a condition"
                        ),
                    )),
                }
            }
            Expr::Operation { op, args } => self.operation(op, args),
            other => Err(FilterError::Type {
                position: None,
                reason: format!(
                    "{} is not a condition",
                    other.to_text().unwrap_or_else(|_| "this value".into())
                ),
            }),
        }
    }

    fn args<'e>(
        &self,
        op: &str,
        args: &'e [Box<Expr>],
        n: usize,
    ) -> Result<Vec<&'e Expr>, FilterError> {
        if args.len() != n {
            return Err(FilterError::Type {
                position: self.position_of(op),
                reason: format!("{op} takes {n} arguments, got {}", args.len()),
            });
        }
        Ok(args.iter().map(|a| &**a).collect())
    }

    fn operation(&self, op: &str, args: &[Box<Expr>]) -> Result<Node, FilterError> {
        let lower = op.to_ascii_lowercase();
        match lower.as_str() {
            "and" | "or" => {
                let nodes = args
                    .iter()
                    .map(|a| self.node(a))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if lower == "and" {
                    Node::And(nodes)
                } else {
                    Node::Or(nodes)
                })
            }
            "not" => {
                let a = self.args(op, args, 1)?;
                Ok(Node::Not(Box::new(self.node(a[0])?)))
            }
            "isnull" => {
                let a = self.args(op, args, 1)?;
                if let Expr::Property { property } = a[0]
                    && self.is_geometry(property)
                {
                    // Every feature has a geometry.
                    return Ok(Node::Const(Some(false)));
                }
                Ok(Node::IsNull(self.scalar(a[0])?))
            }
            "like" => {
                let a = self.args(op, args, 2)?;
                let (v, p) = (self.scalar(a[0])?, self.scalar(a[1])?);
                for s in [&v, &p] {
                    if let Some(k) = self.kind(s)
                        && k != Kind::Text
                    {
                        return Err(self.type_error(
                            "like",
                            format!("LIKE compares text, and one side is {}", k.name()),
                        ));
                    }
                }
                Ok(Node::Like(v, p))
            }
            "between" => {
                let a = self.args(op, args, 3)?;
                let (v, lo, hi) = (self.scalar(a[0])?, self.scalar(a[1])?, self.scalar(a[2])?);
                self.same_kind(&v, &lo, "between")?;
                self.same_kind(&v, &hi, "between")?;
                Ok(Node::Between(v, lo, hi))
            }
            "in" => {
                let a = self.args(op, args, 2)?;
                let v = self.scalar(a[0])?;
                let Expr::Array(items) = a[1] else {
                    return Err(self.type_error("in", "IN takes a list of values".into()));
                };
                let list = items
                    .iter()
                    .map(|i| {
                        let s = self.scalar(i)?;
                        self.same_kind(&v, &s, "in")?;
                        Ok(s)
                    })
                    .collect::<Result<Vec<_>, FilterError>>()?;
                Ok(Node::In(v, list))
            }
            "s_dwithin" => self.dwithin(args),
            o if o.starts_with("s_") => {
                let Some(sop) = SpatialOp::parse(o) else {
                    return Err(FilterError::Unsupported {
                        position: self.position_of(op),
                        what: format!("the spatial function {op}"),
                    });
                };
                let a = self.args(op, args, 2)?;
                let (l, r) = (self.geom(a[0])?, self.geom(a[1])?);
                Ok(match (&l, &r) {
                    (GeomArg::Literal(x), GeomArg::Literal(y)) => {
                        Node::Const(Some(spatial::relate(sop, &x.geometry, &y.geometry)))
                    }
                    _ => Node::Spatial(sop, l, r),
                })
            }
            o if o.starts_with("t_") || o.starts_with("a_") || o == "anyinteracts" => {
                Err(FilterError::Unsupported {
                    position: self.position_of(op),
                    what: format!(
                        "{op} ({} functions)",
                        if o.starts_with("a_") {
                            "array"
                        } else {
                            "temporal"
                        }
                    ),
                })
            }
            o => {
                if let Some(c) = cmp_op(o) {
                    let a = self.args(op, args, 2)?;
                    let (l, r) = (self.scalar(a[0])?, self.scalar(a[1])?);
                    self.same_kind(&l, &r, op)?;
                    return Ok(Node::Cmp(c, l, r));
                }
                Err(FilterError::Unsupported {
                    position: self.position_of(op),
                    what: format!("the operator or function {op:?} as a condition"),
                })
            }
        }
    }

    fn same_kind(&self, a: &Scalar, b: &Scalar, near: &str) -> Result<(), FilterError> {
        match (self.kind(a), self.kind(b)) {
            (Some(x), Some(y)) if x != y => Err(self.type_error(
                near,
                format!(
                    "incompatible types: {} compared with {}",
                    self.describe(a),
                    self.describe(b)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The static type of an operand; `None` for a null literal.
    pub(super) fn kind(&self, s: &Scalar) -> Option<Kind> {
        match s {
            Scalar::Prop(i) => Some(match self.queryables[*i].ty {
                QueryableType::String => Kind::Text,
                QueryableType::Number | QueryableType::Integer => Kind::Number,
                QueryableType::Boolean => Kind::Bool,
                QueryableType::Date | QueryableType::Timestamp => Kind::Time,
                QueryableType::Geometry => return None,
            }),
            Scalar::Lit(Lit::Null) => None,
            Scalar::Lit(Lit::Text(_)) | Scalar::CaseI(_) | Scalar::AccentI(_) => Some(Kind::Text),
            Scalar::Lit(Lit::Num(_)) | Scalar::Arith(..) => Some(Kind::Number),
            Scalar::Lit(Lit::Bool(_)) => Some(Kind::Bool),
            Scalar::Lit(Lit::Time(_)) => Some(Kind::Time),
        }
    }

    fn scalar(&self, e: &Expr) -> Result<Scalar, FilterError> {
        Ok(match e {
            Expr::Property { property } => {
                if self.is_geometry(property) {
                    return Err(self.type_error(
                        property,
                        format!("{property:?} is the geometry: compare it with a spatial function such as S_INTERSECTS"),
                    ));
                }
                let i = self.property(property)?;
                if self.queryables[i].ty == QueryableType::Geometry {
                    return Err(self.type_error(property, format!("{property:?} is a geometry")));
                }
                Scalar::Prop(i)
            }
            Expr::Float(v) => Scalar::Lit(Lit::Num(*v)),
            Expr::Literal(s) => Scalar::Lit(Lit::Text(s.clone())),
            Expr::Bool(b) => Scalar::Lit(Lit::Bool(*b)),
            Expr::Null => Scalar::Lit(Lit::Null),
            Expr::Date { date } | Expr::Timestamp { timestamp: date } => {
                let text = match &**date {
                    Expr::Literal(s) => s.clone(),
                    other => other.to_text().unwrap_or_default(),
                };
                let ms = time_ms(&text).ok_or_else(|| {
                    self.type_error(
                        &text,
                        format!("{text:?} is not a date (YYYY-MM-DD) or an RFC 3339 timestamp"),
                    )
                })?;
                Scalar::Lit(Lit::Time(ms))
            }
            Expr::Operation { op, args } => {
                let lower = op.to_ascii_lowercase();
                if let Some(a) = ar_op(&lower) {
                    if args.len() < 2 {
                        return Err(self.type_error(op, format!("{op} takes two operands")));
                    }
                    // Chains (`a + b + c`) are left-associative.
                    let mut it = args.iter();
                    let mut acc = self.number_operand(it.next().map(|b| &**b), op)?;
                    for next in it {
                        let rhs = self.number_operand(Some(next), op)?;
                        acc = Scalar::Arith(a, Box::new(acc), Box::new(rhs));
                    }
                    return Ok(acc);
                }
                if lower == "casei" || lower == "accenti" {
                    let a = self.args(op, args, 1)?;
                    let inner = self.scalar(a[0])?;
                    if let Some(k) = self.kind(&inner)
                        && k != Kind::Text
                    {
                        return Err(self.type_error(
                            op,
                            format!("{} applies to text, not to {}", op.to_uppercase(), k.name()),
                        ));
                    }
                    return Ok(if lower == "casei" {
                        Scalar::CaseI(Box::new(inner))
                    } else {
                        Scalar::AccentI(Box::new(inner))
                    });
                }
                return Err(FilterError::Unsupported {
                    position: self.position_of(op),
                    what: format!("the function {op:?} as a value"),
                });
            }
            Expr::Geometry(_) | Expr::BBox { .. } => {
                return Err(FilterError::Type {
                    position: None,
                    reason: "a geometry can only be an argument of a spatial function".into(),
                });
            }
            Expr::Interval { .. } => {
                return Err(FilterError::Unsupported {
                    position: self.position_of("interval"),
                    what: "INTERVAL (temporal functions)".into(),
                });
            }
            Expr::Array(_) => {
                return Err(FilterError::Type {
                    position: None,
                    reason: "a list can only follow IN".into(),
                });
            }
        })
    }

    fn number_operand(&self, e: Option<&Expr>, op: &str) -> Result<Scalar, FilterError> {
        let e = e.ok_or_else(|| self.type_error(op, format!("{op} takes two operands")))?;
        let s = self.scalar(e)?;
        match self.kind(&s) {
            Some(Kind::Number) | None => Ok(s),
            Some(k) => Err(self.type_error(
                op,
                format!("arithmetic ({op}) needs numbers, not {}", k.name()),
            )),
        }
    }

    fn geom(&self, e: &Expr) -> Result<GeomArg, FilterError> {
        match e {
            Expr::Property { property } if self.is_geometry(property) => Ok(GeomArg::Feature),
            Expr::Property { property } => {
                self.property(property)?;
                Err(self.type_error(
                    property,
                    format!("{property:?} is not a geometry; spatial functions take `geometry` and a geometry literal"),
                ))
            }
            Expr::Geometry(_) | Expr::BBox { .. } => {
                let g =
                    geo::Geometry::<f64>::try_from(e.clone()).map_err(|err| FilterError::Type {
                        position: None,
                        reason: format!("not a geometry: {err}"),
                    })?;
                let g = match self.to_crs84 {
                    Some(f) => spatial::reproject(g, f).map_err(FilterError::Crs)?,
                    None => g,
                };
                Ok(GeomArg::Literal(Literal::new(g)))
            }
            other => Err(FilterError::Type {
                position: None,
                reason: format!(
                    "{} is not a geometry",
                    other.to_text().unwrap_or_else(|_| "this value".into())
                ),
            }),
        }
    }

    fn dwithin(&self, args: &[Box<Expr>]) -> Result<Node, FilterError> {
        let usage = "S_DWITHIN takes (geometry, POINT(lon lat), distance, meters|kilometers)";
        if args.len() != 3 && args.len() != 4 {
            return Err(self.type_error("s_dwithin", usage.into()));
        }
        let (a, b) = (self.geom(&args[0])?, self.geom(&args[1])?);
        let point = match (a, b) {
            (GeomArg::Feature, GeomArg::Literal(l)) | (GeomArg::Literal(l), GeomArg::Feature) => l,
            _ => return Err(self.type_error("s_dwithin", usage.into())),
        };
        if !matches!(point.geometry, geo::Geometry::Point(_)) {
            return Err(self.type_error(
                "s_dwithin",
                format!("{usage}: the second argument must be a POINT"),
            ));
        }
        let distance = match &*args[2] {
            Expr::Float(d) if d.is_finite() && *d >= 0.0 => *d,
            _ => {
                return Err(self.type_error(
                    "s_dwithin",
                    format!("{usage}: the distance must be a non-negative number"),
                ));
            }
        };
        let unit = match args.get(3).map(|u| &**u) {
            None => "meters".to_owned(),
            Some(Expr::Property { property }) => property.to_ascii_lowercase(),
            Some(Expr::Literal(s)) => s.to_ascii_lowercase(),
            Some(_) => String::new(),
        };
        let metres = match unit.as_str() {
            "meters" | "metres" | "meter" | "metre" | "m" => distance,
            "kilometers" | "kilometres" | "kilometer" | "kilometre" | "km" => distance * 1000.0,
            other => {
                return Err(self.type_error(
                    "s_dwithin",
                    format!("unknown distance unit {other:?}; use meters or kilometers"),
                ));
            }
        };
        Ok(Node::DWithin(point, metres))
    }
}
