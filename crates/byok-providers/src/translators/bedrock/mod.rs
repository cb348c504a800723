//! AWS Bedrock, Converse API (`aws`).
//!
//! `POST {base}/model/{modelId}/converse` and `/converse-stream`, where the
//! base is `https://bedrock-runtime.{region}.amazonaws.com` (or the
//! operator's `BYOK_UPSTREAM_AWS`). Requests are signed with SigV4 by the
//! `aws-sigv4` crate for the credential's region and service `bedrock`
//! (session tokens included); the model id is percent-encoded once in the
//! path and `aws-sigv4` encodes it again in the canonical request, as AWS
//! requires. A credential holding a Bedrock API key (`apiKey`) is sent as
//! `Authorization: Bearer` instead.
//!
//! Streams are AWS event-stream frames, decoded by `aws-smithy-eventstream`
//! (CRC-checked; frames may be split anywhere; a frame larger than the event
//! limit is refused). Exceptions (`:message-type: exception`) end the stream
//! with an error; `metadata` usage may arrive after `messageStop`, so the
//! stream ends at EOF. Mapping table in `docs/providers.md`; what this
//! module adds to it:
//!
//! | chat | Converse |
//! |---|---|
//! | `tool_choice` `auto` / `required` / named | `toolChoice` `auto` / `any` / `tool` |
//! | `tool_choice: none`, history without tool blocks | no `toolConfig` (the model cannot call a tool it was not given) |
//! | `tool_choice: none`, history with `toolUse`/`toolResult` | 400: Converse then requires `toolConfig` and has no `none` choice |
//! | no `tools`, history with tool calls | `toolConfig` declaring the called tools, schema `{"type": "object"}`, no `toolChoice` |
//! | `reasoningContent.reasoningText` `text` + `signature` | `reasoning_content` + `reasoning_details` `{"type": "reasoning.text", "text", "signature", "format": "bedrock-converse", "index"}` |
//! | `reasoningContent.redactedContent` | `reasoning_details` `{"type": "reasoning.encrypted", "data", "format": "bedrock-converse", "index"}` |
//! | assistant `reasoning_details` (format `bedrock-converse`) | `reasoningContent` blocks first in that assistant turn (streamed pieces of one `index` joined) |
//! | response / stream id (Converse has none) | a fresh `chatcmpl-` + 32 hex digits |
//! | `response_format` `json_schema` | `outputConfig.textFormat` `{"type": "json_schema", "structure": {"jsonSchema": {"schema": <JSON text>, "name", "description"}}}`, merged into a client `outputConfig` (its keys win); the answer is JSON text in `content` |
//! | `response_format` `json_object` | 400 (Converse structured output needs a schema) |
//! | `cache_control` on a text / image / file part, a system part, a tool, a tool-result part | `{"cachePoint": {"type": "default"}}` after that block (after the whole `toolResult` for a tool-result part; system parts then go as separate text blocks) |
//! | usage `cacheReadInputTokens` / `cacheWriteInputTokens` | `prompt_tokens_details.cached_tokens` / `cache_write_tokens`, both counted in `prompt_tokens` (answer and stream `metadata`) |
//! | `file` part, `file_data` a base64 `data:` URL | `document {format, name, source.bytes}` (pdf, csv, doc, docx, xls, xlsx, html, txt, md by media type; image types as `image`); `name`: the filename without extension, characters other than alphanumerics, hyphens, parentheses and brackets as single spaces, at most 200, else `document-N` |
//! | `file` part with `file_id`, other media types, remote image URLs | 400 (`Bedrock needs images as data: URLs (base64)`) |
//! | tool message with parts | `toolResult.content` text / image / document blocks; `is_error: true` → `status: "error"` |
//! | `function.strict: true` | `toolSpec.strict: true` |
//! | `reasoning_effort` / `reasoning {effort, max_tokens, enabled}`, Claude | the Anthropic translator's rules (its `effort` module) in `additionalModelRequestFields`: Claude ≥ 4.6 `thinking {"type": "adaptive"}` + `output_config.effort`, earlier `thinking {"type": "enabled", "budget_tokens"}` (minimal/low 1024, medium 4096, high 16384, xhigh/max 32768, or `max_tokens`, at least 1024), merged into the client's fields (its own `thinking` wins); `maxTokens` raised to budget + limit (else + 4096) when not above the budget; `temperature` ≠ 1, `top_p` < 0.95 or a forced `tool_choice` with thinking: 400 |
//! | the same, Amazon Nova 2 | `additionalModelRequestFields.reasoningConfig {"type": "enabled", "maxReasoningEffort"}` (minimal/low → low, medium, high/xhigh/max → high; `enabled: true` → medium); `reasoning.max_tokens`: 400 |
//! | the same, other models | 400 naming the model; `none` / disabled is never refused |
//! | stop `malformed_model_output` / `malformed_tool_use` | `stop`, and `native_finish_reason` on the choice |
//! | `citationsContent` (and streamed `citation` deltas) | its text in `content`; citations with a `web` location (or a URL `source`) as `annotations` `url_citation` over the block's text (char indices), in `message.extra` / `delta.extra` at the block's end; document citations have no URL and are left out |
//!
//! # Layout
//!
//! | file | holds |
//! |---|---|
//! | `request.rs` | neutral request → wire body (`refuse`, `messages` with replayed reasoning, `inference_config`, `tool_config`) |
//! | `parts.rs` | content parts → blocks: text, images, documents, tool results, cache points |
//! | `options.rs` | reasoning → `additionalModelRequestFields`, the `maxTokens`, `temperature` and `topP` sent, `outputConfig` |
//! | `roundtrip.rs` | (tests) streamed-reassembled == whole, property-tested |
//! | `response.rs` | the Converse answer → [`ChatResponse`](crate::ChatResponse), stop reasons, usage, reasoning details, citations, fresh ids |
//! | `stream.rs` | event-stream frames → typed events (named by `:event-type`) → chunks |
//! | `embeddings.rs` | OpenAI's embeddings ↔ `InvokeModel` of Titan Text Embeddings and Cohere Embed (its own table) |
//! | `mod.rs` | the adapter ([`ChatProvider`](crate::ChatProvider)): regional URL, SigV4 or Bearer, HTTP, signed pass-through (`InvokeModel`); [`sign_v4`], [`encode_model_id`] |

