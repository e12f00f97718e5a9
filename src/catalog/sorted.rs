//! The whole sites table in the order of a `sortby`, kept per list of keys until the sites change,
//! as a database keeps an index on the sorted column: a page of `sortby=-risk_score` over every
//! site is then a slice of it, and a page of a selection that matches many sites a walk along it
//! that stops once the page is full. Built by [`super::order`] on first use; the orders are those
//! of a full stable sort, so a page read from one is the page a sort of the matches gives (tested
//! in `order`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::order::SortKey;

/// Below this many sites a sort of the matches is cheap enough without an order kept.
pub(super) const SORT_ORDER_MIN: usize = 4_096;
/// At most this many orders are kept (a client that sorts by every field in turn does not hold
/// memory for each: past it, the kept orders are dropped and built again as asked).
const MAX_ORDERS: usize = 16;

/// The orders built so far, by `sortby`; emptied when a site changes.
#[derive(Debug, Default)]
pub(super) struct SortOrders {
    built: Mutex<HashMap<Vec<SortKey>, Arc<[u32]>>>,
}

impl SortOrders {
    /// Forgets every order (the sites changed).
    pub(super) fn clear(&mut self) {
        self.built
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The positions of every site in the order of `keys`, built with `build` if not kept. The
    /// build runs outside the lock, so requests for other orders are not held up by it.
    pub(super) fn get(&self, keys: &[SortKey], build: impl FnOnce() -> Vec<u32>) -> Arc<[u32]> {
        if let Some(order) = self
            .built
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(keys)
        {
            return order.clone();
        }
        let order: Arc<[u32]> = build().into();
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if built.len() >= MAX_ORDERS {
            built.clear();
        }
        built.insert(keys.to_vec(), order.clone());
        order
    }
}
