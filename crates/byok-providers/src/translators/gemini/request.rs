//! Neutral request → Gemini `generateContent` body.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::{NATIVE_EXTRA, THINKING_BUDGETS, split_id};
use crate::common::{arguments_object, check_common, encode_body, parse_data_url, unsupported};
use crate::error::ProviderError;
use crate::id::ProviderId;
use crate::translators::{TurnEncoder, content_blocks, json_turns, thinking_budget};
use crate::types::{ChatRequest, Content, ResponseFormat, Tool, ToolCall, ToolChoice};

fn parts_of(provider: ProviderId, content: &Content) -> Result<Vec<Value>, ProviderError> {
    content_blocks(
        provider,
        content,
        |text| json!({"text": text}),
        |image| match parse_data_url(&image.url) {
            Some((mime, data)) => Ok(json!({"inlineData": {"mimeType": mime, "data": data}})),
            None => Err(unsupported(
                provider,
                "image URLs other than base64 `data:` URLs",
            )),
        },
    )
}

/// The model id as a path segment (`models/` prefix optional).
pub(super) fn model_segment(model: &str) -> Result<&str, ProviderError> {
    let m = model.strip_prefix("models/").unwrap_or(model);
    if m.is_empty()
        || !m
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(ProviderError::invalid(
            "the model id may contain only letters, digits, `-`, `.` and `_`",
            Some("model"),
        ));
    }
    Ok(m)
}

/// Builds the Gemini request body for `provider` (a Gemini-format row; it
/// names the provider in errors).
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
    check_common(p, request, NATIVE_EXTRA)?;
    model_segment(&request.model)?;
    let (system, contents) = contents(p, request)?;
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    let generation = generation_config(request)?;
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
    if let Some(tools) = &request.tools {
        let decls: Vec<Value> = tools.iter().map(function_declaration).collect();
        body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    }
    if let Some(m) = function_calling_config(request)? {
        body.insert("toolConfig".into(), json!({"functionCallingConfig": m}));
    }
    for key in ["safetySettings", "safety_settings"] {
        if let Some(v) = request.extra.get(key) {
            body.insert("safetySettings".into(), v.clone());
        }
    }
    Ok(Value::Object(body))
}

/// One `functionDeclarations` entry. The client's JSON Schema goes
/// unchanged in `parametersJsonSchema` (full JSON Schema:
/// `additionalProperties`, `$schema`, `anyOf`, `const`, ...), never in
/// `parameters` (Gemini's OpenAPI subset, which refuses those keywords).
fn function_declaration(tool: &Tool) -> Value {
    let mut d = json!({"name": tool.function.name});
    if let Some(desc) = &tool.function.description {
        d["description"] = json!(desc);
    }
    if let Some(params) = &tool.function.parameters {
        d["parametersJsonSchema"] = params.clone();
    }
    d
}

/// The `systemInstruction` parts and the `contents` turns (roles `user` and
/// `model`, consecutive same-role turns merged). Tool results are named
/// after the call they answer, with the thought signature dropped from ids.
fn contents(
    p: ProviderId,
    request: &ChatRequest,
) -> Result<(Vec<Value>, Vec<Value>), ProviderError> {
    let mut encoder = Parts {
        p,
        names: HashMap::new(),
    };
    json_turns(&request.messages, "model", "parts", &mut encoder)
}

/// Gemini's parts; `names` maps call ids to function names for the
/// results.
struct Parts {
    p: ProviderId,
    names: HashMap<String, String>,
}

impl TurnEncoder for Parts {
    type Block = Value;
    type System = Value;

    fn system(&self, content: &Content) -> Value {
        json!({"text": content.text()})
    }

    fn blocks(&self, content: &Content) -> Result<Vec<Value>, ProviderError> {
        parts_of(self.p, content)
    }

    fn tool_call(&mut self, call: &ToolCall) -> Result<Value, ProviderError> {
        let (id, signature) = split_id(&call.id);
        self.names.insert(id.to_owned(), call.function.name.clone());
        let mut part = json!({"functionCall": {"id": id, "name": call.function.name, "args": arguments_object(self.p, call)?}});
        if let Some(sig) = signature {
            part["thoughtSignature"] = json!(sig);
        }
        Ok(part)
    }

    fn tool_result(
        &mut self,
        tool_call_id: &str,
        content: &Content,
    ) -> Result<Value, ProviderError> {
        let (id, _) = split_id(tool_call_id);
        let name = self.names.get(id).cloned().ok_or_else(|| {
            ProviderError::invalid(
                format!(
                    "tool result `{}` answers no earlier tool call; Gemini needs the function name",
                    id.chars().take(64).collect::<String>()
                ),
                Some("messages"),
            )
        })?;
        Ok(
            json!({"functionResponse": {"id": id, "name": name, "response": {"content": content.text()}}}),
        )
    }
}

