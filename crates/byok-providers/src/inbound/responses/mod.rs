//! OpenAI Responses API in front of providers that are not
//! Responses-native (for `openai-responses` and `azure-responses` the server
//! passes the body through unchanged and reads usage with [`UsageReader`]).
//!
//! # Use
//!
//! ```
//! use byok_providers::StreamEvent;
//! use byok_providers::inbound::responses::{
//!     StreamEncoder, UsageReader, encode_response, parse_request, peek,
//! };
//!
//! let body = br#"{"model":"claude-sonnet-4-5","input":"Hello","stream":true}"#;
//! // Route on the model first: openai-responses / azure-responses take the
//! // body as sent (read their usage with a UsageReader on the way back).
//! let head = peek(body).expect("a 400 naming e.param()");
//! assert_eq!(head.model, "claude-sonnet-4-5");
//! let mut usage = UsageReader::new();
//! usage.push(b"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-5\",\"usage\":{\"input_tokens\":3,\"output_tokens\":2}}}\n\n");
//! assert_eq!(usage.finish().map(|u| u.usage.total_tokens), Some(5));
//!
//! // Every other provider: translate.
//! let parsed = match parse_request(body) {
//!     Ok(p) => p,
//!     Err(e) => { let _ = e.param(); return; } // a 400 naming the field
//! };
//! assert!(parsed.stream && parsed.request.is_stream());
//! // ... provider.chat_stream(&parsed.request, &credential) ...
//! let events: Vec<StreamEvent> = Vec::new();
//! let mut encoder = StreamEncoder::new(&parsed);
//! let mut out = Vec::new();
//! for event in &events {
//!     match event {
//!         StreamEvent::Chunk(c) => encoder.push(c, &mut out),
//!         StreamEvent::Verbatim(v) => encoder.push(v.chunk(), &mut out),
//!         StreamEvent::Usage(u) => encoder.usage(u),
//!         _ => {}
//!     }
//!     // send `out` to the client; out.clear();
//! }
//! encoder.finish(&mut out); // or encoder.error(status, message, &mut out) on a failure
//! assert!(out.ends_with(b"\n\n"));
//! // A whole answer: encode_response(&chat_response, &parsed).
//! # let _ = encode_response;
//! ```
//!
//! # Request (Responses → neutral)
//!
//! | Responses | neutral |
//! |---|---|
//! | `instructions` | a `system` message, first |
//! | `input` string | one `user` message |
//! | `message` items, role `user` / `system` / `developer` | the same role; `input_text` → `text` part, `input_image` `image_url` → `image_url` part, `input_file` `file_data` → `file` part |
//! | `message` items, role `assistant` (`output_text`, `refusal`) | an assistant message's text / `refusal` |
//! | `reasoning` items | the next assistant message's `reasoning_details` (see below) and `reasoning_content` (the summary texts) |
//! | `function_call` items | `tool_calls` of the assistant message (consecutive assistant-side items are one assistant message) |
//! | `function_call_output` | a `tool` message (`output` string or parts) |
//! | `tools` (flat function tools) | `tools` |
//! | `tool_choice` `auto`/`none`/`required`/`{type:function,name}` | the same |
//! | `parallel_tool_calls`, `temperature`, `top_p` | the same |
//! | `max_output_tokens` | `max_completion_tokens` |
//! | `text.format` `json_schema` / `json_object` / `text` | `response_format` (`text`, the default, sends nothing) |
//! | `text.verbosity` | `extra["verbosity"]` (`medium`, the default, sends nothing) |
//! | `reasoning.effort` | `reasoning_effort` (`reasoning.summary` is echoed back) |
//! | `top_logprobs` N > 0 | `extra`: `logprobs: true`, `top_logprobs: N` |
//! | `user`, else `safety_identifier` | `user` |
//! | `service_tier`, unknown fields | `extra` (the provider's translator decides) |
//! | `stream` | `stream` + `stream_options.include_usage` |
//! | `store`, `metadata`, `truncation`, `max_tool_calls`, `stream_options`, `prompt_cache_retention`, other `include` values | ignored: the translated providers are stateless (`store` is answered as `false`), `metadata` is echoed back, truncation is never performed (`auto` too: a too-long input is the provider's 400) |
//! | `prompt_cache_key` | not sent; kept in [`Parsed::prompt_cache_key`] for the caller |
//! | `include: ["reasoning.encrypted_content"]` | reasoning items carry `encrypted_content` (else it is left out) |
//!
//! Refused with a 400 naming the field ([`InboundError`]):
//! `previous_response_id` ("previous_response_id needs a Responses-native
//! provider (openai-responses, azure-responses); send the whole conversation
//! in input"), `conversation`, `prompt`, `background: true`, tools other
//! than `function` (`web_search`, `file_search`, `computer_use_preview`,
//! `custom`, `local_shell`, `mcp`, ...: only the native providers run them),
//! a `tool_choice` naming a built-in tool or `allowed_tools`, input items
//! other than messages, function calls, their outputs and reasoning
//! (`item_reference`, built-in tool calls, ...), `file_id` and `file_url`
//! file or image references (the gateway keeps no files: send the data).
//!
//! # Response (neutral → Responses)
//!
//! `id` is `resp_` + the upstream id's letters and digits; `status` is
//! `completed`, or `incomplete` with `incomplete_details.reason`
//! `max_output_tokens` (finish `length`) / `content_filter`. `output` holds,
//! in order: one `reasoning` item when there is reasoning, one `message`
//! item (`output_text` with `annotations` (`url_citation`, from the chat
//! form) and `logprobs`; a `refusal` part for a refusal; an empty
//! `output_text` when the answer has neither text nor calls) and one
//! `function_call` item per tool call (`id` = `fc_` + call id). `usage` is
//! `input_tokens` (every input token, cache reads and writes included),
//! `input_tokens_details.cached_tokens`, `output_tokens`,
//! `output_tokens_details.reasoning_tokens`, `total_tokens`. The request's
//! `instructions`, `tools`, `tool_choice`, `parallel_tool_calls`, `text`,
//! `temperature`, `top_p`, `max_output_tokens`, `reasoning`, `metadata`,
//! `user` and `truncation` are echoed; `store` is `false`, `error` `null`.
//!
//! ## Reasoning items
//!
//! The answer's `reasoning_details` and reasoning text become one
//! `reasoning` item:
//! - entries all of format `openai-responses-v1` with at most one
//!   `reasoning.encrypted`: as they are, `id` the entries' id,
//!   `summary` the `reasoning.summary` texts, `encrypted_content` the
//!   encrypted entry's `data`;
//! - any other entries: `summary` the reasoning text; when an entry carries
//!   something text cannot (a `signature`, encrypted `data`),
//!   `encrypted_content` is an envelope, `byok.rd1:` followed by the JSON
//!   array of the entries, which a client sends back unchanged (as it does
//!   any `encrypted_content`) and which becomes those exact entries again.
//!
//! `encrypted_content` is only written when the request's `include` asks
//! for `reasoning.encrypted_content` (as OpenAI does with `store: false`).
//! Coming back, an envelope gives its entries; any other reasoning item gives
//! `openai-responses-v1` entries: `reasoning.summary` per summary text and
//! `reasoning.encrypted` (with the item's `id`) for `encrypted_content`.
//!
//! # Stream
//!
//! See [`StreamEncoder`]: every event has `sequence_number`; an item closes
//! when another kind starts; `response.completed` (or `.incomplete`) carries
//! the whole response, equal to the non-streamed encoding of the same
//! answer; a failure mid-stream is `response.failed` with
//! `error: {code, message}` (`code` `rate_limit_exceeded` for 429,
//! `invalid_prompt` for 400, else `server_error`).
//!
//! # Layout
//!
//! | file | holds |
//! |---|---|
//! | `request.rs` | [`peek`] (model and stream, for routing) and [`parse_request`]: body → [`Parsed`] |
//! | `input.rs` | `input` items → messages (the assistant-turn grouping, reasoning entries in) |
//! | `response.rs` | [`encode_response`] and the item / usage / object builders shared with the stream |
//! | `stream.rs` | [`StreamEncoder`] |
//! | `usage.rs` | [`UsageReader`] for pass-through |

mod input;
mod request;
mod response;
mod stream;
mod usage;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use self::request::{Peek, parse_request, peek};
pub use self::response::encode_response;
pub use self::stream::StreamEncoder;
pub use self::usage::UsageReader;
pub use crate::inbound::PassThroughUsage;
use crate::types::ChatRequest;

/// A parsed Responses request: the neutral request and what the answer
/// needs from the original.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The neutral request (`model` as the client wrote it).
    pub request: ChatRequest,
    /// The client's model name, echoed in the response.
    pub model: String,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// `prompt_cache_key`, not put in the neutral request (only the
    /// OpenAI dialect could send it; the caller may).
    pub prompt_cache_key: Option<String>,
    /// Whether reasoning items carry `encrypted_content` (`include` has
    /// `reasoning.encrypted_content`).
    pub include_encrypted: bool,
    /// Request fields echoed in the response object.
    echo: Map<String, Value>,
}

pub use crate::inbound::InboundError;
