//! `prices show [MODEL]`.

use crate::app::state::load_catalog;
use crate::config::{PricesCommand, Settings};

/// Runs `prices show [MODEL]`: one JSON line per catalog entry.
///
/// # Errors
/// A malformed override file.
pub fn run_prices_command(
    settings: &Settings,
    cmd: &PricesCommand,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let PricesCommand::Show { model } = cmd;
    let catalog = load_catalog(&settings.data_dir)?;
    let mut entries: Vec<_> = catalog
        .entries()
        .filter(|e| {
            model
                .as_ref()
                .is_none_or(|m| &e.model == m || &e.canonical == m)
        })
        .collect();
    entries.sort_by(|a, b| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)));
    for e in entries {
        writeln!(out, "{}", serde_json::to_string(e)?)?;
    }
    Ok(())
}
