//! The Bedrock stream: AWS event-stream frames (decoded by
//! `aws-smithy-eventstream`, CRC-checked, split anywhere, bounded), each
//! parsed once into a typed [`Event`] named by its `:event-type` header.
//!
//! | event | chunk |
//! |---|---|
//! | `:message-type` `exception` / `error` | `MidStream` (code: the exception type) |
//! | `messageStart` | role chunk (id: a fresh `chatcmpl-…`, Converse has none) |
//! | `contentBlockStart.start.toolUse` | tool-call id + name |
//! | `contentBlockDelta` `text` / `toolUse.input` | `content` / argument fragment |
//! | `contentBlockDelta` `reasoningContent` `.text` / `.signature` / `.redactedContent` | `reasoning_content` + `reasoning_details` `reasoning.text` (text) / `reasoning.text` (signature) / `reasoning.encrypted`, format `bedrock-converse`, index: the reasoning block's rank |
//! | `contentBlockDelta` `citation` | kept; at the block's `contentBlockStop` (or the next block, or `messageStop`) `annotations` `url_citation` over the block's text, in `Delta.extra` |
//! | `messageStop` | finish reason (`malformed_*`: `stop`, and `native_finish_reason` on the choice) |
//! | `metadata.usage` (may follow `messageStop`) | kept; the usage chunk comes at EOF |
//! | `contentBlockStop` | the cited block's annotations, if any |
//! | others | nothing (the payload must still be JSON) |
//! | EOF before `messageStop`, or inside a frame | `StreamTruncated` |

use std::borrow::Cow;
use std::collections::HashMap;

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{HeaderValue as EsHeaderValue, Message as EsMessage};
use bytes::BytesMut;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::response::{
    Citation, WireUsage, encrypted_detail, finish_reason, fresh_id, native_finish, text_detail,
};
use crate::error::{ProviderError, sanitize};
use crate::http::{self, Out};
use crate::id::ProviderId;
use crate::translators::{ChunkHead, lenient};
use crate::types::{Delta, Usage};

fn header_str<'m>(m: &'m EsMessage, name: &str) -> Option<&'m str> {
    m.headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| match h.value() {
            EsHeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        })
}

/// One stream event: the `:event-type` header names it, the JSON payload
/// (parsed once, into the type the header names) carries it.
enum Event<'a> {
    /// `:message-type` `exception` or `error`.
    Exception(Exception<'a>),
    MessageStart,
    ContentBlockStart(BlockStart<'a>),
    ContentBlockDelta(BlockDelta<'a>),
    MessageStop(MessageStop<'a>),
    Metadata(Metadata),
    ContentBlockStop(BlockStop),
    /// Future events.
    Other,
}

#[derive(Deserialize, Default)]
struct Exception<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    message: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct BlockStart<'a> {
    #[serde(default, deserialize_with = "lenient::u64")]
    content_block_index: Option<u64>,
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    start: Option<Start<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Start<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::some_obj")]
    tool_use: Option<ToolUseStart<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ToolUseStart<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    tool_use_id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    name: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct BlockDelta<'a> {
    #[serde(default, deserialize_with = "lenient::u64")]
    content_block_index: Option<u64>,
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    delta: Option<DeltaBody<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct BlockStop {
    #[serde(default, deserialize_with = "lenient::u64")]
    content_block_index: Option<u64>,
}

/// A delta: text, else tool input, else reasoning text, else a citation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeltaBody<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    tool_use: Option<ToolUseDelta<'a>>,
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    reasoning_content: Option<ReasoningDelta<'a>>,
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    citation: Option<Citation<'a>>,
}

#[derive(Deserialize)]
struct ToolUseDelta<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    input: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReasoningDelta<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    signature: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    redacted_content: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MessageStop<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    stop_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default, deserialize_with = "lenient::some_obj")]
    usage: Option<WireUsage>,
}

/// An event without fields the gateway reads (the payload is still checked).
#[derive(Deserialize, Default)]
struct Ignored {}

