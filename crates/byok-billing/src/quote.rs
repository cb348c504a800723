//! Pure pricing: what a request cost at the provider's rate, and our markup.
//!
//! # Arithmetic and rounding
//!
//! Rates are nano-USD per million tokens, so the exact cost of a request is
//! `Σ tokens × rate / 10⁶` nano-USD. It is computed exactly in `i128` as
//! `Σ tokens × rate` ("micro-nanos"); only the two results are rounded, each
//! **up** to the next nano-USD:
//!
//! - `provider_cost = ⌈exact / 10⁶⌉`
//! - `markup = ⌈exact × bps / (10⁴ × 10⁶)⌉`, from the exact cost, not the
//!   rounded one.
//!
//! So the markup is never negative, never zero for a non-free request with a
//! positive rate and markup, monotonic in every token count, and at most one
//! nano-USD above the exact value.
//!
//! # Which tokens at which rate
//!
//! `prompt` counts every input token (OpenAI's convention); of those,
//! `cached` are priced at the cache-read rate and `cache_write` at the
//! cache-write rate (the input rate when the catalog has none), the rest at
//! the input rate. `completion` counts every output token; of those,
//! `reasoning` are priced at the reasoning rate (the output rate when none).
//!
//! # Free models
//!
//! When the model is free where the user uses it (a catalog entry marked
//! `free`, such as OpenRouter's `:free` ids, or a free tier of the user's
//! key, [`QuoteOptions::free_tier`]), the provider cost is zero and the
//! markup is computed on the lowest-cost paid entry of the same canonical
//! model in the catalog (`price_source: lowest_paid`). With no paid
//! alternative the markup is zero.
//!
//! # Reservations
//!
//! Before the upstream call the server reserves the most the markup can be
//! ([`reservation_markup`] for a [`ReservationBound`]): the prompt at the
//! highest input-side rate and every choice's output at the highest
//! output-side rate. With no output limit in the request, the bound per
//! choice is the model's maximum output ([`crate::Catalog::max_output_tokens`];
//! [`ReservationBound::for_request`]). When the balance does not cover it,
//! [`affordable_output_tokens`] says how many output tokens per choice it
//! does cover (for the `402` message).

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Price, PriceSource, Rates};
use crate::money::{Bps, Money};

/// Largest token count accepted in one field (10¹²): anything above is a bug
/// or an attack, not a request.
pub const MAX_TOKENS: u64 = 1_000_000_000_000;

const MICRO: i128 = 1_000_000;
const BPS_DENOMINATOR: i128 = 10_000;

/// Token counts of one request, in OpenAI's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Every input token, cached and cache-written included.
    pub prompt: u64,
    /// Input tokens read from a prompt cache.
    pub cached: u64,
    /// Input tokens written to a prompt cache.
    pub cache_write: u64,
    /// Every output token, reasoning included.
    pub completion: u64,
    /// Reasoning tokens.
    pub reasoning: u64,
}

/// Whether usage came from the provider or from our estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageSource {
    /// Reported by the provider.
    Reported,
    /// Estimated with a tokenizer (the provider reported nothing).
    Estimated,
}

impl UsageSource {
    /// `reported` or `estimated`.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageSource::Reported => "reported",
            UsageSource::Estimated => "estimated",
        }
    }

    /// The value a ledger stored as [`UsageSource::as_str`]; anything
    /// else reads as `reported`.
    pub(crate) fn from_stored(s: &str) -> Self {
        if s == "estimated" {
            UsageSource::Estimated
        } else {
            UsageSource::Reported
        }
    }
}

/// Options of a quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteOptions {
    /// The markup rate.
    pub markup: Bps,
    /// The user's key is on a free tier for this model.
    pub free_tier: bool,
}

impl Default for QuoteOptions {
    fn default() -> Self {
        Self {
            markup: Bps::DEFAULT_MARKUP,
            free_tier: false,
        }
    }
}

/// A priced request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Charge {
    /// What the provider bills the user (informational; we do not collect it).
    pub provider_cost: Money,
    /// Our markup: what we charge.
    pub markup: Money,
    /// Where the price came from.
    pub price_source: PriceSource,
    /// Where the usage came from.
    pub usage_source: UsageSource,
}

