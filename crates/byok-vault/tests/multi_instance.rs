//! Several vault instances on one store (as several gateway processes would
//! be): master-key rotation, data-key rotation and rewrapping while another
//! instance reads and writes. Run on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use byok_vault::secrecy::ExposeSecret;
use byok_vault::{MasterKey, OpenError, PutOptions, StoreError, VaultConfig, VaultError};
use common::*;

const NEW_MASTER: [u8; 32] = [7; 32];

fn value(owner: &str, name: &str, round: usize) -> String {
    format!("sk-{owner}-{name}-{round:04}-0123456789abcdef")
}

/// Instance A replaces the master key while instance B reads and writes.
/// During the switch B sees no error at all (a rekey re-wraps the keyring,
/// not the data keys B holds); afterwards, once A also rotates the data key
/// and retires the old one, B's keyring-dependent calls fail with the clear
/// `MasterKeyChanged` until B reopens with the new master key. No secret is
/// lost, and both open with the new key afterwards.
fn rekey_while_another_instance_reads_and_writes(db: &Db) {
    let a = db.open_uncached();
    let b = db.open_uncached();
    let mut expected = BTreeMap::new();
    for i in 0..30 {
        let name = format!("seed{i:02}");
        let v = value("a", &name, 0);
        a.put("a", &name, &secret(&v), PutOptions::new()).unwrap();
        expected.insert(("a".to_owned(), name), v);
    }
    let stop = AtomicBool::new(false);
    let b_acked = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut acked = BTreeMap::new();
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) || round < 20 {
                round += 1;
                let name = format!("b{:02}", round % 25);
                let v = value("b", &name, round);
                b.put("b", &name, &secret(&v), PutOptions::new()).unwrap();
                acked.insert(("b".to_owned(), name.clone()), v.clone());
                assert_eq!(b.get("b", &name).unwrap().unwrap().expose_secret(), v);
                let seed = format!("seed{:02}", round % 30);
                assert_eq!(
                    b.get("a", &seed).unwrap().unwrap().expose_secret(),
                    value("a", &seed, 0)
                );
            }
            acked
        });
        std::thread::sleep(Duration::from_millis(30));
        a.rekey(MasterKey::from_bytes(NEW_MASTER)).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap()
    });
    expected.extend(b_acked);

    // A starts using a data key wrapped under the new master key and retires the old one.
    assert_eq!(a.rotate().unwrap(), 2);
    assert!(a.rewrap(7).unwrap().complete);
    a.retire(1).unwrap();
    // B (old master key in memory) now needs the keyring: a clear error, not a wrong answer.
    assert!(matches!(
        b.get("a", "seed00"),
        Err(VaultError::MasterKeyChanged)
    ));
    assert!(matches!(
        b.put(
            "b",
            "late",
            &secret("sk-late-0123456789abcdef"),
            PutOptions::new()
        ),
        Err(VaultError::MasterKeyChanged)
    ));
    assert!(matches!(b.rotate(), Err(VaultError::MasterKeyChanged)));
    assert!(matches!(
        b.rekey(MasterKey::from_bytes([3; 32])),
        Err(VaultError::MasterKeyChanged)
    ));
    drop((a, b));

    // Both instances reopen with the new key; the old one is refused.
    assert!(matches!(
        db.open_with(MASTER, VaultConfig::default()),
        Err(OpenError::WrongMasterKey)
    ));
    for _instance in 0..2 {
        assert_all_readable(db, NEW_MASTER, &expected);
    }
    assert!(
        db.open_uncached_with(NEW_MASTER)
            .get("b", "late")
            .unwrap()
            .is_none()
    );
}

fn assert_all_readable(db: &Db, master: [u8; 32], expected: &BTreeMap<(String, String), String>) {
    let v = db.open_uncached_with(master);
    for ((owner, name), want) in expected {
        assert_eq!(
            v.get(owner, name).unwrap().unwrap().expose_secret(),
            want,
            "{owner}/{name}"
        );
    }
}

