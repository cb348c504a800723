//! The pass-through end of the pipeline: a request in the provider's own
//! protocol (Anthropic Messages to `anthropic`, a Responses body to
//! `openai-responses`) goes upstream as the client sent it and the answer
//! comes back as the provider sent it, streamed as it arrives, while a
//! protocol's usage reader takes the billing numbers from the bytes on the
//! way (never holding the whole answer). Settled when the answer ends,
//! fails, or the client goes away.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::HttpResponse;
use byok_providers::{ChatRequest, Forward, ProviderError, ProviderId, Usage};
use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream::BoxStream;

use super::answered;
use super::fallback::{Attempts, Fallback, Target, run};
use super::settle::Settlement;
use crate::accounts::User;
use crate::api::Data;
use crate::app::keys::{KeyChoice, Keys};
use crate::error::{ApiError, internal};

/// A protocol's reader of usage from an answer's bytes.
pub(crate) trait UsageRead: Send + Unpin + 'static {
    /// Reads the next bytes.
    fn push(&mut self, bytes: &[u8]);
    /// The usage and the model the answer reported, once it ended.
    fn finish(&mut self) -> (Option<Usage>, Option<String>);
    /// The usage and the model of a whole answer, read in one go: by
    /// default as pushed pieces; a reader that reads whole answers anyway
    /// reads `body` in place instead of copying it.
    fn whole(&mut self, body: &[u8]) -> (Option<Usage>, Option<String>) {
        self.push(body);
        self.finish()
    }
    /// A whole answer as the client gets it: unchanged, except for a
    /// protocol that translates answers (Gemini's embeddings).
    ///
    /// # Errors
    /// An answer that is not the provider's shape.
    fn rewrite(&mut self, body: Bytes) -> Result<Bytes, ProviderError> {
        Ok(body)
    }
}

/// The bytes a protocol appends when an answer fails mid-stream (its own
/// error event).
pub(crate) type ErrorEvent = fn(&ApiError) -> Vec<u8>;

/// A pass-through request: `forward` to `provider` with each of `keys`,
/// then each fallback target's body (targets of the same protocol only).
pub(crate) struct PassThrough<'a> {
    pub(crate) state: &'a Data,
    pub(crate) user: &'a User,
    pub(crate) provider: ProviderId,
    pub(crate) keys: Keys,
    pub(crate) forward: Forward<'a>,
    /// The fallback targets, each with its body (none in the common case).
    pub(crate) fallbacks: &'a [Fallback],
    pub(crate) settlement: Settlement,
}

/// Forwards the request and answers with what comes back: streamed through
/// a [`PassThroughBody`], or read whole, settled, with the charge in the
/// headers. Falls back while nothing was sent to the client: on a failed
/// call, and for a whole answer also on a body that could not be read.
pub(crate) async fn pass_through<R: UsageRead>(
    call: PassThrough<'_>,
    reader: R,
    on_error: ErrorEvent,
) -> Result<HttpResponse, ApiError> {
    let PassThrough {
        state,
        user,
        provider,
        keys,
        forward,
        fallbacks,
        settlement,
    } = call;
    let Forward {
        op,
        body: first_body,
        headers,
        stream,
    } = forward;
    let attempts = Attempts::new(state, user, provider, keys, fallbacks);
    let each = async |fallback: Option<&Fallback>, provider, key: &KeyChoice| {
        // `Bytes`: each attempt's body shares the one buffer.
        let body = fallback.map_or_else(
            || first_body.clone(),
            |f| f.body.clone().unwrap_or_default().into(),
        );
        let forward = Forward {
            op,
            body,
            headers,
            stream,
        };
        let forwarded = state
            .chat_adapter(provider)
            .forward(forward, &key.credential)
            .await?;
        if stream {
            return Ok((forwarded.content_type, Answer::Stream(forwarded.body)));
        }
        let body = whole(forwarded.body).await?;
        Ok((forwarded.content_type, Answer::Whole(body)))
    };
    let answer = async |(content_type, answer), settlement| {
        Ok(respond(content_type, answer, settlement, reader, on_error).await)
    };
    run(attempts, provider, fallbacks, settlement, each, answer).await
}

/// What answered: a stream to forward as it comes, or a whole body.
enum Answer {
    Stream(BoxStream<'static, Result<Bytes, ProviderError>>),
    Whole(Bytes),
}

/// The response to an answer: a stream settled when it ends, or the whole
/// body settled now, with the charge in the headers.
async fn respond<R: UsageRead>(
    content_type: Option<reqwest::header::HeaderValue>,
    answer: Answer,
    settlement: Settlement,
    mut reader: R,
    on_error: ErrorEvent,
) -> HttpResponse {
    let mut response = answered(&settlement);
    if let Some(ct) = content_type {
        response.insert_header((actix_web::http::header::CONTENT_TYPE, ct.as_bytes()));
    }
    match answer {
        Answer::Stream(inner) => {
            response.insert_header(("cache-control", "no-cache"));
            let body = PassThroughBody {
                inner,
                reader,
                settlement: Some(settlement),
                on_error,
                finished: false,
            };
            response.streaming(body)
        }
        Answer::Whole(body) => {
            let (usage, model) = reader.whole(&body);
            let body = match reader.rewrite(body) {
                Ok(body) => body,
                Err(e) => {
                    settlement.release();
                    return actix_web::ResponseError::error_response(&ApiError::from(e));
                }
            };
            let settled = match settlement
                .settle_whole(
                    usage.as_ref(),
                    String::new(),
                    model.as_deref().unwrap_or(""),
                )
                .await
            {
                Ok(settled) => settled,
                Err(e) => return actix_web::ResponseError::error_response(&e),
            };
            response
                .insert_header((
                    super::headers::USAGE_SOURCE,
                    actix_web::http::header::HeaderValue::from_static(
                        settled.usage_source.as_str(),
                    ),
                ))
                .insert_header((super::headers::MARKUP, settled.markup.to_string()))
                .body(body)
        }
    }
}

/// The body to forward: the client's bytes unchanged, unless routing
/// removed a `<provider>/` prefix from the model (then re-encoded with the
/// model to send).
pub(crate) fn with_model(body: Bytes, client_model: &str, model: &str) -> Result<Bytes, ApiError> {
    if client_model == model {
        return Ok(body);
    }
    let mut map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&body).map_err(|e| internal("re-read body", &e))?;
    map.insert("model".into(), serde_json::Value::String(model.to_owned()));
    serde_json::to_vec(&map)
        .map(Bytes::from)
        .map_err(|e| internal("encode body", &e))
}

