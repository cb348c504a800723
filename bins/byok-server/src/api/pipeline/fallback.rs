//! Retries and fallback: where a request may go (the routed provider, the
//! other providers `x-byok-provider` names, the body's `models`) and the
//! attempts over the user's own keys for each, in order, at most
//! [`MAX_ATTEMPTS`] upstream calls.
//!
//! An attempt that ends in a 401, 403, 408, 429, 5xx, a timeout or a
//! connection failure is followed by the next key, then the next target;
//! any other error (400, 404, 413, 422, ...) is the answer. Only calls made
//! before anything reached the client are retried: a stream is handed to
//! the client once its upstream answered with headers, and what fails after
//! that is the stream's error. Every attempt's outcome is reported for the
//! key's health ([`report`]) and recorded in the settlement (the ledger
//! entry's `attempts`).
//!
//! The common case (one target, one key) makes no extra call that does
//! I/O and allocates only the attempt it records: the first target's keys
//! are fetched before the reservation, as its one key was, and a fallback
//! target's only when the attempts reach it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use byok_providers::{ChatRequest, ProviderError, ProviderId, RouteError, resolve};
use bytes::Bytes;
use serde_json::Value;

use super::settle::Settlement;
use crate::accounts::User;
use crate::api::Data;
use crate::app::keys::held_keys;
use crate::app::keys::{KeyChoice, KeyOutcome, Keys, keys_for, report};
use crate::error::ApiError;

/// The most upstream calls one request makes.
pub(crate) const MAX_ATTEMPTS: usize = 5;

/// The `x-byok-attempts` values (a count is at most [`MAX_ATTEMPTS`]).
const COUNTS: [&str; MAX_ATTEMPTS + 1] = ["0", "1", "2", "3", "4", "5"];

/// The header value of `n` attempts.
pub(crate) fn count_header(n: usize) -> &'static str {
    COUNTS.get(n).copied().unwrap_or("5")
}

/// A provider and the model to send it.
pub(crate) struct Target {
    /// The provider.
    pub(crate) provider: ProviderId,
    /// The model to send upstream.
    pub(crate) model: String,
}

/// Where a request may go: the routed provider first, then the fallback
/// targets in order (none in the common case: no allocation).
pub(crate) struct Targets {
    /// The routed provider (its model is the request's).
    pub(crate) provider: ProviderId,
    /// The fallback targets, at most [`MAX_ATTEMPTS`] − 1, none repeated.
    pub(crate) rest: Vec<Target>,
}

/// A fallback target ready to call: its provider, its neutral request (the
/// model to send set; for a pass-through, what its reservation is priced
/// from) and, for a pass-through, the body to forward.
pub(crate) struct Fallback {
    /// The provider.
    pub(crate) provider: ProviderId,
    /// The request (its `model` is the one sent).
    pub(crate) request: ChatRequest,
    /// A pass-through's body for this target.
    pub(crate) body: Option<Bytes>,
}

/// `x-byok-provider`: its first provider, and the rest of the list.
fn header_providers(req: &HttpRequest) -> (Option<&str>, Option<&str>) {
    let Some(header) = req
        .headers()
        .get(&super::headers::PROVIDER)
        .and_then(|v| v.to_str().ok())
    else {
        return (None, None);
    };
    match header.split_once(',') {
        Some((first, rest)) => (Some(first), Some(rest)),
        None => (Some(header), None),
    }
}

/// The provider for the request (the first of an `x-byok-provider` list, a
/// `<provider>/` prefix, or the model's family), among those the user holds
/// a key for; sets the model to send upstream.
pub(crate) async fn route(
    req: &HttpRequest,
    state: &Data,
    user: &User,
    model: &mut String,
) -> Result<ProviderId, ApiError> {
    let held = held_keys(state, user).await?;
    let route = resolve(model, header_providers(req).0, held.chat())?;
    *model = route.model;
    Ok(route.provider)
}

