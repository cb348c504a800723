//! The storage trait: what a backend must do, in terms of opaque records.
//!
//! A store never sees plaintext or unwrapped keys: it moves blobs and
//! metadata. Everything that must be atomic (an upsert, a retirement check, a
//! batch of rewraps) is one trait method, so a backend implements it as one
//! transaction.

use crate::error::StoreError;

/// One stored secret as the backend holds it. Contains no plaintext.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretRecord {
    /// Owner (tenant, user id) the secret belongs to.
    pub owner: String,
    /// Name of the secret within its owner.
    pub name: String,
    /// Random id given at each write; part of the encryption binding.
    pub secret_id: String,
    /// The key id in the blob's header, duplicated for indexing. Backends must
    /// update it together with `blob`, in the same statement.
    pub key_id: u32,
    /// The encrypted blob (see the crate docs for its format).
    pub blob: Vec<u8>,
    /// Non-secret metadata (JSON text), authenticated by the blob.
    pub metadata: Option<String>,
    /// The last-4 hint, authenticated by the blob.
    pub hint: Option<String>,
    /// Creation time, Unix milliseconds (kept across overwrites).
    pub created_at_ms: i64,
    /// Last write time, Unix milliseconds.
    pub updated_at_ms: i64,
}

impl std::fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The blob is ciphertext, but there is no reason to print it.
        f.debug_struct("SecretRecord")
            .field("owner", &self.owner)
            .field("name", &self.name)
            .field("secret_id", &self.secret_id)
            .field("key_id", &self.key_id)
            .field("blob_len", &self.blob.len())
            .field("metadata", &self.metadata)
            .field("hint", &self.hint)
            .field("created_at_ms", &self.created_at_ms)
            .field("updated_at_ms", &self.updated_at_ms)
            .finish()
    }
}

/// A data key as stored: wrapped under the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key id written into every blob encrypted with this key.
    pub key_id: u32,
    /// The data key encrypted under the master key.
    pub wrapped: Vec<u8>,
    /// Whether new writes use this key. Exactly one key is active.
    pub active: bool,
    /// Creation time, Unix milliseconds.
    pub created_at_ms: i64,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("key_id", &self.key_id)
            .field("active", &self.active)
            .field("created_at_ms", &self.created_at_ms)
            .finish_non_exhaustive()
    }
}

/// The keyring as stored: the canary and the wrapped data keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKeyring {
    /// The canary sealed under the master key at initialisation.
    pub canary: Vec<u8>,
    /// Every data key not yet retired.
    pub keys: Vec<StoredKey>,
}

/// What a rewrap callback decided for one row.
#[derive(Debug)]
pub enum Rewrapped {
    /// Replace the row's blob and key id with these.
    Replace {
        /// The new key id (the active key).
        key_id: u32,
        /// The blob re-encrypted under it.
        blob: Vec<u8>,
    },
    /// Leave the row as it is (it could not be decrypted; it keeps its key
    /// from being retired until it is deleted or rewritten).
    Skip,
}

/// Where [`SecretStore::import`] reads the records it stores: called with
/// `None` for the first page, then with the `(owner, name)` of the last
/// record of the page before; an empty page is the end. A source store's
/// [`SecretStore::scan`] is one: `|after| source.scan(after, 500)`.
pub type RecordPages<'a> =
    dyn FnMut(Option<(&str, &str)>) -> Result<Vec<SecretRecord>, StoreError> + 'a;

