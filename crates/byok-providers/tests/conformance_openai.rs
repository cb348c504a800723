//! The conformance suite for the OpenAI dialect: every scenario runs against
//! every provider of the table that speaks OpenAI chat at a base URL (a new
//! row is covered by adding it), each through a mock upstream on 127.0.0.1
//! mounted at that provider's own base path. (Azure, the OpenAI chat format
//! on the Azure deployment target, has `translator_azure.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;
use std::time::Duration;

use byok_providers::{
    ChatProvider, ChatRequest, Credential, EndpointPolicy, FinishReason, PROVIDERS, ProviderConfig,
    ProviderError, ProviderInfo, Quirks, Registry, TargetKind, TimeoutPhase, Timeouts, Transcript,
    UpstreamErrorKind, UsageReport, WireFormat, upstream_client,
};
use byok_testkit::{MockUpstream, Reply, fixture};
use futures_util::StreamExt as _;
use secrecy::SecretString;
use serde_json::{Value, json};

struct Harness {
    info: &'static ProviderInfo,
    quirks: Quirks,
    mock: MockUpstream,
    provider: Arc<dyn ChatProvider>,
    credential: Credential,
    key: String,
    chat_path: String,
}

/// Every OpenAI-chat row at a base URL, straight from the table.
fn dialect_rows() -> Vec<&'static ProviderInfo> {
    let rows: Vec<_> = PROVIDERS
        .iter()
        .filter(|p| {
            matches!(p.format, WireFormat::OpenAiChat(_)) && p.target == TargetKind::BaseUrl
        })
        .collect();
    assert!(!rows.is_empty());
    // nothing that speaks OpenAI chat is left out, except on an Azure target
    for p in &PROVIDERS {
        if matches!(p.format, WireFormat::OpenAiChat(_)) && !rows.contains(&p) {
            assert_eq!(
                p.target,
                TargetKind::AzureDeployment,
                "{} is not covered",
                p.slug
            );
        }
    }
    rows
}

async fn harness(info: &'static ProviderInfo, timeouts: Timeouts) -> Harness {
    let WireFormat::OpenAiChat(quirks) = info.format else {
        unreachable!()
    };
    let mock = MockUpstream::start().await;
    let base_path = url::Url::parse(info.base_url)
        .unwrap()
        .path()
        .trim_end_matches('/')
        .to_owned();
    let config = ProviderConfig::default()
        .with_base_url(info.id, format!("{}{}", mock.base_url(), base_path))
        .with_timeouts(timeouts);
    let registry = Registry::new(
        upstream_client(&config.timeouts, config.endpoint_policy).unwrap(),
        config,
    );
    // Unique per provider, and sharing no 8-byte piece with provider names.
    let key = format!("sk-test-CANARY-{:02}-Zq8vN3xR5tL1pW7m", info.id as usize);
    let credential = Credential::parse(
        info.id,
        &SecretString::from(key.clone()),
        EndpointPolicy::default(),
    )
    .unwrap();
    Harness {
        info,
        quirks,
        provider: Arc::clone(registry.get(info.id)),
        credential,
        key,
        chat_path: format!("{base_path}/chat/completions"),
        mock,
    }
}

fn fast() -> Timeouts {
    Timeouts::uniform(Duration::from_secs(5))
}

fn request(stream: bool, include_usage: bool) -> ChatRequest {
    let mut v = json!({
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}
        ],
        "max_completion_tokens": 64,
        "temperature": 0.2,
        "seed": 7,
        "user": "u-1",
        "logit_bias": {"50256": -100}
    });
    if stream {
        v["stream"] = json!(true);
        if include_usage {
            v["stream_options"] = json!({"include_usage": true});
        }
    }
    serde_json::from_value(v).unwrap()
}

fn tools_request(stream: bool) -> ChatRequest {
    let mut r = request(stream, false);
    r.tools = Some(serde_json::from_value(json!([{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}}])).unwrap());
    r.tool_choice = Some(serde_json::from_value(json!("auto")).unwrap());
    r
}

impl Harness {
    fn on_chat(&self, reply: Reply) {
        self.mock.on("POST", &self.chat_path, reply);
    }

