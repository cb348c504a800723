//! The stream encoder, checked against the reference reader.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{minimal, parse, reference_reader};
use crate::inbound::messages::{Parsed, StreamEncoder, encode_response};
use crate::types::{
    ChatChunk, ChatResponse, Choice, FinishReason, FunctionCall, ResponseMessage, ToolCall, Usage,
};

fn chunk(delta: Value, finish: Value) -> ChatChunk {
    serde_json::from_value(
        json!({"id": "chatcmpl-7", "object": "chat.completion.chunk", "created": 1, "model": "up",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
    )
    .unwrap()
}

fn usage_chunk(usage: &Usage) -> ChatChunk {
    serde_json::from_value(
        json!({"id": "chatcmpl-7", "object": "chat.completion.chunk", "created": 1, "model": "up",
        "choices": [], "usage": usage}),
    )
    .unwrap()
}

fn run(parsed: &Parsed, chunks: &[ChatChunk]) -> Vec<u8> {
    let mut enc = StreamEncoder::new(parsed);
    let mut out = Vec::new();
    for c in chunks {
        enc.push(c, &mut out);
    }
    enc.finish(&mut out);
    enc.finish(&mut out);
    out
}

/// The exact events for thinking, text and two tool calls.
#[test]
fn events_in_order() {
    let p = parse(&minimal(
        json!({"model": "claude-haiku-4-5", "stream": true}),
    ));
    let chunks = [
        chunk(json!({"role": "assistant", "reasoning_content": "Let me"}), Value::Null),
        chunk(json!({"reasoning_content": " think."}), Value::Null),
        chunk(json!({"reasoning_details": [{"type": "reasoning.text", "text": "Let me think.", "signature": "c2ln", "format": "anthropic-claude-v1", "index": 0}]}), Value::Null),
        chunk(json!({"content": "Hi"}), Value::Null),
        chunk(json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}]}), Value::Null),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"x\":"}}]}), Value::Null),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}), Value::Null),
        chunk(json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}), Value::Null),
        chunk(json!({}), json!("tool_calls")),
        usage_chunk(&serde_json::from_value(json!({"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39, "prompt_tokens_details": {"cached_tokens": 20}})).unwrap()),
    ];
    let out = String::from_utf8(run(&p, &chunks)).unwrap();
    let want = [
        r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_chatcmpl-7","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}}"#,
        r#"event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
        r#"event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me"}}"#,
        r#"event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":" think."}}"#,
        r#"event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2ln"}}"#,
        r#"event: content_block_stop
data: {"type":"content_block_stop","index":0}"#,
        r#"event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
        r#"event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}"#,
        r#"event: content_block_stop
data: {"type":"content_block_stop","index":1}"#,
        r#"event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"call_a","name":"f","input":{}}}"#,
        r#"event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"x\":"}}"#,
        r#"event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"1}"}}"#,
        r#"event: content_block_stop
data: {"type":"content_block_stop","index":2}"#,
        r#"event: content_block_start
data: {"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"call_b","name":"g","input":{}}}"#,
        r#"event: content_block_delta
data: {"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#,
        r#"event: content_block_stop
data: {"type":"content_block_stop","index":3}"#,
        r#"event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":20,"output_tokens":9}}"#,
        r#"event: message_stop
data: {"type":"message_stop"}"#,
    ];
    assert_eq!(out, want.map(|e| format!("{e}\n\n")).concat());
    let m = reference_reader(out.as_bytes()).unwrap();
    assert_eq!(m["content"][2]["input"], json!({"x": 1}));
}

/// Usage reported outside the chunks reaches `message_delta`.
#[test]
fn usage_set_from_the_report() {
    let p = parse(&minimal(json!({"stream": true})));
    let mut enc = StreamEncoder::new(&p);
    let mut out = Vec::new();
    enc.push(&chunk(json!({"content": "x"}), json!("length")), &mut out);
    let u: Usage = serde_json::from_value(
        json!({"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 2, "cache_write_tokens": 4}}),
    )
    .unwrap();
    enc.set_usage(&u);
    enc.finish(&mut out);
    let m = reference_reader(&out).unwrap();
    assert_eq!(m["stop_reason"], "max_tokens");
    assert_eq!(
        m["usage"],
        json!({"input_tokens": 6, "cache_creation_input_tokens": 4, "cache_read_input_tokens": 2, "output_tokens": 3})
    );
}

#[test]
fn closes_cleanly_without_chunks_or_finish_reason() {
    let p = parse(&minimal(json!({"stream": true})));
    let m = reference_reader(&run(&p, &[])).unwrap();
    assert_eq!(m["stop_reason"], "end_turn");
    assert_eq!(m["content"], json!([]));
    let m = reference_reader(&run(&p, &[chunk(json!({"content": "cut"}), Value::Null)])).unwrap();
    assert_eq!(
        (m["stop_reason"].as_str(), m["content"][0]["text"].as_str()),
        (Some("end_turn"), Some("cut"))
    );
}

#[test]
fn errors_mid_stream() {
    let p = parse(&minimal(json!({"stream": true})));
    let mut enc = StreamEncoder::new(&p);
    let mut out = Vec::new();
    enc.push(&chunk(json!({"content": "partial"}), Value::Null), &mut out);
    enc.error(529, "Overloaded", &mut out);
    enc.push(&chunk(json!({"content": "more"}), Value::Null), &mut out);
    enc.finish(&mut out);
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.ends_with("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"),
        "{out}"
    );
    assert!(!out.contains("more") && !out.contains("message_stop"));
    assert!(
        reference_reader(out.as_bytes())
            .unwrap_err()
            .contains("overloaded_error")
    );
}

/// A stop sequence named by the upstream (vLLM's `stop_reason`).
#[test]
fn stop_sequence_streamed() {
    let p = parse(&minimal(json!({"stream": true, "stop_sequences": ["###"]})));
    let mut end = chunk(json!({}), json!("stop"));
    end.choices[0]
        .extra
        .insert("stop_reason".into(), json!("###"));
    let m = reference_reader(&run(
        &p,
        &[chunk(json!({"content": "a"}), Value::Null), end],
    ))
    .unwrap();
    assert_eq!(
        (m["stop_reason"].as_str(), m["stop_sequence"].as_str()),
        (Some("stop_sequence"), Some("###"))
    );
}

/// OpenRouter streams Claude's thinking as unsigned `reasoning_details`
/// fragments next to the `reasoning` text, the signature in the last one:
/// one thinking block, with its text once and its signature.
#[test]
fn unsigned_fragments_make_one_block() {
    let p = parse(&minimal(json!({"stream": true})));
    let frag = |t: &str| json!({"type": "reasoning.text", "text": t, "format": "anthropic-claude-v1", "index": 0});
    let both = [
        chunk(
            json!({"reasoning": "Let ", "reasoning_details": [frag("Let ")]}),
            Value::Null,
        ),
        chunk(
            json!({"reasoning": "me.", "reasoning_details": [frag("me.")]}),
            Value::Null,
        ),
        chunk(
            json!({"reasoning_details": [{"type": "reasoning.text", "text": "", "signature": "c2ln", "format": "anthropic-claude-v1", "index": 0}]}),
            Value::Null,
        ),
        chunk(json!({"content": "Hi"}), json!("stop")),
    ];
    let only_details = [
        chunk(json!({"reasoning_details": [frag("Let ")]}), Value::Null),
        chunk(json!({"reasoning_details": [frag("me.")]}), Value::Null),
        both[2].clone(),
        both[3].clone(),
    ];
    for chunks in [&both[..], &only_details[..]] {
        let m = reference_reader(&run(&p, chunks)).unwrap();
        assert_eq!(
            m["content"],
            json!([{"type": "thinking", "thinking": "Let me.", "signature": "c2ln"}, {"type": "text", "text": "Hi"}])
        );
    }
}

/// Bedrock streams a signed reasoning block as `reasoning.text` pieces (each
/// with its reasoning delta), then its signature alone, and redacted
/// reasoning as one `reasoning.encrypted` entry: one thinking block with
/// the text once and the tagged signature, one redacted block, as the
/// non-streamed answer gives them.
#[test]
fn bedrock_pieces_make_one_block() {
    let p = parse(&minimal(json!({"stream": true})));
    let piece = |t: &str| json!({"type": "reasoning.text", "format": "bedrock-converse", "index": 0, "text": t});
    let chunks = [
        chunk(
            json!({"reasoning_content": "Let ", "reasoning_details": [piece("Let ")]}),
            Value::Null,
        ),
        chunk(
            json!({"reasoning_content": "me.", "reasoning_details": [piece("me.")]}),
            Value::Null,
        ),
        chunk(
            json!({"reasoning_details": [{"type": "reasoning.text", "format": "bedrock-converse", "index": 0, "signature": "c2ln"}]}),
            Value::Null,
        ),
        chunk(
            json!({"reasoning_details": [{"type": "reasoning.encrypted", "data": "ZW5j", "format": "bedrock-converse", "index": 1}]}),
            Value::Null,
        ),
        chunk(json!({"content": "Hi"}), json!("stop")),
    ];
    let streamed = reference_reader(&run(&p, &chunks)).unwrap();
    assert_eq!(
        streamed["content"],
        json!([
            {"type": "thinking", "thinking": "Let me.", "signature": r#"bedrock-converse#{"format":"bedrock-converse","signature":"c2ln","type":"reasoning.text"}"#},
            {"type": "redacted_thinking", "data": r#"bedrock-converse#{"data":"ZW5j","format":"bedrock-converse","type":"reasoning.encrypted"}"#},
            {"type": "text", "text": "Hi"}
        ])
    );
    let whole: Value = serde_json::from_slice(&encode_response(&accumulate(&chunks), &p)).unwrap();
    assert_eq!(streamed, whole);
}

/// The chunks of an OpenAI-shaped SSE fixture of `byok-testkit`.
fn sse_chunks(name: &str) -> Vec<ChatChunk> {
    byok_testkit::fixture(name)
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// Two tool calls whose fragments interleave (call 0 starts, call 1
/// starts, call 0 goes on), as `openai/stream_parallel_tools.sse` records:
/// call 1 is held while call 0's arguments are incomplete, then streams
/// from its fragments so far; nothing is lost.
#[test]
fn interleaved_tool_calls_keep_their_fragments() {
    let p = parse(&minimal(json!({"stream": true})));
    let chunks = sse_chunks("openai/stream_parallel_tools.sse");
    let sse = String::from_utf8(run(&p, &chunks)).unwrap();
    let m = reference_reader(sse.as_bytes()).unwrap();
    assert_eq!(
        m["content"],
        json!([
            {"type": "tool_use", "id": "call_paris_01", "name": "get_weather", "input": {"location": "Paris"}},
            {"type": "tool_use", "id": "call_tokyo_02", "name": "get_weather", "input": {"location": "Tokyo"}}
        ])
    );
    assert_eq!(m["stop_reason"], "tool_use");
    let deltas: Vec<(u64, String)> = sse
        .split("\n\n")
        .filter_map(|e| e.split_once("data: "))
        .map(|(_, d)| serde_json::from_str::<Value>(d).unwrap())
        .filter(|e| e["type"] == "content_block_delta")
        .map(|e| {
            let partial = e["delta"]["partial_json"].as_str().unwrap().to_owned();
            (e["index"].as_u64().unwrap(), partial)
        })
        .collect();
    let want = [
        (0, r#"{"location":"#),
        (0, r#""Paris"}"#),
        (1, r#"{"location":"#),
        (1, r#""Tokyo"}"#),
    ];
    assert_eq!(deltas, want.map(|(i, d)| (i, d.to_owned())));
    let whole: Value = serde_json::from_slice(&encode_response(&accumulate(&chunks), &p)).unwrap();
    assert_eq!(m["content"], whole["content"]);
}

/// Calls held behind one whose arguments never complete come whole at the
/// end, in order; fragments of a call whose block closed complete are
/// dropped (as before: OpenAI-shaped streams do not send them).
#[test]
fn held_calls_flush_at_the_end() {
    let p = parse(&minimal(json!({"stream": true})));
    let call = |i: u32, id: Option<&str>, args: &str| {
        let mut d = json!({"index": i, "function": {"arguments": args}});
        if let Some(id) = id {
            d["id"] = json!(id);
            d["function"]["name"] = json!("f");
        }
        chunk(json!({"tool_calls": [d]}), Value::Null)
    };
    let chunks = [
        call(0, Some("a"), "{\"x\":"),
        call(1, Some("b"), "{}"),
        call(2, Some("c"), "{\"y\""),
        call(2, None, ":2}"),
        chunk(json!({}), json!("tool_calls")),
    ];
    let m = reference_reader(&run(&p, &chunks)).unwrap();
    let inputs: Vec<&Value> = m["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["input"])
        .collect();
    // Call 0 is cut: its input is unreadable (as a cut stream's would be).
    assert_eq!(inputs, [&Value::Null, &json!({}), &json!({"y": 2})]);
    let chunks = [
        call(0, Some("a"), "{}"),
        call(1, Some("b"), "{\"z\":"),
        call(0, None, "{\"late\":1}"),
        call(1, None, "3}"),
    ];
    let m = reference_reader(&run(&p, &chunks)).unwrap();
    assert_eq!(m["content"][0]["input"], json!({}));
    assert_eq!(m["content"][1]["input"], json!({"z": 3}));
}

/// The neutral answer the chunks add up to (as a non-streaming call of
/// the same upstream would give it).
fn accumulate(chunks: &[ChatChunk]) -> ChatResponse {
    let mut m = ResponseMessage {
        role: "assistant".into(),
        content: None,
        tool_calls: None,
        refusal: None,
        reasoning_content: None,
        reasoning_details: None,
        extra: Default::default(),
    };
    let (mut finish, mut usage, mut calls) = (None, None, Vec::<ToolCall>::new());
    for c in chunks {
        if c.usage.is_some() {
            usage.clone_from(&c.usage);
        }
        for ch in &c.choices {
            let d = &ch.delta;
            if let Some(t) = &d.content {
                m.content.get_or_insert_default().push_str(t);
            }
            if let Some(t) = &d.reasoning_content {
                m.reasoning_content.get_or_insert_default().push_str(t);
            }
            if let Some(e) = &d.reasoning_details {
                let details = m.reasoning_details.get_or_insert_default();
                for entry in e {
                    join_piece(details, entry);
                }
            }
            for t in d.tool_calls.iter().flatten() {
                let i = usize::try_from(t.index).unwrap();
                if calls.len() <= i {
                    calls.resize_with(i + 1, || ToolCall {
                        id: String::new(),
                        kind: "function".into(),
                        function: FunctionCall {
                            name: String::new(),
                            arguments: String::new(),
                        },
                    });
                }
                if let Some(id) = &t.id {
                    calls[i].id.clone_from(id);
                }
                if let Some(f) = &t.function {
                    if let Some(n) = &f.name {
                        calls[i].function.name.clone_from(n);
                    }
                    calls[i]
                        .function
                        .arguments
                        .push_str(f.arguments.as_deref().unwrap_or(""));
                }
            }
            finish = ch.finish_reason.or(finish);
        }
    }
    m.tool_calls = (!calls.is_empty()).then_some(calls);
    ChatResponse {
        id: "chatcmpl-7".into(),
        object: "chat.completion".into(),
        created: 1,
        model: "up".into(),
        choices: vec![Choice {
            index: 0,
            message: m,
            finish_reason: finish,
            logprobs: None,
            extra: Default::default(),
        }],
        usage,
        system_fingerprint: None,
        extra: Default::default(),
    }
}

/// Adds a streamed `reasoning_details` entry to the whole answer's: a
/// piece of the last entry (a foreign one of the same format, type and
/// index, as Bedrock streams them) joins it, as the non-streamed answer of
/// the same upstream has it: text appended, other fields the last ones.
fn join_piece(details: &mut Vec<Value>, entry: &Value) {
    let foreign = |e: &Value| {
        e["format"]
            .as_str()
            .is_some_and(|f| f != "anthropic-claude-v1")
    };
    let same = |a: &Value, b: &Value| {
        ["format", "type", "index"]
            .into_iter()
            .all(|k| a.get(k) == b.get(k))
    };
    match details.last_mut() {
        Some(last) if foreign(entry) && foreign(last) && same(last, entry) => {
            for (k, v) in entry.as_object().unwrap() {
                if k == "text" {
                    let joined =
                        format!("{}{}", last[k].as_str().unwrap_or(""), v.as_str().unwrap());
                    last[k] = json!(joined);
                } else {
                    last[k] = v.clone();
                }
            }
        }
        _ => details.push(entry.clone()),
    }
}

/// One reasoning block of a generated answer.
#[derive(Debug, Clone)]
enum Reasoning {
    /// Streamed text, then its entry (format, signature).
    Text(Vec<String>, &'static str, Option<String>),
    /// An encrypted entry.
    Encrypted(&'static str, String),
    /// A foreign entry streamed in pieces as Bedrock does: each text piece
    /// as an entry of its own (with the same reasoning delta, or alone),
    /// then the signature alone in one more.
    Pieces(Vec<String>, &'static str, Option<String>, bool),
}

fn pieces() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[a-zA-Z0-9 .,\u{e9}\u{4e2d}\"\\\\]{1,6}", 1..4)
}

fn reasoning() -> impl Strategy<Value = Reasoning> {
    let format = prop_oneof![
        Just("anthropic-claude-v1"),
        Just("bedrock-converse"),
        Just("openai-responses-v1")
    ];
    prop_oneof![
        // Anthropic's own entries come signed (an unsigned one leaves its
        // block open: see `unsigned_fragments_make_one_block`).
        (
            pieces(),
            format.clone(),
            proptest::option::of("[A-Za-z0-9+/=]{4,12}")
        )
            .prop_map(|(p, f, s)| {
                let s = s.or_else(|| (f == "anthropic-claude-v1").then(|| "c2ln".to_owned()));
                Reasoning::Text(p, f, s)
            }),
        (format, "[A-Za-z0-9+/=]{4,12}").prop_map(|(f, d)| Reasoning::Encrypted(f, d)),
        (
            pieces(),
            prop_oneof![Just("bedrock-converse"), Just("google-gemini-v1")],
            proptest::option::of("[A-Za-z0-9+/=]{4,12}"),
            any::<bool>()
        )
            .prop_map(|(p, f, s, deltas)| Reasoning::Pieces(p, f, s, deltas)),
    ]
}

fn finish() -> impl Strategy<Value = Option<FinishReason>> {
    proptest::option::of(prop_oneof![
        Just(FinishReason::Stop),
        Just(FinishReason::Length),
        Just(FinishReason::ToolCalls),
        Just(FinishReason::ContentFilter),
    ])
}

fn usage() -> impl Strategy<Value = Option<Usage>> {
    proptest::option::of((0u64..1000, 0u64..1000, 0u64..1000, 0u64..1000)).prop_map(|u| {
        u.map(|(input, read, write, out)| {
            serde_json::from_value(
                json!({"prompt_tokens": input + read + write, "completion_tokens": out,
                "total_tokens": input + read + write + out,
                "prompt_tokens_details": {"cached_tokens": read, "cache_write_tokens": write}}),
            )
            .unwrap()
        })
    })
}

/// A tool call: id, name, arguments (a JSON object) cut in pieces.
type Call = (String, String, Vec<String>);

/// The calls' fragments (call index, fragment index) in the order they
/// stream: each call's in order, the calls starting in order, and `order`
/// picking which started call goes on next (the fixture
/// `openai/stream_parallel_tools.sse` interleaves them; none: one after
/// the other).
fn schedule(calls: &[Call], order: &[usize]) -> Vec<(usize, usize)> {
    let mut next = vec![0usize; calls.len()];
    let mut started = 0;
    let mut picks = order.iter().copied();
    let mut out = Vec::new();
    loop {
        let mut candidates: Vec<usize> = (0..started)
            .filter(|&i| next[i] < calls[i].2.len())
            .collect();
        if started < calls.len() {
            candidates.push(started);
        }
        if candidates.is_empty() {
            return out;
        }
        let i = candidates[picks.next().unwrap_or(0) % candidates.len()];
        if i == started {
            started += 1;
        }
        out.push((i, next[i]));
        next[i] += 1;
    }
}

fn call() -> impl Strategy<Value = Call> {
    (
        "call_[a-zA-Z0-9]{4}",
        "[a-z_]{1,8}",
        proptest::collection::btree_map("[a-z]{1,5}", "[a-z0-9 \"]{0,6}", 0..3),
        proptest::collection::vec(0usize..40, 0..4),
    )
        .prop_map(|(id, name, args, cuts)| {
            let json = serde_json::to_string(&args).unwrap();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(json.len())).collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut pieces = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([json.len()]) {
                pieces.push(json[at..c].to_owned());
                at = c;
            }
            (id, name, pieces)
        })
}

fn chunks_of(
    thoughts: &[Reasoning],
    plain: &[String],
    text: &[String],
    calls: &[Call],
    order: &[usize],
    finish: Option<FinishReason>,
    usage: Option<&Usage>,
) -> Vec<ChatChunk> {
    let mut out = vec![chunk(json!({"role": "assistant"}), Value::Null)];
    for p in plain {
        out.push(chunk(json!({"reasoning_content": p}), Value::Null));
    }
    for (i, r) in thoughts.iter().enumerate() {
        let entry = match r {
            Reasoning::Text(pieces, format, signature) => {
                for p in pieces {
                    out.push(chunk(json!({"reasoning_content": p}), Value::Null));
                }
                let mut e = json!({"type": "reasoning.text", "text": pieces.concat(), "format": format, "index": i});
                if let Some(s) = signature {
                    e["signature"] = json!(s);
                }
                e
            }
            Reasoning::Encrypted(format, data) => {
                json!({"type": "reasoning.encrypted", "data": data, "format": format, "index": i})
            }
            Reasoning::Pieces(pieces, format, signature, deltas) => {
                for p in pieces {
                    let piece =
                        json!({"type": "reasoning.text", "format": format, "index": i, "text": p});
                    let mut d = json!({"reasoning_details": [piece]});
                    if *deltas {
                        d["reasoning_content"] = json!(p);
                    }
                    out.push(chunk(d, Value::Null));
                }
                match signature {
                    Some(s) => {
                        json!({"type": "reasoning.text", "format": format, "index": i, "signature": s})
                    }
                    None => continue,
                }
            }
        };
        out.push(chunk(json!({"reasoning_details": [entry]}), Value::Null));
    }
    for t in text {
        out.push(chunk(json!({"content": t}), Value::Null));
    }
    for (i, k) in schedule(calls, order) {
        let (id, name, pieces) = &calls[i];
        let mut d = json!({"index": i, "function": {"arguments": pieces[k]}});
        if k == 0 {
            d["id"] = json!(id);
            d["type"] = json!("function");
            d["function"]["name"] = json!(name);
        }
        out.push(chunk(json!({"tool_calls": [d]}), Value::Null));
    }
    out.push(chunk(
        json!({}),
        finish.map_or(Value::Null, |f| serde_json::to_value(f).unwrap()),
    ));
    if let Some(u) = usage {
        out.push(usage_chunk(u));
    }
    out
}

proptest! {
    /// Streamed and reassembled by the SDK's rules == the non-streamed
    /// answer of the same chunks: reasoning with signatures (Anthropic's
    /// and tagged foreign ones, whole or in Bedrock's pieces), text, several
    /// fragmented tool calls (one after the other or interleaved), stop
    /// reason and usage.
    #[test]
    fn streamed_equals_non_streamed(
        thoughts in proptest::collection::vec(reasoning(), 0..4),
        plain in proptest::collection::vec("[a-z ]{1,5}", 0..3),
        text in proptest::collection::vec("[a-zA-Z0-9 .\u{e9}\"\\\\]{1,8}", 0..4),
        calls in proptest::collection::vec(call(), 0..4),
        order in proptest::collection::vec(0usize..8, 0..16),
        finish in finish(),
        usage in usage(),
    ) {
        // Plain reasoning text (no entries) or entries, as providers send.
        let plain = if thoughts.is_empty() { plain } else { Vec::new() };
        let chunks = chunks_of(&thoughts, &plain, &text, &calls, &order, finish, usage.as_ref());
        let p = parse(&minimal(json!({"model": "claude-opus-4-5", "stream": true})));
        let sse = run(&p, &chunks);
        let streamed = reference_reader(&sse).unwrap();
        // The pass-through reader reads our own stream's usage back.
        let mut reader = crate::inbound::messages::UsageReader::new();
        reader.push(&sse);
        let read = reader.finish().unwrap();
        let want = usage.clone().unwrap_or_default();
        prop_assert_eq!(
            (read.prompt_tokens, read.completion_tokens, read.cached_tokens(), read.cache_write_tokens()),
            (want.prompt_tokens, want.completion_tokens, want.cached_tokens(), want.cache_write_tokens())
        );
        prop_assert_eq!(reader.model(), Some("claude-opus-4-5"));
        let whole: Value = serde_json::from_slice(&encode_response(&accumulate(&chunks), &p)).unwrap();
        prop_assert_eq!(&streamed, &whole);
        prop_assert_eq!(whole["content"].as_array().unwrap().len(),
            thoughts.len() + usize::from(!plain.is_empty()) + usize::from(!text.is_empty()) + calls.len());
    }
}
