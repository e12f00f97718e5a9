//! The GeoPackage backend: a `sites` point layer in EPSG:4326, written in one transaction.

use std::path::{Path, PathBuf};

use gdal::vector::{Feature, FieldValue, LayerAccess, LayerOptions, OGRFieldType, ToGdal};
use gdal::{Dataset, DatasetOptions, DriverManager, GdalOpenFlags};
use serde_json::Value;

use super::{Seed, SiteStore, StoreError};
use crate::model::{Site, SiteDraft};

const LAYER: &str = "sites";
/// A key/value attribute table about the store itself.
const META: &str = "atlas_meta";

/// Text columns, in schema order; lists and the free attributes are stored as JSON text.
const TEXT_FIELDS: &[&str] = &[
    "id",
    "name",
    "local_name",
    "kind",
    "activity",
    "country",
    "status",
    "status_note",
    "precision",
    "substances",
    "receiving_river",
    "sources",
    "attributes",
];
const REAL_FIELDS: &[&str] = &["volume_m3", "tonnage_t", "dam_height_m", "area_m2"];

/// A GeoPackage file holding the inventory.
#[derive(Debug, Clone)]
pub struct GpkgStore {
    path: PathBuf,
}

impl GpkgStore {
    /// Opens the store at `path`. If the file does not exist it is created with the sites `seed`
    /// returns; creation goes through a temporary file, so an interrupted seed leaves nothing behind.
    pub fn open_or_create<F, E>(path: &Path, seed: F) -> Result<Self, StoreError>
    where
        F: FnOnce() -> Result<Seed, E>,
        E: std::fmt::Display,
    {
        let store = GpkgStore {
            path: path.to_owned(),
        };
        if path.exists() {
            // Fail now, not on the first request, if the file is not a usable store.
            store.open()?;
            return Ok(store);
        }
        let seed = seed().map_err(|e| store.err(format!("cannot seed: {e}")))?;
        let tmp = path.with_extension(format!("seeding-{}.gpkg", std::process::id()));
        let result = write_new(&tmp, &seed).and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|e| format!("cannot move into place: {e}"))
        });
        if let Err(message) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(store.err(message));
        }
        tracing::info!(path = %path.display(), sites = seed.sites.len(), "created and seeded store");
        Ok(store)
    }

    fn err(&self, message: impl Into<String>) -> StoreError {
        StoreError::Backend {
            path: self.path.display().to_string(),
            message: message.into(),
        }
    }

    fn open(&self) -> Result<Dataset, StoreError> {
        let ds = Dataset::open_ex(
            &self.path,
            DatasetOptions {
                open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
                allowed_drivers: Some(&["GPKG"]),
                ..Default::default()
            },
        )
        .map_err(|e| self.err(format!("not a readable GeoPackage: {e}")))?;
        ds.layer_by_name(LAYER)
            .map_err(|_| self.err(format!("has no `{LAYER}` layer")))?;
        Ok(ds)
    }
}

