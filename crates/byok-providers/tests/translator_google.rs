//! Google Gemini (native API) through the mock upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use byok_providers::{
    FinishReason, ProviderError, ProviderId, SIGNATURE_SEPARATOR, UpstreamErrorKind, UsageReport,
};
use byok_testkit::{Reply, fixture};
use common::*;
use serde_json::{Value, json};

const KEY: &str = "AIzaSyCANARY-Zq8vN3xR5tL1pW7mK2jH9gF4dS6";
const GEN: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent";

async fn google() -> Setup {
    setup(ProviderId::Google, Some(""), |_| KEY.to_owned()).await
}

fn convo(stream: bool) -> Value {
    json!({
        "model": "gemini-2.5-flash",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}],
        "max_completion_tokens": 200
    })
}

#[tokio::test]
async fn text_streamed_equals_non_streamed_key_only_in_header() {
    let s = google().await;
    s.mock.on(
        "POST",
        GEN,
        Reply::json(200, fixture("google/generate_text.json")),
    );
    let full = s
        .provider
        .chat(&request(convo(false)), &s.credential)
        .await
        .unwrap();
    let sent = s.mock.last_request().unwrap();
    assert_eq!(sent.header("x-goog-api-key"), Some(KEY));
    assert_eq!(sent.query(), None, "never ?key=");
    assert!(!sent.target.contains(KEY));
    let body = sent_json(&s);
    assert_eq!(body["systemInstruction"]["parts"][0]["text"], "Be brief.");
    assert_eq!(body["generationConfig"]["maxOutputTokens"], 200);
    assert_eq!(
        body["tools"][0]["functionDeclarations"][0]["name"],
        "get_weather"
    );
    let UsageReport::Reported(u) = &full.usage else {
        panic!()
    };
    assert_eq!(
        (
            u.prompt_tokens,
            u.cached_tokens(),
            u.completion_tokens,
            u.reasoning_tokens()
        ),
        (2006, 1920, 300, 64)
    );

    s.mock.on(
        "POST",
        STREAM,
        Reply::sse(&fixture("google/stream_text.sse")),
    );
    let (t, chunks, usage, err) = collect(&s, &request(convo(true))).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    assert_eq!(s.mock.last_request().unwrap().query(), Some("alt=sse"));
    assert!(chunks.iter().all(|c| c.usage.is_none()));
}

/// Signatures travel in `reasoning_details`, never in ids: the ids the
/// client sees are clean and come back as they are; the client echoes the
/// message (with its `reasoning_details`) and the signature goes back on
/// the `functionCall` part it came with.
#[tokio::test]
async fn function_calls_carry_the_thought_signature_back() {
    let s = google().await;
    s.mock.on(
        "POST",
        GEN,
        Reply::json(200, fixture("google/generate_tool_calls.json")),
    );
    let full = s
        .provider
        .chat(&request(convo(false)), &s.credential)
        .await
        .unwrap();
    assert_eq!(finish(&full.response), Some(FinishReason::ToolCalls));
    s.mock.on(
        "POST",
        STREAM,
        Reply::sse(&fixture("google/stream_tool_calls.sse")),
    );
    let (t, chunks, usage, err) = collect(&s, &request(convo(true))).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    let streamed = reassembled(&t, &chunks)["message"].clone();
    assert_eq!(
        streamed["reasoning_details"],
        json!(full.response.choices[0].message.reasoning_details)
    );
    assert_eq!(t.reasoning, "Two cities: call the tool twice.");
    for call in &t.tool_calls {
        assert!(!call.id.contains(SIGNATURE_SEPARATOR), "{}", call.id);
        assert_valid_id(&call.id);
    }
    assert_eq!(
        streamed["reasoning_details"],
        Value::Array(vec![
            json!({"type": "reasoning.encrypted", "data": "CiQBVKhc7ufd1yKmQTH4Ys4LP9/zL8Wp0Fq3mC9r8w8pV7O6eXkSMwFWq4A==",
                "id": t.tool_calls[0].id, "format": "google-gemini-v1", "index": 0})
        ])
    );
    let first = &t.tool_calls[0];
    let args: Value = serde_json::from_str(&first.function.arguments).unwrap();
    assert_eq!(args["location"], "Paris, \"FR\"");
    let UsageReport::Reported(u) = usage else {
        panic!()
    };
    assert_eq!(
        (u.completion_tokens, u.reasoning_tokens()),
        (140, 100),
        "thoughts are billed as output"
    );

    // Next turn: the client sends the message and results back as it got them.
    let mut next = convo(false);
    let msgs = next["messages"].as_array_mut().unwrap();
    msgs.push(streamed);
    for c in &t.tool_calls {
        msgs.push(json!({"role": "tool", "tool_call_id": c.id, "content": "18C"}));
    }
    s.mock.on(
        "POST",
        GEN,
        Reply::json(200, fixture("google/generate_text.json")),
    );
    s.provider
        .chat(&request(next), &s.credential)
        .await
        .unwrap();
    let body = sent_json(&s);
    let model_turn = &body["contents"][1];
    assert_eq!(model_turn["role"], "model");
    assert_eq!(
        model_turn["parts"][0]["thoughtSignature"],
        "CiQBVKhc7ufd1yKmQTH4Ys4LP9/zL8Wp0Fq3mC9r8w8pV7O6eXkSMwFWq4A=="
    );
    assert_eq!(
        model_turn["parts"][0]["functionCall"]["args"]["unit"],
        "celsius"
    );
    assert!(model_turn["parts"][1].get("thoughtSignature").is_none());
    let results = &body["contents"][2]["parts"];
    assert_eq!(results[0]["functionResponse"]["name"], "get_weather");
    assert_eq!(
        results[0]["functionResponse"]["id"],
        json!(t.tool_calls[0].id)
    );
    assert_eq!(
        model_turn["parts"][0]["functionCall"]["id"],
        json!(t.tool_calls[0].id)
    );
}

