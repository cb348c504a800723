//! `POST /api/v1/messages` and `POST /api/v1/messages/count_tokens`:
//! Anthropic's Messages API (Claude Code, the Anthropic SDKs) at the client
//! end of the [pipeline](crate::api::pipeline).
//!
//! - To `anthropic` and `azure-anthropic-foundry` the body goes upstream as
//!   sent (only a `<provider>/` model prefix removed), with the client's
//!   `anthropic-version` (default `2023-06-01`) and `anthropic-beta`, and
//!   the answer comes back as sent, streamed as it arrives; its usage is
//!   read on the way (`byok_providers::inbound::messages::UsageReader`).
//! - To every other provider the body becomes the neutral request
//!   (`inbound::messages::parse_request`), goes through that provider's
//!   translator, and the answer (or its stream, through
//!   [`Codec`] over the codec's `StreamEncoder`) is written back in Anthropic's shape.
//! - Every error, the gateway's own included, is Anthropic's
//!   `{"type": "error", "error": {"type", "message"}}` with Anthropic's
//!   status codes (an upstream 529 stays a 529 `overloaded_error`).

use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, web};
use byok_providers::inbound::messages::{
    Parsed, StreamEncoder, UsageReader, encode_response, error_body, parse_count_tokens,
    parse_request,
};
use byok_providers::{ChatChunk, Forward, Usage, WireFormat};
use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue};

use crate::accounts::User;
use crate::api::Data;
use crate::api::pipeline::events::{Codec, CodecStream};
use crate::api::pipeline::fallback::Target;
use crate::api::pipeline::fallback::first_usable;
use crate::api::pipeline::passthrough::{
    PassThrough, UsageRead, forward_fallbacks, pass_through, take_models, whole, with_model,
};
use crate::api::pipeline::settle::Settlement;
use crate::api::pipeline::text::{prompt_texts, prompt_upper_bound};
use crate::api::pipeline::{Call, Fallback, headers, keys_for, route, serve, targets};
use crate::error::ApiError;

/// The route's path (its metrics label and its ledger entries' endpoint).
pub(crate) const PATH: &str = "/api/v1/messages";
/// The token-counting route.
pub(crate) const COUNT_PATH: &str = "/api/v1/messages/count_tokens";

/// The `anthropic-version` sent when the client sends none.
const DEFAULT_VERSION: &str = "2023-06-01";

/// `POST /api/v1/messages`: [`handle`], timed and counted, every error in
/// Anthropic's shape.
pub(crate) async fn messages(req: HttpRequest, payload: web::Payload, state: Data) -> HttpResponse {
    serve(req, payload, state, PATH, handle, error_response).await
}

/// The steps of a Messages request.
async fn handle(
    req: &HttpRequest,
    user: User,
    body: Bytes,
    state: &Data,
) -> Result<HttpResponse, ApiError> {
    let mut parsed = parse_request(&body)?;
    // The fallback list is read with the rest of the body; a body that
    // names one goes upstream without it.
    let models = parsed.request.extra.remove("models");
    let body = match models {
        Some(_) => take_models(body)?.0,
        None => body,
    };
    let client_model = parsed.request.model.clone();
    let targets = targets(req, state, &user, &mut parsed.request.model, models).await?;
    let provider = targets.provider;
    let keys = keys_for(state, &user, provider).await?;
    let format = provider.info().format;
    if format == WireFormat::AnthropicMessages {
        let fallbacks = forward_fallbacks(
            &parsed.request,
            targets.rest,
            |p| p.info().format == WireFormat::AnthropicMessages,
            |model| with_model(body.clone(), &client_model, model),
        )?;
        let settlement =
            Settlement::reserve(state, &user, provider, &parsed.request, &fallbacks, PATH).await?;
        let body = with_model(body, &client_model, &parsed.request.model)?;
        let headers = protocol_headers(req);
        let forward = Forward {
            op: "messages",
            body: body.into(),
            headers: &headers,
            stream: parsed.stream,
        };
        let call = PassThrough {
            state,
            user: &user,
            provider,
            keys,
            forward,
            fallbacks: &fallbacks,
            settlement,
        };
        return pass_through(call, Reader(UsageReader::new()), error_event).await;
    }
    parsed.check_translatable()?;
    let fallbacks = translated_fallbacks(&parsed, targets.rest);
    parsed.adapt_to(format);
    let settlement =
        Settlement::reserve(state, &user, provider, &parsed.request, &fallbacks, PATH).await?;
    tracing::info!(request_id = %settlement.request_id, provider = %provider, stream = parsed.stream, "messages request");
    let call = Call {
        state,
        user: &user,
        provider,
        request: &parsed.request,
        keys,
        fallbacks: &fallbacks,
        settlement,
    };
    if parsed.stream {
        call.stream(Codec::new(StreamEncoder::new(&parsed))).await
    } else {
        call.complete(|outcome| Ok(Bytes::from(encode_response(&outcome.response, &parsed))))
            .await
    }
}

