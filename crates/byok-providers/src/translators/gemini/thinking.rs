//! Thinking controls: `reasoning_effort` and OpenRouter's `reasoning`
//! object → `generationConfig.thinkingConfig`.
//!
//! Gemini has two controls (<https://ai.google.dev/gemini-api/docs/thinking>):
//!
//! - **Gemini 3.x: `thinkingLevel`** (`minimal`, `low`, `medium`, `high`).
//!   Flash and Flash-Lite take all four; 3.1 Pro takes `low`, `medium`,
//!   `high`; 3 Pro takes `low` and `high`. Pro cannot stop thinking. An
//!   effort maps to its level; a level the model lacks becomes the nearest
//!   one above it (`none` / `minimal` on Pro → `low`, `medium` on 3 Pro →
//!   `high`), `xhigh` → `high`. `none` on Flash → `minimal` (Gemini 3 has no
//!   "off"; `minimal` is its documented "no thinking for most queries").
//! - **Gemini 2.5 (and older thinking models): `thinkingBudget`** in
//!   tokens, from [`EFFORT_BUDGETS`], clamped to the model's documented
//!   range: 2.5 Pro 128–32768 (cannot be turned off: `none` → 128), 2.5
//!   Flash 0–24576, 2.5 Flash-Lite 512–24576 (0 turns both off).
//!
//! OpenRouter's `reasoning` in `ChatRequest.extra`: `{"effort": e}` like
//! `reasoning_effort` (which wins when both are given); `{"max_tokens": n}`
//! → a budget of `n` (clamped to the model's range) on 2.5, the level
//! whose budget covers `n` on 3.x; `{"enabled": false}` → `none`;
//! `{"exclude": true}` → thoughts are not asked for (`includeThoughts` not
//! set).

use serde_json::{Map, Value, json};

use crate::error::ProviderError;
use crate::types::ChatRequest;

/// Thinking budgets (tokens) for each `reasoning_effort` on budget models,
/// before clamping to the model's range. Also the thresholds that turn an
/// OpenRouter `reasoning.max_tokens` into a level on 3.x models.
pub(crate) const EFFORT_BUDGETS: [(&str, u32); 6] = [
    ("none", 0),
    ("minimal", 128),
    ("low", 1024),
    ("medium", 8192),
    ("high", 24576),
    ("xhigh", 32768),
];

/// Gemini 3 levels, least thinking first.
const LEVELS: [&str; 4] = ["minimal", "low", "medium", "high"];

/// How a model controls its thinking.
enum Control {
    /// `thinkingLevel`, with the levels the model accepts.
    Level(&'static [&'static str]),
    /// `thinkingBudget` within `min..=max`; `off`: 0 turns thinking off.
    Budget { min: u32, max: u32, off: bool },
}

/// The model id without its `models/` prefix.
fn bare(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}

fn control(model: &str) -> Control {
    let m = bare(model);
    if is_gemini_3(m) {
        return Control::Level(if m.starts_with("gemini-3-pro") {
            &["low", "high"]
        } else if m.contains("-pro") {
            &["low", "medium", "high"]
        } else {
            &LEVELS
        });
    }
    if m.starts_with("gemini-2.5-pro") {
        Control::Budget {
            min: 128,
            max: 32768,
            off: false,
        }
    } else if m.starts_with("gemini-2.5-flash-lite") {
        Control::Budget {
            min: 512,
            max: 24576,
            off: true,
        }
    } else {
        Control::Budget {
            min: 1,
            max: 24576,
            off: true,
        }
    }
}

/// Gemini 3.x (`gemini-3-...`, `gemini-3.1-...`): levels, and a thought
/// signature required on replayed function calls.
pub(super) fn is_gemini_3(model: &str) -> bool {
    let m = bare(model);
    m.strip_prefix("gemini-3")
        .is_some_and(|rest| rest.starts_with(['-', '.']))
}

/// Gemini 2.5 and 3.x text models think unless told otherwise (image and
/// speech variants take no `thinkingConfig`).
fn thinks_by_default(model: &str) -> bool {
    let m = bare(model);
    (m.starts_with("gemini-2.5") || m.starts_with("gemini-3"))
        && !m.contains("-image")
        && !m.contains("-tts")
}

/// What the request asks of thinking.
#[derive(Default)]
struct Ask<'a> {
    /// An effort (`reasoning_effort`, else `reasoning.effort`, else
    /// `none` for `reasoning.enabled: false`).
    effort: Option<&'a str>,
    /// OpenRouter's `reasoning.max_tokens`.
    max_tokens: Option<u64>,
    /// `reasoning.exclude: true`: do not ask for thought summaries.
    exclude: bool,
}

