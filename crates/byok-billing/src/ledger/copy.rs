//! Copying a ledger into another store ([`copy_ledger`]): a migration from
//! one backend to another (SQLite to PostgreSQL).

use std::collections::BTreeMap;
use std::fmt::Display;

use super::error::LedgerError;
use super::store::{AccountRow, EntryRow, LedgerCounts, LedgerStore};
use crate::money::Money;

/// Entries per page, read from the source, written, and compared.
const PAGE: usize = 1_000;

/// What [`copy_ledger`] copied, as verified on both stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LedgerCopyReport {
    /// Accounts copied.
    pub accounts: u64,
    /// Entries copied (credits and charges).
    pub entries: u64,
    /// The sum of the credit entries' amounts, in nano-USD.
    pub credited_nanos: i128,
    /// The sum of the charge entries' amounts (the markups), in nano-USD.
    pub charged_nanos: i128,
}

/// Why [`copy_ledger`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerCopyError {
    /// The source holds reservations: a server is using it (the copy is
    /// for a stopped server), or one crashed with reservations in the store
    /// (opening a `Ledger` with `release_on_open` releases them). Nothing
    /// was written.
    #[error(
        "the source ledger holds {0} reservation(s): stop the server using it (a crashed one's are released when a ledger opens it); nothing was copied"
    )]
    SourceHasReservations(u64),
    /// The target already holds accounts, entries or reservations; nothing
    /// was written to it.
    #[error(
        "the target ledger is not empty ({} account(s), {} entry(ies), {} reservation(s)); nothing was copied",
        .0.accounts, .0.entries, .0.reservations
    )]
    TargetNotEmpty(LedgerCounts),
    /// The source's balances are not what its entries say (an account's
    /// balance is not its credits minus its charges, an entry's account has
    /// no row, an amount reserved without a reservation, an unknown entry
    /// kind): nothing was written.
    #[error("the source ledger is inconsistent: {0}; nothing was copied")]
    SourceInconsistent(String),
    /// Reading the source failed (before the copy was committed: nothing
    /// was written; or while verifying it).
    #[error("reading the source ledger: {0}")]
    Source(#[source] LedgerError),
    /// Writing or reading the target failed (while copying: nothing was
    /// written; or while verifying the copy).
    #[error("the target ledger: {0}")]
    Target(#[source] LedgerError),
    /// The copy was committed but does not match its source (the source
    /// changed during the copy, or a store misbehaves): do not use the
    /// target. Names the first difference.
    #[error("the copy does not match its source: {0}")]
    Mismatch(String),
}

/// Copies every account and every entry of `from` into `to`, which must be
/// empty, then checks the copy.
///
/// - **What moves**: every account (name, balance; its reserved amount,
///   zero) and every entry, credits and charges, every column as stored
///   (sequence number, request id, kind, account, time, provider, model,
///   endpoint, token counts, usage source, provider cost, amount, price
///   source, attempts), in `seq` order and with the same `seq`: a `Ledger`
///   on the target lists the same usage, pages included, and continues the
///   sequence above it.
/// - **Reservations are not copied: the source must hold none**
///   ([`LedgerCopyError::SourceHasReservations`]). The copy is for a
///   stopped server, whose reservations are void anyway (a single
///   instance's are in its memory, and released at start when in the
///   store).
/// - **One transaction** on the target ([`LedgerStore::transaction`]): the
///   target is checked empty, the accounts and the entries (read from the
///   source 1,000 at a time, [`LedgerStore::entries`]) are written in
///   batches, the source's balances are checked against its entries, and
///   everything commits together. A copy that fails leaves the target as it
///   was: empty, ready for another try.
/// - **Refused**, nothing written: a target holding any account, entry or
///   reservation ([`LedgerCopyError::TargetNotEmpty`]); a source with
///   reservations, or whose balances are not its credits minus its charges
///   ([`LedgerCopyError::SourceInconsistent`]: a balance only moves with
///   the entry that explains it, so every account's balance is the sum of
///   its credits minus the sum of its charges).
/// - **Verified** after the commit: the same counts ([`LedgerStore::counts`])
///   and the same accounts (balances) on both stores, every entry of the
///   target equal to the source's (compared page by page), the same number
///   and sum of amounts per kind, and on the target every account's
///   balance equal to its credits minus its charges. A difference is a
///   [`LedgerCopyError::Mismatch`]: the copy stays committed, and the
///   target must not be used.
///
/// An empty source copies nothing (a report of zeros) once the target is
/// found empty. Run it with no writer on either store (a server stopped).
///
/// # Errors
/// See [`LedgerCopyError`].
pub fn copy_ledger(
    from: &dyn LedgerStore,
    to: &dyn LedgerStore,
) -> Result<LedgerCopyReport, LedgerCopyError> {
    let source = from.counts().map_err(LedgerCopyError::Source)?;
    if source.reservations > 0 {
        return Err(LedgerCopyError::SourceHasReservations(source.reservations));
    }
    let target = to.counts().map_err(LedgerCopyError::Target)?;
    if target != LedgerCounts::default() {
        return Err(LedgerCopyError::TargetNotEmpty(target));
    }
    if source == LedgerCounts::default() {
        // Nothing to write (and `from` may be `to`).
        return Ok(LedgerCopyReport::default());
    }

    // Why the transaction's body stopped, when it was not the target's
    // error; and the source's totals, as read.
    let mut failure = None;
    let mut totals = Totals::default();
    let written = to.transaction(true, &mut |tx| {
        failure = None;
        totals = Totals::default();
        let mut stop = |error: LedgerCopyError| {
            failure = Some(error);
            LedgerError::Store("copy stopped".into())
        };
        let held = tx.counts()?;
        if held != LedgerCounts::default() {
            return Err(stop(LedgerCopyError::TargetNotEmpty(held)));
        }
        let accounts = from
            .accounts()
            .map_err(|e| stop(LedgerCopyError::Source(e)))?;
        for chunk in accounts.chunks(PAGE) {
            tx.import_accounts(chunk)?;
        }
        let mut after = i64::MIN;
        loop {
            let page = from
                .entries(after, PAGE)
                .map_err(|e| stop(LedgerCopyError::Source(e)))?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for row in &page {
                totals
                    .add(row)
                    .map_err(|e| stop(LedgerCopyError::SourceInconsistent(e)))?;
            }
            tx.import_entries(&page)?;
        }
        totals
            .check_balances(&accounts)
            .map_err(|e| stop(LedgerCopyError::SourceInconsistent(e)))
    });
    if let Some(failure) = failure {
        return Err(failure);
    }
    written.map_err(LedgerCopyError::Target)?;
    verify(from, to, &totals)
}

/// The checks of [`copy_ledger`] after its commit; `copied` are the
/// totals of the source's entries as the copy read them.
fn verify(
    from: &dyn LedgerStore,
    to: &dyn LedgerStore,
    copied: &Totals,
) -> Result<LedgerCopyReport, LedgerCopyError> {
    let source = from.counts().map_err(LedgerCopyError::Source)?;
    let target = to.counts().map_err(LedgerCopyError::Target)?;
    if target != source {
        return Err(LedgerCopyError::Mismatch(format!(
            "counts: {source:?} in the source, {target:?} in the target"
        )));
    }
    let accounts = from.accounts().map_err(LedgerCopyError::Source)?;
    let target_accounts = to.accounts().map_err(LedgerCopyError::Target)?;
    if let Some(difference) = first_difference(&accounts, &target_accounts, "account", |a| {
        a.account.clone()
    }) {
        return Err(LedgerCopyError::Mismatch(difference));
    }
    let mut totals = Totals::default();
    let mut after = i64::MIN;
    loop {
        let page = from.entries(after, PAGE).map_err(LedgerCopyError::Source)?;
        let target_page = to.entries(after, PAGE).map_err(LedgerCopyError::Target)?;
        if let Some(difference) = first_difference(&page, &target_page, "entry seq", |e| e.seq) {
            return Err(LedgerCopyError::Mismatch(difference));
        }
        let Some(last) = target_page.last() else {
            break;
        };
        after = last.seq;
        for row in &target_page {
            totals.add(row).map_err(LedgerCopyError::Mismatch)?;
        }
    }
    if totals != *copied {
        return Err(LedgerCopyError::Mismatch(format!(
            "the target's entries sum to {} credited and {} charged over {} entries; \
             the source's, as copied, {} and {} over {}",
            totals.credited,
            totals.charged,
            totals.entries,
            copied.credited,
            copied.charged,
            copied.entries
        )));
    }
    totals
        .check_balances(&target_accounts)
        .map_err(LedgerCopyError::Mismatch)?;
    Ok(LedgerCopyReport {
        accounts: target.accounts,
        entries: totals.entries,
        credited_nanos: totals.credited,
        charged_nanos: totals.charged,
    })
}

/// The sums of a ledger's entries, in nano-USD.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    entries: u64,
    credited: i128,
    charged: i128,
    /// Credits minus charges, per account.
    net: BTreeMap<String, i128>,
}

