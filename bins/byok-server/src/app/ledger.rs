//! The server's side of `byok-billing`'s ledger: the only file that calls
//! it. Reads (balance, entries) run on the blocking pool; writes queue on
//! the ledger's writer thread (settlement and release do not wait).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use byok_billing::{
    Balance, LedgerConfig, LedgerEntry, LedgerError, Money, Reservations, ReserveError, StoredEntry,
};
use secrecy::ExposeSecret as _;

use crate::app::blocking::blocking;
use crate::app::request_id::request_id;
use crate::config::{RESERVATION_TTL, Settings};
use crate::error::{ApiError, internal};

/// The ledger in `<data-dir>/ledger.db`, how long its reservations live
/// without being extended, and the reservations of requests still in
/// flight. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Ledger {
    inner: byok_billing::Ledger,
    ttl: Duration,
    live: Arc<Live>,
}

/// The reservations of requests in flight, extended together by one keeper
/// thread every third of the TTL, so a live request's reservation never
/// expires (a slow client that stops reading a stream does not stop the
/// keeper). A request joins with [`Ledger::keep_alive`] and leaves when its
/// [`KeptAlive`] is dropped: a set insert and remove on the request path,
/// no task or timer per request.
#[derive(Debug)]
struct Live {
    ids: Mutex<HashSet<String, foldhash::fast::RandomState>>,
    ledger: byok_billing::Ledger,
    ttl: Duration,
}

impl Live {
    fn ids(&self) -> std::sync::MutexGuard<'_, HashSet<String, foldhash::fast::RandomState>> {
        // The set stays consistent whatever a panicking holder did.
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Extends every live reservation by a TTL from now.
    fn extend_all(&self) {
        let ids: Vec<String> = self.ids().iter().cloned().collect();
        let until = deadline(self.ttl);
        for id in ids {
            self.ledger.extend(&id, until).detach();
        }
    }

    /// Starts the keeper: it wakes every third of the TTL and ends once
    /// every `Ledger` holding `live` is gone.
    fn start_keeper(live: &Arc<Live>) {
        let period = (live.ttl / 3).max(Duration::from_millis(1));
        let weak: Weak<Live> = Arc::downgrade(live);
        let spawned = std::thread::Builder::new()
            .name("byok-keepalive".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(period);
                    match weak.upgrade() {
                        Some(live) => live.extend_all(),
                        None => return,
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the reservation keeper; long requests may lose their reservation (they are still charged)");
        }
    }
}

/// A request's membership of the live set; leaving it (on drop) lets its
/// reservation expire normally.
#[derive(Debug)]
pub(crate) struct KeptAlive {
    live: Arc<Live>,
    request_id: String,
}

impl Drop for KeptAlive {
    fn drop(&mut self) {
        self.live.ids().remove(&self.request_id);
    }
}

/// A deadline `ttl` from now, in ledger milliseconds.
fn deadline(ttl: Duration) -> i64 {
    let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    byok_billing::now_ms().saturating_add(ttl)
}

impl Ledger {
    /// Opens the server's ledger (releasing reservations left by a previous
    /// run; sweeping expired ones, at least every third of `ttl`).
    ///
    /// # Errors
    /// Storage failure.
    pub(crate) fn open(settings: &Settings) -> anyhow::Result<Self> {
        let ttl = settings.reservation_ttl;
        let mut config = LedgerConfig::default();
        config.sweep_interval = config.sweep_interval.map(|every| every.min(ttl / 3));
        let ledger = Self::open_with(settings, config, ttl)
            .map_err(|e| anyhow::anyhow!("cannot open the ledger: {e}"))?;
        Live::start_keeper(&ledger.live);
        Ok(ledger)
    }

