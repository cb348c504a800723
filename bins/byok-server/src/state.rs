//! Shared application state and start-up of the stores.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, bail};
use byok_billing::{Catalog, Ledger, LedgerConfig};
use byok_providers::{EndpointPolicy, ProviderConfig, ProviderId, Registry, Timeouts};
use byok_search::{SearchConfig, SearchProviderId, SearchRegistry};
use byok_vault::{AsyncVault, MasterKey, OpenError, Vault, VaultConfig};

use crate::accounts::Accounts;
use crate::config::Settings;

/// Fixed-window per-user request limiter.
#[derive(Debug, Default)]
pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests (0 = unlimited).
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` or the seconds until the next window.
    ///
    /// # Errors
    /// The wait, when the user is over the limit.
    pub fn check(&self, user: &str) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let now = byok_billing::now_ms() / 1000;
        let minute = now / 60;
        let mut w = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if w.len() > 100_000 {
            w.retain(|_, (m, _)| *m == minute);
        }
        let entry = w.entry(user.to_owned()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= self.per_minute {
            return Err(u64::try_from(60 - now % 60).unwrap_or(60));
        }
        entry.1 += 1;
        Ok(())
    }
}

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
    /// Chat adapters.
    pub providers: Registry,
    /// Search adapters.
    pub search: SearchRegistry,
    /// What the registries are built from (see [`AppState::for_worker`]).
    upstream: Arc<(ProviderConfig, SearchConfig)>,
    /// Settings in effect.
    pub settings: Arc<Settings>,
    /// Per-user request limiter.
    pub limiter: Arc<RateLimiter>,
    /// Endpoint rules for user-supplied endpoints.
    pub policy: EndpointPolicy,
    /// Metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Names of each user's stored credentials, so the request path does
    /// not list the vault (invalidated by this process's writes; a
    /// multi-instance deployment needs a TTL or a notification here).
    pub held: Arc<Mutex<HashMap<String, Arc<Vec<String>>>>>,
}

impl AppState {
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
        let (providers, search) = &*self.upstream;
        match byok_providers::http_client(&providers.timeouts, self.policy) {
            Ok(client) => Self {
                providers: Registry::new(client.clone(), providers.clone()),
                search: SearchRegistry::new(client, search.clone()),
                ..self.clone()
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot build a worker's HTTP client; sharing the server's");
                self.clone()
            }
        }
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))
}

impl AppState {
    /// Creates the data directory and opens every store.
    ///
    /// # Errors
    /// See [`open_vault`]; invalid upstream overrides; storage errors.
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        let vault = open_vault(settings)?.vault;
        let policy = EndpointPolicy {
            allow_insecure: settings.allow_insecure_upstreams,
        };
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
        let client = byok_providers::http_client(&provider_config.timeouts, policy)
            .context("cannot build the HTTP client")?;
        let upstream = Arc::new((provider_config.clone(), search_config.clone()));
        let ledger = Ledger::open_sqlite(
            settings.data_dir.join("ledger.db"),
            &LedgerConfig::default(),
        )
        .map_err(|e| anyhow::anyhow!("cannot open the ledger: {e}"))?;
        let mut catalog = Catalog::builtin().map_err(|e| anyhow::anyhow!("{e}"))?;
        let overrides = settings.data_dir.join("prices.json");
        if overrides.exists() {
            let doc = fs::read_to_string(&overrides)?;
            catalog = catalog
                .with_overrides(&doc)
                .map_err(|e| anyhow::anyhow!("{}: {e}", overrides.display()))?;
        }
        Ok(Self {
            vault: AsyncVault::new(vault, 2).context("cannot start vault worker threads")?,
            accounts: Arc::new(Accounts::open(&settings.data_dir.join("accounts.db"))?),
            ledger,
            catalog: Arc::new(catalog),
            providers: Registry::new(client.clone(), provider_config),
            search: SearchRegistry::new(client, search_config),
            upstream,
            settings: Arc::new(settings.clone()),
            limiter: Arc::new(RateLimiter::new(settings.rate_limit_rpm)),
            policy,
            metrics: Arc::new(crate::metrics::Metrics::default()),
            held: Arc::new(Mutex::new(HashMap::new())),
        })
    }
}

/// Where the master key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `BYOK_MASTER_KEY` / `--master-key`.
    Env,
    /// A key file (given, or `<data-dir>/master.key`).
    File(PathBuf),
}

/// An opened vault and where its master key came from.
#[derive(Debug)]
pub struct OpenedVault {
    /// The vault.
    pub vault: Vault,
    /// The master key's source.
    pub source: KeySource,
}

/// The file a master-key rotation writes before renaming it over `path`.
pub fn pending_key_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// Opens the vault in `settings.data_dir`, with the master key from
/// `BYOK_MASTER_KEY`, `BYOK_MASTER_KEY_FILE`, or `<data-dir>/master.key`
/// (generated with mode 0600 on first start).
///
/// If the key file does not open the vault but a `<file>.new` left by an
/// interrupted `vault rotate-master-key` does, the rotation is completed by
/// renaming it into place.
///
/// # Errors
/// When the master key is malformed, its file is group/world readable, or it
/// is not the key this vault was created with (the canary check), or storage
/// fails.
pub fn open_vault(settings: &Settings) -> anyhow::Result<OpenedVault> {
    create_private_dir(&settings.data_dir)?;
    let db = settings.data_dir.join("vault.db");
    let wrong_key = || {
        anyhow::anyhow!(
            "the master key does not match the vault in {}: refusing to start (was BYOK_MASTER_KEY or the key file changed?)",
            db.display()
        )
    };
    let open = |key: MasterKey| Vault::open_sqlite(&db, key, VaultConfig::default());
    if let Some(encoded) = &settings.master_key {
        let key = MasterKey::from_base64(encoded).context("BYOK_MASTER_KEY is invalid")?;
        return match open(key) {
            Ok(vault) => Ok(OpenedVault {
                vault,
                source: KeySource::Env,
            }),
            Err(OpenError::WrongMasterKey) => Err(wrong_key()),
            Err(e) => Err(e).with_context(|| format!("cannot open the vault at {}", db.display())),
        };
    }
    let path = match &settings.master_key_file {
        Some(p) => p.clone(),
        None => {
            let path = settings.data_dir.join("master.key");
            let (_, created) = MasterKey::load_or_generate(&path)
                .context("cannot load or create the master key")?;
            if created {
                tracing::warn!(
                    path = %path.display(),
                    "generated a new master key; back it up apart from the database: without it the stored credentials are lost"
                );
            }
            path
        }
    };
    let key = MasterKey::from_file(&path).context("cannot load the master key file")?;
    match open(key) {
        Ok(vault) => Ok(OpenedVault {
            vault,
            source: KeySource::File(path),
        }),
        Err(OpenError::WrongMasterKey) => {
            let pending = pending_key_path(&path);
            if !pending.exists() {
                bail!(wrong_key());
            }
            let key =
                MasterKey::from_file(&pending).context("cannot load the pending master key")?;
            match open(key) {
                Ok(vault) => {
                    fs::rename(&pending, &path)
                        .with_context(|| format!("cannot move {} into place", pending.display()))?;
                    tracing::warn!(path = %path.display(), "completed an interrupted master key rotation");
                    Ok(OpenedVault {
                        vault,
                        source: KeySource::File(path),
                    })
                }
                Err(OpenError::WrongMasterKey) => Err(wrong_key()),
                Err(e) => {
                    Err(e).with_context(|| format!("cannot open the vault at {}", db.display()))
                }
            }
        }
        Err(e) => Err(e).with_context(|| format!("cannot open the vault at {}", db.display())),
    }
}
