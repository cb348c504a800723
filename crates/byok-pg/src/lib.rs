//! What byok's PostgreSQL stores share.
//!
//! - [`Pool`]: a few blocking connections, made on demand, at most
//!   `max_open` at once (a caller waits for one to be given back), kept when
//!   idle (all of them, or at most [`Pool::max_idle`]; one idle long checked
//!   before reuse with [`Pool::check_idle_after`]); a connection the server
//!   ended is dropped with the idle ones (most likely the server restarted)
//!   and the caller may run again on a new one ([`Pool::run`]).
//! - [`migrate`] / [`migrate_in`]: versioned migrations of one component,
//!   applied in one transaction under the advisory lock every byok store
//!   takes, recorded in the `schema_migrations (component, version,
//!   applied_at)` table they share; a database newer than the build is
//!   refused.
//! - [`is_lost`] / [`is_conflict`] / [`is_retryable`] / [`describe`]: how an
//!   error is read.
//!
//! Every PostgreSQL store of byok uses it: the ledger (`byok-billing`), the
//! vault (`byok-vault`) and the server's own tables (`byok-server`). Each
//! implements [`Connection`] for its connection type (a client and its
//! prepared statements), keeps its own retry rules and maps errors into its
//! own error type.
//!
//! The client is the synchronous `postgres` crate: every call blocks, so
//! callers run it on threads of their own or a blocking pool, never on an
//! async worker.

use std::fmt;
use std::str::FromStr as _;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub use postgres;
use postgres::error::SqlState;
use postgres::{Client, NoTls};

#[cfg(test)]
mod tests;

/// The advisory lock key every byok migration takes (any constant, the
/// same for every store): `"byokmigr"`.
pub const MIGRATION_LOCK: i64 = 0x6279_6f6b_6d69_6772;

/// A connection's configuration from `url` (`postgres://user@host:port/db`
/// or the key=value form; no TLS), with a 10 s connect timeout and
/// `application_name` unless the URL sets them.
///
/// # Errors
/// A malformed URL (the message never repeats the URL: it may hold a
/// password).
pub fn config(url: &str, application_name: &str) -> Result<postgres::Config, postgres::Error> {
    let mut config = postgres::Config::from_str(url)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name(application_name);
    }
    Ok(config)
}

/// Applies `migrations` (`(version, sql)`, ascending) of `component` not
/// applied yet, in one transaction under [`MIGRATION_LOCK`], so instances
/// starting together migrate once.
///
/// # Errors
/// Database errors; [`MigrateError::Newer`] when the database records a
/// version of `component` above the last of `migrations`.
pub fn migrate(
    client: &mut Client,
    component: &str,
    migrations: &[(i32, &str)],
) -> Result<(), MigrateError> {
    migrate_in(client, None, component, migrations)
}

/// [`migrate`], first creating `schema` (if given and missing) in the same
/// transaction, once [`MIGRATION_LOCK`] is held: two `CREATE SCHEMA IF NOT
/// EXISTS` at once can fail (a unique violation), one after the other
/// cannot. The schema's name is quoted as an identifier (a lowercase name
/// is the same quoted or not); the connection's `search_path` is the
/// caller's to set (the tables and `schema_migrations` land in its first
/// schema).
///
/// # Errors
/// As [`migrate`].
pub fn migrate_in(
    client: &mut Client,
    schema: Option<&str>,
    component: &str,
    migrations: &[(i32, &str)],
) -> Result<(), MigrateError> {
    let mut tx = client.transaction()?;
    // The lock first: another store opening (of any component) waits here
    // until this transaction ends, and its `CREATE ... IF NOT EXISTS` (a
    // later statement at READ COMMITTED) then sees what this one created.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    if let Some(schema) = schema {
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{}\"",
            schema.replace('"', "\"\"")
        ))?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            component  TEXT NOT NULL,
            version    INTEGER NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (component, version)
        )",
    )?;
    let applied: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations WHERE component = $1",
            &[&component],
        )?
        .try_get(0)?;
    let known = migrations.last().map_or(0, |m| m.0);
    if applied > known {
        return Err(MigrateError::Newer { applied, known });
    }
    for (version, sql) in migrations.iter().filter(|m| m.0 > applied) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (component, version) VALUES ($1, $2)",
            &[&component, version],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Why [`migrate`] failed.
