//! The byok gateway server: the only crate that touches the outside world.
//!
//! It reads configuration (flags and `BYOK_*` environment variables), owns the
//! data directory, installs logging, and serves HTTP with actix-web, composing
//! the library crates: `byok-vault` for credentials today; providers, billing
//! and search as they land (see the repository's issues and
//! `ARCHITECTURE.md`).
//!
//! Current endpoints: `GET /healthz` (alive) and `GET /readyz` (vault
//! unsealed and its database reachable).
#![deny(missing_docs)]

pub mod accounts;
pub mod config;
pub mod error;
pub mod metrics;
pub mod page;
mod routes;
mod state;

use std::net::SocketAddr;
use std::thread::JoinHandle;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use byok_vault::MasterKey;

pub use config::{Cli, Command, LogFormat, PricesCommand, Settings, UserCommand, VaultCommand};
pub use state::{AppState, KeySource, OpenedVault, open_vault, pending_key_path};

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
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

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(error::ApiError::not_found("unknown route").body())
}

/// The OpenAPI document of this API (hand-maintained; a test keeps it and
/// [`ROUTES`] identical).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every route: the single list the router is built from. actix tries
/// routes in this order (a path with a `{segment}` is a regex match), so
/// the hot route comes first.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/chat/completions"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/byok/providers"),
    ("GET", "/api/byok/credentials"),
    ("PUT", "/api/byok/credentials/{provider}"),
    ("DELETE", "/api/byok/credentials/{provider}"),
    ("POST", "/api/byok/credentials/{provider}/verify"),
    ("GET", "/api/v1/models"),
    ("POST", "/api/web"),
    ("GET", "/api/usage"),
    ("GET", "/api/balance"),
    ("POST", "/api/admin/users"),
    ("POST", "/api/admin/users/{id}/credits"),
    ("GET", "/api/keys"),
    ("POST", "/api/keys"),
    ("DELETE", "/api/keys/{prefix}"),
];

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI)
}

fn handler(method: &str, path: &str) -> Option<actix_web::Route> {
    Some(match (method, path) {
        ("GET", "/healthz") => web::get().to(healthz),
        ("GET", "/readyz") => web::get().to(readyz),
        ("GET", "/metrics") => web::get().to(metrics),
        ("GET", "/api/openapi.json") => web::get().to(openapi),
        ("GET", "/api/byok/providers") => web::get().to(routes::list_providers),
        ("GET", "/api/byok/credentials") => web::get().to(routes::list_credentials),
        ("PUT", "/api/byok/credentials/{provider}") => web::put().to(routes::put_credential),
        ("DELETE", "/api/byok/credentials/{provider}") => {
            web::delete().to(routes::delete_credential)
        }
        ("POST", "/api/byok/credentials/{provider}/verify") => {
            web::post().to(routes::verify_credential)
        }
        ("POST", "/api/v1/chat/completions") => web::post().to(routes::chat),
        ("GET", "/api/v1/models") => web::get().to(routes::models),
        ("POST", "/api/web") => web::post().to(routes::web_search),
        ("GET", "/api/usage") => web::get().to(routes::usage),
        ("GET", "/api/balance") => web::get().to(routes::balance),
        ("POST", "/api/admin/users") => web::post().to(routes::admin_create_user),
        ("POST", "/api/admin/users/{id}/credits") => web::post().to(routes::admin_credit),
        ("GET", "/api/keys") => web::get().to(routes::list_keys),
        ("POST", "/api/keys") => web::post().to(routes::create_key),
        ("DELETE", "/api/keys/{prefix}") => web::delete().to(routes::revoke_key),
        _ => return None,
    })
}

fn routes(cfg: &mut web::ServiceConfig) {
    for (method, path) in ROUTES {
        if let Some(route) = handler(method, path) {
            cfg.route(path, route);
        } else {
            tracing::error!(method, path, "a route in ROUTES has no handler");
        }
    }
    page::routes(cfg);
    cfg.default_service(web::to(not_found));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_handler_and_is_documented_and_nothing_else_is() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                documented.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
        let mut routed: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed, "openapi.json and ROUTES differ");
        for (m, p) in ROUTES {
            assert!(handler(m, p).is_some(), "{m} {p} has no handler");
        }
    }
}

