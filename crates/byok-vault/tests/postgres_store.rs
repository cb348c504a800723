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
    use std::collections::HashSet;

    use byok_vault::secrecy::SecretString;
    use byok_vault::{
        Hint, MIGRATION_COMPONENT, PostgresConfig, PostgresSecretStore, PutOptions, SecretStore,
        StoreError,
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
        raw.exec("INSERT INTO schema_migrations (component, version) VALUES ('byok-billing', 7)");
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
        let secrets: Vec<String> = (0..10)
            .map(|i| format!("sk-CANARY-{i:02}-Zq8vN3xR5tL1pW7mK2jH9gF4dS6aB0cE"))
            .collect();
        let windows: HashSet<Vec<u8>> = secrets
            .iter()
            .flat_map(|s| s.as_bytes().windows(8).map(<[u8]>::to_vec))
            .collect();
        let vault = db.open_cached();
        for (i, s) in secrets.iter().enumerate() {
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
        vault.rotate().unwrap();
        vault.rewrap(3).unwrap();
        let (url, schema) = db.url_and_schema();
        let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("SET search_path TO {schema}"))
            .unwrap();
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
        assert!(cells.len() > 60);
        // The scan can see a plaintext if one were there.
        let probe = secrets[0].as_bytes();
        assert!(probe.windows(8).any(|w| windows.contains(w)));
        for cell in &cells {
            for w in cell.windows(8) {
                assert!(
                    !windows.contains(w),
                    "a row holds plaintext fragment {:?}",
                    String::from_utf8_lossy(w)
                );
            }
        }
    }
}
