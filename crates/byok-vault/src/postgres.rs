//! The shared store for several gateway instances: PostgreSQL through the
//! synchronous `postgres` client (feature `postgres`).
//!
//! # Concurrency
//!
//! SQLite serialises writers with `BEGIN IMMEDIATE`; PostgreSQL does not, so
//! each method takes the row locks its invariant needs (READ COMMITTED):
//!
//! - Keyring changes (`add_active_key`, `retire_key`, `replace_wrapping`) lock
//!   the canary row `FOR UPDATE` (the *keyring lock*) and compare the canary
//!   with the one the caller unwrapped (a master-key change in between is a
//!   [`StoreError::Conflict`]).
//! - `put` and `rewrap_step` lock the key row they write under `FOR KEY SHARE`;
//!   `retire_key` locks it `FOR UPDATE` before counting its secrets, so a
//!   write under a key and its retirement never both succeed.
//! - `rewrap_step` locks the rows of its batch `FOR UPDATE`, so a concurrent
//!   `put` of the same secret is never overwritten by an older re-encryption.
//! - `load_keyring` reads the canary and the keys in one REPEATABLE READ
//!   snapshot (never half of a master-key change).
//!
//! Serialization failures, deadlocks and lock timeouts are retried (with
//! backoff) until [`PostgresConfig::retry_deadline`]; only then does the caller
//! see [`StoreError::Busy`].
//!
//! # Plumbing
//!
//! The connections, the migrations and the reading of errors are
//! `byok_pg`'s, as for the other PostgreSQL stores: a `byok_pg::Pool` of
//! this store's connections (no bound on open ones, at most
//! [`PostgresConfig::max_idle_connections`] kept, one idle longer than
//! [`PostgresConfig::idle_check_after`] checked before reuse),
//! `byok_pg::migrate_in` (the shared `schema_migrations` table and advisory
//! lock).
//!
//! # Blocking
//!
//! The client blocks the calling thread (it drives its own small runtime), so
//! calling it on an async executor's worker is refused with a backend error
//! instead of a panic; run it on a plain thread ([`crate::AsyncVault`] does).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use byok_pg::{MigrateError, Pool};
use postgres::error::SqlState;
use postgres::{Client, GenericClient, IsolationLevel, Statement};

use crate::error::{Context, StoreError};
use crate::store::{
    COUNT_CONTENTS, RecordPages, RewrapStep, Rewrapped, SecretRecord, SecretStore, StoredKey,
    StoredKeyring, check_canary, check_empty, check_same_key_ids, import_pages, rewrap_rows,
};

/// The name this crate's rows carry in the shared `schema_migrations` table.
pub const MIGRATION_COMPONENT: &str = "byok-vault";

/// Versioned migrations, applied in order at open; never edit a released one.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "
CREATE TABLE vault_meta (
    k TEXT PRIMARY KEY,
    v BYTEA NOT NULL
);
CREATE TABLE vault_keys (
    key_id     BIGINT PRIMARY KEY CHECK (key_id > 0 AND key_id <= 4294967295),
    wrapped    BYTEA NOT NULL,
    active     BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX vault_keys_one_active ON vault_keys (active) WHERE active;
CREATE TABLE vault_secrets (
    id         BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    owner      TEXT NOT NULL,
    name       TEXT NOT NULL,
    secret_id  TEXT NOT NULL UNIQUE,
    key_id     BIGINT NOT NULL REFERENCES vault_keys (key_id),
    blob       BYTEA NOT NULL,
    metadata   TEXT,
    hint       TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (owner, name)
);
CREATE INDEX vault_secrets_key_id ON vault_secrets (key_id);
",
)];

const SELECT_RECORD: &str =
    "SELECT owner, name, secret_id, key_id, blob, metadata, hint, created_at, updated_at
     FROM vault_secrets WHERE owner = $1 AND name = $2";
