//! The OpenAI dialect's stream: one SSE data payload at a time into neutral
//! chunks, with the verbatim fast path for chunks in OpenAI's exact shape.

use std::borrow::Cow;
use std::ops::Range;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::response::{extras, standard_finish};
use super::scan::{Resume, Scan, scan_next};
use crate::error::ProviderError;
use crate::http::{self, Out, SseTranslate};
use crate::id::ProviderId;
use crate::object::{Object, object, object_opt, objects, objects_opt};
use crate::sse::SseEvent;
use crate::stream::{StreamEvent, VerbatimChunk};
use crate::types::{
    ChatChunk, ChunkChoice, Delta, FinishReason, FunctionDelta, ToolCallDelta, Usage,
};

/// A chunk as OpenAI-dialect providers send it; every field it does not
/// read is kept (`extra`, and the neutral choices' own maps).
#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    id: String,
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    system_fingerprint: Option<String>,
    #[serde(default)]
    error: Option<Value>,
    /// Everything else (Groq's `x_groq`, OpenRouter's `provider`, ...).
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// Groq's usage, in `x_groq.usage` (the member stays in the chunk).
fn groq_usage(extra: &Map<String, Value>) -> Option<Usage> {
    let usage = extra.get("x_groq")?.get("usage")?;
    Usage::deserialize(usage).ok()
}

/// What one upstream SSE event means.
#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // short-lived, moved once; boxing would add an allocation per chunk
pub enum Translated {
    /// A chunk to forward (possibly with usage stripped), plus usage seen.
    Chunk(Option<ChatChunk>, Option<Usage>),
    /// A chunk whose upstream JSON may be forwarded as it came: it is in
    /// exactly OpenAI's shape, so the bytes and the parsed chunk say the
    /// same (no usage, nothing to strip or normalise).
    Verbatim(ChatChunk),
    /// `[DONE]`.
    Done,
}

/// A chunk in OpenAI's shape, with the extras OpenAI-dialect providers
/// commonly add, read in place from the event's data (strings borrowed
/// unless escaped, other values as their raw JSON): serde refuses any field
/// not listed, at every level, and every listed field lands in the
/// translated chunk, so a chunk that parses here carries nothing the
/// translated chunk would drop.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StrictChunk<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    object: Cow<'a, str>,
    created: i64,
    #[serde(borrow)]
    pub(crate) model: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "objects")]
    pub(crate) choices: Vec<StrictChoice<'a>>,
    #[serde(default, deserialize_with = "object_opt")]
    usage: Option<Usage>,
    #[serde(default, borrow)]
    system_fingerprint: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "raw_present")]
    service_tier: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw_present")]
    obfuscation: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw_present")]
    provider: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StrictChoice<'a> {
    index: u32,
    #[serde(borrow, deserialize_with = "object")]
    delta: StrictDelta<'a>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    logprobs: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw_present")]
    native_finish_reason: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictDelta<'a> {
    #[serde(default, borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "objects_opt")]
    tool_calls: Option<Vec<StrictToolCall<'a>>>,
    #[serde(default, borrow)]
    reasoning_details: Option<Vec<&'a RawValue>>,
    #[serde(default, borrow, deserialize_with = "raw_present")]
    reasoning: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw_present")]
    annotations: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw_present")]
    audio: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictToolCall<'a> {
    index: u32,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "object_opt")]
    function: Option<StrictFunction<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictFunction<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// serde_json's nesting limit: a document nested this deep does not parse
/// as a [`Value`].
const NESTING_LIMIT: usize = 128;

