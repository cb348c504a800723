//! Several keys per provider (contract v2): labels, priorities, the order
//! a request tries a user's keys in ([`keys_for`]) and what an attempt
//! showed ([`report`]).
//!
//! Storage: each key is one vault secret of the user's. The label
//! `default` is stored under the provider id itself (`openai`), exactly as
//! single-key versions stored it, so their data is read unchanged (no
//! migration); any other label under `<provider>/<label>` (`openai/work`).
//! The priority is in the secret's metadata (`"priority"`, absent = 0).
//! What [`keys_for`] needs of the list (names, priorities) is cached per
//! user in `AppState::held` ([`HeldKeys`]) and dropped on every write, so
//! the request path reads no list; health is in the
//! [`HealthStore`](crate::app::health::HealthStore).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use byok_providers::{Credential, ProviderId};
use byok_search::SearchProviderId;
use byok_vault::SecretInfo;

use crate::accounts::User;
use crate::api::Data;
use crate::api::credentials::{stored_list, stored_secret};
use crate::app::blocking::blocking;
use crate::app::health::{HealthChange, KeyRef, Status, millis};
use crate::error::ApiError;

/// The label of the key `PUT /api/byok/credentials/{provider}` stores
/// (and of every key stored before labels existed).
pub(crate) const DEFAULT_LABEL: &str = "default";

/// A 429 without `retry-after` cools the key down this long.
pub(crate) const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);

/// The longest cooldown, whatever `retry-after` says.
pub(crate) const MAX_COOLDOWN: Duration = Duration::from_secs(600);

/// Where the metadata keeps a key's priority.
pub(crate) const PRIORITY_FIELD: &str = "priority";

/// How fresh a provider's only key's `last_used_at` is kept: a success
/// within this long of the recorded use is not written again. With one
/// key there are no ties to break by last use, so the timestamp is only
/// shown (to the second); skipping the write keeps the one-key request
/// path as cheap as before key pools (issue #17).
pub(crate) const ONLY_KEY_USE_RESOLUTION: Duration = Duration::from_secs(1);

/// One usable key of the user's for a provider.
pub(crate) struct KeyChoice {
    /// Its label.
    pub(crate) label: String,
    /// The key, parsed.
    pub(crate) credential: Credential,
    /// Whether a success need not be recorded: the provider's only key,
    /// used less than [`ONLY_KEY_USE_RESOLUTION`] ago.
    pub(crate) fresh: bool,
    /// The version of the stored key (its `updated_at`, ms, as listed):
    /// what an outcome is reported about ([`report`]).
    pub(crate) stored_at: i64,
}

/// The user's keys for a provider, in the order to try them.
pub(crate) struct Keys {
    /// Usable keys: priority (lower first), ties least recently used first.
    pub(crate) usable: Vec<KeyChoice>,
    /// When the earliest cooling-down key of this provider is usable again
    /// (None: none cooling).
    pub(crate) cooling_until: Option<SystemTime>,
    /// How many keys are marked invalid.
    pub(crate) invalid: usize,
}

/// What an attempt with a key showed.
pub(crate) enum KeyOutcome {
    /// 2xx: `last_used_at` = now.
    Ok,
    /// 401/403: status invalid, `last_error`.
    Invalid {
        /// The provider's (sanitised) message.
        message: String,
    },
    /// 429: cooling down for `retry_after` (default 30 s, at most 10
    /// minutes).
    RateLimited {
        /// The provider's `retry-after`.
        retry_after: Option<Duration>,
        /// The provider's (sanitised) message.
        message: String,
    },
    /// 5xx, timeout, connection: `last_error` only.
    Failed {
        /// The provider's (sanitised) message.
        message: String,
    },
}

