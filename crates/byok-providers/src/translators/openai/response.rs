//! A whole (non-streaming) answer in OpenAI's shape (with the extras
//! OpenAI-dialect providers commonly add), which may be forwarded as it
//! came.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::object::{Object, object, object_opt, objects, objects_opt};
use crate::types::{
    ChatResponse, Choice, CompletionTokensDetails, FinishReason, FunctionCall, PromptTokensDetails,
    ResponseMessage, ToolCall, Usage,
};

/// The finish reasons OpenAI sends (others are normalised by the lenient
/// path, so a chunk carrying one is not forwarded verbatim).
pub(super) fn standard_finish(reason: &str) -> Option<FinishReason> {
    Some(match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        "function_call" => FinishReason::FunctionCall,
        _ => return None,
    })
}

/// A non-streaming answer in exactly OpenAI's shape (serde refuses any
/// field not listed, at every level), with the extras OpenAI-dialect
/// providers commonly add (reasoning, OpenRouter's `provider`, ...): each
/// listed field lands in the parsed response, so nothing is dropped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictResponse {
    id: String,
    object: String,
    created: i64,
    model: String,
    #[serde(deserialize_with = "objects")]
    choices: Vec<StrictResponseChoice>,
    #[serde(default, deserialize_with = "object_opt")]
    usage: Option<StrictUsage>,
    #[serde(default)]
    system_fingerprint: Option<String>,
    #[serde(default, deserialize_with = "present")]
    service_tier: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    provider: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictResponseChoice {
    index: u32,
    #[serde(deserialize_with = "object")]
    message: StrictMessage,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    logprobs: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    native_finish_reason: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictMessage {
    role: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default, deserialize_with = "objects_opt")]
    tool_calls: Option<Vec<StrictToolCallFull>>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning_details: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "present")]
    reasoning: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    annotations: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    audio: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictToolCallFull {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(deserialize_with = "object")]
    function: StrictFunctionFull,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictFunctionFull {
    name: String,
    arguments: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    #[serde(default, deserialize_with = "object_opt")]
    prompt_tokens_details: Option<StrictPromptDetails>,
    #[serde(default, deserialize_with = "object_opt")]
    completion_tokens_details: Option<StrictCompletionDetails>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictPromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
    #[serde(default)]
    audio_tokens: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictCompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
    #[serde(default)]
    audio_tokens: Option<u64>,
    #[serde(default)]
    accepted_prediction_tokens: Option<u64>,
    #[serde(default)]
    rejected_prediction_tokens: Option<u64>,
}

/// An extra member as it came, `null` included (absent: `None`, by
/// `#[serde(default)]`), so the strict and lenient readings agree.
pub(super) fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The extras a strict struct lists, as the parsed type's `extra` map.
#[inline]
pub(super) fn extras<const N: usize>(fields: [(&str, Option<Value>); N]) -> Map<String, Value> {
    // Most chunks carry none of them: no map to build (a stream calls
    // this three times a chunk).
    if fields.iter().all(|(_, v)| v.is_none()) {
        return Map::new();
    }
    fields
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v?)))
        .collect()
}

/// The strict reading of a non-streaming answer: the response and whether
/// its bytes may be forwarded as they came (`chat.completion`, assistant
/// messages, standard finish reasons, `function` tool calls). `None` when
/// it is not in that shape (the caller reads it leniently).
pub(crate) fn strict_response(body: &[u8]) -> Option<(ChatResponse, bool)> {
    let Object(wire) = serde_json::from_slice::<Object<StrictResponse>>(body).ok()?;
    let mut verbatim = wire.object == "chat.completion";
    let choices = wire
        .choices
        .into_iter()
        .map(|c| strict_choice(c, &mut verbatim))
        .collect();
    let response = ChatResponse {
        id: wire.id,
        object: wire.object,
        created: wire.created,
        model: wire.model,
        choices,
        usage: wire.usage.map(StrictUsage::into_usage),
        system_fingerprint: wire.system_fingerprint,
        extra: extras([
            ("service_tier", wire.service_tier),
            ("provider", wire.provider),
        ]),
    };
    Some((response, verbatim))
}

