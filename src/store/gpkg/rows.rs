//! Single `sites` rows and their versions: reading a row as a site, and the row operations a
//! change is applied with inside a write's transaction ([`GpkgTx`]).

use rusqlite::types::Value as SqlValue;
use std::sync::OnceLock;

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use serde_json::{Map, Value};

use super::{GpkgStore, column_fields, columns, gpkg_blob, select_sites};
use crate::model::{DraftValue, Site, SiteDraft, SiteId, SiteValue};
use crate::schema::{FieldType, SITE_FIELDS};
use crate::store::apply::WriteTx;
use crate::store::{Author, Change, Op, StoreError, Stored, Written};

impl GpkgStore {
    /// A `sites` row (columns as in [`columns`], then the revision and its time) as a site.
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
        let mut draft = SiteDraft {
            lon,
            lat,
            ..SiteDraft::default()
        };
        for (k, &i) in column_fields().iter().enumerate() {
            let column = k + 1;
            draft.set(
                i,
                match SITE_FIELDS[i].ty {
                    FieldType::Number => DraftValue::Number(real(column)),
                    FieldType::TextList => DraftValue::List(list(column)),
                    FieldType::Object => {
                        DraftValue::Object(match text(column).map(|t| serde_json::from_str(&t)) {
                            Some(Ok(Value::Object(m))) => m,
                            _ => Map::new(),
                        })
                    }
                    FieldType::Text | FieldType::CountryCode => DraftValue::Text(text(column)),
                },
            );
        }
        let n = column_fields().len();
        let revision = real(n + 1).unwrap_or(0.0) as i64;
        let updated = text(n + 2).as_deref().and_then(crate::store::parse_time);
        let id = draft.id.clone().unwrap_or_default();
        let site = Site::try_from(draft).map_err(|source| StoreError::InvalidRow {
            path: self.path.display().to_string(),
            id,
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
            .prepare_cached(&select_sites("WHERE id = ?1"))
            .map_err(|e| self.sql(e))?;
        let row = stmt
            .query_row([id], |r| Ok(self.row_to_site(r)))
            .optional()
            .map_err(|e| self.sql(e))?;
        row.transpose()
    }

    /// Applies one change inside the write transaction on `conn`.
    pub(super) fn apply(
        &self,
        conn: &Connection,
        change: &Change,
        at: &str,
        author: &Author,
    ) -> Result<Written, StoreError> {
        crate::store::apply::apply(&mut GpkgTx { store: self, conn }, change, at, author)
    }
}

/// A write transaction of the GeoPackage store, for [`apply`](crate::store::apply::apply).
struct GpkgTx<'a> {
    store: &'a GpkgStore,
    conn: &'a Connection,
}

impl WriteTx for GpkgTx<'_> {
    fn current(&mut self, id: &str) -> Result<Option<Stored>, StoreError> {
        self.store.get_in(self.conn, id)
    }

    fn has_history(&mut self, id: &str) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM site_versions WHERE site_id = ?1)")
            .and_then(|mut s| s.query_row([id], |r| r.get(0)))
            .map_err(|e| self.store.sql(e))
    }

    fn id_taken(&mut self, id: &str) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM sites WHERE id = ?1) \
                 OR EXISTS (SELECT 1 FROM site_versions WHERE site_id = ?1)",
            )
            .and_then(|mut s| s.query_row([id], |r| r.get(0)))
            .map_err(|e| self.store.sql(e))
    }

    fn snapshot_text(&mut self, id: &SiteId, version: i64) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT snapshot FROM site_versions WHERE site_id = ?1 AND version = ?2",
                params![id.as_str(), version],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.store.sql(e))
    }

    fn write_row(&mut self, site: &Site, replace: bool) -> Result<(), StoreError> {
        let geom = gpkg_blob::encode_point(site.location.lon(), site.location.lat());
        let values = std::iter::once(SqlValue::Blob(geom))
            .chain(column_fields().iter().map(|&i| sql_value(site.value(i))));
        let sql = if replace { update_sql() } else { insert_sql() };
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params_from_iter(values)))
            .map(drop)
            .map_err(|e| self.store.sql(e))
    }

    fn delete_row(&mut self, id: &SiteId) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM sites WHERE id = ?1")
            .and_then(|mut s| s.execute([id.as_str()]))
            .map(drop)
            .map_err(|e| self.store.sql(e))
    }

    fn insert_version(
        &mut self,
        id: &SiteId,
        op: Op,
        at: &str,
        author: &Author,
        snapshot: &Site,
    ) -> Result<i64, StoreError> {
        insert_version(self.conn, id, op, at, author, snapshot).map_err(|e| self.store.sql(e))
    }

    fn error(&self, message: String) -> StoreError {
        self.store.err(message)
    }
}

/// JSON text of a list or map field (plain data, which always serialises).
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// A site value as its column holds it: lists and the free attributes as JSON text.
fn sql_value(v: SiteValue<'_>) -> SqlValue {
    match v {
        SiteValue::Null => SqlValue::Null,
        SiteValue::Text(t) => SqlValue::Text(t.to_owned()),
        SiteValue::Number(x) => SqlValue::Real(x),
        // Written straight from the borrowed data, not through a copy as a JSON value.
        SiteValue::List(items) => SqlValue::Text(json(items)),
        SiteValue::Object(m) => SqlValue::Text(json(m)),
    }
}

/// `INSERT` of every column, geometry first, as `?1 … ?N` in [`columns`] order.
fn insert_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let n = column_fields().len() + 1;
        let params: Vec<String> = (1..=n).map(|k| format!("?{k}")).collect();
        format!(
            "INSERT INTO sites ({}) VALUES ({})",
            columns(),
            params.join(", ")
        )
    })
}

/// `UPDATE` of every column but the id, with the parameters of [`insert_sql`].
fn update_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let mut set = vec!["geom = ?1".to_owned()];
        let mut id_param = 0;
        for (k, &i) in column_fields().iter().enumerate() {
            let name = SITE_FIELDS[i].name;
            if name == "id" {
                id_param = k + 2;
            } else {
                set.push(format!("{name} = ?{}", k + 2));
            }
        }
        format!("UPDATE sites SET {} WHERE id = ?{id_param}", set.join(", "))
    })
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
