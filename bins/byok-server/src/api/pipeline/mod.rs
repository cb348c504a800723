//! The one path every inbound protocol shares once its body is a neutral
//! [`ChatRequest`]: routing to a provider the user holds a key for, the
//! output default, the key, the reservation, the upstream call, the
//! settlement and the ledger. The protocols (chat completions, Anthropic
//! Messages, Responses, embeddings) are adapters at its ends: they parse
//! their body into the neutral request and encode the neutral answer (or
//! its stream, through an [`events::Encoder`]) back.

pub(crate) mod events;
pub(crate) mod passthrough;
pub(crate) mod settle;
pub(crate) mod text;

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use byok_providers::{
    ChatOutcome, ChatRequest, Credential, ProviderError, ProviderId, WireFormat, resolve,
};
use bytes::Bytes;

use self::events::{Encoder, EventBody};
use self::settle::Settlement;
use self::text::delivered_by_answer;
use crate::accounts::User;
use crate::api::credentials::{held, stored_secret};
use crate::api::{Data, read_body};
use crate::app::request_id;
use crate::auth::authenticate;
use crate::error::ApiError;

/// The start of every inbound protocol's handler: the user, authenticated
/// from the headers before a byte of the body is read, and the body.
pub(crate) async fn admit(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Data,
) -> Result<(User, Bytes), ApiError> {
    let user = authenticate(req, state).await?;
    let body = read_body(state, payload, state.settings.max_body_bytes).await?;
    Ok((user, body))
}

/// Counts a finished request of the route `path` (status and time since
/// `started`) and passes its result on.
pub(crate) fn counted(
    state: &Data,
    path: &'static str,
    started: Instant,
    result: Result<HttpResponse, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let status = result
        .as_ref()
        .map_or_else(|e| e.status.as_u16(), |r| r.status().as_u16());
    state.metrics.request(path, status, started.elapsed());
    result
}

/// The provider and model for the request, among the providers the user
/// holds a key for (`x-byok-provider`, a `<provider>/` prefix, or the
/// model's family); sets the model to send upstream.
pub(crate) async fn route(
    req: &HttpRequest,
    state: &Data,
    user: &User,
    model: &mut String,
) -> Result<ProviderId, ApiError> {
    let held: Vec<ProviderId> = held(state, user).await?;
    let explicit = req
        .headers()
        .get("x-byok-provider")
        .and_then(|v| v.to_str().ok());
    let route = resolve(model, explicit, &held)?;
    *model = route.model;
    Ok(route.provider)
}

/// Anthropic Messages requires an output limit; without one from the
/// client, the model's maximum output as the price catalog states it (not
/// a fixed 4096 that truncates long answers), so the reservation covers
/// exactly what is sent. A model whose entry states no maximum keeps the
/// translator's default (a guess above the real maximum would be a 400
/// upstream). Other formats leave the limit to the upstream.
pub(crate) fn default_output_limit(state: &Data, provider: ProviderId, request: &mut ChatRequest) {
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

/// The user's key for `provider`, from the vault, checked.
pub(crate) async fn credential(
    state: &Data,
    user: &User,
    provider: ProviderId,
) -> Result<Credential, ApiError> {
    let secret = stored_secret(state, user, provider.as_str())
        .await?
        .ok_or_else(|| ApiError::no_credential(provider))?;
    Ok(Credential::parse(provider, &secret, state.policy)?)
}

/// A failed upstream call: counted, the reservation released.
pub(crate) fn failed(
    state: &Data,
    provider: ProviderId,
    settlement: Settlement,
    e: ProviderError,
) -> ApiError {
    state.metrics.upstream_error(provider.as_str());
    settlement.release();
    e.into()
}

/// A 200 naming the provider and the request id.
pub(crate) fn answered(provider: ProviderId, settlement: &Settlement) -> HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .insert_header(("x-byok-provider", provider.as_str()))
        .insert_header((request_id::HEADER, settlement.request_id.as_str()));
    response
}

/// A translated request ready to go upstream, with its reservation.
pub(crate) struct Call<'a> {
    pub(crate) state: &'a Data,
    pub(crate) provider: ProviderId,
    pub(crate) request: &'a ChatRequest,
    pub(crate) credential: &'a Credential,
    pub(crate) settlement: Settlement,
}

impl Call<'_> {
    /// Streams the answer through `encoder` as `text/event-stream`
    /// (settled when it ends).
    pub(crate) async fn stream<E: Encoder>(self, encoder: E) -> Result<HttpResponse, ApiError> {
        let adapter = self.state.chat_adapter(self.provider);
        let stream = match adapter.chat_stream(self.request, self.credential).await {
            Ok(stream) => stream,
            Err(e) => return Err(failed(self.state, self.provider, self.settlement, e)),
        };
        let mut response = answered(self.provider, &self.settlement);
        let body = EventBody::new(stream, self.settlement, encoder);
        Ok(response
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .streaming(body))
    }

    /// Asks for the whole answer, settles, and returns what `encode` makes
    /// of it, with the charge in the headers.
    pub(crate) async fn complete(
        self,
        encode: impl FnOnce(ChatOutcome) -> Result<Bytes, ApiError>,
    ) -> Result<HttpResponse, ApiError> {
        let adapter = self.state.chat_adapter(self.provider);
        let outcome = match adapter.chat(self.request, self.credential).await {
            Ok(outcome) => outcome,
            Err(e) => return Err(failed(self.state, self.provider, self.settlement, e)),
        };
        let mut response = answered(self.provider, &self.settlement);
        let delivered = delivered_by_answer(&outcome.response);
        let settled = self.settlement.settle(
            outcome.usage.reported(),
            &delivered,
            &outcome.response.model,
        );
        let body = encode(outcome)?;
        Ok(response
            .content_type("application/json")
            .insert_header(("x-byok-usage-source", settled.usage_source.as_str()))
            .insert_header(("x-byok-markup-usd", settled.markup.to_string()))
            .body(body))
    }
}