    async fn collect(
        &self,
        req: &ChatRequest,
    ) -> (
        Transcript,
        Vec<byok_providers::ChatChunk>,
        UsageReport,
        Option<ProviderError>,
    ) {
        let mut stream = self
            .provider
            .chat_stream(req, &self.credential)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.info.slug));
        let mut t = Transcript::default();
        let mut chunks = Vec::new();
        let mut error = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(item) => {
                    let c = item.into_chunk();
                    t.push(&c);
                    chunks.push(c);
                }
                Err(e) => error = Some(e),
            }
        }
        (t, chunks, stream.usage(), error)
    }

    fn sent_body(&self) -> Value {
        serde_json::from_slice(&self.mock.last_request().unwrap().body).unwrap()
    }

    fn assert_no_key(&self, text: &str) {
        for w in self.key.as_bytes().windows(8) {
            let w = std::str::from_utf8(w).unwrap();
            assert!(
                !text.contains(w),
                "{}: `{text}` contains key fragment `{w}`",
                self.info.slug
            );
        }
    }
}

#[tokio::test]
async fn plain_text_multi_turn_and_system_prompt() {
    for info in dialect_rows() {
        let h = harness(info, fast()).await;
        h.on_chat(Reply::json(200, fixture("openai/chat_text.json")));
        let req = request(false, false);
        let out = h.provider.chat(&req, &h.credential).await.unwrap();
        let msg = &out.response.choices[0].message;
        assert_eq!(
            msg.content.as_deref(),
            Some("Hello! How can I help you today?"),
            "{}",
            info.slug
        );
        assert_eq!(
            out.response.choices[0].finish_reason,
            Some(FinishReason::Stop)
        );
        let UsageReport::Reported(u) = &out.usage else {
            panic!("{}: usage missing", info.slug)
        };
        assert_eq!(
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.cached_tokens(),
                u.reasoning_tokens()
            ),
            (2006, 300, 1920, 64)
        );

        let sent = h.mock.last_request().unwrap();
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.path(), h.chat_path, "{}", info.slug);
        assert_eq!(
            sent.header("authorization"),
            Some(format!("Bearer {}", h.key).as_str())
        );
        assert_eq!(sent.header("content-type"), Some("application/json"));
        let body = h.sent_body();
        // Conversation goes upstream exactly: system prompt, turns, image part.
        assert_eq!(
            body["messages"],
            serde_json::to_value(&req.messages).unwrap()
        );
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["model"], "test-model");
        assert_eq!(body["seed"], 7);
        assert_eq!(
            body["logit_bias"]["50256"], -100,
            "unknown fields pass through in this dialect"
        );
        assert!(body.get("stream").is_none());
        if h.quirks.prefers_max_tokens {
            assert_eq!(body["max_tokens"], 64, "{}", info.slug);
            assert!(body.get("max_completion_tokens").is_none());
        } else {
            assert_eq!(body["max_completion_tokens"], 64, "{}", info.slug);
        }
    }
}

#[tokio::test]
async fn missing_usage_is_reported_missing() {
    for info in dialect_rows() {
        let h = harness(info, fast()).await;
        h.on_chat(Reply::json(200, fixture("openai/chat_no_usage.json")));
        let out = h
            .provider
            .chat(&request(false, false), &h.credential)
            .await
            .unwrap();
        assert_eq!(out.usage, UsageReport::Missing, "{}", info.slug);
        assert_eq!(
            out.response.choices[0].finish_reason,
            Some(FinishReason::Stop),
            "eos reads as stop"
        );
    }
}

