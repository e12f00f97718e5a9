//! What a CQL2 filter may name in each collection, and each feature as the filter reads it.
//!
//! - **Sites:** derived from the one schema ([`crate::schema`]): every scalar site field but the
//!   coordinates (they are the geometry), every scalar analysis and risk field, with their units and
//!   descriptions, then `updated` (when the site's current version was written) and `geometry`.
//!   Lists and objects (`substances`, `sources`, `attributes`, `risk_factors`) are not queryable:
//!   the array functions of CQL2 are not implemented.
//! - **Reference and risk layers:** read off the layer's features when it is published: a property
//!   is queryable when every feature that has it holds the same kind of scalar (text, number,
//!   boolean), then `id` and `geometry`.

use std::borrow::Cow;
use std::sync::OnceLock;

use serde_json::Value;

use crate::filter::{FilterRecord, FilterValue, GEOMETRY, Queryable, QueryableType};
use crate::model::SiteValue;
use crate::schema::{ANALYSIS_FIELDS, FieldDef, FieldType, RISK_FIELDS, SITE_FIELDS};

use super::{CatalogFeature, SiteRecord};

/// Where a site queryable's value is read from.
#[derive(Debug, Clone, Copy)]
enum SiteSource {
    Site(usize),
    Analysis(usize),
    Risk(usize),
    Updated,
    Geometry,
}

struct SiteQueryables {
    list: Vec<Queryable>,
    sources: Vec<SiteSource>,
}

fn scalar_type(ty: FieldType) -> Option<QueryableType> {
    match ty {
        FieldType::Text | FieldType::CountryCode => Some(QueryableType::String),
        FieldType::Number => Some(QueryableType::Number),
        FieldType::TextList | FieldType::Object => None,
    }
}

fn site_queryables() -> &'static SiteQueryables {
    static Q: OnceLock<SiteQueryables> = OnceLock::new();
    Q.get_or_init(|| {
        let mut list = Vec::new();
        let mut sources = Vec::new();
        let mut add = |f: &FieldDef, source: SiteSource| {
            if let Some(ty) = scalar_type(f.ty) {
                list.push(Queryable {
                    name: f.name.to_owned(),
                    ty,
                    unit: f.unit.map(str::to_owned),
                    description: f.description.to_owned(),
                });
                sources.push(source);
            }
        };
        for (i, f) in SITE_FIELDS.iter().enumerate() {
            if !matches!(f.name, "lon" | "lat") {
                add(f, SiteSource::Site(i));
            }
        }
        for (i, f) in ANALYSIS_FIELDS.iter().enumerate() {
            add(f, SiteSource::Analysis(i));
        }
        for (i, f) in RISK_FIELDS.iter().enumerate() {
            add(f, SiteSource::Risk(i));
        }
        list.push(Queryable {
            name: "updated".into(),
            ty: QueryableType::Timestamp,
            unit: None,
            description: "When the site's current version was written to the inventory (what \
                          `datetime` matches); null when the service runs without a store."
                .into(),
        });
        sources.push(SiteSource::Updated);
        list.push(geometry_queryable("The site's location (a point)."));
        sources.push(SiteSource::Geometry);
        SiteQueryables { list, sources }
    })
}

fn geometry_queryable(description: &str) -> Queryable {
    Queryable {
        name: GEOMETRY.into(),
        ty: QueryableType::Geometry,
        unit: None,
        description: description.into(),
    }
}

/// The queryables of the sites collection.
pub fn sites() -> &'static [Queryable] {
    &site_queryables().list
}

/// The queryables of a layer, from its features.
pub fn of_layer(features: &[CatalogFeature]) -> Vec<Queryable> {
    // (name, type so far; None once two features disagree or a value is not scalar).
    let mut seen: Vec<(String, Option<QueryableType>)> = Vec::new();
    for f in features {
        for (k, v) in &f.properties {
            let ty = match v {
                Value::Null => continue,
                Value::String(_) => Some(QueryableType::String),
                Value::Number(n) if n.is_i64() || n.is_u64() => Some(QueryableType::Integer),
                Value::Number(_) => Some(QueryableType::Number),
                Value::Bool(_) => Some(QueryableType::Boolean),
                Value::Array(_) | Value::Object(_) => None,
            };
            match seen.iter_mut().find(|(name, _)| name == k) {
                None => seen.push((k.clone(), ty)),
                Some((_, slot)) => {
                    *slot = match (*slot, ty) {
                        (Some(a), Some(b)) if a == b => Some(a),
                        // Whole and fractional numbers mix: a number.
                        (
                            Some(QueryableType::Integer | QueryableType::Number),
                            Some(QueryableType::Integer | QueryableType::Number),
                        ) => Some(QueryableType::Number),
                        _ => None,
                    }
                }
            }
        }
    }
    let mut list = vec![Queryable {
        name: "id".into(),
        ty: QueryableType::String,
        unit: None,
        description: "The feature's id.".into(),
    }];
    list.extend(
        seen.into_iter()
            .filter(|(name, _)| name != "id" && name != GEOMETRY)
            .filter_map(|(name, ty)| {
                Some(Queryable {
                    unit: unit_of(&name),
                    description: String::new(),
                    name,
                    ty: ty?,
                })
            }),
    );
    list.push(geometry_queryable("The feature's geometry."));
    list
}

