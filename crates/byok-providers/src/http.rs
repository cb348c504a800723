//! Shared HTTP plumbing for every translator: sending with a response
//! timeout, bounded body reads, sanitised upstream errors, the stream
//! driver (SSE or any other framing), and [`Upstream`], the part every
//! adapter holds.

use std::collections::VecDeque;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use byok_redact::ReadError;
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::credential::Credential;
use crate::error::{ProviderError, TimeoutPhase, UpstreamErrorKind, sanitize};
use crate::id::ProviderId;
use crate::provider::ProviderConfig;
use crate::sse::{SseDecoder, SseEvent};
use crate::stream::{ChatStream, EventStream, StreamEvent};
use crate::target::Target;
use crate::transport::{HttpClient, RequestBuilder, Response, TransportError};
use crate::types::ModelInfo;

pub(crate) fn classify(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "i/o error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected JSON shape",
        serde_json::error::Category::Eof => "truncated JSON",
    }
}

/// Message and code of an OpenAI-style error object, sanitised.
pub(crate) fn error_fields(err: &Value, secret: Option<&str>) -> (String, Option<String>) {
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
    let code = short_code(obj.get("code").or_else(|| obj.get("type")))
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

/// Reads a body up to `limit` bytes, with an idle timeout between pieces
/// (the bounded read of `byok-redact`, mapped to [`ProviderError`]).
pub(crate) async fn read_body(
    provider: ProviderId,
    response: Response,
    limit: usize,
    idle: Duration,
) -> Result<Vec<u8>, ProviderError> {
    let announced = response.content_length();
    byok_redact::read_stream(response.bytes_stream(), announced, limit, idle)
        .await
        .map_err(|e| match e {
            ReadError::TooLarge { limit } => ProviderError::TooLarge { provider, limit },
            ReadError::Timeout => ProviderError::Timeout {
                provider,
                phase: TimeoutPhase::Body,
            },
            ReadError::Transport(e) => {
                ProviderError::from_transport(provider, &e, TimeoutPhase::Body)
            }
            _ => ProviderError::Connection {
                provider,
                reason: "reset while reading the body",
            },
        })
}

/// Turns a non-success upstream response into a sanitised error.
pub(crate) async fn upstream_error(
    provider: ProviderId,
    response: Response,
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

/// Sends `request` within the response timeout; a non-success status
/// becomes a sanitised [`ProviderError::Upstream`].
pub(crate) async fn send(
    provider: ProviderId,
    config: &ProviderConfig,
    request: RequestBuilder,
    secret: Option<&str>,
) -> Result<Response, ProviderError> {
    let response = match tokio::time::timeout(config.timeouts.response, request.send()).await {
        Err(_) => {
            return Err(ProviderError::Timeout {
                provider,
                phase: TimeoutPhase::Response,
            });
        }
        Ok(Err(e)) => {
            return Err(ProviderError::from_transport(
                provider,
                &e,
                TimeoutPhase::Response,
            ));
        }
        Ok(Ok(r)) => r,
    };
    if !response.status().is_success() {
        return Err(upstream_error(provider, response, config, secret).await);
    }
    Ok(response)
}

/// [`send`], then the whole answer within the configured size limit and
/// idle timeout.
pub(crate) async fn fetch(
    provider: ProviderId,
    config: &ProviderConfig,
    request: RequestBuilder,
    secret: Option<&str>,
) -> Result<Vec<u8>, ProviderError> {
    let response = send(provider, config, request, secret).await?;
    read_body(
        provider,
        response,
        config.limits.max_body_bytes,
        config.timeouts.idle,
    )
    .await
}

/// What every adapter holds: its provider, its configured base URL (the
/// operator's override or the row's default, without a trailing `/`), the
/// shared HTTP client and the configuration; and the one way adapters talk
/// to the upstream.
pub(crate) struct Upstream {
    pub(crate) id: ProviderId,
    pub(crate) base: String,
    pub(crate) client: HttpClient,
    pub(crate) config: Arc<ProviderConfig>,
}

/// A resolved endpoint: the URL of one operation, its auth header, and the
/// key it carries (for sanitising errors).
pub(crate) struct Endpoint {
    pub(crate) url: String,
    pub(crate) auth: (HeaderName, HeaderValue),
    pub(crate) secret: SecretString,
}

impl Upstream {
    /// The parts of the adapter for `id` at its configured base URL
    /// ([`ProviderConfig::base_url`]).
    pub(crate) fn configured(
        id: ProviderId,
        client: HttpClient,
        config: Arc<ProviderConfig>,
    ) -> Self {
        let base = config.base_url(id).to_owned();
        Self::new(id, &base, client, config)
    }

    /// The parts of the adapter for `id` at `base`.
    pub(crate) fn new(
        id: ProviderId,
        base: &str,
        client: HttpClient,
        config: Arc<ProviderConfig>,
    ) -> Self {
        Self {
            id,
            base: base.trim_end_matches('/').to_owned(),
            client,
            config,
        }
    }

    /// `Name { id: .., .. }`: the adapters' `Debug` (never the client or
    /// the configuration).
    pub(crate) fn fmt_as(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }

    /// The URL of `op` on the row's target ([`Target`]) and its auth header.
    pub(crate) fn endpoint(
        &self,
        credential: &Credential,
        op: &str,
    ) -> Result<Endpoint, ProviderError> {
        let target = Target::resolve(self.id, &self.base, credential)?;
        Ok(Endpoint {
            url: target.url(op),
            auth: target.auth()?,
            secret: target.secret().clone(),
        })
    }

    /// A JSON `POST` of `body` to `op`, authorised, asking for SSE when
    /// `stream`; and the key it carries.
    pub(crate) fn post_json(
        &self,
        credential: &Credential,
        op: &str,
        body: Vec<u8>,
        stream: bool,
    ) -> Result<(RequestBuilder, SecretString), ProviderError> {
        let Endpoint { url, auth, secret } = self.endpoint(credential, op)?;
        let mut builder = self
            .client
            .post(url)
            .header(auth.0, auth.1)
            .header(CONTENT_TYPE, "application/json");
        if stream {
            builder = builder.header(ACCEPT, "text/event-stream");
        }
        Ok((builder.body(body), secret))
    }

    /// An authorised `GET` of `op`, and the key it carries.
    pub(crate) fn get(
        &self,
        credential: &Credential,
        op: &str,
    ) -> Result<(RequestBuilder, SecretString), ProviderError> {
        let Endpoint { url, auth, secret } = self.endpoint(credential, op)?;
        Ok((self.client.get(url).header(auth.0, auth.1), secret))
    }

    /// [`fetch`]: sends `request` and reads the whole answer; `secret` is
    /// redacted from errors.
    pub(crate) async fn fetch(
        &self,
        request: RequestBuilder,
        secret: &SecretString,
    ) -> Result<Vec<u8>, ProviderError> {
        fetch(self.id, &self.config, request, Some(secret.expose_secret())).await
    }

    /// Sends `request` and drives the body translator `make` builds (from
    /// the key, for sanitising mid-stream errors) over the answer.
    pub(crate) async fn stream<B: BodyTranslate>(
        &self,
        request: RequestBuilder,
        secret: SecretString,
        make: impl FnOnce(SecretString) -> B,
    ) -> Result<ChatStream, ProviderError> {
        let response = send(self.id, &self.config, request, Some(secret.expose_secret())).await?;
        let idle = self.config.timeouts.idle;
        Ok(ChatStream::new(body_stream(
            self.id,
            response,
            idle,
            make(secret),
        )))
    }
}

/// Where a model list keeps its models: the data that differs between
/// the formats' list endpoints.
pub(crate) struct Listing {
    /// The member holding the array.
    pub(crate) key: &'static str,
    /// Whether a bare array (no `key` member) is the list itself.
    pub(crate) bare: bool,
    /// The member of a model holding its id.
    pub(crate) id: &'static str,
    /// Stripped from ids that start with it (`models/` for Gemini).
    pub(crate) prefix: &'static str,
    /// The `owned_by` of every model.
    pub(crate) owned_by: &'static str,
}

impl Listing {
    /// Parses a model list body.
    pub(crate) fn parse(
        &self,
        provider: ProviderId,
        bytes: &[u8],
    ) -> Result<Vec<ModelInfo>, ProviderError> {
        let v: Value = parse_json(provider, "model list", bytes)?;
        Ok(self.read(&v))
    }

    /// The models of a list body.
    pub(crate) fn read(&self, v: &Value) -> Vec<ModelInfo> {
        let list = match v.get(self.key) {
            Some(list) => list,
            None if self.bare => v,
            None => return Vec::new(),
        };
        self.models(list.as_array().into_iter().flatten())
    }

    /// The models among `items` (those without a string id are skipped).
    pub(crate) fn models<'a>(&self, items: impl Iterator<Item = &'a Value>) -> Vec<ModelInfo> {
        items
            .filter_map(|m| m.get(self.id).and_then(Value::as_str))
            .map(|id| ModelInfo {
                id: id.strip_prefix(self.prefix).unwrap_or(id).to_owned(),
                object: "model".into(),
                owned_by: self.owned_by.into(),
            })
            .collect()
    }
}

/// Output queue of a stream translator.
pub(crate) type Out = VecDeque<Result<StreamEvent, ProviderError>>;

/// A dialect's streaming state machine over SSE events.
pub(crate) trait SseTranslate: Send + Unpin + 'static {
    /// Handles one event (owned: its data can move into what it produces),
    /// pushing what it produces. `Ok(true)` ends the stream normally.
    fn event(&mut self, event: SseEvent, out: &mut Out) -> Result<bool, ProviderError>;

    /// The body ended without `event` returning `true`: push what remains
    /// or fail (usually [`ProviderError::StreamTruncated`]).
    fn eof(&mut self, out: &mut Out) -> Result<(), ProviderError>;
}

