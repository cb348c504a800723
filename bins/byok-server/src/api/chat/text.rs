//! The texts a request's tokens are estimated from when the provider
//! reports no usage (and the prompt's upper bound for the reservation).
//! What an assistant says is one text however it arrives: a streamed
//! transcript, a response's choices, or an earlier turn in the prompt.

use byok_providers::{
    ChatRequest, ChatResponse, Content, ContentPart, Message, ToolCall, Transcript,
};

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

/// What a stream delivered.
pub(super) fn delivered_by_stream(t: &Transcript) -> String {
    let mut out = String::new();
    push_assistant(&mut out, &t.content, &t.reasoning, &t.tool_calls);
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
/// (The tokenizer runs only when a provider reports no usage.)
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
        .saturating_add(4 * n(request.messages.len()) + 3)
        .saturating_add(IMAGE_TOKENS_BOUND * n(images))
}
