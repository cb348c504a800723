//! Property tests: round trips over arbitrary bytes and names, and the blob
//! parser over arbitrary and mutated input (it is fed bytes from disk).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::sync::OnceLock;

use byok_vault::secrecy::{ExposeSecret, SecretSlice};
use byok_vault::{PutOptions, Vault, VaultError};
use common::*;
use proptest::prelude::*;

struct Shared {
    _dir: tempfile::TempDir,
    vault: Vault,
}

fn shared() -> &'static Vault {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    &SHARED
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let vault = open_uncached(dir.path());
            Shared { _dir: dir, vault }
        })
        .vault
}

fn name() -> impl Strategy<Value = String> {
    // Any non-control characters, 1..=40 of them (the vault's name rule).
    proptest::string::string_regex("[^\\p{Cc}]{1,40}").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_arbitrary_bytes_and_names(
        owner in name(),
        secret_name in name(),
        bytes in proptest::collection::vec(any::<u8>(), 1..2048),
    ) {
        let vault = shared();
        vault.put_bytes(&owner, &secret_name, &SecretSlice::from(bytes.clone()), PutOptions::new()).unwrap();
        let back = vault.get_bytes(&owner, &secret_name).unwrap().unwrap();
        prop_assert_eq!(back.expose_secret(), bytes.as_slice());
        let info = vault.info(&owner, &secret_name).unwrap().unwrap();
        // The hint rule: last 4 characters of UTF-8 secrets of 16+ characters.
        let expected_hint = std::str::from_utf8(&bytes).ok().and_then(|s| {
            let n = s.chars().count();
            (n >= 16).then(|| s.chars().skip(n - 4).collect::<String>())
        });
        prop_assert_eq!(info.last4, expected_hint);
    }

    #[test]
    fn round_trip_strings(owner in name(), secret_name in name(), text in "\\PC{1,200}") {
        let vault = shared();
        vault.put(&owner, &secret_name, &secret(&text), PutOptions::new()).unwrap();
        let back = vault.get(&owner, &secret_name).unwrap().unwrap();
        prop_assert_eq!(back.expose_secret(), text.as_str());
    }

    #[test]
    fn arbitrary_stored_blobs_are_typed_errors(blob in proptest::collection::vec(any::<u8>(), 0..200)) {
        let dir = tempfile::tempdir().unwrap();
        let vault = open_uncached(dir.path());
        vault.put("o", "n", &secret("sk-property-0123456789abcdef"), PutOptions::new()).unwrap();
        set_blob(&raw(dir.path()), "o", "n", &blob);
        let result = vault.get_bytes("o", "n");
        prop_assert!(matches!(result, Err(VaultError::Decrypt(_))), "{:?}", result.map(|_| ()));
    }

    #[test]
    fn mutated_blobs_never_decrypt(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
        extra in proptest::collection::vec(any::<u8>(), 0..3),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let vault = open_uncached(dir.path());
        vault.put("o", "n", &secret("sk-property-0123456789abcdef"), PutOptions::new()).unwrap();
        let conn = raw(dir.path());
        let original = blob_of(&conn, "o", "n");
        let mut blob = original.clone();
        for (at, xor) in &edits {
            let i = at.index(blob.len());
            blob[i] ^= xor;
        }
        if let Some(cut) = cut {
            blob.truncate(cut.index(blob.len()));
        }
        blob.extend_from_slice(&extra);
        set_blob(&conn, "o", "n", &blob);
        let result = vault.get("o", "n");
        if blob == original {
            prop_assert!(result.is_ok());
        } else {
            prop_assert!(matches!(result, Err(VaultError::Decrypt(_))));
        }
    }
}
