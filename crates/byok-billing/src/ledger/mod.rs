//! The ledger: balances, reservations and charges, exact and idempotent.
//!
//! # Flow
//!
//! 1. Before calling upstream, **reserve** ([`Ledger::reserve`]) the most
//!    the markup could be ([`crate::max_markup`]). The reservation fails
//!    with [`ReserveError::InsufficientBalance`] when `balance − reserved −
//!    amount` would fall below the floor; nothing is sent upstream then.
//! 2. While the request lives (a long stream), **extend** its reservation
//!    ([`Ledger::extend`]) before its deadline, so that it is not swept.
//! 3. Afterwards, **settle** ([`Ledger::settle`]): the reservation is
//!    removed and the real markup is charged, with the ledger entry written
//!    in the same transaction. Settling is idempotent by request id: a
//!    retry never charges twice. A charge never depends on its reservation
//!    still existing: if it expired and was swept, or was released at a
//!    restart, the charge is recorded all the same (issue #14, finding 1).
//! 4. On failure, **release** the reservation ([`Ledger::release`]).
//!    Reservations that outlive their deadline (a crashed request) are
//!    released by [`Ledger::sweep`] (or the sweeper thread,
//!    [`LedgerConfig::sweep_interval`]); a single-process deployment
//!    releases all of them at start-up ([`LedgerConfig::release_on_open`]).
//!
//! Because a reservation is an upper bound of its charge, the balance never
//! goes below the floor, whatever the concurrency, as long as reservations
//! live as long as their requests. A charge whose reservation was swept is
//! still owed and may take the balance below the floor (even below zero):
//! the next reservations are then refused until a credit. Credits
//! ([`Ledger::credit`]) are idempotent by request id too.
//!
//! # Expiry, and why reservations keep one
//!
//! A reservation has a deadline, and the caller extends it while the
//! request lives, rather than reservations living until settled: a
//! deadline is what releases the reservation of a request that crashed
//! without releasing it (with [`Reservations::Store`], one of several
//! processes that died), without a restart. The cost is one cheap call per
//! extension period and request ([`Ledger::extend`]: a map update in
//! memory; with [`Reservations::Store`], a non-durable write batched on the
//! writer). Forgetting to extend no longer makes a request free (the
//! charge is recorded without its reservation); it only frees the held
//! amount early, so concurrent requests may overdraw by up to that amount.
//!
//! # Reading your own writes
//!
//! [`Ledger::usage`] first waits for the charges of that account that were
//! queued before the call (at most the commit window,
//! [`LedgerConfig::commit_delay`], plus one commit), so an entry whose
//! answer was sent is listed; other accounts' charges are not waited for,
//! and settling never waits.
//!
//! # Where reservations live
//!
//! By default ([`Reservations::InMemory`]) reservations are held in this
//! process's memory: reserving is a check and an update under one lock
//! against a cached view of each account (committed balance, charges not
//! yet committed, open reservations), with no database write and no wait
//! for the writer thread, so the request path pays nothing before its
//! upstream call. Settling moves the reservation's place to the charge in
//! the same lock, then queues the charge. Reservations are void after a
//! restart anyway; a refusal re-reads the balance from the store first, so
//! credits written by another process are seen. For several processes that
//! reserve against one database, [`Reservations::Store`] keeps them in the
//! store: checked and written in one transaction on the writer, or, where
//! the store makes them alone ([`LedgerStore::reserves_alone`]:
//! PostgreSQL), as one statement on a connection of its own, committed
//! without waiting for the writer's batch (`reserving`).
//!
//! # Batching
//!
//! All writes go through one writer thread that commits queued writes in
//! batches (one [`LedgerStore::transaction`], one `fsync`, for up to
//! [`LedgerConfig::max_batch`] writes, gathered for up to
//! [`LedgerConfig::commit_delay`] when the batch moves money); each caller
//! is answered after the commit that contains its write. Settling and
//! releasing return a [`Pending`] write: wait for it, or
//! [`detach`](Pending::detach) it, which is what the request path does (it
//! does not wait for the commit). Shutting down ([`Ledger::shutdown`])
//! drains the queue first, so nothing acknowledged or queued is lost.
//! While it keeps up with its queue, the writer yields its core every few
//! writes of a batch, so that a batch's burst of CPU does not hold up the
//! threads serving requests on a host with few cores.
//!
//! # Modules
//!
//! `store` (the [`LedgerStore`] trait and what it stores), `copy`
//! ([`copy_ledger`], a ledger copied into an empty store), `sqlite` (the
//! SQLite store), `postgres` (the PostgreSQL store, feature `postgres`:
//! several instances on one database), `reservations` (the in-memory reservations), `reserving`
//! (reservations made alone, in the store), `writer`
//! (the writer and sweeper threads), `pending` (the [`Pending`] handle),
//! `queued` (charges queued per account, for reading one's own writes),
//! `error` (one error type per operation).

