//! OpenAI Responses and Azure Responses through the mock upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use byok_providers::{FinishReason, ProviderError, ProviderId, UpstreamErrorKind, UsageReport};
use byok_testkit::{Reply, fixture};
use common::*;
use serde_json::{Value, json};

const KEY: &str = "sk-proj-RESPONSES-CANARY-Zq8vN3xR5tL1pW7m";

async fn openai() -> Setup {
    setup(ProviderId::OpenAiResponses, Some("/v1"), |_| KEY.to_owned()).await
}

fn convo(stream: bool) -> Value {
    json!({
        "model": "gpt-4.1",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "user", "content": "And Tokyo?"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}],
        "max_completion_tokens": 200
    })
}

#[tokio::test]
async fn text_streamed_equals_non_streamed() {
    let s = openai().await;
    s.mock.on(
        "POST",
        "/v1/responses",
        Reply::json(200, fixture("responses/response_text.json")),
    );
    let full = s
        .provider
        .chat(&request(convo(false)), &s.credential)
        .await
        .unwrap();
    let sent = s.mock.last_request().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = sent_json(&s);
    assert_eq!(body["store"], false);
    assert_eq!(body["instructions"], "Be brief.");
    assert_eq!(body["max_output_tokens"], 200);
    assert_eq!(body["input"][1]["type"], "function_call");
    assert_eq!(
        body["input"][2],
        json!({"type": "function_call_output", "call_id": "call_1", "output": "18C"})
    );
    assert_eq!(body["tools"][0]["name"], "get_weather");
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
        "/v1/responses",
        Reply::sse(&fixture("responses/stream_text.sse")),
    );
    let (t, _, usage, err) = collect(&s, &request(convo(true))).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    assert_eq!(sent_json(&s)["stream"], true);
}

#[tokio::test]
async fn parallel_tool_calls_and_reasoning_streamed_equal_non_streamed() {
    let s = openai().await;
    s.mock.on(
        "POST",
        "/v1/responses",
        Reply::json(200, fixture("responses/response_tool_calls.json")),
    );
    let full = s
        .provider
        .chat(&request(convo(false)), &s.credential)
        .await
        .unwrap();
    assert_eq!(finish(&full.response), Some(FinishReason::ToolCalls));
    s.mock.on(
        "POST",
        "/v1/responses",
        Reply::sse(&fixture("responses/stream_tool_calls.sse")),
    );
    let (t, _, usage, err) = collect(&s, &request(convo(true))).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    assert_eq!(t.reasoning, "Two cities, so two calls.");
    let args: Value = serde_json::from_str(&t.tool_calls[0].function.arguments).unwrap();
    assert_eq!(args["location"], "Paris, \"FR\"");
    assert_eq!(t.tool_calls[1].id, "call_tokyo_02");
}

#[tokio::test]
async fn incomplete_means_length() {
    let s = openai().await;
    s.mock.on(
        "POST",
        "/v1/responses",
        Reply::sse(&fixture("responses/stream_incomplete.sse")),
    );
    let (t, _, usage, err) = collect(&s, &request(convo(true))).await;
    assert!(err.is_none());
    assert_eq!(t.finish_reason, Some(FinishReason::Length));
    assert!(usage.reported().is_some());
}

#[tokio::test]
async fn failed_and_error_events_and_http_errors() {
    let s = openai().await;
    s.mock.on(
        "POST",
        "/v1/responses",
        Reply::sse(&fixture("responses/stream_failed.sse")),
    );
    let (t, _, usage, err) = collect(&s, &request(convo(true))).await;
    assert_eq!(t.content, "Hello");
    assert!(
        matches!(err, Some(ProviderError::MidStream { ref code, .. }) if code.as_deref() == Some("server_error")),
        "{err:?}"
    );
    assert_eq!(usage, UsageReport::Missing);
    s.mock.on(
        "POST",
        "/v1/responses",
        Reply::sse(&fixture("responses/stream_error.sse")),
    );
    let (_, _, _, err) = collect(&s, &request(convo(true))).await;
    assert!(
        matches!(err, Some(ProviderError::MidStream { ref code, .. }) if code.as_deref() == Some("rate_limit_exceeded"))
    );
    for (status, file, kind) in [
        (
            401,
            "openai/error_401.json",
            UpstreamErrorKind::Unauthorized,
        ),
        (429, "openai/error_429.json", UpstreamErrorKind::RateLimited),
        (503, "openai/error_503.json", UpstreamErrorKind::ServerError),
    ] {
        s.mock.on(
            "POST",
            "/v1/responses",
            Reply::json(status, fixture(file).replace("{{KEY}}", KEY)),
        );
        let err = s
            .provider
            .chat_stream(&request(convo(true)), &s.credential)
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Upstream { kind: k, .. } if k == kind));
        assert!(!err.to_string().contains("CANARY"));
    }
    let text = fixture("responses/stream_text.sse");
    s.mock.on(
        "POST",
        "/v1/responses",
        Reply::sse(&text[..text.find("event: response.completed").unwrap()]),
    );
    let (_, _, _, err) = collect(&s, &request(convo(true))).await;
    assert!(matches!(err, Some(ProviderError::StreamTruncated { .. })));
}

