//! The OpenAI chat-completions dialect, for every provider that speaks it.
//!
//! `request.rs` encodes the request, `response.rs` reads a whole answer
//! (and decides whether it may be forwarded verbatim), `stream.rs` is the
//! stream state machine, `scan.rs` reads the common chunk and the common
//! answer in one pass (falling back to serde's strict reading, which it
//! never contradicts).
//!
//! One adapter, parameterised by the provider's row in [`crate::PROVIDERS`]
//! (base URL and [`Quirks`]).
//!
//! It is lossless (style item 13): the neutral types keep what the gateway
//! does not read as raw JSON, so every request field, message key, content
//! part (`file`, `input_audio`, `video_url`, ... and `cache_control` inside
//! parts), custom tool and `tool_choice` shape goes upstream as the client
//! sent it, `null`, `false` and default values included; and every field
//! of an answer (`reasoning`, `reasoning_details`, `annotations`, `audio`,
//! `logprobs`, `provider`, `x_groq`, usage extras, ...) comes back. What it
//! changes, and nothing else:
//!
//! - the model (Azure: the deployment name) and `stream`;
//! - when streaming it always asks upstream for usage: `include_usage: true`
//!   merged into the client's own `stream_options` (unless the provider's
//!   quirks say it refuses the field, then none is sent); usage is taken
//!   from whichever chunk carries it (`usage` or Groq's `x_groq.usage`), and
//!   the client gets one OpenAI-shaped usage chunk (`choices: []`) before
//!   `[DONE]` only if it asked for it;
//! - the token limit: `max_completion_tokens` becomes `max_tokens` for
//!   providers that prefer it; `max_tokens` becomes `max_completion_tokens`
//!   for models that refuse it (`o1`/`o3`/`o4`..., `gpt-5` and later:
//!   [`request::requires_max_completion_tokens`]);
//! - finish reasons outside OpenAI's set read as `stop`.
//!
//! Fields that choose an upstream are refused ([`ChatRequest::validate`]).
//!
//! Chunks pass through as they arrive, one SSE event at a time, with at most
//! one event buffered ([`crate::Limits::max_event_bytes`]). A chunk in
//! OpenAI's shape (the fields OpenAI documents plus the extras dialect
//! providers commonly add, at every level; a standard finish reason; no
//! usage; one line) is marked [`Translated::Verbatim`]: its bytes may be
//! forwarded as they came instead of re-serialising the parsed chunk, which
//! says the same (every listed field lands in it). Whole answers follow the
//! same rule (`response.rs`). SSE comment lines are skipped; chunks with
//! empty `choices` and no usage (Azure's `prompt_filter_results`) are
//! dropped; an `error` object in a chunk (OpenRouter) ends the stream with
//! [`ProviderError::MidStream`]; a stream that ends without `[DONE]` is
//! [`ProviderError::StreamTruncated`].

mod request;
mod response;
mod scan;
mod stream;

use std::sync::Arc;

use ::http::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use secrecy::SecretString;
use serde::Deserialize;

pub use self::request::encode_request;

pub(crate) use self::response::strict_response;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use self::scan::response as scan_response;
pub(crate) use self::scan::{Scanned, scan};
pub(crate) use self::stream::{OpenAiStream, StrictChunk, verbatim_chunk};
pub use self::stream::{Translated, translate_event};
use crate::credential::Credential;
use crate::error::ProviderError;
use crate::http::{self, Sse, Upstream};
use crate::id::{ProviderId, Quirks, TargetKind};
use crate::provider::{ChatOutcome, ProviderConfig};
use crate::target::Target;
use crate::translators::Dialect;
use crate::types::{ChatRequest, ModelInfo};

/// An OpenAI-dialect provider.
pub struct OpenAiCompatible {
    up: Upstream,
    /// `{base}/chat/completions` for a base-URL target, parsed once (a URL
    /// parse costs about as much as the rest of building the upstream
    /// request).
    chat_url: Option<::http::Uri>,
    quirks: Quirks,
}

impl std::fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("id", &self.up.id)
            .field("quirks", &self.quirks)
            .finish_non_exhaustive()
    }
}