fn ask(request: &ChatRequest) -> Result<Ask<'_>, ProviderError> {
    let mut ask = Ask {
        effort: request.reasoning_effort.as_deref(),
        ..Ask::default()
    };
    match request.extra.get("reasoning") {
        None | Some(Value::Null | Value::Bool(false) | Value::Object(_)) => {}
        Some(_) => {
            return Err(ProviderError::invalid(
                "`reasoning` must be an object: {\"effort\": ...}, {\"max_tokens\": n}, {\"enabled\": bool} or {\"exclude\": bool}",
                Some("reasoning"),
            ));
        }
    }
    if let Some(Value::Object(r)) = request.extra.get("reasoning") {
        if ask.effort.is_none() {
            ask.effort = r.get("effort").and_then(Value::as_str);
        }
        ask.max_tokens = r.get("max_tokens").and_then(Value::as_u64);
        ask.exclude = r.get("exclude") == Some(&Value::Bool(true));
        if ask.effort.is_none()
            && ask.max_tokens.is_none()
            && r.get("enabled") == Some(&Value::Bool(false))
        {
            ask.effort = Some("none");
        }
    }
    if let Some(e) = ask.effort
        && !EFFORT_BUDGETS.iter().any(|(name, _)| *name == e)
    {
        return Err(ProviderError::invalid(
            "`reasoning_effort` must be none, minimal, low, medium, high or xhigh",
            Some("reasoning_effort"),
        ));
    }
    Ok(ask)
}

fn effort_budget(effort: &str) -> u32 {
    EFFORT_BUDGETS
        .iter()
        .find(|(name, _)| *name == effort)
        .map_or(0, |(_, b)| *b)
}

/// The effort whose budget covers `tokens` (for 3.x levels).
fn effort_for_tokens(tokens: u64) -> &'static str {
    EFFORT_BUDGETS
        .iter()
        .find(|(_, b)| tokens <= u64::from(*b))
        .map_or("xhigh", |(name, _)| *name)
}

