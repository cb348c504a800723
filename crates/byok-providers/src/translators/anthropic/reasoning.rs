//! Thinking blocks ⇄ OpenRouter's `reasoning_details`.
//!
//! Out: a `thinking` block is `{"type": "reasoning.text", "text", "signature",
//! "format": "anthropic-claude-v1", "index"}` (no `signature` key when the
//! block had none), a `redacted_thinking` block is `{"type":
//! "reasoning.encrypted", "data", "format", "index"}`; `index` counts the
//! answer's reasoning blocks from 0. In: those entries go back as `thinking`
//! (with `signature`) and `redacted_thinking` (with `data`) blocks; entries of
//! another `format`, unknown types and `reasoning.text` without a signature
//! (Anthropic would refuse it) are dropped.

use serde_json::{Value, json};

/// The `format` of Anthropic reasoning entries.
pub(crate) const FORMAT: &str = "anthropic-claude-v1";

/// A `thinking` block as a `reasoning.text` entry.
pub(crate) fn text_detail(index: usize, text: &str, signature: Option<&str>) -> Value {
    let mut detail =
        json!({"type": "reasoning.text", "text": text, "format": FORMAT, "index": index});
    if let Some(signature) = signature.filter(|s| !s.is_empty()) {
        detail["signature"] = Value::from(signature);
    }
    detail
}

/// A `redacted_thinking` block as a `reasoning.encrypted` entry.
pub(crate) fn encrypted_detail(index: usize, data: &str) -> Value {
    json!({"type": "reasoning.encrypted", "data": data, "format": FORMAT, "index": index})
}

/// The Anthropic block that replays `detail`, if it is one of ours.
pub(super) fn replay_block(detail: &Value) -> Option<Value> {
    let str_at = |key: &str| detail.get(key).and_then(Value::as_str);
    if str_at("format").is_some_and(|f| f != FORMAT) {
        return None;
    }
    match str_at("type")? {
        "reasoning.text" => {
            let signature = str_at("signature").filter(|s| !s.is_empty())?;
            let text = str_at("text").unwrap_or("");
            Some(json!({"type": "thinking", "thinking": text, "signature": signature}))
        }
        "reasoning.encrypted" => {
            Some(json!({"type": "redacted_thinking", "data": str_at("data")?}))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_replay_as_blocks_and_foreign_ones_are_dropped() {
        let thinking = text_detail(0, "hm", Some("sig"));
        assert_eq!(
            replay_block(&thinking),
            Some(json!({"type": "thinking", "thinking": "hm", "signature": "sig"}))
        );
        assert_eq!(
            replay_block(&encrypted_detail(1, "enc")),
            Some(json!({"type": "redacted_thinking", "data": "enc"}))
        );
        assert_eq!(replay_block(&text_detail(0, "hm", None)), None);
        let foreign = json!({"type": "reasoning.text", "text": "x", "signature": "s", "format": "google-gemini-v1"});
        assert_eq!(replay_block(&foreign), None);
        assert_eq!(
            replay_block(&json!({"type": "reasoning.summary", "summary": "s"})),
            None
        );
    }
}
