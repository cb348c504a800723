//! End to end: retries and fallback (issue #17) across the user's own keys
//! and providers: the next provider of an `x-byok-provider` list, the next
//! model of the body's `models`, only after a retryable failure (401, 403,
//! 408, 429, 5xx, timeout, connection), never after the first byte reached
//! the client; one charge per request, on the attempt that answered; every
//! attempt listed in `/api/usage`; `x-byok-provider`, `x-byok-key-label`
//! and `x-byok-attempts` on the answer. Every protocol through the
//! pipeline falls back the same way.
//!
//! Each provider answers on its own path of the mock, with its own key:
//! which key a call used is read from the recorded request's headers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use byok_billing::Money;
use byok_testkit::{Reply, fixture};
use common::Env;
use serde_json::{Value, json};

/// Every provider on its own path of the mock.
const UPSTREAMS: &[(&str, &str)] = &[
    ("openai", "/openai/v1"),
    ("openai-responses", "/openai/v1"),
    ("anthropic", "/anthropic"),
    ("groq", "/groq"),
    ("together", "/together"),
    ("fireworks", "/fireworks"),
];

const GROQ_KEY: &str = "gsk-fallback-groq-0123456789abcdef";
const TOGETHER_KEY: &str = "tgp-fallback-together-0123456789abcdef";
const FIREWORKS_KEY: &str = "fw-fallback-fireworks-0123456789abcdef";
const OPENAI_KEY: &str = "sk-fallback-openai-0123456789abcdef";
const ANTHROPIC_KEY: &str = "sk-ant-fallback-0123456789abcdef";

const GROQ_MODEL: &str = "llama-3.3-70b-versatile";
const TOGETHER_MODEL: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";

/// A gateway and a user with 1 USD and a key for each provider.
async fn start() -> (Env, String) {
    start_with(|_| {}).await
}

/// [`start`] with the settings adjusted by `tune`.
async fn start_with(tune: impl FnOnce(&mut byok_server::Settings)) -> (Env, String) {
    let env = common::start(UPSTREAMS, tune).await;
    let (_, key) = env.cli_user("fallback", Some("1.00"));
    for (provider, secret) in [
        ("groq", GROQ_KEY),
        ("together", TOGETHER_KEY),
        ("fireworks", FIREWORKS_KEY),
        ("openai", OPENAI_KEY),
        ("openai-responses", OPENAI_KEY),
        ("anthropic", ANTHROPIC_KEY),
    ] {
        env.store(&key, provider, json!(secret)).await;
    }
    (env, key)
}

fn hello(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 50})
}

fn error(status: u16) -> Reply {
    Reply::json(
        status,
        format!(
            r#"{{"error":{{"message":"scripted {status}","type":"server_error","param":null,"code":null}}}}"#
        ),
    )
}

