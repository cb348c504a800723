//! OpenAI Responses answer → neutral [`ChatResponse`].
//!
//! The same typed view of a response object serves the plain answer and the
//! stream's `response.*` events.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

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

#[derive(Deserialize)]
struct WireUsage {
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
}

#[derive(Deserialize)]
struct SummaryPart<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    text: Option<Cow<'a, str>>,
}

impl WireResponse<'_> {
    /// Usage in OpenAI's terms (`None` without a usage object).
    pub(super) fn usage(&self) -> Option<Usage> {
        let u = self.usage.as_ref()?;
        let input = u.input_tokens.unwrap_or(0);
        let output = u.output_tokens.unwrap_or(0);
        let counts = Counts {
            prompt: input,
            completion: output,
            cached: u
                .input_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            cache_write: None,
            reasoning: Some(
                u.output_tokens_details
                    .as_ref()
                    .and_then(|d| d.reasoning_tokens)
                    .unwrap_or(0),
            ),
        };
        let mut usage = counts.usage();
        usage.total_tokens = u.total_tokens.unwrap_or(input + output);
        Some(usage)
    }

    /// The finish reason: `incomplete` is a length (or content-filter) stop.
    pub(super) fn finish(&self, saw_tool_call: bool) -> FinishReason {
        match self.status.as_deref() {
            Some("incomplete") => match self
                .incomplete_details
                .as_ref()
                .and_then(|d| d.reason.as_deref())
            {
                Some("content_filter") => FinishReason::ContentFilter,
                _ => FinishReason::Length,
            },
            _ if saw_tool_call => FinishReason::ToolCalls,
            _ => FinishReason::Stop,
        }
    }
}

/// Text, refusal, reasoning summary and calls of the output items.
fn collect_output(items: &[OutputItem<'_>]) -> Answer {
    let mut out = Answer::default();
    for item in items {
        match item.kind.as_deref() {
            Some("message") => {
                for part in &item.content {
                    match part.kind.as_deref() {
                        Some("output_text") => {
                            out.text.push_str(part.text.as_deref().unwrap_or(""))
                        }
                        Some("refusal") => {
                            out.refusal.push_str(part.refusal.as_deref().unwrap_or(""))
                        }
                        _ => {}
                    }
                }
            }
            Some("function_call") => out.calls.push(function_call(
                item.call_id.as_deref().unwrap_or("").to_owned(),
                item.name.as_deref().unwrap_or("").to_owned(),
                item.arguments.as_deref().unwrap_or("").to_owned(),
            )),
            Some("reasoning") => {
                for s in &item.summary {
                    out.reasoning.push_str(s.text.as_deref().unwrap_or(""));
                }
            }
            _ => {}
        }
    }
    out
}

pub(super) fn decode_response(
    provider: ProviderId,
    bytes: &[u8],
) -> Result<ChatResponse, ProviderError> {
    let v: Value = http::parse_json(provider, "response body", bytes)?;
    // Anything but an object reads as an empty response.
    let wire: WireResponse<'_> = lenient::obj(&v).ok().flatten().unwrap_or_default();
    let answer = collect_output(&wire.output);
    let finish = wire.finish(!answer.calls.is_empty());
    Ok(answer.into_response(
        wire.id.as_deref().unwrap_or("").to_owned(),
        wire.created_at.unwrap_or_else(now_secs),
        wire.model.as_deref().unwrap_or("").to_owned(),
        Some(finish),
        wire.usage(),
    ))
}