#[tokio::test]
async fn streaming_text_with_and_without_the_usage_chunk() {
    for info in dialect_rows() {
        for include_usage in [false, true] {
            let h = harness(info, fast()).await;
            h.on_chat(Reply::sse(&fixture("openai/stream_text.sse")));
            let (t, chunks, usage, err) = h.collect(&request(true, include_usage)).await;
            assert!(err.is_none(), "{}: {err:?}", info.slug);
            assert_eq!(t.content, "Hello! How can I help you today?");
            assert_eq!(t.finish_reason, Some(FinishReason::Stop));
            let UsageReport::Reported(u) = usage else {
                panic!("{}", info.slug)
            };
            assert_eq!(u.total_tokens, 29);
            let last = chunks.last().unwrap();
            if include_usage {
                assert!(
                    last.choices.is_empty()
                        && last.usage.as_ref().is_some_and(|u| u.total_tokens == 29)
                );
            } else {
                assert!(
                    chunks
                        .iter()
                        .all(|c| c.usage.is_none() && !c.choices.is_empty()),
                    "{}",
                    info.slug
                );
            }
            let body = h.sent_body();
            assert_eq!(body["stream"], true);
            assert_eq!(
                h.mock.last_request().unwrap().header("accept"),
                Some("text/event-stream")
            );
            if h.quirks.stream_options {
                assert_eq!(
                    body["stream_options"]["include_usage"], true,
                    "{}: usage must always be requested",
                    info.slug
                );
            } else {
                assert!(body.get("stream_options").is_none());
            }
        }
    }
}

#[tokio::test]
async fn streamed_tool_call_arguments_in_fragments() {
    for info in dialect_rows() {
        let h = harness(info, fast()).await;
        h.on_chat(Reply::sse(&fixture("openai/stream_tool_call.sse")));
        let (t, _, usage, err) = h.collect(&tools_request(true)).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(t.tool_calls.len(), 1, "{}", info.slug);
        let call = &t.tool_calls[0];
        assert_eq!(call.id, "call_DdmO9pD3xa9XTPNJ32zg2hcA");
        assert_eq!(call.function.name, "get_weather");
        assert_eq!(
            call.function.arguments,
            r#"{"location":"Paris, France","unit":"celsius"}"#
        );
        let parsed: Value = serde_json::from_str(&call.function.arguments).unwrap();
        assert_eq!(parsed["unit"], "celsius");
        assert_eq!(t.finish_reason, Some(FinishReason::ToolCalls));
        assert!(matches!(usage, UsageReport::Reported(ref u) if u.total_tokens == 100));
        let body = h.sent_body();
        assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
        assert_eq!(body["tool_choice"], "auto");
    }
}

