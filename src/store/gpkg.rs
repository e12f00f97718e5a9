//! The GeoPackage backend: a `sites` point layer in EPSG:4326 (created through GDAL, so it is a valid
//! GeoPackage for QGIS and ogrinfo), a `site_versions` table with every change, and `atlas_tokens`.
//!
//! Reads and writes go through SQLite directly, with the GeoPackage geometry encoding: that gives real
//! transactions (one per write, all or nothing even under `kill -9`), bound parameters, and a busy
//! timeout so that several processes (the service and a CLI import) can share the file. WAL mode lets
//! readers go on while one process writes.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use gdal::DriverManager;
use gdal::vector::{Feature, LayerAccess, LayerOptions, OGRFieldType};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde_json::{Map, Value};

use super::gpkg_blob;
use super::{
    Author, Change, Expect, Op, Role, Seed, SiteStore, StoreError, Stored, TokenRecord, TokenStore,
    Version, Written, diff_properties,
};
use crate::model::{Iso3, Site, SiteDraft, SiteId};

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

/// The `sites` columns we read and write, geometry first.
const COLUMNS: &str = "geom, id, name, local_name, kind, activity, country, status, status_note, \
    precision, substances, receiving_river, sources, attributes, volume_m3, tonnage_t, dam_height_m, area_m2";

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

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
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
                    "SELECT {COLUMNS}, 0 FROM sites WHERE id NOT IN (SELECT site_id FROM site_versions) ORDER BY id"
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

    /// A `sites` row (columns as in [`COLUMNS`], then the revision) as a site.
    fn row_to_site(&self, r: &rusqlite::Row) -> Result<Stored, StoreError> {
        let get = |i: usize| -> SqlValue { r.get::<_, SqlValue>(i).unwrap_or(SqlValue::Null) };
        let text = |i: usize| -> Option<String> {
            match get(i) {
                SqlValue::Text(s) => Some(s),
                SqlValue::Integer(n) => Some(n.to_string()),
                SqlValue::Real(x) => Some(x.to_string()),
                _ => None,
            }
        };
        let real = |i: usize| -> Option<f64> {
            match get(i) {
                SqlValue::Real(x) => Some(x),
                SqlValue::Integer(n) => Some(n as f64),
                SqlValue::Text(s) => s.trim().parse().ok(),
                _ => None,
            }
        };
        let list = |i: usize| -> Vec<String> {
            text(i)
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default()
        };
        let (lon, lat) = match get(0) {
            SqlValue::Blob(b) => match gpkg_blob::point(&b) {
                Some((x, y)) => (Some(x), Some(y)),
                None => (None, None),
            },
            _ => (None, None),
        };
        let attributes = match text(13).map(|t| serde_json::from_str(&t)) {
            Some(Ok(Value::Object(m))) => m,
            _ => Map::new(),
        };
        let draft = SiteDraft {
            id: text(1),
            name: text(2),
            local_name: text(3),
            kind: text(4),
            activity: text(5),
            country: text(6),
            status: text(7),
            status_note: text(8),
            lon,
            lat,
            precision: text(9),
            substances: list(10),
            receiving_river: text(11),
            sources: list(12),
            attributes,
            volume_m3: real(14),
            tonnage_t: real(15),
            dam_height_m: real(16),
            area_m2: real(17),
        };
        let revision = real(18).unwrap_or(0.0) as i64;
        let site = Site::try_from(draft).map_err(|source| StoreError::InvalidRow {
            path: self.path.display().to_string(),
            id: text(1).unwrap_or_default(),
            source,
        })?;
        Ok(Stored { site, revision })
    }

    fn get_in(&self, conn: &Connection, id: &str) -> Result<Option<Stored>, StoreError> {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, (SELECT MAX(version) FROM site_versions v WHERE v.site_id = sites.id) \
                 FROM sites WHERE id = ?1"
            ))
            .map_err(|e| self.sql(e))?;
        let row = stmt
            .query_row([id], |r| Ok(self.row_to_site(r)))
            .optional()
            .map_err(|e| self.sql(e))?;
        row.transpose()
    }

    fn has_history(&self, conn: &Connection, id: &SiteId) -> Result<bool, StoreError> {
        conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM site_versions WHERE site_id = ?1)")
            .and_then(|mut s| s.query_row([id.as_str()], |r| r.get(0)))
            .map_err(|e| self.sql(e))
    }

    /// Whether a site, live or deleted, has the id `id`.
    fn id_taken(&self, conn: &Connection, id: &str) -> Result<bool, StoreError> {
        conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM sites WHERE id = ?1) \
             OR EXISTS (SELECT 1 FROM site_versions WHERE site_id = ?1)",
        )
        .and_then(|mut s| s.query_row([id], |r| r.get(0)))
        .map_err(|e| self.sql(e))
    }

    /// The site recorded by `version` of `id`.
    fn snapshot(&self, conn: &Connection, id: &SiteId, version: i64) -> Result<Site, StoreError> {
        let text: Option<String> = conn
            .query_row(
                "SELECT snapshot FROM site_versions WHERE site_id = ?1 AND version = ?2",
                params![id.as_str(), version],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        let text = text.ok_or_else(|| StoreError::NoSuchVersion {
            id: id.to_string(),
            version,
        })?;
        let draft: SiteDraft = serde_json::from_str(&text)
            .map_err(|e| self.err(format!("version {version} of {id}: unreadable: {e}")))?;
        Site::try_from(draft).map_err(|e| self.err(format!("version {version} of {id}: {e}")))
    }

    fn check(
        &self,
        id: &SiteId,
        current: Option<&Stored>,
        expect: Expect,
    ) -> Result<(), StoreError> {
        match (expect, current) {
            (Expect::Any, _) | (Expect::Absent, None) => Ok(()),
            (Expect::Absent, Some(_)) => Err(StoreError::Exists { id: id.to_string() }),
            (Expect::Revision(_), None) => Err(StoreError::NotFound { id: id.to_string() }),
            (Expect::Revision(r), Some(c)) if c.revision != r => Err(StoreError::Conflict {
                id: id.to_string(),
                expected: r,
                actual: c.revision,
            }),
            (Expect::Revision(_), Some(_)) => Ok(()),
        }
    }

    /// Writes `site` (replacing `current`, if any) and its version; `None` if nothing changed.
    #[allow(clippy::too_many_arguments)]
    fn put_in(
        &self,
        conn: &Connection,
        site: &Site,
        current: Option<&Stored>,
        op: Op,
        at: &str,
        author: &Author,
    ) -> Result<Option<i64>, StoreError> {
        if current.is_some_and(|c| c.site == *site) {
            return Ok(None);
        }
        let q = &site.quantities;
        let values = params![
            gpkg_blob::encode_point(site.location.lon(), site.location.lat()),
            site.id.as_str(),
            site.name,
            site.local_name,
            site.kind.as_str(),
            site.activity,
            site.country.as_str(),
            site.status.as_str(),
            site.status_note,
            site.precision.as_str(),
            json(&site.substances),
            site.receiving_river,
            json(&site.sources),
            json(&site.attributes),
            q.volume_m3,
            q.tonnage_t,
            q.dam_height_m,
            q.area_m2,
        ];
        let sql = if current.is_some() {
            "UPDATE sites SET geom = ?1, name = ?3, local_name = ?4, kind = ?5, activity = ?6, country = ?7, \
             status = ?8, status_note = ?9, precision = ?10, substances = ?11, receiving_river = ?12, \
             sources = ?13, attributes = ?14, volume_m3 = ?15, tonnage_t = ?16, dam_height_m = ?17, \
             area_m2 = ?18 WHERE id = ?2"
        } else {
            // Column order as in COLUMNS.
            "INSERT INTO sites (geom, id, name, local_name, kind, activity, country, status, status_note, \
             precision, substances, receiving_river, sources, attributes, volume_m3, tonnage_t, \
             dam_height_m, area_m2) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
             ?15, ?16, ?17, ?18)"
        };
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute(values))
            .map_err(|e| self.sql(e))?;
        insert_version(conn, &site.id, op, at, author, site)
            .map(Some)
            .map_err(|e| self.sql(e))
    }

    fn apply(
        &self,
        conn: &Connection,
        change: &Change,
        at: &str,
        author: &Author,
    ) -> Result<Written, StoreError> {
        match change {
            Change::Put { site, expect } => {
                let current = self.get_in(conn, site.id.as_str())?;
                self.check(&site.id, current.as_ref(), *expect)?;
                if *expect == Expect::Absent && self.has_history(conn, &site.id)? {
                    return Err(StoreError::Deleted {
                        id: site.id.to_string(),
                    });
                }
                let op = if current.is_some() {
                    Op::Update
                } else {
                    Op::Create
                };
                let rev = self.put_in(conn, site, current.as_ref(), op, at, author)?;
                Ok(Written {
                    id: site.id.clone(),
                    op: rev.map(|_| op),
                    revision: rev.or(current.map(|c| c.revision)).unwrap_or(0),
                    site: Some(site.clone()),
                })
            }
            Change::Restore {
                id,
                version,
                expect,
            } => {
                let current = self.get_in(conn, id.as_str())?;
                self.check(id, current.as_ref(), *expect)?;
                let site = self.snapshot(conn, id, *version)?;
                let rev = self.put_in(conn, &site, current.as_ref(), Op::Restore, at, author)?;
                Ok(Written {
                    id: id.clone(),
                    op: rev.map(|_| Op::Restore),
                    revision: rev.or(current.map(|c| c.revision)).unwrap_or(0),
                    site: Some(site),
                })
            }
            Change::CreateDerived { site } => {
                let base = site.id.as_str();
                let mut n = 1;
                let id = loop {
                    let candidate = match n {
                        1 => base.to_owned(),
                        n => format!("{base}-{n}"),
                    };
                    if !self.id_taken(conn, &candidate)? {
                        break SiteId::parse(&candidate).map_err(|_| StoreError::Exists {
                            id: base.to_owned(),
                        })?;
                    }
                    n += 1;
                };
                let site = Site { id, ..site.clone() };
                let rev = self.put_in(conn, &site, None, Op::Create, at, author)?;
                Ok(Written {
                    id: site.id.clone(),
                    op: rev.map(|_| Op::Create),
                    revision: rev.unwrap_or(0),
                    site: Some(site),
                })
            }
            Change::Delete { id, expect } => {
                let current = self.get_in(conn, id.as_str())?;
                let Some(current) = current else {
                    return Err(StoreError::NotFound { id: id.to_string() });
                };
                self.check(id, Some(&current), *expect)?;
                conn.prepare_cached("DELETE FROM sites WHERE id = ?1")
                    .and_then(|mut s| s.execute([id.as_str()]))
                    .map_err(|e| self.sql(e))?;
                let rev = insert_version(conn, id, Op::Delete, at, author, &current.site)
                    .map_err(|e| self.sql(e))?;
                Ok(Written {
                    id: id.clone(),
                    op: Some(Op::Delete),
                    revision: rev,
                    site: None,
                })
            }
        }
    }
}

