//! The stores the ledger suite runs on: a fresh database per test, opened
//! as often as a test likes (a restart, or another process).
#![allow(dead_code)] // each test file uses part of it

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

    /// Runs statements past the store.
    fn exec(&self, sql: &str);
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

    fn exec(&self, sql: &str) {
        rusqlite::Connection::open(self.path())
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }
}

/// Runs `test` on a new SQLite database.
pub(crate) fn sqlite(test: impl FnOnce(&dyn Db)) {
    let db = Sqlite {
        dir: tempfile::tempdir().unwrap(),
    };
    test(&db);
}

/// Without the `postgres` feature, where the PostgreSQL suite would run:
/// skipped without `BYOK_TEST_DATABASE_URL` (a SKIP banner; a failure under
/// CI), and a failure with it, as the vault's suite does (a database given
/// to the tests must not be skipped silently).
#[cfg(not(feature = "postgres"))]
pub(crate) fn postgres_not_built() {
    use byok_testkit::postgres::{DATABASE_URL_VAR, test_database_url};
    assert!(
        test_database_url("PostgreSQL ledger suite").is_none(),
        "{DATABASE_URL_VAR} is set but byok-billing was built without its `postgres` feature: \
         run `cargo test -p byok-billing --features postgres`"
    );
    say(
        "SKIP: the PostgreSQL ledger suite is not built (cargo test -p byok-billing --features postgres)",
    );
}

#[cfg(feature = "postgres")]
pub(crate) use pg::postgres;

#[cfg(feature = "postgres")]
mod pg {
    use std::sync::Arc;

    use byok_billing::{LedgerError, LedgerStore, Money, PostgresLedgerStore};
    use byok_testkit::postgres::{in_schema, test_database_url, unique_schema};
    use postgres::{Client, NoTls};

    use super::Db;

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

        fn exec(&self, sql: &str) {
            Client::connect(&self.url, NoTls)
                .unwrap()
                .batch_execute(sql)
                .unwrap();
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

    /// Runs `test` in a new schema of the test server; skipped without one.
    pub(crate) fn postgres(test: impl FnOnce(&dyn Db)) {
        let Some(admin) = test_database_url("PostgreSQL ledger suite") else {
            return;
        };
        let schema = unique_schema("byok_test");
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

/// A charge of `markup` nano-USD (at 20 times that in provider cost) for
/// request `id` of `account`.
pub(crate) fn entry(account: &str, id: &str, markup: i64) -> byok_billing::LedgerEntry {
    byok_billing::LedgerEntry {
        request_id: id.into(),
        account: account.into(),
        created_at_ms: byok_billing::now_ms(),
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        endpoint: "/api/v1/chat/completions".into(),
        prompt_tokens: 100,
        completion_tokens: 50,
        cached_tokens: 10,
        usage_source: byok_billing::UsageSource::Reported,
        provider_cost: Money::from_nanos(markup * 20),
        markup: Money::from_nanos(markup),
        price_source: byok_billing::PriceSource::Catalog,
        attempts: Vec::new(),
    }
}
