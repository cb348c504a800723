//! The price catalog: per-million-token rates per provider and model.
//!
//! The built-in catalog is `data/prices.json`, shipped with the crate; each
//! entry names its source and date. Operators add or replace entries with an
//! override document of the same format ([`Catalog::with_overrides`]).
//!
//! Lookup for `(provider, model)`, first match wins:
//! 1. an override entry, then a built-in entry, for exactly that pair;
//! 2. the same, with the model's date/version suffix removed
//!    (`claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`,
//!    `gpt-4o-2024-08-06` → `gpt-4o`) and a `models/` prefix dropped;
//! 3. the same two steps under the provider's alias (`azure` and
//!    `openai-responses` price as `openai`, `azure-anthropic-foundry` as
//!    `anthropic`, ...);
//! 4. otherwise the model is unknown: the configured
//!    [`UnknownModelPolicy`] decides (a fallback rate marked
//!    `price_source: fallback`, or a refusal).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::money::Money;

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
    aliases: HashMap<String, String>,
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
}

/// The price catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    builtin: HashMap<(String, String), PriceEntry>,
    overrides: HashMap<(String, String), PriceEntry>,
    aliases: HashMap<String, String>,
    unknown: UnknownModelPolicy,
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

fn index(entries: Vec<PriceEntry>) -> HashMap<(String, String), PriceEntry> {
    entries
        .into_iter()
        .map(|e| ((e.provider.clone(), e.model.clone()), e))
        .collect()
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
        Ok(Self {
            builtin: index(d.entries),
            overrides: HashMap::new(),
            aliases: d.aliases,
            unknown: UnknownModelPolicy::default(),
        })
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
        self.overrides.values().chain(
            self.builtin
                .iter()
                .filter(|(k, _)| !self.overrides.contains_key(*k))
                .map(|(_, v)| v),
        )
    }

    fn exact(&self, provider: &str, model: &str) -> Option<(&PriceEntry, PriceSource)> {
        let key = (provider.to_owned(), model.to_owned());
        self.overrides
            .get(&key)
            .map(|e| (e, PriceSource::Override))
            .or_else(|| self.builtin.get(&key).map(|e| (e, PriceSource::Catalog)))
    }

    fn for_provider(&self, provider: &str, model: &str) -> Option<(&PriceEntry, PriceSource)> {
        self.exact(provider, model)
            .or_else(|| strip_version(model).and_then(|m| self.exact(provider, m)))
    }

    /// The entry for `provider`/`model` per the lookup rules, if any.
    pub fn entry(&self, provider: &str, model: &str) -> Option<(&PriceEntry, PriceSource)> {
        self.for_provider(provider, model).or_else(|| {
            self.aliases
                .get(provider)
                .and_then(|alias| self.for_provider(alias, model))
        })
    }

    /// The price of `provider`/`model`: its entry, or the fallback; `None`
    /// when the model is unknown and the policy refuses.
    pub fn price(&self, provider: &str, model: &str) -> Option<Price<'_>> {
        match self.entry(provider, model) {
            Some((e, source)) => Some(Price {
                entry: Some(e),
                rates: e.rates,
                source,
            }),
            None => match self.unknown {
                UnknownModelPolicy::Fallback(rates) => Some(Price {
                    entry: None,
                    rates,
                    source: PriceSource::Fallback,
                }),
                UnknownModelPolicy::Refuse => None,
            },
        }
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
        assert_eq!(
            c.entry("openai", "gpt-4o-2024-08-06").unwrap().0.model,
            "gpt-4o"
        );
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
}
