//! Runnable examples for the byok crates; see `examples/`.
//!
//! Run one with `cargo run -p byok-examples --example vault_embed`.
