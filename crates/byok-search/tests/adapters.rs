//! Each adapter against the mock upstream with recorded-format fixtures,
//! errors included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use byok_search::{
    AuthScheme, SEARCH_PROVIDERS, SearchConfig, SearchError, SearchMode, SearchProviderId as S,
    SearchRegistry, SearchRequest, UpstreamKind,
};
use byok_testkit::{MockUpstream, Reply, fixture};
use secrecy::SecretString;
use serde_json::Value;

const KEY: &str = "tvly-dev-CANARY0123456789abcdef";

async fn registry(mock: &MockUpstream) -> SearchRegistry {
    let mut config = SearchConfig::default().with_timeout(Duration::from_secs(2));
    for id in S::ALL {
        config = config.with_base_url(id, mock.base_url());
    }
    SearchRegistry::new(reqwest::Client::new(), config)
}

fn key() -> SecretString {
    SecretString::from(KEY)
}

fn req() -> SearchRequest {
    let mut r = SearchRequest::new("rust async runtimes");
    r.max_results = 3;
    r.include_domains = vec!["tokio.rs".into()];
    r.exclude_domains = vec!["spam.example".into()];
    r
}

#[tokio::test]
async fn tavily() {
    let mock = MockUpstream::start().await;
    let reg = registry(&mock).await;
    let p = reg.get(S::Tavily);
    mock.on(
        "POST",
        "/search",
        Reply::json(200, fixture("search/tavily_search.json")),
    );
    let r = p.search(&req(), &key()).await.unwrap();
    assert_eq!(r.results.len(), 2);
    assert_eq!(r.results[0].url, "https://tokio.rs/");
    assert_eq!(r.results[0].score, Some(0.93));
    assert_eq!(r.results[0].published_at.as_deref(), Some("2024-11-02"));
    let sent = mock.last_request().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["max_results"], 3);
    assert_eq!(body["search_depth"], "basic");
    assert_eq!(body["include_domains"][0], "tokio.rs");
    assert_eq!(body["exclude_domains"][0], "spam.example");
    let mut deep = req();
    deep.mode = SearchMode::Deep;
    p.search(&deep, &key()).await.unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&mock.last_request().unwrap().body).unwrap()["search_depth"],
        "advanced"
    );
    let mut neural = req();
    neural.mode = SearchMode::Neural;
    assert!(matches!(
        p.search(&neural, &key()).await,
        Err(SearchError::Unsupported { .. })
    ));

    for (status, file, kind) in [
        (401, "tavily_401.json", UpstreamKind::Unauthorized),
        (429, "tavily_429.json", UpstreamKind::RateLimited),
        (432, "tavily_432.json", UpstreamKind::PlanLimit),
        (433, "tavily_433.json", UpstreamKind::PlanLimit),
    ] {
        mock.on(
            "POST",
            "/search",
            Reply::json(status, fixture(&format!("search/{file}"))),
        );
        let err = p.search(&req(), &key()).await.unwrap_err();
        let SearchError::Upstream {
            kind: k,
            ref message,
            ..
        } = err
        else {
            panic!("{err:?}")
        };
        assert_eq!(k, kind);
        assert!(!message.is_empty() && !message.contains("CANARY"));
    }
    mock.on("POST", "/search", Reply::json(200, "{\"results\": [ {oops"));
    assert!(matches!(
        p.search(&req(), &key()).await,
        Err(SearchError::Malformed { .. })
    ));
    mock.on(
        "POST",
        "/search",
        Reply::json(200, "{\"no_results_here\": true}"),
    );
    assert!(matches!(
        p.search(&req(), &key()).await,
        Err(SearchError::Malformed { .. })
    ));
    mock.on("POST", "/search", Reply::hang());
    assert_eq!(
        p.search(&req(), &key()).await.unwrap_err(),
        SearchError::Timeout(S::Tavily)
    );
}

#[tokio::test]
async fn exa_modes_and_contents() {
    let mock = MockUpstream::start().await;
    let reg = registry(&mock).await;
    let p = reg.get(S::Exa);
    mock.on(
        "POST",
        "/search",
        Reply::json(200, fixture("search/exa_search.json")),
    );
    for (mode, kind) in [
        (SearchMode::Auto, "auto"),
        (SearchMode::Neural, "neural"),
        (SearchMode::Keyword, "keyword"),
        (SearchMode::Fast, "fast"),
        (SearchMode::Deep, "deep"),
    ] {
        let mut r = req();
        r.mode = mode;
        let out = p.search(&r, &key()).await.unwrap();
        assert_eq!(
            out.results[0].snippet,
            "Tokio is an asynchronous runtime for the Rust programming language. … It provides the building blocks needed for writing network applications."
        );
        assert_eq!(
            out.results[1].snippet, "Async version of the Rust standard library.",
            "text when no highlights"
        );
        let sent = mock.last_request().unwrap();
        assert_eq!(sent.header("x-api-key"), Some(KEY));
        assert_eq!(sent.header("authorization"), None);
        let body: Value = serde_json::from_slice(&sent.body).unwrap();
        assert_eq!(body["type"], kind);
        assert_eq!(body["numResults"], 3);
        assert_eq!(body["includeDomains"][0], "tokio.rs");
        assert!(body["contents"]["highlights"].is_object());
    }
    mock.on(
        "POST",
        "/search",
        Reply::json(401, fixture("search/exa_401.json")),
    );
    assert!(matches!(
        p.search(&req(), &key()).await,
        Err(SearchError::Upstream {
            kind: UpstreamKind::Unauthorized,
            ..
        })
    ));
}

