//! `sse_decoder`: the bounded SSE decoder against a plain reading of the
//! WHATWG rules, in every split.

use arbitrary::{Result, Unstructured};

use super::{Input, input, raw};
use crate::sse::{SseDecoder, SseError, SseEvent};

/// What a decoder made of an input: the events, the error that stopped
/// it, and (without an error) whether an unfinished event was left.
#[derive(Debug, PartialEq)]
struct Decoded {
    events: Vec<SseEvent>,
    error: Option<SseError>,
    partial: Option<bool>,
}

/// Feeds `bytes` cut at `cuts` (sorted, each at most `bytes.len()`).
fn decode(max: usize, bytes: &[u8], cuts: &[usize]) -> Decoded {
    let mut d = SseDecoder::new(max);
    let mut events = Vec::new();
    let mut last = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        let piece = bytes.get(last..cut).unwrap_or_default();
        last = cut;
        if let Err(e) = d.push(piece, &mut events) {
            return Decoded {
                events,
                error: Some(e),
                partial: None,
            };
        }
    }
    Decoded {
        events,
        error: None,
        partial: Some(d.has_partial()),
    }
}

/// The WHATWG event-stream rules read plainly over the whole input (no
/// limit): lines end at LF, CR or CRLF; an empty line dispatches; `:`
/// starts a comment; a value loses one leading space; `data` lines join
/// with LF; `event` names the next event; a line without its end is not
/// read. Errors as the decoder's: data or a name that is not UTF-8.
fn reference(bytes: &[u8]) -> Decoded {
    let mut events = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let mut has_data = false;
    let mut name: Option<String> = None;
    let mut rest = bytes;
    let fail = |events, e| Decoded {
        events,
        error: Some(e),
        partial: None,
    };
    while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
        let line = &rest[..end];
        let skip = if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
        if line.is_empty() {
            if has_data {
                match String::from_utf8(std::mem::take(&mut data)) {
                    Ok(d) => events.push(SseEvent {
                        event: name.take(),
                        data: d,
                    }),
                    Err(_) => return fail(events, SseError::NotUtf8),
                }
                has_data = false;
            } else {
                name = None;
            }
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if has_data {
                    data.push(b'\n');
                }
                data.extend_from_slice(value);
                has_data = true;
            }
            b"event" => match String::from_utf8(value.to_vec()) {
                Ok(n) => name = Some(n),
                Err(_) => return fail(events, SseError::NotUtf8),
            },
            _ => {}
        }
    }
    // A CR at the very end may be followed by an LF in the next read: the
    // line it ended is read, the LF will be skipped.
    Decoded {
        events,
        error: None,
        partial: Some(!rest.is_empty() || has_data),
    }
}

/// An SSE-like body: lines of known and unknown fields, comments, blank
/// lines, UTF-8 or not, with LF, CR, CRLF or no line end.
fn structured(u: &mut Unstructured<'_>) -> Result<(Vec<u8>, Vec<usize>)> {
    let mut out = Vec::new();
    for _ in 0..u.int_in_range(0u8..=40)? {
        match u.int_in_range(0u8..=9)? {
            0..=3 => out.extend_from_slice(b"data"),
            4 => out.extend_from_slice(b"event"),
            5 => out.extend_from_slice(b"id"),
            6 => out.extend_from_slice(b":"),
            7 => {}
            8 => out.extend_from_slice(b"retry"),
            _ => {
                let n = u.int_in_range(0usize..=8)?;
                out.extend_from_slice(u.bytes(n.min(u.len()))?);
            }
        }
        if u.ratio(7u8, 8)? {
            out.push(b':');
        }
        if u.ratio(3u8, 4)? {
            out.push(b' ');
        }
        match u.int_in_range(0u8..=5)? {
            0 => out.extend_from_slice(b"{\"a\":1}"),
            1 => out.extend_from_slice(b"[DONE]"),
            2 => out.extend_from_slice("é\u{1F600}".as_bytes()),
            3 => out.extend_from_slice(b"\xff\xfe"),
            _ => {
                let n = u.int_in_range(0usize..=24)?;
                out.extend_from_slice(u.bytes(n.min(u.len()))?);
            }
        }
        match u.int_in_range(0u8..=7)? {
            0..=3 => out.push(b'\n'),
            4 => out.push(b'\r'),
            5 => out.extend_from_slice(b"\r\n"),
            6 => out.extend_from_slice(b"\n\n"),
            _ => {}
        }
    }
    let mut cuts = Vec::new();
    for _ in 0..u.int_in_range(0u8..=8)? {
        cuts.push(u.int_in_range(0..=out.len())?);
    }
    cuts.sort_unstable();
    Ok((out, cuts))
}

/// Fuzz target `sse_decoder`: the decoder agrees with [`reference`], in
/// one piece, in the input's pieces and byte by byte; with a 64-byte
/// limit, every split gives the same events and error, and its events
/// start the unlimited reading's.
pub fn sse_decoder(data: &[u8]) {
    let Some(input) = input(data) else { return };
    let (bytes, cuts) = match input {
        Input::Raw { bytes, piece } => {
            let cuts: Vec<usize> = (piece..bytes.len()).step_by(piece).collect();
            (bytes.to_vec(), cuts)
        }
        Input::Structured(mut u) => match structured(&mut u) {
            Ok(x) => x,
            Err(_) => return,
        },
    };
    let expected = reference(&bytes);
    let whole = decode(1 << 20, &bytes, &[]);
    assert_eq!(whole, expected, "the decoder disagrees with the rules");
    assert_eq!(
        decode(1 << 20, &bytes, &cuts),
        expected,
        "split at {cuts:?}"
    );
    if bytes.len() <= 4096 {
        let every: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(decode(1 << 20, &bytes, &every), expected, "byte by byte");
    }
    let small = decode(64, &bytes, &[]);
    let small_split = decode(64, &bytes, &cuts);
    assert_eq!(small.events, small_split.events, "64-byte limit, split");
    assert_eq!(small.error, small_split.error, "64-byte limit, split");
    assert!(
        expected.events.starts_with(&small.events),
        "a limit only stops early"
    );
    if small.error.is_none() {
        assert_eq!(small, expected, "within the limit, the same reading");
    }
}

pub(super) fn seeds(out: &mut Vec<(&'static str, String, Vec<u8>)>) {
    use super::fixtures::*;
    for (name, text) in OPENAI_STREAMS
        .iter()
        .chain(ANTHROPIC_STREAMS)
        .chain(RESPONSES_STREAMS)
        .chain(GEMINI_STREAMS)
    {
        out.push((
            "sse_decoder",
            format!("seed-{name}"),
            raw(7, text.as_bytes()),
        ));
    }
}
