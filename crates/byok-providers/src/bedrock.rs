//! AWS Bedrock, Converse API (`aws`).
//!
//! `POST {base}/model/{modelId}/converse` and `/converse-stream`, where the
//! base is `https://bedrock-runtime.{region}.amazonaws.com` (or the
//! operator's `BYOK_UPSTREAM_AWS`). Requests are signed with SigV4 by the
//! `aws-sigv4` crate for the credential's region and service `bedrock`
//! (session tokens included); the model id is percent-encoded once in the
//! path and `aws-sigv4` encodes it again in the canonical request, as AWS
//! requires. A credential holding a Bedrock API key (`apiKey`) is sent as
//! `Authorization: Bearer` instead.
//!
//! Streams are AWS event-stream frames, decoded by `aws-smithy-eventstream`
//! (CRC-checked; frames may be split anywhere; a frame larger than the event
//! limit is refused). Exceptions (`:message-type: exception`) end the stream
//! with an error; `metadata` usage may arrive after `messageStop`, so the
//! stream ends at EOF. Mapping table in `docs/providers.md`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{HeaderValue as EsHeaderValue, Message as EsMessage};
use bytes::BytesMut;
use futures_util::StreamExt as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

use crate::common::{
    arguments_object, check_common, encode_body, now_secs, parse_data_url, refuse_penalties,
    unsupported,
};
use crate::credential::{AwsAuth, AwsCredential, Credential};
use crate::error::{CredentialError, ProviderError, TimeoutPhase, sanitize};
use crate::http::{self, Out};
use crate::id::ProviderId;
use crate::openai::{bearer, sensitive};
use crate::provider::{Capabilities, ChatOutcome, ChatProvider, ProviderConfig};
use crate::stream::{ChatStream, EventStream, StreamEvent};
use crate::types::{
    ChatRequest, ChatResponse, Choice, CompletionTokensDetails, Content, ContentPart, Delta,
    FinishReason, FunctionCall, FunctionDelta, Message, ModelInfo, PromptTokensDetails,
    ResponseFormat, ResponseMessage, ToolCall, ToolCallDelta, ToolChoice, Usage,
};

const P: ProviderId = ProviderId::Aws;

/// Extra fields passed through as Converse-native parameters.
const NATIVE_EXTRA: &[&str] = &[
    "additionalModelRequestFields",
    "guardrailConfig",
    "performanceConfig",
];

/// The Bedrock Converse translator.
pub struct Bedrock {
    base: Option<String>,
    client: reqwest::Client,
    config: Arc<ProviderConfig>,
}

impl std::fmt::Debug for Bedrock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bedrock").finish_non_exhaustive()
    }
}

fn image_block(url: &str) -> Result<Value, ProviderError> {
    let (media, data) = parse_data_url(url)
        .ok_or_else(|| unsupported(P, "image URLs other than base64 `data:` URLs"))?;
    let format = media.strip_prefix("image/").unwrap_or(media);
    if !matches!(format, "png" | "jpeg" | "gif" | "webp") {
        return Err(unsupported(
            P,
            format!(
                "images of type `{}`",
                media.chars().take(32).collect::<String>()
            ),
        ));
    }
    Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
}

fn blocks(content: &Content) -> Result<Vec<Value>, ProviderError> {
    match content {
        Content::Text(t) => Ok(vec![json!({"text": t})]),
        Content::Parts(parts) => parts
            .iter()
            .map(|p| match p {
                ContentPart::Text { text } => Ok(json!({"text": text})),
                ContentPart::ImageUrl { image_url } => image_block(&image_url.url),
            })
            .collect(),
    }
}

/// Builds the Converse request body.
///
/// # Errors
/// [`ProviderError::Unsupported`] or [`ProviderError::InvalidRequest`].
pub fn encode_request(request: &ChatRequest) -> Result<Vec<u8>, ProviderError> {
    let body = to_wire(request)?;
    encode_body(&body)
}

