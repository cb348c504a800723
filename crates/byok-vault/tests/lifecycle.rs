//! The vault's public behaviour: round trips, listing, rotation, rekeying,
//! cache invalidation, the async front, and what reaches the disk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[macro_use]
mod common;

use byok_vault::secrecy::ExposeSecret;
use byok_vault::{AsyncVault, Hint, MasterKey, OpenError, PutOptions, VaultConfig};
use common::*;

fn put_get_list_info_delete(db: &Db) {
    let vault = db.open_cached();
    let info = vault
        .put(
            "u1",
            "openai",
            &secret("sk-proj-abcdefghijklmnop1234"),
            PutOptions::new().metadata(serde_json::json!({"org": "acme"})),
        )
        .unwrap();
    assert_eq!(info.last4.as_deref(), Some("1234"));
    vault
        .put("u1", "groq", &secret("short-key"), PutOptions::new())
        .unwrap();
    vault
        .put(
            "u2",
            "openai",
            &secret("sk-other-user-000000000000"),
            PutOptions::new(),
        )
        .unwrap();

    let listed = vault.list("u1").unwrap();
    assert_eq!(
        listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["groq", "openai"]
    );
    assert_eq!(
        listed[0].last4, None,
        "keys under 16 characters get no hint"
    );
    assert_eq!(listed[1].metadata, Some(serde_json::json!({"org": "acme"})));

    assert_eq!(
        vault.get("u1", "openai").unwrap().unwrap().expose_secret(),
        "sk-proj-abcdefghijklmnop1234"
    );
    assert!(vault.get("u1", "anthropic").unwrap().is_none());
    assert!(vault.get("u3", "openai").unwrap().is_none());

    // Overwrite keeps created_at, moves updated_at, changes the value.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let again = vault
        .put(
            "u1",
            "openai",
            &secret("sk-proj-zyxwvutsrqponmlk9876"),
            PutOptions::new(),
        )
        .unwrap();
    assert_eq!(again.created_at, info.created_at);
    assert!(again.updated_at > info.updated_at);
    assert_eq!(
        vault.get("u1", "openai").unwrap().unwrap().expose_secret(),
        "sk-proj-zyxwvutsrqponmlk9876"
    );
    assert_eq!(
        vault
            .info("u1", "openai")
            .unwrap()
            .unwrap()
            .last4
            .as_deref(),
        Some("9876")
    );

    assert!(vault.delete("u1", "openai").unwrap());
    assert!(!vault.delete("u1", "openai").unwrap());
    assert!(vault.get("u1", "openai").unwrap().is_none());
    assert_eq!(vault.list("u1").unwrap().len(), 1);
}

fn hint_from_a_field_of_a_structured_secret(db: &Db) {
    let vault = db.open_cached();
    let doc = secret(
        r#"{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY","region":"us-east-1"}"#,
    );
    let info = vault
        .put(
            "u1",
            "aws",
            &doc,
            PutOptions::new().hint(Hint::From(secret(
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
            ))),
        )
        .unwrap();
    assert_eq!(info.last4.as_deref(), Some("EKEY"));
    let none = vault
        .put("u1", "x", &doc, PutOptions::new().hint(Hint::None))
        .unwrap();
    assert_eq!(none.last4, None);
}

fn rotation_interrupted_then_resumed_after_reopen(db: &Db) {
    let expected: Vec<(String, String)> = (0..50)
        .map(|i| {
            (
                format!("p{i:02}"),
                format!("sk-rotate-{i:02}-abcdefghijklmnop"),
            )
        })
        .collect();
    {
        let vault = db.open_cached();
        for (name, value) in &expected {
            vault
                .put("u", name, &secret(value), PutOptions::new())
                .unwrap();
        }
        assert_eq!(vault.rotate().unwrap(), 2);
        // New writes use the new key immediately.
        let fresh = vault
            .put(
                "u",
                "fresh",
                &secret("sk-fresh-0123456789abcdef"),
                PutOptions::new(),
            )
            .unwrap();
        assert_eq!(fresh.key_id, 2);
        // Interrupt after two batches of 10.
        let partial = vault.rewrap_batches(10, Some(2)).unwrap();
        assert!(!partial.complete);
        assert_eq!(partial.rewrapped, 20);
        assert!(vault.retire(1).is_err(), "30 rows still use key 1");
        // Mixed state reads fine.
        for (name, value) in &expected {
            assert_eq!(
                vault.get("u", name).unwrap().unwrap().expose_secret(),
                value
            );
        }
    }
    let vault = db.open_uncached();
    let status = vault.keys().unwrap();
    assert_eq!(
        status
            .iter()
            .map(|k| (k.key_id, k.active, k.secrets))
            .collect::<Vec<_>>(),
        [(1, false, 30), (2, true, 21)]
    );
    let rest = vault.rewrap(7).unwrap();
    assert!(rest.complete);
    assert_eq!(rest.rewrapped, 30);
    assert_eq!(rest.failed, 0);
    vault.retire(1).unwrap();
    for (name, value) in &expected {
        assert_eq!(
            vault.get("u", name).unwrap().unwrap().expose_secret(),
            value
        );
    }
    // A row's blob header and its key_id column always agree (never half-rotated).
    let rows = db.raw().key_ids_and_blobs();
    assert_eq!(rows.len(), 51);
    for (key_id, blob) in rows {
        assert_eq!(key_id, 2);
        assert_eq!(u32::from_be_bytes(blob[1..5].try_into().unwrap()), key_id);
    }
}

