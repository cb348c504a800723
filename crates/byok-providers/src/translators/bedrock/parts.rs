//! Content parts → Converse content blocks: text, images, documents (from
//! `file` parts), tool results, and the `cachePoint` that follows a part
//! marked with `cache_control`.
//!
//! Wire shapes (Bedrock API reference, `API_runtime_ContentBlock`,
//! `API_runtime_DocumentBlock`, `API_runtime_CachePointBlock`,
//! `API_runtime_ToolResultBlock`):
//! `{"document": {"format", "name", "source": {"bytes"}}}`,
//! `{"cachePoint": {"type": "default"}}`,
//! `{"toolResult": {"toolUseId", "content": [text | image | document], "status"}}`.

use serde_json::{Map, Value, json};

use crate::common::{inline_file, parse_data_url, unsupported};
use crate::error::ProviderError;
use crate::id::ProviderId;
use crate::types::{Content, ContentPart};

/// The block Converse puts after content to cache everything up to it.
pub(super) fn cache_point() -> Value {
    json!({"cachePoint": {"type": "default"}})
}

/// Whether a part's (or tool's) other keys ask for a cache breakpoint
/// (`cache_control` present and not null).
pub(super) fn wants_cache(extra: &Map<String, Value>) -> bool {
    extra.get("cache_control").is_some_and(|v| !v.is_null())
}

/// The 400 for an image that is not a `data:` URL.
pub(super) const REMOTE_IMAGE: &str =
    "image URLs other than base64 `data:` URLs (Bedrock needs images as data: URLs (base64))";

/// An image block from a base64 `data:` URL; remote URLs are refused.
pub(super) fn image_block(p: ProviderId, url: &str) -> Result<Value, ProviderError> {
    let (media, data) = parse_data_url(url).ok_or_else(|| unsupported(p, REMOTE_IMAGE))?;
    image_from(p, media, data)
}

fn image_from(p: ProviderId, media: &str, data: &str) -> Result<Value, ProviderError> {
    let format = media.strip_prefix("image/").unwrap_or(media);
    if !matches!(format, "png" | "jpeg" | "gif" | "webp") {
        return Err(unsupported(
            p,
            format!(
                "images of type `{}`",
                media.chars().take(32).collect::<String>()
            ),
        ));
    }
    Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
}

/// Converse document formats by media type (`DocumentBlock.format`: pdf,
/// csv, doc, docx, xls, xlsx, html, txt, md).
const DOCUMENT_FORMATS: &[(&str, &str)] = &[
    ("application/pdf", "pdf"),
    ("text/csv", "csv"),
    ("application/msword", "doc"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
    ),
    ("application/vnd.ms-excel", "xls"),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
    ("text/html", "html"),
    ("text/plain", "txt"),
    ("text/markdown", "md"),
];

/// A document name as Converse accepts it: alphanumerics, single
/// whitespace, hyphens, parentheses and square brackets, 1 to 200
/// characters. The extension goes (the format carries it); any other
/// character becomes a space; runs of spaces collapse; `fallback` when
/// nothing is left.
pub(super) fn document_name(filename: Option<&str>, fallback: &str) -> String {
    let stem = filename
        .map(|f| f.rsplit_once('.').map_or(f, |(stem, _)| stem))
        .unwrap_or("");
    let mut out = String::with_capacity(stem.len());
    for c in stem.chars() {
        let c = if c.is_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']') {
            c
        } else {
            ' '
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
        if out.chars().count() >= 200 {
            break;
        }
    }
    let trimmed = out.trim_end();
    if trimmed.is_empty() {
        fallback.to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A `file` part (`{"type": "file", "file": {"file_data", "filename"}}`):
/// a document block for a documented document type, an image block for an
/// image; `file_id` and other types are refused.
fn file_block(p: ProviderId, part: &Map<String, Value>, n: usize) -> Result<Value, ProviderError> {
    let (media, bytes, filename) = inline_file(p, part)?;
    if media.starts_with("image/") {
        return image_from(p, media, bytes);
    }
    let format = DOCUMENT_FORMATS
        .iter()
        .find(|(m, _)| *m == media)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            unsupported(
                p,
                format!(
                    "files of type `{}` (Converse documents: pdf, csv, doc, docx, xls, xlsx, html, txt, md)",
                    media.chars().take(64).collect::<String>()
                ),
            )
        })?;
    let name = document_name(filename, &format!("document-{n}"));
    Ok(json!({"document": {"format": format, "name": name, "source": {"bytes": bytes}}}))
}

