//! The vault: encryption, keyring, cache, over any [`SecretStore`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chacha20poly1305::XChaCha20Poly1305;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use zeroize::Zeroizing;

use crate::blob::{self, Binding};
use crate::cache::{self, Cache};
use crate::error::{DecryptError, OpenError, StoreError, VaultError};
use crate::master::MasterKey;
use crate::sqlite::SqliteStore;
use crate::store::{Rewrapped, SecretRecord, SecretStore, StoredKey, StoredKeyring};

/// Largest secret the vault stores, in bytes.
pub const MAX_SECRET_LEN: usize = 64 * 1024;
/// Largest owner or name, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Largest serialised metadata, in bytes.
pub const MAX_METADATA_LEN: usize = 16 * 1024;
/// Secrets (or hint sources) shorter than this many characters get no hint.
pub const MIN_HINT_SOURCE_CHARS: usize = 16;

/// Settings for [`Vault`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VaultConfig {
    /// How many records the read cache holds (`0` disables it). Default 10 000.
    pub cache_capacity: usize,
    /// How long a cached record is trusted. `None` (the default) is right
    /// when this process is the only writer; set it when other processes or
    /// instances write to the same store, since their writes do not reach this
    /// cache.
    pub cache_ttl: Option<Duration>,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            cache_capacity: 10_000,
            cache_ttl: None,
        }
    }
}

impl VaultConfig {
    /// Sets [`VaultConfig::cache_capacity`].
    #[must_use]
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Sets [`VaultConfig::cache_ttl`].
    #[must_use]
    pub fn cache_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.cache_ttl = ttl;
        self
    }
}

/// Where the `last4` hint of a secret comes from.
#[derive(Debug, Default)]
#[non_exhaustive]
pub enum Hint {
    /// The last 4 characters of the secret itself (if it is UTF-8 and at
    /// least [`MIN_HINT_SOURCE_CHARS`] long).
    #[default]
    FromSecret,
    /// The last 4 characters of another string, for secrets that are a
    /// structure (e.g. a JSON document whose `apiKey` field is the part a user
    /// recognises). Same length rule.
    From(SecretString),
    /// No hint.
    None,
}

/// Options for [`Vault::put`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct PutOptions {
    /// Non-secret metadata stored in clear beside the ciphertext (and
    /// authenticated by it). Never put secret material here.
    pub metadata: Option<serde_json::Value>,
    /// Where the hint comes from.
    pub hint: Hint,
}

impl PutOptions {
    /// Default options: no metadata, hint from the secret.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the metadata.
    #[must_use]
    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Sets the hint source.
    #[must_use]
    pub fn hint(mut self, hint: Hint) -> Self {
        self.hint = hint;
        self
    }
}

/// The public, non-secret view of a stored secret. Reading it never decrypts.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SecretInfo {
    /// The owner.
    pub owner: String,
    /// The name.
    pub name: String,
    /// The last 4 characters, computed once at write time (`None` for short
    /// or binary secrets).
    pub last4: Option<String>,
    /// The metadata given at write time.
    pub metadata: Option<serde_json::Value>,
    /// The key id the secret is currently encrypted under.
    pub key_id: u32,
    /// When the secret was first stored.
    pub created_at: SystemTime,
    /// When the secret was last written.
    pub updated_at: SystemTime,
}

/// One data key's state, from [`Vault::keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyStatus {
    /// The key id.
    pub key_id: u32,
    /// Whether new writes use it.
    pub active: bool,
    /// How many secrets are encrypted under it.
    pub secrets: u64,
    /// When it was created.
    pub created_at: SystemTime,
}

/// The outcome of [`Vault::rewrap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RewrapReport {
    /// Secrets re-encrypted under the active key.
    pub rewrapped: u64,
    /// Secrets left as they were because they could not be decrypted; they
    /// keep their key from being retired until deleted or overwritten.
    pub failed: u64,
    /// Whether every secret was visited (`false` when stopped by
    /// `max_batches`; call again to resume).
    pub complete: bool,
}

