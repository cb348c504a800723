//! `input` items → neutral messages.
//!
//! Assistant-side items (assistant messages, `function_call`s, `reasoning`)
//! between two other items are one assistant message: a second assistant
//! text starts a new one, and a `reasoning` item goes to the assistant
//! message its next assistant-side item lands in. Reasoning with no
//! assistant item after it (before a user message or at the end) is
//! dropped: no neutral message can hold reasoning alone.

use serde_json::{Map, Value, json};

use super::InboundError;
use crate::translators::function_call;
use crate::translators::responses::reasoning_item_details;
use crate::types::{Content, ContentPart, ImageUrl, Message, ToolCall};

/// Prefix of the `encrypted_content` envelope holding other formats'
/// `reasoning_details` entries (see the module docs).
pub(super) const ENVELOPE: &str = "byok.rd1:";

/// One assistant message being gathered.
#[derive(Default)]
struct Turn {
    text: Option<String>,
    refusal: Option<String>,
    calls: Vec<ToolCall>,
    reasoning: String,
    details: Vec<Value>,
}

impl Turn {
    fn has_answer(&self) -> bool {
        self.text.is_some() || self.refusal.is_some() || !self.calls.is_empty()
    }

    fn into_message(self) -> Message {
        Message::Assistant {
            content: self.text.map(Content::Text),
            tool_calls: (!self.calls.is_empty()).then_some(self.calls),
            refusal: self.refusal,
            reasoning_content: (!self.reasoning.is_empty()).then_some(self.reasoning),
            reasoning_details: (!self.details.is_empty()).then_some(self.details),
            name: None,
            extra: Map::new(),
        }
    }
}

/// The assistant message being gathered and the reasoning waiting for one.
#[derive(Default)]
struct Gather {
    messages: Vec<Message>,
    turn: Option<Turn>,
    pending: Option<(String, Vec<Value>)>,
}

impl Gather {
    /// Ends the assistant message, if it says anything.
    fn flush(&mut self) {
        if let Some(turn) = self.turn.take().filter(Turn::has_answer) {
            self.messages.push(turn.into_message());
        }
    }

    /// A non-assistant message: ends the turn; waiting reasoning is dropped.
    fn push(&mut self, message: Message) {
        self.flush();
        self.pending = None;
        self.messages.push(message);
    }

    /// The assistant message an assistant item goes to (`fresh`: a new one
    /// if the current one already has an answer), with waiting reasoning.
    fn turn(&mut self, fresh: bool) -> &mut Turn {
        if fresh && self.turn.as_ref().is_some_and(Turn::has_answer) {
            self.flush();
        }
        let turn = self.turn.get_or_insert_with(Turn::default);
        if let Some((text, details)) = self.pending.take() {
            turn.reasoning.push_str(&text);
            turn.details.extend(details);
        }
        turn
    }

    fn finish(mut self) -> Vec<Message> {
        self.flush();
        self.messages
    }
}

/// `input` (a string or a list of items) → messages.
pub(super) fn input_messages(v: Option<Value>) -> Result<Vec<Message>, InboundError> {
    let items = match v {
        Some(Value::String(s)) => {
            return Ok(vec![Message::User {
                content: Content::Text(s),
                name: None,
                extra: Map::new(),
            }]);
        }
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => {
            return Err(InboundError::invalid(
                "`input` must be a string or a non-empty list of items",
                "input",
            ));
        }
    };
    let mut gather = Gather::default();
    for item in items {
        let Value::Object(item) = item else {
            return Err(InboundError::invalid(
                "every input item must be an object",
                "input",
            ));
        };
        input_item(item, &mut gather)?;
    }
    Ok(gather.finish())
}

