//! Tavily: `POST {base}/search`; mode `auto`/`fast` → `search_depth:
//! basic`, `deep` → `advanced`; `neural` and `keyword` refused.

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;

use super::{Adapter, Fields, Snippet};
use crate::error::SearchError;
use crate::http::Http;
use crate::types::{SearchMode, SearchRequest};

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

#[async_trait]
impl Adapter for Tavily {
    /// The modes Tavily can honour.
    const MODES: &'static [SearchMode] = &[SearchMode::Auto, SearchMode::Fast, SearchMode::Deep];
    const FIELDS: Fields = Fields::new("results", Snippet::Text("content"), "published_date")
        .score("score")
        .answer("answer");

    fn http(&self) -> &Http {
        &self.http
    }

    async fn send(&self, r: &SearchRequest, key: &SecretString) -> Result<Value, SearchError> {
        self.http.post_json("search", &Body::new(r), key).await
    }
}
