//! Google AI Studio, native Gemini API (`generateContent`,
//! `streamGenerateContent?alt=sse`), key in `x-goog-api-key` only.
//!
//! Mapping (full table in `docs/providers.md`): system and developer
//! messages → `systemInstruction`; turns → `contents` with roles `user` and
//! `model` (consecutive same-role turns merged); images → `inlineData` (data
//! URLs only: Gemini cannot fetch arbitrary URLs, other URLs are a 400);
//! tool calls → `functionCall` parts with `args` objects, tool results →
//! `functionResponse` parts named after the call they answer; tools →
//! `functionDeclarations`; sampling → `generationConfig`; JSON modes →
//! `responseMimeType` (+ `responseJsonSchema`); `reasoning_effort` →
//! `thinkingConfig.thinkingBudget`.
//!
//! **Thought signatures.** Gemini attaches a `thoughtSignature` to function
//! calls that must come back unchanged on the next turn. The gateway carries
//! it in the tool-call id the client sees: the call id, then
//! [`SIGNATURE_SEPARATOR`], then the signature. Clients echo tool-call ids
//! verbatim (in the assistant
//! message and in each tool result), so the next request restores the
//! signature on the `functionCall` part and the plain id on the
//! `functionResponse`.
//!
//! Usage: `promptTokenCount` (cached included) → `prompt_tokens`,
//! `cachedContentTokenCount` → `cached_tokens`, `candidatesTokenCount +
//! thoughtsTokenCount` → `completion_tokens` (thoughts are billed as
//! output), `thoughtsTokenCount` → `reasoning_tokens`.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

use crate::common::{
    arguments_object, check_common, encode_body, now_secs, parse_data_url, unsupported,
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

/// Separates a tool-call id from the Gemini thought signature it carries.
pub const SIGNATURE_SEPARATOR: &str = "~ts~";

const THINKING_BUDGETS: [(&str, u32); 3] = [("low", 1024), ("medium", 8192), ("high", 24576)];

/// Extra fields passed through as Gemini-native parameters.
const NATIVE_EXTRA: &[&str] = &["safetySettings", "safety_settings", "top_k"];

/// The Gemini translator.
pub struct Google {
    base: String,
    client: reqwest::Client,
    config: Arc<ProviderConfig>,
}

impl std::fmt::Debug for Google {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Google").finish_non_exhaustive()
    }
}

fn split_id(id: &str) -> (&str, Option<&str>) {
    match id.split_once(SIGNATURE_SEPARATOR) {
        Some((id, sig)) => (id, Some(sig)),
        None => (id, None),
    }
}

fn join_id(id: &str, signature: Option<&str>) -> String {
    match signature {
        Some(s) if !s.is_empty() => format!("{id}{SIGNATURE_SEPARATOR}{s}"),
        _ => id.to_owned(),
    }
}

fn parts_of(provider: ProviderId, content: &Content) -> Result<Vec<Value>, ProviderError> {
    match content {
        Content::Text(t) => Ok(vec![json!({"text": t})]),
        Content::Parts(parts) => parts
            .iter()
            .map(|p| match p {
                ContentPart::Text { text } => Ok(json!({"text": text})),
                ContentPart::ImageUrl { image_url } => match parse_data_url(&image_url.url) {
                    Some((mime, data)) => {
                        Ok(json!({"inlineData": {"mimeType": mime, "data": data}}))
                    }
                    None => Err(unsupported(
                        provider,
                        "image URLs other than base64 `data:` URLs",
                    )),
                },
            })
            .collect(),
    }
}

/// The model id as a path segment (`models/` prefix optional).
fn model_segment(model: &str) -> Result<&str, ProviderError> {
    let m = model.strip_prefix("models/").unwrap_or(model);
    if m.is_empty()
        || !m
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(ProviderError::invalid(
            "the model id may contain only letters, digits, `-`, `.` and `_`",
            Some("model"),
        ));
    }
    Ok(m)
}

