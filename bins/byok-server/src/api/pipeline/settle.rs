//! What a chat request costs: the markup reserved before it goes upstream
//! (an upper bound: every choice, the prompt with its tools and
//! passthrough fields, the output limit the translated request implies or
//! the model's maximum output), kept alive while the request lives, and
//! the one settlement when it ends (answered, streamed, cut off or
//! failed), priced by the model that answered. The ledger itself is
//! behind `app::ledger`.
//!
//! A request with fallback targets makes one reservation, of the largest
//! bound over its targets (priced up front: no second reservation, and no
//! ledger call, when it falls back); only the attempt that answered is
//! charged, priced by its provider and model, and the entry lists every
//! attempt.

use byok_billing::{
    Attempt, Bps, Charge, LedgerEntry, Money, QuoteOptions, ReservationBound, TokenUsage,
    UsageSource, affordable_output_tokens, quote, reservation_markup, usage_or_estimate,
};
use byok_providers::{ChatRequest, ProviderId, Usage, output_token_limit};

use super::fallback::Fallback;
use super::text::{has_media_beyond_bytes, prompt_texts, prompt_upper_bound};
use crate::accounts::User;
use crate::api::Data;
use crate::app::ledger::{KeptAlive, Refused};
use crate::app::request_id::request_id;
use crate::error::ApiError;

/// The prompt bound of a request with audio, video or file parts for a
/// model whose context length the catalog does not know: the largest
/// context any catalog model has (Gemini's 1,048,576 tokens) doubled.
const MEDIA_PROMPT_BOUND: u64 = 2 * 1_048_576;

/// Everything needed to settle a request once its usage is known.
pub(crate) struct Settlement {
    state: Data,
    /// The request's id (the ledger entry's, and `x-request-id`).
    pub(crate) request_id: String,
    account: String,
    provider: ProviderId,
    model: String,
    prompt_texts: Vec<String>,
    /// The route (the ledger entry's `endpoint`).
    endpoint: &'static str,
    reserved: bool,
    /// The upstream calls made so far (the last one answered, once one
    /// did).
    attempts: Vec<Attempt>,
    /// Extends the reservation while the request lives; stopped when the
    /// settlement ends (settled, released or dropped).
    _keep_alive: Option<KeptAlive>,
}

/// What a settled request was charged.
pub(crate) struct Settled {
    /// Whether the tokens were reported or estimated.
    pub(crate) usage_source: UsageSource,
    /// The markup charged (zero when nothing was reserved or the request
    /// could not be priced).
    pub(crate) markup: Money,
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
    /// the request's largest possible markup, over `request` to `provider`
    /// and each of the `fallbacks`, kept alive until the settlement ends.
    ///
    /// # Errors
    /// 400 for a model without a price; 402 when the bound does not fit
    /// the balance.
    pub(crate) async fn reserve(
        state: &Data,
        user: &User,
        provider: ProviderId,
        request: &ChatRequest,
        fallbacks: &[Fallback],
        endpoint: &'static str,
    ) -> Result<Self, ApiError> {
        let mut settlement = Self {
            state: state.clone(),
            request_id: request_id(),
            account: user.id.clone(),
            provider,
            model: request.model.clone(),
            prompt_texts: prompt_texts(request),
            endpoint,
            reserved: false,
            attempts: Vec::new(),
            _keep_alive: None,
        };
        if state.settings.markup_bps > 0 {
            let (amount, bound) = settlement.most(provider, request)?;
            let mut most = (amount, bound, provider, request);
            for f in fallbacks {
                let (amount, bound) = settlement
                    .most(f.provider, &f.request)
                    .map_err(|e| e.param("models"))?;
                if amount > most.0 {
                    most = (amount, bound, f.provider, &f.request);
                }
            }
            let (amount, bound, at, priced) = most;
            match state
                .ledger
                .reserve(&settlement.account, &settlement.request_id, amount)
                .await
            {
                Ok(()) => {}
                Err(Refused::Insufficient { available, needed }) => {
                    return Err(settlement.refusal(at, &priced.model, &bound, available, needed));
                }
                Err(Refused::Failed(e)) => return Err(e),
            }
            settlement.reserved = true;
            settlement._keep_alive = Some(state.ledger.keep_alive(&settlement.request_id));
        }
        Ok(settlement)
    }

    /// The most `request` (its model) to `provider` could cost in markup,
    /// and its bound.
    ///
    /// # Errors
    /// 400 for a model without a price.
    fn most(
        &self,
        provider: ProviderId,
        request: &ChatRequest,
    ) -> Result<(Money, ReservationBound), ApiError> {
        let bound = self.bound(provider, request);
        let amount = reservation_markup(
            &self.state.catalog,
            provider.as_str(),
            &request.model,
            &bound,
            quote_options(&self.state),
        )
        .map_err(|e| ApiError::bad_request(e.to_string()).param("model"))?;
        Ok((amount, bound))
    }

    /// What the reservation covers: the prompt's upper bound, every choice
    /// (`n`), and per choice the output limit the translated request
    /// implies (thinking budget included) or, without one, the model's
    /// maximum output.
    fn bound(&self, provider: ProviderId, request: &ChatRequest) -> ReservationBound {
        ReservationBound::for_request(
            &self.state.catalog,
            provider.as_str(),
            &request.model,
            self.prompt_bound(provider, request),
            output_token_limit(provider, request),
            u64::from(request.n.unwrap_or(1)),
        )
    }

