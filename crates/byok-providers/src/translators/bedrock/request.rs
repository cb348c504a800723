//! Neutral request → Bedrock Converse body.

use std::cell::Cell;

use serde_json::{Map, Value, json};

use super::response::REASONING_FORMAT;
use super::{ACCEPTED_EXTRA, PASSED_EXTRA, options, parts};
use crate::common::{
    arguments_object, check_common_parts, encode_body, refuse_penalties, unsupported,
};
use crate::error::ProviderError;
use crate::id::ProviderId;
use crate::translators::{TurnEncoder, json_turns};
use crate::types::{ChatRequest, Content, Message, Tool, ToolCall, ToolChoice};

/// Builds the Converse request body for `provider` (a Converse-format row;
/// it names the provider in errors).
///
/// # Errors
/// [`ProviderError::Unsupported`] or [`ProviderError::InvalidRequest`].
pub fn encode_request(
    provider: ProviderId,
    request: &ChatRequest,
) -> Result<Vec<u8>, ProviderError> {
    encode_body(&to_wire(provider, request)?)
}

pub(super) fn to_wire(p: ProviderId, request: &ChatRequest) -> Result<Value, ProviderError> {
    refuse(p, request)?;
    let (system, messages) = messages(p, request)?;
    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    let inference = inference_config(request)?;
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if let Some(tool_config) = tool_config(p, request)? {
        body.insert("toolConfig".into(), tool_config);
    }
    if let Some(fields) = options::additional_fields(p, request)? {
        body.insert("additionalModelRequestFields".into(), fields);
    }
    if let Some(output) = options::merged_output_config(p, request)? {
        body.insert("outputConfig".into(), output);
    }
    for key in PASSED_EXTRA {
        if let Some(v) = request.extra.get(*key) {
            body.insert((*key).to_owned(), v.clone());
        }
    }
    Ok(Value::Object(body))
}

/// What Converse cannot express: refused with a 400. `file` parts are
/// encoded (documents), other unmodelled parts refused while encoding.
fn refuse(p: ProviderId, request: &ChatRequest) -> Result<(), ProviderError> {
    check_common_parts(p, request, ACCEPTED_EXTRA, &["file"])?;
    refuse_penalties(p, request)?;
    Ok(())
}

/// The `system` blocks and the `messages` (consecutive same-role messages
/// merged; tool results are user content).
///
/// An assistant message's `reasoning_details` in the `bedrock-converse`
/// format come back as `reasoningContent` blocks ahead of its text and tool
/// uses (Converse wants the signed reasoning of a tool-use turn replayed).
fn messages(
    p: ProviderId,
    request: &ChatRequest,
) -> Result<(Vec<Value>, Vec<Value>), ProviderError> {
    let mut encoder = Converse {
        p,
        assistants: request.messages.iter(),
        tools: request.messages.iter(),
        docs: Cell::new(0),
    };
    let (system, mut turns) = json_turns(&request.messages, "assistant", "content", &mut encoder)?;
    let system = system
        .into_iter()
        .flat_map(|s| match s {
            Value::Array(blocks) => blocks,
            other => vec![other],
        })
        .collect();
    parts::flatten(&mut turns);
    // Messages without content: their reasoning goes before their first tool use.
    for m in &request.messages {
        if let Message::Assistant {
            content: None,
            tool_calls: Some(calls),
            reasoning_details: Some(details),
            ..
        } = m
            && let Some(first) = calls.first()
        {
            insert_before_tool_use(&mut turns, &first.id, reasoning_blocks(details));
        }
    }
    Ok((system, turns))
}

/// Puts `blocks` before the `toolUse` block whose id is `id`.
fn insert_before_tool_use(turns: &mut [Value], id: &str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    for turn in turns.iter_mut() {
        let Some(content) = turn.get_mut("content").and_then(Value::as_array_mut) else {
            continue;
        };
        if let Some(at) = content.iter().position(|b| b["toolUse"]["toolUseId"] == id) {
            content.splice(at..at, blocks);
            return;
        }
    }
}

