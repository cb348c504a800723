//! The PostgreSQL store (feature `postgres`): the SQLite store's tables and
//! semantics, shared by several gateway instances.
//!
//! - **Schema**: versioned migrations run at open ([`byok_pg::migrate`]),
//!   recorded in `schema_migrations` (component `ledger`), under the
//!   advisory lock every byok store takes, so that instances starting
//!   together migrate once.
//! - **Reservations** are a conditional update (`reserved = reserved + x
//!   WHERE balance − reserved − x ≥ floor`): PostgreSQL re-checks the
//!   condition on the row's newest version after waiting for its lock, so
//!   transactions of several instances never overspend.
//! - **Entries** are idempotent by request id across instances (`INSERT ...
//!   ON CONFLICT (request_id) DO NOTHING`: the loser of a race sees a
//!   duplicate and changes no balance).
//! - **Transactions** run at `READ COMMITTED`; a batch that fails with a
//!   serialization failure or a deadlock (two instances locking accounts in
//!   opposite orders), or on a connection that closed, runs again from
//!   scratch (up to [`MAX_ATTEMPTS`] times). A non-durable batch (only
//!   reservations and releases) commits with `SET LOCAL synchronous_commit
//!   = off`.
//! - **Connections**: a small pool ([`byok_pg::Pool`], at most
//!   [`MAX_OPEN`]), each connection ([`Conn`]) with its statements prepared
//!   once. The writer thread takes one per batch; reads
//!   ([`LedgerStore::balance`], [`LedgerStore::usage`]) take another instead
//!   of waiting for the batch (a single shared connection made a balance
//!   read wait for the writer's commit: see `docs/postgres.md`).
//! - **Reservations alone** ([`LedgerStore::reserve_alone`]): one
//!   statement, committed on its own (autocommit) on a second pool whose
//!   sessions run with `synchronous_commit = off`, instead of in the
//!   writer's batch (which waits for the commit window and the
//!   settlements' durable commit). See [`RESERVE_ALONE`].

use std::time::Duration;

use byok_pg::{MigrateError, Pool, describe, is_lost, is_retryable};
use postgres::error::SqlState;
use postgres::{Client, NoTls, Statement, Transaction};

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

/// The ledger's migrations, in order: (version, SQL). Applied ones are
/// never edited; a change is a new version.
const MIGRATIONS: &[(i32, &str)] = &[
    // The ledger's tables.
    (
        1,
        "
CREATE TABLE ledger_accounts (
    account    TEXT PRIMARY KEY,
    balance    BIGINT NOT NULL DEFAULT 0,
    reserved   BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0)
);
CREATE TABLE ledger_entries (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id        TEXT NOT NULL UNIQUE,
    kind              TEXT NOT NULL CHECK (kind IN ('charge', 'credit')),
    account           TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    provider          TEXT NOT NULL DEFAULT '',
    model             TEXT NOT NULL DEFAULT '',
    endpoint          TEXT NOT NULL DEFAULT '',
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cached_tokens     BIGINT NOT NULL DEFAULT 0,
    usage_source      TEXT NOT NULL DEFAULT 'reported',
    provider_cost     BIGINT NOT NULL DEFAULT 0,
    amount            BIGINT NOT NULL,
    price_source      TEXT NOT NULL DEFAULT 'catalog'
);
CREATE INDEX ledger_entries_account ON ledger_entries (account, seq);
CREATE TABLE ledger_reservations (
    request_id TEXT PRIMARY KEY,
    account    TEXT NOT NULL,
    amount     BIGINT NOT NULL CHECK (amount >= 0),
    expires_at BIGINT NOT NULL
);
CREATE INDEX ledger_reservations_expiry ON ledger_reservations (expires_at);
",
    ),
    // The upstream calls of each charge.
    (
        2,
        "ALTER TABLE ledger_entries ADD COLUMN attempts TEXT NOT NULL DEFAULT ''",
    ),
];

/// The component name of the ledger's rows in `schema_migrations` (the
/// other stores record theirs under their own names).
const COMPONENT: &str = "ledger";

/// How many times a transaction runs at most (the first try included)
/// when it fails with a serialization failure, a deadlock, or a closed
/// connection.
const MAX_ATTEMPTS: u32 = 5;

/// Most connections open at once (the writer's, and readers').
const MAX_OPEN: usize = 8;

