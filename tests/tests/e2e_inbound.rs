//! End to end over HTTP: the inbound protocols other than chat completions
//! (`/api/v1/embeddings`, ...) through the shared pipeline: routing, the
//! key, the reservation, the charge on the ledger under the route's own
//! endpoint, and errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use byok_testkit::{Reply, fixture};
use serde_json::{Value, json};

const OPENAI_KEY: &str = "sk-test-CANARY-Em8vN3xR5tL1pW7mK2jH9gF4";

/// The mock answers as OpenAI (chat and Responses, under `/v1`) and
/// Anthropic.
const UPSTREAMS: &[(&str, &str)] = &[
    ("openai", "/v1"),
    ("openai-responses", "/v1"),
    ("anthropic", ""),
];
const ANTHROPIC_KEY: &str = "sk-ant-CANARY-Inb3fG7hJ1kL5zX9cV2bN6mQ0";

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_pass_through_to_the_responses_api_unchanged() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("1.00"));
    env.store(&key, "openai-responses", json!(OPENAI_KEY)).await;
    let body = json!({"model": "openai-responses/gpt-4.1", "input": "Hello", "tools": [{"type": "web_search"}], "store": true, "previous_response_id": "resp_1"});
    for (stream, fixture_name) in [
        (false, "responses/response_text.json"),
        (true, "responses/stream_text.sse"),
    ] {
        let answer = fixture(fixture_name);
        let reply = if stream {
            Reply::sse(&answer)
        } else {
            Reply::json(200, answer.clone())
        };
        env.mock.on("POST", "/v1/responses", reply);
        let mut body = body.clone();
        body["stream"] = json!(stream);
        let r = env.post(&key, "/api/v1/responses", &body).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-byok-provider"], "openai-responses");
        assert_eq!(r.text().await.unwrap(), answer, "the answer as sent");
        // Upstream: everything as sent (hosted tools, store, previous
        // response), the model without its prefix.
        let sent: Value = serde_json::from_slice(&env.mock.last_request().unwrap().body).unwrap();
        let mut expected = body.clone();
        expected["model"] = json!("gpt-4.1");
        assert_eq!(sent, expected);
    }
    let usage = env.usage_when(&key, |rows| rows.len() == 2).await;
    for entry in usage["data"].as_array().unwrap() {
        assert_eq!(entry["endpoint"], "/api/v1/responses", "{usage}");
        assert_eq!(entry["usage_source"], "reported", "{usage}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_translated_for_other_providers() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("1.00"));
    env.store(&key, "anthropic", json!(ANTHROPIC_KEY)).await;
    env.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_text.json")),
    );
    let body = json!({"model": "claude-sonnet-4-5", "instructions": "Be brief.", "input": "Hello", "max_output_tokens": 100});
    let r = env.post(&key, "/api/v1/responses", &body).await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["object"], "response", "{answer}");
    assert_eq!(answer["status"], "completed", "{answer}");
    assert_eq!(answer["output"][0]["type"], "message", "{answer}");
    assert!(
        answer["output"][0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Hello"),
        "{answer}"
    );
    let sent: Value = serde_json::from_slice(&env.mock.last_request().unwrap().body).unwrap();
    assert_eq!(sent["system"], "Be brief.", "{sent}");
    assert_eq!(sent["max_tokens"], 100, "{sent}");

    // Streamed: the Responses event sequence, ending with the completed
    // response and its usage.
    env.mock.on(
        "POST",
        "/v1/messages",
        Reply::sse(&fixture("anthropic/stream_text.sse")),
    );
    let mut body = body.clone();
    body["stream"] = json!(true);
    let r = env.post(&key, "/api/v1/responses", &body).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(events.first(), Some(&"response.created"), "{text}");
    assert!(events.contains(&"response.output_text.delta"), "{text}");
    assert_eq!(events.last(), Some(&"response.completed"), "{text}");

    // Stateless there: a previous response is a clear 400, nothing sent.
    let before = env.mock.requests().len();
    let r = env
        .post(
            &key,
            "/api/v1/responses",
            &json!({"model": "claude-sonnet-4-5", "input": "Hi", "previous_response_id": "resp_1"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("previous_response_id"));
    assert_eq!(env.mock.requests().len(), before);

    let usage = env.usage_when(&key, |rows| rows.len() == 2).await;
    assert_eq!(usage["data"][0]["endpoint"], "/api/v1/responses", "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_pass_through_to_anthropic_unchanged() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("1.00"));
    env.store(&key, "anthropic", json!(ANTHROPIC_KEY)).await;
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}], "thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": [{"role": "user", "content": "Hello"}]});
    for (stream, name) in [
        (false, "anthropic/message_text.json"),
        (true, "anthropic/stream_text.sse"),
    ] {
        let answer = fixture(name);
        let reply = if stream {
            Reply::sse(&answer)
        } else {
            Reply::json(200, answer.clone())
        };
        env.mock.on("POST", "/v1/messages", reply);
        let mut body = body.clone();
        body["stream"] = json!(stream);
        // Claude Code's way: the gateway key as x-api-key, its betas.
        let r = env
            .http
            .post(env.url("/api/v1/messages"))
            .header("x-api-key", &key)
            .header("anthropic-version", "2023-06-01")
            .header("anthropic-beta", "interleaved-thinking-2025-05-14")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-byok-provider"], "anthropic");
        assert_eq!(r.text().await.unwrap(), answer, "the answer as sent");
        let sent = env.mock.last_request().unwrap();
        assert_eq!(
            sent.header("x-api-key"),
            Some(ANTHROPIC_KEY),
            "the user's key, not the gateway's"
        );
        assert_eq!(
            sent.header("anthropic-beta"),
            Some("interleaved-thinking-2025-05-14")
        );
        assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
        let sent: Value = serde_json::from_slice(&sent.body).unwrap();
        assert_eq!(sent, body, "the body as sent");
    }
    // Charged from the usage read on the way: 12 input + 1000 cache reads +
    // 100 cache writes.
    let usage = env.usage_when(&key, |rows| rows.len() == 2).await;
    for entry in usage["data"].as_array().unwrap() {
        assert_eq!(entry["endpoint"], "/api/v1/messages", "{usage}");
        assert_eq!(entry["usage_source"], "reported", "{usage}");
        assert_eq!(entry["prompt_tokens"], 1112, "{usage}");
        assert_eq!(entry["cached_tokens"], 1000, "{usage}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_translated_for_other_providers() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("1.00"));
    env.store(&key, "openai", json!(OPENAI_KEY)).await;
    let tools = json!([{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}}]);
    let body = json!({"model": "gpt-4o-mini", "max_tokens": 64, "system": "Be brief.", "tools": tools, "messages": [{"role": "user", "content": "Weather in Paris?"}]});

    env.answer_chat(Reply::json(200, fixture("openai/chat_tool_calls.json")));
    let r = env.post(&key, "/api/v1/messages", &body).await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["type"], "message", "{answer}");
    assert_eq!(answer["stop_reason"], "tool_use", "{answer}");
    let tool_use = answer["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap();
    assert_eq!(tool_use["name"], "get_weather", "{answer}");
    assert!(tool_use["input"].is_object(), "{answer}");
    let sent: Value = serde_json::from_slice(&env.mock.last_request().unwrap().body).unwrap();
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Be brief."}),
        "{sent}"
    );
    assert_eq!(
        sent["tools"][0]["function"]["name"], "get_weather",
        "{sent}"
    );

    // Streamed: tool input as input_json_delta, closed by message_stop.
    env.answer_chat(Reply::sse(&fixture("openai/stream_tool_call.sse")));
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let r = env.post(&key, "/api/v1/messages", &streamed).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for event in [
        "message_start",
        "content_block_start",
        "input_json_delta",
        "message_delta",
        "message_stop",
    ] {
        assert!(text.contains(event), "{event}: {text}");
    }

    // Errors in Anthropic's shape: a wrong key, a missing max_tokens.
    let r = env
        .http
        .post(env.url("/api/v1/messages"))
        .header("x-api-key", "byok_wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["type"], "error", "{e}");
    assert_eq!(e["error"]["type"], "authentication_error", "{e}");
    let mut no_limit = body.clone();
    no_limit.as_object_mut().unwrap().remove("max_tokens");
    let r = env.post(&key, "/api/v1/messages", &no_limit).await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens"),
        "{e}"
    );

    let usage = env.usage_when(&key, |rows| rows.len() == 2).await;
    assert_eq!(usage["data"][0]["endpoint"], "/api/v1/messages", "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_anthropic_stays_529_and_tokens_are_counted() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("1.00"));
    env.store(&key, "anthropic", json!(ANTHROPIC_KEY)).await;
    env.store(&key, "openai", json!(OPENAI_KEY)).await;
    env.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(529, fixture("anthropic/error_529.json")),
    );
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}]});
    let r = env.post(&key, "/api/v1/messages", &body).await;
    assert_eq!(r.status(), 529);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "overloaded_error", "{e}");

    // count_tokens: Anthropic's own count for its models (forwarded) ...
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
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"input_tokens": 14})
    );
    // ... and the gateway's conservative estimate for the others.
    let before = env.mock.requests().len();
    let r = env
        .post(
            &key,
            "/api/v1/messages/count_tokens",
            &json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let n = r.json::<Value>().await.unwrap()["input_tokens"]
        .as_u64()
        .unwrap();
    assert!(n >= 1, "{n}");
    assert_eq!(env.mock.requests().len(), before, "nothing went upstream");
    // Nothing is charged for a failure or a count.
    let usage = env.get_json("/api/usage", &key).await;
    assert_eq!(usage["data"].as_array().unwrap().len(), 0, "{usage}");
}
