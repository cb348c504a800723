//! The common stream chunk, and the common whole answer, read in one pass
//! over their bytes, without serde.
//!
//! Most chunks of an OpenAI-dialect stream have one shape: one choice
//! whose delta holds a piece of text (or a tool-call fragment), maybe a
//! finish reason, and the same id, time and model as every other chunk.
//! The strict serde reading ([`super::stream::StrictChunk`]) proves such a
//! chunk may go out as its bytes, but costs about 5,000 instructions for a
//! 150-byte chunk (serde's visitor per member), as much as the rest of
//! the gateway's work on it. [`scan`] reads that shape in about a fifth of
//! that (measured with `bench/run --callgrind`, docs/performance.md).
//!
//! It is a narrower strict reading, never a looser one: it accepts a
//! chunk only if the serde reading accepts it and finds it verbatim, and
//! then yields what that reading yields for the transcript (the property
//! test below and the `stream_openai` fuzz target check both on every
//! input). Anything else (several choices, escaped names or ids, a member
//! it does not read such as `reasoning` or `annotations`, a duplicate
//! member, a number with a fraction) it declines, and the caller falls
//! back to the serde reading: declining costs a partial pass, never a
//! wrong answer. Escaped text (`content`, `arguments`) is decoded by
//! `serde_json` itself.
//!
//! [`response`] does the same for a whole answer (`chat.completion`):
//! what it accepts it returns as the very `ChatResponse` the strict serde
//! reading returns for it, found verbatim (checked the same two ways); it
//! costs about a third of that reading (the bench's 1 KB answer).

use std::borrow::Cow;

use serde_json::Value;

use super::response::standard_finish;
use crate::stream::{ChoiceView, ToolCallView};
use crate::types::{
    ChatResponse, Choice, CompletionTokensDetails, FinishReason, FunctionCall, PromptTokensDetails,
    ResponseMessage, ToolCall, Usage,
};

/// What [`scan`] reads of a chunk: where its strings are in the text
/// (no borrow, so a verbatim chunk keeps it beside its text and the
/// transcript reads it without a second pass).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scanned {
    id: Span,
    pub(crate) created: i64,
    model: Span,
    /// The chunk's one choice.
    pub(crate) choice: ScannedChoice,
}

/// A string of the scanned text: its bytes between the quotes, and whether
/// they hold an escape (then serde_json decodes them when read).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Span {
    start: u32,
    end: u32,
    escaped: bool,
}

/// The one choice of a [`Scanned`] chunk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScannedChoice {
    index: u32,
    content: Option<Span>,
    reasoning_content: Option<Span>,
    finish_reason: Option<FinishReason>,
    tool_calls: Vec<ScannedToolCall>,
}

/// A tool-call fragment of a [`ScannedChoice`].
#[derive(Debug, Clone, PartialEq)]
struct ScannedToolCall {
    index: u32,
    id: Option<Span>,
    name: Option<Span>,
    arguments: Option<Span>,
}

impl Span {
    /// The string's value in `text` (the scanned text).
    fn read(self, text: &str) -> Option<Cow<'_, str>> {
        let inner = text.get(self.start as usize..self.end as usize)?;
        if !self.escaped {
            return Some(Cow::Borrowed(inner));
        }
        let quoted = text.get(self.start as usize - 1..self.end as usize + 1)?;
        serde_json::from_str::<String>(quoted).ok().map(Cow::Owned)
    }

    /// A string without escapes (names, ids), as it is in `text`.
    fn plain(self, text: &str) -> &str {
        text.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

impl Scanned {
    /// The chunk's id, in the scanned `text`.
    pub(crate) fn id<'t>(&self, text: &'t str) -> &'t str {
        self.id.plain(text)
    }

    /// The chunk's model, in the scanned `text`.
    pub(crate) fn model<'t>(&self, text: &'t str) -> &'t str {
        self.model.plain(text)
    }

    /// The choice, readable as the transcript reads one.
    pub(crate) fn choice<'t>(&'t self, text: &'t str) -> InText<'t> {
        InText {
            choice: &self.choice,
            text,
        }
    }
}

/// A [`ScannedChoice`] with the text it was scanned from.
pub(crate) struct InText<'t> {
    choice: &'t ScannedChoice,
    text: &'t str,
}

/// `data` read as a chunk in the common shape that may be forwarded as it
/// came; `None` when it is not in that shape (the caller reads it with
/// serde, which decides). Its spans are into `data`, which must be at most
/// 4 GiB (the SSE decoder's event limit is far below).
pub(crate) fn scan(data: &str) -> Option<Scanned> {
    if !scannable(data) {
        return None;
    }
    let mut c = Cursor::new(data);
    let mut chunk = ChunkState::default();
    c.chunk(&mut chunk)?;
    c.finish(chunk).map(|f| f.scanned)
}

/// What a chunk scan found, with what [`scan_next`] keeps of it.
struct Finished {
    scanned: Scanned,
    /// Where the `choices` member began, with what the scan knew there.
    mark: Option<(usize, Header)>,
    /// `obfuscation`'s value, when a string.
    obfuscation: Option<Span>,
}

/// What every scan checks first: spans fit in `u32`; a verbatim chunk is
/// one line.
fn scannable(data: &str) -> bool {
    u32::try_from(data.len()).is_ok() && !data.contains('\n')
}

/// What [`scan_next`] keeps of a stream's last chunks, to read the next
/// with less work. A stream's chunks mostly begin with the same bytes
/// (`id`, `object`, `created`, `model`, and `service_tier` or
/// `system_fingerprint` when sent, before `choices`), and most are the
/// same bytes but for the text (and `obfuscation`, when sent).
#[derive(Debug, Default)]
pub(crate) struct Resume {
    /// The last chunk scanned whole's bytes up to its `choices` member, and
    /// what the scan knew there.
    prefix: String,
    header: Option<Header>,
    /// The last chunk with text, whose bytes the next may repeat around
    /// other text.
    template: Template,
}

/// A chunk with text (one choice whose delta holds only `content`, or
/// also `role` or `refusal` as `null`...: no reasoning, no tool calls), its
/// scan, and the strings whose values may differ in the next chunk: the
/// text and `obfuscation`. Every other string of the scan (the id, the
/// model) lies before them.
#[derive(Debug, Default)]
struct Template {
    raw: String,
    /// The scan of `raw` and its holes (none yet: `None`).
    read: Option<(Scanned, Holes)>,
}

/// A template's holes, in order; the text's is marked.
type Holes = [Option<(Span, bool)>; 2];

