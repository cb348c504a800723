//! Key health shared by every instance: the `key_health` table in
//! PostgreSQL, with a [`MemoryHealthStore`] as each instance's read side.
//!
//! - A change is applied to memory at once and queued to a writer thread,
//!   which writes each queued change as one statement that merges it into
//!   the row (an invalid mark, a cooldown, an error, a verify: never the
//!   whole row, so two instances' changes to one key both land), in one
//!   transaction per batch, and notifies the other instances of every user
//!   whose health changed (a successful use only moves `last_used_at`, which
//!   the others pick up with the next change; no notification).
//! - A notification (or the writer's own commit) reloads that user's rows
//!   into memory. A user with changes still queued here is not reloaded
//!   from a notification (the reload could predate them); the writer
//!   reloads them after its commit, which sees every change committed
//!   before it.
//! - When the feed reconnects, every user is reloaded.
//!
//! Health is advisory (which key to try first): a batch the database keeps
//! refusing is logged and dropped, and memory keeps the local view.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use byok_pg::postgres::types::ToSql;
use byok_pg::postgres::{Client, Row};

use super::{HealthChange, HealthStore, KeyHealth, KeyRef, LabelledHealth, MemoryHealthStore};
use crate::app::shared::{CHANNEL, Change, SharedDb};

/// Changes written per transaction at most.
const BATCH: usize = 256;

/// One queued change (`None`: the key was deleted).
#[derive(Debug)]
struct Op {
    user: String,
    provider: String,
    label: String,
    change: Option<HealthChange>,
}

/// Users with changes queued here and not committed yet.
type Pending = Mutex<HashMap<String, u32, foldhash::fast::RandomState>>;

/// The shared key-health store.
#[derive(Debug)]
pub(crate) struct PostgresHealthStore {
    memory: Arc<MemoryHealthStore>,
    reader: Reader,
    queue: Mutex<Sender<Op>>,
}

/// What reloads need: the database, memory and the pending users.
#[derive(Debug, Clone)]
struct Reader {
    db: Arc<SharedDb>,
    memory: Arc<MemoryHealthStore>,
    pending: Arc<Pending>,
}

impl PostgresHealthStore {
    /// The store over `db`, its writer thread started and every user's
    /// health loaded.
    ///
    /// # Errors
    /// The thread cannot start; the first load fails.
    pub(crate) fn start(db: Arc<SharedDb>) -> anyhow::Result<Self> {
        let memory = Arc::new(MemoryHealthStore::default());
        let reader = Reader {
            db,
            memory: Arc::clone(&memory),
            pending: Arc::default(),
        };
        reader.reload(None)?;
        let (tx, rx) = channel();
        let writer = reader.clone();
        std::thread::Builder::new()
            .name("byok-health".into())
            .spawn(move || writer.write_all(&rx))?;
        Ok(Self {
            memory,
            reader,
            queue: Mutex::new(tx),
        })
    }

    /// The memory side (the metrics' gauge reads it).
    pub(crate) fn memory(&self) -> Arc<MemoryHealthStore> {
        Arc::clone(&self.memory)
    }

    /// Reloads `user`'s health (another instance changed it), or every
    /// user's (`None`: the feed reconnected). Errors are logged: the next
    /// change or reconnection reloads again.
    pub(crate) fn reload(&self, user: Option<&str>) {
        if let Err(e) = self.reader.reload(user) {
            tracing::warn!(error = %e, "cannot reload key health from PostgreSQL");
        }
    }

    fn queue(&self, key: KeyRef<'_>, change: Option<HealthChange>) {
        *self
            .reader
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.user.to_owned())
            .or_insert(0) += 1;
        let op = Op {
            user: key.user.to_owned(),
            provider: key.provider.to_owned(),
            label: key.label.to_owned(),
            change,
        };
        let sent = self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(op);
        if sent.is_err() {
            tracing::error!("the key-health writer has stopped: the change stays on this instance");
        }
    }
}

