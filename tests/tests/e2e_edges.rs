//! End to end: admin API, limits, metrics, models, verify, search-augmented
//! chat, and the canary over error paths (no key in any answer).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::Duration;

use byok_server::{RunningServer, Settings};
use byok_testkit::{MockUpstream, Reply, fixture};
use serde_json::{Value, json};

const ADMIN: &str = "admin-token-for-tests-0123456789";
const CANARY: &str = "sk-CANARY-Qm7nB3vC9xZ1lK5jH8gF2dS4aP6";

struct Env {
    _dir: tempfile::TempDir,
    server: RunningServer,
    mock: MockUpstream,
    http: reqwest::Client,
}

async fn env(tune: impl FnOnce(&mut Settings)) -> Env {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_data_dir(dir.path().join("data"));
    settings.allow_insecure_upstreams = true;
    settings.admin_token = Some(ADMIN.into());
    settings
        .upstreams
        .insert("openai".into(), format!("{}/v1", mock.base_url()));
    settings.upstreams.insert("exa".into(), mock.base_url());
    tune(&mut settings);
    let server = RunningServer::start(&settings).unwrap();
    Env {
        _dir: dir,
        server,
        mock,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    }
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr())
    }

    async fn user(&self, credit: &str) -> String {
        self.user_with_id(credit).await.1
    }

    async fn user_with_id(&self, credit: &str) -> (String, String) {
        let r = self
            .http
            .post(self.url("/api/admin/users"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "bob"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let id = v["user_id"].as_str().unwrap().to_owned();
        let r = self
            .http
            .post(self.url(&format!("/api/admin/users/{id}/credits")))
            .bearer_auth(ADMIN)
            .json(&json!({"amount_usd": credit}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        (id, v["api_key"].as_str().unwrap().to_owned())
    }

    /// Stores a provider credential for the user of `key`; it must succeed.
    async fn store(&self, key: &str, provider: &str, credential: Value) {
        let r = self
            .http
            .put(self.url(&format!("/api/byok/credentials/{provider}")))
            .bearer_auth(key)
            .json(&credential)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    async fn chat(&self, key: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/chat/completions"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
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

fn no_fragment(text: &str) {
    for w in CANARY.as_bytes().windows(8) {
        let w = std::str::from_utf8(w).unwrap();
        assert!(!text.contains(w), "key fragment `{w}` in `{text}`");
    }
}

fn hello(stream: bool) -> Value {
    json!({"model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": "What is Tokio?"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_metrics_models_and_verify() {
    let env = env(|_| {}).await;
    let r = env
        .http
        .post(env.url("/api/admin/users"))
        .bearer_auth("wrong")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let key = env.user("2.50").await;
    let b: Value = common::get_json(&env.http, env.url("/api/balance"), &key).await;
    assert_eq!(b["balance_usd"], "2.50");
    env.store(&key, "openai", json!({"key": CANARY})).await;

    let models: Value = common::get_json(&env.http, env.url("/api/v1/models"), &key).await;
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
        .http
        .post(env.url("/api/byok/credentials/openai/verify"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
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
        .http
        .post(env.url("/api/byok/credentials/openai/verify"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("\"ok\":false"), "{text}");
    no_fragment(&text);

    env.mock.on(
        "POST",
        "/v1/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    assert_eq!(env.chat(&key, hello(false)).await.status(), 200);
    let metrics = env
        .http
        .get(env.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains("byok_requests_total{route=\"/api/v1/chat/completions\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("byok_tokens_total{provider=\"openai\",kind=\"prompt\"} 2006"));
    no_fragment(&metrics);
    let r = env
        .http
        .get(env.url("/no/such/route"))
        .send()
        .await
        .unwrap();
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
    let key = env.user("1.00").await;
    env.store(&key, "openai", json!({"key": CANARY})).await;
    env.mock.on(
        "POST",
        "/v1/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
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
        .http
        .put(env.url("/api/byok/credentials/groq"))
        .bearer_auth(&key)
        .json(&json!({"key": "k".repeat(9000)}))
        .send()
        .await
        .unwrap();
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
    let key = env.user("1.00").await;
    env.store(&key, "openai", json!({"key": CANARY})).await;
    env.store(&key, "exa", json!({"key": "exa-key-0123456789abcdef"}))
        .await;
    env.mock.on(
        "POST",
        "/search",
        Reply::json(200, fixture("search/exa_search.json")),
    );
    env.mock.on(
        "POST",
        "/v1/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
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
    let key = env.user("1.00").await;
    env.store(&key, "openai", json!({"key": CANARY})).await;
    env.store(&key, "groq", json!({"key": CANARY})).await;
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
        env.mock.on("POST", "/v1/chat/completions", reply);
        let r = env.chat(&key, hello(stream)).await;
        assert_eq!(r.status(), status, "case {i}");
        let headers = format!("{:?}", r.headers());
        let text = r.text().await.unwrap_or_default();
        no_fragment(&text);
        no_fragment(&headers);
    }
    // Connection refused upstream (groq points at a closed port).
    let mut body = hello(false);
    body["model"] = json!("groq/llama-3.3-70b-versatile");
    let r = env.chat(&key, body).await;
    assert_eq!(r.status(), 502);
    no_fragment(&r.text().await.unwrap());
    // Usage rows carry no key either.
    let usage = env
        .http
        .get(env.url("/api/usage"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    no_fragment(&usage);
    let creds = env
        .http
        .get(env.url("/api/byok/credentials"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    no_fragment(&creds);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served() {
    let env = env(|_| {}).await;
    let key = env.user("1.00").await;
    let doc: Value = env
        .http
        .get(env.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    let key = env.user("0.000000001").await;
    env.store(&key, "openai", json!({"key": CANARY})).await;
    env.mock.on(
        "POST",
        "/v1/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    let r = env.chat(&key, hello(false)).await;
    assert_eq!(
        r.status(),
        200,
        "no reservation is needed, so a tiny balance suffices"
    );
    assert_eq!(r.headers()["x-byok-markup-usd"], "0.00");
    assert!(r.headers().get("x-request-id").is_some());
    let h = env.http.get(env.url("/healthz")).send().await.unwrap();
    assert!(
        h.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    let u = common::usage_when(&env.http, &env.url(""), &key, |rows| !rows.is_empty()).await;
    let e = u["data"]
        .as_array()
        .unwrap()
        .first()
        .expect("the zero-markup request was not recorded");
    assert_eq!(e["markup_usd"], "0.00");
    let b: Value = common::get_json(&env.http, env.url("/api/balance"), &key).await;
    assert_eq!(b["balance_usd"], "0.000000001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_streams_and_flushes_the_ledger() {
    let env = env(|_| {}).await;
    let (id, key) = env.user_with_id("1.00").await;
    env.store(&key, "openai", json!({"key": CANARY})).await;
    env.mock.on(
        "POST",
        "/v1/chat/completions",
        Reply::sse_with_delay(
            &fixture("openai/stream_text.sse"),
            Duration::from_millis(60),
        ),
    );
    let mut r = env.chat(&key, hello(true)).await;
    let first = r.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    let Env {
        server, _dir: dir, ..
    } = env;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_response_timeout_is_a_setting() {
    let env = env(|s| s.upstream_response_timeout_secs = 1).await;
    let key = env.user("1.00").await;
    env.store(&key, "openai", json!({"key": CANARY})).await;
    env.mock.on("POST", "/v1/chat/completions", Reply::hang());
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
