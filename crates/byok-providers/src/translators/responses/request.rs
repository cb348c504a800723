//! Neutral request → OpenAI Responses body.

use serde_json::{Map, Value, json};

use super::NATIVE_EXTRA;
use crate::common::{check_common, encode_body, refuse_penalties, unsupported};
use crate::error::ProviderError;
use crate::id::ProviderId;
use crate::translators::content_blocks;
use crate::types::{ChatRequest, Content, Message, ResponseFormat, ToolChoice};

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
    content_blocks(
        provider,
        content,
        |text| json!({"type": text_type, "text": text}),
        |image| {
            let mut v = json!({"type": "input_image", "image_url": image.url});
            v["detail"] = json!(image.detail.as_deref().unwrap_or("auto"));
            Ok(v)
        },
    )
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
    let (instructions, input) = input(provider, request)?;
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
    sampling(request, &mut body);
    if let Some(tools) = tools(request) {
        body.insert("tools".into(), tools);
    }
    if let Some(choice) = tool_choice(request) {
        body.insert("tool_choice".into(), choice);
    }
    if let Some(text) = text_format(request) {
        body.insert("text".into(), text);
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

/// What Responses cannot express: refused with a 400.
fn refuse(provider: ProviderId, request: &ChatRequest) -> Result<(), ProviderError> {
    check_common(provider, request, NATIVE_EXTRA)?;
    if request.stop.is_some() {
        return Err(unsupported(
            provider,
            "`stop` (the Responses API has no stop sequences)",
        ));
    }
    refuse_penalties(provider, request)
}

/// The `instructions` (system and developer messages) and the `input` items.
fn input(
    provider: ProviderId,
    request: &ChatRequest,
) -> Result<(Vec<String>, Vec<Value>), ProviderError> {
    let mut instructions = Vec::new();
    let mut input = Vec::new();
    for message in &request.messages {
        match message {
            Message::System { content, .. } | Message::Developer { content, .. } => {
                instructions.push(content.text())
            }
            Message::User { content, .. } => {
                input.push(json!({"type": "message", "role": "user", "content": input_content(provider, content, false)?}));
            }
            Message::Assistant {
                content,
                tool_calls,
                ..
            } => {
                if let Some(c) = content.as_ref().filter(|c| !c.text().is_empty()) {
                    input.push(json!({"type": "message", "role": "assistant", "content": input_content(provider, c, true)?}));
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
                ..
            } => {
                input.push(json!({"type": "function_call_output", "call_id": tool_call_id, "output": content.text()}));
            }
        }
    }
    Ok((instructions, input))
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

/// Tools, flattened (`{"type": "function", "name", ...}`).
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
        // Refused by `check_common` (`ChatRequest::unmodelled`).
        ToolChoice::Other(v) => Some(v.clone()),
    }
}

/// `response_format` → `text.format`.
fn text_format(request: &ChatRequest) -> Option<Value> {
    match request.response_format.as_ref()? {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(json!({"format": {"type": "json_object"}})),
        ResponseFormat::JsonSchema { json_schema } => {
            let mut format = json!({"type": "json_schema"});
            for key in ["name", "schema", "strict", "description"] {
                if let Some(v) = json_schema.get(key) {
                    format[key] = v.clone();
                }
            }
            Some(json!({"format": format}))
        }
    }
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
