//! End to end over HTTP: several keys per provider (contract v2): labels
//! and priorities, the list with each key's health, deletion of one key or
//! all of a provider's, verify per key (a 401 marks a key invalid, a pass
//! clears it), label rules, the keys gauge, and single-key data written by
//! the previous release read as the label `default`. No key is ever
//! echoed.
#![allow(clippy::unwrap_used, clippy::panic)] // test code

mod common;

use byok_server::{RunningServer, Settings, UserCommand};
use byok_testkit::{Reply, fixture};
use byok_vault::secrecy::SecretString;
use byok_vault::{Hint, PutOptions};
use common::Env;
use serde_json::{Value, json};

const WORK: &str = "sk-work-CANARY-0123456789abcdefWXYZ";
const HOME: &str = "sk-home-CANARY-0123456789abcdefQRST";
const OLD: &str = "sk-old-CANARY-0123456789abcdefOLD1";
const TAVILY: &str = "tvly-CANARY-0123456789abcdefTAVY";

/// The list's entries as `(provider, label, priority, status)`.
async fn listed(env: &Env, key: &str) -> (Vec<(String, String, i64, String)>, Value) {
    let list = env.get_json("/api/byok/credentials", key).await;
    let rows = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["provider"].as_str().unwrap().to_owned(),
                c["label"].as_str().unwrap().to_owned(),
                c["priority"].as_i64().unwrap(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (rows, list)
}

fn row(p: &str, l: &str, prio: i64, s: &str) -> (String, String, i64, String) {
    (p.into(), l.into(), prio, s.into())
}

/// Every test key, for [`common::no_fragment`].
const KEYS: [&str; 4] = [WORK, HOME, OLD, TAVILY];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_keys_are_stored_listed_and_deleted() {
    let env = common::start(&[("openai", "/v1")], |_| {}).await;
    let (_, key) = env.admin_user("keys", "1.00").await;

    let r = env
        .put_key(&key, "openai/work", json!({"key": WORK, "priority": 2}))
        .await;
    assert_eq!(r.status(), 200);
    let view: Value = r.json().await.unwrap();
    common::no_fragment(&KEYS, view.to_string());
    assert_eq!(view["provider"], "openai", "{view}");
    assert_eq!(view["label"], "work");
    assert_eq!(view["priority"], 2);
    assert_eq!(view["last4"], "WXYZ");
    assert_eq!(view["status"], "ok");
    assert_eq!(
        view["meta"],
        json!({}),
        "no priority or kind in meta: {view}"
    );
    for field in ["cooldown_until", "last_used_at", "last_error"] {
        assert!(view[field].is_null(), "{field}: {view}");
    }
    // The v1 path is the label `default`; priority defaults to 0.
    env.store(&key, "openai", json!(HOME)).await;
    let r = env
        .put_key(&key, "openai/spare", json!({"key": HOME, "priority": -1}))
        .await;
    assert_eq!(r.status(), 200);
    env.store(&key, "tavily", json!(TAVILY)).await;

    let (rows, list) = listed(&env, &key).await;
    common::no_fragment(&KEYS, list.to_string());
    assert_eq!(
        rows,
        [
            row("openai", "spare", -1, "ok"),
            row("openai", "default", 0, "ok"),
            row("openai", "work", 2, "ok"),
            row("tavily", "default", 0, "ok"),
        ]
    );

    // Only the priority: the stored key is kept.
    let r = env
        .put_key(&key, "openai/work", json!({"priority": -5}))
        .await;
    assert_eq!(r.status(), 200);
    let view: Value = r.json().await.unwrap();
    assert_eq!(
        (view["priority"].as_i64(), view["last4"].as_str()),
        (Some(-5), Some("WXYZ"))
    );
    let r = env
        .put_key(&key, "openai/nothing", json!({"priority": 1}))
        .await;
    assert_eq!(r.status(), 404);

    // The routing of a chat still sees the provider.
    env.answer_chat_text();
    let r = env
        .chat(
            &key,
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);

    // One key, then all of a provider's.
    assert_eq!(
        env.call("DELETE", "/api/byok/credentials/openai/spare", &key)
            .await
            .status(),
        204
    );
    assert_eq!(
        env.call("DELETE", "/api/byok/credentials/openai/spare", &key)
            .await
            .status(),
        404
    );
    let (rows, _) = listed(&env, &key).await;
    assert_eq!(
        rows,
        [
            row("openai", "work", -5, "ok"),
            row("openai", "default", 0, "ok"),
            row("tavily", "default", 0, "ok"),
        ]
    );
    assert_eq!(
        env.call("DELETE", "/api/byok/credentials/openai", &key)
            .await
            .status(),
        204
    );
    assert_eq!(
        env.call("DELETE", "/api/byok/credentials/openai", &key)
            .await
            .status(),
        404
    );
    let (rows, _) = listed(&env, &key).await;
    assert_eq!(rows, [row("tavily", "default", 0, "ok")]);
    let r = env
        .chat(
            &key,
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status(), 400, "no key left for openai");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_and_bodies_are_checked() {
    let env = common::start(&[("openai", "/v1")], |_| {}).await;
    let (_, key) = env.admin_user("labels", "1.00").await;
    let long = "x".repeat(33);
    for label in ["Work", "a.b", "verify", long.as_str(), "%20"] {
        let r = env
            .put_key(&key, &format!("openai/{label}"), json!({"key": WORK}))
            .await;
        assert_eq!(r.status(), 400, "{label}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["param"], "label", "{label}: {body}");
    }
    let r = env
        .put_key(
            &key,
            &format!("openai/{}", "x".repeat(32)),
            json!({"key": WORK}),
        )
        .await;
    assert_eq!(r.status(), 200);
    for body in [
        json!({"key": WORK, "priority": "high"}),
        json!({"key": WORK, "priority": 1.5}),
        json!({}),
    ] {
        let r = env.put_key(&key, "openai/work", body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        common::no_fragment(&KEYS, r.text().await.unwrap());
    }
    let r = env
        .put_key(&key, "tavily/second", json!({"key": TAVILY}))
        .await;
    assert_eq!(r.status(), 400, "a search provider takes one key");
    let r = env.put_key(&key, "nope/work", json!({"key": WORK})).await;
    assert_eq!(r.status(), 404);
    let r = env
        .put_key(&key, "openai/work", json!({"key": "bad key with spaces"}))
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        env.call("DELETE", "/api/byok/credentials/openai/Bad", &key)
            .await
            .status(),
        400
    );
    assert_eq!(
        env.call("POST", "/api/byok/credentials/openai/work/verify", &key)
            .await
            .status(),
        404
    );
    let r = env
        .http
        .put(env.url("/api/byok/credentials/openai/work"))
        .json(&json!({"key": WORK}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_marks_a_refused_key_invalid_and_a_pass_clears_it() {
    let env = common::start(&[("openai", "/v1")], |_| {}).await;
    let (_, key) = env.admin_user("verify", "1.00").await;
    env.store(&key, "openai", json!(HOME)).await;
    let r = env
        .put_key(&key, "openai/work", json!({"key": WORK, "priority": 1}))
        .await;
    assert_eq!(r.status(), 200);

    env.mock.on(
        "GET",
        "/v1/models",
        Reply::json(
            401,
            fixture("openai/error_401.json").replace("{{KEY}}", WORK),
        ),
    );
    let r = env
        .call("POST", "/api/byok/credentials/openai/work/verify", &key)
        .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("\"ok\":false"), "{text}");
    common::no_fragment(&KEYS, &text);
    assert_eq!(
        env.mock.last_request().unwrap().header("authorization"),
        Some(format!("Bearer {WORK}").as_str()),
        "the labelled key was the one verified"
    );
    let (rows, list) = listed(&env, &key).await;
    common::no_fragment(&KEYS, list.to_string());
    assert_eq!(
        rows,
        [
            row("openai", "default", 0, "ok"),
            row("openai", "work", 1, "invalid")
        ]
    );
    let work = &list["data"][1];
    assert!(
        work["last_error"].as_str().unwrap().contains("401"),
        "{work}"
    );
    let metrics = env.get("/metrics").await.text().await.unwrap();
    for line in [
        "byok_keys{provider=\"openai\",status=\"invalid\"} 1",
        "byok_keys{provider=\"openai\",status=\"ok\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }

    // The v1 path verifies `default`.
    env.mock.on(
        "GET",
        "/v1/models",
        Reply::json(200, fixture("openai/models.json")),
    );
    let v: Value = env
        .call("POST", "/api/byok/credentials/openai/verify", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"ok": true}));
    assert_eq!(
        env.mock.last_request().unwrap().header("authorization"),
        Some(format!("Bearer {HOME}").as_str())
    );
    let (rows, _) = listed(&env, &key).await;
    assert_eq!(
        rows[1].3, "invalid",
        "verifying default leaves work as it was"
    );

    // A pass clears invalid (and its error).
    let v: Value = env
        .call("POST", "/api/byok/credentials/openai/work/verify", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"ok": true}));
    let (rows, list) = listed(&env, &key).await;
    assert_eq!(rows[1].3, "ok");
    assert!(list["data"][1]["last_error"].is_null(), "{list}");

    // Replacing a key clears it too.
    env.mock.on(
        "GET",
        "/v1/models",
        Reply::json(403, fixture("openai/error_403.json")),
    );
    let v: Value = env
        .call("POST", "/api/byok/credentials/openai/work/verify", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(listed(&env, &key).await.0[1].3, "invalid");
    let r = env
        .put_key(&key, "openai/work", json!({"key": OLD, "priority": 1}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(listed(&env, &key).await.0[1].3, "ok");
}

/// A data directory written by the single-key release (the vault name is
/// the provider id, metadata `{"kind"}`, the hint from the key) keeps
/// working: its keys are the label `default`, priority 0, usable for chat,
/// beside new labelled keys, across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_key_data_of_the_previous_release_is_the_label_default() {
    let mock = byok_testkit::MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_data_dir(dir.path().join("data"));
    settings.allow_insecure_upstreams = true;
    settings.admin_token = Some(common::ADMIN.into());
    settings
        .upstreams
        .insert("openai".into(), format!("{}/v1", mock.base_url()));

    // What the previous release wrote: a user, then PUT openai and tavily.
    let mut out = Vec::new();
    byok_server::run_user_command(
        &settings,
        &UserCommand::Create {
            name: "old".into(),
            credit_usd: Some("1.00".into()),
        },
        &mut out,
    )
    .unwrap();
    let created: Value = serde_json::from_slice(&out).unwrap();
    let (user_id, key) = (
        created["user_id"].as_str().unwrap().to_owned(),
        created["api_key"].as_str().unwrap().to_owned(),
    );
    {
        let vault = byok_server::open_vault(&settings).unwrap().vault;
        for (name, secret, kind) in [("openai", OLD, "chat"), ("tavily", TAVILY, "search")] {
            let options = PutOptions::new()
                .metadata(json!({"kind": kind}))
                .hint(Hint::From(SecretString::from(secret)));
            vault
                .put(&user_id, name, &SecretString::from(secret), options)
                .unwrap();
        }
    }

    let env = Env {
        server: RunningServer::start(&settings).unwrap(),
        dir,
        settings,
        mock,
        http: reqwest::Client::new(),
    };
    let (rows, list) = listed(&env, &key).await;
    common::no_fragment(&KEYS, list.to_string());
    assert_eq!(
        rows,
        [
            row("openai", "default", 0, "ok"),
            row("tavily", "default", 0, "ok")
        ]
    );
    assert_eq!(list["data"][0]["last4"], "OLD1");
    env.answer_chat_text();
    let r = env
        .chat(
            &key,
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        env.mock.last_request().unwrap().header("authorization"),
        Some(format!("Bearer {OLD}").as_str())
    );
    let r = env
        .put_key(&key, "openai/work", json!({"key": WORK, "priority": 3}))
        .await;
    assert_eq!(r.status(), 200);

    // After a restart, as before.
    let Env {
        server,
        dir,
        settings,
        mock,
        http,
    } = env;
    drop(server);
    let env = Env {
        server: RunningServer::start(&settings).unwrap(),
        dir,
        settings,
        mock,
        http,
    };
    let (rows, _) = listed(&env, &key).await;
    assert_eq!(
        rows,
        [
            row("openai", "default", 0, "ok"),
            row("openai", "work", 3, "ok"),
            row("tavily", "default", 0, "ok")
        ]
    );
    assert_eq!(
        env.call("DELETE", "/api/byok/credentials/openai", &key)
            .await
            .status(),
        204
    );
    assert_eq!(
        listed(&env, &key).await.0,
        [row("tavily", "default", 0, "ok")]
    );
}

/// `count_tokens` uses the keys as a request does: a user whose only
/// Anthropic key is labelled is counted with it, and a key marked invalid
/// is passed over for the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_tokens_uses_labelled_keys_and_their_health() {
    const ANT_WORK: &str = "sk-ant-work-CANARY-0123456789abcdef";
    const ANT_HOME: &str = "sk-ant-home-CANARY-0123456789abcdef";
    let env = common::start(&[("anthropic", "")], |_| {}).await;
    let (_, key) = env.admin_user("count", "1.00").await;
    let r = env
        .put_key(
            &key,
            "anthropic/work",
            json!({"key": ANT_WORK, "priority": 0}),
        )
        .await;
    assert_eq!(r.status(), 200);
    env.mock.on(
        "POST",
        "/v1/messages/count_tokens",
        Reply::json(200, r#"{"input_tokens":14}"#),
    );
    let count =
        json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hello"}]});
    let r = env
        .post(&key, "/api/v1/messages/count_tokens", &count)
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(r.headers()["x-byok-key-label"], "work");
    assert_eq!(
        env.mock.last_request().unwrap().header("x-api-key"),
        Some(ANT_WORK)
    );

    // The work key marked invalid (a verify refused): the home key counts.
    let r = env
        .put_key(
            &key,
            "anthropic/home",
            json!({"key": ANT_HOME, "priority": 1}),
        )
        .await;
    assert_eq!(r.status(), 200);
    env.mock.on(
        "GET",
        "/v1/models",
        Reply::json(401, fixture("anthropic/error_401.json")),
    );
    let r = env
        .call("POST", "/api/byok/credentials/anthropic/work/verify", &key)
        .await;
    assert_eq!(r.status(), 200);
    let r = env
        .post(&key, "/api/v1/messages/count_tokens", &count)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-key-label"], "home");
    assert_eq!(
        env.mock.last_request().unwrap().header("x-api-key"),
        Some(ANT_HOME)
    );
}
