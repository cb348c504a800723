//! Real agent-framework clients against the gateway: LangChain's `ChatOpenAI`
//! (Python) and the Vercel AI SDK (`ai` + `@ai-sdk/openai-compatible`, Node),
//! each through one provider of every translator family (an OpenAI-dialect
//! one, Anthropic, Gemini, Bedrock, Responses): a plain call, a stream, a
//! tool call, a tool loop (the result sent back), a streamed parallel tool
//! call and structured output. The testkit mock answers in each
//! provider's own wire format; the clients' parsed results and the requests
//! the mock received are asserted on.
//!
//! Needs `target/sdk-venv` with `langchain-openai` (tests/python/requirements.txt)
//! and `tests/node/node_modules` (`npm ci`): `.ci/run` installs both;
//! `BYOK_SDK_PYTHON` points at another Python. Without them the tests say so
//! loudly and pass locally, but fail under CI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use byok_testkit::{Reply, fixture};
use common::Env;
use common::clients::{
    FAMILIES, Family, event_stream, family, python_with, run_json, secret, upstream_bodies,
};
use serde_json::{Value, json};

const TEXT: &str = "Hello! How can I help you today?";

fn tool_args() -> Value {
    json!({"location": "Paris, France", "unit": "celsius"})
}

fn weather() -> Value {
    json!({"city": "Paris", "temperature_c": 18, "conditions": ["sunny", "windy"]})
}

/// The provider's answer carrying one `get_weather` call with [`tool_args`]
/// (formats as in the fixtures of the same family).
fn tool_reply(provider: &str) -> Value {
    let args = tool_args();
    let args_text = args.to_string();
    match provider {
        "groq" => json!({
            "id": "chatcmpl-clients-tool", "object": "chat.completion", "created": 1741569952,
            "model": "llama-3.3-70b-versatile",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_d7kq2x", "type": "function", "function": {"name": "get_weather", "arguments": args_text}}
            ]}, "logprobs": null, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 82, "completion_tokens": 18, "total_tokens": 100}
        }),
        "anthropic" => json!({
            "id": "msg_01ClientsToolUse", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "tool_use", "id": "toolu_01ClientsWeather", "name": "get_weather", "input": args}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 410, "output_tokens": 40}
        }),
        "google" => json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": args}}
            ]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 20, "totalTokenCount": 140},
            "modelVersion": "gemini-2.5-flash", "responseId": "clientsToolCall"
        }),
        "aws" => json!({
            "output": {"message": {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "tooluse_ClientsWeather01", "name": "get_weather", "input": args}}
            ]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 410, "outputTokens": 40, "totalTokens": 450},
            "metrics": {"latencyMs": 420}
        }),
        _ => responses_body(json!([{
            "type": "function_call", "id": "fc_clients01", "call_id": "call_clients01",
            "name": "get_weather", "arguments": args_text, "status": "completed"
        }])),
    }
}

/// The provider's answer whose text is [`weather`] as JSON (native structured
/// output answers as text).
fn structured_reply(provider: &str) -> Value {
    let text = weather().to_string();
    match provider {
        "groq" => json!({
            "id": "chatcmpl-clients-structured", "object": "chat.completion", "created": 1741569952,
            "model": "llama-3.3-70b-versatile",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 90, "completion_tokens": 20, "total_tokens": 110}
        }),
        "anthropic" => serde_json::from_str(&fixture("anthropic/message_structured.json")).unwrap(),
        "google" => json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 20, "totalTokenCount": 140},
            "modelVersion": "gemini-2.5-flash", "responseId": "clientsStructured"
        }),
        "aws" => json!({
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 214, "outputTokens": 27, "totalTokens": 241},
            "metrics": {"latencyMs": 380}
        }),
        _ => responses_body(json!([{
            "type": "message", "id": "msg_clients01", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]
        }])),
    }
}

/// `responses/response_text.json` with another `output`.
fn responses_body(output: Value) -> Value {
    let mut body: Value = serde_json::from_str(&fixture("responses/response_text.json")).unwrap();
    body["output"] = output;
    body
}