/// Ids a client got from an older gateway (`<id>~ts~<signature>`) still
/// work: the signature goes back on the call, the plain id everywhere.
#[tokio::test]
async fn legacy_signature_ids_are_still_decoded() {
    let s = google().await;
    s.mock.on(
        "POST",
        GEN,
        Reply::json(200, fixture("google/generate_text.json")),
    );
    let mut next = convo(false);
    let msgs = next["messages"].as_array_mut().unwrap();
    msgs.push(json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": format!("call_0{SIGNATURE_SEPARATOR}CiQBVKhc7sig=="), "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]}));
    msgs.push(json!({"role": "tool", "tool_call_id": format!("call_0{SIGNATURE_SEPARATOR}CiQBVKhc7sig=="), "content": "18C"}));
    s.provider
        .chat(&request(next), &s.credential)
        .await
        .unwrap();
    let body = sent_json(&s);
    assert_eq!(
        body["contents"][1]["parts"][0]["thoughtSignature"],
        "CiQBVKhc7sig=="
    );
    assert_eq!(
        body["contents"][1]["parts"][0]["functionCall"]["id"],
        "call_0"
    );
    assert_eq!(
        body["contents"][2]["parts"][0]["functionResponse"]["id"],
        "call_0"
    );
}

#[tokio::test]
async fn finish_reasons() {
    let s = google().await;
    for (file, want) in [
        ("google/stream_safety.sse", FinishReason::ContentFilter),
        ("google/stream_max_tokens.sse", FinishReason::Length),
    ] {
        s.mock.on("POST", STREAM, Reply::sse(&fixture(file)));
        let (t, _, _, err) = collect(&s, &request(convo(true))).await;
        assert!(err.is_none());
        assert_eq!(t.finish_reason, Some(want), "{file}");
    }
    let text = fixture("google/stream_text.sse");
    let first_event = &text[..text.find("\r\n\r\n").unwrap() + 4];
    s.mock.on("POST", STREAM, Reply::sse(first_event));
    let (_, _, _, err) = collect(&s, &request(convo(true))).await;
    assert!(
        matches!(err, Some(ProviderError::StreamTruncated { .. })),
        "no finish reason before EOF: {err:?}"
    );
}

