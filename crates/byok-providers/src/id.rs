//! The provider table: the one source of truth for the providers.
//!
//! One invocation of the `providers!` macro below generates the
//! [`ProviderId`] enum, its [`ProviderId::ALL`] list and [`ProviderId::COUNT`],
//! the [`PROVIDERS`] rows and the routing [`FAMILIES`]. Adding a provider
//! that speaks OpenAI's chat dialect is one row (plus its price rows in
//! `prices.json`); nothing else names provider ids: adapters dispatch on the
//! row's [`WireFormat`], URL and auth come from its [`TargetKind`]
//! (resolved with the credential in one place), and credentials are parsed
//! by [`CredentialFormat`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::routing::{Family, Pattern};

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

/// The wire format a provider speaks: which translator encodes requests
/// and decodes answers. Independent of where the requests go
/// ([`TargetKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireFormat {
    /// OpenAI chat completions, with the provider's quirks.
    OpenAiChat(Quirks),
    /// OpenAI Responses.
    Responses,
    /// Anthropic Messages.
    AnthropicMessages,
    /// Gemini `generateContent`.
    Gemini,
    /// Bedrock Converse.
    BedrockConverse,
}

impl WireFormat {
    /// Whether a request in this format must state an output limit
    /// (Anthropic's `max_tokens`): without one from the client, a caller
    /// that knows the model's maximum output should send it, else the
    /// translator sends its default.
    pub const fn requires_output_limit(self) -> bool {
        matches!(self, Self::AnthropicMessages)
    }
}

/// Where a provider's requests go and how they are authorised: the base
/// URL, the URL shape and the auth header. Resolved with the user's
/// credential in one place (the crate's `target` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetKind {
    /// The row's base URL (or its operator override) and the format's own
    /// key header (`Authorization: Bearer`, `x-api-key`, `x-goog-api-key`).
    BaseUrl,
    /// Azure OpenAI chat: the credential's endpoint, deployment URLs (dated
    /// API versions) or `/openai/v1` (`v1`), the `api-key` header.
    AzureDeployment,
    /// Azure OpenAI Responses: the credential's endpoint, `/openai/v1/…` or
    /// `/openai/…?api-version=`, the `api-key` header.
    AzureResponses,
    /// Azure AI Foundry (Anthropic models): the credential's endpoint,
    /// `x-api-key`.
    AzureFoundry,
    /// AWS Bedrock: `{region}` in the base URL from the credential, SigV4
    /// or a Bedrock API key.
    BedrockRegion,
}

impl TargetKind {
    /// How the credential for this target is written.
    pub const fn credential_format(self) -> CredentialFormat {
        match self {
            Self::BaseUrl => CredentialFormat::Key,
            Self::AzureDeployment => CredentialFormat::AzureJson,
            Self::AzureResponses => CredentialFormat::AzureResponsesJson,
            Self::AzureFoundry => CredentialFormat::AzureAnthropicJson,
            Self::BedrockRegion => CredentialFormat::AwsJson,
        }
    }
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
}

impl Quirks {
    /// OpenAI's own behaviour.
    pub const OPENAI: Quirks = Quirks {
        prefers_max_tokens: false,
        stream_options: true,
    };

    /// OpenAI's behaviour, but `max_tokens` rather than
    /// `max_completion_tokens`.
    const MAX_TOKENS: Quirks = Quirks {
        prefers_max_tokens: true,
        ..Quirks::OPENAI
    };

    /// Builds quirks from flags (for custom providers and tests).
    pub const fn new(prefers_max_tokens: bool, stream_options: bool) -> Quirks {
        Quirks {
            prefers_max_tokens,
            stream_options,
        }
    }
}

/// A credential field that picks one of a provider's documented hosts
/// (see [`Host`]). Neither is secret: both show in the credential's
/// public `meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HostField {
    /// `region`: a regional platform (`cn`, `eu`, ...).
    Region,
    /// `plan`: a subscription or product with its own endpoint (`coding`).
    Plan,
}

impl HostField {
    /// Every field, in the order a [`Host`]'s conditions are written.
    pub const ALL: &'static [HostField] = &[HostField::Region, HostField::Plan];

    /// The JSON field name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Region => "region",
            Self::Plan => "plan",
        }
    }
}

/// One of a provider's alternative base URLs: used when the credential's
/// host fields are exactly `when` (fields not listed are absent). The row's
/// own `base_url` is the host of a credential with none of them; an
/// operator override (`BYOK_UPSTREAM_<PROVIDER>`) wins over both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Host {
    /// The `(field, value)` pairs that select this host, in
    /// [`HostField::ALL`] order.
    pub when: &'static [(HostField, &'static str)],
    /// The base URL (what the row's `base_url` is for the default host).
    pub base_url: &'static str,
}

