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
                m.reasoning_details
                    .get_or_insert_default()
                    .extend(e.iter().cloned());
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

/// One reasoning block of a generated answer.
#[derive(Debug, Clone)]
enum Reasoning {
    /// Streamed text, then its entry (format, signature).
    Text(Vec<String>, &'static str, Option<String>),
    /// An encrypted entry.
    Encrypted(&'static str, String),
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
fn call() -> impl Strategy<Value = (String, String, Vec<String>)> {
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
    calls: &[(String, String, Vec<String>)],
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
        };
        out.push(chunk(json!({"reasoning_details": [entry]}), Value::Null));
    }
    for t in text {
        out.push(chunk(json!({"content": t}), Value::Null));
    }
    for (i, (id, name, pieces)) in calls.iter().enumerate() {
        for (k, p) in pieces.iter().enumerate() {
            let mut d = json!({"index": i, "function": {"arguments": p}});
            if k == 0 {
                d["id"] = json!(id);
                d["type"] = json!("function");
                d["function"]["name"] = json!(name);
            }
            out.push(chunk(json!({"tool_calls": [d]}), Value::Null));
        }
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
    /// and tagged foreign ones), text, several fragmented tool calls,
    /// stop reason and usage.
    #[test]
    fn streamed_equals_non_streamed(
        thoughts in proptest::collection::vec(reasoning(), 0..4),
        plain in proptest::collection::vec("[a-z ]{1,5}", 0..3),
        text in proptest::collection::vec("[a-zA-Z0-9 .\u{e9}\"\\\\]{1,8}", 0..4),
        calls in proptest::collection::vec(call(), 0..4),
        finish in finish(),
        usage in usage(),
    ) {
        // Plain reasoning text (no entries) or entries, as providers send.
        let plain = if thoughts.is_empty() { plain } else { Vec::new() };
        let chunks = chunks_of(&thoughts, &plain, &text, &calls, finish, usage.as_ref());
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
