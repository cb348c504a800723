//! Where a request goes and how it is authorised: the one place that reads
//! a provider's [`TargetKind`] together with the user's credential.
//!
//! | target | URL of `op` | auth header |
//! |---|---|---|
//! | `BaseUrl` | `{base}/{op}` (Anthropic Messages: `{base}/v1/{op}`); `{base}` is the host a credential's `region` / `plan` chose from the row's host table, unless the operator overrode the base URL | by format: `Authorization: Bearer` (OpenAI chat, Responses, Bedrock API key), `x-api-key` (Anthropic), `x-goog-api-key` (Gemini) |
//! | `AzureDeployment` | `v1`: `{endpoint}/openai/v1/{op}`; dated version `V`: `{endpoint}/openai/models?api-version=V` for `models`, else `{endpoint}/openai/deployments/{deployment}/{op}?api-version=V` | `api-key` |
//! | `AzureResponses` | `v1`: `{endpoint}/openai/v1/{op}`; dated: `{endpoint}/openai/{op}?api-version=V` | `api-key` |
//! | `AzureFoundry` | `{endpoint}/v1/{op}` | `x-api-key` |
//!
//! `{endpoint}` is the credential's endpoint unless the operator overrode
//! the provider's base URL. Bedrock (`BedrockRegion`) signs its requests
//! (SigV4) in its translator and is not served here.

use http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::credential::{AzureCredential, Credential};
use crate::error::{CredentialError, ProviderError};
use crate::id::{ProviderId, TargetKind, WireFormat};

/// A provider's target resolved with a credential.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    kind: TargetKind,
    format: WireFormat,
    /// Base URL or endpoint, without a trailing `/`.
    root: &'a str,
    azure: Option<&'a AzureCredential>,
    key: &'a SecretString,
    /// The credential chose another of the provider's hosts than the
    /// configured base URL.
    moved: bool,
}

impl<'a> Target<'a> {
    /// Matches `id`'s target with `credential`. `base` is the adapter's
    /// configured base URL (`ProviderConfig::base_url`: the operator's
    /// override or the row's default, empty for the Azure targets).
    ///
    /// # Errors
    /// [`CredentialError::WrongProvider`] when the credential is of another
    /// kind.
    pub(crate) fn resolve(
        id: ProviderId,
        base: &'a str,
        credential: &'a Credential,
    ) -> Result<Self, ProviderError> {
        let info = id.info();
        let (root, azure, key) = match (info.target, credential) {
            (TargetKind::BaseUrl, Credential::ApiKey(k)) => (base.trim_end_matches('/'), None, k),
            (TargetKind::BaseUrl, Credential::HostedKey(h)) => {
                (h.base(base, info.base_url), None, &h.api_key)
            }
            (TargetKind::AzureDeployment, Credential::Azure(a))
            | (TargetKind::AzureResponses, Credential::AzureResponses(a))
            | (TargetKind::AzureFoundry, Credential::AzureAnthropic(a)) => {
                (a.base(base), Some(a), &a.api_key)
            }
            _ => return Err(CredentialError::WrongProvider.into()),
        };
        let moved = info.target == TargetKind::BaseUrl && root != base.trim_end_matches('/');
        Ok(Self {
            kind: info.target,
            format: info.format,
            root,
            azure,
            key,
            moved,
        })
    }

    /// Whether requests go to the configured base URL the adapter was built
    /// with (not when the credential chose another of the provider's
    /// hosts): a URL the adapter cached from that base (the OpenAI
    /// dialect's `chat/completions` fast path) is right only then.
    pub(crate) fn at_configured_base(&self) -> bool {
        !self.moved
    }

