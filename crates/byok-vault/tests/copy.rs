//! `copy_store`: a SQLite store copied into an empty store of each backend
//! (SQLite always; PostgreSQL with the `postgres` feature and
//! `BYOK_TEST_DATABASE_URL`), ciphertext only, checked, all or nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[macro_use]
mod common;

use byok_vault::secrecy::{ExposeSecret, SecretSlice};
use byok_vault::{CopyError, Hint, OpenError, PutOptions, StoreError, VaultConfig, copy_store};
use common::*;

/// Owners whose byte order differs from a language's (case, accents): the
/// two backends must page them in the same order.
const OWNERS: [&str; 5] = ["Zed", "alice", "Émile", "bob", "_x"];

/// A source vault with secrets of every shape under two data keys with
/// ids that are not 1 (rotated, re-encrypted, retired, rotated again);
/// returns every `(owner, name, plaintext)` stored.
fn fill(source: &Db, plain: &Plaintexts) -> Vec<(String, String, Vec<u8>)> {
    let vault = source.open_uncached();
    let mut stored = Vec::new();
    plain.put_documents(&vault);
    for (i, s) in plain.secrets.iter().enumerate() {
        let doc = format!("{{\"apiKey\":\"{s}\"}}");
        stored.push(("owner".to_owned(), format!("p{i}"), doc.into_bytes()));
    }
    for (i, owner) in OWNERS.iter().enumerate() {
        let key = format!("sk-{i}-0123456789abcdefghij");
        let options = PutOptions::new().metadata(serde_json::json!({"priority": i}));
        vault.put(owner, "openai", &secret(&key), options).unwrap();
        stored.push((owner.to_string(), "openai".into(), key.into_bytes()));
        let key = format!("gsk-{i}-short");
        let options = PutOptions::new().hint(Hint::None);
        vault
            .put(owner, "OpenRouter/work", &secret(&key), options)
            .unwrap();
        stored.push((
            owner.to_string(),
            "OpenRouter/work".into(),
            key.into_bytes(),
        ));
    }
    let bytes = vec![0_u8, 255, 1, 2, 0];
    let binary = SecretSlice::from(bytes.clone());
    vault
        .put_bytes("bob", "binary", &binary, PutOptions::new())
        .unwrap();
    stored.push(("bob".into(), "binary".into(), bytes));
    assert_eq!(vault.rotate().unwrap(), 2);
    assert!(vault.rewrap(100).unwrap().complete);
    vault.retire(1).unwrap();
    assert_eq!(vault.rotate().unwrap(), 3);
    // Overwritten under key 3 (created_at kept, updated_at new).
    let key = "sk-overwritten-0123456789abcdef";
    vault
        .put("alice", "openai", &secret(key), PutOptions::new())
        .unwrap();
    stored.retain(|(o, n, _)| (o.as_str(), n.as_str()) != ("alice", "openai"));
    stored.push(("alice".into(), "openai".into(), key.as_bytes().to_vec()));
    stored
}

