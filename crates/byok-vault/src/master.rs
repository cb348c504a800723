//! The master key: 32 random bytes that wrap the vault's data keys.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use zeroize::{Zeroize, Zeroizing};

use crate::blob;
use crate::error::MasterKeyError;

/// Length of a master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;

/// The vault's master key (key-encryption key).
///
/// Held in a [`SecretBox`]: zeroized on drop, redacted in `Debug`, never
/// serialisable. It encrypts only the keyring's data keys and the canary, so
/// replacing it ([`crate::Vault::rekey`]) rewrites a handful of rows, not every
/// secret.
///
/// Sources, in the order an application usually tries them:
/// [`MasterKey::from_base64`] (an environment variable's value, e.g.
/// `BYOK_MASTER_KEY`), [`MasterKey::from_file`] (refused if group/world
/// accessible), [`MasterKey::load_or_generate`] (first start), or
/// [`MasterKey::from_bytes`].
///
/// ```
/// use byok_vault::MasterKey;
/// let key = MasterKey::generate()?;
/// let encoded = key.to_base64();
/// # use secrecy::ExposeSecret;
/// let again = MasterKey::from_base64(encoded.expose_secret())?;
/// assert_eq!(format!("{again:?}"), "MasterKey([REDACTED])");
/// # Ok::<(), byok_vault::MasterKeyError>(())
/// ```
pub struct MasterKey(SecretBox<[u8; MASTER_KEY_LEN]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

impl MasterKey {
    /// Wraps 32 bytes. The caller should zeroize its own copy.
    pub fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> Self {
        let mut bytes = bytes;
        let key = Self(SecretBox::new(Box::new(bytes)));
        bytes.zeroize();
        key
    }

    /// Generates a key from the OS random number generator.
    ///
    /// # Errors
    /// [`MasterKeyError::Rng`] if the OS RNG fails.
    pub fn generate() -> Result<Self, MasterKeyError> {
        let mut bytes = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        blob::random_bytes(bytes.as_mut_slice()).map_err(|()| MasterKeyError::Rng)?;
        Ok(Self::from_bytes(*bytes))
    }

    /// Parses standard base64 of exactly 32 bytes (surrounding whitespace is
    /// ignored), as found in `BYOK_MASTER_KEY` or a key file.
    ///
    /// # Errors
    /// [`MasterKeyError::InvalidEncoding`] for anything else; the value is
    /// never included in the error.
    pub fn from_base64(encoded: &str) -> Result<Self, MasterKeyError> {
        let decoded = Zeroizing::new(
            STANDARD
                .decode(encoded.trim())
                .map_err(|_| MasterKeyError::InvalidEncoding)?,
        );
        let bytes: [u8; MASTER_KEY_LEN] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| MasterKeyError::InvalidEncoding)?;
        Ok(Self::from_bytes(bytes))
    }

    /// Reads the key from environment variable `var` if it is set.
    ///
    /// A convenience for applications; the library itself never reads the
    /// environment.
    ///
    /// # Errors
    /// [`MasterKeyError::InvalidEncoding`] or [`MasterKeyError::NotUnicode`].
    pub fn from_env(var: &str) -> Result<Option<Self>, MasterKeyError> {
        match std::env::var(var) {
            Ok(value) => {
                let value = Zeroizing::new(value);
                Self::from_base64(&value).map(Some)
            }
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(MasterKeyError::NotUnicode(var.to_owned()))
            }
        }
    }

    /// Reads a key file holding the base64 key.
    ///
    /// On Unix the file must not be accessible by group or others (mode
    /// `0600` or stricter) and must be a regular file.
    ///
    /// # Errors
    /// [`MasterKeyError::InsecurePermissions`], [`MasterKeyError::NotAFile`],
    /// [`MasterKeyError::Io`] or [`MasterKeyError::InvalidEncoding`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, MasterKeyError> {
        let path = path.as_ref();
        let io = |source| MasterKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(MasterKeyError::NotAFile(path.display().to_string()));
        }
        check_permissions(path, &meta)?;
        // A key file is 45 bytes; refuse to read an unbounded amount.
        let mut text = Zeroizing::new(String::new());
        Read::by_ref(&mut file)
            .take(4096)
            .read_to_string(&mut text)
            .map_err(io)?;
        Self::from_base64(&text)
    }

    /// Loads the key file at `path`, or, if it does not exist, generates a new
    /// key and writes it there with mode `0600` (created exclusively, synced to
    /// disk together with its directory). Returns the key and whether it was
    /// created.
    ///
    /// Two processes starting at once agree on one key: the loser of the
    /// exclusive create reads the winner's file.
    ///
    /// # Errors
    /// As [`MasterKey::from_file`], plus I/O errors while creating the file.
    pub fn load_or_generate(path: impl AsRef<Path>) -> Result<(Self, bool), MasterKeyError> {
        let path = path.as_ref();
        match fs::symlink_metadata(path) {
            Ok(_) => return Ok((Self::from_file(path)?, false)),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(source) => {
                return Err(MasterKeyError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        }
        let key = Self::generate()?;
        match key.write_new_file(path) {
            Ok(()) => Ok((key, true)),
            Err(MasterKeyError::Io { source, .. }) if source.kind() == ErrorKind::AlreadyExists => {
                Ok((Self::from_file(path)?, false))
            }
            Err(e) => Err(e),
        }
    }

    /// Writes this key as base64 to a new file (never overwriting one) with
    /// mode `0600`, and syncs the file and its directory.
    ///
    /// The key is written to a temporary file in the same directory first and
    /// then hard-linked into place, so a crash never leaves a partial key file
    /// at `path`, and of two processes racing to create it exactly one wins.
    ///
    /// # Errors
    /// [`MasterKeyError::Io`], with kind `AlreadyExists` when the file exists.
    pub fn write_new_file(&self, path: impl AsRef<Path>) -> Result<(), MasterKeyError> {
        let path = path.as_ref();
        let io = |source| MasterKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut suffix = [0u8; 8];
        blob::random_bytes(&mut suffix).map_err(|()| MasterKeyError::Rng)?;
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(format!(".tmp-{:016x}", u64::from_le_bytes(suffix)));
        let tmp = std::path::PathBuf::from(tmp_name);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let written = (|| {
            let mut file = options.open(&tmp)?;
            let mut line = Zeroizing::new(STANDARD.encode(self.0.expose_secret()));
            line.push('\n');
            file.write_all(line.as_bytes())?;
            file.sync_all()?;
            // `hard_link` fails with AlreadyExists instead of replacing.
            fs::hard_link(&tmp, path)
        })();
        let _ = fs::remove_file(&tmp);
        written.map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Persist the directory entry; not supported on every platform.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// The key as standard base64, for showing once to an operator.
    pub fn to_base64(&self) -> SecretString {
        SecretString::from(STANDARD.encode(self.0.expose_secret()))
    }

    pub(crate) fn cipher(&self) -> chacha20poly1305::XChaCha20Poly1305 {
        blob::cipher(self.0.expose_secret())
    }
}

#[cfg(unix)]
fn check_permissions(path: &Path, meta: &fs::Metadata) -> Result<(), MasterKeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(MasterKeyError::InsecurePermissions {
            path: path.display().to_string(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path, _meta: &fs::Metadata) -> Result<(), MasterKeyError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_must_be_exactly_32_bytes() {
        assert!(matches!(
            MasterKey::from_base64("AAAA"),
            Err(MasterKeyError::InvalidEncoding)
        ));
        assert!(matches!(
            MasterKey::from_base64("not base64 at all!"),
            Err(MasterKeyError::InvalidEncoding)
        ));
        let ok = STANDARD.encode([5u8; 32]);
        assert!(MasterKey::from_base64(&format!("  {ok}\n")).is_ok());
        let long = STANDARD.encode([5u8; 33]);
        assert!(MasterKey::from_base64(&long).is_err());
    }

    #[test]
    fn errors_never_echo_the_value() {
        let secret = "c2VjcmV0LXZhbHVlLXRoYXQtaXMtbm90LTMyLWJ5dGVz";
        let err = MasterKey::from_base64(secret).unwrap_err();
        assert!(!err.to_string().contains(secret));
        assert!(!format!("{err:?}").contains(secret));
    }

    #[cfg(unix)]
    #[test]
    fn generated_file_is_0600_and_reloads() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let (a, created) = MasterKey::load_or_generate(&path).unwrap();
        assert!(created);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (b, created) = MasterKey::load_or_generate(&path).unwrap();
        assert!(!created);
        assert_eq!(a.0.expose_secret(), b.0.expose_secret());
    }

    #[cfg(unix)]
    #[test]
    fn loose_permissions_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        MasterKey::generate()
            .unwrap()
            .write_new_file(&path)
            .unwrap();
        for mode in [0o640, 0o604, 0o644, 0o660, 0o666] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            assert!(matches!(
                MasterKey::from_file(&path),
                Err(MasterKeyError::InsecurePermissions { .. })
            ));
            assert!(MasterKey::load_or_generate(&path).is_err());
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(MasterKey::from_file(&path).is_ok());
    }

    #[test]
    fn write_new_file_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        MasterKey::generate()
            .unwrap()
            .write_new_file(&path)
            .unwrap();
        let err = MasterKey::generate()
            .unwrap()
            .write_new_file(&path)
            .unwrap_err();
        assert!(
            matches!(err, MasterKeyError::Io { ref source, .. } if source.kind() == ErrorKind::AlreadyExists)
        );
    }
}