    /// The URL of `op`, a path relative to the format's API root
    /// (`chat/completions`, `responses`, `messages`, `models`, ...).
    pub(crate) fn url(&self, op: &str) -> String {
        let root = self.root;
        let version = self
            .azure
            .and_then(|a| a.api_version.as_deref())
            .unwrap_or("v1");
        match self.kind {
            TargetKind::AzureDeployment => {
                let deployment = self
                    .azure
                    .and_then(|a| a.deployment.as_deref())
                    .unwrap_or_default();
                match (version, op) {
                    ("v1", _) => format!("{root}/openai/v1/{op}"),
                    (_, "models") => format!("{root}/openai/models?api-version={version}"),
                    _ => {
                        format!("{root}/openai/deployments/{deployment}/{op}?api-version={version}")
                    }
                }
            }
            TargetKind::AzureResponses => match version {
                "v1" => format!("{root}/openai/v1/{op}"),
                v => format!("{root}/openai/{op}?api-version={v}"),
            },
            TargetKind::AzureFoundry => format!("{root}/v1/{op}"),
            _ if self.format == WireFormat::AnthropicMessages => format!("{root}/v1/{op}"),
            _ => format!("{root}/{op}"),
        }
    }

    /// The auth header, its value marked sensitive.
    ///
    /// # Errors
    /// [`CredentialError::BadCharacters`] when the key cannot go in a header.
    pub(crate) fn auth(&self) -> Result<(HeaderName, HeaderValue), ProviderError> {
        Ok(match (self.kind, self.format) {
            (TargetKind::AzureDeployment | TargetKind::AzureResponses, _) => (
                HeaderName::from_static("api-key"),
                sensitive(self.key.expose_secret())?,
            ),
            (TargetKind::AzureFoundry, _) | (_, WireFormat::AnthropicMessages) => (
                HeaderName::from_static("x-api-key"),
                sensitive(self.key.expose_secret())?,
            ),
            (_, WireFormat::Gemini) => (
                HeaderName::from_static("x-goog-api-key"),
                sensitive(self.key.expose_secret())?,
            ),
            _ => (AUTHORIZATION, bearer(self.key)?),
        })
    }

    /// The key, for sanitising upstream errors.
    pub(crate) fn secret(&self) -> &'a SecretString {
        self.key
    }
}