fn copies_every_record_and_opens_with_the_same_master_key_only(target: &Db) {
    let source = Db::sqlite();
    let plain = Plaintexts::new(8);
    let stored = fill(&source, &plain);
    let (from, to) = (source.store(), target.store());
    if target.is_postgres() {
        language_collation(target);
    }

    let report = copy_store(&*from, &*to).unwrap();
    assert_eq!(report.keys, 2);
    assert_eq!(report.secrets, stored.len() as u64);
    assert_eq!(
        report.secrets_by_key,
        vec![(2, stored.len() as u64 - 1), (3, 1)]
    );
    assert_eq!(report.secrets_by_key, to.count_by_key().unwrap());

    // Every row as stored, byte for byte, in the same order on both.
    assert_eq!(to.load_keyring().unwrap(), from.load_keyring().unwrap());
    let records = from.scan(None, 1_000).unwrap();
    assert_eq!(records.len(), stored.len());
    assert_eq!(to.scan(None, 1_000).unwrap(), records);
    let mut names: Vec<_> = records.iter().map(|r| r.owner.as_bytes()).collect();
    names.dedup();
    assert_eq!(
        names,
        ["Zed", "_x", "alice", "bob", "owner", "Émile"].map(str::as_bytes),
        "byte order"
    );

    // The target never held a plaintext: ciphertext moved, nothing else.
    let bytes = target.stored_bytes();
    let blob = &records[0].blob;
    assert!(
        bytes
            .iter()
            .any(|b| b.windows(blob.len()).any(|w| w == blob)),
        "the scan must see the stored blobs"
    );
    assert_eq!(bytes.iter().find_map(|b| plain.find(b)), None);

    // Opened with the source's master key, the copy reads every secret back.
    let (copy, original) = (target.open_uncached(), source.open_uncached());
    for (owner, name, plaintext) in &stored {
        let got = copy.get_bytes(owner, name).unwrap().unwrap();
        assert_eq!(got.expose_secret(), plaintext.as_slice(), "{owner}/{name}");
    }
    assert_eq!(copy.keys().unwrap(), original.keys().unwrap());
    // (`list` orders by name in each database's collation.)
    let listed = |vault: &byok_vault::Vault, owner: &str| {
        let mut infos = vault.list(owner).unwrap();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        infos
    };
    for owner in OWNERS.iter().chain(&["owner"]) {
        assert_eq!(listed(&copy, owner), listed(&original, owner));
    }
    // And with no other.
    assert!(matches!(
        target.open_with([7; 32], VaultConfig::default()),
        Err(OpenError::WrongMasterKey)
    ));
    // It is a vault like any other: the next key follows the copied ones.
    assert_eq!(copy.rotate().unwrap(), 4);
}

/// Gives the owner and name columns a language's collation (as a
/// database created with `en_US.UTF-8` has), where "Zed" sorts after
/// "alice": paging must still go by bytes. The test server's default is
/// `C.UTF-8`, which orders as bytes.
fn language_collation(db: &Db) {
    let raw = db.raw();
    let collation = "en-US-x-icu";
    let found = raw.count(&format!(
        "SELECT count(*) FROM pg_collation WHERE collname = '{collation}'"
    ));
    assert_eq!(found, 1, "the test server has no {collation} collation");
    raw.exec(&format!(
        r#"ALTER TABLE vault_secrets ALTER COLUMN owner TYPE text COLLATE "{collation}",
                                   ALTER COLUMN name TYPE text COLLATE "{collation}""#
    ));
    assert_eq!(raw.count("SELECT ('Zed' < 'alice')::int::bigint"), 1);
    assert_eq!(
        raw.count(&format!(
            r#"SELECT ('Zed' COLLATE "{collation}" < 'alice')::int::bigint"#
        )),
        0
    );
}

/// The key [`source_with_one_secret`] stores.
const SOURCE_KEY: &str = "sk-source-0123456789abcdef";

/// A SQLite vault holding `owner`'s `openai` key, [`SOURCE_KEY`].
fn source_with_one_secret(owner: &str) -> Db {
    let source = Db::sqlite();
    source
        .open_uncached()
        .put(owner, "openai", &secret(SOURCE_KEY), PutOptions::new())
        .unwrap();
    source
}