/// Builds the Gemini request body.
///
/// # Errors
/// [`ProviderError::Unsupported`] or [`ProviderError::InvalidRequest`].
pub fn encode_request(request: &ChatRequest) -> Result<Vec<u8>, ProviderError> {
    let body = to_wire(request)?;
    encode_body(&body)
}

fn to_wire(request: &ChatRequest) -> Result<Value, ProviderError> {
    let p = ProviderId::Google;
    check_common(p, request, NATIVE_EXTRA)?;
    model_segment(&request.model)?;
    let mut system = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut push = |role: &str, parts: Vec<Value>| {
        if parts.is_empty() {
            return;
        }
        if let Some(last) = contents.last_mut().filter(|l| l["role"] == role)
            && let Some(existing) = last["parts"].as_array_mut()
        {
            existing.extend(parts);
            return;
        }
        contents.push(json!({"role": role, "parts": parts}));
    };
    for message in &request.messages {
        match message {
            Message::System { content, .. } | Message::Developer { content, .. } => {
                system.push(json!({"text": content.text()}))
            }
            Message::User { content, .. } => push("user", parts_of(p, content)?),
            Message::Assistant {
                content,
                tool_calls,
                ..
            } => {
                let mut parts = Vec::new();
                if let Some(c) = content.as_ref().filter(|c| !c.text().is_empty()) {
                    parts.extend(parts_of(p, c)?);
                }
                for call in tool_calls.iter().flatten() {
                    let (id, signature) = split_id(&call.id);
                    names.insert(id.to_owned(), call.function.name.clone());
                    let mut part = json!({"functionCall": {"id": id, "name": call.function.name, "args": arguments_object(p, call)?}});
                    if let Some(sig) = signature {
                        part["thoughtSignature"] = json!(sig);
                    }
                    parts.push(part);
                }
                push("model", parts);
            }
            Message::Tool {
                content,
                tool_call_id,
            } => {
                let (id, _) = split_id(tool_call_id);
                let name = names.get(id).cloned().ok_or_else(|| {
                    ProviderError::invalid(
                        format!("tool result `{}` answers no earlier tool call; Gemini needs the function name", id.chars().take(64).collect::<String>()),
                        Some("messages"),
                    )
                })?;
                push(
                    "user",
                    vec![
                        json!({"functionResponse": {"id": id, "name": name, "response": {"content": content.text()}}}),
                    ],
                );
            }
        }
    }
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    let mut generation = Map::new();
    if let Some(m) = request.max_completion_tokens.or(request.max_tokens) {
        generation.insert("maxOutputTokens".into(), json!(m));
    }
    for (k, v) in [
        ("temperature", request.temperature),
        ("topP", request.top_p),
        ("presencePenalty", request.presence_penalty),
        ("frequencyPenalty", request.frequency_penalty),
    ] {
        if let Some(v) = v {
            generation.insert(k.into(), json!(v));
        }
    }
    if let Some(seed) = request.seed {
        generation.insert("seed".into(), json!(seed));
    }
    if let Some(stop) = &request.stop {
        generation.insert("stopSequences".into(), json!(stop.to_vec()));
    }
    if let Some(k) = request.extra.get("top_k") {
        generation.insert("topK".into(), k.clone());
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            generation.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            generation.insert("responseMimeType".into(), json!("application/json"));
            if let Some(schema) = json_schema.get("schema") {
                generation.insert("responseJsonSchema".into(), schema.clone());
            }
        }
    }
    if let Some(effort) = &request.reasoning_effort {
        let budget = THINKING_BUDGETS
            .iter()
            .find(|(n, _)| *n == effort.as_str())
            .map(|(_, b)| *b)
            .ok_or_else(|| {
                ProviderError::invalid(
                    "`reasoning_effort` must be low, medium or high",
                    Some("reasoning_effort"),
                )
            })?;
        generation.insert("thinkingConfig".into(), json!({"thinkingBudget": budget}));
    }
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
    if let Some(tools) = &request.tools {
        let decls: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut d = json!({"name": t.function.name});
                if let Some(desc) = &t.function.description {
                    d["description"] = json!(desc);
                }
                if let Some(params) = &t.function.parameters {
                    d["parameters"] = params.clone();
                }
                d
            })
            .collect();
        body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    }
    let mode = match &request.tool_choice {
        None => None,
        Some(ToolChoice::Mode(m)) => match m.as_str() {
            "auto" => Some(json!({"mode": "AUTO"})),
            "required" => Some(json!({"mode": "ANY"})),
            "none" => Some(json!({"mode": "NONE"})),
            _ => {
                return Err(ProviderError::invalid(
                    "unknown `tool_choice`",
                    Some("tool_choice"),
                ));
            }
        },
        Some(ToolChoice::Named(n)) => {
            Some(json!({"mode": "ANY", "allowedFunctionNames": [n.function.name]}))
        }
    };
    if let Some(m) = mode {
        body.insert("toolConfig".into(), json!({"functionCallingConfig": m}));
    }
    for key in ["safetySettings", "safety_settings"] {
        if let Some(v) = request.extra.get(key) {
            body.insert("safetySettings".into(), v.clone());
        }
    }
    Ok(Value::Object(body))
}

fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usageMetadata")?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let prompt = n("promptTokenCount") + n("toolUsePromptTokenCount");
    let thoughts = n("thoughtsTokenCount");
    let completion = n("candidatesTokenCount") + thoughts;
    Some(Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: Some(n("cachedContentTokenCount")),
            cache_write_tokens: None,
            audio_tokens: None,
        }),
        completion_tokens_details: Some(CompletionTokensDetails {
            reasoning_tokens: Some(thoughts),
            ..CompletionTokensDetails::default()
        }),
    })
}

/// Gemini finish reasons as OpenAI finish reasons.
fn finish_reason(reason: &str, tool_calls: bool) -> FinishReason {
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
struct Parts {
    text: String,
    thoughts: String,
    calls: Vec<ToolCall>,
    finish: Option<String>,
}

fn candidate_parts(v: &Value, call_offset: usize) -> Parts {
    let cand = v.pointer("/candidates/0");
    let mut out = Parts {
        text: String::new(),
        thoughts: String::new(),
        calls: Vec::new(),
        finish: cand
            .and_then(|c| c.get("finishReason"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    for part in cand
        .and_then(|c| c.pointer("/content/parts"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(fc) = part.get("functionCall") {
            let n = call_offset + out.calls.len();
            let id = fc
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("call_{n}"), str::to_owned);
            out.calls.push(ToolCall {
                id: join_id(&id, part.get("thoughtSignature").and_then(Value::as_str)),
                kind: "function".into(),
                function: FunctionCall {
                    name: fc
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    arguments: fc
                        .get("args")
                        .map_or_else(|| "{}".to_owned(), Value::to_string),
                },
            });
        } else if let Some(t) = part.get("text").and_then(Value::as_str) {
            if part.get("thought").and_then(Value::as_bool) == Some(true) {
                out.thoughts.push_str(t);
            } else {
                out.text.push_str(t);
            }
        }
    }
    if out.finish.is_none() && v.pointer("/promptFeedback/blockReason").is_some() {
        out.finish = Some("SAFETY".into());
    }
    out
}

fn decode_response(bytes: &[u8]) -> Result<ChatResponse, ProviderError> {
    let v: Value = http::parse_json(ProviderId::Google, "response body", bytes)?;
    let p = candidate_parts(&v, 0);
    let has_calls = !p.calls.is_empty();
    Ok(ChatResponse {
        id: v
            .get("responseId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        object: "chat.completion".into(),
        created: now_secs(),
        model: v
            .get("modelVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content: (!p.text.is_empty() || !has_calls).then_some(p.text),
                tool_calls: has_calls.then_some(p.calls),
                refusal: None,
                reasoning_content: (!p.thoughts.is_empty()).then_some(p.thoughts),
            },
            finish_reason: Some(finish_reason(
                p.finish.as_deref().unwrap_or("STOP"),
                has_calls,
            )),
            logprobs: None,
        }],
        usage: usage_of(&v),
        system_fingerprint: None,
    })
}

/// Gemini stream state: one `GenerateContentResponse` per event, no
/// terminator; the stream ends at EOF after a finish reason.
pub(crate) struct GoogleStream {
    wants_usage: bool,
    id: String,
    model: String,
    created: i64,
    started: bool,
    calls: usize,
    finished: bool,
    usage: Option<Usage>,
}

impl GoogleStream {
    pub(crate) fn new(wants_usage: bool) -> Self {
        Self {
            wants_usage,
            id: String::new(),
            model: String::new(),
            created: now_secs(),
            started: false,
            calls: 0,
            finished: false,
            usage: None,
        }
    }

    fn chunk(&self, delta: Delta, finish: Option<FinishReason>) -> StreamEvent {
        crate::common::chunk_event(&self.id, self.created, &self.model, delta, finish)
    }
}

impl SseTranslate for GoogleStream {
    fn event(&mut self, event: &SseEvent, out: &mut Out) -> Result<bool, ProviderError> {
        let v: Value = serde_json::from_str(&event.data).map_err(|e| ProviderError::Malformed {
            provider: ProviderId::Google,
            what: format!("stream event: {}", http::classify(&e)),
        })?;
        if let Some(err) = v.get("error") {
            let (message, code) = http::error_fields(&json!({"error": err}), None);
            return Err(ProviderError::MidStream {
                provider: ProviderId::Google,
                message,
                code: code.or_else(|| http::short_code(err.get("status"))),
            });
        }
        if !self.started {
            self.started = true;
            self.id = v
                .get("responseId")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            self.model = v
                .get("modelVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            out.push_back(Ok(self.chunk(
                Delta {
                    role: Some("assistant".into()),
                    content: Some(String::new()),
                    ..Delta::default()
                },
                None,
            )));
        }
        let p = candidate_parts(&v, self.calls);
        if !p.thoughts.is_empty() {
            out.push_back(Ok(self.chunk(
                Delta {
                    reasoning_content: Some(p.thoughts),
                    ..Delta::default()
                },
                None,
            )));
        }
        if !p.text.is_empty() {
            out.push_back(Ok(self.chunk(
                Delta {
                    content: Some(p.text),
                    ..Delta::default()
                },
                None,
            )));
        }
        if !p.calls.is_empty() {
            let deltas = p
                .calls
                .into_iter()
                .enumerate()
                .map(|(i, c)| ToolCallDelta {
                    index: u32::try_from(self.calls + i).unwrap_or(u32::MAX),
                    id: Some(c.id),
                    kind: Some("function".into()),
                    function: Some(FunctionDelta {
                        name: Some(c.function.name),
                        arguments: Some(c.function.arguments),
                    }),
                })
                .collect::<Vec<_>>();
            self.calls += deltas.len();
            out.push_back(Ok(self.chunk(
                Delta {
                    tool_calls: Some(deltas),
                    ..Delta::default()
                },
                None,
            )));
        }
        if let Some(u) = usage_of(&v) {
            self.usage = Some(u);
        }
        if let Some(reason) = p.finish {
            self.finished = true;
            out.push_back(Ok(self.chunk(
                Delta::default(),
                Some(finish_reason(&reason, self.calls > 0)),
            )));
        }
        Ok(false)
    }

    fn eof(&mut self, out: &mut Out) -> Result<(), ProviderError> {
        if !self.finished {
            return Err(ProviderError::StreamTruncated {
                provider: ProviderId::Google,
            });
        }
        if let Some(usage) = self.usage.take() {
            crate::common::push_usage(
                out,
                usage,
                self.wants_usage,
                &self.id,
                self.created,
                &self.model,
            );
        }
        Ok(())
    }
}

impl Google {
    /// The translator, at the configured base URL.
    pub fn new(client: reqwest::Client, config: Arc<ProviderConfig>) -> Self {
        Self {
            base: config
                .base_url(ProviderId::Google)
                .trim_end_matches('/')
                .to_owned(),
            client,
            config,
        }
    }

    fn key(credential: &Credential) -> Result<&SecretString, ProviderError> {
        match credential {
            Credential::ApiKey(k) => Ok(k),
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
                HeaderName::from_static("x-goog-api-key"),
                sensitive(key.expose_secret())?,
            )
            .header(CONTENT_TYPE, "application/json")
            .body(body))
    }
}