/// A whole (non-streamed) answer.
pub(crate) async fn whole(
    mut body: BoxStream<'static, Result<Bytes, ProviderError>>,
) -> Result<Bytes, ProviderError> {
    use futures_util::StreamExt as _;
    let mut all = Vec::new();
    while let Some(piece) = body.next().await {
        let piece = piece?;
        all.extend_from_slice(&piece);
    }
    Ok(Bytes::from(all))
}

/// The answer's bytes as they arrive, read for usage on the way; the
/// protocol's error event if the upstream fails mid-stream.
pub(crate) struct PassThroughBody<R: UsageRead> {
    inner: BoxStream<'static, Result<Bytes, ProviderError>>,
    reader: R,
    settlement: Option<Settlement>,
    on_error: ErrorEvent,
    finished: bool,
}

impl<R: UsageRead> PassThroughBody<R> {
    /// Settles once, with the usage read so far (else an estimate over the
    /// prompt: the ledger records every call).
    fn settle(&mut self) {
        if let Some(s) = self.settlement.take() {
            let (usage, model) = self.reader.finish();
            s.settle_detached(
                usage.as_ref(),
                String::new(),
                model.as_deref().unwrap_or(""),
            );
        }
    }
}

impl<R: UsageRead> Drop for PassThroughBody<R> {
    /// The client went away before the end: settled by what was read.
    fn drop(&mut self) {
        self.settle();
    }
}

impl<R: UsageRead> Stream for PassThroughBody<R> {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        match this.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(bytes))) => {
                this.reader.push(&bytes);
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finished = true;
                this.settle();
                let event = (this.on_error)(&ApiError::from(e));
                Poll::Ready(Some(Ok(Bytes::from(event))))
            }
            Poll::Ready(None) => {
                this.finished = true;
                this.settle();
                Poll::Ready(None)
            }
        }
    }
}

/// The fallback targets of a pass-through: those `same_protocol` accepts
/// (a pass-through only falls back to a provider that takes the same
/// body), each with `neutral` (its reservation's request) for its model and
/// the body `body_for` writes for that model. Nothing is built without
/// fallback targets.
///
/// # Errors
/// What `body_for` returns.
pub(crate) fn forward_fallbacks(
    neutral: &ChatRequest,
    rest: Vec<Target>,
    same_protocol: impl Fn(ProviderId) -> bool,
    body_for: impl Fn(&str) -> Result<Bytes, ApiError>,
) -> Result<Vec<Fallback>, ApiError> {
    rest.into_iter()
        .filter(|t| same_protocol(t.provider))
        .map(|t| {
            let body = body_for(&t.model)?;
            let mut request = neutral.clone();
            request.model = t.model;
            Ok(Fallback {
                provider: t.provider,
                request,
                body: Some(body),
            })
        })
        .collect()
}

/// Takes the fallback list `models` (OpenRouter's convention, never sent
/// upstream) out of a body to forward: the body as it came, after one scan
/// of its bytes, when it names no `models`; else re-encoded without it.
///
/// # Errors
/// 400 for a body that is not a JSON object (only when it names `models`).
pub(crate) fn take_models(body: Bytes) -> Result<(Bytes, Option<serde_json::Value>), ApiError> {
    // A substring search (not a byte-by-byte window scan); a body that is
    // not UTF-8 is no JSON the upstream would take anyway.
    let names = std::str::from_utf8(&body).is_ok_and(|text| text.contains("\"models\""));
    if !names {
        return Ok((body, None));
    }
    let mut map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid_json(&e))?;
    let Some(models) = map.remove("models") else {
        return Ok((body, None));
    };
    let body = serde_json::to_vec(&map)
        .map(Bytes::from)
        .map_err(|e| crate::error::internal("encode body", &e))?;
    Ok((body, Some(models)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn models_are_taken_out_of_a_forwarded_body() {
        let plain = Bytes::from_static(br#"{"model":"m","input":"say \"models\""}"#);
        let (body, models) = take_models(plain.clone()).unwrap();
        assert_eq!(body, plain);
        assert!(models.is_none());
        let (body, models) = take_models(Bytes::from_static(
            br#"{"model":"m","models":["a/b"],"x":1}"#,
        ))
        .unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({"model": "m", "x": 1})
        );
        assert_eq!(models.unwrap(), serde_json::json!(["a/b"]));
    }
}
