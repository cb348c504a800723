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
