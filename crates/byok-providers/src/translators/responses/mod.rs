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
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

pub use self::request::encode_request;
use self::response::decode_response;
pub(crate) use self::stream::ResponsesStream;
use crate::credential::Credential;
use crate::error::ProviderError;
use crate::http;
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

/// The Responses translator.
pub struct Responses {
    id: ProviderId,
    base: String,
    client: reqwest::Client,
    config: Arc<ProviderConfig>,
}

impl std::fmt::Debug for Responses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responses")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Responses {
    /// The translator for `openai-responses` or `azure-responses`.
    pub fn new(id: ProviderId, client: reqwest::Client, config: Arc<ProviderConfig>) -> Self {
        let base = config.base_url(id);
        Self {
            id,
            base: base.trim_end_matches('/').to_owned(),
            client,
            config,
        }
    }

    fn target(
        &self,
        credential: &Credential,
        op: &str,
    ) -> Result<(String, HeaderName, HeaderValue, SecretString), ProviderError> {
        let target = crate::target::Target::resolve(self.id, &self.base, credential)?;
        let (name, value) = target.auth()?;
        Ok((target.url(op), name, value, target.secret().clone()))
    }
}

#[async_trait]
impl ChatProvider for Responses {
    fn id(&self) -> ProviderId {
        self.id
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatOutcome, ProviderError> {
        let body = encode_request(self.id, request, false)?;
        let (url, name, auth, secret) = self.target(credential, "responses")?;
        let builder = self
            .client
            .post(url)
            .header(name, auth)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let bytes =
            http::fetch(self.id, &self.config, builder, Some(secret.expose_secret())).await?;
        let response = decode_response(self.id, &bytes)?;
        Ok(ChatOutcome::new(response))
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatStream, ProviderError> {
        let body = encode_request(self.id, request, true)?;
        let (url, name, auth, secret) = self.target(credential, "responses")?;
        let builder = self
            .client
            .post(url)
            .header(name, auth)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream")
            .body(body);
        let response =
            http::send(self.id, &self.config, builder, Some(secret.expose_secret())).await?;
        let translator = ResponsesStream::new(self.id, request.wants_stream_usage(), secret);
        Ok(ChatStream::new(http::sse_stream(
            self.id,
            response,
            &self.config,
            translator,
        )))
    }

    async fn list_models(&self, credential: &Credential) -> Result<Vec<ModelInfo>, ProviderError> {
        let (url, name, auth, secret) = self.target(credential, "models")?;
        let bytes = http::fetch(
            self.id,
            &self.config,
            self.client.get(url).header(name, auth),
            Some(secret.expose_secret()),
        )
        .await?;
        let v: Value = http::parse_json(self.id, "model list", &bytes)?;
        let list = v.get("data").unwrap_or(&v);
        Ok(list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("id").and_then(Value::as_str))
            .map(|id| ModelInfo {
                id: id.to_owned(),
                object: "model".into(),
                owned_by: "openai".into(),
            })
            .collect())
    }
}
