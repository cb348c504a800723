//! The ledger's errors: one type per operation where the refusals differ,
//! [`LedgerError`] where they do not.

use crate::money::Money;

/// An error of the ledger or of its store, shared by the operations that
/// can only fail this way (releasing, sweeping, reading, opening).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// Storage failed (the message of the store's error).
    #[error("ledger storage: {0}")]
    Store(String),
    /// The writer has shut down ([`crate::Ledger::shutdown`]), or stopped.
    #[error("the ledger writer has shut down")]
    WriterGone,
}

/// Why a reservation ([`crate::Ledger::reserve`]) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReserveError {
    /// The reservation does not fit: nothing is held.
    #[error("insufficient balance: {available} USD available, {needed} USD needed")]
    InsufficientBalance {
        /// Balance minus reservations minus floor (never negative).
        available: Money,
        /// The requested reservation.
        needed: Money,
    },
    /// A negative amount.
    #[error("invalid amount")]
    InvalidAmount,
    /// Storage failed.
    #[error("ledger storage: {0}")]
    Store(String),
    /// The writer has shut down.
    #[error("the ledger writer has shut down")]
    WriterGone,
}

/// Why a settlement ([`crate::Ledger::settle`]) failed; nothing was charged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettleError {
    /// The request's reservation is held for another account (with
    /// [`crate::Reservations::InMemory`]; a caller bug: the reservation
    /// stays); the request id, cut to 64 characters. A charge whose
    /// reservation is gone (expired, swept, released at a restart) is not
    /// refused: it is recorded.
    #[error("no reservation for request `{0}`")]
    NoReservation(String),
    /// A negative markup or provider cost.
    #[error("invalid amount")]
    InvalidAmount,
    /// Storage failed; with in-memory reservations the reservation is held
    /// again, so the settlement can be retried.
    #[error("ledger storage: {0}")]
    Store(String),
    /// The writer has shut down.
    #[error("the ledger writer has shut down")]
    WriterGone,
}

/// Why a credit ([`crate::Ledger::credit`]) failed; nothing was credited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreditError {
    /// A negative amount, or one that would overflow the balance.
    #[error("invalid amount")]
    InvalidAmount,
    /// Storage failed.
    #[error("ledger storage: {0}")]
    Store(String),
    /// The writer has shut down.
    #[error("the ledger writer has shut down")]
    WriterGone,
}

macro_rules! from_ledger_error {
    ($($t:ident),*) => {$(
        impl From<LedgerError> for $t {
            fn from(e: LedgerError) -> Self {
                match e {
                    LedgerError::Store(m) => Self::Store(m),
                    LedgerError::WriterGone => Self::WriterGone,
                }
            }
        }
    )*};
}

from_ledger_error!(ReserveError, SettleError, CreditError);
