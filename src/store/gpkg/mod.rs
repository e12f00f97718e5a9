//! The GeoPackage backend: a `sites` point layer in EPSG:4326 (created through GDAL, so it is a valid
//! GeoPackage for QGIS and ogrinfo), a `site_versions` table with every change, and `atlas_tokens`.
//!
//! Reads and writes go through SQLite directly, with the GeoPackage geometry encoding: that gives real
//! transactions (one per write, all or nothing even under `kill -9`), bound parameters, and a busy
//! timeout so that several processes (the service and a CLI import) can share the file. WAL mode lets
//! readers go on while one process writes.
//!
//! One concern per file: this one opens, creates and migrates the file; [`rows`] reads and writes
//! single site rows and their versions; [`layers`] lays out a new file through GDAL; [`sites`] is the
//! [`SiteStore`] and [`tokens`] the [`TokenStore`].

mod layers;
mod rows;
mod sites;
mod tokens;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::gpkg_blob;
use super::{Author, Change, Expect, Op, Seed, SiteStore, StoreError, now};
use crate::schema::FieldType;
use layers::create_layers;
use rows::insert_version;

const LAYER: &str = "sites";
/// A key/value attribute table about the store itself.
const META: &str = "atlas_meta";

/// Text columns, in schema order ([`crate::schema::SITE_FIELDS`]); lists and the free attributes
/// are stored as JSON text.
fn text_fields() -> impl Iterator<Item = &'static str> {
    crate::schema::SITE_FIELDS
        .iter()
        .filter(|f| f.ty != FieldType::Number)
        .map(|f| f.name)
}

/// Real columns, in schema order: the quantities (the coordinates are the geometry).
fn real_fields() -> impl Iterator<Item = &'static str> {
    crate::schema::SITE_FIELDS
        .iter()
        .filter(|f| f.ty == FieldType::Number && !matches!(f.name, "lon" | "lat"))
        .map(|f| f.name)
}

/// The schema fields that are columns of `sites`, as positions in [`crate::schema::SITE_FIELDS`],
/// in the persisted layout's order (rows are read back by position in it): the text columns, then
/// the real ones; the coordinates are the geometry.
fn column_fields() -> &'static [usize] {
    static FIELDS: OnceLock<Vec<usize>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let position = |name: &str| {
            crate::schema::SITE_FIELDS
                .iter()
                .position(|f| f.name == name)
        };
        text_fields()
            .chain(real_fields())
            .filter_map(position)
            .collect()
    })
}

/// The `sites` columns we read and write, geometry first, as a select list.
fn columns() -> &'static str {
    static COLUMNS: OnceLock<String> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        let names = column_fields()
            .iter()
            .map(|&i| crate::schema::SITE_FIELDS[i].name);
        std::iter::once("geom")
            .chain(names)
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// A query of the sites' [`columns`], then each one's revision and the time it was written, with
/// `tail` (`WHERE …`, `ORDER BY …`): what [`GpkgStore::row_to_site`] reads.
fn select_sites(tail: &str) -> String {
    format!(
        "SELECT {}, (SELECT MAX(version) FROM site_versions v WHERE v.site_id = sites.id), \
         (SELECT at FROM site_versions v WHERE v.site_id = sites.id ORDER BY version DESC LIMIT 1) \
         FROM sites {tail}",
        columns()
    )
}

/// Tables added next to the GDAL-made layers; `CREATE … IF NOT EXISTS`, so stores made by earlier
/// versions gain them on open. Registered in `gpkg_contents` as attribute tables, as GeoPackage asks.
const SCHEMA: &str = "
CREATE UNIQUE INDEX IF NOT EXISTS sites_id_unique ON sites(id);
CREATE TABLE IF NOT EXISTS site_versions (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('create', 'update', 'delete', 'restore')),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    snapshot TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS site_versions_site ON site_versions(site_id, version);
CREATE TABLE IF NOT EXISTS atlas_tokens (
    fid INTEGER PRIMARY KEY AUTOINCREMENT,
    token_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    countries TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description)
    VALUES ('site_versions', 'attributes', 'site_versions',
            'Every change to the sites: version, site, operation, time, actor, reason, old and new values');
INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description)
    VALUES ('atlas_tokens', 'attributes', 'atlas_tokens', 'API tokens (argon2 hashes only)');
";

/// A GeoPackage file holding the inventory.
#[derive(Debug)]
pub struct GpkgStore {
    path: PathBuf,
    /// Writes (and the reads inside them). Held for a whole write, which may be a long import.
    conn: Mutex<Connection>,
    /// Reads outside writes: in WAL mode they go on while a write (ours or another process's) runs,
    /// so a long import does not stall token checks, history or refreshes.
    reader: Mutex<Connection>,
}

