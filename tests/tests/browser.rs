//! The settings page in a real browser (Debian chromium + playwright-core;
//! `.ci/run` installs both). Without them the test says so loudly and
//! passes locally, but fails under CI.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)] // test code

mod common;

use std::path::Path;
use std::process::Command;

use byok_server::{RunningServer, Settings};
use byok_testkit::{MockUpstream, Reply, fixture};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/browser");

fn available() -> bool {
    Path::new("/usr/bin/chromium").exists()
        && Path::new(DIR).join("node_modules/playwright-core").exists()
        && Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_page_works_in_chromium() {
    if !available() {
        let msg = "\n\n!!! SKIPPING the browser test: needs /usr/bin/chromium, node and tests/browser/node_modules (run .ci/run) !!!\n";
        assert!(std::env::var("CI").is_err(), "{msg} CI must have them.");
        eprintln!("{msg}");
        return;
    }
    let mock = MockUpstream::start().await;
    mock.on(
        "GET",
        "/v1/models",
        Reply::json(200, fixture("openai/models.json")),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_data_dir(dir.path().join("data"));
    settings.allow_insecure_upstreams = true;
    settings
        .upstreams
        .insert("openai".into(), format!("{}/v1", mock.base_url()));
    let server = RunningServer::start(&settings).unwrap();
    let (_, key) = common::create_user(&settings, "browser", Some("1.00"));
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/settings-page.png");
    let base = format!("http://{}", server.addr());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .current_dir(DIR)
            .args(["settings_page.mjs", &base, &key, shot.to_str().unwrap()])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("browser test: {stdout}");
    drop(server);
}