/// A header value holding a secret, marked sensitive (never logged by the
/// HTTP stack). Where adapters expose keys for headers (Bedrock's SigV4
/// signer is the other place).
pub(crate) fn sensitive(text: &str) -> Result<HeaderValue, ProviderError> {
    let mut value = HeaderValue::from_str(text)
        .map_err(|_| CredentialError::BadCharacters("characters not allowed in a header"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// `Authorization: Bearer <key>` as a sensitive header value; the
/// formatted text is zeroized when dropped.
pub(crate) fn bearer(key: &SecretString) -> Result<HeaderValue, ProviderError> {
    sensitive(&Zeroizing::new(format!("Bearer {}", key.expose_secret())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::EndpointPolicy;

    const LAB: EndpointPolicy = EndpointPolicy {
        allow_insecure: true,
    };

    fn cred(id: ProviderId, raw: &str) -> Credential {
        Credential::parse(id, &SecretString::from(raw.to_owned()), LAB).unwrap()
    }

    fn azure(version: Option<&str>, deployment: Option<&str>) -> String {
        let mut v = serde_json::json!({"endpoint": "https://r.openai.azure.com/", "apiKey": "k1"});
        if let Some(d) = deployment {
            v["deploymentName"] = d.into();
        }
        if let Some(x) = version {
            v["apiVersion"] = x.into();
        }
        v.to_string()
    }

    /// Every target shape, for every row of the table that uses it.
    #[test]
    fn urls_and_headers_of_every_row() {
        for p in &crate::id::PROVIDERS {
            let raw = match p.target {
                TargetKind::BaseUrl => "sk-test".to_owned(),
                TargetKind::AzureDeployment => azure(Some("2024-10-21"), Some("dep")),
                TargetKind::AzureResponses => azure(Some("v1"), None),
                TargetKind::AzureFoundry => azure(None, None),
                TargetKind::BedrockRegion => continue,
            };
            let c = cred(p.id, &raw);
            let t = Target::resolve(p.id, p.base_url, &c).unwrap();
            let (name, value) = t.auth().unwrap();
            assert!(value.is_sensitive());
            let (url, header) = (t.url("models"), name.as_str().to_owned());
            let want = match (p.target, p.format) {
                (TargetKind::BaseUrl, WireFormat::AnthropicMessages) => {
                    (format!("{}/v1/models", p.base_url), "x-api-key")
                }
                (TargetKind::BaseUrl, WireFormat::Gemini) => {
                    (format!("{}/models", p.base_url), "x-goog-api-key")
                }
                (TargetKind::BaseUrl, _) => (format!("{}/models", p.base_url), "authorization"),
                (TargetKind::AzureDeployment, _) => (
                    "https://r.openai.azure.com/openai/models?api-version=2024-10-21".to_owned(),
                    "api-key",
                ),
                (TargetKind::AzureResponses, _) => (
                    "https://r.openai.azure.com/openai/v1/models".to_owned(),
                    "api-key",
                ),
                _ => (
                    "https://r.openai.azure.com/v1/models".to_owned(),
                    "x-api-key",
                ),
            };
            assert_eq!((url, header.as_str()), (want.0, want.1), "{}", p.slug);
            if header == "authorization" {
                assert_eq!(value.to_str().unwrap(), "Bearer sk-test");
            }
        }
    }

    #[test]
    fn azure_shapes() {
        let c = cred(ProviderId::Azure, &azure(Some("2024-10-21"), Some("dep")));
        let t = Target::resolve(ProviderId::Azure, "", &c).unwrap();
        assert_eq!(
            t.url("chat/completions"),
            "https://r.openai.azure.com/openai/deployments/dep/chat/completions?api-version=2024-10-21"
        );
        let c = cred(ProviderId::Azure, &azure(Some("v1"), Some("dep")));
        let t = Target::resolve(ProviderId::Azure, "", &c).unwrap();
        assert_eq!(
            t.url("chat/completions"),
            "https://r.openai.azure.com/openai/v1/chat/completions"
        );
        // an operator override replaces the endpoint
        let t = Target::resolve(ProviderId::Azure, "http://127.0.0.1:9/", &c).unwrap();
        assert_eq!(t.url("models"), "http://127.0.0.1:9/openai/v1/models");
        let c = cred(
            ProviderId::AzureResponses,
            &azure(Some("2025-04-01-preview"), None),
        );
        let t = Target::resolve(ProviderId::AzureResponses, "", &c).unwrap();
        assert_eq!(
            t.url("responses"),
            "https://r.openai.azure.com/openai/responses?api-version=2025-04-01-preview"
        );
    }

    fn hosted_doc(when: &[(crate::id::HostField, &str)]) -> String {
        let mut doc = serde_json::json!({"apiKey": "sk-test"});
        for (field, value) in when {
            doc[field.as_str()] = (*value).into();
        }
        doc.to_string()
    }

    /// Every host of every row's table: the URL and auth its credential
    /// resolves to; an operator override still wins.
    #[test]
    fn every_region_and_plan_resolves_to_its_host() {
        let mut n = 0;
        for p in &crate::id::PROVIDERS {
            for h in p.hosts {
                let c = cred(p.id, &hosted_doc(h.when));
                let t = Target::resolve(p.id, p.base_url, &c).unwrap();
                assert_eq!(
                    t.url("models"),
                    format!("{}/models", h.base_url),
                    "{}",
                    p.slug
                );
                assert!(!t.at_configured_base(), "{}", p.slug);
                let (name, value) = t.auth().unwrap();
                assert_eq!(name, AUTHORIZATION);
                assert_eq!(value.to_str().unwrap(), "Bearer sk-test");
                assert!(value.is_sensitive());
                // an override equal to the default is no override
                let slashed = format!("{}/", p.base_url);
                let t = Target::resolve(p.id, &slashed, &c).unwrap();
                assert_eq!(
                    t.url("models"),
                    format!("{}/models", h.base_url),
                    "{}",
                    p.slug
                );
                // the operator's override wins over the credential's choice
                let t = Target::resolve(p.id, "http://127.0.0.1:9/v1/", &c).unwrap();
                assert_eq!(
                    t.url("chat/completions"),
                    "http://127.0.0.1:9/v1/chat/completions"
                );
                assert!(t.at_configured_base(), "{}", p.slug);
                n += 1;
            }
        }
        assert!(n >= 12, "{n} hosts");
    }

    #[test]
    fn documented_hosts() {
        let url = |id: ProviderId, raw: &str| {
            let c = cred(id, raw);
            Target::resolve(id, id.info().base_url, &c)
                .unwrap()
                .url("chat/completions")
        };
        for (id, raw, want) in [
            (
                ProviderId::Zai,
                "k-1",
                "https://api.z.ai/api/paas/v4/chat/completions",
            ),
            (
                ProviderId::Zai,
                r#"{"apiKey":"k-1","plan":"coding"}"#,
                "https://api.z.ai/api/coding/paas/v4/chat/completions",
            ),
            (
                ProviderId::Zai,
                r#"{"apiKey":"k-1","region":"cn"}"#,
                "https://open.bigmodel.cn/api/paas/v4/chat/completions",
            ),
            (
                ProviderId::Zai,
                r#"{"apiKey":"k-1","region":"cn","plan":"coding"}"#,
                "https://open.bigmodel.cn/api/coding/paas/v4/chat/completions",
            ),
            (
                ProviderId::SiliconFlow,
                "sk-1",
                "https://api.siliconflow.com/v1/chat/completions",
            ),
            (
                ProviderId::SiliconFlow,
                r#"{"apiKey":"sk-1","region":"cn"}"#,
                "https://api.siliconflow.cn/v1/chat/completions",
            ),
            (
                ProviderId::Akash,
                "k-1",
                "https://api.akashml.com/v1/chat/completions",
            ),
            (
                ProviderId::Akash,
                r#"{"apiKey":"sk-1","plan":"chat-api"}"#,
                "https://chatapi.akash.network/api/v1/chat/completions",
            ),
            (
                ProviderId::Novita,
                "sk_1",
                "https://api.novita.ai/openai/v1/chat/completions",
            ),
            (
                ProviderId::OpenAi,
                r#"{"apiKey":"sk-1","region":"eu"}"#,
                "https://eu.api.openai.com/v1/chat/completions",
            ),
            (
                ProviderId::OpenAiResponses,
                r#"{"apiKey":"sk-1","region":"us"}"#,
                "https://us.api.openai.com/v1/chat/completions",
            ),
        ] {
            assert_eq!(url(id, raw), want, "{raw}");
        }
        // a plain key stays on the configured base, whatever it is
        let c = cred(ProviderId::Zai, "k-1");
        let t = Target::resolve(ProviderId::Zai, "http://127.0.0.1:9", &c).unwrap();
        assert!(t.at_configured_base());
        assert_eq!(t.url("models"), "http://127.0.0.1:9/models");
    }

    #[test]
    fn a_credential_of_another_kind_is_refused() {
        let key = cred(ProviderId::OpenAi, "sk-test");
        let az = cred(ProviderId::Azure, &azure(Some("v1"), Some("d")));
        let hosted = cred(ProviderId::Zai, r#"{"apiKey":"k-1","region":"cn"}"#);
        for (id, c) in [
            (ProviderId::Azure, &key),
            (ProviderId::AzureResponses, &az),
            (ProviderId::OpenAi, &az),
            (ProviderId::Aws, &key),
            (ProviderId::Azure, &hosted),
            (ProviderId::Aws, &hosted),
        ] {
            assert!(matches!(
                Target::resolve(id, "", c),
                Err(ProviderError::Credential(CredentialError::WrongProvider))
            ));
        }
    }
}
