//! The server's one kind of in-memory cache: bounded, least recently used
//! out first.
//!
//! With several instances on one database ([`crate::app::changes`]), a
//! cache of shared data is emptied when another instance changes it, and
//! bypassed while this instance cannot hear the changes: every forgetting
//! bumps a generation, and a value read from the database before a
//! forgetting is not cached after it ([`BoundedCache::insert_if_current`]).

use std::borrow::Borrow;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use lru::LruCache;

/// Entries a cache holds at most unless told otherwise.
pub(crate) const DEFAULT_CAPACITY: NonZeroUsize = match NonZeroUsize::new(100_000) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};

/// A map of at most `capacity` entries behind a mutex; past it, the least
/// recently used entry goes. Every method takes the lock once.
#[derive(Debug)]
pub struct BoundedCache<K: Hash + Eq, V> {
    map: Mutex<Inner<K, V>>,
    /// Off while the instance cannot hear other instances' changes: every
    /// read misses and nothing is cached.
    enabled: AtomicBool,
}

#[derive(Debug)]
struct Inner<K: Hash + Eq, V> {
    lru: LruCache<K, V>,
    /// Bumped by every forgetting.
    generation: u64,
}

impl<K: Hash + Eq, V> Default for BoundedCache<K, V> {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl<K: Hash + Eq, V> BoundedCache<K, V> {
    /// An empty cache of at most `capacity` entries.
    pub(crate) fn new(capacity: NonZeroUsize) -> Self {
        Self {
            map: Mutex::new(Inner {
                lru: LruCache::new(capacity),
                generation: 0,
            }),
            enabled: AtomicBool::new(true),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut LruCache<K, V>) -> R) -> R {
        f(&mut self.map.lock().unwrap_or_else(PoisonError::into_inner).lru)
    }

    /// Bumps the generation and runs `f` (a forgetting).
    fn forget<R>(&self, f: impl FnOnce(&mut LruCache<K, V>) -> R) -> R {
        let mut inner = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        inner.generation = inner.generation.wrapping_add(1);
        f(&mut inner.lru)
    }

    fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Turns the cache off (emptied; reads miss, nothing is cached) or on.
    pub(crate) fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Release);
        if !on {
            self.clear();
        }
    }

    /// The generation to pass to [`BoundedCache::insert_if_current`]: read
    /// it before reading what will be cached.
    pub(crate) fn generation(&self) -> u64 {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .generation
    }

    /// Caches `value` unless something was forgotten since `generation`
    /// was read (the value may predate that change) or the cache is off.
    pub(crate) fn insert_if_current(&self, key: K, value: V, generation: u64) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.generation == generation {
            inner.lru.put(key, value);
        }
    }

    /// A copy of the value for `key`, if cached (marks it recently used).
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        if !self.enabled() {
            return None;
        }
        self.with(|m| m.get(key).cloned())
    }

    /// Runs `f` on the value for `key`, first inserting `new()` if there is
    /// none (the owned key is made only then).
    pub(crate) fn update<Q, R>(
        &self,
        key: &Q,
        new: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
    ) -> R
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + ToOwned<Owned = K>,
    {
        self.with(|m| f(m.get_or_insert_mut_ref(key, new)))
    }

    /// Forgets `key`.
    pub(crate) fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.forget(|m| m.pop(key));
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        self.forget(LruCache::clear);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_its_capacity_dropping_the_least_recently_used() {
        let c: BoundedCache<String, u32> = BoundedCache::new(NonZeroUsize::new(2).unwrap());
        c.insert_if_current("a".into(), 1, c.generation());
        c.insert_if_current("b".into(), 2, c.generation());
        assert_eq!(c.get("a"), Some(1), "a is now the most recently used");
        c.insert_if_current("c".into(), 3, c.generation());
        assert_eq!(
            (c.get("a"), c.get("b"), c.get("c")),
            (Some(1), None, Some(3))
        );
        assert_eq!(
            c.update(
                "a",
                || 0,
                |v| {
                    *v += 10;
                    *v
                }
            ),
            11
        );
        assert_eq!(c.update("d", || 7, |v| *v), 7);
        c.remove("d");
        assert_eq!(c.get("d"), None);
        c.clear();
        assert_eq!(c.get("a"), None);
    }

    #[test]
    fn a_value_read_before_a_forgetting_is_not_cached_and_off_means_off() {
        let c: BoundedCache<String, u32> = BoundedCache::default();
        let before = c.generation();
        c.remove("x");
        c.insert_if_current("x".into(), 1, before);
        assert_eq!(c.get("x"), None, "read before the change: not cached");
        c.insert_if_current("x".into(), 2, c.generation());
        assert_eq!(c.get("x"), Some(2));
        c.set_enabled(false);
        assert_eq!(c.get("x"), None, "off: emptied and every read misses");
        c.insert_if_current("y".into(), 3, c.generation());
        c.set_enabled(true);
        assert_eq!(c.get("y"), None, "nothing was cached while off");
    }
}
