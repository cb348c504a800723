//! Neutral chunks → Anthropic's stream events.

use std::collections::VecDeque;

use serde::Serialize;
use serde_json::{Map, Value};

use super::Parsed;
use super::error_type;
use super::reasoning::{
    ReasoningBlock, block_of, block_of_map, is_foreign, merge, piece_text, same_entry, signed,
};
use super::response::{Block, message_id, stop_reason};
use crate::translators::anthropic::WireUsage;
use crate::types::{ChatChunk, ChunkChoice, FinishReason, ToolCallDelta, Usage};

/// One event of Anthropic's stream.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: Head<'a>,
    },
    ContentBlockStart {
        index: u32,
        content_block: Block<'a>,
    },
    ContentBlockDelta {
        index: u32,
        delta: BlockDelta<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: StopDelta<'a>,
        /// The cumulative output, and the input counts when known (as
        /// newer Anthropic streams send them).
        usage: WireUsage,
    },
    MessageStop,
    Error {
        error: ErrorBody<'a>,
    },
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message_start",
            Event::ContentBlockStart { .. } => "content_block_start",
            Event::ContentBlockDelta { .. } => "content_block_delta",
            Event::ContentBlockStop { .. } => "content_block_stop",
            Event::MessageDelta { .. } => "message_delta",
            Event::MessageStop => "message_stop",
            Event::Error { .. } => "error",
        }
    }
}

#[derive(Debug, Serialize)]
struct Head<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<()>,
    stop_sequence: Option<()>,
    usage: WireUsage,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type")]
enum BlockDelta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Debug, Serialize)]
struct StopDelta<'a> {
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

/// The content block being streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Text,
    Thinking,
    /// The tool call of this neutral index.
    Tool(u32),
}

/// A tool call started while another call's block was open with its
/// arguments incomplete: held, its fragments gathered, until that block
/// closes.
#[derive(Debug)]
struct Held {
    index: u32,
    id: String,
    name: String,
    args: String,
}

/// A foreign `reasoning_details` entry being put together from its
/// streamed pieces (see [`same_entry`]).
#[derive(Debug)]
struct Pending {
    /// The entry so far (its text kept only when not `attached`).
    entry: Map<String, Value>,
    /// Its text streams in the open thinking block (it came with text);
    /// else it is written whole when complete.
    attached: bool,
}

/// Writes Anthropic's stream for a sequence of neutral chunks.
///
/// Events: `message_start` (usage as known then, else zeros) on the first
/// chunk; content blocks in the order their deltas arrive, one open at a
/// time, numbered from 0: `text` (`text_delta`), `thinking`
/// (`thinking_delta`, then `signature_delta` when its `reasoning_details`
/// entry arrives with a signature, which closes it; unsigned entries, such
/// as OpenRouter's fragments, leave it open), `redacted_thinking` (whole at its
/// start), `tool_use` (`input: {}` at its start, then `input_json_delta`
/// with the argument fragments as they came); the open block is closed
/// when another kind starts. [`StreamEncoder::finish`] closes the last
/// block and writes `message_delta` (stop reason, usage with output and
/// input counts) and `message_stop`. A refusal streams as text.
///
/// Foreign reasoning entries (tagged, see the `reasoning` module) may come
/// in pieces of one `format`, `type` and `index` (Bedrock: text pieces,
/// then the signature alone): the pieces make one block, its text streamed
/// as it comes, written when complete: when a signature arrives, an entry
/// of another index, format or type, a reasoning delta without a piece of
/// it, another kind of block, or the end.
///
/// Parallel tool calls whose fragments interleave (call 0 starts, call 1
/// starts, call 0 goes on) keep their fragments: a call starting while the
/// open call's arguments are not yet complete JSON is held, its fragments
/// gathered; when the open block closes, the held calls follow, complete
/// ones whole (one `input_json_delta`), the first incomplete one open and
/// streaming on. At the end, every held call is written whole. Fragments
/// for a call whose block was already closed (its arguments were complete
/// JSON, or another kind of block came in between) are dropped.
#[derive(Debug)]
pub struct StreamEncoder {
    model: String,
    stop_sequences: Vec<String>,
    id: String,
    started: bool,
    done: bool,
    next: u32,
    open: Open,
    /// The open thinking block's text came as reasoning deltas (its
    /// entries' text is then the same text, not to be repeated).
    fed_by_deltas: bool,
    /// Neutral indexes of the tool calls already started.
    tools: Vec<u32>,
    /// The open tool call's arguments so far.
    args: String,
    /// Whether they are complete JSON (`None`: not checked since they grew).
    args_complete: Option<bool>,
    /// Tool calls held behind the open one, in the order they started.
    held: VecDeque<Held>,
    /// The foreign reasoning entry being put together.
    pending: Option<Pending>,
    finish: Option<FinishReason>,
    stop_sequence: Option<String>,
    usage: Option<Usage>,
}

