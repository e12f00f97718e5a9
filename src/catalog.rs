//! The published collections: every layer's features, pre-serialised as GeoJSON, with its R-tree and
//! metadata. Built once at start-up and then only read, so handlers share it without locks.

use std::collections::HashMap;

use geo::BoundingRect;
use rayon::prelude::*;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::index::{BBox, FeatureIndex};
use crate::model::Site;
use crate::reference::{LayerSpec, RefLayer, ReferenceData, SITES_SPEC};

/// One feature as served: its id, geometry (for queries), properties (for filters and HTML) and its
/// GeoJSON text, serialised once.
#[derive(Debug, Clone)]
pub struct CatalogFeature {
    pub id: String,
    pub geometry: geo::Geometry<f64>,
    pub properties: Map<String, Value>,
    pub geojson: Box<RawValue>,
    /// For sites from the store: the number of the site's latest version (its ETag).
    pub revision: Option<i64>,
}

/// One published collection.
#[derive(Debug)]
pub struct Collection {
    pub spec: &'static LayerSpec,
    pub features: Vec<CatalogFeature>,
    index: FeatureIndex,
    by_id: HashMap<String, usize>,
    /// [west, south, east, north] over all features, if any.
    pub extent: Option<[f64; 4]>,
    /// The user's file this layer comes from, when `--layers` replaced the default one.
    pub user_source: Option<String>,
}

/// An equality filter on one property, as given in a query string.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyFilter {
    pub property: String,
    pub value: String,
}

impl PropertyFilter {
    fn matches(&self, properties: &Map<String, Value>) -> bool {
        match properties.get(&self.property) {
            // ISO codes and vocabularies are typed in either case; nobody means `kgz` to differ from
            // `KGZ`. ASCII folding needs no allocation on this per-feature path.
            Some(Value::String(s)) => s.eq_ignore_ascii_case(&self.value),
            Some(Value::Number(n)) => match (n.as_f64(), self.value.parse::<f64>()) {
                (Some(a), Ok(b)) => a == b,
                _ => false,
            },
            Some(Value::Bool(b)) => self.value.parse::<bool>() == Ok(*b),
            _ => false,
        }
    }
}

/// Which features of a collection a query selects, before paging.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    pub bbox: Option<BBox>,
    pub filters: Vec<PropertyFilter>,
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

impl Collection {
    fn new(spec: &'static LayerSpec, features: Vec<CatalogFeature>) -> Self {
        let geometries: Vec<&geo::Geometry<f64>> = features.iter().map(|f| &f.geometry).collect();
        let index = FeatureIndex::new(&geometries);
        let extent = geometries.iter().filter_map(|g| g.bounding_rect()).fold(
            None,
            |acc: Option<[f64; 4]>, r| {
                Some(match acc {
                    None => [r.min().x, r.min().y, r.max().x, r.max().y],
                    Some(e) => [
                        e[0].min(r.min().x),
                        e[1].min(r.min().y),
                        e[2].max(r.max().x),
                        e[3].max(r.max().y),
                    ],
                })
            },
        );
        let by_id = features
            .iter()
            .enumerate()
            .map(|(i, f)| (f.id.clone(), i))
            .collect();
        Collection {
            user_source: None,
            spec,
            features,
            index,
            by_id,
            extent,
        }
    }

