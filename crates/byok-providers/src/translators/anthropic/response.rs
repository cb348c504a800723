//! Anthropic Messages answer → neutral [`ChatResponse`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::citations::annotations;
use super::reasoning::{encrypted_detail, text_detail};
use crate::common::now_secs;
use crate::error::ProviderError;
use crate::http;
use crate::id::ProviderId;
use crate::translators::{Answer, Counts, function_call, lenient};
use crate::types::{ChatResponse, FinishReason, Usage};

/// Anthropic stop reasons and their OpenAI finish reasons, read both ways:
/// by this translator (a stop reason → its finish reason; unknown reasons
/// → `stop`) and by the inbound Messages encoder (a finish reason → the
/// first stop reason listed for it, [`stop_reason_of`]). `refusal` means
/// the safety classifiers stopped the answer; `pause_turn`, that a server
/// tool paused a long turn (send the answer back to continue). The reasons
/// this loses something of are also given as the choice's
/// `native_finish_reason` ([`native_finish_reason`]).
pub(crate) const STOP_REASONS: &[(&str, FinishReason)] = &[
    ("end_turn", FinishReason::Stop),
    ("max_tokens", FinishReason::Length),
    ("tool_use", FinishReason::ToolCalls),
    ("refusal", FinishReason::ContentFilter),
    ("stop_sequence", FinishReason::Stop),
    ("model_context_window_exceeded", FinishReason::Length),
    ("pause_turn", FinishReason::Stop),
];

/// An Anthropic stop reason as an OpenAI finish reason ([`STOP_REASONS`];
/// unknown reasons → `stop`).
pub(super) fn finish_reason(stop_reason: &str) -> FinishReason {
    STOP_REASONS
        .iter()
        .find(|(name, _)| *name == stop_reason)
        .map_or(FinishReason::Stop, |(_, reason)| *reason)
}

/// An OpenAI finish reason as an Anthropic stop reason: the first one
/// [`STOP_REASONS`] lists for it (a legacy `function_call` reads as
/// `tool_calls`).
pub(crate) fn stop_reason_of(finish: FinishReason) -> &'static str {
    let finish = match finish {
        FinishReason::FunctionCall => FinishReason::ToolCalls,
        other => other,
    };
    STOP_REASONS
        .iter()
        .find(|(_, reason)| *reason == finish)
        .map_or("end_turn", |(name, _)| name)
}

/// The stop reason, when its finish reason does not say it all:
/// `pause_turn`, `refusal`, `model_context_window_exceeded`, and reasons
/// this translator does not know.
pub(super) fn native_finish_reason(stop_reason: &str) -> Option<&str> {
    (!matches!(
        stop_reason,
        "end_turn" | "stop_sequence" | "max_tokens" | "tool_use"
    ))
    .then_some(stop_reason)
}

/// Anthropic's `usage` object (an answer's, `message_start`'s message's,
/// `message_delta`'s): each count as sent, `None` when absent or not a
/// non-negative integer. Read by this translator and by the pass-through
/// reader ([`crate::inbound::messages::UsageReader`]), so both bill a
/// stream the same; written by the inbound Messages encoder
/// ([`WireUsage::of`], absent counts left out).
#[derive(Debug, Deserialize, Serialize, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WireUsage {
    #[serde(
        default,
        deserialize_with = "lenient::u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) input_tokens: Option<u64>,
    #[serde(
        default,
        deserialize_with = "lenient::u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) cache_creation_input_tokens: Option<u64>,
    #[serde(
        default,
        deserialize_with = "lenient::u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) cache_read_input_tokens: Option<u64>,
    #[serde(
        default,
        deserialize_with = "lenient::u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) output_tokens: Option<u64>,
}

impl WireUsage {
    /// Takes in a later report of the same answer (`message_delta` after
    /// `message_start`). The counts are cumulative: a present
    /// `output_tokens` replaces the one before; an input or cache count
    /// replaces it only when above 0 (some deployments repeat them in
    /// `message_delta`, others send 0 there for counts `message_start`
    /// gave).
    pub(crate) fn merge(&mut self, later: &WireUsage) {
        if later.output_tokens.is_some() {
            self.output_tokens = later.output_tokens;
        }
        for (slot, value) in [
            (&mut self.input_tokens, later.input_tokens),
            (
                &mut self.cache_creation_input_tokens,
                later.cache_creation_input_tokens,
            ),
            (
                &mut self.cache_read_input_tokens,
                later.cache_read_input_tokens,
            ),
        ] {
            if let Some(v) = value.filter(|v| *v > 0) {
                *slot = Some(v);
            }
        }
    }

