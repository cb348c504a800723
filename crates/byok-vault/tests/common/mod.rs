#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use byok_vault::secrecy::SecretString;
use byok_vault::{MasterKey, Vault, VaultConfig};

pub const MASTER: [u8; 32] = [42; 32];

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("vault.db")
}

/// A vault with the cache off, so every read goes to the file.
pub fn open_uncached(dir: &Path) -> Vault {
    Vault::open_sqlite(
        db_path(dir),
        MasterKey::from_bytes(MASTER),
        VaultConfig::default().cache_capacity(0),
    )
    .unwrap()
}

pub fn open_cached(dir: &Path) -> Vault {
    Vault::open_sqlite(
        db_path(dir),
        MasterKey::from_bytes(MASTER),
        VaultConfig::default(),
    )
    .unwrap()
}

pub fn raw(dir: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(db_path(dir)).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    c
}

pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

pub fn blob_of(conn: &rusqlite::Connection, owner: &str, name: &str) -> Vec<u8> {
    conn.query_row(
        "SELECT blob FROM vault_secrets WHERE owner = ?1 AND name = ?2",
        [owner, name],
        |r| r.get(0),
    )
    .unwrap()
}

pub fn set_blob(conn: &rusqlite::Connection, owner: &str, name: &str, blob: &[u8]) {
    let n = conn
        .execute(
            "UPDATE vault_secrets SET blob = ?1 WHERE owner = ?2 AND name = ?3",
            rusqlite::params![blob, owner, name],
        )
        .unwrap();
    assert_eq!(n, 1);
}

/// Minimal executor for the async API: the vault's futures need no runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
