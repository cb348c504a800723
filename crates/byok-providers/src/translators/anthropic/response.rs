//! Anthropic Messages answer → neutral [`ChatResponse`].

use serde::Deserialize;
use serde_json::Value;

use crate::common::now_secs;
use crate::error::ProviderError;
use crate::http;
use crate::id::ProviderId;
use crate::types::{
    ChatResponse, Choice, CompletionTokensDetails, FinishReason, FunctionCall, PromptTokensDetails,
    ResponseMessage, ToolCall, Usage,
};

/// Anthropic stop reasons as OpenAI finish reasons.
pub(super) fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        // end_turn, stop_sequence, pause_turn
        _ => FinishReason::Stop,
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
pub(super) struct WireUsage {
    #[serde(default)]
    pub(super) input_tokens: u64,
    #[serde(default)]
    pub(super) output_tokens: u64,
    #[serde(default)]
    pub(super) cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub(super) cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// In OpenAI's terms: prompt tokens include cache reads and writes.
    pub(super) fn to_usage(&self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let write = self.cache_creation_input_tokens.unwrap_or(0);
        let prompt = self.input_tokens + read + write;
        Usage {
            prompt_tokens: prompt,
            completion_tokens: self.output_tokens,
            total_tokens: prompt + self.output_tokens,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(read),
                cache_write_tokens: Some(write),
                audio_tokens: None,
            }),
            completion_tokens_details: Some(CompletionTokensDetails::default()),
            extra: Default::default(),
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
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for block in &wire.content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("thinking") => {
                reasoning.push_str(block.get("thinking").and_then(Value::as_str).unwrap_or(""))
            }
            Some("tool_use") => calls.push(ToolCall {
                id: block
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                kind: "function".into(),
                function: FunctionCall {
                    name: block
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    arguments: block
                        .get("input")
                        .map_or_else(|| "{}".to_owned(), Value::to_string),
                },
            }),
            _ => {}
        }
    }
    Ok(ChatResponse {
        id: wire.id,
        object: "chat.completion".into(),
        created: now_secs(),
        model: wire.model,
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content: (!text.is_empty() || calls.is_empty()).then_some(text),
                tool_calls: (!calls.is_empty()).then_some(calls),
                refusal: None,
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
                reasoning_details: None,
                extra: Default::default(),
            },
            finish_reason: wire.stop_reason.as_deref().map(finish_reason),
            logprobs: None,
            extra: Default::default(),
        }],
        usage: wire.usage.as_ref().map(WireUsage::to_usage),
        system_fingerprint: None,
        extra: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_cache_in_prompt_tokens() {
        let u = WireUsage {
            input_tokens: 10,
            output_tokens: 5,
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
