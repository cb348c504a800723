//! End to end: admin API, limits, metrics, models, verify, search-augmented
//! chat, and the canary over error paths (no key in any answer).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::Duration;

use byok_server::Settings;
use byok_testkit::{Reply, fixture};
use common::Env;
use serde_json::{Value, json};

const CANARY: &str = "sk-CANARY-Qm7nB3vC9xZ1lK5jH8gF2dS4aP6";

/// The mock answers as OpenAI and Exa.
const UPSTREAMS: &[(&str, &str)] = &[("openai", "/v1"), ("exa", "")];

async fn env(tune: impl FnOnce(&mut Settings)) -> Env {
    common::start(UPSTREAMS, tune).await
}

/// A user with `credit` USD and the canary as their OpenAI key:
/// `(user_id, api_key)`.
async fn canary_user(env: &Env, credit: &str) -> (String, String) {
    let (id, key) = env.admin_user("bob", credit).await;
    env.store(&key, "openai", json!(CANARY)).await;
    (id, key)
}

/// Every log line of this test process, captured from `tracing`.
static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct Capture;
impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(|| Capture)
        .with_ansi(false)
        .try_init();
}

fn hello(stream: bool) -> Value {
    json!({"model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": "What is Tokio?"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_metrics_models_and_verify() {
    let env = env(|_| {}).await;
    let r = env
        .post("wrong", "/api/admin/users", &json!({"name": "x"}))
        .await;
    assert_eq!(r.status(), 401);
    let (_, key) = canary_user(&env, "2.50").await;
    let b: Value = env.get_json("/api/balance", &key).await;
    assert_eq!(b["balance_usd"], "2.50");

    let models: Value = env.get_json("/api/v1/models", &key).await;
    assert_eq!(models["object"], "list");
    assert!(
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "openai/gpt-4o-mini")
    );

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
    env.mock.on(
        "GET",
        "/v1/models",
        Reply::json(
            401,
            fixture("openai/error_401.json").replace("{{KEY}}", CANARY),
        ),
    );
    let r = env
        .call("POST", "/api/byok/credentials/openai/verify", &key)
        .await;
    let text = r.text().await.unwrap();
    assert!(text.contains("\"ok\":false"), "{text}");
    common::no_fragment(&[CANARY], &text);
    // The failed verify marks the key invalid (it is skipped until a
    // verify passes or it is replaced); replacing it clears that.
    let listed = env.get_json("/api/byok/credentials", &key).await;
    let openai = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "openai")
        .unwrap();
    assert_eq!(openai["status"], "invalid", "{listed}");
    common::no_fragment(&[CANARY], listed.to_string());
    assert_eq!(env.chat(&key, hello(false)).await.status(), 400);
    env.store(&key, "openai", json!(CANARY)).await;

    env.answer_chat_text();
    assert_eq!(env.chat(&key, hello(false)).await.status(), 200);
    let metrics = env.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .contains("byok_requests_total{route=\"/api/v1/chat/completions\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("byok_tokens_total{provider=\"openai\",kind=\"prompt\"} 2006"));
    common::no_fragment(&[CANARY], &metrics);
    let r = env.get("/no/such/route").await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("\"error\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits() {
    let env = env(|s| {
        s.rate_limit_rpm = 3;
        s.max_body_bytes = 4096;
    })
    .await;
    let (_, key) = canary_user(&env, "1.00").await;
    env.answer_chat_text();
    let big = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x".repeat(10_000)}]});
    let r = env.chat(&key, big).await;
    assert_eq!(r.status(), 413);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("\"type\":\"invalid_request_error\"")
    );
    let r = env
        .put_credential(&key, "groq", json!("k".repeat(9000)))
        .await;
    assert_eq!(r.status(), 413);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(env.chat(&key, hello(false)).await);
    }
    let last = statuses.pop().unwrap();
    assert!(statuses.iter().all(|r| r.status() == 200));
    assert_eq!(last.status(), 429);
    assert!(last.headers().get("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_models_get_cited_search_context() {
    let env = env(|_| {}).await;
    let (_, key) = canary_user(&env, "1.00").await;
    env.store(&key, "exa", json!("exa-key-0123456789abcdef"))
        .await;
    env.mock.on(
        "POST",
        "/search",
        Reply::json(200, fixture("search/exa_search.json")),
    );
    env.answer_chat_text();
    let mut body = hello(false);
    body["model"] = json!("gpt-4o-mini:online");
    let r = env.chat(&key, body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["citations"][0]["url"], "https://tokio.rs/");
    let sent: Value = serde_json::from_slice(&env.mock.last_request().unwrap().body).unwrap();
    assert_eq!(sent["model"], "gpt-4o-mini", ":online is not sent upstream");
    assert!(
        sent["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("[1] Tokio")
    );
    assert!(sent.get("web_search").is_none());
    let search: Value = serde_json::from_slice(
        &env.mock
            .requests()
            .iter()
            .find(|r| r.path() == "/search")
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(search["query"], "What is Tokio?");

    // Streamed: the first chunk carries the citations as a top-level
    // member, as the non-streamed answer does.
    env.mock.on_streaming(
        "POST",
        "/v1/chat/completions",
        Reply::sse(&fixture("openai/stream_text.sse")),
    );
    let mut body = hello(true);
    body["model"] = json!("gpt-4o-mini:online");
    let r = env.chat(&key, body).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(chunks.len() > 2);
    assert_eq!(chunks[0]["citations"][0]["url"], "https://tokio.rs/");
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["role"], "assistant",
        "the first chunk keeps its own members"
    );
    assert!(
        chunks[1..].iter().all(|c| c.get("citations").is_none()),
        "sent once"
    );

    let mut body = hello(false);
    body["web_search"] = json!({"provider": "openai"});
    assert_eq!(
        env.chat(&key, body).await.status(),
        400,
        "a chat provider is not a search provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_never_leaves_through_error_paths() {
    capture_logs();
    let env = env(|s| {
        s.upstreams
            .insert("groq".into(), "http://127.0.0.1:9/openai/v1".into())
            .map(drop)
            .unwrap_or(())
    })
    .await;
    let (_, key) = canary_user(&env, "1.00").await;
    env.store(&key, "groq", json!(CANARY)).await;
    let echo = fixture("openai/error_401.json").replace("{{KEY}}", CANARY);
    let cases: Vec<(Reply, bool, u16)> = vec![
        (Reply::json(401, echo.clone()), false, 502),
        (Reply::json(401, echo), true, 502),
        (
            Reply::json(429, fixture("openai/error_429.json")).header("retry-after", "3"),
            false,
            429,
        ),
        (
            Reply::json(
                500,
                format!("{{\"error\":{{\"message\":\"internal failure for {CANARY}\"}}}}"),
            ),
            false,
            502,
        ),
        (Reply::json(200, "{not json"), false, 502),
        (
            Reply::json(404, fixture("openai/error_404.json")),
            false,
            400,
        ),
        (
            Reply::sse(
                &fixture("openai/stream_openrouter_error.sse")
                    .replace("sk-proj-Zx9yW8vU7tS6rQ5pO4nM3lK2", CANARY),
            ),
            true,
            200,
        ),
        (
            Reply::sse_reset_after(&fixture("openai/stream_text.sse"), 3),
            true,
            200,
        ),
    ];
    for (i, (reply, stream, status)) in cases.into_iter().enumerate() {
        // A 401 marks the key invalid and a 429 cools it down: each case
        // starts from a freshly stored key.
        env.store(&key, "openai", json!(CANARY)).await;
        env.answer_chat(reply);
        let r = env.chat(&key, hello(stream)).await;
        assert_eq!(r.status(), status, "case {i}");
        let headers = format!("{:?}", r.headers());
        let text = r.text().await.unwrap_or_default();
        common::no_fragment(&[CANARY], &text);
        common::no_fragment(&[CANARY], &headers);
    }
    // Connection refused upstream (groq points at a closed port).
    let mut body = hello(false);
    body["model"] = json!("groq/llama-3.3-70b-versatile");
    let r = env.chat(&key, body).await;
    assert_eq!(r.status(), 502);
    common::no_fragment(&[CANARY], r.text().await.unwrap());
    // Usage rows carry no key either.
    for path in ["/api/usage", "/api/byok/credentials"] {
        common::no_fragment(
            &[CANARY],
            env.call("GET", path, &key).await.text().await.unwrap(),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served() {
    let env = env(|_| {}).await;
    let (_, key) = env.admin_user("bob", "1.00").await;
    let doc: Value = env.get("/api/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{provider}", "openai")
            .replace("{id}", "usr_nobody");
        for method in ops.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let r = env
                .http
                .request(m, env.url(&concrete))
                .bearer_auth(&key)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let text = r.text().await.unwrap();
            assert!(
                !text.contains("unknown route"),
                "{method} {path} is documented but not routed"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_markup_charges_and_reserves_nothing() {
    let env = env(|s| s.markup_bps = 0).await;
    let (_, key) = canary_user(&env, "0.000000001").await;
    env.answer_chat_text();
    let r = env.chat(&key, hello(false)).await;
    assert_eq!(
        r.status(),
        200,
        "no reservation is needed, so a tiny balance suffices"
    );
    assert_eq!(r.headers()["x-byok-markup-usd"], "0.00");
    assert!(r.headers().get("x-request-id").is_some());
    let h = env.get("/healthz").await;
    assert!(
        h.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    let rows = env.usage_rows(&key, 1).await;
    assert_eq!(
        rows[0]["markup_usd"], "0.00",
        "the zero-markup request's entry"
    );
    let b: Value = env.get_json("/api/balance", &key).await;
    assert_eq!(b["balance_usd"], "0.000000001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_streams_and_flushes_the_ledger() {
    let env = env(|_| {}).await;
    let (id, key) = canary_user(&env, "1.00").await;
    env.answer_chat(Reply::sse_with_delay(
        &fixture("openai/stream_text.sse"),
        Duration::from_millis(60),
    ));
    let mut r = env.chat(&key, hello(true)).await;
    let first = r.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    let Env { server, dir, .. } = env;
    let stopper = std::thread::spawn(move || server.stop());
    let mut rest = Vec::new();
    while let Some(c) = r.chunk().await.unwrap() {
        rest.extend_from_slice(&c);
    }
    stopper.join().unwrap();
    assert!(
        String::from_utf8_lossy(&rest).ends_with("data: [DONE]\n\n"),
        "the in-flight stream was finished"
    );
    // The ledger entry of that stream was committed before the server stopped.
    let mut config = byok_billing::LedgerConfig::default();
    config.release_on_open = false;
    config.sweep_interval = None;
    let ledger =
        byok_billing::Ledger::open_sqlite(dir.path().join("data/ledger.db"), &config).unwrap();
    let entries = ledger.usage(&id, 10, None).unwrap();
    assert_eq!(entries.len(), 1, "the settled stream is in the ledger");
    assert_eq!(
        entries[0].entry.usage_source,
        byok_billing::UsageSource::Reported
    );
}

/// The stream body sends what it has as soon as the upstream has nothing
/// more yet: events that arrive apart go out apart (a gateway that waited
/// to fill a write would hold the first back until the second came).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_arrive_apart_are_sent_apart() {
    let env = env(|_| {}).await;
    let (_, key) = canary_user(&env, "1.00").await;
    env.answer_chat(Reply::sse_with_delay(
        &fixture("openai/stream_text.sse"),
        Duration::from_millis(150),
    ));
    let mut r = env.chat(&key, hello(true)).await;
    let mut events_per_chunk = Vec::new();
    while let Some(c) = r.chunk().await.unwrap() {
        let text = String::from_utf8_lossy(&c).into_owned();
        events_per_chunk.push(text.matches("data: ").count());
    }
    assert!(events_per_chunk.len() > 2, "{events_per_chunk:?}");
    assert_eq!(
        events_per_chunk[0], 1,
        "the first event went out alone, before the next arrived: {events_per_chunk:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_response_timeout_is_a_setting() {
    let env = env(|s| s.upstream_response_timeout_secs = 1).await;
    let (_, key) = canary_user(&env, "1.00").await;
    env.answer_chat(Reply::hang());
    let started = std::time::Instant::now();
    let r = env.chat(&key, hello(false)).await;
    assert_eq!(r.status(), 504);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(8),
        "answered after {waited:?}, not the default 300 s"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "upstream_timeout", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regional_hosts_are_listed_chosen_and_shown() {
    let env = common::start(&[], |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("1.00"));
    let providers: Value = env.get("/api/byok/providers").await.json().await.unwrap();
    let zai = providers["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "zai")
        .unwrap();
    assert_eq!(zai["hostFields"]["region"], json!(["cn"]), "{zai}");
    assert_eq!(zai["hostFields"]["plan"], json!(["coding"]), "{zai}");

    let secret = "zai-key-CANARY-0123456789abcdef";
    env.store(
        &key,
        "zai",
        json!({"apiKey": secret, "region": "cn", "plan": "coding"}),
    )
    .await;
    let listed = env.get_json("/api/byok/credentials", &key).await;
    let text = listed.to_string();
    assert!(!text.contains(secret), "{text}");
    let entry = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "zai")
        .unwrap();
    assert_eq!(entry["meta"]["region"], "cn", "{entry}");
    assert_eq!(entry["meta"]["plan"], "coding", "{entry}");

    // A value the provider has no host for is refused, naming the choices.
    let r = env
        .put_credential(&key, "zai", json!({"apiKey": secret, "region": "mars"}))
        .await;
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(text.contains("`cn`") && !text.contains(secret), "{text}");
}
