//! `/api/byok/credentials`: the user's provider keys (chat and search),
//! several per provider, each with a label, a priority and its health
//! (`app::keys`, `app::health`).

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{HttpRequest, HttpResponse, web};
use byok_providers::{Credential, ProviderError, ProviderId, UpstreamErrorKind};
use byok_search::{SearchProviderId, SearchRequest};
use byok_vault::SecretInfo;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::accounts::User;
use crate::api::search::search_adapter;
use crate::api::{Data, parse_json, read_body};
use crate::app::health::{HealthChange, KeyHealth, millis};
use crate::app::keys::{self, DEFAULT_LABEL};
use crate::auth::{authenticate, authenticate_write};
use crate::error::{self, ApiError};

/// Largest credential body.
const MAX_CREDENTIAL_BODY: usize = 64 << 10;

/// What the user has stored (never the secrets).
pub(crate) async fn stored_list(state: &Data, user: &User) -> Result<Vec<SecretInfo>, ApiError> {
    state
        .vault
        .list(&user.id)
        .await
        .map_err(|e| error::vault("vault list", &e))
}

/// The user's stored secret named `name` (a vault name: see
/// [`keys::vault_name`]), if any.
pub(crate) async fn stored_secret(
    state: &Data,
    user: &User,
    name: &str,
) -> Result<Option<SecretString>, ApiError> {
    state
        .vault
        .get(&user.id, name)
        .await
        .map_err(|e| error::vault("vault get", &e))
}

/// What a credential is for.
enum Target {
    Chat(ProviderId),
    Search(SearchProviderId),
}

fn target(id: &str) -> Result<Target, ApiError> {
    if let Ok(p) = id.parse::<ProviderId>() {
        return Ok(Target::Chat(p));
    }
    if let Ok(s) = id.parse::<SearchProviderId>() {
        return Ok(Target::Search(s));
    }
    Err(ApiError::not_found(format!(
        "unknown provider `{}`",
        id.chars().take(64).collect::<String>()
    )))
}

/// The user of a write to their credential for `provider`
/// ([`authenticate_write`]), and what that credential is for.
async fn credential_write(
    req: &HttpRequest,
    state: &Data,
    provider: &str,
) -> Result<(User, Target), ApiError> {
    let user = authenticate_write(req, state).await?;
    Ok((user, target(provider)?))
}

fn no_credential(provider: &str, label: &str) -> ApiError {
    if label == DEFAULT_LABEL {
        ApiError::not_found(format!("no credential for `{provider}`"))
    } else {
        ApiError::not_found(format!("no credential `{label}` for `{provider}`"))
    }
}

/// An RFC 3339 time.
fn rfc3339(t: SystemTime) -> String {
    byok_billing::rfc3339(
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0)),
    )
}

/// A stored credential as the API shows it (never the secret), with its
/// health.
fn public_view(info: &SecretInfo, health: &KeyHealth, now: SystemTime) -> Value {
    let (provider, label) = keys::split_name(&info.name);
    let meta = info.metadata.clone().unwrap_or_else(|| json!({}));
    let kind = meta
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("chat")
        .to_owned();
    let mut public = meta;
    if let Some(o) = public.as_object_mut() {
        o.remove("kind");
        o.remove(keys::PRIORITY_FIELD);
    }
    json!({
        "provider": provider,
        "label": label,
        "priority": keys::priority_of(info),
        "kind": kind,
        "last4": info.last4,
        "created_at": rfc3339(info.created_at),
        "updated_at": rfc3339(info.updated_at),
        "meta": public,
        "status": health.status(now).as_str(),
        "cooldown_until": health.cooling_until(now).map(rfc3339),
        "last_used_at": health.last_used_at.map(rfc3339),
        "last_error": health.last_error.as_deref(),
    })
}

/// A `PUT` body: `{"key": "<secret>" (or an object for JSON credentials),
/// "priority"?: integer}`. The key may be left out to change only the
/// priority of a stored key.
struct PutBody {
    key: Option<SecretString>,
    priority: Option<i64>,
}

