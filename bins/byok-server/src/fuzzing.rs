//! The body of the `config` fuzz target, shared by the repository's
//! `fuzz/` (cargo-fuzz, feature `fuzzing`) and this module's stable tests.
//! Not an API: hidden, built only with the feature or in tests.
//!
//! The input is the text of `byok.toml` (first byte even: the rest as it
//! is; odd: the rest steers a generator of files made of the settings'
//! own keys and values of every TOML type, sometimes broken), applied as
//! [`crate::config::load_from`] applies the file over the defaults.

use arbitrary::{Result, Unstructured};
use clap::{CommandFactory as _, FromArgMatches as _};
use secrecy::ExposeSecret as _;

use crate::config::{Cli, apply_file};

/// The file's keys (`FileSettings`), the secret ones first.
const KEYS: &[&str] = &[
    "admin_token",
    "database_url",
    "metrics_token",
    "listen",
    "data_dir",
    "master_key_file",
    "metrics_listen",
    "markup_bps",
    "rate_limit_rpm",
    "allow_insecure_upstreams",
    "allow_private_user_endpoints",
    "default_max_output_tokens",
    "max_body_bytes",
    "body_read_timeout_secs",
    "upstream_response_timeout_secs",
    "upstream_idle_timeout_secs",
    "upstream_connect_timeout_secs",
    "log_format",
];

/// The keys whose values are secrets.
const SECRET_KEYS: &[&str] = &["admin_token", "database_url", "metrics_token"];

/// Values of the settings' shapes.
const STRINGS: &[&str] = &[
    "127.0.0.1:8080",
    "[::1]:0",
    "0.0.0.0:65535",
    "127.0.0.1:99999",
    "./byok-data",
    "/var/lib/byok/master.key",
    "postgres://byok:s3cret-Passw0rd@db.internal:5432/byok",
    "tok-0123456789abcdefghijklmnopqrstuv",
    "short",
    "text",
    "json",
    "JSON",
    "https://groq.internal.example/openai/v1",
    "",
    "é\u{0}",
];

/// A TOML value: strings of the settings' shapes, integers at the edges,
/// booleans, floats, arrays, inline tables.
fn value(u: &mut Unstructured<'_>, depth: u8) -> Result<String> {
    Ok(match u.int_in_range(0u8..=if depth > 1 { 5 } else { 7 })? {
        0 | 1 => format!("{:?}", u.choose(STRINGS)?),
        2 => format!(
            "{}",
            u.choose(&[
                0i64,
                1,
                -1,
                5,
                300,
                301,
                3600,
                3601,
                i64::MAX,
                i64::MIN,
                4_294_967_296
            ])?
        ),
        3 => format!("{}", u.arbitrary::<i64>()?),
        4 => format!("{}", u.arbitrary::<bool>()?),
        5 => (*u.choose(&[
            "1.5",
            "inf",
            "nan",
            "1e400",
            "0x10",
            "1_000",
            "'lit'",
            "\"\"\"\nmulti\n\"\"\"",
        ])?)
        .to_owned(),
        6 => {
            let mut items = Vec::new();
            for _ in 0..u.int_in_range(0u8..=3)? {
                items.push(value(u, depth + 1)?);
            }
            format!("[{}]", items.join(", "))
        }
        _ => format!("{{ groq = {} }}", value(u, depth + 1)?),
    })
}

/// A file: `key = value` lines (the settings' keys, sometimes another or
/// twice), an `[upstream]` table, and sometimes a byte of it damaged.
fn structured(u: &mut Unstructured<'_>) -> Result<String> {
    let mut text = String::new();
    for _ in 0..u.int_in_range(0u8..=8)? {
        let key = if u.int_in_range(0u8..=15)? == 15 {
            "markup_bsp"
        } else {
            u.choose(KEYS)?
        };
        let v = value(u, 0)?;
        text.push_str(&format!("{key} = {v}\n"));
    }
    if u.arbitrary()? {
        text.push_str("[upstream]\n");
        for _ in 0..u.int_in_range(0u8..=3)? {
            let id = u.choose(&["groq", "openai", "anthropic", "\"with space\"", "a.b"])?;
            let v = value(u, 1)?;
            text.push_str(&format!("{id} = {v}\n"));
        }
    }
    if !text.is_empty() && u.int_in_range(0u8..=7)? == 7 {
        let mut bytes = text.into_bytes();
        let i = u.choose_index(bytes.len())?;
        bytes[i] = *u.choose(b"\"'=[]\n#\\ {}")?;
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    Ok(text)
}

/// The values of the file's secret keys (of at least 8 characters) that
/// no other line holds, read line by line as written.
fn secrets(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let Some((key, v)) = line.split_once('=') else {
            continue;
        };
        if !SECRET_KEYS.contains(&key.trim()) {
            continue;
        }
        let v = v.trim().trim_matches(['"', '\'']).to_owned();
        let elsewhere = text
            .lines()
            .filter(|l| {
                l.split_once('=')
                    .is_none_or(|(k, _)| k.trim() != key.trim())
            })
            .any(|l| l.contains(&v));
        if v.chars().count() >= 8 && !elsewhere {
            found.push(v);
        }
    }
    found
}

