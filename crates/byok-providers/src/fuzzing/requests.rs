//! The inbound request targets: each protocol's body parser as the server's
//! handler calls it, then what the server does with an accepted request
//! (every translator's encoding, the answer encoders).

use std::sync::OnceLock;

use serde_json::Value;

use super::edit::{Data, Event, Vocab};
use super::streams::{messages_stream, recorded, responses_stream};
use super::{Input, fixtures, input, raw};
use crate::id::{PROVIDERS, WireFormat};
use crate::inbound::{messages, responses};
use crate::types::{ChatRequest, ChatResponse};
use crate::{
    encode_anthropic_request, encode_bedrock_request, encode_google_request, encode_request,
    encode_responses_request,
};

/// A fixture's body: `body` when it has one, without `_source`.
fn body_of(text: &str) -> Option<Value> {
    let mut v: Value = serde_json::from_str(text).ok()?;
    if let Some(body) = v.get_mut("body").map(Value::take) {
        v = body;
    }
    if let Some(m) = v.as_object_mut() {
        m.remove("_source");
    }
    Some(v)
}

fn one(v: Value) -> Vec<Event> {
    vec![Event {
        name: None,
        data: Data::Json(v),
    }]
}

fn messages_bodies() -> Vec<Value> {
    fixtures::MESSAGES_REQUESTS
        .iter()
        .filter_map(|(_, t)| body_of(t))
        .collect()
}

fn responses_bodies() -> Vec<Value> {
    fixtures::RESPONSES_REQUESTS
        .iter()
        .filter_map(|(_, t)| body_of(t))
        .collect()
}

/// Chat bodies: the recorded ones, each case of the Bedrock tool-config
/// table (with a model), and the neutral requests of the Messages and
/// Responses recordings.
fn chat_bodies() -> Vec<Value> {
    let mut out = Vec::new();
    for (_, text) in fixtures::CHAT_REQUESTS {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(cases)) => {
                for mut c in cases {
                    if let Some(mut r) = c.get_mut("request").map(Value::take) {
                        r["model"] = Value::from("anthropic.claude-sonnet-4-5");
                        out.push(r);
                    }
                }
            }
            Ok(v) => out.push(v),
            Err(_) => {}
        }
    }
    for b in messages_bodies() {
        if let Ok(p) = messages::parse_request(b.to_string().as_bytes()) {
            out.extend(serde_json::to_value(&p.request).ok());
        }
    }
    for b in responses_bodies() {
        if let Ok(p) = responses::parse_request(b.to_string().as_bytes()) {
            out.extend(serde_json::to_value(&p.request).ok());
        }
    }
    out
}

fn vocab(slot: usize, bodies: fn() -> Vec<Value>) -> &'static Vocab {
    static VOCABS: [OnceLock<Vocab>; 3] = [const { OnceLock::new() }; 3];
    VOCABS[slot].get_or_init(|| Vocab::new(bodies().into_iter().map(one).collect()))
}

/// The body of an input: the raw bytes, or a recorded body edited.
fn body(data: &[u8], slot: usize, bodies: fn() -> Vec<Value>) -> Option<Vec<u8>> {
    match input(data)? {
        Input::Raw { bytes, .. } => Some(bytes.to_vec()),
        Input::Structured(mut u) => {
            let v = vocab(slot, bodies).body(&mut u).ok()?;
            let mut b = v.to_string().into_bytes();
            if u.int_in_range(0u8..=15).ok()? == 15 {
                // Sometimes not quite JSON: cut short.
                let cut = u.int_in_range(0..=b.len()).ok()?;
                b.truncate(cut);
            }
            Some(b)
        }
    }
}

/// A neutral request's invariants: it re-serialises and reads back the
/// same, and every provider's translator (of format `only`, if given)
/// encodes it to JSON or refuses it.
fn translate(request: &ChatRequest, only: Option<WireFormat>) {
    let json = serde_json::to_vec(request);
    assert!(json.is_ok(), "an accepted request serialises");
    let back: Result<ChatRequest, _> = serde_json::from_slice(&json.unwrap_or_default());
    assert_eq!(back.as_ref().ok(), Some(request), "and reads back the same");
    for p in PROVIDERS
        .iter()
        .filter(|p| only.is_none_or(|f| f == p.format))
    {
        let encoded = match p.format {
            WireFormat::OpenAiChat(quirks) => vec![
                encode_request(request, quirks, false),
                encode_request(request, quirks, true),
            ],
            WireFormat::AnthropicMessages => vec![
                encode_anthropic_request(p.id, request, false),
                encode_anthropic_request(p.id, request, true),
            ],
            WireFormat::Responses => vec![
                encode_responses_request(p.id, request, false),
                encode_responses_request(p.id, request, true),
            ],
            WireFormat::Gemini => vec![encode_google_request(p.id, request)],
            WireFormat::BedrockConverse => vec![encode_bedrock_request(p.id, request)],
        };
        for body in encoded.into_iter().flatten() {
            let v: Result<Value, _> = serde_json::from_slice(&body);
            assert!(v.is_ok(), "{}: the encoded request is JSON", p.slug);
        }
    }
}

