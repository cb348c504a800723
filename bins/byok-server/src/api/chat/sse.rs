//! Chat completions' stream encoding: each chunk as an SSE `data:` event
//! (forwarded verbatim when the upstream's chunk is already in OpenAI's
//! exact shape, else serialised), web-search citations spliced into the
//! first, an error event then `[DONE]` on failure, `[DONE]` at the end.

use std::borrow::Cow;

use byok_providers::StreamItem;
use bytes::BytesMut;

use crate::api::pipeline::events::Encoder;
use crate::error::{ApiError, internal};

const DONE: &[u8] = b"data: [DONE]\n\n";

/// Chat completions' [`Encoder`].
pub(super) struct ChatEvents {
    /// Web-search citations (a JSON array) still to send: a top-level
    /// `citations` member of the first chunk, as in non-streamed answers.
    citations: Option<Vec<u8>>,
}

impl ChatEvents {
    /// The encoder, with the web-search citations to splice in, if any.
    ///
    /// # Errors
    /// 500 if the citations cannot be encoded.
    pub(super) fn new(citations: Option<&[byok_search::Citation]>) -> Result<Self, ApiError> {
        let citations = match citations {
            Some(c) => Some(serde_json::to_vec(c).map_err(|e| internal("encode", &e))?),
            None => None,
        };
        Ok(Self { citations })
    }
}

impl Encoder for ChatEvents {
    /// A verbatim item as it came, a normalised chunk re-serialised; the
    /// first event carries the web-search citations, if any.
    fn item(&mut self, item: &StreamItem, buf: &mut BytesMut) {
        let Some(citations) = self.citations.take() else {
            // A chunk that cannot be encoded is skipped (it cannot happen
            // for the types the translators build).
            let _ = item.encode_sse(buf);
            return;
        };
        let json: Cow<'_, [u8]> = match item.raw() {
            Some(raw) => raw.as_bytes().into(),
            None => serde_json::to_vec(item.chunk()).unwrap_or_default().into(),
        };
        // `{"citations":[...],` + the chunk's other members, or
        // `{"citations":[...]}` for an empty chunk.
        let Some(rest) = json.strip_prefix(b"{") else {
            return;
        };
        buf.extend_from_slice(b"data: {\"citations\":");
        buf.extend_from_slice(&citations);
        if rest != b"}" {
            buf.extend_from_slice(b",");
        }
        buf.extend_from_slice(rest);
        buf.extend_from_slice(b"\n\n");
    }

    fn error(&mut self, error: &ApiError, buf: &mut BytesMut) {
        let mut out = Vec::new();
        byok_providers::sse::encode_data(error.body().to_string().as_bytes(), &mut out);
        buf.extend_from_slice(&out);
        buf.extend_from_slice(DONE);
    }

    fn end(&mut self, _usage: Option<&byok_providers::Usage>, buf: &mut BytesMut) {
        buf.extend_from_slice(DONE);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn citation() -> byok_search::Citation {
        byok_search::Citation {
            index: 1,
            title: "t".into(),
            url: "https://example.com/".into(),
        }
    }

    #[test]
    fn citations_go_into_the_first_event_verbatim_or_serialised() {
        const CITATIONS: &str =
            r#"{"citations":[{"index":1,"title":"t","url":"https://example.com/"}],"#;
        let raw = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}"#;
        let verbatim =
            StreamItem::Verbatim(byok_providers::VerbatimChunk::new(raw.to_owned()).unwrap());
        // A chunk with no choices (the usage chunk) is serialised.
        let empty = StreamItem::Chunk(
            serde_json::from_str(r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[]}"#).unwrap(),
        );
        let serialised = serde_json::to_string(empty.chunk()).unwrap();
        for (item, json) in [(&verbatim, raw), (&empty, serialised.as_str())] {
            let mut encoder = ChatEvents::new(Some(&[citation()])).unwrap();
            let mut buf = BytesMut::new();
            encoder.item(item, &mut buf);
            assert_eq!(
                std::str::from_utf8(&buf).unwrap(),
                format!("data: {CITATIONS}{}\n\n", &json[1..])
            );
            // Only the first event carries them.
            buf.clear();
            encoder.item(item, &mut buf);
            assert_eq!(
                std::str::from_utf8(&buf).unwrap(),
                format!("data: {json}\n\n")
            );
        }
    }
}
