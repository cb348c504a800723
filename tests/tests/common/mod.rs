//! Helpers shared by the end-to-end test binaries: a gateway on
//! `127.0.0.1:0` in a temporary data directory with the testkit mock as its
//! upstreams, users with credit, stored credentials and chat requests.
#![allow(dead_code, clippy::unwrap_used)] // each binary uses a subset; test code

pub(crate) mod clients;

use std::time::Duration;

use byok_billing::Money;
use byok_server::{RunningServer, Settings};
use byok_testkit::{MockUpstream, Reply, fixture};
use serde_json::{Value, json};

/// Runs `f`, which may block, on a thread of its own outside any runtime:
/// the synchronous PostgreSQL client runs a runtime of its own, and the
/// stores refuse to be called from an async context (as the server's
/// request path never does).
pub(crate) fn in_place<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

/// The admin token every test gateway starts with.
pub(crate) const ADMIN: &str = "admin-token-for-tests-0123456789";

/// A running gateway, its data directory, the mock upstream and a client.
pub(crate) struct Env {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) settings: Settings,
    pub(crate) server: RunningServer,
    pub(crate) mock: MockUpstream,
    pub(crate) http: reqwest::Client,
}

/// Starts a gateway in `<temp>/data` with the admin token [`ADMIN`] and the
/// mock as the upstream of each `(provider id, path suffix)` of `upstreams`
/// (insecure upstreams are allowed when there are any); `tune` adjusts the
/// settings last.
pub(crate) async fn start(upstreams: &[(&str, &str)], tune: impl FnOnce(&mut Settings)) -> Env {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_data_dir(dir.path().join("data"));
    settings.allow_insecure_upstreams = !upstreams.is_empty();
    settings.admin_token = Some(ADMIN.into());
    for (id, suffix) in upstreams {
        settings
            .upstreams
            .insert((*id).to_owned(), format!("{}{suffix}", mock.base_url()));
    }
    tune(&mut settings);
    // Opening PostgreSQL stores blocks (the synchronous client runs a
    // runtime of its own): off this runtime's worker when it can.
    let server = in_place(|| RunningServer::start(&settings)).unwrap();
    Env {
        dir,
        settings,
        server,
        mock,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
    }
}

impl Env {
    /// Another instance on this one's settings (so on its database with
    /// `BYOK_DATABASE_URL`, and on its mock) in a data directory of its own,
    /// with a mock of its own that nothing points at.
    pub(crate) async fn twin(&self) -> Env {
        let (dir, settings) = self.twin_settings();
        let server = in_place(|| RunningServer::start(&settings)).unwrap();
        Env {
            dir,
            settings,
            server,
            mock: MockUpstream::start().await,
            http: self.http.clone(),
        }
    }

    /// This instance's settings in a new data directory (to start another
    /// instance by hand).
    pub(crate) fn twin_settings(&self) -> (tempfile::TempDir, Settings) {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = self.settings.clone();
        settings.data_dir = dir.path().join("data");
        (dir, settings)
    }

