//! Command line, environment and `byok.toml` configuration
//! (flag > env > file > default).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret as _, SecretString};

/// byok: a bring-your-own-key LLM gateway.
///
/// Every setting is a flag, an environment variable (`BYOK_*`) and a key in
/// an optional `byok.toml`; flags win over the environment, which wins over
/// the file.
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
    /// Users and credit.
    #[command(subcommand)]
    User(UserCommand),
    /// Vault maintenance.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Prices.
    #[command(subcommand)]
    Prices(PricesCommand),
    /// Runs the stores' migrations (PostgreSQL with `BYOK_DATABASE_URL`,
    /// else the SQLite files) and exits: what `serve` does at start, for a
    /// deployment step before several instances start.
    Migrate,
    /// Copies a single-instance deployment (SQLite files in a data
    /// directory) into an empty PostgreSQL database: users and gateway
    /// keys, credentials (still encrypted: ciphertext and wrapped data keys
    /// move, never plaintext; no master key is read) and the ledger, then
    /// verifies counts and sums. Run it with the server stopped (the
    /// directory is locked exclusively).
    MigrateStore {
        /// `sqlite:<data dir>` (holding `vault.db`, `accounts.db`,
        /// `ledger.db`).
        #[arg(long)]
        from: String,
        /// `postgres://user:password@host/db` (never printed).
        #[arg(long)]
        to: String,
    },
}

/// `user ...` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints `{"user_id": ..., "api_key": ...}` (the key is shown once).
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Initial credit in USD, e.g. `10.00`.
        #[arg(long)]
        credit_usd: Option<String>,
    },
    /// Add credit to a user: `user credit ID AMOUNT`.
    Credit {
        /// User id.
        id: String,
        /// Amount in USD, e.g. `5.00`.
        amount: String,
    },
}

