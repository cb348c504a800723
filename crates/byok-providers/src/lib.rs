//! Provider adapters behind one neutral, OpenAI-shaped chat API.
//!
//! **Status: not yet implemented** (tracked by the "byok-providers" issues).
//! This crate will hold:
//!
//! - the neutral request, response and stream-chunk types (OpenAI's
//!   chat-completions shape) and an object-safe `ChatProvider` trait whose
//!   capabilities are data;
//! - the OpenAI dialect as one module, with the ~20 providers that speak it as
//!   rows of a table (id, base URL, quirk flags);
//! - translators for Anthropic, OpenAI Responses, Gemini, Bedrock (SigV4 and
//!   event-stream) and Azure, streaming included;
//! - usage extraction and model-to-provider routing.
//!
//! It takes its HTTP client and configuration as arguments and never reads the
//! environment. It does not depend on the other `byok-*` crates.
#![deny(missing_docs)]
