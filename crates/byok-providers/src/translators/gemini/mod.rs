//! Google AI Studio, native Gemini API (`generateContent`,
//! `streamGenerateContent?alt=sse`), key in `x-goog-api-key` only.
//!
//! Mapping (full table in `docs/providers.md`):
//!
//! | neutral | Gemini |
//! |---|---|
//! | system / developer messages | `systemInstruction` |
//! | turns | `contents`, roles `user` / `model` (consecutive same-role turns merged) |
//! | text parts | `text` parts (`cache_control` ignored: Gemini caches implicitly) |
//! | images | `data:` URL → `inlineData`; `https:` URL → `fileData {fileUri, mimeType?}` (type from the extension); other URLs → 400 |
//! | `file` parts | `file_data` (`data:` URL) → `inlineData`; `file_id` → 400 |
//! | `input_audio` | `inlineData` `audio/wav` / `audio/mp3` (also aiff, aac, ogg, flac) |
//! | tool calls / results | `functionCall {id, name, args}` / `functionResponse {id, name, response}` |
//! | tools | `functionDeclarations`, JSON Schema unchanged in `parametersJsonSchema` (never `parameters`, the OpenAPI subset that refuses `additionalProperties`, `$schema`, `anyOf`, `const`) |
//! | `tool_choice` none / auto / required / named | `functionCallingConfig.mode` NONE / AUTO / ANY / ANY + `allowedFunctionNames` |
//! | sampling, `stop`, `seed`, limits | `generationConfig`, merged into the client's own `generationConfig` (from `extra`) |
//! | `response_format` `json_object` / `json_schema` | `responseMimeType: application/json` (+ `responseJsonSchema`, the JSON Schema unchanged) |
//! | `reasoning_effort`, OpenRouter `reasoning` | `thinkingConfig.thinkingLevel` (3.x) / `thinkingBudget` (2.5), see `thinking.rs` |
//! | thinking | `includeThoughts: true` whenever the model thinks; thought parts → `reasoning_content` |
//! | `thoughtSignature` | `reasoning_details` `reasoning.encrypted` entries (`google-gemini-v1`), and back on the part, see `signatures.rs` |
//! | `groundingMetadata`, `citationMetadata` | `annotations` `url_citation` (see `citations.rs`) |
//! | finish reasons | `MAX_TOKENS` → `length`; safety family, blocked prompt → `content_filter`; `STOP` → `stop` / `tool_calls`; malformed calls and the rest → `stop`, with `native_finish_reason` |
//!
//! **Tool-call ids** are Gemini's `functionCall.id` when valid for every
//! provider, else `call_<responseId>_<n>`: never a signature inside, never
//! `call_0` again next turn. Ids from older gateways
//! (`<id>`[`SIGNATURE_SEPARATOR`]`<signature>`) are still decoded.
//!
//! Usage: `promptTokenCount` (cached included) → `prompt_tokens`,
//! `cachedContentTokenCount` → `cached_tokens`, `candidatesTokenCount +
//! thoughtsTokenCount` → `completion_tokens` (thoughts are billed as
//! output), `thoughtsTokenCount` → `reasoning_tokens`.
//!
//! # Layout
//!
//! | file | holds |
//! |---|---|
//! | `request.rs` | neutral request → wire body (`contents`, parts, `generation_config`, `function_declaration`, `function_calling_config`, safety settings) |
//! | `thinking.rs` | `reasoning_effort` / `reasoning` → `thinkingLevel` or `thinkingBudget` per model |
//! | `signatures.rs` | tool-call ids, thought signatures out (`reasoning_details`) and back in, the Gemini 3 placeholder |
//! | `citations.rs` | grounding and citation metadata → `url_citation` annotations |
//! | `response.rs` | the typed `GenerateContentResponse` (answer and every stream chunk): parts, finish, usage |
//! | `stream.rs` | the chunk-by-chunk state machine (start, content, finish at EOF) |
//! | `mod.rs` | the adapter ([`ChatProvider`](crate::ChatProvider)): `v1beta/models/{model}:generateContent` URLs, `x-goog-api-key`, HTTP; the output limit read by `crate::limits` |

mod citations;
pub(crate) mod embeddings;
mod request;
mod response;
mod signatures;
mod stream;
mod thinking;

use std::sync::Arc;

use secrecy::SecretString;

pub use self::request::encode_request;
use self::request::model_segment;
use self::response::decode_response;
pub(crate) use self::stream::GoogleStream;
use crate::credential::Credential;
use crate::error::ProviderError;
use crate::http::{Listing, Sse, Upstream};
use crate::id::ProviderId;
use crate::provider::{ChatOutcome, ProviderConfig};
use crate::translators::Dialect;
use crate::types::{ChatRequest, ModelInfo};

