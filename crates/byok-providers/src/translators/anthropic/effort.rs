//! Reasoning controls → Anthropic's `thinking` (and `output_config.effort`),
//! the `max_tokens` to send, and the sampling constraints thinking brings.
//!
//! # Which control (the model rule)
//!
//! The model id is read after its last `claude-` (so `anthropic/claude-…`
//! and `us.anthropic.claude-…` read the same): `claude-<family>-<major>[-<minor>]`
//! (a minor of more than two digits is a date: minor 0) or the older
//! `claude-<major>-<minor>-<family>`.
//!
//! | model | control |
//! |---|---|
//! | Claude 4.6 and later (`claude-opus-4-6`, `claude-sonnet-4-6`, `claude-opus-4-7`, `claude-sonnet-5`, …), any `fable` / `mythos` | adaptive: `thinking: {"type": "adaptive"}` + `output_config.effort` |
//! | everything else (`claude-sonnet-4-5`, `claude-haiku-4-5`, `claude-opus-4-1`, `claude-3-7-sonnet-…`, unknown names) | `thinking: {"type": "enabled", "budget_tokens"}` |
//!
//! `reasoning_effort` (or OpenRouter's `reasoning.effort`):
//!
//! | effort | adaptive | budget |
//! |---|---|---|
//! | `none` | no thinking | no thinking |
//! | `minimal` | `low` | 1024 |
//! | `low` | `low` | 1024 |
//! | `medium` | `medium` | 4096 |
//! | `high` | `high` | 16384 |
//! | `xhigh` | `xhigh` (4.7 and later, `fable`, `mythos` but the preview); `max` on 4.6 and `claude-mythos-preview` (they have no `xhigh`) | 32768 |
//! | `max` | `max` | 32768 |
//!
//! OpenRouter's `reasoning: {"max_tokens": N}` is a budget of `N` (at
//! least 1024, Anthropic's minimum) where the model takes budgets (4.6
//! still does); on adaptive-only models (4.7 and later, `fable`, `mythos`)
//! it is a 400. `{"enabled": true}` is adaptive thinking without an effort,
//! or the `medium` budget. `reasoning_effort` wins over `reasoning`, and a
//! `thinking` object passed through wins over both (sent as it came).
//!
//! With a budget, `max_tokens` (which counts the thinking) is raised to
//! the budget plus the requested limit (or [`DEFAULT_MAX_TOKENS`]) when it
//! does not exceed the budget; adaptive thinking leaves it alone.
//!
//! Bedrock's Converse translator uses the same rules for Claude
//! ([`plan`] with the client's `additionalModelRequestFields.thinking` as
//! the one passed through, [`reconcile`], and [`asked`] for the other
//! models' controls).
//!
//! # Thinking constraints
//!
//! While thinking (`enabled` or `adaptive`) Anthropic accepts only
//! `temperature` 1, `top_p` between 0.95 and 1, no `top_k`, and
//! `tool_choice` `auto` or `none`. `temperature: 1` is sent as nothing (the
//! same); any other value, a `top_p` below 0.95, a `top_k`, or a forced
//! `tool_choice` (`required`, a named function) is a 400 naming the field
//! and the thinking that conflicts: dropping them would change the answer
//! without a word.

use serde_json::{Value, json};

use super::DEFAULT_MAX_TOKENS;
use crate::error::ProviderError;
use crate::types::{ChatRequest, ToolChoice};

/// Budgets for `minimal`, `low`, `medium`, `high`, `xhigh` and `max` on
/// models that take `budget_tokens`.
pub(crate) const THINKING_BUDGETS: [(&str, u32); 6] = [
    ("minimal", 1024),
    ("low", 1024),
    ("medium", 4096),
    ("high", 16384),
    ("xhigh", 32768),
    ("max", 32768),
];

/// Anthropic's smallest thinking budget.
const MIN_BUDGET: u32 = 1024;

/// Which thinking control a model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// `thinking.budget_tokens` only (before 4.6, and unknown names).
    Budget,
    /// Adaptive with `effort`, budgets still accepted, no `xhigh` (4.6,
    /// `claude-mythos-preview`).
    Adaptive46,
    /// Adaptive only, `xhigh` included (4.7 and later, `fable`, `mythos`).
    AdaptiveOnly,
}

