//! Anthropic and Anthropic-on-Azure-Foundry through the mock upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::Duration;

use byok_providers::{FinishReason, ProviderError, ProviderId, UpstreamErrorKind, UsageReport};
use byok_testkit::{Reply, fixture};
use common::*;
use serde_json::{Value, json};

const KEY: &str = "sk-ant-api03-CANARY-Zq8vN3xR5tL1pW7mK2jH9gF4";

async fn anthropic() -> Setup {
    setup(ProviderId::Anthropic, Some(""), |_| KEY.to_owned()).await
}

fn convo(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris and Tokyo?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "toolu_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}},
                {"id": "toolu_b", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Tokyo\"}"}}]},
            {"role": "tool", "tool_call_id": "toolu_a", "content": "18C"},
            {"role": "tool", "tool_call_id": "toolu_b", "content": "22C"},
            {"role": "user", "content": "Thanks, and tomorrow?"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}],
        "max_completion_tokens": 300
    })
}

#[tokio::test]
async fn text_streamed_equals_non_streamed_and_usage_counts_cache() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_text.json")),
    );
    let full = s
        .provider
        .chat(&request(convo(false)), &s.credential)
        .await
        .unwrap();
    let sent = s.mock.last_request().unwrap();
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        sent.header("authorization"),
        None,
        "the key goes only in x-api-key"
    );
    let UsageReport::Reported(u) = &full.usage else {
        panic!()
    };
    assert_eq!(
        (
            u.prompt_tokens,
            u.cached_tokens(),
            u.cache_write_tokens(),
            u.completion_tokens
        ),
        (1112, 1000, 100, 10)
    );

    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::sse(&fixture("anthropic/stream_text.sse")),
    );
    let (t, chunks, usage, err) = collect(&s, &request(convo(true))).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    assert_eq!(
        chunks[0].choices[0].delta.role.as_deref(),
        Some("assistant")
    );
    assert!(
        chunks.iter().all(|c| c.usage.is_none()),
        "no usage chunk unless asked"
    );
}

#[tokio::test]
async fn multi_turn_with_tool_results_is_sent_in_anthropic_shape() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_text.json")),
    );
    s.provider
        .chat(&request(convo(false)), &s.credential)
        .await
        .unwrap();
    let body = sent_json(&s);
    assert_eq!(body["system"], "Be brief.");
    assert_eq!(body["max_tokens"], 300);
    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(
        msgs.iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["user", "assistant", "user"]
    );
    assert_eq!(
        msgs[1]["content"][0],
        json!({"type": "text", "text": "Checking."})
    );
    assert_eq!(msgs[1]["content"][1]["type"], "tool_use");
    assert_eq!(msgs[1]["content"][2]["input"], json!({"location": "Tokyo"}));
    assert_eq!(
        msgs[2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "toolu_a", "content": "18C"})
    );
    assert_eq!(msgs[2]["content"][1]["tool_use_id"], "toolu_b");
    assert_eq!(
        msgs[2]["content"][2],
        json!({"type": "text", "text": "Thanks, and tomorrow?"})
    );
    assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
    assert!(body.get("stream").is_none());
}

#[tokio::test]
async fn parallel_tool_calls_with_escapes_and_unicode_split_across_fragments() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_tool_use.json")),
    );
    let full = s
        .provider
        .chat(&request(convo(false)), &s.credential)
        .await
        .unwrap();
    assert_eq!(finish(&full.response), Some(FinishReason::ToolCalls));
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::sse(&fixture("anthropic/stream_tool_use.sse")),
    );
    let (t, _, usage, err) = collect(&s, &request(convo(true))).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    let args: Value = serde_json::from_str(&t.tool_calls[0].function.arguments).unwrap();
    assert_eq!(args["location"], "Paris \"Île-de-France\"");
    assert_eq!(args["note"], "café ☕ 😀");
    assert_eq!(t.tool_calls[1].id, "toolu_02B19r91rx91mr928946mr0");
    assert_eq!(t.content, "I'll check both cities.");
}

#[tokio::test]
async fn thinking_is_reasoning_content_not_content() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_thinking.json")),
    );
    let full = s
        .provider
        .chat(&request(convo(false)), &s.credential)
        .await
        .unwrap();
    assert_eq!(
        full.response.choices[0].message.content.as_deref(),
        Some("Hi there!")
    );
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::sse(&fixture("anthropic/stream_thinking.sse")),
    );
    let (t, chunks, usage, _) = collect(&s, &request(convo(true))).await;
    assert_eq!(t.reasoning, "The user greets me. I should greet back.");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    assert_eq!(
        reassembled(&t, &chunks)["message"]["reasoning_details"],
        serde_json::to_value(&full.response.choices[0].message.reasoning_details).unwrap(),
        "streamed signatures equal the non-streamed ones"
    );
}

