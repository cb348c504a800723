//! Gemini answer (`GenerateContentResponse`) → neutral [`ChatResponse`].
//!
//! The same typed view serves the plain answer and each stream chunk.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::join_id;
use crate::common::now_secs;
use crate::error::ProviderError;
use crate::http;
use crate::id::ProviderId;
use crate::translators::lenient;
use crate::translators::{Answer, Counts, function_call};
use crate::types::{ChatResponse, FinishReason, ToolCall, Usage};

/// One `GenerateContentResponse` (a whole answer, or one stream chunk).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireResponse<'a> {
    /// Only the first candidate is read (`n` is 1).
    #[serde(default, borrow, deserialize_with = "lenient::first")]
    candidates: Option<Candidate<'a>>,
    #[serde(default, deserialize_with = "lenient::obj")]
    prompt_feedback: Option<PromptFeedback>,
    /// Present (even `null` or not an object): usage, zeros where missing.
    #[serde(default, deserialize_with = "lenient::some_obj")]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    pub(super) response_id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    pub(super) model_version: Option<Cow<'a, str>>,
    /// Present: the stream (or answer) failed.
    #[serde(default, deserialize_with = "lenient::present")]
    pub(super) error: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    content: Option<CandidateContent<'a>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct CandidateContent<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::list")]
    parts: Vec<Part<'a>>,
}

/// A part: a `functionCall`, else text (a thought when `thought: true`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::some_obj")]
    function_call: Option<FunctionCallPart<'a>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    thought_signature: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    text: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient::bool")]
    thought: Option<bool>,
}

#[derive(Deserialize, Default)]
struct FunctionCallPart<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    name: Option<Cow<'a, str>>,
    /// Sent on as JSON text (`{}` when absent).
    #[serde(default, deserialize_with = "lenient::present")]
    args: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    #[serde(default, deserialize_with = "lenient::present")]
    block_reason: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default, deserialize_with = "lenient::u64")]
    prompt_token_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64")]
    tool_use_prompt_token_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64")]
    candidates_token_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64")]
    thoughts_token_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64")]
    cached_content_token_count: Option<u64>,
}

impl WireResponse<'_> {
    /// Usage in OpenAI's terms: thoughts are billed as output.
    pub(super) fn usage(&self) -> Option<Usage> {
        let u = self.usage_metadata.as_ref()?;
        let n = |v: Option<u64>| v.unwrap_or(0);
        let prompt = n(u.prompt_token_count) + n(u.tool_use_prompt_token_count);
        let thoughts = n(u.thoughts_token_count);
        let counts = Counts {
            prompt,
            completion: n(u.candidates_token_count) + thoughts,
            cached: n(u.cached_content_token_count),
            cache_write: None,
            reasoning: Some(thoughts),
        };
        Some(counts.usage())
    }

    /// Text, thoughts and calls of the first candidate; call ids without
    /// one are numbered from `call_offset`.
    pub(super) fn parts(&self, call_offset: usize) -> Parts {
        let cand = self.candidates.as_ref();
        let mut out = Parts {
            text: String::new(),
            thoughts: String::new(),
            calls: Vec::new(),
            finish: cand
                .and_then(|c| c.finish_reason.as_deref())
                .map(str::to_owned),
        };
        for part in cand
            .and_then(|c| c.content.as_ref())
            .into_iter()
            .flat_map(|c| &c.parts)
        {
            if let Some(fc) = &part.function_call {
                let n = call_offset + out.calls.len();
                let id = fc
                    .id
                    .as_deref()
                    .map_or_else(|| format!("call_{n}"), str::to_owned);
                out.calls.push(function_call(
                    join_id(&id, part.thought_signature.as_deref()),
                    fc.name.as_deref().unwrap_or("").to_owned(),
                    fc.args
                        .as_ref()
                        .map_or_else(|| "{}".to_owned(), Value::to_string),
                ));
            } else if let Some(t) = part.text.as_deref() {
                if part.thought == Some(true) {
                    out.thoughts.push_str(t);
                } else {
                    out.text.push_str(t);
                }
            }
        }
        if out.finish.is_none()
            && self
                .prompt_feedback
                .as_ref()
                .is_some_and(|f| f.block_reason.is_some())
        {
            out.finish = Some("SAFETY".into());
        }
        out
    }
}

/// Gemini finish reasons as OpenAI finish reasons.
pub(super) fn finish_reason(reason: &str, tool_calls: bool) -> FinishReason {
    match reason {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        _ if tool_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// Text, thoughts and calls of one response's first candidate.
pub(super) struct Parts {
    pub(super) text: String,
    pub(super) thoughts: String,
    pub(super) calls: Vec<ToolCall>,
    pub(super) finish: Option<String>,
}

pub(super) fn decode_response(
    provider: ProviderId,
    bytes: &[u8],
) -> Result<ChatResponse, ProviderError> {
    let v: Value = http::parse_json(provider, "response body", bytes)?;
    // Anything but an object reads as an empty response.
    let wire: WireResponse<'_> = lenient::obj(&v).ok().flatten().unwrap_or_default();
    let p = wire.parts(0);
    let finish = finish_reason(p.finish.as_deref().unwrap_or("STOP"), !p.calls.is_empty());
    let answer = Answer {
        text: p.text,
        reasoning: p.thoughts,
        refusal: String::new(),
        calls: p.calls,
    };
    Ok(answer.into_response(
        wire.response_id.as_deref().unwrap_or("").to_owned(),
        now_secs(),
        wire.model_version.as_deref().unwrap_or("").to_owned(),
        Some(finish),
        wire.usage(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn usage_of(v: &Value) -> Option<Usage> {
        lenient::obj::<_, WireResponse<'_>>(v).unwrap()?.usage()
    }

    #[test]
    fn usage_counts_thoughts_as_output() {
        let u = usage_of(&json!({"usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20, "thoughtsTokenCount": 30, "cachedContentTokenCount": 60, "totalTokenCount": 150}})).unwrap();
        assert_eq!(
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.reasoning_tokens(),
                u.cached_tokens(),
                u.total_tokens
            ),
            (100, 50, 30, 60, 150)
        );
    }
}
