//! The body of the `vault_blob` fuzz target, shared by the repository's
//! `fuzz/` (cargo-fuzz, feature `fuzzing`) and this module's stable tests.
//! Not an API: hidden, built only with the feature or in tests. It uses
//! the public API only ([`Vault::open`] over a [`SecretStore`] that hands
//! the vault the fuzzer's bytes as what it stored): no internal is exposed
//! for it.
//!
//! The first byte's low bit chooses what the rest is:
//!
//! - 0, a stored secret: `[n][metadata: n bytes][blob]`, the record of a
//!   secret a vault wrote once under a fixed master key (the constants
//!   below) with that blob and, when `n > 0`, that metadata. [`Vault::get`] must give the secret back
//!   exactly when blob and metadata are the ones written, and otherwise a
//!   [`VaultError::Decrypt`] that does not show the secret; listing reads
//!   the metadata without failing.
//! - 1, a stored keyring: `[k][k × (key id: 4 BE, active: 1, n: 1, wrapped:
//!   n bytes)][canary]`. [`Vault::open`] must refuse it (typed) unless its
//!   canary and every wrapped key are the ones the vault wrote (nothing
//!   else authenticates under the master key).

use std::sync::{Arc, Mutex, OnceLock};

use secrecy::ExposeSecret;

use crate::{
    MasterKey, OpenError, RewrapStep, Rewrapped, SecretRecord, SecretStore, StoreError, StoredKey,
    StoredKeyring, Vault, VaultConfig, VaultError,
};

const OWNER: &str = "user-42";
const NAME: &str = "openai";
const SECRET: &str = "sk-proj-fuzz-0123456789abcdefghij";

// What a vault under the master key [7; 32] wrote once (its keyring: the
// canary and data key 1; and SECRET's record): fixed, so that the seed
// corpus (and any input libFuzzer saves) decrypts in every process.
const CANARY: [u8; 92] = [
    1, 69, 98, 142, 213, 94, 143, 238, 153, 185, 88, 17, 107, 68, 46, 164, 239, 251, 96, 106, 148,
    182, 34, 173, 155, 137, 180, 215, 173, 211, 1, 164, 10, 152, 91, 7, 21, 121, 99, 133, 241, 37,
    184, 21, 103, 102, 104, 76, 15, 218, 33, 68, 168, 79, 23, 54, 124, 82, 53, 28, 168, 14, 63, 85,
    65, 201, 208, 199, 39, 122, 254, 168, 66, 78, 187, 238, 237, 38, 195, 102, 210, 227, 165, 103,
    138, 175, 210, 2, 94, 169, 253, 249,
];

const WRAPPED_KEY_1: [u8; 73] = [
    1, 5, 127, 240, 96, 241, 235, 41, 65, 236, 40, 121, 47, 127, 93, 86, 156, 235, 35, 147, 62, 35,
    222, 225, 254, 253, 154, 52, 89, 72, 126, 105, 204, 103, 46, 22, 100, 26, 108, 157, 186, 94,
    68, 162, 15, 78, 206, 95, 93, 72, 23, 216, 119, 84, 170, 17, 157, 3, 155, 47, 185, 50, 48, 238,
    145, 18, 41, 252, 222, 252, 117, 238, 47,
];

const BLOB: [u8; 78] = [
    1, 0, 0, 0, 1, 132, 79, 192, 129, 128, 115, 255, 184, 128, 176, 91, 24, 52, 25, 31, 26, 20, 68,
    6, 195, 138, 78, 200, 87, 242, 21, 171, 140, 231, 88, 124, 43, 67, 195, 12, 4, 165, 13, 218,
    156, 196, 166, 250, 164, 227, 18, 111, 186, 73, 42, 187, 8, 250, 138, 38, 163, 103, 1, 104,
    128, 129, 226, 168, 65, 104, 165, 33, 178, 143, 108, 24, 159, 2,
];

