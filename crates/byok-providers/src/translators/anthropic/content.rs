//! Content parts → Anthropic content blocks, with `cache_control`.
//!
//! | part | block |
//! |---|---|
//! | `text` | `{"type": "text", "text"}` |
//! | `image_url`, `data:` URL | `image`, `source: {"type": "base64", "media_type", "data"}` |
//! | `image_url`, `http(s)` URL | `image`, `source: {"type": "url", "url"}` (other schemes: 400) |
//! | `file`, `file_data` PDF | `document`, `source: {"type": "base64", "media_type": "application/pdf", "data"}`, `title` from `filename` |
//! | `file`, `file_data` `text/*` | `document`, `source: {"type": "text", "media_type": "text/plain", "data": <decoded text>}` |
//! | `file`, `file_data` `image/*` | `image`, base64 source |
//! | `file` with `file_id`, other media types | 400 |
//!
//! Every block takes the part's `cache_control` as it came. A tool message
//! becomes a `tool_result`: a string content stays a string, parts become a
//! list of the blocks above (never flattened); the message's `is_error:
//! true` and `cache_control` go on the `tool_result`. System parts become
//! text blocks with their `cache_control` (see [`system`]).

use serde_json::{Map, Value, json};

use crate::common::{inline_file, parse_data_url, unsupported};
use crate::error::ProviderError;
use crate::id::ProviderId;
use crate::types::{Content, ContentPart};

/// The media type Anthropic's plain-text document source takes.
const PLAIN_TEXT: &str = "text/plain";

/// The part's (or message's) `cache_control`, unless absent or null.
fn cache_control(extra: &Map<String, Value>) -> Option<&Value> {
    extra.get("cache_control").filter(|c| !c.is_null())
}

/// `block` with the `cache_control` found in `extra`, if any.
pub(super) fn cached(mut block: Value, extra: &Map<String, Value>) -> Value {
    if let (Some(c), Some(map)) = (cache_control(extra), block.as_object_mut()) {
        map.insert("cache_control".into(), c.clone());
    }
    block
}

/// A text block.
fn text_block(text: &str, extra: &Map<String, Value>) -> Value {
    cached(json!({"type": "text", "text": text}), extra)
}

/// An image block: a `data:` URL as base64, an `http(s)` URL by reference.
fn image_block(provider: ProviderId, url: &str) -> Result<Value, ProviderError> {
    if let Some((media_type, data)) = parse_data_url(url) {
        return Ok(
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
        );
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(unsupported(
        provider,
        "image URLs other than `http(s)://` or a base64 `data:` URL",
    ))
}

/// A `file` part (`{"type": "file", "file": {"file_data", "filename"}}`)
/// as a `document` (PDF, plain text) or `image` block.
fn file_block(provider: ProviderId, part: &Map<String, Value>) -> Result<Value, ProviderError> {
    let (media_type, payload, filename) = inline_file(provider, part)?;
    let source = match media_type {
        "application/pdf" => json!({"type": "base64", "media_type": media_type, "data": payload}),
        m if m.starts_with("text/") => {
            let text = aws_smithy_types::base64::decode(payload)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| {
                    ProviderError::invalid(
                        "a `text/*` `file.file_data` must be base64 of UTF-8 text",
                        Some("messages"),
                    )
                })?;
            json!({"type": "text", "media_type": PLAIN_TEXT, "data": text})
        }
        m if m.starts_with("image/") => {
            return Ok(cached(
                json!({"type": "image", "source": {"type": "base64", "media_type": m, "data": payload}}),
                part,
            ));
        }
        other => {
            return Err(unsupported(
                provider,
                format!(
                    "`file` parts of type `{}` (Anthropic reads PDF, plain text and images)",
                    other.chars().take(64).collect::<String>()
                ),
            ));
        }
    };
    let mut block = json!({"type": "document", "source": source});
    if let Some(title) = filename {
        block["title"] = Value::from(title);
    }
    Ok(cached(block, part))
}

/// One content part as a block.
fn part_block(provider: ProviderId, part: &ContentPart) -> Result<Value, ProviderError> {
    match part {
        ContentPart::Text { text, extra } => Ok(text_block(text, extra)),
        ContentPart::ImageUrl { image_url, extra } => {
            Ok(cached(image_block(provider, &image_url.url)?, extra))
        }
        ContentPart::Other(map) if part.kind() == "file" => file_block(provider, map),
        ContentPart::Other(_) => Err(unsupported(
            provider,
            format!("`{}` content parts", part.kind()),
        )),
    }
}

/// The blocks of a user or assistant message's content.
pub(super) fn blocks(provider: ProviderId, content: &Content) -> Result<Vec<Value>, ProviderError> {
    match content {
        Content::Text(t) => Ok(vec![json!({"type": "text", "text": t})]),
        Content::Parts(parts) => parts.iter().map(|p| part_block(provider, p)).collect(),
    }
}

