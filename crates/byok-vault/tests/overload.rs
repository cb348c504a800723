//! A full job queue is reported as `VaultError::Overloaded` at once (the
//! server answers it with a 503 and `retry-after`), never by blocking the
//! caller's executor thread; the pool recovers once the queue drains.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use byok_vault::{AsyncVault, VaultError};

type Pending = Pin<Box<dyn Future<Output = Result<(), VaultError>>>>;

/// Polls `f` once with a waker that does nothing.
fn poll_once(f: &mut Pending) -> Poll<Result<(), VaultError>> {
    f.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_full_queue_is_overloaded_not_a_block() {
    let dir = tempfile::tempdir().unwrap();
    let vault = AsyncVault::new(common::open_cached(dir.path()), 1).unwrap();
    // Hold the only worker until released.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (started, running) = std::sync::mpsc::channel::<()>();
    let mut queued: Vec<Pending> = Vec::new();
    let v = vault.clone();
    let mut blocker: Pending = Box::pin(async move {
        v.run(move |_| {
            started.send(()).unwrap();
            held.recv().unwrap();
        })
        .await
    });
    assert!(poll_once(&mut blocker).is_pending());
    running.recv().unwrap();
    let overloaded = loop {
        let v = vault.clone();
        let mut job: Pending = Box::pin(async move { v.run(|_| ()).await });
        match poll_once(&mut job) {
            Poll::Pending => queued.push(job),
            Poll::Ready(r) => break r,
        }
        assert!(queued.len() <= 100_000, "the queue is unbounded");
    };
    assert!(
        matches!(overloaded, Err(VaultError::Overloaded)),
        "{overloaded:?}"
    );
    assert!(!queued.is_empty());
    release.send(()).unwrap();
    drop(queued);
    // Once the worker has drained the queue, jobs are taken again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let after = loop {
        match futures_block_on(vault.list("u1")) {
            Err(VaultError::Overloaded) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            other => break other,
        }
    };
    assert!(after.unwrap().is_empty(), "the pool serves again");
}

/// Drives `f` on this thread.
fn futures_block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
