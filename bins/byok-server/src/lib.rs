//! The byok gateway server: the only crate that touches the outside world.
//!
//! It reads configuration (flags, `BYOK_*` environment variables and
//! `byok.toml`), owns the data directory, installs logging, and serves
//! OpenAI's chat API and byok's own API over HTTP with actix-web, composing
//! the library crates: `byok-vault` (users' provider keys),
//! `byok-providers` (the upstream adapters), `byok-billing` (prices and the
//! ledger) and `byok-search` (web search). The contract is
//! `shared/docs/http-api.md`; `ARCHITECTURE.md` maps the code.
//!
//! Where things are:
//! - `api/`: the handlers, one module per resource: `chat/` (the handler,
//!   settlement, the SSE body, web-search augmentation), `credentials`,
//!   `search`, `account` (usage, balance, gateway keys), `admin`,
//!   `catalog` (models, providers), `health` (health, readiness, metrics).
//! - `auth`: the bearer key, user authentication, the admin token (and its
//!   failed-attempt limit), the rate limiters (requests, writes).
//! - `app/`: shared state and start-up, the data directory's lock, the
//!   router, request ids, the blocking-call helper, the bounded cache, the
//!   ledger's call site.
//! - `cli/`: the binary's subcommands; `config`: settings; `accounts`:
//!   users and gateway keys; `error`: errors in OpenAI's shape; `metrics`;
//!   `page`: the settings page.
//!
//! This file holds [`build`] (the HTTP app) and [`RunningServer`] (a server
//! on its own thread, for tests and embedding).
#![deny(missing_docs)]

pub mod accounts;
mod api;
mod app;
mod auth;
pub mod cli;
pub mod config;
pub mod error;
/// The `config` fuzz target's body (`fuzz/` and this crate's tests).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
pub mod page;

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use anyhow::Context as _;

pub use app::router::OPENAPI;
pub use app::state::AppState;
pub use app::vault::{KeySource, OpenedVault, open_vault, pending_key_path};
pub use cli::{
    run_migrate, run_migrate_store, run_prices_command, run_user_command, run_vault_command,
};
pub use config::{Cli, Command, LogFormat, PricesCommand, Settings, UserCommand, VaultCommand};

/// Binds `settings.listen` (and `settings.metrics_listen`, whose bound
/// address is then in the state's `metrics_listen`) and returns the server
/// and the bound address, over `app_state` (from [`AppState::open`], which
/// must run outside an async runtime: the PostgreSQL stores block while
/// they connect and migrate).
///
/// # Errors
/// When the address cannot be bound.
pub fn build(
    settings: &Settings,
    mut app_state: AppState,
) -> anyhow::Result<(actix_web::dev::Server, SocketAddr, AppState)> {
    let metrics_listener = settings
        .metrics_listen
        .map(|a| {
            std::net::TcpListener::bind(a)
                .with_context(|| format!("cannot listen on {a} (BYOK_METRICS_LISTEN)"))
        })
        .transpose()?;
    let metrics_addr = metrics_listener
        .as_ref()
        .map(std::net::TcpListener::local_addr)
        .transpose()?;
    app_state.metrics_listen = metrics_addr;
    let shared = app_state.clone();
    let write_timeout = Duration::from_secs(settings.client_write_timeout_secs);
    let mut server = HttpServer::new(move || {
        // Runs once per worker and listener: each gets its own upstream client.
        let state = web::Data::new(shared.for_worker());
        let metrics = std::sync::Arc::clone(&shared.metrics);
        App::new()
            .app_data(state)
            .wrap_fn(move |req, srv| {
                use actix_web::dev::Service as _;
                use futures_util::future::Either;
                let in_flight = metrics.in_flight();
                let answer = match api::health::elsewhere(&req, metrics_addr) {
                    Some(refused) => {
                        Either::Left(std::future::ready(Ok(req.into_response(refused))))
                    }
                    None => Either::Right(srv.call(req)),
                };
                app::request_id::add_header(answer, in_flight)
            })
            .configure(app::router::routes)
    })
    .on_connect(move |conn, _| client_write_timeout(conn, write_timeout))
    .bind(settings.listen)
    .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .context("server bound to no address")?;
    if let Some(listener) = metrics_listener {
        server = server.listen(listener)?;
    }
    Ok((server.shutdown_timeout(30).run(), addr, app_state))
}

/// Bounds how long an answer's bytes may wait on a client that does not
/// read them (`TCP_USER_TIMEOUT`: the kernel closes a connection whose data
/// stays unacknowledged that long, zero-window probes included). Without
/// it a client that stopped reading held its upstream call, the upstream
/// connection and its reservation for as long as it kept the connection
/// open (found by `tests/tests/faults.rs`).
fn client_write_timeout(conn: &dyn std::any::Any, timeout: Duration) {
    let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(timeout)) {
        tracing::debug!(error = %e, "cannot set TCP_USER_TIMEOUT");
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = (tcp, timeout);
}

/// A server running on its own thread, for tests and embedding.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// Starts a server on a new thread with its own runtime.
    ///
    /// # Errors
    /// As [`AppState::open`] and [`build`].
    pub fn start(settings: &Settings) -> anyhow::Result<Self> {
        let settings = settings.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("byok-server".into())
            .spawn(move || {
                // The stores open before the runtime starts (they may block).
                let state = match AppState::open(&settings) {
                    Ok(state) => state,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                actix_web::rt::System::new().block_on(async move {
                    match build(&settings, state) {
                        Ok((server, addr, state)) => {
                            let _ = tx.send(Ok((server.handle(), addr, state.metrics_listen)));
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
        let (handle, addr, metrics_addr) = rx.recv().context("server thread exited")??;
        Ok(Self {
            addr,
            metrics_addr,
            handle,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound metrics address, when `metrics_listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
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
