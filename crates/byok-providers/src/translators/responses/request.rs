//! Neutral request → OpenAI Responses body.

use serde_json::{Map, Value, json};

use super::{NATIVE_EXTRA, PASSED_EXTRA, REASONING_FORMAT};
use crate::common::{check_common_parts, encode_body, refuse_penalties, unsupported};
use crate::error::ProviderError;
use crate::id::ProviderId;
use crate::types::{ChatRequest, Content, ContentPart, Message, ResponseFormat, ToolChoice};

/// `reasoning.max_tokens` (OpenRouter) → the nearest effort on a log scale
/// to the budgets low 1,024, medium 4,096, high 16,384 (the Responses API
/// takes no budget): up to 2,048 `low`, up to 8,192 `medium`, else `high`.
const BUDGET_EFFORTS: [(u64, &str); 2] = [(2048, "low"), (8192, "medium")];

/// The content parts of a user or assistant message.
fn input_content(
    provider: ProviderId,
    content: &Content,
    assistant: bool,
) -> Result<Vec<Value>, ProviderError> {
    let text_type = if assistant {
        "output_text"
    } else {
        "input_text"
    };
    match content {
        Content::Text(t) => Ok(vec![json!({"type": text_type, "text": t})]),
        Content::Parts(parts) => parts.iter().map(|p| part(provider, p, text_type)).collect(),
    }
}

/// One content part: text, `input_image` (detail kept, `auto` by default),
/// `input_file` from a `file` part; other kinds are refused.
fn part(provider: ProviderId, part: &ContentPart, text_type: &str) -> Result<Value, ProviderError> {
    match part {
        ContentPart::Text { text, .. } => Ok(json!({"type": text_type, "text": text})),
        ContentPart::ImageUrl { image_url, .. } => Ok(json!({
            "type": "input_image",
            "image_url": image_url.url,
            "detail": image_url.detail.as_deref().unwrap_or("auto"),
        })),
        ContentPart::Other(map) if part.kind() == "file" => input_file(provider, map),
        // Refused by `check_common_parts` (`ChatRequest::unmodelled_except`).
        ContentPart::Other(_) => Err(unsupported(
            provider,
            format!(
                "`{}` content parts",
                part.kind().chars().take(32).collect::<String>()
            ),
        )),
    }
}

