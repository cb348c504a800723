//! API errors in OpenAI's shape, and the mapping from every crate's errors
//! to HTTP statuses (the only place that decides statuses).

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use byok_providers::{CredentialError, ProviderError, RouteError, UpstreamErrorKind};
use byok_search::SearchError;
use byok_vault::{StoreError, VaultError};

/// An error answer: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human-readable message (never holds a key).
    pub message: String,
    /// OpenAI-style type.
    pub kind: &'static str,
    /// The offending parameter.
    pub param: Option<String>,
    /// A short machine code.
    pub code: Option<String>,
    /// `retry-after` seconds.
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// The one 401 for every authentication failure.
    pub fn unauthorized() -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid or missing API key",
        );
        e.code = Some("invalid_api_key".into());
        e
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found_error", message)
    }

    /// 429 for a user over the request rate limit, with `retry-after`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "too many requests; slow down",
        )
        .code("rate_limited")
        .retry_after(Some(retry_after_secs))
    }

    /// 503 with `retry-after` while a shared resource (the vault's queue)
    /// is overloaded: the client may retry, unlike a 500.
    pub fn overloaded(retry_after_secs: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "the server is busy; retry shortly",
        )
        .code("overloaded")
        .retry_after(Some(retry_after_secs))
    }

    /// 413 for a body over `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("the request body is larger than {limit} bytes"),
        )
        .code("body_too_large")
    }

    /// 408 for a body not received within `secs` seconds.
    pub fn body_timeout(secs: u64) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            format!("the request body was not received within {secs} seconds"),
        )
        .code("body_read_timeout")
    }

    /// 400 for a body that is not the JSON expected. serde's messages can
    /// quote input: this gives position and category only.
    pub fn invalid_json(e: &serde_json::Error) -> Self {
        Self::bad_request(format!(
            "invalid JSON body ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    }

    /// 402 when a request's markup bound does not fit the balance.
    pub fn insufficient_balance(
        needed: impl std::fmt::Display,
        available: impl std::fmt::Display,
        affordable_output_tokens: u64,
    ) -> Self {
        let advice = if affordable_output_tokens == 0 {
            "not enough for the prompt alone".to_owned()
        } else {
            format!(
                "enough for up to {affordable_output_tokens} output tokens per choice: retry with max_tokens <= {affordable_output_tokens}"
            )
        };
        Self::new(
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_balance",
            format!("insufficient balance: this request may cost up to {needed} USD in markup and {available} USD is available, {advice}"),
        )
        .code("insufficient_balance")
    }

    /// 400 for a request that needs a provider key the user has not stored.
    pub fn no_credential(provider: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("no credential for {provider}"))
    }

    /// 500 without details (they are logged, without secrets).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    }

    /// Sets `param`.
    #[must_use]
    pub fn param(mut self, p: impl Into<String>) -> Self {
        self.param = Some(p.into());
        self
    }

    /// Sets `code`.
    #[must_use]
    pub fn code(mut self, c: impl Into<String>) -> Self {
        self.code = Some(c.into());
        self
    }

    /// Sets `retry_after` (seconds, sent as `retry-after`).
    #[must_use]
    pub fn retry_after(mut self, secs: Option<u64>) -> Self {
        self.retry_after = secs;
        self
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.insert_header((RETRY_AFTER, v));
        }
        r.json(self.body())
    }
}

/// An inbound codec's refusal (Messages, Responses): a 400 naming its field.
impl From<byok_providers::inbound::InboundError> for ApiError {
    fn from(e: byok_providers::inbound::InboundError) -> Self {
        let param = e.param().map(str::to_owned);
        let mut a = ApiError::bad_request(e.to_string());
        a.param = param;
        a
    }
}

impl From<RouteError> for ApiError {
    fn from(e: RouteError) -> Self {
        ApiError::bad_request(e.to_string())
            .param("model")
            .code("route")
    }
}

impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request_error",
            e.to_string(),
        )
        .param("key")
        .code("invalid_credential")
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        let message = e.to_string();
        match e {
            ProviderError::InvalidRequest { param, .. } => {
                let mut a = ApiError::bad_request(message);
                a.param = param;
                a
            }
            ProviderError::Unsupported { .. } => {
                ApiError::bad_request(message).code("unsupported_parameter")
            }
            ProviderError::Credential(c) => c.into(),
            ProviderError::Upstream {
                kind,
                retry_after,
                status,
                ..
            } => {
                let (st, kind_s) = match kind {
                    UpstreamErrorKind::RateLimited => {
                        (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error")
                    }
                    UpstreamErrorKind::RequestTimeout => {
                        (StatusCode::GATEWAY_TIMEOUT, "upstream_error")
                    }
                    UpstreamErrorKind::BadRequest
                    | UpstreamErrorKind::PayloadTooLarge
                    | UpstreamErrorKind::NotFound => {
                        (StatusCode::BAD_REQUEST, "invalid_request_error")
                    }
                    _ => (StatusCode::BAD_GATEWAY, "upstream_error"),
                };
                ApiError::new(st, kind_s, message)
                    .code(format!("upstream_{status}"))
                    .retry_after(whole_secs(retry_after))
            }
            ProviderError::Timeout { .. } => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "upstream_error", message)
                    .code("upstream_timeout")
            }
            _ => ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", message),
        }
    }
}

/// An upstream's `retry-after` in whole seconds, at least 1.
fn whole_secs(after: Option<std::time::Duration>) -> Option<u64> {
    after.map(|d| d.as_secs().max(1))
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        let message = e.to_string();
        match e {
            SearchError::Invalid { param, .. } => ApiError::bad_request(message).param(param),
            SearchError::NotASearchProvider(_) | SearchError::Unsupported { .. } => {
                ApiError::bad_request(message).param("provider")
            }
            SearchError::Upstream {
                kind, retry_after, ..
            } => {
                let st = match kind {
                    byok_search::UpstreamKind::RateLimited
                    | byok_search::UpstreamKind::PlanLimit => StatusCode::TOO_MANY_REQUESTS,
                    _ => StatusCode::BAD_GATEWAY,
                };
                ApiError::new(st, "upstream_error", message).retry_after(whole_secs(retry_after))
            }
            SearchError::Timeout(_) => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "upstream_error", message)
            }
            _ => ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", message),
        }
    }
}

/// A vault error: its queue full or its database busy is the 503 of an
/// overload (with `retry-after`); anything else is the logged 500.
pub fn vault(context: &str, e: &VaultError) -> ApiError {
    match e {
        VaultError::Overloaded | VaultError::Store(StoreError::Busy) => {
            tracing::warn!(context, error = %e, "vault overloaded");
            ApiError::overloaded(1)
        }
        _ => internal(context, e),
    }
}

/// Logs an internal error (never with secrets: our errors carry none) and
/// returns the opaque 500.
pub fn internal(context: &str, e: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(context, error = %e, "internal error");
    ApiError::internal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overloaded_vault_is_a_503_with_retry_after_never_a_500() {
        for e in [VaultError::Overloaded, VaultError::Store(StoreError::Busy)] {
            let a = vault("test", &e);
            assert_eq!((a.status.as_u16(), a.retry_after), (503, Some(1)), "{e}");
            let r = a.error_response();
            assert_eq!(r.status(), 503);
            assert_eq!(r.headers().get(RETRY_AFTER).unwrap(), "1");
        }
        let a = vault("test", &VaultError::WorkerGone);
        assert_eq!((a.status.as_u16(), a.retry_after), (500, None));
    }
}
