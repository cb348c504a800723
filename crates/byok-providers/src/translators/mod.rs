//! Translator modules for the providers that do not speak OpenAI's
//! chat-completions dialect: each turns the neutral request into its wire
//! format, and the wire answer (or stream) back into neutral types.
//!
//! Every translator is a folder: `mod.rs` holds the adapter (its
//! [`Dialect`]: what sets it apart) and the mapping table, `request.rs` the
//! request encoding, `response.rs` the answer decoding and `stream.rs` the
//! stream state machine.
//!
//! What the translators share is written once, here and in
//! [`crate::http`]:
//!
//! | piece | for |
//! |---|---|
//! | [`Dialect`] + the one [`ChatProvider`] impl | send, decode, stream, list models ([`Upstream`] holds id, base URL, client, config) |
//! | [`turns`] / [`json_turns`] over a [`TurnEncoder`] | the message loop: system apart, consecutive same-role turns merged (Anthropic, Converse, Gemini) |
//! | [`Answer`], [`Counts`], [`function_call`] | a whole answer as a [`ChatResponse`], usage in OpenAI's terms |
//! | [`ChunkHead`], [`ToolSlots`] | stream chunks (role, text, tool start / arguments, finish, usage) and tool-call numbering |
//! | [`embeddings`] | translated embeddings (Gemini, Bedrock): OpenAI's inputs read, OpenAI's answer written |

pub(crate) mod anthropic;
pub(crate) mod bedrock;
pub(crate) mod embeddings;
pub(crate) mod gemini;
pub(crate) mod lenient;
pub(crate) mod openai;
pub(crate) mod responses;

use std::collections::HashMap;

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::common::{chunk_event, now_secs, push_usage};
use crate::credential::Credential;
use crate::error::ProviderError;
use crate::forward::{Forward, Forwarded};
use crate::http::{BodyTranslate, Out, Upstream};
use crate::id::ProviderId;
use crate::provider::{ChatOutcome, ChatProvider};
use crate::stream::{ChatStream, StreamEvent};
use crate::types::{
    ChatRequest, ChatResponse, Choice, CompletionTokensDetails, Content, Delta, FinishReason,
    FunctionCall, FunctionDelta, Message, ModelInfo, PromptTokensDetails, ResponseMessage,
    ToolCall, ToolCallDelta, Usage,
};

/// What sets one wire format's adapter apart; [`ChatProvider`] is
/// implemented once for every dialect: build the request, send it (the
/// response timeout, bounded body, sanitised errors of [`Upstream`]), then
/// decode the answer, drive the stream translator or read the model list.
pub(crate) trait Dialect: Send + Sync + std::fmt::Debug {
    /// The stream translator.
    type Stream: BodyTranslate;

    /// The provider, client and configuration.
    fn upstream(&self) -> &Upstream;

    /// The chat request for `request`, authorised (a stream asks for its
    /// framing), and the key it carries.
    fn chat_request(
        &self,
        request: &ChatRequest,
        credential: &Credential,
        stream: bool,
    ) -> Result<(crate::transport::RequestBuilder, SecretString), ProviderError>;

    /// A whole answer's body as the neutral outcome.
    fn decode(&self, request: &ChatRequest, bytes: Vec<u8>) -> Result<ChatOutcome, ProviderError>;

    /// The stream translator for `request`; `secret` is redacted from
    /// mid-stream errors.
    fn translator(&self, request: &ChatRequest, secret: SecretString) -> Self::Stream;

    /// The model-list request, authorised, and the key it carries.
    fn models_request(
        &self,
        credential: &Credential,
    ) -> Result<(crate::transport::RequestBuilder, SecretString), ProviderError>;

    /// A model-list body as models.
    fn models(&self, bytes: &[u8]) -> Result<Vec<ModelInfo>, ProviderError>;

    /// Whether a pass-through request must be signed over its body
    /// (Bedrock's SigV4) rather than sent with a key header: then
    /// [`Dialect::signed_request`] builds each call
    /// ([`crate::forward::signed`]).
    const SIGNS_BODIES: bool = false;

