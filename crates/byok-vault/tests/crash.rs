//! Crash test (security.md item 15): a child process writes secrets, rotates
//! and rewraps, printing each id after its commit; the parent kills it with
//! SIGKILL at random moments, then checks that every acknowledged write is
//! present and decrypts, `PRAGMA integrity_check` is `ok`, and no row is
//! half-rotated.
//!
//! This target has its own `main` (`harness = false`): run as
//! `crash --child DIR START` it is the child. Iterations default to 12;
//! `BYOK_CRASH_ITERATIONS=500 cargo test -p byok-vault --test crash` runs more.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use byok_vault::secrecy::{ExposeSecret, SecretString};
use byok_vault::{MasterKey, PutOptions, Vault, VaultConfig};

fn value(i: u64) -> String {
    format!("sk-crash-{i:010}-abcdefghijklmnopqrstuvwxyz")
}

fn owner(i: u64) -> String {
    format!("owner-{}", i % 7)
}

fn open(dir: &Path) -> Vault {
    let (master, _) = MasterKey::load_or_generate(dir.join("master.key")).expect("master key");
    Vault::open_sqlite(
        dir.join("vault.db"),
        master,
        VaultConfig::default().cache_capacity(0),
    )
    .expect("open vault after crash")
}

fn child(dir: &Path, start: u64) {
    let vault = open(dir);
    let mut out = std::io::stdout().lock();
    for i in start.. {
        vault
            .put(
                &owner(i),
                &format!("name-{i}"),
                &SecretString::from(value(i)),
                PutOptions::new(),
            )
            .expect("put");
        writeln!(out, "{i}").expect("stdout");
        out.flush().expect("flush");
        if i % 25 == 24 {
            vault.rotate().expect("rotate");
            vault.rewrap(5).expect("rewrap");
            for k in vault.keys().expect("keys") {
                if !k.active && k.secrets == 0 {
                    vault.retire(k.key_id).expect("retire");
                }
            }
        }
    }
}

/// A small xorshift generator seeded from the clock: the kill moments vary
/// between runs, and the seed is printed so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn verify(dir: &Path, acked: &BTreeSet<u64>) {
    let vault = open(dir);
    for &i in acked {
        let got = vault
            .get(&owner(i), &format!("name-{i}"))
            .unwrap_or_else(|e| panic!("acknowledged id {i} does not decrypt: {e}"))
            .unwrap_or_else(|| panic!("acknowledged id {i} is missing"));
        assert_eq!(got.expose_secret(), value(i));
    }
    let conn = rusqlite::Connection::open(dir.join("vault.db")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let fk: Vec<String> = conn
        .prepare("PRAGMA foreign_key_check")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(fk.is_empty(), "rows point at retired keys: {fk:?}");
    let mut stmt = conn
        .prepare("SELECT key_id, blob FROM vault_secrets")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .unwrap();
    for row in rows {
        let (key_id, blob) = row.unwrap();
        let header = u32::from_be_bytes(blob[1..5].try_into().unwrap());
        assert_eq!(
            header, key_id,
            "half-rotated row: column says {key_id}, blob says {header}"
        );
    }
    let active: i64 = conn
        .query_row(
            "SELECT count(*) FROM vault_keys WHERE active = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(active, 1);
}

fn parent() {
    let iterations: u64 = std::env::var("BYOK_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    println!("crash test: {iterations} kills, seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked = BTreeSet::new();
    let started = Instant::now();
    for round in 0..iterations {
        let mut child = Command::new(&exe)
            .arg("--child")
            .arg(dir.path())
            .arg((round * 1_000_000).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.trim().parse::<u64>().ok())
                .collect::<Vec<_>>()
        });
        // Kill at a random moment between 5 ms and 300 ms after start.
        std::thread::sleep(Duration::from_millis(5 + rng.next() % 295));
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        assert!(!status.success(), "child exited by itself: {status}");
        let ids = reader.join().unwrap();
        acked.extend(ids);
        verify(dir.path(), &acked);
    }
    assert!(!acked.is_empty(), "the child never acknowledged a write");
    println!(
        "test crash_kill_restart ... ok ({} acknowledged writes survived {iterations} SIGKILLs in {:.1?})",
        acked.len(),
        started.elapsed()
    );
    println!("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        let dir = Path::new(&args[pos + 1]).to_path_buf();
        let start: u64 = args[pos + 2].parse().unwrap();
        child(&dir, start);
        return;
    }
    // `cargo test -- --list` and filters from the harness are accepted and ignored.
    if args.iter().any(|a| a == "--list") {
        println!("crash_kill_restart: test");
        return;
    }
    parent();
}
