//! Bedrock Converse through the mock upstream: SigV4 verified independently,
//! event-stream frames split anywhere, exceptions, usage after messageStop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::Duration;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message as EsMessage};
use byok_providers::{
    FinishReason, Forward, ProviderError, ProviderId, UpstreamErrorKind, UsageReport,
    decode_bedrock_embeddings, encode_bedrock_embeddings, translate_bedrock_frames,
};
use byok_testkit::{Body, Piece, Reply, fixture};
use bytes::Bytes;
use common::*;
use futures_util::StreamExt as _;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYCANARYKEY";
const TOKEN: &str = "FwoGZXIvYXdzEBYaDCANARYSESSIONTOKEN0123456789";
const MODEL: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";
const PATH: &str = "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse";
const STREAM_PATH: &str = "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse-stream";

// ---- an independent SigV4, checked against AWS's vectors -----------------

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn sha_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn string_to_sign(amz_date: &str, scope: &str, canonical: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha_hex(canonical.as_bytes())
    )
}

fn signature(secret: &str, date: &str, region: &str, service: &str, sts: &str) -> String {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k = hmac(&k, region);
    let k = hmac(&k, service);
    let k = hmac(&k, "aws4_request");
    hex::encode(hmac(&k, sts))
}

#[test]
fn the_test_signer_matches_the_aws_test_suite() {
    for vector in ["post-vanilla", "get-vanilla-with-session-token"] {
        let dir = format!("aws-sigv4-vectors/{vector}");
        let ctx: Value = serde_json::from_str(&fixture(&format!("{dir}/context.json"))).unwrap();
        let canonical = fixture(&format!("{dir}/header-canonical-request.txt"));
        let scope = "20150830/us-east-1/service/aws4_request";
        let sts = string_to_sign("20150830T123600Z", scope, &canonical);
        assert_eq!(
            sts,
            fixture(&format!("{dir}/header-string-to-sign.txt")),
            "{vector}"
        );
        let secret = ctx["credentials"]["secret_access_key"].as_str().unwrap();
        let sig = signature(secret, "20150830", "us-east-1", "service", &sts);
        assert_eq!(
            sig,
            fixture(&format!("{dir}/header-signature.txt")).trim(),
            "{vector}"
        );
    }
}

/// `aws-sigv4` encodes the already-encoded path again (`%3A` → `%253A`).
fn canonical_uri(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Recomputes the signature of a recorded request and compares.
fn verify_sigv4(req: &byok_testkit::RecordedRequest, secret: &str, region: &str) {
    let auth = req.header("authorization").expect("signed");
    let (_, rest) = auth.split_once("Credential=").unwrap();
    let (cred, rest) = rest.split_once(", SignedHeaders=").unwrap();
    let (signed, sig) = rest.split_once(", Signature=").unwrap();
    let parts: Vec<&str> = cred.split('/').collect();
    assert_eq!(parts[0], AKID);
    let (date, cred_region, service) = (parts[1], parts[2], parts[3]);
    assert_eq!((cred_region, service), (region, "bedrock"));
    let amz_date = req.header("x-amz-date").unwrap();
    assert!(amz_date.starts_with(date));
    let headers: String = signed
        .split(';')
        .map(|h| {
            format!(
                "{h}:{}\n",
                req.header(h)
                    .unwrap_or_else(|| panic!("signed header {h} missing"))
                    .trim()
            )
        })
        .collect();
    let payload = req
        .header("x-amz-content-sha256")
        .map_or_else(|| sha_hex(&req.body), str::to_owned);
    assert_eq!(payload, sha_hex(&req.body), "the body is what was signed");
    let canonical = format!(
        "{}\n{}\n{}\n{headers}\n{signed}\n{payload}",
        req.method,
        canonical_uri(req.path()),
        req.query().unwrap_or("")
    );
    assert!(
        canonical.contains("%253A0"),
        "model id double-encoded in the canonical URI"
    );
    let sts = string_to_sign(
        amz_date,
        &format!("{date}/{region}/bedrock/aws4_request"),
        &canonical,
    );
    assert_eq!(
        signature(secret, date, region, "bedrock", &sts),
        sig,
        "SigV4 signature mismatch"
    );
}

// ---- event-stream fixtures ----------------------------------------------

fn frames(name: &str) -> Vec<u8> {
    encode_events(serde_json::from_str(&fixture(name)).unwrap())
}

/// A fixture of this crate's `tests/fixtures/bedrock/` (issue #15).
fn local(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/bedrock/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A local stream fixture (`{"_source", "events"}`) as event-stream bytes.
fn local_frames(name: &str) -> Vec<u8> {
    let v: Value = serde_json::from_str(&local(name)).unwrap();
    encode_events(serde_json::from_value(v["events"].clone()).unwrap())
}

fn encode_events(events: Vec<Value>) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        let payload = Bytes::from(serde_json::to_vec(&e["payload"]).unwrap());
        let msg = if let Some(ex) = e["exception"].as_str() {
            EsMessage::new_from_parts(
                vec![
                    Header::new(":exception-type", HeaderValue::String(ex.to_owned().into())),
                    Header::new(
                        ":content-type",
                        HeaderValue::String("application/json".into()),
                    ),
                    Header::new(":message-type", HeaderValue::String("exception".into())),
                ],
                payload,
            )
        } else {
            EsMessage::new_from_parts(
                vec![
                    Header::new(
                        ":event-type",
                        HeaderValue::String(e["event"].as_str().unwrap().to_owned().into()),
                    ),
                    Header::new(
                        ":content-type",
                        HeaderValue::String("application/json".into()),
                    ),
                    Header::new(":message-type", HeaderValue::String("event".into())),
                ],
                payload,
            )
        };
        write_message_to(&msg, &mut out).unwrap();
    }
    out
}

fn stream_reply(bytes: &[u8], piece: usize) -> Reply {
    Reply {
        status: 200,
        headers: vec![(
            "content-type".into(),
            "application/vnd.amazon.eventstream".into(),
        )],
        body: Body::Pieces(
            bytes
                .chunks(piece)
                .map(|c| Piece {
                    delay: Duration::ZERO,
                    bytes: Bytes::copy_from_slice(c),
                })
                .collect(),
        ),
    }
}