/// One strict choice, clearing `verbatim` when it holds something the
/// parsed choice normalises.
fn strict_choice(c: StrictResponseChoice, verbatim: &mut bool) -> Choice {
    let finish_reason = c.finish_reason.as_deref().map(|r| {
        let standard = standard_finish(r);
        *verbatim &= standard.is_some();
        standard.unwrap_or(FinishReason::Stop)
    });
    let m = c.message;
    *verbatim &= m.role == "assistant";
    let tool_calls = m.tool_calls.map(|calls| {
        calls
            .into_iter()
            .map(|t| {
                *verbatim &= t.kind == "function";
                ToolCall {
                    id: t.id,
                    kind: t.kind,
                    function: FunctionCall {
                        name: t.function.name,
                        arguments: t.function.arguments,
                    },
                }
            })
            .collect()
    });
    Choice {
        index: c.index,
        message: ResponseMessage {
            role: m.role,
            content: m.content,
            tool_calls,
            refusal: m.refusal,
            reasoning_content: m.reasoning_content,
            reasoning_details: m.reasoning_details,
            extra: extras([
                ("reasoning", m.reasoning),
                ("annotations", m.annotations),
                ("audio", m.audio),
            ]),
        },
        finish_reason,
        logprobs: c.logprobs,
        extra: extras([("native_finish_reason", c.native_finish_reason)]),
    }
}

