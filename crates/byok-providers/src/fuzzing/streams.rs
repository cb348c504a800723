//! The stream targets: each format's body decoder and stream state machine
//! as its adapter builds them (`Dialect::translator`), driven over a body
//! in pieces; and the Bedrock event-stream frame reader alone.

use std::sync::{Arc, OnceLock};

use arbitrary::{Result, Unstructured};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use futures_util::{FutureExt as _, StreamExt as _};
use secrecy::SecretString;
use serde_json::Value;

use super::edit::{self, Data, Event, Vocab};
use super::{Input, assert_same, fixtures, input, pieces, raw};
use crate::error::ProviderError;
use crate::http::{BodyTranslate, Out};
use crate::id::{PROVIDERS, ProviderId, WireFormat};
use crate::inbound::{messages, responses};
use crate::provider::ProviderConfig;
use crate::sse::SseDecoder;
use crate::stream::{ChatStream, StreamEvent, StreamItem, Transcript, UsageReport, VerbatimChunk};
use crate::translators::Dialect;
use crate::translators::anthropic::Anthropic;
use crate::translators::bedrock::{Bedrock, FrameReader};
use crate::translators::gemini::Google;
use crate::translators::openai::{OpenAiCompatible, StrictChunk};
use crate::translators::responses::Responses;
use crate::types::{ChatChunk, ChatRequest, Usage};

/// The key the translators redact from mid-stream errors when the input
/// does not choose one.
const SECRET: &str = "sk-fuzz-0123456789abcdef";

/// The formats with a stream translator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    OpenAi,
    Anthropic,
    Responses,
    Gemini,
    Bedrock,
}

impl Format {
    fn matches(self, f: WireFormat) -> bool {
        matches!(
            (self, f),
            (Format::OpenAi, WireFormat::OpenAiChat(_))
                | (Format::Anthropic, WireFormat::AnthropicMessages)
                | (Format::Responses, WireFormat::Responses)
                | (Format::Gemini, WireFormat::Gemini)
                | (Format::Bedrock, WireFormat::BedrockConverse)
        )
    }

    /// The providers of this format (the first is the default).
    fn providers(self) -> Vec<ProviderId> {
        PROVIDERS
            .iter()
            .filter(|p| self.matches(p.format))
            .map(|p| p.id)
            .collect()
    }

    fn vocab(self) -> &'static Vocab {
        static VOCABS: [OnceLock<Vocab>; 5] = [const { OnceLock::new() }; 5];
        let (slot, recordings) = match self {
            Format::OpenAi => (0, fixtures::OPENAI_STREAMS),
            Format::Anthropic => (1, fixtures::ANTHROPIC_STREAMS),
            Format::Responses => (2, fixtures::RESPONSES_STREAMS),
            Format::Gemini => (3, fixtures::GEMINI_STREAMS),
            Format::Bedrock => (4, fixtures::BEDROCK_STREAMS),
        };
        VOCABS[slot].get_or_init(|| {
            Vocab::new(
                recordings
                    .iter()
                    .map(|(_, text)| {
                        if self == Format::Bedrock {
                            bedrock_events(text)
                        } else {
                            edit::sse_events(text)
                        }
                    })
                    .collect(),
            )
        })
    }

    /// The body of `events` on the wire.
    fn write(self, events: &[Event], u: &mut Unstructured<'_>, out: &mut Vec<u8>) -> Result<()> {
        if self == Format::Bedrock {
            for e in events {
                write_frame(e, u, out)?;
            }
        } else {
            edit::write_sse(events, u.int_in_range(0u8..=7)? == 7, out);
        }
        Ok(())
    }
}

