//! The bodies of the fuzz targets over this crate's parsers of untrusted
//! bytes, shared by the cargo-fuzz targets in the repository's `fuzz/`
//! (nightly, feature `fuzzing`) and this module's stable tests (random
//! inputs, a bounded number of cases, and every seed), so the two cannot
//! drift. Not an API: hidden, and only built with the feature or in tests.
//!
//! Each function takes the fuzzer's bytes and panics when an invariant
//! breaks. The first byte chooses how the rest is read:
//!
//! - even: **raw**, the rest is the target's bytes as they come (a stream,
//!   a body), fed in pieces of `first / 2 + 1` bytes where that matters;
//!   the seed corpus is the recorded fixtures in this form ([`seeds`]);
//! - odd: **structured**, the rest steers a generator that replays the
//!   recorded fixtures with events dropped, repeated, inserted or edited
//!   (`edit.rs`), reaching states random bytes seldom reach.
//!
//! | target | parser | invariants beyond "no panic" |
//! |---|---|---|
//! | [`sse_decoder`] | [`crate::sse::SseDecoder`] | the same events however the input is split (whole, in pieces, byte by byte), and as a plain reading of the WHATWG rules; the same error |
//! | [`bedrock_frames`] | the event-stream frame reader | the same frames however split; a decoded frame re-encodes to the bytes it came from |
//! | [`stream_openai`], [`stream_anthropic`], [`stream_responses`], [`stream_gemini`], [`stream_bedrock`] | each format's decoder and stream state machine, as its adapter builds them | the same events however the body is split; every chunk serialises; a verbatim chunk's JSON means what its parsed chunk means; no mid-stream error message holds the key; the Messages and Responses stream encoders turn the events into SSE whose every event is JSON of its own `type` |
//! | [`request_chat`], [`request_messages`], [`request_responses`] | the chat completions body, `inbound::messages::parse_request` / `parse_count_tokens`, `inbound::responses::parse_request` / `peek` | an accepted request re-serialises and reads back the same; every translator encodes it to JSON or refuses it; `peek` agrees with `parse_request`; the answer encoders write JSON |
//! | [`credential`] | [`crate::Credential::parse`] for every provider | an accepted credential's storage form parses to the same storage form; `Debug` never shows a secret; errors never echo a value |
//! | [`sanitize`] | `byok_redact::sanitize` of upstream error messages | no 8-byte piece of the key survives, nor a control character; the length is bounded |
//! | [`answers`] | each format's adapter: a whole answer (`decode`), a model list, an error body, the Gemini and Bedrock embeddings answers | a decoded answer serialises, its verbatim bytes mean what it means, the Messages and Responses encoders write it as JSON; an error shows no piece of the key |
//! | [`passthrough_usage`] | `inbound::{messages, responses}::UsageReader` | the same usage however split; a JSON body read in pieces as read whole |

mod answers;
mod credential;
mod edit;
mod fixtures;
mod requests;
mod sanitize;
mod sse;
mod streams;
mod usage;

use arbitrary::Unstructured;

pub use answers::answers;
pub use credential::credential;
pub use requests::{request_chat, request_messages, request_responses};
pub use sanitize::sanitize;
pub use sse::sse_decoder;
pub use streams::{
    bedrock_frames, stream_anthropic, stream_bedrock, stream_gemini, stream_openai,
    stream_responses,
};
pub use usage::passthrough_usage;

/// How a target reads its input (see the module docs).
enum Input<'a> {
    /// The bytes as they come, fed in pieces of `piece` bytes.
    Raw { bytes: &'a [u8], piece: usize },
    /// Choices for a generator.
    Structured(Unstructured<'a>),
}

fn input(data: &[u8]) -> Option<Input<'_>> {
    let (&first, rest) = data.split_first()?;
    Some(if first % 2 == 0 {
        Input::Raw {
            bytes: rest,
            piece: usize::from(first / 2) + 1,
        }
    } else {
        Input::Structured(Unstructured::new(rest))
    })
}

/// A raw input (first byte even): `bytes` fed in pieces of `piece` bytes
/// (1 to 128).
fn raw(piece: usize, bytes: &[u8]) -> Vec<u8> {
    let first = u8::try_from(piece.clamp(1, 128) - 1).unwrap_or(0) * 2;
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(first);
    out.extend_from_slice(bytes);
    out
}

/// Piece sizes for a structured input: two sizes taken in turn (1 to 97
/// bytes each), or the whole body at once.
fn pieces(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<usize>> {
    if u.ratio(1u8, 8)? {
        return Ok(vec![usize::MAX]);
    }
    Ok(vec![
        u.int_in_range(1usize..=97)?,
        u.int_in_range(1usize..=97)?,
    ])
}

/// Asserts that two readings of the same input agree, naming the first
/// element where they differ (whole outcomes are long).
#[track_caller]
fn assert_same<T: PartialEq + std::fmt::Debug>(a: &[T], b: &[T], what: &str) {
    if a == b {
        return;
    }
    let i = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    assert_eq!(
        (a.len(), a.get(i)),
        (b.len(), b.get(i)),
        "{what}: they differ at item {i} (lengths first)"
    );
}

/// The seed corpus: every target's inputs made of the recorded fixtures,
/// as `(target, file name, bytes)`. The repository's `fuzz/corpus/<target>`
/// holds them (`seed-*` files, written by the ignored test
/// `write_seed_corpus`); the stable tests run them all.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    sse::seeds(&mut out);
    streams::seeds(&mut out);
    requests::seeds(&mut out);
    credential::seeds(&mut out);
    sanitize::seeds(&mut out);
    usage::seeds(&mut out);
    answers::seeds(&mut out);
    out
}

/// A target's body.
pub type Target = fn(&[u8]);

/// The targets, by name, as `fuzz/fuzz_targets/<name>.rs` calls them.
pub const TARGETS: &[(&str, Target)] = &[
    ("sse_decoder", sse_decoder),
    ("bedrock_frames", bedrock_frames),
    ("stream_openai", stream_openai),
    ("stream_anthropic", stream_anthropic),
    ("stream_responses", stream_responses),
    ("stream_gemini", stream_gemini),
    ("stream_bedrock", stream_bedrock),
    ("request_chat", request_chat),
    ("request_messages", request_messages),
    ("request_responses", request_responses),
    ("credential", credential),
    ("sanitize", sanitize),
    ("passthrough_usage", passthrough_usage),
    ("answers", answers),
];

#[cfg(test)]
mod tests;