async fn bedrock(session: bool) -> Setup {
    setup(ProviderId::Aws, Some(""), |_| {
        if session {
            format!(r#"{{"accessKeyId":"{AKID}","secretAccessKey":"{SECRET}","sessionToken":"{TOKEN}","region":"eu-central-1"}}"#)
        } else {
            format!(r#"{{"accessKeyId":"{AKID}","secretAccessKey":"{SECRET}","region":"eu-central-1"}}"#)
        }
    })
    .await
}

fn convo(stream: bool) -> Value {
    json!({
        "model": MODEL,
        "stream": stream,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "tooluse_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "tooluse_1", "content": "18C"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}],
        "max_tokens": 100
    })
}

#[tokio::test]
async fn signed_text_streamed_equals_non_streamed() {
    for session in [false, true] {
        let s = bedrock(session).await;
        s.mock.on(
            "POST",
            PATH,
            Reply::json(200, fixture("bedrock/converse_text.json")),
        );
        let full = s
            .provider
            .chat(&request(convo(false)), &s.credential)
            .await
            .unwrap();
        let sent = s.mock.last_request().unwrap();
        verify_sigv4(&sent, SECRET, "eu-central-1");
        assert_eq!(
            sent.header("x-amz-security-token"),
            session.then_some(TOKEN)
        );
        if session {
            assert!(
                sent.header("authorization")
                    .unwrap()
                    .contains("x-amz-security-token"),
                "the token is signed"
            );
        }
        let body = sent_json(&s);
        assert_eq!(body["system"], json!([{"text": "Be brief."}]));
        assert_eq!(
            body["messages"][1]["content"][0]["toolUse"]["input"],
            json!({"location": "Paris"})
        );
        assert_eq!(
            body["messages"][2]["content"][0]["toolResult"]["toolUseId"],
            "tooluse_1"
        );
        assert_eq!(body["inferenceConfig"]["maxTokens"], 100);
        let UsageReport::Reported(u) = &full.usage else {
            panic!()
        };
        assert_eq!(
            (
                u.prompt_tokens,
                u.cached_tokens(),
                u.cache_write_tokens(),
                u.completion_tokens
            ),
            (1112, 1000, 100, 10)
        );

        s.mock.on(
            "POST",
            STREAM_PATH,
            stream_reply(&frames("bedrock/stream_text.events.json"), 64),
        );
        let (t, _, usage, err) = collect(&s, &request(convo(true))).await;
        assert!(err.is_none(), "{err:?}");
        assert_equivalent(&t, &usage, &full.response, &full.usage);
        verify_sigv4(&s.mock.last_request().unwrap(), SECRET, "eu-central-1");
        assert_eq!(
            s.mock.last_request().unwrap().header("accept"),
            Some("application/vnd.amazon.eventstream")
        );
    }
}

#[tokio::test]
async fn tool_use_streamed_equals_non_streamed_with_frames_split_at_every_byte() {
    let s = bedrock(false).await;
    s.mock.on(
        "POST",
        PATH,
        Reply::json(200, fixture("bedrock/converse_tool_use.json")),
    );
    let full = s
        .provider
        .chat(&request(convo(false)), &s.credential)
        .await
        .unwrap();
    assert_eq!(finish(&full.response), Some(FinishReason::ToolCalls));
    let bytes = frames("bedrock/stream_tool_use.events.json");
    s.mock.on("POST", STREAM_PATH, stream_reply(&bytes, 1));
    let (t, _, usage, err) = collect(&s, &request(convo(true))).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    let args: Value = serde_json::from_str(&t.tool_calls[0].function.arguments).unwrap();
    assert_eq!(args["location"], "Paris \"Île-de-France\"");
    // And in memory, every piece size gives the same events (`created` is
    // the clock at the stream's start, so runs across a second boundary
    // differ there only; the id is fresh per stream, never empty).
    let events = |piece: usize| {
        let mut out = translate_bedrock_frames(ProviderId::Aws, &bytes, piece, true).unwrap();
        for e in &mut out {
            if let byok_providers::StreamEvent::Chunk(c) = e {
                c.created = 0;
                assert!(c.id.starts_with("chatcmpl-") && c.id.len() > 9, "{}", c.id);
                c.id.clear();
            }
        }
        out
    };
    let reference = events(bytes.len());
    for piece in 1..64 {
        assert_eq!(events(piece), reference, "piece {piece}");
    }
}

#[tokio::test]
async fn exceptions_bad_frames_and_truncation() {
    let s = bedrock(false).await;
    s.mock.on(
        "POST",
        STREAM_PATH,
        stream_reply(&frames("bedrock/stream_exception.events.json"), 16),
    );
    let (t, _, usage, err) = collect(&s, &request(convo(true))).await;
    assert_eq!(t.content, "Hello");
    assert!(
        matches!(err, Some(ProviderError::MidStream { ref code, .. }) if code.as_deref() == Some("throttlingException")),
        "{err:?}"
    );
    assert_eq!(usage, UsageReport::Missing);

    let mut corrupt = frames("bedrock/stream_text.events.json");
    let n = corrupt.len();
    corrupt[n - 10] ^= 0xff; // inside the last frame's payload: its CRC fails
    let err = translate_bedrock_frames(ProviderId::Aws, &corrupt, 7, false).unwrap_err();
    assert!(matches!(err, ProviderError::Malformed { .. }), "{err:?}");

    let whole = frames("bedrock/stream_text.events.json");
    s.mock.on(
        "POST",
        STREAM_PATH,
        stream_reply(&whole[..whole.len() - 5], 32),
    );
    let (_, _, _, err) = collect(&s, &request(convo(true))).await;
    assert!(
        matches!(err, Some(ProviderError::StreamTruncated { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn http_errors_api_key_auth_and_models() {
    let s = bedrock(false).await;
    for (status, file, kind) in [
        (403, "bedrock/error_403.json", UpstreamErrorKind::Forbidden),
        (
            429,
            "bedrock/error_429.json",
            UpstreamErrorKind::RateLimited,
        ),
        (400, "bedrock/error_400.json", UpstreamErrorKind::BadRequest),
    ] {
        s.mock.on(
            "POST",
            PATH,
            Reply::json(status, fixture(file)).header("x-amzn-errortype", "X"),
        );
        let err = s
            .provider
            .chat(&request(convo(false)), &s.credential)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ProviderError::Upstream { kind: k, .. } if k == kind),
            "{err:?}"
        );
        assert!(!format!("{err:?}").contains("CANARY"));
    }
    s.mock.on(
        "GET",
        "/foundation-models",
        Reply::json(200, fixture("bedrock/models.json")),
    );
    let models = s.provider.list_models(&s.credential).await.unwrap();
    assert_eq!(models[0].id, MODEL);
    assert!(
        s.mock
            .last_request()
            .unwrap()
            .header("authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256")
    );

    let k = setup(ProviderId::Aws, Some(""), |_| {
        r#"{"apiKey":"ABSKQmVkcm9ja0NBTkFSWWtleTAxMjM0NTY3","region":"us-east-1"}"#.to_owned()
    })
    .await;
    k.mock.on(
        "POST",
        PATH,
        Reply::json(200, fixture("bedrock/converse_text.json")),
    );
    k.provider
        .chat(&request(convo(false)), &k.credential)
        .await
        .unwrap();
    let sent = k.mock.last_request().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer ABSKQmVkcm9ja0NBTkFSWWtleTAxMjM0NTY3")
    );
    assert_eq!(sent.header("x-amz-date"), None);
}

/// Embeddings: `InvokeModel` calls signed like Converse's; Titan's inputs
/// go one a call (a batch), the answers come back whole as one JSON array
/// in order; a failed call fails the batch, sanitised.
#[tokio::test]
async fn embeddings_are_signed_invokes_and_batches_come_back_whole() {
    async fn embed(s: &Setup, model: &str, input: Value) -> Result<Vec<u8>, ProviderError> {
        let e = encode_bedrock_embeddings(model, &input, &Map::new()).unwrap();
        let forwarded = s
            .provider
            .forward(
                Forward {
                    op: &e.op,
                    body: e.body,
                    headers: &[],
                    stream: false,
                },
                &s.credential,
            )
            .await?;
        assert_eq!(
            forwarded.content_type.unwrap().to_str().unwrap(),
            "application/json"
        );
        let mut body = Vec::new();
        let mut pieces = forwarded.body;
        while let Some(piece) = pieces.next().await {
            body.extend_from_slice(&piece?);
        }
        Ok(body)
    }
    let s = bedrock(true).await;
    let titan = "/model/amazon.titan-embed-text-v2%3A0/invoke";
    s.mock.on(
        "POST",
        titan,
        Reply::json(
            200,
            r#"{"embedding": [0.5, -1.0], "inputTextTokenCount": 3, "embeddingsByType": {"float": [0.5, -1.0]}}"#,
        ),
    );
    let answer = embed(&s, "amazon.titan-embed-text-v2:0", json!(["a", "b", "c"]))
        .await
        .unwrap();
    let embedded = decode_bedrock_embeddings(ProviderId::Aws, &answer).unwrap();
    assert_eq!(embedded.vectors, vec![vec![0.5, -1.0]; 3]);
    assert_eq!(embedded.prompt_tokens, Some(9));
    let sent = s.mock.requests();
    assert_eq!(sent.len(), 3, "one call per input");
    let mut texts: Vec<String> = sent
        .iter()
        .map(|r| {
            assert_eq!(r.path(), titan);
            assert_eq!(r.header("accept"), Some("application/json"));
            assert_eq!(r.header("x-amz-security-token"), Some(TOKEN));
            verify_sigv4(r, SECRET, "eu-central-1");
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["inputText"].as_str().unwrap().to_owned()
        })
        .collect();
    texts.sort();
    assert_eq!(texts, ["a", "b", "c"]);

    // One input: one call, its answer as Bedrock sent it.
    s.mock.clear_requests();
    let answer = embed(&s, "amazon.titan-embed-text-v2:0", json!("a"))
        .await
        .unwrap();
    assert_eq!(
        decode_bedrock_embeddings(ProviderId::Aws, &answer)
            .unwrap()
            .prompt_tokens,
        Some(3)
    );
    assert_eq!(s.mock.requests().len(), 1);

    // Cohere: the texts in one call.
    s.mock.on(
        "POST",
        "/model/cohere.embed-english-v3/invoke",
        Reply::json(
            200,
            r#"{"embeddings": [[0.1], [0.2]], "id": "e-1", "response_type": "embeddings_floats", "texts": ["a", "b"]}"#,
        ),
    );
    let answer = embed(&s, "cohere.embed-english-v3", json!(["a", "b"]))
        .await
        .unwrap();
    assert_eq!(
        decode_bedrock_embeddings(ProviderId::Aws, &answer)
            .unwrap()
            .vectors,
        [vec![0.1], vec![0.2]]
    );
    let sent = s.mock.last_request().unwrap();
    assert!(
        sent.header("authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/")
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&sent.body).unwrap(),
        json!({"texts": ["a", "b"], "input_type": "search_document"})
    );

    // A throttled call fails the whole batch with Bedrock's status.
    s.mock.on(
        "POST",
        titan,
        Reply::json(429, fixture("bedrock/error_429.json")),
    );
    let e = embed(&s, "amazon.titan-embed-text-v2:0", json!(["a", "b"]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::Upstream {
                status: 429,
                kind: UpstreamErrorKind::RateLimited,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!format!("{e:?}").contains(SECRET));
}

#[tokio::test]
async fn every_stop_reason() {
    let s = bedrock(false).await;
    for (stop, want) in [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("tool_use", FinishReason::ToolCalls),
        ("guardrail_intervened", FinishReason::ContentFilter),
        ("content_filtered", FinishReason::ContentFilter),
    ] {
        s.mock.on(
            "POST",
            PATH,
            Reply::json(
                200,
                fixture("bedrock/converse_text.json").replace("end_turn", stop),
            ),
        );
        let full = s
            .provider
            .chat(&request(convo(false)), &s.credential)
            .await
            .unwrap();
        assert_eq!(finish(&full.response), Some(want), "{stop}");
        let events = fixture("bedrock/stream_text.events.json").replace("end_turn", stop);
        let parsed: Vec<Value> = serde_json::from_str(&events).unwrap();
        let mut bytes = Vec::new();
        for e in parsed {
            let msg = EsMessage::new_from_parts(
                vec![
                    Header::new(
                        ":event-type",
                        HeaderValue::String(e["event"].as_str().unwrap().to_owned().into()),
                    ),
                    Header::new(":message-type", HeaderValue::String("event".into())),
                ],
                Bytes::from(serde_json::to_vec(&e["payload"]).unwrap()),
            );
            write_message_to(&msg, &mut bytes).unwrap();
        }
        let out = translate_bedrock_frames(ProviderId::Aws, &bytes, 13, false).unwrap();
        let mut t = byok_providers::Transcript::default();
        for ev in &out {
            if let byok_providers::StreamEvent::Chunk(c) = ev {
                t.push(c);
            }
        }
        assert_eq!(t.finish_reason, Some(want), "{stop} streamed");
    }
}

#[tokio::test]
async fn tool_config_follows_tool_choice_none_and_the_tool_history() {
    let cases: Vec<Value> =
        serde_json::from_str(&fixture("bedrock/tool_config_cases.json")).unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let s = bedrock(false).await;
        s.mock.on(
            "POST",
            PATH,
            Reply::json(200, fixture("bedrock/converse_text.json")),
        );
        let mut body = case["request"].clone();
        body["model"] = json!(MODEL);
        let out = s.provider.chat(&request(body), &s.credential).await;
        if let Some(error) = case["error"].as_str() {
            let e = out.err().unwrap_or_else(|| panic!("{name}: accepted"));
            assert!(
                matches!(e, ProviderError::Unsupported { .. }),
                "{name}: {e:?}"
            );
            assert!(e.to_string().contains(error), "{name}: {e}");
            assert!(s.mock.last_request().is_none(), "{name}: sent upstream");
            continue;
        }
        out.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let sent = sent_json(&s);
        let expected = &case["toolConfig"];
        if expected.is_null() {
            assert!(sent.get("toolConfig").is_none(), "{name}: {sent}");
        } else {
            assert_eq!(&sent["toolConfig"], expected, "{name}");
        }
    }
}

#[tokio::test]
async fn reasoning_details_come_out_and_go_back_in_and_ids_are_set() {
    let s = bedrock(false).await;
    s.mock.on(
        "POST",
        PATH,
        Reply::json(200, fixture("bedrock/converse_reasoning.json")),
    );
    let full = s
        .provider
        .chat(&request(convo(false)), &s.credential)
        .await
        .unwrap();
    let wire: Value = serde_json::from_str(&fixture("bedrock/converse_reasoning.json")).unwrap();
    let blocks = &wire["output"]["message"]["content"];
    let (text, signature) = (
        blocks[0]["reasoningContent"]["reasoningText"]["text"]
            .as_str()
            .unwrap(),
        blocks[0]["reasoningContent"]["reasoningText"]["signature"]
            .as_str()
            .unwrap(),
    );
    let redacted = blocks[1]["reasoningContent"]["redactedContent"]
        .as_str()
        .unwrap();
    let msg = &full.response.choices[0].message;
    assert_eq!(msg.reasoning_content.as_deref(), Some(text));
    let expected = json!([
        {"type": "reasoning.text", "text": text, "signature": signature, "format": "bedrock-converse", "index": 0},
        {"type": "reasoning.encrypted", "data": redacted, "format": "bedrock-converse", "index": 1}
    ]);
    assert_eq!(json!(msg.reasoning_details), expected);
    assert!(
        full.response.id.starts_with("chatcmpl-"),
        "{}",
        full.response.id
    );
    assert!(full.response.id.len() > "chatcmpl-".len());

    // Streamed: the same reasoning, the details per block index.
    let bytes = frames("bedrock/stream_reasoning.events.json");
    s.mock.on("POST", STREAM_PATH, stream_reply(&bytes, 7));
    let (t, chunks, usage, err) = collect(&s, &request(convo(true))).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    let streamed: Vec<Value> = chunks
        .iter()
        .flat_map(|c| c.choices.iter())
        .flat_map(|c| c.delta.reasoning_details.clone().unwrap_or_default())
        .collect();
    assert_eq!(streamed.len(), 4, "{streamed:?}");
    assert!(
        streamed[..3]
            .iter()
            .all(|d| d["index"] == 0 && d["type"] == "reasoning.text")
    );
    assert_eq!(streamed[2]["signature"], signature);
    assert_eq!(streamed[3], expected[1]);
    let id = &chunks[0].id;
    assert!(id.starts_with("chatcmpl-") && id.len() > 9, "{id}");
    assert!(chunks.iter().all(|c| &c.id == id), "one id per stream");
    assert_ne!(id, &full.response.id);

    // Back in, merged or as streamed: reasoning blocks first, in order.
    let replay = json!([
        {"reasoningContent": {"reasoningText": {"text": text, "signature": signature}}},
        {"reasoningContent": {"redactedContent": redacted}}
    ]);
    for (details, content) in [
        (expected.clone(), Value::Null),
        (Value::Array(streamed), json!("Let me check.")),
    ] {
        let mut body = convo(false);
        body["messages"][2]["reasoning_details"] = details;
        body["messages"][2]["content"] = content.clone();
        s.mock.on(
            "POST",
            PATH,
            Reply::json(200, fixture("bedrock/converse_text.json")),
        );
        s.provider
            .chat(&request(body), &s.credential)
            .await
            .unwrap();
        let sent = sent_json(&s);
        let turn = &sent["messages"][1]["content"];
        assert_eq!(turn[0], replay[0], "{turn}");
        assert_eq!(turn[1], replay[1], "{turn}");
        let next = if content.is_null() { 2 } else { 3 };
        assert_eq!(turn[next]["toolUse"]["toolUseId"], "tooluse_1", "{turn}");
    }
}

// ---- issue #15: structured output, caching, files, effort, finish reasons,
// citations, tool results, a two-turn thinking + tool conversation --------

const NOVA: &str = "us.amazon.nova-2-lite-v1:0";
const LLAMA: &str = "meta.llama3-70b-instruct-v1:0";
const OPUS_47: &str = "us.anthropic.claude-opus-4-7";
const SONNET_46: &str = "anthropic.claude-sonnet-4-6";

fn user(text: &str) -> Value {
    json!({"model": MODEL, "messages": [{"role": "user", "content": text}]})
}

/// Sends `body` (model set unless present) and returns what went upstream,
/// or the error.
async fn sent_for(s: &Setup, body: Value) -> Result<Value, ProviderError> {
    let path = match body["model"].as_str() {
        Some(m) => format!("/model/{}/converse", byok_providers::encode_model_id(m)),
        None => PATH.to_owned(),
    };
    s.mock.on(
        "POST",
        &path,
        Reply::json(200, fixture("bedrock/converse_text.json")),
    );
    s.provider
        .chat(&request(body), &s.credential)
        .await
        .map(|_| sent_json(s))
}

/// The text of an `Unsupported` error (panics on anything else).
fn refusal(e: ProviderError) -> String {
    assert!(matches!(e, ProviderError::Unsupported { .. }), "{e:?}");
    e.to_string()
}

#[tokio::test]
async fn structured_output_is_native_output_config_merged_with_client_extras() {
    let s = bedrock(false).await;
    let schema = json!({
        "type": "object",
        "properties": {"name": {"type": "string"}, "email": {"type": "string"}, "priority": {"type": "string", "enum": ["low", "medium", "high"]}},
        "required": ["name", "email", "priority"],
        "additionalProperties": false
    });
    let mut body = user("Extract the contact.");
    body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "contact", "description": "A contact", "schema": schema, "strict": true}});
    body["additionalModelRequestFields"] = json!({"top_k": 5});
    body["guardrailConfig"] = json!({"guardrailIdentifier": "g1", "guardrailVersion": "1"});
    s.mock.on(
        "POST",
        PATH,
        Reply::json(200, local("converse_structured.json")),
    );
    let full = s
        .provider
        .chat(&request(body.clone()), &s.credential)
        .await
        .unwrap();
    let sent = sent_json(&s);
    // outputConfig.textFormat: {type: json_schema, structure: {jsonSchema:
    // {schema: <JSON string>, name, description}}} (API_runtime_OutputConfig,
    // OutputFormat, OutputFormatStructure, JsonSchemaDefinition).
    let def = &sent["outputConfig"]["textFormat"];
    assert_eq!(def["type"], "json_schema");
    let js = &def["structure"]["jsonSchema"];
    assert_eq!(
        (js["name"].as_str(), js["description"].as_str()),
        (Some("contact"), Some("A contact"))
    );
    let back: Value = serde_json::from_str(js["schema"].as_str().expect("a string")).unwrap();
    assert_eq!(back, schema);
    assert_eq!(sent["additionalModelRequestFields"], json!({"top_k": 5}));
    assert_eq!(sent["guardrailConfig"]["guardrailIdentifier"], "g1");
    let content = full.response.choices[0].message.content.clone().unwrap();
    let parsed: Value = serde_json::from_str(&content).unwrap();
    assert_eq!(parsed["priority"], "high");
    assert_eq!(finish(&full.response), Some(FinishReason::Stop));

    // The client's own outputConfig keys win; the rest is merged.
    let mut both = body.clone();
    both["outputConfig"] = json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": "{}"}}}});
    let sent = sent_for(&s, both).await.unwrap();
    assert_eq!(
        sent["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"],
        "{}"
    );

    // Streamed: the JSON arrives as content.
    let answer: Value = serde_json::from_str(&local("converse_structured.json")).unwrap();
    let text = answer["output"]["message"]["content"][0]["text"]
        .as_str()
        .unwrap();
    let events = vec![
        json!({"event": "messageStart", "payload": {"role": "assistant"}}),
        json!({"event": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {"text": &text[..10]}}}),
        json!({"event": "contentBlockDelta", "payload": {"contentBlockIndex": 0, "delta": {"text": &text[10..]}}}),
        json!({"event": "contentBlockStop", "payload": {"contentBlockIndex": 0}}),
        json!({"event": "messageStop", "payload": {"stopReason": "end_turn"}}),
        json!({"event": "metadata", "payload": {"usage": answer["usage"]}}),
    ];
    s.mock
        .on("POST", STREAM_PATH, stream_reply(&encode_events(events), 9));
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let (t, _, usage, err) = collect(&s, &request(streamed)).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);

    // json_object: no schema, so a clear 400; nothing sent.
    let q = bedrock(false).await;
    let mut object = user("x");
    object["response_format"] = json!({"type": "json_object"});
    let e = refusal(sent_for(&q, object).await.unwrap_err());
    assert!(
        e.contains("json_object") && e.contains("json_schema"),
        "{e}"
    );
    assert!(q.mock.last_request().is_none());
}

