//! Structured inputs: the recorded fixtures as templates, edited by the
//! fuzzer's choices.
//!
//! A [`Vocab`] holds a protocol's recorded streams (or bodies) and every
//! object key and short string they use. A structured input replays one
//! recording with events dropped, repeated, inserted or edited, or builds
//! events from the vocabulary alone; an edit picks a node of the JSON and
//! replaces it (a fresh value, a word of the vocabulary, an edge number, a
//! subtree of another recording), or removes, adds or repeats a member.
//! Every choice is read from an [`Unstructured`], so libFuzzer's mutations
//! and random bytes (the stable tests) both steer it; an exhausted input
//! reads as "replay the first recording unchanged".

use arbitrary::{Result, Unstructured};
use serde_json::{Map, Number, Value};

/// One event (or body) of a recording.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    /// The SSE `event:` name (Bedrock: `:event-type`), if any.
    pub(crate) name: Option<String>,
    /// The payload.
    pub(crate) data: Data,
}

/// An event's payload: JSON, or text that is not (`[DONE]`, garbage).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Data {
    /// A JSON value.
    Json(Value),
    /// Anything else.
    Text(String),
}

/// Strings that break assumptions.
const EDGE_WORDS: &[&str] = &[
    "",
    " ",
    "\n",
    "\r\n",
    "\u{0}",
    "é",
    "\u{1F600}",
    "\u{200B}",
    "[DONE]",
    "null",
    "-1",
    "18446744073709551616",
    "{",
    "}\n\ndata: {",
    "data: x",
    "event: error",
    "\\u0000",
    "\"",
];

/// Numbers that break assumptions.
fn edge_number(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => Value::from(0),
        1 => Value::from(1),
        2 => Value::from(-1),
        3 => Value::from(2),
        4 => Value::from(u8::MAX),
        5 => Value::from(u32::MAX),
        6 => Value::from(u64::from(u32::MAX) + 1),
        7 => Value::from(i64::MAX),
        8 => Value::from(i64::MIN),
        9 => Value::from(u64::MAX),
        10 => Number::from_f64(0.5).map_or(Value::Null, Value::Number),
        11 => Number::from_f64(-1e300).map_or(Value::Null, Value::Number),
        12 => Number::from_f64(1e19).map_or(Value::Null, Value::Number),
        13 => Value::from(u.int_in_range(0u32..=300)?),
        14 => Value::from(u.arbitrary::<i64>()?),
        _ => Value::from(u.arbitrary::<u64>()?),
    })
}

/// A protocol's recordings and words.
#[derive(Debug)]
pub(crate) struct Vocab {
    /// Each recording, as its events.
    pub(crate) streams: Vec<Vec<Event>>,
    /// Every event of every recording.
    flat: Vec<Event>,
    /// Every object key of the recordings.
    keys: Vec<String>,
    /// Every string of at most 64 bytes in the recordings (values and
    /// event names), and the keys.
    words: Vec<String>,
}

