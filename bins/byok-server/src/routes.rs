//! HTTP handlers: the contract in `shared/docs/http-api.md`.

use std::pin::Pin;
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use byok_billing::{
    Command, LedgerEntry, LedgerError, QuoteOptions, TokenUsage, UsageSource, max_markup, quote,
    usage_or_estimate,
};
use byok_providers::{
    ChatRequest, ChatStream, Content, Credential, Message, PROVIDERS, ProviderId, Transcript,
    Usage, UsageReport, resolve,
};
use byok_search::{SearchProviderId, SearchRequest};
use bytes::Bytes;
use futures_util::Stream;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::accounts::User;
use crate::error::{ApiError, internal};
use crate::state::AppState;

type Data = web::Data<AppState>;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return v.strip_prefix("Bearer ").map(str::trim);
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Authenticates a user key (cached after the first lookup; a miss runs on
/// the blocking pool). Every failure is the same 401.
pub(crate) async fn authenticate(req: &HttpRequest, state: &Data) -> Result<User, ApiError> {
    let Some(key) = bearer(req.headers()).filter(|k| !k.is_empty() && k.len() <= 256) else {
        return Err(ApiError::unauthorized());
    };
    if let Some(u) = state.accounts.cached(key) {
        return Ok(u);
    }
    let accounts = state.accounts.clone();
    let key = SecretString::from(key.to_owned());
    let user = web::block(move || accounts.authenticate(key.expose_secret()))
        .await
        .map_err(|e| internal("auth", &e))?
        .map_err(|e| internal("auth", &e))?;
    user.ok_or_else(ApiError::unauthorized)
}

fn admin(req: &HttpRequest, state: &Data) -> Result<(), ApiError> {
    use subtle::ConstantTimeEq;
    let Some(token) = state.settings.admin_token.as_deref() else {
        return Err(ApiError::not_found(
            "the admin API is disabled (set BYOK_ADMIN_TOKEN)",
        ));
    };
    let presented = bearer(req.headers()).unwrap_or("");
    // Hash both sides so the comparison is constant-time whatever the lengths.
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(token.as_bytes());
    if bool::from(a.as_slice().ct_eq(b.as_slice())) {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
    }
}

/// A new request id: `req_` + 28 hex digits, the first 12 the Unix time in
/// milliseconds and the rest 64 random bits. Time first keeps the ledger's
/// unique index on request ids append-mostly (a random key would dirty a
/// different B-tree page, and write it to the WAL, for every charge); the
/// random part keeps ids unguessable and unique within a millisecond.
pub(crate) fn request_id() -> String {
    let mut b = [0u8; 14];
    let ms = u64::try_from(byok_billing::now_ms()).unwrap_or(0);
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    let _ = getrandom::getrandom(&mut b[6..]);
    let mut id = String::with_capacity(32);
    id.push_str("req_");
    id.push_str(&hex::encode(b));
    id
}

/// Reads a request body up to the configured limit: 413 in OpenAI's error
/// shape above it.
pub(crate) async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Bytes, ApiError> {
    use futures_util::StreamExt as _;
    // A body that arrives in one piece (the usual case) is used as is.
    let mut first: Option<Bytes> = None;
    let mut body = web::BytesMut::new();
    let mut len = 0usize;
    while let Some(piece) = payload.next().await {
        let piece =
            piece.map_err(|_| ApiError::bad_request("the request body could not be read"))?;
        len += piece.len();
        if len > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                format!("the request body is larger than {limit} bytes"),
            )
            .code("body_too_large"));
        }
        if let Some(f) = first.take() {
            body.extend_from_slice(&f);
        }
        if body.is_empty() && len == piece.len() {
            first = Some(piece);
        } else {
            body.extend_from_slice(&piece);
        }
    }
    Ok(first.unwrap_or_else(|| body.freeze()))
}

fn json_error(e: &serde_json::Error) -> ApiError {
    // serde's messages can quote input; give position and category only.
    ApiError::bad_request(format!(
        "invalid JSON body ({:?} error at line {} column {})",
        e.classify(),
        e.line(),
        e.column()
    ))
}

