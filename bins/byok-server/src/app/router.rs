//! The router: every route, the handler of each, and what the app answers
//! for the rest (unknown routes).

use actix_web::{HttpResponse, web};

use crate::api::{
    account, admin, catalog, chat, credentials, embeddings, health, messages, responses, search,
};
use crate::error::ApiError;
use crate::page;

/// The OpenAPI document of this API (hand-maintained; a test keeps it and
/// [`ROUTES`] identical).
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Makes a route's handler.
pub type MakeRoute = fn() -> actix_web::Route;

/// Every route with its handler: the single list the router is built
/// from. actix tries routes in this order (a path with a `{segment}` is a
/// regex match), so the hot routes come first.
pub const ROUTES: &[(&str, &str, MakeRoute)] = &[
    ("POST", chat::PATH, || web::post().to(chat::chat)),
    ("POST", messages::PATH, || {
        web::post().to(messages::messages)
    }),
    ("POST", messages::COUNT_PATH, || {
        web::post().to(messages::count_tokens)
    }),
    ("POST", responses::PATH, || {
        web::post().to(responses::responses)
    }),
    ("POST", embeddings::PATH, || {
        web::post().to(embeddings::embeddings)
    }),
    ("GET", "/healthz", || web::get().to(health::healthz)),
    ("GET", "/readyz", || web::get().to(health::readyz)),
    ("GET", "/metrics", || web::get().to(health::metrics)),
    ("GET", "/api/openapi.json", || web::get().to(openapi)),
    ("GET", "/api/byok/providers", || {
        web::get().to(catalog::list_providers)
    }),
    ("GET", "/api/byok/credentials", || {
        web::get().to(credentials::list_credentials)
    }),
    ("PUT", "/api/byok/credentials/{provider}", || {
        web::put().to(credentials::put_credential)
    }),
    ("DELETE", "/api/byok/credentials/{provider}", || {
        web::delete().to(credentials::delete_credential)
    }),
    ("POST", "/api/byok/credentials/{provider}/verify", || {
        web::post().to(credentials::verify_credential)
    }),
    ("PUT", "/api/byok/credentials/{provider}/{label}", || {
        web::put().to(credentials::put_labelled)
    }),
    ("DELETE", "/api/byok/credentials/{provider}/{label}", || {
        web::delete().to(credentials::delete_labelled)
    }),
    (
        "POST",
        "/api/byok/credentials/{provider}/{label}/verify",
        || web::post().to(credentials::verify_labelled),
    ),
    ("GET", "/api/v1/models", || web::get().to(catalog::models)),
    ("POST", "/api/web", || web::post().to(search::web_search)),
    ("GET", "/api/usage", || web::get().to(account::usage)),
    ("GET", "/api/balance", || web::get().to(account::balance)),
    ("POST", "/api/admin/users", || {
        web::post().to(admin::admin_create_user)
    }),
    ("POST", "/api/admin/users/{id}/credits", || {
        web::post().to(admin::admin_credit)
    }),
    ("GET", "/api/keys", || web::get().to(account::list_keys)),
    ("POST", "/api/keys", || web::post().to(account::create_key)),
    ("DELETE", "/api/keys/{prefix}", || {
        web::delete().to(account::revoke_key)
    }),
];

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI)
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(ApiError::not_found("unknown route").body())
}

/// Registers [`ROUTES`], the settings page, and the 404 for the rest.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    for (_, path, make) in ROUTES {
        cfg.route(path, make());
    }
    page::routes(cfg);
    cfg.default_service(web::to(not_found));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_and_nothing_else_is() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                documented.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
        let mut routed: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed, "openapi.json and ROUTES differ");
    }
}
