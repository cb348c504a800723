//! The Gemini stream state machine: one `GenerateContentResponse` per SSE
//! event (parsed once into the typed view of `response.rs`), no
//! terminator; the stream ends at EOF after a finish reason.
//!
//! | chunk field | chunk |
//! |---|---|
//! | `error` (present) | `MidStream` |
//! | first chunk | role chunk; `responseId`, `modelVersion` (and the token of generated call ids) |
//! | thought parts / text parts / `functionCall` parts | `reasoning_content` / `content` / complete tool calls |
//! | `thoughtSignature` on any part | `reasoning_details` entries (before the chunk's calls), numbered across the stream |
//! | `groundingMetadata` / `citationMetadata` | `annotations` (`url_citation`, indices against the text so far) |
//! | `usageMetadata` | kept; the usage chunk comes at EOF |
//! | `finishReason` (or prompt `blockReason`) | finish reason, `native_finish_reason` on the choice unless `STOP` |
//! | EOF without a finish reason | `StreamTruncated` |

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

use super::response::{Numbering, Parts, WireResponse};
use super::signatures::id_token;
use crate::error::ProviderError;
use crate::http::{self, Out, SseTranslate};
use crate::id::ProviderId;
use crate::sse::SseEvent;
use crate::stream::StreamEvent;
use crate::translators::{ChunkHead, lenient};
use crate::types::{Delta, FunctionDelta, ToolCallDelta, Usage};

/// Gemini stream state.
pub(crate) struct GoogleStream {
    provider: ProviderId,
    head: ChunkHead,
    started: bool,
    /// Calls and `reasoning_details` entries so far, and the id token.
    at: Numbering,
    /// The content so far, against which citation indices are converted.
    text: String,
    finished: bool,
    usage: Option<Usage>,
    /// The key, redacted from mid-stream error messages.
    secret: SecretString,
}

impl GoogleStream {
    pub(crate) fn new(provider: ProviderId, wants_usage: bool, secret: SecretString) -> Self {
        Self {
            provider,
            head: ChunkHead::new(String::new(), wants_usage),
            started: false,
            at: Numbering {
                calls: 0,
                details: 0,
                token: String::new(),
            },
            text: String::new(),
            finished: false,
            usage: None,
            secret,
        }
    }

    /// The first chunk: ids, and the role chunk.
    fn start(&mut self, chunk: &WireResponse<'_>, out: &mut Out) {
        self.started = true;
        self.head.id = chunk.response_id.as_deref().unwrap_or("").to_owned();
        self.head.model = chunk.model_version.as_deref().unwrap_or("").to_owned();
        self.at.token = id_token(chunk.response_id.as_deref());
        self.head.push_role(out);
    }

    /// Thoughts, text, signatures, then the complete calls of one chunk;
    /// annotations; the finish reason last.
    fn content(&mut self, chunk: &WireResponse<'_>, out: &mut Out) {
        let Parts {
            text,
            thoughts,
            calls,
            details,
            finish,
        } = chunk.parts(&self.at);
        if !thoughts.is_empty() {
            self.push(
                out,
                Delta {
                    reasoning_content: Some(thoughts),
                    ..Delta::default()
                },
            );
        }
        if !text.is_empty() {
            self.text.push_str(&text);
            self.push(
                out,
                Delta {
                    content: Some(text),
                    ..Delta::default()
                },
            );
        }
        if !details.is_empty() {
            self.at.details += details.len();
            self.push(
                out,
                Delta {
                    reasoning_details: Some(details),
                    ..Delta::default()
                },
            );
        }
        if !calls.is_empty() {
            let deltas = calls
                .into_iter()
                .enumerate()
                .map(|(i, c)| ToolCallDelta {
                    index: u32::try_from(self.at.calls + i).unwrap_or(u32::MAX),
                    id: Some(c.id),
                    kind: Some("function".into()),
                    function: Some(FunctionDelta {
                        name: Some(c.function.name),
                        arguments: Some(c.function.arguments),
                    }),
                })
                .collect::<Vec<_>>();
            self.at.calls += deltas.len();
            self.push(
                out,
                Delta {
                    tool_calls: Some(deltas),
                    ..Delta::default()
                },
            );
        }
        let annotations = chunk.annotations(&self.text);
        if !annotations.is_empty() {
            let mut delta = Delta::default();
            delta
                .extra
                .insert("annotations".into(), Value::Array(annotations));
            self.push(out, delta);
        }
        if let Some(u) = chunk.usage() {
            self.usage = Some(u);
        }
        if let Some(finish) = finish {
            self.finished = true;
            let mut event = self
                .head
                .chunk(Delta::default(), Some(finish.reason(self.at.calls > 0)));
            if let (StreamEvent::Chunk(c), Some(native)) = (&mut event, finish.native()) {
                for choice in &mut c.choices {
                    choice
                        .extra
                        .insert("native_finish_reason".into(), Value::from(native));
                }
            }
            out.push_back(Ok(event));
        }
    }

    fn push(&self, out: &mut Out, delta: Delta) {
        self.head.push(out, delta);
    }
}

impl SseTranslate for GoogleStream {
    fn event(&mut self, event: &SseEvent, out: &mut Out) -> Result<bool, ProviderError> {
        let chunk: WireResponse<'_> =
            lenient::from_str(&event.data).map_err(|e| ProviderError::Malformed {
                provider: self.provider,
                what: format!("stream event: {}", http::classify(&e)),
            })?;
        if let Some(err) = chunk.error {
            let code = http::short_code(err.get("status"));
            let (message, own_code) =
                http::error_fields(&json!({"error": err}), Some(self.secret.expose_secret()));
            return Err(ProviderError::MidStream {
                provider: self.provider,
                message,
                code: own_code.or(code),
            });
        }
        if !self.started {
            self.start(&chunk, out);
        }
        self.content(&chunk, out);
        Ok(false)
    }

    fn eof(&mut self, out: &mut Out) -> Result<(), ProviderError> {
        if !self.finished {
            return Err(ProviderError::StreamTruncated {
                provider: self.provider,
            });
        }
        if let Some(usage) = self.usage.take() {
            self.head.push_usage(out, usage);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A mid-stream error that echoes part of the key (too short for the
    /// shape heuristics) is redacted with the key itself, as on every
    /// other path (issue #14, finding 9).
    #[test]
    fn mid_stream_errors_are_sanitised_with_the_key() {
        let key = "AIzaSyCANARY-Zq8vN3xR5tL1pW7mK2jH9gF4dS6";
        let mut stream = GoogleStream::new(ProviderId::Google, false, SecretString::from(key));
        let event = SseEvent {
            event: None,
            data: r#"{"error":{"code":400,"message":"API key not valid: Zq8vN3xR5tL1 (truncated)","status":"INVALID_ARGUMENT"}}"#.to_owned(),
        };
        let mut out = VecDeque::new();
        let Err(ProviderError::MidStream { message, .. }) = stream.event(&event, &mut out) else {
            panic!("a mid-stream error")
        };
        assert!(message.contains("API key not valid"), "{message}");
        for w in key.as_bytes().windows(8) {
            assert!(!message.as_bytes().windows(8).any(|b| b == w), "{message}");
        }
    }
}