#[tokio::test]
async fn cache_control_becomes_cache_points_and_cache_usage_counts_as_prompt() {
    let s = bedrock(false).await;
    let cc = json!({"type": "ephemeral"});
    let body = json!({
        "model": MODEL,
        "messages": [
            {"role": "system", "content": [
                {"type": "text", "text": "Long instructions.", "cache_control": cc},
                {"type": "text", "text": "Today is Monday."}
            ]},
            {"role": "user", "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}, "cache_control": cc}
            ]},
            {"role": "assistant", "tool_calls": [{"id": "tooluse_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "tooluse_1", "content": [{"type": "text", "text": "18C", "cache_control": cc}]},
            {"role": "user", "content": [{"type": "text", "text": "And tomorrow?", "cache_control": cc}]}
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}, "strict": true}, "cache_control": cc}
        ]
    });
    let sent = sent_for(&s, body).await.unwrap();
    let point = json!({"cachePoint": {"type": "default"}});
    assert_eq!(
        sent["system"],
        json!([{"text": "Long instructions."}, point, {"text": "Today is Monday."}])
    );
    assert_eq!(sent["messages"][0]["content"][0], json!({"text": "Look:"}));
    assert_eq!(sent["messages"][0]["content"][1]["image"]["format"], "png");
    assert_eq!(sent["messages"][0]["content"][2], point);
    let last = &sent["messages"][2]["content"];
    assert_eq!(
        last[0]["toolResult"],
        json!({"toolUseId": "tooluse_1", "content": [{"text": "18C"}]})
    );
    assert_eq!(last[1], point, "after the tool result");
    assert_eq!(last[2], json!({"text": "And tomorrow?"}));
    assert_eq!(last[3], point, "the last message");
    let tools = sent["toolConfig"]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 3);
    assert_eq!(tools[0]["toolSpec"]["name"], "get_weather");
    assert_eq!(tools[1]["toolSpec"]["name"], "get_time");
    assert_eq!(
        tools[1]["toolSpec"]["strict"], true,
        "ToolSpecification.strict"
    );
    assert!(tools[0]["toolSpec"].get("strict").is_none());
    assert_eq!(tools[2], point);

    // Without marks nothing changes: one system block, no cache points.
    let plain = sent_for(&s, convo(false)).await.unwrap();
    assert!(!plain.to_string().contains("cachePoint"), "{plain}");

    // Usage: cache reads and writes are prompt tokens too (OpenAI terms),
    // streamed (metadata event) and not.
    s.mock.on(
        "POST",
        PATH,
        Reply::json(200, local("converse_thinking_tool.json")),
    );
    let full = s
        .provider
        .chat(&request(convo(false)), &s.credential)
        .await
        .unwrap();
    let UsageReport::Reported(u) = &full.usage else {
        panic!()
    };
    assert_eq!(
        (
            u.prompt_tokens,
            u.cached_tokens(),
            u.cache_write_tokens(),
            u.completion_tokens,
            u.total_tokens
        ),
        (520 + 2048, 2048, 0, 88, 520 + 2048 + 88)
    );
    s.mock.on(
        "POST",
        STREAM_PATH,
        stream_reply(&local_frames("stream_thinking_tool.json"), 11),
    );
    let (t, _, usage, err) = collect(&s, &request(convo(true))).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
}

