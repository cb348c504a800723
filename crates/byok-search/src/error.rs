//! Search errors. None carries a key, a piece of one, or a raw upstream body.

use std::time::Duration;

use crate::id::SearchProviderId;

/// What went wrong upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamKind {
    /// 400 and other 4xx.
    BadRequest,
    /// 401/403: the key was rejected.
    Unauthorized,
    /// 429.
    RateLimited,
    /// Tavily 432/433: the plan's or pay-as-you-go limit is exhausted.
    PlanLimit,
    /// 5xx.
    ServerError,
}

impl UpstreamKind {
    fn of(status: u16) -> Self {
        match status {
            401 | 403 => Self::Unauthorized,
            429 => Self::RateLimited,
            432 | 433 => Self::PlanLimit,
            500..=599 => Self::ServerError,
            _ => Self::BadRequest,
        }
    }
}

/// A search error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// The request is invalid (400).
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// The parameter.
        param: String,
    },
    /// The id names no search provider (a chat provider id, say): 400.
    #[error("`{0}` is not a web-search provider (tavily, exa, kagi, perplexity)")]
    NotASearchProvider(String),
    /// The provider cannot honour a parameter (400).
    #[error("{provider} does not support {what}")]
    Unsupported {
        /// The provider.
        provider: SearchProviderId,
        /// What.
        what: String,
    },
    /// The provider answered with an error status.
    #[error("{provider} returned {status}: {message}")]
    Upstream {
        /// The provider.
        provider: SearchProviderId,
        /// HTTP status.
        status: u16,
        /// Its class.
        kind: UpstreamKind,
        /// Sanitised message.
        message: String,
        /// `retry-after`.
        retry_after: Option<Duration>,
    },
    /// No answer in time.
    #[error("{0} did not answer in time")]
    Timeout(SearchProviderId),
    /// The connection failed.
    #[error("connection to {0} failed")]
    Connection(SearchProviderId),
    /// The answer could not be parsed.
    #[error("{provider} sent a malformed response: {what}")]
    Malformed {
        /// The provider.
        provider: SearchProviderId,
        /// What was malformed.
        what: String,
    },
    /// The answer was too large.
    #[error("{0} sent too large a response")]
    TooLarge(SearchProviderId),
}

impl SearchError {
    pub(crate) fn invalid(message: impl Into<String>, param: &str) -> Self {
        Self::Invalid {
            message: message.into(),
            param: param.to_owned(),
        }
    }

    pub(crate) fn upstream(
        provider: SearchProviderId,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    ) -> Self {
        Self::Upstream {
            provider,
            status,
            kind: UpstreamKind::of(status),
            message,
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Search's redaction is `byok_redact::sanitize` with the key as the
    /// secret (as `http.rs` calls it).
    #[test]
    fn sanitize_drops_keys() {
        let key = "tvly-dev-CANARY0123456789abcdef";
        let s = byok_redact::sanitize(
            &format!("Unauthorized: missing or invalid API key {key}."),
            Some(key),
        );
        assert!(!s.contains("CANARY0123"), "{s}");
        assert!(s.starts_with("Unauthorized: missing"));
        assert_eq!(UpstreamKind::of(432), UpstreamKind::PlanLimit);
        assert_eq!(UpstreamKind::of(403), UpstreamKind::Unauthorized);
    }
}
