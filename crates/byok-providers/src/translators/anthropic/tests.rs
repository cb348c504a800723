//! Property: an answer streamed and reassembled as a client does equals the
//! same answer not streamed: content, reasoning text, `reasoning_details`
//! (signatures included), tool calls, `annotations`, finish reason.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use super::response::decode_response;
use super::stream::AnthropicStream;
use crate::http::{Out, SseTranslate};
use crate::id::ProviderId;
use crate::sse::SseEvent;
use crate::stream::StreamEvent;

/// One content block of a generated answer.
#[derive(Debug, Clone)]
enum Block {
    Thinking(String, Option<String>),
    Redacted(String),
    /// Text, its web citations (url, title), whether they stream first.
    Text(String, Vec<(String, String)>, bool),
    ToolUse(String, String, Map<String, Value>),
}

fn block() -> impl Strategy<Value = Block> {
    let text = "[a-zé☕😀 ,.]{0,24}";
    prop_oneof![
        (text, proptest::option::of("[A-Za-z0-9+/]{8,40}"))
            .prop_map(|(t, s)| Block::Thinking(t, s)),
        "[A-Za-z0-9+/]{8,40}".prop_map(Block::Redacted),
        (
            text,
            proptest::collection::vec(
                ("https://[a-z]{1,8}\\.example/[a-z]{0,6}", "[A-Za-z ]{0,10}"),
                0..3
            ),
            any::<bool>(),
        )
            .prop_map(|(t, c, first)| Block::Text(t, c, first)),
        (
            "toolu_[A-Za-z0-9]{8,20}",
            "[a-z_]{1,10}",
            proptest::collection::btree_map("[a-z]{1,5}", "[a-z0-9é\"\\\\]{0,6}", 0..3),
        )
            .prop_map(|(id, name, args)| {
                let args = args.into_iter().map(|(k, v)| (k, Value::from(v))).collect();
                Block::ToolUse(id, name, args)
            }),
    ]
}

fn citation(url: &str, title: &str) -> Value {
    json!({"type": "web_search_result_location", "url": url, "title": title, "encrypted_index": "e", "cited_text": "c"})
}

/// The non-streamed answer.
fn message(blocks: &[Block], stop: &str) -> Value {
    let content: Vec<Value> = blocks
        .iter()
        .map(|b| match b {
            Block::Thinking(t, s) => {
                json!({"type": "thinking", "thinking": t, "signature": s.clone().unwrap_or_default()})
            }
            Block::Redacted(d) => json!({"type": "redacted_thinking", "data": d}),
            Block::Text(t, c, _) => {
                let citations: Vec<Value> = c.iter().map(|(u, ti)| citation(u, ti)).collect();
                json!({"type": "text", "text": t, "citations": citations})
            }
            Block::ToolUse(id, name, args) => {
                json!({"type": "tool_use", "id": id, "name": name, "input": args})
            }
        })
        .collect();
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-opus-4-7",
        "content": content, "stop_reason": stop,
        "usage": {"input_tokens": 3, "output_tokens": 7, "cache_read_input_tokens": 2, "cache_creation_input_tokens": 1}})
}

/// `s` cut in two at the `at`-th character boundary (modulo its length).
fn halves(s: &str, at: usize) -> [String; 2] {
    let n = s.chars().count();
    let cut = s
        .char_indices()
        .nth(if n == 0 { 0 } else { at % (n + 1) })
        .map_or(s.len(), |(i, _)| i);
    [s[..cut].to_owned(), s[cut..].to_owned()]
}

/// The streamed answer's events.
fn events(blocks: &[Block], stop: &str, at: usize) -> Vec<Value> {
    let mut ev = vec![
        json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-opus-4-7",
        "usage": {"input_tokens": 3, "output_tokens": 1, "cache_read_input_tokens": 2, "cache_creation_input_tokens": 1}}}),
    ];
    for (i, b) in blocks.iter().enumerate() {
        let delta = |d: Value| json!({"type": "content_block_delta", "index": i, "delta": d});
        let (start, deltas): (Value, Vec<Value>) = match b {
            Block::Thinking(t, s) => {
                let mut d: Vec<Value> = halves(t, at)
                    .into_iter()
                    .map(|h| delta(json!({"type": "thinking_delta", "thinking": h})))
                    .collect();
                if let Some(s) = s {
                    d.push(delta(json!({"type": "signature_delta", "signature": s})));
                }
                (
                    json!({"type": "thinking", "thinking": "", "signature": ""}),
                    d,
                )
            }
            Block::Redacted(data) => (
                json!({"type": "redacted_thinking", "data": data}),
                Vec::new(),
            ),
            Block::Text(t, c, first) => {
                let text = halves(t, at)
                    .into_iter()
                    .map(|h| delta(json!({"type": "text_delta", "text": h})));
                let cites = c.iter().map(|(u, ti)| {
                    delta(json!({"type": "citations_delta", "citation": citation(u, ti)}))
                });
                let d = if *first {
                    cites.chain(text).collect()
                } else {
                    text.chain(cites).collect()
                };
                (json!({"type": "text", "text": ""}), d)
            }
            Block::ToolUse(id, name, args) => {
                let json = Value::Object(args.clone()).to_string();
                let d = halves(&json, at)
                    .into_iter()
                    .map(|h| delta(json!({"type": "input_json_delta", "partial_json": h})))
                    .collect();
                (
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    d,
                )
            }
        };
        ev.push(json!({"type": "content_block_start", "index": i, "content_block": start}));
        ev.extend(deltas);
        ev.push(json!({"type": "content_block_stop", "index": i}));
    }
    ev.push(json!({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 7}}));
    ev.push(json!({"type": "message_stop"}));
    ev
}

