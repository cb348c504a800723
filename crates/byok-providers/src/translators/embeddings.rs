//! What the translated embeddings (Gemini's `batchEmbedContents`, Bedrock's
//! embedding models) share: OpenAI's request read (text inputs, a positive
//! `dimensions`) and OpenAI's answer written from the vectors.
//!
//! The answer: `{"object": "list", "data": [{"object": "embedding",
//! "index", "embedding"}], "model", "usage"?}`, each vector as numbers or,
//! for `encoding_format: "base64"`, as OpenAI writes it: the little-endian
//! `f32` bytes in standard base64.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::error::ProviderError;
use crate::id::ProviderId;

/// Vectors decoded from a provider's embeddings answer, in input order,
/// and the input tokens it reported (none when it reports none).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Embedded {
    /// One vector per input, in input order.
    pub vectors: Vec<Vec<f32>>,
    /// The input tokens the provider reported, if it did.
    pub prompt_tokens: Option<u64>,
}

impl Embedded {
    /// OpenAI's embeddings answer for `model`: the vectors as numbers or,
    /// with `base64`, as OpenAI's base64 of little-endian `f32`s; `usage`
    /// (`prompt_tokens` = `total_tokens`) when `prompt_tokens` is given.
    ///
    /// # Errors
    /// [`ProviderError::Malformed`] if the answer cannot be serialized.
    pub fn openai_answer(
        &self,
        provider: ProviderId,
        model: &str,
        base64: bool,
        prompt_tokens: Option<u64>,
    ) -> Result<Vec<u8>, ProviderError> {
        let data: Vec<Value> = self
            .vectors
            .iter()
            .enumerate()
            .map(|(index, values)| {
                let embedding = if base64 {
                    let mut raw = Vec::with_capacity(values.len() * 4);
                    for v in values {
                        raw.extend_from_slice(&v.to_le_bytes());
                    }
                    Value::String(base64::engine::general_purpose::STANDARD.encode(raw))
                } else {
                    json!(values)
                };
                json!({"object": "embedding", "index": index, "embedding": embedding})
            })
            .collect();
        let mut answer = json!({"object": "list", "data": data, "model": model});
        if let Some(n) = prompt_tokens {
            answer["usage"] = json!({"prompt_tokens": n, "total_tokens": n});
        }
        serde_json::to_vec(&answer).map_err(|_| ProviderError::Malformed {
            provider,
            what: "embeddings answer".into(),
        })
    }
}

/// The texts of OpenAI's `input` (a string, or a list of strings).
///
/// # Errors
/// [`ProviderError::InvalidRequest`] naming `provider` for anything else
/// (token arrays included: these providers embed text).
pub(crate) fn texts(provider: ProviderId, input: &Value) -> Result<Vec<&str>, ProviderError> {
    let not_text = || {
        ProviderError::invalid(
            format!(
                "{provider} embeds text only: `input` must be a string or a list of strings (not token arrays)"
            ),
            Some("input"),
        )
    };
    match input {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().ok_or_else(not_text))
            .collect(),
        _ => Err(not_text()),
    }
}

/// OpenAI's `dimensions`: absent (or `null`), or a positive integer.
///
/// # Errors
/// [`ProviderError::InvalidRequest`] for anything else.
pub(crate) fn dimensions(value: Option<&Value>) -> Result<Option<u64>, ProviderError> {
    match value.filter(|d| !d.is_null()) {
        None => Ok(None),
        Some(d) => d.as_u64().filter(|n| *n > 0).map(Some).ok_or_else(|| {
            ProviderError::invalid(
                "`dimensions` must be a positive integer",
                Some("dimensions"),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn answers_as_floats_or_base64_with_usage_when_known() {
        let e = Embedded {
            vectors: vec![vec![0.5, -1.0], vec![0.25]],
            prompt_tokens: None,
        };
        let floats: Value = serde_json::from_slice(
            &e.openai_answer(ProviderId::Aws, "m", false, Some(7))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            floats,
            json!({"object": "list", "model": "m", "data": [
                {"object": "embedding", "index": 0, "embedding": [0.5, -1.0]},
                {"object": "embedding", "index": 1, "embedding": [0.25]}
            ], "usage": {"prompt_tokens": 7, "total_tokens": 7}})
        );
        let b64: Value =
            serde_json::from_slice(&e.openai_answer(ProviderId::Aws, "m", true, None).unwrap())
                .unwrap();
        assert!(b64.get("usage").is_none());
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64["data"][0]["embedding"].as_str().unwrap())
            .unwrap();
        let back: Vec<f32> = raw
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(back, [0.5, -1.0]);
    }

    #[test]
    fn inputs_and_dimensions() {
        assert_eq!(
            texts(ProviderId::Aws, &json!(["a", "b"])).unwrap(),
            ["a", "b"]
        );
        assert_eq!(texts(ProviderId::Aws, &json!("a")).unwrap(), ["a"]);
        for bad in [json!([[1, 2]]), json!(3), json!(["a", 1])] {
            let e = texts(ProviderId::Aws, &bad).unwrap_err();
            assert!(e.to_string().contains("token arrays"), "{e}");
        }
        assert_eq!(dimensions(None).unwrap(), None);
        assert_eq!(dimensions(Some(&Value::Null)).unwrap(), None);
        assert_eq!(dimensions(Some(&json!(256))).unwrap(), Some(256));
        for bad in [json!(0), json!(-1), json!("big"), json!(1.5)] {
            assert!(dimensions(Some(&bad)).is_err(), "{bad}");
        }
    }
}
