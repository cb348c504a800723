//! `serve` (the default): the HTTP server until SIGINT/SIGTERM.

use crate::config::Settings;

/// Serves until a signal, then finishes in-flight requests and commits
/// every queued ledger write.
///
/// # Errors
/// See [`crate::build`]; I/O errors of the server.
pub fn serve(settings: &Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async {
        let (server, addr, state) = crate::build(settings)?;
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
