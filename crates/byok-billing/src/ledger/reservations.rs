//! The in-memory reservations ([`super::Reservations::InMemory`]): a
//! cached view of each account, decided under one lock with no database
//! write and no wait for the writer thread.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::error::{ReserveError, SettleError};
use super::store::{Idempotent, LedgerEntry, Released};
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

/// An in-memory settlement on its way to the store: its reservation was
/// taken out and its markup counted as pending. If the charge is not
/// recorded (the store failed), the reservation is put back so a retry can
/// settle again.
#[derive(Debug)]
pub(super) struct Settling {
    request_id: String,
    reservation: HeldReservation,
    markup: i64,
}

/// The in-memory reservations and account views.
#[derive(Debug, Default)]
pub(super) struct Held {
    accounts: HashMap<String, AccountView>,
    reservations: HashMap<String, HeldReservation>,
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
            return Some(Err(ReserveError::InsufficientBalance {
                available: Money::from_nanos(i64::try_from(available.max(0)).unwrap_or(i64::MAX)),
                needed: Money::from_nanos(amount),
            }));
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

    /// Takes `entry`'s reservation out and counts its markup as pending
    /// (one step under the lock, so the available balance never rises in
    /// between). `None` when this ledger holds no reservation for it.
    pub(super) fn start_settling(
        &mut self,
        entry: &LedgerEntry,
    ) -> Option<Result<Settling, SettleError>> {
        let reservation = self.reservations.remove(&entry.request_id)?;
        if reservation.account != entry.account {
            self.reservations
                .insert(entry.request_id.clone(), reservation);
            return Some(Err(SettleError::NoReservation(entry.short_id())));
        }
        let markup = entry.markup.nanos();
        if let Some(a) = self.accounts.get_mut(&reservation.account) {
            a.reserved = a.reserved.saturating_sub(reservation.amount);
            a.pending = a.pending.saturating_add(markup);
        }
        Some(Ok(Settling {
            request_id: entry.request_id.clone(),
            reservation,
            markup,
        }))
    }

    /// Ends a settlement: its markup is no longer pending, and unless the
    /// charge was recorded (or found recorded) the reservation goes back.
    pub(super) fn finish_settling(&mut self, s: Settling, recorded: bool) {
        if let Some(a) = self.accounts.get_mut(&s.reservation.account) {
            a.pending = a.pending.saturating_sub(s.markup);
            if !recorded && !self.reservations.contains_key(&s.request_id) {
                a.reserved = a.reserved.saturating_add(s.reservation.amount);
                self.reservations.insert(s.request_id, s.reservation);
            }
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
