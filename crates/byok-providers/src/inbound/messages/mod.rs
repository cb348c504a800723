//! Anthropic Messages inbound (`POST /api/v1/messages`, what Claude Code
//! and the Anthropic SDKs send) ⇄ the neutral types, for every provider that
//! does not speak Messages itself (`anthropic` and `azure-anthropic-foundry`
//! get the body as sent; [`UsageReader`] reads their usage on the way back).
//!
//! ```
//! use byok_providers::inbound::messages::{
//!     StreamEncoder, UsageReader, error_body, parse_request,
//! };
//! use byok_providers::ChatChunk;
//!
//! let mut parsed = parse_request(br#"{"model": "claude-sonnet-4-5", "max_tokens": 1024,
//!     "stream": true, "messages": [{"role": "user", "content": "Hello"}]}"#).unwrap();
//! // Translated route: refuse Anthropic-only features, adapt to the format,
//! // call the provider with `parsed.request`.
//! parsed.check_translatable().unwrap();
//! parsed.adapt_to(byok_providers::WireFormat::Gemini);
//! // Whole answer: `encode_response(&response, &parsed)`. Streamed:
//! let mut enc = StreamEncoder::new(&parsed);
//! let mut out = Vec::new();
//! let chunk: ChatChunk = serde_json::from_str(
//!     r#"{"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}"#,
//! ).unwrap();
//! enc.push(&chunk, &mut out); // for every chunk
//! // enc.set_usage(&usage) if the usage came as the stream's report,
//! // enc.error(502, "upstream cut", &mut out) on a failure mid-stream, else:
//! enc.finish(&mut out);
//! assert!(out.starts_with(b"event: message_start\ndata: "));
//! assert!(out.ends_with(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
//!
//! // Pass-through route: forward the upstream bytes, reading usage on the way.
//! let mut usage = UsageReader::new();
//! usage.push(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n");
//! assert_eq!(usage.finish().map(|u| u.prompt_tokens), Some(9));
//!
//! let body = error_body(529, "Overloaded");
//! assert_eq!(body, br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#);
//! ```
//!
//! # Request (Anthropic → neutral)
//!
//! | Anthropic | neutral |
//! |---|---|
//! | `model` | `model` (and [`Parsed::model`], echoed in the answer as sent) |
//! | `system` string / text blocks | one `system` message per block; `cache_control` in the text part's `extra` |
//! | user `text` / `image` (base64 → `data:` URL, `url` → URL) | `text` / `image_url` parts, `cache_control` kept in `extra` |
//! | `document` base64 PDF | `{"type": "file", "file": {"file_data": "data:application/pdf;base64,…", "filename": title or "document.pdf"}}` |
//! | `document` plain-text / string-content source | a `text` part (`title` and `context` dropped) |
//! | `tool_result` blocks | `tool` messages first, in order, then one user message with the other blocks; content string or text/image parts; `is_error: true` and `cache_control` in `extra` |
//! | assistant `text` | text parts of `content` (`cache_control`, `citations` kept in `extra`) |
//! | assistant `tool_use` | `tool_calls` (`input` → `arguments` JSON text; `{"_raw_arguments": s}` → `s`) |
//! | assistant `thinking` / `redacted_thinking` | `reasoning_content` (the thinking text) and `reasoning_details` entries: `anthropic-claude-v1` `reasoning.text` (text, signature) / `reasoning.encrypted` (data); a tagged block (see `reasoning.rs`) is the foreign entry it carries |
//! | `max_tokens` (required; not for count_tokens) | `max_tokens` |
//! | `stop_sequences` | `stop` |
//! | `temperature`, `top_p` | same; `top_k` → `extra["top_k"]` |
//! | `metadata.user_id` | `user` |
//! | `tools` (custom) | function tools: `input_schema` → `parameters`, `strict` typed, `cache_control` and other keys in `Tool.extra` |
//! | `tools` (server: `web_search_20250305`, `bash_…`, `text_editor_…`, …) | kept whole as a tool of that type (translators refuse it by name), listed in [`Parsed::anthropic_only`] |
//! | `tool_choice` `auto` / `any` / `tool` / `none` | `auto` / `required` / named function / `none`; `disable_parallel_tool_use: true` → `parallel_tool_calls: false` |
//! | `thinking` `enabled` + `budget_tokens` N | `reasoning_effort` `low` (N ≤ 1024), `medium` (≤ 4096), else `high` (the Anthropic translator's budget table); the object as sent in [`Parsed::thinking`] |
//! | `thinking` `adaptive` | `reasoning_effort` from `output_config.effort` (`max`/`xhigh` → `high`), `high` by default |
//! | `thinking` `disabled` | nothing (`output_config.effort` alone is dropped) |
//! | `thinking` for Bedrock Converse (no `reasoning_effort` there) | [`Parsed::adapt_to`] puts the client's object in `additionalModelRequestFields.thinking` |
//! | `output_config.format` / beta `output_format` `json_schema` | `response_format` `json_schema` (`name: "output"`, `strict: true`, schema unchanged) |
//! | `stream` | `stream`, with `stream_options.include_usage` so the usage reaches the encoder |
//! | `context_management` (Claude Code sends it every turn), top-level `cache_control` | dropped: they ask Anthropic to trim the context it was sent, or to place a cache breakpoint; another provider gets the whole conversation |
//! | `container`, `mcp_servers`, other fields | `extra` (translators name them in their 400); the first two in [`Parsed::anthropic_only`] |
//!
//! Only the protocol's own violations are refused here (a 400 naming the
//! field: missing `max_tokens`, an unknown role, `thinking` or
//! `tool_choice` type); what only Anthropic can do (server tools, Files API
//! sources, URL PDFs, document citations, search results, MCP) is kept and
//! listed in [`Parsed::anthropic_only`], so that a pass-through still sees
//! it and the server can refuse it by name before translating
//! ([`Parsed::check_translatable`]).
//!
//! # Answer (neutral → Anthropic)
//!
//! - `id`: `msg_` + the neutral id's `[A-Za-z0-9_-]` (an id already
//!   `msg_…` as it is); `model`: the client's model string.
//! - `content`, in order: reasoning, text, tool calls. Reasoning: each
//!   `reasoning_details` entry is a block (`thinking` with its signature,
//!   `redacted_thinking` with its data; another provider's entries tagged,
//!   see `reasoning.rs`); reasoning text without a text-bearing entry
//!   (Gemini, DeepSeek, Groq, …) is a `thinking` block with an empty
//!   `signature` (the SDKs accept it; Anthropic itself would refuse it on
//!   replay, which only matters after a switch to an Anthropic model). Text:
//!   one `text` block (the refusal's text when there is no content).
//!   Citations (`annotations` `url_citation`) are dropped: Anthropic's
//!   citation objects need an `encrypted_index` only Anthropic issues, and
//!   a made-up one would break the replay. Tool calls: `tool_use` with the
//!   arguments as the `input` object (`{}` when empty); arguments that are
//!   not a JSON object travel whole as `{"_raw_arguments": "<text>"}`,
//!   turned back into the same text when the client replays the block.
//! - `stop_reason`: `stop` → `end_turn` (`stop_sequence`, with the
//!   sequence, when the upstream named the matched one in the choice's
//!   `stop_reason`, as vLLM does, and the client asked for it), `length` →
//!   `max_tokens`, `tool_calls` → `tool_use`, `content_filter` →
//!   `refusal`; none given: `tool_use` after tool calls, else `end_turn`.
//! - `usage`: `input_tokens` = prompt − cached − cache writes,
//!   `output_tokens`, `cache_read_input_tokens`,
//!   `cache_creation_input_tokens` (zeros without usage).
//!
//! Streaming: [`StreamEncoder`]; errors: [`error_body`] (statuses to
//! Anthropic's error types: [`error_type`]); pass-through usage:
//! [`UsageReader`].
//!
//! # Layout
//!
//! | file | holds |
//! |---|---|
//! | `request.rs` | [`parse_request`], [`parse_count_tokens`] |
//! | `response.rs` | [`encode_response`], content blocks, stop reasons, usage |
//! | `stream.rs` | [`StreamEncoder`] |
//! | `reasoning.rs` | thinking blocks ⇄ `reasoning_details` entries (foreign formats tagged) |
//! | `usage.rs` | [`UsageReader`] |
//! | `tests/` | fixtures of Claude Code and SDK requests, a reference reader rebuilding streamed messages as the Anthropic SDK does, property tests |

