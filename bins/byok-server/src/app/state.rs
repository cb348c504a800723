//! Shared application state and the opening of every store at start-up.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use byok_billing::Catalog;
use byok_providers::{
    ChatProvider, EndpointPolicy, ProviderConfig, ProviderId, Registry, Timeouts,
};
use byok_search::{SearchConfig, SearchProviderId, SearchRegistry};
use byok_vault::AsyncVault;

use crate::accounts::Accounts;
use crate::app::cache::BoundedCache;
use crate::app::changes;
use crate::app::health::{HealthStore, MemoryHealthStore, PostgresHealthStore};
use crate::app::keys::HeldKeys;
use crate::app::ledger::Ledger;
use crate::app::lock::DataDirLock;
use crate::app::shared::SharedDb;
use crate::app::vault::{create_private_dir, open_vault};
use crate::auth::{AdminFailures, Limiter, WRITES_PER_MINUTE};
use crate::config::Settings;
use crate::metrics::Metrics;

/// State shared by every request handler.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The credential vault.
    pub vault: AsyncVault,
    /// Users and gateway keys.
    pub accounts: Arc<Accounts>,
    /// Balances and charges.
    pub ledger: Ledger,
    /// Prices.
    pub catalog: Arc<Catalog>,
    /// Chat adapters (on a client for the operator's targets; see
    /// `AppState::chat_adapter`).
    pub providers: Registry,
    /// Chat adapters on a client of their own for requests that go to a
    /// user-supplied endpoint, when the operator's targets and the users'
    /// endpoints follow different rules (see [`Clients`]).
    user_endpoints: Option<Registry>,
    /// Search adapters.
    pub search: SearchRegistry,
    /// What the registries are built from (see [`AppState::for_worker`]).
    upstream: Arc<(ProviderConfig, SearchConfig)>,
    /// Settings in effect.
    pub settings: Arc<Settings>,
    /// Per-user request limiter.
    pub(crate) limiter: Arc<Limiter>,
    /// Per-user limiter of writes to the shared stores.
    pub(crate) write_limiter: Arc<Limiter>,
    /// The bound address serving `/metrics` apart, when
    /// `BYOK_METRICS_LISTEN` is set (filled in by [`crate::build`]).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Failed admin attempts (a per-process limit).
    pub(crate) admin_failures: Arc<AdminFailures>,
    /// The data directory's shared lock, held while any clone lives.
    _lock: Arc<DataDirLock>,
    /// Endpoint rules for user-supplied endpoints
    /// (`BYOK_ALLOW_PRIVATE_USER_ENDPOINTS`).
    pub policy: EndpointPolicy,
    /// Rules for the operator's own targets (`BYOK_ALLOW_INSECURE_UPSTREAMS`).
    operator_policy: EndpointPolicy,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Each user's stored keys (names and priorities), so the request path
    /// does not list the vault (invalidated by this process's writes, and
    /// with several instances by the change feed: `app::changes`).
    pub held: Arc<BoundedCache<String, Arc<HeldKeys>>>,
    /// The health of the users' keys (`app::health`).
    pub(crate) health: Arc<dyn HealthStore>,
    /// The server's tables in PostgreSQL, with `BYOK_DATABASE_URL`.
    pub(crate) shared: Option<Arc<SharedDb>>,
}