/// A rotation racing a master-key change must never store a data key wrapped
/// under the replaced master key (the keyring would no longer open).
fn rotation_racing_rekey_keeps_the_keyring_consistent(db: &Db) {
    for round in 0..4u8 {
        let old = if round == 0 { MASTER } else { [round; 32] };
        let new = [round + 1; 32];
        let a = db
            .open_with(old, VaultConfig::default().cache_capacity(0))
            .unwrap();
        let b = db
            .open_with(old, VaultConfig::default().cache_capacity(0))
            .unwrap();
        let acked = std::thread::scope(|scope| {
            let rotator = scope.spawn(|| {
                let mut acked = Vec::new();
                for i in 0..15 {
                    match b.rotate() {
                        Ok(_) | Err(VaultError::Store(StoreError::Conflict)) => {}
                        Err(VaultError::MasterKeyChanged) => break,
                        Err(e) => panic!("rotate: {e:?}"),
                    }
                    let name = format!("r{round}-{i}");
                    let v = value("b", &name, usize::from(round));
                    match b.put("b", &name, &secret(&v), PutOptions::new()) {
                        Ok(_) => acked.push((name, v)),
                        Err(VaultError::MasterKeyChanged) => break,
                        Err(e) => panic!("put: {e:?}"),
                    }
                }
                acked
            });
            std::thread::sleep(Duration::from_millis(u64::from(round) * 3));
            // Documented: Conflict while others keep rotating; the caller retries.
            let mut tries = 0;
            loop {
                match a.rekey(MasterKey::from_bytes(new)) {
                    Ok(()) => break,
                    Err(VaultError::Store(StoreError::Conflict)) if tries < 100 => tries += 1,
                    Err(e) => panic!("rekey: {e:?}"),
                }
            }
            rotator.join().unwrap()
        });
        drop((a, b));
        // Every stored key unwraps under the new master key.
        let v = db
            .open_with(new, VaultConfig::default().cache_capacity(0))
            .unwrap();
        for (name, want) in &acked {
            assert_eq!(v.get("b", name).unwrap().unwrap().expose_secret(), want);
        }
    }
}

/// Rewrapping under a new key while another instance overwrites the same
/// secrets: the newest write always wins (a rewrap never writes back an older
/// value), and the old key retires once nothing uses it.
fn rewrap_racing_writes_loses_no_update(db: &Db) {
    let a = db.open_uncached();
    // B keeps writing under key 1 (it never needs to reload), so every write
    // makes its row a rewrap candidate again.
    let b = db.open_uncached();
    let names: Vec<String> = (0..40).map(|i| format!("s{i:02}")).collect();
    for name in &names {
        b.put("b", name, &secret(&value("b", name, 0)), PutOptions::new())
            .unwrap();
    }
    a.rotate().unwrap();
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for round in 1..=15 {
                for name in &names {
                    b.put(
                        "b",
                        name,
                        &secret(&value("b", name, round)),
                        PutOptions::new(),
                    )
                    .unwrap();
                }
                // Every write of this round is still there, readable, and the newest.
                for name in &names {
                    let got = b.get("b", name).unwrap().unwrap();
                    assert_eq!(
                        got.expose_secret(),
                        value("b", name, round),
                        "round {round}"
                    );
                }
            }
        });
        let mut passes = 0;
        // Until the writer ends (or fails: then its join reports why).
        while !writer.is_finished() {
            let report = a.rewrap(4).unwrap();
            assert_eq!(report.failed, 0);
            passes += 1;
        }
        writer.join().unwrap();
        assert!(passes > 1, "the rewraps must overlap the writes");
    });
    assert!(a.rewrap(8).unwrap().complete);
    a.retire(1).unwrap();
    let v = db.open_uncached();
    for name in &names {
        assert_eq!(
            v.get("b", name).unwrap().unwrap().expose_secret(),
            value("b", name, 15)
        );
    }
    assert!(v.keys().unwrap().iter().all(|k| k.key_id == 2));
}

on_both_backends!(
    rekey_while_another_instance_reads_and_writes,
    rotation_racing_rekey_keeps_the_keyring_consistent,
    rewrap_racing_writes_loses_no_update,
);