#[allow(clippy::panic)] // a fuzz target reports a broken invariant by panicking
fn panic_with(what: &str) {
    panic!("{what}");
}

/// Fuzz target `config`: `byok.toml` text applied over the defaults. It
/// never panics; accepted settings validate (or not) without panicking
/// and keep every timeout within its bounds; neither the settings'
/// `Debug` nor an error shows a secret value (`admin_token`,
/// `database_url`, `metrics_token`) written in the file.
pub fn config(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let text = if first % 2 == 0 {
        match std::str::from_utf8(rest) {
            Ok(t) => t.to_owned(),
            Err(_) => return,
        }
    } else {
        match structured(&mut Unstructured::new(rest)) {
            Ok(t) => t,
            Err(_) => return,
        }
    };
    let Ok(matches) = Cli::command().try_get_matches_from(["byok-server"]) else {
        panic_with("the defaults parse");
        return;
    };
    let Ok(mut cli) = Cli::from_arg_matches(&matches) else {
        panic_with("the defaults parse");
        return;
    };
    let s = &mut cli.settings;
    let secrets = secrets(&text);
    match apply_file(s, &matches, &text) {
        Ok(()) => {
            let _ = s.validate();
            for (secs, max) in [
                (s.body_read_timeout_secs, 3600),
                (s.upstream_response_timeout_secs, 3600),
                (s.upstream_idle_timeout_secs, 3600),
                (s.upstream_connect_timeout_secs, 300),
            ] {
                assert!((1..=max).contains(&secs), "a timeout out of bounds: {secs}");
            }
            let debug = format!("{s:?}");
            let set: Vec<String> = [&s.admin_token, &s.database_url, &s.metrics_token]
                .into_iter()
                .flatten()
                .map(|t| t.expose_secret().to_owned())
                .collect();
            // What the settings show without their secrets.
            s.admin_token = None;
            s.database_url = None;
            s.metrics_token = None;
            let plain = format!("{s:?}");
            for v in set.iter().filter(|v| secrets.contains(v)) {
                assert!(
                    !debug.contains(v.as_str()) || plain.contains(v.as_str()),
                    "Debug shows the secret {v:?}: {debug}"
                );
            }
        }
        Err(e) => {
            let shown = format!("{e:#}");
            for v in &secrets {
                assert!(
                    !shown.contains(v.as_str()),
                    "a configuration error shows a secret: {shown}"
                );
            }
        }
    }
}

/// The seed corpus, as `(file name, bytes)`: the files of the config tests.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    [
        "markup_bps = 250\nrate_limit_rpm = 7\n[upstream]\ngroq = \"https://groq.internal.example/openai/v1\"\n",
        "markup_bsp = 1\n",
        "upstream_response_timeout_secs = 60\nupstream_idle_timeout_secs = 30\n",
        "upstream_connect_timeout_secs = 301\n",
        "body_read_timeout_secs = 5\nmetrics_listen = \"127.0.0.1:9100\"\nmetrics_token = \"file-token-0123456789abcdefghijklmnop\"\nadmin_token = \"file-token-0123456789abcdefghijklmnop\"\nallow_private_user_endpoints = true\n",
        "listen = \"0.0.0.0:8080\"\ndata_dir = \"/var/lib/byok\"\nmaster_key_file = \"/etc/byok/master.key\"\ndatabase_url = \"postgres://byok:s3cret-Passw0rd@db.internal:5432/byok\"\nlog_format = \"json\"\nmax_body_bytes = 10485760\ndefault_max_output_tokens = 4096\nallow_insecure_upstreams = false\n",
    ]
    .iter()
    .enumerate()
    .map(|(i, text)| {
        let mut bytes = vec![0];
        bytes.extend_from_slice(text.as_bytes());
        (format!("seed-{i}.toml"), bytes)
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn every_seed() {
        for (_, bytes) in seeds() {
            config(&bytes);
        }
    }

    /// The inputs of the defects fuzzing found, kept in the corpus as
    /// `fuzz/corpus/config/regress-*`.
    #[test]
    fn every_regression() -> std::io::Result<()> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/config");
        let mut ran = 0;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("regress-"))
            {
                config(&std::fs::read(&path)?);
                ran += 1;
            }
        }
        assert!(ran >= 1, "the regression inputs are in fuzz/corpus/config");
        Ok(())
    }

    /// Writes the seed corpus into the repository's `fuzz/corpus/config/`
    /// (`cargo test -p byok-server --lib write_seed_corpus -- --ignored`).
    #[test]
    #[ignore = "writes fuzz/corpus; run by hand"]
    fn write_seed_corpus() -> std::io::Result<()> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/config");
        std::fs::create_dir_all(&dir)?;
        for (file, bytes) in seeds() {
            std::fs::write(dir.join(file), bytes)?;
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]
        #[test]
        fn config_random(first in any::<u8>(), rest in vec(any::<u8>(), 0..512)) {
            let mut data = vec![first | 1];
            data.extend_from_slice(&rest);
            config(&data);
            data[0] = first & !1;
            config(&data);
        }
    }
}
