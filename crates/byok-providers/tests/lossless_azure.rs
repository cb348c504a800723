//! Azure OpenAI, the OpenAI dialect on a deployment target, is lossless
//! too: what the gateway does not read goes upstream as sent, answers keep
//! every field, and a reasoning deployment gets `max_completion_tokens`
//! (issue #15).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use byok_providers::ProviderId;
use byok_testkit::{Reply, fixture};
use common::*;
use serde_json::{Value, json};

const KEY: &str = "0123456789abcdefAZURECANARY0123";
const PATH: &str = "/openai/deployments/o3-prod/chat/completions";

async fn azure() -> Setup {
    setup(ProviderId::Azure, None, |base| {
        format!(r#"{{"endpoint":"{base}","apiKey":"{KEY}","deploymentName":"o3-prod","apiVersion":"2024-10-21"}}"#)
    })
    .await
}

#[tokio::test]
async fn requests_go_upstream_as_sent_but_for_the_deployment_and_the_token_limit() {
    let s = azure().await;
    s.mock.on(
        "POST",
        PATH,
        Reply::json(200, fixture("openai/chat_openai_extras.json")),
    );
    let mut raw: Value = serde_json::from_str(&fixture("openai/request_lossless.json")).unwrap();
    raw["model"] = json!("reasoning-model");
    raw["max_tokens"] = json!(300);
    raw.as_object_mut().unwrap().remove("max_completion_tokens");
    let out = s
        .provider
        .chat(&request(raw.clone()), &s.credential)
        .await
        .unwrap();
    let mut sent = sent_json(&s);
    assert_eq!(sent["model"], "o3-prod");
    assert_eq!(
        sent["max_completion_tokens"], 300,
        "an o3 deployment refuses `max_tokens`, whatever the client calls the model"
    );
    let sent = sent.as_object_mut().unwrap();
    sent.remove("max_completion_tokens");
    sent.remove("model");
    let raw = raw.as_object_mut().unwrap();
    raw.remove("max_tokens");
    raw.remove("model");
    assert_eq!(sent, raw);

    let answer = out
        .verbatim
        .expect("OpenAI's shape is forwarded as it came");
    assert_eq!(
        &answer[..],
        fixture("openai/chat_openai_extras.json").as_bytes()
    );
    let m = &out.response.choices[0].message;
    assert_eq!(m.extra["annotations"][0]["type"], "url_citation");
    assert_eq!(
        out.response.choices[1].message.refusal.as_deref(),
        Some("I can't help with that.")
    );
}
