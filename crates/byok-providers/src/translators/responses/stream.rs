//! The Responses stream state machine: typed SSE events → neutral chunks.
//!
//! Each event is parsed once into [`Event`] (`data.type`, else the SSE
//! event name); fields of the wrong JSON type read as absent, unknown
//! events are ignored.
//!
//! | event | chunk |
//! |---|---|
//! | `response.created` | role chunk; ids, `created_at` |
//! | `response.output_item.added` (`function_call`) | tool-call id + name |
//! | `response.output_text.delta` | `content` (held back near a possible `stop` sequence, see `stop.rs`) |
//! | `response.refusal.delta` / `reasoning_summary_text.delta` | `refusal` / `reasoning_content` |
//! | `response.output_item.done` (`reasoning`) | `reasoning_details`: its summary and encrypted entries |
//! | `response.content_part.added` | nothing (where the part starts, for citation indices) |
//! | `response.output_text.annotation.added` | `annotations: [..]` (chat shape) |
//! | `response.function_call_arguments.delta` | argument fragment |
//! | `response.completed` / `response.incomplete` | held text, finish reason, usage chunk; end |
//! | `response.failed` / `error` | `MidStream` |
//! | `[DONE]` | end |
//! | `response.in_progress`, other `*.done`, others | nothing |
//! | EOF before the end | `StreamTruncated` |
//!
//! After a `stop` sequence, every later event but the end is ignored.

use std::borrow::Cow;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::response::{OutputItem, WireResponse, annotation, reasoning_details};
use super::stop::{StopBuffer, Stops};
use crate::error::{ProviderError, sanitize};
use crate::http::{self, Out, SseTranslate};
use crate::id::ProviderId;
use crate::sse::SseEvent;
use crate::translators::{ChunkHead, ToolSlots, lenient, owned};
use crate::types::{Delta, FinishReason};

/// One Responses stream event (`data.type`, else the SSE event name).
#[derive(Deserialize, Default)]
#[serde(tag = "type")]
enum Event<'a> {
    #[serde(rename = "response.created")]
    Created {
        #[serde(default, borrow, deserialize_with = "lenient::obj")]
        response: Option<WireResponse<'a>>,
    },
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        #[serde(default, deserialize_with = "lenient::u64")]
        output_index: Option<u64>,
        #[serde(default, borrow, deserialize_with = "lenient::obj")]
        item: Option<OutputItem<'a>>,
    },
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        #[serde(default, borrow, deserialize_with = "lenient::obj")]
        item: Option<OutputItem<'a>>,
    },
    #[serde(rename = "response.content_part.added")]
    ContentPartAdded {
        #[serde(default, deserialize_with = "lenient::u64")]
        output_index: Option<u64>,
        #[serde(default, deserialize_with = "lenient::u64")]
        content_index: Option<u64>,
    },
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        #[serde(default, deserialize_with = "lenient::u64")]
        output_index: Option<u64>,
        #[serde(default, deserialize_with = "lenient::u64")]
        content_index: Option<u64>,
        #[serde(default, borrow, deserialize_with = "lenient::str")]
        delta: Option<Cow<'a, str>>,
    },
    /// The name the API sends; the older spec's spelling is accepted too.
    #[serde(
        rename = "response.output_text.annotation.added",
        alias = "response.output_text_annotation.added"
    )]
    AnnotationAdded {
        #[serde(default, deserialize_with = "lenient::u64")]
        output_index: Option<u64>,
        #[serde(default, deserialize_with = "lenient::u64")]
        content_index: Option<u64>,
        #[serde(default, deserialize_with = "lenient::present")]
        annotation: Option<Value>,
    },
    #[serde(rename = "response.refusal.delta")]
    RefusalDelta {
        #[serde(default, borrow, deserialize_with = "lenient::str")]
        delta: Option<Cow<'a, str>>,
    },
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta {
        #[serde(default, borrow, deserialize_with = "lenient::str")]
        delta: Option<Cow<'a, str>>,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta {
        #[serde(default, deserialize_with = "lenient::u64")]
        output_index: Option<u64>,
        #[serde(default, borrow, deserialize_with = "lenient::str")]
        delta: Option<Cow<'a, str>>,
    },
    #[serde(rename = "response.completed")]
    Completed {
        #[serde(default, borrow, deserialize_with = "lenient::obj")]
        response: Option<WireResponse<'a>>,
    },
    #[serde(rename = "response.incomplete")]
    Incomplete {
        #[serde(default, borrow, deserialize_with = "lenient::obj")]
        response: Option<WireResponse<'a>>,
    },
    #[serde(rename = "response.failed")]
    Failed {
        #[serde(default, borrow, deserialize_with = "lenient::obj")]
        response: Option<WireResponse<'a>>,
    },
    #[serde(rename = "error")]
    Error {
        #[serde(default, borrow, deserialize_with = "lenient::str")]
        message: Option<Cow<'a, str>>,
        #[serde(default, deserialize_with = "lenient::present")]
        code: Option<Value>,
    },
    /// response.in_progress, content_part.*, output_item.done, *.done, ...
    #[default]
    #[serde(other)]
    Unknown,
}