/// The thinking control of `model` (see the module docs).
pub(crate) fn control(model: &str) -> Control {
    let Some(start) = model.rfind("claude-") else {
        return Control::Budget;
    };
    let rest = &model[start + "claude-".len()..];
    let mut parts = rest.split(['-', '.', '@', ':']);
    let first = parts.next().unwrap_or("");
    let number = |s: Option<&str>| {
        s.filter(|s| s.len() <= 2)
            .and_then(|s| s.parse::<u32>().ok())
    };
    let (family, major, minor) = match first.parse::<u32>() {
        // claude-3-7-sonnet-…: before 4.6 whatever follows.
        Ok(major) => ("", major, 0),
        Err(_) => {
            let major = number(parts.next());
            (first, major.unwrap_or(0), number(parts.next()).unwrap_or(0))
        }
    };
    match family {
        "fable" => Control::AdaptiveOnly,
        "mythos" if rest.contains("preview") => Control::Adaptive46,
        "mythos" => Control::AdaptiveOnly,
        "opus" | "sonnet" | "haiku" if (major, minor) >= (4, 7) => Control::AdaptiveOnly,
        "opus" | "sonnet" | "haiku" if (major, minor) == (4, 6) => Control::Adaptive46,
        _ => Control::Budget,
    }
}

/// What the request asks for, before the model decides how.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Asked {
    /// No thinking.
    Off,
    /// An effort (`minimal` … `max`).
    Effort(&'static str),
    /// A budget of tokens (OpenRouter's `reasoning.max_tokens`).
    Budget(u32),
    /// On, the model's default depth (`reasoning.enabled: true`).
    On,
}

/// `reasoning_effort` / `reasoning.effort` values.
const EFFORTS: [&str; 7] = ["none", "minimal", "low", "medium", "high", "xhigh", "max"];

fn effort(value: &str, param: &str) -> Result<Asked, ProviderError> {
    match EFFORTS.iter().find(|e| **e == value) {
        Some(&"none") => Ok(Asked::Off),
        Some(e) => Ok(Asked::Effort(e)),
        None => Err(ProviderError::invalid(
            format!("`{param}` must be one of none, minimal, low, medium, high, xhigh, max"),
            Some(param),
        )),
    }
}

/// `reasoning_effort`, else OpenRouter's `reasoning` object (`None`:
/// nothing asked).
///
/// # Errors
/// An unknown effort, a `reasoning` that is neither an object nor `false`
/// / `null`, a `reasoning.max_tokens` that is not a positive integer.
pub(crate) fn asked(request: &ChatRequest) -> Result<Option<Asked>, ProviderError> {
    if let Some(e) = &request.reasoning_effort {
        return effort(e, "reasoning_effort").map(Some);
    }
    let r = match request.extra.get("reasoning") {
        None | Some(Value::Null | Value::Bool(false)) => return Ok(None),
        Some(Value::Object(r)) => r,
        Some(_) => {
            return Err(ProviderError::invalid(
                "`reasoning` must be an object: `{\"effort\": ...}`, `{\"max_tokens\": N}` or `{\"enabled\": bool}`",
                Some("reasoning"),
            ));
        }
    };
    if r.get("enabled") == Some(&Value::Bool(false)) {
        return Ok(Some(Asked::Off));
    }
    if let Some(e) = r.get("effort").filter(|e| !e.is_null()) {
        return effort(e.as_str().unwrap_or(""), "reasoning.effort").map(Some);
    }
    if let Some(n) = r.get("max_tokens").filter(|n| !n.is_null()) {
        let n = n.as_u64().ok_or_else(|| {
            ProviderError::invalid(
                "`reasoning.max_tokens` must be a positive integer",
                Some("reasoning"),
            )
        })?;
        let n = u32::try_from(n).unwrap_or(u32::MAX).max(MIN_BUDGET);
        return Ok(Some(Asked::Budget(n)));
    }
    Ok((r.get("enabled") == Some(&Value::Bool(true))).then_some(Asked::On))
}

/// The reasoning part of the wire request.
#[derive(Debug, Default)]
pub(crate) struct Thinking {
    /// `thinking`.
    pub(crate) thinking: Option<Value>,
    /// `output_config.effort`.
    pub(crate) effort: Option<&'static str>,
    /// The output limit to send: the request's, raised above a budget;
    /// `None` when the request sets none and no budget raises it (the
    /// Anthropic translator then sends [`DEFAULT_MAX_TOKENS`]).
    pub(crate) max_tokens: Option<u32>,
    /// Whether thinking is on (its constraints apply).
    pub(crate) on: bool,
}