/// JSON text of the list and map fields (plain data, which always serialises).
fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn insert_version(
    conn: &Connection,
    id: &SiteId,
    op: Op,
    at: &str,
    author: &Author,
    snapshot: &Site,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO site_versions (site_id, op, at, actor, reason, snapshot) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id.as_str(),
        op.as_str(),
        at,
        author.actor,
        author.reason,
        Value::Object(snapshot.properties()).to_string(),
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Creates the empty `sites` layer and the `atlas_meta` table through GDAL, so the file is laid out as
/// GDAL and QGIS expect (spatial index, contents, SRS).
fn create_layers(path: &Path, origin: &str) -> Result<(), String> {
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
        let seeded_at = now();
        for (key, value) in [("seed_origin", origin), ("seeded_at", &seeded_at)] {
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

impl SiteStore for GpkgStore {
    fn seed_origin(&self) -> Result<Option<String>, StoreError> {
        let conn = self.read();
        let has_meta: bool = conn
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE name = ?1",
                [META],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))?;
        if !has_meta {
            return Ok(None);
        }
        conn.query_row(
            &format!("SELECT value FROM {META} WHERE key = 'seed_origin'"),
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| self.sql(e))
    }

    fn load_sites(&self) -> Result<Vec<Stored>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS}, (SELECT MAX(version) FROM site_versions v WHERE v.site_id = sites.id) \
                 FROM sites ORDER BY id"
            ))
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| Ok(self.row_to_site(r)))
            .map_err(|e| self.sql(e))?;
        let mut sites = Vec::new();
        for row in rows {
            sites.push(row.map_err(|e| self.sql(e))??);
        }
        if let Some(w) = sites.windows(2).find(|w| w[0].site.id == w[1].site.id) {
            return Err(StoreError::DuplicateId {
                path: self.path.display().to_string(),
                id: w[0].site.id.to_string(),
            });
        }
        Ok(sites)
    }

    fn get(&self, id: &SiteId) -> Result<Option<Stored>, StoreError> {
        let conn = self.read();
        self.get_in(&conn, id.as_str())
    }

    fn write(
        &self,
        changes: &[Change],
        author: &Author,
        progress: &(dyn Fn() + Sync),
    ) -> Result<Vec<Written>, StoreError> {
        let mut conn = self.lock();
        // IMMEDIATE: take the write lock now (waiting up to the busy timeout), not at the first write,
        // when another writer could already have made our reads stale.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        let at = now();
        let mut out = Vec::with_capacity(changes.len());
        for change in changes {
            out.push(self.apply(&tx, change, &at, author)?);
            progress();
        }
        if out.iter().any(|w| w.op.is_some()) {
            // QGIS zooms to the layer's extent from gpkg_contents.
            tx.execute(
                "UPDATE gpkg_contents SET last_change = ?1, \
                 min_x = (SELECT min(minx) FROM rtree_sites_geom), max_x = (SELECT max(maxx) FROM rtree_sites_geom), \
                 min_y = (SELECT min(miny) FROM rtree_sites_geom), max_y = (SELECT max(maxy) FROM rtree_sites_geom) \
                 WHERE table_name = 'sites'",
                [&at],
            )
            .map_err(|e| self.sql(e))?;
        }
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(out)
    }

    fn history(&self, id: &SiteId) -> Result<Vec<Version>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare_cached(
                "SELECT version, op, at, actor, reason, snapshot FROM site_versions \
                 WHERE site_id = ?1 ORDER BY version",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([id.as_str()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(|e| self.sql(e))?;
        let object = |text: &str| match serde_json::from_str(text) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        // What changed is not stored: it is the difference between consecutive snapshots, which
        // keeps each version small (imports write one per site).
        let mut out = Vec::new();
        let mut previous: Option<Map<String, Value>> = None;
        for row in rows {
            let (version, op, at, actor, reason, snapshot) = row.map_err(|e| self.sql(e))?;
            let op = Op::parse(&op).ok_or_else(|| self.err(format!("unknown op {op:?}")))?;
            let properties = object(&snapshot);
            let changes = match op {
                Op::Delete => {
                    previous = None;
                    diff_properties(Some(&properties), None)
                }
                _ => {
                    let c = diff_properties(previous.as_ref(), Some(&properties));
                    previous = Some(properties.clone());
                    c
                }
            };
            out.push(Version {
                version,
                site_id: id.to_string(),
                op,
                at,
                actor,
                reason,
                changes,
                properties,
            });
        }
        out.reverse();
        Ok(out)
    }

    fn latest_revision(&self) -> Result<i64, StoreError> {
        let conn = self.read();
        conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM site_versions",
            [],
            |r| r.get(0),
        )
        .map_err(|e| self.sql(e))
    }

    fn changed_since(&self, revision: i64) -> Result<Vec<(SiteId, i64)>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare_cached(
                "SELECT site_id, MAX(version) FROM site_versions WHERE version > ?1 GROUP BY site_id",
            )
            .map_err(|e| self.sql(e))?;
        let ids = stmt
            .query_map([revision], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        ids.into_iter()
            .map(|(id, v)| {
                SiteId::parse(&id)
                    .map(|id| (id, v))
                    .map_err(|e| self.err(e.to_string()))
            })
            .collect()
    }
}

