//! The one path every inbound protocol shares once its body is a neutral
//! [`ChatRequest`]: routing to a provider the user holds a key for (and
//! the fallback targets: [`fallback`]), the output default, the keys, the
//! reservation, the upstream calls (the next key or target after a
//! retryable failure), the settlement and the ledger. The protocols (chat completions, Anthropic
//! Messages, Responses, embeddings) are adapters at its ends: they parse
//! their body into the neutral request and encode the neutral answer (or
//! its stream, through an [`events::Encoder`]) back.

pub(crate) mod events;
pub(crate) mod fallback;
pub(crate) mod passthrough;
pub(crate) mod settle;
pub(crate) mod text;

use std::time::Instant;

use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use byok_providers::{
    ChatOutcome, ChatProvider, ChatRequest, Credential, ProviderError, ProviderId,
};
use bytes::Bytes;

use self::events::{Encoder, EventBody};
use self::fallback::{Attempts, count_header};
pub(crate) use self::fallback::{Fallback, fallback_requests, route, targets};
use self::settle::Settlement;
use self::text::delivered_by_answer;
use crate::accounts::User;
use crate::api::{Data, read_body};
pub(crate) use crate::app::keys::keys_for;
use crate::app::keys::{KeyChoice, Keys};
use crate::app::request_id;
use crate::auth::{authenticate, rate_limit};
use crate::error::ApiError;

/// The start of every inbound protocol's handler: the user, authenticated
/// from the headers before a byte of the body is read, the body, and the
/// per-user rate limit (a body refused as too large is not counted).
pub(crate) async fn admit(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Data,
) -> Result<(User, Bytes), ApiError> {
    let user = authenticate(req, state).await?;
    let body = read_body(state, payload, state.settings.max_body_bytes).await?;
    rate_limit(state, &user).await?;
    Ok((user, body))
}

/// An inbound protocol's request, the one way: admitted ([`admit`]),
/// `handle`d, an error rendered in the protocol's shape by `render`, and
/// the answer counted under the route `path` (status and time).
pub(crate) async fn serve(
    req: HttpRequest,
    payload: web::Payload,
    state: Data,
    path: &'static str,
    handle: impl AsyncFnOnce(&HttpRequest, User, Bytes, &Data) -> Result<HttpResponse, ApiError>,
    render: fn(&ApiError) -> HttpResponse,
) -> HttpResponse {
    let started = Instant::now();
    let result = match admit(&req, payload, &state).await {
        Ok((user, body)) => handle(&req, user, body, &state).await,
        Err(e) => Err(e),
    };
    let response = result.unwrap_or_else(|e| render(&e));
    state
        .metrics
        .request(path, response.status().as_u16(), started.elapsed());
    response
}

/// An error in OpenAI's shape (chat, Responses, embeddings).
pub(crate) fn openai_error(e: &ApiError) -> HttpResponse {
    actix_web::ResponseError::error_response(e)
}

/// Anthropic Messages requires an output limit; without one from the
/// client, the model's maximum output as the price catalog states it (not
/// a fixed 4096 that truncates long answers), so the reservation covers
/// exactly what is sent. A model whose entry states no maximum keeps the
/// translator's default (a guess above the real maximum would be a 400
/// upstream). Other formats leave the limit to the upstream.
pub(crate) fn default_output_limit(state: &Data, provider: ProviderId, request: &mut ChatRequest) {
    if !provider.info().format.requires_output_limit()
        || request.max_tokens.is_some()
        || request.max_completion_tokens.is_some()
    {
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

/// The gateway's response headers, parsed once (the hot path only copies
/// them).
pub(crate) mod headers {
    use actix_web::http::header::HeaderName;

    /// The provider that answered.
    pub(crate) const PROVIDER: HeaderName = HeaderName::from_static("x-byok-provider");
    /// The label of the key it used.
    pub(crate) const KEY_LABEL: HeaderName = HeaderName::from_static("x-byok-key-label");
    /// How many upstream calls were made.
    pub(crate) const ATTEMPTS: HeaderName = HeaderName::from_static("x-byok-attempts");
    /// `reported` or `estimated`.
    pub(crate) const USAGE_SOURCE: HeaderName = HeaderName::from_static("x-byok-usage-source");
    /// The markup charged.
    pub(crate) const MARKUP: HeaderName = HeaderName::from_static("x-byok-markup-usd");
}

/// A 200 naming the provider that answered, the label of the key it used,
/// how many upstream calls were made, and the request id.
pub(crate) fn answered(settlement: &Settlement) -> HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    let attempts = settlement.attempts();
    if let Some(last) = attempts.last() {
        response
            .insert_header((headers::PROVIDER, last.provider.as_str()))
            .insert_header((headers::KEY_LABEL, last.label.as_str()));
    }
    response
        .insert_header((
            headers::ATTEMPTS,
            HeaderValue::from_static(count_header(attempts.len())),
        ))
        .insert_header((request_id::HEADER, settlement.request_id.as_str()));
    response
}

/// A translated request ready to go upstream, with its reservation: to
/// `provider` with each of `keys`, then to each fallback target.
pub(crate) struct Call<'a> {
    pub(crate) state: &'a Data,
    pub(crate) user: &'a User,
    pub(crate) provider: ProviderId,
    pub(crate) request: &'a ChatRequest,
    /// The user's keys for `provider`.
    pub(crate) keys: Keys,
    /// The fallback targets (none in the common case).
    pub(crate) fallbacks: &'a [Fallback],
    pub(crate) settlement: Settlement,
}