/// `thinking`, `effort` and the output limit for `request` (see the module
/// docs); `passed` is the client's own `thinking` object, sent as it came
/// (Anthropic: the request's `thinking`; Bedrock: the one in
/// `additionalModelRequestFields`).
///
/// # Errors
/// An unknown effort, or a budget for an adaptive-only model.
pub(crate) fn plan(
    request: &ChatRequest,
    passed: Option<&Value>,
) -> Result<Thinking, ProviderError> {
    let asked_max = request.max_completion_tokens.or(request.max_tokens);
    let mut out = Thinking {
        max_tokens: asked_max,
        ..Thinking::default()
    };
    if let Some(t) = passed.filter(|t| !t.is_null()) {
        out.on = matches!(t["type"].as_str(), Some("enabled" | "adaptive"));
        out.thinking = Some(t.clone());
        return Ok(out);
    }
    let control = control(&request.model);
    let budget = match (asked(request)?, control) {
        (None | Some(Asked::Off), _) => return Ok(out),
        (Some(Asked::Effort(e)), Control::Budget) => budget_of(e),
        (Some(Asked::On), Control::Budget) => budget_of("medium"),
        (Some(Asked::Budget(n)), Control::Budget | Control::Adaptive46) => n,
        (Some(Asked::Budget(_)), Control::AdaptiveOnly) => {
            return Err(ProviderError::invalid(
                format!(
                    "`reasoning.max_tokens` cannot be honoured: {} thinks adaptively only (no token budget); use `reasoning_effort` or `reasoning.effort` instead",
                    request.model.chars().take(64).collect::<String>()
                ),
                Some("reasoning"),
            ));
        }
        (Some(Asked::Effort(e)), adaptive) => {
            out.effort = Some(adaptive_effort(e, adaptive));
            out.on = true;
            out.thinking = Some(json!({"type": "adaptive"}));
            return Ok(out);
        }
        (Some(Asked::On), _) => {
            out.on = true;
            out.thinking = Some(json!({"type": "adaptive"}));
            return Ok(out);
        }
    };
    // The budget counts inside max_tokens: keep room for the answer.
    if asked_max.is_none_or(|m| m <= budget) {
        out.max_tokens = Some(budget.saturating_add(asked_max.unwrap_or(DEFAULT_MAX_TOKENS)));
    }
    out.on = true;
    out.thinking = Some(json!({"type": "enabled", "budget_tokens": budget}));
    Ok(out)
}

/// The budget of a known effort.
fn budget_of(effort: &str) -> u32 {
    THINKING_BUDGETS
        .iter()
        .find(|(name, _)| *name == effort)
        .map_or(MIN_BUDGET, |(_, b)| *b)
}

