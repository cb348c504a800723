//! The official Anthropic Python SDK (`anthropic`, pinned in
//! tests/python/requirements.txt) against the gateway's `/api/v1/messages`:
//! `messages.create` and `messages.stream` (with `get_final_message`)
//! through `anthropic` (pass-through) and through one provider of every other
//! translator family (Groq for the OpenAI dialect, Gemini, Bedrock Converse,
//! the Responses API), for a text answer, tool use and extended thinking,
//! and failures (a 529, a stream cut mid-way) as the SDK's own errors.
//! The mock answers in each provider's own wire format with recorded
//! answers whose streamed and whole forms carry the same content, so the
//! SDK's reassembly of a stream (tool input from `input_json_delta`,
//! thinking from `thinking_delta` / `signature_delta`) must equal what it
//! parses from the whole answer.
//!
//! Needs `target/sdk-venv` with `anthropic` (`.ci/run` installs it;
//! `BYOK_SDK_PYTHON` points at another Python). Without it the test says so
//! loudly and passes locally, but fails under CI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::PathBuf;

use byok_billing::Money;
use byok_testkit::{Reply, fixture};
use common::Env;
use common::clients::{
    FAMILIES, Family, completed_response, event_stream, family, python_with, run_json, secret,
    upstream_bodies,
};
use serde_json::{Value, json};

/// The script's operations without thinking.
const BASIC: &[&str] = &["text", "stream", "tool", "stream_tool"];
/// With extended thinking (and the tool offered).
const THINKING: &[&str] = &["thinking", "stream_thinking"];

const TEXT: &str = "Hello! How can I help you today?";

/// Groq's whole answers carrying what its stream fixtures stream (the
/// recorded whole answers differ from them).
fn groq_tool_calls() -> String {
    let inputs = tool_inputs("groq");
    json!({
        "id": "chatcmpl-sdks-tool", "object": "chat.completion", "created": 1741569952,
        "model": "llama-3.3-70b-versatile",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_paris_01", "type": "function", "function": {"name": "get_weather", "arguments": inputs[0].to_string()}},
            {"id": "call_tokyo_02", "type": "function", "function": {"name": "get_weather", "arguments": inputs[1].to_string()}}
        ]}, "logprobs": null, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 90, "completion_tokens": 40, "total_tokens": 130}
    })
    .to_string()
}

fn groq_reasoning() -> String {
    let mut v: Value = serde_json::from_str(&fixture("openai/chat_reasoning_groq.json")).unwrap();
    v["choices"][0]["message"]["content"] = json!("Paris.");
    v["choices"][0]["message"]["reasoning"] = json!("The user asks for a capital.");
    v.to_string()
}

/// The mock's answer to `op` from `provider`.
fn reply(provider: &str, op: &str) -> Reply {
    let whole = |name: &str| Reply::json(200, fixture(name));
    match (provider, op) {
        ("anthropic", "text") => whole("anthropic/message_text.json"),
        ("anthropic", "stream") => Reply::sse(&fixture("anthropic/stream_text.sse")),
        ("anthropic", "tool") => whole("anthropic/message_tool_use.json"),
        ("anthropic", "stream_tool") => Reply::sse(&fixture("anthropic/stream_tool_use.sse")),
        ("anthropic", "thinking") => whole("anthropic/message_thinking_tool_use.json"),
        ("anthropic", "stream_thinking") => {
            Reply::sse(&fixture("anthropic/stream_thinking_tool_use.sse"))
        }
        ("groq", "text") => whole("openai/chat_text.json"),
        ("groq", "stream") => Reply::sse(&fixture("openai/stream_groq.sse")),
        ("groq", "tool") => Reply::json(200, groq_tool_calls()),
        ("groq", "stream_tool") => Reply::sse(&fixture("openai/stream_tools_in_order_groq.sse")),
        ("groq", "thinking") => Reply::json(200, groq_reasoning()),
        ("groq", "stream_thinking") => Reply::sse(&fixture("openai/stream_reasoning_groq.sse")),
        ("google", "text") => whole("google/generate_text.json"),
        ("google", "stream") => Reply::sse(&fixture("google/stream_text.sse")),
        ("google", "tool") => whole("google/generate_tool_calls.json"),
        ("google", "stream_tool") => Reply::sse(&fixture("google/stream_tool_calls.sse")),
        ("google", "thinking") => whole("google/generate_thoughts.json"),
        ("google", "stream_thinking") => Reply::sse(&fixture("google/stream_thoughts.sse")),
        ("aws", "text") => whole("bedrock/converse_text.json"),
        ("aws", "stream") => event_stream("bedrock/stream_text.events.json"),
        ("aws", "tool") => whole("bedrock/converse_tool_use.json"),
        ("aws", "stream_tool") => event_stream("bedrock/stream_tool_use.events.json"),
        ("aws", "thinking") => whole("bedrock/converse_reasoning.json"),
        ("aws", "stream_thinking") => event_stream("bedrock/stream_reasoning.events.json"),
        (_, "text") => whole("responses/response_text.json"),
        (_, "stream") => Reply::sse(&fixture("responses/stream_text.sse")),
        // The tool-call stream has a reasoning summary too: it serves both.
        (_, "tool" | "thinking") => {
            Reply::json(200, completed_response("responses/stream_tool_calls.sse"))
        }
        (_, _) => Reply::sse(&fixture("responses/stream_tool_calls.sse")),
    }
}

