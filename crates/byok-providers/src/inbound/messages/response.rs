//! Neutral [`ChatResponse`] → Anthropic Messages answer.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde_json::{Map, Value};

use super::Parsed;
use super::reasoning::{ReasoningBlock, block_of};
use super::request::RAW_ARGUMENTS;
use crate::translators::anthropic::{WireUsage, stop_reason_of};
use crate::types::{ChatResponse, FinishReason, ResponseMessage, ToolCall, Usage};

/// A content block of an answer (and the start of a streamed one).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Block<'a> {
    /// Text.
    Text {
        /// The text.
        text: &'a str,
    },
    /// Reasoning.
    Thinking {
        /// Its text.
        thinking: &'a str,
        /// Its signature (empty when the provider gave none).
        signature: &'a str,
    },
    /// Encrypted reasoning.
    RedactedThinking {
        /// The encrypted data.
        data: &'a str,
    },
    /// A tool call.
    ToolUse {
        /// Its id.
        id: &'a str,
        /// The tool's name.
        name: &'a str,
        /// Its arguments as an object.
        input: Value,
    },
}

impl<'a> Block<'a> {
    /// The block for a reasoning entry.
    pub(super) fn reasoning(block: &'a ReasoningBlock<'a>) -> Self {
        match block {
            ReasoningBlock::Thinking { text, signature } => Block::Thinking {
                thinking: text,
                signature,
            },
            ReasoningBlock::Redacted { data } => Block::RedactedThinking { data },
        }
    }
}

#[derive(Debug, Serialize)]
struct WireMessage<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block<'a>>,
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
    usage: WireUsage,
}

/// The answer in Anthropic's shape (see the module docs for the mapping).
pub fn encode_response(response: &ChatResponse, parsed: &Parsed) -> Vec<u8> {
    let choice = response.choices.first();
    let message = choice.map(|c| &c.message);
    let reasoning: Vec<ReasoningBlock<'_>> = message
        .and_then(|m| m.reasoning_details.as_deref())
        .into_iter()
        .flatten()
        .filter_map(block_of)
        .collect();
    let mut content = Vec::new();
    if let Some(m) = message {
        push_blocks(m, &reasoning, &mut content);
    }
    let (stop_reason, stop_sequence) = match choice {
        Some(c) => stop_reason(
            c.finish_reason,
            c.extra.get("stop_reason"),
            &parsed.stop_sequences,
            has_calls(message),
        ),
        None => ("end_turn", None),
    };
    let wire = WireMessage {
        id: message_id(&response.id),
        kind: "message",
        role: "assistant",
        model: &parsed.model,
        content,
        stop_reason,
        stop_sequence,
        usage: response
            .usage
            .as_ref()
            .map_or_else(|| WireUsage::of(&Usage::default()), WireUsage::of),
    };
    serde_json::to_vec(&wire).unwrap_or_default()
}

fn has_calls(message: Option<&ResponseMessage>) -> bool {
    message
        .and_then(|m| m.tool_calls.as_ref())
        .is_some_and(|c| !c.is_empty())
}

/// The content blocks in order: reasoning, text (or the refusal's text
/// when there is no text), tool calls.
fn push_blocks<'a>(
    m: &'a ResponseMessage,
    reasoning: &'a [ReasoningBlock<'a>],
    out: &mut Vec<Block<'a>>,
) {
    let covered = reasoning
        .iter()
        .any(|b| matches!(b, ReasoningBlock::Thinking { .. }));
    if let Some(text) = m.reasoning_text().filter(|t| !t.is_empty() && !covered) {
        out.push(Block::Thinking {
            thinking: text,
            signature: "",
        });
    }
    out.extend(reasoning.iter().map(Block::reasoning));
    let text = m
        .content
        .as_deref()
        .filter(|t| !t.is_empty())
        .or(m.refusal.as_deref());
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        out.push(Block::Text { text });
    }
    for call in m.tool_calls.iter().flatten() {
        out.push(Block::ToolUse {
            id: &call.id,
            name: &call.function.name,
            input: input_of(call),
        });
    }
}

/// A call's arguments as the `input` object: `{}` when empty, the object
/// when they are one, else (not JSON, or not an object) the text whole
/// under `_raw_arguments`, which the request side turns back into the same
/// text: nothing is lost or invented.
pub(super) fn input_of(call: &ToolCall) -> Value {
    let args = call.function.arguments.trim();
    if args.is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(args) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let mut m = Map::new();
            m.insert(
                RAW_ARGUMENTS.to_owned(),
                Value::from(call.function.arguments.as_str()),
            );
            Value::Object(m)
        }
    }
}

/// The Anthropic stop reason ([`stop_reason_of`], the translator's table
/// read backwards), and the stop sequence when known (an
/// OpenAI-compatible server such as vLLM names the matched one in the
/// choice's `stop_reason`; it counts only when the client asked for it).
/// Without a finish reason: `tool_use` after tool calls, else `end_turn`.
pub(super) fn stop_reason<'a>(
    finish: Option<FinishReason>,
    native: Option<&'a Value>,
    stop_sequences: &[String],
    called: bool,
) -> (&'static str, Option<&'a str>) {
    match finish {
        Some(FinishReason::Stop) | None => {
            let matched = native
                .and_then(Value::as_str)
                .filter(|s| stop_sequences.iter().any(|q| q == s));
            match matched {
                Some(s) => ("stop_sequence", Some(s)),
                None if finish.is_none() && called => ("tool_use", None),
                None => ("end_turn", None),
            }
        }
        Some(other) => (stop_reason_of(other), None),
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `msg_…` from the neutral id: an id already starting with `msg_` as it
/// is, else `msg_` and the id's `[A-Za-z0-9_-]` characters (at most 64); a
/// fresh one when nothing is left.
pub(super) fn message_id(neutral: &str) -> String {
    if neutral.starts_with("msg_") && neutral.len() <= 128 {
        return neutral.to_owned();
    }
    let kept: String = neutral
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(64)
        .collect();
    if !kept.is_empty() {
        return format!("msg_{kept}");
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("msg_byok{nanos:x}{n:x}")
}
