//! End to end over HTTP: the inbound protocols other than chat completions
//! (`/api/v1/embeddings`, ...) through the shared pipeline: routing, the
//! key, the reservation, the charge on the ledger under the route's own
//! endpoint, and errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use byok_testkit::{Reply, fixture};
use serde_json::{Value, json};

const OPENAI_KEY: &str = "sk-test-CANARY-Em8vN3xR5tL1pW7mK2jH9gF4";

/// The mock answers as OpenAI (under `/v1`) and Anthropic.
const UPSTREAMS: &[(&str, &str)] = &[("openai", "/v1"), ("anthropic", "")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_pass_through_and_are_charged_on_their_input() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("1.00"));
    env.store(&key, "openai", json!(OPENAI_KEY)).await;
    let answer = fixture("openai/embeddings.json");
    env.mock
        .on("POST", "/v1/embeddings", Reply::json(200, answer.clone()));

    let body = json!({"model": "openai/text-embedding-3-small", "input": ["hello", "world"], "dimensions": 3, "encoding_format": "float"});
    let r = env.post(&key, "/api/v1/embeddings", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-provider"], "openai");
    assert_eq!(r.headers()["x-byok-usage-source"], "reported");
    assert_eq!(
        r.text().await.unwrap(),
        answer,
        "the answer as the provider sent it"
    );

    // Upstream: the body as sent but for the model's prefix; the user's key.
    let sent = env.mock.last_request().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    let sent: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        sent,
        json!({"model": "text-embedding-3-small", "input": ["hello", "world"], "dimensions": 3, "encoding_format": "float"})
    );

    // One ledger entry under the embeddings route: 8 input tokens at
    // $0.02/M = $0.00000016, markup 5% of it.
    let usage = env.usage_when(&key, |rows| rows.len() == 1).await;
    let entry = &usage["data"][0];
    assert_eq!(entry["endpoint"], "/api/v1/embeddings", "{usage}");
    assert_eq!(entry["prompt_tokens"], 8);
    assert_eq!(entry["completion_tokens"], 0);
    assert_eq!(entry["provider_cost_usd"], "0.00000016");
    assert_eq!(entry["markup_usd"], "0.000000008");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_refusals_send_nothing_upstream() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("1.00"));
    env.store(&key, "openai", json!(OPENAI_KEY)).await;
    env.store(&key, "anthropic", json!("sk-ant-test-0123456789"))
        .await;
    for (body, status, says) in [
        (json!({"model": "text-embedding-3-small"}), 400, "input"),
        (
            json!({"model": "text-embedding-3-small", "input": []}),
            400,
            "input",
        ),
        (
            json!({"model": "text-embedding-3-small", "input": "x", "api_base": "http://169.254.169.254/"}),
            400,
            "api_base",
        ),
        (
            json!({"model": "anthropic/claude-sonnet-4-5", "input": "x"}),
            400,
            "no embeddings API",
        ),
        (
            json!({"model": "groq/some-model", "input": "x"}),
            400,
            "groq",
        ),
    ] {
        let r = env.post(&key, "/api/v1/embeddings", &body).await;
        assert_eq!(r.status(), status, "{body}");
        let text = r.text().await.unwrap();
        assert!(text.contains(says), "{body}: {text}");
    }
    assert!(env.mock.requests().is_empty());

    // An upstream failure is answered as on chat completions (a 502 naming
    // the upstream's status, sanitised); nothing is charged.
    env.mock.on(
        "POST",
        "/v1/embeddings",
        Reply::json(
            401,
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#,
        ),
    );
    let r = env
        .post(
            &key,
            "/api/v1/embeddings",
            &json!({"model": "text-embedding-3-small", "input": "x"}),
        )
        .await;
    assert_eq!(r.status(), 502);
    assert!(r.text().await.unwrap().contains("upstream_401"));
    let usage = env.get_json("/api/usage", &key).await;
    assert_eq!(usage["data"].as_array().unwrap().len(), 0, "{usage}");
}