    /// `POST op` with `body`, authorised by signing it, and the key it
    /// carries: only for a dialect that [signs bodies](Dialect::SIGNS_BODIES).
    fn signed_request(
        &self,
        op: &str,
        body: Vec<u8>,
        credential: &Credential,
    ) -> Result<(crate::transport::RequestBuilder, SecretString), ProviderError> {
        let _ = (op, body, credential);
        Err(ProviderError::Unsupported {
            provider: self.upstream().id,
            what: "a signed pass-through".into(),
        })
    }
}

#[async_trait]
impl<D: Dialect> ChatProvider for D {
    fn id(&self) -> ProviderId {
        self.upstream().id
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatOutcome, ProviderError> {
        let (builder, secret) = self.chat_request(request, credential, false)?;
        let bytes = self.upstream().fetch(builder, &secret).await?;
        self.decode(request, bytes)
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatStream, ProviderError> {
        let (builder, secret) = self.chat_request(request, credential, true)?;
        self.upstream()
            .stream(builder, secret, |secret| self.translator(request, secret))
            .await
    }

    async fn list_models(&self, credential: &Credential) -> Result<Vec<ModelInfo>, ProviderError> {
        let (builder, secret) = self.models_request(credential)?;
        let bytes = self.upstream().fetch(builder, &secret).await?;
        self.models(&bytes)
    }

    async fn forward(
        &self,
        request: Forward<'_>,
        credential: &Credential,
    ) -> Result<Forwarded, ProviderError> {
        if D::SIGNS_BODIES {
            return crate::forward::signed(self, request, credential).await;
        }
        self.upstream().forward(request, credential).await
    }
}

/// A dialect's token counts, for [`Counts::usage`].
pub(crate) struct Counts {
    pub(crate) prompt: u64,
    pub(crate) completion: u64,
    pub(crate) cached: u64,
    pub(crate) cache_write: Option<u64>,
    pub(crate) reasoning: Option<u64>,
}

impl Counts {
    /// Counts of dialects that keep cache reads and writes out of the
    /// input count (Anthropic, Converse): in OpenAI's terms prompt tokens
    /// include both.
    pub(crate) fn cache_apart(input: u64, output: u64, read: u64, write: u64) -> Self {
        Self {
            prompt: input.saturating_add(read).saturating_add(write),
            completion: output,
            cached: read,
            cache_write: Some(write),
            reasoning: None,
        }
    }

    /// In OpenAI's terms, the total the sum.
    pub(crate) fn usage(self) -> Usage {
        Usage {
            prompt_tokens: self.prompt,
            completion_tokens: self.completion,
            total_tokens: self.prompt.saturating_add(self.completion),
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(self.cached),
                cache_write_tokens: self.cache_write,
                audio_tokens: None,
            }),
            completion_tokens_details: Some(CompletionTokensDetails {
                reasoning_tokens: self.reasoning,
                ..CompletionTokensDetails::default()
            }),
            extra: Default::default(),
        }
    }
}

/// A borrowed-or-owned string, owned.
pub(crate) fn owned(s: Option<std::borrow::Cow<'_, str>>) -> Option<String> {
    s.map(std::borrow::Cow::into_owned)
}

/// OpenAI's `url_citation` annotation: `url` cited by characters
/// `start..end` of the answer's `content`.
pub(crate) fn url_citation(url: &str, title: &str, start: usize, end: usize) -> Value {
    serde_json::json!({"type": "url_citation", "url_citation": {
        "url": url, "title": title, "start_index": start, "end_index": end,
    }})
}

/// A function tool call.
pub(crate) fn function_call(id: String, name: String, arguments: String) -> ToolCall {
    ToolCall {
        id,
        kind: "function".into(),
        function: FunctionCall { name, arguments },
    }
}

/// What a translated answer says, gathered from its blocks or parts.
#[derive(Default)]
pub(crate) struct Answer {
    pub(crate) text: String,
    pub(crate) reasoning: String,
    pub(crate) refusal: String,
    pub(crate) calls: Vec<ToolCall>,
    /// `reasoning_details`: the reasoning's replayable entries.
    pub(crate) details: Vec<Value>,
    /// `annotations` over `text` (URL citations).
    pub(crate) annotations: Vec<Value>,
}

