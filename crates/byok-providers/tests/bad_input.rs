//! Bad input from upstreams and callers: bounded memory, clean errors,
//! cancellation, and nothing sent when a request tries to pick its upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use byok_providers::{
    ChatProvider, ChatRequest, Credential, EndpointPolicy, Limits, ProviderConfig, ProviderError,
    ProviderId, Registry, RouteError, Timeouts, Transcript, resolve, upstream_client,
};
use byok_testkit::{Body, MockUpstream, Piece, Reply, fixture};
use bytes::Bytes;
use futures_util::StreamExt as _;
use secrecy::SecretString;

async fn groq(
    mock: &MockUpstream,
    limits: Limits,
) -> (std::sync::Arc<dyn ChatProvider>, Credential) {
    let config = ProviderConfig::default()
        .with_base_url(ProviderId::Groq, format!("{}/openai/v1", mock.base_url()))
        .with_timeouts(Timeouts::uniform(Duration::from_secs(10)))
        .with_limits(limits);
    let registry = Registry::new(
        upstream_client(&config.timeouts, config.endpoint_policy).unwrap(),
        config,
    );
    let cred = Credential::parse(
        ProviderId::Groq,
        &SecretString::from("gsk_test_0123456789abcdef"),
        EndpointPolicy::default(),
    )
    .unwrap();
    (std::sync::Arc::clone(registry.get(ProviderId::Groq)), cred)
}

fn req(stream: bool) -> ChatRequest {
    serde_json::from_str(&format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"stream":{stream}}}"#
    ))
    .unwrap()
}

const PATH: &str = "/openai/v1/chat/completions";

#[tokio::test]
async fn sse_split_at_every_byte_boundary_over_tcp() {
    let mock = MockUpstream::start().await;
    let (p, cred) = groq(&mock, Limits::default()).await;
    for fixture_name in [
        "openai/stream_tool_call.sse",
        "openai/stream_openrouter.sse",
    ] {
        mock.on(
            "POST",
            PATH,
            Reply::sse_in_pieces_of(&fixture(fixture_name), 1),
        );
        let mut s = p.chat_stream(&req(true), &cred).await.unwrap();
        let mut t = Transcript::default();
        while let Some(c) = s.next().await {
            t.push(c.unwrap().chunk());
        }
        assert!(s.usage().reported().is_some(), "{fixture_name}");
        if fixture_name.contains("tool") {
            assert_eq!(
                t.tool_calls[0].function.arguments,
                r#"{"location":"Paris, France","unit":"celsius"}"#
            );
        } else {
            assert_eq!(t.content, "Hello! How can I help you today?");
        }
    }
}

#[tokio::test]
async fn a_50_mb_body_is_refused_without_buffering_it() {
    let mock = MockUpstream::start().await;
    let (p, cred) = groq(&mock, Limits::default()).await;
    // With Content-Length: refused before reading.
    mock.on(
        "POST",
        PATH,
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::Repeat {
                piece: Bytes::from(vec![b' '; 1 << 20]),
                count: 50,
            },
        },
    );
    let err = p.chat(&req(false), &cred).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::TooLarge {
            provider: ProviderId::Groq,
            limit: 32 << 20
        }
    );
    // Chunked, no length: refused once the limit is crossed.
    let pieces = (0..50)
        .map(|_| Piece {
            delay: Duration::ZERO,
            bytes: Bytes::from(vec![b' '; 1 << 20]),
        })
        .collect();
    mock.on(
        "POST",
        PATH,
        Reply {
            status: 200,
            headers: vec![],
            body: Body::Pieces(pieces),
        },
    );
    let err = p.chat(&req(false), &cred).await.unwrap_err();
    assert!(matches!(err, ProviderError::TooLarge { .. }), "{err:?}");
    // A 50 MB SSE "event" without a line end: refused at the event limit.
    let pieces = std::iter::once(Piece {
        delay: Duration::ZERO,
        bytes: Bytes::from_static(b"data: "),
    })
    .chain((0..50).map(|_| Piece {
        delay: Duration::ZERO,
        bytes: Bytes::from(vec![b'x'; 1 << 20]),
    }))
    .collect();
    mock.on(
        "POST",
        PATH,
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body: Body::Pieces(pieces),
        },
    );
    let mut s = p.chat_stream(&req(true), &cred).await.unwrap();
    let first = s.next().await.unwrap();
    assert!(
        matches!(first, Err(ProviderError::Malformed { ref what, .. }) if what.contains("exceeded")),
        "{first:?}"
    );
    assert!(s.next().await.is_none());
}

