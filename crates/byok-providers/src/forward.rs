//! Pass-through: a request in the provider's own protocol (Anthropic
//! Messages to `anthropic`, a Responses body to `openai-responses`, an
//! embeddings body to an OpenAI-dialect provider) goes upstream as the
//! client sent it, with only the key added, and the answer comes back as
//! the provider sent it, streamed as it arrives.
//!
//! The same target resolution, shared client, response timeout, idle
//! timeout, body limit and sanitised errors as the translated calls: a
//! non-success status is a [`ProviderError::Upstream`] (the key redacted),
//! so a gateway answers it in the client's own protocol and can fall back
//! before the first byte.
//!
//! Bedrock signs each request over its body (SigV4), so a pass-through
//! there ([`signed`]) is a whole `POST` of the runtime endpoint's `op`
//! (`model/{modelId}/invoke`, `InvokeModel`), never streamed and with no
//! protocol headers; a [`ForwardBody::Batch`] is one signed call per body,
//! [`BATCH_CONCURRENCY`] at a time, answered with the JSON array of the
//! answers in order (Titan embeds one text a call).

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use http::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use secrecy::ExposeSecret as _;

use crate::credential::Credential;
use crate::error::{ProviderError, TimeoutPhase};
use crate::http::{Endpoint, Upstream, read_body, send};
use crate::id::ProviderId;
use crate::translators::Dialect;

/// How many calls of a signed batch are in flight at once.
pub(crate) const BATCH_CONCURRENCY: usize = 4;

/// A request to forward: the operation's path relative to the format's API
/// root (`messages`, `messages/count_tokens`, `responses`, `embeddings`;
/// Bedrock's `model/{modelId}/invoke`, whole and signed, see
/// [`ChatProvider::forward`](crate::ChatProvider::forward)), the body as it
/// goes upstream, and the client headers the protocol needs
/// (`anthropic-version`, `anthropic-beta`: never an auth header).
#[derive(Debug)]
pub struct Forward<'a> {
    /// The operation, e.g. `messages`.
    pub op: &'a str,
    /// The body (or, to a provider that signs each call, the bodies),
    /// sent unchanged.
    pub body: ForwardBody,
    /// Protocol headers to pass on.
    pub headers: &'a [(HeaderName, HeaderValue)],
    /// Whether the answer is a stream (asks for `text/event-stream`).
    pub stream: bool,
}

/// What a forwarded request sends: one body, or a batch of calls' bodies
/// (only to a provider that signs each call, Bedrock: each sent as its own
/// call, the answer the JSON array of their answers in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardBody {
    /// One call's body.
    One(Bytes),
    /// The bodies of several calls of the same operation.
    Batch(Vec<Bytes>),
}

impl Default for ForwardBody {
    fn default() -> Self {
        Self::One(Bytes::new())
    }
}

impl From<Bytes> for ForwardBody {
    fn from(body: Bytes) -> Self {
        Self::One(body)
    }
}

impl From<Vec<u8>> for ForwardBody {
    fn from(body: Vec<u8>) -> Self {
        Self::One(Bytes::from(body))
    }
}

/// A successful answer: its content type and its body, as a stream of the
/// upstream's bytes (idle timeout between pieces; a whole body for a
/// non-streamed request, read within the size limit).
pub struct Forwarded {
    /// The upstream's `content-type`, when it sent one.
    pub content_type: Option<HeaderValue>,
    /// The body.
    pub body: BoxStream<'static, Result<Bytes, ProviderError>>,
}

impl std::fmt::Debug for Forwarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarded")
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

/// Headers a client may not pass on: they carry credentials or framing the
/// gateway sets itself.
fn passable(name: &HeaderName) -> bool {
    let n = name.as_str();
    !(n == "authorization"
        || n == "x-api-key"
        || n == "api-key"
        || n == "x-goog-api-key"
        || n == "content-length"
        || n == "host"
        || n == "cookie")
}