fn to_wire(request: &ChatRequest) -> Result<Value, ProviderError> {
    check_common(P, request, NATIVE_EXTRA)?;
    if matches!(
        request.response_format,
        Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })
    ) {
        return Err(unsupported(P, "`response_format` JSON modes"));
    }
    refuse_penalties(P, request)?;
    if request.reasoning_effort.is_some() {
        return Err(unsupported(
            P,
            "`reasoning_effort` (use additionalModelRequestFields)",
        ));
    }
    let mut system = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    let mut push = |role: &str, content: Vec<Value>| {
        if content.is_empty() {
            return;
        }
        if let Some(last) = messages.last_mut().filter(|l| l["role"] == role)
            && let Some(existing) = last["content"].as_array_mut()
        {
            existing.extend(content);
            return;
        }
        messages.push(json!({"role": role, "content": content}));
    };
    for message in &request.messages {
        match message {
            Message::System { content, .. } | Message::Developer { content, .. } => {
                system.push(json!({"text": content.text()}))
            }
            Message::User { content, .. } => push("user", blocks(content)?),
            Message::Assistant {
                content,
                tool_calls,
                ..
            } => {
                let mut c = Vec::new();
                if let Some(text) = content.as_ref().filter(|t| !t.text().is_empty()) {
                    c.extend(blocks(text)?);
                }
                for call in tool_calls.iter().flatten() {
                    c.push(json!({"toolUse": {"toolUseId": call.id, "name": call.function.name, "input": arguments_object(P, call)?}}));
                }
                push("assistant", c);
            }
            Message::Tool {
                content,
                tool_call_id,
            } => push(
                "user",
                vec![
                    json!({"toolResult": {"toolUseId": tool_call_id, "content": [{"text": content.text()}]}}),
                ],
            ),
        }
    }
    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    let mut inference = Map::new();
    if let Some(m) = request.max_completion_tokens.or(request.max_tokens) {
        inference.insert("maxTokens".into(), json!(m));
    }
    if let Some(t) = request.temperature {
        inference.insert("temperature".into(), json!(t));
    }
    if let Some(t) = request.top_p {
        inference.insert("topP".into(), json!(t));
    }
    if let Some(stop) = &request.stop {
        inference.insert("stopSequences".into(), json!(stop.to_vec()));
    }
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if let Some(tools) = &request.tools {
        let specs: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut spec = json!({
                    "name": t.function.name,
                    "inputSchema": {"json": t.function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}))},
                });
                if let Some(d) = &t.function.description {
                    spec["description"] = json!(d);
                }
                json!({"toolSpec": spec})
            })
            .collect();
        let mut tool_config = json!({"tools": specs});
        match &request.tool_choice {
            None => {}
            Some(ToolChoice::Mode(m)) => match m.as_str() {
                "auto" => tool_config["toolChoice"] = json!({"auto": {}}),
                "required" => tool_config["toolChoice"] = json!({"any": {}}),
                "none" => {
                    return Err(unsupported(
                        P,
                        "`tool_choice: none` with tools (omit the tools instead)",
                    ));
                }
                _ => {
                    return Err(ProviderError::invalid(
                        "unknown `tool_choice`",
                        Some("tool_choice"),
                    ));
                }
            },
            Some(ToolChoice::Named(n)) => {
                tool_config["toolChoice"] = json!({"tool": {"name": n.function.name}})
            }
        }
        body.insert("toolConfig".into(), tool_config);
    }
    for key in NATIVE_EXTRA {
        if let Some(v) = request.extra.get(*key) {
            body.insert((*key).to_owned(), v.clone());
        }
    }
    Ok(Value::Object(body))
}

/// Converse stop reasons as OpenAI finish reasons.
fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

fn usage_of(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let read = n("cacheReadInputTokens");
    let write = n("cacheWriteInputTokens");
    let prompt = n("inputTokens") + read + write;
    let completion = n("outputTokens");
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: Some(read),
            cache_write_tokens: Some(write),
            audio_tokens: None,
        }),
        completion_tokens_details: Some(CompletionTokensDetails::default()),
    }
}

