//! Quote cost and ledger throughput.
//!
//! ```text
//! cargo bench -p byok-billing --bench billing
//! ```
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)] // bench code

use std::hint::black_box;
use std::time::{Duration, Instant};

use byok_billing::{
    Catalog, Ledger, LedgerConfig, LedgerEntry, Money, PriceSource, QuoteOptions, TokenUsage,
    UsageSource, max_markup, now_ms, quote,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn quotes(c: &mut Criterion) {
    let catalog = Catalog::builtin().unwrap();
    let usage = TokenUsage {
        prompt: 12_000,
        cached: 10_000,
        cache_write: 1_000,
        completion: 800,
        reasoning: 200,
    };
    let mut g = c.benchmark_group("quote");
    g.bench_function("catalog hit (dated model id)", |b| {
        b.iter(|| {
            black_box(
                quote(
                    &catalog,
                    "anthropic",
                    black_box("claude-sonnet-4-5-20250929"),
                    &usage,
                    UsageSource::Reported,
                    QuoteOptions::default(),
                )
                .unwrap(),
            )
        });
    });
    g.bench_function("free model (lowest paid scan)", |b| {
        b.iter(|| {
            black_box(
                quote(
                    &catalog,
                    "openrouter",
                    black_box("meta-llama/llama-3.3-70b-instruct:free"),
                    &usage,
                    UsageSource::Reported,
                    QuoteOptions::default(),
                )
                .unwrap(),
            )
        });
    });
    g.bench_function("reservation bound", |b| {
        b.iter(|| {
            black_box(
                max_markup(
                    &catalog,
                    "openai",
                    black_box("gpt-4o-mini"),
                    2_000,
                    4_096,
                    QuoteOptions::default(),
                )
                .unwrap(),
            )
        });
    });
    g.finish();
}

/// Reserve + settle pairs submitted from 8 threads; the writer batches them.
fn ledger_throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("ledger");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    const PER_ITER: u64 = 4_000;
    g.throughput(Throughput::Elements(PER_ITER));
    g.bench_function(
        "settled entries (reserve + settle, batched, fsync per batch)",
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for it in 0..iters {
                    let dir = tempfile::tempdir().unwrap();
                    let ledger =
                        Ledger::open_sqlite(dir.path().join("l.db"), &LedgerConfig::default())
                            .unwrap();
                    ledger
                        .credit_blocking("a", "c", "1000.00".parse().unwrap())
                        .unwrap();
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for t in 0..8u64 {
                            let ledger = ledger.clone();
                            s.spawn(move || {
                                let mut pending = Vec::new();
                                for i in 0..PER_ITER / 8 {
                                    let id = format!("{it}-{t}-{i}");
                                    let _ = ledger.reserve_blocking(
                                        "a",
                                        &id,
                                        Money::from_nanos(1_000),
                                        now_ms() + 60_000,
                                    );
                                    pending.push(ledger.settle(LedgerEntry {
                                        request_id: id,
                                        account: "a".into(),
                                        created_at_ms: now_ms(),
                                        provider: "openai".into(),
                                        model: "gpt-4o-mini".into(),
                                        endpoint: "/api/v1/chat/completions".into(),
                                        prompt_tokens: 100,
                                        completion_tokens: 50,
                                        cached_tokens: 0,
                                        usage_source: UsageSource::Reported,
                                        provider_cost: Money::from_nanos(15_000),
                                        markup: Money::from_nanos(750),
                                        price_source: PriceSource::Catalog,
                                        attempts: Vec::new(),
                                    }));
                                }
                                for p in pending {
                                    let _ = p.wait_blocking();
                                }
                            });
                        }
                    });
                    total += start.elapsed();
                    ledger.shutdown();
                }
                total
            });
        },
    );
    g.finish();
}

criterion_group!(benches, quotes, ledger_throughput);
criterion_main!(benches);