/// The recorded chat answers, for the answer encoders.
fn answers() -> &'static [ChatResponse] {
    static ANSWERS: OnceLock<Vec<ChatResponse>> = OnceLock::new();
    ANSWERS.get_or_init(|| {
        fixtures::CHAT_ANSWERS
            .iter()
            .filter_map(|(_, t)| serde_json::from_str(t).ok())
            .collect()
    })
}

/// One of `items`, picked by `n` (each input gets one recorded stream:
/// all of them for every input would cost most of the time).
fn one_of<T>(items: &[T], n: usize) -> Option<&T> {
    items.get(n.checked_rem(items.len())?)
}

/// Fuzz target `request_chat`: a chat completions body read as the chat
/// handler reads it (`ChatRequest`, then `validate`); an accepted one
/// through [`translate`].
pub fn request_chat(data: &[u8]) {
    let Some(body) = body(data, 0, chat_bodies) else {
        return;
    };
    let Ok(request) = serde_json::from_slice::<ChatRequest>(&body) else {
        return;
    };
    if request.validate().is_ok() {
        translate(&request, None);
    }
}

/// Fuzz target `request_messages`: an Anthropic Messages body read by
/// `parse_request` and `parse_count_tokens`; an accepted one adapted to
/// and encoded for every provider when translatable, and the recorded
/// answers encoded for it, whole and (one recorded stream) streamed.
pub fn request_messages(data: &[u8]) {
    let Some(body) = body(data, 1, messages_bodies) else {
        return;
    };
    let counted = messages::parse_count_tokens(&body);
    let Ok(parsed) = messages::parse_request(&body) else {
        return;
    };
    assert!(counted.is_ok(), "count_tokens reads what messages reads");
    if parsed.check_translatable().is_ok() {
        translate(&parsed.request, None);
        // What `adapt_to` changes, for the format it changes it for.
        let mut adapted = parsed.clone();
        adapted.adapt_to(WireFormat::BedrockConverse);
        if adapted != parsed {
            translate(&adapted.request, Some(WireFormat::BedrockConverse));
        }
    }
    for answer in answers() {
        let v: Result<Value, _> =
            serde_json::from_slice(&messages::encode_response(answer, &parsed));
        assert!(v.is_ok(), "a Messages answer is JSON");
    }
    if let Some(items) = one_of(recorded(), body.len()) {
        messages_stream(&parsed, items);
    }
}

/// Fuzz target `request_responses`: an OpenAI Responses body read by
/// `peek` and `parse_request` (they agree on the model and stream); an
/// accepted one encoded for every provider, and the recorded answers
/// encoded for it, whole and (one recorded stream) streamed.
pub fn request_responses(data: &[u8]) {
    let Some(body) = body(data, 2, responses_bodies) else {
        return;
    };
    let peeked = responses::peek(&body);
    let Ok(parsed) = responses::parse_request(&body) else {
        return;
    };
    if let Ok(p) = peeked {
        assert_eq!(p.model, parsed.model, "peek and parse_request agree");
        assert_eq!(p.stream, parsed.stream, "peek and parse_request agree");
    }
    translate(&parsed.request, None);
    for answer in answers() {
        let v: Result<Value, _> =
            serde_json::from_slice(&responses::encode_response(answer, &parsed));
        assert!(v.is_ok(), "a Responses answer is JSON");
    }
    if let Some(items) = one_of(recorded(), body.len()) {
        responses_stream(&parsed, items);
    }
}

pub(super) fn seeds(out: &mut Vec<(&'static str, String, Vec<u8>)>) {
    for (i, b) in chat_bodies().iter().enumerate() {
        let bytes = raw(1, b.to_string().as_bytes());
        out.push(("request_chat", format!("seed-chat-{i}.json"), bytes));
    }
    for (target, list) in [
        ("request_messages", fixtures::MESSAGES_REQUESTS),
        ("request_responses", fixtures::RESPONSES_REQUESTS),
    ] {
        for (name, text) in list {
            if let Some(b) = body_of(text) {
                out.push((
                    target,
                    format!("seed-{name}"),
                    raw(1, b.to_string().as_bytes()),
                ));
            }
        }
    }
}
