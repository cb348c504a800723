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
use crate::translators::inverse::{self, parsed_arguments};

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
/// non-streamed answer ([`inverse::reassembled`]).
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
    let chunks: Vec<_> = out
        .into_iter()
        .filter_map(|item| match item.unwrap() {
            StreamEvent::Chunk(c) => Some(*c),
            _ => None,
        })
        .collect();
    inverse::reassembled(&chunks)
}

/// The non-streamed answer, decoded, in the same shape.
fn decoded(message: &Value) -> Value {
    let r = decode_response(ProviderId::Anthropic, message.to_string().as_bytes()).unwrap();
    inverse::choice_of(&r)
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
    let m = &full["message"];
    assert_eq!(m["reasoning_details"][0]["signature"], "sig");
    assert_eq!(m["reasoning_details"][1]["data"], "enc");
    assert_eq!(
        m["annotations"][0]["url_citation"],
        json!({"url": "https://x.example/", "title": "X", "start_index": 0, "end_index": 3})
    );
    assert_eq!(
        parsed_arguments(reassemble(&events(&blocks, "tool_use", 1))),
        parsed_arguments(full)
    );
}
