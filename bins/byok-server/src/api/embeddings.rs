//! `POST /api/v1/embeddings`: OpenAI's embeddings API at the client end of
//! the [pipeline](crate::api::pipeline), for providers that speak it
//! (every OpenAI-dialect provider, Azure, OpenAI through the Responses
//! row), and through translation Google (Gemini's `batchEmbedContents`)
//! and Bedrock (`InvokeModel` of Titan Text Embeddings and Cohere Embed,
//! signed). For the others the body goes upstream as sent with only the
//! model's provider prefix removed, and the answer comes back as sent. The
//! reservation's neutral request is one user message of the inputs with no
//! output; the charge is the markup on the input tokens the provider
//! reports (an estimate over the inputs otherwise) at the model's catalog
//! rate.

use actix_web::{HttpRequest, HttpResponse, web};
use byok_billing::estimate_prompt;
use byok_providers::{
    ChatRequest, Embedded, Forward, ForwardBody, ProviderError, ProviderId, TargetKind, Usage,
    WireFormat, decode_bedrock_embeddings, decode_gemini_embeddings, encode_bedrock_embeddings,
    encode_gemini_embeddings, refuse_forbidden_fields,
};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::accounts::User;
use crate::api::pipeline::passthrough::{PassThrough, UsageRead, forward_fallbacks, pass_through};
use crate::api::pipeline::settle::Settlement;
use crate::api::pipeline::{Fallback, keys_for, openai_error, serve, targets};
use crate::api::{Data, parse_json};
use crate::error::{ApiError, internal};

/// The route's path (its metrics label and its ledger entries' endpoint).
pub(crate) const PATH: &str = "/api/v1/embeddings";

/// An embeddings body: the model and inputs read, every other member kept
/// to go upstream as sent.
#[derive(Deserialize)]
struct Body {
    model: String,
    #[serde(default)]
    input: Value,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// `POST /api/v1/embeddings`: [`handle`], timed and counted.
pub(crate) async fn embeddings(
    req: HttpRequest,
    payload: web::Payload,
    state: Data,
) -> HttpResponse {
    serve(req, payload, state, PATH, handle, openai_error).await
}

/// The steps of an embeddings request.
async fn handle(
    req: &HttpRequest,
    user: User,
    body: Bytes,
    state: &Data,
) -> Result<HttpResponse, ApiError> {
    let mut body: Body = parse_json(&body)?;
    check(&body)?;
    let models = body.rest.remove("models");
    let targets = targets(req, state, &user, &mut body.model, models).await?;
    let provider = targets.provider;
    match provider.info().format {
        WireFormat::Gemini => return google(state, &user, provider, body).await,
        WireFormat::BedrockConverse => return bedrock(state, &user, provider, body).await,
        _ => {}
    }
    if !offers_embeddings(provider) {
        return Err(ApiError::bad_request(format!(
            "{provider} has no embeddings API through this gateway; use a provider that speaks OpenAI's (openai, azure, together, fireworks, deepinfra, mistral, ...), google or aws"
        ))
        .param("model"));
    }
    let neutral = neutral_request(&body.model, &input_text(&body.input))?;
    let fallbacks = forward_fallbacks(&neutral, targets.rest, offers_embeddings, |model| {
        upstream_body(Body {
            model: model.to_owned(),
            input: body.input.clone(),
            rest: body.rest.clone(),
        })
    })?;
    let upstream = upstream_body(body)?;
    let call = Upstream {
        provider,
        neutral: &neutral,
        fallbacks: &fallbacks,
        op: "embeddings",
        body: upstream.into(),
    };
    forward(state, &user, call, Reader(Vec::new())).await
}

/// Google: the request translated to Gemini's `batchEmbedContents` and the
/// answer back to OpenAI's shape (`encode_gemini_embeddings`); Gemini
/// reports no tokens, so the charge is an estimate over the inputs.
async fn google(
    state: &Data,
    user: &User,
    provider: ProviderId,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let base64 = base64_wanted(&body.rest)?;
    let request = encode_gemini_embeddings(&body.model, &body.input, body.rest.get("dimensions"))?;
    let neutral = neutral_request(&body.model, &input_text(&body.input))?;
    let reader = Gemini {
        provider,
        model: body.model,
        base64,
    };
    let call = Upstream {
        provider,
        neutral: &neutral,
        fallbacks: &[],
        op: &request.op,
        body: request.body.into(),
    };
    forward(state, user, call, reader).await
}

/// Bedrock: the request translated to `InvokeModel` bodies of the model's
/// family (`encode_bedrock_embeddings`: Titan one call per input, Cohere
/// 96 inputs a call; several calls go as one signed batch) and the answer
/// back to OpenAI's shape. Titan reports its input tokens (summed over the
/// calls); Cohere does not, so its charge, and the answer's `usage`, is
/// the gateway's estimate over the inputs.
async fn bedrock(
    state: &Data,
    user: &User,
    provider: ProviderId,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let base64 = base64_wanted(&body.rest)?;
    let request = encode_bedrock_embeddings(&body.model, &body.input, &body.rest)?;
    let text = input_text(&body.input);
    let neutral = neutral_request(&body.model, &text)?;
    let reader = Bedrock {
        provider,
        model: body.model,
        base64,
        text,
        answer: Vec::new(),
        decoded: None,
    };
    let call = Upstream {
        provider,
        neutral: &neutral,
        fallbacks: &[],
        op: &request.op,
        body: request.body,
    };
    forward(state, user, call, reader).await
}

/// An embeddings call as it goes upstream: `op` with `body` to `provider`
/// (then to `fallbacks`: OpenAI-shaped bodies only; a translated request,
/// Google's or Bedrock's, has none, as the protocols differ), reserved for
/// `neutral`.
struct Upstream<'a> {
    provider: ProviderId,
    neutral: &'a ChatRequest,
    fallbacks: &'a [Fallback],
    op: &'a str,
    body: ForwardBody,
}

