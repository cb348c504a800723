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

/// Polls `check` every 20 ms until it holds; the time it took, or a panic
/// naming `what` after `bound`.
async fn within<F, Fut>(bound: std::time::Duration, what: &str, mut check: F) -> std::time::Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < bound, "{what}: not seen within {bound:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The bound the change feed documents for a revocation or a credential
/// change to reach every instance (`app::changes`: milliseconds normally,
/// about 5 s at worst when its connection died silently).
const PROPAGATION: std::time::Duration = std::time::Duration::from_secs(5);

fn chat_body() -> Value {
    json!({"model": "llama-3.3-70b-versatile", "max_tokens": 4000, "messages": [{"role": "user", "content": "Hi"}]})
}

/// An answer whose reported usage fits what [`chat_body`] reserves (the
/// recorded fixture reports a long prompt this body does not have).
fn small_answer() -> Reply {
    Reply::json(
        200,
        json!({
            "id": "chatcmpl-two", "object": "chat.completion", "created": 1,
            "model": "llama-3.3-70b-versatile",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 8, "completion_tokens": 3000, "total_tokens": 3008}
        })
        .to_string(),
    )
}

/// Two gateway instances on one database, requests through both: users,
/// gateway keys, credentials and money are shared; concurrent requests
/// through both never overspend, and every answered request is charged
/// exactly once; a revoked gateway key, a replaced credential and a key
/// marked invalid are seen by the other instance within the documented
/// bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_users_money_and_revocations() {
    // About eight requests' reservations (~158,000 nano-USD each).
    const CREDIT: &str = "0.0013";
    let Some(db) = common::in_place(|| Schema::new("two")) else {
        return;
    };
    let a = std::sync::Arc::new(common::start(&[("groq", "/groq")], on(&db, MASTER)).await);
    let b = std::sync::Arc::new(a.twin().await);
    let path = "/groq/chat/completions";
    a.mock.on("POST", path, small_answer());

    // A user made through A works on B, with B's view of the balance.
    let (user, key) = a.admin_user("two", CREDIT).await;
    b.store(&key, "groq", json!(GROQ_KEY)).await;
    let r = a.chat_via(&key, "groq", chat_body()).await;
    assert_eq!(
        r.status(),
        200,
        "a credential stored through B is used by A"
    );

    // Concurrent requests through both against a small balance: some are
    // refused (402), none overspends, every answer is charged once.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..40 {
        let env = std::sync::Arc::clone(if i % 2 == 0 { &a } else { &b });
        let key = key.clone();
        calls.spawn(async move {
            env.chat_via(&key, "groq", chat_body())
                .await
                .status()
                .as_u16()
        });
    }
    let statuses = calls.join_all().await;
    let answered = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 402),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&402) && answered > 0,
        "the balance ran out: {statuses:?}"
    );
    eprintln!("{answered} of 40 answered through two instances");
    let rows = a.check_settled(&key, answered + 1, CREDIT).await;
    let mut ids: Vec<&str> = rows
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), answered + 1, "no request charged twice");
    let (balance, reserved) = b.balance(&key).await;
    assert!(
        balance >= byok_billing::Money::ZERO,
        "never overspent: {balance:?} {statuses:?} {rows:#?}"
    );
    assert_eq!(
        (balance, reserved),
        a.balance(&key).await,
        "one balance, seen alike"
    );
    let charges: i64 = common::in_place(|| {
        db.client()
            .query_one(
                "SELECT count(*) FROM ledger_entries WHERE kind <> 'credit'",
                &[],
            )
            .unwrap()
            .get(0)
    });
    assert_eq!(usize::try_from(charges).unwrap(), answered + 1);

    // A second gateway key, used (and cached) on B, revoked through A.
    let made: Value = a
        .call("POST", "/api/keys", &key)
        .await
        .json()
        .await
        .unwrap();
    let second = made["api_key"].as_str().unwrap().to_owned();
    assert_eq!(b.call("GET", "/api/balance", &second).await.status(), 200);
    let prefix = made["prefix"].as_str().unwrap();
    let r = a.call("DELETE", &format!("/api/keys/{prefix}"), &key).await;
    assert!(r.status().is_success(), "{}", r.status());
    let took = within(PROPAGATION, "the revocation on B", || async {
        b.call("GET", "/api/balance", &second).await.status() == 401
    })
    .await;
    eprintln!("revocation seen by the other instance after {took:?}");

    // A credential replaced through A: B's next request uses the new key.
    let replaced = "gsk-postgres-e2e-replaced-0123456789abcdef";
    a.mock.on_header(
        "POST",
        path,
        "authorization",
        &format!("Bearer {GROQ_KEY}"),
        Reply::json(
            401,
            json!({"error": {"message": "revoked key", "type": "invalid_request_error"}})
                .to_string(),
        ),
    );
    a.mock.on_header(
        "POST",
        path,
        "authorization",
        &format!("Bearer {replaced}"),
        small_answer(),
    );
    a.admin_credit(&user, "1.00").await;
    a.store(&key, "groq", json!(replaced)).await;
    let took = within(PROPAGATION, "the replaced credential on B", || async {
        let r = b.chat_via(&key, "groq", chat_body()).await;
        let status = r.status();
        if status != 200 {
            eprintln!("B: {status} {}", r.text().await.unwrap());
        }
        status == 200
    })
    .await;
    eprintln!("credential change seen by the other instance after {took:?}");
    let last = a.mock.requests().last().cloned().unwrap();
    assert_eq!(
        last.header("authorization"),
        Some(format!("Bearer {replaced}").as_str())
    );

    // A key refused upstream through B is invalid on A too.
    let bad = "gsk-postgres-e2e-bad-0123456789abcdef";
    b.put_key(&key, "groq/bad", json!({"key": bad, "priority": -1}))
        .await;
    a.mock.on_header(
        "POST",
        path,
        "authorization",
        &format!("Bearer {bad}"),
        Reply::json(
            401,
            json!({"error": {"message": "bad key", "type": "invalid_request_error"}}).to_string(),
        ),
    );
    let r = b.chat_via(&key, "groq", chat_body()).await;
    assert_eq!(r.status(), 200, "fell back to the good key");
    within(PROPAGATION, "the invalid mark on A", || async {
        let listed = a.get_json("/api/byok/credentials", &key).await;
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["label"] == "bad" && c["status"] == "invalid")
    })
    .await;
}

