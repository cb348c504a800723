//! Neutral request → Gemini `generateContent` body.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::NATIVE_EXTRA;
use super::signatures::{Replay, fill_missing, on_last_text, split_id};
use super::thinking::{self, is_gemini_3};
use crate::common::{
    arguments_object, check_common_parts, encode_body, inline_file, parse_data_url, unsupported,
};
use crate::error::ProviderError;
use crate::id::ProviderId;
use crate::translators::{TurnEncoder, json_turns};
use crate::types::{
    ChatRequest, Content, ContentPart, ImageUrl, ResponseFormat, Tool, ToolCall, ToolChoice,
};

/// Content parts beyond text and images that Gemini takes.
const PARTS: &[&str] = &["file", "input_audio"];

/// The parts of `content`: text; images (`data:` URLs inline, `https:`
/// URLs as `fileData`); `file` parts with `file_data` inline; `input_audio`
/// inline. Anything else is a 400 naming it.
fn parts_of(provider: ProviderId, content: &Content) -> Result<Vec<Value>, ProviderError> {
    match content {
        Content::Text(t) => Ok(vec![json!({"text": t})]),
        Content::Parts(parts) => parts
            .iter()
            .map(|part| match part {
                ContentPart::Text { text, .. } => Ok(json!({"text": text})),
                ContentPart::ImageUrl { image_url, .. } => image(provider, image_url),
                ContentPart::Other(m) => other_part(provider, part.kind(), m),
            })
            .collect(),
    }
}

/// An image: a base64 `data:` URL inline, an `https:` URL by reference
/// (`fileData`, the media type guessed from the extension; Gemini's
/// `mimeType` is optional there). Any other URL is a 400.
fn image(provider: ProviderId, image: &ImageUrl) -> Result<Value, ProviderError> {
    if let Some((mime, data)) = parse_data_url(&image.url) {
        return Ok(json!({"inlineData": {"mimeType": mime, "data": data}}));
    }
    if image
        .url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    {
        let mut file = json!({"fileUri": image.url});
        if let Some(mime) = mime_of(&image.url) {
            file["mimeType"] = json!(mime);
        }
        return Ok(json!({"fileData": file}));
    }
    Err(unsupported(
        provider,
        "image URLs other than `https:` URLs and base64 `data:` URLs (send the image as a `data:` URL)",
    ))
}

/// The media type of a URL's file extension, for the types Gemini reads.
fn mime_of(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "gif" => "image/gif",
        "pdf" => "application/pdf",
        _ => return None,
    })
}

