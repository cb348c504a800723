//! [`ChatStream`]: neutral chunks plus the usage the provider reported.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::error::ProviderError;
use crate::types::{ChatChunk, Usage};

/// What a translator's stream yields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// A chunk for the client.
    Chunk(ChatChunk),
    /// Usage reported by the provider (the last one wins).
    Usage(Usage),
}

/// A boxed stream of [`StreamEvent`]s, as translators produce it.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ProviderError>> + Send>>;

/// Whether the provider reported usage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageReport {
    /// The provider's own numbers.
    Reported(Usage),
    /// The provider sent none (or the stream was cut before it did); the
    /// caller estimates.
    Missing,
}

impl UsageReport {
    /// The usage, when reported.
    pub fn reported(&self) -> Option<&Usage> {
        match self {
            UsageReport::Reported(u) => Some(u),
            UsageReport::Missing => None,
        }
    }
}

/// A streamed answer: a `Stream` of chunks for the client. After it ends,
/// [`ChatStream::usage`] says what the provider reported.
///
/// Dropping it drops the upstream response, which closes the upstream
/// connection: a client that goes away stops the upstream request.
pub struct ChatStream {
    inner: EventStream,
    usage: Option<Usage>,
    ended: bool,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("usage", &self.usage)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl ChatStream {
    /// Wraps a translator's event stream.
    pub fn new(inner: EventStream) -> Self {
        Self {
            inner,
            usage: None,
            ended: false,
        }
    }

    /// The usage reported so far (final once the stream has ended).
    pub fn usage(&self) -> UsageReport {
        match &self.usage {
            Some(u) => UsageReport::Reported(u.clone()),
            None => UsageReport::Missing,
        }
    }

    /// Whether the stream has ended (normally or with an error).
    pub fn is_ended(&self) -> bool {
        self.ended
    }
}

impl Stream for ChatStream {
    type Item = Result<ChatChunk, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            match self.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.ended = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Ok(StreamEvent::Usage(u)))) => self.usage = Some(u),
                Poll::Ready(Some(Ok(StreamEvent::Chunk(c)))) => return Poll::Ready(Some(Ok(c))),
                Poll::Ready(Some(Err(e))) => {
                    self.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}