/// A Bedrock recording's events: `{"event": type, "payload"}` as that
/// event, `{"exception": type, "payload"}` as the name `!type`.
fn bedrock_events(text: &str) -> Vec<Event> {
    let v: Value = serde_json::from_str(text).unwrap_or_default();
    let list = match v {
        Value::Array(a) => a,
        Value::Object(mut m) => match m.remove("events") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    list.into_iter()
        .filter_map(|mut e| {
            let payload = e.get_mut("payload").map(Value::take)?;
            let name = match (e.get("event"), e.get("exception")) {
                (Some(Value::String(n)), _) => n.clone(),
                (_, Some(Value::String(x))) => format!("!{x}"),
                _ => return None,
            };
            Some(Event {
                name: Some(name),
                data: Data::Json(payload),
            })
        })
        .collect()
}

/// One event as an event-stream frame: `:event-type` and `:message-type`
/// headers (an exception's `:exception-type` for a `!name`), sometimes a
/// header of another type, sometimes a byte of the frame changed.
fn write_frame(e: &Event, u: &mut Unstructured<'_>, out: &mut Vec<u8>) -> Result<()> {
    let payload = match &e.data {
        Data::Json(v) => v.to_string().into_bytes(),
        Data::Text(t) => t.clone().into_bytes(),
    };
    let mut headers = Vec::new();
    let name = e.name.clone().unwrap_or_default();
    match name.strip_prefix('!') {
        Some(kind) => {
            headers.push(Header::new(
                ":message-type",
                HeaderValue::String("exception".to_owned().into()),
            ));
            headers.push(Header::new(
                ":exception-type",
                HeaderValue::String(kind.to_owned().into()),
            ));
        }
        None => {
            headers.push(Header::new(":event-type", HeaderValue::String(name.into())));
            headers.push(Header::new(
                ":message-type",
                HeaderValue::String("event".to_owned().into()),
            ));
        }
    }
    headers.push(Header::new(
        ":content-type",
        HeaderValue::String("application/json".to_owned().into()),
    ));
    match u.int_in_range(0u8..=15)? {
        14 => {
            let value = match u.int_in_range(0u8..=5)? {
                0 => HeaderValue::Bool(u.arbitrary()?),
                1 => HeaderValue::Int32(u.arbitrary()?),
                2 => HeaderValue::Int64(u.arbitrary()?),
                3 => HeaderValue::ByteArray(Bytes::copy_from_slice(u.bytes(4.min(u.len()))?)),
                4 => HeaderValue::Uuid(u.arbitrary()?),
                _ => {
                    HeaderValue::Timestamp(aws_smithy_types::DateTime::from_millis(u.arbitrary()?))
                }
            };
            let i = u.choose_index(headers.len())?;
            let name = headers[i].name().as_str().to_owned();
            headers[i] = Header::new(name, value);
        }
        15 => {
            let i = u.choose_index(headers.len())?;
            headers.remove(i);
        }
        _ => {}
    }
    let start = out.len();
    let m = Message::new_from_parts(headers, payload);
    if aws_smithy_eventstream::frame::write_message_to(&m, out).is_err() {
        out.truncate(start);
        return Ok(());
    }
    if u.int_in_range(0u8..=31)? == 31 {
        let i = u.int_in_range(start..=out.len() - 1)?;
        out[i] ^= 1 << u.int_in_range(0u8..=7)?;
    }
    Ok(())
}

/// The adapters of every provider of every format, built once.
pub(super) struct Adapters {
    pub(super) openai: Vec<OpenAiCompatible>,
    pub(super) anthropic: Vec<Anthropic>,
    pub(super) responses: Vec<Responses>,
    pub(super) gemini: Vec<Google>,
    pub(super) bedrock: Vec<Bedrock>,
}

/// The adapters' client (never used to send: the targets feed bodies to
/// the translators).
#[allow(clippy::panic)] // a fuzz target reports a broken setup by panicking
fn upstream_client() -> crate::HttpClient {
    let timeouts = crate::Timeouts::default();
    match crate::upstream_client(&timeouts, crate::EndpointPolicy::default()) {
        Ok(client) => client,
        Err(e) => panic!("the upstream client builds: {e}"),
    }
}

pub(super) fn adapters() -> &'static Adapters {
    static ADAPTERS: OnceLock<Adapters> = OnceLock::new();
    ADAPTERS.get_or_init(|| {
        let client = upstream_client();
        let config = Arc::new(ProviderConfig::default());
        let c = || client.clone();
        let k = || Arc::clone(&config);
        Adapters {
            openai: Format::OpenAi
                .providers()
                .into_iter()
                .filter_map(|id| match id.info().format {
                    WireFormat::OpenAiChat(quirks) => {
                        let base = config.base_url(id).to_owned();
                        Some(OpenAiCompatible::new(id, base, quirks, c(), k()))
                    }
                    _ => None,
                })
                .collect(),
            anthropic: Format::Anthropic
                .providers()
                .into_iter()
                .map(|id| Anthropic::new(id, c(), k()))
                .collect(),
            responses: Format::Responses
                .providers()
                .into_iter()
                .map(|id| Responses::new(id, c(), k()))
                .collect(),
            gemini: Format::Gemini
                .providers()
                .into_iter()
                .map(|id| Google::new(id, c(), k()))
                .collect(),
            bedrock: Format::Bedrock
                .providers()
                .into_iter()
                .map(|id| Bedrock::new(id, c(), k()))
                .collect(),
        }
    })
}

