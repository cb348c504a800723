//! Provider ids and the one table that describes every provider.
//!
//! Adding a provider is one [`ProviderId`] variant and one row of
//! [`PROVIDERS`]; nothing else matches on provider ids (the OpenAI dialect
//! reads its quirks from the row).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A chat provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[allow(missing_docs)] // each variant is described by its row in PROVIDERS
pub enum ProviderId {
    OpenAi,
    OpenAiResponses,
    Anthropic,
    OpenRouter,
    Chutes,
    Aws,
    Azure,
    AzureResponses,
    AzureAnthropicFoundry,
    Groq,
    SambaNova,
    Vercel,
    Novita,
    MegaNova,
    SiliconFlow,
    Akash,
    Nvidia,
    Google,
    Zai,
    GmiCloud,
    Cerebras,
    DeepInfra,
    Hyperbolic,
    Morpheus,
    Fireworks,
    Together,
}

/// How a provider's credential is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialFormat {
    /// One API key.
    Key,
    /// `{"accessKeyId","secretAccessKey","region","sessionToken"?}`, or
    /// `{"apiKey","region"}` for a Bedrock API key.
    AwsJson,
    /// `{"endpoint","apiKey","deploymentName","apiVersion"}`.
    AzureJson,
    /// `{"endpoint","apiKey","apiVersion"}`.
    AzureResponsesJson,
    /// `{"endpoint","apiKey"}`.
    AzureAnthropicJson,
}

impl CredentialFormat {
    /// `key` or `json`, as in `GET /api/byok/providers`.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Key => "key",
            _ => "json",
        }
    }

    /// The fields of the JSON form (empty for a plain key).
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Key => &[],
            Self::AwsJson => &[
                "accessKeyId",
                "secretAccessKey",
                "region",
                "sessionToken",
                "apiKey",
            ],
            Self::AzureJson => &["endpoint", "apiKey", "deploymentName", "apiVersion"],
            Self::AzureResponsesJson => &["endpoint", "apiKey", "apiVersion"],
            Self::AzureAnthropicJson => &["endpoint", "apiKey"],
        }
    }
}

/// Which translator speaks to a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dialect {
    /// OpenAI chat completions, with the provider's quirks.
    OpenAi(Quirks),
    /// OpenAI Responses.
    OpenAiResponses,
    /// Anthropic Messages.
    Anthropic,
    /// Gemini `generateContent`.
    Google,
    /// Bedrock Converse.
    Bedrock,
    /// Azure OpenAI chat completions (deployment URLs).
    Azure,
    /// Azure OpenAI Responses.
    AzureResponses,
    /// Anthropic Messages on Azure AI Foundry.
    AzureAnthropic,
}

/// How an OpenAI-dialect provider differs from OpenAI. Only what changes the
/// request is a flag: response-side differences (`x_groq.usage`, SSE comment
/// lines, error chunks, bare-array model lists) are tolerated for every
/// provider by the one parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Quirks {
    /// Send `max_tokens` even when the client wrote `max_completion_tokens`.
    pub prefers_max_tokens: bool,
    /// Accepts `stream_options` (to ask for streamed usage).
    pub stream_options: bool,
    /// The facts about this provider could not be confirmed from an official
    /// source (see `shared/docs/providers.md`); keep its base URL overridable.
    pub unconfirmed: bool,
}

impl Quirks {
    /// OpenAI's own behaviour.
    pub const OPENAI: Quirks = Quirks {
        prefers_max_tokens: false,
        stream_options: true,
        unconfirmed: false,
    };

    const MAX_TOKENS: Quirks = Quirks {
        prefers_max_tokens: true,
        ..Quirks::OPENAI
    };

    const UNCONFIRMED: Quirks = Quirks {
        unconfirmed: true,
        ..Quirks::OPENAI
    };

    /// Builds quirks from flags (for custom providers and tests).
    pub const fn new(prefers_max_tokens: bool, stream_options: bool) -> Quirks {
        Quirks {
            prefers_max_tokens,
            stream_options,
            unconfirmed: false,
        }
    }
}

/// Everything known about one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderInfo {
    /// The id.
    pub id: ProviderId,
    /// The id as written in URLs and headers (`azure-anthropic-foundry`).
    pub slug: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Credential format.
    pub credential: CredentialFormat,
    /// Translator.
    pub dialect: Dialect,
    /// Default base URL (what `BYOK_UPSTREAM_<PROVIDER>` replaces). For
    /// Azure providers the base comes from the credential's endpoint; for
    /// Bedrock `{region}` is replaced by the credential's region.
    pub base_url: &'static str,
    /// Whether the provider's own model ids contain `/` (`vendor/model`).
    pub slash_model_ids: bool,
    /// A credential example for the settings page.
    pub example: &'static str,
}

