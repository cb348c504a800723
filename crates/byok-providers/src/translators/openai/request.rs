//! The upstream request: the client's request as it came (the neutral
//! types keep what they do not model as raw JSON), changed only where it
//! must be for the provider's [`Quirks`] and model (see the module docs).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ProviderError;
use crate::id::Quirks;
use crate::types::{ChatRequest, Message, ResponseFormat, Stop, Tool, ToolChoice};

/// `stream_options` as sent upstream: the client's options with
/// `include_usage` forced on (the gateway bills from it).
#[derive(Serialize)]
struct WireStreamOptions<'a> {
    include_usage: bool,
    #[serde(flatten)]
    extra: Option<&'a Map<String, Value>>,
}

/// The request as sent upstream, borrowing from the neutral request.
#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<WireStreamOptions<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a Stop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a [Tool]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'a ToolChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a ResponseFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

/// Encodes the upstream request body for `quirks`. `stream` forces the
/// streaming form (with usage requested when the provider accepts it,
/// merged into the client's own `stream_options`).
///
/// # Errors
/// Serialisation failure (not expected for valid requests).
pub fn encode_request(
    request: &ChatRequest,
    quirks: Quirks,
    stream: bool,
) -> Result<Vec<u8>, ProviderError> {
    encode_with_model(request, quirks, stream, None)
}

/// [`encode_request`] with the model replaced (Azure: the deployment name).
pub(super) fn encode_with_model(
    request: &ChatRequest,
    quirks: Quirks,
    stream: bool,
    model: Option<&str>,
) -> Result<Vec<u8>, ProviderError> {
    let (max_tokens, max_completion_tokens) = token_limits(request, quirks, model);
    let wire = WireRequest {
        model: model.unwrap_or(&request.model),
        messages: &request.messages,
        stream: stream.then_some(true),
        stream_options: (stream && quirks.stream_options).then(|| WireStreamOptions {
            include_usage: true,
            extra: request.stream_options.as_ref().map(|o| &o.extra),
        }),
        max_tokens,
        max_completion_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        n: request.n,
        stop: request.stop.as_ref(),
        seed: request.seed,
        user: request.user.as_deref(),
        presence_penalty: request.presence_penalty,
        frequency_penalty: request.frequency_penalty,
        tools: request.tools.as_deref(),
        tool_choice: request.tool_choice.as_ref(),
        parallel_tool_calls: request.parallel_tool_calls,
        response_format: request.response_format.as_ref(),
        reasoning_effort: request.reasoning_effort.as_deref(),
        extra: &request.extra,
    };
    let mut body = Vec::with_capacity(512);
    serde_json::to_writer(&mut body, &wire)
        .map_err(|e| ProviderError::invalid(format!("cannot encode request: {e}"), None))?;
    Ok(body)
}

/// The upstream body: the client's bytes as they came when they say what
/// [`encode_with_model`] would write ([`verbatim`]), else its encoding.
///
/// # Errors
/// As [`encode_with_model`].
pub(super) fn body(
    request: &ChatRequest,
    quirks: Quirks,
    stream: bool,
    model: Option<&str>,
) -> Result<bytes::Bytes, ProviderError> {
    let sent = match verbatim(request, quirks, stream, model) {
        Some(AsSent::AsItCame(raw)) => Some(raw.clone()),
        Some(AsSent::AskingUsage(raw)) => asking_usage(raw),
        None => None,
    };
    if let Some(sent) = sent {
        #[cfg(debug_assertions)]
        check_verbatim(&sent, &encode_with_model(request, quirks, stream, model)?);
        return Ok(sent);
    }
    encode_with_model(request, quirks, stream, model).map(bytes::Bytes::from)
}