#[async_trait]
impl ChatProvider for Google {
    fn id(&self) -> ProviderId {
        ProviderId::Google
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            tools: true,
            vision: true,
            json_mode: true,
            streaming_usage: true,
        }
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatOutcome, ProviderError> {
        let body = encode_request(request)?;
        let key = Self::key(credential)?;
        let url = format!(
            "{}/v1beta/models/{}:generateContent",
            self.base,
            model_segment(&request.model)?
        );
        let bytes = http::fetch(
            ProviderId::Google,
            &self.config,
            self.post(url, key, body)?,
            Some(key.expose_secret()),
        )
        .await?;
        let response = decode_response(&bytes)?;
        Ok(ChatOutcome::new(response))
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatStream, ProviderError> {
        let body = encode_request(request)?;
        let key = Self::key(credential)?;
        let url = format!(
            "{}/v1beta/models/{}:streamGenerateContent?alt=sse",
            self.base,
            model_segment(&request.model)?
        );
        let builder = self
            .post(url, key, body)?
            .header(ACCEPT, "text/event-stream");
        let response = http::send(
            ProviderId::Google,
            &self.config,
            builder,
            Some(key.expose_secret()),
        )
        .await?;
        let translator = GoogleStream::new(request.wants_stream_usage());
        Ok(ChatStream::new(http::sse_stream(
            ProviderId::Google,
            response,
            &self.config,
            translator,
        )))
    }

    async fn list_models(&self, credential: &Credential) -> Result<Vec<ModelInfo>, ProviderError> {
        let key = Self::key(credential)?;
        let builder = self
            .client
            .get(format!("{}/v1beta/models", self.base))
            .header(
                HeaderName::from_static("x-goog-api-key"),
                sensitive(key.expose_secret())?,
            );
        let bytes = http::fetch(
            ProviderId::Google,
            &self.config,
            builder,
            Some(key.expose_secret()),
        )
        .await?;
        let v: Value = http::parse_json(ProviderId::Google, "model list", &bytes)?;
        Ok(v.get("models")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("name").and_then(Value::as_str))
            .map(|n| ModelInfo {
                id: n.strip_prefix("models/").unwrap_or(n).to_owned(),
                object: "model".into(),
                owned_by: "google".into(),
            })
            .collect())
    }
}

