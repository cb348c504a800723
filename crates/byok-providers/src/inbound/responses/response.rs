//! Neutral answer → Responses `response` object, and the item, usage and
//! object builders the stream encoder shares (so a streamed answer's
//! `response.completed` equals the non-streamed encoding).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};

use super::Parsed;
use super::input::ENVELOPE;
use crate::common::now_secs;
use crate::translators::responses::{REASONING_FORMAT, flat_annotation, incomplete_reason};
use crate::types::{ChatResponse, FinishReason, Usage};

/// Encodes a neutral answer as a Responses `response` object (JSON bytes).
pub fn encode_response(response: &ChatResponse, parsed: &Parsed) -> Vec<u8> {
    let suffix = id_suffix(&response.id);
    let mut output = Vec::new();
    let choice = response.choices.first();
    let mut answered = false;
    if let Some(choice) = choice {
        let m = &choice.message;
        let reasoning = m.reasoning_text().unwrap_or("");
        let details = m.reasoning_details.as_deref().unwrap_or(&[]);
        if !reasoning.is_empty() || !details.is_empty() {
            output.push(reasoning_item(
                &reasoning_id(&suffix, 0),
                reasoning,
                details,
                parsed.include_encrypted,
            ));
        }
        let text = m.content.as_deref().unwrap_or("");
        let annotations = annotations(m.extra.get("annotations"));
        let mut parts = Vec::new();
        if !text.is_empty() || !annotations.is_empty() {
            let logprobs = logprobs(choice.logprobs.as_ref());
            parts.push(output_text_part(text, annotations, logprobs));
        }
        if let Some(refusal) = m.refusal.as_deref().filter(|r| !r.is_empty()) {
            parts.push(refusal_part(refusal));
        }
        let calls = m.tool_calls.as_deref().unwrap_or(&[]);
        if !parts.is_empty() {
            output.push(message_item(&message_id(&suffix, 0), parts));
            answered = true;
        }
        for call in calls {
            output.push(call_item(
                &call.id,
                &call.function.name,
                &call.function.arguments,
            ));
            answered = true;
        }
    }
    if !answered {
        output.push(empty_message(&suffix));
    }
    let created = if response.created > 0 {
        response.created
    } else {
        now_secs()
    };
    let finish = choice.and_then(|c| c.finish_reason);
    let object = response_object(
        parsed.head(),
        &suffix,
        created,
        Status::from_finish(finish),
        output,
        response.usage.as_ref(),
    );
    object.to_string().into_bytes()
}

/// What the response object needs from the request.
#[derive(Debug, Clone)]
pub(super) struct Head {
    pub(super) model: String,
    pub(super) echo: Map<String, Value>,
    pub(super) include_encrypted: bool,
}

impl Parsed {
    pub(super) fn head(&self) -> Head {
        Head {
            model: self.model.clone(),
            echo: self.echo.clone(),
            include_encrypted: self.include_encrypted,
        }
    }
}

/// The response's status.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Status {
    InProgress,
    Completed,
    Incomplete(&'static str),
    Failed(Value),
}

impl Status {
    /// `length` → incomplete (`max_output_tokens`), `content_filter` →
    /// incomplete (`content_filter`) (the translator's `INCOMPLETE_REASONS`
    /// read backwards: [`incomplete_reason`]), anything else (none
    /// included) → completed.
    pub(super) fn from_finish(finish: Option<FinishReason>) -> Self {
        match finish.and_then(incomplete_reason) {
            Some(reason) => Self::Incomplete(reason),
            None => Self::Completed,
        }
    }

    /// The `response.*` event that ends a stream with this status.
    pub(super) fn event(&self) -> &'static str {
        match self {
            Self::InProgress => "response.in_progress",
            Self::Completed => "response.completed",
            Self::Incomplete(_) => "response.incomplete",
            Self::Failed(_) => "response.failed",
        }
    }
}

/// The whole `response` object.
pub(super) fn response_object(
    head: Head,
    suffix: &str,
    created_at: i64,
    status: Status,
    output: Vec<Value>,
    usage: Option<&Usage>,
) -> Value {
    let mut o = head.echo;
    let (status_name, incomplete, error) = match status {
        Status::InProgress => ("in_progress", Value::Null, Value::Null),
        Status::Completed => ("completed", Value::Null, Value::Null),
        Status::Incomplete(reason) => ("incomplete", json!({"reason": reason}), Value::Null),
        Status::Failed(error) => ("failed", Value::Null, error),
    };
    let fields = [
        ("id", json!(format!("resp_{suffix}"))),
        ("object", json!("response")),
        ("created_at", json!(created_at)),
        ("status", json!(status_name)),
        ("error", error),
        ("incomplete_details", incomplete),
        ("model", json!(head.model)),
        ("output", Value::Array(output)),
        ("usage", usage.map_or(Value::Null, usage_value)),
        ("store", json!(false)),
    ];
    for (k, v) in fields {
        o.insert(k.to_owned(), v);
    }
    Value::Object(o)
}

/// Responses usage from neutral usage (input counts every input token).
pub(super) fn usage_value(u: &Usage) -> Value {
    let total = if u.total_tokens > 0 {
        u.total_tokens
    } else {
        u.prompt_tokens.saturating_add(u.completion_tokens)
    };
    json!({
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens()},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens()},
        "total_tokens": total,
    })
}

