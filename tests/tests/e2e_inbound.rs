//! End to end over HTTP: the inbound protocols other than chat completions
//! (`/api/v1/embeddings`, ...) through the shared pipeline: routing, the
//! key, the reservation, the charge on the ledger under the route's own
//! endpoint, and errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use byok_testkit::{Reply, fixture};
use serde_json::{Value, json};

const OPENAI_KEY: &str = "sk-test-CANARY-Em8vN3xR5tL1pW7mK2jH9gF4";

/// The mock answers as OpenAI (chat and Responses, under `/v1`),
/// Anthropic, Google and Bedrock.
const UPSTREAMS: &[(&str, &str)] = &[
    ("openai", "/v1"),
    ("openai-responses", "/v1"),
    ("anthropic", ""),
    ("google", ""),
    ("aws", ""),
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
    let rows = env.usage_rows(&key, 1).await;
    let entry = &rows[0];
    assert_eq!(entry["endpoint"], "/api/v1/embeddings", "{entry}");
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
    for entry in env.usage_rows(&key, 2).await {
        assert_eq!(entry["endpoint"], "/api/v1/responses", "{entry}");
        assert_eq!(entry["usage_source"], "reported", "{entry}");
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

    let rows = env.usage_rows(&key, 2).await;
    assert_eq!(rows[0]["endpoint"], "/api/v1/responses", "{}", rows[0]);
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
    for entry in env.usage_rows(&key, 2).await {
        assert_eq!(entry["endpoint"], "/api/v1/messages", "{entry}");
        assert_eq!(entry["usage_source"], "reported", "{entry}");
        assert_eq!(entry["prompt_tokens"], 1112, "{entry}");
        assert_eq!(entry["cached_tokens"], 1000, "{entry}");
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

    let rows = env.usage_rows(&key, 2).await;
    assert_eq!(rows[0]["endpoint"], "/api/v1/messages", "{}", rows[0]);
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

/// An agent's request fixture (`agents/…`): its headers and body.
fn agent_request(name: &str) -> (Vec<(String, String)>, Value) {
    let v: Value = serde_json::from_str(&fixture(name)).unwrap();
    let headers = v["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    (headers, v["body"].clone())
}

/// `POST path` with the agent's headers, the gateway key as `x-api-key`
/// (Claude Code's way) and `body` as these exact bytes.
async fn replay(
    env: &common::Env,
    key: &str,
    path: &str,
    headers: &[(String, String)],
    provider: &str,
    body: &[u8],
) -> reqwest::Response {
    let mut r = env
        .http
        .post(env.url(path))
        .header("x-api-key", key)
        .header("x-byok-provider", provider)
        .header("content-type", "application/json");
    for (name, value) in headers {
        r = r.header(name, value);
    }
    r.body(body.to_vec()).send().await.unwrap()
}

/// The SSE event names of a stream, in order.
fn event_names(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claude_code_turn_passes_through_as_sent_and_translates() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("5.00"));
    env.store(&key, "anthropic", json!(ANTHROPIC_KEY)).await;
    env.store(&key, "openai", json!(OPENAI_KEY)).await;
    let (headers, body) = agent_request("agents/claude_code_messages.json");

    // To Anthropic: the bytes as sent, every header Claude Code relies on,
    // the answer byte for byte.
    let answer = fixture("anthropic/stream_thinking_tool_use.sse");
    env.mock
        .on_streaming("POST", "/v1/messages", Reply::sse(&answer));
    let bytes = serde_json::to_vec_pretty(&body).unwrap();
    let r = replay(
        &env,
        &key,
        "/api/v1/messages",
        &headers,
        "anthropic",
        &bytes,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), answer);
    let sent = env.mock.last_request().unwrap();
    assert_eq!(sent.body, bytes, "the body as sent, byte for byte");
    assert_eq!(
        sent.header("anthropic-beta"),
        Some(
            "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"
        )
    );
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("x-api-key"), Some(ANTHROPIC_KEY));

    // To OpenAI: the same turn in chat completions.
    env.mock.on_streaming(
        "POST",
        "/v1/chat/completions",
        Reply::sse(&fixture("openai/stream_tool_call.sse")),
    );
    let mut translated = body.clone();
    translated["model"] = json!("gpt-5");
    let bytes = serde_json::to_vec(&translated).unwrap();
    let r = replay(&env, &key, "/api/v1/messages", &headers, "openai", &bytes).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let sent: Value = serde_json::from_slice(&env.mock.last_request().unwrap().body).unwrap();
    check_claude_code_as_chat(&body, &sent);
    // The answer as Anthropic's events; the tool input whole.
    let events = event_names(&text);
    assert_eq!(events.first(), Some(&"message_start"), "{text}");
    assert_eq!(events.last(), Some(&"message_stop"), "{text}");
    assert_eq!(
        json_from_deltas(&text, "partial_json"),
        json!({"location": "Paris, France", "unit": "celsius"}),
        "{text}"
    );
    for row in env.usage_rows(&key, 2).await {
        assert_eq!(row["endpoint"], "/api/v1/messages", "{row}");
    }
}

/// What the chat-completions upstream got for the Claude Code turn `cc`
/// (the mapping table of `inbound::messages`).
fn check_claude_code_as_chat(cc: &Value, sent: &Value) {
    let ctx = format!("{sent:#}");
    assert_eq!(sent["model"], "gpt-5");
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true, "{ctx}");
    assert_eq!(sent["max_completion_tokens"], 32000, "{ctx}");
    // budget_tokens 31999 is Anthropic's "high".
    assert_eq!(sent["reasoning_effort"], "high", "{ctx}");
    assert_eq!(sent["user"], cc["metadata"]["user_id"], "{ctx}");
    for gone in [
        "thinking",
        "context_management",
        "metadata",
        "system",
        "max_tokens",
    ] {
        assert!(sent.get(gone).is_none(), "{gone}: {ctx}");
    }
    // One system message per system block, in order.
    let messages = sent["messages"].as_array().unwrap();
    for (i, block) in cc["system"].as_array().unwrap().iter().enumerate() {
        assert_eq!(messages[i]["role"], "system", "{ctx}");
        assert_eq!(messages[i]["content"][0]["text"], block["text"], "{ctx}");
    }
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "system",
            "system",
            "user",
            "assistant",
            "tool",
            "tool",
            "user"
        ],
        "{ctx}"
    );
    // The replayed assistant turn: its text, its tool calls (ids, names,
    // inputs as JSON text), its signed thinking kept for a later switch.
    let turn = &cc["messages"][1]["content"];
    let assistant = &messages[3];
    assert_eq!(assistant["content"][0]["text"], turn[1]["text"], "{ctx}");
    assert_eq!(
        assistant["reasoning_details"][0]["signature"], turn[0]["signature"],
        "{ctx}"
    );
    let (calls, tool_uses) = (
        assistant["tool_calls"].as_array().unwrap(),
        &turn.as_array().unwrap()[2..],
    );
    assert_eq!(calls.len(), tool_uses.len(), "{ctx}");
    for (call, tool_use) in calls.iter().zip(tool_uses) {
        assert_eq!(call["id"], tool_use["id"], "{ctx}");
        assert_eq!(call["function"]["name"], tool_use["name"], "{ctx}");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, tool_use["input"], "{ctx}");
    }
    // Tool results answer those ids, in order, then the user's text.
    let results = &cc["messages"][2]["content"];
    assert_eq!(
        messages[4]["tool_call_id"], results[0]["tool_use_id"],
        "{ctx}"
    );
    assert_eq!(messages[4]["content"], results[0]["content"], "{ctx}");
    assert_eq!(
        messages[5]["tool_call_id"], results[1]["tool_use_id"],
        "{ctx}"
    );
    assert_eq!(
        messages[5]["content"][0]["text"], results[1]["content"][0]["text"],
        "{ctx}"
    );
    assert_eq!(messages[6]["content"][0]["text"], "Keep it short.", "{ctx}");
    // Tools: input_schema as the function's parameters.
    let (tools, sent_tools) = (
        cc["tools"].as_array().unwrap(),
        sent["tools"].as_array().unwrap(),
    );
    assert_eq!(tools.len(), sent_tools.len(), "{ctx}");
    for (tool, sent_tool) in tools.iter().zip(sent_tools) {
        assert_eq!(sent_tool["type"], "function", "{ctx}");
        assert_eq!(sent_tool["function"]["name"], tool["name"], "{ctx}");
        assert_eq!(
            sent_tool["function"]["parameters"], tool["input_schema"],
            "{ctx}"
        );
    }
}

