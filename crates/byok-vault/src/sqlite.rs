//! The embedded default store: SQLite through `rusqlite` (bundled SQLite).
//!
//! Durability settings (security.md item 14): WAL journal,
//! `synchronous=FULL` (a write is on disk when `put` returns),
//! `foreign_keys=ON`, a busy timeout, and `BEGIN IMMEDIATE` for every write
//! transaction, so concurrent writers queue instead of failing. A busy error
//! that survives the timeout is retried until a deadline; only then does the
//! caller see [`StoreError::Busy`].

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use crate::error::{Context, StoreError};
use crate::store::{
    COUNT_CONTENTS, RecordPages, RewrapStep, Rewrapped, SecretRecord, SecretStore, StoredKey,
    StoredKeyring, check_canary, check_empty, check_same_key_ids, import_pages, rewrap_rows,
};

const SCHEMA_VERSION: i64 = 1;

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS vault_meta (
    k TEXT PRIMARY KEY NOT NULL,
    v BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS vault_keys (
    key_id     INTEGER PRIMARY KEY NOT NULL CHECK (key_id > 0 AND key_id <= 4294967295),
    wrapped    BLOB NOT NULL,
    active     INTEGER NOT NULL CHECK (active IN (0, 1)),
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS vault_keys_one_active ON vault_keys(active) WHERE active = 1;
CREATE TABLE IF NOT EXISTS vault_secrets (
    owner      TEXT NOT NULL,
    name       TEXT NOT NULL,
    secret_id  TEXT NOT NULL UNIQUE,
    key_id     INTEGER NOT NULL REFERENCES vault_keys(key_id),
    blob       BLOB NOT NULL,
    metadata   TEXT,
    hint       TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (owner, name)
);
CREATE INDEX IF NOT EXISTS vault_secrets_key_id ON vault_secrets(key_id);
";

/// Settings for [`SqliteStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// How long one statement waits for another writer's lock (SQLite's
    /// `busy_timeout`). Default 5 s.
    pub busy_timeout: Duration,
    /// How long busy errors are retried in total before
    /// [`StoreError::Busy`] reaches the caller. Default 30 s.
    pub busy_deadline: Duration,
    /// Idle connections kept for reuse. Default 4.
    pub max_idle_connections: usize,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            busy_deadline: Duration::from_secs(30),
            max_idle_connections: 4,
        }
    }
}

/// A [`SecretStore`] in one SQLite database file.
///
/// Its tables are prefixed `vault_`, so an application may keep its own
/// tables in the same file. The file is created with mode `0600`.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    config: SqliteConfig,
    idle: Mutex<Vec<Connection>>,
}

fn backend(what: &'static str, e: rusqlite::Error) -> StoreError {
    if is_busy(&e) {
        return StoreError::Busy;
    }
    StoreError::Backend(Box::new(Context {
        what,
        source: Box::new(e),
    }))
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// An error inside a transaction: either SQLite's or a decision of ours.
enum TxError {
    Sql(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for TxError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

fn key_id_from_sql(v: i64) -> Result<u32, TxError> {
    u32::try_from(v)
        .map_err(|_| TxError::Store(StoreError::Corrupt(format!("key id {v} out of range"))))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with default settings.
    ///
    /// # Errors
    /// Backend errors; [`StoreError::Corrupt`] if the schema is from a newer
    /// version.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteConfig::default())
    }

    /// Opens (creating if needed) the database at `path`.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_with(path: impl AsRef<Path>, config: SqliteConfig) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        create_private_file(&path)?;
        let store = Self {
            path,
            config,
            idle: Mutex::new(Vec::new()),
        };
        store.write_tx("migrate", |tx| {
            let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if version > SCHEMA_VERSION {
                return Err(TxError::Store(StoreError::Corrupt(format!(
                    "vault schema version {version} is newer than this build ({SCHEMA_VERSION})"
                ))));
            }
            if version < 1 {
                tx.execute_batch(SCHEMA_V1)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            }
            Ok(())
        })?;
        Ok(store)
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connect(&self) -> Result<Connection, rusqlite::Error> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(self.config.busy_timeout)?;
        // journal_mode returns a row; pragma_update_and_check reads it.
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection, retrying busy errors until the deadline.
    fn with_conn<T>(
        &self,
        what: &'static str,
        mut f: impl FnMut(&mut Connection) -> Result<T, TxError>,
    ) -> Result<T, StoreError> {
        let deadline = Instant::now() + self.config.busy_deadline;
        let mut backoff = Duration::from_millis(2);
        loop {
            let pooled = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => match self.connect() {
                    Ok(c) => c,
                    Err(e) if is_busy(&e) && Instant::now() < deadline => {
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_millis(100));
                        continue;
                    }
                    Err(e) => return Err(backend(what, e)),
                },
            };
            let result = f(&mut conn);
            {
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                if idle.len() < self.config.max_idle_connections {
                    idle.push(conn);
                }
            }
            match result {
                Ok(v) => return Ok(v),
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Sql(e)) if is_busy(&e) && Instant::now() < deadline => {
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(100));
                }
                Err(TxError::Sql(e)) => return Err(backend(what, e)),
            }
        }
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction and commits it.
    fn write_tx<T>(
        &self,
        what: &'static str,
        mut f: impl FnMut(&rusqlite::Transaction<'_>) -> Result<T, TxError>,
    ) -> Result<T, StoreError> {
        self.with_conn(what, |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })
    }

    /// Runs `f` in a read transaction (one consistent snapshot).
    fn read_tx<T>(
        &self,
        what: &'static str,
        mut f: impl FnMut(&rusqlite::Transaction<'_>) -> Result<T, TxError>,
    ) -> Result<T, StoreError> {
        self.with_conn(what, |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let value = f(&tx)?;
            tx.finish()?;
            Ok(value)
        })
    }
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| {
            StoreError::Backend(Box::new(Context {
                what: "create database file",
                source: Box::new(e),
            }))
        })
}

