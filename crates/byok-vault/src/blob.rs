//! The on-disk format of an encrypted secret and its binding.
//!
//! ```text
//! blob = version (1 byte, = 1) | key id (u32, big endian) | nonce (24 bytes) | ciphertext || tag (16 bytes)
//! aad  = "byok-vault/v1/secret" 0x00
//!        | len32(owner) owner | len32(name) name | len32(secret id) secret id
//!        | len32(metadata) metadata | len32(hint) hint
//!        | version | key id
//! ```
//!
//! Every variable field is length-prefixed, so no two different records share
//! an AAD. The header bytes are part of the AAD, so a blob whose key id was
//! edited fails even if that key exists.

use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload, rand_core::RngCore};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::error::DecryptError;

/// The only blob format version this build writes and reads.
pub(crate) const VERSION: u8 = 1;
pub(crate) const NONCE_LEN: usize = 24;
pub(crate) const TAG_LEN: usize = 16;
pub(crate) const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// The shortest valid blob: header plus tag (an empty plaintext is refused
/// before encryption, but the parser does not rely on that).
pub(crate) const MIN_BLOB_LEN: usize = HEADER_LEN + TAG_LEN;

const SECRET_DOMAIN: &[u8] = b"byok-vault/v1/secret\0";
const KEYRING_DOMAIN: &[u8] = b"byok-vault/v1/keyring\0";
const CANARY_DOMAIN: &[u8] = b"byok-vault/v1/canary\0";
/// The plaintext of the canary; only its successful authentication matters.
pub(crate) const CANARY_PLAINTEXT: &[u8] = b"byok-vault canary: this master key opens this vault";

/// Everything a secret's ciphertext is bound to besides its key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binding<'a> {
    pub(crate) owner: &'a str,
    pub(crate) name: &'a str,
    pub(crate) secret_id: &'a str,
    pub(crate) metadata: Option<&'a str>,
    pub(crate) hint: Option<&'a str>,
}

fn push_field(aad: &mut Vec<u8>, field: &[u8]) {
    // Fields are bounded far below 4 GiB by validation; saturate rather than wrap.
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    aad.extend_from_slice(&len.to_be_bytes());
    aad.extend_from_slice(field);
}

fn secret_aad(binding: &Binding<'_>, header: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(
        SECRET_DOMAIN.len()
            + 20
            + binding.owner.len()
            + binding.name.len()
            + binding.secret_id.len()
            + binding.metadata.map_or(0, str::len)
            + binding.hint.map_or(0, str::len)
            + header.len(),
    );
    aad.extend_from_slice(SECRET_DOMAIN);
    push_field(&mut aad, binding.owner.as_bytes());
    push_field(&mut aad, binding.name.as_bytes());
    push_field(&mut aad, binding.secret_id.as_bytes());
    push_field(&mut aad, binding.metadata.unwrap_or("").as_bytes());
    push_field(&mut aad, binding.hint.unwrap_or("").as_bytes());
    aad.extend_from_slice(header);
    aad
}

/// Fills `buf` from the OS RNG.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), ()> {
    OsRng.try_fill_bytes(buf).map_err(|_| ())
}

fn header(key_id: u32, nonce: &[u8; NONCE_LEN]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = VERSION;
    h[1..5].copy_from_slice(&key_id.to_be_bytes());
    h[5..].copy_from_slice(nonce);
    h
}

/// The parsed fixed-size header of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) key_id: u32,
}

/// Parses the header of a blob, checking length and version only.
pub(crate) fn parse_header(blob: &[u8]) -> Result<Header, DecryptError> {
    if blob.len() < MIN_BLOB_LEN {
        return Err(DecryptError::Truncated {
            len: blob.len(),
            min: MIN_BLOB_LEN,
        });
    }
    let version = blob.first().copied().unwrap_or(0);
    if version != VERSION {
        return Err(DecryptError::UnsupportedVersion(version));
    }
    let mut id = [0u8; 4];
    id.copy_from_slice(blob.get(1..5).unwrap_or(&[0; 4]));
    Ok(Header {
        key_id: u32::from_be_bytes(id),
    })
}