fn write_new(path: &Path, seed: &Seed) -> Result<(), String> {
    let driver = DriverManager::get_driver_by_name("GPKG").map_err(|e| e.to_string())?;
    let mut ds = driver
        .create_vector_only(path)
        .map_err(|e| format!("cannot create: {e}"))?;
    let srs = gdal::spatial_ref::SpatialRef::from_epsg(4326).map_err(|e| e.to_string())?;
    let mut tx = ds.start_transaction().map_err(|e| e.to_string())?;
    {
        let layer = tx
            .create_layer(LayerOptions {
                name: LAYER,
                srs: Some(&srs),
                ty: gdal::vector::OGRwkbGeometryType::wkbPoint,
                options: Some(&["FID=fid", "GEOMETRY_NAME=geom"]),
            })
            .map_err(|e| format!("cannot create layer: {e}"))?;
        let mut fields: Vec<(&str, OGRFieldType::Type)> = TEXT_FIELDS
            .iter()
            .map(|f| (*f, OGRFieldType::OFTString))
            .collect();
        fields.extend(REAL_FIELDS.iter().map(|f| (*f, OGRFieldType::OFTReal)));
        layer
            .create_defn_fields(&fields)
            .map_err(|e| format!("cannot create fields: {e}"))?;
        for site in &seed.sites {
            write_site(&layer, site).map_err(|e| format!("site {}: {e}", site.id))?;
        }
    }
    {
        let meta = tx
            .create_layer(LayerOptions {
                name: META,
                srs: None,
                ty: gdal::vector::OGRwkbGeometryType::wkbNone,
                options: None,
            })
            .map_err(|e| format!("cannot create {META}: {e}"))?;
        meta.create_defn_fields(&[
            ("key", OGRFieldType::OFTString),
            ("value", OGRFieldType::OFTString),
        ])
        .map_err(|e| format!("cannot create {META} fields: {e}"))?;
        let seeded_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        for (key, value) in [
            ("seed_origin", seed.origin.as_str()),
            ("seeded_at", &seeded_at),
        ] {
            let mut f = Feature::new(meta.defn()).map_err(|e| e.to_string())?;
            f.set_field_string(0, key).map_err(|e| e.to_string())?;
            f.set_field_string(1, value).map_err(|e| e.to_string())?;
            f.create(&meta)
                .map_err(|e| format!("cannot write {META}: {e}"))?;
        }
    }
    tx.commit().map_err(|e| format!("cannot commit: {e}"))?;
    ds.close().map_err(|e| format!("cannot close: {e}"))?;
    Ok(())
}

fn json_text(v: impl serde::Serialize) -> Result<String, gdal::errors::GdalError> {
    serde_json::to_string(&v).map_err(|e| gdal::errors::GdalError::BadArgument(e.to_string()))
}

fn write_site<L: LayerAccess>(layer: &L, site: &Site) -> Result<(), gdal::errors::GdalError> {
    let mut f = Feature::new(layer.defn())?;
    f.set_geometry(site.location.to_geo().to_gdal()?)?;
    let q = &site.quantities;
    let text: [(&str, Option<String>); 13] = [
        ("id", Some(site.id.to_string())),
        ("name", Some(site.name.clone())),
        ("local_name", site.local_name.clone()),
        ("kind", Some(site.kind.to_string())),
        ("activity", Some(site.activity.clone())),
        ("country", Some(site.country.as_str().to_owned())),
        ("status", Some(site.status.to_string())),
        ("status_note", site.status_note.clone()),
        ("precision", Some(site.precision.to_string())),
        ("substances", Some(json_text(&site.substances)?)),
        ("receiving_river", site.receiving_river.clone()),
        ("sources", Some(json_text(&site.sources)?)),
        ("attributes", Some(json_text(&site.attributes)?)),
    ];
    for (name, value) in text {
        let idx = f.field_index(name)?;
        match value {
            Some(v) => f.set_field_string(idx, &v)?,
            None => f.set_field_null(idx)?,
        }
    }
    for (name, value) in [
        ("volume_m3", q.volume_m3),
        ("tonnage_t", q.tonnage_t),
        ("dam_height_m", q.dam_height_m),
        ("area_m2", q.area_m2),
    ] {
        let idx = f.field_index(name)?;
        match value {
            Some(v) => f.set_field_double(idx, v)?,
            None => f.set_field_null(idx)?,
        }
    }
    f.create(layer)
}

fn text(f: &Feature, name: &str) -> Option<String> {
    let idx = f.field_index(name).ok()?;
    match f.field(idx).ok()?? {
        FieldValue::StringValue(s) => Some(s),
        other => other.into_string(),
    }
}

fn real(f: &Feature, name: &str) -> Option<f64> {
    let idx = f.field_index(name).ok()?;
    f.field_as_double(idx).ok()?
}

