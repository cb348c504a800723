//! Anthropic's stream state machine: typed SSE events → neutral chunks.
//!
//! Each event is parsed once into [`Event`] (`data.type`, else the SSE
//! event name); fields of the wrong JSON type read as absent, unknown
//! events are ignored.
//!
//! | event | chunk |
//! |---|---|
//! | `message_start` | role chunk; ids, input and cache usage |
//! | `content_block_start` `tool_use` / `text` | tool-call id + name / leading text |
//! | `content_block_start` `thinking` | leading `reasoning_content`; the block's text starts buffering |
//! | `content_block_start` `redacted_thinking` | `reasoning_details`: one `reasoning.encrypted` entry |
//! | `content_block_delta` `text_delta` / `thinking_delta` / `input_json_delta` | `content` / `reasoning_content` / argument fragment (nothing for a `server_tool_use` / `mcp_tool_use` block: the server's own tools, not the client's) |
//! | `content_block_delta` `signature_delta` | `reasoning_details`: the whole `reasoning.text` entry of the block (text + signature) |
//! | `content_block_delta` `citations_delta` | nothing yet: the citation waits for its text block's end |
//! | `content_block_stop` of a thinking block that got no signature | `reasoning_details`: its `reasoning.text` entry, unsigned |
//! | `content_block_stop` of a text block with URL citations | `annotations` (in `Delta.extra`): its `url_citation`s, spanning the block's text (see [`super::citations`]) |
//! | `message_delta` | finish reason (with `native_finish_reason` in the choice's `extra` when it does not say it all); cumulative `output_tokens` (and repeated input and cache counts above 0: [`WireUsage::merge`]) |
//! | `message_stop` | usage chunk (when usage was seen); end |
//! | `error` | `MidStream` (code: the error's `type`) |
//! | `ping`, other `content_block_stop`s, others | nothing |
//! | EOF before `message_stop` | `StreamTruncated` |
//!
//! Reasoning scheme: thinking text streams only as `reasoning_content`;
//! each reasoning block's `reasoning_details` entry is sent once, complete
//! (see [`super::reasoning`]), so appending the streamed entries in order
//! gives the non-streamed answer's `reasoning_details`.

use std::borrow::Cow;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::citations::annotations;
use super::reasoning::{encrypted_detail, text_detail};
use super::response::{WireUsage, finish_reason, native_finish_reason};
use crate::error::ProviderError;
use crate::http::{self, Out, SseTranslate};
use crate::id::ProviderId;
use crate::sse::SseEvent;
use crate::translators::lenient::{self, Tag};
use crate::translators::{ChunkHead, ToolSlots, owned};
use crate::types::Delta;

/// One Anthropic stream event (`data.type`, else the SSE event name).
#[derive(Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        #[serde(default, borrow, deserialize_with = "lenient::some_obj")]
        message: Option<MessageStart<'a>>,
    },
    ContentBlockStart {
        #[serde(default, deserialize_with = "lenient::u64")]
        index: Option<u64>,
        #[serde(default, borrow, deserialize_with = "lenient::obj")]
        content_block: Option<ContentBlock<'a>>,
    },
    ContentBlockDelta {
        #[serde(default, deserialize_with = "lenient::u64")]
        index: Option<u64>,
        #[serde(default, borrow, deserialize_with = "lenient::obj")]
        delta: Option<BlockDelta<'a>>,
    },
    ContentBlockStop {
        #[serde(default, deserialize_with = "lenient::u64")]
        index: Option<u64>,
    },
    MessageDelta {
        #[serde(default, deserialize_with = "lenient::obj")]
        usage: Option<WireUsage>,
        #[serde(default, borrow, deserialize_with = "lenient::obj")]
        delta: Option<MessageDelta<'a>>,
    },
    MessageStop,
    Ping,
    Error {
        #[serde(default, deserialize_with = "lenient::present")]
        error: Option<Value>,
        #[serde(default, borrow, deserialize_with = "lenient::str")]
        message: Option<Cow<'a, str>>,
    },
    /// Future events: ignored.
    #[default]
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize, Default)]
struct MessageStart<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    model: Option<Cow<'a, str>>,
    /// Read as a whole: a malformed usage object counts as zeros.
    #[serde(default, deserialize_with = "lenient::present")]
    usage: Option<Value>,
}

