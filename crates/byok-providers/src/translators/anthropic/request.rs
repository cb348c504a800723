//! Neutral request → Anthropic Messages body.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use serde_json::Map;

use super::DEFAULT_MAX_TOKENS;
use super::content::{self, cached};
use super::effort::{plan, reconcile};
use super::reasoning::replay_block;
use super::{NATIVE_EXTRA, READ_PARTS};
use crate::common::{
    arguments_object, check_common_parts, encode_body, refuse_penalties, unsupported,
};
use crate::error::ProviderError;
use crate::id::ProviderId;
use crate::translators::{Conversation, TurnEncoder, turns};
use crate::types::{ChatRequest, Content, Message, ResponseFormat, ToolCall, ToolChoice};

#[derive(Debug, Serialize)]
pub(super) struct WireRequest {
    model: String,
    max_tokens: u32,
    messages: Vec<WireMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sequences: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
struct WireMessage {
    role: String,
    content: Vec<Value>,
}

/// Encodes the Anthropic request body.
///
/// # Errors
/// [`ProviderError::Unsupported`] or [`ProviderError::InvalidRequest`] for
/// what Anthropic cannot express.
pub fn encode_request(
    provider: ProviderId,
    request: &ChatRequest,
    stream: bool,
) -> Result<Vec<u8>, ProviderError> {
    let wire = to_wire(provider, request, stream)?;
    encode_body(&wire)
}

pub(super) fn to_wire(
    provider: ProviderId,
    request: &ChatRequest,
    stream: bool,
) -> Result<WireRequest, ProviderError> {
    refuse(provider, request)?;
    let mut thinking = plan(request, request.extra.get("thinking"))?;
    let (system, messages) = messages(provider, request)?;
    if thinking.on && continues_tool_loop_without_thinking(&messages) {
        // Anthropic refuses thinking when the assistant turn of the tool
        // loop being continued does not start with a thinking block (a
        // turn replayed from another provider, or without its
        // `reasoning_details`): that request thinks no more; the next
        // turn does again.
        thinking.thinking = None;
        thinking.on = false;
    }
    let (temperature, top_p) = reconcile(request, thinking.on)?;
    let tools = tools(request);
    let tool_choice = tool_choice(request, tools.is_some())?;
    let output_config = output_config(request, thinking.effort)?;
    Ok(WireRequest {
        model: request.model.clone(),
        max_tokens: thinking.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        messages,
        system,
        temperature,
        top_p,
        stop_sequences: request.stop.as_ref().map(crate::types::Stop::to_vec),
        tools,
        tool_choice,
        metadata: request.user.as_ref().map(|u| json!({"user_id": u})),
        thinking: thinking.thinking,
        top_k: request.extra.get("top_k").filter(|k| !k.is_null()).cloned(),
        output_config,
        stream,
    })
}

/// Whether the conversation continues a tool loop (it ends with tool
/// results after an assistant turn with `tool_use`) whose assistant turn
/// does not start with a `thinking` or `redacted_thinking` block.
fn continues_tool_loop_without_thinking(messages: &[WireMessage]) -> bool {
    let Some(last_assistant) = messages.iter().rposition(|m| m.role == "assistant") else {
        return false;
    };
    let turn = &messages[last_assistant];
    let calls_tools = turn.content.iter().any(|b| b["type"] == "tool_use");
    let answered_by_tools = messages[last_assistant + 1..]
        .iter()
        .all(|m| m.content.iter().any(|b| b["type"] == "tool_result"))
        && last_assistant + 1 < messages.len();
    let starts_with_thinking = matches!(
        turn.content.first().and_then(|b| b["type"].as_str()),
        Some("thinking" | "redacted_thinking")
    );
    calls_tools && answered_by_tools && !starts_with_thinking
}

/// What Anthropic cannot express: refused with a 400.
fn refuse(provider: ProviderId, request: &ChatRequest) -> Result<(), ProviderError> {
    check_common_parts(provider, request, NATIVE_EXTRA, READ_PARTS)?;
    if matches!(request.response_format, Some(ResponseFormat::JsonObject)) {
        // Anthropic's structured output needs a schema whose objects all
        // have `additionalProperties: false`, so "any JSON object" has no
        // faithful equivalent (`{"type": "object"}` would only allow `{}`).
        return Err(unsupported(
            provider,
            "`response_format` `json_object` (use `json_schema` with a schema instead)",
        ));
    }
    refuse_penalties(provider, request)
}

/// `output_config`: `response_format: json_schema` → Anthropic's native
/// structured output, `{"format": {"type": "json_schema", "schema": …}}`,
/// the schema sent unchanged (`name` and `strict` have no Anthropic field:
/// the decoding is always constrained; `text`, or none, sends nothing), and
/// the adaptive thinking `effort` ([`super::effort`]).
fn output_config(
    request: &ChatRequest,
    effort: Option<&'static str>,
) -> Result<Option<Value>, ProviderError> {
    let mut config = Map::new();
    if let Some(ResponseFormat::JsonSchema { json_schema }) = &request.response_format {
        let schema = json_schema.get("schema").ok_or_else(|| {
            ProviderError::invalid(
                "`response_format.json_schema.schema` is required",
                Some("response_format"),
            )
        })?;
        config.insert(
            "format".into(),
            json!({"type": "json_schema", "schema": schema}),
        );
    }
    if let Some(effort) = effort {
        config.insert("effort".into(), Value::from(effort));
    }
    Ok((!config.is_empty()).then_some(Value::Object(config)))
}

/// The top-level `system` and the `messages`, consecutive same-role
/// messages merged (tool results are user content). An assistant message
/// with `reasoning_details` is encoded on its own, its thinking blocks first
/// (before its text and tool calls), then merged like the others.
fn messages(
    provider: ProviderId,
    request: &ChatRequest,
) -> Result<(Option<Value>, Vec<WireMessage>), ProviderError> {
    let encoder = &mut Blocks { provider };
    let mut all = Conversation {
        system: Vec::new(),
        turns: Vec::new(),
    };
    let mut rest = request.messages.as_slice();
    loop {
        let cut = rest.iter().position(|m| details(m).is_some());
        let (plain, tail) = rest.split_at(cut.unwrap_or(rest.len()));
        merge(&mut all, turns(plain, "assistant", encoder)?, Vec::new());
        let Some((reasoned, tail)) = tail.split_first() else {
            break;
        };
        let thinking = details(reasoned)
            .into_iter()
            .flatten()
            .filter_map(replay_block)
            .collect();
        let one = turns(std::slice::from_ref(reasoned), "assistant", encoder)?;
        merge(&mut all, one, thinking);
        rest = tail;
    }
    let Conversation { system, turns } = all;
    let messages = turns
        .into_iter()
        .map(|(role, content)| WireMessage {
            role: role.to_owned(),
            content,
        })
        .collect();
    Ok((content::system_value(system), messages))
}

/// The non-empty `reasoning_details` of an assistant message.
fn details(message: &Message) -> Option<&[Value]> {
    match message {
        Message::Assistant {
            reasoning_details: Some(d),
            ..
        } if !d.is_empty() => Some(d),
        _ => None,
    }
}

/// Appends `part` to `all`, merging same-role turns at the seam; `thinking`
/// (the blocks replaying one assistant message's reasoning) goes first in
/// that message's turn.
fn merge(
    all: &mut Conversation<Vec<Value>, Value>,
    part: Conversation<Vec<Value>, Value>,
    thinking: Vec<Value>,
) {
    if thinking.is_empty() && all.turns.is_empty() && all.system.is_empty() {
        *all = part;
        return;
    }
    all.system.extend(part.system);
    let mut turns = part.turns;
    if !thinking.is_empty() {
        match turns.first_mut() {
            Some((_, blocks)) => {
                blocks.splice(0..0, thinking);
            }
            None => turns.push(("assistant", thinking)),
        }
    }
    for (role, blocks) in turns {
        match all.turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => all.turns.push((role, blocks)),
        }
    }
}

