//! How many output tokens a request may produce once translated: what a
//! gateway must reserve for (issue #14, finding 3). The translators decide
//! what they send upstream (Anthropic needs a `max_tokens` and raises it
//! above the thinking budget it derives from `reasoning_effort`; Gemini
//! adds a thinking budget); this module says what that means for the
//! output, without encoding the request.

use crate::id::{ProviderId, WireFormat};
use crate::types::ChatRequest;

/// The most output tokens one choice of `request` may produce at
/// `provider` once translated, thinking or reasoning included; `None`
/// when the request leaves the limit to the upstream (then the model's
/// own maximum output bounds it).
///
/// - OpenAI chat (and Azure deployments): the larger of `max_tokens` and
///   `max_completion_tokens` (both may be sent; reasoning counts inside).
/// - Responses: the `max_output_tokens` sent (`max_completion_tokens`,
///   else `max_tokens`; reasoning counts inside, whatever `reasoning_effort`
///   or OpenRouter's `reasoning.max_tokens`, which becomes an effort, say).
/// - Anthropic (and Foundry): the `max_tokens` sent, never absent
///   ([`DEFAULT_MAX_TOKENS`](crate::DEFAULT_MAX_TOKENS) by default),
///   computed by the translator's own code: with a thinking budget (from
///   `reasoning_effort` or `reasoning` on a model that takes budgets),
///   raised to the budget plus room for the answer when the request's
///   limit does not exceed the budget (`reasoning_effort: "high"` with
///   `max_tokens: 1` on `claude-sonnet-4-5` may produce 16,385 tokens);
///   adaptive thinking (Claude 4.6 and later) leaves it as asked.
/// - Gemini: the `maxOutputTokens` sent (the request's limit, else the one
///   in the client's own `generationConfig`) plus the `thinkingBudget` sent
///   for 2.5 models (from `reasoning_effort`, OpenRouter's `reasoning`, or
///   the client's `thinkingConfig`; counted on top, to be safe); Gemini 3's
///   `thinkingLevel` has no token count, so there `maxOutputTokens` alone
///   bounds the answer; `None` without a limit.
/// - Bedrock: the `maxTokens` sent (`None` without one); for Claude with
///   reasoning, raised like Anthropic's above the thinking budget
///   (`reasoning_effort: "high"` without a limit may produce 16,384 +
///   4,096 tokens).
///
/// An invalid `reasoning_effort` is refused by the translator; here it
/// adds nothing.
pub fn output_token_limit(provider: ProviderId, request: &ChatRequest) -> Option<u64> {
    let completion = request.max_completion_tokens.map(u64::from);
    let legacy = request.max_tokens.map(u64::from);
    let sent = completion.or(legacy);
    match provider.info().format {
        WireFormat::OpenAiChat(_) => completion.max(legacy),
        WireFormat::Responses => sent,
        WireFormat::BedrockConverse => {
            crate::translators::bedrock::options::max_tokens(request).map(u64::from)
        }
        WireFormat::AnthropicMessages => Some(u64::from(
            crate::translators::anthropic::max_tokens(request),
        )),
        WireFormat::Gemini => crate::translators::gemini::output_limit(request),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(extra: serde_json::Value) -> ChatRequest {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        serde_json::from_value(body).unwrap()
    }

    /// The limit is the `max_tokens` the Anthropic translator really sends,
    /// thinking budget included.
    #[test]
    fn anthropic_limits_are_what_the_translator_sends() {
        for extra in [
            json!({}),
            json!({"max_tokens": 1}),
            json!({"reasoning_effort": "high", "max_tokens": 1}),
            json!({"reasoning_effort": "high"}),
            json!({"reasoning_effort": "low", "max_completion_tokens": 50_000}),
            json!({"reasoning_effort": "medium", "max_tokens": 1000}),
            json!({"thinking": {"type": "enabled", "budget_tokens": 2000}, "max_tokens": 3000}),
            json!({"reasoning_effort": "xhigh"}),
            json!({"reasoning_effort": "minimal", "max_tokens": 10}),
            json!({"reasoning_effort": "none", "max_tokens": 10}),
            json!({"reasoning": {"max_tokens": 5000}, "max_tokens": 100}),
            json!({"reasoning": {"effort": "high"}}),
            json!({"reasoning": {"enabled": true}}),
            json!({"model": "claude-opus-4-7", "reasoning_effort": "high", "max_tokens": 1}),
            json!({"model": "claude-sonnet-4-6", "reasoning": {"max_tokens": 5000}}),
        ] {
            let r = request(extra.clone());
            let sent = crate::encode_anthropic_request(ProviderId::Anthropic, &r, false).unwrap();
            let sent: serde_json::Value = serde_json::from_slice(&sent).unwrap();
            assert_eq!(
                output_token_limit(ProviderId::Anthropic, &r),
                sent["max_tokens"].as_u64(),
                "{extra}"
            );
        }
        let high = request(json!({"reasoning_effort": "high", "max_tokens": 1}));
        assert_eq!(
            output_token_limit(ProviderId::Anthropic, &high),
            Some(16_385)
        );
        let adaptive = request(
            json!({"model": "claude-opus-4-7", "reasoning_effort": "high", "max_tokens": 1}),
        );
        assert_eq!(
            output_token_limit(ProviderId::Anthropic, &adaptive),
            Some(1),
            "adaptive thinking counts inside max_tokens"
        );
    }

    /// The Gemini limit is the `maxOutputTokens` plus the `thinkingBudget`
    /// the translator really sends; a Gemini 3 level adds nothing.
    #[test]
    fn gemini_limits_are_what_the_translator_sends() {
        for (model, extra, want) in [
            (
                "gemini-2.5-flash",
                json!({"max_tokens": 100, "reasoning_effort": "low"}),
                Some(1124),
            ),
            (
                "gemini-2.5-flash",
                json!({"max_tokens": 100, "reasoning_effort": "none"}),
                Some(100),
            ),
            (
                "gemini-2.5-pro",
                json!({"max_tokens": 100, "reasoning_effort": "none"}),
                Some(228),
            ),
            (
                "gemini-2.5-flash",
                json!({"max_tokens": 100, "reasoning": {"max_tokens": 3000}}),
                Some(3100),
            ),
            (
                "gemini-2.5-flash",
                json!({"generationConfig": {"maxOutputTokens": 70, "thinkingConfig": {"thinkingBudget": 30}}}),
                Some(100),
            ),
            (
                "gemini-2.5-flash",
                json!({"generationConfig": {"maxOutputTokens": 70, "thinkingConfig": {"thinkingBudget": -1}}}),
                Some(70),
            ),
            (
                "gemini-3-pro-preview",
                json!({"max_tokens": 100, "reasoning_effort": "high"}),
                Some(100),
            ),
            (
                "gemini-2.5-flash",
                json!({"reasoning_effort": "high"}),
                None,
            ),
        ] {
            let mut r = request(extra.clone());
            r.model = model.to_owned();
            let sent = crate::encode_google_request(ProviderId::Google, &r).unwrap();
            let sent: serde_json::Value = serde_json::from_slice(&sent).unwrap();
            let g = &sent["generationConfig"];
            let budget = g["thinkingConfig"]["thinkingBudget"].as_u64().unwrap_or(0);
            let from_wire = g["maxOutputTokens"].as_u64().map(|m| m + budget);
            assert_eq!(
                output_token_limit(ProviderId::Google, &r),
                from_wire,
                "{model} {extra}"
            );
            assert_eq!(from_wire, want, "{model} {extra}");
        }
    }

    #[test]
    fn other_formats() {
        let both = request(json!({"max_tokens": 10, "max_completion_tokens": 7}));
        assert_eq!(output_token_limit(ProviderId::OpenAi, &both), Some(10));
        assert_eq!(
            output_token_limit(ProviderId::OpenAiResponses, &both),
            Some(7)
        );
        assert_eq!(
            output_token_limit(ProviderId::OpenAi, &request(json!({}))),
            None
        );
        let gemini = request(json!({"max_tokens": 100, "reasoning_effort": "high"}));
        assert_eq!(
            output_token_limit(ProviderId::Google, &gemini),
            Some(100 + 24_576)
        );
        for extra in [
            json!({"max_tokens": 10, "reasoning_effort": "xhigh"}),
            json!({"max_tokens": 10, "reasoning": {"max_tokens": 20_000}}),
        ] {
            let r = request(extra.clone());
            let sent =
                crate::encode_responses_request(ProviderId::OpenAiResponses, &r, false).unwrap();
            let sent: serde_json::Value = serde_json::from_slice(&sent).unwrap();
            assert_eq!(
                output_token_limit(ProviderId::OpenAiResponses, &r),
                sent["max_output_tokens"].as_u64(),
                "{extra}"
            );
        }
        let unbounded = request(json!({"reasoning_effort": "high"}));
        assert_eq!(output_token_limit(ProviderId::Google, &unbounded), None);
    }
}
