//! Web-search augmentation of a chat request: the options, and the cited
//! results put before the conversation.

use byok_providers::{ChatRequest, Content, Message};
use byok_search::{Citation, DEFAULT_RESULTS, SearchProviderId, SearchRequest};
use serde_json::Value;

use crate::accounts::User;
use crate::api::Data;
use crate::api::search::{run_search, search_provider};
use crate::error::ApiError;

/// Which search provider (none: the first the user holds) and how many
/// results.
pub(super) type WebSearch = (Option<SearchProviderId>, u8);

const ONLINE: &str = ":online";

/// Web-search options of a chat request: the model suffix `:online` or the
/// body field `web_search: true | {"provider", "max_results"}` (removed
/// from the request either way, so no upstream sees it).
pub(super) fn take_web_search(request: &mut ChatRequest) -> Result<Option<WebSearch>, ApiError> {
    let field = request.extra.remove("web_search");
    let online = request.model.ends_with(ONLINE);
    if online {
        let n = request.model.len() - ONLINE.len();
        request.model.truncate(n);
    }
    let options = match field {
        None | Some(Value::Bool(false)) | Some(Value::Null) => None,
        Some(Value::Bool(true)) => Some((None, DEFAULT_RESULTS)),
        Some(Value::Object(o)) => Some(web_search_object(&o)?),
        Some(_) => {
            return Err(
                ApiError::bad_request("`web_search` must be true or an object").param("web_search"),
            );
        }
    };
    Ok(options.or(online.then_some((None, DEFAULT_RESULTS))))
}

/// `{"provider"?, "max_results"?}`.
fn web_search_object(o: &serde_json::Map<String, Value>) -> Result<WebSearch, ApiError> {
    let provider = match o.get("provider").and_then(Value::as_str) {
        Some(p) => Some(p.parse::<SearchProviderId>()?),
        None => None,
    };
    let max = match o.get("max_results").and_then(Value::as_u64) {
        Some(n) if (1..=20).contains(&n) => u8::try_from(n).unwrap_or(DEFAULT_RESULTS),
        Some(_) => {
            return Err(
                ApiError::bad_request("`web_search.max_results` must be between 1 and 20")
                    .param("web_search"),
            );
        }
        None => DEFAULT_RESULTS,
    };
    Ok((provider, max))
}

/// Searches with the user's search credential and puts the cited results
/// in a system message after the leading system messages.
pub(super) async fn augment_with_search(
    state: &Data,
    user: &User,
    request: &mut ChatRequest,
    (provider, max_results): WebSearch,
) -> Result<Vec<Citation>, ApiError> {
    let last_user = request
        .messages
        .iter()
        .rev()
        .find_map(|m| match m {
            Message::User { content, .. } => Some(content.text()),
            _ => None,
        })
        .unwrap_or_default();
    let Some(query) = byok_search::build_query(&last_user) else {
        return Ok(Vec::new());
    };
    let provider = search_provider(state, user, provider, "web_search").await?;
    let mut search = SearchRequest::new(query);
    search.max_results = max_results;
    let results = run_search(state, user, provider, &search).await?;
    let augmentation = byok_search::augment(
        &results,
        byok_search::DEFAULT_BUDGET_TOKENS,
        &byok_search::approx_tokens,
    );
    let at = request
        .messages
        .iter()
        .take_while(|m| matches!(m, Message::System { .. } | Message::Developer { .. }))
        .count();
    request.messages.insert(
        at,
        Message::System {
            content: Content::Text(augmentation.context),
            name: None,
        },
    );
    Ok(augmentation.citations)
}
