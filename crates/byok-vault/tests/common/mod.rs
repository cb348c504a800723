#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
#![allow(dead_code, unreachable_pub, unused_macros)]

//! Test support: one suite, two backends.
//!
//! A test written as `fn name(db: &Db)` and listed in `on_both_backends!`
//! runs as `sqlite::name` (a temp directory) and `postgres::name` (its own
//! schema in the database named by `BYOK_TEST_DATABASE_URL`, dropped after).
//! Without that variable the PostgreSQL half prints a SKIP banner and passes,
//! unless `CI` is set: then it fails, so CI never silently skips it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use byok_vault::secrecy::SecretString;
use byok_vault::{Hint, MasterKey, OpenError, PutOptions, Vault, VaultConfig};

pub const MASTER: [u8; 32] = [42; 32];

/// The variable naming the test database, e.g.
/// `postgres://postgres@127.0.0.1:55432/postgres`.
pub use byok_testkit::postgres::DATABASE_URL_VAR;

/// Runs the listed `fn(&Db)` tests on both backends.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { crate::common::on_sqlite(super::$name); } )*
        }
        mod postgres {
            $( #[test] fn $name() { crate::common::on_postgres(super::$name); } )*
        }
    };
}

pub fn on_sqlite(test: fn(&Db)) {
    test(&Db::sqlite());
}

pub fn on_postgres(test: fn(&Db)) {
    if let Some(db) = Db::postgres() {
        test(&db);
    }
}

enum Kind {
    Sqlite(tempfile::TempDir),
    Postgres { url: String, schema: String },
}

/// One fresh, empty store for one test.
pub struct Db {
    kind: Kind,
}

impl Db {
    pub fn sqlite() -> Self {
        Self {
            kind: Kind::Sqlite(tempfile::tempdir().unwrap()),
        }
    }

    /// A fresh schema in the test database, or `None` (after a SKIP banner)
    /// when no database is configured outside CI.
    pub fn postgres() -> Option<Self> {
        let url = byok_testkit::postgres::test_database_url("PostgreSQL vault suite")?;
        if !cfg!(feature = "postgres") {
            panic!(
                "{DATABASE_URL_VAR} is set but byok-vault was built without its `postgres` feature: \
                 run `cargo test -p byok-vault --features postgres`"
            );
        }
        Some(Self {
            kind: Kind::Postgres {
                url,
                schema: byok_testkit::postgres::unique_schema("byok_vault_test"),
            },
        })
    }

    /// Another fresh, empty store of the same backend.
    pub fn another(&self) -> Self {
        match self.kind {
            Kind::Sqlite(_) => Self::sqlite(),
            Kind::Postgres { .. } => Self::postgres().expect("configured"),
        }
    }

    /// The store itself, without a vault over it.
    pub fn store(&self) -> Box<dyn byok_vault::SecretStore> {
        match &self.kind {
            Kind::Sqlite(dir) => {
                Box::new(byok_vault::SqliteStore::open(db_path(dir.path())).unwrap())
            }
            #[cfg(feature = "postgres")]
            Kind::Postgres { url, schema } => Box::new(
                byok_vault::PostgresSecretStore::open_with(
                    url,
                    byok_vault::PostgresConfig::default().schema(schema.clone()),
                )
                .unwrap(),
            ),
            #[cfg(not(feature = "postgres"))]
            Kind::Postgres { .. } => unreachable!("refused in Db::postgres"),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.kind, Kind::Postgres { .. })
    }

    /// The SQLite directory (SQLite only).
    pub fn dir(&self) -> &Path {
        match &self.kind {
            Kind::Sqlite(dir) => dir.path(),
            Kind::Postgres { .. } => panic!("not a SQLite test"),
        }
    }

    /// The database URL and schema (PostgreSQL only).
    pub fn url_and_schema(&self) -> (&str, &str) {
        match &self.kind {
            Kind::Postgres { url, schema } => (url, schema),
            Kind::Sqlite(_) => panic!("not a PostgreSQL test"),
        }
    }

    pub fn open_with(&self, master: [u8; 32], config: VaultConfig) -> Result<Vault, OpenError> {
        let master = MasterKey::from_bytes(master);
        match &self.kind {
            Kind::Sqlite(dir) => Vault::open_sqlite(db_path(dir.path()), master, config),
            #[cfg(feature = "postgres")]
            Kind::Postgres { url, schema } => {
                let store = byok_vault::PostgresSecretStore::open_with(
                    url,
                    byok_vault::PostgresConfig::default().schema(schema.clone()),
                )?;
                Vault::open(store, master, config)
            }
            #[cfg(not(feature = "postgres"))]
            Kind::Postgres { .. } => unreachable!("refused in Db::postgres"),
        }
    }

