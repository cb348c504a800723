//! The OpenAI chat-completions dialect, for every provider that speaks it.
//!
//! One adapter, parameterised by the provider's row in [`crate::PROVIDERS`]
//! (base URL and [`Quirks`]). What it does beyond relaying:
//!
//! - When streaming it always asks upstream for usage
//!   (`stream_options.include_usage`, unless the provider's quirks say it
//!   refuses the field), takes usage from whichever chunk carries it (`usage`
//!   or Groq's `x_groq.usage`), and gives the client one OpenAI-shaped usage
//!   chunk (`choices: []`) before `[DONE]` only if the client asked for it.
//! - Chunks pass through as they arrive, one SSE event at a time, with at
//!   most one event buffered ([`crate::Limits::max_event_bytes`]).
//! - SSE comment lines are skipped; chunks with empty `choices` and no usage
//!   (Azure's `prompt_filter_results`) are dropped; an `error` object in a
//!   chunk (OpenRouter) ends the stream with [`ProviderError::MidStream`]; a
//!   stream that ends without `[DONE]` is [`ProviderError::StreamTruncated`].
//! - `max_completion_tokens` becomes `max_tokens` for providers that prefer it.
//! - Unknown request fields ([`ChatRequest::extra`]) are passed through.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::credential::Credential;
use crate::error::{CredentialError, ProviderError, TimeoutPhase, UpstreamErrorKind, sanitize};
use crate::id::{ProviderId, Quirks};
use crate::provider::{Capabilities, ChatOutcome, ChatProvider, ProviderConfig};
use crate::sse::{SseDecoder, SseEvent};
use crate::stream::{ChatStream, StreamEvent, UsageReport};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, ChunkChoice, Message, ModelInfo, ResponseFormat, Stop,
    StreamOptions, Tool, ToolChoice, Usage,
};

/// An OpenAI-dialect provider.
pub struct OpenAiCompatible {
    id: ProviderId,
    base: String,
    quirks: Quirks,
    client: reqwest::Client,
    config: Arc<ProviderConfig>,
}

impl std::fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("id", &self.id)
            .field("quirks", &self.quirks)
            .finish_non_exhaustive()
    }
}

/// The request as sent upstream, borrowing from the neutral request.
#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a Stop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a [Tool]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'a ToolChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a ResponseFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

/// Encodes the upstream request body for `quirks`. `stream` forces the
/// streaming form (with usage requested when the provider accepts it).
///
/// # Errors
/// Serialisation failure (not expected for valid requests).
pub fn encode_request(
    request: &ChatRequest,
    quirks: Quirks,
    stream: bool,
) -> Result<Vec<u8>, ProviderError> {
    let (max_tokens, max_completion_tokens) = if quirks.prefers_max_tokens {
        (request.max_completion_tokens.or(request.max_tokens), None)
    } else {
        (request.max_tokens, request.max_completion_tokens)
    };
    let wire = WireRequest {
        model: &request.model,
        messages: &request.messages,
        stream: stream.then_some(true),
        stream_options: (stream && quirks.stream_options).then_some(StreamOptions {
            include_usage: Some(true),
        }),
        max_tokens,
        max_completion_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        n: request.n,
        stop: request.stop.as_ref(),
        seed: request.seed,
        user: request.user.as_deref(),
        presence_penalty: request.presence_penalty,
        frequency_penalty: request.frequency_penalty,
        tools: request.tools.as_deref(),
        tool_choice: request.tool_choice.as_ref(),
        parallel_tool_calls: request.parallel_tool_calls,
        response_format: request.response_format.as_ref(),
        reasoning_effort: request.reasoning_effort.as_deref(),
        extra: &request.extra,
    };
    let mut body = Vec::with_capacity(512);
    serde_json::to_writer(&mut body, &wire)
        .map_err(|e| ProviderError::invalid(format!("cannot encode request: {e}"), None))?;
    Ok(body)
}