/// A per-user limit of 10 requests a minute holds across two instances:
/// 30 requests alternating between them, 10 answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_across_two_instances() {
    let Some(db) = common::in_place(|| Schema::new("limit")) else {
        return;
    };
    let a = common::start(&[("groq", "/groq")], |s| {
        on(&db, MASTER)(s);
        s.rate_limit_rpm = 10;
    })
    .await;
    let b = a.twin().await;
    a.mock.on(
        "POST",
        "/groq/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    let (_, key) = a.admin_user("limited", "1.00").await;
    a.store(&key, "groq", json!(GROQ_KEY)).await;
    // Not across a minute's edge (the windows are clock minutes).
    let second = byok_billing::now_ms() / 1000 % 60;
    if second > 45 {
        tokio::time::sleep(std::time::Duration::from_secs(
            u64::try_from(61 - second).unwrap(),
        ))
        .await;
    }
    let mut statuses = Vec::new();
    for i in 0..30 {
        let env = if i % 2 == 0 { &a } else { &b };
        statuses.push(
            env.chat_via(&key, "groq", chat_body())
                .await
                .status()
                .as_u16(),
        );
    }
    let answered = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(answered, 10, "the limit, not twice it: {statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(
        statuses[..10],
        [200; 10],
        "both instances served until the limit"
    );
}

/// The status of a chat through `env`.
async fn chat_ok(env: &common::Env, key: &str) -> u16 {
    env.chat_via(key, "groq", chat_body())
        .await
        .status()
        .as_u16()
}

