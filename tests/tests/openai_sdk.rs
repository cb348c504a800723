//! The official OpenAI Python SDK against the gateway.
//!
//! Needs a Python with the `openai` package: `.ci/run` creates
//! `target/sdk-venv` for it; `BYOK_SDK_PYTHON` points elsewhere. Without it
//! the test says so loudly and passes locally, but fails under CI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use byok_testkit::{Reply, fixture};
use serde_json::{Value, json};

fn python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("BYOK_SDK_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/sdk-venv/bin/python"
        ))),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import openai"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn step(py: &Path, name: &str, base: &str, key: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/sdk_check.py");
    let out = Command::new(py)
        .args([script, name, base, key])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{name}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// [`step`] off the async runtime.
async fn sdk_step(py: &Path, name: &'static str, base: &str, key: &str) -> Value {
    let (py, base, key) = (py.to_owned(), base.to_owned(), key.to_owned());
    tokio::task::spawn_blocking(move || step(&py, name, &base, &key))
        .await
        .unwrap()
}

/// The OpenAI key the users store.
const SECRET: &str = "sk-sdk-test-0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_sdk_works_against_the_gateway() {
    let Some(py) = python() else {
        let msg = "\n\n!!! SKIPPING the OpenAI SDK test: no Python with the `openai` package (run .ci/run or set BYOK_SDK_PYTHON) !!!\n";
        common::skip(msg, "CI must have it.");
        return;
    };
    let env = common::start(&[("openai", "/v1")], |_| {}).await;
    let (_, key) = env.cli_user("sdk", Some("5.00"));
    let r = env.put_credential(&key, "openai", json!(SECRET)).await;
    assert_eq!(r.status(), 200);
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
    env.put_credential(&broke, "openai", json!(SECRET)).await;
    let v = sdk_step(&py, "payment", &base, &broke).await;
    assert_eq!(v["payment"], "402");
}
