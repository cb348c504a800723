//! The [`SearchProvider`] trait and one module per provider, each mapping
//! the neutral request to its provider's wire format and back, over the
//! shared plumbing in `http.rs` (key per the table's auth scheme, timeout,
//! bounded read, sanitised errors).
//!
//! | provider | request | auth | what is mapped or refused |
//! |---|---|---|---|
//! | Tavily | `POST {base}/search` JSON `{query, max_results, search_depth, topic, include_domains, exclude_domains, include_answer}` | `Authorization: Bearer` | mode `auto`/`fast` → `basic`, `deep` → `advanced`; `neural`, `keyword` refused |
//! | Exa | `POST {base}/search` camelCase `{query, type, numResults, includeDomains, excludeDomains, contents: {highlights, text}}` | `x-api-key` | every mode maps to `type`; snippet = highlights, else text (cut to 500 chars) |
//! | Kagi | `GET {base}/search?q=…&limit=N` | `Authorization: Bot` | domains become `site:` / `-site:` operators in the query; only `t: 0` items are results (related searches dropped); modes other than `auto` refused |
//! | Perplexity | `POST {base}/search` `{query, max_results, search_domain_filter}` | `Authorization: Bearer` | excluded domains as `-domain` in the filter; modes other than `auto` refused |

pub(crate) mod exa;
pub(crate) mod kagi;
pub(crate) mod perplexity;
pub(crate) mod tavily;

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::Value;

use crate::error::SearchError;
use crate::id::SearchProviderId;
use crate::types::{SearchMode, SearchRequest, SearchResponse, SearchResult};

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

/// Validates `request`, then refuses a mode not in `modes`. Nothing is sent
/// when this fails.
fn check(
    id: SearchProviderId,
    request: &SearchRequest,
    modes: &[SearchMode],
) -> Result<(), SearchError> {
    request.validate()?;
    if modes.contains(&request.mode) {
        return Ok(());
    }
    Err(SearchError::Unsupported {
        provider: id,
        what: format!(
            "mode `{}`",
            serde_json::to_value(request.mode)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ),
    })
}

/// The answer to `request` with `results`.
fn response(
    id: SearchProviderId,
    request: &SearchRequest,
    results: Vec<SearchResult>,
    answer: Option<String>,
) -> SearchResponse {
    SearchResponse {
        provider: id,
        query: request.query.trim().to_owned(),
        results,
        answer,
    }
}

/// `text` trimmed and cut to `max` characters (with `…` when cut).
fn cut(text: &str, max: usize) -> String {
    let t = text.trim();
    match t.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_owned(),
    }
}

/// The string at `key`, or empty.
fn s(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// The non-empty string at `key`.
fn opt_s(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
}

/// The array at `key`, or [`SearchError::Malformed`].
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_cut_at_char_boundaries() {
        assert_eq!(cut("  é€😀abc ", 3), "é€😀…");
        assert_eq!(cut("short", 10), "short");
    }
}