fn decode_response(bytes: &[u8], model: &str) -> Result<ChatResponse, ProviderError> {
    let v: Value = http::parse_json(P, "response body", bytes)?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for block in v
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = block.get("text").and_then(Value::as_str) {
            text.push_str(t);
        } else if let Some(tu) = block.get("toolUse") {
            calls.push(ToolCall {
                id: tu
                    .get("toolUseId")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                kind: "function".into(),
                function: FunctionCall {
                    name: tu
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    arguments: tu
                        .get("input")
                        .map_or_else(|| "{}".to_owned(), Value::to_string),
                },
            });
        } else if let Some(t) = block
            .pointer("/reasoningContent/reasoningText/text")
            .and_then(Value::as_str)
        {
            reasoning.push_str(t);
        }
    }
    let has_calls = !calls.is_empty();
    Ok(ChatResponse {
        id: String::new(),
        object: "chat.completion".into(),
        created: now_secs(),
        model: model.to_owned(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content: (!text.is_empty() || !has_calls).then_some(text),
                tool_calls: has_calls.then_some(calls),
                refusal: None,
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
            },
            finish_reason: v
                .get("stopReason")
                .and_then(Value::as_str)
                .map(finish_reason),
            logprobs: None,
        }],
        usage: v.get("usage").map(usage_of),
        system_fingerprint: None,
    })
}

fn header_str<'m>(m: &'m EsMessage, name: &str) -> Option<&'m str> {
    m.headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| match h.value() {
            EsHeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        })
}

/// Bedrock stream state over decoded event-stream messages.
pub(crate) struct BedrockStream {
    wants_usage: bool,
    secret: Option<SecretString>,
    model: String,
    created: i64,
    /// contentBlockIndex → tool-call index.
    tools: HashMap<u64, u32>,
    stopped: bool,
    usage: Option<Usage>,
}

impl BedrockStream {
    pub(crate) fn new(model: &str, wants_usage: bool, secret: Option<SecretString>) -> Self {
        Self {
            wants_usage,
            secret,
            model: model.to_owned(),
            created: now_secs(),
            tools: HashMap::new(),
            stopped: false,
            usage: None,
        }
    }

    fn chunk(&self, delta: Delta, finish: Option<FinishReason>) -> StreamEvent {
        crate::common::chunk_event("", self.created, &self.model, delta, finish)
    }