/// What a stream gave: its events in order, an error last if it failed.
type Outcome = Vec<std::result::Result<StreamEvent, ProviderError>>;

/// Drives `translator` as `http::body_stream` does: `body` in pieces of
/// the sizes in `pieces` (taken in turn), then the end of the body unless
/// the stream ended or failed first.
fn drive<B: BodyTranslate>(mut translator: B, body: &[u8], pieces: &[usize]) -> Outcome {
    let mut out = Out::new();
    let mut rest = body;
    let mut ended = false;
    for &size in pieces.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(size.clamp(1, rest.len()));
        rest = tail;
        match translator.bytes(piece, &mut out) {
            Ok(false) => {}
            Ok(true) => {
                ended = true;
                break;
            }
            Err(e) => {
                out.push_back(Err(e));
                ended = true;
                break;
            }
        }
    }
    if !ended && let Err(e) = translator.eof(&mut out) {
        out.push_back(Err(e));
    }
    out.into_iter().collect()
}

/// One stream run: the format's adapter for `provider` builds the
/// translator for `request`, which reads `body` in `pieces`.
fn run(
    format: Format,
    provider: usize,
    request: &ChatRequest,
    secret: &str,
    body: &[u8],
    pieces: &[usize],
) -> Outcome {
    let a = adapters();
    let s = || SecretString::from(secret);
    fn nth<T>(v: &[T], i: usize) -> &T {
        &v[i % v.len()]
    }
    match format {
        Format::OpenAi => drive(
            nth(&a.openai, provider).translator(request, s()),
            body,
            pieces,
        ),
        Format::Anthropic => drive(
            nth(&a.anthropic, provider).translator(request, s()),
            body,
            pieces,
        ),
        Format::Responses => drive(
            nth(&a.responses, provider).translator(request, s()),
            body,
            pieces,
        ),
        Format::Gemini => drive(
            nth(&a.gemini, provider).translator(request, s()),
            body,
            pieces,
        ),
        Format::Bedrock => drive(
            nth(&a.bedrock, provider).translator(request, s()),
            body,
            pieces,
        ),
    }
}

/// The request a stream answers: streamed, usage asked for or not, stop
/// sequences (the Responses translator holds text back for them).
fn request(stream_usage: bool, stop: Option<Vec<String>>) -> Option<ChatRequest> {
    let mut v = serde_json::json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": true,
        "stream_options": {"include_usage": stream_usage},
    });
    if let Some(stop) = stop {
        v["stop"] = Value::from(stop);
    }
    serde_json::from_value(v).ok()
}

