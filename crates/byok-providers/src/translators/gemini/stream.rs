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
use serde_json::json;

use super::response::{Finish, Numbering, Parts, WireResponse};
use super::signatures::id_token;
use crate::error::ProviderError;
use crate::http::{self, Out, SseTranslate};
use crate::id::ProviderId;
use crate::sse::SseEvent;
use crate::translators::{Answer, ChunkHead, lenient};
use crate::types::{Delta, FunctionDelta, ToolCall, ToolCallDelta, Usage};

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
            answer:
                Answer {
                    text,
                    reasoning: thoughts,
                    calls,
                    details,
                    ..
                },
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
        self.push_calls(calls, out);
        self.push_annotations(chunk, out);
        if let Some(u) = chunk.usage() {
            self.usage = Some(u);
        }
        if let Some(finish) = finish {
            self.push_finish(&finish, out);
        }
    }

    /// One chunk's complete function calls, indexed after the earlier ones.
    fn push_calls(&mut self, calls: Vec<ToolCall>, out: &mut Out) {
        if calls.is_empty() {
            return;
        }
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

    /// The chunk's citations over the text so far, as `annotations`.
    fn push_annotations(&self, chunk: &WireResponse<'_>, out: &mut Out) {
        self.head
            .push_annotations(out, chunk.annotations(&self.text));
    }

    /// The finish chunk, with Gemini's own reason when it is not `STOP`.
    fn push_finish(&mut self, finish: &Finish, out: &mut Out) {
        self.finished = true;
        self.head
            .push_finish_native(out, finish.reason(self.at.calls > 0), finish.native());
    }

    fn push(&self, out: &mut Out, delta: Delta) {
        self.head.push(out, delta);
    }
}

impl SseTranslate for GoogleStream {
    fn event(&mut self, event: SseEvent, out: &mut Out) -> Result<bool, ProviderError> {
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
    use crate::stream::StreamEvent;
    use crate::translators::inverse;
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
        let Err(ProviderError::MidStream { message, .. }) = stream.event(event, &mut out) else {
            panic!("a mid-stream error")
        };
        assert!(message.contains("API key not valid"), "{message}");
        for w in key.as_bytes().windows(8) {
            assert!(!message.as_bytes().windows(8).any(|b| b == w), "{message}");
        }
    }

    /// One generated part: a thought, text (split over two chunks when
    /// `split`), or a call; each may carry a signature.
    #[derive(Debug, Clone)]
    enum Spec {
        Thought(String),
        Text(String, Option<String>, bool),
        Call(String, Option<String>, Option<String>),
    }

    fn spec() -> impl proptest::strategy::Strategy<Value = Spec> {
        use proptest::prelude::*;
        let sig = proptest::option::of("[A-Za-z0-9+/]{4,12}==");
        prop_oneof![
            "[a-zé ]{1,12}".prop_map(Spec::Thought),
            ("[a-zé東 .]{1,16}", sig.clone(), any::<bool>())
                .prop_map(|(t, s, split)| Spec::Text(t, s, split)),
            (
                "[a-z]{1,6}",
                sig,
                proptest::option::of("[a-z0-9]{1,8}|[a-z/]{41}")
            )
                .prop_map(|(n, s, id)| Spec::Call(n, s, id)),
        ]
    }

    fn part(p: &Spec, piece: Option<bool>) -> serde_json::Value {
        match p {
            Spec::Thought(t) => json!({"text": t, "thought": true}),
            Spec::Text(t, sig, _) => {
                let mid = t
                    .char_indices()
                    .nth(t.chars().count() / 2)
                    .map_or(0, |(i, _)| i);
                let (text, with_sig) = match piece {
                    Some(true) => (&t[..mid], false),
                    Some(false) => (&t[mid..], true),
                    None => (t.as_str(), true),
                };
                let mut v = json!({"text": text});
                if let (Some(s), true) = (sig, with_sig) {
                    v["thoughtSignature"] = json!(s);
                }
                v
            }
            Spec::Call(name, sig, id) => {
                let mut fc = json!({"name": name, "args": {"n": name.len()}});
                if let Some(id) = id {
                    fc["id"] = json!(id);
                }
                let mut v = json!({"functionCall": fc});
                if let Some(s) = sig {
                    v["thoughtSignature"] = json!(s);
                }
                v
            }
        }
    }