    /// Handles one decoded frame.
    pub(crate) fn message(&mut self, m: &EsMessage, out: &mut Out) -> Result<(), ProviderError> {
        let payload: Value = if m.payload().is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(m.payload()).map_err(|e| ProviderError::Malformed {
                provider: P,
                what: format!("event payload: {}", http::classify(&e)),
            })?
        };
        if header_str(m, ":message-type") == Some("exception")
            || header_str(m, ":message-type") == Some("error")
        {
            let kind = header_str(m, ":exception-type")
                .or_else(|| header_str(m, ":error-code"))
                .unwrap_or("exception");
            let message = payload
                .get("message")
                .and_then(Value::as_str)
                .or_else(|| header_str(m, ":error-message"))
                .unwrap_or("stream exception");
            return Err(ProviderError::MidStream {
                provider: P,
                message: sanitize(message, self.secret.as_ref().map(|s| s.expose_secret())),
                code: http::short_code(Some(&json!(kind))),
            });
        }
        let index = payload
            .get("contentBlockIndex")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        match header_str(m, ":event-type").unwrap_or("") {
            "messageStart" => out.push_back(Ok(self.chunk(
                Delta {
                    role: Some("assistant".into()),
                    content: Some(String::new()),
                    ..Delta::default()
                },
                None,
            ))),
            "contentBlockStart" => {
                if let Some(tu) = payload.pointer("/start/toolUse") {
                    let tool = u32::try_from(self.tools.len()).unwrap_or(u32::MAX);
                    self.tools.insert(index, tool);
                    out.push_back(Ok(self.chunk(
                        Delta {
                            tool_calls: Some(vec![ToolCallDelta {
                                index: tool,
                                id: tu
                                    .get("toolUseId")
                                    .and_then(Value::as_str)
                                    .map(str::to_owned),
                                kind: Some("function".into()),
                                function: Some(FunctionDelta {
                                    name: tu.get("name").and_then(Value::as_str).map(str::to_owned),
                                    arguments: Some(String::new()),
                                }),
                            }]),
                            ..Delta::default()
                        },
                        None,
                    )));
                }
            }
            "contentBlockDelta" => {
                let delta = payload.get("delta").cloned().unwrap_or(Value::Null);
                let d = if let Some(t) = delta.get("text").and_then(Value::as_str) {
                    Delta {
                        content: Some(t.to_owned()),
                        ..Delta::default()
                    }
                } else if let Some(input) = delta.pointer("/toolUse/input").and_then(Value::as_str)
                {
                    let tool = *self
                        .tools
                        .get(&index)
                        .ok_or_else(|| ProviderError::Malformed {
                            provider: P,
                            what: "tool input for a block that is not a tool use".into(),
                        })?;
                    Delta {
                        tool_calls: Some(vec![ToolCallDelta {
                            index: tool,
                            id: None,
                            kind: None,
                            function: Some(FunctionDelta {
                                name: None,
                                arguments: Some(input.to_owned()),
                            }),
                        }]),
                        ..Delta::default()
                    }
                } else if let Some(t) = delta
                    .pointer("/reasoningContent/text")
                    .and_then(Value::as_str)
                {
                    Delta {
                        reasoning_content: Some(t.to_owned()),
                        ..Delta::default()
                    }
                } else {
                    return Ok(());
                };
                out.push_back(Ok(self.chunk(d, None)));
            }
            "messageStop" => {
                self.stopped = true;
                let reason = payload
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .unwrap_or("end_turn");
                out.push_back(Ok(self.chunk(Delta::default(), Some(finish_reason(reason)))));
            }
            "metadata" => {
                if let Some(u) = payload.get("usage") {
                    self.usage = Some(usage_of(u));
                }
            }
            // contentBlockStop and future events
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, out: &mut Out) -> Result<(), ProviderError> {
        if !self.stopped {
            return Err(ProviderError::StreamTruncated { provider: P });
        }
        if let Some(usage) = self.usage.take() {
            crate::common::push_usage(out, usage, self.wants_usage, "", self.created, &self.model);
        }
        Ok(())
    }
}

/// Decodes event-stream frames from arbitrary byte pieces, bounded.
pub(crate) struct FrameReader {
    decoder: MessageFrameDecoder,
    buf: BytesMut,
    max: usize,
}