    /// The collection of inventory sites; `extra[i]`, if given, is appended to site `i`'s properties
    /// (the analysis results).
    pub fn from_sites(
        sites: &[Site],
        extra: &[Map<String, Value>],
    ) -> Result<Self, serde_json::Error> {
        let features = sites
            .par_iter()
            .enumerate()
            .map(|(i, s)| {
                let geometry = geo::Geometry::Point(s.location.to_geo());
                let mut properties = s.properties();
                if let Some(more) = extra.get(i) {
                    properties.extend(more.clone());
                }
                let geojson = feature_json(s.id.as_str(), &geometry, &properties)?;
                Ok(CatalogFeature {
                    id: s.id.to_string(),
                    geometry,
                    properties,
                    geojson,
                    revision: None,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Collection::new(&SITES_SPEC, features))
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
                    revision: None,
                })
            })
            .collect::<Result<_, serde_json::Error>>()?;
        let mut c = Collection::new(layer.spec, features);
        c.user_source = layer.user_source.clone();
        Ok(c)
    }

    /// The collection id.
    pub fn id(&self) -> &'static str {
        self.spec.id
    }

    /// Indexes (ascending) of the features that satisfy `selection`.
    pub fn select(&self, selection: &Selection) -> Vec<usize> {
        let candidates: Vec<usize> = match &selection.bbox {
            Some(b) => self.index.query(b, |i| &self.features[i].geometry),
            None => (0..self.features.len()).collect(),
        };
        candidates
            .into_iter()
            .filter(|&i| {
                selection
                    .filters
                    .iter()
                    .all(|f| f.matches(&self.features[i].properties))
            })
            .collect()
    }

    /// A site as published: its properties with `extra` (its analysis) appended, serialised.
    pub fn site_feature(
        site: &Site,
        extra: Map<String, Value>,
        revision: Option<i64>,
    ) -> Result<CatalogFeature, serde_json::Error> {
        let geometry = geo::Geometry::Point(site.location.to_geo());
        let mut properties = site.properties();
        properties.extend(extra);
        Ok(CatalogFeature {
            id: site.id.to_string(),
            geojson: feature_json(site.id.as_str(), &geometry, &properties)?,
            geometry,
            properties,
            revision,
        })
    }

    /// Publishes `feature`, replacing the one with its id; returns its index and the geometry it
    /// replaced, if any.
    pub fn put(&mut self, feature: CatalogFeature) -> (usize, Option<geo::Geometry<f64>>) {
        match self.by_id.get(&feature.id).copied() {
            Some(i) => {
                self.index
                    .replace(i, Some(&self.features[i].geometry), &feature.geometry);
                let old = std::mem::replace(&mut self.features[i], feature);
                (i, Some(old.geometry))
            }
            None => {
                let i = self.features.len();
                self.index.replace(i, None, &feature.geometry);
                self.by_id.insert(feature.id.clone(), i);
                self.features.push(feature);
                (i, None)
            }
        }
    }

    /// Withdraws a feature; the last feature takes its place, so indexes stay dense. Returns the
    /// removed feature and its index.
    pub fn remove(&mut self, id: &str) -> Option<(usize, CatalogFeature)> {
        let i = self.by_id.remove(id)?;
        let last = self.features.len() - 1;
        self.index.remove(i, &self.features[i].geometry);
        if i != last {
            self.index.remove(last, &self.features[last].geometry);
            self.index.replace(i, None, &self.features[last].geometry);
            self.by_id.insert(self.features[last].id.clone(), i);
        }
        Some((i, self.features.swap_remove(i)))
    }

    /// Sets the revision of every feature whose id is in `revisions`.
    pub fn set_revisions(&mut self, revisions: &HashMap<String, i64>) {
        for f in &mut self.features {
            f.revision = revisions.get(&f.id).copied();
        }
    }

    /// The feature with this id.
    pub fn feature(&self, id: &str) -> Option<&CatalogFeature> {
        self.by_id.get(id).map(|&i| &self.features[i])
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
    /// Builds every collection (features serialised and indexed in parallel).
    pub fn build(
        sites: &[Site],
        site_extra: &[Map<String, Value>],
        reference: &ReferenceData,
    ) -> Result<Self, serde_json::Error> {
        let (site_collection, others) = rayon::join(
            || Collection::from_sites(sites, site_extra),
            || {
                reference
                    .layers
                    .par_iter()
                    .map(Collection::from_layer)
                    .collect::<Result<Vec<_>, _>>()
            },
        );
        let mut collections = vec![site_collection?];
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