/// The names of the user's stored credentials (cached; see `AppState::held`).
async fn held_names(state: &Data, user: &User) -> Result<Arc<Vec<String>>, ApiError> {
    if let Some(names) = state
        .held
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&user.id)
    {
        return Ok(Arc::clone(names));
    }
    let names: Arc<Vec<String>> = Arc::new(
        state
            .vault
            .list(&user.id)
            .await
            .map_err(|e| internal("vault list", &e))?
            .into_iter()
            .map(|i| i.name)
            .collect(),
    );
    let mut held = state.held.lock().unwrap_or_else(PoisonError::into_inner);
    if held.len() > 100_000 {
        held.clear();
    }
    held.insert(user.id.clone(), Arc::clone(&names));
    Ok(names)
}

fn forget_held(state: &Data, user: &User) {
    state
        .held
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&user.id);
}

// ---------------------------------------------------------------- providers

/// `GET /api/byok/providers`.
pub(crate) async fn list_providers() -> HttpResponse {
    let mut data: Vec<Value> = PROVIDERS
        .iter()
        .map(|p| {
            json!({"id": p.slug, "name": p.name, "kind": "chat", "format": p.credential.kind(), "fields": p.credential.fields(), "example": p.example})
        })
        .collect();
    for s in SearchProviderId::ALL {
        data.push(json!({"id": s.as_str(), "name": s.name(), "kind": "search", "format": "key", "fields": [], "example": "..."}));
    }
    HttpResponse::Ok().json(json!({"data": data}))
}

enum Target {
    Chat(ProviderId),
    Search(SearchProviderId),
}

fn target(id: &str) -> Result<Target, ApiError> {
    if let Ok(p) = id.parse::<ProviderId>() {
        return Ok(Target::Chat(p));
    }
    if let Ok(s) = id.parse::<SearchProviderId>() {
        return Ok(Target::Search(s));
    }
    Err(ApiError::not_found(format!(
        "unknown provider `{}`",
        id.chars().take(64).collect::<String>()
    )))
}

fn public_view(info: &byok_vault::SecretInfo) -> Value {
    let ts = |t: std::time::SystemTime| {
        byok_billing::rfc3339(
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0)),
        )
    };
    let meta = info.metadata.clone().unwrap_or_else(|| json!({}));
    let kind = meta
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("chat")
        .to_owned();
    let mut public = meta;
    if let Some(o) = public.as_object_mut() {
        o.remove("kind");
    }
    json!({"provider": info.name, "kind": kind, "last4": info.last4, "created_at": ts(info.created_at), "updated_at": ts(info.updated_at), "meta": public})
}

/// `PUT /api/byok/credentials/{provider}`.
pub(crate) async fn put_credential(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let body = read_body(payload, state.settings.max_body_bytes.min(64 << 10)).await?;
    let target = target(&path)?;
    let mut doc: Value = serde_json::from_slice(&body).map_err(|e| json_error(&e))?;
    let raw = match doc.get_mut("key") {
        Some(Value::String(s)) => SecretString::from(std::mem::take(s)),
        Some(v @ Value::Object(_)) => SecretString::from(v.to_string()),
        _ => return Err(ApiError::bad_request("the body must be {\"key\": \"<secret>\"} (a string, or an object for JSON credentials)").param("key")),
    };
    drop(doc);
    let (stored, hint, meta) = match target {
        Target::Chat(p) => {
            let c = Credential::parse(p, &raw, state.policy)?;
            let mut meta = Value::Object(c.public_meta());
            meta["kind"] = json!("chat");
            (c.to_storage(), c.hint_source().clone(), meta)
        }
        Target::Search(_) => {
            // Search keys follow the plain-key rules (header-safe, 1..=8 KiB).
            let c = Credential::parse(ProviderId::OpenAi, &raw, state.policy)?;
            (
                c.to_storage(),
                c.hint_source().clone(),
                json!({"kind": "search"}),
            )
        }
    };
    let options = byok_vault::PutOptions::new()
        .metadata(meta)
        .hint(byok_vault::Hint::From(hint));
    let info = state
        .vault
        .put(&user.id, &path, stored, options)
        .await
        .map_err(|e| internal("vault put", &e))?;
    forget_held(&state, &user);
    Ok(HttpResponse::Ok().json(public_view(&info)))
}

/// `GET /api/byok/credentials`.
pub(crate) async fn list_credentials(
    req: HttpRequest,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let list = state
        .vault
        .list(&user.id)
        .await
        .map_err(|e| internal("vault list", &e))?;
    Ok(HttpResponse::Ok().json(json!({"data": list.iter().map(public_view).collect::<Vec<_>>()})))
}