/// A key for a structured input: the default, or a word of the
/// recordings that looks like a key (so it can occur in their messages).
fn secret(vocab: &Vocab, u: &mut Unstructured<'_>) -> Result<String> {
    if u.int_in_range(0u8..=3)? == 3 {
        let w = vocab.word(u)?;
        if w.len() >= 10
            && !w.contains("redacted")
            && w.bytes().any(|b| b.is_ascii_digit())
            && w.bytes().any(|b| b.is_ascii_alphabetic())
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Ok(w);
        }
    }
    Ok(SECRET.to_owned())
}

/// Chunks made comparable across two runs: what a translator makes up
/// fresh for every stream (`created`; Bedrock's chunk ids; Gemini's call
/// ids, `call_<16 hex>…`) blanked.
fn normalise(format: Format, mut outcome: Outcome) -> Outcome {
    if format == Format::OpenAi {
        return outcome;
    }
    for e in &mut outcome {
        // Verbatim chunks come from the OpenAI dialect only (returned above).
        if let Ok(StreamEvent::Chunk(c)) = e {
            c.created = 0;
            if format == Format::Bedrock {
                c.id.clear();
            }
            for choice in &mut c.choices {
                for t in choice.delta.tool_calls.iter_mut().flatten() {
                    if let Some(id) = &mut t.id {
                        scrub(id);
                    }
                }
                for d in choice.delta.reasoning_details.iter_mut().flatten() {
                    if let Some(Value::String(id)) = d.get_mut("id") {
                        scrub(id);
                    }
                }
            }
        }
    }
    outcome
}

/// `call_` and 16 hex digits: the digits blanked.
fn scrub(id: &mut String) {
    let mut out = String::with_capacity(id.len());
    let mut rest = id.as_str();
    while let Some(i) = rest.find("call_") {
        let (head, tail) = rest.split_at(i + 5);
        out.push_str(head);
        rest = tail;
        if rest.len() >= 16 && rest.as_bytes()[..16].iter().all(u8::is_ascii_hexdigit) {
            out.push('*');
            rest = &rest[16..];
        }
    }
    out.push_str(rest);
    *id = out;
}

/// JSON with null members removed (a missing member and `null` mean the
/// same in a chunk).
pub(super) fn meaning(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|_, x| !x.is_null());
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// The events' own invariants, and what the clients of every protocol
/// get from them.
fn check(outcome: &Outcome, secret: &str) {
    for e in outcome {
        match e {
            Ok(StreamEvent::Chunk(c)) => {
                assert!(serde_json::to_vec(c).is_ok(), "a chunk serialises");
            }
            Ok(StreamEvent::Verbatim(v)) => {
                let json = v.raw();
                assert!(!json.contains('\n'), "a verbatim chunk is one line");
                assert!(
                    v.scan_is_whole(),
                    "a chunk scanned from the last one's beginning reads as the whole scan: {json}"
                );
                // Whichever reading found it verbatim (the one-pass scan or
                // serde's), the strict serde reading agrees.
                assert!(
                    StrictChunk::read(json).is_some_and(|w| w.verbatim(json)),
                    "a verbatim chunk reads strictly as verbatim: {json}"
                );
                let sent: Value = serde_json::from_str(json).unwrap_or_default();
                let parsed = serde_json::to_value(v.chunk()).unwrap_or_default();
                assert_eq!(
                    meaning(sent),
                    meaning(parsed),
                    "a verbatim chunk's JSON says what its chunk says: {json}"
                );
            }
            Ok(StreamEvent::Usage(u)) => {
                assert!(serde_json::to_vec(u).is_ok(), "usage serialises");
            }
            Err(e) => {
                let text = e.to_string();
                assert!(!text.contains(secret), "an error shows the key: {text:?}");
                // The upstream's own words: no 8-byte piece of the key
                // (what `sanitize` promises).
                if let ProviderError::MidStream { message, .. } = e {
                    for w in secret.as_bytes().windows(8) {
                        assert!(
                            !message.as_bytes().windows(8).any(|b| b == w),
                            "an upstream message shows a piece of the key: {message:?}"
                        );
                    }
                }
            }
        }
    }
    let items = items(outcome);
    // The transcript read in place from verbatim chunks (what the stream's
    // scan found, or their JSON read again) is the one their parsed chunks
    // make.
    let mut transcripts = [(); 3].map(|()| Transcript::default());
    for item in &items.0 {
        transcripts[0].push(item.chunk());
        let StreamItem::Verbatim(v) = item else {
            transcripts[1].push(item.chunk());
            transcripts[2].push(item.chunk());
            continue;
        };
        transcripts[1].push_item(&StreamItem::Verbatim(v.unparsed()));
        let again = VerbatimChunk::new(v.raw().to_owned());
        assert!(again.is_some(), "a verbatim chunk reads as verbatim again");
        if let Some(again) = again {
            transcripts[2].push_item(&StreamItem::Verbatim(again));
        }
    }
    assert_eq!(
        transcripts[0], transcripts[1],
        "the transcript from the scan"
    );
    assert_eq!(
        transcripts[0], transcripts[2],
        "the transcript read in place"
    );
    clients(&items);
}