impl Vocab {
    /// The vocabulary of `streams` (each non-empty).
    pub(crate) fn new(streams: Vec<Vec<Event>>) -> Self {
        let mut keys = std::collections::BTreeSet::new();
        let mut words = std::collections::BTreeSet::new();
        fn walk(
            v: &Value,
            keys: &mut std::collections::BTreeSet<String>,
            words: &mut std::collections::BTreeSet<String>,
        ) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        keys.insert(k.clone());
                        walk(x, keys, words);
                    }
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, keys, words)),
                Value::String(s) if s.len() <= 64 => {
                    words.insert(s.clone());
                }
                _ => {}
            }
        }
        for e in streams.iter().flatten() {
            if let Some(n) = &e.name {
                words.insert(n.clone());
            }
            match &e.data {
                Data::Json(v) => walk(v, &mut keys, &mut words),
                Data::Text(t) if t.len() <= 64 => {
                    words.insert(t.clone());
                }
                Data::Text(_) => {}
            }
        }
        words.extend(keys.iter().cloned());
        words.extend(EDGE_WORDS.iter().map(|w| (*w).to_owned()));
        keys.insert("type".to_owned());
        let streams: Vec<Vec<Event>> = streams.into_iter().filter(|s| !s.is_empty()).collect();
        Self {
            flat: streams.iter().flatten().cloned().collect(),
            streams,
            keys: keys.into_iter().collect(),
            words: words.into_iter().collect(),
        }
    }

    /// A string: mostly a word of the recordings, else an edge case, a
    /// string of the input's own bytes, or two words run together.
    pub(crate) fn word(&self, u: &mut Unstructured<'_>) -> Result<String> {
        Ok(match u.int_in_range(0u8..=9)? {
            0..=5 => u.choose(&self.words)?.clone(),
            6 => (*u.choose(EDGE_WORDS)?).to_owned(),
            7 => {
                let len = u.int_in_range(0usize..=48)?;
                String::from_utf8_lossy(u.bytes(len.min(u.len()))?).into_owned()
            }
            8 => {
                let a = u.choose(&self.words)?;
                let b = u.choose(&self.words)?;
                format!("{a}{b}")
            }
            _ => "x".repeat(u.int_in_range(64usize..=600)?),
        })
    }

    /// An object key, mostly one of the recordings'.
    fn key(&self, u: &mut Unstructured<'_>) -> Result<String> {
        if u.ratio(7u8, 8)? {
            Ok(u.choose(&self.keys)?.clone())
        } else {
            self.word(u)
        }
    }

    /// A fresh value at `depth` (no deeper than 4).
    pub(crate) fn value(&self, u: &mut Unstructured<'_>, depth: u8) -> Result<Value> {
        let top = if depth >= 4 { 4u8 } else { 7 };
        Ok(match u.int_in_range(0..=top)? {
            0 => Value::Null,
            1 => Value::Bool(u.arbitrary()?),
            2 => edge_number(u)?,
            3 | 4 => Value::String(self.word(u)?),
            5 => {
                let n = u.int_in_range(0u8..=3)?;
                let mut a = Vec::new();
                for _ in 0..n {
                    a.push(self.value(u, depth + 1)?);
                }
                Value::Array(a)
            }
            _ => {
                let n = u.int_in_range(0u8..=4)?;
                let mut m = Map::new();
                for _ in 0..n {
                    m.insert(self.key(u)?, self.value(u, depth + 1)?);
                }
                Value::Object(m)
            }
        })
    }

    /// A random node of a random recording's JSON.
    fn subtree(&self, u: &mut Unstructured<'_>) -> Result<Value> {
        let mut e = u.choose(&self.flat)?.clone();
        match &mut e.data {
            Data::Json(v) => Ok(pick(v, u)?.clone()),
            Data::Text(t) => Ok(Value::String(std::mem::take(t))),
        }
    }

    /// Edits one node of `v`.
    pub(crate) fn mutate(&self, v: &mut Value, u: &mut Unstructured<'_>) -> Result<()> {
        let node = pick(v, u)?;
        match u.int_in_range(0u8..=11)? {
            0 => *node = self.value(u, 2)?,
            1 => *node = Value::String(self.word(u)?),
            2 => *node = edge_number(u)?,
            3 => *node = self.subtree(u)?,
            4 => *node = Value::Null,
            5 => {
                if let Value::Object(m) = node
                    && !m.is_empty()
                {
                    let i = u.choose_index(m.len())?;
                    let key = m.keys().nth(i).cloned().unwrap_or_default();
                    m.remove(&key);
                }
            }
            6 => {
                let (k, x) = (self.key(u)?, self.value(u, 2)?);
                if let Value::Object(m) = node {
                    m.insert(k, x);
                }
            }
            7 => {
                if let Value::Array(a) = node
                    && !a.is_empty()
                {
                    let i = u.choose_index(a.len())?;
                    a.remove(i);
                }
            }
            8 => {
                if let Value::Array(a) = node
                    && !a.is_empty()
                {
                    let i = u.choose_index(a.len())?;
                    let x = a[i].clone();
                    a.insert(i, x);
                }
            }
            9 => {
                // The same content under another JSON type.
                *node = match std::mem::take(node) {
                    Value::String(s) => s
                        .parse::<i64>()
                        .map(Value::from)
                        .unwrap_or(Value::Array(vec![Value::String(s)])),
                    Value::Number(n) => Value::String(n.to_string()),
                    Value::Array(mut a) if a.len() == 1 => a.pop().unwrap_or_default(),
                    other => Value::Array(vec![other]),
                };
            }
            10 => {
                let x = self.value(u, 2)?;
                if let Value::Array(a) = node {
                    a.push(x);
                }
            }
            _ => {
                // A deep nest (serde_json stops at 128 levels).
                let depth = u.int_in_range(1u16..=200)?;
                let mut x = std::mem::take(node);
                for _ in 0..depth {
                    x = Value::Array(vec![x]);
                }
                *node = x;
            }
        }
        Ok(())
    }

    /// Edits an event: its payload (0-3 times) or its name.
    pub(crate) fn mutate_event(&self, e: &mut Event, u: &mut Unstructured<'_>) -> Result<()> {
        match u.int_in_range(0u8..=7)? {
            0 => e.name = None,
            1 => e.name = Some(self.word(u)?),
            2 => e.data = Data::Text(self.word(u)?),
            _ => {
                if let Data::Json(v) = &mut e.data {
                    for _ in 0..u.int_in_range(1u8..=3)? {
                        self.mutate(v, u)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// An event: a recorded one, edited, or a new object (often with a
    /// `type` of the vocabulary).
    pub(crate) fn event(&self, u: &mut Unstructured<'_>) -> Result<Event> {
        if u.ratio(3u8, 4)? {
            let mut e = u.choose(&self.flat)?.clone();
            for _ in 0..u.int_in_range(0u8..=2)? {
                self.mutate_event(&mut e, u)?;
            }
            return Ok(e);
        }
        let mut m = Map::new();
        if u.ratio(3u8, 4)? {
            m.insert("type".into(), Value::String(self.word(u)?));
        }
        for _ in 0..u.int_in_range(0u8..=4)? {
            m.insert(self.key(u)?, self.value(u, 1)?);
        }
        let name = if u.arbitrary()? {
            Some(self.word(u)?)
        } else {
            None
        };
        Ok(Event {
            name,
            data: Data::Json(Value::Object(m)),
        })
    }

    /// A sequence of events: mostly one recording replayed with events
    /// dropped, repeated, edited or inserted (and maybe cut short), else
    /// up to 24 events of the vocabulary.
    pub(crate) fn script(&self, u: &mut Unstructured<'_>) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        if u.int_in_range(0u8..=3)? < 3 {
            let base = u.choose(&self.streams)?;
            for e in base {
                match u.int_in_range(0u8..=19)? {
                    0..=11 => out.push(e.clone()),
                    12 => {}
                    13 => {
                        out.push(e.clone());
                        out.push(e.clone());
                    }
                    14..=16 => {
                        let mut e = e.clone();
                        self.mutate_event(&mut e, u)?;
                        out.push(e);
                    }
                    17 | 18 => {
                        out.push(self.event(u)?);
                        out.push(e.clone());
                    }
                    _ => break,
                }
            }
        } else {
            for _ in 0..u.int_in_range(0u8..=24)? {
                out.push(self.event(u)?);
            }
        }
        Ok(out)
    }

    /// One body: a recorded one (of any recording), edited 0-4 times, or a
    /// fresh object.
    pub(crate) fn body(&self, u: &mut Unstructured<'_>) -> Result<Value> {
        if u.int_in_range(0u8..=7)? == 7 {
            return self.value(u, 0);
        }
        let e = u.choose(&self.flat)?;
        let mut v = match &e.data {
            Data::Json(v) => v.clone(),
            Data::Text(t) => Value::String(t.clone()),
        };
        for _ in 0..u.int_in_range(0u8..=4)? {
            self.mutate(&mut v, u)?;
        }
        Ok(v)
    }
}

/// A node of `v`: each level, stop (1 in 3) or go into a random member.
fn pick<'v>(v: &'v mut Value, u: &mut Unstructured<'_>) -> Result<&'v mut Value> {
    let len = match v {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    };
    if len == 0 || u.is_empty() || u.ratio(1u8, 3)? {
        return Ok(v);
    }
    let i = u.choose_index(len)?;
    let child = match v {
        Value::Object(m) => m.values_mut().nth(i),
        Value::Array(a) => a.get_mut(i),
        _ => None,
    };
    match child {
        Some(c) => pick(c, u),
        None => Err(arbitrary::Error::IncorrectFormat),
    }
}

/// The events of an SSE recording (decoded by the crate's own decoder;
/// JSON where the data parses).
pub(crate) fn sse_events(text: &str) -> Vec<Event> {
    let mut d = crate::sse::SseDecoder::new(1 << 20);
    let mut events = Vec::new();
    if d.push(text.as_bytes(), &mut events).is_err() {
        return Vec::new();
    }
    let _ = d.push(b"\n\n", &mut events);
    events
        .into_iter()
        .map(|e| Event {
            name: e.event,
            data: match serde_json::from_str(&e.data) {
                Ok(v) => Data::Json(v),
                Err(_) => Data::Text(e.data),
            },
        })
        .collect()
}

/// A JSON recording as one event.
pub(crate) fn json_event(text: &str) -> Vec<Event> {
    match serde_json::from_str(text) {
        Ok(v) => vec![Event {
            name: None,
            data: Data::Json(v),
        }],
        Err(_) => Vec::new(),
    }
}

/// Writes events as an SSE body: `event:` and `data:` lines (JSON compact,
/// or pretty-printed over several `data:` lines when `spread`).
pub(crate) fn write_sse(events: &[Event], spread: bool, out: &mut Vec<u8>) {
    for e in events {
        if let Some(n) = &e.name {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(n.as_bytes());
            out.push(b'\n');
        }
        let text = match &e.data {
            Data::Json(v) if spread => serde_json::to_string_pretty(v).unwrap_or_default(),
            Data::Json(v) => v.to_string(),
            Data::Text(t) => t.clone(),
        };
        for line in text.split('\n') {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
    }
}
