//! What only the PostgreSQL store has: versioned migrations, its refusal to
//! block an async worker, and what its rows hold. Needs the `postgres`
//! feature and `BYOK_TEST_DATABASE_URL` (else a SKIP banner; a failure under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_store() {
    // Skips (or fails under CI / with the URL set) with a clear message.
    assert!(common::Db::postgres().is_none());
}

#[cfg(feature = "postgres")]
mod pg {
    use byok_vault::{
        MIGRATION_COMPONENT, PostgresConfig, PostgresSecretStore, SecretStore, StoreError,
    };

    use std::time::{Duration, Instant};

    use crate::common::*;

    fn store(db: &Db) -> Result<PostgresSecretStore, StoreError> {
        let (url, schema) = db.url_and_schema();
        PostgresSecretStore::open_with(url, PostgresConfig::default().schema(schema))
    }

    #[test]
    fn migrations_are_recorded_once_and_newer_schemas_refused() {
        let Some(db) = Db::postgres() else { return };
        // Instances starting together migrate once.
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| store(&db).unwrap());
            }
        });
        drop(store(&db).unwrap());
        let raw = db.raw();
        // Recorded once: version 1, the only one.
        assert_eq!(
            raw.count(&format!(
                "SELECT count(*) FROM schema_migrations WHERE component = '{MIGRATION_COMPONENT}'"
            )),
            1
        );
        assert_eq!(
            raw.count(&format!(
                "SELECT max(version)::bigint FROM schema_migrations WHERE component = '{MIGRATION_COMPONENT}'"
            )),
            1
        );
        // Another component's rows in the shared table are left alone.
        raw.exec("INSERT INTO schema_migrations (component, version) VALUES ('ledger', 7)");
        drop(store(&db).unwrap());
        // A database migrated by a newer build is refused, not misread.
        raw.exec(&format!(
            "INSERT INTO schema_migrations (component, version) VALUES ('{MIGRATION_COMPONENT}', 99)"
        ));
        let err = store(&db).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("99")),
            "{err:?}"
        );
    }

    /// The store's connections: none bounded in use (its callers bound
    /// them), at most `max_idle_connections` kept, an idle one the server
    /// ended replaced before a call when it idled `idle_check_after`, and
    /// a call that meets one otherwise fails once (not run again: a
    /// write's outcome would be unknown), the idle ones dropped with it.
    #[test]
    fn connections_in_use_unbounded_idle_bounded_and_checked() {
        let Some(db) = Db::postgres() else { return };
        drop(db.open_cached()); // a keyring: the canary row to lock
        let (url, schema) = db.url_and_schema();
        // The store's connections named after the schema, to count and end them.
        let named = byok_testkit::postgres::in_schema(url, schema);
        let backends = || {
            let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
            admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    &[&schema],
                )
                .unwrap()
                .get::<_, i64>(0)
        };
        let wait_for = |n: i64| {
            let deadline = Instant::now() + Duration::from_secs(5);
            while backends() != n {
                assert!(
                    Instant::now() < deadline,
                    "{} connections, not {n}",
                    backends()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        let terminate = || {
            let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
            admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE application_name = $1",
                    &[&schema],
                )
                .unwrap();
            wait_for(0);
        };
        let open = |idle_check_after: Duration| {
            let mut settings = PostgresConfig::default()
                .schema(schema)
                .max_idle_connections(2);
            settings.idle_check_after = idle_check_after;
            PostgresSecretStore::open_with(&named, settings).unwrap()
        };
        // `n` calls at once, waiting for the keyring lock held here: `n`
        // connections in use.
        let at_once = |store: &PostgresSecretStore, n: i64| {
            let mut raw = postgres::Client::connect(url, postgres::NoTls).unwrap();
            raw.batch_execute(&format!("SET search_path TO {schema}"))
                .unwrap();
            let mut tx = raw.transaction().unwrap();
            tx.query(
                "SELECT v FROM vault_meta WHERE k = 'canary' FOR UPDATE",
                &[],
            )
            .unwrap();
            std::thread::scope(|s| {
                let calls: Vec<_> = (0..n).map(|_| s.spawn(|| store.retire_key(999))).collect();
                wait_for(n);
                tx.rollback().unwrap();
                for call in calls {
                    let err = call.join().unwrap().unwrap_err();
                    assert!(matches!(err, StoreError::MissingKey(999)), "{err:?}");
                }
            });
        };
        let store = open(Duration::ZERO);
        at_once(&store, 6);
        // Two of the six kept.
        wait_for(2);
        // Ended by the server while idle: checked, replaced, the call served.
        terminate();
        assert!(store.load_keyring().unwrap().is_some());
        wait_for(1);
        drop(store);
        wait_for(0);
        // Unchecked (idled less than `idle_check_after`): one call fails,
        // and the next is served on a new connection.
        let store = open(Duration::from_secs(3600));
        at_once(&store, 2);
        wait_for(2);
        terminate();
        let err = store.get("o", "a").unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
        assert_eq!(store.get("o", "a").unwrap(), None);
    }

    #[test]
    fn schema_names_are_checked() {
        let Some(db) = Db::postgres() else { return };
        let (url, _) = db.url_and_schema();
        for bad in ["", "Upper", "a;drop", "1abc", &"x".repeat(64)] {
            let err = PostgresSecretStore::open_with(url, PostgresConfig::default().schema(bad))
                .unwrap_err();
            assert!(matches!(err, StoreError::Backend(_)), "{bad}: {err:?}");
        }
    }

    #[test]
    fn refuses_to_block_an_async_worker() {
        let Some(db) = Db::postgres() else { return };
        let store = store(&db).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = rt.block_on(async { store.load_keyring() }).unwrap_err();
        assert!(err.to_string().contains("async"), "{err}");
        // Off the runtime it works.
        assert!(store.load_keyring().unwrap().is_none());
    }

    #[test]
    fn debug_never_prints_the_password() {
        let Some(db) = Db::postgres() else { return };
        let (url, schema) = db.url_and_schema();
        // Under `trust` authentication a password is accepted and ignored.
        let (scheme, rest) = url.split_once("://").unwrap();
        let (user, host) = rest.split_once('@').unwrap();
        let user = user.split(':').next().unwrap();
        let with_password = format!("{scheme}://{user}:hunter2-never-printed@{host}");
        let printed = match PostgresSecretStore::open_with(
            &with_password,
            PostgresConfig::default().schema(schema),
        ) {
            Ok(store) => format!("{store:?}"),
            // Password authentication with a wrong password: the error must not echo it either.
            Err(e) => format!("{e} {e:?}"),
        };
        assert!(!printed.contains("hunter2"), "{printed}");
    }

    /// Every 8-byte window of every plaintext, searched in every column of
    /// every vault table (PostgreSQL's files are the server's: the rows are
    /// what this crate controls).
    #[test]
    fn rows_never_hold_plaintext() {
        let Some(db) = Db::postgres() else { return };
        let plain = Plaintexts::new(10);
        let vault = db.open_cached();
        plain.put_documents(&vault);
        vault.rotate().unwrap();
        vault.rewrap(3).unwrap();
        let (url, schema) = db.url_and_schema();
        let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("SET search_path TO {schema}"))
            .unwrap();
        // The cell holding a plaintext fragment, if any.
        let scan = |cells: &[Vec<u8>]| cells.iter().find_map(|c| plain.find(c));
        // Make sure the scan can see a plaintext if one were there: a row
        // whose metadata holds one.
        client
            .execute(
                "INSERT INTO vault_secrets (owner, name, secret_id, key_id, blob, metadata, created_at, updated_at)
                 SELECT 'probe', 'probe', 'probe', key_id, ''::bytea, $1, 0, 0 FROM vault_keys WHERE active",
                &[&plain.secrets[0]],
            )
            .unwrap();
        assert!(
            scan(&db.stored_bytes()).is_some(),
            "the scanner must detect a planted plaintext"
        );
        client
            .execute("DELETE FROM vault_secrets WHERE owner = 'probe'", &[])
            .unwrap();
        let cells = db.stored_bytes();
        assert!(cells.len() > 60);
        assert_eq!(scan(&cells), None, "a row holds a plaintext fragment");
    }
}
