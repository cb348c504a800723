//! Azure OpenAI chat: deployment URLs, `api-key`, `api-version` incl. `v1`,
//! the leading `prompt_filter_results` chunk, content-filter finish reasons.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use byok_providers::{FinishReason, ProviderId, UsageReport};
use byok_testkit::{Reply, fixture};
use common::*;
use serde_json::json;

const KEY: &str = "0123456789abcdefAZURECANARY0123";

fn req(stream: bool) -> serde_json::Value {
    json!({"model": "ignored-by-azure", "stream": stream, "messages": [{"role": "user", "content": "Hi"}]})
}

#[tokio::test]
async fn dated_api_version_uses_the_deployment_path() {
    let s = setup(ProviderId::Azure, None, |base| {
        format!(r#"{{"endpoint":"{base}","apiKey":"{KEY}","deploymentName":"gpt4o-prod","apiVersion":"2024-10-21"}}"#)
    })
    .await;
    s.mock.on(
        "POST",
        "/openai/deployments/gpt4o-prod/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    let out = s
        .provider
        .chat(&request(req(false)), &s.credential)
        .await
        .unwrap();
    assert!(matches!(out.usage, UsageReport::Reported(_)));
    let sent = s.mock.last_request().unwrap();
    assert_eq!(sent.query(), Some("api-version=2024-10-21"));
    assert_eq!(sent.header("api-key"), Some(KEY));
    assert_eq!(sent.header("authorization"), None);

    s.mock.on(
        "POST",
        "/openai/deployments/gpt4o-prod/chat/completions",
        Reply::sse(&fixture("openai/stream_azure_prompt_filter.sse")),
    );
    let (t, chunks, usage, err) = collect(&s, &request(req(true))).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(t.content, "Hello! How can I help you today?");
    assert!(
        chunks.iter().all(|c| !c.choices.is_empty()),
        "the prompt_filter_results chunk is dropped"
    );
    assert!(matches!(usage, UsageReport::Reported(ref u) if u.total_tokens == 29));
    assert_eq!(sent_json(&s)["stream_options"]["include_usage"], true);

    let filtered = fixture("openai/stream_azure_prompt_filter.sse").replace(
        "\"finish_reason\":\"stop\"",
        "\"finish_reason\":\"content_filter\"",
    );
    s.mock.on(
        "POST",
        "/openai/deployments/gpt4o-prod/chat/completions",
        Reply::sse(&filtered),
    );
    let (t, _, _, _) = collect(&s, &request(req(true))).await;
    assert_eq!(t.finish_reason, Some(FinishReason::ContentFilter));
}

#[tokio::test]
async fn v1_api_version_uses_the_v1_path_without_query() {
    let s = setup(ProviderId::Azure, None, |base| {
        format!(r#"{{"endpoint":"{base}/","apiKey":"{KEY}","deploymentName":"gpt4o-prod","apiVersion":"v1"}}"#)
    })
    .await;
    s.mock.on(
        "POST",
        "/openai/v1/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    s.provider
        .chat(&request(req(false)), &s.credential)
        .await
        .unwrap();
    let sent = s.mock.last_request().unwrap();
    assert_eq!(sent.target, "/openai/v1/chat/completions");
    assert_eq!(
        sent_json(&s)["model"],
        "gpt4o-prod",
        "v1 selects the deployment by model"
    );
    s.mock.on(
        "GET",
        "/openai/v1/models",
        Reply::json(200, fixture("openai/models.json")),
    );
    assert_eq!(
        s.provider.list_models(&s.credential).await.unwrap().len(),
        2
    );
}

/// Azure Responses: the model is a deployment name, which says nothing of
/// reasoning, so encrypted reasoning is asked for when the request asks for
/// reasoning, and the reasoning items of an earlier turn go back (issue #15).
#[tokio::test]
async fn azure_responses_reasoning_round_trip() {
    let s = setup(ProviderId::AzureResponses, None, |base| {
        format!(r#"{{"endpoint":"{base}","apiKey":"{KEY}","apiVersion":"v1"}}"#)
    })
    .await;
    let fixture = |name: &str| {
        let path = format!(
            "{}/tests/fixtures/responses/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap()
    };
    s.mock.on(
        "POST",
        "/openai/v1/responses",
        Reply::sse(&fixture("two_turn_1.sse")),
    );
    let user = json!({"role": "user", "content": "Weather in Paris?"});
    let plain = json!({"model": "my-deployment", "stream": true, "messages": [user]});
    let (_, _, _, err) = collect(&s, &request(plain.clone())).await;
    assert!(err.is_none(), "{err:?}");
    assert!(
        sent_json(&s).get("include").is_none(),
        "nothing says it reasons"
    );
    let mut asked = plain;
    asked["reasoning_effort"] = json!("low");
    let (t, chunks, _, err) = collect(&s, &request(asked)).await;
    assert!(err.is_none(), "{err:?}");
    let body = sent_json(&s);
    assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(
        body["reasoning"],
        json!({"effort": "low", "summary": "auto"})
    );
    assert_eq!(body["store"], false);
    let details: Vec<serde_json::Value> = chunks
        .iter()
        .flat_map(|c| c.choices.iter())
        .flat_map(|c| c.delta.reasoning_details.iter().flatten().cloned())
        .collect();
    assert_eq!(details.len(), 2);
    let call = &t.tool_calls[0];
    let turn2 = json!({"model": "my-deployment", "stream": true, "messages": [
        user,
        {"role": "assistant", "content": null, "reasoning_content": t.reasoning, "reasoning_details": details,
         "tool_calls": [{"id": call.id, "type": "function", "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "18C"}
    ]});
    s.mock.on(
        "POST",
        "/openai/v1/responses",
        Reply::sse(&fixture("two_turn_2.sse")),
    );
    let (t2, _, _, err) = collect(&s, &request(turn2)).await;
    assert!(err.is_none(), "{err:?}");
    assert!(t2.content.starts_with("It is 18°C"));
    let body = sent_json(&s);
    assert_eq!(body["input"][1]["type"], "reasoning");
    assert_eq!(
        body["input"][1]["encrypted_content"],
        "gAAAAABowQDzTURN1-ENCRYPTED-REASONING-Qk9PTEVBTg=="
    );
    assert_eq!(body["input"][2]["type"], "function_call");
    assert_eq!(
        body["include"],
        json!(["reasoning.encrypted_content"]),
        "replayed reasoning means a reasoning deployment"
    );
}