fn a_non_empty_target_is_refused_and_left_unchanged(target: &Db) {
    let source = source_with_one_secret("u");
    let from = source.store();

    // A target that is a vault of its own: its keyring only, then a secret.
    let other = target.open_uncached_with([7; 32]);
    let to = target.store();
    let err = copy_store(&*from, &*to).unwrap_err();
    assert!(
        matches!(
            err,
            CopyError::TargetNotEmpty {
                keyring: true,
                keys: 1,
                secrets: 0
            }
        ),
        "{err:?}"
    );
    other
        .put(
            "v",
            "groq",
            &secret("gsk-target-0123456789abcdef"),
            PutOptions::new(),
        )
        .unwrap();
    let before = (to.load_keyring().unwrap(), to.scan(None, 100).unwrap());
    let err = copy_store(&*from, &*to).unwrap_err();
    assert!(
        matches!(
            err,
            CopyError::TargetNotEmpty {
                keyring: true,
                keys: 1,
                secrets: 1
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(
        (to.load_keyring().unwrap(), to.scan(None, 100).unwrap()),
        before
    );
    let got = target.open_uncached_with([7; 32]).get("v", "groq").unwrap();
    assert_eq!(got.unwrap().expose_secret(), "gsk-target-0123456789abcdef");

    // A copy run again into its own result is refused the same way.
    let fresh = target.another();
    let to = fresh.store();
    copy_store(&*from, &*to).unwrap();
    let before = (to.load_keyring().unwrap(), to.scan(None, 100).unwrap());
    assert!(matches!(
        copy_store(&*from, &*to),
        Err(CopyError::TargetNotEmpty {
            keyring: true,
            keys: 1,
            secrets: 1
        })
    ));
    assert_eq!(
        (to.load_keyring().unwrap(), to.scan(None, 100).unwrap()),
        before
    );

    // A source that was never a vault is refused, the target untouched.
    let empty = Db::sqlite();
    let fresh = target.another();
    let to = fresh.store();
    assert!(matches!(
        copy_store(&*empty.store(), &*to),
        Err(CopyError::SourceEmpty)
    ));
    assert_eq!(to.load_keyring().unwrap(), None);
}

fn a_copy_that_fails_midway_leaves_the_target_empty(target: &Db) {
    let source = source_with_one_secret("a");
    // More than a page of rows (the copy reads 500 at a time), then a row
    // whose key is not in the keyring (past the foreign key): the copy
    // fails after writing pages.
    let raw = source.raw();
    raw.exec(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600)
         INSERT INTO vault_secrets (owner, name, secret_id, key_id, blob, metadata, hint, created_at, updated_at)
         SELECT 'bulk', printf('n%04d', i), printf('bulk-%d', i), 1, x'0102', '{}', NULL, i, i + 1 FROM n",
    );
    raw.exec("PRAGMA foreign_keys = OFF");
    raw.exec(
        "INSERT INTO vault_secrets (owner, name, secret_id, key_id, blob, created_at, updated_at)
         VALUES ('zz', 'bad', 'bad', 99, x'00', 0, 0)",
    );
    let (from, to) = (source.store(), target.store());
    let err = copy_store(&*from, &*to).unwrap_err();
    assert!(
        matches!(err, CopyError::Target(StoreError::MissingKey(99))),
        "{err:?}"
    );
    assert_eq!(to.load_keyring().unwrap(), None);
    assert!(to.count_by_key().unwrap().is_empty());
    assert!(to.scan(None, 1).unwrap().is_empty());

    // Without that row, another try copies everything.
    raw.exec("DELETE FROM vault_secrets WHERE owner = 'zz'");
    let report = copy_store(&*from, &*to).unwrap();
    assert_eq!(
        (report.secrets, report.secrets_by_key),
        (601, vec![(1, 601)])
    );
    assert_eq!(
        to.scan(None, 1_000).unwrap(),
        from.scan(None, 1_000).unwrap()
    );
    let got = target.open_uncached().get("a", "openai").unwrap().unwrap();
    assert_eq!(got.expose_secret(), SOURCE_KEY);
}

/// `scan` pages: each page starts after the last record of the one
/// before, and the pages together are the whole store, once each.
fn scan_pages_through_every_record_once(db: &Db) {
    let vault = db.open_uncached();
    if db.is_postgres() {
        language_collation(db);
    }
    for owner in OWNERS {
        for name in ["b", "A", "a"] {
            let key = format!("sk-{owner}-{name}-0123456789abcdef");
            vault
                .put(owner, name, &secret(&key), PutOptions::new())
                .unwrap();
        }
    }
    let store = db.store();
    let all = store.scan(None, 100).unwrap();
    assert_eq!(all.len(), 15);
    assert!(all.iter().all(|r| !r.blob.is_empty()), "blobs are read");
    let mut keys: Vec<_> = all
        .iter()
        .map(|r| (r.owner.clone(), r.name.clone()))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        all.iter()
            .map(|r| (r.owner.clone(), r.name.clone()))
            .collect::<Vec<_>>(),
        "ordered by owner, then name, as bytes"
    );
    let mut paged = Vec::new();
    loop {
        let after = paged
            .last()
            .map(|r: &byok_vault::SecretRecord| (r.owner.as_str(), r.name.as_str()));
        let page = store.scan(after, 4).unwrap();
        assert!(page.len() <= 4);
        if page.is_empty() {
            break;
        }
        paged.extend(page);
    }
    assert_eq!(paged, all);
}

on_both_backends!(
    copies_every_record_and_opens_with_the_same_master_key_only,
    a_non_empty_target_is_refused_and_left_unchanged,
    a_copy_that_fails_midway_leaves_the_target_empty,
    scan_pages_through_every_record_once,
);
