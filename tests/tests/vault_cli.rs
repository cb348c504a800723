//! `byok-server vault ...`: master-key rotation end to end, including the
//! recovery of a rotation interrupted between the database commit and the
//! key file rename.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use byok_server::{
    KeySource, Settings, VaultCommand, open_vault, pending_key_path, run_vault_command,
};
use byok_vault::secrecy::{ExposeSecret, SecretString};
use byok_vault::{MasterKey, PutOptions};

fn settings(dir: &std::path::Path) -> Settings {
    Settings::for_data_dir(dir.join("data"))
}

fn status(s: &Settings) -> serde_json::Value {
    let mut out = Vec::new();
    run_vault_command(s, &VaultCommand::Status, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn rotate_master_key_with_a_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let v = open_vault(&s).unwrap();
    assert_eq!(
        v.source,
        KeySource::File(dir.path().join("data/master.key"))
    );
    v.vault
        .put(
            "u",
            "openai",
            &SecretString::from("sk-rotate-cli-0123456789abcdef"),
            PutOptions::new(),
        )
        .unwrap();
    drop(v);
    let key_before = std::fs::read_to_string(dir.path().join("data/master.key")).unwrap();

    let rotate = VaultCommand::RotateMasterKey {
        batch_size: 1,
        new_key_file: None,
    };
    run_vault_command(&s, &rotate, &mut Vec::new()).unwrap();

    let key_after = std::fs::read_to_string(dir.path().join("data/master.key")).unwrap();
    assert_ne!(key_before, key_after);
    assert!(!pending_key_path(&dir.path().join("data/master.key")).exists());
    assert_eq!(
        status(&s),
        serde_json::json!({"keys": [{"key_id": 2, "active": true, "secrets": 1}]})
    );
    let v = open_vault(&s).unwrap();
    assert_eq!(
        v.vault.get("u", "openai").unwrap().unwrap().expose_secret(),
        "sk-rotate-cli-0123456789abcdef"
    );
}

#[test]
fn interrupted_rotation_is_completed_at_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let v = open_vault(&s).unwrap().vault;
    v.put(
        "u",
        "groq",
        &SecretString::from("gsk-interrupted-0123456789"),
        PutOptions::new(),
    )
    .unwrap();
    // Simulate a crash after the commit and before the rename: the new key
    // sits in master.key.new and the database is wrapped under it.
    let key_path = dir.path().join("data/master.key");
    let new = MasterKey::generate().unwrap();
    let copy = MasterKey::from_base64(new.to_base64().expose_secret()).unwrap();
    new.write_new_file(pending_key_path(&key_path)).unwrap();
    v.rekey(copy).unwrap();
    drop(v);

    let v = open_vault(&s).expect("recovers with the pending key").vault;
    assert!(!pending_key_path(&key_path).exists());
    assert_eq!(
        v.get("u", "groq").unwrap().unwrap().expose_secret(),
        "gsk-interrupted-0123456789"
    );
}

#[test]
fn env_master_key_needs_a_file_for_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    let key = MasterKey::generate().unwrap();
    s.master_key = Some(key.to_base64().expose_secret().into());
    open_vault(&s).unwrap();
    let refused = VaultCommand::RotateMasterKey {
        batch_size: 10,
        new_key_file: None,
    };
    let err = run_vault_command(&s, &refused, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("--new-key-file"));

    let target = dir.path().join("new.key");
    let rotate = VaultCommand::RotateMasterKey {
        batch_size: 10,
        new_key_file: Some(target.clone()),
    };
    run_vault_command(&s, &rotate, &mut Vec::new()).unwrap();
    // The old env key no longer opens the vault; the written one does.
    assert!(open_vault(&s).is_err());
    s.master_key = Some(std::fs::read_to_string(&target).unwrap().trim().into());
    open_vault(&s).unwrap();
}