macro_rules! row {
    ($id:ident, $slug:literal, $name:literal, $cred:ident, $dialect:expr, $base:literal, $slash:literal, $example:literal) => {
        ProviderInfo {
            id: ProviderId::$id,
            slug: $slug,
            name: $name,
            credential: CredentialFormat::$cred,
            dialect: $dialect,
            base_url: $base,
            slash_model_ids: $slash,
            example: $example,
        }
    };
}

use Dialect::OpenAi as Oai;

/// The provider table, in [`ProviderId`] order.
pub const PROVIDERS: [ProviderInfo; 26] = [
    row!(
        OpenAi,
        "openai",
        "OpenAI",
        Key,
        Oai(Quirks::OPENAI),
        "https://api.openai.com/v1",
        false,
        "sk-proj-..."
    ),
    row!(
        OpenAiResponses,
        "openai-responses",
        "OpenAI (Responses API)",
        Key,
        Dialect::OpenAiResponses,
        "https://api.openai.com/v1",
        false,
        "sk-proj-..."
    ),
    row!(
        Anthropic,
        "anthropic",
        "Anthropic",
        Key,
        Dialect::Anthropic,
        "https://api.anthropic.com",
        false,
        "sk-ant-api03-..."
    ),
    row!(
        OpenRouter,
        "openrouter",
        "OpenRouter",
        Key,
        Oai(Quirks::OPENAI),
        "https://openrouter.ai/api/v1",
        true,
        "sk-or-v1-..."
    ),
    row!(
        Chutes,
        "chutes",
        "Chutes",
        Key,
        Oai(Quirks::MAX_TOKENS),
        "https://llm.chutes.ai/v1",
        true,
        "cpk_..."
    ),
    row!(
        Aws,
        "aws",
        "AWS Bedrock",
        AwsJson,
        Dialect::Bedrock,
        "https://bedrock-runtime.{region}.amazonaws.com",
        false,
        r#"{"accessKeyId":"AKIA...","secretAccessKey":"...","region":"us-east-1"}"#
    ),
    row!(
        Azure,
        "azure",
        "Azure OpenAI",
        AzureJson,
        Dialect::Azure,
        "",
        false,
        r#"{"endpoint":"https://<resource>.openai.azure.com","apiKey":"<key>","deploymentName":"<deployment>","apiVersion":"2024-10-21"}"#
    ),
    row!(
        AzureResponses,
        "azure-responses",
        "Azure OpenAI (Responses API)",
        AzureResponsesJson,
        Dialect::AzureResponses,
        "",
        false,
        r#"{"endpoint":"https://<resource>.openai.azure.com","apiKey":"<key>","apiVersion":"v1"}"#
    ),
    row!(
        AzureAnthropicFoundry,
        "azure-anthropic-foundry",
        "Anthropic on Azure AI Foundry",
        AzureAnthropicJson,
        Dialect::AzureAnthropic,
        "",
        false,
        r#"{"endpoint":"https://<resource>.services.ai.azure.com/anthropic/","apiKey":"<key>"}"#
    ),
    row!(
        Groq,
        "groq",
        "Groq",
        Key,
        Oai(Quirks::OPENAI),
        "https://api.groq.com/openai/v1",
        true,
        "gsk_..."
    ),
    row!(
        SambaNova,
        "sambanova",
        "SambaNova",
        Key,
        Oai(Quirks::OPENAI),
        "https://api.sambanova.ai/v1",
        false,
        "..."
    ),
    row!(
        Vercel,
        "vercel",
        "Vercel AI Gateway",
        Key,
        Oai(Quirks::OPENAI),
        "https://ai-gateway.vercel.sh/v1",
        true,
        "vck_..."
    ),
    row!(
        Novita,
        "novita",
        "Novita",
        Key,
        Oai(Quirks::UNCONFIRMED),
        "https://api.novita.ai/openai/v1",
        true,
        "sk_..."
    ),
    row!(
        MegaNova,
        "meganova",
        "MegaNova",
        Key,
        Oai(Quirks::UNCONFIRMED),
        "https://api.meganova.ai/v1",
        true,
        "..."
    ),
    row!(
        SiliconFlow,
        "siliconflow",
        "SiliconFlow",
        Key,
        Oai(Quirks::OPENAI),
        "https://api.siliconflow.com/v1",
        true,
        "sk-..."
    ),
    row!(
        Akash,
        "akash",
        "Akash",
        Key,
        Oai(Quirks::UNCONFIRMED),
        "https://chatapi.akash.network/api/v1",
        true,
        "sk-..."
    ),
    row!(
        Nvidia,
        "nvidia",
        "NVIDIA",
        Key,
        Oai(Quirks::MAX_TOKENS),
        "https://integrate.api.nvidia.com/v1",
        true,
        "nvapi-..."
    ),
    row!(
        Google,
        "google",
        "Google AI Studio",
        Key,
        Dialect::Google,
        "https://generativelanguage.googleapis.com",
        false,
        "AIza..."
    ),
    row!(
        Zai,
        "zai",
        "Z.AI (GLM)",
        Key,
        Oai(Quirks::UNCONFIRMED),
        "https://api.z.ai/api/paas/v4",
        false,
        "..."
    ),
    row!(
        GmiCloud,
        "gmicloud",
        "GMICloud",
        Key,
        Oai(Quirks::OPENAI),
        "https://api.gmi-serving.com/v1",
        true,
        "..."
    ),
    row!(
        Cerebras,
        "cerebras",
        "Cerebras",
        Key,
        Oai(Quirks::OPENAI),
        "https://api.cerebras.ai/v1",
        false,
        "csk-..."
    ),
    row!(
        DeepInfra,
        "deepinfra",
        "DeepInfra",
        Key,
        Oai(Quirks::OPENAI),
        "https://api.deepinfra.com/v1/openai",
        true,
        "..."
    ),
    row!(
        Hyperbolic,
        "hyperbolic",
        "Hyperbolic",
        Key,
        Oai(Quirks::OPENAI),
        "https://api.hyperbolic.xyz/v1",
        true,
        "..."
    ),
    row!(
        Morpheus,
        "morpheus",
        "Morpheus",
        Key,
        Oai(Quirks::UNCONFIRMED),
        "https://api.mor.org/api/v1",
        false,
        "sk-..."
    ),
    row!(
        Fireworks,
        "fireworks",
        "Fireworks",
        Key,
        Oai(Quirks::OPENAI),
        "https://api.fireworks.ai/inference/v1",
        true,
        "fw_..."
    ),
    row!(
        Together,
        "together",
        "Together",
        Key,
        Oai(Quirks::OPENAI),
        "https://api.together.xyz/v1",
        true,
        "tgp_v1_..."
    ),
];