/// Whether `label` is a valid label: 1-32 characters of `a-z 0-9 _ -`,
/// not `verify` (the v1 verify route).
pub(crate) fn check_label(label: &str) -> Result<(), ApiError> {
    let well_formed = (1..=32).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !well_formed {
        return Err(ApiError::bad_request(
            "a key label is 1-32 characters of a-z, 0-9, `_` and `-`",
        )
        .param("label"));
    }
    if label == "verify" {
        return Err(ApiError::bad_request("the label `verify` is reserved").param("label"));
    }
    Ok(())
}

/// The vault name of `provider`'s key `label`.
pub(crate) fn vault_name(provider: &str, label: &str) -> String {
    if label == DEFAULT_LABEL {
        provider.to_owned()
    } else {
        format!("{provider}/{label}")
    }
}

/// The provider and label of a vault name.
pub(crate) fn split_name(name: &str) -> (&str, &str) {
    name.split_once('/').unwrap_or((name, DEFAULT_LABEL))
}

/// The priority in a secret's metadata (0 when absent).
pub(crate) fn priority_of(info: &SecretInfo) -> i64 {
    info.metadata
        .as_ref()
        .and_then(|m| m.get(PRIORITY_FIELD))
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0)
}

/// One stored key of a user, as the request path needs it (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldKey {
    /// Its vault name.
    name: Box<str>,
    /// Its priority (lower first).
    priority: i64,
    /// Where the provider id ends in `name` (split once, when listed: the
    /// request path only slices).
    provider_len: usize,
    /// Its version: `updated_at` in ms, as listed.
    stored_at: i64,
}

impl HeldKey {
    fn new(info: &SecretInfo) -> Self {
        Self {
            name: info.name.as_str().into(),
            priority: priority_of(info),
            provider_len: split_name(&info.name).0.len(),
            stored_at: millis(info.updated_at),
        }
    }

    /// The provider id (chat or search).
    pub(crate) fn provider(&self) -> &str {
        self.name.get(..self.provider_len).unwrap_or_default()
    }

    /// The label.
    pub(crate) fn label(&self) -> &str {
        self.name
            .get(self.provider_len + 1..)
            .unwrap_or(DEFAULT_LABEL)
    }
}

/// A user's stored keys (cached in `AppState::held`), sorted by provider,
/// priority and label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldKeys {
    keys: Vec<HeldKey>,
    /// The chat providers among them, once each, parsed once.
    chat: Vec<ProviderId>,
    /// The search providers among them, once each, parsed once.
    search: Vec<SearchProviderId>,
}

impl HeldKeys {
    /// The keys of a vault listing.
    pub(crate) fn from_infos(infos: &[SecretInfo]) -> Self {
        let mut keys: Vec<HeldKey> = infos.iter().map(HeldKey::new).collect();
        keys.sort_by(|a, b| {
            (a.provider(), a.priority, a.label()).cmp(&(b.provider(), b.priority, b.label()))
        });
        let mut names: Vec<&str> = keys.iter().map(HeldKey::provider).collect();
        names.dedup();
        Self {
            chat: names.iter().filter_map(|n| n.parse().ok()).collect(),
            search: names.iter().filter_map(|n| n.parse().ok()).collect(),
            keys,
        }
    }

    /// The chat providers the user holds a key for, once each.
    pub(crate) fn chat(&self) -> &[ProviderId] {
        &self.chat
    }

    /// The search providers the user holds a key for, once each.
    pub(crate) fn search(&self) -> &[SearchProviderId] {
        &self.search
    }

    /// The keys for `provider`, by priority then label: one contiguous
    /// run of the sorted list, found by binary search.
    pub(crate) fn of<'a>(&'a self, provider: &'a str) -> &'a [HeldKey] {
        let start = self.keys.partition_point(|k| k.provider() < provider);
        let len = self.keys[start..].partition_point(|k| k.provider() == provider);
        &self.keys[start..start + len]
    }
}