/// `DELETE /api/byok/credentials/{provider}`.
pub(crate) async fn delete_credential(
    req: HttpRequest,
    path: web::Path<String>,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    target(&path)?;
    if state
        .vault
        .delete(&user.id, &path)
        .await
        .map_err(|e| internal("vault delete", &e))?
    {
        forget_held(&state, &user);
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(format!(
            "no credential for `{}`",
            path.as_str()
        )))
    }
}

/// `POST /api/byok/credentials/{provider}/verify`.
pub(crate) async fn verify_credential(
    req: HttpRequest,
    path: web::Path<String>,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let target = target(&path)?;
    let secret = state
        .vault
        .get(&user.id, &path)
        .await
        .map_err(|e| internal("vault get", &e))?
        .ok_or_else(|| ApiError::not_found(format!("no credential for `{}`", path.as_str())))?;
    let result: Result<(), String> = match target {
        Target::Chat(p) => {
            let c = Credential::parse(p, &secret, state.policy)?;
            match state.providers.get(p) {
                Some(adapter) => adapter
                    .list_models(&c)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                None => Err(format!("{p} cannot be verified yet")),
            }
        }
        Target::Search(s) => match state.search.get(s) {
            Some(adapter) => adapter
                .search(&SearchRequest::new("byok key check"), &secret)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => Err("unavailable".into()),
        },
    };
    Ok(HttpResponse::Ok().json(match result {
        Ok(()) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "error": e}),
    }))
}

// ---------------------------------------------------------------- chat

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

fn message_texts(r: &ChatRequest) -> Vec<String> {
    r.messages
        .iter()
        .map(|m| match m {
            Message::System { content, .. }
            | Message::Developer { content, .. }
            | Message::User { content, .. } => content.text(),
            Message::Tool { content, .. } => content.text(),
            Message::Assistant {
                content,
                tool_calls,
                ..
            } => {
                let mut t = content.as_ref().map(Content::text).unwrap_or_default();
                for c in tool_calls.iter().flatten() {
                    t.push_str(&c.function.name);
                    t.push_str(&c.function.arguments);
                }
                t
            }
        })
        .collect()
}

/// Tokens reserved per image part (high-detail images cost ~1.1k tokens at
/// OpenAI, ~1.6k at Anthropic for the largest sizes).
const IMAGE_TOKENS_BOUND: u64 = 2_000;

/// An upper bound of the prompt's tokens without running a tokenizer on the
/// request path: a BPE token is at least one byte, so bytes + the chat
/// framing (4 per message + 3) + a bound per image can only over-count.
/// (The tokenizer runs only when a provider reports no usage.)
fn prompt_upper_bound(request: &ChatRequest, texts: &[String]) -> u64 {
    let bytes: usize = texts.iter().map(String::len).sum();
    let images = request
        .messages
        .iter()
        .filter_map(|m| match m {
            Message::User {
                content: Content::Parts(parts),
                ..
            } => Some(parts),
            _ => None,
        })
        .flatten()
        .filter(|p| matches!(p, byok_providers::ContentPart::ImageUrl { .. }))
        .count();
    let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    n(bytes)
        .saturating_add(4 * n(request.messages.len()) + 3)
        .saturating_add(IMAGE_TOKENS_BOUND * n(images))
}

/// Everything needed to settle a request once its usage is known.
struct Settlement {
    state: Data,
    request_id: String,
    account: String,
    provider: ProviderId,
    model: String,
    prompt_texts: Vec<String>,
    reserved: bool,
}

