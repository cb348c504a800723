//! The binary's subcommands (`serve`, `user`, `vault`, `prices`) and its
//! logging; `main.rs` parses the command line and calls [`run`].

mod migrate_store;
mod prices;
mod serve;
mod user;
mod vault;

pub use migrate_store::run_migrate_store;
pub use prices::run_prices_command;
pub use serve::serve;
pub use user::run_user_command;
pub use vault::run_vault_command;

use tracing_subscriber::EnvFilter;

use crate::config::{Command, LogFormat, Settings};

/// Installs the log: to stderr, filtered by `BYOK_LOG` (default `info`).
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("BYOK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Runs `command`; machine-readable output goes to stdout.
///
/// # Errors
/// The subcommand's.
pub fn run(command: &Command, settings: &Settings) -> anyhow::Result<()> {
    let out = &mut std::io::stdout().lock();
    match command {
        Command::Serve => serve(settings),
        Command::Vault(cmd) => run_vault_command(settings, cmd, out),
        Command::User(cmd) => run_user_command(settings, cmd, out),
        Command::Prices(cmd) => run_prices_command(settings, cmd, out),
        Command::Migrate => run_migrate(settings, out),
        Command::MigrateStore { from, to } => run_migrate_store(from, to, out),
    }
}

/// `migrate`: opens each store, which runs its pending migrations (each
/// store's are versioned and idempotent), and says where they are. Only
/// the stores: no master key is read or generated and the vault's keyring
/// is not initialised, so running it first on an empty database leaves the
/// keyring to the first server with the real master key. It holds the data
/// directory's lock shared, as a server does (refused while a
/// `vault rotate-master-key` runs), and leaves reservations in flight alone,
/// so it is safe beside running instances.
///
/// # Errors
/// A store that cannot be opened or migrated (the message names it, never
/// the database URL's password).
pub fn run_migrate(settings: &Settings, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    crate::app::vault::create_private_dir(&settings.data_dir)?;
    let _lock = crate::app::lock::DataDirLock::shared(&settings.data_dir)?;
    crate::app::vault::migrate_store(settings)?;
    crate::accounts::Accounts::for_settings(settings)?;
    crate::app::ledger::Ledger::open_beside_server(settings)?.shutdown();
    let store = if settings.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    writeln!(
        out,
        "{}",
        serde_json::json!({"migrated": ["vault", "accounts", "ledger"], "store": store})
    )?;
    Ok(())
}