/// A storage backend for [`crate::Vault`].
///
/// Implementations must be safe to call from several threads at once and from
/// several processes on the same database, and must never report "busy" to
/// the caller while waiting up to their configured timeout would do. Each
/// method is one atomic unit.
///
/// The trait is synchronous: embedded databases (SQLite) are, and the vault
/// keeps blocking calls off async workers itself (see [`crate::AsyncVault`]).
pub trait SecretStore: Send + Sync + 'static {
    /// Returns the keyring, or `None` for a store that was never initialised.
    ///
    /// # Errors
    /// Backend errors.
    fn load_keyring(&self) -> Result<Option<StoredKeyring>, StoreError>;

    /// Stores `init` unless a keyring already exists, atomically, and returns
    /// the keyring that is stored afterwards (so two processes initialising at
    /// once agree on one).
    ///
    /// # Errors
    /// Backend errors.
    fn init_keyring(&self, init: &StoredKeyring) -> Result<StoredKeyring, StoreError>;

    /// Adds `key` (whose id must be greater than every stored id) and makes it
    /// the only active key, atomically checking that the stored canary is
    /// still `canary` (the one the caller unwrapped the keyring with, so a key
    /// wrapped under a master key that another process has just replaced is
    /// never stored).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the id is not new or the canary changed;
    /// backend errors.
    fn add_active_key(&self, key: &StoredKey, canary: &[u8]) -> Result<(), StoreError>;

    /// Deletes key `key_id`, atomically refusing while it is active or any
    /// secret still uses it.
    ///
    /// # Errors
    /// [`StoreError::KeyActive`], [`StoreError::KeyInUse`],
    /// [`StoreError::MissingKey`], backend errors.
    fn retire_key(&self, key_id: u32) -> Result<(), StoreError>;

    /// Replaces the canary and the wrapped form of every key (a master-key
    /// change), atomically. `keys` must name exactly the stored key ids and
    /// the stored canary must still be `old_canary` (no other master-key
    /// change or rotation happened since the caller read the keyring).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the key ids or the canary differ; backend
    /// errors.
    fn replace_wrapping(
        &self,
        old_canary: &[u8],
        canary: &[u8],
        keys: &[StoredKey],
    ) -> Result<(), StoreError>;

    /// Returns the record for `owner`/`name`.
    ///
    /// # Errors
    /// Backend errors.
    fn get(&self, owner: &str, name: &str) -> Result<Option<SecretRecord>, StoreError>;

    /// Inserts or replaces the record for `record.owner`/`record.name`,
    /// keeping the stored `created_at_ms` when replacing. Returns the record's
    /// `created_at_ms` as stored. Refuses with [`StoreError::MissingKey`] when
    /// `record.key_id` is not in the keyring (checked in the same transaction).
    ///
    /// # Errors
    /// [`StoreError::MissingKey`], backend errors.
    fn put(&self, record: &SecretRecord) -> Result<i64, StoreError>;

    /// Deletes the record; returns whether one existed.
    ///
    /// # Errors
    /// Backend errors.
    fn delete(&self, owner: &str, name: &str) -> Result<bool, StoreError>;

    /// Lists an owner's records ordered by name. `blob` may be left empty by
    /// backends (listing never decrypts).
    ///
    /// # Errors
    /// Backend errors.
    fn list(&self, owner: &str) -> Result<Vec<SecretRecord>, StoreError>;

    /// How many records use each key id, ordered by key id.
    ///
    /// # Errors
    /// Backend errors.
    fn count_by_key(&self) -> Result<Vec<(u32, u64)>, StoreError>;

    /// One rewrap step: in one transaction, reads up to `limit` records whose
    /// key id is not `target_key_id`, ordered by a stable cursor greater than
    /// `after`, calls `rewrap` on each and writes back the replacements.
    /// Returns the number of records visited, the number replaced and the
    /// cursor of the last visited record (pass it as `after` next time; `0`
    /// starts from the beginning).
    ///
    /// # Errors
    /// Backend errors; then nothing of this step is written.
    fn rewrap_step(
        &self,
        target_key_id: u32,
        after: i64,
        limit: usize,
        rewrap: &mut dyn FnMut(&SecretRecord) -> Rewrapped,
    ) -> Result<RewrapStep, StoreError>;

    /// Every record, page by page: up to `limit` records whose `(owner,
    /// name)` comes after `after` (`None`: from the first), ordered by
    /// owner then name, compared as bytes (the same order in every
    /// backend). Every field is returned, `blob` included. Each call is
    /// a read of its own: no record is returned twice, but the pages are
    /// not one snapshot (a record written behind the cursor during a scan
    /// is not returned).
    ///
    /// # Errors
    /// Backend errors.
    fn scan(
        &self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<SecretRecord>, StoreError>;

    /// Fills a store that holds nothing yet with a copy of another's
    /// records, in one transaction: checks that it holds no keyring, no
    /// data key and no secret, stores `keyring` (the canary and every key
    /// with its id, wrapping, active flag and creation time, as given),
    /// then inserts the records `pages` yields ([`RecordPages`]), every
    /// field as given. A store that runs the transaction again calls
    /// `pages` again from the first page.
    /// Returns the number of records stored.
    ///
    /// # Errors
    /// [`StoreError::NotEmpty`] (checked in the transaction);
    /// [`StoreError::MissingKey`] for a record whose key is not in
    /// `keyring`; the first error of `pages`; backend errors. Nothing is
    /// stored then.
    fn import(
        &self,
        keyring: &StoredKeyring,
        pages: &mut RecordPages<'_>,
    ) -> Result<u64, StoreError>;
}

