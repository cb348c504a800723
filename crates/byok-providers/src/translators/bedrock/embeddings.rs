//! OpenAI's embeddings API to Bedrock's embedding models and back (the
//! gateway's `/api/v1/embeddings` for `aws`): `InvokeModel`, `POST
//! {base}/model/{modelId}/invoke`, signed like every Bedrock call (SigV4,
//! or Bearer for a Bedrock API key). Shapes from the Bedrock user guide's
//! model parameters for Titan Text Embeddings and Cohere Embed.
//!
//! | OpenAI | Titan Text Embeddings V2 (`amazon.titan-embed-text-v2:0`) and V1 | Cohere Embed v3 (`cohere.embed-english-v3`, `cohere.embed-multilingual-v3`, the `-light-` ones) and v4 (`cohere.embed-v4:0`) |
//! |---|---|---|
//! | model | any id containing `amazon.titan-embed-text-v2`, `amazon.titan-embed-text-v1` or `amazon.titan-embed-g1-text` (inference profiles and ARNs included) | any id containing `cohere.embed-` (`cohere.embed-v4` is v4) |
//! | `input`: a string or a list of strings (at most [`MAX_EMBEDDING_INPUTS`]) | **one call per string**, `{"inputText"}` (Titan embeds one text a call); the calls go four at a time and the answers are put back in input order | `{"texts": [...]}`, 96 texts a call (Bedrock's limit), in order |
//! | token arrays, anything else | **400** (these models embed text) | **400** |
//! | `dimensions` | V2: `dimensions`, 256, 512 or 1024; otherwise, and on V1, **400** | v4: `output_dimension`, 256, 512, 1024 or 1536; otherwise, and on v3, **400** |
//! | `encoding_format` `float` / `base64` | Bedrock's floats, as numbers or OpenAI's base64 of little-endian `f32`s (written by the gateway; Bedrock's own `binary` type is another thing) | the same |
//! | Bedrock's own fields, kept | `normalize` (a boolean; V2 only, **400** on V1) | `input_type` (default `search_document`: documents for a search index; `search_query` for queries), `truncate` |
//! | other fields (`user`, ...) | not sent | not sent; v4 is sent `embedding_types: ["float"]` |
//! | answer | `embedding` of each call → `data[i]`; `usage.prompt_tokens` the sum of `inputTextTokenCount` | `embeddings` (a list, or `{"float": [...]}`) → `data[i]`; no token count (Cohere's `meta.billed_units.input_tokens` is read if present): the gateway estimates |
//!
//! Several calls go as one pass-through whose body is the JSON array of
//! the calls' bodies: Bedrock's `forward` signs and sends each and answers
//! with the JSON array of the answers, in order ([`crate::forward`]).
//! [`decode_embeddings`] takes one answer or such an array.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::encode_model_id;
use crate::error::ProviderError;
use crate::forward::ForwardBody;
use crate::id::ProviderId;
use crate::translators::embeddings::{self as shared, Embedded};

/// The most inputs one embeddings request may hold (OpenAI's own limit).
pub const MAX_EMBEDDING_INPUTS: usize = 2048;

/// The most texts Bedrock's Cohere Embed takes in one call.
const COHERE_TEXTS_PER_CALL: usize = 96;

/// Cohere's `input_type` when the client names none: documents to be
/// searched (the common case of an embeddings call; LiteLLM's default too).
const COHERE_DEFAULT_INPUT_TYPE: &str = "search_document";

/// The embedding model families the gateway translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    TitanV1,
    TitanV2,
    CohereV3,
    CohereV4,
}

impl Family {
    /// The family of a model id (a base model id, an inference profile id
    /// such as `us.cohere.embed-v4:0`, or an ARN ending in either).
    fn of(model: &str) -> Option<Self> {
        let m = model.to_ascii_lowercase();
        if m.contains("amazon.titan-embed-text-v2") {
            Some(Self::TitanV2)
        } else if m.contains("amazon.titan-embed-text-v1")
            || m.contains("amazon.titan-embed-g1-text")
        {
            Some(Self::TitanV1)
        } else if m.contains("cohere.embed-v4") {
            Some(Self::CohereV4)
        } else if m.contains("cohere.embed-") {
            Some(Self::CohereV3)
        } else {
            None
        }
    }
}