impl Totals {
    /// Counts one entry.
    ///
    /// # Errors
    /// An entry kind other than `credit` and `charge`.
    fn add(&mut self, row: &EntryRow) -> Result<(), String> {
        let amount = i128::from(row.amount.nanos());
        let net = match row.kind.as_str() {
            "credit" => {
                self.credited += amount;
                amount
            }
            "charge" => {
                self.charged += amount;
                -amount
            }
            other => return Err(format!("entry seq {} has kind {other:?}", row.seq)),
        };
        match self.net.get_mut(&row.account) {
            Some(sum) => *sum += net,
            None => {
                self.net.insert(row.account.clone(), net);
            }
        }
        self.entries += 1;
        Ok(())
    }

    /// Checks that every account's balance is its credits minus its
    /// charges, that nothing is reserved, and that every entry's account
    /// has a row.
    ///
    /// # Errors
    /// The first account where it is not so.
    fn check_balances(&self, accounts: &[AccountRow]) -> Result<(), String> {
        for a in accounts {
            let net = self.net.get(&a.account).copied().unwrap_or(0);
            if net != i128::from(a.balance.nanos()) {
                return Err(format!(
                    "account {:?} has a balance of {} USD, but credits minus charges of {net} nano-USD",
                    a.account, a.balance
                ));
            }
            if a.reserved != Money::ZERO {
                return Err(format!(
                    "account {:?} has {} USD reserved, by no reservation",
                    a.account, a.reserved
                ));
            }
        }
        match self
            .net
            .keys()
            .find(|name| accounts.binary_search_by(|a| a.account.cmp(name)).is_err())
        {
            Some(name) => Err(format!("entries of account {name:?}, which has no row")),
            None => Ok(()),
        }
    }
}

