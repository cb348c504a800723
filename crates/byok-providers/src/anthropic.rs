//! Anthropic Messages: `anthropic` and `azure-anthropic-foundry`.
//!
//! Same translator, two targets: `{base}/v1/messages` with `x-api-key` for
//! Anthropic, `{endpoint}v1/messages` with `x-api-key` for Azure AI Foundry.
//! The mapping table is in `docs/providers.md`; in short:
//!
//! - system and developer messages become the top-level `system`;
//!   consecutive same-role messages are merged (tool results become
//!   `tool_result` blocks of one user message, so parallel results stay
//!   together); images become `image` blocks (base64 or URL source);
//! - `max_tokens` is required upstream: the client's `max_completion_tokens`
//!   or `max_tokens`, else [`DEFAULT_MAX_TOKENS`];
//! - `stop` → `stop_sequences`, tools → `input_schema`, `tool_choice` →
//!   `auto`/`any`/`none`/`tool`, `parallel_tool_calls: false` →
//!   `disable_parallel_tool_use`, `user` → `metadata.user_id`,
//!   `reasoning_effort` → `thinking` with a budget;
//! - refused with a 400: `response_format` JSON modes, `n > 1`, `logprobs`,
//!   penalties, `logit_bias`; dropped as harmless: `seed`.
//! - Streaming: `message_start` → role chunk, text deltas → `content`,
//!   `tool_use` starts → tool-call id and name, `input_json_delta` →
//!   argument fragments, thinking deltas → `reasoning_content`,
//!   `message_delta` → finish reason, usage from `message_start` (input and
//!   cache) plus the cumulative `output_tokens`.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderName};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::{
    arguments_object, check_common, encode_body, now_secs, parse_data_url, refuse_penalties,
    unsupported,
};
use crate::credential::Credential;
use crate::error::{CredentialError, ProviderError};
use crate::http::{self, Out, SseTranslate};
use crate::id::ProviderId;
use crate::openai::sensitive;
use crate::provider::{Capabilities, ChatOutcome, ChatProvider, ProviderConfig};
use crate::sse::SseEvent;
use crate::stream::{ChatStream, StreamEvent};
use crate::types::{
    ChatRequest, ChatResponse, Choice, CompletionTokensDetails, Content, ContentPart, Delta,
    FinishReason, FunctionCall, FunctionDelta, Message, ModelInfo, PromptTokensDetails,
    ResponseFormat, ResponseMessage, ToolCall, ToolCallDelta, ToolChoice, Usage,
};

/// `max_tokens` sent when the client gives none (Anthropic requires it).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// The `anthropic-version` header value.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Thinking budgets for `reasoning_effort` low / medium / high.
const THINKING_BUDGETS: [(&str, u32); 3] = [("low", 1024), ("medium", 4096), ("high", 16384)];

/// Extra fields passed through as Anthropic-native parameters.
const NATIVE_EXTRA: &[&str] = &["top_k", "thinking"];

/// The Anthropic translator.
pub struct Anthropic {
    id: ProviderId,
    base: String,
    client: reqwest::Client,
    config: Arc<ProviderConfig>,
}

