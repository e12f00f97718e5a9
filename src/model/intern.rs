//! Shared text: the strings that repeat across a large inventory (river and border ids, water-body
//! names) are kept once and pointed at, rather than copied into every site's record.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

/// A shared, immutable string.
pub type Shared = Arc<str>;

const SHARDS: usize = 16;

/// Hands out one [`Shared`] per distinct text. Safe to use from many threads at once: the set is split
/// into shards, each behind its own lock.
#[derive(Debug, Default)]
pub struct Interner {
    shards: [Mutex<HashSet<Shared>>; SHARDS],
    hasher: std::collections::hash_map::RandomState,
}

impl Interner {
    /// A new, empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared copy of `text`, made on first use.
    pub fn intern(&self, text: &str) -> Shared {
        let shard = &self.shards[(self.hasher.hash_one(text) as usize) % SHARDS];
        let mut set = shard.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = set.get(text) {
            return s.clone();
        }
        let s: Shared = Arc::from(text);
        set.insert(s.clone());
        s
    }

    /// How many distinct texts are held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_one_allocation() {
        let i = Interner::new();
        let a = i.intern("hyriv_30000001");
        let b = i.intern(&String::from("hyriv_30000001"));
        let c = i.intern("hyriv_30000002");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(&*c, "hyriv_30000002");
        assert_eq!(i.len(), 2);
    }
}
