//! Inbound codecs: client protocols other than chat completions, converted
//! to and from the crate's neutral, OpenAI-shaped types.
//!
//! Each codec is pure (no I/O, no HTTP framework): the server reads a body,
//! asks the codec for a neutral [`ChatRequest`](crate::ChatRequest), runs its
//! one pipeline (auth, routing, reservation, call, settlement), then asks
//! the codec to write the neutral answer, stream or error in the client's
//! protocol. For a provider that speaks the client's protocol natively the
//! body goes upstream as sent and a codec's usage reader only reads the
//! billing numbers on the way back.
//!
//! | module | protocol | route |
//! |---|---|---|
//! | [`messages`] | Anthropic Messages (Claude Code, the Anthropic SDKs) | `POST /api/v1/messages`, `POST /api/v1/messages/count_tokens` |
//! | [`responses`] | OpenAI Responses (Codex, the OpenAI SDKs' `responses.create` / `responses.stream`) | `POST /api/v1/responses` |

pub mod messages;
pub mod responses;

/// How a passed-through answer starts: the offset of its first
/// non-whitespace byte, and whether it is a JSON body (else an SSE stream);
/// `None` while only whitespace came (the usage readers decide once).
pub(crate) fn sniff(bytes: &[u8]) -> Option<(usize, bool)> {
    let first = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    Some((first, bytes[first..].starts_with(b"{")))
}

/// A client's request that the codec cannot accept: answered with a 400
/// naming [`InboundError::param`] in the client's own protocol (the server
/// writes the body; Messages: [`messages::error_body`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InboundError {
    /// The body is not JSON, or not of the protocol's shape (a required
    /// field missing, a field of the wrong type).
    #[error("{0}")]
    Malformed(String),
    /// A field holds a value the protocol does not allow, or one that would
    /// change the answer and cannot be carried to the provider.
    #[error("{message}")]
    Invalid {
        /// What is wrong and what to do instead.
        message: String,
        /// The offending field, when one is to blame.
        param: Option<String>,
    },
}

impl InboundError {
    /// The offending field, when one is to blame.
    pub fn param(&self) -> Option<&str> {
        match self {
            Self::Invalid { param, .. } => param.as_deref(),
            Self::Malformed(_) => None,
        }
    }

    /// An [`InboundError::Invalid`] naming `param`.
    pub(crate) fn invalid(message: impl Into<String>, param: &str) -> Self {
        Self::Invalid {
            message: message.into(),
            param: Some(param.to_owned()),
        }
    }
}
