//! OpenAI Responses answer → neutral [`ChatResponse`].
//!
//! The same typed view of a response object serves the plain answer and the
//! stream's `response.*` events.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::REASONING_FORMAT;
use super::stop::Stops;
use crate::common::now_secs;
use crate::error::ProviderError;
use crate::http;
use crate::id::ProviderId;
use crate::translators::lenient;
use crate::translators::{Answer, Counts, function_call};
use crate::types::{ChatResponse, FinishReason, Usage};

/// A Responses `response` object (the fields the gateway reads).
#[derive(Deserialize, Default)]
pub(super) struct WireResponse<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    pub(super) id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    pub(super) model: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient::i64")]
    pub(super) created_at: Option<i64>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    incomplete_details: Option<IncompleteDetails<'a>>,
    #[serde(default, deserialize_with = "lenient::obj")]
    usage: Option<WireUsage>,
    #[serde(default, borrow, deserialize_with = "lenient::list")]
    output: Vec<OutputItem<'a>>,
    /// `response.failed`: the error object.
    #[serde(default, deserialize_with = "lenient::present")]
    pub(super) error: Option<Value>,
}

#[derive(Deserialize)]
struct IncompleteDetails<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    reason: Option<Cow<'a, str>>,
}

/// A Responses `usage` object, each count leniently (a count of the wrong
/// type reads as absent). Read by this translator and by the pass-through
/// reader ([`crate::inbound::responses::UsageReader`]), so both bill the
/// same.
#[derive(Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default, deserialize_with = "lenient::u64")]
    input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64")]
    output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64")]
    total_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient::obj")]
    input_tokens_details: Option<InputDetails>,
    #[serde(default, deserialize_with = "lenient::obj")]
    output_tokens_details: Option<OutputDetails>,
}

impl WireUsage {
    /// In OpenAI's terms: `input_tokens` (cached ones included) → prompt
    /// tokens, `output_tokens` (reasoning included) → completion tokens; the
    /// total as reported, else their sum.
    pub(crate) fn to_usage(&self) -> Usage {
        let input = self.input_tokens.unwrap_or(0);
        let output = self.output_tokens.unwrap_or(0);
        let counts = Counts {
            prompt: input,
            completion: output,
            cached: self
                .input_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            cache_write: None,
            reasoning: Some(
                self.output_tokens_details
                    .as_ref()
                    .and_then(|d| d.reasoning_tokens)
                    .unwrap_or(0),
            ),
        };
        let mut usage = counts.usage();
        usage.total_tokens = self.total_tokens.unwrap_or(input.saturating_add(output));
        usage
    }
}

#[derive(Deserialize)]
struct InputDetails {
    #[serde(default, deserialize_with = "lenient::u64")]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct OutputDetails {
    #[serde(default, deserialize_with = "lenient::u64")]
    reasoning_tokens: Option<u64>,
}

/// An output item: `message`, `function_call` or `reasoning` (others are
/// ignored).
#[derive(Deserialize)]
pub(super) struct OutputItem<'a> {
    #[serde(rename = "type", default, borrow, deserialize_with = "lenient::str")]
    pub(super) kind: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    id: Option<Cow<'a, str>>,
    /// A reasoning item's opaque reasoning (asked for with `include`).
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    encrypted_content: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    pub(super) call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    pub(super) name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    pub(super) arguments: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::list")]
    content: Vec<ContentPart<'a>>,
    #[serde(default, borrow, deserialize_with = "lenient::list")]
    summary: Vec<SummaryPart<'a>>,
}

/// A message's content part: `output_text` or `refusal`.
#[derive(Deserialize)]
struct ContentPart<'a> {
    #[serde(rename = "type", default, borrow, deserialize_with = "lenient::str")]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    refusal: Option<Cow<'a, str>>,
    /// `output_text` citations (`url_citation`, `file_citation`, ...).
    #[serde(default, deserialize_with = "lenient::list")]
    annotations: Vec<Value>,
}

#[derive(Deserialize)]
struct SummaryPart<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    text: Option<Cow<'a, str>>,
}