#[tokio::test]
async fn every_stop_reason() {
    let s = anthropic().await;
    for (stop, want) in [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("tool_use", FinishReason::ToolCalls),
        ("pause_turn", FinishReason::Stop),
        ("refusal", FinishReason::ContentFilter),
    ] {
        s.mock.on(
            "POST",
            "/v1/messages",
            Reply::json(
                200,
                fixture("anthropic/message_text.json").replace("end_turn", stop),
            ),
        );
        let full = s
            .provider
            .chat(&request(convo(false)), &s.credential)
            .await
            .unwrap();
        assert_eq!(finish(&full.response), Some(want), "{stop}");
        s.mock.on(
            "POST",
            "/v1/messages",
            Reply::sse(&fixture("anthropic/stream_text.sse").replace("end_turn", stop)),
        );
        let (t, _, _, _) = collect(&s, &request(convo(true))).await;
        assert_eq!(t.finish_reason, Some(want), "{stop} streamed");
    }
}

#[tokio::test]
async fn usage_chunk_only_when_asked() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::sse(&fixture("anthropic/stream_text.sse")),
    );
    let mut r = convo(true);
    r["stream_options"] = json!({"include_usage": true});
    let (_, chunks, _, _) = collect(&s, &request(r)).await;
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(last.usage.as_ref().unwrap().prompt_tokens, 1112);
}

#[tokio::test]
async fn upstream_errors() {
    let s = anthropic().await;
    for (status, file, kind) in [
        (
            401,
            "anthropic/error_401.json",
            UpstreamErrorKind::Unauthorized,
        ),
        (
            429,
            "anthropic/error_429.json",
            UpstreamErrorKind::RateLimited,
        ),
        (
            529,
            "anthropic/error_529.json",
            UpstreamErrorKind::ServerError,
        ),
        (
            400,
            "anthropic/error_400.json",
            UpstreamErrorKind::BadRequest,
        ),
    ] {
        s.mock.on(
            "POST",
            "/v1/messages",
            Reply::json(status, fixture(file)).header("retry-after", "3"),
        );
        let err = s
            .provider
            .chat(&request(convo(false)), &s.credential)
            .await
            .unwrap_err();
        let ProviderError::Upstream {
            status: st,
            kind: k,
            message,
            retry_after,
            ..
        } = err
        else {
            panic!("{err:?}")
        };
        assert_eq!((st, k), (status, kind));
        assert!(!message.is_empty());
        assert_eq!(retry_after, Some(Duration::from_secs(3)));
    }
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::sse(&fixture("anthropic/stream_error.sse")),
    );
    let (t, _, usage, err) = collect(&s, &request(convo(true))).await;
    assert_eq!(t.content, "Hello");
    assert!(
        matches!(err, Some(ProviderError::MidStream { ref code, .. }) if code.as_deref() == Some("overloaded_error")),
        "{err:?}"
    );
    assert_eq!(usage, UsageReport::Missing);
    // Truncated stream.
    let text = fixture("anthropic/stream_text.sse");
    let cut = text.find("event: message_delta").unwrap();
    s.mock.on("POST", "/v1/messages", Reply::sse(&text[..cut]));
    let (_, _, _, err) = collect(&s, &request(convo(true))).await;
    assert!(matches!(err, Some(ProviderError::StreamTruncated { .. })));
}

#[tokio::test]
async fn models_list() {
    let s = anthropic().await;
    s.mock.on(
        "GET",
        "/v1/models",
        Reply::json(200, fixture("anthropic/models.json")),
    );
    let models = s.provider.list_models(&s.credential).await.unwrap();
    assert_eq!(models[0].id, "claude-sonnet-4-5-20250929");
    assert_eq!(
        s.mock.last_request().unwrap().header("x-api-key"),
        Some(KEY)
    );
}

