//! The user's own account: `GET /api/usage`, `GET /api/balance`, and the
//! gateway keys under `/api/keys`.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use crate::api::Data;
use crate::app::blocking::blocking;
use crate::auth::{authenticate, authenticate_write};
use crate::error::ApiError;

#[derive(serde::Deserialize)]
pub(crate) struct UsageQuery {
    limit: Option<usize>,
    before: Option<i64>,
}

/// `GET /api/usage?limit=&before=`.
pub(crate) async fn usage(
    req: HttpRequest,
    q: web::Query<UsageQuery>,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let entries = state.ledger.entries(user.id, limit, q.before).await?;
    let next = entries.last().map(|e| e.seq);
    Ok(HttpResponse::Ok().json(json!({"data": entries.iter().map(byok_billing::StoredEntry::to_api_json).collect::<Vec<_>>(), "next_before": next})))
}

/// `GET /api/balance`.
pub(crate) async fn balance(req: HttpRequest, state: Data) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let b = state.ledger.balance(user.id).await?;
    Ok(HttpResponse::Ok().json(
        json!({"balance_usd": b.balance.to_string(), "reserved_usd": b.reserved.to_string()}),
    ))
}

/// `GET /api/keys`: the user's gateway keys by prefix (never the keys).
pub(crate) async fn list_keys(req: HttpRequest, state: Data) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let accounts = state.accounts.clone();
    let keys = blocking("keys", move || accounts.list_keys(&user.id)).await?;
    let data: Vec<Value> = keys
        .into_iter()
        .map(|(prefix, created, revoked)| json!({"prefix": prefix, "created_at": byok_billing::rfc3339(created), "revoked": revoked}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"data": data})))
}

/// `POST /api/keys`: a new gateway key for the user, shown once.
pub(crate) async fn create_key(req: HttpRequest, state: Data) -> Result<HttpResponse, ApiError> {
    let user = authenticate_write(&req, &state).await?;
    let accounts = state.accounts.clone();
    let (prefix, key) = blocking("keys", move || accounts.create_key(&user.id)).await?;
    Ok(HttpResponse::Ok().json(json!({"prefix": prefix, "api_key": key.expose_secret()})))
}

/// `DELETE /api/keys/{prefix}`: revokes the user's key with that prefix.
pub(crate) async fn revoke_key(
    req: HttpRequest,
    path: web::Path<String>,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let user = authenticate_write(&req, &state).await?;
    let accounts = state.accounts.clone();
    let prefix = path.into_inner();
    let n = blocking("keys", move || accounts.revoke_key(&user.id, &prefix)).await?;
    if n == 0 {
        return Err(ApiError::not_found("no active key with that prefix"));
    }
    Ok(HttpResponse::NoContent().finish())
}
