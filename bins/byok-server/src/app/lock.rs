//! The data directory's lock (`<data-dir>/byok.lock`, an advisory file
//! lock): every server holds it shared, `vault rotate-master-key` holds it
//! exclusively. A rotation under a running server would leave that server
//! with a keyring it can no longer unwrap until restarted; with the lock,
//! the command refuses while any server runs, and a server does not start
//! while a rotation runs.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use anyhow::Context as _;

/// The lock file's name in the data directory.
const LOCK_FILE: &str = "byok.lock";

/// A held lock on the data directory, released when dropped (or when the
/// process ends, however it ends).
#[derive(Debug)]
pub(crate) struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// The lock of a server: shared with other servers.
    ///
    /// # Errors
    /// While a `vault rotate-master-key` runs; I/O errors.
    pub(crate) fn shared(data_dir: &Path) -> anyhow::Result<Self> {
        let file = open(data_dir)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => anyhow::bail!(
                "`vault rotate-master-key` is running on {}: start the server when it has finished",
                data_dir.display()
            ),
            Err(TryLockError::Error(e)) => Err(e).context("cannot lock the data directory"),
        }
    }

    /// The lock of a master-key rotation: no server may run meanwhile.
    ///
    /// # Errors
    /// While a server (or another rotation) uses the directory; I/O errors.
    pub(crate) fn exclusive(data_dir: &Path, command: &str) -> anyhow::Result<Self> {
        let file = open(data_dir)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => anyhow::bail!(
                "a byok-server is running on {} (it holds {}): stop every server using this data directory, then run `{command}` again",
                data_dir.display(),
                data_dir.join(LOCK_FILE).display()
            ),
            Err(TryLockError::Error(e)) => Err(e).context("cannot lock the data directory"),
        }
    }
}

/// Opens (creates) the lock file; the directory must exist.
fn open(data_dir: &Path) -> anyhow::Result<File> {
    let path = data_dir.join(LOCK_FILE);
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_share_and_a_rotation_excludes() {
        let dir = tempfile::tempdir().unwrap();
        let a = DataDirLock::shared(dir.path()).unwrap();
        let b = DataDirLock::shared(dir.path()).unwrap();
        let err = DataDirLock::exclusive(dir.path(), "vault rotate-master-key")
            .unwrap_err()
            .to_string();
        assert!(err.contains("stop every server"), "{err}");
        drop((a, b));
        let rotation = DataDirLock::exclusive(dir.path(), "vault rotate-master-key").unwrap();
        let err = DataDirLock::shared(dir.path()).unwrap_err().to_string();
        assert!(err.contains("rotate-master-key"), "{err}");
        drop(rotation);
        DataDirLock::shared(dir.path()).unwrap();
    }
}
