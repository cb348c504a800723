//! [`Pending`]: a write queued on the writer thread, and a small executor
//! to wait for it without an async runtime.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_channel::oneshot;

use super::error::LedgerError;

/// A write handed to the ledger's writer thread ([`crate::Ledger::settle`],
/// [`crate::Ledger::release`]): it is applied whether or not anyone waits.
/// Wait for its commit with [`Pending::wait`] (async) or
/// [`Pending::wait_blocking`], or let it complete in the background with
/// [`Pending::detach`] (what the request path does: its settlement is not
/// worth the commit delay).
#[must_use = "the write is queued: `.wait().await` for its commit, or `.detach()` to let it complete in the background"]
pub struct Pending<T, E> {
    state: State<T, E>,
}

enum State<T, E> {
    /// Decided without the writer (in memory, or refused at once).
    Ready(Result<T, E>),
    /// Answered by the writer after its commit.
    Queued(oneshot::Receiver<Result<T, E>>),
}

impl<T, E> std::fmt::Debug for Pending<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Ready(_) => "ready",
            State::Queued(_) => "queued",
        };
        f.debug_struct("Pending").field("state", &state).finish()
    }
}

impl<T, E: From<LedgerError>> Pending<T, E> {
    pub(super) fn ready(result: Result<T, E>) -> Self {
        Self {
            state: State::Ready(result),
        }
    }

    pub(super) fn queued(answer: oneshot::Receiver<Result<T, E>>) -> Self {
        Self {
            state: State::Queued(answer),
        }
    }

    /// Waits for the write's commit (async, any executor).
    ///
    /// # Errors
    /// The write's error; `WriterGone` if the writer stopped without
    /// answering.
    pub async fn wait(self) -> Result<T, E> {
        match self.state {
            State::Ready(result) => result,
            State::Queued(answer) => answer
                .await
                .unwrap_or_else(|_| Err(LedgerError::WriterGone.into())),
        }
    }

    /// Blocks the thread until the write's commit (for non-async callers;
    /// not on an async worker).
    ///
    /// # Errors
    /// As [`Pending::wait`].
    pub fn wait_blocking(self) -> Result<T, E> {
        block_on(self.wait())
    }

    /// Lets the write complete in the background, unobserved: it is still
    /// committed (and [`crate::Ledger::shutdown`] still waits for it), but
    /// its result, an error included, is dropped.
    pub fn detach(self) {}
}

/// Blocks on a future without an async runtime (parks the thread until woken).
pub(super) fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