/// `call` to each of the user's keys in turn, reserved and settled like
/// every request, `reader` reading the usage (and, translated, writing the
/// answer in OpenAI's shape).
async fn forward<R: UsageRead>(
    state: &Data,
    user: &User,
    call: Upstream<'_>,
    reader: R,
) -> Result<HttpResponse, ApiError> {
    let keys = keys_for(state, user, call.provider).await?;
    let settlement = Settlement::reserve(
        state,
        user,
        call.provider,
        call.neutral,
        call.fallbacks,
        PATH,
    )
    .await?;
    let forward = Forward {
        op: call.op,
        body: call.body,
        headers: &[],
        stream: false,
    };
    let call = PassThrough {
        state,
        user,
        provider: call.provider,
        keys,
        forward,
        fallbacks: call.fallbacks,
        settlement,
    };
    pass_through(call, reader, |_| Vec::new()).await
}

/// Whether the client asked for OpenAI's base64 vectors: `encoding_format`
/// `float` (the default) or `base64`, for the translated providers (the
/// gateway writes the vectors there).
fn base64_wanted(rest: &Map<String, Value>) -> Result<bool, ApiError> {
    match rest.get("encoding_format") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::String(s)) if s == "float" => Ok(false),
        Some(Value::String(s)) if s == "base64" => Ok(true),
        Some(_) => Err(
            ApiError::bad_request("`encoding_format` must be \"float\" or \"base64\"")
                .param("encoding_format"),
        ),
    }
}

/// A Gemini embeddings answer: no usage to read (the gateway estimates),
/// rewritten into OpenAI's shape.
struct Gemini {
    provider: ProviderId,
    model: String,
    base64: bool,
}

impl UsageRead for Gemini {
    fn push(&mut self, _: &[u8]) {}

    fn finish(&mut self) -> (Option<Usage>, Option<String>) {
        (None, Some(self.model.clone()))
    }

    fn rewrite(&mut self, body: Bytes) -> Result<Bytes, ProviderError> {
        decode_gemini_embeddings(self.provider, &self.model, &body, self.base64).map(Bytes::from)
    }
}

/// A Bedrock embeddings answer (one call's, or a batch's array): decoded
/// once at the end for Titan's token counts, rewritten into OpenAI's shape
/// with `usage` the counts or, when Bedrock gives none (Cohere), the same
/// estimate over the inputs the settlement makes.
struct Bedrock {
    provider: ProviderId,
    model: String,
    base64: bool,
    /// The inputs as the reservation's neutral request holds them.
    text: String,
    answer: Vec<u8>,
    decoded: Option<Result<Embedded, ProviderError>>,
}

impl UsageRead for Bedrock {
    fn push(&mut self, bytes: &[u8]) {
        self.answer.extend_from_slice(bytes);
    }

    fn finish(&mut self) -> (Option<Usage>, Option<String>) {
        let answer = std::mem::take(&mut self.answer);
        self.whole(&answer)
    }

