//! The price catalog: per-million-token rates per provider and model.
//!
//! The built-in catalog is `data/prices.json`, shipped with the crate; each
//! entry names its source and date. Operators add or replace entries with an
//! override document of the same format ([`Catalog::with_overrides`]).
//!
//! Lookup for `(provider, model)`, first match wins:
//! 1. an override entry, then a built-in entry, for exactly that pair: a
//!    dated snapshot with its own entry (`gpt-4o-2024-05-13`) is priced as
//!    itself, never as its base model;
//! 2. for a dated or versioned id without an entry of its own, its
//!    *family*: the entries of the same provider whose model is the id with
//!    the date/version suffix removed (`claude-sonnet-4-5-20250929` →
//!    `claude-sonnet-4-5`, `gpt-4o-2024-12-01` → `gpt-4o`; a `models/`
//!    prefix is dropped too), i.e. the undated base and every snapshot of
//!    it. The id is priced at the family's highest rates, taken rate by
//!    rate (input, output, cache read, cache write, reasoning): a
//!    conservative choice, so that an unlisted snapshot is never billed
//!    below a listed member of its family. The entry reported is the
//!    member with the highest output (then input) rate. Overrides and
//!    built-in entries form one family (an override replaces the built-in
//!    entry of the same model), so an override for a base model does not
//!    cover a snapshot that has a built-in entry: override the snapshot too;
//! 3. the same two steps under the provider's alias (`azure` and
//!    `openai-responses` price as `openai`, `azure-anthropic-foundry` as
//!    `anthropic`, ...);
//! 4. otherwise the model is unknown: the configured
//!    [`UnknownModelPolicy`] decides (a fallback rate marked
//!    `price_source: fallback`, or a refusal).
//!
//! An undated id is only ever priced by its exact entry (step 1).
//!
//! # Token limits
//!
//! An entry may carry the model's official `context_length` and
//! `max_output_tokens` (left out when unsure). A family reports the highest
//! of its members' limits. [`Catalog::max_output_tokens`] is the output
//! bound a reservation uses when a request sets no limit: the entry's
//! `max_output_tokens`, else its `context_length` capped at
//! [`DEFAULT_MAX_OUTPUT_TOKENS`], else that default (unknown models
//! included). The default bounds every model the catalog ships; a model
//! whose real limit is higher must say so in its entry (an override).

use std::collections::HashMap;

/// The catalog's maps: looked up on every priced request with keys made
/// from the request (provider, model), but never grown by one, so foldhash
/// rather than SipHash (a lookup hashed two short strings with SipHash,
/// ~300 instructions, twice).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use std::collections::hash_map::Entry;

use serde::{Deserialize, Serialize};

use crate::money::Money;

/// The output bound of a model whose entry gives no `max_output_tokens`
/// ([`Catalog::max_output_tokens`]): 128,000 tokens.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 128_000;

/// Rates in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rates {
    /// Uncached input.
    pub input: Money,
    /// Output (and reasoning, unless `reasoning` is set).
    pub output: Money,
    /// Cached input reads; input rate when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<Money>,
    /// Cache writes; input rate when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<Money>,
    /// Reasoning tokens; output rate when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Money>,
}

impl Rates {
    /// Whether every rate is zero (a free model).
    pub fn is_free(&self) -> bool {
        self.input == Money::ZERO
            && self.output == Money::ZERO
            && self.cache_read.unwrap_or(Money::ZERO) == Money::ZERO
            && self.cache_write.unwrap_or(Money::ZERO) == Money::ZERO
            && self.reasoning.unwrap_or(Money::ZERO) == Money::ZERO
    }
}

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceEntry {
    /// Provider id (`openai`, `groq`, ...).
    pub provider: String,
    /// Model id as the provider names it.
    pub model: String,
    /// The model's identity across providers (for the free-model rule).
    pub canonical: String,
    /// The rates.
    #[serde(flatten)]
    pub rates: Rates,
    /// A free variant (e.g. OpenRouter `:free`), priced by the lowest paid
    /// rate of the same canonical model.
    #[serde(default)]
    pub free: bool,
    /// The model's context window in tokens (input and output), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u64>,
    /// The most output tokens the model produces for one choice, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// Where the price comes from.
    pub source: String,
    /// When it was checked (`YYYY-MM-DD`).
    pub date: String,
}