/// The blocks of `content`: one per part, each followed by a `cachePoint`
/// when the part carries `cache_control`. Document names are numbered by
/// `docs` (so unnamed files stay apart).
pub(super) fn blocks(
    p: ProviderId,
    content: &Content,
    docs: &mut usize,
) -> Result<Vec<Value>, ProviderError> {
    let parts = match content {
        Content::Text(t) => return Ok(vec![json!({"text": t})]),
        Content::Parts(parts) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let (block, extra) = match part {
            ContentPart::Text { text, extra } => (json!({"text": text}), Some(extra)),
            ContentPart::ImageUrl { image_url, extra } => {
                (image_block(p, &image_url.url)?, Some(extra))
            }
            ContentPart::Other(m) if part.kind() == "file" => {
                *docs += 1;
                (file_block(p, m, *docs)?, Some(m))
            }
            ContentPart::Other(_) => {
                return Err(unsupported(p, format!("`{}` content parts", part.kind())));
            }
        };
        out.push(block);
        if extra.is_some_and(wants_cache) {
            out.push(cache_point());
        }
    }
    Ok(out)
}

/// The system blocks of one system or developer message: its text as one
/// block, or, when a part carries `cache_control`, one text block per text
/// part with a `cachePoint` after each marked one.
pub(super) fn system_blocks(content: &Content) -> Vec<Value> {
    let marked = content.parts().any(|p| match p {
        ContentPart::Text { extra, .. } => wants_cache(extra),
        _ => false,
    });
    if !marked {
        return vec![json!({"text": content.text()})];
    }
    let mut out = Vec::new();
    for part in content.parts() {
        if let ContentPart::Text { text, extra } = part {
            out.push(json!({"text": text}));
            if wants_cache(extra) {
                out.push(cache_point());
            }
        }
    }
    out
}

/// A `toolResult` block: the result's parts (text, images, documents; a
/// plain string is one text block), `status: "error"` when the tool
/// message says `is_error: true`. A part marked with `cache_control` puts
/// a `cachePoint` after the whole block (Converse has none inside a tool
/// result): the blocks come back as a list then.
pub(super) fn tool_result(
    p: ProviderId,
    id: &str,
    content: &Content,
    is_error: bool,
    docs: &mut usize,
) -> Result<Value, ProviderError> {
    let mut inner = blocks(p, content, docs)?;
    let cached = inner.iter().any(|b| b.get("cachePoint").is_some());
    inner.retain(|b| b.get("cachePoint").is_none());
    if inner.is_empty() {
        inner.push(json!({"text": ""}));
    }
    let mut result = json!({"toolUseId": id, "content": inner});
    if is_error {
        result["status"] = json!("error");
    }
    let block = json!({"toolResult": result});
    Ok(if cached {
        Value::Array(vec![block, cache_point()])
    } else {
        block
    })
}

/// Replaces every list inside the turns' content by its items (the blocks
/// [`tool_result`] returns as a list).
pub(super) fn flatten(turns: &mut [Value]) {
    for turn in turns {
        let Some(content) = turn.get_mut("content").and_then(Value::as_array_mut) else {
            continue;
        };
        if !content.iter().any(Value::is_array) {
            continue;
        }
        let items = std::mem::take(content);
        for item in items {
            match item {
                Value::Array(inner) => content.extend(inner),
                other => content.push(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_names_keep_only_what_converse_accepts() {
        assert_eq!(document_name(Some("report.pdf"), "d"), "report");
        assert_eq!(
            document_name(Some("Q3_results (final) [v2].draft.xlsx"), "d"),
            "Q3 results (final) [v2] draft"
        );
        assert_eq!(document_name(Some("a  --  b"), "d"), "a -- b");
        assert_eq!(document_name(Some("..."), "document-1"), "document-1");
        assert_eq!(document_name(None, "document-2"), "document-2");
        assert_eq!(document_name(Some(&"x".repeat(300)), "d").len(), 200);
    }
}