/// `prices ...` subcommands.
#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// Show the price catalog (optionally one model) as JSON lines.
    Show {
        /// Only entries for this model id.
        model: Option<String>,
    },
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
    ///
    /// With `BYOK_DATABASE_URL` (several instances on one database) it runs
    /// beside the running servers and only re-wraps the keyring: every
    /// running instance keeps the data keys it holds and goes on serving;
    /// restart each with the new master key (an old key is refused at
    /// start). Re-encrypting the credentials under a new data key is then
    /// `vault reencrypt`, once every instance runs with the new master key
    /// (an instance still on the old one could not read what was
    /// re-encrypted).
    RotateMasterKey {
        /// Rows re-encrypted per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
        /// Where to write the new master key when the current one comes from
        /// `BYOK_MASTER_KEY` (must not exist yet).
        #[arg(long)]
        new_key_file: Option<PathBuf>,
    },
    /// Add a new data key, re-encrypt every credential under it and retire
    /// the old data keys, under the current master key. Safe beside running
    /// servers that have this master key: they load the new data key when
    /// they first meet it.
    Reencrypt {
        /// Rows re-encrypted per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
    },
    /// Show the vault's data keys and how many credentials use each.
    Status,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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
    /// Directory for the databases and, when no master key is given, the
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
    #[arg(
        long,
        env = "BYOK_MASTER_KEY",
        hide_env_values = true,
        value_parser = secret,
        global = true
    )]
    pub master_key: Option<SecretString>,
    /// Path of a file holding the base64 master key (must be mode 0600).
    /// Default: `<data-dir>/master.key`, generated on first start.
    #[arg(long, env = "BYOK_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
    /// Token for the admin API (`Authorization: Bearer <token>`); absent =
    /// admin API off.
    #[arg(
        long,
        env = "BYOK_ADMIN_TOKEN",
        hide_env_values = true,
        value_parser = secret,
        global = true
    )]
    pub admin_token: Option<SecretString>,
    /// PostgreSQL for the vault and the ledger
    /// (`postgres://user:password@host/db`), shared by several instances;
    /// absent = SQLite files in the data directory (the embedded default).
    /// Migrations run at start (and with `migrate`). See docs/deployment.md.
    #[arg(
        long,
        env = "BYOK_DATABASE_URL",
        hide_env_values = true,
        value_parser = secret,
        global = true
    )]
    pub database_url: Option<SecretString>,
    /// Bearer token required by `GET /metrics` (compared in constant time;
    /// at least 32 characters); absent = no token asked.
    #[arg(
        long,
        env = "BYOK_METRICS_TOKEN",
        hide_env_values = true,
        value_parser = secret,
        global = true
    )]
    pub metrics_token: Option<SecretString>,
    /// Address to serve `GET /metrics` on, apart from the API: when set,
    /// `/metrics` is served there only, and nothing else is.
    #[arg(long, env = "BYOK_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,
    /// Markup in basis points on the at-cost rate (500 = 5%; 0 = nothing
    /// charged or reserved).
    #[arg(long, env = "BYOK_MARKUP_BPS", default_value_t = 500, global = true)]
    pub markup_bps: u32,
    /// Requests per minute per user (0 = no limit).
    #[arg(
        long,
        env = "BYOK_RATE_LIMIT_RPM",
        default_value_t = 600,
        global = true
    )]
    pub rate_limit_rpm: u32,
    /// Allow `http://` and loopback/private addresses in the operator's
    /// own upstream overrides (`BYOK_UPSTREAM_*`), e.g. a local model. User
    /// endpoints are not affected (see `BYOK_ALLOW_PRIVATE_USER_ENDPOINTS`).
    #[arg(
        long,
        env = "BYOK_ALLOW_INSECURE_UPSTREAMS",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        global = true
    )]
    pub allow_insecure_upstreams: bool,
    /// Allow user-supplied endpoints (Azure JSON credentials) that are not
    /// public `https` Azure hosts: `http://`, IP literals, other ports,
    /// loopback and private addresses. For tests and labs only (a warning
    /// is logged at start): any user could reach the server's network.
    #[arg(
        long,
        env = "BYOK_ALLOW_PRIVATE_USER_ENDPOINTS",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        global = true
    )]
    pub allow_private_user_endpoints: bool,
    /// Deprecated and ignored (accepted so that existing configurations
    /// still start): a request without an output limit now reserves the
    /// model's maximum output from the price catalog.
    #[arg(
        long,
        env = "BYOK_DEFAULT_MAX_OUTPUT_TOKENS",
        default_value_t = 8192,
        global = true
    )]
    pub default_max_output_tokens: u32,
    /// Largest request body in bytes (413 above).
    #[arg(long, env = "BYOK_MAX_BODY_BYTES", default_value_t = 4 << 20, global = true)]
    pub max_body_bytes: usize,
    /// Seconds a client has to send a request body once its headers are in
    /// (408 after). Bodies are read only after authentication.
    #[arg(
        long,
        env = "BYOK_BODY_READ_TIMEOUT_SECS",
        default_value_t = 30,
        value_parser = secs(MAX_TIMEOUT_SECS),
        global = true
    )]
    pub body_read_timeout_secs: u64,
    /// Seconds an answer's bytes may wait unacknowledged on a client that
    /// stopped reading (or vanished) before the connection is closed
    /// (`TCP_USER_TIMEOUT`, zero-window probes included): the upstream call,
    /// its connection and the reservation are let go then.
    #[arg(
        long,
        env = "BYOK_CLIENT_WRITE_TIMEOUT_SECS",
        default_value_t = 30,
        value_parser = secs(MAX_TIMEOUT_SECS),
        global = true
    )]
    pub client_write_timeout_secs: u64,
    /// Seconds from sending an upstream request to its response headers
    /// (504 after). Non-streaming answers of large models take minutes.
    #[arg(
        long,
        env = "BYOK_UPSTREAM_RESPONSE_TIMEOUT_SECS",
        default_value_t = 300,
        value_parser = secs(MAX_TIMEOUT_SECS),
        global = true
    )]
    pub upstream_response_timeout_secs: u64,
    /// Longest silence, in seconds, between two pieces of an upstream body
    /// or stream (504 before the first byte, an error event after).
    #[arg(
        long,
        env = "BYOK_UPSTREAM_IDLE_TIMEOUT_SECS",
        default_value_t = 120,
        value_parser = secs(MAX_TIMEOUT_SECS),
        global = true
    )]
    pub upstream_idle_timeout_secs: u64,
    /// Seconds to connect to an upstream (TCP and TLS).
    #[arg(
        long,
        env = "BYOK_UPSTREAM_CONNECT_TIMEOUT_SECS",
        default_value_t = 10,
        value_parser = secs(MAX_CONNECT_TIMEOUT_SECS),
        global = true
    )]
    pub upstream_connect_timeout_secs: u64,
    /// Log format.
    #[arg(long, env = "BYOK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Configuration file (TOML, keys as the long flags with `_`).
    #[arg(long, env = "BYOK_CONFIG", default_value = "byok.toml", global = true)]
    pub config: PathBuf,
    /// Base URL overrides by provider id, from `BYOK_UPSTREAM_<PROVIDER>` and
    /// the file's `[upstream]` table.
    #[arg(skip)]
    pub upstreams: BTreeMap<String, String>,
    /// How long a reservation lives without being extended (a live request
    /// extends its own every third of it). Not a user-facing setting: tests
    /// shorten it.
    #[doc(hidden)]
    #[arg(skip = RESERVATION_TTL)]
    pub reservation_ttl: Duration,
}