/// A chunk as OpenAI-dialect providers send it, with the extras some add.
#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    id: String,
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    system_fingerprint: Option<String>,
    #[serde(default)]
    x_groq: Option<XGroq>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct XGroq {
    #[serde(default)]
    usage: Option<Usage>,
}

/// What one upstream SSE event means.
#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // short-lived, moved once; boxing would add an allocation per chunk
pub enum Translated {
    /// A chunk to forward (possibly with usage stripped), plus usage seen.
    Chunk(Option<ChatChunk>, Option<Usage>),
    /// `[DONE]`.
    Done,
}

/// Translates one upstream SSE data payload.
///
/// # Errors
/// [`ProviderError::Malformed`] or [`ProviderError::MidStream`].
pub fn translate_event(
    provider: ProviderId,
    data: &str,
    secret: Option<&str>,
) -> Result<Translated, ProviderError> {
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(Translated::Done);
    }
    let wire: WireChunk = serde_json::from_str(data).map_err(|e| ProviderError::Malformed {
        provider,
        what: format!("stream chunk: {} at column {}", classify(&e), e.column()),
    })?;
    if let Some(err) = wire.error {
        let (message, code) = error_fields(&err, secret);
        return Err(ProviderError::MidStream {
            provider,
            message,
            code,
        });
    }
    let usage = wire.usage.or_else(|| wire.x_groq.and_then(|x| x.usage));
    if wire.choices.is_empty() {
        // Usage-only chunk, or Azure's prompt_filter_results: nothing to forward as is.
        return Ok(Translated::Chunk(None, usage));
    }
    let chunk = ChatChunk {
        id: wire.id,
        object: wire
            .object
            .unwrap_or_else(|| "chat.completion.chunk".to_owned()),
        created: wire.created,
        model: wire.model,
        choices: wire.choices,
        usage: None,
        system_fingerprint: wire.system_fingerprint,
    };
    Ok(Translated::Chunk(Some(chunk), usage))
}

fn classify(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "i/o error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected JSON shape",
        serde_json::error::Category::Eof => "truncated JSON",
    }
}

/// Message and code of an OpenAI-style error object, sanitised.
fn error_fields(err: &Value, secret: Option<&str>) -> (String, Option<String>) {
    let obj = err.get("error").unwrap_or(err);
    let message = match obj {
        Value::String(s) => s.clone(),
        _ => obj
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| err.get("message").and_then(Value::as_str))
            .unwrap_or("no message")
            .to_owned(),
    };
    let code = obj
        .get("code")
        .or_else(|| obj.get("type"))
        .and_then(|c| match c {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|c| {
            c.len() <= 64
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.'))
        })
        .map(|c| sanitize(&c, secret))
        .filter(|c| !c.contains("[redacted]"));
    (sanitize(&message, secret), code)
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64((ms / 1000.0).min(86_400.0)));
    }
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = v.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// Reads a body up to `limit` bytes, with an idle timeout between pieces.
pub(crate) async fn read_body(
    provider: ProviderId,
    response: reqwest::Response,
    limit: usize,
    idle: Duration,
) -> Result<Vec<u8>, ProviderError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ProviderError::TooLarge { provider, limit });
    }
    let mut body = Vec::with_capacity(
        response
            .content_length()
            .map_or(8 << 10, |n| usize::try_from(n).unwrap_or(limit).min(limit)),
    );
    let mut stream = response.bytes_stream();
    loop {
        match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => {
                return Err(ProviderError::Timeout {
                    provider,
                    phase: TimeoutPhase::Body,
                });
            }
            Ok(None) => return Ok(body),
            Ok(Some(Err(e))) => {
                return Err(ProviderError::from_reqwest(
                    provider,
                    &e,
                    TimeoutPhase::Body,
                ));
            }
            Ok(Some(Ok(piece))) => {
                if body.len() + piece.len() > limit {
                    return Err(ProviderError::TooLarge { provider, limit });
                }
                body.extend_from_slice(&piece);
            }
        }
    }
}

