//! What the ledger stores, and the [`LedgerStore`] trait a database
//! implements (SQLite: [`crate::SqliteLedger`]; PostgreSQL:
//! `PostgresLedgerStore`, feature `postgres`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{CreditError, LedgerError, ReserveError, SettleError};
use crate::catalog::PriceSource;
use crate::money::Money;
use crate::quote::UsageSource;
use crate::time::rfc3339;

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
    /// The upstream calls the request made, in order (the last one
    /// answered; several when it fell back to another key or provider).
    /// Empty for entries recorded before attempts were kept.
    pub attempts: Vec<Attempt>,
}

/// One upstream call of a request: the provider, the label of the user's
/// key it used, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Provider id.
    pub provider: String,
    /// The label of the user's key (`default` for a provider's only key).
    pub label: String,
    /// The upstream's HTTP status (200 for the attempt that answered); for
    /// a call that got no status, the one the gateway answers such a
    /// failure with (504 for a timeout, 502 for a connection failure).
    pub status: u16,
}

impl LedgerEntry {
    /// Whether the markup or the provider cost is negative (refused).
    pub(crate) fn has_negative_amount(&self) -> bool {
        self.markup.is_negative() || self.provider_cost.is_negative()
    }

    /// The request id as an error message carries it (64 characters at most).
    pub(crate) fn short_id(&self) -> String {
        self.request_id.chars().take(64).collect()
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
            "attempts": e.attempts,
        })
    }
}

/// A ledger row exactly as stored, every column: what a copy of the ledger
/// moves ([`crate::copy_ledger`]). Text columns are as stored, not parsed
/// (an unknown `usage_source` stays what it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    /// Increasing sequence number (the usage listing's cursor).
    pub seq: i64,
    /// The request id (unique).
    pub request_id: String,
    /// `charge` (`amount` is the markup charged) or `credit` (`amount` is
    /// the amount credited; the charge's columns hold their defaults).
    pub kind: String,
    /// The account.
    pub account: String,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Provider id.
    pub provider: String,
    /// Model id.
    pub model: String,
    /// Endpoint.
    pub endpoint: String,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Cached prompt tokens.
    pub cached_tokens: i64,
    /// `reported` or `estimated`.
    pub usage_source: String,
    /// The provider's cost (informational).
    pub provider_cost: Money,
    /// The markup charged, or the amount credited.
    pub amount: Money,
    /// Where the price came from.
    pub price_source: String,
    /// The upstream calls, as stored (a JSON array; '' for none).
    pub attempts: String,
}

/// An account row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// The account.
    pub account: String,
    /// Credits minus charges.
    pub balance: Money,
    /// Held by reservations kept in the store.
    pub reserved: Money,
}

/// How many rows a ledger store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LedgerCounts {
    /// Accounts.
    pub accounts: u64,
    /// Entries (credits and charges).
    pub entries: u64,
    /// Reservations held in the store.
    pub reservations: u64,
}

/// The columns of an [`EntryRow`], in its order.
pub(super) const ENTRY_COLUMNS: &str = "seq, request_id, kind, account, created_at, provider, \
    model, endpoint, prompt_tokens, completion_tokens, cached_tokens, usage_source, provider_cost, \
    amount, price_source, attempts";

/// [`LedgerCounts`] in one row (the same text in every store).
pub(super) const COUNT_ROWS: &str = "SELECT (SELECT count(*) FROM ledger_accounts), \
    (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM ledger_reservations)";

impl LedgerCounts {
    /// From the three counts of [`COUNT_ROWS`].
    pub(super) fn from_row(accounts: i64, entries: i64, reservations: i64) -> Self {
        Self {
            accounts: to_u64(accounts),
            entries: to_u64(entries),
            reservations: to_u64(reservations),
        }
    }
}

/// An account's money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// Credits minus charges.
    pub balance: Money,
    /// Held by open reservations.
    pub reserved: Money,
}

impl Balance {
    /// An account row's `(balance, reserved)` in nano-USD; `None` (an
    /// unknown account) is zero.
    pub(super) fn from_row(row: Option<(i64, i64)>) -> Self {
        let (balance, reserved) = row.unwrap_or((0, 0));
        Self {
            balance: Money::from_nanos(balance),
            reserved: Money::from_nanos(reserved),
        }
    }
}

/// What an account's `balance − reserved` leaves above `floor` for a new
/// reservation, in nano-USD (exact; negative below the floor).
pub(super) fn available(balance: i64, reserved: i64, floor: i64) -> i128 {
    i128::from(balance) - i128::from(reserved) - i128::from(floor)
}

