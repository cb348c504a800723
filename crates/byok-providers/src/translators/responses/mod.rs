//! OpenAI Responses: `openai-responses` and `azure-responses`.
//!
//! Chat requests become Responses `input` items (system and developer
//! messages become `instructions`), tools are flattened, `store` is `false`
//! unless the client set it. Output items and the streaming events come
//! back as chat responses and chunks; usage comes from `response.completed`
//! / `response.incomplete`; `response.failed` and `error` events end the
//! stream with an error.
//!
//! # Mapping (issue #15)
//!
//! | chat | Responses |
//! |---|---|
//! | `reasoning_effort` (`none` … `xhigh`, passed as given) | `reasoning.effort`, plus `summary: "auto"` when reasoning is asked for |
//! | extra `reasoning` (Responses' own or OpenRouter's) | merged: its keys kept (`summary`, ...), `reasoning_effort` wins for `effort`; `max_tokens` → nearest effort (≤2,048 low, ≤8,192 medium, else high); `enabled`, `exclude` not sent (`exclude: true`: no summary asked) |
//! | `store` in extra | `store` (default `false`) |
//! | reasoning possible (a `reasoning` object, an o1/o3/o4/gpt-5/codex model name other than `-chat`, or replayed reasoning) and nothing stored | `include` += `reasoning.encrypted_content` (merged with the client's `include`); never for other models, which refuse it |
//! | `response_format` | `text.format` (`json_schema`: name, schema, strict, description; `json_object`), merged into the client's `text` (`verbosity` kept; `response_format` wins for `format`) |
//! | `stop` | emulated (`stop.rs`): text cut before the first sequence to complete, finish `stop`, later output dropped |
//! | `text` / `image_url` / `file` parts | `input_text` / `input_image` (detail kept, `auto` by default) / `input_file` (`file_data`, `file_id`, `filename`); other parts: 400 |
//! | tool result with images or files | `function_call_output.output` as a list of input parts |
//! | `tools` (function, `strict` kept), `tool_choice` none/auto/required/named, `parallel_tool_calls` | flattened `tools`, `tool_choice`, `parallel_tool_calls`; custom tools and `allowed_tools`: 400 |
//! | assistant `reasoning_details` (`openai-responses-v1`) | `reasoning` input items (`id`, `summary`, `encrypted_content`) before the turn's message and calls; other formats, entries without an id, and items without encrypted content (unless `store: true`) dropped |
//! | ← `reasoning` output items | `reasoning_content` (summary text) and `reasoning_details`: `reasoning.summary` per summary part, then `reasoning.encrypted` (with `id`); streamed at `response.output_item.done` |
//! | ← `output_text.annotations` | message `annotations` in the chat shape (`{"type": t, t: {...}}`), indices moved to characters of the whole content; streamed from `response.output_text.annotation.added` as `delta.annotations` |
//! | ← `refusal` parts | `refusal` |
//! | ← `incomplete_details.reason` | `max_output_tokens` → `length`, `content_filter` → `content_filter` |
//!
//! # Layout
//!
//! | file | holds |
//! |---|---|
//! | `request.rs` | neutral request → wire body (`refuse`, `input`, `replay_reasoning`, `sampling`, `tools`, `tool_choice`, `text`, `reasoning`, `include`) |
//! | `response.rs` | the typed `response` object (answer and `response.*` events): output items, reasoning details, annotations, finish, usage |
//! | `stream.rs` | typed SSE events (`#[serde(tag = "type")]`) → chunks, one handler per event |
//! | `stop.rs` | `stop` emulation, whole and streamed |
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
pub(crate) use self::response::{
    WireUsage, flat_annotation, incomplete_reason, reasoning_item_details,
};
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
    ) -> Result<(crate::transport::RequestBuilder, SecretString), ProviderError> {
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
    ) -> Result<(crate::transport::RequestBuilder, SecretString), ProviderError> {
        self.up.get(credential, "models")
    }

    fn models(&self, bytes: &[u8]) -> Result<Vec<ModelInfo>, ProviderError> {
        MODELS.parse(self.up.id, bytes)
    }
}
