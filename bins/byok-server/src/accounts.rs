//! Users and gateway keys.
//!
//! A gateway key is `byok_` + 48 hex characters: 24 random bytes (192 bits)
//! from the OS, shown once. Only its SHA-256 is
//! stored; authentication looks the hash up, then compares the full hash in
//! constant time (`subtle`). Unknown, malformed and missing keys all give
//! the same answer.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::cache::BoundedCache;

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

/// The accounts database, with an in-memory cache of authenticated keys
/// (by SHA-256) so the request path does not touch SQLite after a key's
/// first use.
#[derive(Debug)]
pub struct Accounts {
    conn: Mutex<Connection>,
    cache: BoundedCache<[u8; 32], User>,
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

impl Accounts {
    /// Opens (creating) the accounts database.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS users (
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
            );",
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
            cache: BoundedCache::default(),
        })
    }

    /// Creates a user and their first key; the key is returned once.
    ///
    /// # Errors
    /// Name rules, RNG or SQLite errors.
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
        let key = SecretString::from(format!("{KEY_PREFIX}{}", random_hex(24)?));
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = byok_billing::now_ms();
        tx.execute(
            "INSERT INTO users (id, name, created_at) VALUES (?1, ?2, ?3)",
            params![user.id, user.name, now],
        )?;
        tx.execute(
            "INSERT INTO gateway_keys (hash, prefix, user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![
                hash(key.expose_secret()).to_vec(),
                &key.expose_secret()[..KEY_PREFIX.len() + 6],
                user.id,
                now
            ],
        )?;
        tx.commit()?;
        Ok((user, key))
    }

    /// Adds another key for `user_id`; returned once.
    ///
    /// # Errors
    /// RNG or SQLite errors.
    pub fn create_key(&self, user_id: &str) -> anyhow::Result<(String, SecretString)> {
        let key = SecretString::from(format!("{KEY_PREFIX}{}", random_hex(24)?));
        let prefix = key.expose_secret()[..KEY_PREFIX.len() + 6].to_owned();
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.execute(
            "INSERT INTO gateway_keys (hash, prefix, user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![
                hash(key.expose_secret()).to_vec(),
                prefix,
                user_id,
                byok_billing::now_ms()
            ],
        )?;
        Ok((prefix, key))
    }

    /// The user's keys: `(prefix, created_at_ms, revoked)`, oldest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn list_keys(&self, user_id: &str) -> anyhow::Result<Vec<(String, i64, bool)>> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn.prepare("SELECT prefix, created_at, revoked FROM gateway_keys WHERE user_id = ?1 ORDER BY created_at, prefix")?;
        let rows = stmt
            .query_map(params![user_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Revokes the user's keys with this prefix; returns how many. The
    /// authentication cache is cleared so the key stops working at once.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn revoke_key(&self, user_id: &str, prefix: &str) -> anyhow::Result<usize> {
        let n = {
            let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
            conn.execute(
                "UPDATE gateway_keys SET revoked = 1 WHERE user_id = ?1 AND prefix = ?2 AND revoked = 0",
                params![user_id, prefix],
            )?
        };
        self.cache.clear();
        Ok(n)
    }

    /// Whether the user exists.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn user_exists(&self, id: &str) -> anyhow::Result<bool> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(conn
            .query_row("SELECT 1 FROM users WHERE id = ?1", params![id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The user a presented key belongs to, or `None` (for every kind of
    /// wrong key alike).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn authenticate(&self, presented: &str) -> anyhow::Result<Option<User>> {
        let wanted = hash(presented);
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let row: Option<(Vec<u8>, String, String)> = conn
            .query_row(
                "SELECT k.hash, u.id, u.name FROM gateway_keys k JOIN users u ON u.id = k.user_id WHERE k.hash = ?1 AND k.revoked = 0",
                params![wanted.to_vec()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(match row {
            Some((stored, id, name)) if bool::from(stored.as_slice().ct_eq(&wanted)) => {
                let user = User { id, name };
                self.cache.insert(wanted, user.clone());
                Some(user)
            }
            _ => None,
        })
    }

    /// A cache hit for `presented`, without touching SQLite.
    pub fn cached(&self, presented: &str) -> Option<User> {
        self.cache.get(&hash(presented))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_hashed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let a = Accounts::open(&dir.path().join("a.db")).unwrap();
        let (u, key) = a.create_user("alice").unwrap();
        let k = key.expose_secret();
        assert!(k.starts_with(KEY_PREFIX) && k.len() == KEY_PREFIX.len() + 48);
        assert_eq!(a.authenticate(k).unwrap(), Some(u));
        let mut wrong = k.to_owned();
        wrong.pop();
        wrong.push('x');
        for bad in [wrong.as_str(), "", &k[..10], "byok_", "Bearer x"] {
            assert_eq!(a.authenticate(bad).unwrap(), None);
        }
        let raw = std::fs::read(dir.path().join("a.db")).unwrap();
        assert!(
            !raw.windows(k.len()).any(|w| w == k.as_bytes()),
            "the key itself is never stored"
        );
    }
}