impl Template {
    /// Becomes the template of `data` (just scanned as `f`) if it has text
    /// and nothing else that would move when the text's length changes;
    /// else stays as it is.
    fn keep(&mut self, data: &str, f: &Finished) {
        if let Some(holes) = Self::holes(f) {
            self.raw.clear();
            self.raw.push_str(data);
            self.read = Some((f.scanned.clone(), holes));
        }
    }

    fn holes(f: &Finished) -> Option<Holes> {
        let choice = &f.scanned.choice;
        let text = choice.content?;
        if choice.reasoning_content.is_some() || !choice.tool_calls.is_empty() {
            return None;
        }
        let mut holes = [Some((text, true)), f.obfuscation.map(|o| (o, false))];
        if let [Some((a, _)), Some((b, _))] = holes
            && b.start < a.start
        {
            holes.swap(0, 1);
        }
        let first = holes[0].map_or(text.start, |(h, _)| h.start);
        (f.scanned.id.end < first && f.scanned.model.end < first).then_some(holes)
    }

    /// `data` read as the same chunk with other strings in its holes: the
    /// bytes between the holes the same, each hole a string the scan
    /// accepts there (`obfuscation` without escapes, as `plain` reads it).
    /// The scan reads a string's value only to find its end and check it,
    /// so the scan of `data` is this template's with the text's new span.
    fn fill(&self, data: &str) -> Option<Scanned> {
        let (scanned, holes) = self.read.as_ref()?;
        let (prev, new) = (self.raw.as_bytes(), data.as_bytes());
        let (mut p, mut n) = (0, 0);
        let mut text = None;
        for (hole, is_text) in holes.iter().flatten() {
            let same = prev.get(p..hole.start as usize)?;
            (new.get(n..n + same.len())? == same).then_some(())?;
            let mut c = Cursor::new(data);
            c.i = n + same.len();
            let span = c.string_body()?;
            if *is_text {
                text = Some(span);
            } else if span.escaped {
                return None;
            }
            n = span.end as usize;
            p = hole.end as usize;
        }
        (new.get(n..)? == prev.get(p..)?).then_some(())?;
        let mut scanned = scanned.clone();
        scanned.choice.content = Some(text?);
        Some(scanned)
    }
}

/// [`scan`] for the next chunk of a stream, with less work where it can:
///
/// - when `data` is the last chunk with text but for its text (and
///   `obfuscation`), only those strings are read
///   ([`Template::fill`]);
/// - else, when `data` begins with the bytes the last chunk scanned whole
///   had before its `choices`, the scan starts there, from what it knew
///   there. What it knows when it reaches a member's key depends on the
///   bytes before the key alone: the point is taken before the key's
///   whitespace, after the `,` (or `{`) the scan consumed; its look-aheads
///   before that point (a peek at the next byte, `null`'s four) read only
///   bytes before it, and the one at it (the first member's peek for `}`)
///   is made again the same way when the scan restarts there;
/// - else the whole chunk is scanned.
///
/// The result is always the one [`scan`] returns: property tests and the
/// `stream_openai` fuzz target check it.
///
/// A chunk with no choices and `usage` (the usage chunk OpenAI sends last
/// when asked for usage, its other members as [`scan`] reads them) is read
/// in the same pass: [`Scan::Usage`], exactly the usage the strict serde
/// reading finds in it (checked by a property test, and where the stream
/// translator uses it, in tests and fuzzing).
pub(crate) fn scan_next(data: &str, resume: &mut Resume) -> Option<Scan> {
    if !scannable(data) {
        return None;
    }
    if let Some(scanned) = resume.template.fill(data) {
        return Some(Scan::Chunk(scanned));
    }
    let mut c = Cursor::new(data);
    // Resumed after the beginning the last chunk shared, or read whole.
    let (chunk, whole) = match resume.header {
        Some(header) if data.starts_with(resume.prefix.as_str()) => {
            c.i = resume.prefix.len();
            let mut chunk = ChunkState::from(header);
            c.members(|c, key| c.chunk_member(&mut chunk, key))?;
            (chunk, false)
        }
        _ => {
            let mut chunk = ChunkState::default();
            c.chunk(&mut chunk)?;
            (chunk, true)
        }
    };
    if chunk.choice.is_none() {
        return c.finish_usage(chunk).map(Scan::Usage);
    }
    let finished = c.finish(chunk)?;
    if whole
        && let Some((at, header)) = finished.mark
        && let Some(prefix) = data.get(..at)
    {
        resume.prefix.clear();
        resume.prefix.push_str(prefix);
        resume.header = Some(header);
    }
    resume.template.keep(data, &finished);
    Some(Scan::Chunk(finished.scanned))
}

/// What [`scan_next`] read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scan {
    /// A chunk that may be forwarded as it came.
    Chunk(Scanned),
    /// A usage chunk's usage.
    Usage(Usage),
}

impl ChoiceView for InText<'_> {
    fn index(&self) -> u32 {
        self.choice.index
    }

    fn content(&self) -> Option<Cow<'_, str>> {
        self.choice.content?.read(self.text)
    }

    fn reasoning(&self) -> Option<Cow<'_, str>> {
        self.choice.reasoning_content?.read(self.text)
    }

    fn finish_reason(&self) -> Option<FinishReason> {
        self.choice.finish_reason
    }

    fn tool_calls(&self) -> impl Iterator<Item = ToolCallView<'_>> {
        self.choice.tool_calls.iter().map(|t| ToolCallView {
            index: t.index,
            id: t.id.map(|s| s.plain(self.text)),
            name: t.name.and_then(|s| s.read(self.text)),
            arguments: t.arguments.and_then(|s| s.read(self.text)),
        })
    }
}

/// Bytes a JSON string cannot hold as themselves: a quote, a backslash, a
/// control character.
static SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Where the first [`SPECIAL`] byte of `bytes` is. Most strings of a chunk
/// are short (keys, ids, a token of text): a table lookup a byte for the
/// first 16; past them eight bytes at a time (the word trick serde_json's
/// own string reader uses), for the long text of a whole answer.
fn special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let short = bytes.len().min(16);
    if let Some(at) = bytes[..short].iter().position(|&b| SPECIAL[usize::from(b)]) {
        return Some(at);
    }
    // Nonzero when a byte of `x` is zero (or, for `below`, under 0x20).
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let below = |x: u64| x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
    let mut at = short;
    while let Some(word) = bytes.get(at..at + 8) {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let x = u64::from_le_bytes(word);
        if zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\'))) | below(x) != 0
        {
            break;
        }
        at += 8;
    }
    let rest = bytes.get(at..)?;
    rest.iter()
        .position(|&b| SPECIAL[usize::from(b)])
        .map(|p| at + p)
}

