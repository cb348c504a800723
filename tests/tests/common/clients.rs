//! What the real-client tests (`clients.rs`, `sdks.rs`, `openai_sdk.rs`)
//! share: one provider of each translator family as the mock serves it,
//! the users' keys for them, Bedrock event-stream answers and whole
//! Responses answers from fixtures, the requests each family received,
//! finding the Python the clients are installed in and running a client
//! script.

use std::path::{Path, PathBuf};
use std::process::Command;

use byok_testkit::{Reply, event_stream_message, fixture};
use serde_json::{Value, json};

use super::Env;

/// One provider of a translator family, as the mock serves it.
pub(crate) struct Family {
    /// `x-byok-provider`.
    pub(crate) provider: &'static str,
    pub(crate) model: &'static str,
    /// The path suffix of the mock as this provider's upstream.
    pub(crate) suffix: &'static str,
    /// Where non-streamed requests go.
    pub(crate) call: &'static str,
    /// Where streamed requests go; `None`: to `call` with `"stream": true`.
    pub(crate) stream: Option<&'static str>,
}

/// One provider of every translator family.
pub(crate) const FAMILIES: [Family; 5] = [
    Family {
        provider: "groq",
        model: "llama-3.3-70b-versatile",
        suffix: "/openai/v1",
        call: "/openai/v1/chat/completions",
        stream: None,
    },
    Family {
        provider: "anthropic",
        model: "claude-sonnet-4-5",
        suffix: "",
        call: "/v1/messages",
        stream: None,
    },
    Family {
        provider: "google",
        model: "gemini-2.5-flash",
        suffix: "",
        call: "/v1beta/models/gemini-2.5-flash:generateContent",
        stream: Some("/v1beta/models/gemini-2.5-flash:streamGenerateContent"),
    },
    Family {
        provider: "aws",
        model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
        suffix: "",
        call: "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
        stream: Some("/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream"),
    },
    Family {
        provider: "openai-responses",
        model: "gpt-4.1",
        suffix: "/v1",
        call: "/v1/responses",
        stream: None,
    },
];

/// The family of `provider`.
pub(crate) fn family(provider: &str) -> &'static Family {
    FAMILIES.iter().find(|f| f.provider == provider).unwrap()
}

/// The key a user stores for `provider`, in its credential's shape.
pub(crate) fn secret(provider: &str) -> Value {
    match provider {
        "aws" => json!({"apiKey": "ABSKclientsBedrockKey0123456789", "region": "us-east-1"}),
        "google" => json!("AIzaSyClients-0123456789abcdefghij"),
        "anthropic" => json!("sk-ant-clients-0123456789abcdef"),
        "groq" => json!("gsk_clients0123456789abcdefghij"),
        _ => json!("sk-clients-0123456789abcdef"),
    }
}

/// The bodies of the requests `family` received, in order.
pub(crate) fn upstream_bodies(env: &Env, family: &Family) -> Vec<Value> {
    env.mock
        .requests()
        .iter()
        .filter(|r| r.path() == family.call || Some(r.path()) == family.stream)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// The `response` of the `response.completed` event of a Responses stream
/// fixture: the whole answer the stream carries.
pub(crate) fn completed_response(name: &str) -> String {
    let sse = fixture(name);
    let data = sse
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .find(|d| d.contains("\"response.completed\""))
        .unwrap();
    let event: Value = serde_json::from_str(data).unwrap();
    event["response"].to_string()
}

/// A Bedrock ConverseStream answer: the events of fixture `name`
/// (`{"event", "payload"}`) as AWS event-stream messages.
pub(crate) fn event_stream(name: &str) -> Reply {
    let events: Vec<Value> = serde_json::from_str(&fixture(name)).unwrap();
    Reply::event_stream(
        events
            .iter()
            .map(|e| {
                let payload = serde_json::to_vec(&e["payload"]).unwrap();
                event_stream_message(e["event"].as_str().unwrap(), &payload)
            })
            .collect(),
    )
}

/// A Python that can import `module` (the venv `.ci/run` makes, or
/// `BYOK_SDK_PYTHON`).
pub(crate) fn python_with(module: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("BYOK_SDK_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/sdk-venv/bin/python"
        ))),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Runs `program script args…` in the script's directory, off the async
/// runtime: the one JSON line the script prints. A failure (or output
/// that is not JSON) names the script and its arguments.
pub(crate) async fn run_json(program: PathBuf, script: &'static str, args: Vec<String>) -> Value {
    tokio::task::spawn_blocking(move || {
        let script_path = Path::new(script);
        let out = Command::new(&program)
            .current_dir(script_path.parent().unwrap())
            .arg(script_path)
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
        let what = format!("{} {script} {args:?}", program.display());
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{what}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
    })
    .await
    .unwrap()
}