struct Keys {
    active: u32,
    ciphers: HashMap<u32, XChaCha20Poly1305>,
    /// The stored canary these keys were unwrapped with (compare-and-set
    /// token for keyring changes).
    canary: Vec<u8>,
}

struct Inner {
    store: Box<dyn SecretStore>,
    master: Mutex<MasterKey>,
    keys: RwLock<Keys>,
    cache: Cache,
}

/// An encrypted secret store.
///
/// Cheap to clone (an `Arc`); safe to share between threads. All methods are
/// blocking (SQLite I/O on a miss or a write, an `fsync` on every write); in an
/// async server use [`crate::AsyncVault`], which runs them on dedicated
/// threads and serves cache hits inline.
///
/// ```
/// use byok_vault::{MasterKey, PutOptions, Vault, VaultConfig};
/// use secrecy::{ExposeSecret, SecretString};
///
/// let dir = tempfile::tempdir()?;
/// let vault = Vault::open_sqlite(dir.path().join("vault.db"), MasterKey::generate()?, VaultConfig::default())?;
///
/// let key = SecretString::from("sk-proj-0123456789abcdefWXYZ");
/// let info = vault.put("user-1", "openai", &key, PutOptions::new())?;
/// assert_eq!(info.last4.as_deref(), Some("WXYZ"));
///
/// let back = vault.get("user-1", "openai")?.expect("stored");
/// assert_eq!(back.expose_secret(), "sk-proj-0123456789abcdefWXYZ");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn to_system_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn random_key() -> Result<Zeroizing<[u8; 32]>, ()> {
    let mut k = Zeroizing::new([0u8; 32]);
    blob::random_bytes(k.as_mut_slice())?;
    Ok(k)
}

fn random_id() -> Result<String, VaultError> {
    use std::fmt::Write as _;
    let mut bytes = [0u8; 16];
    blob::random_bytes(&mut bytes).map_err(|()| VaultError::Rng)?;
    let mut s = String::with_capacity(32);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    Ok(s)
}

fn check_name(field: &'static str, value: &str) -> Result<(), VaultError> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.len() > MAX_NAME_LEN {
        "must be at most 256 bytes"
    } else if value.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(VaultError::InvalidName { field, reason })
}

/// The last 4 characters of `source` when it has at least
/// [`MIN_HINT_SOURCE_CHARS`] characters.
fn last4(source: &str) -> Option<String> {
    let count = source.chars().count();
    if count < MIN_HINT_SOURCE_CHARS {
        return None;
    }
    Some(source.chars().skip(count - 4).collect())
}

fn unwrap_keyring(master: &MasterKey, kr: &StoredKeyring) -> Result<Keys, OpenError> {
    let m = master.cipher();
    match blob::check_canary(&m, &kr.canary) {
        Ok(true) => {}
        Ok(false) => return Err(OpenError::WrongMasterKey),
        Err(e) => return Err(OpenError::CorruptKeyring(format!("canary: {e}"))),
    }
    let mut ciphers = HashMap::with_capacity(kr.keys.len());
    let mut active = None;
    for k in &kr.keys {
        let dek = blob::unwrap_key(&m, k.key_id, &k.wrapped)
            .map_err(|e| OpenError::CorruptKeyring(format!("key {}: {e}", k.key_id)))?;
        ciphers.insert(k.key_id, blob::cipher(&dek));
        if k.active {
            if active.is_some() {
                return Err(OpenError::CorruptKeyring("more than one active key".into()));
            }
            active = Some(k.key_id);
        }
    }
    let active = active.ok_or_else(|| OpenError::CorruptKeyring("no active key".into()))?;
    Ok(Keys {
        active,
        ciphers,
        canary: kr.canary.clone(),
    })
}