/// Most connections open at once for reservations made alone (the
/// ledger's reserving threads take one each: see `RESERVING_THREADS` in
/// the ledger).
const MAX_OPEN_RESERVING: usize = 4;

/// What a connection for reservations made alone runs first: its
/// statements commit without waiting for the disk (a reservation is void
/// after a restart anyway; see [`RESERVE_ALONE`]).
const NON_DURABLE_SESSION: &str = "SET synchronous_commit = off";

/// The name of the threads that close a pool's idle connections when the
/// store is dropped.
const CLOSE_THREAD: &str = "byok-ledger-close";

/// A reservation made alone, in one statement (one round trip, committed
/// on its own): the hold (`reserved + x`, only while `balance − reserved −
/// x ≥ floor` on the account row's newest version, re-checked after
/// waiting for its lock: never overspent across instances) and then the
/// reservation row, only when the hold was made and the request id is
/// neither settled nor reserved. Then whether it was applied, and whether
/// the request id was already there (a duplicate).
///
/// The same request id reserved at once by another transaction: the
/// insert waits for it, then fails with a unique violation (`23505`), which
/// undoes the hold: a duplicate. Unapplied and not a duplicate: the balance
/// does not cover it, or the account has no row yet (the caller tells the
/// two apart). Locks the account row, then the reservation's key (the
/// writer's settlement locks them the other way round; only the same
/// request id reserved and settled at once could deadlock, and a deadlock
/// runs again).
///
/// Parameters: request id, account, amount, deadline, floor.
const RESERVE_ALONE: &str = "
WITH h AS (UPDATE ledger_accounts SET reserved = reserved + $3::bigint
           WHERE account = $2 AND balance::numeric - reserved - $3::bigint >= $5::bigint
             AND NOT EXISTS (SELECT 1 FROM ledger_entries WHERE request_id = $1)
             AND NOT EXISTS (SELECT 1 FROM ledger_reservations WHERE request_id = $1)
           RETURNING account),
     r AS (INSERT INTO ledger_reservations (request_id, account, amount, expires_at)
           SELECT $1, account, $3::bigint, $4::bigint FROM h
           RETURNING 1)
SELECT EXISTS (SELECT 1 FROM r),
       EXISTS (SELECT 1 FROM ledger_entries WHERE request_id = $1)
       OR EXISTS (SELECT 1 FROM ledger_reservations WHERE request_id = $1)";

/// The PostgreSQL ledger store.
#[derive(Debug)]
pub struct PostgresLedgerStore {
    pool: Pool<Conn>,
    /// Connections for reservations made alone (non-durable sessions).
    reserving: Pool<Conn>,
    floor: i64,
}

impl PostgresLedgerStore {
    /// Connects to `url` (`postgres://user@host:port/db`, or the key=value
    /// form; no TLS yet), runs the ledger's migrations, and keeps the
    /// connection for the pool. `floor` is the lowest balance a reservation
    /// may leave.
    ///
    /// # Errors
    /// A malformed URL, a connection or migration failure, or a database
    /// whose ledger schema is newer than this build.
    pub fn open(url: &str, floor: Money) -> Result<Self, LedgerError> {
        let config = byok_pg::config(url, "byok-ledger").map_err(pg_err)?;
        let mut client = config.connect(NoTls).map_err(pg_err)?;
        byok_pg::migrate(&mut client, COMPONENT, MIGRATIONS).map_err(|e| match e {
            MigrateError::Newer { applied, known } => LedgerError::Store(format!(
                "the database's ledger schema is version {applied}, newer than this build's {known}"
            )),
            MigrateError::Db(e) => pg_err(e),
        })?;
        let first = <Conn as byok_pg::Connection>::new(client).map_err(pg_err)?;
        Ok(Self {
            reserving: Pool::new(
                config.clone(),
                None,
                MAX_OPEN_RESERVING,
                Some(NON_DURABLE_SESSION.into()),
                CLOSE_THREAD,
            ),
            pool: Pool::new(config, Some(first), MAX_OPEN, None, CLOSE_THREAD),
            floor: floor.nanos(),
        })
    }

