//! `sanitize`: the one redaction of upstream error messages (untrusted
//! text that may echo the caller's key).

use arbitrary::{Result, Unstructured};

use super::{Input, input, raw};
use byok_redact::sanitize as redact;

/// Words an upstream message is made of, besides the key.
const WORDS: &[&str] = &[
    "Incorrect",
    "API",
    "key",
    "provided:",
    "invalid",
    "x-api-key:",
    "You",
    "can",
    "find",
    "your",
    "at",
    "https://platform.openai.com/account/api-keys.",
    "Bearer",
    "token",
    "****",
    "(",
    ")",
    "=",
    ",",
];

/// What may come between two pieces of a message, or inside a key.
const JOINS: &[&str] = &[
    " ", "\t", "\n", "\"", "'", "\u{0}", "\u{1}", "\u{7f}", "\u{85}", "\u{200b}", "é", ":", "",
];

/// A key as a credential holds it: printable ASCII without whitespace.
fn key(u: &mut Unstructured<'_>) -> Result<String> {
    let prefix = *u.choose(&["sk-", "gsk_", "AKIA", "", "key-", "tgp_v1_"])?;
    let len = u.int_in_range(8usize..=40)?;
    let mut k = prefix.to_owned();
    for _ in 0..len {
        let b = u.int_in_range(0u8..=63)?;
        k.push(char::from(match b {
            0..=9 => b'0' + b,
            10..=35 => b'a' + (b - 10),
            36..=61 => b'A' + (b - 36),
            62 => b'-',
            _ => *u.choose(b"_./+=\"'!~")?,
        }));
    }
    Ok(k)
}

/// A message: words, the key, pieces of it, and the key with characters
/// slipped in, joined in any way.
fn message(u: &mut Unstructured<'_>, key: &str) -> Result<String> {
    let mut m = String::new();
    for _ in 0..u.int_in_range(0u8..=12)? {
        match u.int_in_range(0u8..=5)? {
            0 | 1 => m.push_str(u.choose(WORDS)?),
            2 => m.push_str(key),
            3 => {
                let a = u.int_in_range(0..=key.len())?;
                let b = u.int_in_range(a..=key.len())?;
                m.push_str(key.get(a..b).unwrap_or_default());
            }
            4 => {
                // The key with a character slipped in every few bytes.
                let join = u.choose(JOINS)?;
                let every = u.int_in_range(1usize..=9)?;
                for (i, c) in key.chars().enumerate() {
                    if i > 0 && i % every == 0 {
                        m.push_str(join);
                    }
                    m.push(c);
                }
            }
            _ => {
                let n = u.int_in_range(0usize..=16)?;
                m.push_str(&String::from_utf8_lossy(u.bytes(n.min(u.len()))?));
            }
        }
        m.push_str(u.choose(JOINS)?);
    }
    Ok(m)
}

/// Fuzz target `sanitize`: whatever an upstream message holds, the
/// sanitised message shows no 8-byte piece of the key (printable ASCII
/// without whitespace, as credentials are), no control character, and at
/// most `MAX_MESSAGE_CHARS` characters and an ellipsis. Raw input: a
/// length byte, the key, the message.
pub fn sanitize(data: &[u8]) {
    let Some(input) = input(data) else { return };
    let (key, message) = match input {
        Input::Raw { bytes, .. } => {
            let Some((&n, rest)) = bytes.split_first() else {
                return;
            };
            let (key, message) = rest.split_at(usize::from(n).min(rest.len()));
            let Ok(key) = std::str::from_utf8(key) else {
                return;
            };
            (
                key.to_owned(),
                String::from_utf8_lossy(message).into_owned(),
            )
        }
        Input::Structured(mut u) => {
            let Ok(key) = key(&mut u) else { return };
            let Ok(message) = message(&mut u, &key) else {
                return;
            };
            (key, message)
        }
    };
    let out = redact(&message, Some(&key));
    assert!(
        out.chars().count() <= byok_redact::MAX_MESSAGE_CHARS + 1,
        "the message is bounded"
    );
    assert!(!out.chars().any(char::is_control), "no control character");
    if key.len() >= 8 && key.bytes().all(|b| b.is_ascii_graphic()) {
        // (A piece of the key that is also a piece of the marker that
        // replaces it proves nothing.)
        for w in key
            .as_bytes()
            .windows(8)
            .filter(|w| !byok_redact::REDACTED.as_bytes().windows(8).any(|r| r == *w))
        {
            assert!(
                !out.as_bytes().windows(8).any(|b| b == w),
                "a piece of the key survives: {out:?}"
            );
        }
    }
}

pub(super) fn seeds(out: &mut Vec<(&'static str, String, Vec<u8>)>) {
    let key = "sk-CANARY-7f3a9b2c4d5e6f708192a3b4";
    for (i, m) in [
        format!("Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com."),
        "Incorrect API key provided: sk-CANAR***************a3b4.".to_owned(),
        format!("invalid x-api-key: \"{key}\""),
        format!("key={}", &key[5..20]),
        "The security token AKIAIOSFODNN7EXAMPLE is invalid".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        let mut bytes = vec![u8::try_from(key.len()).unwrap_or(0)];
        bytes.extend_from_slice(key.as_bytes());
        bytes.extend_from_slice(m.as_bytes());
        out.push(("sanitize", format!("seed-{i}"), raw(1, &bytes)));
    }
}
