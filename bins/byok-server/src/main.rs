//! `byok-server`: see `byok-server --help`.

use std::process::ExitCode;

use byok_server::{Cli, Command, KeySource, LogFormat, VaultCommand};
use byok_vault::MasterKey;
use clap::Parser as _;
use tracing_subscriber::EnvFilter;

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("BYOK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.settings.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.settings),
        Command::Vault(cmd) => vault(&cli.settings, &cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: &byok_server::Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async {
        let (server, addr) = byok_server::build(settings)?;
        tracing::info!(%addr, data_dir = %settings.data_dir.display(), "byok-server listening");
        server.await?;
        Ok(())
    })
}

fn vault(settings: &byok_server::Settings, cmd: &VaultCommand) -> anyhow::Result<()> {
    let opened = byok_server::open_vault(settings)?;
    let vault = &opened.vault;
    match cmd {
        VaultCommand::RotateMasterKey {
            batch_size,
            new_key_file,
        } => {
            let new_key = MasterKey::generate()?;
            // Persist the new key before the database starts using it.
            let pending = match (&opened.source, new_key_file) {
                (KeySource::Env, Some(path)) => {
                    new_key.write_new_file(path)?;
                    None
                }
                (KeySource::Env, None) => anyhow::bail!(
                    "the master key comes from BYOK_MASTER_KEY: pass --new-key-file PATH to receive the new one"
                ),
                (KeySource::File(path), _) => {
                    let pending = byok_server::pending_key_path(path);
                    if pending.exists() {
                        std::fs::remove_file(&pending)?;
                    }
                    new_key.write_new_file(&pending)?;
                    Some((pending, path.clone()))
                }
            };
            vault.rekey(new_key)?;
            if let Some((pending, path)) = pending {
                std::fs::rename(&pending, &path)?;
            }
            tracing::info!("master key replaced");
            let before: Vec<u32> = vault.keys()?.iter().map(|k| k.key_id).collect();
            let new = vault.rotate()?;
            let report = vault.rewrap(*batch_size)?;
            tracing::info!(new_key = new, rewrapped = report.rewrapped, failed = report.failed, "credentials re-encrypted");
            for old in before {
                match vault.retire(old) {
                    Ok(()) => tracing::info!(key = old, "retired data key"),
                    Err(e) => tracing::warn!(key = old, error = %e, "data key not retired"),
                }
            }
            if let KeySource::Env = opened.source {
                tracing::warn!("update BYOK_MASTER_KEY with the new key file's content before the next start");
            }
        }
        VaultCommand::Status => {
            let keys: Vec<_> = vault
                .keys()?
                .into_iter()
                .map(|k| serde_json::json!({"key_id": k.key_id, "active": k.active, "secrets": k.secrets}))
                .collect();
            write_stdout(&serde_json::json!({ "keys": keys }).to_string())?;
        }
    }
    Ok(())
}

fn write_stdout(line: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    Ok(())
}