#[tokio::test]
async fn azure_foundry_uses_the_credential_endpoint() {
    let s = setup(ProviderId::AzureAnthropicFoundry, None, |base| {
        format!(r#"{{"endpoint":"{base}/anthropic/","apiKey":"{KEY}"}}"#)
    })
    .await;
    s.mock.on(
        "POST",
        "/anthropic/v1/messages",
        Reply::sse(&fixture("anthropic/stream_text.sse")),
    );
    let (t, _, usage, err) = collect(&s, &request(convo(true))).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(t.content, "Hello! How can I help you today?");
    assert!(usage.reported().is_some());
    let sent = s.mock.last_request().unwrap();
    assert_eq!(sent.path(), "/anthropic/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
}

const SIGNATURE: &str = "ErUBCkYIBxgCIkB1c2VyIHdhbnRzIHdlYXRoZXIgaW4gUGFyaXMgLSBjYWxsIGdldF93ZWF0aGVyEgwaHK9eJqZu2Fm0kMMaDGoPq";
const REDACTED: &str = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj2pIbUDeXQhzrA1xlNq";
const THOUGHT: &str = "The user wants the weather in Paris. I should call get_weather.";

/// Turn 1 of a thinking + tools loop.
fn thinking_turn_one(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "stream": stream,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}],
        "reasoning_effort": "low"
    })
}

/// Turn 2: turn 1, the assistant message as the client received it, the
/// tool result.
fn thinking_turn_two(assistant: Value) -> Value {
    let mut body = thinking_turn_one(false);
    let messages = body["messages"].as_array_mut().unwrap();
    messages.push(assistant);
    messages.push(
        json!({"role": "tool", "tool_call_id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "content": "18C"}),
    );
    body
}

fn expected_details() -> Value {
    json!([
        {"type": "reasoning.text", "text": THOUGHT, "signature": SIGNATURE, "format": "anthropic-claude-v1", "index": 0},
        {"type": "reasoning.encrypted", "data": REDACTED, "format": "anthropic-claude-v1", "index": 1}
    ])
}

#[tokio::test]
async fn thinking_signatures_and_redacted_thinking_become_reasoning_details() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_thinking_tool_use.json")),
    );
    let full = s
        .provider
        .chat(&request(thinking_turn_one(false)), &s.credential)
        .await
        .unwrap();
    let msg = &full.response.choices[0].message;
    assert_eq!(msg.reasoning_content.as_deref(), Some(THOUGHT));
    assert_eq!(
        serde_json::to_value(&msg.reasoning_details).unwrap(),
        expected_details()
    );
    assert_eq!(msg.content.as_deref(), Some("Let me check."));
    assert_eq!(finish(&full.response), Some(FinishReason::ToolCalls));

    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::sse(&fixture("anthropic/stream_thinking_tool_use.sse")),
    );
    let (t, chunks, usage, err) = collect(&s, &request(thinking_turn_one(true))).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    let streamed = reassembled(&t, &chunks)["message"].clone();
    assert_eq!(streamed["reasoning_details"], expected_details());
    let signed = chunks
        .iter()
        .position(|c| c.choices[0].delta.reasoning_details.is_some())
        .unwrap();
    assert!(
        chunks[..signed].iter().all(|c| c.choices[0]
            .delta
            .content
            .as_deref()
            .unwrap_or("")
            .is_empty()),
        "the signed entry comes with the thinking block, before the text"
    );
}

#[tokio::test]
async fn second_turn_replays_thinking_blocks_before_the_tool_use() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_thinking_tool_use.json")),
    );
    let full = s
        .provider
        .chat(&request(thinking_turn_one(false)), &s.credential)
        .await
        .unwrap();
    let received = serde_json::to_value(&full.response.choices[0].message).unwrap();
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::sse(&fixture("anthropic/stream_thinking_tool_use.sse")),
    );
    let (t, chunks, _, err) = collect(&s, &request(thinking_turn_one(true))).await;
    assert!(err.is_none(), "{err:?}");
    let streamed = reassembled(&t, &chunks)["message"].clone();

    let want = json!([
        {"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": REDACTED},
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": {"location": "Paris"}}
    ]);
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_text.json")),
    );
    for (how, assistant) in [("non-streamed", received), ("streamed", streamed)] {
        s.provider
            .chat(&request(thinking_turn_two(assistant)), &s.credential)
            .await
            .unwrap();
        let body = sent_json(&s);
        let msgs = body["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 3, "{how}");
        assert_eq!(msgs[1]["role"], "assistant", "{how}");
        assert_eq!(msgs[1]["content"], want, "{how}: thinking first, signed");
        assert_eq!(msgs[2]["content"][0]["type"], "tool_result", "{how}");
    }
}

