//! Operations: `GET /healthz` (alive), `GET /readyz` (vault unsealed and
//! its database reachable), `GET /metrics` (Prometheus text; behind
//! `BYOK_METRICS_TOKEN` and on `BYOK_METRICS_LISTEN` when they are set).

use std::net::SocketAddr;

use actix_web::dev::ServiceRequest;
use actix_web::{HttpRequest, HttpResponse};

use crate::api::Data;
use crate::auth::bearer_is;
use crate::error::ApiError;

/// `GET /healthz`.
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`.
pub(crate) async fn readyz(state: Data) -> HttpResponse {
    match state.vault.keys().await {
        Ok(_) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "error": {"message": "vault storage is not reachable", "type": "unavailable", "param": null, "code": null}
            }))
        }
    }
}

/// `GET /metrics`: with `BYOK_METRICS_TOKEN` set, for its bearer only
/// (on `BYOK_METRICS_LISTEN` only, when set: see [`elsewhere`]).
pub(crate) async fn metrics(req: HttpRequest, state: Data) -> Result<HttpResponse, ApiError> {
    if let Some(token) = &state.settings.metrics_token
        && !bearer_is(&req, token)
    {
        return Err(ApiError::unauthorized());
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render()))
}

/// With metrics on an address of their own (`metrics`), the 404 of a
/// request on the wrong listener: `/metrics` on the API's, anything else
/// on the metrics one.
pub(crate) fn elsewhere(req: &ServiceRequest, metrics: Option<SocketAddr>) -> Option<HttpResponse> {
    let metrics = metrics?;
    let on_metrics_listener = req.app_config().local_addr() == metrics;
    (on_metrics_listener != (req.path() == "/metrics"))
        .then(|| HttpResponse::NotFound().json(ApiError::not_found("unknown route").body()))
}
