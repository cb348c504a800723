//! The application around the handlers: shared state and start-up, the
//! data directory's lock, the router, request ids, the blocking-call helper, the bounded cache, the
//! ledger's one call site, the users' keys (labels, order, health), and
//! with PostgreSQL the server's shared tables and the change feed.

pub(crate) mod blocking;
pub(crate) mod cache;
pub(crate) mod changes;
pub(crate) mod health;
pub(crate) mod keys;
pub(crate) mod ledger;
pub(crate) mod lock;
pub(crate) mod request_id;
pub(crate) mod router;
pub(crate) mod shared;
pub(crate) mod state;
pub(crate) mod vault;
