//! The server's side of `byok-billing`'s ledger: the only file that calls
//! it. Reads (balance, entries) run on the blocking pool; writes queue on
//! the ledger's writer thread (settlement and release do not wait).

use std::path::Path;

use byok_billing::{
    Balance, LedgerConfig, LedgerEntry, LedgerError, Money, ReserveError, StoredEntry,
};

use crate::app::blocking::blocking;
use crate::app::request_id::request_id;
use crate::error::{ApiError, internal};

/// How long a reservation may stay open before the sweeper releases it.
const RESERVATION_TTL_MS: i64 = 15 * 60 * 1000;

/// The ledger in `<data-dir>/ledger.db`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Ledger(byok_billing::Ledger);

impl Ledger {
    /// Opens the server's ledger (releasing reservations left by a previous
    /// run; sweeping expired ones).
    ///
    /// # Errors
    /// Storage failure.
    pub(crate) fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Self::open_with(data_dir, &LedgerConfig::default())
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
        Self::open_with(data_dir, &config).map_err(|e| anyhow::anyhow!("{e}"))
    }

    fn open_with(data_dir: &Path, config: &LedgerConfig) -> Result<Self, LedgerError> {
        byok_billing::Ledger::open_sqlite(data_dir.join("ledger.db"), config).map(Self)
    }

    /// Holds `amount` of the account's balance for `request_id`.
    ///
    /// # Errors
    /// 402 when it does not fit; 500 when the ledger fails.
    pub(crate) async fn reserve(
        &self,
        account: &str,
        request_id: &str,
        amount: Money,
    ) -> Result<(), ApiError> {
        let expires_at_ms = byok_billing::now_ms() + RESERVATION_TTL_MS;
        match self
            .0
            .reserve(account, request_id, amount, expires_at_ms)
            .await
        {
            Ok(_) => Ok(()),
            Err(ReserveError::InsufficientBalance { available, needed }) => {
                Err(ApiError::insufficient_balance(needed, available))
            }
            Err(e) => Err(internal("ledger reserve", &e)),
        }
    }

    /// Records a finished request's charge (and ends its reservation);
    /// committed in the writer's next batch.
    pub(crate) fn settle(&self, entry: LedgerEntry) {
        self.0.settle(entry).detach();
    }

    /// Ends `request_id`'s reservation without a charge.
    pub(crate) fn release(&self, request_id: &str) {
        self.0.release(request_id).detach();
    }

    /// Adds credit to an account, under a fresh idempotency key.
    ///
    /// # Errors
    /// 500 when the ledger fails.
    pub(crate) async fn credit(&self, account: &str, amount: Money) -> Result<(), ApiError> {
        self.0
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
        self.0
            .credit_blocking(account, &credit_request_id(), amount)
            .map(drop)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The account's balance and reservations (on the blocking pool).
    ///
    /// # Errors
    /// 500 when the ledger fails.
    pub(crate) async fn balance(&self, account: String) -> Result<Balance, ApiError> {
        let ledger = self.0.clone();
        blocking("balance", move || ledger.balance(&account)).await
    }

    /// [`Ledger::balance`] for callers outside a runtime (the CLI).
    ///
    /// # Errors
    /// The ledger's failure.
    pub(crate) fn balance_blocking(&self, account: &str) -> anyhow::Result<Balance> {
        self.0.balance(account).map_err(|e| anyhow::anyhow!("{e}"))
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
        let ledger = self.0.clone();
        blocking("usage", move || ledger.usage(&account, limit, before)).await
    }

    /// Stops taking writes and commits everything queued.
    pub fn shutdown(&self) {
        self.0.shutdown();
    }
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
