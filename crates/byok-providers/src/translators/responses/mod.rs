//! OpenAI Responses: `openai-responses` and `azure-responses`.
//!
//! Chat requests become Responses `input` items (system and developer
//! messages become `instructions`), tools are flattened, `store` is always
//! `false` (the gateway keeps no state upstream). Output items and the
//! streaming events come back as chat responses and chunks; usage comes from
//! `response.completed` / `response.incomplete`; `response.failed` and
//! `error` events end the stream with an error. The mapping table is in
//! `docs/providers.md`.
//!
//! # Layout
//!
//! | file | holds |
//! |---|---|
//! | `request.rs` | neutral request → wire body (`refuse`, `input`, `sampling`, `tools`, `tool_choice`, `text_format`) |
//! | `response.rs` | the typed `response` object (answer and `response.*` events): output items, finish, usage |
//! | `stream.rs` | typed SSE events (`#[serde(tag = "type")]`) → chunks, one handler per event |
//! | `mod.rs` | the adapter ([`ChatProvider`](crate::ChatProvider)): URL and auth header from the row's target, HTTP |

mod request;
mod response;
mod stream;

use std::sync::Arc;

use async_trait::async_trait;

pub use self::request::encode_request;
use self::response::decode_response;
pub(crate) use self::stream::ResponsesStream;
use crate::credential::Credential;
use crate::error::ProviderError;
use crate::http::{Listing, Upstream};
use crate::id::ProviderId;
use crate::provider::{ChatOutcome, ChatProvider, ProviderConfig};
use crate::stream::ChatStream;
use crate::types::{ChatRequest, ModelInfo};

/// Extra fields passed through as Responses-native parameters.
const NATIVE_EXTRA: &[&str] = &[
    "reasoning",
    "truncation",
    "include",
    "text",
    "prompt_cache_key",
    "safety_identifier",
];

/// Where `GET models` keeps the models (`data`, or a bare array).
const MODELS: Listing = Listing {
    key: "data",
    bare: true,
    id: "id",
    prefix: "",
    owned_by: "openai",
};

/// The Responses translator.
pub struct Responses {
    up: Upstream,
}

impl std::fmt::Debug for Responses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.up.fmt_as("Responses", f)
    }
}

impl Responses {
    /// The translator for `openai-responses` or `azure-responses`.
    pub fn new(id: ProviderId, client: reqwest::Client, config: Arc<ProviderConfig>) -> Self {
        let base = config.base_url(id).to_owned();
        Self {
            up: Upstream::new(id, &base, client, config),
        }
    }
}

#[async_trait]
impl ChatProvider for Responses {
    fn id(&self) -> ProviderId {
        self.up.id
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatOutcome, ProviderError> {
        let body = encode_request(self.up.id, request, false)?;
        let (builder, secret) = self.up.post_json(credential, "responses", body)?;
        let bytes = self.up.fetch(builder, &secret).await?;
        Ok(ChatOutcome::new(decode_response(self.up.id, &bytes)?))
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatStream, ProviderError> {
        let body = encode_request(self.up.id, request, true)?;
        let (builder, secret) = self.up.post_json(credential, "responses", body)?;
        let (id, usage) = (self.up.id, request.wants_stream_usage());
        self.up
            .sse(builder, secret, |secret| ResponsesStream::new(id, usage, secret))
            .await
    }

    async fn list_models(&self, credential: &Credential) -> Result<Vec<ModelInfo>, ProviderError> {
        let (builder, secret) = self.up.get(credential, "models")?;
        self.up.list_models(builder, &secret, &MODELS).await
    }
}