/// A position in the chunk's text. Every method returns `None` for what
/// the scan declines.
struct Cursor<'a> {
    s: &'a str,
    i: usize,
    /// Where the key of the member being read began.
    key_at: usize,
}

/// What the chunk scan knows before `choices`: [`Resume`] keeps it.
#[derive(Debug, Default, Clone, Copy)]
struct Header {
    id: Option<Span>,
    created: i64,
    model: Option<Span>,
    seen: u16,
}

/// The chunk scan's state: the members read so far, and where `choices`
/// began with the [`Header`] then.
#[derive(Default)]
struct ChunkState {
    header: Header,
    choice: Option<ScannedChoice>,
    mark: Option<(usize, Header)>,
    /// `obfuscation`'s value, when a string (it differs in every chunk).
    obfuscation: Option<Span>,
    /// `usage`, when not `null` (a chunk with it is not verbatim: only the
    /// usage chunk, with no choices, is read with it).
    usage: Option<Usage>,
}

impl From<Header> for ChunkState {
    fn from(header: Header) -> Self {
        Self {
            header,
            ..Self::default()
        }
    }
}

/// Members seen in one object (a duplicate is declined, as serde refuses it).
struct Seen(u16);

impl Seen {
    fn first(&mut self, bit: u16) -> Option<()> {
        let fresh = self.0 & (1 << bit) == 0;
        self.0 |= 1 << bit;
        fresh.then_some(())
    }