#[cfg(not(unix))]
fn create_private_file(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

const RECORD_COLUMNS: &str =
    "owner, name, secret_id, key_id, blob, metadata, hint, created_at, updated_at";

fn read_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<(SecretRecord, i64)> {
    let key_id: i64 = row.get(3)?;
    Ok((
        SecretRecord {
            owner: row.get(0)?,
            name: row.get(1)?,
            secret_id: row.get(2)?,
            // Out-of-range ids cannot be stored (CHECK on vault_keys + FK);
            // map a corrupt value to 0, which never names a key.
            key_id: u32::try_from(key_id).unwrap_or(0),
            blob: row.get(4)?,
            metadata: row.get(5)?,
            hint: row.get(6)?,
            created_at_ms: row.get(7)?,
            updated_at_ms: row.get(8)?,
        },
        key_id,
    ))
}

impl SecretStore for SqliteStore {
    fn load_keyring(&self) -> Result<Option<StoredKeyring>, StoreError> {
        self.read_tx("load keyring", load_keyring_tx)
    }

    fn init_keyring(&self, init: &StoredKeyring) -> Result<StoredKeyring, StoreError> {
        self.write_tx("init keyring", |tx| {
            if let Some(existing) = load_keyring_tx(tx)? {
                return Ok(existing);
            }
            insert_keyring(tx, init)?;
            Ok(init.clone())
        })
    }

    fn add_active_key(&self, key: &StoredKey, canary: &[u8]) -> Result<(), StoreError> {
        self.write_tx("add key", |tx| {
            check_canary_tx(tx, canary)?;
            let max: Option<i64> =
                tx.query_row("SELECT max(key_id) FROM vault_keys", [], |r| r.get(0))?;
            if max.is_some_and(|m| m >= i64::from(key.key_id)) {
                return Err(TxError::Store(StoreError::Conflict));
            }
            tx.execute("UPDATE vault_keys SET active = 0 WHERE active = 1", [])?;
            tx.execute(
                "INSERT INTO vault_keys (key_id, wrapped, active, created_at) VALUES (?1, ?2, 1, ?3)",
                params![key.key_id, key.wrapped, key.created_at_ms],
            )?;
            Ok(())
        })
    }

    fn retire_key(&self, key_id: u32) -> Result<(), StoreError> {
        self.write_tx("retire key", |tx| {
            let active: Option<bool> = tx
                .query_row(
                    "SELECT active FROM vault_keys WHERE key_id = ?1",
                    params![key_id],
                    |r| r.get(0),
                )
                .optional()?;
            match active {
                None => return Err(TxError::Store(StoreError::MissingKey(key_id))),
                Some(true) => return Err(TxError::Store(StoreError::KeyActive(key_id))),
                Some(false) => {}
            }
            let rows: i64 = tx.query_row(
                "SELECT count(*) FROM vault_secrets WHERE key_id = ?1",
                params![key_id],
                |r| r.get(0),
            )?;
            if rows > 0 {
                return Err(TxError::Store(StoreError::KeyInUse {
                    key_id,
                    rows: u64::try_from(rows).unwrap_or(u64::MAX),
                }));
            }
            tx.execute("DELETE FROM vault_keys WHERE key_id = ?1", params![key_id])?;
            Ok(())
        })
    }

    fn replace_wrapping(
        &self,
        old_canary: &[u8],
        canary: &[u8],
        keys: &[StoredKey],
    ) -> Result<(), StoreError> {
        self.write_tx("replace wrapping", |tx| {
            check_canary_tx(tx, old_canary)?;
            let stored: Vec<i64> = {
                let mut stmt = tx.prepare("SELECT key_id FROM vault_keys ORDER BY key_id")?;
                stmt.query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?
            };
            check_same_key_ids(stored, keys).map_err(TxError::Store)?;
            for key in keys {
                tx.execute(
                    "UPDATE vault_keys SET wrapped = ?1 WHERE key_id = ?2",
                    params![key.wrapped, key.key_id],
                )?;
            }
            let n = tx.execute(
                "UPDATE vault_meta SET v = ?1 WHERE k = 'canary'",
                params![canary],
            )?;
            if n != 1 {
                return Err(TxError::Store(StoreError::Corrupt(
                    "canary row missing".into(),
                )));
            }
            Ok(())
        })
    }

    fn get(&self, owner: &str, name: &str) -> Result<Option<SecretRecord>, StoreError> {
        self.with_conn("get secret", |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM vault_secrets WHERE owner = ?1 AND name = ?2"
            ))?;
            Ok(stmt
                .query_row(params![owner, name], read_record)
                .optional()?
                .map(|(rec, _)| rec))
        })
    }

    fn put(&self, record: &SecretRecord) -> Result<i64, StoreError> {
        self.write_tx("put secret", |tx| {
            let known: Option<i64> = tx
                .query_row(
                    "SELECT key_id FROM vault_keys WHERE key_id = ?1",
                    params![record.key_id],
                    |r| r.get(0),
                )
                .optional()?;
            if known.is_none() {
                return Err(TxError::Store(StoreError::MissingKey(record.key_id)));
            }
            let created: i64 = tx.query_row(
                &format!(
                    "INSERT INTO vault_secrets ({RECORD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (owner, name) DO UPDATE SET
                        secret_id = excluded.secret_id, key_id = excluded.key_id, blob = excluded.blob,
                        metadata = excluded.metadata, hint = excluded.hint, updated_at = excluded.updated_at
                     RETURNING created_at"
                ),
                params![
                    record.owner,
                    record.name,
                    record.secret_id,
                    record.key_id,
                    record.blob,
                    record.metadata,
                    record.hint,
                    record.created_at_ms,
                    record.updated_at_ms
                ],
                |r| r.get(0),
            )?;
            Ok(created)
        })
    }

    fn delete(&self, owner: &str, name: &str) -> Result<bool, StoreError> {
        self.write_tx("delete secret", |tx| {
            let n = tx.execute(
                "DELETE FROM vault_secrets WHERE owner = ?1 AND name = ?2",
                params![owner, name],
            )?;
            Ok(n > 0)
        })
    }

    fn list(&self, owner: &str) -> Result<Vec<SecretRecord>, StoreError> {
        self.with_conn("list secrets", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT owner, name, secret_id, key_id, x'', metadata, hint, created_at, updated_at
                 FROM vault_secrets WHERE owner = ?1 ORDER BY name",
            )?;
            let rows = stmt
                .query_map(params![owner], |r| read_record(r).map(|(rec, _)| rec))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    fn scan(
        &self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<SecretRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (owner, name) = after.unzip();
        // Text compares as bytes (BINARY, the columns' collation). Two
        // statements, so that each walks the primary key from where it
        // starts (an `OR` would scan it from the first row every time).
        let from = if after.is_some() {
            "(owner, name) > (?1, ?2)"
        } else {
            "?1 IS NULL"
        };
        self.with_conn("scan secrets", |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM vault_secrets
                 WHERE {from} ORDER BY owner, name LIMIT ?3"
            ))?;
            let rows = stmt
                .query_map(params![owner, name, limit], |r| {
                    read_record(r).map(|(rec, _)| rec)
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    fn import(
        &self,
        keyring: &StoredKeyring,
        pages: &mut RecordPages<'_>,
    ) -> Result<u64, StoreError> {
        self.write_tx("import", |tx| {
            let (canary, keys, secrets) = tx.query_row(COUNT_CONTENTS, [], |r| {
                Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?))
            })?;
            check_empty(canary > 0, keys, secrets)?;
            insert_keyring(tx, keyring)?;
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO vault_secrets ({RECORD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))?;
            import_pages(keyring, pages, |r| {
                insert
                    .execute(params![
                        r.owner,
                        r.name,
                        r.secret_id,
                        r.key_id,
                        r.blob,
                        r.metadata,
                        r.hint,
                        r.created_at_ms,
                        r.updated_at_ms
                    ])
                    .map(drop)
                    .map_err(TxError::Sql)
            })
        })
    }

    fn count_by_key(&self) -> Result<Vec<(u32, u64)>, StoreError> {
        self.with_conn("count by key", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT key_id, count(*) FROM vault_secrets GROUP BY key_id ORDER BY key_id",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(k, n)| Ok((key_id_from_sql(k)?, u64::try_from(n).unwrap_or(0))))
                .collect()
        })
    }

    fn rewrap_step(
        &self,
        target_key_id: u32,
        after: i64,
        limit: usize,
        rewrap: &mut dyn FnMut(&SecretRecord) -> Rewrapped,
    ) -> Result<RewrapStep, StoreError> {
        let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        self.write_tx("rewrap", |tx| {
            let batch: Vec<(i64, SecretRecord)> = {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {RECORD_COLUMNS}, rowid FROM vault_secrets
                     WHERE key_id != ?1 AND rowid > ?2 ORDER BY rowid LIMIT ?3"
                ))?;
                stmt.query_map(params![target_key_id, after, limit], |r| {
                    let (rec, _) = read_record(r)?;
                    Ok((r.get::<_, i64>(9)?, rec))
                })?
                .collect::<Result<_, _>>()?
            };
            let mut update = tx.prepare_cached(
                "UPDATE vault_secrets SET key_id = ?1, blob = ?2 WHERE rowid = ?3",
            )?;
            Ok(rewrap_rows(
                &batch,
                after,
                rewrap,
                |rowid, key_id, blob| update.execute(params![key_id, blob, rowid]).map(drop),
            )?)
        })
    }
}