/// Anthropic's content blocks.
struct Blocks {
    provider: ProviderId,
}

impl TurnEncoder for Blocks {
    type Block = Value;
    type System = Vec<Value>;

    fn system(&self, content: &Content) -> Vec<Value> {
        content::system(content)
    }

    fn blocks(&self, content: &Content) -> Result<Vec<Value>, ProviderError> {
        content::blocks(self.provider, content)
    }

    /// Every block but empty text.
    fn assistant(&mut self, content: &Content) -> Result<Vec<Value>, ProviderError> {
        let mut blocks = self.blocks(content)?;
        blocks.retain(|b| b["text"] != "");
        Ok(blocks)
    }

    fn tool_call(&mut self, call: &ToolCall) -> Result<Value, ProviderError> {
        Ok(json!({
            "type": "tool_use",
            "id": call.id,
            "name": call.function.name,
            "input": arguments_object(self.provider, call)?,
        }))
    }

    fn tool_result(&mut self, id: &str, content: &Content) -> Result<Value, ProviderError> {
        self.tool_message(id, content, &Map::new())
    }

    fn tool_message(
        &mut self,
        id: &str,
        content: &Content,
        extra: &Map<String, Value>,
    ) -> Result<Value, ProviderError> {
        content::tool_result(self.provider, id, content, extra)
    }
}

