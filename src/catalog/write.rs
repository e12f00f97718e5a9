//! Writing features other than as stored: in another coordinate reference system, with some of
//! their properties only, or without their geometry (`crs`, `properties` and `skipGeometry` on
//! `/items`). The catalog knows nothing of CRSs: the caller hands in the reprojection as a function
//! over a geometry (the API layer's, through PROJ), so the core never depends on GDAL.

use serde_json::{Map, Value};

use crate::schema::{ANALYSIS_FIELDS, RISK_FIELDS, SITE_FIELDS};

use super::json;
use super::sites::SiteRecord;
use super::{CatalogFeature, Collection, FeatureRef, Features};

/// Rewrites a geometry's coordinates in place (a reprojection), or says why it cannot.
pub type Reproject<'a> = &'a dyn Fn(&mut geo::Geometry<f64>) -> Result<(), String>;

/// Why a feature cannot be written as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// `properties` names a property the collection's features do not have.
    #[error("unknown property {name:?}; the properties of this collection are: {known}")]
    UnknownProperty { name: String, known: String },
    /// `properties` names a property twice.
    #[error("property {0:?} is listed twice")]
    Repeated(String),
    /// The reprojection refused one of the feature's coordinates.
    #[error("feature {id:?} cannot be expressed in the requested CRS: {reason}")]
    Reproject { id: String, reason: String },
}

/// A site property, by where its value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SiteProp {
    Site(usize),
    Analysis(usize),
    Risk(usize),
}

fn site_prop(name: &str) -> Option<SiteProp> {
    let at = |fields: &[crate::schema::FieldDef]| fields.iter().position(|f| f.name == name);
    at(&SITE_FIELDS)
        .map(SiteProp::Site)
        .or_else(|| at(&ANALYSIS_FIELDS).map(SiteProp::Analysis))
        .or_else(|| at(&RISK_FIELDS).map(SiteProp::Risk))
}

/// The properties to write, checked against a collection and in the order asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertySelection {
    names: Vec<String>,
    /// For the sites: where each name's value comes from.
    site: Vec<SiteProp>,
}

impl PropertySelection {
    /// The names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// How features are written. The default writes them as stored.
#[derive(Clone, Copy, Default)]
pub struct WriteOptions<'a> {
    /// Applied to each feature's geometry (a copy) before it is written.
    pub reproject: Option<Reproject<'a>>,
    /// Only these properties, in this order.
    pub properties: Option<&'a PropertySelection>,
    /// `"geometry": null`.
    pub skip_geometry: bool,
}

impl std::fmt::Debug for WriteOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteOptions")
            .field("reproject", &self.reproject.is_some())
            .field("properties", &self.properties)
            .field("skip_geometry", &self.skip_geometry)
            .finish()
    }
}

impl WriteOptions<'_> {
    /// Whether features are written as stored.
    pub fn is_plain(&self) -> bool {
        self.reproject.is_none() && self.properties.is_none() && !self.skip_geometry
    }
}

impl Collection {
    /// Every property name the features of this collection have: the schema's for the sites, for
    /// another collection those of any of its features, in the order first met.
    pub fn property_names(&self) -> Vec<&str> {
        match &self.features {
            Features::Sites(_) => SITE_FIELDS
                .iter()
                .chain(ANALYSIS_FIELDS.iter())
                .chain(RISK_FIELDS.iter())
                .map(|f| f.name)
                .collect(),
            Features::Layer(t) => {
                let mut names: Vec<&str> = Vec::new();
                let mut seen = std::collections::HashSet::new();
                for f in &t.features {
                    for k in f.properties.keys() {
                        if seen.insert(k.as_str()) {
                            names.push(k);
                        }
                    }
                }
                names
            }
        }
    }