    /// Runs `read` on a pooled connection; once more on a new connection
    /// if the first one had closed (a server restart, an idle timeout).
    fn read<T>(
        &self,
        read: impl Fn(&mut Conn) -> Result<T, postgres::Error>,
    ) -> Result<T, LedgerError> {
        self.pool.run(read).map_err(pg_err)
    }
}

/// A PostgreSQL error as the ledger reports it: the server's message and
/// SQLSTATE when it sent one ([`byok_pg::describe`]).
fn pg_err(e: postgres::Error) -> LedgerError {
    LedgerError::Store(describe(&e))
}

/// A connection, its prepared statements, and the charges' balance
/// changes of its current transaction.
struct Conn {
    client: Client,
    st: Statements,
    deltas: Deltas,
}

/// Every statement, prepared once per connection.
struct Statements {
    balance: Statement,
    usage: Statement,
    entry_exists: Statement,
    insert_charge: Statement,
    insert_credit: Statement,
    ensure_account: Statement,
    lock_balance: Statement,
    add_balance: Statement,
    flush_account: Statement,
    insert_reservation: Statement,
    delete_reservation: Statement,
    hold: Statement,
    unreserve: Statement,
    extend: Statement,
    sweep: Statement,
    reserve_alone: Statement,
}

impl Statements {
    fn prepare(c: &mut Client) -> Result<Self, postgres::Error> {
        Ok(Self {
            balance: c.prepare("SELECT balance, reserved FROM ledger_accounts WHERE account = $1")?,
            usage: c.prepare(
                "SELECT seq, request_id, account, created_at, provider, model, endpoint, prompt_tokens,
                        completion_tokens, cached_tokens, usage_source, provider_cost, amount, price_source,
                        attempts
                 FROM ledger_entries
                 WHERE account = $1 AND kind = 'charge' AND seq < $2::bigint
                 ORDER BY seq DESC LIMIT $3::bigint",
            )?,
            entry_exists: c.prepare("SELECT 1 FROM ledger_entries WHERE request_id = $1")?,
            insert_charge: c.prepare(
                "INSERT INTO ledger_entries (request_id, kind, account, created_at, provider, model, endpoint,
                     prompt_tokens, completion_tokens, cached_tokens, usage_source, provider_cost, amount,
                     price_source, attempts)
                 VALUES ($1, 'charge', $2, $3::bigint, $4, $5, $6, $7::bigint, $8::bigint, $9::bigint, $10,
                     $11::bigint, $12::bigint, $13, $14)
                 ON CONFLICT (request_id) DO NOTHING",
            )?,
            insert_credit: c.prepare(
                "INSERT INTO ledger_entries (request_id, kind, account, created_at, amount)
                 VALUES ($1, 'credit', $2, $3::bigint, $4::bigint)
                 ON CONFLICT (request_id) DO NOTHING",
            )?,
            ensure_account: c.prepare(
                "INSERT INTO ledger_accounts (account) VALUES ($1) ON CONFLICT (account) DO NOTHING",
            )?,
            lock_balance: c.prepare(
                "SELECT balance, reserved FROM ledger_accounts WHERE account = $1 FOR UPDATE",
            )?,
            add_balance: c.prepare(
                "INSERT INTO ledger_accounts AS a (account, balance) VALUES ($1, $2::bigint)
                 ON CONFLICT (account) DO UPDATE SET balance = a.balance + EXCLUDED.balance",
            )?,
            insert_reservation: c.prepare(
                "INSERT INTO ledger_reservations (request_id, account, amount, expires_at)
                 VALUES ($1, $2, $3::bigint, $4::bigint)
                 ON CONFLICT (request_id) DO NOTHING",
            )?,
            delete_reservation: c.prepare(
                "DELETE FROM ledger_reservations WHERE request_id = $1 RETURNING account, amount",
            )?,
            flush_account: c.prepare(
                "INSERT INTO ledger_accounts AS a (account, balance) VALUES ($1, $2::bigint)
                 ON CONFLICT (account) DO UPDATE
                 SET balance = a.balance + EXCLUDED.balance, reserved = a.reserved + $3::bigint",
            )?,
            // The atomic check: the row's newest version must cover it.
            hold: c.prepare(
                "UPDATE ledger_accounts SET reserved = reserved + $2::bigint
                 WHERE account = $1 AND balance::numeric - reserved - $2::bigint >= $3::bigint",
            )?,
            unreserve: c.prepare(
                "WITH r AS (DELETE FROM ledger_reservations WHERE request_id = $1 RETURNING account, amount),
                      u AS (UPDATE ledger_accounts a SET reserved = a.reserved - r.amount
                            FROM r WHERE a.account = r.account)
                 SELECT count(*) FROM r",
            )?,
            extend: c.prepare(
                "UPDATE ledger_reservations SET expires_at = GREATEST(expires_at, $2::bigint)
                 WHERE request_id = $1",
            )?,
            sweep: c.prepare(
                "WITH r AS (DELETE FROM ledger_reservations WHERE expires_at < $1::bigint
                            RETURNING account, amount),
                      s AS (SELECT account, sum(amount) AS amount, count(*) AS n FROM r GROUP BY account),
                      u AS (UPDATE ledger_accounts a SET reserved = (a.reserved - s.amount)::bigint
                            FROM s WHERE a.account = s.account)
                 SELECT coalesce(sum(n), 0)::bigint FROM s",
            )?,
            reserve_alone: c.prepare(RESERVE_ALONE)?,
        })
    }
}