/// Turns a non-success upstream response into a sanitised error.
pub(crate) async fn upstream_error(
    provider: ProviderId,
    response: reqwest::Response,
    config: &ProviderConfig,
    secret: Option<&str>,
) -> ProviderError {
    let status = response.status().as_u16();
    let retry = retry_after(response.headers());
    let body = read_body(
        provider,
        response,
        config.limits.max_error_bytes,
        config.timeouts.idle,
    )
    .await
    .unwrap_or_default();
    let (message, code) = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => error_fields(&v, secret),
        Err(_) => (format!("HTTP {status} without a JSON error body"), None),
    };
    ProviderError::Upstream {
        provider,
        status,
        kind: UpstreamErrorKind::from_status(status),
        message,
        code,
        retry_after: retry,
    }
}

impl OpenAiCompatible {
    /// An adapter for `id` at `base` (e.g. `https://api.groq.com/openai/v1`).
    pub fn new(
        id: ProviderId,
        base: String,
        quirks: Quirks,
        client: reqwest::Client,
        config: Arc<ProviderConfig>,
    ) -> Self {
        Self {
            id,
            base: base.trim_end_matches('/').to_owned(),
            quirks,
            client,
            config,
        }
    }

    fn key<'c>(&self, credential: &'c Credential) -> Result<&'c SecretString, ProviderError> {
        match credential {
            Credential::ApiKey(k) => Ok(k),
            _ => Err(CredentialError::WrongProvider.into()),
        }
    }

    fn auth_header(key: &SecretString) -> Result<HeaderValue, ProviderError> {
        // The one place this adapter exposes the key: the auth header, marked sensitive.
        let text = Zeroizing::new(format!("Bearer {}", key.expose_secret()));
        let mut value = HeaderValue::from_str(&text)
            .map_err(|_| CredentialError::BadCharacters("characters not allowed in a header"))?;
        value.set_sensitive(true);
        Ok(value)
    }

    async fn send(
        &self,
        body: Vec<u8>,
        key: &SecretString,
        stream: bool,
    ) -> Result<reqwest::Response, ProviderError> {
        let url = format!("{}/chat/completions", self.base);
        let request = self
            .client
            .post(url)
            .header(AUTHORIZATION, Self::auth_header(key)?)
            .header(CONTENT_TYPE, "application/json")
            .header(
                reqwest::header::ACCEPT,
                if stream {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            )
            .body(body);
        let response =
            match tokio::time::timeout(self.config.timeouts.response, request.send()).await {
                Err(_) => {
                    return Err(ProviderError::Timeout {
                        provider: self.id,
                        phase: TimeoutPhase::Response,
                    });
                }
                Ok(Err(e)) => {
                    return Err(ProviderError::from_reqwest(
                        self.id,
                        &e,
                        TimeoutPhase::Response,
                    ));
                }
                Ok(Ok(r)) => r,
            };
        if !response.status().is_success() {
            return Err(
                upstream_error(self.id, response, &self.config, Some(key.expose_secret())).await,
            );
        }
        Ok(response)
    }
}

struct StreamState {
    provider: ProviderId,
    body: futures_util::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    decoder: SseDecoder,
    events: Vec<SseEvent>,
    pending: VecDeque<Result<StreamEvent, ProviderError>>,
    idle: Duration,
    wants_usage: bool,
    usage: Option<Usage>,
    last: Option<(String, i64, String)>,
    secret: SecretString,
    finished: bool,
}

impl StreamState {
    fn fail(&mut self, e: ProviderError) {
        self.pending.push_back(Err(e));
        self.finished = true;
    }