impl Settlement {
    /// Prices and records the request (off the request path: the ledger
    /// writer commits it in a batch). Returns the charge for the headers.
    fn settle(self, reported: Option<&Usage>, delivered: &str) -> Option<byok_billing::Charge> {
        let (usage, source) = usage_or_estimate(
            reported.map(to_token_usage),
            &self.model,
            self.prompt_texts.iter().map(String::as_str),
            delivered,
        );
        let options = QuoteOptions {
            markup: byok_billing::Bps(self.state.settings.markup_bps),
            free_tier: false,
        };
        match quote(
            &self.state.catalog,
            self.provider.as_str(),
            &self.model,
            &usage,
            source,
            options,
        ) {
            Ok(charge) => {
                let markup = if self.reserved {
                    charge.markup
                } else {
                    byok_billing::Money::ZERO
                };
                self.state.metrics.usage(
                    self.provider.as_str(),
                    usage.prompt,
                    usage.completion,
                    markup.nanos(),
                );
                let entry = LedgerEntry {
                    request_id: self.request_id.clone(),
                    account: self.account.clone(),
                    created_at_ms: byok_billing::now_ms(),
                    provider: self.provider.as_str().to_owned(),
                    model: self.model.clone(),
                    endpoint: "/api/v1/chat/completions".into(),
                    prompt_tokens: usage.prompt,
                    completion_tokens: usage.completion,
                    cached_tokens: usage.cached,
                    usage_source: source,
                    provider_cost: charge.provider_cost,
                    markup,
                    price_source: charge.price_source,
                };
                drop(self.state.ledger.submit(Command::Settle(Box::new(entry))));
                Some(byok_billing::Charge { markup, ..charge })
            }
            Err(e) => {
                tracing::error!(request_id = %self.request_id, error = %e, "cannot price a finished request; releasing its reservation");
                drop(self.state.ledger.submit(Command::Release {
                    request_id: self.request_id.clone(),
                }));
                None
            }
        }
    }

    fn release(self) {
        if self.reserved {
            drop(self.state.ledger.submit(Command::Release {
                request_id: self.request_id,
            }));
        }
    }
}

/// The SSE body: chunks as they arrive, an error event if the upstream
/// fails mid-stream, `[DONE]`; settles when it ends or when the client goes
/// away (dropping it drops the upstream stream).
struct SseBody {
    inner: ChatStream,
    transcript: Transcript,
    settlement: Option<Settlement>,
    finished: bool,
    /// Events are encoded here and split off: one allocation serves many
    /// chunks.
    buf: bytes::BytesMut,
    /// Web-search citations (a JSON array) still to send: a top-level
    /// `citations` member of the first chunk, as in non-streamed answers.
    citations: Option<Vec<u8>>,
}

/// Size of the SSE body's encode buffer (refilled when less than a typical
/// chunk is left).
const SSE_BUF: usize = 8 * 1024;

impl SseBody {
    fn settle(&mut self) {
        if let Some(s) = self.settlement.take() {
            let usage = match self.inner.usage() {
                UsageReport::Reported(u) => Some(u),
                _ => None,
            };
            let mut delivered = self.transcript.content.clone();
            delivered.push_str(&self.transcript.reasoning);
            for c in &self.transcript.tool_calls {
                delivered.push_str(&c.function.name);
                delivered.push_str(&c.function.arguments);
            }
            s.settle(usage.as_ref(), &delivered);
        }
    }
}

impl Drop for SseBody {
    fn drop(&mut self) {
        self.settle();
    }
}

impl Stream for SseBody {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                let this = &mut *self;
                this.transcript.push(&chunk);
                if this.buf.capacity() - this.buf.len() < 1024 {
                    this.buf.reserve(SSE_BUF);
                }
                let verbatim = this.inner.take_verbatim();
                if let Some(citations) = this.citations.take() {
                    let json = match verbatim {
                        Some(json) => json.into_bytes(),
                        None => serde_json::to_vec(&chunk).unwrap_or_default(),
                    };
                    // `{"citations":[...],` + the chunk's other members.
                    if let Some(rest) = json.strip_prefix(b"{").filter(|r| r.len() > 1) {
                        this.buf.extend_from_slice(b"data: {\"citations\":");
                        this.buf.extend_from_slice(&citations);
                        this.buf.extend_from_slice(b",");
                        this.buf.extend_from_slice(rest);
                        this.buf.extend_from_slice(b"\n\n");
                    }
                } else if let Some(json) = verbatim {
                    // Already in OpenAI's exact shape: forwarded as it came.
                    this.buf.extend_from_slice(b"data: ");
                    this.buf.extend_from_slice(json.as_bytes());
                    this.buf.extend_from_slice(b"\n\n");
                } else if byok_providers::sse::encode_json(&chunk, &mut this.buf).is_err() {
                    return Poll::Ready(Some(Ok(Bytes::new())));
                }
                Poll::Ready(Some(Ok(this.buf.split().freeze())))
            }
            Poll::Ready(Some(Err(e))) => {
                self.finished = true;
                self.settle();
                let err = ApiError::from(e);
                let mut out = Vec::new();
                byok_providers::sse::encode_data(err.body().to_string().as_bytes(), &mut out);
                out.extend_from_slice(b"data: [DONE]\n\n");
                Poll::Ready(Some(Ok(Bytes::from(out))))
            }
            Poll::Ready(None) => {
                self.finished = true;
                self.settle();
                Poll::Ready(Some(Ok(Bytes::from_static(b"data: [DONE]\n\n"))))
            }
        }
    }
}

