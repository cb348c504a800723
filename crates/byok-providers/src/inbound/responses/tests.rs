//! Tests of the Responses codec: request mapping (fixtures of what Codex and
//! the OpenAI SDK send), response encoding, the event stream against a
//! reference reader built like openai-python's `ResponseStreamState`, the
//! two-turn reasoning + tool round trip, and the pass-through usage reader.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::types::{
    ChatChunk, ChatResponse, Choice, ChunkChoice, CompletionTokensDetails, Content, ContentPart,
    Delta, FinishReason, FunctionCall, FunctionDelta, Message, PromptTokensDetails, ResponseFormat,
    ResponseMessage, ToolCall, ToolCallDelta, ToolChoice, Usage,
};

const CODEX: &str = include_str!("../../../tests/fixtures/inbound_responses/codex_request.json");
const SDK_CREATE: &str =
    include_str!("../../../tests/fixtures/inbound_responses/sdk_create_request.json");
const OPENAI_STREAM: &str =
    include_str!("../../../tests/fixtures/inbound_responses/openai_stream.sse");

fn fixture_body(raw: &str) -> Vec<u8> {
    let v: Value = serde_json::from_str(raw).unwrap();
    serde_json::to_vec(&v["body"]).unwrap()
}

fn parse(v: Value) -> Parsed {
    parse_request(&serde_json::to_vec(&v).unwrap()).unwrap()
}

fn refused(v: Value) -> InboundError {
    parse_request(&serde_json::to_vec(&v).unwrap()).unwrap_err()
}

fn streaming() -> Parsed {
    parse(
        json!({"model": "m", "input": "hi", "stream": true, "include": ["reasoning.encrypted_content"]}),
    )
}

// ---------------------------------------------------------------- request

#[test]
fn codex_request_maps_to_the_neutral_conversation() {
    let p = parse_request(&fixture_body(CODEX)).unwrap();
    let r = &p.request;
    assert_eq!(p.model, "claude-sonnet-4-5");
    assert!(p.stream && r.is_stream() && r.wants_stream_usage());
    assert!(p.include_encrypted);
    assert_eq!(
        p.prompt_cache_key.as_deref(),
        Some("0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
    );
    assert!(
        r.extra.is_empty(),
        "nothing left for the translators to refuse: {:?}",
        r.extra
    );
    assert_eq!(r.reasoning_effort.as_deref(), Some("medium"));
    assert_eq!(r.parallel_tool_calls, Some(false));
    assert_eq!(r.tool_choice, Some(ToolChoice::Mode("auto".into())));
    let tools = r.tools.as_deref().unwrap();
    assert_eq!(tools.len(), 2);
    assert!(tools[0].is_function());
    assert_eq!(tools[0].function.name, "shell");
    assert_eq!(tools[0].function.strict, Some(false));
    assert_eq!(
        tools[0].function.parameters.as_ref().unwrap()["required"],
        json!(["command"])
    );
    assert!(r.unmodelled().is_none());

    let roles: Vec<&str> = r
        .messages
        .iter()
        .map(|m| match m {
            Message::System { .. } => "system",
            Message::Developer { .. } => "developer",
            Message::User { .. } => "user",
            Message::Assistant { .. } => "assistant",
            Message::Tool { .. } => "tool",
        })
        .collect();
    assert_eq!(roles, ["system", "developer", "user", "assistant", "tool"]);
    let Message::System { content, .. } = &r.messages[0] else {
        panic!()
    };
    assert_eq!(
        content.text(),
        "You are Codex, a coding agent running in a terminal."
    );
}

#[test]
fn codex_history_items_become_assistant_and_tool_messages() {
    let p = parse_request(&fixture_body(CODEX)).unwrap();
    let r = &p.request;
    let Message::Assistant {
        content,
        tool_calls,
        reasoning_content,
        reasoning_details,
        ..
    } = &r.messages[3]
    else {
        panic!()
    };
    assert!(content.is_none());
    let calls = tool_calls.as_deref().unwrap();
    assert_eq!(calls[0].id, "call_Xk9mQ2");
    assert_eq!(calls[0].function.name, "shell");
    assert!(calls[0].function.arguments.contains("workdir"));
    assert_eq!(
        reasoning_content.as_deref(),
        Some("**Listing files**\n\nI will run ls.")
    );
    assert_eq!(
        reasoning_details.as_deref().unwrap(),
        [
            json!({"type": "reasoning.summary", "summary": "**Listing files**\n\nI will run ls.", "format": "openai-responses-v1", "index": 0, "id": "rs_0a1b2c"}),
            json!({"type": "reasoning.encrypted", "data": "gAAAAABoQ2NvZGV4LWVuY3J5cHRlZC1yZWFzb25pbmc=", "format": "openai-responses-v1", "index": 1, "id": "rs_0a1b2c"}),
        ]
    );
    let Message::Tool {
        content,
        tool_call_id,
        ..
    } = &r.messages[4]
    else {
        panic!()
    };
    assert_eq!(tool_call_id, "call_Xk9mQ2");
    assert_eq!(content.text(), "Cargo.toml\nREADME.md\nsrc\n");
}

/// Several reasoning items before one assistant turn: their entries are
/// numbered across the turn, as the Responses translator numbers an
/// answer's (one `reasoning.summary` per summary part).
#[test]
fn reasoning_items_of_one_turn_are_numbered_across_it() {
    let p = parse(json!({"model": "m", "input": [
        {"role": "user", "content": "hi"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "A"}, {"type": "summary_text", "text": "B"}]},
        {"type": "reasoning", "id": "rs_2", "summary": [{"type": "summary_text", "text": "C"}], "encrypted_content": "gAAAA"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]}
    ]}));
    let Message::Assistant {
        reasoning_details, ..
    } = &p.request.messages[1]
    else {
        panic!("{:?}", p.request.messages)
    };
    assert_eq!(
        reasoning_details.as_deref().unwrap(),
        [
            json!({"type": "reasoning.summary", "summary": "A", "format": "openai-responses-v1", "index": 0, "id": "rs_1"}),
            json!({"type": "reasoning.summary", "summary": "B", "format": "openai-responses-v1", "index": 1, "id": "rs_1"}),
            json!({"type": "reasoning.summary", "summary": "C", "format": "openai-responses-v1", "index": 2, "id": "rs_2"}),
            json!({"type": "reasoning.encrypted", "data": "gAAAA", "format": "openai-responses-v1", "index": 3, "id": "rs_2"}),
        ]
    );
}

