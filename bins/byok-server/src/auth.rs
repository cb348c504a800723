//! Who is asking: the bearer key, user authentication, the admin token,
//! and the per-user rate limit.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use crate::accounts::User;
use crate::api::Data;
use crate::app::blocking::blocking;
use crate::app::cache::BoundedCache;
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
pub(crate) fn rate_limit(state: &Data, user: &User) -> Result<(), ApiError> {
    state
        .limiter
        .check(&user.id)
        .map_err(ApiError::rate_limited)
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
    state
        .write_limiter
        .check(&user.id)
        .map_err(ApiError::rate_limited)?;
    Ok(user)
}

/// Fixed-window per-user request limiter.
#[derive(Debug, Default)]
pub struct RateLimiter {
    per_minute: u32,
    /// Per user: the window's minute and the requests in it.
    windows: BoundedCache<String, (i64, u32)>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests (0 = unlimited).
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: BoundedCache::default(),
        }
    }

    /// `Ok` or the seconds until the next window.
    ///
    /// # Errors
    /// The wait, when the user is over the limit.
    pub fn check(&self, user: &str) -> Result<(), u64> {
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
                    return Err(u64::try_from(60 - now % 60).unwrap_or(60));
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