#[tokio::test]
async fn file_parts_become_documents_and_remote_images_are_refused() {
    let s = bedrock(false).await;
    let file = |data: &str, name: Option<&str>| {
        let mut f = json!({"file_data": data});
        if let Some(n) = name {
            f["filename"] = json!(n);
        }
        json!({"type": "file", "file": f})
    };
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Summarise these."},
        file("data:application/pdf;base64,JVBERi0xLjQK", Some("Q3_report (final).v2.pdf")),
        file("data:text/csv;base64,YSxiCjEsMgo=", Some("data.csv")),
        file("data:text/markdown;base64,IyBUaXRsZQo=", None),
        file("data:application/vnd.openxmlformats-officedocument.wordprocessingml.document;base64,UEsDBA==", Some("notes.docx")),
        file("data:image/jpeg;base64,/9j/4AAQ", Some("photo.jpg"))
    ]}]});
    let sent = sent_for(&s, body).await.unwrap();
    let c = &sent["messages"][0]["content"];
    // DocumentBlock: format, name (alphanumerics, single spaces, hyphens,
    // parentheses, square brackets), source.bytes (API_runtime_DocumentBlock).
    assert_eq!(
        c[1],
        json!({"document": {"format": "pdf", "name": "Q3 report (final) v2", "source": {"bytes": "JVBERi0xLjQK"}}})
    );
    assert_eq!(c[2]["document"]["format"], "csv");
    assert_eq!(c[2]["document"]["name"], "data");
    assert_eq!(c[3]["document"]["format"], "md");
    assert_eq!(c[3]["document"]["name"], "document-3");
    assert_eq!(c[4]["document"]["format"], "docx");
    assert_eq!(
        c[5],
        json!({"image": {"format": "jpeg", "source": {"bytes": "/9j/4AAQ"}}})
    );

    for (part, want) in [
        (
            json!({"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}),
            "Bedrock needs images as data: URLs (base64)",
        ),
        (
            json!({"type": "file", "file": {"file_id": "file-abc123"}}),
            "`file_id`",
        ),
        (
            file("data:application/zip;base64,UEsDBA==", Some("a.zip")),
            "application/zip",
        ),
        (file("https://example.com/a.pdf", None), "data:"),
        (
            json!({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}),
            "`input_audio` content parts",
        ),
    ] {
        let q = bedrock(false).await;
        let body = json!({"model": MODEL, "messages": [{"role": "user", "content": [part]}]});
        let e = refusal(sent_for(&q, body).await.unwrap_err());
        assert!(e.contains(want), "{want}: {e}");
        assert!(q.mock.last_request().is_none());
    }
}

#[tokio::test]
async fn reasoning_effort_maps_to_each_models_control_and_limits_agree() {
    let s = bedrock(false).await;
    let with = |model: &str, patch: Value| {
        let mut b = json!({"model": model, "messages": [{"role": "user", "content": "x"}]});
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    // Claude: thinking with a budget, maxTokens raised above it.
    for (patch, budget, max) in [
        (json!({"reasoning_effort": "minimal"}), 1024, 1024 + 4096),
        (
            json!({"reasoning_effort": "low", "max_tokens": 50_000}),
            1024,
            50_000,
        ),
        (
            json!({"reasoning_effort": "medium", "max_tokens": 1000}),
            4096,
            5096,
        ),
        (json!({"reasoning_effort": "high"}), 16384, 16384 + 4096),
        (
            json!({"reasoning_effort": "xhigh", "max_completion_tokens": 64_000}),
            32768,
            64_000,
        ),
        (
            json!({"reasoning": {"effort": "high"}}),
            16384,
            16384 + 4096,
        ),
        (
            json!({"reasoning": {"max_tokens": 3000}, "max_tokens": 8000}),
            3000,
            8000,
        ),
        (json!({"reasoning": {"enabled": true}}), 4096, 4096 + 4096),
    ] {
        let body = with(MODEL, patch.clone());
        let sent = sent_for(&s, body.clone()).await.unwrap();
        assert_eq!(
            sent["additionalModelRequestFields"]["thinking"],
            json!({"type": "enabled", "budget_tokens": budget}),
            "{patch}"
        );
        assert_eq!(sent["inferenceConfig"]["maxTokens"], max, "{patch}");
        assert_eq!(
            byok_providers::output_token_limit(ProviderId::Aws, &request(body)),
            Some(max),
            "{patch}: limits.rs reserves what is sent"
        );
    }
    // `none` and disabled reasoning: nothing added, never refused.
    for patch in [
        json!({"reasoning_effort": "none"}),
        json!({"reasoning": {"enabled": false}}),
        json!({"reasoning": null}),
    ] {
        for model in [MODEL, LLAMA] {
            let sent = sent_for(&s, with(model, patch.clone())).await.unwrap();
            assert!(
                sent.get("additionalModelRequestFields").is_none(),
                "{patch}: {sent}"
            );
        }
    }
    // Client extras merged, never replaced; its own `thinking` wins.
    let sent = sent_for(
        &s,
        with(MODEL, json!({"reasoning_effort": "low", "additionalModelRequestFields": {"top_k": 5, "anthropic_beta": ["x"]}})),
    )
    .await
    .unwrap();
    assert_eq!(
        sent["additionalModelRequestFields"],
        json!({"top_k": 5, "anthropic_beta": ["x"], "thinking": {"type": "enabled", "budget_tokens": 1024}})
    );
    let own = json!({"thinking": {"type": "enabled", "budget_tokens": 2000}});
    let body = with(
        MODEL,
        json!({"reasoning_effort": "high", "max_tokens": 3000, "additionalModelRequestFields": own}),
    );
    let sent = sent_for(&s, body.clone()).await.unwrap();
    assert_eq!(sent["additionalModelRequestFields"], own);
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 3000);
    assert_eq!(
        byok_providers::output_token_limit(ProviderId::Aws, &request(body)),
        Some(3000)
    );
    // Nova 2: reasoningConfig with maxReasoningEffort.
    for (effort, level) in [
        ("minimal", "low"),
        ("low", "low"),
        ("medium", "medium"),
        ("high", "high"),
        ("xhigh", "high"),
    ] {
        let sent = sent_for(&s, with(NOVA, json!({"reasoning_effort": effort})))
            .await
            .unwrap();
        assert_eq!(
            sent["additionalModelRequestFields"],
            json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": level}}),
            "{effort}"
        );
        assert!(sent["inferenceConfig"].get("maxTokens").is_none());
    }
    // Refused with a reason: other models, Nova budgets.
    for (model, patch, want) in [
        (
            LLAMA,
            json!({"reasoning_effort": "high"}),
            "`reasoning_effort` for meta.llama3-70b-instruct-v1:0 on Bedrock",
        ),
        (
            NOVA,
            json!({"reasoning": {"max_tokens": 2000}}),
            "`reasoning.max_tokens`",
        ),
    ] {
        let q = bedrock(false).await;
        let e = refusal(sent_for(&q, with(model, patch.clone())).await.unwrap_err());
        assert!(e.contains(want), "{patch}: {e}");
        assert!(q.mock.last_request().is_none());
    }
    // Thinking with a forced tool, a temperature or a low top_p, and a
    // budget for an adaptive-only model: the Anthropic translator's
    // invalid-request 400s, naming the field.
    for (model, patch, want) in [
        (
            MODEL,
            json!({"reasoning_effort": "low", "tool_choice": "required", "tools": [{"type": "function", "function": {"name": "f"}}]}),
            "forced `tool_choice`",
        ),
        (
            MODEL,
            json!({"reasoning_effort": "low", "temperature": 0.2}),
            "`temperature`",
        ),
        (
            MODEL,
            json!({"reasoning_effort": "low", "top_p": 0.5}),
            "`top_p`",
        ),
        (
            OPUS_47,
            json!({"reasoning": {"max_tokens": 3000}}),
            "`reasoning.max_tokens`",
        ),
    ] {
        let q = bedrock(false).await;
        let e = sent_for(&q, with(model, patch.clone())).await.unwrap_err();
        assert!(
            matches!(e, ProviderError::InvalidRequest { .. }),
            "{patch}: {e:?}"
        );
        assert!(e.to_string().contains(want), "{patch}: {e}");
        assert!(q.mock.last_request().is_none());
    }
    let e = sent_for(&s, with(MODEL, json!({"reasoning_effort": "extreme"})))
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::InvalidRequest { .. }), "{e:?}");
    // Temperature 1 is what thinking wants: accepted (and, being the
    // default, not sent).
    let sent = sent_for(
        &s,
        with(
            MODEL,
            json!({"reasoning_effort": "low", "temperature": 1.0}),
        ),
    )
    .await
    .unwrap();
    assert!(
        sent["inferenceConfig"].get("temperature").is_none(),
        "{sent}"
    );
    // As the Anthropic translator: `max` is the top budget, a budget below
    // 1024 is 1024, `reasoning: false` is no reasoning.
    for (patch, budget) in [
        (json!({"reasoning_effort": "max"}), 32768),
        (json!({"reasoning": {"max_tokens": 10}}), 1024),
    ] {
        let sent = sent_for(&s, with(MODEL, patch.clone())).await.unwrap();
        assert_eq!(
            sent["additionalModelRequestFields"]["thinking"],
            json!({"type": "enabled", "budget_tokens": budget}),
            "{patch}"
        );
    }
    let sent = sent_for(&s, with(MODEL, json!({"reasoning": false})))
        .await
        .unwrap();
    assert!(sent.get("additionalModelRequestFields").is_none(), "{sent}");
    // Claude 4.6 and later: adaptive thinking with `output_config.effort`
    // (merged into the client's own `output_config`), `maxTokens` left alone.
    for (model, patch, effort) in [
        (OPUS_47, json!({"reasoning_effort": "xhigh"}), "xhigh"),
        (SONNET_46, json!({"reasoning_effort": "xhigh"}), "max"),
        (OPUS_47, json!({"reasoning": {"effort": "minimal"}}), "low"),
    ] {
        let sent = sent_for(&s, with(model, patch.clone())).await.unwrap();
        assert_eq!(
            sent["additionalModelRequestFields"],
            json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": effort}}),
            "{model} {patch}"
        );
        assert!(sent.get("inferenceConfig").is_none(), "{sent}");
    }
    let sent = sent_for(
        &s,
        with(
            OPUS_47,
            json!({"reasoning_effort": "high", "max_tokens": 100, "additionalModelRequestFields": {"output_config": {"task_budget": 5}}}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        sent["additionalModelRequestFields"],
        json!({"output_config": {"task_budget": 5, "effort": "high"}, "thinking": {"type": "adaptive"}})
    );
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 100);
    // Nova: `max` is its highest level, `enabled: true` its middle one.
    for (patch, level) in [
        (json!({"reasoning_effort": "max"}), "high"),
        (json!({"reasoning": {"enabled": true}}), "medium"),
    ] {
        let sent = sent_for(&s, with(NOVA, patch.clone())).await.unwrap();
        assert_eq!(
            sent["additionalModelRequestFields"],
            json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": level}}),
            "{patch}"
        );
    }
}