/// How long a reservation lives without being extended.
pub const RESERVATION_TTL: Duration = Duration::from_secs(15 * 60);

/// The shortest admin (or metrics) token the server starts with, in
/// characters.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

impl Settings {
    /// Refuses settings the server must not start with: an admin or
    /// metrics token shorter than [`MIN_ADMIN_TOKEN_CHARS`] (the empty one
    /// included), the metrics on the API's own address.
    ///
    /// # Errors
    /// Names the setting at fault (never its value).
    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, token, off) in [
            (
                "BYOK_ADMIN_TOKEN",
                &self.admin_token,
                "turn the admin API off",
            ),
            (
                "BYOK_METRICS_TOKEN",
                &self.metrics_token,
                "serve /metrics without a token",
            ),
        ] {
            if let Some(token) = token {
                let chars = token.expose_secret().chars().count();
                anyhow::ensure!(
                    chars >= MIN_ADMIN_TOKEN_CHARS,
                    "{name} is {chars} characters; it must be at least {MIN_ADMIN_TOKEN_CHARS} (e.g. `openssl rand -hex 32`), or unset to {off}"
                );
            }
        }
        anyhow::ensure!(
            self.metrics_listen != Some(self.listen) || self.listen.port() == 0,
            "BYOK_METRICS_LISTEN must differ from BYOK_LISTEN"
        );
        Ok(())
    }

    /// Settings for tests and embedding: every default, the given data dir,
    /// an ephemeral port.
    pub fn for_data_dir(dir: impl Into<PathBuf>) -> Self {
        let mut cli = Cli::parse_from(["byok-server"]);
        cli.settings.data_dir = dir.into();
        cli.settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        cli.settings
    }
}

/// The longest timeout setting, in seconds (an hour).
const MAX_TIMEOUT_SECS: u64 = 3600;

/// The longest upstream connect timeout, in seconds.
const MAX_CONNECT_TIMEOUT_SECS: u64 = 300;

/// A timeout setting's parser: 1 to `max` seconds (the file's values are
/// held to the same bounds by [`check_file_timeouts`]).
fn secs(max: u64) -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..=max)
}

/// A secret setting's value: never shown by `Debug`.
#[allow(clippy::unnecessary_wraps)] // clap's value parser signature
fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    master_key_file: Option<PathBuf>,
    admin_token: Option<String>,
    database_url: Option<String>,
    metrics_token: Option<String>,
    metrics_listen: Option<SocketAddr>,
    markup_bps: Option<u32>,
    rate_limit_rpm: Option<u32>,
    allow_insecure_upstreams: Option<bool>,
    allow_private_user_endpoints: Option<bool>,
    default_max_output_tokens: Option<u32>,
    max_body_bytes: Option<usize>,
    body_read_timeout_secs: Option<u64>,
    client_write_timeout_secs: Option<u64>,
    upstream_response_timeout_secs: Option<u64>,
    upstream_idle_timeout_secs: Option<u64>,
    upstream_connect_timeout_secs: Option<u64>,
    log_format: Option<LogFormat>,
    #[serde(default)]
    upstream: BTreeMap<String, String>,
}

fn from_default(m: &ArgMatches, id: &str) -> bool {
    matches!(m.value_source(id), Some(ValueSource::DefaultValue) | None)
}

/// Parses the command line, then fills settings left at their defaults from
/// `byok.toml` (if present) and collects `BYOK_UPSTREAM_*` overrides.
///
/// # Errors
/// A malformed config file.
pub fn load() -> anyhow::Result<Cli> {
    load_from(std::env::args_os())
}