/// The payload as `T`; an empty payload is `T::default()`.
fn payload<'a, T: Deserialize<'a> + Default>(bytes: &'a [u8]) -> Result<T, serde_json::Error> {
    if bytes.is_empty() {
        Ok(T::default())
    } else {
        lenient::from_slice(bytes)
    }
}

impl<'a> Event<'a> {
    fn parse(m: &'a EsMessage) -> Result<Self, serde_json::Error> {
        let bytes = m.payload().as_ref();
        if matches!(header_str(m, ":message-type"), Some("exception" | "error")) {
            return payload(bytes).map(Event::Exception);
        }
        Ok(match header_str(m, ":event-type").unwrap_or("") {
            "messageStart" => payload::<Ignored>(bytes).map(|_| Event::MessageStart)?,
            "contentBlockStart" => Event::ContentBlockStart(payload(bytes)?),
            "contentBlockDelta" => Event::ContentBlockDelta(payload(bytes)?),
            "messageStop" => Event::MessageStop(payload(bytes)?),
            "metadata" => Event::Metadata(payload(bytes)?),
            "contentBlockStop" => Event::ContentBlockStop(payload(bytes)?),
            _ => payload::<Ignored>(bytes).map(|_| Event::Other)?,
        })
    }
}

/// Bedrock stream state over decoded event-stream messages.
pub(crate) struct BedrockStream {
    provider: ProviderId,
    secret: Option<SecretString>,
    /// A fresh id: Converse streams have none.
    head: ChunkHead,
    /// contentBlockIndex → tool-call index.
    tools: HashMap<u64, u32>,
    /// The content block of the latest reasoning and its details index.
    reasoning_block: Option<(u64, u32)>,
    /// Characters of `content` so far (annotation indices).
    chars: usize,
    /// The latest text block and the character its text starts at.
    text_block: Option<(u64, usize)>,
    /// The block being cited, the character its text starts at, and its
    /// annotations, sent when the block stops (indices then known).
    cited: Option<(u64, usize, Vec<serde_json::Value>)>,
    stopped: bool,
    usage: Option<Usage>,
}

impl BedrockStream {
    pub(crate) fn new(
        provider: ProviderId,
        model: &str,
        wants_usage: bool,
        secret: Option<SecretString>,
    ) -> Self {
        Self {
            provider,
            secret,
            head: ChunkHead {
                id: fresh_id(),
                ..ChunkHead::new(model.to_owned(), wants_usage)
            },
            tools: HashMap::new(),
            reasoning_block: None,
            chars: 0,
            text_block: None,
            cited: None,
            stopped: false,
            usage: None,
        }
    }

    /// Handles one decoded frame.
    pub(crate) fn message(&mut self, m: &EsMessage, out: &mut Out) -> Result<(), ProviderError> {
        let event = Event::parse(m).map_err(|e| ProviderError::Malformed {
            provider: self.provider,
            what: format!("event payload: {}", http::classify(&e)),
        })?;
        match event {
            Event::Exception(e) => return Err(self.exception(m, e.message.as_deref())),
            Event::MessageStart => self.head.push_role(out),
            Event::ContentBlockStart(b) => self.block_start(b, out),
            Event::ContentBlockDelta(d) => self.block_delta(d, out)?,
            Event::MessageStop(s) => {
                self.flush_citations(out);
                self.stopped = true;
                let reason = s.stop_reason.as_deref().unwrap_or("end_turn");
                self.finish_chunk(out, reason);
            }
            Event::ContentBlockStop(b) => {
                if self
                    .cited
                    .as_ref()
                    .is_some_and(|(block, ..)| Some(*block) == b.content_block_index)
                {
                    self.flush_citations(out);
                }
            }
            Event::Metadata(meta) => {
                if let Some(u) = meta.usage {
                    self.usage = Some(u.to_usage());
                }
            }
            Event::Other => {}
        }
        Ok(())
    }

    /// An exception frame: the stream ends with its (sanitised) message.
    fn exception(&self, m: &EsMessage, message: Option<&str>) -> ProviderError {
        let kind = header_str(m, ":exception-type")
            .or_else(|| header_str(m, ":error-code"))
            .unwrap_or("exception");
        let message = message
            .or_else(|| header_str(m, ":error-message"))
            .unwrap_or("stream exception");
        ProviderError::MidStream {
            provider: self.provider,
            message: sanitize(message, self.secret.as_ref().map(|s| s.expose_secret())),
            code: http::short_code(Some(&json!(kind))),
        }
    }

