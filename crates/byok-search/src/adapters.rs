//! The four adapters and their shared HTTP plumbing.
//!
//! | provider | request | auth | what is mapped or refused |
//! |---|---|---|---|
//! | Tavily | `POST {base}/search` JSON `{query, max_results, search_depth, topic, include_domains, exclude_domains, include_answer}` | `Authorization: Bearer` | mode `auto`/`fast` → `basic`, `deep` → `advanced`; `neural`, `keyword` refused |
//! | Exa | `POST {base}/search` camelCase `{query, type, numResults, includeDomains, excludeDomains, contents: {highlights, text}}` | `x-api-key` | every mode maps to `type`; snippet = highlights, else text (cut to 500 chars) |
//! | Kagi | `GET {base}/search?q=…&limit=N` | `Authorization: Bot` | domains become `site:` / `-site:` operators in the query; only `t: 0` items are results (related searches dropped); modes other than `auto` refused |
//! | Perplexity | `POST {base}/search` `{query, max_results, search_domain_filter}` | `Authorization: Bearer` | excluded domains as `-domain` in the filter; modes other than `auto` refused |

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt as _;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::error::{SearchError, sanitize};
use crate::types::{SearchMode, SearchProviderId, SearchRequest, SearchResponse, SearchResult};

/// Longest snippet kept from a provider, in characters.
pub const MAX_SNIPPET_CHARS: usize = 500;

/// A web-search provider. Object-safe.
#[async_trait]
pub trait SearchProvider: Send + Sync + std::fmt::Debug {
    /// Which provider.
    fn id(&self) -> SearchProviderId;

    /// Runs `request` with the user's `key`.
    ///
    /// # Errors
    /// [`SearchError`]; never carries the key.
    async fn search(
        &self,
        request: &SearchRequest,
        key: &SecretString,
    ) -> Result<SearchResponse, SearchError>;
}

/// Settings shared by the adapters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SearchConfig {
    /// Base URL overrides (operator only).
    pub base_urls: HashMap<SearchProviderId, String>,
    /// Whole-request timeout. Default 30 s.
    pub timeout: Duration,
    /// Largest response body. Default 4 MiB.
    pub max_body_bytes: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            base_urls: HashMap::new(),
            timeout: Duration::from_secs(30),
            max_body_bytes: 4 << 20,
        }
    }
}

impl SearchConfig {
    /// Sets a base URL override.
    #[must_use]
    pub fn with_base_url(mut self, id: SearchProviderId, url: impl Into<String>) -> Self {
        self.base_urls.insert(id, url.into());
        self
    }

    /// Sets the timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn base(&self, id: SearchProviderId) -> String {
        self.base_urls
            .get(&id)
            .map_or(id.default_base_url(), String::as_str)
            .trim_end_matches('/')
            .to_owned()
    }
}

/// One adapter per provider over a shared client.
#[derive(Debug, Clone)]
pub struct SearchRegistry {
    adapters: HashMap<SearchProviderId, Arc<dyn SearchProvider>>,
}

impl SearchRegistry {
    /// Builds the four adapters.
    pub fn new(client: reqwest::Client, config: SearchConfig) -> Self {
        let config = Arc::new(config);
        let adapters = SearchProviderId::ALL
            .into_iter()
            .map(|id| {
                let adapter: Arc<dyn SearchProvider> = Arc::new(Adapter {
                    id,
                    base: config.base(id),
                    client: client.clone(),
                    config: Arc::clone(&config),
                });
                (id, adapter)
            })
            .collect();
        Self { adapters }
    }

    /// The adapter for `id`.
    pub fn get(&self, id: SearchProviderId) -> Option<Arc<dyn SearchProvider>> {
        self.adapters.get(&id).cloned()
    }
}

struct Adapter {
    id: SearchProviderId,
    base: String,
    client: reqwest::Client,
    config: Arc<SearchConfig>,
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter")
            .field("id", &self.id)
            .finish_non_exhaustive()
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

fn cut(text: &str, max: usize) -> String {
    let t = text.trim();
    match t.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_owned(),
    }
}