impl std::fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anthropic")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize)]
struct WireRequest {
    model: String,
    max_tokens: u32,
    messages: Vec<WireMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sequences: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
struct WireMessage {
    role: String,
    content: Vec<Value>,
}

fn image_block(url: &str) -> Value {
    match parse_data_url(url) {
        Some((media_type, data)) => {
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
        }
        None => json!({"type": "image", "source": {"type": "url", "url": url}}),
    }
}

fn content_blocks(content: &Content) -> Vec<Value> {
    match content {
        Content::Text(t) => vec![json!({"type": "text", "text": t})],
        Content::Parts(parts) => parts
            .iter()
            .map(|p| match p {
                ContentPart::Text { text } => json!({"type": "text", "text": text}),
                ContentPart::ImageUrl { image_url } => image_block(&image_url.url),
            })
            .collect(),
    }
}

/// Encodes the Anthropic request body.
///
/// # Errors
/// [`ProviderError::Unsupported`] or [`ProviderError::InvalidRequest`] for
/// what Anthropic cannot express.
pub fn encode_request(
    provider: ProviderId,
    request: &ChatRequest,
    stream: bool,
) -> Result<Vec<u8>, ProviderError> {
    let wire = to_wire(provider, request, stream)?;
    encode_body(&wire)
}

fn to_wire(
    provider: ProviderId,
    request: &ChatRequest,
    stream: bool,
) -> Result<WireRequest, ProviderError> {
    check_common(provider, request, NATIVE_EXTRA)?;
    if matches!(
        request.response_format,
        Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })
    ) {
        return Err(unsupported(
            provider,
            "`response_format` JSON modes (use a tool with an input schema instead)",
        ));
    }
    refuse_penalties(provider, request)?;
    let mut system: Vec<String> = Vec::new();
    let mut messages: Vec<WireMessage> = Vec::new();
    let mut push = |role: &str, blocks: Vec<Value>| {
        if blocks.is_empty() {
            return;
        }
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => messages.push(WireMessage {
                role: role.to_owned(),
                content: blocks,
            }),
        }
    };
    for message in &request.messages {
        match message {
            Message::System { content, .. } | Message::Developer { content, .. } => {
                system.push(content.text())
            }
            Message::User { content, .. } => push("user", content_blocks(content)),
            Message::Assistant {
                content,
                tool_calls,
                ..
            } => {
                let mut blocks = Vec::new();
                if let Some(c) = content {
                    blocks.extend(content_blocks(c).into_iter().filter(|b| b["text"] != ""));
                }
                for call in tool_calls.iter().flatten() {
                    blocks.push(json!({
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.function.name,
                        "input": arguments_object(provider, call)?,
                    }));
                }
                push("assistant", blocks);
            }
            Message::Tool {
                content,
                tool_call_id,
            } => push(
                "user",
                vec![
                    json!({"type": "tool_result", "tool_use_id": tool_call_id, "content": content.text()}),
                ],
            ),
        }
    }
    let tools = request.tools.as_ref().map(|tools| {
        tools
            .iter()
            .map(|t| {
                let mut v = json!({
                    "name": t.function.name,
                    "input_schema": t.function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                });
                if let Some(d) = &t.function.description {
                    v["description"] = json!(d);
                }
                v
            })
            .collect::<Vec<_>>()
    });
    let mut tool_choice = match &request.tool_choice {
        None => None,
        Some(ToolChoice::Mode(m)) => match m.as_str() {
            "auto" => Some(json!({"type": "auto"})),
            "required" => Some(json!({"type": "any"})),
            "none" => Some(json!({"type": "none"})),
            other => {
                return Err(ProviderError::invalid(
                    format!(
                        "unknown tool_choice `{}`",
                        other.chars().take(32).collect::<String>()
                    ),
                    Some("tool_choice"),
                ));
            }
        },
        Some(ToolChoice::Named(n)) => Some(json!({"type": "tool", "name": n.function.name})),
    };
    if request.parallel_tool_calls == Some(false) && tools.is_some() {
        let choice = tool_choice.get_or_insert_with(|| json!({"type": "auto"}));
        if choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
    }
    let mut max_tokens = request.max_completion_tokens.or(request.max_tokens);
    let thinking = match (&request.reasoning_effort, request.extra.get("thinking")) {
        (_, Some(t)) => Some(t.clone()),
        (Some(effort), None) => {
            let budget = THINKING_BUDGETS
                .iter()
                .find(|(name, _)| *name == effort.as_str())
                .map(|(_, b)| *b)
                .ok_or_else(|| {
                    ProviderError::invalid(
                        "`reasoning_effort` must be low, medium or high",
                        Some("reasoning_effort"),
                    )
                })?;
            // The budget counts inside max_tokens: keep room for the answer.
            if max_tokens.is_none_or(|m| m <= budget) {
                max_tokens = Some(budget + max_tokens.unwrap_or(DEFAULT_MAX_TOKENS));
            }
            Some(json!({"type": "enabled", "budget_tokens": budget}))
        }
        (None, None) => None,
    };
    Ok(WireRequest {
        model: request.model.clone(),
        max_tokens: max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        messages,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        temperature: request.temperature,
        top_p: request.top_p,
        stop_sequences: request.stop.as_ref().map(crate::types::Stop::to_vec),
        tools,
        tool_choice,
        metadata: request.user.as_ref().map(|u| json!({"user_id": u})),
        thinking,
        top_k: request.extra.get("top_k").cloned(),
        stream,
    })
}

/// Anthropic stop reasons as OpenAI finish reasons.
pub(crate) fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        // end_turn, stop_sequence, pause_turn
        _ => FinishReason::Stop,
    }
}