#[test]
fn sdk_request_with_structured_output_images_and_files() {
    let p = parse_request(&fixture_body(SDK_CREATE)).unwrap();
    let r = &p.request;
    assert!(!p.stream && !r.is_stream() && r.stream_options.is_none());
    assert_eq!(r.max_completion_tokens, Some(512));
    assert_eq!(r.temperature, Some(0.2));
    assert_eq!(r.top_p, Some(0.9));
    assert_eq!(r.user.as_deref(), Some("user-1234"));
    let Some(ResponseFormat::JsonSchema { json_schema }) = &r.response_format else {
        panic!("{:?}", r.response_format)
    };
    assert_eq!(json_schema["name"], "calendar_event");
    assert_eq!(json_schema["strict"], true);
    assert_eq!(json_schema["schema"]["required"][1], "date");
    assert_eq!(r.extra.get("verbosity"), Some(&json!("low")));
    assert_eq!(r.extra.len(), 1, "{:?}", r.extra);
    let Message::User { content, .. } = &r.messages[1] else {
        panic!()
    };
    let parts: Vec<&ContentPart> = content.parts().collect();
    assert!(matches!(parts[0], ContentPart::Text { text, .. } if text.starts_with("Alice")));
    let ContentPart::ImageUrl { image_url, .. } = parts[1] else {
        panic!()
    };
    assert_eq!(image_url.url, "https://example.com/poster.png");
    assert_eq!(image_url.detail.as_deref(), Some("high"));
    assert_eq!(
        serde_json::to_value(parts[2]).unwrap(),
        json!({"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQK", "filename": "flyer.pdf"}})
    );
    // The echo: metadata, text, user come back in the response object.
    let body = encode_response(&answer_text("x"), &p);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["metadata"], json!({"run": "42"}));
    assert_eq!(v["text"]["format"]["name"], "calendar_event");
    assert_eq!(v["max_output_tokens"], 512);
    assert_eq!(v["store"], false);
    assert_eq!(v["model"], "gemini-2.5-flash");
}

#[test]
fn small_shapes_map() {
    let p = parse(json!({"model": "m", "input": "hello"}));
    assert_eq!(
        p.request.messages,
        [Message::User {
            content: Content::Text("hello".into()),
            name: None,
            extra: Map::new()
        }]
    );
    let p = parse(
        json!({"model": "m", "input": "x", "text": {"format": {"type": "json_object"}}, "tool_choice": {"type": "function", "name": "f"}, "tools": [{"type": "function", "name": "f"}], "safety_identifier": "s1", "top_logprobs": 3, "service_tier": "flex", "reasoning": {"effort": "high", "summary": "detailed"}}),
    );
    let r = &p.request;
    assert_eq!(r.response_format, Some(ResponseFormat::JsonObject));
    assert!(matches!(&r.tool_choice, Some(ToolChoice::Named(n)) if n.function.name == "f"));
    assert_eq!(r.user.as_deref(), Some("s1"));
    assert_eq!(r.extra["logprobs"], true);
    assert_eq!(r.extra["top_logprobs"], 3);
    assert_eq!(r.extra["service_tier"], "flex");
    assert_eq!(r.reasoning_effort.as_deref(), Some("high"));
    let v: Value = serde_json::from_slice(&encode_response(&answer_text("x"), &p)).unwrap();
    assert_eq!(
        v["reasoning"],
        json!({"effort": "high", "summary": "detailed"})
    );
    assert_eq!(v["tool_choice"], json!({"type": "function", "name": "f"}));
    // text format `text` and verbosity `medium` are defaults: nothing sent.
    let p = parse(
        json!({"model": "m", "input": "x", "text": {"format": {"type": "text"}, "verbosity": "medium"}}),
    );
    assert!(p.request.response_format.is_none() && p.request.extra.is_empty());
}

#[test]
fn consecutive_assistant_items_are_one_message() {
    let p = parse(json!({"model": "m", "input": [
        {"role": "user", "content": "go"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "think"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me check.", "annotations": []}]},
        {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "b", "arguments": "{\"x\":1}"},
        {"type": "function_call_output", "call_id": "c1", "output": "1"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "2"}]},
        {"type": "reasoning", "id": "rs_dropped", "summary": [{"type": "summary_text", "text": "orphan"}]},
        {"role": "user", "content": [{"type": "input_text", "text": "and?"}]},
        {"role": "assistant", "content": "first"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]}
    ]}));
    let m = &p.request.messages;
    assert_eq!(m.len(), 7, "{m:#?}");
    let Message::Assistant {
        content,
        tool_calls,
        reasoning_content,
        ..
    } = &m[1]
    else {
        panic!()
    };
    assert_eq!(content, &Some(Content::Text("Let me check.".into())));
    let ids: Vec<&str> = tool_calls.iter().flatten().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["c1", "c2"]);
    assert_eq!(reasoning_content.as_deref(), Some("think"));
    assert!(matches!(&m[3], Message::Tool { content, .. } if content.text() == "2"));
    assert!(
        matches!(&m[5], Message::Assistant { content: Some(c), refusal: None, .. } if c.text() == "first")
    );
    assert!(
        matches!(&m[6], Message::Assistant { content: None, refusal: Some(r), .. } if r == "no")
    );
    let no_orphan = m.iter().all(|m| {
        !matches!(m, Message::Assistant { reasoning_content: Some(r), .. } if r.contains("orphan"))
    });
    assert!(no_orphan);
}

#[test]
fn what_needs_state_or_native_tools_is_a_clear_400() {
    let e = refused(json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}));
    assert_eq!(
        e.to_string(),
        "previous_response_id needs a Responses-native provider (openai-responses, azure-responses); send the whole conversation in input"
    );
    assert!(matches!(e, InboundError::Invalid { .. }), "{e:?}");
    assert_eq!(e.param(), Some("previous_response_id"));
    let cases = [
        (json!({"conversation": "conv_1"}), "conversation"),
        (json!({"prompt": {"id": "pmpt_1"}}), "prompt"),
        (json!({"background": true}), "background"),
        (json!({"tools": [{"type": "web_search"}]}), "`web_search`"),
        (
            json!({"tools": [{"type": "file_search", "vector_store_ids": ["vs"]}]}),
            "`file_search`",
        ),
        (
            json!({"tools": [{"type": "custom", "name": "apply_patch"}]}),
            "`custom`",
        ),
        (json!({"tools": [{"type": "local_shell"}]}), "`local_shell`"),
        (
            json!({"tool_choice": {"type": "web_search_preview"}}),
            "web_search_preview",
        ),
        (
            json!({"tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []}}),
            "allowed_tools",
        ),
        (
            json!({"input": [{"type": "item_reference", "id": "msg_1"}]}),
            "item_reference",
        ),
        (
            json!({"input": [{"type": "local_shell_call", "call_id": "c"}]}),
            "`local_shell_call`",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]}),
            "input_image.file_id",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]}),
            "input_file.file_id",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_file", "file_url": "https://x/a.pdf"}]}]}),
            "input_file.file_url",
        ),
        (json!({"input": []}), "`input`"),
        (json!({"model": ""}), "`model`"),
        (json!({"api_base": "http://evil"}), "api_base"),
    ];
    for (patch, needle) in cases {
        let mut body = json!({"model": "m", "input": "x"});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let e = refused(body);
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
    let e = refused(json!({"model": "m", "input": "x", "base_url": "http://evil"}));
    assert_eq!(e.param(), Some("base_url"));
    assert!(parse_request(b"[1]").is_err());
    assert!(parse_request(b"{").is_err());
}

