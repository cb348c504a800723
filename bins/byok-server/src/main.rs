//! `byok-server`: see `byok-server --help`.

use std::process::ExitCode;

use byok_server::{Command, LogFormat, cli};

/// mimalloc instead of the system allocator: the request path allocates and
/// frees many small buffers across worker threads, where glibc malloc spent
/// ~13% of the gateway's CPU under load (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let parsed = match byok_server::config::load() {
        Ok(c) => c,
        Err(e) => {
            // `--help`, `--version` and usage errors: clap prints them
            // (help and version to stdout with status 0, errors to stderr).
            if let Some(clap_error) = e.downcast_ref::<clap::Error>() {
                clap_error.exit();
            }
            cli::init_tracing(LogFormat::Text);
            tracing::error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    cli::init_tracing(parsed.settings.log_format);
    let command = parsed.command.unwrap_or(Command::Serve);
    match cli::run(&command, &parsed.settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
