//! `user create` and `user credit`.

use secrecy::ExposeSecret as _;

use crate::accounts::Accounts;
use crate::app::ledger::{Ledger, credit_amount};
use crate::config::{Settings, UserCommand};

/// Runs a `user ...` subcommand; the JSON answer goes to `out`.
///
/// # Errors
/// Invalid names or amounts, unknown users, storage errors.
pub fn run_user_command(
    settings: &Settings,
    cmd: &UserCommand,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir)?;
    let accounts = Accounts::for_settings(settings)?;
    // Another process (the server) may own in-flight reservations: keep them.
    let ledger = Ledger::open_beside_server(settings)?;
    let credit = |id: &str, amount: &str| -> anyhow::Result<()> {
        let amount = credit_amount(amount).map_err(|why| anyhow::anyhow!("the amount {why}"))?;
        ledger.credit_blocking(id, amount)
    };
    match cmd {
        UserCommand::Create { name, credit_usd } => {
            let (user, key) = accounts.create_user(name)?;
            if let Some(amount) = credit_usd {
                credit(&user.id, amount)?;
            }
            writeln!(
                out,
                "{}",
                serde_json::json!({"user_id": user.id, "api_key": key.expose_secret()})
            )?;
        }
        UserCommand::Credit { id, amount } => {
            anyhow::ensure!(accounts.user_exists(id)?, "unknown user {id}");
            credit(id, amount)?;
            let b = ledger.balance_blocking(id)?;
            writeln!(
                out,
                "{}",
                serde_json::json!({"user_id": id, "balance_usd": b.balance.to_string()})
            )?;
        }
    }
    ledger.shutdown();
    Ok(())
}
