//! The writer thread: applies queued writes in batches, one store
//! transaction (and one `fsync`) per batch, with group commit; then decides
//! the in-memory reservations that needed a balance read. And the sweeper
//! thread.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use futures_channel::oneshot;

use super::error::{CreditError, LedgerError, ReserveError, SettleError};
use super::queued::QueuedCharges;
use super::reservations::{Held, Settling, lock};
use super::store::{Extended, Idempotent, LedgerEntry, LedgerStore, LedgerTransaction, Released};
use crate::money::Money;
use crate::time::now_ms;

/// Where a caller waits for its write.
pub(super) type Reply<T, E> = oneshot::Sender<Result<T, E>>;

/// The writer's queue.
pub(super) type Queue = crossbeam_channel::Sender<Job>;

/// A caller's reply and, once its write ran in a transaction, the result
/// (sent after the commit).
#[derive(Debug)]
pub(super) struct Answer<T, E> {
    reply: Reply<T, E>,
    result: Option<Result<T, E>>,
}

impl<T, E: From<LedgerError>> Answer<T, E> {
    pub(super) fn new(reply: Reply<T, E>) -> Self {
        Self {
            reply,
            result: None,
        }
    }

    /// The committed result, unless the transaction failed.
    fn committed(&self, failure: Option<&LedgerError>) -> Option<&Result<T, E>> {
        if failure.is_some() {
            None
        } else {
            self.result.as_ref()
        }
    }

    fn send(self, failure: Option<&LedgerError>) {
        let result = match (failure, self.result) {
            (Some(e), _) => Err(e.clone().into()),
            (None, Some(result)) => result,
            (None, None) => Err(LedgerError::WriterGone.into()),
        };
        let _ = self.reply.send(result);
    }
}

/// Work for the writer thread (private: the ledger's methods queue it).
#[derive(Debug)]
pub(super) enum Job {
    /// Adds credit.
    Credit {
        account: String,
        request_id: String,
        amount: Money,
        answer: Answer<Idempotent, CreditError>,
    },
    /// Reserves in the store ([`super::Reservations::Store`]).
    Reserve {
        account: String,
        request_id: String,
        amount: Money,
        expires_at_ms: i64,
        answer: Answer<Idempotent, ReserveError>,
    },
    /// Settles: a charge whose reservation this ledger held in memory
    /// (`settling`: what it moved, to finish or undo once written), or a
    /// settlement against the store's reservations.
    Settle {
        entry: Box<LedgerEntry>,
        settling: Option<Settling>,
        answer: Answer<Idempotent, SettleError>,
    },
    /// Releases a reservation held in the store.
    Release {
        request_id: String,
        answer: Answer<Released, LedgerError>,
    },
    /// Moves a reservation's deadline in the store.
    Extend {
        request_id: String,
        expires_at_ms: i64,
        answer: Answer<Extended, LedgerError>,
    },
    /// Releases the store's reservations that expired before `now_ms`.
    Sweep {
        now_ms: i64,
        answer: Answer<u64, LedgerError>,
    },
    /// An in-memory reservation that memory could not decide (account not
    /// loaded yet, or the cached balance looks too low): read the balance
    /// after the batch's commit, then decide.
    LoadAndReserve {
        account: String,
        request_id: String,
        amount: i64,
        expires_at_ms: i64,
        reply: Reply<Idempotent, ReserveError>,
    },
}

impl Job {
    /// The account of a queued charge ([`QueuedCharges`]).
    fn charged_account(&self) -> Option<&str> {
        match self {
            Job::Settle { entry, .. } => Some(&entry.account),
            _ => None,
        }
    }

    /// Whether the write moves money (its transaction must be durable, and
    /// is worth gathering others for).
    fn moves_money(&self) -> bool {
        matches!(self, Job::Credit { .. } | Job::Settle { .. })
    }

    /// Runs the write in `tx`, keeping its result for after the commit.
    fn apply(&mut self, tx: &mut dyn LedgerTransaction) -> Result<(), LedgerError> {
        match self {
            Job::Credit {
                account,
                request_id,
                amount,
                answer,
            } => answer.result = Some(tx.credit(account, request_id, *amount)?),
            Job::Reserve {
                account,
                request_id,
                amount,
                expires_at_ms,
                answer,
            } => answer.result = Some(tx.reserve(account, request_id, *amount, *expires_at_ms)?),
            Job::Settle {
                entry,
                settling,
                answer,
            } => {
                answer.result = Some(if settling.is_some() {
                    tx.charge(entry)?
                } else {
                    tx.settle(entry)?
                });
            }
            Job::Release { request_id, answer } => {
                answer.result = Some(Ok(tx.release(request_id)?));
            }
            Job::Extend {
                request_id,
                expires_at_ms,
                answer,
            } => answer.result = Some(Ok(tx.extend(request_id, *expires_at_ms)?)),
            Job::Sweep { now_ms, answer } => answer.result = Some(Ok(tx.sweep(*now_ms)?)),
            Job::LoadAndReserve { .. } => {}
        }
        Ok(())
    }

