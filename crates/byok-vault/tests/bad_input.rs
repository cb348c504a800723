//! The bad-input list: every case must be a typed error, never a panic, never
//! an empty or echoed value, and never a partial write.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[macro_use]
mod common;

use byok_vault::secrecy::{ExposeSecret, SecretSlice};
use byok_vault::{
    DecryptError, MAX_SECRET_LEN, MasterKey, OpenError, PutOptions, StoreError, VaultConfig,
    VaultError,
};
use common::*;

const KEY: &str = "sk-live-0123456789abcdefghijklmnop";

fn every_single_bit_flip_is_detected(db: &Db) {
    let vault = db.open_uncached();
    vault
        .put("alice", "openai", &secret(KEY), PutOptions::new())
        .unwrap();
    let conn = db.raw();
    let original = blob_of(&conn, "alice", "openai");
    for bit in 0..original.len() * 8 {
        let mut tampered = original.clone();
        tampered[bit / 8] ^= 1 << (bit % 8);
        set_blob(&conn, "alice", "openai", &tampered);
        let err = vault
            .get("alice", "openai")
            .expect_err("tampered blob must not decrypt");
        assert!(matches!(err, VaultError::Decrypt(_)), "bit {bit}: {err:?}");
        assert!(!format!("{err} {err:?}").contains("sk-live"));
    }
    set_blob(&conn, "alice", "openai", &original);
    assert_eq!(
        vault
            .get("alice", "openai")
            .unwrap()
            .unwrap()
            .expose_secret(),
        KEY
    );
}

fn tampered_metadata_or_hint_is_detected(db: &Db) {
    let vault = db.open_uncached();
    vault
        .put(
            "alice",
            "azure",
            &secret(KEY),
            PutOptions::new().metadata(serde_json::json!({"endpoint": "x.openai.azure.com"})),
        )
        .unwrap();
    let conn = db.raw();
    conn.exec("UPDATE vault_secrets SET metadata = '{\"endpoint\":\"evil.example\"}'");
    assert!(matches!(
        vault.get("alice", "azure"),
        Err(VaultError::Decrypt(DecryptError::DecryptionFailed))
    ));
    vault
        .put("alice", "azure", &secret(KEY), PutOptions::new())
        .unwrap();
    conn.exec("UPDATE vault_secrets SET hint = 'zzzz'");
    assert!(matches!(
        vault.get("alice", "azure"),
        Err(VaultError::Decrypt(DecryptError::DecryptionFailed))
    ));
}

fn blob_moved_to_another_owner_or_name_fails(db: &Db) {
    let vault = db.open_uncached();
    vault
        .put("alice", "openai", &secret(KEY), PutOptions::new())
        .unwrap();
    vault
        .put(
            "mallory",
            "openai",
            &secret("sk-mallory-000000000000000000"),
            PutOptions::new(),
        )
        .unwrap();
    vault
        .put(
            "alice",
            "groq",
            &secret("gsk-alice-0000000000000000000"),
            PutOptions::new(),
        )
        .unwrap();
    let conn = db.raw();
    // Copy everything the encryption could depend on except the row's address.
    for (owner, name) in [("mallory", "openai"), ("alice", "groq")] {
        conn.try_exec(&format!(
            "UPDATE vault_secrets SET
                (blob, secret_id, metadata, hint, key_id) =
                (SELECT blob, secret_id || '', metadata, hint, key_id FROM vault_secrets WHERE owner = 'alice' AND name = 'openai')
             WHERE owner = '{owner}' AND name = '{name}'"
        ))
        .ok();
        // secret_id is UNIQUE, so copy the blob alone if the full copy was refused.
        set_blob(&conn, owner, name, &blob_of(&conn, "alice", "openai"));
        let err = vault.get(owner, name).unwrap_err();
        assert!(
            matches!(err, VaultError::Decrypt(DecryptError::DecryptionFailed)),
            "{owner}/{name}: {err:?}"
        );
    }
    // Also with the secret id copied (drop the uniqueness by deleting the source).
    let (blob, sid, hint): (Vec<u8>, String, Option<String>) = conn.row_of("alice", "openai");
    conn.exec("DELETE FROM vault_secrets WHERE owner='alice' AND name='openai'");
    conn.set_row("mallory", "openai", &blob, &sid, hint.as_deref());
    assert!(matches!(
        vault.get("mallory", "openai"),
        Err(VaultError::Decrypt(DecryptError::DecryptionFailed))
    ));
}

fn unknown_version_unknown_key_and_short_blobs(db: &Db) {
    let vault = db.open_uncached();
    vault
        .put("alice", "openai", &secret(KEY), PutOptions::new())
        .unwrap();
    let conn = db.raw();
    let original = blob_of(&conn, "alice", "openai");

    let mut v2 = original.clone();
    v2[0] = 2;
    set_blob(&conn, "alice", "openai", &v2);
    assert!(matches!(
        vault.get("alice", "openai"),
        Err(VaultError::Decrypt(DecryptError::UnsupportedVersion(2)))
    ));

    let mut k99 = original.clone();
    k99[1..5].copy_from_slice(&99u32.to_be_bytes());
    set_blob(&conn, "alice", "openai", &k99);
    assert!(matches!(
        vault.get("alice", "openai"),
        Err(VaultError::Decrypt(DecryptError::UnknownKeyId(99)))
    ));

    for len in [0usize, 1, 5, 29, 44] {
        set_blob(
            &conn,
            "alice",
            "openai",
            &original[..len.min(original.len())],
        );
        assert!(
            matches!(
                vault.get("alice", "openai"),
                Err(VaultError::Decrypt(DecryptError::Truncated { .. }))
            ),
            "len {len}"
        );
    }
    // The shortest well-formed header with a bad tag is an authentication failure.
    set_blob(&conn, "alice", "openai", &original[..45]);
    assert!(matches!(
        vault.get("alice", "openai"),
        Err(VaultError::Decrypt(DecryptError::DecryptionFailed))
    ));
}