/// Scripts the mock for `ops` of `family`, in the order the script runs
/// them, each answered by `reply`.
fn script(env: &Env, family: &Family, ops: &[&str], reply: fn(&str, &str) -> Reply) {
    let (mut calls, mut streams) = (Vec::new(), Vec::new());
    for op in ops {
        let r = reply(family.provider, op);
        if op.starts_with("stream") {
            streams.push(r);
        } else {
            calls.push(r);
        }
    }
    env.mock.on_sequence("POST", family.call, calls);
    match family.stream {
        Some(path) => env.mock.on_sequence("POST", path, streams),
        None => env.mock.on_streaming_sequence("POST", family.call, streams),
    }
}

/// The tool inputs the answers of `provider` carry, in order.
fn tool_inputs(provider: &str) -> Value {
    match provider {
        "anthropic" | "groq" => json!([
            {"location": "Paris \"Île-de-France\"", "note": "café ☕ 😀"},
            {"location": "東京"}
        ]),
        "aws" => json!([
            {"location": "Paris \"Île-de-France\"", "note": "café ☕"},
            {"location": "東京"}
        ]),
        _ => json!([{"location": "Paris, \"FR\"", "unit": "celsius"}, {"location": "東京"}]),
    }
}

/// What the thinking answers of `provider` carry: `(thinking, text,
/// tool inputs)`.
fn thinking_answer(provider: &str) -> (Value, &'static str, Value) {
    let paris = json!([{"location": "Paris"}]);
    match provider {
        "anthropic" | "aws" => (
            json!(["The user wants the weather in Paris. I should call get_weather."]),
            "Let me check.",
            paris,
        ),
        "groq" => (json!(["The user asks for a capital."]), "Paris.", json!([])),
        "google" => (
            json!([
                "**Checking the forecast**\n\nThe user wants a unit; Celsius is the default in France."
            ]),
            "It is 18°C and sunny in Paris.",
            json!([]),
        ),
        _ => (
            json!(["Two cities, so two calls."]),
            "",
            tool_inputs(provider),
        ),
    }
}

