//! Parsing of query parameters (`bbox`, `limit`, `offset`, `f`, property filters), kept apart from the
//! handlers so each rule is tested on its own.

use crate::catalog::order::{SortKey, parse_sortby};
use crate::catalog::time::TimeRange;
use crate::catalog::{PropertyFilter, Selection};
use crate::filter::{FilterLang, Queryable};
use crate::index::BBox;

use super::error::ApiError;

/// Default page size of `/items`.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size; larger requests are served this many (OGC API Features, /per/core/limit-response).
pub const MAX_LIMIT: usize = 10_000;
/// The only CRS we serve: WGS 84 longitude/latitude.
pub const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

/// A response format, from `f` or the `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Html,
}

/// The parameters of an `/items` request.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemsParams {
    pub selection: Selection,
    /// `sortby`, checked for syntax; the collection checks the properties.
    pub sortby: Vec<SortKey>,
    /// `datetime`: on `sites`, the time of each site's current version.
    pub datetime: Option<TimeRange>,
    pub limit: usize,
    pub offset: usize,
    pub format: Option<Format>,
    /// `filter` with its `filter-lang`, compiled by [`ItemsParams::compile_filter`] once the
    /// collection is known.
    pub filter: Option<FilterParam>,
    /// Every parameter as given, to carry into the paging links.
    pub pairs: Vec<(String, String)>,
}

/// A CQL2 `filter` as given.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterParam {
    pub text: String,
    pub lang: FilterLang,
}

impl ItemsParams {
    /// Compiles the `filter` against the collection's `queryables` into the selection.
    pub fn compile_filter(&mut self, queryables: &[Queryable]) -> Result<(), ApiError> {
        if let Some(f) = &self.filter {
            let compiled = crate::filter::compile(&f.text, f.lang, queryables, None)?;
            self.selection.filter = Some(std::sync::Arc::new(compiled));
        }
        Ok(())
    }
}

/// Parameters every items request accepts, besides the collection's queryables.
pub const ITEMS_PARAMS: &[&str] = &[
    "bbox",
    "bbox-crs",
    "crs",
    "datetime",
    "filter",
    "filter-lang",
    "filter-crs",
    "limit",
    "offset",
    "sortby",
    "f",
];

fn parse_filter_lang(value: &str) -> Result<FilterLang, ApiError> {
    FilterLang::parse(value).ok_or_else(|| {
        ApiError::bad_parameter(
            "filter-lang",
            format!(
                "unsupported filter language {value:?}; use one of: {}",
                FilterLang::NAMES.join(", ")
            ),
        )
    })
}

/// Splits a query string into pairs; a parameter given twice is an error.
pub fn parse_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|e| ApiError::bad_parameter("query string", e))?;
    for (i, (k, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(p, _)| p == k) {
            return Err(ApiError::bad_parameter(k, "given more than once"));
        }
    }
    Ok(pairs)
}

/// Reads `f`, which every endpoint accepts.
pub fn parse_format(value: &str) -> Result<Format, ApiError> {
    match value {
        "json" | "geojson" => Ok(Format::Json),
        "html" => Ok(Format::Html),
        other => Err(ApiError::bad_parameter(
            "f",
            format!("unsupported format {other:?}; use json or html"),
        )),
    }
}

/// The `f` parameter of an endpoint that takes no other parameter.
pub fn format_only(query: &str) -> Result<Option<Format>, ApiError> {
    let mut format = None;
    for (key, value) in parse_pairs(query)? {
        if key == "f" {
            format = Some(parse_format(&value)?);
        } else {
            return Err(ApiError::unknown_parameter(&key, &["f"]));
        }
    }
    Ok(format)
}

/// Parses `bbox`: 4 or 6 comma-separated numbers, WGS 84; west > east crosses the antimeridian.
pub fn parse_bbox(value: &str) -> Result<BBox, ApiError> {
    let numbers = value
        .split(',')
        .map(|s| {
            let t = s.trim();
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| ApiError::bad_parameter("bbox", format!("{t:?} is not a number")))
        })
        .collect::<Result<Vec<f64>, _>>()?;
    let (w, s, e, n) = match numbers.as_slice() {
        [w, s, e, n] => (*w, *s, *e, *n),
        // minx, miny, minz, maxx, maxy, maxz: heights do not filter 2D features.
        [w, s, _, e, n, _] => (*w, *s, *e, *n),
        other => {
            return Err(ApiError::bad_parameter(
                "bbox",
                format!(
                    "expected 4 or 6 comma-separated numbers (west,south,east,north), got {}",
                    other.len()
                ),
            ));
        }
    };
    BBox::new(w, s, e, n).map_err(|err| ApiError::bad_parameter("bbox", err))
}

fn parse_count(param: &str, value: &str, min: usize) -> Result<usize, ApiError> {
    let digits = value.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_parameter(
            param,
            format!("{value:?} is not a non-negative integer"),
        ));
    }
    // All digits, so the only parse failure left is overflow: such a count means "as many as there are".
    let n = digits.parse::<usize>().unwrap_or(usize::MAX);
    if n < min {
        return Err(ApiError::bad_parameter(
            param,
            format!("must be at least {min}, got {n}"),
        ));
    }
    Ok(n)
}

fn check_crs(param: &str, value: &str) -> Result<(), ApiError> {
    if value == CRS84 || value == "[OGC:CRS84]" {
        Ok(())
    } else {
        Err(ApiError::bad_parameter(
            param,
            format!("unsupported CRS {value:?}; only {CRS84} is served"),
        ))
    }
}

/// Parses an `/items` query string against the collection's `queryables`.
pub fn parse_items(query: &str, queryables: &[&str]) -> Result<ItemsParams, ApiError> {
    parse_items_with(query, queryables, &[]).map(|(p, _)| p)
}

