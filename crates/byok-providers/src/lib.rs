//! Provider adapters behind one neutral, OpenAI-shaped chat API.
//!
//! A caller (the byok server, or any Rust program) builds a [`ChatRequest`]
//! in OpenAI's chat-completions shape, picks a provider with [`resolve`],
//! parses the user's [`Credential`], and calls a [`ChatProvider`] from the
//! [`Registry`]. Every adapter answers in the same neutral types: a
//! [`ChatResponse`], or a [`ChatStream`] of [`StreamItem`]s (each a
//! [`ChatChunk`], with its upstream JSON when that may be forwarded as it
//! came) followed by the [`UsageReport`] the provider gave (`reported` or
//! `missing`).
//!
//! # Shape
//!
//! - **One table** ([`PROVIDERS`], written with one declarative macro)
//!   is the single source of truth for the providers: it generates the
//!   [`ProviderId`] enum, the rows (id, name, wire format, target, default
//!   base URL, quirks) and the routing [`FAMILIES`]. Adding a provider that
//!   speaks OpenAI's chat dialect is one row plus its price rows.
//! - **Format apart from target.** A row's [`WireFormat`] (OpenAI chat,
//!   Responses, Anthropic Messages, Gemini, Bedrock Converse) picks the
//!   translator: [`OpenAiCompatible`] (rows of data with [`Quirks`]),
//!   [`Responses`], [`Anthropic`], [`Google`], [`Bedrock`]. Its
//!   [`TargetKind`] says where requests go and how they are authorised: a
//!   base URL with the format's key header, or Azure deployments, Azure
//!   Responses and Azure AI Foundry, which are targets of the OpenAI chat,
//!   Responses and Anthropic formats. The [`Registry`] dispatches on the
//!   format in one place; the target is resolved with the credential in
//!   one place. The mapping tables are in the repository's
//!   `docs/providers.md`.
//! - **Object-safe trait.** [`ChatProvider`] has `chat`, `chat_stream` and
//!   `list_models`.
//! - **No hidden I/O.** The HTTP client ([`upstream_client`]) and the
//!   [`ProviderConfig`] (base-URL overrides, timeouts, limits) are passed in;
//!   nothing reads the environment.
//! - **Keys stay secret.** Credentials are `secrecy` types, exposed only where
//!   an auth header is built (marked sensitive) and where Bedrock signs a
//!   request (SigV4). Errors carry
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
//! use byok_providers::{ChatProvider, ChatRequest, Credential, EndpointPolicy, ProviderConfig, ProviderId, Registry, upstream_client, resolve};
//! use secrecy::SecretString;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ProviderConfig::default();
//! let registry = Registry::new(upstream_client(&config.timeouts, config.endpoint_policy)?, config);
//! let request: ChatRequest = serde_json::from_str(
//!     r#"{"model":"llama-3.3-70b-versatile","messages":[{"role":"user","content":"Hello"}]}"#,
//! )?;
//! let route = resolve(&request.model, Some("groq"), &[ProviderId::Groq])?;
//! let credential = Credential::parse(route.provider, &SecretString::from("gsk_..."), EndpointPolicy::default())?;
//! let provider = registry.get(route.provider);
//! let outcome = provider.chat(&request, &credential).await?;
//! println!("{:?}", outcome.response.choices[0].message.content);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod common;
mod credential;
mod error;
mod forward;
/// The fuzz targets' bodies (`fuzz/` and this crate's stable tests).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod id;
pub mod inbound;
mod limits;
mod object;
mod provider;
mod resolver;
mod routing;
pub mod sse;
mod stream;
mod target;
#[cfg(test)]
mod test_support;
mod translators;
mod transport;
mod types;

pub use credential::{
    AZURE_HOST_SUFFIXES, AwsAuth, AwsCredential, AzureCredential, Credential, EndpointPolicy,
    HostedKey, MAX_CREDENTIAL_LEN, is_aws_region, validate_endpoint,
};
pub use error::{
    CredentialError, ProviderError, RouteError, TimeoutPhase, UpstreamErrorKind, sanitize,
};
pub use forward::{Forward, ForwardBody, Forwarded};
pub use id::{
    CredentialFormat, FAMILIES, Host, HostField, PROVIDERS, ProviderId, ProviderInfo, Quirks,
    TargetKind, UnknownProvider, WireFormat,
};
pub use limits::output_token_limit;
pub use provider::{
    ChatOutcome, ChatProvider, Limits, ProviderConfig, Registry, Timeouts, http_client,
    upstream_client,
};
pub use resolver::{PublicOnlyResolver, is_public_ip};
pub use routing::{Family, Pattern, Route, resolve};
pub use stream::{
    ChatStream, EventStream, StreamEvent, StreamItem, Transcript, UsageReport, VerbatimChunk,
};
pub use translators::anthropic::{
    ANTHROPIC_VERSION, Anthropic, DEFAULT_MAX_TOKENS, encode_request as encode_anthropic_request,
};
pub use translators::bedrock::embeddings::{
    BedrockEmbeddings, MAX_EMBEDDING_INPUTS, decode_embeddings as decode_bedrock_embeddings,
    encode_embeddings as encode_bedrock_embeddings,
};
pub use translators::bedrock::{
    Bedrock, encode_model_id, encode_request as encode_bedrock_request, sign_v4,
};
pub use translators::embeddings::Embedded;
pub use translators::gemini::embeddings::{
    GeminiEmbeddings, decode_embeddings as decode_gemini_embeddings,
    encode_embeddings as encode_gemini_embeddings,
};
pub use translators::gemini::{
    Google, SIGNATURE_SEPARATOR, encode_request as encode_google_request,
};
pub use translators::openai::{OpenAiCompatible, Translated, encode_request, translate_event};
pub use translators::responses::{Responses, encode_request as encode_responses_request};
pub use transport::{
    BodyStream, ClientError, HttpClient, IntoUri, RequestBuilder, Response, TransportError,
};
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
    let mut translator: Box<dyn http::SseTranslate> =
        match id.info().format {
            WireFormat::AnthropicMessages => Box::new(
                translators::anthropic::AnthropicStream::new(id, wants_usage, secret),
            ),
            WireFormat::Responses => Box::new(translators::responses::ResponsesStream::new(
                id,
                wants_usage,
                secret,
            )),
            WireFormat::Gemini => Box::new(translators::gemini::GoogleStream::new(
                id,
                wants_usage,
                secret,
            )),
            WireFormat::OpenAiChat(_) => Box::new(translators::openai::OpenAiStream::new(
                id,
                wants_usage,
                secret,
            )),
            WireFormat::BedrockConverse => {
                return Err(ProviderError::Unsupported {
                    provider: id,
                    what: "SSE events for Bedrock (use translate_bedrock_frames)".into(),
                });
            }
        };
    for e in events {
        // Owned, as the decoder hands each event over (it allocates each
        // event's data as it decodes).
        if translator.event(e.clone(), &mut out)? {
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
    id: ProviderId,
    bytes: &[u8],
    piece: usize,
    wants_usage: bool,
) -> Result<Vec<StreamEvent>, ProviderError> {
    let mut reader = translators::bedrock::FrameReader::new(id, 4 << 20);
    let mut translator = translators::bedrock::BedrockStream::new(id, "model", wants_usage, None);
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