impl StrictUsage {
    fn into_usage(self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            total_tokens: self.total_tokens,
            prompt_tokens_details: self.prompt_tokens_details.map(|d| PromptTokensDetails {
                cached_tokens: d.cached_tokens,
                cache_write_tokens: None,
                audio_tokens: d.audio_tokens,
            }),
            completion_tokens_details: self.completion_tokens_details.map(|d| {
                CompletionTokensDetails {
                    reasoning_tokens: d.reasoning_tokens,
                    audio_tokens: d.audio_tokens,
                    accepted_prediction_tokens: d.accepted_prediction_tokens,
                    rejected_prediction_tokens: d.rejected_prediction_tokens,
                }
            }),
            extra: Default::default(),
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// JSON with null members removed (a missing member and `null` mean
    /// the same in a chunk).
    pub(in crate::translators::openai) fn meaning(mut v: Value) -> Value {
        fn strip(v: &mut Value) {
            match v {
                Value::Object(m) => {
                    m.retain(|_, x| !x.is_null());
                    m.values_mut().for_each(strip);
                }
                Value::Array(a) => a.iter_mut().for_each(strip),
                _ => {}
            }
        }
        strip(&mut v);
        v
    }

    /// The verbatim contract for an answer: forwarded bytes mean what the
    /// parsed response means, and the strict and lenient readings agree.
    fn check_response(body: &str) -> Option<bool> {
        let lenient: ChatResponse = serde_json::from_str(body).unwrap();
        let (strict, verbatim) = strict_response(body.as_bytes())?;
        assert_eq!(strict, lenient, "{body}");
        if verbatim {
            assert_eq!(
                meaning(serde_json::from_str(body).unwrap()),
                meaning(serde_json::to_value(&strict).unwrap()),
                "{body}"
            );
        }
        Some(verbatim)
    }

    #[test]
    fn answers_in_openais_exact_shape_are_verbatim_and_others_are_not() {
        let text = byok_testkit::fixture("openai/chat_text.json");
        let tools = byok_testkit::fixture("openai/chat_tool_calls.json");
        assert_eq!(check_response(&text), Some(true));
        assert_eq!(check_response(&tools), Some(true));
        // The extras OpenAI-dialect providers add are kept, so still verbatim.
        for with_extras in [
            text.replace(
                r#""refusal": null,"#,
                r#""refusal": null, "reasoning": "hm", "reasoning_details": [{"type": "reasoning.text", "text": "hm", "format": "unknown", "index": 0}], "audio": null,"#,
            ),
            text.replace(
                r#""logprobs": null,"#,
                r#""logprobs": {"content": []}, "native_finish_reason": "stop","#,
            ),
            text.replacen('{', r#"{"provider": "Groq","#, 1),
        ] {
            assert_eq!(check_response(&with_extras), Some(true), "{with_extras}");
        }
        assert_eq!(
            check_response(
                &text.replace(r#""finish_reason": "stop""#, r#""finish_reason": "eos""#)
            ),
            Some(false),
            "a finish reason the lenient path normalises"
        );
        assert_eq!(
            check_response(&text.replace(r#""role": "assistant""#, r#""role": "model""#)),
            Some(false)
        );
        for not_openai in [
            text.replacen('{', r#"{"x_groq": {"id": "r"},"#, 1),
            text.replace(
                r#""refusal": null,"#,
                r#""refusal": null, "reasoning_text": "hm","#,
            ),
            text.replace(
                r#""cached_tokens": 1920,"#,
                r#""cached_tokens": 1920, "cache_write_tokens": 5,"#,
            ),
            text.replace(
                r#""logprobs": null,"#,
                r#""logprobs": null, "stop_reason": null,"#,
            ),
        ] {
            assert_eq!(check_response(&not_openai), None, "{not_openai}");
        }
    }

    /// serde reads a struct from an array by position; the strict reading
    /// reads objects only, so an answer with an array where OpenAI sends
    /// an object is never marked verbatim.
    #[test]
    fn arrays_in_place_of_objects_are_not_read_strictly() {
        let answer = |choices: &str, usage: &str| {
            format!(
                r#"{{"id":"c","object":"chat.completion","created":1,"model":"m","choices":{choices},"usage":{usage}}}"#
            )
        };
        let usage = r#"{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":0}}"#;
        let choice = r#"[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]"#;
        assert!(strict_response(answer(choice, usage).as_bytes()).is_some_and(|(_, v)| v));
        for array in [
            r#"["c","chat.completion",1,"m",[]]"#.to_owned(),
            answer(r#"[[0,{"role":"assistant","content":"hi"}]]"#, usage),
            answer(r#"[{"index":0,"message":["assistant","hi"]}]"#, usage),
            answer(
                &choice.replace(
                    r#"{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}"#,
                    r#"["t","function",{"name":"f","arguments":"{}"}]"#,
                ),
                usage,
            ),
            answer(
                &choice.replace(r#"{"name":"f","arguments":"{}"}"#, r#"["f","{}"]"#),
                usage,
            ),
            answer(choice, "[1,2,3]"),
            answer(choice, &usage.replace(r#"{"cached_tokens":0}"#, "[0]")),
        ] {
            assert!(strict_response(array.as_bytes()).is_none(), "{array}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Whatever is marked verbatim means what it parses to.
        #[test]
        fn verbatim_answers_mean_what_they_parse_to(
            content in proptest::option::of(".{0,40}"),
            role in "assistant|model|[a-z]{1,6}",
            finish in proptest::option::of("stop|length|tool_calls|content_filter|eos"),
            extra_msg in proptest::option::of("[a-z_]{1,10}|reasoning|annotations|audio"),
            annotations in proptest::bool::ANY,
            with_usage in proptest::bool::ANY,
        ) {
            let mut message = serde_json::json!({"role": role, "content": content});
            if annotations { message["annotations"] = serde_json::json!([]); }
            if let Some(x) = &extra_msg { message[x.as_str()] = Value::from(1); }
            let mut body = serde_json::json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}]});
            if with_usage {
                body["usage"] = serde_json::json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
                    "prompt_tokens_details": {"cached_tokens": 0}});
            }
            check_response(&body.to_string());
        }
    }
}