/// The targets of a request: the routed provider (as [`route`]), then each
/// further provider `x-byok-provider` names (the model unchanged), then
/// each `"<provider>/<model>"` of the body's `models` (routed as a model
/// is), repeats left out; only providers the user holds a key for. Sets
/// the model to send to the first.
///
/// # Errors
/// A routing error (unknown provider, no key for a named provider) for any
/// of them; 400 for a `models` that is not an array of strings.
pub(crate) async fn targets(
    req: &HttpRequest,
    state: &Data,
    user: &User,
    model: &mut String,
    models: Option<Value>,
) -> Result<Targets, ApiError> {
    let held = held_keys(state, user).await?;
    let held = held.chat();
    let (first, others) = header_providers(req);
    let route = resolve(model, first, held)?;
    let mut rest: Vec<Target> = Vec::new();
    let push = |provider: ProviderId, model: String, rest: &mut Vec<Target>| {
        let seen = rest
            .iter()
            .any(|t| t.provider == provider && t.model == model)
            || (provider == route.provider && model == route.model);
        if !seen && rest.len() < MAX_ATTEMPTS - 1 {
            rest.push(Target { provider, model });
        }
    };
    let names = others.into_iter().flat_map(|o| o.split(','));
    for name in names.map(str::trim).filter(|n| !n.is_empty()) {
        let r = resolve(model, Some(name), held)?;
        push(r.provider, r.model, &mut rest);
    }
    for m in listed_models(models)? {
        let r = resolve(&m, None, held).map_err(|e| routing_error(e, "models"))?;
        push(r.provider, r.model, &mut rest);
    }
    *model = route.model;
    Ok(Targets {
        provider: route.provider,
        rest,
    })
}

/// The body's `models` (OpenRouter's convention: fallback models after
/// `model`), checked.
fn listed_models(models: Option<Value>) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "`models` must be an array of model ids (`\"<provider>/<model>\"`), tried in order after `model`",
        )
        .param("models")
    };
    match models {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(bad()),
            })
            .collect(),
        Some(_) => Err(bad()),
    }
}

fn routing_error(e: RouteError, param: &str) -> ApiError {
    let mut a = ApiError::from(e);
    a.param = Some(param.to_owned());
    a
}

/// The requests of the fallback targets: `base` (before its output
/// default: see [`super::default_output_limit`]) with each target's model
/// and output default. Nothing is cloned without fallback targets.
pub(crate) fn fallback_requests(
    state: &Data,
    base: &ChatRequest,
    rest: Vec<Target>,
) -> Vec<Fallback> {
    rest.into_iter()
        .map(|t| {
            let mut request = base.clone();
            request.model = t.model;
            super::default_output_limit(state, t.provider, &mut request);
            Fallback {
                provider: t.provider,
                request,
                body: None,
            }
        })
        .collect()
}

/// How an attempt's error bears on its key: `None` when it says nothing
/// about the key (the request itself is wrong: that error is the answer).
fn key_outcome(e: &ProviderError) -> Option<KeyOutcome> {
    match e {
        ProviderError::Upstream {
            status: 401 | 403,
            message,
            ..
        } => Some(KeyOutcome::Invalid {
            message: message.clone(),
        }),
        ProviderError::Upstream {
            status: 429,
            message,
            retry_after,
            ..
        } => Some(KeyOutcome::RateLimited {
            retry_after: *retry_after,
            message: message.clone(),
        }),
        ProviderError::Upstream {
            status: 408 | 500..=599,
            message,
            ..
        } => Some(KeyOutcome::Failed {
            message: message.clone(),
        }),
        ProviderError::Timeout { .. } | ProviderError::Connection { .. } => {
            Some(KeyOutcome::Failed {
                message: e.to_string(),
            })
        }
        _ => None,
    }
}

/// The status an attempt records: the upstream's, else the one the
/// gateway answers that failure with (504 for a timeout, 502 for a
/// connection failure).
fn attempt_status(e: &ProviderError) -> u16 {
    match e {
        ProviderError::Upstream { status, .. } => *status,
        ProviderError::Timeout { .. } => 504,
        ProviderError::Connection { .. } => 502,
        other => ApiError::from(other.clone()).status.as_u16(),
    }
}

/// The answer when a target has no usable key: its keys are cooling down
/// (429 with `retry-after`) or all invalid.
/// The first usable key of `keys` (for a call that is not retried, e.g.
/// a free count); the error a request gets when there is none.
///
/// # Errors
/// Every key invalid (400) or cooling down (429, with `retry-after`).
pub(crate) fn first_usable(provider: ProviderId, mut keys: Keys) -> Result<KeyChoice, ApiError> {
    if keys.usable.is_empty() {
        return Err(no_usable_key(provider, &keys));
    }
    Ok(keys.usable.swap_remove(0))
}