#[tokio::test]
async fn foreign_or_unsigned_reasoning_details_are_not_replayed() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_text.json")),
    );
    let assistant = json!({
        "role": "assistant",
        "content": "Let me check.",
        "reasoning_details": [
            {"type": "reasoning.text", "text": "unsigned", "format": "anthropic-claude-v1", "index": 0},
            {"type": "reasoning.text", "text": "g", "signature": "s", "format": "google-gemini-v1", "index": 1},
            {"type": "reasoning.summary", "summary": "s", "index": 2}
        ],
        "tool_calls": [{"id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]
    });
    s.provider
        .chat(&request(thinking_turn_two(assistant)), &s.credential)
        .await
        .unwrap();
    let body = sent_json(&s);
    let types: Vec<&str> = body["messages"][1]["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["text", "tool_use"]);
}

fn structured(stream: bool, format: Value) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "stream": stream,
        "messages": [{"role": "user", "content": "Weather in Paris as JSON."}],
        "response_format": format
    })
}

fn weather_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "temperature_c": {"type": "integer"},
            "conditions": {"type": "array", "items": {"type": "string", "enum": ["sunny", "windy", "rain"]}}
        },
        "required": ["city", "temperature_c", "conditions"],
        "additionalProperties": false
    })
}

#[tokio::test]
async fn json_schema_is_native_structured_output_and_the_json_is_the_content() {
    let s = anthropic().await;
    let format = json!({"type": "json_schema", "json_schema": {"name": "weather", "strict": true, "schema": weather_schema()}});
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_structured.json")),
    );
    let full = s
        .provider
        .chat(&request(structured(false, format.clone())), &s.credential)
        .await
        .unwrap();
    let body = sent_json(&s);
    assert_eq!(
        body["output_config"],
        json!({"format": {"type": "json_schema", "schema": weather_schema()}}),
        "the schema goes untouched under output_config.format"
    );
    assert!(body.get("response_format").is_none());
    assert!(body.get("output_format").is_none(), "the old beta field");
    assert_eq!(
        s.mock.last_request().unwrap().header("anthropic-beta"),
        None,
        "structured output is GA: no beta header"
    );
    let content = full.response.choices[0].message.content.clone().unwrap();
    let parsed: Value = serde_json::from_str(&content).unwrap();
    assert_eq!(
        parsed,
        json!({"city": "Paris", "temperature_c": 18, "conditions": ["sunny", "windy"]})
    );
    assert_eq!(
        full.response.choices[0].finish_reason,
        Some(FinishReason::Stop)
    );

    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::sse(&fixture("anthropic/stream_structured.sse")),
    );
    let (t, _, usage, err) = collect(&s, &request(structured(true, format))).await;
    assert!(err.is_none(), "{err:?}");
    let body = sent_json(&s);
    assert_eq!(body["stream"], true);
    assert_eq!(body["output_config"]["format"]["schema"], weather_schema());
    assert_eq!(t.content, content, "streamed JSON text equals the answer's");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
}

#[tokio::test]
async fn json_object_is_refused_and_text_sends_nothing() {
    let s = anthropic().await;
    let err = s
        .provider
        .chat(
            &request(structured(false, json!({"type": "json_object"}))),
            &s.credential,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Unsupported { ref what, .. } if what.contains("json_object") && what.contains("json_schema")),
        "{err:?}"
    );
    assert!(
        s.mock.last_request().is_none(),
        "refused before anything is sent"
    );

    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_text.json")),
    );
    s.provider
        .chat(
            &request(structured(false, json!({"type": "text"}))),
            &s.credential,
        )
        .await
        .unwrap();
    let body = sent_json(&s);
    assert!(body.get("output_config").is_none(), "{body}");
}

/// A fixture of this crate's own (`tests/fixtures/anthropic/`).
fn local(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/anthropic/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const EPHEMERAL: fn() -> Value = || json!({"type": "ephemeral"});

/// A request marking cache breakpoints everywhere a client can.
fn cached_request(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "stream": stream,
        "messages": [
            {"role": "system", "content": [
                {"type": "text", "text": "You are a weather bot."},
                {"type": "text", "text": "Long reference text.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
            ]},
            {"role": "user", "content": [
                {"type": "text", "text": "Here is a chart.", "cache_control": EPHEMERAL()},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}, "cache_control": EPHEMERAL()},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQ=", "filename": "report.pdf"}, "cache_control": EPHEMERAL()}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "toolu_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "toolu_a", "content": "18C", "cache_control": EPHEMERAL()}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}, "cache_control": EPHEMERAL()}]
    })
}

