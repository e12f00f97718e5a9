//! The published collections. The inventory's sites are typed records ([`sites::SiteTable`]),
//! written to GeoJSON when asked for; the reference layers, small and fixed for the life of the
//! process, keep each feature's GeoJSON text, serialised once. Built at start-up; the sites then
//! change in place as edits are published.

mod columns;
pub mod json;
pub mod order;
pub mod queryables;
pub mod sites;
mod sorted;
pub mod time;
pub mod write;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use geo::BoundingRect;
use rayon::prelude::*;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::filter::{Filter, Queryable};
use crate::index::{BBox, FeatureIndex};
use crate::reference::{LayerSpec, RefLayer, ReferenceData, SITES_SPEC};
pub use sites::{SiteRecord, SiteTable};

/// One reference-layer feature as served: its id, geometry (for queries), properties (for filters
/// and HTML) and its GeoJSON text, serialised once.
#[derive(Debug, Clone)]
pub struct CatalogFeature {
    pub id: String,
    pub geometry: geo::Geometry<f64>,
    pub properties: Map<String, Value>,
    pub geojson: Box<RawValue>,
}

/// A reference layer's features with their R-tree.
#[derive(Debug)]
pub struct LayerTable {
    features: Vec<CatalogFeature>,
    index: FeatureIndex,
    by_id: HashMap<String, usize>,
}

/// What a collection holds.
#[derive(Debug)]
pub enum Features {
    Sites(SiteTable),
    Layer(LayerTable),
}

/// One published collection.
#[derive(Debug)]
pub struct Collection {
    pub spec: &'static LayerSpec,
    features: Features,
    /// [west, south, east, north] over all features, if any.
    pub extent: Option<[f64; 4]>,
    /// The user's file this layer comes from, when `--layers` replaced the default one.
    pub user_source: Option<String>,
    /// What a filter may name (see [`queryables`]).
    queryables: Cow<'static, [Queryable]>,
}

/// One feature of a collection, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum FeatureRef<'a> {
    Site(&'a SiteRecord),
    Layer(&'a CatalogFeature),
}

impl<'a> FeatureRef<'a> {
    /// The feature id.
    pub fn id(&self) -> &'a str {
        match self {
            FeatureRef::Site(r) => r.site.id.as_str(),
            FeatureRef::Layer(f) => &f.id,
        }
    }

    /// For sites from the store: the number of the site's latest version (its ETag).
    pub fn revision(&self) -> Option<i64> {
        match self {
            FeatureRef::Site(r) => r.revision,
            FeatureRef::Layer(_) => None,
        }
    }

    /// The geometry.
    pub fn geometry(&self) -> Cow<'a, geo::Geometry<f64>> {
        match self {
            FeatureRef::Site(r) => Cow::Owned(geo::Geometry::Point(r.site.location.to_geo())),
            FeatureRef::Layer(f) => Cow::Borrowed(&f.geometry),
        }
    }

    /// Appends the GeoJSON Feature.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            FeatureRef::Site(r) => json::write_feature(out, r),
            FeatureRef::Layer(f) => out.extend_from_slice(f.geojson.get().as_bytes()),
        }
    }

    /// The GeoJSON Feature as text.
    pub fn json(&self) -> String {
        match self {
            FeatureRef::Site(r) => r.geojson(),
            FeatureRef::Layer(f) => f.geojson.get().to_owned(),
        }
    }

    /// Every property, in order.
    pub fn properties(&self) -> Cow<'a, Map<String, Value>> {
        match self {
            FeatureRef::Site(r) => Cow::Owned(r.properties()),
            FeatureRef::Layer(f) => Cow::Borrowed(&f.properties),
        }
    }

    /// One property, if the feature has it.
    pub fn property(&self, key: &str) -> Option<Value> {
        match self {
            FeatureRef::Site(r) => r.property(key),
            FeatureRef::Layer(f) => f.properties.get(key).cloned(),
        }
    }
}

/// An equality filter on one property, as given in a query string.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyFilter {
    pub property: String,
    pub value: String,
}

impl PropertyFilter {
    fn matches(&self, properties: &Map<String, Value>) -> bool {
        properties
            .get(&self.property)
            .is_some_and(|v| self.matches_value(v))
    }

    /// Whether a property's value equals the filter's.
    pub fn matches_value(&self, v: &Value) -> bool {
        match v {
            // ISO codes and vocabularies are typed in either case; nobody means `kgz` to differ from
            // `KGZ`. ASCII folding needs no allocation on this per-feature path.
            Value::String(s) => s.eq_ignore_ascii_case(&self.value),
            Value::Number(n) => match (n.as_f64(), self.value.parse::<f64>()) {
                (Some(a), Ok(b)) => a == b,
                _ => false,
            },
            Value::Bool(b) => self.value.parse::<bool>() == Ok(*b),
            _ => false,
        }
    }
}

/// Which features of a collection a query selects, before paging.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub bbox: Option<BBox>,
    pub filters: Vec<PropertyFilter>,
    /// A CQL2 filter, compiled against the collection's [`Collection::queryables`].
    pub filter: Option<Arc<Filter>>,
}