impl GpkgStore {
    /// Opens the store at `path`. If the file does not exist it is created with the sites `seed`
    /// returns (each recorded as created by `seed`); creation goes through a temporary file, so an
    /// interrupted seed leaves nothing behind.
    pub fn open_or_create<F, E>(path: &Path, seed: F) -> Result<Self, StoreError>
    where
        F: FnOnce() -> Result<Seed, E>,
        E: std::fmt::Display,
    {
        let shown = path.display().to_string();
        let err = |message: String| StoreError::Backend {
            path: shown.clone(),
            message,
        };
        if !path.exists() {
            let seed = seed().map_err(|e| err(format!("cannot seed: {e}")))?;
            let tmp = path.with_extension(format!("seeding-{}.gpkg", std::process::id()));
            let result = create_layers(&tmp, &seed.origin)
                .and_then(|()| {
                    let store = GpkgStore::connect(&tmp)?;
                    let changes: Vec<Change> = seed
                        .sites
                        .iter()
                        .map(|s| Change::Put {
                            site: s.clone(),
                            expect: Expect::Any,
                        })
                        .collect();
                    let author = Author {
                        actor: "seed".into(),
                        reason: Some("seeded from the data directory".into()),
                    };
                    store
                        .write(&changes, &author, &|| {})
                        .map_err(|e| e.to_string())?;
                    Ok(())
                })
                .and_then(|()| {
                    std::fs::rename(&tmp, path).map_err(|e| format!("cannot move into place: {e}"))
                });
            if let Err(message) = result {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut p = tmp.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
                return Err(err(message));
            }
            tracing::info!(path = %shown, sites = seed.sites.len(), "created and seeded store");
        }
        GpkgStore::connect(path).map_err(err)
    }

    /// One connection to `path`, set up for the GeoPackage and for sharing with other processes.
    fn open_connection(path: &Path) -> Result<Connection, String> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|e| format!("cannot open: {e}"))?;
        let not_gpkg = |e: rusqlite::Error| format!("not a readable GeoPackage: {e}");
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(not_gpkg)?;
        gpkg_blob::register_functions(&conn).map_err(not_gpkg)?;
        let has_sites: bool = conn
            .query_row(
                "SELECT count(*) FROM gpkg_contents WHERE table_name = ?1",
                [LAYER],
                |r| r.get::<_, i64>(0),
            )
            .map_err(not_gpkg)?
            > 0;
        if !has_sites {
            return Err(format!("has no `{LAYER}` layer"));
        }
        // WAL: readers are not blocked by a long import; FULL: a committed write survives a crash.
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(|e| format!("cannot switch to WAL: {e}"))?;
        // A large import touches the tables and their indexes all over; with SQLite's default 2 MB
        // page cache it spills to the WAL again and again.
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA cache_size = -131072; PRAGMA temp_store = MEMORY",
        )
        .map_err(|e| e.to_string())?;
        Ok(conn)
    }

    /// Opens an existing store file, bringing its schema up to date.
    fn connect(path: &Path) -> Result<Self, String> {
        let conn = GpkgStore::open_connection(path)?;
        let current: bool = conn
            .query_row(
                "SELECT count(*) = 2 FROM sqlite_master WHERE name IN ('site_versions', 'atlas_tokens')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| e.to_string())?;
        let store = GpkgStore {
            path: path.to_owned(),
            conn: Mutex::new(conn),
            reader: Mutex::new(GpkgStore::open_connection(path)?),
        };
        if !current {
            store.migrate().map_err(|e| e.to_string())?;
        }
        Ok(store)
    }

    /// Adds the history and token tables, and records the sites of an older store as created.
    fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        tx.execute_batch(SCHEMA).map_err(|e| self.sql(e))?;
        let unversioned = {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {}, 0, NULL FROM sites WHERE id NOT IN (SELECT site_id FROM site_versions) ORDER BY id",
                    columns()
                ))
                .map_err(|e| self.sql(e))?;
            let rows = stmt
                .query_map([], |r| Ok(self.row_to_site(r)))
                .map_err(|e| self.sql(e))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.sql(e))?
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?
        };
        let at = now();
        for stored in &unversioned {
            insert_version(
                &tx,
                &stored.site.id,
                Op::Create,
                &at,
                &Author {
                    actor: "migration".into(),
                    reason: Some("site present before history was kept".into()),
                },
                &stored.site,
            )
            .map_err(|e| self.sql(e))?;
        }
        tx.commit().map_err(|e| self.sql(e))?;
        if !unversioned.is_empty() {
            tracing::info!(sites = unversioned.len(), "store migrated: history started");
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-done transaction (it rolls back on drop).
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, message: impl Into<String>) -> StoreError {
        StoreError::Backend {
            path: self.path.display().to_string(),
            message: message.into(),
        }
    }

    fn sql(&self, e: rusqlite::Error) -> StoreError {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => StoreError::Busy {
                path: self.path.display().to_string(),
            },
            _ => self.err(e.to_string()),
        }
    }
}
#[cfg(test)]
mod tests {

