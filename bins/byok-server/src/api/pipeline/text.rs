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
pub(crate) fn delivered_by_stream(t: &Transcript) -> String {
    let mut out = String::new();
    push_assistant(&mut out, &t.content, &t.reasoning, &t.tool_calls);
    for other in &t.other_choices {
        out.push('\n');
        out.push_str(other);
    }
    out
}

/// What an answer delivered, over all its choices.
pub(crate) fn delivered_by_answer(r: &ChatResponse) -> String {
    let mut out = String::new();
    for c in &r.choices {
        let m = &c.message;
        push_assistant(
            &mut out,
            m.content.as_deref().unwrap_or(""),
            m.reasoning_text().unwrap_or(""),
            m.tool_calls.as_deref().unwrap_or(&[]),
        );
    }
    out
}

/// The text of each prompt message.
pub(crate) fn prompt_texts(r: &ChatRequest) -> Vec<String> {
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
/// reaches the model as input: unmodelled content parts and message keys
/// (`reasoning_details` replayed to the provider, ...), tools, `tool_choice`, `response_format` and
/// every passthrough field (counted as serialized, without building the
/// JSON; the messages' texts are not serialized again). Parts whose tokens
/// bytes do not bound (audio, video, files: see [`has_media_beyond_bytes`])
/// are bounded by the model's context instead, by the caller. (The
/// tokenizer runs only when a provider reports no usage.)
pub(crate) fn prompt_upper_bound(request: &ChatRequest, texts: &[String]) -> u64 {
    let bytes: usize = texts.iter().map(String::len).sum();
    let images = parts(request)
        .filter(|p| matches!(p, ContentPart::ImageUrl { .. }))
        .count();
    let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    n(bytes)
        .saturating_add(n(beside_texts_bytes(request)))
        .saturating_add(4 * n(request.messages.len()) + 3)
        .saturating_add(IMAGE_TOKENS_BOUND * n(images))
}

/// Whether the prompt holds a content part other than text and images
/// (`file`, `input_audio`, `video_url`, or a kind the gateway does not
/// know): its tokens are not bounded by its bytes (a video URL of a few
/// bytes may be a million tokens), only by the model's context.
pub(crate) fn has_media_beyond_bytes(request: &ChatRequest) -> bool {
    parts(request).any(|p| matches!(p, ContentPart::Other(_)))
}

/// Every content part of every message.
fn parts(request: &ChatRequest) -> impl Iterator<Item = &ContentPart> {
    request
        .messages
        .iter()
        .flat_map(|m| m.content().map_or([].iter(), Content::parts))
}

/// The JSON size of the request's model input besides the messages' texts.
fn beside_texts_bytes(request: &ChatRequest) -> usize {
    let mut size = JsonSize(0);
    for part in parts(request) {
        if let ContentPart::Other(raw) = part {
            size.add(raw);
        }
    }
    for message in &request.messages {
        if let Some(extra) = message_extra(message) {
            size.add(extra);
        }
        if let Message::Assistant {
            reasoning_details: Some(details),
            ..
        } = message
        {
            size.add(details);
        }
    }
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

/// A message's unmodelled keys (forwarded as sent), if it keeps any.
fn message_extra(message: &Message) -> Option<&serde_json::Map<String, serde_json::Value>> {
    match message {
        Message::Developer { extra, .. }
        | Message::User { extra, .. }
        | Message::Tool { extra, .. }
        | Message::Assistant { extra, .. } => Some(extra).filter(|e| !e.is_empty()),
        _ => None,
    }
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

    /// Unmodelled parts and message keys forwarded as sent count in the
    /// bound by their size; parts whose tokens bytes do not bound are
    /// flagged so the caller bounds the prompt by the model's context.
    #[test]
    fn unmodelled_parts_and_message_keys_count_and_media_is_flagged() {
        let bare = request(serde_json::json!({"model": "m", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]}
        ]}));
        let data = "A".repeat(20_000);
        let full = request(serde_json::json!({"model": "m", "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "hi"},
                {"type": "file", "file": {"filename": "a.pdf", "file_data": format!("data:application/pdf;base64,{data}")}}
            ]},
            {"role": "assistant", "content": "ok", "reasoning_details": [{"type": "reasoning.encrypted", "data": data}]}
        ]}));
        let base = prompt_upper_bound(&bare, &prompt_texts(&bare));
        let bound = prompt_upper_bound(&full, &prompt_texts(&full));
        assert!(bound >= base + 40_000, "{base} {bound}");
        assert!(!has_media_beyond_bytes(&bare));
        assert!(has_media_beyond_bytes(&full));
        let images = request(serde_json::json!({"model": "m", "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.invalid/a.png"}}]}
        ]}));
        assert!(!has_media_beyond_bytes(&images));
        assert!(prompt_upper_bound(&images, &prompt_texts(&images)) >= IMAGE_TOKENS_BOUND);
    }

    /// Reasoning a provider sends as `reasoning` (Groq, OpenRouter) is
    /// delivered text as much as `reasoning_content`.
    #[test]
    fn reasoning_under_either_name_is_delivered_text() {
        let answer: ChatResponse = serde_json::from_value(serde_json::json!({
            "id": "x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "A", "reasoning": "thinking hard"}}]
        }))
        .unwrap();
        assert_eq!(delivered_by_answer(&answer), "Athinking hard");
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
