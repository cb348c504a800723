//! The neutral API: OpenAI's chat-completions request, response and stream
//! chunk, typed for what the gateway reads and lossless for the rest.
//!
//! Every translator reads a [`ChatRequest`] and produces a [`ChatResponse`] or
//! a stream of [`ChatChunk`]s, whatever the provider speaks. What the
//! gateway does not read is kept as raw JSON (style item 13): unknown
//! top-level request fields in [`ChatRequest::extra`], unknown keys of
//! messages, content parts, tools, `stream_options`, responses, choices,
//! messages and deltas in their own `extra` maps, and content parts, tools
//! and `tool_choice` shapes the gateway does not model as
//! [`ContentPart::Other`], non-`function` [`Tool`]s and
//! [`ToolChoice::Other`]. The OpenAI dialect sends all of it upstream and
//! back as it came; the other translators read only the typed part and
//! refuse the unmodelled shapes (they cannot know what they mean). A short
//! list of fields that try to choose an upstream or its headers is refused
//! outright (see [`ChatRequest::validate`]).
//!
//! Known gaps (these types are built field by field by every translator
//! and the server): unknown keys of `system` messages, of [`ToolCall`]s,
//! [`ToolCallDelta`]s and of the usage details are not kept.

use serde::ser::SerializeMap as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::ProviderError;

/// A chat-completions request (`POST /v1/chat/completions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model id.
    pub model: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Stream the answer as server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Streaming options (`include_usage`, and whatever else the client
    /// set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Legacy output-token limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Output-token limit, reasoning included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Number of choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// End-user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// How the model picks tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether several tool calls may come in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Output format (text, JSON object, JSON schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Reasoning effort for reasoning models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Every other top-level field, passed through to OpenAI-dialect upstreams only.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The client's body this request was read from, when it was read by
    /// [`ChatRequest::parse`]: an OpenAI-dialect adapter forwards it as it
    /// came when what it would encode says the same (see [`RawBody`]).
    #[serde(skip)]
    pub raw: Option<RawBody>,
}

/// The bytes a [`ChatRequest`] was parsed from, and what they said about
/// the fields the gateway may change after parsing (the model a route
/// rewrites, the output limit a default fills in, the gateway's own
/// options it takes out of `extra`, messages a step adds): the bytes stand
/// for the request only while those are as parsed
/// ([`RawBody::describes`]). Nothing else is changed between parsing and
/// encoding; debug builds check every use against the encoding it saves.
#[derive(Clone, PartialEq)]
pub struct RawBody {
    bytes: bytes::Bytes,
    model: String,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    extra: usize,
    messages: usize,
}

impl std::fmt::Debug for RawBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawBody({} bytes)", self.bytes.len())
    }
}

impl RawBody {
    /// Whether the bytes still say what `request` says in the fields the
    /// gateway changes.
    pub fn describes(&self, request: &ChatRequest) -> bool {
        self.model == request.model
            && self.max_tokens == request.max_tokens
            && self.max_completion_tokens == request.max_completion_tokens
            && self.extra == request.extra.len()
            && self.messages == request.messages.len()
    }

    /// The bytes as the client sent them.
    pub fn bytes(&self) -> &bytes::Bytes {
        &self.bytes
    }
}

/// Request fields that would let a caller choose where, or with which
/// headers, a request goes. Refused with a 400 (security.md item 10).
pub const FORBIDDEN_FIELDS: &[&str] = &[
    "api_base",
    "base_url",
    "api_key",
    "api_version",
    "azure_endpoint",
    "azure_ad_token",
    "endpoint",
    "extra_headers",
    "headers",
    "custom_llm_provider",
    "aws_region_name",
    "aws_access_key_id",
    "aws_secret_access_key",
    "vertex_project",
    "vertex_location",
    "proxy",
    "url",
];

/// Refuses the first of `keys` that is a [`FORBIDDEN_FIELDS`] member, as
/// every inbound body's unread members are checked.
///
/// # Errors
/// [`ProviderError::InvalidRequest`] naming the field.
pub fn refuse_forbidden_fields<'a>(
    keys: impl IntoIterator<Item = &'a str>,
) -> Result<(), ProviderError> {
    match keys.into_iter().find(|k| FORBIDDEN_FIELDS.contains(k)) {
        Some(key) => Err(ProviderError::invalid(
            format!(
                "`{key}` is not accepted: the upstream is chosen by the gateway, never by a request"
            ),
            Some(key),
        )),
        None => Ok(()),
    }
}

