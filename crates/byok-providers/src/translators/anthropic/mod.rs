//! Anthropic Messages: `anthropic` and `azure-anthropic-foundry`.
//!
//! Same translator, two targets: `{base}/v1/messages` with `x-api-key` for
//! Anthropic, `{endpoint}v1/messages` with `x-api-key` for Azure AI Foundry.
//! The mapping table is in `docs/providers.md`; in short:
//!
//! - system and developer messages become the top-level `system`;
//!   consecutive same-role messages are merged (tool results become
//!   `tool_result` blocks of one user message, so parallel results stay
//!   together); images become `image` blocks (base64 or URL source);
//! - `max_tokens` is required upstream: the client's `max_completion_tokens`
//!   or `max_tokens`, else [`DEFAULT_MAX_TOKENS`];
//! - `stop` → `stop_sequences`, tools → `input_schema`, `tool_choice` →
//!   `auto`/`any`/`none`/`tool`, `parallel_tool_calls: false` →
//!   `disable_parallel_tool_use`, `user` → `metadata.user_id`,
//!   `reasoning_effort` → `thinking` with a budget;
//! - refused with a 400: `response_format` JSON modes, `n > 1`, `logprobs`,
//!   penalties, `logit_bias`; dropped as harmless: `seed`.
//! - Streaming: `message_start` → role chunk, text deltas → `content`,
//!   `tool_use` starts → tool-call id and name, `input_json_delta` →
//!   argument fragments, thinking deltas → `reasoning_content`,
//!   `message_delta` → finish reason, usage from `message_start` (input and
//!   cache) plus the cumulative `output_tokens`.
//!
//! # Layout
//!
//! | file | holds |
//! |---|---|
//! | `request.rs` | neutral request → wire body (`refuse`, `messages`, `tools`, `tool_choice`, `thinking`) |
//! | `response.rs` | the Messages answer → [`ChatResponse`](crate::ChatResponse), stop reasons, usage |
//! | `stream.rs` | typed SSE events (`#[serde(tag = "type")]`) → chunks, one handler per event |
//! | `mod.rs` | the adapter ([`ChatProvider`](crate::ChatProvider)): URL and key from the row's target, headers, HTTP |

mod request;
mod response;
mod stream;

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderName};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

pub use self::request::encode_request;
use self::response::decode_response;
pub(crate) use self::stream::AnthropicStream;
use crate::credential::Credential;
use crate::error::ProviderError;
use crate::http;
use crate::id::ProviderId;
use crate::openai::sensitive;
use crate::provider::{ChatOutcome, ChatProvider, ProviderConfig};
use crate::stream::ChatStream;
use crate::types::{ChatRequest, ModelInfo};

/// `max_tokens` sent when the client gives none (Anthropic requires it).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// The `anthropic-version` header value.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Thinking budgets for `reasoning_effort` low / medium / high.
const THINKING_BUDGETS: [(&str, u32); 3] = [("low", 1024), ("medium", 4096), ("high", 16384)];

/// Extra fields passed through as Anthropic-native parameters.
const NATIVE_EXTRA: &[&str] = &["top_k", "thinking"];

/// The Anthropic translator.
pub struct Anthropic {
    id: ProviderId,
    base: String,
    client: reqwest::Client,
    config: Arc<ProviderConfig>,
}

impl std::fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anthropic")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Anthropic {
    /// The translator for `anthropic` (base URL from config) or
    /// `azure-anthropic-foundry` (base from the credential's endpoint unless
    /// overridden).
    pub fn new(id: ProviderId, client: reqwest::Client, config: Arc<ProviderConfig>) -> Self {
        let base = config.base_url(id).to_owned();
        Self {
            id,
            base,
            client,
            config,
        }
    }

    fn target(
        &self,
        credential: &Credential,
        path: &str,
    ) -> Result<(String, SecretString), ProviderError> {
        let target = crate::target::Target::resolve(self.id, &self.base, credential)?;
        Ok((target.url(path), target.secret().clone()))
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
                HeaderName::from_static("x-api-key"),
                sensitive(key.expose_secret())?,
            )
            .header(
                HeaderName::from_static("anthropic-version"),
                ANTHROPIC_VERSION,
            )
            .header(CONTENT_TYPE, "application/json")
            .body(body))
    }
}

#[derive(Deserialize)]
struct ModelPage {
    #[serde(default)]
    data: Vec<Value>,
}

#[async_trait]
impl ChatProvider for Anthropic {
    fn id(&self) -> ProviderId {
        self.id
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatOutcome, ProviderError> {
        let body = encode_request(self.id, request, false)?;
        let (url, key) = self.target(credential, "messages")?;
        let bytes = http::fetch(
            self.id,
            &self.config,
            self.post(url, &key, body)?,
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
        let body = encode_request(self.id, request, true)?;
        let (url, key) = self.target(credential, "messages")?;
        let builder = self
            .post(url, &key, body)?
            .header(reqwest::header::ACCEPT, "text/event-stream");
        let response =
            http::send(self.id, &self.config, builder, Some(key.expose_secret())).await?;
        let translator = AnthropicStream::new(self.id, request.wants_stream_usage(), key);
        Ok(ChatStream::new(http::sse_stream(
            self.id,
            response,
            &self.config,
            translator,
        )))
    }

    async fn list_models(&self, credential: &Credential) -> Result<Vec<ModelInfo>, ProviderError> {
        let (url, key) = self.target(credential, "models")?;
        let builder = self
            .client
            .get(url)
            .header(
                HeaderName::from_static("x-api-key"),
                sensitive(key.expose_secret())?,
            )
            .header(
                HeaderName::from_static("anthropic-version"),
                ANTHROPIC_VERSION,
            );
        let bytes = http::fetch(self.id, &self.config, builder, Some(key.expose_secret())).await?;
        let page: ModelPage = http::parse_json(self.id, "model list", &bytes)?;
        Ok(page
            .data
            .iter()
            .filter_map(|m| m.get("id").and_then(Value::as_str))
            .map(|id| ModelInfo {
                id: id.to_owned(),
                object: "model".into(),
                owned_by: "anthropic".into(),
            })
            .collect())
    }
}
