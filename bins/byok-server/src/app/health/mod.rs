//! The health of each user's provider keys: whether a key is usable, when a
//! rate-limited key may be tried again, when it was last used and the last
//! (sanitised) error its provider gave.
//!
//! [`HealthStore`] is the storage trait: in memory ([`MemoryHealthStore`],
//! one instance) or shared between instances ([`PostgresHealthStore`], with
//! `BYOK_DATABASE_URL`). Reads and writes are answered from memory and
//! never block the request path: the shared store keeps a memory store as
//! its read side, queues its writes to a thread of its own, and hears the
//! other instances' changes through the change feed
//! (`crate::app::changes`).
//! Nothing here ever holds a key: errors are sanitised before they are
//! stored (see `app::keys::report`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use crate::metrics::KeyGauge;

mod postgres;

pub(crate) use postgres::PostgresHealthStore;

/// A key's status as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Status {
    /// Usable.
    Ok,
    /// Its provider refused it (401/403) until a verify passes or it is
    /// replaced.
    Invalid,
    /// Rate limited (429) until `cooldown_until`.
    CoolingDown,
}

impl Status {
    /// The name of the API and of the metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Invalid => "invalid",
            Self::CoolingDown => "cooling_down",
        }
    }
}

/// What is known of one key's health (a key never reported is the
/// default: usable, never used, no error).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyHealth {
    /// Refused by its provider (401/403).
    pub(crate) invalid: bool,
    /// Rate limited until then.
    pub(crate) cooldown_until: Option<SystemTime>,
    /// The last successful use.
    pub(crate) last_used_at: Option<SystemTime>,
    /// The last error, sanitised (shared: reading it never copies it).
    pub(crate) last_error: Option<Arc<str>>,
    /// The version of the credential this health is about (its
    /// `updated_at`, ms; 0: unknown): a report about an older version (a
    /// request that read the key before it was replaced, here or on another
    /// instance) changes nothing.
    pub(crate) stored_at: i64,
}

/// `t` in milliseconds since the epoch (0 before it).
pub(crate) fn millis(t: SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl KeyHealth {
    /// The status at `now` (a cooldown in the past is over).
    pub(crate) fn status(&self, now: SystemTime) -> Status {
        if self.invalid {
            Status::Invalid
        } else if self.cooldown_until.is_some_and(|t| t > now) {
            Status::CoolingDown
        } else {
            Status::Ok
        }
    }

    /// The cooldown still running at `now`, if any.
    pub(crate) fn cooling_until(&self, now: SystemTime) -> Option<SystemTime> {
        self.cooldown_until.filter(|t| *t > now)
    }

    /// Applies `change`, unless it is about an older version of the
    /// credential than this health is.
    fn apply(&mut self, change: HealthChange) {
        if let Some(v) = change.stored_at() {
            if v < self.stored_at {
                return;
            }
            self.stored_at = v;
        }
        match change {
            HealthChange::Seen => {}
            HealthChange::Used { at } => self.last_used_at = Some(at),
            HealthChange::Invalid { error, .. } => {
                self.invalid = true;
                self.last_error = Some(error);
            }
            HealthChange::CoolingDown { until, error, .. } => {
                self.cooldown_until = Some(until);
                self.last_error = Some(error);
            }
            HealthChange::Failed { error, .. } => self.last_error = Some(error),
            HealthChange::Verified { .. } => {
                self.invalid = false;
                self.last_error = None;
            }
            HealthChange::Replaced { stored_at } => {
                *self = Self {
                    stored_at,
                    ..Self::default()
                };
            }
        }
    }
}

/// A change to a key's health (data, so that a database store can write it
/// as one statement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HealthChange {
    /// The key exists (counted by the metrics; nothing else changes).
    Seen,
    /// A successful call at `at`.
    Used {
        /// When.
        at: SystemTime,
    },
    /// The provider refused the key (401/403).
    Invalid {
        /// The sanitised error.
        error: Arc<str>,
        /// The version of the credential that was refused.
        stored_at: i64,
    },
    /// Rate limited (429) until `until`.
    CoolingDown {
        /// When the key may be tried again.
        until: SystemTime,
        /// The sanitised error.
        error: Arc<str>,
        /// The version of the credential that was limited.
        stored_at: i64,
    },
    /// Another failure (5xx, timeout, connection): only the error is kept.
    Failed {
        /// The sanitised error.
        error: Arc<str>,
        /// The version of the credential that was used.
        stored_at: i64,
    },
    /// A verify passed: no longer invalid, no error.
    Verified {
        /// The version of the credential that was verified.
        stored_at: i64,
    },
    /// The key was replaced: everything starts over, at its new version.
    Replaced {
        /// The new version (its `updated_at`, ms).
        stored_at: i64,
    },
}

