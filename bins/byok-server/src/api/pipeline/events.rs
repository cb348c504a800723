//! The body of a streamed answer: the upstream's stream through a
//! protocol's event [`Encoder`] (chat completions' SSE chunks, Anthropic
//! Messages events, Responses events), settled when it ends, fails, or
//! the client goes away. The transcript that an estimate needs is kept
//! here, once, for every protocol.

use std::pin::Pin;
use std::task::{Context, Poll};

use byok_providers::{ChatChunk, ChatStream, StreamItem, Transcript, Usage};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;

use super::settle::Settlement;
use super::text::delivered_by_stream;
use crate::error::ApiError;

/// One inbound protocol's stream encoding.
pub(crate) trait Encoder: Unpin + Send + 'static {
    /// Appends the events for one item of the upstream stream.
    fn item(&mut self, item: &StreamItem, buf: &mut BytesMut);
    /// Appends the events that end a stream that failed mid-way.
    fn error(&mut self, error: &ApiError, buf: &mut BytesMut);
    /// Appends the events that end a complete stream; `usage` is what the
    /// upstream reported, when it did.
    fn end(&mut self, usage: Option<&Usage>, buf: &mut BytesMut);
}

/// A protocol codec's stream encoder (it writes into a `Vec`), as an
/// [`Encoder`] through [`Codec`].
pub(crate) trait CodecStream: Send + Unpin + 'static {
    /// Appends the events of one chunk.
    fn push(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>);
    /// Appends the protocol's error events for a failure mid-stream.
    fn fail(&mut self, error: &ApiError, out: &mut Vec<u8>);
    /// Appends the closing events, with the usage the upstream reported.
    fn close(&mut self, usage: Option<&Usage>, out: &mut Vec<u8>);
}

/// A [`CodecStream`] as an [`Encoder`]: one scratch buffer, reused for
/// every chunk.
pub(crate) struct Codec<C> {
    inner: C,
    scratch: Vec<u8>,
}

impl<C> Codec<C> {
    /// Wraps a codec's encoder.
    pub(crate) fn new(inner: C) -> Self {
        Self {
            inner,
            scratch: Vec::new(),
        }
    }

    /// Moves what the codec wrote into `buf`.
    fn drain_into(&mut self, buf: &mut BytesMut) {
        buf.extend_from_slice(&self.scratch);
        self.scratch.clear();
    }
}

impl<C: CodecStream> Encoder for Codec<C> {
    fn item(&mut self, item: &StreamItem, buf: &mut BytesMut) {
        self.inner.push(item.chunk(), &mut self.scratch);
        self.drain_into(buf);
    }

    fn error(&mut self, error: &ApiError, buf: &mut BytesMut) {
        self.inner.fail(error, &mut self.scratch);
        self.drain_into(buf);
    }

    fn end(&mut self, usage: Option<&Usage>, buf: &mut BytesMut) {
        self.inner.close(usage, &mut self.scratch);
        self.drain_into(buf);
    }
}

/// Size of the body's encode buffer (refilled when less than a typical
/// chunk is left).
const SSE_BUF: usize = 8 * 1024;

/// The body: events as chunks arrive, the protocol's error events if the
/// upstream fails mid-stream, its closing events; settles when it ends or
/// when the client goes away (dropping it drops the upstream stream).
pub(crate) struct EventBody<E> {
    inner: ChatStream,
    transcript: Transcript,
    settlement: Option<Settlement>,
    finished: bool,
    /// Events are encoded here and split off: one allocation serves many
    /// chunks.
    buf: BytesMut,
    encoder: E,
}

impl<E> EventBody<E> {
    /// The body of `stream` encoded by `encoder`, settled by `settlement`
    /// when it ends.
    pub(crate) fn new(stream: ChatStream, settlement: Settlement, encoder: E) -> Self {
        Self {
            inner: stream,
            transcript: Transcript::default(),
            settlement: Some(settlement),
            finished: false,
            buf: BytesMut::new(),
            encoder,
        }
    }

    /// Settles once, with the stream's usage or an estimate of what it
    /// delivered (off the worker: [`Settlement::settle_detached`]).
    fn settle(&mut self) {
        if let Some(s) = self.settlement.take() {
            let usage = self.inner.usage();
            s.settle_detached(
                usage.reported(),
                delivered_by_stream(&self.transcript),
                &self.transcript.model,
            );
        }
    }

    /// Room in the buffer for the next events.
    fn reserve(&mut self) {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(SSE_BUF);
        }
    }

    /// What the buffer holds, split off.
    fn take(&mut self) -> Bytes {
        self.buf.split().freeze()
    }
}

impl<E> Drop for EventBody<E> {
    fn drop(&mut self) {
        self.settle();
    }
}

impl<E: Encoder> Stream for EventBody<E> {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        // Every item already at hand goes out in one body chunk (one write
        // to the client for a burst the upstream sent in one read, as a
        // proxy that forwards what it has read); an encoder may hold an
        // item back (nothing to send yet). Returns when the upstream has
        // nothing more yet, the stream ends, or a buffer's worth is ready.
        loop {
            let polled = Pin::new(&mut this.inner).poll_next(cx);
            this.reserve();
            match polled {
                Poll::Pending if this.buf.is_empty() => return Poll::Pending,
                // The upstream's waker is registered: the next poll comes.
                Poll::Pending => return Poll::Ready(Some(Ok(this.take()))),
                Poll::Ready(Some(Ok(item))) => {
                    // The encoder first: one that needs the parsed chunk
                    // builds it, and the transcript then reads that.
                    this.encoder.item(&item, &mut this.buf);
                    this.transcript.push_item(&item);
                    if this.buf.len() >= SSE_BUF {
                        return Poll::Ready(Some(Ok(this.take())));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.finished = true;
                    this.settle();
                    this.encoder.error(&ApiError::from(e), &mut this.buf);
                    return Poll::Ready(Some(Ok(this.take())));
                }
                Poll::Ready(None) => {
                    this.finished = true;
                    this.settle();
                    let report = this.inner.usage();
                    this.encoder.end(report.reported(), &mut this.buf);
                    return Poll::Ready(Some(Ok(this.take())));
                }
            }
        }
    }
}
