//! Command line and environment configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// byok: a bring-your-own-key LLM gateway.
///
/// Every setting is a flag and an environment variable (`BYOK_*`); flags win.
#[derive(Debug, Parser)]
#[command(name = "byok-server", version, about, long_about = None)]
pub struct Cli {
    /// What to run; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by every subcommand.
    #[command(flatten)]
    pub settings: Settings,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Vault maintenance.
    #[command(subcommand)]
    Vault(VaultCommand),
}

/// `vault ...` subcommands.
#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Replace the master key and the data keys: generate a new master key,
    /// re-wrap the keyring under it, add a new data key, re-encrypt every
    /// stored credential under it and retire the old data keys.
    ///
    /// With a key file (the default `<data-dir>/master.key` or
    /// `--master-key-file`) the new key is written beside it as `<file>.new`
    /// first and renamed over it after the database commit; a crash in between
    /// is recovered at the next start. With `BYOK_MASTER_KEY`, give
    /// `--new-key-file`: the new key is written there (mode 0600) and you move
    /// it into your secret store. Safe to interrupt and run again.
    RotateMasterKey {
        /// Rows re-encrypted per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
        /// Where to write the new master key when the current one comes from
        /// `BYOK_MASTER_KEY` (must not exist yet).
        #[arg(long)]
        new_key_file: Option<PathBuf>,
    },
    /// Show the vault's data keys and how many credentials use each.
    Status,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Settings shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(
        long,
        env = "BYOK_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,
    /// Directory for the database(s) and, when no master key is given, the
    /// generated master key file (mode 0600).
    #[arg(
        long,
        env = "BYOK_DATA_DIR",
        default_value = "./byok-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Base64 of 32 random bytes: the vault's master key. Takes precedence
    /// over the key file. Generate one with `openssl rand -base64 32`.
    #[arg(long, env = "BYOK_MASTER_KEY", hide_env_values = true, global = true)]
    pub master_key: Option<String>,
    /// Path of a file holding the base64 master key (must be mode 0600).
    /// Default: `<data-dir>/master.key`, generated on first start.
    #[arg(long, env = "BYOK_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "BYOK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}
