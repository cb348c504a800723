//! End to end over HTTP: a user, credentials, chat through two translator
//! families (streaming and not), web search, usage and balance, errors, and
//! no plaintext key in the data directory afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use byok_testkit::{Reply, fixture};
use serde_json::{Value, json};

const OPENAI_KEY: &str = "sk-test-CANARY-Zq8vN3xR5tL1pW7mK2jH9gF4";
const ANTHROPIC_KEY: &str = "sk-ant-CANARY-Yd3fG7hJ1kL5zX9cV2bN6mQ0";
const TAVILY_KEY: &str = "tvly-CANARY-Pw4eR8tY2uI6oP0aS5dF9gH3";

/// The mock answers as OpenAI, Anthropic and Tavily.
const UPSTREAMS: &[(&str, &str)] = &[("openai", "/v1"), ("anthropic", ""), ("tavily", "")];

fn chat_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "max_tokens": 256, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_chats_through_the_gateway() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (user_id, key) = env.cli_user("alice", Some("1.00"));

    // Identical 401s for every kind of wrong key.
    let mut bodies = Vec::new();
    for auth in [
        None,
        Some("byok_wrong"),
        Some(&key[..key.len() - 1]),
        Some(""),
    ] {
        let mut r = env.http.get(env.url("/api/balance"));
        if let Some(a) = auth {
            r = r.bearer_auth(a);
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        bodies.push(resp.text().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");

    // Credentials: stored, listed with last4 only; bad ones refused and not stored.
    let r = env.put_credential(&key, "openai", json!(OPENAI_KEY)).await;
    assert_eq!(r.status(), 200);
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["last4"], "9gF4");
    let r = env
        .put_credential(&key, "anthropic", json!("bad\r\nX-Injected: 1"))
        .await;
    assert_eq!(r.status(), 422);
    let r = env
        .put_credential(&key, "anthropic", json!(ANTHROPIC_KEY))
        .await;
    assert_eq!(r.status(), 200);
    let r = env.put_credential(&key, "tavily", json!(TAVILY_KEY)).await;
    assert_eq!(r.status(), 200);
    let r = env.put_credential(&key, "aws", json!({"accessKeyId": "AKIAX", "secretAccessKey": "s3cr3t0123456789abcdef", "region": "us-east-1.evil.example#"})).await;
    assert_eq!(r.status(), 422);
    let list: Value = env.get_json("/api/byok/credentials", &key).await;
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["provider"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["anthropic", "openai", "tavily"]);
    assert!(!list.to_string().contains("CANARY"));

    // OpenAI dialect, not streamed.
    env.answer_chat_text();
    let r = env.chat(&key, chat_body("gpt-4o-mini", false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-byok-provider"], "openai");
    assert_eq!(r.headers()["x-byok-usage-source"], "reported");
    let markup1 = r.headers()["x-byok-markup-usd"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        r.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello! How can I help you today?"
    );
    let sent = env.mock.last_request().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );

    // OpenAI dialect, streamed.
    env.answer_chat(Reply::sse(&fixture("openai/stream_text.sse")));
    let r = env.chat(&key, chat_body("gpt-4o-mini", true)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(text.contains("\"content\":\" today\""));

    // Anthropic translator, streamed.
    env.mock.on(
        "POST",
        "/v1/messages",
        Reply::sse(&fixture("anthropic/stream_text.sse")),
    );
    let r = env.chat(&key, chat_body("claude-sonnet-4-5", true)).await;
    assert_eq!(r.headers()["x-byok-provider"], "anthropic");
    let text = r.text().await.unwrap();
    assert!(
        text.contains("Hello") && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );
    assert_eq!(
        env.mock.last_request().unwrap().header("x-api-key"),
        Some(ANTHROPIC_KEY)
    );

    // Web search.
    env.mock.on(
        "POST",
        "/search",
        Reply::json(200, fixture("search/tavily_search.json")),
    );
    let r = env
        .post(
            &key,
            "/api/web",
            &json!({"query": "rust async", "max_results": 2}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let web: Value = r.json().await.unwrap();
    assert_eq!(web["provider"], "tavily");
    assert_eq!(web["results"][0]["url"], "https://tokio.rs/");

    // Usage and balance: three charges, balance down by exactly their markup.
    let entries = env.check_settled(&key, 3, "1.00").await;
    assert_eq!(entries[2]["markup_usd"], markup1.as_str());
    assert_eq!(entries[2]["usage_source"], "reported");

    // A request that tries to pick the upstream is refused.
    let mut evil = chat_body("gpt-4o-mini", false);
    evil["api_base"] = json!("http://169.254.169.254/");
    let before = env.mock.requests().len();
    let r = env.chat(&key, evil).await;
    assert_eq!(r.status(), 400);
    assert_eq!(env.mock.requests().len(), before);

    // Deleting a credential: the next request is refused, naming what is missing.
    let r = env
        .call("DELETE", "/api/byok/credentials/openai", &key)
        .await;
    assert_eq!(r.status(), 204);
    let r = env.chat(&key, chat_body("gpt-4o-mini", false)).await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("needs a credential for openai")
    );

    // A user without credit gets 402 and nothing goes upstream.
    let (_, poor) = env.cli_user("alice", None);
    env.store(&poor, "openai", json!(OPENAI_KEY)).await;
    let before = env.mock.requests().len();
    let r = env.chat(&poor, chat_body("gpt-4o-mini", false)).await;
    assert_eq!(r.status(), 402);
    assert_eq!(env.mock.requests().len(), before);
    let _ = user_id;

    // Nothing in the data directory holds a key or an 8-byte piece of one.
    drop(env.server);
    for entry in std::fs::read_dir(&env.settings.data_dir).unwrap() {
        // WAL and SHM files may vanish as the last connections close.
        let Ok(bytes) = std::fs::read(entry.unwrap().path()) else {
            continue;
        };
        common::no_fragment(&[OPENAI_KEY, ANTHROPIC_KEY, TAVILY_KEY], bytes);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_gets_the_models_maximum_output_by_default() {
    let env = common::start(UPSTREAMS, |_| {}).await;
    let (_, key) = env.cli_user("alice", Some("1.00"));
    env.store(&key, "anthropic", json!(ANTHROPIC_KEY)).await;
    // Without a limit from the client, Anthropic gets the model's maximum
    // output from the catalog (claude-sonnet-4-5: 64,000), not 4096; with
    // one, the client's.
    for (limit, sent_limit) in [(None, 64000), (Some(300), 300)] {
        env.mock.on(
            "POST",
            "/v1/messages",
            Reply::sse(&fixture("anthropic/stream_text.sse")),
        );
        let mut body = chat_body("claude-sonnet-4-5", true);
        body["max_tokens"] = json!(limit);
        if limit.is_none() {
            body.as_object_mut().unwrap().remove("max_tokens");
        }
        let r = env.chat(&key, body).await;
        assert_eq!(r.status(), 200);
        r.text().await.unwrap();
        let sent: Value = serde_json::from_slice(&env.mock.last_request().unwrap().body).unwrap();
        assert_eq!(sent["max_tokens"], sent_limit, "{sent}");
    }
}