#[test]
fn defaults_are_never_refused() {
    let p = parse(
        json!({"model": "m", "input": "x", "store": true, "truncation": "auto", "previous_response_id": null, "background": false, "conversation": null, "prompt": null, "metadata": {"a": "b"}, "include": ["message.output_text.logprobs"], "max_tool_calls": 3, "stream": false, "stream_options": {"include_obfuscation": false}, "prompt_cache_retention": "24h", "parallel_tool_calls": true, "tools": [], "top_logprobs": 0}),
    );
    assert!(p.request.extra.is_empty(), "{:?}", p.request.extra);
    assert!(!p.include_encrypted);
}

/// An echoed field may nest [`super::request::ECHO_DEPTH`] deep, and the
/// stream's events that echo it still read as JSON (serde_json's nesting
/// limit is 128); one level more is a 400 naming it. (The CI run of the
/// `request_responses` random inputs found a `reasoning` nested 126 deep
/// echoed into a `response.created` event serde_json could not read.)
#[test]
fn echoed_fields_nest_within_a_limit_every_parser_reads() {
    fn nested(depth: usize) -> Value {
        (0..depth).fold(json!("medium"), |v, _| json!([v]))
    }
    let deepest = parse(
        json!({"model": "m", "input": "hi", "stream": true, "reasoning": nested(super::request::ECHO_DEPTH)}),
    );
    let bytes = encode_stream(
        &deepest,
        &[chunk(text_delta("hi"), Some(FinishReason::Stop))],
    );
    let created = &events(&bytes)[0];
    assert_eq!(created.0, "response.created");
    assert_eq!(
        created.1["response"]["reasoning"],
        nested(super::request::ECHO_DEPTH)
    );

    for key in ["reasoning", "tools", "metadata", "text"] {
        let mut body = json!({"model": "m", "input": "hi"});
        body[key] = nested(super::request::ECHO_DEPTH + 1);
        let e = refused(body);
        assert_eq!(e.param(), Some(key), "{e}");
        assert!(e.to_string().contains("nests more than 100"), "{e}");
    }
}

// --------------------------------------------------------------- response

fn usage(prompt: u64, cached: u64, completion: u64, reasoning: u64) -> Usage {
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: Some(cached),
            ..PromptTokensDetails::default()
        }),
        completion_tokens_details: Some(CompletionTokensDetails {
            reasoning_tokens: Some(reasoning),
            ..CompletionTokensDetails::default()
        }),
        extra: Map::new(),
    }
}

fn message() -> ResponseMessage {
    ResponseMessage {
        role: "assistant".into(),
        content: None,
        tool_calls: None,
        refusal: None,
        reasoning_content: None,
        reasoning_details: None,
        extra: Map::new(),
    }
}

fn answer(message: ResponseMessage, finish: FinishReason, usage: Option<Usage>) -> ChatResponse {
    ChatResponse {
        id: "chatcmpl-abc123".into(),
        object: "chat.completion".into(),
        created: 1_700_000_000,
        model: "upstream-model".into(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish),
            logprobs: None,
            extra: Map::new(),
        }],
        usage,
        system_fingerprint: None,
        extra: Map::new(),
    }
}

fn answer_text(text: &str) -> ChatResponse {
    answer(
        ResponseMessage {
            content: Some(text.into()),
            ..message()
        },
        FinishReason::Stop,
        None,
    )
}

fn call(id: &str, name: &str, args: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        kind: "function".into(),
        function: FunctionCall {
            name: name.into(),
            arguments: args.into(),
        },
    }
}

fn encoded(r: &ChatResponse, p: &Parsed) -> Value {
    serde_json::from_slice(&encode_response(r, p)).unwrap()
}

#[test]
fn response_object_has_what_the_sdk_reads() {
    let p = parse(
        json!({"model": "my-model", "input": "x", "instructions": "be brief", "temperature": 0.5}),
    );
    let mut m = ResponseMessage {
        content: Some("Paris.".into()),
        ..message()
    };
    m.extra.insert(
        "annotations".into(),
        json!([{"type": "url_citation", "url_citation": {"url": "https://fr.wikipedia.org", "title": "Paris", "start_index": 0, "end_index": 6}}]),
    );
    let v = encoded(
        &answer(m, FinishReason::Stop, Some(usage(100, 40, 20, 5))),
        &p,
    );
    assert_eq!(v["id"], "resp_abc123");
    assert_eq!(v["object"], "response");
    assert_eq!(v["created_at"], 1_700_000_000);
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "my-model");
    assert_eq!(v["instructions"], "be brief");
    assert_eq!(v["temperature"], 0.5);
    assert_eq!(v["parallel_tool_calls"], true);
    assert_eq!(v["tool_choice"], "auto");
    assert_eq!(v["tools"], json!([]));
    assert_eq!(v["text"], json!({"format": {"type": "text"}}));
    assert_eq!(v["metadata"], json!({}));
    assert_eq!(v["store"], false);
    assert_eq!(v["error"], Value::Null);
    assert_eq!(v["incomplete_details"], Value::Null);
    assert_eq!(
        v["output"],
        json!([{"type": "message", "id": "msg_abc123", "status": "completed", "role": "assistant", "content": [
            {"type": "output_text", "text": "Paris.", "logprobs": [], "annotations": [
                {"type": "url_citation", "url": "https://fr.wikipedia.org", "title": "Paris", "start_index": 0, "end_index": 6}]}]}])
    );
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 100, "input_tokens_details": {"cached_tokens": 40}, "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 5}, "total_tokens": 120})
    );
    // Every field openai-python's `Response` requires is there.
    for key in [
        "id",
        "created_at",
        "model",
        "object",
        "output",
        "parallel_tool_calls",
        "tool_choice",
        "tools",
    ] {
        assert!(v.get(key).is_some_and(|x| !x.is_null()), "{key}");
    }
}

