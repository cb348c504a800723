//! Bedrock Converse through the mock upstream: SigV4 verified independently,
//! event-stream frames split anywhere, exceptions, usage after messageStop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::Duration;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message as EsMessage};
use byok_providers::{
    FinishReason, ProviderError, ProviderId, UpstreamErrorKind, UsageReport,
    translate_bedrock_frames,
};
use byok_testkit::{Body, Piece, Reply, fixture};
use bytes::Bytes;
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
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
    let events: Vec<Value> = serde_json::from_str(&fixture(name)).unwrap();
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