/// `vault rotate-master-key` beside two running instances on one database:
/// both keep serving (old credentials and one stored after the rotation),
/// an instance started with the old master key is refused and one with the
/// new key serves; then `vault reencrypt` (under the new key) beside the
/// instances restarted with it: every credential still read by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_key_rotation_beside_two_running_instances() {
    use byok_server::{VaultCommand, run_vault_command};
    let Some(db) = common::in_place(|| Schema::new("rotate")) else {
        return;
    };
    let a = common::start(&[("groq", "/groq")], on(&db, MASTER)).await;
    let b = a.twin().await;
    a.mock.on(
        "POST",
        "/groq/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    let (_, key) = a.admin_user("rot", "5.00").await;
    a.store(&key, "groq", json!(GROQ_KEY)).await;
    assert_eq!(
        (chat_ok(&a, &key).await, chat_ok(&b, &key).await),
        (200, 200)
    );

    let keys = tempfile::tempdir().unwrap();
    let new_key_file = keys.path().join("new.key");
    let rotate = VaultCommand::RotateMasterKey {
        batch_size: 10,
        new_key_file: Some(new_key_file.clone()),
    };
    common::in_place(|| run_vault_command(&a.settings, &rotate, &mut Vec::new())).unwrap();
    let new_master = std::fs::read_to_string(&new_key_file).unwrap();

    // Both keep serving, a credential stored after the rotation included.
    b.put_key(
        &key,
        "groq/after",
        json!({"key": "gsk-after-rotation-0123456789abcdef", "priority": 1}),
    )
    .await;
    a.store(&key, "groq", json!(GROQ_KEY)).await;
    assert_eq!(
        (chat_ok(&a, &key).await, chat_ok(&b, &key).await),
        (200, 200)
    );
    let listed = a.get_json("/api/byok/credentials", &key).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);

    // The old master key no longer opens the vault; the new one does.
    let old = a.twin_settings();
    let refused = common::in_place(|| RunningServer::start(&old.1)).expect_err("old master key");
    assert!(
        format!("{refused:#}").contains("does not match"),
        "{refused:#}"
    );
    let mut new = a.twin_settings();
    new.1.master_key = Some(SecretString::from(new_master.trim().to_owned()));
    let c = common::in_place(|| RunningServer::start(&new.1)).unwrap();

    // Restarted with the new key, a re-encryption beside the running ones.
    drop((a.server, b.server));
    let reencrypt = VaultCommand::Reencrypt { batch_size: 1 };
    common::in_place(|| run_vault_command(&new.1, &reencrypt, &mut Vec::new())).unwrap();
    let mut out = Vec::new();
    common::in_place(|| run_vault_command(&new.1, &VaultCommand::Status, &mut out)).unwrap();
    let status: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        status["keys"].as_array().unwrap().len(),
        1,
        "one data key left: {status}"
    );
    let r = a
        .http
        .post(format!("http://{}/api/v1/chat/completions", c.addr()))
        .bearer_auth(&key)
        .header("x-byok-provider", "groq")
        .json(&chat_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// The change feed's connections ended by the database (a restart, an
/// administrator): each instance turns its caches off until its feed is
/// back, then empties them, so a revocation made meanwhile is in force on
/// the other instance within the bound all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_during_a_feed_outage_is_in_force() {
    let Some(db) = common::in_place(|| Schema::new("outage")) else {
        return;
    };
    let a = common::start(&[], on(&db, MASTER)).await;
    let b = a.twin().await;
    let (_, key) = a.admin_user("outage", "1.00").await;
    let made: Value = a
        .call("POST", "/api/keys", &key)
        .await
        .json()
        .await
        .unwrap();
    let second = made["api_key"].as_str().unwrap().to_owned();
    assert_eq!(b.call("GET", "/api/balance", &second).await.status(), 200);
    let feed = format!("{}-feed", db.name);
    let ended: i64 = common::in_place(|| {
        db.client()
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                &[&feed],
            )
            .unwrap()
            .len()
            .try_into()
            .unwrap()
    });
    assert!(ended >= 2, "both instances' feeds ended: {ended}");
    let prefix = made["prefix"].as_str().unwrap();
    let r = a.call("DELETE", &format!("/api/keys/{prefix}"), &key).await;
    assert!(r.status().is_success(), "{}", r.status());
    let took = within(PROPAGATION, "the revocation on B", || async {
        b.call("GET", "/api/balance", &second).await.status() == 401
    })
    .await;
    eprintln!("revocation during a feed outage in force after {took:?}");
    assert_eq!(b.call("GET", "/api/balance", &key).await.status(), 200);
}