/// Separated a tool-call id from the Gemini thought signature it carried in
/// the legacy id form `<id>~ts~<signature>`. Such ids are still decoded when
/// a client sends one back, never produced: signatures now travel in
/// `reasoning_details`.
pub const SIGNATURE_SEPARATOR: &str = "~ts~";

/// Extra fields read as Gemini-native parameters: safety settings, `top_k`,
/// the client's own `generationConfig` (merged), and OpenRouter's
/// `reasoning`.
const NATIVE_EXTRA: &[&str] = &[
    "safetySettings",
    "safety_settings",
    "top_k",
    "generationConfig",
    "generation_config",
    "reasoning",
];

/// Where `GET v1beta/models` keeps the models (`models/` prefixes
/// stripped).
const MODELS: Listing = Listing {
    key: "models",
    bare: false,
    id: "name",
    prefix: "models/",
    owned_by: "google",
};

/// The Gemini translator.
pub struct Google {
    up: Upstream,
}

impl std::fmt::Debug for Google {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.up.fmt_as("Google", f)
    }
}

/// The most output tokens `request` may produce once translated: the
/// `maxOutputTokens` sent (the request's limit, else one in the client's
/// `generationConfig`) plus the `thinkingBudget` sent, counted on top to be
/// safe; `None` without a limit. With a `thinkingLevel` (Gemini 3) nothing
/// is added: a level has no token count, and `maxOutputTokens` bounds the
/// answer. Read by `crate::limits`; it encodes the `generationConfig` the
/// translator sends, so the two cannot drift.
pub(crate) fn output_limit(request: &ChatRequest) -> Option<u64> {
    let sent = request
        .max_completion_tokens
        .or(request.max_tokens)
        .map(u64::from);
    let Ok(generation) = request::generation_config(request) else {
        return sent;
    };
    let max = generation
        .get("maxOutputTokens")
        .and_then(serde_json::Value::as_u64)
        .or(sent)?;
    let budget = generation
        .get("thinkingConfig")
        .and_then(|t| t.get("thinkingBudget"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    Some(max.saturating_add(budget))
}

/// Test support: a legacy `<id>~ts~<signature>` id.
#[cfg(test)]
fn join_id(id: &str, signature: Option<&str>) -> String {
    match signature {
        Some(s) if !s.is_empty() => format!("{id}{SIGNATURE_SEPARATOR}{s}"),
        _ => id.to_owned(),
    }
}

impl Google {
    /// The translator for `id` (a Gemini-format row), at its configured
    /// base URL.
    pub fn new(
        id: ProviderId,
        client: crate::transport::HttpClient,
        config: Arc<ProviderConfig>,
    ) -> Self {
        Self {
            up: Upstream::configured(id, client, config),
        }
    }
}

impl Dialect for Google {
    type Stream = Sse<GoogleStream>;

    fn upstream(&self) -> &Upstream {
        &self.up
    }

    /// `v1beta/models/{model}:generateContent`, or
    /// `:streamGenerateContent?alt=sse`.
    fn chat_request(
        &self,
        request: &ChatRequest,
        credential: &Credential,
        stream: bool,
    ) -> Result<(crate::transport::RequestBuilder, SecretString), ProviderError> {
        let body = request::encode_request(self.up.id, request)?;
        let model = model_segment(&request.model)?;
        let op = if stream {
            format!("v1beta/models/{model}:streamGenerateContent?alt=sse")
        } else {
            format!("v1beta/models/{model}:generateContent")
        };
        self.up.post_json(credential, &op, body, stream)
    }

    fn decode(&self, _: &ChatRequest, bytes: Vec<u8>) -> Result<ChatOutcome, ProviderError> {
        Ok(ChatOutcome::new(decode_response(self.up.id, &bytes)?))
    }

    fn translator(&self, request: &ChatRequest, secret: SecretString) -> Self::Stream {
        let translator = GoogleStream::new(self.up.id, request.wants_stream_usage(), secret);
        Sse::new(self.up.id, &self.up.config, translator)
    }

    fn models_request(
        &self,
        credential: &Credential,
    ) -> Result<(crate::transport::RequestBuilder, SecretString), ProviderError> {
        self.up.get(credential, "v1beta/models")
    }

    fn models(&self, bytes: &[u8]) -> Result<Vec<ModelInfo>, ProviderError> {
        MODELS.parse(self.up.id, bytes)
    }
}