#[tokio::test]
async fn malformed_stop_reasons_are_stop_with_the_native_reason() {
    let s = bedrock(false).await;
    for stop in ["malformed_model_output", "malformed_tool_use"] {
        s.mock.on(
            "POST",
            PATH,
            Reply::json(
                200,
                fixture("bedrock/converse_text.json").replace("end_turn", stop),
            ),
        );
        let full = s
            .provider
            .chat(&request(convo(false)), &s.credential)
            .await
            .unwrap();
        assert_eq!(finish(&full.response), Some(FinishReason::Stop), "{stop}");
        assert_eq!(full.response.choices[0].extra["native_finish_reason"], stop);
        let events: Vec<Value> = serde_json::from_str(
            &fixture("bedrock/stream_text.events.json").replace("end_turn", stop),
        )
        .unwrap();
        s.mock.on(
            "POST",
            STREAM_PATH,
            stream_reply(&encode_events(events), 17),
        );
        let (t, chunks, usage, err) = collect(&s, &request(convo(true))).await;
        assert!(err.is_none(), "{err:?}");
        assert_equivalent(&t, &usage, &full.response, &full.usage);
        let last = chunks.iter().rev().find(|c| !c.choices.is_empty()).unwrap();
        assert_eq!(last.choices[0].extra["native_finish_reason"], stop);
    }
    // A plain stop has no native reason.
    s.mock.on(
        "POST",
        PATH,
        Reply::json(200, fixture("bedrock/converse_text.json")),
    );
    let full = s
        .provider
        .chat(&request(convo(false)), &s.credential)
        .await
        .unwrap();
    assert!(
        full.response.choices[0]
            .extra
            .get("native_finish_reason")
            .is_none()
    );
}