impl ChatRequest {
    /// Reads a chat completions body, keeping its bytes (a cheap
    /// reference-counted clone) so that an upstream speaking the same
    /// protocol can get them as they came: lossless, and no re-encoding.
    ///
    /// # Errors
    /// The body is not a chat completions request.
    pub fn parse(body: &bytes::Bytes) -> Result<Self, serde_json::Error> {
        let mut request: ChatRequest = serde_json::from_slice(body)?;
        request.raw = Some(RawBody {
            bytes: body.clone(),
            model: request.model.clone(),
            max_tokens: request.max_tokens,
            max_completion_tokens: request.max_completion_tokens,
            extra: request.extra.len(),
            messages: request.messages.len(),
        });
        Ok(request)
    }

    /// Checks what every provider needs: a model, at least one message,
    /// sane limits, and no field that tries to choose the upstream.
    ///
    /// # Errors
    /// [`ProviderError::InvalidRequest`] naming the offending parameter.
    pub fn validate(&self) -> Result<(), ProviderError> {
        if self.model.trim().is_empty() {
            return Err(ProviderError::invalid(
                "`model` must not be empty",
                Some("model"),
            ));
        }
        if self.messages.is_empty() {
            return Err(ProviderError::invalid(
                "`messages` must contain at least one message",
                Some("messages"),
            ));
        }
        refuse_forbidden_fields(self.extra.keys().map(String::as_str))
    }

    /// The first thing in the request that only the OpenAI dialect can
    /// send upstream (it passes it through as it came; the other
    /// translators cannot know what it means and refuse it): a content part
    /// other than `text` and `image_url`, a tool other than a `function`,
    /// or a `tool_choice` other than a mode or a named function.
    pub fn unmodelled(&self) -> Option<String> {
        self.unmodelled_except(&[])
    }

    /// [`ChatRequest::unmodelled`] for a translator that encodes content
    /// parts of the kinds `parts` itself (`["file"]`): those are skipped.
    pub fn unmodelled_except(&self, parts: &[&str]) -> Option<String> {
        let short = |s: &str| s.chars().take(32).collect::<String>();
        let other =
            |p: &ContentPart| matches!(p, ContentPart::Other(_)) && !parts.contains(&p.kind());
        let part = self
            .messages
            .iter()
            .find_map(|m| m.content()?.parts().find(|p| other(p)));
        if let Some(p) = part {
            return Some(format!("`{}` content parts", short(p.kind())));
        }
        if let Some(t) = self.tools.iter().flatten().find(|t| !t.is_function()) {
            return Some(format!("`{}` tools", short(&t.kind)));
        }
        if let Some(ToolChoice::Other(v)) = &self.tool_choice {
            let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
            return Some(format!("`tool_choice` of type `{}`", short(kind)));
        }
        None
    }

    /// Whether the request asks for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }

    /// Whether the client asked for the usage chunk in a stream.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }
}

/// Streaming options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StreamOptions {
    /// Send a final chunk with usage and no choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// Every other option (`include_obfuscation`, ...), kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `stop`: one string or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// One sequence.
    One(String),
    /// Several sequences.
    Many(Vec<String>),
}

impl Stop {
    /// The sequences as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
    }
}

