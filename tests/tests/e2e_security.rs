//! End to end: the findings of the security review (issue #14): the admin
//! token's rules, authentication before the body and the body's deadline,
//! the per-user write limit, and who may read `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use byok_server::{RunningServer, Settings};
use common::{ADMIN, Env};
use serde_json::{Value, json};

/// A gateway without upstreams.
async fn env(tune: impl FnOnce(&mut Settings)) -> Env {
    common::start(&[], tune).await
}

/// A new user's gateway key (made with the CLI, as an operator would).
fn user(env: &Env) -> String {
    env.cli_user("mallory", Some("1.00")).1
}

/// `POST /api/admin/users` with `token`.
async fn admin(env: &Env, token: &str) -> reqwest::Response {
    env.post(token, "/api/admin/users", &json!({"name": "eve"}))
        .await
}

/// Sends `head` (a request line and headers, without the blank line) with
/// `Content-Length: 1000` and only `sent` bytes of body, then waits up to
/// `wait` for the answer: `(status, body)`, or `None` when none came.
fn trickle(addr: SocketAddr, head: &str, sent: usize, wait: Duration) -> Option<(u16, String)> {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(wait)).unwrap();
    write!(
        conn,
        "{head}\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{}",
        "{".repeat(sent)
    )
    .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the head and a JSON body are in (the connection may stay
    // open: the rest of the body is never sent).
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
        let text = String::from_utf8_lossy(&answer);
        if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// Finding 4: an admin token shorter than 32 characters (the empty one
/// included) stops the start; failed admin attempts are limited for the
/// whole process, and the limit holds even for the right token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_admin_tokens_refuse_to_start_and_failures_are_limited() {
    for short in ["", "x", &"a".repeat(31)] {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::for_data_dir(dir.path());
        settings.admin_token = Some(short.into());
        let err = RunningServer::start(&settings).unwrap_err().to_string();
        assert!(err.contains("BYOK_ADMIN_TOKEN"), "{err}");
        assert!(err.contains("32"), "{err}");
    }
    let env = env(|_| {}).await;
    assert_eq!(admin(&env, ADMIN).await.status(), 200);
    for _ in 0..10 {
        assert_eq!(admin(&env, "wrong-token").await.status(), 401);
    }
    let r = admin(&env, "wrong-token").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(
        admin(&env, ADMIN).await.status(),
        429,
        "the token is not compared while the limit holds"
    );
    let key = user(&env);
    let r = env.call("GET", "/api/balance", &key).await;
    assert_eq!(r.status(), 200, "users are not affected");
}

/// Finding 5: every route that reads a body checks the key on the headers
/// first (no body is awaited for a stranger), and a known caller's body
/// must arrive within `BYOK_BODY_READ_TIMEOUT_SECS` (408 after).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_read_after_authentication_and_within_a_deadline() {
    let env = env(|s| s.body_read_timeout_secs = 1).await;
    let addr = env.server.addr();
    let key = user(&env);
    let wait = Duration::from_secs(5);
    for route in [
        "POST /api/v1/chat/completions",
        "PUT /api/byok/credentials/openai",
        "POST /api/web",
        "POST /api/admin/users",
        "POST /api/admin/users/u1/credits",
    ] {
        let head = format!("{route} HTTP/1.1");
        let (status, body) = trickle(addr, &head, 10, wait)
            .unwrap_or_else(|| panic!("{route}: no answer without a key"));
        assert_eq!(status, 401, "{route}: {body}");
        let token = if route.contains("admin") { ADMIN } else { &key };
        let head = format!("{route} HTTP/1.1\r\nAuthorization: Bearer {token}");
        let started = Instant::now();
        let (status, body) = trickle(addr, &head, 10, wait)
            .unwrap_or_else(|| panic!("{route}: no answer to a stalled body"));
        assert_eq!(status, 408, "{route}: {body}");
        assert!(started.elapsed() >= Duration::from_millis(900), "{route}");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["error"]["type"], "invalid_request_error", "{body}");
        assert_eq!(error["error"]["code"], "body_read_timeout", "{body}");
    }
}

/// Finding 6: one user's writes to the shared stores (credentials stored,
/// deleted, verified; gateway keys created) are limited per minute, so they
/// cannot fill the vault's queue for everyone; other users are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_limited_per_user() {
    let env = env(|_| {}).await;
    let (key, other) = (user(&env), user(&env));
    let secret = || json!("sk-test-0123456789abcdefghijklmnop");
    // 30 a minute: 61 writes cross at most one minute's boundary.
    let mut limited = None;
    for _ in 0..61 {
        let r = env.put_credential(&key, "openai", secret()).await;
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let r = limited.expect("61 credential writes in a row were never limited");
    assert!(r.headers().get("retry-after").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    for (method, path) in [
        ("DELETE", "/api/byok/credentials/openai"),
        ("POST", "/api/byok/credentials/openai/verify"),
        ("POST", "/api/keys"),
    ] {
        let r = env.call(method, path, &key).await;
        assert_eq!(r.status(), 429, "{method} {path}");
    }
    let r = env.put_credential(&other, "openai", secret()).await;
    assert_eq!(r.status(), 200, "another user");
}

const METRICS: &str = "metrics-token-for-tests-0123456789";

async fn get(http: &reqwest::Client, url: String, token: Option<&str>) -> u16 {
    let mut r = http.get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap().status().as_u16()
}

/// Finding 11: with `BYOK_METRICS_TOKEN`, `/metrics` (markup revenue by
/// provider) asks for that bearer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_ask_for_their_token() {
    let env = env(|s| s.metrics_token = Some(METRICS.into())).await;
    let url = || env.url("/metrics");
    assert_eq!(get(&env.http, url(), None).await, 401);
    assert_eq!(get(&env.http, url(), Some("wrong")).await, 401);
    assert_eq!(get(&env.http, url(), Some(ADMIN)).await, 401);
    let r = env
        .http
        .get(url())
        .bearer_auth(METRICS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("byok_"));
    let dir = tempfile::tempdir().unwrap();
    let mut short = Settings::for_data_dir(dir.path());
    short.metrics_token = Some("short".into());
    let err = RunningServer::start(&short).unwrap_err().to_string();
    assert!(err.contains("BYOK_METRICS_TOKEN"), "{err}");
}

/// Finding 11: with `BYOK_METRICS_LISTEN`, `/metrics` is served on that
/// address only, and nothing else is served there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_their_own_address() {
    let env = env(|s| {
        s.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        s.metrics_token = Some(METRICS.into());
    })
    .await;
    let metrics = env.server.metrics_addr().unwrap();
    assert_ne!(metrics, env.server.addr());
    let on = |path: &str| format!("http://{metrics}{path}");
    let http = &env.http;
    assert_eq!(get(http, env.url("/metrics"), Some(METRICS)).await, 404);
    assert_eq!(get(http, env.url("/healthz"), None).await, 200);
    assert_eq!(get(http, on("/metrics"), Some(METRICS)).await, 200);
    assert_eq!(get(http, on("/metrics"), None).await, 401);
    for path in ["/healthz", "/api/balance", "/api/byok/providers", "/"] {
        assert_eq!(get(http, on(path), None).await, 404, "{path}");
    }
}
