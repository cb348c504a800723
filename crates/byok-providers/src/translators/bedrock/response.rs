//! Bedrock Converse answer → neutral [`ChatResponse`].

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::common::now_secs;
use crate::error::ProviderError;
use crate::http;
use crate::id::ProviderId;
use crate::translators::lenient;
use crate::translators::{Answer, Counts, function_call, url_citation};
use crate::types::{ChatResponse, FinishReason, Usage};

/// Converse stop reasons as OpenAI finish reasons.
pub(super) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// The Converse stop reasons that read as `stop` but say more, kept as
/// `native_finish_reason` on the choice: a tool call or answer the model
/// got malformed (`malformed_tool_use`, `malformed_model_output`).
pub(super) fn native_finish(reason: &str) -> Option<&str> {
    matches!(reason, "malformed_model_output" | "malformed_tool_use").then_some(reason)
}

/// A Converse citation (`Citation` in an answer's `citationsContent`,
/// `CitationsDelta` in a stream): its title, the search result's `source`
/// and the `location` (only `web` locations carry a URL).
#[derive(Deserialize, Default)]
pub(super) struct Citation<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    title: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    source: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    location: Option<Location<'a>>,
}

#[derive(Deserialize)]
struct Location<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    web: Option<WebLocation<'a>>,
}

#[derive(Deserialize)]
struct WebLocation<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    url: Option<Cow<'a, str>>,
}

impl Citation<'_> {
    /// The cited URL: the `web` location's, else a `source` that is a URL.
    fn url(&self) -> Option<&str> {
        let web = self
            .location
            .as_ref()
            .and_then(|l| l.web.as_ref())
            .and_then(|w| w.url.as_deref());
        web.or_else(|| {
            self.source
                .as_deref()
                .filter(|s| s.starts_with("https://") || s.starts_with("http://"))
        })
    }

    /// The OpenAI `url_citation` annotation over characters `start..end` of
    /// the content, when the citation has a URL.
    pub(super) fn annotation(&self, start: usize, end: usize) -> Option<Value> {
        let url = self.url()?;
        Some(url_citation(
            url,
            self.title.as_deref().unwrap_or(""),
            start,
            end,
        ))
    }
}

/// Converse `usage` (answer and stream `metadata`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireUsage {
    #[serde(default, deserialize_with = "lenient::u64")]
    input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64")]
    output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64")]
    cache_read_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64")]
    cache_write_input_tokens: Option<u64>,
}

impl WireUsage {
    /// In OpenAI's terms: prompt tokens include cache reads and writes.
    pub(super) fn to_usage(&self) -> Usage {
        Counts::cache_apart(
            self.input_tokens.unwrap_or(0),
            self.output_tokens.unwrap_or(0),
            self.cache_read_input_tokens.unwrap_or(0),
            self.cache_write_input_tokens.unwrap_or(0),
        )
        .usage()
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireResponse<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    output: Option<Output<'a>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    stop_reason: Option<Cow<'a, str>>,
    /// Present (even not an object): usage, zeros where missing.
    #[serde(default, deserialize_with = "lenient::some_obj")]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Output<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    message: Option<OutputMessage<'a>>,
}

#[derive(Deserialize)]
struct OutputMessage<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::list")]
    content: Vec<Block<'a>>,
}

/// A content block: text, else a `toolUse`, else reasoning text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Block<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::some_obj")]
    tool_use: Option<ToolUse<'a>>,
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    reasoning_content: Option<ReasoningContent<'a>>,
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    citations_content: Option<CitationsContent<'a>>,
}

/// `citationsContent`: generated text with the citations behind it.
#[derive(Deserialize)]
struct CitationsContent<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::list")]
    content: Vec<GeneratedText<'a>>,
    #[serde(default, borrow, deserialize_with = "lenient::list")]
    citations: Vec<Citation<'a>>,
}

#[derive(Deserialize)]
struct GeneratedText<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ToolUse<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    tool_use_id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    name: Option<Cow<'a, str>>,
    /// Sent on as JSON text (`{}` when absent).
    #[serde(default, deserialize_with = "lenient::present")]
    input: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReasoningContent<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::obj")]
    reasoning_text: Option<ReasoningText<'a>>,
    /// Encrypted reasoning (base64), replayed as is.
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    redacted_content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ReasoningText<'a> {
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "lenient::str")]
    signature: Option<Cow<'a, str>>,
}

