//! End to end: billing integrity (issue #14): the reservation is an upper
//! bound of the charge (every choice, the model's maximum output, the
//! thinking budget), a live stream keeps its reservation past the TTL and
//! is charged once, a request is priced by the model that answered, a cut
//! stream is estimated on every choice, and user endpoints are public
//! unless the operator says otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::Duration;

use byok_billing::{Catalog, Money, QuoteOptions, TokenUsage, UsageSource, quote};
use byok_server::Settings;
use byok_testkit::{Body, Piece, Reply, fixture};
use common::Env;
use serde_json::{Value, json};

/// The mock answers as OpenAI and Anthropic.
const UPSTREAMS: &[(&str, &str)] = &[("openai", "/v1"), ("anthropic", "")];

async fn env(tune: impl FnOnce(&mut Settings)) -> Env {
    common::start(UPSTREAMS, tune).await
}

/// A user with `credit` USD and an OpenAI and an Anthropic key.
async fn user(env: &Env, credit: &str) -> String {
    let (_, key) = env.admin_user("payer", credit).await;
    env.store(&key, "openai", json!("sk-test-billing-0123456789abcdef"))
        .await;
    env.store(&key, "anthropic", json!("sk-ant-billing-0123456789abcdef"))
        .await;
    key
}

fn hello(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Hello"}]})
}

/// Finding 1: a stream that outlives the reservation TTL keeps its
/// reservation (extended by a timer while the client is slow to read) and
/// is charged exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_outliving_the_reservation_ttl_is_kept_and_charged_once() {
    let env = env(|s| s.reservation_ttl = Duration::from_millis(600)).await;
    let key = user(&env, "1.00").await;
    env.mock.on_streaming(
        "POST",
        "/v1/chat/completions",
        Reply::sse_with_delay(
            &fixture("openai/stream_text.sse"),
            Duration::from_millis(200),
        ),
    );
    let mut body = hello("gpt-4o-mini");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(100);
    let mut r = env.chat_via(&key, "openai", body).await;
    assert_eq!(r.status(), 200);
    // The client reads nothing for more than twice the TTL (the sweeper
    // runs every 200 ms): the reservation is still held.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        env.reserved(&key).await > Money::ZERO,
        "the live stream's reservation was swept"
    );
    let mut text = Vec::new();
    while let Some(piece) = r.chunk().await.unwrap() {
        text.extend_from_slice(&piece);
    }
    assert!(text.ends_with(b"data: [DONE]\n\n"));
    let rows = env.check_settled(&key, 1, "1.00").await;
    let markup: Money = rows[0]["markup_usd"].as_str().unwrap().parse().unwrap();
    assert!(markup > Money::ZERO);
}

/// The answer of `chat_text.json` naming `model`.
fn answer_naming(model: &str) -> String {
    let mut v: Value = serde_json::from_str(&fixture("openai/chat_text.json")).unwrap();
    v["model"] = json!(model);
    v.to_string()
}

