//! A primary and a read store (typically its hot standby, kept by PostgreSQL's streaming
//! replication) as one [`SiteStore`] and [`TokenStore`]: the bulk reads — loading the inventory,
//! histories, what changed since a revision, the change feed — go to the read store; writes, and
//! the reads a write depends on (a site before it is edited, tokens and their revocation), go to
//! the primary, whose optimistic locking keeps a stale read from overwriting anything.
//!
//! The read store cannot LISTEN for the primary's notifications (a standby never receives them),
//! so its change feed polls; how far it is behind the primary is [`SiteStore::read_lag`].

use std::time::Duration;

use super::PgStore;
use crate::model::SiteId;
use crate::store::{
    Author, Change, ChangeFeed, NextChunk, ReadLag, SiteStore, StoreError, Stored, Streamed,
    TokenRecord, TokenStore, Version, Written,
};

/// Writes to `primary`, reads in bulk from `read`.
#[derive(Debug)]
pub struct ReadSplit {
    primary: PgStore,
    read: PgStore,
}

impl ReadSplit {
    pub fn new(primary: PgStore, read: PgStore) -> Self {
        ReadSplit { primary, read }
    }
}

impl SiteStore for ReadSplit {
    fn load_sites(&self) -> Result<Vec<Stored>, StoreError> {
        self.read.load_sites()
    }

    fn for_each_site_chunk(
        &self,
        chunk: usize,
        f: &mut dyn FnMut(Vec<Stored>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.read.for_each_site_chunk(chunk, f)
    }

    fn get(&self, id: &SiteId) -> Result<Option<Stored>, StoreError> {
        self.primary.get(id)
    }

    fn write(
        &self,
        changes: &[Change],
        author: &Author,
        progress: &(dyn Fn() + Sync),
    ) -> Result<Vec<Written>, StoreError> {
        self.primary.write(changes, author, progress)
    }

    fn write_stream(
        &self,
        next_chunk: &mut NextChunk<'_>,
        author: &Author,
        progress: &(dyn Fn() + Sync),
        on_written: &mut dyn FnMut(&[Written]),
    ) -> Result<Streamed, StoreError> {
        self.primary
            .write_stream(next_chunk, author, progress, on_written)
    }

    fn history(&self, id: &SiteId) -> Result<Vec<Version>, StoreError> {
        self.read.history(id)
    }

    /// The read store's: what this process can publish.
    fn latest_revision(&self) -> Result<i64, StoreError> {
        self.read.latest_revision()
    }

    fn changed_since(&self, revision: i64) -> Result<Vec<(SiteId, i64)>, StoreError> {
        self.read.changed_since(revision)
    }

    fn seed_origin(&self) -> Result<Option<String>, StoreError> {
        self.primary.seed_origin()
    }

    fn changes(&self, since: i64, interval: Duration) -> Result<ChangeFeed, StoreError> {
        Ok(self.read.feed(since, interval, false))
    }

    fn read_lag(&self) -> Option<Result<ReadLag, StoreError>> {
        Some(self.lag())
    }
}

impl ReadSplit {
    /// The primary's WAL position and revision, then how far the read store has replayed.
    fn lag(&self) -> Result<ReadLag, StoreError> {
        let (lsn, primary_revision) = self.primary.wal_position()?;
        let (bytes, seconds, revision) = self.read.replayed_to(&lsn)?;
        Ok(ReadLag {
            location: self.read.shown.clone(),
            standby: self.read.is_standby(),
            bytes,
            seconds,
            revisions: (primary_revision - revision).max(0),
        })
    }
}

impl TokenStore for ReadSplit {
    fn add_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.primary.add_token(token)
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.primary.tokens()
    }

    /// From the primary: a revoked token stops working at once, not after the standby's lag.
    fn token(&self, token_id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.primary.token(token_id)
    }

    fn revoke_token(&self, token_id: &str) -> Result<bool, StoreError> {
        self.primary.revoke_token(token_id)
    }
}

impl PgStore {
    /// The current WAL write position (as text) and the latest revision.
    fn wal_position(&self) -> Result<(String, i64), StoreError> {
        let row = self
            .conn()?
            .query_one(
                "SELECT pg_current_wal_lsn()::text, \
                 (SELECT coalesce(max(version), 0)::bigint FROM site_versions)",
                &[],
            )
            .map_err(|e| self.sql(e))?;
        Ok((row.get(0), row.get(1)))
    }

    /// How far this database is behind the WAL position `lsn` of its primary: bytes still to
    /// replay, seconds since the last transaction it replayed if any bytes are (0 if none: an
    /// upper bound on how old what it serves is), and its latest revision. A database that is not a
    /// standby has nothing to replay.
    fn replayed_to(&self, lsn: &str) -> Result<(i64, f64, i64), StoreError> {
        let row = self
            .conn()?
            .query_one(
                "WITH r AS (SELECT CASE WHEN pg_is_in_recovery() \
                   THEN greatest(pg_wal_lsn_diff($1::text::pg_lsn, \
                        coalesce(pg_last_wal_replay_lsn(), $1::text::pg_lsn)), 0) \
                   ELSE 0 END AS bytes) \
                 SELECT r.bytes::bigint, \
                   CASE WHEN r.bytes > 0 THEN coalesce(extract(epoch FROM \
                     now() - pg_last_xact_replay_timestamp()), 0) ELSE 0 END::float8, \
                   (SELECT coalesce(max(version), 0)::bigint FROM site_versions) \
                 FROM r",
                &[&lsn],
            )
            .map_err(|e| self.sql(e))?;
        Ok((row.get(0), row.get::<_, f64>(1).max(0.0), row.get(2)))
    }
}