fn no_usable_key(provider: ProviderId, keys: &Keys) -> ApiError {
    if let Some(until) = keys.cooling_until {
        let secs = until
            .duration_since(std::time::SystemTime::now())
            .map_or(1, |d| d.as_secs().max(1));
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            format!("every key for {provider} is cooling down after a rate limit"),
        )
        .code("keys_cooling_down")
        .retry_after(Some(secs));
    }
    ApiError::bad_request(format!(
        "every key for {provider} is marked invalid ({} keys); verify or replace one",
        keys.invalid
    ))
    .code("keys_invalid")
}

/// What the attempts do next.
enum Step<K> {
    /// Call target `.0` (0: the routed provider, `i`: the fallback
    /// `i − 1`) with key `.1`.
    Call(usize, K),
    /// Target `.0` is next: its keys are needed ([`Cursor::keys`]).
    Fetch(usize),
    /// No call left.
    Done,
}

/// The order of the attempts, without I/O: each target's keys in order,
/// then the next target, at most [`MAX_ATTEMPTS`] calls; what each failed
/// call means for the next.
struct Cursor<K> {
    /// The target whose keys are being tried.
    target: usize,
    /// How many targets there are (the routed one and the fallbacks).
    targets: usize,
    /// Its keys not tried yet.
    keys: std::vec::IntoIter<K>,
    /// Upstream calls made.
    made: usize,
    /// The provider of the last failed call (a next call falls back from it).
    failed_at: Option<ProviderId>,
    /// The last failed call's error.
    last: Option<ProviderError>,
}

impl<K> Cursor<K> {
    fn new(keys: Vec<K>, targets: usize) -> Self {
        Self {
            target: 0,
            targets,
            keys: keys.into_iter(),
            made: 0,
            failed_at: None,
            last: None,
        }
    }

    /// The next step; a call counts as made.
    fn step(&mut self) -> Step<K> {
        if self.made >= MAX_ATTEMPTS {
            return Step::Done;
        }
        if let Some(key) = self.keys.next() {
            self.made += 1;
            return Step::Call(self.target, key);
        }
        if self.target + 1 < self.targets {
            self.target += 1;
            return Step::Fetch(self.target);
        }
        Step::Done
    }

    /// The keys of the target [`Step::Fetch`] named.
    fn keys(&mut self, keys: Vec<K>) {
        self.keys = keys.into_iter();
    }

    /// A call to `provider` failed with `e`: `Some(e)` when `e` is the
    /// answer (it says the request is wrong), else `None` (go on) and the
    /// provider a next call falls back from.
    fn failed(
        &mut self,
        provider: ProviderId,
        e: ProviderError,
        retry: bool,
    ) -> Option<ProviderError> {
        if !retry {
            return Some(e);
        }
        self.failed_at = Some(provider);
        self.last = Some(e);
        None
    }
}

/// The attempts of one request: the next key to try (a [`Cursor`] over
/// the targets' keys, fetched as it reaches them), and what each call
/// showed.
pub(crate) struct Attempts<'a> {
    state: &'a Data,
    user: &'a User,
    cursor: Cursor<KeyChoice>,
    /// Why a target had no usable key (the answer if no call is made).
    no_key: Option<ApiError>,
}

impl<'a> Attempts<'a> {
    /// The attempts over `keys`, the routed `provider`'s keys, then the
    /// `fallbacks` targets'.
    pub(crate) fn new(
        state: &'a Data,
        user: &'a User,
        provider: ProviderId,
        keys: Keys,
        fallbacks: &[Fallback],
    ) -> Self {
        let no_key = keys
            .usable
            .is_empty()
            .then(|| no_usable_key(provider, &keys));
        Self {
            state,
            user,
            cursor: Cursor::new(keys.usable, 1 + fallbacks.len()),
            no_key,
        }
    }

    /// The next call to make: the target's index (0: the routed provider,
    /// `i`: `fallbacks[i − 1]`) and the key; `None` when there is none
    /// (keys and targets exhausted, or [`MAX_ATTEMPTS`] made).
    pub(crate) async fn next(&mut self, fallbacks: &[Fallback]) -> Option<(usize, KeyChoice)> {
        loop {
            match self.cursor.step() {
                Step::Call(target, key) => {
                    if let Some(from) = self.cursor.failed_at.take() {
                        self.state.metrics.fallback(from.as_str());
                    }
                    return Some((target, key));
                }
                Step::Fetch(target) => {
                    let provider = fallbacks.get(target - 1)?.provider;
                    let keys = self.fetch(provider).await;
                    self.cursor.keys(keys);
                }
                Step::Done => return None,
            }
        }
    }

