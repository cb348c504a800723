//! OpenAI Responses: `openai-responses` and `azure-responses`.
//!
//! Chat requests become Responses `input` items (system and developer
//! messages become `instructions`), tools are flattened, `store` is always
//! `false` (the gateway keeps no state upstream). Output items and the
//! streaming events come back as chat responses and chunks; usage comes from
//! `response.completed` / `response.incomplete`; `response.failed` and
//! `error` events end the stream with an error. The mapping table is in
//! `docs/providers.md`.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

use crate::common::{check_common, encode_body, now_secs, refuse_penalties, unsupported};
use crate::credential::Credential;
use crate::error::{CredentialError, ProviderError, sanitize};
use crate::http::{self, Out, SseTranslate};
use crate::id::ProviderId;
use crate::openai::{bearer, sensitive};
use crate::provider::{Capabilities, ChatOutcome, ChatProvider, ProviderConfig};
use crate::sse::SseEvent;
use crate::stream::{ChatStream, StreamEvent};
use crate::types::{
    ChatRequest, ChatResponse, Choice, CompletionTokensDetails, Content, ContentPart, Delta,
    FinishReason, FunctionCall, FunctionDelta, Message, ModelInfo, PromptTokensDetails,
    ResponseFormat, ResponseMessage, ToolCall, ToolCallDelta, ToolChoice, Usage,
};

/// Extra fields passed through as Responses-native parameters.
const NATIVE_EXTRA: &[&str] = &[
    "reasoning",
    "truncation",
    "include",
    "text",
    "prompt_cache_key",
    "safety_identifier",
];

/// The Responses translator.
pub struct Responses {
    id: ProviderId,
    base: String,
    client: reqwest::Client,
    config: Arc<ProviderConfig>,
}

impl std::fmt::Debug for Responses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responses")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn input_content(content: &Content, assistant: bool) -> Vec<Value> {
    let text_type = if assistant {
        "output_text"
    } else {
        "input_text"
    };
    match content {
        Content::Text(t) => vec![json!({"type": text_type, "text": t})],
        Content::Parts(parts) => parts
            .iter()
            .map(|p| match p {
                ContentPart::Text { text } => json!({"type": text_type, "text": text}),
                ContentPart::ImageUrl { image_url } => {
                    let mut v = json!({"type": "input_image", "image_url": image_url.url});
                    v["detail"] = json!(image_url.detail.as_deref().unwrap_or("auto"));
                    v
                }
            })
            .collect(),
    }
}

/// Builds the Responses request body.
///
/// # Errors
/// [`ProviderError::Unsupported`] for what Responses cannot express.
pub fn encode_request(
    provider: ProviderId,
    request: &ChatRequest,
    stream: bool,
) -> Result<Vec<u8>, ProviderError> {
    let body = to_wire(provider, request, stream)?;
    encode_body(&body)
}