fn inputs(result: &Value) -> Value {
    json!(
        result["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["input"].clone())
            .collect::<Vec<_>>()
    )
}

/// The text and tool-use results of one family.
fn check_basic(family: &Family, r: &Value) {
    let p = family.provider;
    let ctx = format!("{p}: {r:#}");
    // Text, whole and streamed.
    assert_eq!(r["text"]["text"], TEXT, "{ctx}");
    assert_eq!(r["text"]["stop"], "end_turn", "{ctx}");
    if p != "anthropic" {
        assert_eq!(
            r["text"]["model"], family.model,
            "the client's model: {ctx}"
        );
    }
    assert!(
        r["text"]["id"].as_str().unwrap().starts_with("msg_"),
        "{ctx}"
    );
    let stream = &r["stream"];
    assert_eq!(stream["streamed_text"], TEXT, "{ctx}");
    assert_eq!(stream["text"], TEXT, "{ctx}");
    assert_eq!(stream["stop"], "end_turn", "{ctx}");
    for event in ["message_start", "text", "message_delta", "message_stop"] {
        assert!(
            stream["events"].as_array().unwrap().contains(&json!(event)),
            "{event}: {ctx}"
        );
    }
    assert!(stream["output_tokens"].as_u64().unwrap() > 0, "{ctx}");
    check_tools(p, r);
}

/// Tool use: the SDK's reassembly of the stream, the input rebuilt from
/// the deltas alone and the whole answer agree.
fn check_tools(p: &str, r: &Value) {
    let ctx = format!("{p}: {r:#}");
    let expected = tool_inputs(p);
    assert_eq!(inputs(&r["tool"]), expected, "whole: {ctx}");
    assert_eq!(inputs(&r["stream_tool"]), expected, "streamed: {ctx}");
    assert_eq!(
        r["stream_tool"]["rebuilt_inputs"], expected,
        "deltas: {ctx}"
    );
    for op in ["tool", "stream_tool"] {
        let calls = r[op]["calls"].as_array().unwrap();
        assert!(calls.iter().all(|c| c["name"] == "get_weather"), "{ctx}");
        let ids: Vec<&str> = calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert!(
            ids.iter().all(|i| !i.is_empty()) && ids[0] != ids[1],
            "{ctx}"
        );
        assert_eq!(r[op]["stop"], "tool_use", "{op}: {ctx}");
    }
    assert_eq!(
        r["tool"]["calls"], r["stream_tool"]["calls"],
        "ids too: {ctx}"
    );
}

/// Thinking: the same blocks whole and streamed.
fn check_thinking(p: &str, r: &Value) {
    let ctx = format!("{p}: {r:#}");
    let (thinking, text, tools) = thinking_answer(p);
    for op in THINKING {
        let t = &r[op];
        assert_eq!(t["thinking"], thinking, "{op}: {ctx}");
        assert_eq!(t["text"], text, "{op}: {ctx}");
        assert_eq!(inputs(t), tools, "{op}: {ctx}");
    }
    let (whole, streamed) = (&r["thinking"], &r["stream_thinking"]);
    assert_eq!(whole["signatures"], streamed["signatures"], "{ctx}");
    assert_eq!(whole["redacted"], streamed["redacted"], "{ctx}");
    assert_eq!(whole["stop"], streamed["stop"], "{ctx}");
    assert_eq!(
        streamed["streamed_thinking"],
        json!(
            thinking
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect::<String>()
        ),
        "{ctx}"
    );
    assert!(
        streamed["events"]
            .as_array()
            .unwrap()
            .contains(&json!("thinking")),
        "{ctx}"
    );
    if matches!(p, "anthropic" | "aws") {
        // Claude's signed and redacted thinking, kept.
        assert_eq!(whole["redacted"], 1, "{ctx}");
        assert!(
            !whole["signatures"][0].as_str().unwrap().is_empty(),
            "{ctx}"
        );
        assert_eq!(
            streamed["streamed_signature"], whole["signatures"][0],
            "signature_delta: {ctx}"
        );
    }
}

/// The tool of an upstream request body went in the provider's format.
fn check_upstream_tool(p: &str, body: &Value) {
    let name = match p {
        "groq" => &body["tools"][0]["function"]["name"],
        "google" => &body["tools"][0]["functionDeclarations"][0]["name"],
        "aws" => &body["toolConfig"]["tools"][0]["toolSpec"]["name"],
        _ => &body["tools"][0]["name"],
    };
    assert_eq!(name, "get_weather", "{p}: {body:#}");
}

/// The thinking request (the script's `budget_tokens` 1024) went in the
/// provider's format.
fn check_upstream_thinking(p: &str, body: &Value) {
    let enabled = json!({"type": "enabled", "budget_tokens": 1024});
    match p {
        // As sent.
        "anthropic" => assert_eq!(body["thinking"], enabled, "{body:#}"),
        // Claude on Bedrock: Anthropic's own object.
        "aws" => assert_eq!(
            body["additionalModelRequestFields"]["thinking"], enabled,
            "{body:#}"
        ),
        "google" => assert!(
            body["generationConfig"]["thinkingConfig"].is_object(),
            "{body:#}"
        ),
        // The Messages codec reads a budget up to 1024 as the effort
        // `low`; the OpenAI dialect sends it as `reasoning_effort` ...
        "groq" => assert_eq!(body["reasoning_effort"], "low", "{body:#}"),
        // ... and the Responses API as `reasoning.effort`.
        "openai-responses" => assert_eq!(body["reasoning"]["effort"], "low", "{body:#}"),
        other => panic!("no thinking check for {other}"),
    }
}

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/anthropic_check.py");

/// A gateway whose upstreams are the mock for every family, a user with
/// $5 and a key for each, the mock scripted with `plan` (provider, ops)
/// answered by `reply`, and the script's results over it.
async fn exercise(
    py: PathBuf,
    plan: &[(&str, &[&str])],
    reply: fn(&str, &str) -> Reply,
) -> (Env, String, Value) {
    let upstreams: Vec<(&str, &str)> = FAMILIES.iter().map(|f| (f.provider, f.suffix)).collect();
    let env = common::start(&upstreams, |_| {}).await;
    let (_, key) = env.cli_user("sdks", Some("5.00"));
    for (provider, ops) in plan {
        env.store(&key, provider, secret(provider)).await;
        script(&env, family(provider), ops, reply);
    }
    let plan_json = json!(
        plan.iter()
            .map(|(p, ops)| json!({"provider": p, "model": family(p).model, "ops": ops}))
            .collect::<Vec<_>>()
    );
    let args = vec![env.url(""), key.clone(), plan_json.to_string()];
    let results = run_json(py, SCRIPT, args).await;
    (env, key, results)
}

/// A Python with the SDK, else `None` after saying so (a failure under CI).
fn sdk_python() -> Option<PathBuf> {
    let py = python_with("anthropic");
    if py.is_none() {
        let msg = "\n\n!!! SKIPPING the Anthropic SDK test: no Python with `anthropic` (run .ci/run or set BYOK_SDK_PYTHON) !!!\n";
        common::skip(msg, "CI must have it.");
    }
    py
}

/// Every call is on the ledger under the route, nothing is left reserved
/// and the balance is down by exactly the markups.
async fn check_ledger(env: &Env, key: &str, calls: usize) {
    for row in env.check_settled(key, calls, "5.00").await {
        assert_eq!(row["endpoint"], "/api/v1/messages", "{row}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anthropic_sdk_text_and_tool_use_through_every_translator_family() {
    let Some(py) = sdk_python() else { return };
    let plan: Vec<(&str, &[&str])> = FAMILIES.iter().map(|f| (f.provider, BASIC)).collect();
    let (env, key, results) = exercise(py, &plan, reply).await;
    for f in &FAMILIES {
        check_basic(f, &results[f.provider]);
        let bodies = upstream_bodies(&env, f);
        assert_eq!(bodies.len(), BASIC.len(), "{}", f.provider);
        check_upstream_tool(f.provider, &bodies[2]);
        check_upstream_tool(f.provider, &bodies[3]);
    }
    // The SDK's own version (anthropic 2.14.0 sends 2026-10-21) reached
    // Anthropic, with the user's key, not the gateway's.
    let to_anthropic = env
        .mock
        .requests()
        .into_iter()
        .find(|r| r.path() == "/v1/messages")
        .unwrap();
    assert_eq!(to_anthropic.header("anthropic-version"), Some("2026-10-21"));
    assert_eq!(
        to_anthropic.header("x-api-key"),
        secret("anthropic").as_str()
    );
    check_ledger(&env, &key, FAMILIES.len() * BASIC.len()).await;
}

/// Extended thinking through every family that gives reasoning (Bedrock's
/// streamed reasoning has its own test below).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anthropic_sdk_with_thinking_through_every_reasoning_family() {
    let Some(py) = sdk_python() else { return };
    let plan: &[(&str, &[&str])] = &[
        ("anthropic", THINKING),
        ("groq", THINKING),
        ("google", THINKING),
        ("openai-responses", THINKING),
    ];
    let (env, key, results) = exercise(py, plan, reply).await;
    for (p, ops) in plan {
        check_thinking(p, &results[*p]);
        let bodies = upstream_bodies(&env, family(p));
        assert_eq!(bodies.len(), ops.len(), "{p}: {bodies:#?}");
        for body in bodies {
            check_upstream_thinking(p, &body);
            check_upstream_tool(p, &body);
        }
    }
    check_ledger(&env, &key, plan.len() * THINKING.len()).await;
}

/// Bedrock Converse (Claude) reasoning, whole and streamed, through the
/// Messages codec: both give one signed `thinking` block (its tagged
/// signature holding Claude's) and one `redacted_thinking`. The translator
/// streams the reasoning as `reasoning_details` pieces per delta (the text
/// pieces, then the signature alone); the Messages stream encoder joins the
/// pieces of one entry into one block (once one thinking block per delta,
/// the signature lost on replay).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anthropic_sdk_with_thinking_through_bedrock() {
    let Some(py) = sdk_python() else { return };
    let plan: &[(&str, &[&str])] = &[("aws", THINKING)];
    let (env, _, results) = exercise(py, plan, reply).await;
    let bodies = upstream_bodies(&env, family("aws"));
    assert_eq!(bodies.len(), THINKING.len(), "{bodies:#?}");
    for body in bodies {
        check_upstream_thinking("aws", &body);
    }
    check_thinking("aws", &results["aws"]);
}

/// The mock's answers with Groq streaming its two tool calls' fragments
/// interleaved (as `openai/stream_parallel_tools.sse` records).
fn interleaved(provider: &str, op: &str) -> Reply {
    if op == "stream_tool" {
        Reply::sse(&fixture("openai/stream_parallel_tools.sse"))
    } else {
        reply(provider, op)
    }
}

/// An OpenAI-dialect stream whose parallel tool calls' argument fragments
/// interleave (call 0 starts, call 1 starts, call 0 goes on): Anthropic's
/// protocol streams one block at a time, so the Messages encoder holds
/// call 1 while call 0's arguments are incomplete and streams it after
/// (once it dropped call 0's late fragments: the SDK got `{"location":`
/// and an empty input, the "streamed tool_use input dropped" bug, LiteLLM
/// #25321).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_parallel_tool_calls_reach_the_anthropic_sdk_whole() {
    let Some(py) = sdk_python() else { return };
    let plan: &[(&str, &[&str])] = &[("groq", &["stream_tool"])];
    let (_, _, results) = exercise(py, plan, interleaved).await;
    let r = &results["groq"]["stream_tool"];
    let expected = json!([{"location": "Paris"}, {"location": "Tokyo"}]);
    assert_eq!(inputs(r), expected, "{r:#}");
    assert_eq!(r["rebuilt_inputs"], expected, "{r:#}");
}