/// The refusal of a reservation of `needed` when only `available`
/// ([`available`]) is left.
pub(super) fn insufficient_balance(available: i128, needed: Money) -> ReserveError {
    ReserveError::InsufficientBalance {
        available: Money::from_nanos(i64::try_from(available.max(0)).unwrap_or(i64::MAX)),
        needed,
    }
}

/// A token count as stored (`BIGINT`/`INTEGER`), saturating.
pub(super) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stored token count (a negative one, never written, reads as 0).
pub(super) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A charge's attempts as stored ('' for none).
pub(super) fn encode_attempts(attempts: &[Attempt]) -> String {
    if attempts.is_empty() {
        return String::new();
    }
    serde_json::to_string(attempts).unwrap_or_default()
}

/// Stored attempts (none for entries recorded before they were kept, or
/// unreadable).
pub(super) fn decode_attempts(stored: &str) -> Vec<Attempt> {
    if stored.is_empty() {
        return Vec::new();
    }
    serde_json::from_str(stored).unwrap_or_default()
}

/// Accounts whose balance changes are kept between transactions (their
/// keys, so summing a batch's charges allocates nothing in the steady
/// state); more are forgotten at the next transaction.
const KEPT_ACCOUNTS: usize = 64;

/// Charges' balance changes, summed per account and written once per run
/// of charges (a busy gateway's batch is mostly one account's charges),
/// with (PostgreSQL) what the settlements' removed reservations held;
/// anything else in the transaction that reads or moves a balance writes
/// them first ([`Deltas::flush`]). Written in account order, so two
/// processes' transactions lock balances in the same order, and last, so
/// the account rows are locked from there to the commit only. One per
/// connection, kept between its transactions.
#[derive(Debug, Default)]
pub(super) struct Deltas {
    /// The change not written yet, per account (`None`: none).
    by_account: BTreeMap<String, Option<Change>>,
    /// Whether `by_account` holds a change.
    dirty: bool,
}

impl Deltas {
    /// Starts a transaction: no change pending (those of a transaction that
    /// did not commit are void), and the accounts past [`KEPT_ACCOUNTS`]
    /// forgotten.
    pub(super) fn reset(&mut self) {
        if self.by_account.len() > KEPT_ACCOUNTS {
            self.by_account.clear();
        }
        self.by_account.values_mut().for_each(|d| *d = None);
        self.dirty = false;
    }

    /// Counts a charge's markup against its account, written at the next
    /// flush.
    pub(super) fn add(&mut self, account: &str, markup: i64) {
        self.change(account, |d| d.balance = d.balance.saturating_sub(markup));
    }

    /// Counts a removed reservation's amount off its account's `reserved`,
    /// written at the next flush (PostgreSQL's settlements).
    #[cfg(feature = "postgres")]
    pub(super) fn release(&mut self, account: &str, amount: i64) {
        self.change(account, |d| d.reserved = d.reserved.saturating_sub(amount));
    }

    /// Applies `f` to the account's pending change.
    fn change(&mut self, account: &str, f: impl FnOnce(&mut Change)) {
        if let Some(d) = self.by_account.get_mut(account) {
            f(d.get_or_insert_default());
        } else {
            let mut d = Change::default();
            f(&mut d);
            self.by_account.insert(account.to_owned(), Some(d));
        }
        self.dirty = true;
    }

    /// Writes the summed changes with `write(account, balance, reserved)`
    /// (adding `balance` to the account's balance, creating the account,
    /// and `reserved`, zero or negative, to what it has reserved), in
    /// account order.
    pub(super) fn flush<E>(
        &mut self,
        mut write: impl FnMut(&str, i64, i64) -> Result<(), E>,
    ) -> Result<(), E> {
        if !self.dirty {
            return Ok(());
        }
        for (account, delta) in &mut self.by_account {
            if let Some(d) = delta.take() {
                write(account, d.balance, d.reserved)?;
            }
        }
        self.dirty = false;
        Ok(())
    }
}

/// An account's change not written yet.
#[derive(Debug, Default, Clone, Copy)]
struct Change {
    balance: i64,
    reserved: i64,
}

/// What an idempotent write returns: `Err(S)` when the store failed (a
/// [`LedgerError`] at the trait), else `Ok(Err(E))` when the write was
/// refused, or `Ok(Ok(_))` with what it did.
pub type Outcome<E, S = LedgerError> = Result<Result<Idempotent, E>, S>;

/// What a write that is idempotent by request id did (credit, reserve,
/// settle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Idempotent {
    /// Applied now.
    Applied,
    /// The request id was already applied: nothing changed (a retry).
    Duplicate,
}

/// What a release did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Released {
    /// The reservation was released.
    Applied,
    /// There was no such reservation (already settled, released or swept).
    NothingToRelease,
}