/// Text compared as bytes (`COLLATE "C"`), the order of every backend.
const SCAN_RECORDS: &str = r#"SELECT owner, name, secret_id, key_id, blob, metadata, hint, created_at, updated_at
     FROM vault_secrets
     WHERE $1::text IS NULL OR (owner COLLATE "C", name COLLATE "C") > ($1, $2)
     ORDER BY owner COLLATE "C", name COLLATE "C" LIMIT $3"#;
const IMPORT_RECORD: &str = "INSERT INTO vault_secrets
     (owner, name, secret_id, key_id, blob, metadata, hint, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const LIST_RECORDS: &str =
    "SELECT owner, name, secret_id, key_id, ''::bytea, metadata, hint, created_at, updated_at
     FROM vault_secrets WHERE owner = $1 ORDER BY name";
/// One statement: the key row is locked against retirement, and no row is
/// written (so none is returned) when the key is gone.
const UPSERT_RECORD: &str = "WITH k AS (SELECT key_id FROM vault_keys WHERE key_id = $4 FOR KEY SHARE)
     INSERT INTO vault_secrets (owner, name, secret_id, key_id, blob, metadata, hint, created_at, updated_at)
     SELECT $1, $2, $3, k.key_id, $5, $6, $7, $8, $9 FROM k
     ON CONFLICT (owner, name) DO UPDATE SET
        secret_id = excluded.secret_id, key_id = excluded.key_id, blob = excluded.blob,
        metadata = excluded.metadata, hint = excluded.hint, updated_at = excluded.updated_at
     RETURNING created_at";
const DELETE_RECORD: &str = "DELETE FROM vault_secrets WHERE owner = $1 AND name = $2";
const COUNT_BY_KEY: &str =
    "SELECT key_id, count(*) FROM vault_secrets GROUP BY key_id ORDER BY key_id";
const LOCK_KEY_SHARED: &str = "SELECT 1 FROM vault_keys WHERE key_id = $1 FOR KEY SHARE";
const REWRAP_BATCH: &str =
    "SELECT owner, name, secret_id, key_id, blob, metadata, hint, created_at, updated_at, id
     FROM vault_secrets WHERE key_id <> $1 AND id > $2 ORDER BY id LIMIT $3 FOR UPDATE";
const REWRAP_LEFT: &str =
    "SELECT EXISTS (SELECT 1 FROM vault_secrets WHERE key_id <> $1 AND id > $2)";
const REWRAP_UPDATE: &str = "UPDATE vault_secrets SET key_id = $1, blob = $2 WHERE id = $3";
const LOCK_KEYRING: &str = "SELECT v FROM vault_meta WHERE k = 'canary' FOR UPDATE";

/// Settings for [`PostgresSecretStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PostgresConfig {
    /// The schema holding the vault's tables (created if missing); `None`
    /// uses the connection's default `search_path` (normally `public`).
    /// Letters, digits and `_` only.
    pub schema: Option<String>,
    /// How long connecting may take. Default 10 s.
    pub connect_timeout: Duration,
    /// How long one statement waits for a row lock (`lock_timeout`) before
    /// the call is retried. Default 5 s.
    pub lock_timeout: Duration,
    /// How long serialization failures, deadlocks and lock timeouts are
    /// retried in total before [`StoreError::Busy`] reaches the caller.
    /// Default 30 s.
    pub retry_deadline: Duration,
    /// Idle connections kept for reuse. Default 4.
    pub max_idle_connections: usize,
    /// An idle connection older than this is checked before reuse (a
    /// restarted server or a proxy may have closed it). Default 30 s.
    pub idle_check_after: Duration,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            schema: None,
            connect_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(5),
            retry_deadline: Duration::from_secs(30),
            max_idle_connections: 4,
            idle_check_after: Duration::from_secs(30),
        }
    }
}

