//! Reservations made alone ([`LedgerStore::reserve_alone`]: PostgreSQL
//! with [`super::Reservations::Store`]): on a few threads of the ledger's
//! own, each a statement on a connection of its own, instead of in the
//! writer's batches (which wait for the commit window and the settlements'
//! durable commit).
//!
//! Two orders the writer's queue gave, kept:
//!
//! - **A write for a request id whose reservation is being made** (a
//!   settlement, release or extension queued before the reservation
//!   returned) waits for it: held back here, then queued on the writer once
//!   the reservation is committed, so it sees it. (The request path settles
//!   only after its reservation returned; this keeps any other caller from
//!   charging first and leaving the reservation held until it expires.)
//! - **A refusal counts this process's queued writes**: a reservation that
//!   does not fit what is committed is asked again on the writer, after
//!   the releases and settlements queued before it (which free what their
//!   reservations held), as it was before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use futures_channel::oneshot;

use super::error::{LedgerError, ReserveError};
use super::pending::Pending;
use super::store::{Idempotent, LedgerStore};
use super::writer::{Answer, Job, Reply};
use crate::money::Money;

/// Threads making reservations alone, each one at a time (and each on a
/// connection of its own: the PostgreSQL store opens at most as many).
const RESERVING_THREADS: usize = 4;

/// A reservation to make.
struct Request {
    account: String,
    request_id: String,
    amount: Money,
    expires_at_ms: i64,
    reply: Reply<Idempotent, ReserveError>,
}

/// The reserving threads, and the writes held back behind them.
pub(super) struct Reserving {
    queue: Mutex<Option<crossbeam_channel::Sender<Request>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    in_flight: Arc<InFlight>,
    /// Queues a job on the writer.
    enqueue: Enqueue,
}

/// Queues a job on the ledger's writer (refused with `WriterGone` after
/// its shutdown).
pub(super) type Enqueue = Arc<dyn Fn(Job) + Send + Sync>;

impl std::fmt::Debug for Reserving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reserving").finish_non_exhaustive()
    }
}

/// Request ids whose reservation is being made, with the writes for them
/// queued meanwhile.
#[derive(Default)]
struct InFlight(Mutex<HashMap<String, Waiting>>);

#[derive(Default)]
struct Waiting {
    /// Reservations of this request id being made (two when it was
    /// reserved twice at once).
    reservations: usize,
    /// Writes for it, in the order they were queued.
    held_back: Vec<Job>,
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Waiting>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn start(&self, request_id: &str) {
        let mut map = self.lock();
        match map.get_mut(request_id) {
            Some(w) => w.reservations += 1,
            None => {
                map.insert(
                    request_id.to_owned(),
                    Waiting {
                        reservations: 1,
                        held_back: Vec::new(),
                    },
                );
            }
        }
    }

    /// A reservation of `request_id` ended: `then` queues, first, what it
    /// still needs the writer for; then, once no reservation of the
    /// request id is in flight, the writes held back for it (in the same
    /// lock, so a write queued after this is queued after them).
    fn finish(&self, request_id: &str, enqueue: &dyn Fn(Job), then: Option<Job>) {
        let mut map = self.lock();
        if let Some(job) = then {
            enqueue(job);
        }
        let Some(w) = map.get_mut(request_id) else {
            return;
        };
        w.reservations -= 1;
        if w.reservations == 0
            && let Some(w) = map.remove(request_id)
        {
            w.held_back.into_iter().for_each(enqueue);
        }
    }

    /// Holds `job` back if its request id's reservation is being made;
    /// otherwise gives it back, to queue now.
    fn hold_back(&self, job: Job) -> Option<Job> {
        let Some(id) = request_id(&job) else {
            return Some(job);
        };
        let mut map = self.lock();
        if map.is_empty() {
            return Some(job);
        }
        match map.get_mut(id) {
            Some(w) => {
                w.held_back.push(job);
                None
            }
            None => Some(job),
        }
    }
}