    fn on_bytes(&mut self, bytes: &[u8]) {
        let mut events = std::mem::take(&mut self.events);
        if let Err(e) = self.decoder.push(bytes, &mut events) {
            self.fail(ProviderError::Malformed {
                provider: self.provider,
                what: e.to_string(),
            });
            return;
        }
        for event in events.drain(..) {
            if self.finished {
                break;
            }
            match translate_event(
                self.provider,
                &event.data,
                Some(self.secret.expose_secret()),
            ) {
                Err(e) => self.fail(e),
                Ok(Translated::Done) => self.on_done(),
                Ok(Translated::Chunk(chunk, usage)) => {
                    if let Some(u) = usage {
                        self.usage = Some(u.clone());
                        self.pending.push_back(Ok(StreamEvent::Usage(u)));
                    }
                    if let Some(c) = chunk {
                        self.last = Some((c.id.clone(), c.created, c.model.clone()));
                        self.pending.push_back(Ok(StreamEvent::Chunk(c)));
                    }
                }
            }
        }
        self.events = events;
    }

    fn on_done(&mut self) {
        if self.wants_usage
            && let Some(usage) = self.usage.clone()
        {
            let (id, created, model) = self.last.clone().unwrap_or_default();
            self.pending.push_back(Ok(StreamEvent::Chunk(ChatChunk {
                id,
                object: "chat.completion.chunk".to_owned(),
                created,
                model,
                choices: Vec::new(),
                usage: Some(usage),
                system_fingerprint: None,
            })));
        }
        self.finished = true;
    }
}

/// Turns an upstream SSE response into neutral stream events.
fn event_stream(
    provider: ProviderId,
    response: reqwest::Response,
    config: &ProviderConfig,
    wants_usage: bool,
    secret: SecretString,
) -> crate::stream::EventStream {
    let state = StreamState {
        provider,
        body: response.bytes_stream().boxed(),
        decoder: SseDecoder::new(config.limits.max_event_bytes),
        events: Vec::with_capacity(4),
        pending: VecDeque::with_capacity(4),
        idle: config.timeouts.idle,
        wants_usage,
        usage: None,
        last: None,
        secret,
        finished: false,
    };
    Box::pin(futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.pending.pop_front() {
                return Some((item, st));
            }
            if st.finished {
                return None;
            }
            match tokio::time::timeout(st.idle, st.body.next()).await {
                Err(_) => st.fail(ProviderError::Timeout {
                    provider: st.provider,
                    phase: TimeoutPhase::Body,
                }),
                Ok(None) => st.fail(ProviderError::StreamTruncated {
                    provider: st.provider,
                }),
                Ok(Some(Err(e))) => {
                    let e = ProviderError::from_reqwest(st.provider, &e, TimeoutPhase::Body);
                    st.fail(e);
                }
                Ok(Some(Ok(bytes))) => st.on_bytes(&bytes),
            }
        }
    }))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ModelList {
    Wrapped { data: Vec<ModelInfo> },
    Bare(Vec<ModelInfo>),
}

