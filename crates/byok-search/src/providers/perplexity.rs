//! Perplexity (Search API): `POST {base}/search`; included domains as is
//! and excluded ones as `-domain` in `search_domain_filter`; modes other
//! than `auto` refused.

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;

use super::{Adapter, Fields, Snippet};
use crate::error::SearchError;
use crate::http::Http;
use crate::types::{SearchMode, SearchRequest};

/// The Perplexity adapter.
#[derive(Debug)]
pub(crate) struct Perplexity {
    http: Http,
}

impl Perplexity {
    pub(crate) fn new(http: Http) -> Self {
        Self { http }
    }
}

/// The request body.
#[derive(Serialize)]
struct Body<'a> {
    query: &'a str,
    max_results: u8,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    search_domain_filter: Vec<String>,
}

impl<'a> Body<'a> {
    fn new(r: &'a SearchRequest) -> Self {
        Self {
            query: r.query.trim(),
            max_results: r.max_results,
            search_domain_filter: r
                .include_domains
                .iter()
                .cloned()
                .chain(r.exclude_domains.iter().map(|d| format!("-{d}")))
                .collect(),
        }
    }
}

#[async_trait]
impl Adapter for Perplexity {
    /// The modes Perplexity can honour.
    const MODES: &'static [SearchMode] = &[SearchMode::Auto];
    const FIELDS: Fields = Fields::new("results", Snippet::Text("snippet"), "date");

    fn http(&self) -> &Http {
        &self.http
    }

    async fn send(&self, r: &SearchRequest, key: &SecretString) -> Result<Value, SearchError> {
        self.http.post_json("search", &Body::new(r), key).await
    }
}