#[tokio::test]
async fn parallel_tool_calls_streamed_and_not() {
    for info in dialect_rows() {
        let h = harness(info, fast()).await;
        h.on_chat(Reply::sse(&fixture("openai/stream_parallel_tools.sse")));
        let (t, _, _, err) = h.collect(&tools_request(true)).await;
        assert!(err.is_none());
        let got: Vec<(&str, &str)> = t
            .tool_calls
            .iter()
            .map(|c| (c.id.as_str(), c.function.arguments.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("call_paris_01", r#"{"location":"Paris"}"#),
                ("call_tokyo_02", r#"{"location":"Tokyo"}"#)
            ],
            "{}",
            info.slug
        );

        h.on_chat(Reply::json(200, fixture("openai/chat_tool_calls.json")));
        let out = h
            .provider
            .chat(&tools_request(false), &h.credential)
            .await
            .unwrap();
        let calls = out.response.choices[0].message.tool_calls.as_ref().unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            calls[1].function.arguments,
            r#"{"location":"Tokyo","unit":"celsius"}"#
        );
        assert_eq!(
            out.response.choices[0].finish_reason,
            Some(FinishReason::ToolCalls)
        );
    }
}

#[tokio::test]
async fn provider_variants_of_streamed_usage_and_comments() {
    for info in dialect_rows() {
        // Groq's x_groq.usage, OpenRouter's comment lines and usage on a
        // choices chunk, Azure's prompt_filter_results chunk: one parser.
        for (name, total) in [
            ("openai/stream_groq.sse", 29),
            ("openai/stream_openrouter.sse", 29),
            ("openai/stream_azure_prompt_filter.sse", 29),
        ] {
            let h = harness(info, fast()).await;
            h.on_chat(Reply::sse(&fixture(name)));
            let (t, chunks, usage, err) = h.collect(&request(true, true)).await;
            assert!(err.is_none(), "{} {name}: {err:?}", info.slug);
            assert_eq!(t.content, "Hello! How can I help you today?", "{name}");
            assert!(
                matches!(usage, UsageReport::Reported(ref u) if u.total_tokens == total),
                "{name}"
            );
            // Exactly one usage chunk, last, in OpenAI's shape.
            let with_usage: Vec<_> = chunks.iter().filter(|c| c.usage.is_some()).collect();
            assert_eq!(with_usage.len(), 1, "{name}");
            assert!(chunks.last().unwrap().choices.is_empty());
            assert!(
                chunks[..chunks.len() - 1]
                    .iter()
                    .all(|c| !c.choices.is_empty()),
                "{name}: empty chunks are dropped"
            );
        }
    }
}

#[tokio::test]
async fn stream_without_usage_reports_missing() {
    for info in dialect_rows() {
        let h = harness(info, fast()).await;
        h.on_chat(Reply::sse(&fixture("openai/stream_no_usage.sse")));
        let (t, chunks, usage, err) = h.collect(&request(true, true)).await;
        assert!(err.is_none());
        assert_eq!(t.content, "Hello! How can I help you today?");
        assert_eq!(usage, UsageReport::Missing);
        assert!(chunks.iter().all(|c| c.usage.is_none()));
    }
}

#[tokio::test]
async fn http_error_classes_are_typed_and_sanitised() {
    let cases: &[(u16, &str, UpstreamErrorKind)] = &[
        (401, "error_401.json", UpstreamErrorKind::Unauthorized),
        (403, "error_403.json", UpstreamErrorKind::Forbidden),
        (404, "error_404.json", UpstreamErrorKind::NotFound),
        (408, "error_408.json", UpstreamErrorKind::RequestTimeout),
        (413, "error_413.json", UpstreamErrorKind::PayloadTooLarge),
        (429, "error_429.json", UpstreamErrorKind::RateLimited),
        (500, "error_500.json", UpstreamErrorKind::ServerError),
        (503, "error_503.json", UpstreamErrorKind::ServerError),
    ];
    for info in dialect_rows() {
        let h = harness(info, fast()).await;
        for (status, file, kind) in cases {
            let body = fixture(&format!("openai/{file}")).replace("{{KEY}}", &h.key);
            let mut reply = Reply::json(*status, body);
            if *status == 429 {
                reply = reply.header("retry-after", "7");
            }
            for stream in [false, true] {
                h.on_chat(reply.clone());
                let err = if stream {
                    h.provider
                        .chat_stream(&request(true, false), &h.credential)
                        .await
                        .unwrap_err()
                } else {
                    h.provider
                        .chat(&request(false, false), &h.credential)
                        .await
                        .unwrap_err()
                };
                let ProviderError::Upstream {
                    status: s,
                    kind: k,
                    ref message,
                    retry_after,
                    provider,
                    ..
                } = err
                else {
                    panic!("{} {status}: {err:?}", info.slug)
                };
                assert_eq!((s, k, provider), (*status, *kind, info.id));
                assert!(!message.is_empty());
                h.assert_no_key(&err.to_string());
                h.assert_no_key(&format!("{err:?}"));
                if *status == 429 {
                    assert_eq!(retry_after, Some(Duration::from_secs(7)));
                }
            }
        }
        // A non-JSON error body.
        h.on_chat(Reply::raw(502, "text/html", "<html>Bad Gateway</html>"));
        let err = h
            .provider
            .chat(&request(false, false), &h.credential)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ProviderError::Upstream {
                status: 502,
                kind: UpstreamErrorKind::ServerError,
                ..
            }
        ));
    }
}

