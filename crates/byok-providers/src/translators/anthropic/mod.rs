//! Anthropic Messages: `anthropic` and `azure-anthropic-foundry`.
//!
//! Same translator, two targets: `{base}/v1/messages` with `x-api-key` for
//! Anthropic, `{endpoint}v1/messages` with `x-api-key` for Azure AI Foundry.
//! The mapping table is in `docs/providers.md`; in short:
//!
//! - system and developer messages become the top-level `system`: one
//!   string (texts joined by a blank line), or a list of text blocks when a
//!   part carries `cache_control` or a message has several parts;
//!   consecutive same-role messages are merged (tool results become
//!   `tool_result` blocks of one user message, so parallel results stay
//!   together);
//! - content parts ([`content`]): text → `text`, images → `image` (base64
//!   from a `data:` URL, by `url` for `http(s)`; `detail` has no Anthropic
//!   field), `file` parts with `file_data` → `document` (PDF as base64,
//!   `text/*` as a plain-text source, `title` from `filename`; images as
//!   `image`); every part's `cache_control` goes on its block;
//! - tool messages → `tool_result`: string content as a string, parts as a
//!   list of text / image / document blocks; the message's `is_error: true`
//!   and `cache_control` go on the `tool_result`;
//! - tools → `input_schema`, `strict: true` kept, the tool's
//!   `cache_control` on the tool; `tool_choice` → `auto`/`any`/`none`/`tool`,
//!   `parallel_tool_calls: false` → `disable_parallel_tool_use`;
//! - `max_tokens` is required upstream: the client's `max_completion_tokens`
//!   or `max_tokens`, else [`DEFAULT_MAX_TOKENS`] (raised above a thinking
//!   budget, see [`effort`]);
//! - `stop` → `stop_sequences`, `user` → `metadata.user_id`;
//! - `reasoning_effort` / OpenRouter's `reasoning` → adaptive thinking with
//!   `output_config.effort` (Claude 4.6 and later) or `thinking.budget_tokens`
//!   (earlier models), by model name ([`effort`]); while thinking,
//!   `temperature: 1` is dropped and other temperatures, `top_p` below
//!   0.95, `top_k` and forced `tool_choice` are 400s naming the field;
//! - `response_format` `json_schema` → native structured output,
//!   `output_config: {"format": {"type": "json_schema", "schema"}}` with
//!   `json_schema.schema` unchanged (`name` and `strict` dropped: decoding is
//!   always constrained; generally available, no beta header), merged with
//!   the effort; the answer's JSON text is the `content`, streamed like any
//!   text; `text` → nothing;
//! - an assistant message's `reasoning_details` (OpenRouter's format,
//!   `anthropic-claude-v1`) → `thinking` blocks (`reasoning.text`, with its
//!   `signature`) and `redacted_thinking` blocks (`reasoning.encrypted`, its
//!   `data`), first in that message's content, before text and `tool_use`
//!   (a thinking-with-tools loop continues only when they come back);
//!   unsigned, foreign-format and unknown entries are dropped;
//! - answer: `thinking` text → `reasoning_content`; `thinking` and
//!   `redacted_thinking` blocks → `reasoning_details` (`reasoning.text` with
//!   text, signature and `index`, `reasoning.encrypted` with data and
//!   `index`; `index` counts reasoning blocks from 0); text blocks' URL
//!   citations → `annotations` (`url_citation`, [`citations`]); server tool
//!   blocks (`server_tool_use`, `web_search_tool_result`) are not shown;
//! - stop reasons: `end_turn`/`stop_sequence` → `stop`, `max_tokens` and
//!   `model_context_window_exceeded` → `length`, `tool_use` →
//!   `tool_calls`, `refusal` → `content_filter`, `pause_turn` → `stop`;
//!   `pause_turn`, `refusal`, `model_context_window_exceeded` and unknown
//!   reasons also as the choice's `native_finish_reason`;
//! - usage: `cache_read_input_tokens` → `prompt_tokens_details.cached_tokens`,
//!   `cache_creation_input_tokens` → `cache_write_tokens`, both counted in
//!   `prompt_tokens`;
//! - refused with a 400: `response_format` `json_object` (Anthropic's
//!   schemas must close every object with `additionalProperties: false`, so
//!   "any object" has no equivalent: send a `json_schema`), a `json_schema`
//!   without `schema`, `n > 1`, `logprobs`, penalties, `logit_bias`, `file`
//!   parts with `file_id` or of another media type, image URLs of another
//!   scheme, `input_audio` / `video_url` parts, `reasoning.max_tokens` on
//!   adaptive-only models; dropped as harmless: `seed`.
//! - Streaming: `message_start` → role chunk, text deltas → `content`,
//!   `tool_use` starts → tool-call id and name, `input_json_delta` →
//!   argument fragments, thinking deltas → `reasoning_content`, a thinking
//!   block's `signature_delta` → its complete `reasoning_details` entry
//!   (text + signature; unsigned at `content_block_stop` if none came), a
//!   `redacted_thinking` start → its `reasoning.encrypted` entry, so the
//!   entries appended in order equal the non-streamed `reasoning_details`;
//!   `citations_delta`s → the block's `annotations` at its end (in
//!   `Delta.extra`); `message_delta` → finish reason, usage from
//!   `message_start` (input and cache) plus the cumulative `output_tokens`.
//!
//! # Layout
//!
//! | file | holds |
//! |---|---|
//! | `request.rs` | neutral request → wire body (`refuse`, `messages` with replayed thinking, `tools`, `tool_choice`, `output_config`) |
//! | `content.rs` | content parts, system parts and tool results → blocks, with `cache_control` |
//! | `effort.rs` | `reasoning_effort` / `reasoning` → `thinking` + effort by model, `max_tokens`, thinking constraints |
//! | `response.rs` | the Messages answer → [`ChatResponse`](crate::ChatResponse), stop reasons, usage |
//! | `reasoning.rs` | thinking / `redacted_thinking` blocks ⇄ `reasoning_details` entries |
//! | `citations.rs` | text-block citations → `annotations` |
//! | `stream.rs` | typed SSE events (`#[serde(tag = "type")]`) → chunks, one handler per event |
//! | `tests.rs` | property: streamed and reassembled == non-streamed |
//! | `mod.rs` | the adapter ([`ChatProvider`](crate::ChatProvider)): URL and key from the row's target, headers, HTTP |

