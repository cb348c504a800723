//! Key redaction and bounded body reads, shared by byok's provider crates.
//!
//! Both chat (`byok-providers`) and search (`byok-search`) adapters talk to
//! upstreams that sometimes echo the caller's key in their error messages
//! ("Incorrect API key provided: sk-...abcd") and may answer with bodies of
//! any size. This crate is the single place that handles both:
//!
//! - [`sanitize`] removes every key-like token (and every token sharing an
//!   8-byte piece with the caller's secret) from an upstream message, strips
//!   control characters and bounds the length;
//! - [`read_response`] / [`read_stream`] read a body up to a byte limit with
//!   an idle timeout between pieces, failing with a typed [`ReadError`] that
//!   each crate maps to its own error type.
//!
//! It depends on no other `byok-*` crate.
//!
//! ```
//! let key = "sk-CANARY-7f3a9b2c4d5e6f708192a3b4";
//! let clean = byok_redact::sanitize(&format!("Incorrect API key provided: {key}."), Some(key));
//! assert_eq!(clean, "Incorrect API key provided: [redacted]");
//! ```
#![deny(missing_docs)]

mod read;
mod sanitize;

pub use read::{ReadError, read_response, read_stream};
pub use sanitize::{MAX_MESSAGE_CHARS, REDACTED, sanitize};