    /// The columns come from the schema, in the layout stores written by earlier versions have.
    #[test]
    fn the_columns_are_the_schemas_in_the_persisted_layout() {
        assert_eq!(
            columns(),
            "geom, id, name, local_name, kind, activity, country, status, status_note, precision, \
             substances, receiving_river, sources, attributes, volume_m3, tonnage_t, dam_height_m, area_m2"
        );
        assert_eq!(column_fields().len(), crate::schema::SITE_FIELDS.len() - 2);
    }

    use super::*;
    use crate::model::Site;
    use crate::store::SiteStore;
    use crate::store::conformance::{self, Fresh};
    use gdal::vector::LayerAccess;

    // Every backend-agnostic case, on a fresh GeoPackage each.
    conformance::conformance_tests!(|tag: &str, sites: Vec<Site>| {
        let (dir, store) = seeded(&format!("conformance-{tag}"), sites);
        Fresh {
            store: std::sync::Arc::new(store),
            cleanup: Some(Box::new(move || {
                let _ = std::fs::remove_dir_all(&dir);
            })),
        }
    });

    use crate::store::conformance::{author, site, sites_of};

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
        assert_eq!(sites_of(&store), expected);
        // A second open must not re-seed.
        let again = GpkgStore::open_or_create(&path, || Err::<Seed, _>("must not seed")).unwrap();
        assert_eq!(sites_of(&again), expected);
        // Seeding is recorded as the first version of every site.
        let h = again.history(&expected[0].id).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].op, h[0].actor.as_str()), (Op::Create, "seed"));
        drop((store, again));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn seeded(tag: &str, sites: Vec<Site>) -> (PathBuf, GpkgStore) {
        let dir = temp_dir(tag);
        let path = dir.join("atlas.gpkg");
        let store = GpkgStore::open_or_create(&path, || {
            Ok::<_, String>(Seed {
                sites,
                origin: "test".into(),
            })
        })
        .unwrap();
        (dir, store)
    }

    #[test]
    fn a_second_connection_sees_writes_and_gdal_reads_the_file() {
        let (dir, store) = seeded("shared", vec![site("a", 71.0)]);
        let path = dir.join("atlas.gpkg");
        let other = GpkgStore::open_or_create(&path, || Err::<Seed, _>("exists")).unwrap();
        let seen = other.latest_revision().unwrap();
        store
            .write(
                &[Change::Put {
                    site: site("b", 70.5),
                    expect: Expect::Absent,
                }],
                &author("x"),
                &|| {},
            )
            .unwrap();
        let changed = other.changed_since(seen).unwrap();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].0.as_str(), "b");
        assert_eq!(sites_of(&other).len(), 2);

        // GDAL opens it as a GeoPackage with every attribute and the point where we put it.
        gdal_checks(&path);
        drop((store, other));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn gdal_checks(path: &Path) {
        let ds = gdal::Dataset::open(path).unwrap();
        assert_eq!(ds.driver().short_name(), "GPKG");
        let mut layer = ds.layer_by_name("sites").unwrap();
        assert_eq!(layer.feature_count(), 2);
        let f = layer
            .features()
            .find(|f| {
                let i = f.field_index("id").unwrap();
                f.field_as_string(i).ok().flatten().as_deref() == Some("b")
            })
            .unwrap();
        let (x, y, _) = f.geometry().unwrap().get_point(0);
        assert_eq!((x, y), (70.5, 41.0));
        assert_eq!(
            f.field_as_string(f.field_index("substances").unwrap())
                .unwrap()
                .as_deref(),
            Some(r#"["Ra-226","U"]"#)
        );
        // The spatial index was kept up to date by the triggers.
        let mut hits = ds
            .execute_sql(
                "SELECT count(*) FROM rtree_sites_geom WHERE minx >= 70.4 AND maxx <= 70.6",
                None,
                gdal::vector::sql::Dialect::DEFAULT,
            )
            .unwrap()
            .unwrap();
        let n = hits.features().next().unwrap().field_as_integer(0).unwrap();
        assert_eq!(n, Some(1));
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