/// Binds `settings.listen` and returns the server and the bound address.
///
/// # Errors
/// When the vault cannot be opened (wrong master key, bad key file, storage)
/// or the address cannot be bound.
pub fn build(
    settings: &Settings,
) -> anyhow::Result<(actix_web::dev::Server, SocketAddr, AppState)> {
    let app_state = AppState::open(settings)?;
    let shared = app_state.clone();
    let limit = settings.max_body_bytes;
    let server = HttpServer::new(move || {
        // Runs once per worker: each gets its own upstream client.
        let state = web::Data::new(shared.for_worker());
        App::new()
            .app_data(state)
            .app_data(web::PayloadConfig::new(limit))
            .app_data(
                web::JsonConfig::default()
                    .limit(limit)
                    .error_handler(|e, _| {
                        let status = match &e {
                            actix_web::error::JsonPayloadError::Overflow { .. }
                            | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
                                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
                            }
                            _ => actix_web::http::StatusCode::BAD_REQUEST,
                        };
                        error::ApiError::new(
                            status,
                            "invalid_request_error",
                            "the request body is not valid JSON or is too large",
                        )
                        .into()
                    }),
            )
            .wrap_fn(|req, srv| {
                use actix_web::dev::Service as _;
                let fut = srv.call(req);
                async move {
                    let mut res = fut.await?;
                    // Every answer carries a request id (chat sets its own,
                    // the ledger entry's); others get a fresh one.
                    if !res.headers().contains_key("x-request-id")
                        && let Ok(v) =
                            actix_web::http::header::HeaderValue::from_str(&routes::request_id())
                    {
                        res.headers_mut().insert(
                            actix_web::http::header::HeaderName::from_static("x-request-id"),
                            v,
                        );
                    }
                    Ok(res)
                }
            })
            .configure(routes)
    })
    .bind(settings.listen)
    .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .context("server bound to no address")?;
    Ok((server.shutdown_timeout(30).run(), addr, app_state))
}