#[test]
fn calls_refusals_and_stops_map() {
    let p = parse(json!({"model": "m", "input": "x"}));
    let m = ResponseMessage {
        content: Some(String::new()),
        tool_calls: Some(vec![
            call("call_1", "f", "{\"a\":1}"),
            call("call_2", "g", "{}"),
        ]),
        ..message()
    };
    let v = encoded(&answer(m, FinishReason::ToolCalls, None), &p);
    assert_eq!(
        v["output"],
        json!([
            {"type": "function_call", "id": "fc_call_1", "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}", "status": "completed"},
            {"type": "function_call", "id": "fc_call_2", "call_id": "call_2", "name": "g", "arguments": "{}", "status": "completed"}])
    );
    assert_eq!(v["usage"], Value::Null);

    let m = ResponseMessage {
        refusal: Some("I can't help with that.".into()),
        ..message()
    };
    let v = encoded(&answer(m, FinishReason::Stop, None), &p);
    assert_eq!(
        v["output"][0]["content"],
        json!([{"type": "refusal", "refusal": "I can't help with that."}])
    );

    let v = encoded(
        &answer(
            ResponseMessage {
                content: Some("cut".into()),
                ..message()
            },
            FinishReason::Length,
            None,
        ),
        &p,
    );
    assert_eq!(v["status"], "incomplete");
    assert_eq!(
        v["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    let v = encoded(&answer(message(), FinishReason::ContentFilter, None), &p);
    assert_eq!(v["incomplete_details"], json!({"reason": "content_filter"}));
    assert_eq!(
        v["output"][0]["content"][0]["text"], "",
        "an empty answer still has a message"
    );
}

fn anthropic_details() -> Vec<Value> {
    vec![
        json!({"type": "reasoning.text", "text": "Let me think.", "signature": "EqQBCkYIBxgCKkB", "format": "anthropic-claude-v1", "index": 0}),
        json!({"type": "reasoning.encrypted", "data": "EmwKAhgBEgy3va3p", "format": "anthropic-claude-v1", "index": 1}),
    ]
}

#[test]
fn reasoning_items_carry_native_entries_as_they_are_and_others_in_an_envelope() {
    let p = parse(json!({"model": "m", "input": "x", "include": ["reasoning.encrypted_content"]}));
    let native = vec![
        json!({"type": "reasoning.summary", "summary": "**Plan**", "format": "openai-responses-v1", "index": 0, "id": "rs_up"}),
        json!({"type": "reasoning.summary", "summary": " more", "format": "openai-responses-v1", "index": 0, "id": "rs_up"}),
        json!({"type": "reasoning.encrypted", "data": "gAAAA", "format": "openai-responses-v1", "index": 1, "id": "rs_up"}),
    ];
    let m = ResponseMessage {
        content: Some("ok".into()),
        reasoning_content: Some("**Plan** more".into()),
        reasoning_details: Some(native),
        ..message()
    };
    let v = encoded(&answer(m, FinishReason::Stop, None), &p);
    assert_eq!(
        v["output"][0],
        json!({"type": "reasoning", "id": "rs_up", "summary": [{"type": "summary_text", "text": "**Plan** more"}], "encrypted_content": "gAAAA"})
    );

    let m = ResponseMessage {
        content: Some("ok".into()),
        reasoning_content: Some("Let me think.".into()),
        reasoning_details: Some(anthropic_details()),
        ..message()
    };
    let v = encoded(&answer(m.clone(), FinishReason::Stop, None), &p);
    let item = &v["output"][0];
    assert_eq!(item["id"], "rs_abc123");
    assert_eq!(
        item["summary"],
        json!([{"type": "summary_text", "text": "Let me think."}])
    );
    let sealed = item["encrypted_content"].as_str().unwrap();
    let entries: Vec<Value> =
        serde_json::from_str(sealed.strip_prefix("byok.rd1:").unwrap()).unwrap();
    assert_eq!(entries, anthropic_details());

    // Without `include`, no encrypted content (as OpenAI with store=false).
    let plain = parse(json!({"model": "m", "input": "x"}));
    let v = encoded(&answer(m, FinishReason::Stop, None), &plain);
    assert_eq!(v["output"][0]["encrypted_content"], Value::Null);
    assert_eq!(v["output"][0]["summary"][0]["text"], "Let me think.");
}

// ----------------------------------------------------------------- stream

/// An SSE event: its `event:` name and `data` JSON.
fn events(bytes: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(bytes).unwrap();
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (name, serde_json::from_str(&data).unwrap())
        })
        .collect()
}

/// A reference stream reader, built like openai-python's
/// `ResponseStreamState.accumulate_event`: a snapshot from
/// `response.created`, items from `output_item.added`, grown by the deltas;
/// the final response from `response.completed` / `.incomplete` /
/// `.failed`. It checks the invariants on the way: `event:` = `type`,
/// sequence numbers 0, 1, 2, ..., deltas only for added items, and every
/// item's streamed text / arguments / summary equal to its
/// `output_item.done` form.
#[derive(Default)]
struct Reader {
    snapshot: Option<Value>,
    items: BTreeMap<u64, Value>,
    done: BTreeMap<u64, Value>,
    last: Option<(String, Value)>,
    kinds: Vec<String>,
}

impl Reader {
    fn read(bytes: &[u8]) -> Self {
        let mut r = Self::default();
        for (n, (name, data)) in events(bytes).into_iter().enumerate() {
            assert_eq!(data["type"], name.as_str());
            assert_eq!(data["sequence_number"], n as u64, "{name}");
            assert!(r.last.is_none(), "{name} after the final event");
            r.kinds.push(name.clone());
            r.event(&name, data);
        }
        for (i, done) in &r.done {
            let streamed = &r.items[i];
            assert_eq!(streamed["type"], done["type"]);
            match done["type"].as_str().unwrap() {
                "message" => {
                    let s = streamed["content"].as_array().unwrap();
                    let d = done["content"].as_array().unwrap();
                    assert_eq!(s.len(), d.len());
                    for (s, d) in s.iter().zip(d) {
                        assert_eq!(s, d, "a streamed part equals its done form");
                    }
                }
                "function_call" => {
                    assert_eq!(streamed["arguments"], done["arguments"]);
                    assert_eq!(streamed["call_id"], done["call_id"]);
                    assert_eq!(streamed["id"], done["id"]);
                }
                "reasoning" => {
                    let text = |v: &Value| -> String {
                        v["summary"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|s| s["text"].as_str().unwrap().to_owned())
                            .collect()
                    };
                    assert_eq!(text(streamed), text(done));
                }
                other => panic!("{other}"),
            }
        }
        r
    }

    fn item(&mut self, data: &Value) -> &mut Value {
        let i = data["output_index"].as_u64().unwrap();
        self.items
            .get_mut(&i)
            .unwrap_or_else(|| panic!("content event for output index {i} before its item"))
    }

