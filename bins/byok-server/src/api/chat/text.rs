//! The texts a request's tokens are estimated from when the provider
//! reports no usage (and the prompt's upper bound for the reservation).
//! What an assistant says is one text however it arrives: a streamed
//! transcript, a response's choices, or an earlier turn in the prompt.

use byok_providers::{
    ChatRequest, ChatResponse, Content, ContentPart, Message, ToolCall, Transcript,
};
use serde::Serialize;

/// Appends an assistant's output: its content, its reasoning, then each
/// tool call's name and arguments.
fn push_assistant(out: &mut String, content: &str, reasoning: &str, tool_calls: &[ToolCall]) {
    out.push_str(content);
    out.push_str(reasoning);
    for c in tool_calls {
        out.push_str(&c.function.name);
        out.push_str(&c.function.arguments);
    }
}

/// What a stream delivered, over all its choices (each after a line
/// break, so no token spans two choices).
pub(super) fn delivered_by_stream(t: &Transcript) -> String {
    let mut out = String::new();
    push_assistant(&mut out, &t.content, &t.reasoning, &t.tool_calls);
    for other in &t.other_choices {
        out.push('\n');
        out.push_str(other);
    }
    out
}

/// What an answer delivered, over all its choices.
pub(super) fn delivered_by_answer(r: &ChatResponse) -> String {
    let mut out = String::new();
    for c in &r.choices {
        let m = &c.message;
        push_assistant(
            &mut out,
            m.content.as_deref().unwrap_or(""),
            m.reasoning_content.as_deref().unwrap_or(""),
            m.tool_calls.as_deref().unwrap_or(&[]),
        );
    }
    out
}

/// The text of each prompt message.
pub(super) fn prompt_texts(r: &ChatRequest) -> Vec<String> {
    r.messages
        .iter()
        .map(|m| match m {
            Message::System { content, .. }
            | Message::Developer { content, .. }
            | Message::User { content, .. } => content.text(),
            Message::Tool { content, .. } => content.text(),
            Message::Assistant {
                content,
                tool_calls,
                ..
            } => {
                let mut t = content.as_ref().map(Content::text).unwrap_or_default();
                push_assistant(&mut t, "", "", tool_calls.as_deref().unwrap_or(&[]));
                t
            }
        })
        .collect()
}

/// Tokens reserved per image part (high-detail images cost ~1.1k tokens at
/// OpenAI, ~1.6k at Anthropic for the largest sizes).
const IMAGE_TOKENS_BOUND: u64 = 2_000;

/// An upper bound of the prompt's tokens without running a tokenizer on the
/// request path: a BPE token is at least one byte, so bytes + the chat
/// framing (4 per message + 3) + a bound per image can only over-count.
/// The bytes are the messages' texts and the JSON of everything else that
/// reaches the model as input: tools, `tool_choice`, `response_format` and
/// every passthrough field (counted as serialized, without building the
/// JSON; the messages are not serialized again). (The tokenizer runs only
/// when a provider reports no usage.)
pub(super) fn prompt_upper_bound(request: &ChatRequest, texts: &[String]) -> u64 {
    let bytes: usize = texts.iter().map(String::len).sum();
    let images = request
        .messages
        .iter()
        .filter_map(|m| match m {
            Message::User {
                content: Content::Parts(parts),
                ..
            } => Some(parts),
            _ => None,
        })
        .flatten()
        .filter(|p| matches!(p, ContentPart::ImageUrl { .. }))
        .count();
    let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    n(bytes)
        .saturating_add(n(beside_messages_bytes(request)))
        .saturating_add(4 * n(request.messages.len()) + 3)
        .saturating_add(IMAGE_TOKENS_BOUND * n(images))
}

/// The JSON size of the request's model input besides the messages.
fn beside_messages_bytes(request: &ChatRequest) -> usize {
    let mut size = JsonSize(0);
    if let Some(tools) = &request.tools {
        size.add(tools);
    }
    if let Some(choice) = &request.tool_choice {
        size.add(choice);
    }
    if let Some(format) = &request.response_format {
        size.add(format);
    }
    for (key, value) in &request.extra {
        size.0 = size.0.saturating_add(key.len());
        size.add(value);
    }
    size.0
}

/// Counts the bytes a value serializes to, without keeping them.
struct JsonSize(usize);

impl JsonSize {
    fn add<T: Serialize + ?Sized>(&mut self, value: &T) {
        // Writing to a counter cannot fail; a serializer error (none for
        // these types) would only under-count the rest of that value.
        let _ = serde_json::to_writer(&mut *self, value);
    }
}

impl std::io::Write for JsonSize {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request(body: serde_json::Value) -> ChatRequest {
        serde_json::from_value(body).unwrap()
    }

    /// Tools, `tool_choice`, `response_format` and passthrough fields count
    /// in the prompt's bound, at least their JSON size (issue #14,
    /// finding 3).
    #[test]
    fn the_prompt_bound_counts_what_goes_beside_the_messages() {
        let bare = request(
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        );
        let schema = "x".repeat(10_000);
        let full = request(serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "description": schema}}],
            "tool_choice": "auto",
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"description": schema}}},
            "prediction": {"type": "content", "content": schema}
        }));
        let base = prompt_upper_bound(&bare, &prompt_texts(&bare));
        let bound = prompt_upper_bound(&full, &prompt_texts(&full));
        assert!(bound >= base + 30_000, "{base} {bound}");
        let beside: u64 = [
            serde_json::to_vec(&full.tools).unwrap().len(),
            serde_json::to_vec(&full.tool_choice).unwrap().len(),
            serde_json::to_vec(&full.response_format).unwrap().len(),
            serde_json::to_vec(&full.extra).unwrap().len(),
        ]
        .iter()
        .map(|&b| b as u64)
        .sum();
        assert!(bound - base + 16 >= beside, "{} {beside}", bound - base);
    }

    /// Every choice of a stream counts in what it delivered (issue #14,
    /// finding 7).
    #[test]
    fn every_streamed_choice_is_delivered_text() {
        let mut t = Transcript::default();
        let chunk: byok_providers::ChatChunk = serde_json::from_value(serde_json::json!({
            "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [
                {"index": 0, "delta": {"content": "first"}},
                {"index": 1, "delta": {"content": "second", "tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{\"a\":1}"}}]}}
            ]
        }))
        .unwrap();
        t.push(&chunk);
        let delivered = delivered_by_stream(&t);
        for part in ["first", "second", "f", "{\"a\":1}"] {
            assert!(delivered.contains(part), "{delivered}");
        }
    }
}