impl Upstream {
    /// Sends `request` to the credential's target, authorised; the answer
    /// as it comes. A batch is refused: only a signing dialect sends one.
    pub(crate) async fn forward(
        &self,
        request: Forward<'_>,
        credential: &Credential,
    ) -> Result<Forwarded, ProviderError> {
        let ForwardBody::One(body) = request.body else {
            return Err(ProviderError::Unsupported {
                provider: self.id,
                what: "a batch of calls in one pass-through".into(),
            });
        };
        let Endpoint { url, auth, secret } = self.endpoint(credential, request.op)?;
        let mut builder = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json");
        for (name, value) in request.headers.iter().filter(|(n, _)| passable(n)) {
            builder = builder.header(name, value.clone());
        }
        builder = builder.header(auth.0, auth.1);
        if request.stream {
            builder = builder.header(ACCEPT, "text/event-stream");
        }
        let builder = builder.body(body);
        let response = send(self.id, &self.config, builder, Some(secret.expose_secret())).await?;
        let content_type = response.headers().get(CONTENT_TYPE).cloned();
        let body = if request.stream {
            byte_stream(self.id, response, self.config.timeouts.idle)
        } else {
            let limit = self.config.limits.max_body_bytes;
            let bytes = read_body(self.id, response, limit, self.config.timeouts.idle).await?;
            futures_util::stream::once(async move { Ok(Bytes::from(bytes)) }).boxed()
        };
        Ok(Forwarded { content_type, body })
    }
}

/// A pass-through to a dialect that signs each body (Bedrock): `op` with
/// the body as one signed call, or, for a [`ForwardBody::Batch`], one
/// signed call per body ([`BATCH_CONCURRENCY`] at once, the first failure
/// ending the batch), the answer then the JSON array of the answers in
/// order, within the body size limit.
///
/// # Errors
/// [`ProviderError::Unsupported`] for a streamed request or one with
/// protocol headers (they would have to be signed too); otherwise the first
/// call's error.
pub(crate) async fn signed<D: Dialect>(
    dialect: &D,
    request: Forward<'_>,
    credential: &Credential,
) -> Result<Forwarded, ProviderError> {
    let upstream = dialect.upstream();
    if request.stream || !request.headers.is_empty() {
        return Err(ProviderError::Unsupported {
            provider: upstream.id,
            what: "a streamed pass-through, or one with protocol headers (each request is signed)"
                .into(),
        });
    }
    let op = request.op;
    let one = move |body: Bytes| async move {
        let (builder, secret) = dialect.signed_request(op, body.into(), credential)?;
        upstream.fetch(builder, &secret).await
    };
    let body = match request.body {
        ForwardBody::One(body) => one(body).await?,
        ForwardBody::Batch(bodies) => {
            let answers: Vec<Vec<u8>> = futures_util::stream::iter(bodies)
                .map(one)
                .buffered(BATCH_CONCURRENCY)
                .try_collect()
                .await?;
            let limit = upstream.config.limits.max_body_bytes;
            let size = answers.iter().map(|a| a.len() + 1).sum::<usize>() + 1;
            if size > limit {
                return Err(ProviderError::TooLarge {
                    provider: upstream.id,
                    limit,
                });
            }
            let mut all = Vec::with_capacity(size);
            all.push(b'[');
            for (i, answer) in answers.iter().enumerate() {
                if i > 0 {
                    all.push(b',');
                }
                all.extend_from_slice(answer);
            }
            all.push(b']');
            all
        }
    };
    Ok(Forwarded {
        content_type: Some(HeaderValue::from_static("application/json")),
        body: futures_util::stream::once(async move { Ok(Bytes::from(body)) }).boxed(),
    })
}

/// The response's bytes as they arrive, failing after `idle` without any.
fn byte_stream(
    provider: ProviderId,
    response: crate::transport::Response,
    idle: Duration,
) -> BoxStream<'static, Result<Bytes, ProviderError>> {
    let body = response.bytes_stream().boxed();
    futures_util::stream::unfold(Some(body), move |body| async move {
        let mut body = body?;
        match tokio::time::timeout(idle, body.next()).await {
            Err(_) => Some((
                Err(ProviderError::Timeout {
                    provider,
                    phase: TimeoutPhase::Body,
                }),
                None,
            )),
            Ok(None) => None,
            Ok(Some(Err(e))) => Some((
                Err(ProviderError::from_transport(
                    provider,
                    &e,
                    TimeoutPhase::Body,
                )),
                None,
            )),
            Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(body))),
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_never_passed_on() {
        for n in [
            "authorization",
            "x-api-key",
            "api-key",
            "x-goog-api-key",
            "cookie",
            "host",
        ] {
            assert!(!passable(&HeaderName::from_static(n)), "{n}");
        }
        for n in ["anthropic-version", "anthropic-beta", "openai-beta"] {
            assert!(passable(&HeaderName::from_static(n)), "{n}");
        }
    }
}
