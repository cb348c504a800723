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
        reassembled(&t, &chunks)["reasoning_details"],
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

/// A streamed answer reassembled as a client does: deltas concatenated,
/// `reasoning_details` entries appended in order.
fn reassembled(t: &byok_providers::Transcript, chunks: &[byok_providers::ChatChunk]) -> Value {
    let details: Vec<Value> = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .flat_map(|c| c.delta.reasoning_details.iter().flatten().cloned())
        .collect();
    json!({
        "role": "assistant",
        "content": t.content,
        "reasoning_content": t.reasoning,
        "reasoning_details": details,
        "tool_calls": t.tool_calls,
    })
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
    let streamed = reassembled(&t, &chunks);
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
    let streamed = reassembled(&t, &chunks);

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