/// Tools with their `input_schema` (an empty object schema when none),
/// `strict: true` (Anthropic's strict tool use) and the tool's
/// `cache_control`.
fn tools(request: &ChatRequest) -> Option<Vec<Value>> {
    request.tools.as_ref().map(|tools| {
        tools
            .iter()
            .map(|t| {
                let mut v = json!({
                    "name": t.function.name,
                    "input_schema": t.function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                });
                if let Some(d) = &t.function.description {
                    v["description"] = json!(d);
                }
                if t.function.strict == Some(true) {
                    v["strict"] = Value::Bool(true);
                }
                cached(v, &t.extra)
            })
            .collect::<Vec<_>>()
    })
}

/// OpenAI's `tool_choice` modes and Anthropic's `tool_choice` types, read
/// both ways: by this translator (mode → type) and by the inbound Messages
/// decoder (type → mode). A named function is Anthropic's `tool`.
pub(crate) const TOOL_CHOICE_MODES: &[(&str, &str)] =
    &[("auto", "auto"), ("required", "any"), ("none", "none")];

/// `tool_choice`, with `disable_parallel_tool_use` for
/// `parallel_tool_calls: false`.
fn tool_choice(request: &ChatRequest, has_tools: bool) -> Result<Option<Value>, ProviderError> {
    let mut tool_choice = match &request.tool_choice {
        None => None,
        Some(ToolChoice::Mode(m)) => match TOOL_CHOICE_MODES.iter().find(|(n, _)| n == m) {
            Some((_, kind)) => Some(json!({"type": kind})),
            None => {
                return Err(ProviderError::invalid(
                    format!(
                        "unknown tool_choice `{}`",
                        m.chars().take(32).collect::<String>()
                    ),
                    Some("tool_choice"),
                ));
            }
        },
        Some(ToolChoice::Named(n)) => Some(json!({"type": "tool", "name": n.function.name})),
        // Refused by `check_common` (`ChatRequest::unmodelled`).
        Some(ToolChoice::Other(_)) => {
            return Err(ProviderError::invalid(
                "unsupported `tool_choice`",
                Some("tool_choice"),
            ));
        }
    };
    if request.parallel_tool_calls == Some(false) && has_tools {
        let choice = tool_choice.get_or_insert_with(|| json!({"type": "auto"}));
        if choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
    }
    Ok(tool_choice)
}