#[tokio::test]
async fn prompt_caching_marks_reach_anthropic_and_cache_usage_is_reported() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_text.json")),
    );
    let full = s
        .provider
        .chat(&request(cached_request(false)), &s.credential)
        .await
        .unwrap();
    let body = sent_json(&s);
    assert_eq!(
        body["system"],
        json!([
            {"type": "text", "text": "You are a weather bot."},
            {"type": "text", "text": "Long reference text.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
        ]),
        "a system with parts stays a list of blocks, marks kept"
    );
    let user = &body["messages"][0]["content"];
    assert_eq!(
        user[0],
        json!({"type": "text", "text": "Here is a chart.", "cache_control": EPHEMERAL()})
    );
    assert_eq!(user[1]["type"], "image");
    assert_eq!(user[1]["cache_control"], EPHEMERAL());
    assert_eq!(
        user[2],
        json!({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="}, "title": "report.pdf", "cache_control": EPHEMERAL()})
    );
    assert_eq!(
        body["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "toolu_a", "content": "18C", "cache_control": EPHEMERAL()})
    );
    assert_eq!(body["tools"][0]["cache_control"], EPHEMERAL());
    // Cache reads and writes in OpenAI's usage (message_text.json: 12 in,
    // 1000 read, 100 written).
    let usage = serde_json::to_value(&full.response.usage).unwrap();
    assert_eq!(usage["prompt_tokens"], 1112);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 1000);
    assert_eq!(usage["prompt_tokens_details"]["cache_write_tokens"], 100);

    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::sse(&fixture("anthropic/stream_text.sse")),
    );
    let mut streamed = cached_request(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (_, chunks, usage, err) = collect(&s, &request(streamed)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(sent_json(&s)["system"], body["system"]);
    let last = serde_json::to_value(chunks.last().unwrap().usage.as_ref().unwrap()).unwrap();
    assert_eq!(last["prompt_tokens_details"]["cached_tokens"], 1000);
    assert_eq!(last["prompt_tokens_details"]["cache_write_tokens"], 100);
    assert_eq!(usage, full.usage, "streamed usage equals the non-streamed");
}

#[tokio::test]
async fn files_and_images_become_anthropic_sources_and_file_ids_are_refused() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_text.json")),
    );
    let body = json!({
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Compare these."},
            // "col,val\n" in base64
            {"type": "file", "file": {"file_data": "data:text/csv;base64,Y29sLHZhbAo=", "filename": "t.csv"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQ="}},
            {"type": "image_url", "image_url": {"url": "https://upload.wikimedia.org/a.jpg", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}
        ]}]
    });
    s.provider
        .chat(&request(body.clone()), &s.credential)
        .await
        .unwrap();
    let sent = sent_json(&s);
    assert_eq!(
        sent["messages"][0]["content"],
        json!([
            {"type": "text", "text": "Compare these."},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "col,val\n"}, "title": "t.csv"},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="}},
            {"type": "image", "source": {"type": "url", "url": "https://upload.wikimedia.org/a.jpg"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}}
        ])
    );
    let before = s.mock.requests().len();
    for (part, names) in [
        (
            json!({"type": "file", "file": {"file_id": "file-6F2ksmvXxt4VdoqmHRw6kL"}}),
            "file_id",
        ),
        (
            json!({"type": "file", "file": {"file_data": "data:application/zip;base64,UEsDBA=="}}),
            "application/zip",
        ),
        (
            json!({"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}),
            "image URLs",
        ),
    ] {
        let mut b = body.clone();
        b["messages"][0]["content"][1] = part;
        let err = s
            .provider
            .chat(&request(b), &s.credential)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ProviderError::Unsupported { ref what, .. } if what.contains(names)),
            "{err:?}"
        );
    }
    assert_eq!(s.mock.requests().len(), before, "refused before sending");
}