impl HealthStore for PostgresHealthStore {
    fn get(&self, key: KeyRef<'_>) -> Option<KeyHealth> {
        self.memory.get(key)
    }

    fn list(&self, user: &str) -> Vec<LabelledHealth> {
        self.memory.list(user)
    }

    fn set(&self, key: KeyRef<'_>, change: HealthChange) {
        if change == HealthChange::Seen {
            // Only this instance's metrics count it.
            self.memory.set(key, change);
            return;
        }
        // Pending first: a reload between the two would otherwise undo
        // the change in memory until the writer's own reload.
        self.queue(key, Some(change.clone()));
        self.memory.set(key, change);
    }

    fn remove(&self, key: KeyRef<'_>) {
        self.queue(key, None);
        self.memory.remove(key);
    }
}

use super::millis as ms;

fn time(ms: Option<i64>) -> Option<SystemTime> {
    ms.and_then(|m| u64::try_from(m).ok())
        .map(|m| UNIX_EPOCH + Duration::from_millis(m))
}

/// The statement that merges `change` into the key's row, and its
/// parameters after `(user, provider, label)`. A change about a credential
/// version older than the row's (`stored_at`) changes nothing, as in
/// memory ([`KeyHealth`]); a replacement resets the row at its new version
/// (a row, not a deletion: a late report about the old version must find
/// the newer version to lose against).
fn merge(change: &HealthChange) -> (&'static str, Vec<Box<dyn ToSql + Sync + Send>>) {
    match change {
        HealthChange::Used { at } => (
            "INSERT INTO key_health (user_id, provider, label, last_used_at) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, provider, label) DO UPDATE SET last_used_at = GREATEST(key_health.last_used_at, EXCLUDED.last_used_at)",
            vec![Box::new(ms(*at))],
        ),
        HealthChange::Invalid { error, stored_at } => (
            "INSERT INTO key_health (user_id, provider, label, stored_at, invalid, last_error) VALUES ($1, $2, $3, $4, true, $5) ON CONFLICT (user_id, provider, label) DO UPDATE SET stored_at = EXCLUDED.stored_at, invalid = true, last_error = EXCLUDED.last_error WHERE key_health.stored_at <= EXCLUDED.stored_at",
            vec![Box::new(*stored_at), Box::new(error.to_string())],
        ),
        HealthChange::CoolingDown {
            until,
            error,
            stored_at,
        } => (
            "INSERT INTO key_health (user_id, provider, label, stored_at, cooldown_until, last_error) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, provider, label) DO UPDATE SET stored_at = EXCLUDED.stored_at, cooldown_until = GREATEST(key_health.cooldown_until, EXCLUDED.cooldown_until), last_error = EXCLUDED.last_error WHERE key_health.stored_at <= EXCLUDED.stored_at",
            vec![
                Box::new(*stored_at),
                Box::new(ms(*until)),
                Box::new(error.to_string()),
            ],
        ),
        HealthChange::Failed { error, stored_at } => (
            "INSERT INTO key_health (user_id, provider, label, stored_at, last_error) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, provider, label) DO UPDATE SET stored_at = EXCLUDED.stored_at, last_error = EXCLUDED.last_error WHERE key_health.stored_at <= EXCLUDED.stored_at",
            vec![Box::new(*stored_at), Box::new(error.to_string())],
        ),
        HealthChange::Verified { stored_at } => (
            "UPDATE key_health SET stored_at = $4, invalid = false, last_error = NULL WHERE user_id = $1 AND provider = $2 AND label = $3 AND stored_at <= $4",
            vec![Box::new(*stored_at)],
        ),
        HealthChange::Replaced { stored_at } => (
            "INSERT INTO key_health (user_id, provider, label, stored_at) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, provider, label) DO UPDATE SET stored_at = EXCLUDED.stored_at, invalid = false, cooldown_until = NULL, last_used_at = NULL, last_error = NULL WHERE key_health.stored_at <= EXCLUDED.stored_at",
            vec![Box::new(*stored_at)],
        ),
        HealthChange::Seen => (DELETE, Vec::new()),
    }
}

