//! Money as integer nano-USD, with exact decimal strings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Nano-USD per USD.
pub const NANOS_PER_USD: i64 = 1_000_000_000;

/// An amount of US dollars in nano-USD (10⁻⁹ USD). No floats anywhere:
/// arithmetic is checked integer arithmetic, parsing and formatting are
/// exact.
///
/// ```
/// use byok_billing::Money;
/// let m: Money = "10.25".parse()?;
/// assert_eq!(m.nanos(), 10_250_000_000);
/// assert_eq!(m.to_string(), "10.25");
/// assert_eq!(Money::from_nanos(1).to_string(), "0.000000001");
/// # Ok::<(), byok_billing::MoneyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

/// A malformed or out-of-range amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// Not a decimal number like `12.34`.
    #[error("not a decimal amount")]
    Syntax,
    /// More than 9 decimal places (finer than a nano-dollar).
    #[error("more than 9 decimal places")]
    TooPrecise,
    /// Outside ±9.2 billion USD.
    #[error("amount out of range")]
    Overflow,
}

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// From nano-USD.
    pub const fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    /// The amount in nano-USD.
    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// Checked sum.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// Checked difference.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// Whether the amount is negative.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl fmt::Display for Money {
    /// Exact decimal USD with at least two and at most nine decimals:
    /// `10.00`, `0.0000125`, `-3.50`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written back to front into a stack buffer: this runs for every
        // answer's `x-byok-markup-usd` header, and `format!` plus `write!`
        // cost several times as much. u64::MAX has 20 digits: 20 + '.' + 9
        // + '-' fit in 32.
        let mut buf = [0u8; 32];
        let mut at = buf.len();
        let abs = self.0.unsigned_abs();
        let whole = abs / NANOS_PER_USD.unsigned_abs();
        let mut frac = abs % NANOS_PER_USD.unsigned_abs();
        // Nine decimals, trailing zeros dropped down to two.
        let mut shown = 9;
        while shown > 2 && frac.is_multiple_of(10) {
            frac /= 10;
            shown -= 1;
        }
        for _ in 0..shown {
            at -= 1;
            buf[at] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        at -= 1;
        buf[at] = b'.';
        let mut w = whole;
        loop {
            at -= 1;
            buf[at] = b'0' + (w % 10) as u8;
            w /= 10;
            if w == 0 {
                break;
            }
        }
        if self.0 < 0 {
            at -= 1;
            buf[at] = b'-';
        }
        // Only ASCII digits, '.' and '-' were written.
        std::str::from_utf8(&buf[at..]).map_or(Err(fmt::Error), |s| f.write_str(s))
    }
}

impl FromStr for Money {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (negative, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
        if whole.is_empty() && frac.is_empty() {
            return Err(MoneyError::Syntax);
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MoneyError::Syntax);
        }
        if frac.len() > 9 {
            return Err(MoneyError::TooPrecise);
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| MoneyError::Overflow)?
        };
        let mut frac_nanos: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| MoneyError::Syntax)?
        };
        for _ in frac.len()..9 {
            frac_nanos *= 10;
        }
        let nanos = whole
            .checked_mul(NANOS_PER_USD)
            .and_then(|w| w.checked_add(frac_nanos))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money(if negative { -nanos } else { nanos }))
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Basis points (1 bp = 0.01%). The markup rate: 500 = 5%.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Bps(pub u32);

impl Bps {
    /// The default markup: 5%.
    pub const DEFAULT_MARKUP: Bps = Bps(500);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_and_format() {
        for (s, n, back) in [
            ("10", 10_000_000_000, "10.00"),
            ("10.5", 10_500_000_000, "10.50"),
            ("0.000000001", 1, "0.000000001"),
            (".25", 250_000_000, "0.25"),
            ("-3.5", -3_500_000_000, "-3.50"),
            ("0", 0, "0.00"),
            ("1.23456789", 1_234_567_890, "1.23456789"),
        ] {
            let m: Money = s.parse().unwrap();
            assert_eq!(m.nanos(), n, "{s}");
            assert_eq!(m.to_string(), back);
        }
        for bad in [
            "",
            ".",
            "abc",
            "1.2.3",
            "1,5",
            "1e3",
            "--1",
            "0.0000000001",
            "99999999999",
            "NaN",
        ] {
            assert!(bad.parse::<Money>().is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(n in any::<i64>().prop_filter("not MIN", |n| *n != i64::MIN)) {
            let m = Money::from_nanos(n);
            prop_assert_eq!(m.to_string().parse::<Money>().unwrap(), m);
        }

        /// The stack-buffer formatter writes what the plain `format!`
        /// version wrote, for every value (MIN included).
        #[test]
        fn display_matches_the_reference(n in any::<i64>()) {
            let abs = n.unsigned_abs();
            let mut digits = format!("{:09}", abs % 1_000_000_000);
            while digits.len() > 2 && digits.ends_with('0') {
                digits.pop();
            }
            let sign = if n < 0 { "-" } else { "" };
            let reference = format!("{sign}{}.{digits}", abs / 1_000_000_000);
            prop_assert_eq!(Money::from_nanos(n).to_string(), reference);
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = s.parse::<Money>();
        }
    }
}