impl FrameReader {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            decoder: MessageFrameDecoder::new(),
            buf: BytesMut::with_capacity(8 << 10),
            max,
        }
    }

    /// Adds bytes and returns every complete frame.
    pub(crate) fn push(
        &mut self,
        bytes: &[u8],
        frames: &mut Vec<EsMessage>,
    ) -> Result<(), ProviderError> {
        self.buf.extend_from_slice(bytes);
        loop {
            match self.decoder.decode_frame(&mut self.buf) {
                Ok(DecodedFrame::Complete(m)) => frames.push(m),
                Ok(DecodedFrame::Incomplete) => break,
                Err(e) => {
                    return Err(ProviderError::Malformed {
                        provider: P,
                        what: format!("event-stream frame: {e}"),
                    });
                }
            }
        }
        if self.buf.len() > self.max {
            return Err(ProviderError::TooLarge {
                provider: P,
                limit: self.max,
            });
        }
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

fn frame_stream(
    response: reqwest::Response,
    config: &ProviderConfig,
    translator: BedrockStream,
) -> EventStream {
    struct State {
        body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
        reader: FrameReader,
        frames: Vec<EsMessage>,
        pending: Out,
        translator: BedrockStream,
        idle: Duration,
        finished: bool,
    }
    let state = State {
        body: response.bytes_stream().boxed(),
        reader: FrameReader::new(config.limits.max_event_bytes),
        frames: Vec::with_capacity(4),
        pending: Out::with_capacity(4),
        translator,
        idle: config.timeouts.idle,
        finished: false,
    };
    Box::pin(futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.pending.pop_front() {
                return Some((item, st));
            }
            if st.finished {
                return None;
            }
            match tokio::time::timeout(st.idle, st.body.next()).await {
                Err(_) => {
                    st.finished = true;
                    st.pending.push_back(Err(ProviderError::Timeout {
                        provider: P,
                        phase: TimeoutPhase::Body,
                    }));
                }
                Ok(Some(Err(e))) => {
                    st.finished = true;
                    st.pending.push_back(Err(ProviderError::from_reqwest(
                        P,
                        &e,
                        TimeoutPhase::Body,
                    )));
                }
                Ok(None) => {
                    st.finished = true;
                    let result = if st.reader.is_empty() {
                        st.translator.finish(&mut st.pending)
                    } else {
                        Err(ProviderError::StreamTruncated { provider: P })
                    };
                    if let Err(e) = result {
                        st.pending.push_back(Err(e));
                    }
                }
                Ok(Some(Ok(bytes))) => {
                    let mut frames = std::mem::take(&mut st.frames);
                    let result = st.reader.push(&bytes, &mut frames).and_then(|()| {
                        frames
                            .drain(..)
                            .try_for_each(|m| st.translator.message(&m, &mut st.pending))
                    });
                    frames.clear();
                    st.frames = frames;
                    if let Err(e) = result {
                        st.finished = true;
                        st.pending.push_back(Err(e));
                    }
                }
            }
        }
    }))
}

/// Percent-encodes a model id for the path (`:` → `%3A`, `/` → `%2F`).
pub fn encode_model_id(model: &str) -> String {
    let mut out = String::with_capacity(model.len() + 8);
    for b in model.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Bedrock {
    /// The translator; the base URL override, if any, replaces the regional endpoint.
    pub fn new(client: reqwest::Client, config: Arc<ProviderConfig>) -> Self {
        Self {
            base: config
                .base_urls
                .get(&P)
                .map(|b| b.trim_end_matches('/').to_owned()),
            client,
            config,
        }
    }

    fn url(&self, aws: &AwsCredential, model: &str, op: &str) -> String {
        let base = self
            .base
            .clone()
            .unwrap_or_else(|| format!("https://bedrock-runtime.{}.amazonaws.com", aws.region));
        format!("{base}/model/{}/{op}", encode_model_id(model))
    }

    /// Builds the signed request.
    /// Builds a request with its authentication: a Bearer header for a
    /// Bedrock API key, or SigV4 over the method, URL, listed headers and body.
    fn authorized(
        &self,
        aws: &AwsCredential,
        method: reqwest::Method,
        url: &str,
        body: Vec<u8>,
        accept: &str,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let mut builder = self
            .client
            .request(method.clone(), url)
            .header(ACCEPT, accept);
        let mut signed_headers = vec![("accept", accept)];
        if !body.is_empty() {
            builder = builder.header(CONTENT_TYPE, "application/json");
            signed_headers.push(("content-type", "application/json"));
        }
        match &aws.auth {
            AwsAuth::ApiKey(key) => {
                builder = builder.header(AUTHORIZATION, bearer(key)?);
            }
            AwsAuth::Keys {
                access_key_id,
                secret_access_key,
                session_token,
            } => {
                let headers = sign_v4(
                    method.as_str(),
                    url,
                    &body,
                    &signed_headers,
                    access_key_id,
                    secret_access_key,
                    session_token.as_ref(),
                    &aws.region,
                    SystemTime::now(),
                )?;
                for (name, value) in headers {
                    builder = builder.header(name, sensitive(&value)?);
                }
            }
        }
        Ok(builder.body(body))
    }
}

/// Signs a Bedrock request with SigV4 and returns the headers to add
/// (`authorization`, `x-amz-date`, `x-amz-security-token`,
/// `x-amz-content-sha256` as the signer decides).
///
/// # Errors
/// [`ProviderError::InvalidRequest`] when the URL or a header cannot be signed.
#[allow(clippy::too_many_arguments)]
pub fn sign_v4(
    method: &str,
    url: &str,
    body: &[u8],
    headers: &[(&str, &str)],
    access_key_id: &str,
    secret_access_key: &SecretString,
    session_token: Option<&SecretString>,
    region: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, ProviderError> {
    let identity = Credentials::new(
        access_key_id,
        secret_access_key.expose_secret(),
        session_token.map(|t| t.expose_secret().to_owned()),
        None,
        "byok",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|_| ProviderError::invalid("cannot build SigV4 parameters", None))?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|_| ProviderError::invalid("cannot sign the Bedrock request", None))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|_| ProviderError::invalid("cannot sign the Bedrock request", None))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect())
}