impl AppState {
    /// Creates the data directory, takes its shared lock (see
    /// `DataDirLock`) and opens every store.
    ///
    /// # Errors
    /// See [`Settings::validate`] and [`open_vault`]; invalid upstream
    /// overrides; storage errors.
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        create_private_dir(&settings.data_dir)?;
        let lock = Arc::new(DataDirLock::shared(&settings.data_dir)?);
        let vault = open_vault(settings)?.vault;
        let policy = EndpointPolicy {
            allow_insecure: settings.allow_private_user_endpoints,
        };
        let operator_policy = EndpointPolicy {
            allow_insecure: settings.allow_insecure_upstreams,
        };
        if policy.allow_insecure {
            tracing::warn!(
                "BYOK_ALLOW_PRIVATE_USER_ENDPOINTS is set: users may point Azure endpoints at any host, private addresses included (tests and labs only)"
            );
        }
        let (provider_config, search_config) = upstream_configs(settings, policy)?;
        let upstream = Arc::new((provider_config, search_config));
        let clients = Clients::build(&upstream, operator_policy, policy)
            .context("cannot build the HTTP client")?;
        let metrics = Arc::new(Metrics::default());
        let shared = match &settings.database_url {
            Some(url) => Some(SharedDb::open(url)?),
            None => None,
        };
        let held = Arc::new(BoundedCache::default());
        let (accounts, health): (_, Arc<dyn HealthStore>) = match &shared {
            Some(db) => {
                let accounts = Arc::new(Accounts::postgres(Arc::clone(db)));
                let health = Arc::new(PostgresHealthStore::start(Arc::clone(db))?);
                metrics.watch_keys(health.memory());
                let targets = changes::Targets {
                    accounts: Arc::downgrade(&accounts),
                    held: Arc::downgrade(&held),
                    health: Arc::downgrade(&health),
                    vault: vault.clone(),
                };
                changes::start(db, targets).context("cannot start the change feed")?;
                (accounts, health)
            }
            None => {
                let health = Arc::new(MemoryHealthStore::default());
                metrics.watch_keys(Arc::<MemoryHealthStore>::clone(&health));
                let accounts = Accounts::open(&settings.data_dir.join("accounts.db"))?;
                (Arc::new(accounts), health)
            }
        };
        Ok(Self {
            vault: AsyncVault::new(vault, 2).context("cannot start vault worker threads")?,
            accounts,
            ledger: Ledger::open(settings)?,
            catalog: Arc::new(load_catalog(&settings.data_dir)?),
            providers: clients.providers,
            user_endpoints: clients.user_endpoints,
            search: clients.search,
            upstream,
            settings: Arc::new(settings.clone()),
            limiter: Arc::new(Limiter::new(
                settings.rate_limit_rpm,
                "requests",
                shared.clone(),
            )),
            write_limiter: Arc::new(Limiter::new(WRITES_PER_MINUTE, "writes", shared.clone())),
            metrics_listen: None,
            admin_failures: Arc::default(),
            _lock: lock,
            policy,
            operator_policy,
            metrics,
            held,
            health,
            shared,
        })
    }

    /// This state with adapters on an HTTP client of their own, for one
    /// server worker. Each actix worker is a single-threaded runtime, and a
    /// pooled upstream connection is driven by the runtime that opened it:
    /// with one client shared by every worker, a request on one worker was
    /// often written and read by another (two extra cross-thread wake-ups
    /// per request, and a stall whenever that worker was busy). One client
    /// per worker keeps each request and its connection on one thread; the
    /// pool is still shared by every request of that worker. Everything
    /// else (vault, ledger, caches, metrics) stays shared.
    #[must_use]
    pub fn for_worker(&self) -> Self {
        match Clients::build(&self.upstream, self.operator_policy, self.policy) {
            Ok(clients) => Self {
                providers: clients.providers,
                user_endpoints: clients.user_endpoints,
                search: clients.search,
                ..self.clone()
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot build a worker's HTTP client; sharing the server's");
                self.clone()
            }
        }
    }

    /// The adapter for `provider`: on the user-endpoint client when the
    /// request goes to the user's own endpoint (an Azure target without an
    /// operator override) and that client is a different one.
    pub(crate) fn chat_adapter(&self, provider: ProviderId) -> &Arc<dyn ChatProvider> {
        match &self.user_endpoints {
            Some(user) if self.goes_to_user_endpoint(provider) => user.get(provider),
            _ => self.providers.get(provider),
        }
    }

    /// Whether `provider`'s requests go to the endpoint in the user's
    /// credential: its row has no base URL (the Azure targets) and the
    /// operator set none.
    fn goes_to_user_endpoint(&self, provider: ProviderId) -> bool {
        self.upstream.0.base_url(provider).is_empty()
    }
}