/// A `content_block`: `tool_use`, `text`, `thinking` and
/// `redacted_thinking` matter here (server tools, ...: nothing to say yet).
#[derive(Deserialize)]
struct ContentBlock<'a> {
    #[serde(rename = "type", default, borrow, deserialize_with = "lenient::str")]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    data: Option<Cow<'a, str>>,
    /// A text block's citations (usually empty at its start).
    #[serde(default, deserialize_with = "lenient::present")]
    citations: Option<Value>,
}

/// A `content_block_delta`'s `delta`: `text_delta`, `thinking_delta`,
/// `input_json_delta`, `signature_delta`, `citations_delta`.
#[derive(Deserialize)]
struct BlockDelta<'a> {
    #[serde(rename = "type", default, borrow, deserialize_with = "lenient::str")]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    signature: Option<Cow<'a, str>>,
    /// A `citations_delta`'s citation.
    #[serde(default, deserialize_with = "lenient::present")]
    citation: Option<Value>,
}

#[derive(Deserialize)]
struct MessageDelta<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    stop_reason: Option<Cow<'a, str>>,
}

/// Anthropic's stream state.
pub(crate) struct AnthropicStream {
    provider: ProviderId,
    secret: SecretString,
    head: ChunkHead,
    usage: WireUsage,
    saw_usage: bool,
    /// Content block index → tool-call index.
    tools: ToolSlots,
    /// Reasoning blocks seen so far (the next `reasoning_details` index).
    reasoning_blocks: usize,
    /// The open thinking block, until its entry is sent.
    thinking: Option<OpenThinking>,
    /// Characters of `content` sent so far (where annotations start).
    content_chars: usize,
    /// The open text block and its citations.
    text: Option<OpenText>,
    /// Content blocks of server tools (`server_tool_use`, `mcp_tool_use`):
    /// their `input_json_delta`s are not the client's tool calls.
    server_tools: Vec<u64>,
}

/// A text block whose citations wait for its end.
struct OpenText {
    /// Its content block index.
    block: u64,
    /// Where its text starts in `content`, in characters.
    start: usize,
    /// Its citations so far.
    citations: Vec<Value>,
}

/// A thinking block whose `reasoning_details` entry is not sent yet.
struct OpenThinking {
    /// Its content block index.
    block: u64,
    /// Its `reasoning_details` index.
    index: usize,
    /// Its text so far.
    text: String,
}

impl AnthropicStream {
    pub(crate) fn new(provider: ProviderId, wants_usage: bool, secret: SecretString) -> Self {
        Self {
            provider,
            secret,
            head: ChunkHead::new(String::new(), wants_usage),
            usage: WireUsage::default(),
            saw_usage: false,
            tools: ToolSlots::default(),
            reasoning_blocks: 0,
            thinking: None,
            content_chars: 0,
            text: None,
            server_tools: Vec::new(),
        }
    }

    fn malformed(&self, what: &str) -> ProviderError {
        ProviderError::Malformed {
            provider: self.provider,
            what: format!("stream event: {what}"),
        }
    }

    /// `message_start`: ids, input usage, and the role chunk.
    fn message_start(
        &mut self,
        message: Option<MessageStart<'_>>,
        out: &mut Out,
    ) -> Result<(), ProviderError> {
        let msg = message.ok_or_else(|| self.malformed("message_start without message"))?;
        self.head.id = msg.id.map(Cow::into_owned).unwrap_or_default();
        self.head.model = msg.model.map(Cow::into_owned).unwrap_or_default();
        if let Some(u) = msg.usage {
            self.usage
                .merge(&serde_json::from_value(u).unwrap_or_default());
            self.saw_usage = true;
        }
        self.head.push_role(out);
        Ok(())
    }

