//! The server starts on its embedded defaults and answers health checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use byok_server::{RunningServer, Settings};
use byok_tests::request;

fn settings(dir: &std::path::Path) -> Settings {
    Settings::for_data_dir(dir.join("data"))
}

#[test]
fn healthz_and_readyz_on_fresh_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let server = RunningServer::start(&settings(dir.path())).unwrap();
    let health = request(server.addr(), "GET", "/healthz", None).unwrap();
    assert_eq!(health.status, 200);
    assert!(health.body.contains("\"ok\""));
    let ready = request(server.addr(), "GET", "/readyz", None).unwrap();
    assert_eq!(ready.status, 200, "{}", ready.body);
    let missing = request(server.addr(), "GET", "/nope", None).unwrap();
    assert_eq!(missing.status, 404);
    server.stop();

    // First start generated a 0600 master key; a restart reuses it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("data/master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = RunningServer::start(&settings(dir.path())).unwrap();
    assert_eq!(
        request(again.addr(), "GET", "/readyz", None)
            .unwrap()
            .status,
        200
    );
}

#[test]
fn refuses_to_start_with_a_wrong_master_key() {
    let dir = tempfile::tempdir().unwrap();
    RunningServer::start(&settings(dir.path())).unwrap().stop();
    let mut wrong = settings(dir.path());
    // 32 bytes of base64, but not the generated key.
    wrong.master_key = Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into());
    let err = RunningServer::start(&wrong).unwrap_err();
    assert!(format!("{err:#}").contains("does not match"), "{err:#}");
}

#[cfg(unix)]
#[test]
fn refuses_a_world_readable_key_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    RunningServer::start(&settings(dir.path())).unwrap().stop();
    let key = dir.path().join("data/master.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = RunningServer::start(&settings(dir.path())).unwrap_err();
    assert!(format!("{err:#}").contains("chmod 600"), "{err:#}");
}