/// A streamed body's decoder and translator: pieces of the body in,
/// events out.
pub(crate) trait BodyTranslate: Send + Unpin + 'static {
    /// Handles one piece of the body, pushing what it produces. `Ok(true)`
    /// ends the stream normally.
    fn bytes(&mut self, bytes: &[u8], out: &mut Out) -> Result<bool, ProviderError>;

    /// The body ended without `bytes` returning `true`: push what remains
    /// or fail.
    fn eof(&mut self, out: &mut Out) -> Result<(), ProviderError>;
}

/// An SSE body: the decoder and an [`SseTranslate`] over its events.
pub(crate) struct Sse<T> {
    provider: ProviderId,
    decoder: SseDecoder,
    events: Vec<SseEvent>,
    translator: T,
}

impl<T> Sse<T> {
    /// `translator` over SSE events of at most the configured size.
    pub(crate) fn new(provider: ProviderId, config: &ProviderConfig, translator: T) -> Self {
        Self {
            provider,
            decoder: SseDecoder::new(config.limits.max_event_bytes),
            events: Vec::with_capacity(4),
            translator,
        }
    }
}

/// The end of a stream that has a terminator: reaching EOF first means the
/// stream was cut.
pub(crate) fn truncated(provider: ProviderId) -> Result<(), ProviderError> {
    Err(ProviderError::StreamTruncated { provider })
}