/// The user's keys (cached; a miss lists the vault and tells the health
/// store which keys exist, for the metrics).
pub(crate) async fn held_keys(state: &Data, user: &User) -> Result<Arc<HeldKeys>, ApiError> {
    if let Some(keys) = state.held.get(user.id.as_str()) {
        return Ok(keys);
    }
    let generation = state.held.generation();
    let list = stored_list(state, user).await?;
    let keys = Arc::new(HeldKeys::from_infos(&list));
    for k in &keys.keys {
        state
            .health
            .set(key_ref(user, k.provider(), k.label()), HealthChange::Seen);
    }
    state
        .held
        .insert_if_current(user.id.clone(), Arc::clone(&keys), generation);
    Ok(keys)
}

/// Drops the user's cached keys (after a write), here and, with several
/// instances, on the others (`app::changes`).
pub(crate) async fn forget_held(state: &Data, user: &User) {
    state.held.remove(user.id.as_str());
    if let Some(db) = &state.shared {
        let (db, user) = (Arc::clone(db), user.clone());
        // Errors are logged inside; the pool's own failure is logged here.
        let notified = blocking("notify", move || {
            crate::app::changes::credentials_changed(&db, &user);
            Ok::<_, std::convert::Infallible>(())
        })
        .await;
        drop(notified);
    }
}

pub(crate) fn key_ref<'a>(user: &'a User, provider: &'a str, label: &'a str) -> KeyRef<'a> {
    KeyRef {
        user: &user.id,
        provider,
        label,
    }
}

/// The user's keys for `provider`, in the order to try them: priority
/// (lower first), ties least recently used first (never used first);
/// invalid and cooling-down keys are left out (and counted).
///
/// One pass over the cached list: each key's health (in memory) and each
/// usable key's secret (the vault's cache). With one key nothing is
/// allocated beyond the answer itself.
///
/// # Errors
/// `ApiError::no_credential(provider)` when the user stores no key for it;
/// storage errors; a stored key that no longer parses.
pub(crate) async fn keys_for(
    state: &Data,
    user: &User,
    provider: ProviderId,
) -> Result<Keys, ApiError> {
    let held = held_keys(state, user).await?;
    let of = held.of(provider.as_str());
    if of.is_empty() {
        return Err(ApiError::no_credential(provider));
    }
    let several = of.len() > 1;
    let now = SystemTime::now();
    let mut keys = Keys {
        usable: Vec::new(),
        cooling_until: None,
        invalid: 0,
    };
    // (priority, last use) of each usable key: only to sort several.
    let mut ranks: Vec<(i64, Option<SystemTime>)> = Vec::new();
    for key in of {
        let health = state
            .health
            .get(key_ref(user, key.provider(), key.label()))
            .unwrap_or_default();
        match health.status(now) {
            Status::Ok => {}
            Status::Invalid => {
                keys.invalid += 1;
                continue;
            }
            Status::CoolingDown => {
                keys.cooling_until = earliest(keys.cooling_until, health.cooling_until(now));
                continue;
            }
        }
        // A key deleted since the list was cached is skipped.
        let Some(secret) = stored_secret(state, user, &key.name).await? else {
            continue;
        };
        let fresh = !several
            && health.last_used_at.is_some_and(|at| {
                now.duration_since(at)
                    .is_ok_and(|age| age < ONLY_KEY_USE_RESOLUTION)
            });
        keys.usable.push(KeyChoice {
            label: key.label().to_owned(),
            credential: Credential::parse(provider, &secret, state.policy)?,
            fresh,
            stored_at: key.stored_at,
        });
        if several {
            ranks.push((key.priority, health.last_used_at));
        }
    }
    if keys.usable.len() > 1 {
        keys.usable = by_rank(std::mem::take(&mut keys.usable), ranks);
    }
    Ok(keys)
}

/// `usable` sorted by `ranks` (priority, then last use: never used first);
/// stable, so equal ranks keep the list's label order.
fn by_rank(usable: Vec<KeyChoice>, ranks: Vec<(i64, Option<SystemTime>)>) -> Vec<KeyChoice> {
    let mut ranked: Vec<_> = ranks.into_iter().zip(usable).collect();
    ranked.sort_by_key(|r| r.0);
    ranked.into_iter().map(|(_, k)| k).collect()
}