mod citations;
mod content;
pub(crate) mod effort;
pub(crate) mod reasoning;
mod request;
mod response;
mod stream;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use ::http::header::HeaderName;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;

pub(crate) use self::effort::max_tokens;
pub(crate) use self::request::TOOL_CHOICE_MODES;
pub use self::request::encode_request;
use self::response::decode_response;
pub(crate) use self::response::{WireUsage, stop_reason_of};
pub(crate) use self::stream::AnthropicStream;
use crate::credential::Credential;
use crate::error::ProviderError;
use crate::http::{self, Listing, Sse, Upstream};
use crate::id::ProviderId;
use crate::provider::{ChatOutcome, ProviderConfig};
use crate::translators::Dialect;
use crate::types::{ChatRequest, ModelInfo};

/// `max_tokens` sent when the client gives none (Anthropic requires it).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// The `anthropic-version` header value.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Extra fields read by this translator: `top_k` and `thinking` (passed
/// through as Anthropic-native parameters), OpenRouter's `reasoning`.
const NATIVE_EXTRA: &[&str] = &["top_k", "thinking", "reasoning"];

pub(crate) use self::effort::THINKING_BUDGETS;

/// Content parts this translator reads beyond `text` and `image_url`.
const READ_PARTS: &[&str] = &["file"];

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

/// Adds the `anthropic-version` header.
fn versioned(builder: crate::transport::RequestBuilder) -> crate::transport::RequestBuilder {
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

impl Dialect for Anthropic {
    type Stream = Sse<AnthropicStream>;

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
        let (builder, key) = self.up.post_json(credential, "messages", body, stream)?;
        Ok((versioned(builder), key))
    }

    fn decode(&self, _: &ChatRequest, bytes: Vec<u8>) -> Result<ChatOutcome, ProviderError> {
        Ok(ChatOutcome::new(decode_response(self.up.id, &bytes)?))
    }

    fn translator(&self, request: &ChatRequest, secret: SecretString) -> Self::Stream {
        let translator = AnthropicStream::new(self.up.id, request.wants_stream_usage(), secret);
        Sse::new(self.up.id, &self.up.config, translator)
    }

    fn models_request(
        &self,
        credential: &Credential,
    ) -> Result<(crate::transport::RequestBuilder, SecretString), ProviderError> {
        let (builder, key) = self.up.get(credential, "models")?;
        Ok((versioned(builder), key))
    }

    fn models(&self, bytes: &[u8]) -> Result<Vec<ModelInfo>, ProviderError> {
        let page: ModelPage = http::parse_json(self.up.id, "model list", bytes)?;
        Ok(MODELS.models(page.data.iter()))
    }
}