/// Why one try of a transaction failed.
struct Failure {
    error: LedgerError,
    retryable: bool,
    /// The connection was lost.
    lost: bool,
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Self {
        Self {
            retryable: is_retryable(&e),
            lost: is_lost(&e),
            error: pg_err(e),
        }
    }
}

impl byok_pg::Connection for Conn {
    /// Prepares every statement.
    fn new(mut client: Client) -> Result<Self, postgres::Error> {
        let st = Statements::prepare(&mut client)?;
        Ok(Self {
            client,
            st,
            deltas: Deltas::default(),
        })
    }

    fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

impl Conn {
    /// One try of a store transaction.
    fn run(
        &mut self,
        durable: bool,
        floor: i64,
        body: &mut dyn FnMut(&mut dyn LedgerTransaction) -> Result<(), LedgerError>,
    ) -> Result<(), Failure> {
        let Conn { client, st, deltas } = self;
        deltas.reset();
        let mut tx = client.transaction()?;
        if !durable {
            // Reservations and releases are void after a restart anyway.
            tx.batch_execute("SET LOCAL synchronous_commit = off")?;
        }
        let mut writes = PgTx {
            tx: &mut tx,
            st,
            floor,
            deltas,
            retryable: false,
            lost: false,
        };
        // The summed balance changes are the batch's last statements: a
        // deadlock or lost connection there is retried like any other.
        let result = body(&mut writes).and_then(|()| {
            let flushed = writes.flush();
            flushed.map_err(|e| writes.fail(e))
        });
        let (retryable, lost) = (writes.retryable, writes.lost);
        if let Err(error) = result {
            // Dropping `tx` rolls it back.
            return Err(Failure {
                error,
                retryable,
                lost,
            });
        }
        tx.commit()?;
        Ok(())
    }
}

impl LedgerStore for PostgresLedgerStore {
    fn transaction(
        &self,
        durable: bool,
        body: &mut dyn FnMut(&mut dyn LedgerTransaction) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let mut attempt = 1;
        loop {
            let mut lease = self.pool.get().map_err(pg_err)?;
            let result = lease.conn.run(durable, self.floor, body);
            // A connection the server ended (a restart, an idle timeout,
            // `pg_terminate_backend`) is dropped (a closed one too), and the
            // batch runs again on a new one.
            if let Err(f) = &result {
                lease.lost |= f.lost;
            }
            self.pool.put(lease);
            match result {
                Ok(()) => return Ok(()),
                Err(f) if f.retryable && attempt < MAX_ATTEMPTS => {
                    // A little more each time, so the two sides of a
                    // deadlock do not meet again.
                    std::thread::sleep(Duration::from_millis(u64::from(attempt) * 5));
                    attempt += 1;
                }
                Err(f) => return Err(f.error),
            }
        }
    }

    fn reserves_alone(&self) -> bool {
        true
    }

