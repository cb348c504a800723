//! `thinking` / `redacted_thinking` blocks ⇄ neutral `reasoning_details`
//! entries, both directions, lossless for every format.
//!
//! Entries in Anthropic's own format (`anthropic-claude-v1`, or no
//! `format`) are the blocks they came from: `reasoning.text` is a `thinking`
//! block (`text`, `signature`), `reasoning.encrypted` a `redacted_thinking`
//! block (`data`). The upstream translator's helpers build them
//! ([`text_detail`], [`encrypted_detail`]), so both directions agree.
//!
//! Entries of another provider (`bedrock-converse`, `google-gemini-v1`,
//! `openai-responses-v1`, ...) have no Anthropic block, yet the client must
//! send them back unchanged for that provider's tool loops to continue.
//! They travel **tagged**: the entry without its text and `index`, as JSON,
//! after its format and a `#` (`bedrock-converse#{"type":"reasoning.text",
//! "signature":"…","format":"bedrock-converse"}`), in the `signature` of a
//! `thinking` block holding its text (`text`, or a summary's `summary`), or
//! in the `data` of a `redacted_thinking` block when it has no text. The
//! Anthropic SDKs treat both as opaque strings and send them back as they
//! came. Anthropic's own signatures and data are base64, which never
//! contains `#`, so a tagged value is never mistaken for one (and a tagged
//! block sent to Anthropic itself, after a switch of model mid-conversation,
//! is refused there as an invalid signature: the same as any other
//! provider's signature would be).

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::translators::anthropic::reasoning::{FORMAT, encrypted_detail, text_detail};

/// A reasoning entry as an Anthropic content block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ReasoningBlock<'a> {
    /// A `thinking` block.
    Thinking {
        /// Its text.
        text: &'a str,
        /// Its signature: Anthropic's, or a tagged foreign entry.
        signature: Cow<'a, str>,
    },
    /// A `redacted_thinking` block.
    Redacted {
        /// Its data: Anthropic's, or a tagged foreign entry.
        data: Cow<'a, str>,
    },
}

/// Separates a foreign entry's format from its JSON in a tag.
const TAG: char = '#';

/// The block that carries `entry` (`None` for a value that is not an
/// object).
pub(super) fn block_of(entry: &Value) -> Option<ReasoningBlock<'_>> {
    entry.as_object().map(block_of_map)
}

/// The block that carries the entry `map`.
pub(super) fn block_of_map(map: &Map<String, Value>) -> ReasoningBlock<'_> {
    let str_at = |key: &str| map.get(key).and_then(Value::as_str);
    let kind = str_at("type").unwrap_or("");
    if !is_foreign(map) {
        match kind {
            "reasoning.text" => {
                return ReasoningBlock::Thinking {
                    text: str_at("text").unwrap_or(""),
                    signature: Cow::Borrowed(str_at("signature").unwrap_or("")),
                };
            }
            "reasoning.encrypted" => {
                return ReasoningBlock::Redacted {
                    data: Cow::Borrowed(str_at("data").unwrap_or("")),
                };
            }
            _ => {}
        }
    }
    foreign(map, kind)
}

/// Whether the entry `map` is foreign (or unknown): not Anthropic's own
/// `reasoning.text` / `reasoning.encrypted`, so carried tagged.
pub(super) fn is_foreign(map: &Map<String, Value>) -> bool {
    let own_format = map
        .get("format")
        .and_then(Value::as_str)
        .is_none_or(|f| f == FORMAT);
    let own_type = matches!(
        map.get("type").and_then(Value::as_str),
        Some("reasoning.text" | "reasoning.encrypted")
    );
    !(own_format && own_type)
}

/// Whether `a` and `b` are pieces of one streamed entry: the same
/// `format`, `type` and `index` (Bedrock streams a reasoning block as
/// `reasoning.text` pieces with text, then one with its signature).
pub(super) fn same_entry(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    ["format", "type", "index"]
        .into_iter()
        .all(|k| a.get(k) == b.get(k))
}

/// A piece's text (`text`, or a summary's `summary`), when it has one.
pub(super) fn piece_text(piece: &Map<String, Value>) -> Option<&str> {
    let kind = piece.get("type").and_then(Value::as_str).unwrap_or("");
    piece.get(text_key(kind)).and_then(Value::as_str)
}

/// Whether a piece carries a signature, which ends its entry.
pub(super) fn signed(piece: &Map<String, Value>) -> bool {
    piece
        .get("signature")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

/// Adds `piece` to the entry `into` of the same [`same_entry`]: its text
/// appended when `keep_text` (else the text stays as it is), every other
/// field the piece's (the last signature or data wins).
pub(super) fn merge(into: &mut Map<String, Value>, piece: &Map<String, Value>, keep_text: bool) {
    let kind = piece.get("type").and_then(Value::as_str).unwrap_or("");
    let key = text_key(kind);
    for (k, v) in piece {
        if k.as_str() != key {
            into.insert(k.clone(), v.clone());
            continue;
        }
        let Some(add) = v.as_str() else {
            into.insert(k.clone(), v.clone());
            continue;
        };
        match into.get_mut(k) {
            Some(Value::String(text)) => {
                if keep_text {
                    text.push_str(add);
                }
            }
            _ => {
                let start = if keep_text { add } else { "" };
                into.insert(k.clone(), Value::from(start));
            }
        }
    }
}

/// The key holding an entry's text, by its type.
fn text_key(kind: &str) -> &'static str {
    if kind == "reasoning.summary" {
        "summary"
    } else {
        "text"
    }
}