mod reasoning;
mod request;
mod response;
mod stream;
#[cfg(test)]
mod tests;
mod usage;

use serde::Serialize;

pub use self::request::{parse_count_tokens, parse_request};
pub use self::response::encode_response;
pub use self::stream::StreamEncoder;
pub use self::usage::UsageReader;
use crate::id::WireFormat;
use crate::inbound::InboundError;
pub use crate::inbound::PassThroughUsage;
use crate::types::ChatRequest;

/// A parsed Messages request: the neutral request, and what the answer
/// needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The neutral request to route and send.
    pub request: ChatRequest,
    /// The model exactly as the client sent it (echoed in the answer).
    pub model: String,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The client's `stop_sequences` (to name the one that matched).
    pub stop_sequences: Vec<String>,
    /// The client's `thinking` object as sent, when it asks for reasoning
    /// (its exact `budget_tokens` included: the neutral request carries a
    /// `reasoning_effort` level; see [`Parsed::adapt_to`]).
    pub thinking: Option<serde_json::Value>,
    /// Features of the request only Anthropic can honour (server tools,
    /// Files API sources, URL documents, MCP servers, ...), each named
    /// (`` `web_search_20250305` tools ``); empty for most requests.
    pub anthropic_only: Vec<String>,
}

impl Parsed {
    /// Adjusts the neutral request to what the translator of `format`
    /// reads, once the route is known. Bedrock Converse takes no
    /// `reasoning_effort`; its Claude models take Anthropic's own
    /// `thinking` object in `additionalModelRequestFields`, so the client's
    /// object goes there as sent (merged into any fields already given)
    /// and the effort is cleared. Other formats read the effort: nothing
    /// changes.
    pub fn adapt_to(&mut self, format: WireFormat) {
        if format != WireFormat::BedrockConverse {
            return;
        }
        let Some(thinking) = self.thinking.clone() else {
            return;
        };
        if self.request.reasoning_effort.take().is_none() {
            return;
        }
        let fields = self
            .request
            .extra
            .entry("additionalModelRequestFields")
            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
        if let Some(fields) = fields.as_object_mut() {
            fields.insert("thinking".into(), thinking);
        }
    }