/// One message of the conversation. Unknown keys are kept in `extra`,
/// except on `system` messages (a gap: the server builds those field by
/// field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Message {
    /// System prompt.
    System {
        /// The text.
        content: Content,
        /// Optional participant name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// Developer prompt (newer OpenAI models' system prompt).
    Developer {
        /// The text.
        content: Content,
        /// Optional participant name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Every other key, kept as sent.
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    /// User turn.
    User {
        /// Text, image, file, audio, ... parts.
        content: Content,
        /// Optional participant name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Every other key, kept as sent.
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    /// Assistant turn (earlier answers, tool calls).
    Assistant {
        /// The text, absent when the turn only calls tools.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Content>,
        /// Tool calls made in this turn.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_calls: Option<Vec<ToolCall>>,
        /// A refusal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refusal: Option<String>,
        /// Reasoning text of an earlier turn (some providers want it back).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reasoning_content: Option<String>,
        /// The replayable reasoning of an earlier turn, as the provider gave
        /// it (OpenRouter's `reasoning_details`: thinking-model tool loops
        /// continue only when it comes back unchanged).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reasoning_details: Option<Vec<Value>>,
        /// Optional participant name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Every other key (`reasoning`, `audio`, `prefix`, ...), kept as sent.
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    /// The result of a tool call.
    Tool {
        /// The result.
        content: Content,
        /// The call it answers.
        tool_call_id: String,
        /// Every other key, kept as sent.
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
}

impl Message {
    /// The message's content, whatever its role (`None`: an assistant
    /// message with tool calls only).
    pub fn content(&self) -> Option<&Content> {
        match self {
            Message::System { content, .. }
            | Message::Developer { content, .. }
            | Message::User { content, .. }
            | Message::Tool { content, .. } => Some(content),
            Message::Assistant { content, .. } => content.as_ref(),
        }
    }
}

/// Message content: a string or a list of parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Text and image parts.
    Parts(Vec<ContentPart>),
}

impl Content {
    /// The parts (none for plain text).
    pub fn parts(&self) -> std::slice::Iter<'_, ContentPart> {
        match self {
            Content::Text(_) => [].iter(),
            Content::Parts(parts) => parts.iter(),
        }
    }

    /// The text of every text part, joined with nothing in between.
    pub fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text, .. } => Some(text.as_str()),
                    ContentPart::ImageUrl { .. } | ContentPart::Other(_) => None,
                })
                .collect(),
        }
    }
}

/// A content part: the kinds every translator reads, typed, with their
/// unknown keys (`cache_control`, ...) kept; any other kind (`file`,
/// `input_audio`, `video_url`, ...) kept whole. A malformed `text` or
/// `image_url` part is an error, not another kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text.
    Text {
        /// The text.
        text: String,
        /// Every other key (`cache_control`, ...), kept as sent.
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    /// An image by URL or `data:` URL.
    ImageUrl {
        /// The image.
        image_url: ImageUrl,
        /// Every other key, kept as sent.
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    /// Any other kind of part, `type` included, exactly as sent. Only the
    /// OpenAI dialect can send it upstream; the other translators refuse it.
    #[serde(untagged)]
    Other(Map<String, Value>),
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut map = Map::<String, Value>::deserialize(d)?;
        let field = |map: &mut Map<String, Value>, name: &'static str| {
            map.remove(name)
                .ok_or_else(|| D::Error::missing_field(name))
        };
        match map.get("type").and_then(Value::as_str) {
            Some("text") => {
                map.remove("type");
                let text =
                    String::deserialize(field(&mut map, "text")?).map_err(D::Error::custom)?;
                Ok(ContentPart::Text { text, extra: map })
            }
            Some("image_url") => {
                map.remove("type");
                let image_url = ImageUrl::deserialize(field(&mut map, "image_url")?)
                    .map_err(D::Error::custom)?;
                Ok(ContentPart::ImageUrl {
                    image_url,
                    extra: map,
                })
            }
            Some(_) => Ok(ContentPart::Other(map)),
            None => Err(D::Error::missing_field("type")),
        }
    }
}

