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
//!   most one event buffered ([`crate::Limits::max_event_bytes`]).
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
use crate::stream::{ChatStream, StreamEvent, UsageReport};
use crate::types::{
    ChatChunk, ChatRequest, ChatResponse, ChunkChoice, Message, ModelInfo, ResponseFormat, Stop,
    StreamOptions, Tool, ToolChoice, Usage,
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
    /// `[DONE]`.
    Done,
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
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(Translated::Done);
    }
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
}

impl OpenAiStream {
    pub(crate) fn new(provider: ProviderId, wants_usage: bool, secret: SecretString) -> Self {
        Self {
            provider,
            wants_usage,
            usage: None,
            last: None,
            secret,
        }
    }
}

impl SseTranslate for OpenAiStream {
    fn event(&mut self, event: &SseEvent, out: &mut Out) -> Result<bool, ProviderError> {
        match translate_event(
            self.provider,
            &event.data,
            Some(self.secret.expose_secret()),
        )? {
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
                Ok(true)
            }
            Translated::Chunk(chunk, usage) => {
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
                    out.push_back(Ok(StreamEvent::Chunk(c)));
                }
                Ok(false)
            }
        }
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
        request.validate()?;
        let (url, name, auth, secret) = self.endpoint(credential, "chat/completions")?;
        let body = encode_with_model(request, self.quirks, false, azure_model(credential))?;
        let builder = self
            .client
            .post(url)
            .header(name, auth)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(body);
        let response =
            http::send(self.id, &self.config, builder, Some(secret.expose_secret())).await?;
        let bytes = http::read_body(
            self.id,
            response,
            self.config.limits.max_body_bytes,
            self.config.timeouts.idle,
        )
        .await?;
        let response: ChatResponse = http::parse_json(self.id, "response body", &bytes)?;
        let usage = match &response.usage {
            Some(u) => UsageReport::Reported(u.clone()),
            None => UsageReport::Missing,
        };
        Ok(ChatOutcome { response, usage })
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatStream, ProviderError> {
        request.validate()?;
        let (url, name, auth, secret) = self.endpoint(credential, "chat/completions")?;
        let body = encode_with_model(request, self.quirks, true, azure_model(credential))?;
        let builder = self
            .client
            .post(url)
            .header(name, auth)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream")
            .body(body);
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
        let response =
            http::send(self.id, &self.config, builder, Some(secret.expose_secret())).await?;
        let bytes = http::read_body(
            self.id,
            response,
            self.config.limits.max_body_bytes,
            self.config.timeouts.idle,
        )
        .await?;
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
}
