//! A Responses request body → [`Parsed`] (the neutral [`ChatRequest`] and
//! the fields the answer echoes). One pass over the top-level fields, each
//! taken out of the body's map; what is left goes to `extra`.

use serde_json::{Map, Value, json};

use super::input::input_messages;
use super::{InboundError, Parsed};
use crate::http;
use crate::types::{
    ChatRequest, FunctionDef, Message, NamedFunction, NamedToolChoice, ResponseFormat,
    StreamOptions, Tool, ToolChoice,
};

/// Top-level fields read and then dropped (documented in the module table).
const IGNORED: &[&str] = &[
    "store",
    "metadata",
    "truncation",
    "max_tool_calls",
    "stream_options",
    "prompt_cache_retention",
    "include",
];

/// Fields that need state the translated providers do not keep.
const STATEFUL: &[(&str, &str)] = &[
    (
        "previous_response_id",
        "previous_response_id needs a Responses-native provider (openai-responses, azure-responses); send the whole conversation in input",
    ),
    (
        "conversation",
        "conversation needs a Responses-native provider (openai-responses, azure-responses); send the whole conversation in input",
    ),
    (
        "prompt",
        "prompt (a stored prompt template) needs a Responses-native provider (openai-responses, azure-responses); send the instructions and input themselves",
    ),
    (
        "background",
        "background needs a Responses-native provider (openai-responses, azure-responses); send the request without it",
    ),
];

/// Parses a Responses request body.
///
/// # Errors
/// [`InboundError`] (400) for a malformed body or a field the translated
/// providers cannot honour, naming it.
pub fn parse_request(body: &[u8]) -> Result<Parsed, InboundError> {
    let mut map: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        InboundError::invalid(
            format!("the body is not a JSON object: {}", http::classify(&e)),
            "body",
        )
    })?;
    refuse_stateful(&mut map)?;
    let model = match map.remove("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => m,
        _ => {
            return Err(InboundError::invalid(
                "`model` must be a non-empty string",
                "model",
            ));
        }
    };
    let include_encrypted = includes_encrypted(map.get("include"));
    let echo = echo_fields(&map)?;
    let mut messages = instructions(map.remove("instructions"))?;
    messages.extend(input_messages(map.remove("input"))?);
    let stream = map.remove("stream").and_then(|v| v.as_bool()) == Some(true);
    let prompt_cache_key = match map.remove("prompt_cache_key") {
        Some(Value::String(k)) => Some(k),
        _ => None,
    };
    let mut request = ChatRequest {
        model: model.clone(),
        messages,
        stream: stream.then_some(true),
        stream_options: stream.then(|| StreamOptions {
            include_usage: Some(true),
            extra: Map::new(),
        }),
        max_tokens: None,
        max_completion_tokens: None,
        temperature: None,
        top_p: None,
        n: None,
        stop: None,
        seed: None,
        user: None,
        presence_penalty: None,
        frequency_penalty: None,
        tools: None,
        tool_choice: None,
        parallel_tool_calls: None,
        response_format: None,
        reasoning_effort: None,
        extra: Map::new(),
        raw: None,
    };
    sampling(&mut map, &mut request)?;
    request.tools = tools(map.remove("tools"))?;
    request.tool_choice = tool_choice(map.remove("tool_choice"))?;
    text_config(map.remove("text"), &mut request)?;
    for key in IGNORED {
        map.remove(*key);
    }
    request
        .extra
        .extend(map.into_iter().filter(|(_, v)| !v.is_null()));
    request.validate().map_err(|e| match e {
        crate::error::ProviderError::InvalidRequest { message, param } => {
            InboundError::Invalid { message, param }
        }
        other => InboundError::invalid(other.to_string(), "input"),
    })?;
    Ok(Parsed {
        request,
        model,
        stream,
        prompt_cache_key,
        include_encrypted,
        echo,
    })
}

/// What routing needs before the body is parsed: a Responses-native
/// provider gets the body as sent, so [`parse_request`] (which refuses
/// what only those providers can do) is for the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peek {
    /// The client's `model`.
    pub model: String,
    /// Whether the client asked for a stream.
    pub stream: bool,
}

