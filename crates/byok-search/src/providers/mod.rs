//! The [`SearchProvider`] trait and one module per provider. Each module
//! implements `Adapter`: the modes it honours, how the neutral request is
//! sent in its wire format (over the shared plumbing in `http.rs`: key per
//! the table's auth scheme, timeout, bounded read, sanitised errors), and a
//! `Fields` row naming where its answer keeps each part of a result. The
//! rest (checking the request, reading results, cutting snippets, building
//! the [`SearchResponse`]) is written once here.
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
use crate::http::Http;
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

/// One provider's side of the exchange: the modes it honours, how a request
/// is sent, and where its answer keeps the results (as data, [`Fields`]).
/// Everything else ([`SearchProvider`]) is shared.
#[async_trait]
trait Adapter: Send + Sync + std::fmt::Debug {
    /// The modes this provider honours; any other is refused before sending.
    const MODES: &'static [SearchMode];
    /// Where the answer keeps each part of a result.
    const FIELDS: Fields;

    /// The shared plumbing.
    fn http(&self) -> &Http;

    /// Sends the (validated) `request`. Returns the JSON answer.
    async fn send(&self, request: &SearchRequest, key: &SecretString)
    -> Result<Value, SearchError>;
}

#[async_trait]
impl<A: Adapter> SearchProvider for A {
    fn id(&self) -> SearchProviderId {
        self.http().id()
    }

    async fn search(
        &self,
        request: &SearchRequest,
        key: &SecretString,
    ) -> Result<SearchResponse, SearchError> {
        check(self.id(), request, A::MODES)?;
        let v = self.send(request, key).await?;
        A::FIELDS.response(self.id(), request, &v)
    }
}

/// Where a provider's answer keeps what a [`SearchResult`] needs. Title and
/// URL are always at `title` and `url`; the snippet is cut to
/// [`MAX_SNIPPET_CHARS`].
#[derive(Debug, Clone, Copy)]
struct Fields {
    /// The array of result items in the answer.
    results: &'static str,
    /// Only items whose `.0` is the number `.1` are results (Kagi's `t: 0`).
    only: Option<(&'static str, u64)>,
    /// At most `max_results` items are kept (the provider may send more).
    capped: bool,
    /// Where the snippet is.
    snippet: Snippet,
    /// The publication date (kept when a non-empty string).
    published_at: &'static str,
    /// The relevance score, if the provider sends one.
    score: Option<&'static str>,
    /// The provider's own answer in the top-level object, if it sends one.
    answer: Option<&'static str>,
}

/// Where a result item keeps its snippet.
#[derive(Debug, Clone, Copy)]
enum Snippet {
    /// The string at this key.
    Text(&'static str),
    /// The strings of the array at `list` joined with ` … `; when there are
    /// none, the string at `fallback`.
    Joined {
        list: &'static str,
        fallback: &'static str,
    },
}

impl Fields {
    /// Items in the `results` array, snippet at `snippet`, date at
    /// `published_at`; no score, no answer, no filter or cap.
    const fn new(results: &'static str, snippet: Snippet, published_at: &'static str) -> Self {
        Self {
            results,
            only: None,
            capped: false,
            snippet,
            published_at,
            score: None,
            answer: None,
        }
    }

    /// With the score at `key`.
    const fn score(self, key: &'static str) -> Self {
        Self {
            score: Some(key),
            ..self
        }
    }

    /// With the provider's answer at `key`.
    const fn answer(self, key: &'static str) -> Self {
        Self {
            answer: Some(key),
            ..self
        }
    }

    /// Only items whose `key` is the number `value`, at most `max_results`
    /// of them.
    const fn only(self, key: &'static str, value: u64) -> Self {
        Self {
            only: Some((key, value)),
            capped: true,
            ..self
        }
    }

    /// The answer to `request` read from the provider's answer `v`.
    fn response(
        &self,
        provider: SearchProviderId,
        request: &SearchRequest,
        v: &Value,
    ) -> Result<SearchResponse, SearchError> {
        let cap = if self.capped {
            usize::from(request.max_results)
        } else {
            usize::MAX
        };
        let results = array(v, self.results, provider)?
            .iter()
            .filter(|x| self.keeps(x))
            .take(cap)
            .map(|x| self.result(x))
            .collect();
        Ok(SearchResponse {
            provider,
            query: request.query.trim().to_owned(),
            results,
            answer: self.answer.and_then(|key| opt_s(v, key)),
        })
    }

    /// Whether item `x` is a result (not, say, a related search).
    fn keeps(&self, x: &Value) -> bool {
        self.only
            .is_none_or(|(key, value)| x.get(key).and_then(Value::as_u64) == Some(value))
    }

    /// One result item.
    fn result(&self, x: &Value) -> SearchResult {
        SearchResult {
            title: s(x, "title"),
            url: s(x, "url"),
            snippet: self.snippet.read(x),
            published_at: opt_s(x, self.published_at),
            score: self
                .score
                .and_then(|key| x.get(key))
                .and_then(Value::as_f64),
        }
    }
}

impl Snippet {
    /// The snippet of item `x`, cut to [`MAX_SNIPPET_CHARS`].
    fn read(self, x: &Value) -> String {
        match self {
            Self::Text(key) => cut(str_at(x, key), MAX_SNIPPET_CHARS),
            Self::Joined { list, fallback } => {
                let parts: Vec<&str> = x
                    .get(list)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if parts.is_empty() {
                    cut(str_at(x, fallback), MAX_SNIPPET_CHARS)
                } else {
                    cut(&parts.join(" … "), MAX_SNIPPET_CHARS)
                }
            }
        }
    }
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
        what: format!("mode `{}`", request.mode.as_str()),
    })
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
fn str_at<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The string at `key`, or empty.
fn s(v: &Value, key: &str) -> String {
    str_at(v, key).to_owned()
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

    #[test]
    #[allow(clippy::unwrap_used)] // test code
    fn fields_read_answer_score_filter_and_cap() {
        let v = serde_json::json!({
            "answer": "tokio",
            "items": [
                {"t": 0, "title": " T ", "url": "u0", "text": "x".repeat(600), "when": "2024", "s": 0.5},
                {"t": 1, "title": "related"},
                {"t": 0, "url": "u2", "when": ""},
                {"t": 0, "url": "u3"},
            ],
        });
        let mut r = SearchRequest::new(" q ");
        r.max_results = 2;
        let id = SearchProviderId::Kagi;
        let plain = Fields::new("items", Snippet::Text("text"), "when");
        let out = plain.response(id, &r, &v).unwrap();
        assert_eq!(out.query, "q");
        assert_eq!(out.answer, None);
        assert_eq!(out.results.len(), 4);
        assert_eq!(out.results[0].title, " T ");
        assert_eq!(
            out.results[0].snippet.chars().count(),
            MAX_SNIPPET_CHARS + 1
        );
        assert_eq!(out.results[0].published_at.as_deref(), Some("2024"));
        assert_eq!(out.results[0].score, None);
        assert_eq!(out.results[2].published_at, None);

        let rich = plain.score("s").answer("answer").only("t", 0);
        let out = rich.response(id, &r, &v).unwrap();
        assert_eq!(out.answer.as_deref(), Some("tokio"));
        let urls: Vec<&str> = out.results.iter().map(|x| x.url.as_str()).collect();
        assert_eq!(urls, ["u0", "u2"]);
        assert_eq!(out.results[0].score, Some(0.5));

        assert!(matches!(
            Fields::new("results", Snippet::Text("text"), "when").response(id, &r, &v),
            Err(SearchError::Malformed { .. })
        ));
    }
}
