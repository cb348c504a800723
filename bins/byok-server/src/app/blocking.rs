//! The one way a handler runs blocking work (SQLite reads, key checks):
//! on actix's blocking pool, never on a worker thread.

use actix_web::web;

use crate::error::{ApiError, internal};

/// Runs `f` on the blocking pool. A failure of the pool or of `f` is
/// logged with `context` and answered with the opaque 500.
///
/// # Errors
/// That 500.
pub(crate) async fn blocking<T, E>(
    context: &'static str,
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    web::block(f)
        .await
        .map_err(|e| internal(context, &e))?
        .map_err(|e| internal(context, &e))
}