/// The unit a layer property's name ends in (`_m`, `_km`, `_m3`…), by the project's naming rule.
fn unit_of(name: &str) -> Option<String> {
    let (_, suffix) = name.rsplit_once('_')?;
    matches!(suffix, "m" | "km" | "m2" | "m3" | "km2" | "t" | "pct")
        .then(|| suffix.replace("pct", "%"))
}

/// A site as a filter reads it.
pub struct SiteRow<'a>(pub &'a SiteRecord);

impl FilterRecord for SiteRow<'_> {
    fn value(&self, field: usize) -> FilterValue<'_> {
        site_value(self.0, field)
    }

    fn geometry(&self) -> Cow<'_, geo::Geometry<f64>> {
        Cow::Owned(geo::Geometry::Point(self.0.site.location.to_geo()))
    }
}

/// The value of site queryable `field` (a position in [`sites`]) of record `r`.
pub fn site_value(r: &SiteRecord, field: usize) -> FilterValue<'_> {
    match site_queryables().sources.get(field) {
        Some(SiteSource::Site(i)) => match r.site.value(*i) {
            SiteValue::Text(t) => FilterValue::Str(Cow::Borrowed(t)),
            SiteValue::Number(n) if n.is_finite() => FilterValue::Num(n),
            _ => FilterValue::Null,
        },
        Some(SiteSource::Analysis(i)) => match r.fields().value(*i) {
            crate::analysis::Field::Text(t) => FilterValue::Str(t),
            crate::analysis::Field::Number(n) if n.is_finite() => FilterValue::Num(n),
            _ => FilterValue::Null,
        },
        // hazard_score, risk_score, risk_class, toxicity_class.
        Some(SiteSource::Risk(0)) => FilterValue::Num(r.risk.hazard()),
        Some(SiteSource::Risk(1)) => FilterValue::Num(r.risk.score()),
        Some(SiteSource::Risk(2)) => FilterValue::Str(Cow::Borrowed(r.risk.class.as_str())),
        Some(SiteSource::Risk(3)) => FilterValue::Str(Cow::Borrowed(r.risk.toxicity.as_str())),
        Some(SiteSource::Updated) => r.updated.map_or(FilterValue::Null, |t| {
            FilterValue::Time(t.timestamp_millis())
        }),
        Some(SiteSource::Risk(_) | SiteSource::Geometry) | None => FilterValue::Null,
    }
}

/// A layer feature as a filter reads it, by the layer's queryables.
pub struct LayerRow<'a> {
    pub feature: &'a CatalogFeature,
    pub queryables: &'a [Queryable],
}

impl FilterRecord for LayerRow<'_> {
    fn value(&self, field: usize) -> FilterValue<'_> {
        let Some(q) = self.queryables.get(field) else {
            return FilterValue::Null;
        };
        if field == 0 {
            return FilterValue::Str(Cow::Borrowed(&self.feature.id));
        }
        match self.feature.properties.get(&q.name) {
            Some(Value::String(s)) => FilterValue::Str(Cow::Borrowed(s)),
            Some(Value::Number(n)) => n.as_f64().map_or(FilterValue::Null, FilterValue::Num),
            Some(Value::Bool(b)) => FilterValue::Bool(*b),
            _ => FilterValue::Null,
        }
    }

    fn geometry(&self) -> Cow<'_, geo::Geometry<f64>> {
        Cow::Borrowed(&self.feature.geometry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_queryables_come_from_the_schema() {
        let q = sites();
        let names: Vec<&str> = q.iter().map(|q| q.name.as_str()).collect();
        for f in SITE_FIELDS.iter().chain(crate::schema::computed_fields()) {
            let scalar = scalar_type(f.ty).is_some() && !matches!(f.name, "lon" | "lat");
            assert_eq!(names.contains(&f.name), scalar, "{}", f.name);
        }
        assert_eq!(names.last(), Some(&GEOMETRY));
        assert!(names.contains(&"updated"));
        let d = q.iter().find(|q| q.name == "river_distance_m").unwrap();
        assert_eq!(d.ty, QueryableType::Number);
        assert_eq!(d.unit.as_deref(), Some("m"));
        assert_eq!(q.len(), site_queryables().sources.len());
    }

    #[test]
    fn layer_types_are_read_off_the_features() {
        let feature = |props: Value| CatalogFeature {
            id: "a".into(),
            geometry: geo::Geometry::Point(geo::Point::new(0.0, 0.0)),
            properties: props.as_object().unwrap().clone(),
            geojson: serde_json::value::to_raw_value(&1).unwrap(),
        };
        let fs = [
            feature(
                serde_json::json!({"name": "x", "length_km": 1, "n": 1, "mixed": 1, "flag": true, "list": [1]}),
            ),
            feature(
                serde_json::json!({"name": null, "length_km": 2.5, "n": 2, "mixed": "a", "flag": false}),
            ),
        ];
        let q = of_layer(&fs);
        let ty = |n: &str| q.iter().find(|q| q.name == n).map(|q| q.ty);
        assert_eq!(ty("id"), Some(QueryableType::String));
        assert_eq!(ty("name"), Some(QueryableType::String));
        assert_eq!(ty("length_km"), Some(QueryableType::Number));
        assert_eq!(ty("n"), Some(QueryableType::Integer));
        assert_eq!(ty("flag"), Some(QueryableType::Boolean));
        assert_eq!(ty("mixed"), None);
        assert_eq!(ty("list"), None);
        assert_eq!(ty(GEOMETRY), Some(QueryableType::Geometry));
        let km = q.iter().find(|q| q.name == "length_km").unwrap();
        assert_eq!(km.unit.as_deref(), Some("km"));
    }
}