/// Where a charge's price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PriceSource {
    /// The built-in catalog.
    Catalog,
    /// The operator's override file.
    Override,
    /// The model is free here; the markup used the lowest paid rate of the
    /// same model elsewhere in the catalog.
    LowestPaid,
    /// Unknown model: the configured fallback rate.
    Fallback,
}

impl PriceSource {
    /// The name used in the ledger and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            PriceSource::Catalog => "catalog",
            PriceSource::Override => "override",
            PriceSource::LowestPaid => "lowest_paid",
            PriceSource::Fallback => "fallback",
        }
    }

    /// The value a ledger stored as [`PriceSource::as_str`]; anything
    /// else reads as `catalog`.
    pub(crate) fn from_stored(s: &str) -> Self {
        match s {
            "override" => PriceSource::Override,
            "lowest_paid" => PriceSource::LowestPaid,
            "fallback" => PriceSource::Fallback,
            _ => PriceSource::Catalog,
        }
    }
}

/// What to do for a model the catalog does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownModelPolicy {
    /// Price it at these rates, marked `fallback`.
    Fallback(Rates),
    /// Refuse the request (the server answers 400 before calling upstream).
    Refuse,
}

impl Default for UnknownModelPolicy {
    /// A deliberately high fallback (USD 10 / 30 per million tokens), so an
    /// unknown model is never under-charged.
    fn default() -> Self {
        UnknownModelPolicy::Fallback(Rates {
            input: Money::from_nanos(10 * crate::money::NANOS_PER_USD),
            output: Money::from_nanos(30 * crate::money::NANOS_PER_USD),
            cache_read: None,
            cache_write: None,
            reasoning: None,
        })
    }
}

#[derive(Debug, Deserialize)]
struct Document {
    #[serde(default)]
    aliases: Map<String, String>,
    entries: Vec<PriceEntry>,
}

/// A catalog error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The document is not valid catalog JSON.
    #[error("price catalog: {0}")]
    Parse(String),
    /// An entry has a negative rate.
    #[error("price catalog: negative rate for {provider}/{model}")]
    NegativeRate {
        /// Provider.
        provider: String,
        /// Model.
        model: String,
    },
}

/// A resolved price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price<'c> {
    /// The entry (absent for the fallback).
    pub entry: Option<&'c PriceEntry>,
    /// The rates.
    pub rates: Rates,
    /// Where they came from.
    pub source: PriceSource,
    /// The model's context window in tokens, when known (for a family, the
    /// highest of its members').
    pub context_length: Option<u64>,
    /// The most output tokens per choice, when known (for a family, the
    /// highest of its members'). [`Catalog::max_output_tokens`] applies the
    /// default when absent.
    pub max_output_tokens: Option<u64>,
}

impl Price<'_> {
    /// The output bound per choice: `max_output_tokens`, else
    /// `context_length` capped at [`DEFAULT_MAX_OUTPUT_TOKENS`], else that
    /// default.
    pub fn output_bound(&self) -> u64 {
        self.max_output_tokens.unwrap_or_else(|| {
            self.context_length.map_or(DEFAULT_MAX_OUTPUT_TOKENS, |c| {
                c.min(DEFAULT_MAX_OUTPUT_TOKENS)
            })
        })
    }
}

/// The price catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    builtin: Map<(String, String), PriceEntry>,
    overrides: Map<(String, String), PriceEntry>,
    aliases: Map<String, String>,
    unknown: UnknownModelPolicy,
    /// `(provider, family)` → the family's price (lookup step 2); rebuilt
    /// whenever entries change.
    families: Map<(String, String), Family>,
}

/// The price of a model family: the entries of one provider whose model,
/// without its date/version suffix, is the same.
#[derive(Debug, Clone)]
struct Family {
    /// The member with the highest output (then input, ...) rates.
    entry: PriceEntry,
    /// Where `entry` comes from.
    source: PriceSource,
    /// The highest of each rate over the members (`entry.rates` when it
    /// has them all).
    rates: Rates,
    /// The highest context length over the members that give one.
    context_length: Option<u64>,
    /// The highest output limit over the members that give one.
    max_output_tokens: Option<u64>,
}

const BUILTIN: &str = include_str!("../data/prices.json");