/// The streamed chunks reassembled as a client does, in the shape of the
/// non-streamed message (plus the finish reasons).
fn reassemble(events: &[Value]) -> Value {
    let mut s = AnthropicStream::new(ProviderId::Anthropic, false, SecretString::from("k"));
    let mut out = Out::new();
    for e in events {
        let e = SseEvent {
            event: None,
            data: e.to_string(),
        };
        if s.event(e, &mut out).unwrap() {
            break;
        }
    }
    let (mut content, mut reasoning) = (String::new(), String::new());
    let (mut details, mut annotations, mut calls) = (Vec::new(), Vec::new(), Vec::<Value>::new());
    let (mut finish, mut native) = (Value::Null, Value::Null);
    for item in out {
        let StreamEvent::Chunk(chunk) = item.unwrap() else {
            continue;
        };
        for c in chunk.choices {
            let d = c.delta;
            content.push_str(d.content.as_deref().unwrap_or(""));
            reasoning.push_str(d.reasoning_content.as_deref().unwrap_or(""));
            details.extend(d.reasoning_details.into_iter().flatten());
            if let Some(Value::Array(a)) = d.extra.get("annotations") {
                annotations.extend(a.iter().cloned());
            }
            for t in d.tool_calls.into_iter().flatten() {
                let i = t.index as usize;
                if calls.len() <= i {
                    calls.resize(i + 1, json!({"id": "", "name": "", "arguments": ""}));
                }
                if let Some(id) = t.id {
                    calls[i]["id"] = Value::from(id);
                }
                let f = t.function.unwrap_or_default();
                if let Some(n) = f.name {
                    calls[i]["name"] = Value::from(n);
                }
                let args = format!(
                    "{}{}",
                    calls[i]["arguments"].as_str().unwrap(),
                    f.arguments.unwrap_or_default()
                );
                calls[i]["arguments"] = Value::from(args);
            }
            if let Some(f) = c.finish_reason {
                finish = serde_json::to_value(f).unwrap();
                native = c
                    .extra
                    .get("native_finish_reason")
                    .cloned()
                    .unwrap_or(Value::Null);
            }
        }
    }
    json!({"content": content, "reasoning": reasoning, "details": details,
        "annotations": annotations, "calls": calls, "finish": finish, "native": native})
}

/// The non-streamed answer, decoded, in the same shape.
fn decoded(message: &Value) -> Value {
    let r = decode_response(ProviderId::Anthropic, message.to_string().as_bytes()).unwrap();
    let c = &r.choices[0];
    let m = &c.message;
    let calls: Vec<Value> = m
        .tool_calls
        .iter()
        .flatten()
        .map(|t| json!({"id": t.id, "name": t.function.name, "arguments": t.function.arguments}))
        .collect();
    json!({"content": m.content.clone().unwrap_or_default(),
        "reasoning": m.reasoning_content.clone().unwrap_or_default(),
        "details": m.reasoning_details.clone().unwrap_or_default(),
        "annotations": m.extra.get("annotations").cloned().unwrap_or(json!([])),
        "calls": calls,
        "finish": serde_json::to_value(c.finish_reason).unwrap(),
        "native": c.extra.get("native_finish_reason").cloned().unwrap_or(Value::Null)})
}

/// Tool-call arguments compared as JSON (the stream's are text fragments).
fn parsed_arguments(mut v: Value) -> Value {
    for call in v["calls"].as_array_mut().into_iter().flatten() {
        let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
        call["arguments"] = args;
    }
    v
}

proptest! {
    #[test]
    fn streamed_and_reassembled_equals_non_streamed(
        blocks in proptest::collection::vec(block(), 0..6),
        stop in prop_oneof![Just("end_turn"), Just("tool_use"), Just("max_tokens"), Just("pause_turn"), Just("refusal")],
        at in 0usize..64,
    ) {
        let full = parsed_arguments(decoded(&message(&blocks, stop)));
        let streamed = parsed_arguments(reassemble(&events(&blocks, stop, at)));
        prop_assert_eq!(streamed, full);
    }
}

#[test]
fn the_property_sees_signatures_and_annotations() {
    let blocks = [
        Block::Thinking("hm é".into(), Some("sig".into())),
        Block::Redacted("enc".into()),
        Block::Text(
            "a☕b".into(),
            vec![("https://x.example/".into(), "X".into())],
            true,
        ),
        Block::ToolUse("toolu_1".into(), "f".into(), Map::new()),
    ];
    let full = decoded(&message(&blocks, "tool_use"));
    assert_eq!(full["details"][0]["signature"], "sig");
    assert_eq!(full["details"][1]["data"], "enc");
    assert_eq!(
        full["annotations"][0]["url_citation"],
        json!({"url": "https://x.example/", "title": "X", "start_index": 0, "end_index": 3})
    );
    assert_eq!(
        parsed_arguments(reassemble(&events(&blocks, "tool_use", 1))),
        parsed_arguments(full)
    );
}
