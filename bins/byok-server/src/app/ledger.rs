//! The server's side of `byok-billing`'s ledger: the only file that calls
//! it. Reads (balance, entries) run on the blocking pool; writes queue on
//! the ledger's writer thread (settlement and release do not wait).

use std::path::Path;
use std::time::Duration;

use byok_billing::{
    Balance, LedgerConfig, LedgerEntry, LedgerError, Money, ReserveError, StoredEntry,
};

use crate::app::blocking::blocking;
use crate::app::request_id::request_id;
use crate::config::RESERVATION_TTL;
use crate::error::{ApiError, internal};

/// The ledger in `<data-dir>/ledger.db`, and how long its reservations
/// live without being extended. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Ledger {
    inner: byok_billing::Ledger,
    ttl: Duration,
}

impl Ledger {
    /// Opens the server's ledger (releasing reservations left by a previous
    /// run; sweeping expired ones, at least every third of `ttl`).
    ///
    /// # Errors
    /// Storage failure.
    pub(crate) fn open(data_dir: &Path, ttl: Duration) -> anyhow::Result<Self> {
        let mut config = LedgerConfig::default();
        config.sweep_interval = config.sweep_interval.map(|every| every.min(ttl / 3));
        Self::open_with(data_dir, &config, ttl)
            .map_err(|e| anyhow::anyhow!("cannot open the ledger: {e}"))
    }

    /// Opens the ledger beside a server that may be running: its in-flight
    /// reservations are kept and not swept (the CLI's `user` commands).
    ///
    /// # Errors
    /// Storage failure.
    pub(crate) fn open_beside_server(data_dir: &Path) -> anyhow::Result<Self> {
        let mut config = LedgerConfig::default();
        config.release_on_open = false;
        config.sweep_interval = None;
        Self::open_with(data_dir, &config, RESERVATION_TTL).map_err(|e| anyhow::anyhow!("{e}"))
    }

    fn open_with(
        data_dir: &Path,
        config: &LedgerConfig,
        ttl: Duration,
    ) -> Result<Self, LedgerError> {
        let inner = byok_billing::Ledger::open_sqlite(data_dir.join("ledger.db"), config)?;
        Ok(Self { inner, ttl })
    }

    /// How long a reservation lives without being extended.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A deadline `ttl` from now, in ledger milliseconds.
    fn deadline(&self) -> i64 {
        let ttl = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        byok_billing::now_ms().saturating_add(ttl)
    }

    /// Holds `amount` of the account's balance for `request_id`, for the
    /// reservation TTL (extend it with [`Ledger::extend`]).
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

    /// Keeps a live request's reservation for another TTL from now (a map
    /// update; not waited for).
    pub(crate) fn extend(&self, request_id: &str) {
        self.inner.extend(request_id, self.deadline()).detach();
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