impl WireResponse<'_> {
    /// Usage in OpenAI's terms (`None` without a usage object).
    pub(super) fn usage(&self) -> Option<Usage> {
        self.usage.as_ref().map(WireUsage::to_usage)
    }

    /// The finish reason: `incomplete` is a length (or content-filter) stop
    /// ([`INCOMPLETE_REASONS`]; a length stop without a known reason).
    pub(super) fn finish(&self, saw_tool_call: bool) -> FinishReason {
        match self.status.as_deref() {
            Some("incomplete") => {
                let reason = self
                    .incomplete_details
                    .as_ref()
                    .and_then(|d| d.reason.as_deref());
                INCOMPLETE_REASONS
                    .iter()
                    .find(|(name, _)| Some(*name) == reason)
                    .map_or(FinishReason::Length, |(_, finish)| *finish)
            }
            _ if saw_tool_call => FinishReason::ToolCalls,
            _ => FinishReason::Stop,
        }
    }
}

/// Responses `incomplete_details.reason`s and their finish reasons, read
/// both ways: by this translator (an `incomplete` response's reason → its
/// finish reason, [`WireResponse::finish`]) and by the inbound Responses
/// encoder (a finish reason → the status, [`incomplete_reason`]).
pub(crate) const INCOMPLETE_REASONS: &[(&str, FinishReason)] = &[
    ("max_output_tokens", FinishReason::Length),
    ("content_filter", FinishReason::ContentFilter),
];

/// The `incomplete_details.reason` a finish reason is written as
/// ([`INCOMPLETE_REASONS`]); `None` for a complete answer.
pub(crate) fn incomplete_reason(finish: FinishReason) -> Option<&'static str> {
    INCOMPLETE_REASONS
        .iter()
        .find(|(_, f)| *f == finish)
        .map(|(name, _)| *name)
}

/// A reasoning item's `reasoning_details` entries, numbered from `start`:
/// one `reasoning.summary` per summary part, then `reasoning.encrypted`
/// with the encrypted content (when asked for); each carries the item id,
/// which groups them back into one item on the next turn.
pub(super) fn reasoning_details(item: &OutputItem<'_>, start: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut push = |mut entry: Value| {
        entry["format"] = json!(REASONING_FORMAT);
        entry["index"] = json!(start + out.len());
        if let Some(id) = &item.id {
            entry["id"] = json!(id);
        }
        out.push(entry);
    };
    for s in &item.summary {
        push(json!({"type": "reasoning.summary", "summary": s.text.as_deref().unwrap_or("")}));
    }
    if let Some(data) = &item.encrypted_content {
        push(json!({"type": "reasoning.encrypted", "data": data}));
    }
    out
}

/// [`reasoning_details`] of a reasoning item given as JSON (a Responses
/// `input` item replayed by a client), numbered from `start`: the entries
/// of the message's earlier reasoning items come first.
pub(crate) fn reasoning_item_details(item: &Value, start: usize) -> Vec<Value> {
    // The fields read leniently: only a non-object fails, giving nothing.
    OutputItem::deserialize(item).map_or_else(|_| Vec::new(), |i| reasoning_details(&i, start))
}

/// A Responses annotation in the chat shape, `{"type": t, t: {...}}`
/// (`url_citation`: `url`, `title`, `start_index`, `end_index`; other kinds
/// keep their own fields), indices moved by `offset`: where its text part
/// starts in the answer's content, in characters.
pub(super) fn annotation(raw: &Value, offset: usize) -> Option<Value> {
    let map = raw.as_object()?;
    let kind = map.get("type")?.as_str()?;
    let mut inner = Map::new();
    for (key, value) in map {
        let moved = match (key.as_str(), value.as_u64()) {
            ("type", _) => continue,
            ("start_index" | "end_index", Some(i)) => json!(i.saturating_add(offset as u64)),
            _ => value.clone(),
        };
        inner.insert(key.clone(), moved);
    }
    let mut out = Map::new();
    out.insert("type".into(), json!(kind));
    out.insert(kind.to_owned(), Value::Object(inner));
    Some(Value::Object(out))
}

