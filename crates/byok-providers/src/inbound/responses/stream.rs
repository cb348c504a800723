//! Neutral chunks → the Responses event stream.
//!
//! | neutral | events |
//! |---|---|
//! | first chunk (or `finish` / `error` before any) | `response.created`, `response.in_progress` |
//! | reasoning text / `reasoning_details` | (reasoning item) `output_item.added`, `reasoning_summary_part.added`, `reasoning_summary_text.delta`; entries kept for the item's `encrypted_content` |
//! | `content` | (message item) `output_item.added`, `content_part.added` (`output_text`), `output_text.delta` (with `logprobs`) |
//! | `annotations` (delta `extra`) | `output_text.annotation.added` |
//! | `refusal` | `content_part.added` (`refusal`), `refusal.delta` |
//! | tool-call fragment, new index | (function-call item) `output_item.added` (empty `arguments`) |
//! | tool-call fragment | `function_call_arguments.delta` |
//! | another kind starts / `finish` | the open items close: `reasoning_summary_text.done`, `reasoning_summary_part.done`; `output_text.done` / `refusal.done`, `content_part.done`; `function_call_arguments.done`; `output_item.done` |
//! | `finish_reason`, `usage` | kept for the end |
//! | `finish` | `response.completed` (or `response.incomplete`) with the whole response |
//! | `error` | `response.failed` with `error: {code, message}` |
//!
//! Several function calls may be open at once (fragments of any of them may
//! come); they close together, in order, when something else starts.
//!
//! A reasoning item's `id` is known when it opens only if its first delta
//! carries an `openai-responses-v1` entry with an `id`; otherwise it opens
//! as `rs_...` and its `output_item.done` (and the final response) carry
//! the entries' id, as the non-streamed encoding does. Reasoning entries
//! that arrive after other output started open a new reasoning item.

use serde_json::{Value, json};

use super::Parsed;
use super::response::{
    Head, Status, call_item, call_item_id, id_suffix, logprobs, message_id, message_item,
    output_text_part, reasoning_id, reasoning_item, refusal_part, response_object,
};
use crate::common::now_secs;
use crate::types::{ChatChunk, Delta, FinishReason, ToolCallDelta, Usage};

/// Encodes a neutral chunk stream as Responses server-sent events.
#[derive(Debug)]
pub struct StreamEncoder {
    head: Head,
    seq: u64,
    started: bool,
    done: bool,
    suffix: String,
    created_at: i64,
    /// Closed items, by output index.
    items: Vec<Value>,
    /// The next output index.
    next: usize,
    reasoning: Option<OpenReasoning>,
    message: Option<OpenMessage>,
    calls: Vec<OpenCall>,
    reasoning_items: usize,
    message_items: usize,
    answered: bool,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

#[derive(Debug)]
struct OpenReasoning {
    index: usize,
    id: String,
    text: String,
    entries: Vec<Value>,
}

#[derive(Debug)]
struct OpenMessage {
    index: usize,
    id: String,
    /// Closed parts.
    parts: Vec<Value>,
    part: Option<OpenPart>,
}

#[derive(Debug)]
struct OpenPart {
    refusal: bool,
    text: String,
    annotations: Vec<Value>,
    logprobs: Vec<Value>,
}

#[derive(Debug)]
struct OpenCall {
    index: usize,
    /// The chat tool-call index.
    slot: u32,
    call_id: String,
    name: String,
    arguments: String,
}

impl StreamEncoder {
    /// An encoder for the answer to `parsed`.
    pub fn new(parsed: &Parsed) -> Self {
        Self {
            head: parsed.head(),
            seq: 0,
            started: false,
            done: false,
            suffix: String::new(),
            created_at: 0,
            items: Vec::new(),
            next: 0,
            reasoning: None,
            message: None,
            calls: Vec::new(),
            reasoning_items: 0,
            message_items: 0,
            answered: false,
            finish: None,
            usage: None,
        }
    }

