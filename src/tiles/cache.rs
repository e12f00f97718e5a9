//! A bounded in-memory cache of encoded tiles, keyed by layer (a collection id, or `map` for the
//! multi-layer tile), tile and the published state's generation. Eviction is CLOCK (second
//! chance), an approximation of least-recently-used that needs no reordering on a hit: a hit sets
//! the entry's mark; the hand passes marked entries once before it evicts them. Tiles of an older
//! generation are dropped when the first tile of a newer one is put.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::TileId;

/// The default budget: 128 MiB of tiles.
pub const DEFAULT_BUDGET_BYTES: usize = 128 * 1024 * 1024;

/// What a cached tile is known by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TileKey {
    /// A collection id, or `map`.
    pub layer: &'static str,
    pub tile: TileId,
    pub generation: u64,
}

/// An encoded tile (empty: no feature reaches it) and the hash of its bytes, for validators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedTile {
    pub data: Vec<u8>,
    pub hash: u64,
}

impl EncodedTile {
    pub fn new(data: Vec<u8>) -> Self {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: the same bytes hash the same in every process of this build.
        let mut h = std::hash::DefaultHasher::new();
        data.hash(&mut h);
        EncodedTile {
            hash: h.finish(),
            data,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }
}

/// Bytes counted per entry beyond its tile: key, map and queue slots.
const OVERHEAD: usize = 96;

#[derive(Debug)]
struct Entry {
    tile: Arc<EncodedTile>,
    /// Set by a hit (under the read lock), cleared by the clock hand.
    marked: AtomicBool,
}

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    bytes: usize,
    entries: HashMap<TileKey, Entry>,
    /// The clock: every key once, the hand at the front.
    hand: VecDeque<TileKey>,
}

/// The cache, shared by the workers.
#[derive(Debug)]
pub struct TileCache {
    budget: usize,
    /// Hits read under the shared lock; only puts take it exclusively.
    inner: RwLock<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

fn size(key: &TileKey, tile: &EncodedTile) -> usize {
    tile.len() + key.layer.len() + OVERHEAD
}

impl TileCache {
    /// A cache holding at most `budget` bytes (0: none).
    pub fn new(budget: usize) -> Self {
        TileCache {
            budget,
            inner: RwLock::new(Inner::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The tile cached under `key` (an empty one for a tile with no features).
    pub fn get(&self, key: &TileKey) -> Option<Arc<EncodedTile>> {
        let inner = self.read();
        match inner.entries.get(key) {
            Some(e) => {
                if !e.marked.load(Ordering::Relaxed) {
                    e.marked.store(true, Ordering::Relaxed);
                }
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(e.tile.clone())
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Caches `tile` under `key`. Tiles of older generations go first; a tile of an older
    /// generation than the cache's, or larger than a sixteenth of the budget, is not kept.
    pub fn put(&self, key: TileKey, tile: Arc<EncodedTile>) {
        let n = size(&key, &tile);
        if n > self.budget / 16 {
            return;
        }
        let mut inner = self.lock();
        if key.generation != inner.generation {
            if key.generation < inner.generation {
                return;
            }
            *inner = Inner {
                generation: key.generation,
                ..Inner::default()
            };
        }
        if inner.entries.contains_key(&key) {
            return;
        }
        inner.bytes += n;
        inner.hand.push_back(key.clone());
        inner.entries.insert(
            key,
            Entry {
                tile,
                marked: AtomicBool::new(false),
            },
        );
        while inner.bytes > self.budget {
            let Some(k) = inner.hand.pop_front() else {
                break;
            };
            let second_chance = inner
                .entries
                .get(&k)
                .is_some_and(|e| e.marked.swap(false, Ordering::Relaxed));
            if second_chance {
                inner.hand.push_back(k);
            } else if let Some(e) = inner.entries.remove(&k) {
                inner.bytes -= size(&k, &e.tile);
            }
        }
    }

    /// (bytes held, tiles held, hits, misses).
    pub fn stats(&self) -> (usize, usize, u64, u64) {
        let inner = self.read();
        (
            inner.bytes,
            inner.entries.len(),
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(layer: &'static str, x: u32, generation: u64) -> TileKey {
        TileKey {
            layer,
            tile: TileId { z: 7, x, y: 47 },
            generation,
        }
    }

    fn tile(n: usize) -> Arc<EncodedTile> {
        Arc::new(EncodedTile::new(vec![7; n]))
    }

    #[test]
    fn bounded_by_its_budget_and_keeps_what_is_used() {
        let c = TileCache::new(16_000);
        c.put(key("sites", 0, 1), tile(500));
        assert_eq!(c.get(&key("sites", 0, 1)).unwrap().len(), 500);
        assert!(c.get(&key("rivers", 0, 1)).is_none());
        assert!(c.get(&key("sites", 0, 2)).is_none());
        // Many more tiles than fit: the budget holds, and the tile read between puts survives.
        for x in 1..200 {
            c.put(key("sites", x, 1), tile(500));
            assert!(c.get(&key("sites", 0, 1)).is_some(), "evicted at {x}");
            let (bytes, ..) = c.stats();
            assert!(bytes <= 16_000, "{bytes}");
        }
        assert!(c.get(&key("sites", 1, 1)).is_none());
        assert!(c.get(&key("sites", 199, 1)).is_some());
        // Too large: not kept.
        c.put(key("big", 0, 1), tile(2_000));
        assert!(c.get(&key("big", 0, 1)).is_none());
        // Empty tiles are cached too.
        c.put(key("empty", 0, 1), tile(0));
        assert!(c.get(&key("empty", 0, 1)).unwrap().is_empty());
    }

    #[test]
    fn a_new_generation_drops_the_old_tiles() {
        let c = TileCache::new(16_000);
        c.put(key("sites", 0, 1), tile(100));
        c.put(key("sites", 1, 2), tile(100));
        assert!(c.get(&key("sites", 0, 1)).is_none());
        assert!(c.get(&key("sites", 1, 2)).is_some());
        // A late put for an older state is ignored.
        c.put(key("sites", 0, 1), tile(100));
        assert!(c.get(&key("sites", 0, 1)).is_none());
        assert_eq!(c.stats().1, 1);
        // No budget, no tiles.
        let off = TileCache::new(0);
        off.put(key("sites", 0, 1), tile(0));
        assert!(off.get(&key("sites", 0, 1)).is_none());
    }
}
