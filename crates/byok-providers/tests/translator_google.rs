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
    let (t, _, usage, err) = collect(&s, &request(convo(true))).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    assert_eq!(t.reasoning, "Two cities: call the tool twice.");
    let first = &t.tool_calls[0];
    assert!(first.id.contains(SIGNATURE_SEPARATOR));
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

    // Next turn: the client sends the calls and results back with the ids it got.
    let mut next = convo(false);
    let msgs = next["messages"].as_array_mut().unwrap();
    msgs.push(json!({"role": "assistant", "content": null, "tool_calls": t.tool_calls}));
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
        results[0]["functionResponse"]["id"], "call_0",
        "the signature is stripped from the id"
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