impl ProviderId {
    /// Every provider, in table order.
    pub fn all() -> impl Iterator<Item = ProviderId> {
        PROVIDERS.iter().map(|p| p.id)
    }

    /// This provider's row.
    pub fn info(self) -> &'static ProviderInfo {
        // The table is in enum order; the fallback search keeps this total
        // even if someone reorders one of the two.
        let i = self as usize;
        match PROVIDERS.get(i) {
            Some(row) if row.id == self => row,
            _ => PROVIDERS
                .iter()
                .find(|p| p.id == self)
                .unwrap_or(&PROVIDERS[0]),
        }
    }

    /// The id as written in headers, URLs and model prefixes.
    pub fn as_str(self) -> &'static str {
        self.info().slug
    }

    /// Display name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The `BYOK_UPSTREAM_<PROVIDER>` variable that overrides the base URL.
    pub fn upstream_env_var(self) -> String {
        format!(
            "BYOK_UPSTREAM_{}",
            self.as_str().to_ascii_uppercase().replace('-', "_")
        )
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown provider id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider `{0}`")]
pub struct UnknownProvider(pub String);

impl FromStr for ProviderId {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PROVIDERS
            .iter()
            .find(|p| p.slug == s)
            .map(|p| p.id)
            .ok_or_else(|| UnknownProvider(s.chars().take(64).collect()))
    }
}

impl Serialize for ProviderId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProviderId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_enum_order_and_complete() {
        for (i, row) in PROVIDERS.iter().enumerate() {
            assert_eq!(row.id as usize, i, "{} is out of order", row.slug);
            assert_eq!(row.slug.parse::<ProviderId>().unwrap(), row.id);
        }
        let openai_dialect = PROVIDERS
            .iter()
            .filter(|p| matches!(p.dialect, Dialect::OpenAi(_)))
            .count();
        assert_eq!(openai_dialect, 19);
    }

    #[test]
    fn env_var_names() {
        assert_eq!(
            ProviderId::AzureAnthropicFoundry.upstream_env_var(),
            "BYOK_UPSTREAM_AZURE_ANTHROPIC_FOUNDRY"
        );
        assert_eq!(
            ProviderId::OpenAi.upstream_env_var(),
            "BYOK_UPSTREAM_OPENAI"
        );
    }

    #[test]
    fn the_26_ids_from_the_docs() {
        let ids = "openai openai-responses anthropic openrouter chutes aws azure azure-responses \
                   azure-anthropic-foundry groq sambanova vercel novita meganova siliconflow akash nvidia \
                   google zai gmicloud cerebras deepinfra hyperbolic morpheus fireworks together";
        let parsed: Vec<_> = ids
            .split_whitespace()
            .map(|s| s.parse::<ProviderId>().unwrap())
            .collect();
        assert_eq!(parsed.len(), 26);
        assert!("OpenAI".parse::<ProviderId>().is_err());
    }
}