fn s(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

fn opt_s(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
}

impl Adapter {
    fn refuse_mode(&self, mode: SearchMode, allowed: &[SearchMode]) -> Result<(), SearchError> {
        if allowed.contains(&mode) {
            return Ok(());
        }
        Err(SearchError::Unsupported {
            provider: self.id,
            what: format!(
                "mode `{}`",
                serde_json::to_value(mode)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        })
    }

    /// `POST {base}/search` with `Authorization: Bearer <key>` (Tavily,
    /// Perplexity).
    async fn bearer_search(&self, key: &SecretString, body: &Value) -> Result<Value, SearchError> {
        let auth = Zeroizing::new(format!("Bearer {}", key.expose_secret()));
        let req = self
            .client
            .post(format!("{}/search", self.base))
            .header(AUTHORIZATION, sensitive(&auth)?)
            .json(body);
        self.call(req, key).await
    }

    /// Sends, reads a bounded body, maps errors. Returns the JSON body.
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        key: &SecretString,
    ) -> Result<Value, SearchError> {
        let id = self.id;
        let response = match tokio::time::timeout(self.config.timeout, request.send()).await {
            Err(_) => return Err(SearchError::Timeout(id)),
            Ok(Err(e)) if e.is_timeout() => return Err(SearchError::Timeout(id)),
            Ok(Err(_)) => return Err(SearchError::Connection(id)),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let limit = self.config.max_body_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(SearchError::TooLarge(id));
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        let read = async {
            while let Some(piece) = stream.next().await {
                let piece = piece.map_err(|_| SearchError::Connection(id))?;
                if body.len() + piece.len() > limit {
                    return Err(SearchError::TooLarge(id));
                }
                body.extend_from_slice(&piece);
            }
            Ok(())
        };
        tokio::time::timeout(self.config.timeout, read)
            .await
            .map_err(|_| SearchError::Timeout(id))??;
        let parsed: Result<Value, _> = serde_json::from_slice(&body);
        if !(200..300).contains(&status) {
            let message = parsed
                .ok()
                .map(|v| error_message(&v))
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| format!("HTTP {status}"));
            return Err(SearchError::upstream(
                id,
                status,
                sanitize(&message, key.expose_secret()),
                retry_after,
            ));
        }
        parsed.map_err(|e| SearchError::Malformed {
            provider: id,
            what: format!("response body at line {} column {}", e.line(), e.column()),
        })
    }

    async fn tavily(
        &self,
        r: &SearchRequest,
        key: &SecretString,
    ) -> Result<SearchResponse, SearchError> {
        self.refuse_mode(
            r.mode,
            &[SearchMode::Auto, SearchMode::Fast, SearchMode::Deep],
        )?;
        let depth = if r.mode == SearchMode::Deep {
            "advanced"
        } else {
            "basic"
        };
        let mut body = json!({"query": r.query.trim(), "max_results": r.max_results, "search_depth": depth, "topic": "general", "include_answer": false});
        if !r.include_domains.is_empty() {
            body["include_domains"] = json!(r.include_domains);
        }
        if !r.exclude_domains.is_empty() {
            body["exclude_domains"] = json!(r.exclude_domains);
        }
        let v = self.bearer_search(key, &body).await?;
        let results = array(&v, "results", self.id)?
            .iter()
            .map(|x| SearchResult {
                title: s(x, "title"),
                url: s(x, "url"),
                snippet: cut(&s(x, "content"), MAX_SNIPPET_CHARS),
                published_at: opt_s(x, "published_date"),
                score: x.get("score").and_then(Value::as_f64),
            })
            .collect();
        Ok(SearchResponse {
            provider: self.id,
            query: r.query.trim().to_owned(),
            results,
            answer: opt_s(&v, "answer"),
        })
    }

    async fn exa(
        &self,
        r: &SearchRequest,
        key: &SecretString,
    ) -> Result<SearchResponse, SearchError> {
        let kind = match r.mode {
            SearchMode::Auto => "auto",
            SearchMode::Neural => "neural",
            SearchMode::Keyword => "keyword",
            SearchMode::Fast => "fast",
            SearchMode::Deep => "deep",
        };
        let mut body = json!({
            "query": r.query.trim(),
            "type": kind,
            "numResults": r.max_results,
            "contents": {"highlights": {"numSentences": 3, "highlightsPerUrl": 2}, "text": {"maxCharacters": MAX_SNIPPET_CHARS}},
        });
        if !r.include_domains.is_empty() {
            body["includeDomains"] = json!(r.include_domains);
        }
        if !r.exclude_domains.is_empty() {
            body["excludeDomains"] = json!(r.exclude_domains);
        }
        let req = self
            .client
            .post(format!("{}/search", self.base))
            .header(
                HeaderName::from_static("x-api-key"),
                sensitive(key.expose_secret())?,
            )
            .header(CONTENT_TYPE, "application/json")
            .json(&body);
        let v = self.call(req, key).await?;
        let results = array(&v, "results", self.id)?
            .iter()
            .map(|x| {
                let highlights: Vec<&str> = x
                    .get("highlights")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let snippet = if highlights.is_empty() {
                    s(x, "text")
                } else {
                    highlights.join(" … ")
                };
                SearchResult {
                    title: s(x, "title"),
                    url: s(x, "url"),
                    snippet: cut(&snippet, MAX_SNIPPET_CHARS),
                    published_at: opt_s(x, "publishedDate"),
                    score: x.get("score").and_then(Value::as_f64),
                }
            })
            .collect();
        Ok(SearchResponse {
            provider: self.id,
            query: r.query.trim().to_owned(),
            results,
            answer: None,
        })
    }

    async fn kagi(
        &self,
        r: &SearchRequest,
        key: &SecretString,
    ) -> Result<SearchResponse, SearchError> {
        self.refuse_mode(r.mode, &[SearchMode::Auto])?;
        let mut q = r.query.trim().to_owned();
        match r.include_domains.as_slice() {
            [] => {}
            [one] => q.push_str(&format!(" site:{one}")),
            many => q.push_str(&format!(
                " ({})",
                many.iter()
                    .map(|d| format!("site:{d}"))
                    .collect::<Vec<_>>()
                    .join(" OR ")
            )),
        }
        for d in &r.exclude_domains {
            q.push_str(&format!(" -site:{d}"));
        }
        let auth = Zeroizing::new(format!("Bot {}", key.expose_secret()));
        let url = url::Url::parse_with_params(
            &format!("{}/search", self.base),
            [("q", q.as_str()), ("limit", &r.max_results.to_string())],
        )
        .map_err(|_| SearchError::invalid("invalid Kagi base URL", "provider"))?;
        let req = self
            .client
            .get(url)
            .header(AUTHORIZATION, sensitive(&auth)?);
        let v = self.call(req, key).await?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            return Err(SearchError::upstream(
                self.id,
                400,
                sanitize(&error_message(&json!({"error": err})), key.expose_secret()),
                None,
            ));
        }
        let results = array(&v, "data", self.id)?
            .iter()
            .filter(|x| x.get("t").and_then(Value::as_u64) == Some(0))
            .take(usize::from(r.max_results))
            .map(|x| SearchResult {
                title: s(x, "title"),
                url: s(x, "url"),
                snippet: cut(&s(x, "snippet"), MAX_SNIPPET_CHARS),
                published_at: opt_s(x, "published"),
                score: None,
            })
            .collect();
        Ok(SearchResponse {
            provider: self.id,
            query: r.query.trim().to_owned(),
            results,
            answer: None,
        })
    }

    async fn perplexity(
        &self,
        r: &SearchRequest,
        key: &SecretString,
    ) -> Result<SearchResponse, SearchError> {
        self.refuse_mode(r.mode, &[SearchMode::Auto])?;
        let mut body = json!({"query": r.query.trim(), "max_results": r.max_results});
        let filter: Vec<String> = r
            .include_domains
            .iter()
            .cloned()
            .chain(r.exclude_domains.iter().map(|d| format!("-{d}")))
            .collect();
        if !filter.is_empty() {
            body["search_domain_filter"] = json!(filter);
        }
        let v = self.bearer_search(key, &body).await?;
        let results = array(&v, "results", self.id)?
            .iter()
            .map(|x| SearchResult {
                title: s(x, "title"),
                url: s(x, "url"),
                snippet: cut(&s(x, "snippet"), MAX_SNIPPET_CHARS),
                published_at: opt_s(x, "date"),
                score: None,
            })
            .collect();
        Ok(SearchResponse {
            provider: self.id,
            query: r.query.trim().to_owned(),
            results,
            answer: None,
        })
    }
}

fn array<'v>(
    v: &'v Value,
    key: &str,
    provider: SearchProviderId,
) -> Result<&'v Vec<Value>, SearchError> {
    v.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| SearchError::Malformed {
            provider,
            what: format!("no `{key}` array"),
        })
}

/// The message of the error shapes the four providers use.
fn error_message(v: &Value) -> String {
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

#[async_trait]
impl SearchProvider for Adapter {
    fn id(&self) -> SearchProviderId {
        self.id
    }

    async fn search(
        &self,
        request: &SearchRequest,
        key: &SecretString,
    ) -> Result<SearchResponse, SearchError> {
        request.validate()?;
        match self.id {
            SearchProviderId::Tavily => self.tavily(request, key).await,
            SearchProviderId::Exa => self.exa(request, key).await,
            SearchProviderId::Kagi => self.kagi(request, key).await,
            SearchProviderId::Perplexity => self.perplexity(request, key).await,
        }
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn snippets_are_cut_at_char_boundaries() {
        assert_eq!(cut("  é€😀abc ", 3), "é€😀…");
        assert_eq!(cut("short", 10), "short");
    }
}