fn aws_of(credential: &Credential) -> Result<&AwsCredential, ProviderError> {
    match credential {
        Credential::Aws(a) => Ok(a),
        _ => Err(CredentialError::WrongProvider.into()),
    }
}

fn secret_of(aws: &AwsCredential) -> SecretString {
    match &aws.auth {
        AwsAuth::Keys {
            secret_access_key, ..
        } => secret_access_key.clone(),
        AwsAuth::ApiKey(k) => k.clone(),
    }
}

#[async_trait]
impl ChatProvider for Bedrock {
    fn id(&self) -> ProviderId {
        P
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
        let body = encode_request(request)?;
        let aws = aws_of(credential)?;
        let url = self.url(aws, &request.model, "converse");
        let secret = secret_of(aws);
        let builder =
            self.authorized(aws, reqwest::Method::POST, &url, body, "application/json")?;
        let bytes = http::fetch(P, &self.config, builder, Some(secret.expose_secret())).await?;
        let response = decode_response(&bytes, &request.model)?;
        Ok(ChatOutcome::new(response))
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatStream, ProviderError> {
        let body = encode_request(request)?;
        let aws = aws_of(credential)?;
        let url = self.url(aws, &request.model, "converse-stream");
        let secret = secret_of(aws);
        let builder = self.authorized(
            aws,
            reqwest::Method::POST,
            &url,
            body,
            "application/vnd.amazon.eventstream",
        )?;
        let response = http::send(P, &self.config, builder, Some(secret.expose_secret())).await?;
        let translator =
            BedrockStream::new(&request.model, request.wants_stream_usage(), Some(secret));
        Ok(ChatStream::new(frame_stream(
            response,
            &self.config,
            translator,
        )))
    }

    async fn list_models(&self, credential: &Credential) -> Result<Vec<ModelInfo>, ProviderError> {
        // Listing lives on the control-plane endpoint (`bedrock`, not
        // `bedrock-runtime`); a one-token Converse call with a cheap model
        // is not free either. Verification uses the control plane.
        let aws = aws_of(credential)?;
        let base = self
            .base
            .clone()
            .unwrap_or_else(|| format!("https://bedrock.{}.amazonaws.com", aws.region));
        let url = format!("{base}/foundation-models");
        let secret = secret_of(aws);
        let builder = self.authorized(
            aws,
            reqwest::Method::GET,
            &url,
            Vec::new(),
            "application/json",
        )?;
        let bytes = http::fetch(P, &self.config, builder, Some(secret.expose_secret())).await?;
        let v: Value = http::parse_json(P, "model list", &bytes)?;
        Ok(v.get("modelSummaries")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("modelId").and_then(Value::as_str))
            .map(|id| ModelInfo {
                id: id.to_owned(),
                object: "model".into(),
                owned_by: "aws".into(),
            })
            .collect())
    }
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
            "model": "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}}]},
                {"role": "assistant", "content": "ok", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "42"},
                {"role": "user", "content": "thanks"}
            ],
            "max_tokens": 64, "temperature": 0.1, "stop": ["X"],
            "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}],
            "tool_choice": "required"
        }));
        let w = to_wire(&r).unwrap();
        assert_eq!(w["system"], json!([{"text": "Be brief."}]));
        assert_eq!(
            w["messages"][0]["content"][1],
            json!({"image": {"format": "png", "source": {"bytes": "iVBOR"}}})
        );
        assert_eq!(
            w["messages"][1]["content"][1]["toolUse"],
            json!({"toolUseId": "t1", "name": "f", "input": {"a": 1}})
        );
        assert_eq!(
            w["messages"][2]["content"][0]["toolResult"],
            json!({"toolUseId": "t1", "content": [{"text": "42"}]})
        );
        assert_eq!(w["messages"][2]["content"][1], json!({"text": "thanks"}));
        assert_eq!(
            w["inferenceConfig"],
            json!({"maxTokens": 64, "temperature": 0.1, "stopSequences": ["X"]})
        );
        assert_eq!(w["toolConfig"]["toolChoice"], json!({"any": {}}));
        assert_eq!(
            w["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"],
            "object"
        );
    }

    #[test]
    fn model_ids_are_encoded_once_in_the_url() {
        assert_eq!(
            encode_model_id("anthropic.claude-3-5-sonnet-20241022-v2:0"),
            "anthropic.claude-3-5-sonnet-20241022-v2%3A0"
        );
        assert_eq!(
            encode_model_id("arn:aws:bedrock:us-east-1:123:inference-profile/us.x"),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.x"
        );
    }

    #[test]
    fn refusals() {
        for (k, v) in [
            ("response_format", json!({"type": "json_object"})),
            ("n", json!(2)),
            ("reasoning_effort", json!("low")),
        ] {
            let mut b = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
            b[k] = v;
            assert!(to_wire(&req(b)).is_err(), "{k}");
        }
        let url_image = req(
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}),
        );
        assert!(to_wire(&url_image).is_err());
    }

    fn wire_to_neutral(body: &Value) -> (Vec<Message>, Vec<String>) {
        let mut out = Vec::new();
        for sys in body["system"].as_array().into_iter().flatten() {
            out.push(Message::System {
                content: Content::Text(sys["text"].as_str().unwrap_or("").to_owned()),
                name: None,
            });
        }
        for m in body["messages"].as_array().into_iter().flatten() {
            let mut text = String::new();
            let mut calls = Vec::new();
            for b in m["content"].as_array().into_iter().flatten() {
                if let Some(t) = b["text"].as_str() {
                    text.push_str(t);
                } else if let Some(tu) = b.get("toolUse") {
                    calls.push(ToolCall {
                        id: tu["toolUseId"].as_str().unwrap_or("").to_owned(),
                        kind: "function".into(),
                        function: FunctionCall {
                            name: tu["name"].as_str().unwrap_or("").to_owned(),
                            arguments: tu["input"].to_string(),
                        },
                    });
                } else if let Some(tr) = b.get("toolResult") {
                    out.push(Message::Tool {
                        content: Content::Text(
                            tr["content"][0]["text"].as_str().unwrap_or("").to_owned(),
                        ),
                        tool_call_id: tr["toolUseId"].as_str().unwrap_or("").to_owned(),
                    });
                }
            }
            if m["role"] == "assistant" {
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
            .pointer("/toolConfig/tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| {
                t.pointer("/toolSpec/name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        (out, tools)
    }

    mod roundtrip {
        use super::*;
        use proptest::prelude::*;

        fn conversation() -> impl Strategy<Value = Vec<Message>> {
            crate::test_support::conversation(crate::test_support::PLAIN)
        }

        proptest! {
            #[test]
            fn neutral_to_converse_to_neutral(messages in conversation(), tools in proptest::collection::btree_set("[a-z]{1,8}", 0..3)) {
                let tools: Vec<String> = tools.into_iter().collect();
                let mut r = req(json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}));
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
}
