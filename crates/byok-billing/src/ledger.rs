//! The ledger: balances, reservations and charges, exact and idempotent.
//!
//! # Flow
//!
//! 1. Before calling upstream, **reserve** the most the markup could be
//!    ([`crate::max_markup`]). The reservation fails with
//!    [`LedgerError::InsufficientBalance`] when `balance − reserved − amount`
//!    would fall below the floor; nothing is sent upstream then.
//! 2. Afterwards, **settle**: the reservation is removed and the real markup
//!    is charged, with the ledger entry written in the same transaction.
//!    Settling is idempotent by request id: a retry never charges twice.
//! 3. On failure, **release** the reservation. Reservations that outlive
//!    their deadline (a crashed request) are released by [`Ledger::sweep`];
//!    a single-process deployment releases all of them at start-up
//!    ([`LedgerConfig::release_on_open`]).
//!
//! Because a reservation is an upper bound of its charge, the balance never
//! goes below the floor, whatever the concurrency.
//!
//! # Where reservations live
//!
//! By default ([`Reservations::InMemory`]) reservations are held in this
//! process's memory: reserving is a check and an update under one lock
//! against a cached view of each account (committed balance, charges not
//! yet committed, open reservations), with no database write and no wait
//! for the writer thread, so the request path pays nothing before its
//! upstream call. Settling moves the reservation's place to the charge in
//! the same lock, then queues the charge. Reservations are void after a
//! restart anyway; a refusal re-reads the balance from the store first, so
//! credits written by another process are seen. For several processes that
//! reserve against one database, [`Reservations::Store`] keeps them in the
//! store, checked and written in one `BEGIN IMMEDIATE` transaction on the
//! writer.
//!
//! # Batching
//!
//! All writes go through one writer thread that commits queued commands in
//! batches (one transaction, one `fsync`, for up to
//! [`LedgerConfig::max_batch`] commands, gathered for up to
//! [`LedgerConfig::commit_delay`] when the batch moves money); each caller
//! is answered after the commit that contains its command. Shutting down
//! ([`Ledger::shutdown`]) drains the queue first, so nothing acknowledged or
//! queued is lost.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::catalog::PriceSource;
use crate::money::Money;
use crate::quote::UsageSource;

/// One settled request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    /// The request id (unique; the idempotency key).
    pub request_id: String,
    /// The account charged.
    pub account: String,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Provider id.
    pub provider: String,
    /// Model id.
    pub model: String,
    /// Endpoint (`/api/v1/chat/completions`, `/api/web`).
    pub endpoint: String,
    /// Prompt tokens (cached included).
    pub prompt_tokens: u64,
    /// Completion tokens (reasoning included).
    pub completion_tokens: u64,
    /// Cached prompt tokens.
    pub cached_tokens: u64,
    /// Reported or estimated.
    pub usage_source: UsageSource,
    /// The provider's cost (informational).
    pub provider_cost: Money,
    /// The markup charged.
    pub markup: Money,
    /// Where the price came from.
    pub price_source: PriceSource,
}

impl LedgerEntry {
    /// Whether the markup or the provider cost is negative (refused).
    fn has_negative_amount(&self) -> bool {
        self.markup.is_negative() || self.provider_cost.is_negative()
    }
}

/// An entry with its position (for paging, newest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredEntry {
    /// Increasing sequence number; page with `before`.
    pub seq: i64,
    /// The entry.
    #[serde(flatten)]
    pub entry: LedgerEntry,
}

impl StoredEntry {
    /// The entry in the shape of `GET /api/usage` (money as decimal USD
    /// strings, `created_at` as RFC 3339 UTC).
    pub fn to_api_json(&self) -> serde_json::Value {
        let e = &self.entry;
        serde_json::json!({
            "request_id": e.request_id,
            "created_at": rfc3339(e.created_at_ms),
            "provider": e.provider,
            "model": e.model,
            "endpoint": e.endpoint,
            "prompt_tokens": e.prompt_tokens,
            "completion_tokens": e.completion_tokens,
            "cached_tokens": e.cached_tokens,
            "usage_source": e.usage_source.as_str(),
            "provider_cost_usd": e.provider_cost.to_string(),
            "markup_usd": e.markup.to_string(),
            "price_source": e.price_source.as_str(),
        })
    }
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds (`2026-11-27T03:34:24.123Z`).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// An account's money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// Credits minus charges.
    pub balance: Money,
    /// Held by open reservations.
    pub reserved: Money,
}

/// A write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Adds credit (idempotent by `request_id`).
    Credit {
        /// Account.
        account: String,
        /// Idempotency key.
        request_id: String,
        /// Amount (positive).
        amount: Money,
    },
    /// Reserves `amount` until `expires_at_ms`.
    Reserve {
        /// Account.
        account: String,
        /// The request.
        request_id: String,
        /// Upper bound of the request's markup.
        amount: Money,
        /// When the sweeper may release it.
        expires_at_ms: i64,
    },
    /// Settles a request: removes its reservation and records the charge.
    /// A charge (markup above zero) without a reservation is refused.
    Settle(Box<LedgerEntry>),
    /// Records the charge of a request whose reservation was held outside
    /// the store (the ledger's in-memory reservations,
    /// [`Reservations::InMemory`]); idempotent by request id.
    Charge(Box<LedgerEntry>),
    /// Releases a reservation.
    Release {
        /// The request.
        request_id: String,
    },
    /// Releases reservations that expired before `now_ms`.
    Sweep {
        /// Now, Unix milliseconds.
        now_ms: i64,
    },
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Applied.
    Applied,
    /// The request id was already applied: nothing changed (idempotent retry).
    Duplicate,
    /// Release of a reservation that does not exist (already settled or swept).
    NothingToRelease,
    /// Reservations released by a sweep.
    Swept(u64),
}

