//! The server's own tables in PostgreSQL (with `BYOK_DATABASE_URL`): what
//! several instances share besides the vault and the ledger. Users and
//! gateway keys (`crate::accounts`), key health (`crate::app::health`) and
//! the per-user rate-limit windows (`crate::auth`), plus the change feed
//! that tells every instance what another changed
//! (`crate::app::changes`).
//!
//! Every method blocks (the synchronous client): callers run them on the
//! blocking pool or threads of their own, never on an actix worker.

use std::sync::Arc;

use anyhow::Context as _;
use byok_pg::postgres::Client;
use byok_pg::{Pool, describe};
use secrecy::{ExposeSecret as _, SecretString};

/// This component's rows in `schema_migrations`.
const COMPONENT: &str = "byok-server";

/// The server's migrations, in order.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE TABLE gateway_users (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE gateway_keys (
        hash       BYTEA PRIMARY KEY,
        prefix     TEXT NOT NULL,
        user_id    TEXT NOT NULL REFERENCES gateway_users(id),
        created_at BIGINT NOT NULL,
        revoked    BOOLEAN NOT NULL DEFAULT false
    );
    CREATE INDEX gateway_keys_user ON gateway_keys (user_id);
    CREATE TABLE key_health (
        user_id        TEXT NOT NULL,
        provider       TEXT NOT NULL,
        label          TEXT NOT NULL,
        invalid        BOOLEAN NOT NULL DEFAULT false,
        cooldown_until BIGINT,
        last_used_at   BIGINT,
        last_error     TEXT,
        stored_at      BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (user_id, provider, label)
    );
    CREATE TABLE rate_windows (
        scope   TEXT NOT NULL,
        user_id TEXT NOT NULL,
        minute  BIGINT NOT NULL,
        used    INTEGER NOT NULL,
        PRIMARY KEY (scope, user_id, minute)
    );",
)];

/// The channel of the change feed (`LISTEN byok_changes`).
pub(crate) const CHANNEL: &str = "byok_changes";

/// Most connections open at once for durable work (accounts, health).
const MAX_OPEN: usize = 4;

/// Most connections open at once for rate-limit leases.
const MAX_OPEN_LIMITS: usize = 4;

/// A change another instance must hear about, for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Gateway keys (a key revoked).
    Keys,
    /// Stored credentials (added, replaced, deleted).
    Credentials,
    /// Key health (invalid, cooldown, verified).
    Health,
}

impl Change {
    /// The tag in the notification's payload (`<tag>:<user id>`).
    const fn tag(self) -> char {
        match self {
            Self::Keys => 'k',
            Self::Credentials => 'c',
            Self::Health => 'h',
        }
    }

    /// A payload's change and user.
    pub(crate) fn parse(payload: &str) -> Option<(Self, &str)> {
        let (tag, user) = payload.split_once(':')?;
        let change = match tag {
            "k" => Self::Keys,
            "c" => Self::Credentials,
            "h" => Self::Health,
            _ => return None,
        };
        Some((change, user))
    }

    /// The payload for `user`.
    pub(crate) fn payload(self, user: &str) -> String {
        format!("{}:{user}", self.tag())
    }
}

/// The server's PostgreSQL database.
#[derive(Debug)]
pub(crate) struct SharedDb {
    /// Accounts and health (durable commits).
    pool: Pool<Client>,
    /// Rate-limit leases: `synchronous_commit = off` (a count lost in a
    /// database crash only lets a few more requests through).
    limits: Pool<Client>,
}