/// `migrate-store`: a single instance on SQLite (a user with a charge, a
/// revoked second key, a stored credential) copied into an empty
/// PostgreSQL database; a gateway there with the same master key serves the
/// same user, balance, usage and credential, and refuses the revoked key. A
/// second copy is refused (nothing written), as are a running source and a
/// directory that is not a data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_store_copies_a_sqlite_instance_into_postgres() {
    let Some(db) = common::in_place(|| Schema::new("copy")) else {
        return;
    };
    let old = common::start(&[("groq", "/groq")], |_| {}).await;
    old.mock.on(
        "POST",
        "/groq/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    let (_, key) = old.cli_user("moving", Some("2.00"));
    old.store(&key, "groq", json!(GROQ_KEY)).await;
    assert_eq!(chat_ok(&old, &key).await, 200);
    old.check_settled(&key, 1, "2.00").await;
    let made: Value = old
        .call("POST", "/api/keys", &key)
        .await
        .json()
        .await
        .unwrap();
    let revoked = made["api_key"].as_str().unwrap().to_owned();
    let r = old
        .call(
            "DELETE",
            &format!("/api/keys/{}", made["prefix"].as_str().unwrap()),
            &key,
        )
        .await;
    assert!(r.status().is_success());
    let balance = old.balance(&key).await;
    let usage = old.every_entry(&key).await;
    let from = format!("sqlite:{}", old.settings.data_dir.display());
    let copy = |from: &str| {
        let mut out = Vec::new();
        common::in_place(|| byok_server::run_migrate_store(from, &db.url, &mut out))
            .map(|()| serde_json::from_slice::<Value>(&out).unwrap())
    };
    let busy = copy(&from).expect_err("the server holds the directory");
    assert!(format!("{busy:#}").contains("lock"), "{busy:#}");
    let elsewhere = tempfile::tempdir().unwrap();
    let wrong = copy(&format!("sqlite:{}", elsewhere.path().display())).unwrap_err();
    assert!(format!("{wrong:#}").contains("is missing"), "{wrong:#}");

    // Stopped, then copied.
    let common::Env {
        dir: _data,
        settings,
        server,
        mock,
        ..
    } = old;
    drop(server);
    // The stopped server's last handles on the directory go with its
    // worker threads, just after it returns.
    let started = std::time::Instant::now();
    let report = loop {
        match copy(&from) {
            Err(e) if format!("{e:#}").contains("is running") => {
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(10),
                    "{e:#}"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => break other.unwrap(),
        }
    };
    assert_eq!(report["users"], 1);
    assert_eq!(report["gateway_keys"], 2);
    assert_eq!(report["revoked_gateway_keys"], 1);
    assert_eq!(report["credentials"], 1);
    assert_eq!(report["ledger_entries"], 2, "the credit and the charge");
    assert_eq!(report["verified"], true);
    assert!(
        !format!("{report}").contains(&db.url),
        "no URL in the report"
    );
    let again = copy(&from).unwrap_err();
    assert!(format!("{again:#}").contains("not empty"), "{again:#}");

    // A gateway on PostgreSQL with the old instance's master key.
    let master_file = settings.data_dir.join("master.key");
    let dir = tempfile::tempdir().unwrap();
    let mut moved = Settings::for_data_dir(dir.path().join("data"));
    moved.database_url = Some(SecretString::from(db.url.clone()));
    moved.master_key_file = Some(master_file);
    moved.allow_insecure_upstreams = true;
    moved.upstreams = settings.upstreams.clone();
    let server = common::in_place(|| RunningServer::start(&moved)).unwrap();
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::new();
    let get =
        |path: &str, bearer: &str| http.get(format!("{base}{path}")).bearer_auth(bearer).send();
    let b: Value = get("/api/balance", &key)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            b["balance_usd"].as_str().unwrap().parse().unwrap(),
            b["reserved_usd"].as_str().unwrap().parse().unwrap()
        ),
        balance
    );
    let u: Value = get("/api/usage?limit=500", &key)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        u["data"].as_array().unwrap(),
        &usage,
        "the same usage, entry for entry"
    );
    assert_eq!(get("/api/balance", &revoked).await.unwrap().status(), 401);
    let before = mock.requests().len();
    let r = http
        .post(format!("{base}/api/v1/chat/completions"))
        .bearer_auth(&key)
        .header("x-byok-provider", "groq")
        .json(&chat_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the copied credential decrypts");
    let sent = mock.requests();
    assert_eq!(sent.len(), before + 1);
    assert_eq!(
        sent.last().unwrap().header("authorization"),
        Some(format!("Bearer {GROQ_KEY}").as_str())
    );
}