#[tokio::test]
async fn azure_responses_paths_and_header() {
    for (version, path, query) in [
        ("v1", "/openai/v1/responses", None),
        (
            "2025-04-01-preview",
            "/openai/responses",
            Some("api-version=2025-04-01-preview"),
        ),
    ] {
        let s = setup(ProviderId::AzureResponses, None, |base| {
            format!(r#"{{"endpoint":"{base}","apiKey":"azkey0123456789abcdef","apiVersion":"{version}"}}"#)
        })
        .await;
        s.mock.on(
            "POST",
            path,
            Reply::sse(&fixture("responses/stream_text.sse")),
        );
        let (t, _, usage, err) = collect(&s, &request(convo(true))).await;
        assert!(err.is_none(), "{version}: {err:?}");
        assert_eq!(t.content, "Hello! How can I help you today?");
        assert!(usage.reported().is_some());
        let sent = s.mock.last_request().unwrap();
        assert_eq!(sent.query(), query);
        assert_eq!(sent.header("api-key"), Some("azkey0123456789abcdef"));
        assert_eq!(sent.header("authorization"), None);
    }
}

// ---- Issue #15: reasoning round trip, citations, refusals, structured
// output, `stop`, files. Fixtures: tests/fixtures/responses/ (sources cited
// in each file's `_source`).

fn local(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/responses/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The answer to `req` from `name`.json and from `name`.sse: both messages
/// (whole, streamed and reassembled), asserted equal with finish and usage.
async fn both_ways(s: &Setup, req: &Value, name: &str) -> (Value, byok_providers::ChatResponse) {
    s.mock.on(
        "POST",
        "/v1/responses",
        Reply::json(200, local(&format!("{name}.json"))),
    );
    let mut whole = req.clone();
    whole["stream"] = json!(false);
    let full = s
        .provider
        .chat(&request(whole), &s.credential)
        .await
        .unwrap();
    s.mock.on(
        "POST",
        "/v1/responses",
        Reply::sse(&local(&format!("{name}.sse"))),
    );
    let mut streamed = req.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (t, chunks, usage, err) = collect(s, &request(streamed)).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    let streamed = reassembled(&t, &chunks);
    assert_eq!(
        streamed,
        choice_of(&full.response),
        "{name}: streamed and reassembled == whole"
    );
    (streamed["message"].clone(), full.response)
}

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "strict": true, "parameters": {
        "type": "object", "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["location", "unit"], "additionalProperties": false}}}])
}

#[tokio::test]
async fn two_turn_reasoning_and_tools_round_trip() {
    let s = openai().await;
    let user = json!({"role": "user", "content": "Weather in Paris? Cite your sources."});
    let turn1 = json!({"model": "gpt-5", "reasoning_effort": "medium", "messages": [user], "tools": weather_tools()});
    let (message, full) = both_ways(&s, &turn1, "two_turn_1").await;
    let body = sent_json(&s);
    assert_eq!(body["store"], false);
    assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(
        body["reasoning"],
        json!({"effort": "medium", "summary": "auto"})
    );
    assert_eq!(body["tools"][0]["strict"], true);
    assert_eq!(finish(&full), Some(FinishReason::ToolCalls));
    let summary =
        "**Checking the weather**\n\nThe user asks about Paris; I'll call get_weather for it.";
    assert_eq!(message["reasoning_content"], summary);
    assert_eq!(
        message["reasoning_details"],
        json!([
            {"type": "reasoning.summary", "summary": summary, "id": "rs_68c1a0f3a1b28190a9b8c7d6e5f40312", "format": "openai-responses-v1", "index": 0},
            {"type": "reasoning.encrypted", "data": "gAAAAABowQDzTURN1-ENCRYPTED-REASONING-Qk9PTEVBTg==", "id": "rs_68c1a0f3a1b28190a9b8c7d6e5f40312", "format": "openai-responses-v1", "index": 1}
        ])
    );
    let call_id = message["tool_calls"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(call_id, "call_Vv8XQm0sJ3kLrT2aB9cDxYz1");

    // Turn 2 replays turn 1's message exactly as the client reassembled it.
    let turn2 = json!({"model": "gpt-5", "reasoning_effort": "medium", "tools": weather_tools(), "messages": [
        user, message,
        {"role": "tool", "tool_call_id": call_id, "content": "18°C, sunny"}
    ]});
    let (answer, full2) = both_ways(&s, &turn2, "two_turn_2").await;
    let input = sent_json(&s)["input"].clone();
    assert_eq!(input[0]["role"], "user");
    assert_eq!(
        input[1],
        json!({"type": "reasoning", "id": "rs_68c1a0f3a1b28190a9b8c7d6e5f40312",
               "summary": [{"type": "summary_text", "text": summary}],
               "encrypted_content": "gAAAAABowQDzTURN1-ENCRYPTED-REASONING-Qk9PTEVBTg=="}),
        "the reasoning item comes back, before the call it led to"
    );
    assert_eq!(
        input[2],
        json!({"type": "function_call", "call_id": call_id, "name": "get_weather", "arguments": "{\"location\":\"Paris, France\",\"unit\":\"celsius\"}"})
    );
    assert_eq!(
        input[3],
        json!({"type": "function_call_output", "call_id": call_id, "output": "18°C, sunny"})
    );
    assert_eq!(input.as_array().unwrap().len(), 4);

    assert_eq!(finish(&full2), Some(FinishReason::Stop));
    let text = answer["content"].as_str().unwrap();
    let cite = &answer["annotations"][0]["url_citation"];
    assert_eq!(answer["annotations"][0]["type"], "url_citation");
    assert_eq!(
        cite["url"],
        "https://meteofrance.com/previsions-meteo-france/paris/75000"
    );
    assert_eq!(cite["title"], "Paris : prévisions météo");
    let (a, b) = (
        usize::try_from(cite["start_index"].as_u64().unwrap()).unwrap(),
        usize::try_from(cite["end_index"].as_u64().unwrap()).unwrap(),
    );
    let cited: String = text.chars().skip(a).take(b - a).collect();
    assert_eq!(
        cited, "Météo-France (meteofrance.com)",
        "indices in characters of the content"
    );
    assert_eq!(
        answer["annotations"][1],
        json!({"type": "file_citation", "file_citation": {"file_id": "file-2dtbBZdjtDKS8eqWxqbgDi", "filename": "notes.pdf", "index": text.chars().count() - 1}})
    );
    let kinds: Vec<&str> = answer["reasoning_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "reasoning.summary",
            "reasoning.summary",
            "reasoning.encrypted"
        ]
    );
}

#[tokio::test]
async fn refusals_and_content_filter() {
    let s = openai().await;
    let req =
        json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": "Something bad"}]});
    let (m, full) = both_ways(&s, &req, "refusal").await;
    assert_eq!(m["refusal"], "I'm sorry, but I can't help with that.");
    assert_eq!(m["content"], "");
    assert_eq!(finish(&full), Some(FinishReason::Stop));
    assert!(
        sent_json(&s).get("include").is_none(),
        "gpt-4.1 refuses encrypted reasoning"
    );
    let (m, full) = both_ways(&s, &req, "incomplete_content_filter").await;
    assert_eq!(m["content"], "Here is how");
    assert_eq!(finish(&full), Some(FinishReason::ContentFilter));
}

#[tokio::test]
async fn structured_output_request() {
    let s = openai().await;
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "temperature_c": {"type": "number"}},
                        "required": ["city", "temperature_c"], "additionalProperties": false});
    let req = json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": "Weather in Paris as JSON"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "weather", "schema": schema, "strict": true}},
        "text": {"verbosity": "low"}});
    let (m, _) = both_ways(&s, &req, "structured").await;
    assert_eq!(
        sent_json(&s)["text"],
        json!({"verbosity": "low", "format": {"type": "json_schema", "name": "weather", "schema": schema, "strict": true}})
    );
    let parsed: Value = serde_json::from_str(m["content"].as_str().unwrap()).unwrap();
    assert_eq!(parsed, json!({"city": "Paris", "temperature_c": 18}));
}