    fn has(&self, bits: &[u16]) -> bool {
        bits.iter().all(|b| self.0 & (1 << b) != 0)
    }
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Self { s, i: 0, key_at: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    /// Skips JSON whitespace.
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.bytes().get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes().get(self.i).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.i += 1)
    }

    /// `null`, consumed if it is next.
    fn null(&mut self) -> bool {
        self.ws();
        let found = self.bytes()[self.i..].starts_with(b"null");
        if found {
            self.i += 4;
        }
        found
    }

    /// A string: where its bytes between the quotes are, and whether they
    /// hold an escape. An escaped string is decoded once here to check it
    /// (serde_json refuses what JSON does), and again when read.
    fn string(&mut self) -> Option<Span> {
        self.eat(b'"')?;
        self.string_body()
    }

    /// The rest of a string whose opening quote is consumed, as
    /// [`Cursor::string`] reads it; the cursor ends after its closing
    /// quote.
    fn string_body(&mut self) -> Option<Span> {
        let start = self.i;
        let mut escaped = false;
        loop {
            let rest = self.bytes().get(self.i..)?;
            let at = special(rest)?;
            self.i += at;
            match rest[at] {
                b'"' => break,
                // The escaped byte cannot end the string.
                b'\\' => {
                    escaped = true;
                    self.i += 2;
                }
                // Control characters must be escaped in JSON.
                _ => return None,
            }
        }
        let span = Span {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(self.i).ok()?,
            escaped,
        };
        self.i += 1;
        if escaped {
            span.read(self.s)?;
        }
        Some(span)
    }

    /// A string without escapes (names, ids: escaped ones are declined).
    fn plain(&mut self) -> Option<Span> {
        self.string().filter(|s| !s.escaped)
    }

    /// A key: a plain string's text.
    fn key(&mut self) -> Option<&'a str> {
        let span = self.plain()?;
        self.s.get(span.start as usize..span.end as usize)
    }

    /// `null` or what `read` reads.
    fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.null() {
            Some(None)
        } else {
            read(self).map(Some)
        }
    }

    /// An integer as JSON writes one (`-?(0|[1-9][0-9]*)`); a fraction or
    /// an exponent is declined by the caller's next token.
    fn int(&mut self) -> Option<i64> {
        self.ws();
        let negative = self.bytes().get(self.i) == Some(&b'-');
        if negative {
            self.i += 1;
        }
        let start = self.i;
        let mut n: i64 = 0;
        while let Some(d @ b'0'..=b'9') = self.bytes().get(self.i).copied() {
            let digit = i64::from(d - b'0');
            n = n.checked_mul(10)?;
            n = if negative {
                n.checked_sub(digit)?
            } else {
                n.checked_add(digit)?
            };
            self.i += 1;
        }
        let digits = self.i - start;
        let leading_zero = digits > 1 && self.bytes()[start] == b'0';
        (digits > 0 && !leading_zero).then_some(n)
    }

    /// An index (`u32`; a minus sign is declined).
    fn index(&mut self) -> Option<u32> {
        u32::try_from(self.count()?).ok()
    }

    /// A token count (`u64` below 2^63; a minus sign is declined).
    fn count(&mut self) -> Option<u64> {
        if self.peek()? == b'-' {
            return None;
        }
        u64::try_from(self.int()?).ok()
    }

    /// The text of a string, owned (decoded when escaped).
    fn owned(&mut self) -> Option<String> {
        let span = self.string()?;
        span.read(self.s).map(Cow::into_owned)
    }

    /// The text of a plain string (names, ids).
    fn plain_str(&mut self) -> Option<&'a str> {
        let span = self.plain()?;
        self.s.get(span.start as usize..span.end as usize)
    }

    /// An object: `member` is called with each key, the cursor on its
    /// value, and must consume the value.
    fn object(&mut self, member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        self.members(member)
    }

    /// An object's members from the next key on (its `{` consumed), to its
    /// `}`; `key_at` is where each key began.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        loop {
            self.key_at = self.i;
            let key = self.key()?;
            self.eat(b':')?;
            member(self, key)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An array: `item` is called with the cursor on each element.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The chunk: `id`, `object` (`chat.completion.chunk`), `created`,
    /// `model`, one choice; `system_fingerprint`, `service_tier` and
    /// `obfuscation` as plain strings or `null`; `usage` only as `null`.
    fn chunk(&mut self, chunk: &mut ChunkState) -> Option<()> {
        self.object(|c, key| c.chunk_member(chunk, key))
    }

    /// One member of a chunk, into `chunk`.
    fn chunk_member(&mut self, chunk: &mut ChunkState, key: &str) -> Option<()> {
        let h = &mut chunk.header;
        let mut seen = Seen(h.seen);
        let read = match key {
            "id" => {
                seen.first(0)?;
                h.id = Some(self.plain()?);
                Some(())
            }
            "object" => {
                seen.first(1)?;
                let object = self.plain()?;
                (object.plain(self.s) == "chat.completion.chunk").then_some(())
            }
            "created" => {
                seen.first(2)?;
                h.created = self.int()?;
                Some(())
            }
            "model" => {
                seen.first(3)?;
                h.model = Some(self.plain()?);
                Some(())
            }
            "choices" => {
                if chunk.mark.is_none() {
                    chunk.mark = Some((self.key_at, *h));
                }
                seen.first(4)?;
                let choice = &mut chunk.choice;
                self.array(|c| {
                    // One choice: several are read by serde.
                    if choice.is_some() {
                        return None;
                    }
                    *choice = Some(c.choice()?);
                    Some(())
                })
            }
            "usage" => {
                seen.first(5)?;
                chunk.usage = self.nullable(Cursor::usage)?;
                Some(())
            }
            "system_fingerprint" | "service_tier" => {
                seen.first(if key == "service_tier" { 7 } else { 6 })?;
                self.nullable(Cursor::plain).map(drop)
            }
            "obfuscation" => {
                seen.first(8)?;
                chunk.obfuscation = self.nullable(Cursor::plain)?;
                Some(())
            }
            _ => None,
        };
        chunk.header.seen = seen.0;
        read
    }

    /// The end of a chunk: nothing but whitespace after it, every member
    /// it needs read.
    fn end(&mut self, chunk: &ChunkState) -> Option<()> {
        self.ws();
        (self.i == self.s.len()).then_some(())?;
        Seen(chunk.header.seen).has(&[0, 1, 2, 3, 4]).then_some(())
    }

    /// The end of a chunk with a choice and no usage.
    fn finish(&mut self, chunk: ChunkState) -> Option<Finished> {
        self.end(&chunk)?;
        chunk.usage.is_none().then_some(())?;
        let h = chunk.header;
        let scanned = Scanned {
            id: h.id?,
            created: h.created,
            model: h.model?,
            choice: chunk.choice?,
        };
        Some(Finished {
            scanned,
            mark: chunk.mark,
            obfuscation: chunk.obfuscation,
        })
    }

    /// The end of a usage chunk: no choice, and usage.
    fn finish_usage(&mut self, chunk: ChunkState) -> Option<Usage> {
        self.end(&chunk)?;
        chunk.choice.is_none().then_some(())?;
        chunk.usage
    }

    /// A choice: `index`, `delta`, a standard `finish_reason` or `null`,
    /// `logprobs` only as `null`.
    fn choice(&mut self) -> Option<ScannedChoice> {
        let mut choice = ScannedChoice {
            index: 0,
            content: None,
            reasoning_content: None,
            finish_reason: None,
            tool_calls: Vec::new(),
        };
        let mut seen = Seen(0);
        self.object(|c, key| match key {
            "index" => {
                seen.first(0)?;
                choice.index = c.index()?;
                Some(())
            }
            "delta" => {
                seen.first(1)?;
                c.delta(&mut choice)
            }
            "finish_reason" => {
                seen.first(2)?;
                // A reason outside OpenAI's set is normalised: not verbatim.
                choice.finish_reason = c.nullable(|c| {
                    let reason = c.plain()?;
                    standard_finish(c.s.get(reason.start as usize..reason.end as usize)?)
                })?;
                Some(())
            }
            "logprobs" => {
                seen.first(3)?;
                c.null().then_some(())
            }
            _ => None,
        })?;
        seen.has(&[0, 1]).then_some(choice)
    }

    /// A delta: `role`, `content`, `reasoning_content`, `refusal`,
    /// `tool_calls`, each may be `null`.
    fn delta(&mut self, choice: &mut ScannedChoice) -> Option<()> {
        let mut seen = Seen(0);
        self.object(|c, key| match key {
            "role" => {
                seen.first(0)?;
                c.nullable(Cursor::string).map(drop)
            }
            "content" => {
                seen.first(1)?;
                choice.content = c.nullable(Cursor::string)?;
                Some(())
            }
            "reasoning_content" => {
                seen.first(2)?;
                choice.reasoning_content = c.nullable(Cursor::string)?;
                Some(())
            }
            "refusal" => {
                seen.first(3)?;
                c.nullable(Cursor::string).map(drop)
            }
            "tool_calls" => {
                seen.first(4)?;
                if c.null() {
                    return Some(());
                }
                c.array(|c| {
                    let call = c.tool_call()?;
                    choice.tool_calls.push(call);
                    Some(())
                })
            }
            _ => None,
        })
    }

    /// A tool-call fragment: `index`, `id`, `type`, `function` (`name`,
    /// `arguments`), each but `index` may be `null`.
    fn tool_call(&mut self) -> Option<ScannedToolCall> {
        let mut call = ScannedToolCall {
            index: 0,
            id: None,
            name: None,
            arguments: None,
        };
        let mut seen = Seen(0);
        self.object(|c, key| match key {
            "index" => {
                seen.first(0)?;
                call.index = c.index()?;
                Some(())
            }
            "id" => {
                seen.first(1)?;
                call.id = c.nullable(Cursor::plain)?;
                Some(())
            }
            "type" => {
                seen.first(2)?;
                c.nullable(Cursor::plain).map(drop)
            }
            "function" => {
                seen.first(3)?;
                if c.null() {
                    return Some(());
                }
                let mut inner = Seen(0);
                c.object(|c, key| match key {
                    "name" => {
                        inner.first(0)?;
                        call.name = c.nullable(Cursor::string)?;
                        Some(())
                    }
                    "arguments" => {
                        inner.first(1)?;
                        call.arguments = c.nullable(Cursor::string)?;
                        Some(())
                    }
                    _ => None,
                })
            }
            _ => None,
        })?;
        seen.has(&[0]).then_some(call)
    }
}

/// `body` read as a whole answer in the common shape that may be forwarded
/// as it came: the `ChatResponse` the strict serde reading makes of it;
/// `None` when it is not in that shape (the caller reads it with serde).
///
/// The shape: `id`, `object` (`chat.completion`), `created`, `model`,
/// choices (`index`; a `message` with role `assistant`, `content`,
/// `refusal`, `function` tool calls, `reasoning_content`, `annotations`
/// only as `[]`; `logprobs` only as `null`; a standard finish reason),
/// `usage` (the three counts and OpenAI's details), `system_fingerprint`
/// and `service_tier` as plain strings or `null`.
pub(crate) fn response(body: &[u8]) -> Option<ChatResponse> {
    let text = std::str::from_utf8(body).ok()?;
    if u32::try_from(text.len()).is_err() {
        return None;
    }
    let mut c = Cursor::new(text);
    let response = c.response()?;
    c.ws();
    (c.i == text.len()).then_some(response)
}

