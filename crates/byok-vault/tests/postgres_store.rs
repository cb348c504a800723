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
