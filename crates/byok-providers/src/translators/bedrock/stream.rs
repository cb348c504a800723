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
//! | `messageStop` | finish reason |
//! | `metadata.usage` (may follow `messageStop`) | kept; the usage chunk comes at EOF |
//! | `contentBlockStop`, others | nothing (the payload must still be JSON) |
//! | EOF before `messageStop`, or inside a frame | `StreamTruncated` |

use std::borrow::Cow;
use std::collections::HashMap;

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{HeaderValue as EsHeaderValue, Message as EsMessage};
use bytes::BytesMut;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::response::{WireUsage, encrypted_detail, finish_reason, fresh_id, text_detail};
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
    /// contentBlockStop and future events.
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

/// A delta: text, else tool input, else reasoning text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeltaBody<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    tool_use: Option<ToolUseDelta<'a>>,
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    reasoning_content: Option<ReasoningDelta<'a>>,
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
                self.stopped = true;
                let reason = s.stop_reason.as_deref().unwrap_or("end_turn");
                self.head.push_finish(out, finish_reason(reason));
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
        }
        Ok(())
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
}

impl FrameReader {
    pub(crate) fn new(provider: ProviderId, max: usize) -> Self {
        Self {
            provider,
            decoder: MessageFrameDecoder::new(),
            buf: BytesMut::with_capacity(8 << 10),
            max,
        }
    }

    /// Adds bytes and returns every complete frame.
    pub(crate) fn push(
        &mut self,
        bytes: &[u8],
        frames: &mut Vec<EsMessage>,
    ) -> Result<(), ProviderError> {
        self.buf.extend_from_slice(bytes);
        loop {
            match self.decoder.decode_frame(&mut self.buf) {
                Ok(DecodedFrame::Complete(m)) => frames.push(m),
                Ok(DecodedFrame::Incomplete) => break,
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
    fn bytes(&mut self, bytes: &[u8], out: &mut Out) -> Result<bool, ProviderError> {
        let result = self.reader.push(bytes, &mut self.frames).and_then(|()| {
            self.frames
                .drain(..)
                .try_for_each(|m| self.translator.message(&m, out))
        });
        self.frames.clear();
        result.map(|()| false)
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