/// A Bedrock embeddings request: the `InvokeModel` operation's path
/// (relative to the runtime endpoint) and its body, one call's JSON object
/// or, when the inputs need several calls, a batch of the calls' bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BedrockEmbeddings {
    /// `model/{modelId}/invoke`, the model id percent-encoded.
    pub op: String,
    /// One call's JSON body, or a batch of two calls' or more.
    pub body: ForwardBody,
}

fn invalid(message: impl Into<String>, param: &str) -> ProviderError {
    ProviderError::invalid(message, Some(param))
}

/// An optional member of `options` (absent or `null`: none).
fn option<'a>(options: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    options.get(key).filter(|v| !v.is_null())
}

/// An optional string member of `options`.
fn string_option<'a>(
    options: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, ProviderError> {
    option(options, key)
        .map(|v| {
            v.as_str()
                .ok_or_else(|| invalid(format!("`{key}` must be a string"), key))
        })
        .transpose()
}

/// Encodes an OpenAI embeddings request (`model`, `input`, and the other
/// members of the body in `options`) for Bedrock.
///
/// # Errors
/// [`ProviderError::InvalidRequest`] for a model of no family above,
/// inputs that are not text (or none, or more than
/// [`MAX_EMBEDDING_INPUTS`]), and `dimensions`, `normalize`, `input_type`
/// or `truncate` the model does not take.
pub fn encode_embeddings(
    model: &str,
    input: &Value,
    options: &Map<String, Value>,
) -> Result<BedrockEmbeddings, ProviderError> {
    let family = Family::of(model).ok_or_else(|| {
        invalid(
            "aws embeds with Titan Text Embeddings (amazon.titan-embed-text-v2:0, amazon.titan-embed-text-v1) and Cohere Embed (cohere.embed-english-v3, cohere.embed-multilingual-v3, cohere.embed-v4:0) through this gateway",
            "model",
        )
    })?;
    let texts = shared::texts(ProviderId::Aws, input)?;
    if texts.is_empty() || texts.len() > MAX_EMBEDDING_INPUTS {
        return Err(invalid(
            format!("`input` must hold 1 to {MAX_EMBEDDING_INPUTS} texts"),
            "input",
        ));
    }
    let dimensions = shared::dimensions(option(options, "dimensions"))?;
    let bodies = match family {
        Family::TitanV1 | Family::TitanV2 => titan(family, &texts, dimensions, options)?,
        Family::CohereV3 | Family::CohereV4 => cohere(family, &texts, dimensions, options)?,
    };
    let encode = |body: &Value| {
        serde_json::to_vec(body).map(Bytes::from).map_err(|_| {
            ProviderError::invalid("the embeddings request could not be encoded", None)
        })
    };
    let body = match bodies.as_slice() {
        [one] => ForwardBody::One(encode(one)?),
        _ => ForwardBody::Batch(bodies.iter().map(encode).collect::<Result<_, _>>()?),
    };
    Ok(BedrockEmbeddings {
        op: format!("model/{}/invoke", encode_model_id(model)),
        body,
    })
}

/// One Titan body per text.
fn titan(
    family: Family,
    texts: &[&str],
    dimensions: Option<u64>,
    options: &Map<String, Value>,
) -> Result<Vec<Value>, ProviderError> {
    let v2 = family == Family::TitanV2;
    let mut common = Map::new();
    if let Some(n) = dimensions {
        if !v2 {
            return Err(invalid(
                "Titan Text Embeddings V1 has a fixed size (1536): `dimensions` needs amazon.titan-embed-text-v2:0",
                "dimensions",
            ));
        }
        if ![256, 512, 1024].contains(&n) {
            return Err(invalid(
                "Titan Text Embeddings V2 takes `dimensions` 256, 512 or 1024",
                "dimensions",
            ));
        }
        common.insert("dimensions".into(), json!(n));
    }
    if let Some(v) = option(options, "normalize") {
        if !v2 {
            return Err(invalid(
                "`normalize` is for Titan Text Embeddings V2 (amazon.titan-embed-text-v2:0)",
                "normalize",
            ));
        }
        let b = v
            .as_bool()
            .ok_or_else(|| invalid("`normalize` must be a boolean", "normalize"))?;
        common.insert("normalize".into(), Value::Bool(b));
    }
    Ok(texts
        .iter()
        .map(|text| {
            let mut body = common.clone();
            body.insert("inputText".into(), Value::String((*text).to_owned()));
            Value::Object(body)
        })
        .collect())
}

