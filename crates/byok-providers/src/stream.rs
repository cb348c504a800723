//! [`ChatStream`]: neutral chunks plus the usage the provider reported.

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::error::ProviderError;
use crate::translators::openai::{Scanned, StrictChunk, scan, verbatim_chunk};
use crate::types::{ChatChunk, ChunkChoice, FinishReason, FunctionCall, ToolCall, Usage};

/// What a translator's stream yields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// A chunk for the client (boxed: events move through queues, and a
    /// chunk is most of an event's size).
    Chunk(Box<ChatChunk>),
    /// A chunk for the client whose upstream JSON is in OpenAI's own
    /// shape (nothing to strip or normalise): a relay may forward it as it
    /// came instead of serialising the chunk.
    Verbatim(VerbatimChunk),
    /// Usage reported by the provider (the last one wins).
    Usage(Usage),
}

/// A chunk in its upstream JSON, which is in OpenAI's own shape: the
/// fields OpenAI documents plus the extras dialect providers commonly add,
/// at every level, a standard finish reason, no usage, one line. Its
/// bytes and [`VerbatimChunk::chunk`] say the same, so a relay forwards
/// [`VerbatimChunk::raw`] and reads the parsed chunk only if it needs it:
/// the chunk is built on first use (a chat client's stream never builds
/// one).
#[derive(Clone)]
pub struct VerbatimChunk {
    raw: String,
    /// What the one-pass scan read of it, when it read it.
    scanned: Option<Scanned>,
    /// Boxed: a verbatim chunk moves through queues whole, and a chat
    /// client's never builds this.
    chunk: OnceLock<Box<ChatChunk>>,
}

impl VerbatimChunk {
    /// `raw` as a verbatim chunk, if it is in OpenAI's own shape (see the
    /// type); `None` otherwise.
    pub fn new(raw: String) -> Option<Self> {
        if let Some(scanned) = scan(&raw) {
            return Some(Self::scanned(raw, scanned));
        }
        let fits = StrictChunk::read(&raw).is_some_and(|c| c.verbatim(&raw));
        fits.then(|| Self::parsed(raw, None))
    }

    /// `raw`, which its caller has found verbatim by [`scan`] (its result
    /// is `scanned`): the chunk is built on first use.
    pub(crate) fn scanned(raw: String, scanned: Scanned) -> Self {
        Self {
            raw,
            scanned: Some(scanned),
            chunk: OnceLock::new(),
        }
    }

    /// `raw`, which its caller has read as [`StrictChunk::verbatim`], with
    /// the chunk that reading made (none: built on first use).
    pub(crate) fn parsed(raw: String, chunk: Option<ChatChunk>) -> Self {
        Self {
            raw,
            scanned: None,
            chunk: chunk.map_or_else(OnceLock::new, |c| OnceLock::from(Box::new(c))),
        }
    }

    /// The same chunk, not yet parsed (for tests of the reading in place).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn unparsed(&self) -> Self {
        Self {
            raw: self.raw.clone(),
            scanned: self.scanned.clone(),
            chunk: OnceLock::new(),
        }
    }

    /// Whether what the stream's scan found (from the last chunk's
    /// template or from where its `choices` began, when it could) is what
    /// a scan of the whole chunk finds, and a chunk it declined (read by
    /// serde) a whole scan declines too (the fuzz targets' check).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn scan_is_whole(&self) -> bool {
        self.scanned == scan(&self.raw)
    }

    /// The upstream JSON, one line, as it came.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The chunk its JSON says (parsed on first use).
    pub fn chunk(&self) -> &ChatChunk {
        self.chunk
            .get_or_init(|| Box::new(verbatim_chunk(&self.raw)))
    }

    /// The chunk, by value.
    pub fn into_chunk(self) -> ChatChunk {
        match self.chunk.into_inner() {
            Some(chunk) => *chunk,
            None => verbatim_chunk(&self.raw),
        }
    }

    /// Adds the chunk to `transcript`: from the parsed chunk if there is
    /// one, else from what the scan found, else read in place from its
    /// JSON (no chunk built).
    fn add_to(&self, transcript: &mut Transcript) {
        if let Some(chunk) = self.chunk.get() {
            return transcript.push(chunk);
        }
        if let Some(fast) = &self.scanned {
            let choice = fast.choice(&self.raw);
            return transcript.push_parts(fast.model(&self.raw), std::slice::from_ref(&choice));
        }
        match StrictChunk::read(&self.raw) {
            Some(wire) => transcript.push_parts(&wire.model, &wire.choices),
            // Cannot happen (the bytes were read strictly before).
            None => transcript.push(self.chunk()),
        }
    }
}

