//! The HTTP handlers, one module per resource (the contract is
//! `shared/docs/http-api.md`), and what they share: reading a body (after
//! authentication, within a deadline).

pub(crate) mod account;
pub(crate) mod admin;
pub(crate) mod catalog;
pub(crate) mod chat;
pub(crate) mod credentials;
pub(crate) mod embeddings;
pub(crate) mod health;
pub(crate) mod messages;
pub(crate) mod pipeline;
pub(crate) mod responses;
pub(crate) mod search;

use std::time::Duration;

use actix_web::web;
use bytes::Bytes;

use crate::app::state::AppState;
use crate::error::ApiError;

/// What every handler gets: the worker's state.
pub(crate) type Data = web::Data<AppState>;

/// Reads a request body up to `limit` bytes within the body deadline
/// (`BYOK_BODY_READ_TIMEOUT_SECS`): 413 above the limit, 408 after the
/// deadline, in OpenAI's error shape. Call it after authentication.
pub(crate) async fn read_body(
    state: &AppState,
    payload: web::Payload,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let secs = state.settings.body_read_timeout_secs;
    // A body already in (the usual case) is read in the first poll: the
    // timer is never registered then.
    actix_web::rt::time::timeout(Duration::from_secs(secs), collect(payload, limit))
        .await
        .map_err(|_| ApiError::body_timeout(secs))?
}

/// The body's pieces, up to `limit` bytes.
async fn collect(mut payload: web::Payload, limit: usize) -> Result<Bytes, ApiError> {
    use futures_util::StreamExt as _;
    // A body that arrives in one piece (the usual case) is used as is.
    let mut first: Option<Bytes> = None;
    let mut body = web::BytesMut::new();
    let mut len = 0usize;
    while let Some(piece) = payload.next().await {
        let piece =
            piece.map_err(|_| ApiError::bad_request("the request body could not be read"))?;
        len += piece.len();
        if len > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        if let Some(f) = first.take() {
            body.extend_from_slice(&f);
        }
        if body.is_empty() && len == piece.len() {
            first = Some(piece);
        } else {
            body.extend_from_slice(&piece);
        }
    }
    Ok(first.unwrap_or_else(|| body.freeze()))
}

/// Parses a JSON body (400 with position and category only).
pub(crate) fn parse_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::invalid_json(&e))
}