pub(crate) mod embeddings;
pub(crate) mod options;
mod parts;
mod request;
mod response;
#[cfg(test)]
mod roundtrip;
mod stream;

use std::sync::Arc;
use std::time::SystemTime;

use ::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use secrecy::{ExposeSecret, SecretString};

pub use self::request::encode_request;
use self::response::decode_response;
pub(crate) use self::stream::{BedrockStream, FrameReader, Frames};
use crate::credential::{AwsAuth, AwsCredential, Credential};
use crate::error::{CredentialError, ProviderError};
use crate::http::{Listing, Upstream};
use crate::id::ProviderId;
use crate::provider::{ChatOutcome, ProviderConfig};
use crate::target::{bearer, sensitive};
use crate::translators::Dialect;
use crate::types::{ChatRequest, ModelInfo};

/// Extra fields the translator accepts: the Converse-native parameters
/// (passed through, `additionalModelRequestFields` and `outputConfig`
/// merged with what the translator builds) and OpenRouter's `reasoning`.
const ACCEPTED_EXTRA: &[&str] = &[
    "additionalModelRequestFields",
    "guardrailConfig",
    "performanceConfig",
    "outputConfig",
    "reasoning",
];

/// Extra fields passed through unchanged.
const PASSED_EXTRA: &[&str] = &["guardrailConfig", "performanceConfig"];

/// Where `GET foundation-models` keeps the models.
const MODELS: Listing = Listing {
    key: "modelSummaries",
    bare: false,
    id: "modelId",
    prefix: "",
    owned_by: "aws",
};