#[tokio::test]
async fn transport_failures() {
    for info in dialect_rows() {
        let h = harness(info, Timeouts::uniform(Duration::from_millis(300))).await;
        // An upstream that never answers.
        h.on_chat(Reply::hang());
        let err = h
            .provider
            .chat(&request(false, false), &h.credential)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ProviderError::Timeout {
                provider: info.id,
                phase: TimeoutPhase::Response
            },
            "{}",
            info.slug
        );
        // Malformed JSON.
        h.on_chat(Reply::json(200, "{\"id\": \"x\", \"choices\": [ {not json"));
        let err = h
            .provider
            .chat(&request(false, false), &h.credential)
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Malformed { .. }), "{err:?}");
        // A stream reset mid-way.
        h.on_chat(Reply::sse_reset_after(
            &fixture("openai/stream_text.sse"),
            4,
        ));
        let (t, _, usage, err) = h.collect(&request(true, false)).await;
        assert_eq!(t.content, "Hello! How");
        assert!(
            matches!(
                err,
                Some(ProviderError::Connection { .. })
                    | Some(ProviderError::StreamTruncated { .. })
            ),
            "{err:?}"
        );
        assert_eq!(usage, UsageReport::Missing);
        // A stream that ends without [DONE].
        h.on_chat(Reply::sse(&fixture("openai/stream_truncated.sse")));
        let (_, _, _, err) = h.collect(&request(true, false)).await;
        assert_eq!(
            err,
            Some(ProviderError::StreamTruncated { provider: info.id })
        );
        // A malformed chunk mid-stream.
        h.on_chat(Reply::sse(&fixture("openai/stream_malformed_chunk.sse")));
        let (t, _, _, err) = h.collect(&request(true, false)).await;
        assert_eq!(t.content, "Hel");
        assert!(matches!(err, Some(ProviderError::Malformed { .. })));
        // A mid-stream error object that echoes a key.
        h.on_chat(Reply::sse(&fixture("openai/stream_openrouter_error.sse")));
        let (t, _, _, err) = h.collect(&request(true, false)).await;
        assert_eq!(t.content, "Hello");
        let Some(ProviderError::MidStream { message, code, .. }) = err else {
            panic!("{err:?}")
        };
        assert!(!message.contains("Zx9yW8vU7tS6"), "{message}");
        assert_eq!(code.as_deref(), Some("502"));
        // A stream that stalls between chunks.
        h.on_chat(Reply::sse_with_delay(
            &fixture("openai/stream_text.sse"),
            Duration::from_millis(1000),
        ));
        let (_, _, _, err) = h.collect(&request(true, false)).await;
        assert!(
            matches!(
                err,
                Some(ProviderError::Timeout {
                    phase: TimeoutPhase::Body,
                    ..
                })
            ),
            "{}: {err:?}",
            info.slug
        );
    }
}

/// The idle timeout bounds the wait for each piece, not the whole stream:
/// chunks 100 ms apart under a 300 ms idle timeout, the stream ~1.2 s in
/// all, arrive whole (the timer is re-armed after every piece).
#[tokio::test]
async fn a_stream_longer_than_the_idle_timeout_is_not_cut() {
    let info = dialect_rows()[0];
    let h = harness(info, Timeouts::uniform(Duration::from_millis(300))).await;
    h.on_chat(Reply::sse_with_delay(
        &fixture("openai/stream_text.sse"),
        Duration::from_millis(100),
    ));
    let started = std::time::Instant::now();
    let (t, _, _, err) = h.collect(&request(true, false)).await;
    assert_eq!(err, None, "{}", info.slug);
    assert!(t.content.starts_with("Hello! How"), "{}", t.content);
    assert!(
        started.elapsed() > Duration::from_millis(600),
        "the stream was dripped, not sent at once"
    );
}

#[tokio::test]
async fn model_lists_in_both_shapes() {
    for info in dialect_rows() {
        let h = harness(info, fast()).await;
        let path = h.chat_path.replace("/chat/completions", "/models");
        h.mock.on(
            "GET",
            &path,
            Reply::json(200, fixture("openai/models.json")),
        );
        let models = h.provider.list_models(&h.credential).await.unwrap();
        assert_eq!(
            models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["gpt-4.1", "gpt-4o-mini"]
        );
        h.mock.on(
            "GET",
            &path,
            Reply::json(200, fixture("openai/models_bare.json")),
        );
        let models = h.provider.list_models(&h.credential).await.unwrap();
        assert_eq!(models[0].id, "meta-llama/Llama-3.3-70B-Instruct-Turbo");
        assert_eq!(
            h.mock.last_request().unwrap().header("authorization"),
            Some(format!("Bearer {}", h.key).as_str())
        );
        h.mock.on(
            "GET",
            &path,
            Reply::json(
                401,
                fixture("openai/error_401.json").replace("{{KEY}}", &h.key),
            ),
        );
        let err = h.provider.list_models(&h.credential).await.unwrap_err();
        assert!(matches!(
            err,
            ProviderError::Upstream {
                kind: UpstreamErrorKind::Unauthorized,
                ..
            }
        ));
        h.assert_no_key(&err.to_string());
    }
}