impl Host {
    /// The value this host needs for `field`, if it needs one.
    pub fn value(&self, field: HostField) -> Option<&'static str> {
        self.when.iter().find(|(f, _)| *f == field).map(|(_, v)| *v)
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
    /// Credential format (follows from [`ProviderInfo::target`]).
    pub credential: CredentialFormat,
    /// The wire format (which translator).
    pub format: WireFormat,
    /// Where requests go and how they are authorised.
    pub target: TargetKind,
    /// Default base URL (what `BYOK_UPSTREAM_<PROVIDER>` replaces). For
    /// Azure targets the base comes from the credential's endpoint; for
    /// Bedrock `{region}` is replaced by the credential's region.
    pub base_url: &'static str,
    /// Other documented hosts (regions, plans), chosen by the credential's
    /// `region` / `plan` fields; empty for most providers.
    pub hosts: &'static [Host],
    /// Whether the provider's own model ids contain `/` (`vendor/model`).
    pub slash_model_ids: bool,
    /// A credential example for the settings page.
    pub example: &'static str,
}

impl ProviderInfo {
    /// The host fields (`region`, `plan`) this provider's
    /// [`ProviderInfo::hosts`] use, in [`HostField::ALL`] order; none for
    /// most providers.
    pub fn host_fields(&self) -> impl Iterator<Item = HostField> + '_ {
        HostField::ALL
            .iter()
            .copied()
            .filter(|f| self.hosts.iter().any(|h| h.value(*f).is_some()))
    }

    /// The values `field` may take, in table order, without repeats.
    pub fn host_values(&self, field: HostField) -> Vec<&'static str> {
        let mut values: Vec<&'static str> = Vec::new();
        for v in self.hosts.iter().filter_map(|h| h.value(field)) {
            if !values.contains(&v) {
                values.push(v);
            }
        }
        values
    }
}

