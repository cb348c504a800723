//! [`sanitize`]: the one redaction of upstream messages.

/// What replaces a redacted token.
pub const REDACTED: &str = "[redacted]";

/// The longest sanitised message, in characters (an ellipsis follows when
/// the message was cut).
pub const MAX_MESSAGE_CHARS: usize = 300;

/// Prefixes of known key formats (chat and search providers, AWS, Google,
/// and auth schemes that precede a key).
const KEY_PREFIXES: &[&str] = &[
    "sk-", "sk_", "gsk_", "xai-", "pplx-", "tvly-", "nvapi-", "fw_", "cpk_", "csk-", "vck_",
    "tgp_", "AKIA", "ASIA", "AIza", "key-", "Bearer", "Bot",
];

/// Whether `t` (a token with its surrounding punctuation trimmed) looks like
/// a key: a known prefix followed by more than 3 characters, or a run of at
/// least 24 letters, digits and `-_./+=` holding a digit.
fn key_like(t: &str) -> bool {
    KEY_PREFIXES
        .iter()
        .any(|p| t.starts_with(p) && t.len() > p.len() + 3)
        || (t.len() >= 24
            && t.bytes().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/' | b'+' | b'=')
            })
            && t.bytes().any(|c| c.is_ascii_digit()))
}