    /// After the transaction (`failure` when it was not committed): brings
    /// the in-memory view up to date.
    fn follow(&mut self, held: &mut Held, failure: Option<&LedgerError>) {
        match self {
            Job::Credit {
                account,
                amount,
                answer,
                ..
            } => {
                if matches!(answer.committed(failure), Some(Ok(Idempotent::Applied))) {
                    held.credited(account, *amount);
                }
            }
            Job::Settle {
                entry,
                settling,
                answer,
            } => {
                let result = answer.committed(failure);
                if let Some(s) = settling.take() {
                    held.finish_settling(s, &entry.account, matches!(result, Some(Ok(_))));
                }
                if matches!(result, Some(Ok(Idempotent::Applied))) {
                    held.charged(&entry.account, entry.markup);
                }
            }
            _ => {}
        }
    }

    /// Answers the caller: the result, or `failure`.
    fn reply(self, failure: Option<&LedgerError>) {
        match self {
            Job::Credit { answer, .. } => answer.send(failure),
            Job::Reserve { answer, .. } => answer.send(failure),
            Job::Settle { answer, .. } => answer.send(failure),
            Job::Release { answer, .. } => answer.send(failure),
            Job::Extend { answer, .. } => answer.send(failure),
            Job::Sweep { answer, .. } => answer.send(failure),
            Job::LoadAndReserve { reply, .. } => {
                let _ = reply.send(Err(failure
                    .cloned()
                    .unwrap_or(LedgerError::WriterGone)
                    .into()));
            }
        }
    }

    /// Answers a job that was never run (the writer has shut down), putting
    /// back what an in-memory settlement moved.
    pub(super) fn refuse(mut self, held: Option<&Mutex<Held>>, queued: &QueuedCharges) {
        let gone = LedgerError::WriterGone;
        if let Some(held) = held {
            self.follow(&mut lock(held), Some(&gone));
        }
        queued.done(self.charged_account().into_iter());
        self.reply(Some(&gone));
    }
}

/// The writer's settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct WriterConfig {
    /// The lowest balance a reservation may leave.
    pub(super) floor: Money,
    /// Most writes per transaction (at least 1).
    pub(super) max_batch: usize,
    /// Group commit window.
    pub(super) commit_delay: Duration,
}

/// Starts the writer thread.
pub(super) fn spawn_writer(
    rx: crossbeam_channel::Receiver<Job>,
    store: Arc<dyn LedgerStore>,
    held: Option<Arc<Mutex<Held>>>,
    queued: Arc<QueuedCharges>,
    config: WriterConfig,
) -> Result<JoinHandle<()>, LedgerError> {
    std::thread::Builder::new()
        .name("byok-ledger".into())
        .spawn(move || {
            let shared = Shared {
                store: store.as_ref(),
                held: held.as_deref(),
                queued: &queued,
            };
            writer_loop(&rx, shared, config);
        })
        .map_err(|e| LedgerError::Store(format!("cannot start the ledger writer: {e}")))
}

/// What the writer thread works on.
#[derive(Clone, Copy)]
struct Shared<'a> {
    store: &'a dyn LedgerStore,
    held: Option<&'a Mutex<Held>>,
    queued: &'a QueuedCharges,
}

fn writer_loop(rx: &crossbeam_channel::Receiver<Job>, shared: Shared<'_>, config: WriterConfig) {
    let Shared { store, held, .. } = shared;
    let mut jobs = Vec::with_capacity(config.max_batch);
    let mut batch = Vec::with_capacity(config.max_batch);
    let mut loads = Vec::new();
    while let Ok(first) = rx.recv() {
        jobs.push(first);
        gather(rx, &mut jobs, config);
        for job in jobs.drain(..) {
            match job {
                Job::LoadAndReserve { .. } => loads.push(job),
                job => batch.push(job),
            }
        }
        if !batch.is_empty() {
            commit(shared, rx, &mut batch);
        }
        for job in loads.drain(..) {
            load_and_reserve(store, held, config.floor, job);
        }
    }
}