/// Each fallback target's request, adapted to its format from the request
/// as parsed (nothing is cloned without fallback targets).
fn translated_fallbacks(parsed: &Parsed, rest: Vec<Target>) -> Vec<Fallback> {
    rest.into_iter()
        .map(|t| {
            let mut p = parsed.clone();
            p.request.model = t.model;
            p.adapt_to(t.provider.info().format);
            Fallback {
                provider: t.provider,
                request: p.request,
                body: None,
            }
        })
        .collect()
}

/// `POST /api/v1/messages/count_tokens`: the provider's own count for
/// Anthropic models (forwarded, not charged), else the conservative
/// estimate the reservation uses.
pub(crate) async fn count_tokens(
    req: HttpRequest,
    payload: web::Payload,
    state: Data,
) -> HttpResponse {
    serve(req, payload, state, COUNT_PATH, count, error_response).await
}

async fn count(
    req: &HttpRequest,
    user: User,
    body: Bytes,
    state: &Data,
) -> Result<HttpResponse, ApiError> {
    let mut parsed: Parsed = parse_count_tokens(&body)?;
    let client_model = parsed.request.model.clone();
    let provider = route(req, state, &user, &mut parsed.request.model).await?;
    if provider.info().format == WireFormat::AnthropicMessages {
        // The first usable key, as a request would use (labels, priority,
        // health); a count is free, so not retried.
        let key = first_usable(provider, keys_for(state, &user, provider).await?)?;
        let body = with_model(body, &client_model, &parsed.request.model)?;
        let headers = protocol_headers(req);
        let forward = Forward {
            op: "messages/count_tokens",
            body: body.into(),
            headers: &headers,
            stream: false,
        };
        let forwarded = state
            .chat_adapter(provider)
            .forward(forward, &key.credential)
            .await?;
        return Ok(HttpResponse::Ok()
            .content_type("application/json")
            .insert_header((headers::PROVIDER, provider.as_str()))
            .insert_header((headers::KEY_LABEL, key.label))
            .body(whole(forwarded.body).await?));
    }
    let texts = prompt_texts(&parsed.request);
    let tokens = prompt_upper_bound(&parsed.request, &texts);
    Ok(HttpResponse::Ok()
        .insert_header((headers::PROVIDER, provider.as_str()))
        .json(serde_json::json!({"input_tokens": tokens})))
}

/// `anthropic-version` (the client's, else [`DEFAULT_VERSION`]) and
/// `anthropic-beta`, to pass on.
fn protocol_headers(req: &HttpRequest) -> Vec<(HeaderName, HeaderValue)> {
    // The client's values, as the upstream client's header type (a value
    // that is not a valid header is left out).
    let value =
        |v: &actix_web::http::header::HeaderValue| HeaderValue::from_bytes(v.as_bytes()).ok();
    let version = req
        .headers()
        .get("anthropic-version")
        .and_then(value)
        .unwrap_or(HeaderValue::from_static(DEFAULT_VERSION));
    let mut headers = vec![(HeaderName::from_static("anthropic-version"), version)];
    for beta in req.headers().get_all("anthropic-beta").filter_map(value) {
        headers.push((HeaderName::from_static("anthropic-beta"), beta));
    }
    headers
}