    /// `contentBlockStart`: a tool use's id and name.
    fn block_start(&mut self, b: BlockStart<'_>, out: &mut Out) {
        let Some(tu) = b.start.and_then(|s| s.tool_use) else {
            return;
        };
        let tool = u32::try_from(self.tools.len()).unwrap_or(u32::MAX);
        self.tools.insert(b.content_block_index.unwrap_or(0), tool);
        let (id, name) = (
            tu.tool_use_id.map(Cow::into_owned),
            tu.name.map(Cow::into_owned),
        );
        self.head
            .push_tool_start(out, tool, id, name, String::new());
    }

    /// `contentBlockDelta`: text, tool input, or reasoning text.
    fn block_delta(&mut self, d: BlockDelta<'_>, out: &mut Out) -> Result<(), ProviderError> {
        let Some(delta) = d.delta else { return Ok(()) };
        if let Some(t) = delta.text {
            let block = d.content_block_index.unwrap_or(0);
            if self.cited.as_ref().is_some_and(|(b, ..)| *b != block) {
                // Text of another block: the cited one is over.
                self.flush_citations(out);
            }
            if self.text_block.is_none_or(|(b, _)| b != block) {
                self.text_block = Some((block, self.chars));
            }
            self.chars += t.chars().count();
            self.head.push(
                out,
                Delta {
                    content: Some(t.into_owned()),
                    ..Delta::default()
                },
            );
        } else if let Some(input) = delta.tool_use.and_then(|t| t.input) {
            let index = d.content_block_index.unwrap_or(0);
            let tool = *self
                .tools
                .get(&index)
                .ok_or_else(|| ProviderError::Malformed {
                    provider: self.provider,
                    what: "tool input for a block that is not a tool use".into(),
                })?;
            self.head
                .push_arguments(out, tool, Some(input.into_owned()));
        } else if let Some(r) = delta.reasoning_content {
            let index = self.reasoning_index(d.content_block_index.unwrap_or(0));
            self.reasoning(r, index, out);
        } else if let Some(c) = delta.citation {
            self.citation(d.content_block_index.unwrap_or(0), &c, out);
        }
        Ok(())
    }

    /// A citation of block `block`: kept until the block's text is over.
    fn citation(&mut self, block: u64, c: &Citation<'_>, out: &mut Out) {
        if self.cited.as_ref().is_some_and(|(b, ..)| *b != block) {
            self.flush_citations(out);
        }
        let start = match self.text_block {
            Some((b, start)) if b == block => start,
            _ => self.chars,
        };
        let (_, _, pending) = self.cited.get_or_insert((block, start, Vec::new()));
        // The indices are set when the block stops.
        if let Some(a) = c.annotation(0, 0) {
            pending.push(a);
        }
    }

    /// Sends the annotations of the cited block over its text so far.
    fn flush_citations(&mut self, out: &mut Out) {
        let Some((_, start, mut pending)) = self.cited.take() else {
            return;
        };
        if pending.is_empty() {
            return;
        }
        for a in &mut pending {
            a["url_citation"]["start_index"] = json!(start);
            a["url_citation"]["end_index"] = json!(self.chars);
        }
        self.head.push_annotations(out, pending);
    }

    /// The finish chunk; a malformed tool use or output keeps the native
    /// reason on the choice (`native_finish_reason`).
    fn finish_chunk(&self, out: &mut Out, reason: &str) {
        self.head
            .push_finish_native(out, finish_reason(reason), native_finish(reason));
    }

    /// The `reasoning_details` index of the reasoning in content block
    /// `block` (reasoning blocks counted in order, as in the full answer).
    fn reasoning_index(&mut self, block: u64) -> u32 {
        match self.reasoning_block {
            Some((b, index)) if b == block => index,
            last => {
                let index = last.map_or(0, |(_, i)| i.saturating_add(1));
                self.reasoning_block = Some((block, index));
                index
            }
        }
    }