fn input_item(mut item: Map<String, Value>, gather: &mut Gather) -> Result<(), InboundError> {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message")
        .to_owned();
    match kind.as_str() {
        "message" => message(item, gather),
        "function_call" => {
            let call_id = take_str(&mut item, "call_id").ok_or_else(|| {
                InboundError::invalid("a `function_call` item needs a `call_id`", "input")
            })?;
            let name = take_str(&mut item, "name").ok_or_else(|| {
                InboundError::invalid("a `function_call` item needs a `name`", "input")
            })?;
            let arguments = take_str(&mut item, "arguments").unwrap_or_default();
            gather
                .turn(false)
                .calls
                .push(function_call(call_id, name, arguments));
            Ok(())
        }
        "function_call_output" => {
            let call_id = take_str(&mut item, "call_id").ok_or_else(|| {
                InboundError::invalid("a `function_call_output` item needs a `call_id`", "input")
            })?;
            let content = match item.remove("output") {
                Some(Value::String(s)) => Content::Text(s),
                Some(v @ Value::Array(_)) => content_parts(v, "input")?,
                None | Some(Value::Null) => Content::Text(String::new()),
                Some(other) => Content::Text(other.to_string()),
            };
            gather.push(Message::Tool {
                content,
                tool_call_id: call_id,
                extra: Map::new(),
            });
            Ok(())
        }
        "reasoning" => {
            let pending = gather.pending.get_or_insert_with(Default::default);
            let (text, details) = reasoning_details(item, pending.1.len());
            pending.0.push_str(&text);
            pending.1.extend(details);
            Ok(())
        }
        "item_reference" => Err(InboundError::invalid(
            "`item_reference` input items need a Responses-native provider (openai-responses, azure-responses); send the items themselves",
            "input",
        )),
        other => {
            let other: String = other.chars().take(40).collect();
            Err(InboundError::invalid(
                format!(
                    "input items of type `{other}` need a Responses-native provider (openai-responses, azure-responses)"
                ),
                "input",
            ))
        }
    }
}

