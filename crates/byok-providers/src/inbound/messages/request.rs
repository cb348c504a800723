//! Anthropic Messages request → neutral [`ChatRequest`].

use serde::Deserialize;
use serde_json::{Map, Value};

use super::Parsed;
use super::reasoning::{redacted_entry, thinking_entry};
use crate::inbound::InboundError;
use crate::translators::anthropic::{THINKING_BUDGETS, TOOL_CHOICE_MODES};
use crate::types::{
    ChatRequest, Content, ContentPart, FunctionDef, ImageUrl, Message, NamedFunction,
    NamedToolChoice, ResponseFormat, Stop, StreamOptions, Tool, ToolCall, ToolChoice,
};

/// The key under which tool-call arguments that are not a JSON object
/// travel in a `tool_use` block's `input` (see `response.rs`).
pub(super) const RAW_ARGUMENTS: &str = "_raw_arguments";

/// Top-level fields only Anthropic can honour (kept in `extra`).
const ANTHROPIC_ONLY_FIELDS: &[&str] = &["container", "mcp_servers"];

/// Top-level fields dropped for translation, as they cannot change the
/// answer: `context_management` asks Anthropic to trim the context it was
/// sent (clear old tool results or thinking; Claude Code sends it with
/// every turn), so another provider gets the whole conversation the client
/// sent; `cache_control` asks Anthropic to place a cache breakpoint itself
/// (the breakpoints on blocks are kept in their parts' `extra`).
const DROPPED_FIELDS: &[&str] = &["context_management", "cache_control"];

#[derive(Debug, Deserialize)]
struct WireRequest {
    model: String,
    #[serde(default)]
    max_tokens: Option<u32>,
    messages: Vec<WireMessage>,
    #[serde(default)]
    system: Option<WireContent>,
    #[serde(default)]
    stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    top_k: Option<Value>,
    #[serde(default)]
    tools: Option<Vec<Map<String, Value>>>,
    #[serde(default)]
    tool_choice: Option<WireToolChoice>,
    #[serde(default)]
    thinking: Option<Value>,
    #[serde(default)]
    output_config: Option<Map<String, Value>>,
    #[serde(default)]
    output_format: Option<Value>,
    #[serde(default)]
    metadata: Option<WireMetadata>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    content: WireContent,
}

/// A string, or a list of content blocks (kept as JSON objects: the
/// unknown kinds are carried whole).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WireContent {
    Text(String),
    Blocks(Vec<Map<String, Value>>),
}