mod copy;
mod error;
mod pending;
#[cfg(feature = "postgres")]
mod postgres;
mod queued;
mod reservations;
mod reserving;
mod sqlite;
mod store;
mod writer;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use futures_channel::oneshot;

#[cfg(feature = "postgres")]
pub use self::postgres::PostgresLedgerStore;
pub use copy::{LedgerCopyError, LedgerCopyReport, copy_ledger};
pub use error::{CreditError, LedgerError, ReserveError, SettleError};
pub use pending::Pending;
pub use sqlite::SqliteLedger;
pub use store::{
    AccountRow, Attempt, Balance, EntryRow, Extended, Idempotent, LedgerCounts, LedgerEntry,
    LedgerStore, LedgerTransaction, Outcome, Released, StoredEntry,
};

use pending::block_on;
use queued::QueuedCharges;
use reservations::{Held, lock};
use reserving::Reserving;
use writer::{Answer, Job, Queue, WriterConfig};

use crate::money::Money;
use crate::time::now_ms;

/// The longest a usage read waits for its account's queued charges (then
/// it reads what is committed).
const READ_YOUR_WRITES_WAIT: Duration = Duration::from_secs(5);

/// Where reservations are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Reservations {
    /// In this process's memory: reserving, releasing and sweeping are map
    /// updates under one lock, with no database write and no wait for the
    /// writer thread; only charges and credits are written (and settling
    /// still removes the reservation and holds the charge against the
    /// balance before its commit, so the balance never goes below the
    /// floor while each reservation lives as long as its request, see
    /// [`Ledger::extend`]). Balances are cached per account: loaded from the store on
    /// first use, updated by this ledger's own commits, and read again from
    /// the store before a reservation is refused (so a credit written by
    /// another process, such as the CLI, is seen). Right for one process
    /// that owns the ledger: reservations are void after a restart anyway.
    /// Two differences from [`Reservations::Store`]: reserving a request id
    /// that was already settled is [`Idempotent::Applied`] (its settlement
    /// is then a [`Idempotent::Duplicate`]: nothing is charged twice), and
    /// [`Ledger::balance`] reports the committed balance, not counting
    /// charges still queued.
    #[default]
    InMemory,
    /// In the store, checked and written in the same transaction as the
    /// balance: for several processes that reserve against one database.
    /// On PostgreSQL a reservation is one statement committed on its own
    /// (not durably: about one round trip), on one of a few threads of
    /// the ledger's own, rather than in the writer's next batch; a
    /// reservation that does not fit is asked again on the writer, after
    /// this ledger's queued releases and settlements.
    Store,
}