/// The recorded answers for a plain call and a stream.
fn text_reply(provider: &str) -> Reply {
    let name = match provider {
        "groq" => "openai/chat_text.json",
        "anthropic" => "anthropic/message_text.json",
        "google" => "google/generate_text.json",
        "aws" => "bedrock/converse_text.json",
        _ => "responses/response_text.json",
    };
    Reply::json(200, fixture(name))
}

fn stream_reply(provider: &str) -> Reply {
    match provider {
        "groq" => Reply::sse(&fixture("openai/stream_groq.sse")),
        "anthropic" => Reply::sse(&fixture("anthropic/stream_text.sse")),
        "google" => Reply::sse(&fixture("google/stream_text.sse")),
        "aws" => event_stream("bedrock/stream_text.events.json"),
        _ => Reply::sse(&fixture("responses/stream_text.sse")),
    }
}

/// The recorded streamed answer with tool calls (`stream_tool`).
fn stream_tool_reply(provider: &str) -> Reply {
    match provider {
        "groq" => Reply::sse(&fixture("openai/stream_parallel_tools.sse")),
        "anthropic" => Reply::sse(&fixture("anthropic/stream_tool_use.sse")),
        "google" => Reply::sse(&fixture("google/stream_tool_calls.sse")),
        "aws" => event_stream("bedrock/stream_tool_use.events.json"),
        _ => Reply::sse(&fixture("responses/stream_tool_calls.sse")),
    }
}

