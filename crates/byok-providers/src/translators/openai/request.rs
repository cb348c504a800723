//! The upstream request: the client's request as it came (the neutral
//! types keep what they do not model as raw JSON), changed only where it
//! must be for the provider's [`Quirks`] and model (see the module docs).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ProviderError;
use crate::id::Quirks;
use crate::types::{ChatRequest, Message, ResponseFormat, Stop, Tool, ToolChoice};

/// `stream_options` as sent upstream: the client's options with
/// `include_usage` forced on (the gateway bills from it).
#[derive(Serialize)]
struct WireStreamOptions<'a> {
    include_usage: bool,
    #[serde(flatten)]
    extra: Option<&'a Map<String, Value>>,
}

/// The request as sent upstream, borrowing from the neutral request.
#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<WireStreamOptions<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a Stop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a [Tool]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'a ToolChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a ResponseFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

/// Encodes the upstream request body for `quirks`. `stream` forces the
/// streaming form (with usage requested when the provider accepts it,
/// merged into the client's own `stream_options`).
///
/// # Errors
/// Serialisation failure (not expected for valid requests).
pub fn encode_request(
    request: &ChatRequest,
    quirks: Quirks,
    stream: bool,
) -> Result<Vec<u8>, ProviderError> {
    encode_with_model(request, quirks, stream, None)
}

/// [`encode_request`] with the model replaced (Azure: the deployment name).
pub(super) fn encode_with_model(
    request: &ChatRequest,
    quirks: Quirks,
    stream: bool,
    model: Option<&str>,
) -> Result<Vec<u8>, ProviderError> {
    let (max_tokens, max_completion_tokens) = token_limits(request, quirks, model);
    let wire = WireRequest {
        model: model.unwrap_or(&request.model),
        messages: &request.messages,
        stream: stream.then_some(true),
        stream_options: (stream && quirks.stream_options).then(|| WireStreamOptions {
            include_usage: true,
            extra: request.stream_options.as_ref().map(|o| &o.extra),
        }),
        max_tokens,
        max_completion_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        n: request.n,
        stop: request.stop.as_ref(),
        seed: request.seed,
        user: request.user.as_deref(),
        presence_penalty: request.presence_penalty,
        frequency_penalty: request.frequency_penalty,
        tools: request.tools.as_deref(),
        tool_choice: request.tool_choice.as_ref(),
        parallel_tool_calls: request.parallel_tool_calls,
        response_format: request.response_format.as_ref(),
        reasoning_effort: request.reasoning_effort.as_deref(),
        extra: &request.extra,
    };
    let mut body = Vec::with_capacity(512);
    serde_json::to_writer(&mut body, &wire)
        .map_err(|e| ProviderError::invalid(format!("cannot encode request: {e}"), None))?;
    Ok(body)
}

/// `(max_tokens, max_completion_tokens)` as sent upstream: one limit under
/// `max_tokens` for providers that prefer it; under
/// `max_completion_tokens` for models that refuse `max_tokens`
/// ([`requires_max_completion_tokens`], on a provider with OpenAI's
/// semantics); otherwise as the client wrote them.
fn token_limits(
    request: &ChatRequest,
    quirks: Quirks,
    model: Option<&str>,
) -> (Option<u32>, Option<u32>) {
    let limit = request.max_completion_tokens.or(request.max_tokens);
    if quirks.prefers_max_tokens {
        (limit, None)
    } else if requires_max_completion_tokens(&request.model)
        || model.is_some_and(requires_max_completion_tokens)
    {
        (None, limit)
    } else {
        (request.max_tokens, request.max_completion_tokens)
    }
}

/// Whether OpenAI refuses `max_tokens` for `model` ("use
/// max_completion_tokens"): the reasoning families `o1`, `o3`, `o4`, ...
/// (`o<digits>`, alone or followed by `-...`) and `gpt-5` and later
/// (`gpt-<n>` with n >= 5, alone or followed by `-...` or `.`). Bare ids
/// only: a vendor-prefixed id (`openai/o3`) belongs to an aggregator that
/// takes `max_tokens`.
pub(super) fn requires_max_completion_tokens(model: &str) -> bool {
    fn version_then_end(rest: &str, min: u32, dot: bool) -> bool {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (number, tail) = rest.split_at(digits);
        number.parse::<u32>().is_ok_and(|n| n >= min)
            && (tail.is_empty() || tail.starts_with('-') || (dot && tail.starts_with('.')))
    }
    if let Some(rest) = model.strip_prefix('o') {
        return version_then_end(rest, 1, false);
    }
    model
        .strip_prefix("gpt-")
        .is_some_and(|rest| version_then_end(rest, 5, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(raw: &str) -> ChatRequest {
        serde_json::from_str(raw).unwrap()
    }

    #[test]
    fn streaming_requests_ask_for_usage_and_rename_max_tokens_by_quirk() {
        let r = req(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":5,"stream":true}"#,
        );
        let body: Value =
            serde_json::from_slice(&encode_request(&r, Quirks::OPENAI, true).unwrap()).unwrap();
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["max_completion_tokens"], 5);
        assert!(body.get("max_tokens").is_none());
        let legacy = Quirks::new(true, false);
        let body: Value =
            serde_json::from_slice(&encode_request(&r, legacy, true).unwrap()).unwrap();
        assert_eq!(body["max_tokens"], 5);
        assert!(body.get("max_completion_tokens").is_none());
        assert!(body.get("stream_options").is_none());
        let body: Value =
            serde_json::from_slice(&encode_request(&r, Quirks::OPENAI, false).unwrap()).unwrap();
        assert!(body.get("stream").is_none() && body.get("stream_options").is_none());
    }

    #[test]
    fn models_that_refuse_max_tokens() {
        for m in [
            "o1",
            "o1-mini",
            "o3",
            "o3-pro-2025-06-10",
            "o4-mini",
            "gpt-5",
            "gpt-5-mini",
            "gpt-5.1",
            "gpt-5-chat-latest",
            "gpt-6",
        ] {
            assert!(requires_max_completion_tokens(m), "{m}");
        }
        for m in [
            "",
            "o",
            "omni",
            "o3x",
            "gpt-4o",
            "gpt-4.1",
            "gpt-oss-120b",
            "gpt-5x",
            "openai/o3",
            "openai/gpt-5",
            "llama-3.3-70b-versatile",
            "mistral-large",
        ] {
            assert!(!requires_max_completion_tokens(m), "{m}");
        }
    }

    #[test]
    fn the_clients_stream_options_are_kept_and_usage_is_asked_for() {
        let r = req(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":false,"include_obfuscation":false}}"#,
        );
        let body: Value =
            serde_json::from_slice(&encode_request(&r, Quirks::OPENAI, true).unwrap()).unwrap();
        assert_eq!(
            body["stream_options"],
            serde_json::json!({"include_usage": true, "include_obfuscation": false})
        );
    }
}