/// The inverse of [`annotation`] (offset aside): a chat annotation
/// `{"type": t, t: {...}}` as a Responses one, its inner keys flat beside
/// `type`; a `url_citation` always has `url`, `title`, `start_index` and
/// `end_index` (null when missing). Anything else as it is.
pub(crate) fn flat_annotation(chat: &Value) -> Value {
    let Some(kind) = chat.get("type").and_then(Value::as_str) else {
        return chat.clone();
    };
    let Some(Value::Object(inner)) = chat.get(kind) else {
        return chat.clone();
    };
    let mut flat = Map::new();
    flat.insert("type".into(), json!(kind));
    if kind == "url_citation" {
        for key in ["url", "title", "start_index", "end_index"] {
            flat.insert(key.into(), inner.get(key).cloned().unwrap_or(Value::Null));
        }
    }
    for (key, value) in inner {
        flat.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Value::Object(flat)
}

/// What the output items say, in order.
#[derive(Default)]
struct Collected {
    answer: Answer,
    /// Characters of `answer.text`.
    text_chars: usize,
    /// A stop sequence cut the text; nothing after it counts.
    stopped: bool,
}

impl Collected {
    /// A message item's text (cut at a stop sequence), citations, refusal.
    fn message(&mut self, item: &OutputItem<'_>, stops: Option<&Stops>) {
        for part in &item.content {
            match part.kind.as_deref() {
                Some("output_text") => {
                    let text = part.text.as_deref().unwrap_or("");
                    let at = self.answer.text.len();
                    self.answer.text.push_str(text);
                    if let Some(s) = stops {
                        let all = &self.answer.text;
                        if let Some(cut) = s.find(all, s.search_from(all, at)) {
                            self.answer.text.truncate(cut);
                            self.stopped = true;
                            return;
                        }
                    }
                    let offset = self.text_chars;
                    self.text_chars += text.chars().count();
                    self.answer.annotations.extend(
                        part.annotations
                            .iter()
                            .filter_map(|a| annotation(a, offset)),
                    );
                }
                Some("refusal") => self
                    .answer
                    .refusal
                    .push_str(part.refusal.as_deref().unwrap_or("")),
                _ => {}
            }
        }
    }
}

/// Text, refusal, reasoning (summary and details), citations and calls of
/// the output items, up to a stop sequence.
fn collect_output(items: &[OutputItem<'_>], stops: Option<&Stops>) -> Collected {
    let mut out = Collected::default();
    for item in items {
        match item.kind.as_deref() {
            Some("message") => out.message(item, stops),
            Some("function_call") => out.answer.calls.push(function_call(
                item.call_id.as_deref().unwrap_or("").to_owned(),
                item.name.as_deref().unwrap_or("").to_owned(),
                item.arguments.as_deref().unwrap_or("").to_owned(),
            )),
            Some("reasoning") => {
                for s in &item.summary {
                    out.answer
                        .reasoning
                        .push_str(s.text.as_deref().unwrap_or(""));
                }
                let details = reasoning_details(item, out.answer.details.len());
                out.answer.details.extend(details);
            }
            _ => {}
        }
        if out.stopped {
            break;
        }
    }
    out
}

pub(super) fn decode_response(
    provider: ProviderId,
    bytes: &[u8],
    stops: Option<&Stops>,
) -> Result<ChatResponse, ProviderError> {
    let v: Value = http::parse_json(provider, "response body", bytes)?;
    // Anything but an object reads as an empty response.
    let wire: WireResponse<'_> = lenient::obj(&v).ok().flatten().unwrap_or_default();
    let Collected {
        answer, stopped, ..
    } = collect_output(&wire.output, stops);
    let finish = if stopped {
        FinishReason::Stop
    } else {
        wire.finish(!answer.calls.is_empty())
    };
    Ok(answer.into_response(
        wire.id.as_deref().unwrap_or("").to_owned(),
        wire.created_at.unwrap_or_else(now_secs),
        wire.model.as_deref().unwrap_or("").to_owned(),
        Some(finish),
        None,
        wire.usage(),
    ))
}