#[derive(Debug)]
pub enum MigrateError {
    /// The database's schema of the component is newer than this build's.
    Newer {
        /// The database's version.
        applied: i32,
        /// The newest version this build knows.
        known: i32,
    },
    /// A database error.
    Db(postgres::Error),
}

impl From<postgres::Error> for MigrateError {
    fn from(e: postgres::Error) -> Self {
        Self::Db(e)
    }
}

impl fmt::Display for MigrateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Newer { applied, known } => write!(
                f,
                "the database's schema is version {applied}, newer than this build's {known}"
            ),
            Self::Db(e) => f.write_str(&describe(e)),
        }
    }
}

impl std::error::Error for MigrateError {}

/// An error as byok reports it: the server's message and SQLSTATE when it
/// sent one, else the client's error and its cause.
#[must_use]
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// Whether a transaction that failed with `e` may run again: a
/// conflict with another transaction ([`is_conflict`]), or a lost
/// connection ([`is_lost`]).
#[must_use]
pub fn is_retryable(e: &postgres::Error) -> bool {
    is_conflict(e) || is_lost(e)
}

/// Whether `e` is a conflict with another transaction, after which the
/// whole transaction may run again: a serialization failure (`40001`) or
/// a deadlock (`40P01`).
#[must_use]
pub fn is_conflict(e: &postgres::Error) -> bool {
    let code = e.code();
    code == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        || code == Some(&SqlState::T_R_DEADLOCK_DETECTED)
}

/// Whether `e` ended the connection: closed, an I/O error, or the server's
/// last word (a `FATAL` error such as `57P01`, "terminating connection due
/// to administrator command", or a connection exception, class `08`). The
/// client may not read as closed yet when the error arrives.
#[must_use]
pub fn is_lost(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            matches!(db.severity(), "FATAL" | "PANIC")
                || code.starts_with("08")
                || code.starts_with("57P")
        }
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// A pooled connection: a client and what the store keeps with it
/// (prepared statements, say).
pub trait Connection: Send + Sized + 'static {
    /// Makes one on a new client (prepares its statements).
    ///
    /// # Errors
    /// Database errors.
    fn new(client: Client) -> Result<Self, postgres::Error>;

    /// Its client.
    fn client(&mut self) -> &mut Client;

    /// Whether its client is closed.
    fn is_closed(&self) -> bool;
}

impl Connection for Client {
    fn new(client: Client) -> Result<Self, postgres::Error> {
        Ok(client)
    }

    fn client(&mut self) -> &mut Client {
        self
    }

    fn is_closed(&self) -> bool {
        Client::is_closed(self)
    }
}

/// How long [`Pool::check_idle_after`]'s check of an idle connection may
/// take before the connection is given up.
pub const IDLE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// A few connections of kind `C` (see the crate's docs).
///
/// [`Pool::new`] bounds the connections open at once (`max_open`; pass
/// `usize::MAX` when the callers bound them) and keeps every idle one;
/// [`Pool::max_idle`] and [`Pool::check_idle_after`] change that.
pub struct Pool<C: Connection> {
    config: postgres::Config,
    /// Run on every new connection before use (`SET ...`), if any.
    session: Option<String>,
    max_open: usize,
    /// Most idle connections kept; one given back beyond it is closed.
    max_idle: usize,
    /// An idle connection older than this is checked before reuse.
    check_idle_after: Option<Duration>,
    state: Mutex<PoolState<C>>,
    /// Signalled when a connection is given back or dropped.
    freed: Condvar,
    /// The name of the thread that closes idle connections at drop.
    name: &'static str,
}