/// Encrypts `plaintext` for `binding` under `cipher` (key `key_id`).
pub(crate) fn seal_secret(
    cipher: &XChaCha20Poly1305,
    key_id: u32,
    binding: &Binding<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, ()> {
    let mut nonce = [0u8; NONCE_LEN];
    random_bytes(&mut nonce)?;
    let header = header(key_id, &nonce);
    let aad = secret_aad(binding, &header);
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| ())?;
    let mut blob = Vec::with_capacity(HEADER_LEN + ct.len());
    blob.extend_from_slice(&header);
    blob.extend_from_slice(&ct);
    Ok(blob)
}

/// Decrypts a secret blob whose header has been parsed and whose key was
/// looked up by the caller from the key id in that header (never any other key).
pub(crate) fn open_secret(
    cipher: &XChaCha20Poly1305,
    binding: &Binding<'_>,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    parse_header(blob)?;
    let (header, ct) = blob.split_at(HEADER_LEN);
    let nonce = header.get(5..).ok_or(DecryptError::DecryptionFailed)?;
    let aad = secret_aad(binding, header);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
        .map(Zeroizing::new)
        .map_err(|_| DecryptError::DecryptionFailed)
}

/// Wraps a data key under the master key: `version | nonce | ct || tag`.
pub(crate) fn wrap_key(
    master: &XChaCha20Poly1305,
    key_id: u32,
    dek: &[u8; 32],
) -> Result<Vec<u8>, ()> {
    seal_simple(master, &keyring_aad(key_id), dek)
}

/// Unwraps a data key; fails if the master key or key id does not match.
pub(crate) fn unwrap_key(
    master: &XChaCha20Poly1305,
    key_id: u32,
    wrapped: &[u8],
) -> Result<Zeroizing<[u8; 32]>, DecryptError> {
    let plain = open_simple(master, &keyring_aad(key_id), wrapped)?;
    let mut key = Zeroizing::new([0u8; 32]);
    if plain.len() != 32 {
        return Err(DecryptError::DecryptionFailed);
    }
    key.copy_from_slice(&plain);
    Ok(key)
}

/// Seals the canary under the master key.
pub(crate) fn seal_canary(master: &XChaCha20Poly1305) -> Result<Vec<u8>, ()> {
    seal_simple(master, CANARY_DOMAIN, CANARY_PLAINTEXT)
}

/// Checks the canary: `true` when the master key opens it.
pub(crate) fn check_canary(
    master: &XChaCha20Poly1305,
    canary: &[u8],
) -> Result<bool, DecryptError> {
    match open_simple(master, CANARY_DOMAIN, canary) {
        Ok(plain) => Ok(plain.as_slice() == CANARY_PLAINTEXT),
        Err(DecryptError::DecryptionFailed) => Ok(false),
        Err(e) => Err(e),
    }
}

fn keyring_aad(key_id: u32) -> Vec<u8> {
    let mut aad = KEYRING_DOMAIN.to_vec();
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad
}

fn seal_simple(cipher: &XChaCha20Poly1305, aad: &[u8], msg: &[u8]) -> Result<Vec<u8>, ()> {
    let mut nonce = [0u8; NONCE_LEN];
    random_bytes(&mut nonce)?;
    let ct = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg, aad })
        .map_err(|_| ())?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open_simple(
    cipher: &XChaCha20Poly1305,
    aad: &[u8],
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let min = 1 + NONCE_LEN + TAG_LEN;
    if blob.len() < min {
        return Err(DecryptError::Truncated {
            len: blob.len(),
            min,
        });
    }
    let (head, ct) = blob.split_at(1 + NONCE_LEN);
    let version = head.first().copied().unwrap_or(0);
    if version != VERSION {
        return Err(DecryptError::UnsupportedVersion(version));
    }
    let nonce = head.get(1..).ok_or(DecryptError::DecryptionFailed)?;
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| DecryptError::DecryptionFailed)
}