/// A chat `file` part (`{"file": {"file_data" | "file_id", "filename"}}`)
/// as `input_file`. A `file_id` is the user's own OpenAI file (the key is
/// theirs), so it goes as it came.
fn input_file(provider: ProviderId, map: &Map<String, Value>) -> Result<Value, ProviderError> {
    let file = map.get("file").and_then(Value::as_object);
    let mut out = Map::new();
    out.insert("type".into(), json!("input_file"));
    for key in ["file_id", "file_data", "filename", "file_url"] {
        if let Some(v) = file.and_then(|f| f.get(key)).filter(|v| v.is_string()) {
            out.insert(key.into(), v.clone());
        }
    }
    if !["file_id", "file_data", "file_url"]
        .iter()
        .any(|k| out.contains_key(*k))
    {
        return Err(unsupported(
            provider,
            "a `file` content part without `file.file_data` or `file.file_id`",
        ));
    }
    Ok(Value::Object(out))
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

pub(super) fn to_wire(
    provider: ProviderId,
    request: &ChatRequest,
    stream: bool,
) -> Result<Value, ProviderError> {
    refuse(provider, request)?;
    // `store` is the client's when it set one, else `false` (the gateway
    // keeps no state upstream).
    let store = request.extra.get("store").and_then(Value::as_bool);
    let stored = store == Some(true);
    let Input {
        instructions,
        items,
        replays_reasoning,
    } = input(provider, request, stored)?;
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("input".into(), Value::Array(items));
    body.insert("store".into(), json!(store.unwrap_or(false)));
    if !instructions.is_empty() {
        body.insert("instructions".into(), json!(instructions.join("\n\n")));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    sampling(request, &mut body);
    if let Some(tools) = tools(request) {
        body.insert("tools".into(), tools);
    }
    if let Some(choice) = tool_choice(request) {
        body.insert("tool_choice".into(), choice);
    }
    if let Some(text) = text(request) {
        body.insert("text".into(), text);
    }
    let reasoning = reasoning(request)?;
    let reasons = reasoning.is_some() || replays_reasoning || is_reasoning_model(&request.model);
    if let Some(r) = reasoning {
        body.insert("reasoning".into(), Value::Object(r));
    }
    if let Some(include) = include(request, reasons && !stored) {
        body.insert("include".into(), include);
    }
    for key in PASSED_EXTRA {
        if let Some(v) = request.extra.get(*key) {
            body.insert((*key).to_owned(), v.clone());
        }
    }
    Ok(Value::Object(body))
}

/// What Responses cannot express: refused with a 400 (the checks every
/// translator makes, `file` parts being encoded here as `input_file`; and
/// penalties).
fn refuse(provider: ProviderId, request: &ChatRequest) -> Result<(), ProviderError> {
    check_common_parts(provider, request, NATIVE_EXTRA, &["file"])?;
    refuse_penalties(provider, request)
}

/// Whether the model is an OpenAI reasoning model by its name (o-series,
/// gpt-5 family, codex; not the `-chat` variants, which reject
/// `reasoning.encrypted_content`). Azure deployment names say nothing:
/// there reasoning is known from the request.
fn is_reasoning_model(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model);
    ["o1", "o3", "o4", "gpt-5", "codex"]
        .iter()
        .any(|p| name.starts_with(p))
        && !name.contains("-chat")
}

/// The conversation as Responses sees it.
struct Input {
    /// System and developer messages.
    instructions: Vec<String>,
    /// The `input` items.
    items: Vec<Value>,
    /// Whether an assistant turn brought reasoning items back.
    replays_reasoning: bool,
}

/// The `instructions` (system and developer messages) and the `input` items.
fn input(
    provider: ProviderId,
    request: &ChatRequest,
    stored: bool,
) -> Result<Input, ProviderError> {
    let mut out = Input {
        instructions: Vec::new(),
        items: Vec::new(),
        replays_reasoning: false,
    };
    for message in &request.messages {
        match message {
            Message::System { content, .. } | Message::Developer { content, .. } => {
                if let Some(p) = content.parts().find(|p| matches!(p, ContentPart::Other(_))) {
                    let kind: String = p.kind().chars().take(32).collect();
                    return Err(unsupported(
                        provider,
                        format!("`{kind}` content parts in system messages"),
                    ));
                }
                out.instructions.push(content.text());
            }
            Message::User { content, .. } => {
                out.items.push(json!({"type": "message", "role": "user", "content": input_content(provider, content, false)?}));
            }
            Message::Assistant {
                content,
                tool_calls,
                reasoning_details,
                ..
            } => {
                let before = out.items.len();
                replay_reasoning(reasoning_details.as_deref(), stored, &mut out.items);
                out.replays_reasoning |= out.items.len() > before;
                if let Some(c) = content.as_ref().filter(|c| !c.text().is_empty()) {
                    out.items.push(json!({"type": "message", "role": "assistant", "content": input_content(provider, c, true)?}));
                }
                for call in tool_calls.iter().flatten() {
                    out.items.push(json!({
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
                ..
            } => {
                out.items.push(json!({"type": "function_call_output", "call_id": tool_call_id, "output": tool_output(provider, content)?}));
            }
        }
    }
    Ok(out)
}

/// A tool result: its text, or (with images or files) the list of
/// `input_text` / `input_image` / `input_file` parts.
fn tool_output(provider: ProviderId, content: &Content) -> Result<Value, ProviderError> {
    if content
        .parts()
        .all(|p| matches!(p, ContentPart::Text { .. }))
    {
        return Ok(json!(content.text()));
    }
    Ok(Value::Array(input_content(provider, content, false)?))
}

/// One reasoning item being rebuilt from `reasoning_details`.
struct ReasoningItem<'a> {
    id: &'a str,
    summary: Vec<Value>,
    encrypted: Option<&'a str>,
}

/// An assistant turn's `openai-responses-v1` reasoning details as
/// `reasoning` input items, grouped by item id in order: `summary` from the
/// `reasoning.summary` entries, `encrypted_content` from the
/// `reasoning.encrypted` one. An item goes back only with its encrypted
/// content, or when the client stores responses (`store: true`: the id is
/// then enough). Entries of other formats, and entries without an id
/// (Responses requires one), are dropped.
fn replay_reasoning(details: Option<&[Value]>, stored: bool, items: &mut Vec<Value>) {
    let mut rebuilt: Vec<ReasoningItem<'_>> = Vec::new();
    for d in details.into_iter().flatten() {
        if d.get("format").and_then(Value::as_str) != Some(REASONING_FORMAT) {
            continue;
        }
        let Some(id) = d.get("id").and_then(Value::as_str) else {
            continue;
        };
        let at = match rebuilt.iter().position(|r| r.id == id) {
            Some(at) => at,
            None => {
                rebuilt.push(ReasoningItem {
                    id,
                    summary: Vec::new(),
                    encrypted: None,
                });
                rebuilt.len() - 1
            }
        };
        let Some(item) = rebuilt.get_mut(at) else {
            continue;
        };
        match d.get("type").and_then(Value::as_str) {
            Some("reasoning.summary") => {
                if let Some(text) = d.get("summary").and_then(Value::as_str) {
                    item.summary
                        .push(json!({"type": "summary_text", "text": text}));
                }
            }
            Some("reasoning.encrypted") => item.encrypted = d.get("data").and_then(Value::as_str),
            _ => {}
        }
    }
    for r in rebuilt {
        if r.encrypted.is_none() && !stored {
            continue;
        }
        let mut item = json!({"type": "reasoning", "id": r.id, "summary": r.summary});
        if let Some(e) = r.encrypted {
            item["encrypted_content"] = json!(e);
        }
        items.push(item);
    }
}

/// `max_output_tokens`, `temperature`, `top_p`, `user`, `parallel_tool_calls`.
fn sampling(request: &ChatRequest, body: &mut Map<String, Value>) {
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
}

/// Tools, flattened (`{"type": "function", "name", ...}`), `strict` kept.
fn tools(request: &ChatRequest) -> Option<Value> {
    let tools = request.tools.as_ref()?;
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
    Some(Value::Array(flat))
}

/// `tool_choice`: modes as they are, a named function flattened.
fn tool_choice(request: &ChatRequest) -> Option<Value> {
    match request.tool_choice.as_ref()? {
        ToolChoice::Mode(m) => Some(json!(m)),
        ToolChoice::Named(n) => Some(json!({"type": "function", "name": n.function.name})),
        // Refused by `refuse`.
        ToolChoice::Other(v) => Some(v.clone()),
    }
}

/// `text`: the client's `text` object (`verbosity`, ...) with `format`
/// from `response_format` (which wins over a client `text.format`).
fn text(request: &ChatRequest) -> Option<Value> {
    let format = text_format(request);
    match (request.extra.get("text"), format) {
        (Some(Value::Object(m)), format) => {
            let mut m = m.clone();
            if let Some(f) = format {
                m.insert("format".into(), f);
            }
            Some(Value::Object(m))
        }
        (None | Some(Value::Null), None) => None,
        (Some(other), None) => Some(other.clone()),
        (_, Some(f)) => Some(json!({ "format": f })),
    }
}

/// `response_format` → the `text.format` object.
fn text_format(request: &ChatRequest) -> Option<Value> {
    match request.response_format.as_ref()? {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(json!({"type": "json_object"})),
        ResponseFormat::JsonSchema { json_schema } => {
            let mut format = json!({"type": "json_schema"});
            for key in ["name", "schema", "strict", "description"] {
                if let Some(v) = json_schema.get(key) {
                    format[key] = v.clone();
                }
            }
            Some(format)
        }
    }
}

/// `reasoning`: the client's `reasoning` object merged with
/// `reasoning_effort`.
///
/// - `reasoning_effort` sets `effort` (over the object's `effort`);
/// - OpenRouter's keys are translated: `effort` stays, `max_tokens` becomes
///   the nearest effort ([`BUDGET_EFFORTS`]) unless an effort is given,
///   `enabled` and `exclude` are not sent;
/// - every other key (`summary`, `generate_summary`, ...) goes as sent;
/// - when reasoning is asked for (an effort other than `none`, a budget,
///   `enabled: true`) and not hidden (`exclude: true`), `summary: "auto"`
///   is added unless the client set `summary` (even to null).
///
/// # Errors
/// A `reasoning` that is neither an object nor null.
fn reasoning(request: &ChatRequest) -> Result<Option<Map<String, Value>>, ProviderError> {
    let mut out = Map::new();
    let mut asked = false;
    let mut exclude = false;
    match request.extra.get("reasoning") {
        None | Some(Value::Null) => {}
        Some(Value::Object(client)) => {
            for (key, value) in client {
                match key.as_str() {
                    "max_tokens" => {
                        if let Some(budget) = value.as_u64() {
                            out.entry("effort")
                                .or_insert_with(|| json!(budget_effort(budget)));
                            asked = true;
                        }
                    }
                    "enabled" => asked |= value == &Value::Bool(true),
                    "exclude" => exclude = value == &Value::Bool(true),
                    "effort" => {
                        asked |= value.as_str().is_some_and(|e| e != "none");
                        out.insert(key.clone(), value.clone());
                    }
                    _ => {
                        out.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        Some(_) => {
            return Err(ProviderError::invalid(
                "`reasoning` must be an object",
                Some("reasoning"),
            ));
        }
    }
    if let Some(effort) = &request.reasoning_effort {
        asked |= effort != "none";
        out.insert("effort".into(), json!(effort));
    }
    if asked && !exclude {
        out.entry("summary").or_insert_with(|| json!("auto"));
    }
    Ok((!out.is_empty()).then_some(out))
}

/// The effort nearest to a reasoning budget.
fn budget_effort(budget: u64) -> &'static str {
    BUDGET_EFFORTS
        .iter()
        .find(|(up_to, _)| budget <= *up_to)
        .map_or("high", |(_, effort)| effort)
}

/// `include`: the client's list, plus `reasoning.encrypted_content` when
/// reasoning can occur and nothing is stored (so reasoning survives across
/// tool turns). Not added otherwise: non-reasoning models refuse it.
fn include(request: &ChatRequest, encrypted: bool) -> Option<Value> {
    const ENCRYPTED: &str = "reasoning.encrypted_content";
    let mut list = match request.extra.get("include") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(other) => return Some(other.clone()),
    };
    if encrypted && !list.iter().any(|v| v == ENCRYPTED) {
        list.push(json!(ENCRYPTED));
    }
    (!list.is_empty()).then_some(Value::Array(list))
}

/// Test support: the inverse of the request mapping.
#[cfg(test)]
fn wire_to_neutral(body: &Value) -> (Vec<Message>, Vec<String>) {
    use crate::translators::function_call;
    use crate::translators::inverse::{assistant, names, system, text, tool, user};

    let mut out = Vec::new();
    if let Some(i) = body.get("instructions").and_then(Value::as_str) {
        out.push(system(i.to_owned()));
    }
    for item in body["input"].as_array().into_iter().flatten() {
        let said = || -> String {
            item["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["text"].as_str())
                .collect()
        };
        match item["type"].as_str() {
            Some("message") if item["role"] == "user" => out.push(user(said())),
            Some("message") => out.push(assistant(Some(said()), None)),
            Some("function_call") => {
                let call = function_call(
                    text(item, "call_id"),
                    text(item, "name"),
                    text(item, "arguments"),
                );
                // Consecutive calls belong to one assistant turn (with its text, if any).
                match out.last_mut() {
                    Some(Message::Assistant { tool_calls, .. }) => {
                        tool_calls.get_or_insert_with(Vec::new).push(call)
                    }
                    _ => out.push(assistant(None, Some(vec![call]))),
                }
            }
            Some("function_call_output") => {
                out.push(tool(text(item, "call_id"), text(item, "output")));
            }
            _ => {}
        }
    }
    (out, names(&body["tools"], "/name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::translators::inverse::req;

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
        // `stop` is no longer refused: it is emulated (`stop.rs`).
        for (k, v) in [
            ("n", json!(3)),
            ("frequency_penalty", json!(1.0)),
            ("logit_bias", json!({"1": 2})),
            (
                "tools",
                json!([{"type": "custom", "custom": {"name": "c"}}]),
            ),
            (
                "tool_choice",
                json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}),
            ),
            (
                "messages",
                json!([{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}]),
            ),
            (
                "messages",
                json!([{"role": "user", "content": [{"type": "file", "file": {"filename": "a.pdf"}}]}]),
            ),
            (
                "messages",
                json!([{"role": "system", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}, {"role": "user", "content": "x"}]),
            ),
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

    fn wire(patch: Value) -> Value {
        let mut b = json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": "x"}]});
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        to_wire(ProviderId::OpenAiResponses, &req(b), false).unwrap()
    }

    #[test]
    fn reasoning_objects_are_merged() {
        let cases = [
            // reasoning_effort alone: effort, a summary, encrypted reasoning asked for.
            (
                json!({"reasoning_effort": "high"}),
                json!({"effort": "high", "summary": "auto"}),
            ),
            (
                json!({"reasoning_effort": "none"}),
                json!({"effort": "none"}),
            ),
            (
                json!({"reasoning_effort": "xhigh"}),
                json!({"effort": "xhigh", "summary": "auto"}),
            ),
            // The client's keys are kept; reasoning_effort wins over its effort.
            (
                json!({"reasoning_effort": "minimal", "reasoning": {"effort": "high", "summary": "detailed", "x": 1}}),
                json!({"effort": "minimal", "summary": "detailed", "x": 1}),
            ),
            // A summary explicitly null stays null (unverified organisations).
            (
                json!({"reasoning_effort": "low", "reasoning": {"summary": null}}),
                json!({"effort": "low", "summary": null}),
            ),
            // OpenRouter's shape: budget → nearest effort, enabled / exclude not sent.
            (
                json!({"reasoning": {"max_tokens": 1000}}),
                json!({"effort": "low", "summary": "auto"}),
            ),
            (
                json!({"reasoning": {"max_tokens": 5000}}),
                json!({"effort": "medium", "summary": "auto"}),
            ),
            (
                json!({"reasoning": {"max_tokens": 20000, "exclude": true}}),
                json!({"effort": "high"}),
            ),
            (
                json!({"reasoning": {"max_tokens": 20000, "effort": "low"}}),
                json!({"effort": "low", "summary": "auto"}),
            ),
            (
                json!({"reasoning": {"enabled": true}}),
                json!({"summary": "auto"}),
            ),
            (
                json!({"reasoning": {"effort": "medium", "exclude": true}}),
                json!({"effort": "medium"}),
            ),
        ];
        for (patch, want) in cases {
            let w = wire(patch.clone());
            assert_eq!(w["reasoning"], want, "{patch}");
            assert_eq!(
                w["include"],
                json!(["reasoning.encrypted_content"]),
                "{patch}"
            );
            assert_eq!(w["store"], false);
        }
        for patch in [
            json!({}),
            json!({"reasoning": null}),
            json!({"reasoning": {"enabled": false}}),
        ] {
            let w = wire(patch.clone());
            assert!(w.get("reasoning").is_none(), "{patch}: {w}");
            assert!(
                w.get("include").is_none(),
                "gpt-4.1 refuses encrypted reasoning: {w}"
            );
        }
        let mut bad = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        bad["reasoning"] = json!("high");
        assert!(matches!(
            to_wire(ProviderId::OpenAiResponses, &req(bad), false),
            Err(ProviderError::InvalidRequest { .. })
        ));
    }

    #[test]
    fn include_and_store() {
        for (model, encrypted) in [
            ("o3", true),
            ("o4-mini", true),
            ("gpt-5", true),
            ("gpt-5.1-codex", true),
            ("openai/gpt-5-mini", true),
            ("gpt-5-chat-latest", false),
            ("gpt-4.1", false),
            ("gpt-4o", false),
        ] {
            let w = wire(json!({"model": model}));
            assert_eq!(w.get("include").is_some(), encrypted, "{model}");
        }
        let w = wire(json!({"model": "o3", "include": ["message.output_text.logprobs"]}));
        assert_eq!(
            w["include"],
            json!([
                "message.output_text.logprobs",
                "reasoning.encrypted_content"
            ])
        );
        let w = wire(json!({"model": "o3", "include": ["reasoning.encrypted_content"]}));
        assert_eq!(w["include"], json!(["reasoning.encrypted_content"]));
        let w = wire(json!({"model": "gpt-4.1", "include": ["file_search_call.results"]}));
        assert_eq!(w["include"], json!(["file_search_call.results"]));
        // The client's `store: true`: kept, nothing encrypted asked for.
        let w = wire(json!({"model": "o3", "store": true}));
        assert_eq!(w["store"], true);
        assert!(w.get("include").is_none());
        assert_eq!(wire(json!({"store": null}))["store"], false);
    }

    #[test]
    fn text_objects_are_merged_with_response_format() {
        let schema = json!({"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}, "strict": true}});
        let w = wire(json!({"response_format": schema, "text": {"verbosity": "low"}}));
        assert_eq!(
            w["text"],
            json!({"verbosity": "low", "format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}, "strict": true}})
        );
        let w = wire(
            json!({"response_format": {"type": "json_object"}, "text": {"format": {"type": "text"}, "verbosity": "high"}}),
        );
        assert_eq!(
            w["text"],
            json!({"format": {"type": "json_object"}, "verbosity": "high"})
        );
        let w = wire(json!({"response_format": {"type": "text"}, "text": {"verbosity": "high"}}));
        assert_eq!(w["text"], json!({"verbosity": "high"}));
        let w = wire(json!({"response_format": {"type": "json_object"}}));
        assert_eq!(w["text"], json!({"format": {"type": "json_object"}}));
        assert!(wire(json!({"text": null})).get("text").is_none());
    }

    #[test]
    fn files_images_and_tool_results_with_parts() {
        let w = wire(json!({"messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "read", "cache_control": {"type": "ephemeral"}},
                {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}},
                {"type": "file", "file": {"file_id": "file-abc123"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}}]},
            {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "shot", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": [
                {"type": "text", "text": "here"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "plain"}]}
        ]}));
        assert_eq!(
            w["input"][0]["content"],
            json!([
                {"type": "input_text", "text": "read"},
                {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
                {"type": "input_file", "file_id": "file-abc123"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "high"}
            ])
        );
        assert_eq!(
            w["input"][2]["output"],
            json!([
                {"type": "input_text", "text": "here"},
                {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"}
            ])
        );
        assert_eq!(w["input"][3]["output"], "plain");
    }

    #[test]
    fn tool_choice_parallel_and_strict() {
        for mode in ["none", "auto", "required"] {
            assert_eq!(wire(json!({"tool_choice": mode}))["tool_choice"], mode);
        }
        let w = wire(json!({
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}, "additionalProperties": false}, "strict": true}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "parallel_tool_calls": false
        }));
        assert_eq!(w["tool_choice"], json!({"type": "function", "name": "f"}));
        assert_eq!(w["parallel_tool_calls"], false);
        assert_eq!(w["tools"][0]["strict"], true);
        assert_eq!(w["tools"][0]["parameters"]["additionalProperties"], false);
    }

    #[test]
    fn reasoning_details_go_back_as_reasoning_items_before_the_calls() {
        let turn = |store: Value| {
            wire(json!({"model": "gpt-5", "store": store, "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": "Checking.", "reasoning_content": "Plan.", "reasoning_details": [
                    {"type": "reasoning.summary", "summary": "Plan.", "id": "rs_1", "format": "openai-responses-v1", "index": 0},
                    {"type": "reasoning.encrypted", "data": "gAAA1", "id": "rs_1", "format": "openai-responses-v1", "index": 1},
                    {"type": "reasoning.text", "text": "t", "signature": "s", "format": "anthropic-claude-v1", "index": 2},
                    {"type": "reasoning.summary", "summary": "No data.", "id": "rs_2", "format": "openai-responses-v1", "index": 3},
                    {"type": "reasoning.encrypted", "data": "no id", "format": "openai-responses-v1", "index": 4}],
                 "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "42"}
            ]}))
        };
        let w = turn(json!(false));
        let input = w["input"].as_array().unwrap();
        assert_eq!(
            input[1],
            json!({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Plan."}], "encrypted_content": "gAAA1"})
        );
        assert_eq!(input[2]["type"], "message");
        assert_eq!(input[3]["type"], "function_call");
        assert_eq!(
            input.len(),
            5,
            "rs_2 has no encrypted content and nothing is stored"
        );
        // Stored responses: the id alone is enough.
        let w = turn(json!(true));
        assert_eq!(
            w["input"][2],
            json!({"type": "reasoning", "id": "rs_2", "summary": [{"type": "summary_text", "text": "No data."}]})
        );
        assert_eq!(w["input"][3]["type"], "message");
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
