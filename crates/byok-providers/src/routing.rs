//! Which provider serves a request.
//!
//! [`resolve`] applies these rules in order; the first that decides wins:
//!
//! 1. **Explicit header.** `x-byok-provider: <id>` names the provider. The
//!    model id goes upstream unchanged (so OpenRouter's `openai/gpt-4o`
//!    keeps its prefix). Unknown id: [`RouteError::UnknownProvider`]; no
//!    credential for it: [`RouteError::MissingCredential`].
//! 2. **Provider prefix.** A model written `<id>/<model>` where `<id>` is a
//!    known provider id that the user holds goes to that provider with
//!    `<model>` (`groq/llama-3.3-70b-versatile` → groq,
//!    `llama-3.3-70b-versatile`; `openrouter/openai/gpt-4o` → openrouter,
//!    `openai/gpt-4o`). If the user does not hold that provider, the rule
//!    does not apply and the whole id goes on to rule 3 (so `openai/gpt-4o`
//!    reaches OpenRouter for a user who holds only OpenRouter).
//! 3. **Model family.** The first family in [`FAMILIES`] (written with
//!    the provider table) whose pattern
//!    matches picks the first of its providers, in the listed order, that the
//!    user holds. If the user holds none of them:
//!    [`RouteError::MissingCredential`] naming them all.
//! 4. **Only one.** A user who holds exactly one chat provider gets it.
//! 5. Otherwise [`RouteError::UnknownModel`].
//!
//! Only providers the user holds a credential for are ever chosen: there is
//! no fallback to anyone else's key.

use crate::error::RouteError;
use crate::id::{FAMILIES, ProviderId};

/// The outcome of routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The provider.
    pub provider: ProviderId,
    /// The model id to send upstream.
    pub model: String,
}

/// How a family recognises its models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pattern {
    /// The model id starts with one of these.
    Prefix(&'static [&'static str]),
    /// A Bedrock model id: `[region.]vendor.model` (e.g.
    /// `us.anthropic.claude-3-5-sonnet-20241022-v2:0`).
    Bedrock,
    /// Contains a `/` (`vendor/model`).
    Slash,
}

/// A model family and the providers that serve it, in preference order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// A name for docs and errors.
    pub name: &'static str,
    /// The pattern.
    pub pattern: Pattern,
    /// Providers, in order.
    pub providers: &'static [ProviderId],
}

const BEDROCK_VENDORS: &[&str] = &[
    "anthropic",
    "amazon",
    "meta",
    "mistral",
    "cohere",
    "ai21",
    "deepseek",
    "qwen",
    "openai",
    "writer",
    "twelvelabs",
    "stability",
    "luma",
];
const BEDROCK_REGIONS: &[&str] = &["us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"];

fn is_bedrock_id(model: &str) -> bool {
    let mut parts = model.splitn(3, '.');
    let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
        return false;
    };
    let rest = parts.next();
    if BEDROCK_REGIONS.contains(&a) && BEDROCK_VENDORS.contains(&b) {
        return rest.is_some_and(|r| !r.is_empty());
    }
    BEDROCK_VENDORS.contains(&a) && !b.is_empty() && !model.contains('/')
}

impl Pattern {
    fn matches(self, model: &str) -> bool {
        match self {
            Pattern::Prefix(prefixes) => prefixes.iter().any(|p| model.starts_with(p)),
            Pattern::Bedrock => is_bedrock_id(model),
            Pattern::Slash => model.contains('/'),
        }
    }
}

