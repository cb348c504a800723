//! `migrate-store --from sqlite:<dir> --to postgres://...`: a single
//! instance's SQLite stores copied into an empty PostgreSQL database.

use std::path::Path;

use anyhow::{Context as _, bail};
use byok_billing::{LedgerConfig, PostgresLedgerStore, SqliteLedger};
use byok_vault::{PostgresSecretStore, SqliteStore};
use secrecy::SecretString;

use crate::accounts::Accounts;
use crate::app::lock::DataDirLock;
use crate::app::shared::SharedDb;

/// The files a data directory holds, each checked before it is opened
/// (opening a missing SQLite file would create an empty one).
const FILES: [&str; 3] = ["accounts.db", "vault.db", "ledger.db"];

/// Copies the stores of the data directory `from` (`sqlite:<dir>`) into
/// the empty PostgreSQL database `to`, in three steps, each one
/// transaction checked empty first and verified after its commit: the
/// accounts (users and gateway keys' hashes), the vault (the keyring
/// wrapped and the secrets as ciphertext: no master key is read), the
/// ledger (accounts and every entry; refused while reservations are held).
/// Prints what was copied as JSON.
///
/// Every target is checked empty before anything is written, so a refusal
/// writes nothing; a step that fails rolls back, leaving the steps before
/// it committed: drop the target's tables (or the database) and run it
/// again.
///
/// # Errors
/// A malformed `--from`/`--to`, a missing file, a server holding the
/// directory, a non-empty target, a store error, a copy that does not match
/// its source. Never the URL (it may hold a password).
pub fn run_migrate_store(
    from: &str,
    to: &str,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let Some(dir) = from.strip_prefix("sqlite:") else {
        bail!("--from must be sqlite:<data dir>");
    };
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        bail!("--to must be a postgres:// URL");
    }
    let dir = Path::new(dir);
    for file in FILES {
        let path = dir.join(file);
        anyhow::ensure!(
            path.is_file(),
            "{} is missing: is {} a byok data directory?",
            path.display(),
            dir.display()
        );
    }
    // No server may write the source meanwhile (nor hold reservations in
    // its memory, which the ledger's copy could not see).
    let _lock = DataDirLock::exclusive(dir, "migrate-store")?;
    let url = SecretString::from(to.to_owned());
    let floor = LedgerConfig::default().floor;

    let accounts_from = Accounts::open(&dir.join("accounts.db"))?;
    let vault_from = SqliteStore::open(dir.join("vault.db"))
        .map_err(|e| anyhow::anyhow!("cannot open the source vault: {e}"))?;
    let ledger_from = SqliteLedger::open(dir.join("ledger.db"), floor)
        .map_err(|e| anyhow::anyhow!("cannot open the source ledger: {e}"))?;
    let accounts_to = Accounts::postgres(SharedDb::open(&url)?);
    let vault_to = PostgresSecretStore::open(to)
        .map_err(|e| anyhow::anyhow!("cannot open the target vault: {e}"))?;
    let ledger_to = PostgresLedgerStore::open(to, floor)
        .map_err(|e| anyhow::anyhow!("cannot open the target ledger: {e}"))?;
    check_empty(&accounts_to, &vault_to, &ledger_to)?;

    let rows = accounts_from.rows()?;
    accounts_to
        .load_rows(&rows)
        .context("copying the accounts")?;
    anyhow::ensure!(
        accounts_to.rows()? == rows,
        "the copied accounts do not match their source: do not use the target"
    );
    let vault = byok_vault::copy_store(&vault_from, &vault_to).context("copying the vault")?;
    let ledger =
        byok_billing::copy_ledger(&ledger_from, &ledger_to).context("copying the ledger")?;
    let report = serde_json::json!({
        "users": rows.users.len(),
        "gateway_keys": rows.keys.len(),
        "revoked_gateway_keys": rows.keys.iter().filter(|k| k.4).count(),
        "credentials": vault.secrets,
        "data_keys": vault.keys,
        "ledger_accounts": ledger.accounts,
        "ledger_entries": ledger.entries,
        "credited_usd": usd(ledger.credited_nanos),
        "charged_usd": usd(ledger.charged_nanos),
        "verified": true,
    });
    writeln!(out, "{report}")?;
    Ok(())
}

/// Refuses before anything is written unless every target is empty.
fn check_empty(
    accounts: &Accounts,
    vault: &PostgresSecretStore,
    ledger: &PostgresLedgerStore,
) -> anyhow::Result<()> {
    use byok_billing::LedgerStore as _;
    use byok_vault::SecretStore as _;
    let held = accounts.rows()?;
    let keyring = vault
        .load_keyring()
        .map_err(|e| anyhow::anyhow!("the target vault: {e}"))?;
    let secrets: u64 = vault
        .count_by_key()
        .map_err(|e| anyhow::anyhow!("the target vault: {e}"))?
        .iter()
        .map(|k| k.1)
        .sum();
    let ledger = ledger
        .counts()
        .map_err(|e| anyhow::anyhow!("the target ledger: {e}"))?;
    if !held.users.is_empty()
        || !held.keys.is_empty()
        || keyring.is_some()
        || secrets > 0
        || ledger != byok_billing::LedgerCounts::default()
    {
        bail!(
            "the target database is not empty ({} user(s), {} gateway key(s), keyring: {}, {secrets} credential(s), ledger: {ledger:?}): nothing was copied",
            held.users.len(),
            held.keys.len(),
            keyring.is_some()
        );
    }
    Ok(())
}

/// Nano-USD as a decimal USD string.
fn usd(nanos: i128) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    format!("{sign}{}.{:09}", n / 1_000_000_000, n % 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::usd;

    #[test]
    fn usd_strings() {
        assert_eq!(usd(0), "0.000000000");
        assert_eq!(usd(1_500_000_000), "1.500000000");
        assert_eq!(usd(-42), "-0.000000042");
    }
}