    /// Refuses a request that uses features only Anthropic honours, before
    /// it is translated for another provider.
    ///
    /// # Errors
    /// [`InboundError::Invalid`] naming every such feature.
    pub fn check_translatable(&self) -> Result<(), InboundError> {
        if self.anthropic_only.is_empty() {
            return Ok(());
        }
        Err(InboundError::Invalid {
            message: format!(
                "{} only work with Anthropic models (provider `anthropic` or `azure-anthropic-foundry`); remove them or choose such a model",
                self.anthropic_only.join(", ")
            ),
            param: None,
        })
    }
}

/// Anthropic's error type for an HTTP status.
///
/// From Anthropic's errors page: 400 `invalid_request_error` (also used for
/// other 4xx), 401 `authentication_error`, 402 `billing_error`, 403
/// `permission_error`, 404 `not_found_error`, 413 `request_too_large`, 429
/// `rate_limit_error`, 500 `api_error`, 504 `timeout_error`, 529
/// `overloaded_error`. Not listed there: 503 (an upstream unavailable) reads
/// as `overloaded_error` (retryable, which the SDKs do for every 5xx),
/// other 5xx as `api_error`.
pub fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

/// Anthropic's error body for `status`: `{"type": "error", "error":
/// {"type", "message"}}` (the type from [`error_type`]).
pub fn error_body(status: u16, message: &str) -> Vec<u8> {
    serde_json::to_vec(&ErrorBody {
        kind: "error",
        error: ErrorDetail {
            kind: error_type(status),
            message,
        },
    })
    .unwrap_or_default()
}
