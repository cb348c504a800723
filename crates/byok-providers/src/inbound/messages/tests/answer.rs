//! Answers (neutral → Anthropic), errors, and the two-turn replay.

use serde_json::{Value, json};

use super::{fixture, minimal, parse, replay};
use crate::id::ProviderId;
use crate::inbound::messages::response::message_id;
use crate::inbound::messages::{encode_response, error_body, error_type, parse_request};
use crate::types::{ChatResponse, Message};

fn response(message: Value, finish: Value, usage: Value) -> ChatResponse {
    serde_json::from_value(json!({
        "id": "chatcmpl-abc123", "object": "chat.completion", "created": 1, "model": "upstream-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage
    }))
    .unwrap()
}

fn encode(r: &ChatResponse, request: &Value) -> Value {
    serde_json::from_slice(&encode_response(r, &parse(request))).unwrap()
}

#[test]
fn thinking_text_and_tool_use_in_order_with_usage() {
    let r = response(
        json!({"role": "assistant", "content": "Checking.", "reasoning_content": "hm",
            "reasoning_details": [
                {"type": "reasoning.text", "text": "hm", "signature": "c2ln", "format": "anthropic-claude-v1", "index": 0},
                {"type": "reasoning.encrypted", "data": "ZW5j", "format": "anthropic-claude-v1", "index": 1}],
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]}),
        json!("tool_calls"),
        json!({"prompt_tokens": 2110, "completion_tokens": 50, "total_tokens": 2160,
            "prompt_tokens_details": {"cached_tokens": 2000, "cache_write_tokens": 100}}),
    );
    let a = encode(&r, &minimal(json!({"model": "claude-sonnet-4-5"})));
    assert_eq!(
        a,
        json!({
            "id": "msg_chatcmpl-abc123", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [
                {"type": "thinking", "thinking": "hm", "signature": "c2ln"},
                {"type": "redacted_thinking", "data": "ZW5j"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "Paris"}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 2000, "output_tokens": 50}
        })
    );
}