// ---- Lossless pass-through (issue #15): what the gateway does not read
// goes upstream and back as it came.

/// JSON without `null` members (a missing member and `null` mean the same).
fn meaning(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|_, x| !x.is_null());
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// The fixture's request, streamed or not.
fn lossless_request(stream: bool) -> (Value, ChatRequest) {
    let mut raw: Value = serde_json::from_str(&fixture("openai/request_lossless.json")).unwrap();
    if stream {
        raw["stream"] = json!(true);
        raw["stream_options"] = json!({"include_obfuscation": false});
    }
    let req = serde_json::from_value(raw.clone()).unwrap();
    (raw, req)
}

#[tokio::test]
async fn parts_tools_and_fields_the_gateway_does_not_read_go_upstream_as_sent() {
    for info in dialect_rows() {
        let h = harness(info, fast()).await;
        h.on_chat(Reply::json(200, fixture("openai/chat_text.json")));
        let (raw, req) = lossless_request(false);
        h.provider.chat(&req, &h.credential).await.unwrap();
        let body = h.sent_body();
        // `file`, `input_audio`, `video_url` parts and `cache_control`
        // (on a system and a user text part), byte-for-byte equivalent.
        assert_eq!(body["messages"], raw["messages"], "{}", info.slug);
        // A custom tool and an `allowed_tools` choice.
        assert_eq!(body["tools"], raw["tools"], "{}", info.slug);
        assert_eq!(body["tool_choice"], raw["tool_choice"], "{}", info.slug);
        // Null, false and default values are forwarded, not refused.
        for field in [
            "logprobs",
            "n",
            "top_logprobs",
            "reasoning",
            "verbosity",
            "prompt_cache_key",
        ] {
            assert_eq!(body.get(field), raw.get(field), "{}: {field}", info.slug);
        }
        let mut rest = body.as_object().unwrap().clone();
        for changed in ["max_tokens", "max_completion_tokens"] {
            rest.remove(changed);
        }
        let mut expected = raw.as_object().unwrap().clone();
        expected.remove("max_completion_tokens");
        assert_eq!(rest, expected, "{}: nothing else changes", info.slug);
    }
}

#[tokio::test]
async fn client_stream_options_are_merged_with_include_usage() {
    for info in dialect_rows() {
        let h = harness(info, fast()).await;
        h.on_chat(Reply::sse(&fixture("openai/stream_text.sse")));
        let (raw, req) = lossless_request(true);
        let (t, _, _, err) = h.collect(&req).await;
        assert!(err.is_none(), "{}: {err:?}", info.slug);
        assert_eq!(t.content, "Hello! How can I help you today?");
        let body = h.sent_body();
        if h.quirks.stream_options {
            assert_eq!(
                body["stream_options"],
                json!({"include_obfuscation": false, "include_usage": true}),
                "{}",
                info.slug
            );
        } else {
            assert!(body.get("stream_options").is_none(), "{}", info.slug);
        }
        assert_eq!(body["messages"], raw["messages"]);
    }
}

#[tokio::test]
async fn max_tokens_becomes_max_completion_tokens_only_for_models_that_refuse_it() {
    for info in dialect_rows() {
        let h = harness(info, fast()).await;
        for (model, renamed) in [
            ("o3", true),
            ("o4-mini", true),
            ("gpt-5", true),
            ("gpt-5-mini-2025-08-07", true),
            ("gpt-4o", false),
            ("llama-3.3-70b-versatile", false),
            ("openai/gpt-oss-120b", false),
        ] {
            h.on_chat(Reply::json(200, fixture("openai/chat_text.json")));
            let req: ChatRequest = serde_json::from_value(json!({
                "model": model, "max_tokens": 100,
                "messages": [{"role": "user", "content": "Hi"}]
            }))
            .unwrap();
            h.provider.chat(&req, &h.credential).await.unwrap();
            let body = h.sent_body();
            let (name, other) = if h.quirks.prefers_max_tokens || !renamed {
                ("max_tokens", "max_completion_tokens")
            } else {
                ("max_completion_tokens", "max_tokens")
            };
            assert_eq!(body[name], 100, "{} {model}", info.slug);
            assert!(body.get(other).is_none(), "{} {model}", info.slug);
        }
    }
}