    fn event(&mut self, name: &str, data: Value) {
        if self.snapshot.is_none() {
            assert_eq!(name, "response.created");
            assert_eq!(data["response"]["status"], "in_progress");
            self.snapshot = Some(data["response"].clone());
            return;
        }
        let ci = data["content_index"].as_u64().unwrap_or(0) as usize;
        let si = data["summary_index"].as_u64().unwrap_or(0) as usize;
        let delta = data["delta"].as_str().unwrap_or("").to_owned();
        match name {
            "response.output_item.added" => {
                let i = data["output_index"].as_u64().unwrap();
                assert_eq!(i as usize, self.items.len(), "output indices in order");
                self.items.insert(i, data["item"].clone());
            }
            "response.content_part.added" => {
                let part = data["part"].clone();
                let item = self.item(&data);
                assert_eq!(item["id"], data["item_id"]);
                let content = item["content"].as_array_mut().unwrap();
                assert_eq!(content.len(), ci);
                content.push(part);
            }
            "response.output_text.delta" => {
                let item = self.item(&data);
                let part = &mut item["content"][ci];
                assert_eq!(part["type"], "output_text");
                let text = format!("{}{delta}", part["text"].as_str().unwrap());
                part["text"] = json!(text);
                let lp = data["logprobs"].as_array().unwrap().clone();
                part["logprobs"].as_array_mut().unwrap().extend(lp);
            }
            "response.output_text.annotation.added" => {
                let a = data["annotation"].clone();
                let n = data["annotation_index"].as_u64().unwrap() as usize;
                let list = self.item(&data)["content"][ci]["annotations"]
                    .as_array_mut()
                    .unwrap();
                assert_eq!(list.len(), n);
                list.push(a);
            }
            "response.refusal.delta" => {
                let part = &mut self.item(&data)["content"][ci];
                let text = format!("{}{delta}", part["refusal"].as_str().unwrap());
                part["refusal"] = json!(text);
            }
            "response.function_call_arguments.delta" => {
                let item = self.item(&data);
                assert_eq!(item["id"], data["item_id"]);
                let args = format!("{}{delta}", item["arguments"].as_str().unwrap());
                item["arguments"] = json!(args);
            }
            "response.reasoning_summary_part.added" => {
                let part = data["part"].clone();
                let list = self.item(&data)["summary"].as_array_mut().unwrap();
                assert_eq!(list.len(), si);
                list.push(part);
            }
            "response.reasoning_summary_text.delta" => {
                let part = &mut self.item(&data)["summary"][si];
                let text = format!("{}{delta}", part["text"].as_str().unwrap());
                part["text"] = json!(text);
            }
            "response.output_item.done" => {
                let i = data["output_index"].as_u64().unwrap();
                assert!(self.items.contains_key(&i));
                assert!(self.done.insert(i, data["item"].clone()).is_none());
            }
            "response.output_text.done" => {
                let text = data["text"].clone();
                assert_eq!(self.item(&data)["content"][ci]["text"], text);
            }
            "response.function_call_arguments.done" => {
                let args = data["arguments"].clone();
                assert_eq!(self.item(&data)["arguments"], args);
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                self.last = Some((name.to_owned(), data["response"].clone()));
            }
            _ => {}
        }
    }

    /// The final response; its output equals the done items.
    fn response(&self) -> Value {
        let (_, response) = self.last.clone().expect("a final event");
        let done: Vec<Value> = self.done.values().cloned().collect();
        assert_eq!(response["output"], Value::Array(done));
        response
    }
}

fn chunk(delta: Delta, finish: Option<FinishReason>) -> ChatChunk {
    ChatChunk {
        id: "chatcmpl-abc123".into(),
        object: "chat.completion.chunk".into(),
        created: 1_700_000_000,
        model: "upstream-model".into(),
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish,
            logprobs: None,
            extra: Map::new(),
        }],
        usage: None,
        system_fingerprint: None,
        extra: Map::new(),
    }
}

fn usage_chunk(u: Usage) -> ChatChunk {
    ChatChunk {
        choices: Vec::new(),
        usage: Some(u),
        ..chunk(Delta::default(), None)
    }
}

fn encode_stream(p: &Parsed, chunks: &[ChatChunk]) -> Vec<u8> {
    let mut enc = StreamEncoder::new(p);
    let mut out = Vec::new();
    for c in chunks {
        enc.push(c, &mut out);
    }
    enc.finish(&mut out);
    enc.finish(&mut out);
    out
}

fn text_delta(t: &str) -> Delta {
    Delta {
        content: Some(t.into()),
        ..Delta::default()
    }
}