/// The level sent for `effort` to a model accepting `levels`: its own, else
/// the nearest one above, else the highest.
fn level(levels: &[&'static str], effort: &str) -> &'static str {
    let wanted = match effort {
        "none" | "minimal" => 0,
        "low" => 1,
        "medium" => 2,
        _ => 3,
    };
    LEVELS[wanted..]
        .iter()
        .find(|l| levels.contains(l))
        .or_else(|| levels.last())
        .copied()
        .unwrap_or("high")
}

/// The budget sent for `tokens` to a budget model.
fn clamp_budget(tokens: u64, min: u32, max: u32, off: bool) -> u32 {
    if tokens == 0 && off {
        return 0;
    }
    u32::try_from(tokens).unwrap_or(u32::MAX).clamp(min, max)
}

/// Applies the request's thinking controls to `generation` (the client's
/// own `generationConfig` keys already in it, merged, not replaced): the
/// level or budget, and `includeThoughts: true` whenever the model thinks
/// and the client did not say otherwise, so thought parts come back as
/// `reasoning_content`.
pub(super) fn apply(
    request: &ChatRequest,
    generation: &mut Map<String, Value>,
) -> Result<(), ProviderError> {
    let ask = ask(request)?;
    let control = control(&request.model);
    let mut set: Option<(&str, Value)> = None;
    let mut thinks = thinks_by_default(&request.model);
    if ask.effort.is_some() || ask.max_tokens.is_some() {
        let effort = ask
            .effort
            .unwrap_or_else(|| effort_for_tokens(ask.max_tokens.unwrap_or(0)));
        set = Some(match control {
            Control::Level(levels) => ("thinkingLevel", json!(level(levels, effort))),
            Control::Budget { min, max, off } => {
                let tokens = match (ask.effort, ask.max_tokens) {
                    (None, Some(n)) => n,
                    _ => u64::from(effort_budget(effort)),
                };
                let budget = clamp_budget(tokens, min, max, off);
                thinks = budget > 0;
                ("thinkingBudget", json!(budget))
            }
        });
    }
    let include = thinks && !ask.exclude;
    if set.is_none() && !include {
        return Ok(());
    }
    let config = generation
        .entry("thinkingConfig")
        .or_insert_with(|| Value::Object(Map::new()));
    if !config.is_object() {
        *config = Value::Object(Map::new());
    }
    let Value::Object(config) = config else {
        return Ok(());
    };
    if let Some((key, value)) = set {
        config.remove("thinkingLevel");
        config.remove("thinkingBudget");
        config.insert(key.to_owned(), value);
    }
    if include {
        config.entry("includeThoughts").or_insert(Value::Bool(true));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn thinking(model: &str, effort: Option<&str>, reasoning: Option<Value>) -> Value {
        let mut body = json!({"model": model, "messages": [{"role": "user", "content": "x"}]});
        if let Some(e) = effort {
            body["reasoning_effort"] = json!(e);
        }
        if let Some(r) = reasoning {
            body["reasoning"] = r;
        }
        let r: ChatRequest = serde_json::from_value(body).unwrap();
        let mut g = Map::new();
        apply(&r, &mut g).unwrap();
        g.get("thinkingConfig").cloned().unwrap_or(Value::Null)
    }

    #[test]
    fn gemini_3_levels_per_model() {
        let cases = [
            ("gemini-3-flash-preview", "none", "minimal"),
            ("gemini-3-flash-preview", "minimal", "minimal"),
            ("gemini-3-flash-preview", "medium", "medium"),
            ("gemini-3-flash-preview", "xhigh", "high"),
            ("gemini-3.1-flash-lite", "low", "low"),
            ("gemini-3-pro-preview", "none", "low"),
            ("gemini-3-pro-preview", "minimal", "low"),
            ("gemini-3-pro-preview", "medium", "high"),
            ("gemini-3-pro-preview", "high", "high"),
            ("models/gemini-3.1-pro-preview", "minimal", "low"),
            ("gemini-3.1-pro-preview", "medium", "medium"),
        ];
        for (model, effort, level) in cases {
            assert_eq!(
                thinking(model, Some(effort), None),
                json!({"thinkingLevel": level, "includeThoughts": true}),
                "{model} {effort}"
            );
        }
    }

    #[test]
    fn gemini_2_5_budgets_within_the_documented_ranges() {
        let cases = [
            ("gemini-2.5-flash", "none", 0),
            ("gemini-2.5-flash", "minimal", 128),
            ("gemini-2.5-flash", "low", 1024),
            ("gemini-2.5-flash", "xhigh", 24576),
            ("gemini-2.5-pro", "none", 128),
            ("gemini-2.5-pro", "xhigh", 32768),
            ("gemini-2.5-flash-lite", "minimal", 512),
            ("gemini-2.5-flash-lite", "none", 0),
        ];
        for (model, effort, budget) in cases {
            let mut want = json!({"thinkingBudget": budget});
            if budget > 0 {
                want["includeThoughts"] = json!(true);
            }
            assert_eq!(
                thinking(model, Some(effort), None),
                want,
                "{model} {effort}"
            );
        }
    }

    #[test]
    fn openrouter_reasoning_maps_like_the_effort() {
        let r = |v: Value| thinking("gemini-2.5-flash", None, Some(v));
        assert_eq!(
            r(json!({"effort": "high"})),
            json!({"thinkingBudget": 24576, "includeThoughts": true})
        );
        assert_eq!(
            r(json!({"max_tokens": 3000})),
            json!({"thinkingBudget": 3000, "includeThoughts": true})
        );
        assert_eq!(
            r(json!({"max_tokens": 100_000})),
            json!({"thinkingBudget": 24576, "includeThoughts": true})
        );
        assert_eq!(r(json!({"enabled": false})), json!({"thinkingBudget": 0}));
        assert_eq!(r(json!({"exclude": true})), Value::Null);
        assert_eq!(
            r(json!({"enabled": true})),
            json!({"includeThoughts": true})
        );
        assert_eq!(
            thinking("gemini-2.5-pro", None, Some(json!({"max_tokens": 10}))),
            json!({"thinkingBudget": 128, "includeThoughts": true})
        );
        assert_eq!(
            thinking(
                "gemini-3-flash-preview",
                None,
                Some(json!({"max_tokens": 5000}))
            ),
            json!({"thinkingLevel": "medium", "includeThoughts": true})
        );
        assert_eq!(
            thinking(
                "gemini-2.5-flash",
                Some("low"),
                Some(json!({"effort": "high"}))
            ),
            json!({"thinkingBudget": 1024, "includeThoughts": true}),
            "reasoning_effort wins"
        );
    }

    #[test]
    fn unknown_efforts_are_refused() {
        let r: ChatRequest = serde_json::from_value(json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "max"})).unwrap();
        let err = apply(&r, &mut Map::new()).unwrap_err();
        assert!(
            err.to_string()
                .contains("none, minimal, low, medium, high or xhigh"),
            "{err}"
        );
        let r: ChatRequest = serde_json::from_value(json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], "reasoning": "high"})).unwrap();
        let err = apply(&r, &mut Map::new()).unwrap_err();
        assert!(
            err.to_string().contains("`reasoning` must be an object"),
            "{err}"
        );
    }
}
