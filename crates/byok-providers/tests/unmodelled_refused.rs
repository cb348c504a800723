//! What only the OpenAI dialect can send upstream as it came (content parts
//! other than text and images, non-function tools, `tool_choice` shapes
//! other than a mode or a named function) is refused with a 400 naming it by
//! every other translator, before anything is sent (issue #15).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use byok_providers::{ProviderError, ProviderId};
use common::*;
use serde_json::{Value, json};

async fn providers() -> Vec<(ProviderId, Setup)> {
    vec![
        (
            ProviderId::Anthropic,
            setup(ProviderId::Anthropic, Some(""), |_| "sk-ant-test-0123456789".to_owned()).await,
        ),
        (
            ProviderId::OpenAiResponses,
            setup(ProviderId::OpenAiResponses, Some("/v1"), |_| "sk-test-0123456789".to_owned()).await,
        ),
        (
            ProviderId::Google,
            setup(ProviderId::Google, Some(""), |_| "AIzaSyTEST-0123456789abcdefghij".to_owned()).await,
        ),
        (
            ProviderId::Aws,
            setup(ProviderId::Aws, Some(""), |_| {
                r#"{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","region":"eu-central-1"}"#.to_owned()
            })
            .await,
        ),
    ]
}

fn with(patch: Value) -> byok_providers::ChatRequest {
    let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    for (k, x) in patch.as_object().unwrap() {
        v[k] = x.clone();
    }
    request(v)
}

#[tokio::test]
async fn shapes_only_the_openai_dialect_can_send_are_refused_by_name() {
    let cases = [
        (
            with(json!({"messages": [{"role": "user", "content": [
                {"type": "text", "text": "read this"},
                {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}]}]})),
            "`file` content parts",
        ),
        (
            with(json!({"messages": [{"role": "user", "content": [
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}]})),
            "`input_audio` content parts",
        ),
        (
            with(json!({"tools": [{"type": "custom", "custom": {"name": "code_exec"}}]})),
            "`custom` tools",
        ),
        (
            with(json!({
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "f"}}]}}
            })),
            "`tool_choice` of type `allowed_tools`",
        ),
    ];
    for (id, s) in providers().await {
        for (req, what) in &cases {
            if what.contains("`file`") {
                // Every translator reads PDF `file` parts now (Anthropic
                // and Bedrock `document`, Gemini `inlineData`, Responses
                // `input_file`: each translator's tests).
                continue;
            }
            if id == ProviderId::Google
                && (what.contains("`file`") || what.contains("`input_audio`"))
            {
                continue; // sent as `inlineData` (translator_google.rs)
            }
            for stream in [false, true] {
                let err = if stream {
                    s.provider.chat_stream(req, &s.credential).await.err()
                } else {
                    s.provider.chat(req, &s.credential).await.err()
                };
                let Some(ProviderError::Unsupported { what: got, .. }) = err else {
                    panic!("{id:?} {what}: {err:?}")
                };
                assert_eq!(&got, what, "{id:?}");
            }
        }
        assert!(s.mock.requests().is_empty(), "{id:?}: nothing was sent");
    }
}

#[tokio::test]
async fn cache_control_on_a_text_part_does_not_stop_other_translators() {
    // Unknown keys inside known parts are kept for the OpenAI dialect and
    // ignored (as before) by the others.
    let req = with(json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]}));
    for (id, s) in providers().await {
        let err = s.provider.chat(&req, &s.credential).await.err();
        assert!(
            !matches!(
                err,
                Some(ProviderError::Unsupported { .. } | ProviderError::InvalidRequest { .. })
            ),
            "{id:?}: {err:?}"
        );
        // It went upstream, with the part's text.
        let sent = s.mock.requests();
        assert_eq!(sent.len(), 1, "{id:?}: one request upstream");
        assert!(
            String::from_utf8_lossy(&sent[0].body).contains("\"hi\""),
            "{id:?}: the text part was sent"
        );
    }
}