    /// A reasoning delta: text (`reasoning_content` and a `reasoning.text`
    /// detail), a signature, or redacted content (`reasoning.encrypted`).
    fn reasoning(&self, r: ReasoningDelta<'_>, index: u32, out: &mut Out) {
        let (reasoning_content, detail) = if let Some(t) = r.text {
            let detail = text_detail(Some(&t), None, index);
            (Some(t.into_owned()), detail)
        } else if let Some(sig) = r.signature {
            (None, text_detail(None, Some(&sig), index))
        } else if let Some(data) = r.redacted_content {
            (None, encrypted_detail(&data, index))
        } else {
            return;
        };
        self.head.push(
            out,
            Delta {
                reasoning_content,
                reasoning_details: Some(vec![detail]),
                ..Delta::default()
            },
        );
    }

    pub(crate) fn finish(&mut self, out: &mut Out) -> Result<(), ProviderError> {
        if !self.stopped {
            return Err(ProviderError::StreamTruncated {
                provider: self.provider,
            });
        }
        if let Some(usage) = self.usage.take() {
            self.head.push_usage(out, usage);
        }
        Ok(())
    }
}

/// Decodes event-stream frames from arbitrary byte pieces, bounded.
pub(crate) struct FrameReader {
    provider: ProviderId,
    decoder: MessageFrameDecoder,
    buf: BytesMut,
    max: usize,
    /// The buffer starts with a frame (its prelude not yet read).
    at_start: bool,
}

/// An event-stream frame's prelude: total length, headers length, CRC.
const PRELUDE_LEN: usize = 12;

impl FrameReader {
    pub(crate) fn new(provider: ProviderId, max: usize) -> Self {
        Self {
            provider,
            decoder: MessageFrameDecoder::new(),
            buf: BytesMut::with_capacity(8 << 10),
            max,
            at_start: true,
        }
    }

