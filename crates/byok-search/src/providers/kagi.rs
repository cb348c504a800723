//! Kagi: `GET {base}/search?q=…&limit=N`; domains become `site:` /
//! `-site:` operators in the query; only `t: 0` items are results (related
//! searches dropped); an `error` array (also sent with status 200) is an
//! upstream error; modes other than `auto` refused.

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::{Adapter, Fields, Snippet};
use crate::error::SearchError;
use crate::http::{Http, error_message};
use crate::types::{SearchMode, SearchRequest};

/// The Kagi adapter.
#[derive(Debug)]
pub(crate) struct Kagi {
    http: Http,
}

impl Kagi {
    pub(crate) fn new(http: Http) -> Self {
        Self { http }
    }

    /// `{base}/search?q=…&limit=N`.
    fn url(&self, r: &SearchRequest) -> Result<url::Url, SearchError> {
        url::Url::parse_with_params(
            &self.http.url("search"),
            [
                ("q", query(r).as_str()),
                ("limit", &r.max_results.to_string()),
            ],
        )
        .map_err(|_| SearchError::invalid("invalid Kagi base URL", "provider"))
    }
}

/// The query with the domain lists as `site:` operators.
fn query(r: &SearchRequest) -> String {
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
    q
}

#[async_trait]
impl Adapter for Kagi {
    /// The modes Kagi can honour.
    const MODES: &'static [SearchMode] = &[SearchMode::Auto];
    const FIELDS: Fields = Fields::new("data", Snippet::Text("snippet"), "published").only("t", 0);

    fn http(&self) -> &Http {
        &self.http
    }

    async fn send(&self, r: &SearchRequest, key: &SecretString) -> Result<Value, SearchError> {
        let v = self.http.get(self.url(r)?, key).await?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            let message = error_message(&json!({"error": err}));
            return Err(self.http.upstream(400, &message, None, key));
        }
        Ok(v)
    }
}