fn json_list(f: &Feature, name: &str) -> Vec<String> {
    text(f, name)
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

impl SiteStore for GpkgStore {
    fn seed_origin(&self) -> Result<Option<String>, StoreError> {
        let ds = self.open()?;
        // Stores made before the table existed simply have no recorded origin.
        let Ok(mut meta) = ds.layer_by_name(META) else {
            return Ok(None);
        };
        Ok(meta
            .features()
            .find(|f| text(f, "key").as_deref() == Some("seed_origin"))
            .and_then(|f| text(&f, "value")))
    }

    fn load_sites(&self) -> Result<Vec<Site>, StoreError> {
        let ds = self.open()?;
        let mut layer = ds
            .layer_by_name(LAYER)
            .map_err(|e| self.err(e.to_string()))?;
        let mut sites = Vec::new();
        for f in layer.features() {
            let fid = f.fid().unwrap_or_default();
            let (lon, lat) = match f.geometry().map(|g| g.get_point(0)) {
                Some((x, y, _)) => (Some(x), Some(y)),
                None => (None, None),
            };
            let attributes = match text(&f, "attributes").map(|t| serde_json::from_str(&t)) {
                Some(Ok(Value::Object(m))) => m,
                _ => Default::default(),
            };
            let draft = SiteDraft {
                id: text(&f, "id"),
                name: text(&f, "name"),
                local_name: text(&f, "local_name"),
                kind: text(&f, "kind"),
                activity: text(&f, "activity"),
                country: text(&f, "country"),
                status: text(&f, "status"),
                status_note: text(&f, "status_note"),
                lon,
                lat,
                precision: text(&f, "precision"),
                volume_m3: real(&f, "volume_m3"),
                tonnage_t: real(&f, "tonnage_t"),
                dam_height_m: real(&f, "dam_height_m"),
                area_m2: real(&f, "area_m2"),
                substances: json_list(&f, "substances"),
                receiving_river: text(&f, "receiving_river"),
                sources: json_list(&f, "sources"),
                attributes,
            };
            let site = Site::try_from(draft).map_err(|source| StoreError::InvalidRow {
                path: self.path.display().to_string(),
                fid,
                source,
            })?;
            sites.push(site);
        }
        sites.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some(w) = sites.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(StoreError::DuplicateId {
                path: self.path.display().to_string(),
                id: w[0].id.to_string(),
            });
        }
        Ok(sites)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SiteDraft;

    fn site(id: &str, lon: f64) -> Site {
        Site::try_from(SiteDraft {
            id: Some(id.into()),
            name: Some(format!("Site {id}")),
            kind: Some("tailings".into()),
            activity: Some("uranium legacy".into()),
            country: Some("KGZ".into()),
            status: Some("legacy".into()),
            lon: Some(lon),
            lat: Some(41.0),
            precision: Some("site".into()),
            volume_m3: Some(1.5e6),
            substances: vec!["Ra-226".into(), "U".into()],
            sources: vec!["https://example.org/a".into()],
            ..Default::default()
        })
        .unwrap()
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("atlas-gpkg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn seeds_once_and_round_trips() {
        let dir = temp_dir("roundtrip");
        let path = dir.join("atlas.gpkg");
        let sites = vec![site("b", 72.0), site("a", 71.5)];
        let seed = Seed {
            sites: sites.clone(),
            origin: "sha256:abc".into(),
        };
        let store = GpkgStore::open_or_create(&path, || Ok::<_, String>(seed)).unwrap();
        assert_eq!(store.seed_origin().unwrap().as_deref(), Some("sha256:abc"));
        let mut expected = sites.clone();
        expected.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(store.load_sites().unwrap(), expected);
        // A second open must not re-seed.
        let again = GpkgStore::open_or_create(&path, || Err::<Seed, _>("must not seed")).unwrap();
        assert_eq!(again.load_sites().unwrap(), expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failed_seed_leaves_nothing() {
        let dir = temp_dir("failed");
        let path = dir.join("atlas.gpkg");
        let err =
            GpkgStore::open_or_create(&path, || Err::<Seed, _>("bad csv line 3")).unwrap_err();
        assert!(err.to_string().contains("bad csv line 3"), "{err}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rejects_a_file_that_is_not_a_store() {
        let dir = temp_dir("notastore");
        let path = dir.join("atlas.gpkg");
        std::fs::write(&path, "hello").unwrap();
        let err = GpkgStore::open_or_create(&path, || {
            Ok::<_, String>(Seed {
                sites: vec![],
                origin: String::new(),
            })
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("not a readable GeoPackage"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