#[tokio::test]
async fn tool_results_keep_their_parts_and_errors() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_text.json")),
    );
    let mut body = thinking_turn_one(false);
    body.as_object_mut().unwrap().remove("reasoning_effort");
    body["messages"] = json!([
        {"role": "user", "content": "Screenshot the page and fetch the weather."},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "toolu_shot", "type": "function", "function": {"name": "screenshot", "arguments": "{}"}},
            {"id": "toolu_w", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "toolu_shot", "content": [
            {"type": "text", "text": "Rendered:"},
            {"type": "text", "text": ""},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
        {"role": "tool", "tool_call_id": "toolu_w", "content": "location is required", "is_error": true}
    ]);
    s.provider
        .chat(&request(body), &s.credential)
        .await
        .unwrap();
    let sent = sent_json(&s);
    assert_eq!(
        sent["messages"][2]["content"],
        json!([
            {"type": "tool_result", "tool_use_id": "toolu_shot", "content": [
                {"type": "text", "text": "Rendered:"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]},
            {"type": "tool_result", "tool_use_id": "toolu_w", "content": "location is required", "is_error": true}
        ])
    );
}

fn effort_request(model: &str, extra: Value) -> Value {
    let mut b = thinking_turn_one(false);
    b["model"] = json!(model);
    b.as_object_mut().unwrap().remove("reasoning_effort");
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

/// Model, extra fields → `thinking`, `output_config.effort`, `max_tokens` sent.
type EffortCase = (&'static str, Value, Value, Option<&'static str>, u32);

fn effort_cases() -> Vec<EffortCase> {
    vec![
        (
            "claude-opus-4-7",
            json!({"reasoning_effort": "xhigh"}),
            json!({"type": "adaptive"}),
            Some("xhigh"),
            4096,
        ),
        (
            "claude-sonnet-4-6",
            json!({"reasoning_effort": "xhigh"}),
            json!({"type": "adaptive"}),
            Some("max"),
            4096,
        ),
        (
            "claude-opus-4-6",
            json!({"reasoning_effort": "minimal", "max_tokens": 2000}),
            json!({"type": "adaptive"}),
            Some("low"),
            2000,
        ),
        (
            "claude-opus-4-7",
            json!({"reasoning": {"effort": "medium"}}),
            json!({"type": "adaptive"}),
            Some("medium"),
            4096,
        ),
        (
            "claude-sonnet-4-5",
            json!({"reasoning_effort": "minimal"}),
            json!({"type": "enabled", "budget_tokens": 1024}),
            None,
            5120,
        ),
        (
            "claude-sonnet-4-5",
            json!({"reasoning_effort": "xhigh", "max_tokens": 64000}),
            json!({"type": "enabled", "budget_tokens": 32768}),
            None,
            64000,
        ),
        (
            "claude-haiku-4-5",
            json!({"reasoning": {"max_tokens": 3000}, "max_tokens": 1000}),
            json!({"type": "enabled", "budget_tokens": 3000}),
            None,
            4000,
        ),
    ]
}

#[tokio::test]
async fn effort_maps_to_adaptive_thinking_or_a_budget_by_model() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_text.json")),
    );
    let cases = effort_cases();
    for (model, extra, thinking, effort, max_tokens) in cases {
        s.provider
            .chat(
                &request(effort_request(model, extra.clone())),
                &s.credential,
            )
            .await
            .unwrap();
        let sent = sent_json(&s);
        assert_eq!(sent["thinking"], thinking, "{model} {extra}");
        assert_eq!(
            sent["output_config"]["effort"].as_str(),
            effort,
            "{model} {extra}"
        );
        assert_eq!(sent["max_tokens"], max_tokens, "{model} {extra}");
        assert!(sent.get("reasoning").is_none() && sent.get("reasoning_effort").is_none());
    }
    for (model, extra) in [
        ("claude-opus-4-7", json!({"reasoning_effort": "none"})),
        ("claude-sonnet-4-5", json!({"reasoning_effort": "none"})),
        ("claude-opus-4-7", json!({"reasoning": {"enabled": false}})),
    ] {
        s.provider
            .chat(
                &request(effort_request(model, extra.clone())),
                &s.credential,
            )
            .await
            .unwrap();
        let sent = sent_json(&s);
        assert!(
            sent.get("thinking").is_none() && sent.get("output_config").is_none(),
            "{extra}: {sent}"
        );
    }
    let err = s
        .provider
        .chat(
            &request(effort_request(
                "claude-opus-4-7",
                json!({"reasoning": {"max_tokens": 3000}}),
            )),
            &s.credential,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::InvalidRequest { ref message, .. } if message.contains("reasoning.max_tokens") && message.contains("reasoning_effort")),
        "{err:?}"
    );
}