/// The first row where two pages of the same range, ordered by `key`,
/// differ, named by `what` and its key.
fn first_difference<T: PartialEq, K: Ord + Display>(
    source: &[T],
    target: &[T],
    what: &str,
    key: impl Fn(&T) -> K,
) -> Option<String> {
    let at = source
        .iter()
        .zip(target)
        .take_while(|(s, t)| s == t)
        .count();
    match (source.get(at).map(&key), target.get(at).map(&key)) {
        (None, None) => None,
        (Some(s), Some(t)) if s == t => Some(format!("{what} {s} differs between the stores")),
        (Some(s), t) if t.as_ref().is_none_or(|t| &s < t) => {
            Some(format!("{what} {s} is missing from the target"))
        }
        (_, t) => t.map(|t| format!("the target holds {what} {t}, which the source does not")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_difference_is_named() {
        let page = [1, 2, 3];
        let differ = |s: &[i64], t: &[i64]| first_difference(s, t, "entry seq", |n| *n);
        assert_eq!(differ(&page, &page), None);
        assert_eq!(differ(&[], &[]), None);
        assert_eq!(
            differ(&page, &[1, 3]).as_deref(),
            Some("entry seq 2 is missing from the target")
        );
        assert_eq!(
            differ(&page, &[1, 2]).as_deref(),
            Some("entry seq 3 is missing from the target")
        );
        assert_eq!(
            differ(&[1, 3], &page).as_deref(),
            Some("the target holds entry seq 2, which the source does not")
        );
        let accounts = |balance: i64| AccountRow {
            account: "a".into(),
            balance: Money::from_nanos(balance),
            reserved: Money::ZERO,
        };
        assert_eq!(
            first_difference(&[accounts(1)], &[accounts(2)], "account", |a| a
                .account
                .clone())
            .as_deref(),
            Some("account a differs between the stores")
        );
    }
}