/// Test support: the inverse of the request mapping, to check that messages
/// and tools survive neutral → Anthropic → neutral.
#[cfg(test)]
fn wire_to_neutral(body: &Value) -> (Vec<Message>, Vec<String>) {
    use crate::translators::function_call;
    use crate::translators::inverse::{names, push_turn, system, text, tool};

    let mut messages = Vec::new();
    if let Some(s) = body.get("system").and_then(Value::as_str) {
        messages.push(system(s.to_owned()));
    }
    for m in body["messages"].as_array().into_iter().flatten() {
        let mut said: Option<String> = None;
        let mut calls = Vec::new();
        for b in m["content"].as_array().into_iter().flatten() {
            match b["type"].as_str() {
                Some("text") => said.get_or_insert_default().push_str(&text(b, "text")),
                Some("tool_use") => calls.push(function_call(
                    text(b, "id"),
                    text(b, "name"),
                    b["input"].to_string(),
                )),
                Some("tool_result") => {
                    messages.push(tool(text(b, "tool_use_id"), text(b, "content")));
                }
                _ => {}
            }
        }
        push_turn(&mut messages, m["role"] == "assistant", said, calls);
    }
    (messages, names(&body["tools"], "/name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::translators::anthropic::DEFAULT_MAX_TOKENS;
    use crate::translators::inverse::req;

    #[test]
    fn request_mapping() {
        let r = req(json!({
            "model": "claude-sonnet-4-5",
            "messages": [
                {"role": "system", "content": "A"},
                {"role": "developer", "content": "B"},
                {"role": "user", "content": "one"},
                {"role": "user", "content": [{"type": "text", "text": "two"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}, {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                    {"id": "t2", "type": "function", "function": {"name": "f", "arguments": "{\"a\":2}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "r1"},
                {"role": "tool", "tool_call_id": "t2", "content": "r2"}
            ],
            "stop": "END", "user": "u1", "parallel_tool_calls": false,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": "required"
        }));
        let w = serde_json::to_value(to_wire(ProviderId::Anthropic, &r, true).unwrap()).unwrap();
        assert_eq!(w["system"], "A\n\nB");
        assert_eq!(w["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(
            w["messages"].as_array().unwrap().len(),
            3,
            "same-role messages merged"
        );
        assert_eq!(w["messages"][0]["content"].as_array().unwrap().len(), 4);
        assert_eq!(w["messages"][0]["content"][2]["source"]["type"], "base64");
        assert_eq!(
            w["messages"][0]["content"][2]["source"]["media_type"],
            "image/png"
        );
        assert_eq!(w["messages"][0]["content"][3]["source"]["type"], "url");
        assert_eq!(w["messages"][1]["content"][1]["input"]["a"], 2);
        assert_eq!(
            w["messages"][2]["content"][1]["tool_use_id"], "t2",
            "parallel results in one user message"
        );
        assert_eq!(w["stop_sequences"], json!(["END"]));
        assert_eq!(
            w["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
        assert_eq!(w["metadata"]["user_id"], "u1");
        assert_eq!(w["stream"], true);
    }

    #[test]
    fn refusals() {
        let base = json!({"model": "claude", "messages": [{"role": "user", "content": "x"}]});
        for (k, v, what) in [
            (
                "response_format",
                json!({"type": "json_object"}),
                "response_format",
            ),
            ("n", json!(2), "`n`"),
            ("presence_penalty", json!(0.5), "presence_penalty"),
            ("logprobs", json!(true), "logprobs"),
        ] {
            let mut b = base.clone();
            b[k] = v;
            let e = to_wire(ProviderId::Anthropic, &req(b), false).unwrap_err();
            assert!(e.to_string().contains(what), "{e}");
        }
        let mut b = base.clone();
        b["seed"] = json!(1);
        b["top_k"] = json!(5);
        let w =
            serde_json::to_value(to_wire(ProviderId::Anthropic, &req(b), false).unwrap()).unwrap();
        assert_eq!(w["top_k"], 5);
        assert!(w.get("seed").is_none());
        let mut b = base;
        b["messages"] = json!([{"role": "assistant", "tool_calls": [{"id": "x", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]);
        assert!(matches!(
            to_wire(ProviderId::Anthropic, &req(b), false),
            Err(ProviderError::InvalidRequest { .. })
        ));
    }

    #[test]
    fn response_format_json_schema_becomes_output_config_format() {
        let base = json!({"model": "claude", "messages": [{"role": "user", "content": "x"}]});
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": false});
        let mut b = base.clone();
        b["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "n", "strict": true, "schema": schema}});
        let w =
            serde_json::to_value(to_wire(ProviderId::Anthropic, &req(b), false).unwrap()).unwrap();
        assert_eq!(
            w["output_config"],
            json!({"format": {"type": "json_schema", "schema": schema}})
        );
        for format in [json!({"type": "text"}), Value::Null] {
            let mut b = base.clone();
            b["response_format"] = format;
            let w = serde_json::to_value(to_wire(ProviderId::Anthropic, &req(b), false).unwrap())
                .unwrap();
            assert!(w.get("output_config").is_none(), "{w}");
        }
        let mut b = base;
        b["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "n"}});
        assert!(matches!(
            to_wire(ProviderId::Anthropic, &req(b), false),
            Err(ProviderError::InvalidRequest { .. })
        ));
    }

    #[test]
    fn a_tool_loop_replayed_without_thinking_is_continued_without_it() {
        let encode = |v: &Value| {
            serde_json::to_value(to_wire(ProviderId::Anthropic, &req(v.clone()), false).unwrap())
                .unwrap()
        };
        let call = json!([{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]);
        let unsigned = json!({"model": "claude-sonnet-4-5", "reasoning_effort": "medium", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": null, "tool_calls": call},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"}]});
        let w = encode(&unsigned);
        assert!(w.get("thinking").is_none(), "{w}");
        // With the turn's signed thinking replayed, thinking stays on.
        let mut signed = unsigned.clone();
        signed["messages"][1]["reasoning_details"] = json!([{"type": "reasoning.text", "text": "t", "signature": "sig", "format": "anthropic-claude-v1", "index": 0}]);
        let w = encode(&signed);
        assert_eq!(w["thinking"]["type"], "enabled", "{w}");
        assert_eq!(w["messages"][1]["content"][0]["type"], "thinking", "{w}");
        // A loop already answered in text, then a new question: thinking
        // stays on.
        let mut asked = unsigned.clone();
        let turns = asked["messages"].as_array_mut().unwrap();
        turns.push(json!({"role": "assistant", "content": "It is 42."}));
        turns.push(json!({"role": "user", "content": "and?"}));
        assert_eq!(encode(&asked)["thinking"]["type"], "enabled");
    }

    #[test]
    fn reasoning_effort_becomes_thinking_with_room_for_the_answer() {
        let r = req(
            json!({"model": "claude", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "medium", "max_tokens": 1000}),
        );
        let w = serde_json::to_value(to_wire(ProviderId::Anthropic, &r, false).unwrap()).unwrap();
        assert_eq!(w["thinking"]["budget_tokens"], 4096);
        assert_eq!(w["max_tokens"], 5096);
    }

    mod roundtrip {
        use super::*;
        use proptest::prelude::*;

        fn conversation() -> impl Strategy<Value = Vec<Message>> {
            crate::test_support::conversation(crate::test_support::PLAIN)
        }

        proptest! {
            #[test]
            fn neutral_to_anthropic_to_neutral_keeps_messages_and_tools(
                messages in conversation(),
                tools in proptest::collection::btree_set("[a-z]{1,8}", 0..4),
            ) {
                let tools: Vec<String> = tools.into_iter().collect();
                let mut request = req(json!({"model": "claude", "messages": [{"role": "user", "content": "x"}]}));
                request.messages = messages.clone();
                if !tools.is_empty() {
                    request.tools = Some(tools.iter().map(|t| serde_json::from_value(json!({"type": "function", "function": {"name": t, "parameters": {"type": "object"}}})).unwrap()).collect());
                }
                let wire = serde_json::to_value(to_wire(ProviderId::Anthropic, &request, false).unwrap()).unwrap();
                let (back, back_tools) = wire_to_neutral(&wire);
                prop_assert_eq!(back, messages);
                prop_assert_eq!(back_tools, tools);
            }
        }
    }
}
