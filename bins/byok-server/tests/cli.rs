//! The binary's command line: help and version go to stdout with status 0,
//! usage errors to stderr with clap's status 2 (not through the log).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_byok-server"))
        .args(args)
        .env_remove("BYOK_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn help_and_version_print_to_stdout_and_succeed() {
    let v = run(&["--version"]);
    assert!(v.status.success());
    assert_eq!(
        String::from_utf8(v.stdout).unwrap().trim(),
        format!("byok-server {}", env!("CARGO_PKG_VERSION"))
    );
    let h = run(&["--help"]);
    assert!(h.status.success());
    let help = String::from_utf8(h.stdout).unwrap();
    assert!(help.starts_with("The byok gateway"), "{help}");
    assert!(help.contains("BYOK_UPSTREAM_RESPONSE_TIMEOUT_SECS"));
    assert!(h.stderr.is_empty());
}

#[test]
fn usage_errors_exit_2_on_stderr() {
    let e = run(&["--no-such-flag"]);
    assert_eq!(e.status.code(), Some(2));
    assert!(e.stdout.is_empty());
    assert!(
        String::from_utf8(e.stderr)
            .unwrap()
            .contains("unexpected argument '--no-such-flag'")
    );
    let e = run(&["--upstream-idle-timeout-secs", "0"]);
    assert_eq!(
        e.status.code(),
        Some(2),
        "out-of-range values are usage errors"
    );
}

/// Runs `command`, which must exit within 10 s (a server that starts
/// instead is killed and the test fails): its status and stderr.
fn exits(mut command: Command) -> (std::process::ExitStatus, String) {
    use std::io::Read as _;
    let mut child = Child(
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "still running after 10 s: it started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

/// A server process, killed and reaped when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `byok-server` (serve) with only `vars` in its environment (JSON
/// logs wanted) and waits until it listens: the child (killed when
/// dropped, a failed assertion included) and its address.
fn serve<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> (Child, String)
where
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    use std::io::BufRead as _;
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_byok-server"))
            .env_clear()
            .envs(vars)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = std::io::BufReader::new(child.0.stderr.take().unwrap());
    let mut log = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            drop(child);
            panic!("the server stopped before listening:\n{log}{line}");
        }
        log.push_str(&line);
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if event["fields"]["message"] == "byok-server listening" {
            let addr = event["fields"]["addr"].as_str().unwrap().to_owned();
            // Keep draining the log so the server never blocks on it.
            std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
            return (child, addr);
        }
    }
}

