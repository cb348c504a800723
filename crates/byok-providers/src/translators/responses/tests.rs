//! Property test: any Responses answer, streamed as the API streams it
//! (events as in the API reference's streaming section: output items
//! added / done, summary parts, text deltas, annotations added, argument
//! deltas) and reassembled, equals the same answer decoded whole:
//! content, reasoning text, `reasoning_details`, `annotations`, refusal,
//! tool calls and the finish reason, with and without `stop`.
#![allow(clippy::unwrap_used, clippy::panic)]

use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::response::decode_response;
use super::stop::Stops;
use super::stream::ResponsesStream;
use crate::http::{Out, SseTranslate};
use crate::id::ProviderId;
use crate::sse::SseEvent;
use crate::stream::StreamEvent;
use crate::translators::inverse::{self, req};
use crate::types::ChatResponse;

#[derive(Debug, Clone)]
enum Part {
    Text(String, Vec<(usize, usize)>),
    Refusal(String),
}

#[derive(Debug, Clone)]
enum Item {
    Reasoning(Vec<String>, Option<String>),
    Message(Vec<Part>),
    Call(String, String),
}

fn text() -> impl Strategy<Value = String> {
    "[ab \u{e9}\u{6771}]{0,12}"
}

fn item() -> impl Strategy<Value = Item> {
    let part = prop_oneof![
        (
            text(),
            proptest::collection::vec((0usize..6, 0usize..6), 0..2)
        )
            .prop_map(|(t, a)| Part::Text(t, a)),
        text().prop_map(Part::Refusal),
    ];
    prop_oneof![
        (
            proptest::collection::vec(text(), 0..3),
            proptest::option::of("[A-Za-z0-9+/=]{1,12}")
        )
            .prop_map(|(s, e)| Item::Reasoning(s, e)),
        proptest::collection::vec(part, 0..3).prop_map(Item::Message),
        ("[a-z]{1,6}", "\\{(\"[a-z]\":[0-9]{1,3})?\\}").prop_map(|(n, a)| Item::Call(n, a)),
    ]
}

/// The item as the finished response lists it.
fn item_json(i: usize, item: &Item) -> Value {
    match item {
        Item::Reasoning(summary, encrypted) => {
            let parts: Vec<Value> = summary
                .iter()
                .map(|t| json!({"type": "summary_text", "text": t}))
                .collect();
            let mut v = json!({"type": "reasoning", "id": format!("rs_{i}"), "summary": parts});
            if let Some(e) = encrypted {
                v["encrypted_content"] = json!(e);
            }
            v
        }
        Item::Message(parts) => {
            let content: Vec<Value> = parts.iter().map(part_json).collect();
            json!({"type": "message", "id": format!("msg_{i}"), "role": "assistant", "status": "completed", "content": content})
        }
        Item::Call(name, args) => json!({
            "type": "function_call", "id": format!("fc_{i}"), "call_id": format!("call_{i}"),
            "name": name, "arguments": args, "status": "completed"
        }),
    }
}

fn annotation_json((a, b): (usize, usize)) -> Value {
    json!({"type": "url_citation", "url": format!("https://example.com/{a}"), "title": "T", "start_index": a.min(b), "end_index": a.max(b)})
}

fn part_json(p: &Part) -> Value {
    match p {
        Part::Text(t, anns) => json!({
            "type": "output_text", "text": t,
            "annotations": anns.iter().copied().map(annotation_json).collect::<Vec<_>>()
        }),
        Part::Refusal(r) => json!({"type": "refusal", "refusal": r}),
    }
}

fn response(items: &[Item], status: &str) -> Value {
    let output: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, it)| item_json(i, it))
        .collect();
    json!({
        "id": "resp_1", "object": "response", "created_at": 1_741_476_542, "model": "gpt-5",
        "status": status,
        "incomplete_details": if status == "incomplete" { json!({"reason": "max_output_tokens"}) } else { Value::Null },
        "output": output,
        "usage": {"input_tokens": 3, "output_tokens": 5, "total_tokens": 8,
                  "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 2}}
    })
}