    /// Appends the events for one neutral chunk to `out`.
    pub fn push(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        self.start(&chunk.id, chunk.created, out);
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.clone());
        }
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            self.delta(&choice.delta, choice.logprobs.as_ref(), out);
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(reason);
            }
        }
    }

    /// Records usage reported apart from the chunks (a
    /// [`StreamEvent::Usage`](crate::StreamEvent::Usage)); the last one wins,
    /// as does a chunk's `usage`.
    pub fn usage(&mut self, usage: &Usage) {
        self.usage = Some(usage.clone());
    }

    /// Closes the stream: the open items, then `response.completed` (or
    /// `response.incomplete` for a length or content-filter stop). Called
    /// once after the last chunk; an upstream that ended without a finish
    /// reason reads as completed.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        self.start("", 0, out);
        self.close_all(out);
        if !self.answered {
            self.empty_message(out);
        }
        let status = Status::from_finish(self.finish);
        self.end(status, out);
    }

    /// Ends the stream with `response.failed` (`error: {code, message}`);
    /// nothing is sent after it.
    pub fn error(&mut self, status: u16, message: &str, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        self.start("", 0, out);
        let code = match status {
            429 => "rate_limit_exceeded",
            400 => "invalid_prompt",
            _ => "server_error",
        };
        self.end(
            Status::Failed(json!({"code": code, "message": message})),
            out,
        );
    }

    /// `response.created` and `response.in_progress`, once.
    fn start(&mut self, id: &str, created: i64, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        self.suffix = id_suffix(id);
        self.created_at = if created > 0 { created } else { now_secs() };
        for kind in ["response.created", "response.in_progress"] {
            let response = self.object(Status::InProgress, Vec::new());
            self.emit(out, kind, json!({"response": response}));
        }
    }

    fn object(&self, status: Status, output: Vec<Value>) -> Value {
        response_object(
            self.head.clone(),
            &self.suffix,
            self.created_at,
            status,
            output,
            self.usage.as_ref(),
        )
    }

    /// The final `response.*` event.
    fn end(&mut self, status: Status, out: &mut Vec<u8>) {
        let kind = status.event();
        let output = std::mem::take(&mut self.items);
        let response = self.object(status, output);
        self.emit(out, kind, json!({"response": response}));
        self.done = true;
    }

    /// One delta: reasoning, then text and annotations, refusal, tool calls.
    fn delta(&mut self, d: &Delta, lp: Option<&Value>, out: &mut Vec<u8>) {
        let reasoning = d.reasoning_text().filter(|t| !t.is_empty());
        let details = d.reasoning_details.as_deref().filter(|d| !d.is_empty());
        if reasoning.is_some() || details.is_some() {
            self.reasoning(reasoning, details.unwrap_or(&[]), out);
        }
        let text = d.content.as_deref().filter(|t| !t.is_empty());
        let annotations = super::response::annotations(d.extra.get("annotations"));
        if text.is_some() || !annotations.is_empty() {
            self.text(text, annotations, logprobs(lp), out);
        }
        if let Some(refusal) = d.refusal.as_deref().filter(|r| !r.is_empty()) {
            self.refusal(refusal, out);
        }
        for call in d.tool_calls.iter().flatten() {
            self.tool_call(call, out);
        }
    }

    fn reasoning(&mut self, text: Option<&str>, entries: &[Value], out: &mut Vec<u8>) {
        if self.reasoning.is_none() {
            self.close_message(out);
            self.close_calls(out);
            let fallback = reasoning_id(&self.suffix, self.reasoning_items);
            self.reasoning_items += 1;
            // A native entry's id is the item's, when it comes first.
            let native = reasoning_item(&fallback, "", entries, false);
            let id = native["id"].as_str().unwrap_or(&fallback).to_owned();
            let index = self.open_index();
            let item = json!({"type": "reasoning", "id": id, "summary": []});
            self.emit(
                out,
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            );
            self.reasoning = Some(OpenReasoning {
                index,
                id,
                text: String::new(),
                entries: Vec::new(),
            });
        }
        let Some(r) = self.reasoning.as_mut() else {
            return;
        };
        r.entries.extend_from_slice(entries);
        let Some(text) = text else {
            return;
        };
        let first = r.text.is_empty();
        r.text.push_str(text);
        let (index, id) = (r.index, r.id.clone());
        if first {
            self.emit(
                out,
                "response.reasoning_summary_part.added",
                json!({"item_id": id, "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
            );
        }
        self.emit(
            out,
            "response.reasoning_summary_text.delta",
            json!({"item_id": id, "output_index": index, "summary_index": 0, "delta": text}),
        );
    }

    fn close_reasoning(&mut self, out: &mut Vec<u8>) {
        let Some(r) = self.reasoning.take() else {
            return;
        };
        if !r.text.is_empty() {
            let common = |extra: Value| {
                let mut v = json!({"item_id": r.id, "output_index": r.index, "summary_index": 0});
                if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
                    m.extend(e);
                }
                v
            };
            let done = common(json!({"text": r.text}));
            let part = common(json!({"part": {"type": "summary_text", "text": r.text}}));
            self.emit(out, "response.reasoning_summary_text.done", done);
            self.emit(out, "response.reasoning_summary_part.done", part);
        }
        let item = reasoning_item(&r.id, &r.text, &r.entries, self.head.include_encrypted);
        self.close_item(r.index, item, out);
    }

    /// The message item, opened if needed (other kinds close).
    fn open_message(&mut self, out: &mut Vec<u8>) {
        if self.message.is_some() {
            return;
        }
        self.close_reasoning(out);
        self.close_calls(out);
        let id = message_id(&self.suffix, self.message_items);
        self.message_items += 1;
        let index = self.open_index();
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": {"type": "message", "id": id, "status": "in_progress", "role": "assistant", "content": []}}),
        );
        self.message = Some(OpenMessage {
            index,
            id,
            parts: Vec::new(),
            part: None,
        });
        self.answered = true;
    }

    /// The message's current part, of kind `refusal`, opened if needed;
    /// its (item id, output index, content index).
    fn open_part(&mut self, refusal: bool, out: &mut Vec<u8>) -> (String, usize, usize) {
        self.open_message(out);
        let same = self
            .message
            .as_ref()
            .and_then(|m| m.part.as_ref())
            .is_some_and(|p| p.refusal == refusal);
        if !same {
            self.close_part(out);
        }
        let Some(m) = self.message.as_mut() else {
            return (String::new(), 0, 0);
        };
        let at = (m.id.clone(), m.index, m.parts.len());
        if !same {
            m.part = Some(OpenPart {
                refusal,
                text: String::new(),
                annotations: Vec::new(),
                logprobs: Vec::new(),
            });
            let part = if refusal {
                refusal_part("")
            } else {
                output_text_part("", Vec::new(), Vec::new())
            };
            self.emit(
                out,
                "response.content_part.added",
                json!({"item_id": at.0, "output_index": at.1, "content_index": at.2, "part": part}),
            );
        }
        at
    }

    fn text(
        &mut self,
        text: Option<&str>,
        annotations: Vec<Value>,
        logprobs: Vec<Value>,
        out: &mut Vec<u8>,
    ) {
        let (id, index, content) = self.open_part(false, out);
        let Some(part) = self.message.as_mut().and_then(|m| m.part.as_mut()) else {
            return;
        };
        let first_annotation = part.annotations.len();
        part.annotations.extend(annotations.iter().cloned());
        if let Some(text) = text {
            part.text.push_str(text);
            part.logprobs.extend(logprobs.iter().cloned());
            self.emit(
                out,
                "response.output_text.delta",
                json!({"item_id": id, "output_index": index, "content_index": content, "delta": text, "logprobs": logprobs}),
            );
        }
        for (n, annotation) in annotations.into_iter().enumerate() {
            self.emit(
                out,
                "response.output_text.annotation.added",
                json!({"item_id": id, "output_index": index, "content_index": content, "annotation_index": first_annotation + n, "annotation": annotation}),
            );
        }
    }

    fn refusal(&mut self, refusal: &str, out: &mut Vec<u8>) {
        let (id, index, content) = self.open_part(true, out);
        if let Some(part) = self.message.as_mut().and_then(|m| m.part.as_mut()) {
            part.text.push_str(refusal);
        }
        self.emit(
            out,
            "response.refusal.delta",
            json!({"item_id": id, "output_index": index, "content_index": content, "delta": refusal}),
        );
    }

    /// Closes the message's current part.
    fn close_part(&mut self, out: &mut Vec<u8>) {
        let Some(m) = self.message.as_mut() else {
            return;
        };
        let Some(p) = m.part.take() else {
            return;
        };
        let (id, index, content) = (m.id.clone(), m.index, m.parts.len());
        let part = if p.refusal {
            refusal_part(&p.text)
        } else {
            output_text_part(&p.text, p.annotations, p.logprobs.clone())
        };
        m.parts.push(part.clone());
        let at = json!({"item_id": id, "output_index": index, "content_index": content});
        let (kind, mut done) = if p.refusal {
            ("response.refusal.done", at.clone())
        } else {
            ("response.output_text.done", at.clone())
        };
        if p.refusal {
            done["refusal"] = json!(p.text);
        } else {
            done["text"] = json!(p.text);
            done["logprobs"] = Value::Array(p.logprobs);
        }
        self.emit(out, kind, done);
        let mut part_done = at;
        part_done["part"] = part;
        self.emit(out, "response.content_part.done", part_done);
    }

    fn close_message(&mut self, out: &mut Vec<u8>) {
        self.close_part(out);
        if let Some(m) = self.message.take() {
            let item = message_item(&m.id, m.parts);
            self.close_item(m.index, item, out);
        }
    }

    /// The message item of an answer with neither text nor calls.
    fn empty_message(&mut self, out: &mut Vec<u8>) {
        self.open_part(false, out);
        self.close_message(out);
    }

    fn tool_call(&mut self, call: &ToolCallDelta, out: &mut Vec<u8>) {
        let function = call.function.as_ref();
        let position = match self.calls.iter().position(|c| c.slot == call.index) {
            Some(p) => p,
            None => {
                self.close_reasoning(out);
                self.close_message(out);
                let call_id = call.id.clone().unwrap_or_else(|| {
                    let short: String = self.suffix.chars().take(24).collect();
                    format!("call_{short}_{}", call.index)
                });
                let name = function.and_then(|f| f.name.clone()).unwrap_or_default();
                let index = self.open_index();
                let item = json!({"type": "function_call", "id": call_item_id(&call_id), "call_id": call_id, "name": name, "arguments": "", "status": "in_progress"});
                self.emit(
                    out,
                    "response.output_item.added",
                    json!({"output_index": index, "item": item}),
                );
                self.calls.push(OpenCall {
                    index,
                    slot: call.index,
                    call_id,
                    name,
                    arguments: String::new(),
                });
                self.answered = true;
                self.calls.len() - 1
            }
        };
        let Some(open) = self.calls.get_mut(position) else {
            return;
        };
        if open.name.is_empty()
            && let Some(name) = function.and_then(|f| f.name.as_deref())
        {
            open.name = name.to_owned();
        }
        let Some(delta) = function
            .and_then(|f| f.arguments.as_deref())
            .filter(|a| !a.is_empty())
        else {
            return;
        };
        open.arguments.push_str(delta);
        let (id, index) = (call_item_id(&open.call_id), open.index);
        self.emit(
            out,
            "response.function_call_arguments.delta",
            json!({"item_id": id, "output_index": index, "delta": delta}),
        );
    }

    fn close_calls(&mut self, out: &mut Vec<u8>) {
        for c in std::mem::take(&mut self.calls) {
            self.emit(
                out,
                "response.function_call_arguments.done",
                json!({"item_id": call_item_id(&c.call_id), "output_index": c.index, "name": c.name, "arguments": c.arguments}),
            );
            let item = call_item(&c.call_id, &c.name, &c.arguments);
            self.close_item(c.index, item, out);
        }
    }

    fn close_all(&mut self, out: &mut Vec<u8>) {
        self.close_reasoning(out);
        self.close_message(out);
        self.close_calls(out);
    }

    fn open_index(&mut self) -> usize {
        self.next += 1;
        self.next - 1
    }

    /// `response.output_item.done`, and the item kept for the final
    /// response (items close in output order).
    fn close_item(&mut self, index: usize, item: Value, out: &mut Vec<u8>) {
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": item.clone()}),
        );
        self.items.push(item);
    }

    /// One event: `event: kind`, then `data:` with `type` and
    /// `sequence_number` first and `body`'s fields after.
    fn emit(&mut self, out: &mut Vec<u8>, kind: &str, body: Value) {
        let seq = self.seq;
        self.seq += 1;
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: {\"type\":\"");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\",\"sequence_number\":");
        out.extend_from_slice(seq.to_string().as_bytes());
        if let Value::Object(fields) = body {
            for (k, v) in fields {
                out.push(b',');
                out.extend_from_slice(Value::String(k).to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(v.to_string().as_bytes());
            }
        }
        out.extend_from_slice(b"}\n\n");
    }
}