/// `POST /api/v1/chat/completions`.
pub(crate) async fn chat(
    req: HttpRequest,
    payload: web::Payload,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let result = match read_body(payload, state.settings.max_body_bytes).await {
        Ok(body) => chat_inner(&req, &body, &state).await,
        Err(e) => Err(e),
    };
    let status = result
        .as_ref()
        .map_or_else(|e| e.status.as_u16(), |r| r.status().as_u16());
    state
        .metrics
        .request("/api/v1/chat/completions", status, started.elapsed());
    result
}

async fn chat_inner(
    req: &HttpRequest,
    body: &[u8],
    state: &Data,
) -> Result<HttpResponse, ApiError> {
    let user = authenticate(req, state).await?;
    if let Err(wait) = state.limiter.check(&user.id) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "too many requests; slow down",
        )
        .code("rate_limited");
        e.retry_after = Some(wait);
        return Err(e);
    }
    let mut request: ChatRequest = serde_json::from_slice(body).map_err(|e| json_error(&e))?;
    request.validate()?;
    let web = take_web_search(&mut request)?;
    let held: Vec<ProviderId> = held_names(state, &user)
        .await?
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    let explicit = req
        .headers()
        .get("x-byok-provider")
        .and_then(|v| v.to_str().ok());
    let route = resolve(&request.model, explicit, &held)?;
    request.model = route.model.clone();
    let adapter = state
        .providers
        .get(route.provider)
        .ok_or_else(|| ApiError::bad_request(format!("{} is not available", route.provider)))?;
    let secret = state
        .vault
        .get(&user.id, route.provider.as_str())
        .await
        .map_err(|e| internal("vault get", &e))?
        .ok_or_else(|| ApiError::bad_request(format!("no credential for {}", route.provider)))?;
    let credential = Credential::parse(route.provider, &secret, state.policy)?;
    drop(secret);
    let citations = match web {
        Some(options) => Some(augment_with_search(state, &user, &mut request, options).await?),
        None => None,
    };

    let request_id = request_id();
    let prompt_texts = message_texts(&request);
    let markup_bps = state.settings.markup_bps;
    let options = QuoteOptions {
        markup: byok_billing::Bps(markup_bps),
        free_tier: false,
    };
    let mut reserved = false;
    if markup_bps > 0 {
        let prompt_estimate = prompt_upper_bound(&request, &prompt_texts);
        let max_out = request
            .max_completion_tokens
            .or(request.max_tokens)
            .unwrap_or(state.settings.default_max_output_tokens);
        let bound = max_markup(
            &state.catalog,
            route.provider.as_str(),
            &request.model,
            prompt_estimate,
            u64::from(max_out),
            options,
        )
        .map_err(|e| ApiError::bad_request(e.to_string()).param("model"))?;
        let outcome = state
            .ledger
            .run(Command::Reserve {
                account: user.id.clone(),
                request_id: request_id.clone(),
                amount: bound,
                expires_at_ms: byok_billing::now_ms() + 15 * 60 * 1000,
            })
            .await;
        match outcome {
            Ok(_) => reserved = true,
            Err(LedgerError::InsufficientBalance { available, needed }) => {
                return Err(ApiError::new(
                    StatusCode::PAYMENT_REQUIRED,
                    "insufficient_balance",
                    format!("insufficient balance: this request may cost up to {needed} USD in markup and {available} USD is available"),
                )
                .code("insufficient_balance"));
            }
            Err(e) => return Err(internal("ledger reserve", &e)),
        }
    }
    let settlement = Settlement {
        state: state.clone(),
        request_id: request_id.clone(),
        account: user.id.clone(),
        provider: route.provider,
        model: request.model.clone(),
        prompt_texts,
        reserved,
    };
    tracing::info!(request_id = %request_id, provider = %route.provider, stream = request.is_stream(), "chat request");
    if request.is_stream() {
        match adapter.chat_stream(&request, &credential).await {
            Ok(stream) => {
                let body = SseBody {
                    inner: stream,
                    transcript: Transcript::default(),
                    settlement: Some(settlement),
                    finished: false,
                    buf: bytes::BytesMut::new(),
                    citations: match &citations {
                        Some(c) => Some(serde_json::to_vec(c).map_err(|e| internal("encode", &e))?),
                        None => None,
                    },
                };
                Ok(HttpResponse::Ok()
                    .content_type("text/event-stream")
                    .insert_header(("cache-control", "no-cache"))
                    .insert_header(("x-byok-provider", route.provider.as_str()))
                    .insert_header(("x-request-id", request_id.as_str()))
                    .streaming(body))
            }
            Err(e) => {
                state.metrics.upstream_error(route.provider.as_str());
                settlement.release();
                Err(e.into())
            }
        }
    } else {
        match adapter.chat(&request, &credential).await {
            Ok(outcome) => {
                let delivered: String = outcome
                    .response
                    .choices
                    .iter()
                    .map(|c| {
                        let mut t = c.message.content.clone().unwrap_or_default();
                        t.push_str(c.message.reasoning_content.as_deref().unwrap_or(""));
                        for tc in c.message.tool_calls.iter().flatten() {
                            t.push_str(&tc.function.name);
                            t.push_str(&tc.function.arguments);
                        }
                        t
                    })
                    .collect();
                let source = if outcome.usage.reported().is_some() {
                    UsageSource::Reported
                } else {
                    UsageSource::Estimated
                };
                let charge = settlement.settle(outcome.usage.reported(), &delivered);
                let markup = charge.map_or_else(|| "0.00".to_owned(), |c| c.markup.to_string());
                // The upstream's own bytes when they are in OpenAI's exact
                // shape; otherwise straight to bytes, through a `Value` only
                // to add citations.
                let body: Bytes = match (citations, outcome.verbatim) {
                    (None, Some(raw)) => raw,
                    (None, None) => serde_json::to_vec(&outcome.response)
                        .map_err(|e| internal("encode", &e))?
                        .into(),
                    (Some(c), _) => serde_json::to_value(&outcome.response)
                        .and_then(|mut body| {
                            body["citations"] = json!(c);
                            serde_json::to_vec(&body)
                        })
                        .map_err(|e| internal("encode", &e))?
                        .into(),
                };
                Ok(HttpResponse::Ok()
                    .content_type("application/json")
                    .insert_header(("x-byok-provider", route.provider.as_str()))
                    .insert_header(("x-request-id", request_id.as_str()))
                    .insert_header(("x-byok-usage-source", source.as_str()))
                    .insert_header(("x-byok-markup-usd", markup))
                    .body(body))
            }
            Err(e) => {
                state.metrics.upstream_error(route.provider.as_str());
                settlement.release();
                Err(e.into())
            }
        }
    }
}