/// Whether `data` nests fewer than [`NESTING_LIMIT`] arrays and objects
/// deep. serde_json reads a `RawValue` member without that limit (it skips
/// the value with a stack of its own), and a strictly read chunk must
/// parse as a [`Value`] wherever it is read again (its raw members become
/// `Value`s in the parsed chunk; a client, or a test, parses the forwarded
/// line): a deeper one is left to the lenient reading, which refuses it.
/// Checked on the whole chunk, so that no member's place needs counting.
fn within_nesting_limit(data: &str) -> bool {
    // No deeper than it has openings (strings' included): most chunks have
    // a handful, counted without the string-aware walk below.
    let openings = data.bytes().filter(|b| b"[{".contains(b)).count();
    if openings < NESTING_LIMIT {
        return true;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in data.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth >= NESTING_LIMIT {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// A member that is there, `null` included (as [`present`], unparsed).
fn raw_present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// A raw member as the parsed chunk keeps it.
fn value(raw: Option<&RawValue>) -> Option<Value> {
    // Cannot fail: the member was read as JSON, in a chunk within the
    // nesting limit.
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
}

fn owned(s: Option<Cow<'_, str>>) -> Option<String> {
    s.map(Cow::into_owned)
}

impl<'a> StrictChunk<'a> {
    /// The strict reading of `data`: `None` when it is not in the strict
    /// shape (the caller then reads it leniently).
    pub(crate) fn read(data: &'a str) -> Option<Self> {
        if !within_nesting_limit(data) {
            return None;
        }
        serde_json::from_str::<Object<Self>>(data).ok().map(|o| o.0)
    }

    /// Whether `data`, read as `self`, may be forwarded as it came: a
    /// `chat.completion.chunk` with choices, no usage (it is moved out of
    /// content chunks), standard finish reasons only (others are
    /// normalised) and one line.
    pub(crate) fn verbatim(&self, data: &str) -> bool {
        self.object == "chat.completion.chunk"
            && self.usage.is_none()
            && !self.choices.is_empty()
            && self.choices.iter().all(|c| {
                c.finish_reason
                    .as_deref()
                    .is_none_or(|r| standard_finish(r).is_some())
            })
            && !data.contains('\n')
    }

    /// The chunk (none when it has no choices) and the usage it carries.
    pub(crate) fn into_parts(self) -> (Option<ChatChunk>, Option<Usage>) {
        if self.choices.is_empty() {
            return (None, self.usage);
        }
        let chunk = ChatChunk {
            id: self.id.into_owned(),
            object: self.object.into_owned(),
            created: self.created,
            model: self.model.into_owned(),
            choices: self.choices.into_iter().map(StrictChoice::owned).collect(),
            usage: None,
            system_fingerprint: owned(self.system_fingerprint),
            extra: extras([
                ("service_tier", value(self.service_tier)),
                ("obfuscation", value(self.obfuscation)),
                ("provider", value(self.provider)),
            ]),
        };
        (Some(chunk), self.usage)
    }
}

impl<'a> StrictChoice<'a> {
    /// The neutral choice (a finish reason outside OpenAI's set reads as
    /// `stop`; such a chunk is not verbatim).
    fn owned(self) -> ChunkChoice {
        let d = self.delta;
        let tool_calls = d.tool_calls.map(|calls| {
            calls
                .into_iter()
                .map(|t| ToolCallDelta {
                    index: t.index,
                    id: owned(t.id),
                    kind: owned(t.kind),
                    function: t.function.map(|f| FunctionDelta {
                        name: owned(f.name),
                        arguments: owned(f.arguments),
                    }),
                })
                .collect()
        });
        ChunkChoice {
            index: self.index,
            delta: Delta {
                role: owned(d.role),
                content: owned(d.content),
                reasoning_content: owned(d.reasoning_content),
                refusal: owned(d.refusal),
                tool_calls,
                reasoning_details: d
                    .reasoning_details
                    .map(|v| v.into_iter().filter_map(|r| value(Some(r))).collect()),
                extra: extras([
                    ("reasoning", value(d.reasoning)),
                    ("annotations", value(d.annotations)),
                    ("audio", value(d.audio)),
                ]),
            },
            finish_reason: self
                .finish_reason
                .map(|r| standard_finish(&r).unwrap_or(FinishReason::Stop)),
            logprobs: value(self.logprobs),
            extra: extras([("native_finish_reason", value(self.native_finish_reason))]),
        }
    }
}

impl crate::stream::ChoiceView for StrictChoice<'_> {
    fn index(&self) -> u32 {
        self.index
    }

    fn content(&self) -> Option<Cow<'_, str>> {
        self.delta.content.as_deref().map(Cow::Borrowed)
    }

    fn reasoning(&self) -> Option<Cow<'_, str>> {
        if let Some(r) = &self.delta.reasoning_content {
            return Some(Cow::Borrowed(r));
        }
        // A provider's `reasoning` string (`Delta::reasoning_text`).
        let raw = self.delta.reasoning?;
        raw.get()
            .starts_with('"')
            .then(|| serde_json::from_str::<Cow<'_, str>>(raw.get()).ok())
            .flatten()
    }

    fn finish_reason(&self) -> Option<FinishReason> {
        self.finish_reason
            .as_deref()
            .map(|r| standard_finish(r).unwrap_or(FinishReason::Stop))
    }

    fn tool_calls(&self) -> impl Iterator<Item = crate::stream::ToolCallView<'_>> {
        self.delta.tool_calls.iter().flatten().map(|t| {
            let f = t.function.as_ref();
            crate::stream::ToolCallView::borrowed(
                t.index,
                t.id.as_deref(),
                f.and_then(|f| f.name.as_deref()),
                f.and_then(|f| f.arguments.as_deref()),
            )
        })
    }
}

