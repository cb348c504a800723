//! Users and gateway keys.
//!
//! A gateway key is `byok_` + 48 hex characters: 24 random bytes (192 bits)
//! from the OS, shown once. Only its SHA-256 is
//! stored; authentication looks the hash up, then compares the full hash in
//! constant time (`subtle`). Unknown, malformed and missing keys all give
//! the same answer.
//!
//! SQLite (`accounts.db`) by default; with `BYOK_DATABASE_URL` the tables
//! `gateway_users` and `gateway_keys` in PostgreSQL
//! (`crate::app::shared`), shared by every instance.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::cache::BoundedCache;
use crate::app::shared::{Change, SharedDb};
use crate::config::Settings;

/// Prefix of every gateway key.
pub const KEY_PREFIX: &str = "byok_";

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id (`usr_` + hex).
    pub id: String,
    /// Display name.
    pub name: String,
}

/// The accounts database (SQLite in the data directory, or the server's
/// tables in PostgreSQL), with an in-memory cache of authenticated keys
/// (by SHA-256) so the request path does not touch the database after a
/// key's first use. With PostgreSQL, a revocation on any instance empties
/// every instance's cache (`crate::app::changes`).
#[derive(Debug)]
pub struct Accounts {
    backend: Backend,
    cache: BoundedCache<[u8; 32], User>,
}

#[derive(Debug)]
enum Backend {
    Sqlite(Mutex<Connection>),
    Postgres(Arc<SharedDb>),
}

/// Every row of an accounts database, as stored (`migrate-store`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct AccountRows {
    /// `(id, name, created_at_ms)`.
    pub(crate) users: Vec<(String, String, i64)>,
    /// `(sha256, prefix, user_id, created_at_ms, revoked)`.
    pub(crate) keys: Vec<(Vec<u8>, String, String, i64, bool)>,
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut b = vec![0u8; bytes];
    getrandom::getrandom(&mut b)
        .map_err(|e| anyhow::anyhow!("OS random number generator failed: {e}"))?;
    Ok(hex::encode(b))
}

fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A new gateway key and its shown prefix.
fn new_key() -> anyhow::Result<(String, SecretString)> {
    let key = format!("{KEY_PREFIX}{}", random_hex(24)?);
    Ok((
        key[..KEY_PREFIX.len() + 6].to_owned(),
        SecretString::from(key),
    ))
}

const SQLITE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS gateway_keys (
        hash BLOB PRIMARY KEY NOT NULL,
        prefix TEXT NOT NULL,
        user_id TEXT NOT NULL REFERENCES users(id),
        created_at INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    );";