fn parse(doc: &str) -> Result<Document, CatalogError> {
    let d: Document = serde_json::from_str(doc).map_err(|e| CatalogError::Parse(e.to_string()))?;
    for e in &d.entries {
        let r = e.rates;
        let rates = [
            Some(r.input),
            Some(r.output),
            r.cache_read,
            r.cache_write,
            r.reasoning,
        ];
        if rates.iter().flatten().any(|m| m.is_negative()) {
            return Err(CatalogError::NegativeRate {
                provider: e.provider.clone(),
                model: e.model.clone(),
            });
        }
    }
    Ok(d)
}

fn index(entries: Vec<PriceEntry>) -> Map<(String, String), PriceEntry> {
    entries
        .into_iter()
        .map(|e| ((e.provider.clone(), e.model.clone()), e))
        .collect()
}

/// Each rate with its default applied: input, output, cache read, cache
/// write, reasoning.
fn effective(r: &Rates) -> [Money; 5] {
    [
        r.input,
        r.output,
        r.cache_read.unwrap_or(r.input),
        r.cache_write.unwrap_or(r.input),
        r.reasoning.unwrap_or(r.output),
    ]
}

/// The higher of each rate of `a` and `b`.
fn max_rates(a: &Rates, b: &Rates) -> Rates {
    let [ai, ao, acr, acw, ar] = effective(a);
    let [bi, bo, bcr, bcw, br] = effective(b);
    // An optional rate stays absent (defaulting to the merged input or
    // output rate, which is then at least each member's) only if both lack it.
    let either =
        |x: Option<Money>, y: Option<Money>, v: Money| (x.is_some() || y.is_some()).then_some(v);
    Rates {
        input: ai.max(bi),
        output: ao.max(bo),
        cache_read: either(a.cache_read, b.cache_read, acr.max(bcr)),
        cache_write: either(a.cache_write, b.cache_write, acw.max(bcw)),
        reasoning: either(a.reasoning, b.reasoning, ar.max(br)),
    }
}

/// The order in which a family's representative is chosen: output, then
/// input, then the other rates, then the model id (for determinism).
fn rank(e: &PriceEntry) -> ([Money; 5], &str) {
    let [i, o, cr, cw, r] = effective(&e.rates);
    ([o, i, cw, cr, r], e.model.as_str())
}

/// The family name of a model id: without its date/version suffix.
fn family_name(model: &str) -> &str {
    strip_version(model).unwrap_or(model)
}

/// Groups `entries` into families (lookup step 2).
fn families<'a>(
    entries: impl Iterator<Item = (&'a PriceEntry, PriceSource)>,
) -> Map<(String, String), Family> {
    let mut out: Map<(String, String), Family> = Map::default();
    for (e, source) in entries {
        let key = (e.provider.clone(), family_name(&e.model).to_owned());
        match out.entry(key) {
            Entry::Vacant(v) => {
                v.insert(Family {
                    entry: e.clone(),
                    source,
                    rates: e.rates,
                    context_length: e.context_length,
                    max_output_tokens: e.max_output_tokens,
                });
            }
            Entry::Occupied(mut o) => {
                let f = o.get_mut();
                f.rates = max_rates(&f.rates, &e.rates);
                f.context_length = f.context_length.max(e.context_length);
                f.max_output_tokens = f.max_output_tokens.max(e.max_output_tokens);
                if rank(e) > rank(&f.entry) {
                    f.entry = e.clone();
                    f.source = source;
                }
            }
        }
    }
    for f in out.values_mut() {
        // Keep the representative's own rates when they are the highest.
        if effective(&f.rates) == effective(&f.entry.rates) {
            f.rates = f.entry.rates;
        }
    }
    out
}

/// Drops a trailing date or version (`-20250929`, `-2024-08-06`, `-v1:0`, `-latest`).
fn strip_version(model: &str) -> Option<&str> {
    let m = model.strip_prefix("models/").unwrap_or(model);
    for suffix in ["-latest", "-preview"] {
        if let Some(base) = m.strip_suffix(suffix) {
            return Some(base);
        }
    }
    // -YYYY-MM-DD
    if m.len() > 11 {
        let (base, tail) = m.split_at(m.len() - 11);
        let b = tail.as_bytes();
        if b.first() == Some(&b'-')
            && b.get(5) == Some(&b'-')
            && b.get(8) == Some(&b'-')
            && tail.chars().filter(char::is_ascii_digit).count() == 8
        {
            return Some(base);
        }
    }
    // -YYYYMMDD
    if m.len() > 9 {
        let (base, tail) = m.split_at(m.len() - 9);
        if tail.starts_with('-') && tail[1..].bytes().all(|c| c.is_ascii_digit()) {
            return Some(base);
        }
    }
    (m != model).then_some(m)
}