impl OpenAiCompatible {
    /// An adapter for `id` at `base` (e.g. `https://api.groq.com/openai/v1`),
    /// with `quirks`; the URL shape and auth header follow `id`'s target
    /// ([`crate::TargetKind`]). The [`crate::Registry`] builds one per
    /// OpenAI-chat row with [`crate::ProviderConfig::base_url`] and the
    /// row's quirks.
    pub fn new(
        id: ProviderId,
        base: String,
        quirks: Quirks,
        client: crate::transport::HttpClient,
        config: Arc<ProviderConfig>,
    ) -> Self {
        let up = Upstream::new(id, &base, client, config);
        let chat_url = (id.info().target == TargetKind::BaseUrl)
            .then(|| crate::transport::parse_url(&format!("{}/chat/completions", up.base)))
            .flatten();
        Self {
            up,
            chat_url,
            quirks,
        }
    }

    /// URL of `op` (`chat/completions` or `models`) and the auth header.
    fn endpoint(
        &self,
        credential: &Credential,
        op: &str,
    ) -> Result<(::http::Uri, HeaderName, HeaderValue, SecretString), ProviderError> {
        let target = Target::resolve(self.up.id, &self.up.base, credential)?;
        let (name, auth) = target.auth()?;
        let url = match &self.chat_url {
            Some(url) if op == "chat/completions" && target.at_configured_base() => url.clone(),
            _ => crate::transport::parse_url(&target.url(op)).ok_or(ProviderError::Connection {
                provider: self.up.id,
                reason: "invalid upstream URL",
            })?,
        };
        Ok((url, name, auth, target.secret().clone()))
    }
}

/// Azure selects the deployment by URL (dated versions) or by `model`
/// (`v1`): send the deployment name as the model either way.
fn azure_model(credential: &Credential) -> Option<&str> {
    match credential {
        Credential::Azure(a) => a.deployment.as_deref(),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ModelList {
    Wrapped { data: Vec<ModelInfo> },
    Bare(Vec<ModelInfo>),
}

impl Dialect for OpenAiCompatible {
    type Stream = Sse<OpenAiStream>;

    fn upstream(&self) -> &Upstream {
        &self.up
    }

    /// The upstream chat request (validated, encoded, authorised) and the
    /// key it carries (for sanitising errors).
    fn chat_request(
        &self,
        request: &ChatRequest,
        credential: &Credential,
        stream: bool,
    ) -> Result<(crate::transport::RequestBuilder, SecretString), ProviderError> {
        request.validate()?;
        let (url, name, auth, secret) = self.endpoint(credential, "chat/completions")?;
        let body = request::body(request, self.quirks, stream, azure_model(credential))?;
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        let builder = self
            .up
            .client
            .post(url)
            .header(name, auth)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, accept)
            .body(body);
        Ok((builder, secret))
    }

    /// The answer; its bytes too when they may be forwarded as they came.
    fn decode(&self, _: &ChatRequest, bytes: Vec<u8>) -> Result<ChatOutcome, ProviderError> {
        // The common answer in one pass (`scan.rs`), else serde's strict
        // reading, else the lenient one.
        let read = scan::response(&bytes)
            .map(|r| (r, true))
            .or_else(|| strict_response(&bytes));
        let (response, verbatim) = match read {
            Some((response, true)) => (response, Some(bytes::Bytes::from(bytes))),
            Some((response, false)) => (response, None),
            None => (http::parse_json(self.up.id, "response body", &bytes)?, None),
        };
        let mut outcome = ChatOutcome::new(response);
        outcome.verbatim = verbatim;
        Ok(outcome)
    }

    fn translator(&self, request: &ChatRequest, secret: SecretString) -> Self::Stream {
        let translator = OpenAiStream::new(self.up.id, request.wants_stream_usage(), secret);
        Sse::new(self.up.id, &self.up.config, translator)
    }

    fn models_request(
        &self,
        credential: &Credential,
    ) -> Result<(crate::transport::RequestBuilder, SecretString), ProviderError> {
        let (url, name, auth, secret) = self.endpoint(credential, "models")?;
        Ok((self.up.client.get(url).header(name, auth), secret))
    }

    fn models(&self, bytes: &[u8]) -> Result<Vec<ModelInfo>, ProviderError> {
        match http::parse_json::<ModelList>(self.up.id, "model list", bytes)? {
            ModelList::Wrapped { data } | ModelList::Bare(data) => Ok(data),
        }
    }
}
