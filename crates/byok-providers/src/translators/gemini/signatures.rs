//! Tool-call ids and thought signatures.
//!
//! **Ids.** A call keeps the `functionCall.id` Gemini gave it when that id
//! is valid for every provider (`[A-Za-z0-9_-]`, at most 40 characters);
//! otherwise it is `call_<token>_<n>`: `token` from the answer's
//! `responseId` (unique per answer, so ids never repeat across turns; a
//! random token when the answer has none), `n` the call's position in the
//! answer. Nothing else is ever packed into an id.
//!
//! **Signatures out.** A part's `thoughtSignature` becomes a
//! `reasoning_details` entry in OpenRouter's form:
//! `{"type": "reasoning.encrypted", "data": sig, "id": call_id, "format":
//! "google-gemini-v1", "index": i}`, `id` only for a `functionCall` part
//! (a signature on a text or thought part has none); `index` counts the
//! entries of the answer, streamed or not.
//!
//! **Signatures in.** An assistant message's `google-gemini-v1` entries go
//! back on the parts they came with: an entry with an `id` on that call's
//! `functionCall` part, one without on the message's last text part
//! (dropped when the message has no text). Entries of other formats are
//! dropped (they mean nothing to Gemini). An id still in the legacy
//! `<id>~ts~<signature>` form ([`SIGNATURE_SEPARATOR`]) is decoded as
//! before. On Gemini 3, whose API answers 400 when the first function call
//! of a model turn comes back without a signature, a turn whose first call
//! has none (a conversation moved from another provider, or a client that
//! dropped `reasoning_details`) gets Google's documented placeholder
//! [`DUMMY_SIGNATURE`] (ai.google.dev/gemini-api/docs/thought-signatures,
//! FAQ; also what the Vercel AI SDK sends, vercel/ai#15560).

use std::collections::HashMap;
use std::hash::{BuildHasher as _, Hasher as _};

use serde_json::{Value, json};

use super::SIGNATURE_SEPARATOR;
use crate::types::Message;

/// The `format` of Gemini's `reasoning_details` entries.
pub(crate) const FORMAT: &str = "google-gemini-v1";

/// The placeholder signature Gemini 3 accepts on a replayed function call
/// that has none.
pub(crate) const DUMMY_SIGNATURE: &str = "skip_thought_signature_validator";

/// The longest tool-call id every provider accepts.
const MAX_ID: usize = 40;

/// The plain id and the signature of a legacy `<id>~ts~<signature>` id.
pub(super) fn split_id(id: &str) -> (&str, Option<&str>) {
    match id.split_once(SIGNATURE_SEPARATOR) {
        Some((id, sig)) => (id, Some(sig)),
        None => (id, None),
    }
}