#[tokio::test]
async fn stop_is_emulated_streamed_and_not() {
    let s = openai().await;
    // "n I h" spans the deltas " How can" and " I help" of the stream.
    let mut req = convo(false);
    req["stop"] = json!(["n I h", "never"]);
    s.mock.on(
        "POST",
        "/v1/responses",
        Reply::json(200, fixture("responses/response_text.json")),
    );
    let full = s
        .provider
        .chat(&request(req.clone()), &s.credential)
        .await
        .unwrap();
    assert!(
        sent_json(&s).get("stop").is_none(),
        "the Responses API has no `stop`"
    );
    let msg = &full.response.choices[0].message;
    assert_eq!(msg.content.as_deref(), Some("Hello! How ca"));
    assert_eq!(finish(&full.response), Some(FinishReason::Stop));
    s.mock.on(
        "POST",
        "/v1/responses",
        Reply::sse(&fixture("responses/stream_text.sse")),
    );
    req["stream"] = json!(true);
    let (t, _, usage, err) = collect(&s, &request(req)).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
}

#[tokio::test]
async fn file_parts_go_upstream_as_input_file() {
    let s = openai().await;
    s.mock.on(
        "POST",
        "/v1/responses",
        Reply::json(200, fixture("responses/response_text.json")),
    );
    let req = json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Summarise"},
        {"type": "file", "file": {"filename": "report.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQK"}},
        {"type": "file", "file": {"file_id": "file-6F2ksmvXxt4VdoqmHRw6kL"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/chart.png", "detail": "low"}}]}]});
    s.provider.chat(&request(req), &s.credential).await.unwrap();
    assert_eq!(
        sent_json(&s)["input"][0]["content"],
        json!([
            {"type": "input_text", "text": "Summarise"},
            {"type": "input_file", "filename": "report.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQK"},
            {"type": "input_file", "file_id": "file-6F2ksmvXxt4VdoqmHRw6kL"},
            {"type": "input_image", "image_url": "https://example.com/chart.png", "detail": "low"}
        ])
    );
}
