//! Perplexity (Search API): `POST {base}/search`; included domains as is
//! and excluded ones as `-domain` in `search_domain_filter`; modes other
//! than `auto` refused.

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;

use super::{MAX_SNIPPET_CHARS, SearchProvider, array, check, cut, opt_s, response, s};
use crate::error::SearchError;
use crate::http::Http;
use crate::id::SearchProviderId;
use crate::types::{SearchMode, SearchRequest, SearchResponse, SearchResult};

/// The modes Perplexity can honour.
const MODES: &[SearchMode] = &[SearchMode::Auto];

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

/// One item of `results`.
fn result(x: &Value) -> SearchResult {
    SearchResult {
        title: s(x, "title"),
        url: s(x, "url"),
        snippet: cut(&s(x, "snippet"), MAX_SNIPPET_CHARS),
        published_at: opt_s(x, "date"),
        score: None,
    }
}

#[async_trait]
impl SearchProvider for Perplexity {
    fn id(&self) -> SearchProviderId {
        self.http.id()
    }

    async fn search(
        &self,
        r: &SearchRequest,
        key: &SecretString,
    ) -> Result<SearchResponse, SearchError> {
        check(self.id(), r, MODES)?;
        let v = self.http.post_json("search", &Body::new(r), key).await?;
        let results = array(&v, "results", self.id())?
            .iter()
            .map(result)
            .collect();
        Ok(response(self.id(), r, results, None))
    }
}