    /// One statement (a conditional update of the account's `reserved`
    /// and the reservation's row) on a connection whose session commits
    /// with `synchronous_commit = off`: one round trip when it is applied
    /// or a duplicate. A refusal reads the account's row (a second round
    /// trip) for the amount available; an account without a row yet
    /// reserves in a transaction ([`LedgerTransaction::reserve`], which
    /// makes the row: a floor below zero lets a new account reserve). A
    /// statement that failed with a deadlock, or on a connection that
    /// closed, runs again (up to 5 times): it is atomic, and if it had
    /// committed before the connection closed, it now finds its own
    /// reservation (a duplicate, holding nothing more).
    fn reserve_alone(
        &self,
        account: &str,
        request_id: &str,
        amount: Money,
        expires_at_ms: i64,
    ) -> Outcome<ReserveError> {
        if amount.is_negative() {
            return Ok(Err(ReserveError::InvalidAmount));
        }
        let nanos = amount.nanos();
        let mut attempt = 1;
        let row = loop {
            let mut lease = self.reserving.get().map_err(pg_err)?;
            let c = &mut lease.conn;
            let result = c
                .client
                .query_one(
                    &c.st.reserve_alone,
                    &[&request_id, &account, &nanos, &expires_at_ms, &self.floor],
                )
                .and_then(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .and_then(|decided| match decided {
                    (true, _) => Ok(Ok(Idempotent::Applied)),
                    (false, true) => Ok(Ok(Idempotent::Duplicate)),
                    (false, false) => c
                        .client
                        .query_opt(&c.st.balance, &[&account])?
                        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                        .transpose()
                        .map(Err),
                });
            if let Err(e) = &result {
                // Dropped (a closed one too) rather than reused.
                lease.lost |= is_lost(e);
            }
            self.reserving.put(lease);
            match result {
                Ok(Ok(outcome)) => return Ok(Ok(outcome)),
                Ok(Err(row)) => break row,
                // The same request id reserved at once by another
                // transaction, which committed first.
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    return Ok(Ok(Idempotent::Duplicate));
                }
                Err(e) if is_retryable(&e) && attempt < MAX_ATTEMPTS => {
                    std::thread::sleep(Duration::from_millis(u64::from(attempt) * 5));
                    attempt += 1;
                }
                Err(e) => return Err(pg_err(e)),
            }
        };
        match row {
            Some((balance, reserved)) => Ok(Err(insufficient_balance(
                available(balance, reserved, self.floor),
                amount,
            ))),
            None => super::store::reserve_in_a_transaction(
                self,
                account,
                request_id,
                amount,
                expires_at_ms,
            ),
        }
    }

    fn balance(&self, account: &str) -> Result<Balance, LedgerError> {
        let row = self.read(|c| {
            c.client
                .query_opt(&c.st.balance, &[&account])?
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .transpose()
        })?;
        Ok(Balance::from_row(row))
    }

    fn usage(
        &self,
        account: &str,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<StoredEntry>, LedgerError> {
        let before = before.unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.read(|c| c.client.query(&c.st.usage, &[&account, &before, &limit]))?;
        rows.iter()
            .map(stored_entry)
            .collect::<Result<_, _>>()
            .map_err(pg_err)
    }

    fn entries(&self, after: i64, limit: usize) -> Result<Vec<EntryRow>, LedgerError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE seq > $1::bigint ORDER BY seq LIMIT $2::bigint"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.read(|c| c.client.query(&sql, &[&after, &limit]))?;
        rows.iter()
            .map(entry_row)
            .collect::<Result<_, _>>()
            .map_err(pg_err)
    }