fn wrong_master_key_is_refused_at_open(db: &Db) {
    drop(db.open_uncached());
    let err = db.open_with([1; 32], VaultConfig::default()).unwrap_err();
    assert!(matches!(err, OpenError::WrongMasterKey), "{err:?}");
    // The right key still opens it: the failed attempt changed nothing.
    drop(db.open_uncached());
}

fn invalid_input_stores_nothing_and_keeps_the_old_secret(db: &Db) {
    let vault = db.open_cached();
    vault
        .put("alice", "openai", &secret(KEY), PutOptions::new())
        .unwrap();

    let empty = vault.put("alice", "openai", &secret(""), PutOptions::new());
    assert!(matches!(empty, Err(VaultError::InvalidSecret(_))));
    let huge = SecretSlice::from(vec![b'x'; MAX_SECRET_LEN + 1]);
    assert!(matches!(
        vault.put_bytes("alice", "openai", &huge, PutOptions::new()),
        Err(VaultError::InvalidSecret(_))
    ));
    for (owner, name) in [
        ("", "openai"),
        ("alice", ""),
        ("al\nice", "openai"),
        ("alice", "open\rai"),
    ] {
        assert!(matches!(
            vault.put(owner, name, &secret(KEY), PutOptions::new()),
            Err(VaultError::InvalidName { .. })
        ));
    }
    let big_meta = serde_json::json!({ "x": "y".repeat(20_000) });
    assert!(matches!(
        vault.put(
            "alice",
            "openai",
            &secret("sk-other-000000000000000000"),
            PutOptions::new().metadata(big_meta)
        ),
        Err(VaultError::InvalidMetadata(_))
    ));

    assert_eq!(
        vault
            .get("alice", "openai")
            .unwrap()
            .unwrap()
            .expose_secret(),
        KEY
    );
    let count: i64 = db.raw().count("SELECT count(*) FROM vault_secrets");
    assert_eq!(count, 1);
}

fn retiring_a_key_in_use_or_active_is_refused(db: &Db) {
    let vault = db.open_uncached();
    vault
        .put("alice", "openai", &secret(KEY), PutOptions::new())
        .unwrap();
    assert!(matches!(
        vault.retire(1),
        Err(VaultError::Store(StoreError::KeyActive(1)))
    ));
    vault.rotate().unwrap();
    assert!(matches!(
        vault.retire(1),
        Err(VaultError::Store(StoreError::KeyInUse {
            key_id: 1,
            rows: 1
        }))
    ));
    assert!(matches!(
        vault.retire(7),
        Err(VaultError::Store(StoreError::MissingKey(7)))
    ));
    // The refusals changed nothing.
    assert_eq!(
        vault
            .get("alice", "openai")
            .unwrap()
            .unwrap()
            .expose_secret(),
        KEY
    );
}

#[cfg(unix)]
#[test]
fn master_key_file_with_loose_permissions_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    MasterKey::load_or_generate(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = MasterKey::from_file(&path).unwrap_err();
    assert!(
        matches!(
            err,
            byok_vault::MasterKeyError::InsecurePermissions { mode: 0o644, .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("chmod 600"));
}

fn concurrent_writers_never_see_busy(db: &Db) {
    drop(db.open_uncached());
    std::thread::scope(|scope| {
        for t in 0..8 {
            scope.spawn(move || {
                // Each thread is its own vault with its own connections, as
                // separate processes would be.
                let vault = db.open_uncached();
                for i in 0..40 {
                    vault
                        .put(
                            &format!("user-{t}"),
                            &format!("p{i}"),
                            &secret(&format!("sk-{t}-{i}-0123456789abcdef")),
                            PutOptions::new(),
                        )
                        .unwrap();
                    if i % 10 == 0 {
                        vault.delete(&format!("user-{t}"), "p0").unwrap();
                    }
                }
            });
        }
    });
    let vault = db.open_uncached();
    for t in 0..8 {
        assert_eq!(vault.list(&format!("user-{t}")).unwrap().len(), 39);
        for i in 1..40 {
            let got = vault
                .get(&format!("user-{t}"), &format!("p{i}"))
                .unwrap()
                .unwrap();
            assert_eq!(got.expose_secret(), format!("sk-{t}-{i}-0123456789abcdef"));
        }
    }
}

on_both_backends!(
    every_single_bit_flip_is_detected,
    tampered_metadata_or_hint_is_detected,
    blob_moved_to_another_owner_or_name_fails,
    unknown_version_unknown_key_and_short_blobs,
    wrong_master_key_is_refused_at_open,
    invalid_input_stores_nothing_and_keeps_the_old_secret,
    retiring_a_key_in_use_or_active_is_refused,
    concurrent_writers_never_see_busy,
);