/// Ledger settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LedgerConfig {
    /// Most writes per transaction. Default 512.
    pub max_batch: usize,
    /// The lowest balance a reservation may leave. Default zero.
    pub floor: Money,
    /// Release every reservation when opening (right for one process that
    /// owns the database: reservations of a crashed run are void). Default true.
    pub release_on_open: bool,
    /// Run a sweeper thread that releases expired reservations this often
    /// (a live request keeps its reservation with [`Ledger::extend`]).
    /// Default 30 s; `None` leaves sweeping to the caller ([`Ledger::sweep`]).
    pub sweep_interval: Option<Duration>,
    /// Where reservations are kept. Default [`Reservations::InMemory`].
    pub reservations: Reservations,
    /// Group commit: when a batch holds a charge or credit, wait up to this
    /// long for more writes before committing, so one transaction and
    /// one `fsync` carry many of them (a charge alone dirties ~4 pages:
    /// committed one by one, a busy gateway wrote ~20 KB to the WAL per
    /// request). Callers that wait for a commit ([`Ledger::credit`],
    /// [`Pending::wait`]) wait this much longer; a settlement on the
    /// request path, detached, does not wait at all. Default 10 ms (the
    /// best tail latency of the windows measured in
    /// `docs/performance.md`: shorter means more `fsync`s, longer bigger
    /// bursts of writer CPU; measured in round one, before the writer
    /// yielded its core during a batch, round eight).
    pub commit_delay: Duration,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            max_batch: 512,
            floor: Money::ZERO,
            release_on_open: true,
            sweep_interval: Some(Duration::from_secs(30)),
            reservations: Reservations::InMemory,
            commit_delay: Duration::from_millis(10),
        }
    }
}

