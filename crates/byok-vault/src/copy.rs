//! Copying one store into another ([`copy_store`]): a migration from one
//! backend to another (SQLite to PostgreSQL) without the master key.

use crate::error::StoreError;
use crate::store::{SecretRecord, SecretStore};

/// Records per page, read from the source and compared.
const PAGE: usize = 500;

/// What [`copy_store`] copied, as verified on both stores.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyReport {
    /// Data keys copied (wrapped, as stored).
    pub keys: usize,
    /// Secrets copied.
    pub secrets: u64,
    /// Secrets per data key id, ordered by key id: the same on both stores.
    pub secrets_by_key: Vec<(u32, u64)>,
}

/// Why [`copy_store`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// The source has no keyring (it was never opened as a vault): there is
    /// nothing to copy, and most likely the wrong store was named.
    #[error("the source store holds no keyring: nothing to copy (is it the right store?)")]
    SourceEmpty,
    /// The target already holds a keyring, data keys or secrets; nothing
    /// was written to it.
    #[error(
        "the target store is not empty (keyring: {keyring}, {keys} data key(s), {secrets} secret(s)); nothing was copied"
    )]
    TargetNotEmpty {
        /// Whether it holds a keyring (its canary).
        keyring: bool,
        /// How many data keys it holds.
        keys: u64,
        /// How many secrets it holds.
        secrets: u64,
    },
    /// Reading the source failed (before the copy was committed: nothing
    /// was written; or while verifying it).
    #[error("reading the source store: {0}")]
    Source(#[source] StoreError),
    /// Writing or reading the target failed (while copying: nothing was
    /// written; or while verifying the copy).
    #[error("the target store: {0}")]
    Target(#[source] StoreError),
    /// The copy was committed but does not match its source (the source
    /// changed during the copy, or a store misbehaves): do not use the
    /// target. Names the first difference (key ids and secret names, never
    /// a blob).
    #[error("the copy does not match its source: {0}")]
    Mismatch(String),
}

/// Copies every stored record of `from` into `to`, which must be empty,
/// then checks the copy. Nothing is decrypted and no master key is needed:
/// the keyring moves wrapped, the secrets as ciphertext, so the target
/// opens ([`crate::Vault::open`]) with the master key of the source and
/// with no other.
///
/// - **What moves**: the keyring (the canary and every data key with its
///   id, wrapped bytes, active flag and creation time) and every secret
///   record, every field as stored (owner, name, secret id, key id, blob,
///   metadata, hint, creation and update times).
/// - **One transaction** ([`SecretStore::import`]): the target is checked
///   empty, then the keyring and the records (read from the source page by
///   page) are written, and committed together. A copy that fails leaves
///   the target as it was: empty, ready for another try.
/// - **Refused** ([`CopyError::TargetNotEmpty`]) when the target holds a
///   keyring, a data key or a secret, whatever the source holds: nothing
///   is written to it. A source without a keyring is refused too
///   ([`CopyError::SourceEmpty`]).
/// - **Verified** after the commit: the same keyring on both stores (key
///   ids, wrapped keys, active flags, canary bytes), the same number of
///   secrets per data key ([`SecretStore::count_by_key`]), and every
///   record of the target equal to the source's, compared page by page.
///   A difference is a [`CopyError::Mismatch`]: the copy stays committed,
///   and the target must not be used.
///
/// Run it with no writer on either store (a server stopped): a write to
/// the source during the copy makes the verification fail.
///
/// # Errors
/// See [`CopyError`].
pub fn copy_store(from: &dyn SecretStore, to: &dyn SecretStore) -> Result<CopyReport, CopyError> {
    let keyring = from
        .load_keyring()
        .map_err(CopyError::Source)?
        .ok_or(CopyError::SourceEmpty)?;
    // The source's error, kept aside: the target's import sees only that
    // its pages failed.
    let mut source_error = None;
    let imported = to.import(&keyring, &mut |after| {
        from.scan(after, PAGE).map_err(|e| {
            source_error = Some(e);
            StoreError::Corrupt("reading the source failed".into())
        })
    });
    let secrets = imported.map_err(|e| match (source_error.take(), e) {
        (Some(e), _) => CopyError::Source(e),
        (
            None,
            StoreError::NotEmpty {
                keyring,
                keys,
                secrets,
            },
        ) => CopyError::TargetNotEmpty {
            keyring,
            keys,
            secrets,
        },
        (None, e) => CopyError::Target(e),
    })?;

    if to.load_keyring().map_err(CopyError::Target)?.as_ref() != Some(&keyring) {
        return Err(CopyError::Mismatch(
            "the target's keyring (data keys, canary) differs from the source's".into(),
        ));
    }
    let secrets_by_key = from.count_by_key().map_err(CopyError::Source)?;
    let target_by_key = to.count_by_key().map_err(CopyError::Target)?;
    if target_by_key != secrets_by_key {
        return Err(CopyError::Mismatch(format!(
            "secrets per data key: {secrets_by_key:?} in the source, {target_by_key:?} in the target"
        )));
    }
    let compared = compare_records(from, to)?;
    let counted: u64 = secrets_by_key.iter().map(|(_, n)| n).sum();
    if compared != secrets || counted != secrets {
        return Err(CopyError::Mismatch(format!(
            "{secrets} secrets copied, but the source now holds {compared} ({counted} counted by key)"
        )));
    }
    Ok(CopyReport {
        keys: keyring.keys.len(),
        secrets,
        secrets_by_key,
    })
}

/// Scans both stores page by page (the same order) and compares every
/// record; returns how many there are.
fn compare_records(from: &dyn SecretStore, to: &dyn SecretStore) -> Result<u64, CopyError> {
    let mut compared = 0;
    let mut after: Option<(String, String)> = None;
    loop {
        let cursor = after.as_ref().map(|(o, n)| (o.as_str(), n.as_str()));
        let source = from.scan(cursor, PAGE).map_err(CopyError::Source)?;
        let target = to.scan(cursor, PAGE).map_err(CopyError::Target)?;
        if let Some(difference) = first_difference(&source, &target) {
            return Err(CopyError::Mismatch(difference));
        }
        let Some(end) = source.last() else {
            return Ok(compared);
        };
        compared += source.len() as u64;
        after = Some((end.owner.clone(), end.name.clone()));
    }
}

/// The first record where two pages of the same range differ, named.
fn first_difference(source: &[SecretRecord], target: &[SecretRecord]) -> Option<String> {
    let at = source
        .iter()
        .zip(target)
        .take_while(|(s, t)| s == t)
        .count();
    // Strings order as bytes, the order of `scan`.
    let key = |r: &SecretRecord| (r.owner.clone(), r.name.clone());
    match (source.get(at).map(key), target.get(at).map(key)) {
        (None, None) => None,
        (Some(s), Some(t)) if s == t => {
            Some(format!("secret {}/{} differs between the stores", s.0, s.1))
        }
        (Some(s), t) if t.as_ref().is_none_or(|t| &s < t) => {
            Some(format!("secret {}/{} is missing from the target", s.0, s.1))
        }
        (_, t) => t.map(|t| {
            format!(
                "the target holds secret {}/{}, which the source does not",
                t.0, t.1
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(owner: &str, name: &str, blob: &[u8]) -> SecretRecord {
        SecretRecord {
            owner: owner.into(),
            name: name.into(),
            secret_id: format!("{owner}-{name}"),
            key_id: 1,
            blob: blob.to_vec(),
            metadata: None,
            hint: None,
            created_at_ms: 1,
            updated_at_ms: 1,
        }
    }

    #[test]
    fn the_first_difference_is_named() {
        let (a, b, c) = (
            record("a", "x", b"1"),
            record("b", "x", b"2"),
            record("c", "x", b"3"),
        );
        let page = [a.clone(), b.clone(), c.clone()];
        assert_eq!(first_difference(&page, &page), None);
        assert_eq!(first_difference(&[], &[]), None);
        let changed = [a.clone(), record("b", "x", b"changed"), c.clone()];
        assert_eq!(
            first_difference(&page, &changed).as_deref(),
            Some("secret b/x differs between the stores")
        );
        assert_eq!(
            first_difference(&page, &[a.clone(), c.clone()]).as_deref(),
            Some("secret b/x is missing from the target")
        );
        assert_eq!(
            first_difference(&page, &[a.clone(), b.clone()]).as_deref(),
            Some("secret c/x is missing from the target")
        );
        assert_eq!(
            first_difference(&[a.clone(), c.clone()], &page).as_deref(),
            Some("the target holds secret b/x, which the source does not")
        );
        assert_eq!(
            first_difference(&[a], &[record("a", "x", b"1"), c]).as_deref(),
            Some("the target holds secret c/x, which the source does not")
        );
    }
}
