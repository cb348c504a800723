//! Prices, the markup, usage estimation, and an exact ledger.
//!
//! - [`Money`] is integer nano-USD with exact decimal strings; no floats
//!   anywhere in prices, costs or balances.
//! - [`Catalog`] holds per-million-token rates, shipped as
//!   `data/prices.json` (source and date per entry), with operator overrides
//!   and a policy for unknown models ([`UnknownModelPolicy`]).
//! - [`quote`] prices a request: the provider's at-cost amount and our
//!   markup (default 5%, [`Bps`]), with cached, cache-write and reasoning
//!   tokens at their own rates and the free-model rule; [`max_markup`] gives
//!   the upper bound to reserve. Rounding: up, to the nano-USD (see the
//!   `quote` module docs).
//! - [`estimate_prompt`] / [`estimate_completion`] count tokens with a real
//!   tokenizer when a provider reports none (conservative, documented per
//!   family).
//! - [`Ledger`] reserves, settles and releases against balances, exactly and
//!   idempotently, with batched writes on one writer thread over a
//!   [`LedgerStore`] (SQLite: [`SqliteLedger`]).
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
#![deny(missing_docs)]

mod catalog;
mod estimate;
mod ledger;
mod money;
mod quote;

pub use catalog::{
    Catalog, CatalogError, Price, PriceEntry, PriceSource, Rates, UnknownModelPolicy,
};
pub use estimate::{
    Encoding, REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE, count_tokens, encoding_for,
    estimate_completion, estimate_prompt, usage_or_estimate,
};
pub use ledger::{
    Answer, Balance, Command, Ledger, LedgerConfig, LedgerEntry, LedgerError, LedgerStore, Outcome,
    Reservations, SqliteLedger, StoredEntry, now_ms, rfc3339,
};
pub use money::{Bps, Money, MoneyError, NANOS_PER_USD};
pub use quote::{
    Charge, MAX_TOKENS, QuoteError, QuoteOptions, TokenUsage, UsageSource, exact_cost, markup_of,
    max_markup, quote,
};
