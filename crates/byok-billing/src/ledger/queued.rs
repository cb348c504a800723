//! Charges queued for the writer, counted per account, so that a usage read
//! can wait for the charges of its account that were queued before it
//! (read your own writes) while settling never waits.
//!
//! Each account has two monotonic counters: charges queued and charges
//! done (committed, failed or refused). A reader waits until `done`
//! reaches the `queued` it saw on arrival. A charge whose answer the user
//! has seen was queued before the read, and the writer applies the queue
//! in order, so every charge committed before it was queued before the
//! read too: `done` cannot reach the target while it is still queued.
//! Charges queued after the read are not waited for.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Counts {
    queued: u64,
    done: u64,
}

/// The per-account counters (one small entry per account that was ever
/// charged by this process, like the in-memory account views).
#[derive(Debug, Default)]
pub(super) struct QueuedCharges {
    counts: Mutex<HashMap<String, Counts>>,
    done: Condvar,
}

impl QueuedCharges {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Counts>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A charge of `account` is about to be queued (allocates only for an
    /// account's first charge).
    pub(super) fn queued(&self, account: &str) {
        let mut counts = self.lock();
        match counts.get_mut(account) {
            Some(c) => c.queued += 1,
            None => {
                counts.insert(account.to_owned(), Counts { queued: 1, done: 0 });
            }
        }
    }

    /// These charges are done (committed, failed or refused): wakes the
    /// readers waiting for them.
    pub(super) fn done<'a>(&self, accounts: impl Iterator<Item = &'a str>) {
        let mut counts = self.lock();
        let mut any = false;
        for account in accounts {
            if let Some(c) = counts.get_mut(account) {
                c.done += 1;
                any = true;
            }
        }
        drop(counts);
        if any {
            self.done.notify_all();
        }
    }

    /// Waits (at most `timeout`) until the charges of `account` queued
    /// before this call are done.
    pub(super) fn wait_for(&self, account: &str, timeout: Duration) {
        let mut counts = self.lock();
        let Some(target) = counts.get(account).map(|c| c.queued) else {
            return;
        };
        let deadline = Instant::now() + timeout;
        while counts.get(account).is_some_and(|c| c.done < target) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            counts = self
                .done
                .wait_timeout(counts, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn waits_only_for_what_was_queued_before() {
        let q = Arc::new(QueuedCharges::default());
        // Nothing queued: no wait.
        q.wait_for("a", Duration::from_secs(60));
        q.queued("a");
        q.queued("b");
        let started = Instant::now();
        let writer = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                // A charge queued after the read is not waited for.
                q.queued("a");
                q.done(["a"].into_iter());
            })
        };
        q.wait_for("a", Duration::from_secs(60));
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(started.elapsed() < Duration::from_secs(30));
        writer.join().unwrap();
        // b's charge is not done: the wait ends at the timeout.
        q.wait_for("b", Duration::from_millis(10));
    }
}
