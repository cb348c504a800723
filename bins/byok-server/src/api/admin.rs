//! The admin API (on when `BYOK_ADMIN_TOKEN` is set): users and credit.
//! The token is checked before a body is read.

use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret as _;
use serde_json::json;

use crate::api::{Data, parse_json, read_body};
use crate::app::blocking::blocking;
use crate::app::ledger::credit_amount;
use crate::auth::require_admin;
use crate::error::ApiError;

#[derive(serde::Deserialize)]
pub(crate) struct NewUser {
    name: String,
}

/// The admin's JSON body, read once the token is checked.
async fn admin_body<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Data,
) -> Result<T, ApiError> {
    require_admin(req, state)?;
    let body = read_body(state, payload, state.settings.max_body_bytes).await?;
    parse_json(&body)
}

/// `POST /api/admin/users`.
pub(crate) async fn admin_create_user(
    req: HttpRequest,
    payload: web::Payload,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let NewUser { name } = admin_body(&req, payload, &state).await?;
    let accounts = state.accounts.clone();
    // A refused name is the client's error; only the pool's failure is ours.
    let (user, key) = blocking("create user", move || {
        Ok::<_, std::convert::Infallible>(accounts.create_user(&name))
    })
    .await?
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(HttpResponse::Ok().json(json!({"user_id": user.id, "api_key": key.expose_secret()})))
}

#[derive(serde::Deserialize)]
pub(crate) struct Credit {
    amount_usd: String,
}

/// `POST /api/admin/users/{id}/credits`.
pub(crate) async fn admin_credit(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let body: Credit = admin_body(&req, payload, &state).await?;
    let amount = credit_amount(&body.amount_usd)
        .map_err(|why| ApiError::bad_request(format!("`amount_usd` {why}")).param("amount_usd"))?;
    let accounts = state.accounts.clone();
    let id = path.into_inner();
    let check = id.clone();
    if !blocking("user", move || accounts.user_exists(&check)).await? {
        return Err(ApiError::not_found("unknown user"));
    }
    state.ledger.credit(&id, amount).await?;
    let b = state.ledger.balance(id).await?;
    Ok(HttpResponse::Ok().json(json!({"balance_usd": b.balance.to_string()})))
}