    /// Checks `names` (the `properties` parameter) against this collection's properties.
    pub fn select_properties(&self, names: &[String]) -> Result<PropertySelection, WriteError> {
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(WriteError::Repeated(n.clone()));
            }
        }
        let known = || self.property_names().join(", ");
        match &self.features {
            Features::Sites(_) => {
                let site = names
                    .iter()
                    .map(|n| {
                        site_prop(n).ok_or_else(|| WriteError::UnknownProperty {
                            name: n.clone(),
                            known: known(),
                        })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(PropertySelection {
                    names: names.to_vec(),
                    site,
                })
            }
            Features::Layer(_) => {
                let all = self.property_names();
                if let Some(n) = names.iter().find(|n| !all.contains(&n.as_str())) {
                    return Err(WriteError::UnknownProperty {
                        name: n.clone(),
                        known: all.join(", "),
                    });
                }
                Ok(PropertySelection {
                    names: names.to_vec(),
                    site: Vec::new(),
                })
            }
        }
    }
}

/// Appends `v` as JSON (never fails for the values written here).
fn put<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    if serde_json::to_writer(&mut *out, v).is_err() {
        out.extend_from_slice(b"null");
    }
}

fn write_geometry(out: &mut Vec<u8>, g: &geo::Geometry<f64>) {
    match g {
        // The sites' geometry, as `json::write_feature` writes it.
        geo::Geometry::Point(p) => {
            out.extend_from_slice(b"{\"type\":\"Point\",\"coordinates\":[");
            json::number(out, p.x());
            out.push(b',');
            json::number(out, p.y());
            out.extend_from_slice(b"]}");
        }
        g => put(out, &geojson::Geometry::new(geojson::Value::from(g))),
    }
}

impl FeatureRef<'_> {
    /// Appends the GeoJSON Feature as `options` ask: what [`FeatureRef::write_json`] writes when
    /// they are the default.
    pub fn write_json_with(
        &self,
        out: &mut Vec<u8>,
        options: &WriteOptions<'_>,
    ) -> Result<(), WriteError> {
        if options.is_plain() {
            self.write_json(out);
            return Ok(());
        }
        out.extend_from_slice(b"{\"type\":\"Feature\",\"id\":");
        put(out, self.id());
        out.extend_from_slice(b",\"geometry\":");
        if options.skip_geometry {
            out.extend_from_slice(b"null");
        } else if let Some(reproject) = options.reproject {
            let mut g = self.geometry().into_owned();
            reproject(&mut g).map_err(|reason| WriteError::Reproject {
                id: self.id().to_owned(),
                reason,
            })?;
            write_geometry(out, &g);
        } else {
            write_geometry(out, &self.geometry());
        }
        out.extend_from_slice(b",\"properties\":");
        match (self, options.properties) {
            (FeatureRef::Site(r), None) => json::write_properties(out, r),
            (FeatureRef::Site(r), Some(sel)) => write_site_properties(out, r, sel),
            (FeatureRef::Layer(f), None) => put(out, &f.properties),
            (FeatureRef::Layer(f), Some(sel)) => write_layer_properties(out, f, sel),
        }
        out.push(b'}');
        Ok(())
    }
}

fn write_site_properties(out: &mut Vec<u8>, r: &SiteRecord, sel: &PropertySelection) {
    let site = r.site.values();
    let fields = r.fields();
    let risk = sel
        .site
        .iter()
        .any(|p| matches!(p, SiteProp::Risk(_)))
        .then(|| r.risk_values());
    out.push(b'{');
    for (n, (name, prop)) in sel.names.iter().zip(&sel.site).enumerate() {
        if n > 0 {
            out.push(b',');
        }
        put(out, name.as_str());
        out.push(b':');
        match *prop {
            SiteProp::Site(i) => json::site_value(out, site[i]),
            SiteProp::Analysis(i) => json::field_value(out, &fields.value(i)),
            SiteProp::Risk(i) => put(out, &risk.as_ref().map_or(&Value::Null, |v| &v[i])),
        }
    }
    out.push(b'}');
}