#[tokio::test]
async fn upstream_errors() {
    let s = google().await;
    for (status, file, kind) in [
        (400, "google/error_400.json", UpstreamErrorKind::BadRequest),
        (429, "google/error_429.json", UpstreamErrorKind::RateLimited),
        (503, "google/error_503.json", UpstreamErrorKind::ServerError),
    ] {
        s.mock.on("POST", GEN, Reply::json(status, fixture(file)));
        let err = s
            .provider
            .chat(&request(convo(false)), &s.credential)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ProviderError::Upstream { kind: k, .. } if k == kind),
            "{err:?}"
        );
    }
    s.mock.on(
        "GET",
        "/v1beta/models",
        Reply::json(200, fixture("google/models.json")),
    );
    let models = s.provider.list_models(&s.credential).await.unwrap();
    assert_eq!(models[0].id, "gemini-2.5-flash");
}

#[tokio::test]
async fn mid_stream_error_object() {
    let s = google().await;
    let text = fixture("google/stream_text.sse");
    let first_event = &text[..text.find("\r\n\r\n").unwrap() + 4];
    let body = format!(
        "{first_event}data: {{\"error\":{{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}}}\r\n\r\n"
    );
    s.mock.on("POST", STREAM, Reply::sse(&body));
    let (t, _, usage, err) = collect(&s, &request(convo(true))).await;
    assert_eq!(t.content, "Hello!");
    assert!(
        matches!(err, Some(ProviderError::MidStream { .. })),
        "{err:?}"
    );
    assert_eq!(usage, UsageReport::Missing);
}

/// A Pydantic / zod style schema (`$schema`, `additionalProperties`,
/// `anyOf`, `const`, `$defs`) as the client wrote it.
fn pydantic_schema() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "title": "GetWeather",
        "properties": {
            "location": {"type": "string", "description": "City and country"},
            "unit": {"anyOf": [{"const": "celsius"}, {"const": "fahrenheit"}, {"type": "null"}], "default": null},
            "days": {"anyOf": [{"type": "integer", "minimum": 1}, {"$ref": "#/$defs/Range"}]}
        },
        "required": ["location", "unit", "days"],
        "additionalProperties": false,
        "$defs": {"Range": {"type": "object", "properties": {"from": {"type": "integer"}, "to": {"type": "integer"}}, "additionalProperties": false}}
    })
}

fn thinking_convo(stream: bool) -> Value {
    let mut v = convo(stream);
    v["tools"][0]["function"]["parameters"] = pydantic_schema();
    v["tools"][0]["function"]["strict"] = json!(true);
    v
}

#[tokio::test]
async fn json_schemas_reach_gemini_untouched_as_parameters_json_schema() {
    let s = google().await;
    s.mock.on(
        "POST",
        GEN,
        Reply::json(200, fixture("google/generate_text.json")),
    );
    s.provider
        .chat(&request(thinking_convo(false)), &s.credential)
        .await
        .unwrap();
    let body = sent_json(&s);
    let decl = &body["tools"][0]["functionDeclarations"][0];
    assert_eq!(decl["parametersJsonSchema"], pydantic_schema());
    assert!(decl.get("parameters").is_none(), "{decl}");
    assert_eq!(decl["name"], "get_weather");
}

#[tokio::test]
async fn thoughts_are_included_and_become_reasoning_content() {
    let s = google().await;
    s.mock.on(
        "POST",
        GEN,
        Reply::json(200, fixture("google/generate_thoughts.json")),
    );
    let full = s
        .provider
        .chat(&request(thinking_convo(false)), &s.credential)
        .await
        .unwrap();
    let body = sent_json(&s);
    assert_eq!(
        body["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": true}),
        "2.5 models think by default"
    );
    let message = &full.response.choices[0].message;
    assert_eq!(
        message.reasoning_content.as_deref(),
        Some(
            "**Checking the forecast**\n\nThe user wants a unit; Celsius is the default in France."
        )
    );
    assert_eq!(
        message.content.as_deref(),
        Some("It is 18°C and sunny in Paris.")
    );
    assert_eq!(finish(&full.response), Some(FinishReason::Stop));

    let mut streamed = thinking_convo(true);
    streamed["reasoning_effort"] = json!("medium");
    s.mock.on(
        "POST",
        STREAM,
        Reply::sse(&fixture("google/stream_thoughts.sse")),
    );
    let (t, chunks, usage, err) = collect(&s, &request(streamed)).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    assert_eq!(
        sent_json(&s)["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 8192, "includeThoughts": true})
    );
    let first_text = chunks
        .iter()
        .position(|c| {
            c.choices
                .iter()
                .any(|ch| ch.delta.content.as_deref().is_some_and(|t| !t.is_empty()))
        })
        .unwrap();
    assert!(
        chunks[..first_text].iter().any(|c| c
            .choices
            .iter()
            .any(|ch| ch.delta.reasoning_content.is_some())),
        "thoughts stream first, as reasoning_content"
    );
    let UsageReport::Reported(u) = usage else {
        panic!()
    };
    assert_eq!((u.completion_tokens, u.reasoning_tokens()), (226, 215));
}

