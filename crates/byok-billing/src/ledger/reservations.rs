//! The in-memory reservations ([`super::Reservations::InMemory`]): a
//! cached view of each account, decided under one lock with no database
//! write and no wait for the writer thread.

use std::collections::HashMap;

/// Keyed by account and request ids, touched by every request's
/// reservation and settlement: foldhash (seeded per process; hashbrown's
/// own default) rather than SipHash.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::error::{ReserveError, SettleError};
use super::store::{Extended, Idempotent, LedgerEntry, Released, insufficient_balance};
use crate::money::Money;

/// An account as the in-memory reservations see it.
#[derive(Debug, Clone, Copy, Default)]
struct AccountView {
    /// The committed balance (as of this ledger's last commit or read).
    committed: i64,
    /// Charges handed to the writer and not committed yet.
    pending: i64,
    /// Held by open reservations.
    reserved: i64,
}

#[derive(Debug)]
struct HeldReservation {
    account: String,
    amount: i64,
    expires_at_ms: i64,
}

/// An in-memory settlement on its way to the store: its reservation (if
/// still held) was taken out and its markup counted as pending. If the
/// charge is not recorded (the store failed), the reservation is put back
/// so a retry can settle again.
#[derive(Debug)]
pub(super) struct Settling {
    request_id: String,
    /// `None` when the reservation was gone (expired and swept, or void
    /// after a restart): the charge is recorded all the same.
    reservation: Option<HeldReservation>,
    markup: i64,
    /// Whether `markup` was counted as pending (the account was loaded).
    counted: bool,
}

/// The in-memory reservations and account views.
#[derive(Debug, Default)]
pub(super) struct Held {
    accounts: Map<String, AccountView>,
    reservations: Map<String, HeldReservation>,
}

/// Locks the reservations (a poisoned lock is still consistent: every
/// update is a few field writes).
pub(super) fn lock(held: &Mutex<Held>) -> MutexGuard<'_, Held> {
    held.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Held {
    /// Decides a reservation from memory; `None` when the account is not
    /// loaded.
    pub(super) fn try_reserve(
        &mut self,
        floor: Money,
        account: &str,
        request_id: &str,
        amount: i64,
        expires_at_ms: i64,
    ) -> Option<Result<Idempotent, ReserveError>> {
        if self.reservations.contains_key(request_id) {
            return Some(Ok(Idempotent::Duplicate));
        }
        let a = self.accounts.get_mut(account)?;
        let available = i128::from(a.committed)
            - i128::from(a.pending)
            - i128::from(a.reserved)
            - i128::from(floor.nanos());
        if i128::from(amount) > available {
            return Some(Err(insufficient_balance(
                available,
                Money::from_nanos(amount),
            )));
        }
        a.reserved = a.reserved.saturating_add(amount);
        self.reservations.insert(
            request_id.to_owned(),
            HeldReservation {
                account: account.to_owned(),
                amount,
                expires_at_ms,
            },
        );
        Some(Ok(Idempotent::Applied))
    }

    /// Replaces an account's committed balance with one read from the
    /// store (loading the account).
    pub(super) fn load(&mut self, account: &str, committed: Money) {
        match self.accounts.get_mut(account) {
            Some(a) => a.committed = committed.nanos(),
            None => {
                self.accounts.insert(
                    account.to_owned(),
                    AccountView {
                        committed: committed.nanos(),
                        ..AccountView::default()
                    },
                );
            }
        }
    }

    /// What this ledger holds reserved for `account`.
    pub(super) fn reserved(&self, account: &str) -> Money {
        Money::from_nanos(self.accounts.get(account).map_or(0, |a| a.reserved))
    }

    pub(super) fn release(&mut self, request_id: &str) -> Released {
        match self.reservations.remove(request_id) {
            Some(r) => {
                if let Some(a) = self.accounts.get_mut(&r.account) {
                    a.reserved = a.reserved.saturating_sub(r.amount);
                }
                Released::Applied
            }
            None => Released::NothingToRelease,
        }
    }

    /// Moves a reservation's deadline to `expires_at_ms` (never earlier).
    pub(super) fn extend(&mut self, request_id: &str, expires_at_ms: i64) -> Extended {
        match self.reservations.get_mut(request_id) {
            Some(r) => {
                r.expires_at_ms = r.expires_at_ms.max(expires_at_ms);
                Extended::Applied
            }
            None => Extended::NothingToExtend,
        }
    }

    pub(super) fn sweep(&mut self, now_ms: i64) -> u64 {
        let expired: Vec<String> = self
            .reservations
            .iter()
            .filter(|(_, r)| r.expires_at_ms < now_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            self.release(id);
        }
        u64::try_from(expired.len()).unwrap_or(u64::MAX)
    }

    /// Takes `entry`'s reservation out, if still held, and counts its
    /// markup as pending (one step under the lock, so the available balance
    /// never rises in between). Without a reservation (expired and swept,
    /// or void after a restart) the charge goes ahead all the same: it is
    /// owed for service delivered, even if it takes the balance below the
    /// floor. (If the account is not loaded, its charge is not counted as
    /// pending; its first reservation reads the balance from the store.)
    ///
    /// # Errors
    /// [`SettleError::NoReservation`] when the request's reservation is
    /// held for another account (a caller bug; the reservation stays).
    pub(super) fn start_settling(&mut self, entry: &LedgerEntry) -> Result<Settling, SettleError> {
        let reservation = match self.reservations.remove(&entry.request_id) {
            Some(r) if r.account != entry.account => {
                self.reservations.insert(entry.request_id.clone(), r);
                return Err(SettleError::NoReservation(entry.short_id()));
            }
            r => r,
        };
        let markup = entry.markup.nanos();
        let counted = match self.accounts.get_mut(&entry.account) {
            Some(a) => {
                if let Some(r) = &reservation {
                    a.reserved = a.reserved.saturating_sub(r.amount);
                }
                a.pending = a.pending.saturating_add(markup);
                true
            }
            None => false,
        };
        Ok(Settling {
            request_id: entry.request_id.clone(),
            reservation,
            markup,
            counted,
        })
    }

    /// Ends `account`'s settlement: its markup is no longer pending, and
    /// unless the charge was recorded (or found recorded) the reservation,
    /// if there was one, goes back.
    pub(super) fn finish_settling(&mut self, s: Settling, account: &str, recorded: bool) {
        let Some(a) = self.accounts.get_mut(account) else {
            return;
        };
        if s.counted {
            a.pending = a.pending.saturating_sub(s.markup);
        }
        if let Some(r) = s.reservation
            && !recorded
            && !self.reservations.contains_key(&s.request_id)
        {
            a.reserved = a.reserved.saturating_add(r.amount);
            self.reservations.insert(s.request_id, r);
        }
    }

    /// Follows a committed credit.
    pub(super) fn credited(&mut self, account: &str, amount: Money) {
        if let Some(a) = self.accounts.get_mut(account) {
            a.committed = a.committed.saturating_add(amount.nanos());
        }
    }

    /// Follows a committed charge.
    pub(super) fn charged(&mut self, account: &str, markup: Money) {
        if let Some(a) = self.accounts.get_mut(account) {
            a.committed = a.committed.saturating_sub(markup.nanos());
        }
    }
}
