//! The official OpenAI Python SDK against the gateway: chat completions,
//! `responses.create` / `responses.stream` (passed through to the
//! Responses API, and translated for Anthropic) and `embeddings.create`.
//!
//! Needs a Python with the `openai` package: `.ci/run` creates
//! `target/sdk-venv` for it; `BYOK_SDK_PYTHON` points elsewhere. Without it
//! the test says so loudly and passes locally, but fails under CI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::clients::{completed_response, python_with, run_json};

use std::path::Path;

use byok_testkit::{Reply, fixture};
use serde_json::{Value, json};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/sdk_check.py");

/// `sdk_check.py NAME BASE KEY`: the step's JSON result.
async fn sdk_step(py: &Path, name: &str, base: &str, key: &str) -> Value {
    let args = [name, base, key].map(str::to_owned).to_vec();
    run_json(py.to_owned(), SCRIPT, args).await
}

/// The OpenAI key the users store.
const SECRET: &str = "sk-sdk-test-0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_sdk_works_against_the_gateway() {
    let Some(py) = python_with("openai") else {
        let msg = "\n\n!!! SKIPPING the OpenAI SDK test: no Python with the `openai` package (run .ci/run or set BYOK_SDK_PYTHON) !!!\n";
        common::skip(msg, "CI must have it.");
        return;
    };
    let env = common::start(&[("openai", "/v1")], |_| {}).await;
    let (_, key) = env.cli_user("sdk", Some("5.00"));
    env.store(&key, "openai", json!(SECRET)).await;
    let base = env.url("");

    env.answer_chat_text();
    let v = sdk_step(&py, "plain", &base, &key).await;
    assert_eq!(
        v,
        json!({"content": "Hello! How can I help you today?", "finish": "stop", "prompt_tokens": 2006, "cached": 1920})
    );

    env.answer_chat(Reply::sse(&fixture("openai/stream_text.sse")));
    let v = sdk_step(&py, "stream", &base, &key).await;
    assert_eq!(v["content"], "Hello! How can I help you today?");
    assert_eq!(v["total_tokens"], 29);

    env.answer_chat(Reply::sse(&fixture("openai/stream_tool_call.sse")));
    let v = sdk_step(&py, "tools", &base, &key).await;
    assert_eq!(
        v,
        json!({"name": "get_weather", "arguments": {"location": "Paris, France", "unit": "celsius"}, "finish": "tool_calls"})
    );

    let v = sdk_step(&py, "errors", &base, &key).await;
    assert_eq!(
        v,
        json!({"unauthorized": "AuthenticationError:401", "bad_request": "BadRequestError:400"})
    );

    let (_, broke) = env.cli_user("broke", None);
    env.store(&broke, "openai", json!(SECRET)).await;
    let v = sdk_step(&py, "payment", &base, &broke).await;
    assert_eq!(v["payment"], "402");
}

/// `sdk_check.py NAME BASE KEY PROVIDER`: [`sdk_step`] with `provider` as
/// `x-byok-provider`.
async fn sdk_step_via(py: &Path, name: &str, base: &str, key: &str, provider: &str) -> Value {
    let args = [name, base, key, provider].map(str::to_owned).to_vec();
    run_json(py.to_owned(), SCRIPT, args).await
}

/// The two `get_weather` calls' arguments of
/// `responses/stream_tool_calls.sse`.
fn responses_tool_args() -> Value {
    json!([{"location": "Paris, \"FR\"", "unit": "celsius"}, {"location": "東京"}])
}

/// The two `get_weather` calls' inputs of `anthropic/*tool_use*`.
fn anthropic_tool_args() -> Value {
    json!([{"location": "Paris \"Île-de-France\"", "note": "café ☕ 😀"}, {"location": "東京"}])
}