impl Cursor<'_> {
    fn response(&mut self) -> Option<ChatResponse> {
        let mut r = ChatResponse::default();
        let mut seen = Seen(0);
        self.object(|c, key| {
            match key {
                "id" => {
                    seen.first(0)?;
                    r.id = c.plain_str()?.to_owned();
                }
                "object" => {
                    seen.first(1)?;
                    let object = c.plain_str()?;
                    (object == "chat.completion").then_some(())?;
                    r.object = object.to_owned();
                }
                "created" => {
                    seen.first(2)?;
                    r.created = c.int()?;
                }
                "model" => {
                    seen.first(3)?;
                    r.model = c.plain_str()?.to_owned();
                }
                "choices" => {
                    seen.first(4)?;
                    c.array(|c| {
                        r.choices.push(c.whole_choice()?);
                        Some(())
                    })?;
                }
                "usage" => {
                    seen.first(5)?;
                    r.usage = c.nullable(Cursor::usage)?;
                }
                "system_fingerprint" => {
                    seen.first(6)?;
                    r.system_fingerprint = c.nullable(|c| c.plain_str().map(str::to_owned))?;
                }
                "service_tier" => {
                    seen.first(7)?;
                    let tier = c.nullable(|c| c.plain_str().map(|s| Value::from(s.to_owned())))?;
                    r.extra
                        .insert("service_tier".to_owned(), tier.unwrap_or(Value::Null));
                }
                _ => return None,
            }
            Some(())
        })?;
        seen.has(&[0, 1, 2, 3, 4]).then_some(r)
    }

    /// A whole answer's choice.
    fn whole_choice(&mut self) -> Option<Choice> {
        let mut choice = Choice::default();
        let mut seen = Seen(0);
        self.object(|c, key| {
            match key {
                "index" => {
                    seen.first(0)?;
                    choice.index = c.index()?;
                }
                "message" => {
                    seen.first(1)?;
                    c.message(&mut choice.message)?;
                }
                "finish_reason" => {
                    seen.first(2)?;
                    choice.finish_reason = c.nullable(|c| standard_finish(c.plain_str()?))?;
                }
                "logprobs" => {
                    seen.first(3)?;
                    c.null().then_some(())?;
                }
                _ => return None,
            }
            Some(())
        })?;
        seen.has(&[0, 1]).then_some(choice)
    }

    /// An assistant message.
    fn message(&mut self, m: &mut ResponseMessage) -> Option<()> {
        let mut seen = Seen(0);
        self.object(|c, key| {
            match key {
                "role" => {
                    seen.first(0)?;
                    let role = c.plain_str()?;
                    (role == "assistant").then_some(())?;
                    m.role = role.to_owned();
                }
                "content" => {
                    seen.first(1)?;
                    m.content = c.nullable(Cursor::owned)?;
                }
                "refusal" => {
                    seen.first(2)?;
                    m.refusal = c.nullable(Cursor::owned)?;
                }
                "reasoning_content" => {
                    seen.first(3)?;
                    m.reasoning_content = c.nullable(Cursor::owned)?;
                }
                "tool_calls" => {
                    seen.first(4)?;
                    m.tool_calls = c.nullable(|c| {
                        let mut calls = Vec::new();
                        c.array(|c| {
                            calls.push(c.whole_tool_call()?);
                            Some(())
                        })?;
                        Some(calls)
                    })?;
                }
                "annotations" => {
                    seen.first(5)?;
                    c.eat(b'[')?;
                    c.eat(b']')?;
                    m.extra
                        .insert("annotations".to_owned(), Value::Array(Vec::new()));
                }
                _ => return None,
            }
            Some(())
        })?;
        seen.has(&[0]).then_some(())
    }

    /// A `function` tool call of a whole answer.
    fn whole_tool_call(&mut self) -> Option<ToolCall> {
        let (mut id, mut kind, mut function) = (None, None, None);
        let mut seen = Seen(0);
        self.object(|c, key| {
            match key {
                "id" => {
                    seen.first(0)?;
                    id = Some(c.owned()?);
                }
                "type" => {
                    seen.first(1)?;
                    let k = c.plain_str()?;
                    (k == "function").then_some(())?;
                    kind = Some(k.to_owned());
                }
                "function" => {
                    seen.first(2)?;
                    let (mut name, mut arguments) = (None, None);
                    let mut inner = Seen(0);
                    c.object(|c, key| {
                        match key {
                            "name" => {
                                inner.first(0)?;
                                name = Some(c.owned()?);
                            }
                            "arguments" => {
                                inner.first(1)?;
                                arguments = Some(c.owned()?);
                            }
                            _ => return None,
                        }
                        Some(())
                    })?;
                    function = Some(FunctionCall {
                        name: name?,
                        arguments: arguments?,
                    });
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(ToolCall {
            id: id?,
            kind: kind?,
            function: function?,
        })
    }

    /// Usage: the three counts and OpenAI's details.
    fn usage(&mut self) -> Option<Usage> {
        let mut u = Usage::default();
        let mut seen = Seen(0);
        self.object(|c, key| {
            match key {
                "prompt_tokens" => {
                    seen.first(0)?;
                    u.prompt_tokens = c.count()?;
                }
                "completion_tokens" => {
                    seen.first(1)?;
                    u.completion_tokens = c.count()?;
                }
                "total_tokens" => {
                    seen.first(2)?;
                    u.total_tokens = c.count()?;
                }
                "prompt_tokens_details" => {
                    seen.first(3)?;
                    u.prompt_tokens_details = c.nullable(Cursor::prompt_details)?;
                }
                "completion_tokens_details" => {
                    seen.first(4)?;
                    u.completion_tokens_details = c.nullable(Cursor::completion_details)?;
                }
                _ => return None,
            }
            Some(())
        })?;
        seen.has(&[0, 1, 2]).then_some(u)
    }

    fn prompt_details(&mut self) -> Option<PromptTokensDetails> {
        let mut d = PromptTokensDetails::default();
        let mut seen = Seen(0);
        self.object(|c, key| {
            let (bit, slot) = match key {
                "cached_tokens" => (0, &mut d.cached_tokens),
                "audio_tokens" => (1, &mut d.audio_tokens),
                _ => return None,
            };
            seen.first(bit)?;
            *slot = c.nullable(Cursor::count)?;
            Some(())
        })?;
        Some(d)
    }

    fn completion_details(&mut self) -> Option<CompletionTokensDetails> {
        let mut d = CompletionTokensDetails::default();
        let mut seen = Seen(0);
        self.object(|c, key| {
            let (bit, slot) = match key {
                "reasoning_tokens" => (0, &mut d.reasoning_tokens),
                "audio_tokens" => (1, &mut d.audio_tokens),
                "accepted_prediction_tokens" => (2, &mut d.accepted_prediction_tokens),
                "rejected_prediction_tokens" => (3, &mut d.rejected_prediction_tokens),
                _ => return None,
            };
            seen.first(bit)?;
            *slot = c.nullable(Cursor::count)?;
            Some(())
        })?;
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::stream::StrictChunk;
    use super::*;
    use crate::stream::Transcript;

    /// The contract: what the scan accepts, the serde reading accepts as
    /// verbatim, with the same id, time, model and transcript.
    pub(crate) fn agrees(data: &str) -> bool {
        let Some(fast) = scan(data) else {
            return false;
        };
        let wire = StrictChunk::read(data)
            .unwrap_or_else(|| panic!("scanned but not read strictly: {data}"));
        assert!(wire.verbatim(data), "scanned but not verbatim: {data}");
        let (mut a, mut b) = (Transcript::default(), Transcript::default());
        a.push_parts(fast.model(data), std::slice::from_ref(&fast.choice(data)));
        b.push_parts(&wire.model, &wire.choices);
        assert_eq!(a, b, "{data}");
        let chunk = super::super::stream::verbatim_chunk(data);
        assert_eq!(
            (fast.id(data), fast.created, fast.model(data)),
            (chunk.id.as_str(), chunk.created, chunk.model.as_str()),
            "{data}"
        );
        true
    }

    /// `data` read whole as a usage chunk.
    pub(crate) fn scan_usage(data: &str) -> Option<Usage> {
        match scan_next(data, &mut Resume::default()) {
            Some(Scan::Usage(u)) => Some(u),
            _ => None,
        }
    }

    /// The contract for usage chunks: what the usage scan accepts, the
    /// strict serde reading reads as no chunk and the same usage; from the
    /// beginning a content chunk left, it reads as from nothing.
    pub(crate) fn agrees_usage(data: &str) -> bool {
        let whole = scan_usage(data);
        let mut resume = Resume::default();
        assert!(scan_next(TEXT, &mut resume).is_some());
        let resumed = match scan_next(data, &mut resume) {
            Some(Scan::Usage(u)) => Some(u),
            _ => None,
        };
        assert_eq!(resumed, whole, "{data}");
        let Some(usage) = whole else {
            return false;
        };
        assert_eq!(
            StrictChunk::read(data).map(StrictChunk::into_parts),
            Some((None, Some(usage))),
            "{data}"
        );
        true
    }

    /// The contract for whole answers: what the scan accepts, the strict
    /// serde reading returns identically, found verbatim.
    pub(crate) fn agrees_whole(body: &str) -> bool {
        let Some(fast) = response(body.as_bytes()) else {
            return false;
        };
        let strict = super::super::response::strict_response(body.as_bytes());
        assert_eq!(strict, Some((fast, true)), "{body}");
        true
    }

    /// `base` with `cut` bytes from `at` replaced by `insert` (unchanged
    /// where either end is not a character boundary).
    fn edited(base: &str, at: usize, cut: usize, insert: &str) -> String {
        let mut text = base.to_owned();
        let end = (at + cut).min(text.len());
        if text.is_char_boundary(at) && text.is_char_boundary(end) {
            text.replace_range(at..end, insert);
        }
        text
    }

    const ANSWER: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1741569952,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hi \"there\"\n","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_1"}"#;

    #[test]
    fn common_answers_are_scanned_as_serde_reads_them() {
        let tool = r#"{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}"#;
        let with_tool = ANSWER.replace(
            r#"{"role":"assistant","content":"Hi \"there\"\n","refusal":null,"annotations":[]}"#,
            tool,
        );
        assert_ne!(with_tool, ANSWER);
        for body in [
            ANSWER.to_owned(),
            ANSWER.replace(",", ",\n  "),
            ANSWER.replace(r#""service_tier":"default","#, ""),
            ANSWER.replace(
                r#""usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"#,
                r#""usage":null,"unused":{"#,
            ),
            with_tool.clone(),
            ANSWER.replace(
                r#""prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0}"#,
                r#""prompt_tokens_details":null"#,
            ),
            ANSWER.replace(r#""finish_reason":"stop""#, r#""finish_reason":null"#),
            ANSWER.replace(
                r#""choices":[{"#,
                r#""choices":[{"index":1,"message":{"role":"assistant"}},{"#,
            ),
        ] {
            // A member the scan does not read (`unused`) leaves it to serde.
            assert!(agrees_whole(&body) != body.contains("unused"), "{body}");
        }
        for declined in [
            ANSWER.replace("chat.completion", "chat.completion.chunk"),
            ANSWER.replace(r#""role":"assistant""#, r#""role":"user""#),
            ANSWER.replace(r#""finish_reason":"stop""#, r#""finish_reason":"eos""#),
            ANSWER.replace(
                r#""annotations":[]"#,
                r#""annotations":[{"type":"url_citation"}]"#,
            ),
            ANSWER.replace(r#""logprobs":null"#, r#""logprobs":{"content":[]}"#),
            ANSWER.replace(
                r#""total_tokens":15,"#,
                r#""total_tokens":15,"total_tokens":15,"#,
            ),
            ANSWER.replace(r#""total_tokens":15,"#, ""),
            ANSWER.replace(r#""total_tokens":15"#, r#""total_tokens":-1"#),
            ANSWER.replace(r#""total_tokens":15"#, r#""total_tokens":1.5"#),
            ANSWER.replacen('{', r#"{"provider":"x","#, 1),
            with_tool.replace(r#""type":"function""#, r#""type":"custom""#),
            with_tool.replace(r#""arguments""#, r#""arguments":null,"x""#),
            format!("{ANSWER}x"),
        ] {
            assert_ne!(declined, ANSWER);
            assert!(response(declined.as_bytes()).is_none(), "{declined}");
        }
    }

    const TEXT: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" word1"},"logprobs":null,"finish_reason":null}]}"#;

    #[test]
    fn special_bytes_are_found_where_they_are() {
        for len in 0..40 {
            for at in 0..len {
                for b in [b'"', b'\\', 0, 0x1f, b'\n'] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    // A byte at or above 0x20 after it never hides it.
                    bytes.iter_mut().skip(at + 1).for_each(|x| *x = 0xff);
                    assert_eq!(special(&bytes), Some(at), "{len} {at} {b}");
                }
            }
            assert_eq!(special(&vec![b' '; len]), None);
            assert_eq!(special(&vec![0x80; len]), None);
        }
    }

    const USAGE: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":21,"total_tokens":141,"prompt_tokens_details":{"cached_tokens":64,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":5,"audio_tokens":null,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}"#;

    #[test]
    fn usage_chunks_are_scanned_as_serde_reads_them() {
        let plain = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;
        for data in [
            USAGE.to_owned(),
            plain.to_owned(),
            USAGE.replacen('{', r#"{"service_tier":"default","obfuscation":"x","#, 1),
            USAGE.replace(r#""choices":[],"#, ""),
            format!(" {plain}\t"),
        ] {
            // The one without `choices` is not a chunk the scan reads.
            let expected = data.contains("choices");
            assert_eq!(agrees_usage(&data), expected, "{data}");
        }
        let u = scan_usage(USAGE).unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (120, 21, 141)
        );
        assert_eq!(
            u.prompt_tokens_details.and_then(|d| d.cached_tokens),
            Some(64)
        );
        // Left to serde: usage that is null, usage beside a choice, a
        // member the scan does not read, another object type.
        for data in [
            USAGE.replace(
                r#""usage":{"prompt_tokens":120"#,
                r#""usage":null,"u":{"prompt_tokens":120"#,
            ),
            USAGE.replace(r#""usage":{"#, r#""usage":{"cost":0.1,"#),
            USAGE.replace(r#""choices":[]"#, r#""choices":[{"index":0,"delta":{}}]"#),
            USAGE.replace("chat.completion.chunk", "chat.completion"),
            USAGE.replace(r#""fp_1""#, "1"),
            TEXT.to_owned(),
        ] {
            assert!(!agrees_usage(&data), "{data}");
            assert!(scan_usage(&data).is_none(), "{data}");
        }
        // A content chunk carrying usage is not scanned as either.
        let both = TEXT.replace(
            "}]}",
            r#"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
        );
        assert!(scan(&both).is_none());
        assert!(scan_usage(&both).is_none());
    }

    #[test]
    fn the_common_chunks_are_scanned() {
        for data in [
            TEXT.to_owned(),
            TEXT.replace(" word1", r#"Hi \"there\"\n\u00e9 \ud83d\ude00"#),
            TEXT.replace(r#""finish_reason":null"#, r#""finish_reason":"stop""#),
            TEXT.replace(r#"{"content":" word1"}"#, r#"{"role":"assistant","content":"","refusal":null}"#),
            TEXT.replace(r#"{"content":" word1"}"#, r#"{}"#),
            TEXT.replace(r#"{"content":" word1"}"#, r#"{"reasoning_content":"hm"}"#),
            TEXT.replacen('{', r#"{"obfuscation":"a1b2","service_tier":"default","usage":null,"#, 1),
            TEXT.replace(r#""created":1741569952"#, r#""created":-5"#),
            TEXT.replace(",", " , ").replace(':', "\t:\r"),
            format!("  {TEXT} "),
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]},"finish_reason":null}]}"#.to_owned(),
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"1}"}}]},"finish_reason":"tool_calls"}]}"#.to_owned(),
        ] {
            assert!(agrees(data.trim()) || agrees(&data), "{data}");
        }
    }

    /// A stream's next chunk, with the same beginning, is scanned from its
    /// `choices` (what the scan knew there kept), and reads as a whole scan
    /// reads it; one with another beginning is scanned whole.
    #[test]
    fn the_next_chunk_is_scanned_from_its_choices() {
        let mut resume = Resume::default();
        assert_eq!(scan_next(TEXT, &mut resume), scan(TEXT).map(Scan::Chunk));
        let prefix = &TEXT[..TEXT.find(r#""choices""#).unwrap()];
        assert_eq!(resume.prefix, prefix);
        assert!(resume.header.is_some());
        for next in [
            TEXT.replace(r#"{"content":" word1"}"#, "{}")
                .replace("null}]", r#""stop"}]"#),
            TEXT.replace(r#""logprobs":null,"#, ""),
            TEXT.replace("}]}", r#"}],"usage":null}"#),
            // Declined after the beginning: as the whole scan declines.
            TEXT.replace("}]}", r#"}],"usage":{}}"#),
            TEXT.replace("}]}", r#"}],"id":"x"}"#),
            TEXT.replace("}]}", "}]"),
        ] {
            assert!(next.starts_with(prefix), "{next}");
            assert_eq!(
                scan_next(&next, &mut resume),
                scan(&next).map(Scan::Chunk),
                "{next}"
            );
            assert_eq!(resume.prefix, prefix);
        }
        // Another beginning: scanned whole, and kept.
        let other = TEXT.replace("chatcmpl-1", "chatcmpl-2");
        assert_eq!(
            scan_next(&other, &mut resume),
            scan(&other).map(Scan::Chunk)
        );
        assert!(scan(&other).is_some());
        assert!(resume.prefix.contains("chatcmpl-2"));
    }

    /// OpenAI's chunks with `obfuscation` (a different string in each).
    const OBFUSCATED: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" word1"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"a1B2"}"#;

    /// A chunk that repeats the last one but for its text and
    /// `obfuscation` is read from the template (only those strings), and
    /// reads as the whole scan reads it; any other difference is not.
    #[test]
    fn a_chunk_like_the_last_but_its_text_fills_the_template() {
        for base in [TEXT, OBFUSCATED] {
            let mut resume = Resume::default();
            assert_eq!(scan_next(base, &mut resume), scan(base).map(Scan::Chunk));
            assert!(resume.template.read.is_some(), "{base}");
            for next in [
                base.replace(" word1", " word2 longer"),
                base.replace(" word1", ""),
                base.replace(" word1", r#"\"q\" \u00e9\n"#),
                base.replace("a1B2", "zz"),
                base.replace("a1B2", ""),
            ] {
                assert!(resume.template.fill(&next).is_some(), "{next}");
                assert_eq!(
                    scan_next(&next, &mut resume),
                    scan(&next).map(Scan::Chunk),
                    "{next}"
                );
                assert!(scan(&next).is_some(), "{next}");
            }
            for other in [
                // Not filled: another difference, or a hole the scan refuses.
                base.replace(r#""finish_reason":null"#, r#""finish_reason":"stop""#),
                base.replace("1741569952", "1741569953"),
                base.replace(" word1", "a\u{1}b"),
                base.replace(" word1", r#"\x"#),
                base.replace(" word1", r#"\ud800"#),
                base.replace(" word1", r#"a"b"#),
                base.replace("a1B2", r#"a\nb"#),
            ] {
                if other != base {
                    assert!(resume.template.fill(&other).is_none(), "{other}");
                    assert_eq!(
                        scan_next(&other, &mut resume),
                        scan(&other).map(Scan::Chunk),
                        "{other}"
                    );
                }
            }
        }
    }

    #[test]
    fn what_it_does_not_read_is_left_to_serde() {
        for data in [
            // Several choices, none, an unknown or unread member at each level.
            TEXT.replace(r#""finish_reason":null}]"#, r#""finish_reason":null},{"index":1,"delta":{}}]"#),
            TEXT.replace(r#"[{"index":0,"delta":{"content":" word1"},"logprobs":null,"finish_reason":null}]"#, "[]"),
            TEXT.replacen('{', r#"{"x_groq":{"id":"req_1"},"#, 1),
            TEXT.replacen('{', r#"{"provider":"OpenAI","#, 1),
            TEXT.replace(r#""delta":{"#, r#""delta":{"reasoning":"hm","#),
            TEXT.replace(r#""index":0,"#, r#""index":0,"native_finish_reason":null,"#),
            TEXT.replace(r#""logprobs":null"#, r#""logprobs":{"content":[]}"#),
            // Usage, an odd finish reason, another object.
            TEXT.replacen('{', r#"{"usage":{"prompt_tokens":1},"#, 1),
            TEXT.replace(r#""finish_reason":null"#, r#""finish_reason":"eos""#),
            TEXT.replace("chat.completion.chunk", "chat.completion"),
            // Duplicates, missing members, escaped names, odd numbers.
            TEXT.replacen('{', r#"{"id":"x","#, 1),
            TEXT.replace(r#""model":"gpt-4o-mini","#, ""),
            TEXT.replace(r#""index":0,"#, ""),
            TEXT.replace(r#""model""#, r#""mod\u0065l""#),
            TEXT.replace("gpt-4o-mini", r#"gpt\/4"#),
            TEXT.replace("1741569952", "1741569952.0"),
            TEXT.replace("1741569952", "1e3"),
            TEXT.replace("1741569952", "01"),
            TEXT.replace("1741569952", "99999999999999999999"),
            TEXT.replace(r#""index":0"#, r#""index":-0"#),
            TEXT.replace(r#""index":0"#, r#""index":4294967296"#),
            // Not JSON, or more after it, or over two lines.
            TEXT.replace(" word1", "a\u{1}b"),
            TEXT.replace(" word1", r#"\x"#),
            TEXT.replace(" word1", r#"\ud800"#),
            format!("{TEXT}}}"),
            format!("{TEXT} x"),
            TEXT.replace(',', "\n,"),
            TEXT[..TEXT.len() - 1].to_owned(),
            "nul".to_owned(),
            String::new(),
        ] {
            assert!(scan(&data).is_none(), "{data}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// Arbitrary edits of a common answer, and of a usage chunk:
        /// whatever the scan accepts, serde's strict reading returns
        /// identically, as verbatim; whatever the usage scan accepts,
        /// serde reads as the same usage and no chunk.
        #[test]
        fn the_answer_and_usage_scans_never_differ_from_serde(
            at in 0usize..4096,
            cut in 0usize..6,
            insert in "[ -~]{0,6}|\\\\[\"\\\\/bfnrtu]|\\\\u[0-9a-fA-F]{4}|é|null|,|:|\\}|\\]|\\[\\]|[0-9]{1,20}",
        ) {
            agrees_whole(&edited(ANSWER, at % ANSWER.len(), cut, &insert));
            agrees_usage(&edited(USAGE, at % USAGE.len(), cut, &insert));
        }

        /// Arbitrary edits of a common chunk: whatever the scan accepts,
        /// serde reads as verbatim with the same transcript.
        #[test]
        fn the_scan_never_accepts_what_serde_would_not(
            at in 0..TEXT.len(),
            cut in 0usize..4,
            insert in "[ -~]{0,6}|\\\\[\"\\\\/bfnrtu]|\\\\u[0-9a-fA-F]{4}|é|null|,|:|\\}|\\]",
        ) {
            agrees(&edited(TEXT, at, cut, &insert));
        }

        /// A chunk scanned from where the last one's `choices` began reads
        /// exactly as the whole scan reads it: two arbitrary edits of a
        /// chunk in a row (an edit before `choices` changes the beginning,
        /// and the second is scanned whole; one after it does not).
        #[test]
        fn a_resumed_scan_is_the_whole_scan(
            edits in proptest::collection::vec((
                0..TEXT.len(),
                0usize..4,
                "[ -~]{0,6}|\\\\[\"\\\\/bfnrtu]|\\\\u[0-9a-fA-F]{4}|é|null|,|:|\\}|\\]",
            ), 1..4),
        ) {
            let mut resume = Resume::default();
            for (at, cut, insert) in edits {
                let data = edited(TEXT, at, cut, &insert);
                proptest::prop_assert_eq!(scan_next(&data, &mut resume), scan(&data).map(Scan::Chunk), "{}", data);
            }
        }

        /// Chunks in a row that differ in their text and `obfuscation`
        /// (any characters: quotes, backslashes, escapes, control
        /// characters) read as the whole scan reads them, whether the
        /// template filled them or not.
        #[test]
        fn a_filled_template_is_the_whole_scan(
            chunks in proptest::collection::vec((
                "\\PC{0,12}|[\"\\\\]|\\\\[\"\\\\/bfnrtu]|\\\\u[0-9a-fA-F]{4}|\\\\ud83d\\\\ude00|\\\\ud800|\u{1}",
                "[a-zA-Z0-9]{0,8}|\\\\n|\"|é",
                proptest::bool::ANY,
            ), 1..6),
        ) {
            let mut resume = Resume::default();
            for (text, obfuscation, obfuscated) in chunks {
                let base = if obfuscated { OBFUSCATED } else { TEXT };
                let data = base.replace(" word1", &text).replace("a1B2", &obfuscation);
                proptest::prop_assert_eq!(scan_next(&data, &mut resume), scan(&data).map(Scan::Chunk), "{}", data);
            }
        }

        /// Arbitrary text and tool arguments are read as serde reads them.
        #[test]
        fn text_is_read_as_serde_reads_it(
            content in proptest::option::of("\\PC{0,20}"),
            arguments in proptest::option::of("\\PC{0,20}"),
            finish in proptest::option::of("stop|length|tool_calls|content_filter|function_call"),
        ) {
            let mut delta = serde_json::json!({"content": content});
            if let Some(a) = &arguments {
                delta["tool_calls"] = serde_json::json!([{"index": 0, "function": {"arguments": a}}]);
            }
            let chunk = serde_json::json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
            proptest::prop_assert!(agrees(&chunk.to_string()));
        }
    }
}
