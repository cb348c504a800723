//! The settings page, embedded in the binary: no build step, nothing loaded
//! from outside the server. Served with a strict Content-Security-Policy (no
//! inline script or style), `nosniff`, no referrer, and frame denial.

use actix_web::{HttpResponse, web};

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

/// The Content-Security-Policy of the page.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("content-security-policy", CSP))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("referrer-policy", "no-referrer"))
        .insert_header(("x-frame-options", "DENY"))
        .insert_header(("cache-control", "no-cache"))
        .body(body)
}

async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX)
}

async fn app_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn app_css() -> HttpResponse {
    asset("text/css; charset=utf-8", APP_CSS)
}

async fn favicon() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

/// Registers `/`, `/app.js`, `/app.css` (and an empty `/favicon.ico`).
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/favicon.ico", web::get().to(favicon))
        .route("/app.js", web::get().to(app_js))
        .route("/app.css", web::get().to(app_css));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_nothing_from_outside_and_has_no_inline_code() {
        for text in [INDEX, APP_JS, APP_CSS] {
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "no external URL"
            );
        }
        assert!(
            !INDEX.contains("<script>") && !INDEX.contains(" style="),
            "no inline script or style (CSP)"
        );
        assert!(!INDEX.contains("onclick="));
    }
}
