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
use byok_providers::{Credential, Forward, ProviderError, ProviderId, Usage};
use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream::BoxStream;

use super::settle::Settlement;
use super::{answered, failed};
use crate::api::Data;
use crate::error::{ApiError, internal};

/// A protocol's reader of usage from an answer's bytes.
pub(crate) trait UsageRead: Send + Unpin + 'static {
    /// Reads the next bytes.
    fn push(&mut self, bytes: &[u8]);
    /// The usage and the model the answer reported, once it ended.
    fn finish(&mut self) -> (Option<Usage>, Option<String>);
}

/// The bytes a protocol appends when an answer fails mid-stream (its own
/// error event).
pub(crate) type ErrorEvent = fn(&ApiError) -> Vec<u8>;

/// Forwards `request` and answers with what comes back: streamed through
/// a [`PassThroughBody`], or read whole, settled, with the charge in the
/// headers.
pub(crate) async fn pass_through<R: UsageRead>(
    state: &Data,
    provider: ProviderId,
    credential: &Credential,
    settlement: Settlement,
    request: Forward<'_>,
    mut reader: R,
    on_error: ErrorEvent,
) -> Result<HttpResponse, ApiError> {
    let stream = request.stream;
    let forwarded = match state
        .chat_adapter(provider)
        .forward(request, credential)
        .await
    {
        Ok(f) => f,
        Err(e) => return Err(failed(state, provider, settlement, e)),
    };
    let mut response = answered(provider, &settlement);
    if let Some(ct) = forwarded.content_type {
        response.insert_header((actix_web::http::header::CONTENT_TYPE, ct.as_bytes()));
    }
    if stream {
        response.insert_header(("cache-control", "no-cache"));
        let body = PassThroughBody {
            inner: forwarded.body,
            reader,
            settlement: Some(settlement),
            on_error,
            finished: false,
        };
        return Ok(response.streaming(body));
    }
    let body = match whole(forwarded.body).await {
        Ok(body) => body,
        Err(e) => return Err(failed(state, provider, settlement, e)),
    };
    reader.push(&body);
    let (usage, model) = reader.finish();
    let settled = settlement.settle(usage.as_ref(), "", model.as_deref().unwrap_or(""));
    Ok(response
        .insert_header(("x-byok-usage-source", settled.usage_source.as_str()))
        .insert_header(("x-byok-markup-usd", settled.markup.to_string()))
        .body(body))
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
async fn whole(
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
            s.settle(usage.as_ref(), "", model.as_deref().unwrap_or(""));
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
