//! Inbound codecs: client protocols other than chat completions, converted
//! to and from the crate's neutral, OpenAI-shaped types.
//!
//! Each codec is pure and I/O-free: it parses the client's body into a
//! neutral [`ChatRequest`](crate::ChatRequest), encodes a neutral
//! [`ChatResponse`](crate::ChatResponse) or stream of
//! [`ChatChunk`](crate::ChatChunk)s in the client's protocol, writes the
//! protocol's error bodies, and reads usage from a same-protocol upstream's
//! bytes when the request is passed through unchanged. The server puts one
//! at each end of its pipeline.
//!
//! | module | protocol |
//! |---|---|
//! | [`responses`] | OpenAI Responses (`POST /api/v1/responses`: Codex, the OpenAI SDKs' `responses.create` / `responses.stream`) |

pub mod responses;