/// How the client's bytes can go upstream.
enum AsSent<'r> {
    /// As they came.
    AsItCame(&'r bytes::Bytes),
    /// With `"stream_options":{"include_usage":true}` added: a stream
    /// whose client sent no `stream_options` (the gateway bills from the
    /// usage chunk).
    AskingUsage(&'r bytes::Bytes),
}

/// The client's bytes, when nothing in them must change for the upstream
/// but, for a stream, asking for usage: the pipeline changed none of the
/// fields it may change
/// ([`RawBody::describes`](crate::types::RawBody::describes)), the model
/// is sent as the client named it, the output limits need no renaming,
/// and the stream fields are what the call needs (`stream` as the call
/// streams or not; usage asked for, or added, where the provider takes
/// `stream_options`, and none sent where it does not).
fn verbatim<'r>(
    request: &'r ChatRequest,
    quirks: Quirks,
    stream: bool,
    model: Option<&str>,
) -> Option<AsSent<'r>> {
    let raw = request.raw.as_ref()?;
    let same_model = model.is_none_or(|m| m == request.model);
    let same_limits =
        token_limits(request, quirks, model) == (request.max_tokens, request.max_completion_tokens);
    if !(same_model && same_limits && raw.describes(request)) {
        return None;
    }
    let bytes = raw.bytes();
    match (stream, request.is_stream(), &request.stream_options) {
        (false, false, None) => Some(AsSent::AsItCame(bytes)),
        (true, true, None) if quirks.stream_options => Some(AsSent::AskingUsage(bytes)),
        (true, true, None) => Some(AsSent::AsItCame(bytes)),
        (true, true, Some(_)) if quirks.stream_options && request.wants_stream_usage() => {
            Some(AsSent::AsItCame(bytes))
        }
        _ => None,
    }
}

/// `raw` with `"stream_options":{"include_usage":true}` as its first
/// member (it has no `stream_options`: [`verbatim`] checked; a known
/// field given twice does not parse). `None` if `raw` is not a non-empty
/// object.
fn asking_usage(raw: &[u8]) -> Option<bytes::Bytes> {
    const ASK: &[u8] = br#""stream_options":{"include_usage":true},"#;
    let open = raw.iter().position(|b| !b.is_ascii_whitespace())?;
    let first = raw[open + 1..].iter().find(|b| !b.is_ascii_whitespace())?;
    if raw[open] != b'{' || *first == b'}' {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len() + ASK.len());
    out.extend_from_slice(&raw[..=open]);
    out.extend_from_slice(ASK);
    out.extend_from_slice(&raw[open + 1..]);
    Some(out.into())
}

/// Debug builds: a forwarded body says what its encoding would have said
/// (JSON `null` and a missing member alike, `"stream": false` and none
/// alike, `1` and `1.0` alike), so a step that changes the request without [`RawBody`]
/// noticing fails the tests instead of being forwarded unchanged.
#[cfg(debug_assertions)]
fn check_verbatim(raw: &[u8], encoded: &[u8]) {
    fn meaning(bytes: &[u8]) -> Value {
        fn strip(v: &mut Value) {
            match v {
                Value::Object(m) => {
                    m.retain(|_, v| !v.is_null());
                    m.values_mut().for_each(strip);
                }
                Value::Array(a) => a.iter_mut().for_each(strip),
                Value::Number(n) => *v = Value::from(n.as_f64()),
                _ => {}
            }
        }
        let mut v: Value = serde_json::from_slice(bytes).unwrap_or_default();
        if let Value::Object(m) = &mut v
            && m.get("stream") == Some(&Value::Bool(false))
        {
            m.remove("stream");
        }
        strip(&mut v);
        v
    }
    assert_eq!(
        meaning(raw),
        meaning(encoded),
        "a request forwarded as it came says what its encoding says"
    );
}

/// `(max_tokens, max_completion_tokens)` as sent upstream: one limit under
/// `max_tokens` for providers that prefer it; under
/// `max_completion_tokens` for models that refuse `max_tokens`
/// ([`requires_max_completion_tokens`], on a provider with OpenAI's
/// semantics); otherwise as the client wrote them.
fn token_limits(
    request: &ChatRequest,
    quirks: Quirks,
    model: Option<&str>,
) -> (Option<u32>, Option<u32>) {
    let limit = request.max_completion_tokens.or(request.max_tokens);
    if quirks.prefers_max_tokens {
        (limit, None)
    } else if requires_max_completion_tokens(&request.model)
        || model.is_some_and(requires_max_completion_tokens)
    {
        (None, limit)
    } else {
        (request.max_tokens, request.max_completion_tokens)
    }
}