/// Stores a keyring as given: its canary and every key.
fn insert_keyring(tx: &rusqlite::Transaction<'_>, keyring: &StoredKeyring) -> Result<(), TxError> {
    tx.execute(
        "INSERT INTO vault_meta (k, v) VALUES ('canary', ?1)",
        params![keyring.canary],
    )?;
    for key in &keyring.keys {
        tx.execute(
            "INSERT INTO vault_keys (key_id, wrapped, active, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![key.key_id, key.wrapped, key.active, key.created_at_ms],
        )?;
    }
    Ok(())
}

/// Fails with [`StoreError::Conflict`] unless the stored canary is `expected`
/// (the master key was not changed since the caller read the keyring).
fn check_canary_tx(tx: &rusqlite::Transaction<'_>, expected: &[u8]) -> Result<(), TxError> {
    let canary: Option<Vec<u8>> = tx
        .query_row("SELECT v FROM vault_meta WHERE k = 'canary'", [], |r| {
            r.get(0)
        })
        .optional()?;
    check_canary(canary.as_deref(), expected).map_err(TxError::Store)
}

fn load_keyring_tx(tx: &rusqlite::Transaction<'_>) -> Result<Option<StoredKeyring>, TxError> {
    let canary: Option<Vec<u8>> = tx
        .query_row("SELECT v FROM vault_meta WHERE k = 'canary'", [], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(canary) = canary else {
        return Ok(None);
    };
    let mut stmt = tx.prepare_cached(
        "SELECT key_id, wrapped, active, created_at FROM vault_keys ORDER BY key_id",
    )?;
    let raw = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let keys = raw
        .into_iter()
        .map(|(id, wrapped, active, created_at_ms)| {
            Ok(StoredKey {
                key_id: key_id_from_sql(id)?,
                wrapped,
                active,
                created_at_ms,
            })
        })
        .collect::<Result<Vec<_>, TxError>>()?;
    Ok(Some(StoredKeyring { canary, keys }))
}
