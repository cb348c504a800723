//! The usage of a pass-through answer, read on the way to the client.

use serde::Deserialize;

use crate::translators::anthropic::WireUsage;
use crate::types::Usage;

/// Longest line (SSE) or captured value (JSON) kept; longer ones are
/// skipped. `message_start` and `message_delta` events and the `usage`
/// object are far smaller.
const MAX_KEPT: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: Option<EventMessage>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct EventMessage {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// What the body is, decided by its first non-blank byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unknown,
    /// A JSON message (`{`).
    Json,
    /// Server-sent events.
    Sse,
}

/// Reads the usage and model of an Anthropic Messages answer passed through
/// as it came: a JSON body, or an SSE stream (`message_start`'s
/// `message.usage` and `model`, then each `message_delta`'s `usage`:
/// cumulative `output_tokens`, and input and cache counts when present and
/// above 0, as [`WireUsage::merge`] reads them for the translator too).
///
/// Fed the bytes in any split ([`UsageReader::push`]); keeps one line of
/// the stream (or, for a JSON body, the top-level `model` and `usage`
/// values) at a time, at most 64 KiB, never the whole answer. Never fails:
/// bytes it cannot read just give no usage.
#[derive(Debug)]
pub struct UsageReader {
    mode: Mode,
    /// SSE: the current line; JSON: the value being captured (its size
    /// is checked by the tests).
    pub(super) buf: Vec<u8>,
    /// The current line or value outgrew [`MAX_KEPT`].
    overflow: bool,
    /// SSE: a `\r` ended the last line (a following `\n` is part of it).
    after_cr: bool,
    /// SSE: the last `event:` names an event without usage.
    skip_data: bool,
    json: JsonScan,
    usage: WireUsage,
    seen: bool,
    model: Option<String>,
}

impl Default for UsageReader {
    fn default() -> Self {
        Self::new()
    }
}

impl UsageReader {
    /// A reader at the start of an answer.
    pub fn new() -> Self {
        Self {
            mode: Mode::Unknown,
            buf: Vec::new(),
            overflow: false,
            after_cr: false,
            skip_data: false,
            json: JsonScan::default(),
            usage: WireUsage::default(),
            seen: false,
            model: None,
        }
    }