/// Finding 2: an Azure deployment is priced by the model that answered,
/// streamed or not, and `/api/usage` shows that model; a private user
/// endpoint needs `BYOK_ALLOW_PRIVATE_USER_ENDPOINTS` (the mock is on
/// 127.0.0.1), not `BYOK_ALLOW_INSECURE_UPSTREAMS` (finding 8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_priced_by_the_model_that_answered() {
    let env = env(|s| {
        s.allow_insecure_upstreams = false;
        s.upstreams.clear();
        s.allow_private_user_endpoints = true;
    })
    .await;
    let key = user(&env, "1.00").await;
    let azure = json!({"endpoint": env.mock.base_url(), "apiKey": "azure-billing-0123456789abcdef", "deploymentName": "o3-deployment", "apiVersion": "v1"});
    env.store(&key, "azure", azure).await;
    let path = "/openai/v1/chat/completions";
    env.mock.on(
        "POST",
        path,
        Reply::json(200, answer_naming("o3-2025-04-16")),
    );
    let stream = fixture("openai/stream_text.sse").replace("gpt-4.1-2025-04-14", "o3-2025-04-16");
    env.mock.on_streaming("POST", path, Reply::sse(&stream));

    let r = env.chat_via(&key, "azure", hello("gpt-4.1-nano")).await;
    assert_eq!(r.status(), 200);
    let markup = r.headers()["x-byok-markup-usd"]
        .to_str()
        .unwrap()
        .to_owned();
    let usage = TokenUsage {
        prompt: 2006,
        cached: 1920,
        cache_write: 0,
        completion: 300,
        reasoning: 64,
    };
    let catalog = Catalog::builtin().unwrap();
    let price = |model: &str, usage: &TokenUsage| {
        quote(
            &catalog,
            "azure",
            model,
            usage,
            UsageSource::Reported,
            QuoteOptions::default(),
        )
        .unwrap()
        .markup
    };
    assert_eq!(markup, price("o3-2025-04-16", &usage).to_string());
    assert_ne!(markup, price("gpt-4.1-nano", &usage).to_string());

    let mut body = hello("gpt-4.1-nano");
    body["stream"] = json!(true);
    let r = env.chat_via(&key, "azure", body).await;
    assert_eq!(r.status(), 200);
    let _ = r.text().await.unwrap();
    let rows = env.usage_rows(&key, 2).await;
    for row in &rows {
        assert_eq!(row["model"], "o3-2025-04-16", "{row}");
    }
    let streamed = TokenUsage {
        prompt: 19,
        completion: 10,
        ..TokenUsage::default()
    };
    assert_eq!(
        rows[0]["markup_usd"],
        price("o3-2025-04-16", &streamed).to_string()
    );
}

/// Finding 8: `BYOK_ALLOW_INSECURE_UPSTREAMS` covers the operator's
/// overrides only: a user's Azure endpoint on a private address is refused
/// unless `BYOK_ALLOW_PRIVATE_USER_ENDPOINTS` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_upstreams_do_not_open_user_endpoints() {
    let env = env(|_| {}).await;
    let key = user(&env, "1.00").await;
    for endpoint in [
        env.mock.base_url(),
        "http://169.254.169.254/".to_owned(),
        "https://10.0.0.1/".to_owned(),
    ] {
        let azure = json!({"endpoint": endpoint, "apiKey": "azure-billing-0123456789abcdef", "deploymentName": "d", "apiVersion": "v1"});
        assert_eq!(
            env.put_credential(&key, "azure", azure).await.status(),
            422,
            "{endpoint}"
        );
    }
    // The operator's own override on 127.0.0.1 still works.
    env.answer_chat_text();
    let r = env.chat_via(&key, "openai", hello("gpt-4o-mini")).await;
    assert_eq!(r.status(), 200);
}

/// The answer of `chat_text.json` by `gpt-4o-mini`, with `completion`
/// output tokens reported.
fn answer_with_completion(completion: u64) -> String {
    let mut v: Value = serde_json::from_str(&answer_naming("gpt-4o-mini")).unwrap();
    v["usage"] = json!({"prompt_tokens": 10, "completion_tokens": completion, "total_tokens": 10 + completion});
    v.to_string()
}