#[tokio::test]
async fn citations_become_url_citation_annotations_streamed_and_not() {
    let s = bedrock(false).await;
    s.mock.on(
        "POST",
        PATH,
        Reply::json(200, local("converse_citations.json")),
    );
    let full = s
        .provider
        .chat(&request(convo(false)), &s.credential)
        .await
        .unwrap();
    let msg = &full.response.choices[0].message;
    assert_eq!(
        msg.content.as_deref(),
        Some("Per the report, Paris had 18°C today. Enjoy!")
    );
    // Only the web location has a URL; indices in chars of the content.
    let expected = json!([{"type": "url_citation", "url_citation": {
        "url": "https://weather.example.com/paris", "title": "Paris weather — Météo",
        "start_index": 16, "end_index": 37
    }}]);
    assert_eq!(msg.extra["annotations"], expected);
    let content = msg.content.clone().unwrap();
    let cited: String = content.chars().skip(16).take(37 - 16).collect();
    assert_eq!(cited, "Paris had 18°C today.");

    for piece in [1, 5, 64] {
        s.mock.on(
            "POST",
            STREAM_PATH,
            stream_reply(&local_frames("stream_citations.json"), piece),
        );
        let (t, chunks, usage, err) = collect(&s, &request(convo(true))).await;
        assert!(err.is_none(), "{err:?}");
        assert_equivalent(&t, &usage, &full.response, &full.usage);
        assert_eq!(
            reassembled(&t, &chunks)["message"]["annotations"],
            expected,
            "piece {piece}"
        );
    }
}