/// Test support: the inverse of the request mapping.
#[cfg(test)]
pub(crate) fn wire_to_neutral(body: &Value) -> (Vec<Message>, Vec<String>) {
    let mut out = Vec::new();
    if let Some(parts) = body
        .pointer("/systemInstruction/parts")
        .and_then(Value::as_array)
    {
        for p in parts {
            out.push(Message::System {
                content: Content::Text(p["text"].as_str().unwrap_or("").to_owned()),
                name: None,
            });
        }
    }
    for c in body["contents"].as_array().into_iter().flatten() {
        let mut text = String::new();
        let mut calls = Vec::new();
        for p in c["parts"].as_array().into_iter().flatten() {
            if let Some(t) = p["text"].as_str() {
                text.push_str(t);
            } else if let Some(fc) = p.get("functionCall") {
                calls.push(ToolCall {
                    id: join_id(
                        fc["id"].as_str().unwrap_or(""),
                        p["thoughtSignature"].as_str(),
                    ),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: fc["name"].as_str().unwrap_or("").to_owned(),
                        arguments: fc["args"].to_string(),
                    },
                });
            } else if let Some(fr) = p.get("functionResponse") {
                out.push(Message::Tool {
                    content: Content::Text(
                        fr["response"]["content"].as_str().unwrap_or("").to_owned(),
                    ),
                    tool_call_id: fr["id"].as_str().unwrap_or("").to_owned(),
                });
            }
        }
        if c["role"] == "model" {
            out.push(Message::Assistant {
                content: (!text.is_empty()).then_some(Content::Text(text)),
                tool_calls: (!calls.is_empty()).then_some(calls),
                refusal: None,
                reasoning_content: None,
                name: None,
            });
        } else if !text.is_empty() {
            out.push(Message::User {
                content: Content::Text(text),
                name: None,
            });
        }
    }
    let tools = body
        .pointer("/tools/0/functionDeclarations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| d["name"].as_str().map(str::to_owned))
        .collect();
    (out, tools)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn request_mapping_and_signature_round_trip() {
        let r = req(json!({
            "model": "gemini-2.5-flash",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_0~ts~CiQBVKhc7sig==", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "call_0~ts~CiQBVKhc7sig==", "content": "42"}
            ],
            "max_tokens": 100, "temperature": 0.5, "seed": 3, "stop": ["END"],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "reasoning_effort": "low"
        }));
        let w = to_wire(&r).unwrap();
        assert_eq!(w["systemInstruction"]["parts"][0]["text"], "Be brief.");
        assert_eq!(
            w["contents"][0]["parts"][1]["inlineData"],
            json!({"mimeType": "image/jpeg", "data": "/9j/"})
        );
        assert_eq!(w["contents"][1]["role"], "model");
        assert_eq!(
            w["contents"][1]["parts"][0]["functionCall"],
            json!({"id": "call_0", "name": "f", "args": {"a": 1}})
        );
        assert_eq!(
            w["contents"][1]["parts"][0]["thoughtSignature"],
            "CiQBVKhc7sig=="
        );
        assert_eq!(
            w["contents"][2]["parts"][0]["functionResponse"],
            json!({"id": "call_0", "name": "f", "response": {"content": "42"}})
        );
        let g = &w["generationConfig"];
        assert_eq!(
            (
                g["maxOutputTokens"].clone(),
                g["seed"].clone(),
                g["stopSequences"].clone()
            ),
            (json!(100), json!(3), json!(["END"]))
        );
        assert_eq!(g["responseMimeType"], "application/json");
        assert_eq!(g["responseJsonSchema"], json!({"type": "object"}));
        assert_eq!(g["thinkingConfig"]["thinkingBudget"], 1024);
        assert_eq!(
            w["toolConfig"]["functionCallingConfig"],
            json!({"mode": "ANY", "allowedFunctionNames": ["f"]})
        );
    }

    #[test]
    fn refusals() {
        let url_image = req(
            json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}),
        );
        assert!(matches!(
            to_wire(&url_image),
            Err(ProviderError::Unsupported { .. })
        ));
        let orphan = req(
            json!({"model": "gemini-2.5-flash", "messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}),
        );
        assert!(matches!(
            to_wire(&orphan),
            Err(ProviderError::InvalidRequest { .. })
        ));
        let bad_model = req(
            json!({"model": "gemini/../../x?alt=json", "messages": [{"role": "user", "content": "x"}]}),
        );
        assert!(matches!(
            to_wire(&bad_model),
            Err(ProviderError::InvalidRequest { .. })
        ));
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

    fn conversation() -> impl Strategy<Value = Vec<Message>> {
        // Every other call carries a thought signature in its id; results
        // answer the id without it.
        crate::test_support::conversation(crate::test_support::Shape {
            call_id: |n, signature| {
                join_id(&format!("call_{n}"), (n % 2 == 0).then_some(signature))
            },
            result_id: |id| split_id(id).0.to_owned(),
            user_runs: false,
        })
    }

    proptest! {
        #[test]
        fn neutral_to_gemini_to_neutral(messages in conversation(), tools in proptest::collection::btree_set("[a-z]{1,8}", 0..3)) {
            let tools: Vec<String> = tools.into_iter().collect();
            let mut r = req(json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]}));
            r.messages = messages.clone();
            if !tools.is_empty() {
                r.tools = Some(tools.iter().map(|t| serde_json::from_value(json!({"type": "function", "function": {"name": t}})).unwrap()).collect());
            }
            let (back, back_tools) = wire_to_neutral(&to_wire(&r).unwrap());
            prop_assert_eq!(back, messages);
            prop_assert_eq!(back_tools, tools);
        }
    }
}
