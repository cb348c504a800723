//! Opening the vault at start-up: the master key's source, the data
//! directory, and the completion of an interrupted key rotation.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use byok_vault::{MasterKey, OpenError, PostgresSecretStore, SqliteStore, Vault, VaultConfig};
use secrecy::{ExposeSecret as _, SecretString};

use crate::config::Settings;

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

/// Creates `dir` (mode 0700) if missing.
pub(crate) fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
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
    let db = VaultDb::of(settings);
    if let Some(encoded) = &settings.master_key {
        let key = MasterKey::from_base64(encoded.expose_secret())
            .context("BYOK_MASTER_KEY is invalid")?;
        let vault = db.open(key)?.ok_or_else(|| db.wrong_key())?;
        return Ok(OpenedVault {
            vault,
            source: KeySource::Env,
        });
    }
    let path = match &settings.master_key_file {
        Some(p) => p.clone(),
        None => default_key_file(&settings.data_dir)?,
    };
    let key = MasterKey::from_file(&path).context("cannot load the master key file")?;
    let vault = match db.open(key)? {
        Some(vault) => vault,
        None => db.finish_rotation(&path)?,
    };
    Ok(OpenedVault {
        vault,
        source: KeySource::File(path),
    })
}

/// Runs the vault store's pending migrations (the SQLite file in the data
/// directory, or PostgreSQL with `BYOK_DATABASE_URL`) without a master key:
/// the keyring is left for [`open_vault`] to initialise with the real key.
///
/// # Errors
/// When the store cannot be opened or migrated.
pub(crate) fn migrate_store(settings: &Settings) -> anyhow::Result<()> {
    let db = VaultDb::of(settings);
    let migrated = match &db.url {
        Some(url) => PostgresSecretStore::open(url.expose_secret()).map(drop),
        None => SqliteStore::open(&db.path).map(drop),
    };
    migrated.with_context(|| format!("cannot migrate the vault in {}", db.place()))
}

/// `<data-dir>/master.key`, generated (mode 0600) when missing.
fn default_key_file(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let path = data_dir.join("master.key");
    let (_, created) =
        MasterKey::load_or_generate(&path).context("cannot load or create the master key")?;
    if created {
        tracing::warn!(
            path = %path.display(),
            "generated a new master key; back it up apart from the database: without it the stored credentials are lost"
        );
    }
    Ok(path)
}

/// How long the vault's read cache trusts an entry when other instances
/// write to the same database: the change feed empties it at once
/// (`app::changes`); this bounds a missed notification.
pub(crate) const VAULT_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// The vault's database: the SQLite file in the data directory, or with
/// `BYOK_DATABASE_URL` PostgreSQL (its migrations run when it opens).
struct VaultDb {
    path: PathBuf,
    url: Option<SecretString>,
}

impl VaultDb {
    fn of(settings: &Settings) -> Self {
        Self {
            path: settings.data_dir.join("vault.db"),
            url: settings.database_url.clone(),
        }
    }

    /// Where the vault is, for messages (never the URL: it may hold a
    /// password).
    fn place(&self) -> String {
        match &self.url {
            Some(_) => "the PostgreSQL database of BYOK_DATABASE_URL".to_owned(),
            None => self.path.display().to_string(),
        }
    }

    /// The vault, or `None` when `key` is not its master key.
    fn open(&self, key: MasterKey) -> anyhow::Result<Option<Vault>> {
        let opened = match &self.url {
            Some(url) => PostgresSecretStore::open(url.expose_secret())
                .map_err(OpenError::from)
                .and_then(|store| {
                    let config = VaultConfig::default().cache_ttl(Some(VAULT_CACHE_TTL));
                    Vault::open(store, key, config)
                }),
            None => Vault::open_sqlite(&self.path, key, VaultConfig::default()),
        };
        match opened {
            Ok(vault) => Ok(Some(vault)),
            Err(OpenError::WrongMasterKey) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot open the vault in {}", self.place())),
        }
    }

    fn wrong_key(&self) -> anyhow::Error {
        anyhow::anyhow!(
            "the master key does not match the vault in {}: refusing to start (was BYOK_MASTER_KEY or the key file changed?)",
            self.place()
        )
    }

    /// The key file at `path` does not open the vault: completes an
    /// interrupted rotation when `<path>.new` does.
    fn finish_rotation(&self, path: &Path) -> anyhow::Result<Vault> {
        let pending = pending_key_path(path);
        if !pending.exists() {
            bail!(self.wrong_key());
        }
        let key = MasterKey::from_file(&pending).context("cannot load the pending master key")?;
        let vault = self.open(key)?.ok_or_else(|| self.wrong_key())?;
        fs::rename(&pending, path)
            .with_context(|| format!("cannot move {} into place", pending.display()))?;
        tracing::warn!(path = %path.display(), "completed an interrupted master key rotation");
        Ok(vault)
    }
}