    /// A vault with the cache off, so every read goes to the store.
    pub fn open_uncached(&self) -> Vault {
        self.open_with(MASTER, VaultConfig::default().cache_capacity(0))
            .unwrap()
    }

    pub fn open_uncached_with(&self, master: [u8; 32]) -> Vault {
        self.open_with(master, VaultConfig::default().cache_capacity(0))
            .unwrap()
    }

    pub fn open_cached(&self) -> Vault {
        self.open_with(MASTER, VaultConfig::default()).unwrap()
    }

    /// Everything the store wrote, as byte strings: every file of a SQLite
    /// store's directory (the database, its WAL and shared memory); every
    /// cell of every vault table of a PostgreSQL store (the server's files
    /// are its own: the rows are what this crate controls).
    pub fn stored_bytes(&self) -> Vec<Vec<u8>> {
        let client = match self.raw() {
            Raw::Sqlite(_) => {
                return std::fs::read_dir(self.dir())
                    .unwrap()
                    .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
                    .collect();
            }
            Raw::Postgres(client) => client,
        };
        let mut client = client.into_inner();
        let mut cells: Vec<Vec<u8>> = Vec::new();
        for r in client
            .query(
                "SELECT owner, name, secret_id, coalesce(metadata, ''), coalesce(hint, ''), blob FROM vault_secrets",
                &[],
            )
            .unwrap()
        {
            for c in 0..5 {
                cells.push(r.get::<_, String>(c).into_bytes());
            }
            cells.push(r.get(5));
        }
        for r in client.query("SELECT wrapped FROM vault_keys", &[]).unwrap() {
            cells.push(r.get(0));
        }
        for r in client.query("SELECT v FROM vault_meta", &[]).unwrap() {
            cells.push(r.get(0));
        }
        cells
    }