    /// Adds bytes and returns every complete frame. A frame longer than
    /// the bound is refused by the length its prelude declares, before it
    /// is buffered and however the reads split it.
    pub(crate) fn push(
        &mut self,
        bytes: &[u8],
        frames: &mut Vec<EsMessage>,
    ) -> Result<(), ProviderError> {
        self.buf.extend_from_slice(bytes);
        loop {
            if self.at_start
                && let Some(len) = self.buf.first_chunk::<4>()
                && usize::try_from(u32::from_be_bytes(*len)).unwrap_or(usize::MAX) > self.max
            {
                return Err(ProviderError::TooLarge {
                    provider: self.provider,
                    limit: self.max,
                });
            }
            // The decoder takes a frame's prelude out of the buffer once
            // the prelude is there.
            let prelude = self.buf.len() >= PRELUDE_LEN;
            match self.decoder.decode_frame(&mut self.buf) {
                Ok(DecodedFrame::Complete(m)) => {
                    frames.push(m);
                    self.at_start = true;
                }
                Ok(DecodedFrame::Incomplete) => {
                    self.at_start &= !prelude;
                    break;
                }
                Err(e) => {
                    return Err(ProviderError::Malformed {
                        provider: self.provider,
                        what: format!("event-stream frame: {e}"),
                    });
                }
            }
        }
        if self.buf.len() > self.max {
            return Err(ProviderError::TooLarge {
                provider: self.provider,
                limit: self.max,
            });
        }
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// A Converse stream body: the frame reader and the translator over its
/// messages ([`http::body_stream`] drives it).
pub(crate) struct Frames {
    provider: ProviderId,
    reader: FrameReader,
    frames: Vec<EsMessage>,
    translator: BedrockStream,
}

impl Frames {
    pub(crate) fn new(provider: ProviderId, max: usize, translator: BedrockStream) -> Self {
        Self {
            provider,
            reader: FrameReader::new(provider, max),
            frames: Vec::with_capacity(4),
            translator,
        }
    }
}

impl http::BodyTranslate for Frames {
    /// A piece of the body: every complete frame through the translator.
    /// A bad frame fails the stream after the frames before it in the
    /// same piece went through the translator (as they would had the
    /// piece ended before it).
    fn bytes(&mut self, bytes: &[u8], out: &mut Out) -> Result<bool, ProviderError> {
        let read = self.reader.push(bytes, &mut self.frames);
        let translated = self
            .frames
            .drain(..)
            .try_for_each(|m| self.translator.message(&m, out));
        self.frames.clear();
        translated.and(read).map(|()| false)
    }

    /// EOF: the usage chunk, or `StreamTruncated` inside a frame or before
    /// `messageStop`.
    fn eof(&mut self, out: &mut Out) -> Result<(), ProviderError> {
        if self.reader.is_empty() {
            self.translator.finish(out)
        } else {
            Err(ProviderError::StreamTruncated {
                provider: self.provider,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::BodyTranslate as _;
    use crate::stream::StreamEvent;

    fn frame(event: &str, payload: &str) -> Vec<u8> {
        let m = EsMessage::new_from_parts(
            vec![
                aws_smithy_types::event_stream::Header::new(
                    ":event-type",
                    EsHeaderValue::String(event.to_owned().into()),
                ),
                aws_smithy_types::event_stream::Header::new(
                    ":message-type",
                    EsHeaderValue::String("event".to_owned().into()),
                ),
            ],
            payload.as_bytes().to_vec(),
        );
        let mut out = Vec::new();
        aws_smithy_eventstream::frame::write_message_to(&m, &mut out).unwrap();
        out
    }

    /// Runs a Converse stream body in pieces of `piece` bytes until it
    /// fails: what it gave, and the error.
    fn run(body: &[u8], piece: usize, max: usize) -> (Vec<StreamEvent>, Option<ProviderError>) {
        let translator = BedrockStream::new(ProviderId::Aws, "m", false, None);
        let mut frames = Frames::new(ProviderId::Aws, max, translator);
        let mut out = Out::new();
        let mut error = None;
        for chunk in body.chunks(piece) {
            if let Err(e) = frames.bytes(chunk, &mut out) {
                error = Some(e);
                break;
            }
        }
        let mut events: Vec<StreamEvent> = out.into_iter().map(Result::unwrap).collect();
        for e in &mut events {
            if let StreamEvent::Chunk(c) = e {
                c.id.clear();
                c.created = 0;
            }
        }
        (events, error)
    }

    /// Found by fuzzing (`stream_bedrock`): the frames before a corrupt one
    /// in the same read were dropped with it, but delivered when an
    /// earlier read ended before the corrupt frame.
    #[test]
    fn frames_before_a_bad_one_in_the_same_read_are_delivered() {
        let mut body = frame("messageStart", r#"{"role":"assistant"}"#);
        body.extend(frame(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hello"}}"#,
        ));
        let good = body.len();
        let mut bad = frame(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"!"}}"#,
        );
        let last = bad.len() - 1;
        bad[last] ^= 1; // the message CRC
        body.extend(bad);
        let whole = run(&body, body.len(), 1 << 20);
        assert_eq!(whole.0.len(), 2, "the role and the text: {whole:?}");
        assert!(matches!(whole.1, Some(ProviderError::Malformed { .. })));
        assert_eq!(
            run(&body, good, 1 << 20),
            whole,
            "split before the bad frame"
        );
        assert_eq!(run(&body, 7, 1 << 20), whole, "in pieces of 7");
    }

    /// Found by fuzzing (`bedrock_frames`): a frame over the bound was
    /// accepted when it came in one read, and refused when split (the
    /// bound only looked at what stayed buffered).
    #[test]
    fn a_frame_over_the_bound_is_refused_however_it_arrives() {
        let mut body = frame("messageStart", r#"{"role":"assistant"}"#);
        let text = "x".repeat(300);
        body.extend(frame(
            "contentBlockDelta",
            &format!(r#"{{"contentBlockIndex":0,"delta":{{"text":"{text}"}}}}"#),
        ));
        for piece in [body.len(), 100, 1] {
            let (events, error) = run(&body, piece, 256);
            assert_eq!(events.len(), 1, "the role only, in pieces of {piece}");
            assert!(
                matches!(error, Some(ProviderError::TooLarge { limit: 256, .. })),
                "in pieces of {piece}: {error:?}"
            );
        }
    }
}