#[tokio::test]
async fn structured_output_and_effort_share_output_config() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::sse(&fixture("anthropic/stream_structured.sse")),
    );
    let format = json!({"type": "json_schema", "json_schema": {"name": "weather", "schema": weather_schema()}});
    let mut body = structured(true, format);
    body["model"] = json!("claude-opus-4-7");
    body["reasoning_effort"] = json!("low");
    let (t, _, _, err) = collect(&s, &request(body)).await;
    assert!(err.is_none(), "{err:?}");
    assert!(serde_json::from_str::<Value>(&t.content).is_ok());
    assert_eq!(
        sent_json(&s)["output_config"],
        json!({"format": {"type": "json_schema", "schema": weather_schema()}, "effort": "low"})
    );
}

#[tokio::test]
async fn thinking_constraints_are_reconciled_or_refused_by_name() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_text.json")),
    );
    // temperature 1 and top_p 0.95..1 are what thinking allows.
    s.provider
        .chat(
            &request(effort_request("claude-opus-4-6", json!({"reasoning_effort": "high", "temperature": 1, "top_p": 0.97, "tool_choice": "auto"}))),
            &s.credential,
        )
        .await
        .unwrap();
    let sent = sent_json(&s);
    assert!(
        sent.get("temperature").is_none(),
        "temperature 1 is the default: {sent}"
    );
    assert_eq!(sent["top_p"], 0.97);
    assert_eq!(sent["tool_choice"], json!({"type": "auto"}));
    let before = s.mock.requests().len();
    for (extra, field) in [
        (json!({"temperature": 0.3}), "temperature"),
        (json!({"top_p": 0.5}), "top_p"),
        (json!({"top_k": 40}), "top_k"),
        (json!({"tool_choice": "required"}), "tool_choice"),
        (
            json!({"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
            "tool_choice",
        ),
    ] {
        for thinking in [
            json!({"reasoning_effort": "low"}),
            json!({"reasoning": {"enabled": true}}),
            json!({"thinking": {"type": "enabled", "budget_tokens": 2048}}),
        ] {
            let mut extra = extra.clone();
            extra
                .as_object_mut()
                .unwrap()
                .extend(thinking.as_object().unwrap().clone());
            let err = s
                .provider
                .chat(
                    &request(effort_request("claude-sonnet-4-5", extra.clone())),
                    &s.credential,
                )
                .await
                .unwrap_err();
            let ProviderError::InvalidRequest { message, param } = &err else {
                panic!("{extra}: {err:?}")
            };
            assert!(
                message.contains(field) && message.contains("thinking"),
                "{extra}: {message}"
            );
            assert_eq!(param.as_deref(), Some(field));
        }
    }
    assert_eq!(s.mock.requests().len(), before, "refused before sending");
    // Without thinking, they all go through.
    s.provider
        .chat(
            &request(effort_request(
                "claude-sonnet-4-5",
                json!({"temperature": 0.3, "top_k": 40, "tool_choice": "required"}),
            )),
            &s.credential,
        )
        .await
        .unwrap();
    let sent = sent_json(&s);
    assert_eq!(
        (sent["temperature"].clone(), sent["top_k"].clone()),
        (json!(0.3), json!(40))
    );
}

#[tokio::test]
async fn url_citations_become_annotations_streamed_and_not() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, local("message_citations.json")),
    );
    let body = json!({"model": "claude-opus-4-7", "messages": [{"role": "user", "content": "When was Claude Shannon born?"}]});
    let full = s
        .provider
        .chat(&request(body.clone()), &s.credential)
        .await
        .unwrap();
    let msg = &full.response.choices[0].message;
    let content = msg.content.clone().unwrap();
    let want = json!([
        {"type": "url_citation", "url_citation": {"url": "https://en.wikipedia.org/wiki/Claude_Shannon", "title": "Claude Shannon - Wikipedia", "start_index": 74, "end_index": 138}},
        {"type": "url_citation", "url_citation": {"url": "https://www.britannica.com/biography/Claude-Shannon", "title": "Claude Shannon | Britannica", "start_index": 138, "end_index": 213}},
        {"type": "url_citation", "url_citation": {"url": "https://kb.example.com/shannon", "title": "KB: Shannon", "start_index": 138, "end_index": 213}}
    ]);
    assert_eq!(
        msg.extra["annotations"], want,
        "the char_location citation has no URL: left out"
    );
    let cited: String = content.chars().skip(74).take(138 - 74).collect();
    assert_eq!(
        cited,
        "Claude Shannon was born on April 30, 1916, in Petoskey, Michigan"
    );
    assert_eq!(content.chars().count(), 213);

    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::sse(&local("stream_citations.sse")),
    );
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let (t, chunks, usage, err) = collect(&s, &request(streamed)).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    assert_eq!(reassembled(&t, &chunks)["message"]["annotations"], want);
}

