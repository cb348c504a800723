//! Prices, the markup, usage estimation, and an exact ledger.
//!
//! - [`Money`] is integer nano-USD with exact decimal strings; no floats
//!   anywhere in prices, costs or balances.
//! - [`Catalog`] holds per-million-token rates, shipped as
//!   `data/prices.json` (source and date per entry), with operator overrides
//!   and a policy for unknown models ([`UnknownModelPolicy`]).
//! - [`quote`] prices a request: the provider's at-cost amount and our
//!   markup (default 5%, [`Bps`]), with cached, cache-write and reasoning
//!   tokens at their own rates and the free-model rule;
//!   [`reservation_markup`] gives the upper bound to reserve (every choice,
//!   and the model's maximum output, [`Catalog::max_output_tokens`], when
//!   the request sets no limit), [`affordable_output_tokens`] what a balance
//!   affords. Rounding: up, to the nano-USD (see the `quote` module docs).
//! - [`estimate_prompt`] / [`estimate_completion`] count tokens with a real
//!   tokenizer when a provider reports none (conservative, documented per
//!   family).
//! - [`Ledger`] reserves, settles and releases against balances, exactly and
//!   idempotently: one method per operation ([`Ledger::reserve`],
//!   [`Ledger::extend`], [`Ledger::settle`], [`Ledger::release`],
//!   [`Ledger::credit`], [`Ledger::balance`], [`Ledger::usage`],
//!   [`Ledger::sweep`]), each with
//!   its own error type where the refusals differ ([`ReserveError`],
//!   [`SettleError`], [`CreditError`], else [`LedgerError`]). Reservations
//!   are answered in memory; charges are queued ([`Pending`]) and
//!   group-committed on one writer thread over a [`LedgerStore`] (SQLite:
//!   [`SqliteLedger`]; PostgreSQL, with the `postgres` feature:
//!   `PostgresLedgerStore`, for several instances on one database).
//!   [`copy_ledger`] copies a ledger into an empty store (a migration from
//!   SQLite to PostgreSQL) in one transaction, then verifies it.
//!
//! It does not depend on the other `byok-*` crates: usage comes in as
//! [`TokenUsage`].
//!
//! ```
//! use byok_billing::{Catalog, QuoteOptions, TokenUsage, UsageSource, quote};
//! let catalog = Catalog::builtin()?;
//! let usage = TokenUsage { prompt: 1_000, cached: 0, cache_write: 0, completion: 500, reasoning: 0 };
//! let charge = quote(&catalog, "openai", "gpt-4o-mini", &usage, UsageSource::Reported, QuoteOptions::default())?;
//! // 1000 × 0.15 + 500 × 0.60 USD per million = 0.00045 USD; 5% of it:
//! assert_eq!(charge.provider_cost.to_string(), "0.00045");
//! assert_eq!(charge.markup.to_string(), "0.0000225");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The ledger, from a reservation to its settlement (`_blocking` variants
//! for code without an async runtime; async callers `.await` the plain
//! methods):
//!
//! ```
//! use byok_billing::{
//!     Attempt, Idempotent, Ledger, LedgerConfig, LedgerEntry, Money, PriceSource, ReserveError,
//!     UsageSource, now_ms,
//! };
//! # let dir = tempfile::tempdir()?;
//! let ledger = Ledger::open_sqlite(dir.path().join("ledger.db"), &LedgerConfig::default())?;
//! ledger.credit_blocking("alice", "top-up-1", "0.01".parse()?)?;
//! let expires = now_ms() + 15 * 60 * 1000;
//! // Reserve the most the markup can be, before the upstream call.
//! ledger.reserve_blocking("alice", "req-1", Money::from_nanos(2_000_000), expires)?;
//! let refused = ledger.reserve_blocking("alice", "req-2", Money::from_nanos(9_000_000), expires);
//! assert!(matches!(refused, Err(ReserveError::InsufficientBalance { .. })));
//! // Settle with the real markup: queued, committed in the writer's next batch.
//! let entry = LedgerEntry {
//!     request_id: "req-1".into(),
//!     account: "alice".into(),
//!     created_at_ms: now_ms(),
//!     provider: "openai".into(),
//!     model: "gpt-4o-mini".into(),
//!     endpoint: "/api/v1/chat/completions".into(),
//!     prompt_tokens: 1_000,
//!     completion_tokens: 500,
//!     cached_tokens: 0,
//!     usage_source: UsageSource::Reported,
//!     provider_cost: Money::from_nanos(450_000),
//!     markup: Money::from_nanos(22_500),
//!     price_source: PriceSource::Catalog,
//!     attempts: vec![Attempt { provider: "openai".into(), label: "default".into(), status: 200 }],
//! };
//! // The request path would `.detach()` it; here we wait for the commit.
//! assert_eq!(ledger.settle(entry.clone()).wait_blocking()?, Idempotent::Applied);
//! assert_eq!(ledger.settle(entry).wait_blocking()?, Idempotent::Duplicate);
//! assert_eq!(ledger.balance("alice")?.balance.to_string(), "0.0099775");
//! assert_eq!(ledger.usage("alice", 10, None)?.len(), 1);
//! ledger.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod catalog;
mod estimate;
mod ledger;
mod money;
mod quote;
mod time;

pub use catalog::{
    Catalog, CatalogError, DEFAULT_MAX_OUTPUT_TOKENS, Price, PriceEntry, PriceSource, Rates,
    UnknownModelPolicy,
};
pub use estimate::{
    Encoding, REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE, count_tokens, encoding_for,
    estimate_completion, estimate_prompt, usage_or_estimate,
};
#[cfg(feature = "postgres")]
pub use ledger::PostgresLedgerStore;
pub use ledger::{
    AccountRow, Attempt, Balance, CreditError, EntryRow, Extended, Idempotent, Ledger,
    LedgerConfig, LedgerCopyError, LedgerCopyReport, LedgerCounts, LedgerEntry, LedgerError,
    LedgerStore, LedgerTransaction, Outcome, Pending, Released, Reservations, ReserveError,
    SettleError, SqliteLedger, StoredEntry, copy_ledger,
};
pub use money::{Bps, Money, MoneyError, NANOS_PER_USD};
pub use quote::{
    Charge, MAX_TOKENS, QuoteError, QuoteOptions, ReservationBound, TokenUsage, UsageSource,
    affordable_output_tokens, exact_cost, markup_of, max_markup, quote, reservation_markup,
};
pub use time::{now_ms, rfc3339};