/// The JSON that the `field` fragments of a stream's deltas make
/// together (`partial_json` of Anthropic's `input_json_delta`, `delta` of
/// `response.function_call_arguments.delta`), from its first tool call.
fn json_from_deltas(text: &str, field: &str) -> Value {
    let mut json = String::new();
    let mut first = None;
    for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        let (fragment, owner) = match field {
            "partial_json" => (&event["delta"]["partial_json"], &event["index"]),
            _ if event["type"] == "response.function_call_arguments.delta" => {
                (&event["delta"], &event["output_index"])
            }
            _ => continue,
        };
        let Some(fragment) = fragment.as_str() else {
            continue;
        };
        if *first.get_or_insert_with(|| owner.clone()) == *owner {
            json.push_str(fragment);
        }
    }
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_codex_turn_passes_through_as_sent_and_translates() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("5.00"));
    env.store(&key, "openai-responses", json!(OPENAI_KEY)).await;
    env.store(&key, "anthropic", json!(ANTHROPIC_KEY)).await;
    let (headers, body) = agent_request("agents/codex_responses.json");

    // To the Responses API: the bytes as sent (the encrypted reasoning,
    // include, store, prompt_cache_key), the answer byte for byte.
    let answer = fixture("responses/stream_tool_calls.sse");
    env.mock
        .on_streaming("POST", "/v1/responses", Reply::sse(&answer));
    let bytes = serde_json::to_vec(&body).unwrap();
    let r = replay(
        &env,
        &key,
        "/api/v1/responses",
        &headers,
        "openai-responses",
        &bytes,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), answer);
    let sent = env.mock.last_request().unwrap();
    assert_eq!(sent.body, bytes, "the body as sent, byte for byte");
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );

    // To Anthropic: the same turn in Messages.
    env.mock.on_streaming(
        "POST",
        "/v1/messages",
        Reply::sse(&fixture("anthropic/stream_thinking_tool_use.sse")),
    );
    let mut translated = body.clone();
    translated["model"] = json!("claude-sonnet-4-5");
    let bytes = serde_json::to_vec(&translated).unwrap();
    let r = replay(
        &env,
        &key,
        "/api/v1/responses",
        &headers,
        "anthropic",
        &bytes,
    )
    .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let sent: Value = serde_json::from_slice(&env.mock.last_request().unwrap().body).unwrap();
    check_codex_as_messages(&body, &sent);
    // The answer as the Responses event sequence: Claude's thinking as a
    // reasoning item, the call's arguments whole.
    let events = event_names(&text);
    assert_eq!(events.first(), Some(&"response.created"), "{text}");
    assert_eq!(events.last(), Some(&"response.completed"), "{text}");
    assert!(text.contains(r#""type":"reasoning""#), "{text}");
    assert_eq!(
        json_from_deltas(&text, "delta"),
        json!({"location": "Paris"}),
        "{text}"
    );
    for row in env.usage_rows(&key, 2).await {
        assert_eq!(row["endpoint"], "/api/v1/responses", "{row}");
    }
}

/// What Anthropic got for the Codex turn `codex` (the mapping table of
/// `inbound::responses`; OpenAI's encrypted reasoning cannot go to
/// Anthropic).
fn check_codex_as_messages(codex: &Value, sent: &Value) {
    let ctx = format!("{sent:#}");
    assert_eq!(sent["model"], "claude-sonnet-4-5");
    assert_eq!(sent["stream"], true);
    assert!(sent["max_tokens"].as_u64().unwrap() > 0, "{ctx}");
    // Instructions, then the developer message, as the system prompt.
    let developer = codex["input"][0]["content"][0]["text"].as_str().unwrap();
    let instructions = codex["instructions"].as_str().unwrap();
    assert_eq!(
        sent["system"],
        format!("{instructions}\n\n{developer}"),
        "{ctx}"
    );
    for gone in [
        "input",
        "instructions",
        "include",
        "store",
        "reasoning",
        "prompt_cache_key",
        "parallel_tool_calls",
    ] {
        assert!(sent.get(gone).is_none(), "{gone}: {ctx}");
    }
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true}),
        "{ctx}"
    );
    let call = &codex["input"][3];
    let output = &codex["input"][4];
    let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": codex["input"][1]["content"][0]["text"]}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": call["call_id"], "name": call["name"], "input": args}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["call_id"], "content": output["output"]}]}
        ]),
        "{ctx}"
    );
    let (tools, sent_tools) = (
        codex["tools"].as_array().unwrap(),
        sent["tools"].as_array().unwrap(),
    );
    assert_eq!(tools.len(), sent_tools.len(), "{ctx}");
    for (tool, sent_tool) in tools.iter().zip(sent_tools) {
        assert_eq!(sent_tool["name"], tool["name"], "{ctx}");
        assert_eq!(sent_tool["input_schema"], tool["parameters"], "{ctx}");
    }
}

