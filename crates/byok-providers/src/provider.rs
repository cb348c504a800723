//! The [`ChatProvider`] trait, its configuration, and the registry that
//! builds one adapter per provider over one shared HTTP client.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::credential::{Credential, EndpointPolicy};
use crate::error::ProviderError;
use crate::forward::{Forward, Forwarded};
use crate::id::{PROVIDERS, ProviderId, WireFormat};
use crate::stream::{ChatStream, UsageReport};
use crate::translators::anthropic::Anthropic;
use crate::translators::bedrock::Bedrock;
use crate::translators::gemini::Google;
use crate::translators::openai::OpenAiCompatible;
use crate::translators::responses::Responses;
use crate::transport::{ClientError, HttpClient, Resolution};
use crate::types::{ChatRequest, ChatResponse, ModelInfo};

/// A non-streaming answer with its usage.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ChatOutcome {
    /// The response in OpenAI's shape.
    pub response: ChatResponse,
    /// Whether the provider reported usage.
    pub usage: UsageReport,
    /// The upstream's JSON body, when it is in exactly OpenAI's shape and
    /// says what `response` says: a relay may forward it as it came
    /// instead of serializing `response`. `None` for translated answers.
    pub verbatim: Option<bytes::Bytes>,
}

impl ChatOutcome {
    /// An answer to be serialized from `response`, its usage the one the
    /// response reports.
    pub fn new(response: ChatResponse) -> Self {
        let usage = response
            .usage
            .clone()
            .map_or(UsageReport::Missing, UsageReport::Reported);
        Self {
            response,
            usage,
            verbatim: None,
        }
    }
}

/// One provider behind the neutral API. Object-safe: the server holds
/// `Arc<dyn ChatProvider>`.
#[async_trait]
pub trait ChatProvider: Send + Sync + std::fmt::Debug {
    /// Which provider this is.
    fn id(&self) -> ProviderId;

    /// One non-streaming completion.
    ///
    /// # Errors
    /// [`ProviderError`]; never carries the credential.
    async fn chat(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatOutcome, ProviderError>;

    /// A streaming completion. Errors before the first byte come back here;
    /// errors after it come as the stream's items.
    ///
    /// # Errors
    /// [`ProviderError`]; never carries the credential.
    async fn chat_stream(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatStream, ProviderError>;

    /// Lists models: the cheap authenticated call used to verify a key.
    ///
    /// # Errors
    /// [`ProviderError`].
    async fn list_models(&self, credential: &Credential) -> Result<Vec<ModelInfo>, ProviderError>;

    /// Forwards a request in the provider's own protocol unchanged (the
    /// pass-through of `crate::forward`): to the credential's target,
    /// authorised, answered as the provider sent it. Bedrock signs each
    /// body: there `op` is an `InvokeModel` path (`model/{modelId}/invoke`)
    /// sent whole, and a [`ForwardBody::Batch`](crate::ForwardBody) is a
    /// batch of calls answered with the JSON array of their answers.
    ///
    /// # Errors
    /// [`ProviderError`] (a non-success status included, sanitised);
    /// [`ProviderError::Unsupported`] for a streamed Bedrock request or one
    /// with protocol headers, and for a batch to a provider that does not
    /// sign each call.
    async fn forward(
        &self,
        request: Forward<'_>,
        credential: &Credential,
    ) -> Result<Forwarded, ProviderError>;
}

/// Timeouts for upstream calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// From sending the request to the response headers. Default 300 s
    /// (non-streaming answers of large models take minutes).
    pub response: Duration,
    /// Longest silence between two pieces of a body or stream. Default 120 s.
    pub idle: Duration,
    /// TCP/TLS connect. Default 10 s.
    pub connect: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            response: Duration::from_secs(300),
            idle: Duration::from_secs(120),
            connect: Duration::from_secs(10),
        }
    }
}

impl Timeouts {
    /// All three at once (tests).
    pub fn uniform(d: Duration) -> Self {
        Self {
            response: d,
            idle: d,
            connect: d,
        }
    }
}

/// Size limits on what upstreams send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest non-streaming body. Default 32 MiB.
    pub max_body_bytes: usize,
    /// Largest single SSE event. Default 4 MiB.
    pub max_event_bytes: usize,
    /// Largest error body read for its message. Default 64 KiB.
    pub max_error_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 << 20,
            max_event_bytes: 4 << 20,
            max_error_bytes: 64 << 10,
        }
    }
}