/// The `reasoningContent` blocks of `reasoning_details` entries in the
/// `bedrock-converse` format (`reasoning.text` → `reasoningText` with its
/// signature, `reasoning.encrypted` → `redactedContent`); streamed pieces of
/// one entry (same `index`) are joined. Other formats are left out.
fn reasoning_blocks(details: &[Value]) -> Vec<Value> {
    let mut blocks: Vec<Value> = Vec::new();
    let mut last_index: Option<&Value> = None;
    for d in details.iter().filter(|d| d["format"] == REASONING_FORMAT) {
        let index = d.get("index");
        match d["type"].as_str() {
            Some("reasoning.text") => {
                let joined = index.is_some() && index == last_index;
                let text = d["text"].as_str().unwrap_or("");
                match blocks.last_mut() {
                    Some(b) if joined && b["reasoningContent"].get("reasoningText").is_some() => {
                        let rt = &mut b["reasoningContent"]["reasoningText"];
                        let mut all = rt["text"].as_str().unwrap_or("").to_owned();
                        all.push_str(text);
                        rt["text"] = json!(all);
                        if let Some(sig) = d["signature"].as_str() {
                            rt["signature"] = json!(sig);
                        }
                    }
                    _ => {
                        let mut rt = json!({"text": text});
                        if let Some(sig) = d["signature"].as_str() {
                            rt["signature"] = json!(sig);
                        }
                        blocks.push(json!({"reasoningContent": {"reasoningText": rt}}));
                    }
                }
            }
            Some("reasoning.encrypted") => {
                if let Some(data) = d["data"].as_str() {
                    blocks.push(json!({"reasoningContent": {"redactedContent": data}}));
                }
            }
            _ => continue,
        }
        last_index = index;
    }
    blocks
}

/// Converse's content blocks; `assistants` walks the messages so that each
/// assistant text gets its own message's reasoning first.
struct Converse<'a> {
    p: ProviderId,
    assistants: std::slice::Iter<'a, Message>,
    /// The tool messages, in order: whether each result is an error.
    tools: std::slice::Iter<'a, Message>,
    /// Documents so far (numbers unnamed ones).
    docs: Cell<usize>,
}

impl Converse<'_> {
    /// The reasoning blocks of the next assistant message with content.
    fn next_reasoning(&mut self) -> Vec<Value> {
        for m in self.assistants.by_ref() {
            if let Message::Assistant {
                content: Some(_),
                reasoning_details,
                ..
            } = m
            {
                return reasoning_details
                    .as_deref()
                    .map(reasoning_blocks)
                    .unwrap_or_default();
            }
        }
        Vec::new()
    }

    /// Whether the next tool message says `is_error: true`.
    fn next_is_error(&mut self) -> bool {
        self.tools
            .by_ref()
            .find_map(|m| match m {
                Message::Tool { extra, .. } => {
                    Some(extra.get("is_error") == Some(&Value::Bool(true)))
                }
                _ => None,
            })
            .unwrap_or(false)
    }

    fn content_blocks(&self, content: &Content) -> Result<Vec<Value>, ProviderError> {
        let mut docs = self.docs.get();
        let out = parts::blocks(self.p, content, &mut docs);
        self.docs.set(docs);
        out
    }
}

impl TurnEncoder for Converse<'_> {
    type Block = Value;
    type System = Value;

    /// The message's system blocks, as a list (flattened afterwards).
    fn system(&self, content: &Content) -> Value {
        Value::Array(parts::system_blocks(content))
    }

    fn blocks(&self, content: &Content) -> Result<Vec<Value>, ProviderError> {
        self.content_blocks(content)
    }

    fn assistant(&mut self, content: &Content) -> Result<Vec<Value>, ProviderError> {
        let mut out = self.next_reasoning();
        if !content.text().is_empty() {
            out.extend(self.content_blocks(content)?);
        }
        Ok(out)
    }

    fn tool_call(&mut self, call: &ToolCall) -> Result<Value, ProviderError> {
        let input = arguments_object(self.p, call)?;
        Ok(json!({"toolUse": {"toolUseId": call.id, "name": call.function.name, "input": input}}))
    }

    fn tool_result(&mut self, id: &str, content: &Content) -> Result<Value, ProviderError> {
        let is_error = self.next_is_error();
        let mut docs = self.docs.get();
        let out = parts::tool_result(self.p, id, content, is_error, &mut docs);
        self.docs.set(docs);
        out
    }
}

