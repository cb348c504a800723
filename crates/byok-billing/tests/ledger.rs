//! The ledger: idempotency, reservations, concurrency, crash recovery,
//! batching without loss. One suite, run on every store: SQLite always,
//! PostgreSQL with the `postgres` feature and `BYOK_TEST_DATABASE_URL`
//! (`scripts/postgres start`), each test in a schema of its own; without the
//! URL the PostgreSQL suite is skipped (loudly), and under `CI` it fails;
//! with the URL but without the feature it fails too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod backends;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use backends::{Db, entry};
use byok_billing::{
    CreditError, Extended, Idempotent, Ledger, LedgerConfig, LedgerEntry, LedgerError, LedgerStore,
    LedgerTransaction, Money, Outcome, Released, Reservations, ReserveError, SettleError, now_ms,
};

fn config(mode: Reservations) -> LedgerConfig {
    let mut config = LedgerConfig::default();
    config.reservations = mode;
    config
}

/// A ledger on the test's database (a new store each time: a restart, or
/// another process).
fn open(db: &dyn Db, mode: Reservations) -> Ledger {
    Ledger::new(db.store(), &config(mode)).unwrap()
}

/// The suite, on every store: `modes` run once with reservations in memory
/// (the default, one process) and once in the store (several processes);
/// `once` run once.
macro_rules! suite {
    (modes: [$($name:ident),* $(,)?], once: [$($once:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            mod in_memory {
                $(#[test] fn $name() {
                    crate::backends::sqlite(|db| crate::$name(db, byok_billing::Reservations::InMemory))
                })*
            }
            mod in_store {
                $(#[test] fn $name() {
                    crate::backends::sqlite(|db| crate::$name(db, byok_billing::Reservations::Store))
                })*
            }
            $(#[test] fn $once() { crate::backends::sqlite(crate::$once) })*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            mod in_memory {
                $(#[test] fn $name() {
                    crate::backends::postgres(|db| crate::$name(db, byok_billing::Reservations::InMemory))
                })*
            }
            mod in_store {
                $(#[test] fn $name() {
                    crate::backends::postgres(|db| crate::$name(db, byok_billing::Reservations::Store))
                })*
            }
            $(#[test] fn $once() { crate::backends::postgres(crate::$once) })*
        }
    };
}

suite!(
    modes: [
        credits_are_idempotent,
        reserve_settle_release,
        expired_reservations_are_swept,
        the_sweeper_thread_releases_expired_reservations,
        crash_between_reserve_and_settle_releases_on_restart,
        concurrent_requests_never_overrun_and_sum_exactly,
        shutdown_commits_everything_queued,
        a_credit_from_another_process_is_seen_before_refusing,
        a_live_reservation_extended_past_its_deadline_is_not_swept,
        a_settlement_after_its_reservation_was_swept_charges_exactly_once,
        a_settlement_after_a_restart_charges_exactly_once,
        usage_lists_a_charge_still_queued_without_making_settle_wait,
        a_charges_attempts_are_stored_and_listed,
        a_reservation_right_after_a_settlement_counts_what_it_freed,
    ],
    once: [
        in_memory_reservations_write_nothing_to_the_database,
        a_batch_of_charges_sums_balances_exactly_around_other_commands,
        settlements_and_reservations_in_one_batch_see_each_other,
        a_settlement_the_store_could_not_write_can_be_retried,
        a_settlement_for_another_account_is_refused_and_keeps_the_reservation,
        shutdown_commits_queued_in_memory_settlements,
        a_reservation_made_alone_is_checked_as_in_a_batch,
        a_write_queued_while_its_reservation_is_made_alone_waits_for_it,
    ],
);

/// Without the `postgres` feature the PostgreSQL suite is not built: a
/// SKIP, or a failure when a test database is given (or under CI).
#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_suite() {
    backends::postgres_not_built();
}

fn credit(l: &Ledger, account: &str, id: &str, usd: &str) -> Result<Idempotent, CreditError> {
    l.credit_blocking(account, id, usd.parse().unwrap())
}

fn reserve(l: &Ledger, account: &str, id: &str, nanos: i64) -> Result<Idempotent, ReserveError> {
    l.reserve_blocking(account, id, Money::from_nanos(nanos), now_ms() + 60_000)
}

fn settle(l: &Ledger, account: &str, id: &str, markup: i64) -> Result<Idempotent, SettleError> {
    l.settle(entry(account, id, markup)).wait_blocking()
}

fn credits_are_idempotent(db: &dyn Db, mode: Reservations) {
    let l = open(db, mode);
    assert_eq!(
        credit(&l, "u1", "top-up-1", "10.00").unwrap(),
        Idempotent::Applied
    );
    assert_eq!(
        credit(&l, "u1", "top-up-1", "10.00").unwrap(),
        Idempotent::Duplicate
    );
    assert_eq!(l.balance("u1").unwrap().balance.to_string(), "10.00");
    assert_eq!(
        credit(&l, "u1", "neg", "-1").unwrap_err(),
        CreditError::InvalidAmount
    );
    assert_eq!(l.balance("nobody").unwrap().balance, Money::ZERO);
}

fn reserve_settle_release(db: &dyn Db, mode: Reservations) {
    let l = open(db, mode);
    credit(&l, "u", "c", "0.000001").unwrap(); // 1000 nano-USD
    let err = reserve(&l, "u", "big", 1001).unwrap_err();
    assert_eq!(
        err,
        ReserveError::InsufficientBalance {
            available: Money::from_nanos(1000),
            needed: Money::from_nanos(1001)
        }
    );
    assert!(err.to_string().contains("insufficient balance"));
    assert_eq!(
        l.balance("u").unwrap().reserved,
        Money::ZERO,
        "a refused reservation changes nothing"
    );

    reserve(&l, "u", "r1", 600).unwrap();
    assert_eq!(reserve(&l, "u", "r1", 600).unwrap(), Idempotent::Duplicate);
    assert!(
        matches!(
            reserve(&l, "u", "r2", 600),
            Err(ReserveError::InsufficientBalance { .. })
        ),
        "only 400 left"
    );
    assert_eq!(settle(&l, "u", "r1", 250).unwrap(), Idempotent::Applied);
    assert_eq!(
        settle(&l, "u", "r1", 250).unwrap(),
        Idempotent::Duplicate,
        "a retry never charges twice"
    );
    let b = l.balance("u").unwrap();
    assert_eq!((b.balance.nanos(), b.reserved.nanos()), (750, 0));

    reserve(&l, "u", "r3", 700).unwrap();
    assert_eq!(l.release("r3").wait_blocking().unwrap(), Released::Applied);
    assert_eq!(
        l.release("r3").wait_blocking().unwrap(),
        Released::NothingToRelease
    );
    assert_eq!(l.balance("u").unwrap().reserved, Money::ZERO);

    // Settle without a reservation: recorded and charged (issue #14,
    // finding 1: a charge never depends on its reservation still
    // existing; it was refused, so the request was free), or recorded when
    // free.
    assert_eq!(
        settle(&l, "u", "never-reserved", 5).unwrap(),
        Idempotent::Applied
    );
    assert_eq!(
        settle(&l, "u", "no-markup", 0).unwrap(),
        Idempotent::Applied
    );
    assert_eq!(l.balance("u").unwrap().balance.nanos(), 745);

    let entries = l.usage("u", 10, None).unwrap();
    assert_eq!(
        entries
            .iter()
            .map(|e| e.entry.request_id.as_str())
            .collect::<Vec<_>>(),
        ["no-markup", "never-reserved", "r1"]
    );
    let api = entries[2].to_api_json();
    assert_eq!(
        (
            api["markup_usd"].as_str(),
            api["provider_cost_usd"].as_str()
        ),
        (Some("0.00000025"), Some("0.000005"))
    );
    assert_eq!(
        (api["usage_source"].as_str(), api["price_source"].as_str()),
        (Some("reported"), Some("catalog"))
    );
    assert!(api["created_at"].as_str().unwrap().ends_with('Z'));
    let page2 = l.usage("u", 1, Some(entries[1].seq)).unwrap();
    assert_eq!(page2[0].entry.request_id, "r1");
    assert_eq!(
        page2[0].entry,
        entry("u", "r1", 250).clone_with_time(page2[0].entry.created_at_ms)
    );
}

