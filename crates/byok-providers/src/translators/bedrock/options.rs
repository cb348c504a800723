//! Request options that Converse carries outside the messages: reasoning
//! (`reasoning_effort`, OpenRouter's `reasoning`) through
//! `additionalModelRequestFields`, the `maxTokens` thinking needs, and
//! structured output (`response_format`) as `outputConfig`.
//!
//! - Claude (`anthropic.claude` in the model id): `thinking: {"type":
//!   "enabled", "budget_tokens"}` (Bedrock user guide, "Extended thinking",
//!   model parameters for Anthropic Claude); `maxTokens` must exceed the
//!   budget, so it is raised to budget + the request's limit (else
//!   [`DEFAULT_ANSWER_TOKENS`]) when it does not.
//! - Amazon Nova 2 (`amazon.nova-2`): `reasoningConfig: {"type": "enabled",
//!   "maxReasoningEffort": "low" | "medium" | "high"}` (Nova 2 user guide,
//!   "Using the Converse API", reasoning).
//! - Any other model: a 400, unless the effort is `none`.
//!
//! Structured output: `outputConfig: {"textFormat": {"type": "json_schema",
//! "structure": {"jsonSchema": {"schema": <JSON text>, "name",
//! "description"}}}}` (API reference: `OutputConfig`, `OutputFormat`,
//! `OutputFormatStructure`, `JsonSchemaDefinition`; `schema` is a string).

use serde_json::{Map, Value, json};

use crate::common::unsupported;
use crate::error::ProviderError;
use crate::id::ProviderId;
use crate::types::{ChatRequest, ResponseFormat, ToolChoice};

/// Room for the answer on top of a thinking budget when the request sets
/// no limit (the Anthropic translator's default).
pub(crate) const DEFAULT_ANSWER_TOKENS: u32 = crate::translators::anthropic::DEFAULT_MAX_TOKENS;

/// Claude thinking budgets by effort (`low`, `medium`, `high` as the
/// Anthropic translator sends them; `minimal` is the API's minimum, 1024).
const CLAUDE_BUDGETS: [(&str, u32); 5] = [
    ("minimal", 1024),
    ("low", 1024),
    ("medium", 4096),
    ("high", 16384),
    ("xhigh", 32768),
];

/// What the request asks of the model's reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reasoning<'a> {
    /// Nothing asked, or `none` / `{"enabled": false}`.
    Off,
    /// An effort (`minimal` … `xhigh`).
    Effort(&'a str),
    /// A budget in tokens (`reasoning.max_tokens`).
    Budget(u32),
}

/// The reasoning the request asks for: `reasoning_effort` first, else
/// OpenRouter's `reasoning` object (`effort`, `max_tokens`, `enabled`).
///
/// # Errors
/// An unknown effort, or a `reasoning` that is not an object.
pub(crate) fn requested(request: &ChatRequest) -> Result<Reasoning<'_>, ProviderError> {
    if let Some(effort) = request.reasoning_effort.as_deref() {
        return effort_of(effort, "reasoning_effort");
    }
    let Some(r) = request.extra.get("reasoning") else {
        return Ok(Reasoning::Off);
    };
    let r = match r {
        Value::Null => return Ok(Reasoning::Off),
        Value::Object(m) => m,
        _ => {
            return Err(ProviderError::invalid(
                "`reasoning` must be an object",
                Some("reasoning"),
            ));
        }
    };
    if r.get("enabled") == Some(&Value::Bool(false)) {
        return Ok(Reasoning::Off);
    }
    if let Some(e) = r.get("effort").and_then(Value::as_str) {
        return effort_of(e, "reasoning");
    }
    if let Some(n) = r.get("max_tokens").and_then(Value::as_u64) {
        return Ok(Reasoning::Budget(u32::try_from(n).unwrap_or(u32::MAX)));
    }
    if r.get("enabled") == Some(&Value::Bool(true)) {
        return Ok(Reasoning::Effort("medium"));
    }
    Ok(Reasoning::Off)
}

fn effort_of<'a>(effort: &'a str, param: &str) -> Result<Reasoning<'a>, ProviderError> {
    match effort {
        "none" => Ok(Reasoning::Off),
        "minimal" | "low" | "medium" | "high" | "xhigh" => Ok(Reasoning::Effort(effort)),
        _ => Err(ProviderError::invalid(
            "the reasoning effort must be none, minimal, low, medium, high or xhigh",
            Some(param),
        )),
    }
}

/// Whether `model` is an Anthropic Claude model (a model id, an inference
/// profile `us.anthropic.claude-…`, or an ARN naming one).
pub(crate) fn is_claude(model: &str) -> bool {
    model.contains("anthropic.claude")
}

fn is_nova2(model: &str) -> bool {
    model.contains("amazon.nova-2")
}

/// The Claude thinking budget the request asks for, if any (none for other
/// models, or when the client passes its own `thinking` in
/// `additionalModelRequestFields`).
pub(crate) fn claude_budget(request: &ChatRequest) -> Option<u32> {
    if !is_claude(&request.model)
        || client_fields(request).is_some_and(|f| f.contains_key("thinking"))
    {
        return None;
    }
    match requested(request).ok()? {
        Reasoning::Off => None,
        Reasoning::Budget(b) => Some(b),
        Reasoning::Effort(e) => CLAUDE_BUDGETS
            .iter()
            .find(|(name, _)| *name == e)
            .map(|(_, b)| *b),
    }
}