/// The outcome of one [`SecretStore::rewrap_step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewrapStep {
    /// Records read in this step.
    pub visited: usize,
    /// Records re-encrypted and written back.
    pub replaced: usize,
    /// The cursor to resume from.
    pub cursor: i64,
}

/// The keyring check of every keyring change, on the canary as stored
/// (`None`: no canary row): it must still be `expected`, the one the caller
/// unwrapped the keyring with.
///
/// # Errors
/// [`StoreError::Conflict`] when the master key was changed since the caller
/// read the keyring; [`StoreError::Corrupt`] without a canary row.
pub(crate) fn check_canary(stored: Option<&[u8]>, expected: &[u8]) -> Result<(), StoreError> {
    match stored {
        None => Err(StoreError::Corrupt("canary row missing".into())),
        Some(c) if c != expected => Err(StoreError::Conflict),
        Some(_) => Ok(()),
    }
}

/// The check of [`SecretStore::replace_wrapping`]: `keys` name exactly the
/// stored key ids (in any order).
///
/// # Errors
/// [`StoreError::Conflict`] when they differ (a key was added or retired
/// since the caller read the keyring).
pub(crate) fn check_same_key_ids(
    mut stored: Vec<i64>,
    keys: &[StoredKey],
) -> Result<(), StoreError> {
    let mut given: Vec<i64> = keys.iter().map(|k| i64::from(k.key_id)).collect();
    stored.sort_unstable();
    given.sort_unstable();
    if stored == given {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

/// The body of a [`SecretStore::rewrap_step`] once its batch is read:
/// `batch` is `(cursor, record)` in cursor order; each record is passed to
/// `rewrap`, and each replacement written with `write(cursor, key_id,
/// blob)`. Counts the records visited and replaced, and moves the cursor
/// from `after` to the last one visited.
///
/// # Errors
/// The first error of `write`.
pub(crate) fn rewrap_rows<E>(
    batch: &[(i64, SecretRecord)],
    after: i64,
    rewrap: &mut dyn FnMut(&SecretRecord) -> Rewrapped,
    mut write: impl FnMut(i64, u32, &[u8]) -> Result<(), E>,
) -> Result<RewrapStep, E> {
    let mut step = RewrapStep {
        visited: 0,
        replaced: 0,
        cursor: after,
    };
    for (cursor, rec) in batch {
        step.visited += 1;
        step.cursor = *cursor;
        if let Rewrapped::Replace { key_id, blob } = rewrap(rec) {
            write(*cursor, key_id, &blob)?;
            step.replaced += 1;
        }
    }
    Ok(step)
}

/// What a store holds, for the check of [`SecretStore::import`]: its
/// keyring rows (the canary), data keys and secrets (the same text in
/// every backend).
pub(crate) const COUNT_CONTENTS: &str = "SELECT (SELECT count(*) FROM vault_meta),
    (SELECT count(*) FROM vault_keys), (SELECT count(*) FROM vault_secrets)";

/// The check of [`SecretStore::import`], on what [`COUNT_CONTENTS`]
/// counted in its transaction.
///
/// # Errors
/// [`StoreError::NotEmpty`] unless all three are absent.
pub(crate) fn check_empty(keyring: bool, keys: i64, secrets: i64) -> Result<(), StoreError> {
    if !keyring && keys == 0 && secrets == 0 {
        return Ok(());
    }
    Err(StoreError::NotEmpty {
        keyring,
        keys: u64::try_from(keys).unwrap_or(0),
        secrets: u64::try_from(secrets).unwrap_or(0),
    })
}

/// The body of a [`SecretStore::import`] once the keyring is stored: reads
/// `pages` until an empty one and passes each record to `insert`, after
/// checking that its key is in `keyring`. Returns how many were inserted.
///
/// # Errors
/// [`StoreError::MissingKey`], the first error of `pages` or of `insert`.
pub(crate) fn import_pages<E: From<StoreError>>(
    keyring: &StoredKeyring,
    pages: &mut RecordPages<'_>,
    mut insert: impl FnMut(&SecretRecord) -> Result<(), E>,
) -> Result<u64, E> {
    let mut inserted = 0;
    let mut last: Option<(String, String)> = None;
    loop {
        let page = pages(last.as_ref().map(|(o, n)| (o.as_str(), n.as_str())))?;
        let Some(end) = page.last() else {
            return Ok(inserted);
        };
        for rec in &page {
            if !keyring.keys.iter().any(|k| k.key_id == rec.key_id) {
                return Err(StoreError::MissingKey(rec.key_id).into());
            }
            insert(rec)?;
            inserted += 1;
        }
        last = Some((end.owner.clone(), end.name.clone()));
    }
}