/// `inferenceConfig`: `maxTokens` (raised above a Claude thinking budget,
/// [`options::max_tokens`]), `temperature` and `topP` (as Claude thinking
/// allows, [`options::sampling`]), `stopSequences`.
///
/// # Errors
/// Sampling that Claude thinking forbids.
fn inference_config(request: &ChatRequest) -> Result<Map<String, Value>, ProviderError> {
    let mut inference = Map::new();
    if let Some(m) = options::max_tokens(request) {
        inference.insert("maxTokens".into(), json!(m));
    }
    let (temperature, top_p) = options::sampling(request)?;
    if let Some(t) = temperature {
        inference.insert("temperature".into(), json!(t));
    }
    if let Some(t) = top_p {
        inference.insert("topP".into(), json!(t));
    }
    if let Some(stop) = &request.stop {
        inference.insert("stopSequences".into(), json!(stop.to_vec()));
    }
    Ok(inference)
}

/// Whether the history holds `toolUse`/`toolResult` blocks (Converse then
/// requires a `toolConfig`, else it answers with a `ValidationException`).
fn history_has_tool_blocks(request: &ChatRequest) -> bool {
    request.messages.iter().any(|m| match m {
        Message::Assistant { tool_calls, .. } => tool_calls.as_ref().is_some_and(|c| !c.is_empty()),
        Message::Tool { .. } => true,
        _ => false,
    })
}

/// The tool specs declared for the names the history calls (first use
/// first, each once), with the permissive schema `{"type": "object"}`: what
/// Converse needs when the request carries tool blocks but no `tools`.
fn history_specs(request: &ChatRequest) -> Vec<Value> {
    let mut seen: Vec<&str> = Vec::new();
    for m in &request.messages {
        if let Message::Assistant {
            tool_calls: Some(calls),
            ..
        } = m
        {
            for c in calls {
                if !seen.contains(&c.function.name.as_str()) {
                    seen.push(&c.function.name);
                }
            }
        }
    }
    seen.into_iter()
        .map(
            |name| json!({"toolSpec": {"name": name, "inputSchema": {"json": {"type": "object"}}}}),
        )
        .collect()
}

/// The request's tool specs (`strict: true` kept), each followed by a
/// `cachePoint` when the tool carries `cache_control`.
fn request_specs(tools: &[Tool]) -> Vec<Value> {
    let mut out = Vec::with_capacity(tools.len());
    for t in tools {
        let mut spec = json!({
            "name": t.function.name,
            "inputSchema": {"json": t.function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}))},
        });
        if let Some(d) = &t.function.description {
            spec["description"] = json!(d);
        }
        // `ToolSpecification.strict`: schema-enforced tool input.
        if t.function.strict == Some(true) {
            spec["strict"] = json!(true);
        }
        out.push(json!({"toolSpec": spec}));
        if parts::wants_cache(&t.extra) {
            out.push(parts::cache_point());
        }
    }
    out
}

