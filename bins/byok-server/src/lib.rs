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

pub mod config;
mod state;

use std::net::SocketAddr;
use std::thread::JoinHandle;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use byok_vault::MasterKey;

pub use config::{Cli, Command, LogFormat, Settings, VaultCommand};
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

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

/// Binds `settings.listen` and returns the server and the bound address.
///
/// # Errors
/// When the vault cannot be opened (wrong master key, bad key file, storage)
/// or the address cannot be bound.
pub fn build(settings: &Settings) -> anyhow::Result<(actix_web::dev::Server, SocketAddr)> {
    let state = web::Data::new(AppState::open(settings)?);
    let server = HttpServer::new(move || App::new().app_data(state.clone()).configure(routes))
        .bind(settings.listen)
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .context("server bound to no address")?;
    Ok((server.shutdown_timeout(30).run(), addr))
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
                        Ok((server, addr)) => {
                            let _ = tx.send(Ok((server.handle(), addr)));
                            if let Err(e) = server.await {
                                tracing::error!(error = %e, "server stopped with an error");
                            }
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
            // Any runtime can drive the stop future; use a throwaway one.
            actix_web::rt::System::new().block_on(handle.stop(true));
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