fn rewrap_skips_and_reports_undecryptable_rows(db: &Db) {
    let vault = db.open_uncached();
    vault
        .put(
            "u",
            "good",
            &secret("sk-good-0123456789abcdef"),
            PutOptions::new(),
        )
        .unwrap();
    vault
        .put(
            "u",
            "bad",
            &secret("sk-bad-0123456789abcdefg"),
            PutOptions::new(),
        )
        .unwrap();
    let conn = db.raw();
    let mut blob = blob_of(&conn, "u", "bad");
    let last = blob.len() - 1;
    blob[last] ^= 0x80;
    set_blob(&conn, "u", "bad", &blob);
    vault.rotate().unwrap();
    let report = vault.rewrap(100).unwrap();
    assert_eq!(
        (report.rewrapped, report.failed, report.complete),
        (1, 1, true)
    );
    assert!(
        vault.retire(1).is_err(),
        "the corrupt row still holds key 1"
    );
    vault.delete("u", "bad").unwrap();
    vault.retire(1).unwrap();
    assert!(vault.get("u", "good").unwrap().is_some());
}

fn cache_is_invalidated_by_this_vaults_writes_and_rotation(db: &Db) {
    let vault = db.open_cached();
    vault
        .put(
            "u",
            "p",
            &secret("sk-first-0123456789abcdef"),
            PutOptions::new(),
        )
        .unwrap();
    assert_eq!(
        vault.get("u", "p").unwrap().unwrap().expose_secret(),
        "sk-first-0123456789abcdef"
    );
    assert_eq!(vault.cached_len(), 1);
    vault
        .put(
            "u",
            "p",
            &secret("sk-second-0123456789abcde"),
            PutOptions::new(),
        )
        .unwrap();
    assert_eq!(
        vault.get("u", "p").unwrap().unwrap().expose_secret(),
        "sk-second-0123456789abcde"
    );
    vault.rotate().unwrap();
    vault.rewrap(10).unwrap();
    vault.retire(1).unwrap();
    // After retirement the cached blob (under key 1) must not be served.
    assert_eq!(
        vault.get("u", "p").unwrap().unwrap().expose_secret(),
        "sk-second-0123456789abcde"
    );
    vault.delete("u", "p").unwrap();
    assert!(vault.get("u", "p").unwrap().is_none());
}

fn cache_hits_do_not_touch_sqlite(db: &Db) {
    let vault = db.open_cached();
    vault
        .put(
            "u",
            "p",
            &secret("sk-cached-0123456789abcdef"),
            PutOptions::new(),
        )
        .unwrap();
    vault.get("u", "p").unwrap().unwrap();
    // Remove the row behind the vault's back: a cache hit still answers,
    // proving the read did not go to the database.
    db.raw().exec("DELETE FROM vault_secrets");
    assert_eq!(
        vault.get("u", "p").unwrap().unwrap().expose_secret(),
        "sk-cached-0123456789abcdef"
    );
    vault.clear_cache();
    assert!(vault.get("u", "p").unwrap().is_none());
}