    /// Reads the next bytes of the answer.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.mode == Mode::Unknown {
            let Some((first, json)) = crate::inbound::sniff(bytes) else {
                return;
            };
            bytes = &bytes[first..];
            self.mode = if json { Mode::Json } else { Mode::Sse };
        }
        match self.mode {
            Mode::Json => self.push_json(bytes),
            Mode::Sse => self.push_sse(bytes),
            Mode::Unknown => {}
        }
    }

    /// The model the answer names, once read.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The usage in neutral terms (`prompt_tokens` counts input, cache
    /// reads and cache writes; `cached_tokens` and `cache_write_tokens`
    /// apart), or `None` when the answer gave none. Reads a last line that
    /// had no line end.
    pub fn finish(&mut self) -> Option<Usage> {
        if self.mode == Mode::Sse && !self.buf.is_empty() {
            self.line();
        }
        self.seen.then(|| self.usage.to_usage())
    }

    fn push_sse(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if bytes[0] == b'\n' {
                    bytes = &bytes[1..];
                    continue;
                }
            }
            match memchr::memchr2(b'\n', b'\r', bytes) {
                Some(end) => {
                    self.keep(&bytes[..end]);
                    self.after_cr = bytes[end] == b'\r';
                    self.line();
                    bytes = &bytes[end + 1..];
                }
                None => {
                    self.keep(bytes);
                    bytes = &[];
                }
            }
        }
    }

    /// Appends to the line, unless it is skipped (the data of an event
    /// without usage) or too long.
    fn keep(&mut self, part: &[u8]) {
        if self.overflow {
            return;
        }
        if self.skip_data && self.buf.is_empty() && part.starts_with(b"data:") {
            self.overflow = true;
            return;
        }
        if self.buf.len() + part.len() > MAX_KEPT {
            self.overflow = true;
            self.buf.clear();
            return;
        }
        self.buf.extend_from_slice(part);
    }

    /// One complete line.
    fn line(&mut self) {
        let overflow = std::mem::replace(&mut self.overflow, false);
        let line = std::mem::take(&mut self.buf);
        if overflow {
            return;
        }
        if let Some(name) = line.strip_prefix(b"event:") {
            let name = name.trim_ascii();
            self.skip_data = name != b"message_start" && name != b"message_delta";
        } else if let Some(data) = line.strip_prefix(b"data:") {
            self.event(data);
        } else if line.is_empty() {
            self.skip_data = false;
        }
        self.buf = line;
        self.buf.clear();
    }

    fn event(&mut self, data: &[u8]) {
        let Ok(e) = serde_json::from_slice::<Event>(data) else {
            return;
        };
        match e.kind.as_str() {
            "message_start" => {
                if let Some(m) = e.message {
                    if m.model.is_some() {
                        self.model = m.model;
                    }
                    if let Some(u) = m.usage {
                        self.merge(u);
                    }
                }
            }
            "message_delta" => {
                if let Some(u) = e.usage {
                    self.merge(u);
                }
            }
            _ => {}
        }
    }

    /// Takes in the next usage object ([`WireUsage::merge`], the rule the
    /// translator applies).
    fn merge(&mut self, u: WireUsage) {
        self.seen = true;
        self.usage.merge(&u);
    }

    fn push_json(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match self.json.step(b) {
                Step::Byte => {}
                Step::CaptureStart => {
                    self.buf.clear();
                    self.overflow = false;
                    continue;
                }
                Step::CaptureEnd(key) => self.captured(key),
            }
            if self.json.capturing.is_some() && !self.overflow {
                if self.buf.len() < MAX_KEPT {
                    self.buf.push(b);
                } else {
                    self.overflow = true;
                }
            }
        }
    }

    fn captured(&mut self, key: Key) {
        let value = std::mem::take(&mut self.buf);
        if std::mem::replace(&mut self.overflow, false) {
            return;
        }
        match key {
            Key::Model => {
                if let Ok(m) = serde_json::from_slice::<String>(value.trim_ascii()) {
                    self.model = Some(m);
                }
            }
            Key::Usage => {
                if let Ok(u) = serde_json::from_slice::<WireUsage>(value.trim_ascii()) {
                    self.merge(u);
                }
            }
        }
        self.buf = value;
        self.buf.clear();
    }
}

/// A top-level key whose value is captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Model,
    Usage,
}

/// What one byte did.
enum Step {
    Byte,
    /// The bytes from the next one on are the value of a wanted key.
    CaptureStart,
    /// This byte ended the captured value (it is not part of it).
    CaptureEnd(Key),
}

/// A streaming scan of a JSON document's structure: depth, strings, and
/// the top-level keys, enough to find the values of `model` and `usage`.
#[derive(Debug, Default)]
struct JsonScan {
    depth: u32,
    in_string: bool,
    escape: bool,
    /// The top-level string just read (a key when `:` follows), capped.
    last: Vec<u8>,
    last_too_long: bool,
    capturing: Option<Key>,
}

impl JsonScan {
    fn step(&mut self, b: u8) -> Step {
        if self.in_string {
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
            } else if b == b'"' {
                self.in_string = false;
                return Step::Byte;
            }
            if self.depth == 1 && self.capturing.is_none() {
                if self.last.len() < 16 {
                    self.last.push(b);
                } else {
                    self.last_too_long = true;
                }
            }
            return Step::Byte;
        }
        match b {
            b'"' => {
                self.in_string = true;
                if self.depth == 1 && self.capturing.is_none() {
                    self.last.clear();
                    self.last_too_long = false;
                }
            }
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                if self.depth == 1
                    && let Some(key) = self.capturing.take()
                {
                    self.depth -= 1;
                    return Step::CaptureEnd(key);
                }
                self.depth = self.depth.saturating_sub(1);
            }
            b',' if self.depth == 1 => {
                if let Some(key) = self.capturing.take() {
                    return Step::CaptureEnd(key);
                }
            }
            b':' if self.depth == 1 && self.capturing.is_none() => {
                let key = match (self.last_too_long, self.last.as_slice()) {
                    (false, b"model") => Some(Key::Model),
                    (false, b"usage") => Some(Key::Usage),
                    _ => None,
                };
                self.last.clear();
                if let Some(key) = key {
                    self.capturing = Some(key);
                    return Step::CaptureStart;
                }
            }
            _ => {}
        }
        Step::Byte
    }
}