/// Web-search options of a chat request: the model suffix `:online` or the
/// body field `web_search: true | {"provider", "max_results"}` (removed
/// from the request either way, so no upstream sees it).
fn take_web_search(
    request: &mut ChatRequest,
) -> Result<Option<(Option<SearchProviderId>, u8)>, ApiError> {
    let field = request.extra.remove("web_search");
    let online = request.model.ends_with(":online");
    if online {
        let n = request.model.len() - ":online".len();
        request.model.truncate(n);
    }
    let options = match field {
        None | Some(Value::Bool(false)) | Some(Value::Null) => None,
        Some(Value::Bool(true)) => Some((None, byok_search::DEFAULT_RESULTS)),
        Some(Value::Object(o)) => {
            let provider = match o.get("provider").and_then(Value::as_str) {
                Some(p) => Some(p.parse::<SearchProviderId>()?),
                None => None,
            };
            let max = match o.get("max_results").and_then(Value::as_u64) {
                Some(n) if (1..=20).contains(&n) => {
                    u8::try_from(n).unwrap_or(byok_search::DEFAULT_RESULTS)
                }
                Some(_) => {
                    return Err(ApiError::bad_request(
                        "`web_search.max_results` must be between 1 and 20",
                    )
                    .param("web_search"));
                }
                None => byok_search::DEFAULT_RESULTS,
            };
            Some((provider, max))
        }
        Some(_) => {
            return Err(
                ApiError::bad_request("`web_search` must be true or an object").param("web_search"),
            );
        }
    };
    Ok(options.or(online.then_some((None, byok_search::DEFAULT_RESULTS))))
}

