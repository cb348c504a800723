//! Conservative usage estimates with a real tokenizer (`tiktoken-rs`), for
//! when a provider reports no usage (stream cut, provider sent none).
//!
//! | model family | encoding | safety factor |
//! |---|---|---|
//! | `gpt-4o*`, `gpt-4.1*`, `gpt-4.5*`, `gpt-5*`, `o1*`, `o3*`, `o4*`, `chatgpt-4o*`, `gpt-oss*` | `o200k_base` | 1.00 (the model's own tokenizer) |
//! | `gpt-4*`, `gpt-3.5*` | `cl100k_base` | 1.00 (the model's own tokenizer) |
//! | everything else (Claude, Gemini, Llama, ...) | `cl100k_base` | 1.25 |
//!
//! Other vendors' tokenizers produce more tokens than `cl100k_base` for the
//! same text (up to roughly a fifth more on English prose and code), so their
//! counts are multiplied by 1.25 to stay on the safe side of the provider's
//! own count. The result is rounded up, and never below the raw tokenizer
//! count. The prompt adds OpenAI's per-message framing: 4 tokens per message
//! plus 3 for the reply.

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

/// The tokenizer used for a model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// `o200k_base`.
    O200k,
    /// `cl100k_base`.
    Cl100k,
}

/// Tokens added per message by the chat format.
pub const TOKENS_PER_MESSAGE: u64 = 4;
/// Tokens added once for the reply's priming.
pub const REPLY_PRIMING_TOKENS: u64 = 3;

/// Encoding and safety factor (in percent) for `model`.
pub fn encoding_for(model: &str) -> (Encoding, u64) {
    let m = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    let o200k = [
        "gpt-4o",
        "gpt-4.1",
        "gpt-4.5",
        "gpt-5",
        "o1",
        "o3",
        "o4",
        "chatgpt-4o",
        "gpt-oss",
    ];
    if o200k.iter().any(|p| m.starts_with(p)) {
        (Encoding::O200k, 100)
    } else if m.starts_with("gpt-4") || m.starts_with("gpt-3.5") {
        (Encoding::Cl100k, 100)
    } else {
        (Encoding::Cl100k, 125)
    }
}

fn bpe(encoding: Encoding) -> Option<&'static CoreBPE> {
    static O200K: OnceLock<Option<CoreBPE>> = OnceLock::new();
    static CL100K: OnceLock<Option<CoreBPE>> = OnceLock::new();
    match encoding {
        Encoding::O200k => O200K
            .get_or_init(|| tiktoken_rs::o200k_base().ok())
            .as_ref(),
        Encoding::Cl100k => CL100K
            .get_or_init(|| tiktoken_rs::cl100k_base().ok())
            .as_ref(),
    }
}

/// The longest piece of text handed to the tokenizer at once (bytes).
const SEGMENT: usize = 8 << 10;

/// Raw tokenizer count of `text` (no factor). Falls back to one token per
/// byte (always an over-count) if the tokenizer cannot be loaded.
///
/// The text is counted in segments of at most 8 KiB, cut before a
/// whitespace character where the segment has one: tiktoken's merge of one
/// long piece without whitespace (a run of `a`s an upstream streams, a
/// base64 blob in a prompt) grows much faster than its length, and a 1 MB
/// one took seconds (minutes in a debug build) on the thread that settles
/// the request. A cut can only lose merges across it: each adds one token
/// to the count, so it stays an over-count of the whole text's.
pub fn count_tokens(encoding: Encoding, text: &str) -> u64 {
    let Some(b) = bpe(encoding) else {
        return u64::try_from(text.len()).unwrap_or(u64::MAX);
    };
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let (segment, after) = rest.split_at(segment_end(rest));
        let count = u64::try_from(b.encode_ordinary(segment).len()).unwrap_or(u64::MAX);
        let cut = u64::from(!after.is_empty());
        total = total.saturating_add(count).saturating_add(cut);
        rest = after;
    }
    total
}

/// Where the first segment of `text` ends: all of it when it is short;
/// else before the last whitespace character within [`SEGMENT`] bytes
/// (after its first half), else at the last character boundary within it.
fn segment_end(text: &str) -> usize {
    if text.len() <= SEGMENT {
        return text.len();
    }
    let boundary = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let (start, end) = (boundary(SEGMENT / 2), boundary(SEGMENT));
    match text[start..end].rfind(char::is_whitespace) {
        Some(i) if i > 0 => start + i,
        _ => end,
    }
}

fn scale(count: u64, percent: u64) -> u64 {
    // ⌈count × percent / 100⌉, never below count.
    let scaled = (u128::from(count) * u128::from(percent)).div_ceil(100);
    u64::try_from(scaled).unwrap_or(u64::MAX).max(count)
}

