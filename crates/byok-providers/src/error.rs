//! Typed errors. None of them ever holds a key, a piece of one, or a raw
//! upstream body: upstream messages pass through [`sanitize`] (from
//! `byok-redact`) first, and
//! HTTP-client errors are reduced to their kind (their text may hold URLs).

use std::time::Duration;

use crate::id::ProviderId;

/// What went wrong upstream, by HTTP status class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamErrorKind {
    /// 400 or another 4xx not listed here: the provider refused the request.
    BadRequest,
    /// 401: the provider rejected the credential.
    Unauthorized,
    /// 403: the credential may not use this model or feature.
    Forbidden,
    /// 404: unknown model or deployment.
    NotFound,
    /// 408: the provider timed out.
    RequestTimeout,
    /// 413: the request was too large for the provider.
    PayloadTooLarge,
    /// 429: rate limited or out of quota.
    RateLimited,
    /// 5xx.
    ServerError,
}

impl UpstreamErrorKind {
    /// The kind of an HTTP status.
    pub fn from_status(status: u16) -> Self {
        match status {
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            408 => Self::RequestTimeout,
            413 => Self::PayloadTooLarge,
            429 => Self::RateLimited,
            500..=599 => Self::ServerError,
            _ => Self::BadRequest,
        }
    }
}

/// Where a timeout happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutPhase {
    /// Waiting for the response headers.
    Response,
    /// Waiting for the next piece of the body or stream.
    Body,
}

/// An error from a provider call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The request is invalid before anything is sent (maps to 400).
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong.
        message: String,
        /// The offending parameter.
        param: Option<String>,
    },
    /// The provider answered with an error status.
    #[error("{provider} returned {status}: {message}")]
    Upstream {
        /// The provider.
        provider: ProviderId,
        /// The upstream HTTP status.
        status: u16,
        /// Its class.
        kind: UpstreamErrorKind,
        /// The provider's message, sanitised (no key or key-like token).
        message: String,
        /// The provider's `type`/`code`, if short and simple.
        code: Option<String>,
        /// `retry-after`, when the provider sent one.
        retry_after: Option<Duration>,
    },
    /// The provider sent an error object inside a stream.
    #[error("{provider} reported an error mid-stream: {message}")]
    MidStream {
        /// The provider.
        provider: ProviderId,
        /// The sanitised message.
        message: String,
        /// The provider's code, if any.
        code: Option<String>,
    },
    /// No answer in time.
    #[error("{provider} did not answer in time")]
    Timeout {
        /// The provider.
        provider: ProviderId,
        /// Where it stalled.
        phase: TimeoutPhase,
    },
    /// The connection failed or was reset.
    #[error("connection to {provider} failed: {reason}")]
    Connection {
        /// The provider.
        provider: ProviderId,
        /// A short, URL-free reason (`connect`, `reset`, `tls`, ...).
        reason: &'static str,
    },
    /// The provider's answer could not be parsed.
    #[error("{provider} sent a malformed response: {what}")]
    Malformed {
        /// The provider.
        provider: ProviderId,
        /// What was malformed (never the bytes themselves).
        what: String,
    },
    /// The stream ended before its terminator.
    #[error("{provider} ended the stream early")]
    StreamTruncated {
        /// The provider.
        provider: ProviderId,
    },
    /// The provider's answer exceeded the size limit.
    #[error("{provider} sent more than {limit} bytes")]
    TooLarge {
        /// The provider.
        provider: ProviderId,
        /// The limit in bytes.
        limit: usize,
    },
    /// The request uses something this provider cannot express (maps to 400).
    #[error("{provider} does not support {what}")]
    Unsupported {
        /// The provider.
        provider: ProviderId,
        /// What is unsupported.
        what: String,
    },
    /// The stored credential does not fit this provider (maps to 400/422).
    #[error("credential error: {0}")]
    Credential(#[from] CredentialError),
}

impl ProviderError {
    pub(crate) fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_owned),
        }
    }

    /// Maps a transport error to a URL-free error: a timeout anywhere in
    /// its chain (the connect timeout) is a [`ProviderError::Timeout`] in
    /// `phase`; otherwise a [`ProviderError::Connection`] naming the step.
    pub(crate) fn from_transport(
        provider: ProviderId,
        e: &crate::transport::TransportError,
        phase: TimeoutPhase,
    ) -> Self {
        use crate::transport::TransportError as T;
        if timed_out(e) {
            return Self::Timeout { provider, phase };
        }
        let reason = match e {
            T::Url | T::Header => "request",
            T::Connect(_) => "connect",
            T::Body(_) => "reset while reading the body",
            _ => "network",
        };
        Self::Connection { provider, reason }
    }
}

/// A credential that fails validation. Messages name fields, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The key is empty.
    #[error("the key is empty")]
    Empty,
    /// The key or document is over the size limit.
    #[error("the credential is longer than {0} bytes")]
    TooLong(usize),
    /// The key holds characters that cannot go in an HTTP header.
    #[error("the key contains {0}")]
    BadCharacters(&'static str),
    /// The JSON document is not valid JSON or not an object.
    #[error("the credential must be a JSON object: {0}")]
    NotJson(String),
    /// A required field is missing.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field is not a string or is empty.
    #[error("field `{0}` must be a non-empty string")]
    WrongType(String),
    /// A field this provider does not know.
    #[error("unknown field `{0}`")]
    UnknownField(String),
    /// The AWS region is not a region name.
    #[error("`region` must look like `us-east-1`")]
    BadRegion,
    /// The endpoint breaks the endpoint rules.
    #[error("`endpoint` {0}")]
    BadEndpoint(&'static str),
    /// The API version is not a plausible Azure API version.
    #[error("`apiVersion` must be `v1` or a date like `2024-10-21` (optionally `-preview`)")]
    BadApiVersion,
    /// The deployment name has characters that cannot go in a URL path.
    #[error("`deploymentName` may contain only letters, digits, `-`, `_` and `.`")]
    BadDeployment,
    /// This credential belongs to another provider.
    #[error("this credential is for another provider")]
    WrongProvider,
    /// A `region` or `plan` value the provider does not have (the value
    /// given is never echoed; `allowed` comes from the provider table).
    #[error("`{field}` must be {allowed}")]
    BadChoice {
        /// The field (`region`, `plan`).
        field: &'static str,
        /// What it may be, e.g. `` `cn`, or left out for the default host ``.
        allowed: String,
    },
}

/// Why a model could not be routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// `x-byok-provider` names no known provider.
    #[error("unknown provider `{0}` in x-byok-provider")]
    UnknownProvider(String),
    /// The named or inferred provider has no credential of the user's.
    #[error(
        "model `{model}` needs a credential for {}; add one with PUT /api/byok/credentials/{{provider}}",
        needed.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" or ")
    )]
    MissingCredential {
        /// The model asked for.
        model: String,
        /// Providers that would serve it, in routing order.
        needed: Vec<ProviderId>,
    },
    /// No rule maps the model to a provider.
    #[error(
        "cannot tell which provider serves model `{0}`; set the x-byok-provider header or write the model as <provider>/<model>"
    )]
    UnknownModel(String),
    /// The model id is empty or absurdly long.
    #[error("invalid model id")]
    InvalidModel,
}

/// The one redaction of upstream messages, from `byok-redact` (re-exported
/// here so callers keep `byok_providers::sanitize`).
pub use byok_redact::sanitize;

/// Whether an I/O timeout or hyper's own is anywhere in `e`'s chain.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
        {
            return true;
        }
        next = e.source();
    }
    false
}