/// Responses stream state.
pub(crate) struct ResponsesStream {
    provider: ProviderId,
    secret: SecretString,
    head: ChunkHead,
    /// output_index → tool-call index.
    tools: ToolSlots,
    /// `reasoning_details` entries sent (the next one's index).
    details: usize,
    /// Characters of answer text received (citation offsets).
    text_chars: usize,
    /// Where each text part (output, content index) starts, in characters.
    parts: Vec<((u64, u64), usize)>,
    /// `stop` emulation, when the request has stop sequences.
    stop: Option<StopBuffer>,
}

impl ResponsesStream {
    pub(crate) fn new(provider: ProviderId, wants_usage: bool, secret: SecretString) -> Self {
        Self {
            provider,
            secret,
            head: ChunkHead::new(String::new(), wants_usage),
            tools: ToolSlots::default(),
            details: 0,
            text_chars: 0,
            parts: Vec::new(),
            stop: None,
        }
    }

    /// Emulates `stop` with these sequences.
    pub(crate) fn with_stops(mut self, stops: Option<Stops>) -> Self {
        self.stop = stops.map(StopBuffer::new);
        self
    }

    /// Whether a stop sequence ended the answer.
    fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(StopBuffer::stopped)
    }

    /// Records where text part `key` starts (once).
    fn part_start(&mut self, key: (u64, u64)) -> usize {
        match self.parts.iter().find(|(k, _)| *k == key) {
            Some((_, at)) => *at,
            None => {
                self.parts.push((key, self.text_chars));
                self.text_chars
            }
        }
    }

    /// `response.output_text.delta`: text, through the stop buffer.
    fn text(&mut self, key: (u64, u64), delta: Option<Cow<'_, str>>, out: &mut Out) {
        if self.parts.last().is_none_or(|(k, _)| *k != key) {
            self.part_start(key);
        }
        if let Some(d) = &delta {
            self.text_chars += d.chars().count();
        }
        let content = match &mut self.stop {
            None => owned(delta),
            Some(buffer) => match delta.and_then(|d| buffer.push(&d)) {
                Some(text) => Some(text),
                None => return,
            },
        };
        self.head.push(
            out,
            Delta {
                content,
                ..Delta::default()
            },
        );
    }

    /// Sends the text the stop buffer held back.
    fn flush(&mut self, out: &mut Out) {
        if let Some(text) = self.stop.as_mut().and_then(StopBuffer::flush) {
            self.head.push(
                out,
                Delta {
                    content: Some(text),
                    ..Delta::default()
                },
            );
        }
    }

    /// `response.output_text.annotation.added`: one citation.
    fn annotation(&mut self, key: (u64, u64), raw: Option<Value>, out: &mut Out) {
        let offset = self.part_start(key);
        if let Some(a) = raw.as_ref().and_then(|r| annotation(r, offset)) {
            self.head.push_annotations(out, vec![a]);
        }
    }

    /// `response.output_item.done`: a reasoning item's details.
    fn item_done(&mut self, item: Option<OutputItem<'_>>, out: &mut Out) {
        let Some(item) = item.filter(|i| i.kind.as_deref() == Some("reasoning")) else {
            return;
        };
        let details = reasoning_details(&item, self.details);
        if details.is_empty() {
            return;
        }
        self.details += details.len();
        self.head.push(
            out,
            Delta {
                reasoning_details: Some(details),
                ..Delta::default()
            },
        );
    }

    fn error(&self, message: Option<&str>, code: Option<&Value>) -> ProviderError {
        ProviderError::MidStream {
            provider: self.provider,
            message: sanitize(
                message.unwrap_or("the response failed"),
                Some(self.secret.expose_secret()),
            ),
            code: http::short_code(code),
        }
    }

    /// `response.created`: ids, and the role chunk.
    fn created(&mut self, response: Option<WireResponse<'_>>, out: &mut Out) {
        let r = response.unwrap_or_default();
        self.head.id = owned(r.id).unwrap_or_default();
        self.head.model = owned(r.model).unwrap_or_default();
        if let Some(c) = r.created_at {
            self.head.created = c;
        }
        self.head.push_role(out);
    }

    /// `response.output_item.added`: a function call's id and name.
    fn item_added(&mut self, output_index: u64, item: Option<OutputItem<'_>>, out: &mut Out) {
        let Some(item) = item.filter(|i| i.kind.as_deref() == Some("function_call")) else {
            return;
        };
        let index = self.tools.open(output_index);
        let (id, name) = (owned(item.call_id), owned(item.name));
        let arguments = owned(item.arguments).unwrap_or_default();
        self.head.push_tool_start(out, index, id, name, arguments);
    }

    /// `response.function_call_arguments.delta`: an argument fragment.
    fn arguments(
        &self,
        output_index: u64,
        delta: Option<Cow<'_, str>>,
        out: &mut Out,
    ) -> Result<(), ProviderError> {
        let index = self
            .tools
            .get(output_index)
            .ok_or_else(|| ProviderError::Malformed {
                provider: self.provider,
                what: "arguments for an unknown function call".into(),
            })?;
        self.head.push_arguments(out, index, owned(delta));
        Ok(())
    }

    /// `response.completed` / `response.incomplete`: held text, finish
    /// reason and usage.
    fn completed(&mut self, response: Option<WireResponse<'_>>, out: &mut Out) {
        self.flush(out);
        let r = response.unwrap_or_default();
        let finish = if self.stopped() {
            FinishReason::Stop
        } else {
            r.finish(self.tools.any())
        };
        self.head.push_finish(out, finish);
        if let Some(usage) = r.usage() {
            self.head.push_usage(out, usage);
        }
    }

    /// `response.failed`: the response's error object.
    fn failed(&self, response: Option<WireResponse<'_>>) -> ProviderError {
        let err = response.and_then(|r| r.error);
        self.error(
            err.as_ref()
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str),
            err.as_ref().and_then(|e| e.get("code")),
        )
    }
}