/// [`load`] with explicit arguments (tests, embedding).
///
/// # Errors
/// Invalid arguments or a malformed config file.
pub fn load_from<I, T>(args: I) -> anyhow::Result<Cli>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Cli::command().try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    let s = &mut cli.settings;
    if s.config.exists() {
        let text = std::fs::read_to_string(&s.config)?;
        apply_file(s, &matches, &text)?;
    }
    s.upstreams.extend(upstream_overrides(std::env::vars_os())?);
    Ok(cli)
}

/// Fills the settings `matches` left at their defaults from the text of the
/// configuration file (`s.config`), then checks the file's timeouts.
///
/// # Errors
/// Text that is not a configuration file, or a timeout out of bounds.
pub(crate) fn apply_file(s: &mut Settings, matches: &ArgMatches, text: &str) -> anyhow::Result<()> {
    let file: FileSettings = toml::from_str(text).map_err(|e| file_error(&s.config, text, &e))?;
    macro_rules! fill {
        ($field:ident) => {
            if let Some(v) = file.$field
                && from_default(matches, stringify!($field))
            {
                s.$field = v;
            }
        };
        (opt $field:ident) => {
            if file.$field.is_some() && from_default(matches, stringify!($field)) {
                s.$field = file.$field;
            }
        };
        (secret $field:ident) => {
            if let Some(v) = file.$field
                && from_default(matches, stringify!($field))
            {
                s.$field = Some(SecretString::from(v));
            }
        };
    }
    fill!(listen);
    fill!(data_dir);
    fill!(opt master_key_file);
    fill!(secret admin_token);
    fill!(secret database_url);
    fill!(secret metrics_token);
    fill!(opt metrics_listen);
    fill!(markup_bps);
    fill!(rate_limit_rpm);
    fill!(allow_insecure_upstreams);
    fill!(allow_private_user_endpoints);
    fill!(default_max_output_tokens);
    fill!(max_body_bytes);
    fill!(body_read_timeout_secs);
    fill!(client_write_timeout_secs);
    fill!(upstream_response_timeout_secs);
    fill!(upstream_idle_timeout_secs);
    fill!(upstream_connect_timeout_secs);
    fill!(log_format);
    s.upstreams.extend(file.upstream);
    check_file_timeouts(s)
}

/// The settings whose values are secrets.
const SECRET_SETTINGS: &[&str] = &["admin_token", "database_url", "metrics_token"];

/// A `byok.toml` error that names the place and the problem, without the
/// file's text: toml's own message quotes the offending line, which may
/// hold a secret (an admin or metrics token, the database URL's password)
/// and would then reach the terminal or the logs. On a secret setting's
/// line only the setting is named.
fn file_error(path: &std::path::Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let Some(span) = e.span() else {
        return anyhow::anyhow!("{}: {}", path.display(), e.message());
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let key = text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().trim_matches(['"', '\'']));
    match key.filter(|k| SECRET_SETTINGS.contains(k)) {
        Some(k) => anyhow::anyhow!(
            "{}: line {line}, column {column}: invalid value for `{k}` (not shown: it is a secret)",
            path.display()
        ),
        None => anyhow::anyhow!(
            "{}: line {line}, column {column}: {}",
            path.display(),
            e.message()
        ),
    }
}

/// The file's timeouts within their bounds (clap bounds the flags').
fn check_file_timeouts(s: &Settings) -> anyhow::Result<()> {
    for (name, secs, max) in [
        (
            "body_read_timeout_secs",
            s.body_read_timeout_secs,
            MAX_TIMEOUT_SECS,
        ),
        (
            "client_write_timeout_secs",
            s.client_write_timeout_secs,
            MAX_TIMEOUT_SECS,
        ),
        (
            "upstream_response_timeout_secs",
            s.upstream_response_timeout_secs,
            MAX_TIMEOUT_SECS,
        ),
        (
            "upstream_idle_timeout_secs",
            s.upstream_idle_timeout_secs,
            MAX_TIMEOUT_SECS,
        ),
        (
            "upstream_connect_timeout_secs",
            s.upstream_connect_timeout_secs,
            MAX_CONNECT_TIMEOUT_SECS,
        ),
    ] {
        anyhow::ensure!(
            (1..=max).contains(&secs),
            "{}: {name} must be 1 to {max} seconds",
            s.config.display()
        );
    }
    Ok(())
}