    fn accounts(&self) -> Result<Vec<AccountRow>, LedgerError> {
        let rows = self.read(|c| {
            c.client.query(
                r#"SELECT account, balance, reserved FROM ledger_accounts ORDER BY account COLLATE "C""#,
                &[],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(AccountRow {
                    account: r.try_get(0)?,
                    balance: Money::from_nanos(r.try_get(1)?),
                    reserved: Money::from_nanos(r.try_get(2)?),
                })
            })
            .collect::<Result<_, _>>()
            .map_err(pg_err)
    }
}

/// A row of the entries query.
fn entry_row(r: &postgres::Row) -> Result<EntryRow, postgres::Error> {
    Ok(EntryRow {
        seq: r.try_get(0)?,
        request_id: r.try_get(1)?,
        kind: r.try_get(2)?,
        account: r.try_get(3)?,
        created_at_ms: r.try_get(4)?,
        provider: r.try_get(5)?,
        model: r.try_get(6)?,
        endpoint: r.try_get(7)?,
        prompt_tokens: r.try_get(8)?,
        completion_tokens: r.try_get(9)?,
        cached_tokens: r.try_get(10)?,
        usage_source: r.try_get(11)?,
        provider_cost: Money::from_nanos(r.try_get(12)?),
        amount: Money::from_nanos(r.try_get(13)?),
        price_source: r.try_get(14)?,
        attempts: r.try_get(15)?,
    })
}

/// A row of the usage query.
fn stored_entry(r: &postgres::Row) -> Result<StoredEntry, postgres::Error> {
    Ok(StoredEntry {
        seq: r.try_get(0)?,
        entry: LedgerEntry {
            request_id: r.try_get(1)?,
            account: r.try_get(2)?,
            created_at_ms: r.try_get(3)?,
            provider: r.try_get(4)?,
            model: r.try_get(5)?,
            endpoint: r.try_get(6)?,
            prompt_tokens: to_u64(r.try_get(7)?),
            completion_tokens: to_u64(r.try_get(8)?),
            cached_tokens: to_u64(r.try_get(9)?),
            usage_source: UsageSource::from_stored(r.try_get(10)?),
            provider_cost: Money::from_nanos(r.try_get(11)?),
            markup: Money::from_nanos(r.try_get(12)?),
            price_source: PriceSource::from_stored(r.try_get(13)?),
            attempts: decode_attempts(r.try_get(14)?),
        },
    })
}

/// The writes of one PostgreSQL transaction.
struct PgTx<'a, 'c> {
    tx: &'a mut Transaction<'c>,
    st: &'a Statements,
    floor: i64,
    /// Charges' balance changes, written in account order (so two
    /// instances' batches lock balances in the same order) before anything
    /// else that reads or moves a balance ([`PgTx::flush`]).
    deltas: &'a mut Deltas,
    /// Whether a statement failed in a way that makes running the whole
    /// transaction again worthwhile.
    retryable: bool,
    /// Whether a statement's failure ended the connection.
    lost: bool,
}

impl PgTx<'_, '_> {
    /// A statement's error, noting whether it is worth a retry.
    fn fail(&mut self, e: postgres::Error) -> LedgerError {
        self.retryable |= is_retryable(&e);
        self.lost |= is_lost(&e);
        pg_err(e)
    }

    /// Writes the summed charges, and what the settlements' removed
    /// reservations held.
    fn flush(&mut self) -> Result<(), postgres::Error> {
        let (tx, st) = (&mut *self.tx, self.st);
        self.deltas.flush(|account, delta, reserved| {
            tx.execute(&st.flush_account, &[&account, &delta, &reserved])
                .map(drop)
        })
    }

    /// Inserts a charge's ledger row: false when its request id is already
    /// recorded (by this instance or another).
    fn insert_charge(&mut self, e: &LedgerEntry) -> Result<bool, postgres::Error> {
        let inserted = self.tx.execute(
            &self.st.insert_charge,
            &[
                &e.request_id,
                &e.account,
                &e.created_at_ms,
                &e.provider,
                &e.model,
                &e.endpoint,
                &to_i64(e.prompt_tokens),
                &to_i64(e.completion_tokens),
                &to_i64(e.cached_tokens),
                &e.usage_source.as_str(),
                &e.provider_cost.nanos(),
                &e.markup.nanos(),
                &e.price_source.as_str(),
                &encode_attempts(&e.attempts),
            ],
        )?;
        Ok(inserted == 1)
    }

    /// Whether an entry with this request id is recorded.
    fn exists(&mut self, request_id: &str) -> Result<bool, postgres::Error> {
        Ok(self
            .tx
            .query_opt(&self.st.entry_exists, &[&request_id])?
            .is_some())
    }

    /// Removes a reservation held in the store, if any, and its amount from
    /// its account; whether there was one.
    fn unreserve(&mut self, request_id: &str) -> Result<bool, postgres::Error> {
        let removed: i64 = self
            .tx
            .query_one(&self.st.unreserve, &[&request_id])?
            .try_get(0)?;
        Ok(removed > 0)
    }