#[tokio::test]
async fn answers_keep_every_field_the_upstream_sent() {
    for info in dialect_rows() {
        let h = harness(info, fast()).await;
        for name in [
            "openai/chat_reasoning_openrouter.json",
            "openai/chat_openai_extras.json",
            "openai/chat_reasoning_groq.json",
        ] {
            let upstream = fixture(name);
            h.on_chat(Reply::json(200, upstream.clone()));
            let out = h
                .provider
                .chat(&request(false, false), &h.credential)
                .await
                .unwrap();
            let upstream: Value = serde_json::from_str(&upstream).unwrap();
            // What a client receives: the upstream bytes, or the parsed answer.
            let sent: Value = match &out.verbatim {
                Some(raw) => serde_json::from_slice(raw).unwrap(),
                None => serde_json::to_value(&out.response).unwrap(),
            };
            assert_eq!(meaning(sent), meaning(upstream.clone()), "{name}");
            assert_eq!(
                meaning(serde_json::to_value(&out.response).unwrap()),
                meaning(upstream),
                "{name}: the parsed answer says it all too"
            );
        }
        let out = h
            .provider
            .chat(&request(false, false), &h.credential)
            .await
            .unwrap();
        let m = &out.response.choices[0].message;
        assert_eq!(
            m.reasoning_text(),
            Some("The user asks for the capital of France. That is Paris."),
            "Groq's parsed reasoning reads as the reasoning text"
        );
        let UsageReport::Reported(u) = &out.usage else {
            panic!("{}", info.slug)
        };
        assert_eq!(
            (u.total_tokens, u.extra["queue_time"].clone()),
            (45, json!(0.0171))
        );
    }
}

#[tokio::test]
async fn answers_in_openais_shape_with_common_extras_stay_verbatim() {
    for info in dialect_rows() {
        let h = harness(info, fast()).await;
        for name in [
            "openai/chat_reasoning_openrouter.json",
            "openai/chat_openai_extras.json",
        ] {
            h.on_chat(Reply::json(200, fixture(name)));
            let out = h
                .provider
                .chat(&request(false, false), &h.credential)
                .await
                .unwrap();
            assert_eq!(
                out.verbatim.as_deref(),
                Some(fixture(name).as_bytes()),
                "{} {name}",
                info.slug
            );
        }
    }
}

/// Streams a fixture and returns what a client receives per chunk (the
/// upstream JSON when verbatim, else the chunk), how many chunks were
/// verbatim, and the transcript.
async fn relayed(h: &Harness, name: &str, req: &ChatRequest) -> (Vec<Value>, usize, Transcript) {
    h.on_chat(Reply::sse(&fixture(name)));
    let mut stream = h.provider.chat_stream(req, &h.credential).await.unwrap();
    let (mut out, mut verbatim, mut t) = (Vec::new(), 0, Transcript::default());
    while let Some(item) = stream.next().await {
        let item = item.unwrap_or_else(|e| panic!("{} {name}: {e}", h.info.slug));
        t.push_item(&item);
        verbatim += usize::from(item.raw().is_some());
        out.push(match item.raw() {
            Some(raw) => serde_json::from_str(raw).unwrap(),
            None => serde_json::to_value(item.chunk()).unwrap(),
        });
    }
    (out, verbatim, t)
}

/// The upstream's chunks as a client should receive them: those with
/// choices, `usage` moved out (the gateway sends it in its own last chunk).
fn upstream_chunks(name: &str) -> Vec<Value> {
    fixture(name)
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter(|c| c["choices"].as_array().is_some_and(|a| !a.is_empty()))
        .map(|mut c| {
            c.as_object_mut().unwrap().remove("usage");
            meaning(c)
        })
        .collect()
}