/// The strict reading of `data` as a translated chunk: `None` when it is
/// not in the strict shape (the caller then reads it leniently).
fn strict_event(data: &str) -> Option<Translated> {
    let wire = StrictChunk::read(data)?;
    let verbatim = wire.verbatim(data);
    Some(match wire.into_parts() {
        (Some(chunk), None) if verbatim => Translated::Verbatim(chunk),
        (chunk, usage) => Translated::Chunk(chunk, usage),
    })
}

/// The chunk that a verbatim chunk's JSON says (see
/// [`crate::stream::VerbatimChunk`]): read strictly, as when it was found
/// verbatim; leniently if that ever fails (it cannot: the bytes were read
/// strictly before).
pub(crate) fn verbatim_chunk(raw: &str) -> ChatChunk {
    let chunk = match StrictChunk::read(raw) {
        Some(wire) => wire.into_parts().0,
        None => lenient_event(ProviderId::OpenAi, raw, None).map_or(None, |(c, _)| c),
    };
    chunk.unwrap_or_else(|| ChatChunk {
        object: "chat.completion.chunk".to_owned(),
        ..ChatChunk::default()
    })
}

/// Translates one upstream SSE data payload.
///
/// # Errors
/// [`ProviderError::Malformed`] or [`ProviderError::MidStream`].
pub fn translate_event(
    provider: ProviderId,
    data: &str,
    secret: Option<&str>,
) -> Result<Translated, ProviderError> {
    translate(provider, data, secret, true).0
}

/// [`translate_event`], trying the strict reading first when `strict`;
/// also says whether the strict reading failed (a stream that sends one
/// chunk outside OpenAI's shape likely sends more: its caller stops trying).
fn translate(
    provider: ProviderId,
    data: &str,
    secret: Option<&str>,
    strict: bool,
) -> (Result<Translated, ProviderError>, bool) {
    let data = data.trim();
    if data == "[DONE]" {
        return (Ok(Translated::Done), false);
    }
    if strict && let Some(t) = strict_event(data) {
        return (Ok(t), false);
    }
    let lenient = lenient_event(provider, data, secret);
    (
        lenient.map(|(chunk, usage)| Translated::Chunk(chunk, usage)),
        strict,
    )
}

/// Reads any OpenAI-dialect chunk, normalising what providers vary in: the
/// chunk (none when it has no choices) and the usage it carries.
fn lenient_event(
    provider: ProviderId,
    data: &str,
    secret: Option<&str>,
) -> Result<(Option<ChatChunk>, Option<Usage>), ProviderError> {
    let wire: WireChunk = serde_json::from_str(data).map_err(|e| ProviderError::Malformed {
        provider,
        what: format!(
            "stream chunk: {} at column {}",
            http::classify(&e),
            e.column()
        ),
    })?;
    if let Some(err) = wire.error {
        let (message, code) = http::error_fields(&err, secret);
        return Err(ProviderError::MidStream {
            provider,
            message,
            code,
        });
    }
    let usage = wire.usage.or_else(|| groq_usage(&wire.extra));
    if wire.choices.is_empty() {
        // Usage-only chunk, or Azure's prompt_filter_results: nothing to forward as is.
        return Ok((None, usage));
    }
    let chunk = ChatChunk {
        id: wire.id,
        object: wire
            .object
            .unwrap_or_else(|| "chat.completion.chunk".to_owned()),
        created: wire.created,
        model: wire.model,
        choices: wire.choices,
        usage: None,
        system_fingerprint: wire.system_fingerprint,
        extra: wire.extra,
    };
    Ok((Some(chunk), usage))
}