/// The `maxTokens` the translator sends: the request's limit, raised above
/// the Claude thinking budget (budget + the limit, else
/// [`DEFAULT_ANSWER_TOKENS`]) when it does not exceed it.
pub(crate) fn max_tokens(request: &ChatRequest) -> Option<u32> {
    let sent = request.max_completion_tokens.or(request.max_tokens);
    match claude_budget(request) {
        Some(b) if sent.is_none_or(|m| m <= b) => {
            Some(b.saturating_add(sent.unwrap_or(DEFAULT_ANSWER_TOKENS)))
        }
        _ => sent,
    }
}

fn client_fields(request: &ChatRequest) -> Option<&Map<String, Value>> {
    request
        .extra
        .get("additionalModelRequestFields")
        .and_then(Value::as_object)
}

/// `additionalModelRequestFields`: the client's, with the reasoning control
/// merged in (a key the client set itself is kept as the client sent it).
///
/// # Errors
/// Reasoning asked of a model with no known control; with Claude thinking,
/// a forced `tool_choice` or a `temperature` other than 1 (Anthropic
/// refuses both with thinking); a client value that is not an object when
/// a control must be merged into it.
pub(crate) fn additional_fields(
    p: ProviderId,
    request: &ChatRequest,
) -> Result<Option<Value>, ProviderError> {
    let client = request.extra.get("additionalModelRequestFields");
    let (key, control) = match requested(request)? {
        Reasoning::Off => return Ok(client.cloned()),
        _ if is_claude(&request.model) => {
            let Some(budget) = claude_budget(request) else {
                return Ok(client.cloned());
            };
            check_claude_thinking(p, request)?;
            (
                "thinking",
                json!({"type": "enabled", "budget_tokens": budget}),
            )
        }
        Reasoning::Effort(e) if is_nova2(&request.model) => {
            let level = match e {
                "minimal" | "low" => "low",
                "medium" => "medium",
                _ => "high",
            };
            (
                "reasoningConfig",
                json!({"type": "enabled", "maxReasoningEffort": level}),
            )
        }
        Reasoning::Budget(_) if is_nova2(&request.model) => {
            return Err(unsupported(
                p,
                "`reasoning.max_tokens` for Amazon Nova on Bedrock (Nova takes an effort: use `reasoning_effort` low, medium or high)",
            ));
        }
        _ => {
            return Err(unsupported(
                p,
                format!(
                    "`reasoning_effort` for {} on Bedrock (pass the model's own control in `additionalModelRequestFields`)",
                    request.model.chars().take(100).collect::<String>()
                ),
            ));
        }
    };
    let mut fields = match client {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(ProviderError::invalid(
                "`additionalModelRequestFields` must be an object",
                Some("additionalModelRequestFields"),
            ));
        }
    };
    fields.entry(key).or_insert(control);
    Ok(Some(Value::Object(fields)))
}

/// What Anthropic refuses with thinking: a forced tool and a temperature
/// other than 1.
fn check_claude_thinking(p: ProviderId, request: &ChatRequest) -> Result<(), ProviderError> {
    let forced = match &request.tool_choice {
        Some(ToolChoice::Mode(m)) => m == "required",
        Some(ToolChoice::Named(_)) => true,
        _ => false,
    };
    if forced {
        return Err(unsupported(
            p,
            "a forced `tool_choice` (required or a named tool) together with reasoning on Claude (thinking allows `auto` or `none` only)",
        ));
    }
    if request.temperature.is_some_and(|t| t != 1.0) {
        return Err(unsupported(
            p,
            "`temperature` other than 1 together with reasoning on Claude (thinking requires it unset or 1)",
        ));
    }
    Ok(())
}

/// `outputConfig` for `response_format` `json_schema` (`text`: none);
/// `json_object` is refused (Converse structured output needs a schema).
///
/// # Errors
/// `json_object`; a `json_schema` without a `schema` object.
pub(crate) fn output_config(
    p: ProviderId,
    request: &ChatRequest,
) -> Result<Option<Value>, ProviderError> {
    let spec = match &request.response_format {
        None | Some(ResponseFormat::Text) => return Ok(None),
        Some(ResponseFormat::JsonObject) => {
            return Err(unsupported(
                p,
                "`response_format: json_object` (Converse structured output needs a schema: send `json_schema`)",
            ));
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => json_schema,
    };
    let schema = spec
        .get("schema")
        .filter(|s| s.is_object())
        .ok_or_else(|| {
            ProviderError::invalid(
                "`response_format.json_schema.schema` must be a JSON Schema object",
                Some("response_format"),
            )
        })?;
    let mut definition = json!({"schema": schema.to_string()});
    for key in ["name", "description"] {
        if let Some(v) = spec.get(key).and_then(Value::as_str) {
            definition[key] = json!(v);
        }
    }
    Ok(Some(json!({
        "textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}
    })))
}

/// `outputConfig`: the one built from `response_format` merged into the
/// client's own (its keys win), or either alone.
pub(crate) fn merged_output_config(
    p: ProviderId,
    request: &ChatRequest,
) -> Result<Option<Value>, ProviderError> {
    let built = output_config(p, request)?;
    let client = request.extra.get("outputConfig").filter(|v| !v.is_null());
    Ok(match (built, client) {
        (Some(Value::Object(mut b)), Some(Value::Object(c))) => {
            for (k, v) in c {
                b.insert(k.clone(), v.clone());
            }
            Some(Value::Object(b))
        }
        (b, None) => b,
        (_, Some(c)) => Some(c.clone()),
    })
}