/// `toolConfig`: the tool specs and the `toolChoice`.
///
/// Converse's `toolChoice` is `auto`, `any` or `tool` only. `tool_choice:
/// none` is therefore expressed by sending no `toolConfig` at all (the model
/// cannot call a tool it was not given), which Converse allows only while the
/// history holds no tool blocks; with tool blocks a `toolConfig` is
/// mandatory and the model could call any tool in it, so `none` is refused
/// with a 400. Without `tools`, a history holding tool blocks gets a
/// `toolConfig` declaring the called tools with a permissive schema (and no
/// `toolChoice`).
fn tool_config(p: ProviderId, request: &ChatRequest) -> Result<Option<Value>, ProviderError> {
    let in_history = history_has_tool_blocks(request);
    if matches!(&request.tool_choice, Some(ToolChoice::Mode(m)) if m == "none") {
        if in_history {
            return Err(unsupported(
                p,
                "`tool_choice: none` when the history holds tool calls or results \
                 (Converse then requires the tools to be declared and has no `none` choice)",
            ));
        }
        return Ok(None);
    }
    let Some(tools) = &request.tools else {
        if !in_history {
            return Ok(None);
        }
        let specs = history_specs(request);
        return Ok((!specs.is_empty()).then(|| json!({"tools": specs})));
    };
    let mut tool_config = json!({"tools": request_specs(tools)});
    match &request.tool_choice {
        None => {}
        Some(ToolChoice::Mode(m)) => match m.as_str() {
            "auto" => tool_config["toolChoice"] = json!({"auto": {}}),
            "required" => tool_config["toolChoice"] = json!({"any": {}}),
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

    const P: ProviderId = ProviderId::Aws;

    use crate::translators::inverse::req;

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

    #[test]
    fn tool_choice_none_drops_the_tools_or_is_refused_with_tool_history() {
        let tools = json!([{"type": "function", "function": {"name": "f"}}]);
        let plain = req(json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}],
            "tools": tools, "tool_choice": "none"
        }));
        let w = to_wire(P, &plain).unwrap();
        assert!(w.get("toolConfig").is_none(), "{w}");
        let history = req(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "42"}
            ],
            "tools": tools, "tool_choice": "none"
        }));
        let e = to_wire(P, &history).unwrap_err();
        assert!(matches!(e, ProviderError::Unsupported { .. }), "{e:?}");
        assert!(e.to_string().contains("tool_choice: none"), "{e}");
    }

    #[test]
    fn tool_history_without_tools_declares_the_called_tools() {
        let r = req(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                    {"id": "t2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
                    {"id": "t3", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "t1", "content": "1"},
                {"role": "tool", "tool_call_id": "t2", "content": "2"},
                {"role": "tool", "tool_call_id": "t3", "content": "3"}
            ],
            "tool_choice": "auto"
        }));
        let w = to_wire(P, &r).unwrap();
        assert_eq!(
            w["toolConfig"],
            json!({"tools": [
                {"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}},
                {"toolSpec": {"name": "g", "inputSchema": {"json": {"type": "object"}}}}
            ]})
        );
        let plain = req(json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}));
        assert!(to_wire(P, &plain).unwrap().get("toolConfig").is_none());
    }

    fn wire_to_neutral(body: &Value) -> (Vec<Message>, Vec<String>) {
        use crate::translators::function_call;
        use crate::translators::inverse::{names, push_turn, system, text, tool};

        let mut out = Vec::new();
        for sys in body["system"].as_array().into_iter().flatten() {
            out.push(system(text(sys, "text")));
        }
        for m in body["messages"].as_array().into_iter().flatten() {
            let mut said = String::new();
            let mut calls = Vec::new();
            for b in m["content"].as_array().into_iter().flatten() {
                if let Some(t) = b["text"].as_str() {
                    said.push_str(t);
                } else if let Some(tu) = b.get("toolUse") {
                    let (id, name) = (text(tu, "toolUseId"), text(tu, "name"));
                    calls.push(function_call(id, name, tu["input"].to_string()));
                } else if let Some(tr) = b.get("toolResult") {
                    out.push(tool(text(tr, "toolUseId"), text(&tr["content"][0], "text")));
                }
            }
            let said = (!said.is_empty()).then_some(said);
            push_turn(&mut out, m["role"] == "assistant", said, calls);
        }
        let tools = names(&body["toolConfig"]["tools"], "/toolSpec/name");
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
                // Without `tools`, the tools the history calls are declared.
                let expected = if tools.is_empty() {
                    let mut called: Vec<String> = Vec::new();
                    for m in &r.messages {
                        if let Message::Assistant { tool_calls: Some(calls), .. } = m {
                            for c in calls {
                                if !called.contains(&c.function.name) {
                                    called.push(c.function.name.clone());
                                }
                            }
                        }
                    }
                    called
                } else {
                    tools
                };
                prop_assert_eq!(back_tools, expected);
            }
        }
    }
}