/// The OpenAI dialect's stream state.
pub(crate) struct OpenAiStream {
    provider: ProviderId,
    wants_usage: bool,
    usage: Option<Usage>,
    last: Option<(String, i64, String)>,
    secret: SecretString,
    /// Consecutive chunks that were not in OpenAI's exact shape; after
    /// [`STRICT_MISSES`] the stream stops trying the strict reading.
    strict_misses: u8,
    /// The beginning the last scanned chunk shared with the next ones.
    resume: Resume,
}

/// See `OpenAiStream::strict_misses` (Groq, say, adds `x_groq` to its first
/// and last chunks only; a server that adds a field to every chunk costs
/// this many extra partial parses per stream).
const STRICT_MISSES: u8 = 3;

impl OpenAiStream {
    pub(crate) fn new(provider: ProviderId, wants_usage: bool, secret: SecretString) -> Self {
        Self {
            provider,
            wants_usage,
            usage: None,
            last: None,
            secret,
            strict_misses: 0,
            resume: Resume::default(),
        }
    }
}

impl OpenAiStream {
    /// Keeps the chunk's id, time and model for the final usage chunk;
    /// copied only when they change (they rarely do within a stream).
    fn remember(&mut self, id: &str, created: i64, model: &str) {
        if !self.wants_usage {
            return;
        }
        match &mut self.last {
            Some((i, c, m)) if i == id && m == model => *c = created,
            last => *last = Some((id.to_owned(), created, model.to_owned())),
        }
    }

    /// The provider's usage: kept for the client's last chunk, and passed
    /// on for billing.
    fn usage(&mut self, usage: Usage, out: &mut Out) {
        self.usage = Some(usage.clone());
        out.push_back(Ok(StreamEvent::Usage(usage)));
    }

    /// `[DONE]`: the usage chunk the client asked for, if usage came.
    fn done(&self, out: &mut Out) {
        if self.wants_usage
            && let Some(usage) = self.usage.clone()
        {
            let (id, created, model) = self.last.clone().unwrap_or_default();
            out.push_back(Ok(StreamEvent::Chunk(Box::new(ChatChunk {
                id,
                object: "chat.completion.chunk".to_owned(),
                created,
                model,
                usage: Some(usage),
                ..ChatChunk::default()
            }))));
        }
    }
}

impl SseTranslate for OpenAiStream {
    fn event(&mut self, event: SseEvent, out: &mut Out) -> Result<bool, ProviderError> {
        let span = trim_span(&event.data);
        let data = &event.data[span.clone()];
        if data == "[DONE]" {
            self.done(out);
            return Ok(true);
        }
        let strict = self.strict_misses < STRICT_MISSES;
        // The common chunk, and the usage chunk that ends the stream, read
        // in one pass without serde (`scan.rs`): the chunk forwarded as it
        // came, no chunk built (`VerbatimChunk` builds one if asked).
        match strict.then(|| scan_next(data, &mut self.resume)).flatten() {
            Some(Scan::Chunk(fast)) => {
                self.strict_misses = 0;
                self.remember(fast.id(data), fast.created, fast.model(data));
                // The spans are into `data`, which is what `cut` keeps.
                let json = cut(event.data, span);
                out.push_back(Ok(StreamEvent::Verbatim(VerbatimChunk::scanned(
                    json, fast,
                ))));
                return Ok(false);
            }
            Some(Scan::Usage(usage)) => {
                #[cfg(any(test, feature = "fuzzing"))]
                assert_eq!(
                    StrictChunk::read(data).map(StrictChunk::into_parts),
                    Some((None, Some(usage.clone()))),
                    "the usage scan reads as serde does: {data}"
                );
                self.usage(usage, out);
                return Ok(false);
            }
            None => {}
        }
        let (chunk, usage) = match strict.then(|| StrictChunk::read(data)).flatten() {
            // Any other chunk in OpenAI's shape: read in place, forwarded
            // as it came.
            // Its chunk is built now (serde has read it; reading it again
            // for the transcript would cost as much).
            Some(wire) if wire.verbatim(data) => {
                self.strict_misses = 0;
                self.remember(&wire.id, wire.created, &wire.model);
                let (chunk, _) = wire.into_parts();
                let json = cut(event.data, span);
                out.push_back(Ok(StreamEvent::Verbatim(VerbatimChunk::parsed(
                    json, chunk,
                ))));
                return Ok(false);
            }
            Some(wire) => wire.into_parts(),
            None => {
                if strict {
                    self.strict_misses += 1;
                }
                lenient_event(self.provider, data, Some(self.secret.expose_secret()))?
            }
        };
        if let Some(u) = usage {
            self.usage(u, out);
        }
        if let Some(c) = chunk {
            self.remember(&c.id, c.created, &c.model);
            out.push_back(Ok(StreamEvent::Chunk(Box::new(c))));
        }
        Ok(false)
    }