fn put_body(body: &[u8]) -> Result<PutBody, ApiError> {
    let mut doc: Value = parse_json(body)?;
    let priority = match doc.get("priority") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| {
            ApiError::bad_request("`priority` must be an integer (lower first)").param("priority")
        })?),
    };
    let key = match doc.get_mut("key") {
        Some(Value::String(s)) => Some(SecretString::from(std::mem::take(s))),
        Some(v @ Value::Object(_)) => Some(SecretString::from(v.to_string())),
        None if priority.is_some() => None,
        _ => return Err(ApiError::bad_request("the body must be {\"key\": \"<secret>\", \"priority\"?: <integer>} (the key a string, or an object for JSON credentials)").param("key")),
    };
    Ok(PutBody { key, priority })
}

/// What the vault stores for a key: the secret in storage form, its hint
/// and its metadata.
fn storage_form(
    state: &Data,
    target: &Target,
    raw: &SecretString,
    priority: i64,
) -> Result<(SecretString, SecretString, Value), ApiError> {
    let (stored, hint, mut meta) = match target {
        Target::Chat(p) => {
            let c = Credential::parse(*p, raw, state.policy)?;
            let mut meta = Value::Object(c.public_meta());
            meta["kind"] = json!("chat");
            (c.to_storage(), c.hint_source().clone(), meta)
        }
        Target::Search(_) => {
            // Search keys follow the plain-key rules (header-safe, 1..=8 KiB).
            let c = Credential::plain_key(raw)?;
            (
                c.to_storage(),
                c.hint_source().clone(),
                json!({"kind": "search"}),
            )
        }
    };
    if priority != 0 {
        meta[keys::PRIORITY_FIELD] = json!(priority);
    }
    Ok((stored, hint, meta))
}

/// Adds or replaces `provider`'s key `label` (`PUT`).
async fn put_key(
    req: HttpRequest,
    payload: web::Payload,
    state: Data,
    provider: &str,
    label: &str,
) -> Result<HttpResponse, ApiError> {
    let user = authenticate_write(&req, &state).await?;
    let body = read_body(
        &state,
        payload,
        state.settings.max_body_bytes.min(MAX_CREDENTIAL_BODY),
    )
    .await?;
    let target = target(provider)?;
    keys::check_label(label)?;
    if label != DEFAULT_LABEL && matches!(target, Target::Search(_)) {
        return Err(
            ApiError::bad_request("a search provider takes one key: the label `default`")
                .param("label"),
        );
    }
    let body = put_body(&body)?;
    let name = keys::vault_name(provider, label);
    let (raw, replaced) = match body.key {
        Some(raw) => (raw, true),
        // Only the priority changes: the stored key is written back.
        None => (
            stored_secret(&state, &user, &name)
                .await?
                .ok_or_else(|| no_credential(provider, label))?,
            false,
        ),
    };
    let (stored, hint, meta) = storage_form(&state, &target, &raw, body.priority.unwrap_or(0))?;
    let options = byok_vault::PutOptions::new()
        .metadata(meta)
        .hint(byok_vault::Hint::From(hint));
    let info = state
        .vault
        .put(&user.id, &name, stored, options)
        .await
        .map_err(|e| error::vault("vault put", &e))?;
    keys::forget_held(&state, &user).await;
    let at = keys::key_ref(&user, provider, label);
    state.health.set(
        at,
        if replaced {
            HealthChange::Replaced {
                stored_at: millis(info.updated_at),
            }
        } else {
            HealthChange::Seen
        },
    );
    let health = state.health.get(at).unwrap_or_default();
    Ok(HttpResponse::Ok().json(public_view(&info, &health, SystemTime::now())))
}

/// `PUT /api/byok/credentials/{provider}`: the key `default`.
pub(crate) async fn put_credential(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    put_key(req, payload, state, &path, DEFAULT_LABEL).await
}

/// `PUT /api/byok/credentials/{provider}/{label}`.
pub(crate) async fn put_labelled(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let (provider, label) = path.into_inner();
    put_key(req, payload, state, &provider, &label).await
}

