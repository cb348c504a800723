//! A bounded read cache of encrypted records.
//!
//! It holds [`SecretRecord`]s exactly as stored: ciphertext, never plaintext.
//! A cache hit still authenticates and decrypts (a microsecond or two for a
//! key-sized secret, see the crate docs), so a cached entry that was
//! tampered with in memory, or a key that was retired, fails exactly as a
//! stored one would, and no plaintext outlives the caller's secrecy type.
//!
//! Staleness: every invalidation bumps a generation counter; a reader that
//! loaded a record from the store inserts it only if no invalidation happened
//! since it started, so a slow reader can never put back a value that a
//! concurrent write replaced.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::store::SecretRecord;

struct Entry {
    record: Arc<SecretRecord>,
    loaded: Instant,
}

struct Inner {
    map: Option<LruCache<String, Entry>>,
    generation: u64,
}

pub(crate) struct Cache {
    inner: Mutex<Inner>,
    ttl: Option<Duration>,
}

/// The cache key: owner and name joined by NUL, which neither may contain.
pub(crate) fn key(owner: &str, name: &str) -> String {
    let mut k = String::with_capacity(owner.len() + 1 + name.len());
    k.push_str(owner);
    k.push('\0');
    k.push_str(name);
    k
}

impl Cache {
    pub(crate) fn new(capacity: usize, ttl: Option<Duration>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                map: NonZeroUsize::new(capacity).map(LruCache::new),
                generation: 0,
            }),
            ttl,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &str) -> Option<Arc<SecretRecord>> {
        let mut inner = self.lock();
        let map = inner.map.as_mut()?;
        let entry = map.get(key)?;
        if self.ttl.is_some_and(|ttl| entry.loaded.elapsed() > ttl) {
            map.pop(key);
            return None;
        }
        Some(Arc::clone(&entry.record))
    }

    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Inserts `record` unless an invalidation happened after `generation`
    /// was read.
    pub(crate) fn insert_if_current(
        &self,
        key: String,
        record: Arc<SecretRecord>,
        generation: u64,
    ) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if let Some(map) = inner.map.as_mut() {
            map.put(
                key,
                Entry {
                    record,
                    loaded: Instant::now(),
                },
            );
        }
    }

    pub(crate) fn invalidate(&self, key: &str) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        if let Some(map) = inner.map.as_mut() {
            map.pop(key);
        }
    }

    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        if let Some(map) = inner.map.as_mut() {
            map.clear();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().map.as_ref().map_or(0, LruCache::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(v: u8) -> Arc<SecretRecord> {
        Arc::new(SecretRecord {
            owner: "o".into(),
            name: "n".into(),
            secret_id: "id".into(),
            key_id: 1,
            blob: vec![v],
            metadata: None,
            hint: None,
            created_at_ms: 0,
            updated_at_ms: 0,
        })
    }

    #[test]
    fn stale_reader_cannot_reinsert_after_invalidation() {
        let c = Cache::new(8, None);
        let g = c.generation();
        c.invalidate(&key("o", "n"));
        c.insert_if_current(key("o", "n"), rec(1), g);
        assert!(c.get(&key("o", "n")).is_none());
        let g = c.generation();
        c.insert_if_current(key("o", "n"), rec(2), g);
        assert_eq!(c.get(&key("o", "n")).unwrap().blob, vec![2]);
    }

    #[test]
    fn bounded_and_disableable() {
        let c = Cache::new(2, None);
        for i in 0..5u8 {
            let g = c.generation();
            c.insert_if_current(format!("k{i}"), rec(i), g);
        }
        assert_eq!(c.len(), 2);
        let off = Cache::new(0, None);
        off.insert_if_current("k".into(), rec(0), off.generation());
        assert!(off.get("k").is_none());
    }

    #[test]
    fn ttl_expires_entries() {
        let c = Cache::new(2, Some(Duration::ZERO));
        c.insert_if_current("k".into(), rec(0), c.generation());
        std::thread::sleep(Duration::from_millis(2));
        assert!(c.get("k").is_none());
    }
}