/// What extending a reservation ([`crate::Ledger::extend`]) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Extended {
    /// The reservation now lasts at least until the new deadline.
    Applied,
    /// There was no such reservation (already settled, released or swept:
    /// its settlement still charges in full).
    NothingToExtend,
}

/// The writes of one store transaction (see [`LedgerStore::transaction`]).
///
/// Each method either applies its write or refuses it (the inner `Err`:
/// nothing changes, and the other writes of the transaction are not
/// affected). The outer `Err` is a storage failure: return it from the
/// transaction's body, which then commits nothing.
///
/// Writes must see the writes before them in the same transaction (a
/// reservation after a charge counts the charge).
pub trait LedgerTransaction {
    /// Adds `amount` to `account` (created if new), recorded as a credit
    /// entry at the current time; idempotent by `request_id` (a request id
    /// already in the ledger is a [`Idempotent::Duplicate`]). Refused
    /// ([`CreditError::InvalidAmount`]) if negative or if the balance would
    /// overflow.
    ///
    /// # Errors
    /// Storage failure.
    fn credit(&mut self, account: &str, request_id: &str, amount: Money) -> Outcome<CreditError>;

    /// Holds `amount` of `account` for `request_id` until `expires_at_ms`,
    /// in the store (for [`crate::Reservations::Store`]). Refused
    /// ([`ReserveError::InsufficientBalance`]) when `balance − reserved −
    /// amount` would fall below the store's floor; a duplicate when the
    /// request id is already reserved or settled.
    ///
    /// # Errors
    /// Storage failure.
    fn reserve(
        &mut self,
        account: &str,
        request_id: &str,
        amount: Money,
        expires_at_ms: i64,
    ) -> Outcome<ReserveError>;

    /// Settles a request reserved in the store: removes its reservation,
    /// if it is still there, and records the charge (entry and balance).
    /// A charge whose reservation is gone (expired and swept, released at a
    /// restart) is recorded all the same, even if it takes the balance below
    /// the floor: it is owed for service delivered. Idempotent by request
    /// id. Refused only for a negative amount
    /// ([`SettleError::InvalidAmount`]).
    ///
    /// # Errors
    /// Storage failure.
    fn settle(&mut self, entry: &LedgerEntry) -> Outcome<SettleError>;

    /// Records the charge of a request whose reservation was held outside
    /// the store ([`crate::Reservations::InMemory`]): entry and balance,
    /// idempotent by request id. The hot path: a store may sum a
    /// transaction's charges per account and write each balance once, as
    /// long as every other write sees them.
    ///
    /// # Errors
    /// Storage failure.
    fn charge(&mut self, entry: &LedgerEntry) -> Outcome<SettleError>;

    /// Releases a reservation held in the store.
    ///
    /// # Errors
    /// Storage failure.
    fn release(&mut self, request_id: &str) -> Result<Released, LedgerError>;

    /// Moves the deadline of a reservation held in the store to
    /// `expires_at_ms`, never earlier (a live request keeps its
    /// reservation).
    ///
    /// # Errors
    /// Storage failure.
    fn extend(&mut self, request_id: &str, expires_at_ms: i64) -> Result<Extended, LedgerError>;

    /// Releases the reservations held in the store that expired before
    /// `now_ms`; returns how many.
    ///
    /// # Errors
    /// Storage failure.
    fn sweep(&mut self, now_ms: i64) -> Result<u64, LedgerError>;

    /// How many accounts, entries and reservations the store holds,
    /// counting this transaction's writes.
    ///
    /// # Errors
    /// Storage failure.
    fn counts(&mut self) -> Result<LedgerCounts, LedgerError>;

    /// Inserts accounts as given, balance and reserved amount included
    /// (a copy: the entries that explain the balances go in the same
    /// transaction, [`LedgerTransaction::import_entries`]). An account that
    /// exists already is a storage failure.
    ///
    /// # Errors
    /// Storage failure.
    fn import_accounts(&mut self, rows: &[AccountRow]) -> Result<(), LedgerError>;

    /// Inserts entries as given, every column, `seq` included; the store's
    /// next `seq` is then above every one. Moves no balance. A `seq` or
    /// request id that exists already is a storage failure.
    ///
    /// # Errors
    /// Storage failure.
    fn import_entries(&mut self, rows: &[EntryRow]) -> Result<(), LedgerError>;
}