/// The arguments of the `get_weather` calls in [`stream_tool_reply`], in
/// order.
fn streamed_tool_args(provider: &str) -> Value {
    match provider {
        "groq" => json!([{"location": "Paris"}, {"location": "Tokyo"}]),
        "anthropic" => json!([
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

/// Scripts the mock for `ops` of `family`, in the order the client scripts
/// run them.
fn script(env: &Env, family: &Family, ops: &[&str]) {
    let p = family.provider;
    let (mut calls, mut streams) = (Vec::new(), Vec::new());
    for op in ops {
        match *op {
            "invoke" => calls.push(text_reply(p)),
            "stream" => streams.push(stream_reply(p)),
            "tool" => calls.push(Reply::json(200, tool_reply(p).to_string())),
            "tool_loop" => {
                calls.extend([Reply::json(200, tool_reply(p).to_string()), text_reply(p)])
            }
            "stream_tool" => streams.push(stream_tool_reply(p)),
            "structured" => calls.push(Reply::json(200, structured_reply(p).to_string())),
            other => panic!("unknown op {other}"),
        }
    }
    env.mock.on_sequence("POST", family.call, calls);
    match family.stream {
        Some(path) => env.mock.on_sequence("POST", path, streams),
        None => env.mock.on_streaming_sequence("POST", family.call, streams),
    }
}

/// The tool named in an upstream request body, in the provider's format,
/// and its parameter schema.
fn upstream_tool(provider: &str, body: &Value) -> Option<(Value, Value)> {
    let (name, schema) = match provider {
        "groq" => {
            let f = &body["tools"][0]["function"];
            (&f["name"], &f["parameters"])
        }
        "anthropic" => (&body["tools"][0]["name"], &body["tools"][0]["input_schema"]),
        "google" => {
            let f = &body["tools"][0]["functionDeclarations"][0];
            (&f["name"], &f["parametersJsonSchema"])
        }
        "aws" => {
            let s = &body["toolConfig"]["tools"][0]["toolSpec"];
            (&s["name"], &s["inputSchema"]["json"])
        }
        _ => (&body["tools"][0]["name"], &body["tools"][0]["parameters"]),
    };
    (!name.is_null()).then(|| (name.clone(), schema.clone()))
}

/// What `get_weather` answers in the clients' tool loops.
const TOOL_RESULT: &str = "18 degrees celsius in Paris, France";

/// The id of the call in [`tool_reply`], as the provider made it (Gemini
/// has none: its results name the function).
fn upstream_call_id(provider: &str) -> &'static str {
    match provider {
        "groq" => "call_d7kq2x",
        "anthropic" => "toolu_01ClientsWeather",
        "google" => "get_weather",
        "aws" => "tooluse_ClientsWeather01",
        _ => "call_clients01",
    }
}

/// The call a tool result in an upstream request body answers, in the
/// provider's format.
fn upstream_tool_result(provider: &str, body: &Value) -> Option<Value> {
    let items = |key: &str| body[key].as_array().cloned().unwrap_or_default();
    let blocks = |key: &str, content: &str| -> Vec<Value> {
        items(key)
            .iter()
            .flat_map(|m| m[content].as_array().cloned().unwrap_or_default())
            .collect()
    };
    match provider {
        "groq" => items("messages")
            .into_iter()
            .find(|m| m["role"] == "tool")
            .map(|m| m["tool_call_id"].clone()),
        "anthropic" => blocks("messages", "content")
            .into_iter()
            .find(|b| b["type"] == "tool_result")
            .map(|b| b["tool_use_id"].clone()),
        "google" => blocks("contents", "parts")
            .into_iter()
            .find(|p| p.get("functionResponse").is_some())
            .map(|p| p["functionResponse"]["name"].clone()),
        "aws" => blocks("messages", "content")
            .into_iter()
            .find(|b| b.get("toolResult").is_some())
            .map(|b| b["toolResult"]["toolUseId"].clone()),
        _ => items("input")
            .into_iter()
            .find(|i| i["type"] == "function_call_output")
            .map(|i| i["call_id"].clone()),
    }
}

/// Tool-call ids the gateway hands out are valid for every provider:
/// `[A-Za-z0-9_-]`, at most 40 characters.
fn check_ids(provider: &str, ids: &[&str], ctx: &str) {
    for id in ids {
        let valid = !id.is_empty()
            && id.len() <= 40
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        assert!(valid, "tool-call id {id:?} of {provider}: {ctx}");
    }
}

/// The JSON schema of a native structured-output request body, as each
/// provider's reference names it.
fn upstream_output_schema(provider: &str, body: &Value) -> Option<Value> {
    let schema = match provider {
        // OpenAI: response_format.json_schema.schema
        "groq" => (body["response_format"]["type"] == "json_schema")
            .then(|| body["response_format"]["json_schema"]["schema"].clone()),
        // Anthropic: output_config.format {"type": "json_schema", "schema"}
        "anthropic" => (body["output_config"]["format"]["type"] == "json_schema")
            .then(|| body["output_config"]["format"]["schema"].clone()),
        // Gemini: generationConfig.responseJsonSchema with responseMimeType
        "google" => (body["generationConfig"]["responseMimeType"] == "application/json")
            .then(|| body["generationConfig"]["responseJsonSchema"].clone()),
        // Converse: outputConfig.textFormat {"type": "json_schema",
        // "structure": {"jsonSchema": {"schema": "<JSON text>", "name"}}}
        "aws" => {
            let format = &body["outputConfig"]["textFormat"];
            (format["type"] == "json_schema")
                .then(|| format["structure"]["jsonSchema"]["schema"].as_str())
                .flatten()
                .and_then(|s| serde_json::from_str(s).ok())
        }
        // Responses: text.format {"type": "json_schema", "name", "schema"}
        _ => (body["text"]["format"]["type"] == "json_schema")
            .then(|| body["text"]["format"]["schema"].clone()),
    };
    schema.filter(|s| !s.is_null())
}

/// Asserts `results` (op -> what the client parsed) and the upstream
/// requests for `family`; `tool_finish` is the client's name for the
/// `tool_calls` finish reason.
fn check_family(env: &Env, family: &Family, results: &Value, tool_finish: &'static str) {
    let check = Check {
        p: family.provider,
        ctx: format!("{}: {results:#}", family.provider),
        bodies: upstream_bodies(env, family),
        tool_finish,
    };
    for (op, result) in results.as_object().unwrap() {
        match op.as_str() {
            "invoke" | "stream" => check.text(op, result),
            "tool" => check.tool(result),
            "tool_loop" => check.tool_loop(result),
            "stream_tool" => check.stream_tool(result),
            "structured" => check.structured(result),
            other => panic!("unknown op {other}"),
        }
    }
}

/// What one family's checks share.
struct Check {
    p: &'static str,
    /// Every result, for failure messages.
    ctx: String,
    /// The upstream request bodies.
    bodies: Vec<Value>,
    tool_finish: &'static str,
}

impl Check {
    fn text(&self, op: &str, r: &Value) {
        let ctx = &self.ctx;
        assert_eq!(r["content"], TEXT, "{op} {ctx}");
        assert_eq!(r["finish"], "stop", "{op} {ctx}");
        if op == "stream" {
            assert!(r["chunks"].as_u64().unwrap() > 1, "{ctx}");
        }
    }

    fn tool(&self, t: &Value) {
        let (p, ctx) = (self.p, &self.ctx);
        assert_eq!(t["name"], "get_weather", "{ctx}");
        assert_eq!(t["args"], tool_args(), "{ctx}");
        assert_eq!(
            (&t["calls"], &t["id_ok"]),
            (&json!(1), &json!(true)),
            "{ctx}"
        );
        assert_eq!(t["finish"], self.tool_finish, "{ctx}");
        let (name, schema) = self
            .bodies
            .iter()
            .find_map(|b| upstream_tool(p, b))
            .unwrap_or_else(|| panic!("no tool reached {p}: {:#?}", self.bodies));
        assert_eq!(name, "get_weather", "{p}");
        assert_eq!(schema["properties"]["location"]["type"], "string", "{p}");
    }

    fn stream_tool(&self, t: &Value) {
        let ctx = &self.ctx;
        let calls = t["calls"].as_array().unwrap();
        assert!(calls.iter().all(|c| c["name"] == "get_weather"), "{ctx}");
        let args: Vec<&Value> = calls.iter().map(|c| &c["args"]).collect();
        assert_eq!(json!(args), streamed_tool_args(self.p), "{ctx}");
        assert_eq!(t["invalid"], 0, "{ctx}");
        assert_eq!(t["finish"], self.tool_finish, "{ctx}");
        let ids: Vec<&str> = t["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_str().unwrap())
            .collect();
        assert!(ids[0] != ids[1], "{ctx}");
        check_ids(self.p, &ids, ctx);
    }

    fn tool_loop(&self, t: &Value) {
        let (p, ctx) = (self.p, &self.ctx);
        assert_eq!(t["content"], TEXT, "{ctx}");
        assert_eq!(t["finish"], "stop", "{ctx}");
        assert_eq!(t["result"], TOOL_RESULT, "{ctx}");
        if let Some(steps) = t.get("steps") {
            assert_eq!(steps, 2, "{ctx}");
        }
        check_ids(p, &[t["ids"][0].as_str().unwrap()], ctx);
        // The tool result went back in the provider's format, naming the
        // call the provider made.
        let (echoed, body) = self
            .bodies
            .iter()
            .find_map(|b| upstream_tool_result(p, b).map(|r| (r, b)))
            .unwrap_or_else(|| panic!("no tool result reached {p}: {:#?}", self.bodies));
        assert_eq!(echoed, upstream_call_id(p), "{p}: {body:#}");
        assert!(body.to_string().contains(TOOL_RESULT), "{p}: {body:#}");
    }

    fn structured(&self, r: &Value) {
        let (p, ctx) = (self.p, &self.ctx);
        assert_eq!(r["object"], weather(), "{ctx}");
        if let Some(ty) = r.get("type") {
            assert_eq!(ty, "Weather", "the Pydantic model: {ctx}");
        }
        let schema = self
            .bodies
            .iter()
            .find_map(|b| upstream_output_schema(p, b))
            .unwrap_or_else(|| {
                panic!(
                    "no native structured output reached {p}: {:#?}",
                    self.bodies
                )
            });
        assert_eq!(schema["properties"]["city"]["type"], "string", "{p}");
        assert_eq!(schema["properties"]["conditions"]["type"], "array", "{p}");
    }
}

/// A gateway whose upstreams are all the mock, and a user holding a key
/// for every family.
async fn gateway() -> (Env, String) {
    let upstreams: Vec<(&str, &str)> = FAMILIES.iter().map(|f| (f.provider, f.suffix)).collect();
    let env = common::start(&upstreams, |_| {}).await;
    let (_, key) = env.cli_user("clients", Some("5.00"));
    for f in &FAMILIES {
        env.store(&key, f.provider, secret(f.provider)).await;
    }
    (env, key)
}

/// Runs `client` over `plan` (provider, ops) against a fresh gateway and
/// checks every result.
async fn exercise(client: Client, plan: &[(&str, &[&str])]) {
    let (env, key) = gateway().await;
    let families: Vec<&Family> = plan.iter().map(|(p, _)| family(p)).collect();
    for (family, (_, ops)) in families.iter().zip(plan) {
        script(&env, family, ops);
    }
    let plan_json = json!(
        families
            .iter()
            .zip(plan)
            .map(|(f, (_, ops))| json!({"provider": f.provider, "model": f.model, "ops": ops}))
            .collect::<Vec<_>>()
    );
    let (program, script, tool_finish) = match &client {
        Client::LangChain(py) => (py.clone(), LANGCHAIN, "tool_calls"),
        Client::AiSdk(node) => (node.clone(), AI_SDK, "tool-calls"),
    };
    let args = vec![env.url(""), key.clone(), plan_json.to_string()];
    let results = run_json(program, script, args).await;
    for (family, (_, ops)) in families.iter().zip(plan) {
        let ran = &results[family.provider];
        for op in *ops {
            assert!(ran.get(op).is_some(), "{op} did not run: {results:#}");
        }
        check_family(&env, family, ran, tool_finish);
    }
}

const LANGCHAIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/langchain_check.py");
const NODE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/node");
const AI_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/node/ai_sdk_check.mjs");

enum Client {
    LangChain(PathBuf),
    AiSdk(PathBuf),
}

/// `node`, when `tests/node/node_modules` holds the AI SDK.
fn node() -> Option<PathBuf> {
    let installed = Path::new(NODE_DIR)
        .join("node_modules/@ai-sdk/openai-compatible")
        .exists();
    let works = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    (installed && works).then(|| PathBuf::from("node"))
}

fn langchain() -> Option<Client> {
    let client = python_with("langchain_openai").map(Client::LangChain);
    if client.is_none() {
        let msg = "\n\n!!! SKIPPING the LangChain test: no Python with `langchain-openai` (run .ci/run or set BYOK_SDK_PYTHON) !!!\n";
        common::skip(msg, "CI must have it.");
    }
    client
}

fn ai_sdk() -> Option<Client> {
    let client = node().map(Client::AiSdk);
    if client.is_none() {
        let msg = "\n\n!!! SKIPPING the AI SDK test: needs node and tests/node/node_modules (run .ci/run) !!!\n";
        common::skip(msg, "CI must have them.");
    }
    client
}

const ALL: &[&str] = &[
    "invoke",
    "stream",
    "tool",
    "tool_loop",
    "stream_tool",
    "structured",
];

/// Every family, every operation.
const PLAN: &[(&str, &[&str])] = &[
    ("groq", ALL),
    ("anthropic", ALL),
    ("google", ALL),
    ("aws", ALL),
    ("openai-responses", ALL),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn langchain_chat_openai_through_every_translator_family() {
    if let Some(client) = langchain() {
        exercise(client, PLAN).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vercel_ai_sdk_through_every_translator_family() {
    if let Some(client) = ai_sdk() {
        exercise(client, PLAN).await;
    }
}
