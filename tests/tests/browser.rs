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

use byok_testkit::{Reply, fixture};

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
        common::skip(msg, "CI must have them.");
        return;
    }
    let gateway = common::start(&[("openai", "/v1")], |_| {}).await;
    gateway.mock.on(
        "GET",
        "/v1/models",
        Reply::json(200, fixture("openai/models.json")),
    );
    let (_, key) = gateway.cli_user("browser", Some("1.00"));
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/settings-page.png");
    let base = gateway.url("");
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
    drop(gateway);
}
