//! `/api/byok/credentials`: the user's provider keys (chat and search), and
//! the cache of which providers each user holds a key for.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use byok_providers::{Credential, ProviderId};
use byok_search::{SearchProviderId, SearchRequest};
use byok_vault::SecretInfo;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::accounts::User;
use crate::api::search::search_adapter;
use crate::api::{Data, parse_json, read_body};
use crate::auth::{authenticate, authenticate_write};
use crate::error::{self, ApiError};

/// Largest credential body.
const MAX_CREDENTIAL_BODY: usize = 64 << 10;

/// The names of the user's stored credentials (cached in `AppState::held`;
/// a miss lists the vault).
async fn held_names(state: &Data, user: &User) -> Result<Arc<Vec<String>>, ApiError> {
    if let Some(names) = state.held.get(user.id.as_str()) {
        return Ok(names);
    }
    let names: Arc<Vec<String>> = Arc::new(
        stored_list(state, user)
            .await?
            .into_iter()
            .map(|i| i.name)
            .collect(),
    );
    state.held.insert(user.id.clone(), Arc::clone(&names));
    Ok(names)
}

/// The providers of type `T` (chat or search) the user holds a key for.
pub(crate) async fn held<T: std::str::FromStr>(
    state: &Data,
    user: &User,
) -> Result<Vec<T>, ApiError> {
    Ok(held_names(state, user)
        .await?
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect())
}

/// What the user has stored (never the secrets).
async fn stored_list(state: &Data, user: &User) -> Result<Vec<SecretInfo>, ApiError> {
    state
        .vault
        .list(&user.id)
        .await
        .map_err(|e| error::vault("vault list", &e))
}

/// The user's stored secret named `name` (a provider id), if any.
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

/// Drops the user's cached names after a write.
fn forget_held(state: &Data, user: &User) {
    state.held.remove(user.id.as_str());
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

fn no_credential(provider: &str) -> ApiError {
    ApiError::not_found(format!("no credential for `{provider}`"))
}

/// A stored credential as the API shows it (never the secret).
fn public_view(info: &SecretInfo) -> Value {
    let ts = |t: std::time::SystemTime| {
        byok_billing::rfc3339(
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0)),
        )
    };
    let meta = info.metadata.clone().unwrap_or_else(|| json!({}));
    let kind = meta
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("chat")
        .to_owned();
    let mut public = meta;
    if let Some(o) = public.as_object_mut() {
        o.remove("kind");
    }
    json!({"provider": info.name, "kind": kind, "last4": info.last4, "created_at": ts(info.created_at), "updated_at": ts(info.updated_at), "meta": public})
}

/// The secret of a `PUT` body: `{"key": "<secret>"}`, or an object for
/// JSON credentials.
fn take_key(body: &[u8]) -> Result<SecretString, ApiError> {
    let mut doc: Value = parse_json(body)?;
    match doc.get_mut("key") {
        Some(Value::String(s)) => Ok(SecretString::from(std::mem::take(s))),
        Some(v @ Value::Object(_)) => Ok(SecretString::from(v.to_string())),
        _ => Err(ApiError::bad_request("the body must be {\"key\": \"<secret>\"} (a string, or an object for JSON credentials)").param("key")),
    }
}

/// `PUT /api/byok/credentials/{provider}`.
pub(crate) async fn put_credential(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let user = authenticate_write(&req, &state).await?;
    let body = read_body(
        &state,
        payload,
        state.settings.max_body_bytes.min(MAX_CREDENTIAL_BODY),
    )
    .await?;
    let target = target(&path)?;
    let raw = take_key(&body)?;
    let (stored, hint, meta) = match target {
        Target::Chat(p) => {
            let c = Credential::parse(p, &raw, state.policy)?;
            let mut meta = Value::Object(c.public_meta());
            meta["kind"] = json!("chat");
            (c.to_storage(), c.hint_source().clone(), meta)
        }
        Target::Search(_) => {
            // Search keys follow the plain-key rules (header-safe, 1..=8 KiB).
            let c = Credential::plain_key(&raw)?;
            (
                c.to_storage(),
                c.hint_source().clone(),
                json!({"kind": "search"}),
            )
        }
    };
    let options = byok_vault::PutOptions::new()
        .metadata(meta)
        .hint(byok_vault::Hint::From(hint));
    let info = state
        .vault
        .put(&user.id, &path, stored, options)
        .await
        .map_err(|e| error::vault("vault put", &e))?;
    forget_held(&state, &user);
    Ok(HttpResponse::Ok().json(public_view(&info)))
}

/// `GET /api/byok/credentials`.
pub(crate) async fn list_credentials(
    req: HttpRequest,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let list = stored_list(&state, &user).await?;
    Ok(HttpResponse::Ok().json(json!({"data": list.iter().map(public_view).collect::<Vec<_>>()})))
}

/// `DELETE /api/byok/credentials/{provider}`.
pub(crate) async fn delete_credential(
    req: HttpRequest,
    path: web::Path<String>,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let (user, _) = credential_write(&req, &state, &path).await?;
    if state
        .vault
        .delete(&user.id, &path)
        .await
        .map_err(|e| error::vault("vault delete", &e))?
    {
        forget_held(&state, &user);
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(no_credential(&path))
    }
}

/// `POST /api/byok/credentials/{provider}/verify`.
pub(crate) async fn verify_credential(
    req: HttpRequest,
    path: web::Path<String>,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let (user, target) = credential_write(&req, &state, &path).await?;
    let secret = stored_secret(&state, &user, &path)
        .await?
        .ok_or_else(|| no_credential(&path))?;
    let result: Result<(), String> = match target {
        Target::Chat(p) => {
            let c = Credential::parse(p, &secret, state.policy)?;
            state
                .chat_adapter(p)
                .list_models(&c)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Target::Search(s) => search_adapter(&state, s)
            .search(&SearchRequest::new("byok key check"), &secret)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
    };
    Ok(HttpResponse::Ok().json(match result {
        Ok(()) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "error": e}),
    }))
}
