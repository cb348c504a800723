//! The OpenAI chat-completions dialect, for every provider that speaks it.
//!
//! One adapter, parameterised by the provider's row in [`crate::PROVIDERS`]
//! (base URL and [`Quirks`]). What it does beyond relaying:
//!
//! - When streaming it always asks upstream for usage
//!   (`stream_options.include_usage`, unless the provider's quirks say it
//!   refuses the field), takes usage from whichever chunk carries it (`usage`
//!   or Groq's `x_groq.usage`), and gives the client one OpenAI-shaped usage
//!   chunk (`choices: []`) before `[DONE]` only if the client asked for it.
//! - Chunks pass through as they arrive, one SSE event at a time, with at
//!   most one event buffered ([`crate::Limits::max_event_bytes`]). A chunk
//!   in exactly OpenAI's shape (every field, at every level, one OpenAI
//!   documents; a standard finish reason; no usage; one line) is marked
//!   [`Translated::Verbatim`]: its bytes may be forwarded as they came
//!   instead of re-serialising the parsed chunk, which would say the same.
//! - SSE comment lines are skipped; chunks with empty `choices` and no usage
//!   (Azure's `prompt_filter_results`) are dropped; an `error` object in a
//!   chunk (OpenRouter) ends the stream with [`ProviderError::MidStream`]; a
//!   stream that ends without `[DONE]` is [`ProviderError::StreamTruncated`].
//! - `max_completion_tokens` becomes `max_tokens` for providers that prefer it.
//! - Unknown request fields ([`ChatRequest::extra`]) are passed through.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::credential::Credential;
use crate::error::{CredentialError, ProviderError};
use crate::http::{self, Out, SseTranslate};
use crate::id::{ProviderId, Quirks};
use crate::provider::{Capabilities, ChatOutcome, ChatProvider, ProviderConfig};
use crate::sse::SseEvent;
use crate::stream::{ChatStream, StreamEvent};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, Choice, ChunkChoice, CompletionTokensDetails, Delta,
    FinishReason, FunctionCall, FunctionDelta, Message, ModelInfo, PromptTokensDetails,
    ResponseFormat, ResponseMessage, Stop, StreamOptions, Tool, ToolCall, ToolCallDelta,
    ToolChoice, Usage,
};

/// An OpenAI-dialect provider.
pub struct OpenAiCompatible {
    id: ProviderId,
    base: String,
    target: Target,
    /// `{base}/chat/completions`, parsed once (a URL parse costs about as
    /// much as the rest of building the upstream request).
    chat_url: Option<reqwest::Url>,
    quirks: Quirks,
    client: reqwest::Client,
    config: Arc<ProviderConfig>,
}

