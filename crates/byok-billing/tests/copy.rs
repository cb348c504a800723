//! `copy_ledger`: a SQLite ledger copied into an empty store of each
//! backend (SQLite always; PostgreSQL with the `postgres` feature and
//! `BYOK_TEST_DATABASE_URL`, each in a schema of its own), every row as
//! stored, checked, all or nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod backends;

use backends::{Db, entry};
use byok_billing::{
    Attempt, Ledger, LedgerConfig, LedgerCopyError, LedgerCounts, Money, PriceSource, Reservations,
    UsageSource, copy_ledger, now_ms,
};

/// Accounts whose byte order differs from a language's (case, accents).
const ACCOUNTS: [&str; 4] = ["Zed", "alice", "Émile", "bob"];

/// More than a page of entries (the copy reads 1,000 at a time).
const CHARGES: i64 = 1_200;

fn ledger(db: &dyn Db, reservations: Reservations) -> Ledger {
    let mut config = LedgerConfig::default();
    config.reservations = reservations;
    Ledger::new(db.store(), &config).unwrap()
}

/// A source of every kind of row: credits, charges with attempts and
/// estimates, an account below zero (charged without a credit), and more
/// than a page of charges. Returns (credited, charged) in nano-USD.
fn fill(db: &dyn Db) -> (i128, i128) {
    let l = ledger(db, Reservations::InMemory);
    for (i, account) in ACCOUNTS.iter().enumerate() {
        let usd = format!("{}.50", i + 1);
        l.credit_blocking(account, &format!("top-up-{i}"), usd.parse().unwrap())
            .unwrap();
    }
    let mut fallback = entry("alice", "fallback", 700);
    fallback.usage_source = UsageSource::Estimated;
    fallback.price_source = PriceSource::Override;
    fallback.attempts = vec![
        Attempt {
            provider: "openai".into(),
            label: "default".into(),
            status: 429,
        },
        Attempt {
            provider: "groq".into(),
            label: "work".into(),
            status: 200,
        },
    ];
    l.settle(fallback).wait_blocking().unwrap();
    // Charged with no credit (a settlement after its reservation was
    // swept): below zero.
    l.settle(entry("overdrawn", "late", 300))
        .wait_blocking()
        .unwrap();
    l.shutdown();
    db.store()
        .transaction(true, &mut |tx| {
            for i in 0..CHARGES {
                let account = ACCOUNTS[usize::try_from(i).unwrap() % ACCOUNTS.len()];
                tx.charge(&entry(account, &format!("bulk-{i}"), i + 1))?
                    .unwrap();
            }
            Ok(())
        })
        .unwrap();
    let credited = (1..=4).map(|i| i * 1_000_000_000 + 500_000_000).sum();
    (
        credited,
        700 + 300 + i128::from(CHARGES * (CHARGES + 1) / 2),
    )
}

