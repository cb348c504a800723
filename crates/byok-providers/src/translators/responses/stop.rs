//! `stop` emulated: the Responses API has no stop sequences, so the
//! translator cuts the answer text itself.
//!
//! The text is cut before the stop sequence that *completes first* (as a
//! model generating token by token would stop), ties going to the one that
//! starts first; the finish reason is then `stop`. What the model produced
//! after the cut (later text, refusal, reasoning, tool calls of later
//! output items) is dropped, so the answer is what a chat-completions
//! model with `stop` would have returned. Usage stays as the upstream
//! reported it (those tokens were generated and billed).
//!
//! Streaming holds back at most the longest sequence's length minus one
//! byte of text (rounded to a character boundary), so a sequence split
//! across deltas is still found; a stream without `stop` is not buffered.

use crate::types::ChatRequest;

/// The request's stop sequences (empty ones ignored).
#[derive(Debug, Clone)]
pub(crate) struct Stops {
    seqs: Vec<String>,
    /// The longest sequence's length in bytes, minus one.
    hold: usize,
}

impl Stops {
    /// The stop sequences of `request`, `None` without any.
    pub(crate) fn of(request: &ChatRequest) -> Option<Self> {
        let seqs: Vec<String> = request
            .stop
            .as_ref()?
            .to_vec()
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        let longest = seqs.iter().map(String::len).max()?;
        Some(Self {
            seqs,
            hold: longest - 1,
        })
    }

    /// Where to search once text was appended at byte `appended_at`: far
    /// enough back that a sequence ending in the new text is found.
    pub(super) fn search_from(&self, text: &str, appended_at: usize) -> usize {
        floor_char_boundary(text, appended_at.saturating_sub(self.hold))
    }

    /// The byte position in `text` (searched from `from`) where the answer
    /// stops: the start of the sequence that completes first.
    pub(super) fn find(&self, text: &str, from: usize) -> Option<usize> {
        let hay = text.get(from..)?;
        self.seqs
            .iter()
            .filter_map(|s| hay.find(s.as_str()).map(|at| (at + s.len(), at)))
            .min()
            .map(|(_, at)| from + at)
    }
}

/// The largest character boundary of `s` at or before `at` (`str::
/// floor_char_boundary` is newer than the crate's MSRV).
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The streaming side: text not yet sent because it may start a stop
/// sequence.
#[derive(Debug)]
pub(super) struct StopBuffer {
    stops: Stops,
    pending: String,
    stopped: bool,
}

impl StopBuffer {
    pub(super) fn new(stops: Stops) -> Self {
        Self {
            stops,
            pending: String::new(),
            stopped: false,
        }
    }

    /// Whether a stop sequence was met (everything after it is dropped).
    pub(super) fn stopped(&self) -> bool {
        self.stopped
    }

    /// Takes a text delta; returns the text that can be sent now.
    pub(super) fn push(&mut self, delta: &str) -> Option<String> {
        if self.stopped {
            return None;
        }
        let appended_at = self.pending.len();
        self.pending.push_str(delta);
        let from = self.stops.search_from(&self.pending, appended_at);
        if let Some(cut) = self.stops.find(&self.pending, from) {
            self.stopped = true;
            self.pending.truncate(cut);
            return self.flush_all();
        }
        let keep_from = floor_char_boundary(
            &self.pending,
            self.pending.len().saturating_sub(self.stops.hold),
        );
        if keep_from == 0 {
            return None;
        }
        let rest = self.pending.split_off(keep_from);
        Some(std::mem::replace(&mut self.pending, rest))
    }

    /// The text held back, at the end of the answer.
    pub(super) fn flush(&mut self) -> Option<String> {
        if self.stopped {
            return None;
        }
        self.flush_all()
    }

    fn flush_all(&mut self) -> Option<String> {
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::translators::inverse::req;
    use proptest::prelude::*;
    use serde_json::json;

    fn stops(seqs: &[&str]) -> Stops {
        Stops::of(&req(json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}], "stop": seqs
        })))
        .unwrap()
    }

    /// The whole text at once, as the non-streamed answer is cut.
    fn whole(s: &Stops, text: &str) -> (String, bool) {
        match s.find(text, 0) {
            Some(cut) => (text[..cut].to_owned(), true),
            None => (text.to_owned(), false),
        }
    }

    fn streamed(s: &Stops, deltas: &[String]) -> (String, bool) {
        let mut b = StopBuffer::new(s.clone());
        let mut out = String::new();
        for d in deltas {
            out.extend(b.push(d));
        }
        out.extend(b.flush());
        (out, b.stopped())
    }

    #[test]
    fn the_first_sequence_to_complete_wins() {
        let s = stops(&["abc", "b"]);
        assert_eq!(whole(&s, "xxabcx"), ("xxa".to_owned(), true));
        let s = stops(&["END", ""]);
        assert_eq!(whole(&s, "no end"), ("no end".to_owned(), false));
        assert!(Stops::of(&req(json!({"model": "m", "messages": [], "stop": [""]}))).is_none());
    }

    #[test]
    fn a_sequence_split_across_deltas_is_found() {
        let s = stops(&["\n\nUser:"]);
        let deltas: Vec<String> = ["Hi there.", "\n", "\nUs", "er: more"]
            .iter()
            .map(|d| (*d).to_owned())
            .collect();
        assert_eq!(streamed(&s, &deltas), ("Hi there.".to_owned(), true));
    }

    proptest! {
        #[test]
        fn streamed_cut_equals_whole_cut(
            text in "[ab\u{e9}\u{6771}]{0,24}",
            seqs in proptest::collection::vec("[ab\u{e9}\u{6771}]{1,3}", 1..3),
            splits in proptest::collection::vec(0usize..30, 0..6),
        ) {
            let refs: Vec<&str> = seqs.iter().map(String::as_str).collect();
            let s = stops(&refs);
            let chars: Vec<char> = text.chars().collect();
            let mut cuts: Vec<usize> = splits.into_iter().map(|c| c.min(chars.len())).collect();
            cuts.sort_unstable();
            let mut deltas = Vec::new();
            let mut last = 0;
            for c in cuts.into_iter().chain([chars.len()]) {
                deltas.push(chars[last..c].iter().collect::<String>());
                last = c;
            }
            prop_assert_eq!(streamed(&s, &deltas), whole(&s, &text));
        }
    }
}