    /// `content_block_start`: a tool call's id and name, leading text, or
    /// the start of a reasoning block.
    fn block_start(&mut self, index: u64, block: Option<ContentBlock<'_>>, out: &mut Out) {
        let Some(block) = block else { return };
        match block.kind.as_deref() {
            Some("tool_use") => {
                let tool = self.tools.open(index);
                let (id, name) = (owned(block.id), owned(block.name));
                self.head
                    .push_tool_start(out, tool, id, name, String::new());
            }
            Some("text") => {
                let citations = match block.citations {
                    Some(Value::Array(c)) => c,
                    _ => Vec::new(),
                };
                self.text = Some(OpenText {
                    block: index,
                    start: self.content_chars,
                    citations,
                });
                if let Some(t) = block.text.filter(|t| !t.is_empty()) {
                    self.push_content(out, t.into_owned());
                }
            }
            Some("thinking") => self.thinking_start(index, owned(block.thinking), out),
            Some("server_tool_use" | "mcp_tool_use") => self.server_tools.push(index),
            Some("redacted_thinking") => {
                let data = block.data.as_deref().unwrap_or("");
                let detail = encrypted_detail(self.next_reasoning(), data);
                self.push_detail(out, detail);
            }
            _ => {}
        }
    }

    /// A chunk of answer text.
    fn push_content(&mut self, out: &mut Out, text: String) {
        self.content_chars += text.chars().count();
        self.head.push(
            out,
            Delta {
                content: Some(text),
                ..Delta::default()
            },
        );
    }

    /// A text block ends: its URL citations as `annotations`, spanning its
    /// text.
    fn close_text(&mut self, block: u64, out: &mut Out) {
        if self.text.as_ref().is_none_or(|t| t.block != block) {
            return;
        }
        let Some(text) = self.text.take() else { return };
        let found = annotations(&text.citations, text.start, self.content_chars).collect();
        self.head.push_annotations(out, found);
    }

    /// The next reasoning block's `reasoning_details` index.
    fn next_reasoning(&mut self) -> usize {
        self.reasoning_blocks += 1;
        self.reasoning_blocks - 1
    }

    /// A thinking block opens: its text buffers until its signature (or its
    /// end); leading text is sent as reasoning.
    fn thinking_start(&mut self, block: u64, text: Option<String>, out: &mut Out) {
        self.close_thinking(None, None, out);
        let text = text.unwrap_or_default();
        if !text.is_empty() {
            self.head.push(
                out,
                Delta {
                    reasoning_content: Some(text.clone()),
                    ..Delta::default()
                },
            );
        }
        let index = self.next_reasoning();
        self.thinking = Some(OpenThinking { block, index, text });
    }

    /// Sends the open thinking block's entry (with `signature`, if any),
    /// when `block` is it (any open block when `None`).
    fn close_thinking(&mut self, block: Option<u64>, signature: Option<&str>, out: &mut Out) {
        if block.is_some_and(|b| self.thinking.as_ref().is_none_or(|t| t.block != b)) {
            return;
        }
        if let Some(t) = self.thinking.take() {
            let detail = text_detail(t.index, &t.text, signature);
            self.push_detail(out, detail);
        }
    }

    /// A chunk carrying one `reasoning_details` entry.
    fn push_detail(&self, out: &mut Out, detail: Value) {
        self.head.push(
            out,
            Delta {
                reasoning_details: Some(vec![detail]),
                ..Delta::default()
            },
        );
    }