const SECRET_ID: &str = "5354c7be949b3e78d854e478e63aec6a";
const METADATA: &str = r#"{"region":"us-east-1"}"#;
const HINT: &str = "ghij";

/// What the store holds: a keyring and one record.
#[derive(Debug, Default)]
struct Held {
    keyring: Option<StoredKeyring>,
    record: Option<SecretRecord>,
}

/// An in-memory [`SecretStore`] whose contents the target sets.
#[derive(Debug, Clone, Default)]
struct Memory(Arc<Mutex<Held>>);

impl Memory {
    fn with<T>(&self, f: impl FnOnce(&mut Held) -> T) -> T {
        let mut held = match self.0.lock() {
            Ok(h) => h,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut held)
    }
}

impl SecretStore for Memory {
    fn load_keyring(&self) -> Result<Option<StoredKeyring>, StoreError> {
        Ok(self.with(|h| h.keyring.clone()))
    }

    fn init_keyring(&self, init: &StoredKeyring) -> Result<StoredKeyring, StoreError> {
        Ok(self.with(|h| h.keyring.get_or_insert_with(|| init.clone()).clone()))
    }

    fn add_active_key(&self, _: &StoredKey, _: &[u8]) -> Result<(), StoreError> {
        Err(StoreError::Conflict)
    }

    fn retire_key(&self, key_id: u32) -> Result<(), StoreError> {
        Err(StoreError::KeyActive(key_id))
    }

    fn replace_wrapping(&self, _: &[u8], _: &[u8], _: &[StoredKey]) -> Result<(), StoreError> {
        Err(StoreError::Conflict)
    }

    fn get(&self, owner: &str, name: &str) -> Result<Option<SecretRecord>, StoreError> {
        Ok(self.with(|h| {
            h.record
                .clone()
                .filter(|r| r.owner == owner && r.name == name)
        }))
    }

    fn put(&self, record: &SecretRecord) -> Result<i64, StoreError> {
        self.with(|h| h.record = Some(record.clone()));
        Ok(record.created_at_ms)
    }

    fn delete(&self, _: &str, _: &str) -> Result<bool, StoreError> {
        Ok(self.with(|h| h.record.take().is_some()))
    }

    fn list(&self, owner: &str) -> Result<Vec<SecretRecord>, StoreError> {
        Ok(self.with(|h| {
            h.record
                .clone()
                .into_iter()
                .filter(|r| r.owner == owner)
                .collect()
        }))
    }

    fn count_by_key(&self) -> Result<Vec<(u32, u64)>, StoreError> {
        Ok(self.with(|h| h.record.iter().map(|r| (r.key_id, 1)).collect()))
    }

    fn rewrap_step(
        &self,
        _: u32,
        after: i64,
        _: usize,
        _: &mut dyn FnMut(&SecretRecord) -> Rewrapped,
    ) -> Result<RewrapStep, StoreError> {
        Ok(RewrapStep {
            visited: 0,
            replaced: 0,
            cursor: after,
        })
    }

    fn scan(&self, after: Option<(&str, &str)>, _: usize) -> Result<Vec<SecretRecord>, StoreError> {
        Ok(self.with(|h| {
            h.record
                .clone()
                .into_iter()
                .filter(|r| after.is_none_or(|(o, n)| (r.owner.as_str(), r.name.as_str()) > (o, n)))
                .collect()
        }))
    }

    fn import(
        &self,
        _: &StoredKeyring,
        _: &mut crate::store::RecordPages<'_>,
    ) -> Result<u64, StoreError> {
        // The target reads blobs; it never copies a store.
        Err(StoreError::Conflict)
    }
}

fn master() -> MasterKey {
    MasterKey::from_bytes([7; crate::MASTER_KEY_LEN])
}

/// The vault, its store, and what it wrote: the keyring and the record.
struct Written {
    vault: Vault,
    store: Memory,
    keyring: StoredKeyring,
    record: SecretRecord,
}

