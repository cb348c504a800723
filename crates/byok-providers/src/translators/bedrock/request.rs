//! Neutral request → Bedrock Converse body.

use serde_json::{Map, Value, json};

use super::NATIVE_EXTRA;
use crate::common::{
    arguments_object, check_common, encode_body, parse_data_url, refuse_penalties, unsupported,
};
use crate::error::ProviderError;
use crate::id::ProviderId;
use crate::types::{ChatRequest, Content, ContentPart, Message, ResponseFormat, ToolChoice};

fn image_block(p: ProviderId, url: &str) -> Result<Value, ProviderError> {
    let (media, data) = parse_data_url(url)
        .ok_or_else(|| unsupported(p, "image URLs other than base64 `data:` URLs"))?;
    let format = media.strip_prefix("image/").unwrap_or(media);
    if !matches!(format, "png" | "jpeg" | "gif" | "webp") {
        return Err(unsupported(
            p,
            format!(
                "images of type `{}`",
                media.chars().take(32).collect::<String>()
            ),
        ));
    }
    Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
}

fn blocks(p: ProviderId, content: &Content) -> Result<Vec<Value>, ProviderError> {
    match content {
        Content::Text(t) => Ok(vec![json!({"text": t})]),
        Content::Parts(parts) => parts
            .iter()
            .map(|part| match part {
                ContentPart::Text { text, .. } => Ok(json!({"text": text})),
                ContentPart::ImageUrl { image_url, .. } => image_block(p, &image_url.url),
                ContentPart::Other(_) => {
                    Err(unsupported(p, format!("`{}` content parts", part.kind())))
                }
            })
            .collect(),
    }
}

/// Builds the Converse request body.
///
/// # Errors
/// [`ProviderError::Unsupported`] or [`ProviderError::InvalidRequest`].
pub fn encode_request(request: &ChatRequest) -> Result<Vec<u8>, ProviderError> {
    encode(ProviderId::Aws, request)
}

/// [`encode_request`] for any Converse-format row (`provider` names it in errors).
pub(super) fn encode(
    provider: ProviderId,
    request: &ChatRequest,
) -> Result<Vec<u8>, ProviderError> {
    let body = to_wire(provider, request)?;
    encode_body(&body)
}

pub(super) fn to_wire(p: ProviderId, request: &ChatRequest) -> Result<Value, ProviderError> {
    refuse(p, request)?;
    let (system, messages) = messages(p, request)?;
    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    let inference = inference_config(request);
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if let Some(tool_config) = tool_config(p, request)? {
        body.insert("toolConfig".into(), tool_config);
    }
    for key in NATIVE_EXTRA {
        if let Some(v) = request.extra.get(*key) {
            body.insert((*key).to_owned(), v.clone());
        }
    }
    Ok(Value::Object(body))
}

/// What Converse cannot express: refused with a 400.
fn refuse(p: ProviderId, request: &ChatRequest) -> Result<(), ProviderError> {
    check_common(p, request, NATIVE_EXTRA)?;
    if matches!(
        request.response_format,
        Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })
    ) {
        return Err(unsupported(p, "`response_format` JSON modes"));
    }
    refuse_penalties(p, request)?;
    if request.reasoning_effort.is_some() {
        return Err(unsupported(
            p,
            "`reasoning_effort` (use additionalModelRequestFields)",
        ));
    }
    Ok(())
}

/// The `system` blocks and the `messages` (consecutive same-role messages
/// merged; tool results are user content).
fn messages(
    p: ProviderId,
    request: &ChatRequest,
) -> Result<(Vec<Value>, Vec<Value>), ProviderError> {
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
            Message::User { content, .. } => push("user", blocks(p, content)?),
            Message::Assistant {
                content,
                tool_calls,
                ..
            } => {
                let mut c = Vec::new();
                if let Some(text) = content.as_ref().filter(|t| !t.text().is_empty()) {
                    c.extend(blocks(p, text)?);
                }
                for call in tool_calls.iter().flatten() {
                    c.push(json!({"toolUse": {"toolUseId": call.id, "name": call.function.name, "input": arguments_object(p, call)?}}));
                }
                push("assistant", c);
            }
            Message::Tool {
                content,
                tool_call_id,
                ..
            } => push(
                "user",
                vec![
                    json!({"toolResult": {"toolUseId": tool_call_id, "content": [{"text": content.text()}]}}),
                ],
            ),
        }
    }
    Ok((system, messages))
}

/// `inferenceConfig`: `maxTokens`, `temperature`, `topP`, `stopSequences`.
fn inference_config(request: &ChatRequest) -> Map<String, Value> {
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
    inference
}

/// `toolConfig`: the tool specs and the `toolChoice` (`none` is refused:
/// Converse has no such mode).
fn tool_config(p: ProviderId, request: &ChatRequest) -> Result<Option<Value>, ProviderError> {
    let Some(tools) = &request.tools else {
        return Ok(None);
    };
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
                    p,
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
        // Refused by `check_common` (`ChatRequest::unmodelled`).
        Some(ToolChoice::Other(_)) => {
            return Err(ProviderError::invalid(
                "unsupported `tool_choice`",
                Some("tool_choice"),
            ));
        }
    }
    Ok(Some(tool_config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{FunctionCall, ToolCall};

    const P: ProviderId = ProviderId::Aws;

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
        let w = to_wire(P, &r).unwrap();
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
    fn refusals() {
        for (k, v) in [
            ("response_format", json!({"type": "json_object"})),
            ("n", json!(2)),
            ("reasoning_effort", json!("low")),
        ] {
            let mut b = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
            b[k] = v;
            assert!(to_wire(P, &req(b)).is_err(), "{k}");
        }
        let url_image = req(
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}),
        );
        assert!(to_wire(P, &url_image).is_err());
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
                        extra: Default::default(),
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
                    reasoning_details: None,
                    extra: Default::default(),
                });
            } else if !text.is_empty() {
                out.push(Message::User {
                    content: Content::Text(text),
                    name: None,
                    extra: Default::default(),
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
                let (back, back_tools) = wire_to_neutral(&to_wire(P, &r).unwrap());
                prop_assert_eq!(back, messages);
                prop_assert_eq!(back_tools, tools);
            }
        }
    }
}