/// A ledger error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The reservation does not fit.
    #[error("insufficient balance: {available} USD available, {needed} USD needed")]
    InsufficientBalance {
        /// Balance minus reservations minus floor.
        available: Money,
        /// The requested reservation.
        needed: Money,
    },
    /// A charge without a reservation.
    #[error("no reservation for request `{0}`")]
    NoReservation(String),
    /// A negative amount, or one that would overflow.
    #[error("invalid amount")]
    InvalidAmount,
    /// Storage failed.
    #[error("ledger storage: {0}")]
    Store(String),
    /// The writer has shut down.
    #[error("the ledger writer has shut down")]
    WriterGone,
}

fn store_err(e: rusqlite::Error) -> LedgerError {
    LedgerError::Store(e.to_string())
}

/// Storage for the ledger. Each [`LedgerStore::apply`] call is one
/// transaction; a PostgreSQL implementation would do the same with
/// `SELECT ... FOR UPDATE` on the account row.
pub trait LedgerStore: Send + Sync + 'static {
    /// Applies `batch` in one transaction, returning one result per command.
    /// A command that fails (e.g. insufficient balance) changes nothing and
    /// does not affect the others.
    ///
    /// # Errors
    /// Storage failure: then nothing of the batch is applied.
    fn apply(&self, batch: &[Command]) -> Result<Vec<Result<Outcome, LedgerError>>, LedgerError>;

    /// An account's balance (zero for unknown accounts).
    ///
    /// # Errors
    /// Storage failure.
    fn balance(&self, account: &str) -> Result<Balance, LedgerError>;

    /// Charges of an account, newest first, `seq < before` when given.
    ///
    /// # Errors
    /// Storage failure.
    fn entries(
        &self,
        account: &str,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<StoredEntry>, LedgerError>;

    /// Releases every open reservation (single-process start-up).
    ///
    /// # Errors
    /// Storage failure.
    fn release_all(&self) -> Result<u64, LedgerError>;
}

/// `seq` is the rowid without `AUTOINCREMENT`: ledger rows are never
/// deleted, so the next rowid is always the largest plus one (monotonic, as
/// usage paging needs), without the `sqlite_sequence` write per insert that
/// `AUTOINCREMENT` costs. (Databases created with `AUTOINCREMENT` keep it and
/// behave the same.)
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ledger_accounts (
    account    TEXT PRIMARY KEY NOT NULL,
    balance    INTEGER NOT NULL DEFAULT 0,
    reserved   INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0)
);
CREATE TABLE IF NOT EXISTS ledger_entries (
    seq               INTEGER PRIMARY KEY,
    request_id        TEXT NOT NULL UNIQUE,
    kind              TEXT NOT NULL CHECK (kind IN ('charge', 'credit')),
    account           TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    provider          TEXT NOT NULL DEFAULT '',
    model             TEXT NOT NULL DEFAULT '',
    endpoint          TEXT NOT NULL DEFAULT '',
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens     INTEGER NOT NULL DEFAULT 0,
    usage_source      TEXT NOT NULL DEFAULT 'reported',
    provider_cost     INTEGER NOT NULL DEFAULT 0,
    amount            INTEGER NOT NULL,
    price_source      TEXT NOT NULL DEFAULT 'catalog'
);
CREATE INDEX IF NOT EXISTS ledger_entries_account ON ledger_entries(account, seq);
CREATE TABLE IF NOT EXISTS ledger_reservations (
    request_id TEXT PRIMARY KEY NOT NULL,
    account    TEXT NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount >= 0),
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_reservations_expiry ON ledger_reservations(expires_at);
";

/// The SQLite ledger store (WAL, `synchronous=FULL`, `BEGIN IMMEDIATE`).
#[derive(Debug)]
pub struct SqliteLedger {
    /// The connection and whether it is set to `synchronous=FULL`.
    conn: Mutex<(Connection, bool)>,
    floor: Money,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn parse_usage_source(s: &str) -> UsageSource {
    if s == "estimated" {
        UsageSource::Estimated
    } else {
        UsageSource::Reported
    }
}

fn parse_price_source(s: &str) -> PriceSource {
    match s {
        "override" => PriceSource::Override,
        "lowest_paid" => PriceSource::LowestPaid,
        "fallback" => PriceSource::Fallback,
        _ => PriceSource::Catalog,
    }
}

/// Inserts a charge's ledger row: false when its request id is already
/// recorded (the insert itself detects duplicates).
fn insert_charge(
    tx: &rusqlite::Transaction<'_>,
    entry: &LedgerEntry,
) -> Result<bool, rusqlite::Error> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO ledger_entries (request_id, kind, account, created_at, provider, model, endpoint, prompt_tokens,
                completion_tokens, cached_tokens, usage_source, provider_cost, amount, price_source)
             VALUES (?1, 'charge', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (request_id) DO NOTHING",
        )?
        .execute(params![
            entry.request_id,
            entry.account,
            entry.created_at_ms,
            entry.provider,
            entry.model,
            entry.endpoint,
            to_i64(entry.prompt_tokens),
            to_i64(entry.completion_tokens),
            to_i64(entry.cached_tokens),
            entry.usage_source.as_str(),
            entry.provider_cost.nanos(),
            entry.markup.nanos(),
            entry.price_source.as_str()
        ])?;
    Ok(inserted == 1)
}