    /// A fallback target's usable keys (none when they cannot be read: the
    /// target is skipped, and the reason kept).
    async fn fetch(&mut self, provider: ProviderId) -> Vec<KeyChoice> {
        match keys_for(self.state, self.user, provider).await {
            Ok(keys) => {
                if keys.usable.is_empty() && self.no_key.is_none() {
                    self.no_key = Some(no_usable_key(provider, &keys));
                }
                keys.usable
            }
            Err(e) => {
                tracing::warn!(%provider, error = %e.message, "fallback target skipped: its keys cannot be read");
                self.no_key.get_or_insert(e);
                Vec::new()
            }
        }
    }

    /// Records the call that answered, with `key`: reported healthy, the
    /// settlement's attempt and, for a fallback target, the provider and
    /// model it is priced by.
    pub(crate) fn answered(
        &self,
        target: usize,
        provider: ProviderId,
        key: KeyChoice,
        fallbacks: &[Fallback],
        settlement: &mut Settlement,
    ) {
        if !key.fresh {
            report(self.state, self.user, provider, &key, KeyOutcome::Ok);
        }
        if let Some(f) = target.checked_sub(1).and_then(|i| fallbacks.get(i)) {
            settlement.answered_by(provider, &f.request.model);
        }
        settlement.attempt(provider, key.label, 200);
    }

    /// Records a failed call with `key`: its outcome reported for the key,
    /// counted, and recorded in the settlement. `Some(e)` when `e` is the
    /// answer (not retryable); `None` to go on with the next call.
    pub(crate) fn failed(
        &mut self,
        provider: ProviderId,
        key: KeyChoice,
        e: ProviderError,
        settlement: &mut Settlement,
    ) -> Option<ProviderError> {
        self.state.metrics.attempt_failed(provider.as_str());
        let outcome = key_outcome(&e);
        let retry = outcome.is_some();
        if let Some(outcome) = outcome {
            report(self.state, self.user, provider, &key, outcome);
        }
        settlement.attempt(provider, key.label, attempt_status(&e));
        self.cursor.failed(provider, e, retry)
    }

    /// The answer when no call answered: the last call's error, else why
    /// no key was usable; the reservation released.
    pub(crate) fn exhausted(mut self, settlement: Settlement) -> ApiError {
        settlement.release();
        match (self.cursor.last.take(), self.no_key.take()) {
            (Some(e), _) => e.into(),
            (None, Some(e)) => e,
            (None, None) => ApiError::internal(),
        }
    }
}

/// Runs the attempts: `call` with each key of the routed `provider`
/// (`None`: no fallback target), then of each target of `fallbacks`, until
/// one answers (`answer` makes the response of what it gave) or the
/// attempts run out; a failure that says the request is wrong is the
/// answer at once. The one loop of every protocol, translated or passed
/// through.
pub(crate) async fn run<T>(
    mut attempts: Attempts<'_>,
    provider: ProviderId,
    fallbacks: &[Fallback],
    mut settlement: Settlement,
    mut call: impl AsyncFnMut(Option<&Fallback>, ProviderId, &KeyChoice) -> Result<T, ProviderError>,
    answer: impl AsyncFnOnce(T, Settlement) -> Result<HttpResponse, ApiError>,
) -> Result<HttpResponse, ApiError> {
    while let Some((target, key)) = attempts.next(fallbacks).await {
        let fallback = target.checked_sub(1).and_then(|i| fallbacks.get(i));
        let provider = fallback.map_or(provider, |f| f.provider);
        match call(fallback, provider, &key).await {
            Ok(value) => {
                attempts.answered(target, provider, key, fallbacks, &mut settlement);
                return answer(value, settlement).await;
            }
            Err(e) => {
                if let Some(e) = attempts.failed(provider, key, e, &mut settlement) {
                    return Err(give_up(settlement, e));
                }
            }
        }
    }
    Err(attempts.exhausted(settlement))
}

