//! The usage of a pass-through answer, read on the way to the client.

use std::borrow::Cow;

use serde::Deserialize;

use crate::inbound::{PassThroughScan, PassThroughUsage, SseSink};
use crate::translators::anthropic::WireUsage;
use crate::translators::lenient;
use crate::types::Usage;

/// Longest SSE line kept; longer ones are skipped. `message_start` and
/// `message_delta` events are far smaller.
const MAX_KEPT: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default, borrow)]
    message: Option<Body<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// A whole answer, or `message_start`'s message: the fields read for
/// usage (everything else skipped).
#[derive(Debug, Deserialize, Default)]
struct Body<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    model: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient::obj")]
    usage: Option<WireUsage>,
}

/// Reads the usage and model of an Anthropic Messages answer passed through
/// as it came: a JSON body (its top-level `model` and `usage`), or an SSE
/// stream (`message_start`'s `message.usage` and `model`, then each
/// `message_delta`'s `usage`: cumulative `output_tokens`, and input and
/// cache counts when present and above 0: the Anthropic translator's own
/// merge, so both paths bill a stream alike).
///
/// Fed the bytes in any split ([`UsageReader::push`]); keeps one line of
/// the stream at a time, at most 64 KiB, never the whole stream (a whole
/// JSON answer is best read in place: [`UsageReader::read_body`]). Never
/// fails: bytes it cannot read just give no usage.
#[derive(Debug)]
pub struct UsageReader {
    scan: PassThroughScan,
    read: Read,
}

/// What the answer said so far.
#[derive(Debug, Default)]
struct Read {
    /// The last `event:` names an event without usage.
    skip_data: bool,
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
            scan: PassThroughScan::new(MAX_KEPT),
            read: Read::default(),
        }
    }

    /// The usage and model of a whole JSON answer, read in one go.
    pub fn read_body(body: &[u8]) -> Option<PassThroughUsage> {
        let mut read = Read::default();
        read.body(body);
        read.result()
    }

    /// Reads the next bytes of the answer.
    pub fn push(&mut self, bytes: &[u8]) {
        self.scan.push(bytes, &mut self.read);
    }

    /// The usage and model, once the whole answer was fed (`None` when it
    /// reported no usage or could not be read). Reads a last line that had
    /// no line end.
    pub fn end(&mut self) -> Option<PassThroughUsage> {
        if let Some(body) = self.scan.finish(&mut self.read) {
            self.read.body(&body);
        }
        self.read.result()
    }

    /// The model the answer names, once read (even without usage).
    pub fn model(&self) -> Option<&str> {
        self.read.model.as_deref()
    }

    /// [`UsageReader::end`]'s usage alone (the model: [`UsageReader::model`]).
    pub fn finish(&mut self) -> Option<Usage> {
        self.end().map(|r| r.usage)
    }

    /// The capacity of the line or body kept (checked by the tests).
    #[cfg(test)]
    pub(super) fn kept(&self) -> usize {
        self.scan.buf.capacity()
    }
}

impl Read {
    /// The usage in neutral terms (`prompt_tokens` counts input, cache
    /// reads and cache writes; `cached_tokens` and `cache_write_tokens`
    /// apart), with the model.
    fn result(&self) -> Option<PassThroughUsage> {
        self.seen.then(|| PassThroughUsage {
            usage: self.usage.to_usage(),
            model: self.model.clone(),
        })
    }

    /// A whole JSON answer.
    fn body(&mut self, body: &[u8]) {
        if let Ok(b) = serde_json::from_slice::<Body<'_>>(body) {
            self.message(b);
        }
    }

    /// An answer's or `message_start`'s message.
    fn message(&mut self, m: Body<'_>) {
        if let Some(model) = m.model {
            self.model = Some(model.into_owned());
        }
        if let Some(u) = m.usage {
            self.merge(u);
        }
    }

    fn event(&mut self, data: &[u8]) {
        let Ok(e) = serde_json::from_slice::<Event<'_>>(data) else {
            return;
        };
        match e.kind.as_str() {
            "message_start" => {
                if let Some(m) = e.message {
                    self.message(m);
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
}

impl SseSink for Read {
    /// `event:` lines, and `data:` lines unless the event has no usage.
    fn wanted(&self, head: &[u8]) -> bool {
        !(self.skip_data && head.starts_with(b"data:"))
    }

    fn line(&mut self, line: &[u8]) {
        if let Some(name) = line.strip_prefix(b"event:") {
            let name = name.trim_ascii();
            self.skip_data = name != b"message_start" && name != b"message_delta";
        } else if let Some(data) = line.strip_prefix(b"data:") {
            self.event(data);
        } else if line.is_empty() {
            self.skip_data = false;
        }
    }
}
