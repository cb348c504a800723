//! The upstream request: the neutral request as OpenAI-dialect JSON, with
//! the provider's [`Quirks`].

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ProviderError;
use crate::id::Quirks;
use crate::types::{ChatRequest, Message, ResponseFormat, Stop, StreamOptions, Tool, ToolChoice};

/// The request as sent upstream, borrowing from the neutral request.
#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
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
/// streaming form (with usage requested when the provider accepts it).
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
    let (max_tokens, max_completion_tokens) = if quirks.prefers_max_tokens {
        (request.max_completion_tokens.or(request.max_tokens), None)
    } else {
        (request.max_tokens, request.max_completion_tokens)
    };
    let wire = WireRequest {
        model: model.unwrap_or(&request.model),
        messages: &request.messages,
        stream: stream.then_some(true),
        stream_options: (stream && quirks.stream_options).then_some(StreamOptions {
            include_usage: Some(true),
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
}
