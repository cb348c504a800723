//! `answers`: what an upstream sends besides streams, read by each
//! format's adapter: a whole answer (`Dialect::decode`), a model list
//! (`Dialect::models`), an error body (what `upstream_error` reads), and
//! the Gemini and Bedrock embeddings answers.

use std::sync::OnceLock;

use arbitrary::Unstructured;
use serde_json::Value;

use super::edit::{self, Vocab};
use super::streams::{Format, adapters, meaning};
use super::{Input, fixtures, input, raw};
use crate::inbound::{messages, responses};
use crate::translators::Dialect;
use crate::types::ChatRequest;

/// The key error messages are sanitised against.
const SECRET: &str = "sk-fuzz-0123456789abcdef";

const FORMATS: [Format; 5] = [
    Format::OpenAi,
    Format::Anthropic,
    Format::Responses,
    Format::Gemini,
    Format::Bedrock,
];

/// What the bytes are read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Answer,
    Models,
    Error,
    Embeddings,
}

const KINDS: [Kind; 4] = [Kind::Answer, Kind::Models, Kind::Error, Kind::Embeddings];

fn recordings(format: Format) -> &'static [(&'static str, &'static str)] {
    match format {
        Format::OpenAi => fixtures::OPENAI_ANSWERS,
        Format::Anthropic => fixtures::ANTHROPIC_ANSWERS,
        Format::Responses => fixtures::RESPONSES_ANSWERS,
        Format::Gemini => fixtures::GEMINI_ANSWERS,
        Format::Bedrock => fixtures::BEDROCK_ANSWERS,
    }
}

/// The kind a recording is (by its file name).
fn kind_of(name: &str) -> Kind {
    if name.starts_with("models") {
        Kind::Models
    } else if name.starts_with("error") {
        Kind::Error
    } else if name.contains("embed") {
        Kind::Embeddings
    } else {
        Kind::Answer
    }
}

fn vocab(format: Format) -> &'static Vocab {
    static VOCABS: [OnceLock<Vocab>; 5] = [const { OnceLock::new() }; 5];
    let slot = FORMATS.iter().position(|f| *f == format).unwrap_or(0);
    VOCABS[slot].get_or_init(|| {
        Vocab::new(
            recordings(format)
                .iter()
                .map(|(_, t)| edit::json_event(t))
                .collect(),
        )
    })
}

fn request() -> &'static Option<ChatRequest> {
    static REQUEST: OnceLock<Option<ChatRequest>> = OnceLock::new();
    REQUEST.get_or_init(|| {
        serde_json::from_str(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":["END"]}"#,
        )
        .ok()
    })
}

/// The parsed client requests the answer encoders write for.
fn clients() -> &'static (Option<messages::Parsed>, Option<responses::Parsed>) {
    static PARSED: OnceLock<(Option<messages::Parsed>, Option<responses::Parsed>)> =
        OnceLock::new();
    PARSED.get_or_init(|| {
        (
            messages::parse_request(
                br#"{"model":"claude-x","max_tokens":64,"stop_sequences":["END"],"messages":[{"role":"user","content":"hi"}]}"#,
            )
            .ok(),
            responses::parse_request(
                br#"{"model":"gpt-x","input":"hi","include":["reasoning.encrypted_content"]}"#,
            )
            .ok(),
        )
    })
}

/// The input: a format, what the bytes are, a provider (an index into the
/// format's providers) and the bytes.
fn case(data: &[u8]) -> Option<(Format, Kind, usize, Vec<u8>)> {
    match input(data)? {
        Input::Raw { bytes, .. } => {
            let (&pick, body) = bytes.split_first()?;
            let format = FORMATS[usize::from(pick) % FORMATS.len()];
            let kind = KINDS[usize::from(pick / 8) % KINDS.len()];
            Some((format, kind, usize::from(pick / 32), body.to_vec()))
        }
        Input::Structured(mut u) => {
            let u: &mut Unstructured<'_> = &mut u;
            let format = *u.choose(&FORMATS).ok()?;
            let v = vocab(format).body(u).ok()?;
            let kind = *u.choose(&KINDS).ok()?;
            let provider = u.int_in_range(0usize..=64).ok()?;
            Some((format, kind, provider, v.to_string().into_bytes()))
        }
    }
}