/// The environment variable of a provider's base URL override:
/// `BYOK_UPSTREAM_` + the id upper-cased with `-` turned into `_`.
fn upstream_var(id: &str) -> String {
    format!(
        "BYOK_UPSTREAM_{}",
        id.to_ascii_uppercase().replace('-', "_")
    )
}

/// Base URL overrides by provider id, from `vars` (the environment).
///
/// Only a `BYOK_UPSTREAM_<PROVIDER>` name built from a chat or search
/// provider id is an override. Settings and overrides never share a parse
/// path: the settings' own variables (the upstream timeouts among them) are
/// read by clap from its argument list, skipped here by exact name; any
/// other `BYOK_UPSTREAM_*` name is refused as an unknown provider.
fn upstream_overrides(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let by_var: BTreeMap<String, &'static str> = byok_providers::PROVIDERS
        .iter()
        .map(|p| p.slug)
        .chain(byok_search::SearchProviderId::ALL.map(byok_search::SearchProviderId::as_str))
        .map(|id| (upstream_var(id), id))
        .collect();
    let command = Cli::command();
    let is_setting = |name: &str| {
        command
            .get_arguments()
            .any(|a| a.get_env().is_some_and(|e| e == name))
    };
    let mut overrides = BTreeMap::new();
    for (name, value) in vars {
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = by_var.get(name) {
            let value = value
                .into_string()
                .map_err(|_| anyhow::anyhow!("{name} is not valid UTF-8"))?;
            overrides.insert((*id).to_owned(), value);
        } else if name.starts_with("BYOK_UPSTREAM_") && !is_setting(name) {
            anyhow::bail!(
                "{name} names no provider (BYOK_UPSTREAM_<PROVIDER> takes a provider id)"
            );
        }
    }
    Ok(overrides)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_settings_are_not_provider_overrides() {
        let vars = [
            ("BYOK_UPSTREAM_RESPONSE_TIMEOUT_SECS", "60"),
            ("BYOK_UPSTREAM_IDLE_TIMEOUT_SECS", "30"),
            ("BYOK_UPSTREAM_CONNECT_TIMEOUT_SECS", "5"),
            ("BYOK_UPSTREAM_OPENAI", "https://a.example/v1"),
            ("BYOK_UPSTREAM_AZURE_ANTHROPIC_FOUNDRY", "https://b.example"),
            ("BYOK_UPSTREAM_TAVILY", "https://c.example"),
            ("BYOK_MARKUP_BPS", "7"),
            ("PATH", "/bin"),
        ]
        .map(|(k, v)| (k.into(), v.into()));
        let got = upstream_overrides(vars).unwrap();
        let want: BTreeMap<String, String> = [
            ("azure-anthropic-foundry", "https://b.example"),
            ("openai", "https://a.example/v1"),
            ("tavily", "https://c.example"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
        assert_eq!(got, want);
        let err =
            upstream_overrides([("BYOK_UPSTREAM_OPENIA".into(), "https://x".into())]).unwrap_err();
        assert!(err.to_string().contains("BYOK_UPSTREAM_OPENIA"), "{err}");
    }

    #[test]
    fn flag_beats_file_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("byok.toml");
        std::fs::write(&file, "markup_bps = 250\nrate_limit_rpm = 7\n[upstream]\ngroq = \"https://groq.internal.example/openai/v1\"\n").unwrap();
        let path = file.to_str().unwrap();
        let cli = load_from(["byok-server", "--config", path]).unwrap();
        assert_eq!(
            (cli.settings.markup_bps, cli.settings.rate_limit_rpm),
            (250, 7)
        );
        assert_eq!(
            cli.settings.upstreams["groq"],
            "https://groq.internal.example/openai/v1"
        );
        let cli = load_from(["byok-server", "--config", path, "--markup-bps", "100"]).unwrap();
        assert_eq!(
            (cli.settings.markup_bps, cli.settings.rate_limit_rpm),
            (100, 7)
        );
        let cli = load_from(["byok-server", "--config", "/nonexistent/byok.toml"]).unwrap();
        assert_eq!(cli.settings.markup_bps, 500);
        std::fs::write(&file, "markup_bsp = 1\n").unwrap();
        assert!(
            load_from(["byok-server", "--config", path]).is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn upstream_timeouts_from_flags_and_file_within_bounds() {
        let cli = load_from(["byok-server", "--config", "/nonexistent/byok.toml"]).unwrap();
        let s = &cli.settings;
        assert_eq!(
            (
                s.upstream_response_timeout_secs,
                s.upstream_idle_timeout_secs,
                s.upstream_connect_timeout_secs
            ),
            (300, 120, 10)
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("byok.toml");
        std::fs::write(
            &file,
            "upstream_response_timeout_secs = 60\nupstream_idle_timeout_secs = 30\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let cli = load_from([
            "byok-server",
            "--config",
            path,
            "--upstream-idle-timeout-secs",
            "5",
        ])
        .unwrap();
        let s = &cli.settings;
        assert_eq!(
            (
                s.upstream_response_timeout_secs,
                s.upstream_idle_timeout_secs
            ),
            (60, 5)
        );
        for bad in [
            "upstream_response_timeout_secs = 0\n",
            "upstream_connect_timeout_secs = 301\n",
        ] {
            std::fs::write(&file, bad).unwrap();
            let err = load_from(["byok-server", "--config", path]).unwrap_err();
            assert!(err.to_string().contains("seconds"), "{err}");
        }
        assert!(
            load_from(["byok-server", "--upstream-response-timeout-secs", "0"]).is_err(),
            "flags are bounded too"
        );
    }

    /// Found by fuzzing (`config`): toml's error quotes the offending
    /// line, so a malformed secret setting (an unterminated token, an
    /// unquoted database URL with its password, a token of the wrong type)
    /// was printed whole at start-up.
    #[test]
    fn file_errors_do_not_show_secret_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("byok.toml");
        let path = file.to_str().unwrap();
        for (text, secret, key) in [
            (
                "markup_bps = 250\ndatabase_url = postgres://byok:s3cret-Passw0rd@db/byok\n",
                "s3cret-Passw0rd",
                "database_url",
            ),
            (
                "admin_token = \"tok-0123456789abcdefghijklmnopqrstuv\n",
                "tok-0123456789abcdefghijklmnopqrstuv",
                "admin_token",
            ),
            (
                "metrics_token = 123456789012345678\n",
                "123456789012345678",
                "metrics_token",
            ),
        ] {
            std::fs::write(&file, text).unwrap();
            let err = format!(
                "{:#}",
                load_from(["byok-server", "--config", path]).unwrap_err()
            );
            assert!(!err.contains(secret), "{err}");
            assert!(err.contains(key) && err.contains("line"), "{err}");
        }
        // Other errors keep toml's message, without the text.
        std::fs::write(&file, "markup_bps = \"lots\"\n").unwrap();
        let err = load_from(["byok-server", "--config", path]).unwrap_err();
        assert!(
            err.to_string().contains("line 1, column 14: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn security_settings_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("byok.toml");
        let token = "file-token-0123456789abcdefghijklmnop";
        std::fs::write(
            &file,
            format!("body_read_timeout_secs = 5\nmetrics_listen = \"127.0.0.1:9100\"\nmetrics_token = \"{token}\"\nadmin_token = \"{token}\"\nallow_private_user_endpoints = true\n"),
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let s = load_from(["byok-server", "--config", path])
            .unwrap()
            .settings;
        assert_eq!(s.body_read_timeout_secs, 5);
        assert!(s.allow_private_user_endpoints && !s.allow_insecure_upstreams);
        assert_eq!(
            s.metrics_listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 9100)))
        );
        assert_eq!(s.metrics_token.as_ref().unwrap().expose_secret(), token);
        assert_eq!(s.admin_token.as_ref().unwrap().expose_secret(), token);
        assert!(!format!("{s:?}").contains(token));
        s.validate().unwrap();
        std::fs::write(&file, "body_read_timeout_secs = 0\n").unwrap();
        let err = load_from(["byok-server", "--config", path]).unwrap_err();
        assert!(err.to_string().contains("body_read_timeout_secs"), "{err}");
        let mut same = Settings::for_data_dir(dir.path());
        same.listen = SocketAddr::from(([127, 0, 0, 1], 8080));
        same.metrics_listen = Some(same.listen);
        let err = same.validate().unwrap_err();
        assert!(err.to_string().contains("BYOK_METRICS_LISTEN"), "{err}");
    }
}
