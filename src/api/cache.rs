//! A bounded cache of serialised `/items` pages, valid for one state of the published inventory:
//! the first change published empties it. Repeated pages (a map client's tiles of a viewport, a
//! script paging through) are then sent without selecting or formatting again.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The default budget: 64 MiB of page text.
pub const DEFAULT_BUDGET_BYTES: usize = 64 * 1024 * 1024;

/// A page as cached: the body is `head`, then (for GeoJSON) the time stamp of the response, then
/// `tail`; the ETag leaves the time stamp out.
#[derive(Debug)]
pub struct CachedPage {
    pub content_type: &'static str,
    pub tag: String,
    pub head: String,
    pub tail: String,
    /// Whether a `timeStamp` member goes between `head` and `tail`.
    pub stamped: bool,
    /// The URI of the CRS of the page's coordinates, for `Content-Crs` (none for HTML).
    pub crs: Option<&'static str>,
}

impl CachedPage {
    fn bytes(&self) -> usize {
        self.head.len() + self.tail.len() + self.tag.len()
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// The published state the pages belong to.
    generation: u64,
    bytes: usize,
    pages: HashMap<String, Arc<CachedPage>>,
    /// Keys, oldest first: the first to go when the budget is exceeded.
    order: VecDeque<String>,
}

/// The cache; shared by the workers.
#[derive(Debug)]
pub struct PageCache {
    budget: usize,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl PageCache {
    /// A cache holding at most `budget` bytes of pages (0: none).
    pub fn new(budget: usize) -> Self {
        PageCache {
            budget,
            inner: Mutex::new(Inner::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// (hits, misses) of [`PageCache::get`] so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The page cached under `key` for the published state `generation`.
    pub fn get(&self, generation: u64, key: &str) -> Option<Arc<CachedPage>> {
        let page = {
            let inner = self.lock();
            (inner.generation == generation)
                .then(|| inner.pages.get(key).cloned())
                .flatten()
        };
        let counter = if page.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        page
    }

    /// Caches `page` under `key` for `generation`; pages of an older state are dropped first. A
    /// page larger than an eighth of the budget is not kept.
    pub fn put(&self, generation: u64, key: String, page: Arc<CachedPage>) {
        let size = page.bytes() + key.len();
        if size > self.budget / 8 {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != generation {
            if generation < inner.generation {
                return;
            }
            *inner = Inner {
                generation,
                ..Inner::default()
            };
        }
        if inner.pages.contains_key(&key) {
            return;
        }
        inner.bytes += size;
        inner.order.push_back(key.clone());
        inner.pages.insert(key, page);
        while inner.bytes > self.budget {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            if let Some(p) = inner.pages.remove(&old) {
                inner.bytes -= p.bytes() + old.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize) -> Arc<CachedPage> {
        Arc::new(CachedPage {
            content_type: "application/geo+json",
            tag: "\"t\"".into(),
            head: "x".repeat(n),
            tail: String::new(),
            stamped: false,
            crs: None,
        })
    }

    #[test]
    fn pages_last_one_state_and_fit_the_budget() {
        let c = PageCache::new(8_000);
        c.put(1, "a".into(), page(900));
        assert!(c.get(1, "a").is_some());
        // Another state of the inventory: nothing cached for it, and the old pages are gone.
        assert!(c.get(2, "a").is_none());
        c.put(2, "b".into(), page(900));
        assert!(c.get(1, "a").is_none());
        // Too large for the budget: not kept.
        c.put(2, "big".into(), page(1_500));
        assert!(c.get(2, "big").is_none());
        // The oldest page goes first.
        for k in 0..10 {
            c.put(2, format!("p{k}"), page(900));
        }
        assert!(c.get(2, "b").is_none());
        assert!(c.get(2, "p9").is_some());
        let total: usize = c.lock().bytes;
        assert!(total <= 8_000, "{total}");

        // `--page-cache-mb 0`: nothing is kept.
        let off = PageCache::new(0);
        off.put(1, "a".into(), page(1));
        assert!(off.get(1, "a").is_none());
    }
}
