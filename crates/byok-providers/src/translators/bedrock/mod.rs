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
//! stream ends at EOF. Mapping table in `docs/providers.md`.
//!
//! # Layout
//!
//! | file | holds |
//! |---|---|
//! | `request.rs` | neutral request → wire body (`refuse`, `messages`, `inference_config`, `tool_config`) |
//! | `response.rs` | the Converse answer → [`ChatResponse`](crate::ChatResponse), stop reasons, usage |
//! | `stream.rs` | event-stream frames → typed events (named by `:event-type`) → chunks |
//! | `mod.rs` | the adapter ([`ChatProvider`](crate::ChatProvider)): regional URL, SigV4 or Bearer, HTTP; [`sign_v4`], [`encode_model_id`] |

mod request;
mod response;
mod stream;

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

pub use self::request::encode_request;
use self::response::decode_response;
use self::stream::frame_stream;
pub(crate) use self::stream::{BedrockStream, FrameReader};
use crate::credential::{AwsAuth, AwsCredential, Credential};
use crate::error::{CredentialError, ProviderError};
use crate::http;
use crate::id::ProviderId;
use crate::openai::{bearer, sensitive};
use crate::provider::{ChatOutcome, ChatProvider, ProviderConfig};
use crate::stream::ChatStream;
use crate::types::{ChatRequest, ModelInfo};

/// Extra fields passed through as Converse-native parameters.
const NATIVE_EXTRA: &[&str] = &[
    "additionalModelRequestFields",
    "guardrailConfig",
    "performanceConfig",
];

/// The Bedrock Converse translator.
pub struct Bedrock {
    id: ProviderId,
    base: Option<String>,
    client: reqwest::Client,
    config: Arc<ProviderConfig>,
}

impl std::fmt::Debug for Bedrock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bedrock")
            .field("id", &self.id)
            .finish_non_exhaustive()
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
    pub fn new(id: ProviderId, client: reqwest::Client, config: Arc<ProviderConfig>) -> Self {
        Self {
            id,
            base: config
                .base_urls
                .get(&id)
                .map(|b| b.trim_end_matches('/').to_owned()),
            client,
            config,
        }
    }

    fn url(&self, aws: &AwsCredential, model: &str, op: &str) -> String {
        let base = self
            .base
            .clone()
            .unwrap_or_else(|| format!("https://bedrock-runtime.{}.amazonaws.com", aws.region));
        format!("{base}/model/{}/{op}", encode_model_id(model))
    }

    /// Builds the signed request.
    /// Builds a request with its authentication: a Bearer header for a
    /// Bedrock API key, or SigV4 over the method, URL, listed headers and body.
    fn authorized(
        &self,
        aws: &AwsCredential,
        method: reqwest::Method,
        url: &str,
        body: Vec<u8>,
        accept: &str,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let mut builder = self
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

#[async_trait]
impl ChatProvider for Bedrock {
    fn id(&self) -> ProviderId {
        self.id
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatOutcome, ProviderError> {
        let body = request::encode(self.id, request)?;
        let aws = aws_of(credential)?;
        let url = self.url(aws, &request.model, "converse");
        let secret = secret_of(aws);
        let builder =
            self.authorized(aws, reqwest::Method::POST, &url, body, "application/json")?;
        let bytes =
            http::fetch(self.id, &self.config, builder, Some(secret.expose_secret())).await?;
        let response = decode_response(self.id, &bytes, &request.model)?;
        Ok(ChatOutcome::new(response))
    }

    async fn chat_stream(
        &self,
        request: &ChatRequest,
        credential: &Credential,
    ) -> Result<ChatStream, ProviderError> {
        let body = request::encode(self.id, request)?;
        let aws = aws_of(credential)?;
        let url = self.url(aws, &request.model, "converse-stream");
        let secret = secret_of(aws);
        let builder = self.authorized(
            aws,
            reqwest::Method::POST,
            &url,
            body,
            "application/vnd.amazon.eventstream",
        )?;
        let response =
            http::send(self.id, &self.config, builder, Some(secret.expose_secret())).await?;
        let translator = BedrockStream::new(
            self.id,
            &request.model,
            request.wants_stream_usage(),
            Some(secret),
        );
        Ok(ChatStream::new(frame_stream(
            self.id,
            response,
            &self.config,
            translator,
        )))
    }

    async fn list_models(&self, credential: &Credential) -> Result<Vec<ModelInfo>, ProviderError> {
        // Listing lives on the control-plane endpoint (`bedrock`, not
        // `bedrock-runtime`); a one-token Converse call with a cheap model
        // is not free either. Verification uses the control plane.
        let aws = aws_of(credential)?;
        let base = self
            .base
            .clone()
            .unwrap_or_else(|| format!("https://bedrock.{}.amazonaws.com", aws.region));
        let url = format!("{base}/foundation-models");
        let secret = secret_of(aws);
        let builder = self.authorized(
            aws,
            reqwest::Method::GET,
            &url,
            Vec::new(),
            "application/json",
        )?;
        let bytes =
            http::fetch(self.id, &self.config, builder, Some(secret.expose_secret())).await?;
        let v: Value = http::parse_json(self.id, "model list", &bytes)?;
        Ok(v.get("modelSummaries")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("modelId").and_then(Value::as_str))
            .map(|id| ModelInfo {
                id: id.to_owned(),
                object: "model".into(),
                owned_by: "aws".into(),
            })
            .collect())
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