/// Whether OpenAI refuses `max_tokens` for `model` ("use
/// max_completion_tokens"): the reasoning families `o1`, `o3`, `o4`, ...
/// (`o<digits>`, alone or followed by `-...`) and `gpt-5` and later
/// (`gpt-<n>` with n >= 5, alone or followed by `-...` or `.`). Bare ids
/// only: a vendor-prefixed id (`openai/o3`) belongs to an aggregator that
/// takes `max_tokens`.
pub(super) fn requires_max_completion_tokens(model: &str) -> bool {
    fn version_then_end(rest: &str, min: u32, dot: bool) -> bool {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (number, tail) = rest.split_at(digits);
        number.parse::<u32>().is_ok_and(|n| n >= min)
            && (tail.is_empty() || tail.starts_with('-') || (dot && tail.starts_with('.')))
    }
    if let Some(rest) = model.strip_prefix('o') {
        return version_then_end(rest, 1, false);
    }
    model
        .strip_prefix("gpt-")
        .is_some_and(|rest| version_then_end(rest, 5, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(raw: &str) -> ChatRequest {
        serde_json::from_str(raw).unwrap()
    }

    fn parsed(raw: &str) -> ChatRequest {
        ChatRequest::parse(&bytes::Bytes::copy_from_slice(raw.as_bytes())).unwrap()
    }

    /// The client's bytes go as they came when nothing must change, with
    /// what the gateway does not model kept exactly (spacing, member order,
    /// a number's spelling); any change the upstream call needs re-encodes.
    #[test]
    fn a_body_that_needs_no_change_is_forwarded_as_it_came() {
        let raw = r#"{ "messages":[{"role":"user","content":"hi"}], "model":"gpt-4o-mini", "temperature":1.0, "x_vendor":{"a":[1,2]} }"#;
        let r = parsed(raw);
        let sent = body(&r, Quirks::OPENAI, false, None).unwrap();
        assert_eq!(&sent[..], raw.as_bytes());

        // A route that rewrote the model.
        let mut routed = parsed(raw);
        routed.model = "gpt-4o".into();
        let sent: Value =
            serde_json::from_slice(&body(&routed, Quirks::OPENAI, false, None).unwrap()).unwrap();
        assert_eq!(sent["model"], "gpt-4o");
        assert_eq!(sent["x_vendor"]["a"][1], 2);
        // An Azure deployment name.
        let sent = body(&r, Quirks::OPENAI, false, Some("deploy-1")).unwrap();
        assert_ne!(&sent[..], raw.as_bytes());
        // The pipeline took a gateway option out, or filled a default limit.
        let with_models = r#"{"model":"gpt-4o-mini","models":["a","b"],"messages":[{"role":"user","content":"hi"}]}"#;
        let mut taken = parsed(with_models);
        taken.extra.remove("models");
        let sent: Value =
            serde_json::from_slice(&body(&taken, Quirks::OPENAI, false, None).unwrap()).unwrap();
        assert!(sent.get("models").is_none());
        let mut limited = parsed(raw);
        limited.max_completion_tokens = Some(100);
        let sent: Value =
            serde_json::from_slice(&body(&limited, Quirks::OPENAI, false, None).unwrap()).unwrap();
        assert_eq!(sent["max_completion_tokens"], 100);
    }

    /// A re-encoded request carries the numbers the client sent: each is
    /// read as the f64 it names (serde_json's `float_roundtrip`; its
    /// default reader is off by one unit in the last place for some, such
    /// as the temperature below, which the `request_responses` random
    /// inputs found) and written in its shortest exact form.
    #[test]
    fn re_encoded_numbers_are_the_numbers_sent() {
        for number in [
            "1.1165130154797439e19",
            "0.7",
            "1e-7",
            "2.2250738585072014e-308",
        ] {
            let raw = format!(
                r#"{{"model":"m","temperature":{number},"top_p":{number},"messages":[{{"role":"user","content":"hi"}}]}}"#
            );
            let mut r = parsed(&raw);
            r.model = "routed".into();
            let sent: Value =
                serde_json::from_slice(&body(&r, Quirks::OPENAI, false, None).unwrap()).unwrap();
            let want: f64 = number.parse().unwrap();
            assert_eq!(sent["temperature"].as_f64(), Some(want), "{number}");
            assert_eq!(sent["top_p"].as_f64(), Some(want), "{number}");
        }
    }

    #[test]
    fn stream_fields_and_limit_names_that_must_change_are_re_encoded() {
        // A stream that does not ask for usage: the gateway asks for it,
        // the rest as it came.
        let raw = r#" { "model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
        let s = parsed(raw);
        let sent = body(&s, Quirks::OPENAI, true, None).unwrap();
        let asked = raw.replacen('{', r#"{"stream_options":{"include_usage":true},"#, 1);
        assert_eq!(&sent[..], asked.as_bytes());
        // To a provider without `stream_options`, as it came.
        assert_eq!(
            &body(&s, Quirks::new(false, false), true, None).unwrap()[..],
            raw.as_bytes()
        );
        // Options that do not ask for usage: re-encoded with it.
        let n = parsed(
            r#"{"model":"m","stream":true,"stream_options":{"include_usage":false,"x":1},"messages":[{"role":"user","content":"hi"}]}"#,
        );
        let sent: Value =
            serde_json::from_slice(&body(&n, Quirks::OPENAI, true, None).unwrap()).unwrap();
        assert_eq!(
            sent["stream_options"],
            serde_json::json!({"include_usage": true, "x": 1})
        );
        // One that does goes as it came; to a provider without
        // `stream_options`, the options are dropped.
        let raw = r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;
        let u = parsed(raw);
        assert_eq!(
            &body(&u, Quirks::OPENAI, true, None).unwrap()[..],
            raw.as_bytes()
        );
        let sent: Value =
            serde_json::from_slice(&body(&u, Quirks::new(false, false), true, None).unwrap())
                .unwrap();
        assert!(sent.get("stream_options").is_none());
        // Options without a stream are not sent.
        let o = parsed(
            r#"{"model":"m","stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#,
        );
        let sent: Value =
            serde_json::from_slice(&body(&o, Quirks::OPENAI, false, None).unwrap()).unwrap();
        assert!(sent.get("stream_options").is_none());
        // `max_tokens` renamed for a model that refuses it, or for a
        // provider that prefers it.
        let m = parsed(
            r#"{"model":"gpt-5","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}"#,
        );
        let sent: Value =
            serde_json::from_slice(&body(&m, Quirks::OPENAI, false, None).unwrap()).unwrap();
        assert_eq!(
            (
                sent["max_completion_tokens"].as_u64(),
                sent.get("max_tokens")
            ),
            (Some(9), None)
        );
        let c = parsed(
            r#"{"model":"llama","max_completion_tokens":9,"messages":[{"role":"user","content":"hi"}]}"#,
        );
        let sent: Value =
            serde_json::from_slice(&body(&c, Quirks::new(true, true), false, None).unwrap())
                .unwrap();
        assert_eq!(sent["max_tokens"], 9);
    }

    #[test]
    fn streaming_requests_ask_for_usage_and_rename_max_tokens_by_quirk() {
        let r = req(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":5,"stream":true}"#,
        );
        let body: Value =
            serde_json::from_slice(&encode_request(&r, Quirks::OPENAI, true).unwrap()).unwrap();
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["max_completion_tokens"], 5);
        assert!(body.get("max_tokens").is_none());
        let legacy = Quirks::new(true, false);
        let body: Value =
            serde_json::from_slice(&encode_request(&r, legacy, true).unwrap()).unwrap();
        assert_eq!(body["max_tokens"], 5);
        assert!(body.get("max_completion_tokens").is_none());
        assert!(body.get("stream_options").is_none());
        let body: Value =
            serde_json::from_slice(&encode_request(&r, Quirks::OPENAI, false).unwrap()).unwrap();
        assert!(body.get("stream").is_none() && body.get("stream_options").is_none());
    }

    #[test]
    fn models_that_refuse_max_tokens() {
        for m in [
            "o1",
            "o1-mini",
            "o3",
            "o3-pro-2025-06-10",
            "o4-mini",
            "gpt-5",
            "gpt-5-mini",
            "gpt-5.1",
            "gpt-5-chat-latest",
            "gpt-6",
        ] {
            assert!(requires_max_completion_tokens(m), "{m}");
        }
        for m in [
            "",
            "o",
            "omni",
            "o3x",
            "gpt-4o",
            "gpt-4.1",
            "gpt-oss-120b",
            "gpt-5x",
            "openai/o3",
            "openai/gpt-5",
            "llama-3.3-70b-versatile",
            "mistral-large",
        ] {
            assert!(!requires_max_completion_tokens(m), "{m}");
        }
    }

    #[test]
    fn the_clients_stream_options_are_kept_and_usage_is_asked_for() {
        let r = req(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":false,"include_obfuscation":false}}"#,
        );
        let body: Value =
            serde_json::from_slice(&encode_request(&r, Quirks::OPENAI, true).unwrap()).unwrap();
        assert_eq!(
            body["stream_options"],
            serde_json::json!({"include_usage": true, "include_obfuscation": false})
        );
    }
}
