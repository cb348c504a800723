//! Google AI Studio, native Gemini API (`generateContent`,
//! `streamGenerateContent?alt=sse`), key in `x-goog-api-key` only.
//!
//! Mapping (full table in `docs/providers.md`): system and developer
//! messages → `systemInstruction`; turns → `contents` with roles `user` and
//! `model` (consecutive same-role turns merged); images → `inlineData` (data
//! URLs only: Gemini cannot fetch arbitrary URLs, other URLs are a 400);
//! tool calls → `functionCall` parts with `args` objects, tool results →
//! `functionResponse` parts named after the call they answer; tools →
//! `functionDeclarations`; sampling → `generationConfig`; JSON modes →
//! `responseMimeType` (+ `responseJsonSchema`); `reasoning_effort` →
//! `thinkingConfig.thinkingBudget`.
//!
//! **Thought signatures.** Gemini attaches a `thoughtSignature` to function
//! calls that must come back unchanged on the next turn. The gateway carries
//! it in the tool-call id the client sees: the call id, then
//! [`SIGNATURE_SEPARATOR`], then the signature. Clients echo tool-call ids
//! verbatim (in the assistant
//! message and in each tool result), so the next request restores the
//! signature on the `functionCall` part and the plain id on the
//! `functionResponse`.
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
//! | `request.rs` | neutral request → wire body (`contents`, `generation_config`, tools, `function_calling_config`, safety settings) |
//! | `response.rs` | the typed `GenerateContentResponse` (answer and every stream chunk): parts, finish, usage |
//! | `stream.rs` | the chunk-by-chunk state machine (start, content, finish at EOF) |
//! | `mod.rs` | the adapter ([`ChatProvider`](crate::ChatProvider)): `v1beta/models/{model}:generateContent` URLs, `x-goog-api-key`, HTTP |

mod request;
mod response;
mod stream;

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

pub use self::request::encode_request;
use self::request::model_segment;
use self::response::decode_response;
pub(crate) use self::stream::GoogleStream;
use crate::credential::Credential;
use crate::error::{CredentialError, ProviderError};
use crate::http;
use crate::id::ProviderId;
use crate::openai::sensitive;
use crate::provider::{ChatOutcome, ChatProvider, ProviderConfig};
use crate::stream::ChatStream;
use crate::types::{ChatRequest, ModelInfo};

/// Separates a tool-call id from the Gemini thought signature it carries.
pub const SIGNATURE_SEPARATOR: &str = "~ts~";

/// Thinking budgets for `reasoning_effort` low / medium / high (also read
/// by `crate::limits` to bound a request's output).
pub(crate) const THINKING_BUDGETS: [(&str, u32); 3] =
    [("low", 1024), ("medium", 8192), ("high", 24576)];

/// Extra fields passed through as Gemini-native parameters.
const NATIVE_EXTRA: &[&str] = &["safetySettings", "safety_settings", "top_k"];

/// The Gemini translator.
pub struct Google {
    id: ProviderId,
    base: String,
    client: reqwest::Client,
    config: Arc<ProviderConfig>,
}

impl std::fmt::Debug for Google {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Google")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn split_id(id: &str) -> (&str, Option<&str>) {
    match id.split_once(SIGNATURE_SEPARATOR) {
        Some((id, sig)) => (id, Some(sig)),
        None => (id, None),
    }
}

fn join_id(id: &str, signature: Option<&str>) -> String {
    match signature {
        Some(s) if !s.is_empty() => format!("{id}{SIGNATURE_SEPARATOR}{s}"),
        _ => id.to_owned(),
    }
}

impl Google {
    /// The translator for `id` (a Gemini-format row), at its configured
    /// base URL.
    pub fn new(id: ProviderId, client: reqwest::Client, config: Arc<ProviderConfig>) -> Self {
        Self {
            id,
            base: config.base_url(id).trim_end_matches('/').to_owned(),
            client,
            config,
        }
    }

    fn key(credential: &Credential) -> Result<&SecretString, ProviderError> {
        match credential {
            Credential::ApiKey(k) => Ok(k),
            _ => Err(CredentialError::WrongProvider.into()),
        }
    }

    fn post(
        &self,
        url: String,
        key: &SecretString,
        body: Vec<u8>,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        Ok(self
            .client
            .post(url)
            .header(
                HeaderName::from_static("x-goog-api-key"),
                sensitive(key.expose_secret())?,
            )
            .header(CONTENT_TYPE, "application/json")
            .body(body))
    }
}

#[async_trait]
impl ChatProvider for Google {
    fn id(&self) -> ProviderId {
        self.id
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatOutcome, ProviderError> {
        let body = request::encode(self.id, request)?;
        let key = Self::key(credential)?;
        let url = format!(
            "{}/v1beta/models/{}:generateContent",
            self.base,
            model_segment(&request.model)?
        );
        let bytes = http::fetch(
            self.id,
            &self.config,
            self.post(url, key, body)?,
            Some(key.expose_secret()),
        )
        .await?;
        let response = decode_response(self.id, &bytes)?;
        Ok(ChatOutcome::new(response))
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatStream, ProviderError> {
        let body = request::encode(self.id, request)?;
        let key = Self::key(credential)?;
        let url = format!(
            "{}/v1beta/models/{}:streamGenerateContent?alt=sse",
            self.base,
            model_segment(&request.model)?
        );
        let builder = self
            .post(url, key, body)?
            .header(ACCEPT, "text/event-stream");
        let response =
            http::send(self.id, &self.config, builder, Some(key.expose_secret())).await?;
        let translator = GoogleStream::new(self.id, request.wants_stream_usage(), key.clone());
        Ok(ChatStream::new(http::sse_stream(
            self.id,
            response,
            &self.config,
            translator,
        )))
    }

    async fn list_models(&self, credential: &Credential) -> Result<Vec<ModelInfo>, ProviderError> {
        let key = Self::key(credential)?;
        let builder = self
            .client
            .get(format!("{}/v1beta/models", self.base))
            .header(
                HeaderName::from_static("x-goog-api-key"),
                sensitive(key.expose_secret())?,
            );
        let bytes = http::fetch(self.id, &self.config, builder, Some(key.expose_secret())).await?;
        let v: Value = http::parse_json(self.id, "model list", &bytes)?;
        Ok(v.get("models")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("name").and_then(Value::as_str))
            .map(|n| ModelInfo {
                id: n.strip_prefix("models/").unwrap_or(n).to_owned(),
                object: "model".into(),
                owned_by: "google".into(),
            })
            .collect())
    }
}