/// `s` in pieces of `size` characters (at least one piece).
fn pieces(s: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// The events the API streams for `items`, text deltas `size` characters long.
fn events(items: &[Item], status: &str, size: usize) -> Vec<Value> {
    let mut ev = vec![
        json!({"type": "response.created", "response": {"id": "resp_1", "created_at": 1_741_476_542, "model": "gpt-5", "status": "in_progress", "output": []}}),
    ];
    for (i, it) in items.iter().enumerate() {
        let done = item_json(i, it);
        let mut added = done.clone();
        match it {
            Item::Reasoning(summary, _) => {
                added["summary"] = json!([]);
                added.as_object_mut().unwrap().remove("encrypted_content");
                ev.push(
                    json!({"type": "response.output_item.added", "output_index": i, "item": added}),
                );
                for (j, t) in summary.iter().enumerate() {
                    ev.push(json!({"type": "response.reasoning_summary_part.added", "output_index": i, "summary_index": j, "part": {"type": "summary_text", "text": ""}}));
                    for d in pieces(t, size) {
                        ev.push(json!({"type": "response.reasoning_summary_text.delta", "output_index": i, "summary_index": j, "delta": d}));
                    }
                    ev.push(json!({"type": "response.reasoning_summary_text.done", "output_index": i, "summary_index": j, "text": t}));
                }
            }
            Item::Message(parts) => {
                added["content"] = json!([]);
                ev.push(
                    json!({"type": "response.output_item.added", "output_index": i, "item": added}),
                );
                for (k, p) in parts.iter().enumerate() {
                    message_part_events(&mut ev, i, k, p, size);
                }
            }
            Item::Call(_, args) => {
                added["arguments"] = json!("");
                ev.push(
                    json!({"type": "response.output_item.added", "output_index": i, "item": added}),
                );
                for d in pieces(args, size) {
                    ev.push(json!({"type": "response.function_call_arguments.delta", "output_index": i, "delta": d}));
                }
            }
        }
        ev.push(json!({"type": "response.output_item.done", "output_index": i, "item": done}));
    }
    let end = if status == "incomplete" {
        "response.incomplete"
    } else {
        "response.completed"
    };
    ev.push(json!({"type": end, "response": response(items, status)}));
    ev
}

fn message_part_events(ev: &mut Vec<Value>, i: usize, k: usize, p: &Part, size: usize) {
    let head = |kind: &str| json!({"output_index": i, "content_index": k, "type": kind});
    let mut added = head("response.content_part.added");
    added["part"] =
        json!({"type": if matches!(p, Part::Text(..)) { "output_text" } else { "refusal" }});
    ev.push(added);
    match p {
        Part::Text(t, anns) => {
            for d in pieces(t, size) {
                let mut e = head("response.output_text.delta");
                e["delta"] = json!(d);
                ev.push(e);
            }
            for (n, a) in anns.iter().enumerate() {
                let mut e = head("response.output_text.annotation.added");
                e["annotation_index"] = json!(n);
                e["annotation"] = annotation_json(*a);
                ev.push(e);
            }
        }
        Part::Refusal(r) => {
            for d in pieces(r, size) {
                let mut e = head("response.refusal.delta");
                e["delta"] = json!(d);
                ev.push(e);
            }
        }
    }
}

/// The chunks of a stream put back together as the message a client sees
/// ([`inverse::reassembled`]), and the finish reason.
fn reassemble(out: Out) -> Value {
    let chunks: Vec<_> = out
        .into_iter()
        .filter_map(|event| match event.unwrap() {
            StreamEvent::Chunk(c) => Some(*c),
            _ => None,
        })
        .collect();
    inverse::reassembled(&chunks)
}

/// A choice ([`inverse::choice_of`], [`inverse::reassembled`]) as its
/// message and finish reason (the native one asserted absent: Responses
/// says all in its status).
fn message_and_finish(choice: &Value) -> (Value, Option<Value>) {
    assert_eq!(choice["native_finish_reason"], Value::Null);
    let finish = Some(choice["finish_reason"].clone()).filter(|f| !f.is_null());
    (choice["message"].clone(), finish)
}

/// Streamed-reassembled and whole, for a request with `stop`.
fn both(
    items: &[Item],
    status: &str,
    size: usize,
    stop: &[String],
) -> ((Value, Option<Value>), (Value, Option<Value>)) {
    let request = req(
        json!({"model": "gpt-5", "messages": [{"role": "user", "content": "x"}], "stop": stop}),
    );
    let stops = Stops::of(&request);
    let body = serde_json::to_vec(&response(items, status)).unwrap();
    let whole: ChatResponse =
        decode_response(ProviderId::OpenAiResponses, &body, stops.as_ref()).unwrap();
    let whole = message_and_finish(&inverse::choice_of(&whole));
    let mut s = ResponsesStream::new(ProviderId::OpenAiResponses, false, SecretString::from("k"))
        .with_stops(stops);
    let mut out = Out::new();
    for e in events(items, status, size) {
        let ev = SseEvent {
            event: None,
            data: e.to_string(),
        };
        if s.event(ev, &mut out).unwrap() {
            break;
        }
    }
    (message_and_finish(&reassemble(out)), whole)
}

proptest! {
    #[test]
    fn streamed_equals_whole(
        items in proptest::collection::vec(item(), 0..5),
        incomplete in any::<bool>(),
        size in 1usize..5,
        stop in proptest::collection::vec("[ab\u{e9}]{1,3}", 0..2),
    ) {
        let status = if incomplete { "incomplete" } else { "completed" };
        let (streamed, whole) = both(&items, status, size, &stop);
        prop_assert_eq!(streamed, whole);
    }
}

/// Found with the fuzzing of token counts (`stream_gemini`): an upstream's
/// annotation index near `u64::MAX` overflowed when moved by the text's
/// offset; it saturates.
#[test]
fn annotation_indices_saturate() {
    let raw = serde_json::json!({"type": "url_citation", "url": "https://e.x", "start_index": u64::MAX, "end_index": 3});
    let moved = super::response::annotation(&raw, 10).unwrap();
    assert_eq!(moved["url_citation"]["start_index"], u64::MAX);
    assert_eq!(moved["url_citation"]["end_index"], 13);
}

#[test]
fn a_reasoning_item_gives_summary_and_encrypted_details() {
    let items = [
        Item::Reasoning(vec!["Plan.".into(), "Act.".into()], Some("gAAA".into())),
        Item::Message(vec![Part::Text("ok \u{e9}".into(), vec![(0, 2)])]),
    ];
    let ((streamed, _), (whole, finish)) = both(&items, "completed", 2, &[]);
    assert_eq!(streamed, whole);
    assert_eq!(finish, Some(json!("stop")));
    assert_eq!(
        whole["reasoning_details"],
        json!([
            {"type": "reasoning.summary", "summary": "Plan.", "id": "rs_0", "format": "openai-responses-v1", "index": 0},
            {"type": "reasoning.summary", "summary": "Act.", "id": "rs_0", "format": "openai-responses-v1", "index": 1},
            {"type": "reasoning.encrypted", "data": "gAAA", "id": "rs_0", "format": "openai-responses-v1", "index": 2}
        ])
    );
    assert_eq!(whole["reasoning_content"], "Plan.Act.");
    assert_eq!(
        whole["annotations"],
        json!([{"type": "url_citation", "url_citation": {"url": "https://example.com/0", "title": "T", "start_index": 0, "end_index": 2}}])
    );
}

#[test]
fn citation_indices_count_from_the_start_of_the_content() {
    let items = [Item::Message(vec![
        Part::Text("ab".into(), vec![]),
        Part::Text("\u{6771}\u{6771}c".into(), vec![(1, 2)]),
    ])];
    let ((streamed, _), (whole, _)) = both(&items, "completed", 1, &[]);
    assert_eq!(streamed, whole);
    assert_eq!(whole["annotations"][0]["url_citation"]["start_index"], 3);
    assert_eq!(whole["annotations"][0]["url_citation"]["end_index"], 4);
}

#[test]
fn stop_cuts_the_text_and_drops_what_follows() {
    let items = [
        Item::Message(vec![Part::Text("say a\u{e9}b then".into(), vec![(0, 1)])]),
        Item::Call("f".into(), "{}".into()),
    ];
    let ((streamed, sf), (whole, wf)) = both(&items, "completed", 1, &["\u{e9}b".into()]);
    assert_eq!((&streamed, &sf), (&whole, &wf));
    assert_eq!(whole["content"], "say a");
    assert!(whole.get("tool_calls").is_none());
    assert!(whole.get("annotations").is_none(), "cut inside its part");
    assert_eq!(wf, Some(json!("stop")));
}