#[derive(Debug, Deserialize, Default, Clone)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// In OpenAI's terms: prompt tokens include cache reads and writes.
    fn to_usage(&self) -> Usage {
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

fn decode_response(provider: ProviderId, bytes: &[u8]) -> Result<ChatResponse, ProviderError> {
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
            },
            finish_reason: wire.stop_reason.as_deref().map(finish_reason),
            logprobs: None,
        }],
        usage: wire.usage.as_ref().map(WireUsage::to_usage),
        system_fingerprint: None,
    })
}

/// Anthropic's stream state.
pub(crate) struct AnthropicStream {
    provider: ProviderId,
    wants_usage: bool,
    secret: SecretString,
    id: String,
    model: String,
    created: i64,
    usage: WireUsage,
    saw_usage: bool,
    /// Content block index → tool-call index.
    tools: HashMap<u64, u32>,
    next_tool: u32,
}

impl AnthropicStream {
    pub(crate) fn new(provider: ProviderId, wants_usage: bool, secret: SecretString) -> Self {
        Self {
            provider,
            wants_usage,
            secret,
            id: String::new(),
            model: String::new(),
            created: now_secs(),
            usage: WireUsage::default(),
            saw_usage: false,
            tools: HashMap::new(),
            next_tool: 0,
        }
    }

    fn chunk(&self, delta: Delta, finish: Option<FinishReason>) -> StreamEvent {
        crate::common::chunk_event(&self.id, self.created, &self.model, delta, finish)
    }

    fn malformed(&self, what: &str) -> ProviderError {
        ProviderError::Malformed {
            provider: self.provider,
            what: format!("stream event: {what}"),
        }
    }
}

