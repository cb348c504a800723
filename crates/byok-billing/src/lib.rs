//! Prices, markup, usage estimation and an exact ledger.
//!
//! **Status: not yet implemented** (tracked by the "byok-billing" issue).
//! This crate will hold:
//!
//! - money as integers (nano-USD) with exact decimal formatting;
//! - a price catalog shipped as data, with operator overrides;
//! - `quote(provider, model, usage)` as pure functions: the markup (default
//!   5%) on the at-cost rate, the free-model rule, cached and reasoning tokens;
//! - conservative usage estimation with a real tokenizer when a provider
//!   reports none;
//! - a ledger and balances with spend reserved before a call and settled after.
//!
//! It does not depend on the other `byok-*` crates.
#![deny(missing_docs)]
