//! The application around the handlers: shared state and start-up, the
//! data directory's lock, the router, request ids, the blocking-call helper, the bounded cache and the
//! ledger's one call site.

pub(crate) mod blocking;
pub(crate) mod cache;
pub(crate) mod keys;
pub(crate) mod ledger;
pub(crate) mod lock;
pub(crate) mod request_id;
pub(crate) mod router;
pub(crate) mod state;
pub(crate) mod vault;