#[tokio::test]
async fn tool_results_carry_several_parts_images_and_errors() {
    let s = bedrock(false).await;
    let body = json!({"model": MODEL, "messages": [
        {"role": "user", "content": "Screenshot both pages."},
        {"role": "assistant", "tool_calls": [
            {"id": "tooluse_a", "type": "function", "function": {"name": "shot", "arguments": "{\"page\":1}"}},
            {"id": "tooluse_b", "type": "function", "function": {"name": "shot", "arguments": "{\"page\":2}"}}
        ]},
        {"role": "tool", "tool_call_id": "tooluse_a", "content": [
            {"type": "text", "text": "Page 1:"},
            {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGR"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x", "filename": "page1.pdf"}}
        ]},
        {"role": "tool", "tool_call_id": "tooluse_b", "content": "timeout", "is_error": true}
    ], "tools": [{"type": "function", "function": {"name": "shot", "parameters": {"type": "object"}}}]});
    let sent = sent_for(&s, body).await.unwrap();
    let results = &sent["messages"][2]["content"];
    assert_eq!(
        results[0]["toolResult"],
        json!({"toolUseId": "tooluse_a", "content": [
            {"text": "Page 1:"},
            {"image": {"format": "webp", "source": {"bytes": "UklGR"}}},
            {"document": {"format": "pdf", "name": "page1", "source": {"bytes": "JVBERi0x"}}}
        ]})
    );
    assert_eq!(
        results[1]["toolResult"],
        json!({"toolUseId": "tooluse_b", "content": [{"text": "timeout"}], "status": "error"})
    );
    // `is_error: false` is the default: no status.
    let mut ok = convo(false);
    ok["messages"][3]["is_error"] = json!(false);
    let sent = sent_for(&s, ok).await.unwrap();
    assert!(
        sent["messages"][2]["content"][0]["toolResult"]
            .get("status")
            .is_none()
    );
}

