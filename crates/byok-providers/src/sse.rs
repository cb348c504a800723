//! An incremental server-sent-events decoder with bounded buffering.
//!
//! Why not `eventsource-stream`: it buffers an unterminated event without
//! limit, and a gateway must not let an upstream make it hold 50 MB. This
//! decoder follows the WHATWG parsing rules (LF, CRLF and CR line ends, a
//! CRLF split across reads, `:` comment lines, one leading space stripped
//! from values, `data` lines joined with LF) and fails cleanly once a line or
//! an event grows past its limit. It is property-tested against every split
//! of its input and against arbitrary bytes.

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// The decoder's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// A line or an event exceeded the limit.
    #[error("an event exceeded {0} bytes")]
    TooLarge(usize),
    /// An event's data is not UTF-8.
    #[error("an event is not valid UTF-8")]
    NotUtf8,
}

/// Incremental decoder: feed it bytes as they arrive.
#[derive(Debug)]
pub struct SseDecoder {
    line: Vec<u8>,
    data: Vec<u8>,
    event: Option<String>,
    has_data: bool,
    skip_lf: bool,
    max: usize,
}

impl SseDecoder {
    /// A decoder refusing lines or events over `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            line: Vec::with_capacity(256),
            data: Vec::with_capacity(256),
            event: None,
            has_data: false,
            skip_lf: false,
            max: max_event_bytes,
        }
    }

    /// Decodes `bytes`, appending complete events to `out`.
    ///
    /// # Errors
    /// [`SseError`]; the decoder should not be used after an error.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        // The last read ended with a CR: an LF starting this one belongs
        // to it (CRLF), and only that one LF.
        if self.skip_lf && !bytes.is_empty() {
            self.skip_lf = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        while !bytes.is_empty() {
            match memchr::memchr2(b'\n', b'\r', bytes) {
                None => {
                    if self.line.len() + bytes.len() > self.max {
                        return Err(SseError::TooLarge(self.max));
                    }
                    self.line.extend_from_slice(bytes);
                    return Ok(());
                }
                Some(i) => {
                    let (head, tail) = bytes.split_at(i);
                    if self.line.len() + head.len() > self.max {
                        return Err(SseError::TooLarge(self.max));
                    }
                    let cr = tail.first() == Some(&b'\r');
                    bytes = tail.get(1..).unwrap_or(&[]);
                    if cr {
                        match bytes.first() {
                            Some(b'\n') => bytes = bytes.get(1..).unwrap_or(&[]),
                            Some(_) => {}
                            None => self.skip_lf = true,
                        }
                    }
                    if self.line.is_empty() {
                        // The whole line is in this read: no copy.
                        self.take_line(head, out)?;
                    } else {
                        self.line.extend_from_slice(head);
                        let line = std::mem::take(&mut self.line);
                        let result = self.take_line(&line, out);
                        self.line = line;
                        self.line.clear();
                        result?;
                    }
                }
            }
        }
        Ok(())
    }

    fn take_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if line.is_empty() {
            return self.dispatch(out);
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(0) => return Ok(()), // comment
            Some(i) => {
                let (f, v) = line.split_at(i);
                let v = v.get(1..).unwrap_or(&[]);
                (f, v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.data.len() + value.len() + 1 > self.max {
                    return Err(SseError::TooLarge(self.max));
                }
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => {
                self.event =
                    Some(String::from_utf8(value.to_vec()).map_err(|_| SseError::NotUtf8)?);
            }
            _ => {} // id, retry and unknown fields are not used by any provider here
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if !self.has_data {
            self.event = None;
            return Ok(());
        }
        let data =
            String::from_utf8(std::mem::take(&mut self.data)).map_err(|_| SseError::NotUtf8)?;
        self.has_data = false;
        out.push(SseEvent {
            event: self.event.take(),
            data,
        });
        Ok(())
    }

    /// Whether bytes of an unfinished event are buffered (at end of input,
    /// such an event is discarded, as the spec says).
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.has_data
    }
}

/// Encodes one `data:` event (`data: <json>\n\n`).
pub fn encode_data(json: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
}