/// Anthropic refuses a request with thinking enabled whose last assistant
/// turn uses tools without starting with a thinking block ("When
/// `thinking` is enabled, a final `assistant` message must start with a
/// thinking block", https://docs.claude.com/en/docs/build-with-claude/extended-thinking#preserving-thinking-blocks).
/// A Codex turn that replays OpenAI's encrypted reasoning and a function
/// call is translated with `thinking` enabled (from `reasoning.effort`) and
/// the call as a bare `tool_use` turn: the real Anthropic answers 400. The
/// translator should leave thinking off for such a turn (or keep a
/// thinking block there); in byok-providers' Anthropic translator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_codex_tool_turn_to_anthropic_is_valid_with_thinking() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("5.00"));
    env.store(&key, "anthropic", json!(ANTHROPIC_KEY)).await;
    let (headers, mut body) = agent_request("agents/codex_responses.json");
    body["model"] = json!("claude-sonnet-4-5");
    env.mock.on_streaming(
        "POST",
        "/v1/messages",
        Reply::sse(&fixture("anthropic/stream_text.sse")),
    );
    let bytes = serde_json::to_vec(&body).unwrap();
    let r = replay(
        &env,
        &key,
        "/api/v1/responses",
        &headers,
        "anthropic",
        &bytes,
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent: Value = serde_json::from_slice(&env.mock.last_request().unwrap().body).unwrap();
    let last_assistant = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "assistant")
        .unwrap();
    let starts_with_thinking = matches!(
        last_assistant["content"][0]["type"].as_str(),
        Some("thinking" | "redacted_thinking")
    );
    assert!(
        sent["thinking"].is_null()
            || sent["thinking"]["type"] == "disabled"
            || starts_with_thinking,
        "{sent:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_refused_in_each_callers_protocol() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("1.00"));
    env.store(&key, "anthropic", json!(ANTHROPIC_KEY)).await;
    env.store(&key, "openai", json!(OPENAI_KEY)).await;
    env.store(&key, "openai-responses", json!(OPENAI_KEY)).await;
    let post = |path: &'static str, via: &'static str, body: &'static str| {
        env.post_bytes_via(&key, path, via, body)
    };
    // Messages: Anthropic's error shape, naming what is wrong.
    for (body, says) in [
        ("{not json", "key must be a string"),
        ("", "EOF"),
        ("[1, 2]", "invalid type"),
        (
            r#"{"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": "Hello"}"#,
            "expected a sequence",
        ),
        (
            r#"{"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "robot", "content": "Hi"}]}"#,
            "robot",
        ),
        (
            r#"{"model": "claude-sonnet-4-5", "max_tokens": "ten", "messages": [{"role": "user", "content": "Hi"}]}"#,
            "\"ten\"",
        ),
        (
            r#"{"max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]}"#,
            "model",
        ),
    ] {
        for via in ["anthropic", "openai"] {
            let r = post("/api/v1/messages", via, body).await;
            assert_eq!(r.status(), 400, "{body}");
            let e: Value = r.json().await.unwrap();
            assert_eq!(e["type"], "error", "{body}: {e}");
            assert_eq!(e["error"]["type"], "invalid_request_error", "{body}: {e}");
            let message = e["error"]["message"].as_str().unwrap();
            assert!(message.contains(says), "{body}: {e}");
        }
    }
    // Responses and embeddings: OpenAI's, naming the field.
    for (path, via, body, param) in [
        ("/api/v1/responses", "openai-responses", "{not json", "body"),
        ("/api/v1/responses", "anthropic", "{not json", "body"),
        (
            "/api/v1/responses",
            "openai-responses",
            r#"{"input": "Hi"}"#,
            "model",
        ),
        (
            "/api/v1/responses",
            "anthropic",
            r#"{"model": "claude-sonnet-4-5", "input": 5}"#,
            "input",
        ),
        (
            "/api/v1/responses",
            "anthropic",
            r#"{"model": "claude-sonnet-4-5", "input": [{"type": "message", "role": "user", "content": 7}]}"#,
            "input",
        ),
        (
            "/api/v1/embeddings",
            "openai",
            r#"{"model": "text-embedding-3-small", "input": {"a": 1}}"#,
            "input",
        ),
    ] {
        let r = post(path, via, body).await;
        assert_eq!(r.status(), 400, "{path} {body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["type"], "invalid_request_error", "{body}: {e}");
        assert_eq!(e["error"]["param"], param, "{body}: {e}");
    }
    let r = post("/api/v1/embeddings", "openai", "{not json").await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"].as_str().unwrap().contains("JSON"),
        "{e}"
    );
    assert!(env.mock.requests().is_empty(), "nothing went upstream");

    // A well-formed JSON body the Responses API itself refuses goes through
    // (the provider judges its own protocol); its 400 comes back as a 400
    // in OpenAI's shape, nothing charged.
    env.mock.on(
        "POST",
        "/v1/responses",
        Reply::json(
            400,
            r#"{"error":{"message":"Invalid type for 'input': expected one of a string or array of input items, but got an integer instead.","type":"invalid_request_error","param":"input","code":"invalid_type"}}"#,
        ),
    );
    let r = post(
        "/api/v1/responses",
        "openai-responses",
        r#"{"model": "gpt-4.1", "input": 5}"#,
    )
    .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
    assert_eq!(env.mock.requests().len(), 1);
    env.check_settled(&key, 0, "1.00").await;
}

