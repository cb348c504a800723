//! Per-chunk stream translation and per-request serialisation costs.
//!
//! ```text
//! cargo bench -p byok-providers --bench translate
//! ```
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)] // bench code

use std::hint::black_box;

use byok_providers::sse::{SseDecoder, encode_data};
use byok_providers::{
    ChatRequest, ProviderId, Quirks, Translated, encode_request, translate_event,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const CHUNK: &str = r#"{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4.1-2025-04-14","system_fingerprint":"fp_e4fa3702df","choices":[{"index":0,"delta":{"content":" today"},"logprobs":null,"finish_reason":null}]}"#;

fn request_json() -> String {
    // ~1 KB: a system prompt, three turns, two tools.
    serde_json::json!({
        "model": "gpt-4.1",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant that answers briefly and cites sources when it can."},
            {"role": "user", "content": "What is the weather in Paris and in Tokyo right now? Please use the tools."},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\": 18, \"unit\": \"celsius\", \"sky\": \"cloudy\"}"},
            {"role": "user", "content": "And how does that compare with yesterday?"}
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city", "parameters": {"type": "object", "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}}},
            {"type": "function", "function": {"name": "get_history", "description": "Weather on a past day", "parameters": {"type": "object", "properties": {"location": {"type": "string"}, "date": {"type": "string"}}, "required": ["location", "date"]}}}
        ],
        "temperature": 0.3,
        "max_completion_tokens": 512,
        "stream": true,
        "user": "user-1234"
    })
    .to_string()
}

fn chunk_translation(c: &mut Criterion) {
    let mut g = c.benchmark_group("stream chunk");
    g.throughput(Throughput::Elements(1));
    g.bench_function("translate (parse + typed chunk)", |b| {
        b.iter(|| black_box(translate_event(ProviderId::OpenAi, black_box(CHUNK), None).unwrap()));
    });
    let wire = format!("data: {CHUNK}\n\n");
    let mut out = Vec::with_capacity(512);
    let mut events = Vec::with_capacity(4);
    let mut decoder = SseDecoder::new(4 << 20);
    g.bench_function("sse decode + translate + re-encode for the client", |b| {
        b.iter(|| {
            events.clear();
            decoder
                .push(black_box(wire.as_bytes()), &mut events)
                .unwrap();
            for e in events.drain(..) {
                if let Translated::Chunk(Some(chunk), _) =
                    translate_event(ProviderId::OpenAi, &e.data, None).unwrap()
                {
                    out.clear();
                    let json = serde_json::to_vec(&chunk).unwrap();
                    encode_data(&json, &mut out);
                    black_box(&out);
                }
            }
        });
    });
    g.finish();
}

fn request_serialisation(c: &mut Criterion) {
    let raw = request_json();
    let mut g = c.benchmark_group("request");
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("parse client JSON", |b| {
        b.iter(|| black_box(serde_json::from_str::<ChatRequest>(black_box(&raw)).unwrap()));
    });
    let req: ChatRequest = serde_json::from_str(&raw).unwrap();
    g.bench_function("encode upstream body (OpenAI dialect)", |b| {
        b.iter(|| black_box(encode_request(black_box(&req), Quirks::OPENAI, true).unwrap()));
    });
    g.bench_function("parse + validate + encode", |b| {
        b.iter(|| {
            let r: ChatRequest = serde_json::from_str(black_box(&raw)).unwrap();
            r.validate().unwrap();
            black_box(encode_request(&r, Quirks::OPENAI, true).unwrap())
        });
    });
    g.finish();
}

fn decoded(name: &str) -> Vec<byok_providers::sse::SseEvent> {
    let text = byok_testkit::fixture(name);
    let mut d = SseDecoder::new(4 << 20);
    let mut events = Vec::new();
    d.push(text.as_bytes(), &mut events).unwrap();
    events
}

fn bedrock_frames(name: &str) -> Vec<u8> {
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    let events: Vec<serde_json::Value> =
        serde_json::from_str(&byok_testkit::fixture(name)).unwrap();
    let mut out = Vec::new();
    for e in &events {
        let msg = Message::new_from_parts(
            vec![
                Header::new(
                    ":event-type",
                    HeaderValue::String(e["event"].as_str().unwrap().to_owned().into()),
                ),
                Header::new(":message-type", HeaderValue::String("event".into())),
            ],
            serde_json::to_vec(&e["payload"]).unwrap(),
        );
        write_message_to(&msg, &mut out).unwrap();
    }
    out
}

/// Per-event cost of each streaming translator on a tool-call stream
/// (events already SSE-decoded; Bedrock includes frame decoding and CRCs).
fn translators(c: &mut Criterion) {
    let mut g = c.benchmark_group("translator per event");
    for (label, id, fixture) in [
        ("openai", ProviderId::OpenAi, "openai/stream_tool_call.sse"),
        (
            "anthropic",
            ProviderId::Anthropic,
            "anthropic/stream_tool_use.sse",
        ),
        (
            "responses",
            ProviderId::OpenAiResponses,
            "responses/stream_tool_calls.sse",
        ),
        ("google", ProviderId::Google, "google/stream_tool_calls.sse"),
    ] {
        let events = decoded(fixture);
        g.throughput(Throughput::Elements(events.len() as u64));
        g.bench_function(label, |b| {
            b.iter(|| {
                black_box(
                    byok_providers::translate_sse_events(id, black_box(&events), true).unwrap(),
                )
            });
        });
    }
    let frames = bedrock_frames("bedrock/stream_tool_use.events.json");
    let n: Vec<serde_json::Value> = serde_json::from_str(&byok_testkit::fixture(
        "bedrock/stream_tool_use.events.json",
    ))
    .unwrap();
    g.throughput(Throughput::Elements(n.len() as u64));
    g.bench_function("bedrock (frames + translation)", |b| {
        b.iter(|| {
            black_box(
                byok_providers::translate_bedrock_frames(
                    byok_providers::ProviderId::Aws,
                    black_box(&frames),
                    4096,
                    true,
                )
                .unwrap(),
            )
        });
    });
    g.finish();

    let req: ChatRequest = serde_json::from_str(&request_json()).unwrap();
    let mut g = c.benchmark_group("encode request");
    g.bench_function("anthropic", |b| {
        b.iter(|| {
            black_box(
                byok_providers::encode_anthropic_request(
                    ProviderId::Anthropic,
                    black_box(&req),
                    true,
                )
                .unwrap(),
            )
        })
    });
    g.bench_function("responses", |b| {
        b.iter(|| {
            black_box(
                byok_providers::encode_responses_request(
                    ProviderId::OpenAiResponses,
                    black_box(&req),
                    true,
                )
                .unwrap(),
            )
        })
    });
    let mut greq = req.clone();
    greq.model = "gemini-2.5-flash".into();
    g.bench_function("google", |b| {
        b.iter(|| {
            black_box(
                byok_providers::encode_google_request(
                    byok_providers::ProviderId::Google,
                    black_box(&greq),
                )
                .unwrap(),
            )
        })
    });
    g.bench_function("bedrock", |b| {
        b.iter(|| {
            black_box(
                byok_providers::encode_bedrock_request(
                    byok_providers::ProviderId::Aws,
                    black_box(&req),
                )
                .unwrap(),
            )
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    chunk_translation,
    request_serialisation,
    translators
);
criterion_main!(benches);