/// A server running on its own thread, for tests and embedding.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// Starts a server on a new thread with its own runtime.
    ///
    /// # Errors
    /// As [`build`].
    pub fn start(settings: &Settings) -> anyhow::Result<Self> {
        let settings = settings.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("byok-server".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    match build(&settings) {
                        Ok((server, addr, state)) => {
                            let _ = tx.send(Ok((server.handle(), addr)));
                            if let Err(e) = server.await {
                                tracing::error!(error = %e, "server stopped with an error");
                            }
                            state.ledger.shutdown();
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })?;
        let (handle, addr) = rx.recv().context("server thread exited")??;
        Ok(Self {
            addr,
            handle,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server gracefully and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            let handle = self.handle.clone();
            // Drive the stop future on a throwaway runtime in its own thread,
            // so this works from inside another async runtime too.
            let stopper = std::thread::spawn(move || {
                actix_web::rt::System::new().block_on(handle.stop(true))
            });
            let _ = stopper.join();
            let _ = thread.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Runs a `vault ...` subcommand; machine-readable output goes to `out`.
///
/// # Errors
/// When the vault cannot be opened, a new key cannot be written, or a store
/// operation fails. A master-key rotation interrupted at any point is
/// completed by the next start or by running it again.
pub fn run_vault_command(
    settings: &Settings,
    cmd: &VaultCommand,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let opened = open_vault(settings)?;
    let vault = &opened.vault;
    match cmd {
        VaultCommand::RotateMasterKey {
            batch_size,
            new_key_file,
        } => {
            let new_key = MasterKey::generate()?;
            // Persist the new key before the database starts using it.
            let pending = match (&opened.source, new_key_file) {
                (KeySource::Env, Some(path)) => {
                    new_key.write_new_file(path)?;
                    None
                }
                (KeySource::Env, None) => anyhow::bail!(
                    "the master key comes from BYOK_MASTER_KEY: pass --new-key-file PATH to receive the new one"
                ),
                (KeySource::File(path), _) => {
                    let pending = pending_key_path(path);
                    if pending.exists() {
                        std::fs::remove_file(&pending)?;
                    }
                    new_key.write_new_file(&pending)?;
                    Some((pending, path.clone()))
                }
            };
            vault.rekey(new_key)?;
            if let Some((pending, path)) = pending {
                std::fs::rename(&pending, &path)?;
            }
            tracing::info!("master key replaced");
            let before: Vec<u32> = vault.keys()?.iter().map(|k| k.key_id).collect();
            let new = vault.rotate()?;
            let report = vault.rewrap(*batch_size)?;
            tracing::info!(
                new_key = new,
                rewrapped = report.rewrapped,
                failed = report.failed,
                "credentials re-encrypted"
            );
            for old in before {
                match vault.retire(old) {
                    Ok(()) => tracing::info!(key = old, "retired data key"),
                    Err(e) => tracing::warn!(key = old, error = %e, "data key not retired"),
                }
            }
            if let KeySource::Env = opened.source {
                tracing::warn!(
                    "update BYOK_MASTER_KEY with the new key file's content before the next start"
                );
            }
        }
        VaultCommand::Status => {
            let keys: Vec<_> = vault
                .keys()?
                .into_iter()
                .map(|k| serde_json::json!({"key_id": k.key_id, "active": k.active, "secrets": k.secrets}))
                .collect();
            writeln!(out, "{}", serde_json::json!({ "keys": keys }))?;
        }
    }
    Ok(())
}

/// Runs a `user ...` subcommand; the JSON answer goes to `out`.
///
/// # Errors
/// Invalid names or amounts, unknown users, storage errors.
pub fn run_user_command(
    settings: &Settings,
    cmd: &UserCommand,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir)?;
    let accounts = accounts::Accounts::open(&settings.data_dir.join("accounts.db"))?;
    // Another process (the server) may own in-flight reservations: keep them.
    let mut config = byok_billing::LedgerConfig::default();
    config.release_on_open = false;
    config.sweep_interval = None;
    let ledger = byok_billing::Ledger::open_sqlite(settings.data_dir.join("ledger.db"), &config)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let credit = |id: &str, amount: &str| -> anyhow::Result<()> {
        let amount: byok_billing::Money = amount
            .parse()
            .map_err(|_| anyhow::anyhow!("the amount must be a decimal USD amount like 10.00"))?;
        anyhow::ensure!(
            !amount.is_negative() && amount != byok_billing::Money::ZERO,
            "the amount must be positive"
        );
        let mut rid = [0u8; 12];
        getrandom::getrandom(&mut rid).map_err(|e| anyhow::anyhow!("{e}"))?;
        ledger
            .run_blocking(byok_billing::Command::Credit {
                account: id.to_owned(),
                request_id: format!("credit_{}", hex::encode(rid)),
                amount,
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    };
    match cmd {
        UserCommand::Create { name, credit_usd } => {
            let (user, key) = accounts.create_user(name)?;
            if let Some(amount) = credit_usd {
                credit(&user.id, amount)?;
            }
            use secrecy::ExposeSecret as _;
            writeln!(
                out,
                "{}",
                serde_json::json!({"user_id": user.id, "api_key": key.expose_secret()})
            )?;
        }
        UserCommand::Credit { id, amount } => {
            anyhow::ensure!(accounts.user_exists(id)?, "unknown user {id}");
            credit(id, amount)?;
            let b = ledger.balance(id).map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(
                out,
                "{}",
                serde_json::json!({"user_id": id, "balance_usd": b.balance.to_string()})
            )?;
        }
    }
    ledger.shutdown();
    Ok(())
}

/// Runs `prices show [MODEL]`: one JSON line per catalog entry.
///
/// # Errors
/// A malformed override file.
pub fn run_prices_command(
    settings: &Settings,
    cmd: &PricesCommand,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let PricesCommand::Show { model } = cmd;
    let mut catalog = byok_billing::Catalog::builtin().map_err(|e| anyhow::anyhow!("{e}"))?;
    let overrides = settings.data_dir.join("prices.json");
    if overrides.exists() {
        catalog = catalog
            .with_overrides(&std::fs::read_to_string(&overrides)?)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let mut entries: Vec<_> = catalog
        .entries()
        .filter(|e| {
            model
                .as_ref()
                .is_none_or(|m| &e.model == m || &e.canonical == m)
        })
        .collect();
    entries.sort_by(|a, b| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)));
    for e in entries {
        writeln!(out, "{}", serde_json::to_string(e)?)?;
    }
    Ok(())
}