/// Deletes the key's row (the credential was deleted).
const DELETE: &str = "DELETE FROM key_health WHERE user_id = $1 AND provider = $2 AND label = $3";

impl Reader {
    /// Reads `user`'s rows (or everyone's) and puts them in memory, for
    /// every user without changes queued here.
    fn reload(&self, user: Option<&str>) -> anyhow::Result<()> {
        const COLUMNS: &str = "SELECT user_id, provider, label, invalid, cooldown_until, last_used_at, last_error, stored_at FROM key_health";
        let rows = self.db.run(|c| match user {
            Some(u) => c.query(&format!("{COLUMNS} WHERE user_id = $1"), &[&u]),
            None => c.query(COLUMNS, &[]),
        })?;
        let mut by_user: HashMap<String, Vec<LabelledHealth>> = HashMap::new();
        if let Some(u) = user {
            by_user.insert(u.to_owned(), Vec::new());
        } else {
            for u in self.memory.users() {
                by_user.insert(u, Vec::new());
            }
        }
        for row in &rows {
            let (user, health) = labelled(row)?;
            by_user.entry(user).or_default().push(health);
        }
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for (user, stored) in by_user {
            if !pending.contains_key(&user) {
                self.memory.replace_user(&user, stored);
            }
        }
        Ok(())
    }

    /// The writer: batches of queued changes until the store is dropped.
    fn write_all(&self, rx: &Receiver<Op>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            let written = self.db.run(|c| write(c, &batch));
            if let Err(e) = &written {
                tracing::warn!(error = %e, changes = batch.len(), "key health not written to PostgreSQL; kept on this instance");
            }
            let mut users: Vec<&str> = batch.iter().map(|op| op.user.as_str()).collect();
            users.sort_unstable();
            users.dedup();
            {
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                for op in &batch {
                    if let Some(n) = pending.get_mut(&op.user) {
                        *n -= 1;
                        if *n == 0 {
                            pending.remove(&op.user);
                        }
                    }
                }
            }
            if written.is_ok() {
                for user in users {
                    if let Err(e) = self.reload(Some(user)) {
                        tracing::warn!(error = %e, "cannot reload key health from PostgreSQL");
                    }
                }
            }
        }
    }
}

/// Writes `batch` in one transaction and notifies its users' changes with
/// the commit.
fn write(c: &mut Client, batch: &[Op]) -> Result<(), byok_pg::postgres::Error> {
    let mut tx = c.transaction()?;
    let mut notify: Vec<&str> = Vec::new();
    for op in batch {
        let (sql, rest) = match &op.change {
            Some(change) => merge(change),
            None => (DELETE, Vec::new()),
        };
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&op.user, &op.provider, &op.label];
        params.extend(rest.iter().map(|p| &**p as &(dyn ToSql + Sync)));
        tx.execute(sql, &params)?;
        if !matches!(op.change, Some(HealthChange::Used { .. })) {
            notify.push(&op.user);
        }
    }
    notify.sort_unstable();
    notify.dedup();
    for user in notify {
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&CHANNEL, &Change::Health.payload(user)],
        )?;
    }
    tx.commit()
}