fn written() -> Option<&'static Written> {
    static WRITTEN: OnceLock<Option<Written>> = OnceLock::new();
    WRITTEN
        .get_or_init(|| {
            let keyring = StoredKeyring {
                canary: CANARY.to_vec(),
                keys: vec![StoredKey {
                    key_id: 1,
                    wrapped: WRAPPED_KEY_1.to_vec(),
                    active: true,
                    created_at_ms: 0,
                }],
            };
            let record = SecretRecord {
                owner: OWNER.to_owned(),
                name: NAME.to_owned(),
                secret_id: SECRET_ID.to_owned(),
                key_id: 1,
                blob: BLOB.to_vec(),
                metadata: Some(METADATA.to_owned()),
                hint: Some(HINT.to_owned()),
                created_at_ms: 0,
                updated_at_ms: 0,
            };
            let store = Memory::default();
            store.with(|h| {
                h.keyring = Some(keyring.clone());
                h.record = Some(record.clone());
            });
            let config = VaultConfig::default().cache_capacity(0);
            let vault = Vault::open(store.clone(), master(), config).ok()?;
            Some(Written {
                vault,
                store,
                keyring,
                record,
            })
        })
        .as_ref()
}

fn secret_blob(w: &Written, rest: &[u8]) {
    let (n, rest) = rest.split_first().map_or((0, rest), |(&n, r)| (n, r));
    let (metadata, blob) = rest.split_at(usize::from(n).min(rest.len()));
    let mut record = w.record.clone();
    if n > 0 {
        record.metadata = Some(String::from_utf8_lossy(metadata).into_owned());
    }
    record.blob = blob.to_vec();
    record.key_id = blob
        .get(1..5)
        .and_then(|b| b.try_into().ok())
        .map_or(record.key_id, u32::from_be_bytes);
    let genuine = record.blob == w.record.blob && record.metadata == w.record.metadata;
    w.store.with(|h| h.record = Some(record));
    w.vault.clear_cache();
    match w.vault.get(OWNER, NAME) {
        Ok(Some(s)) => {
            assert!(genuine, "only the written blob and binding decrypt");
            assert_eq!(s.expose_secret(), SECRET, "and give the secret back");
        }
        Ok(None) => panic_with("the record is there"),
        Err(e) => {
            assert!(!genuine, "the written blob decrypts: {e}");
            assert!(
                matches!(e, VaultError::Decrypt(_)),
                "a bad blob is a decryption error: {e:?}"
            );
            assert!(!e.to_string().contains(SECRET), "an error shows the secret");
            assert!(
                !format!("{e:?}").contains(SECRET),
                "an error shows the secret"
            );
        }
    }
    assert!(w.vault.list(OWNER).is_ok(), "listing reads any metadata");
    assert!(w.vault.info(OWNER, NAME).is_ok(), "info reads any metadata");
}

/// Reads a keyring in the layout of the module docs.
fn keyring(rest: &[u8]) -> StoredKeyring {
    let (k, mut rest) = rest.split_first().map_or((0, rest), |(&k, r)| (k, r));
    let mut keys = Vec::new();
    for _ in 0..(k % 5) {
        let Some((head, tail)) = rest.split_first_chunk::<6>() else {
            break;
        };
        let [a, b, c, d, active, n] = *head;
        let (wrapped, tail) = tail.split_at(usize::from(n).min(tail.len()));
        keys.push(StoredKey {
            key_id: u32::from_be_bytes([a, b, c, d]),
            wrapped: wrapped.to_vec(),
            active: active % 2 == 1,
            created_at_ms: 0,
        });
        rest = tail;
    }
    StoredKeyring {
        canary: rest.to_vec(),
        keys,
    }
}