fn take_str(item: &mut Map<String, Value>, key: &str) -> Option<String> {
    match item.remove(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// A `message` item of any role.
fn message(mut item: Map<String, Value>, gather: &mut Gather) -> Result<(), InboundError> {
    let role = take_str(&mut item, "role").unwrap_or_default();
    let content = item.remove("content").unwrap_or(Value::Null);
    match role.as_str() {
        "user" => gather.push(Message::User {
            content: content_parts(content, "input")?,
            name: None,
            extra: Map::new(),
        }),
        "system" => gather.push(Message::System {
            content: content_parts(content, "input")?,
            name: None,
        }),
        "developer" => gather.push(Message::Developer {
            content: content_parts(content, "input")?,
            name: None,
            extra: Map::new(),
        }),
        "assistant" => {
            let (text, refusal) = assistant_content(content)?;
            let turn = gather.turn(true);
            if let Some(text) = text {
                turn.text.get_or_insert_with(String::new).push_str(&text);
            }
            if let Some(refusal) = refusal {
                turn.refusal
                    .get_or_insert_with(String::new)
                    .push_str(&refusal);
            }
        }
        other => {
            let other: String = other.chars().take(40).collect();
            return Err(InboundError::invalid(
                format!("unknown message role `{other}`: use user, system, developer or assistant"),
                "input",
            ));
        }
    }
    Ok(())
}

/// An assistant message's text and refusal.
fn assistant_content(v: Value) -> Result<(Option<String>, Option<String>), InboundError> {
    let parts = match v {
        Value::String(s) => return Ok((Some(s), None)),
        Value::Array(parts) => parts,
        Value::Null => return Ok((None, None)),
        _ => {
            return Err(InboundError::invalid(
                "message `content` must be a string or a list of parts",
                "input",
            ));
        }
    };
    let (mut text, mut refusal) = (None::<String>, None::<String>);
    for part in parts {
        let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "output_text" | "input_text" | "text" => text
                .get_or_insert_with(String::new)
                .push_str(part.get("text").and_then(Value::as_str).unwrap_or("")),
            "refusal" => refusal
                .get_or_insert_with(String::new)
                .push_str(part.get("refusal").and_then(Value::as_str).unwrap_or("")),
            other => {
                let other: String = other.chars().take(40).collect();
                return Err(InboundError::invalid(
                    format!("assistant content parts of type `{other}` cannot be sent back"),
                    "input",
                ));
            }
        }
    }
    Ok((text, refusal))
}

/// User-side content (a string or `input_*` parts) → neutral content.
fn content_parts(v: Value, param: &str) -> Result<Content, InboundError> {
    let parts = match v {
        Value::String(s) => return Ok(Content::Text(s)),
        Value::Array(parts) => parts,
        _ => {
            return Err(InboundError::invalid(
                "message `content` must be a string or a list of parts",
                param,
            ));
        }
    };
    parts
        .into_iter()
        .map(|p| content_part(p, param))
        .collect::<Result<_, _>>()
        .map(Content::Parts)
}

fn content_part(part: Value, param: &str) -> Result<ContentPart, InboundError> {
    let Value::Object(mut part) = part else {
        return Err(InboundError::invalid(
            "every content part must be an object",
            param,
        ));
    };
    let kind = take_str(&mut part, "type").unwrap_or_default();
    let no_files = |what: &str, how: &str| {
        InboundError::invalid(
            format!(
                "`{what}` cannot be resolved: the gateway keeps no files and the translated providers are stateless; {how}"
            ),
            param,
        )
    };
    match kind.as_str() {
        "input_text" | "output_text" | "text" => Ok(ContentPart::Text {
            text: take_str(&mut part, "text").unwrap_or_default(),
            extra: Map::new(),
        }),
        "input_image" => {
            if let Some(url) = take_str(&mut part, "image_url") {
                let detail = take_str(&mut part, "detail");
                return Ok(ContentPart::ImageUrl {
                    image_url: ImageUrl {
                        url,
                        detail,
                        extra: Map::new(),
                    },
                    extra: Map::new(),
                });
            }
            Err(no_files(
                "input_image.file_id",
                "send the image as `image_url` (a URL or a data: URL)",
            ))
        }
        "input_file" => {
            if let Some(data) = take_str(&mut part, "file_data") {
                let mut file = Map::new();
                file.insert("file_data".into(), Value::String(data));
                if let Some(name) = take_str(&mut part, "filename") {
                    file.insert("filename".into(), Value::String(name));
                }
                let mut other = Map::new();
                other.insert("type".into(), json!("file"));
                other.insert("file".into(), Value::Object(file));
                return Ok(ContentPart::Other(other));
            }
            let what = if part.contains_key("file_url") {
                "input_file.file_url"
            } else {
                "input_file.file_id"
            };
            Err(no_files(
                what,
                "send the file's content as `file_data` (a data: URL)",
            ))
        }
        "input_audio" => {
            let mut other = part;
            other.insert("type".into(), json!("input_audio"));
            Ok(ContentPart::Other(other))
        }
        other => {
            let other: String = other.chars().take(40).collect();
            Err(InboundError::invalid(
                format!("content parts of type `{other}` are not supported here"),
                param,
            ))
        }
    }
}

/// A `reasoning` item → its text and `reasoning_details` entries: an
/// envelope's entries as they were, else `openai-responses-v1` entries as
/// the Responses translator reads an output item
/// ([`reasoning_item_details`]), numbered from `start` (the entries of the
/// message's earlier reasoning items).
fn reasoning_details(item: Map<String, Value>, start: usize) -> (String, Vec<Value>) {
    let texts = |key: &str| -> Vec<&str> {
        item.get(key)
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default()
    };
    let summary = texts("summary");
    let mut text = summary.join("\n\n");
    if text.is_empty() {
        text = texts("content").concat();
    }
    let encrypted = item.get("encrypted_content").and_then(Value::as_str);
    if let Some(entries) = encrypted
        .and_then(|e| e.strip_prefix(ENVELOPE))
        .and_then(|e| serde_json::from_str::<Vec<Value>>(e).ok())
    {
        return (text, entries);
    }
    let details = reasoning_item_details(&Value::Object(item), start);
    (text, details)
}