/// `(path, authorization, body)` of every upstream call, in order.
fn calls(env: &Env) -> Vec<(String, String, Value)> {
    env.mock
        .requests()
        .into_iter()
        .map(|r| {
            (
                r.path().to_owned(),
                r.header("authorization").unwrap_or("").to_owned(),
                serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// The user's one ledger entry, once committed (asserting there is exactly
/// one), the reservation gone and the balance down by its markup.
async fn one_charge(env: &Env, key: &str) -> Value {
    env.check_settled(key, 1, "1.00").await[0].clone()
}

/// No charge and no reservation left.
async fn no_charge(env: &Env, key: &str) {
    env.check_settled(key, 0, "1.00").await;
}

fn attempt(provider: &str, status: u16) -> Value {
    json!({"provider": provider, "label": "default", "status": status})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_provider_falls_to_the_next_provider_in_the_header_list() {
    let (env, key) = start().await;
    env.mock.on("POST", "/groq/chat/completions", error(500));
    env.mock.on(
        "POST",
        "/together/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    let r = env
        .post_via(
            &key,
            "/api/v1/chat/completions",
            "groq, together",
            &hello(GROQ_MODEL),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-provider"], "together");
    assert_eq!(r.headers()["x-byok-key-label"], "default");
    assert_eq!(r.headers()["x-byok-attempts"], "2");
    assert!(r.headers().contains_key("x-byok-markup-usd"));
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["object"], "chat.completion");

    // Each provider with its own key, the model unchanged.
    let calls = calls(&env);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].0, "/groq/chat/completions");
    assert_eq!(calls[0].1, format!("Bearer {GROQ_KEY}"));
    assert_eq!(calls[1].0, "/together/chat/completions");
    assert_eq!(calls[1].1, format!("Bearer {TOGETHER_KEY}"));
    assert_eq!(calls[0].2["model"], GROQ_MODEL);
    assert_eq!(calls[1].2["model"], GROQ_MODEL);

    let entry = one_charge(&env, &key).await;
    assert_eq!(entry["provider"], "together", "{entry}");
    assert_eq!(
        entry["attempts"],
        json!([attempt("groq", 500), attempt("together", 200)])
    );
    let metrics = env.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("byok_fallbacks_total{provider=\"groq\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("byok_upstream_attempts_total{provider=\"together\",outcome=\"answered\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_provider_falls_to_the_next_model_of_models() {
    let (env, key) = start().await;
    env.mock.on("POST", "/groq/chat/completions", error(503));
    env.mock
        .on("POST", "/together/chat/completions", error(500));
    env.mock.on(
        "POST",
        "/fireworks/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    let mut body = hello(&format!("groq/{GROQ_MODEL}"));
    body["models"] = json!([
        format!("together/{TOGETHER_MODEL}"),
        "fireworks/accounts/fireworks/models/llama-v3p3-70b-instruct",
    ]);
    let r = env.chat(&key, body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-provider"], "fireworks");
    assert_eq!(r.headers()["x-byok-attempts"], "3");

    // Each target with its own model; `models` never goes upstream.
    let calls = calls(&env);
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(calls[0].2["model"], GROQ_MODEL);
    assert_eq!(calls[1].2["model"], TOGETHER_MODEL);
    assert_eq!(calls[1].1, format!("Bearer {TOGETHER_KEY}"));
    assert_eq!(
        calls[2].2["model"],
        "accounts/fireworks/models/llama-v3p3-70b-instruct"
    );
    assert_eq!(calls[2].1, format!("Bearer {FIREWORKS_KEY}"));
    for (_, _, sent) in &calls {
        assert!(sent.get("models").is_none(), "{sent}");
    }

    // Charged once, on the model that answered.
    let entry = one_charge(&env, &key).await;
    assert_eq!(entry["provider"], "fireworks", "{entry}");
    assert_eq!(
        entry["model"], "accounts/fireworks/models/llama-v3p3-70b-instruct",
        "{entry}"
    );
    assert_eq!(
        entry["attempts"],
        json!([
            attempt("groq", 503),
            attempt("together", 500),
            attempt("fireworks", 200)
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_not_retried() {
    let (env, key) = start().await;
    for status in [400, 404, 413, 422] {
        env.mock.clear_requests();
        env.mock.on("POST", "/groq/chat/completions", error(status));
        env.mock.on(
            "POST",
            "/together/chat/completions",
            Reply::json(200, fixture("openai/chat_text.json")),
        );
        let mut body = hello(GROQ_MODEL);
        body["models"] = json!([format!("together/{TOGETHER_MODEL}")]);
        let r = env
            .post_via(&key, "/api/v1/chat/completions", "groq,together", &body)
            .await;
        assert!(r.status().is_client_error(), "{status}: {}", r.status());
        let answer: Value = r.json().await.unwrap();
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("scripted"),
            "{status}: the upstream's error is the answer: {answer}"
        );
        assert_eq!(calls(&env).len(), 1, "{status}: one upstream call");
    }
    no_charge(&env, &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_falls_back_and_when_every_attempt_fails_the_last_error_is_the_answer() {
    let (env, key) = start().await;
    env.mock.on(
        "POST",
        "/groq/chat/completions",
        error(429).header("retry-after", "7"),
    );
    env.mock.on(
        "POST",
        "/together/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    let r = env
        .post_via(
            &key,
            "/api/v1/chat/completions",
            "groq,together",
            &hello(GROQ_MODEL),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-provider"], "together");
    let entry = one_charge(&env, &key).await;
    assert_eq!(
        entry["attempts"],
        json!([attempt("groq", 429), attempt("together", 200)])
    );

    // Both fail: the last one's error (a 503 after a 429) is the answer,
    // nothing is charged.
    env.mock
        .on("POST", "/together/chat/completions", error(503));
    let r = env
        .post_via(
            &key,
            "/api/v1/chat/completions",
            "groq,together",
            &hello(GROQ_MODEL),
        )
        .await;
    assert_eq!(r.status(), 502, "the last attempt's error");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "upstream_503", "{answer}");
    // Released, not charged: once nothing is reserved, one read of the
    // usage (which waits for the user's queued charges) still shows only
    // the first request's entry.
    assert_eq!(env.reserved(&key).await, Money::ZERO);
    let usage = env.get_json("/api/usage", &key).await;
    assert_eq!(usage["data"].as_array().unwrap().len(), 1, "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_falls_back_before_its_first_byte_but_not_after() {
    let (env, key) = start().await;
    let stream = fixture("openai/stream_text.sse");
    // Before the first byte: the upstream refuses the stream.
    env.mock
        .on_streaming("POST", "/groq/chat/completions", error(500));
    env.mock
        .on_streaming("POST", "/together/chat/completions", Reply::sse(&stream));
    let mut body = hello(GROQ_MODEL);
    body["stream"] = json!(true);
    let r = env
        .post_via(&key, "/api/v1/chat/completions", "groq,together", &body)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-provider"], "together");
    assert_eq!(r.headers()["x-byok-attempts"], "2");
    let text = r.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let entry = one_charge(&env, &key).await;
    assert_eq!(
        entry["attempts"],
        json!([attempt("groq", 500), attempt("together", 200)])
    );

    // After the first bytes: the stream is cut; never retried.
    env.mock.clear_requests();
    env.mock.on_streaming(
        "POST",
        "/groq/chat/completions",
        Reply::sse_reset_after(&stream, 2),
    );
    let r = env
        .post_via(&key, "/api/v1/chat/completions", "groq,together", &body)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-provider"], "groq");
    assert_eq!(r.headers()["x-byok-attempts"], "1");
    let text = r.text().await.unwrap();
    assert!(text.contains("\"error\""), "the stream's own error: {text}");
    let calls = calls(&env);
    assert_eq!(
        calls.len(),
        1,
        "no second call after the first bytes: {calls:?}"
    );
    let rows = env.usage_rows(&key, 2).await;
    assert_eq!(rows[0]["provider"], "groq");
    assert_eq!(rows[0]["attempts"], json!([attempt("groq", 200)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_falls_back_through_the_pipeline() {
    let (env, key) = start().await;
    // Embeddings (pass-through): OpenAI fails, Together answers.
    env.mock.on("POST", "/openai/v1/embeddings", error(502));
    env.mock.on(
        "POST",
        "/together/embeddings",
        Reply::json(200, fixture("openai/embeddings.json")),
    );
    let body = json!({"model": "text-embedding-3-small", "input": "hello", "models": ["together/BAAI/bge-large-en-v1.5"]});
    let r = env.post(&key, "/api/v1/embeddings", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-provider"], "together");
    assert_eq!(r.headers()["x-byok-attempts"], "2");
    let sent = env.mock.last_request().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {TOGETHER_KEY}").as_str())
    );
    let sent: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        sent,
        json!({"model": "BAAI/bge-large-en-v1.5", "input": "hello"})
    );

    // Messages, translated: Groq is rate limited, Together answers in
    // Anthropic's shape.
    env.mock.on("POST", "/groq/chat/completions", error(429));
    env.mock.on(
        "POST",
        "/together/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    let body = json!({"model": format!("groq/{GROQ_MODEL}"), "max_tokens": 64, "models": [format!("together/{TOGETHER_MODEL}")], "messages": [{"role": "user", "content": "Hello"}]});
    let r = env.post(&key, "/api/v1/messages", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-provider"], "together");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["type"], "message", "{answer}");
    let sent: Value = serde_json::from_slice(&env.mock.last_request().unwrap().body).unwrap();
    assert_eq!(sent["model"], TOGETHER_MODEL);
    assert!(sent.get("models").is_none(), "{sent}");

    // Responses, translated.
    let body = json!({"model": GROQ_MODEL, "input": "Hello"});
    let r = env
        .post_via(&key, "/api/v1/responses", "groq,together", &body)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-provider"], "together");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["object"], "response", "{answer}");

    // One charge per request, each listing its attempts.
    let rows = env.usage_rows(&key, 3).await;
    let usage = json!(rows);
    for row in &rows {
        assert_eq!(row["provider"], "together", "{row}");
    }
    assert_eq!(rows[2]["attempts"].as_array().unwrap().len(), 2, "{usage}");
    assert_eq!(rows[2]["attempts"][0], attempt("openai", 502));
    assert_eq!(rows[1]["attempts"].as_array().unwrap().len(), 2, "{usage}");
    assert_eq!(rows[1]["attempts"][0], attempt("groq", 429));
    // The 429 put groq's only key in cooling_down: the next request skips
    // it and goes straight to together (one upstream call).
    assert_eq!(rows[0]["attempts"].as_array().unwrap().len(), 1, "{usage}");
    assert_eq!(rows[0]["attempts"][0]["provider"], "together", "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_through_falls_back_only_to_its_own_protocol() {
    let (env, key) = start().await;
    env.mock.on(
        "POST",
        "/groq/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    // A Responses body goes to `openai-responses` as sent, but for
    // `models`; Groq (translated) is no pass-through target: the 500 is
    // the answer.
    env.mock.on("POST", "/openai/v1/responses", error(500));
    let body =
        json!({"model": "gpt-4o-mini", "input": "Hello", "models": [format!("groq/{GROQ_MODEL}")]});
    let r = env
        .post_via(&key, "/api/v1/responses", "openai-responses,groq", &body)
        .await;
    assert_eq!(r.status(), 502);
    let sent = calls(&env);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "/openai/v1/responses");
    assert_eq!(sent[0].2, json!({"model": "gpt-4o-mini", "input": "Hello"}));

    // Anthropic Messages passed through: a 529 falls to the next
    // Anthropic model of `models`, forwarded with that model and without
    // `models`; the translated target in between is skipped.
    env.mock.clear_requests();
    env.mock.on_sequence(
        "POST",
        "/anthropic/v1/messages",
        vec![
            Reply::json(529, fixture("anthropic/error_529.json")),
            Reply::json(200, fixture("anthropic/message_text.json")),
        ],
    );
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "models": [format!("groq/{GROQ_MODEL}"), "anthropic/claude-haiku-4-5"], "messages": [{"role": "user", "content": "Hello"}]});
    let r = env.post(&key, "/api/v1/messages", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-provider"], "anthropic");
    assert_eq!(r.headers()["x-byok-attempts"], "2");
    assert_eq!(
        r.text().await.unwrap(),
        fixture("anthropic/message_text.json")
    );
    let calls = calls(&env);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].2["model"], "claude-sonnet-4-5");
    assert_eq!(calls[1].2["model"], "claude-haiku-4-5");
    for (path, _, sent) in &calls {
        assert_eq!(path, "/anthropic/v1/messages");
        assert!(sent.get("models").is_none(), "{sent}");
    }
    let rows = env.usage_rows(&key, 1).await;
    assert_eq!(
        rows[0]["attempts"],
        json!([attempt("anthropic", 529), attempt("anthropic", 200)])
    );
    assert_eq!(env.reserved(&key).await, Money::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_targets_are_only_the_users_own_providers() {
    let (env, key) = start().await;
    env.mock.on("POST", "/groq/chat/completions", error(500));
    // A provider the user holds no key for is refused, not tried.
    let r = env
        .post_via(
            &key,
            "/api/v1/chat/completions",
            "groq,deepseek",
            &hello(GROQ_MODEL),
        )
        .await;
    assert_eq!(r.status(), 400);
    let mut body = hello(GROQ_MODEL);
    body["models"] = json!("together/x");
    let r = env
        .post_via(&key, "/api/v1/chat/completions", "groq", &body)
        .await;
    assert_eq!(r.status(), 400, "models must be a list");
    assert!(env.mock.requests().is_empty());
    no_charge(&env, &key).await;
}

/// Key-level fallback within one provider: a rate-limited key falls to the
/// provider's next key (by priority), and is skipped while it cools down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_key_a_429_key_falls_to_the_next_key_of_the_same_provider() {
    let (env, key) = start().await;
    let second = "gsk-fallback-groq-second-0123456789abcdef";
    let r = env
        .put_key(&key, "groq/second", json!({"key": second, "priority": 1}))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // The mock answers by key: the default key is rate limited, the
    // second answers.
    let path = "/groq/chat/completions";
    env.mock.on_header(
        "POST",
        path,
        "authorization",
        &format!("Bearer {GROQ_KEY}"),
        error(429).header("retry-after", "30"),
    );
    env.mock.on_header(
        "POST",
        path,
        "authorization",
        &format!("Bearer {second}"),
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    let r = env
        .post_via(&key, "/api/v1/chat/completions", "groq", &hello(GROQ_MODEL))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-provider"], "groq");
    assert_eq!(r.headers()["x-byok-key-label"], "second");
    assert_eq!(r.headers()["x-byok-attempts"], "2");
    let calls = calls(&env);
    assert_eq!(calls[0].1, format!("Bearer {GROQ_KEY}"));
    assert_eq!(calls[1].1, format!("Bearer {second}"));
    let entry = one_charge(&env, &key).await;
    assert_eq!(
        entry["attempts"],
        json!([
            attempt("groq", 429),
            {"provider": "groq", "label": "second", "status": 200}
        ])
    );
    // The cooling key is skipped next time: one upstream call (the
    // default key would still answer 429).
    env.mock.clear_requests();
    let r = env
        .post_via(&key, "/api/v1/chat/completions", "groq", &hello(GROQ_MODEL))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-key-label"], "second");
    assert_eq!(env.mock.requests().len(), 1);
}

/// One client request of the concurrency test: when it was sent, when its
/// answer was read, its status, request id and answering key.
#[derive(Debug, Clone)]
struct Sent {
    start: std::time::Instant,
    end: std::time::Instant,
    status: u16,
    request_id: String,
    label: String,
}

/// Sends chat requests to groq from `workers` tasks until `stop`.
fn load(
    env: &std::sync::Arc<Env>,
    key: &str,
    workers: usize,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<Sent>>> {
    (0..workers)
        .map(|_| {
            let (env, key, stop) = (env.clone(), key.to_owned(), stop.clone());
            tokio::spawn(async move {
                let mut sent = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let start = std::time::Instant::now();
                    let r = env
                        .post_via(&key, "/api/v1/chat/completions", "groq", &hello(GROQ_MODEL))
                        .await;
                    let header = |n: &str| {
                        r.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    let (status, request_id, label) = (
                        r.status().as_u16(),
                        header("x-request-id"),
                        header("x-byok-key-label"),
                    );
                    let _ = r.bytes().await.unwrap();
                    sent.push(Sent {
                        start,
                        end: std::time::Instant::now(),
                        status,
                        request_id,
                        label,
                    });
                }
                sent
            })
        })
        .collect()
}

/// The earliest answer of a request whose attempts include `label` with
/// `status`: by then the server had marked that key.
fn first_seen(
    sent: &[Sent],
    attempts: &std::collections::HashMap<String, Value>,
    label: &str,
    status: u16,
) -> Option<std::time::Instant> {
    sent.iter()
        .filter(|s| {
            attempts[&s.request_id]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["label"] == label && a["status"] == status)
        })
        .map(|s| s.end)
        .min()
}

/// Issue #17's concurrency test: many parallel requests while the mock,
/// answering by key, flips keys between states. The default key starts
/// answering 401 (invalid), then `second` 429 (cooling down), then the
/// default key is fixed and verified. Checked from the outside: every
/// request answered once and charged once (its request id in the ledger
/// exactly once, entries == answers, balance == credit − charges); no
/// request sent after an answer showed a key's 401 tried that key again
/// (until the verify cleared it), none sent after a 429 answer tried the
/// cooling key, and requests sent after the verify answer use the default
/// key again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_flipping_state_under_parallel_requests() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    // No per-user rate limit: the load is the point.
    let (env, key) = start_with(|s| s.rate_limit_rpm = 0).await;
    let (second, third) = (
        "gsk-concurrency-second-0123456789abcdef",
        "gsk-concurrency-third-0123456789abcdef",
    );
    for (label, secret, priority) in [("second", second, 1), ("third", third, 2)] {
        let r = env
            .put_key(
                &key,
                &format!("groq/{label}"),
                json!({"key": secret, "priority": priority}),
            )
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let path = "/groq/chat/completions";
    let answer = |secret: &str, reply: Reply| {
        env.mock.on_header(
            "POST",
            path,
            "authorization",
            &format!("Bearer {secret}"),
            reply,
        );
    };
    let ok = || Reply::json(200, fixture("openai/chat_text.json"));
    for secret in [GROQ_KEY, second, third] {
        answer(secret, ok());
    }
    env.mock.on(
        "GET",
        "/groq/models",
        Reply::json(200, fixture("openai/models.json")),
    );

    let env = std::sync::Arc::new(env);
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let workers = load(&env, &key, 12, &stop);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let env2 = env.clone();
    let answer = |secret: &str, reply: Reply| {
        env2.mock.on_header(
            "POST",
            path,
            "authorization",
            &format!("Bearer {secret}"),
            reply,
        );
    };
    answer(GROQ_KEY, error(401));
    tokio::time::sleep(Duration::from_millis(400)).await;
    answer(second, error(429).header("retry-after", "120"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    answer(GROQ_KEY, ok());
    // The verify clears the mark somewhere between being sent and being
    // answered: the "never used while marked" check ends where it starts.
    let verify_sent = Instant::now();
    let r = env
        .call("POST", "/api/byok/credentials/groq/default/verify", &key)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"ok": true}));
    let verified = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut sent = Vec::new();
    for w in workers {
        sent.extend(w.await.unwrap());
    }

    // Every request answered, each charged exactly once.
    assert!(sent.len() > 40, "only {} requests", sent.len());
    assert!(sent.iter().all(|s| s.status == 200), "{sent:?}");
    // One entry per answered request, nothing reserved, the balance down
    // by exactly the charges.
    let rows = env.check_settled(&key, sent.len(), "1.00").await;
    let attempts: std::collections::HashMap<String, Value> = rows
        .iter()
        .map(|r| {
            (
                r["request_id"].as_str().unwrap().to_owned(),
                r["attempts"].clone(),
            )
        })
        .collect();
    assert_eq!(attempts.len(), rows.len(), "a request id charged twice");
    assert_eq!(rows.len(), sent.len(), "one entry per answered request");
    assert!(sent.iter().all(|s| attempts.contains_key(&s.request_id)));

    // The answering key is the last attempt's, and it answered 200.
    for s in &sent {
        let last = attempts[&s.request_id]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["label"], s.label.as_str(), "{s:?}: {last}");
        assert_eq!(last["status"], 200);
    }
    let tried = |s: &Sent, label: &str| {
        attempts[&s.request_id]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["label"] == label)
    };
    // Invalid: after the first answer showing default's 401, no request
    // that ended before the verify was sent tried it.
    let invalid = first_seen(&sent, &attempts, "default", 401).expect("a 401 was seen");
    for s in sent
        .iter()
        .filter(|s| s.start > invalid && s.end < verify_sent)
    {
        assert!(
            !tried(s, "default"),
            "invalid key used after marking: {s:?}"
        );
    }
    // Cooling down: after the first answer showing second's 429, no
    // request tried it again (retry-after outlives the test).
    let cooling = first_seen(&sent, &attempts, "second", 429).expect("a 429 was seen");
    for s in sent.iter().filter(|s| s.start > cooling) {
        assert!(!tried(s, "second"), "cooling key used: {s:?}");
    }
    // Verified: requests sent after the verify answered use default again.
    let after: Vec<&Sent> = sent.iter().filter(|s| s.start > verified).collect();
    assert!(!after.is_empty());
    assert!(after.iter().all(|s| s.label == "default"), "{after:?}");
    // Between the phases, the keys answered in priority order.
    assert!(sent.iter().any(|s| s.label == "third"));
}