/// Searches with the user's search credential and puts the cited results
/// in a system message after the leading system messages.
async fn augment_with_search(
    state: &Data,
    user: &User,
    request: &mut ChatRequest,
    (provider, max_results): (Option<SearchProviderId>, u8),
) -> Result<Vec<byok_search::Citation>, ApiError> {
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

/// `GET /api/v1/models`: catalog models of the providers the user holds.
pub(crate) async fn models(req: HttpRequest, state: Data) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let held: Vec<String> = held_names(&state, &user)
        .await?
        .iter()
        .filter(|n| n.parse::<ProviderId>().is_ok())
        .cloned()
        .collect();
    let mut data: Vec<Value> = state
        .catalog
        .entries()
        .filter(|e| held.contains(&e.provider))
        .map(|e| json!({"id": format!("{}/{}", e.provider, e.model), "object": "model", "owned_by": e.provider}))
        .collect();
    data.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(HttpResponse::Ok().json(json!({"object": "list", "data": data})))
}

// ---------------------------------------------------------------- web search

#[derive(serde::Deserialize)]
struct WebBody {
    provider: Option<String>,
    #[serde(flatten)]
    request: SearchRequest,
}

/// The search provider for a user's search: the one asked for, if they hold
/// its credential, else the first of tavily, exa, kagi, perplexity they hold.
/// Errors name `param`.
async fn search_provider(
    state: &Data,
    user: &User,
    asked: Option<SearchProviderId>,
    param: &str,
) -> Result<SearchProviderId, ApiError> {
    let held: Vec<SearchProviderId> = held_names(state, user)
        .await?
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
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
async fn run_search(
    state: &Data,
    user: &User,
    provider: SearchProviderId,
    request: &SearchRequest,
) -> Result<byok_search::SearchResponse, ApiError> {
    let key = state
        .vault
        .get(&user.id, provider.as_str())
        .await
        .map_err(|e| internal("vault get", &e))?
        .ok_or_else(|| ApiError::bad_request(format!("no credential for {provider}")))?;
    let adapter = state.search.get(provider).ok_or_else(ApiError::internal)?;
    Ok(adapter.search(request, &key).await?)
}

/// `POST /api/web`.
pub(crate) async fn web_search(
    req: HttpRequest,
    payload: web::Payload,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let body = read_body(payload, state.settings.max_body_bytes).await?;
    if let Err(wait) = state.limiter.check(&user.id) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "too many requests; slow down",
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    let parsed: WebBody = serde_json::from_slice(&body).map_err(|e| json_error(&e))?;
    parsed.request.validate()?;
    let asked = match parsed.provider.as_deref() {
        Some(p) => Some(p.parse::<SearchProviderId>()?),
        None => None,
    };
    let provider = search_provider(&state, &user, asked, "provider").await?;
    let answer = run_search(&state, &user, provider, &parsed.request).await?;
    Ok(HttpResponse::Ok().json(answer))
}

// ---------------------------------------------------------------- usage

#[derive(serde::Deserialize)]
pub(crate) struct UsageQuery {
    limit: Option<usize>,
    before: Option<i64>,
}

/// `GET /api/usage?limit=&before=`.
pub(crate) async fn usage(
    req: HttpRequest,
    q: web::Query<UsageQuery>,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let before = q.before;
    let ledger = state.ledger.clone();
    let entries = web::block(move || ledger.entries(&user.id, limit, before))
        .await
        .map_err(|e| internal("usage", &e))?
        .map_err(|e| internal("usage", &e))?;
    let next = entries.last().map(|e| e.seq);
    Ok(HttpResponse::Ok().json(json!({"data": entries.iter().map(byok_billing::StoredEntry::to_api_json).collect::<Vec<_>>(), "next_before": next})))
}

/// `GET /api/balance`.
pub(crate) async fn balance(req: HttpRequest, state: Data) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let ledger = state.ledger.clone();
    let b = web::block(move || ledger.balance(&user.id))
        .await
        .map_err(|e| internal("balance", &e))?
        .map_err(|e| internal("balance", &e))?;
    Ok(HttpResponse::Ok().json(
        json!({"balance_usd": b.balance.to_string(), "reserved_usd": b.reserved.to_string()}),
    ))
}

// ---------------------------------------------------------------- admin

#[derive(serde::Deserialize)]
pub(crate) struct NewUser {
    name: String,
}