/// `generationConfig`: sampling, stop sequences, JSON modes and the
/// thinking budget.
fn generation_config(request: &ChatRequest) -> Result<Map<String, Value>, ProviderError> {
    let mut generation = Map::new();
    if let Some(m) = request.max_completion_tokens.or(request.max_tokens) {
        generation.insert("maxOutputTokens".into(), json!(m));
    }
    for (k, v) in [
        ("temperature", request.temperature),
        ("topP", request.top_p),
        ("presencePenalty", request.presence_penalty),
        ("frequencyPenalty", request.frequency_penalty),
    ] {
        if let Some(v) = v {
            generation.insert(k.into(), json!(v));
        }
    }
    if let Some(seed) = request.seed {
        generation.insert("seed".into(), json!(seed));
    }
    if let Some(stop) = &request.stop {
        generation.insert("stopSequences".into(), json!(stop.to_vec()));
    }
    if let Some(k) = request.extra.get("top_k") {
        generation.insert("topK".into(), k.clone());
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            generation.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            generation.insert("responseMimeType".into(), json!("application/json"));
            if let Some(schema) = json_schema.get("schema") {
                generation.insert("responseJsonSchema".into(), schema.clone());
            }
        }
    }
    if let Some(thinking) = thinking_config(request)? {
        generation.insert("thinkingConfig".into(), thinking);
    }
    Ok(generation)
}

/// `thinkingConfig`: the budget for a `reasoning_effort`, and
/// `includeThoughts` whenever the model thinks (an effort is given, or the
/// model thinks by default), so thought parts come back as
/// `reasoning_content`.
fn thinking_config(request: &ChatRequest) -> Result<Option<Value>, ProviderError> {
    if let Some(effort) = &request.reasoning_effort {
        let budget = thinking_budget(&THINKING_BUDGETS, effort)?;
        return Ok(Some(
            json!({"thinkingBudget": budget, "includeThoughts": true}),
        ));
    }
    Ok(thinks_by_default(&request.model).then(|| json!({"includeThoughts": true})))
}

/// Gemini 2.5 and 3.x text models think unless told otherwise (image and
/// speech variants take no `thinkingConfig`).
fn thinks_by_default(model: &str) -> bool {
    let m = model.strip_prefix("models/").unwrap_or(model);
    (m.starts_with("gemini-2.5") || m.starts_with("gemini-3"))
        && !m.contains("-image")
        && !m.contains("-tts")
}

/// `tool_choice` → `functionCallingConfig`.
fn function_calling_config(request: &ChatRequest) -> Result<Option<Value>, ProviderError> {
    Ok(match &request.tool_choice {
        None => None,
        Some(ToolChoice::Mode(m)) => match m.as_str() {
            "auto" => Some(json!({"mode": "AUTO"})),
            "required" => Some(json!({"mode": "ANY"})),
            "none" => Some(json!({"mode": "NONE"})),
            _ => {
                return Err(ProviderError::invalid(
                    "unknown `tool_choice`",
                    Some("tool_choice"),
                ));
            }
        },
        Some(ToolChoice::Named(n)) => {
            Some(json!({"mode": "ANY", "allowedFunctionNames": [n.function.name]}))
        }
        // Refused by `check_common` (`ChatRequest::unmodelled`).
        Some(ToolChoice::Other(_)) => {
            return Err(ProviderError::invalid(
                "unsupported `tool_choice`",
                Some("tool_choice"),
            ));
        }
    })
}