    /// Opens the ledger beside a server that may be running: its in-flight
    /// reservations are kept and not swept (the CLI's `user` commands).
    ///
    /// # Errors
    /// Storage failure.
    pub(crate) fn open_beside_server(settings: &Settings) -> anyhow::Result<Self> {
        let mut config = LedgerConfig::default();
        config.release_on_open = false;
        config.sweep_interval = None;
        Self::open_with(settings, config, RESERVATION_TTL).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The SQLite ledger in the data directory, or with
    /// `BYOK_DATABASE_URL` the PostgreSQL one, whose reservations live in
    /// the database (a conditional update per reservation, so instances
    /// sharing it never overspend) and are not released at open (they may
    /// be another instance's; expired ones are swept).
    fn open_with(
        settings: &Settings,
        mut config: LedgerConfig,
        ttl: Duration,
    ) -> Result<Self, LedgerError> {
        let inner = match &settings.database_url {
            Some(url) => {
                config.reservations = Reservations::Store;
                config.release_on_open = false;
                byok_billing::Ledger::open_postgres(url.expose_secret(), &config)?
            }
            None => {
                byok_billing::Ledger::open_sqlite(settings.data_dir.join("ledger.db"), &config)?
            }
        };
        let live = Arc::new(Live {
            ids: Mutex::new(HashSet::default()),
            ledger: inner.clone(),
            ttl,
        });
        Ok(Self { inner, ttl, live })
    }

    /// A deadline `ttl` from now, in ledger milliseconds.
    fn deadline(&self) -> i64 {
        deadline(self.ttl)
    }

    /// Holds `amount` of the account's balance for `request_id`, for the
    /// reservation TTL (kept from expiring with [`Ledger::keep_alive`]).
    ///
    /// # Errors
    /// [`Refused::Insufficient`] when it does not fit; a 500 when the
    /// ledger fails.
    pub(crate) async fn reserve(
        &self,
        account: &str,
        request_id: &str,
        amount: Money,
    ) -> Result<(), Refused> {
        match self
            .inner
            .reserve(account, request_id, amount, self.deadline())
            .await
        {
            Ok(_) => Ok(()),
            Err(ReserveError::InsufficientBalance { available, needed }) => {
                Err(Refused::Insufficient { available, needed })
            }
            Err(e) => Err(Refused::Failed(internal("ledger reserve", &e))),
        }
    }

    /// Keeps `request_id`'s reservation from expiring until the returned
    /// guard is dropped (the keeper extends it every third of the TTL).
    pub(crate) fn keep_alive(&self, request_id: &str) -> KeptAlive {
        self.live.ids().insert(request_id.to_owned());
        KeptAlive {
            live: Arc::clone(&self.live),
            request_id: request_id.to_owned(),
        }
    }

    /// Records a finished request's charge (and ends its reservation);
    /// committed in the writer's next batch.
    pub(crate) fn settle(&self, entry: LedgerEntry) {
        self.inner.settle(entry).detach();
    }

    /// Ends `request_id`'s reservation without a charge.
    pub(crate) fn release(&self, request_id: &str) {
        self.inner.release(request_id).detach();
    }

    /// Adds credit to an account, under a fresh idempotency key.
    ///
    /// # Errors
    /// 500 when the ledger fails.
    pub(crate) async fn credit(&self, account: &str, amount: Money) -> Result<(), ApiError> {
        self.inner
            .credit(account, &credit_request_id(), amount)
            .await
            .map(drop)
            .map_err(|e| internal("credit", &e))
    }

    /// [`Ledger::credit`] for callers outside a runtime (the CLI).
    ///
    /// # Errors
    /// The ledger's failure.
    pub(crate) fn credit_blocking(&self, account: &str, amount: Money) -> anyhow::Result<()> {
        self.inner
            .credit_blocking(account, &credit_request_id(), amount)
            .map(drop)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The account's balance and reservations (on the blocking pool).
    ///
    /// # Errors
    /// 500 when the ledger fails.
    pub(crate) async fn balance(&self, account: String) -> Result<Balance, ApiError> {
        let ledger = self.inner.clone();
        blocking("balance", move || ledger.balance(&account)).await
    }

    /// [`Ledger::balance`] for callers outside a runtime (the CLI).
    ///
    /// # Errors
    /// The ledger's failure.
    pub(crate) fn balance_blocking(&self, account: &str) -> anyhow::Result<Balance> {
        self.inner
            .balance(account)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The account's charges, newest first, at most `limit`, before the
    /// sequence number `before` (on the blocking pool).
    ///
    /// # Errors
    /// 500 when the ledger fails.
    pub(crate) async fn entries(
        &self,
        account: String,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<StoredEntry>, ApiError> {
        let ledger = self.inner.clone();
        blocking("usage", move || ledger.usage(&account, limit, before)).await
    }

    /// Stops taking writes and commits everything queued.
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }
}

/// Why a reservation was not made.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The balance does not cover it (a `402`).
    Insufficient {
        /// What the balance has free.
        available: Money,
        /// What the reservation needed.
        needed: Money,
    },
    /// The ledger failed.
    Failed(ApiError),
}

/// A credit amount: a positive decimal USD amount. The error ends a
/// sentence about the amount.
pub(crate) fn credit_amount(text: &str) -> Result<Money, &'static str> {
    let amount: Money = text
        .parse()
        .map_err(|_| "must be a decimal USD amount like \"10.00\"")?;
    if amount.is_negative() || amount == Money::ZERO {
        return Err("must be positive");
    }
    Ok(amount)
}

/// A fresh idempotency key for a credit.
fn credit_request_id() -> String {
    format!("credit_{}", request_id())
}