    fn eof(&mut self, _out: &mut Out) -> Result<(), ProviderError> {
        http::truncated(self.provider)
    }
}

/// Whether `s` begins and ends with a printable ASCII byte, so that
/// [`str::trim`] would leave it as it is (every whitespace character is
/// either ASCII at or below the space, or not ASCII): a chunk's JSON
/// begins with `{` and ends with `}`, and this is cheaper than the
/// character-wise trim.
fn nothing_to_trim(s: &str) -> bool {
    let printable = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b.is_ascii());
    printable(s.as_bytes().first()) && printable(s.as_bytes().last())
}

/// Where `s` is once trimmed as [`str::trim`] trims it, found without the
/// character-wise walk when there is nothing to trim.
fn trim_span(s: &str) -> Range<usize> {
    if nothing_to_trim(s) {
        return 0..s.len();
    }
    let end = s.trim_end().len();
    let start = end - s[..end].trim_start().len();
    start..end
}

/// `s` cut to `span` in place: the event's data moves into the verbatim
/// chunk, copied by no one.
fn cut(mut s: String, span: Range<usize>) -> String {
    s.truncate(span.end);
    s.drain(..span.start);
    s
}

#[cfg(test)]
mod tests {
    use super::super::response::tests::meaning;
    use super::*;

    #[test]
    fn trimmed_trims_in_place() {
        for (s, want) in [
            ("{}", "{}"),
            (" {} \n", "{}"),
            ("\t{\"a\":1}", "{\"a\":1}"),
            ("  ", ""),
            ("", ""),
            ("x", "x"),
            // Whitespace the byte check leaves to `str::trim`: a vertical
            // tab, and characters outside ASCII.
            ("\u{b}{}\u{b}", "{}"),
            ("\u{a0}{}\u{2028}", "{}"),
            ("\u{85}[DONE]", "[DONE]"),
            ("é{}é", "é{}é"),
        ] {
            let span = trim_span(s);
            assert_eq!(&s[span.clone()], s.trim(), "{s:?}");
            let owned = s.to_owned();
            let at = owned.as_ptr();
            let t = cut(owned, span);
            assert_eq!(t, want);
            assert_eq!(t.as_ptr(), at, "no copy");
        }
    }

    proptest::proptest! {
        /// The byte check never changes what `str::trim` returns.
        #[test]
        fn trim_span_is_str_trim(s in "\\PC{0,6}|[ -~]{0,6}|\\s{0,3}\\PC{0,3}\\s{0,3}") {
            let span = trim_span(&s);
            proptest::prop_assert_eq!(&s[span.clone()], s.trim());
            proptest::prop_assert_eq!(cut(s.clone(), span), s.trim());
        }
    }