/// Test support: the inverse of the request mapping.
#[cfg(test)]
fn wire_to_neutral(body: &Value) -> (Vec<crate::types::Message>, Vec<String>) {
    use super::join_id;
    use crate::translators::function_call;
    use crate::translators::inverse::{names, push_turn, system, text, tool};

    let mut out = Vec::new();
    let parts = body.pointer("/systemInstruction/parts");
    for p in parts.and_then(Value::as_array).into_iter().flatten() {
        out.push(system(text(p, "text")));
    }
    for c in body["contents"].as_array().into_iter().flatten() {
        let mut said = String::new();
        let mut calls = Vec::new();
        for p in c["parts"].as_array().into_iter().flatten() {
            if let Some(t) = p["text"].as_str() {
                said.push_str(t);
            } else if let Some(fc) = p.get("functionCall") {
                let id = join_id(
                    fc["id"].as_str().unwrap_or(""),
                    p["thoughtSignature"].as_str(),
                );
                calls.push(function_call(id, text(fc, "name"), fc["args"].to_string()));
            } else if let Some(fr) = p.get("functionResponse") {
                out.push(tool(text(fr, "id"), text(&fr["response"], "content")));
            }
        }
        let said = (!said.is_empty()).then_some(said);
        push_turn(&mut out, c["role"] == "model", said, calls);
    }
    let tools = names(&body["tools"][0]["functionDeclarations"], "/name");
    (out, tools)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translators::gemini::join_id;
    use crate::types::Message;
    use proptest::prelude::*;

    use crate::translators::inverse::req;

    #[test]
    fn request_mapping_and_signature_round_trip() {
        let r = req(json!({
            "model": "gemini-2.5-flash",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_0~ts~CiQBVKhc7sig==", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "call_0~ts~CiQBVKhc7sig==", "content": "42"}
            ],
            "max_tokens": 100, "temperature": 0.5, "seed": 3, "stop": ["END"],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "reasoning_effort": "low"
        }));
        let w = to_wire(ProviderId::Google, &r).unwrap();
        assert_eq!(w["systemInstruction"]["parts"][0]["text"], "Be brief.");
        assert_eq!(
            w["contents"][0]["parts"][1]["inlineData"],
            json!({"mimeType": "image/jpeg", "data": "/9j/"})
        );
        assert_eq!(w["contents"][1]["role"], "model");
        assert_eq!(
            w["contents"][1]["parts"][0]["functionCall"],
            json!({"id": "call_0", "name": "f", "args": {"a": 1}})
        );
        assert_eq!(
            w["contents"][1]["parts"][0]["thoughtSignature"],
            "CiQBVKhc7sig=="
        );
        assert_eq!(
            w["contents"][2]["parts"][0]["functionResponse"],
            json!({"id": "call_0", "name": "f", "response": {"content": "42"}})
        );
        let g = &w["generationConfig"];
        assert_eq!(
            (
                g["maxOutputTokens"].clone(),
                g["seed"].clone(),
                g["stopSequences"].clone()
            ),
            (json!(100), json!(3), json!(["END"]))
        );
        assert_eq!(g["responseMimeType"], "application/json");
        assert_eq!(g["responseJsonSchema"], json!({"type": "object"}));
        assert_eq!(g["thinkingConfig"]["thinkingBudget"], 1024);
        assert_eq!(g["thinkingConfig"]["includeThoughts"], true);
        assert_eq!(
            w["tools"][0]["functionDeclarations"][0],
            json!({"name": "f", "parametersJsonSchema": {"type": "object"}})
        );
        assert_eq!(
            w["toolConfig"]["functionCallingConfig"],
            json!({"mode": "ANY", "allowedFunctionNames": ["f"]})
        );
    }

    #[test]
    fn include_thoughts_when_the_model_thinks() {
        let thoughts = |model: &str, effort: Option<&str>| {
            let mut r =
                req(json!({"model": model, "messages": [{"role": "user", "content": "x"}]}));
            r.reasoning_effort = effort.map(str::to_owned);
            to_wire(ProviderId::Google, &r).unwrap()["generationConfig"]["thinkingConfig"].clone()
        };
        for model in [
            "gemini-2.5-flash",
            "models/gemini-2.5-pro",
            "gemini-3-pro-preview",
        ] {
            assert_eq!(
                thoughts(model, None),
                json!({"includeThoughts": true}),
                "{model}"
            );
        }
        for model in [
            "gemini-2.0-flash",
            "gemini-2.5-flash-image",
            "gemini-2.5-flash-preview-tts",
        ] {
            assert_eq!(thoughts(model, None), Value::Null, "{model}");
        }
        assert_eq!(
            thoughts("gemini-2.0-flash-thinking-exp", Some("high")),
            json!({"thinkingBudget": 24576, "includeThoughts": true})
        );
    }

    #[test]
    fn refusals() {
        let url_image = req(
            json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}),
        );
        assert!(matches!(
            to_wire(ProviderId::Google, &url_image),
            Err(ProviderError::Unsupported { .. })
        ));
        let orphan = req(
            json!({"model": "gemini-2.5-flash", "messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}),
        );
        assert!(matches!(
            to_wire(ProviderId::Google, &orphan),
            Err(ProviderError::InvalidRequest { .. })
        ));
        let bad_model = req(
            json!({"model": "gemini/../../x?alt=json", "messages": [{"role": "user", "content": "x"}]}),
        );
        assert!(matches!(
            to_wire(ProviderId::Google, &bad_model),
            Err(ProviderError::InvalidRequest { .. })
        ));
    }

    fn conversation() -> impl Strategy<Value = Vec<Message>> {
        // Every other call carries a thought signature in its id; results
        // answer the id without it.
        crate::test_support::conversation(crate::test_support::Shape {
            call_id: |n, signature| {
                join_id(&format!("call_{n}"), (n % 2 == 0).then_some(signature))
            },
            result_id: |id| split_id(id).0.to_owned(),
            user_runs: false,
        })
    }

    proptest! {
        #[test]
        fn neutral_to_gemini_to_neutral(messages in conversation(), tools in proptest::collection::btree_set("[a-z]{1,8}", 0..3)) {
            let tools: Vec<String> = tools.into_iter().collect();
            let mut r = req(json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]}));
            r.messages = messages.clone();
            if !tools.is_empty() {
                r.tools = Some(tools.iter().map(|t| serde_json::from_value(json!({"type": "function", "function": {"name": t}})).unwrap()).collect());
            }
            let (back, back_tools) = wire_to_neutral(&to_wire(ProviderId::Google, &r).unwrap());
            prop_assert_eq!(back, messages);
            prop_assert_eq!(back_tools, tools);
        }
    }
}