impl ContentPart {
    /// The part's `type`.
    pub fn kind(&self) -> &str {
        match self {
            ContentPart::Text { .. } => "text",
            ContentPart::ImageUrl { .. } => "image_url",
            ContentPart::Other(m) => m.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }
}

/// An image reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// `https://...` or `data:image/png;base64,...`.
    pub url: String,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Every other key, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A tool definition: a `function` tool, typed; any other kind (`custom`,
/// ...) kept whole in `extra` (see [`Tool::is_function`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawTool")]
pub struct Tool {
    /// `function`, or another kind (`custom`, ...).
    pub kind: String,
    /// The function of a `function` tool (empty for other kinds).
    pub function: FunctionDef,
    /// Every other key, kept as sent (for a non-`function` tool: all of it
    /// but `type`).
    pub extra: Map<String, Value>,
}

impl Tool {
    /// Whether this is a `function` tool (the only kind translators other
    /// than the OpenAI dialect understand).
    pub fn is_function(&self) -> bool {
        self.kind == "function"
    }
}

/// A tool as written, before [`Tool`] decides what is typed.
#[derive(Deserialize)]
struct RawTool {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    function: Option<FunctionDef>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl TryFrom<RawTool> for Tool {
    type Error = serde_json::Error;

    fn try_from(raw: RawTool) -> Result<Self, Self::Error> {
        let RawTool {
            kind,
            function,
            mut extra,
        } = raw;
        if kind != "function" {
            // Only a `function` tool has a typed function; on another kind
            // the member (if any) is kept as it came.
            if let Some(f) = function {
                extra.insert("function".to_owned(), serde_json::to_value(f)?);
            }
            return Ok(Tool {
                kind,
                function: FunctionDef::default(),
                extra,
            });
        }
        let function = function.ok_or_else(|| serde::de::Error::missing_field("function"))?;
        Ok(Tool {
            kind,
            function,
            extra,
        })
    }
}

impl Serialize for Tool {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("type", &self.kind)?;
        if self.is_function() {
            map.serialize_entry("function", &self.function)?;
        }
        for (k, v) in &self.extra {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A callable function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FunctionDef {
    /// Its name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Every other key, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    /// `none`, `auto` or `required`.
    Mode(String),
    /// A named function.
    Named(NamedToolChoice),
    /// Any other shape (`{"type": "allowed_tools", ...}`, a named custom
    /// tool, ...), exactly as sent. Only the OpenAI dialect can send it
    /// upstream; the other translators refuse it.
    Other(Value),
}

/// `{"type": "function", "function": {"name": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedToolChoice {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function.
    pub function: NamedFunction,
}

/// A function named by `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedFunction {
    /// Its name.
    pub name: String,
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Plain text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// The schema and its name.
        json_schema: Value,
    },
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id, echoed in the tool result.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// Function name and JSON-string arguments.
    pub function: FunctionCall,
}

fn function_kind() -> String {
    "function".to_owned()
}

/// A function call with arguments as a JSON string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Function name.
    pub name: String,
    /// Arguments, a JSON document as a string.
    #[serde(default)]
    pub arguments: String,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// Natural end or a stop sequence.
    Stop,
    /// Output-token limit.
    Length,
    /// The model called tools.
    ToolCalls,
    /// Filtered by the provider.
    ContentFilter,
    /// Legacy function call.
    FunctionCall,
}

impl<'de> Deserialize<'de> for FinishReason {
    /// Unknown reasons (`eos`, `end_turn`, ...) from OpenAI-compatible
    /// servers read as `stop`, so clients always see a standard value.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(match s.as_ref() {
            "length" | "max_tokens" => Self::Length,
            "tool_calls" | "tool_use" => Self::ToolCalls,
            "content_filter" => Self::ContentFilter,
            "function_call" => Self::FunctionCall,
            _ => Self::Stop,
        })
    }
}

/// Token usage in OpenAI's terms: `prompt_tokens` counts every input token
/// (cached ones included), `completion_tokens` includes reasoning tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Usage {
    /// Input tokens, cached included.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Output tokens, reasoning included.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Sum of the two.
    #[serde(default)]
    pub total_tokens: u64,
    /// Details of the input (read from an object only: serde would read
    /// `[5]` as `cached_tokens: 5`, and these numbers bill).
    #[serde(
        default,
        deserialize_with = "crate::object::object_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Details of the output (read from an object only).
    #[serde(
        default,
        deserialize_with = "crate::object::object_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// Every other field the upstream sent (OpenRouter's `cost`, Groq's
    /// timings, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Usage {
    /// Cached input tokens (0 when not reported).
    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0)
    }

    /// Input tokens written to a prompt cache (0 when not reported).
    pub fn cache_write_tokens(&self) -> u64 {
        self.prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cache_write_tokens)
            .unwrap_or(0)
    }

    /// Reasoning tokens (0 when not reported).
    pub fn reasoning_tokens(&self) -> u64 {
        self.completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0)
    }
}

/// `prompt_tokens_details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PromptTokensDetails {
    /// Tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Tokens written to the prompt cache (Anthropic, Bedrock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    /// Audio input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
}

/// `completion_tokens_details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CompletionTokensDetails {
    /// Reasoning tokens (part of `completion_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Audio output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Accepted predicted-output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_prediction_tokens: Option<u64>,
    /// Rejected predicted-output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_prediction_tokens: Option<u64>,
}