/// Serializes `value` as one `data:` event straight into `out` (no
/// intermediate buffer; compact JSON never contains a raw newline, so the
/// event cannot be split). On error `out` is left as it was.
///
/// # Errors
/// The serializer's error.
pub fn encode_json<T: serde::Serialize + ?Sized>(
    value: &T,
    out: &mut bytes::BytesMut,
) -> Result<(), serde_json::Error> {
    use bytes::BufMut as _;
    let start = out.len();
    out.extend_from_slice(b"data: ");
    let mut w = out.writer();
    if let Err(e) = serde_json::to_writer(&mut w, value) {
        w.into_inner().truncate(start);
        return Err(e);
    }
    let out = w.into_inner();
    out.extend_from_slice(b"\n\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(input: &[u8], splits: &[usize]) -> Result<Vec<SseEvent>, SseError> {
        let mut d = SseDecoder::new(1 << 20);
        let mut out = Vec::new();
        let mut last = 0;
        for &s in splits {
            let s = s.clamp(last, input.len());
            d.push(&input[last..s], &mut out)?;
            last = s;
        }
        d.push(&input[last..], &mut out)?;
        Ok(out)
    }

    #[test]
    fn json_events_match_encode_data() {
        let value = serde_json::json!({"a": "line\nbreak", "b": [1, 2]});
        let mut direct = bytes::BytesMut::new();
        encode_json(&value, &mut direct).unwrap();
        let mut via = Vec::new();
        encode_data(&serde_json::to_vec(&value).unwrap(), &mut via);
        assert_eq!(&direct[..], &via[..]);
        assert_eq!(direct.iter().filter(|&&b| b == b'\n').count(), 2);
    }

    const SAMPLE: &[u8] = b": OPENROUTER PROCESSING\n\ndata: {\"a\":1}\n\nevent: message_start\r\ndata: {\"b\":\r\ndata:  2}\r\n\r\nid: 7\rdata:x\r\rdata: [DONE]\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            SseEvent {
                event: None,
                data: "{\"a\":1}".into(),
            },
            SseEvent {
                event: Some("message_start".into()),
                data: "{\"b\":\n 2}".into(),
            },
            SseEvent {
                event: None,
                data: "x".into(),
            },
            SseEvent {
                event: None,
                data: "[DONE]".into(),
            },
        ]
    }

    #[test]
    fn parses_line_endings_comments_and_multiline_data() {
        assert_eq!(decode_all(SAMPLE, &[]).unwrap(), expected());
    }

    #[test]
    fn every_single_split_point_gives_the_same_events() {
        for i in 0..=SAMPLE.len() {
            assert_eq!(
                decode_all(SAMPLE, &[i]).unwrap(),
                expected(),
                "split at {i}"
            );
        }
    }

    #[test]
    fn byte_by_byte() {
        let splits: Vec<usize> = (0..SAMPLE.len()).collect();
        assert_eq!(decode_all(SAMPLE, &splits).unwrap(), expected());
    }

    /// Found by fuzzing (`sse_decoder`): a CRLF split after its CR whose
    /// LF came alone in the next read left the decoder skipping the LF of
    /// the blank line after it too, so the event was not dispatched (it
    /// ran into the next one).
    #[test]
    fn a_crlf_split_after_its_cr_skips_one_lf_only() {
        let input = b"data: a\r\n\ndata: b\n\n";
        let expected = vec![
            SseEvent {
                event: None,
                data: "a".into(),
            },
            SseEvent {
                event: None,
                data: "b".into(),
            },
        ];
        assert_eq!(decode_all(input, &[]).unwrap(), expected);
        assert_eq!(
            decode_all(input, &[8, 9]).unwrap(),
            expected,
            "CR | LF | LF"
        );
        let every: Vec<usize> = (1..input.len()).collect();
        assert_eq!(decode_all(input, &every).unwrap(), expected, "byte by byte");
    }

    #[test]
    fn limits_are_enforced_without_buffering_everything() {
        let mut d = SseDecoder::new(1024);
        let mut out = Vec::new();
        let big = vec![b'a'; 600];
        d.push(b"data: ", &mut out).unwrap();
        d.push(&big, &mut out).unwrap();
        assert_eq!(d.push(&big, &mut out), Err(SseError::TooLarge(1024)));
        let mut d = SseDecoder::new(1024);
        let line = [b"data: ".as_slice(), &big, b"\n"].concat();
        d.push(&line, &mut out).unwrap();
        assert_eq!(d.push(&line, &mut out), Err(SseError::TooLarge(1024)));
    }

    #[test]
    fn partial_event_at_end_is_reported() {
        let mut d = SseDecoder::new(1024);
        let mut out = Vec::new();
        d.push(b"data: {\"trunc", &mut out).unwrap();
        assert!(out.is_empty());
        assert!(d.has_partial());
    }

    proptest! {
        #[test]
        fn any_splits_same_events(splits in proptest::collection::vec(0usize..SAMPLE.len(), 0..12)) {
            let mut splits = splits;
            splits.sort_unstable();
            prop_assert_eq!(decode_all(SAMPLE, &splits).unwrap(), expected());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), cut in 0usize..512) {
            let cut = cut.min(bytes.len());
            let _ = decode_all(&bytes, &[cut]);
        }

        #[test]
        fn encoded_events_round_trip(payloads in proptest::collection::vec("[^\r\n]{0,40}", 1..8), cut in 0usize..400) {
            let mut wire = Vec::new();
            for p in &payloads {
                encode_data(p.as_bytes(), &mut wire);
            }
            let cut = cut.min(wire.len());
            let events = decode_all(&wire, &[cut]).unwrap();
            let got: Vec<String> = events.into_iter().map(|e| e.data).collect();
            prop_assert_eq!(got, payloads);
        }
    }
}
