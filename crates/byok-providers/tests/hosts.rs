//! A credential's `region` / `plan` chooses one of the provider's
//! documented hosts (issue #15, "What must exist" 10). The real hosts are
//! not loopback, so these tests point the operator's base-URL override at
//! the mock and check that it still wins, that the key still goes in the
//! header, and that chat and model listing both reach it. Which URL each
//! choice resolves to is tested in `target.rs` (unit tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use byok_providers::ProviderId;
use byok_testkit::{Reply, fixture};
use common::*;
use serde_json::json;

const KEY: &str = "zai-key-0123456789CANARY";

#[tokio::test]
async fn the_operator_override_wins_over_a_region_and_plan() {
    let s = setup(ProviderId::Zai, Some("/api/paas/v4"), |_| {
        format!(r#"{{"apiKey":"{KEY}","region":"cn","plan":"coding"}}"#)
    })
    .await;
    s.mock.on(
        "POST",
        "/api/paas/v4/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    s.mock.on(
        "GET",
        "/api/paas/v4/models",
        Reply::json(200, fixture("openai/models.json")),
    );
    let req = request(json!({"model": "glm-4.6", "messages": [{"role": "user", "content": "hi"}]}));
    s.provider.chat(&req, &s.credential).await.unwrap();
    let sent = s.mock.last_request().unwrap();
    assert_eq!(sent.path(), "/api/paas/v4/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
    s.provider.list_models(&s.credential).await.unwrap();
    assert_eq!(s.mock.last_request().unwrap().path(), "/api/paas/v4/models");
}

#[tokio::test]
async fn a_region_on_the_responses_api_keeps_the_override_too() {
    let s = setup(ProviderId::OpenAiResponses, Some("/v1"), |_| {
        r#"{"apiKey":"sk-eu-0123456789","region":"eu"}"#.to_owned()
    })
    .await;
    s.mock.on(
        "GET",
        "/v1/models",
        Reply::json(200, fixture("openai/models.json")),
    );
    s.provider.list_models(&s.credential).await.unwrap();
    let sent = s.mock.last_request().unwrap();
    assert_eq!(sent.path(), "/v1/models");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-eu-0123456789")
    );
}
