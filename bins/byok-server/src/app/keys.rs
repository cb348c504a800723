//! STAND-IN (issue #17, fallback branch): exactly the interface the keys
//! engineer's `app/keys.rs` provides, over today's one key per provider.
//! `keys_for` returns the one stored key as the label `default`; `report`
//! records nothing. Replaced by the real module at merge: put nothing else
//! in this file.

use byok_providers::ProviderId;

use crate::accounts::User;
use crate::api::Data;
use crate::error::ApiError;

/// One usable key of the user's for a provider.
pub(crate) struct KeyChoice {
    pub(crate) label: String,
    pub(crate) credential: byok_providers::Credential,
}

/// The user's keys for a provider, in the order to try them.
pub(crate) struct Keys {
    /// Usable keys: priority (lower first), ties least recently used first.
    pub(crate) usable: Vec<KeyChoice>,
    /// When the earliest cooling-down key of this provider is usable again (None: none cooling).
    pub(crate) cooling_until: Option<std::time::SystemTime>,
    /// How many keys are marked invalid.
    pub(crate) invalid: usize,
}

/// Err(ApiError::no_credential(provider)) when the user stores no key for it; storage errors.
pub(crate) async fn keys_for(
    state: &Data,
    user: &User,
    provider: ProviderId,
) -> Result<Keys, ApiError> {
    let credential = crate::api::pipeline::credential(state, user, provider).await?;
    Ok(Keys {
        usable: vec![KeyChoice {
            label: "default".to_owned(),
            credential,
        }],
        cooling_until: None,
        invalid: 0,
    })
}

/// What an attempt with a key showed.
#[allow(dead_code)] // stand-in: the real module reads every field
pub(crate) enum KeyOutcome {
    /// 2xx: last_used_at = now.
    Ok,
    /// 401/403: status invalid, last_error.
    Invalid { message: String },
    /// 429: cooling_down.
    RateLimited {
        retry_after: Option<std::time::Duration>,
        message: String,
    },
    /// 5xx/timeout/connection: last_error only.
    Failed { message: String },
}

/// Records an outcome (never blocks the request path: in-memory first, persisted behind the trait).
pub(crate) fn report(
    _state: &Data,
    _user: &User,
    _provider: ProviderId,
    _label: &str,
    _outcome: KeyOutcome,
) {
}