impl<T: SseTranslate> BodyTranslate for Sse<T> {
    fn bytes(&mut self, bytes: &[u8], out: &mut Out) -> Result<bool, ProviderError> {
        // The events decoded before a bad one in this piece go through the
        // translator first, as they would had the piece ended before it:
        // what reaches the client does not depend on where reads split.
        let decoded = self.decoder.push(bytes, &mut self.events);
        for event in self.events.drain(..) {
            if self.translator.event(event, out)? {
                return Ok(true);
            }
        }
        match decoded {
            Ok(()) => Ok(false),
            Err(e) => Err(ProviderError::Malformed {
                provider: self.provider,
                what: e.to_string(),
            }),
        }
    }

    fn eof(&mut self, out: &mut Out) -> Result<(), ProviderError> {
        self.translator.eof(out)
    }
}

/// Drives a [`BodyTranslate`] over a response body: the stream
/// [`body_stream`] returns. A `Stream` of its own rather than an `unfold`
/// over an `async` block: `unfold` moves its whole state (the translator
/// and its transcript) into a new future for every item and back out with
/// it, seven copies of a few hundred bytes per streamed chunk (measured in
/// docs/performance.md, round six).
struct Driver<B> {
    provider: ProviderId,
    body: futures_util::stream::BoxStream<'static, Result<Bytes, TransportError>>,
    pending: Out,
    idle: Duration,
    /// The idle timer: made at the first wait, re-armed at each wait that
    /// follows a piece (`armed`).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    armed: bool,
    translator: B,
    finished: bool,
}

impl<B: BodyTranslate> Driver<B> {
    fn fail(&mut self, e: ProviderError) {
        self.pending.push_back(Err(e));
        self.finished = true;
    }

    fn on_bytes(&mut self, bytes: &[u8]) {
        match self.translator.bytes(bytes, &mut self.pending) {
            Ok(false) => {}
            Ok(true) => self.finished = true,
            Err(e) => self.fail(e),
        }
    }

    fn on_eof(&mut self) {
        self.finished = true;
        if let Err(e) = self.translator.eof(&mut self.pending) {
            self.pending.push_back(Err(e));
        }
    }