impl PartialEq for Selection {
    fn eq(&self, other: &Self) -> bool {
        self.bbox == other.bbox
            && self.filters == other.filters
            && match (&self.filter, &other.filter) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

/// Where a selection's matches can be: anywhere, within a box, or nowhere.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SearchBox {
    All,
    Within(BBox),
    /// The `bbox` and the filter's spatial terms do not meet.
    Nothing,
}

impl Selection {
    /// The box the R-tree is asked with: the `bbox`, narrowed by the box the filter's spatial terms
    /// imply.
    pub fn search_box(&self) -> SearchBox {
        let hint = self.filter.as_ref().and_then(|f| f.bbox());
        match (self.bbox, hint) {
            (None, None) => SearchBox::All,
            (None, Some(b)) | (Some(b), None) => SearchBox::Within(b),
            // The hint never crosses the antimeridian; the filter still decides.
            (Some(b), Some(_)) if b.crosses_antimeridian() => SearchBox::Within(b),
            (Some(b), Some(h)) => {
                let (w, s, e, n) = (
                    b.west.max(h.west),
                    b.south.max(h.south),
                    b.east.min(h.east),
                    b.north.min(h.north),
                );
                match BBox::new(w, s, e, n) {
                    Ok(b) if w <= e => SearchBox::Within(b),
                    _ => SearchBox::Nothing,
                }
            }
        }
    }
}

fn feature_json(
    id: &str,
    geometry: &geo::Geometry<f64>,
    properties: &Map<String, Value>,
) -> Result<Box<RawValue>, serde_json::Error> {
    serde_json::value::to_raw_value(&json!({
        "type": "Feature",
        "id": id,
        "geometry": geojson::Geometry::new(geojson::Value::from(geometry)),
        "properties": properties,
    }))
}

fn grow(extent: Option<[f64; 4]>, r: geo::Rect<f64>) -> [f64; 4] {
    match extent {
        None => [r.min().x, r.min().y, r.max().x, r.max().y],
        Some(e) => [
            e[0].min(r.min().x),
            e[1].min(r.min().y),
            e[2].max(r.max().x),
            e[3].max(r.max().y),
        ],
    }
}

impl Collection {
    /// The collection of inventory sites, in the order given.
    pub fn from_records(records: Vec<SiteRecord>) -> Self {
        let extent = records.iter().fold(None, |acc, r| {
            let [x, y] = r.point();
            Some(grow(acc, geo::Rect::new((x, y), (x, y))))
        });
        Collection {
            spec: &SITES_SPEC,
            features: Features::Sites(SiteTable::new(records)),
            extent,
            user_source: None,
            queryables: Cow::Borrowed(queryables::sites()),
        }
    }

    /// A collection over a reference layer; line layers also get a segment index.
    pub fn from_layer(layer: &RefLayer) -> Result<Self, serde_json::Error> {
        let features: Vec<CatalogFeature> = layer
            .features
            .par_iter()
            .map(|f| {
                Ok(CatalogFeature {
                    id: f.id.clone(),
                    geometry: f.geometry.clone(),
                    properties: f.properties.clone(),
                    geojson: feature_json(&f.id, &f.geometry, &f.properties)?,
                })
            })
            .collect::<Result<_, serde_json::Error>>()?;
        let geometries: Vec<&geo::Geometry<f64>> = features.iter().map(|f| &f.geometry).collect();
        let index = FeatureIndex::new(&geometries);
        let extent = geometries
            .iter()
            .filter_map(|g| g.bounding_rect())
            .fold(None, |acc, r| Some(grow(acc, r)));
        let by_id = features
            .iter()
            .enumerate()
            .map(|(i, f)| (f.id.clone(), i))
            .collect();
        let queryables = Cow::Owned(queryables::of_layer(&features));
        Ok(Collection {
            queryables,
            spec: layer.spec,
            features: Features::Layer(LayerTable {
                features,
                index,
                by_id,
            }),
            extent,
            user_source: layer.user_source.clone(),
        })
    }

    /// The collection id.
    pub fn id(&self) -> &'static str {
        self.spec.id
    }

    /// What a filter on this collection may name, the geometry last.
    pub fn queryables(&self) -> &[Queryable] {
        &self.queryables
    }

    /// The number of features.
    pub fn len(&self) -> usize {
        match &self.features {
            Features::Sites(t) => t.len(),
            Features::Layer(t) => t.features.len(),
        }
    }