/// The request id a write is for.
fn request_id(job: &Job) -> Option<&str> {
    match job {
        Job::Settle { entry, .. } => Some(&entry.request_id),
        Job::Release { request_id, .. } | Job::Extend { request_id, .. } => Some(request_id),
        _ => None,
    }
}

impl Reserving {
    /// Starts the threads: they reserve in `store` and hand the writer
    /// (with `enqueue`) the refusals to decide again and the writes held
    /// back. They end once the ledger is dropped or shut down, after the
    /// reservations queued.
    pub(super) fn start(
        store: &Arc<dyn LedgerStore>,
        enqueue: Enqueue,
    ) -> Result<Self, LedgerError> {
        let (tx, rx) = crossbeam_channel::unbounded::<Request>();
        let in_flight = Arc::new(InFlight::default());
        let threads = (0..RESERVING_THREADS)
            .map(|_| {
                let (rx, store, enqueue) = (rx.clone(), Arc::clone(store), Arc::clone(&enqueue));
                let in_flight = Arc::clone(&in_flight);
                std::thread::Builder::new()
                    .name("byok-ledger-reserve".into())
                    .spawn(move || {
                        while let Ok(request) = rx.recv() {
                            reserve(store.as_ref(), &in_flight, enqueue.as_ref(), request);
                        }
                    })
                    .map_err(|e| {
                        LedgerError::Store(format!("cannot start a ledger reserving thread: {e}"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            queue: Mutex::new(Some(tx)),
            threads: Mutex::new(threads),
            in_flight,
            enqueue,
        })
    }

    /// Hands the reservation to a reserving thread; resolves once it is
    /// committed (or refused).
    pub(super) fn reserve(
        &self,
        account: &str,
        request_id: &str,
        amount: Money,
        expires_at_ms: i64,
    ) -> Pending<Idempotent, ReserveError> {
        let (reply, answer) = oneshot::channel();
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = queue.as_ref() else {
            return Pending::ready(Err(ReserveError::WriterGone));
        };
        self.in_flight.start(request_id);
        let request = Request {
            account: account.to_owned(),
            request_id: request_id.to_owned(),
            amount,
            expires_at_ms,
            reply,
        };
        if let Err(e) = tx.send(request) {
            drop(queue);
            // No thread left (they only end when the queue closes).
            self.in_flight
                .finish(&e.0.request_id, self.enqueue.as_ref(), None);
            return Pending::ready(Err(ReserveError::WriterGone));
        }
        Pending::queued(answer)
    }

    /// `job` if it may be queued now; `None` when it was held back behind
    /// its request id's reservation (queued once that is made).
    pub(super) fn hold_back(&self, job: Job) -> Option<Job> {
        self.in_flight.hold_back(job)
    }

    /// Stops taking reservations and waits for those queued (their held
    /// back writes are then on the writer's queue).
    pub(super) fn shutdown(&self) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for t in threads {
            let _ = t.join();
        }
    }
}

/// Makes one reservation, then answers it, or asks the writer again when
/// it did not fit what is committed.
fn reserve(store: &dyn LedgerStore, in_flight: &InFlight, enqueue: &dyn Fn(Job), r: Request) {
    let outcome = store
        .reserve_alone(&r.account, &r.request_id, r.amount, r.expires_at_ms)
        .unwrap_or_else(|e| Err(e.into()));
    if let Err(ReserveError::InsufficientBalance { .. }) = outcome {
        let again = Job::Reserve {
            account: r.account,
            request_id: r.request_id.clone(),
            amount: r.amount,
            expires_at_ms: r.expires_at_ms,
            answer: Answer::new(r.reply),
        };
        in_flight.finish(&r.request_id, enqueue, Some(again));
        return;
    }
    in_flight.finish(&r.request_id, enqueue, None);
    let _ = r.reply.send(outcome);
}