impl Catalog {
    /// The built-in catalog with the default unknown-model policy.
    ///
    /// # Errors
    /// Never for the shipped data (a test checks it); the signature allows
    /// the same path for overrides.
    pub fn builtin() -> Result<Self, CatalogError> {
        let d = parse(BUILTIN)?;
        let mut c = Self {
            builtin: index(d.entries),
            overrides: Map::default(),
            aliases: d.aliases,
            unknown: UnknownModelPolicy::default(),
            families: Map::default(),
        };
        c.families = families(c.sourced_entries());
        Ok(c)
    }

    /// Adds an operator's override document (same JSON format); its entries
    /// win over built-in ones and are marked `override`.
    ///
    /// # Errors
    /// [`CatalogError`] for malformed documents or negative rates.
    pub fn with_overrides(mut self, doc: &str) -> Result<Self, CatalogError> {
        let d = parse(doc)?;
        self.overrides.extend(index(d.entries));
        self.aliases.extend(d.aliases);
        self.families = families(self.sourced_entries());
        Ok(self)
    }

    /// Sets the unknown-model policy.
    #[must_use]
    pub fn with_unknown_model_policy(mut self, policy: UnknownModelPolicy) -> Self {
        self.unknown = policy;
        self
    }

    /// Every entry, overrides first.
    pub fn entries(&self) -> impl Iterator<Item = &PriceEntry> {
        self.sourced_entries().map(|(e, _)| e)
    }

    /// Every entry with where it comes from, overrides first.
    fn sourced_entries(&self) -> impl Iterator<Item = (&PriceEntry, PriceSource)> {
        let overrides = self.overrides.values().map(|e| (e, PriceSource::Override));
        let builtin = self
            .builtin
            .iter()
            .filter(|(k, _)| !self.overrides.contains_key(*k))
            .map(|(_, e)| (e, PriceSource::Catalog));
        overrides.chain(builtin)
    }

    fn exact(&self, provider: &str, model: &str) -> Option<(&PriceEntry, PriceSource)> {
        let key = (provider.to_owned(), model.to_owned());
        self.overrides
            .get(&key)
            .map(|e| (e, PriceSource::Override))
            .or_else(|| self.builtin.get(&key).map(|e| (e, PriceSource::Catalog)))
    }