#[tokio::test]
async fn streamed_answers_keep_every_field_the_upstream_sent() {
    for info in dialect_rows() {
        let h = harness(info, fast()).await;
        // OpenRouter's reasoning chunks are forwarded as they came, all but
        // the one with usage (which is moved out); Groq's, but the two
        // with `x_groq`.
        for (name, verbatim_chunks) in [
            ("openai/stream_reasoning_openrouter.sse", 7),
            ("openai/stream_reasoning_groq.sse", 3),
        ] {
            let (out, verbatim, t) = relayed(&h, name, &request(true, false)).await;
            let out: Vec<Value> = out.into_iter().map(meaning).collect();
            assert_eq!(out, upstream_chunks(name), "{} {name}", info.slug);
            assert_eq!(verbatim, verbatim_chunks, "{} {name}", info.slug);
            assert!(!t.content.is_empty() || !t.tool_calls.is_empty(), "{name}");
        }
        let (out, _, _) = relayed(
            &h,
            "openai/stream_reasoning_openrouter.sse",
            &request(true, true),
        )
        .await;
        let usage = &out.last().unwrap()["usage"];
        assert_eq!(
            (usage["total_tokens"].clone(), usage["cost"].clone()),
            (json!(269), json!(0.00113)),
            "{}: the usage chunk keeps OpenRouter's cost",
            info.slug
        );
        let details: Vec<&Value> = out
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["reasoning_details"].as_array())
            .flatten()
            .collect();
        assert_eq!(details.len(), 3, "{}", info.slug);
        assert_eq!(details[2]["type"], "reasoning.encrypted");
    }
}

#[tokio::test]
async fn an_openrouter_tool_loop_replays_reasoning_details_exactly() {
    for info in dialect_rows() {
        let h = harness(info, fast()).await;
        let mut conversation = json!([{"role": "user", "content": "Weather in Paris?"}]);
        let turn = |messages: &Value| -> ChatRequest {
            serde_json::from_value(json!({
                "model": "anthropic/claude-sonnet-4.5",
                "messages": messages,
                "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
                "reasoning": {"max_tokens": 2000}
            }))
            .unwrap()
        };
        // Turn 1: the model thinks, then calls a tool.
        h.on_chat(Reply::json(
            200,
            fixture("openai/chat_reasoning_openrouter.json"),
        ));
        let out = h
            .provider
            .chat(&turn(&conversation), &h.credential)
            .await
            .unwrap();
        let answered: Value = match &out.verbatim {
            Some(raw) => serde_json::from_slice(raw).unwrap(),
            None => serde_json::to_value(&out.response).unwrap(),
        };
        // Turn 2: the client sends the assistant message back as it got
        // it, with the tool's result.
        let assistant = answered["choices"][0]["message"].clone();
        let conv = conversation.as_array_mut().unwrap();
        conv.push(assistant.clone());
        conv.push(json!({"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "18°C, sunny"}));
        h.on_chat(Reply::json(
            200,
            fixture("openai/chat_openrouter_turn2.json"),
        ));
        let out = h
            .provider
            .chat(&turn(&conversation), &h.credential)
            .await
            .unwrap();
        let sent = h.sent_body();
        assert_eq!(
            meaning(sent["messages"][1].clone()),
            meaning(assistant),
            "{}: the assistant turn goes back exactly",
            info.slug
        );
        assert_eq!(
            sent["messages"][1]["reasoning_details"][0]["signature"],
            "EqQBCkgIBxABGAIqQKq1rB9sT0Y2p7q8ZxN3cQwJ0fX6kR2Lh9vYtU1mA4sD5gF6hJ7kL8zX9cV0bN1mQ2wE3rT4yU5iO6pA7sD8EgwB"
        );
        assert_eq!(sent["reasoning"], json!({"max_tokens": 2000}));
        assert_eq!(
            out.response.choices[0].message.content.as_deref(),
            Some("It is 18°C and sunny in Paris.")
        );
    }
}
