//! The PostGIS database as a [`SiteStore`].

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, IsolationLevel};

use super::rows::{Statements, select_list, time_text};
use super::{PgStore, now};
use crate::model::SiteId;
use crate::store::{
    Abandon, Author, Change, ChangeFeed, NextChunk, SiteStore, StoreError, Stored, Streamed,
    Version, VersionRow, Written, history_from,
};

/// The latest revision (0 for none).
const LATEST: &str = "SELECT coalesce(max(version), 0)::bigint FROM site_versions";
/// How long a change feed waits for a notification before it looks anyway.
const NOTIFY_SAFETY_NET: Duration = Duration::from_secs(5);
/// How often a feed that lost its listening connection tries to make it again.
const RELISTEN: Duration = Duration::from_secs(5);

impl SiteStore for PgStore {
    fn seed_origin(&self) -> Result<Option<String>, StoreError> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT value FROM atlas_meta WHERE key = 'seed_origin'",
                &[],
            )
            .map_err(|e| self.sql(e))?;
        Ok(row.map(|r| r.get(0)))
    }

    fn load_sites(&self) -> Result<Vec<Stored>, StoreError> {
        let rows = self
            .conn()?
            .query(
                &format!("SELECT {} FROM sites s ORDER BY s.id", select_list()),
                &[],
            )
            .map_err(|e| self.sql(e))?;
        rows.iter().map(|r| self.row_to_site(r)).collect()
    }

    fn get(&self, id: &SiteId) -> Result<Option<Stored>, StoreError> {
        self.get_with(&mut *self.conn()?, None, id.as_str())
    }

    fn write(
        &self,
        changes: &[Change],
        author: &Author,
        progress: &(dyn Fn() + Sync),
    ) -> Result<Vec<Written>, StoreError> {
        self.in_write(|tx| {
            let st = Statements::prepare(self, tx)?;
            let at = now();
            let out = self.apply_chunk(tx, &st, changes, &at, author)?;
            changes.iter().for_each(|_| progress());
            let newest = out.iter().filter(|w| w.op.is_some()).map(|w| w.revision);
            self.notify(tx, newest.max())?;
            Ok(out)
        })
    }

    fn write_stream(
        &self,
        next_chunk: &mut NextChunk<'_>,
        author: &Author,
        progress: &(dyn Fn() + Sync),
        on_written: &mut dyn FnMut(&[Written]),
    ) -> Result<Streamed, StoreError> {
        // Any early return drops the transaction, which rolls back what earlier chunks wrote.
        self.in_write(|tx| {
            let st = Statements::prepare(self, tx)?;
            let at = now();
            let mut summary = Streamed::default();
            while let Some(chunk) = next_chunk().map_err(|Abandon| StoreError::Abandoned)? {
                let written = self.apply_chunk(tx, &st, &chunk, &at, author)?;
                chunk.iter().for_each(|_| progress());
                drop(chunk);
                written.iter().for_each(|w| summary.count(w));
                if !written.is_empty() {
                    on_written(&written);
                }
            }
            self.notify(tx, summary.revisions.map(|(_, hi)| hi))?;
            Ok(summary)
        })
    }

    /// Reads through a cursor in one read-only REPEATABLE READ transaction (one snapshot of the
    /// database) on a pooled connection, so `f` may use the store (on others) while it reads.
    fn for_each_site_chunk(
        &self,
        chunk: usize,
        f: &mut dyn FnMut(Vec<Stored>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let chunk = chunk.max(1);
        let mut conn = self.conn()?;
        let mut tx = conn
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(|e| self.sql(e))?;
        let stmt = tx
            .prepare(&format!(
                "SELECT {} FROM sites s ORDER BY s.id",
                select_list()
            ))
            .map_err(|e| self.sql(e))?;
        let portal = tx.bind(&stmt, &[]).map_err(|e| self.sql(e))?;
        let fetch = i32::try_from(chunk).unwrap_or(i32::MAX);
        loop {
            let rows = tx.query_portal(&portal, fetch).map_err(|e| self.sql(e))?;
            if rows.is_empty() {
                break;
            }
            let sites = rows
                .iter()
                .map(|r| self.row_to_site(r))
                .collect::<Result<Vec<_>, _>>()?;
            drop(rows);
            // Fewer than asked: the cursor is done (no need for another round trip).
            let last = sites.len() < chunk;
            f(sites)?;
            if last {
                break;
            }
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    fn history(&self, id: &SiteId) -> Result<Vec<Version>, StoreError> {
        let rows = self
            .conn()?
            .query(
                &format!(
                    "SELECT version, op, {}, actor, reason, snapshot::text FROM site_versions \
                     WHERE site_id = $1 ORDER BY version",
                    time_text("at")
                ),
                &[&id.as_str()],
            )
            .map_err(|e| self.sql(e))?;
        let rows = rows.iter().map(|r| -> Result<VersionRow, StoreError> {
            Ok((r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        });
        history_from(id, rows, |m| self.err(m))
    }

    /// See [`PgStore::feed`]: it listens unless this is a standby.
    fn changes(&self, since: i64, interval: Duration) -> Result<ChangeFeed, StoreError> {
        Ok(self.feed(since, interval, !self.standby))
    }

    fn latest_revision(&self) -> Result<i64, StoreError> {
        self.conn()?
            .query_one(LATEST, &[])
            .map(|r| r.get(0))
            .map_err(|e| self.sql(e))
    }

    fn changed_since(&self, revision: i64) -> Result<Vec<(SiteId, i64)>, StoreError> {
        let rows = self
            .conn()?
            .query(
                "SELECT site_id, max(version) FROM site_versions WHERE version > $1 \
                 GROUP BY site_id",
                &[&revision],
            )
            .map_err(|e| self.sql(e))?;
        rows.iter()
            .map(|r| {
                let id: String = r.get(0);
                SiteId::parse(&id)
                    .map(|id| (id, r.get(1)))
                    .map_err(|e| self.err(e.to_string()))
            })
            .collect()
    }
}

impl PgStore {
    /// A feed of the changes after `since`. With `listen`, it waits for `NOTIFY atlas_changes` on
    /// a connection of its own (`LISTEN`), then reads the latest revision, and also looks every few
    /// seconds in case a notification is lost; without it (a standby, which never receives its
    /// primary's notifications), or while the listening connection cannot be made, it polls every
    /// `interval`. While the database is away the feed reports the outage once and waits for it
    /// to come back, listening again once it can.
    pub(crate) fn feed(&self, since: i64, interval: Duration, listen: bool) -> ChangeFeed {
        let pool = self.pool.clone();
        let shown = self.shown.clone();
        let latest = move || {
            let mut conn = pool.get().map_err(|e| StoreError::Unavailable {
                path: shown.clone(),
                reason: format!("no database connection: {e}"),
            })?;
            conn.query_one(LATEST, &[])
                .map(|r| r.get::<_, i64>(0))
                .map_err(|e| super::sql_error(&shown, &e))
        };
        // Connected on the thread that reads the feed (the sync driver must not block an async
        // runtime's thread, which may be the caller's), and again after it is lost, at most every
        // RELISTEN; polling every `interval` meanwhile.
        let config = self.config.clone();
        let mut listener: Option<Client> = None;
        let mut tried: Option<std::time::Instant> = None;
        let mut failing = false;
        let mut seen = since;
        ChangeFeed::new(move || {
            loop {
                if listen && listener.is_none() && tried.is_none_or(|t| t.elapsed() >= RELISTEN) {
                    let first = tried.is_none();
                    tried = Some(std::time::Instant::now());
                    listener = match super::connect_within(&config).and_then(|mut c| {
                        c.batch_execute(&format!("LISTEN {}", super::CHANNEL))
                            .map_err(|e| super::describe(&e))?;
                        Ok(c)
                    }) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            if first {
                                tracing::warn!(error = %e, "cannot LISTEN for changes; polling instead");
                            }
                            None
                        }
                    };
                }
                {
                    // Looked at after the LISTEN: what was written before it is not missed.
                    let now = match latest() {
                        Ok(now) => {
                            if failing {
                                tracing::info!("the store is reachable again");
                                failing = false;
                            }
                            now
                        }
                        Err(e) => {
                            // Told once per outage; the caller is not woken in a busy loop.
                            listener = None;
                            if !failing {
                                failing = true;
                                return Err(e);
                            }
                            std::thread::sleep(interval.max(Duration::from_millis(250)));
                            continue;
                        }
                    };
                    if now > seen {
                        seen = now;
                        return Ok(now);
                    }
                    match listener.as_mut() {
                        Some(client) => {
                            let waited = client
                                .notifications()
                                .timeout_iter(NOTIFY_SAFETY_NET)
                                .next();
                            if let Err(e) = waited {
                                tracing::warn!(error = %e, "change notifications failed; polling until listening again");
                                listener = None;
                            }
                        }
                        None => std::thread::sleep(interval),
                    }
                }
            }
        })
    }
}
