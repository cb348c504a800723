//! The body of a streamed answer, as server-sent events: every detail of
//! encoding a chunk (forwarded verbatim or serialized, citations spliced
//! into the first) is here.

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context, Poll};

use byok_providers::{ChatStream, StreamItem, Transcript};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;

use super::settle::Settlement;
use super::text::delivered_by_stream;
use crate::error::{ApiError, internal};

/// Size of the SSE body's encode buffer (refilled when less than a typical
/// chunk is left).
const SSE_BUF: usize = 8 * 1024;

const DONE: &[u8] = b"data: [DONE]\n\n";

/// The SSE body: chunks as they arrive, an error event if the upstream
/// fails mid-stream, `[DONE]`; settles when it ends or when the client goes
/// away (dropping it drops the upstream stream).
pub(super) struct SseBody {
    inner: ChatStream,
    transcript: Transcript,
    settlement: Option<Settlement>,
    finished: bool,
    /// Events are encoded here and split off: one allocation serves many
    /// chunks.
    buf: BytesMut,
    /// Web-search citations (a JSON array) still to send: a top-level
    /// `citations` member of the first chunk, as in non-streamed answers.
    citations: Option<Vec<u8>>,
}

impl SseBody {
    /// The body of `stream`, settled by `settlement` when it ends.
    ///
    /// # Errors
    /// 500 if the citations cannot be encoded.
    pub(super) fn new(
        stream: ChatStream,
        settlement: Settlement,
        citations: Option<&[byok_search::Citation]>,
    ) -> Result<Self, ApiError> {
        let citations = match citations {
            Some(c) => Some(serde_json::to_vec(c).map_err(|e| internal("encode", &e))?),
            None => None,
        };
        Ok(Self {
            inner: stream,
            transcript: Transcript::default(),
            settlement: Some(settlement),
            finished: false,
            buf: BytesMut::new(),
            citations,
        })
    }

    /// Settles once, with the stream's usage or an estimate of what it
    /// delivered.
    fn settle(&mut self) {
        if let Some(s) = self.settlement.take() {
            let usage = self.inner.usage();
            s.settle(
                usage.reported(),
                &delivered_by_stream(&self.transcript),
                &self.transcript.model,
            );
        }
    }

    /// Encodes one stream item as an event into the buffer and splits it
    /// off: a verbatim item as it came, a normalised chunk re-serialised;
    /// the first event carries the web-search citations, if any.
    fn encode(&mut self, item: &StreamItem) -> Bytes {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(SSE_BUF);
        }
        if let Some(citations) = self.citations.take() {
            let json: Cow<'_, [u8]> = match item.raw() {
                Some(raw) => raw.as_bytes().into(),
                None => serde_json::to_vec(item.chunk()).unwrap_or_default().into(),
            };
            // `{"citations":[...],` + the chunk's other members.
            if let Some(rest) = json.strip_prefix(b"{").filter(|r| r.len() > 1) {
                self.buf.extend_from_slice(b"data: {\"citations\":");
                self.buf.extend_from_slice(&citations);
                self.buf.extend_from_slice(b",");
                self.buf.extend_from_slice(rest);
                self.buf.extend_from_slice(b"\n\n");
            }
        } else if item.encode_sse(&mut self.buf).is_err() {
            return Bytes::new();
        }
        self.buf.split().freeze()
    }
}

impl Drop for SseBody {
    fn drop(&mut self) {
        self.settle();
    }
}

impl Stream for SseBody {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(item))) => {
                this.transcript.push(item.chunk());
                Poll::Ready(Some(Ok(this.encode(&item))))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finished = true;
                this.settle();
                let err = ApiError::from(e);
                let mut out = Vec::new();
                byok_providers::sse::encode_data(err.body().to_string().as_bytes(), &mut out);
                out.extend_from_slice(DONE);
                Poll::Ready(Some(Ok(Bytes::from(out))))
            }
            Poll::Ready(None) => {
                this.finished = true;
                this.settle();
                Poll::Ready(Some(Ok(Bytes::from_static(DONE))))
            }
        }
    }
}