/// Reads `model` and `stream` only (the rest of the body is skipped, not
/// built).
///
/// # Errors
/// [`InboundError`] (400) for a body that is not a JSON object or has no
/// `model`.
pub fn peek(body: &[u8]) -> Result<Peek, InboundError> {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(default, borrow)]
        model: Option<std::borrow::Cow<'a, str>>,
        #[serde(default)]
        stream: Option<Value>,
    }
    let head: Head<'_> = serde_json::from_slice(body).map_err(|e| {
        InboundError::invalid(
            format!("the body is not a JSON object: {}", http::classify(&e)),
            "body",
        )
    })?;
    let model = head
        .model
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| InboundError::invalid("`model` must be a non-empty string", "model"))?;
    Ok(Peek {
        model: model.into_owned(),
        stream: head.stream.and_then(|s| s.as_bool()) == Some(true),
    })
}

fn refuse_stateful(map: &mut Map<String, Value>) -> Result<(), InboundError> {
    for (field, message) in STATEFUL {
        match map.remove(*field) {
            None | Some(Value::Null | Value::Bool(false)) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(_) => return Err(InboundError::invalid(*message, field)),
        }
    }
    Ok(())
}

fn includes_encrypted(include: Option<&Value>) -> bool {
    include
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|v| v == "reasoning.encrypted_content"))
}

/// How deep an echoed field may nest. The answer echoes it two levels
/// down (a stream event's `response` object), and serde_json, like other
/// parsers with a nesting limit (128), must still read the event.
pub(super) const ECHO_DEPTH: usize = 100;

/// Whether `v` nests more than `limit` arrays and objects deep.
fn deeper_than(v: &Value, limit: usize) -> bool {
    match v {
        Value::Array(a) => limit == 0 || a.iter().any(|x| deeper_than(x, limit - 1)),
        Value::Object(m) => limit == 0 || m.values().any(|x| deeper_than(x, limit - 1)),
        _ => false,
    }
}

/// The request fields the response object repeats, with the API's
/// defaults when absent; one nested deeper than [`ECHO_DEPTH`] is refused.
fn echo_fields(map: &Map<String, Value>) -> Result<Map<String, Value>, InboundError> {
    let get = |k: &str| map.get(k).filter(|v| !v.is_null()).cloned();
    let mut echo = Map::new();
    let defaults = [
        ("instructions", Value::Null),
        ("tools", json!([])),
        ("tool_choice", json!("auto")),
        ("parallel_tool_calls", json!(true)),
        ("text", json!({"format": {"type": "text"}})),
        ("temperature", Value::Null),
        ("top_p", Value::Null),
        ("max_output_tokens", Value::Null),
        ("reasoning", Value::Null),
        ("metadata", json!({})),
        ("user", Value::Null),
        ("truncation", json!("disabled")),
        ("service_tier", Value::Null),
        ("top_logprobs", Value::Null),
    ];
    for (key, default) in defaults {
        let value = get(key).unwrap_or(default);
        if deeper_than(&value, ECHO_DEPTH) {
            return Err(InboundError::invalid(
                format!("`{key}` nests more than {ECHO_DEPTH} arrays and objects deep"),
                key,
            ));
        }
        echo.insert(key.to_owned(), value);
    }
    Ok(echo)
}

/// `instructions` → a first system message.
fn instructions(v: Option<Value>) -> Result<Vec<Message>, InboundError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![Message::System {
            content: crate::types::Content::Text(s),
            name: None,
        }]),
        Some(_) => Err(InboundError::invalid(
            "`instructions` must be a string",
            "instructions",
        )),
    }
}

/// Sampling and limit fields.
fn sampling(map: &mut Map<String, Value>, request: &mut ChatRequest) -> Result<(), InboundError> {
    let number = |v: Option<Value>, name: &str| -> Result<Option<f64>, InboundError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(InboundError::invalid(
                format!("`{name}` must be a number"),
                name,
            )),
        }
    };
    request.temperature = number(map.remove("temperature"), "temperature")?;
    request.top_p = number(map.remove("top_p"), "top_p")?;
    request.max_completion_tokens = match map.remove("max_output_tokens") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    InboundError::invalid(
                        "`max_output_tokens` must be a positive integer",
                        "max_output_tokens",
                    )
                })?,
        ),
    };
    request.parallel_tool_calls = map.remove("parallel_tool_calls").and_then(|v| v.as_bool());
    let user = map.remove("user").and_then(string);
    let safety = map.remove("safety_identifier").and_then(string);
    request.user = user.or(safety);
    if let Some(reasoning) = map.remove("reasoning") {
        request.reasoning_effort = reasoning
            .get("effort")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    match map.remove("top_logprobs") {
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => {
            request.extra.insert("logprobs".into(), Value::Bool(true));
            request
                .extra
                .insert("top_logprobs".into(), Value::Number(n));
        }
        _ => {}
    }
    Ok(())
}