impl TokenStore for GpkgStore {
    fn add_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO atlas_tokens (token_id, name, role, countries, hash, created_at, revoked_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                t.token_id,
                t.name,
                t.role.as_str(),
                t.countries
                    .iter()
                    .map(Iso3::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                t.hash,
                t.created_at,
                t.revoked_at
            ],
        )
        .map_err(|e| self.sql(e))?;
        Ok(())
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let conn = self.read();
        let mut stmt = conn
            .prepare(
                "SELECT token_id, name, role, countries, hash, created_at, revoked_at FROM atlas_tokens \
                 ORDER BY fid",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], token_row)
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        rows.into_iter()
            .map(|r| r.map_err(|e| self.err(e)))
            .collect()
    }

    fn token(&self, token_id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let conn = self.read();
        let row = conn
            .prepare_cached(
                "SELECT token_id, name, role, countries, hash, created_at, revoked_at FROM atlas_tokens \
                 WHERE token_id = ?1",
            )
            .and_then(|mut s| s.query_row([token_id], token_row).optional())
            .map_err(|e| self.sql(e))?;
        row.transpose().map_err(|e| self.err(e))
    }

    fn revoke_token(&self, token_id: &str) -> Result<bool, StoreError> {
        let conn = self.lock();
        let n = conn
            .execute(
                "UPDATE atlas_tokens SET revoked_at = ?1 WHERE token_id = ?2 AND revoked_at IS NULL",
                params![now(), token_id],
            )
            .map_err(|e| self.sql(e))?;
        Ok(n > 0)
    }
}