impl HealthChange {
    /// The version of the credential the change is about, if it names one.
    pub(crate) fn stored_at(&self) -> Option<i64> {
        match self {
            Self::Seen | Self::Used { .. } => None,
            Self::Invalid { stored_at, .. }
            | Self::CoolingDown { stored_at, .. }
            | Self::Failed { stored_at, .. }
            | Self::Verified { stored_at }
            | Self::Replaced { stored_at } => Some(*stored_at),
        }
    }
}

/// One key of one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyRef<'a> {
    /// The user's id.
    pub(crate) user: &'a str,
    /// The provider id.
    pub(crate) provider: &'a str,
    /// The key's label.
    pub(crate) label: &'a str,
}

/// One key's health with its provider and label (a user's listing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LabelledHealth {
    /// The provider id.
    pub(crate) provider: Box<str>,
    /// The label.
    pub(crate) label: Box<str>,
    /// Its health.
    pub(crate) health: KeyHealth,
}

/// Where key health is kept. Object-safe (`Arc<dyn HealthStore>` in the
/// state); every method answers from memory and never blocks (a persisting
/// store queues its writes).
pub(crate) trait HealthStore: Send + Sync + fmt::Debug {
    /// The health of one key (`None`: nothing reported: usable).
    fn get(&self, key: KeyRef<'_>) -> Option<KeyHealth>;

    /// The health of every key of `user` that has any.
    fn list(&self, user: &str) -> Vec<LabelledHealth>;

    /// Records `change` for one key (at once in memory; never blocks).
    fn set(&self, key: KeyRef<'_>, change: HealthChange);

    /// Forgets one key (deleted).
    fn remove(&self, key: KeyRef<'_>);
}

/// The in-memory [`HealthStore`]: per user, a short list of keys (users
/// hold a handful), behind one lock taken once per call.
#[derive(Debug, Default)]
pub(crate) struct MemoryHealthStore {
    /// Keyed by user id; foldhash, not SipHash: the ids are the server's
    /// own (no attacker picks them) and this is read on every request.
    users: RwLock<HashMap<String, Vec<LabelledHealth>, foldhash::fast::RandomState>>,
}

fn find<'v>(entries: &'v [LabelledHealth], key: &KeyRef<'_>) -> Option<&'v LabelledHealth> {
    entries
        .iter()
        .find(|e| &*e.provider == key.provider && &*e.label == key.label)
}

impl HealthStore for MemoryHealthStore {
    fn get(&self, key: KeyRef<'_>) -> Option<KeyHealth> {
        let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
        users
            .get(key.user)
            .and_then(|entries| find(entries, &key))
            .map(|e| e.health.clone())
    }

    fn list(&self, user: &str) -> Vec<LabelledHealth> {
        let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
        users.get(user).cloned().unwrap_or_default()
    }

    fn set(&self, key: KeyRef<'_>, change: HealthChange) {
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        if !users.contains_key(key.user) {
            users.insert(key.user.to_owned(), Vec::new());
        }
        let Some(entries) = users.get_mut(key.user) else {
            return;
        };
        if let Some(e) = entries
            .iter_mut()
            .find(|e| &*e.provider == key.provider && &*e.label == key.label)
        {
            e.health.apply(change);
            return;
        }
        let mut health = KeyHealth::default();
        health.apply(change);
        entries.push(LabelledHealth {
            provider: key.provider.into(),
            label: key.label.into(),
            health,
        });
    }

    fn remove(&self, key: KeyRef<'_>) {
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entries) = users.get_mut(key.user) {
            entries.retain(|e| !(&*e.provider == key.provider && &*e.label == key.label));
            if entries.is_empty() {
                users.remove(key.user);
            }
        }
    }
}

impl MemoryHealthStore {
    /// Makes `user`'s health what `stored` says (the shared database's
    /// rows): keys it names take its health, the other keys known here go
    /// back to the default (their rows were deleted: replaced, or never
    /// reported).
    pub(crate) fn replace_user(&self, user: &str, stored: Vec<LabelledHealth>) {
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        let entries = users.entry(user.to_owned()).or_default();
        for e in entries.iter_mut() {
            e.health = KeyHealth::default();
        }
        for row in stored {
            match entries
                .iter_mut()
                .find(|e| e.provider == row.provider && e.label == row.label)
            {
                Some(e) => e.health = row.health,
                None => entries.push(row),
            }
        }
    }

    /// The users with any key known here.
    pub(crate) fn users(&self) -> Vec<String> {
        let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
        users.keys().cloned().collect()
    }
}

/// The keys this instance knows of (stored through it, or listed for a
/// request since it started), by provider and status now.
impl KeyGauge for MemoryHealthStore {
    fn by_status(&self) -> Vec<(String, &'static str, u64)> {
        let now = SystemTime::now();
        let mut counts: HashMap<(&str, Status), u64> = HashMap::new();
        let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
        for entry in users.values().flatten() {
            *counts
                .entry((&entry.provider, entry.health.status(now)))
                .or_insert(0) += 1;
        }
        let mut out: Vec<_> = counts
            .into_iter()
            .map(|((p, s), n)| (p.to_owned(), s.as_str(), n))
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;

    fn key<'a>(user: &'a str, label: &'a str) -> KeyRef<'a> {
        KeyRef {
            user,
            provider: "openai",
            label,
        }
    }

    #[test]
    fn changes_apply_per_key_and_user_in_memory() {
        let store = MemoryHealthStore::default();
        suite(&store, &store);
    }

    /// The same suite on the shared store (its answers come from memory at
    /// once; its writer and reloads must not undo them).
    #[test]
    fn changes_apply_per_key_and_user_in_postgres() {
        let Some((dbs, _schema)) = crate::app::shared::testing::shared_dbs("health_suite", 1)
        else {
            return;
        };
        let store = PostgresHealthStore::start(Arc::clone(&dbs[0])).unwrap();
        suite(&store, &*store.memory());
    }

    fn suite(store: &dyn HealthStore, gauge: &dyn KeyGauge) {
        let now = SystemTime::now();
        assert_eq!(store.get(key("u1", "default")), None);
        store.set(key("u1", "default"), HealthChange::Used { at: now });
        store.set(
            key("u1", "work"),
            HealthChange::Invalid {
                error: "bad key".into(),
                stored_at: 5,
            },
        );
        let until = now + Duration::from_secs(30);
        store.set(
            key("u2", "default"),
            HealthChange::CoolingDown {
                until,
                error: "slow down".into(),
                stored_at: 5,
            },
        );
        let d = store.get(key("u1", "default")).unwrap();
        assert_eq!((d.status(now), d.last_used_at), (Status::Ok, Some(now)));
        let w = store.get(key("u1", "work")).unwrap();
        assert_eq!(w.status(now), Status::Invalid);
        let c = store.get(key("u2", "default")).unwrap();
        assert_eq!(c.status(now), Status::CoolingDown);
        assert_eq!(c.status(until + Duration::from_secs(1)), Status::Ok);
        assert_eq!(c.cooling_until(now), Some(until));

        store.set(key("u1", "work"), HealthChange::Verified { stored_at: 4 });
        assert_eq!(
            store.get(key("u1", "work")).unwrap().status(now),
            Status::Invalid,
            "a verify of an older version changes nothing"
        );
        store.set(key("u1", "work"), HealthChange::Verified { stored_at: 5 });
        let w = store.get(key("u1", "work")).unwrap();
        assert_eq!((w.status(now), w.last_error), (Status::Ok, None));
        store.set(
            key("u1", "work"),
            HealthChange::Failed {
                error: "500".into(),
                stored_at: 5,
            },
        );
        assert_eq!(store.list("u1").len(), 2);
        let mut counts = gauge.by_status();
        counts.sort();
        assert_eq!(
            counts,
            [
                ("openai".to_owned(), "cooling_down", 1),
                ("openai".to_owned(), "ok", 2)
            ]
        );
        store.set(
            key("u2", "default"),
            HealthChange::Replaced { stored_at: 6 },
        );
        let replaced = KeyHealth {
            stored_at: 6,
            ..KeyHealth::default()
        };
        assert_eq!(store.get(key("u2", "default")), Some(replaced.clone()));
        store.set(
            key("u2", "default"),
            HealthChange::Invalid {
                error: "a late report about the old key".into(),
                stored_at: 5,
            },
        );
        assert_eq!(store.get(key("u2", "default")), Some(replaced));
        store.remove(key("u1", "work"));
        store.remove(key("u1", "default"));
        assert!(store.list("u1").is_empty());
    }
}
