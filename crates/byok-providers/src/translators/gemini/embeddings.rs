//! OpenAI's embeddings API to Gemini's `batchEmbedContents` and back (the
//! gateway's `/api/v1/embeddings` for `google`).
//!
//! | OpenAI | Gemini |
//! |---|---|
//! | `input` (a string or a list of strings) | one `requests[]` entry per string: `{"model": "models/<m>", "content": {"parts": [{"text"}]}}` |
//! | `dimensions` | `outputDimensionality` on each entry |
//! | token-array inputs | **400** (Gemini embeds text) |
//! | `encoding_format` `float` (default) / `base64` | the `values` as numbers / little-endian `f32` bytes in base64, as OpenAI writes them |
//! | answer | `{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model", "usage"}` |
//!
//! Gemini reports no token counts for embeddings: `usage` is left out and
//! the gateway estimates.

use serde::Deserialize;
use serde_json::{Value, json};

use super::request::model_segment;
use crate::error::ProviderError;
use crate::id::ProviderId;
use crate::translators::embeddings::{self as shared, Embedded};

/// A Gemini embeddings request: the operation's path and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeminiEmbeddings {
    /// `v1beta/models/<model>:batchEmbedContents`.
    pub op: String,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// Encodes an OpenAI embeddings request for Gemini.
///
/// # Errors
/// [`ProviderError::InvalidRequest`] for an input that is not text, a
/// malformed `dimensions` or a model id Gemini's URLs cannot hold.
pub fn encode_embeddings(
    model: &str,
    input: &Value,
    dimensions: Option<&Value>,
) -> Result<GeminiEmbeddings, ProviderError> {
    let segment = model_segment(model)?;
    let texts = shared::texts(ProviderId::Google, input)?;
    let dimensions = shared::dimensions(dimensions)?;
    let name = format!("models/{segment}");
    let requests: Vec<Value> = texts
        .into_iter()
        .map(|text| {
            let mut r = json!({"model": name, "content": {"parts": [{"text": text}]}});
            if let Some(n) = dimensions {
                r["outputDimensionality"] = json!(n);
            }
            r
        })
        .collect();
    let body = serde_json::to_vec(&json!({"requests": requests}))
        .map_err(|_| ProviderError::invalid("the embeddings request could not be encoded", None))?;
    Ok(GeminiEmbeddings {
        op: format!("v1beta/models/{segment}:batchEmbedContents"),
        body,
    })
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    embeddings: Vec<Embedding>,
}

#[derive(Deserialize)]
struct Embedding {
    #[serde(default)]
    values: Vec<f32>,
}

/// Decodes Gemini's `batchEmbedContents` answer into OpenAI's embeddings
/// answer for `model`, the vectors as numbers or, with `base64`, as
/// OpenAI's base64 of little-endian `f32`s.
///
/// # Errors
/// [`ProviderError::Malformed`] when the answer is not Gemini's shape.
pub fn decode_embeddings(
    provider: ProviderId,
    model: &str,
    bytes: &[u8],
    base64: bool,
) -> Result<Vec<u8>, ProviderError> {
    let answer: Answer = crate::http::parse_json(provider, "embeddings answer", bytes)?;
    let embedded = Embedded {
        vectors: answer.embeddings.into_iter().map(|e| e.values).collect(),
        prompt_tokens: None,
    };
    embedded.openai_answer(provider, model, base64, None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use base64::Engine as _;

    use super::*;

    #[test]
    fn requests_per_input_with_dimensions() {
        let e = encode_embeddings(
            "gemini-embedding-001",
            &json!(["a", "b"]),
            Some(&json!(256)),
        )
        .unwrap();
        assert_eq!(
            e.op,
            "v1beta/models/gemini-embedding-001:batchEmbedContents"
        );
        let body: Value = serde_json::from_slice(&e.body).unwrap();
        assert_eq!(
            body,
            json!({"requests": [
                {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 256},
                {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 256}
            ]})
        );
        let one = encode_embeddings("m", &json!("x"), None).unwrap();
        let body: Value = serde_json::from_slice(&one.body).unwrap();
        assert!(body["requests"][0].get("outputDimensionality").is_none());
    }

    #[test]
    fn refusals() {
        for (input, dims) in [
            (json!([[1, 2, 3]]), None),
            (json!(3), None),
            (json!("x"), Some(json!(-1))),
            (json!("x"), Some(json!("big"))),
        ] {
            let e = encode_embeddings("m", &input, dims.as_ref()).unwrap_err();
            assert!(matches!(e, ProviderError::InvalidRequest { .. }), "{e:?}");
        }
        assert!(encode_embeddings("../x", &json!("x"), None).is_err());
    }

    #[test]
    fn answers_as_floats_or_base64() {
        // From the Gemini API reference (models.batchEmbedContents).
        let answer = br#"{"embeddings": [{"values": [0.5, -1.0]}, {"values": [0.25]}]}"#;
        let floats: Value = serde_json::from_slice(
            &decode_embeddings(ProviderId::Google, "m", answer, false).unwrap(),
        )
        .unwrap();
        assert_eq!(
            floats,
            json!({"object": "list", "model": "m", "data": [
                {"object": "embedding", "index": 0, "embedding": [0.5, -1.0]},
                {"object": "embedding", "index": 1, "embedding": [0.25]}
            ]})
        );
        let b64: Value = serde_json::from_slice(
            &decode_embeddings(ProviderId::Google, "m", answer, true).unwrap(),
        )
        .unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64["data"][0]["embedding"].as_str().unwrap())
            .unwrap();
        let back: Vec<f32> = raw
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(back, [0.5, -1.0]);
        assert!(decode_embeddings(ProviderId::Google, "m", b"nope", false).is_err());
    }
}
