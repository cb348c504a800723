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

criterion_group!(benches, chunk_translation, request_serialisation);
criterion_main!(benches);
