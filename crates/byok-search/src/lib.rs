//! Web search behind one API: Tavily, Exa, Kagi and Perplexity.
//!
//! - [`SearchRequest`] / [`SearchResponse`]: the neutral types (the body and
//!   answer of `POST /api/web`).
//! - [`SearchProvider`]: an object-safe trait; [`SearchRegistry`] builds the
//!   four adapters over one shared `reqwest::Client` with base URLs from
//!   [`SearchConfig`] (operator overrides only). What each provider maps or
//!   refuses is in the `adapters` table and `docs/providers.md`.
//! - [`build_query`] and [`augment`]: search-augmented chat, a cited context
//!   message within a token budget.
//! - Search and chat keys never mix: parsing a chat provider id as a search
//!   provider is [`SearchError::NotASearchProvider`].
//!
//! It does not depend on the other `byok-*` crates.
//!
//! ```no_run
//! use byok_search::{SearchConfig, SearchProviderId, SearchRegistry, SearchRequest};
//! use secrecy::SecretString;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = SearchRegistry::new(reqwest::Client::new(), SearchConfig::default());
//! let tavily = registry.get(SearchProviderId::Tavily).expect("adapter");
//! let answer = tavily.search(&SearchRequest::new("rust async runtimes"), &SecretString::from("tvly-...")).await?;
//! for r in answer.results {
//!     println!("{} {}", r.title, r.url);
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod adapters;
mod augment;
mod error;
mod types;

pub use adapters::{MAX_SNIPPET_CHARS, SearchConfig, SearchProvider, SearchRegistry};
pub use augment::{
    Augmentation, Citation, DEFAULT_BUDGET_TOKENS, MAX_AUGMENT_QUERY_CHARS, approx_tokens, augment,
    build_query,
};
pub use error::{SearchError, UpstreamKind, sanitize};
pub use types::{
    DEFAULT_RESULTS, MAX_DOMAINS, MAX_QUERY_CHARS, MAX_RESULTS, SearchMode, SearchProviderId,
    SearchRequest, SearchResponse, SearchResult,
};