/// A row's user and labelled health.
fn labelled(row: &Row) -> Result<(String, LabelledHealth), byok_pg::postgres::Error> {
    let user: String = row.try_get(0)?;
    let provider: String = row.try_get(1)?;
    let label: String = row.try_get(2)?;
    let last_error: Option<String> = row.try_get(6)?;
    Ok((
        user,
        LabelledHealth {
            provider: provider.into(),
            label: label.into(),
            health: KeyHealth {
                invalid: row.try_get(3)?,
                cooldown_until: time(row.try_get(4)?),
                last_used_at: time(row.try_get(5)?),
                last_error: last_error.map(Into::into),
                stored_at: row.try_get(7)?,
            },
        },
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::app::health::Status;
    use crate::app::shared::testing::shared_dbs;

    const KEY: KeyRef<'static> = KeyRef {
        user: "usr_h",
        provider: "openai",
        label: "default",
    };

    /// Reloads `store` until `check` holds of the key's health (the
    /// writers are asynchronous), failing after 5 s.
    fn eventually(store: &PostgresHealthStore, what: &str, check: impl Fn(&KeyHealth) -> bool) {
        let start = Instant::now();
        loop {
            store.reload(Some(KEY.user));
            if check(&store.get(KEY).unwrap_or_default()) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{what}: {:?}",
                store.get(KEY)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Two instances' changes to one key merge (neither overwrites the
    /// other's), and each instance reloads what the other wrote.
    #[test]
    fn two_instances_changes_merge_and_reload() {
        let Some((dbs, _schema)) = shared_dbs("health", 2) else {
            return;
        };
        let a = PostgresHealthStore::start(Arc::clone(&dbs[0])).unwrap();
        let b = PostgresHealthStore::start(Arc::clone(&dbs[1])).unwrap();
        let used = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        a.set(
            KEY,
            HealthChange::Invalid {
                error: "401 bad key".into(),
                stored_at: 1,
            },
        );
        b.set(KEY, HealthChange::Used { at: used });
        for store in [&a, &b] {
            eventually(store, "invalid and used, both kept", |h| {
                h.invalid
                    && h.last_used_at == Some(used)
                    && h.last_error.as_deref() == Some("401 bad key")
            });
        }
        b.set(KEY, HealthChange::Verified { stored_at: 1 });
        eventually(&a, "verified", |h| {
            !h.invalid && h.last_error.is_none() && h.last_used_at == Some(used)
        });
        let until = SystemTime::now() + Duration::from_secs(60);
        a.set(
            KEY,
            HealthChange::CoolingDown {
                until,
                error: "429".into(),
                stored_at: 1,
            },
        );
        eventually(&b, "cooling down", |h| {
            h.status(SystemTime::now()) == Status::CoolingDown
        });
        // An earlier cooldown from the other instance does not shorten it.
        b.set(
            KEY,
            HealthChange::CoolingDown {
                until: SystemTime::now(),
                error: "429 again".into(),
                stored_at: 1,
            },
        );
        eventually(&a, "the later cooldown kept", |h| {
            h.last_error.as_deref() == Some("429 again")
                && h.cooling_until(SystemTime::now()).is_some()
        });
        a.set(KEY, HealthChange::Replaced { stored_at: 2 });
        eventually(&b, "replaced: all over", |h| {
            *h == KeyHealth {
                stored_at: 2,
                ..KeyHealth::default()
            }
        });
        // A late report about the replaced version (a request that read
        // the old key, here or on the other instance) changes nothing.
        for store in [&a, &b] {
            store.set(
                KEY,
                HealthChange::Invalid {
                    error: "401 old key".into(),
                    stored_at: 1,
                },
            );
            assert!(!store.get(KEY).unwrap().invalid, "stale in memory");
        }
        b.set(
            KEY,
            HealthChange::Failed {
                error: "502".into(),
                stored_at: 2,
            },
        );
        eventually(&a, "failed, the stale reports dropped", |h| {
            h.last_error.as_deref() == Some("502") && !h.invalid
        });
        a.remove(KEY);
        eventually(&b, "removed", |h| *h == KeyHealth::default());
        let rows: i64 = dbs[0]
            .run(|c| {
                c.query_one("SELECT count(*) FROM key_health", &[])?
                    .try_get(0)
            })
            .unwrap();
        assert_eq!(rows, 0, "a removed key leaves no row");
        // A third instance starting now loads what is stored.
        b.set(
            KEY,
            HealthChange::Invalid {
                error: "403".into(),
                stored_at: 3,
            },
        );
        eventually(&a, "written (seen by the other)", |h| h.invalid);
        let c = PostgresHealthStore::start(Arc::clone(&dbs[0])).unwrap();
        assert!(c.get(KEY).is_some_and(|h| h.invalid), "loaded at start");
    }
}