/// A layer feature's selected properties; one it lacks is left out, as it is from the feature.
fn write_layer_properties(out: &mut Vec<u8>, f: &CatalogFeature, sel: &PropertySelection) {
    let picked: Map<String, Value> = sel
        .names
        .iter()
        .filter_map(|n| f.properties.get(n).map(|v| (n.clone(), v.clone())))
        .collect();
    put(out, &picked);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::service::test_sites::{reference, seed_sites};

    fn catalog() -> Catalog {
        crate::service::Atlas::build(&seed_sites(), reference())
            .unwrap()
            .catalog
    }

    fn written(f: FeatureRef<'_>, o: &WriteOptions<'_>) -> Value {
        let mut out = Vec::new();
        f.write_json_with(&mut out, o).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn default_options_write_as_stored_and_the_rest_as_asked() {
        let c = catalog();
        for coll in &c.collections {
            let Some(f) = coll.get(0) else { continue };
            let plain = written(f, &WriteOptions::default());
            let stored: Value = serde_json::from_str(&f.json()).unwrap();
            assert_eq!(plain, stored, "{}", coll.id());
            // Every option set, but a reprojection that changes nothing: the same feature.
            let keep = |_: &mut geo::Geometry<f64>| Ok(());
            let names: Vec<String> = coll
                .property_names()
                .iter()
                .map(|s| s.to_string())
                .collect();
            let sel = coll.select_properties(&names).unwrap();
            let all = written(
                f,
                &WriteOptions {
                    reproject: Some(&keep),
                    properties: Some(&sel),
                    skip_geometry: false,
                },
            );
            assert_eq!(all["geometry"], stored["geometry"], "{}", coll.id());
            assert_eq!(all["properties"], stored["properties"], "{}", coll.id());
        }
    }

    #[test]
    fn properties_are_selected_in_order_and_checked() {
        let c = catalog();
        let sites = c.collection("sites").unwrap();
        let names = vec![
            "risk_class".to_owned(),
            "name".into(),
            "river_distance_m".into(),
        ];
        let sel = sites.select_properties(&names).unwrap();
        let f = sites.get(0).unwrap();
        let doc = written(
            f,
            &WriteOptions {
                properties: Some(&sel),
                skip_geometry: true,
                ..WriteOptions::default()
            },
        );
        let keys: Vec<&String> = doc["properties"].as_object().unwrap().keys().collect();
        assert_eq!(keys, names.iter().collect::<Vec<_>>());
        assert_eq!(doc["geometry"], Value::Null);
        assert_eq!(doc["properties"]["name"], f.property("name").unwrap());
        assert_eq!(
            doc["properties"]["risk_class"],
            f.property("risk_class").unwrap()
        );

        let e = sites.select_properties(&["colour".into()]).unwrap_err();
        assert!(e.to_string().contains("\"colour\""), "{e}");
        assert!(e.to_string().contains("risk_score"), "{e}");
        let e = sites
            .select_properties(&["name".into(), "name".into()])
            .unwrap_err();
        assert_eq!(e, WriteError::Repeated("name".into()));
        let rivers = c.collection("rivers").unwrap();
        assert!(rivers.select_properties(&["risk_class".into()]).is_err());
        let first = rivers.property_names()[0].to_owned();
        assert!(rivers.select_properties(&[first]).is_ok());
    }

    #[test]
    fn a_refused_reprojection_names_the_feature() {
        let c = catalog();
        let f = c.collection("sites").unwrap().get(0).unwrap();
        let refuse = |_: &mut geo::Geometry<f64>| Err("out of range".to_owned());
        let mut out = Vec::new();
        let e = f
            .write_json_with(
                &mut out,
                &WriteOptions {
                    reproject: Some(&refuse),
                    ..WriteOptions::default()
                },
            )
            .unwrap_err();
        assert!(e.to_string().contains(f.id()), "{e}");
    }
}