impl std::fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("id", &self.id)
            .field("quirks", &self.quirks)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `{base}/chat/completions`, Bearer key.
    Base,
    /// Azure deployment URLs, `api-key` header.
    Azure,
}

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
fn encode_with_model(
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

/// A chunk as OpenAI-dialect providers send it, with the extras some add.
#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    id: String,
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    system_fingerprint: Option<String>,
    #[serde(default)]
    x_groq: Option<XGroq>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct XGroq {
    #[serde(default)]
    usage: Option<Usage>,
}

/// What one upstream SSE event means.
#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // short-lived, moved once; boxing would add an allocation per chunk
pub enum Translated {
    /// A chunk to forward (possibly with usage stripped), plus usage seen.
    Chunk(Option<ChatChunk>, Option<Usage>),
    /// A chunk whose upstream JSON may be forwarded as it came: it is in
    /// exactly OpenAI's shape, so the bytes and the parsed chunk say the
    /// same (no usage, nothing to strip or normalise).
    Verbatim(ChatChunk),
    /// `[DONE]`.
    Done,
}

/// A chunk in exactly OpenAI's shape: serde refuses any field OpenAI does
/// not document, at every level, so a chunk that parses here carries
/// nothing the translated chunk would drop.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictChunk {
    id: String,
    object: String,
    created: i64,
    model: String,
    choices: Vec<StrictChoice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    system_fingerprint: Option<String>,
    // OpenAI's own chunk fields, forwarded as they are when verbatim.
    #[serde(default, rename = "service_tier")]
    _service_tier: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "obfuscation")]
    _obfuscation: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictChoice {
    index: u32,
    delta: StrictDelta,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    logprobs: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictDelta {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<StrictToolCall>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictToolCall {
    index: u32,
    #[serde(default)]
    id: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    function: Option<StrictFunction>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// The finish reasons OpenAI sends (others are normalised by the lenient
/// path, so a chunk carrying one is not forwarded verbatim).
fn standard_finish(reason: &str) -> Option<FinishReason> {
    Some(match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        "function_call" => FinishReason::FunctionCall,
        _ => return None,
    })
}

/// The strict reading of `data`: `None` when it is not in exactly OpenAI's
/// shape (the caller then reads it leniently).
fn strict_event(data: &str) -> Option<Translated> {
    let wire: StrictChunk = serde_json::from_str(data).ok()?;
    let mut verbatim = wire.object == "chat.completion.chunk"
        && wire.usage.is_none()
        && !wire.choices.is_empty()
        && !data.contains('\n');
    let mut choices = Vec::with_capacity(wire.choices.len());
    for c in wire.choices {
        let finish_reason = match c.finish_reason.as_deref() {
            None => None,
            Some(r) => {
                let standard = standard_finish(r);
                verbatim &= standard.is_some();
                Some(standard.unwrap_or(FinishReason::Stop))
            }
        };
        let d = c.delta;
        choices.push(ChunkChoice {
            index: c.index,
            delta: Delta {
                role: d.role,
                content: d.content,
                reasoning_content: d.reasoning_content,
                refusal: d.refusal,
                tool_calls: d.tool_calls.map(|calls| {
                    calls
                        .into_iter()
                        .map(|t| ToolCallDelta {
                            index: t.index,
                            id: t.id,
                            kind: t.kind,
                            function: t.function.map(|f| FunctionDelta {
                                name: f.name,
                                arguments: f.arguments,
                            }),
                        })
                        .collect()
                }),
            },
            finish_reason,
            logprobs: c.logprobs,
        });
    }
    if choices.is_empty() {
        return Some(Translated::Chunk(None, wire.usage));
    }
    let chunk = ChatChunk {
        id: wire.id,
        object: wire.object,
        created: wire.created,
        model: wire.model,
        choices,
        usage: None,
        system_fingerprint: wire.system_fingerprint,
    };
    Some(if verbatim {
        Translated::Verbatim(chunk)
    } else {
        Translated::Chunk(Some(chunk), wire.usage)
    })
}

/// A non-streaming answer in exactly OpenAI's shape (serde refuses any
/// field OpenAI does not document, at every level).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictResponse {
    id: String,
    object: String,
    created: i64,
    model: String,
    choices: Vec<StrictResponseChoice>,
    #[serde(default)]
    usage: Option<StrictUsage>,
    #[serde(default)]
    system_fingerprint: Option<String>,
    #[serde(default, rename = "service_tier")]
    _service_tier: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictResponseChoice {
    index: u32,
    message: StrictMessage,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    logprobs: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictMessage {
    role: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<StrictToolCallFull>>,
    #[serde(default)]
    reasoning_content: Option<String>,
    // OpenAI's own message fields, forwarded as they are when verbatim.
    #[serde(default, rename = "annotations")]
    _annotations: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "audio")]
    _audio: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictToolCallFull {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    function: StrictFunctionFull,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictFunctionFull {
    name: String,
    arguments: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<StrictPromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<StrictCompletionDetails>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictPromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
    #[serde(default)]
    audio_tokens: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictCompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
    #[serde(default)]
    audio_tokens: Option<u64>,
    #[serde(default)]
    accepted_prediction_tokens: Option<u64>,
    #[serde(default)]
    rejected_prediction_tokens: Option<u64>,
}

/// The strict reading of a non-streaming answer: the response and whether
/// its bytes may be forwarded as they came (`chat.completion`, assistant
/// messages, standard finish reasons, `function` tool calls). `None` when
/// it is not in exactly OpenAI's shape (the caller reads it leniently).
fn strict_response(body: &[u8]) -> Option<(ChatResponse, bool)> {
    let wire: StrictResponse = serde_json::from_slice(body).ok()?;
    let mut verbatim = wire.object == "chat.completion";
    let choices = wire
        .choices
        .into_iter()
        .map(|c| {
            let finish_reason = c.finish_reason.as_deref().map(|r| {
                let standard = standard_finish(r);
                verbatim &= standard.is_some();
                standard.unwrap_or(FinishReason::Stop)
            });
            let m = c.message;
            verbatim &= m.role == "assistant";
            Choice {
                index: c.index,
                message: ResponseMessage {
                    role: m.role,
                    content: m.content,
                    tool_calls: m.tool_calls.map(|calls| {
                        calls
                            .into_iter()
                            .map(|t| {
                                verbatim &= t.kind == "function";
                                ToolCall {
                                    id: t.id,
                                    kind: t.kind,
                                    function: FunctionCall {
                                        name: t.function.name,
                                        arguments: t.function.arguments,
                                    },
                                }
                            })
                            .collect()
                    }),
                    refusal: m.refusal,
                    reasoning_content: m.reasoning_content,
                },
                finish_reason,
                logprobs: c.logprobs,
            }
        })
        .collect();
    let usage = wire.usage.map(|u| Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.total_tokens,
        prompt_tokens_details: u.prompt_tokens_details.map(|d| PromptTokensDetails {
            cached_tokens: d.cached_tokens,
            cache_write_tokens: None,
            audio_tokens: d.audio_tokens,
        }),
        completion_tokens_details: u
            .completion_tokens_details
            .map(|d| CompletionTokensDetails {
                reasoning_tokens: d.reasoning_tokens,
                audio_tokens: d.audio_tokens,
                accepted_prediction_tokens: d.accepted_prediction_tokens,
                rejected_prediction_tokens: d.rejected_prediction_tokens,
            }),
    });
    let response = ChatResponse {
        id: wire.id,
        object: wire.object,
        created: wire.created,
        model: wire.model,
        choices,
        usage,
        system_fingerprint: wire.system_fingerprint,
    };
    Some((response, verbatim))
}

/// Translates one upstream SSE data payload.
///
/// # Errors
/// [`ProviderError::Malformed`] or [`ProviderError::MidStream`].
pub fn translate_event(
    provider: ProviderId,
    data: &str,
    secret: Option<&str>,
) -> Result<Translated, ProviderError> {
    translate(provider, data, secret, true).0
}

/// [`translate_event`], trying the strict reading first when `strict`;
/// also says whether the strict reading failed (a stream that sends one
/// chunk outside OpenAI's shape likely sends more: its caller stops trying).
fn translate(
    provider: ProviderId,
    data: &str,
    secret: Option<&str>,
    strict: bool,
) -> (Result<Translated, ProviderError>, bool) {
    let data = data.trim();
    if data == "[DONE]" {
        return (Ok(Translated::Done), false);
    }
    if strict && let Some(t) = strict_event(data) {
        return (Ok(t), false);
    }
    (lenient_event(provider, data, secret), strict)
}

/// Reads any OpenAI-dialect chunk, normalising what providers vary in.
fn lenient_event(
    provider: ProviderId,
    data: &str,
    secret: Option<&str>,
) -> Result<Translated, ProviderError> {
    let wire: WireChunk = serde_json::from_str(data).map_err(|e| ProviderError::Malformed {
        provider,
        what: format!(
            "stream chunk: {} at column {}",
            http::classify(&e),
            e.column()
        ),
    })?;
    if let Some(err) = wire.error {
        let (message, code) = http::error_fields(&err, secret);
        return Err(ProviderError::MidStream {
            provider,
            message,
            code,
        });
    }
    let usage = wire.usage.or_else(|| wire.x_groq.and_then(|x| x.usage));
    if wire.choices.is_empty() {
        // Usage-only chunk, or Azure's prompt_filter_results: nothing to forward as is.
        return Ok(Translated::Chunk(None, usage));
    }
    let chunk = ChatChunk {
        id: wire.id,
        object: wire
            .object
            .unwrap_or_else(|| "chat.completion.chunk".to_owned()),
        created: wire.created,
        model: wire.model,
        choices: wire.choices,
        usage: None,
        system_fingerprint: wire.system_fingerprint,
    };
    Ok(Translated::Chunk(Some(chunk), usage))
}

impl OpenAiCompatible {
    /// An adapter for `id` at `base` (e.g. `https://api.groq.com/openai/v1`).
    pub fn new(
        id: ProviderId,
        base: String,
        quirks: Quirks,
        client: reqwest::Client,
        config: Arc<ProviderConfig>,
    ) -> Self {
        let base = base.trim_end_matches('/').to_owned();
        Self {
            id,
            chat_url: reqwest::Url::parse(&format!("{base}/chat/completions")).ok(),
            base,
            target: Target::Base,
            quirks,
            client,
            config,
        }
    }

    /// The Azure OpenAI adapter: URL from the credential's endpoint,
    /// deployment and API version; key in the `api-key` header. A configured
    /// base URL override (`BYOK_UPSTREAM_AZURE`) replaces the endpoint.
    pub fn azure(client: reqwest::Client, config: Arc<ProviderConfig>) -> Self {
        let base = config
            .base_urls
            .get(&ProviderId::Azure)
            .cloned()
            .unwrap_or_default();
        Self {
            id: ProviderId::Azure,
            base: base.trim_end_matches('/').to_owned(),
            target: Target::Azure,
            chat_url: None,
            quirks: Quirks::OPENAI,
            client,
            config,
        }
    }

    /// The upstream chat request (validated, encoded, authorised) and the
    /// key it carries (for sanitising errors).
    fn chat_request(
        &self,
        request: &ChatRequest,
        credential: &Credential,
        stream: bool,
    ) -> Result<(reqwest::RequestBuilder, SecretString), ProviderError> {
        request.validate()?;
        let (url, name, auth, secret) = self.endpoint(credential, "chat/completions")?;
        let body = encode_with_model(request, self.quirks, stream, azure_model(credential))?;
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        let builder = self
            .client
            .post(url)
            .header(name, auth)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, accept)
            .body(body);
        Ok((builder, secret))
    }

    /// URL of `op` (`chat/completions` or `models`) and the auth header.
    fn endpoint(
        &self,
        credential: &Credential,
        op: &str,
    ) -> Result<(reqwest::Url, HeaderName, HeaderValue, SecretString), ProviderError> {
        let parse = |url: &str| {
            reqwest::Url::parse(url).map_err(|_| ProviderError::Connection {
                provider: self.id,
                reason: "invalid upstream URL",
            })
        };
        match (self.target, credential) {
            (Target::Base, Credential::ApiKey(key)) => Ok((
                match &self.chat_url {
                    Some(url) if op == "chat/completions" => url.clone(),
                    _ => parse(&format!("{}/{op}", self.base))?,
                },
                AUTHORIZATION,
                bearer(key)?,
                key.clone(),
            )),
            (Target::Azure, Credential::Azure(a)) => {
                let endpoint = a.base(&self.base);
                let version = a.api_version.as_deref().unwrap_or("v1");
                let deployment = a.deployment.as_deref().unwrap_or_default();
                let url = match (version, op) {
                    ("v1", _) => format!("{endpoint}/openai/v1/{op}"),
                    (_, "models") => format!("{endpoint}/openai/models?api-version={version}"),
                    _ => format!(
                        "{endpoint}/openai/deployments/{deployment}/{op}?api-version={version}"
                    ),
                };
                Ok((
                    parse(&url)?,
                    HeaderName::from_static("api-key"),
                    sensitive(a.api_key.expose_secret())?,
                    a.api_key.clone(),
                ))
            }
            _ => Err(CredentialError::WrongProvider.into()),
        }
    }
}

/// Azure selects the deployment by URL (dated versions) or by `model`
/// (`v1`): send the deployment name as the model either way.
fn azure_model(credential: &Credential) -> Option<&str> {
    match credential {
        Credential::Azure(a) => a.deployment.as_deref(),
        _ => None,
    }
}

/// A header value holding a secret, marked sensitive (never logged by the
/// HTTP stack). The one place adapters expose keys.
pub(crate) fn sensitive(text: &str) -> Result<HeaderValue, ProviderError> {
    let mut value = HeaderValue::from_str(text)
        .map_err(|_| CredentialError::BadCharacters("characters not allowed in a header"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// `Authorization: Bearer <key>` as a sensitive header value; the
/// formatted text is zeroized when dropped.
pub(crate) fn bearer(key: &SecretString) -> Result<HeaderValue, ProviderError> {
    sensitive(&Zeroizing::new(format!("Bearer {}", key.expose_secret())))
}

/// The OpenAI dialect's stream state.
pub(crate) struct OpenAiStream {
    provider: ProviderId,
    wants_usage: bool,
    usage: Option<Usage>,
    last: Option<(String, i64, String)>,
    secret: SecretString,
    /// Consecutive chunks that were not in OpenAI's exact shape; after
    /// [`STRICT_MISSES`] the stream stops trying the strict reading.
    strict_misses: u8,
}

/// See `OpenAiStream::strict_misses` (Groq, say, adds `x_groq` to its first
/// and last chunks only; a server that adds a field to every chunk costs
/// this many extra partial parses per stream).
const STRICT_MISSES: u8 = 3;

impl OpenAiStream {
    pub(crate) fn new(provider: ProviderId, wants_usage: bool, secret: SecretString) -> Self {
        Self {
            provider,
            wants_usage,
            usage: None,
            last: None,
            secret,
            strict_misses: 0,
        }
    }
}

impl SseTranslate for OpenAiStream {
    fn event(&mut self, event: &SseEvent, out: &mut Out) -> Result<bool, ProviderError> {
        let (translated, missed) = translate(
            self.provider,
            &event.data,
            Some(self.secret.expose_secret()),
            self.strict_misses < STRICT_MISSES,
        );
        if missed {
            self.strict_misses += 1;
        } else if matches!(translated, Ok(Translated::Verbatim(_))) {
            self.strict_misses = 0;
        }
        let (chunk, usage, verbatim) = match translated? {
            Translated::Done => {
                if self.wants_usage
                    && let Some(usage) = self.usage.clone()
                {
                    let (id, created, model) = self.last.clone().unwrap_or_default();
                    out.push_back(Ok(StreamEvent::Chunk(ChatChunk {
                        id,
                        object: "chat.completion.chunk".to_owned(),
                        created,
                        model,
                        choices: Vec::new(),
                        usage: Some(usage),
                        system_fingerprint: None,
                    })));
                }
                return Ok(true);
            }
            Translated::Chunk(chunk, usage) => (chunk, usage, false),
            Translated::Verbatim(chunk) => (Some(chunk), None, true),
        };
        if let Some(u) = usage {
            self.usage = Some(u.clone());
            out.push_back(Ok(StreamEvent::Usage(u)));
        }
        if let Some(c) = chunk {
            // Kept for the final usage chunk; copied only when it
            // changes (it rarely does within a stream).
            if self.wants_usage {
                match &mut self.last {
                    Some((id, created, model)) if *id == c.id && *model == c.model => {
                        *created = c.created;
                    }
                    last => *last = Some((c.id.clone(), c.created, c.model.clone())),
                }
            }
            out.push_back(Ok(if verbatim {
                StreamEvent::Verbatim {
                    chunk: c,
                    json: event.data.trim().to_owned(),
                }
            } else {
                StreamEvent::Chunk(c)
            }));
        }
        Ok(false)
    }

    fn eof(&mut self, _out: &mut Out) -> Result<(), ProviderError> {
        Err(ProviderError::StreamTruncated {
            provider: self.provider,
        })
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ModelList {
    Wrapped { data: Vec<ModelInfo> },
    Bare(Vec<ModelInfo>),
}

#[async_trait]
impl ChatProvider for OpenAiCompatible {
    fn id(&self) -> ProviderId {
        self.id
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            tools: true,
            vision: true,
            json_mode: true,
            streaming_usage: self.quirks.stream_options,
        }
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatOutcome, ProviderError> {
        let (builder, secret) = self.chat_request(request, credential, false)?;
        let bytes =
            http::fetch(self.id, &self.config, builder, Some(secret.expose_secret())).await?;
        let (response, verbatim) = match strict_response(&bytes) {
            Some((response, true)) => (response, Some(bytes::Bytes::from(bytes))),
            Some((response, false)) => (response, None),
            None => (http::parse_json(self.id, "response body", &bytes)?, None),
        };
        let mut outcome = ChatOutcome::new(response);
        outcome.verbatim = verbatim;
        Ok(outcome)
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatStream, ProviderError> {
        let (builder, secret) = self.chat_request(request, credential, true)?;
        let response =
            http::send(self.id, &self.config, builder, Some(secret.expose_secret())).await?;
        let translator = OpenAiStream::new(self.id, request.wants_stream_usage(), secret);
        Ok(ChatStream::new(http::sse_stream(
            self.id,
            response,
            &self.config,
            translator,
        )))
    }

    async fn list_models(&self, credential: &Credential) -> Result<Vec<ModelInfo>, ProviderError> {
        let (url, name, auth, secret) = self.endpoint(credential, "models")?;
        let builder = self.client.get(url).header(name, auth);
        let bytes =
            http::fetch(self.id, &self.config, builder, Some(secret.expose_secret())).await?;
        match http::parse_json::<ModelList>(self.id, "model list", &bytes)? {
            ModelList::Wrapped { data } | ModelList::Bare(data) => Ok(data),
        }
    }
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
    fn chunk_translation() {
        let p = ProviderId::Groq;
        let t = translate_event(p, r#"{"id":"a","choices":[],"x_groq":{"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}}"#, None).unwrap();
        assert!(matches!(t, Translated::Chunk(None, Some(ref u)) if u.total_tokens == 7));
        let t = translate_event(p, r#"{"id":"a","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}],"usage":{"prompt_tokens":1}}"#, None).unwrap();
        let Translated::Chunk(Some(c), Some(_)) = t else {
            panic!()
        };
        assert!(c.usage.is_none(), "usage is moved out of content chunks");
        assert_eq!(
            translate_event(p, " [DONE] ", None).unwrap(),
            Translated::Done
        );
        assert!(matches!(
            translate_event(p, "{not json", None),
            Err(ProviderError::Malformed { .. })
        ));
        let e = translate_event(p, r#"{"error":{"message":"Upstream overloaded for key sk-or-v1-abcdef0123456789","code":502}}"#, None).unwrap_err();
        let ProviderError::MidStream { message, code, .. } = e else {
            panic!()
        };
        assert!(!message.contains("abcdef0123456789"));
        assert_eq!(code.as_deref(), Some("502"));
    }

    /// JSON with null members removed (a missing member and `null` mean
    /// the same in a chunk) and OpenAI's own extras that the translated
    /// chunk does not model.
    fn meaning(mut v: Value) -> Value {
        fn strip(v: &mut Value) {
            match v {
                Value::Object(m) => {
                    m.retain(|_, x| !x.is_null());
                    m.values_mut().for_each(strip);
                }
                Value::Array(a) => a.iter_mut().for_each(strip),
                _ => {}
            }
        }
        if let Value::Object(m) = &mut v {
            m.remove("obfuscation");
            m.remove("service_tier");
        }
        strip(&mut v);
        v
    }

    /// Checks the verbatim contract for one payload: a verbatim chunk's
    /// bytes mean what its parsed form means, and the lenient reading
    /// gives the same chunk.
    fn check(data: &str) -> Translated {
        let p = ProviderId::OpenAi;
        let strict = translate(p, data, None, true).0.unwrap();
        let lenient = translate(p, data, None, false).0.unwrap();
        match &strict {
            Translated::Verbatim(c) => {
                assert_eq!(
                    meaning(serde_json::from_str(data).unwrap()),
                    meaning(serde_json::to_value(c).unwrap()),
                    "{data}"
                );
                assert_eq!(lenient, Translated::Chunk(Some(c.clone()), None), "{data}");
                assert!(!data.contains('\n'));
            }
            other => assert_eq!(other, &lenient, "{data}"),
        }
        strict
    }

    const BASE: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hi \"there\" \u00e9"},"logprobs":null,"finish_reason":null}]}"#;

    #[test]
    fn chunks_in_openais_exact_shape_are_verbatim_and_others_are_not() {
        assert!(matches!(check(BASE), Translated::Verbatim(_)));
        // OpenAI's own extras stay verbatim.
        let extras = BASE.replacen(
            '{',
            r#"{"obfuscation":"a1b2","service_tier":"default","usage":null,"#,
            1,
        );
        assert!(matches!(check(&extras), Translated::Verbatim(_)));
        let tool = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]},"finish_reason":null}]}"#;
        assert!(matches!(check(tool), Translated::Verbatim(_)));
        let last = BASE.replace(r#""finish_reason":null"#, r#""finish_reason":"tool_calls""#);
        assert!(matches!(check(&last), Translated::Verbatim(_)));
        for not_verbatim in [
            // A field OpenAI does not send, at each level.
            BASE.replacen('{', r#"{"x_groq":{"id":"req_1"},"#, 1),
            BASE.replace(r#""index":0,"#, r#""index":0,"stop_reason":null,"#),
            BASE.replace(r#""delta":{"#, r#""delta":{"reasoning":"hm","#),
            tool.replace(r#""index":0,"id""#, r#""index":0,"extra":1,"id""#),
            tool.replace(r#""name":"f""#, r#""name":"f","x":1"#),
            // A finish reason that the lenient path normalises.
            BASE.replace(r#""finish_reason":null"#, r#""finish_reason":"eos""#),
            // Usage, which is moved out of content chunks.
            BASE.replacen(
                '{',
                r#"{"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3},"#,
                1,
            ),
            // Not a chunk object, or no choices.
            BASE.replace("chat.completion.chunk", "chat.completion"),
            BASE.replace(r#""choices":[{"#, r#""choices":[],"unused":[{"#),
            // Spread over several lines.
            BASE.replace(r#","created""#, "\n,\"created\""),
        ] {
            assert!(
                !matches!(check(&not_verbatim), Translated::Verbatim(_)),
                "{not_verbatim}"
            );
        }
    }

    #[test]
    fn a_stream_stops_trying_the_strict_reading_after_consecutive_misses() {
        use secrecy::SecretString;
        let mut s = OpenAiStream::new(ProviderId::Groq, false, SecretString::from("k"));
        let mut out = Out::new();
        let odd = BASE.replacen('{', r#"{"x_vendor":1,"#, 1);
        let event = |data: &str| SseEvent {
            event: None,
            data: data.to_owned(),
        };
        for _ in 0..STRICT_MISSES {
            s.event(&event(&odd), &mut out).unwrap();
        }
        assert_eq!(s.strict_misses, STRICT_MISSES);
        s.event(&event(BASE), &mut out).unwrap();
        assert!(
            out.iter().all(|e| matches!(e, Ok(StreamEvent::Chunk(_)))),
            "no verbatim chunk once the stream gave up on the strict reading"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Arbitrary text, extra members and finish reasons: whatever is
        /// marked verbatim means what its parsed form means.
        #[test]
        fn verbatim_chunks_mean_what_they_parse_to(
            content in proptest::option::of(".{0,40}"),
            role in proptest::option::of("[a-z]{0,9}"),
            finish in proptest::option::of("stop|length|tool_calls|content_filter|function_call|eos|end_turn"),
            extra_top in proptest::option::of("[a-z_]{1,12}"),
            extra_delta in proptest::option::of("[a-z_]{1,12}"),
            logprobs in proptest::bool::ANY,
        ) {
            let mut delta = serde_json::Map::new();
            if let Some(c) = &content { delta.insert("content".into(), Value::from(c.clone())); }
            if let Some(r) = &role { delta.insert("role".into(), Value::from(r.clone())); }
            if let Some(x) = &extra_delta { delta.insert(x.clone(), Value::from(1)); }
            let mut choice = serde_json::json!({"index": 0, "delta": delta, "finish_reason": finish});
            if logprobs { choice["logprobs"] = serde_json::json!({"content": []}); }
            let mut chunk = serde_json::json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]});
            if let Some(x) = &extra_top { chunk[x.as_str()] = Value::from("v"); }
            check(&chunk.to_string());
        }
    }

    /// [`meaning`] for a whole answer: also without the message extras
    /// (`annotations`, `audio`) the parsed response does not model.
    fn response_meaning(v: Value) -> Value {
        let mut v = meaning(v);
        if let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) {
            for c in choices {
                if let Some(m) = c.get_mut("message").and_then(Value::as_object_mut) {
                    m.remove("annotations");
                    m.remove("audio");
                }
            }
        }
        v
    }

    /// The verbatim contract for an answer: forwarded bytes mean what the
    /// parsed response means, and the strict and lenient readings agree.
    fn check_response(body: &str) -> Option<bool> {
        let lenient: ChatResponse = serde_json::from_str(body).unwrap();
        let (strict, verbatim) = strict_response(body.as_bytes())?;
        assert_eq!(strict, lenient, "{body}");
        if verbatim {
            assert_eq!(
                response_meaning(serde_json::from_str(body).unwrap()),
                response_meaning(serde_json::to_value(&strict).unwrap()),
                "{body}"
            );
        }
        Some(verbatim)
    }

    #[test]
    fn answers_in_openais_exact_shape_are_verbatim_and_others_are_not() {
        let text = byok_testkit::fixture("openai/chat_text.json");
        let tools = byok_testkit::fixture("openai/chat_tool_calls.json");
        assert_eq!(check_response(&text), Some(true));
        assert_eq!(check_response(&tools), Some(true));
        assert_eq!(
            check_response(
                &text.replace(r#""finish_reason": "stop""#, r#""finish_reason": "eos""#)
            ),
            Some(false),
            "a finish reason the lenient path normalises"
        );
        assert_eq!(
            check_response(&text.replace(r#""role": "assistant""#, r#""role": "model""#)),
            Some(false)
        );
        for not_openai in [
            text.replacen('{', r#"{"x_groq": {"id": "r"},"#, 1),
            text.replace(
                r#""refusal": null,"#,
                r#""refusal": null, "reasoning": "hm","#,
            ),
            text.replace(
                r#""cached_tokens": 1920,"#,
                r#""cached_tokens": 1920, "cache_write_tokens": 5,"#,
            ),
            text.replace(
                r#""logprobs": null,"#,
                r#""logprobs": null, "stop_reason": null,"#,
            ),
        ] {
            assert_eq!(check_response(&not_openai), None, "{not_openai}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Whatever is marked verbatim means what it parses to.
        #[test]
        fn verbatim_answers_mean_what_they_parse_to(
            content in proptest::option::of(".{0,40}"),
            role in "assistant|model|[a-z]{1,6}",
            finish in proptest::option::of("stop|length|tool_calls|content_filter|eos"),
            extra_msg in proptest::option::of("[a-z_]{1,10}"),
            annotations in proptest::bool::ANY,
            with_usage in proptest::bool::ANY,
        ) {
            let mut message = serde_json::json!({"role": role, "content": content});
            if annotations { message["annotations"] = serde_json::json!([]); }
            if let Some(x) = &extra_msg { message[x.as_str()] = Value::from(1); }
            let mut body = serde_json::json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}]});
            if with_usage {
                body["usage"] = serde_json::json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
                    "prompt_tokens_details": {"cached_tokens": 0}});
            }
            check_response(&body.to_string());
        }
    }
}
