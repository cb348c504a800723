//! Tavily: `POST {base}/search`; mode `auto`/`fast` → `search_depth:
//! basic`, `deep` → `advanced`; `neural` and `keyword` refused.

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;

use super::{MAX_SNIPPET_CHARS, SearchProvider, array, check, cut, opt_s, response, s};
use crate::error::SearchError;
use crate::http::Http;
use crate::id::SearchProviderId;
use crate::types::{SearchMode, SearchRequest, SearchResponse, SearchResult};

/// The modes Tavily can honour.
const MODES: &[SearchMode] = &[SearchMode::Auto, SearchMode::Fast, SearchMode::Deep];

/// The Tavily adapter.
#[derive(Debug)]
pub(crate) struct Tavily {
    http: Http,
}

impl Tavily {
    pub(crate) fn new(http: Http) -> Self {
        Self { http }
    }
}

/// The request body.
#[derive(Serialize)]
struct Body<'a> {
    query: &'a str,
    max_results: u8,
    search_depth: &'static str,
    topic: &'static str,
    include_answer: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    include_domains: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    exclude_domains: &'a [String],
}

impl<'a> Body<'a> {
    fn new(r: &'a SearchRequest) -> Self {
        Self {
            query: r.query.trim(),
            max_results: r.max_results,
            search_depth: if r.mode == SearchMode::Deep {
                "advanced"
            } else {
                "basic"
            },
            topic: "general",
            include_answer: false,
            include_domains: &r.include_domains,
            exclude_domains: &r.exclude_domains,
        }
    }
}

/// One item of `results`.
fn result(x: &Value) -> SearchResult {
    SearchResult {
        title: s(x, "title"),
        url: s(x, "url"),
        snippet: cut(&s(x, "content"), MAX_SNIPPET_CHARS),
        published_at: opt_s(x, "published_date"),
        score: x.get("score").and_then(Value::as_f64),
    }
}

#[async_trait]
impl SearchProvider for Tavily {
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
        Ok(response(self.id(), r, results, opt_s(&v, "answer")))
    }
}
