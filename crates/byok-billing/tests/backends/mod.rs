//! The stores the ledger suite runs on: a fresh database per test, opened
//! as often as a test likes (a restart, or another process).

use std::io::Write as _;
use std::sync::Arc;

use byok_billing::{LedgerError, LedgerStore, Money, SqliteLedger};

/// A test's database.
pub(crate) trait Db: Sync {
    /// A new store on the database.
    fn try_store(&self) -> Result<Arc<dyn LedgerStore>, LedgerError>;

    /// A new store on the database (panics on failure).
    fn store(&self) -> Arc<dyn LedgerStore> {
        self.try_store().unwrap()
    }

    /// The one integer a query returns, read past the store.
    fn scalar(&self, sql: &str) -> i64;
}

/// Writes past the test harness's output capture: a skipped suite must be
/// seen.
pub(crate) fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

struct Sqlite {
    dir: tempfile::TempDir,
}

impl Sqlite {
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("ledger.db")
    }
}

impl Db for Sqlite {
    fn try_store(&self) -> Result<Arc<dyn LedgerStore>, LedgerError> {
        Ok(Arc::new(SqliteLedger::open(self.path(), Money::ZERO)?))
    }

    fn scalar(&self, sql: &str) -> i64 {
        rusqlite::Connection::open(self.path())
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }
}

/// Runs `test` on a new SQLite database.
pub(crate) fn sqlite(test: impl FnOnce(&dyn Db)) {
    let db = Sqlite {
        dir: tempfile::tempdir().unwrap(),
    };
    test(&db);
}

#[cfg(feature = "postgres")]
pub(crate) use pg::postgres;

#[cfg(feature = "postgres")]
mod pg {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Once};

    use byok_billing::{LedgerError, LedgerStore, Money, PostgresLedgerStore};
    use postgres::{Client, NoTls};

    use super::{Db, say};

    /// A schema of its own on the server of `BYOK_TEST_DATABASE_URL`
    /// (dropped afterwards).
    struct Postgres {
        admin: String,
        url: String,
        schema: String,
    }

    impl Db for Postgres {
        fn try_store(&self) -> Result<Arc<dyn LedgerStore>, LedgerError> {
            Ok(Arc::new(PostgresLedgerStore::open(&self.url, Money::ZERO)?))
        }

        fn scalar(&self, sql: &str) -> i64 {
            Client::connect(&self.url, NoTls)
                .unwrap()
                .query_one(sql, &[])
                .unwrap()
                .get(0)
        }
    }

    impl Drop for Postgres {
        fn drop(&mut self) {
            // Best effort: a throwaway server's leftovers do no harm.
            if let Ok(mut c) = Client::connect(&self.admin, NoTls) {
                let _ = c.batch_execute(&format!(
                    "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {} CASCADE",
                    self.schema
                ));
            }
        }
    }

    /// `url` with `search_path` set to `schema`, and the schema's name as
    /// the connections' `application_name` (to find them in
    /// `pg_stat_activity`).
    fn in_schema(url: &str, schema: &str) -> String {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}options=-c%20search_path%3D{schema}&application_name={schema}")
        } else {
            format!("{url} options='-c search_path={schema}' application_name={schema}")
        }
    }

    fn database_url() -> Option<String> {
        match std::env::var("BYOK_TEST_DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => Some(url),
            _ => {
                let msg = "SKIP: the PostgreSQL ledger suite did not run: \
                           BYOK_TEST_DATABASE_URL is not set (`scripts/postgres start` prints one)";
                assert!(
                    std::env::var("CI").is_err(),
                    "{msg}; under CI it must run (.ci/run starts PostgreSQL)"
                );
                static SAID: Once = Once::new();
                SAID.call_once(|| say(&format!("\n!!! {msg} !!!\n")));
                None
            }
        }
    }

    /// Runs `test` in a new schema of the test server; skipped without one.
    pub(crate) fn postgres(test: impl FnOnce(&dyn Db)) {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let Some(admin) = database_url() else { return };
        let schema = format!(
            "byok_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Client::connect(&admin, NoTls)
            .unwrap()
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .unwrap();
        let db = Postgres {
            url: in_schema(&admin, &schema),
            admin,
            schema,
        };
        test(&db);
    }
}
