//! Translator modules for the providers that do not speak OpenAI's
//! chat-completions dialect: each turns the neutral request into its wire
//! format, and the wire answer (or stream) back into neutral types.
//!
//! Every translator is a folder: `mod.rs` holds the adapter (the
//! [`ChatProvider`](crate::ChatProvider) impl) and the mapping table,
//! `request.rs` the request encoding, `response.rs` the answer decoding and
//! `stream.rs` the stream state machine.

pub(crate) mod anthropic;
pub(crate) mod bedrock;
pub(crate) mod gemini;
mod lenient;
pub(crate) mod openai;
pub(crate) mod responses;
