//! Usage of a passed-through Responses answer (`openai-responses`,
//! `azure-responses`), read on the way to the client.
//!
//! A body whose first non-blank byte is `{` is a JSON response: its `usage`
//! and `model` are read in one go ([`UsageReader::read_body`]; fed in
//! pieces, it is kept up to 64 MiB and read at the end). Anything else is an
//! SSE stream, scanned line by line: only `event:` lines and the data line
//! of a `response.completed` / `response.incomplete` event are kept (that
//! event holds the whole response, so it can be large); every other line is
//! looked at for its first 256 bytes and then skipped. Nothing here fails:
//! bytes that do not parse give no usage.

use std::borrow::Cow;

use serde::Deserialize;

use crate::inbound::{PassThroughScan, PassThroughUsage, SseSink};
use crate::translators::lenient;
use crate::translators::responses::WireUsage;

/// The longest line kept (a completed event larger than this gives no usage).
const LINE_CAP: usize = 32 << 20;

/// A `response.*` event: its type and response.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", default, borrow, deserialize_with = "lenient::str")]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    response: Option<Body<'a>>,
}

/// A `response` object: the fields read for usage (everything else
/// skipped).
#[derive(Deserialize, Default)]
struct Body<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    model: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient::obj")]
    usage: Option<WireUsage>,
}

impl Body<'_> {
    /// Usage (the translator's reading) and model; `None` without usage.
    fn read(&self) -> Option<PassThroughUsage> {
        Some(PassThroughUsage {
            usage: self.usage.as_ref()?.to_usage(),
            model: self.model.as_deref().map(str::to_owned),
        })
    }
}

/// Reads usage from a passed-through Responses answer fed in pieces of any
/// size. Never buffers a whole stream; never fails.
#[derive(Debug)]
pub struct UsageReader {
    scan: PassThroughScan,
    read: Read,
}

/// What the stream said so far.
#[derive(Debug, Default)]
struct Read {
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
            scan: PassThroughScan::new(LINE_CAP),
            read: Read::default(),
        }
    }

    /// The usage and model of a whole JSON answer, read in one go.
    pub fn read_body(body: &[u8]) -> Option<PassThroughUsage> {
        serde_json::from_slice::<Body<'_>>(body).ok()?.read()
    }

    /// Feeds the next bytes of the answer.
    pub fn push(&mut self, bytes: &[u8]) {
        self.scan.push(bytes, &mut self.read);
    }

    /// The usage, once the whole answer was fed (`None` when it reported
    /// none or could not be read).
    pub fn end(&mut self) -> Option<PassThroughUsage> {
        match self.scan.finish(&mut self.read) {
            Some(body) => Self::read_body(&body),
            None => self.read.found.take(),
        }
    }

    /// [`UsageReader::end`] (the name the server calls).
    pub fn finish(&mut self) -> Option<PassThroughUsage> {
        self.end()
    }
}

impl SseSink for Read {
    /// `event:` lines, and data lines of a final event (named by its
    /// `event:` line or its `type`).
    fn wanted(&self, head: &[u8]) -> bool {
        if head.starts_with(b"event:") {
            return true;
        }
        head.starts_with(b"data:")
            && (self.final_event
                || memchr::memmem::find(head, b"response.completed").is_some()
                || memchr::memmem::find(head, b"response.incomplete").is_some())
    }

    /// An event name, a final event's data, or the blank line ending an
    /// event.
    fn line(&mut self, line: &[u8]) {
        if line.is_empty() {
            self.final_event = false;
        } else if let Some(name) = line.strip_prefix(b"event:") {
            let name = name.trim_ascii();
            self.final_event = name == b"response.completed" || name == b"response.incomplete";
        } else if let Some(data) = line.strip_prefix(b"data:") {
            let Ok(e) = serde_json::from_slice::<Event<'_>>(data.trim_ascii()) else {
                return;
            };
            let is_final = match e.kind.as_deref() {
                Some(k) => k == "response.completed" || k == "response.incomplete",
                None => self.final_event,
            };
            if is_final && let Some(found) = e.response.as_ref().and_then(Body::read) {
                self.found = Some(found);
            }
        }
    }
}