#[derive(Debug, Deserialize)]
struct WireToolChoice {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct WireThinking {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    budget_tokens: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct WireMetadata {
    #[serde(default)]
    user_id: Option<String>,
}

/// Parses a `POST /v1/messages` body (`max_tokens` required, as Anthropic
/// requires it).
///
/// # Errors
/// [`InboundError::Malformed`] for a body that is not a Messages request,
/// [`InboundError::Invalid`] for values the protocol does not allow.
pub fn parse_request(body: &[u8]) -> Result<Parsed, InboundError> {
    let wire = wire(body)?;
    if wire.max_tokens.is_none() {
        return Err(InboundError::invalid(
            "max_tokens: Field required",
            "max_tokens",
        ));
    }
    convert(wire, false)
}

/// Parses a `POST /v1/messages/count_tokens` body: the same request without
/// `max_tokens` (never streamed), for the server's estimate.
///
/// # Errors
/// As [`parse_request`].
pub fn parse_count_tokens(body: &[u8]) -> Result<Parsed, InboundError> {
    convert(wire(body)?, true)
}

fn wire(body: &[u8]) -> Result<WireRequest, InboundError> {
    serde_json::from_slice(body)
        .map_err(|e| InboundError::Malformed(format!("invalid request: {e}")))
}

/// Collects what only Anthropic can honour.
#[derive(Default)]
struct Notes {
    anthropic_only: Vec<String>,
}

impl Notes {
    fn only(&mut self, what: String) {
        if !self.anthropic_only.contains(&what) {
            self.anthropic_only.push(what);
        }
    }
}

fn convert(wire: WireRequest, counting: bool) -> Result<Parsed, InboundError> {
    let mut notes = Notes::default();
    let mut messages = system(wire.system)?;
    for m in wire.messages {
        push_message(m, &mut messages, &mut notes)?;
    }
    let Thinking {
        effort: reasoning_effort,
        raw: thinking,
    } = thinking(wire.thinking, wire.output_config.as_ref())?;
    let mut extra = wire.extra;
    for key in DROPPED_FIELDS {
        extra.remove(*key);
    }
    for key in ANTHROPIC_ONLY_FIELDS {
        if extra.get(*key).is_some_and(|v| !v.is_null()) {
            notes.only(format!("the `{key}` parameter"));
        }
    }
    if let Some(k) = wire.top_k.filter(|v| !v.is_null()) {
        extra.insert("top_k".into(), k);
    }
    let response_format = output_format(wire.output_config, wire.output_format, &mut extra)?;
    let stream = !counting && wire.stream == Some(true);
    let stop_sequences = wire.stop_sequences.unwrap_or_default();
    let tool_choice = wire.tool_choice;
    let request = ChatRequest {
        model: wire.model.clone(),
        messages,
        stream: stream.then_some(true),
        stream_options: stream.then(|| StreamOptions {
            include_usage: Some(true),
            extra: Map::new(),
        }),
        max_tokens: if counting { None } else { wire.max_tokens },
        max_completion_tokens: None,
        temperature: wire.temperature,
        top_p: wire.top_p,
        n: None,
        stop: (!stop_sequences.is_empty()).then(|| Stop::Many(stop_sequences.clone())),
        seed: None,
        user: wire.metadata.and_then(|m| m.user_id),
        presence_penalty: None,
        frequency_penalty: None,
        tools: tools(wire.tools, &mut notes)?,
        parallel_tool_calls: tool_choice
            .as_ref()
            .and_then(|c| c.disable_parallel_tool_use)
            .filter(|d| *d)
            .map(|_| false),
        tool_choice: tool_choice.map(choice).transpose()?,
        response_format,
        reasoning_effort,
        extra,
        raw: None,
    };
    Ok(Parsed {
        request,
        model: wire.model,
        stream,
        stop_sequences,
        thinking,
        anthropic_only: notes.anthropic_only,
    })
}

/// `system`: one neutral system message per text block (cache_control
/// kept in the part's `extra`), so translators that join system messages
/// keep the blocks apart.
fn system(system: Option<WireContent>) -> Result<Vec<Message>, InboundError> {
    let blocks = match system {
        None => return Ok(Vec::new()),
        Some(WireContent::Text(t)) => {
            return Ok(vec![Message::System {
                content: Content::Text(t),
                name: None,
            }]);
        }
        Some(WireContent::Blocks(b)) => b,
    };
    blocks
        .into_iter()
        .map(|mut b| {
            if b.get("type").and_then(Value::as_str) != Some("text") {
                return Err(InboundError::invalid(
                    "system: every block must be of type `text`",
                    "system",
                ));
            }
            let text = take_str(&mut b, "text", "system")?;
            b.remove("type");
            let content = if b.is_empty() {
                Content::Text(text)
            } else {
                Content::Parts(vec![ContentPart::Text { text, extra: b }])
            };
            Ok(Message::System {
                content,
                name: None,
            })
        })
        .collect()
}

/// One Anthropic message as neutral messages.
fn push_message(
    m: WireMessage,
    out: &mut Vec<Message>,
    notes: &mut Notes,
) -> Result<(), InboundError> {
    match (m.role.as_str(), m.content) {
        ("user", WireContent::Text(t)) => out.push(user(Content::Text(t))),
        ("user", WireContent::Blocks(blocks)) => user_blocks(blocks, out, notes)?,
        ("assistant", WireContent::Text(t)) => out.push(assistant(Some(Content::Text(t)))),
        ("assistant", WireContent::Blocks(blocks)) => out.push(assistant_blocks(blocks, notes)?),
        (role, _) => {
            return Err(InboundError::invalid(
                format!(
                    "messages: role must be `user` or `assistant`, not `{}`",
                    role.chars().take(32).collect::<String>()
                ),
                "messages",
            ));
        }
    }
    Ok(())
}

fn user(content: Content) -> Message {
    Message::User {
        content,
        name: None,
        extra: Map::new(),
    }
}

fn assistant(content: Option<Content>) -> Message {
    Message::Assistant {
        content,
        tool_calls: None,
        refusal: None,
        reasoning_content: None,
        reasoning_details: None,
        name: None,
        extra: Map::new(),
    }
}

/// A user turn: its `tool_result` blocks as `tool` messages first (in
/// order, so they follow the assistant's calls), then one user message with
/// the other blocks.
fn user_blocks(
    blocks: Vec<Map<String, Value>>,
    out: &mut Vec<Message>,
    notes: &mut Notes,
) -> Result<(), InboundError> {
    let mut parts = Vec::new();
    let had_blocks = !blocks.is_empty();
    for b in blocks {
        if b.get("type").and_then(Value::as_str) == Some("tool_result") {
            out.push(tool_result(b, notes)?);
        } else {
            parts.push(part(b, notes)?);
        }
    }
    if !parts.is_empty() || !had_blocks {
        out.push(user(Content::Parts(parts)));
    }
    Ok(())
}

/// A `tool_result` block as a `tool` message (`is_error: true` and
/// `cache_control` kept in its `extra`).
fn tool_result(mut b: Map<String, Value>, notes: &mut Notes) -> Result<Message, InboundError> {
    let id = take_str(&mut b, "tool_use_id", "messages")?;
    let content = match b.remove("content") {
        None | Some(Value::Null) => Content::Text(String::new()),
        Some(Value::String(s)) => Content::Text(s),
        Some(Value::Array(items)) => Content::Parts(
            items
                .into_iter()
                .map(|v| match v {
                    Value::Object(m) => part(m, notes),
                    _ => Err(malformed_block("tool_result content")),
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => return Err(malformed_block("tool_result content")),
    };
    let mut extra = Map::new();
    if b.get("is_error") == Some(&Value::Bool(true)) {
        extra.insert("is_error".into(), Value::Bool(true));
    }
    if let Some(c) = b.remove("cache_control").filter(|c| !c.is_null()) {
        extra.insert("cache_control".into(), c);
    }
    Ok(Message::Tool {
        content,
        tool_call_id: id,
        extra,
    })
}

/// An assistant turn: text parts as its content, `thinking` and
/// `redacted_thinking` as its reasoning, `tool_use` as its tool calls.
fn assistant_blocks(
    blocks: Vec<Map<String, Value>>,
    notes: &mut Notes,
) -> Result<Message, InboundError> {
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    let mut reasoning = String::new();
    let mut details = Vec::new();
    for mut b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("thinking") => {
                let text = take_str(&mut b, "thinking", "messages")?;
                let signature = b.get("signature").and_then(Value::as_str).unwrap_or("");
                reasoning.push_str(&text);
                details.push(thinking_entry(details.len(), &text, signature));
            }
            Some("redacted_thinking") => {
                let data = take_str(&mut b, "data", "messages")?;
                details.push(redacted_entry(details.len(), &data));
            }
            Some("tool_use") => calls.push(tool_use(b)?),
            _ => parts.push(part(b, notes)?),
        }
    }
    Ok(Message::Assistant {
        content: (!parts.is_empty()).then_some(Content::Parts(parts)),
        tool_calls: (!calls.is_empty()).then_some(calls),
        refusal: None,
        reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
        reasoning_details: (!details.is_empty()).then_some(details),
        name: None,
        extra: Map::new(),
    })
}

/// A `tool_use` block as a tool call; `input` as its JSON text (the
/// `_raw_arguments` wrapper of arguments that were not an object is
/// undone).
fn tool_use(mut b: Map<String, Value>) -> Result<ToolCall, InboundError> {
    let id = take_str(&mut b, "id", "messages")?;
    let name = take_str(&mut b, "name", "messages")?;
    let arguments = match b.remove("input") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::Object(m))
            if m.len() == 1 && m.get(RAW_ARGUMENTS).is_some_and(Value::is_string) =>
        {
            m.get(RAW_ARGUMENTS)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        }
        Some(v) => v.to_string(),
    };
    Ok(crate::translators::function_call(id, name, arguments))
}

/// A content block as a neutral part: `text` → text, `image` (base64 or
/// URL source) → `image_url`, a base64 PDF `document` → a `file` part, a
/// plain-text or content `document` → its text; anything else whole as an
/// [`ContentPart::Other`] (noted as Anthropic-only).
fn part(mut b: Map<String, Value>, notes: &mut Notes) -> Result<ContentPart, InboundError> {
    let kind = b
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    match kind.as_str() {
        "text" => {
            let text = take_str(&mut b, "text", "messages")?;
            b.remove("type");
            Ok(ContentPart::Text { text, extra: b })
        }
        "image" => image(b, notes),
        "document" => document(b, notes),
        "" => Err(malformed_block("content block without a `type`")),
        _ => {
            notes.only(format!("`{}` content blocks", short(&kind)));
            Ok(ContentPart::Other(b))
        }
    }
}

fn image(mut b: Map<String, Value>, notes: &mut Notes) -> Result<ContentPart, InboundError> {
    let Some(url) = source_url(&b) else {
        let kind = source_kind(&b);
        notes.only(format!("`image` blocks with a `{}` source", short(&kind)));
        return Ok(ContentPart::Other(b));
    };
    b.remove("type");
    b.remove("source");
    Ok(ContentPart::ImageUrl {
        image_url: ImageUrl {
            url,
            detail: None,
            extra: Map::new(),
        },
        extra: b,
    })
}

/// A `base64` source as a `data:` URL, a `url` source as its URL.
fn source_url(b: &Map<String, Value>) -> Option<String> {
    let source = b.get("source")?.as_object()?;
    let str_at = |k: &str| source.get(k).and_then(Value::as_str);
    match str_at("type")? {
        "base64" => Some(format!(
            "data:{};base64,{}",
            str_at("media_type")?,
            str_at("data")?
        )),
        "url" => str_at("url").map(str::to_owned),
        _ => None,
    }
}

fn source_kind(b: &Map<String, Value>) -> String {
    b.get("source")
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

fn document(mut b: Map<String, Value>, notes: &mut Notes) -> Result<ContentPart, InboundError> {
    if b.get("citations")
        .is_some_and(|c| c.get("enabled") == Some(&Value::Bool(true)))
    {
        notes.only("`citations` on documents".to_owned());
    }
    let kind = source_kind(&b);
    let source = b.get("source").cloned().unwrap_or(Value::Null);
    let str_at = |k: &str| source.get(k).and_then(Value::as_str);
    match kind.as_str() {
        "base64" if str_at("media_type") == Some("application/pdf") => {
            let mut file = Map::new();
            file.insert(
                "file_data".into(),
                Value::from(format!(
                    "data:application/pdf;base64,{}",
                    str_at("data").unwrap_or("")
                )),
            );
            let title = b
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("document.pdf");
            file.insert("filename".into(), Value::from(title));
            let mut part = Map::new();
            part.insert("type".into(), Value::from("file"));
            part.insert("file".into(), Value::Object(file));
            if let Some(c) = b.remove("cache_control").filter(|c| !c.is_null()) {
                part.insert("cache_control".into(), c);
            }
            Ok(ContentPart::Other(part))
        }
        "text" => {
            let mut extra = Map::new();
            if let Some(c) = b.remove("cache_control").filter(|c| !c.is_null()) {
                extra.insert("cache_control".into(), c);
            }
            Ok(ContentPart::Text {
                text: str_at("data").unwrap_or("").to_owned(),
                extra,
            })
        }
        "content" => match source.get("content") {
            Some(Value::String(s)) => Ok(ContentPart::Text {
                text: s.clone(),
                extra: Map::new(),
            }),
            _ => {
                notes.only("`document` blocks with a `content` list".to_owned());
                Ok(ContentPart::Other(b))
            }
        },
        other => {
            notes.only(format!(
                "`document` blocks with a `{}` source",
                short(other)
            ));
            Ok(ContentPart::Other(b))
        }
    }
}

/// Tools: custom tools (no `type`, or `custom`) as functions, their
/// `input_schema` as `parameters`, `strict` typed, `cache_control` and
/// other keys in the tool's `extra`; server tools (`web_search_20250305`,
/// `bash_20250124`, ...) kept whole as tools of their type (translators
/// refuse them; noted as Anthropic-only).
fn tools(
    tools: Option<Vec<Map<String, Value>>>,
    notes: &mut Notes,
) -> Result<Option<Vec<Tool>>, InboundError> {
    let Some(tools) = tools.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    tools
        .into_iter()
        .map(|mut t| {
            let kind = t.get("type").and_then(Value::as_str).map(str::to_owned);
            if let Some(kind) = kind.filter(|k| k != "custom") {
                notes.only(format!("`{}` tools", short(&kind)));
                t.remove("type");
                return Ok(Tool {
                    kind,
                    function: FunctionDef::default(),
                    extra: t,
                });
            }
            t.remove("type");
            let name = take_str(&mut t, "name", "tools")?;
            let description = t
                .remove("description")
                .and_then(|d| d.as_str().map(str::to_owned));
            let parameters = t.remove("input_schema").filter(|s| !s.is_null());
            let strict = t.remove("strict").and_then(|s| s.as_bool());
            Ok(Tool {
                kind: "function".into(),
                function: FunctionDef {
                    name,
                    description,
                    parameters,
                    strict,
                    extra: Map::new(),
                },
                extra: t,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `tool_choice`: `auto`, `any` → `required`, `none` (the translator's
/// [`TOOL_CHOICE_MODES`] read backwards), `tool` → the named function.
fn choice(c: WireToolChoice) -> Result<ToolChoice, InboundError> {
    if let Some((mode, _)) = TOOL_CHOICE_MODES.iter().find(|(_, kind)| *kind == c.kind) {
        return Ok(ToolChoice::Mode((*mode).to_owned()));
    }
    match c.kind.as_str() {
        "tool" => {
            let name = c.name.ok_or_else(|| {
                InboundError::invalid("tool_choice.name: Field required", "tool_choice")
            })?;
            Ok(ToolChoice::Named(NamedToolChoice {
                kind: "function".into(),
                function: NamedFunction { name },
            }))
        }
        other => Err(InboundError::invalid(
            format!(
                "tool_choice.type must be auto, any, tool or none, not `{}`",
                short(other)
            ),
            "tool_choice",
        )),
    }
}

/// What the client's `thinking` asks for.
struct Thinking {
    /// The neutral effort.
    effort: Option<String>,
    /// The object as sent, kept when it asks for reasoning.
    raw: Option<Value>,
}

fn thinking(
    raw: Option<Value>,
    output_config: Option<&Map<String, Value>>,
) -> Result<Thinking, InboundError> {
    let raw = raw.filter(|t| !t.is_null());
    let typed: Option<WireThinking> = raw
        .clone()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| InboundError::Malformed(format!("invalid request: thinking: {e}")))?;
    let effort = reasoning(typed.as_ref(), output_config)?;
    let raw = raw.filter(|_| effort.is_some());
    Ok(Thinking { effort, raw })
}

/// `thinking` (and `output_config.effort` with adaptive thinking) as the
/// neutral `reasoning_effort`.
///
/// - `{"type": "enabled", "budget_tokens": N}`: the smallest effort whose
///   budget in the Anthropic translator's table is at least N (`low` up to
///   1024, `medium` up to 4096, else `high`);
/// - `{"type": "adaptive"}`: `output_config.effort` (`low`, `medium`,
///   `high`; `max` and `xhigh` read as `high`), `high` when absent
///   (Anthropic's default);
/// - `{"type": "disabled"}` or none: no reasoning (`output_config.effort`
///   alone is dropped: without thinking it has no neutral equivalent).
fn reasoning(
    thinking: Option<&WireThinking>,
    output_config: Option<&Map<String, Value>>,
) -> Result<Option<String>, InboundError> {
    let Some(t) = thinking else {
        return Ok(None);
    };
    match t.kind.as_str() {
        "disabled" => Ok(None),
        "enabled" => {
            let budget = t.budget_tokens.ok_or_else(|| {
                InboundError::invalid("thinking.budget_tokens: Field required", "thinking")
            })?;
            // The levels every translator and OpenAI-dialect upstream
            // takes (low, medium, high), by the Anthropic translator's
            // budgets; the exact budget stays in `Parsed::thinking`.
            let effort = THINKING_BUDGETS
                .iter()
                .filter(|(name, _)| matches!(*name, "low" | "medium" | "high"))
                .find(|(_, b)| budget <= *b)
                .map_or("high", |(name, _)| name);
            Ok(Some(effort.to_owned()))
        }
        "adaptive" => {
            let effort = match output_config
                .and_then(|c| c.get("effort"))
                .and_then(Value::as_str)
            {
                None => "high",
                Some(e @ ("low" | "medium" | "high")) => e,
                Some("max" | "xhigh") => "high",
                Some(other) => {
                    return Err(InboundError::invalid(
                        format!(
                            "output_config.effort must be low, medium, high or max, not `{}`",
                            short(other)
                        ),
                        "output_config",
                    ));
                }
            };
            Ok(Some(effort.to_owned()))
        }
        other => Err(InboundError::invalid(
            format!(
                "thinking.type must be enabled, adaptive or disabled, not `{}`",
                short(other)
            ),
            "thinking",
        )),
    }
}

/// `output_config.format` (or the beta `output_format`) `json_schema` as
/// `response_format` `json_schema` (named `output`, strict); other
/// `output_config` keys but `effort` stay in `extra` under `output_config`
/// (translators name them in their 400).
fn output_format(
    config: Option<Map<String, Value>>,
    beta: Option<Value>,
    extra: &mut Map<String, Value>,
) -> Result<Option<ResponseFormat>, InboundError> {
    let mut config = config.unwrap_or_default();
    config.remove("effort");
    let format = config.remove("format").or(beta).filter(|f| !f.is_null());
    if !config.is_empty() {
        extra.insert("output_config".into(), Value::Object(config));
    }
    let Some(format) = format else {
        return Ok(None);
    };
    if format.get("type").and_then(Value::as_str) != Some("json_schema") {
        return Err(InboundError::invalid(
            "output_config.format.type must be `json_schema`",
            "output_config",
        ));
    }
    let schema = format.get("schema").cloned().ok_or_else(|| {
        InboundError::invalid(
            "output_config.format.schema: Field required",
            "output_config",
        )
    })?;
    let mut json_schema = Map::new();
    json_schema.insert("name".into(), Value::from("output"));
    json_schema.insert("schema".into(), schema);
    json_schema.insert("strict".into(), Value::Bool(true));
    Ok(Some(ResponseFormat::JsonSchema {
        json_schema: Value::Object(json_schema),
    }))
}

/// Removes a required string field of a block.
fn take_str(b: &mut Map<String, Value>, key: &str, param: &str) -> Result<String, InboundError> {
    match b.remove(key) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(InboundError::invalid(
            format!("{param}: a block is missing the string field `{key}`"),
            param,
        )),
    }
}

fn malformed_block(what: &str) -> InboundError {
    InboundError::invalid(format!("messages: malformed {what}"), "messages")
}

fn short(s: &str) -> String {
    s.chars().take(48).collect()
}
