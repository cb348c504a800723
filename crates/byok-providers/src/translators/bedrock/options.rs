//! Request options that Converse carries outside the messages: reasoning
//! (`reasoning_effort`, OpenRouter's `reasoning`) through
//! `additionalModelRequestFields`, the `maxTokens` and sampling thinking
//! needs, and structured output (`response_format`) as `outputConfig`.
//!
//! - Claude (`anthropic.claude` in the model id): the Anthropic
//!   translator's rules ([`effort`]: the model rule, adaptive `thinking` +
//!   `output_config.effort` or `thinking.budget_tokens`, `maxTokens` raised
//!   above a budget, the thinking constraints on `temperature`, `top_p`
//!   and `tool_choice`), sent in `additionalModelRequestFields` (Bedrock
//!   user guide, "Extended thinking" and "Adaptive thinking"); a
//!   `thinking` the client puts there itself is the one passed through.
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
use crate::translators::anthropic::effort::{self, Asked, Thinking};
use crate::types::{ChatRequest, ResponseFormat};

/// Whether `model` is an Anthropic Claude model (a model id, an inference
/// profile `us.anthropic.claude-…`, or an ARN naming one).
fn is_claude(model: &str) -> bool {
    model.contains("anthropic.claude")
}

fn is_nova2(model: &str) -> bool {
    model.contains("amazon.nova-2")
}

/// The Anthropic translator's thinking plan for a Claude model (`None`
/// for other models), with the client's own
/// `additionalModelRequestFields.thinking` as the one passed through.
fn claude_plan(request: &ChatRequest) -> Option<Result<Thinking, ProviderError>> {
    is_claude(&request.model).then(|| {
        effort::plan(
            request,
            client_fields(request).and_then(|f| f.get("thinking")),
        )
    })
}

/// The `maxTokens` the translator sends: the request's limit, for Claude
/// raised above a thinking budget as the Anthropic translator raises it.
pub(crate) fn max_tokens(request: &ChatRequest) -> Option<u32> {
    match claude_plan(request) {
        Some(Ok(plan)) => plan.max_tokens,
        _ => request.max_completion_tokens.or(request.max_tokens),
    }
}

/// `temperature` and `topP` to send: for Claude while thinking, what
/// [`effort::reconcile`] allows (`temperature` 1 dropped).
///
/// # Errors
/// With Claude thinking, a `temperature` other than 1, a `top_p` below
/// 0.95 or a forced `tool_choice`.
pub(crate) fn sampling(request: &ChatRequest) -> Result<(Option<f64>, Option<f64>), ProviderError> {
    match claude_plan(request) {
        Some(Ok(plan)) => effort::reconcile(request, plan.on),
        // An invalid reasoning request is refused by `additional_fields`.
        _ => Ok((request.temperature, request.top_p)),
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
/// An invalid reasoning request; reasoning asked of a model with no known
/// control; a client value that is not an object when a control must be
/// merged into it.
pub(crate) fn additional_fields(
    p: ProviderId,
    request: &ChatRequest,
) -> Result<Option<Value>, ProviderError> {
    let client = request.extra.get("additionalModelRequestFields");
    let mut controls = Vec::new();
    if let Some(plan) = claude_plan(request) {
        let plan = plan?;
        let Some(thinking) = plan.thinking else {
            return Ok(client.cloned());
        };
        controls.push(("thinking", thinking));
        if let Some(e) = plan.effort {
            controls.push(("output_config", json!({"effort": e})));
        }
    } else {
        let level = match effort::asked(request)? {
            None | Some(Asked::Off) => return Ok(client.cloned()),
            Some(Asked::Effort(e)) if is_nova2(&request.model) => match e {
                "minimal" | "low" => "low",
                "medium" => "medium",
                _ => "high",
            },
            Some(Asked::On) if is_nova2(&request.model) => "medium",
            Some(Asked::Budget(_)) if is_nova2(&request.model) => {
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
        controls.push((
            "reasoningConfig",
            json!({"type": "enabled", "maxReasoningEffort": level}),
        ));
    }
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
    for (key, control) in controls {
        match (fields.get_mut(key), control) {
            (None, control) => {
                fields.insert(key.to_owned(), control);
            }
            // The effort merged into the client's own `output_config`.
            (Some(Value::Object(own)), Value::Object(ours)) if key == "output_config" => {
                for (k, v) in ours {
                    own.entry(k).or_insert(v);
                }
            }
            _ => {}
        }
    }
    Ok(Some(Value::Object(fields)))
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
