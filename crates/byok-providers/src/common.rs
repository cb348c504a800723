//! Helpers shared by the translators (not the OpenAI dialect, which passes
//! requests through).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::error::ProviderError;
use crate::http::Out;
use crate::id::ProviderId;
use crate::stream::StreamEvent;
use crate::types::{ChatChunk, ChatRequest, ChunkChoice, Delta, FinishReason, ToolCall, Usage};

/// Request fields every translator ignores because they cannot change the
/// answer (documented in `docs/providers.md`).
pub(crate) const HARMLESS_EXTRA: &[&str] = &[
    "store",
    "metadata",
    "service_tier",
    "stream_options",
    "modalities",
];

/// A 400 naming the parameter `provider` cannot express.
pub(crate) fn unsupported(provider: ProviderId, what: impl Into<String>) -> ProviderError {
    ProviderError::Unsupported {
        provider,
        what: what.into(),
    }
}

/// Refuses what a translator cannot honour: `n > 1`, content parts, tools
/// and `tool_choice` shapes only the OpenAI dialect passes through
/// ([`ChatRequest::unmodelled_except`]: the part kinds in `parts`, which
/// the translator encodes itself, are let through), and unknown extra
/// fields except the harmless ones, those the dialect passes through and
/// those holding a value that cannot change the answer ([`is_default`]).
pub(crate) fn check_common_parts(
    provider: ProviderId,
    request: &ChatRequest,
    native_extra: &[&str],
    parts: &[&str],
) -> Result<(), ProviderError> {
    request.validate()?;
    if request.n.is_some_and(|n| n != 1) {
        return Err(unsupported(provider, "`n` other than 1"));
    }
    if let Some(what) = request.unmodelled_except(parts) {
        return Err(unsupported(provider, what));
    }
    check_extra(provider, request, native_extra)
}

/// The extra-field part of [`check_common_parts`]: unknown extra fields
/// are refused except the harmless ones, those the dialect passes through
/// and those holding a default value.
fn check_extra(
    provider: ProviderId,
    request: &ChatRequest,
    native_extra: &[&str],
) -> Result<(), ProviderError> {
    for (key, value) in &request.extra {
        let key = key.as_str();
        if !HARMLESS_EXTRA.contains(&key) && !native_extra.contains(&key) && !is_default(key, value)
        {
            return Err(unsupported(
                provider,
                format!(
                    "the `{}` parameter",
                    key.chars().take(64).collect::<String>()
                ),
            ));
        }
    }
    Ok(())
}

/// Whether an unknown top-level field holds a value that cannot change the
/// answer, so ignoring it is faithful: `null`, `false` (`logprobs: false`,
/// ...), `top_logprobs: 0`, and OpenRouter's `reasoning` when it turns
/// reasoning off or only hides it (`{"enabled": false}`, `{"exclude": true}`).
fn is_default(key: &str, value: &Value) -> bool {
    match (key, value) {
        (_, Value::Null | Value::Bool(false)) => true,
        ("top_logprobs", Value::Number(n)) => n.as_f64() == Some(0.0),
        ("reasoning", Value::Object(m)) => {
            m.get("enabled") == Some(&Value::Bool(false))
                || m.iter().all(|(k, v)| k == "exclude" || v.is_null())
        }
        _ => false,
    }
}

/// Refuses non-zero `presence_penalty` / `frequency_penalty`, for dialects
/// that have no penalties (dropping them would change the answer).
pub(crate) fn refuse_penalties(
    provider: ProviderId,
    request: &ChatRequest,
) -> Result<(), ProviderError> {
    for (name, value) in [
        ("presence_penalty", request.presence_penalty),
        ("frequency_penalty", request.frequency_penalty),
    ] {
        if value.is_some_and(|v| v != 0.0) {
            return Err(unsupported(provider, format!("`{name}`")));
        }
    }
    Ok(())
}

/// Serializes a translated request body.
///
/// Encoding a `serde_json::Value` or a derived wire struct can only fail on
/// a non-string map key, which the translators never build; the error is
/// still reported rather than unwrapped.
pub(crate) fn encode_body(body: &impl serde::Serialize) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(body)
        .map_err(|e| ProviderError::invalid(format!("cannot encode request: {e}"), None))
}

/// A `data:` URL split into media type and base64 payload.
pub(crate) fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media = meta.strip_suffix(";base64")?;
    (!media.is_empty()).then_some((media, data))
}

/// A `file` content part (`{"type": "file", "file": {"file_data",
/// "filename"}}`) read for a translator that sends files inline: the media
/// type and base64 payload of `file_data`, a base64 `data:` URL (bare
/// base64 is read as a PDF only when the filename ends in `.pdf`), and the
/// filename (when not empty). Refused as unsupported, like any part a
/// provider cannot take: a `file_id` (an uploaded file the gateway cannot
/// resolve), no `file_data`, a `file_data` that is not a base64 `data:`
/// URL.
pub(crate) fn inline_file(
    provider: ProviderId,
    part: &Map<String, Value>,
) -> Result<(&str, &str, Option<&str>), ProviderError> {
    let file = part.get("file").and_then(Value::as_object);
    let field = |key: &str| file.and_then(|f| f.get(key)).and_then(Value::as_str);
    if field("file_id").is_some_and(|id| !id.is_empty()) {
        return Err(unsupported(
            provider,
            "`file_id` in `file` parts (the gateway cannot resolve uploaded files): send the file inline as `file_data`, a base64 `data:` URL",
        ));
    }
    let Some(data) = field("file_data") else {
        return Err(unsupported(
            provider,
            "`file` parts without `file_data` (send the file inline as a base64 `data:` URL)",
        ));
    };
    let filename = field("filename").filter(|f| !f.is_empty());
    let (media, payload) = match parse_data_url(data) {
        Some(parsed) => parsed,
        None if filename.is_some_and(|f| f.to_ascii_lowercase().ends_with(".pdf")) => {
            ("application/pdf", data)
        }
        None => {
            return Err(unsupported(
                provider,
                "`file_data` other than a base64 `data:` URL (`data:application/pdf;base64,...`)",
            ));
        }
    };
    Ok((media, payload, filename))
}