#[async_trait]
impl ChatProvider for OpenAiCompatible {
    fn id(&self) -> ProviderId {
        self.id
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            tools: true,
            vision: true,
            json_mode: true,
            streaming_usage: self.quirks.stream_options,
        }
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatOutcome, ProviderError> {
        request.validate()?;
        let key = self.key(credential)?;
        let body = encode_request(request, self.quirks, false)?;
        let response = self.send(body, key, false).await?;
        let bytes = read_body(
            self.id,
            response,
            self.config.limits.max_body_bytes,
            self.config.timeouts.idle,
        )
        .await?;
        let response: ChatResponse =
            serde_json::from_slice(&bytes).map_err(|e| ProviderError::Malformed {
                provider: self.id,
                what: format!(
                    "response body: {} at line {} column {}",
                    classify(&e),
                    e.line(),
                    e.column()
                ),
            })?;
        let usage = match &response.usage {
            Some(u) => UsageReport::Reported(u.clone()),
            None => UsageReport::Missing,
        };
        Ok(ChatOutcome { response, usage })
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatStream, ProviderError> {
        request.validate()?;
        let key = self.key(credential)?;
        let body = encode_request(request, self.quirks, true)?;
        let response = self.send(body, key, true).await?;
        Ok(ChatStream::new(event_stream(
            self.id,
            response,
            &self.config,
            request.wants_stream_usage(),
            key.clone(),
        )))
    }

    async fn list_models(&self, credential: &Credential) -> Result<Vec<ModelInfo>, ProviderError> {
        let key = self.key(credential)?;
        let request = self
            .client
            .get(format!("{}/models", self.base))
            .header(AUTHORIZATION, Self::auth_header(key)?);
        let response =
            match tokio::time::timeout(self.config.timeouts.response, request.send()).await {
                Err(_) => {
                    return Err(ProviderError::Timeout {
                        provider: self.id,
                        phase: TimeoutPhase::Response,
                    });
                }
                Ok(Err(e)) => {
                    return Err(ProviderError::from_reqwest(
                        self.id,
                        &e,
                        TimeoutPhase::Response,
                    ));
                }
                Ok(Ok(r)) => r,
            };
        if !response.status().is_success() {
            return Err(
                upstream_error(self.id, response, &self.config, Some(key.expose_secret())).await,
            );
        }
        let bytes = read_body(
            self.id,
            response,
            self.config.limits.max_body_bytes,
            self.config.timeouts.idle,
        )
        .await?;
        match serde_json::from_slice::<ModelList>(&bytes) {
            Ok(ModelList::Wrapped { data } | ModelList::Bare(data)) => Ok(data),
            Err(e) => Err(ProviderError::Malformed {
                provider: self.id,
                what: format!("model list: {}", classify(&e)),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(raw: &str) -> ChatRequest {
        serde_json::from_str(raw).unwrap()
    }

    #[test]
    fn streaming_requests_ask_for_usage_and_rename_max_tokens_by_quirk() {
        let r = req(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":5,"stream":true}"#,
        );
        let body: Value =
            serde_json::from_slice(&encode_request(&r, Quirks::OPENAI, true).unwrap()).unwrap();
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["max_completion_tokens"], 5);
        assert!(body.get("max_tokens").is_none());
        let legacy = Quirks::new(true, false);
        let body: Value =
            serde_json::from_slice(&encode_request(&r, legacy, true).unwrap()).unwrap();
        assert_eq!(body["max_tokens"], 5);
        assert!(body.get("max_completion_tokens").is_none());
        assert!(body.get("stream_options").is_none());
        let body: Value =
            serde_json::from_slice(&encode_request(&r, Quirks::OPENAI, false).unwrap()).unwrap();
        assert!(body.get("stream").is_none() && body.get("stream_options").is_none());
    }

    #[test]
    fn chunk_translation() {
        let p = ProviderId::Groq;
        let t = translate_event(p, r#"{"id":"a","choices":[],"x_groq":{"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}}"#, None).unwrap();
        assert!(matches!(t, Translated::Chunk(None, Some(ref u)) if u.total_tokens == 7));
        let t = translate_event(p, r#"{"id":"a","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}],"usage":{"prompt_tokens":1}}"#, None).unwrap();
        let Translated::Chunk(Some(c), Some(_)) = t else {
            panic!()
        };
        assert!(c.usage.is_none(), "usage is moved out of content chunks");
        assert_eq!(
            translate_event(p, " [DONE] ", None).unwrap(),
            Translated::Done
        );
        assert!(matches!(
            translate_event(p, "{not json", None),
            Err(ProviderError::Malformed { .. })
        ));
        let e = translate_event(p, r#"{"error":{"message":"Upstream overloaded for key sk-or-v1-abcdef0123456789","code":502}}"#, None).unwrap_err();
        let ProviderError::MidStream { message, code, .. } = e else {
            panic!()
        };
        assert!(!message.contains("abcdef0123456789"));
        assert_eq!(code.as_deref(), Some("502"));
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        let mut h = HeaderMap::new();
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }
}