/// What the server's stream body sees: the items of a [`ChatStream`] over
/// the events, its usage report, and the error that ended it.
pub(super) type Items = (Vec<StreamItem>, Option<Usage>, Option<String>);

fn items(outcome: &Outcome) -> Items {
    let mut stream = ChatStream::new(Box::pin(futures_util::stream::iter(outcome.clone())));
    let mut items = Vec::new();
    let mut error = None;
    while let Some(Some(item)) = stream.next().now_or_never() {
        match item {
            Ok(item) => items.push(item),
            Err(e) => error = Some(e.to_string()),
        }
    }
    let usage = match stream.usage() {
        UsageReport::Reported(u) => Some(u),
        _ => None,
    };
    (items, usage, error)
}

/// The recorded OpenAI-dialect streams as the server sees them (for the
/// request targets' stream encoders).
pub(super) fn recorded() -> &'static [Items] {
    static RECORDED: OnceLock<Vec<Items>> = OnceLock::new();
    RECORDED.get_or_init(|| {
        fixtures::OPENAI_STREAMS
            .iter()
            .filter_map(|(_, text)| {
                let request = request(true, None)?;
                let outcome = run(Format::OpenAi, 0, &request, SECRET, text.as_bytes(), &[64]);
                Some(items(&outcome))
            })
            .collect()
    })
}

/// Every protocol's client encoding of the stream: chat completions SSE
/// (each item as it is sent), Anthropic Messages and OpenAI Responses
/// (their stream encoders, for a plain streamed request).
fn clients(items: &Items) {
    let mut chat = bytes::BytesMut::new();
    for item in &items.0 {
        assert!(item.encode_sse(&mut chat).is_ok(), "a chat item encodes");
    }
    for e in decode_sse(&chat) {
        let chunk: std::result::Result<ChatChunk, _> = serde_json::from_str(&e.data);
        assert!(
            chunk.is_ok(),
            "a chat event reads back as a chunk: {}",
            e.data
        );
    }
    static PARSED: OnceLock<(Option<messages::Parsed>, Option<responses::Parsed>)> =
        OnceLock::new();
    let (m, r) = PARSED.get_or_init(|| {
        (
            messages::parse_request(
                br#"{"model":"claude-x","max_tokens":64,"stream":true,"stop_sequences":["END"],"messages":[{"role":"user","content":"hi"}]}"#,
            )
            .ok(),
            responses::parse_request(
                br#"{"model":"gpt-x","stream":true,"input":"hi","include":["reasoning.encrypted_content"]}"#,
            )
            .ok(),
        )
    });
    if let Some(m) = m {
        messages_stream(m, items);
    }
    if let Some(r) = r {
        responses_stream(r, items);
    }
}

/// The Messages stream encoder over `items`, as the server drives it: SSE
/// whose every event is JSON named by its `type`.
pub(super) fn messages_stream(parsed: &messages::Parsed, (items, usage, error): &Items) {
    let mut enc = messages::StreamEncoder::new(parsed);
    let mut out = Vec::new();
    for item in items {
        enc.push(item.chunk(), &mut out);
    }
    match error {
        Some(e) => enc.error(502, e, &mut out),
        None => {
            if let Some(u) = usage {
                enc.set_usage(u);
            }
            enc.finish(&mut out);
        }
    }
    typed_events(&out, "messages");
}

