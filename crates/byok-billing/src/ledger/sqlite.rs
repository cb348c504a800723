//! The SQLite store: schema, and every statement prepared once per
//! connection (the statement cache), not parsed again per write.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::error::{CreditError, LedgerError, ReserveError, SettleError};
use super::store::{
    AccountRow, Balance, COUNT_ROWS, Deltas, ENTRY_COLUMNS, EntryRow, Extended, Idempotent,
    LedgerCounts, LedgerEntry, LedgerStore, LedgerTransaction, Outcome, Released, StoredEntry,
    available, decode_attempts, encode_attempts, insufficient_balance, to_i64, to_u64,
};
use crate::catalog::PriceSource;
use crate::money::Money;
use crate::quote::UsageSource;
use crate::time::now_ms;

/// `seq` is the rowid without `AUTOINCREMENT`: ledger rows are never
/// deleted, so the next rowid is always the largest plus one (monotonic, as
/// usage paging needs), without the `sqlite_sequence` write per insert that
/// `AUTOINCREMENT` costs. (Databases created with `AUTOINCREMENT` keep it and
/// behave the same.)
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ledger_accounts (
    account    TEXT PRIMARY KEY NOT NULL,
    balance    INTEGER NOT NULL DEFAULT 0,
    reserved   INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0)
);
CREATE TABLE IF NOT EXISTS ledger_entries (
    seq               INTEGER PRIMARY KEY,
    request_id        TEXT NOT NULL UNIQUE,
    kind              TEXT NOT NULL CHECK (kind IN ('charge', 'credit')),
    account           TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    provider          TEXT NOT NULL DEFAULT '',
    model             TEXT NOT NULL DEFAULT '',
    endpoint          TEXT NOT NULL DEFAULT '',
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens     INTEGER NOT NULL DEFAULT 0,
    usage_source      TEXT NOT NULL DEFAULT 'reported',
    provider_cost     INTEGER NOT NULL DEFAULT 0,
    amount            INTEGER NOT NULL,
    price_source      TEXT NOT NULL DEFAULT 'catalog'
);
CREATE INDEX IF NOT EXISTS ledger_entries_account ON ledger_entries(account, seq);
CREATE TABLE IF NOT EXISTS ledger_reservations (
    request_id TEXT PRIMARY KEY NOT NULL,
    account    TEXT NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount >= 0),
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_reservations_expiry ON ledger_reservations(expires_at);
";

/// The schema changes made after [`SCHEMA`], in order: `PRAGMA
/// user_version` is how many a database has applied (0 for one made before
/// they existed). Append only; never edit one that shipped.
const MIGRATIONS: &[&str] = &[
    // 1: the upstream calls of each charge, a JSON array of
    // `{"provider", "label", "status"}` ('' for entries recorded before).
    "ALTER TABLE ledger_entries ADD COLUMN attempts TEXT NOT NULL DEFAULT ''",
];

/// The SQLite ledger store (WAL, `synchronous=FULL`, `BEGIN IMMEDIATE`).
#[derive(Debug)]
pub struct SqliteLedger {
    conn: Mutex<Conn>,
    floor: Money,
}

#[derive(Debug)]
struct Conn {
    conn: Connection,
    /// Whether the connection is set to `synchronous=FULL`.
    synchronous: bool,
    /// Charges' balance changes not written yet.
    deltas: Deltas,
}

fn store_err(e: rusqlite::Error) -> LedgerError {
    LedgerError::Store(e.to_string())
}

