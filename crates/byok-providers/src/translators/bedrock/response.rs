//! Bedrock Converse answer → neutral [`ChatResponse`].

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use crate::common::now_secs;
use crate::error::ProviderError;
use crate::http;
use crate::id::ProviderId;
use crate::translators::lenient;
use crate::types::{
    ChatResponse, Choice, CompletionTokensDetails, FinishReason, FunctionCall, PromptTokensDetails,
    ResponseMessage, ToolCall, Usage,
};

/// Converse stop reasons as OpenAI finish reasons.
pub(super) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// Converse `usage` (answer and stream `metadata`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireUsage {
    #[serde(default, deserialize_with = "lenient::u64")]
    input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64")]
    output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64")]
    cache_read_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64")]
    cache_write_input_tokens: Option<u64>,
}

impl WireUsage {
    /// In OpenAI's terms: prompt tokens include cache reads and writes.
    pub(super) fn to_usage(&self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let write = self.cache_write_input_tokens.unwrap_or(0);
        let prompt = self.input_tokens.unwrap_or(0) + read + write;
        let completion = self.output_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
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

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireResponse<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    output: Option<Output<'a>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    stop_reason: Option<Cow<'a, str>>,
    /// Present (even not an object): usage, zeros where missing.
    #[serde(default, deserialize_with = "lenient::some_obj")]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Output<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    message: Option<OutputMessage<'a>>,
}

#[derive(Deserialize)]
struct OutputMessage<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::list")]
    content: Vec<Block<'a>>,
}

/// A content block: text, else a `toolUse`, else reasoning text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Block<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::some_obj")]
    tool_use: Option<ToolUse<'a>>,
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    reasoning_content: Option<ReasoningContent<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ToolUse<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    tool_use_id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    name: Option<Cow<'a, str>>,
    /// Sent on as JSON text (`{}` when absent).
    #[serde(default, deserialize_with = "lenient::present")]
    input: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReasoningContent<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    reasoning_text: Option<ReasoningText<'a>>,
}

#[derive(Deserialize)]
struct ReasoningText<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    text: Option<Cow<'a, str>>,
}

pub(super) fn decode_response(
    p: ProviderId,
    bytes: &[u8],
    model: &str,
) -> Result<ChatResponse, ProviderError> {
    let v: Value = http::parse_json(p, "response body", bytes)?;
    // Anything but an object reads as an empty response.
    let wire: WireResponse<'_> = lenient::obj(&v).ok().flatten().unwrap_or_default();
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    let blocks = wire
        .output
        .as_ref()
        .and_then(|o| o.message.as_ref())
        .map_or(&[][..], |m| &m.content);
    for block in blocks {
        if let Some(t) = &block.text {
            text.push_str(t);
        } else if let Some(tu) = &block.tool_use {
            calls.push(ToolCall {
                id: tu.tool_use_id.as_deref().unwrap_or("").to_owned(),
                kind: "function".into(),
                function: FunctionCall {
                    name: tu.name.as_deref().unwrap_or("").to_owned(),
                    arguments: tu
                        .input
                        .as_ref()
                        .map_or_else(|| "{}".to_owned(), Value::to_string),
                },
            });
        } else if let Some(t) = block
            .reasoning_content
            .as_ref()
            .and_then(|r| r.reasoning_text.as_ref())
            .and_then(|r| r.text.as_deref())
        {
            reasoning.push_str(t);
        }
    }
    let has_calls = !calls.is_empty();
    Ok(ChatResponse {
        id: String::new(),
        object: "chat.completion".into(),
        created: now_secs(),
        model: model.to_owned(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content: (!text.is_empty() || !has_calls).then_some(text),
                tool_calls: has_calls.then_some(calls),
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
