//! The server's one kind of in-memory cache: bounded, least recently used
//! out first.

use std::borrow::Borrow;
use std::hash::Hash;
use std::num::NonZeroUsize;
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
    map: Mutex<LruCache<K, V>>,
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
            map: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut LruCache<K, V>) -> R) -> R {
        f(&mut self.map.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A copy of the value for `key`, if cached (marks it recently used).
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        self.with(|m| m.get(key).cloned())
    }

    /// Caches `value` for `key`.
    pub(crate) fn insert(&self, key: K, value: V) {
        self.with(|m| m.put(key, value));
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
        self.with(|m| m.pop(key));
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        self.with(LruCache::clear);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_its_capacity_dropping_the_least_recently_used() {
        let c: BoundedCache<String, u32> = BoundedCache::new(NonZeroUsize::new(2).unwrap());
        c.insert("a".into(), 1);
        c.insert("b".into(), 2);
        assert_eq!(c.get("a"), Some(1), "a is now the most recently used");
        c.insert("c".into(), 3);
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
}