    fn response(
        parts: Vec<serde_json::Value>,
        last: Option<&serde_json::Value>,
    ) -> serde_json::Value {
        let mut cand = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(meta) = last {
            cand["finishReason"] = json!("STOP");
            cand["groundingMetadata"] = meta.clone();
        }
        json!({"candidates": [cand], "responseId": "Rsp-1_x", "modelVersion": "gemini-3-flash-preview"})
    }

    proptest::proptest! {
        /// A stream reassembled equals the whole answer: text, reasoning,
        /// calls and their ids, signatures (`reasoning_details`) and
        /// citations (`annotations`).
        #[test]
        fn streamed_equals_non_streamed(
            specs in proptest::collection::vec(spec(), 1..8),
            cuts in proptest::collection::vec(proptest::prelude::any::<bool>(), 8),
            cite in proptest::option::of((0usize..40, 0usize..40)),
        ) {
            use crate::translators::gemini::response::decode_response;
            let all: String = specs.iter().filter_map(|p| match p { Spec::Text(t, ..) => Some(t.as_str()), _ => None }).collect();
            let meta = cite.map(|(a, b)| json!({
                "groundingChunks": [{"web": {"uri": "https://a.example", "title": "a"}}],
                "groundingSupports": [{"segment": {"startIndex": a.min(all.len()), "endIndex": b.min(all.len())}, "groundingChunkIndices": [0]}]
            })).unwrap_or(json!(null));
            let whole = response(specs.iter().map(|p| part(p, None)).collect(), Some(&meta));
            let full = decode_response(ProviderId::Google, whole.to_string().as_bytes()).unwrap();

            // Chunks: a cut after a part when `cuts` says so; split texts over two.
            let mut chunks: Vec<Vec<serde_json::Value>> = vec![Vec::new()];
            for (i, p) in specs.iter().enumerate() {
                match p {
                    Spec::Text(_, _, true) => {
                        chunks.last_mut().unwrap().push(part(p, Some(true)));
                        chunks.push(vec![part(p, Some(false))]);
                    }
                    _ => chunks.last_mut().unwrap().push(part(p, None)),
                }
                if cuts[i] {
                    chunks.push(Vec::new());
                }
            }
            let n = chunks.len();
            let mut stream = GoogleStream::new(ProviderId::Google, false, SecretString::from("k"));
            let mut out = VecDeque::new();
            for (i, c) in chunks.into_iter().enumerate() {
                let last = (i + 1 == n).then_some(&meta);
                let event = SseEvent { event: None, data: response(c, last).to_string() };
                stream.event(event, &mut out).unwrap();
            }
            stream.eof(&mut out).unwrap();
            let chunks: Vec<_> = out.into_iter().filter_map(|e| match e {
                Ok(StreamEvent::Chunk(c)) => Some(*c),
                _ => None,
            }).collect();

            for c in full.choices[0].message.tool_calls.iter().flatten() {
                proptest::prop_assert!(crate::translators::gemini::signatures::valid_id(&c.id), "{}", c.id);
            }
            proptest::prop_assert_eq!(inverse::reassembled(&chunks), inverse::choice_of(&full));
            // Each call whole in one delta (Gemini sends calls whole).
            let deltas = chunks.iter().flat_map(|c| &c.choices).flat_map(|c| c.delta.tool_calls.iter().flatten());
            for d in deltas {
                proptest::prop_assert!(d.id.is_some() && d.function.as_ref().is_some_and(|f| f.name.is_some()));
            }
        }
    }
}