    /// In OpenAI's terms: prompt tokens include cache reads and writes.
    pub(crate) fn to_usage(self) -> Usage {
        Counts::cache_apart(
            self.input_tokens.unwrap_or(0),
            self.output_tokens.unwrap_or(0),
            self.cache_read_input_tokens.unwrap_or(0),
            self.cache_creation_input_tokens.unwrap_or(0),
        )
        .usage()
    }

    /// The inverse of [`WireUsage::to_usage`]: every count, the input one
    /// without the cache reads and writes that OpenAI's prompt tokens
    /// include.
    pub(crate) fn of(usage: &Usage) -> Self {
        let cached = usage.cached_tokens();
        let written = usage.cache_write_tokens();
        Self {
            input_tokens: Some(
                usage
                    .prompt_tokens
                    .saturating_sub(cached)
                    .saturating_sub(written),
            ),
            cache_creation_input_tokens: Some(written),
            cache_read_input_tokens: Some(cached),
            output_tokens: Some(usage.completion_tokens),
        }
    }
}

#[derive(Debug, Deserialize)]
struct WireResponse {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

pub(super) fn decode_response(
    provider: ProviderId,
    bytes: &[u8],
) -> Result<ChatResponse, ProviderError> {
    let wire: WireResponse = http::parse_json(provider, "response body", bytes)?;
    let mut answer = Answer::default();
    for block in &wire.content {
        read_block(block, &mut answer);
    }
    let stop = wire.stop_reason.as_deref();
    let finish = stop.map(finish_reason);
    let usage = wire.usage.map(WireUsage::to_usage);
    Ok(answer.into_response(
        wire.id,
        now_secs(),
        wire.model,
        finish,
        stop.and_then(native_finish_reason),
        usage,
    ))
}

/// One content block into the answer: text (and its citations), reasoning
/// (its text, and its replayable form in `details`), or a tool call.
fn read_block(block: &Value, answer: &mut Answer) {
    let str_at = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or("");
    match block.get("type").and_then(Value::as_str) {
        Some("text") => {
            if let Some(citations) = block.get("citations").and_then(Value::as_array)
                && !citations.is_empty()
            {
                let start = answer.text.chars().count();
                let end = start + str_at("text").chars().count();
                answer
                    .annotations
                    .extend(annotations(citations, start, end));
            }
            answer.text.push_str(str_at("text"));
        }
        Some("thinking") => {
            answer.reasoning.push_str(str_at("thinking"));
            let signature = Some(str_at("signature"));
            let detail = text_detail(answer.details.len(), str_at("thinking"), signature);
            answer.details.push(detail);
        }
        Some("redacted_thinking") => {
            let detail = encrypted_detail(answer.details.len(), str_at("data"));
            answer.details.push(detail);
        }
        Some("tool_use") => answer.calls.push(function_call(
            str_at("id").to_owned(),
            str_at("name").to_owned(),
            block
                .get("input")
                .map_or_else(|| "{}".to_owned(), Value::to_string),
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_read_both_ways() {
        for finish in [
            FinishReason::Stop,
            FinishReason::Length,
            FinishReason::ToolCalls,
            FinishReason::ContentFilter,
        ] {
            assert_eq!(finish_reason(stop_reason_of(finish)), finish);
        }
        assert_eq!(stop_reason_of(FinishReason::FunctionCall), "tool_use");
        assert_eq!(finish_reason("pause_turn"), FinishReason::Stop);
        assert_eq!(finish_reason("something_new"), FinishReason::Stop);
    }

    #[test]
    fn usage_inverse_gives_the_counts_back() {
        let wire = WireUsage {
            input_tokens: Some(10),
            output_tokens: Some(5),
            cache_creation_input_tokens: Some(100),
            cache_read_input_tokens: Some(1000),
        };
        assert_eq!(WireUsage::of(&wire.to_usage()), wire);
    }

    #[test]
    fn usage_counts_cache_in_prompt_tokens() {
        let u = WireUsage {
            input_tokens: Some(10),
            output_tokens: Some(5),
            cache_creation_input_tokens: Some(100),
            cache_read_input_tokens: Some(1000),
        }
        .to_usage();
        assert_eq!(
            (
                u.prompt_tokens,
                u.cached_tokens(),
                u.cache_write_tokens(),
                u.total_tokens
            ),
            (1110, 1000, 100, 1115)
        );
    }
}