    /// A direct connection to the store's tables, behind the vault's back.
    pub fn raw(&self) -> Raw {
        match &self.kind {
            Kind::Sqlite(dir) => raw(dir.path()),
            Kind::Postgres { url, schema } => {
                let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
                client
                    .batch_execute(&format!("SET search_path TO {schema}"))
                    .unwrap();
                Raw::Postgres(std::cell::RefCell::new(client))
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Kind::Postgres { url, schema } = &self.kind {
            // Best effort: a leftover schema only costs space.
            if let Ok(mut client) = postgres::Client::connect(url, postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

/// Raw access to the vault's tables in either backend. Plain SQL given to
/// [`Raw::exec`] and [`Raw::count`] must be valid in both dialects.
pub enum Raw {
    Sqlite(rusqlite::Connection),
    Postgres(std::cell::RefCell<postgres::Client>),
}

impl Raw {
    /// Runs one statement; returns the rows changed, or the error text.
    pub fn try_exec(&self, sql: &str) -> Result<u64, String> {
        match self {
            Raw::Sqlite(c) => c
                .execute(sql, [])
                .map(|n| n as u64)
                .map_err(|e| e.to_string()),
            Raw::Postgres(c) => c.borrow_mut().execute(sql, &[]).map_err(|e| e.to_string()),
        }
    }

    pub fn exec(&self, sql: &str) -> u64 {
        self.try_exec(sql).unwrap()
    }

    /// The single integer a query returns.
    pub fn count(&self, sql: &str) -> i64 {
        match self {
            Raw::Sqlite(c) => c.query_row(sql, [], |r| r.get(0)).unwrap(),
            Raw::Postgres(c) => c.borrow_mut().query_one(sql, &[]).unwrap().get(0),
        }
    }

    /// `(blob, secret_id, hint)` of one row.
    pub fn row_of(&self, owner: &str, name: &str) -> (Vec<u8>, String, Option<String>) {
        match self {
            Raw::Sqlite(c) => c
                .query_row(
                    "SELECT blob, secret_id, hint FROM vault_secrets WHERE owner = ?1 AND name = ?2",
                    [owner, name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .unwrap(),
            Raw::Postgres(c) => {
                let r = c
                    .borrow_mut()
                    .query_one(
                        "SELECT blob, secret_id, hint FROM vault_secrets WHERE owner = $1 AND name = $2",
                        &[&owner, &name],
                    )
                    .unwrap();
                (r.get(0), r.get(1), r.get(2))
            }
        }
    }

    /// Overwrites one row's blob, secret id and hint.
    pub fn set_row(&self, owner: &str, name: &str, blob: &[u8], sid: &str, hint: Option<&str>) {
        let n = match self {
            Raw::Sqlite(c) => c
                .execute(
                    "UPDATE vault_secrets SET blob = ?1, secret_id = ?2, hint = ?3 WHERE owner = ?4 AND name = ?5",
                    rusqlite::params![blob, sid, hint, owner, name],
                )
                .unwrap() as u64,
            Raw::Postgres(c) => c
                .borrow_mut()
                .execute(
                    "UPDATE vault_secrets SET blob = $1, secret_id = $2, hint = $3 WHERE owner = $4 AND name = $5",
                    &[&blob, &sid, &hint, &owner, &name],
                )
                .unwrap(),
        };
        assert_eq!(n, 1);
    }

    /// Every row's `(key_id, blob)`.
    pub fn key_ids_and_blobs(&self) -> Vec<(u32, Vec<u8>)> {
        match self {
            Raw::Sqlite(c) => {
                let mut stmt = c.prepare("SELECT key_id, blob FROM vault_secrets").unwrap();
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap()
            }
            Raw::Postgres(c) => c
                .borrow_mut()
                .query("SELECT key_id, blob FROM vault_secrets", &[])
                .unwrap()
                .iter()
                .map(|r| (u32::try_from(r.get::<_, i64>(0)).unwrap(), r.get(1)))
                .collect(),
        }
    }
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("vault.db")
}

/// A vault with the cache off, so every read goes to the file.
pub fn open_uncached(dir: &Path) -> Vault {
    Vault::open_sqlite(
        db_path(dir),
        MasterKey::from_bytes(MASTER),
        VaultConfig::default().cache_capacity(0),
    )
    .unwrap()
}

pub fn open_cached(dir: &Path) -> Vault {
    Vault::open_sqlite(
        db_path(dir),
        MasterKey::from_bytes(MASTER),
        VaultConfig::default(),
    )
    .unwrap()
}

pub fn raw(dir: &Path) -> Raw {
    let c = rusqlite::Connection::open(db_path(dir)).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    Raw::Sqlite(c)
}

pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// The plaintexts of the "never holds plaintext" tests, and the scan that
/// looks for any 8-byte window of them in what a store wrote.
pub struct Plaintexts {
    pub secrets: Vec<String>,
    windows: HashSet<Vec<u8>>,
}

impl Plaintexts {
    /// `n` distinct API-key-like plaintexts.
    pub fn new(n: usize) -> Self {
        let secrets: Vec<String> = (0..n)
            .map(|i| format!("sk-CANARY-{i:02}-Zq8vN3xR5tL1pW7mK2jH9gF4dS6aB0cE"))
            .collect();
        let windows = secrets
            .iter()
            .flat_map(|s| s.as_bytes().windows(8).map(<[u8]>::to_vec))
            .collect();
        Self { secrets, windows }
    }

    /// Stores each as `owner`/`p<i>`: a JSON document holding it, with the
    /// hint taken from it.
    pub fn put_documents(&self, vault: &Vault) {
        for (i, s) in self.secrets.iter().enumerate() {
            let doc = SecretString::from(format!("{{\"apiKey\":\"{s}\"}}"));
            vault
                .put(
                    "owner",
                    &format!("p{i}"),
                    &doc,
                    PutOptions::new().hint(Hint::From(secret(s))),
                )
                .unwrap();
        }
    }

    /// The first plaintext fragment in `bytes`, if any.
    pub fn find(&self, bytes: &[u8]) -> Option<String> {
        bytes
            .windows(8)
            .find(|w| self.windows.contains(*w))
            .map(|w| String::from_utf8_lossy(w).into_owned())
    }
}

pub fn blob_of(conn: &Raw, owner: &str, name: &str) -> Vec<u8> {
    conn.row_of(owner, name).0
}

pub fn set_blob(conn: &Raw, owner: &str, name: &str, blob: &[u8]) {
    let n = match conn {
        Raw::Sqlite(c) => c
            .execute(
                "UPDATE vault_secrets SET blob = ?1 WHERE owner = ?2 AND name = ?3",
                rusqlite::params![blob, owner, name],
            )
            .unwrap() as u64,
        Raw::Postgres(c) => c
            .borrow_mut()
            .execute(
                "UPDATE vault_secrets SET blob = $1 WHERE owner = $2 AND name = $3",
                &[&blob, &owner, &name],
            )
            .unwrap(),
    };
    assert_eq!(n, 1);
}

/// Minimal executor for the async API: the vault's futures need no runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