impl std::fmt::Debug for VerbatimChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("VerbatimChunk").field(&self.raw).finish()
    }
}

/// Two verbatim chunks are equal when their JSON is.
impl PartialEq for VerbatimChunk {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
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

/// What a [`ChatStream`] yields: a chunk for the client, and when the
/// upstream sent it in exactly OpenAI's shape, its upstream JSON too.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StreamItem {
    /// A chunk to serialise (boxed, as in [`StreamEvent::Chunk`]).
    Chunk(Box<ChatChunk>),
    /// A chunk whose upstream JSON says exactly what its chunk says
    /// (OpenAI's own shape, nothing stripped or normalised): a relay may
    /// forward [`VerbatimChunk::raw`] as it came instead of serialising
    /// the chunk.
    Verbatim(VerbatimChunk),
}

impl StreamItem {
    /// The chunk.
    pub fn chunk(&self) -> &ChatChunk {
        match self {
            Self::Chunk(chunk) => chunk,
            Self::Verbatim(v) => v.chunk(),
        }
    }

    /// The chunk, by value.
    pub fn into_chunk(self) -> ChatChunk {
        match self {
            Self::Chunk(chunk) => *chunk,
            Self::Verbatim(v) => v.into_chunk(),
        }
    }

    /// The upstream JSON when it may be forwarded as it came.
    pub fn raw(&self) -> Option<&str> {
        match self {
            Self::Verbatim(v) => Some(v.raw()),
            Self::Chunk(_) => None,
        }
    }

    /// Appends the chunk as one SSE `data:` event to `out`: the upstream
    /// JSON as it came when there is one, else the chunk serialised. On
    /// error `out` is left as it was.
    ///
    /// # Errors
    /// The serializer's error.
    pub fn encode_sse(&self, out: &mut bytes::BytesMut) -> Result<(), serde_json::Error> {
        match self {
            Self::Verbatim(v) => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(v.raw().as_bytes());
                out.extend_from_slice(b"\n\n");
                Ok(())
            }
            Self::Chunk(chunk) => crate::sse::encode_json(chunk, out),
        }
    }
}

/// A streamed answer: a `Stream` of [`StreamItem`]s for the client. After
/// it ends, [`ChatStream::usage`] says what the provider reported.
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
}

impl Stream for ChatStream {
    type Item = Result<StreamItem, ProviderError>;

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
                Poll::Ready(Some(Ok(StreamEvent::Chunk(c)))) => {
                    return Poll::Ready(Some(Ok(StreamItem::Chunk(c))));
                }
                Poll::Ready(Some(Ok(StreamEvent::Verbatim(v)))) => {
                    return Poll::Ready(Some(Ok(StreamItem::Verbatim(v))));
                }
                Poll::Ready(Some(Err(e))) => {
                    self.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

/// Choices other than 0 kept apart at most; a higher index shares the last
/// slot (its text still counts).
const MAX_OTHER_CHOICES: usize = 128;

/// Assembles a streamed answer from its chunks: the text, the reasoning,
/// the tool calls (argument fragments concatenated per index) and the
/// finish reason of choice 0; what every other choice delivered, as one
/// text per choice; the model that answered. Used to estimate usage from
/// what was actually delivered (every choice, issue #14 finding 7), to
/// price by the answering model, and by tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    /// Concatenated `content` of choice 0.
    pub content: String,
    /// Concatenated reasoning text of choice 0 (`reasoning_content`, or a
    /// provider's `reasoning` string).
    pub reasoning: String,
    /// Tool calls of choice 0 in index order.
    pub tool_calls: Vec<ToolCall>,
    /// The last finish reason seen (choice 0).
    pub finish_reason: Option<FinishReason>,
    /// What choices 1, 2, ... delivered (slot `i` is choice `i + 1`):
    /// content, reasoning, tool-call names and arguments, concatenated in
    /// the order they arrived.
    pub other_choices: Vec<String>,
    /// The first non-empty `model` of the chunks: the model that answered
    /// (an Azure deployment's, OpenRouter's routed model), empty when no
    /// chunk named one.
    pub model: String,
    /// Chunks seen.
    pub chunks: usize,
}

/// The room a [`Transcript`]'s text starts with.
const TEXT_ROOM: usize = 256;

/// What a [`Transcript`] reads of one choice of a chunk: a parsed
/// chunk's, or a verbatim chunk's read in place.
pub(crate) trait ChoiceView {
    /// The choice's index.
    fn index(&self) -> u32;
    /// The delta's `content`.
    fn content(&self) -> Option<Cow<'_, str>>;
    /// The delta's reasoning text (`reasoning_content`, or a provider's
    /// `reasoning` string).
    fn reasoning(&self) -> Option<Cow<'_, str>>;
    /// The finish reason, as the parsed chunk says it.
    fn finish_reason(&self) -> Option<FinishReason>;
    /// The delta's tool-call fragments.
    fn tool_calls(&self) -> impl Iterator<Item = ToolCallView<'_>>;
}

/// What a [`Transcript`] reads of a tool-call fragment.
pub(crate) struct ToolCallView<'a> {
    pub(crate) index: u32,
    pub(crate) id: Option<&'a str>,
    pub(crate) name: Option<Cow<'a, str>>,
    pub(crate) arguments: Option<Cow<'a, str>>,
}