    /// Whether the upstream has sent nothing for `idle` since this wait
    /// for a piece began (the timer is polled, so it wakes the task).
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let timer = match &mut self.timer {
            Some(timer) if self.armed => timer,
            Some(timer) => {
                timer
                    .as_mut()
                    .reset(tokio::time::Instant::now() + self.idle);
                timer
            }
            None => self.timer.insert(Box::pin(tokio::time::sleep(self.idle))),
        };
        self.armed = true;
        timer.as_mut().poll(cx).is_ready()
    }
}

impl<B: BodyTranslate> Stream for Driver<B> {
    type Item = Result<StreamEvent, ProviderError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let d = self.get_mut();
        loop {
            if let Some(item) = d.pending.pop_front() {
                return Poll::Ready(Some(item));
            }
            if d.finished {
                // Done: the upstream body (its connection) and the timer go
                // now, as `unfold` dropped its state at its end, not when
                // the consumer drops the stream.
                d.body = futures_util::stream::empty().boxed();
                d.timer = None;
                return Poll::Ready(None);
            }
            // The body first, then the timer (as `tokio::time::timeout`
            // does): a piece that arrived is never lost to the timeout.
            match d.body.poll_next_unpin(cx) {
                Poll::Ready(None) => d.on_eof(),
                Poll::Ready(Some(Err(e))) => {
                    let e = ProviderError::from_transport(d.provider, &e, TimeoutPhase::Body);
                    d.fail(e);
                }
                Poll::Ready(Some(Ok(bytes))) => {
                    d.armed = false;
                    d.on_bytes(&bytes);
                }
                Poll::Pending => {
                    if !d.idle_expired(cx) {
                        return Poll::Pending;
                    }
                    d.fail(ProviderError::Timeout {
                        provider: d.provider,
                        phase: TimeoutPhase::Body,
                    });
                }
            }
        }
    }
}

/// Drives `translator` over a response body: one piece at a time, an idle
/// timeout between pieces. Dropping the returned stream drops the response
/// and closes the upstream connection.
pub(crate) fn body_stream<B: BodyTranslate>(
    provider: ProviderId,
    response: Response,
    idle: Duration,
    translator: B,
) -> EventStream {
    Box::pin(Driver {
        provider,
        body: response.bytes_stream().boxed(),
        // One read often carries several events (a stream's last content,
        // finish and usage chunks and `[DONE]` tend to arrive together; a
        // fast upstream sends many): room for 16 avoids regrowing the
        // queue, for one allocation per stream either way.
        pending: VecDeque::with_capacity(16),
        idle,
        timer: None,
        armed: false,
        translator,
        finished: false,
    })
}

/// Parses a JSON body, mapping failure to [`ProviderError::Malformed`].
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    provider: ProviderId,
    what: &str,
    bytes: &[u8],
) -> Result<T, ProviderError> {
    serde_json::from_slice(bytes).map_err(|e| ProviderError::Malformed {
        provider,
        what: format!(
            "{what}: {} at line {} column {}",
            classify(&e),
            e.line(),
            e.column()
        ),
    })
}

/// A value's string form if short and simple (for error codes).
pub(crate) fn short_code(v: Option<&Value>) -> Option<String> {
    v.and_then(|c| match c {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
    .filter(|c| {
        c.len() <= 64
            && c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`stream_openai`): the events before an event the
    /// SSE decoder refuses (here, over the size limit) were dropped with it
    /// when they came in the same read, but delivered when a read ended
    /// between them.
    #[test]
    fn events_before_a_bad_one_in_the_same_read_are_delivered() {
        let config = ProviderConfig::default().with_limits(crate::Limits {
            max_event_bytes: 80,
            ..crate::Limits::default()
        });
        let first =
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n";
        let body = format!("{first}data: {}\n\n", "x".repeat(100));
        let run = |piece: usize| {
            let translator = crate::translators::openai::OpenAiStream::new(
                ProviderId::Groq,
                false,
                SecretString::from("k"),
            );
            let mut sse = Sse::new(ProviderId::Groq, &config, translator);
            let mut out = Out::new();
            for chunk in body.as_bytes().chunks(piece) {
                if let Err(e) = sse.bytes(chunk, &mut out) {
                    out.push_back(Err(e));
                    break;
                }
            }
            out.into_iter().collect::<Vec<_>>()
        };
        let whole = run(body.len());
        assert_eq!(whole.len(), 2, "{whole:?}");
        assert!(matches!(whole[0], Ok(StreamEvent::Chunk(_))), "{whole:?}");
        assert!(
            matches!(whole[1], Err(ProviderError::Malformed { .. })),
            "{whole:?}"
        );
        assert_eq!(
            run(first.len()),
            whole,
            "a read ending after the first event"
        );
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