/// The status Anthropic would answer: an upstream's 529 stays a 529 (the
/// SDKs and Claude Code back off on it).
fn status_of(e: &ApiError) -> u16 {
    if e.code.as_deref() == Some("upstream_529") {
        529
    } else {
        e.status.as_u16()
    }
}

/// `e` as Anthropic's error response (`retry-after` kept).
fn error_response(e: &ApiError) -> HttpResponse {
    let status = status_of(e);
    let mut r = HttpResponse::build(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    if let Some(s) = e.retry_after {
        r.insert_header((RETRY_AFTER, s.to_string()));
    }
    r.content_type("application/json")
        .body(error_body(status, &e.message))
}

/// Anthropic's `error` event, for a pass-through stream that fails.
fn error_event(e: &ApiError) -> Vec<u8> {
    let mut out = b"event: error\ndata: ".to_vec();
    out.extend_from_slice(&error_body(status_of(e), &e.message));
    out.extend_from_slice(b"\n\n");
    out
}

/// The Messages usage reader behind the pipeline's [`UsageRead`].
struct Reader(UsageReader);

impl UsageRead for Reader {
    fn push(&mut self, bytes: &[u8]) {
        self.0.push(bytes);
    }

    fn finish(&mut self) -> (Option<Usage>, Option<String>) {
        let usage = self.0.finish();
        (usage, self.0.model().map(str::to_owned))
    }
    fn whole(&mut self, body: &[u8]) -> (Option<Usage>, Option<String>) {
        UsageReader::read_body(body).map_or((None, None), |r| (Some(r.usage), r.model))
    }
}

/// The Messages stream encoder behind the pipeline's [`CodecStream`].
impl CodecStream for StreamEncoder {
    fn push(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>) {
        StreamEncoder::push(self, chunk, out);
    }

    fn fail(&mut self, error: &ApiError, out: &mut Vec<u8>) {
        self.error(status_of(error), &error.message, out);
    }

    fn close(&mut self, usage: Option<&Usage>, out: &mut Vec<u8>) {
        if let Some(u) = usage {
            self.set_usage(u);
        }
        self.finish(out);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_body_goes_unchanged_unless_the_model_changed() {
        let body = Bytes::from_static(br#"{"model":"claude-x","max_tokens":5,"messages":[]}"#);
        let same = with_model(body.clone(), "claude-x", "claude-x").unwrap();
        assert_eq!(same, body);
        let changed: serde_json::Value = serde_json::from_slice(
            &with_model(
                Bytes::from_static(br#"{"model":"anthropic/claude-x","max_tokens":5}"#),
                "anthropic/claude-x",
                "claude-x",
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            changed,
            serde_json::json!({"model": "claude-x", "max_tokens": 5})
        );
    }

    #[test]
    fn errors_are_anthropic_shaped_and_529_stays_529() {
        let e = ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", "overloaded")
            .code("upstream_529");
        let r = error_response(&e);
        assert_eq!(r.status().as_u16(), 529);
        let event = String::from_utf8(error_event(&e)).unwrap();
        assert!(
            event.starts_with("event: error\ndata: {\"type\":\"error\""),
            "{event}"
        );
        assert!(event.contains("overloaded_error"), "{event}");
        let r = error_response(&ApiError::bad_request("max_tokens: Field required"));
        assert_eq!(r.status().as_u16(), 400);
    }

    #[test]
    fn headers_pass_with_a_default_version() {
        let req = actix_web::test::TestRequest::default()
            .insert_header(("anthropic-beta", "prompt-caching-2024-07-31"))
            .to_http_request();
        let h = protocol_headers(&req);
        assert_eq!(h[0].1, DEFAULT_VERSION);
        assert_eq!(h[1].1, "prompt-caching-2024-07-31");
    }
}