/// [`LedgerTransaction::reserve`] in a non-durable transaction of its own.
///
/// # Errors
/// Storage failure.
pub(super) fn reserve_in_a_transaction<S: LedgerStore + ?Sized>(
    store: &S,
    account: &str,
    request_id: &str,
    amount: Money,
    expires_at_ms: i64,
) -> Outcome<ReserveError> {
    let mut outcome = Err(ReserveError::WriterGone);
    store.transaction(false, &mut |tx| {
        outcome = tx.reserve(account, request_id, amount, expires_at_ms)?;
        Ok(())
    })?;
    Ok(outcome)
}

/// Storage for the ledger: SQLite ([`crate::SqliteLedger`]) or PostgreSQL
/// (`PostgresLedgerStore`, feature `postgres`). Writes happen in
/// [`LedgerStore::transaction`]s, one per batch of the ledger's writer;
/// PostgreSQL locks the account rows a batch writes (a reservation is a
/// conditional update of its account's row) where SQLite takes the database
/// lock (`BEGIN IMMEDIATE`). Idempotency rests on the request id being unique among the
/// stored entries; reservations kept in the store
/// ([`crate::Reservations::Store`]) let several processes share one
/// database.
pub trait LedgerStore: Send + Sync + 'static {
    /// Runs `body` in one transaction and commits it if `body` returns
    /// `Ok`; commits nothing otherwise. `durable` is false when the
    /// transaction holds only reservations and releases, which are void
    /// after a restart anyway: the store may then commit without waiting
    /// for the disk (SQLite: `synchronous=NORMAL`; PostgreSQL:
    /// `synchronous_commit = off`). A store may run `body` again to retry
    /// the transaction; it starts from scratch each time.
    ///
    /// # Errors
    /// Storage failure, or the error `body` returned: nothing is committed.
    fn transaction(
        &self,
        durable: bool,
        body: &mut dyn FnMut(&mut dyn LedgerTransaction) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError>;

    /// An account's balance (zero for unknown accounts) and what the store
    /// holds reserved for it.
    ///
    /// # Errors
    /// Storage failure.
    fn balance(&self, account: &str) -> Result<Balance, LedgerError>;

    /// Charges of an account, newest first, `seq < before` when given, at
    /// most `limit`.
    ///
    /// # Errors
    /// Storage failure.
    fn usage(
        &self,
        account: &str,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<StoredEntry>, LedgerError>;

    /// Every entry (credits and charges) with `seq > after`, in `seq`
    /// order, at most `limit`: the whole ledger, page by page, every column
    /// as stored.
    ///
    /// # Errors
    /// Storage failure.
    fn entries(&self, after: i64, limit: usize) -> Result<Vec<EntryRow>, LedgerError>;

    /// Every account, ordered by name as bytes (the same order in every
    /// store).
    ///
    /// # Errors
    /// Storage failure.
    fn accounts(&self) -> Result<Vec<AccountRow>, LedgerError>;

    /// How many accounts, entries and reservations the store holds (in one
    /// transaction).
    ///
    /// # Errors
    /// Storage failure.
    fn counts(&self) -> Result<LedgerCounts, LedgerError> {
        let mut counts = LedgerCounts::default();
        self.transaction(false, &mut |tx| {
            counts = tx.counts()?;
            Ok(())
        })?;
        Ok(counts)
    }

    /// Whether reservations kept in the store ([`crate::Reservations::Store`])
    /// are better made alone ([`LedgerStore::reserve_alone`], on threads of
    /// the ledger's own, each on a connection of its own) than in the
    /// writer's batches, where they wait for the commit window and the
    /// settlements' commit. False by default (SQLite: one writer at a
    /// time, so a transaction of its own would only queue behind the
    /// writer's); PostgreSQL: true.
    fn reserves_alone(&self) -> bool {
        false
    }

    /// Reserves as [`LedgerTransaction::reserve`] does, alone: committed
    /// (not durably, as a batch of reservations is) before it returns, in
    /// a transaction of its own. A refusal
    /// ([`ReserveError::InsufficientBalance`]) is decided on what is
    /// committed: it does not count this process's writes still queued on
    /// its writer (a release, a settlement that frees the rest of its
    /// reservation), so the ledger asks its writer again before refusing.
    ///
    /// # Errors
    /// Storage failure.
    fn reserve_alone(
        &self,
        account: &str,
        request_id: &str,
        amount: Money,
        expires_at_ms: i64,
    ) -> Outcome<ReserveError> {
        reserve_in_a_transaction(self, account, request_id, amount, expires_at_ms)
    }

    /// Releases every reservation held in the store (single-process
    /// start-up); returns how many.
    ///
    /// # Errors
    /// Storage failure.
    fn release_all(&self) -> Result<u64, LedgerError> {
        let mut released = 0;
        self.transaction(false, &mut |tx| {
            released = tx.sweep(i64::MAX)?;
            Ok(())
        })?;
        Ok(released)
    }
}
