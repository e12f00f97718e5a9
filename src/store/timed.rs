//! A store that times every operation of the store it wraps, for `/metrics`: the same answers,
//! each operation's duration and outcome recorded under its name.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    Author, Change, ChangeFeed, NextChunk, ReadLag, SiteId, SiteStore, Store, StoreError, Stored,
    Streamed, TokenRecord, TokenStore, Version, Written,
};
use crate::metrics::Metrics;

/// `inner`, with each operation timed into `metrics`.
pub struct Timed {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl Timed {
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Timed { inner, metrics }
    }

    fn time<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let start = Instant::now();
        let out = f();
        self.metrics
            .store_operation(operation, out.is_ok(), start.elapsed());
        out
    }
}

impl SiteStore for Timed {
    fn load_sites(&self) -> Result<Vec<Stored>, StoreError> {
        self.time("load_sites", || self.inner.load_sites())
    }

    fn for_each_site_chunk(
        &self,
        chunk: usize,
        f: &mut dyn FnMut(Vec<Stored>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.time("load_sites", || self.inner.for_each_site_chunk(chunk, f))
    }

    fn get(&self, id: &SiteId) -> Result<Option<Stored>, StoreError> {
        self.time("get", || self.inner.get(id))
    }

    fn write(
        &self,
        changes: &[Change],
        author: &Author,
        progress: &(dyn Fn() + Sync),
    ) -> Result<Vec<Written>, StoreError> {
        self.time("write", || self.inner.write(changes, author, progress))
    }

    fn write_stream(
        &self,
        next_chunk: &mut NextChunk<'_>,
        author: &Author,
        progress: &(dyn Fn() + Sync),
        on_written: &mut dyn FnMut(&[Written]),
    ) -> Result<Streamed, StoreError> {
        self.time("write_stream", || {
            self.inner
                .write_stream(next_chunk, author, progress, on_written)
        })
    }

    fn history(&self, id: &SiteId) -> Result<Vec<Version>, StoreError> {
        self.time("history", || self.inner.history(id))
    }

    fn latest_revision(&self) -> Result<i64, StoreError> {
        self.time("latest_revision", || self.inner.latest_revision())
    }

    fn changed_since(&self, revision: i64) -> Result<Vec<(SiteId, i64)>, StoreError> {
        self.time("changed_since", || self.inner.changed_since(revision))
    }

    fn seed_origin(&self) -> Result<Option<String>, StoreError> {
        self.time("seed_origin", || self.inner.seed_origin())
    }

    fn changes(&self, since: i64, interval: Duration) -> Result<ChangeFeed, StoreError> {
        self.time("changes", || self.inner.changes(since, interval))
    }

    fn read_lag(&self) -> Option<Result<ReadLag, StoreError>> {
        let start = Instant::now();
        let out = self.inner.read_lag()?;
        self.metrics
            .store_operation("read_lag", out.is_ok(), start.elapsed());
        Some(out)
    }
}

impl TokenStore for Timed {
    fn add_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.time("add_token", || self.inner.add_token(token))
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.time("tokens", || self.inner.tokens())
    }

    fn token(&self, token_id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.time("token", || self.inner.token(token_id))
    }

    fn revoke_token(&self, token_id: &str) -> Result<bool, StoreError> {
        self.time("revoke_token", || self.inner.revoke_token(token_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_timed_under_its_name_with_its_outcome() {
        let dir = std::env::temp_dir().join(format!("atlas-timed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("timed.gpkg");
        let _ = std::fs::remove_file(&path);
        let seed = super::super::Seed {
            sites: Vec::new(),
            origin: "test".into(),
        };
        let inner: Arc<dyn Store> = Arc::new(
            super::super::GpkgStore::open_or_create(&path, || Ok::<_, String>(seed)).unwrap(),
        );
        let metrics = Arc::new(Metrics::default());
        let store = Timed::new(inner, metrics.clone());
        assert_eq!(store.latest_revision().unwrap(), 0);
        assert!(
            store
                .get(&SiteId::parse("nowhere").unwrap())
                .unwrap()
                .is_none()
        );
        assert!(store.token("00").unwrap().is_none());
        let text = metrics.encode(Vec::new());
        for op in ["latest_revision", "get", "token"] {
            let series = format!(
                r#"tailings_atlas_store_operation_duration_seconds_count{{operation="{op}",outcome="ok"}} 1"#
            );
            assert!(text.contains(&series), "{series} in\n{text}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