    /// The gateway's URL of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr())
    }

    /// A user made through the admin API with `credit` USD: `(user_id,
    /// api_key)`.
    pub(crate) async fn admin_user(&self, name: &str, credit: &str) -> (String, String) {
        let r = self
            .http
            .post(self.url("/api/admin/users"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let id = v["user_id"].as_str().unwrap().to_owned();
        self.admin_credit(&id, credit).await;
        (id, v["api_key"].as_str().unwrap().to_owned())
    }

    /// Credits `amount` USD to `user_id` through the admin API.
    pub(crate) async fn admin_credit(&self, user_id: &str, amount: &str) {
        let r = self
            .http
            .post(self.url(&format!("/api/admin/users/{user_id}/credits")))
            .bearer_auth(ADMIN)
            .json(&json!({"amount_usd": amount}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// A user made with the CLI (as an operator would): `(user_id,
    /// api_key)`.
    pub(crate) fn cli_user(&self, name: &str, credit_usd: Option<&str>) -> (String, String) {
        let mut out = Vec::new();
        in_place(|| {
            byok_server::run_user_command(
                &self.settings,
                &byok_server::UserCommand::Create {
                    name: name.into(),
                    credit_usd: credit_usd.map(str::to_owned),
                },
                &mut out,
            )
        })
        .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        (
            v["user_id"].as_str().unwrap().to_owned(),
            v["api_key"].as_str().unwrap().to_owned(),
        )
    }

    /// `PUT /api/byok/credentials/{path}` (`provider` or `provider/label`)
    /// with `body` (`{"key", "priority"}`).
    pub(crate) async fn put_key(&self, key: &str, path: &str, body: Value) -> reqwest::Response {
        self.http
            .put(self.url(&format!("/api/byok/credentials/{path}")))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `PUT /api/byok/credentials/{provider}` with `{"key": secret}`.
    pub(crate) async fn put_credential(
        &self,
        key: &str,
        provider: &str,
        secret: Value,
    ) -> reqwest::Response {
        self.put_key(key, provider, json!({"key": secret})).await
    }

    /// Stores a provider credential for the user of `key`; it must succeed.
    pub(crate) async fn store(&self, key: &str, provider: &str, secret: Value) {
        let r = self.put_credential(key, provider, secret).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// `POST /api/v1/chat/completions`, the provider chosen by the model.
    pub(crate) async fn chat(&self, key: &str, body: Value) -> reqwest::Response {
        self.post(key, "/api/v1/chat/completions", &body).await
    }

    /// `POST /api/v1/chat/completions` to `provider` (`x-byok-provider`).
    pub(crate) async fn chat_via(
        &self,
        key: &str,
        provider: &str,
        body: Value,
    ) -> reqwest::Response {
        self.post_via(key, "/api/v1/chat/completions", provider, &body)
            .await
    }

    /// `POST path` with a gateway key and a JSON body, to `provider`
    /// (`x-byok-provider`: one provider, or a fallback list).
    pub(crate) async fn post_via(
        &self,
        key: &str,
        path: &str,
        provider: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.post_bytes_via(key, path, provider, serde_json::to_vec(body).unwrap())
            .await
    }

    /// [`Env::post_via`] with `body` sent as these exact bytes (labelled
    /// `application/json`, whether or not they are JSON).
    pub(crate) async fn post_bytes_via(
        &self,
        key: &str,
        path: &str,
        provider: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(key)
            .header("x-byok-provider", provider)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// `POST path` with a gateway key and a JSON body.
    pub(crate) async fn post(&self, key: &str, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// The mock answers chat completions (OpenAI's, under `/v1`) with
    /// `reply`.
    pub(crate) fn answer_chat(&self, reply: Reply) {
        self.mock.on("POST", "/v1/chat/completions", reply);
    }

    /// The mock answers chat completions with `openai/chat_text.json`.
    pub(crate) fn answer_chat_text(&self) {
        self.answer_chat(Reply::json(200, fixture("openai/chat_text.json")));
    }

    /// `GET path` without a key.
    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// A bodiless request with a gateway key.
    pub(crate) async fn call(&self, method: &str, path: &str, key: &str) -> reqwest::Response {
        self.http
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// `GET path` with a gateway key, as JSON.
    pub(crate) async fn get_json(&self, path: &str, key: &str) -> Value {
        let r = self.call("GET", path, key).await;
        let status = r.status();
        let body = r.bytes().await.unwrap();
        serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "GET {path}: {status}, {e}: {:?}",
                String::from_utf8_lossy(&body)
            )
        })
    }

    /// Every ledger entry of the user of `key` (`GET /api/usage`, page by
    /// page), newest first.
    pub(crate) async fn every_entry(&self, key: &str) -> Vec<Value> {
        const PAGE: usize = 500;
        let mut rows = Vec::new();
        let mut path = format!("/api/usage?limit={PAGE}");
        loop {
            let page = self.get_json(&path, key).await;
            let data = page["data"].as_array().unwrap();
            rows.extend(data.iter().cloned());
            if data.len() < PAGE {
                return rows;
            }
            path = format!("/api/usage?limit={PAGE}&before={}", page["next_before"]);
        }
    }

    /// The user's ledger entries once there are `n` (ledger writes are
    /// committed off the request path: up to 15 s), newest first; asserts
    /// there are exactly `n`, so a check over the rows cannot pass on a
    /// charge that never came.
    pub(crate) async fn usage_rows(&self, key: &str, n: usize) -> Vec<Value> {
        // Settlements are queued, and a stream's end is noticed when a
        // write to a gone client fails: on a loaded machine that can take
        // seconds.
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let rows = self.every_entry(key).await;
            if rows.len() >= n || std::time::Instant::now() > deadline {
                assert_eq!(rows.len(), n, "ledger entries: {:#}", json!(rows));
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `(balance, reserved)` of the user of `key`.
    pub(crate) async fn balance(&self, key: &str) -> (Money, Money) {
        let b = self.get_json("/api/balance", key).await;
        let money = |field: &str| b[field].as_str().unwrap().parse::<Money>().unwrap();
        (money("balance_usd"), money("reserved_usd"))
    }

    /// What the user of `key` has reserved.
    pub(crate) async fn reserved(&self, key: &str) -> Money {
        self.balance(key).await.1
    }

    /// After every request ended: exactly `entries` ledger entries (as
    /// [`Env::usage_rows`]), nothing reserved, and the balance down from
    /// `credit` USD by exactly their markups. The entries, newest first.
    pub(crate) async fn check_settled(
        &self,
        key: &str,
        entries: usize,
        credit: &str,
    ) -> Vec<Value> {
        let rows = self.usage_rows(key, entries).await;
        let charged = rows
            .iter()
            .map(|r| r["markup_usd"].as_str().unwrap().parse::<Money>().unwrap())
            .fold(Money::ZERO, |a, b| a.checked_add(b).unwrap());
        let (balance, reserved) = self.balance(key).await;
        assert_eq!(reserved, Money::ZERO, "released or settled");
        assert_eq!(
            balance.checked_add(charged).unwrap(),
            credit.parse::<Money>().unwrap(),
            "the balance down by exactly the markups: {:#}",
            json!(rows)
        );
        rows
    }
}

/// No 8-byte piece of any of `secrets` in `text` (an answer, a listing, a
/// log, a file's bytes).
pub(crate) fn no_fragment(secrets: &[&str], text: impl AsRef<[u8]>) {
    let text = text.as_ref();
    for secret in secrets {
        for piece in secret.as_bytes().windows(8) {
            if text.windows(8).any(|w| w == piece) {
                let shown = std::str::from_utf8(text)
                    .map_or_else(|_| format!("{} bytes", text.len()), str::to_owned);
                panic!(
                    "key fragment `{}` in `{shown}`",
                    String::from_utf8_lossy(piece)
                );
            }
        }
    }
}

/// Says loudly (`msg`) that a test is skipped for want of its tools; under
/// CI, which must have them, fails instead (`ci` says so).
pub(crate) fn skip(msg: &str, ci: &str) {
    assert!(!byok_testkit::ci(), "{msg} {ci}");
    byok_testkit::skipped(msg);
}