fn call_args(v: &Value) -> Value {
    json!(
        v["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["arguments"].clone())
            .collect::<Vec<_>>()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_responses_and_embeddings_against_the_gateway() {
    let Some(py) = python_with("openai") else {
        let msg = "\n\n!!! SKIPPING the OpenAI SDK Responses test: no Python with the `openai` package (run .ci/run or set BYOK_SDK_PYTHON) !!!\n";
        common::skip(msg, "CI must have it.");
        return;
    };
    let upstreams = [
        ("openai", "/v1"),
        ("openai-responses", "/v1"),
        ("anthropic", ""),
    ];
    let env = common::start(&upstreams, |_| {}).await;
    let (_, key) = env.cli_user("sdk", Some("5.00"));
    env.store(&key, "openai", json!(SECRET)).await;
    env.store(&key, "openai-responses", json!(SECRET)).await;
    env.store(&key, "anthropic", json!("sk-ant-sdk-test-0123456789abcdef"))
        .await;
    let base = env.url("");

    // Pass-through to the Responses API: the SDK parses the provider's own
    // objects and events.
    env.mock.on_sequence(
        "POST",
        "/v1/responses",
        vec![
            Reply::json(200, fixture("responses/response_text.json")),
            Reply::json(200, completed_response("responses/stream_tool_calls.sse")),
        ],
    );
    env.mock.on_streaming(
        "POST",
        "/v1/responses",
        Reply::sse(&fixture("responses/stream_tool_calls.sse")),
    );
    let via = "openai-responses";
    let v = sdk_step_via(&py, "responses", &base, &key, via).await;
    assert_eq!(
        (&v["text"], &v["status"]),
        (
            &json!("Hello! How can I help you today?"),
            &json!("completed")
        ),
        "{v}"
    );
    let whole = sdk_step_via(&py, "responses_tools", &base, &key, via).await;
    let streamed = sdk_step_via(&py, "responses_stream", &base, &key, via).await;
    for v in [&whole, &streamed] {
        assert_eq!(call_args(v), responses_tool_args(), "{v}");
        assert_eq!(v["reasoning"], json!(["Two cities, so two calls."]), "{v}");
    }
    assert_eq!(whole["calls"], streamed["calls"]);
    assert_eq!(streamed["rebuilt_arguments"], responses_tool_args());
    let sent: Value = serde_json::from_slice(&env.mock.last_request().unwrap().body).unwrap();
    assert_eq!(sent["tools"][0]["name"], "get_weather", "as sent: {sent}");
    assert_eq!(sent["stream"], true, "{sent}");

    // Translated for Anthropic: the same SDK calls, answered in Anthropic's
    // format; streamed tool arguments equal the whole answer's.
    env.mock.on_sequence(
        "POST",
        "/v1/messages",
        vec![
            Reply::json(200, fixture("anthropic/message_text.json")),
            Reply::json(200, fixture("anthropic/message_tool_use.json")),
        ],
    );
    env.mock.on_streaming_sequence(
        "POST",
        "/v1/messages",
        vec![
            Reply::sse(&fixture("anthropic/stream_tool_use.sse")),
            Reply::sse(&fixture("anthropic/stream_thinking_tool_use.sse")),
        ],
    );
    let via = "anthropic";
    let v = sdk_step_via(&py, "responses", &base, &key, via).await;
    assert_eq!(v["text"], "Hello! How can I help you today?", "{v}");
    assert_eq!(v["status"], "completed", "{v}");
    let whole = sdk_step_via(&py, "responses_tools", &base, &key, via).await;
    let streamed = sdk_step_via(&py, "responses_stream", &base, &key, via).await;
    for v in [&whole, &streamed] {
        assert_eq!(call_args(v), anthropic_tool_args(), "{v}");
        assert_eq!(v["text"], "I'll check both cities.", "{v}");
        assert_eq!(v["status"], "completed", "{v}");
    }
    assert_eq!(whole["calls"], streamed["calls"]);
    assert_eq!(streamed["rebuilt_arguments"], anthropic_tool_args());
    assert_eq!(streamed["streamed_text"], "I'll check both cities.");
    for event in [
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.output_item.done",
        "response.completed",
    ] {
        assert!(
            streamed["events"]
                .as_array()
                .unwrap()
                .contains(&json!(event)),
            "{event}: {streamed}"
        );
    }
    // Claude's thinking as a reasoning item.
    let thinking = sdk_step_via(&py, "responses_stream", &base, &key, via).await;
    assert_eq!(
        thinking["reasoning"],
        json!(["The user wants the weather in Paris. I should call get_weather."]),
        "{thinking}"
    );
    assert_eq!(call_args(&thinking), json!([{"location": "Paris"}]));
    // Stateless there: a previous response is the SDK's BadRequestError.
    let v = sdk_step_via(&py, "responses_error", &base, &key, via).await;
    assert_eq!(v["error"], "BadRequestError:400", "{v}");

    // Embeddings, OpenAI's.
    env.mock.on(
        "POST",
        "/v1/embeddings",
        Reply::json(200, fixture("openai/embeddings.json")),
    );
    let v = sdk_step_via(&py, "embeddings", &base, &key, "openai").await;
    assert_eq!(
        v,
        json!({"count": 2, "first": [0.0023064255, -0.009327292, 0.015797347], "indexes": [0, 1], "prompt_tokens": 8, "model": "text-embedding-3-small"})
    );

    // Every answered call on the ledger under its route.
    let rows = env.usage_rows(&key, 8).await;
    let usage = json!(rows);
    let embeddings = rows
        .iter()
        .filter(|r| r["endpoint"] == "/api/v1/embeddings")
        .count();
    let responses = rows
        .iter()
        .filter(|r| r["endpoint"] == "/api/v1/responses")
        .count();
    assert_eq!((embeddings, responses), (1, 7), "{usage:#}");
}
