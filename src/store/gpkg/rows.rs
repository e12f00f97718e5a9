//! Single `sites` rows and their versions: reading a row as a site, checking what a change expects,
//! and applying one change inside a write's transaction.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use super::{COLUMNS, GpkgStore, gpkg_blob};
use crate::model::{Site, SiteDraft, SiteId};
use crate::store::{Author, Change, Expect, Op, StoreError, Stored, Written};

impl GpkgStore {
    /// A `sites` row (columns as in [`COLUMNS`], then the revision and its time) as a site.
    pub(super) fn row_to_site(&self, r: &rusqlite::Row) -> Result<Stored, StoreError> {
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
        let updated = text(19).as_deref().and_then(crate::store::parse_time);
        let site = Site::try_from(draft).map_err(|source| StoreError::InvalidRow {
            path: self.path.display().to_string(),
            id: text(1).unwrap_or_default(),
            source,
        })?;
        Ok(Stored {
            site,
            revision,
            updated,
        })
    }

    pub(super) fn get_in(&self, conn: &Connection, id: &str) -> Result<Option<Stored>, StoreError> {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS}, (SELECT MAX(version) FROM site_versions v WHERE v.site_id = sites.id), \
                 (SELECT at FROM site_versions v WHERE v.site_id = sites.id ORDER BY version DESC LIMIT 1) \
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
        crate::store::check_expect(id, current, expect)
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

    pub(super) fn apply(
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
                    updated: written_at(rev, at, current.as_ref()),
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
                    updated: written_at(rev, at, current.as_ref()),
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
                    updated: crate::store::parse_time(at),
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
                    updated: crate::store::parse_time(at),
                    revision: rev,
                    site: None,
                })
            }
        }
    }
}

/// The time of a write's revision: `at` when it wrote a version, else the current one's.
fn written_at(
    rev: Option<i64>,
    at: &str,
    current: Option<&Stored>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    match rev {
        Some(_) => crate::store::parse_time(at),
        None => current.and_then(|c| c.updated),
    }
}

/// JSON text of the list and map fields (plain data, which always serialises).
fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub(super) fn insert_version(
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
