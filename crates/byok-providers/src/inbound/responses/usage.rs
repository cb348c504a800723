//! Usage of a passed-through Responses answer (`openai-responses`,
//! `azure-responses`), read on the way to the client.
//!
//! A body whose first non-blank byte is `{` is a JSON response: it is kept
//! (up to [`JSON_CAP`] bytes; a non-streamed body is bounded by the server's
//! limit anyway) and its `usage` and `model` read at the end. Anything else
//! is an SSE stream, scanned line by line: only `event:` lines and the data
//! line of a `response.completed` / `response.incomplete` event are kept
//! (that event holds the whole response, so it can be large); every other
//! line is looked at for its first [`HEAD`] bytes and then skipped. Nothing
//! here fails: bytes that do not parse give no usage.

use serde_json::Value;

use crate::translators::Counts;
use crate::types::Usage;

/// Bytes of a data line looked at to decide whether to keep it.
const HEAD: usize = 256;
/// The longest line kept (a completed event larger than this gives no usage).
const LINE_CAP: usize = 32 << 20;
/// The largest JSON body read.
const JSON_CAP: usize = 64 << 20;

/// What a passed-through answer reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassThroughUsage {
    /// The usage in neutral terms (`prompt_tokens` = `input_tokens`, which
    /// counts cached tokens; `cached_tokens`; `completion_tokens` =
    /// `output_tokens`, reasoning included; `reasoning_tokens`).
    pub usage: Usage,
    /// The model the provider says answered.
    pub model: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unknown,
    Json,
    Sse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// Fewer than [`HEAD`] bytes seen: still buffering.
    Deciding,
    Keep,
    Skip,
}

/// Reads usage from a passed-through Responses answer fed in pieces of any
/// size. Never buffers a whole stream; never fails.
#[derive(Debug)]
pub struct UsageReader {
    mode: Mode,
    json: Vec<u8>,
    overflow: bool,
    line: Vec<u8>,
    state: Line,
    /// Bytes of the current line seen (kept or not).
    seen: usize,
    /// The current SSE event is `response.completed` / `.incomplete`.
    final_event: bool,
    found: Option<PassThroughUsage>,
}

impl Default for UsageReader {
    fn default() -> Self {
        Self::new()
    }
}

impl UsageReader {
    /// A reader for one answer.
    pub fn new() -> Self {
        Self {
            mode: Mode::Unknown,
            json: Vec::new(),
            overflow: false,
            line: Vec::new(),
            state: Line::Deciding,
            seen: 0,
            final_event: false,
            found: None,
        }
    }

    /// Feeds the next bytes of the answer.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.mode == Mode::Unknown {
            let Some((first, json)) = crate::inbound::sniff(bytes) else {
                return;
            };
            self.mode = if json { Mode::Json } else { Mode::Sse };
            bytes = &bytes[first..];
        }
        match self.mode {
            Mode::Json => {
                if self.overflow || self.json.len() + bytes.len() > JSON_CAP {
                    self.overflow = true;
                    self.json = Vec::new();
                } else {
                    self.json.extend_from_slice(bytes);
                }
            }
            Mode::Sse => self.scan(bytes),
            Mode::Unknown => {}
        }
    }

    /// The usage, once the whole answer was fed (`None` when it reported
    /// none or could not be read).
    pub fn finish(&mut self) -> Option<PassThroughUsage> {
        match self.mode {
            Mode::Json if !self.overflow => {
                let v: Value = serde_json::from_slice(&self.json).ok()?;
                self.json = Vec::new();
                read(&v)
            }
            Mode::Sse => {
                if self.seen > 0 {
                    self.end_line();
                }
                self.found.take()
            }
            _ => None,
        }
    }

    fn scan(&mut self, mut bytes: &[u8]) {
        while let Some(pos) = memchr::memchr(b'\n', bytes) {
            self.feed(&bytes[..pos]);
            self.end_line();
            bytes = &bytes[pos + 1..];
        }
        self.feed(bytes);
    }

    /// Part of a line.
    fn feed(&mut self, piece: &[u8]) {
        self.seen += piece.len();
        match self.state {
            Line::Skip => {}
            Line::Keep => {
                if self.line.len() + piece.len() > LINE_CAP {
                    self.state = Line::Skip;
                    self.line = Vec::new();
                } else {
                    self.line.extend_from_slice(piece);
                }
            }
            Line::Deciding => {
                let room = HEAD.saturating_sub(self.line.len()).min(piece.len());
                self.line.extend_from_slice(&piece[..room]);
                if self.line.len() >= HEAD {
                    self.state = if self.wanted() {
                        Line::Keep
                    } else {
                        Line::Skip
                    };
                    if self.state == Line::Skip {
                        self.line.clear();
                    } else {
                        self.feed_kept(&piece[room..]);
                    }
                }
            }
        }
    }

    fn feed_kept(&mut self, rest: &[u8]) {
        if self.line.len() + rest.len() > LINE_CAP {
            self.state = Line::Skip;
            self.line = Vec::new();
        } else {
            self.line.extend_from_slice(rest);
        }
    }

    /// Whether the line (its first bytes) can matter.
    fn wanted(&self) -> bool {
        let line = self.line.as_slice();
        if line.starts_with(b"event:") {
            return true;
        }
        line.starts_with(b"data:")
            && (self.final_event
                || memchr::memmem::find(line, b"response.completed").is_some()
                || memchr::memmem::find(line, b"response.incomplete").is_some())
    }

    fn end_line(&mut self) {
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        let keep = match self.state {
            Line::Deciding => self.wanted(),
            Line::Keep => true,
            Line::Skip => false,
        };
        if self.seen == 0 || (self.seen == 1 && self.line.is_empty()) {
            // A blank line ends the event.
            self.final_event = false;
        } else if keep {
            self.line_done();
        }
        self.line.clear();
        self.state = Line::Deciding;
        self.seen = 0;
    }

    /// A kept line: an event name, or a final event's data.
    fn line_done(&mut self) {
        if let Some(name) = self.line.strip_prefix(b"event:") {
            let name = name.trim_ascii();
            self.final_event = name == b"response.completed" || name == b"response.incomplete";
            return;
        }
        let Some(data) = self.line.strip_prefix(b"data:") else {
            return;
        };
        let Ok(v) = serde_json::from_slice::<Value>(data.trim_ascii()) else {
            return;
        };
        let kind = v.get("type").and_then(Value::as_str);
        let is_final = match kind {
            Some(k) => k == "response.completed" || k == "response.incomplete",
            None => self.final_event,
        };
        if is_final && let Some(found) = v.get("response").and_then(read) {
            self.found = Some(found);
        }
    }
}

/// Usage and model of a `response` object.
fn read(response: &Value) -> Option<PassThroughUsage> {
    let u = response.get("usage").filter(|u| u.is_object())?;
    let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let input = n(u.get("input_tokens"));
    let output = n(u.get("output_tokens"));
    let counts = Counts {
        prompt: input,
        completion: output,
        cached: n(u.pointer("/input_tokens_details/cached_tokens")),
        cache_write: None,
        reasoning: Some(n(u.pointer("/output_tokens_details/reasoning_tokens"))),
    };
    let mut usage = counts.usage();
    if let Some(total) = u.get("total_tokens").and_then(Value::as_u64) {
        usage.total_tokens = total;
    }
    Some(PassThroughUsage {
        usage,
        model: response
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}