const GEN3: &str = "/v1beta/models/gemini-3-flash-preview:generateContent";
const STREAM3: &str = "/v1beta/models/gemini-3-flash-preview:streamGenerateContent";

/// A fixture of this crate (`tests/fixtures/gemini/`), each citing its
/// source.
fn gemini_fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/gemini/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn gemini_json(name: &str) -> Value {
    serde_json::from_str(&gemini_fixture(name)).unwrap()
}

fn assert_valid_id(id: &str) {
    assert!(
        !id.is_empty()
            && id.len() <= 40
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "valid for every provider: {id}"
    );
}

fn gemini3(stream: bool, messages: Value) -> Value {
    json!({
        "model": "gemini-3-flash-preview",
        "stream": stream,
        "messages": messages,
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "parameters": pydantic_schema()}},
            {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
        ],
        "reasoning_effort": "low"
    })
}

/// Two turns of thinking and tools on Gemini 3, streamed: turn 2 replays
/// turn 1's message exactly as the client reassembled it; the signature
/// goes back on the `functionCall` part it came with, the ids are clean,
/// and turn 2's ids differ from turn 1's.
#[tokio::test]
async fn two_turn_thinking_and_tools_on_gemini_3() {
    let s = google().await;
    let user = json!([{"role": "user", "content": "Weather in Paris and Tokyo?"}]);
    s.mock.on(
        "POST",
        GEN3,
        Reply::json(200, gemini_fixture("thinking_tool_turn1.json")),
    );
    let full = s
        .provider
        .chat(&request(gemini3(false, user.clone())), &s.credential)
        .await
        .unwrap();
    s.mock.on(
        "POST",
        STREAM3,
        Reply::sse(&gemini_fixture("thinking_tool_turn1.sse")),
    );
    let (t1, chunks, usage, err) = collect(&s, &request(gemini3(true, user.clone()))).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t1, &usage, &full.response, &full.usage);
    let e1 = reassembled(&t1, &chunks)["message"].clone();
    let msg = &full.response.choices[0].message;
    assert_eq!(e1["reasoning_details"], json!(msg.reasoning_details));
    let turn1 = sent_json(&s);
    assert_eq!(
        turn1["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "low", "includeThoughts": true})
    );
    assert_eq!(
        t1.reasoning,
        "**Planning the lookups**\n\nTwo cities, so two weather calls."
    );
    assert_eq!(t1.tool_calls.len(), 2);
    for c in &t1.tool_calls {
        assert_valid_id(&c.id);
    }
    assert_ne!(t1.tool_calls[0].id, t1.tool_calls[1].id);
    assert_eq!(
        e1["reasoning_details"],
        Value::Array(vec![
            json!({"type": "reasoning.encrypted", "data": "EqQCCqECAdHtim8Q2rXz0zY7aF1t0vPcU1bQ4m3n+TurnOneSig==",
                "id": t1.tool_calls[0].id, "format": "google-gemini-v1", "index": 0})
        ])
    );

    // Turn 2: the message as received, then the results.
    let mut messages = user.as_array().unwrap().clone();
    messages.push(e1);
    for (c, r) in t1.tool_calls.iter().zip(["18C", "24C"]) {
        messages.push(json!({"role": "tool", "tool_call_id": c.id, "content": r}));
    }
    s.mock.on(
        "POST",
        STREAM3,
        Reply::sse(&gemini_fixture("thinking_tool_turn2.sse")),
    );
    let (t2, chunks2, _, err) = collect(&s, &request(gemini3(true, json!(messages)))).await;
    assert!(err.is_none(), "{err:?}");
    let body = sent_json(&s);
    let model = &body["contents"][1];
    assert_eq!(model["role"], "model");
    assert_eq!(
        model["parts"],
        json!([
            {"functionCall": {"id": t1.tool_calls[0].id, "name": "get_weather", "args": {"location": "Paris"}},
             "thoughtSignature": "EqQCCqECAdHtim8Q2rXz0zY7aF1t0vPcU1bQ4m3n+TurnOneSig=="},
            {"functionCall": {"id": t1.tool_calls[1].id, "name": "get_weather", "args": {"location": "東京"}}}
        ]),
        "the signature on the call it came with, no thought text sent back"
    );
    let results = &body["contents"][2]["parts"];
    assert_eq!(
        results[0]["functionResponse"]["id"],
        json!(t1.tool_calls[0].id)
    );
    assert_eq!(
        results[1]["functionResponse"]["id"],
        json!(t1.tool_calls[1].id)
    );
    assert_eq!(results[1]["functionResponse"]["name"], "get_weather");

    let e2 = reassembled(&t2, &chunks2)["message"].clone();
    assert_eq!(t2.tool_calls.len(), 1);
    let id2 = &t2.tool_calls[0].id;
    assert_valid_id(id2);
    assert!(
        t1.tool_calls.iter().all(|c| &c.id != id2),
        "ids never repeat across turns"
    );
    assert_eq!(e2["reasoning_details"][0]["id"], json!(id2));
    assert_eq!(
        e2["reasoning_details"][0]["data"],
        "EroDCrcDAdHtim9TurnTwoSig=="
    );
    assert_eq!(t2.finish_reason, Some(FinishReason::ToolCalls));
}