/// A foreign (or unknown) entry, tagged.
fn foreign<'a>(map: &'a Map<String, Value>, kind: &str) -> ReasoningBlock<'a> {
    let key = text_key(kind);
    let text = map.get(key).and_then(Value::as_str);
    let rest: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| k.as_str() != "index" && (text.is_none() || k.as_str() != key))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let format = map.get("format").and_then(Value::as_str).unwrap_or("");
    let tag = format!("{format}{TAG}{}", Value::Object(rest));
    match text {
        Some(text) => ReasoningBlock::Thinking {
            text,
            signature: Cow::Owned(tag),
        },
        None => ReasoningBlock::Redacted {
            data: Cow::Owned(tag),
        },
    }
}

/// A tagged foreign entry, when `value` is one.
fn untag(value: &str) -> Option<Map<String, Value>> {
    let (_, json) = value.split_once(TAG)?;
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// The entry a client's `thinking` block stands for, numbered `index`.
pub(super) fn thinking_entry(index: usize, text: &str, signature: &str) -> Value {
    match untag(signature) {
        Some(mut map) => {
            let kind = map.get("type").and_then(Value::as_str).unwrap_or("");
            map.insert(text_key(kind).to_owned(), Value::from(text));
            map.insert("index".to_owned(), Value::from(index));
            Value::Object(map)
        }
        None => text_detail(index, text, Some(signature)),
    }
}

/// The entry a client's `redacted_thinking` block stands for, numbered
/// `index`.
pub(super) fn redacted_entry(index: usize, data: &str) -> Value {
    match untag(data) {
        Some(mut map) => {
            map.insert("index".to_owned(), Value::from(index));
            Value::Object(map)
        }
        None => encrypted_detail(index, data),
    }
}

/// Back to the entry, as the client will send it (test support).
#[cfg(test)]
pub(super) fn entry_of(block: &ReasoningBlock<'_>, index: usize) -> Value {
    match block {
        ReasoningBlock::Thinking { text, signature } => thinking_entry(index, text, signature),
        ReasoningBlock::Redacted { data } => redacted_entry(index, data),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn anthropic_entries_are_their_blocks() {
        let e = json!({"type": "reasoning.text", "text": "hm", "signature": "c2ln", "format": FORMAT, "index": 0});
        let b = block_of(&e).unwrap();
        assert_eq!(
            b,
            ReasoningBlock::Thinking {
                text: "hm",
                signature: Cow::Borrowed("c2ln")
            }
        );
        assert_eq!(entry_of(&b, 0), e);
        let e =
            json!({"type": "reasoning.encrypted", "data": "ZW5j", "format": FORMAT, "index": 1});
        let b = block_of(&e).unwrap();
        assert_eq!(
            b,
            ReasoningBlock::Redacted {
                data: Cow::Borrowed("ZW5j")
            }
        );
        assert_eq!(entry_of(&b, 1), e);
    }

    #[test]
    fn foreign_entries_round_trip_through_tags() {
        for e in [
            json!({"type": "reasoning.text", "text": "t", "signature": "s+/=", "format": "bedrock-converse", "index": 0}),
            json!({"type": "reasoning.summary", "summary": "sum", "format": "openai-responses-v1", "index": 0}),
            json!({"type": "reasoning.encrypted", "data": "gAAA", "id": "rs_1", "format": "openai-responses-v1", "index": 0}),
            json!({"type": "reasoning.text", "text": "no signature", "format": "google-gemini-v1", "index": 0}),
            json!({"type": "something.new", "x": [1, {"y": null}], "index": 0}),
        ] {
            let b = block_of(&e).unwrap();
            assert_eq!(entry_of(&b, 0), e, "{e}");
        }
        let e =
            json!({"type": "reasoning.summary", "summary": "sum", "format": "openai-responses-v1"});
        let b = block_of(&e).unwrap();
        let ReasoningBlock::Thinking { text, signature } = b else {
            panic!()
        };
        assert_eq!(text, "sum");
        assert!(
            signature.starts_with("openai-responses-v1#{"),
            "{signature}"
        );
    }

    #[test]
    fn base64_signatures_are_never_untagged() {
        assert_eq!(
            thinking_entry(
                2,
                "x",
                "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+/=="
            ),
            text_detail(
                2,
                "x",
                Some("EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+/==")
            )
        );
        assert_eq!(
            redacted_entry(0, "a#notjson"),
            encrypted_detail(0, "a#notjson")
        );
    }
}