/// [`parse_items`] for a collection that takes parameters of its own (`extras`): those are
/// returned as given, for the collection to check.
pub fn parse_items_with(
    query: &str,
    queryables: &[&str],
    extras: &[&str],
) -> Result<(ItemsParams, Vec<(String, String)>), ApiError> {
    let mut own = Vec::new();
    let mut params = ItemsParams {
        selection: Selection::default(),
        sortby: Vec::new(),
        datetime: None,
        limit: DEFAULT_LIMIT,
        offset: 0,
        format: None,
        filter: None,
        pairs: parse_pairs(query)?,
    };
    let (mut filter, mut lang) = (None, FilterLang::Cql2Text);
    for (key, value) in params.pairs.clone() {
        match key.as_str() {
            "bbox" => params.selection.bbox = Some(parse_bbox(&value)?),
            "bbox-crs" | "crs" | "filter-crs" => check_crs(&key, &value)?,
            "filter" => filter = Some(value),
            "filter-lang" => lang = parse_filter_lang(&value)?,
            "limit" => params.limit = parse_count("limit", &value, 1)?.min(MAX_LIMIT),
            "offset" => params.offset = parse_count("offset", &value, 0)?,
            "sortby" => {
                params.sortby =
                    parse_sortby(&value).map_err(|e| ApiError::bad_parameter("sortby", e))?
            }
            "f" => params.format = Some(parse_format(&value)?),
            "datetime" => {
                params.datetime =
                    TimeRange::parse(&value).map_err(|e| ApiError::bad_parameter("datetime", e))?
            }
            k if queryables.contains(&k) => params.selection.filters.push(PropertyFilter {
                property: key,
                value,
            }),
            k if extras.contains(&k) => own.push((key, value)),
            k => {
                let allowed: Vec<&str> = ITEMS_PARAMS
                    .iter()
                    .chain(queryables)
                    .chain(extras)
                    .copied()
                    .collect();
                return Err(ApiError::unknown_parameter(k, &allowed));
            }
        }
    }
    params.filter = filter.map(|text| FilterParam { text, lang });
    Ok((params, own))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(query: &str) -> String {
        parse_items(query, &["country"]).unwrap_err().description
    }

    #[test]
    fn defaults() {
        let p = parse_items("", &[]).unwrap();
        assert_eq!((p.limit, p.offset, p.format), (DEFAULT_LIMIT, 0, None));
        assert_eq!(p.selection, Selection::default());
    }

    #[test]
    fn bbox_forms() {
        let b = parse_bbox("69,40,74.5,42").unwrap();
        assert_eq!((b.west, b.south, b.east, b.north), (69.0, 40.0, 74.5, 42.0));
        let b = parse_bbox("69,40,-100,74.5,42,5000").unwrap();
        assert_eq!((b.west, b.east), (69.0, 74.5));
        assert!(
            parse_bbox("170,-10,-170,10")
                .unwrap()
                .crosses_antimeridian()
        );
        assert!(parse_bbox("170%2C-10").is_err());
    }

    #[test]
    fn malformed_values_name_their_parameter() {
        for (q, param) in [
            ("bbox=1,2,3", "bbox"),
            ("bbox=a,b,c,d", "bbox"),
            ("bbox=0,50,1,40", "bbox"),
            ("bbox=0,0,200,1", "bbox"),
            ("bbox=0,0,1,nan", "bbox"),
            ("limit=0", "limit"),
            ("limit=-5", "limit"),
            ("limit=ten", "limit"),
            ("offset=-1", "offset"),
            ("offset=1.5", "offset"),
            ("f=xml", "f"),
            ("datetime=yesterday", "datetime"),
            ("datetime=../..", "datetime"),
            ("datetime=2020-01-01T00:00:00Z/soon", "datetime"),
            ("bbox-crs=EPSG:3857", "bbox-crs"),
            ("limit=1&limit=2", "limit"),
            ("colour=red", "colour"),
        ] {
            let e = err(q);
            assert!(e.contains(&format!("`{param}`")), "{q}: {e}");
        }
    }

    #[test]
    fn limit_is_capped_not_rejected() {
        assert_eq!(parse_items("limit=50000", &[]).unwrap().limit, MAX_LIMIT);
        let huge = parse_items(
            "limit=99999999999999999999999&offset=99999999999999999999999",
            &[],
        )
        .unwrap();
        assert_eq!((huge.limit, huge.offset), (MAX_LIMIT, usize::MAX));
    }

    #[test]
    fn datetime_forms() {
        for ok in [
            "2018-02-12T23:20:50Z",
            "2018-02-12",
            "2018-02-12T00:00:00Z/2018-03-18T12:31:12Z",
            "../2018-03-18T12:31:12Z",
            "2018-02-12T00:00:00+05:00/..",
            "2018-02-12/",
            "",
        ] {
            let q = format!("datetime={}", ok.replace('+', "%2B"));
            assert!(parse_items(&q, &[]).is_ok(), "{ok}");
        }
        assert_eq!(parse_items("datetime=", &[]).unwrap().datetime, None);
    }

    #[test]
    fn other_endpoints_take_only_f() {
        assert_eq!(format_only("f=html").unwrap(), Some(Format::Html));
        assert!(
            format_only("limit=5")
                .unwrap_err()
                .description
                .contains("`limit`")
        );
    }

    #[test]
    fn queryables_become_filters() {
        let p = parse_items("country=KGZ&offset=3&f=html", &["country"]).unwrap();
        assert_eq!(p.selection.filters.len(), 1);
        assert_eq!(p.selection.filters[0].value, "KGZ");
        assert_eq!((p.offset, p.format), (3, Some(Format::Html)));
    }
}