#[test]
fn stop_reasons() {
    let base = minimal(json!({"stop_sequences": ["END"]}));
    for (finish, extra, want, seq) in [
        (json!("stop"), json!({}), "end_turn", Value::Null),
        (
            json!("stop"),
            json!({"stop_reason": "END"}),
            "stop_sequence",
            json!("END"),
        ),
        (
            json!("stop"),
            json!({"stop_reason": "OTHER"}),
            "end_turn",
            Value::Null,
        ),
        (
            json!("stop"),
            json!({"stop_reason": 50256}),
            "end_turn",
            Value::Null,
        ),
        (json!("length"), json!({}), "max_tokens", Value::Null),
        (json!("tool_calls"), json!({}), "tool_use", Value::Null),
        (json!("content_filter"), json!({}), "refusal", Value::Null),
        (json!("function_call"), json!({}), "tool_use", Value::Null),
        (Value::Null, json!({}), "end_turn", Value::Null),
    ] {
        let mut r = response(
            json!({"role": "assistant", "content": "x"}),
            finish.clone(),
            Value::Null,
        );
        r.choices[0].extra = extra.as_object().unwrap().clone();
        let a = encode(&r, &base);
        assert_eq!(a["stop_reason"], want, "{finish} {extra}");
        assert_eq!(a["stop_sequence"], seq);
    }
    let r = response(
        json!({"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
        Value::Null,
        Value::Null,
    );
    let a = encode(&r, &base);
    assert_eq!(
        a["stop_reason"], "tool_use",
        "a call without a finish reason"
    );
    assert_eq!(
        a["content"],
        json!([{"type": "tool_use", "id": "c", "name": "f", "input": {}}])
    );
    assert_eq!(
        a["usage"],
        json!({"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0})
    );
}

#[test]
fn message_ids() {
    assert_eq!(
        message_id("msg_01XFDUDYJgAACzvnptvVoYEL"),
        "msg_01XFDUDYJgAACzvnptvVoYEL"
    );
    assert_eq!(message_id("chatcmpl-9x/y z"), "msg_chatcmpl-9xyz");
    let (a, b) = (message_id(""), message_id("///"));
    assert!(a.starts_with("msg_byok") && b.starts_with("msg_byok") && a != b);
}

/// Reasoning text without a text-bearing entry (Gemini, DeepSeek, Groq)
/// is an unsigned thinking block; a refusal is text; empty text is no block.
#[test]
fn unsigned_reasoning_and_refusals() {
    let r = response(
        json!({"role": "assistant", "content": "", "reasoning_content": "because", "refusal": "I can't help with that."}),
        json!("content_filter"),
        Value::Null,
    );
    let a = encode(&r, &minimal(json!({})));
    assert_eq!(
        a["content"],
        json!([{"type": "thinking", "thinking": "because", "signature": ""}, {"type": "text", "text": "I can't help with that."}])
    );
    assert_eq!(a["stop_reason"], "refusal");
    let r = response(
        json!({"role": "assistant", "content": null, "reasoning": "groq style"}),
        json!("stop"),
        Value::Null,
    );
    assert_eq!(
        encode(&r, &minimal(json!({})))["content"],
        json!([{"type": "thinking", "thinking": "groq style", "signature": ""}])
    );
}

/// Citations cannot be expressed (Anthropic's need an `encrypted_index`):
/// the text stays, the annotations go.
#[test]
fn annotations_are_dropped() {
    let r = response(
        json!({"role": "assistant", "content": "Paris [1]", "annotations": [{"type": "url_citation",
            "url_citation": {"url": "https://en.wikipedia.org/wiki/Paris", "title": "Paris", "start_index": 0, "end_index": 5}}]}),
        json!("stop"),
        Value::Null,
    );
    assert_eq!(
        encode(&r, &minimal(json!({})))["content"],
        json!([{"type": "text", "text": "Paris [1]"}])
    );
}

/// Arguments that are not a JSON object are carried whole and come back
/// unchanged when the client replays the block.
#[test]
fn unparsable_arguments_round_trip() {
    for args in ["not json", "[1,2]", "{\"a\": 1", "  \"s\" "] {
        let r = response(
            json!({"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": args}}]}),
            json!("tool_calls"),
            Value::Null,
        );
        let a = encode(&r, &minimal(json!({})));
        assert_eq!(a["content"][0]["input"], json!({"_raw_arguments": args}));
        let next = parse(&minimal(
            json!({"messages": [{"role": "user", "content": "x"}, replay(&a)]}),
        ));
        let Message::Assistant { tool_calls, .. } = &next.request.messages[1] else {
            panic!()
        };
        assert_eq!(tool_calls.as_deref().unwrap()[0].function.arguments, args);
    }
}

/// Turn 2 replays turn 1's answer exactly as the client received it: the
/// neutral assistant message the codec rebuilds equals the neutral answer,
/// reasoning (with signatures, for Anthropic's format and, tagged, for
/// Bedrock's), text and tool calls included; and each translator sends its
/// own reasoning back.
#[test]
fn two_turn_thinking_and_tools() {
    for (format, provider) in [
        ("anthropic-claude-v1", ProviderId::Anthropic),
        ("bedrock-converse", ProviderId::Aws),
    ] {
        let message = json!({"role": "assistant", "content": "Let me look.",
            "reasoning_content": "First the weather.",
            "reasoning_details": [
                {"type": "reasoning.text", "text": "First the weather.", "signature": "U2lnbmF0dXJl", "format": format, "index": 0},
                {"type": "reasoning.encrypted", "data": "UmVkYWN0ZWQ=", "format": format, "index": 1}],
            "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]});
        let turn1 = minimal(
            json!({"model": "claude-opus-4-5", "thinking": {"type": "enabled", "budget_tokens": 2048},
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}, {"name": "get_time", "input_schema": {"type": "object"}}]}),
        );
        let answer = encode(
            &response(message.clone(), json!("tool_calls"), Value::Null),
            &turn1,
        );
        let mut turn2 = turn1.clone();
        turn2["messages"] = json!([
            {"role": "user", "content": "hi"},
            replay(&answer),
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "noon"}]}
        ]);
        let mut p = parse(&turn2);
        p.adapt_to(provider.info().format);
        let back = serde_json::to_value(&p.request.messages[1]).unwrap();
        let mut want = message.clone();
        want["content"] = json!([{"type": "text", "text": "Let me look."}]);
        assert_eq!(back, want, "{format}");
        let body = match provider {
            ProviderId::Anthropic => {
                crate::encode_anthropic_request(provider, &p.request, false).unwrap()
            }
            _ => crate::encode_bedrock_request(provider, &p.request).unwrap(),
        };
        let body = String::from_utf8(body).unwrap();
        assert!(
            body.contains("U2lnbmF0dXJl") && body.contains("UmVkYWN0ZWQ="),
            "{format}: {body}"
        );
    }
}

#[test]
fn error_bodies() {
    for (status, kind) in [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (409, "invalid_request_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
    ] {
        assert_eq!(error_type(status), kind);
        let body: Value = serde_json::from_slice(&error_body(status, "nope \"quoted\"")).unwrap();
        assert_eq!(
            body,
            json!({"type": "error", "error": {"type": kind, "message": "nope \"quoted\""}})
        );
    }
}

/// The model in the answer is the client's, whatever answered.
#[test]
fn model_is_the_clients() {
    let p = parse_request(&fixture("claude_code_request.json")).unwrap();
    let r = response(
        json!({"role": "assistant", "content": "ok"}),
        json!("stop"),
        Value::Null,
    );
    let a: Value = serde_json::from_slice(&encode_response(&r, &p)).unwrap();
    assert_eq!(a["model"], "claude-sonnet-4-5-20250929");
}