    /// `content_block_delta`: text, reasoning, or tool-call arguments.
    fn block_delta(
        &mut self,
        index: u64,
        delta: Option<BlockDelta<'_>>,
        out: &mut Out,
    ) -> Result<(), ProviderError> {
        let Some(delta) = delta else { return Ok(()) };
        let d = match delta.kind.as_deref() {
            Some("text_delta") => {
                if let Some(t) = owned(delta.text) {
                    self.push_content(out, t);
                }
                return Ok(());
            }
            Some("thinking_delta") => {
                let thinking = owned(delta.thinking);
                if let (Some(open), Some(t)) = (&mut self.thinking, &thinking)
                    && open.block == index
                {
                    open.text.push_str(t);
                }
                Delta {
                    reasoning_content: thinking,
                    ..Delta::default()
                }
            }
            Some("signature_delta") => {
                self.close_thinking(Some(index), delta.signature.as_deref(), out);
                return Ok(());
            }
            Some("input_json_delta") if self.server_tools.contains(&index) => return Ok(()),
            Some("input_json_delta") => {
                let tool = self.tools.get(index).ok_or_else(|| {
                    self.malformed("input_json_delta for a block that is not a tool_use")
                })?;
                self.head
                    .push_arguments(out, tool, owned(delta.partial_json));
                return Ok(());
            }
            Some("citations_delta") => {
                if let (Some(open), Some(c)) = (&mut self.text, delta.citation)
                    && open.block == index
                {
                    open.citations.push(c);
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        self.head.push(out, d);
        Ok(())
    }

    /// `message_delta`: cumulative usage and the finish reason.
    fn message_delta(
        &mut self,
        usage: Option<WireUsage>,
        delta: Option<MessageDelta<'_>>,
        out: &mut Out,
    ) {
        if let Some(u) = usage {
            self.usage.merge(&u);
            self.saw_usage = true;
        }
        if let Some(reason) = delta.and_then(|d| d.stop_reason) {
            self.head.push_finish_native(
                out,
                finish_reason(&reason),
                native_finish_reason(&reason),
            );
        }
    }

    /// `message_stop`: the usage chunk, if usage was seen.
    fn message_stop(&self, out: &mut Out) {
        if self.saw_usage {
            self.head.push_usage(out, self.usage.to_usage());
        }
    }

    /// `error`: the stream ends with the upstream's (sanitised) message.
    /// Without an `error` object, the event itself is the error (its `type`,
    /// see [`Tag`], is the code).
    fn error(&self, error: Option<&Value>, message: Option<&str>, tag: &Tag) -> ProviderError {
        let (message, code) = match (error, tag) {
            (Some(err), _) => (
                err.get("message").and_then(Value::as_str),
                http::short_code(err.get("type")),
            ),
            (None, Tag::Own) => (message, Some("error".to_owned())),
            (None, Tag::Named(own)) => (message, http::short_code(own.as_ref())),
        };
        ProviderError::MidStream {
            provider: self.provider,
            message: crate::error::sanitize(
                message.unwrap_or("stream error"),
                Some(self.secret.expose_secret()),
            ),
            code,
        }
    }
}

impl SseTranslate for AnthropicStream {
    fn event(&mut self, event: SseEvent, out: &mut Out) -> Result<bool, ProviderError> {
        let (data, tag) = lenient::tagged::<Event<'_>>(&event.data, event.event.as_deref())
            .map_err(|e| self.malformed(http::classify(&e)))?;
        match data {
            Event::MessageStart { message } => self.message_start(message, out)?,
            Event::ContentBlockStart {
                index,
                content_block,
            } => self.block_start(index.unwrap_or(0), content_block, out),
            Event::ContentBlockDelta { index, delta } => {
                self.block_delta(index.unwrap_or(0), delta, out)?;
            }
            Event::MessageDelta { usage, delta } => self.message_delta(usage, delta, out),
            Event::MessageStop => {
                self.message_stop(out);
                return Ok(true);
            }
            Event::Error { error, message } => {
                return Err(self.error(error.as_ref(), message.as_deref(), &tag));
            }
            Event::ContentBlockStop { index } => {
                let index = index.unwrap_or(0);
                self.close_thinking(Some(index), None, out);
                self.close_text(index, out);
            }
            Event::Ping | Event::Unknown => {}
        }
        Ok(false)
    }

    fn eof(&mut self, _out: &mut Out) -> Result<(), ProviderError> {
        http::truncated(self.provider)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::stream::StreamEvent;
    use crate::types::Usage;

    fn run(events: &[(Option<&str>, &str)]) -> (Vec<StreamEvent>, Option<ProviderError>) {
        let mut s = AnthropicStream::new(ProviderId::Anthropic, true, SecretString::from("k"));
        let mut out = Out::new();
        for (name, data) in events {
            let e = SseEvent {
                event: name.map(str::to_owned),
                data: (*data).to_owned(),
            };
            match s.event(e, &mut out) {
                Ok(false) => {}
                Ok(true) => break,
                Err(e) => return (out.into_iter().map(Result::unwrap).collect(), Some(e)),
            }
        }
        (out.into_iter().map(Result::unwrap).collect(), None)
    }

    #[test]
    fn untyped_data_is_named_by_the_sse_event_and_odd_fields_read_as_absent() {
        let (chunks, err) = run(&[
            (Some("message_start"), r#"{"message":{"id":7,"model":"m"}}"#),
            (
                None,
                r#"{"type":"content_block_start","index":"0","content_block":{"type":0}}"#,
            ),
            (
                None,
                r#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"hi"}}"#,
            ),
            (None, r#"{"type":"future_event","x":[1]}"#),
            (Some("error"), r#"{"message":"boom"}"#),
        ]);
        assert_eq!(chunks.len(), 2, "role chunk, then the text");
        assert!(matches!(
            err,
            Some(ProviderError::MidStream { ref message, code: None, .. }) if message == "boom"
        ));
    }

    /// A `message_delta` with input and cache counts of 0 after
    /// `message_start` gave them: the translated stream and the
    /// pass-through reader bill the same (the counts of `message_start`,
    /// the last `output_tokens`).
    #[test]
    fn zero_input_counts_in_message_delta_bill_the_same_on_both_paths() {
        let events = [
            r#"{"type":"message_start","message":{"id":"m","model":"claude-sonnet-4-5","usage":{"input_tokens":25,"cache_read_input_tokens":300,"cache_creation_input_tokens":40,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":0,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"output_tokens":12}}"#,
            r#"{"type":"message_stop"}"#,
        ];
        let (chunks, err) = run(&events.map(|e| (None, e)));
        assert!(err.is_none());
        let translated: Vec<Usage> = chunks
            .into_iter()
            .filter_map(|c| match c {
                StreamEvent::Chunk(c) => c.usage,
                _ => None,
            })
            .collect();
        let mut reader = crate::inbound::messages::UsageReader::new();
        for e in events {
            let name = serde_json::from_str::<Value>(e).unwrap()["type"].clone();
            reader.push(format!("event: {}\ndata: {e}\n\n", name.as_str().unwrap()).as_bytes());
        }
        let passed = reader.finish().unwrap();
        assert_eq!(translated, std::slice::from_ref(&passed));
        assert_eq!(
            (
                passed.prompt_tokens,
                passed.completion_tokens,
                passed.cached_tokens(),
                passed.cache_write_tokens()
            ),
            (25 + 300 + 40, 12, 300, 40)
        );
    }

    #[test]
    fn a_thinking_block_without_signature_is_sent_unsigned_at_its_end() {
        let (chunks, err) = run(&[
            (
                None,
                r#"{"type":"message_start","message":{"id":"m","model":"m"}}"#,
            ),
            (
                None,
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"a"}}"#,
            ),
            (
                None,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"b"}}"#,
            ),
            (None, r#"{"type":"content_block_stop","index":0}"#),
            (None, r#"{"type":"message_stop"}"#),
        ]);
        assert!(err.is_none());
        let details: Vec<Value> = chunks
            .into_iter()
            .filter_map(|c| match c {
                StreamEvent::Chunk(c) => c.choices.into_iter().next(),
                _ => None,
            })
            .filter_map(|c| c.delta.reasoning_details)
            .flatten()
            .collect();
        assert_eq!(
            details,
            [
                serde_json::json!({"type": "reasoning.text", "text": "ab", "format": "anthropic-claude-v1", "index": 0})
            ]
        );
    }
}
