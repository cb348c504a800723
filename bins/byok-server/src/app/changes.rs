//! The change feed: how an instance hears what another changed, with
//! several instances on one PostgreSQL database.
//!
//! Every write another instance must see is followed by a notification on
//! the channel [`CHANNEL`] (sent with the write's commit where the write is
//! ours: gateway keys, key health; right after the vault's commit for
//! credentials). Each instance keeps one connection listening on a thread
//! of its own and, per notification:
//!
//! - `k:<user>` (a gateway key revoked): empties the authentication cache;
//! - `c:<user>` (a credential stored, replaced or deleted): forgets the
//!   user's cached key list and empties the vault's read cache;
//! - `h:<user>` (key health): reloads the user's health rows.
//!
//! PostgreSQL delivers a notification to every listening session when the
//! transaction that sent it commits, in commit order; on loopback that is
//! well under a millisecond. **While the listening connection is down**
//! (the database restarted, the network failed) the instance cannot hear
//! changes, so the authentication and key-list caches are off (every
//! request reads the database) until it is back; then every cache is
//! emptied and all health reloaded. A connection that dies silently (a
//! network partition without a reset) is found by TCP keepalives within
//! about 5 s (idle 2 s, then 3 probes 1 s apart); the vault's read cache, which cannot be turned off,
//! trusts an entry for at most `VAULT_CACHE_TTL` in `app::vault`. So a
//! revocation or a credential change is in force on every instance within
//! milliseconds, and within about 5 s at worst.

use std::sync::{Arc, Weak};
use std::time::Duration;

use byok_pg::postgres::fallible_iterator::FallibleIterator as _;
use byok_pg::postgres::{Client, NoTls};

use crate::accounts::{Accounts, User};
use crate::app::cache::BoundedCache;
use crate::app::health::PostgresHealthStore;
use crate::app::keys::HeldKeys;
use crate::app::shared::{CHANNEL, Change, SharedDb};

/// How long the listener waits for a notification before checking that
/// the server still runs (and how long the thread outlives it).
const WAKE_EVERY: Duration = Duration::from_millis(500);

/// The pause before connecting again.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// What the feed acts on. Weak: the feed ends with the server.
pub(crate) struct Targets {
    pub(crate) accounts: Weak<Accounts>,
    pub(crate) held: Weak<BoundedCache<String, Arc<HeldKeys>>>,
    pub(crate) health: Weak<PostgresHealthStore>,
    pub(crate) vault: byok_vault::Vault,
}

impl Targets {
    /// The caches on, emptied, and all health reloaded (after connecting).
    /// `None` when the server is gone.
    fn resync(&self) -> Option<()> {
        let (accounts, held, health) = self.upgrade()?;
        accounts.cache().clear();
        held.clear();
        self.vault.clear_cache();
        health.reload(None);
        accounts.cache().set_enabled(true);
        held.set_enabled(true);
        Some(())
    }

    /// The caches off (the feed cannot hear changes).
    fn deafen(&self) {
        if let Some((accounts, held, _)) = self.upgrade() {
            accounts.cache().set_enabled(false);
            held.set_enabled(false);
            self.vault.clear_cache();
        }
    }

    #[allow(clippy::type_complexity)] // three handles, named at the call sites
    fn upgrade(
        &self,
    ) -> Option<(
        Arc<Accounts>,
        Arc<BoundedCache<String, Arc<HeldKeys>>>,
        Arc<PostgresHealthStore>,
    )> {
        Some((
            self.accounts.upgrade()?,
            self.held.upgrade()?,
            self.health.upgrade()?,
        ))
    }

    /// Acts on one notification's payload (junk is ignored).
    fn apply(&self, payload: &str) -> Option<()> {
        let (accounts, held, health) = self.upgrade()?;
        match Change::parse(payload) {
            Some((Change::Keys, _)) => accounts.cache().clear(),
            Some((Change::Credentials, user)) => {
                held.remove(user);
                self.vault.clear_cache();
            }
            Some((Change::Health, user)) => health.reload(Some(user)),
            None => tracing::debug!("ignored a notification on {CHANNEL}"),
        }
        Some(())
    }
}

/// Starts the feed's thread. The caches stay off until it has connected.
///
/// # Errors
/// The thread cannot start.
pub(crate) fn start(db: &SharedDb, targets: Targets) -> std::io::Result<()> {
    targets.deafen();
    let mut config = db.config().clone();
    // Named after the instance's connections (`byok-server-feed` by default)
    // to be found in `pg_stat_activity`.
    let name = format!(
        "{}-feed",
        config.get_application_name().unwrap_or("byok-server")
    );
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(2))
        .keepalives_interval(Duration::from_secs(1))
        .keepalives_retries(3)
        .application_name(&name);
    std::thread::Builder::new()
        .name("byok-changes".into())
        .spawn(move || run(&config, &targets))
        .map(drop)
}

fn run(config: &byok_pg::postgres::Config, targets: &Targets) {
    let mut down_logged = false;
    loop {
        match config.connect(NoTls) {
            Ok(mut client) => match client.batch_execute(&format!("LISTEN {CHANNEL}")) {
                Ok(()) => {
                    if targets.resync().is_none() {
                        return;
                    }
                    if down_logged {
                        tracing::info!("the change feed is back: caches on");
                    }
                    let why = listen(&mut client, targets);
                    targets.deafen();
                    match why {
                        Ok(()) => return,
                        Err(e) => {
                            tracing::warn!(error = %byok_pg::describe(&e), "the change feed's connection failed: caches off until it is back");
                            down_logged = true;
                        }
                    }
                }
                Err(e) if !down_logged => {
                    tracing::warn!(error = %byok_pg::describe(&e), "cannot listen for changes");
                    down_logged = true;
                }
                Err(_) => {}
            },
            Err(e) if !down_logged => {
                tracing::warn!(error = %byok_pg::describe(&e), "cannot connect the change feed: caches off until it can");
                down_logged = true;
            }
            Err(_) => {}
        }
        if targets.accounts.strong_count() == 0 {
            return;
        }
        std::thread::sleep(RECONNECT_AFTER);
    }
}

/// Applies notifications until the connection fails (`Err`) or the server
/// is gone (`Ok`).
fn listen(client: &mut Client, targets: &Targets) -> Result<(), byok_pg::postgres::Error> {
    loop {
        {
            let mut notifications = client.notifications();
            let mut waiting = notifications.timeout_iter(WAKE_EVERY);
            while let Some(n) = waiting.next()? {
                if targets.apply(n.payload()).is_none() {
                    return Ok(());
                }
            }
        }
        if targets.accounts.strong_count() == 0 {
            return Ok(());
        }
        if client.is_closed() {
            return client.simple_query("").map(drop);
        }
    }
}

/// Tells the other instances that `user`'s credentials changed (after the
/// vault's commit). Errors are logged: the other instances' read caches
/// then trust the old entry for at most the vault cache's time to live.
pub(crate) fn credentials_changed(db: &SharedDb, user: &User) {
    if let Err(e) = db.notify(Change::Credentials, &user.id) {
        tracing::warn!(error = %e, "cannot notify the other instances of a credential change");
    }
}
