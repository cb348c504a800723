//! `POST /api/v1/responses`: OpenAI's Responses API (Codex, the OpenAI
//! SDKs' `responses.create` / `responses.stream`) at the client end of the
//! [pipeline](crate::api::pipeline).
//!
//! - To `openai-responses` and `azure-responses` the body goes upstream as
//!   sent (only a `<provider>/` model prefix removed) and the answer comes
//!   back as sent, streamed as it arrives; its usage is read on the way
//!   (`byok_providers::inbound::responses::UsageReader`).
//! - To every other provider the body becomes the neutral request
//!   (`inbound::responses::parse_request`: stateless there, so
//!   `previous_response_id` is a 400 and `store` is false), goes through
//!   that provider's translator, and the answer (or its event stream,
//!   through [`Codec`] over the codec's `StreamEncoder`) is written back as a Responses object.
//! - Errors are OpenAI's, as on chat completions.

use actix_web::{HttpRequest, HttpResponse, web};
use byok_providers::inbound::responses::{
    Peek, StreamEncoder, UsageReader, encode_response, parse_request, peek,
};
use byok_providers::{ChatChunk, ChatRequest, Forward, Usage, WireFormat};
use bytes::Bytes;

use crate::accounts::User;
use crate::api::Data;
use crate::api::pipeline::events::{Codec, CodecStream};
use crate::api::pipeline::passthrough::{
    PassThrough, UsageRead, forward_fallbacks, pass_through, take_models, with_model,
};
use crate::api::pipeline::settle::Settlement;
use crate::api::pipeline::{
    Call, default_output_limit, fallback_requests, keys_for, openai_error, serve, targets,
};
use crate::error::{ApiError, internal};

/// The route's path (its metrics label and its ledger entries' endpoint).
pub(crate) const PATH: &str = "/api/v1/responses";

/// `POST /api/v1/responses`: [`handle`], timed and counted.
pub(crate) async fn responses(
    req: HttpRequest,
    payload: web::Payload,
    state: Data,
) -> HttpResponse {
    serve(req, payload, state, PATH, handle, openai_error).await
}

/// The steps of a Responses request.
async fn handle(
    req: &HttpRequest,
    user: User,
    body: Bytes,
    state: &Data,
) -> Result<HttpResponse, ApiError> {
    let (body, models) = take_models(body)?;
    // One parse: the codec's; only a body it refuses (input stored
    // upstream, hosted tools) is peeked at for its model and stream.
    let parsed = parse_request(&body);
    let head = match &parsed {
        Ok(p) => Peek {
            model: p.model.clone(),
            stream: p.stream,
        },
        Err(_) => peek(&body)?,
    };
    let mut model = head.model.clone();
    let targets = targets(req, state, &user, &mut model, models).await?;
    let provider = targets.provider;
    let keys = keys_for(state, &user, provider).await?;
    if provider.info().format == WireFormat::Responses {
        // The reservation's neutral request: the parsed one when the
        // codec reads the body, else the whole body as the prompt for
        // what only Responses providers do (`body_as_prompt`).
        let mut neutral = match parsed {
            Ok(parsed) => parsed.request,
            Err(_) => body_as_prompt(&body)?,
        };
        neutral.model.clone_from(&model);
        let fallbacks = forward_fallbacks(
            &neutral,
            targets.rest,
            |p| p.info().format == WireFormat::Responses,
            |m| with_model(body.clone(), &head.model, m),
        )?;
        let settlement =
            Settlement::reserve(state, &user, provider, &neutral, &fallbacks, PATH).await?;
        let body = with_model(body, &head.model, &model)?;
        let forward = Forward {
            op: "responses",
            body: body.into(),
            headers: &[],
            stream: head.stream,
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
    let mut parsed = parsed?;
    parsed.request.model = model;
    let fallbacks = fallback_requests(state, &parsed.request, targets.rest);
    default_output_limit(state, provider, &mut parsed.request);
    let settlement =
        Settlement::reserve(state, &user, provider, &parsed.request, &fallbacks, PATH).await?;
    tracing::info!(request_id = %settlement.request_id, provider = %provider, stream = parsed.stream, "responses request");
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

/// The neutral request of a body the codec does not read: its whole text
/// as one user message and its `max_output_tokens` as the output limit.
/// The codec refuses exactly what brings input the body does not hold
/// (`previous_response_id`, `conversation`, `prompt`, `file_id`, hosted
/// tools), so the body's bytes do not bound the prompt: a part marked as
/// content stored upstream makes the reservation bound it by the model's
/// context, as for media whose tokens bytes do not bound.
fn body_as_prompt(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::invalid_json(&e))?;
    let text = String::from_utf8_lossy(body);
    serde_json::from_value(serde_json::json!({
        "model": "",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": text},
            {"type": "stored_upstream"},
        ]}],
        "max_completion_tokens": v.get("max_output_tokens"),
    }))
    .map_err(|e| internal("responses bound", &e))
}

/// An `error` event, for a pass-through stream that fails (the Responses
/// stream's own error event).
fn error_event(e: &ApiError) -> Vec<u8> {
    let event = serde_json::json!({
        "type": "error",
        "code": e.code.as_deref().unwrap_or(e.kind),
        "message": e.message,
        "param": e.param,
    });
    format!("event: error\ndata: {event}\n\n").into_bytes()
}

/// The Responses usage reader behind the pipeline's [`UsageRead`].
struct Reader(UsageReader);

impl UsageRead for Reader {
    fn push(&mut self, bytes: &[u8]) {
        self.0.push(bytes);
    }

    fn finish(&mut self) -> (Option<Usage>, Option<String>) {
        match self.0.finish() {
            Some(found) => (Some(found.usage), found.model),
            None => (None, None),
        }
    }
    fn whole(&mut self, body: &[u8]) -> (Option<Usage>, Option<String>) {
        UsageReader::read_body(body).map_or((None, None), |r| (Some(r.usage), r.model))
    }
}

/// The Responses stream encoder behind the pipeline's [`CodecStream`].
impl CodecStream for StreamEncoder {
    fn push(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>) {
        StreamEncoder::push(self, chunk, out);
    }

    fn fail(&mut self, error: &ApiError, out: &mut Vec<u8>) {
        self.error(error.status.as_u16(), &error.message, out);
    }

    fn close(&mut self, usage: Option<&Usage>, out: &mut Vec<u8>) {
        if let Some(u) = usage {
            self.usage(u);
        }
        self.finish(out);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_body_the_codec_does_not_read_is_its_text_and_input_stored_upstream() {
        let body = br#"{"model":"gpt-5","input":"hi","tools":[{"type":"web_search"}],"max_output_tokens":64}"#;
        let r = body_as_prompt(body).unwrap();
        assert_eq!(r.max_completion_tokens, Some(64));
        let sent = serde_json::to_value(&r.messages).unwrap();
        assert_eq!(
            sent[0]["content"][0]["text"].as_str().unwrap().len(),
            body.len()
        );
        // Marked as input the bytes do not bound: reserved at the context.
        assert_eq!(sent[0]["content"][1]["type"], "stored_upstream");
        assert!(crate::api::pipeline::text::has_media_beyond_bytes(&r));
        assert_eq!(body_as_prompt(b"not json").unwrap_err().status, 400);
    }
}