/// The upstream id's ASCII letters and digits (known prefixes dropped, at
/// most 40), else a fresh one.
pub(super) fn id_suffix(upstream: &str) -> String {
    let trimmed = ["chatcmpl-", "chatcmpl_", "resp_", "msg_", "gen-"]
        .iter()
        .find_map(|p| upstream.strip_prefix(p))
        .unwrap_or(upstream);
    let s: String = trimmed
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect();
    if s.is_empty() { fresh_suffix() } else { s }
}

fn fresh_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("byok{nanos:x}{n:x}")
}

/// The `n`th message item's id.
pub(super) fn message_id(suffix: &str, n: usize) -> String {
    if n == 0 {
        format!("msg_{suffix}")
    } else {
        format!("msg_{suffix}_{n}")
    }
}

/// The `n`th reasoning item's id (when the entries give none).
pub(super) fn reasoning_id(suffix: &str, n: usize) -> String {
    if n == 0 {
        format!("rs_{suffix}")
    } else {
        format!("rs_{suffix}_{n}")
    }
}

/// A message item.
pub(super) fn message_item(id: &str, content: Vec<Value>) -> Value {
    json!({"type": "message", "id": id, "status": "completed", "role": "assistant", "content": content})
}

/// The message item of an answer with neither text nor calls.
pub(super) fn empty_message(suffix: &str) -> Value {
    message_item(
        &message_id(suffix, 0),
        vec![output_text_part("", Vec::new(), Vec::new())],
    )
}

/// An `output_text` part.
pub(super) fn output_text_part(text: &str, annotations: Vec<Value>, logprobs: Vec<Value>) -> Value {
    json!({"type": "output_text", "text": text, "annotations": annotations, "logprobs": logprobs})
}

/// A `refusal` part.
pub(super) fn refusal_part(refusal: &str) -> Value {
    json!({"type": "refusal", "refusal": refusal})
}

/// A `function_call` item (`id` is `fc_` + the call id).
pub(super) fn call_item(call_id: &str, name: &str, arguments: &str) -> Value {
    json!({"type": "function_call", "id": call_item_id(call_id), "call_id": call_id, "name": name, "arguments": arguments, "status": "completed"})
}

/// A function-call item's id.
pub(super) fn call_item_id(call_id: &str) -> String {
    let s: String = call_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(60)
        .collect();
    format!("fc_{s}")
}

/// Chat annotations (`{"type": "url_citation", "url_citation": {...}}`) as
/// Responses annotations (the inner keys flat: the translator's
/// [`flat_annotation`]).
pub(super) fn annotations(v: Option<&Value>) -> Vec<Value> {
    v.and_then(Value::as_array)
        .map(|l| l.iter().map(flat_annotation).collect())
        .unwrap_or_default()
}

/// A choice's `logprobs.content` entries (the Responses shape is the same).
pub(super) fn logprobs(v: Option<&Value>) -> Vec<Value> {
    v.and_then(|l| l.get("content"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// One reasoning item from the reasoning text and `reasoning_details`
/// entries (see the module docs for the two shapes).
pub(super) fn reasoning_item(id: &str, text: &str, entries: &[Value], encrypted: bool) -> Value {
    let native = !entries.is_empty()
        && entries
            .iter()
            .all(|e| str_at(e, "format") == Some(REASONING_FORMAT));
    let sealed: Vec<&Value> = entries
        .iter()
        .filter(|e| str_at(e, "type") == Some("reasoning.encrypted"))
        .collect();
    if native && sealed.len() <= 1 {
        let id = entries.iter().find_map(|e| str_at(e, "id")).unwrap_or(id);
        let mut summary = native_summary(entries);
        if summary.is_empty() && !text.is_empty() {
            summary.push(text.to_owned());
        }
        let data = sealed.first().and_then(|e| str_at(e, "data"));
        return reasoning_value(id, &summary, encrypted.then_some(data).flatten());
    }
    let text = if text.is_empty() {
        entries
            .iter()
            .filter_map(|e| str_at(e, "text").or_else(|| str_at(e, "summary")))
            .collect::<String>()
    } else {
        text.to_owned()
    };
    let replayable = entries
        .iter()
        .any(|e| e.get("signature").is_some() || e.get("data").is_some());
    let envelope =
        (encrypted && replayable).then(|| format!("{ENVELOPE}{}", Value::Array(entries.to_vec())));
    let summary: Vec<String> = if text.is_empty() {
        Vec::new()
    } else {
        vec![text]
    };
    reasoning_value(id, &summary, envelope.as_deref())
}

/// `reasoning.summary` texts, consecutive pieces of one `index` joined.
fn native_summary(entries: &[Value]) -> Vec<String> {
    let mut out: Vec<(Option<&Value>, String)> = Vec::new();
    for e in entries
        .iter()
        .filter(|e| str_at(e, "type") == Some("reasoning.summary"))
    {
        let index = e.get("index");
        let piece = str_at(e, "summary").unwrap_or("");
        match out.last_mut() {
            Some((i, s)) if index.is_some() && *i == index => s.push_str(piece),
            _ => out.push((index, piece.to_owned())),
        }
    }
    out.into_iter().map(|(_, s)| s).collect()
}

fn reasoning_value(id: &str, summary: &[String], encrypted: Option<&str>) -> Value {
    let summary: Vec<Value> = summary
        .iter()
        .map(|t| json!({"type": "summary_text", "text": t}))
        .collect();
    json!({"type": "reasoning", "id": id, "summary": summary, "encrypted_content": encrypted})
}