/// The ledger: a store, its batching writer thread and (by default) the
/// in-memory reservations. Cheap to clone; every clone is the same ledger.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<dyn LedgerStore>,
    held: Option<Arc<Mutex<Held>>>,
    /// Reservations made alone ([`Reservations::Store`] on a store that
    /// [`reserves_alone`](LedgerStore::reserves_alone)).
    reserving: Option<Arc<Reserving>>,
    queued: Arc<QueuedCharges>,
    floor: Money,
    tx: Arc<Mutex<Option<Queue>>>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens a SQLite ledger and starts its writer.
    ///
    /// # Errors
    /// Storage failure.
    pub fn open_sqlite(path: impl AsRef<Path>, config: &LedgerConfig) -> Result<Self, LedgerError> {
        let store = SqliteLedger::open(path, config.floor)?;
        Self::new(Arc::new(store), config)
    }

    /// Opens a PostgreSQL ledger (running its migrations) and starts its
    /// writer. Several instances on one database need
    /// [`Reservations::Store`] and `release_on_open: false` (releasing at
    /// open would release the other instances' live reservations; expired
    /// ones are swept).
    ///
    /// # Errors
    /// Storage failure (see [`PostgresLedgerStore::open`]).
    #[cfg(feature = "postgres")]
    pub fn open_postgres(url: &str, config: &LedgerConfig) -> Result<Self, LedgerError> {
        let store = PostgresLedgerStore::open(url, config.floor)?;
        Self::new(Arc::new(store), config)
    }

    /// Starts a writer over `store`.
    ///
    /// # Errors
    /// Storage failure while releasing stale reservations, or if the writer
    /// thread cannot start.
    pub fn new(store: Arc<dyn LedgerStore>, config: &LedgerConfig) -> Result<Self, LedgerError> {
        if config.release_on_open {
            store.release_all()?;
        }
        let held = match config.reservations {
            Reservations::InMemory => Some(Arc::new(Mutex::new(Held::default()))),
            Reservations::Store => None,
        };
        let queued = Arc::new(QueuedCharges::default());
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let writer = writer::spawn_writer(
            rx,
            Arc::clone(&store),
            held.clone(),
            Arc::clone(&queued),
            WriterConfig {
                floor: config.floor,
                max_batch: config.max_batch.max(1),
                commit_delay: config.commit_delay,
            },
        )?;
        let tx = Arc::new(Mutex::new(Some(tx)));
        let reserving = if config.reservations == Reservations::Store && store.reserves_alone() {
            let (tx, queued) = (Arc::clone(&tx), Arc::clone(&queued));
            let enqueue = Arc::new(move |job| enqueue(&tx, None, &queued, job));
            Some(Arc::new(Reserving::start(&store, enqueue)?))
        } else {
            None
        };
        let ledger = Self {
            store,
            held,
            reserving,
            queued,
            floor: config.floor,
            tx,
            writer: Arc::new(Mutex::new(Some(writer))),
        };
        if let Some(interval) = config.sweep_interval {
            writer::spawn_sweeper(
                interval,
                Arc::downgrade(&ledger.tx),
                ledger.held.as_ref().map(Arc::downgrade),
            )?;
        }
        Ok(ledger)
    }

    /// Reserves `amount` (the most the request's markup can be) of
    /// `account`'s balance for `request_id`, until `expires_at_ms` (after
    /// which the sweeper may release it). With [`Reservations::InMemory`]
    /// it is decided in memory, without waiting for the writer, once the
    /// account is loaded; with [`Reservations::Store`] on PostgreSQL, by
    /// one statement of its own (see [`Reservations::Store`]). Reserving a
    /// request id again is a [`Idempotent::Duplicate`].
    ///
    /// # Errors
    /// [`ReserveError::InsufficientBalance`] when it does not fit (nothing
    /// is held), [`ReserveError::InvalidAmount`] for a negative amount,
    /// storage failure, or [`ReserveError::WriterGone`] after
    /// [`Ledger::shutdown`].
    pub async fn reserve(
        &self,
        account: &str,
        request_id: &str,
        amount: Money,
        expires_at_ms: i64,
    ) -> Result<Idempotent, ReserveError> {
        let Some(held) = &self.held else {
            if let Some(reserving) = &self.reserving {
                return reserving
                    .reserve(account, request_id, amount, expires_at_ms)
                    .wait()
                    .await;
            }
            return self
                .queue(|answer| Job::Reserve {
                    account: account.to_owned(),
                    request_id: request_id.to_owned(),
                    amount,
                    expires_at_ms,
                    answer,
                })
                .wait()
                .await;
        };
        if amount.is_negative() {
            return Err(ReserveError::InvalidAmount);
        }
        if !self.is_open() {
            return Err(ReserveError::WriterGone);
        }
        let amount = amount.nanos();
        match lock(held).try_reserve(self.floor, account, request_id, amount, expires_at_ms) {
            Some(Ok(outcome)) => return Ok(outcome),
            Some(Err(e)) if !matches!(e, ReserveError::InsufficientBalance { .. }) => {
                return Err(e);
            }
            // Not loaded, or maybe credited by another process: read the
            // balance on the writer, then decide.
            _ => {}
        }
        let (reply, answer) = oneshot::channel();
        self.enqueue(Job::LoadAndReserve {
            account: account.to_owned(),
            request_id: request_id.to_owned(),
            amount,
            expires_at_ms,
            reply,
        });
        Pending::queued(answer).wait().await
    }

    /// [`Ledger::reserve`], blocking the thread (not on an async worker).
    ///
    /// # Errors
    /// As [`Ledger::reserve`].
    pub fn reserve_blocking(
        &self,
        account: &str,
        request_id: &str,
        amount: Money,
        expires_at_ms: i64,
    ) -> Result<Idempotent, ReserveError> {
        block_on(self.reserve(account, request_id, amount, expires_at_ms))
    }

    /// Settles a request: removes its reservation and records its charge
    /// (`entry.markup`, at most what was reserved), idempotently by request
    /// id (a retry is a [`Idempotent::Duplicate`] and charges nothing). The
    /// charge never depends on the reservation still existing: if it is
    /// gone (expired and swept, released at a restart), the charge is
    /// recorded all the same, in full, even below the floor (it is owed
    /// for service delivered). The charge is queued: with
    /// [`Reservations::InMemory`] the reservation's place goes to the
    /// charge at once, so the balance is held until the commit.
    ///
    /// The returned [`Pending`] resolves after the commit; the request path
    /// [detaches](Pending::detach) it.
    ///
    /// Errors of the [`Pending`]: [`SettleError::InvalidAmount`] for a
    /// negative amount, [`SettleError::NoReservation`] when the request's
    /// in-memory reservation belongs to another account, storage failure
    /// (the reservation is then held again, so the settlement can be
    /// retried), or [`SettleError::WriterGone`].
    pub fn settle(&self, entry: LedgerEntry) -> Pending<Idempotent, SettleError> {
        let settling = match &self.held {
            Some(held) => {
                if entry.has_negative_amount() {
                    return Pending::ready(Err(SettleError::InvalidAmount));
                }
                // After shutdown the queue refuses the charge, and the
                // refusal puts the reservation back.
                match lock(held).start_settling(&entry) {
                    Ok(s) => Some(s),
                    Err(e) => return Pending::ready(Err(e)),
                }
            }
            None => None,
        };
        // Counted before it is queued, so a usage read after this returns
        // waits for it.
        self.queued.queued(&entry.account);
        self.queue_after_reserving(|answer| Job::Settle {
            entry: Box::new(entry),
            settling,
            answer,
        })
    }

    /// Releases a request's reservation (the request failed, or was not
    /// charged). With [`Reservations::InMemory`] it is done at once.
    ///
    /// Errors of the [`Pending`]: storage failure, or
    /// [`LedgerError::WriterGone`] after [`Ledger::shutdown`].
    pub fn release(&self, request_id: &str) -> Pending<Released, LedgerError> {
        let Some(held) = &self.held else {
            return self.queue_after_reserving(|answer| Job::Release {
                request_id: request_id.to_owned(),
                answer,
            });
        };
        if !self.is_open() {
            return Pending::ready(Err(LedgerError::WriterGone));
        }
        Pending::ready(Ok(lock(held).release(request_id)))
    }

    /// Keeps a live request's reservation from expiring: moves its deadline
    /// to `expires_at_ms` (never earlier). Call it while a request (a long
    /// stream) lives, well before the deadline, e.g. every few minutes for
    /// a 15-minute deadline. With [`Reservations::InMemory`] it is a map
    /// update, done at once; with [`Reservations::Store`] a non-durable
    /// write on the writer (detach it on the request path).
    ///
    /// Errors of the [`Pending`]: storage failure, or
    /// [`LedgerError::WriterGone`] after [`Ledger::shutdown`].
    pub fn extend(&self, request_id: &str, expires_at_ms: i64) -> Pending<Extended, LedgerError> {
        let Some(held) = &self.held else {
            return self.queue_after_reserving(|answer| Job::Extend {
                request_id: request_id.to_owned(),
                expires_at_ms,
                answer,
            });
        };
        if !self.is_open() {
            return Pending::ready(Err(LedgerError::WriterGone));
        }
        Pending::ready(Ok(lock(held).extend(request_id, expires_at_ms)))
    }

    /// Adds `amount` to `account`'s balance, idempotently by `request_id`
    /// (a retry is a [`Idempotent::Duplicate`]); returns after the commit.
    ///
    /// # Errors
    /// [`CreditError::InvalidAmount`] for a negative amount or one that
    /// would overflow the balance, storage failure, or
    /// [`CreditError::WriterGone`] after [`Ledger::shutdown`].
    pub async fn credit(
        &self,
        account: &str,
        request_id: &str,
        amount: Money,
    ) -> Result<Idempotent, CreditError> {
        self.queue(|answer| Job::Credit {
            account: account.to_owned(),
            request_id: request_id.to_owned(),
            amount,
            answer,
        })
        .wait()
        .await
    }

    /// [`Ledger::credit`], blocking the thread (for the CLI; not on an
    /// async worker).
    ///
    /// # Errors
    /// As [`Ledger::credit`].
    pub fn credit_blocking(
        &self,
        account: &str,
        request_id: &str,
        amount: Money,
    ) -> Result<Idempotent, CreditError> {
        block_on(self.credit(account, request_id, amount))
    }

    /// Releases the reservations that expired; returns how many. The
    /// sweeper thread does it every [`LedgerConfig::sweep_interval`].
    ///
    /// # Errors
    /// Storage failure, or [`LedgerError::WriterGone`] after
    /// [`Ledger::shutdown`] (with [`Reservations::Store`]).
    pub async fn sweep(&self) -> Result<u64, LedgerError> {
        let now_ms = now_ms();
        match &self.held {
            Some(held) => Ok(lock(held).sweep(now_ms)),
            None => {
                self.queue(|answer| Job::Sweep { now_ms, answer })
                    .wait()
                    .await
            }
        }
    }

    /// [`Ledger::sweep`], blocking the thread.
    ///
    /// # Errors
    /// As [`Ledger::sweep`].
    pub fn sweep_blocking(&self) -> Result<u64, LedgerError> {
        block_on(self.sweep())
    }

    /// The account's balance and reservations (a blocking read of the
    /// store; call off async workers). Zero for unknown accounts.
    ///
    /// # Errors
    /// Storage failure.
    pub fn balance(&self, account: &str) -> Result<Balance, LedgerError> {
        let mut b = self.store.balance(account)?;
        if let Some(held) = &self.held {
            b.reserved = lock(held).reserved(account);
        }
        Ok(b)
    }

    /// The account's charges, newest first: at most `limit`, with
    /// `seq < before` when given (page with the last entry's
    /// [`StoredEntry::seq`]). A blocking read of the store (call off async
    /// workers) that reads its own writes: it first waits for this
    /// account's charges queued before the call (settled but not committed
    /// yet: at most the commit window, [`LedgerConfig::commit_delay`], plus
    /// a commit; 5 s at most if the writer is stuck), so a request whose
    /// answer was sent is listed. Other accounts' charges are not waited
    /// for, and settling never waits.
    ///
    /// # Errors
    /// Storage failure.
    pub fn usage(
        &self,
        account: &str,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<StoredEntry>, LedgerError> {
        self.queued.wait_for(account, READ_YOUR_WRITES_WAIT);
        self.store.usage(account, limit, before)
    }

    /// Stops accepting writes, commits everything queued, and waits for
    /// the writer. Writes after it fail with `WriterGone`.
    pub fn shutdown(&self) {
        // First the reservations being made alone: the writes held back
        // behind them are then on the writer's queue.
        if let Some(reserving) = &self.reserving {
            reserving.shutdown();
        }
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = handle.join();
        }
    }

    /// Queues the job `make` builds around an answer channel.
    fn queue<T, E: From<LedgerError>>(
        &self,
        make: impl FnOnce(Answer<T, E>) -> Job,
    ) -> Pending<T, E> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(make(Answer::new(reply)));
        Pending::queued(answer)
    }

    /// [`Ledger::queue`] for a write of a request id: held back while its
    /// reservation is being made alone, so that it sees it.
    fn queue_after_reserving<T, E: From<LedgerError>>(
        &self,
        make: impl FnOnce(Answer<T, E>) -> Job,
    ) -> Pending<T, E> {
        let Some(reserving) = &self.reserving else {
            return self.queue(make);
        };
        let (reply, answer) = oneshot::channel();
        if let Some(job) = reserving.hold_back(make(Answer::new(reply))) {
            self.enqueue(job);
        }
        Pending::queued(answer)
    }

    /// Hands `job` to the writer; after shutdown it is refused at once.
    fn enqueue(&self, job: Job) {
        enqueue(&self.tx, self.held.as_deref(), &self.queued, job);
    }

    fn is_open(&self) -> bool {
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

/// Hands `job` to the writer's queue `tx`; after shutdown it is refused at
/// once (putting back what an in-memory settlement moved in `held`).
fn enqueue(
    tx: &Mutex<Option<Queue>>,
    held: Option<&Mutex<Held>>,
    queued: &QueuedCharges,
    job: Job,
) {
    let guard = tx.lock().unwrap_or_else(PoisonError::into_inner);
    let refused = match guard.as_ref() {
        Some(tx) => tx.send(job).err().map(|e| e.0),
        None => Some(job),
    };
    drop(guard);
    if let Some(job) = refused {
        job.refuse(held, queued);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    /// The async methods can run on a multi-threaded executor (their
    /// futures hold no lock across an await).
    #[test]
    fn futures_are_send() {
        fn send<T: Send>(_: &T) {}
        fn send_and_sync<T: Send + Sync>() {}
        send_and_sync::<Ledger>();
        let dir = tempfile::tempdir().unwrap();
        let ledger =
            Ledger::open_sqlite(dir.path().join("ledger.db"), &LedgerConfig::default()).unwrap();
        send(&ledger.reserve("a", "r", Money::ZERO, 0));
        send(&ledger.credit("a", "c", Money::ZERO));
        send(&ledger.sweep());
        send(&ledger.release("r").wait());
        ledger.shutdown();
    }
}