#[tokio::test]
async fn dropping_the_stream_stops_the_upstream_request() {
    let mock = MockUpstream::start().await;
    let (p, cred) = groq(&mock, Limits::default()).await;
    let text = fixture("openai/stream_text.sse").repeat(20);
    mock.on(
        "POST",
        PATH,
        Reply::sse_with_delay(&text, Duration::from_millis(20)),
    );
    let mut s = p.chat_stream(&req(true), &cred).await.unwrap();
    s.next().await.unwrap().unwrap();
    s.next().await.unwrap().unwrap();
    drop(s);
    // The mock's next write fails once the client has closed the connection.
    for _ in 0..200 {
        if mock.aborted_streams() == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the upstream stream kept going after the client dropped it");
}

#[tokio::test]
async fn requests_that_pick_an_upstream_are_refused_before_sending() {
    let mock = MockUpstream::start().await;
    let (p, cred) = groq(&mock, Limits::default()).await;
    for field in ["api_base", "base_url", "azure_endpoint", "extra_headers"] {
        let r: ChatRequest = serde_json::from_str(&format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"{field}":"http://169.254.169.254/"}}"#
        ))
        .unwrap();
        let err = p.chat(&r, &cred).await.unwrap_err();
        assert!(
            matches!(err, ProviderError::InvalidRequest { ref param, .. } if param.as_deref() == Some(field))
        );
        assert!(p.chat_stream(&r, &cred).await.is_err());
    }
    assert!(mock.requests().is_empty(), "nothing may be sent");
    let empty: ChatRequest = serde_json::from_str(r#"{"model":"m","messages":[]}"#).unwrap();
    assert!(matches!(
        p.chat(&empty, &cred).await,
        Err(ProviderError::InvalidRequest { .. })
    ));
}

#[tokio::test]
async fn wrong_credential_kind_is_refused() {
    let mock = MockUpstream::start().await;
    let (p, _) = groq(&mock, Limits::default()).await;
    let aws = Credential::parse(
        ProviderId::Aws,
        &SecretString::from(r#"{"accessKeyId":"AKIAX","secretAccessKey":"abcdefghijklmnopqrstuvwxyz","region":"us-east-1"}"#),
        EndpointPolicy::default(),
    )
    .unwrap();
    assert!(matches!(
        p.chat(&req(false), &aws).await,
        Err(ProviderError::Credential(_))
    ));
    assert!(mock.requests().is_empty());
}

#[test]
fn unknown_model_and_unheld_provider() {
    assert!(matches!(
        resolve(
            "mystery-model",
            None,
            &[ProviderId::Groq, ProviderId::Cerebras]
        ),
        Err(RouteError::UnknownModel(_))
    ));
    let e = resolve("gpt-4o", Some("anthropic"), &[ProviderId::OpenAi]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "model `gpt-4o` needs a credential for anthropic; add one with PUT /api/byok/credentials/{provider}"
    );
    assert!(matches!(
        resolve("gpt-4o", None, &[]),
        Err(RouteError::MissingCredential { .. })
    ));
}

#[tokio::test]
async fn host_names_resolving_to_private_addresses_are_refused_by_the_shared_client() {
    let mock = MockUpstream::start().await;
    mock.on(
        "POST",
        PATH,
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    let port = mock.addr().port();
    let cred = Credential::parse(
        ProviderId::Groq,
        &SecretString::from("gsk_test_0123456789abcdef"),
        EndpointPolicy::default(),
    )
    .unwrap();
    for (allow_insecure, ok) in [(false, false), (true, true)] {
        let policy = EndpointPolicy { allow_insecure };
        let mut config = ProviderConfig::default().with_base_url(
            ProviderId::Groq,
            format!("http://localhost:{port}/openai/v1"),
        );
        config.endpoint_policy = policy;
        let registry = Registry::new(upstream_client(&config.timeouts, policy).unwrap(), config);
        let result = registry
            .get(ProviderId::Groq)
            .chat(&req(false), &cred)
            .await;
        assert_eq!(
            result.is_ok(),
            ok,
            "allow_insecure={allow_insecure}: {result:?}"
        );
        if !ok {
            assert!(matches!(result, Err(ProviderError::Connection { .. })));
        }
    }
    assert_eq!(
        mock.requests().len(),
        1,
        "only the insecure-allowed client reached the mock"
    );
}