#[tokio::test]
async fn two_turn_thinking_and_tool_conversation_replays_turn_one_exactly() {
    let s = bedrock(false).await;
    let turn1 = |stream: bool| {
        json!({
            "model": MODEL, "stream": stream, "reasoning_effort": "medium",
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}, "unit": {"type": "string"}}}}}]
        })
    };
    // Turn 1, non-streamed and streamed: the same answer.
    s.mock.on(
        "POST",
        PATH,
        Reply::json(200, local("converse_thinking_tool.json")),
    );
    let full = s
        .provider
        .chat(&request(turn1(false)), &s.credential)
        .await
        .unwrap();
    let sent1 = sent_json(&s);
    assert_eq!(
        sent1["additionalModelRequestFields"]["thinking"],
        json!({"type": "enabled", "budget_tokens": 4096})
    );
    assert_eq!(finish(&full.response), Some(FinishReason::ToolCalls));
    s.mock.on(
        "POST",
        STREAM_PATH,
        stream_reply(&local_frames("stream_thinking_tool.json"), 3),
    );
    let (t, chunks, usage, err) = collect(&s, &request(turn1(true))).await;
    assert!(err.is_none(), "{err:?}");
    assert_equivalent(&t, &usage, &full.response, &full.usage);
    let msg = &full.response.choices[0].message;
    let signature = "ErcBCkgIBhABGAIiQDy7n3Q0pL9sVb2xWm4kYtZ1cR8uJf6hN0aE5gD3iK7oP2qS9vX1zC4bM8nL6jH0tF2wY5eA3dG7kR1uI9oPEgwMadeUpSignature";
    assert_eq!(
        json!(msg.reasoning_details),
        json!([{"type": "reasoning.text", "text": "I need the weather. I will call get_weather for Paris.", "signature": signature, "format": "bedrock-converse", "index": 0}])
    );
    let ids: Vec<&str> = msg
        .tool_calls
        .iter()
        .flatten()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(ids, ["tooluse_Q1w2E3r4T5y6U7i8O9p0aS"]);

    // Turn 2 replays turn 1's message as the client received it: streamed
    // and reassembled, or whole. Both reach Converse the same way.
    let whole = serde_json::to_value(msg).unwrap();
    let mut wires = Vec::new();
    // `reasoning_details` as streamed: pieces of one index kept apart.
    let streamed = reassembled(&t, &chunks)["message"].clone();
    for assistant in [streamed, whole] {
        let mut body = turn1(false);
        body["messages"].as_array_mut().unwrap().extend([
            assistant,
            json!({"role": "tool", "tool_call_id": "tooluse_Q1w2E3r4T5y6U7i8O9p0aS", "content": "18C, sunny"}),
        ]);
        s.mock.on(
            "POST",
            PATH,
            Reply::json(200, local("converse_thinking_answer.json")),
        );
        let answer = s
            .provider
            .chat(&request(body), &s.credential)
            .await
            .unwrap();
        assert_eq!(
            answer.response.choices[0].message.content.as_deref(),
            Some("It is 18°C and sunny in Paris.")
        );
        let sent = sent_json(&s);
        assert_eq!(
            sent["messages"][1],
            json!({"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "I need the weather. I will call get_weather for Paris.", "signature": signature}}},
                {"toolUse": {"toolUseId": "tooluse_Q1w2E3r4T5y6U7i8O9p0aS", "name": "get_weather", "input": {"location": "Paris", "unit": "celsius"}}}
            ]})
        );
        assert_eq!(
            sent["messages"][2]["content"][0]["toolResult"],
            json!({"toolUseId": "tooluse_Q1w2E3r4T5y6U7i8O9p0aS", "content": [{"text": "18C, sunny"}]})
        );
        assert_eq!(
            sent["additionalModelRequestFields"],
            sent1["additionalModelRequestFields"]
        );
        assert!(sent["toolConfig"]["tools"].is_array());
        wires.push(sent);
    }
    assert_eq!(wires[0], wires[1]);
}
