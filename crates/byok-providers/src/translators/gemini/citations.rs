//! Gemini citations → OpenAI `url_citation` annotations.
//!
//! - `groundingMetadata` (Google Search grounding): each
//!   `groundingSupports[]` entry cites the `groundingChunks[]` it lists
//!   (`web.uri` / `web.title`, or `retrievedContext`) for its `segment`
//!   (`startIndex` .. `endIndex`); a chunk no support cites is annotated
//!   over `0 .. 0`.
//! - `citationMetadata.citationSources[]` (recitation sources): `uri`,
//!   `title` when present (else empty), `startIndex` .. `endIndex`.
//!
//! Gemini's indices count UTF-8 bytes of the answer's text; OpenAI's count
//! characters, so they are converted against the text (best effort: an
//! index past the text so far is the text's end).

use serde_json::Value;

use crate::translators::url_citation;

/// The annotations of one candidate's metadata, `text` the answer's content
/// so far (all of it for a whole answer).
pub(super) fn annotations(
    grounding: Option<&Value>,
    citation: Option<&Value>,
    text: &str,
) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(g) = grounding {
        from_grounding(g, text, &mut out);
    }
    let sources = citation.and_then(|c| c.get("citationSources"));
    for s in sources.and_then(Value::as_array).into_iter().flatten() {
        if let Some(uri) = s.get("uri").and_then(Value::as_str) {
            let title = s.get("title").and_then(Value::as_str).unwrap_or("");
            let (start, end) = span(s, text);
            out.push(url_citation(uri, title, start, end));
        }
    }
    out
}

fn from_grounding(g: &Value, text: &str, out: &mut Vec<Value>) {
    let chunks: Vec<Option<(&str, &str)>> = g
        .get("groundingChunks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(source)
        .collect();
    let mut cited = vec![false; chunks.len()];
    let supports = g.get("groundingSupports").and_then(Value::as_array);
    for support in supports.into_iter().flatten() {
        let (start, end) = support.get("segment").map_or((0, 0), |s| span(s, text));
        let indices = support
            .get("groundingChunkIndices")
            .and_then(Value::as_array);
        for i in indices.into_iter().flatten().filter_map(Value::as_u64) {
            let i = usize::try_from(i).unwrap_or(usize::MAX);
            if let Some(Some((uri, title))) = chunks.get(i) {
                cited[i] = true;
                out.push(url_citation(uri, title, start, end));
            }
        }
    }
    for (chunk, cited) in chunks.iter().zip(cited) {
        if let (Some((uri, title)), false) = (chunk, cited) {
            out.push(url_citation(uri, title, 0, 0));
        }
    }
}

/// A grounding chunk's URI and title.
fn source(chunk: &Value) -> Option<(&str, &str)> {
    let c = chunk.get("web").or_else(|| chunk.get("retrievedContext"))?;
    let uri = c.get("uri").and_then(Value::as_str)?;
    Some((uri, c.get("title").and_then(Value::as_str).unwrap_or("")))
}

/// `startIndex` .. `endIndex` of `v`, in characters of `text`.
fn span(v: &Value, text: &str) -> (usize, usize) {
    let at = |k: &str| {
        let bytes = v.get(k).and_then(Value::as_u64).unwrap_or(0);
        chars_before(text, usize::try_from(bytes).unwrap_or(usize::MAX))
    };
    (at("startIndex"), at("endIndex"))
}

/// How many characters of `text` lie before byte `byte`.
fn chars_before(text: &str, byte: usize) -> usize {
    let mut b = byte.min(text.len());
    while !text.is_char_boundary(b) {
        b -= 1;
    }
    text.get(..b).map_or(0, |t| t.chars().count())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn byte_offsets_become_char_offsets() {
        // "Ça va" : `Ç` is two bytes.
        let text = "Ça va. Oui.";
        let g = json!({
            "groundingChunks": [
                {"web": {"uri": "https://a.example", "title": "a.example"}},
                {"web": {"uri": "https://b.example", "title": "b.example"}},
                {"web": {"uri": "https://c.example", "title": "c.example"}}
            ],
            "groundingSupports": [
                {"segment": {"startIndex": 0, "endIndex": 7, "text": "Ça va."}, "groundingChunkIndices": [0, 1]},
                {"segment": {"startIndex": 8, "endIndex": 12, "text": "Oui."}, "groundingChunkIndices": [1, 9]}
            ]
        });
        let c = json!({"citationSources": [{"startIndex": 8, "endIndex": 99, "uri": "https://d.example", "license": "mit"}, {"license": "no uri"}]});
        let a = annotations(Some(&g), Some(&c), text);
        let spans: Vec<(String, u64, u64)> = a
            .iter()
            .map(|x| {
                let u = &x["url_citation"];
                (
                    u["url"].as_str().unwrap_or("").to_owned(),
                    u["start_index"].as_u64().unwrap_or(0),
                    u["end_index"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        let s = |u: &str, a, b| (u.to_owned(), a, b);
        assert_eq!(
            spans,
            [
                s("https://a.example", 0, 6),
                s("https://b.example", 0, 6),
                s("https://b.example", 7, 11),
                s("https://c.example", 0, 0),
                s("https://d.example", 7, 11),
            ]
        );
        assert_eq!(a[0]["type"], "url_citation");
        assert_eq!(a[0]["url_citation"]["title"], "a.example");
        assert_eq!(a[4]["url_citation"]["title"], "");
    }
}
