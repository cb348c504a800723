//! Who is asking: the bearer key, user authentication, the admin token,
//! and the per-user rate limit.

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

/// Checks the admin token (404 when the admin API is off).
pub(crate) fn require_admin(req: &HttpRequest, state: &Data) -> Result<(), ApiError> {
    use subtle::ConstantTimeEq;
    let Some(token) = state.settings.admin_token.as_ref() else {
        return Err(ApiError::not_found(
            "the admin API is disabled (set BYOK_ADMIN_TOKEN)",
        ));
    };
    let presented = bearer(req.headers()).unwrap_or("");
    // Hash both sides so the comparison is constant-time whatever the lengths.
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(token.expose_secret().as_bytes());
    if bool::from(a.as_slice().ct_eq(b.as_slice())) {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
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