/// A tool message as a `tool_result` block: string content as a string,
/// parts as a list of text / image / document blocks (empty text parts
/// left out: Anthropic refuses them), `is_error: true` and
/// `cache_control` from the message.
pub(super) fn tool_result(
    provider: ProviderId,
    id: &str,
    content: &Content,
    extra: &Map<String, Value>,
) -> Result<Value, ProviderError> {
    let content = match content {
        Content::Text(t) => Value::from(t.as_str()),
        Content::Parts(parts) => Value::Array(
            parts
                .iter()
                .filter(|p| !matches!(p, ContentPart::Text { text, .. } if text.is_empty()))
                .map(|p| part_block(provider, p))
                .collect::<Result<_, _>>()?,
        ),
    };
    let mut block = json!({"type": "tool_result", "tool_use_id": id, "content": content});
    if extra.get("is_error") == Some(&Value::Bool(true)) {
        block["is_error"] = Value::Bool(true);
    }
    Ok(cached(block, extra))
}

/// One system or developer message: its text parts as text blocks (with
/// their `cache_control`); other parts carry nothing Anthropic's `system`
/// can hold and are left out, as before.
pub(super) fn system(content: &Content) -> Vec<Value> {
    match content {
        Content::Text(t) => vec![json!({"type": "text", "text": t})],
        Content::Parts(parts) => parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text { text, extra } => Some(text_block(text, extra)),
                ContentPart::ImageUrl { .. } | ContentPart::Other(_) => None,
            })
            .collect(),
    }
}

/// The top-level `system`: one string (the messages' texts joined by a
/// blank line) unless a part carries `cache_control` or a message has
/// several parts; then a list of text blocks, not flattened (empty ones
/// left out: Anthropic refuses them).
pub(super) fn system_value(messages: Vec<Vec<Value>>) -> Option<Value> {
    if messages.is_empty() {
        return None;
    }
    let listed = messages
        .iter()
        .any(|m| m.len() > 1 || m.iter().any(|b| b.get("cache_control").is_some()));
    let text = |b: &Value| b["text"].as_str().unwrap_or("").to_owned();
    if listed {
        let blocks: Vec<Value> = messages
            .into_iter()
            .flatten()
            .filter(|b| b["text"] != "")
            .collect();
        return Some(Value::Array(blocks));
    }
    let joined: Vec<String> = messages
        .iter()
        .map(|m| m.iter().map(text).collect::<String>())
        .collect();
    Some(Value::from(joined.join("\n\n")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn part(v: Value) -> ContentPart {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn files_become_documents_and_file_ids_are_refused() {
        let p = ProviderId::Anthropic;
        let pdf = part(
            json!({"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}, "cache_control": {"type": "ephemeral"}}),
        );
        assert_eq!(
            part_block(p, &pdf).unwrap(),
            json!({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}, "title": "a.pdf", "cache_control": {"type": "ephemeral"}})
        );
        // "hello\n" in base64.
        let text = part(
            json!({"type": "file", "file": {"file_data": "data:text/markdown;base64,aGVsbG8K"}}),
        );
        assert_eq!(
            part_block(p, &text).unwrap(),
            json!({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hello\n"}})
        );
        let bare =
            part(json!({"type": "file", "file": {"file_data": "JVBERi0=", "filename": "B.PDF"}}));
        assert_eq!(
            part_block(p, &bare).unwrap()["source"]["media_type"],
            "application/pdf"
        );
        let id = part(json!({"type": "file", "file": {"file_id": "file-abc"}}));
        assert!(
            part_block(p, &id)
                .unwrap_err()
                .to_string()
                .contains("file_id")
        );
        let zip = part(
            json!({"type": "file", "file": {"file_data": "data:application/zip;base64,UEs="}}),
        );
        assert!(
            part_block(p, &zip)
                .unwrap_err()
                .to_string()
                .contains("application/zip")
        );
        let audio =
            part(json!({"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}));
        assert!(
            part_block(p, &audio)
                .unwrap_err()
                .to_string()
                .contains("input_audio")
        );
    }

    #[test]
    fn images_by_url_or_data_and_other_schemes_refused() {
        let p = ProviderId::Anthropic;
        assert_eq!(
            image_block(p, "HTTPS://x/y.png").unwrap()["source"],
            json!({"type": "url", "url": "HTTPS://x/y.png"})
        );
        assert_eq!(
            image_block(p, "data:image/webp;base64,AAAA").unwrap()["source"]["type"],
            "base64"
        );
        assert!(image_block(p, "file:///etc/passwd").is_err());
    }

    #[test]
    fn system_is_a_string_unless_cached_or_in_parts() {
        let plain = vec![
            system(&Content::Text("A".into())),
            system(&Content::Text("B".into())),
        ];
        assert_eq!(system_value(plain), Some(json!("A\n\nB")));
        let parts: Content = serde_json::from_value(json!([
            {"type": "text", "text": "long"},
            {"type": "text", "text": "", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "tail", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
        ]))
        .unwrap();
        assert_eq!(
            system_value(vec![system(&Content::Text("A".into())), system(&parts)]),
            Some(json!([
                {"type": "text", "text": "A"},
                {"type": "text", "text": "long"},
                {"type": "text", "text": "tail", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
            ]))
        );
        assert_eq!(system_value(Vec::new()), None);
    }
}
