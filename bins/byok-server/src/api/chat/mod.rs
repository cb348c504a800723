//! `POST /api/v1/chat/completions`: OpenAI's chat API, streamed or not, at
//! the user's provider with the user's key. [`handle`] reads as the steps
//! of a request; settlement, the SSE body and web-search augmentation are
//! the submodules.

mod settle;
mod sse;
mod text;
mod web_search;

use std::sync::Arc;
use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use byok_providers::{
    ChatOutcome, ChatProvider, ChatRequest, Credential, ProviderId, WireFormat, resolve,
};
use byok_search::Citation;
use bytes::Bytes;

use self::settle::Settlement;
use self::sse::SseBody;
use self::text::delivered_by_answer;
use self::web_search::{augment_with_search, take_web_search};
use crate::accounts::User;
use crate::api::credentials::{held, stored_secret};
use crate::api::{Data, parse_json, read_body};
use crate::app::request_id;
use crate::auth::{authenticate, rate_limit};
use crate::error::{ApiError, internal};

/// The route's path (its metrics label and its ledger entries' endpoint).
pub(crate) const PATH: &str = "/api/v1/chat/completions";

/// `POST /api/v1/chat/completions`: [`handle`], timed and counted.
pub(crate) async fn chat(
    req: HttpRequest,
    payload: web::Payload,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let result = async {
        // The key first: a body is read only for a known user.
        let user = authenticate(&req, &state).await?;
        let body = read_body(&state, payload, state.settings.max_body_bytes).await?;
        handle(&req, user, &body, &state).await
    }
    .await;
    let status = result
        .as_ref()
        .map_or_else(|e| e.status.as_u16(), |r| r.status().as_u16());
    state.metrics.request(PATH, status, started.elapsed());
    result
}

/// The steps of a chat request.
async fn handle(
    req: &HttpRequest,
    user: User,
    body: &[u8],
    state: &Data,
) -> Result<HttpResponse, ApiError> {
    rate_limit(state, &user)?;
    let mut request: ChatRequest = parse_json(body)?;
    request.validate()?;
    let web = take_web_search(&mut request)?;
    let provider = route(req, state, &user, &mut request).await?;
    default_output_limit(state, provider, &mut request);
    let adapter = chat_adapter(state, provider);
    let credential = credential(state, &user, provider).await?;
    let citations = match web {
        Some(options) => Some(augment_with_search(state, &user, &mut request, options).await?),
        None => None,
    };
    let settlement = Settlement::reserve(state, &user, provider, &request).await?;
    tracing::info!(request_id = %settlement.request_id, provider = %provider, stream = request.is_stream(), "chat request");
    let call = Call {
        state,
        provider,
        adapter: &**adapter,
        request: &request,
        credential: &credential,
        settlement,
        citations,
    };
    if request.is_stream() {
        call.stream().await
    } else {
        call.complete().await
    }
}

/// The provider and model for the request, among the providers the user
/// holds a key for (`x-byok-provider`, a `<provider>/` prefix, or the
/// model's family); sets the model to send upstream.
async fn route(
    req: &HttpRequest,
    state: &Data,
    user: &User,
    request: &mut ChatRequest,
) -> Result<ProviderId, ApiError> {
    let held: Vec<ProviderId> = held(state, user).await?;
    let explicit = req
        .headers()
        .get("x-byok-provider")
        .and_then(|v| v.to_str().ok());
    let route = resolve(&request.model, explicit, &held)?;
    request.model = route.model;
    Ok(route.provider)
}

/// Anthropic Messages requires an output limit; without one from the
/// client, the model's maximum output as the price catalog states it (not
/// a fixed 4096 that truncates long answers), so the reservation covers
/// exactly what is sent. A model whose entry states no maximum keeps the
/// translator's default (a guess above the real maximum would be a 400
/// upstream). Other formats leave the limit to the upstream.
fn default_output_limit(state: &Data, provider: ProviderId, request: &mut ChatRequest) {
    let needs_limit = matches!(provider.info().format, WireFormat::AnthropicMessages);
    if !needs_limit || request.max_tokens.is_some() || request.max_completion_tokens.is_some() {
        return;
    }
    let stated = state
        .catalog
        .price(provider.as_str(), &request.model)
        .and_then(|p| p.max_output_tokens);
    if let Some(max) = stated {
        request.max_completion_tokens = Some(u32::try_from(max).unwrap_or(u32::MAX));
    }
}

/// The worker's adapter for `provider`.
pub(crate) fn chat_adapter(state: &Data, provider: ProviderId) -> &Arc<dyn ChatProvider> {
    state.chat_adapter(provider)
}

/// The user's key for `provider`, from the vault, checked.
async fn credential(
    state: &Data,
    user: &User,
    provider: ProviderId,
) -> Result<Credential, ApiError> {
    let secret = stored_secret(state, user, provider.as_str())
        .await?
        .ok_or_else(|| ApiError::no_credential(provider))?;
    Ok(Credential::parse(provider, &secret, state.policy)?)
}

/// A request ready to go upstream, with its reservation.
struct Call<'a> {
    state: &'a Data,
    provider: ProviderId,
    adapter: &'a dyn ChatProvider,
    request: &'a ChatRequest,
    credential: &'a Credential,
    settlement: Settlement,
    citations: Option<Vec<Citation>>,
}

impl Call<'_> {
    /// A failed upstream call: counted, the reservation released.
    fn failed(
        state: &Data,
        provider: ProviderId,
        settlement: Settlement,
        e: byok_providers::ProviderError,
    ) -> ApiError {
        state.metrics.upstream_error(provider.as_str());
        settlement.release();
        e.into()
    }

    /// A 200 naming the provider and the request id.
    fn ok(&self) -> HttpResponseBuilder {
        let mut response = HttpResponse::Ok();
        response
            .insert_header(("x-byok-provider", self.provider.as_str()))
            .insert_header((request_id::HEADER, self.settlement.request_id.as_str()));
        response
    }

    /// Streams the answer as server-sent events (settled when it ends).
    async fn stream(self) -> Result<HttpResponse, ApiError> {
        let stream = match self
            .adapter
            .chat_stream(self.request, self.credential)
            .await
        {
            Ok(stream) => stream,
            Err(e) => return Err(Self::failed(self.state, self.provider, self.settlement, e)),
        };
        let mut response = self.ok();
        let body = SseBody::new(stream, self.settlement, self.citations.as_deref())?;
        Ok(response
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .streaming(body))
    }

    /// Asks for the whole answer, settles, and returns it with the charge
    /// in the headers.
    async fn complete(self) -> Result<HttpResponse, ApiError> {
        let outcome = match self.adapter.chat(self.request, self.credential).await {
            Ok(outcome) => outcome,
            Err(e) => return Err(Self::failed(self.state, self.provider, self.settlement, e)),
        };
        let mut response = self.ok();
        let delivered = delivered_by_answer(&outcome.response);
        let settled = self.settlement.settle(
            outcome.usage.reported(),
            &delivered,
            &outcome.response.model,
        );
        let body = answer_body(outcome, self.citations)?;
        Ok(response
            .content_type("application/json")
            .insert_header(("x-byok-usage-source", settled.usage_source.as_str()))
            .insert_header(("x-byok-markup-usd", settled.markup.to_string()))
            .body(body))
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
