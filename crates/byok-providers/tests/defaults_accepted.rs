//! Fields holding `null`, `false` or their OpenAI default cannot change the
//! answer: every translator accepts them and sends upstream nothing of them
//! the provider would refuse; a non-default value a provider cannot express
//! is still a 400 naming the field (issue #15 item 7).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use byok_providers::{ProviderError, ProviderId};
use byok_testkit::{Reply, fixture};
use common::*;
use serde_json::{Value, json};

const BEDROCK_MODEL: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";

/// A translator under test, its mock answering a plain text reply.
struct Case {
    id: ProviderId,
    s: Setup,
    model: &'static str,
}

async fn cases() -> Vec<Case> {
    let aws = r#"{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","region":"eu-central-1"}"#;
    let all = [
        (
            ProviderId::Anthropic,
            "",
            "sk-ant-test-0123456789",
            "claude-sonnet-4-5",
            "/v1/messages",
            "anthropic/message_text.json",
        ),
        (
            ProviderId::OpenAiResponses,
            "/v1",
            "sk-test-0123456789",
            "gpt-4.1",
            "/v1/responses",
            "responses/response_text.json",
        ),
        (
            ProviderId::Google,
            "",
            "AIzaSyTEST-0123456789abcdefghij",
            "gemini-2.5-flash",
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "google/generate_text.json",
        ),
        (
            ProviderId::Aws,
            "",
            aws,
            BEDROCK_MODEL,
            "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse",
            "bedrock/converse_text.json",
        ),
    ];
    let mut out = Vec::new();
    for (id, base, key, model, path, answer) in all {
        let s = setup(id, Some(base), |_| key.to_owned()).await;
        s.mock.on("POST", path, Reply::json(200, fixture(answer)));
        out.push(Case { id, s, model });
    }
    out
}

/// A one-message request for `model` with `patch` merged in.
fn with(model: &str, patch: &Value) -> byok_providers::ChatRequest {
    let mut v = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    for (k, x) in patch.as_object().unwrap() {
        v[k] = x.clone();
    }
    request(v)
}

/// Every default-valued field of issue #15 item 7, in several spellings.
/// OpenRouter's `reasoning` (off, or only hidden) is added for the
/// translators that do not pass `reasoning` through as their own parameter
/// (the Responses API has its own `reasoning`).
fn defaults(id: ProviderId) -> Vec<Value> {
    let first = json!({
        "n": 1, "logprobs": false, "top_logprobs": null,
        "presence_penalty": 0, "frequency_penalty": 0,
        "parallel_tool_calls": true, "stream_options": {"include_usage": true},
        "service_tier": "auto", "store": false, "user": "u-1",
        "metadata": {"k": "v"}
    });
    let second = json!({
        "n": null, "logprobs": null, "top_logprobs": 0,
        "presence_penalty": 0.0, "frequency_penalty": 0.0,
        "parallel_tool_calls": null, "stream_options": null,
        "service_tier": "default", "store": null, "user": "u-2",
        "metadata": {}
    });
    if id == ProviderId::OpenAiResponses {
        return vec![first, second];
    }
    let mut out = Vec::new();
    for reasoning in [
        json!(null),
        json!({"enabled": false}),
        json!({"exclude": true}),
    ] {
        for base in [&first, &second] {
            let mut v = base.clone();
            v["reasoning"] = reasoning.clone();
            out.push(v);
        }
    }
    out
}

/// Top-level keys the provider would refuse (or that would mean something
/// else there), which must not appear in the translated body.
fn refused_upstream(id: ProviderId) -> Vec<&'static str> {
    let mut keys = vec![
        "n",
        "logprobs",
        "top_logprobs",
        "presence_penalty",
        "frequency_penalty",
        "stream_options",
        "service_tier",
    ];
    if id != ProviderId::OpenAiResponses {
        keys.extend(["store", "user", "parallel_tool_calls", "reasoning"]);
    }
    if id != ProviderId::OpenAiResponses && id != ProviderId::Anthropic {
        keys.push("metadata");
    }
    keys
}

#[tokio::test]
async fn default_values_are_accepted_and_not_sent() {
    for c in cases().await {
        for patch in defaults(c.id) {
            let req = with(c.model, &patch);
            let got = c.s.provider.chat(&req, &c.s.credential).await;
            assert!(got.is_ok(), "{:?} {patch}: {:?}", c.id, got.err());
            let body = sent_json(&c.s);
            for key in refused_upstream(c.id) {
                assert!(body.get(key).is_none(), "{:?} sent `{key}`: {body}", c.id);
            }
            match c.id {
                ProviderId::Anthropic => {
                    let user = patch["user"].clone();
                    assert_eq!(body["metadata"], json!({"user_id": user}), "{body}");
                }
                ProviderId::OpenAiResponses => {
                    assert_eq!(body["store"], false);
                    assert_eq!(body["user"], patch["user"]);
                    assert_eq!(body["metadata"], patch["metadata"]);
                }
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn values_that_would_change_the_answer_are_still_refused_by_name() {
    let refused = [
        (json!({"n": 2}), "`n` other than 1"),
        (json!({"logprobs": true}), "the `logprobs` parameter"),
        (
            json!({"logprobs": true, "top_logprobs": 0}),
            "the `logprobs` parameter",
        ),
        (json!({"top_logprobs": 3}), "the `top_logprobs` parameter"),
    ];
    for c in cases().await {
        for (patch, what) in &refused {
            let req = with(c.model, patch);
            for stream in [false, true] {
                let err = if stream {
                    c.s.provider.chat_stream(&req, &c.s.credential).await.err()
                } else {
                    c.s.provider.chat(&req, &c.s.credential).await.err()
                };
                let Some(ProviderError::Unsupported { what: got, .. }) = err else {
                    panic!("{:?} {patch}: {err:?}", c.id)
                };
                assert_eq!(&got, what, "{:?}", c.id);
            }
        }
        assert!(c.s.mock.requests().is_empty(), "{:?}: nothing sent", c.id);
    }
}

#[tokio::test]
async fn openrouter_reasoning_that_asks_for_reasoning_is_mapped_by_every_translator() {
    // `reasoning: {effort}` / `{max_tokens}` becomes each translator's own
    // control (the mapping itself is pinned in each translator's tests):
    // accepted, and what goes upstream differs from the request without it.
    for c in cases().await {
        c.s.provider
            .chat(&with(c.model, &json!({})), &c.s.credential)
            .await
            .unwrap();
        let plain = sent_json(&c.s);
        for r in [json!({"effort": "high"}), json!({"max_tokens": 2000})] {
            let req = with(c.model, &json!({ "reasoning": r }));
            c.s.provider
                .chat(&req, &c.s.credential)
                .await
                .unwrap_or_else(|e| panic!("{:?} {r}: {e:?}", c.id));
            assert_ne!(
                sent_json(&c.s),
                plain,
                "{:?} {r}: nothing changed upstream",
                c.id
            );
        }
    }
}