#[tokio::test]
async fn kagi_drops_related_searches_and_uses_site_operators() {
    let mock = MockUpstream::start().await;
    let reg = registry(&mock).await;
    let p = reg.get(S::Kagi);
    mock.on(
        "GET",
        "/search",
        Reply::json(200, fixture("search/kagi_search.json")),
    );
    let out = p.search(&req(), &key()).await.unwrap();
    assert_eq!(
        out.results.len(),
        2,
        "the t:1 related-searches item is not a result"
    );
    assert_eq!(
        out.results[0].published_at.as_deref(),
        Some("2024-11-02T00:00:00Z")
    );
    let sent = mock.last_request().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bot {KEY}").as_str())
    );
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(sent.query().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        query,
        [
            (
                "q".to_owned(),
                "rust async runtimes site:tokio.rs -site:spam.example".to_owned()
            ),
            ("limit".to_owned(), "3".to_owned())
        ]
    );
    let mut deep = req();
    deep.mode = SearchMode::Deep;
    assert!(matches!(
        p.search(&deep, &key()).await,
        Err(SearchError::Unsupported { .. })
    ));
    mock.on(
        "GET",
        "/search",
        Reply::json(401, fixture("search/kagi_error.json")),
    );
    let err = p.search(&req(), &key()).await.unwrap_err();
    assert!(
        matches!(err, SearchError::Upstream { kind: UpstreamKind::Unauthorized, ref message, .. } if message.contains("Missing or invalid token")),
        "{err:?}"
    );
    // Kagi can also answer 200 with an error array.
    mock.on(
        "GET",
        "/search",
        Reply::json(200, fixture("search/kagi_error.json")),
    );
    assert!(matches!(
        p.search(&req(), &key()).await,
        Err(SearchError::Upstream { .. })
    ));
}

#[tokio::test]
async fn perplexity_domain_filter() {
    let mock = MockUpstream::start().await;
    let reg = registry(&mock).await;
    let p = reg.get(S::Perplexity);
    mock.on(
        "POST",
        "/search",
        Reply::json(200, fixture("search/perplexity_search.json")),
    );
    let out = p.search(&req(), &key()).await.unwrap();
    assert_eq!(out.results[0].published_at.as_deref(), Some("2024-11-02"));
    assert_eq!(out.results[1].published_at, None);
    let body: Value = serde_json::from_slice(&mock.last_request().unwrap().body).unwrap();
    assert_eq!(
        body["search_domain_filter"],
        serde_json::json!(["tokio.rs", "-spam.example"])
    );
    assert_eq!(body["max_results"], 3);
    mock.on(
        "POST",
        "/search",
        Reply::json(401, fixture("search/perplexity_401.json")),
    );
    let err = p.search(&req(), &key()).await.unwrap_err();
    assert!(
        matches!(err, SearchError::Upstream { kind: UpstreamKind::Unauthorized, ref message, .. } if !message.contains("pplx-CANARY")),
        "{err:?}"
    );
    mock.on(
        "POST",
        "/search",
        Reply::json(429, "{}").header("retry-after", "9"),
    );
    assert!(
        matches!(p.search(&req(), &key()).await, Err(SearchError::Upstream { kind: UpstreamKind::RateLimited, retry_after: Some(d), .. }) if d == Duration::from_secs(9))
    );
}

#[tokio::test]
async fn invalid_requests_are_refused_before_sending() {
    let mock = MockUpstream::start().await;
    let reg = registry(&mock).await;
    for id in S::ALL {
        let p = reg.get(id);
        let mut r = req();
        r.max_results = 21;
        assert!(matches!(
            p.search(&r, &key()).await,
            Err(SearchError::Invalid { .. })
        ));
        let empty = SearchRequest::new("   ");
        assert!(matches!(
            p.search(&empty, &key()).await,
            Err(SearchError::Invalid { .. })
        ));
    }
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn every_row_has_an_adapter_that_sends_the_key_as_the_table_says() {
    let mock = MockUpstream::start().await;
    let reg = registry(&mock).await;
    assert_eq!(S::ALL.len(), SEARCH_PROVIDERS.len());
    for row in SEARCH_PROVIDERS {
        let p = reg.get(row.id);
        assert_eq!(p.id(), row.id);
        assert_eq!(row.slug.parse::<S>().unwrap(), row.id);
        mock.on("POST", "/search", Reply::json(401, "{}"));
        mock.on("GET", "/search", Reply::json(401, "{}"));
        let err = p.search(&req(), &key()).await.unwrap_err();
        assert!(
            matches!(err, SearchError::Upstream { provider, kind: UpstreamKind::Unauthorized, .. } if provider == row.id),
            "{err:?}"
        );
        let sent = mock.last_request().unwrap();
        let (name, value) = match row.auth {
            AuthScheme::Authorization(scheme) => ("authorization", format!("{scheme} {KEY}")),
            AuthScheme::Header(name) => (name, KEY.to_owned()),
            other => panic!("{other:?}"),
        };
        assert_eq!(sent.header(name), Some(value.as_str()), "{}", row.slug);
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let mock = MockUpstream::start().await;
    let mut config = SearchConfig::default().with_timeout(Duration::from_secs(2));
    config.max_body_bytes = 64;
    for id in S::ALL {
        config = config.with_base_url(id, mock.base_url());
    }
    let reg = SearchRegistry::new(reqwest::Client::new(), config);
    mock.on(
        "POST",
        "/search",
        Reply::json(200, fixture("search/tavily_search.json")),
    );
    assert_eq!(
        reg.get(S::Tavily).search(&req(), &key()).await.unwrap_err(),
        SearchError::TooLarge(S::Tavily)
    );
}