impl Call<'_> {
    /// Streams the answer through `encoder` as `text/event-stream`
    /// (settled when it ends). Falls back while no stream has started: a
    /// failure after that is the stream's own error event.
    pub(crate) async fn stream<E: Encoder>(self, encoder: E) -> Result<HttpResponse, ApiError> {
        self.attempt(
            async |adapter, request, credential| adapter.chat_stream(request, credential).await,
            async |stream, settlement| {
                let mut response = answered(&settlement);
                let body = EventBody::new(stream, settlement, encoder);
                Ok(response
                    .content_type("text/event-stream")
                    .insert_header(("cache-control", "no-cache"))
                    .streaming(body))
            },
        )
        .await
    }

    /// Asks for the whole answer, settles, and returns what `encode` makes
    /// of it, with the charge in the headers.
    pub(crate) async fn complete(
        self,
        encode: impl FnOnce(ChatOutcome) -> Result<Bytes, ApiError>,
    ) -> Result<HttpResponse, ApiError> {
        self.attempt(
            async |adapter, request, credential| adapter.chat(request, credential).await,
            async |outcome, settlement| respond(settlement, outcome, encode).await,
        )
        .await
    }

    /// The attempts: `call` with each key of the routed provider, then of
    /// each fallback target, until one answers (`answer` makes the
    /// response of it) or the attempts run out; a failure that says the
    /// request is wrong is the answer at once.
    async fn attempt<T>(
        self,
        mut call: impl AsyncFnMut(
            &dyn ChatProvider,
            &ChatRequest,
            &Credential,
        ) -> Result<T, ProviderError>,
        answer: impl AsyncFnOnce(T, Settlement) -> Result<HttpResponse, ApiError>,
    ) -> Result<HttpResponse, ApiError> {
        let Call {
            state,
            user,
            provider,
            request,
            keys,
            fallbacks,
            settlement,
        } = self;
        let attempts = Attempts::new(state, user, provider, keys, fallbacks);
        let each = async |fallback: Option<&Fallback>, provider, key: &KeyChoice| {
            let request = fallback.map_or(request, |f| &f.request);
            call(
                state.chat_adapter(provider).as_ref(),
                request,
                &key.credential,
            )
            .await
        };
        fallback::run(attempts, provider, fallbacks, settlement, each, answer).await
    }
}

/// A whole answer: settled, encoded, with the charge in the headers.
async fn respond(
    settlement: Settlement,
    outcome: ChatOutcome,
    encode: impl FnOnce(ChatOutcome) -> Result<Bytes, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let mut response = answered(&settlement);
    let delivered = delivered_by_answer(&outcome.response);
    let settled = settlement
        .settle_whole(outcome.usage.reported(), delivered, &outcome.response.model)
        .await?;
    let body = encode(outcome)?;
    Ok(response
        .content_type("application/json")
        .insert_header((
            headers::USAGE_SOURCE,
            HeaderValue::from_static(settled.usage_source.as_str()),
        ))
        .insert_header((headers::MARKUP, settled.markup.to_string()))
        .body(body))
}