    /// The prompt's upper bound in tokens: its bytes and framing, or, when
    /// it holds media whose tokens bytes do not bound, the model's context
    /// length (the most any prompt can be), else [`MEDIA_PROMPT_BOUND`].
    fn prompt_bound(&self, provider: ProviderId, request: &ChatRequest) -> u64 {
        let by_bytes = prompt_upper_bound(request, &self.prompt_texts);
        if !has_media_beyond_bytes(request) {
            return by_bytes;
        }
        let context = self
            .state
            .catalog
            .price(provider.as_str(), &request.model)
            .and_then(|p| p.context_length)
            .unwrap_or(MEDIA_PROMPT_BOUND);
        by_bytes.max(context)
    }

    /// The `402`: the most the request (to `provider`'s `model`) could
    /// cost, what is available, and how many output tokens per choice that
    /// affords.
    fn refusal(
        &self,
        provider: ProviderId,
        model: &str,
        bound: &ReservationBound,
        available: Money,
        needed: Money,
    ) -> ApiError {
        let affordable = affordable_output_tokens(
            &self.state.catalog,
            provider.as_str(),
            model,
            bound.prompt_tokens,
            bound.choices,
            available,
            quote_options(&self.state),
        )
        .unwrap_or(0);
        ApiError::insufficient_balance(needed, available, affordable)
    }

    /// Records an upstream call with the user's key `label` and how it
    /// ended (its status).
    pub(crate) fn attempt(&mut self, provider: ProviderId, label: String, status: u16) {
        if self.attempts.capacity() == 0 {
            self.attempts.reserve_exact(1);
        }
        self.attempts.push(Attempt {
            provider: provider.as_str().to_owned(),
            label,
            status,
        });
    }

    /// The upstream calls made so far.
    pub(crate) fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// A fallback target answered: priced by its provider and model.
    pub(crate) fn answered_by(&mut self, provider: ProviderId, model: &str) {
        self.provider = provider;
        model.clone_into(&mut self.model);
    }

    /// Prices by `answered`, the model the provider says answered (an
    /// Azure deployment's real model, OpenRouter's routed one), when it
    /// names one the catalog knows; else by the requested model. The
    /// reservation was made on the requested model, so a settlement may
    /// exceed it: the ledger charges it in full anyway.
    fn price_by(&mut self, answered: &str) {
        if !answered.is_empty()
            && answered != self.model
            && self
                .state
                .catalog
                .entry(self.provider.as_str(), answered)
                .is_some()
        {
            answered.clone_into(&mut self.model);
        }
    }

    /// Prices and records the request from the reported usage, or from an
    /// estimate over the prompt and `delivered` (off the request path: the
    /// ledger writer commits it in a batch), by the model that `answered`
    /// (see [`Settlement::price_by`]).
    pub(crate) fn settle(
        mut self,
        reported: Option<&Usage>,
        delivered: &str,
        answered: &str,
    ) -> Settled {
        self.price_by(answered);
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

    /// [`Settlement::settle`] for a body that ended or whose client went
    /// (nothing waits for the result): with reported usage at once;
    /// without, on the blocking pool (see [`Settlement::settle_whole`]),
    /// or here when there is no runtime (a body dropped after its server
    /// stopped).
    pub(crate) fn settle_detached(
        self,
        reported: Option<&Usage>,
        delivered: String,
        answered: &str,
    ) {
        if reported.is_some() {
            self.settle(reported, &delivered, answered);
            return;
        }
        let answered = answered.to_owned();
        let estimate = move || {
            self.settle(None, &delivered, &answered);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(estimate)),
            Err(_) => estimate(),
        }
    }

    /// [`Settlement::settle`] for an answer about to be sent whole: with
    /// reported usage at once; without, on the blocking pool, since the
    /// estimate runs the tokenizer over the prompt and `delivered`, which
    /// may be megabytes, and must not hold the worker that serves other
    /// connections.
    ///
    /// # Errors
    /// 500 when the blocking pool could not run it (the runtime is
    /// stopping); the reservation then expires.
    pub(crate) async fn settle_whole(
        self,
        reported: Option<&Usage>,
        delivered: String,
        answered: &str,
    ) -> Result<Settled, ApiError> {
        if reported.is_some() {
            return Ok(self.settle(reported, &delivered, answered));
        }
        let answered = answered.to_owned();
        actix_web::web::block(move || self.settle(None, &delivered, &answered))
            .await
            .map_err(|e| crate::error::internal("settle", &e))
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
            endpoint: self.endpoint.into(),
            prompt_tokens: usage.prompt,
            completion_tokens: usage.completion,
            cached_tokens: usage.cached,
            usage_source: charge.usage_source,
            provider_cost: charge.provider_cost,
            markup,
            price_source: charge.price_source,
            attempts: self.attempts,
        });
        markup
    }

    /// Ends the request without a charge (it failed before an answer).
    pub(crate) fn release(self) {
        if self.reserved {
            self.state.ledger.release(&self.request_id);
        }
    }
}