impl SqliteLedger {
    /// Opens (creating) the ledger database; `floor` is the lowest balance a
    /// reservation may leave.
    ///
    /// # Errors
    /// Storage failure.
    pub fn open(path: impl AsRef<Path>, floor: Money) -> Result<Self, LedgerError> {
        let mut conn = Connection::open(path).map_err(store_err)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(store_err)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .map_err(store_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(store_err)?;
        conn.execute_batch(SCHEMA).map_err(store_err)?;
        migrate(&mut conn)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Self {
            conn: Mutex::new(Conn {
                conn,
                synchronous: true,
                deltas: Deltas::default(),
            }),
            floor,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Applies the [`MIGRATIONS`] a database lacks, in one transaction (two
/// processes opening it at once apply each once: the second sees the
/// first's version). A database from a newer build is refused.
fn migrate(conn: &mut Connection) -> Result<(), LedgerError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(store_err)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(store_err)?;
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if version > known {
        return Err(LedgerError::Store(format!(
            "ledger schema version {version} is newer than this build ({known})"
        )));
    }
    let applied = usize::try_from(version).unwrap_or(0);
    for step in MIGRATIONS.iter().skip(applied) {
        tx.execute_batch(step).map_err(store_err)?;
    }
    if version < known {
        tx.pragma_update(None, "user_version", known)
            .map_err(store_err)?;
    }
    tx.commit().map_err(store_err)
}

impl LedgerStore for SqliteLedger {
    fn transaction(
        &self,
        durable: bool,
        body: &mut dyn FnMut(&mut dyn LedgerTransaction) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let mut guard = self.lock();
        let Conn {
            conn,
            synchronous,
            deltas,
        } = &mut *guard;
        // Reservations are void after a restart (released at open, swept on
        // expiry), so a batch of only reservations and releases need not
        // wait for an fsync: WAL with synchronous=NORMAL still survives a
        // process crash. Anything that moves money commits with FULL.
        if *synchronous != durable {
            conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })
                .map_err(store_err)?;
            *synchronous = durable;
        }
        deltas.reset();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store_err)?;
        let mut writes = SqliteTx {
            tx: &tx,
            floor: self.floor,
            deltas,
            insert: None,
        };
        body(&mut writes)?;
        writes.flush().map_err(store_err)?;
        // Its kept statement goes back to the cache before the commit.
        drop(writes);
        tx.commit().map_err(store_err)
    }

    fn balance(&self, account: &str) -> Result<Balance, LedgerError> {
        let guard = self.lock();
        let row: Option<(i64, i64)> = guard
            .conn
            .prepare_cached("SELECT balance, reserved FROM ledger_accounts WHERE account = ?1")
            .and_then(|mut s| {
                s.query_row(params![account], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(store_err)?;
        Ok(Balance::from_row(row))
    }

    fn usage(
        &self,
        account: &str,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<StoredEntry>, LedgerError> {
        let guard = self.lock();
        let mut stmt = guard
            .conn
            .prepare_cached(
                "SELECT seq, request_id, account, created_at, provider, model, endpoint, prompt_tokens, completion_tokens,
                        cached_tokens, usage_source, provider_cost, amount, price_source, attempts
                 FROM ledger_entries WHERE account = ?1 AND kind = 'charge' AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
            )
            .map_err(store_err)?;
        let rows = stmt
            .query_map(
                params![
                    account,
                    before.unwrap_or(i64::MAX),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                stored_entry,
            )
            .map_err(store_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(store_err)?;
        Ok(rows)
    }

    fn entries(&self, after: i64, limit: usize) -> Result<Vec<EntryRow>, LedgerError> {
        let guard = self.lock();
        let mut stmt = guard
            .conn
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))
            .map_err(store_err)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        stmt.query_map(params![after, limit], entry_row)
            .and_then(Iterator::collect)
            .map_err(store_err)
    }

    fn accounts(&self) -> Result<Vec<AccountRow>, LedgerError> {
        let guard = self.lock();
        // Text compares as bytes (BINARY).
        let mut stmt = guard
            .conn
            .prepare_cached(
                "SELECT account, balance, reserved FROM ledger_accounts ORDER BY account",
            )
            .map_err(store_err)?;
        stmt.query_map([], |r| {
            Ok(AccountRow {
                account: r.get(0)?,
                balance: Money::from_nanos(r.get(1)?),
                reserved: Money::from_nanos(r.get(2)?),
            })
        })
        .and_then(Iterator::collect)
        .map_err(store_err)
    }
}

/// A row of the entries query.
fn entry_row(r: &rusqlite::Row<'_>) -> Result<EntryRow, rusqlite::Error> {
    Ok(EntryRow {
        seq: r.get(0)?,
        request_id: r.get(1)?,
        kind: r.get(2)?,
        account: r.get(3)?,
        created_at_ms: r.get(4)?,
        provider: r.get(5)?,
        model: r.get(6)?,
        endpoint: r.get(7)?,
        prompt_tokens: r.get(8)?,
        completion_tokens: r.get(9)?,
        cached_tokens: r.get(10)?,
        usage_source: r.get(11)?,
        provider_cost: Money::from_nanos(r.get(12)?),
        amount: Money::from_nanos(r.get(13)?),
        price_source: r.get(14)?,
        attempts: r.get(15)?,
    })
}

/// A row of the usage query.
fn stored_entry(r: &rusqlite::Row<'_>) -> Result<StoredEntry, rusqlite::Error> {
    Ok(StoredEntry {
        seq: r.get(0)?,
        entry: LedgerEntry {
            request_id: r.get(1)?,
            account: r.get(2)?,
            created_at_ms: r.get(3)?,
            provider: r.get(4)?,
            model: r.get(5)?,
            endpoint: r.get(6)?,
            prompt_tokens: to_u64(r.get(7)?),
            completion_tokens: to_u64(r.get(8)?),
            cached_tokens: to_u64(r.get(9)?),
            usage_source: UsageSource::from_stored(&r.get::<_, String>(10)?),
            provider_cost: Money::from_nanos(r.get(11)?),
            markup: Money::from_nanos(r.get(12)?),
            price_source: PriceSource::from_stored(&r.get::<_, String>(13)?),
            attempts: decode_attempts(&r.get::<_, String>(14)?),
        },
    })
}

/// The writes of one SQLite transaction.
struct SqliteTx<'a, 'c> {
    tx: &'a Transaction<'c>,
    floor: Money,
    /// Charges' balance changes, written before anything else that reads
    /// or moves a balance ([`SqliteTx::flush`]).
    deltas: &'a mut Deltas,
    /// The charge insert, prepared at the batch's first charge and kept
    /// for the rest (looking it up in the statement cache and handing it
    /// back cost ~2k instructions a charge, on the writer thread).
    insert: Option<rusqlite::CachedStatement<'a>>,
}

impl SqliteTx<'_, '_> {
    fn exec(&self, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<usize, rusqlite::Error> {
        self.tx.prepare_cached(sql)?.execute(p)
    }

    /// Writes the summed charges.
    fn flush(&mut self) -> Result<(), rusqlite::Error> {
        let tx = self.tx;
        // Only charges are summed here (a reservation is removed at once).
        self.deltas
            .flush(|account, delta, _| add_to_balance(tx, account, delta))
    }

    /// Whether an entry with this request id is recorded.
    fn exists(&self, request_id: &str) -> Result<bool, rusqlite::Error> {
        self.tx
            .prepare_cached("SELECT 1 FROM ledger_entries WHERE request_id = ?1")?
            .exists(params![request_id])
    }

    /// The account and amount of a reservation held in the store.
    fn reservation(&self, request_id: &str) -> Result<Option<(String, i64)>, rusqlite::Error> {
        self.tx
            .prepare_cached(
                "SELECT account, amount FROM ledger_reservations WHERE request_id = ?1",
            )?
            .query_row(params![request_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
    }

    fn unreserve(
        &self,
        request_id: &str,
        account: &str,
        amount: i64,
    ) -> Result<(), rusqlite::Error> {
        self.exec(
            "DELETE FROM ledger_reservations WHERE request_id = ?1",
            params![request_id],
        )?;
        self.exec(
            "UPDATE ledger_accounts SET reserved = reserved - ?1 WHERE account = ?2",
            params![amount, account],
        )?;
        Ok(())
    }

    /// The account's balance and reservations (creating the account).
    fn account_row(&self, account: &str) -> Result<(i64, i64), rusqlite::Error> {
        self.exec(
            "INSERT OR IGNORE INTO ledger_accounts (account) VALUES (?1)",
            params![account],
        )?;
        self.tx
            .prepare_cached("SELECT balance, reserved FROM ledger_accounts WHERE account = ?1")?
            .query_row(params![account], |r| Ok((r.get(0)?, r.get(1)?)))
    }

    fn try_credit(
        &mut self,
        account: &str,
        request_id: &str,
        amount: Money,
    ) -> Outcome<CreditError, rusqlite::Error> {
        if amount.is_negative() {
            return Ok(Err(CreditError::InvalidAmount));
        }
        if self.exists(request_id)? {
            return Ok(Ok(Idempotent::Duplicate));
        }
        let (balance, _) = self.account_row(account)?;
        if balance.checked_add(amount.nanos()).is_none() {
            return Ok(Err(CreditError::InvalidAmount));
        }
        self.exec(
            "INSERT INTO ledger_entries (request_id, kind, account, created_at, amount) VALUES (?1, 'credit', ?2, ?3, ?4)",
            params![request_id, account, now_ms(), amount.nanos()],
        )?;
        self.exec(
            "UPDATE ledger_accounts SET balance = balance + ?1 WHERE account = ?2",
            params![amount.nanos(), account],
        )?;
        Ok(Ok(Idempotent::Applied))
    }

    fn try_reserve(
        &mut self,
        account: &str,
        request_id: &str,
        amount: Money,
        expires_at_ms: i64,
    ) -> Outcome<ReserveError, rusqlite::Error> {
        if amount.is_negative() {
            return Ok(Err(ReserveError::InvalidAmount));
        }
        if self.reservation(request_id)?.is_some() || self.exists(request_id)? {
            return Ok(Ok(Idempotent::Duplicate));
        }
        let (balance, reserved) = self.account_row(account)?;
        let available = available(balance, reserved, self.floor.nanos());
        if i128::from(amount.nanos()) > available {
            return Ok(Err(insufficient_balance(available, amount)));
        }
        self.exec(
            "INSERT INTO ledger_reservations (request_id, account, amount, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![request_id, account, amount.nanos(), expires_at_ms],
        )?;
        self.exec(
            "UPDATE ledger_accounts SET reserved = reserved + ?1 WHERE account = ?2",
            params![amount.nanos(), account],
        )?;
        Ok(Ok(Idempotent::Applied))
    }

    fn try_settle(&mut self, entry: &LedgerEntry) -> Outcome<SettleError, rusqlite::Error> {
        if entry.has_negative_amount() {
            return Ok(Err(SettleError::InvalidAmount));
        }
        if self.exists(&entry.request_id)? {
            return Ok(Ok(Idempotent::Duplicate));
        }
        // Without its reservation (swept, or released at a restart) the
        // charge is still owed: recorded all the same.
        if let Some((account, amount)) = self.reservation(&entry.request_id)? {
            self.unreserve(&entry.request_id, &account, amount)?;
        }
        if self.insert_charge(entry)? {
            add_to_balance(self.tx, &entry.account, -entry.markup.nanos())?;
        }
        Ok(Ok(Idempotent::Applied))
    }

    fn try_charge(&mut self, entry: &LedgerEntry) -> Outcome<SettleError, rusqlite::Error> {
        if entry.has_negative_amount() {
            return Ok(Err(SettleError::InvalidAmount));
        }
        if !self.insert_charge(entry)? {
            return Ok(Ok(Idempotent::Duplicate));
        }
        self.deltas.add(&entry.account, entry.markup.nanos());
        Ok(Ok(Idempotent::Applied))
    }

    fn try_release(&mut self, request_id: &str) -> Result<Released, rusqlite::Error> {
        Ok(match self.reservation(request_id)? {
            None => Released::NothingToRelease,
            Some((account, amount)) => {
                self.unreserve(request_id, &account, amount)?;
                Released::Applied
            }
        })
    }

    fn try_sweep(&mut self, now_ms: i64) -> Result<u64, rusqlite::Error> {
        let expired: Vec<(String, String, i64)> = {
            let mut stmt = self.tx.prepare_cached(
                "SELECT request_id, account, amount FROM ledger_reservations WHERE expires_at < ?1",
            )?;
            stmt.query_map(params![now_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?
        };
        for (id, account, amount) in &expired {
            self.unreserve(id, account, *amount)?;
        }
        Ok(u64::try_from(expired.len()).unwrap_or(u64::MAX))
    }
}

/// Every write but a charge reads or moves a balance: the summed charges
/// are written first.
impl LedgerTransaction for SqliteTx<'_, '_> {
    fn credit(&mut self, account: &str, request_id: &str, amount: Money) -> Outcome<CreditError> {
        self.flush().map_err(store_err)?;
        self.try_credit(account, request_id, amount)
            .map_err(store_err)
    }

    fn reserve(
        &mut self,
        account: &str,
        request_id: &str,
        amount: Money,
        expires_at_ms: i64,
    ) -> Outcome<ReserveError> {
        self.flush().map_err(store_err)?;
        self.try_reserve(account, request_id, amount, expires_at_ms)
            .map_err(store_err)
    }

    fn settle(&mut self, entry: &LedgerEntry) -> Outcome<SettleError> {
        self.flush().map_err(store_err)?;
        self.try_settle(entry).map_err(store_err)
    }

    fn charge(&mut self, entry: &LedgerEntry) -> Outcome<SettleError> {
        self.try_charge(entry).map_err(store_err)
    }

    fn release(&mut self, request_id: &str) -> Result<Released, LedgerError> {
        self.flush().map_err(store_err)?;
        self.try_release(request_id).map_err(store_err)
    }

    /// Reads and moves no balance: no flush.
    fn extend(&mut self, request_id: &str, expires_at_ms: i64) -> Result<Extended, LedgerError> {
        let changed = self
            .exec(
                "UPDATE ledger_reservations SET expires_at = MAX(expires_at, ?2) WHERE request_id = ?1",
                params![request_id, expires_at_ms],
            )
            .map_err(store_err)?;
        Ok(if changed == 0 {
            Extended::NothingToExtend
        } else {
            Extended::Applied
        })
    }

    fn sweep(&mut self, now_ms: i64) -> Result<u64, LedgerError> {
        self.flush().map_err(store_err)?;
        self.try_sweep(now_ms).map_err(store_err)
    }

    fn counts(&mut self) -> Result<LedgerCounts, LedgerError> {
        self.flush().map_err(store_err)?;
        self.tx
            .query_row(COUNT_ROWS, [], |r| {
                Ok(LedgerCounts::from_row(r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(store_err)
    }

    fn import_accounts(&mut self, rows: &[AccountRow]) -> Result<(), LedgerError> {
        self.flush().map_err(store_err)?;
        for a in rows {
            self.exec(
                "INSERT INTO ledger_accounts (account, balance, reserved) VALUES (?1, ?2, ?3)",
                params![a.account, a.balance.nanos(), a.reserved.nanos()],
            )
            .map_err(store_err)?;
        }
        Ok(())
    }

    /// `seq` is the rowid: the next one is above the largest.
    fn import_entries(&mut self, rows: &[EntryRow]) -> Result<(), LedgerError> {
        let sql = format!(
            "INSERT INTO ledger_entries ({ENTRY_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
        );
        for e in rows {
            self.exec(
                &sql,
                params![
                    e.seq,
                    e.request_id,
                    e.kind,
                    e.account,
                    e.created_at_ms,
                    e.provider,
                    e.model,
                    e.endpoint,
                    e.prompt_tokens,
                    e.completion_tokens,
                    e.cached_tokens,
                    e.usage_source,
                    e.provider_cost.nanos(),
                    e.amount.nanos(),
                    e.price_source,
                    e.attempts
                ],
            )
            .map_err(store_err)?;
        }
        Ok(())
    }
}

impl SqliteTx<'_, '_> {
    /// Inserts a charge's ledger row: false when its request id is already
    /// recorded (the insert itself detects duplicates).
    fn insert_charge(&mut self, entry: &LedgerEntry) -> Result<bool, rusqlite::Error> {
        let insert = match &mut self.insert {
            Some(insert) => insert,
            None => self.insert.insert(self.tx.prepare_cached(
                "INSERT INTO ledger_entries (request_id, kind, account, created_at, provider, model, endpoint, prompt_tokens,
                    completion_tokens, cached_tokens, usage_source, provider_cost, amount, price_source, attempts)
                 VALUES (?1, 'charge', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT (request_id) DO NOTHING",
            )?),
        };
        let inserted = insert.execute(params![
            entry.request_id,
            entry.account,
            entry.created_at_ms,
            entry.provider,
            entry.model,
            entry.endpoint,
            to_i64(entry.prompt_tokens),
            to_i64(entry.completion_tokens),
            to_i64(entry.cached_tokens),
            entry.usage_source.as_str(),
            entry.provider_cost.nanos(),
            entry.markup.nanos(),
            entry.price_source.as_str(),
            encode_attempts(&entry.attempts)
        ])?;
        Ok(inserted == 1)
    }
}

/// Adds `delta` to an account's balance (creating the account).
fn add_to_balance(tx: &Transaction<'_>, account: &str, delta: i64) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "INSERT INTO ledger_accounts (account, balance) VALUES (?1, ?2)
         ON CONFLICT (account) DO UPDATE SET balance = balance + ?2",
    )?
    .execute(params![account, delta])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ledger::store::Attempt;

    /// The schema as the release before attempts made it (no
    /// `user_version`), with one charge.
    fn old_database(path: &Path) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute(
            "INSERT INTO ledger_entries (request_id, kind, account, created_at, provider, model, endpoint, amount)
             VALUES ('old-1', 'charge', 'alice', 1, 'openai', 'gpt-4o-mini', '/api/v1/chat/completions', 5)",
            [],
        )
        .unwrap();
    }

    fn entry(id: &str, attempts: Vec<Attempt>) -> LedgerEntry {
        LedgerEntry {
            request_id: id.into(),
            account: "alice".into(),
            created_at_ms: now_ms(),
            provider: "groq".into(),
            model: "m".into(),
            endpoint: "/api/v1/chat/completions".into(),
            prompt_tokens: 1,
            completion_tokens: 1,
            cached_tokens: 0,
            usage_source: UsageSource::Reported,
            provider_cost: Money::from_nanos(20),
            markup: Money::from_nanos(1),
            price_source: PriceSource::Catalog,
            attempts,
        }
    }

    #[test]
    fn an_old_database_gains_attempts_and_keeps_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        old_database(&path);
        let store = SqliteLedger::open(&path, Money::ZERO).unwrap();
        let attempts = vec![
            Attempt {
                provider: "openai".into(),
                label: "default".into(),
                status: 500,
            },
            Attempt {
                provider: "groq".into(),
                label: "work".into(),
                status: 200,
            },
        ];
        store
            .transaction(true, &mut |tx| {
                tx.charge(&entry("new-1", attempts.clone()))?.unwrap();
                tx.charge(&entry("new-2", Vec::new()))?.unwrap();
                Ok(())
            })
            .unwrap();
        let rows = store.usage("alice", 10, None).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].entry.request_id, "new-2");
        assert!(rows[0].entry.attempts.is_empty());
        assert_eq!(rows[1].entry.attempts, attempts);
        assert_eq!(rows[2].entry.request_id, "old-1");
        assert!(rows[2].entry.attempts.is_empty());
        assert_eq!(
            rows[1].to_api_json()["attempts"],
            serde_json::json!([
                {"provider": "openai", "label": "default", "status": 500},
                {"provider": "groq", "label": "work", "status": 200},
            ])
        );
        drop(store);
        // Opening again applies nothing twice.
        let store = SqliteLedger::open(&path, Money::ZERO).unwrap();
        assert_eq!(store.usage("alice", 10, None).unwrap().len(), 3);
        drop(store);
        // A database from a newer build is refused.
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        assert!(SqliteLedger::open(&path, Money::ZERO).is_err());
    }
}
