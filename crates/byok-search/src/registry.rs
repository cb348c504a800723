//! The adapters' settings and the registry holding one adapter per row of
//! the provider table.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::http::Http;
use crate::id::{SEARCH_PROVIDERS, SearchProviderId};
use crate::providers::SearchProvider;

/// Settings shared by the adapters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SearchConfig {
    /// Base URL overrides (operator only).
    pub base_urls: HashMap<SearchProviderId, String>,
    /// Whole-request timeout. Default 30 s.
    pub timeout: Duration,
    /// Largest response body. Default 4 MiB.
    pub max_body_bytes: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            base_urls: HashMap::new(),
            timeout: Duration::from_secs(30),
            max_body_bytes: 4 << 20,
        }
    }
}

impl SearchConfig {
    /// Sets a base URL override.
    #[must_use]
    pub fn with_base_url(mut self, id: SearchProviderId, url: impl Into<String>) -> Self {
        self.base_urls.insert(id, url.into());
        self
    }

    /// Sets the timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The base URL of `id`, without a trailing `/`.
    pub(crate) fn base(&self, id: SearchProviderId) -> String {
        self.base_urls
            .get(&id)
            .map_or(id.default_base_url(), String::as_str)
            .trim_end_matches('/')
            .to_owned()
    }
}

/// One adapter per provider over a shared client.
#[derive(Debug, Clone)]
pub struct SearchRegistry {
    /// In table order (indexed by [`SearchProviderId`]).
    adapters: [Arc<dyn SearchProvider>; SEARCH_PROVIDERS.len()],
}

impl SearchRegistry {
    /// Builds the adapters, one per row of the provider table.
    pub fn new(client: reqwest::Client, config: SearchConfig) -> Self {
        let config = Arc::new(config);
        let adapters = SearchProviderId::ALL
            .map(|id| id.adapter(Http::new(id, client.clone(), Arc::clone(&config))));
        Self { adapters }
    }

    /// The adapter for `id` (every provider has one).
    pub fn get(&self, id: SearchProviderId) -> Arc<dyn SearchProvider> {
        Arc::clone(&self.adapters[id as usize])
    }
}