/// Every documented `BYOK_*` variable at once, each valid, and the server
/// starts and serves: the upstream timeouts (`BYOK_UPSTREAM_*_SECS`) are
/// settings, not provider overrides (they once stopped the start with
/// "BYOK_UPSTREAM for `response-timeout-secs` is not a URL").
#[test]
fn starts_with_every_documented_variable_set() {
    use std::io::{Read as _, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let key_file = dir.path().join("master.key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = dir.path().join("byok.toml");
    std::fs::write(&config, "markup_bps = 250\n").unwrap();
    let vars = [
        ("BYOK_LISTEN", "127.0.0.1:0".to_owned()),
        (
            "BYOK_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        ("BYOK_MASTER_KEY", key.to_owned()),
        ("BYOK_MASTER_KEY_FILE", key_file.display().to_string()),
        (
            "BYOK_ADMIN_TOKEN",
            "an-admin-token-of-at-least-32-characters".to_owned(),
        ),
        (
            "BYOK_METRICS_TOKEN",
            "a-metrics-token-of-at-least-32-characters".to_owned(),
        ),
        ("BYOK_METRICS_LISTEN", "127.0.0.1:0".to_owned()),
        ("BYOK_MARKUP_BPS", "500".to_owned()),
        ("BYOK_RATE_LIMIT_RPM", "100".to_owned()),
        ("BYOK_ALLOW_INSECURE_UPSTREAMS", "1".to_owned()),
        ("BYOK_ALLOW_PRIVATE_USER_ENDPOINTS", "1".to_owned()),
        ("BYOK_DEFAULT_MAX_OUTPUT_TOKENS", "4096".to_owned()),
        ("BYOK_MAX_BODY_BYTES", "1048576".to_owned()),
        ("BYOK_BODY_READ_TIMEOUT_SECS", "20".to_owned()),
        ("BYOK_UPSTREAM_RESPONSE_TIMEOUT_SECS", "60".to_owned()),
        ("BYOK_UPSTREAM_IDLE_TIMEOUT_SECS", "30".to_owned()),
        ("BYOK_UPSTREAM_CONNECT_TIMEOUT_SECS", "5".to_owned()),
        ("BYOK_LOG_FORMAT", "json".to_owned()),
        ("BYOK_LOG", "info".to_owned()),
        ("BYOK_CONFIG", config.display().to_string()),
        ("BYOK_UPSTREAM_OPENAI", "http://127.0.0.1:9/v1".to_owned()),
        (
            "BYOK_UPSTREAM_AZURE_ANTHROPIC_FOUNDRY",
            "http://127.0.0.1:9".to_owned(),
        ),
        ("BYOK_UPSTREAM_AWS", "http://127.0.0.1:9".to_owned()),
        ("BYOK_UPSTREAM_TAVILY", "http://127.0.0.1:9".to_owned()),
    ];
    let (child, addr) = serve(vars);
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    drop(child);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"ok\""), "{answer}");
}

/// An empty `BYOK_ADMIN_TOKEN` (which once opened the admin API to anyone)
/// or one shorter than 32 characters stops the start, naming the setting.
#[test]
fn refuses_to_start_with_a_short_admin_token() {
    for token in ["", "short-token"] {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_byok-server"));
        command
            .env_clear()
            .env("BYOK_DATA_DIR", dir.path())
            .env("BYOK_LISTEN", "127.0.0.1:0")
            .env("BYOK_ADMIN_TOKEN", token)
            .env("BYOK_CONFIG", dir.path().join("none.toml"));
        let (status, stderr) = exits(command);
        assert!(!status.success(), "started with {token:?}: {stderr}");
        assert!(stderr.contains("BYOK_ADMIN_TOKEN"), "{stderr}");
        if !token.is_empty() {
            assert!(!stderr.contains(token), "the value is not logged: {stderr}");
        }
    }
}

/// `vault rotate-master-key` refuses while a server runs on the data
/// directory (the running server would keep the old keyring and fail every
/// vault read until restarted), and works once it has stopped; servers
/// share the directory, and none starts while the lock is held exclusively.
#[test]
fn rotation_refuses_while_a_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let vars = |extra: &[(&str, &str)]| {
        let mut v = vec![
            ("BYOK_DATA_DIR".to_owned(), data.display().to_string()),
            ("BYOK_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("BYOK_LOG_FORMAT".to_owned(), "json".to_owned()),
            (
                "BYOK_CONFIG".to_owned(),
                dir.path().join("none.toml").display().to_string(),
            ),
        ];
        v.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        v
    };
    let rotate = || {
        Command::new(env!("CARGO_BIN_EXE_byok-server"))
            .args(["vault", "rotate-master-key"])
            .env_clear()
            .envs(vars(&[]))
            .output()
            .unwrap()
    };
    let (first, _) = serve(vars(&[]));
    let (second, _) = serve(vars(&[]));
    let key_before = std::fs::read(data.join("master.key")).unwrap();
    let out = rotate();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        !out.status.success(),
        "rotated under a running server: {stderr}"
    );
    assert!(stderr.contains("byok-server is running"), "{stderr}");
    assert!(stderr.contains("byok.lock"), "{stderr}");
    assert_eq!(std::fs::read(data.join("master.key")).unwrap(), key_before);
    drop((first, second));
    let out = rotate();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(std::fs::read(data.join("master.key")).unwrap(), key_before);
    let held = std::fs::File::open(data.join("byok.lock")).unwrap();
    held.try_lock().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_byok-server"));
    command.env_clear().envs(vars(&[]));
    let (status, stderr) = exits(command);
    assert!(!status.success(), "started during a rotation: {stderr}");
    assert!(stderr.contains("rotate-master-key"), "{stderr}");
}