    fn whole(&mut self, body: &[u8]) -> (Option<Usage>, Option<String>) {
        let decoded = decode_bedrock_embeddings(self.provider, body);
        let usage = decoded
            .as_ref()
            .ok()
            .and_then(|e| e.prompt_tokens)
            .map(|n| Usage {
                prompt_tokens: n,
                total_tokens: n,
                ..Usage::default()
            });
        self.decoded = Some(decoded);
        (usage, Some(self.model.clone()))
    }

    fn rewrite(&mut self, body: Bytes) -> Result<Bytes, ProviderError> {
        let embedded = match self.decoded.take() {
            Some(decoded) => decoded?,
            None => decode_bedrock_embeddings(self.provider, &body)?,
        };
        // The settlement estimates with the same function over the same
        // text and model: the answer says what the ledger records.
        let tokens = embedded
            .prompt_tokens
            .unwrap_or_else(|| estimate_prompt(&self.model, [self.text.as_str()]));
        embedded
            .openai_answer(self.provider, &self.model, self.base64, Some(tokens))
            .map(Bytes::from)
    }
}

/// A model and at least one input; nothing that picks the upstream.
fn check(body: &Body) -> Result<(), ApiError> {
    if body.model.trim().is_empty() {
        return Err(ApiError::bad_request("`model` must not be empty").param("model"));
    }
    let empty = match &body.input {
        Value::String(_) => false,
        Value::Array(items) => items.is_empty(),
        _ => true,
    };
    if empty {
        return Err(ApiError::bad_request(
            "`input` must be a string, or a non-empty array of strings or token arrays",
        )
        .param("input"));
    }
    Ok(refuse_forbidden_fields(
        body.rest.keys().map(String::as_str),
    )?)
}

/// Whether `provider` answers OpenAI's `embeddings` operation (Google is
/// translated apart: [`google`]).
fn offers_embeddings(provider: ProviderId) -> bool {
    let info = provider.info();
    match info.format {
        WireFormat::OpenAiChat(_) => true,
        WireFormat::Responses => matches!(
            info.target,
            TargetKind::BaseUrl | TargetKind::AzureResponses
        ),
        _ => false,
    }
}

/// The inputs as one text (a token array as its numbers: at least one
/// byte per token, so a bound over the text holds).
fn input_text(input: &Value) -> String {
    let mut text = String::new();
    push_input(input, &mut text);
    text
}

/// The neutral request the reservation and an estimate are made from:
/// the inputs' [text](input_text) as one user message, no output.
fn neutral_request(model: &str, text: &str) -> Result<ChatRequest, ApiError> {
    serde_json::from_value(serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "max_completion_tokens": 0,
    }))
    .map_err(|e| internal("embeddings request", &e))
}

fn push_input(input: &Value, out: &mut String) {
    match input {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(items) => items.iter().for_each(|i| push_input(i, out)),
        other => {
            out.push_str(&other.to_string());
            out.push(' ');
        }
    }
}

/// The body to send: the client's, with the model to send upstream.
fn upstream_body(body: Body) -> Result<Bytes, ApiError> {
    let mut map = body.rest;
    map.insert("model".into(), Value::String(body.model));
    map.insert("input".into(), body.input);
    serde_json::to_vec(&map)
        .map(Bytes::from)
        .map_err(|e| internal("encode", &e))
}

/// An embeddings answer (one JSON body), read for its usage at the end.
struct Reader(Vec<u8>);

impl UsageRead for Reader {
    fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn finish(&mut self) -> (Option<Usage>, Option<String>) {
        let answer = std::mem::take(&mut self.0);
        self.whole(&answer)
    }

    fn whole(&mut self, body: &[u8]) -> (Option<Usage>, Option<String>) {
        let (usage, model) = reported_usage(body);
        (usage, Some(model))
    }
}