/// A non-streaming response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ChatResponse {
    /// Response id.
    #[serde(default)]
    pub id: String,
    /// Always `chat.completion`.
    #[serde(default = "completion_object")]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: i64,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// The choices.
    pub choices: Vec<Choice>,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Backend fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Every other field the upstream sent (`service_tier`, OpenRouter's
    /// `provider`, Perplexity's `citations`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn completion_object() -> String {
    "chat.completion".to_owned()
}

fn chunk_object() -> String {
    "chat.completion.chunk".to_owned()
}

/// One choice of a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Choice {
    /// Position.
    #[serde(default)]
    pub index: u32,
    /// The answer.
    pub message: ResponseMessage,
    /// Why it stopped.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    /// Every other field the upstream sent (OpenRouter's
    /// `native_finish_reason`, Azure's `content_filter_results`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The assistant message of a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ResponseMessage {
    /// Always `assistant`.
    #[serde(default = "assistant_role")]
    pub role: String,
    /// The text (null when only tools were called).
    #[serde(default)]
    pub content: Option<String>,
    /// Tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// A refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Reasoning text (thinking), kept out of `content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// The replayable reasoning (OpenRouter's `reasoning_details`), to be
    /// sent back unchanged with the next turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_details: Option<Vec<Value>>,
    /// Every other field the upstream sent (`reasoning`, `annotations`,
    /// `audio`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ResponseMessage {
    /// The reasoning text, whichever field carries it: `reasoning_content`,
    /// or `reasoning` (Groq's `reasoning_format=parsed`, Cerebras,
    /// OpenRouter).
    pub fn reasoning_text(&self) -> Option<&str> {
        reasoning_text(self.reasoning_content.as_deref(), &self.extra)
    }
}

/// `reasoning_content`, else a string `reasoning` among the extras.
fn reasoning_text<'a>(content: Option<&'a str>, extra: &'a Map<String, Value>) -> Option<&'a str> {
    content.or_else(|| extra.get("reasoning").and_then(Value::as_str))
}

fn assistant_role() -> String {
    "assistant".to_owned()
}

/// One streamed chunk (`chat.completion.chunk`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ChatChunk {
    /// Response id (the same in every chunk).
    #[serde(default)]
    pub id: String,
    /// Always `chat.completion.chunk`.
    #[serde(default = "chunk_object")]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: i64,
    /// The model.
    #[serde(default)]
    pub model: String,
    /// Deltas; empty in the usage chunk.
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Usage, in the last chunk when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Backend fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Every other field the upstream sent (`service_tier`, `obfuscation`,
    /// OpenRouter's `provider`, Groq's `x_groq`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A streamed choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// Position.
    #[serde(default)]
    pub index: u32,
    /// What is new.
    #[serde(default)]
    pub delta: Delta,
    /// Set in the choice's last chunk.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    /// Every other field the upstream sent (`native_finish_reason`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The new part of a streamed message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Delta {
    /// `assistant` in the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A text fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// A reasoning fragment, kept out of `content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// A refusal fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Tool-call fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// Replayable reasoning pieces (OpenRouter's `reasoning_details`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_details: Option<Vec<Value>>,
    /// Every other field the upstream sent (`reasoning`, `annotations`,
    /// `audio`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Delta {
    /// The reasoning fragment, whichever field carries it:
    /// `reasoning_content`, or `reasoning` (Groq, Cerebras, OpenRouter).
    pub fn reasoning_text(&self) -> Option<&str> {
        reasoning_text(self.reasoning_content.as_deref(), &self.extra)
    }
}

/// A fragment of a tool call: the first carries `id` and `name`, later ones
/// carry pieces of `arguments` to be concatenated per `index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    /// Which call of this turn.
    pub index: u32,
    /// Call id (first fragment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function` (first fragment).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name and argument fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDelta>,
}

/// Name (first fragment) and a piece of the arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FunctionDelta {
    /// Function name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A piece of the JSON arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// A model as listed by `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Model id.
    pub id: String,
    /// Always `model`.
    #[serde(default = "model_object")]
    pub object: String,
    /// Who owns it.
    #[serde(default)]
    pub owned_by: String,
}