/// Finding 3 (the done-when item): fifty parallel requests with
/// `n: 128` and no output limit, each answered with far more than the old
/// 8,192-token default, never take a small balance below zero; the `402`
/// says what the balance affords. The thinking budget a translator adds
/// is reserved too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_requests_with_many_choices_never_overdraw() {
    let env = std::sync::Arc::new(env(|_| {}).await);
    let key = user(&env, "1.00").await;
    // 128 choices of 8,000 tokens each: within gpt-4o-mini's 16,384.
    env.answer_chat(Reply::json(200, answer_with_completion(128 * 8_000)));
    let mut body = hello("gpt-4o-mini");
    body["n"] = json!(128);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (env, key, body) = (env.clone(), key.clone(), body.clone());
        tasks.spawn(async move {
            let r = env
                .post_via(&key, "/api/v1/chat/completions", "openai", &body)
                .await;
            (r.status().as_u16(), r.text().await.unwrap())
        });
    }
    let answers = tasks.join_all().await;
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    assert!(ok >= 1, "{answers:?}");
    for (status, text) in &answers {
        if *status == 402 {
            assert!(text.contains("retry with max_tokens <="), "{text}");
        } else {
            assert_eq!(*status, 200, "{text}");
        }
    }
    env.check_settled(&key, ok, "1.00").await;
    let (balance, _) = env.balance(&key).await;
    assert!(
        balance >= Money::ZERO,
        "overdrawn: {balance} after {ok} answers"
    );

    // One more, on what is left: answered if the rest still covers its
    // bound, else refused with the output it affords; nothing else.
    let r = env.chat_via(&key, "openai", body.clone()).await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    match status.as_u16() {
        200 => {}
        402 => {
            let message = v["error"]["message"].as_str().unwrap();
            assert!(message.contains("may cost up to"), "{message}");
        }
        other => panic!("unexpected {other}: {v}"),
    }

    // Anthropic's `reasoning_effort: "high"` sends a 16,384-token thinking
    // budget whatever `max_tokens` says: a balance that covers one output
    // token but not the budget is refused before anything goes upstream.
    let poor = user(&env, "0.005").await;
    let before = env.mock.requests().len();
    let mut thinking = hello("claude-sonnet-4-20250514");
    thinking["max_tokens"] = json!(1);
    thinking["reasoning_effort"] = json!("high");
    let r = env.chat_via(&poor, "anthropic", thinking).await;
    assert_eq!(r.status(), 402, "{}", r.text().await.unwrap());
    assert_eq!(env.mock.requests().len(), before);
}

/// Finding 7: a streamed `n: 2` answer cut off by the client is estimated
/// on both choices, not only the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_stream_is_estimated_on_every_choice() {
    let env = env(|_| {}).await;
    let key = user(&env, "1.00").await;
    let chunk = |choices: Value| {
        let c = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "choices": choices});
        format!("data: {c}\n\n")
    };
    let long = "lorem ipsum dolor sit amet ".repeat(100);
    let events = [
        chunk(
            json!([{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": null}]),
        ),
        chunk(
            json!([{"index": 1, "delta": {"role": "assistant", "content": long}, "finish_reason": null}]),
        ),
        chunk(json!([{"index": 0, "delta": {"content": "MARK"}, "finish_reason": null}])),
    ];
    let mut pieces: Vec<Piece> = events
        .iter()
        .map(|e| Piece {
            delay: Duration::ZERO,
            bytes: e.clone().into(),
        })
        .collect();
    // Then nothing but empty chunks, slowly: the gateway notices the
    // client is gone when a write fails.
    for _ in 0..100 {
        pieces.push(Piece {
            delay: Duration::from_millis(100),
            bytes: chunk(json!([{"index": 0, "delta": {}, "finish_reason": null}])).into(),
        });
    }
    let mut reply = Reply::sse("");
    reply.body = Body::Pieces(pieces);
    env.mock.on_streaming("POST", "/v1/chat/completions", reply);
    let mut body = hello("gpt-4o-mini");
    body["stream"] = json!(true);
    body["n"] = json!(2);
    body["max_tokens"] = json!(1000);
    let mut r = env.chat_via(&key, "openai", body).await;
    assert_eq!(r.status(), 200);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("MARK") {
        seen.extend_from_slice(&r.chunk().await.unwrap().unwrap());
    }
    drop(r);
    let rows = env.usage_rows(&key, 1).await;
    let row = &rows[0];
    assert_eq!(row["usage_source"], "estimated", "{row}");
    let completion = row["completion_tokens"].as_u64().unwrap();
    // Choice 1 alone is 100 × 5 words.
    assert!(completion >= 500, "only choice 0 was counted: {completion}");
}