impl StreamEncoder {
    /// An encoder for the answer to `parsed`.
    pub fn new(parsed: &Parsed) -> Self {
        Self {
            model: parsed.model.clone(),
            stop_sequences: parsed.stop_sequences.clone(),
            id: String::new(),
            started: false,
            done: false,
            next: 0,
            open: Open::None,
            fed_by_deltas: false,
            tools: Vec::new(),
            args: String::new(),
            args_complete: None,
            held: VecDeque::new(),
            pending: None,
            finish: None,
            stop_sequence: None,
            usage: None,
        }
    }

    /// Appends the events for `chunk` to `out` (choice 0 only: the request
    /// asked for one).
    pub fn push(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.clone());
        }
        if !self.started {
            self.start(&chunk.id, out);
        }
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            self.choice(choice, out);
        }
    }

    /// Records the usage the provider reported outside the chunks (the
    /// stream's [`UsageReport`](crate::UsageReport)), for `message_delta`;
    /// call it before [`StreamEncoder::finish`]. A usage chunk does the
    /// same by itself.
    pub fn set_usage(&mut self, usage: &Usage) {
        self.usage = Some(usage.clone());
    }

    /// Appends the closing events: the open block's stop, `message_delta`
    /// and `message_stop` (a `message_start` first when no chunk came).
    /// Called once after the last chunk; closes cleanly without a finish
    /// reason (`tool_use` after tool calls, else `end_turn`).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if !self.started {
            self.start("", out);
        }
        self.close(out);
        while let Some(call) = self.held.pop_front() {
            self.whole_tool(&call, out);
        }
        let native = self.stop_sequence.take().map(Value::String);
        let (stop_reason, stop_sequence) = stop_reason(
            self.finish,
            native.as_ref(),
            &self.stop_sequences,
            !self.tools.is_empty(),
        );
        let usage = match &self.usage {
            Some(u) => WireUsage::of(u),
            None => WireUsage {
                output_tokens: Some(0),
                ..WireUsage::default()
            },
        };
        emit(
            out,
            &Event::MessageDelta {
                delta: StopDelta {
                    stop_reason,
                    stop_sequence,
                },
                usage,
            },
        );
        emit(out, &Event::MessageStop);
        self.done = true;
    }

    /// Appends an `error` event for a failure mid-stream (`status` picks
    /// Anthropic's error type, as [`super::error_body`] does); nothing is
    /// written after it.
    pub fn error(&mut self, status: u16, message: &str, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        emit(
            out,
            &Event::Error {
                error: ErrorBody {
                    kind: error_type(status),
                    message,
                },
            },
        );
        self.done = true;
    }

    fn start(&mut self, neutral_id: &str, out: &mut Vec<u8>) {
        self.started = true;
        self.id = message_id(neutral_id);
        let usage = WireUsage::of(self.usage.as_ref().unwrap_or(&Usage::default()));
        emit(
            out,
            &Event::MessageStart {
                message: Head {
                    id: &self.id,
                    kind: "message",
                    role: "assistant",
                    model: &self.model,
                    content: [],
                    stop_reason: None,
                    stop_sequence: None,
                    usage,
                },
            },
        );
    }

    fn choice(&mut self, choice: &ChunkChoice, out: &mut Vec<u8>) {
        let delta = &choice.delta;
        if let Some(t) = delta.reasoning_text().filter(|t| !t.is_empty()) {
            self.before_reasoning(delta.reasoning_details.as_deref(), out);
            self.ensure(Open::Thinking, out);
            self.fed_by_deltas = true;
            self.delta(BlockDelta::Thinking { thinking: t }, out);
        }
        for entry in delta.reasoning_details.iter().flatten() {
            match entry.as_object() {
                Some(map) if is_foreign(map) => self.piece(map, out),
                _ => {
                    if let Some(block) = block_of(entry) {
                        self.entry(&block, out);
                    }
                }
            }
        }
        for t in [&delta.content, &delta.refusal].into_iter().flatten() {
            if !t.is_empty() {
                self.ensure(Open::Text, out);
                self.delta(BlockDelta::Text { text: t }, out);
            }
        }
        for call in delta.tool_calls.iter().flatten() {
            self.tool(call, out);
        }
        if let Some(f) = choice.finish_reason {
            self.finish = Some(f);
        }
        if let Some(s) = choice.extra.get("stop_reason").and_then(Value::as_str) {
            self.stop_sequence = Some(s.to_owned());
        }
    }

    /// Before a reasoning delta: the pending foreign entry is complete
    /// unless the delta's chunk carries a piece of it (Bedrock sends each
    /// piece with its text; a delta without one starts another block).
    fn before_reasoning(&mut self, details: Option<&[Value]>, out: &mut Vec<u8>) {
        let Some(p) = &self.pending else { return };
        let continues = details
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .any(|m| same_entry(&p.entry, m));
        if !continues {
            self.close(out);
        }
    }

    /// An entry in Anthropic's own format. A text-bearing one belongs to
    /// the thinking block being streamed (or opens one): its text is
    /// written unless reasoning deltas already carried it, and its
    /// signature, when it has one, is the block's `signature_delta` and
    /// closes it. Unsigned entries leave the block open: they are either
    /// complete entries of a block that cannot be replayed anyway, or
    /// fragments (OpenRouter streams a thinking block as unsigned pieces,
    /// the signature in the last). An encrypted one is a whole
    /// `redacted_thinking` block.
    fn entry(&mut self, block: &ReasoningBlock<'_>, out: &mut Vec<u8>) {
        if self.pending.is_some() {
            self.close(out);
        }
        match block {
            ReasoningBlock::Thinking { text, signature } => {
                if self.open != Open::Thinking {
                    self.ensure(Open::Thinking, out);
                    self.fed_by_deltas = false;
                }
                if !self.fed_by_deltas && !text.is_empty() {
                    self.delta(BlockDelta::Thinking { thinking: text }, out);
                }
                if !signature.is_empty() {
                    self.delta(BlockDelta::Signature { signature }, out);
                    self.close(out);
                }
            }
            ReasoningBlock::Redacted { .. } => {
                self.close(out);
                self.whole(block, out);
            }
        }
    }

    /// A piece of a foreign entry: added to the pending entry when it is
    /// one of its pieces (the pending one is complete otherwise), its text
    /// streamed; a signature completes the entry.
    fn piece(&mut self, piece: &Map<String, Value>, out: &mut Vec<u8>) {
        if self
            .pending
            .as_ref()
            .is_some_and(|p| !same_entry(&p.entry, piece))
        {
            self.close(out);
        }
        match &mut self.pending {
            Some(p) => {
                merge(&mut p.entry, piece, !p.attached);
                let attached = p.attached;
                let text = piece_text(piece).filter(|t| !t.is_empty());
                if let Some(thinking) = text.filter(|_| attached && !self.fed_by_deltas) {
                    self.delta(BlockDelta::Thinking { thinking }, out);
                }
            }
            None => self.begin(piece, out),
        }
        if signed(piece) {
            self.close(out);
        }
    }

    /// The first piece of a foreign entry. With text, it streams in the
    /// thinking block open with reasoning deltas, or in a new one; without,
    /// it is held (after the open block, unless that is such a thinking
    /// block) and written whole when complete.
    fn begin(&mut self, piece: &Map<String, Value>, out: &mut Vec<u8>) {
        let text = piece_text(piece);
        let fed = self.open == Open::Thinking && self.fed_by_deltas;
        if !fed {
            self.close(out);
        }
        if let Some(text) = text.filter(|_| !fed) {
            self.ensure(Open::Thinking, out);
            self.fed_by_deltas = false;
            if !text.is_empty() {
                self.delta(BlockDelta::Thinking { thinking: text }, out);
            }
        }
        // With text, its text is in the block: the entry keeps none.
        let mut entry = Map::new();
        merge(&mut entry, piece, false);
        self.pending = Some(Pending {
            entry,
            attached: text.is_some(),
        });
    }

    /// Writes the pending foreign entry: the open thinking block's
    /// signature (and closes it) when its text streamed there, else whole.
    fn settle(&mut self, out: &mut Vec<u8>) {
        let Some(p) = self.pending.take() else { return };
        let block = block_of_map(&p.entry);
        if p.attached {
            if let ReasoningBlock::Thinking { signature, .. } = &block {
                self.delta(BlockDelta::Signature { signature }, out);
            }
            self.close_block(out);
        } else {
            self.close_block(out);
            self.whole(&block, out);
        }
    }

    /// A whole reasoning block: start, its text and signature, stop.
    fn whole(&mut self, block: &ReasoningBlock<'_>, out: &mut Vec<u8>) {
        let index = self.next;
        self.next += 1;
        match block {
            ReasoningBlock::Thinking { text, signature } => {
                emit(
                    out,
                    &Event::ContentBlockStart {
                        index,
                        content_block: Block::Thinking {
                            thinking: "",
                            signature: "",
                        },
                    },
                );
                if !text.is_empty() {
                    let delta = BlockDelta::Thinking { thinking: text };
                    emit(out, &Event::ContentBlockDelta { index, delta });
                }
                if !signature.is_empty() {
                    let delta = BlockDelta::Signature { signature };
                    emit(out, &Event::ContentBlockDelta { index, delta });
                }
            }
            ReasoningBlock::Redacted { data } => emit(
                out,
                &Event::ContentBlockStart {
                    index,
                    content_block: Block::RedactedThinking { data },
                },
            ),
        }
        emit(out, &Event::ContentBlockStop { index });
    }

    /// A tool-call delta: its fragment streams when its block is open, is
    /// gathered when it is held, and a new call opens its block unless the
    /// open call's arguments are incomplete (then it is held).
    fn tool(&mut self, call: &ToolCallDelta, out: &mut Vec<u8>) {
        let function = call.function.as_ref();
        let fragment = function.and_then(|f| f.arguments.as_deref()).unwrap_or("");
        if self.open == Open::Tool(call.index) {
            self.args.push_str(fragment);
            self.args_complete = None;
            if !fragment.is_empty() {
                let delta = BlockDelta::InputJson {
                    partial_json: fragment,
                };
                self.delta(delta, out);
            }
            return;
        }
        if let Some(h) = self.held.iter_mut().find(|h| h.index == call.index) {
            h.args.push_str(fragment);
            if h.id.is_empty() {
                h.id = call.id.clone().unwrap_or_default();
            }
            if h.name.is_empty() {
                h.name = function.and_then(|f| f.name.clone()).unwrap_or_default();
            }
        } else if self.tools.contains(&call.index) {
            return;
        } else {
            self.tools.push(call.index);
            self.held.push_back(Held {
                index: call.index,
                id: call.id.clone().unwrap_or_default(),
                name: function.and_then(|f| f.name.clone()).unwrap_or_default(),
                args: fragment.to_owned(),
            });
        }
        if !self.open_call_incomplete() {
            self.close(out);
            self.release(out);
        }
    }

    /// Whether a tool call's block is open with its arguments not yet
    /// complete JSON.
    fn open_call_incomplete(&mut self) -> bool {
        if !matches!(self.open, Open::Tool(_)) {
            return false;
        }
        let args = &self.args;
        !*self.args_complete.get_or_insert_with(|| complete(args))
    }

    /// With no block open: the held calls in order, complete ones whole,
    /// the first incomplete one opened (its arguments so far as its first
    /// delta) to stream on.
    fn release(&mut self, out: &mut Vec<u8>) {
        while let Some(call) = self.held.pop_front() {
            if !complete(&call.args) {
                self.open_tool(call, out);
                return;
            }
            self.whole_tool(&call, out);
        }
    }

    fn tool_start(&self, call: &Held, out: &mut Vec<u8>) {
        emit(
            out,
            &Event::ContentBlockStart {
                index: self.next,
                content_block: Block::ToolUse {
                    id: &call.id,
                    name: &call.name,
                    input: Value::Object(Map::new()),
                },
            },
        );
        if !call.args.is_empty() {
            let partial_json = &call.args;
            self.delta(BlockDelta::InputJson { partial_json }, out);
        }
    }

    /// Opens the block of `call`, streaming.
    fn open_tool(&mut self, call: Held, out: &mut Vec<u8>) {
        self.tool_start(&call, out);
        self.open = Open::Tool(call.index);
        self.args = call.args;
        self.args_complete = None;
    }

    /// The block of `call`, whole.
    fn whole_tool(&mut self, call: &Held, out: &mut Vec<u8>) {
        self.tool_start(call, out);
        emit(out, &Event::ContentBlockStop { index: self.next });
        self.next += 1;
    }

    /// Opens a text or thinking block unless one is open.
    fn ensure(&mut self, kind: Open, out: &mut Vec<u8>) {
        if self.open == kind {
            return;
        }
        self.close(out);
        let content_block = match kind {
            Open::Thinking => Block::Thinking {
                thinking: "",
                signature: "",
            },
            _ => Block::Text { text: "" },
        };
        emit(
            out,
            &Event::ContentBlockStart {
                index: self.next,
                content_block,
            },
        );
        self.open = kind;
    }

    fn delta(&self, delta: BlockDelta<'_>, out: &mut Vec<u8>) {
        emit(
            out,
            &Event::ContentBlockDelta {
                index: self.next,
                delta,
            },
        );
    }

    /// Writes the pending foreign reasoning entry and closes the open
    /// block, if any.
    fn close(&mut self, out: &mut Vec<u8>) {
        self.settle(out);
        self.close_block(out);
    }

    /// Closes the open block, if any.
    fn close_block(&mut self, out: &mut Vec<u8>) {
        if self.open == Open::None {
            return;
        }
        emit(out, &Event::ContentBlockStop { index: self.next });
        self.next += 1;
        self.open = Open::None;
    }
}

/// Whether tool-call arguments are complete JSON.
fn complete(args: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(args).is_ok()
}

/// Appends `event: name\ndata: json\n\n` (nothing if serialising fails,
/// which the typed events cannot).
fn emit(out: &mut Vec<u8>, event: &Event<'_>) {
    let mark = out.len();
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.name().as_bytes());
    out.extend_from_slice(b"\ndata: ");
    if serde_json::to_writer(&mut *out, event).is_err() {
        out.truncate(mark);
        return;
    }
    out.extend_from_slice(b"\n\n");
}