/// The target's account names sort by a language (as a database created
/// with `en_US.UTF-8` does), where "Zed" comes after "alice": the copy
/// must still page and compare by bytes. (The test server's default,
/// `C.UTF-8`, orders as bytes.)
fn language_collation(db: &dyn Db) {
    db.store();
    db.exec(r#"ALTER TABLE ledger_accounts ALTER COLUMN account TYPE text COLLATE "en-US-x-icu""#);
    assert_eq!(
        db.scalar(r#"SELECT ('Zed' COLLATE "en-US-x-icu" < 'alice')::int::bigint"#),
        0
    );
}

fn copies_every_account_and_entry(from: &dyn Db, to: &dyn Db, postgres: bool) {
    let (credited, charged) = fill(from);
    if postgres {
        language_collation(to);
    }
    let (source, target) = (from.store(), to.store());

    let report = copy_ledger(&*source, &*target).unwrap();
    assert_eq!(report.accounts, 5);
    assert_eq!(report.entries, 4 + 2 + CHARGES as u64);
    assert_eq!(
        (report.credited_nanos, report.charged_nanos),
        (credited, charged)
    );

    // Every row as stored, byte for byte, in the same order on both.
    let counts = source.counts().unwrap();
    assert_eq!(
        counts,
        LedgerCounts {
            accounts: 5,
            entries: report.entries,
            reservations: 0
        }
    );
    assert_eq!(target.counts().unwrap(), counts);
    let accounts = source.accounts().unwrap();
    assert_eq!(
        accounts
            .iter()
            .map(|a| a.account.as_str())
            .collect::<Vec<_>>(),
        ["Zed", "alice", "bob", "overdrawn", "Émile"],
        "byte order"
    );
    assert_eq!(target.accounts().unwrap(), accounts);
    let entries = source.entries(i64::MIN, 10_000).unwrap();
    assert_eq!(entries.len() as u64, report.entries);
    assert_eq!(target.entries(i64::MIN, 10_000).unwrap(), entries);
    assert!(entries.windows(2).all(|w| w[0].seq < w[1].seq));

    // A ledger on the target reports what one on the source does.
    let (copy, original) = (
        ledger(to, Reservations::InMemory),
        ledger(from, Reservations::InMemory),
    );
    for a in &accounts {
        let balance = copy.balance(&a.account).unwrap();
        assert_eq!(balance, original.balance(&a.account).unwrap());
        assert_eq!(balance.balance, a.balance);
        let usage = copy.usage(&a.account, 10_000, None).unwrap();
        assert_eq!(usage, original.usage(&a.account, 10_000, None).unwrap());
        let before = usage.get(5).map(|e| e.seq);
        assert_eq!(
            copy.usage(&a.account, 7, before).unwrap(),
            original.usage(&a.account, 7, before).unwrap(),
            "the same pages"
        );
    }
    assert_eq!(copy.balance("overdrawn").unwrap().balance.nanos(), -300);
    let usage = copy.usage("alice", 10_000, None).unwrap();
    let fallback = usage
        .iter()
        .find(|e| e.entry.request_id == "fallback")
        .unwrap();
    assert_eq!(fallback.entry.attempts.len(), 2);
    assert_eq!(fallback.entry.usage_source, UsageSource::Estimated);

    // It goes on from there: the next entry follows the copied ones.
    let last = entries.last().unwrap().seq;
    copy.settle(entry("bob", "after-the-copy", 5))
        .wait_blocking()
        .unwrap();
    let newest = &copy.usage("bob", 1, None).unwrap()[0];
    assert_eq!(newest.entry.request_id, "after-the-copy");
    assert!(newest.seq > last);
    copy.shutdown();
    original.shutdown();
}

fn a_non_empty_target_is_refused_and_left_unchanged(from: &dyn Db, to: &dyn Db) {
    fill(from);
    let l = ledger(to, Reservations::InMemory);
    l.credit_blocking("someone", "theirs", "1.00".parse().unwrap())
        .unwrap();
    l.shutdown();
    let (source, target) = (from.store(), to.store());
    let before = (
        target.accounts().unwrap(),
        target.entries(i64::MIN, 10).unwrap(),
    );
    let err = copy_ledger(&*source, &*target).unwrap_err();
    assert_eq!(
        err,
        LedgerCopyError::TargetNotEmpty(LedgerCounts {
            accounts: 1,
            entries: 1,
            reservations: 0
        })
    );
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(
        (
            target.accounts().unwrap(),
            target.entries(i64::MIN, 10).unwrap()
        ),
        before
    );
}

fn a_copy_run_twice_is_refused_the_second_time(from: &dyn Db, to: &dyn Db) {
    fill(from);
    let (source, target) = (from.store(), to.store());
    let report = copy_ledger(&*source, &*target).unwrap();
    let counts = target.counts().unwrap();
    assert!(matches!(
        copy_ledger(&*source, &*target),
        Err(LedgerCopyError::TargetNotEmpty(c)) if c == counts
    ));
    assert_eq!(target.counts().unwrap().entries, report.entries);
}

fn an_empty_source_copies_nothing(from: &dyn Db, to: &dyn Db) {
    let (source, target) = (from.store(), to.store());
    assert_eq!(copy_ledger(&*source, &*target).unwrap().entries, 0);
    assert_eq!(target.counts().unwrap(), LedgerCounts::default());
    // The same store as both: empty, so nothing to do either.
    assert_eq!(copy_ledger(&*source, &*source).unwrap().accounts, 0);
}

fn a_source_holding_reservations_is_refused(from: &dyn Db, to: &dyn Db) {
    let l = ledger(from, Reservations::Store);
    l.credit_blocking("u", "c", "1.00".parse().unwrap())
        .unwrap();
    l.reserve_blocking("u", "r", Money::from_nanos(5), now_ms() + 60_000)
        .unwrap();
    let (source, target) = (from.store(), to.store());
    assert_eq!(
        copy_ledger(&*source, &*target).unwrap_err(),
        LedgerCopyError::SourceHasReservations(1)
    );
    assert_eq!(target.counts().unwrap(), LedgerCounts::default());
    // Released (the server stopped), it copies.
    l.release("r").wait_blocking().unwrap();
    l.shutdown();
    assert_eq!(copy_ledger(&*source, &*target).unwrap().entries, 1);
}

fn a_copy_that_fails_midway_leaves_the_target_empty(from: &dyn Db, to: &dyn Db) {
    fill(from);
    // A balance its entries do not explain: found once every page is
    // written, before the commit.
    from.exec("UPDATE ledger_accounts SET balance = balance + 1 WHERE account = 'bob'");
    let (source, target) = (from.store(), to.store());
    let err = copy_ledger(&*source, &*target).unwrap_err();
    assert!(
        matches!(&err, LedgerCopyError::SourceInconsistent(m) if m.contains("\"bob\"")),
        "{err:?}"
    );
    assert_eq!(target.counts().unwrap(), LedgerCounts::default());
    // Mended, another try copies everything.
    from.exec("UPDATE ledger_accounts SET balance = balance - 1 WHERE account = 'bob'");
    let report = copy_ledger(&*source, &*target).unwrap();
    assert_eq!(report.entries, 4 + 2 + CHARGES as u64);
    assert_eq!(
        target.entries(i64::MIN, 10_000).unwrap(),
        source.entries(i64::MIN, 10_000).unwrap()
    );
}

/// The tests, from a SQLite ledger into each store.
macro_rules! into_each_store {
    ($($name:ident),* $(,)?) => {
        mod into_sqlite {
            $(#[test] fn $name() {
                crate::backends::sqlite(|from| crate::backends::sqlite(|to| crate::$name(from, to)))
            })*
            #[test]
            fn copies_every_account_and_entry() {
                crate::backends::sqlite(|from| crate::backends::sqlite(|to| {
                    crate::copies_every_account_and_entry(from, to, false)
                }))
            }
        }
        #[cfg(feature = "postgres")]
        mod into_postgres {
            $(#[test] fn $name() {
                crate::backends::sqlite(|from| crate::backends::postgres(|to| crate::$name(from, to)))
            })*
            #[test]
            fn copies_every_account_and_entry() {
                crate::backends::sqlite(|from| crate::backends::postgres(|to| {
                    crate::copies_every_account_and_entry(from, to, true)
                }))
            }
        }
    };
}

into_each_store!(
    a_non_empty_target_is_refused_and_left_unchanged,
    a_copy_run_twice_is_refused_the_second_time,
    an_empty_source_copies_nothing,
    a_source_holding_reservations_is_refused,
    a_copy_that_fails_midway_leaves_the_target_empty,
);
