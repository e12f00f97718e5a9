//! The GeoPackage as a [`SiteStore`].

use std::time::Duration;

use rusqlite::{OptionalExtension, TransactionBehavior};

use super::{GpkgStore, META, now, select_sites};
use crate::model::SiteId;
use crate::store::{
    Abandon, Author, Change, ChangeFeed, NextChunk, SiteStore, StoreError, Stored, Streamed,
    Version, Written,
};

impl GpkgStore {
    /// Records a write in `gpkg_contents`: its time, and the layer's extent, which QGIS zooms to.
    fn touch_contents(&self, tx: &rusqlite::Transaction<'_>, at: &str) -> Result<(), StoreError> {
        tx.execute(
            "UPDATE gpkg_contents SET last_change = ?1, \
             min_x = (SELECT min(minx) FROM rtree_sites_geom), max_x = (SELECT max(maxx) FROM rtree_sites_geom), \
             min_y = (SELECT min(miny) FROM rtree_sites_geom), max_y = (SELECT max(maxy) FROM rtree_sites_geom) \
             WHERE table_name = 'sites'",
            [at],
        )
        .map(|_| ())
        .map_err(|e| self.sql(e))
    }
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
            .prepare(&select_sites("ORDER BY id"))
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
            self.touch_contents(&tx, &at)?;
        }
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(out)
    }

    fn write_stream(
        &self,
        next_chunk: &mut NextChunk<'_>,
        author: &Author,
        progress: &(dyn Fn() + Sync),
        on_written: &mut dyn FnMut(&[Written]),
    ) -> Result<Streamed, StoreError> {
        let mut conn = self.lock();
        // As in `write`: the write lock from the start. Dropping `tx` on any early return rolls
        // everything back, also what earlier chunks wrote.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        let at = now();
        let mut summary = Streamed::default();
        while let Some(chunk) = next_chunk().map_err(|Abandon| StoreError::Abandoned)? {
            let mut written = Vec::with_capacity(chunk.len());
            for change in &chunk {
                written.push(self.apply(&tx, change, &at, author)?);
                progress();
            }
            drop(chunk);
            written.iter().for_each(|w| summary.count(w));
            if !written.is_empty() {
                on_written(&written);
            }
        }
        if summary.revisions.is_some() {
            self.touch_contents(&tx, &at)?;
        }
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(summary)
    }

    /// Reads on a connection of its own, in one read transaction (WAL: a snapshot, which writers
    /// do not wait for), so `f` may use the store while the sites are read.
    fn for_each_site_chunk(
        &self,
        chunk: usize,
        f: &mut dyn FnMut(Vec<Stored>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let chunk = chunk.max(1);
        let mut conn = GpkgStore::open_connection(&self.path).map_err(|e| self.err(e))?;
        // A scan reads each page once: no need for the large cache writes get.
        conn.execute_batch("PRAGMA cache_size = -8192")
            .map_err(|e| self.sql(e))?;
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        let mut stmt = tx
            .prepare(&select_sites("ORDER BY id"))
            .map_err(|e| self.sql(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.sql(e))?;
        let mut sites: Vec<Stored> = Vec::with_capacity(chunk.min(10_000));
        let mut last: Option<crate::model::SiteId> = None;
        while let Some(row) = rows.next().map_err(|e| self.sql(e))? {
            let stored = self.row_to_site(row)?;
            let previous = sites.last().map(|s| &s.site.id).or(last.as_ref());
            if previous == Some(&stored.site.id) {
                return Err(StoreError::DuplicateId {
                    path: self.path.display().to_string(),
                    id: stored.site.id.to_string(),
                });
            }
            sites.push(stored);
            if sites.len() == chunk {
                last = sites.last().map(|s| s.site.id.clone());
                f(std::mem::replace(&mut sites, Vec::with_capacity(chunk)))?;
            }
        }
        if !sites.is_empty() {
            f(sites)?;
        }
        Ok(())
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
        let rows = rows.map(|row| row.map_err(|e| self.sql(e)));
        crate::store::history_from(id, rows, |m| self.err(m))
    }

    /// Polls the version counter on a connection of its own, so it never waits for this store's
    /// reads or writes.
    fn changes(&self, since: i64, interval: Duration) -> Result<ChangeFeed, StoreError> {
        let conn = GpkgStore::open_connection(&self.path).map_err(|e| self.err(e))?;
        let path = self.path.display().to_string();
        let latest = move || {
            conn.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM site_versions",
                [],
                |r| r.get(0),
            )
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    StoreError::Busy { path: path.clone() }
                }
                _ => StoreError::Backend {
                    path: path.clone(),
                    message: e.to_string(),
                },
            })
        };
        Ok(ChangeFeed::polling(interval, since, latest))
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