/// The Bedrock Converse translator.
pub struct Bedrock {
    /// `up.base` is the operator's override, if any (empty otherwise).
    up: Upstream,
    /// Whether the operator overrode the regional endpoints.
    overridden: bool,
}

impl std::fmt::Debug for Bedrock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.up.fmt_as("Bedrock", f)
    }
}

/// Percent-encodes a model id for the path (`:` → `%3A`, `/` → `%2F`).
pub fn encode_model_id(model: &str) -> String {
    let mut out = String::with_capacity(model.len() + 8);
    for b in model.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Bedrock {
    /// The translator for `id` (a Converse-format row); the base URL
    /// override, if any, replaces the regional endpoint.
    pub fn new(
        id: ProviderId,
        client: crate::transport::HttpClient,
        config: Arc<ProviderConfig>,
    ) -> Self {
        let base = config.base_urls.get(&id).cloned();
        Self {
            overridden: base.is_some(),
            up: Upstream::new(id, &base.unwrap_or_default(), client, config),
        }
    }

    /// The override, else `https://{service}.{region}.amazonaws.com`.
    fn base(&self, service: &str, aws: &AwsCredential) -> String {
        if self.overridden {
            self.up.base.clone()
        } else {
            format!("https://{service}.{}.amazonaws.com", aws.region)
        }
    }

    fn url(&self, aws: &AwsCredential, model: &str, op: &str) -> String {
        let base = self.base("bedrock-runtime", aws);
        format!("{base}/model/{}/{op}", encode_model_id(model))
    }

    /// Builds the signed request.
    /// Builds a request with its authentication: a Bearer header for a
    /// Bedrock API key, or SigV4 over the method, URL, listed headers and body.
    fn authorized(
        &self,
        aws: &AwsCredential,
        method: ::http::Method,
        url: &str,
        body: Vec<u8>,
        accept: &str,
    ) -> Result<crate::transport::RequestBuilder, ProviderError> {
        let mut builder = self
            .up
            .client
            .request(method.clone(), url)
            .header(ACCEPT, accept);
        let mut signed_headers = vec![("accept", accept)];
        if !body.is_empty() {
            builder = builder.header(CONTENT_TYPE, "application/json");
            signed_headers.push(("content-type", "application/json"));
        }
        match &aws.auth {
            AwsAuth::ApiKey(key) => {
                builder = builder.header(AUTHORIZATION, bearer(key)?);
            }
            AwsAuth::Keys {
                access_key_id,
                secret_access_key,
                session_token,
            } => {
                let headers = sign_v4(
                    method.as_str(),
                    url,
                    &body,
                    &signed_headers,
                    access_key_id,
                    secret_access_key,
                    session_token.as_ref(),
                    &aws.region,
                    SystemTime::now(),
                )?;
                for (name, value) in headers {
                    builder = builder.header(name, sensitive(&value)?);
                }
            }
        }
        Ok(builder.body(body))
    }
}

/// Signs a Bedrock request with SigV4 and returns the headers to add
/// (`authorization`, `x-amz-date`, `x-amz-security-token`,
/// `x-amz-content-sha256` as the signer decides).
///
/// # Errors
/// [`ProviderError::InvalidRequest`] when the URL or a header cannot be signed.
#[allow(clippy::too_many_arguments)]
pub fn sign_v4(
    method: &str,
    url: &str,
    body: &[u8],
    headers: &[(&str, &str)],
    access_key_id: &str,
    secret_access_key: &SecretString,
    session_token: Option<&SecretString>,
    region: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, ProviderError> {
    let identity = Credentials::new(
        access_key_id,
        secret_access_key.expose_secret(),
        session_token.map(|t| t.expose_secret().to_owned()),
        None,
        "byok",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|_| ProviderError::invalid("cannot build SigV4 parameters", None))?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|_| ProviderError::invalid("cannot sign the Bedrock request", None))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|_| ProviderError::invalid("cannot sign the Bedrock request", None))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect())
}