/// Ends a request whose call failed with an error that is the answer: the
/// reservation released.
pub(crate) fn give_up(settlement: Settlement, e: ProviderError) -> ApiError {
    settlement.release();
    e.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(status: u16) -> ProviderError {
        ProviderError::Upstream {
            provider: ProviderId::OpenAi,
            status,
            kind: byok_providers::UpstreamErrorKind::from_status(status),
            message: "m".into(),
            code: None,
            retry_after: None,
        }
    }

    #[test]
    fn which_errors_fall_back() {
        for status in [401, 403, 408, 429, 500, 502, 503, 529] {
            assert!(key_outcome(&upstream(status)).is_some(), "{status}");
            assert_eq!(attempt_status(&upstream(status)), status);
        }
        for status in [400, 404, 409, 413, 422] {
            assert!(key_outcome(&upstream(status)).is_none(), "{status}");
        }
        let timeout = ProviderError::Timeout {
            provider: ProviderId::OpenAi,
            phase: byok_providers::TimeoutPhase::Response,
        };
        assert!(key_outcome(&timeout).is_some());
        assert_eq!(attempt_status(&timeout), 504);
        let reset = ProviderError::Connection {
            provider: ProviderId::OpenAi,
            reason: "connect",
        };
        assert!(key_outcome(&reset).is_some());
        assert_eq!(attempt_status(&reset), 502);
        assert!(matches!(
            key_outcome(&upstream(429)),
            Some(KeyOutcome::RateLimited { .. })
        ));
        assert!(matches!(
            key_outcome(&upstream(401)),
            Some(KeyOutcome::Invalid { .. })
        ));
    }

    /// Runs a cursor over fake targets (each a provider and its keys'
    /// labels) where each call ends as `outcome(label)` says (`None`:
    /// answered): the calls made, in order, and the error that answered
    /// if none did.
    fn run(
        targets: &[(ProviderId, &[&'static str])],
        outcome: impl Fn(&str) -> Option<u16>,
    ) -> (Vec<&'static str>, Option<u16>) {
        let mut cursor = Cursor::new(targets[0].1.to_vec(), targets.len());
        let mut calls = Vec::new();
        loop {
            match cursor.step() {
                Step::Call(target, key) => {
                    calls.push(key);
                    let Some(status) = outcome(key) else {
                        return (calls, None);
                    };
                    let e = upstream(status);
                    let retry = key_outcome(&e).is_some();
                    if let Some(e) = cursor.failed(targets[target].0, e, retry) {
                        return (calls, Some(attempt_status(&e)));
                    }
                }
                Step::Fetch(target) => cursor.keys(targets[target].1.to_vec()),
                Step::Done => {
                    return (calls, cursor.last.as_ref().map(attempt_status));
                }
            }
        }
    }

    #[test]
    fn keys_in_order_then_the_next_target() {
        use ProviderId as P;
        let targets: &[(ProviderId, &[&str])] = &[
            (P::Groq, &["groq-a", "groq-b"]),
            (P::Together, &[]),
            (P::Fireworks, &["fw-a", "fw-b"]),
        ];
        // A 429 key falls to the next key, a 401 to the next target (the
        // one without a usable key is skipped).
        let (calls, error) = run(targets, |k| match k {
            "groq-a" => Some(429),
            "groq-b" => Some(401),
            "fw-a" => Some(503),
            _ => None,
        });
        assert_eq!(calls, ["groq-a", "groq-b", "fw-a", "fw-b"]);
        assert_eq!(error, None);
        // A 400 is the answer: no next key.
        let (calls, error) = run(targets, |_| Some(400));
        assert_eq!(calls, ["groq-a"]);
        assert_eq!(error, Some(400));
        // Everything fails: the last error answers.
        let (calls, error) = run(targets, |k| Some(if k == "fw-b" { 502 } else { 500 }));
        assert_eq!(calls.len(), 4);
        assert_eq!(error, Some(502));
    }

    #[test]
    fn at_most_five_calls() {
        let keys: &[&str] = &["a", "b", "c", "d", "e", "f", "g"];
        let (calls, error) = run(&[(ProviderId::Groq, keys)], |_| Some(500));
        assert_eq!(calls, ["a", "b", "c", "d", "e"]);
        assert_eq!(error, Some(500));
        // Two keys of one target: each called once, then done.
        let mut cursor = Cursor::new(vec!["one", "two"], 1);
        assert!(matches!(cursor.step(), Step::Call(0, "one")));
        assert!(matches!(cursor.step(), Step::Call(0, "two")));
        assert!(matches!(cursor.step(), Step::Done));
    }

    #[test]
    fn models_must_be_a_list_of_ids() {
        assert!(listed_models(None).unwrap().is_empty());
        assert_eq!(
            listed_models(Some(serde_json::json!(["a/b", "c"]))).unwrap_or_default(),
            ["a/b", "c"]
        );
        for bad in [serde_json::json!("a/b"), serde_json::json!([1])] {
            assert_eq!(
                listed_models(Some(bad)).err().map(|e| e.status.as_u16()),
                Some(400)
            );
        }
        assert_eq!(count_header(1), "1");
        assert_eq!(count_header(9), "5");
    }
}
