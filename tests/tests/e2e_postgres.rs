//! End to end on PostgreSQL (issue #18, first part): with
//! `BYOK_DATABASE_URL` the vault and the ledger live in PostgreSQL. A
//! gateway there stores credentials (ciphertext only) and charges in the
//! database; `migrate` is idempotent; a second instance on the same
//! database opens the vault with the same master key and refuses another.
//!
//! Runs against the server of `BYOK_TEST_DATABASE_URL`, in a schema of its
//! own (dropped after); skipped with a banner without one, and a failure
//! under CI (`.ci/run` starts PostgreSQL).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use byok_server::{RunningServer, Settings};
use byok_testkit::postgres as postgres_test;
use byok_testkit::{Reply, fixture};
use postgres::{Client, NoTls};
use secrecy::SecretString;
use serde_json::{Value, json};

const GROQ_KEY: &str = "gsk-postgres-e2e-0123456789abcdefghij";
const MASTER: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_MASTER: &str = "HwAeAR0CHAMbBBoFGQYYBxcIFgkVChQLEwwSDREOEA8=";

/// A schema of its own on the test server, dropped afterwards.
struct Schema {
    admin: String,
    name: String,
    url: String,
}

impl Schema {
    fn new(tag: &str) -> Option<Self> {
        let admin = postgres_test::test_database_url("gateway-on-PostgreSQL test")?;
        let name = postgres_test::unique_schema(&format!("byok_e2e_{tag}"));
        Client::connect(&admin, NoTls)
            .unwrap()
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap();
        let url = postgres_test::in_schema(&admin, &name);
        Some(Self { admin, name, url })
    }

    fn client(&self) -> Client {
        Client::connect(&self.url, NoTls).unwrap()
    }

    fn count(&self, table: &str) -> i64 {
        self.client()
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap()
            .get(0)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Best effort: a throwaway server's leftovers do no harm.
        common::in_place(|| {
            if let Ok(mut c) = Client::connect(&self.admin, NoTls) {
                let _ = c.batch_execute(&format!(
                    "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {} CASCADE",
                    self.name
                ));
            }
        });
    }
}

fn on(db: &Schema, master: &str) -> impl FnOnce(&mut Settings) {
    let (url, master) = (db.url.clone(), master.to_owned());
    move |s: &mut Settings| {
        s.database_url = Some(SecretString::from(url));
        s.master_key = Some(SecretString::from(master));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_on_postgres_keeps_credentials_and_charges_there() {
    let Some(db) = common::in_place(|| Schema::new("one")) else {
        return;
    };
    let env = common::start(&[("groq", "/groq")], on(&db, MASTER)).await;
    let (_, key) = env.cli_user("pg", Some("1.00"));
    env.store(&key, "groq", json!(GROQ_KEY)).await;
    env.mock.on(
        "POST",
        "/groq/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    let r = env
        .chat_via(
            &key,
            "groq",
            json!({"model": "llama-3.3-70b-versatile", "messages": [{"role": "user", "content": "Hi"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    // Charged once, the balance down by its markup, nothing reserved.
    let rows = env.check_settled(&key, 1, "1.00").await;
    assert_eq!(rows[0]["request_id"], rid.as_str());

    // In the database: the charge and the credit, the secret as ciphertext.
    let entries: Vec<(String, i64)> = common::in_place(|| {
        db.client()
            .query("SELECT request_id, amount FROM ledger_entries", &[])
            .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            .unwrap_or_default()
    });
    assert!(
        entries.iter().any(|(id, _)| *id == rid),
        "the charge is in PostgreSQL: {entries:?}"
    );
    assert_eq!(common::in_place(|| db.count("vault_secrets")), 1);
    let blobs: Vec<Vec<u8>> = common::in_place(|| {
        db.client()
            .query("SELECT blob FROM vault_secrets", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    });
    assert!(
        blobs
            .iter()
            .all(|b| !b.windows(GROQ_KEY.len()).any(|w| w == GROQ_KEY.as_bytes())),
        "no plaintext key in the database"
    );

    // `migrate` against the same database: nothing to do, nothing lost.
    for _ in 0..2 {
        let mut out = Vec::new();
        common::in_place(|| byok_server::run_migrate(&env.settings, &mut out)).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["store"], "postgres");
    }
    assert_eq!(common::in_place(|| db.count("vault_secrets")), 1);

    // A second instance (its own data directory) on the same database:
    // the same master key opens the shared vault, another is refused.
    let other = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_data_dir(other.path().join("data"));
    on(&db, MASTER)(&mut settings);
    let second = common::in_place(|| RunningServer::start(&settings)).unwrap();
    drop(second);
    on(&db, OTHER_MASTER)(&mut settings);
    let refused =
        common::in_place(|| RunningServer::start(&settings)).expect_err("wrong master key");
    let message = format!("{refused:#}");
    assert!(message.contains("does not match"), "{message}");
    assert!(
        !message.contains(&db.url),
        "no database URL in errors: {message}"
    );
}

/// `migrate` as a deployment step before any server starts: it migrates
/// the tables without a master key (none generated, no keyring sealed), so
/// the first server with the real master key initialises the vault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_first_leaves_the_keyring_to_the_real_master_key() {
    let Some(db) = common::in_place(|| Schema::new("migrate")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_data_dir(dir.path().join("data"));
    settings.database_url = Some(SecretString::from(db.url.clone()));
    let mut out = Vec::new();
    common::in_place(|| byok_server::run_migrate(&settings, &mut out)).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["store"], "postgres");
    assert!(
        !dir.path().join("data/master.key").exists(),
        "migrate generated a master key"
    );
    let (tables, keys) = common::in_place(|| (db.count("vault_secrets"), db.count("vault_keys")));
    assert_eq!((tables, keys), (0, 0), "tables made, no keyring sealed");
    on(&db, MASTER)(&mut settings);
    let server = common::in_place(|| RunningServer::start(&settings)).unwrap();
    drop(server);
    assert_eq!(common::in_place(|| db.count("vault_keys")), 1);
}
