//! The router: every route, the handler of each, and what the app answers
//! for the rest (unknown routes).

use actix_web::http::Method;
use actix_web::{HttpResponse, web};

use crate::api::{
    account, admin, catalog, chat, credentials, embeddings, health, messages, responses, search,
};
use crate::error::ApiError;
use crate::page;

/// The OpenAPI document of this API (hand-maintained; a test keeps it and
/// the route table identical).
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Puts a route's handler on a route (whose method guard the router sets
/// from the table's method: the one place a route's method is written).
pub(crate) type MakeRoute = fn(actix_web::Route) -> actix_web::Route;

/// Every route with its handler: the single list the router is built
/// from. actix tries routes in this order (a path with a `{segment}` is a
/// regex match), so the hot routes come first.
pub(crate) const ROUTES: &[(&str, &str, MakeRoute)] = &[
    ("POST", chat::PATH, |r| r.to(chat::chat)),
    ("POST", messages::PATH, |r| r.to(messages::messages)),
    ("POST", messages::COUNT_PATH, |r| {
        r.to(messages::count_tokens)
    }),
    ("POST", responses::PATH, |r| r.to(responses::responses)),
    ("POST", embeddings::PATH, |r| r.to(embeddings::embeddings)),
    ("GET", "/healthz", |r| r.to(health::healthz)),
    ("GET", "/readyz", |r| r.to(health::readyz)),
    ("GET", "/metrics", |r| r.to(health::metrics)),
    ("GET", "/api/openapi.json", |r| r.to(openapi)),
    ("GET", "/api/byok/providers", |r| {
        r.to(catalog::list_providers)
    }),
    ("GET", "/api/byok/credentials", |r| {
        r.to(credentials::list_credentials)
    }),
    ("PUT", "/api/byok/credentials/{provider}", |r| {
        r.to(credentials::put_credential)
    }),
    ("DELETE", "/api/byok/credentials/{provider}", |r| {
        r.to(credentials::delete_credential)
    }),
    ("POST", "/api/byok/credentials/{provider}/verify", |r| {
        r.to(credentials::verify_credential)
    }),
    ("PUT", "/api/byok/credentials/{provider}/{label}", |r| {
        r.to(credentials::put_labelled)
    }),
    ("DELETE", "/api/byok/credentials/{provider}/{label}", |r| {
        r.to(credentials::delete_labelled)
    }),
    (
        "POST",
        "/api/byok/credentials/{provider}/{label}/verify",
        |r| r.to(credentials::verify_labelled),
    ),
    ("GET", "/api/v1/models", |r| r.to(catalog::models)),
    ("POST", "/api/web", |r| r.to(search::web_search)),
    ("GET", "/api/usage", |r| r.to(account::usage)),
    ("GET", "/api/balance", |r| r.to(account::balance)),
    ("POST", "/api/admin/users", |r| {
        r.to(admin::admin_create_user)
    }),
    ("POST", "/api/admin/users/{id}/credits", |r| {
        r.to(admin::admin_credit)
    }),
    ("GET", "/api/keys", |r| r.to(account::list_keys)),
    ("POST", "/api/keys", |r| r.to(account::create_key)),
    ("DELETE", "/api/keys/{prefix}", |r| {
        r.to(account::revoke_key)
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
    for (method, path, make) in ROUTES {
        // Every method in the table parses (a test says so).
        if let Ok(method) = Method::from_bytes(method.as_bytes()) {
            cfg.route(path, make(web::method(method)));
        }
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
        for (method, path) in &routed {
            assert!(
                Method::from_bytes(method.as_bytes()).is_ok(),
                "{method} {path}"
            );
        }
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed, "openapi.json and ROUTES differ");
    }
}