/// One Cohere body per 96 texts.
fn cohere(
    family: Family,
    texts: &[&str],
    dimensions: Option<u64>,
    options: &Map<String, Value>,
) -> Result<Vec<Value>, ProviderError> {
    let v4 = family == Family::CohereV4;
    let mut common = Map::new();
    let input_type = string_option(options, "input_type")?.unwrap_or(COHERE_DEFAULT_INPUT_TYPE);
    common.insert("input_type".into(), json!(input_type));
    if let Some(t) = string_option(options, "truncate")? {
        common.insert("truncate".into(), json!(t));
    }
    if let Some(n) = dimensions {
        if !v4 {
            return Err(invalid(
                "Cohere Embed v3 has a fixed size: `dimensions` needs cohere.embed-v4:0",
                "dimensions",
            ));
        }
        if ![256, 512, 1024, 1536].contains(&n) {
            return Err(invalid(
                "Cohere Embed v4 takes `dimensions` 256, 512, 1024 or 1536",
                "dimensions",
            ));
        }
        common.insert("output_dimension".into(), json!(n));
    }
    if v4 {
        common.insert("embedding_types".into(), json!(["float"]));
    }
    Ok(texts
        .chunks(COHERE_TEXTS_PER_CALL)
        .map(|chunk| {
            let mut body = common.clone();
            body.insert("texts".into(), json!(chunk));
            Value::Object(body)
        })
        .collect())
}

/// One answer or the array of a batch's answers.
#[derive(Deserialize)]
#[serde(untagged)]
enum Answers {
    Many(Vec<Answer>),
    One(Answer),
}

/// A Titan or a Cohere answer (the members either has).
#[derive(Deserialize)]
struct Answer {
    /// Titan's vector.
    embedding: Option<Vec<f32>>,
    /// Titan's count.
    #[serde(rename = "inputTextTokenCount")]
    input_text_token_count: Option<Value>,
    /// Cohere's vectors.
    embeddings: Option<Vectors>,
    /// Cohere's `meta.billed_units.input_tokens`, when it is there.
    meta: Option<Meta>,
}

/// Cohere's vectors: a list (`embeddings_floats`) or by type
/// (`embeddings_by_type`, the floats under `float`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Vectors {
    Floats(Vec<Vec<f32>>),
    ByType { float: Vec<Vec<f32>> },
}

#[derive(Deserialize)]
struct Meta {
    billed_units: Option<Billed>,
}

#[derive(Deserialize)]
struct Billed {
    input_tokens: Option<Value>,
}