/// Why a quote is impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuoteError {
    /// Token counts that cannot be right.
    #[error("invalid usage: {0}")]
    InvalidUsage(&'static str),
    /// The model is unknown and the catalog refuses unknown models.
    #[error("no price for model `{model}` at `{provider}`")]
    UnknownModel {
        /// Provider.
        provider: String,
        /// Model.
        model: String,
    },
    /// The result does not fit in the money type.
    #[error("amount overflow")]
    Overflow,
}

impl TokenUsage {
    /// Checks the counts are plausible.
    ///
    /// # Errors
    /// [`QuoteError::InvalidUsage`].
    pub fn validate(&self) -> Result<(), QuoteError> {
        for v in [
            self.prompt,
            self.cached,
            self.cache_write,
            self.completion,
            self.reasoning,
        ] {
            if v > MAX_TOKENS {
                return Err(QuoteError::InvalidUsage("a token count exceeds 10^12"));
            }
        }
        if self.cached.saturating_add(self.cache_write) > self.prompt {
            return Err(QuoteError::InvalidUsage(
                "cached plus cache-write tokens exceed prompt tokens",
            ));
        }
        if self.reasoning > self.completion {
            return Err(QuoteError::InvalidUsage(
                "reasoning tokens exceed completion tokens",
            ));
        }
        Ok(())
    }
}

/// The exact cost in nano-USD × 10⁶.
///
/// # Errors
/// [`QuoteError::InvalidUsage`].
pub fn exact_cost(rates: &Rates, usage: &TokenUsage) -> Result<i128, QuoteError> {
    usage.validate()?;
    let n = |v: u64| i128::from(v);
    let r = |m: Money| i128::from(m.nanos());
    let plain_input = usage.prompt - usage.cached - usage.cache_write;
    let plain_output = usage.completion - usage.reasoning;
    Ok(n(plain_input) * r(rates.input)
        + n(usage.cached) * r(rates.cache_read.unwrap_or(rates.input))
        + n(usage.cache_write) * r(rates.cache_write.unwrap_or(rates.input))
        + n(plain_output) * r(rates.output)
        + n(usage.reasoning) * r(rates.reasoning.unwrap_or(rates.output)))
}

fn ceil_div(a: i128, b: i128) -> i128 {
    // a >= 0, b > 0
    (a + b - 1) / b
}

fn to_money(v: i128) -> Result<Money, QuoteError> {
    i64::try_from(v)
        .map(Money::from_nanos)
        .map_err(|_| QuoteError::Overflow)
}

/// The markup on an exact cost: `⌈exact × bps / 10¹⁰⌉` nano-USD.
///
/// # Errors
/// [`QuoteError::Overflow`].
pub fn markup_of(exact: i128, bps: Bps) -> Result<Money, QuoteError> {
    to_money(ceil_div(
        exact.max(0) * i128::from(bps.0),
        BPS_DENOMINATOR * MICRO,
    ))
}

/// Prices one request.
///
/// # Errors
/// [`QuoteError`] for implausible usage, refused unknown models, overflow.
pub fn quote(
    catalog: &Catalog,
    provider: &str,
    model: &str,
    usage: &TokenUsage,
    usage_source: UsageSource,
    options: QuoteOptions,
) -> Result<Charge, QuoteError> {
    usage.validate()?;
    let price = catalog
        .price(provider, model)
        .ok_or_else(|| QuoteError::UnknownModel {
            provider: provider.chars().take(64).collect(),
            model: model.chars().take(128).collect(),
        })?;
    let free = options.free_tier
        || price.entry.is_some_and(|e| e.free)
        || (price.rates.is_free() && price.entry.is_some());
    if free {
        let canonical = price.entry.map_or(model, |e| e.canonical.as_str());
        let mut lowest: Option<i128> = None;
        for alt in catalog.paid_alternatives(canonical) {
            let c = exact_cost(&alt.rates, usage)?;
            lowest = Some(lowest.map_or(c, |l| l.min(c)));
        }
        return Ok(Charge {
            provider_cost: Money::ZERO,
            markup: markup_of(lowest.unwrap_or(0), options.markup)?,
            price_source: PriceSource::LowestPaid,
            usage_source,
        });
    }
    let exact = exact_cost(&price.rates, usage)?;
    Ok(Charge {
        provider_cost: to_money(ceil_div(exact, MICRO))?,
        markup: markup_of(exact, options.markup)?,
        price_source: price.source,
        usage_source,
    })
}