impl PostgresConfig {
    /// Sets [`PostgresConfig::schema`].
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Sets [`PostgresConfig::retry_deadline`].
    #[must_use]
    pub fn retry_deadline(mut self, deadline: Duration) -> Self {
        self.retry_deadline = deadline;
        self
    }

    /// Sets [`PostgresConfig::max_idle_connections`].
    #[must_use]
    pub fn max_idle_connections(mut self, n: usize) -> Self {
        self.max_idle_connections = n;
        self
    }
}

/// A pooled connection with its prepared statements (each prepared on
/// its first use, once per connection).
struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl byok_pg::Connection for Conn {
    fn new(client: Client) -> Result<Self, postgres::Error> {
        Ok(Self {
            client,
            statements: HashMap::new(),
        })
    }

    fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// A [`SecretStore`] in a PostgreSQL database, shared by any number of
/// processes.
///
/// Its tables are prefixed `vault_`; its migrations are recorded in the
/// `schema_migrations` table under [`MIGRATION_COMPONENT`]. Connections are
/// kept in a small idle list (the vault's callers, e.g. the
/// [`crate::AsyncVault`] worker threads, bound how many are in use at once);
/// dropping the store closes them on a thread of their own (a synchronous
/// client blocks when dropped, which panics on an async runtime's thread).
pub struct PostgresSecretStore {
    pool: Pool<Conn>,
    settings: PostgresConfig,
}

impl std::fmt::Debug for PostgresSecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection config may hold a password: print only where it goes.
        let config = self.pool.config();
        f.debug_struct("PostgresSecretStore")
            .field("hosts", &config.get_hosts())
            .field("dbname", &config.get_dbname())
            .field("schema", &self.settings.schema)
            .finish_non_exhaustive()
    }
}

