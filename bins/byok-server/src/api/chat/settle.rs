//! What a chat request costs: the markup reserved before it goes upstream
//! and the one settlement when it ends (answered, streamed, cut off or
//! failed). The ledger itself is behind `app::ledger`.

use byok_billing::{
    Bps, Charge, LedgerEntry, Money, QuoteOptions, TokenUsage, UsageSource, max_markup, quote,
    usage_or_estimate,
};
use byok_providers::{ChatRequest, ProviderId, Usage};

use super::PATH;
use super::text::{prompt_texts, prompt_upper_bound};
use crate::accounts::User;
use crate::api::Data;
use crate::app::request_id::request_id;
use crate::error::ApiError;

/// Everything needed to settle a request once its usage is known.
pub(super) struct Settlement {
    state: Data,
    /// The request's id (the ledger entry's, and `x-request-id`).
    pub(super) request_id: String,
    account: String,
    provider: ProviderId,
    model: String,
    prompt_texts: Vec<String>,
    reserved: bool,
}

/// What a settled request was charged.
pub(super) struct Settled {
    /// Whether the tokens were reported or estimated.
    pub(super) usage_source: UsageSource,
    /// The markup charged (zero when nothing was reserved or the request
    /// could not be priced).
    pub(super) markup: Money,
}

fn quote_options(state: &Data) -> QuoteOptions {
    QuoteOptions {
        markup: Bps(state.settings.markup_bps),
        free_tier: false,
    }
}

/// The ledger's token counts from a provider's usage (cached, cache-write
/// and reasoning tokens clamped into the totals they are part of).
fn to_token_usage(u: &Usage) -> TokenUsage {
    let prompt = u.prompt_tokens;
    let cached = u.cached_tokens().min(prompt);
    let cache_write = u.cache_write_tokens().min(prompt - cached);
    TokenUsage {
        prompt,
        cached,
        cache_write,
        completion: u.completion_tokens,
        reasoning: u.reasoning_tokens().min(u.completion_tokens),
    }
}

impl Settlement {
    /// A new request id and, when a markup is charged, a reservation of
    /// the request's largest possible markup.
    ///
    /// # Errors
    /// 400 for a model without a price; 402 when the bound does not fit
    /// the balance.
    pub(super) async fn reserve(
        state: &Data,
        user: &User,
        provider: ProviderId,
        request: &ChatRequest,
    ) -> Result<Self, ApiError> {
        let mut settlement = Self {
            state: state.clone(),
            request_id: request_id(),
            account: user.id.clone(),
            provider,
            model: request.model.clone(),
            prompt_texts: prompt_texts(request),
            reserved: false,
        };
        if state.settings.markup_bps > 0 {
            let bound = settlement.markup_bound(request)?;
            state
                .ledger
                .reserve(&settlement.account, &settlement.request_id, bound)
                .await?;
            settlement.reserved = true;
        }
        Ok(settlement)
    }

    /// The markup of the prompt's upper bound and the most output tokens
    /// the request allows.
    fn markup_bound(&self, request: &ChatRequest) -> Result<Money, ApiError> {
        let max_out = request
            .max_completion_tokens
            .or(request.max_tokens)
            .unwrap_or(self.state.settings.default_max_output_tokens);
        max_markup(
            &self.state.catalog,
            self.provider.as_str(),
            &self.model,
            prompt_upper_bound(request, &self.prompt_texts),
            u64::from(max_out),
            quote_options(&self.state),
        )
        .map_err(|e| ApiError::bad_request(e.to_string()).param("model"))
    }

    /// Prices and records the request from the reported usage, or from an
    /// estimate over the prompt and `delivered` (off the request path: the
    /// ledger writer commits it in a batch).
    pub(super) fn settle(self, reported: Option<&Usage>, delivered: &str) -> Settled {
        let (usage, usage_source) = usage_or_estimate(
            reported.map(to_token_usage),
            &self.model,
            self.prompt_texts.iter().map(String::as_str),
            delivered,
        );
        let priced = quote(
            &self.state.catalog,
            self.provider.as_str(),
            &self.model,
            &usage,
            usage_source,
            quote_options(&self.state),
        );
        let markup = match priced {
            Ok(charge) => self.record(&usage, &charge),
            Err(e) => {
                tracing::error!(request_id = %self.request_id, error = %e, "cannot price a finished request; releasing its reservation");
                self.state.ledger.release(&self.request_id);
                Money::ZERO
            }
        };
        Settled {
            usage_source,
            markup,
        }
    }

    /// Counts and records a priced request; returns the markup charged
    /// (none without a reservation).
    fn record(self, usage: &TokenUsage, charge: &Charge) -> Money {
        let markup = if self.reserved {
            charge.markup
        } else {
            Money::ZERO
        };
        let provider = self.provider.as_str();
        self.state
            .metrics
            .usage(provider, usage.prompt, usage.completion, markup.nanos());
        self.state.ledger.settle(LedgerEntry {
            request_id: self.request_id,
            account: self.account,
            created_at_ms: byok_billing::now_ms(),
            provider: provider.to_owned(),
            model: self.model,
            endpoint: PATH.into(),
            prompt_tokens: usage.prompt,
            completion_tokens: usage.completion,
            cached_tokens: usage.cached,
            usage_source: charge.usage_source,
            provider_cost: charge.provider_cost,
            markup,
            price_source: charge.price_source,
        });
        markup
    }

    /// Ends the request without a charge (it failed before an answer).
    pub(super) fn release(self) {
        if self.reserved {
            self.state.ledger.release(&self.request_id);
        }
    }
}