// Issue #14, finding 1: a stream longer than its reservation's deadline
// was free (the settlement found no reservation, and was dropped), and its
// reservation's amount was free for other requests meanwhile.

fn a_live_reservation_extended_past_its_deadline_is_not_swept(db: &dyn Db, mode: Reservations) {
    let l = open(db, mode);
    credit(&l, "u", "c", "0.000001").unwrap(); // 1000 nano-USD
    l.reserve_blocking("u", "stream", Money::from_nanos(600), now_ms() + 30)
        .unwrap();
    assert_eq!(
        l.extend("stream", now_ms() + 60_000)
            .wait_blocking()
            .unwrap(),
        Extended::Applied
    );
    // An earlier deadline never shortens it.
    assert_eq!(
        l.extend("stream", now_ms() - 1).wait_blocking().unwrap(),
        Extended::Applied
    );
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert_eq!(
        l.sweep_blocking().unwrap(),
        0,
        "past its first deadline, still live"
    );
    assert_eq!(l.balance("u").unwrap().reserved.nanos(), 600);
    assert!(
        matches!(
            reserve(&l, "u", "other", 401),
            Err(ReserveError::InsufficientBalance { .. })
        ),
        "the live reservation's amount is not free for others"
    );
    assert_eq!(
        l.extend("never-reserved", now_ms() + 60_000)
            .wait_blocking()
            .unwrap(),
        Extended::NothingToExtend
    );
    assert_eq!(settle(&l, "u", "stream", 250).unwrap(), Idempotent::Applied);
    let b = l.balance("u").unwrap();
    assert_eq!((b.balance.nanos(), b.reserved.nanos()), (750, 0));
    assert_eq!(
        l.extend("stream", now_ms() + 60_000)
            .wait_blocking()
            .unwrap(),
        Extended::NothingToExtend,
        "settled"
    );
}

fn a_settlement_after_its_reservation_was_swept_charges_exactly_once(
    db: &dyn Db,
    mode: Reservations,
) {
    let l = open(db, mode);
    credit(&l, "u", "c", "0.000001").unwrap(); // 1000 nano-USD
    l.reserve_blocking("u", "slow", Money::from_nanos(600), now_ms() - 1)
        .unwrap();
    assert_eq!(l.sweep_blocking().unwrap(), 1);
    assert_eq!(l.balance("u").unwrap().reserved, Money::ZERO);
    assert_eq!(settle(&l, "u", "slow", 250).unwrap(), Idempotent::Applied);
    assert_eq!(settle(&l, "u", "slow", 250).unwrap(), Idempotent::Duplicate);
    assert_eq!(l.balance("u").unwrap().balance.nanos(), 750);
    // A charge for service delivered is owed even beyond the balance.
    l.reserve_blocking("u", "long", Money::from_nanos(700), now_ms() - 1)
        .unwrap();
    assert_eq!(l.sweep_blocking().unwrap(), 1);
    assert_eq!(settle(&l, "u", "long", 2_000).unwrap(), Idempotent::Applied);
    assert_eq!(l.balance("u").unwrap().balance.nanos(), -1_250);
    assert_eq!(
        reserve(&l, "u", "next", 1).unwrap_err(),
        ReserveError::InsufficientBalance {
            available: Money::ZERO,
            needed: Money::from_nanos(1)
        }
    );
    let ids: Vec<String> = l
        .usage("u", 10, None)
        .unwrap()
        .into_iter()
        .map(|e| e.entry.request_id)
        .collect();
    assert_eq!(ids, ["long", "slow"]);
}

fn a_settlement_after_a_restart_charges_exactly_once(db: &dyn Db, mode: Reservations) {
    {
        let l = open(db, mode);
        credit(&l, "u", "c", "0.000001").unwrap();
        reserve(&l, "u", "across", 900).unwrap();
        l.shutdown();
    }
    // Reopened with `release_on_open`: the reservation is gone, the stream
    // (another process, or a retried settlement) still settles.
    let l = open(db, mode);
    assert_eq!(l.balance("u").unwrap().reserved, Money::ZERO);
    assert_eq!(settle(&l, "u", "across", 300).unwrap(), Idempotent::Applied);
    assert_eq!(
        settle(&l, "u", "across", 300).unwrap(),
        Idempotent::Duplicate
    );
    assert_eq!(l.balance("u").unwrap().balance.nanos(), 700);
}

/// Issue #14, finding 15: the balance showed a request's markup while
/// `/api/usage` did not list it yet (its charge still queued).
fn a_charges_attempts_are_stored_and_listed(db: &dyn Db, mode: Reservations) {
    let l = open(db, mode);
    credit(&l, "u", "c", "1.00").unwrap();
    let attempts = vec![
        byok_billing::Attempt {
            provider: "groq".into(),
            label: "personal".into(),
            status: 429,
        },
        byok_billing::Attempt {
            provider: "together".into(),
            label: "default".into(),
            status: 200,
        },
    ];
    let mut charged = entry("u", "r1", 250);
    charged.attempts = attempts.clone();
    l.settle(charged).wait_blocking().unwrap();
    l.settle(entry("u", "r2", 250)).wait_blocking().unwrap();
    drop(l);
    // Read back by a fresh instance: from the store, not a queue.
    let l = open(db, mode);
    let rows = l.usage("u", 10, None).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].entry.attempts.is_empty(), "r2 has none");
    assert_eq!(rows[1].entry.attempts, attempts);
}

fn usage_lists_a_charge_still_queued_without_making_settle_wait(db: &dyn Db, mode: Reservations) {
    use std::time::{Duration, Instant};
    let mut config = config(mode);
    // A commit window long enough that the charge is surely not committed
    // when `usage` is called, and far above the "did not wait" bounds below
    // (a loaded machine must not pass for a waiting one).
    config.commit_delay = Duration::from_secs(2);
    let l = Ledger::new(db.store(), &config).unwrap();
    credit(&l, "u", "c", "1.00").unwrap();
    credit(&l, "other", "c2", "1.00").unwrap();
    reserve(&l, "u", "r1", 600).unwrap();
    let settled = Instant::now();
    l.settle(entry("u", "r1", 250)).detach();
    assert!(
        settled.elapsed() < Duration::from_secs(1),
        "settling does not wait for the commit"
    );
    // Another account's read does not wait for u's charge.
    let read = Instant::now();
    assert!(l.usage("other", 10, None).unwrap().is_empty());
    assert!(read.elapsed() < Duration::from_secs(1));
    // u reads its own write.
    let entries = l.usage("u", 10, None).unwrap();
    assert_eq!(entries.len(), 1, "the queued charge is listed");
    assert_eq!(entries[0].entry.request_id, "r1");
    assert_eq!(l.usage("u", 10, Some(entries[0].seq)).unwrap(), []);
    // A retried settlement is still listed once.
    l.settle(entry("u", "r1", 250)).detach();
    assert_eq!(l.usage("u", 10, None).unwrap().len(), 1);
    assert_eq!(l.balance("u").unwrap().balance.to_string(), "0.99999975");
}