fn rekey_replaces_the_master_key(db: &Db) {
    let vault = db.open_cached();
    vault
        .put(
            "u",
            "p",
            &secret("sk-rekey-0123456789abcdef"),
            PutOptions::new(),
        )
        .unwrap();
    vault.rekey(MasterKey::from_bytes([9; 32])).unwrap();
    vault.rotate().unwrap(); // uses the new master key to wrap
    drop(vault);
    assert!(matches!(
        db.open_with(MASTER, VaultConfig::default()),
        Err(OpenError::WrongMasterKey)
    ));
    let vault = db.open_with([9; 32], VaultConfig::default()).unwrap();
    assert_eq!(
        vault.get("u", "p").unwrap().unwrap().expose_secret(),
        "sk-rekey-0123456789abcdef"
    );
}

fn two_processes_see_each_others_rotation(db: &Db) {
    let a = db.open_uncached();
    let b = db.open_uncached();
    a.put(
        "u",
        "p",
        &secret("sk-shared-0123456789abcdef"),
        PutOptions::new(),
    )
    .unwrap();
    // b rotates, rewraps and retires key 1 while a still thinks key 1 is active.
    b.rotate().unwrap();
    b.rewrap(10).unwrap();
    b.retire(1).unwrap();
    // a reads a blob under key 2 (reloads its keyring) ...
    assert_eq!(
        a.get("u", "p").unwrap().unwrap().expose_secret(),
        "sk-shared-0123456789abcdef"
    );
    // ... and a write from a, whose in-memory active key was retired, lands under key 2.
    let info = a
        .put(
            "u",
            "q",
            &secret("sk-after-0123456789abcdef"),
            PutOptions::new(),
        )
        .unwrap();
    assert_eq!(info.key_id, 2);
}

fn async_front_works_without_a_runtime(db: &Db) {
    let vault = AsyncVault::new(db.open_cached(), 2).unwrap();
    let info = block_on(vault.put(
        "u",
        "p",
        secret("sk-async-0123456789abcdef"),
        PutOptions::new(),
    ))
    .unwrap();
    assert_eq!(info.last4.as_deref(), Some("cdef"));
    // Miss (worker thread), then hit (inline).
    for _ in 0..2 {
        let got = block_on(vault.get("u", "p")).unwrap().unwrap();
        assert_eq!(got.expose_secret(), "sk-async-0123456789abcdef");
    }
    assert_eq!(block_on(vault.list("u")).unwrap().len(), 1);
    let (key, report) = block_on(vault.rotate_and_rewrap(10)).unwrap();
    assert_eq!((key, report.rewrapped), (2, 1));
    assert!(block_on(vault.delete("u", "p")).unwrap());
    assert!(block_on(vault.get("u", "p")).unwrap().is_none());
}

/// Every 8-byte window of every plaintext, searched in the raw bytes of the
/// database, its WAL and its shared-memory file, during use and after close.
#[test]
fn database_files_never_hold_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let plain = Plaintexts::new(20);
    // The first file holding a plaintext fragment.
    let scan = || {
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            if let Some(w) = plain.find(&bytes) {
                return Some(format!("{} holds plaintext fragment {w:?}", path.display()));
            }
        }
        None
    };
    // Make sure the scan can see a plaintext if one were there.
    std::fs::write(dir.path().join("probe"), plain.secrets[0].as_bytes()).unwrap();
    assert!(
        scan().is_some(),
        "the scanner must detect a planted plaintext"
    );
    std::fs::remove_file(dir.path().join("probe")).unwrap();

    let vault = open_cached(dir.path());
    plain.put_documents(&vault);
    for (i, s) in plain.secrets.iter().enumerate() {
        vault
            .put("owner", &format!("raw{i}"), &secret(s), PutOptions::new())
            .unwrap();
    }
    vault.rotate().unwrap();
    vault.rewrap(5).unwrap();
    for i in 0..5 {
        vault.delete("owner", &format!("raw{i}")).unwrap();
    }
    assert!(
        dir.path().join("vault.db-wal").exists(),
        "WAL must be in use during the scan"
    );
    assert_eq!(scan(), None, "while open");
    drop(vault);
    assert_eq!(scan(), None, "after close");
}

on_both_backends!(
    put_get_list_info_delete,
    hint_from_a_field_of_a_structured_secret,
    rotation_interrupted_then_resumed_after_reopen,
    rewrap_skips_and_reports_undecryptable_rows,
    cache_is_invalidated_by_this_vaults_writes_and_rotation,
    cache_hits_do_not_touch_sqlite,
    rekey_replaces_the_master_key,
    two_processes_see_each_others_rotation,
    async_front_works_without_a_runtime,
);