/// An effort as the adaptive model's `output_config.effort`.
fn adaptive_effort(effort: &'static str, control: Control) -> &'static str {
    match effort {
        "minimal" => "low",
        "xhigh" if control != Control::AdaptiveOnly => "max",
        e => e,
    }
}

/// The `max_tokens` the translator sends for `request` (what
/// [`crate::limits::output_token_limit`] reports); a request the
/// translator refuses counts its own limit, or the default.
pub(crate) fn max_tokens(request: &ChatRequest) -> u32 {
    plan(request, request.extra.get("thinking"))
        .map_or_else(
            |_| request.max_completion_tokens.or(request.max_tokens),
            |t| t.max_tokens,
        )
        .unwrap_or(DEFAULT_MAX_TOKENS)
}

/// The sampling parameters to send while thinking is `on`: `temperature`
/// 1 dropped (the only value allowed, and the default); anything thinking
/// forbids refused with a 400 naming both.
///
/// # Errors
/// [`ProviderError::InvalidRequest`] for a `temperature` other than 1, a
/// `top_p` below 0.95, a `top_k` or a forced `tool_choice`.
pub(crate) fn reconcile(
    request: &ChatRequest,
    on: bool,
) -> Result<(Option<f64>, Option<f64>), ProviderError> {
    if !on {
        return Ok((request.temperature, request.top_p));
    }
    let conflict = |what: String, param: &str| {
        Err(ProviderError::invalid(
            format!(
                "{what} cannot be combined with thinking (`reasoning_effort`, `reasoning` or `thinking`) on Claude; remove it, or set `reasoning_effort` to `none`"
            ),
            Some(param),
        ))
    };
    let temperature = match request.temperature {
        Some(t) if (t - 1.0).abs() > f64::EPSILON => {
            return conflict(
                format!("`temperature` {t} (thinking requires 1)"),
                "temperature",
            );
        }
        _ => None,
    };
    if let Some(p) = request.top_p.filter(|p| *p < 0.95) {
        return conflict(
            format!("`top_p` {p} (thinking requires 0.95 to 1)"),
            "top_p",
        );
    }
    if request.extra.get("top_k").is_some_and(|k| !k.is_null()) {
        return conflict("`top_k`".to_owned(), "top_k");
    }
    let forced = match &request.tool_choice {
        Some(ToolChoice::Mode(m)) => m == "required",
        Some(ToolChoice::Named(_)) => true,
        _ => false,
    };
    if forced {
        return conflict(
            "a forced `tool_choice` (`required` or a named function; thinking allows only `auto` or `none`)".to_owned(),
            "tool_choice",
        );
    }
    Ok((temperature, request.top_p))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::translators::inverse::req;

    #[test]
    fn the_model_rule() {
        for (model, want) in [
            ("claude-opus-4-6", Control::Adaptive46),
            ("claude-sonnet-4-6", Control::Adaptive46),
            ("claude-sonnet-4-6-20260217", Control::Adaptive46),
            ("claude-opus-4-7", Control::AdaptiveOnly),
            ("claude-opus-4-8", Control::AdaptiveOnly),
            ("claude-opus-5", Control::AdaptiveOnly),
            ("claude-sonnet-5-5", Control::AdaptiveOnly),
            ("claude-haiku-5-5", Control::AdaptiveOnly),
            ("claude-fable-5-1", Control::AdaptiveOnly),
            ("claude-mythos-5", Control::AdaptiveOnly),
            ("claude-mythos-preview", Control::Adaptive46),
            ("us.anthropic.claude-opus-4-7-v1:0", Control::AdaptiveOnly),
            ("anthropic/claude-sonnet-4.6", Control::Adaptive46),
            ("claude-sonnet-4-5", Control::Budget),
            ("claude-sonnet-4-5-20250929", Control::Budget),
            ("claude-haiku-4-5", Control::Budget),
            ("claude-opus-4-1", Control::Budget),
            ("claude-sonnet-4-20250514", Control::Budget),
            ("claude-3-7-sonnet-20250219", Control::Budget),
            ("my-foundry-deployment", Control::Budget),
            ("claude", Control::Budget),
        ] {
            assert_eq!(control(model), want, "{model}");
        }
    }

    fn sent(body: Value) -> Result<Thinking, ProviderError> {
        let request = req(body);
        plan(&request, request.extra.get("thinking"))
    }

    fn body(model: &str, extra: Value) -> Value {
        let mut b = json!({"model": model, "messages": [{"role": "user", "content": "x"}]});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    }

    #[test]
    fn efforts_on_adaptive_models() {
        for (model, effort, want) in [
            ("claude-opus-4-7", "minimal", "low"),
            ("claude-opus-4-7", "low", "low"),
            ("claude-opus-4-7", "medium", "medium"),
            ("claude-opus-4-7", "high", "high"),
            ("claude-opus-4-7", "xhigh", "xhigh"),
            ("claude-sonnet-4-6", "xhigh", "max"),
            ("claude-opus-4-6", "max", "max"),
        ] {
            let t = sent(body(
                model,
                json!({"reasoning_effort": effort, "max_tokens": 100}),
            ))
            .unwrap();
            assert_eq!(
                t.thinking,
                Some(json!({"type": "adaptive"})),
                "{model} {effort}"
            );
            assert_eq!(t.effort, Some(want), "{model} {effort}");
            assert_eq!(t.max_tokens, Some(100), "adaptive leaves max_tokens alone");
            assert!(t.on);
        }
        let t = sent(body("claude-opus-4-7", json!({"reasoning_effort": "none"}))).unwrap();
        assert!(t.thinking.is_none() && t.effort.is_none() && !t.on);
    }

    #[test]
    fn efforts_on_budget_models() {
        for (effort, budget) in [
            ("minimal", 1024),
            ("low", 1024),
            ("medium", 4096),
            ("high", 16384),
            ("xhigh", 32768),
        ] {
            let t = sent(body(
                "claude-sonnet-4-5",
                json!({"reasoning_effort": effort}),
            ))
            .unwrap();
            assert_eq!(
                t.thinking,
                Some(json!({"type": "enabled", "budget_tokens": budget})),
                "{effort}"
            );
            assert_eq!(t.max_tokens, Some(budget + DEFAULT_MAX_TOKENS));
            assert!(t.effort.is_none());
        }
        let t = sent(body(
            "claude-sonnet-4-5",
            json!({"reasoning_effort": "none"}),
        ))
        .unwrap();
        assert!(t.thinking.is_none() && !t.on);
        let e = sent(body(
            "claude-sonnet-4-5",
            json!({"reasoning_effort": "ultra"}),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("xhigh"), "{e}");
    }

    #[test]
    fn openrouter_reasoning_object() {
        let cases = [
            (
                json!({"effort": "high"}),
                "claude-opus-4-7",
                Some(json!({"type": "adaptive"})),
                Some("high"),
            ),
            (
                json!({"max_tokens": 3000}),
                "claude-sonnet-4-5",
                Some(json!({"type": "enabled", "budget_tokens": 3000})),
                None,
            ),
            (
                json!({"max_tokens": 10}),
                "claude-sonnet-4-6",
                Some(json!({"type": "enabled", "budget_tokens": 1024})),
                None,
            ),
            (
                json!({"enabled": true}),
                "claude-sonnet-4-6",
                Some(json!({"type": "adaptive"})),
                None,
            ),
            (
                json!({"enabled": true}),
                "claude-3-7-sonnet-20250219",
                Some(json!({"type": "enabled", "budget_tokens": 4096})),
                None,
            ),
            (
                json!({"enabled": false, "effort": "high"}),
                "claude-opus-4-7",
                None,
                None,
            ),
        ];
        for (reasoning, model, thinking_want, effort_want) in cases {
            let t = sent(body(model, json!({"reasoning": reasoning}))).unwrap();
            assert_eq!(t.thinking, thinking_want, "{reasoning}");
            assert_eq!(t.effort, effort_want, "{reasoning}");
        }
        let e = sent(body("claude-opus-4-7", json!({"reasoning": "high"}))).unwrap_err();
        assert!(e.to_string().contains("must be an object"), "{e}");
        let e = sent(body(
            "claude-opus-4-7",
            json!({"reasoning": {"max_tokens": 3000}}),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("reasoning.max_tokens"), "{e}");
        let t = sent(body(
            "claude-opus-4-7",
            json!({"reasoning": {"effort": "high"}, "reasoning_effort": "low"}),
        ))
        .unwrap();
        assert_eq!(t.effort, Some("low"), "reasoning_effort wins");
        let t = sent(body("claude-opus-4-7", json!({"reasoning_effort": "low", "thinking": {"type": "enabled", "budget_tokens": 2000}}))).unwrap();
        assert_eq!(
            t.thinking.unwrap()["budget_tokens"],
            2000,
            "thinking passed through wins"
        );
        assert!(t.effort.is_none() && t.on);
    }

    #[test]
    fn thinking_constraints() {
        let on = |extra: Value| reconcile(&req(body("claude-opus-4-7", extra)), true);
        assert_eq!(
            on(json!({"temperature": 1.0, "top_p": 0.95})).unwrap(),
            (None, Some(0.95))
        );
        for (extra, names) in [
            (json!({"temperature": 0.2}), ["temperature", "thinking"]),
            (json!({"top_p": 0.5}), ["top_p", "thinking"]),
            (json!({"top_k": 5}), ["top_k", "thinking"]),
            (
                json!({"tool_choice": "required"}),
                ["tool_choice", "thinking"],
            ),
            (
                json!({"tool_choice": {"type": "function", "function": {"name": "f"}}}),
                ["tool_choice", "thinking"],
            ),
        ] {
            let e = on(extra.clone()).unwrap_err();
            for n in names {
                assert!(e.to_string().contains(n), "{extra}: {e}");
            }
        }
        assert!(on(json!({"tool_choice": "auto", "top_k": null})).is_ok());
        assert!(on(json!({"tool_choice": "none"})).is_ok());
        let off = reconcile(
            &req(body("claude-opus-4-7", json!({"temperature": 0.2}))),
            false,
        )
        .unwrap();
        assert_eq!(off, (Some(0.2), None));
    }
}