/// Builds a cipher from raw key bytes. The cipher zeroizes its key on drop.
pub(crate) fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> Binding<'static> {
        Binding {
            owner: "alice",
            name: "openai",
            secret_id: "00ff",
            metadata: Some("{\"a\":1}"),
            hint: Some("abcd"),
        }
    }

    #[test]
    fn seal_open_round_trip_and_layout() {
        let c = cipher(&[7u8; 32]);
        let blob = seal_secret(&c, 42, &binding(), b"sk-secret").unwrap();
        assert_eq!(blob[0], VERSION);
        assert_eq!(&blob[1..5], &42u32.to_be_bytes());
        assert_eq!(blob.len(), HEADER_LEN + 9 + TAG_LEN);
        assert_eq!(parse_header(&blob).unwrap().key_id, 42);
        let plain = open_secret(&c, &binding(), &blob).unwrap();
        assert_eq!(plain.as_slice(), b"sk-secret");
    }

    #[test]
    fn nonces_differ_between_encryptions() {
        let c = cipher(&[7u8; 32]);
        let a = seal_secret(&c, 1, &binding(), b"same").unwrap();
        let b = seal_secret(&c, 1, &binding(), b"same").unwrap();
        assert_ne!(a[5..HEADER_LEN], b[5..HEADER_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn every_binding_field_matters() {
        let c = cipher(&[7u8; 32]);
        let blob = seal_secret(&c, 1, &binding(), b"value").unwrap();
        let variants = [
            Binding {
                owner: "bob",
                ..binding()
            },
            Binding {
                name: "anthropic",
                ..binding()
            },
            Binding {
                secret_id: "00fe",
                ..binding()
            },
            Binding {
                metadata: None,
                ..binding()
            },
            Binding {
                metadata: Some("{\"a\":2}"),
                ..binding()
            },
            Binding {
                hint: None,
                ..binding()
            },
            Binding {
                hint: Some("abce"),
                ..binding()
            },
            // Length prefixes: moving bytes between adjacent fields changes the AAD.
            Binding {
                owner: "aliceo",
                name: "penai",
                ..binding()
            },
        ];
        for v in variants {
            assert_eq!(
                open_secret(&c, &v, &blob).unwrap_err(),
                DecryptError::DecryptionFailed
            );
        }
    }

    #[test]
    fn header_key_id_is_authenticated() {
        let c = cipher(&[7u8; 32]);
        let mut blob = seal_secret(&c, 1, &binding(), b"value").unwrap();
        blob[4] = 2;
        assert_eq!(
            open_secret(&c, &binding(), &blob).unwrap_err(),
            DecryptError::DecryptionFailed
        );
    }

    #[test]
    fn short_and_versioned_inputs_are_typed_errors() {
        let c = cipher(&[7u8; 32]);
        for len in 0..MIN_BLOB_LEN {
            let blob = vec![VERSION; len];
            assert!(matches!(
                open_secret(&c, &binding(), &blob),
                Err(DecryptError::Truncated { .. })
            ));
        }
        let mut blob = seal_secret(&c, 1, &binding(), b"value").unwrap();
        blob[0] = 2;
        assert_eq!(
            open_secret(&c, &binding(), &blob).unwrap_err(),
            DecryptError::UnsupportedVersion(2)
        );
    }

    #[test]
    fn wrapped_keys_and_canary_are_bound() {
        let m = cipher(&[1u8; 32]);
        let other = cipher(&[2u8; 32]);
        let w = wrap_key(&m, 3, &[9u8; 32]).unwrap();
        assert_eq!(*unwrap_key(&m, 3, &w).unwrap(), [9u8; 32]);
        assert!(unwrap_key(&m, 4, &w).is_err());
        assert!(unwrap_key(&other, 3, &w).is_err());
        let canary = seal_canary(&m).unwrap();
        assert!(check_canary(&m, &canary).unwrap());
        assert!(!check_canary(&other, &canary).unwrap());
    }
}