/// Configuration for every adapter.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// Base URLs replacing the defaults (the server fills this from
    /// `BYOK_UPSTREAM_<PROVIDER>`). Operator-only: never from a request.
    pub base_urls: HashMap<ProviderId, String>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Limits.
    pub limits: Limits,
    /// Endpoint rules for user-supplied endpoints.
    pub endpoint_policy: EndpointPolicy,
}

impl ProviderConfig {
    /// Sets a base URL override.
    #[must_use]
    pub fn with_base_url(mut self, id: ProviderId, url: impl Into<String>) -> Self {
        self.base_urls.insert(id, url.into());
        self
    }

    /// Sets the timeouts.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Sets the limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The base URL in effect for `id`.
    pub fn base_url(&self, id: ProviderId) -> &str {
        self.base_urls
            .get(&id)
            .map_or(id.info().base_url, String::as_str)
    }
}

/// Builds the client the chat adapters share ([`Registry::new`]):
/// connection pooling, a connect timeout, no redirects (a redirect could
/// carry a key elsewhere), no proxy from the environment, TCP_NODELAY,
/// HTTP/2 by ALPN, and unless `policy` allows insecure upstreams, a
/// resolver that refuses host names resolving to non-public addresses.
/// hyper called directly, not reqwest: see [`crate::HttpClient`].
///
/// # Errors
/// When TLS cannot be set up.
pub fn upstream_client(
    timeouts: &Timeouts,
    policy: EndpointPolicy,
) -> Result<HttpClient, ClientError> {
    let resolution = if policy.allow_insecure {
        Resolution::System
    } else {
        Resolution::PublicOnly
    };
    HttpClient::new(timeouts.connect, resolution)
}

/// The same rules as [`upstream_client`] in a `reqwest` client, for the
/// crates that take one (`byok-search`): connection pooling, a
/// connect timeout, no redirects (a redirect could carry a key elsewhere),
/// no proxy from the environment, TCP_NODELAY, and unless `policy` allows
/// insecure upstreams, a resolver that refuses host names resolving to
/// non-public addresses ([`crate::PublicOnlyResolver`]).
///
/// # Errors
/// When the TLS backend cannot be initialised.
pub fn http_client(
    timeouts: &Timeouts,
    policy: EndpointPolicy,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder();
    if !policy.allow_insecure {
        builder = builder.dns_resolver(Arc::new(crate::resolver::PublicOnlyResolver));
    }
    builder
        .connect_timeout(timeouts.connect)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(64)
        .user_agent(concat!("byok/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// One adapter per provider, sharing one client: the provider's
/// [`WireFormat`] picks the translator, its [`crate::TargetKind`] (read by
/// the translator with the credential) where requests go.
#[derive(Debug, Clone)]
pub struct Registry {
    /// In [`ProviderId`] order.
    providers: [Arc<dyn ChatProvider>; ProviderId::COUNT],
}

impl Registry {
    /// Builds the adapter of every provider in the table.
    pub fn new(client: HttpClient, config: ProviderConfig) -> Self {
        let config = Arc::new(config);
        let providers = std::array::from_fn(|i| adapter(PROVIDERS[i].id, &client, &config));
        Self { providers }
    }

    /// The adapter for `id` (every provider has one).
    pub fn get(&self, id: ProviderId) -> &Arc<dyn ChatProvider> {
        &self.providers[id as usize]
    }
}

/// The one dispatch on wire formats.
fn adapter(
    id: ProviderId,
    client: &HttpClient,
    config: &Arc<ProviderConfig>,
) -> Arc<dyn ChatProvider> {
    let client = client.clone();
    let config = Arc::clone(config);
    match id.info().format {
        WireFormat::OpenAiChat(quirks) => {
            let base = config.base_url(id).to_owned();
            Arc::new(OpenAiCompatible::new(id, base, quirks, client, config))
        }
        WireFormat::AnthropicMessages => Arc::new(Anthropic::new(id, client, config)),
        WireFormat::Responses => Arc::new(Responses::new(id, client, config)),
        WireFormat::Gemini => Arc::new(Google::new(id, client, config)),
        WireFormat::BedrockConverse => Arc::new(Bedrock::new(id, client, config)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of the table gets an adapter of its own id: a new row
    /// needs no code here.
    #[test]
    fn every_row_has_an_adapter() {
        let registry = Registry::new(
            upstream_client(&Timeouts::default(), EndpointPolicy::default()).unwrap(),
            ProviderConfig::default(),
        );
        for p in &PROVIDERS {
            assert_eq!(registry.get(p.id).id(), p.id, "{}", p.slug);
        }
    }
}