/// `POST /api/admin/users`.
pub(crate) async fn admin_create_user(
    req: HttpRequest,
    body: web::Json<NewUser>,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    admin(&req, &state)?;
    let accounts = state.accounts.clone();
    let name = body.into_inner().name;
    let (user, key) = web::block(move || accounts.create_user(&name))
        .await
        .map_err(|e| internal("create user", &e))?
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(HttpResponse::Ok().json(json!({"user_id": user.id, "api_key": key.expose_secret()})))
}

#[derive(serde::Deserialize)]
pub(crate) struct Credit {
    amount_usd: String,
}

/// `POST /api/admin/users/{id}/credits`.
pub(crate) async fn admin_credit(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Credit>,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    admin(&req, &state)?;
    let amount: byok_billing::Money = body.amount_usd.parse().map_err(|_| {
        ApiError::bad_request("`amount_usd` must be a decimal USD amount like \"10.00\"")
            .param("amount_usd")
    })?;
    if amount.is_negative() || amount == byok_billing::Money::ZERO {
        return Err(ApiError::bad_request("`amount_usd` must be positive").param("amount_usd"));
    }
    let accounts = state.accounts.clone();
    let id = path.into_inner();
    let check = id.clone();
    if !web::block(move || accounts.user_exists(&check))
        .await
        .map_err(|e| internal("user", &e))?
        .map_err(|e| internal("user", &e))?
    {
        return Err(ApiError::not_found("unknown user"));
    }
    state
        .ledger
        .run(Command::Credit {
            account: id.clone(),
            request_id: format!("credit_{}", request_id()),
            amount,
        })
        .await
        .map_err(|e| internal("credit", &e))?;
    let ledger = state.ledger.clone();
    let b = web::block(move || ledger.balance(&id))
        .await
        .map_err(|e| internal("balance", &e))?
        .map_err(|e| internal("balance", &e))?;
    Ok(HttpResponse::Ok().json(json!({"balance_usd": b.balance.to_string()})))
}

// ---------------------------------------------------------------- gateway keys

/// `GET /api/keys`: the user's gateway keys by prefix (never the keys).
pub(crate) async fn list_keys(req: HttpRequest, state: Data) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let accounts = state.accounts.clone();
    let keys = web::block(move || accounts.list_keys(&user.id))
        .await
        .map_err(|e| internal("keys", &e))?
        .map_err(|e| internal("keys", &e))?;
    let data: Vec<Value> = keys
        .into_iter()
        .map(|(prefix, created, revoked)| json!({"prefix": prefix, "created_at": byok_billing::rfc3339(created), "revoked": revoked}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"data": data})))
}

/// `POST /api/keys`: a new gateway key for the user, shown once.
pub(crate) async fn create_key(req: HttpRequest, state: Data) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let accounts = state.accounts.clone();
    let (prefix, key) = web::block(move || accounts.create_key(&user.id))
        .await
        .map_err(|e| internal("keys", &e))?
        .map_err(|e| internal("keys", &e))?;
    Ok(HttpResponse::Ok().json(json!({"prefix": prefix, "api_key": key.expose_secret()})))
}

/// `DELETE /api/keys/{prefix}`: revokes the user's key with that prefix.
pub(crate) async fn revoke_key(
    req: HttpRequest,
    path: web::Path<String>,
    state: Data,
) -> Result<HttpResponse, ApiError> {
    let user = authenticate(&req, &state).await?;
    let accounts = state.accounts.clone();
    let prefix = path.into_inner();
    let n = web::block(move || accounts.revoke_key(&user.id, &prefix))
        .await
        .map_err(|e| internal("keys", &e))?
        .map_err(|e| internal("keys", &e))?;
    if n == 0 {
        return Err(ApiError::not_found("no active key with that prefix"));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    #[test]
    fn request_ids_are_time_ordered_unique_and_hex() {
        let ids: Vec<String> = (0..2000).map(|_| request_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.starts_with("req_"));
            assert!(id[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "no duplicates");
        // The time prefix never goes backwards between consecutive ids.
        for w in ids.windows(2) {
            assert!(w[0][4..16] <= w[1][4..16], "{} then {}", w[0], w[1]);
        }
        let ms = u64::from_str_radix(&ids[0][4..16], 16).unwrap();
        let now = u64::try_from(byok_billing::now_ms()).unwrap();
        assert!(now - ms < 60_000, "the prefix is the time in ms");
    }
}