fn aws_of(credential: &Credential) -> Result<&AwsCredential, ProviderError> {
    match credential {
        Credential::Aws(a) => Ok(a),
        _ => Err(CredentialError::WrongProvider.into()),
    }
}

fn secret_of(aws: &AwsCredential) -> SecretString {
    match &aws.auth {
        AwsAuth::Keys {
            secret_access_key, ..
        } => secret_access_key.clone(),
        AwsAuth::ApiKey(k) => k.clone(),
    }
}

impl Dialect for Bedrock {
    type Stream = Frames;

    fn upstream(&self) -> &Upstream {
        &self.up
    }

    /// `converse` or `converse-stream` (event-stream frames) on the
    /// regional endpoint, signed.
    fn chat_request(
        &self,
        request: &ChatRequest,
        credential: &Credential,
        stream: bool,
    ) -> Result<(crate::transport::RequestBuilder, SecretString), ProviderError> {
        let body = request::encode_request(self.up.id, request)?;
        let aws = aws_of(credential)?;
        let (op, accept) = if stream {
            ("converse-stream", "application/vnd.amazon.eventstream")
        } else {
            ("converse", "application/json")
        };
        let url = self.url(aws, &request.model, op);
        let builder = self.authorized(aws, ::http::Method::POST, &url, body, accept)?;
        Ok((builder, secret_of(aws)))
    }

    fn decode(&self, request: &ChatRequest, bytes: Vec<u8>) -> Result<ChatOutcome, ProviderError> {
        let response = decode_response(self.up.id, &bytes, &request.model)?;
        Ok(ChatOutcome::new(response))
    }

    fn translator(&self, request: &ChatRequest, secret: SecretString) -> Self::Stream {
        let id = self.up.id;
        let usage = request.wants_stream_usage();
        let translator = BedrockStream::new(id, &request.model, usage, Some(secret));
        Frames::new(id, self.up.config.limits.max_event_bytes, translator)
    }

    /// Listing lives on the control-plane endpoint (`bedrock`, not
    /// `bedrock-runtime`); a one-token Converse call with a cheap model
    /// is not free either. Verification uses the control plane.
    fn models_request(
        &self,
        credential: &Credential,
    ) -> Result<(crate::transport::RequestBuilder, SecretString), ProviderError> {
        let aws = aws_of(credential)?;
        let url = format!("{}/foundation-models", self.base("bedrock", aws));
        let builder = self.authorized(
            aws,
            ::http::Method::GET,
            &url,
            Vec::new(),
            "application/json",
        )?;
        Ok((builder, secret_of(aws)))
    }

    fn models(&self, bytes: &[u8]) -> Result<Vec<ModelInfo>, ProviderError> {
        MODELS.parse(self.up.id, bytes)
    }

    const SIGNS_BODIES: bool = true;

    /// `POST {runtime}/{op}` (`op` is `model/{modelId}/invoke`), signed
    /// over `body` like the Converse calls.
    fn signed_request(
        &self,
        op: &str,
        body: Vec<u8>,
        credential: &Credential,
    ) -> Result<(crate::transport::RequestBuilder, SecretString), ProviderError> {
        let aws = aws_of(credential)?;
        let url = format!("{}/{op}", self.base("bedrock-runtime", aws));
        let builder = self.authorized(aws, ::http::Method::POST, &url, body, "application/json")?;
        Ok((builder, secret_of(aws)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_encoded_once_in_the_url() {
        assert_eq!(
            encode_model_id("anthropic.claude-3-5-sonnet-20241022-v2:0"),
            "anthropic.claude-3-5-sonnet-20241022-v2%3A0"
        );
        assert_eq!(
            encode_model_id("arn:aws:bedrock:us-east-1:123:inference-profile/us.x"),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.x"
        );
    }
}
