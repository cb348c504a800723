//! Shared HTTP plumbing for the adapters: the key sent per the table's
//! [`AuthScheme`], a whole-request timeout, a bounded body read, and
//! upstream errors mapped and sanitised (both from `byok-redact`).

use std::sync::Arc;
use std::time::Duration;

use byok_redact::{ReadError, sanitize};
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::SearchError;
use crate::id::{AuthScheme, SearchProviderId};
use crate::registry::SearchConfig;

/// What one adapter needs to talk to its provider.
pub(crate) struct Http {
    id: SearchProviderId,
    base: String,
    client: reqwest::Client,
    config: Arc<SearchConfig>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Http {
    pub(crate) fn new(
        id: SearchProviderId,
        client: reqwest::Client,
        config: Arc<SearchConfig>,
    ) -> Self {
        Self {
            id,
            base: config.base(id),
            client,
            config,
        }
    }

    pub(crate) fn id(&self) -> SearchProviderId {
        self.id
    }

    /// `{base}/{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    /// `POST {base}/{path}` with a JSON body. Returns the JSON answer.
    pub(crate) async fn post_json(
        &self,
        path: &str,
        body: &impl Serialize,
        key: &SecretString,
    ) -> Result<Value, SearchError> {
        self.send(self.client.post(self.url(path)).json(body), key)
            .await
    }

    /// `GET url`. Returns the JSON answer.
    pub(crate) async fn get(
        &self,
        url: url::Url,
        key: &SecretString,
    ) -> Result<Value, SearchError> {
        self.send(self.client.get(url), key).await
    }

    /// Adds the key, sends, reads a bounded body, maps errors. Returns the
    /// JSON body.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        key: &SecretString,
    ) -> Result<Value, SearchError> {
        let request = self.authorize(request, key)?;
        // One deadline for the whole request: sending and reading share it.
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        let response = match tokio::time::timeout_at(deadline, request.send()).await {
            Err(_) => return Err(SearchError::Timeout(self.id)),
            Ok(Err(e)) if e.is_timeout() => return Err(SearchError::Timeout(self.id)),
            Ok(Err(_)) => return Err(SearchError::Connection(self.id)),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = self.read_body(response, deadline).await?;
        self.parse(status, &body, retry_after, key)
    }

    /// Sets the key as the table says, marked sensitive.
    fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        key: &SecretString,
    ) -> Result<reqwest::RequestBuilder, SearchError> {
        Ok(match self.id.info().auth {
            AuthScheme::Authorization(scheme) => {
                let value = Zeroizing::new(format!("{scheme} {}", key.expose_secret()));
                request.header(AUTHORIZATION, sensitive(&value)?)
            }
            AuthScheme::Header(name) => request.header(
                HeaderName::from_static(name),
                sensitive(key.expose_secret())?,
            ),
        })
    }

    /// Reads the body, at most `max_body_bytes`, before the request's
    /// `deadline`.
    async fn read_body(
        &self,
        response: reqwest::Response,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<u8>, SearchError> {
        let id = self.id;
        let read =
            byok_redact::read_response(response, self.config.max_body_bytes, self.config.timeout);
        tokio::time::timeout_at(deadline, read)
            .await
            .map_err(|_| SearchError::Timeout(id))?
            .map_err(|e| match e {
                ReadError::TooLarge { .. } => SearchError::TooLarge(id),
                ReadError::Timeout => SearchError::Timeout(id),
                _ => SearchError::Connection(id),
            })
    }

    /// The JSON body of a success, or the sanitised upstream error.
    fn parse(
        &self,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
        key: &SecretString,
    ) -> Result<Value, SearchError> {
        let parsed: Result<Value, _> = serde_json::from_slice(body);
        if !(200..300).contains(&status) {
            let message = parsed
                .ok()
                .map(|v| error_message(&v))
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| format!("HTTP {status}"));
            return Err(self.upstream(status, &message, retry_after, key));
        }
        parsed.map_err(|e| SearchError::Malformed {
            provider: self.id,
            what: format!("response body at line {} column {}", e.line(), e.column()),
        })
    }

    /// An upstream error with `message` sanitised against `key`.
    pub(crate) fn upstream(
        &self,
        status: u16,
        message: &str,
        retry_after: Option<Duration>,
        key: &SecretString,
    ) -> SearchError {
        SearchError::upstream(
            self.id,
            status,
            sanitize(message, Some(key.expose_secret())),
            retry_after,
        )
    }
}

fn sensitive(text: &str) -> Result<HeaderValue, SearchError> {
    let mut v = HeaderValue::from_str(text).map_err(|_| {
        SearchError::invalid(
            "the stored key has characters not allowed in a header",
            "key",
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// The message of the error shapes the four providers use.
pub(crate) fn error_message(v: &Value) -> String {
    let pick = |x: &Value| -> Option<String> {
        match x {
            Value::String(s) => Some(s.clone()),
            Value::Object(_) => ["message", "error", "msg", "detail"]
                .iter()
                .find_map(|k| x.get(*k))
                .map(|y| match y {
                    Value::String(s) => s.clone(),
                    other => error_message(other),
                }),
            Value::Array(a) => a.first().map(error_message),
            _ => None,
        }
    };
    pick(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn error_shapes() {
        assert_eq!(
            error_message(
                &json!({"detail": {"error": "Unauthorized: missing or invalid API key."}})
            ),
            "Unauthorized: missing or invalid API key."
        );
        assert_eq!(
            error_message(&json!({"error": "Invalid API key"})),
            "Invalid API key"
        );
        assert_eq!(
            error_message(&json!({"error": [{"code": 1, "msg": "Missing token"}]})),
            "Missing token"
        );
        assert_eq!(
            error_message(&json!({"error": {"message": "rate limited", "type": "x"}})),
            "rate limited"
        );
    }
}
