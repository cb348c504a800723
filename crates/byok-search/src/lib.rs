//! Web search behind one API: Tavily, Exa, Kagi and Perplexity.
//!
//! - [`SearchRequest`] / [`SearchResponse`]: the neutral types (the body and
//!   answer of `POST /api/web`).
//! - [`SEARCH_PROVIDERS`]: the provider table (id, slug, name, default base
//!   URL, auth scheme, key example), the one place a provider is named;
//!   [`SearchProviderId`] and its parsing are generated from it.
//! - [`SearchProvider`]: an object-safe trait, implemented by one module per
//!   provider (`providers/`) over shared HTTP plumbing (`http.rs`: key per
//!   the table's [`AuthScheme`], timeout, bounded read, sanitised errors).
//!   [`SearchRegistry`] builds one adapter per table row over one shared
//!   `reqwest::Client` with base URLs from [`SearchConfig`] (operator
//!   overrides only). What each provider maps or refuses is in the
//!   `providers` module table and `docs/providers.md`.
//! - [`build_query`] and [`augment`]: search-augmented chat, a cited context
//!   message within a token budget.
//! - Search and chat keys never mix: parsing a chat provider id as a search
//!   provider is [`SearchError::NotASearchProvider`].
//!
//! Of the other `byok-*` crates it depends only on the leaf `byok-redact`
//! (key redaction of upstream messages, bounded body reads).
//!
//! ```no_run
//! use byok_search::{SearchConfig, SearchProviderId, SearchRegistry, SearchRequest};
//! use secrecy::SecretString;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = SearchRegistry::new(reqwest::Client::new(), SearchConfig::default());
//! let tavily = registry.get(SearchProviderId::Tavily);
//! let answer = tavily.search(&SearchRequest::new("rust async runtimes"), &SecretString::from("tvly-...")).await?;
//! for r in answer.results {
//!     println!("{} {}", r.title, r.url);
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod augment;
mod error;
mod http;
mod id;
mod providers;
mod registry;
mod types;

pub use augment::{
    Augmentation, Citation, DEFAULT_BUDGET_TOKENS, MAX_AUGMENT_QUERY_CHARS, approx_tokens, augment,
    build_query,
};
pub use error::{SearchError, UpstreamKind};
pub use id::{AuthScheme, SEARCH_PROVIDERS, SearchProviderId, SearchProviderInfo};
pub use providers::{MAX_SNIPPET_CHARS, SearchProvider};
pub use registry::{SearchConfig, SearchRegistry};
pub use types::{
    DEFAULT_RESULTS, MAX_DOMAINS, MAX_QUERY_CHARS, MAX_RESULTS, SearchMode, SearchRequest,
    SearchResponse, SearchResult,
};