/// Whether `id` is a tool-call id every provider accepts.
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The token that makes an answer's generated call ids unique: its
/// `responseId` (kept characters only, at most 24), else random.
pub(super) fn id_token(response_id: Option<&str>) -> String {
    let token: String = response_id
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(24)
        .collect();
    if !token.is_empty() {
        return token;
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(crate::common::now_secs().unsigned_abs());
    format!("{:016x}", h.finish())
}

/// The id of call `n` of an answer: Gemini's own when valid, else
/// `call_<token>_<n>`.
pub(super) fn call_id(native: Option<&str>, token: &str, n: usize) -> String {
    match native {
        Some(id) if valid_id(id) => id.to_owned(),
        _ => format!("call_{token}_{n}"),
    }
}

/// A `reasoning.encrypted` entry carrying `signature`, for call `id` (none
/// for a text or thought part).
pub(super) fn detail(signature: &str, id: Option<&str>, index: usize) -> Value {
    let mut entry = json!({
        "type": "reasoning.encrypted",
        "data": signature,
        "format": FORMAT,
        "index": index,
    });
    if let Some(id) = id {
        entry["id"] = json!(id);
    }
    entry
}

/// The signatures a request's assistant messages carry back: by call id,
/// and the text signature of each assistant message that has content (in
/// order, as [`crate::translators::turns`] encodes them).
#[derive(Default)]
pub(super) struct Replay {
    pub(super) calls: HashMap<String, String>,
    pub(super) texts: std::collections::VecDeque<Option<String>>,
}

impl Replay {
    pub(super) fn of(messages: &[Message]) -> Self {
        let mut replay = Self::default();
        for m in messages {
            let Message::Assistant {
                content,
                reasoning_details,
                ..
            } = m
            else {
                continue;
            };
            let mut text = None;
            for entry in reasoning_details.iter().flatten() {
                let Some((sig, id)) = ours(entry) else {
                    continue;
                };
                match id {
                    Some(id) => {
                        replay.calls.insert(id.to_owned(), sig.to_owned());
                    }
                    None => {
                        text.get_or_insert_with(|| sig.to_owned());
                    }
                }
            }
            if content.is_some() {
                replay.texts.push_back(text);
            }
        }
        replay
    }
}

/// The signature and call id of a `google-gemini-v1` `reasoning.encrypted`
/// entry; `None` for anything else (other formats are dropped).
fn ours(entry: &Value) -> Option<(&str, Option<&str>)> {
    let e = entry.as_object()?;
    let s = |k: &str| e.get(k).and_then(Value::as_str);
    if s("format") != Some(FORMAT) || s("type") != Some("reasoning.encrypted") {
        return None;
    }
    Some((s("data").filter(|d| !d.is_empty())?, s("id")))
}

/// Gemini 3: the first `functionCall` part of each model turn in
/// `contents` that has no signature gets [`DUMMY_SIGNATURE`].
pub(super) fn fill_missing(contents: &mut [Value]) {
    for turn in contents {
        if turn.get("role").and_then(Value::as_str) != Some("model") {
            continue;
        }
        let Some(parts) = turn.get_mut("parts").and_then(Value::as_array_mut) else {
            continue;
        };
        if let Some(Value::Object(part)) =
            parts.iter_mut().find(|p| p.get("functionCall").is_some())
        {
            part.entry("thoughtSignature")
                .or_insert_with(|| json!(DUMMY_SIGNATURE));
        }
    }
}

/// Puts `signature` on the last text part of `parts`, if any.
pub(super) fn on_last_text(parts: &mut [Value], signature: String) {
    if let Some(Value::Object(p)) = parts.iter_mut().rev().find(|p| p.get("text").is_some()) {
        p.insert("thoughtSignature".into(), Value::String(signature));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(
            call_id(None, &id_token(Some("xzAuaOHUI5LZz7IPjMvF-QM")), 3),
            "call_xzAuaOHUI5LZz7IPjMvF-QM_3"
        );
        assert_eq!(call_id(Some("abc-1_X"), "t", 0), "abc-1_X");
        for bad in ["", "a b", "x~ts~y", &"a".repeat(41)] {
            assert_eq!(call_id(Some(bad), "t", 1), "call_t_1", "{bad}");
        }
        let long = id_token(Some(&"Zz/+=".repeat(40)));
        assert!(valid_id(&call_id(None, &long, 999_999_999)));
        let a = id_token(None);
        assert!(valid_id(&call_id(None, &a, 0)));
        assert_ne!(a, id_token(None), "random without a responseId");
    }

    #[test]
    fn only_gemini_entries_come_back() {
        let m: Message = serde_json::from_value(json!({
            "role": "assistant", "content": "hi",
            "reasoning_details": [
                {"type": "reasoning.encrypted", "data": "A", "id": "c1", "format": FORMAT, "index": 0},
                {"type": "reasoning.encrypted", "data": "B", "format": FORMAT, "index": 1},
                {"type": "reasoning.encrypted", "data": "C", "id": "c2", "format": "anthropic-claude-v1", "index": 2},
                {"type": "reasoning.text", "text": "t", "format": FORMAT, "index": 3}
            ]
        }))
        .unwrap();
        let r = Replay::of(&[m]);
        assert_eq!(r.calls.len(), 1);
        assert_eq!(r.calls["c1"], "A");
        assert_eq!(r.texts, [Some("B".to_owned())]);
    }
}