fn to_wire(
    provider: ProviderId,
    request: &ChatRequest,
    stream: bool,
) -> Result<Value, ProviderError> {
    check_common(provider, request, NATIVE_EXTRA)?;
    if request.stop.is_some() {
        return Err(unsupported(
            provider,
            "`stop` (the Responses API has no stop sequences)",
        ));
    }
    refuse_penalties(provider, request)?;
    let mut instructions = Vec::new();
    let mut input = Vec::new();
    for message in &request.messages {
        match message {
            Message::System { content, .. } | Message::Developer { content, .. } => {
                instructions.push(content.text())
            }
            Message::User { content, .. } => {
                input.push(json!({"type": "message", "role": "user", "content": input_content(content, false)}));
            }
            Message::Assistant {
                content,
                tool_calls,
                ..
            } => {
                if let Some(c) = content.as_ref().filter(|c| !c.text().is_empty()) {
                    input.push(json!({"type": "message", "role": "assistant", "content": input_content(c, true)}));
                }
                for call in tool_calls.iter().flatten() {
                    input.push(json!({
                        "type": "function_call",
                        "call_id": call.id,
                        "name": call.function.name,
                        "arguments": call.function.arguments,
                    }));
                }
            }
            Message::Tool {
                content,
                tool_call_id,
            } => {
                input.push(json!({"type": "function_call_output", "call_id": tool_call_id, "output": content.text()}));
            }
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("input".into(), Value::Array(input));
    body.insert("store".into(), json!(false));
    if !instructions.is_empty() {
        body.insert("instructions".into(), json!(instructions.join("\n\n")));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    if let Some(m) = request.max_completion_tokens.or(request.max_tokens) {
        body.insert("max_output_tokens".into(), json!(m));
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(t) = request.top_p {
        body.insert("top_p".into(), json!(t));
    }
    if let Some(u) = &request.user {
        body.insert("user".into(), json!(u));
    }
    if let Some(p) = request.parallel_tool_calls {
        body.insert("parallel_tool_calls".into(), json!(p));
    }
    if let Some(tools) = &request.tools {
        let flat: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut v = json!({"type": "function", "name": t.function.name});
                if let Some(d) = &t.function.description {
                    v["description"] = json!(d);
                }
                v["parameters"] = t
                    .function
                    .parameters
                    .clone()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
                if let Some(s) = t.function.strict {
                    v["strict"] = json!(s);
                }
                v
            })
            .collect();
        body.insert("tools".into(), Value::Array(flat));
    }
    match &request.tool_choice {
        None => {}
        Some(ToolChoice::Mode(m)) => {
            body.insert("tool_choice".into(), json!(m));
        }
        Some(ToolChoice::Named(n)) => {
            body.insert(
                "tool_choice".into(),
                json!({"type": "function", "name": n.function.name}),
            );
        }
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            body.insert("text".into(), json!({"format": {"type": "json_object"}}));
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            let mut format = json!({"type": "json_schema"});
            for key in ["name", "schema", "strict", "description"] {
                if let Some(v) = json_schema.get(key) {
                    format[key] = v.clone();
                }
            }
            body.insert("text".into(), json!({"format": format}));
        }
    }
    if let Some(effort) = &request.reasoning_effort {
        body.insert("reasoning".into(), json!({"effort": effort}));
    }
    for key in NATIVE_EXTRA {
        if let Some(v) = request.extra.get(*key) {
            body.insert((*key).to_owned(), v.clone());
        }
    }
    Ok(Value::Object(body))
}

fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    let n = |p: &str| u.pointer(p).and_then(Value::as_u64);
    let input = n("/input_tokens").unwrap_or(0);
    let output = n("/output_tokens").unwrap_or(0);
    Some(Usage {
        prompt_tokens: input,
        completion_tokens: output,
        total_tokens: n("/total_tokens").unwrap_or(input + output),
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: Some(n("/input_tokens_details/cached_tokens").unwrap_or(0)),
            cache_write_tokens: None,
            audio_tokens: None,
        }),
        completion_tokens_details: Some(CompletionTokensDetails {
            reasoning_tokens: Some(n("/output_tokens_details/reasoning_tokens").unwrap_or(0)),
            ..CompletionTokensDetails::default()
        }),
    })
}

fn finish_of(response: &Value, saw_tool_call: bool) -> FinishReason {
    match response.get("status").and_then(Value::as_str) {
        Some("incomplete") => match response
            .pointer("/incomplete_details/reason")
            .and_then(Value::as_str)
        {
            Some("content_filter") => FinishReason::ContentFilter,
            _ => FinishReason::Length,
        },
        _ if saw_tool_call => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

fn decode_response(provider: ProviderId, bytes: &[u8]) -> Result<ChatResponse, ProviderError> {
    let v: Value = http::parse_json(provider, "response body", bytes)?;
    let mut text = String::new();
    let mut refusal = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for item in v
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                for part in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    match part.get("type").and_then(Value::as_str) {
                        Some("output_text") => {
                            text.push_str(part.get("text").and_then(Value::as_str).unwrap_or(""))
                        }
                        Some("refusal") => refusal
                            .push_str(part.get("refusal").and_then(Value::as_str).unwrap_or("")),
                        _ => {}
                    }
                }
            }
            Some("function_call") => calls.push(ToolCall {
                id: item
                    .get("call_id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                kind: "function".into(),
                function: FunctionCall {
                    name: item
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    arguments: item
                        .get("arguments")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                },
            }),
            Some("reasoning") => {
                for s in item
                    .get("summary")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    reasoning.push_str(s.get("text").and_then(Value::as_str).unwrap_or(""));
                }
            }
            _ => {}
        }
    }
    let finish = finish_of(&v, !calls.is_empty());
    Ok(ChatResponse {
        id: v.get("id").and_then(Value::as_str).unwrap_or("").to_owned(),
        object: "chat.completion".into(),
        created: v
            .get("created_at")
            .and_then(Value::as_i64)
            .unwrap_or_else(now_secs),
        model: v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content: (!text.is_empty() || calls.is_empty()).then_some(text),
                tool_calls: (!calls.is_empty()).then_some(calls),
                refusal: (!refusal.is_empty()).then_some(refusal),
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
            },
            finish_reason: Some(finish),
            logprobs: None,
        }],
        usage: usage_of(&v),
        system_fingerprint: None,
    })
}

