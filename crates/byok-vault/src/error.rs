//! Error types, one per kind of operation.
//!
//! No error ever carries plaintext, ciphertext or key material: variants hold
//! only sizes, version numbers, key ids and the backend's own message (SQLite
//! never includes bound parameter values in its messages).

use std::error::Error as StdError;
use std::fmt;

/// Why a stored blob could not be decrypted.
///
/// All AEAD failures (wrong key, flipped bit, blob moved to another owner or
/// name, altered metadata or hint) collapse into [`DecryptError::DecryptionFailed`]:
/// telling them apart would help an attacker and is impossible anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The blob is shorter than the fixed header plus the authentication tag.
    #[error("stored blob is truncated ({len} bytes, at least {min} expected)")]
    Truncated {
        /// Length of the blob that was read.
        len: usize,
        /// Minimum length of a valid blob.
        min: usize,
    },
    /// The blob's format version byte is not one this build understands.
    #[error("stored blob has unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// The blob names a key id that is not in the keyring (never created here,
    /// or retired).
    #[error("stored blob names unknown key id {0}")]
    UnknownKeyId(u32),
    /// Authentication failed: the blob, its binding (owner, name, id, metadata,
    /// hint) or the key is not what was used to encrypt it.
    #[error("decryption failed: the stored secret is corrupt or bound to another record")]
    DecryptionFailed,
}

/// An error from a [`crate::SecretStore`] backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database stayed locked by other writers for longer than the
    /// configured busy timeout (after retries).
    #[error("storage stayed busy for longer than the busy timeout")]
    Busy,
    /// The row refers to a key id that the keyring no longer holds (it was
    /// retired concurrently); the caller reloads the keyring and retries.
    #[error("key id {0} is not in the stored keyring")]
    MissingKey(u32),
    /// A concurrent change won (e.g. another process added a key with the
    /// same id); reload and retry.
    #[error("a concurrent change to the keyring won; retry")]
    Conflict,
    /// A key cannot be retired while rows still use it.
    #[error("key id {key_id} is still used by {rows} stored secret(s)")]
    KeyInUse {
        /// The key that was asked to be retired.
        key_id: u32,
        /// How many rows still use it.
        rows: u64,
    },
    /// The active key cannot be retired.
    #[error("key id {0} is the active key and cannot be retired")]
    KeyActive(u32),
    /// [`crate::SecretStore::import`] was given a store that already holds
    /// a keyring, data keys or secrets; nothing was written.
    #[error(
        "the store is not empty (keyring: {keyring}, {keys} data key(s), {secrets} secret(s)); a copy goes into an empty store only"
    )]
    NotEmpty {
        /// Whether it holds a keyring (its canary).
        keyring: bool,
        /// How many data keys it holds.
        keys: u64,
        /// How many secrets it holds.
        secrets: u64,
    },
    /// The data in the store is not in the expected shape (schema from a newer
    /// version, missing keyring rows, invalid column values).
    #[error("storage is corrupt or from a newer version: {0}")]
    Corrupt(String),
    /// Any other backend error.
    #[error("storage backend error: {0}")]
    Backend(#[source] Box<dyn StdError + Send + Sync>),
}

/// Errors from loading, generating or parsing a [`crate::MasterKey`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MasterKeyError {
    /// The value is not base64 of exactly 32 bytes.
    #[error("master key must be base64 of exactly 32 bytes")]
    InvalidEncoding,
    /// The key file is readable or writable by group or others.
    #[error(
        "master key file {path} has mode {mode:o}; it must not be accessible by group or others (chmod 600)"
    )]
    InsecurePermissions {
        /// The file's path.
        path: String,
        /// The file's permission bits.
        mode: u32,
    },
    /// The path exists but is not a regular file.
    #[error("master key path {0} is not a regular file")]
    NotAFile(String),
    /// The environment variable holds non-Unicode data.
    #[error("environment variable {0} is not valid unicode")]
    NotUnicode(String),
    /// The OS random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng,
    /// Reading or writing the key file failed.
    #[error("master key file {path}: {source}")]
    Io {
        /// The file's path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Errors from [`crate::Vault::open`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The master key does not decrypt the canary written when this vault was
    /// initialised: it is not the key this vault was created with.
    #[error(
        "the master key does not match this vault (canary check failed); refusing to start with a wrong key"
    )]
    WrongMasterKey,
    /// The stored keyring or canary is malformed.
    #[error("vault keyring is corrupt: {0}")]
    CorruptKeyring(String),
    /// The storage backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The OS random number generator failed while creating the keyring.
    #[error("the operating system's random number generator failed")]
    Rng,
}

/// Errors from operations on an open [`crate::Vault`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// An owner or name is empty, too long, or holds control characters.
    #[error("invalid {field}: {reason}")]
    InvalidName {
        /// `owner` or `name`.
        field: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The secret is empty or larger than [`crate::MAX_SECRET_LEN`].
    #[error("invalid secret: {0}")]
    InvalidSecret(&'static str),
    /// The metadata could not be serialised or is too large.
    #[error("invalid metadata: {0}")]
    InvalidMetadata(&'static str),
    /// A stored secret could not be decrypted.
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    /// The decrypted secret is not UTF-8 (only from the string getters).
    #[error("stored secret is not valid UTF-8")]
    NotUtf8,
    /// The storage backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The OS random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng,
    /// The stored keyring is now wrapped under a different master key than
    /// this vault holds: another process ran [`crate::Vault::rekey`]. Secrets
    /// under data keys this vault already holds stay readable and writable;
    /// what needs the keyring (a data key it has not seen, rotation, rekey)
    /// fails with this until the vault is reopened with the new master key.
    #[error(
        "the vault's master key was changed by another process; reopen the vault with the new master key"
    )]
    MasterKeyChanged,
    /// The async API's job queue is full (over 1024 jobs waiting); the
    /// caller should shed load and retry later.
    #[error("the vault is overloaded; retry later")]
    Overloaded,
    /// The vault's background worker has shut down (async API only).
    #[error("the vault worker has shut down")]
    WorkerGone,
}

/// A backend error wrapped with context, used by store implementations.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) what: &'static str,
    pub(crate) source: Box<dyn StdError + Send + Sync>,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.source)
    }
}

impl StdError for Context {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.source.as_ref())
    }
}
