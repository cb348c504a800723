//! What can be used: `GET /api/byok/providers` (every provider a key can be
//! stored for) and `GET /api/v1/models` (the models of the providers the
//! user holds a key for).

use actix_web::{HttpRequest, HttpResponse};
use byok_providers::PROVIDERS;
use byok_search::SearchProviderId;
use serde_json::{Value, json};

use crate::api::Data;
use crate::app::keys::held_keys;
use crate::auth::authenticate;
use crate::error::ApiError;

/// `GET /api/byok/providers`.
pub(crate) async fn list_providers() -> HttpResponse {
    let mut data: Vec<Value> = PROVIDERS
        .iter()
        .map(|p| {
            let mut fields: Vec<&str> = p.credential.fields().to_vec();
            // Regional or plan hosts: the key may come as JSON naming one.
            let hosts: serde_json::Map<String, Value> = p
                .host_fields()
                .map(|f| (f.as_str().to_owned(), json!(p.host_values(f))))
                .collect();
            if !hosts.is_empty() {
                fields.push("apiKey");
                fields.extend(p.host_fields().map(|f| f.as_str()));
            }
            json!({"id": p.slug, "name": p.name, "kind": "chat", "format": p.credential.kind(), "fields": fields, "hostFields": hosts, "example": p.example})
        })
        .collect();
    for s in SearchProviderId::ALL {
        data.push(json!({"id": s.as_str(), "name": s.name(), "kind": "search", "format": "key", "fields": [], "example": "..."}));
    }
    HttpResponse::Ok().json(json!({"data": data}))
}

/// `GET /api/v1/models`: catalog models of the providers the user holds.
pub(crate) async fn models(req: HttpRequest, state: Data) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let held = held_keys(&state, &user).await?;
    let held = held.chat();
    let mut data: Vec<Value> = state
        .catalog
        .entries()
        .filter(|e| held.iter().any(|p| p.as_str() == e.provider))
        .map(|e| json!({"id": format!("{}/{}", e.provider, e.model), "object": "model", "owned_by": e.provider}))
        .collect();
    data.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(HttpResponse::Ok().json(json!({"object": "list", "data": data})))
}