fn tool_delta(index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> Delta {
    Delta {
        tool_calls: Some(vec![ToolCallDelta {
            index,
            id: id.map(str::to_owned),
            kind: id.map(|_| "function".to_owned()),
            function: Some(FunctionDelta {
                name: name.map(str::to_owned),
                arguments: Some(args.into()),
            }),
        }]),
        ..Delta::default()
    }
}

#[test]
fn stream_event_sequence() {
    let p = streaming();
    let chunks = [
        chunk(
            Delta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                ..Delta::default()
            },
            None,
        ),
        chunk(
            Delta {
                reasoning_content: Some("hmm".into()),
                ..Delta::default()
            },
            None,
        ),
        chunk(text_delta("Hi"), None),
        chunk(tool_delta(0, Some("call_1"), Some("f"), "{\"a\""), None),
        chunk(tool_delta(0, None, None, ":1}"), None),
        chunk(Delta::default(), Some(FinishReason::ToolCalls)),
        usage_chunk(usage(10, 0, 5, 1)),
    ];
    let out = encode_stream(&p, &chunks);
    let r = Reader::read(&out);
    assert_eq!(
        r.kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let added = &events(&out)[14].1;
    assert_eq!(added["item"]["arguments"], "", "function call added empty");
    let done = &events(&out)[17].1;
    assert_eq!(done["name"], "f");
    let response = r.response();
    assert_eq!(response["status"], "completed");
    assert_eq!(response["usage"]["output_tokens"], 5);
    let whole = answer(
        ResponseMessage {
            content: Some("Hi".into()),
            reasoning_content: Some("hmm".into()),
            tool_calls: Some(vec![call("call_1", "f", "{\"a\":1}")]),
            ..message()
        },
        FinishReason::ToolCalls,
        Some(usage(10, 0, 5, 1)),
    );
    assert_eq!(response, encoded(&whole, &p));
}

#[test]
fn refusal_annotations_and_logprobs_stream() {
    let p = streaming();
    let ann = json!([{"type": "url_citation", "url_citation": {"url": "https://a", "title": "A", "start_index": 0, "end_index": 2}}]);
    let lp = json!({"content": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": []}]});
    let mut first = chunk(text_delta("Hi"), None);
    first.choices[0].logprobs = Some(lp.clone());
    let mut second = chunk(Delta::default(), None);
    second.choices[0]
        .delta
        .extra
        .insert("annotations".into(), ann.clone());
    let chunks = [
        first,
        second,
        chunk(
            Delta {
                refusal: Some("no".into()),
                ..Delta::default()
            },
            None,
        ),
        chunk(Delta::default(), Some(FinishReason::Length)),
    ];
    let out = encode_stream(&p, &chunks);
    let r = Reader::read(&out);
    assert!(
        r.kinds
            .contains(&"response.output_text.annotation.added".to_owned())
    );
    assert!(r.kinds.contains(&"response.refusal.done".to_owned()));
    assert_eq!(r.kinds.last().unwrap(), "response.incomplete");
    let mut m = ResponseMessage {
        content: Some("Hi".into()),
        refusal: Some("no".into()),
        ..message()
    };
    m.extra.insert("annotations".into(), ann);
    let mut whole = answer(m, FinishReason::Length, None);
    whole.choices[0].logprobs = Some(lp);
    assert_eq!(r.response(), encoded(&whole, &p));
}

#[test]
fn stream_ends_cleanly_without_finish_and_fails_in_protocol() {
    let p = streaming();
    // No chunk at all, no finish reason: still a whole, completed response.
    let out = encode_stream(&p, &[]);
    let r = Reader::read(&out);
    let response = r.response();
    assert_eq!(response["status"], "completed");
    assert_eq!(response["output"][0]["content"][0]["text"], "");

    let mut enc = StreamEncoder::new(&p);
    let mut out = Vec::new();
    enc.push(&chunk(text_delta("par"), None), &mut out);
    enc.error(429, "slow down", &mut out);
    enc.finish(&mut out);
    enc.push(&chunk(text_delta("more"), None), &mut out);
    let all = events(&out);
    let (name, last) = all.last().unwrap();
    assert_eq!(name, "response.failed");
    assert_eq!(last["response"]["status"], "failed");
    assert_eq!(
        last["response"]["error"],
        json!({"code": "rate_limit_exceeded", "message": "slow down"})
    );
    assert_eq!(
        all.iter().filter(|(n, _)| n == "response.failed").count(),
        1
    );

    let mut enc = StreamEncoder::new(&p);
    let mut out = Vec::new();
    enc.error(502, "upstream broke", &mut out);
    let names: Vec<String> = events(&out).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.failed"
        ]
    );
}

#[test]
fn parallel_fragments_of_several_calls_interleave() {
    let p = streaming();
    let chunks = [
        chunk(tool_delta(0, Some("call_a"), Some("a"), "{\"x\":"), None),
        chunk(tool_delta(1, Some("call_b"), Some("b"), "{"), None),
        chunk(tool_delta(0, None, None, "1}"), None),
        chunk(tool_delta(1, None, None, "}"), None),
        chunk(Delta::default(), Some(FinishReason::ToolCalls)),
    ];
    let r = Reader::read(&encode_stream(&p, &chunks));
    let whole = answer(
        ResponseMessage {
            tool_calls: Some(vec![
                call("call_a", "a", "{\"x\":1}"),
                call("call_b", "b", "{}"),
            ]),
            ..message()
        },
        FinishReason::ToolCalls,
        None,
    );
    assert_eq!(r.response(), encoded(&whole, &p));
}

// ------------------------------------------------- two-turn round trip

/// Turn 1: thinking (Anthropic-format, signed) and a tool call; the client
/// gets it streamed and whole, and sends turn 2 with the output items
/// exactly as received plus the tool result. The assistant message of turn
/// 2 must carry the original `reasoning_details` and tool call unchanged.
#[test]
fn two_turn_thinking_and_tool_conversation_round_trips() {
    let p = streaming();
    let details = anthropic_details();
    let m = ResponseMessage {
        content: Some("Checking.".into()),
        reasoning_content: Some("Let me think.".into()),
        reasoning_details: Some(details.clone()),
        tool_calls: Some(vec![call(
            "toolu_01A",
            "get_weather",
            "{\"city\":\"Paris\"}",
        )]),
        ..message()
    };
    let whole = answer(m, FinishReason::ToolCalls, Some(usage(50, 0, 30, 10)));
    let chunks = [
        chunk(
            Delta {
                reasoning_content: Some("Let me ".into()),
                ..Delta::default()
            },
            None,
        ),
        chunk(
            Delta {
                reasoning_content: Some("think.".into()),
                ..Delta::default()
            },
            None,
        ),
        chunk(
            Delta {
                reasoning_details: Some(vec![details[0].clone()]),
                ..Delta::default()
            },
            None,
        ),
        chunk(
            Delta {
                reasoning_details: Some(vec![details[1].clone()]),
                ..Delta::default()
            },
            None,
        ),
        chunk(text_delta("Checking."), None),
        chunk(
            tool_delta(0, Some("toolu_01A"), Some("get_weather"), "{\"city\":"),
            None,
        ),
        chunk(tool_delta(0, None, None, "\"Paris\"}"), None),
        chunk(Delta::default(), Some(FinishReason::ToolCalls)),
        usage_chunk(usage(50, 0, 30, 10)),
    ];
    let streamed = Reader::read(&encode_stream(&p, &chunks)).response();
    let plain = encoded(&whole, &p);
    assert_eq!(streamed, plain);
    for received in [streamed, plain] {
        let mut input = vec![json!({"role": "user", "content": "Weather in Paris?"})];
        input.extend(received["output"].as_array().unwrap().iter().cloned());
        input
            .push(json!({"type": "function_call_output", "call_id": "toolu_01A", "output": "18C"}));
        let turn2 = parse(
            json!({"model": "claude", "input": input, "include": ["reasoning.encrypted_content"]}),
        );
        let Message::Assistant {
            content,
            tool_calls,
            reasoning_content,
            reasoning_details,
            ..
        } = &turn2.request.messages[1]
        else {
            panic!()
        };
        assert_eq!(content, &Some(Content::Text("Checking.".into())));
        assert_eq!(reasoning_details.as_deref(), Some(&details[..]));
        assert_eq!(reasoning_content.as_deref(), Some("Let me think."));
        assert_eq!(
            tool_calls.as_deref(),
            Some(&[call("toolu_01A", "get_weather", "{\"city\":\"Paris\"}")][..])
        );
        assert!(
            matches!(&turn2.request.messages[2], Message::Tool { tool_call_id, .. } if tool_call_id == "toolu_01A")
        );
    }
}

// ------------------------------------------------------- property test

#[derive(Debug, Clone)]
struct Gen {
    reasoning: Vec<String>,
    /// 0: no entries, 1: Anthropic-signed, 2: native (openai-responses-v1).
    format: u8,
    text: Vec<String>,
    cite: bool,
    calls: Vec<(String, Vec<String>)>,
    finish: u8,
    usage: Option<(u64, u64, u64, u64)>,
}

fn gen_answer() -> impl Strategy<Value = Gen> {
    let piece = "[a-zA-Z0-9 {}\":,é]{1,6}";
    (
        prop::collection::vec(piece, 0..4),
        0u8..3,
        prop::collection::vec(piece, 0..5),
        any::<bool>(),
        prop::collection::vec(("[a-z_]{1,8}", prop::collection::vec(piece, 0..4)), 0..3),
        0u8..4,
        prop::option::of((0u64..5000, 0u64..100, 0u64..900, 0u64..50)),
    )
        .prop_map(
            |(reasoning, format, text, cite, calls, finish, usage)| Gen {
                reasoning,
                format,
                text,
                cite,
                calls,
                finish,
                usage,
            },
        )
}

impl Gen {
    fn finish(&self) -> FinishReason {
        match self.finish {
            0 => FinishReason::Stop,
            1 => FinishReason::Length,
            2 => FinishReason::ContentFilter,
            _ => FinishReason::ToolCalls,
        }
    }

    fn entries(&self) -> Vec<Value> {
        let text: String = self.reasoning.concat();
        match self.format {
            1 => vec![
                json!({"type": "reasoning.text", "text": text, "signature": "c2ln", "format": "anthropic-claude-v1", "index": 0}),
            ],
            2 => vec![
                json!({"type": "reasoning.summary", "summary": text, "format": "openai-responses-v1", "index": 0, "id": "rs_native"}),
                json!({"type": "reasoning.encrypted", "data": "gAAAA", "format": "openai-responses-v1", "index": 1, "id": "rs_native"}),
            ],
            _ => Vec::new(),
        }
    }

    fn annotations(&self) -> Option<Value> {
        (self.cite && !self.text.is_empty()).then(|| json!([{"type": "url_citation", "url_citation": {"url": "https://x", "title": "X", "start_index": 0, "end_index": 1}}]))
    }

    fn usage(&self) -> Option<Usage> {
        self.usage.map(|(p, c, o, r)| usage(p + c, c, o + r, r))
    }

    fn chunks(&self) -> Vec<ChatChunk> {
        let mut out = vec![chunk(
            Delta {
                role: Some("assistant".into()),
                ..Delta::default()
            },
            None,
        )];
        for r in &self.reasoning {
            out.push(chunk(
                Delta {
                    reasoning_content: Some(r.clone()),
                    ..Delta::default()
                },
                None,
            ));
        }
        let entries = self.entries();
        if !entries.is_empty() {
            out.push(chunk(
                Delta {
                    reasoning_details: Some(entries),
                    ..Delta::default()
                },
                None,
            ));
        }
        for t in &self.text {
            out.push(chunk(text_delta(t), None));
        }
        if let Some(a) = self.annotations() {
            let mut c = chunk(Delta::default(), None);
            c.choices[0].delta.extra.insert("annotations".into(), a);
            out.push(c);
        }
        for (i, (name, pieces)) in self.calls.iter().enumerate() {
            let id = format!("call_{i}");
            let first = pieces.first().map_or("", String::as_str);
            out.push(chunk(
                tool_delta(i as u32, Some(&id), Some(name), first),
                None,
            ));
            for p in pieces.iter().skip(1) {
                out.push(chunk(tool_delta(i as u32, None, None, p), None));
            }
        }
        out.push(chunk(Delta::default(), Some(self.finish())));
        if let Some(u) = self.usage() {
            out.push(usage_chunk(u));
        }
        out
    }

    fn whole(&self) -> ChatResponse {
        let text: String = self.text.concat();
        let reasoning: String = self.reasoning.concat();
        let entries = self.entries();
        let mut m = ResponseMessage {
            content: (!text.is_empty()).then_some(text),
            reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
            reasoning_details: (!entries.is_empty()).then_some(entries),
            tool_calls: (!self.calls.is_empty()).then(|| {
                self.calls
                    .iter()
                    .enumerate()
                    .map(|(i, (name, pieces))| call(&format!("call_{i}"), name, &pieces.concat()))
                    .collect()
            }),
            ..message()
        };
        if let Some(a) = self.annotations() {
            m.extra.insert("annotations".into(), a);
        }
        answer(m, self.finish(), self.usage())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Streamed and reassembled (the reference reader) equals the
    /// non-streamed encoding, reasoning, signatures, calls and annotations
    /// included; and the reasoning entries survive the trip back.
    #[test]
    fn streamed_reassembled_equals_whole(g in gen_answer(), include in any::<bool>()) {
        let p = parse(json!({"model": "m", "input": "x", "stream": true, "include": if include { json!(["reasoning.encrypted_content"]) } else { json!([]) }}));
        let r = Reader::read(&encode_stream(&p, &g.chunks()));
        let streamed = r.response();
        let whole = g.whole();
        prop_assert_eq!(&streamed, &encoded(&whole, &p));
        let mut input = vec![json!({"role": "user", "content": "q"})];
        input.extend(streamed["output"].as_array().unwrap().iter().cloned());
        let back = parse(json!({"model": "m", "input": input}));
        let assistant = back.request.messages.iter().find_map(|m| match m {
            Message::Assistant { reasoning_details, tool_calls, .. } => Some((reasoning_details.clone(), tool_calls.clone())),
            _ => None,
        });
        let m = &whole.choices[0].message;
        let answered = m.content.is_some() || m.tool_calls.is_some();
        if include && g.format != 0 && answered {
            let (details, _) = assistant.clone().unwrap();
            prop_assert_eq!(details, m.reasoning_details.clone());
        }
        if let Some(calls) = &m.tool_calls {
            let (_, back_calls) = assistant.unwrap();
            prop_assert_eq!(back_calls.as_ref(), Some(calls));
        }
    }
}

// ------------------------------------------------------- usage reader

fn read_usage(pieces: &[&[u8]]) -> Option<PassThroughUsage> {
    let mut r = UsageReader::new();
    for p in pieces {
        r.push(p);
    }
    r.finish()
}

fn expected_stream_usage() -> PassThroughUsage {
    PassThroughUsage {
        usage: usage(37, 5, 11, 2),
        model: Some("gpt-4.1-2025-04-14".into()),
    }
}

#[test]
fn usage_from_the_completed_event_in_every_split() {
    let bytes = OPENAI_STREAM.as_bytes();
    assert_eq!(read_usage(&[bytes]), Some(expected_stream_usage()));
    for cut in 0..bytes.len() {
        let (a, b) = bytes.split_at(cut);
        assert_eq!(read_usage(&[a, b]), Some(expected_stream_usage()), "{cut}");
    }
    let crlf = OPENAI_STREAM.replace('\n', "\r\n");
    assert_eq!(
        read_usage(&[crlf.as_bytes()]),
        Some(expected_stream_usage())
    );
    // A bare CR ends a line too (the scanner both readers share).
    let cr = OPENAI_STREAM.replace('\n', "\r");
    assert_eq!(read_usage(&[cr.as_bytes()]), Some(expected_stream_usage()));
    // Without `event:` lines the data's `type` is enough.
    let bare: String = OPENAI_STREAM
        .lines()
        .filter(|l| !l.starts_with("event:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        read_usage(&[bare.as_bytes()]),
        Some(expected_stream_usage())
    );
    // Cut before the completed event: no usage.
    let cut = OPENAI_STREAM.find("event: response.completed").unwrap();
    assert_eq!(read_usage(&[&bytes[..cut]]), None);
}

#[test]
fn usage_from_a_json_body_and_our_own_stream() {
    let p = streaming();
    let whole = answer_text("hi");
    let mut whole = whole;
    whole.usage = Some(usage(12, 2, 7, 3));
    let body = encode_response(&whole, &p);
    let got = read_usage(&[b"  \n", &body]).unwrap();
    assert_eq!(got.usage, usage(12, 2, 7, 3));
    assert_eq!(got.model.as_deref(), Some("m"));
    assert_eq!(UsageReader::read_body(&body), Some(got));
    assert_eq!(UsageReader::read_body(b"{\"error\":{}}"), None);
    let chunks = [
        chunk(text_delta("hi"), Some(FinishReason::Length)),
        usage_chunk(usage(12, 2, 7, 3)),
    ];
    let streamed = encode_stream(&p, &chunks);
    assert_eq!(read_usage(&[&streamed]).unwrap().usage, usage(12, 2, 7, 3));
    assert_eq!(read_usage(&[b"{\"error\":{}}"]), None);
    assert_eq!(read_usage(&[]), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn usage_reader_is_split_invariant(cuts in prop::collection::vec(0usize..4000, 0..6)) {
        let bytes = OPENAI_STREAM.as_bytes();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut at = 0;
        for c in cuts {
            pieces.push(&bytes[at..c]);
            at = c;
        }
        pieces.push(&bytes[at..]);
        prop_assert_eq!(read_usage(&pieces), Some(expected_stream_usage()));
    }

    #[test]
    fn usage_reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600), prefix in prop::sample::select(vec!["", "{", "data: {\"type\":\"response.completed\",", "event: response.completed\ndata: "])) {
        let mut r = UsageReader::new();
        r.push(prefix.as_bytes());
        for piece in bytes.chunks(7) {
            r.push(piece);
        }
        let _ = r.finish();
    }
}

#[test]
fn peek_reads_model_and_stream_only() {
    let p = peek(&fixture_body(CODEX)).unwrap();
    assert_eq!(
        p,
        Peek {
            model: "claude-sonnet-4-5".into(),
            stream: true
        }
    );
    // What only a native provider can do is not refused by the peek.
    let p = peek(br#"{"model":"gpt-5","previous_response_id":"resp_1","input":[{"type":"item_reference","id":"x"}]}"#).unwrap();
    assert_eq!((p.model.as_str(), p.stream), ("gpt-5", false));
    assert!(peek(br#"{"input":"x"}"#).is_err());
    assert!(peek(b"nope").is_err());
    let e = refused(json!({"model": "m", "input": "x", "instructions": ["a"]}));
    assert_eq!(e.param(), Some("instructions"));
}

#[test]
fn a_call_without_an_id_gets_a_valid_one() {
    let p = streaming();
    let mut c = chunk(tool_delta(0, None, Some("f"), "{}"), None);
    c.id = "chatcmpl-0123456789abcdefghijklmnopqrstuvwxyz0123456789".into();
    let r = Reader::read(&encode_stream(&p, &[c]));
    let id = r.response()["output"][0]["call_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(id.len() <= 40, "{id}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    );
}

// ------------------------------- through a real translator (no network)

fn sse(event: &str, data: Value) -> crate::sse::SseEvent {
    crate::sse::SseEvent {
        event: Some(event.to_owned()),
        data: data.to_string(),
    }
}

/// Anthropic's streamed answer (event shapes from
/// https://docs.anthropic.com/en/docs/build-with-claude/streaming): a signed
/// thinking block, text, a tool call with fragmented input.
fn anthropic_turn() -> Vec<crate::sse::SseEvent> {
    let delta = |index: u32, delta: Value| {
        sse(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    };
    let start = |index: u32, block: Value| {
        sse(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        )
    };
    let stop = |index: u32| {
        sse(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        )
    };
    vec![
        sse(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "usage": {"input_tokens": 120, "cache_read_input_tokens": 30, "output_tokens": 1}}}),
        ),
        start(0, json!({"type": "thinking", "thinking": ""})),
        delta(
            0,
            json!({"type": "thinking_delta", "thinking": "I should list "}),
        ),
        delta(
            0,
            json!({"type": "thinking_delta", "thinking": "the files."}),
        ),
        delta(
            0,
            json!({"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}),
        ),
        stop(0),
        start(1, json!({"type": "text", "text": ""})),
        delta(1, json!({"type": "text_delta", "text": "Listing."})),
        stop(1),
        start(
            2,
            json!({"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "shell", "input": {}}),
        ),
        delta(
            2,
            json!({"type": "input_json_delta", "partial_json": "{\"command\": [\"ls\""}),
        ),
        delta(2, json!({"type": "input_json_delta", "partial_json": "]}"})),
        stop(2),
        sse(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 60}}),
        ),
        sse("message_stop", json!({"type": "message_stop"})),
    ]
}

/// A Codex turn through the Anthropic translator and back: the request
/// encodes, the translated stream encodes as Responses events that the
/// reference reader reassembles, and turn 2 (the output items as received
/// plus the tool output) goes upstream with the signed thinking block and
/// the tool call unchanged.
#[test]
fn codex_through_the_anthropic_translator_two_turns() {
    use crate::ProviderId;
    let mut turn1: Value = serde_json::from_str(CODEX).unwrap();
    let mut body = turn1["body"].take();
    body["model"] = json!("claude-sonnet-4-5");
    body["reasoning"] = json!({"effort": "high", "summary": "auto"});
    body["max_output_tokens"] = json!(32000);
    let p = parse(body.clone());
    let wire: Value = serde_json::from_slice(
        &crate::encode_anthropic_request(ProviderId::Anthropic, &p.request, true).unwrap(),
    )
    .unwrap();
    // Turn 1 continues a tool loop whose assistant turn came from OpenAI
    // (its reasoning cannot be replayed to Anthropic): that request
    // cannot think (Anthropic would refuse it).
    assert!(wire.get("thinking").is_none(), "{wire}");
    assert_eq!(wire["tools"][0]["name"], "shell");
    assert_eq!(
        wire["system"],
        "You are Codex, a coding agent running in a terminal.\n\n<permissions instructions>sandbox: workspace-write</permissions instructions>"
    );

    let events =
        crate::translate_sse_events(ProviderId::Anthropic, &anthropic_turn(), true).unwrap();
    let mut enc = StreamEncoder::new(&p);
    let mut out = Vec::new();
    for e in &events {
        match e {
            crate::StreamEvent::Chunk(c) => enc.push(c, &mut out),
            crate::StreamEvent::Verbatim(v) => enc.push(v.chunk(), &mut out),
            crate::StreamEvent::Usage(u) => enc.usage(u),
        }
    }
    enc.finish(&mut out);
    let response = Reader::read(&out).response();
    let output = response["output"].as_array().unwrap();
    let kinds: Vec<&str> = output.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["reasoning", "message", "function_call"]);
    assert_eq!(output[0]["summary"][0]["text"], "I should list the files.");
    assert_eq!(output[2]["arguments"], "{\"command\": [\"ls\"]}");
    assert_eq!(response["usage"]["input_tokens"], 150);
    assert_eq!(
        response["usage"]["input_tokens_details"]["cached_tokens"],
        30
    );
    assert_eq!(response["usage"]["output_tokens"], 60);
    let call_id = output[2]["call_id"].as_str().unwrap().to_owned();

    let mut input = body["input"].as_array().unwrap().clone();
    input.extend(output.iter().cloned());
    input.push(
        json!({"type": "function_call_output", "call_id": call_id, "output": "Cargo.toml\nsrc\n"}),
    );
    body["input"] = Value::Array(input);
    let p2 = parse(body);
    let wire: Value = serde_json::from_slice(
        &crate::encode_anthropic_request(ProviderId::Anthropic, &p2.request, true).unwrap(),
    )
    .unwrap();
    let messages = wire["messages"].as_array().unwrap();
    let last_assistant = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "assistant")
        .unwrap();
    assert_eq!(
        last_assistant["content"][0],
        json!({"type": "thinking", "thinking": "I should list the files.", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"})
    );
    let tool_use = last_assistant["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap();
    assert_eq!(tool_use["id"], call_id.as_str());
    assert_eq!(tool_use["input"], json!({"command": ["ls"]}));
    let last = messages.last().unwrap();
    assert_eq!(last["content"][0]["type"], "tool_result");
    assert_eq!(last["content"][0]["tool_use_id"], call_id.as_str());
    // Turn 2 continues Claude's own signed turn: it thinks again.
    assert_eq!(wire["thinking"]["type"], "enabled", "{wire}");
}