impl Answer {
    /// A `chat.completion` with one assistant choice: the text (even empty,
    /// unless there are tool calls), the calls, refusal, reasoning,
    /// `reasoning_details` and `annotations` when there are any; `native`,
    /// the upstream's own finish reason, as the choice's
    /// `native_finish_reason` when given (a reason `finish_reason` does not
    /// say all of).
    pub(crate) fn into_response(
        self,
        id: String,
        created: i64,
        model: String,
        finish_reason: Option<FinishReason>,
        native: Option<&str>,
        usage: Option<Usage>,
    ) -> ChatResponse {
        let Self {
            text,
            reasoning,
            refusal,
            calls,
            details,
            annotations,
        } = self;
        let has_calls = !calls.is_empty();
        let mut message = ResponseMessage {
            role: "assistant".into(),
            content: (!text.is_empty() || !has_calls).then_some(text),
            tool_calls: has_calls.then_some(calls),
            refusal: (!refusal.is_empty()).then_some(refusal),
            reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
            reasoning_details: (!details.is_empty()).then_some(details),
            extra: Default::default(),
        };
        if !annotations.is_empty() {
            message
                .extra
                .insert("annotations".into(), Value::Array(annotations));
        }
        let mut choice = Choice {
            index: 0,
            message,
            finish_reason,
            logprobs: None,
            extra: Default::default(),
        };
        if let Some(native) = native {
            choice
                .extra
                .insert("native_finish_reason".into(), Value::from(native));
        }
        ChatResponse {
            id,
            object: "chat.completion".into(),
            created,
            model,
            choices: vec![choice],
            usage,
            system_fingerprint: None,
            extra: Default::default(),
        }
    }
}

/// A dialect's encoding of a conversation's parts, for [`turns`].
pub(crate) trait TurnEncoder {
    /// One content block (or part) of a turn.
    type Block;
    /// A system or developer message, kept apart from the turns.
    type System;

    /// A system or developer message.
    fn system(&self, content: &Content) -> Self::System;

    /// The blocks of a message's content.
    fn blocks(&self, content: &Content) -> Result<Vec<Self::Block>, ProviderError>;

    /// The blocks of a user message.
    fn user(&mut self, content: &Content) -> Result<Vec<Self::Block>, ProviderError> {
        self.blocks(content)
    }

    /// The blocks of an assistant message's text (none for empty text).
    fn assistant(&mut self, content: &Content) -> Result<Vec<Self::Block>, ProviderError> {
        if content.text().is_empty() {
            return Ok(Vec::new());
        }
        self.blocks(content)
    }

    /// One tool call of an assistant message.
    fn tool_call(&mut self, call: &ToolCall) -> Result<Self::Block, ProviderError>;

    /// A tool result, `id` the call it answers (user content).
    fn tool_result(&mut self, id: &str, content: &Content) -> Result<Self::Block, ProviderError>;

    /// A tool message: its result, given the message's other keys too
    /// (`is_error`, `cache_control`, ...); by default [`Self::tool_result`].
    fn tool_message(
        &mut self,
        id: &str,
        content: &Content,
        _extra: &Map<String, Value>,
    ) -> Result<Self::Block, ProviderError> {
        self.tool_result(id, content)
    }
}

/// [`turns`] with the turns as JSON objects `{"role": role, key: blocks}`.
pub(crate) fn json_turns<E: TurnEncoder<Block = Value>>(
    messages: &[Message],
    assistant: &'static str,
    key: &str,
    encoder: &mut E,
) -> Result<(Vec<E::System>, Vec<Value>), ProviderError> {
    let Conversation { system, turns } = turns(messages, assistant, encoder)?;
    let turns = turns
        .into_iter()
        .map(|(role, blocks)| {
            let mut turn = Map::new();
            turn.insert("role".into(), Value::from(role));
            turn.insert(key.to_owned(), Value::Array(blocks));
            Value::Object(turn)
        })
        .collect();
    Ok((system, turns))
}