    fn try_credit(
        &mut self,
        account: &str,
        request_id: &str,
        amount: Money,
    ) -> Outcome<CreditError, postgres::Error> {
        if amount.is_negative() {
            return Ok(Err(CreditError::InvalidAmount));
        }
        if self.exists(request_id)? {
            return Ok(Ok(Idempotent::Duplicate));
        }
        self.tx.execute(&self.st.ensure_account, &[&account])?;
        let balance: i64 = self
            .tx
            .query_one(&self.st.lock_balance, &[&account])?
            .try_get(0)?;
        if balance.checked_add(amount.nanos()).is_none() {
            return Ok(Err(CreditError::InvalidAmount));
        }
        let inserted = self.tx.execute(
            &self.st.insert_credit,
            &[&request_id, &account, &now_ms(), &amount.nanos()],
        )?;
        if inserted == 0 {
            // Recorded by another instance meanwhile.
            return Ok(Ok(Idempotent::Duplicate));
        }
        self.tx
            .execute(&self.st.add_balance, &[&account, &amount.nanos()])?;
        Ok(Ok(Idempotent::Applied))
    }

    fn try_reserve(
        &mut self,
        account: &str,
        request_id: &str,
        amount: Money,
        expires_at_ms: i64,
    ) -> Outcome<ReserveError, postgres::Error> {
        if amount.is_negative() {
            return Ok(Err(ReserveError::InvalidAmount));
        }
        if self.exists(request_id)? {
            return Ok(Ok(Idempotent::Duplicate));
        }
        // The reservation row first: a request id reserved already (here
        // or by another instance) is a duplicate and holds nothing more.
        let nanos = amount.nanos();
        if self.tx.execute(
            &self.st.insert_reservation,
            &[&request_id, &account, &nanos, &expires_at_ms],
        )? == 0
        {
            return Ok(Ok(Idempotent::Duplicate));
        }
        self.tx.execute(&self.st.ensure_account, &[&account])?;
        if self
            .tx
            .execute(&self.st.hold, &[&account, &nanos, &self.floor])?
            == 1
        {
            return Ok(Ok(Idempotent::Applied));
        }
        self.tx
            .execute(&self.st.delete_reservation, &[&request_id])?;
        let row = self.tx.query_one(&self.st.balance, &[&account])?;
        let (balance, reserved): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        Ok(Err(insufficient_balance(
            available(balance, reserved, self.floor),
            amount,
        )))
    }

    fn try_settle(&mut self, entry: &LedgerEntry) -> Outcome<SettleError, postgres::Error> {
        if entry.has_negative_amount() {
            return Ok(Err(SettleError::InvalidAmount));
        }
        if !self.insert_charge(entry)? {
            return Ok(Ok(Idempotent::Duplicate));
        }
        // Without its reservation (swept, or released at a restart) the
        // charge is still owed: recorded all the same. Its amount comes off
        // `reserved` with the summed charges, at the end of the batch: the
        // account's row is locked from there to the commit, not from the
        // first settlement on (a reservation made alone waits for that
        // lock).
        if let Some(row) = self
            .tx
            .query_opt(&self.st.delete_reservation, &[&entry.request_id])?
        {
            let (account, amount): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
            self.deltas.release(&account, amount);
        }
        self.deltas.add(&entry.account, entry.markup.nanos());
        Ok(Ok(Idempotent::Applied))
    }

    fn try_charge(&mut self, entry: &LedgerEntry) -> Outcome<SettleError, postgres::Error> {
        if entry.has_negative_amount() {
            return Ok(Err(SettleError::InvalidAmount));
        }
        if !self.insert_charge(entry)? {
            return Ok(Ok(Idempotent::Duplicate));
        }
        self.deltas.add(&entry.account, entry.markup.nanos());
        Ok(Ok(Idempotent::Applied))
    }
}

/// Every write but a charge or a settlement reads or moves a balance (or
/// a reservation): the summed charges are written first.
impl LedgerTransaction for PgTx<'_, '_> {
    fn credit(&mut self, account: &str, request_id: &str, amount: Money) -> Outcome<CreditError> {
        self.flush()
            .and_then(|()| self.try_credit(account, request_id, amount))
            .map_err(|e| self.fail(e))
    }

    fn reserve(
        &mut self,
        account: &str,
        request_id: &str,
        amount: Money,
        expires_at_ms: i64,
    ) -> Outcome<ReserveError> {
        self.flush()
            .and_then(|()| self.try_reserve(account, request_id, amount, expires_at_ms))
            .map_err(|e| self.fail(e))
    }