/// Routes `model` (see the module docs for the rules).
///
/// `explicit` is the `x-byok-provider` header; `available` the chat
/// providers the user holds credentials for.
///
/// # Errors
/// [`RouteError`], whose message tells the user what to add or set.
pub fn resolve(
    model: &str,
    explicit: Option<&str>,
    available: &[ProviderId],
) -> Result<Route, RouteError> {
    if model.trim().is_empty() || model.len() > 256 {
        return Err(RouteError::InvalidModel);
    }
    let holds = |p: ProviderId| available.contains(&p);
    if let Some(name) = explicit {
        let provider: ProviderId = name
            .trim()
            .parse()
            .map_err(|_| RouteError::UnknownProvider(name.chars().take(64).collect()))?;
        if !holds(provider) {
            return Err(RouteError::MissingCredential {
                model: model.to_owned(),
                needed: vec![provider],
            });
        }
        return Ok(Route {
            provider,
            model: model.to_owned(),
        });
    }
    if let Some((prefix, rest)) = model.split_once('/')
        && let Ok(provider) = prefix.parse::<ProviderId>()
        && holds(provider)
        && !rest.is_empty()
    {
        return Ok(Route {
            provider,
            model: rest.to_owned(),
        });
    }
    if let Some(family) = FAMILIES.iter().find(|f| f.pattern.matches(model)) {
        return match family.providers.iter().copied().find(|p| holds(*p)) {
            Some(provider) => Ok(Route {
                provider,
                model: model.to_owned(),
            }),
            None => Err(RouteError::MissingCredential {
                model: model.to_owned(),
                needed: family.providers.to_vec(),
            }),
        };
    }
    if let [only] = available {
        return Ok(Route {
            provider: *only,
            model: model.to_owned(),
        });
    }
    Err(RouteError::UnknownModel(model.chars().take(128).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::PROVIDERS;

    use ProviderId as P;

    /// Every provider that uses `vendor/model` ids appears in the slash family.
    fn slash_family_covers_table() -> bool {
        let slash = FAMILIES.iter().find(|f| f.pattern == Pattern::Slash);
        slash.is_some_and(|f| {
            PROVIDERS
                .iter()
                .filter(|p| p.slash_model_ids)
                .all(|p| f.providers.contains(&p.id))
        })
    }

    type Case = (
        &'static str,
        Option<&'static str>,
        &'static [ProviderId],
        Result<(ProviderId, &'static str), &'static str>,
    );

    #[test]
    fn routing_table() {
        let cases: &[Case] = &[
            // 1. explicit header wins, model unchanged
            (
                "openai/gpt-4o",
                Some("openrouter"),
                &[P::OpenRouter, P::OpenAi],
                Ok((P::OpenRouter, "openai/gpt-4o")),
            ),
            (
                "gpt-4o",
                Some("azure"),
                &[P::Azure, P::OpenAi],
                Ok((P::Azure, "gpt-4o")),
            ),
            (
                "gpt-4o",
                Some("openai"),
                &[P::OpenRouter],
                Err("needs a credential for openai"),
            ),
            (
                "gpt-4o",
                Some("nope"),
                &[P::OpenAi],
                Err("unknown provider `nope`"),
            ),
            // 2. provider prefix when held
            (
                "groq/llama-3.3-70b-versatile",
                None,
                &[P::Groq],
                Ok((P::Groq, "llama-3.3-70b-versatile")),
            ),
            (
                "openrouter/openai/gpt-4o",
                None,
                &[P::OpenRouter],
                Ok((P::OpenRouter, "openai/gpt-4o")),
            ),
            (
                "openai/gpt-4o",
                None,
                &[P::OpenAi, P::OpenRouter],
                Ok((P::OpenAi, "gpt-4o")),
            ),
            (
                "openai/gpt-4o",
                None,
                &[P::OpenRouter],
                Ok((P::OpenRouter, "openai/gpt-4o")),
            ),
            (
                "google/gemini-2.0-flash",
                None,
                &[P::Vercel],
                Ok((P::Vercel, "google/gemini-2.0-flash")),
            ),
            // 3. families, first held provider in order
            (
                "gpt-4o-mini",
                None,
                &[P::OpenAi],
                Ok((P::OpenAi, "gpt-4o-mini")),
            ),
            (
                "o3-mini",
                None,
                &[P::Azure, P::OpenAiResponses],
                Ok((P::OpenAiResponses, "o3-mini")),
            ),
            (
                "chatgpt-4o-latest",
                None,
                &[P::OpenAi],
                Ok((P::OpenAi, "chatgpt-4o-latest")),
            ),
            (
                "claude-sonnet-4-5",
                None,
                &[P::AzureAnthropicFoundry, P::Anthropic],
                Ok((P::Anthropic, "claude-sonnet-4-5")),
            ),
            (
                "claude-sonnet-4-5",
                None,
                &[P::OpenAi],
                Err("needs a credential for anthropic or azure-anthropic-foundry"),
            ),
            (
                "gemini-2.5-flash",
                None,
                &[P::Google, P::OpenRouter],
                Ok((P::Google, "gemini-2.5-flash")),
            ),
            ("glm-4.6", None, &[P::Zai], Ok((P::Zai, "glm-4.6"))),
            (
                "anthropic.claude-3-5-sonnet-20241022-v2:0",
                None,
                &[P::Aws],
                Ok((P::Aws, "anthropic.claude-3-5-sonnet-20241022-v2:0")),
            ),
            (
                "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
                None,
                &[P::Aws, P::Anthropic],
                Ok((P::Aws, "us.anthropic.claude-3-7-sonnet-20250219-v1:0")),
            ),
            (
                "accounts/fireworks/models/llama-v3p1-8b-instruct",
                None,
                &[P::Fireworks, P::OpenRouter],
                Ok((
                    P::Fireworks,
                    "accounts/fireworks/models/llama-v3p1-8b-instruct",
                )),
            ),
            (
                "meta-llama/Llama-3.3-70B-Instruct",
                None,
                &[P::DeepInfra, P::Together],
                Ok((P::Together, "meta-llama/Llama-3.3-70B-Instruct")),
            ),
            (
                "deepseek/deepseek-r1",
                None,
                &[P::OpenAi],
                Err("needs a credential for openrouter or vercel"),
            ),
            // 4. only one provider held
            (
                "llama-3.3-70b-versatile",
                None,
                &[P::Groq],
                Ok((P::Groq, "llama-3.3-70b-versatile")),
            ),
            // 5. nothing fits
            (
                "llama-3.3-70b-versatile",
                None,
                &[P::Groq, P::Cerebras],
                Err("cannot tell which provider"),
            ),
            ("", None, &[P::Groq], Err("invalid model id")),
        ];
        for (model, explicit, available, want) in cases {
            let got = resolve(model, *explicit, available);
            match (want, got) {
                (Ok((p, m)), Ok(route)) => {
                    assert_eq!(
                        (route.provider, route.model.as_str()),
                        (*p, *m),
                        "{model} {explicit:?} {available:?}"
                    )
                }
                (Err(msg), Err(e)) => {
                    assert!(e.to_string().contains(msg), "{model}: `{e}` lacks `{msg}`")
                }
                (want, got) => {
                    panic!("{model} {explicit:?} {available:?}: want {want:?}, got {got:?}")
                }
            }
        }
    }

    #[test]
    fn slash_family_lists_every_slash_provider() {
        assert!(slash_family_covers_table());
        // and only those: the family is the table's slash rows, reordered
        let slash = FAMILIES
            .iter()
            .find(|f| f.pattern == Pattern::Slash)
            .unwrap();
        for p in slash.providers {
            assert!(p.info().slash_model_ids, "{p} is in the slash family");
        }
        let mut members = slash.providers.to_vec();
        members.sort_unstable();
        members.dedup();
        assert_eq!(members.len(), slash.providers.len(), "listed twice");
    }

    #[test]
    fn bedrock_ids() {
        assert!(is_bedrock_id("amazon.nova-pro-v1:0"));
        assert!(is_bedrock_id("eu.meta.llama3-2-3b-instruct-v1:0"));
        assert!(!is_bedrock_id("gpt-4.1"));
        assert!(!is_bedrock_id("meta-llama/Llama-3.1"));
        assert!(!is_bedrock_id("us.notavendor.x"));
    }
}