/// A turn: its role and its blocks.
pub(crate) type Turn<B> = (&'static str, Vec<B>);

/// A conversation as a dialect encodes it: the system messages apart, then
/// the turns.
pub(crate) struct Conversation<S, B> {
    pub(crate) system: Vec<S>,
    pub(crate) turns: Vec<Turn<B>>,
}

/// The turns of `messages` as `(role, blocks)`: user messages and tool
/// results under `user`, assistant messages (text, then tool calls) under
/// `assistant`; consecutive same-role turns merged (so parallel tool results
/// stay together), empty ones dropped. System and developer messages are
/// kept apart ([`TurnEncoder::system`]).
pub(crate) fn turns<E: TurnEncoder>(
    messages: &[Message],
    assistant: &'static str,
    encoder: &mut E,
) -> Result<Conversation<E::System, E::Block>, ProviderError> {
    let mut system = Vec::new();
    let mut turns: Vec<Turn<E::Block>> = Vec::new();
    let mut push = |role: &'static str, blocks: Vec<E::Block>| {
        if blocks.is_empty() {
            return;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    };
    for message in messages {
        match message {
            Message::System { content, .. } | Message::Developer { content, .. } => {
                system.push(encoder.system(content));
            }
            Message::User { content, .. } => push("user", encoder.user(content)?),
            Message::Assistant {
                content,
                tool_calls,
                ..
            } => {
                let mut blocks = match content {
                    Some(c) => encoder.assistant(c)?,
                    None => Vec::new(),
                };
                for call in tool_calls.iter().flatten() {
                    blocks.push(encoder.tool_call(call)?);
                }
                push(assistant, blocks);
            }
            Message::Tool {
                content,
                tool_call_id,
                extra,
            } => push(
                "user",
                vec![encoder.tool_message(tool_call_id, content, extra)?],
            ),
        }
    }
    Ok(Conversation { system, turns })
}

/// What every chunk of a translated stream repeats (id, model, creation
/// time), whether the client asked for a usage chunk, and the chunks the
/// stream translators build from it.
pub(crate) struct ChunkHead {
    pub(crate) id: String,
    pub(crate) model: String,
    pub(crate) created: i64,
    wants_usage: bool,
}

impl ChunkHead {
    /// No id yet, `model`, created now.
    pub(crate) fn new(model: String, wants_usage: bool) -> Self {
        Self {
            id: String::new(),
            model,
            created: now_secs(),
            wants_usage,
        }
    }

    /// A chunk with one choice.
    pub(crate) fn chunk(&self, delta: Delta, finish: Option<FinishReason>) -> StreamEvent {
        chunk_event(&self.id, self.created, &self.model, delta, finish)
    }

    /// Pushes a chunk of `delta`.
    pub(crate) fn push(&self, out: &mut Out, delta: Delta) {
        out.push_back(Ok(self.chunk(delta, None)));
    }

    /// Pushes the role chunk that opens a stream.
    pub(crate) fn push_role(&self, out: &mut Out) {
        self.push(
            out,
            Delta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                ..Delta::default()
            },
        );
    }

    /// Pushes the finish-reason chunk.
    pub(crate) fn push_finish(&self, out: &mut Out, reason: FinishReason) {
        self.push_finish_native(out, reason, None);
    }

    /// Pushes the finish-reason chunk, with the upstream's own reason as
    /// the choice's `native_finish_reason` when `native` is given (a reason
    /// the finish reason does not say all of).
    pub(crate) fn push_finish_native(
        &self,
        out: &mut Out,
        reason: FinishReason,
        native: Option<&str>,
    ) {
        let mut event = self.chunk(Delta::default(), Some(reason));
        if let (StreamEvent::Chunk(c), Some(native)) = (&mut event, native)
            && let Some(choice) = c.choices.first_mut()
        {
            choice
                .extra
                .insert("native_finish_reason".into(), Value::from(native));
        }
        out.push_back(Ok(event));
    }

    /// Pushes a chunk carrying `annotations` (`url_citation`s, in
    /// `Delta.extra`); nothing when there are none.
    pub(crate) fn push_annotations(&self, out: &mut Out, annotations: Vec<Value>) {
        if annotations.is_empty() {
            return;
        }
        let mut delta = Delta::default();
        delta
            .extra
            .insert("annotations".into(), Value::Array(annotations));
        self.push(out, delta);
    }

    /// Pushes the start of tool call `index`: its id, name and first
    /// argument text.
    pub(crate) fn push_tool_start(
        &self,
        out: &mut Out,
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    ) {
        let call = ToolCallDelta {
            index,
            id,
            kind: Some("function".into()),
            function: Some(FunctionDelta {
                name,
                arguments: Some(arguments),
            }),
        };
        self.push_tool(out, call);
    }

    /// Pushes an argument fragment of tool call `index`.
    pub(crate) fn push_arguments(&self, out: &mut Out, index: u32, arguments: Option<String>) {
        let call = ToolCallDelta {
            index,
            id: None,
            kind: None,
            function: Some(FunctionDelta {
                name: None,
                arguments,
            }),
        };
        self.push_tool(out, call);
    }

    fn push_tool(&self, out: &mut Out, call: ToolCallDelta) {
        self.push(
            out,
            Delta {
                tool_calls: Some(vec![call]),
                ..Delta::default()
            },
        );
    }

    /// Pushes the usage event, and the usage chunk when the client asked
    /// for it.
    pub(crate) fn push_usage(&self, out: &mut Out, usage: Usage) {
        push_usage(
            out,
            usage,
            self.wants_usage,
            &self.id,
            self.created,
            &self.model,
        );
    }
}

