//! Encrypted-at-rest secret storage that an application can embed.
//!
//! `byok-vault` stores small secrets (API keys, credential documents) per
//! *owner* and *name*, encrypted with XChaCha20-Poly1305, in SQLite by default
//! (any [`SecretStore`] will do). It knows nothing about what the secrets are
//! for.
//!
//! # Design
//!
//! - **Envelope keys.** A [`MasterKey`] (32 bytes, kept outside the database)
//!   wraps a keyring of *data keys* stored in the database. Secrets are
//!   encrypted under the active data key. A canary sealed under the master key
//!   at initialisation makes [`Vault::open`] fail with
//!   [`OpenError::WrongMasterKey`] instead of failing request by request.
//! - **Blob format.** `version (1) | key id (u32 BE) | nonce (24) | ciphertext || tag (16)`,
//!   a fresh nonce from the OS RNG for every encryption. Unknown versions,
//!   unknown key ids, short or tampered blobs are typed [`DecryptError`]s;
//!   decryption uses only the key the blob names.
//! - **Binding.** The associated data names the owner, the name, a random
//!   per-write secret id, the metadata, the hint and the header, under a fixed
//!   domain prefix: a blob copied to another row, or a row whose metadata or
//!   hint was edited, fails to decrypt.
//! - **Rotation.** [`Vault::rotate`] adds a data key that new writes use;
//!   [`Vault::rewrap`] re-encrypts old rows in batches of one transaction each
//!   (interruptible, resumable); [`Vault::retire`] removes an old key, refusing
//!   while any row uses it. [`Vault::rekey`] replaces the master key itself by
//!   re-wrapping the keyring in one transaction.
//! - **Hints.** A `last4` hint is computed once at write time (secrets under 16
//!   characters get none), so listing never decrypts.
//! - **Secrets are types.** Plaintext goes in and out only as
//!   [`secrecy::SecretString`] / [`secrecy::SecretSlice`]; internal buffers are
//!   zeroized; `Debug` never prints key material.
//! - **Durability.** SQLite in WAL mode with `synchronous=FULL`, `BEGIN
//!   IMMEDIATE` for every write, a busy timeout plus retries so concurrent
//!   writers never see `SQLITE_BUSY`; a call returns after its commit.
//! - **PostgreSQL.** With the `postgres` feature, `PostgresSecretStore`
//!   keeps the same records in PostgreSQL for several gateway instances on
//!   one database: versioned migrations at open, row locks where SQLite has
//!   its single writer, retries until a deadline. See `docs/postgres-vault.md`.
//! - **Copying.** [`copy_store`] copies every record of one store into an
//!   empty one (a migration from SQLite to PostgreSQL) in one transaction,
//!   without decrypting anything, then verifies the copy.
//! - **Cache.** A bounded LRU of *encrypted* records serves hot reads without
//!   touching SQLite; a hit still authenticates and decrypts, so no
//!   plaintext is cached. What a hit costs depends on the MAC backend
//!   `poly1305` is built with: 0.74 µs for a key-sized secret with its
//!   portable backend (`--cfg poly1305_force_soft`, as this workspace's
//!   `.cargo/config.toml` builds it), 2.2 µs with the AVX2 backend it picks
//!   at run time otherwise (`cargo bench -p byok-vault --bench vault --
//!   get/cached`, docs/performance.md round nine). An application embedding
//!   the vault sets the flag in its own build to get the first.
//! - **Async.** [`AsyncVault`] runs blocking calls on a few dedicated threads
//!   and answers cache hits inline; it works under any executor.
//!
//! # Example
//!
//! ```
//! use byok_vault::{Hint, MasterKey, PutOptions, Vault, VaultConfig};
//! use secrecy::{ExposeSecret, SecretString};
//!
//! let dir = tempfile::tempdir()?;
//! // In production: MasterKey::load_or_generate(path) or MasterKey::from_base64(env value).
//! let master = MasterKey::generate()?;
//! let vault = Vault::open_sqlite(dir.path().join("vault.db"), master, VaultConfig::default())?;
//!
//! // A structured secret whose hint comes from one field.
//! let doc = SecretString::from(r#"{"accessKeyId":"AKIA...","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLE"}"#);
//! let api_key = SecretString::from("wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLE");
//! let options = PutOptions::new()
//!     .metadata(serde_json::json!({"region": "us-east-1"}))
//!     .hint(Hint::From(api_key));
//! let info = vault.put("user-42", "aws", &doc, options)?;
//! assert_eq!(info.last4.as_deref(), Some("MPLE"));
//!
//! // Listing shows hints and metadata, never plaintext.
//! let listed = vault.list("user-42")?;
//! assert_eq!(listed[0].metadata, Some(serde_json::json!({"region": "us-east-1"})));
//!
//! // Rotation: new data key, re-encrypt everything, retire the old key.
//! let old = info.key_id;
//! vault.rotate()?;
//! assert!(vault.rewrap(500)?.complete);
//! vault.retire(old)?;
//! assert_eq!(vault.get("user-42", "aws")?.unwrap().expose_secret(), doc.expose_secret());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod async_vault;
mod blob;
mod cache;
mod copy;
mod error;
/// The `vault_blob` fuzz target's body (`fuzz/` and this crate's tests).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod master;
#[cfg(feature = "postgres")]
mod postgres;
mod sqlite;
mod store;
mod vault;

pub use async_vault::AsyncVault;
pub use copy::{CopyError, CopyReport, copy_store};
pub use error::{DecryptError, MasterKeyError, OpenError, StoreError, VaultError};
pub use master::{MASTER_KEY_LEN, MasterKey};
#[cfg(feature = "postgres")]
pub use postgres::{MIGRATION_COMPONENT, PostgresConfig, PostgresSecretStore};
pub use sqlite::{SqliteConfig, SqliteStore};
pub use store::{
    RecordPages, RewrapStep, Rewrapped, SecretRecord, SecretStore, StoredKey, StoredKeyring,
};
pub use vault::{
    Hint, KeyStatus, MAX_METADATA_LEN, MAX_NAME_LEN, MAX_SECRET_LEN, MIN_HINT_SOURCE_CHARS,
    PutOptions, RewrapReport, SecretInfo, Vault, VaultConfig,
};

/// Re-exported so callers use the same `secrecy` version as the vault.
pub use secrecy;