fn u64_field(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

impl SseTranslate for AnthropicStream {
    fn event(&mut self, event: &SseEvent, out: &mut Out) -> Result<bool, ProviderError> {
        let data: Value =
            serde_json::from_str(&event.data).map_err(|e| self.malformed(http::classify(&e)))?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or("");
        match kind {
            "message_start" => {
                let msg = data
                    .get("message")
                    .ok_or_else(|| self.malformed("message_start without message"))?;
                self.id = msg
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                self.model = msg
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                if let Some(u) = msg.get("usage") {
                    self.usage = serde_json::from_value(u.clone()).unwrap_or_default();
                    self.saw_usage = true;
                }
                out.push_back(Ok(self.chunk(
                    Delta {
                        role: Some("assistant".into()),
                        content: Some(String::new()),
                        ..Delta::default()
                    },
                    None,
                )));
            }
            "content_block_start" => {
                let index = u64_field(&data, "index").unwrap_or(0);
                let block = data.get("content_block").cloned().unwrap_or(Value::Null);
                match block.get("type").and_then(Value::as_str) {
                    Some("tool_use") => {
                        let tool_index = self.next_tool;
                        self.next_tool += 1;
                        self.tools.insert(index, tool_index);
                        out.push_back(Ok(self.chunk(
                            Delta {
                                tool_calls: Some(vec![ToolCallDelta {
                                    index: tool_index,
                                    id: block.get("id").and_then(Value::as_str).map(str::to_owned),
                                    kind: Some("function".into()),
                                    function: Some(FunctionDelta {
                                        name: block
                                            .get("name")
                                            .and_then(Value::as_str)
                                            .map(str::to_owned),
                                        arguments: Some(String::new()),
                                    }),
                                }]),
                                ..Delta::default()
                            },
                            None,
                        )));
                    }
                    Some("text") => {
                        if let Some(t) = block
                            .get("text")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            out.push_back(Ok(self.chunk(
                                Delta {
                                    content: Some(t.to_owned()),
                                    ..Delta::default()
                                },
                                None,
                            )));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let index = u64_field(&data, "index").unwrap_or(0);
                let delta = data.get("delta").cloned().unwrap_or(Value::Null);
                let text = |k: &str| delta.get(k).and_then(Value::as_str).map(str::to_owned);
                let d = match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => Delta {
                        content: text("text"),
                        ..Delta::default()
                    },
                    Some("thinking_delta") => Delta {
                        reasoning_content: text("thinking"),
                        ..Delta::default()
                    },
                    Some("input_json_delta") => {
                        let tool = *self.tools.get(&index).ok_or_else(|| {
                            self.malformed("input_json_delta for a block that is not a tool_use")
                        })?;
                        Delta {
                            tool_calls: Some(vec![ToolCallDelta {
                                index: tool,
                                id: None,
                                kind: None,
                                function: Some(FunctionDelta {
                                    name: None,
                                    arguments: text("partial_json"),
                                }),
                            }]),
                            ..Delta::default()
                        }
                    }
                    // signature_delta, citations_delta: nothing for the client.
                    _ => return Ok(false),
                };
                out.push_back(Ok(self.chunk(d, None)));
            }
            "message_delta" => {
                if let Some(u) = data.get("usage") {
                    if let Some(o) = u64_field(u, "output_tokens") {
                        self.usage.output_tokens = o;
                        self.saw_usage = true;
                    }
                    // Some deployments repeat input and cache counts here.
                    if let Some(i) = u64_field(u, "input_tokens").filter(|i| *i > 0) {
                        self.usage.input_tokens = i;
                    }
                    if let Some(r) = u64_field(u, "cache_read_input_tokens").filter(|r| *r > 0) {
                        self.usage.cache_read_input_tokens = Some(r);
                    }
                    if let Some(w) = u64_field(u, "cache_creation_input_tokens").filter(|w| *w > 0)
                    {
                        self.usage.cache_creation_input_tokens = Some(w);
                    }
                }
                if let Some(reason) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    out.push_back(Ok(self.chunk(Delta::default(), Some(finish_reason(reason)))));
                }
            }
            "message_stop" => {
                if self.saw_usage {
                    let usage = self.usage.to_usage();
                    crate::common::push_usage(
                        out,
                        usage,
                        self.wants_usage,
                        &self.id,
                        self.created,
                        &self.model,
                    );
                }
                return Ok(true);
            }
            "error" => {
                let err = data.get("error").unwrap_or(&data);
                let message = err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("stream error");
                return Err(ProviderError::MidStream {
                    provider: self.provider,
                    message: crate::error::sanitize(message, Some(self.secret.expose_secret())),
                    code: http::short_code(err.get("type")),
                });
            }
            // ping, content_block_stop, unknown future events
            _ => {}
        }
        Ok(false)
    }

    fn eof(&mut self, _out: &mut Out) -> Result<(), ProviderError> {
        Err(ProviderError::StreamTruncated {
            provider: self.provider,
        })
    }
}

impl Anthropic {
    /// The translator for `anthropic` (base URL from config) or
    /// `azure-anthropic-foundry` (base from the credential's endpoint unless
    /// overridden).
    pub fn new(id: ProviderId, client: reqwest::Client, config: Arc<ProviderConfig>) -> Self {
        let base = match id {
            ProviderId::AzureAnthropicFoundry => {
                config.base_urls.get(&id).cloned().unwrap_or_default()
            }
            _ => config.base_url(id).to_owned(),
        };
        Self {
            id,
            base,
            client,
            config,
        }
    }

    fn target(
        &self,
        credential: &Credential,
        path: &str,
    ) -> Result<(String, SecretString), ProviderError> {
        match (self.id, credential) {
            (ProviderId::Anthropic, Credential::ApiKey(k)) => Ok((
                format!("{}/v1/{path}", self.base.trim_end_matches('/')),
                k.clone(),
            )),
            (ProviderId::AzureAnthropicFoundry, Credential::AzureAnthropic(a)) => {
                let base = a.base(&self.base);
                Ok((
                    format!("{}/v1/{path}", base.trim_end_matches('/')),
                    a.api_key.clone(),
                ))
            }
            _ => Err(CredentialError::WrongProvider.into()),
        }
    }

    fn post(
        &self,
        url: String,
        key: &SecretString,
        body: Vec<u8>,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        Ok(self
            .client
            .post(url)
            .header(
                HeaderName::from_static("x-api-key"),
                sensitive(key.expose_secret())?,
            )
            .header(
                HeaderName::from_static("anthropic-version"),
                ANTHROPIC_VERSION,
            )
            .header(CONTENT_TYPE, "application/json")
            .body(body))
    }
}

#[derive(Deserialize)]
struct ModelPage {
    #[serde(default)]
    data: Vec<Value>,
}

#[async_trait]
impl ChatProvider for Anthropic {
    fn id(&self) -> ProviderId {
        self.id
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            tools: true,
            vision: true,
            json_mode: false,
            streaming_usage: true,
        }
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatOutcome, ProviderError> {
        let body = encode_request(self.id, request, false)?;
        let (url, key) = self.target(credential, "messages")?;
        let bytes = http::fetch(
            self.id,
            &self.config,
            self.post(url, &key, body)?,
            Some(key.expose_secret()),
        )
        .await?;
        let response = decode_response(self.id, &bytes)?;
        Ok(ChatOutcome::new(response))
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatStream, ProviderError> {
        let body = encode_request(self.id, request, true)?;
        let (url, key) = self.target(credential, "messages")?;
        let builder = self
            .post(url, &key, body)?
            .header(reqwest::header::ACCEPT, "text/event-stream");
        let response =
            http::send(self.id, &self.config, builder, Some(key.expose_secret())).await?;
        let translator = AnthropicStream::new(self.id, request.wants_stream_usage(), key);
        Ok(ChatStream::new(http::sse_stream(
            self.id,
            response,
            &self.config,
            translator,
        )))
    }

    async fn list_models(&self, credential: &Credential) -> Result<Vec<ModelInfo>, ProviderError> {
        let (url, key) = self.target(credential, "models")?;
        let builder = self
            .client
            .get(url)
            .header(
                HeaderName::from_static("x-api-key"),
                sensitive(key.expose_secret())?,
            )
            .header(
                HeaderName::from_static("anthropic-version"),
                ANTHROPIC_VERSION,
            );
        let bytes = http::fetch(self.id, &self.config, builder, Some(key.expose_secret())).await?;
        let page: ModelPage = http::parse_json(self.id, "model list", &bytes)?;
        Ok(page
            .data
            .iter()
            .filter_map(|m| m.get("id").and_then(Value::as_str))
            .map(|id| ModelInfo {
                id: id.to_owned(),
                object: "model".into(),
                owned_by: "anthropic".into(),
            })
            .collect())
    }
}

/// Test support: the inverse of the request mapping, to check that messages
/// and tools survive neutral → Anthropic → neutral.
#[cfg(test)]
pub(crate) fn wire_to_neutral(body: &Value) -> (Vec<Message>, Vec<String>) {
    let mut messages = Vec::new();
    if let Some(s) = body.get("system").and_then(Value::as_str) {
        messages.push(Message::System {
            content: Content::Text(s.to_owned()),
            name: None,
        });
    }
    for m in body["messages"].as_array().into_iter().flatten() {
        let role = m["role"].as_str().unwrap_or("");
        let mut parts = Vec::new();
        let mut calls = Vec::new();
        for b in m["content"].as_array().into_iter().flatten() {
            match b["type"].as_str() {
                Some("text") => parts.push(ContentPart::Text {
                    text: b["text"].as_str().unwrap_or("").to_owned(),
                }),
                Some("tool_use") => calls.push(ToolCall {
                    id: b["id"].as_str().unwrap_or("").to_owned(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: b["name"].as_str().unwrap_or("").to_owned(),
                        arguments: b["input"].to_string(),
                    },
                }),
                Some("tool_result") => messages.push(Message::Tool {
                    content: Content::Text(b["content"].as_str().unwrap_or("").to_owned()),
                    tool_call_id: b["tool_use_id"].as_str().unwrap_or("").to_owned(),
                }),
                _ => {}
            }
        }
        if role == "assistant" {
            messages.push(Message::Assistant {
                content: (!parts.is_empty()).then(|| {
                    Content::Text(
                        parts
                            .iter()
                            .map(|p| match p {
                                ContentPart::Text { text } => text.clone(),
                                ContentPart::ImageUrl { .. } => String::new(),
                            })
                            .collect(),
                    )
                }),
                tool_calls: (!calls.is_empty()).then_some(calls),
                refusal: None,
                reasoning_content: None,
                name: None,
            });
        } else if !parts.is_empty() {
            messages.push(Message::User {
                content: Content::Text(
                    parts
                        .iter()
                        .map(|p| match p {
                            ContentPart::Text { text } => text.clone(),
                            ContentPart::ImageUrl { .. } => String::new(),
                        })
                        .collect(),
                ),
                name: None,
            });
        }
    }
    let tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    (messages, tools)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn request_mapping() {
        let r = req(json!({
            "model": "claude-sonnet-4-5",
            "messages": [
                {"role": "system", "content": "A"},
                {"role": "developer", "content": "B"},
                {"role": "user", "content": "one"},
                {"role": "user", "content": [{"type": "text", "text": "two"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}, {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                    {"id": "t2", "type": "function", "function": {"name": "f", "arguments": "{\"a\":2}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "r1"},
                {"role": "tool", "tool_call_id": "t2", "content": "r2"}
            ],
            "stop": "END", "user": "u1", "parallel_tool_calls": false,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": "required"
        }));
        let w = serde_json::to_value(to_wire(ProviderId::Anthropic, &r, true).unwrap()).unwrap();
        assert_eq!(w["system"], "A\n\nB");
        assert_eq!(w["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(
            w["messages"].as_array().unwrap().len(),
            3,
            "same-role messages merged"
        );
        assert_eq!(w["messages"][0]["content"].as_array().unwrap().len(), 4);
        assert_eq!(w["messages"][0]["content"][2]["source"]["type"], "base64");
        assert_eq!(
            w["messages"][0]["content"][2]["source"]["media_type"],
            "image/png"
        );
        assert_eq!(w["messages"][0]["content"][3]["source"]["type"], "url");
        assert_eq!(w["messages"][1]["content"][1]["input"]["a"], 2);
        assert_eq!(
            w["messages"][2]["content"][1]["tool_use_id"], "t2",
            "parallel results in one user message"
        );
        assert_eq!(w["stop_sequences"], json!(["END"]));
        assert_eq!(
            w["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
        assert_eq!(w["metadata"]["user_id"], "u1");
        assert_eq!(w["stream"], true);
    }

    #[test]
    fn refusals() {
        let base = json!({"model": "claude", "messages": [{"role": "user", "content": "x"}]});
        for (k, v, what) in [
            (
                "response_format",
                json!({"type": "json_object"}),
                "response_format",
            ),
            ("n", json!(2), "`n`"),
            ("presence_penalty", json!(0.5), "presence_penalty"),
            ("logprobs", json!(true), "logprobs"),
        ] {
            let mut b = base.clone();
            b[k] = v;
            let e = to_wire(ProviderId::Anthropic, &req(b), false).unwrap_err();
            assert!(e.to_string().contains(what), "{e}");
        }
        let mut b = base.clone();
        b["seed"] = json!(1);
        b["top_k"] = json!(5);
        let w =
            serde_json::to_value(to_wire(ProviderId::Anthropic, &req(b), false).unwrap()).unwrap();
        assert_eq!(w["top_k"], 5);
        assert!(w.get("seed").is_none());
        let mut b = base;
        b["messages"] = json!([{"role": "assistant", "tool_calls": [{"id": "x", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]);
        assert!(matches!(
            to_wire(ProviderId::Anthropic, &req(b), false),
            Err(ProviderError::InvalidRequest { .. })
        ));
    }

    #[test]
    fn reasoning_effort_becomes_thinking_with_room_for_the_answer() {
        let r = req(
            json!({"model": "claude", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "medium", "max_tokens": 1000}),
        );
        let w = serde_json::to_value(to_wire(ProviderId::Anthropic, &r, false).unwrap()).unwrap();
        assert_eq!(w["thinking"]["budget_tokens"], 4096);
        assert_eq!(w["max_tokens"], 5096);
    }

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

    mod roundtrip {
        use super::*;
        use proptest::prelude::*;

        fn conversation() -> impl Strategy<Value = Vec<Message>> {
            crate::test_support::conversation(crate::test_support::PLAIN)
        }

        proptest! {
            #[test]
            fn neutral_to_anthropic_to_neutral_keeps_messages_and_tools(
                messages in conversation(),
                tools in proptest::collection::btree_set("[a-z]{1,8}", 0..4),
            ) {
                let tools: Vec<String> = tools.into_iter().collect();
                let mut request = req(json!({"model": "claude", "messages": [{"role": "user", "content": "x"}]}));
                request.messages = messages.clone();
                if !tools.is_empty() {
                    request.tools = Some(tools.iter().map(|t| serde_json::from_value(json!({"type": "function", "function": {"name": t, "parameters": {"type": "object"}}})).unwrap()).collect());
                }
                let wire = serde_json::to_value(to_wire(ProviderId::Anthropic, &request, false).unwrap()).unwrap();
                let (back, back_tools) = wire_to_neutral(&wire);
                prop_assert_eq!(back, messages);
                prop_assert_eq!(back_tools, tools);
            }
        }
    }
}