    /// Whether the collection has no features.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The feature at position `i`.
    pub fn get(&self, i: usize) -> Option<FeatureRef<'_>> {
        match &self.features {
            Features::Sites(t) => t.get(i).map(FeatureRef::Site),
            Features::Layer(t) => t.features.get(i).map(FeatureRef::Layer),
        }
    }

    /// The features, in order.
    pub fn iter(&self) -> impl Iterator<Item = FeatureRef<'_>> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The feature with this id.
    pub fn feature(&self, id: &str) -> Option<FeatureRef<'_>> {
        match &self.features {
            Features::Sites(t) => t.record(id).map(FeatureRef::Site),
            Features::Layer(t) => t.by_id.get(id).map(|&i| FeatureRef::Layer(&t.features[i])),
        }
    }

    /// The site table, if this is the sites collection.
    pub fn sites(&self) -> Option<&SiteTable> {
        match &self.features {
            Features::Sites(t) => Some(t),
            Features::Layer(_) => None,
        }
    }

    /// The site table, to change it.
    pub fn sites_mut(&mut self) -> Option<&mut SiteTable> {
        match &mut self.features {
            Features::Sites(t) => Some(t),
            Features::Layer(_) => None,
        }
    }

    /// Publishes a site (sites collection only); the extent grows to take it in.
    pub fn put_site(&mut self, record: SiteRecord) -> Option<usize> {
        let [x, y] = record.point();
        let t = self.sites_mut()?;
        let i = t.put(record);
        self.extent = Some(grow(self.extent, geo::Rect::new((x, y), (x, y))));
        Some(i)
    }

    /// How many features `selection` matches, and the positions of those in
    /// `[offset, offset + limit)`, ascending.
    pub fn page(&self, selection: &Selection, offset: usize, limit: usize) -> (usize, Vec<usize>) {
        match &self.features {
            Features::Sites(t) => t.page(selection, offset, limit),
            Features::Layer(t) => {
                let matched = t.select(selection, &self.queryables);
                let rows = matched.iter().skip(offset).take(limit).copied().collect();
                (matched.len(), rows)
            }
        }
    }

    /// Positions (ascending) of the features that satisfy `selection`.
    pub fn select(&self, selection: &Selection) -> Vec<usize> {
        match &self.features {
            Features::Sites(t) => t.select(selection),
            Features::Layer(t) => t.select(selection, &self.queryables),
        }
    }

    /// The property to title a feature by in HTML: `name` where the features have one, else `id`.
    pub fn title_key(&self) -> &'static str {
        let has = |k: &str| self.get(0).is_some_and(|f| f.property(k).is_some());
        if has("name") { "name" } else { "id" }
    }
}

impl LayerTable {
    fn select(&self, selection: &Selection, queryables: &[Queryable]) -> Vec<usize> {
        let candidates: Vec<usize> = match selection.search_box() {
            SearchBox::Nothing => return Vec::new(),
            SearchBox::Within(b) => self.index.query(&b, |i| &self.features[i].geometry),
            SearchBox::All => (0..self.features.len()).collect(),
        };
        candidates
            .into_iter()
            .filter(|&i| {
                let f = &self.features[i];
                selection.filters.iter().all(|p| p.matches(&f.properties))
                    && selection.filter.as_ref().is_none_or(|filter| {
                        filter.matches(&queryables::LayerRow {
                            feature: f,
                            queryables,
                        })
                    })
            })
            .collect()
    }
}

/// All published collections, sites first.
#[derive(Debug)]
pub struct Catalog {
    pub collections: Vec<Collection>,
    /// The data directory's README: sources, attributions and licences, served as they are.
    pub notices: Option<String>,
}

impl Catalog {
    /// Publishes the site records and every reference layer (serialised and indexed in parallel).
    pub fn build(
        sites: Vec<SiteRecord>,
        reference: &ReferenceData,
    ) -> Result<Self, serde_json::Error> {
        let (site_collection, others) = rayon::join(
            || Collection::from_records(sites),
            || {
                reference
                    .layers
                    .par_iter()
                    .map(Collection::from_layer)
                    .collect::<Result<Vec<_>, _>>()
            },
        );
        let mut collections = vec![site_collection];
        collections.extend(others?);
        Ok(Catalog {
            collections,
            notices: reference.notices.clone(),
        })
    }

    /// The collection with this id.
    pub fn collection(&self, id: &str) -> Option<&Collection> {
        self.collections.iter().find(|c| c.id() == id)
    }

    /// The collection with this id, to change it.
    pub fn collection_mut(&mut self, id: &str) -> Option<&mut Collection> {
        self.collections.iter_mut().find(|c| c.id() == id)
    }

    /// The published sites.
    pub fn sites(&self) -> Option<&SiteTable> {
        self.collection(crate::reference::SITES)?.sites()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compare_by_type() {
        let mut p = Map::new();
        p.insert("country".into(), "KGZ".into());
        p.insert("level".into(), 2.into());
        let f = |k: &str, v: &str| PropertyFilter {
            property: k.into(),
            value: v.into(),
        };
        assert!(f("country", "KGZ").matches(&p));
        assert!(!f("country", "KAZ").matches(&p));
        assert!(f("country", "kgz").matches(&p));
        assert!(f("level", "2").matches(&p));
        assert!(f("level", "2.0").matches(&p));
        assert!(!f("level", "3").matches(&p));
        assert!(!f("missing", "x").matches(&p));
    }
}