/// Tool-call arguments (a JSON string) as a JSON object.
pub(crate) fn arguments_object(
    provider: ProviderId,
    call: &ToolCall,
) -> Result<Value, ProviderError> {
    let args = call.function.arguments.trim();
    if args.is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_str::<Value>(args) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(ProviderError::InvalidRequest {
            message: format!(
                "tool call `{}` has arguments that are not a JSON object; {provider} needs an object",
                call.id.chars().take(64).collect::<String>()
            ),
            param: Some("messages".into()),
        }),
    }
}

/// A stream chunk with one choice.
pub(crate) fn chunk_event(
    id: &str,
    created: i64,
    model: &str,
    delta: Delta,
    finish: Option<FinishReason>,
) -> StreamEvent {
    StreamEvent::Chunk(Box::new(ChatChunk {
        id: id.to_owned(),
        object: "chat.completion.chunk".into(),
        created,
        model: model.to_owned(),
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish,
            logprobs: None,
            extra: serde_json::Map::new(),
        }],
        usage: None,
        system_fingerprint: None,
        extra: serde_json::Map::new(),
    }))
}

/// The end of a stream's usage: the usage event for the gateway, and the
/// OpenAI-shaped usage chunk (`choices: []`) when the client asked for it.
pub(crate) fn push_usage(
    out: &mut Out,
    usage: Usage,
    wants_usage: bool,
    id: &str,
    created: i64,
    model: &str,
) {
    if wants_usage {
        out.push_back(Ok(StreamEvent::Usage(usage.clone())));
        out.push_back(Ok(StreamEvent::Chunk(Box::new(ChatChunk {
            id: id.to_owned(),
            object: "chat.completion.chunk".into(),
            created,
            model: model.to_owned(),
            choices: Vec::new(),
            usage: Some(usage),
            system_fingerprint: None,
            extra: serde_json::Map::new(),
        }))));
    } else {
        out.push_back(Ok(StreamEvent::Usage(usage)));
    }
}

/// Unix seconds now.
pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls() {
        assert_eq!(
            parse_data_url("data:image/png;base64,AAAA"),
            Some(("image/png", "AAAA"))
        );
        assert_eq!(parse_data_url("data:image/png,AAAA"), None);
        assert_eq!(parse_data_url("https://x/y.png"), None);
        assert_eq!(parse_data_url("data:;base64,AAAA"), None);
    }

    #[test]
    fn defaults_cannot_change_the_answer() {
        use serde_json::json;
        for (key, value) in [
            ("logprobs", json!(false)),
            ("top_logprobs", json!(null)),
            ("top_logprobs", json!(0)),
            ("anything", json!(null)),
            ("reasoning", json!(null)),
            ("reasoning", json!({"enabled": false})),
            ("reasoning", json!({"exclude": true})),
            ("reasoning", json!({})),
        ] {
            assert!(is_default(key, &value), "{key}: {value}");
        }
        for (key, value) in [
            ("logprobs", json!(true)),
            ("top_logprobs", json!(2)),
            ("reasoning", json!({"effort": "high"})),
            ("reasoning", json!({"max_tokens": 100, "exclude": true})),
            ("anything", json!(0)),
        ] {
            assert!(!is_default(key, &value), "{key}: {value}");
        }
    }

    #[test]
    fn inline_files_are_read_one_way() {
        use serde_json::json;
        let read = |file: Value| {
            let part = json!({"type": "file", "file": file});
            let part = part.as_object().unwrap().clone();
            inline_file(ProviderId::Google, &part)
                .map(|(m, d, f)| (m.to_owned(), d.to_owned(), f.map(str::to_owned)))
        };
        assert_eq!(
            read(json!({"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}))
                .unwrap(),
            (
                "application/pdf".into(),
                "JVBERi0=".into(),
                Some("a.pdf".into())
            )
        );
        assert_eq!(
            read(json!({"file_data": "JVBERi0=", "filename": "B.PDF"})).unwrap(),
            (
                "application/pdf".into(),
                "JVBERi0=".into(),
                Some("B.PDF".into())
            )
        );
        for (file, says) in [
            (json!({"file_id": "file-abc"}), "`file_id`"),
            (
                json!({"file_id": "file-abc", "file_data": "data:application/pdf;base64,JVBERi0="}),
                "`file_id`",
            ),
            (json!({"filename": "a.pdf"}), "without `file_data`"),
            (json!({"file_data": "JVBERi0="}), "base64 `data:` URL"),
        ] {
            match read(file.clone()) {
                Err(ProviderError::Unsupported { what, .. }) => {
                    assert!(what.contains(says), "{file}: {what}");
                }
                other => panic!("{file}: {other:?}"),
            }
        }
    }
}
