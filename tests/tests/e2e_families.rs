//! End to end: every translator family and every search provider through the
//! gateway, and gateway-key management.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use byok_testkit::{Reply, fixture};
use common::Env;
use serde_json::{Value, json};

/// The mock answers as every family and search provider not in
/// `e2e_chat` (Azure is a user endpoint, allowed on the mock's address).
const UPSTREAMS: &[(&str, &str)] = &[
    ("google", ""),
    ("openai-responses", "/v1"),
    ("aws", ""),
    ("kagi", ""),
    ("perplexity", ""),
    ("exa", ""),
];

/// The gateway and the key of a user with 3 USD.
async fn start() -> (Env, String) {
    let env = common::start(UPSTREAMS, |s| s.allow_private_user_endpoints = true).await;
    let (_, key) = env.cli_user("fam", Some("3.00"));
    (env, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_translator_family_and_search_provider() {
    let (env, key) = start().await;
    let mock = &env.mock;
    let azure = json!({"endpoint": mock.base_url(), "apiKey": "azure-e2e-0123456789abcdef", "deploymentName": "gpt4o", "apiVersion": "v1"});
    for (provider, secret) in [
        ("google", json!("AIzaSyE2E-0123456789abcdefghij")),
        ("openai-responses", json!("sk-responses-e2e-0123456789")),
        (
            "aws",
            json!({"apiKey": "ABSKe2eBedrockKey0123456789", "region": "us-east-1"}),
        ),
        ("azure", azure),
    ]
    .into_iter()
    .chain(["kagi", "perplexity", "exa"].map(|p| (p, json!(format!("{p}-e2e-key-0123456789")))))
    {
        let status = env.put_credential(&key, provider, secret).await.status();
        assert_eq!(status, 200, "{provider}");
    }
    // (path, fixture, for streamed requests only): `.sse` fixtures are
    // answered as event streams, the others as JSON.
    for (path, answer, streaming) in [
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "google/generate_text.json",
            false,
        ),
        (
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            "google/stream_text.sse",
            false,
        ),
        ("/v1/responses", "responses/response_text.json", false),
        ("/v1/responses", "responses/stream_text.sse", true),
        (
            "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse",
            "bedrock/converse_text.json",
            false,
        ),
        (
            "/openai/v1/chat/completions",
            "openai/chat_text.json",
            false,
        ),
        (
            "/openai/v1/chat/completions",
            "openai/stream_azure_prompt_filter.sse",
            true,
        ),
    ] {
        let text = fixture(answer);
        if answer.ends_with(".sse") {
            let reply = Reply::sse(&text);
            if streaming {
                mock.on_streaming("POST", path, reply);
            } else {
                mock.on("POST", path, reply);
            }
        } else {
            mock.on("POST", path, Reply::json(200, text));
        }
    }

    for (provider, model, stream) in [
        ("google", "gemini-2.5-flash", false),
        ("google", "gemini-2.5-flash", true),
        ("openai-responses", "gpt-4.1", false),
        ("openai-responses", "gpt-4.1", true),
        ("aws", "anthropic.claude-3-5-sonnet-20241022-v2:0", false),
        ("azure", "gpt4o", false),
        ("azure", "gpt4o", true),
    ] {
        let body = json!({"model": model, "stream": stream, "max_tokens": 100, "messages": [{"role": "user", "content": "Hello"}]});
        let r = env.chat_via(&key, provider, body).await;
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

    for (method, answer) in [
        ("GET", "search/kagi_search.json"),
        ("POST", "search/perplexity_search.json"),
    ] {
        mock.on(method, "/search", Reply::json(200, fixture(answer)));
    }
    for provider in ["kagi", "perplexity"] {
        let query = json!({"query": "rust async", "provider": provider});
        let r = env.post(&key, "/api/web", &query).await;
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
    let query = json!({"query": "rust async", "provider": "exa", "mode": "neural"});
    let r = env.post(&key, "/api/web", &query).await;
    assert_eq!(r.status(), 200);
    let query = json!({"query": "rust async", "provider": "openai"});
    let r = env.post(&key, "/api/web", &query).await;
    assert_eq!(r.status(), 400, "a chat provider is not a search provider");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_keys_can_be_added_listed_and_revoked() {
    let (env, key) = start().await;
    let created: Value = env
        .call("POST", "/api/keys", &key)
        .await
        .json()
        .await
        .unwrap();
    let second = created["api_key"].as_str().unwrap().to_owned();
    let prefix = created["prefix"].as_str().unwrap().to_owned();
    assert!(second.starts_with(&prefix));
    assert_eq!(env.call("GET", "/api/balance", &second).await.status(), 200);
    let list: Value = env.get_json("/api/keys", &key).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(
        !list.to_string().contains(&second[prefix.len()..]),
        "only prefixes are listed"
    );
    let revoke = format!("/api/keys/{prefix}");
    assert_eq!(env.call("DELETE", &revoke, &key).await.status(), 204);
    assert_eq!(
        env.call("GET", "/api/balance", &second).await.status(),
        401,
        "revoked at once"
    );
    assert_eq!(env.call("GET", "/api/balance", &key).await.status(), 200);
}
