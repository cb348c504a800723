//! Shared application state and start-up of the stores.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use byok_vault::{AsyncVault, MasterKey, OpenError, Vault, VaultConfig};

use crate::config::Settings;

/// State shared by every request handler.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The credential vault.
    pub vault: AsyncVault,
}

impl AppState {
    /// Creates the data directory and opens the stores.
    ///
    /// # Errors
    /// See [`open_vault`].
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        let vault = open_vault(settings)?.vault;
        Ok(Self {
            vault: AsyncVault::new(vault, 2).context("cannot start vault worker threads")?,
        })
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))
}

/// Where the master key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `BYOK_MASTER_KEY` / `--master-key`.
    Env,
    /// A key file (given, or `<data-dir>/master.key`).
    File(PathBuf),
}

/// An opened vault and where its master key came from.
#[derive(Debug)]
pub struct OpenedVault {
    /// The vault.
    pub vault: Vault,
    /// The master key's source.
    pub source: KeySource,
}

/// The file a master-key rotation writes before renaming it over `path`.
pub fn pending_key_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// Opens the vault in `settings.data_dir`, with the master key from
/// `BYOK_MASTER_KEY`, `BYOK_MASTER_KEY_FILE`, or `<data-dir>/master.key`
/// (generated with mode 0600 on first start).
///
/// If the key file does not open the vault but a `<file>.new` left by an
/// interrupted `vault rotate-master-key` does, the rotation is completed by
/// renaming it into place.
///
/// # Errors
/// When the master key is malformed, its file is group/world readable, or it
/// is not the key this vault was created with (the canary check), or storage
/// fails.
pub fn open_vault(settings: &Settings) -> anyhow::Result<OpenedVault> {
    create_private_dir(&settings.data_dir)?;
    let db = settings.data_dir.join("vault.db");
    let wrong_key = || {
        anyhow::anyhow!(
            "the master key does not match the vault in {}: refusing to start (was BYOK_MASTER_KEY or the key file changed?)",
            db.display()
        )
    };
    let open = |key: MasterKey| Vault::open_sqlite(&db, key, VaultConfig::default());
    if let Some(encoded) = &settings.master_key {
        let key = MasterKey::from_base64(encoded).context("BYOK_MASTER_KEY is invalid")?;
        return match open(key) {
            Ok(vault) => Ok(OpenedVault {
                vault,
                source: KeySource::Env,
            }),
            Err(OpenError::WrongMasterKey) => Err(wrong_key()),
            Err(e) => Err(e).with_context(|| format!("cannot open the vault at {}", db.display())),
        };
    }
    let path = match &settings.master_key_file {
        Some(p) => {
            let key = MasterKey::from_file(p).context("cannot load the master key file")?;
            drop(key);
            p.clone()
        }
        None => {
            let path = settings.data_dir.join("master.key");
            let (_, created) = MasterKey::load_or_generate(&path)
                .context("cannot load or create the master key")?;
            if created {
                tracing::warn!(
                    path = %path.display(),
                    "generated a new master key; back it up apart from the database: without it the stored credentials are lost"
                );
            }
            path
        }
    };
    let key = MasterKey::from_file(&path).context("cannot load the master key file")?;
    match open(key) {
        Ok(vault) => Ok(OpenedVault {
            vault,
            source: KeySource::File(path),
        }),
        Err(OpenError::WrongMasterKey) => {
            let pending = pending_key_path(&path);
            if !pending.exists() {
                bail!(wrong_key());
            }
            let key =
                MasterKey::from_file(&pending).context("cannot load the pending master key")?;
            match open(key) {
                Ok(vault) => {
                    fs::rename(&pending, &path)
                        .with_context(|| format!("cannot move {} into place", pending.display()))?;
                    tracing::warn!(path = %path.display(), "completed an interrupted master key rotation");
                    Ok(OpenedVault {
                        vault,
                        source: KeySource::File(path),
                    })
                }
                Err(OpenError::WrongMasterKey) => Err(wrong_key()),
                Err(e) => {
                    Err(e).with_context(|| format!("cannot open the vault at {}", db.display()))
                }
            }
        }
        Err(e) => Err(e).with_context(|| format!("cannot open the vault at {}", db.display())),
    }
}