/// An SSE text with `event` inserted after its `n`th event.
fn with_event_after(sse: &str, n: usize, event: &str) -> String {
    let mut events: Vec<String> = byok_testkit::split_events(sse)
        .iter()
        .map(|b| String::from_utf8(b.to_vec()).unwrap())
        .collect();
    events.insert(n, event.to_owned());
    events.concat()
}

/// How a stream must end for its caller.
#[derive(Clone, Copy, Debug)]
enum End {
    /// Anthropic's `error` event (no `message_stop`).
    AnthropicError,
    /// The Responses stream's `error` event (pass-through).
    ResponsesError,
    /// `response.failed` with the error (translated).
    ResponseFailed,
    /// Completely, with the first tool call's input whole.
    Complete(&'static str),
}

/// The stream `text` ends as `end` says.
fn check_end(text: &str, end: End, ctx: &str) {
    let events = event_names(text);
    let last_data: Value = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_else(|| panic!("{ctx}: {text}"));
    let message = |v: &Value| !v.as_str().unwrap_or("").is_empty();
    match end {
        End::AnthropicError => {
            assert_eq!(events.last(), Some(&"error"), "{ctx}: {text}");
            assert!(!events.contains(&"message_stop"), "{ctx}: {text}");
            assert_eq!(last_data["type"], "error", "{ctx}: {text}");
            assert_eq!(last_data["error"]["type"], "api_error", "{ctx}: {text}");
            assert!(message(&last_data["error"]["message"]), "{ctx}: {text}");
        }
        End::ResponsesError => {
            assert_eq!(events.last(), Some(&"error"), "{ctx}: {text}");
            assert_eq!(last_data["type"], "error", "{ctx}: {text}");
            assert!(message(&last_data["message"]), "{ctx}: {text}");
        }
        End::ResponseFailed => {
            assert_eq!(events.last(), Some(&"response.failed"), "{ctx}: {text}");
            assert_eq!(last_data["response"]["status"], "failed", "{ctx}: {text}");
            assert!(
                message(&last_data["response"]["error"]["message"]),
                "{ctx}: {text}"
            );
        }
        End::Complete(input) => {
            let last = events.last().copied();
            assert!(
                matches!(last, Some("message_stop" | "response.completed")),
                "{ctx}: {text}"
            );
            let field = if last == Some("message_stop") {
                "partial_json"
            } else {
                "delta"
            };
            if !input.is_empty() {
                let expected: Value = serde_json::from_str(input).unwrap();
                assert_eq!(json_from_deltas(text, field), expected, "{ctx}: {text}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_failed_or_odd_upstream_streams_end_in_the_callers_protocol_and_settle() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("1.00"));
    env.store(&key, "anthropic", json!(ANTHROPIC_KEY)).await;
    env.store(&key, "openai", json!(OPENAI_KEY)).await;
    env.store(&key, "openai-responses", json!(OPENAI_KEY)).await;
    let (msgs, resp) = ("/api/v1/messages", "/api/v1/responses");
    let (to_anthropic, to_openai, to_responses) =
        ("/v1/messages", "/v1/chat/completions", "/v1/responses");
    let cut = |name: &str, events: usize| Reply::sse_reset_after(&fixture(name), events);
    let paris = r#"{"location": "Paris, \"FR\"", "unit": "celsius"}"#;
    let paris_idf = r#"{"location": "Paris \"Île-de-France\"", "note": "café ☕ 😀"}"#;
    let future = |name: &str, after: usize, event: &str| {
        let data = format!(
            "event: {event}\ndata: {{\"type\":\"{event}\",\"index\":1,\"sequence_number\":99,\"x\":{{}}}}\n\n"
        );
        Reply::sse(&with_event_after(&fixture(name), after, &data))
    };
    let cases: Vec<(&str, &str, &str, &str, Reply, End)> = vec![
        // A connection reset mid-stream, passed through and translated.
        (
            "reset",
            msgs,
            "anthropic",
            to_anthropic,
            cut("anthropic/stream_text.sse", 4),
            End::AnthropicError,
        ),
        (
            "reset",
            msgs,
            "openai",
            to_openai,
            cut("openai/stream_tool_call.sse", 4),
            End::AnthropicError,
        ),
        (
            "reset",
            msgs,
            "openai-responses",
            to_responses,
            cut("responses/stream_tool_calls.sse", 8),
            End::AnthropicError,
        ),
        (
            "reset",
            resp,
            "openai-responses",
            to_responses,
            cut("responses/stream_text.sse", 4),
            End::ResponsesError,
        ),
        (
            "reset",
            resp,
            "anthropic",
            to_anthropic,
            cut("anthropic/stream_tool_use.sse", 8),
            End::ResponseFailed,
        ),
        (
            "reset",
            resp,
            "openai",
            to_openai,
            cut("openai/stream_text.sse", 4),
            End::ResponseFailed,
        ),
        // Ended cleanly but early (no [DONE], no finish reason).
        (
            "truncated",
            msgs,
            "openai",
            to_openai,
            Reply::sse(&fixture("openai/stream_truncated.sse")),
            End::AnthropicError,
        ),
        (
            "truncated",
            resp,
            "openai",
            to_openai,
            Reply::sse(&fixture("openai/stream_truncated.sse")),
            End::ResponseFailed,
        ),
        // The upstream's own error event mid-stream.
        (
            "error event",
            msgs,
            "openai-responses",
            to_responses,
            Reply::sse(&fixture("responses/stream_error.sse")),
            End::AnthropicError,
        ),
        (
            "error event",
            resp,
            "anthropic",
            to_anthropic,
            Reply::sse(&fixture("anthropic/stream_error.sse")),
            End::ResponseFailed,
        ),
        // Event types the gateway does not know: skipped when translating,
        // forwarded when passing through.
        (
            "unknown event",
            msgs,
            "openai-responses",
            to_responses,
            future(
                "responses/stream_tool_calls.sse",
                6,
                "response.future_thing",
            ),
            End::Complete(paris),
        ),
        (
            "unknown event",
            resp,
            "anthropic",
            to_anthropic,
            future("anthropic/stream_tool_use.sse", 5, "content_block_future"),
            End::Complete(paris_idf),
        ),
        (
            "unknown event",
            msgs,
            "anthropic",
            to_anthropic,
            future("anthropic/stream_text.sse", 3, "future_event"),
            End::Complete(""),
        ),
        (
            "unknown event",
            resp,
            "openai-responses",
            to_responses,
            future("responses/stream_text.sse", 3, "response.future_thing"),
            End::Complete(""),
        ),
    ];
    let count = cases.len();
    for (what, path, via, upstream, reply, end) in cases {
        env.mock.on_streaming("POST", upstream, reply);
        let model = if via == "anthropic" {
            "claude-sonnet-4-5"
        } else {
            "gpt-4.1"
        };
        let body = if path == msgs {
            json!({"model": model, "max_tokens": 64, "stream": true, "messages": [{"role": "user", "content": "Hello"}]})
        } else {
            json!({"model": model, "input": "Hello", "max_output_tokens": 64, "stream": true})
        };
        let r = env.post_via(&key, path, via, &body).await;
        assert_eq!(r.status(), 200, "{what} {path} via {via}");
        let text = r.text().await.unwrap();
        check_end(&text, end, &format!("{what} {path} via {via}"));
        if what == "unknown event" && (via == "anthropic") == (path == msgs) {
            assert!(text.contains("future"), "forwarded as sent: {text}");
        }
    }
    // Every stream settled once (by the usage read or an estimate of what
    // was delivered); nothing left reserved.
    env.check_settled(&key, count, "1.00").await;
}

/// Google's embeddings are translated: OpenAI's request to Gemini's
/// `batchEmbedContents` (shape from the Gemini API reference) and back, as
/// numbers or OpenAI's base64; Gemini reports no tokens, so the charge is
/// estimated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_embeddings_are_translated() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("1.00"));
    env.store(&key, "google", json!("AIzaSyInbound-0123456789abcdefghij"))
        .await;
    let path = "/v1beta/models/gemini-embedding-001:batchEmbedContents";
    for (format, first) in [("float", json!(0.013168517)), ("base64", Value::Null)] {
        env.mock.on(
            "POST",
            path,
            Reply::json(200, fixture("google/batch_embed_contents.json")),
        );
        let body = json!({"model": "google/gemini-embedding-001", "input": ["hello", "world"], "dimensions": 4, "encoding_format": format});
        let r = env.post(&key, "/api/v1/embeddings", &body).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-byok-provider"], "google");
        assert_eq!(r.headers()["x-byok-usage-source"], "estimated");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["object"], "list", "{answer}");
        assert_eq!(answer["data"].as_array().unwrap().len(), 2, "{answer}");
        assert_eq!(answer["data"][1]["index"], 1, "{answer}");
        if first.is_null() {
            let b64 = answer["data"][0]["embedding"].as_str().unwrap();
            assert_eq!(b64.len(), 24, "4 f32 in base64: {answer}");
        } else {
            let v = answer["data"][0]["embedding"][0].as_f64().unwrap();
            assert!((v - first.as_f64().unwrap()).abs() < 1e-6, "{answer}");
        }
        let sent = env.mock.last_request().unwrap();
        assert_eq!(
            sent.header("x-goog-api-key"),
            Some("AIzaSyInbound-0123456789abcdefghij")
        );
        let sent: Value = serde_json::from_slice(&sent.body).unwrap();
        assert_eq!(
            sent["requests"][1],
            json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "world"}]}, "outputDimensionality": 4})
        );
    }
    for row in env.usage_rows(&key, 2).await {
        assert_eq!(row["endpoint"], "/api/v1/embeddings", "{row}");
        assert_eq!(row["usage_source"], "estimated", "{row}");
        // At the catalog's embedding rate ($0.15/M input), no output.
        assert_eq!(row["price_source"], "catalog", "{row}");
        assert_eq!(row["completion_tokens"], 0, "{row}");
    }
    // Token arrays cannot be embedded by Gemini: a clear 400, nothing sent.
    let before = env.mock.requests().len();
    let r = env
        .post(
            &key,
            "/api/v1/embeddings",
            &json!({"model": "google/gemini-embedding-001", "input": [[1, 2, 3]]}),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("token arrays"));
    assert_eq!(env.mock.requests().len(), before);
}

