#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Duration;

use byok_providers::{
    ChatChunk, ChatProvider, ChatRequest, ChatResponse, Credential, EndpointPolicy, FinishReason,
    ProviderConfig, ProviderError, ProviderId, Registry, Timeouts, Transcript, UsageReport,
    upstream_client,
};
use byok_testkit::MockUpstream;
use futures_util::StreamExt as _;
use secrecy::SecretString;
use serde_json::{Map, Value, json};

pub const LAB: EndpointPolicy = EndpointPolicy {
    allow_insecure: true,
};

pub struct Setup {
    pub mock: MockUpstream,
    pub provider: Arc<dyn ChatProvider>,
    pub credential: Credential,
}

/// A provider pointed at a fresh mock: `base` is appended to the mock's URL
/// for the base-URL override (None: no override, the credential decides).
pub async fn setup(
    id: ProviderId,
    base: Option<&str>,
    credential: impl FnOnce(&str) -> String,
) -> Setup {
    let mock = MockUpstream::start().await;
    let mut config =
        ProviderConfig::default().with_timeouts(Timeouts::uniform(Duration::from_secs(5)));
    if let Some(b) = base {
        config = config.with_base_url(id, format!("{}{b}", mock.base_url()));
    }
    config.endpoint_policy = LAB;
    let registry = Registry::new(upstream_client(&config.timeouts, LAB).unwrap(), config);
    let raw = credential(&mock.base_url());
    let credential = Credential::parse(id, &SecretString::from(raw), LAB).unwrap();
    Setup {
        provider: Arc::clone(registry.get(id)),
        credential,
        mock,
    }
}

pub fn request(v: Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

pub async fn collect(
    s: &Setup,
    req: &ChatRequest,
) -> (
    Transcript,
    Vec<ChatChunk>,
    UsageReport,
    Option<ProviderError>,
) {
    let mut stream = s.provider.chat_stream(req, &s.credential).await.unwrap();
    let mut t = Transcript::default();
    let mut chunks = Vec::new();
    let mut error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(item) => {
                let c = item.into_chunk();
                t.push(&c);
                chunks.push(c);
            }
            Err(e) => error = Some(e),
        }
    }
    (t, chunks, stream.usage(), error)
}

pub fn sent_json(s: &Setup) -> Value {
    serde_json::from_slice(&s.mock.last_request().unwrap().body).unwrap()
}

/// Asserts a streamed answer equals the non-streamed one: content, reasoning,
/// tool calls (arguments compared as JSON), finish reason, usage.
pub fn assert_equivalent(
    stream: &Transcript,
    stream_usage: &UsageReport,
    full: &ChatResponse,
    full_usage: &UsageReport,
) {
    let msg = &full.choices[0].message;
    assert_eq!(
        stream.content,
        msg.content.clone().unwrap_or_default(),
        "content"
    );
    assert_eq!(
        stream.reasoning,
        msg.reasoning_content.clone().unwrap_or_default(),
        "reasoning"
    );
    let calls = msg.tool_calls.clone().unwrap_or_default();
    assert_eq!(stream.tool_calls.len(), calls.len(), "tool call count");
    for (a, b) in stream.tool_calls.iter().zip(&calls) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.function.name, b.function.name);
        let pa: Value = serde_json::from_str(&a.function.arguments)
            .unwrap_or_else(|e| panic!("streamed args {:?}: {e}", a.function.arguments));
        let pb: Value = serde_json::from_str(&b.function.arguments).unwrap();
        assert_eq!(pa, pb, "arguments");
    }
    assert_eq!(
        stream.finish_reason, full.choices[0].finish_reason,
        "finish reason"
    );
    assert_eq!(stream_usage, full_usage, "usage");
}

pub fn finish(r: &ChatResponse) -> Option<FinishReason> {
    r.choices[0].finish_reason
}

/// A stream put back together as a client does, in the shape of
/// [`choice_of`] a whole answer: the first choice's message (the
/// [`Transcript`]'s content, reasoning and calls; the refusal; the
/// `reasoning_details` entries and `annotations` appended as streamed,
/// pieces of one index kept apart: what a client echoes), its finish reason
/// and native finish reason.
pub fn reassembled(t: &Transcript, chunks: &[ChatChunk]) -> Value {
    let mut refusal = String::new();
    let (mut details, mut annotations) = (Vec::new(), Vec::new());
    let mut native = Value::Null;
    for c in chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter(|c| c.index == 0)
    {
        let d = &c.delta;
        refusal.push_str(d.refusal.as_deref().unwrap_or(""));
        details.extend(d.reasoning_details.iter().flatten().cloned());
        if let Some(Value::Array(a)) = d.extra.get("annotations") {
            annotations.extend(a.iter().cloned());
        }
        if c.finish_reason.is_some() {
            native = c
                .extra
                .get("native_finish_reason")
                .cloned()
                .unwrap_or(Value::Null);
        }
    }
    let has_calls = !t.tool_calls.is_empty();
    let mut m = Map::new();
    m.insert("role".into(), json!("assistant"));
    let content = if t.content.is_empty() && has_calls {
        Value::Null
    } else {
        json!(t.content)
    };
    m.insert("content".into(), content);
    for (key, value, present) in [
        ("tool_calls", json!(t.tool_calls), has_calls),
        ("refusal", json!(refusal), !refusal.is_empty()),
        (
            "reasoning_content",
            json!(t.reasoning),
            !t.reasoning.is_empty(),
        ),
        ("reasoning_details", json!(details), !details.is_empty()),
        ("annotations", json!(annotations), !annotations.is_empty()),
    ] {
        if present {
            m.insert(key.into(), value);
        }
    }
    json!({"message": m, "finish_reason": t.finish_reason, "native_finish_reason": native})
}

/// A whole answer's first choice: its message, finish reason and native
/// finish reason.
pub fn choice_of(r: &ChatResponse) -> Value {
    let c = &r.choices[0];
    json!({
        "message": c.message,
        "finish_reason": c.finish_reason,
        "native_finish_reason": c.extra.get("native_finish_reason").cloned().unwrap_or(Value::Null),
    })
}