/// A `file` or `input_audio` part, inline.
fn other_part(
    provider: ProviderId,
    kind: &str,
    part: &Map<String, Value>,
) -> Result<Value, ProviderError> {
    let inner = |key: &str| {
        part.get(kind)
            .and_then(|v| v.get(key))
            .and_then(Value::as_str)
    };
    match kind {
        "file" => {
            let (mime, data, _) = inline_file(provider, part)?;
            Ok(json!({"inlineData": {"mimeType": mime, "data": data}}))
        }
        "input_audio" => {
            let format = inner("format").unwrap_or("").to_ascii_lowercase();
            let mime = match format.as_str() {
                "wav" => "audio/wav",
                "mp3" => "audio/mp3",
                "aiff" => "audio/aiff",
                "aac" => "audio/aac",
                "ogg" => "audio/ogg",
                "flac" => "audio/flac",
                _ => {
                    return Err(unsupported(
                        provider,
                        "`input_audio` formats other than wav, mp3, aiff, aac, ogg and flac",
                    ));
                }
            };
            match inner("data") {
                Some(data) => Ok(json!({"inlineData": {"mimeType": mime, "data": data}})),
                None => Err(ProviderError::invalid(
                    "`input_audio` parts need `data` (base64)",
                    Some("messages"),
                )),
            }
        }
        _ => Err(unsupported(
            provider,
            format!(
                "`{}` content parts",
                kind.chars().take(32).collect::<String>()
            ),
        )),
    }
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
    check_common_parts(p, request, NATIVE_EXTRA, PARTS)?;
    model_segment(&request.model)?;
    let (system, mut contents) = contents(p, request)?;
    if is_gemini_3(&request.model) {
        fill_missing(&mut contents);
    }
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
/// `model`, consecutive same-role turns merged). Thought signatures go back
/// on the parts they came with; tool results are named after the call they
/// answer.
fn contents(
    p: ProviderId,
    request: &ChatRequest,
) -> Result<(Vec<Value>, Vec<Value>), ProviderError> {
    let mut encoder = Parts {
        p,
        names: HashMap::new(),
        replay: Replay::of(&request.messages),
    };
    json_turns(&request.messages, "model", "parts", &mut encoder)
}

/// Gemini's parts; `names` maps call ids to function names for the
/// results; `replay` holds the signatures to put back.
struct Parts {
    p: ProviderId,
    names: HashMap<String, String>,
    replay: Replay,
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

    /// The text parts of an assistant message, its text signature on the
    /// last one.
    fn assistant(&mut self, content: &Content) -> Result<Vec<Value>, ProviderError> {
        let signature = self.replay.texts.pop_front().flatten();
        if content.text().is_empty() {
            return Ok(Vec::new());
        }
        let mut parts = self.blocks(content)?;
        if let Some(sig) = signature {
            on_last_text(&mut parts, sig);
        }
        Ok(parts)
    }

    fn tool_call(&mut self, call: &ToolCall) -> Result<Value, ProviderError> {
        let (id, legacy) = split_id(&call.id);
        self.names.insert(id.to_owned(), call.function.name.clone());
        let mut part = json!({"functionCall": {"id": id, "name": call.function.name, "args": arguments_object(self.p, call)?}});
        let signature = self.replay.calls.get(id).map(String::as_str).or(legacy);
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

/// `generationConfig`: the client's own `generationConfig` (from `extra`)
/// merged with sampling, stop sequences, JSON modes and thinking (the
/// request's typed fields win over the same keys there).
pub(super) fn generation_config(
    request: &ChatRequest,
) -> Result<Map<String, Value>, ProviderError> {
    let mut generation = Map::new();
    for key in ["generationConfig", "generation_config"] {
        if let Some(Value::Object(own)) = request.extra.get(key) {
            merge(&mut generation, own);
        }
    }
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
    response_format(request, &mut generation);
    thinking::apply(request, &mut generation)?;
    Ok(generation)
}

/// JSON modes: `json_object` → `responseMimeType: application/json`;
/// `json_schema` → that and the schema in `responseJsonSchema` (JSON
/// Schema as the client wrote it; an OpenAPI `responseSchema` the client
/// put in `generationConfig` gives way).
fn response_format(request: &ChatRequest, generation: &mut Map<String, Value>) {
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            generation.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            generation.insert("responseMimeType".into(), json!("application/json"));
            if let Some(schema) = json_schema.get("schema") {
                generation.remove("responseSchema");
                generation.insert("responseJsonSchema".into(), schema.clone());
            }
        }
    }
}

/// Merges `from` into `into`, objects key by key.
fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
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
        // Refused by `check_common_parts` (`ChatRequest::unmodelled_except`).
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
        // `https:` images go by reference now (see `files_audio_and_remote_images`).
        for url in ["http://x/y.png", "ftp://x/y.png", "/y.png"] {
            let url_image = req(
                json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]}),
            );
            let err = to_wire(ProviderId::Google, &url_image).unwrap_err();
            assert!(
                matches!(&err, ProviderError::Unsupported { what, .. } if what.contains("`https:` URLs and base64 `data:` URLs")),
                "{url}: {err:?}"
            );
        }
        let part = |p: Value| {
            let r = req(
                json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [p]}]}),
            );
            match to_wire(ProviderId::Google, &r) {
                Err(ProviderError::Unsupported { what, .. }) => what,
                other => panic!("{other:?}"),
            }
        };
        assert!(
            part(json!({"type": "file", "file": {"file_id": "file-abc"}}))
                .starts_with("`file_id` in `file` parts")
        );
        assert!(
            part(json!({"type": "file", "file": {"file_data": "JVBERi0="}}))
                .contains("base64 `data:` URL")
        );
        assert!(
            part(
                json!({"type": "input_audio", "input_audio": {"data": "AA==", "format": "pcm16"}})
            )
            .contains("wav, mp3")
        );
        assert_eq!(
            part(json!({"type": "video_url", "video_url": {"url": "https://x/v.mp4"}})),
            "`video_url` content parts"
        );
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

    #[test]
    fn files_audio_and_remote_images() {
        let r = req(
            json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "read"},
                {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}},
                {"type": "image_url", "image_url": {"url": "https://x.example/cat.JPG?s=1"}},
                {"type": "image_url", "image_url": {"url": "https://x.example/render"}}
            ]}]}),
        );
        let w = to_wire(ProviderId::Google, &r).unwrap();
        assert_eq!(
            w["contents"][0]["parts"],
            json!([
                {"text": "read"},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
                {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                {"inlineData": {"mimeType": "audio/mp3", "data": "SUQz"}},
                {"fileData": {"fileUri": "https://x.example/cat.JPG?s=1", "mimeType": "image/jpeg"}},
                {"fileData": {"fileUri": "https://x.example/render"}}
            ])
        );
    }

    #[test]
    fn structured_output_merges_with_the_clients_generation_config() {
        let r = req(json!({
            "model": "gemini-2.5-flash",
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 50,
            "response_format": {"type": "json_schema", "json_schema": {"name": "w", "strict": true, "schema": {"type": "object", "additionalProperties": false, "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}}},
            "generationConfig": {"candidateCount": 1, "maxOutputTokens": 9, "responseSchema": {"type": "OBJECT"}, "thinkingConfig": {"includeThoughts": false, "thinkingBudget": 99}, "mediaResolution": "MEDIA_RESOLUTION_LOW"},
            "reasoning_effort": "low"
        }));
        let g = to_wire(ProviderId::Google, &r).unwrap()["generationConfig"].clone();
        assert_eq!(
            g,
            json!({
                "candidateCount": 1,
                "maxOutputTokens": 50,
                "mediaResolution": "MEDIA_RESOLUTION_LOW",
                "responseMimeType": "application/json",
                "responseJsonSchema": {"type": "object", "additionalProperties": false, "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}]}}},
                "thinkingConfig": {"includeThoughts": false, "thinkingBudget": 1024}
            })
        );
        let json_mode = req(
            json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}, "generation_config": {"topK": 3}}),
        );
        let g = to_wire(ProviderId::Google, &json_mode).unwrap()["generationConfig"].clone();
        assert_eq!(g["responseMimeType"], "application/json");
        assert_eq!(g["topK"], 3);
        assert!(g.get("responseJsonSchema").is_none());
    }

    #[test]
    fn signatures_come_back_from_reasoning_details() {
        let msgs = |model: &str| {
            req(json!({"model": model, "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": "Let me look.", "reasoning_content": "thinking",
                 "reasoning_details": [
                    {"type": "reasoning.encrypted", "data": "SIG_TEXT", "format": "google-gemini-v1", "index": 0},
                    {"type": "reasoning.encrypted", "data": "SIG_A", "id": "call_r1_0", "format": "google-gemini-v1", "index": 1},
                    {"type": "reasoning.encrypted", "data": "FOREIGN", "id": "call_r1_1", "format": "anthropic-claude-v1", "index": 2},
                    {"type": "reasoning.text", "text": "t", "signature": "S", "format": "anthropic-claude-v1", "index": 3}
                 ],
                 "tool_calls": [
                    {"id": "call_r1_0", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                    {"id": "call_r1_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_r1_0", "content": "1"},
                {"role": "tool", "tool_call_id": "call_r1_1", "content": "2"},
                {"role": "assistant", "tool_calls": [{"id": "toolu_01", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "toolu_01", "content": "3"}
            ]}))
        };
        for model in ["gemini-2.5-flash", "gemini-3-flash-preview"] {
            let w = to_wire(ProviderId::Google, &msgs(model)).unwrap();
            let turn = &w["contents"][1]["parts"];
            assert_eq!(
                turn[0],
                json!({"text": "Let me look.", "thoughtSignature": "SIG_TEXT"})
            );
            assert_eq!(turn[1]["thoughtSignature"], "SIG_A");
            assert_eq!(turn[1]["functionCall"]["id"], "call_r1_0");
            assert!(
                turn[2].get("thoughtSignature").is_none(),
                "other formats are dropped"
            );
            assert_eq!(
                w["contents"][2]["parts"][1]["functionResponse"]["id"],
                "call_r1_1"
            );
            // A turn from another provider: no signature to give back.
            let foreign = &w["contents"][3]["parts"][0];
            assert_eq!(foreign["functionCall"]["id"], "toolu_01");
            if model.starts_with("gemini-3") {
                assert_eq!(
                    foreign["thoughtSignature"],
                    "skip_thought_signature_validator"
                );
            } else {
                assert!(foreign.get("thoughtSignature").is_none(), "{model}");
            }
        }
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
