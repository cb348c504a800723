//! The neutral search request and response.

use serde::{Deserialize, Serialize};

use crate::error::SearchError;
use crate::id::SearchProviderId;

/// Most results one request may ask for.
pub const MAX_RESULTS: u8 = 20;
/// Results when the request does not say.
pub const DEFAULT_RESULTS: u8 = 5;
/// Longest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 2_000;
/// Most domains in `include_domains` or `exclude_domains`.
pub const MAX_DOMAINS: usize = 50;

/// How Exa searches (other providers accept only `auto`, see `docs/providers.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// The provider decides.
    #[default]
    Auto,
    /// Embedding search.
    Neural,
    /// Keyword search.
    Keyword,
    /// Lowest latency.
    Fast,
    /// Most thorough.
    Deep,
}

impl SearchMode {
    /// The mode as written in requests (`auto`, `neural`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Neural => "neural",
            Self::Keyword => "keyword",
            Self::Fast => "fast",
            Self::Deep => "deep",
        }
    }
}

/// A search request (the body of `POST /api/web`, minus `provider`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// What to search for.
    pub query: String,
    /// 1..=20, default 5.
    #[serde(default = "default_results")]
    pub max_results: u8,
    /// Search mode.
    #[serde(default)]
    pub mode: SearchMode,
    /// Only these domains.
    #[serde(default)]
    pub include_domains: Vec<String>,
    /// Never these domains.
    #[serde(default)]
    pub exclude_domains: Vec<String>,
}

fn default_results() -> u8 {
    DEFAULT_RESULTS
}

impl SearchRequest {
    /// A request for `query` with defaults.
    pub fn new(query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            max_results: DEFAULT_RESULTS,
            mode: SearchMode::Auto,
            include_domains: Vec::new(),
            exclude_domains: Vec::new(),
        }
    }

    /// Checks limits before anything is sent.
    ///
    /// # Errors
    /// [`SearchError::Invalid`] naming the parameter.
    pub fn validate(&self) -> Result<(), SearchError> {
        let q = self.query.trim();
        if q.is_empty() {
            return Err(SearchError::invalid("`query` must not be empty", "query"));
        }
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(SearchError::invalid(
                "`query` is longer than 2000 characters",
                "query",
            ));
        }
        if !(1..=MAX_RESULTS).contains(&self.max_results) {
            return Err(SearchError::invalid(
                "`max_results` must be between 1 and 20",
                "max_results",
            ));
        }
        for (name, list) in [
            ("include_domains", &self.include_domains),
            ("exclude_domains", &self.exclude_domains),
        ] {
            if list.len() > MAX_DOMAINS {
                return Err(SearchError::invalid(
                    format!("`{name}` has more than 50 entries"),
                    name,
                ));
            }
            if !list.iter().all(|d| is_domain(d)) {
                return Err(SearchError::invalid(
                    format!("`{name}` must hold bare domain names like `example.com`"),
                    name,
                ));
            }
        }
        Ok(())
    }
}

fn is_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Page title.
    pub title: String,
    /// Page URL.
    pub url: String,
    /// Relevant text.
    pub snippet: String,
    /// Publication date, as the provider gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<String>,
    /// The provider's relevance score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// A search answer (the body of the `/api/web` response).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Who answered.
    pub provider: SearchProviderId,
    /// The query as sent.
    pub query: String,
    /// Results, best first.
    pub results: Vec<SearchResult>,
    /// A generated answer, when the provider gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(SearchRequest::new("rust async").validate().is_ok());
        let mut r = SearchRequest::new("  ");
        assert!(r.validate().is_err());
        r = SearchRequest::new("x");
        for n in [0, 21] {
            r.max_results = n;
            assert!(r.validate().is_err());
        }
        r.max_results = 20;
        r.include_domains = vec!["https://example.com".into()];
        assert!(r.validate().is_err());
        r.include_domains = vec!["docs.rs".into(), "example.co.uk".into()];
        assert!(r.validate().is_ok());
        let r: SearchRequest = serde_json::from_str(r#"{"query":"q"}"#).unwrap();
        assert_eq!((r.max_results, r.mode), (5, SearchMode::Auto));
    }
}