/// An error inside a transaction: either PostgreSQL's or a decision of ours.
enum TxError {
    Pg(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for TxError {
    fn from(e: postgres::Error) -> Self {
        Self::Pg(e)
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

fn backend_msg(what: &'static str, msg: impl Into<String>) -> StoreError {
    let msg: String = msg.into();
    StoreError::Backend(Box::new(Context {
        what,
        source: msg.into(),
    }))
}

fn backend(what: &'static str, e: postgres::Error) -> StoreError {
    StoreError::Backend(Box::new(Context {
        what,
        source: Box::new(e),
    }))
}

/// Errors after which running the whole unit again is right: a conflict
/// (serialization failure, deadlock), a lock timeout, or too many
/// connections; never a lost connection (a write's outcome is unknown).
fn is_retryable(e: &postgres::Error) -> bool {
    byok_pg::is_conflict(e)
        || e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
        || e.code() == Some(&SqlState::TOO_MANY_CONNECTIONS)
}

fn key_id_from_sql(v: i64) -> Result<u32, TxError> {
    u32::try_from(v)
        .map_err(|_| TxError::Store(StoreError::Corrupt(format!("key id {v} out of range"))))
}

fn valid_schema_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

/// Prepares `sql` once per connection.
fn prepared(
    client: &mut impl GenericClient,
    cache: &mut HashMap<&'static str, Statement>,
    sql: &'static str,
) -> Result<Statement, postgres::Error> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let s = client.prepare(sql)?;
    cache.insert(sql, s.clone());
    Ok(s)
}

impl PostgresSecretStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`, or the
    /// key=value form) with default settings and runs pending migrations.
    ///
    /// # Errors
    /// Backend errors (unreachable server, bad URL, permissions);
    /// [`StoreError::Corrupt`] if the database holds migrations from a newer
    /// version of this crate.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, PostgresConfig::default())
    }

    /// Connects to `url` and runs pending migrations.
    ///
    /// # Errors
    /// As [`PostgresSecretStore::open`].
    pub fn open_with(url: &str, settings: PostgresConfig) -> Result<Self, StoreError> {
        let mut config = byok_pg::config(url, "byok-vault")
            // The parser's message never echoes the password.
            .map_err(|e| backend("parse database url", e))?;
        config.connect_timeout(settings.connect_timeout);
        let mut options = format!("-c lock_timeout={}", settings.lock_timeout.as_millis());
        if let Some(schema) = &settings.schema {
            if !valid_schema_name(schema) {
                return Err(backend_msg(
                    "configure",
                    "schema names are 1 to 63 of [a-z0-9_], not starting with a digit",
                ));
            }
            options.push_str(&format!(" -c search_path={schema}"));
        }
        if let Some(extra) = config.get_options() {
            options = format!("{extra} {options}");
        }
        config.options(&options);
        // No bound on open connections: the callers bound them.
        let pool = Pool::new(config, None, usize::MAX, None, "byok-vault-close")
            .max_idle(settings.max_idle_connections)
            .check_idle_after(settings.idle_check_after);
        let store = Self { pool, settings };
        store.migrate()?;
        Ok(store)
    }

    /// Creates the schema if configured, then applies every migration not
    /// yet recorded, all in one transaction under the advisory lock every
    /// byok store takes (so instances starting together migrate once).
    fn migrate(&self) -> Result<(), StoreError> {
        let schema = self.settings.schema.as_deref();
        self.run("migrate", |conn| {
            byok_pg::migrate_in(&mut conn.client, schema, MIGRATION_COMPONENT, MIGRATIONS).map_err(
                |e| match e {
                    MigrateError::Newer { applied, known } => {
                        TxError::Store(StoreError::Corrupt(format!(
                            "vault schema version {applied} is newer than this build (knows up to {known})"
                        )))
                    }
                    MigrateError::Db(e) => TxError::Pg(e),
                },
            )
        })
    }

    /// Runs `f` (one atomic unit) on a connection, running it again after
    /// serialization failures, deadlocks and lock timeouts until the deadline.
    fn run<T>(
        &self,
        what: &'static str,
        mut f: impl FnMut(&mut Conn) -> Result<T, TxError>,
    ) -> Result<T, StoreError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(backend_msg(
                what,
                "the PostgreSQL vault store blocks: call it off async worker threads (AsyncVault does)",
            ));
        }
        let deadline = Instant::now() + self.settings.retry_deadline;
        let mut backoff = Duration::from_millis(2);
        loop {
            let result = match self.pool.get() {
                Ok(mut lease) => {
                    let result = f(&mut lease.conn);
                    // Dropped, with the idle ones, rather than reused.
                    lease.lost = matches!(&result, Err(TxError::Pg(e)) if byok_pg::is_lost(e));
                    self.pool.put(lease);
                    result
                }
                Err(e) => Err(TxError::Pg(e)),
            };
            match result {
                Ok(v) => return Ok(v),
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Pg(e)) if is_retryable(&e) => {
                    if Instant::now() >= deadline {
                        return Err(StoreError::Busy);
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(100));
                }
                Err(TxError::Pg(e)) => return Err(backend(what, e)),
            }
        }
    }

    /// Locks the keyring and checks that its canary is still `expected`.
    fn lock_keyring(tx: &mut postgres::Transaction<'_>, expected: &[u8]) -> Result<(), TxError> {
        let canary: Option<Vec<u8>> = tx
            .query_opt(LOCK_KEYRING, &[])?
            .map(|row| row.try_get(0))
            .transpose()?;
        check_canary(canary.as_deref(), expected).map_err(TxError::Store)
    }
}

fn read_record(row: &postgres::Row) -> Result<SecretRecord, TxError> {
    Ok(SecretRecord {
        owner: row.try_get(0)?,
        name: row.try_get(1)?,
        secret_id: row.try_get(2)?,
        key_id: key_id_from_sql(row.try_get(3)?)?,
        blob: row.try_get(4)?,
        metadata: row.try_get(5)?,
        hint: row.try_get(6)?,
        created_at_ms: row.try_get(7)?,
        updated_at_ms: row.try_get(8)?,
    })
}

/// Stores keys as given.
fn insert_keys(tx: &mut postgres::Transaction<'_>, keys: &[StoredKey]) -> Result<(), TxError> {
    for key in keys {
        tx.execute(
            "INSERT INTO vault_keys (key_id, wrapped, active, created_at) VALUES ($1, $2, $3, $4)",
            &[
                &i64::from(key.key_id),
                &key.wrapped,
                &key.active,
                &key.created_at_ms,
            ],
        )?;
    }
    Ok(())
}

fn load_keyring_tx(tx: &mut postgres::Transaction<'_>) -> Result<Option<StoredKeyring>, TxError> {
    let Some(row) = tx.query_opt("SELECT v FROM vault_meta WHERE k = 'canary'", &[])? else {
        return Ok(None);
    };
    let canary: Vec<u8> = row.try_get(0)?;
    let keys = tx
        .query(
            "SELECT key_id, wrapped, active, created_at FROM vault_keys ORDER BY key_id",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok(StoredKey {
                key_id: key_id_from_sql(r.try_get(0)?)?,
                wrapped: r.try_get(1)?,
                active: r.try_get(2)?,
                created_at_ms: r.try_get(3)?,
            })
        })
        .collect::<Result<Vec<_>, TxError>>()?;
    Ok(Some(StoredKeyring { canary, keys }))
}

impl SecretStore for PostgresSecretStore {
    fn load_keyring(&self) -> Result<Option<StoredKeyring>, StoreError> {
        self.run("load keyring", |conn| {
            let mut tx = conn
                .client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let kr = load_keyring_tx(&mut tx)?;
            tx.commit()?;
            Ok(kr)
        })
    }

    fn init_keyring(&self, init: &StoredKeyring) -> Result<StoredKeyring, StoreError> {
        self.run("init keyring", |conn| {
            let mut tx = conn.client.transaction()?;
            // A concurrent initialiser's insert makes this one wait, then do nothing.
            let inserted = tx.execute(
                "INSERT INTO vault_meta (k, v) VALUES ('canary', $1) ON CONFLICT (k) DO NOTHING",
                &[&init.canary],
            )?;
            if inserted == 0 {
                // Hold the keyring lock so the keys read match the canary.
                tx.query_opt(LOCK_KEYRING, &[])?;
                let existing = load_keyring_tx(&mut tx)?.ok_or_else(|| {
                    TxError::Store(StoreError::Corrupt("keyring disappeared".into()))
                })?;
                tx.commit()?;
                return Ok(existing);
            }
            insert_keys(&mut tx, &init.keys)?;
            tx.commit()?;
            Ok(init.clone())
        })
    }

    fn add_active_key(&self, key: &StoredKey, canary: &[u8]) -> Result<(), StoreError> {
        self.run("add key", |conn| {
            let mut tx = conn.client.transaction()?;
            Self::lock_keyring(&mut tx, canary)?;
            let max: Option<i64> = tx
                .query_one("SELECT max(key_id) FROM vault_keys", &[])?
                .try_get(0)?;
            if max.is_some_and(|m| m >= i64::from(key.key_id)) {
                return Err(TxError::Store(StoreError::Conflict));
            }
            tx.execute("UPDATE vault_keys SET active = false WHERE active", &[])?;
            tx.execute(
                "INSERT INTO vault_keys (key_id, wrapped, active, created_at) VALUES ($1, $2, true, $3)",
                &[&i64::from(key.key_id), &key.wrapped, &key.created_at_ms],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn retire_key(&self, key_id: u32) -> Result<(), StoreError> {
        let id = i64::from(key_id);
        self.run("retire key", |conn| {
            let mut tx = conn.client.transaction()?;
            tx.query_opt(LOCK_KEYRING, &[])?;
            // FOR UPDATE waits for every put holding the key FOR KEY SHARE,
            // so the count below sees their rows; later puts find no key.
            let active: Option<bool> = tx
                .query_opt(
                    "SELECT active FROM vault_keys WHERE key_id = $1 FOR UPDATE",
                    &[&id],
                )?
                .map(|r| r.try_get(0))
                .transpose()?;
            match active {
                None => return Err(TxError::Store(StoreError::MissingKey(key_id))),
                Some(true) => return Err(TxError::Store(StoreError::KeyActive(key_id))),
                Some(false) => {}
            }
            let rows: i64 = tx
                .query_one(
                    "SELECT count(*) FROM vault_secrets WHERE key_id = $1",
                    &[&id],
                )?
                .try_get(0)?;
            if rows > 0 {
                return Err(TxError::Store(StoreError::KeyInUse {
                    key_id,
                    rows: u64::try_from(rows).unwrap_or(u64::MAX),
                }));
            }
            tx.execute("DELETE FROM vault_keys WHERE key_id = $1", &[&id])?;
            tx.commit()?;
            Ok(())
        })
    }

    fn replace_wrapping(
        &self,
        old_canary: &[u8],
        canary: &[u8],
        keys: &[StoredKey],
    ) -> Result<(), StoreError> {
        self.run("replace wrapping", |conn| {
            let mut tx = conn.client.transaction()?;
            Self::lock_keyring(&mut tx, old_canary)?;
            let stored: Vec<i64> = tx
                .query("SELECT key_id FROM vault_keys", &[])?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            check_same_key_ids(stored, keys).map_err(TxError::Store)?;
            for key in keys {
                tx.execute(
                    "UPDATE vault_keys SET wrapped = $1 WHERE key_id = $2",
                    &[&key.wrapped, &i64::from(key.key_id)],
                )?;
            }
            tx.execute(
                "UPDATE vault_meta SET v = $1 WHERE k = 'canary'",
                &[&canary],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn get(&self, owner: &str, name: &str) -> Result<Option<SecretRecord>, StoreError> {
        self.run("get secret", |conn| {
            let st = prepared(&mut conn.client, &mut conn.statements, SELECT_RECORD)?;
            conn.client
                .query_opt(&st, &[&owner, &name])?
                .map(|r| read_record(&r))
                .transpose()
        })
    }

    fn put(&self, record: &SecretRecord) -> Result<i64, StoreError> {
        let key_id = i64::from(record.key_id);
        self.run("put secret", |conn| {
            let st = prepared(&mut conn.client, &mut conn.statements, UPSERT_RECORD)?;
            // One statement: atomic on its own (autocommit).
            let row = conn.client.query_opt(
                &st,
                &[
                    &record.owner,
                    &record.name,
                    &record.secret_id,
                    &key_id,
                    &record.blob,
                    &record.metadata,
                    &record.hint,
                    &record.created_at_ms,
                    &record.updated_at_ms,
                ],
            )?;
            match row {
                Some(r) => Ok(r.try_get(0)?),
                None => Err(TxError::Store(StoreError::MissingKey(record.key_id))),
            }
        })
    }

    fn delete(&self, owner: &str, name: &str) -> Result<bool, StoreError> {
        self.run("delete secret", |conn| {
            let st = prepared(&mut conn.client, &mut conn.statements, DELETE_RECORD)?;
            Ok(conn.client.execute(&st, &[&owner, &name])? > 0)
        })
    }

    fn list(&self, owner: &str) -> Result<Vec<SecretRecord>, StoreError> {
        self.run("list secrets", |conn| {
            let st = prepared(&mut conn.client, &mut conn.statements, LIST_RECORDS)?;
            conn.client
                .query(&st, &[&owner])?
                .iter()
                .map(read_record)
                .collect()
        })
    }

    fn scan(
        &self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<SecretRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (owner, name) = after.unzip();
        self.run("scan secrets", |conn| {
            let st = prepared(&mut conn.client, &mut conn.statements, SCAN_RECORDS)?;
            conn.client
                .query(&st, &[&owner, &name, &limit])?
                .iter()
                .map(read_record)
                .collect()
        })
    }

    fn import(
        &self,
        keyring: &StoredKeyring,
        pages: &mut RecordPages<'_>,
    ) -> Result<u64, StoreError> {
        self.run("import", |conn| {
            let Conn { client, statements } = conn;
            let mut tx = client.transaction()?;
            let row = tx.query_one(COUNT_CONTENTS, &[])?;
            check_empty(
                row.try_get::<_, i64>(0)? > 0,
                row.try_get(1)?,
                row.try_get(2)?,
            )?;
            // A concurrent import or initialisation conflicts on this row.
            tx.execute(
                "INSERT INTO vault_meta (k, v) VALUES ('canary', $1)",
                &[&keyring.canary],
            )?;
            insert_keys(&mut tx, &keyring.keys)?;
            let insert = prepared(&mut tx, statements, IMPORT_RECORD)?;
            let imported = import_pages(keyring, pages, |r| {
                tx.execute(
                    &insert,
                    &[
                        &r.owner,
                        &r.name,
                        &r.secret_id,
                        &i64::from(r.key_id),
                        &r.blob,
                        &r.metadata,
                        &r.hint,
                        &r.created_at_ms,
                        &r.updated_at_ms,
                    ],
                )
                .map(drop)
                .map_err(TxError::Pg)
            })?;
            tx.commit()?;
            Ok(imported)
        })
    }

    fn count_by_key(&self) -> Result<Vec<(u32, u64)>, StoreError> {
        self.run("count by key", |conn| {
            let st = prepared(&mut conn.client, &mut conn.statements, COUNT_BY_KEY)?;
            conn.client
                .query(&st, &[])?
                .iter()
                .map(|r| {
                    let n: i64 = r.try_get(1)?;
                    Ok((
                        key_id_from_sql(r.try_get(0)?)?,
                        u64::try_from(n).unwrap_or(0),
                    ))
                })
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
        let target = i64::from(target_key_id);
        self.run("rewrap", |conn| {
            let Conn { client, statements } = conn;
            let mut tx = client.transaction()?;
            let lock = prepared(&mut tx, statements, LOCK_KEY_SHARED)?;
            if tx.query_opt(&lock, &[&target])?.is_none() {
                // The active key this caller knows was retired by another process.
                return Err(TxError::Store(StoreError::MissingKey(target_key_id)));
            }
            let batch = rewrap_batch(&mut tx, statements, target, after, limit)?;
            let update = prepared(&mut tx, statements, REWRAP_UPDATE)?;
            let step = rewrap_rows(&batch, after, rewrap, |id, key_id, blob| {
                tx.execute(&update, &[&i64::from(key_id), &blob, &id])
                    .map(drop)
            })?;
            tx.commit()?;
            Ok(step)
        })
    }
}

/// Locks and reads the next batch. Rows rewritten concurrently drop out of a
/// locked read (PostgreSQL re-checks the condition after waiting), so an empty
/// batch is trusted only when no row is left at all.
fn rewrap_batch(
    tx: &mut postgres::Transaction<'_>,
    statements: &mut HashMap<&'static str, Statement>,
    target: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, SecretRecord)>, TxError> {
    let select = prepared(tx, statements, REWRAP_BATCH)?;
    let left = prepared(tx, statements, REWRAP_LEFT)?;
    loop {
        let rows = tx.query(&select, &[&target, &after, &limit])?;
        if rows.is_empty() {
            let more: bool = tx.query_one(&left, &[&target, &after])?.try_get(0)?;
            if more {
                continue;
            }
        }
        return rows
            .iter()
            .map(|r| Ok((r.try_get::<_, i64>(9)?, read_record(r)?)))
            .collect();
    }
}