impl Vault {
    /// Opens a vault over `store`, initialising its keyring (a first data key
    /// and the canary) if the store is new.
    ///
    /// # Errors
    /// [`OpenError::WrongMasterKey`] when `master` is not the key the vault
    /// was initialised with; [`OpenError::CorruptKeyring`]; store errors.
    pub fn open(
        store: impl SecretStore,
        master: MasterKey,
        config: VaultConfig,
    ) -> Result<Self, OpenError> {
        let stored = match store.load_keyring()? {
            Some(kr) => kr,
            None => {
                let m = master.cipher();
                let dek = random_key().map_err(|()| OpenError::Rng)?;
                let init = StoredKeyring {
                    canary: blob::seal_canary(&m).map_err(|()| OpenError::Rng)?,
                    keys: vec![StoredKey {
                        key_id: 1,
                        wrapped: blob::wrap_key(&m, 1, &dek).map_err(|()| OpenError::Rng)?,
                        active: true,
                        created_at_ms: now_ms(),
                    }],
                };
                store.init_keyring(&init)?
            }
        };
        let keys = unwrap_keyring(&master, &stored)?;
        Ok(Self {
            inner: Arc::new(Inner {
                store: Box::new(store),
                master: Mutex::new(master),
                keys: RwLock::new(keys),
                cache: Cache::new(config.cache_capacity, config.cache_ttl),
            }),
        })
    }

    /// Opens (creating if needed) a vault in the SQLite file at `path`.
    ///
    /// # Errors
    /// As [`Vault::open`] and [`SqliteStore::open`].
    pub fn open_sqlite(
        path: impl AsRef<Path>,
        master: MasterKey,
        config: VaultConfig,
    ) -> Result<Self, OpenError> {
        Self::open(SqliteStore::open(path)?, master, config)
    }