/// The most the markup of a request could be, to reserve before calling
/// upstream: `prompt_estimate` input tokens at the highest input-side rate
/// and `max_output` tokens at the highest output-side rate (free-model rule
/// included). For a request with several choices, or without an output
/// limit, use [`reservation_markup`].
///
/// # Errors
/// As [`quote`].
pub fn max_markup(
    catalog: &Catalog,
    provider: &str,
    model: &str,
    prompt_estimate: u64,
    max_output: u64,
    options: QuoteOptions,
) -> Result<Money, QuoteError> {
    let usage = TokenUsage {
        prompt: prompt_estimate,
        completion: max_output,
        ..TokenUsage::default()
    };
    usage.validate()?;
    let price = price_of(catalog, provider, model)?;
    markup_of(
        worst_exact(catalog, &price, model, &usage, options)?,
        options.markup,
    )
}

/// What a reservation covers: the prompt (counted once) and up to
/// `output_tokens_per_choice` output tokens for each of `choices` choices
/// (`n`; zero counts as one). A gateway that fans a request out to several
/// upstream calls, each billed for the prompt, passes the prompt tokens
/// times the number of calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReservationBound {
    /// Prompt tokens (an upper estimate: tools, `response_format` and
    /// images included).
    pub prompt_tokens: u64,
    /// The output limit of one choice (the request's `max_tokens` or
    /// `max_completion_tokens`, thinking budget included).
    pub output_tokens_per_choice: u64,
    /// How many choices (`n`).
    pub choices: u64,
}

impl ReservationBound {
    /// The bound of a request: its own output limit when it sets one,
    /// else the model's maximum output ([`Catalog::max_output_tokens`]).
    pub fn for_request(
        catalog: &Catalog,
        provider: &str,
        model: &str,
        prompt_tokens: u64,
        requested_output_tokens: Option<u64>,
        choices: u64,
    ) -> Self {
        Self {
            prompt_tokens,
            output_tokens_per_choice: requested_output_tokens
                .unwrap_or_else(|| catalog.max_output_tokens(provider, model)),
            choices,
        }
    }

    /// Every choice's output: `output_tokens_per_choice × choices`
    /// (at least one choice), saturating at [`MAX_TOKENS`] (no usage is
    /// larger, so the bound still covers every valid usage).
    pub fn output_tokens(&self) -> u64 {
        self.output_tokens_per_choice
            .saturating_mul(self.choices.max(1))
            .min(MAX_TOKENS)
    }
}

/// The markup to reserve for `bound`: its prompt at the highest input-side
/// rate and all its choices' output ([`ReservationBound::output_tokens`])
/// at the highest output-side rate (free-model rule included). Never below
/// the [`quote`] of a usage within the bound.
///
/// # Errors
/// As [`quote`] (a prompt above [`MAX_TOKENS`] is
/// [`QuoteError::InvalidUsage`]).
pub fn reservation_markup(
    catalog: &Catalog,
    provider: &str,
    model: &str,
    bound: &ReservationBound,
    options: QuoteOptions,
) -> Result<Money, QuoteError> {
    max_markup(
        catalog,
        provider,
        model,
        bound.prompt_tokens,
        bound.output_tokens(),
        options,
    )
}

