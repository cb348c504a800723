//! Exa: `POST {base}/search` in camelCase; every mode maps to `type`; the
//! snippet is the highlights (joined with ` … `), else the text.

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;

use super::{Adapter, Fields, MAX_SNIPPET_CHARS, Snippet};
use crate::error::SearchError;
use crate::http::Http;
use crate::types::{SearchMode, SearchRequest};

/// The Exa adapter.
#[derive(Debug)]
pub(crate) struct Exa {
    http: Http,
}

impl Exa {
    pub(crate) fn new(http: Http) -> Self {
        Self { http }
    }
}

/// The request body. `type` is the mode's own name (`auto`, `neural`, ...).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    query: &'a str,
    #[serde(rename = "type")]
    kind: SearchMode,
    num_results: u8,
    contents: Contents,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    include_domains: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    exclude_domains: &'a [String],
}

/// `contents`: highlights, and the text as a fallback.
#[derive(Serialize)]
struct Contents {
    highlights: Highlights,
    text: Text,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Highlights {
    num_sentences: u8,
    highlights_per_url: u8,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Text {
    max_characters: usize,
}

impl<'a> Body<'a> {
    fn new(r: &'a SearchRequest) -> Self {
        Self {
            query: r.query.trim(),
            kind: r.mode,
            num_results: r.max_results,
            contents: Contents {
                highlights: Highlights {
                    num_sentences: 3,
                    highlights_per_url: 2,
                },
                text: Text {
                    max_characters: MAX_SNIPPET_CHARS,
                },
            },
            include_domains: &r.include_domains,
            exclude_domains: &r.exclude_domains,
        }
    }
}

#[async_trait]
impl Adapter for Exa {
    /// Exa honours every mode.
    const MODES: &'static [SearchMode] = &[
        SearchMode::Auto,
        SearchMode::Neural,
        SearchMode::Keyword,
        SearchMode::Fast,
        SearchMode::Deep,
    ];
    const FIELDS: Fields = Fields::new(
        "results",
        Snippet::Joined {
            list: "highlights",
            fallback: "text",
        },
        "publishedDate",
    )
    .score("score");

    fn http(&self) -> &Http {
        &self.http
    }

    async fn send(&self, r: &SearchRequest, key: &SecretString) -> Result<Value, SearchError> {
        self.http.post_json("search", &Body::new(r), key).await
    }
}