    /// Re-reads the keyring from the store (another process may have rotated).
    fn reload_keys(&self) -> Result<(), VaultError> {
        let stored = self
            .inner
            .store
            .load_keyring()?
            .ok_or_else(|| StoreError::Corrupt("keyring disappeared".into()))?;
        let master = self
            .inner
            .master
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let keys = unwrap_keyring(&master, &stored).map_err(|e| match e {
            OpenError::Store(s) => VaultError::Store(s),
            OpenError::WrongMasterKey => VaultError::MasterKeyChanged,
            other => VaultError::Store(StoreError::Corrupt(other.to_string())),
        })?;
        drop(master);
        *self
            .inner
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner) = keys;
        Ok(())
    }

    /// Stores `secret` as `owner`/`name`, replacing any earlier one. Returns
    /// after the write is durable.
    ///
    /// # Errors
    /// [`VaultError::InvalidName`], [`VaultError::InvalidSecret`] (empty or
    /// over [`MAX_SECRET_LEN`]), [`VaultError::InvalidMetadata`], store errors.
    /// On any error nothing is stored and an earlier secret is kept.
    pub fn put(
        &self,
        owner: &str,
        name: &str,
        secret: &SecretString,
        options: PutOptions,
    ) -> Result<SecretInfo, VaultError> {
        self.put_raw(owner, name, secret.expose_secret().as_bytes(), options)
    }

    /// Like [`Vault::put`] for arbitrary bytes.
    ///
    /// # Errors
    /// As [`Vault::put`].
    pub fn put_bytes(
        &self,
        owner: &str,
        name: &str,
        secret: &SecretSlice<u8>,
        options: PutOptions,
    ) -> Result<SecretInfo, VaultError> {
        self.put_raw(owner, name, secret.expose_secret(), options)
    }

    fn put_raw(
        &self,
        owner: &str,
        name: &str,
        plaintext: &[u8],
        options: PutOptions,
    ) -> Result<SecretInfo, VaultError> {
        check_name("owner", owner)?;
        check_name("name", name)?;
        if plaintext.is_empty() {
            return Err(VaultError::InvalidSecret("must not be empty"));
        }
        if plaintext.len() > MAX_SECRET_LEN {
            return Err(VaultError::InvalidSecret("must be at most 64 KiB"));
        }
        let metadata = match &options.metadata {
            None => None,
            Some(v) => {
                let text = serde_json::to_string(v)
                    .map_err(|_| VaultError::InvalidMetadata("cannot be serialised"))?;
                if text.len() > MAX_METADATA_LEN {
                    return Err(VaultError::InvalidMetadata("must be at most 16 KiB"));
                }
                Some(text)
            }
        };
        let hint = match &options.hint {
            Hint::FromSecret => std::str::from_utf8(plaintext).ok().and_then(last4),
            Hint::From(s) => last4(s.expose_secret()),
            Hint::None => None,
        };
        let secret_id = random_id()?;
        let now = now_ms();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (key_id, blob) = {
                let keys = self
                    .inner
                    .keys
                    .read()
                    .unwrap_or_else(PoisonError::into_inner);
                let cipher = keys
                    .ciphers
                    .get(&keys.active)
                    .ok_or(DecryptError::UnknownKeyId(keys.active))?;
                let binding = Binding {
                    owner,
                    name,
                    secret_id: &secret_id,
                    metadata: metadata.as_deref(),
                    hint: hint.as_deref(),
                };
                let blob = blob::seal_secret(cipher, keys.active, &binding, plaintext)
                    .map_err(|()| VaultError::Rng)?;
                (keys.active, blob)
            };
            let record = SecretRecord {
                owner: owner.to_owned(),
                name: name.to_owned(),
                secret_id: secret_id.clone(),
                key_id,
                blob,
                metadata: metadata.clone(),
                hint: hint.clone(),
                created_at_ms: now,
                updated_at_ms: now,
            };
            match self.inner.store.put(&record) {
                Ok(created_at_ms) => {
                    self.inner.cache.invalidate(&cache::key(owner, name));
                    return Ok(SecretInfo {
                        owner: record.owner,
                        name: record.name,
                        last4: record.hint,
                        metadata: options.metadata,
                        key_id,
                        created_at: to_system_time(created_at_ms),
                        updated_at: to_system_time(now),
                    });
                }
                // Our active key was retired by another process: reload, retry once.
                Err(StoreError::MissingKey(_)) if attempt < 2 => self.reload_keys()?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn record(&self, owner: &str, name: &str) -> Result<Option<Arc<SecretRecord>>, VaultError> {
        let key = cache::key(owner, name);
        if let Some(rec) = self.inner.cache.get(&key) {
            return Ok(Some(rec));
        }
        let generation = self.inner.cache.generation();
        let Some(rec) = self.inner.store.get(owner, name)? else {
            return Ok(None);
        };
        let rec = Arc::new(rec);
        self.inner
            .cache
            .insert_if_current(key, Arc::clone(&rec), generation);
        Ok(Some(rec))
    }

    /// Decrypts a record with the key named in its blob (and only that key).
    fn decrypt(&self, rec: &SecretRecord) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let header = blob::parse_header(&rec.blob)?;
        let binding = Binding {
            owner: &rec.owner,
            name: &rec.name,
            secret_id: &rec.secret_id,
            metadata: rec.metadata.as_deref(),
            hint: rec.hint.as_deref(),
        };
        for attempt in 0..2 {
            {
                let keys = self
                    .inner
                    .keys
                    .read()
                    .unwrap_or_else(PoisonError::into_inner);
                if let Some(cipher) = keys.ciphers.get(&header.key_id) {
                    return Ok(blob::open_secret(cipher, &binding, &rec.blob)?);
                }
            }
            if attempt == 0 {
                // Possibly a key added by another process since we loaded.
                self.reload_keys()?;
            }
        }
        Err(DecryptError::UnknownKeyId(header.key_id).into())
    }

    /// Returns the secret stored as `owner`/`name` as bytes, or `None`.
    ///
    /// A cache hit does not touch the store; it still authenticates and
    /// decrypts.
    ///
    /// # Errors
    /// [`VaultError::Decrypt`] when the stored blob is tampered with, bound to
    /// another record, of an unknown version or key id; store errors.
    pub fn get_bytes(
        &self,
        owner: &str,
        name: &str,
    ) -> Result<Option<SecretSlice<u8>>, VaultError> {
        let Some(rec) = self.record(owner, name)? else {
            return Ok(None);
        };
        let plain = self.decrypt(&rec)?;
        // Copy into an exactly-sized box; the buffer is zeroized on drop.
        let boxed: Box<[u8]> = plain.as_slice().into();
        Ok(Some(SecretSlice::from(boxed)))
    }

    /// Returns the secret stored as `owner`/`name` as a string, or `None`.
    ///
    /// # Errors
    /// As [`Vault::get_bytes`], plus [`VaultError::NotUtf8`].
    pub fn get(&self, owner: &str, name: &str) -> Result<Option<SecretString>, VaultError> {
        let Some(rec) = self.record(owner, name)? else {
            return Ok(None);
        };
        let plain = self.decrypt(&rec)?;
        let text = std::str::from_utf8(&plain).map_err(|_| VaultError::NotUtf8)?;
        Ok(Some(SecretString::from(text)))
    }

    /// Like [`Vault::get`], but only from the cache: `None` on a miss. Never
    /// blocks on I/O (except a keyring reload when a blob names a key this
    /// process has not seen); used by [`crate::AsyncVault`] for its inline fast
    /// path.
    pub(crate) fn get_cached(
        &self,
        owner: &str,
        name: &str,
    ) -> Option<Result<SecretString, VaultError>> {
        let rec = self.inner.cache.get(&cache::key(owner, name))?;
        Some(self.decrypt(&rec).and_then(|plain| {
            let text = std::str::from_utf8(&plain).map_err(|_| VaultError::NotUtf8)?;
            Ok(SecretString::from(text))
        }))
    }

    fn info_of(rec: &SecretRecord) -> SecretInfo {
        SecretInfo {
            owner: rec.owner.clone(),
            name: rec.name.clone(),
            last4: rec.hint.clone(),
            metadata: rec
                .metadata
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok()),
            key_id: rec.key_id,
            created_at: to_system_time(rec.created_at_ms),
            updated_at: to_system_time(rec.updated_at_ms),
        }
    }

    /// The public view of one secret, without decrypting it.
    ///
    /// # Errors
    /// Store errors.
    pub fn info(&self, owner: &str, name: &str) -> Result<Option<SecretInfo>, VaultError> {
        Ok(self.record(owner, name)?.map(|r| Self::info_of(&r)))
    }

    /// The public views of all of an owner's secrets, ordered by name, without
    /// decrypting any.
    ///
    /// # Errors
    /// Store errors.
    pub fn list(&self, owner: &str) -> Result<Vec<SecretInfo>, VaultError> {
        Ok(self
            .inner
            .store
            .list(owner)?
            .iter()
            .map(Self::info_of)
            .collect())
    }

    /// Deletes `owner`/`name`; returns whether it existed.
    ///
    /// # Errors
    /// Store errors.
    pub fn delete(&self, owner: &str, name: &str) -> Result<bool, VaultError> {
        let existed = self.inner.store.delete(owner, name)?;
        self.inner.cache.invalidate(&cache::key(owner, name));
        Ok(existed)
    }

    /// Adds a new data key and makes it the one new writes use. Existing
    /// secrets stay readable under their old key until [`Vault::rewrap`]
    /// re-encrypts them. Returns the new key id.
    ///
    /// # Errors
    /// Store errors; [`StoreError::Conflict`] if other processes keep rotating
    /// at the same moment.
    pub fn rotate(&self) -> Result<u32, VaultError> {
        for _ in 0..5 {
            self.reload_keys()?;
            let (next, canary) = {
                let keys = self
                    .inner
                    .keys
                    .read()
                    .unwrap_or_else(PoisonError::into_inner);
                let max = keys.ciphers.keys().copied().max().unwrap_or(0);
                let next = max
                    .checked_add(1)
                    .ok_or_else(|| StoreError::Corrupt("key ids exhausted".into()))?;
                (next, keys.canary.clone())
            };
            let dek = random_key().map_err(|()| VaultError::Rng)?;
            let wrapped = {
                let master = self
                    .inner
                    .master
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                blob::wrap_key(&master.cipher(), next, &dek).map_err(|()| VaultError::Rng)?
            };
            let key = StoredKey {
                key_id: next,
                wrapped,
                active: true,
                created_at_ms: now_ms(),
            };
            // The canary makes the store refuse a key wrapped under a master key
            // that another process replaced since the reload above.
            match self.inner.store.add_active_key(&key, &canary) {
                Ok(()) => {
                    let mut keys = self
                        .inner
                        .keys
                        .write()
                        .unwrap_or_else(PoisonError::into_inner);
                    keys.ciphers.insert(next, blob::cipher(&dek));
                    keys.active = next;
                    return Ok(next);
                }
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// Re-encrypts every secret not under the active key, `batch_size` rows
    /// per transaction. Safe to interrupt at any point (each batch commits
    /// whole; a row is never half-rotated) and to run again: it resumes with
    /// whatever is left. Never logs or returns plaintext.
    ///
    /// # Errors
    /// Store errors (the batch in progress is rolled back; earlier batches
    /// stay committed).
    pub fn rewrap(&self, batch_size: usize) -> Result<RewrapReport, VaultError> {
        self.rewrap_batches(batch_size, None)
    }

    /// Like [`Vault::rewrap`], stopping after `max_batches` transactions when
    /// given (then `complete` may be `false`).
    ///
    /// # Errors
    /// As [`Vault::rewrap`].
    pub fn rewrap_batches(
        &self,
        batch_size: usize,
        max_batches: Option<usize>,
    ) -> Result<RewrapReport, VaultError> {
        self.reload_keys()?;
        let mut report = RewrapReport::default();
        let mut cursor = 0i64;
        let mut batches = 0usize;
        loop {
            if max_batches.is_some_and(|m| batches >= m) {
                return Ok(report);
            }
            batches += 1;
            let keys = self
                .inner
                .keys
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            let active = keys.active;
            let Some(target) = keys.ciphers.get(&active) else {
                return Err(DecryptError::UnknownKeyId(active).into());
            };
            let step = self
                .inner
                .store
                .rewrap_step(active, cursor, batch_size, &mut |rec| {
                    let Ok(header) = blob::parse_header(&rec.blob) else {
                        return Rewrapped::Skip;
                    };
                    let binding = Binding {
                        owner: &rec.owner,
                        name: &rec.name,
                        secret_id: &rec.secret_id,
                        metadata: rec.metadata.as_deref(),
                        hint: rec.hint.as_deref(),
                    };
                    let plain = match keys.ciphers.get(&header.key_id) {
                        Some(c) => blob::open_secret(c, &binding, &rec.blob),
                        None => Err(DecryptError::UnknownKeyId(header.key_id)),
                    };
                    let Ok(plain) = plain else {
                        return Rewrapped::Skip;
                    };
                    match blob::seal_secret(target, active, &binding, &plain) {
                        Ok(blob) => Rewrapped::Replace {
                            key_id: active,
                            blob,
                        },
                        Err(()) => Rewrapped::Skip,
                    }
                });
            drop(keys);
            let step = match step {
                Ok(s) => s,
                // Our active key was superseded concurrently: start over with the new one.
                Err(StoreError::MissingKey(_)) => {
                    self.reload_keys()?;
                    cursor = 0;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            // Every visited row is either replaced or skipped as undecryptable.
            report.failed += u64::try_from(step.visited.saturating_sub(step.replaced)).unwrap_or(0);
            report.rewrapped += u64::try_from(step.replaced).unwrap_or(0);
            if step.replaced > 0 {
                self.inner.cache.clear();
            }
            if step.visited == 0 {
                report.complete = true;
                return Ok(report);
            }
            cursor = step.cursor;
        }
    }

    /// Removes data key `key_id` from the keyring. Refused while it is the
    /// active key or any secret is still encrypted under it (checked in the
    /// same transaction as the removal).
    ///
    /// # Errors
    /// [`StoreError::KeyActive`], [`StoreError::KeyInUse`],
    /// [`StoreError::MissingKey`] (as [`VaultError::Store`]).
    pub fn retire(&self, key_id: u32) -> Result<(), VaultError> {
        self.inner.store.retire_key(key_id)?;
        self.inner
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .ciphers
            .remove(&key_id);
        self.inner.cache.clear();
        Ok(())
    }

    /// Replaces the master key: re-wraps every data key and the canary under
    /// `new_master` in one transaction. Secrets are not touched. Persist the
    /// new master key (e.g. [`MasterKey::write_new_file`]) *before* calling
    /// this, or a crash in between locks you out.
    ///
    /// Safe while other processes use the same store: the change is a
    /// compare-and-set on the canary, retried when another process rotates at
    /// the same moment. Those processes keep reading and writing with the data
    /// keys they hold; what needs the keyring fails there with
    /// [`VaultError::MasterKeyChanged`] until they reopen with `new_master`.
    ///
    /// # Errors
    /// Store errors; [`VaultError::MasterKeyChanged`] if another process
    /// changed the master key first; [`StoreError::Conflict`] if other
    /// processes keep rotating at the same moment; [`VaultError::Rng`].
    pub fn rekey(&self, new_master: MasterKey) -> Result<(), VaultError> {
        let mut master = self
            .inner
            .master
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for _ in 0..5 {
            let stored = self
                .inner
                .store
                .load_keyring()?
                .ok_or_else(|| StoreError::Corrupt("keyring disappeared".into()))?;
            let (canary, keys) = Self::rewrapped_keyring(&master, &new_master, &stored)?;
            match self
                .inner
                .store
                .replace_wrapping(&stored.canary, &canary, &keys)
            {
                Ok(()) => {
                    *master = new_master;
                    self.inner
                        .keys
                        .write()
                        .unwrap_or_else(PoisonError::into_inner)
                        .canary = canary;
                    return Ok(());
                }
                // A rotation (or a rekey) landed in between: read again.
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// The canary and every data key of `stored`, wrapped under `new`.
    fn rewrapped_keyring(
        old: &MasterKey,
        new: &MasterKey,
        stored: &StoredKeyring,
    ) -> Result<(Vec<u8>, Vec<StoredKey>), VaultError> {
        let old = old.cipher();
        let new = new.cipher();
        match blob::check_canary(&old, &stored.canary) {
            Ok(true) => {}
            Ok(false) => return Err(VaultError::MasterKeyChanged),
            Err(e) => return Err(StoreError::Corrupt(format!("canary: {e}")).into()),
        }
        let mut keys = Vec::with_capacity(stored.keys.len());
        for k in &stored.keys {
            let dek = blob::unwrap_key(&old, k.key_id, &k.wrapped)
                .map_err(|e| StoreError::Corrupt(format!("key {}: {e}", k.key_id)))?;
            keys.push(StoredKey {
                wrapped: blob::wrap_key(&new, k.key_id, &dek).map_err(|()| VaultError::Rng)?,
                ..k.clone()
            });
        }
        let canary = blob::seal_canary(&new).map_err(|()| VaultError::Rng)?;
        Ok((canary, keys))
    }

    /// Every data key with the number of secrets under it.
    ///
    /// # Errors
    /// Store errors.
    pub fn keys(&self) -> Result<Vec<KeyStatus>, VaultError> {
        let stored = self
            .inner
            .store
            .load_keyring()?
            .ok_or_else(|| StoreError::Corrupt("keyring disappeared".into()))?;
        let counts: HashMap<u32, u64> = self.inner.store.count_by_key()?.into_iter().collect();
        Ok(stored
            .keys
            .iter()
            .map(|k| KeyStatus {
                key_id: k.key_id,
                active: k.active,
                secrets: counts.get(&k.key_id).copied().unwrap_or(0),
                created_at: to_system_time(k.created_at_ms),
            })
            .collect())
    }

    /// Number of records in the read cache (for metrics).
    pub fn cached_len(&self) -> usize {
        self.inner.cache.len()
    }

    /// Drops every cached record.
    pub fn clear_cache(&self) {
        self.inner.cache.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_rule() {
        assert_eq!(last4("0123456789abcdef").as_deref(), Some("cdef"));
        assert_eq!(last4("0123456789abcde"), None);
        assert_eq!(last4("ééééééééééééééé€€€€").as_deref(), Some("€€€€"));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("owner", "").is_err());
        assert!(check_name("owner", "a\nb").is_err());
        assert!(check_name("owner", "a\0b").is_err());
        assert!(check_name("owner", &"x".repeat(257)).is_err());
        assert!(check_name("owner", "user-1 ✓").is_ok());
    }
}