trait WithTime {
    fn clone_with_time(self, t: i64) -> Self;
}
impl WithTime for LedgerEntry {
    fn clone_with_time(mut self, t: i64) -> Self {
        self.created_at_ms = t;
        self
    }
}

fn expired_reservations_are_swept(db: &dyn Db, mode: Reservations) {
    let l = open(db, mode);
    credit(&l, "u", "c", "1.00").unwrap();
    l.reserve_blocking("u", "old", Money::from_nanos(500), now_ms() - 1)
        .unwrap();
    reserve(&l, "u", "fresh", 300).unwrap();
    assert_eq!(l.sweep_blocking().unwrap(), 1);
    assert_eq!(l.balance("u").unwrap().reserved.nanos(), 300);
}

fn the_sweeper_thread_releases_expired_reservations(db: &dyn Db, mode: Reservations) {
    let mut config = config(mode);
    config.sweep_interval = Some(std::time::Duration::from_millis(20));
    let l = Ledger::new(db.store(), &config).unwrap();
    credit(&l, "u", "c", "1.00").unwrap();
    l.reserve_blocking("u", "stale", Money::from_nanos(500), now_ms() - 1)
        .unwrap();
    for _ in 0..200 {
        if l.balance("u").unwrap().reserved == Money::ZERO {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the sweeper never released the expired reservation");
}

fn crash_between_reserve_and_settle_releases_on_restart(db: &dyn Db, mode: Reservations) {
    {
        let l = open(db, mode);
        credit(&l, "u", "c", "0.000001").unwrap();
        reserve(&l, "u", "in-flight", 900).unwrap();
        assert_eq!(l.balance("u").unwrap().reserved.nanos(), 900);
        // The process dies here: no settle, no release, no shutdown.
        std::mem::drop(l);
    }
    let l = open(db, mode);
    let b = l.balance("u").unwrap();
    assert_eq!((b.balance.nanos(), b.reserved.nanos()), (1000, 0));
    reserve(&l, "u", "next", 1000).unwrap();
}

fn concurrent_requests_never_overrun_and_sum_exactly(db: &dyn Db, mode: Reservations) {
    let l = open(db, mode);
    let start = 100_000i64; // covers ~ a quarter of the attempts below
    credit(&l, "shared", "c", &Money::from_nanos(start).to_string()).unwrap();
    let refused = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let l = l.clone();
            let refused = Arc::clone(&refused);
            std::thread::spawn(move || {
                for i in 0..50 {
                    let id = format!("req-{t}-{i}");
                    let bound = 500 + ((t * 31 + i * 17) % 500) as i64;
                    match reserve(&l, "shared", &id, bound) {
                        Ok(_) => {
                            let actual = bound - ((t + i) % 7) as i64 * 10; // ≤ bound
                            if i % 9 == 0 {
                                l.release(&id).wait_blocking().unwrap();
                            } else {
                                settle(&l, "shared", &id, actual).unwrap();
                                // A retry of the same settle must not charge again.
                                assert_eq!(
                                    settle(&l, "shared", &id, actual).unwrap(),
                                    Idempotent::Duplicate
                                );
                            }
                        }
                        Err(ReserveError::InsufficientBalance { .. }) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("{e}"),
                    }
                    assert!(
                        l.balance("shared").unwrap().balance.nanos() >= 0,
                        "below the floor"
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let b = l.balance("shared").unwrap();
    let charged: i64 = l
        .usage("shared", 10_000, None)
        .unwrap()
        .iter()
        .map(|e| e.entry.markup.nanos())
        .sum();
    assert_eq!(b.reserved, Money::ZERO);
    assert!(b.balance.nanos() >= 0);
    assert_eq!(
        start - b.balance.nanos(),
        charged,
        "the ledger explains every nano-dollar"
    );
    assert!(
        refused.load(Ordering::Relaxed) > 0,
        "the balance was meant to run out"
    );
}

fn shutdown_commits_everything_queued(db: &dyn Db, mode: Reservations) {
    let l = open(db, mode);
    credit(&l, "u", "c", "1.00").unwrap();
    let mut pending = Vec::new();
    for i in 0..1000 {
        pending.push(l.settle(entry("u", &format!("free-{i}"), 0)));
    }
    l.shutdown();
    assert!(matches!(
        l.release("x").wait_blocking(),
        Err(LedgerError::WriterGone)
    ));
    drop(pending);
    let l = open(db, mode);
    assert_eq!(l.usage("u", 5000, None).unwrap().len(), 1000);
}

fn a_credit_from_another_process_is_seen_before_refusing(db: &dyn Db, mode: Reservations) {
    let server = open(db, mode);
    credit(&server, "u", "c1", "0.000001").unwrap();
    reserve(&server, "u", "r1", 1000).unwrap();
    // Another process (the CLI) credits the same database meanwhile.
    let mut cli = config(Reservations::Store);
    cli.release_on_open = false;
    cli.sweep_interval = None;
    let cli = Ledger::new(db.store(), &cli).unwrap();
    credit(&cli, "u", "c2", "0.000001").unwrap();
    cli.shutdown();
    assert_eq!(
        reserve(&server, "u", "r2", 1000).unwrap(),
        Idempotent::Applied
    );
    assert!(matches!(
        reserve(&server, "u", "r3", 1),
        Err(ReserveError::InsufficientBalance { .. })
    ));
    assert_eq!(
        settle(&server, "u", "r1", 400).unwrap(),
        Idempotent::Applied
    );
    assert_eq!(
        settle(&server, "u", "r2", 600).unwrap(),
        Idempotent::Applied
    );
    let b = server.balance("u").unwrap();
    assert_eq!((b.balance.nanos(), b.reserved.nanos()), (1000, 0));
}

/// A reservation made right after a settlement (or a release) that is
/// still queued counts the part of the reservation it freed, as when both
/// went through the writer's queue: made alone, the reservation did not
/// see it, and is asked again on the writer.
fn a_reservation_right_after_a_settlement_counts_what_it_freed(db: &dyn Db, mode: Reservations) {
    let mut config = config(mode);
    // The settlement surely not committed when the next request reserves.
    config.commit_delay = std::time::Duration::from_millis(300);
    let l = Ledger::new(db.store(), &config).unwrap();
    credit(&l, "u", "c", "0.000001").unwrap(); // 1000 nano-USD
    reserve(&l, "u", "r1", 1000).unwrap();
    l.settle(entry("u", "r1", 300)).detach();
    assert_eq!(
        reserve(&l, "u", "r2", 700).unwrap(),
        Idempotent::Applied,
        "the settlement freed 700 of r1's 1000"
    );
    assert_eq!(
        reserve(&l, "u", "r3", 1).unwrap_err(),
        ReserveError::InsufficientBalance {
            available: Money::ZERO,
            needed: Money::from_nanos(1)
        }
    );
    l.release("r2").detach();
    assert_eq!(
        reserve(&l, "u", "r4", 700).unwrap(),
        Idempotent::Applied,
        "the release freed r2's 700"
    );
    let b = l.balance("u").unwrap();
    assert_eq!((b.balance.nanos(), b.reserved.nanos()), (700, 700));
}

fn in_memory_reservations_write_nothing_to_the_database(db: &dyn Db) {
    let l = open(db, Reservations::InMemory);
    credit(&l, "u", "c", "1.00").unwrap();
    reserve(&l, "u", "r1", 500).unwrap();
    assert_eq!(l.balance("u").unwrap().reserved.nanos(), 500);
    let rows = (
        db.scalar("SELECT count(*) FROM ledger_reservations"),
        db.scalar("SELECT reserved FROM ledger_accounts WHERE account = 'u'"),
    );
    assert_eq!(rows, (0, 0));
    // The settlement is written as a charge against the balance.
    assert_eq!(settle(&l, "u", "r1", 200).unwrap(), Idempotent::Applied);
    let balance = db.scalar("SELECT balance FROM ledger_accounts WHERE account = 'u'");
    assert_eq!(balance, 1_000_000_000 - 200);
}

fn a_batch_of_charges_sums_balances_exactly_around_other_commands(db: &dyn Db) {
    let store = db.store();
    let mut results = None;
    store
        .transaction(true, &mut |tx: &mut dyn LedgerTransaction| {
            let mut charge =
                |account: &str, id: &str, markup: i64| tx.charge(&entry(account, id, markup));
            let first = (charge("a", "r1", 100)?, charge("b", "r2", 50)?);
            let credit = tx.credit("a", "c1", Money::from_nanos(1000))?;
            let mut charge =
                |account: &str, id: &str, markup: i64| tx.charge(&entry(account, id, markup));
            let then = (
                charge("a", "r3", 30)?,
                charge("a", "r1", 100)?,
                charge("a", "r4", -1)?,
                charge("b", "r5", 7)?,
                charge("a", "r6", 700)?,
            );
            // Fits only if the charges above are counted first: 1000 - 830
            // = 170 is left.
            let reserve = tx.reserve("a", "r7", Money::from_nanos(171), now_ms() + 60_000)?;
            let last = tx.charge(&entry("a", "r8", 0))?;
            results = Some((first, credit, then, reserve, last));
            Ok(())
        })
        .unwrap();
    assert_eq!(
        results.unwrap(),
        (
            (Ok(Idempotent::Applied), Ok(Idempotent::Applied)),
            Ok(Idempotent::Applied),
            (
                Ok(Idempotent::Applied),
                Ok(Idempotent::Duplicate),
                Err(SettleError::InvalidAmount),
                Ok(Idempotent::Applied),
                Ok(Idempotent::Applied),
            ),
            Err(ReserveError::InsufficientBalance {
                available: Money::from_nanos(170),
                needed: Money::from_nanos(171)
            }),
            Ok(Idempotent::Applied),
        )
    );
    assert_eq!(store.balance("a").unwrap().balance.nanos(), 1000 - 830);
    assert_eq!(store.balance("b").unwrap().balance.nanos(), -57);
    let charged: i64 = store
        .usage("a", 10, None)
        .unwrap()
        .iter()
        .map(|e| e.entry.markup.nanos())
        .sum();
    assert_eq!(charged, 830, "every row that explains the balance is there");
}

/// In one transaction, a write after a settlement sees what it freed (its
/// reservation's amount, which PostgreSQL takes off `reserved` with the
/// summed charges at the end of the batch) and charged.
fn settlements_and_reservations_in_one_batch_see_each_other(db: &dyn Db) {
    let store = db.store();
    let until = now_ms() + 60_000;
    let mut results = None;
    store
        .transaction(true, &mut |tx: &mut dyn LedgerTransaction| {
            tx.credit("u", "c", Money::from_nanos(1000))?.unwrap();
            let reserve = |tx: &mut dyn LedgerTransaction, id: &str, nanos: i64| {
                tx.reserve("u", id, Money::from_nanos(nanos), until)
            };
            let first = (reserve(tx, "r1", 600)?, reserve(tx, "r2", 300)?);
            let settled = (
                tx.settle(&entry("u", "r1", 100))?,
                tx.settle(&entry("u", "r2", 50))?,
            );
            // 1000 − 150 charged − 0 held: 850 left.
            let then = (
                reserve(tx, "r3", 851)?,
                reserve(tx, "r4", 850)?,
                tx.release("r1")?,
                tx.extend("r2", until + 1)?,
                tx.release("r4")?,
            );
            results = Some((first, settled, then));
            Ok(())
        })
        .unwrap();
    assert_eq!(
        results.unwrap(),
        (
            (Ok(Idempotent::Applied), Ok(Idempotent::Applied)),
            (Ok(Idempotent::Applied), Ok(Idempotent::Applied)),
            (
                Err(ReserveError::InsufficientBalance {
                    available: Money::from_nanos(850),
                    needed: Money::from_nanos(851)
                }),
                Ok(Idempotent::Applied),
                Released::NothingToRelease,
                Extended::NothingToExtend,
                Released::Applied,
            ),
        )
    );
    let b = store.balance("u").unwrap();
    assert_eq!((b.balance.nanos(), b.reserved.nanos()), (850, 0));
    assert_eq!(db.scalar("SELECT count(*) FROM ledger_reservations"), 0);
}

/// What a [`Wrapped`] store is asked to do, for its hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Transaction,
    Read,
    ReserveAlone,
}

/// How the tests' stores differ from the store they wrap: a hook run
/// before each call (what it returns is held during the call; an error is
/// the call's), and whether reservations are made alone.
trait Hook: Send + Sync + 'static {
    fn enter(&self, _call: Call) -> Result<Option<std::sync::MutexGuard<'_, ()>>, LedgerError> {
        Ok(None)
    }
    fn reserves_alone(&self, _inner: &dyn LedgerStore) -> bool {
        false
    }
}

/// A store delegating every call to `inner` through `hook`.
struct Wrapped<H> {
    inner: Arc<dyn LedgerStore>,
    hook: H,
}

impl<H: Hook> LedgerStore for Wrapped<H> {
    fn transaction(
        &self,
        durable: bool,
        body: &mut dyn FnMut(&mut dyn LedgerTransaction) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let _held = self.hook.enter(Call::Transaction)?;
        self.inner.transaction(durable, body)
    }
    fn balance(&self, account: &str) -> Result<byok_billing::Balance, LedgerError> {
        let _held = self.hook.enter(Call::Read)?;
        self.inner.balance(account)
    }
    fn usage(
        &self,
        account: &str,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<byok_billing::StoredEntry>, LedgerError> {
        let _held = self.hook.enter(Call::Read)?;
        self.inner.usage(account, limit, before)
    }
    fn entries(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<byok_billing::EntryRow>, LedgerError> {
        let _held = self.hook.enter(Call::Read)?;
        self.inner.entries(after, limit)
    }
    fn accounts(&self) -> Result<Vec<byok_billing::AccountRow>, LedgerError> {
        let _held = self.hook.enter(Call::Read)?;
        self.inner.accounts()
    }
    fn reserves_alone(&self) -> bool {
        self.hook.reserves_alone(&*self.inner)
    }
    fn reserve_alone(
        &self,
        account: &str,
        request_id: &str,
        amount: Money,
        expires_at_ms: i64,
    ) -> Outcome<ReserveError> {
        let _held = self.hook.enter(Call::ReserveAlone)?;
        self.inner
            .reserve_alone(account, request_id, amount, expires_at_ms)
    }
}

/// Fails the store's next `fail` transactions, then lets them be.
struct Flaky {
    fail: std::sync::atomic::AtomicU32,
}

impl Hook for Flaky {
    fn enter(&self, call: Call) -> Result<Option<std::sync::MutexGuard<'_, ()>>, LedgerError> {
        let failing = call == Call::Transaction
            && self
                .fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if failing {
            return Err(LedgerError::Store("disk full".into()));
        }
        Ok(None)
    }
}

fn a_settlement_the_store_could_not_write_can_be_retried(db: &dyn Db) {
    let store = Arc::new(Wrapped {
        inner: db.store(),
        hook: Flaky {
            fail: std::sync::atomic::AtomicU32::new(0),
        },
    });
    let l = Ledger::new(store.clone(), &config(Reservations::InMemory)).unwrap();
    credit(&l, "u", "c", "0.000001").unwrap();
    reserve(&l, "u", "r1", 600).unwrap();
    store.hook.fail.store(1, Ordering::SeqCst);
    assert_eq!(
        settle(&l, "u", "r1", 250).unwrap_err(),
        SettleError::Store("disk full".into())
    );
    let b = l.balance("u").unwrap();
    assert_eq!(
        (b.balance.nanos(), b.reserved.nanos()),
        (1000, 600),
        "nothing charged, the reservation is back"
    );
    assert!(matches!(
        reserve(&l, "u", "r2", 401),
        Err(ReserveError::InsufficientBalance { .. })
    ));
    assert_eq!(settle(&l, "u", "r1", 250).unwrap(), Idempotent::Applied);
    let b = l.balance("u").unwrap();
    assert_eq!((b.balance.nanos(), b.reserved.nanos()), (750, 0));
}

fn a_settlement_for_another_account_is_refused_and_keeps_the_reservation(db: &dyn Db) {
    let l = open(db, Reservations::InMemory);
    credit(&l, "u", "c", "0.000001").unwrap();
    reserve(&l, "u", "r1", 600).unwrap();
    assert!(matches!(
        settle(&l, "someone-else", "r1", 250),
        Err(SettleError::NoReservation(_))
    ));
    assert_eq!(l.balance("u").unwrap().reserved.nanos(), 600);
    assert_eq!(settle(&l, "u", "r1", 250).unwrap(), Idempotent::Applied);
    assert_eq!(l.balance("u").unwrap().balance.nanos(), 750);
}

fn shutdown_commits_queued_in_memory_settlements(db: &dyn Db) {
    let l = open(db, Reservations::InMemory);
    credit(&l, "u", "c", "1.00").unwrap();
    let mut pending = Vec::new();
    for i in 0..200 {
        let id = format!("r{i}");
        reserve(&l, "u", &id, 10).unwrap();
        pending.push(l.settle(entry("u", &id, 7)));
    }
    l.shutdown();
    assert!(matches!(
        settle(&l, "u", "late", 0),
        Err(SettleError::WriterGone)
    ));
    drop(pending);
    let l = open(db, Reservations::InMemory);
    assert_eq!(l.usage("u", 500, None).unwrap().len(), 200);
    assert_eq!(
        l.balance("u").unwrap().balance.nanos(),
        1_000_000_000 - 200 * 7
    );
}

/// [`LedgerStore::reserve_alone`] decides as a reservation in a batch
/// does (SQLite: its default, a transaction of its own; PostgreSQL: one
/// statement, with an account that has no row yet reserved in a
/// transaction).
fn a_reservation_made_alone_is_checked_as_in_a_batch(db: &dyn Db) {
    let store = db.store();
    store
        .transaction(true, &mut |tx: &mut dyn LedgerTransaction| {
            tx.credit("u", "c", Money::from_nanos(1000))?.unwrap();
            Ok(())
        })
        .unwrap();
    let until = now_ms() + 60_000;
    let alone = |account: &str, id: &str, nanos: i64| {
        store
            .reserve_alone(account, id, Money::from_nanos(nanos), until)
            .unwrap()
    };
    assert_eq!(alone("u", "r1", 600), Ok(Idempotent::Applied));
    assert_eq!(alone("u", "r1", 600), Ok(Idempotent::Duplicate));
    assert_eq!(
        alone("u", "r2", 401),
        Err(ReserveError::InsufficientBalance {
            available: Money::from_nanos(400),
            needed: Money::from_nanos(401)
        })
    );
    assert_eq!(alone("u", "r3", -1), Err(ReserveError::InvalidAmount));
    assert_eq!(
        alone("u", "r4", 400),
        Ok(Idempotent::Applied),
        "exactly fits"
    );
    let b = store.balance("u").unwrap();
    assert_eq!((b.balance.nanos(), b.reserved.nanos()), (1000, 1000));
    store
        .transaction(true, &mut |tx: &mut dyn LedgerTransaction| {
            tx.settle(&entry("u", "r1", 250))?.unwrap();
            tx.release("r4")?;
            Ok(())
        })
        .unwrap();
    assert_eq!(alone("u", "r1", 1), Ok(Idempotent::Duplicate), "settled");
    let b = store.balance("u").unwrap();
    assert_eq!((b.balance.nanos(), b.reserved.nanos()), (750, 0));
    // An account without a row: refused, or (nothing to hold) reserved.
    assert_eq!(
        alone("new", "n1", 1),
        Err(ReserveError::InsufficientBalance {
            available: Money::ZERO,
            needed: Money::from_nanos(1)
        })
    );
    assert_eq!(alone("new", "n2", 0), Ok(Idempotent::Applied));
    assert_eq!(
        db.scalar("SELECT count(*) FROM ledger_reservations"),
        1,
        "only n2's row: refusals leave none"
    );
}

/// Reservations made alone, each waiting at a gate: `entered` says one
/// is being made, `open` lets it go on.
struct Gated {
    entered: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
    open: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl Hook for Gated {
    fn enter(&self, call: Call) -> Result<Option<std::sync::MutexGuard<'_, ()>>, LedgerError> {
        if call == Call::ReserveAlone {
            self.entered.lock().unwrap().send(()).unwrap();
            self.open.lock().unwrap().recv().unwrap();
        }
        Ok(None)
    }
    fn reserves_alone(&self, _inner: &dyn LedgerStore) -> bool {
        true
    }
}

/// A settlement, release or extension of a request id queued while its
/// reservation is being made alone runs after it (as it did when both went
/// through the writer's queue), and a shutdown meanwhile still commits it.
fn a_write_queued_while_its_reservation_is_made_alone_waits_for_it(db: &dyn Db) {
    use std::time::Duration;
    let (entered, being_made) = std::sync::mpsc::channel();
    let (go, gate) = std::sync::mpsc::channel();
    let store = Arc::new(Wrapped {
        inner: db.store(),
        hook: Gated {
            entered: std::sync::Mutex::new(entered),
            open: std::sync::Mutex::new(gate),
        },
    });
    let mut config = config(Reservations::Store);
    config.sweep_interval = None;
    let l = Ledger::new(store, &config).unwrap();
    credit(&l, "u", "c", "0.000001").unwrap(); // 1000 nano-USD
    std::thread::scope(|s| {
        let reserving = s.spawn(|| reserve(&l, "u", "r1", 600));
        being_made.recv().unwrap();
        let settled = l.settle(entry("u", "r1", 250));
        let released = l.release("r1");
        let extended = l.extend("r1", now_ms() + 60_000);
        // Time for the writer to run them, were they not held back.
        std::thread::sleep(Duration::from_millis(200));
        go.send(()).unwrap();
        assert_eq!(reserving.join().unwrap(), Ok(Idempotent::Applied));
        assert_eq!(settled.wait_blocking(), Ok(Idempotent::Applied));
        assert_eq!(
            released.wait_blocking(),
            Ok(Released::NothingToRelease),
            "settled first, as queued"
        );
        assert_eq!(extended.wait_blocking(), Ok(Extended::NothingToExtend));
    });
    let b = l.balance("u").unwrap();
    assert_eq!(
        (b.balance.nanos(), b.reserved.nanos()),
        (750, 0),
        "the settlement removed the reservation it followed"
    );
    // Shut down while a reservation is being made, with a settlement held
    // back behind it: both are committed.
    std::thread::scope(|s| {
        let reserving = s.spawn(|| reserve(&l, "u", "r2", 500));
        being_made.recv().unwrap();
        let settled = l.settle(entry("u", "r2", 100));
        let stopping = s.spawn(|| l.shutdown());
        std::thread::sleep(Duration::from_millis(100));
        go.send(()).unwrap();
        assert_eq!(reserving.join().unwrap(), Ok(Idempotent::Applied));
        stopping.join().unwrap();
        assert_eq!(settled.wait_blocking(), Ok(Idempotent::Applied));
    });
    assert_eq!(
        reserve(&l, "u", "late", 1),
        Err(ReserveError::WriterGone),
        "no reservation after shutdown"
    );
    let b = l.balance("u").unwrap();
    assert_eq!((b.balance.nanos(), b.reserved.nanos()), (650, 0));
}

/// Several gateway instances on one PostgreSQL database: each its own
/// [`Ledger`] (its own writer thread and connections), reservations in the
/// store.
#[cfg(feature = "postgres")]
mod cross_instance {
    use std::collections::HashSet;
    use std::sync::atomic::AtomicI64;

    use super::*;

    /// An instance as a scaled-out server runs it: reservations in the
    /// database, and not released at start (another instance's are live;
    /// expired ones are swept).
    fn instance(db: &dyn Db) -> Ledger {
        let mut c = config(Reservations::Store);
        c.release_on_open = false;
        c.sweep_interval = None;
        Ledger::new(db.store(), &c).unwrap()
    }

    fn exactly_one_applied(outcomes: [Idempotent; 2]) {
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == Idempotent::Applied)
                .count(),
            1,
            "{outcomes:?}"
        );
        assert!(outcomes.contains(&Idempotent::Duplicate), "{outcomes:?}");
    }

    /// What the requests of [`requests`] did, summed over threads.
    #[derive(Default)]
    struct Tally {
        charged: AtomicI64,
        settled: AtomicU64,
        refused: AtomicU64,
    }

    /// Thread `t`'s requests: reserved through `mine`, released through
    /// `other` or settled through both at once (applied exactly once).
    fn requests(t: i64, mine: &Ledger, other: &Ledger, tally: &Tally) {
        for i in 0..40i64 {
            let id = format!("req-{t}-{i}");
            let bound = 500 + (t * 31 + i * 17) % 500;
            match reserve(mine, "shared", &id, bound) {
                Ok(outcome) => assert_eq!(outcome, Idempotent::Applied),
                Err(ReserveError::InsufficientBalance { .. }) => {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Err(e) => panic!("{e}"),
            }
            if i % 9 == 0 {
                assert_eq!(
                    other.release(&id).wait_blocking().unwrap(),
                    Released::Applied
                );
                continue;
            }
            let actual = bound - (t + i) % 7 * 10; // ≤ bound
            let (x, y) = std::thread::scope(|s| {
                let there = s.spawn(|| settle(other, "shared", &id, actual));
                let here = settle(mine, "shared", &id, actual);
                (here.unwrap(), there.join().unwrap().unwrap())
            });
            exactly_one_applied([x, y]);
            tally.charged.fetch_add(actual, Ordering::Relaxed);
            tally.settled.fetch_add(1, Ordering::Relaxed);
            assert!(
                mine.balance("shared").unwrap().balance.nanos() >= 0,
                "overspent"
            );
        }
    }

    /// Concurrent requests for one account through two instances: every
    /// reservation is checked against the database's balance (no
    /// overspend), every settlement is tried through both instances at
    /// once (applied exactly once), and the ledger explains the balance.
    #[test]
    fn two_instances_never_overspend_nor_lose_or_double_an_entry() {
        backends::postgres(|db| {
            let (a, b) = (instance(db), instance(db));
            let start = 60_000i64; // covers ~ a quarter of the attempts below
            credit(&a, "shared", "c", &Money::from_nanos(start).to_string()).unwrap();
            let tally = Tally::default();
            std::thread::scope(|s| {
                for t in 0..8i64 {
                    let (mine, other) = if t % 2 == 0 { (&a, &b) } else { (&b, &a) };
                    let tally = &tally;
                    s.spawn(move || requests(t, mine, other, tally));
                }
            });
            let entries = b.usage("shared", 10_000, None).unwrap();
            let ids: HashSet<&str> = entries
                .iter()
                .map(|e| e.entry.request_id.as_str())
                .collect();
            assert_eq!(ids.len(), entries.len(), "no entry twice");
            assert_eq!(
                entries.len() as u64,
                tally.settled.load(Ordering::Relaxed),
                "no entry lost"
            );
            let sum: i64 = entries.iter().map(|e| e.entry.markup.nanos()).sum();
            assert_eq!(sum, tally.charged.load(Ordering::Relaxed));
            for l in [&a, &b] {
                let bal = l.balance("shared").unwrap();
                assert_eq!(bal.reserved, Money::ZERO);
                assert!(bal.balance.nanos() >= 0, "overspent");
                assert_eq!(
                    start - bal.balance.nanos(),
                    sum,
                    "balance = credits − entries"
                );
            }
            assert!(
                tally.refused.load(Ordering::Relaxed) > 0,
                "the balance was meant to run out"
            );
            a.shutdown();
            b.shutdown();
        });
    }

    /// One request id reserved through both instances at once is held
    /// once, and released once.
    #[test]
    fn a_request_reserved_through_two_instances_at_once_is_held_once() {
        backends::postgres(|db| {
            let (a, b) = (instance(db), instance(db));
            credit(&a, "u", "c", "1.00").unwrap();
            for i in 0..30 {
                let id = format!("r{i}");
                let (x, y) = std::thread::scope(|s| {
                    let there = s.spawn(|| reserve(&b, "u", &id, 1000));
                    let here = reserve(&a, "u", &id, 1000);
                    (here.unwrap(), there.join().unwrap().unwrap())
                });
                exactly_one_applied([x, y]);
            }
            assert_eq!(b.balance("u").unwrap().reserved.nanos(), 30 * 1000);
            for i in 0..30 {
                let id = format!("r{i}");
                assert_eq!(a.release(&id).wait_blocking().unwrap(), Released::Applied);
                assert_eq!(
                    b.release(&id).wait_blocking().unwrap(),
                    Released::NothingToRelease
                );
            }
            assert_eq!(a.balance("u").unwrap().reserved, Money::ZERO);
            a.shutdown();
            b.shutdown();
        });
    }

    /// Eight threads through two instances reserve one balance in pieces
    /// until refused: it is held exactly (never more: each reservation is
    /// checked against the database's newest balance; never less: a
    /// refusal is decided when it truly does not fit), and what is held
    /// never exceeds the balance meanwhile.
    #[test]
    fn two_instances_reserving_a_whole_balance_at_once_hold_it_exactly() {
        backends::postgres(|db| {
            let (a, b) = (instance(db), instance(db));
            let pieces = 200i64;
            credit(&a, "u", "c", &Money::from_nanos(pieces * 1000).to_string()).unwrap();
            let held = AtomicI64::new(0);
            let done = std::sync::atomic::AtomicBool::new(false);
            std::thread::scope(|s| {
                let watcher = s.spawn(|| {
                    let mut looks = 0;
                    while !done.load(Ordering::Relaxed) {
                        let bal = b.balance("u").unwrap();
                        assert!(bal.reserved <= bal.balance, "overspent: {bal:?}");
                        looks += 1;
                    }
                    looks
                });
                let threads: Vec<_> = (0..8)
                    .map(|t| {
                        let (l, held) = (if t % 2 == 0 { &a } else { &b }, &held);
                        s.spawn(move || {
                            for i in 0.. {
                                match reserve(l, "u", &format!("p-{t}-{i}"), 1000) {
                                    Ok(outcome) => assert_eq!(outcome, Idempotent::Applied),
                                    Err(ReserveError::InsufficientBalance { .. }) => return,
                                    Err(e) => panic!("{e}"),
                                }
                                held.fetch_add(1000, Ordering::Relaxed);
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().unwrap();
                }
                done.store(true, Ordering::Relaxed);
                assert!(watcher.join().unwrap() > 0);
            });
            assert_eq!(held.load(Ordering::Relaxed), pieces * 1000);
            let bal = a.balance("u").unwrap();
            assert_eq!(
                (bal.balance.nanos(), bal.reserved.nanos()),
                (pieces * 1000, pieces * 1000)
            );
            assert_eq!(
                db.scalar("SELECT count(*) FROM ledger_reservations"),
                pieces
            );
            assert_eq!(
                db.scalar("SELECT sum(amount)::bigint FROM ledger_reservations"),
                pieces * 1000
            );
            a.shutdown();
            b.shutdown();
        });
    }

    /// A reservation made alone through one instance is seen by the
    /// settlement queued on the other's writer right after it returned
    /// (and by one through the same instance, detached as on the request
    /// path).
    #[test]
    fn a_reservation_then_its_settlement_through_the_other_instance() {
        backends::postgres(|db| {
            let (a, b) = (instance(db), instance(db));
            credit(&a, "u", "c", "1.00").unwrap();
            for i in 0..40 {
                let id = format!("r{i}");
                let (here, there) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
                assert_eq!(reserve(here, "u", &id, 1000).unwrap(), Idempotent::Applied);
                assert_eq!(settle(there, "u", &id, 600).unwrap(), Idempotent::Applied);
                assert_eq!(
                    here.balance("u").unwrap().reserved,
                    Money::ZERO,
                    "the settlement removed the reservation"
                );
                assert_eq!(settle(here, "u", &id, 600).unwrap(), Idempotent::Duplicate);
                let id = format!("s{i}");
                assert_eq!(reserve(here, "u", &id, 1000).unwrap(), Idempotent::Applied);
                here.settle(entry("u", &id, 600)).detach();
            }
            a.shutdown();
            b.shutdown();
            let bal = a.balance("u").unwrap();
            assert_eq!(
                (bal.balance.nanos(), bal.reserved.nanos()),
                (1_000_000_000 - 80 * 600, 0)
            );
            assert_eq!(db.scalar("SELECT count(*) FROM ledger_reservations"), 0);
        });
    }

    /// One request id reserved by eight threads at once, through two
    /// instances: held once (the others are duplicates, whether they saw
    /// the first one's row or collided with it).
    #[test]
    fn one_request_id_reserved_by_eight_threads_through_two_instances_is_held_once() {
        backends::postgres(|db| {
            let (a, b) = (instance(db), instance(db));
            credit(&a, "u", "c", "1.00").unwrap();
            let rounds = 20;
            for round in 0..rounds {
                let id = format!("r{round}");
                let barrier = std::sync::Barrier::new(8);
                let outcomes: Vec<Idempotent> = std::thread::scope(|s| {
                    let threads: Vec<_> = (0..8)
                        .map(|t| {
                            let (l, id, barrier) =
                                (if t % 2 == 0 { &a } else { &b }, &id, &barrier);
                            s.spawn(move || {
                                barrier.wait();
                                reserve(l, "u", id, 1000).unwrap()
                            })
                        })
                        .collect();
                    threads.into_iter().map(|t| t.join().unwrap()).collect()
                });
                assert_eq!(
                    outcomes
                        .iter()
                        .filter(|o| **o == Idempotent::Applied)
                        .count(),
                    1,
                    "{outcomes:?}"
                );
            }
            assert_eq!(a.balance("u").unwrap().reserved.nanos(), rounds * 1000);
            assert_eq!(
                db.scalar("SELECT count(*) FROM ledger_reservations"),
                rounds
            );
            a.shutdown();
            b.shutdown();
        });
    }

    /// Instances starting together migrate once; a database migrated by a
    /// newer build is refused.
    #[test]
    fn migrations_run_once_and_refuse_a_newer_schema() {
        backends::postgres(|db| {
            std::thread::scope(|s| {
                let opening: Vec<_> = (0..4).map(|_| s.spawn(|| db.store())).collect();
                for o in opening {
                    o.join().unwrap();
                }
            });
            // Every migration recorded once (two: the tables, then the
            // charges' attempts).
            let applied =
                db.scalar("SELECT count(*) FROM schema_migrations WHERE component = 'ledger'");
            assert_eq!(applied, 2);
            db.store();
            assert_eq!(
                db.scalar("SELECT count(*) FROM schema_migrations WHERE component = 'ledger'"),
                applied,
                "nothing applied twice"
            );
            db.scalar(
                "INSERT INTO schema_migrations (component, version)
                 VALUES ('ledger', 99) RETURNING 99::bigint",
            );
            let err = db.try_store().err().unwrap();
            assert!(err.to_string().contains("newer than this build"), "{err}");
        });
    }

    /// Two transactions that lock two accounts in opposite orders
    /// deadlock; PostgreSQL aborts one, and the store runs it again.
    #[test]
    fn a_deadlocked_transaction_is_run_again() {
        backends::postgres(|db| {
            let (one, two) = (db.store(), db.store());
            let runs = AtomicU64::new(0);
            let barrier = std::sync::Barrier::new(2);
            let both = |store: &Arc<dyn LedgerStore>, first: &str, second: &str| {
                let mut waited = false;
                store
                    .transaction(true, &mut |tx: &mut dyn LedgerTransaction| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tx.credit(first, &format!("{first}-{second}-1"), Money::from_nanos(1))?
                            .unwrap();
                        if !waited {
                            waited = true;
                            barrier.wait();
                        }
                        tx.credit(second, &format!("{first}-{second}-2"), Money::from_nanos(1))?
                            .unwrap();
                        Ok(())
                    })
                    .unwrap();
            };
            std::thread::scope(|s| {
                s.spawn(|| both(&one, "x", "y"));
                s.spawn(|| both(&two, "y", "x"));
            });
            assert_eq!(runs.load(Ordering::SeqCst), 3, "one of them ran twice");
            assert_eq!(one.balance("x").unwrap().balance.nanos(), 2);
            assert_eq!(two.balance("y").unwrap().balance.nanos(), 2);
        });
    }

    /// Connections the server ended (a restart, an idle timeout) are
    /// replaced: the next read and the next batch succeed.
    #[test]
    fn connections_the_server_ended_are_replaced() {
        backends::postgres(|db| {
            let l = instance(db);
            credit(&l, "u", "c", "0.000001").unwrap();
            reserve(&l, "u", "r1", 600).unwrap();
            // Several idle connections in the pool, all ended at once (a
            // server restart).
            std::thread::scope(|s| {
                for _ in 0..6 {
                    s.spawn(|| {
                        for _ in 0..20 {
                            l.balance("u").unwrap();
                        }
                    });
                }
            });
            let ended = db.scalar(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE application_name = current_setting('search_path')
                   AND pid <> pg_backend_pid()",
            );
            assert!(ended >= 2, "the ledger's connections were ended: {ended}");
            assert_eq!(l.balance("u").unwrap().reserved.nanos(), 600);
            // A reservation made alone, on a new connection too.
            assert_eq!(reserve(&l, "u", "r2", 100).unwrap(), Idempotent::Applied);
            assert_eq!(l.release("r2").wait_blocking().unwrap(), Released::Applied);
            assert_eq!(settle(&l, "u", "r1", 250).unwrap(), Idempotent::Applied);
            assert_eq!(settle(&l, "u", "r1", 250).unwrap(), Idempotent::Duplicate);
            let b = l.balance("u").unwrap();
            assert_eq!((b.balance.nanos(), b.reserved.nanos()), (750, 0));
            l.shutdown();
        });
    }

    /// More concurrent readers than the pool opens connections: they take
    /// turns.
    #[test]
    fn more_readers_than_connections_take_turns() {
        backends::postgres(|db| {
            let l = instance(db);
            credit(&l, "u", "c", "1.00").unwrap();
            std::thread::scope(|s| {
                for _ in 0..24 {
                    s.spawn(|| {
                        for _ in 0..20 {
                            assert_eq!(l.balance("u").unwrap().balance.to_string(), "1.00");
                        }
                    });
                }
            });
            let open = db.scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE application_name = current_setting('search_path')
                   AND pid <> pg_backend_pid()",
            );
            assert!(open <= 8, "{open} connections");
            l.shutdown();
        });
    }

    /// The store behind one lock: what a single shared connection would
    /// be (a read waits for the writer's transaction, and the reverse).
    struct OneConnection(std::sync::Mutex<()>);

    impl Hook for OneConnection {
        fn enter(&self, _call: Call) -> Result<Option<std::sync::MutexGuard<'_, ()>>, LedgerError> {
            Ok(Some(self.0.lock().unwrap()))
        }
        fn reserves_alone(&self, inner: &dyn LedgerStore) -> bool {
            inner.reserves_alone()
        }
    }

    /// The store with its reservations in the writer's batches (as before
    /// they were made alone): the hook's defaults.
    struct OnTheWriter;

    impl Hook for OnTheWriter {}

    /// Settlements through the writer while two threads read balances
    /// (about one read per millisecond each):
    /// the pool against one shared connection (figures in
    /// docs/postgres.md). Run with `--ignored --nocapture`.
    #[test]
    #[ignore = "a measurement"]
    fn measure_the_pool_against_one_connection() {
        use std::time::{Duration, Instant};
        backends::postgres(|db| {
            for (name, store) in [
                ("pool", db.store()),
                (
                    "one connection",
                    Arc::new(Wrapped {
                        inner: db.store(),
                        hook: OneConnection(std::sync::Mutex::new(())),
                    }) as Arc<dyn LedgerStore>,
                ),
            ] {
                let l = Ledger::new(store, &config(Reservations::Store)).unwrap();
                credit(&l, "u", &format!("c-{name}"), "100.00").unwrap();
                let done = std::sync::atomic::AtomicBool::new(false);
                let started = Instant::now();
                let (reads, writes) = std::thread::scope(|s| {
                    let readers: Vec<_> = (0..2)
                        .map(|_| {
                            s.spawn(|| {
                                let mut took = Vec::new();
                                while !done.load(Ordering::Relaxed) {
                                    let t = Instant::now();
                                    l.balance("u").unwrap();
                                    took.push(t.elapsed());
                                    // A read every millisecond or so, as
                                    // requests would (not a busy loop).
                                    std::thread::sleep(Duration::from_millis(1));
                                }
                                took
                            })
                        })
                        .collect();
                    let writers: Vec<_> = (0..8)
                        .map(|w| {
                            let (l, name) = (&l, name);
                            s.spawn(move || {
                                for i in 0..100 {
                                    let id = format!("{name}-{w}-{i}");
                                    reserve(l, "u", &id, 1000).unwrap();
                                    settle(l, "u", &id, 700).unwrap();
                                }
                            })
                        })
                        .collect();
                    for w in writers {
                        w.join().unwrap();
                    }
                    let writes = started.elapsed();
                    done.store(true, Ordering::Relaxed);
                    let mut reads: Vec<Duration> = readers
                        .into_iter()
                        .flat_map(|r| r.join().unwrap())
                        .collect();
                    reads.sort();
                    (reads, writes)
                });
                let at = |percent: usize| reads[(reads.len() - 1) * percent / 100];
                backends::say(&format!(
                    "{name}: 800 reserve+settle in {writes:?}; {} balance reads, p50 {:?}, p99 {:?}, max {:?}",
                    reads.len(),
                    at(50),
                    at(99),
                    at(100)
                ));
                l.shutdown();
            }
        });
    }

    /// What a request waits for before its upstream call: a reservation in
    /// memory (one instance) against one in the database (several), made
    /// alone or (as before) in the writer's batches, with the settlement
    /// detached as on the request path. Run with `--ignored --nocapture`.
    #[test]
    #[ignore = "a measurement"]
    fn measure_reservations_in_memory_against_in_the_store() {
        use std::time::{Duration, Instant};
        backends::postgres(|db| {
            for (name, mode, on_the_writer) in [
                ("in memory", Reservations::InMemory, false),
                ("in the store, on the writer", Reservations::Store, true),
                ("in the store, alone", Reservations::Store, false),
            ] {
                let store = if on_the_writer {
                    Arc::new(Wrapped {
                        inner: db.store(),
                        hook: OnTheWriter,
                    })
                } else {
                    db.store()
                };
                let l = Ledger::new(store, &config(mode)).unwrap();
                credit(&l, "u", &format!("c-{name}"), "100.00").unwrap();
                reserve(&l, "u", &format!("warm-{name}"), 1).unwrap(); // loads the account
                let started = Instant::now();
                let mut took: Vec<Duration> = std::thread::scope(|s| {
                    let threads: Vec<_> = (0..8)
                        .map(|w| {
                            let l = &l;
                            s.spawn(move || {
                                let mut took = Vec::new();
                                for i in 0..100 {
                                    let id = format!("{name}-{w}-{i}");
                                    let t = Instant::now();
                                    reserve(l, "u", &id, 1000).unwrap();
                                    took.push(t.elapsed());
                                    l.settle(entry("u", &id, 700)).detach();
                                }
                                took
                            })
                        })
                        .collect();
                    threads
                        .into_iter()
                        .flat_map(|t| t.join().unwrap())
                        .collect()
                });
                let elapsed = started.elapsed();
                took.sort();
                let at = |percent: usize| took[(took.len() - 1) * percent / 100];
                backends::say(&format!(
                    "{name}: 800 requests (reserve, settle detached) in {elapsed:?}; reserve p50 {:?}, p99 {:?}, max {:?}",
                    at(50),
                    at(99),
                    at(100)
                ));
                l.shutdown();
            }
        });
    }
}