    /// A raw member reaching serde_json's nesting limit makes the chunk
    /// not strictly readable (its `Value` would be dropped in silence):
    /// the lenient reading refuses it with a clear error. One level less
    /// is verbatim, and its chunk keeps the member. (The CI run of the
    /// `stream_openai` random inputs found the first: OpenRouter's
    /// `provider`, nested 128 deep in its chunk, was forwarded verbatim
    /// while its parsed chunk lost it.)
    #[test]
    fn raw_members_nested_past_the_limit_are_refused_not_dropped() {
        let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        // Each raw member in place (at `V`), with how deep its place is.
        let head = r#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"#;
        let text = r#""delta":{"content":"x"}"#;
        let places = [
            (1, format!("{head}{text}}}],\"provider\":V}}")),
            (1, format!("{head}{text}}}],\"obfuscation\":V}}")),
            (3, format!("{head}{text},\"logprobs\":V}}]}}")),
            (3, format!("{head}{text},\"native_finish_reason\":V}}]}}")),
            (4, format!("{head}\"delta\":{{\"reasoning\":V}}}}]}}")),
            (
                5,
                format!("{head}\"delta\":{{\"reasoning_details\":[V]}}}}]}}"),
            ),
        ];
        let provider = |v: &str| places[0].1.replace('V', v);
        for (outer, template) in &places {
            let place = |v: &str| template.replace('V', v);
            let deepest = place(&nested(NESTING_LIMIT - 1 - outer));
            assert!(serde_json::from_str::<Value>(&deepest).is_ok(), "{deepest}");
            let Ok(Translated::Verbatim(chunk)) =
                translate_event(ProviderId::OpenAi, &deepest, None)
            else {
                panic!("verbatim: {deepest}");
            };
            let sent: Value = serde_json::from_str(&deepest).unwrap();
            assert_eq!(
                meaning(serde_json::to_value(chunk).unwrap()),
                meaning(sent),
                "{deepest}"
            );

            let deeper = place(&nested(NESTING_LIMIT - outer));
            assert!(serde_json::from_str::<Value>(&deeper).is_err(), "{deeper}");
            assert!(StrictChunk::read(&deeper).is_none(), "{deeper}");
            let refused = translate_event(ProviderId::OpenAi, &deeper, None);
            assert!(
                matches!(refused, Err(ProviderError::Malformed { .. })),
                "{refused:?}"
            );
        }
        // Brackets inside strings do not count; an escaped quote does not
        // end a string, an escaped backslash does not escape the quote
        // after it.
        let quoted = provider(&format!(
            r#"{{"name":"{}\"{{"}}"#,
            "[".repeat(NESTING_LIMIT)
        ));
        assert!(matches!(
            translate_event(ProviderId::OpenAi, &quoted, None),
            Ok(Translated::Verbatim(_))
        ));
        for string in [r#""\"""#, r#""\\""#, r#""[\"[""#] {
            // The string's array is one level down: the nested arrays
            // after it reach the limit with one level more.
            let fits = provider(&format!("[{string},{}]", nested(NESTING_LIMIT - 3)));
            assert!(
                matches!(
                    translate_event(ProviderId::OpenAi, &fits, None),
                    Ok(Translated::Verbatim(_))
                ),
                "{fits}"
            );
            let deeper = provider(&format!("[{string},{}]", nested(NESTING_LIMIT - 2)));
            assert!(StrictChunk::read(&deeper).is_none(), "{deeper}");
        }
    }

    /// serde reads a struct from an array by position; the strict reading
    /// does not, so an array where OpenAI sends an object is never
    /// forwarded verbatim with a parsed chunk that says otherwise. (The
    /// CI run of the `stream_openai` random inputs found `"delta":[...]`.)
    #[test]
    fn arrays_in_place_of_objects_are_not_verbatim() {
        let object = r#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hi","tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}"#;
        assert!(StrictChunk::read(object).is_some_and(|c| c.verbatim(object)));
        for array in [
            r#"["a","chat.completion.chunk",1,"m",[{"index":0,"delta":{"content":"hi"}}]]"#,
            r#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[[0,{"content":"hi"}]]}"#,
            r#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":["assistant","hi"]}]}"#,
            r#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[[0,"c","function",{"name":"f","arguments":"{}"}]]}}]}"#,
            r#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":["f","{}"]}]}}]}"#,
            r#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":[5]}}"#,
            r#"{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"completion_tokens_details":[5]}}"#,
        ] {
            assert!(StrictChunk::read(array).is_none(), "{array}");
            let read = translate_event(ProviderId::OpenAi, array, None);
            assert!(
                !matches!(read, Ok(Translated::Verbatim(_))),
                "{array}: {read:?}"
            );
        }
    }

