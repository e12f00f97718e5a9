//! Parsing of query parameters (`bbox`, `bbox-crs`, `crs`, `limit`, `offset`, `f`, `properties`,
//! `skipGeometry`, property filters), kept apart from the handlers so each rule is tested on its own.

use crate::catalog::order::{SortKey, parse_sortby};
use crate::catalog::time::TimeRange;
use crate::catalog::{PropertyFilter, Selection};
use crate::filter::{FilterLang, Queryable, QueryableType};
use crate::index::BBox;

use super::crs::Crs;
use super::error::ApiError;

/// Default page size of `/items`.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size; larger requests are served this many (OGC API Features, /per/core/limit-response).
pub const MAX_LIMIT: usize = 10_000;
/// The storage CRS, and the default: WGS 84 longitude/latitude.
pub use super::crs::CRS84;

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
    /// `filter` with its `filter-lang` and `filter-crs`, compiled by
    /// [`ItemsParams::compile_filter`] once the collection is known.
    pub filter: Option<FilterParam>,
    /// `f=geojsonseq`: GeoJSON Text Sequences (RFC 8142), streamed.
    pub seq: bool,
    /// `crs`: the CRS the features are written in.
    pub crs: Crs,
    /// `bbox-crs`: the CRS `bbox` is given in.
    pub bbox_crs: Crs,
    /// A `bbox` in a projected `bbox-crs`, as given: `selection.bbox` then holds a CRS84 box around
    /// it, and what that box selects is checked against this one in its own CRS.
    pub projected_bbox: Option<[f64; 4]>,
    /// `properties`: only these, in this order (checked by the collection).
    pub properties: Option<Vec<String>>,
    /// `skipGeometry=true`.
    pub skip_geometry: bool,
    /// Every parameter as given, to carry into the paging links.
    pub pairs: Vec<(String, String)>,
}

/// A CQL2 `filter` as given.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterParam {
    pub text: String,
    pub lang: FilterLang,
    /// `filter-crs`: the CRS of the filter's geometry literals.
    pub crs: Crs,
}

impl ItemsParams {
    /// Compiles the `filter` against the collection's `queryables` into the selection; geometry
    /// literals in another `filter-crs` are reprojected to CRS84 first.
    pub fn compile_filter(&mut self, queryables: &[Queryable]) -> Result<(), ApiError> {
        // An equality filter's value must be of its queryable's type (`level=false` on a number
        // is a mistake, not a query that matches nothing).
        for pf in &self.selection.filters {
            let Some(q) = queryables.iter().find(|q| q.name == pf.property) else {
                continue;
            };
            let v = pf.value.trim();
            let ok = match q.ty {
                // Compared as numbers: `3.0` finds 3.
                QueryableType::Number | QueryableType::Integer => {
                    v.parse::<f64>().is_ok_and(f64::is_finite)
                }
                QueryableType::Boolean => matches!(v, "true" | "false"),
                _ => true,
            };
            if !ok {
                let (ty, _) = q.ty.json_schema();
                return Err(ApiError::bad_parameter(
                    &pf.property,
                    format!("{:?} is not a {ty}", pf.value),
                ));
            }
        }
        if let Some(f) = &self.filter {
            let crs = f.crs;
            let to_crs84 = move |c| super::crs::to_crs84(crs, c);
            let reproject: Option<crate::filter::ToCrs84<'_>> =
                (crs != Crs::Crs84).then_some(&to_crs84);
            let compiled = crate::filter::compile(&f.text, f.lang, queryables, reproject)?;
            self.selection.filter = Some(std::sync::Arc::new(compiled));
        }
        Ok(())
    }
}

/// The parameters of a single feature (`/items/{fid}`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ItemParams {
    pub format: Option<Format>,
    pub crs: Crs,
    pub properties: Option<Vec<String>>,
    pub skip_geometry: bool,
}

/// What a single feature accepts.
pub const ITEM_PARAMS: &[&str] = &["crs", "properties", "skipGeometry", "f"];

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
    "properties",
    "skipGeometry",
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

/// The `f` values of `/items` besides [`parse_format`]'s.
const SEQ_FORMATS: &[&str] = &["geojsonseq", "jsonseq"];