impl SharedDb {
    /// Connects and runs the server's migrations.
    ///
    /// # Errors
    /// A malformed URL, a connection or migration failure, a schema newer
    /// than this build (never the URL in the message: it may hold a
    /// password).
    pub(crate) fn open(url: &SecretString) -> anyhow::Result<Arc<Self>> {
        let config = byok_pg::config(url.expose_secret(), "byok-server")
            .map_err(|e| anyhow::anyhow!("BYOK_DATABASE_URL: {}", describe(&e)))?;
        let mut client = config
            .connect(byok_pg::postgres::NoTls)
            .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL: {}", describe(&e)))?;
        byok_pg::migrate(&mut client, COMPONENT, MIGRATIONS)
            .context("cannot migrate the server's tables in PostgreSQL")?;
        Ok(Arc::new(Self {
            limits: Pool::new(
                config.clone(),
                None,
                MAX_OPEN_LIMITS,
                Some("SET synchronous_commit = off".into()),
                "byok-pg-close",
            ),
            pool: Pool::new(config, Some(client), MAX_OPEN, None, "byok-pg-close"),
        }))
    }

    /// Runs `f` on a pooled connection (again on a new one if the server
    /// had ended the first: `f` must be a read or a transaction).
    ///
    /// # Errors
    /// `f`'s, described.
    pub(crate) fn run<T>(
        &self,
        f: impl FnMut(&mut Client) -> Result<T, byok_pg::postgres::Error>,
    ) -> anyhow::Result<T> {
        self.pool
            .run(f)
            .map_err(|e| anyhow::anyhow!("PostgreSQL: {}", describe(&e)))
    }

    /// Like [`SharedDb::run`] on the rate-limit connections.
    pub(crate) fn run_limits<T>(
        &self,
        f: impl FnMut(&mut Client) -> Result<T, byok_pg::postgres::Error>,
    ) -> anyhow::Result<T> {
        self.limits
            .run(f)
            .map_err(|e| anyhow::anyhow!("PostgreSQL: {}", describe(&e)))
    }

    /// Tells every instance (this one too) that `user`'s `change` happened
    /// (after it committed).
    ///
    /// # Errors
    /// Database errors.
    pub(crate) fn notify(&self, change: Change, user: &str) -> anyhow::Result<()> {
        let payload = change.payload(user);
        self.run(|c| c.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]))
            .map(drop)
    }

    /// The configuration the feed's listening connection is made with.
    pub(crate) fn config(&self) -> &byok_pg::postgres::Config {
        self.pool.config()
    }
}

/// A [`SharedDb`] in a schema of its own on the test server of
/// `BYOK_TEST_DATABASE_URL` (dropped with the guard), or `None` after the
/// SKIP banner (a failure under CI).
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use byok_pg::postgres::{Client, NoTls};
    use byok_testkit::postgres as pg;
    use secrecy::SecretString;

    use super::SharedDb;

    /// Drops the schema.
    pub(crate) struct Schema {
        admin: String,
        name: String,
    }

    impl Drop for Schema {
        fn drop(&mut self) {
            if let Ok(mut c) = Client::connect(&self.admin, NoTls) {
                // Best effort: a throwaway server's leftovers do no harm.
                let _ = c.batch_execute(&format!(
                    "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {} CASCADE",
                    self.name
                ));
            }
        }
    }

    /// Opens `n` databases (instances) on one new schema.
    pub(crate) fn shared_dbs(tag: &str, n: usize) -> Option<(Vec<Arc<SharedDb>>, Schema)> {
        let admin = pg::test_database_url("server's PostgreSQL suite")?;
        let name = pg::unique_schema(&format!("byok_server_{tag}"));
        Client::connect(&admin, NoTls)
            .unwrap()
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap();
        let url = SecretString::from(pg::in_schema(&admin, &name));
        let dbs = (0..n).map(|_| SharedDb::open(&url).unwrap()).collect();
        Some((dbs, Schema { admin, name }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_junk_is_ignored() {
        for change in [Change::Keys, Change::Credentials, Change::Health] {
            let p = change.payload("usr_0a1b");
            assert_eq!(Change::parse(&p), Some((change, "usr_0a1b")));
        }
        for junk in ["", "k", "x:usr", "usr_0a1b"] {
            assert_eq!(Change::parse(junk), None, "{junk}");
        }
    }
}