impl Accounts {
    /// Opens (creating) the SQLite accounts database at `path`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SQLITE_SCHEMA)?;
        Ok(Self::with(Backend::Sqlite(Mutex::new(conn))))
    }

    /// The accounts in the server's PostgreSQL tables.
    pub(crate) fn postgres(db: Arc<SharedDb>) -> Self {
        Self::with(Backend::Postgres(db))
    }

    /// The accounts `settings` name: PostgreSQL with `BYOK_DATABASE_URL`,
    /// else `accounts.db` in the data directory.
    ///
    /// # Errors
    /// See [`Accounts::open`] and [`SharedDb::open`].
    pub(crate) fn for_settings(settings: &Settings) -> anyhow::Result<Self> {
        match &settings.database_url {
            Some(url) => Ok(Self::postgres(SharedDb::open(url)?)),
            None => Self::open(&settings.data_dir.join("accounts.db")),
        }
    }

    fn with(backend: Backend) -> Self {
        Self {
            backend,
            cache: BoundedCache::default(),
        }
    }

    fn sqlite<T>(
        conn: &Mutex<Connection>,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> anyhow::Result<T> {
        Ok(f(&mut conn.lock().unwrap_or_else(PoisonError::into_inner))?)
    }

    /// Creates a user and their first key; the key is returned once.
    ///
    /// # Errors
    /// Name rules, RNG or database errors.
    pub fn create_user(&self, name: &str) -> anyhow::Result<(User, SecretString)> {
        let name = name.trim();
        anyhow::ensure!(
            !name.is_empty() && name.len() <= 128,
            "the name must be 1 to 128 characters"
        );
        anyhow::ensure!(
            !name.chars().any(char::is_control),
            "the name must not contain control characters"
        );
        let user = User {
            id: format!("usr_{}", random_hex(8)?),
            name: name.to_owned(),
        };
        let (prefix, key) = new_key()?;
        let digest = hash(key.expose_secret()).to_vec();
        let now = byok_billing::now_ms();
        match &self.backend {
            Backend::Sqlite(conn) => Self::sqlite(conn, |c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                tx.execute(
                    "INSERT INTO users (id, name, created_at) VALUES (?1, ?2, ?3)",
                    params![user.id, user.name, now],
                )?;
                tx.execute(
                    "INSERT INTO gateway_keys (hash, prefix, user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![digest, prefix, user.id, now],
                )?;
                tx.commit()
            })?,
            Backend::Postgres(db) => db.run(|c| {
                let mut tx = c.transaction()?;
                tx.execute(
                    "INSERT INTO gateway_users (id, name, created_at) VALUES ($1, $2, $3)",
                    &[&user.id, &user.name, &now],
                )?;
                tx.execute(
                    "INSERT INTO gateway_keys (hash, prefix, user_id, created_at) VALUES ($1, $2, $3, $4)",
                    &[&digest, &prefix, &user.id, &now],
                )?;
                tx.commit()
            })?,
        }
        Ok((user, key))
    }

    /// Adds another key for `user_id`; returned once.
    ///
    /// # Errors
    /// RNG or database errors.
    pub fn create_key(&self, user_id: &str) -> anyhow::Result<(String, SecretString)> {
        let (prefix, key) = new_key()?;
        let digest = hash(key.expose_secret()).to_vec();
        let now = byok_billing::now_ms();
        match &self.backend {
            Backend::Sqlite(conn) => Self::sqlite(conn, |c| {
                c.execute(
                    "INSERT INTO gateway_keys (hash, prefix, user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![digest, prefix, user_id, now],
                )
            })
            .map(drop)?,
            Backend::Postgres(db) => db
                .run(|c| {
                    c.execute(
                        "INSERT INTO gateway_keys (hash, prefix, user_id, created_at) VALUES ($1, $2, $3, $4)",
                        &[&digest, &prefix, &user_id, &now],
                    )
                })
                .map(drop)?,
        }
        Ok((prefix, key))
    }

    /// The user's keys: `(prefix, created_at_ms, revoked)`, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub fn list_keys(&self, user_id: &str) -> anyhow::Result<Vec<(String, i64, bool)>> {
        const SQL: &str = "SELECT prefix, created_at, revoked FROM gateway_keys WHERE user_id = $1 ORDER BY created_at, prefix";
        match &self.backend {
            Backend::Sqlite(conn) => Self::sqlite(conn, |c| {
                let mut stmt = c.prepare(&SQL.replace('$', "?"))?;
                stmt.query_map(params![user_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            }),
            Backend::Postgres(db) => db.run(|c| {
                c.query(SQL, &[&user_id])?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect()
            }),
        }
    }

    /// Revokes the user's keys with this prefix; returns how many. The
    /// authentication cache is cleared so the key stops working at once
    /// here; with PostgreSQL every other instance is told to clear its own.
    ///
    /// # Errors
    /// Database errors.
    pub fn revoke_key(&self, user_id: &str, prefix: &str) -> anyhow::Result<usize> {
        let n = match &self.backend {
            Backend::Sqlite(conn) => Self::sqlite(conn, |c| {
                c.execute(
                    "UPDATE gateway_keys SET revoked = 1 WHERE user_id = ?1 AND prefix = ?2 AND revoked = 0",
                    params![user_id, prefix],
                )
            })?,
            Backend::Postgres(db) => {
                let payload = Change::Keys.payload(user_id);
                let n = db.run(|c| {
                    // The notification is sent at the commit, with it.
                    let mut tx = c.transaction()?;
                    let n = tx.execute(
                        "UPDATE gateway_keys SET revoked = true WHERE user_id = $1 AND prefix = $2 AND NOT revoked",
                        &[&user_id, &prefix],
                    )?;
                    tx.execute(
                        "SELECT pg_notify($1, $2)",
                        &[&crate::app::shared::CHANNEL, &payload],
                    )?;
                    tx.commit()?;
                    Ok(n)
                })?;
                usize::try_from(n).unwrap_or(usize::MAX)
            }
        };
        self.cache.clear();
        Ok(n)
    }

    /// Whether the user exists.
    ///
    /// # Errors
    /// Database errors.
    pub fn user_exists(&self, id: &str) -> anyhow::Result<bool> {
        match &self.backend {
            Backend::Sqlite(conn) => Self::sqlite(conn, |c| {
                c.query_row("SELECT 1 FROM users WHERE id = ?1", params![id], |_| Ok(()))
                    .optional()
                    .map(|r| r.is_some())
            }),
            Backend::Postgres(db) => db.run(|c| {
                c.query_opt("SELECT 1 FROM gateway_users WHERE id = $1", &[&id])
                    .map(|r| r.is_some())
            }),
        }
    }

    /// The user a presented key belongs to, or `None` (for every kind of
    /// wrong key alike).
    ///
    /// # Errors
    /// Database errors.
    pub fn authenticate(&self, presented: &str) -> anyhow::Result<Option<User>> {
        let wanted = hash(presented);
        let generation = self.cache.generation();
        let row: Option<(Vec<u8>, String, String)> = match &self.backend {
            Backend::Sqlite(conn) => Self::sqlite(conn, |c| {
                c.query_row(
                    "SELECT k.hash, u.id, u.name FROM gateway_keys k JOIN users u ON u.id = k.user_id WHERE k.hash = ?1 AND k.revoked = 0",
                    params![wanted.to_vec()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
            })?,
            Backend::Postgres(db) => db.run(|c| {
                c.query_opt(
                    "SELECT k.hash, u.id, u.name FROM gateway_keys k JOIN gateway_users u ON u.id = k.user_id WHERE k.hash = $1 AND NOT k.revoked",
                    &[&wanted.as_slice()],
                )?
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .transpose()
            })?,
        };
        Ok(match row {
            Some((stored, id, name)) if bool::from(stored.as_slice().ct_eq(&wanted)) => {
                let user = User { id, name };
                // Not cached if a revocation was heard since the read began.
                self.cache
                    .insert_if_current(wanted, user.clone(), generation);
                Some(user)
            }
            _ => None,
        })
    }

    /// A cache hit for `presented`, without touching the database.
    pub fn cached(&self, presented: &str) -> Option<User> {
        self.cache.get(&hash(presented))
    }

    /// The authentication cache (emptied or turned off by the change feed).
    pub(crate) fn cache(&self) -> &BoundedCache<[u8; 32], User> {
        &self.cache
    }

    /// Every row, as stored, in a stable order.
    ///
    /// # Errors
    /// Database errors.
    pub(crate) fn rows(&self) -> anyhow::Result<AccountRows> {
        match &self.backend {
            Backend::Sqlite(conn) => Self::sqlite(conn, |c| {
                let users = c
                    .prepare("SELECT id, name, created_at FROM users ORDER BY id")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<_, _>>()?;
                let keys = c
                    .prepare("SELECT hash, prefix, user_id, created_at, revoked FROM gateway_keys ORDER BY hash")?
                    .query_map([], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?
                    .collect::<Result<_, _>>()?;
                Ok(AccountRows { users, keys })
            }),
            Backend::Postgres(db) => db.run(|c| {
                let users = c
                    .query("SELECT id, name, created_at FROM gateway_users ORDER BY id", &[])?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect::<Result<_, byok_pg::postgres::Error>>()?;
                let keys = c
                    .query(
                        "SELECT hash, prefix, user_id, created_at, revoked FROM gateway_keys ORDER BY hash",
                        &[],
                    )?
                    .iter()
                    .map(|r| {
                        Ok((
                            r.try_get(0)?,
                            r.try_get(1)?,
                            r.try_get(2)?,
                            r.try_get(3)?,
                            r.try_get(4)?,
                        ))
                    })
                    .collect::<Result<_, byok_pg::postgres::Error>>()?;
                Ok(AccountRows { users, keys })
            }),
        }
    }

    /// Writes `rows` into this (PostgreSQL) database in one transaction,
    /// refused unless it holds no user and no key.
    ///
    /// # Errors
    /// A SQLite target, a non-empty target, database errors (nothing is
    /// written then).
    pub(crate) fn load_rows(&self, rows: &AccountRows) -> anyhow::Result<()> {
        let Backend::Postgres(db) = &self.backend else {
            anyhow::bail!("accounts are copied into PostgreSQL only");
        };
        let copied = db.run(|c| {
            let mut tx = c.transaction()?;
            let held: i64 = tx
                .query_one(
                    "SELECT (SELECT count(*) FROM gateway_users) + (SELECT count(*) FROM gateway_keys)",
                    &[],
                )?
                .try_get(0)?;
            if held > 0 {
                return Ok(false);
            }
            for (id, name, at) in &rows.users {
                tx.execute(
                    "INSERT INTO gateway_users (id, name, created_at) VALUES ($1, $2, $3)",
                    &[id, name, at],
                )?;
            }
            for (digest, prefix, user, at, revoked) in &rows.keys {
                tx.execute(
                    "INSERT INTO gateway_keys (hash, prefix, user_id, created_at, revoked) VALUES ($1, $2, $3, $4, $5)",
                    &[digest, prefix, user, at, revoked],
                )?;
            }
            tx.commit()?;
            Ok(true)
        })?;
        anyhow::ensure!(
            copied,
            "the target database already holds users or gateway keys: refusing to copy into it"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::shared::testing::shared_dbs;

    /// The behaviour both backends share.
    fn check(a: &Accounts) {
        let (u, key) = a.create_user("alice").unwrap();
        let k = key.expose_secret();
        assert!(k.starts_with(KEY_PREFIX) && k.len() == KEY_PREFIX.len() + 48);
        assert_eq!(a.authenticate(k).unwrap(), Some(u.clone()));
        let mut wrong = k.to_owned();
        wrong.pop();
        wrong.push('x');
        for bad in [wrong.as_str(), "", &k[..10], "byok_", "Bearer x"] {
            assert_eq!(a.authenticate(bad).unwrap(), None);
        }
        for bad in ["", "   ", "a\nb"] {
            assert!(a.create_user(bad).is_err(), "{bad:?}");
        }
        let (prefix, second) = a.create_key(&u.id).unwrap();
        let second = second.expose_secret();
        assert_eq!(a.authenticate(second).unwrap(), Some(u.clone()));
        assert_eq!(a.cached(second), Some(u.clone()));
        let listed = a.list_keys(&u.id).unwrap();
        assert_eq!(listed.len(), 2);
        assert!(
            listed
                .iter()
                .any(|(p, _, revoked)| *p == prefix && !revoked)
        );
        assert_eq!(a.revoke_key(&u.id, &prefix).unwrap(), 1);
        assert_eq!(a.revoke_key(&u.id, &prefix).unwrap(), 0, "revoked once");
        assert_eq!(
            a.revoke_key("usr_other", &k[..11]).unwrap(),
            0,
            "not another user's"
        );
        assert_eq!(a.cached(second), None, "the cache forgot it");
        assert_eq!(a.authenticate(second).unwrap(), None);
        assert_eq!(
            a.authenticate(k).unwrap(),
            Some(u.clone()),
            "the other key works"
        );
        assert!(a.user_exists(&u.id).unwrap());
        assert!(!a.user_exists("usr_nobody").unwrap());
        let rows = a.rows().unwrap();
        assert_eq!(
            rows.users,
            [(u.id.clone(), u.name.clone(), rows.users[0].2)]
        );
        assert_eq!(rows.keys.iter().filter(|k| k.4).count(), 1, "one revoked");
        assert!(
            !format!("{rows:?}").contains(&k[KEY_PREFIX.len() + 6..]),
            "no key material beyond the shown prefix"
        );
    }

    #[test]
    fn sqlite_keys_are_random_hashed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let a = Accounts::open(&dir.path().join("a.db")).unwrap();
        check(&a);
        let (_, key) = a.create_user("bob").unwrap();
        let k = key.expose_secret();
        let raw = std::fs::read(dir.path().join("a.db")).unwrap();
        assert!(
            !raw.windows(k.len()).any(|w| w == k.as_bytes()),
            "the key itself is never stored"
        );
    }

    #[test]
    fn postgres_keys_are_random_hashed_and_checked() {
        let Some((dbs, _schema)) = shared_dbs("accounts", 1) else {
            return;
        };
        check(&Accounts::postgres(Arc::clone(&dbs[0])));
    }

    #[test]
    fn rows_copy_into_an_empty_postgres_once() {
        let Some((dbs, _schema)) = shared_dbs("accounts_copy", 1) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let from = Accounts::open(&dir.path().join("a.db")).unwrap();
        let (u, key) = from.create_user("carol").unwrap();
        let (prefix, _) = from.create_key(&u.id).unwrap();
        from.revoke_key(&u.id, &prefix).unwrap();
        let rows = from.rows().unwrap();
        let to = Accounts::postgres(Arc::clone(&dbs[0]));
        to.load_rows(&rows).unwrap();
        assert_eq!(to.rows().unwrap(), rows, "every row as stored");
        assert_eq!(to.authenticate(key.expose_secret()).unwrap(), Some(u));
        let again = to.load_rows(&rows).unwrap_err();
        assert!(format!("{again}").contains("already holds"), "{again}");
        assert_eq!(to.rows().unwrap(), rows, "a refused copy changes nothing");
        assert!(from.load_rows(&rows).is_err(), "into PostgreSQL only");
    }
}