/// Estimated prompt tokens for `model` given the text of each message.
pub fn estimate_prompt<'a>(model: &str, messages: impl IntoIterator<Item = &'a str>) -> u64 {
    let (enc, factor) = encoding_for(model);
    let mut total = REPLY_PRIMING_TOKENS;
    for text in messages {
        total = total
            .saturating_add(TOKENS_PER_MESSAGE)
            .saturating_add(count_tokens(enc, text));
    }
    scale(total, factor)
}

/// Estimated completion tokens for the text actually delivered.
pub fn estimate_completion(model: &str, delivered: &str) -> u64 {
    let (enc, factor) = encoding_for(model);
    scale(count_tokens(enc, delivered), factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_counted_in_segments_never_below_the_whole() {
        let prose = "The quick brown fox jumps over the lazy dog. ".repeat(2_000);
        let whole = bpe(Encoding::Cl100k)
            .map(|b| b.encode_ordinary(&prose).len() as u64)
            .unwrap();
        let counted = count_tokens(Encoding::Cl100k, &prose);
        assert!(counted >= whole, "{counted} < {whole}");
        // Cut before whitespace: at most one token more per cut.
        assert!(counted <= whole + (prose.len() / (SEGMENT / 2)) as u64);
        // A long piece without whitespace, and multi-byte characters
        // across a segment's end.
        let run = "a".repeat(300_000);
        assert!(count_tokens(Encoding::Cl100k, &run) >= 300_000 / 64);
        let wide = "é".repeat(SEGMENT);
        assert!(count_tokens(Encoding::O200k, &format!("x{wide}")) > 0);
        assert!(count_tokens(Encoding::O200k, &wide) > 0);
    }

    #[test]
    fn real_tokenizer_counts() {
        // Known counts: "hello world" is 2 tokens in both encodings.
        assert_eq!(count_tokens(Encoding::O200k, "hello world"), 2);
        assert_eq!(count_tokens(Encoding::Cl100k, "hello world"), 2);
        assert_eq!(count_tokens(Encoding::Cl100k, ""), 0);
    }

    #[test]
    fn families_and_factors() {
        assert_eq!(encoding_for("gpt-4o-mini"), (Encoding::O200k, 100));
        assert_eq!(encoding_for("openai/gpt-5"), (Encoding::O200k, 100));
        assert_eq!(encoding_for("gpt-4-turbo"), (Encoding::Cl100k, 100));
        assert_eq!(encoding_for("claude-sonnet-4-5"), (Encoding::Cl100k, 125));
        assert_eq!(
            encoding_for("meta-llama/Llama-3.3-70B"),
            (Encoding::Cl100k, 125)
        );
    }

    #[test]
    fn estimates_are_rounded_up_and_never_below_the_count() {
        let text = "The quick brown fox jumps over the lazy dog.";
        let raw = count_tokens(Encoding::Cl100k, text);
        let est = estimate_completion("claude-haiku-4-5", text);
        assert_eq!(est, (raw * 125).div_ceil(100));
        assert!(est >= raw);
        assert_eq!(
            estimate_completion("gpt-4o", text),
            count_tokens(Encoding::O200k, text)
        );
        assert_eq!(
            estimate_completion("x", "a"),
            2,
            "1 token × 1.25 rounds up to 2"
        );
        let prompt = estimate_prompt("gpt-4o", ["You are terse.", "Hi"]);
        assert_eq!(
            prompt,
            3 + 2 * 4
                + count_tokens(Encoding::O200k, "You are terse.")
                + count_tokens(Encoding::O200k, "Hi")
        );
    }
}

/// The usage to bill: the provider's report when there is one, otherwise a
/// conservative estimate of the prompt and of the text actually delivered
/// (marked [`crate::UsageSource::Estimated`]).
pub fn usage_or_estimate<'a>(
    reported: Option<crate::TokenUsage>,
    model: &str,
    prompt_messages: impl IntoIterator<Item = &'a str>,
    delivered: &str,
) -> (crate::TokenUsage, crate::UsageSource) {
    match reported {
        Some(u) => (u, crate::UsageSource::Reported),
        None => (
            crate::TokenUsage {
                prompt: estimate_prompt(model, prompt_messages),
                completion: estimate_completion(model, delivered),
                ..crate::TokenUsage::default()
            },
            crate::UsageSource::Estimated,
        ),
    }
}

#[cfg(test)]
mod preference {
    use super::*;

    #[test]
    fn reported_usage_wins_and_estimates_are_marked() {
        let reported = crate::TokenUsage {
            prompt: 7,
            completion: 3,
            ..crate::TokenUsage::default()
        };
        let (u, s) = usage_or_estimate(
            Some(reported),
            "gpt-4o",
            ["a long prompt that would count more"],
            "x y z",
        );
        assert_eq!((u, s), (reported, crate::UsageSource::Reported));
        let (u, s) = usage_or_estimate(None, "gpt-4o", ["Hi"], "Hello there, friend.");
        assert_eq!(s, crate::UsageSource::Estimated);
        assert_eq!(
            u.completion,
            count_tokens(Encoding::O200k, "Hello there, friend.")
        );
        assert_eq!(u.prompt, 3 + 4 + 1);
    }
}