    /// Moves no balance before the flush (its markup is summed like a
    /// charge's, its reservation's amount with it).
    fn settle(&mut self, entry: &LedgerEntry) -> Outcome<SettleError> {
        self.try_settle(entry).map_err(|e| self.fail(e))
    }

    fn charge(&mut self, entry: &LedgerEntry) -> Outcome<SettleError> {
        self.try_charge(entry).map_err(|e| self.fail(e))
    }

    fn release(&mut self, request_id: &str) -> Result<Released, LedgerError> {
        self.flush()
            .and_then(|()| self.unreserve(request_id))
            .map(|removed| {
                if removed {
                    Released::Applied
                } else {
                    Released::NothingToRelease
                }
            })
            .map_err(|e| self.fail(e))
    }

    /// Reads and moves no balance: no flush.
    fn extend(&mut self, request_id: &str, expires_at_ms: i64) -> Result<Extended, LedgerError> {
        match self
            .tx
            .execute(&self.st.extend, &[&request_id, &expires_at_ms])
        {
            Ok(0) => Ok(Extended::NothingToExtend),
            Ok(_) => Ok(Extended::Applied),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn sweep(&mut self, now_ms: i64) -> Result<u64, LedgerError> {
        self.flush()
            .and_then(|()| self.tx.query_one(&self.st.sweep, &[&now_ms]))
            .and_then(|row| row.try_get::<_, i64>(0))
            .map(to_u64)
            .map_err(|e| self.fail(e))
    }

    fn counts(&mut self) -> Result<LedgerCounts, LedgerError> {
        self.flush()
            .and_then(|()| self.tx.query_one(COUNT_ROWS, &[]))
            .and_then(|r| {
                Ok(LedgerCounts::from_row(
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                ))
            })
            .map_err(|e| self.fail(e))
    }

    /// One statement per call (arrays of the columns, `unnest`ed), not one
    /// per row: a remote database costs a round trip per statement.
    fn import_accounts(&mut self, rows: &[AccountRow]) -> Result<(), LedgerError> {
        let accounts: Vec<&str> = rows.iter().map(|a| a.account.as_str()).collect();
        let balances: Vec<i64> = rows.iter().map(|a| a.balance.nanos()).collect();
        let reserved: Vec<i64> = rows.iter().map(|a| a.reserved.nanos()).collect();
        self.flush()
            .and_then(|()| {
                self.tx.execute(
                    "INSERT INTO ledger_accounts (account, balance, reserved)
                     SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])",
                    &[&accounts, &balances, &reserved],
                )
            })
            .map(drop)
            .map_err(|e| self.fail(e))
    }

    /// One statement per call, as [`PgTx::import_accounts`]; then the
    /// identity's next value is set above the largest `seq` (`setval` is
    /// not undone by a rollback: a failed copy leaves a gap, no more).
    fn import_entries(&mut self, rows: &[EntryRow]) -> Result<(), LedgerError> {
        if rows.is_empty() {
            return Ok(());
        }
        let int = |f: fn(&EntryRow) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
        let text = |f: fn(&EntryRow) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
        let sql = format!(
            "INSERT INTO ledger_entries ({ENTRY_COLUMNS}) OVERRIDING SYSTEM VALUE
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                 $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[],
                 $12::text[], $13::bigint[], $14::bigint[], $15::text[], $16::text[])"
        );
        self.tx
            .execute(
                &sql,
                &[
                    &int(|e| e.seq),
                    &text(|e| &e.request_id),
                    &text(|e| &e.kind),
                    &text(|e| &e.account),
                    &int(|e| e.created_at_ms),
                    &text(|e| &e.provider),
                    &text(|e| &e.model),
                    &text(|e| &e.endpoint),
                    &int(|e| e.prompt_tokens),
                    &int(|e| e.completion_tokens),
                    &int(|e| e.cached_tokens),
                    &text(|e| &e.usage_source),
                    &int(|e| e.provider_cost.nanos()),
                    &int(|e| e.amount.nanos()),
                    &text(|e| &e.price_source),
                    &text(|e| &e.attempts),
                ],
            )
            .and_then(|_| {
                self.tx.batch_execute(
                    "SELECT setval(pg_get_serial_sequence('ledger_entries', 'seq'), max(seq))
                     FROM ledger_entries",
                )
            })
            .map_err(|e| self.fail(e))
    }
}