/// Answers that fail: Anthropic overloaded (a 529), and streams cut by a
/// connection reset mid-way.
fn failing(provider: &str, op: &str) -> Reply {
    match (provider, op) {
        ("anthropic", "error") => Reply::json(529, fixture("anthropic/error_529.json")),
        ("anthropic", _) => Reply::sse_reset_after(&fixture("anthropic/stream_text.sse"), 4),
        _ => Reply::sse_reset_after(&fixture("openai/stream_tool_call.sse"), 4),
    }
}

/// A failure reaches the SDK as its own exception, with Anthropic's error
/// type: a 529 as `OverloadedError`, a cut stream (passed through or
/// translated) as the stream's `error` event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anthropic_sdk_sees_failures_as_its_own_errors() {
    let Some(py) = sdk_python() else { return };
    let plan: &[(&str, &[&str])] = &[
        ("anthropic", &["error", "stream_cut"]),
        ("groq", &["stream_cut"]),
    ];
    let (env, key, results) = exercise(py, plan, failing).await;
    let overloaded = &results["anthropic"]["error"];
    assert_eq!(
        (
            &overloaded["error"],
            &overloaded["status"],
            &overloaded["type"]
        ),
        (
            &json!("OverloadedError"),
            &json!(529),
            &json!("overloaded_error")
        ),
        "{results:#}"
    );
    for p in ["anthropic", "groq"] {
        let cut = &results[p]["stream_cut"];
        assert_eq!(cut["type"], "api_error", "{p}: {results:#}");
        assert!(
            cut["message"].as_str().unwrap().contains("reset"),
            "{p}: {results:#}"
        );
    }
    // The failed call is not charged; the cut streams are settled.
    env.usage_rows(&key, 2).await;
    assert_eq!(env.reserved(&key).await, Money::ZERO);
}