/// Takes what is queued, up to a batch; when the batch moves money, waits
/// up to the commit delay for more (group commit).
fn gather(rx: &crossbeam_channel::Receiver<Job>, jobs: &mut Vec<Job>, config: WriterConfig) {
    let max = config.max_batch;
    let take_queued = |jobs: &mut Vec<Job>| {
        while jobs.len() < max {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
    };
    take_queued(jobs);
    if !config.commit_delay.is_zero() && jobs.len() < max && jobs.iter().any(Job::moves_money) {
        // Sleep rather than wait on the queue: a sender then finds no
        // waiting receiver to wake, so queueing a settlement costs the
        // request path no system call.
        std::thread::sleep(config.commit_delay);
        take_queued(jobs);
    }
}

/// While it keeps up with its queue, the writer offers its core to any
/// waiting thread after every this many writes of a batch (`sched_yield`).
/// A batch is a burst of CPU (a few µs a charge, ~130 charges in a 10 ms
/// window at c=1); on a host with few cores, the threads a request wakes
/// meanwhile (the server's workers, and on one machine the client and the
/// upstream) could wait for the core the writer holds until its time slice
/// ended, which was most of the c=1 p99 (`docs/performance.md`, round
/// eight, measured on Linux 6.18's EEVDF scheduler). Yielding changes
/// nothing the batch writes: the same transaction, the same commit.
const YIELD_EVERY: usize = 8;

/// The writer does not yield while this many writes or more wait in its
/// queue: a yield on a busy host can cost it a whole time slice, and a
/// writer yielding unconditionally under saturation fell behind by
/// thousands of charges (later commits, and their memory held meanwhile);
/// under load it yields about once a batch, before the queue has refilled.
const YIELD_BACKLOG: usize = 8;

/// Applies `batch` in one transaction, follows it in memory, then answers
/// each caller (after the commit).
fn commit(shared: Shared<'_>, rx: &crossbeam_channel::Receiver<Job>, batch: &mut Vec<Job>) {
    let Shared {
        store,
        held,
        queued,
    } = shared;
    let durable = batch.iter().any(Job::moves_money);
    let failure = store
        .transaction(durable, &mut |tx| {
            batch.iter_mut().enumerate().try_for_each(|(i, job)| {
                if i > 0 && i % YIELD_EVERY == 0 && rx.len() < YIELD_BACKLOG {
                    std::thread::yield_now();
                }
                job.apply(tx)
            })
        })
        .err();
    if let Some(held) = held {
        let mut h = lock(held);
        for job in batch.iter_mut() {
            job.follow(&mut h, failure.as_ref());
        }
    }
    if batch.iter().any(|job| job.charged_account().is_some()) {
        queued.done(batch.iter().filter_map(Job::charged_account));
    }
    for job in batch.drain(..) {
        job.reply(failure.as_ref());
    }
}

/// Reads an account's committed balance, then decides its reservation in
/// memory.
fn load_and_reserve(store: &dyn LedgerStore, held: Option<&Mutex<Held>>, floor: Money, job: Job) {
    let Job::LoadAndReserve {
        account,
        request_id,
        amount,
        expires_at_ms,
        reply,
    } = job
    else {
        return job.reply(None);
    };
    let result = match (held, store.balance(&account)) {
        (Some(held), Ok(b)) => {
            let mut h = lock(held);
            // Only this thread changes `committed`, and every commit so far
            // is in the store: the read replaces it exactly.
            h.load(&account, b.balance);
            h.try_reserve(floor, &account, &request_id, amount, expires_at_ms)
                .unwrap_or(Err(ReserveError::WriterGone))
        }
        (None, _) => Err(ReserveError::WriterGone),
        (_, Err(e)) => Err(e.into()),
    };
    let _ = reply.send(result);
}

/// Starts the sweeper thread: every `interval`, releases the reservations
/// that expired (in memory, or through the writer). It holds only weak
/// handles, and ends with the ledger.
pub(super) fn spawn_sweeper(
    interval: Duration,
    queue: Weak<Mutex<Option<Queue>>>,
    held: Option<Weak<Mutex<Held>>>,
) -> Result<(), LedgerError> {
    std::thread::Builder::new()
        .name("byok-ledger-sweeper".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                let Some(queue) = queue.upgrade() else { return };
                if let Some(held) = &held {
                    let Some(held) = held.upgrade() else { return };
                    lock(&held).sweep(now_ms());
                    continue;
                }
                let guard = queue.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(tx) = guard.as_ref() else { return };
                let (reply, _answer) = oneshot::channel();
                let job = Job::Sweep {
                    now_ms: now_ms(),
                    answer: Answer::new(reply),
                };
                if tx.send(job).is_err() {
                    return;
                }
            }
        })
        .map(drop)
        .map_err(|e| LedgerError::Store(format!("cannot start the ledger sweeper: {e}")))
}