fn string(v: Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// Flat function tools → neutral tools; any other kind is refused.
fn tools(v: Option<Value>) -> Result<Option<Vec<Tool>>, InboundError> {
    let list = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(InboundError::invalid("`tools` must be a list", "tools")),
    };
    if list.is_empty() {
        return Ok(None);
    }
    list.into_iter()
        .map(tool)
        .collect::<Result<_, _>>()
        .map(Some)
}

fn tool(v: Value) -> Result<Tool, InboundError> {
    let Value::Object(mut t) = v else {
        return Err(InboundError::invalid(
            "every tool must be an object",
            "tools",
        ));
    };
    let kind = t.get("type").and_then(Value::as_str).unwrap_or("");
    if kind != "function" {
        let kind: String = kind.chars().take(40).collect();
        return Err(InboundError::invalid(
            format!(
                "`tools` of type `{kind}` run only on the Responses-native providers (openai-responses, azure-responses); send function tools, or choose one of those providers"
            ),
            "tools",
        ));
    }
    let name = match t.remove("name") {
        Some(Value::String(n)) if !n.is_empty() => n,
        _ => {
            return Err(InboundError::invalid(
                "a function tool needs a `name`",
                "tools",
            ));
        }
    };
    Ok(Tool {
        kind: "function".into(),
        function: FunctionDef {
            name,
            description: t.remove("description").and_then(string),
            parameters: t.remove("parameters").filter(|p| !p.is_null()),
            strict: t.remove("strict").and_then(|s| s.as_bool()),
            extra: Map::new(),
        },
        extra: Map::new(),
    })
}

/// `tool_choice`: a mode or a named function.
fn tool_choice(v: Option<Value>) -> Result<Option<ToolChoice>, InboundError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(mode)) if matches!(mode.as_str(), "auto" | "none" | "required") => {
            Ok(Some(ToolChoice::Mode(mode)))
        }
        Some(Value::Object(o)) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = o.get("name").and_then(Value::as_str).ok_or_else(|| {
                InboundError::invalid("a function `tool_choice` needs a `name`", "tool_choice")
            })?;
            Ok(Some(ToolChoice::Named(NamedToolChoice {
                kind: "function".into(),
                function: NamedFunction {
                    name: name.to_owned(),
                },
            })))
        }
        Some(other) => {
            let kind: String = other
                .get("type")
                .and_then(Value::as_str)
                .or(other.as_str())
                .unwrap_or("")
                .chars()
                .take(40)
                .collect();
            Err(InboundError::invalid(
                format!(
                    "`tool_choice` `{kind}` needs a Responses-native provider (openai-responses, azure-responses); use auto, none, required or a function"
                ),
                "tool_choice",
            ))
        }
    }
}

/// `text.format` → `response_format`; `text.verbosity` → `extra`.
fn text_config(v: Option<Value>, request: &mut ChatRequest) -> Result<(), InboundError> {
    let Some(Value::Object(text)) = v else {
        return Ok(());
    };
    if let Some(verbosity) = text
        .get("verbosity")
        .filter(|v| !v.is_null() && *v != "medium")
    {
        request.extra.insert("verbosity".into(), verbosity.clone());
    }
    let Some(format) = text.get("format").filter(|f| !f.is_null()) else {
        return Ok(());
    };
    request.response_format = match format.get("type").and_then(Value::as_str) {
        Some("text") => None,
        Some("json_object") => Some(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let mut schema = Map::new();
            for key in ["name", "schema", "strict", "description"] {
                if let Some(v) = format.get(key).filter(|v| !v.is_null()) {
                    schema.insert(key.to_owned(), v.clone());
                }
            }
            if !schema.contains_key("schema") {
                return Err(InboundError::invalid(
                    "a `json_schema` text format needs a `schema`",
                    "text.format.schema",
                ));
            }
            Some(ResponseFormat::JsonSchema {
                json_schema: Value::Object(schema),
            })
        }
        _ => {
            return Err(InboundError::invalid(
                "`text.format.type` must be text, json_object or json_schema",
                "text.format",
            ));
        }
    };
    Ok(())
}