    /// Lookup steps 1 and 2 for one provider.
    fn for_provider(&self, provider: &str, model: &str) -> Option<Price<'_>> {
        if let Some((e, source)) = self.exact(provider, model) {
            return Some(Price {
                entry: Some(e),
                rates: e.rates,
                source,
                context_length: e.context_length,
                max_output_tokens: e.max_output_tokens,
            });
        }
        let family = strip_version(model)?;
        let f = self
            .families
            .get(&(provider.to_owned(), family.to_owned()))?;
        Some(Price {
            entry: Some(&f.entry),
            rates: f.rates,
            source: f.source,
            context_length: f.context_length,
            max_output_tokens: f.max_output_tokens,
        })
    }

    /// Lookup steps 1 to 3.
    fn lookup(&self, provider: &str, model: &str) -> Option<Price<'_>> {
        self.for_provider(provider, model).or_else(|| {
            self.aliases
                .get(provider)
                .and_then(|alias| self.for_provider(alias, model))
        })
    }

    /// The entry for `provider`/`model` per the lookup rules, if any (for a
    /// family match, the member that represents the family; [`Self::price`]
    /// gives the rates charged).
    pub fn entry(&self, provider: &str, model: &str) -> Option<(&PriceEntry, PriceSource)> {
        self.lookup(provider, model)
            .and_then(|p| Some((p.entry?, p.source)))
    }

    /// The price of `provider`/`model`: its entry, or the fallback; `None`
    /// when the model is unknown and the policy refuses.
    pub fn price(&self, provider: &str, model: &str) -> Option<Price<'_>> {
        self.lookup(provider, model).or(match self.unknown {
            UnknownModelPolicy::Fallback(rates) => Some(Price {
                entry: None,
                rates,
                source: PriceSource::Fallback,
                context_length: None,
                max_output_tokens: None,
            }),
            UnknownModelPolicy::Refuse => None,
        })
    }

    /// The most output tokens `provider`/`model` can produce for one
    /// choice, to bound a reservation when the request sets no limit:
    /// [`Price::output_bound`] of its entry or family (lookup steps 1 to
    /// 3), else [`DEFAULT_MAX_OUTPUT_TOKENS`] (unknown models, refused or
    /// not).
    pub fn max_output_tokens(&self, provider: &str, model: &str) -> u64 {
        self.lookup(provider, model)
            .map_or(DEFAULT_MAX_OUTPUT_TOKENS, |p| p.output_bound())
    }

    /// Paid entries of the same canonical model (for the free-model rule).
    pub fn paid_alternatives<'a>(
        &'a self,
        canonical: &'a str,
    ) -> impl Iterator<Item = &'a PriceEntry> + 'a {
        self.entries()
            .filter(move |e| e.canonical == canonical && !e.free && !e.rates.is_free())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_parses_and_covers_the_required_providers() {
        let c = Catalog::builtin().unwrap();
        for p in [
            "openai",
            "anthropic",
            "google",
            "groq",
            "together",
            "fireworks",
            "deepinfra",
            "cerebras",
            "sambanova",
            "openrouter",
        ] {
            assert!(c.entries().any(|e| e.provider == p), "{p} missing");
        }
        assert!(
            c.entries()
                .all(|e| !e.source.is_empty() && e.date.len() == 10)
        );
    }

    #[test]
    fn lookup_rules() {
        let c = Catalog::builtin().unwrap();
        assert_eq!(c.entry("openai", "gpt-4o").unwrap().0.model, "gpt-4o");
        // gpt-4o-2024-08-06 has an entry of its own since issue #14 (finding
        // 13); it still costs what gpt-4o costs.
        let snapshot = c.price("openai", "gpt-4o-2024-08-06").unwrap();
        assert_eq!(snapshot.entry.unwrap().model, "gpt-4o-2024-08-06");
        assert_eq!(snapshot.rates, c.price("openai", "gpt-4o").unwrap().rates);
        assert_eq!(
            c.entry("anthropic", "claude-sonnet-4-5-20250929")
                .unwrap()
                .0
                .model,
            "claude-sonnet-4-5"
        );
        assert_eq!(
            c.entry("azure", "gpt-4o-mini").unwrap().0.provider,
            "openai"
        );
        assert_eq!(
            c.entry("azure-anthropic-foundry", "claude-haiku-4-5")
                .unwrap()
                .0
                .provider,
            "anthropic"
        );
        assert_eq!(
            c.entry("google", "models/gemini-2.5-flash")
                .unwrap()
                .0
                .model,
            "gemini-2.5-flash"
        );
        assert!(c.entry("openai", "gpt-unknown").is_none());
        assert_eq!(
            c.price("openai", "gpt-unknown").unwrap().source,
            PriceSource::Fallback
        );
        let strict = c
            .clone()
            .with_unknown_model_policy(UnknownModelPolicy::Refuse);
        assert!(strict.price("openai", "gpt-unknown").is_none());
    }

    #[test]
    fn overrides_win_and_are_marked() {
        let doc = r#"{"entries":[{"provider":"openai","model":"gpt-4o","canonical":"gpt-4o","input":"1.00","output":"2.00","source":"contract","date":"2026-01-01"},
                                 {"provider":"acme","model":"m1","canonical":"m1","input":"0.5","output":"0.5","source":"internal","date":"2026-01-01"}]}"#;
        let c = Catalog::builtin().unwrap().with_overrides(doc).unwrap();
        let p = c.price("openai", "gpt-4o").unwrap();
        assert_eq!(
            (p.source, p.rates.input.to_string()),
            (PriceSource::Override, "1.00".to_owned())
        );
        assert_eq!(c.price("acme", "m1").unwrap().source, PriceSource::Override);
        let bad = r#"{"entries":[{"provider":"x","model":"y","canonical":"y","input":"-1","output":"1","source":"s","date":"2026-01-01"}]}"#;
        assert!(matches!(
            Catalog::builtin().unwrap().with_overrides(bad),
            Err(CatalogError::NegativeRate { .. })
        ));
        assert!(Catalog::builtin().unwrap().with_overrides("{").is_err());
    }

    fn usd(s: &str) -> Money {
        s.parse().unwrap()
    }

    // Issue #14, finding 3: a request without an output limit reserved
    // 8,192 tokens whatever the model could produce.

    #[test]
    fn shipped_token_limits_are_plausible() {
        let c = Catalog::builtin().unwrap();
        for e in c.entries() {
            if let (Some(ctx), Some(out)) = (e.context_length, e.max_output_tokens) {
                assert!(out <= ctx, "{}/{}", e.provider, e.model);
            }
            assert!(e.max_output_tokens.is_none_or(|m| m > 0));
        }
        assert!(
            c.entries()
                .filter(|e| e.max_output_tokens.is_some())
                .count()
                >= 20
        );
    }

    #[test]
    fn max_output_tokens_per_entry_family_alias_and_default() {
        let c = Catalog::builtin().unwrap();
        assert_eq!(c.max_output_tokens("openai", "gpt-4o"), 16_384);
        assert_eq!(c.max_output_tokens("openai", "gpt-4o-2024-05-13"), 4_096);
        // An unknown snapshot: the highest of its family.
        assert_eq!(c.max_output_tokens("openai", "gpt-4o-2025-06-01"), 16_384);
        assert_eq!(c.max_output_tokens("azure", "gpt-4o-mini"), 16_384);
        assert_eq!(c.max_output_tokens("openai", "gpt-5"), 128_000);
        assert_eq!(
            c.max_output_tokens("anthropic", "claude-sonnet-4-5-20250929"),
            64_000
        );
        assert_eq!(
            c.max_output_tokens("google", "models/gemini-2.5-pro"),
            65_536
        );
        let p = c.price("anthropic", "claude-opus-4-1").unwrap();
        assert_eq!(
            (p.context_length, p.max_output_tokens),
            (Some(200_000), Some(32_000))
        );
        // Unknown models and entries without limits: the default.
        assert_eq!(
            c.max_output_tokens("openai", "gpt-unknown"),
            DEFAULT_MAX_OUTPUT_TOKENS
        );
        assert_eq!(
            c.max_output_tokens("nowhere", "nothing"),
            DEFAULT_MAX_OUTPUT_TOKENS
        );
        assert_eq!(
            c.max_output_tokens("groq", "llama-3.1-8b-instant"),
            DEFAULT_MAX_OUTPUT_TOKENS
        );
        // A context length alone bounds the output (capped at the default).
        assert_eq!(
            c.max_output_tokens("aws", "amazon.nova-pro-v1:0"),
            DEFAULT_MAX_OUTPUT_TOKENS
        );
        let doc = r#"{"entries":[{"provider":"acme","model":"small","canonical":"small","input":"1","output":"1","context_length":8192,"source":"s","date":"2026-01-01"},
                                 {"provider":"acme","model":"big","canonical":"big","input":"1","output":"1","max_output_tokens":300000,"source":"s","date":"2026-01-01"}]}"#;
        let c = c.with_overrides(doc).unwrap();
        assert_eq!(c.max_output_tokens("acme", "small"), 8_192);
        assert_eq!(c.max_output_tokens("acme", "big"), 300_000);
        assert_eq!(c.price("acme", "small").unwrap().max_output_tokens, None);
    }

    // Issue #14, finding 13: dated snapshots were priced as their base model.

    #[test]
    fn a_snapshot_with_its_own_entry_is_priced_at_its_own_rate() {
        let c = Catalog::builtin().unwrap();
        for provider in ["openai", "azure", "openai-responses"] {
            let p = c.price(provider, "gpt-4o-2024-05-13").unwrap();
            assert_eq!(p.entry.unwrap().model, "gpt-4o-2024-05-13");
            assert_eq!(p.source, PriceSource::Catalog);
            assert_eq!((p.rates.input, p.rates.output), (usd("5.00"), usd("15.00")));
            assert_eq!(p.rates.cache_read, None, "no cached-input discount");
        }
    }

    #[test]
    fn an_undated_exact_id_is_unchanged() {
        let c = Catalog::builtin().unwrap();
        let p = c.price("openai", "gpt-4o").unwrap();
        assert_eq!(p.entry.unwrap().model, "gpt-4o");
        assert_eq!(p.source, PriceSource::Catalog);
        assert_eq!(p.rates, p.entry.unwrap().rates);
        assert_eq!(
            (p.rates.input, p.rates.output, p.rates.cache_read),
            (usd("2.50"), usd("10.00"), Some(usd("1.25")))
        );
        // An undated id is never priced by its family.
        let family_only = r#"{"entries":[{"provider":"acme","model":"m-2026-01-01","canonical":"m","input":"1","output":"1","source":"s","date":"2026-01-01"}]}"#;
        let c = c.with_overrides(family_only).unwrap();
        assert!(c.entry("acme", "m").is_none());
    }

    #[test]
    fn an_unknown_snapshot_of_a_differently_priced_family_gets_the_highest() {
        let c = Catalog::builtin().unwrap();
        // gpt-4o costs 2.50/10, gpt-4o-2024-05-13 costs 5/15.
        for model in ["gpt-4o-2025-06-01", "gpt-4o-20250601", "gpt-4o-latest"] {
            let p = c.price("openai", model).unwrap();
            assert_eq!(p.entry.unwrap().model, "gpt-4o-2024-05-13", "{model}");
            assert_eq!(
                (p.rates.input, p.rates.output),
                (usd("5.00"), usd("15.00")),
                "{model}"
            );
            // Cached reads of the highest member are not discounted either.
            assert_eq!(p.rates.cache_read.unwrap_or(p.rates.input), usd("5.00"));
        }
        // A family with a single member keeps that member's entry and rates.
        let p = c.price("anthropic", "claude-sonnet-4-5-20250929").unwrap();
        let base = c.price("anthropic", "claude-sonnet-4-5").unwrap();
        assert_eq!(p, base);
    }

    #[test]
    fn a_family_is_priced_rate_by_rate_at_its_highest() {
        // No member is the most expensive on every rate: the snapshot is
        // charged the highest of each, whichever entry is reported.
        let doc = r#"{"entries":[
            {"provider":"acme","model":"m","canonical":"m","input":"1","output":"8","cache_read":"0.1","source":"s","date":"2026-01-01"},
            {"provider":"acme","model":"m-2025-01-01","canonical":"m","input":"3","output":"4","cache_write":"3.5","source":"s","date":"2026-01-01"},
            {"provider":"acme","model":"m-20240101","canonical":"m","input":"2","output":"2","reasoning":"9","source":"s","date":"2026-01-01"}]}"#;
        let c = Catalog::builtin().unwrap().with_overrides(doc).unwrap();
        let p = c.price("acme", "m-2026-06-01").unwrap();
        assert_eq!(p.source, PriceSource::Override);
        assert_eq!(p.entry.unwrap().model, "m", "highest output rate");
        assert_eq!(
            p.rates,
            Rates {
                input: usd("3"),
                output: usd("8"),
                cache_read: Some(usd("3")),
                cache_write: Some(usd("3.5")),
                reasoning: Some(usd("9")),
            }
        );
        // Exact ids keep their own rates.
        assert_eq!(c.price("acme", "m").unwrap().rates.input, usd("1"));
        assert_eq!(c.price("acme", "m-20240101").unwrap().rates.input, usd("2"));
    }

    #[test]
    fn overrides_and_builtin_entries_form_one_family() {
        // An override of the base model applies to unknown snapshots only as
        // one member of the family: the built-in 5/15 snapshot still counts,
        // and a snapshot with a built-in entry keeps it.
        let doc = r#"{"entries":[{"provider":"openai","model":"gpt-4o","canonical":"gpt-4o","input":"1.00","output":"2.00","source":"contract","date":"2026-01-01"}]}"#;
        let c = Catalog::builtin().unwrap().with_overrides(doc).unwrap();
        let p = c.price("openai", "gpt-4o-2025-06-01").unwrap();
        assert_eq!(
            (p.rates.input, p.source),
            (usd("5.00"), PriceSource::Catalog)
        );
        let p = c.price("openai", "gpt-4o-2024-11-20").unwrap();
        assert_eq!(
            (p.rates.input, p.source),
            (usd("2.50"), PriceSource::Catalog)
        );
        // Overriding the expensive snapshot lowers the family.
        let doc = r#"{"entries":[{"provider":"openai","model":"gpt-4o-2024-05-13","canonical":"gpt-4o-2024-05-13","input":"4.00","output":"12.00","source":"contract","date":"2026-01-01"}]}"#;
        let c = c.with_overrides(doc).unwrap();
        let p = c.price("openai", "gpt-4o-2025-06-01").unwrap();
        assert_eq!(
            (p.rates.input, p.rates.output, p.source),
            (usd("4.00"), usd("12.00"), PriceSource::Override)
        );
    }
}