/// Removes anything key-like from an upstream message and bounds its length.
///
/// The message is split into tokens at whitespace and quotes; a token is
/// replaced by [`REDACTED`] when
///
/// - it contains an 8-byte piece of `secret` (providers echo parts of keys,
///   e.g. "Incorrect API key provided: sk-CANAR****a3b4"), or
/// - with its surrounding punctuation trimmed (either the usual `,;:()[]{}.`
///   or every non-alphanumeric character), it starts like a known key
///   (`sk-`, `gsk_`, `tvly-`, `AKIA`, `Bearer`, `Bot`, ...), or it is a run
///   of 24 or more letters, digits and `-_./+=` holding a digit.
///
/// Control characters are removed first (whitespace ones split tokens), so
/// none can hide a key from these rules, and the result is cut to
/// [`MAX_MESSAGE_CHARS`] characters (plus `…` when cut).
pub fn sanitize(message: &str, secret: Option<&str>) -> String {
    // Control characters go before the tokens are read (whitespace ones
    // still split them): removed only from the result, they let a key
    // with one every few bytes pass as tokens without an 8-byte piece of
    // it, and come out whole.
    let message: String = message
        .chars()
        .filter(|c| c.is_whitespace() || !c.is_control())
        .collect();
    let windows: Vec<&[u8]> = secret
        .map(|s| s.as_bytes().windows(8).collect())
        .unwrap_or_default();
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_CHARS + 20));
    let mut chars = 0usize;
    for (i, token) in message
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .enumerate()
    {
        if i > 0 {
            out.push(' ');
        }
        let punct = token.trim_matches(|c: char| {
            matches!(c, ',' | ';' | ':' | '(' | ')' | '[' | ']' | '{' | '}' | '.')
        });
        let alnum = token.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let bytes = token.as_bytes();
        let leaks_secret = windows.iter().any(|w| bytes.windows(8).any(|b| b == *w));
        if leaks_secret || key_like(punct) || key_like(alnum) {
            out.push_str(REDACTED);
        } else {
            out.push_str(token);
        }
        chars += token.len() + 1;
        if chars > MAX_MESSAGE_CHARS {
            break;
        }
    }
    if out.chars().count() > MAX_MESSAGE_CHARS {
        out = out.chars().take(MAX_MESSAGE_CHARS).collect();
        out.push('…');
    }
    out.chars().filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaks(s: &str, key: &str) -> bool {
        key.as_bytes()
            .windows(8)
            .any(|w| s.as_bytes().windows(8).any(|b| b == w))
    }

    // from byok-providers
    #[test]
    fn sanitize_removes_echoed_keys() {
        let key = "sk-CANARY-7f3a9b2c4d5e6f708192a3b4";
        let msgs = [
            format!(
                "Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com."
            ),
            "Incorrect API key provided: sk-CANAR***************a3b4.".to_owned(),
            format!("invalid x-api-key: \"{key}\""),
            format!("key={}", &key[5..20]),
            "The security token AKIAIOSFODNN7EXAMPLE is invalid".to_owned(),
        ];
        for m in msgs {
            let s = sanitize(&m, Some(key));
            for w in key.as_bytes().windows(8) {
                assert!(!s.as_bytes().windows(8).any(|b| b == w), "{s}");
            }
            assert!(!s.contains("AKIAIOSFODNN7"), "{s}");
        }
        assert_eq!(sanitize("model not found", Some(key)), "model not found");
        assert!(sanitize(&"x ".repeat(1000), None).chars().count() <= 301);
        assert!(!sanitize("a\r\nb\u{7}", None).contains('\r'));
    }

    // from byok-search
    #[test]
    fn sanitize_drops_keys() {
        let key = "tvly-dev-CANARY0123456789abcdef";
        let s = sanitize(
            &format!("Unauthorized: missing or invalid API key {key}."),
            Some(key),
        );
        assert!(!s.contains("CANARY0123"), "{s}");
        assert!(s.starts_with("Unauthorized: missing"));
    }

    /// The protections only one of the two former copies had.
    #[test]
    fn union_of_both_former_copies() {
        // search's: any surrounding punctuation is trimmed before matching
        for m in ["key <sk-abcdefgh> rejected", "key `tvly-abcdefgh` rejected"] {
            let s = sanitize(m, None);
            assert!(!s.contains("abcdefgh"), "{m} -> {s}");
        }
        assert!(sanitize("Authorization: Bot0123456789", None).contains(REDACTED));
        // search's: a long run of digits only
        assert!(sanitize("account 123456789012345678901234 locked", None).contains(REDACTED));
        // providers': quotes split tokens; `/+=` inside base64-like keys
        assert!(sanitize("key='sk-abcdefgh'", None).contains(REDACTED));
        assert!(
            sanitize("token abcdefghijkl/mnop+qrstuv12== bad", None).contains(REDACTED),
            "base64 run"
        );
        // providers': bounded length with an ellipsis, no control characters
        let long = sanitize(&"word ".repeat(200), None);
        assert!(long.ends_with('…'));
        assert_eq!(long.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert_eq!(sanitize("tab\there", None), "tab here");
        assert_eq!(sanitize("no\u{1b}[31mcolour", None), "no[31mcolour");
    }

    /// Found by fuzzing (`sanitize`): control characters were removed only
    /// from the result, so a key echoed with one every few bytes passed as
    /// tokens holding no 8-byte piece of it (and no known prefix), then
    /// came out whole.
    #[test]
    fn a_key_with_control_characters_slipped_in_is_redacted() {
        for key in ["q7Wm2Lx9Pz4Kd8Rt", "sk-CANARY-7f3a9b2c4d5e6f70"] {
            for every in 1..8 {
                let mut m = String::from("invalid key: ");
                for (i, c) in key.chars().enumerate() {
                    if i > 0 && i % every == 0 {
                        m.push('\u{1}');
                    }
                    m.push(c);
                }
                let s = sanitize(&m, Some(key));
                assert!(!leaks(&s, key), "{m:?} -> {s:?}");
                assert_eq!(s, format!("invalid key: {REDACTED}"));
            }
        }
    }

    #[test]
    fn plain_messages_pass() {
        for m in [
            "model not found",
            "The model `gpt-4o` does not exist or you do not have access to it.",
            "Rate limit reached for requests",
            "max_tokens must be at most 8192",
        ] {
            assert_eq!(sanitize(m, Some("sk-secret-0123456789")), m);
        }
    }

    proptest! {
        #[test]
        fn never_leaks_the_secret(
            key in "[A-Za-z0-9_-]{8,48}",
            before in "[ -~]{0,80}",
            after in "[ -~]{0,80}",
            sep in prop::sample::select(vec![" ", "\"", "'", "\n", ": "]),
        ) {
            let m = format!("{before}{sep}{key}{sep}{after}");
            let s = sanitize(&m, Some(&key));
            prop_assert!(!leaks(&s, &key), "{} -> {}", m, s);
        }

        #[test]
        fn never_leaks_a_piece_of_the_secret(
            key in "[A-Za-z0-9]{16,48}",
            start in 0usize..8,
            len in 8usize..16,
            before in "[a-z ]{0,40}",
        ) {
            let end = (start + len).min(key.len());
            let m = format!("{before} key={}**** rejected", &key[start..end]);
            let s = sanitize(&m, Some(&key));
            prop_assert!(!leaks(&s, &key), "{} -> {}", m, s);
        }

        #[test]
        fn bounded_and_control_free(m in "\\PC{0,2000}|[\\x00-\\x7f]{0,2000}", key in proptest::option::of("[ -~]{0,40}")) {
            let s = sanitize(&m, key.as_deref());
            prop_assert!(s.chars().count() <= MAX_MESSAGE_CHARS + 1);
            prop_assert!(!s.chars().any(char::is_control));
        }
    }
}
