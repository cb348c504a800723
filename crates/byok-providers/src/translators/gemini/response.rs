//! Gemini answer (`GenerateContentResponse`) → neutral [`ChatResponse`].
//!
//! The same typed view serves the plain answer and each stream chunk.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::citations::annotations;
use super::signatures::{call_id, detail};
use crate::common::now_secs;
use crate::error::ProviderError;
use crate::http;
use crate::id::ProviderId;
use crate::translators::lenient;
use crate::translators::{Answer, Counts, function_call};
use crate::types::{ChatResponse, FinishReason, Usage};

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
    /// Google Search grounding: sources and the text they support.
    #[serde(default, deserialize_with = "lenient::present")]
    grounding_metadata: Option<Value>,
    /// Recitation sources.
    #[serde(default, deserialize_with = "lenient::present")]
    citation_metadata: Option<Value>,
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
        let prompt = n(u.prompt_token_count).saturating_add(n(u.tool_use_prompt_token_count));
        let thoughts = n(u.thoughts_token_count);
        let counts = Counts {
            prompt,
            completion: n(u.candidates_token_count).saturating_add(thoughts),
            cached: n(u.cached_content_token_count),
            cache_write: None,
            reasoning: Some(thoughts),
        };
        Some(counts.usage())
    }

    /// Text, thoughts, calls and signatures of the first candidate. `at`
    /// says how many calls and `reasoning_details` entries came before (in
    /// earlier chunks) and the token of generated call ids.
    pub(super) fn parts(&self, at: &Numbering) -> Parts {
        let cand = self.candidates.as_ref();
        let mut out = Parts {
            finish: cand
                .and_then(|c| c.finish_reason.as_deref())
                .map(|r| Finish {
                    reason: r.to_owned(),
                    blocked: false,
                }),
            ..Parts::default()
        };
        for part in cand
            .and_then(|c| c.content.as_ref())
            .into_iter()
            .flat_map(|c| &c.parts)
        {
            let signature = part.thought_signature.as_deref().filter(|s| !s.is_empty());
            if let Some(fc) = &part.function_call {
                let id = call_id(
                    fc.id.as_deref(),
                    &at.token,
                    at.calls + out.answer.calls.len(),
                );
                if let Some(sig) = signature {
                    let index = at.details + out.answer.details.len();
                    out.answer.details.push(detail(sig, Some(&id), index));
                }
                out.answer.calls.push(function_call(
                    id,
                    fc.name.as_deref().unwrap_or("").to_owned(),
                    fc.args
                        .as_ref()
                        .map_or_else(|| "{}".to_owned(), Value::to_string),
                ));
                continue;
            }
            if let Some(t) = part.text.as_deref() {
                if part.thought == Some(true) {
                    out.answer.reasoning.push_str(t);
                } else {
                    out.answer.text.push_str(t);
                }
            }
            if let Some(sig) = signature {
                let index = at.details + out.answer.details.len();
                out.answer.details.push(detail(sig, None, index));
            }
        }
        if out.finish.is_none() {
            let reason = self
                .prompt_feedback
                .as_ref()
                .and_then(|f| f.block_reason.as_ref());
            out.finish = reason.map(|r| Finish {
                reason: r.as_str().unwrap_or("BLOCKED").to_owned(),
                blocked: true,
            });
        }
        out
    }

    /// The candidate's citations as `url_citation` annotations, `text` the
    /// answer's content so far.
    pub(super) fn annotations(&self, text: &str) -> Vec<Value> {
        let Some(c) = self.candidates.as_ref() else {
            return Vec::new();
        };
        if c.grounding_metadata.is_none() && c.citation_metadata.is_none() {
            return Vec::new();
        }
        annotations(
            c.grounding_metadata.as_ref(),
            c.citation_metadata.as_ref(),
            text,
        )
    }
}

/// Where a chunk's numbering starts: calls and `reasoning_details` entries
/// before it, and the token of generated call ids.
pub(super) struct Numbering {
    pub(super) calls: usize,
    pub(super) details: usize,
    pub(super) token: String,
}

/// Why the answer ended: Gemini's `finishReason`, or the prompt's
/// `blockReason` (`blocked`).
pub(super) struct Finish {
    pub(super) reason: String,
    pub(super) blocked: bool,
}

impl Finish {
    /// As an OpenAI finish reason: `MAX_TOKENS` → `length`; the safety
    /// family and a blocked prompt → `content_filter`; `STOP` → `stop`, or
    /// `tool_calls` with calls; anything else (`MALFORMED_FUNCTION_CALL`,
    /// `UNEXPECTED_TOOL_CALL`, `TOO_MANY_TOOL_CALLS`, `LANGUAGE`, `OTHER`,
    /// ...) → `stop`, the Gemini value in [`Finish::native`].
    pub(super) fn reason(&self, tool_calls: bool) -> FinishReason {
        if self.blocked {
            return FinishReason::ContentFilter;
        }
        match self.reason.as_str() {
            "MAX_TOKENS" => FinishReason::Length,
            "SAFETY"
            | "RECITATION"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT"
            | "IMAGE_RECITATION" => FinishReason::ContentFilter,
            "STOP" | "FINISH_REASON_UNSPECIFIED" if tool_calls => FinishReason::ToolCalls,
            _ => FinishReason::Stop,
        }
    }

    /// Gemini's own value, for the choice's `native_finish_reason` (not
    /// set for a plain `STOP`).
    pub(super) fn native(&self) -> Option<&str> {
        (self.reason != "STOP").then_some(self.reason.as_str())
    }
}

/// Text, thoughts (`reasoning`), calls and signatures (`details`, in part
/// order) of one response's first candidate, and why it ended.
#[derive(Default)]
pub(super) struct Parts {
    pub(super) answer: Answer,
    pub(super) finish: Option<Finish>,
}

pub(super) fn decode_response(
    provider: ProviderId,
    bytes: &[u8],
) -> Result<ChatResponse, ProviderError> {
    let v: Value = http::parse_json(provider, "response body", bytes)?;
    // Anything but an object reads as an empty response.
    let wire: WireResponse<'_> = lenient::obj(&v).ok().flatten().unwrap_or_default();
    let at = Numbering {
        calls: 0,
        details: 0,
        token: super::signatures::id_token(wire.response_id.as_deref()),
    };
    let Parts { mut answer, finish } = wire.parts(&at);
    answer.annotations = wire.annotations(&answer.text);
    let finish = finish.unwrap_or(Finish {
        reason: "STOP".into(),
        blocked: false,
    });
    let has_calls = !answer.calls.is_empty();
    Ok(answer.into_response(
        wire.response_id.as_deref().unwrap_or("").to_owned(),
        now_secs(),
        wire.model_version.as_deref().unwrap_or("").to_owned(),
        Some(finish.reason(has_calls)),
        finish.native(),
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

    /// Found by fuzzing (`stream_gemini`): counts near `u64::MAX` overflowed
    /// the sums (a panic in debug builds and the tests, a wrapped, tiny
    /// total in release); they saturate.
    #[test]
    fn huge_counts_saturate() {
        let u = usage_of(&json!({"usageMetadata": {"promptTokenCount": u64::MAX, "toolUsePromptTokenCount": 5, "candidatesTokenCount": u64::MAX, "thoughtsTokenCount": 7}})).unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (u64::MAX, u64::MAX, u64::MAX)
        );
        let u = crate::translators::Counts::cache_apart(u64::MAX, 1, 2, 3).usage();
        assert_eq!((u.prompt_tokens, u.total_tokens), (u64::MAX, u64::MAX));
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