fn stored_keyring(w: &Written, rest: &[u8]) {
    let kr = keyring(rest);
    let store = Memory::default();
    store.with(|h| h.keyring = Some(kr.clone()));
    match Vault::open(store, master(), VaultConfig::default().cache_capacity(0)) {
        Ok(_) => {
            assert_eq!(kr.canary, w.keyring.canary, "only the written canary opens");
            for key in &kr.keys {
                let written = w.keyring.keys.iter().find(|k| k.key_id == key.key_id);
                assert_eq!(
                    written.map(|k| &k.wrapped),
                    Some(&key.wrapped),
                    "only written keys unwrap"
                );
            }
        }
        Err(e) => assert!(
            matches!(e, OpenError::WrongMasterKey | OpenError::CorruptKeyring(_)),
            "a bad keyring is refused as such: {e:?}"
        ),
    }
}

#[allow(clippy::panic)] // a fuzz target reports a broken invariant by panicking
fn panic_with(what: &str) {
    panic!("{what}");
}

/// One input at a time: an input sets the shared store's record, then
/// reads it (the stable tests run on several threads).
fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    match ONE.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Fuzz target `vault_blob`: stored blobs and keyrings of any bytes (see
/// the module docs).
pub fn vault_blob(data: &[u8]) {
    let Some(w) = written() else {
        panic_with("the vault opens over memory");
        return;
    };
    let _one = exclusive();
    match data.split_first() {
        Some((&first, rest)) if first % 2 == 0 => secret_blob(w, rest),
        Some((_, rest)) => stored_keyring(w, rest),
        None => {}
    }
}

/// The seed corpus: the written record (its blob, and with its metadata
/// edited), and the written keyring, as `(file name, bytes)`.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let Some(w) = written() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut blob = vec![0, 0];
    blob.extend_from_slice(&w.record.blob);
    out.push(("seed-blob".to_owned(), blob));
    let metadata = br#"{"region":"eu-west-1"}"#;
    let mut edited = vec![0, u8::try_from(metadata.len()).unwrap_or(0)];
    edited.extend_from_slice(metadata);
    edited.extend_from_slice(&w.record.blob);
    out.push(("seed-blob-metadata-edited".to_owned(), edited));
    let mut kr = vec![1, u8::try_from(w.keyring.keys.len()).unwrap_or(0)];
    for k in &w.keyring.keys {
        kr.extend_from_slice(&k.key_id.to_be_bytes());
        kr.push(u8::from(k.active));
        kr.push(u8::try_from(k.wrapped.len()).unwrap_or(0));
        kr.extend_from_slice(&k.wrapped);
    }
    kr.extend_from_slice(&w.keyring.canary);
    out.push(("seed-keyring".to_owned(), kr));
    out
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    /// The fixed record and keyring are what the vault writes and reads.
    #[test]
    fn the_fixed_record_is_the_secret() {
        let w = written().unwrap();
        let _one = exclusive();
        w.store.with(|h| h.record = Some(w.record.clone()));
        assert_eq!(
            w.vault.get(OWNER, NAME).unwrap().unwrap().expose_secret(),
            SECRET
        );
    }

    /// Writes the seed corpus into the repository's
    /// `fuzz/corpus/vault_blob/` (`cargo test -p byok-vault --lib
    /// write_seed_corpus -- --ignored`).
    #[test]
    #[ignore = "writes fuzz/corpus; run by hand"]
    fn write_seed_corpus() -> std::io::Result<()> {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/vault_blob");
        std::fs::create_dir_all(&dir)?;
        for (file, bytes) in seeds() {
            std::fs::write(dir.join(file), bytes)?;
        }
        Ok(())
    }

    /// The written record and keyring, and each with bytes changed.
    #[test]
    fn every_seed() {
        let seeds = seeds();
        assert_eq!(seeds.len(), 3);
        for (_, bytes) in seeds {
            vault_blob(&bytes);
            for i in 0..bytes.len() {
                let mut b = bytes.clone();
                b[i] ^= 0x5a;
                vault_blob(&b);
                vault_blob(&bytes[..i]);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]
        #[test]
        fn vault_blob_random(data in vec(any::<u8>(), 0..256)) {
            vault_blob(&data);
        }
    }
}
