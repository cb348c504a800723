//! Web search behind one API: Tavily, Exa, Kagi and Perplexity.
//!
//! **Status: not yet implemented** (tracked by the "byok-search" issue).
//! This crate will hold a neutral `SearchRequest` / `SearchResponse`, an
//! object-safe `SearchProvider` trait, one adapter per provider, and the
//! building block for search-augmented chat (query extraction, numbered
//! citations within a token budget).
//!
//! It does not depend on the other `byok-*` crates.
#![deny(missing_docs)]