fn token_row(r: &rusqlite::Row) -> rusqlite::Result<Result<TokenRecord, String>> {
    let role: String = r.get(2)?;
    let countries: String = r.get(3)?;
    let countries = countries
        .split(',')
        .filter(|c| !c.is_empty())
        .map(|c| Iso3::parse(c, "countries").map_err(|e| format!("token: {e}")))
        .collect::<Result<Vec<_>, _>>();
    Ok(role.parse::<Role>().and_then(|role| {
        Ok(TokenRecord {
            token_id: r.get(0).unwrap_or_default(),
            name: r.get(1).unwrap_or_default(),
            role,
            countries: countries?,
            hash: r.get(4).unwrap_or_default(),
            created_at: r.get(5).unwrap_or_default(),
            revoked_at: r.get(6).unwrap_or_default(),
        })
    }))
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

    fn sites_of(store: &GpkgStore) -> Vec<Site> {
        store
            .load_sites()
            .unwrap()
            .into_iter()
            .map(|s| s.site)
            .collect()
    }

    fn author(actor: &str) -> Author {
        Author {
            actor: actor.into(),
            reason: Some(format!("test by {actor}")),
        }
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
    fn edits_are_versioned_checked_and_restorable() {
        let (dir, store) = seeded("edits", vec![site("a", 71.0)]);
        let id = SiteId::parse("a").unwrap();
        let r0 = store.get(&id).unwrap().unwrap().revision;

        // Update with the right revision.
        let mut changed = site("a", 71.5);
        changed.name = "Renamed".into();
        let w = store
            .write(
                &[Change::Put {
                    site: changed.clone(),
                    expect: Expect::Revision(r0),
                }],
                &author("alice"),
                &|| {},
            )
            .unwrap();
        assert_eq!(w[0].op, Some(Op::Update));
        let r1 = w[0].revision;
        assert!(r1 > r0);

        // A stale revision is refused and changes nothing.
        let err = store
            .write(
                &[Change::Put {
                    site: site("a", 72.0),
                    expect: Expect::Revision(r0),
                }],
                &author("bob"),
                &|| {},
            )
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict { expected, actual, .. } if expected == r0 && actual == r1),
            "{err}"
        );
        assert_eq!(store.get(&id).unwrap().unwrap().site, changed);

        // Writing the same site again is not a change.
        let w = store
            .write(
                &[Change::Put {
                    site: changed.clone(),
                    expect: Expect::Any,
                }],
                &author("alice"),
                &|| {},
            )
            .unwrap();
        assert_eq!((w[0].op, w[0].revision), (None, r1));

        // Delete, then the site is gone but its history stays.
        store
            .write(
                &[Change::Delete {
                    id: id.clone(),
                    expect: Expect::Revision(r1),
                }],
                &author("carol"),
                &|| {},
            )
            .unwrap();
        assert!(store.get(&id).unwrap().is_none());
        let h = store.history(&id).unwrap();
        let ops: Vec<Op> = h.iter().map(|v| v.op).collect();
        assert_eq!(ops, vec![Op::Delete, Op::Update, Op::Create]);
        assert_eq!(h[1].actor, "alice");
        assert_eq!(h[1].reason.as_deref(), Some("test by alice"));
        assert_eq!(h[1].changes["name"]["old"], "Site a");
        assert_eq!(h[1].changes["name"]["new"], "Renamed");
        assert_eq!(h[1].changes["lon"]["new"], 71.5);
        assert!(!h[1].changes.contains_key("kind"));

        // Restore the renamed state.
        let w = store
            .write(
                &[Change::Restore {
                    id: id.clone(),
                    version: r1,
                    expect: Expect::Absent,
                }],
                &author("dave"),
                &|| {},
            )
            .unwrap();
        assert_eq!(w[0].op, Some(Op::Restore));
        assert_eq!(store.get(&id).unwrap().unwrap().site, changed);
        assert_eq!(store.history(&id).unwrap().len(), 4);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_change_rolls_back_the_whole_write() {
        let (dir, store) = seeded("rollback", vec![site("a", 71.0)]);
        let before = store.latest_revision().unwrap();
        let err = store
            .write(
                &[
                    Change::Put {
                        site: site("b", 70.0),
                        expect: Expect::Absent,
                    },
                    Change::Put {
                        site: site("a", 70.0),
                        expect: Expect::Absent,
                    },
                ],
                &author("x"),
                &|| {},
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Exists { .. }), "{err}");
        assert_eq!(sites_of(&store).len(), 1);
        assert_eq!(store.latest_revision().unwrap(), before);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
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
