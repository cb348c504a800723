//! Text-block `citations` → OpenAI `annotations`.
//!
//! A citation with a URL becomes `{"type": "url_citation", "url_citation":
//! {"url", "title", "start_index", "end_index"}}`, the indices the cited
//! text block's span in the answer's `content` (in characters):
//! `web_search_result_location` (`url`, `title`) and
//! `search_result_location` whose `source` is an `http(s)` URL. Document
//! citations (`char_location`, `page_location`, `content_block_location`)
//! and search results without a URL have no OpenAI shape (OpenAI's chat
//! annotations are URL citations only) and are left out.
//!
//! Streamed, a text block's citations come as `citations_delta` events; its
//! annotations are sent once the block ends (its span is known then), in
//! `Delta.extra["annotations"]`, so the lists appended in order equal the
//! non-streamed `annotations`.

use serde_json::Value;

use crate::translators::url_citation;

/// The annotation for one citation of the text spanning `start..end`, if it
/// has a URL.
pub(super) fn annotation(citation: &Value, start: usize, end: usize) -> Option<Value> {
    let str_at = |key: &str| citation.get(key).and_then(Value::as_str);
    let url = match str_at("type")? {
        "web_search_result_location" => str_at("url")?,
        "search_result_location" => str_at("source").filter(|s| is_url(s))?,
        _ => return None,
    };
    Some(url_citation(url, str_at("title").unwrap_or(""), start, end))
}

fn is_url(s: &str) -> bool {
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// The annotations of a text block spanning `start..end`.
pub(super) fn annotations<'a>(
    citations: impl IntoIterator<Item = &'a Value>,
    start: usize,
    end: usize,
) -> impl Iterator<Item = Value> {
    citations
        .into_iter()
        .filter_map(move |c| annotation(c, start, end))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_url_citations_are_annotations() {
        let web = json!({"type": "web_search_result_location", "url": "https://w.example/a", "title": "A", "cited_text": "x", "encrypted_index": "e"});
        assert_eq!(
            annotation(&web, 3, 9),
            Some(
                json!({"type": "url_citation", "url_citation": {"url": "https://w.example/a", "title": "A", "start_index": 3, "end_index": 9}})
            )
        );
        let search = json!({"type": "search_result_location", "source": "https://kb.example/p", "title": null, "cited_text": "y", "search_result_index": 0, "start_block_index": 0, "end_block_index": 0});
        assert_eq!(
            annotation(&search, 0, 1).unwrap()["url_citation"]["title"],
            ""
        );
        for other in [
            json!({"type": "search_result_location", "source": "kb-42", "cited_text": "y"}),
            json!({"type": "char_location", "cited_text": "z", "document_index": 0, "start_char_index": 0, "end_char_index": 1}),
            json!({"type": "page_location", "cited_text": "z", "document_index": 0, "start_page_number": 1, "end_page_number": 2}),
        ] {
            assert_eq!(annotation(&other, 0, 1), None, "{other}");
        }
    }
}
