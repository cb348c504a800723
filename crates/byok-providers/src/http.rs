//! Shared HTTP plumbing for every translator: sending with a response
//! timeout, bounded body reads, sanitised upstream errors, and the SSE
//! stream driver.

use std::collections::VecDeque;
use std::time::Duration;

use byok_redact::ReadError;
use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;

use crate::error::{ProviderError, TimeoutPhase, UpstreamErrorKind, sanitize};
use crate::id::ProviderId;
use crate::provider::ProviderConfig;
use crate::sse::{SseDecoder, SseEvent};
use crate::stream::{EventStream, StreamEvent};

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
    response: reqwest::Response,
    limit: usize,
    idle: Duration,
) -> Result<Vec<u8>, ProviderError> {
    byok_redact::read_response(response, limit, idle)
        .await
        .map_err(|e| match e {
            ReadError::TooLarge { limit } => ProviderError::TooLarge { provider, limit },
            ReadError::Timeout => ProviderError::Timeout {
                provider,
                phase: TimeoutPhase::Body,
            },
            ReadError::Transport(e) => {
                ProviderError::from_reqwest(provider, &e, TimeoutPhase::Body)
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

/// Sends `request` within the response timeout; a non-success status
/// becomes a sanitised [`ProviderError::Upstream`].
pub(crate) async fn send(
    provider: ProviderId,
    config: &ProviderConfig,
    request: reqwest::RequestBuilder,
    secret: Option<&str>,
) -> Result<reqwest::Response, ProviderError> {
    let response = match tokio::time::timeout(config.timeouts.response, request.send()).await {
        Err(_) => {
            return Err(ProviderError::Timeout {
                provider,
                phase: TimeoutPhase::Response,
            });
        }
        Ok(Err(e)) => {
            return Err(ProviderError::from_reqwest(
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
    request: reqwest::RequestBuilder,
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

/// Output queue of a stream translator.
pub(crate) type Out = VecDeque<Result<StreamEvent, ProviderError>>;

/// A dialect's streaming state machine over SSE events.
pub(crate) trait SseTranslate: Send + 'static {
    /// Handles one event, pushing what it produces. `Ok(true)` ends the
    /// stream normally.
    fn event(&mut self, event: &SseEvent, out: &mut Out) -> Result<bool, ProviderError>;

    /// The body ended without `event` returning `true`: push what remains
    /// or fail (usually [`ProviderError::StreamTruncated`]).
    fn eof(&mut self, out: &mut Out) -> Result<(), ProviderError>;
}

struct Driver<T> {
    provider: ProviderId,
    body: futures_util::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    decoder: SseDecoder,
    events: Vec<SseEvent>,
    pending: Out,
    idle: Duration,
    translator: T,
    finished: bool,
}

impl<T: SseTranslate> Driver<T> {
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
            self.events = events;
            return;
        }
        for event in events.drain(..) {
            if self.finished {
                break;
            }
            match self.translator.event(&event, &mut self.pending) {
                Ok(false) => {}
                Ok(true) => self.finished = true,
                Err(e) => self.fail(e),
            }
        }
        self.events = events;
    }
}

/// Drives `translator` over an SSE response body: one event at a time, an
/// idle timeout between pieces, bounded event size. Dropping the returned
/// stream drops the response and closes the upstream connection.
pub(crate) fn sse_stream<T: SseTranslate>(
    provider: ProviderId,
    response: reqwest::Response,
    config: &ProviderConfig,
    translator: T,
) -> EventStream {
    let driver = Driver {
        provider,
        body: response.bytes_stream().boxed(),
        decoder: SseDecoder::new(config.limits.max_event_bytes),
        events: Vec::with_capacity(4),
        pending: VecDeque::with_capacity(4),
        idle: config.timeouts.idle,
        translator,
        finished: false,
    };
    Box::pin(futures_util::stream::unfold(driver, |mut d| async move {
        loop {
            if let Some(item) = d.pending.pop_front() {
                return Some((item, d));
            }
            if d.finished {
                return None;
            }
            match tokio::time::timeout(d.idle, d.body.next()).await {
                Err(_) => d.fail(ProviderError::Timeout {
                    provider: d.provider,
                    phase: TimeoutPhase::Body,
                }),
                Ok(None) => {
                    d.finished = true;
                    if let Err(e) = d.translator.eof(&mut d.pending) {
                        d.pending.push_back(Err(e));
                    }
                }
                Ok(Some(Err(e))) => {
                    let e = ProviderError::from_reqwest(d.provider, &e, TimeoutPhase::Body);
                    d.fail(e);
                }
                Ok(Some(Ok(bytes))) => d.on_bytes(&bytes),
            }
        }
    }))
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
    use reqwest::header::HeaderValue;

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
