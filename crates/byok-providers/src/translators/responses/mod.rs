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
mod stop;
mod stream;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use secrecy::SecretString;

pub use self::request::encode_request;
use self::response::decode_response;
pub(crate) use self::stop::Stops;
pub(crate) use self::stream::ResponsesStream;
use crate::credential::Credential;
use crate::error::ProviderError;
use crate::http::{Listing, Sse, Upstream};
use crate::id::ProviderId;
use crate::provider::{ChatOutcome, ProviderConfig};
use crate::translators::Dialect;
use crate::types::{ChatRequest, ModelInfo};

/// Extra fields the translator reads or passes on as Responses-native
/// parameters (`store` is also read; it is harmless for every translator).
/// `reasoning`, `text` and `include` are merged with what the translator
/// builds; the rest ([`PASSED_EXTRA`]) go as sent.
const NATIVE_EXTRA: &[&str] = &[
    "reasoning",
    "metadata",
    "truncation",
    "include",
    "text",
    "prompt_cache_key",
    "safety_identifier",
];

/// Extra fields passed through unchanged. (`metadata` means the same in
/// both APIs, so it is mapped here rather than ignored.)
const PASSED_EXTRA: &[&str] = &[
    "metadata",
    "truncation",
    "prompt_cache_key",
    "safety_identifier",
];

/// The `format` of this translator's `reasoning_details` entries.
pub(crate) const REASONING_FORMAT: &str = "openai-responses-v1";

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
        Self {
            up: Upstream::configured(id, client, config),
        }
    }
}

impl Dialect for Responses {
    type Stream = Sse<ResponsesStream>;

    fn upstream(&self) -> &Upstream {
        &self.up
    }

    fn chat_request(
        &self,
        request: &ChatRequest,
        credential: &Credential,
        stream: bool,
    ) -> Result<(reqwest::RequestBuilder, SecretString), ProviderError> {
        let body = encode_request(self.up.id, request, stream)?;
        self.up.post_json(credential, "responses", body, stream)
    }

    fn decode(&self, request: &ChatRequest, bytes: Vec<u8>) -> Result<ChatOutcome, ProviderError> {
        let stops = Stops::of(request);
        Ok(ChatOutcome::new(decode_response(
            self.up.id,
            &bytes,
            stops.as_ref(),
        )?))
    }

    fn translator(&self, request: &ChatRequest, secret: SecretString) -> Self::Stream {
        let translator = ResponsesStream::new(self.up.id, request.wants_stream_usage(), secret)
            .with_stops(Stops::of(request));
        Sse::new(self.up.id, &self.up.config, translator)
    }

    fn models_request(
        &self,
        credential: &Credential,
    ) -> Result<(reqwest::RequestBuilder, SecretString), ProviderError> {
        self.up.get(credential, "models")
    }

    fn models(&self, bytes: &[u8]) -> Result<Vec<ModelInfo>, ProviderError> {
        MODELS.parse(self.up.id, bytes)
    }
}