/// How many output tokens per choice `available` affords for a request of
/// `prompt_tokens` and `choices` choices: the largest `N` whose
/// [`reservation_markup`] is at most `available`, so a client can retry
/// with `max_tokens = N` (the `402` message: "you requested up to X tokens,
/// but can only afford N"). Zero when not even the prompt is affordable;
/// `MAX_TOKENS / choices` when the output costs nothing (free output, zero
/// markup). Exact: the bound of `N + 1` tokens exceeds `available`.
///
/// # Errors
/// As [`quote`].
pub fn affordable_output_tokens(
    catalog: &Catalog,
    provider: &str,
    model: &str,
    prompt_tokens: u64,
    choices: u64,
    available: Money,
    options: QuoteOptions,
) -> Result<u64, QuoteError> {
    let price = price_of(catalog, provider, model)?;
    let choices = choices.max(1);
    let fits = |per_choice: u64| -> Result<bool, QuoteError> {
        let usage = TokenUsage {
            prompt: prompt_tokens,
            completion: per_choice.saturating_mul(choices),
            ..TokenUsage::default()
        };
        let markup = markup_of(
            worst_exact(catalog, &price, model, &usage, options)?,
            options.markup,
        )?;
        Ok(markup <= available)
    };
    // The bound is monotonic in the output tokens: bisect.
    let (mut lo, mut hi) = (0, MAX_TOKENS / choices);
    if !fits(lo)? {
        return Ok(0);
    }
    if fits(hi)? {
        return Ok(hi);
    }
    // fits(lo) and !fits(hi).
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// The catalog's price, or [`QuoteError::UnknownModel`].
fn price_of<'c>(
    catalog: &'c Catalog,
    provider: &str,
    model: &str,
) -> Result<Price<'c>, QuoteError> {
    catalog
        .price(provider, model)
        .ok_or_else(|| QuoteError::UnknownModel {
            provider: provider.chars().take(64).collect(),
            model: model.chars().take(128).collect(),
        })
}