/// The Responses stream encoder over `items`, as the server drives it.
pub(super) fn responses_stream(parsed: &responses::Parsed, (items, usage, error): &Items) {
    let mut enc = responses::StreamEncoder::new(parsed);
    let mut out = Vec::new();
    for item in items {
        enc.push(item.chunk(), &mut out);
    }
    match error {
        Some(e) => enc.error(502, e, &mut out),
        None => {
            if let Some(u) = usage {
                enc.usage(u);
            }
            enc.finish(&mut out);
        }
    }
    typed_events(&out, "responses");
}

fn decode_sse(bytes: &[u8]) -> Vec<crate::sse::SseEvent> {
    let mut d = SseDecoder::new(usize::MAX);
    let mut events = Vec::new();
    assert!(d.push(bytes, &mut events).is_ok(), "an encoder writes SSE");
    assert!(!d.has_partial(), "an encoder ends every event");
    events
}

fn typed_events(bytes: &[u8], protocol: &str) {
    for e in decode_sse(bytes) {
        let v: std::result::Result<Value, _> = serde_json::from_str(&e.data);
        let Ok(v) = v else {
            panic_with(protocol, &e.data);
            return;
        };
        if let Some(name) = &e.event {
            assert_eq!(
                v.get("type").and_then(Value::as_str),
                Some(name.as_str()),
                "{protocol}: an event is named by its type"
            );
        }
    }
}

#[allow(clippy::panic)] // a fuzz target reports a broken invariant by panicking
fn panic_with(protocol: &str, data: &str) {
    panic!("{protocol}: an event's data is not JSON: {data}");
}

/// A stream target's input: the body, its pieces, the provider (an index
/// into the format's providers), the request and the key.
struct Case {
    body: Vec<u8>,
    pieces: Vec<usize>,
    provider: usize,
    request: ChatRequest,
    secret: String,
}

fn case(format: Format, data: &[u8]) -> Option<Case> {
    match input(data)? {
        Input::Raw { bytes, piece } => Some(Case {
            body: bytes.to_vec(),
            pieces: vec![piece],
            provider: 0,
            request: request(true, None)?,
            secret: SECRET.to_owned(),
        }),
        Input::Structured(mut u) => structured(format, &mut u).ok().flatten(),
    }
}

fn structured(format: Format, u: &mut Unstructured<'_>) -> Result<Option<Case>> {
    let vocab = format.vocab();
    let events = vocab.script(u)?;
    let mut body = Vec::new();
    format.write(&events, u, &mut body)?;
    let stop = if u.int_in_range(0u8..=3)? == 3 {
        let mut s = Vec::new();
        for _ in 0..u.int_in_range(1u8..=3)? {
            s.push(vocab.word(u)?);
        }
        Some(s)
    } else {
        None
    };
    let pieces = pieces(u)?;
    let provider = u.int_in_range(0usize..=64)?;
    let Some(request) = request(u.arbitrary()?, stop) else {
        return Ok(None);
    };
    Ok(Some(Case {
        body,
        pieces,
        provider,
        request,
        secret: secret(vocab, u)?,
    }))
}

/// A stream target: the same events whole and in pieces, then [`check`].
fn stream(format: Format, data: &[u8]) {
    let Some(c) = case(format, data) else { return };
    let go = |pieces: &[usize]| {
        normalise(
            format,
            run(format, c.provider, &c.request, &c.secret, &c.body, pieces),
        )
    };
    let whole = go(&[usize::MAX]);
    let split = go(&c.pieces);
    assert_same(
        &whole,
        &split,
        &format!("the same stream in pieces of {:?}", c.pieces),
    );
    check(&whole, &c.secret);
}