/// Tool calls of a stream, numbered in order of appearance, by the
/// upstream's key for them (content block or output index).
#[derive(Default)]
pub(crate) struct ToolSlots {
    slots: HashMap<u64, u32>,
    next: u32,
}

impl ToolSlots {
    /// Numbers a new call under `key`.
    pub(crate) fn open(&mut self, key: u64) -> u32 {
        let index = self.next;
        self.next += 1;
        self.slots.insert(key, index);
        index
    }

    /// The number of the call under `key`.
    pub(crate) fn get(&self, key: u64) -> Option<u32> {
        self.slots.get(&key).copied()
    }

    /// Whether any call was opened.
    pub(crate) fn any(&self) -> bool {
        self.next > 0
    }
}

/// Test support shared by the request translators' round-trip tests:
/// neutral messages rebuilt from a wire body.
#[cfg(test)]
pub(crate) mod inverse {
    #![allow(clippy::unwrap_used)]

    use serde_json::{Map, Value, json};

    use crate::stream::Transcript;
    use crate::types::{ChatChunk, ChatRequest, ChatResponse, Content, Message, ToolCall};

    /// A stream's chunks put back together as a client does, in the shape
    /// of [`choice_of`] a whole answer: the first choice's message (the
    /// [`Transcript`]: content, reasoning, calls by index; and the refusal,
    /// `reasoning_details` with the pieces of one `reasoning.text` entry
    /// joined, `annotations`), its finish reason and native finish reason.
    pub(crate) fn reassembled<'a>(chunks: impl IntoIterator<Item = &'a ChatChunk>) -> Value {
        let mut t = Transcript::default();
        let mut refusal = String::new();
        let (mut details, mut annotations) = (Vec::<Value>::new(), Vec::new());
        let mut native = Value::Null;
        for chunk in chunks {
            t.push(chunk);
            for c in chunk.choices.iter().filter(|c| c.index == 0) {
                let d = &c.delta;
                refusal.push_str(d.refusal.as_deref().unwrap_or(""));
                for e in d.reasoning_details.iter().flatten() {
                    match details.last_mut() {
                        Some(last)
                            if last["index"] == e["index"] && e["type"] == "reasoning.text" =>
                        {
                            let joined = format!(
                                "{}{}",
                                last["text"].as_str().unwrap_or(""),
                                e["text"].as_str().unwrap_or("")
                            );
                            last["text"] = json!(joined);
                            if let Some(s) = e.get("signature") {
                                last["signature"] = s.clone();
                            }
                        }
                        _ => details.push(e.clone()),
                    }
                }
                if let Some(Value::Array(a)) = d.extra.get("annotations") {
                    annotations.extend(a.iter().cloned());
                }
                if c.finish_reason.is_some() {
                    native = c
                        .extra
                        .get("native_finish_reason")
                        .cloned()
                        .unwrap_or(Value::Null);
                }
            }
        }
        let has_calls = !t.tool_calls.is_empty();
        let mut m = Map::new();
        m.insert("role".into(), json!("assistant"));
        let content = if t.content.is_empty() && has_calls {
            Value::Null
        } else {
            json!(t.content)
        };
        m.insert("content".into(), content);
        for (key, value, present) in [
            ("tool_calls", json!(t.tool_calls), has_calls),
            ("refusal", json!(refusal), !refusal.is_empty()),
            (
                "reasoning_content",
                json!(t.reasoning),
                !t.reasoning.is_empty(),
            ),
            ("reasoning_details", json!(details), !details.is_empty()),
            ("annotations", json!(annotations), !annotations.is_empty()),
        ] {
            if present {
                m.insert(key.into(), value);
            }
        }
        json!({"message": m, "finish_reason": t.finish_reason, "native_finish_reason": native})
    }

    /// A whole answer's first choice: its message, finish reason and native
    /// finish reason.
    pub(crate) fn choice_of(response: &ChatResponse) -> Value {
        let c = &response.choices[0];
        json!({
            "message": c.message,
            "finish_reason": c.finish_reason,
            "native_finish_reason": c.extra.get("native_finish_reason").cloned().unwrap_or(Value::Null),
        })
    }

    /// [`reassembled`] or [`choice_of`] with the calls' arguments as JSON
    /// (a stream's are text fragments of the same object).
    pub(crate) fn parsed_arguments(mut v: Value) -> Value {
        let calls = v["message"]["tool_calls"].as_array_mut();
        for call in calls.into_iter().flatten() {
            let args = &mut call["function"]["arguments"];
            let parsed: Value = serde_json::from_str(args.as_str().unwrap()).unwrap();
            *args = parsed;
        }
        v
    }

    /// A request from its JSON.
    pub(crate) fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    /// The string at `pointer` in every item of the array `list`.
    pub(crate) fn names(list: &Value, pointer: &str) -> Vec<String> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.pointer(pointer).and_then(Value::as_str))
            .map(str::to_owned)
            .collect()
    }

    /// `v[key]` as a string, empty when absent.
    pub(crate) fn text(v: &Value, key: &str) -> String {
        v[key].as_str().unwrap_or("").to_owned()
    }

    /// A system message.
    pub(crate) fn system(text: String) -> Message {
        Message::System {
            content: Content::Text(text),
            name: None,
        }
    }

    /// A user message.
    pub(crate) fn user(text: String) -> Message {
        Message::User {
            content: Content::Text(text),
            name: None,
            extra: Default::default(),
        }
    }

    /// An assistant message.
    pub(crate) fn assistant(text: Option<String>, calls: Option<Vec<ToolCall>>) -> Message {
        Message::Assistant {
            content: text.map(Content::Text),
            tool_calls: calls,
            refusal: None,
            reasoning_content: None,
            name: None,
            reasoning_details: None,
            extra: Default::default(),
        }
    }

    /// A tool result.
    pub(crate) fn tool(id: String, text: String) -> Message {
        Message::Tool {
            content: Content::Text(text),
            tool_call_id: id,
            extra: Default::default(),
        }
    }

    /// A merged turn back as one message: an assistant's text (if any) and
    /// calls, or a user's text (none without text).
    pub(crate) fn push_turn(
        out: &mut Vec<Message>,
        is_assistant: bool,
        text: Option<String>,
        calls: Vec<ToolCall>,
    ) {
        if is_assistant {
            out.push(assistant(text, (!calls.is_empty()).then_some(calls)));
        } else if let Some(text) = text {
            out.push(user(text));
        }
    }
}