impl<C: Connection> fmt::Debug for Pool<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Pool")
            .field("open", &state.open)
            .field("idle", &state.idle.len())
            .field("max_open", &self.max_open)
            .field("max_idle", &self.max_idle)
            .finish_non_exhaustive()
    }
}

struct PoolState<C> {
    idle: Vec<Idle<C>>,
    /// Connections that exist: idle, or leased.
    open: usize,
}

/// An idle connection and since when it idles.
struct Idle<C> {
    conn: C,
    since: Instant,
}

impl<C: Connection> Drop for Pool<C> {
    /// Closes the idle connections on a thread of their own: dropping a
    /// synchronous `postgres::Client` blocks on its runtime to say goodbye
    /// to the server, which panics on an async runtime's thread, and the
    /// last owner of a store may well be one (a server's state dropped in
    /// its runtime at shutdown).
    fn drop(&mut self) {
        let idle = std::mem::take(
            &mut self
                .state
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .idle,
        );
        if !idle.is_empty() {
            // Nothing to report to: a failed spawn drops them here.
            let _ = std::thread::Builder::new()
                .name(self.name.into())
                .spawn(move || drop(idle));
        }
    }
}

/// A connection taken from the pool ([`Pool::put`] gives it back; dropped,
/// it is closed and its place freed).
#[allow(missing_debug_implementations)] // a client has nothing to show
pub struct Lease<'a, C: Connection> {
    /// The connection.
    pub conn: C,
    /// Set when a statement failed in a way that ended the connection
    /// ([`is_lost`]): not reused.
    pub lost: bool,
    slot: Slot<'a, C>,
}

/// A leased connection's place in [`PoolState::open`]: freed when dropped
/// armed (the connection closed, failed to open, or a panic unwound), kept
/// when the connection went back to the idle list.
struct Slot<'a, C: Connection> {
    pool: &'a Pool<C>,
    armed: bool,
}

impl<C: Connection> Drop for Slot<'_, C> {
    fn drop(&mut self) {
        if self.armed {
            self.pool.lock().open -= 1;
            self.pool.freed.notify_one();
        }
    }
}

impl<C: Connection> Pool<C> {
    /// A pool of at most `max_open` connections to `config`, holding
    /// `first` (already connected, e.g. the one that migrated) if given.
    /// `session` runs on every new connection (e.g. `SET
    /// synchronous_commit = off`). `name` names the thread that closes the
    /// idle connections when the pool is dropped. Every idle connection is
    /// kept, none is checked before reuse (see [`Pool::max_idle`] and
    /// [`Pool::check_idle_after`]).
    #[must_use]
    pub fn new(
        config: postgres::Config,
        first: Option<C>,
        max_open: usize,
        session: Option<String>,
        name: &'static str,
    ) -> Self {
        let open = usize::from(first.is_some());
        let since = Instant::now();
        Self {
            config,
            session,
            max_open: max_open.max(1),
            max_idle: usize::MAX,
            check_idle_after: None,
            state: Mutex::new(PoolState {
                idle: first.into_iter().map(|conn| Idle { conn, since }).collect(),
                open,
            }),
            freed: Condvar::new(),
            name,
        }
    }

    /// Keeps at most `n` idle connections: one given back when `n` idle
    /// already is closed (on the caller's thread), its place freed. For
    /// callers that bound how many connections they use at once themselves
    /// (the vault's worker threads) and want no more kept open than that.
    #[must_use]
    pub fn max_idle(mut self, n: usize) -> Self {
        self.max_idle = n;
        self
    }

