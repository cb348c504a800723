//! What byok's PostgreSQL stores share.
//!
//! - [`Pool`]: a few blocking connections, made on demand, at most
//!   `max_open` at once (a caller waits for one to be given back), kept when
//!   idle; a connection the server ended is dropped with the idle ones
//!   (most likely the server restarted) and the caller may run again on a
//!   new one ([`Pool::run`]).
//! - [`migrate`]: versioned migrations of one component, applied in one
//!   transaction under the advisory lock every byok store takes, recorded in
//!   the `schema_migrations (component, version, applied_at)` table they
//!   share; a database newer than the build is refused.
//! - [`is_lost`] / [`is_retryable`] / [`describe`]: how an error is read.
//!
//! The client is the synchronous `postgres` crate: every call blocks, so
//! callers run it on threads of their own or a blocking pool, never on an
//! async worker.

use std::fmt;
use std::str::FromStr as _;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub use postgres;
use postgres::error::SqlState;
use postgres::{Client, NoTls};

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
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
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
/// serialization failure, a deadlock, or a lost connection.
#[must_use]
pub fn is_retryable(e: &postgres::Error) -> bool {
    let code = e.code();
    code == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        || code == Some(&SqlState::T_R_DEADLOCK_DETECTED)
        || is_lost(e)
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

/// A few connections of kind `C` (see the crate's docs).
pub struct Pool<C: Connection> {
    config: postgres::Config,
    /// Run on every new connection before use (`SET ...`), if any.
    session: Option<String>,
    max_open: usize,
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
            .finish_non_exhaustive()
    }
}

struct PoolState<C> {
    idle: Vec<C>,
    /// Connections that exist: idle, or leased.
    open: usize,
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
    /// idle connections when the pool is dropped.
    #[must_use]
    pub fn new(
        config: postgres::Config,
        first: Option<C>,
        max_open: usize,
        session: Option<String>,
        name: &'static str,
    ) -> Self {
        let open = usize::from(first.is_some());
        Self {
            config,
            session,
            max_open: max_open.max(1),
            state: Mutex::new(PoolState {
                idle: first.into_iter().collect(),
                open,
            }),
            freed: Condvar::new(),
            name,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState<C>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection, or a new one (waiting while `max_open` are
    /// leased).
    ///
    /// # Errors
    /// A failure to connect.
    pub fn get(&self) -> Result<Lease<'_, C>, postgres::Error> {
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                if conn.is_closed() {
                    state.open -= 1;
                    continue;
                }
                let slot = Slot {
                    pool: self,
                    armed: true,
                };
                return Ok(Lease {
                    conn,
                    lost: false,
                    slot,
                });
            }
            if state.open < self.max_open {
                state.open += 1;
                break;
            }
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        drop(state);
        let slot = Slot {
            pool: self,
            armed: true,
        };
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
    /// ones).
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
        self.lock().idle.push(conn);
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