impl<'a> ToolCallView<'a> {
    /// A fragment whose strings are at hand.
    pub(crate) fn borrowed(
        index: u32,
        id: Option<&'a str>,
        name: Option<&'a str>,
        arguments: Option<&'a str>,
    ) -> Self {
        Self {
            index,
            id,
            name: name.map(Cow::Borrowed),
            arguments: arguments.map(Cow::Borrowed),
        }
    }
}

impl ChoiceView for ChunkChoice {
    fn index(&self) -> u32 {
        self.index
    }

    fn content(&self) -> Option<Cow<'_, str>> {
        self.delta.content.as_deref().map(Cow::Borrowed)
    }

    fn reasoning(&self) -> Option<Cow<'_, str>> {
        self.delta.reasoning_text().map(Cow::Borrowed)
    }

    fn finish_reason(&self) -> Option<FinishReason> {
        self.finish_reason
    }

    fn tool_calls(&self) -> impl Iterator<Item = ToolCallView<'_>> {
        self.delta.tool_calls.iter().flatten().map(|t| {
            let f = t.function.as_ref();
            ToolCallView::borrowed(
                t.index,
                t.id.as_deref(),
                f.and_then(|f| f.name.as_deref()),
                f.and_then(|f| f.arguments.as_deref()),
            )
        })
    }
}

impl Transcript {
    /// Adds one chunk.
    pub fn push(&mut self, chunk: &ChatChunk) {
        self.push_parts(&chunk.model, &chunk.choices);
    }

    /// Adds one item: a verbatim chunk is read in place from its JSON
    /// unless it was parsed already (no chunk built for it).
    pub fn push_item(&mut self, item: &StreamItem) {
        match item {
            StreamItem::Chunk(chunk) => self.push(chunk),
            StreamItem::Verbatim(v) => v.add_to(self),
        }
    }

    /// Adds one chunk, given as its model and its choices.
    pub(crate) fn push_parts<C: ChoiceView>(&mut self, model: &str, choices: &[C]) {
        self.chunks += 1;
        if self.model.is_empty() && !model.is_empty() {
            model.clone_into(&mut self.model);
        }
        for choice in choices {
            if choice.index() == 0 {
                self.push_first(choice);
            } else {
                self.push_other(choice);
            }
        }
    }

    /// Choice 0, assembled.
    fn push_first(&mut self, choice: &impl ChoiceView) {
        if let Some(t) = choice.content() {
            if self.content.capacity() == 0 {
                // A streamed answer's text comes a few bytes a chunk: room
                // for a short answer at once, rather than growing through
                // 8, 16, 32 ... bytes.
                self.content.reserve(t.len().max(TEXT_ROOM));
            }
            self.content.push_str(&t);
        }
        if let Some(t) = choice.reasoning() {
            self.reasoning.push_str(&t);
        }
        for d in choice.tool_calls() {
            let i = usize::try_from(d.index).unwrap_or(usize::MAX);
            if i >= self.tool_calls.len() && i < 128 {
                self.tool_calls.resize_with(i + 1, || ToolCall {
                    id: String::new(),
                    kind: "function".to_owned(),
                    function: FunctionCall {
                        name: String::new(),
                        arguments: String::new(),
                    },
                });
            }
            let Some(call) = self.tool_calls.get_mut(i) else {
                continue;
            };
            if let Some(id) = d.id {
                id.clone_into(&mut call.id);
            }
            if let Some(n) = d.name {
                call.function.name.push_str(&n);
            }
            if let Some(a) = d.arguments {
                call.function.arguments.push_str(&a);
            }
        }
        if let Some(reason) = choice.finish_reason() {
            self.finish_reason = Some(reason);
        }
    }

