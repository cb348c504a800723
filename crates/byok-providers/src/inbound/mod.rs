//! Inbound codecs: client protocols other than chat completions, converted
//! to and from the crate's neutral, OpenAI-shaped types.
//!
//! Each codec is pure (no I/O, no HTTP framework): the server reads a body,
//! asks the codec for a neutral [`ChatRequest`](crate::ChatRequest), runs its
//! one pipeline (auth, routing, reservation, call, settlement), then asks
//! the codec to write the neutral answer, stream or error in the client's
//! protocol. For a provider that speaks the client's protocol natively the
//! body goes upstream as sent and a codec's usage reader only reads the
//! billing numbers on the way back. Both readers give a
//! [`PassThroughUsage`], scan a stream's lines with one scanner (here, next
//! to `sniff`) and read a whole JSON answer in one typed parse
//! (`read_body`).
//!
//! | module | protocol | route |
//! |---|---|---|
//! | [`messages`] | Anthropic Messages (Claude Code, the Anthropic SDKs) | `POST /api/v1/messages`, `POST /api/v1/messages/count_tokens` |
//! | [`responses`] | OpenAI Responses (Codex, the OpenAI SDKs' `responses.create` / `responses.stream`) | `POST /api/v1/responses` |

pub mod messages;
pub mod responses;

use crate::types::Usage;

/// How a passed-through answer starts: the offset of its first
/// non-whitespace byte, and whether it is a JSON body (else an SSE stream);
/// `None` while only whitespace came (the usage readers decide once).
pub(crate) fn sniff(bytes: &[u8]) -> Option<(usize, bool)> {
    let first = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    Some((first, bytes[first..].starts_with(b"{")))
}

/// What a passed-through answer reported: the result of both protocols'
/// usage readers ([`messages::UsageReader`], [`responses::UsageReader`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassThroughUsage {
    /// The usage in neutral terms.
    pub usage: Usage,
    /// The model the provider says answered.
    pub model: Option<String>,
}

/// Bytes of an SSE line looked at to decide whether to keep it
/// ([`SseSink::wanted`]).
const HEAD: usize = 256;
/// The largest JSON body a usage reader is fed in pieces.
const JSON_CAP: usize = 64 << 20;

/// What a usage reader does with the lines of a passed-through stream.
pub(crate) trait SseSink {
    /// Whether a line is to be kept, given its first bytes (at most
    /// [`HEAD`]; the whole line when shorter). Blank lines are always given.
    fn wanted(&self, head: &[u8]) -> bool;
    /// A whole kept line, without its line end; empty for the blank line
    /// that ends an event.
    fn line(&mut self, line: &[u8]);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unknown,
    /// A JSON body (`{`).
    Json,
    /// Server-sent events.
    Sse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// Fewer than [`HEAD`] bytes seen: still deciding.
    Deciding,
    Keep,
    /// Not wanted, or longer than the cap.
    Skip,
}

/// The part of a pass-through usage reader both protocols share: what the
/// answer is (decided by its first non-blank byte: [`sniff`]), an SSE
/// stream's lines (ended by LF, CR or CRLF; a line is kept only when its
/// sink wants it and only up to `cap` bytes, longer ones are skipped), and a
/// JSON body fed in pieces (kept, up to [`JSON_CAP`], for the protocol's
/// one-shot `read_body`).
#[derive(Debug)]
pub(crate) struct PassThroughScan {
    mode: Mode,
    /// The longest line kept.
    cap: usize,
    /// SSE: the current line (kept, or its head while deciding); JSON: the
    /// body so far.
    pub(crate) buf: Vec<u8>,
    state: Line,
    /// Whether the current line has any byte (kept or not).
    started: bool,
    /// A `\r` ended the last line (a following `\n` is part of it).
    after_cr: bool,
    /// JSON: the body outgrew [`JSON_CAP`].
    overflow: bool,
}

