//! Who is asking: the bearer key, user authentication, the admin token,
//! and the per-user rate limit.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use crate::accounts::User;
use crate::api::Data;
use crate::app::blocking::blocking;
use crate::app::cache::BoundedCache;
use crate::app::shared::SharedDb;
use crate::error::ApiError;

/// The presented key: `Authorization: Bearer <key>` or `x-api-key`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return v.strip_prefix("Bearer ").map(str::trim);
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Authenticates a user key (cached after the first lookup; a miss runs on
/// the blocking pool). Every failure is the same 401.
pub(crate) async fn authenticate(req: &HttpRequest, state: &Data) -> Result<User, ApiError> {
    let Some(key) = bearer(req.headers()).filter(|k| !k.is_empty() && k.len() <= 256) else {
        return Err(ApiError::unauthorized());
    };
    if let Some(u) = state.accounts.cached(key) {
        return Ok(u);
    }
    let accounts = state.accounts.clone();
    let key = SecretString::from(key.to_owned());
    let user = blocking("auth", move || accounts.authenticate(key.expose_secret())).await?;
    user.ok_or_else(ApiError::unauthorized)
}

/// Whether the request's bearer is `secret`, in constant time: both sides
/// are hashed first, so neither the content nor the length leaks.
pub(crate) fn bearer_is(req: &HttpRequest, secret: &SecretString) -> bool {
    use subtle::ConstantTimeEq;
    let presented = bearer(req.headers()).unwrap_or("");
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(secret.expose_secret().as_bytes());
    !presented.is_empty() && bool::from(a.as_slice().ct_eq(b.as_slice()))
}

/// Checks the admin token (404 when the admin API is off).
///
/// # Errors
/// 404 when the admin API is off; 429 while the process has seen
/// [`ADMIN_FAILURES_PER_MINUTE`] failed attempts in the last minute (the
/// token is not even compared then); 401 for a wrong or missing token.
pub(crate) fn require_admin(req: &HttpRequest, state: &Data) -> Result<(), ApiError> {
    let Some(token) = state.settings.admin_token.as_ref() else {
        return Err(ApiError::not_found(
            "the admin API is disabled (set BYOK_ADMIN_TOKEN)",
        ));
    };
    state
        .admin_failures
        .attempt(Instant::now(), || bearer_is(req, token))
}

/// Failed admin attempts allowed in any minute, for the whole process.
pub(crate) const ADMIN_FAILURES_PER_MINUTE: usize = 10;

/// The process's recent failed admin attempts (a sliding minute).
#[derive(Debug, Default)]
pub(crate) struct AdminFailures {
    at: Mutex<VecDeque<Instant>>,
}

impl AdminFailures {
    /// Runs `check` unless the last minute is full of failures, and counts
    /// its failure.
    fn attempt(&self, now: Instant, check: impl FnOnce() -> bool) -> Result<(), ApiError> {
        const MINUTE: Duration = Duration::from_secs(60);
        let mut at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        while at.front().is_some_and(|t| now.duration_since(*t) >= MINUTE) {
            at.pop_front();
        }
        if at.len() >= ADMIN_FAILURES_PER_MINUTE {
            let oldest = at
                .front()
                .map_or(Duration::ZERO, |t| now.duration_since(*t));
            return Err(ApiError::rate_limited(
                MINUTE.saturating_sub(oldest).as_secs().max(1),
            ));
        }
        if check() {
            Ok(())
        } else {
            at.push_back(now);
            Err(ApiError::unauthorized())
        }
    }
}

/// Counts a request against the user's rate limit.
///
/// # Errors
/// 429 with `retry-after` when the user is over it.
pub(crate) async fn rate_limit(state: &Data, user: &User) -> Result<(), ApiError> {
    state.limiter.check(&user.id).await
}

/// Writes (credentials stored, deleted or verified; gateway keys created
/// or revoked) allowed per user and minute: they occupy the vault's or the
/// accounts' writers, which every user shares.
pub(crate) const WRITES_PER_MINUTE: u32 = 30;

/// Authenticates the user of a write ([`authenticate`]) and counts the
/// write against their limit ([`WRITES_PER_MINUTE`]).
///
/// # Errors
/// The 401 of [`authenticate`]; 429 with `retry-after` when the user is
/// over the limit.
pub(crate) async fn authenticate_write(req: &HttpRequest, state: &Data) -> Result<User, ApiError> {
    let user = authenticate(req, state).await?;
    state.write_limiter.check(&user.id).await?;
    Ok(user)
}

/// A per-user limit of requests a minute: this process's own windows
/// ([`RateLimiter`]), or with several instances on one PostgreSQL database
/// windows shared by all of them ([`SharedLimiter`]).
#[derive(Debug)]
pub(crate) enum Limiter {
    /// One instance.
    Local(RateLimiter),
    /// Several instances.
    Shared(SharedLimiter),
}

impl Limiter {
    /// A limiter of `per_minute` requests (0 = unlimited) per user, shared
    /// through `db` when given; `scope` names its windows there (one
    /// limiter's counts are not another's).
    pub(crate) fn new(per_minute: u32, scope: &'static str, db: Option<Arc<SharedDb>>) -> Self {
        match db {
            Some(db) if per_minute > 0 => Self::Shared(SharedLimiter {
                db,
                scope,
                per_minute,
                chunk: lease_size(per_minute),
                leases: BoundedCache::default(),
            }),
            _ => Self::Local(RateLimiter::new(per_minute)),
        }
    }

    /// Counts a request of `user`.
    ///
    /// # Errors
    /// 429 with `retry-after` when the user is over the limit; the opaque
    /// 500 when the shared windows cannot be read.
    pub(crate) async fn check(&self, user: &str) -> Result<(), ApiError> {
        match self {
            Self::Local(l) => l.check(user).map_err(ApiError::rate_limited),
            Self::Shared(s) => s.check(user).await,
        }
    }
}

/// Requests an instance takes from a shared window at a time: a twentieth
/// of the limit (at least one). See [`SharedLimiter`].
fn lease_size(per_minute: u32) -> u32 {
    per_minute.div_ceil(20).max(1)
}

/// The seconds until the next minute's window, from a time in seconds.
fn until_next_window(now_s: i64) -> u64 {
    u64::try_from(60 - now_s.rem_euclid(60)).unwrap_or(60)
}

/// A per-user limit shared by every instance on one PostgreSQL database.
///
/// The windows are clock minutes, counted in the `rate_windows` table. An
/// instance takes a **lease** of a few requests from the user's window (a
/// twentieth of the limit, at least one: one conditional update that never
/// lets the window's count pass the limit) and admits requests from it
/// without touching the database until it is spent. So across all
/// instances **no more than the limit** is ever admitted in a window; what
/// an instance leased and did not use is lost to the others for that
/// minute, so a user whose traffic moves between instances may be refused
/// up to `(instances − 1) × lease` requests early. Windows follow each
/// instance's clock: keep the clocks in sync (NTP); a skew of `s` seconds
/// moves the window's edge by `s` on that instance.
#[derive(Debug)]
pub(crate) struct SharedLimiter {
    db: Arc<SharedDb>,
    scope: &'static str,
    per_minute: u32,
    chunk: u32,
    /// Per user: this instance's lease of the current window.
    leases: BoundedCache<String, Lease>,
}

impl SharedLimiter {
    async fn check(&self, user: &str) -> Result<(), ApiError> {
        let now = byok_billing::now_ms() / 1000;
        let minute = now / 60;
        // A request the lease covers, or the size of the lease to ask for:
        // a whole one when no other request of this user is leasing here,
        // else one (concurrent misses must not each lease a whole chunk:
        // they would take the window for this instance alone).
        let chunk = match self.leases.update(
            user,
            || Lease::new(minute),
            |lease| lease.take_or_start(minute, self.chunk),
        ) {
            None => return Ok(()),
            Some(chunk) => chunk,
        };
        let (db, scope, owner) = (Arc::clone(&self.db), self.scope, user.to_owned());
        let limit = self.per_minute;
        let granted = blocking("rate limit", move || {
            lease(&db, scope, &owner, minute, limit, chunk)
        })
        .await;
        let admitted = self.leases.update(
            user,
            || Lease::new(minute),
            |lease| lease.finish(minute, granted.as_ref().map_or(0, |g| *g)),
        );
        granted?;
        if admitted {
            Ok(())
        } else {
            Err(ApiError::rate_limited(until_next_window(now)))
        }
    }
}

/// One instance's lease of a user's window.
#[derive(Debug, Clone, Copy)]
struct Lease {
    /// The window.
    minute: i64,
    /// Requests leased and not used yet.
    left: u32,
    /// Requests of this user asking the database now.
    leasing: u32,
}

impl Lease {
    fn new(minute: i64) -> Self {
        Self {
            minute,
            left: 0,
            leasing: 0,
        }
    }

    /// A lease of an older window is void.
    fn at(&mut self, minute: i64) {
        if self.minute != minute {
            *self = Self {
                leasing: self.leasing,
                ..Self::new(minute)
            };
        }
    }

    /// `None` when a request was taken from the lease; else the lease to
    /// ask for (`chunk`, or one while another request is leasing).
    fn take_or_start(&mut self, minute: i64, chunk: u32) -> Option<u32> {
        self.at(minute);
        if self.left > 0 {
            self.left -= 1;
            return None;
        }
        self.leasing += 1;
        Some(if self.leasing > 1 { 1 } else { chunk })
    }

    /// Adds what the database granted for `minute`'s window and takes one
    /// request, if any is left (another request's lease may have covered
    /// this one). A grant for a window this lease has left behind is
    /// dropped: it counts in that window only.
    fn finish(&mut self, minute: i64, granted: u32) -> bool {
        self.leasing = self.leasing.saturating_sub(1);
        if self.minute <= minute {
            self.at(minute);
            self.left += granted;
        }
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }
}

/// Leases up to `chunk` requests of `user`'s window `minute` (never past
/// `limit`); returns how many. Windows over two minutes old are deleted
/// once a minute per instance.
fn lease(
    db: &SharedDb,
    scope: &str,
    user: &str,
    minute: i64,
    limit: u32,
    chunk: u32,
) -> anyhow::Result<u32> {
    static SWEPT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let (limit, chunk) = (i32::try_from(limit)?, i32::try_from(chunk)?);
    let sweep = SWEPT.swap(minute, std::sync::atomic::Ordering::Relaxed) != minute;
    let granted: i32 = db.run_limits(|c| {
        if sweep {
            c.execute("DELETE FROM rate_windows WHERE minute < $1", &[&(minute - 2)])?;
        }
        c.execute(
            "INSERT INTO rate_windows (scope, user_id, minute, used) VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING",
            &[&scope, &user, &minute],
        )?;
        c.query_one(
            "WITH old AS (SELECT used FROM rate_windows WHERE scope = $1 AND user_id = $2 AND minute = $3 FOR UPDATE)
             UPDATE rate_windows r SET used = LEAST($4, r.used + $5) FROM old
             WHERE r.scope = $1 AND r.user_id = $2 AND r.minute = $3
             RETURNING r.used - old.used",
            &[&scope, &user, &minute, &limit, &chunk],
        )?
        .try_get(0)
    })?;
    Ok(u32::try_from(granted).unwrap_or(0))
}

/// Fixed-window per-user request limiter (one process).
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    per_minute: u32,
    /// Per user: the window's minute and the requests in it.
    windows: BoundedCache<String, (i64, u32)>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests (0 = unlimited).
    pub(crate) fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: BoundedCache::default(),
        }
    }

    /// `Ok` or the seconds until the next window.
    ///
    /// # Errors
    /// The wait, when the user is over the limit.
    pub(crate) fn check(&self, user: &str) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let now = byok_billing::now_ms() / 1000;
        let minute = now / 60;
        self.windows.update(
            user,
            || (minute, 0),
            |window| {
                if window.0 != minute {
                    *window = (minute, 0);
                }
                if window.1 >= self.per_minute {
                    return Err(until_next_window(now));
                }
                window.1 += 1;
                Ok(())
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_misses_lease_one_each_and_use_each_others_leases() {
        let mut l = Lease::new(7);
        assert_eq!(
            l.take_or_start(7, 30),
            Some(30),
            "the first miss leases a chunk"
        );
        assert_eq!(
            l.take_or_start(7, 30),
            Some(1),
            "a concurrent one leases one"
        );
        assert!(l.finish(7, 30), "granted 30, one taken");
        assert!(
            l.finish(7, 0),
            "refused by the database, covered by the first lease"
        );
        assert_eq!(l.left, 28);
        assert_eq!(l.take_or_start(7, 30), None, "from the lease");
        assert_eq!(
            l.take_or_start(8, 30),
            Some(30),
            "a new window voids the lease"
        );
        assert!(!l.finish(8, 0), "nothing granted, nothing left: refused");
        assert_eq!(l.take_or_start(8, 30), Some(30));
        assert!(!l.finish(7, 30), "a grant for a window gone is dropped");
    }

    #[test]
    fn leases_are_a_twentieth_of_the_limit_and_waits_reach_the_next_minute() {
        assert_eq!(
            [1, 19, 20, 21, 60, 1000].map(lease_size),
            [1, 1, 1, 2, 3, 50]
        );
        assert_eq!(
            [0, 1, 59, 60, 119].map(until_next_window),
            [60, 59, 1, 60, 1]
        );
    }

    #[test]
    fn admin_failures_are_limited_per_sliding_minute() {
        let failures = AdminFailures::default();
        let start = Instant::now();
        for _ in 0..ADMIN_FAILURES_PER_MINUTE {
            let e = failures.attempt(start, || false).unwrap_err();
            assert_eq!(e.status, 401);
        }
        let mut compared = false;
        let e = failures
            .attempt(start + Duration::from_secs(20), || {
                compared = true;
                true
            })
            .unwrap_err();
        assert_eq!((e.status.as_u16(), e.retry_after), (429, Some(40)));
        assert!(!compared, "the token is not compared while limited");
        assert!(
            failures
                .attempt(start + Duration::from_secs(60), || true)
                .is_ok(),
            "a minute later the failures have expired"
        );
    }
}