    /// Another choice: only what it delivered, as text.
    fn push_other(&mut self, choice: &impl ChoiceView) {
        let slot = usize::try_from(choice.index().saturating_sub(1))
            .unwrap_or(usize::MAX)
            .min(MAX_OTHER_CHOICES - 1);
        if slot >= self.other_choices.len() {
            self.other_choices.resize_with(slot + 1, String::new);
        }
        let Some(text) = self.other_choices.get_mut(slot) else {
            return;
        };
        if let Some(t) = choice.content() {
            text.push_str(&t);
        }
        if let Some(t) = choice.reasoning() {
            text.push_str(&t);
        }
        for call in choice.tool_calls() {
            for part in [call.name, call.arguments].into_iter().flatten() {
                text.push_str(&part);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;

    fn chunk(text: &str) -> ChatChunk {
        serde_json::from_value(serde_json::json!({
            "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn items_carry_their_verbatim_json() {
        let raw = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}"#;
        let usage = Usage {
            prompt_tokens: 1,
            completion_tokens: 2,
            total_tokens: 3,
            ..Usage::default()
        };
        let events: Vec<Result<StreamEvent, ProviderError>> = vec![
            Ok(StreamEvent::Verbatim(
                VerbatimChunk::new(raw.to_owned()).unwrap(),
            )),
            Ok(StreamEvent::Usage(usage.clone())),
            Ok(StreamEvent::Chunk(Box::new(chunk("b")))),
        ];
        let mut s = ChatStream::new(Box::pin(futures_util::stream::iter(events)));
        let first = s.next().await.unwrap().unwrap();
        assert_eq!(first.raw(), Some(raw));
        assert_eq!(first.chunk(), &chunk("a"));
        let mut buf = bytes::BytesMut::new();
        first.encode_sse(&mut buf).unwrap();
        assert_eq!(&buf[..], format!("data: {raw}\n\n").as_bytes());
        // a chunk that is not verbatim has no raw JSON: it is serialised
        let second = s.next().await.unwrap().unwrap();
        assert_eq!(second.raw(), None);
        buf.clear();
        second.encode_sse(&mut buf).unwrap();
        let mut want = bytes::BytesMut::new();
        crate::sse::encode_json(&chunk("b"), &mut want).unwrap();
        assert_eq!(buf, want);
        assert_eq!(second.into_chunk(), chunk("b"));
        assert!(s.next().await.is_none());
        assert_eq!(s.usage(), UsageReport::Reported(usage));
    }

    /// Every choice's delivered text is kept, not only choice 0's; the
    /// first model named is the answering model.
    #[test]
    fn transcripts_keep_every_choice_and_the_model() {
        let chunk = |model: &str, choices: serde_json::Value| -> ChatChunk {
            serde_json::from_value(serde_json::json!({
                "id": "c", "object": "chat.completion.chunk", "created": 1, "model": model,
                "choices": choices
            }))
            .unwrap()
        };
        let mut t = Transcript::default();
        t.push(&chunk(
            "",
            serde_json::json!([{"index": 0, "delta": {"content": "a"}}]),
        ));
        t.push(&chunk(
            "o3-2025",
            serde_json::json!([
                {"index": 1, "delta": {"content": "b", "reasoning_content": "r"}},
                {"index": 0, "delta": {"content": "c"}}
            ]),
        ));
        t.push(&chunk("other", serde_json::json!([
            {"index": 2, "delta": {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{}"}}]}},
            {"index": 4_000_000_000u32, "delta": {"content": "z"}}
        ])));
        assert_eq!(t.content, "ac");
        assert_eq!(t.model, "o3-2025");
        assert_eq!(t.other_choices[0], "br");
        assert_eq!(t.other_choices[1], "f{}");
        assert_eq!(t.other_choices.len(), MAX_OTHER_CHOICES);
        assert_eq!(t.other_choices[MAX_OTHER_CHOICES - 1], "z");
    }

    /// Reasoning streamed as `reasoning` (Groq, Cerebras, OpenRouter)
    /// counts like `reasoning_content`, in every choice.
    #[test]
    fn transcripts_keep_reasoning_under_either_name() {
        let chunk: ChatChunk = serde_json::from_value(serde_json::json!({
            "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [
                {"index": 0, "delta": {"reasoning": "think"}},
                {"index": 1, "delta": {"reasoning": "ponder"}}
            ]
        }))
        .unwrap();
        let mut t = Transcript::default();
        t.push(&chunk);
        assert_eq!(t.reasoning, "think");
        assert_eq!(t.other_choices[0], "ponder");
    }
}
#[cfg(test)]
mod sizes {
    /// Stream events and items move through the translator's queue and
    /// `ChatStream` by value: a chunk inside one is boxed, so that a move
    /// copies ~170 bytes, not ~430 (round six, docs/performance.md).
    #[test]
    fn events_and_items_stay_small() {
        assert!(
            size_of::<super::StreamEvent>() <= 176,
            "{}",
            size_of::<super::StreamEvent>()
        );
        assert!(
            size_of::<super::StreamItem>() <= 176,
            "{}",
            size_of::<super::StreamItem>()
        );
    }
}
