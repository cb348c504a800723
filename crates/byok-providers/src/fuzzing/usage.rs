//! `passthrough_usage`: the usage readers of the Messages and Responses
//! pass-throughs over what the upstream sends.

use std::sync::OnceLock;

use arbitrary::{Result, Unstructured};

use super::edit::{self, Event, Vocab};
use super::{Input, fixtures, input, pieces, raw};
use crate::inbound::{messages, responses};

/// Both protocols' recordings: streams, and whole answers as one event.
fn vocab(slot: usize) -> &'static Vocab {
    static VOCABS: [OnceLock<Vocab>; 2] = [const { OnceLock::new() }; 2];
    VOCABS[slot].get_or_init(|| {
        let (streams, answers) = if slot == 0 {
            (fixtures::ANTHROPIC_STREAMS, fixtures::MESSAGES_ANSWERS)
        } else {
            (fixtures::RESPONSES_STREAMS, fixtures::RESPONSES_ANSWERS)
        };
        let mut all: Vec<Vec<Event>> = streams.iter().map(|(_, t)| edit::sse_events(t)).collect();
        all.extend(answers.iter().map(|(_, t)| edit::json_event(t)));
        Vocab::new(all)
    })
}

/// A stream of either protocol, or a whole answer (JSON after some
/// whitespace), and its pieces.
fn structured(u: &mut Unstructured<'_>) -> Result<(Vec<u8>, Vec<usize>)> {
    let v = vocab(usize::from(u.arbitrary::<bool>()?));
    let mut body = Vec::new();
    if u.int_in_range(0u8..=3)? == 3 {
        body.extend_from_slice(&b"\n \r\t"[..u.int_in_range(0usize..=4)?]);
        let answer = v.body(u)?;
        body.extend_from_slice(answer.to_string().as_bytes());
    } else {
        let events = v.script(u)?;
        edit::write_sse(&events, u.int_in_range(0u8..=7)? == 7, &mut body);
    }
    Ok((body, pieces(u)?))
}

fn feed<R>(reader: &mut R, push: fn(&mut R, &[u8]), body: &[u8], sizes: &[usize]) {
    let mut rest = body;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(size.clamp(1, rest.len()));
        rest = tail;
        push(reader, piece);
    }
}

/// Fuzz target `passthrough_usage`: both protocols' `UsageReader`s over
/// the same bytes read the same usage in one piece and in the input's
/// pieces, and a JSON answer fed in pieces as `read_body` reads it whole.
pub fn passthrough_usage(data: &[u8]) {
    let Some(input) = input(data) else { return };
    let (body, sizes) = match input {
        Input::Raw { bytes, piece } => (bytes.to_vec(), vec![piece]),
        Input::Structured(mut u) => match structured(&mut u) {
            Ok(x) => x,
            Err(_) => return,
        },
    };
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    let json = start
        .and_then(|s| body.get(s..))
        .filter(|b| b.starts_with(b"{"));

    let read = |sizes: &[usize]| {
        let mut r = messages::UsageReader::new();
        feed(&mut r, messages::UsageReader::push, &body, sizes);
        r.end()
    };
    let whole = read(&[usize::MAX]);
    assert_eq!(whole, read(&sizes), "messages: the same usage in pieces");
    if let Some(json) = json {
        assert_eq!(
            whole,
            messages::UsageReader::read_body(json),
            "messages: a whole answer"
        );
    }

    let read = |sizes: &[usize]| {
        let mut r = responses::UsageReader::new();
        feed(&mut r, responses::UsageReader::push, &body, sizes);
        r.end()
    };
    let whole = read(&[usize::MAX]);
    assert_eq!(whole, read(&sizes), "responses: the same usage in pieces");
    if let Some(json) = json {
        assert_eq!(
            whole,
            responses::UsageReader::read_body(json),
            "responses: a whole answer"
        );
    }
}

pub(super) fn seeds(out: &mut Vec<(&'static str, String, Vec<u8>)>) {
    for (name, text) in fixtures::ANTHROPIC_STREAMS
        .iter()
        .chain(fixtures::RESPONSES_STREAMS)
        .chain(fixtures::MESSAGES_ANSWERS)
        .chain(fixtures::RESPONSES_ANSWERS)
    {
        out.push((
            "passthrough_usage",
            format!("seed-{name}"),
            raw(16, text.as_bytes()),
        ));
    }
}
