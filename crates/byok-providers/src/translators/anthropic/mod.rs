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
use reqwest::header::HeaderName;
use serde::Deserialize;
use serde_json::Value;

pub use self::request::encode_request;
use self::response::decode_response;
pub(crate) use self::stream::AnthropicStream;
use crate::credential::Credential;
use crate::error::ProviderError;
use crate::http::{self, Listing, Upstream};
use crate::id::ProviderId;
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

/// Where `GET v1/models` keeps the models.
const MODELS: Listing = Listing {
    key: "data",
    bare: false,
    id: "id",
    prefix: "",
    owned_by: "anthropic",
};

/// The Anthropic translator.
pub struct Anthropic {
    up: Upstream,
}

impl std::fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.up.fmt_as("Anthropic", f)
    }
}

impl Anthropic {
    /// The translator for `anthropic` (base URL from config) or
    /// `azure-anthropic-foundry` (base from the credential's endpoint unless
    /// overridden).
    pub fn new(id: ProviderId, client: reqwest::Client, config: Arc<ProviderConfig>) -> Self {
        let base = config.base_url(id).to_owned();
        Self {
            up: Upstream::new(id, &base, client, config),
        }
    }

    /// The `messages` request for `request`, authorised, and its key.
    fn messages(
        &self,
        request: &ChatRequest,
        credential: &Credential,
        stream: bool,
    ) -> Result<(reqwest::RequestBuilder, secrecy::SecretString), ProviderError> {
        let body = encode_request(self.up.id, request, stream)?;
        let (builder, key) = self.up.post_json(credential, "messages", body)?;
        Ok((versioned(builder), key))
    }
}

/// Adds the `anthropic-version` header.
fn versioned(builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    builder.header(
        HeaderName::from_static("anthropic-version"),
        ANTHROPIC_VERSION,
    )
}

#[derive(Deserialize)]
struct ModelPage {
    #[serde(default)]
    data: Vec<Value>,
}

#[async_trait]
impl ChatProvider for Anthropic {
    fn id(&self) -> ProviderId {
        self.up.id
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatOutcome, ProviderError> {
        let (builder, key) = self.messages(request, credential, false)?;
        let bytes = self.up.fetch(builder, &key).await?;
        Ok(ChatOutcome::new(decode_response(self.up.id, &bytes)?))
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatStream, ProviderError> {
        let (builder, key) = self.messages(request, credential, true)?;
        let (id, usage) = (self.up.id, request.wants_stream_usage());
        self.up
            .sse(builder, key, |key| AnthropicStream::new(id, usage, key))
            .await
    }

    async fn list_models(&self, credential: &Credential) -> Result<Vec<ModelInfo>, ProviderError> {
        let (builder, key) = self.up.get(credential, "models")?;
        let bytes = self.up.fetch(versioned(builder), &key).await?;
        let page: ModelPage = http::parse_json(self.up.id, "model list", &bytes)?;
        Ok(MODELS.models(page.data.iter()))
    }
}