/// Fuzz target `answers`: an upstream's whole answer, model list, error
/// body or embeddings answer, read by its format's adapter. A decoded
/// answer serialises, its verbatim bytes (when forwarded as they came)
/// mean what it means, and the Messages and Responses encoders write it
/// as JSON; a model list serialises; an error's message and code show no
/// 8-byte piece of the key; a Gemini embeddings answer is re-encoded as
/// JSON. A raw input's first byte after the mode picks the format (the
/// byte mod 5), the kind (byte / 8 mod 4) and the provider (byte / 32);
/// the body follows.
pub fn answers(data: &[u8]) {
    let Some((format, kind, provider, body)) = case(data) else {
        return;
    };
    let Some(request) = request() else { return };
    let a = adapters();
    let decoded = match format {
        Format::OpenAi => pick(&a.openai, provider).map(|d| read(d, kind, request, &body)),
        Format::Anthropic => pick(&a.anthropic, provider).map(|d| read(d, kind, request, &body)),
        Format::Responses => pick(&a.responses, provider).map(|d| read(d, kind, request, &body)),
        Format::Gemini => pick(&a.gemini, provider).map(|d| read(d, kind, request, &body)),
        Format::Bedrock => pick(&a.bedrock, provider).map(|d| read(d, kind, request, &body)),
    };
    let Some(id) = decoded.flatten() else { return };
    if format == Format::OpenAi && kind == Kind::Answer {
        // The one-pass reading of a common answer is serde's strict one.
        if let Some(fast) = crate::translators::openai::scan_response(&body) {
            assert_eq!(
                crate::translators::openai::strict_response(&body),
                Some((fast, true)),
                "the one-pass reading of an answer differs from serde's"
            );
        }
    }
    if kind == Kind::Embeddings {
        match format {
            Format::Gemini => {
                for base64 in [false, true] {
                    if let Ok(out) = crate::decode_gemini_embeddings(id, "m", &body, base64) {
                        let v: Result<Value, _> = serde_json::from_slice(&out);
                        assert!(v.is_ok(), "re-encoded embeddings are JSON");
                    }
                }
            }
            Format::Bedrock => {
                let _ = crate::decode_bedrock_embeddings(id, &body);
            }
            _ => {}
        }
    }
}

fn pick<T>(v: &[T], i: usize) -> Option<&T> {
    v.get(i.checked_rem(v.len())?)
}

/// Reads `body` as `kind` with adapter `d`; the provider's id.
fn read<D: Dialect>(
    d: &D,
    kind: Kind,
    request: &ChatRequest,
    body: &[u8],
) -> Option<crate::id::ProviderId> {
    let id = d.upstream().id;
    match kind {
        Kind::Answer => {
            if let Ok(outcome) = d.decode(request, body.to_vec()) {
                let parsed = serde_json::to_value(&outcome.response);
                assert!(parsed.is_ok(), "a decoded answer serialises");
                if let Some(raw) = &outcome.verbatim {
                    let sent: Value = serde_json::from_slice(raw).unwrap_or_default();
                    assert_eq!(
                        meaning(sent),
                        meaning(parsed.unwrap_or_default()),
                        "a verbatim answer's bytes say what its response says"
                    );
                }
                let (m, r) = clients();
                if let Some(m) = m {
                    let v: Result<Value, _> =
                        serde_json::from_slice(&messages::encode_response(&outcome.response, m));
                    assert!(v.is_ok(), "a Messages answer is JSON");
                }
                if let Some(r) = r {
                    let v: Result<Value, _> =
                        serde_json::from_slice(&responses::encode_response(&outcome.response, r));
                    assert!(v.is_ok(), "a Responses answer is JSON");
                }
            }
        }
        Kind::Models => {
            if let Ok(models) = d.models(body) {
                assert!(serde_json::to_vec(&models).is_ok(), "models serialise");
            }
        }
        Kind::Error => {
            if let Ok(v) = serde_json::from_slice::<Value>(body) {
                let (message, code) = crate::http::error_fields(&v, Some(SECRET));
                for text in std::iter::once(&message).chain(code.as_ref()) {
                    for w in SECRET.as_bytes().windows(8) {
                        assert!(
                            !text.as_bytes().windows(8).any(|b| b == w),
                            "an error shows a piece of the key: {text:?}"
                        );
                    }
                }
            }
        }
        Kind::Embeddings => {}
    }
    Some(id)
}

pub(super) fn seeds(out: &mut Vec<(&'static str, String, Vec<u8>)>) {
    for (f, format) in FORMATS.iter().enumerate() {
        for (name, text) in recordings(*format) {
            let k = KINDS.iter().position(|k| *k == kind_of(name)).unwrap_or(0);
            // The byte that picks this format and kind (see `case`).
            let pick = (0..=255u8)
                .find(|p| usize::from(*p) % 5 == f && usize::from(p / 8) % 4 == k)
                .unwrap_or(0);
            let mut bytes = vec![pick];
            bytes.extend_from_slice(text.as_bytes());
            out.push(("answers", format!("seed-{format:?}-{name}"), raw(1, &bytes)));
        }
    }
}
