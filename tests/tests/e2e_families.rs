//! End to end: every translator family and every search provider through the
//! gateway, and gateway-key management.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use byok_server::{RunningServer, Settings};
use byok_testkit::{MockUpstream, Reply, fixture};
use serde_json::{Value, json};

async fn start() -> (tempfile::TempDir, RunningServer, MockUpstream, String) {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::for_data_dir(dir.path().join("data"));
    s.allow_insecure_upstreams = true;
    s.allow_private_user_endpoints = true;
    for (id, suffix) in [
        ("google", ""),
        ("openai-responses", "/v1"),
        ("aws", ""),
        ("kagi", ""),
        ("perplexity", ""),
        ("exa", ""),
    ] {
        s.upstreams
            .insert(id.into(), format!("{}{suffix}", mock.base_url()));
    }
    let server = RunningServer::start(&s).unwrap();
    let (_, key) = common::create_user(&s, "fam", Some("3.00"));
    (dir, server, mock, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_translator_family_and_search_provider() {
    let (_dir, server, mock, key) = start().await;
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::new();
    let put = |provider: &str, secret: Value| {
        let req = http
            .put(format!("{base}/api/byok/credentials/{provider}"))
            .bearer_auth(&key)
            .json(&json!({"key": secret}));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        put("google", json!("AIzaSyE2E-0123456789abcdefghij")).await,
        200
    );
    assert_eq!(
        put("openai-responses", json!("sk-responses-e2e-0123456789")).await,
        200
    );
    assert_eq!(
        put(
            "aws",
            json!({"apiKey": "ABSKe2eBedrockKey0123456789", "region": "us-east-1"})
        )
        .await,
        200
    );
    let azure = json!({"endpoint": mock.base_url(), "apiKey": "azure-e2e-0123456789abcdef", "deploymentName": "gpt4o", "apiVersion": "v1"});
    assert_eq!(put("azure", azure).await, 200);
    for p in ["kagi", "perplexity", "exa"] {
        assert_eq!(put(p, json!(format!("{p}-e2e-key-0123456789"))).await, 200);
    }
    mock.on(
        "POST",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        Reply::json(200, fixture("google/generate_text.json")),
    );
    mock.on(
        "POST",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        Reply::sse(&fixture("google/stream_text.sse")),
    );
    mock.on(
        "POST",
        "/v1/responses",
        Reply::json(200, fixture("responses/response_text.json")),
    );
    mock.on_streaming(
        "POST",
        "/v1/responses",
        Reply::sse(&fixture("responses/stream_text.sse")),
    );
    mock.on(
        "POST",
        "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse",
        Reply::json(200, fixture("bedrock/converse_text.json")),
    );
    mock.on(
        "POST",
        "/openai/v1/chat/completions",
        Reply::json(200, fixture("openai/chat_text.json")),
    );
    mock.on_streaming(
        "POST",
        "/openai/v1/chat/completions",
        Reply::sse(&fixture("openai/stream_azure_prompt_filter.sse")),
    );

    for (provider, model, stream) in [
        ("google", "gemini-2.5-flash", false),
        ("google", "gemini-2.5-flash", true),
        ("openai-responses", "gpt-4.1", false),
        ("openai-responses", "gpt-4.1", true),
        ("aws", "anthropic.claude-3-5-sonnet-20241022-v2:0", false),
        ("azure", "gpt4o", false),
        ("azure", "gpt4o", true),
    ] {
        let r = http
            .post(format!("{base}/api/v1/chat/completions"))
            .bearer_auth(&key)
            .header("x-byok-provider", provider)
            .json(&json!({"model": model, "stream": stream, "max_tokens": 100, "messages": [{"role": "user", "content": "Hello"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{provider} {stream}");
        assert_eq!(r.headers()["x-byok-provider"], provider);
        let text = r.text().await.unwrap();
        if stream {
            assert!(
                text.ends_with("data: [DONE]\n\n") && !text.contains("\"error\""),
                "{provider}: {text}"
            );
        } else {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                v["choices"][0]["message"]["content"], "Hello! How can I help you today?",
                "{provider}"
            );
        }
    }
    // The Bedrock API key went as a Bearer token; Google's key only in its header.
    let reqs = mock.requests();
    assert!(reqs.iter().any(|r| r.path().starts_with("/model/")
        && r.header("authorization") == Some("Bearer ABSKe2eBedrockKey0123456789")));
    assert!(
        reqs.iter()
            .filter(|r| r.path().starts_with("/v1beta"))
            .all(|r| r.header("x-goog-api-key").is_some() && !r.target.contains("AIza"))
    );

    mock.on(
        "GET",
        "/search",
        Reply::json(200, fixture("search/kagi_search.json")),
    );
    mock.on(
        "POST",
        "/search",
        Reply::json(200, fixture("search/perplexity_search.json")),
    );
    for provider in ["kagi", "perplexity"] {
        let r = http
            .post(format!("{base}/api/web"))
            .bearer_auth(&key)
            .json(&json!({"query": "rust async", "provider": provider}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{provider}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["provider"], provider);
        assert_eq!(v["results"][0]["url"], "https://tokio.rs/");
    }
    mock.on(
        "POST",
        "/search",
        Reply::json(200, fixture("search/exa_search.json")),
    );
    let r = http
        .post(format!("{base}/api/web"))
        .bearer_auth(&key)
        .json(&json!({"query": "rust async", "provider": "exa", "mode": "neural"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{base}/api/web"))
        .bearer_auth(&key)
        .json(&json!({"query": "rust async", "provider": "openai"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a chat provider is not a search provider");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_keys_can_be_added_listed_and_revoked() {
    let (_dir, server, _mock, key) = start().await;
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{base}/api/keys"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second = created["api_key"].as_str().unwrap().to_owned();
    let prefix = created["prefix"].as_str().unwrap().to_owned();
    assert!(second.starts_with(&prefix));
    assert_eq!(
        http.get(format!("{base}/api/balance"))
            .bearer_auth(&second)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let list: Value = common::get_json(&http, format!("{base}/api/keys"), &key).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(
        !list.to_string().contains(&second[prefix.len()..]),
        "only prefixes are listed"
    );
    assert_eq!(
        http.delete(format!("{base}/api/keys/{prefix}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        http.get(format!("{base}/api/balance"))
            .bearer_auth(&second)
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "revoked at once"
    );
    assert_eq!(
        http.get(format!("{base}/api/balance"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