impl ResponsesStream {
    /// The events that end the stream (and the unknown ones): held text is
    /// sent first.
    fn end(&mut self, event: Event<'_>, out: &mut Out) -> Result<bool, ProviderError> {
        match event {
            Event::Completed { response } | Event::Incomplete { response } => {
                self.completed(response, out);
                Ok(true)
            }
            Event::Failed { response } => {
                self.flush(out);
                Err(self.failed(response))
            }
            Event::Error { message, code } => {
                self.flush(out);
                Err(self.error(message.as_deref(), code.as_ref()))
            }
            _ => Ok(false),
        }
    }

    /// After a stop sequence only the end counts.
    fn after_stop(&mut self, event: Event<'_>, out: &mut Out) -> Result<bool, ProviderError> {
        match event {
            Event::Completed { .. }
            | Event::Incomplete { .. }
            | Event::Failed { .. }
            | Event::Error { .. } => self.end(event, out),
            _ => Ok(false),
        }
    }
}

impl SseTranslate for ResponsesStream {
    fn event(&mut self, event: SseEvent, out: &mut Out) -> Result<bool, ProviderError> {
        if event.data.trim() == "[DONE]" {
            self.flush(out);
            return Ok(true);
        }
        let (data, _) =
            lenient::tagged::<Event<'_>>(&event.data, event.event.as_deref()).map_err(|e| {
                ProviderError::Malformed {
                    provider: self.provider,
                    what: format!("stream event: {}", http::classify(&e)),
                }
            })?;
        if self.stopped() {
            return self.after_stop(data, out);
        }
        let content = |delta: Delta| Ok(self.head.chunk(delta, None));
        match data {
            Event::Created { response } => self.created(response, out),
            Event::OutputItemAdded { output_index, item } => {
                self.item_added(output_index.unwrap_or(0), item, out);
            }
            Event::OutputItemDone { item } => self.item_done(item, out),
            Event::ContentPartAdded {
                output_index,
                content_index,
            } => {
                self.part_start((output_index.unwrap_or(0), content_index.unwrap_or(0)));
            }
            Event::OutputTextDelta {
                output_index,
                content_index,
                delta,
            } => self.text(
                (output_index.unwrap_or(0), content_index.unwrap_or(0)),
                delta,
                out,
            ),
            Event::AnnotationAdded {
                output_index,
                content_index,
                annotation,
            } => self.annotation(
                (output_index.unwrap_or(0), content_index.unwrap_or(0)),
                annotation,
                out,
            ),
            Event::RefusalDelta { delta } => out.push_back(content(Delta {
                refusal: owned(delta),
                ..Delta::default()
            })),
            Event::ReasoningSummaryTextDelta { delta } => out.push_back(content(Delta {
                reasoning_content: owned(delta),
                ..Delta::default()
            })),
            Event::FunctionCallArgumentsDelta {
                output_index,
                delta,
            } => self.arguments(output_index.unwrap_or(0), delta, out)?,
            end => return self.end(end, out),
        }
        Ok(false)
    }

    fn eof(&mut self, _out: &mut Out) -> Result<(), ProviderError> {
        http::truncated(self.provider)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::stream::StreamEvent;

    #[test]
    fn events_without_type_use_the_sse_name_and_done_ends() {
        let mut s =
            ResponsesStream::new(ProviderId::OpenAiResponses, true, SecretString::from("k"));
        let mut out = Out::new();
        let ev = |name: Option<&str>, data: &str| SseEvent {
            event: name.map(str::to_owned),
            data: data.to_owned(),
        };
        let named = ev(Some("response.output_text.delta"), r#"{"delta":"hi"}"#);
        assert!(!s.event(named, &mut out).unwrap());
        let odd = ev(None, r#"{"type":"response.output_text.delta","delta":5}"#);
        assert!(!s.event(odd, &mut out).unwrap());
        assert!(s.event(ev(None, "[DONE]"), &mut out).unwrap());
        let texts: Vec<_> = out
            .into_iter()
            .map(|c| match c.unwrap() {
                StreamEvent::Chunk(c) => c.choices[0].delta.content.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, [Some("hi".to_owned()), None]);
    }
}