/// A signature on text (the last, empty part of a stream) goes out without
/// an id and comes back on the message's text.
#[tokio::test]
async fn text_signatures_round_trip() {
    let s = google().await;
    let user = json!([{"role": "user", "content": "Weather?"}]);
    s.mock.on(
        "POST",
        STREAM3,
        Reply::sse(&gemini_fixture("text_with_signature.sse")),
    );
    let (t, chunks, _, err) = collect(&s, &request(gemini3(true, user.clone()))).await;
    assert!(err.is_none(), "{err:?}");
    let e = reassembled(&t, &chunks)["message"].clone();
    assert_eq!(t.content, "Paris: 18°C, Tokyo: 24°C.");
    assert_eq!(
        e["reasoning_details"],
        Value::Array(vec![
            json!({"type": "reasoning.encrypted", "data": "ErADCq0DAdHtim9TextSig==", "format": "google-gemini-v1", "index": 0})
        ])
    );
    let mut messages = user.as_array().unwrap().clone();
    messages.push(e);
    messages.push(json!({"role": "user", "content": "And Rome?"}));
    s.mock.on(
        "POST",
        GEN3,
        Reply::json(200, gemini_fixture("thinking_tool_turn1.json")),
    );
    s.provider
        .chat(&request(gemini3(false, json!(messages))), &s.credential)
        .await
        .unwrap();
    assert_eq!(
        sent_json(&s)["contents"][1]["parts"],
        json!([{"text": "Paris: 18°C, Tokyo: 24°C.", "thoughtSignature": "ErADCq0DAdHtim9TextSig=="}])
    );
}

/// Gemini's own `functionCall.id` is kept when valid for every provider.
#[tokio::test]
async fn gemini_call_ids_are_kept_when_valid() {
    let s = google().await;
    s.mock.on(
        "POST",
        GEN3,
        Reply::json(200, gemini_fixture("native_call_ids.json")),
    );
    let user = json!([{"role": "user", "content": "Paris and Rome"}]);
    let r = s
        .provider
        .chat(&request(gemini3(false, user)), &s.credential)
        .await
        .unwrap();
    let m = &r.response.choices[0].message;
    let ids: Vec<&str> = m
        .tool_calls
        .iter()
        .flatten()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(ids, ["9x2kqpb1", "call_NfNdaOLZA5LZz7IPjMvF-QM_1"]);
    assert_eq!(m.reasoning_details.as_ref().unwrap()[0]["id"], "9x2kqpb1");
}

