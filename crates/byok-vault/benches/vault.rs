//! Criterion benchmarks of the vault: put, get (cached and cold), and
//! rotate + rewrap of 10 000 secrets.
//!
//! ```text
//! cargo bench -p byok-vault --bench vault
//! ```
//!
//! `put` includes an `fsync` (`synchronous=FULL`), so it measures the disk as
//! much as the code. `get/cached` is the request path: an LRU lookup plus
//! XChaCha20-Poly1305 authentication and decryption, no SQLite.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, missing_docs)] // bench code

use std::hint::black_box;
use std::time::Duration;

use byok_vault::secrecy::SecretString;
use byok_vault::{MasterKey, PutOptions, Vault, VaultConfig};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn key(i: usize) -> SecretString {
    SecretString::from(format!(
        "sk-proj-bench-{i:08}-0123456789abcdefghijklmnopqrstuvwxyz"
    ))
}

fn open(dir: &std::path::Path, cache: usize) -> Vault {
    Vault::open_sqlite(
        dir.join("vault.db"),
        MasterKey::from_bytes([7; 32]),
        VaultConfig::default().cache_capacity(cache),
    )
    .expect("open vault")
}

fn bench_put(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = open(dir.path(), 10_000);
    let mut i = 0usize;
    c.bench_function("put (fsync per write)", |b| {
        b.iter(|| {
            i += 1;
            vault
                .put(
                    "bench-user",
                    &format!("provider-{}", i % 1000),
                    &key(i),
                    PutOptions::new(),
                )
                .expect("put");
        });
    });
}

fn bench_get(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let warm = open(dir.path(), 10_000);
    for i in 0..1000 {
        warm.put(
            "bench-user",
            &format!("provider-{i}"),
            &key(i),
            PutOptions::new(),
        )
        .expect("put");
    }
    let names: Vec<String> = (0..1000).map(|i| format!("provider-{i}")).collect();
    let mut i = 0usize;
    c.bench_function("get/cached", |b| {
        b.iter(|| {
            i = (i + 1) % names.len();
            black_box(warm.get("bench-user", &names[i]).expect("get"));
        });
    });
    let cold = open(dir.path(), 0);
    c.bench_function("get/cold (SQLite read)", |b| {
        b.iter(|| {
            i = (i + 1) % names.len();
            black_box(cold.get("bench-user", &names[i]).expect("get"));
        });
    });
    c.bench_function("list/20 secrets (no decryption)", |b| {
        let v = open(dir.path(), 0);
        let d = tempfile::tempdir().expect("tempdir");
        let small = open(d.path(), 0);
        for i in 0..20 {
            small
                .put("u", &format!("p{i}"), &key(i), PutOptions::new())
                .expect("put");
        }
        drop(v);
        b.iter(|| black_box(small.list("u").expect("list")));
    });
}

fn bench_rotate(c: &mut Criterion) {
    // Build 10k secrets once, then give every iteration a fresh copy of the file.
    let template = tempfile::tempdir().expect("tempdir");
    {
        let vault = open(template.path(), 0);
        for i in 0..10_000 {
            vault
                .put(
                    &format!("user-{}", i / 10),
                    &format!("p{}", i % 10),
                    &key(i),
                    PutOptions::new(),
                )
                .expect("put");
        }
    } // last connection closed: WAL checkpointed into vault.db
    let mut group = c.benchmark_group("rotate");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("rotate + rewrap + retire, 10k secrets", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                std::fs::copy(
                    template.path().join("vault.db"),
                    dir.path().join("vault.db"),
                )
                .expect("copy");
                let vault = open(dir.path(), 0);
                (dir, vault)
            },
            |(dir, vault)| {
                let old = vault.keys().expect("keys")[0].key_id;
                vault.rotate().expect("rotate");
                let report = vault.rewrap(1000).expect("rewrap");
                assert_eq!(report.rewrapped, 10_000);
                vault.retire(old).expect("retire");
                (dir, vault)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, bench_get, bench_put, bench_rotate);
criterion_main!(benches);
