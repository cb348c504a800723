//! `POST /api/web`: a web search with the user's search credential; also
//! the search steps chat's web-search augmentation uses.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use byok_search::{SearchProvider, SearchProviderId, SearchRequest, SearchResponse};

use crate::accounts::User;
use crate::api::credentials::stored_secret;
use crate::api::{Data, parse_json, read_body};
use crate::app::keys::held_keys;
use crate::auth::{authenticate, rate_limit};
use crate::error::ApiError;

#[derive(serde::Deserialize)]
struct WebBody {
    provider: Option<String>,
    #[serde(flatten)]
    request: SearchRequest,
}

/// `POST /api/web`.
pub(crate) async fn web_search(
    req: HttpRequest,
    payload: web::Payload,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let body = read_body(&state, payload, state.settings.max_body_bytes).await?;
    rate_limit(&state, &user).await?;
    let parsed: WebBody = parse_json(&body)?;
    parsed.request.validate()?;
    let asked = match parsed.provider.as_deref() {
        Some(p) => Some(p.parse::<SearchProviderId>()?),
        None => None,
    };
    let provider = search_provider(&state, &user, asked, "provider").await?;
    let answer = run_search(&state, &user, provider, &parsed.request).await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// The worker's adapter for `provider`.
pub(crate) fn search_adapter(state: &Data, provider: SearchProviderId) -> Arc<dyn SearchProvider> {
    state.search.get(provider)
}

/// The search provider for a user's search: the one asked for, if they hold
/// its credential, else the first of tavily, exa, kagi, perplexity they hold.
/// Errors name `param`.
pub(crate) async fn search_provider(
    state: &Data,
    user: &User,
    asked: Option<SearchProviderId>,
    param: &str,
) -> Result<SearchProviderId, ApiError> {
    let held = held_keys(state, user).await?;
    let held = held.search();
    match asked {
        Some(p) if held.contains(&p) => Ok(p),
        Some(p) => Err(ApiError::bad_request(format!(
            "no credential for {p}; add one with PUT /api/byok/credentials/{p}"
        ))
        .param(param)),
        None => SearchProviderId::ALL
            .into_iter()
            .find(|p| held.contains(p))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "no web-search credential; add one for tavily, exa, kagi or perplexity",
                )
                .param(param)
            }),
    }
}

/// Runs `request` at `provider` with the user's credential.
pub(crate) async fn run_search(
    state: &Data,
    user: &User,
    provider: SearchProviderId,
    request: &SearchRequest,
) -> Result<SearchResponse, ApiError> {
    let key = stored_secret(state, user, provider.as_str())
        .await?
        .ok_or_else(|| ApiError::no_credential(provider))?;
    let adapter = search_adapter(state, provider);
    Ok(adapter.search(request, &key).await?)
}
