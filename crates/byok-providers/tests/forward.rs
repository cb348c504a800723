//! Pass-through (`ChatProvider::forward`) against the mock: the body and
//! the protocol headers go upstream unchanged with the key added, the
//! answer comes back as sent, streamed; errors are sanitised; Bedrock
//! forwards only whole signed calls.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use byok_providers::{Forward, ForwardBody, ProviderError, ProviderId};
use byok_testkit::{Reply, fixture};
use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::header::{HeaderName, HeaderValue};

const KEY: &str = "sk-ant-forward-test-0001";

async fn body_of(f: byok_providers::Forwarded) -> Vec<u8> {
    let mut out = Vec::new();
    let mut body = f.body;
    while let Some(piece) = body.next().await {
        out.extend_from_slice(&piece.unwrap());
    }
    out
}

#[tokio::test]
async fn an_anthropic_body_goes_up_and_comes_back_unchanged() {
    let s = common::setup(ProviderId::Anthropic, Some(""), |_| KEY.to_owned()).await;
    let answer = fixture("anthropic/stream_text.sse");
    s.mock.on("POST", "/v1/messages", Reply::sse(&answer));
    let sent = br#"{"model":"claude-sonnet-4-5","max_tokens":5,"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}]}"#;
    let headers = [
        (
            HeaderName::from_static("anthropic-beta"),
            HeaderValue::from_static("interleaved-thinking-2025-05-14"),
        ),
        (
            HeaderName::from_static("x-api-key"),
            HeaderValue::from_static("the-gateway-key-must-not-pass"),
        ),
    ];
    let forwarded = s
        .provider
        .forward(
            Forward {
                op: "messages",
                body: Bytes::from_static(sent).into(),
                headers: &headers,
                stream: true,
            },
            &s.credential,
        )
        .await
        .unwrap();
    assert_eq!(body_of(forwarded).await, answer.as_bytes());
    let request = s.mock.last_request().unwrap();
    assert_eq!(&request.body[..], &sent[..]);
    assert_eq!(request.header("x-api-key"), Some(KEY));
    assert_eq!(
        request.header("anthropic-beta"),
        Some("interleaved-thinking-2025-05-14")
    );
    assert!(request.header("anthropic-version").is_none());
}

#[tokio::test]
async fn an_upstream_error_is_sanitised() {
    let s = common::setup(ProviderId::Anthropic, Some(""), |_| KEY.to_owned()).await;
    let body = format!(
        r#"{{"type":"error","error":{{"type":"authentication_error","message":"invalid x-api-key {KEY}"}}}}"#
    );
    s.mock.on("POST", "/v1/messages", Reply::json(401, body));
    let e = s
        .provider
        .forward(
            Forward {
                op: "messages",
                body: Bytes::from_static(b"{}").into(),
                headers: &[],
                stream: false,
            },
            &s.credential,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProviderError::Upstream { status: 401, .. }),
        "{e:?}"
    );
    assert!(!format!("{e:?}{e}").contains(KEY));
}

/// Bedrock signs each body: only whole `InvokeModel` calls are forwarded
/// (signed, see `translator_bedrock.rs`); a stream or protocol headers are
/// refused before anything is sent.
#[tokio::test]
async fn bedrock_forwards_only_whole_signed_calls() {
    let s = common::setup(ProviderId::Aws, Some(""), |_| {
        r#"{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","region":"us-east-1"}"#.to_owned()
    })
    .await;
    let headers = [(
        HeaderName::from_static("anthropic-version"),
        HeaderValue::from_static("2023-06-01"),
    )];
    for (stream, headers) in [(true, &[][..]), (false, &headers[..])] {
        let e = s
            .provider
            .forward(
                Forward {
                    op: "model/m/invoke",
                    body: Bytes::from_static(b"{}").into(),
                    headers,
                    stream,
                },
                &s.credential,
            )
            .await
            .unwrap_err();
        assert!(matches!(e, ProviderError::Unsupported { .. }), "{e:?}");
    }
    assert!(s.mock.requests().is_empty());
}

/// A batch of calls goes only to a provider that signs each call; to any
/// other it is refused before anything is sent.
#[tokio::test]
async fn a_batch_needs_a_signing_provider() {
    let s = common::setup(ProviderId::Anthropic, Some(""), |_| KEY.to_owned()).await;
    let e = s
        .provider
        .forward(
            Forward {
                op: "messages",
                body: ForwardBody::Batch(vec![Bytes::from_static(b"{}"); 2]),
                headers: &[],
                stream: false,
            },
            &s.credential,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Unsupported { .. }), "{e:?}");
    assert!(s.mock.requests().is_empty());
}