/// Decodes a Bedrock embeddings answer (one call's, or the JSON array of a
/// batch's answers) into the vectors, in order, and the input tokens
/// reported (when every answer reports them).
///
/// # Errors
/// [`ProviderError::Malformed`] when an answer holds no vector of either
/// family's shape.
pub fn decode_embeddings(provider: ProviderId, bytes: &[u8]) -> Result<Embedded, ProviderError> {
    let answers = match crate::http::parse_json(provider, "embeddings answer", bytes)? {
        Answers::Many(all) => all,
        Answers::One(one) => vec![one],
    };
    let mut vectors = Vec::new();
    let mut tokens = Some(0_u64);
    for answer in answers {
        match (answer.embedding, answer.embeddings) {
            (Some(v), _) => vectors.push(v),
            (None, Some(Vectors::Floats(all) | Vectors::ByType { float: all })) => {
                vectors.extend(all);
            }
            (None, None) => {
                return Err(ProviderError::Malformed {
                    provider,
                    what: "embeddings answer: no `embedding` or `embeddings`".into(),
                });
            }
        }
        let counted = answer
            .input_text_token_count
            .as_ref()
            .or_else(|| {
                answer
                    .meta
                    .as_ref()
                    .and_then(|m| m.billed_units.as_ref())
                    .and_then(|b| b.input_tokens.as_ref())
            })
            .and_then(Value::as_u64);
        tokens = tokens.zip(counted).map(|(sum, n)| sum.saturating_add(n));
    }
    Ok(Embedded {
        vectors,
        prompt_tokens: tokens,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;

    fn encode(
        model: &str,
        input: Value,
        options: Value,
    ) -> Result<(String, Value, usize), ProviderError> {
        let Value::Object(options) = options else {
            unreachable!("options are an object")
        };
        let e = encode_embeddings(model, &input, &options)?;
        // How many calls the body holds: a batch of bodies (as an array
        // here), or one.
        let (body, calls) = match &e.body {
            ForwardBody::One(b) => (serde_json::from_slice(b).unwrap(), 1),
            ForwardBody::Batch(bodies) => {
                let all: Vec<Value> = bodies
                    .iter()
                    .map(|b| serde_json::from_slice(b).unwrap())
                    .collect();
                (Value::Array(all), bodies.len())
            }
        };
        Ok((e.op, body, calls))
    }

    #[test]
    fn families() {
        for (model, family) in [
            ("amazon.titan-embed-text-v2:0", Some(Family::TitanV2)),
            ("amazon.titan-embed-text-v1", Some(Family::TitanV1)),
            ("amazon.titan-embed-g1-text-02", Some(Family::TitanV1)),
            ("cohere.embed-english-v3", Some(Family::CohereV3)),
            ("cohere.embed-multilingual-v3", Some(Family::CohereV3)),
            ("cohere.embed-english-light-v3", Some(Family::CohereV3)),
            ("us.cohere.embed-v4:0", Some(Family::CohereV4)),
            (
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0",
                Some(Family::TitanV2),
            ),
            ("amazon.titan-embed-image-v1", None),
            ("anthropic.claude-3-5-haiku-20241022-v1:0", None),
            ("..", None),
        ] {
            assert_eq!(Family::of(model), family, "{model}");
        }
    }

    #[test]
    fn titan_is_one_call_per_text_with_its_options() {
        let (op, body, calls) = encode(
            "amazon.titan-embed-text-v2:0",
            json!("hello"),
            json!({"dimensions": 256, "normalize": false, "user": "u-1", "encoding_format": "base64"}),
        )
        .unwrap();
        assert_eq!(op, "model/amazon.titan-embed-text-v2%3A0/invoke");
        assert_eq!(calls, 1);
        assert_eq!(
            body,
            json!({"inputText": "hello", "dimensions": 256, "normalize": false})
        );
        let (_, body, calls) = encode(
            "amazon.titan-embed-text-v2:0",
            json!(["a", "b", "c"]),
            json!({}),
        )
        .unwrap();
        assert_eq!(calls, 3);
        assert_eq!(
            body,
            json!([{"inputText": "a"}, {"inputText": "b"}, {"inputText": "c"}])
        );
        let (_, body, _) = encode("amazon.titan-embed-text-v1", json!(["a"]), json!({})).unwrap();
        assert_eq!(body, json!({"inputText": "a"}));
    }

    #[test]
    fn cohere_batches_96_texts_a_call() {
        let (op, body, calls) = encode(
            "cohere.embed-english-v3",
            json!(["a", "b"]),
            json!({"truncate": "END", "dimensions": null}),
        )
        .unwrap();
        assert_eq!(op, "model/cohere.embed-english-v3/invoke");
        assert_eq!(calls, 1);
        assert_eq!(
            body,
            json!({"texts": ["a", "b"], "input_type": "search_document", "truncate": "END"})
        );
        let many: Vec<String> = (0..200).map(|i| format!("t{i}")).collect();
        let (_, body, calls) = encode(
            "cohere.embed-multilingual-v3",
            json!(many),
            json!({"input_type": "search_query"}),
        )
        .unwrap();
        assert_eq!(calls, 3);
        let sizes: Vec<usize> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["texts"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [96, 96, 8]);
        assert_eq!(body[2]["texts"][7], "t199");
        assert_eq!(body[1]["input_type"], "search_query");
        let (_, body, _) =
            encode("cohere.embed-v4:0", json!("x"), json!({"dimensions": 512})).unwrap();
        assert_eq!(
            body,
            json!({"texts": ["x"], "input_type": "search_document", "output_dimension": 512, "embedding_types": ["float"]})
        );
    }

    #[test]
    fn refusals() {
        let too_many: Vec<&str> = vec!["x"; MAX_EMBEDDING_INPUTS + 1];
        for (model, input, options, param) in [
            (
                "amazon.titan-embed-image-v1",
                json!("x"),
                json!({}),
                "model",
            ),
            (
                "meta.llama3-8b-instruct-v1:0",
                json!("x"),
                json!({}),
                "model",
            ),
            (
                "amazon.titan-embed-text-v2:0",
                json!([[1, 2]]),
                json!({}),
                "input",
            ),
            ("cohere.embed-english-v3", json!([]), json!({}), "input"),
            (
                "cohere.embed-english-v3",
                json!(too_many),
                json!({}),
                "input",
            ),
            (
                "amazon.titan-embed-text-v2:0",
                json!("x"),
                json!({"dimensions": 300}),
                "dimensions",
            ),
            (
                "amazon.titan-embed-text-v2:0",
                json!("x"),
                json!({"dimensions": -1}),
                "dimensions",
            ),
            (
                "amazon.titan-embed-text-v1",
                json!("x"),
                json!({"dimensions": 256}),
                "dimensions",
            ),
            (
                "amazon.titan-embed-text-v1",
                json!("x"),
                json!({"normalize": true}),
                "normalize",
            ),
            (
                "amazon.titan-embed-text-v2:0",
                json!("x"),
                json!({"normalize": "yes"}),
                "normalize",
            ),
            (
                "cohere.embed-english-v3",
                json!("x"),
                json!({"dimensions": 256}),
                "dimensions",
            ),
            (
                "cohere.embed-v4:0",
                json!("x"),
                json!({"dimensions": 100}),
                "dimensions",
            ),
            (
                "cohere.embed-english-v3",
                json!("x"),
                json!({"input_type": 3}),
                "input_type",
            ),
            (
                "cohere.embed-english-v3",
                json!("x"),
                json!({"truncate": false}),
                "truncate",
            ),
        ] {
            match encode(model, input.clone(), options.clone()) {
                Err(ProviderError::InvalidRequest { param: p, .. }) => {
                    assert_eq!(p.as_deref(), Some(param), "{model} {input} {options}");
                }
                other => panic!("{model} {input} {options}: {other:?}"),
            }
        }
    }

    #[test]
    fn titan_answers_sum_their_counts() {
        // Titan Text Embeddings V2's answer, from the Bedrock user guide.
        let one = br#"{"embedding": [0.5, -1.0], "inputTextTokenCount": 3, "embeddingsByType": {"float": [0.5, -1.0]}}"#;
        let e = decode_embeddings(ProviderId::Aws, one).unwrap();
        assert_eq!(e.vectors, [vec![0.5, -1.0]]);
        assert_eq!(e.prompt_tokens, Some(3));
        let many = br#"[{"embedding": [1.0], "inputTextTokenCount": 3}, {"embedding": [2.0], "inputTextTokenCount": 4}]"#;
        let e = decode_embeddings(ProviderId::Aws, many).unwrap();
        assert_eq!(e.vectors, [vec![1.0], vec![2.0]]);
        assert_eq!(e.prompt_tokens, Some(7));
        // A count missing from one answer: no count at all (the gateway
        // estimates rather than under-charge).
        let partial = br#"[{"embedding": [1.0], "inputTextTokenCount": 3}, {"embedding": [2.0]}]"#;
        assert_eq!(
            decode_embeddings(ProviderId::Aws, partial)
                .unwrap()
                .prompt_tokens,
            None
        );
    }

    #[test]
    fn cohere_answers_as_floats_or_by_type() {
        // Cohere Embed v3's answer on Bedrock (`embeddings_floats`).
        let floats = br#"{"embeddings": [[0.1, 0.2], [0.3, 0.4]], "id": "a1b2", "response_type": "embeddings_floats", "texts": ["a", "b"]}"#;
        let e = decode_embeddings(ProviderId::Aws, floats).unwrap();
        assert_eq!(e.vectors, [vec![0.1, 0.2], vec![0.3, 0.4]]);
        assert_eq!(e.prompt_tokens, None);
        let by_type = br#"[{"embeddings": {"float": [[1.0]]}, "response_type": "embeddings_by_type", "meta": {"billed_units": {"input_tokens": 2}}},
                           {"embeddings": {"float": [[2.0], [3.0]]}, "meta": {"billed_units": {"input_tokens": 5}}}]"#;
        let e = decode_embeddings(ProviderId::Aws, by_type).unwrap();
        assert_eq!(e.vectors, [vec![1.0], vec![2.0], vec![3.0]]);
        assert_eq!(e.prompt_tokens, Some(7));
    }

    #[test]
    fn malformed_answers_are_errors() {
        for bad in [
            &b"not json"[..],
            b"{}",
            b"[{}]",
            b"{\"embeddings\": {\"int8\": [[1]]}}",
            b"{\"embedding\": \"x\"}",
            b"3",
        ] {
            let e = decode_embeddings(ProviderId::Aws, bad).unwrap_err();
            assert!(matches!(e, ProviderError::Malformed { .. }), "{e:?}");
        }
    }

    /// Any JSON value (bounded depth and size).
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(|f| json!(f)),
            any::<i64>().prop_map(|i| json!(i)),
            "[a-zA-Z_]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("embedding".to_owned()),
                        Just("embeddings".to_owned()),
                        Just("inputTextTokenCount".to_owned()),
                        Just("float".to_owned()),
                        Just("meta".to_owned()),
                        Just("billed_units".to_owned()),
                        Just("input_tokens".to_owned()),
                        "[a-z]{1,8}",
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn decoding_never_panics(value in any_json(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let text = serde_json::to_vec(&value).unwrap();
            if let Ok(e) = decode_embeddings(ProviderId::Aws, &text) {
                // What decodes writes an OpenAI answer, both ways.
                for base64 in [false, true] {
                    let answer = e.openai_answer(ProviderId::Aws, "m", base64, e.prompt_tokens).unwrap();
                    let answer: Value = serde_json::from_slice(&answer).unwrap();
                    prop_assert_eq!(answer["data"].as_array().unwrap().len(), e.vectors.len());
                }
            }
            let _ = decode_embeddings(ProviderId::Aws, &bytes);
        }

        #[test]
        fn encoding_never_panics(input in any_json(), options in any_json(), model in prop_oneof![
            Just("amazon.titan-embed-text-v2:0"), Just("amazon.titan-embed-text-v1"),
            Just("cohere.embed-english-v3"), Just("cohere.embed-v4:0"), Just("x")
        ]) {
            let options = match options { Value::Object(m) => m, _ => Map::new() };
            if let Ok(e) = encode_embeddings(model, &input, &options) {
                // One call is its body alone, never a batch of one; every
                // body is JSON.
                let bodies = match &e.body {
                    ForwardBody::One(b) => vec![b],
                    ForwardBody::Batch(calls) => {
                        prop_assert!(calls.len() > 1);
                        calls.iter().collect()
                    }
                };
                for b in bodies {
                    prop_assert!(serde_json::from_slice::<Value>(b).is_ok());
                }
            }
        }
    }
}