/// Responses stream state.
pub(crate) struct ResponsesStream {
    provider: ProviderId,
    wants_usage: bool,
    secret: SecretString,
    id: String,
    model: String,
    created: i64,
    /// output_index → tool-call index.
    tools: HashMap<u64, u32>,
    next_tool: u32,
}

impl ResponsesStream {
    pub(crate) fn new(provider: ProviderId, wants_usage: bool, secret: SecretString) -> Self {
        Self {
            provider,
            wants_usage,
            secret,
            id: String::new(),
            model: String::new(),
            created: now_secs(),
            tools: HashMap::new(),
            next_tool: 0,
        }
    }

    fn chunk(&self, delta: Delta, finish: Option<FinishReason>) -> StreamEvent {
        crate::common::chunk_event(&self.id, self.created, &self.model, delta, finish)
    }

    fn error(&self, err: Option<&Value>) -> ProviderError {
        let message = err
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("the response failed");
        ProviderError::MidStream {
            provider: self.provider,
            message: sanitize(message, Some(self.secret.expose_secret())),
            code: http::short_code(err.and_then(|e| e.get("code"))),
        }
    }
}

impl SseTranslate for ResponsesStream {
    fn event(&mut self, event: &SseEvent, out: &mut Out) -> Result<bool, ProviderError> {
        if event.data.trim() == "[DONE]" {
            return Ok(true);
        }
        let data: Value =
            serde_json::from_str(&event.data).map_err(|e| ProviderError::Malformed {
                provider: self.provider,
                what: format!("stream event: {}", http::classify(&e)),
            })?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or("");
        let text = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_owned);
        match kind {
            "response.created" => {
                let r = data.get("response").cloned().unwrap_or(Value::Null);
                self.id = r.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
                self.model = r
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                if let Some(c) = r.get("created_at").and_then(Value::as_i64) {
                    self.created = c;
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
            "response.output_item.added" => {
                let item = data.get("item").cloned().unwrap_or(Value::Null);
                if item.get("type").and_then(Value::as_str) == Some("function_call") {
                    let index = self.next_tool;
                    self.next_tool += 1;
                    self.tools.insert(
                        data.get("output_index")
                            .and_then(Value::as_u64)
                            .unwrap_or(0),
                        index,
                    );
                    out.push_back(Ok(self.chunk(
                        Delta {
                            tool_calls: Some(vec![ToolCallDelta {
                                index,
                                id: item
                                    .get("call_id")
                                    .and_then(Value::as_str)
                                    .map(str::to_owned),
                                kind: Some("function".into()),
                                function: Some(FunctionDelta {
                                    name: item
                                        .get("name")
                                        .and_then(Value::as_str)
                                        .map(str::to_owned),
                                    arguments: Some(
                                        item.get("arguments")
                                            .and_then(Value::as_str)
                                            .unwrap_or("")
                                            .to_owned(),
                                    ),
                                }),
                            }]),
                            ..Delta::default()
                        },
                        None,
                    )));
                }
            }
            "response.output_text.delta" => out.push_back(Ok(self.chunk(
                Delta {
                    content: text("delta"),
                    ..Delta::default()
                },
                None,
            ))),
            "response.refusal.delta" => out.push_back(Ok(self.chunk(
                Delta {
                    refusal: text("delta"),
                    ..Delta::default()
                },
                None,
            ))),
            "response.reasoning_summary_text.delta" => out.push_back(Ok(self.chunk(
                Delta {
                    reasoning_content: text("delta"),
                    ..Delta::default()
                },
                None,
            ))),
            "response.function_call_arguments.delta" => {
                let output_index = data
                    .get("output_index")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let index =
                    *self
                        .tools
                        .get(&output_index)
                        .ok_or_else(|| ProviderError::Malformed {
                            provider: self.provider,
                            what: "arguments for an unknown function call".into(),
                        })?;
                out.push_back(Ok(self.chunk(
                    Delta {
                        tool_calls: Some(vec![ToolCallDelta {
                            index,
                            id: None,
                            kind: None,
                            function: Some(FunctionDelta {
                                name: None,
                                arguments: text("delta"),
                            }),
                        }]),
                        ..Delta::default()
                    },
                    None,
                )));
            }
            "response.completed" | "response.incomplete" => {
                let r = data.get("response").cloned().unwrap_or(Value::Null);
                out.push_back(Ok(
                    self.chunk(Delta::default(), Some(finish_of(&r, self.next_tool > 0)))
                ));
                if let Some(usage) = usage_of(&r) {
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
            "response.failed" => return Err(self.error(data.pointer("/response/error"))),
            "error" => return Err(self.error(Some(&data))),
            // response.in_progress, content_part.*, output_item.done, *.done, ...
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

impl Responses {
    /// The translator for `openai-responses` or `azure-responses`.
    pub fn new(id: ProviderId, client: reqwest::Client, config: Arc<ProviderConfig>) -> Self {
        let base = match id {
            ProviderId::AzureResponses => config.base_urls.get(&id).cloned().unwrap_or_default(),
            _ => config.base_url(id).to_owned(),
        };
        Self {
            id,
            base: base.trim_end_matches('/').to_owned(),
            client,
            config,
        }
    }

    fn target(
        &self,
        credential: &Credential,
        op: &str,
    ) -> Result<(String, HeaderName, HeaderValue, SecretString), ProviderError> {
        match (self.id, credential) {
            (ProviderId::OpenAiResponses, Credential::ApiKey(k)) => Ok((
                format!("{}/{op}", self.base),
                AUTHORIZATION,
                bearer(k)?,
                k.clone(),
            )),
            (ProviderId::AzureResponses, Credential::AzureResponses(a)) => {
                let endpoint = a.base(&self.base);
                let url = match a.api_version.as_deref().unwrap_or("v1") {
                    "v1" => format!("{endpoint}/openai/v1/{op}"),
                    v => format!("{endpoint}/openai/{op}?api-version={v}"),
                };
                Ok((
                    url,
                    HeaderName::from_static("api-key"),
                    sensitive(a.api_key.expose_secret())?,
                    a.api_key.clone(),
                ))
            }
            _ => Err(CredentialError::WrongProvider.into()),
        }
    }
}

#[async_trait]
impl ChatProvider for Responses {
    fn id(&self) -> ProviderId {
        self.id
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
        let body = encode_request(self.id, request, false)?;
        let (url, name, auth, secret) = self.target(credential, "responses")?;
        let builder = self
            .client
            .post(url)
            .header(name, auth)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let bytes =
            http::fetch(self.id, &self.config, builder, Some(secret.expose_secret())).await?;
        let response = decode_response(self.id, &bytes)?;
        Ok(ChatOutcome::new(response))
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatStream, ProviderError> {
        let body = encode_request(self.id, request, true)?;
        let (url, name, auth, secret) = self.target(credential, "responses")?;
        let builder = self
            .client
            .post(url)
            .header(name, auth)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream")
            .body(body);
        let response =
            http::send(self.id, &self.config, builder, Some(secret.expose_secret())).await?;
        let translator = ResponsesStream::new(self.id, request.wants_stream_usage(), secret);
        Ok(ChatStream::new(http::sse_stream(
            self.id,
            response,
            &self.config,
            translator,
        )))
    }

    async fn list_models(&self, credential: &Credential) -> Result<Vec<ModelInfo>, ProviderError> {
        let (url, name, auth, secret) = self.target(credential, "models")?;
        let bytes = http::fetch(
            self.id,
            &self.config,
            self.client.get(url).header(name, auth),
            Some(secret.expose_secret()),
        )
        .await?;
        let v: Value = http::parse_json(self.id, "model list", &bytes)?;
        let list = v.get("data").unwrap_or(&v);
        Ok(list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("id").and_then(Value::as_str))
            .map(|id| ModelInfo {
                id: id.to_owned(),
                object: "model".into(),
                owned_by: "openai".into(),
            })
            .collect())
    }
}

/// Test support: the inverse of the request mapping.
#[cfg(test)]
pub(crate) fn wire_to_neutral(body: &Value) -> (Vec<Message>, Vec<String>) {
    let mut out = Vec::new();
    if let Some(i) = body.get("instructions").and_then(Value::as_str) {
        out.push(Message::System {
            content: Content::Text(i.to_owned()),
            name: None,
        });
    }
    for item in body["input"].as_array().into_iter().flatten() {
        let text = || -> String {
            item["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["text"].as_str())
                .collect()
        };
        match item["type"].as_str() {
            Some("message") if item["role"] == "user" => out.push(Message::User {
                content: Content::Text(text()),
                name: None,
            }),
            Some("message") => out.push(Message::Assistant {
                content: Some(Content::Text(text())),
                tool_calls: None,
                refusal: None,
                reasoning_content: None,
                name: None,
            }),
            Some("function_call") => {
                let call = ToolCall {
                    id: item["call_id"].as_str().unwrap_or("").to_owned(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: item["name"].as_str().unwrap_or("").to_owned(),
                        arguments: item["arguments"].as_str().unwrap_or("").to_owned(),
                    },
                };
                // Consecutive calls belong to one assistant turn (with its text, if any).
                match out.last_mut() {
                    Some(Message::Assistant { tool_calls, .. }) => {
                        tool_calls.get_or_insert_with(Vec::new).push(call)
                    }
                    _ => out.push(Message::Assistant {
                        content: None,
                        tool_calls: Some(vec![call]),
                        refusal: None,
                        reasoning_content: None,
                        name: None,
                    }),
                }
            }
            Some("function_call_output") => out.push(Message::Tool {
                content: Content::Text(item["output"].as_str().unwrap_or("").to_owned()),
                tool_call_id: item["call_id"].as_str().unwrap_or("").to_owned(),
            }),
            _ => {}
        }
    }
    let tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
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
    fn request_mapping() {
        let r = req(json!({
            "model": "gpt-4.1", "max_tokens": 50, "user": "u",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
                {"role": "assistant", "content": "ok", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"}
            ],
            "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}, "strict": true}},
            "reasoning_effort": "low"
        }));
        let w = to_wire(ProviderId::OpenAiResponses, &r, true).unwrap();
        assert_eq!(w["instructions"], "Be brief.");
        assert_eq!(w["store"], false);
        assert_eq!(w["stream"], true);
        assert_eq!(w["max_output_tokens"], 50);
        assert_eq!(
            w["input"][0]["content"][1],
            json!({"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"})
        );
        assert_eq!(w["input"][1]["content"][0]["type"], "output_text");
        assert_eq!(
            w["input"][2],
            json!({"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"})
        );
        assert_eq!(
            w["input"][3],
            json!({"type": "function_call_output", "call_id": "c1", "output": "42"})
        );
        assert_eq!(
            w["tools"][0],
            json!({"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true})
        );
        assert_eq!(w["tool_choice"], json!({"type": "function", "name": "f"}));
        assert_eq!(
            w["text"]["format"],
            json!({"type": "json_schema", "name": "s", "schema": {"type": "object"}, "strict": true})
        );
        assert_eq!(w["reasoning"]["effort"], "low");
    }

    #[test]
    fn refusals() {
        for (k, v) in [
            ("stop", json!("x")),
            ("n", json!(3)),
            ("frequency_penalty", json!(1.0)),
            ("logit_bias", json!({"1": 2})),
        ] {
            let mut b = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
            b[k] = v;
            assert!(
                matches!(
                    to_wire(ProviderId::OpenAiResponses, &req(b), false),
                    Err(ProviderError::Unsupported { .. })
                ),
                "{k}"
            );
        }
    }

    fn conversation() -> impl Strategy<Value = Vec<Message>> {
        crate::test_support::conversation(crate::test_support::Shape {
            user_runs: true,
            ..crate::test_support::PLAIN
        })
    }

    proptest! {
        #[test]
        fn neutral_to_responses_to_neutral(messages in conversation(), tools in proptest::collection::btree_set("[a-z]{1,8}", 0..3)) {
            let tools: Vec<String> = tools.into_iter().collect();
            let mut r = req(json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}));
            r.messages = messages.clone();
            if !tools.is_empty() {
                r.tools = Some(tools.iter().map(|t| serde_json::from_value(json!({"type": "function", "function": {"name": t}})).unwrap()).collect());
            }
            let (back, back_tools) = wire_to_neutral(&to_wire(ProviderId::OpenAiResponses, &r, false).unwrap());
            prop_assert_eq!(back, messages);
            prop_assert_eq!(back_tools, tools);
        }
    }
}
