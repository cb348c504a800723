//! `serve` (the default): the HTTP server until SIGINT/SIGTERM.

use crate::config::Settings;

/// Serves until a signal, then finishes in-flight requests and commits
/// every queued ledger write.
///
/// # Errors
/// See [`crate::AppState::open`] and [`crate::build`]; I/O errors of the
/// server.
pub fn serve(settings: &Settings) -> anyhow::Result<()> {
    // The stores open before the runtime starts: the PostgreSQL ones block
    // while they connect and migrate.
    let state = crate::AppState::open(settings)?;
    actix_web::rt::System::new().block_on(async {
        let (server, addr, state) = crate::build(settings, state)?;
        tracing::info!(%addr, data_dir = %settings.data_dir.display(), "byok-server listening");
        if let Some(metrics) = state.metrics_listen {
            tracing::info!(addr = %metrics, "metrics listening");
        }
        // actix finishes in-flight requests (streams included) for up to 30 s
        // after SIGINT/SIGTERM; then every queued ledger write is committed.
        server.await?;
        state.ledger.shutdown();
        tracing::info!("stopped; ledger flushed");
        Ok(())
    })
}