/// Reads `f` on `/items`: [`parse_format`]'s formats, or `geojsonseq` (`Ok(None)`).
fn parse_items_format(value: &str) -> Result<Option<Format>, ApiError> {
    if SEQ_FORMATS.contains(&value) {
        return Ok(None);
    }
    parse_format(value).map(Some).map_err(|_| {
        ApiError::bad_parameter(
            "f",
            format!(
                "unsupported format {value:?}; use json (or geojson), html or geojsonseq (GeoJSON \
                 Text Sequences), or on sites one of the files {}",
                crate::io::sites::ExportFormat::ALL
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

/// `skipGeometry`: `true` or `false`.
fn parse_flag(param: &str, value: &str) -> Result<bool, ApiError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::bad_parameter(
            param,
            format!("{value:?} is neither true nor false"),
        )),
    }
}

/// `properties`: comma-separated names; empty is no selection, as if absent.
fn parse_properties(value: &str) -> Result<Option<Vec<String>>, ApiError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let names: Vec<String> = value.split(',').map(|n| n.trim().to_owned()).collect();
    if names.iter().any(String::is_empty) {
        return Err(ApiError::bad_parameter(
            "properties",
            format!("{value:?} has an empty name; give names separated by single commas"),
        ));
    }
    Ok(Some(names))
}

/// Parses `crs` or `bbox-crs`.
fn parse_crs(param: &'static str, value: &str) -> Result<Crs, ApiError> {
    Ok(Crs::parse(param, value)?)
}

/// `bbox` as given: 4 numbers, or 6 with heights (dropped: heights do not filter 2D features).
fn parse_bbox_numbers(value: &str) -> Result<[f64; 4], ApiError> {
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
    match numbers.as_slice() {
        [w, s, e, n] => Ok([*w, *s, *e, *n]),
        // minx, miny, minz, maxx, maxy, maxz: heights do not filter 2D features.
        [w, s, _, e, n, _] => Ok([*w, *s, *e, *n]),
        other => Err(ApiError::bad_parameter(
            "bbox",
            format!(
                "expected 4 or 6 comma-separated numbers (west,south,east,north, or in \
                 bbox-crs's axis order), got {}",
                other.len()
            ),
        )),
    }
}

/// Parses `bbox`: 4 or 6 comma-separated numbers, WGS 84; west > east crosses the antimeridian.
pub fn parse_bbox(value: &str) -> Result<BBox, ApiError> {
    let [w, s, e, n] = parse_bbox_numbers(value)?;
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

/// Parses the query string of a single feature.
pub fn parse_item(query: &str) -> Result<ItemParams, ApiError> {
    let mut p = ItemParams::default();
    for (key, value) in parse_pairs(query)? {
        match key.as_str() {
            "f" => p.format = Some(parse_format(&value)?),
            "crs" => p.crs = parse_crs("crs", &value)?,
            "properties" => p.properties = parse_properties(&value)?,
            "skipGeometry" => p.skip_geometry = parse_flag("skipGeometry", &value)?,
            k => return Err(ApiError::unknown_parameter(k, ITEM_PARAMS)),
        }
    }
    Ok(p)
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
        seq: false,
        crs: Crs::Crs84,
        bbox_crs: Crs::Crs84,
        projected_bbox: None,
        properties: None,
        skip_geometry: false,
        filter: None,
        pairs: parse_pairs(query)?,
    };
    let (mut filter, mut lang, mut filter_crs) = (None, FilterLang::Cql2Text, Crs::Crs84);
    let mut bbox = None;
    for (key, value) in params.pairs.clone() {
        match key.as_str() {
            "bbox" => bbox = Some(parse_bbox_numbers(&value)?),
            "bbox-crs" => params.bbox_crs = parse_crs("bbox-crs", &value)?,
            "crs" => params.crs = parse_crs("crs", &value)?,
            "properties" => params.properties = parse_properties(&value)?,
            "skipGeometry" => params.skip_geometry = parse_flag("skipGeometry", &value)?,
            "filter" => filter = Some(value),
            "filter-lang" => lang = parse_filter_lang(&value)?,
            "filter-crs" => filter_crs = parse_crs("filter-crs", &value)?,
            "limit" => params.limit = parse_count("limit", &value, 1)?.min(MAX_LIMIT),
            "offset" => params.offset = parse_count("offset", &value, 0)?,
            "sortby" => {
                params.sortby =
                    parse_sortby(&value).map_err(|e| ApiError::bad_parameter("sortby", e))?
            }
            "f" => {
                params.format = parse_items_format(&value)?;
                params.seq = params.format.is_none();
            }
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
    params.filter = filter.map(|text| FilterParam {
        text,
        lang,
        crs: filter_crs,
    });
    if let Some(b) = bbox {
        params.selection.bbox = Some(match params.bbox_crs {
            // Given in longitude/latitude (or its swap): the box itself.
            Crs::Crs84 | Crs::Epsg4326 => super::crs::box_to_crs84(params.bbox_crs, b)?,
            projected => {
                params.projected_bbox = Some(b);
                super::crs::box_to_crs84(projected, b)?
            }
        });
    }
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
            ("bbox-crs=EPSG:2154", "bbox-crs"),
            ("crs=http://www.opengis.net/def/crs/EPSG/0/32644", "crs"),
            ("bbox=7e5,0,3e5,1&bbox-crs=EPSG:32642", "bbox"),
            ("bbox=0,0,1e12,1e12&bbox-crs=EPSG:3857", "bbox"),
            ("properties=name,,country", "properties"),
            ("skipGeometry=yes", "skipGeometry"),
            ("f=geojson-seq", "f"),
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
    fn crs_properties_and_sequences() {
        let p = parse_items(
            "crs=EPSG:32642&properties=name,%20country&skipGeometry=TRUE&f=geojsonseq",
            &[],
        )
        .unwrap();
        assert_eq!(p.crs, Crs::Utm42N);
        assert_eq!(p.properties, Some(vec!["name".into(), "country".into()]));
        assert!(p.skip_geometry && p.seq);
        assert_eq!(p.format, None);
        let p = parse_items("properties=&skipGeometry=false&f=html", &[]).unwrap();
        assert_eq!((p.properties, p.skip_geometry, p.seq), (None, false, false));
        // bbox-crs applies to the bbox wherever it stands.
        let p = parse_items("bbox=40,69,42,74.5&bbox-crs=EPSG:4326", &[]).unwrap();
        let b = p.selection.bbox.unwrap();
        assert_eq!((b.west, b.south, b.east, b.north), (69.0, 40.0, 74.5, 42.0));
        assert_eq!(p.projected_bbox, None);
        let p = parse_items(
            "bbox-crs=http://www.opengis.net/def/crs/EPSG/0/32642&bbox=3e5,44e5,7e5,47e5",
            &[],
        )
        .unwrap();
        assert_eq!(p.projected_bbox, Some([3e5, 44e5, 7e5, 47e5]));
        let b = p.selection.bbox.unwrap();
        assert!(
            b.west < 66.568 && b.east > 71.432 && b.south < 39.726 && b.north > 42.453,
            "{b:?}"
        );
        let e = parse_items("f=xml", &[]).unwrap_err().description;
        assert!(e.contains("geojsonseq") && e.contains("gpkg"), "{e}");
    }

    #[test]
    fn single_features_take_crs_properties_and_skip_geometry() {
        let p =
            parse_item("crs=%5BEPSG%3A4326%5D&properties=name&skipGeometry=true&f=json").unwrap();
        assert_eq!(p.crs, Crs::Epsg4326);
        assert_eq!(p.properties, Some(vec!["name".into()]));
        assert!(p.skip_geometry);
        assert_eq!(p.format, Some(Format::Json));
        let e = parse_item("bbox=1,2,3,4").unwrap_err().description;
        assert!(e.contains("`bbox`") && e.contains("skipGeometry"), "{e}");
    }

    #[test]
    fn queryables_become_filters() {
        let p = parse_items("country=KGZ&offset=3&f=html", &["country"]).unwrap();
        assert_eq!(p.selection.filters.len(), 1);
        assert_eq!(p.selection.filters[0].value, "KGZ");
        assert_eq!((p.offset, p.format), (3, Some(Format::Html)));
    }
}