/// `GET /api/byok/credentials`: every key, by provider, priority and label.
pub(crate) async fn list_credentials(
    req: HttpRequest,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let mut list = stored_list(&state, &user).await?;
    let health = state.health.list(&user.id);
    list.sort_by(|a, b| {
        let (pa, la) = keys::split_name(&a.name);
        let (pb, lb) = keys::split_name(&b.name);
        (pa, keys::priority_of(a), la).cmp(&(pb, keys::priority_of(b), lb))
    });
    let now = SystemTime::now();
    let none = KeyHealth::default();
    let data: Vec<Value> = list
        .iter()
        .map(|info| {
            let (provider, label) = keys::split_name(&info.name);
            let h = health
                .iter()
                .find(|h| &*h.provider == provider && &*h.label == label)
                .map_or(&none, |h| &h.health);
            public_view(info, h, now)
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

/// Deletes `provider`'s key `label`; whether it existed.
async fn delete_key(
    state: &Data,
    user: &User,
    provider: &str,
    label: &str,
) -> Result<bool, ApiError> {
    let existed = state
        .vault
        .delete(&user.id, &keys::vault_name(provider, label))
        .await
        .map_err(|e| error::vault("vault delete", &e))?;
    state.health.remove(keys::key_ref(user, provider, label));
    Ok(existed)
}

/// `DELETE /api/byok/credentials/{provider}`: every key of the provider.
pub(crate) async fn delete_credential(
    req: HttpRequest,
    path: web::Path<String>,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let (user, _) = credential_write(&req, &state, &path).await?;
    let labels: Vec<String> = stored_list(&state, &user)
        .await?
        .iter()
        .map(|i| keys::split_name(&i.name))
        .filter(|(p, _)| *p == path.as_str())
        .map(|(_, l)| l.to_owned())
        .collect();
    let mut deleted = false;
    for label in &labels {
        deleted |= delete_key(&state, &user, &path, label).await?;
    }
    keys::forget_held(&state, &user).await;
    if deleted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(no_credential(&path, DEFAULT_LABEL))
    }
}

/// `DELETE /api/byok/credentials/{provider}/{label}`.
pub(crate) async fn delete_labelled(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let (provider, label) = path.into_inner();
    let (user, _) = credential_write(&req, &state, &provider).await?;
    keys::check_label(&label)?;
    let deleted = delete_key(&state, &user, &provider, &label).await?;
    keys::forget_held(&state, &user).await;
    if deleted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(no_credential(&provider, &label))
    }
}

/// One cheap authenticated call upstream with `provider`'s key `label`:
/// `{"ok": true}` (and the key is no longer invalid) or `{"ok": false,
/// "error"}` (a 401/403 marks a chat key invalid).
async fn verify_key(
    req: HttpRequest,
    state: Data,
    provider: &str,
    label: &str,
) -> Result<HttpResponse, ApiError> {
    let (user, target) = credential_write(&req, &state, provider).await?;
    keys::check_label(label)?;
    let name = keys::vault_name(provider, label);
    // The version verified (read first: a replacement in between makes
    // the result about the older one, which then changes nothing).
    let stored_at = state
        .vault
        .info(&user.id, &name)
        .await
        .map_err(|e| error::vault("vault info", &e))?
        .map(|i| millis(i.updated_at))
        .ok_or_else(|| no_credential(provider, label))?;
    let secret = stored_secret(&state, &user, &name)
        .await?
        .ok_or_else(|| no_credential(provider, label))?;
    let at = keys::key_ref(&user, provider, label);
    let result: Result<(), String> = match target {
        Target::Chat(p) => {
            let c = Credential::parse(p, &secret, state.policy)?;
            match state.chat_adapter(p).list_models(&c).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    if let ProviderError::Upstream {
                        kind: UpstreamErrorKind::Unauthorized | UpstreamErrorKind::Forbidden,
                        ..
                    } = &e
                    {
                        let error = keys::clean(&e.to_string());
                        state
                            .health
                            .set(at, HealthChange::Invalid { error, stored_at });
                    }
                    Err(e.to_string())
                }
            }
        }
        Target::Search(s) => search_adapter(&state, s)
            .search(&SearchRequest::new("byok key check"), &secret)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
    };
    Ok(HttpResponse::Ok().json(match result {
        Ok(()) => {
            state.health.set(at, HealthChange::Verified { stored_at });
            json!({"ok": true})
        }
        Err(e) => json!({"ok": false, "error": e}),
    }))
}

/// `POST /api/byok/credentials/{provider}/verify`: the key `default`.
pub(crate) async fn verify_credential(
    req: HttpRequest,
    path: web::Path<String>,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    verify_key(req, state, &path, DEFAULT_LABEL).await
}

/// `POST /api/byok/credentials/{provider}/{label}/verify`.
pub(crate) async fn verify_labelled(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let (provider, label) = path.into_inner();
    verify_key(req, state, &provider, &label).await
}