/// Fuzz target `stream_openai`: OpenAI-dialect chat streams (every
/// provider of that format).
pub fn stream_openai(data: &[u8]) {
    stream(Format::OpenAi, data);
}

/// Fuzz target `stream_anthropic`: Anthropic Messages streams.
pub fn stream_anthropic(data: &[u8]) {
    stream(Format::Anthropic, data);
}

/// Fuzz target `stream_responses`: OpenAI Responses streams.
pub fn stream_responses(data: &[u8]) {
    stream(Format::Responses, data);
}

/// Fuzz target `stream_gemini`: Gemini streams.
pub fn stream_gemini(data: &[u8]) {
    stream(Format::Gemini, data);
}

/// Fuzz target `stream_bedrock`: Bedrock Converse event streams (frames
/// and translator).
pub fn stream_bedrock(data: &[u8]) {
    stream(Format::Bedrock, data);
}

/// Fuzz target `bedrock_frames`: the event-stream frame reader alone, with
/// a 1 KiB bound: the same frames (and error) whole and in pieces, and
/// every frame re-encodes to bytes that read back as the same frame.
pub fn bedrock_frames(data: &[u8]) {
    let Some(input) = input(data) else { return };
    let (body, sizes) = match input {
        Input::Raw { bytes, piece } => (bytes.to_vec(), vec![piece]),
        Input::Structured(mut u) => {
            let frames = (|| {
                let vocab = Format::Bedrock.vocab();
                let events = vocab.script(&mut u)?;
                let mut body = Vec::new();
                Format::Bedrock.write(&events, &mut u, &mut body)?;
                Ok::<_, arbitrary::Error>((body, pieces(&mut u)?))
            })();
            match frames {
                Ok(x) => x,
                Err(_) => return,
            }
        }
    };
    let read = |sizes: &[usize]| {
        let mut reader = FrameReader::new(ProviderId::Aws, 1024);
        let mut frames = Vec::new();
        let mut rest = &body[..];
        for &size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (piece, tail) = rest.split_at(size.clamp(1, rest.len()));
            rest = tail;
            if let Err(e) = reader.push(piece, &mut frames) {
                return (frames, Some(e), false);
            }
        }
        (frames, None, reader.is_empty())
    };
    let whole = read(&[usize::MAX]);
    let split = read(&sizes);
    assert_same(
        &whole.0,
        &split.0,
        &format!("the same frames in pieces of {sizes:?}"),
    );
    assert_eq!(
        (&whole.1, whole.2),
        (&split.1, split.2),
        "the same end in pieces of {sizes:?}"
    );
    for m in &whole.0 {
        let mut bytes = Vec::new();
        assert!(
            aws_smithy_eventstream::frame::write_message_to(m, &mut bytes).is_ok(),
            "a decoded frame re-encodes"
        );
        let again = aws_smithy_eventstream::frame::read_message_from(&bytes[..]);
        assert_eq!(again.ok().as_ref(), Some(m), "and reads back the same");
    }
}

pub(super) fn seeds(out: &mut Vec<(&'static str, String, Vec<u8>)>) {
    for (target, recordings) in [
        ("stream_openai", fixtures::OPENAI_STREAMS),
        ("stream_anthropic", fixtures::ANTHROPIC_STREAMS),
        ("stream_responses", fixtures::RESPONSES_STREAMS),
        ("stream_gemini", fixtures::GEMINI_STREAMS),
    ] {
        for (name, text) in recordings {
            out.push((target, format!("seed-{name}"), raw(16, text.as_bytes())));
        }
    }
    for (name, text) in fixtures::BEDROCK_STREAMS {
        let mut body = Vec::new();
        let mut u = Unstructured::new(&[]);
        for e in bedrock_events(text) {
            let _ = write_frame(&e, &mut u, &mut body);
        }
        out.push(("stream_bedrock", format!("seed-{name}"), raw(16, &body)));
        out.push(("bedrock_frames", format!("seed-{name}"), raw(16, &body)));
    }
}
