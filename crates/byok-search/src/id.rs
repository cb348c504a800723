//! Search provider ids and the one table that describes every provider.
//!
//! Adding a provider is one entry in the `search_providers!` invocation
//! below (which generates the [`SearchProviderId`] variant, its
//! [`SEARCH_PROVIDERS`] row and its adapter constructor) plus one module in
//! `providers/`; nothing else matches on provider ids.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::SearchError;
use crate::http::Http;
use crate::providers::{SearchProvider, exa, kagi, perplexity, tavily};

/// How a provider takes the user's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthScheme {
    /// `Authorization: <prefix> <key>` (`Bearer`, `Bot`).
    Authorization(&'static str),
    /// The key alone in this header (`x-api-key`).
    Header(&'static str),
}

/// Everything known about one search provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchProviderInfo {
    /// The id.
    pub id: SearchProviderId,
    /// The id as written in URLs, requests and the vault (`tavily`).
    pub slug: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Default base URL (what `BYOK_UPSTREAM_<PROVIDER>` replaces).
    pub base_url: &'static str,
    /// How the key is sent.
    pub auth: AuthScheme,
    /// A key example for the settings page.
    pub example: &'static str,
}

/// Builds an adapter over the shared plumbing.
type Build = fn(Http) -> Arc<dyn SearchProvider>;

/// Generates [`SearchProviderId`] (with [`SearchProviderId::ALL`]),
/// [`SEARCH_PROVIDERS`] and the adapter constructors, all in one order, from
/// one list.
macro_rules! search_providers {
    ($(
        $(#[$doc:meta])*
        $id:ident {
            slug: $slug:literal,
            name: $name:literal,
            base_url: $base:literal,
            auth: $auth:expr,
            example: $example:literal,
            adapter: $adapter:path $(,)?
        }
    ),+ $(,)?) => {
        /// A web-search provider (one row of [`SEARCH_PROVIDERS`]).
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[non_exhaustive]
        pub enum SearchProviderId {
            $(
                $(#[$doc])*
                #[serde(rename = $slug)]
                $id,
            )+
        }

        /// The search provider table, in [`SearchProviderId`] order (the
        /// order `/api/web` tries them).
        pub const SEARCH_PROVIDERS: [SearchProviderInfo; [$($slug),+].len()] = [$(
            SearchProviderInfo {
                id: SearchProviderId::$id,
                slug: $slug,
                name: $name,
                base_url: $base,
                auth: $auth,
                example: $example,
            },
        )+];

        impl SearchProviderId {
            /// Every provider, in the order `/api/web` tries them.
            pub const ALL: [SearchProviderId; SEARCH_PROVIDERS.len()] =
                [$(SearchProviderId::$id),+];
        }

        /// The adapter constructors, in table order.
        const ADAPTERS: [Build; SEARCH_PROVIDERS.len()] = [$(
            |http| Arc::new(<$adapter>::new(http)),
        )+];
    };
}

search_providers! {
    /// Tavily.
    Tavily {
        slug: "tavily",
        name: "Tavily",
        base_url: "https://api.tavily.com",
        auth: AuthScheme::Authorization("Bearer"),
        example: "tvly-...",
        adapter: tavily::Tavily,
    },
    /// Exa.
    Exa {
        slug: "exa",
        name: "Exa",
        base_url: "https://api.exa.ai",
        auth: AuthScheme::Header("x-api-key"),
        example: "...",
        adapter: exa::Exa,
    },
    /// Kagi.
    Kagi {
        slug: "kagi",
        name: "Kagi",
        base_url: "https://kagi.com/api/v0",
        auth: AuthScheme::Authorization("Bot"),
        example: "...",
        adapter: kagi::Kagi,
    },
    /// Perplexity (Search API).
    Perplexity {
        slug: "perplexity",
        name: "Perplexity",
        base_url: "https://api.perplexity.ai",
        auth: AuthScheme::Authorization("Bearer"),
        example: "pplx-...",
        adapter: perplexity::Perplexity,
    },
}

impl SearchProviderId {
    /// Its row of [`SEARCH_PROVIDERS`].
    pub fn info(self) -> &'static SearchProviderInfo {
        &SEARCH_PROVIDERS[self as usize]
    }

    /// The id (`tavily`, ...).
    pub fn as_str(self) -> &'static str {
        self.info().slug
    }

    /// Display name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Default base URL (what `BYOK_UPSTREAM_<PROVIDER>` replaces).
    pub fn default_base_url(self) -> &'static str {
        self.info().base_url
    }

    /// Builds this provider's adapter.
    pub(crate) fn adapter(self, http: Http) -> Arc<dyn SearchProvider> {
        ADAPTERS[self as usize](http)
    }
}

impl fmt::Display for SearchProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SearchProviderId {
    type Err = SearchError;

    /// Parses a search provider id. Chat provider ids (and anything else)
    /// are a typed [`SearchError::NotASearchProvider`]: a chat key is never
    /// usable for search.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SEARCH_PROVIDERS
            .iter()
            .find(|row| row.slug == s)
            .map(|row| row.id)
            .ok_or_else(|| SearchError::NotASearchProvider(s.chars().take(64).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_chat_ids() {
        for p in SearchProviderId::ALL {
            assert_eq!(p.as_str().parse::<SearchProviderId>().unwrap(), p);
        }
        for chat in ["openai", "anthropic", "groq", ""] {
            assert!(matches!(
                chat.parse::<SearchProviderId>(),
                Err(SearchError::NotASearchProvider(_))
            ));
        }
    }

    #[test]
    fn the_table_is_in_id_order_and_serde_uses_the_slug() {
        for (i, row) in SEARCH_PROVIDERS.iter().enumerate() {
            assert_eq!(row.id as usize, i);
            assert_eq!(SearchProviderId::ALL[i], row.id);
            assert_eq!(row.id.info(), row);
            assert_eq!(
                serde_json::to_value(row.id).unwrap(),
                serde_json::json!(row.slug)
            );
            assert!(row.base_url.starts_with("https://"));
            if let AuthScheme::Header(name) = row.auth {
                // `http.rs` uses `HeaderName::from_static`, which wants a
                // valid lowercase name.
                let parsed = reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap();
                assert_eq!(parsed.as_str(), name);
            }
        }
    }
}