fn model_object() -> String {
    "model".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_keeps_unknown_fields() {
        let raw = r#"{"model":"gpt-4o","messages":[
            {"role":"system","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]},
            {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"c1","content":"42"}],
            "stream":true,"stream_options":{"include_usage":true},"stop":["x","y"],
            "tool_choice":{"type":"function","function":{"name":"f"}},
            "response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{}}},
            "logit_bias":{"50256":-100},"prediction":{"type":"content","content":"x"}}"#;
        let req: ChatRequest = serde_json::from_str(raw).unwrap();
        assert!(req.is_stream() && req.wants_stream_usage());
        assert_eq!(req.extra.len(), 2);
        let back: Value = serde_json::to_value(&req).unwrap();
        assert_eq!(back["logit_bias"]["50256"], -100);
        assert_eq!(
            back["messages"][2]["tool_calls"][0]["function"]["name"],
            "f"
        );
        req.validate().unwrap();
    }

    /// Content parts, tools, `tool_choice` shapes and message keys the
    /// gateway does not model come back out exactly as they went in.
    #[test]
    fn what_is_not_modelled_round_trips_exactly() {
        let raw = serde_json::json!({"model": "gpt-5", "messages": [
            {"role": "developer", "content": "be brief", "x_dev": 1},
            {"role": "user", "name": "u", "x_user": {"a": [1, null]}, "content": [
                {"type": "text", "text": "see", "cache_control": {"type": "ephemeral"}},
                {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low", "x_img": true}, "x_part": 2},
                {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {"type": "video_url", "video_url": {"url": "https://x/v.mp4"}}]},
            {"role": "assistant", "reasoning": "think", "reasoning_details": [
                {"type": "reasoning.encrypted", "data": "enc", "id": "r1", "format": "anthropic-claude-v1", "index": 0}],
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "42", "x_tool": null}],
            "stream_options": {"include_usage": false, "include_obfuscation": false},
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {}, "x_fn": 1}, "x_tool": 1},
                {"type": "custom", "custom": {"name": "code", "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": "start: /.+/"}}}}],
            "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "f"}}]}},
            "logprobs": false, "n": 1, "top_logprobs": null, "reasoning": {"effort": "high"}});
        let req: ChatRequest = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(serde_json::to_value(&req).unwrap(), raw);
        let Message::User { content, .. } = &req.messages[1] else {
            panic!()
        };
        let kinds: Vec<&str> = content.parts().map(ContentPart::kind).collect();
        assert_eq!(
            kinds,
            ["text", "image_url", "file", "input_audio", "video_url"]
        );
        assert_eq!(content.text(), "see");
        assert!(matches!(req.tool_choice, Some(ToolChoice::Other(_))));
        let tools = req.tools.as_deref().unwrap();
        assert!(tools[0].is_function() && !tools[1].is_function());
        assert_eq!(
            req.unmodelled().as_deref(),
            Some("`file` content parts"),
            "the other translators are told what they cannot send"
        );
        let Message::Assistant {
            reasoning_details, ..
        } = &req.messages[2]
        else {
            panic!()
        };
        assert_eq!(reasoning_details.as_ref().unwrap()[0]["data"], "enc");
    }

    #[test]
    fn malformed_known_shapes_are_still_refused() {
        for bad in [
            r#"{"type":"function"}"#,
            r#"{"type":"function","function":{"description":"no name"}}"#,
        ] {
            assert!(serde_json::from_str::<Tool>(bad).is_err(), "{bad}");
        }
        for bad in [
            r#"{"type":"text","text":5}"#,
            r#"{"type":"text"}"#,
            r#"{"type":"image_url","image_url":"https://x"}"#,
            r#"{"text":"no type"}"#,
        ] {
            assert!(serde_json::from_str::<ContentPart>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forbidden_fields_are_refused() {
        for field in ["api_base", "base_url", "azure_endpoint", "extra_headers"] {
            let raw = format!(
                r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}],"{field}":"http://evil.example"}}"#
            );
            let req: ChatRequest = serde_json::from_str(&raw).unwrap();
            let err = req.validate().unwrap_err();
            assert!(err.to_string().contains(field));
        }
    }

    #[test]
    fn unknown_finish_reasons_read_as_stop() {
        let c: ChunkChoice =
            serde_json::from_str(r#"{"index":0,"delta":{},"finish_reason":"eos"}"#).unwrap();
        assert_eq!(c.finish_reason, Some(FinishReason::Stop));
        let c: ChunkChoice =
            serde_json::from_str(r#"{"index":0,"delta":{},"finish_reason":null}"#).unwrap();
        assert_eq!(c.finish_reason, None);
    }
}
