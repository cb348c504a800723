//! The pass-through usage reader.

use proptest::prelude::*;

use super::fixture;
use crate::inbound::messages::UsageReader;
use crate::types::Usage;

fn read(parts: &[&[u8]]) -> (Option<Usage>, Option<String>) {
    let mut r = UsageReader::new();
    for p in parts {
        r.push(p);
    }
    let usage = r.finish();
    (usage, r.model().map(str::to_owned))
}

/// (prompt, completion, cached, cache write)
fn counts(u: &Usage) -> (u64, u64, u64, u64) {
    (
        u.prompt_tokens,
        u.completion_tokens,
        u.cached_tokens(),
        u.cache_write_tokens(),
    )
}

#[test]
fn stream_usage_from_message_start_and_delta() {
    let (u, model) = read(&[&fixture("stream_with_tool_use.sse")]);
    let u = u.unwrap();
    assert_eq!(counts(&u), (472 + 2000 + 100, 89, 2000, 100));
    assert_eq!(u.total_tokens, 2572 + 89);
    assert_eq!(model.as_deref(), Some("claude-sonnet-4-5-20250929"));
}

/// Newer streams repeat (and may correct) the input counts in
/// `message_delta`; the last value of each count wins.
#[test]
fn message_delta_input_counts_win() {
    let sse = b"event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-opus-4-5\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\r\n\r\n\
event: message_delta\r\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"input_tokens\":7,\"cache_read_input_tokens\":30,\"output_tokens\":12}}\r\n\r\n";
    let (u, model) = read(&[sse]);
    assert_eq!(counts(&u.unwrap()), (37, 12, 30, 0));
    assert_eq!(model.as_deref(), Some("claude-opus-4-5"));
}

#[test]
fn json_body() {
    let (u, model) = read(&[&fixture("message.json")]);
    assert_eq!(counts(&u.clone().unwrap()), (2095 + 2051, 503, 0, 2051));
    assert_eq!(model.as_deref(), Some("claude-sonnet-4-5-20250929"));
    // Read in one go: the same.
    let once = UsageReader::read_body(&fixture("message.json")).unwrap();
    assert_eq!((Some(once.usage), once.model), (u, model));
}

/// A bare CR ends a line too (the scanner both readers share).
#[test]
fn bare_cr_line_ends() {
    let sse = String::from_utf8(fixture("stream_with_tool_use.sse"))
        .unwrap()
        .replace('\n', "\r");
    let (u, _) = read(&[sse.as_bytes()]);
    assert_eq!(counts(&u.unwrap()), (2572, 89, 2000, 100));
}

#[test]
fn nothing_readable_gives_no_usage() {
    for body in [
        &b""[..],
        b"   ",
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}\n\n",
        b"data: {not json\n\n",
        b"<html>502</html>",
    ] {
        assert_eq!(read(&[body]).0, None, "{}", String::from_utf8_lossy(body));
    }
}

/// A huge content line is skipped, not kept.
#[test]
fn long_lines_are_skipped() {
    let big = "x".repeat(200_000);
    let stream = fixture("stream_with_tool_use.sse");
    let text = String::from_utf8(stream)
        .unwrap()
        .replace("Okay, let's check the weather for San Francisco, CA:", &big);
    // Without `event:` lines the data line is buffered up to the cap, then dropped.
    let bare: String = text
        .lines()
        .filter(|l| !l.starts_with("event:"))
        .map(|l| format!("{l}\n"))
        .collect();
    for body in [text, bare] {
        let mut r = UsageReader::new();
        for piece in body.as_bytes().chunks(4096) {
            r.push(piece);
            assert!(r.kept() <= 2 * 64 * 1024 + 8192);
        }
        assert_eq!(counts(&r.finish().unwrap()), (2572, 89, 2000, 100));
    }
}

fn splits(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0;
    for c in cuts.into_iter().chain([bytes.len()]) {
        out.push(bytes[at..c].to_vec());
        at = c;
    }
    out
}

proptest! {
    /// Every split of the same bytes gives the same usage and model.
    #[test]
    fn any_split_reads_the_same(cuts in proptest::collection::vec(0usize..5000, 0..12), json in any::<bool>()) {
        let bytes = fixture(if json { "message.json" } else { "stream_with_tool_use.sse" });
        let whole = read(&[&bytes]);
        prop_assert!(whole.0.is_some());
        let parts = splits(&bytes, &cuts);
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(read(&refs), whole);
    }

    /// Arbitrary bytes, in arbitrary pieces, never panic.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2000),
        cuts in proptest::collection::vec(0usize..2000, 0..8),
        prefix in prop_oneof![Just(&b""[..]), Just(&b"{"[..]), Just(&b"data: {\"type\":\"message_start\",\"message\":"[..])],
    ) {
        let mut all = prefix.to_vec();
        all.extend_from_slice(&bytes);
        let parts = splits(&all, &cuts);
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let _ = read(&refs);
    }
}