/// Generates [`ProviderId`], [`PROVIDERS`], [`ProviderId::ALL`],
/// [`ProviderId::COUNT`] and [`FAMILIES`] from one table.
macro_rules! providers {
    (
        rows {
            $(
                $(#[$meta:meta])*
                $id:ident {
                    slug: $slug:literal, name: $name:literal,
                    format: $format:ident $(($quirks:ident))?, target: $target:ident,
                    base_url: $base:literal,
                    $(hosts: [$([$($field:ident = $value:literal),+] => $host:literal),* $(,)?],)?
                    slash_model_ids: $slash:literal,
                    example: $example:literal $(,)?
                }
            ),+ $(,)?
        }
        families {
            $(
                $family:literal: $pattern:ident $(($($arg:tt)*))? => [$($member:ident),+ $(,)?]
            ),+ $(,)?
        }
    ) => {
        /// A chat provider (one row of [`PROVIDERS`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum ProviderId {
            $(
                #[doc = $name]
                $(#[$meta])*
                $id,
            )+
        }

        impl ProviderId {
            /// Every provider, in table order.
            pub const ALL: &'static [ProviderId] = &[$(ProviderId::$id),+];
            /// How many providers the table holds.
            pub const COUNT: usize = Self::ALL.len();
        }

        /// The provider table, in [`ProviderId`] order.
        pub const PROVIDERS: [ProviderInfo; ProviderId::COUNT] = [
            $(
                ProviderInfo {
                    id: ProviderId::$id,
                    slug: $slug,
                    name: $name,
                    credential: TargetKind::$target.credential_format(),
                    format: WireFormat::$format $((Quirks::$quirks))?,
                    target: TargetKind::$target,
                    base_url: $base,
                    hosts: &[$($(Host {
                        when: &[$((HostField::$field, $value)),+],
                        base_url: $host,
                    }),*)?],
                    slash_model_ids: $slash,
                    example: $example,
                },
            )+
        ];

        /// The model-family table, in matching order (see [`crate::resolve`]).
        pub const FAMILIES: &[Family] = &[
            $(
                Family {
                    name: $family,
                    pattern: Pattern::$pattern $(($($arg)*))?,
                    providers: &[$(ProviderId::$member),+],
                },
            )+
        ];
    };
}

providers! {
rows {
    OpenAi {
        slug: "openai", name: "OpenAI",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://api.openai.com/v1",
        // Data residency (per-project regional domains): the hosts named in
        // https://developers.openai.com/api/docs/guides/data-residency
        // (us, eu, au, in, jp) and `ae` from the official SDK's list
        // (openai-node src/internal/data-residency.ts).
        hosts: [
            [Region = "us"] => "https://us.api.openai.com/v1",
            [Region = "eu"] => "https://eu.api.openai.com/v1",
            [Region = "au"] => "https://au.api.openai.com/v1",
            [Region = "in"] => "https://in.api.openai.com/v1",
            [Region = "jp"] => "https://jp.api.openai.com/v1",
            [Region = "ae"] => "https://ae.api.openai.com/v1",
        ],
        slash_model_ids: false,
        example: "sk-proj-...",
    },
    OpenAiResponses {
        slug: "openai-responses", name: "OpenAI (Responses API)",
        format: Responses, target: BaseUrl,
        base_url: "https://api.openai.com/v1",
        // the same data-residency hosts as `openai`
        hosts: [
            [Region = "us"] => "https://us.api.openai.com/v1",
            [Region = "eu"] => "https://eu.api.openai.com/v1",
            [Region = "au"] => "https://au.api.openai.com/v1",
            [Region = "in"] => "https://in.api.openai.com/v1",
            [Region = "jp"] => "https://jp.api.openai.com/v1",
            [Region = "ae"] => "https://ae.api.openai.com/v1",
        ],
        slash_model_ids: false,
        example: "sk-proj-...",
    },
    Anthropic {
        slug: "anthropic", name: "Anthropic",
        format: AnthropicMessages, target: BaseUrl,
        base_url: "https://api.anthropic.com",
        slash_model_ids: false,
        example: "sk-ant-api03-...",
    },
    OpenRouter {
        slug: "openrouter", name: "OpenRouter",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://openrouter.ai/api/v1",
        slash_model_ids: true,
        example: "sk-or-v1-...",
    },
    Chutes {
        slug: "chutes", name: "Chutes",
        format: OpenAiChat(MAX_TOKENS), target: BaseUrl,
        base_url: "https://llm.chutes.ai/v1",
        slash_model_ids: true,
        example: "cpk_...",
    },
    Aws {
        slug: "aws", name: "AWS Bedrock",
        format: BedrockConverse, target: BedrockRegion,
        base_url: "https://bedrock-runtime.{region}.amazonaws.com",
        slash_model_ids: false,
        example: r#"{"accessKeyId":"AKIA...","secretAccessKey":"...","region":"us-east-1"}"#,
    },
    Azure {
        slug: "azure", name: "Azure OpenAI",
        format: OpenAiChat(OPENAI), target: AzureDeployment,
        base_url: "",
        slash_model_ids: false,
        example: r#"{"endpoint":"https://<resource>.openai.azure.com","apiKey":"<key>","deploymentName":"<deployment>","apiVersion":"2024-10-21"}"#,
    },
    AzureResponses {
        slug: "azure-responses", name: "Azure OpenAI (Responses API)",
        format: Responses, target: AzureResponses,
        base_url: "",
        slash_model_ids: false,
        example: r#"{"endpoint":"https://<resource>.openai.azure.com","apiKey":"<key>","apiVersion":"v1"}"#,
    },
    AzureAnthropicFoundry {
        slug: "azure-anthropic-foundry", name: "Anthropic on Azure AI Foundry",
        format: AnthropicMessages, target: AzureFoundry,
        base_url: "",
        slash_model_ids: false,
        example: r#"{"endpoint":"https://<resource>.services.ai.azure.com/anthropic/","apiKey":"<key>"}"#,
    },
    Groq {
        slug: "groq", name: "Groq",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://api.groq.com/openai/v1",
        slash_model_ids: true,
        example: "gsk_...",
    },
    SambaNova {
        slug: "sambanova", name: "SambaNova",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://api.sambanova.ai/v1",
        slash_model_ids: false,
        example: "...",
    },
    Vercel {
        slug: "vercel", name: "Vercel AI Gateway",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://ai-gateway.vercel.sh/v1",
        slash_model_ids: true,
        example: "vck_...",
    },
    // https://novita.ai/docs/api-reference/model-apis-llm-create-chat-completion
    // (POST https://api.novita.ai/openai/v1/chat/completions); the older
    // `https://api.novita.ai/v3/openai` still appears in the LLM guide.
    Novita {
        slug: "novita", name: "Novita",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://api.novita.ai/openai/v1",
        slash_model_ids: true,
        example: "sk_...",
    },
    // not confirmed from an official source (docs/providers.md)
    MegaNova {
        slug: "meganova", name: "MegaNova",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://api.meganova.ai/v1",
        slash_model_ids: true,
        example: "...",
    },
    // International: https://docs.siliconflow.com/en/api-reference/chat-completions/chat-completions
    // (server https://api.siliconflow.com/v1). China (keys from
    // cloud.siliconflow.cn, which the other host refuses):
    // https://docs.siliconflow.cn/docs/userguide/quickstart (https://api.siliconflow.cn/v1).
    SiliconFlow {
        slug: "siliconflow", name: "SiliconFlow",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://api.siliconflow.com/v1",
        hosts: [
            [Region = "cn"] => "https://api.siliconflow.cn/v1",
        ],
        slash_model_ids: true,
        example: "sk-...",
    },
    // AkashML, Akash's current managed inference: OpenAI-compatible at
    // https://api.akashml.com/v1, Bearer keys from Settings -> API Keys
    // (format not documented): https://playground.akashml.com/docs/getting-started/introduction.
    // The older Akash Chat API (https://chatapi.akash.network/api/v1,
    // `sk-` keys) is `plan: "chat-api"`; whether it still serves: unconfirmed.
    Akash {
        slug: "akash", name: "Akash",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://api.akashml.com/v1",
        hosts: [
            [Plan = "chat-api"] => "https://chatapi.akash.network/api/v1",
        ],
        slash_model_ids: true,
        example: "...",
    },
    Nvidia {
        slug: "nvidia", name: "NVIDIA",
        format: OpenAiChat(MAX_TOKENS), target: BaseUrl,
        base_url: "https://integrate.api.nvidia.com/v1",
        slash_model_ids: true,
        example: "nvapi-...",
    },
    Google {
        slug: "google", name: "Google AI Studio",
        format: Gemini, target: BaseUrl,
        base_url: "https://generativelanguage.googleapis.com",
        slash_model_ids: false,
        example: "AIza...",
    },
    // General and GLM Coding Plan endpoints:
    // https://docs.z.ai/api-reference/introduction and
    // https://docs.z.ai/devpack/quick-start; the China platform (BigModel,
    // its own keys): https://docs.bigmodel.cn/cn/api/introduction and
    // https://docs.bigmodel.cn/cn/guide/develop/http/introduction (coding).
    Zai {
        slug: "zai", name: "Z.AI (GLM)",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://api.z.ai/api/paas/v4",
        hosts: [
            [Plan = "coding"] => "https://api.z.ai/api/coding/paas/v4",
            [Region = "cn"] => "https://open.bigmodel.cn/api/paas/v4",
            [Region = "cn", Plan = "coding"] => "https://open.bigmodel.cn/api/coding/paas/v4",
        ],
        slash_model_ids: false,
        example: "...",
    },
    GmiCloud {
        slug: "gmicloud", name: "GMICloud",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://api.gmi-serving.com/v1",
        slash_model_ids: true,
        example: "...",
    },
    Cerebras {
        slug: "cerebras", name: "Cerebras",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://api.cerebras.ai/v1",
        slash_model_ids: false,
        example: "csk-...",
    },
    DeepInfra {
        slug: "deepinfra", name: "DeepInfra",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://api.deepinfra.com/v1/openai",
        slash_model_ids: true,
        example: "...",
    },
    Hyperbolic {
        slug: "hyperbolic", name: "Hyperbolic",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://api.hyperbolic.xyz/v1",
        slash_model_ids: true,
        example: "...",
    },
    // https://apidocs.mor.org/api-reference/introduction (`sk-` keys)
    Morpheus {
        slug: "morpheus", name: "Morpheus",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://api.mor.org/api/v1",
        slash_model_ids: false,
        example: "sk-...",
    },
    Fireworks {
        slug: "fireworks", name: "Fireworks",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://api.fireworks.ai/inference/v1",
        slash_model_ids: true,
        example: "fw_...",
    },
    // https://docs.together.ai/docs/inference/openai-compatibility
    // (base URL https://api.together.ai/v1; was api.together.xyz)
    Together {
        slug: "together", name: "Together",
        format: OpenAiChat(OPENAI), target: BaseUrl,
        base_url: "https://api.together.ai/v1",
        slash_model_ids: true,
        example: "tgp_v1_...",
    },
}
families {
    "OpenAI": Prefix(&["gpt-", "o1", "o3", "o4", "chatgpt-", "codex-", "computer-use-", "text-embedding-"])
        => [OpenAi, OpenAiResponses, Azure, AzureResponses],
    "Anthropic Claude": Prefix(&["claude-"]) => [Anthropic, AzureAnthropicFoundry],
    "Google Gemini": Prefix(&["gemini-", "gemma-", "learnlm-"]) => [Google],
    "Z.AI GLM": Prefix(&["glm-"]) => [Zai],
    "AWS Bedrock": Bedrock => [Aws],
    "Fireworks": Prefix(&["accounts/"]) => [Fireworks],
    // every provider whose row says `slash_model_ids: true`, in preference order
    "vendor/model": Slash => [
        OpenRouter, Vercel, Together, DeepInfra, Fireworks, Groq, Nvidia, Novita,
        SiliconFlow, Hyperbolic, Chutes, GmiCloud, MegaNova, Akash,
    ],
}
}

impl ProviderId {
    /// This provider's row.
    pub fn info(self) -> &'static ProviderInfo {
        // The macro writes the rows in enum order.
        &PROVIDERS[self as usize]
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
        assert_eq!(PROVIDERS.len(), ProviderId::COUNT);
        assert_eq!(ProviderId::ALL.len(), ProviderId::COUNT);
        for (i, row) in PROVIDERS.iter().enumerate() {
            assert_eq!(row.id as usize, i, "{} is out of order", row.slug);
            assert_eq!(ProviderId::ALL[i], row.id);
            assert_eq!(row.id.info(), row);
            assert_eq!(row.slug.parse::<ProviderId>().unwrap(), row.id);
        }
        let mut slugs: Vec<_> = PROVIDERS.iter().map(|p| p.slug).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), ProviderId::COUNT, "duplicate slug");
    }

    /// Every row's format and target fit together: the Azure targets serve
    /// their one format and take their base from the credential; every
    /// other target has an `https` default base URL.
    #[test]
    fn formats_and_targets_fit() {
        for p in &PROVIDERS {
            assert_eq!(p.credential, p.target.credential_format(), "{}", p.slug);
            let fits = match p.target {
                TargetKind::BaseUrl => !matches!(p.format, WireFormat::BedrockConverse),
                TargetKind::AzureDeployment => matches!(p.format, WireFormat::OpenAiChat(_)),
                TargetKind::AzureResponses => p.format == WireFormat::Responses,
                TargetKind::AzureFoundry => p.format == WireFormat::AnthropicMessages,
                TargetKind::BedrockRegion => p.format == WireFormat::BedrockConverse,
            };
            assert!(fits, "{}: {:?} on {:?}", p.slug, p.format, p.target);
            let azure = matches!(
                p.target,
                TargetKind::AzureDeployment | TargetKind::AzureResponses | TargetKind::AzureFoundry
            );
            assert_eq!(p.base_url.is_empty(), azure, "{}", p.slug);
            assert!(azure || p.base_url.starts_with("https://"), "{}", p.slug);
            assert!(!p.base_url.ends_with('/'), "{}", p.slug);
        }
    }

    /// Host tables: https, no trailing `/`, conditions in field order with
    /// no field twice, no two hosts for the same conditions, none for the
    /// default (empty) conditions, only on `BaseUrl` rows.
    #[test]
    fn host_tables_are_well_formed() {
        for p in &PROVIDERS {
            let mut seen: Vec<&[(HostField, &str)]> = Vec::new();
            for h in p.hosts {
                assert_eq!(p.target, TargetKind::BaseUrl, "{}", p.slug);
                assert!(h.base_url.starts_with("https://"), "{}", p.slug);
                assert!(!h.base_url.ends_with('/'), "{}", p.slug);
                assert_ne!(h.base_url, p.base_url, "{}", p.slug);
                assert!(!h.when.is_empty(), "{}", p.slug);
                assert!(
                    h.when.windows(2).all(|w| w[0].0 < w[1].0),
                    "{}: conditions out of order or repeated",
                    p.slug
                );
                assert!(
                    h.when.iter().all(|(_, v)| !v.is_empty()
                        && v.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')),
                    "{}",
                    p.slug
                );
                assert!(!seen.contains(&h.when), "{}: duplicate host", p.slug);
                seen.push(h.when);
            }
        }
    }

    #[test]
    fn host_fields_and_values() {
        let zai = ProviderId::Zai.info();
        assert_eq!(
            zai.host_fields().collect::<Vec<_>>(),
            [HostField::Region, HostField::Plan]
        );
        assert_eq!(zai.host_values(HostField::Region), ["cn"]);
        assert_eq!(zai.host_values(HostField::Plan), ["coding"]);
        let sf = ProviderId::SiliconFlow.info();
        assert_eq!(sf.host_fields().collect::<Vec<_>>(), [HostField::Region]);
        assert!(sf.host_values(HostField::Plan).is_empty());
        assert_eq!(ProviderId::Groq.info().host_fields().count(), 0);
        assert_eq!(HostField::Region.as_str(), "region");
        assert_eq!(HostField::Plan.as_str(), "plan");
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
    fn the_ids_from_the_docs() {
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
