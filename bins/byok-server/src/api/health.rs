//! Operations: `GET /healthz` (alive), `GET /readyz` (vault unsealed and
//! its database reachable), `GET /metrics` (Prometheus text).

use actix_web::HttpResponse;

use crate::api::Data;

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

/// `GET /metrics`.
pub(crate) async fn metrics(state: Data) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