impl PassThroughScan {
    /// A scan at the start of an answer, keeping lines up to `cap` bytes.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            mode: Mode::Unknown,
            cap,
            buf: Vec::new(),
            state: Line::Deciding,
            started: false,
            after_cr: false,
            overflow: false,
        }
    }

    /// Reads the next bytes of the answer: a stream's lines go to `sink`.
    pub(crate) fn push(&mut self, mut bytes: &[u8], sink: &mut impl SseSink) {
        if self.mode == Mode::Unknown {
            let Some((first, json)) = sniff(bytes) else {
                return;
            };
            self.mode = if json { Mode::Json } else { Mode::Sse };
            bytes = &bytes[first..];
        }
        match self.mode {
            Mode::Json => {
                if self.overflow || self.buf.len() + bytes.len() > JSON_CAP {
                    self.overflow = true;
                    self.buf = Vec::new();
                } else {
                    self.buf.extend_from_slice(bytes);
                }
            }
            Mode::Sse => self.lines(bytes, sink),
            Mode::Unknown => {}
        }
    }

    /// Ends the answer: a stream's last line (without a line end) goes to
    /// `sink`; a JSON body is returned whole, for the protocol's
    /// `read_body` (`None` for a stream, or a body over [`JSON_CAP`]).
    pub(crate) fn finish(&mut self, sink: &mut impl SseSink) -> Option<Vec<u8>> {
        match self.mode {
            Mode::Sse => {
                if self.started {
                    self.end_line(sink);
                }
                None
            }
            Mode::Json if !self.overflow => Some(std::mem::take(&mut self.buf)),
            _ => None,
        }
    }

    fn lines(&mut self, mut bytes: &[u8], sink: &mut impl SseSink) {
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
                    self.feed(&bytes[..end], sink);
                    self.after_cr = bytes[end] == b'\r';
                    self.end_line(sink);
                    bytes = &bytes[end + 1..];
                }
                None => {
                    self.feed(bytes, sink);
                    bytes = &[];
                }
            }
        }
    }

    /// Part of a line.
    fn feed(&mut self, piece: &[u8], sink: &impl SseSink) {
        self.started |= !piece.is_empty();
        match self.state {
            Line::Skip => {}
            Line::Keep => self.keep(piece),
            Line::Deciding => {
                let room = HEAD.saturating_sub(self.buf.len()).min(piece.len());
                self.buf.extend_from_slice(&piece[..room]);
                if self.buf.len() >= HEAD {
                    if sink.wanted(&self.buf) {
                        self.state = Line::Keep;
                        self.keep(&piece[room..]);
                    } else {
                        self.state = Line::Skip;
                        self.buf.clear();
                    }
                }
            }
        }
    }

    /// Appends to a kept line, unless it grows over the cap (then skipped).
    fn keep(&mut self, piece: &[u8]) {
        if self.buf.len() + piece.len() > self.cap {
            self.state = Line::Skip;
            self.buf = Vec::new();
        } else {
            self.buf.extend_from_slice(piece);
        }
    }

    fn end_line(&mut self, sink: &mut impl SseSink) {
        let read = match self.state {
            Line::Deciding => !self.started || sink.wanted(&self.buf),
            Line::Keep => true,
            Line::Skip => false,
        };
        if read {
            sink.line(&self.buf);
        }
        self.buf.clear();
        self.state = Line::Deciding;
        self.started = false;
    }
}

/// A client's request that the codec cannot accept: answered with a 400
/// naming [`InboundError::param`] in the client's own protocol (the server
/// writes the body; Messages: [`messages::error_body`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InboundError {
    /// The body is not JSON, or not of the protocol's shape (a required
    /// field missing, a field of the wrong type).
    #[error("{0}")]
    Malformed(String),
    /// A field holds a value the protocol does not allow, or one that would
    /// change the answer and cannot be carried to the provider.
    #[error("{message}")]
    Invalid {
        /// What is wrong and what to do instead.
        message: String,
        /// The offending field, when one is to blame.
        param: Option<String>,
    },
}

impl InboundError {
    /// The offending field, when one is to blame.
    pub fn param(&self) -> Option<&str> {
        match self {
            Self::Invalid { param, .. } => param.as_deref(),
            Self::Malformed(_) => None,
        }
    }

    /// An [`InboundError::Invalid`] naming `param`.
    pub(crate) fn invalid(message: impl Into<String>, param: &str) -> Self {
        Self::Invalid {
            message: message.into(),
            param: Some(param.to_owned()),
        }
    }
}