/// A fresh, non-empty response id (`chatcmpl-` and 32 hex digits): Converse
/// answers carry no id. `RandomState` is seeded randomly per process and
/// per call; the counter and the clock keep ids apart in any case.
pub(super) fn fresh_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let state = std::collections::hash_map::RandomState::new();
    let mut a = state.build_hasher();
    a.write_u64(n);
    a.write_u128(nanos);
    let mut b = state.build_hasher();
    b.write_u64(a.finish());
    b.write_u64(n);
    format!("chatcmpl-{:016x}{:016x}", a.finish(), b.finish())
}

/// The `format` of the `reasoning_details` entries Converse reasoning maps to.
pub(super) const REASONING_FORMAT: &str = "bedrock-converse";

/// A `reasoning.text` entry of `reasoning_details` (text and/or signature).
pub(super) fn text_detail(text: Option<&str>, signature: Option<&str>, index: u32) -> Value {
    let mut d = json!({"type": "reasoning.text", "format": REASONING_FORMAT, "index": index});
    if let Some(t) = text {
        d["text"] = json!(t);
    }
    if let Some(s) = signature {
        d["signature"] = json!(s);
    }
    d
}

/// A `reasoning.encrypted` entry of `reasoning_details` (redacted content).
pub(super) fn encrypted_detail(data: &str, index: u32) -> Value {
    json!({"type": "reasoning.encrypted", "data": data, "format": REASONING_FORMAT, "index": index})
}

impl ReasoningContent<'_> {
    /// The reasoning text (if any) and the `reasoning_details` entry.
    fn detail(&self, index: u32) -> (Option<&str>, Option<Value>) {
        if let Some(r) = &self.reasoning_text {
            let text = r.text.as_deref();
            let detail = text_detail(text, r.signature.as_deref(), index);
            return (text, Some(detail));
        }
        let detail = self
            .redacted_content
            .as_deref()
            .map(|d| encrypted_detail(d, index));
        (None, detail)
    }
}

pub(super) fn decode_response(
    p: ProviderId,
    bytes: &[u8],
    model: &str,
) -> Result<ChatResponse, ProviderError> {
    let v: Value = http::parse_json(p, "response body", bytes)?;
    // Anything but an object reads as an empty response.
    let wire: WireResponse<'_> = lenient::obj(&v).ok().flatten().unwrap_or_default();
    let blocks = wire
        .output
        .as_ref()
        .and_then(|o| o.message.as_ref())
        .map_or(&[][..], |m| &m.content);
    let answer = gather(blocks);
    let stop = wire.stop_reason.as_deref();
    let usage = wire.usage.as_ref().map(WireUsage::to_usage);
    Ok(answer.into_response(
        fresh_id(),
        now_secs(),
        model.to_owned(),
        stop.map(finish_reason),
        stop.and_then(native_finish),
        usage,
    ))
}

/// Text (cited text included, its citations as annotations over it), tool
/// uses and reasoning, in block order.
fn gather(blocks: &[Block<'_>]) -> Answer {
    let mut g = Answer::default();
    let mut chars = 0usize;
    for block in blocks {
        if let Some(t) = &block.text {
            g.text.push_str(t);
            chars += t.chars().count();
        } else if let Some(tu) = &block.tool_use {
            g.calls.push(function_call(
                tu.tool_use_id.as_deref().unwrap_or("").to_owned(),
                tu.name.as_deref().unwrap_or("").to_owned(),
                tu.input
                    .as_ref()
                    .map_or_else(|| "{}".to_owned(), Value::to_string),
            ));
        } else if let Some(r) = &block.reasoning_content {
            let index = u32::try_from(g.details.len()).unwrap_or(u32::MAX);
            let (text, detail) = r.detail(index);
            if let Some(t) = text {
                g.reasoning.push_str(t);
            }
            g.details.extend(detail);
        } else if let Some(c) = &block.citations_content {
            let start = chars;
            for t in c.content.iter().filter_map(|t| t.text.as_deref()) {
                g.text.push_str(t);
                chars += t.chars().count();
            }
            g.annotations.extend(
                c.citations
                    .iter()
                    .filter_map(|c| c.annotation(start, chars)),
            );
        }
    }
    g
}