/// Adds `delta` to an account's balance (creating the account).
fn add_to_balance(
    tx: &rusqlite::Transaction<'_>,
    account: &str,
    delta: i64,
) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "INSERT INTO ledger_accounts (account, balance) VALUES (?1, ?2)
         ON CONFLICT (account) DO UPDATE SET balance = balance + ?2",
    )?
    .execute(params![account, delta])?;
    Ok(())
}

impl SqliteLedger {
    /// Opens (creating) the ledger database; `floor` is the lowest balance a
    /// reservation may leave.
    ///
    /// # Errors
    /// Storage failure.
    pub fn open(path: impl AsRef<Path>, floor: Money) -> Result<Self, LedgerError> {
        let conn = Connection::open(path).map_err(store_err)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(store_err)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .map_err(store_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(store_err)?;
        conn.execute_batch(SCHEMA).map_err(store_err)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Self {
            conn: Mutex::new((conn, true)),
            floor,
        })
    }

    /// Applies one command inside `tx`. A charge's balance change is added
    /// to `deltas` (the caller writes them, summed per account, before
    /// anything that reads a balance and before the commit).
    fn apply_one<'c>(
        &self,
        tx: &rusqlite::Transaction<'_>,
        cmd: &'c Command,
        deltas: &mut HashMap<&'c str, i64>,
    ) -> Result<Result<Outcome, LedgerError>, rusqlite::Error> {
        // Every statement is prepared once per connection (the statement
        // cache), not parsed again for every command.
        let exec = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<usize, rusqlite::Error> {
            tx.prepare_cached(sql)?.execute(p)
        };
        let exists = |id: &str| -> Result<bool, rusqlite::Error> {
            tx.prepare_cached("SELECT 1 FROM ledger_entries WHERE request_id = ?1")?
                .exists(params![id])
        };
        let reservation = |id: &str| -> Result<Option<(String, i64)>, rusqlite::Error> {
            tx.prepare_cached(
                "SELECT account, amount FROM ledger_reservations WHERE request_id = ?1",
            )?
            .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
        };
        let unreserve = |id: &str, account: &str, amount: i64| -> Result<(), rusqlite::Error> {
            exec(
                "DELETE FROM ledger_reservations WHERE request_id = ?1",
                params![id],
            )?;
            exec(
                "UPDATE ledger_accounts SET reserved = reserved - ?1 WHERE account = ?2",
                params![amount, account],
            )?;
            Ok(())
        };
        let account_row = |account: &str| -> Result<(i64, i64), rusqlite::Error> {
            exec(
                "INSERT OR IGNORE INTO ledger_accounts (account) VALUES (?1)",
                params![account],
            )?;
            tx.prepare_cached("SELECT balance, reserved FROM ledger_accounts WHERE account = ?1")?
                .query_row(params![account], |r| Ok((r.get(0)?, r.get(1)?)))
        };
        let charge = |entry: &LedgerEntry| -> Result<bool, rusqlite::Error> {
            if !insert_charge(tx, entry)? {
                return Ok(false);
            }
            add_to_balance(tx, &entry.account, -entry.markup.nanos())?;
            Ok(true)
        };
        Ok(match cmd {
            Command::Credit {
                account,
                request_id,
                amount,
            } => {
                if amount.is_negative() {
                    return Ok(Err(LedgerError::InvalidAmount));
                }
                if exists(request_id)? {
                    return Ok(Ok(Outcome::Duplicate));
                }
                let (balance, _) = account_row(account)?;
                if balance.checked_add(amount.nanos()).is_none() {
                    return Ok(Err(LedgerError::InvalidAmount));
                }
                exec(
                    "INSERT INTO ledger_entries (request_id, kind, account, created_at, amount) VALUES (?1, 'credit', ?2, ?3, ?4)",
                    params![request_id, account, now_ms(), amount.nanos()],
                )?;
                exec(
                    "UPDATE ledger_accounts SET balance = balance + ?1 WHERE account = ?2",
                    params![amount.nanos(), account],
                )?;
                Ok(Outcome::Applied)
            }
            Command::Reserve {
                account,
                request_id,
                amount,
                expires_at_ms,
            } => {
                if amount.is_negative() {
                    return Ok(Err(LedgerError::InvalidAmount));
                }
                if reservation(request_id)?.is_some() || exists(request_id)? {
                    return Ok(Ok(Outcome::Duplicate));
                }
                let (balance, reserved) = account_row(account)?;
                let available =
                    i128::from(balance) - i128::from(reserved) - i128::from(self.floor.nanos());
                if i128::from(amount.nanos()) > available {
                    return Ok(Err(LedgerError::InsufficientBalance {
                        available: Money::from_nanos(
                            i64::try_from(available.max(0)).unwrap_or(i64::MAX),
                        ),
                        needed: *amount,
                    }));
                }
                exec(
                    "INSERT INTO ledger_reservations (request_id, account, amount, expires_at) VALUES (?1, ?2, ?3, ?4)",
                    params![request_id, account, amount.nanos(), expires_at_ms],
                )?;
                exec(
                    "UPDATE ledger_accounts SET reserved = reserved + ?1 WHERE account = ?2",
                    params![amount.nanos(), account],
                )?;
                Ok(Outcome::Applied)
            }
            Command::Settle(entry) => {
                if entry.has_negative_amount() {
                    return Ok(Err(LedgerError::InvalidAmount));
                }
                if exists(&entry.request_id)? {
                    return Ok(Ok(Outcome::Duplicate));
                }
                match reservation(&entry.request_id)? {
                    None if entry.markup != Money::ZERO => {
                        return Ok(Err(LedgerError::NoReservation(
                            entry.request_id.chars().take(64).collect(),
                        )));
                    }
                    None => {}
                    Some((account, amount)) => unreserve(&entry.request_id, &account, amount)?,
                }
                charge(entry)?;
                Ok(Outcome::Applied)
            }
            Command::Charge(entry) => {
                if entry.has_negative_amount() {
                    return Ok(Err(LedgerError::InvalidAmount));
                }
                if !insert_charge(tx, entry)? {
                    return Ok(Ok(Outcome::Duplicate));
                }
                let d = deltas.entry(&entry.account).or_insert(0);
                *d = d.saturating_sub(entry.markup.nanos());
                Ok(Outcome::Applied)
            }
            Command::Release { request_id } => match reservation(request_id)? {
                None => Ok(Outcome::NothingToRelease),
                Some((account, amount)) => {
                    unreserve(request_id, &account, amount)?;
                    Ok(Outcome::Applied)
                }
            },
            Command::Sweep { now_ms } => {
                let expired: Vec<(String, String, i64)> = {
                    let mut stmt = tx.prepare_cached("SELECT request_id, account, amount FROM ledger_reservations WHERE expires_at < ?1")?;
                    stmt.query_map(params![now_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect::<Result<_, _>>()?
                };
                for (id, account, amount) in &expired {
                    unreserve(id, account, *amount)?;
                }
                Ok(Outcome::Swept(
                    u64::try_from(expired.len()).unwrap_or(u64::MAX),
                ))
            }
        })
    }
}

impl LedgerStore for SqliteLedger {
    fn apply(&self, batch: &[Command]) -> Result<Vec<Result<Outcome, LedgerError>>, LedgerError> {
        let mut guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let (conn, synchronous) = &mut *guard;
        // Reservations are void after a restart (released at open, swept on
        // expiry), so a batch of only reservations and releases need not
        // wait for an fsync: WAL with synchronous=NORMAL still survives a
        // process crash. Anything that moves money commits with FULL.
        let durable = batch.iter().any(|c| {
            matches!(
                c,
                Command::Credit { .. } | Command::Settle(_) | Command::Charge(_)
            )
        });
        if *synchronous != durable {
            conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })
                .map_err(store_err)?;
            *synchronous = durable;
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store_err)?;
        let mut results = Vec::with_capacity(batch.len());
        // Charges' balance changes are summed per account and written once
        // per batch (a busy gateway's batch is mostly one account's
        // charges); anything else that reads or moves a balance sees them
        // written first.
        let mut deltas: HashMap<&str, i64> = HashMap::new();
        let flush = |deltas: &mut HashMap<&str, i64>| -> Result<(), LedgerError> {
            for (account, delta) in deltas.drain() {
                add_to_balance(&tx, account, delta).map_err(store_err)?;
            }
            Ok(())
        };
        for cmd in batch {
            if !matches!(cmd, Command::Charge(_)) {
                flush(&mut deltas)?;
            }
            results.push(self.apply_one(&tx, cmd, &mut deltas).map_err(store_err)?);
        }
        flush(&mut deltas)?;
        tx.commit().map_err(store_err)?;
        Ok(results)
    }
    fn balance(&self, account: &str) -> Result<Balance, LedgerError> {
        let guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let row: Option<(i64, i64)> = guard
            .0
            .prepare_cached("SELECT balance, reserved FROM ledger_accounts WHERE account = ?1")
            .and_then(|mut s| {
                s.query_row(params![account], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(store_err)?;
        let (b, r) = row.unwrap_or((0, 0));
        Ok(Balance {
            balance: Money::from_nanos(b),
            reserved: Money::from_nanos(r),
        })
    }

    fn entries(
        &self,
        account: &str,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<StoredEntry>, LedgerError> {
        let guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = guard
            .0
            .prepare_cached(
                "SELECT seq, request_id, account, created_at, provider, model, endpoint, prompt_tokens, completion_tokens,
                        cached_tokens, usage_source, provider_cost, amount, price_source
                 FROM ledger_entries WHERE account = ?1 AND kind = 'charge' AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
            )
            .map_err(store_err)?;
        let rows = stmt
            .query_map(
                params![
                    account,
                    before.unwrap_or(i64::MAX),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                |r| {
                    Ok(StoredEntry {
                        seq: r.get(0)?,
                        entry: LedgerEntry {
                            request_id: r.get(1)?,
                            account: r.get(2)?,
                            created_at_ms: r.get(3)?,
                            provider: r.get(4)?,
                            model: r.get(5)?,
                            endpoint: r.get(6)?,
                            prompt_tokens: to_u64(r.get(7)?),
                            completion_tokens: to_u64(r.get(8)?),
                            cached_tokens: to_u64(r.get(9)?),
                            usage_source: parse_usage_source(&r.get::<_, String>(10)?),
                            provider_cost: Money::from_nanos(r.get(11)?),
                            markup: Money::from_nanos(r.get(12)?),
                            price_source: parse_price_source(&r.get::<_, String>(13)?),
                        },
                    })
                },
            )
            .map_err(store_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(store_err)?;
        Ok(rows)
    }

    fn release_all(&self) -> Result<u64, LedgerError> {
        self.apply(&[Command::Sweep { now_ms: i64::MAX }])
            .and_then(|mut r| match r.pop() {
                Some(Ok(Outcome::Swept(n))) => Ok(n),
                Some(Err(e)) => Err(e),
                _ => Ok(0),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_750_464_123), "2026-11-27T03:34:24.123Z");
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Where reservations are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Reservations {
    /// In this process's memory: reserving, releasing and sweeping are map
    /// updates under one lock, with no database write and no wait for the
    /// writer thread; only charges and credits are written (and settling
    /// still removes the reservation and holds the charge against the
    /// balance before its commit, so the balance never goes below the
    /// floor). Balances are cached per account: loaded from the store on
    /// first use, updated by this ledger's own commits, and read again from
    /// the store before a reservation is refused (so a credit written by
    /// another process, such as the CLI, is seen). Right for one process
    /// that owns the ledger: reservations are void after a restart anyway.
    /// Two differences from [`Reservations::Store`]: reserving a request id
    /// that was already settled is `Applied` (its settlement is then a
    /// `Duplicate`: nothing is charged twice), and [`Ledger::balance`]
    /// reports the committed balance, not counting charges still queued.
    #[default]
    InMemory,
    /// In the store, checked and written in the same transaction as the
    /// balance: for several processes that reserve against one database.
    Store,
}

/// Ledger settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LedgerConfig {
    /// Most commands per transaction. Default 512.
    pub max_batch: usize,
    /// The lowest balance a reservation may leave. Default zero.
    pub floor: Money,
    /// Release every reservation when opening (right for one process that
    /// owns the database: reservations of a crashed run are void). Default true.
    pub release_on_open: bool,
    /// Run a sweeper thread that releases expired reservations this often.
    /// Default 30 s; `None` leaves sweeping to the caller ([`Ledger::sweep`]).
    pub sweep_interval: Option<Duration>,
    /// Where reservations are kept. Default [`Reservations::InMemory`].
    pub reservations: Reservations,
    /// Group commit: when a batch holds a charge or credit, wait up to this
    /// long for more commands before committing, so one transaction and
    /// one `fsync` carry many of them (a charge alone dirties ~4 pages:
    /// committed one by one, a busy gateway wrote ~20 KB to the WAL per
    /// request). Callers of [`Ledger::run`] wait this much longer; a
    /// settlement on the request path does not wait at all. Default 10 ms
    /// (the best tail latency of the windows measured in
    /// `docs/performance.md`: shorter means more `fsync`s, longer bigger
    /// bursts of writer CPU).
    pub commit_delay: Duration,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            max_batch: 512,
            floor: Money::ZERO,
            release_on_open: true,
            sweep_interval: Some(Duration::from_secs(30)),
            reservations: Reservations::InMemory,
            commit_delay: Duration::from_millis(10),
        }
    }
}

type Reply = futures_channel::oneshot::Sender<Result<Outcome, LedgerError>>;
/// What [`Ledger::submit`] returns: resolves after the command's commit.
pub type Answer = futures_channel::oneshot::Receiver<Result<Outcome, LedgerError>>;

/// Work for the writer thread.
enum Job {
    /// A write; `settling` is what an in-memory settlement moved, to
    /// finish (or undo) once the write is done.
    Apply {
        command: Command,
        reply: Reply,
        settling: Option<Settling>,
    },
    /// A reservation memory could not decide (account not loaded yet, or
    /// the cached balance looks too low): read the balance, then decide.
    Reserve {
        account: String,
        request_id: String,
        amount: i64,
        expires_at_ms: i64,
        reply: Reply,
    },
}

type Queue = crossbeam_channel::Sender<Job>;

/// An account as the in-memory reservations see it.
#[derive(Debug, Clone, Copy, Default)]
struct AccountView {
    /// The committed balance (as of this ledger's last commit or read).
    committed: i64,
    /// Charges handed to the writer and not committed yet.
    pending: i64,
    /// Held by open reservations.
    reserved: i64,
}

#[derive(Debug)]
struct HeldReservation {
    account: String,
    amount: i64,
    expires_at_ms: i64,
}

/// An in-memory settlement on its way to the store: its reservation was
/// taken out and its markup counted as pending. If the charge is not
/// recorded (the store failed), the reservation is put back so a retry can
/// settle again.
#[derive(Debug)]
struct Settling {
    request_id: String,
    reservation: HeldReservation,
    markup: i64,
}

/// The in-memory reservations ([`Reservations::InMemory`]).
#[derive(Debug, Default)]
struct Held {
    accounts: HashMap<String, AccountView>,
    reservations: HashMap<String, HeldReservation>,
}

impl Held {
    /// Decides a reservation from memory; `None` when the account is not
    /// loaded.
    fn try_reserve(
        &mut self,
        floor: Money,
        account: &str,
        request_id: &str,
        amount: i64,
        expires_at_ms: i64,
    ) -> Option<Result<Outcome, LedgerError>> {
        if self.reservations.contains_key(request_id) {
            return Some(Ok(Outcome::Duplicate));
        }
        let a = self.accounts.get_mut(account)?;
        let available = i128::from(a.committed)
            - i128::from(a.pending)
            - i128::from(a.reserved)
            - i128::from(floor.nanos());
        if i128::from(amount) > available {
            return Some(Err(LedgerError::InsufficientBalance {
                available: Money::from_nanos(i64::try_from(available.max(0)).unwrap_or(i64::MAX)),
                needed: Money::from_nanos(amount),
            }));
        }
        a.reserved = a.reserved.saturating_add(amount);
        self.reservations.insert(
            request_id.to_owned(),
            HeldReservation {
                account: account.to_owned(),
                amount,
                expires_at_ms,
            },
        );
        Some(Ok(Outcome::Applied))
    }

    fn release(&mut self, request_id: &str) -> Outcome {
        match self.reservations.remove(request_id) {
            Some(r) => {
                if let Some(a) = self.accounts.get_mut(&r.account) {
                    a.reserved = a.reserved.saturating_sub(r.amount);
                }
                Outcome::Applied
            }
            None => Outcome::NothingToRelease,
        }
    }

    fn sweep(&mut self, now_ms: i64) -> u64 {
        let expired: Vec<String> = self
            .reservations
            .iter()
            .filter(|(_, r)| r.expires_at_ms < now_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            self.release(id);
        }
        u64::try_from(expired.len()).unwrap_or(u64::MAX)
    }

    /// Takes `entry`'s reservation out and counts its markup as pending
    /// (one step under the lock, so the available balance never rises in
    /// between). `None` when this ledger holds no reservation for it.
    fn start_settling(&mut self, entry: &LedgerEntry) -> Option<Result<Settling, LedgerError>> {
        let reservation = self.reservations.remove(&entry.request_id)?;
        if reservation.account != entry.account {
            let id = entry.request_id.chars().take(64).collect();
            self.reservations
                .insert(entry.request_id.clone(), reservation);
            return Some(Err(LedgerError::NoReservation(id)));
        }
        let markup = entry.markup.nanos();
        if let Some(a) = self.accounts.get_mut(&reservation.account) {
            a.reserved = a.reserved.saturating_sub(reservation.amount);
            a.pending = a.pending.saturating_add(markup);
        }
        Some(Ok(Settling {
            request_id: entry.request_id.clone(),
            reservation,
            markup,
        }))
    }

    /// Ends a settlement: its markup is no longer pending, and unless the
    /// charge was recorded (or found recorded) the reservation goes back.
    fn finish_settling(&mut self, s: Settling, recorded: bool) {
        if let Some(a) = self.accounts.get_mut(&s.reservation.account) {
            a.pending = a.pending.saturating_sub(s.markup);
            if !recorded && !self.reservations.contains_key(&s.request_id) {
                a.reserved = a.reserved.saturating_add(s.reservation.amount);
                self.reservations.insert(s.request_id, s.reservation);
            }
        }
    }

    /// After the writer applied `command`: finish its settlement and follow
    /// the committed balance.
    fn applied(
        &mut self,
        command: &Command,
        settling: Option<Settling>,
        result: Option<&Result<Outcome, LedgerError>>,
    ) {
        if let Some(s) = settling {
            let recorded = matches!(result, Some(Ok(Outcome::Applied | Outcome::Duplicate)));
            self.finish_settling(s, recorded);
        }
        if !matches!(result, Some(Ok(Outcome::Applied))) {
            return;
        }
        match command {
            Command::Credit {
                account, amount, ..
            } => {
                if let Some(a) = self.accounts.get_mut(account) {
                    a.committed = a.committed.saturating_add(amount.nanos());
                }
            }
            Command::Settle(e) | Command::Charge(e) => {
                if let Some(a) = self.accounts.get_mut(&e.account) {
                    a.committed = a.committed.saturating_sub(e.markup.nanos());
                }
            }
            _ => {}
        }
    }
}

fn lock(held: &Mutex<Held>) -> std::sync::MutexGuard<'_, Held> {
    held.lock().unwrap_or_else(PoisonError::into_inner)
}

fn answered(result: Result<Outcome, LedgerError>) -> Answer {
    let (reply, answer) = futures_channel::oneshot::channel();
    let _ = reply.send(result);
    answer
}

/// The writer thread: applies queued writes in batches, then decides the
/// reservations that needed a balance read.
fn writer_loop(
    rx: &crossbeam_channel::Receiver<Job>,
    store: &dyn LedgerStore,
    held: Option<&Mutex<Held>>,
    floor: Money,
    max: usize,
    commit_delay: Duration,
) {
    let mut jobs = Vec::with_capacity(max);
    let mut batch = Vec::with_capacity(max);
    let mut replies = Vec::with_capacity(max);
    let mut reserves = Vec::new();
    while let Ok(first) = rx.recv() {
        jobs.push(first);
        while jobs.len() < max {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let durable = |j: &Job| {
            matches!(
                j,
                Job::Apply {
                    command: Command::Credit { .. } | Command::Settle(_) | Command::Charge(_),
                    ..
                }
            )
        };
        if !commit_delay.is_zero() && jobs.len() < max && jobs.iter().any(durable) {
            // Sleep rather than wait on the queue: a sender then finds no
            // waiting receiver to wake, so queueing a settlement costs the
            // request path no system call.
            std::thread::sleep(commit_delay);
            while jobs.len() < max {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        for job in jobs.drain(..) {
            match job {
                Job::Apply {
                    command,
                    reply,
                    settling,
                } => {
                    batch.push(command);
                    replies.push((reply, settling));
                }
                Job::Reserve {
                    account,
                    request_id,
                    amount,
                    expires_at_ms,
                    reply,
                } => reserves.push((account, request_id, amount, expires_at_ms, reply)),
            }
        }
        if !batch.is_empty() {
            let results = store.apply(&batch);
            if let Some(held) = held {
                let mut h = lock(held);
                for (i, (command, (_, settling))) in
                    batch.iter().zip(replies.iter_mut()).enumerate()
                {
                    let result = results.as_ref().ok().and_then(|r| r.get(i));
                    h.applied(command, settling.take(), result);
                }
            }
            match results {
                Ok(results) => {
                    for ((reply, _), result) in replies.drain(..).zip(results) {
                        let _ = reply.send(result);
                    }
                }
                Err(e) => {
                    for (reply, _) in replies.drain(..) {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
            batch.clear();
        }
        for (account, request_id, amount, expires_at_ms, reply) in reserves.drain(..) {
            let result = match (held, store.balance(&account)) {
                (Some(held), Ok(b)) => {
                    let mut h = lock(held);
                    // Only this thread changes `committed`, and every commit
                    // so far is in the store: the read replaces it exactly.
                    h.accounts.entry(account.clone()).or_default().committed = b.balance.nanos();
                    h.try_reserve(floor, &account, &request_id, amount, expires_at_ms)
                        .unwrap_or(Err(LedgerError::WriterGone))
                }
                (None, _) => Err(LedgerError::WriterGone),
                (_, Err(e)) => Err(e),
            };
            let _ = reply.send(result);
        }
    }
}

/// The ledger: a store, its batching writer thread and (by default) the
/// in-memory reservations. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<dyn LedgerStore>,
    held: Option<Arc<Mutex<Held>>>,
    floor: Money,
    tx: Arc<Mutex<Option<Queue>>>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens a SQLite ledger and starts its writer.
    ///
    /// # Errors
    /// Storage failure.
    pub fn open_sqlite(path: impl AsRef<Path>, config: &LedgerConfig) -> Result<Self, LedgerError> {
        let store = SqliteLedger::open(path, config.floor)?;
        Self::new(Arc::new(store), config)
    }

    /// Starts a writer over `store`.
    ///
    /// # Errors
    /// Storage failure while releasing stale reservations, or if the writer
    /// thread cannot start.
    pub fn new(store: Arc<dyn LedgerStore>, config: &LedgerConfig) -> Result<Self, LedgerError> {
        if config.release_on_open {
            store.release_all()?;
        }
        let held = match config.reservations {
            Reservations::InMemory => Some(Arc::new(Mutex::new(Held::default()))),
            Reservations::Store => None,
        };
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let writer_store = Arc::clone(&store);
        let writer_held = held.clone();
        let floor = config.floor;
        let max = config.max_batch.max(1);
        let delay = config.commit_delay;
        let writer = std::thread::Builder::new()
            .name("byok-ledger".into())
            .spawn(move || {
                writer_loop(
                    &rx,
                    writer_store.as_ref(),
                    writer_held.as_deref(),
                    floor,
                    max,
                    delay,
                );
            })
            .map_err(|e| LedgerError::Store(format!("cannot start the ledger writer: {e}")))?;
        let ledger = Self {
            store,
            held,
            floor,
            tx: Arc::new(Mutex::new(Some(tx))),
            writer: Arc::new(Mutex::new(Some(writer))),
        };
        if let Some(interval) = config.sweep_interval {
            // The sweeper holds only weak handles: it ends with the ledger.
            let queue = Arc::downgrade(&ledger.tx);
            let held = ledger.held.as_ref().map(Arc::downgrade);
            std::thread::Builder::new()
                .name("byok-ledger-sweeper".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(interval);
                        let Some(queue) = queue.upgrade() else { return };
                        if let Some(held) = &held {
                            let Some(held) = held.upgrade() else { return };
                            lock(&held).sweep(now_ms());
                            continue;
                        }
                        let guard = queue.lock().unwrap_or_else(PoisonError::into_inner);
                        let Some(tx) = guard.as_ref() else { return };
                        let (reply, _answer) = futures_channel::oneshot::channel();
                        let job = Job::Apply {
                            command: Command::Sweep { now_ms: now_ms() },
                            reply,
                            settling: None,
                        };
                        if tx.send(job).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|e| LedgerError::Store(format!("cannot start the ledger sweeper: {e}")))?;
        }
        Ok(ledger)
    }

    fn enqueue(&self, job: Job) {
        let guard = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
        let refused = match guard.as_ref() {
            Some(tx) => tx.send(job).err().map(|e| e.0),
            None => Some(job),
        };
        drop(guard);
        match refused {
            Some(Job::Apply {
                reply, settling, ..
            }) => {
                if let (Some(s), Some(held)) = (settling, &self.held) {
                    lock(held).finish_settling(s, false);
                }
                let _ = reply.send(Err(LedgerError::WriterGone));
            }
            Some(Job::Reserve { reply, .. }) => {
                let _ = reply.send(Err(LedgerError::WriterGone));
            }
            None => {}
        }
    }

    fn apply(&self, command: Command, settling: Option<Settling>) -> Answer {
        let (reply, answer) = futures_channel::oneshot::channel();
        self.enqueue(Job::Apply {
            command,
            reply,
            settling,
        });
        answer
    }

    fn is_open(&self) -> bool {
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Queues `command`; the returned receiver resolves after its commit.
    /// With [`Reservations::InMemory`], reserving (once the account is
    /// loaded), releasing and sweeping resolve at once.
    pub fn submit(&self, command: Command) -> Answer {
        let Some(held) = &self.held else {
            return self.apply(command, None);
        };
        match command {
            Command::Reserve {
                account,
                request_id,
                amount,
                expires_at_ms,
            } => {
                if amount.is_negative() {
                    return answered(Err(LedgerError::InvalidAmount));
                }
                if !self.is_open() {
                    return answered(Err(LedgerError::WriterGone));
                }
                let amount = amount.nanos();
                match lock(held).try_reserve(
                    self.floor,
                    &account,
                    &request_id,
                    amount,
                    expires_at_ms,
                ) {
                    Some(Ok(outcome)) => return answered(Ok(outcome)),
                    Some(Err(e)) if !matches!(e, LedgerError::InsufficientBalance { .. }) => {
                        return answered(Err(e));
                    }
                    // Not loaded, or maybe credited by another process:
                    // read the balance on the writer, then decide.
                    _ => {}
                }
                let (reply, answer) = futures_channel::oneshot::channel();
                self.enqueue(Job::Reserve {
                    account,
                    request_id,
                    amount,
                    expires_at_ms,
                    reply,
                });
                answer
            }
            Command::Release { request_id } => {
                if !self.is_open() {
                    return answered(Err(LedgerError::WriterGone));
                }
                answered(Ok(lock(held).release(&request_id)))
            }
            Command::Sweep { now_ms } => answered(Ok(Outcome::Swept(lock(held).sweep(now_ms)))),
            Command::Settle(entry) => {
                if entry.has_negative_amount() {
                    return answered(Err(LedgerError::InvalidAmount));
                }
                // After shutdown the queue refuses the charge and `enqueue`
                // puts the reservation back.
                let settling = lock(held).start_settling(&entry);
                match settling {
                    Some(Ok(s)) => self.apply(Command::Charge(entry), Some(s)),
                    Some(Err(e)) => answered(Err(e)),
                    // No reservation here: the store refuses a charge and
                    // records a free request (or finds a duplicate).
                    None => self.apply(Command::Settle(entry), None),
                }
            }
            command => self.apply(command, None),
        }
    }

    /// Queues `command` and waits for its commit (async, any executor).
    ///
    /// # Errors
    /// The command's [`LedgerError`].
    pub async fn run(&self, command: Command) -> Result<Outcome, LedgerError> {
        self.submit(command)
            .await
            .map_err(|_| LedgerError::WriterGone)?
    }

    /// Queues `command` and blocks until its commit (for non-async callers).
    ///
    /// # Errors
    /// The command's [`LedgerError`].
    pub fn run_blocking(&self, command: Command) -> Result<Outcome, LedgerError> {
        Self::wait_blocking(self.submit(command))
    }

    /// Blocks until an answer of [`Ledger::submit`] resolves (for non-async
    /// callers that queue many commands, then wait for them).
    ///
    /// # Errors
    /// The command's [`LedgerError`].
    pub fn wait_blocking(answer: Answer) -> Result<Outcome, LedgerError> {
        futures_executor_lite(answer).map_err(|_| LedgerError::WriterGone)?
    }

    /// Releases reservations that expired (call periodically).
    ///
    /// # Errors
    /// Storage failure.
    pub async fn sweep(&self) -> Result<u64, LedgerError> {
        match self.run(Command::Sweep { now_ms: now_ms() }).await? {
            Outcome::Swept(n) => Ok(n),
            _ => Ok(0),
        }
    }

    /// The account's balance (a blocking read of the store; call off async
    /// workers).
    ///
    /// # Errors
    /// Storage failure.
    pub fn balance(&self, account: &str) -> Result<Balance, LedgerError> {
        let mut b = self.store.balance(account)?;
        if let Some(held) = &self.held {
            b.reserved =
                Money::from_nanos(lock(held).accounts.get(account).map_or(0, |a| a.reserved));
        }
        Ok(b)
    }

    /// The account's charges, newest first (blocking read).
    ///
    /// # Errors
    /// Storage failure.
    pub fn entries(
        &self,
        account: &str,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<StoredEntry>, LedgerError> {
        self.store.entries(account, limit, before)
    }

    /// Stops accepting commands, commits everything queued, and waits for
    /// the writer.
    pub fn shutdown(&self) {
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = handle.join();
        }
    }
}

/// Blocks on a future without an async runtime (parks the thread until woken).
fn futures_executor_lite<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
