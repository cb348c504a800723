//! Dated snapshots are billed at their own price, or their family's highest
//! (issue #14, finding 13).
#![allow(clippy::unwrap_used, missing_docs)]

use byok_billing::{Catalog, Money, PriceSource, QuoteOptions, TokenUsage, UsageSource, quote};

/// What one million input and one million output tokens cost.
fn cost_of_a_million_each_way(
    catalog: &Catalog,
    provider: &str,
    model: &str,
) -> (Money, PriceSource) {
    let usage = TokenUsage {
        prompt: 1_000_000,
        completion: 1_000_000,
        ..TokenUsage::default()
    };
    let charge = quote(
        catalog,
        provider,
        model,
        &usage,
        UsageSource::Reported,
        QuoteOptions::default(),
    )
    .unwrap();
    (charge.provider_cost, charge.price_source)
}

fn usd(s: &str) -> Money {
    s.parse().unwrap()
}

#[test]
fn snapshots_are_billed_at_their_own_or_their_familys_highest_price() {
    let c = Catalog::builtin().unwrap();
    let at = |s: &str| (usd(s), PriceSource::Catalog);
    // Undated base: 2.50 + 10.00.
    assert_eq!(
        cost_of_a_million_each_way(&c, "openai", "gpt-4o"),
        at("12.50")
    );
    // Its own entry: 5.00 + 15.00 (was billed as gpt-4o, 12.50).
    assert_eq!(
        cost_of_a_million_each_way(&c, "openai", "gpt-4o-2024-05-13"),
        at("20.00")
    );
    assert_eq!(
        cost_of_a_million_each_way(&c, "azure", "gpt-4o-2024-05-13"),
        at("20.00")
    );
    // Snapshots priced like the base keep that price.
    assert_eq!(
        cost_of_a_million_each_way(&c, "openai", "gpt-4o-2024-08-06"),
        at("12.50")
    );
    // An unlisted snapshot: the family's highest, never less.
    assert_eq!(
        cost_of_a_million_each_way(&c, "openai", "gpt-4o-2026-01-01"),
        at("20.00")
    );
}
