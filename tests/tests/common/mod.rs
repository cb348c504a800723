//! Helpers shared by the end-to-end test binaries.
#![allow(dead_code, clippy::unwrap_used)] // each binary uses a subset; test code

use std::time::Duration;

use serde_json::Value;

/// `GET url` with a gateway key, as JSON.
pub(crate) async fn get_json(http: &reqwest::Client, url: String, key: &str) -> Value {
    http.get(url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `GET {base}/api/usage` until its rows satisfy `done` (ledger writes are
/// committed off the request path), for up to ~2 s; the last answer either
/// way.
pub(crate) async fn usage_when(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Value {
    let mut usage = Value::Null;
    for _ in 0..100 {
        usage = get_json(http, format!("{base}/api/usage"), key).await;
        if done(usage["data"].as_array().unwrap()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    usage
}

/// Creates a user with the CLI's `user create` (as an operator would):
/// `(user_id, api_key)`.
pub(crate) fn create_user(
    settings: &byok_server::Settings,
    name: &str,
    credit_usd: Option<&str>,
) -> (String, String) {
    let mut out = Vec::new();
    byok_server::run_user_command(
        settings,
        &byok_server::UserCommand::Create {
            name: name.into(),
            credit_usd: credit_usd.map(str::to_owned),
        },
        &mut out,
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    (
        v["user_id"].as_str().unwrap().to_owned(),
        v["api_key"].as_str().unwrap().to_owned(),
    )
}
