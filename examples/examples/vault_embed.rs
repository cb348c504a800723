//! Embedding `byok-vault` in your own application.
//!
//! ```text
//! cargo run -p byok-examples --example vault_embed -- [DATA_DIR]
//! ```
//!
//! Stores a user's API key encrypted in SQLite, lists it (hint only), reads it
//! back, rotates the data key and re-encrypts, all with the master key in a
//! `0600` file beside (in production: apart from) the database.
#![allow(clippy::print_stdout)] // an example talks to its user

use std::path::PathBuf;

use byok_vault::secrecy::{ExposeSecret, SecretString};
use byok_vault::{MasterKey, PutOptions, Vault, VaultConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).map_or_else(
        || std::env::temp_dir().join("byok-vault-example"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir)?;

    // 1. The master key: from an env var if set, else a 0600 file generated once.
    let master = match MasterKey::from_env("EXAMPLE_MASTER_KEY")? {
        Some(key) => key,
        None => MasterKey::load_or_generate(dir.join("master.key"))?.0,
    };

    // 2. Open (and on first use initialise) the vault. A wrong master key is
    //    refused here, not at the first read.
    let vault = Vault::open_sqlite(dir.join("vault.db"), master, VaultConfig::default())?;

    // 3. Store a secret with non-secret metadata. Only the last 4 characters
    //    are kept in clear.
    let key = SecretString::from("sk-example-0123456789abcdefghijklmn");
    let info = vault.put(
        "user-1",
        "openai",
        &key,
        PutOptions::new().metadata(serde_json::json!({"label": "personal"})),
    )?;
    println!(
        "stored openai key ••••{}",
        info.last4.as_deref().unwrap_or("????")
    );

    // 4. List without decrypting.
    for s in vault.list("user-1")? {
        println!(
            "  {} ••••{} meta={:?}",
            s.name,
            s.last4.as_deref().unwrap_or("????"),
            s.metadata
        );
    }

    // 5. Read it back where you build the outgoing request's auth header.
    let back = vault.get("user-1", "openai")?.ok_or("missing")?;
    assert_eq!(back.expose_secret(), key.expose_secret());

    // 6. Rotate: new data key, re-encrypt, retire the old one.
    let old = info.key_id;
    let new = vault.rotate()?;
    let report = vault.rewrap(500)?;
    vault.retire(old)?;
    println!(
        "rotated key {old} -> {new}; re-encrypted {} secret(s)",
        report.rewrapped
    );
    Ok(())
}
