//! The official OpenAI Python SDK against the gateway.
//!
//! Needs a Python with the `openai` package: `.ci/run` creates
//! `target/sdk-venv` for it; `BYOK_SDK_PYTHON` points elsewhere. Without it
//! the test says so loudly and passes locally, but fails under CI.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)] // test code

mod common;

use std::path::PathBuf;
use std::process::Command;

use byok_server::{RunningServer, Settings};
use byok_testkit::{MockUpstream, Reply, fixture};
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

fn step(py: &PathBuf, name: &str, base: &str, key: &str) -> Value {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_sdk_works_against_the_gateway() {
    let Some(py) = python() else {
        let msg = "\n\n!!! SKIPPING the OpenAI SDK test: no Python with the `openai` package (run .ci/run or set BYOK_SDK_PYTHON) !!!\n";
        assert!(std::env::var("CI").is_err(), "{msg} CI must have it.");
        eprintln!("{msg}");
        return;
    };
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_data_dir(dir.path().join("data"));
    settings.allow_insecure_upstreams = true;
    settings
        .upstreams
        .insert("openai".into(), format!("{}/v1", mock.base_url()));
    let server = RunningServer::start(&settings).unwrap();
    let base = format!("http://{}", server.addr());
    let (_, key) = common::create_user(&settings, "sdk", Some("5.00"));
    let http = reqwest::Client::new();
    let r = http
        .put(format!("{base}/api/byok/credentials/openai"))
        .bearer_auth(&key)
        .json(&json!({"key": "sk-sdk-test-0123456789abcdef"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    mock.on(
        "POST",
        "/v1/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    let v = tokio::task::spawn_blocking({
        let (py, base, key) = (py.clone(), base.clone(), key.clone());
        move || step(&py, "plain", &base, &key)
    })
    .await
    .unwrap();
    assert_eq!(
        v,
        json!({"content": "Hello! How can I help you today?", "finish": "stop", "prompt_tokens": 2006, "cached": 1920})
    );

    mock.on(
        "POST",
        "/v1/chat/completions",
        Reply::sse(&fixture("openai/stream_text.sse")),
    );
    let v = tokio::task::spawn_blocking({
        let (py, base, key) = (py.clone(), base.clone(), key.clone());
        move || step(&py, "stream", &base, &key)
    })
    .await
    .unwrap();
    assert_eq!(v["content"], "Hello! How can I help you today?");
    assert_eq!(v["total_tokens"], 29);

    mock.on(
        "POST",
        "/v1/chat/completions",
        Reply::sse(&fixture("openai/stream_tool_call.sse")),
    );
    let v = tokio::task::spawn_blocking({
        let (py, base, key) = (py.clone(), base.clone(), key.clone());
        move || step(&py, "tools", &base, &key)
    })
    .await
    .unwrap();
    assert_eq!(
        v,
        json!({"name": "get_weather", "arguments": {"location": "Paris, France", "unit": "celsius"}, "finish": "tool_calls"})
    );

    let v = tokio::task::spawn_blocking({
        let (py, base, key) = (py.clone(), base.clone(), key.clone());
        move || step(&py, "errors", &base, &key)
    })
    .await
    .unwrap();
    assert_eq!(
        v,
        json!({"unauthorized": "AuthenticationError:401", "bad_request": "BadRequestError:400"})
    );

    let (_, broke) = common::create_user(&settings, "broke", None);
    http.put(format!("{base}/api/byok/credentials/openai"))
        .bearer_auth(&broke)
        .json(&json!({"key": "sk-sdk-test-0123456789abcdef"}))
        .send()
        .await
        .unwrap();
    let v = tokio::task::spawn_blocking({
        let (py, base) = (py.clone(), base.clone());
        move || step(&py, "payment", &base, &broke)
    })
    .await
    .unwrap();
    assert_eq!(v["payment"], "402");
}