fn earliest(a: Option<SystemTime>, b: Option<SystemTime>) -> Option<SystemTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How long a 429 cools a key down.
pub(crate) fn cooldown(retry_after: Option<Duration>) -> Duration {
    retry_after.unwrap_or(DEFAULT_COOLDOWN).min(MAX_COOLDOWN)
}

/// An upstream message as the health store keeps it: sanitised again (no
/// key, nothing key-like, bounded), whoever made it.
pub(crate) fn clean(message: &str) -> Arc<str> {
    byok_providers::sanitize(message, None).into()
}

/// Records what an attempt with `key` showed (about the version of the key
/// it used: a report about a key replaced meanwhile changes nothing). Never
/// blocks the request path: the store takes it in memory at once (a
/// persisting store queues the write).
pub(crate) fn report(
    state: &Data,
    user: &User,
    provider: ProviderId,
    key: &KeyChoice,
    outcome: KeyOutcome,
) {
    let now = SystemTime::now();
    let stored_at = key.stored_at;
    let change = match outcome {
        KeyOutcome::Ok => HealthChange::Used { at: now },
        KeyOutcome::Invalid { message } => HealthChange::Invalid {
            error: clean(&message),
            stored_at,
        },
        KeyOutcome::RateLimited {
            retry_after,
            message,
        } => HealthChange::CoolingDown {
            until: now + cooldown(retry_after),
            error: clean(&message),
            stored_at,
        },
        KeyOutcome::Failed { message } => HealthChange::Failed {
            error: clean(&message),
            stored_at,
        },
    };
    state
        .health
        .set(key_ref(user, provider.as_str(), &key.label), change);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use actix_web::web;
    use secrecy::SecretString;
    use serde_json::json;

    use super::*;
    use crate::app::state::AppState;
    use crate::config::Settings;

    struct Fixture {
        _dir: tempfile::TempDir,
        state: Data,
        user: User,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let settings = Settings::for_data_dir(dir.path().join("data"));
            let state = web::Data::new(AppState::open(&settings).unwrap());
            let user = User {
                id: "usr_keys_test".into(),
                name: "keys".into(),
            };
            Self {
                _dir: dir,
                state,
                user,
            }
        }

        /// Stores an OpenAI key as the credentials API does.
        async fn store(&self, label: &str, priority: i64) {
            let secret = SecretString::from(format!("sk-test-{label}-0123456789abcdefghij"));
            let options = byok_vault::PutOptions::new()
                .metadata(json!({"kind": "chat", PRIORITY_FIELD: priority}));
            self.state
                .vault
                .put(&self.user.id, &vault_name("openai", label), secret, options)
                .await
                .unwrap();
            forget_held(&self.state, &self.user).await;
        }

        async fn order(&self) -> (Vec<String>, Option<SystemTime>, usize) {
            let keys = keys_for(&self.state, &self.user, ProviderId::OpenAi)
                .await
                .unwrap();
            (
                keys.usable.into_iter().map(|k| k.label).collect(),
                keys.cooling_until,
                keys.invalid,
            )
        }

        fn report(&self, label: &str, outcome: KeyOutcome) {
            let key = KeyChoice {
                label: label.to_owned(),
                credential: Credential::parse(
                    ProviderId::OpenAi,
                    &SecretString::from("sk-test-0123456789abcdefghij"),
                    self.state.policy,
                )
                .unwrap(),
                fresh: false,
                stored_at: 0,
            };
            report(&self.state, &self.user, ProviderId::OpenAi, &key, outcome);
        }

        fn health(&self, label: &str) -> crate::app::health::KeyHealth {
            self.state
                .health
                .get(key_ref(&self.user, "openai", label))
                .unwrap()
        }
    }

    fn run(test: impl std::future::Future<Output = ()>) {
        actix_web::rt::System::new().block_on(test);
    }

    #[test]
    fn labels_are_checked() {
        for ok in ["default", "a", "work-2", "eu_west", &"x".repeat(32)] {
            assert!(check_label(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Work", "a b", "a/b", "é", "verify", &"x".repeat(33)] {
            let e = check_label(bad).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{bad}");
            assert_eq!(e.param.as_deref(), Some("label"));
        }
        assert_eq!(vault_name("openai", DEFAULT_LABEL), "openai");
        assert_eq!(vault_name("openai", "work"), "openai/work");
        assert_eq!(split_name("openai"), ("openai", "default"));
        assert_eq!(split_name("openai/work"), ("openai", "work"));
    }

    #[test]
    fn keys_go_by_priority_then_least_recently_used() {
        let f = Fixture::new();
        run(async {
            let e = keys_for(&f.state, &f.user, ProviderId::OpenAi)
                .await
                .err()
                .unwrap();
            assert_eq!(
                e.message,
                ApiError::no_credential(ProviderId::OpenAi).message
            );
            f.store("c", 0).await;
            f.store("b", 0).await;
            f.store("a", 1).await;
            f.store(DEFAULT_LABEL, 5).await;
            assert_eq!(f.order().await.0, ["b", "c", "a", "default"]);
            f.report("b", KeyOutcome::Ok);
            assert_eq!(f.order().await.0, ["c", "b", "a", "default"]);
            f.report("c", KeyOutcome::Ok);
            assert_eq!(f.order().await.0, ["b", "c", "a", "default"]);
            // Another provider's keys are not offered.
            let groq = keys_for(&f.state, &f.user, ProviderId::Groq).await;
            assert!(groq.is_err());
        });
        f.state.ledger.shutdown();
    }

    #[test]
    fn only_a_providers_only_key_used_just_now_is_fresh() {
        let f = Fixture::new();
        run(async {
            let fresh = || async {
                keys_for(&f.state, &f.user, ProviderId::OpenAi)
                    .await
                    .unwrap()
                    .usable
                    .iter()
                    .map(|k| (k.label.clone(), k.fresh))
                    .collect::<Vec<_>>()
            };
            f.store(DEFAULT_LABEL, 0).await;
            assert_eq!(
                fresh().await,
                [(DEFAULT_LABEL.to_owned(), false)],
                "never used"
            );
            f.report(DEFAULT_LABEL, KeyOutcome::Ok);
            assert_eq!(fresh().await, [(DEFAULT_LABEL.to_owned(), true)]);
            // An older use is written again.
            f.state.health.set(
                key_ref(&f.user, "openai", DEFAULT_LABEL),
                HealthChange::Used {
                    at: SystemTime::now() - ONLY_KEY_USE_RESOLUTION,
                },
            );
            assert_eq!(fresh().await, [(DEFAULT_LABEL.to_owned(), false)]);
            // With several keys every use is recorded (it breaks ties).
            f.report(DEFAULT_LABEL, KeyOutcome::Ok);
            f.store("b", 0).await;
            assert!(fresh().await.iter().all(|(_, fresh)| !fresh));
        });
        f.state.ledger.shutdown();
    }

    #[test]
    fn invalid_and_cooling_keys_are_skipped_until_cleared() {
        let f = Fixture::new();
        run(async {
            f.store("a", 0).await;
            f.store("b", 1).await;
            f.store("c", 2).await;
            let leaked = "Incorrect API key provided: sk-proj-abcdefghij0123456789ABCDEFGH";
            f.report(
                "a",
                KeyOutcome::Invalid {
                    message: leaked.into(),
                },
            );
            let before = SystemTime::now();
            f.report(
                "b",
                KeyOutcome::RateLimited {
                    retry_after: None,
                    message: "slow down".into(),
                },
            );
            let (usable, cooling, invalid) = f.order().await;
            assert_eq!((usable, invalid), (vec!["c".to_owned()], 1));
            let cooling = cooling.unwrap();
            assert!(cooling >= before + DEFAULT_COOLDOWN, "{cooling:?}");
            assert!(cooling <= SystemTime::now() + DEFAULT_COOLDOWN);
            let error = f.health("a").last_error.unwrap();
            assert!(!error.contains("abcdefghij0123"), "{error}");
            assert_eq!(f.health("a").status(SystemTime::now()), Status::Invalid);

            // At most ten minutes, whatever retry-after says.
            f.report(
                "c",
                KeyOutcome::RateLimited {
                    retry_after: Some(Duration::from_secs(86_400)),
                    message: "quota".into(),
                },
            );
            let (usable, cooling, _) = f.order().await;
            assert!(usable.is_empty());
            assert!(cooling.unwrap() <= before + DEFAULT_COOLDOWN + Duration::from_secs(1));
            let c = f.health("c").cooldown_until.unwrap();
            assert!(
                c <= SystemTime::now() + MAX_COOLDOWN
                    && c > before + MAX_COOLDOWN - Duration::from_secs(5)
            );

            // A failure keeps the key usable; a passed verify clears invalid;
            // a cooldown of 0 s is over at once.
            f.report(
                "b",
                KeyOutcome::RateLimited {
                    retry_after: Some(Duration::ZERO),
                    message: "again".into(),
                },
            );
            f.report(
                "b",
                KeyOutcome::Failed {
                    message: "502 bad gateway".into(),
                },
            );
            f.state.health.set(
                key_ref(&f.user, "openai", "a"),
                HealthChange::Verified { stored_at: 0 },
            );
            assert_eq!(f.order().await.0, ["a", "b"]);
            assert_eq!(f.health("b").last_error.as_deref(), Some("502 bad gateway"));
        });
        f.state.ledger.shutdown();
    }

    /// Keys flipping between states while requests read them: once
    /// `report` returns, no `keys_for` offers a key it marked.
    #[test]
    fn a_marked_key_is_never_offered_after_the_report() {
        let f = Fixture::new();
        run(async {
            f.store("a", 0).await;
            f.store("b", 1).await;
            let readers = (0..8).map(|_| {
                let (state, user) = (f.state.clone(), f.user.clone());
                actix_web::rt::spawn(async move {
                    for _ in 0..50 {
                        let keys = keys_for(&state, &user, ProviderId::OpenAi).await.unwrap();
                        // Every read sees one state or the other, whole:
                        // `a` offered or counted invalid, never both or
                        // neither, and `b` always offered last.
                        let usable: Vec<&str> =
                            keys.usable.iter().map(|k| k.label.as_str()).collect();
                        assert!(
                            (usable == ["a", "b"] && keys.invalid == 0)
                                || (usable == ["b"] && keys.invalid == 1),
                            "{usable:?} with {} invalid",
                            keys.invalid
                        );
                        actix_web::rt::task::yield_now().await;
                    }
                })
            });
            let readers: Vec<_> = readers.collect();
            for round in 0..50 {
                f.report(
                    "a",
                    KeyOutcome::Invalid {
                        message: format!("round {round}"),
                    },
                );
                let (usable, _, invalid) = f.order().await;
                assert_eq!((usable, invalid), (vec!["b".to_owned()], 1));
                actix_web::rt::task::yield_now().await;
                f.state.health.set(
                    key_ref(&f.user, "openai", "a"),
                    HealthChange::Verified { stored_at: 0 },
                );
                assert_eq!(f.order().await.0, ["a", "b"]);
            }
            for r in readers {
                r.await.unwrap();
            }
        });
        f.state.ledger.shutdown();
    }

    #[test]
    fn one_key_is_one_vault_list_then_cached() {
        let f = Fixture::new();
        run(async {
            f.store(DEFAULT_LABEL, 0).await;
            let first = held_keys(&f.state, &f.user).await.unwrap();
            let again = held_keys(&f.state, &f.user).await.unwrap();
            assert!(Arc::ptr_eq(&first, &again), "cached");
            assert_eq!(first.chat(), [ProviderId::OpenAi]);
            assert_eq!(f.order().await.0, ["default"]);
        });
        f.state.ledger.shutdown();
    }
}