#[tokio::test]
async fn stop_reasons_that_say_more_keep_their_native_reason() {
    let s = anthropic().await;
    for (stop, want, native) in [
        ("end_turn", FinishReason::Stop, None),
        ("tool_use", FinishReason::ToolCalls, None),
        ("pause_turn", FinishReason::Stop, Some("pause_turn")),
        ("refusal", FinishReason::ContentFilter, Some("refusal")),
        (
            "model_context_window_exceeded",
            FinishReason::Length,
            Some("model_context_window_exceeded"),
        ),
    ] {
        s.mock.on(
            "POST",
            "/v1/messages",
            Reply::json(
                200,
                fixture("anthropic/message_text.json").replace("end_turn", stop),
            ),
        );
        let full = s
            .provider
            .chat(&request(convo(false)), &s.credential)
            .await
            .unwrap();
        let choice = &full.response.choices[0];
        assert_eq!(choice.finish_reason, Some(want), "{stop}");
        assert_eq!(
            choice
                .extra
                .get("native_finish_reason")
                .and_then(Value::as_str),
            native,
            "{stop}"
        );
        s.mock.on(
            "POST",
            "/v1/messages",
            Reply::sse(&fixture("anthropic/stream_text.sse").replace("end_turn", stop)),
        );
        let (t, chunks, _, _) = collect(&s, &request(convo(true))).await;
        assert_eq!(t.finish_reason, Some(want), "{stop} streamed");
        let last = chunks
            .iter()
            .flat_map(|c| &c.choices)
            .rfind(|c| c.finish_reason.is_some())
            .unwrap();
        assert_eq!(
            last.extra
                .get("native_finish_reason")
                .and_then(Value::as_str),
            native,
            "{stop} streamed"
        );
    }
}

/// Turn 1 streamed on an adaptive model, reassembled as the client got it;
/// turn 2 replays it exactly: the thinking blocks go back signed, before
/// the tool use, and the tool result's error flag and cache marks reach
/// Anthropic.
#[tokio::test]
async fn adaptive_thinking_tool_loop_replays_the_streamed_turn() {
    let s = anthropic().await;
    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::sse(&fixture("anthropic/stream_thinking_tool_use.sse")),
    );
    let mut one = thinking_turn_one(true);
    one["model"] = json!("claude-opus-4-7");
    one["reasoning_effort"] = json!("high");
    one["messages"]
        .as_array_mut()
        .unwrap()
        .insert(0, json!({"role": "system", "content": [{"type": "text", "text": "Tools first.", "cache_control": EPHEMERAL()}]}));
    let (t, chunks, _, err) = collect(&s, &request(one.clone())).await;
    assert!(err.is_none(), "{err:?}");
    let sent = sent_json(&s);
    assert_eq!(sent["thinking"], json!({"type": "adaptive"}));
    assert_eq!(sent["output_config"], json!({"effort": "high"}));
    let assistant = reassembled(&t, &chunks)["message"].clone();

    s.mock.on(
        "POST",
        "/v1/messages",
        Reply::json(200, fixture("anthropic/message_text.json")),
    );
    let mut two = one;
    two["stream"] = json!(false);
    let messages = two["messages"].as_array_mut().unwrap();
    messages.push(assistant);
    messages.push(json!({"role": "tool", "tool_call_id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "content": [{"type": "text", "text": "18C", "cache_control": EPHEMERAL()}], "is_error": false}));
    s.provider.chat(&request(two), &s.credential).await.unwrap();
    let body = sent_json(&s);
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "Tools first.", "cache_control": EPHEMERAL()}])
    );
    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(
        msgs[1]["content"],
        json!([
            {"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE},
            {"type": "redacted_thinking", "data": REDACTED},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": {"location": "Paris"}}
        ])
    );
    assert_eq!(
        msgs[2]["content"],
        json!([{"type": "tool_result", "tool_use_id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "content": [{"type": "text", "text": "18C", "cache_control": EPHEMERAL()}]}]),
        "is_error false is the default: not sent"
    );
    assert_eq!(body["thinking"], json!({"type": "adaptive"}));
}