/// The exact cost of `usage` (prompt and completion only) at the highest
/// input-side and output-side rates of `price` (free-model rule included).
fn worst_exact(
    catalog: &Catalog,
    price: &Price<'_>,
    model: &str,
    usage: &TokenUsage,
    options: QuoteOptions,
) -> Result<i128, QuoteError> {
    let worst = |r: &Rates| Rates {
        input: r
            .input
            .max(r.cache_write.unwrap_or(r.input))
            .max(r.cache_read.unwrap_or(r.input)),
        output: r.output.max(r.reasoning.unwrap_or(r.output)),
        cache_read: None,
        cache_write: None,
        reasoning: None,
    };
    let free = options.free_tier
        || price.entry.is_some_and(|e| e.free)
        || (price.rates.is_free() && price.entry.is_some());
    if free {
        let canonical = price.entry.map_or(model, |e| e.canonical.as_str());
        let mut highest = 0i128;
        for alt in catalog.paid_alternatives(canonical) {
            highest = highest.max(exact_cost(&worst(&alt.rates), usage)?);
        }
        Ok(highest)
    } else {
        exact_cost(&worst(&price.rates), usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rates(input: &str, output: &str) -> Rates {
        Rates {
            input: input.parse().unwrap(),
            output: output.parse().unwrap(),
            cache_read: None,
            cache_write: None,
            reasoning: None,
        }
    }

    fn catalog() -> Catalog {
        Catalog::builtin().unwrap()
    }

    #[test]
    fn rounding_is_pinned() {
        // gpt-4o-mini input: USD 0.15 / 1M = 150 nano-USD per token.
        let c = quote(
            &catalog(),
            "openai",
            "gpt-4o-mini",
            &TokenUsage {
                prompt: 1,
                ..TokenUsage::default()
            },
            UsageSource::Reported,
            QuoteOptions::default(),
        )
        .unwrap();
        assert_eq!(c.provider_cost, Money::from_nanos(150));
        assert_eq!(
            c.markup,
            Money::from_nanos(8),
            "5% of 150 = 7.5, rounded up to 8"
        );
        // 1 token at USD 0.000001 / 1M = 0.001 nano: cost and markup round up to 1.
        assert_eq!(markup_of(1_000, Bps(500)).unwrap(), Money::from_nanos(1));
        assert_eq!(markup_of(0, Bps(500)).unwrap(), Money::ZERO);
        // Exactly representable: no rounding.
        assert_eq!(
            markup_of(200 * MICRO, Bps(500)).unwrap(),
            Money::from_nanos(10)
        );
    }

    #[test]
    fn the_five_percent_rule_on_a_realistic_request() {
        // claude-sonnet-4-5: in 3.00, out 15.00, cache read 0.30, cache write 3.75.
        let u = TokenUsage {
            prompt: 12_000,
            cached: 10_000,
            cache_write: 1_000,
            completion: 800,
            reasoning: 0,
        };
        let c = quote(
            &catalog(),
            "anthropic",
            "claude-sonnet-4-5-20250929",
            &u,
            UsageSource::Reported,
            QuoteOptions::default(),
        )
        .unwrap();
        // 1000×3 + 10000×0.30 + 1000×3.75 + 800×15 = 3000+3000+3750+12000 = 21750 USD/1M → 0.02175 USD
        assert_eq!(c.provider_cost.to_string(), "0.02175");
        assert_eq!(c.markup.to_string(), "0.0010875");
        assert_eq!(c.price_source, PriceSource::Catalog);
    }

    #[test]
    fn reasoning_at_output_rate_unless_priced() {
        let mut r = rates("1", "10");
        let u = TokenUsage {
            completion: 100,
            reasoning: 60,
            ..TokenUsage::default()
        };
        assert_eq!(exact_cost(&r, &u).unwrap(), 100 * 10 * 1_000_000_000);
        r.reasoning = Some("20".parse().unwrap());
        assert_eq!(
            exact_cost(&r, &u).unwrap(),
            (40 * 10 + 60 * 20) * 1_000_000_000
        );
    }

    #[test]
    fn embedding_models_of_the_openai_dialect_providers_have_catalog_rates() {
        // A million input tokens at each sourced rate (docs/providers.md,
        // "Embeddings"): the catalog's price, not the unknown-model
        // fallback, and nothing for output.
        let u = TokenUsage {
            prompt: 1_000_000,
            ..TokenUsage::default()
        };
        for (provider, model, usd) in [
            ("together", "BAAI/bge-base-en-v1.5", "0.008"),
            ("together", "WhereIsAI/UAE-Large-V1", "0.016"),
            ("fireworks", "nomic-ai/nomic-embed-text-v1.5", "0.008"),
            (
                "fireworks",
                "accounts/fireworks/models/qwen3-embedding-8b",
                "0.10",
            ),
            ("deepinfra", "BAAI/bge-m3", "0.01"),
            ("novita", "qwen/qwen3-embedding-8b", "0.07"),
            ("openrouter", "baai/bge-m3", "0.01"),
            ("vercel", "openai/text-embedding-3-small", "0.02"),
        ] {
            let c = quote(
                &catalog(),
                provider,
                model,
                &u,
                UsageSource::Reported,
                QuoteOptions::default(),
            )
            .unwrap();
            assert_eq!(c.price_source, PriceSource::Catalog, "{provider} {model}");
            assert_eq!(c.provider_cost.to_string(), usd, "{provider} {model}");
        }
        // NVIDIA's hosted embeddings are a free trial with no paid
        // alternative in the catalog: no cost and no markup.
        let c = quote(
            &catalog(),
            "nvidia",
            "nvidia/nv-embedqa-e5-v5",
            &u,
            UsageSource::Reported,
            QuoteOptions::default(),
        )
        .unwrap();
        assert_eq!((c.provider_cost, c.markup), (Money::ZERO, Money::ZERO));
    }

    #[test]
    fn free_model_rule_uses_the_lowest_paid_rate() {
        let u = TokenUsage {
            prompt: 1_000_000,
            completion: 1_000_000,
            ..TokenUsage::default()
        };
        let free = quote(
            &catalog(),
            "openrouter",
            "meta-llama/llama-3.3-70b-instruct:free",
            &u,
            UsageSource::Reported,
            QuoteOptions::default(),
        )
        .unwrap();
        assert_eq!(free.provider_cost, Money::ZERO);
        assert_eq!(free.price_source, PriceSource::LowestPaid);
        // Lowest paid Llama 3.3 70B for 1M in + 1M out: deepinfra 0.13 + 0.39 = 0.52 → 5% = 0.026.
        assert_eq!(free.markup.to_string(), "0.026");
        // A free tier of the user's key on a paid model: same rule.
        let tier = quote(
            &catalog(),
            "groq",
            "llama-3.3-70b-versatile",
            &u,
            UsageSource::Reported,
            QuoteOptions {
                free_tier: true,
                ..QuoteOptions::default()
            },
        )
        .unwrap();
        assert_eq!(
            (tier.provider_cost, tier.markup),
            (Money::ZERO, free.markup)
        );
    }

    #[test]
    fn unknown_models() {
        let u = TokenUsage {
            prompt: 1_000_000,
            ..TokenUsage::default()
        };
        let c = quote(
            &catalog(),
            "groq",
            "mystery",
            &u,
            UsageSource::Estimated,
            QuoteOptions::default(),
        )
        .unwrap();
        assert_eq!(
            (c.price_source, c.provider_cost.to_string()),
            (PriceSource::Fallback, "10.00".to_owned())
        );
        let strict =
            catalog().with_unknown_model_policy(crate::catalog::UnknownModelPolicy::Refuse);
        assert!(matches!(
            quote(
                &strict,
                "groq",
                "mystery",
                &u,
                UsageSource::Estimated,
                QuoteOptions::default()
            ),
            Err(QuoteError::UnknownModel { .. })
        ));
    }

    #[test]
    fn absurd_usage_is_refused() {
        let c = catalog();
        for u in [
            TokenUsage {
                prompt: MAX_TOKENS + 1,
                ..TokenUsage::default()
            },
            TokenUsage {
                prompt: 5,
                cached: 6,
                ..TokenUsage::default()
            },
            TokenUsage {
                prompt: 5,
                cached: 3,
                cache_write: 3,
                ..TokenUsage::default()
            },
            TokenUsage {
                completion: 1,
                reasoning: 2,
                ..TokenUsage::default()
            },
            TokenUsage {
                prompt: u64::MAX,
                ..TokenUsage::default()
            },
        ] {
            assert!(
                matches!(
                    quote(
                        &c,
                        "openai",
                        "gpt-4o",
                        &u,
                        UsageSource::Reported,
                        QuoteOptions::default()
                    ),
                    Err(QuoteError::InvalidUsage(_))
                ),
                "{u:?}"
            );
        }
        // The biggest accepted usage at the priciest rate still fits.
        let big = TokenUsage {
            prompt: MAX_TOKENS,
            completion: MAX_TOKENS,
            ..TokenUsage::default()
        };
        assert!(
            quote(
                &c,
                "anthropic",
                "claude-opus-4-1",
                &big,
                UsageSource::Reported,
                QuoteOptions::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn reservation_bounds_the_charge() {
        let c = catalog();
        let bound = max_markup(
            &c,
            "anthropic",
            "claude-sonnet-4-5",
            2_000,
            1_000,
            QuoteOptions::default(),
        )
        .unwrap();
        let u = TokenUsage {
            prompt: 2_000,
            cached: 1_500,
            cache_write: 500,
            completion: 1_000,
            reasoning: 400,
        };
        let actual = quote(
            &c,
            "anthropic",
            "claude-sonnet-4-5",
            &u,
            UsageSource::Reported,
            QuoteOptions::default(),
        )
        .unwrap();
        assert!(actual.markup <= bound);
        let free_bound = max_markup(
            &c,
            "openrouter",
            "meta-llama/llama-3.3-70b-instruct:free",
            1000,
            1000,
            QuoteOptions::default(),
        )
        .unwrap();
        assert!(free_bound > Money::ZERO);
    }

    #[test]
    fn a_reservation_counts_every_choice_and_the_models_maximum_output() {
        let c = catalog();
        let options = QuoteOptions::default();
        let one = |prompt, out| max_markup(&c, "openai", "gpt-4o", prompt, out, options).unwrap();
        let bound = |prompt, out: Option<u64>, n| {
            let b = ReservationBound::for_request(&c, "openai", "gpt-4o", prompt, out, n);
            reservation_markup(&c, "openai", "gpt-4o", &b, options).unwrap()
        };
        // n = 4 choices of up to 1,000 tokens: 4,000 output tokens.
        assert_eq!(bound(500, Some(1_000), 4), one(500, 4_000));
        // n = 0 counts as one choice.
        assert_eq!(bound(500, Some(1_000), 0), one(500, 1_000));
        // No limit in the request: the model's maximum output (16,384), not 8,192.
        assert_eq!(bound(500, None, 1), one(500, 16_384));
        assert_eq!(bound(500, None, 3), one(500, 3 * 16_384));
        // Saturating: absurd counts give the largest valid bound, not an error.
        let huge = ReservationBound {
            prompt_tokens: 10,
            output_tokens_per_choice: u64::MAX,
            choices: u64::MAX,
        };
        assert_eq!(huge.output_tokens(), MAX_TOKENS);
        assert_eq!(
            reservation_markup(&c, "openai", "gpt-4o", &huge, options).unwrap(),
            one(10, MAX_TOKENS)
        );
        // An unknown model is bounded by the catalog default.
        let b = ReservationBound::for_request(&c, "openai", "gpt-unknown", 0, None, 1);
        assert_eq!(
            b.output_tokens_per_choice,
            crate::catalog::DEFAULT_MAX_OUTPUT_TOKENS
        );
    }

    #[test]
    fn affordable_output_tokens_for_the_402_message() {
        let c = catalog();
        let options = QuoteOptions::default();
        // gpt-4o output: USD 10 / 1M, markup 5%: 500,000 nano-USD per 1,000
        // tokens; the prompt (1,000 at 2.50) costs 125,000 nano-USD of markup.
        let afford = |available: i64, n| {
            affordable_output_tokens(
                &c,
                "openai",
                "gpt-4o",
                1_000,
                n,
                Money::from_nanos(available),
                options,
            )
            .unwrap()
        };
        assert_eq!(afford(125_000 + 500_000, 1), 1_000);
        assert_eq!(afford(125_000 + 500_000, 2), 500);
        assert_eq!(
            afford(125_000 + 500_000 + 499, 1),
            1_000,
            "one more token costs 500"
        );
        assert_eq!(afford(125_000 + 500_000 + 500, 1), 1_001);
        assert_eq!(afford(124_999, 1), 0, "not even the prompt");
        assert_eq!(afford(-5, 1), 0);
        // Zero markup: everything is affordable.
        let free = QuoteOptions {
            markup: Bps(0),
            free_tier: false,
        };
        assert_eq!(
            affordable_output_tokens(&c, "openai", "gpt-4o", 1_000, 2, Money::ZERO, free).unwrap(),
            MAX_TOKENS / 2
        );
        let strict = c.with_unknown_model_policy(crate::catalog::UnknownModelPolicy::Refuse);
        assert!(matches!(
            affordable_output_tokens(&strict, "openai", "gpt-unknown", 1, 1, Money::ZERO, options),
            Err(QuoteError::UnknownModel { .. })
        ));
    }

    fn usage_strategy() -> impl Strategy<Value = TokenUsage> {
        (
            0u64..10_000_000,
            0u64..10_000_000,
            0u64..10_000_000,
            0u64..10_000_000,
            0u64..10_000_000,
        )
            .prop_map(|(a, b, c, d, e)| {
                let prompt = a + b + c;
                let completion = d + e;
                TokenUsage {
                    prompt,
                    cached: b,
                    cache_write: c,
                    completion,
                    reasoning: e,
                }
            })
    }

    fn provider_model() -> impl Strategy<Value = (String, String)> {
        let entries: Vec<(String, String)> = Catalog::builtin()
            .unwrap()
            .entries()
            .map(|e| (e.provider.clone(), e.model.clone()))
            .collect();
        proptest::sample::select(entries)
    }

    proptest! {
        #[test]
        fn markup_is_never_negative_and_bounded_by_cost((p, m) in provider_model(), u in usage_strategy(), bps in 0u32..5_000) {
            let c = quote(&catalog(), &p, &m, &u, UsageSource::Reported, QuoteOptions { markup: Bps(bps), free_tier: false }).unwrap();
            prop_assert!(!c.markup.is_negative() && !c.provider_cost.is_negative());
            if c.price_source != PriceSource::LowestPaid {
                // markup ≤ cost × bps / 10⁴ + 1 nano
                let cap = i128::from(c.provider_cost.nanos()) * i128::from(bps) / 10_000 + 1;
                prop_assert!(i128::from(c.markup.nanos()) <= cap);
            }
        }

        #[test]
        fn markup_is_monotonic_in_every_token_count((p, m) in provider_model(), u in usage_strategy(), field in 0usize..5, extra in 1u64..1_000_000) {
            let mut more = u;
            match field {
                0 => more.prompt += extra,
                1 => { more.prompt += extra; more.cached += extra; }
                2 => { more.prompt += extra; more.cache_write += extra; }
                3 => more.completion += extra,
                _ => { more.completion += extra; more.reasoning += extra; }
            }
            let q = |u: &TokenUsage| quote(&catalog(), &p, &m, u, UsageSource::Reported, QuoteOptions::default()).unwrap();
            prop_assert!(q(&more).markup >= q(&u).markup);
            prop_assert!(q(&more).provider_cost >= q(&u).provider_cost);
        }

        #[test]
        fn reservation_is_never_below_the_charge((p, m) in provider_model(), u in usage_strategy()) {
            let c = quote(&catalog(), &p, &m, &u, UsageSource::Reported, QuoteOptions::default()).unwrap();
            let bound = max_markup(&catalog(), &p, &m, u.prompt, u.completion, QuoteOptions::default()).unwrap();
            prop_assert!(c.markup <= bound, "{:?} > {:?}", c.markup, bound);
        }

        /// Issue #14, finding 3: with `n` choices, or no output limit (the
        /// model's maximum from the catalog), the reservation still bounds
        /// every usage within it.
        #[test]
        fn reservation_is_never_below_the_charge_of_any_choice_count(
            (p, m) in provider_model(),
            u in usage_strategy(),
            choices in 1u64..16,
            limit_set in any::<bool>(),
            free_tier in any::<bool>(),
        ) {
            let c = catalog();
            let options = QuoteOptions { free_tier, ..QuoteOptions::default() };
            let requested = limit_set.then(|| u.completion.div_ceil(choices));
            let bound = ReservationBound::for_request(&c, &p, &m, u.prompt, requested, choices);
            // Every choice used up to its limit (spread the usage's output
            // over the choices, or the model's maximum when no limit).
            let mut used = u;
            if !limit_set {
                let most = bound.output_tokens();
                used.completion = used.completion.min(most);
                used.reasoning = used.reasoning.min(used.completion);
            }
            prop_assert!(used.completion <= bound.output_tokens());
            let charge = quote(&c, &p, &m, &used, UsageSource::Reported, options).unwrap();
            let reserved = reservation_markup(&c, &p, &m, &bound, options).unwrap();
            prop_assert!(charge.markup <= reserved, "{:?} > {:?}", charge.markup, reserved);
            // The bound at the model's maximum covers a usage of exactly that.
            let full = TokenUsage { completion: bound.output_tokens(), reasoning: bound.output_tokens(), ..used };
            let charge = quote(&c, &p, &m, &full, UsageSource::Reported, options).unwrap();
            prop_assert!(charge.markup <= reserved);
        }

        /// The affordable output fits the available money, one more token
        /// per choice does not.
        #[test]
        fn affordable_output_tokens_are_exact(
            (p, m) in provider_model(),
            prompt in 0u64..2_000_000,
            choices in 1u64..8,
            available in 0i64..20_000_000_000,
            bps in 0u32..3_000,
        ) {
            let c = catalog();
            let options = QuoteOptions { markup: Bps(bps), free_tier: false };
            let available = Money::from_nanos(available);
            let n = affordable_output_tokens(&c, &p, &m, prompt, choices, available, options).unwrap();
            let reserve = |per_choice: u64| {
                let bound = ReservationBound { prompt_tokens: prompt, output_tokens_per_choice: per_choice, choices };
                reservation_markup(&c, &p, &m, &bound, options).unwrap()
            };
            if reserve(0) > available {
                prop_assert_eq!(n, 0);
            } else {
                prop_assert!(reserve(n) <= available);
                if n < MAX_TOKENS / choices {
                    prop_assert!(reserve(n + 1) > available);
                }
            }
        }
    }
}