    /// Checks an idle connection that idled at least `after` before giving
    /// it out (an empty query, [`IDLE_CHECK_TIMEOUT`] at most): one a
    /// restarted server, a proxy or an idle timeout ended is closed and the
    /// next one taken (or a new one made), so that the caller's statement
    /// does not fail on it. For callers that do not run again on a lost
    /// connection (a write whose outcome is unknown is not replayed).
    #[must_use]
    pub fn check_idle_after(mut self, after: Duration) -> Self {
        self.check_idle_after = Some(after);
        self
    }

    fn lock(&self) -> MutexGuard<'_, PoolState<C>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection (the last one given back; checked first if it
    /// idled long, see [`Pool::check_idle_after`]), or a new one (waiting
    /// while `max_open` are leased).
    ///
    /// # Errors
    /// A failure to connect.
    pub fn get(&self) -> Result<Lease<'_, C>, postgres::Error> {
        loop {
            let mut state = self.lock();
            let idle = loop {
                if let Some(idle) = state.idle.pop() {
                    if idle.conn.is_closed() {
                        state.open -= 1;
                        continue;
                    }
                    break Some(idle);
                }
                if state.open < self.max_open {
                    state.open += 1;
                    break None;
                }
                state = self
                    .freed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            };
            drop(state);
            let slot = Slot {
                pool: self,
                armed: true,
            };
            let Some(Idle { mut conn, since }) = idle else {
                return self.connect(slot);
            };
            let stale = self
                .check_idle_after
                .is_some_and(|after| since.elapsed() >= after);
            if stale && conn.client().is_valid(IDLE_CHECK_TIMEOUT).is_err() {
                // Closed, and `slot` frees its place: the next one.
                drop(conn);
                continue;
            }
            return Ok(Lease {
                conn,
                lost: false,
                slot,
            });
        }
    }

    /// A new connection in `slot`'s place.
    fn connect<'a>(&'a self, slot: Slot<'a, C>) -> Result<Lease<'a, C>, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        if let Some(session) = &self.session {
            client.batch_execute(session)?;
        }
        Ok(Lease {
            conn: C::new(client)?,
            lost: false,
            slot,
        })
    }

    /// Gives a connection back (dropped if it was lost, with the idle
    /// ones; closed if [`Pool::max_idle`] are idle already).
    pub fn put(&self, lease: Lease<'_, C>) {
        let Lease {
            conn,
            lost,
            mut slot,
        } = lease;
        if lost || conn.is_closed() {
            // Most likely the server restarted, ending the idle ones too:
            // they go as well (`slot` frees this one's place).
            let mut state = self.lock();
            state.open -= state.idle.len();
            let idle = std::mem::take(&mut state.idle);
            drop(state);
            drop(idle);
            drop(conn);
            self.freed.notify_all();
            return;
        }
        let mut state = self.lock();
        if state.idle.len() >= self.max_idle {
            drop(state);
            // Closed here; `slot` frees its place.
            drop(conn);
            return;
        }
        state.idle.push(Idle {
            conn,
            since: Instant::now(),
        });
        drop(state);
        slot.armed = false;
        self.freed.notify_one();
    }

    /// Runs `f` on a pooled connection; once more on a new connection if
    /// the first one had been ended by the server (a restart, an idle
    /// timeout), which is safe for reads and for statements that are
    /// idempotent or ran in a transaction that did not commit.
    ///
    /// # Errors
    /// `f`'s error, or a failure to connect.
    pub fn run<T>(
        &self,
        mut f: impl FnMut(&mut C) -> Result<T, postgres::Error>,
    ) -> Result<T, postgres::Error> {
        let mut lease = self.get()?;
        let mut result = f(&mut lease.conn);
        if result.as_ref().is_err_and(is_lost) {
            lease.lost = true;
            self.put(lease);
            lease = self.get()?;
            result = f(&mut lease.conn);
        }
        lease.lost = result.as_ref().is_err_and(is_lost);
        self.put(lease);
        result
    }

    /// The configuration connections are made with.
    #[must_use]
    pub fn config(&self) -> &postgres::Config {
        &self.config
    }
}
