//! `POST /api/v1/chat/completions`: the chat completions protocol at the
//! client end of the [pipeline](crate::api::pipeline): the body is
//! already the neutral request; web search (`byok_web_search`) is this
//! protocol's own step; answers go back verbatim when the upstream's are
//! in OpenAI's exact shape.
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | the handler and its steps |
//! | `sse.rs` | the stream encoding (verbatim chunks, citations, `[DONE]`) |
//! | `web_search.rs` | the `byok_web_search` option: search, then answer with the results |

mod sse;
mod web_search;

use actix_web::{HttpRequest, HttpResponse, web};
use byok_providers::{ChatOutcome, ChatRequest};
use byok_search::Citation;
use bytes::Bytes;

use self::sse::ChatEvents;
use self::web_search::{augment_with_search, take_web_search};
use crate::accounts::User;
use crate::api::Data;
use crate::api::pipeline::settle::Settlement;
use crate::api::pipeline::{
    Call, default_output_limit, fallback_requests, keys_for, openai_error, serve, targets,
};
use crate::error::{ApiError, internal};

/// The route's path (its metrics label and its ledger entries' endpoint).
pub(crate) const PATH: &str = "/api/v1/chat/completions";

/// `POST /api/v1/chat/completions`: [`handle`], timed and counted.
pub(crate) async fn chat(req: HttpRequest, payload: web::Payload, state: Data) -> HttpResponse {
    serve(req, payload, state, PATH, handle, openai_error).await
}

/// The steps of a chat request.
async fn handle(
    req: &HttpRequest,
    user: User,
    body: Bytes,
    state: &Data,
) -> Result<HttpResponse, ApiError> {
    let mut request = ChatRequest::parse(&body).map_err(|e| ApiError::invalid_json(&e))?;
    request.validate()?;
    let models = request.extra.remove("models");
    let web = take_web_search(&mut request)?;
    let targets = targets(req, state, &user, &mut request.model, models).await?;
    let provider = targets.provider;
    let keys = keys_for(state, &user, provider).await?;
    let citations = match web {
        Some(options) => Some(augment_with_search(state, &user, &mut request, options).await?),
        None => None,
    };
    let fallbacks = fallback_requests(state, &request, targets.rest);
    default_output_limit(state, provider, &mut request);
    let settlement =
        Settlement::reserve(state, &user, provider, &request, &fallbacks, PATH).await?;
    tracing::info!(request_id = %settlement.request_id, provider = %provider, stream = request.is_stream(), "chat request");
    let call = Call {
        state,
        user: &user,
        provider,
        request: &request,
        keys,
        fallbacks: &fallbacks,
        settlement,
    };
    if request.is_stream() {
        call.stream(ChatEvents::new(citations.as_deref())?).await
    } else {
        call.complete(|outcome| answer_body(outcome, citations))
            .await
    }
}

/// The answer's bytes: the upstream's own when they are in OpenAI's exact
/// shape; otherwise straight to bytes, through a `Value` only to add
/// citations.
fn answer_body(outcome: ChatOutcome, citations: Option<Vec<Citation>>) -> Result<Bytes, ApiError> {
    let encoded = match (citations, outcome.verbatim) {
        (None, Some(raw)) => return Ok(raw),
        (None, None) => serde_json::to_vec(&outcome.response),
        (Some(c), _) => serde_json::to_value(&outcome.response).and_then(|mut body| {
            body["citations"] = serde_json::json!(c);
            serde_json::to_vec(&body)
        }),
    };
    encoded.map(Bytes::from).map_err(|e| internal("encode", &e))
}
