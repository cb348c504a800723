//! Property test: a Converse answer streamed and reassembled equals the
//! same answer whole: content, reasoning text, `reasoning_details` with
//! signatures and redacted content, tool calls, annotations, finish reason
//! (and `native_finish_reason`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_smithy_types::event_stream::{Header, HeaderValue, Message as EsMessage};
use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::response::decode_response;
use super::stream::BedrockStream;
use crate::http::Out;
use crate::id::ProviderId;
use crate::stream::StreamEvent;
use crate::translators::inverse::{self, parsed_arguments};
use crate::types::ChatChunk;

/// One content block of a generated answer.
#[derive(Debug, Clone)]
enum Block {
    Text(Vec<String>),
    Reasoning(Vec<String>, Option<String>),
    Redacted(String),
    Tool(String, String, Vec<(String, String)>),
    /// Cited text (pieces), the citation's URL (none: a document location)
    /// and title, and after which piece the citation arrives.
    Cited(Vec<String>, Option<String>, String, usize),
}

fn pieces() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[a-zA-Zé°— ]{1,8}", 1..4)
}

fn block() -> impl Strategy<Value = Block> {
    prop_oneof![
        pieces().prop_map(Block::Text),
        (pieces(), proptest::option::of("[A-Za-z0-9+/]{8,24}"))
            .prop_map(|(t, s)| Block::Reasoning(t, s)),
        "[A-Za-z0-9+/=]{8,24}".prop_map(Block::Redacted),
        (
            "tooluse_[A-Za-z0-9]{6,20}",
            "[a-z_]{1,10}",
            proptest::collection::vec(("[a-z]{1,6}", "[a-zA-Zé ]{0,8}"), 0..3)
        )
            .prop_map(|(id, n, a)| Block::Tool(id, n, a)),
        (
            pieces(),
            proptest::option::of("https://[a-z]{1,8}\\.example/[a-z]{0,6}"),
            "[A-Za-zé ]{0,10}",
            0usize..4
        )
            .prop_map(|(t, u, title, at)| Block::Cited(t, u, title, at)),
    ]
}

fn citation(url: Option<&String>, title: &str) -> Value {
    let location = match url {
        Some(u) => json!({"web": {"url": u, "domain": "example"}}),
        None => json!({"documentChar": {"documentIndex": 0, "start": 0, "end": 4}}),
    };
    json!({"title": title, "sourceContent": [{"text": "src"}], "location": location})
}

/// The whole answer and its stream events (`(event type, payload)`).
fn answer(blocks: &[Block], stop: &str) -> (Value, Vec<(&'static str, Value)>) {
    let mut content = Vec::new();
    let mut events = vec![("messageStart", json!({"role": "assistant"}))];
    for (i, b) in blocks.iter().enumerate() {
        let delta = |d: Value| {
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": i, "delta": d}),
            )
        };
        match b {
            Block::Text(p) => {
                content.push(json!({"text": p.concat()}));
                events.extend(p.iter().map(|t| delta(json!({"text": t}))));
            }
            Block::Reasoning(p, sig) => {
                let mut rt = json!({"text": p.concat()});
                events.extend(
                    p.iter()
                        .map(|t| delta(json!({"reasoningContent": {"text": t}}))),
                );
                if let Some(s) = sig {
                    rt["signature"] = json!(s);
                    events.push(delta(json!({"reasoningContent": {"signature": s}})));
                }
                content.push(json!({"reasoningContent": {"reasoningText": rt}}));
            }
            Block::Redacted(data) => {
                content.push(json!({"reasoningContent": {"redactedContent": data}}));
                events.push(delta(
                    json!({"reasoningContent": {"redactedContent": data}}),
                ));
            }
            Block::Tool(id, name, args) => {
                let input: serde_json::Map<String, Value> =
                    args.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                let text = Value::Object(input.clone()).to_string();
                content.push(json!({"toolUse": {"toolUseId": id, "name": name, "input": input}}));
                events.push((
                    "contentBlockStart",
                    json!({"contentBlockIndex": i, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
                ));
                let mid = text.len() / 2;
                let mid = (0..=mid)
                    .rev()
                    .find(|m| text.is_char_boundary(*m))
                    .unwrap_or(0);
                for piece in [&text[..mid], &text[mid..]] {
                    events.push(delta(json!({"toolUse": {"input": piece}})));
                }
            }
            Block::Cited(p, url, title, at) => {
                let c = citation(url.as_ref(), title);
                content.push(json!({"citationsContent": {
                    "content": [{"text": p.concat()}], "citations": [c]
                }}));
                for (n, t) in p.iter().enumerate() {
                    if n == *at {
                        events.push(delta(json!({"citation": c})));
                    }
                    events.push(delta(json!({"text": t})));
                }
                if *at >= p.len() {
                    events.push(delta(json!({"citation": c})));
                }
            }
        }
        events.push(("contentBlockStop", json!({"contentBlockIndex": i})));
    }
    events.push(("messageStop", json!({"stopReason": stop})));
    let usage =
        json!({"inputTokens": 7, "outputTokens": 5, "totalTokens": 12, "cacheReadInputTokens": 3});
    events.push(("metadata", json!({"usage": usage})));
    let whole = json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop, "usage": usage
    });
    (whole, events)
}

fn run_stream(events: &[(&'static str, Value)]) -> Vec<ChatChunk> {
    let mut t = BedrockStream::new(ProviderId::Aws, "model", true, None);
    let mut out = Out::new();
    for (name, payload) in events {
        let m = EsMessage::new_from_parts(
            vec![
                Header::new(
                    ":event-type",
                    HeaderValue::String((*name).to_owned().into()),
                ),
                Header::new(":message-type", HeaderValue::String("event".into())),
            ],
            Bytes::from(serde_json::to_vec(payload).unwrap()),
        );
        t.message(&m, &mut out).unwrap();
    }
    t.finish(&mut out).unwrap();
    out.into_iter()
        .filter_map(|e| match e.unwrap() {
            StreamEvent::Chunk(c) => Some(*c),
            _ => None,
        })
        .collect()
}

fn whole_message(body: &Value) -> Value {
    let r = decode_response(ProviderId::Aws, &serde_json::to_vec(body).unwrap(), "model").unwrap();
    inverse::choice_of(&r)
}

proptest! {
    #[test]
    fn streamed_reassembled_equals_whole(
        blocks in proptest::collection::vec(block(), 0..7),
        stop in prop_oneof![
            Just("end_turn"), Just("tool_use"), Just("max_tokens"),
            Just("malformed_tool_use"), Just("malformed_model_output"),
            Just("guardrail_intervened"), Just("model_context_window_exceeded")
        ],
    ) {
        let (whole, events) = answer(&blocks, stop);
        // `reasoning_details` pieces of one index joined (text appended,
        // the signature kept), as the non-streamed answer is built.
        let streamed = parsed_arguments(inverse::reassembled(&run_stream(&events)));
        prop_assert_eq!(streamed, parsed_arguments(whole_message(&whole)));
    }
}
