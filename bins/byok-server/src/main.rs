//! `byok-server`: see `byok-server --help`.

use std::process::ExitCode;

use byok_server::{Command, LogFormat};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: the request path allocates and
/// frees many small buffers across worker threads, where glibc malloc spent
/// ~13% of the gateway's CPU under load (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_tracing(format: LogFormat) {
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

fn main() -> ExitCode {
    let cli = match byok_server::config::load() {
        Ok(c) => c,
        Err(e) => {
            // `--help`, `--version` and usage errors: clap prints them
            // (help and version to stdout with status 0, errors to stderr).
            if let Some(clap_error) = e.downcast_ref::<clap::Error>() {
                clap_error.exit();
            }
            init_tracing(LogFormat::Text);
            tracing::error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing(cli.settings.log_format);
    let out = &mut std::io::stdout().lock();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.settings),
        Command::Vault(cmd) => byok_server::run_vault_command(&cli.settings, &cmd, out),
        Command::User(cmd) => byok_server::run_user_command(&cli.settings, &cmd, out),
        Command::Prices(cmd) => byok_server::run_prices_command(&cli.settings, &cmd, out),
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
        let (server, addr, state) = byok_server::build(settings)?;
        tracing::info!(%addr, data_dir = %settings.data_dir.display(), "byok-server listening");
        // actix finishes in-flight requests (streams included) for up to 30 s
        // after SIGINT/SIGTERM; then every queued ledger write is committed.
        server.await?;
        state.ledger.shutdown();
        tracing::info!("stopped; ledger flushed");
        Ok(())
    })
}