/// Grounding and recitation sources become `url_citation` annotations,
/// streamed and not, with character indices.
#[tokio::test]
async fn citations_become_annotations() {
    let s = google().await;
    s.mock.on(
        "POST",
        GEN,
        Reply::json(200, gemini_fixture("grounded.json")),
    );
    let full = s
        .provider
        .chat(&request(convo(false)), &s.credential)
        .await
        .unwrap();
    let got = full.response.choices[0].message.extra["annotations"].clone();
    let cite = |url: &str, title: &str, a: u64, b: u64| json!({"type": "url_citation", "url_citation": {"url": url, "title": title, "start_index": a, "end_index": b}});
    let aj = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/aljazeera";
    let uefa = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/uefa";
    assert_eq!(
        got,
        json!([
            cite(aj, "aljazeera.com", 0, 56),
            cite(aj, "aljazeera.com", 57, 126),
            cite(uefa, "uefa.com", 57, 126),
            cite("https://en.wikipedia.org/wiki/UEFA_Euro_2024", "", 0, 56)
        ])
    );
    s.mock
        .on("POST", STREAM, Reply::sse(&gemini_fixture("grounded.sse")));
    let (t, chunks, usage, err) = collect(&s, &request(convo(true))).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    assert_eq!(reassembled(&t, &chunks)["message"]["annotations"], got);
}

#[tokio::test]
async fn malformed_calls_and_blocked_prompts() {
    let s = google().await;
    for (file, want, native) in [
        (
            "malformed_function_call.json",
            FinishReason::Stop,
            "MALFORMED_FUNCTION_CALL",
        ),
        (
            "prompt_blocked.json",
            FinishReason::ContentFilter,
            "PROHIBITED_CONTENT",
        ),
    ] {
        let answer = gemini_json(file);
        s.mock.on("POST", GEN, Reply::json(200, answer.to_string()));
        let full = s
            .provider
            .chat(&request(convo(false)), &s.credential)
            .await
            .unwrap();
        assert_eq!(finish(&full.response), Some(want), "{file}");
        assert_eq!(
            full.response.choices[0].extra["native_finish_reason"], native,
            "{file}"
        );
        s.mock
            .on("POST", STREAM, Reply::sse(&format!("data: {answer}\n\n")));
        let (t, chunks, usage, err) = collect(&s, &request(convo(true))).await;
        assert!(err.is_none(), "{err:?}");
        assert_equivalent(&t, &usage, &full.response, &full.usage);
        assert_eq!(
            reassembled(&t, &chunks)["native_finish_reason"],
            native,
            "{file}"
        );
    }
}

/// `response_format` with a Pydantic-style schema, merged into the
/// client's own `generationConfig`; OpenRouter's `reasoning` as a budget.
#[tokio::test]
async fn structured_output_request() {
    let s = google().await;
    s.mock.on(
        "POST",
        GEN,
        Reply::json(200, fixture("google/generate_text.json")),
    );
    let mut r = convo(false);
    r["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "GetWeather", "strict": true, "schema": pydantic_schema()}});
    r["generationConfig"] = json!({"temperature": 0.2, "responseLogprobs": false});
    r["reasoning"] = json!({"max_tokens": 2000});
    r["messages"][1]["content"] = json!([
        {"type": "text", "text": "Fill this in from the PDF"},
        {"type": "file", "file": {"filename": "f.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQ="}}
    ]);
    s.provider.chat(&request(r), &s.credential).await.unwrap();
    let body = sent_json(&s);
    assert_eq!(
        body["generationConfig"],
        json!({
            "temperature": 0.2,
            "responseLogprobs": false,
            "maxOutputTokens": 200,
            "responseMimeType": "application/json",
            "responseJsonSchema": pydantic_schema(),
            "thinkingConfig": {"thinkingBudget": 2000, "includeThoughts": true}
        })
    );
    assert_eq!(
        body["contents"][0]["parts"][1],
        json!({"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0xLjQ="}})
    );
    assert!(body.get("reasoning").is_none() && body.get("response_format").is_none());
}