/// The HTTP clients' adapters, per worker.
///
/// The operator's targets (the provider table's hosts and the
/// `BYOK_UPSTREAM_*` overrides) and the users' endpoints (Azure JSON
/// credentials) follow separate rules: `BYOK_ALLOW_INSECURE_UPSTREAMS`
/// lets the former be private (a local model), and only
/// `BYOK_ALLOW_PRIVATE_USER_ENDPOINTS` lets the latter (issue #14,
/// finding 8). The public-only check lives in the client's DNS resolver
/// ([`byok_providers::PublicOnlyResolver`]), so that the address checked
/// is the address connected to; a per-request check of the user
/// endpoint's addresses before the call would be open to DNS rebinding
/// (resolved once to check, again to connect). So when the two rules
/// differ, requests to user endpoints go through a second client built
/// with the user-side rule; when they agree there is one client, as
/// before.
struct Clients {
    providers: Registry,
    user_endpoints: Option<Registry>,
    search: SearchRegistry,
}

impl Clients {
    fn build(
        upstream: &(ProviderConfig, SearchConfig),
        operator: EndpointPolicy,
        user: EndpointPolicy,
    ) -> anyhow::Result<Self> {
        let (providers, search) = upstream;
        let client = byok_providers::upstream_client(&providers.timeouts, operator)?;
        let user_endpoints = if user == operator {
            None
        } else {
            let client = byok_providers::upstream_client(&providers.timeouts, user)?;
            Some(Registry::new(client, providers.clone()))
        };
        // Search adapters take a reqwest client (byok-search), with the
        // same rules.
        let search_client = byok_providers::http_client(&providers.timeouts, operator)?;
        Ok(Self {
            providers: Registry::new(client, providers.clone()),
            user_endpoints,
            search: SearchRegistry::new(search_client, search.clone()),
        })
    }
}

/// The adapters' configuration: the upstream timeouts and the operator's
/// base URL overrides (by provider id, chat or search).
fn upstream_configs(
    settings: &Settings,
    policy: EndpointPolicy,
) -> anyhow::Result<(ProviderConfig, SearchConfig)> {
    let mut timeouts = Timeouts::default();
    timeouts.response = Duration::from_secs(settings.upstream_response_timeout_secs);
    timeouts.idle = Duration::from_secs(settings.upstream_idle_timeout_secs);
    timeouts.connect = Duration::from_secs(settings.upstream_connect_timeout_secs);
    let mut provider_config = ProviderConfig::default().with_timeouts(timeouts);
    provider_config.endpoint_policy = policy;
    let mut search_config = SearchConfig::default();
    for (id, url) in &settings.upstreams {
        let parsed = url::Url::parse(url)
            .with_context(|| format!("BYOK_UPSTREAM for `{id}` is not a URL"))?;
        if !settings.allow_insecure_upstreams && parsed.scheme() != "https" {
            bail!(
                "the upstream override for `{id}` must use https (or set BYOK_ALLOW_INSECURE_UPSTREAMS=1 for a lab)"
            );
        }
        if let Ok(p) = id.parse::<ProviderId>() {
            provider_config = provider_config.with_base_url(p, url.clone());
        } else if let Ok(s) = id.parse::<SearchProviderId>() {
            search_config = search_config.with_base_url(s, url.clone());
        } else {
            bail!("BYOK_UPSTREAM names an unknown provider `{id}`");
        }
    }
    Ok((provider_config, search_config))
}

/// The built-in price catalog with `<data-dir>/prices.json` over it, if
/// present.
///
/// # Errors
/// A malformed override file.
pub(crate) fn load_catalog(data_dir: &Path) -> anyhow::Result<Catalog> {
    let catalog = Catalog::builtin().map_err(|e| anyhow::anyhow!("{e}"))?;
    let overrides = data_dir.join("prices.json");
    if !overrides.exists() {
        return Ok(catalog);
    }
    let doc = fs::read_to_string(&overrides)?;
    catalog
        .with_overrides(&doc)
        .map_err(|e| anyhow::anyhow!("{}: {e}", overrides.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Neither `Settings` nor `AppState` shows the master key or the admin
    /// token in `Debug` (logs, panics).
    #[test]
    fn debug_output_holds_no_secret() {
        let master = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
        let token = "admin-token-SECRET-0123456789abcdefghij";
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::for_data_dir(dir.path().join("data"));
        settings.master_key = Some(master.into());
        settings.admin_token = Some(token.into());
        let state = AppState::open(&settings).unwrap();
        for shown in [format!("{settings:?}"), format!("{state:?}")] {
            assert!(shown.contains("admin_token"), "{shown}");
            for secret in [master, token, "AQIDBAUG", "SECRET"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
        }
        state.ledger.shutdown();
    }
}