/// The usage and model an embeddings answer reports (OpenAI's
/// `usage.prompt_tokens`); none when it reports none.
fn reported_usage(answer: &[u8]) -> (Option<Usage>, String) {
    #[derive(Deserialize)]
    struct Reported {
        #[serde(default)]
        model: String,
        usage: Option<Counts>,
    }
    #[derive(Deserialize)]
    struct Counts {
        prompt_tokens: u64,
    }
    match serde_json::from_slice::<Reported>(answer) {
        Ok(r) => (
            r.usage.map(|u| Usage {
                prompt_tokens: u.prompt_tokens,
                total_tokens: u.prompt_tokens,
                ..Usage::default()
            }),
            r.model,
        ),
        Err(_) => (None, String::new()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn body(v: Value) -> Body {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn inputs_bound_the_reservation_and_nothing_is_lost_upstream() {
        let b = body(
            serde_json::json!({"model": "openai/text-embedding-3-small", "input": ["a b", [1, 2, 3]], "dimensions": 256}),
        );
        let n = neutral_request(&b.model, &input_text(&b.input)).unwrap();
        assert_eq!(n.max_completion_tokens, Some(0));
        let sent = serde_json::to_value(&n.messages).unwrap();
        assert_eq!(sent[0]["content"], "a b\n1 2 3 ");
        let mut b = b;
        b.model = "text-embedding-3-small".into();
        let sent: Value = serde_json::from_slice(&upstream_body(b).unwrap()).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"model": "text-embedding-3-small", "input": ["a b", [1, 2, 3]], "dimensions": 256})
        );
    }

    #[test]
    fn bad_bodies_are_refused() {
        for v in [
            serde_json::json!({"model": "", "input": "x"}),
            serde_json::json!({"model": "m", "input": []}),
            serde_json::json!({"model": "m", "input": 3}),
            serde_json::json!({"model": "m", "input": "x", "api_base": "http://169.254.169.254"}),
        ] {
            assert_eq!(check(&body(v)).unwrap_err().status, 400);
        }
    }

    #[test]
    fn usage_is_read_when_reported() {
        let (u, model) = reported_usage(
            br#"{"object":"list","data":[],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#,
        );
        assert_eq!(u.unwrap().prompt_tokens, 8);
        assert_eq!(model, "text-embedding-3-small");
        assert!(reported_usage(b"not json").0.is_none());
    }

    #[test]
    fn encoding_formats() {
        let rest = |v: Value| {
            body(serde_json::json!({"model": "m", "input": "x", "encoding_format": v})).rest
        };
        assert!(!base64_wanted(&Map::new()).unwrap());
        assert!(!base64_wanted(&rest(Value::Null)).unwrap());
        assert!(!base64_wanted(&rest("float".into())).unwrap());
        assert!(base64_wanted(&rest("base64".into())).unwrap());
        for bad in [Value::from("binary"), Value::from(1)] {
            assert_eq!(base64_wanted(&rest(bad)).unwrap_err().status, 400);
        }
    }

    #[test]
    fn bedrock_answers_say_the_tokens_the_ledger_records() {
        let reader = |text: &str| Bedrock {
            provider: ProviderId::Aws,
            model: "cohere.embed-english-v3".into(),
            base64: false,
            text: text.into(),
            answer: Vec::new(),
            decoded: None,
        };
        // Titan: the reported counts, summed.
        let mut titan = reader("a\nb\n");
        let body = Bytes::from_static(
            br#"[{"embedding": [1.0], "inputTextTokenCount": 2}, {"embedding": [2.0], "inputTextTokenCount": 3}]"#,
        );
        titan.push(&body);
        let (usage, model) = titan.finish();
        assert_eq!(usage.unwrap().prompt_tokens, 5);
        assert_eq!(model.as_deref(), Some("cohere.embed-english-v3"));
        let answer: Value = serde_json::from_slice(&titan.rewrite(body).unwrap()).unwrap();
        assert_eq!(
            answer["usage"],
            serde_json::json!({"prompt_tokens": 5, "total_tokens": 5})
        );
        assert_eq!(answer["data"][1]["embedding"], serde_json::json!([2.0]));
        // Cohere: none reported; the settlement's estimate.
        let mut cohere = reader("hello world\n");
        let body =
            Bytes::from_static(br#"{"embeddings": [[0.5]], "response_type": "embeddings_floats"}"#);
        cohere.push(&body);
        assert!(cohere.finish().0.is_none());
        let answer: Value = serde_json::from_slice(&cohere.rewrite(body).unwrap()).unwrap();
        let (estimate, _) =
            byok_billing::usage_or_estimate(None, "cohere.embed-english-v3", ["hello world\n"], "");
        assert_eq!(answer["usage"]["prompt_tokens"], estimate.prompt);
        // Not Bedrock's shape: an error, nothing charged.
        let mut bad = reader("x");
        bad.push(b"{}");
        assert!(bad.finish().0.is_none());
        assert!(bad.rewrite(Bytes::from_static(b"{}")).is_err());
    }

    #[test]
    fn which_providers_embed() {
        assert!(offers_embeddings(ProviderId::OpenAi));
        assert!(!offers_embeddings(ProviderId::Anthropic));
        assert!(!offers_embeddings(ProviderId::Aws));
    }
}