    #[test]
    fn chunk_translation() {
        let p = ProviderId::Groq;
        let t = translate_event(p, r#"{"id":"a","choices":[],"x_groq":{"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}}"#, None).unwrap();
        assert!(matches!(t, Translated::Chunk(None, Some(ref u)) if u.total_tokens == 7));
        let t = translate_event(p, r#"{"id":"a","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}],"usage":{"prompt_tokens":1}}"#, None).unwrap();
        let Translated::Chunk(Some(c), Some(_)) = t else {
            panic!()
        };
        assert!(c.usage.is_none(), "usage is moved out of content chunks");
        assert_eq!(
            translate_event(p, " [DONE] ", None).unwrap(),
            Translated::Done
        );
        assert!(matches!(
            translate_event(p, "{not json", None),
            Err(ProviderError::Malformed { .. })
        ));
        let e = translate_event(p, r#"{"error":{"message":"Upstream overloaded for key sk-or-v1-abcdef0123456789","code":502}}"#, None).unwrap_err();
        let ProviderError::MidStream { message, code, .. } = e else {
            panic!()
        };
        assert!(!message.contains("abcdef0123456789"));
        assert_eq!(code.as_deref(), Some("502"));
    }

    /// Checks the verbatim contract for one payload: a verbatim chunk's
    /// bytes mean what its parsed form means, and the lenient reading
    /// gives the same chunk.
    fn check(data: &str) -> Translated {
        let p = ProviderId::OpenAi;
        let strict = translate(p, data, None, true).0.unwrap();
        let lenient = translate(p, data, None, false).0.unwrap();
        match &strict {
            Translated::Verbatim(c) => {
                assert_eq!(
                    meaning(serde_json::from_str(data).unwrap()),
                    meaning(serde_json::to_value(c).unwrap()),
                    "{data}"
                );
                assert_eq!(lenient, Translated::Chunk(Some(c.clone()), None), "{data}");
                assert!(!data.contains('\n'));
            }
            other => assert_eq!(other, &lenient, "{data}"),
        }
        strict
    }

    const BASE: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hi \"there\" \u00e9"},"logprobs":null,"finish_reason":null}]}"#;

    #[test]
    fn chunks_in_openais_exact_shape_are_verbatim_and_others_are_not() {
        assert!(matches!(check(BASE), Translated::Verbatim(_)));
        // OpenAI's own extras stay verbatim.
        let extras = BASE.replacen(
            '{',
            r#"{"obfuscation":"a1b2","service_tier":"default","usage":null,"#,
            1,
        );
        assert!(matches!(check(&extras), Translated::Verbatim(_)));
        // So do the extras OpenAI-dialect providers add (Groq's and
        // OpenRouter's reasoning, OpenRouter's provider and native finish
        // reason): kept in the parsed chunk, they no longer stop it being
        // forwarded as it came.
        let reasoning = BASE
            .replace(
                r#""delta":{"#,
                r#""delta":{"reasoning":"hm","reasoning_details":[{"type":"reasoning.text","text":"hm","index":0}],"#,
            )
            .replace(
                r#""logprobs":null,"#,
                r#""logprobs":null,"native_finish_reason":null,"#,
            )
            .replacen('{', r#"{"provider":"OpenAI","#, 1);
        let Translated::Verbatim(c) = check(&reasoning) else {
            panic!("{reasoning}")
        };
        assert_eq!(c.choices[0].delta.reasoning_text(), Some("hm"));
        let tool = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]},"finish_reason":null}]}"#;
        assert!(matches!(check(tool), Translated::Verbatim(_)));
        let last = BASE.replace(r#""finish_reason":null"#, r#""finish_reason":"tool_calls""#);
        assert!(matches!(check(&last), Translated::Verbatim(_)));
        for not_verbatim in [
            // A field OpenAI does not send, at each level.
            BASE.replacen('{', r#"{"x_groq":{"id":"req_1"},"#, 1),
            BASE.replace(r#""index":0,"#, r#""index":0,"stop_reason":null,"#),
            BASE.replace(r#""delta":{"#, r#""delta":{"thinking":"hm","#),
            tool.replace(r#""index":0,"id""#, r#""index":0,"extra":1,"id""#),
            tool.replace(r#""name":"f""#, r#""name":"f","x":1"#),
            // A finish reason that the lenient path normalises.
            BASE.replace(r#""finish_reason":null"#, r#""finish_reason":"eos""#),
            // Usage, which is moved out of content chunks.
            BASE.replacen(
                '{',
                r#"{"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3},"#,
                1,
            ),
            // Not a chunk object, or no choices.
            BASE.replace("chat.completion.chunk", "chat.completion"),
            BASE.replace(r#""choices":[{"#, r#""choices":[],"unused":[{"#),
            // Spread over several lines.
            BASE.replace(r#","created""#, "\n,\"created\""),
        ] {
            assert!(
                !matches!(check(&not_verbatim), Translated::Verbatim(_)),
                "{not_verbatim}"
            );
        }
    }

    #[test]
    fn a_stream_stops_trying_the_strict_reading_after_consecutive_misses() {
        use secrecy::SecretString;
        let mut s = OpenAiStream::new(ProviderId::Groq, false, SecretString::from("k"));
        let mut out = Out::new();
        let odd = BASE.replacen('{', r#"{"x_vendor":1,"#, 1);
        let event = |data: &str| SseEvent {
            event: None,
            data: data.to_owned(),
        };
        for _ in 0..STRICT_MISSES {
            s.event(event(&odd), &mut out).unwrap();
        }
        assert_eq!(s.strict_misses, STRICT_MISSES);
        s.event(event(BASE), &mut out).unwrap();
        assert!(
            out.iter().all(|e| matches!(e, Ok(StreamEvent::Chunk(_)))),
            "no verbatim chunk once the stream gave up on the strict reading"
        );
    }

    /// The usage chunk after a content chunk (scanned from where the
    /// content chunk's `choices` began) gives the usage serde reads, once,
    /// and the client that asked for usage gets it in the last chunk; a
    /// usage chunk the scan declines (a member it does not read) gives the
    /// same through serde.
    #[test]
    fn the_usage_chunk_gives_its_usage() {
        use secrecy::SecretString;
        let event = |data: &str| SseEvent {
            event: None,
            data: format!(" {data}\r"),
        };
        let counts = r#""usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4}}"#;
        let scanned = BASE
            .split(r#""choices""#)
            .next()
            .map(|head| format!(r#"{head}"choices":[],{counts}}}"#))
            .unwrap();
        let declined = scanned.replace(r#""cached_tokens":4"#, r#""cached_tokens":4,"x":1"#);
        for usage_chunk in [&scanned, &declined] {
            assert_eq!(
                matches!(
                    scan_next(usage_chunk, &mut Resume::default()),
                    Some(Scan::Usage(_))
                ),
                usage_chunk == &scanned
            );
            let mut s = OpenAiStream::new(ProviderId::OpenAi, true, SecretString::from("k"));
            let mut out = Out::new();
            for data in [BASE, usage_chunk.as_str(), "[DONE]"] {
                s.event(event(data), &mut out).unwrap();
            }
            let out: Vec<_> = out.into_iter().map(Result::unwrap).collect();
            let [
                StreamEvent::Verbatim(_),
                StreamEvent::Usage(u),
                StreamEvent::Chunk(last),
            ] = &out[..]
            else {
                panic!("{out:?}");
            };
            assert_eq!(
                (u.prompt_tokens, u.completion_tokens, u.total_tokens),
                (12, 3, 15)
            );
            assert_eq!(
                u.prompt_tokens_details
                    .as_ref()
                    .and_then(|d| d.cached_tokens),
                Some(4)
            );
            assert_eq!(last.usage.as_ref(), Some(u), "{usage_chunk}");
            assert_eq!(s.strict_misses, 0);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Arbitrary text, extra members and finish reasons: whatever is
        /// marked verbatim means what its parsed form means.
        #[test]
        fn verbatim_chunks_mean_what_they_parse_to(
            content in proptest::option::of(".{0,40}"),
            role in proptest::option::of("[a-z]{0,9}"),
            finish in proptest::option::of("stop|length|tool_calls|content_filter|function_call|eos|end_turn"),
            extra_top in proptest::option::of("[a-z_]{1,12}|provider|service_tier|obfuscation"),
            extra_delta in proptest::option::of("[a-z_]{1,12}|reasoning|annotations|audio"),
            logprobs in proptest::bool::ANY,
        ) {
            let mut delta = serde_json::Map::new();
            if let Some(c) = &content { delta.insert("content".into(), Value::from(c.clone())); }
            if let Some(r) = &role { delta.insert("role".into(), Value::from(r.clone())); }
            if let Some(x) = &extra_delta { delta.insert(x.clone(), Value::from(1)); }
            let mut choice = serde_json::json!({"index": 0, "delta": delta, "finish_reason": finish});
            if logprobs { choice["logprobs"] = serde_json::json!({"content": []}); }
            let mut chunk = serde_json::json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]});
            if let Some(x) = &extra_top { chunk[x.as_str()] = Value::from("v"); }
            check(&chunk.to_string());
        }
    }
}
