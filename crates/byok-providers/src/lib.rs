//! Provider adapters behind one neutral, OpenAI-shaped chat API.
//!
//! A caller (the byok server, or any Rust program) builds a [`ChatRequest`]
//! in OpenAI's chat-completions shape, picks a provider with [`resolve`],
//! parses the user's [`Credential`], and calls a [`ChatProvider`] from the
//! [`Registry`]. Every adapter answers in the same neutral types: a
//! [`ChatResponse`], or a [`ChatStream`] of [`ChatChunk`]s followed by the
//! [`UsageReport`] the provider gave (`reported` or `missing`).
//!
//! # Shape
//!
//! - **One table** ([`PROVIDERS`]) describes all 26 providers: id, name,
//!   credential format, translator ([`Dialect`]), default base URL, quirks.
//!   The 19 providers that speak OpenAI's dialect are rows of data handled by
//!   one module ([`OpenAiCompatible`], which also serves Azure OpenAI);
//!   Anthropic ([`Anthropic`]), OpenAI Responses ([`Responses`]), Gemini
//!   ([`Google`]) and Bedrock ([`Bedrock`]) have translator modules of their
//!   own. The mapping tables are in the repository's `docs/providers.md`.
//! - **Object-safe trait.** [`ChatProvider`] has `chat`, `chat_stream` and
//!   `list_models`; what a provider supports is [`Capabilities`] data.
//! - **No hidden I/O.** The HTTP client ([`http_client`]) and the
//!   [`ProviderConfig`] (base-URL overrides, timeouts, limits) are passed in;
//!   nothing reads the environment.
//! - **Keys stay secret.** Credentials are `secrecy` types, exposed only where
//!   an adapter builds its auth header (marked sensitive). Errors carry
//!   sanitised upstream messages ([`sanitize`]) and never URLs or bodies.
//!
//! # Routing
//!
//! See [`resolve`] (module `routing`): explicit header, then
//! `<provider>/<model>` prefix, then the model-family table [`FAMILIES`],
//! then "the only provider the user holds", always restricted to the
//! providers the user has a credential for.
//!
//! # Example
//!
//! ```no_run
//! use byok_providers::{ChatProvider, ChatRequest, Credential, EndpointPolicy, ProviderConfig, ProviderId, Registry, http_client, resolve};
//! use secrecy::SecretString;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ProviderConfig::default();
//! let registry = Registry::new(http_client(&config.timeouts, config.endpoint_policy)?, config);
//! let request: ChatRequest = serde_json::from_str(
//!     r#"{"model":"llama-3.3-70b-versatile","messages":[{"role":"user","content":"Hello"}]}"#,
//! )?;
//! let route = resolve(&request.model, Some("groq"), &[ProviderId::Groq])?;
//! let credential = Credential::parse(route.provider, &SecretString::from("gsk_..."), EndpointPolicy::default())?;
//! let provider = registry.get(route.provider).expect("groq speaks the OpenAI dialect");
//! let outcome = provider.chat(&request, &credential).await?;
//! println!("{:?}", outcome.response.choices[0].message.content);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod anthropic;
mod bedrock;
mod common;
mod credential;
mod error;
mod google;
mod http;
mod id;
mod openai;
mod provider;
mod resolver;
mod responses;
mod routing;
pub mod sse;
mod stream;
#[cfg(test)]
mod test_support;
mod types;

pub use anthropic::{
    ANTHROPIC_VERSION, Anthropic, DEFAULT_MAX_TOKENS, encode_request as encode_anthropic_request,
};
pub use bedrock::{Bedrock, encode_model_id, encode_request as encode_bedrock_request, sign_v4};
pub use credential::{
    AZURE_HOST_SUFFIXES, AwsAuth, AwsCredential, AzureCredential, Credential, EndpointPolicy,
    MAX_CREDENTIAL_LEN, is_aws_region, validate_endpoint,
};
pub use error::{
    CredentialError, ProviderError, RouteError, TimeoutPhase, UpstreamErrorKind, sanitize,
};
pub use google::{Google, SIGNATURE_SEPARATOR, encode_request as encode_google_request};
pub use id::{
    CredentialFormat, Dialect, PROVIDERS, ProviderId, ProviderInfo, Quirks, UnknownProvider,
};
pub use openai::{OpenAiCompatible, Translated, encode_request, translate_event};
pub use provider::{
    Capabilities, ChatOutcome, ChatProvider, Limits, ProviderConfig, Registry, Timeouts,
    http_client,
};
pub use resolver::{PublicOnlyResolver, is_public_ip};
pub use responses::{Responses, encode_request as encode_responses_request};
pub use routing::{FAMILIES, Family, Pattern, Route, resolve};
pub use stream::{ChatStream, EventStream, StreamEvent, Transcript, UsageReport};
pub use types::*;

/// Runs a dialect's stream translator over already-decoded SSE events and
/// returns what it produced (benchmarks and tests; the adapters do this
/// incrementally over the network).
///
/// # Errors
/// The translator's error, if any event is invalid.
#[doc(hidden)]
pub fn translate_sse_events(
    id: ProviderId,
    events: &[sse::SseEvent],
    wants_usage: bool,
) -> Result<Vec<StreamEvent>, ProviderError> {
    let secret = secrecy::SecretString::from("");
    let mut out = std::collections::VecDeque::new();
    let mut translator: Box<dyn http::SseTranslate> = match id.info().dialect {
        Dialect::Anthropic | Dialect::AzureAnthropic => {
            Box::new(anthropic::AnthropicStream::new(id, wants_usage, secret))
        }
        Dialect::OpenAiResponses | Dialect::AzureResponses => {
            Box::new(responses::ResponsesStream::new(id, wants_usage, secret))
        }
        Dialect::Google => Box::new(google::GoogleStream::new(wants_usage)),
        _ => Box::new(openai::OpenAiStream::new(id, wants_usage, secret)),
    };
    for e in events {
        if translator.event(e, &mut out)? {
            break;
        }
    }
    out.into_iter().collect()
}

/// Runs the Bedrock stream translator over raw event-stream bytes, fed in
/// pieces of `piece` bytes (benchmarks and tests).
///
/// # Errors
/// Frame or translation errors.
#[doc(hidden)]
pub fn translate_bedrock_frames(
    bytes: &[u8],
    piece: usize,
    wants_usage: bool,
) -> Result<Vec<StreamEvent>, ProviderError> {
    let mut reader = bedrock::FrameReader::new(4 << 20);
    let mut translator = bedrock::BedrockStream::new("model", wants_usage, None);
    let mut frames = Vec::new();
    let mut out = std::collections::VecDeque::new();
    for chunk in bytes.chunks(piece.max(1)) {
        reader.push(chunk, &mut frames)?;
        for m in frames.drain(..) {
            translator.message(&m, &mut out)?;
        }
    }
    translator.finish(&mut out)?;
    out.into_iter().collect()
}