/// Bedrock's embeddings are translated: OpenAI's request to `InvokeModel`
/// of the model's family, signed (SigV4), and the answer back in OpenAI's
/// shape. Titan takes one text a call (one signed call per input, their
/// token counts summed); Cohere takes them all in one call and reports no
/// count (the answer's `usage` is the estimate the ledger records).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bedrock_embeddings_are_translated_and_signed() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("1.00"));
    env.store(
        &key,
        "aws",
        json!({"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "secretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCANARYKEY", "region": "us-east-1"}),
    )
    .await;
    let titan = "/model/amazon.titan-embed-text-v2%3A0/invoke";
    let cohere = "/model/cohere.embed-english-v3/invoke";
    // The answers' shapes from the Bedrock user guide.
    env.mock.on(
        "POST",
        titan,
        Reply::json(
            200,
            r#"{"embedding": [0.25, -0.5, 0.125], "inputTextTokenCount": 4, "embeddingsByType": {"float": [0.25, -0.5, 0.125]}}"#,
        ),
    );
    env.mock.on(
        "POST",
        cohere,
        Reply::json(
            200,
            r#"{"embeddings": [[0.5, -1.0], [0.25, 2.0]], "id": "5b3e0a8a-emb", "response_type": "embeddings_floats", "texts": ["hello", "world"]}"#,
        ),
    );
    let signed = |r: &byok_testkit::RecordedRequest| {
        let auth = r.header("authorization").unwrap_or_default();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/")
                && auth.contains("/us-east-1/bedrock/aws4_request"),
            "{auth}"
        );
        assert!(!auth.contains("CANARY"));
        assert!(r.header("x-amz-date").is_some());
        assert_eq!(r.header("content-type"), Some("application/json"));
    };

    // Titan, by the model's `aws/` prefix: one signed call per input.
    let body = json!({"model": "aws/amazon.titan-embed-text-v2:0", "input": ["hello", "world"], "dimensions": 256, "user": "u-1"});
    let r = env.post(&key, "/api/v1/embeddings", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-provider"], "aws");
    assert_eq!(r.headers()["x-byok-usage-source"], "reported");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["object"], "list", "{answer}");
    assert_eq!(answer["model"], "amazon.titan-embed-text-v2:0", "{answer}");
    assert_eq!(answer["data"].as_array().unwrap().len(), 2, "{answer}");
    for (i, item) in answer["data"].as_array().unwrap().iter().enumerate() {
        assert_eq!(item["object"], "embedding");
        assert_eq!(item["index"], i);
        assert_eq!(item["embedding"], json!([0.25, -0.5, 0.125]));
    }
    assert_eq!(
        answer["usage"],
        json!({"prompt_tokens": 8, "total_tokens": 8}),
        "the calls' counts summed"
    );
    let sent = env.mock.requests();
    assert_eq!(sent.len(), 2, "one call per input");
    let mut bodies: Vec<Value> = sent
        .iter()
        .map(|r| {
            assert_eq!(r.path(), titan);
            signed(r);
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect();
    bodies.sort_by_key(|b| b["inputText"].as_str().unwrap().to_owned());
    assert_eq!(
        bodies,
        [
            json!({"inputText": "hello", "dimensions": 256}),
            json!({"inputText": "world", "dimensions": 256})
        ]
    );

    // Cohere, chosen by the header, as OpenAI's base64: one call for both.
    env.mock.clear_requests();
    let body = json!({"model": "cohere.embed-english-v3", "input": ["hello", "world"], "encoding_format": "base64", "input_type": "search_query"});
    let r = env.post_via(&key, "/api/v1/embeddings", "aws", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-usage-source"], "estimated");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["model"], "cohere.embed-english-v3", "{answer}");
    // Little-endian f32 [0.5, -1.0] and [0.25, 2.0], as OpenAI writes them.
    assert_eq!(answer["data"][0]["embedding"], "AAAAPwAAgL8=", "{answer}");
    assert_eq!(answer["data"][1]["embedding"], "AACAPgAAAEA=", "{answer}");
    assert_eq!(answer["data"][1]["index"], 1, "{answer}");
    let estimated = answer["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(estimated > 0, "{answer}");
    assert_eq!(answer["usage"]["total_tokens"], estimated, "{answer}");
    let sent = env.mock.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path(), cohere);
    signed(&sent[0]);
    assert_eq!(
        serde_json::from_slice::<Value>(&sent[0].body).unwrap(),
        json!({"texts": ["hello", "world"], "input_type": "search_query"})
    );

    // One ledger entry per request, under the embeddings route, at the
    // catalog's embedding rates: Titan 8 tokens at $0.02/M, markup 5%.
    let rows = env.usage_rows(&key, 2).await;
    let usage = json!(rows);
    let row = |model: &str| {
        rows.iter()
            .find(|r| r["model"] == model)
            .unwrap_or_else(|| panic!("{model}: {usage}"))
    };
    let t = row("amazon.titan-embed-text-v2:0");
    assert_eq!(t["endpoint"], "/api/v1/embeddings", "{usage}");
    assert_eq!(t["provider"], "aws", "{usage}");
    assert_eq!(t["usage_source"], "reported", "{usage}");
    assert_eq!(t["prompt_tokens"], 8, "{usage}");
    assert_eq!(t["completion_tokens"], 0, "{usage}");
    assert_eq!(t["provider_cost_usd"], "0.00000016", "{usage}");
    assert_eq!(t["markup_usd"], "0.000000008", "{usage}");
    let c = row("cohere.embed-english-v3");
    assert_eq!(c["endpoint"], "/api/v1/embeddings", "{usage}");
    assert_eq!(c["usage_source"], "estimated", "{usage}");
    assert_eq!(c["price_source"], "catalog", "{usage}");
    assert_eq!(
        c["prompt_tokens"], estimated,
        "the answer says what was charged"
    );

    // Refused before anything is sent: token arrays, a size Titan does not
    // make, an unknown encoding, a Bedrock model that is no embedding model
    // the gateway translates.
    env.mock.clear_requests();
    for (body, says) in [
        (
            json!({"model": "aws/amazon.titan-embed-text-v2:0", "input": [[1, 2, 3]]}),
            "token arrays",
        ),
        (
            json!({"model": "aws/amazon.titan-embed-text-v2:0", "input": "x", "dimensions": 300}),
            "256, 512 or 1024",
        ),
        (
            json!({"model": "aws/cohere.embed-english-v3", "input": "x", "encoding_format": "binary"}),
            "encoding_format",
        ),
        (
            json!({"model": "aws/anthropic.claude-3-5-haiku-20241022-v1:0", "input": "x"}),
            "Titan Text Embeddings",
        ),
    ] {
        let r = env.post(&key, "/api/v1/embeddings", &body).await;
        assert_eq!(r.status(), 400, "{body}");
        let text = r.text().await.unwrap();
        assert!(text.contains(says), "{body}: {text}");
    }
    assert!(env.mock.requests().is_empty());
}

/// A Responses pass-through whose input lives upstream
/// (`previous_response_id`: the whole earlier conversation) is reserved at
/// the model's context, not at the body's bytes, which do not bound it: a
/// balance that covers the same request without it does not cover it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_with_input_stored_upstream_reserve_the_models_context() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("bounded", Some("0.05"));
    env.store(&key, "openai-responses", json!(OPENAI_KEY)).await;
    env.mock.on(
        "POST",
        "/v1/responses",
        Reply::json(200, fixture("responses/response_text.json")),
    );
    let plain = json!({"model": "openai-responses/gpt-4.1", "input": "Hello"});
    let r = env.post(&key, "/api/v1/responses", &plain).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let before = env.mock.requests().len();
    let mut stored = plain.clone();
    stored["previous_response_id"] = json!("resp_1");
    let r = env.post(&key, "/api/v1/responses", &stored).await;
    assert_eq!(r.status(), 402, "{}", r.text().await.unwrap());
    assert_eq!(env.mock.requests().len(), before, "nothing went upstream");
}
