//! `vault rotate-master-key` and `vault status`.

use byok_vault::{MasterKey, Vault};

use crate::app::lock::DataDirLock;
use crate::app::vault::{KeySource, OpenedVault, create_private_dir, open_vault, pending_key_path};
use crate::config::{Settings, VaultCommand};

/// Runs a `vault ...` subcommand; machine-readable output goes to `out`.
///
/// # Errors
/// When a server holds the data directory (rotation only), the vault cannot
/// be opened, a new key cannot be written, or a store operation fails. A master-key rotation interrupted at any point is
/// completed by the next start or by running it again.
pub fn run_vault_command(
    settings: &Settings,
    cmd: &VaultCommand,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    // With SQLite a rotation must not run under a server (which would keep
    // the old keyring until restarted): it takes the data directory
    // exclusively. With PostgreSQL the servers (on other machines too) keep
    // running: the re-wrap leaves the data keys they hold valid, so it takes
    // the directory shared, as a server does.
    let shared_db = settings.database_url.is_some();
    let _lock = match cmd {
        VaultCommand::RotateMasterKey { .. } => {
            create_private_dir(&settings.data_dir)?;
            Some(if shared_db {
                DataDirLock::shared(&settings.data_dir)?
            } else {
                DataDirLock::exclusive(&settings.data_dir, "vault rotate-master-key")?
            })
        }
        VaultCommand::Reencrypt { .. } => {
            create_private_dir(&settings.data_dir)?;
            Some(DataDirLock::shared(&settings.data_dir)?)
        }
        VaultCommand::Status => None,
    };
    let opened = open_vault(settings)?;
    match cmd {
        VaultCommand::RotateMasterKey {
            batch_size,
            new_key_file,
        } => {
            replace_master_key(&opened, new_key_file.as_deref())?;
            if shared_db {
                tracing::info!(
                    "keyring re-wrapped; restart every instance with the new master key, then run `vault reencrypt` to re-encrypt the credentials under a new data key"
                );
            } else {
                reencrypt(&opened.vault, *batch_size)?;
            }
            if let KeySource::Env = opened.source {
                tracing::warn!(
                    "update BYOK_MASTER_KEY with the new key file's content before the next start"
                );
            }
        }
        VaultCommand::Reencrypt { batch_size } => reencrypt(&opened.vault, *batch_size)?,
        VaultCommand::Status => {
            let keys: Vec<_> = opened
                .vault
                .keys()?
                .into_iter()
                .map(|k| serde_json::json!({"key_id": k.key_id, "active": k.active, "secrets": k.secrets}))
                .collect();
            writeln!(out, "{}", serde_json::json!({ "keys": keys }))?;
        }
    }
    Ok(())
}

/// Generates a new master key, persists it before the database starts
/// using it (beside the key file as `<file>.new`, renamed over it after the
/// commit; or at `new_key_file` when the key comes from the environment),
/// and re-wraps the keyring under it.
fn replace_master_key(
    opened: &OpenedVault,
    new_key_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let new_key = MasterKey::generate()?;
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
            Some((pending, path))
        }
    };
    opened.vault.rekey(new_key)?;
    if let Some((pending, path)) = pending {
        std::fs::rename(&pending, path)?;
    }
    tracing::info!("master key replaced");
    Ok(())
}

/// Adds a new data key, re-encrypts every credential under it, and
/// retires the old data keys.
fn reencrypt(vault: &Vault, batch_size: usize) -> anyhow::Result<()> {
    let before: Vec<u32> = vault.keys()?.iter().map(|k| k.key_id).collect();
    let new = vault.rotate()?;
    let report = vault.rewrap(batch_size)?;
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
    Ok(())
}
