//! Checked values shared by scenario files and `wschaos proxy --fault`. Each type has one
//! constructor, [`Value::check`], that takes the value as written together with where it was
//! written and its key path, so both front ends accept and reject the same things with the same
//! message.

use std::fmt;
use std::time::Duration;

use serde_saphyr::{Location, Spanned};

/// Upper bound for every duration (365 days), so that the engine and the proxy can add any of
/// them, or a few of them stacked, to an `Instant` without overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A value as the user wrote it: its text, where it was written (`Location::UNKNOWN` for a
/// `--fault` word) and its key path (`faults[0].latency`, `` `latency` latency``).
#[derive(Debug, Clone, Copy)]
pub struct Written<'a> {
    pub text: &'a str,
    pub at: Location,
    pub path: &'a str,
}

impl<'a> Written<'a> {
    /// A scenario value.
    pub fn spanned(value: &'a Spanned<String>, path: &'a str) -> Self {
        Self {
            text: &value.value,
            at: value.referenced,
            path,
        }
    }

    /// The error `path: expected EXPECTED, found "TEXT"`.
    pub fn expected(&self, expected: &str) -> Invalid {
        self.invalid(format!("expected {expected}, found {}", quoted(self.text)))
    }

    pub fn invalid(&self, message: impl Into<String>) -> Invalid {
        Invalid {
            at: self.at,
            path: self.path.to_string(),
            message: message.into(),
        }
    }
}

/// A value that failed its check: where it was written, its key path and what was expected.
/// Displayed as `path: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub at: Location,
    pub path: String,
    pub message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Longest user text echoed back in an error message; longer values are cut with `...`.
pub const MAX_ECHO_CHARS: usize = 80;

/// `text` in double quotes with escapes, cut after [`MAX_ECHO_CHARS`] characters so that a huge
/// bad value does not flood the terminal.
pub fn quoted(text: &str) -> String {
    match text.char_indices().nth(MAX_ECHO_CHARS) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// The first character of `text` that breaks a rule and where (`':' at character 14`), without
/// quoting `text`: header names and values may hold secrets. `nothing` for an empty text.
pub fn first_offending(text: &str, breaks_rule: impl Fn(char) -> bool) -> String {
    match text.chars().enumerate().find(|(_, c)| breaks_rule(*c)) {
        Some((index, c)) => format!("{c:?} at character {}", index + 1),
        None => "nothing".to_string(),
    }
}

/// A value with one checked constructor.
pub trait Value: Sized {
    fn check(written: &Written<'_>) -> Result<Self, Invalid>;
}

/// A duration from zero to [`MAX_DURATION`] (`0s`, `500ms`, `2m`, `1m 30s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dur(pub Duration);

/// A duration above zero, at most [`MAX_DURATION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositiveDur(pub Duration);

fn duration(written: &Written<'_>, expected: &str) -> Result<Duration, Invalid> {
    match humantime::parse_duration(written.text.trim()) {
        Ok(d) if d > MAX_DURATION => Err(written.expected("a duration of at most 365 days")),
        Ok(d) => Ok(d),
        Err(_) => Err(written.expected(expected)),
    }
}

impl Value for Dur {
    fn check(written: &Written<'_>) -> Result<Self, Invalid> {
        duration(written, "a duration like 0s, 500ms, 5s or 2m").map(Dur)
    }
}

impl Value for PositiveDur {
    fn check(written: &Written<'_>) -> Result<Self, Invalid> {
        let expected = "a duration greater than zero like 500ms, 5s or 2m";
        match duration(written, expected)? {
            d if d.is_zero() => Err(written.expected(expected)),
            d => Ok(PositiveDur(d)),
        }
    }
}

/// A number from 0.0 to 1.0: a share of clients, a probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fraction(pub f64);

impl Value for Fraction {
    fn check(written: &Written<'_>) -> Result<Self, Invalid> {
        match written.text.trim().parse::<f64>() {
            Ok(n) if (0.0..=1.0).contains(&n) => Ok(Fraction(n)),
            // A number is echoed as written (`found 1.5`), anything else quoted.
            Ok(_) => Err(written.invalid(format!(
                "expected a number from 0.0 to 1.0, found {}",
                written.text.trim()
            ))),
            Err(_) => Err(written.expected("a number from 0.0 to 1.0")),
        }
    }
}

/// A whole number of bytes per second, at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BytesPerSecond(pub u64);

impl Value for BytesPerSecond {
    fn check(written: &Written<'_>) -> Result<Self, Invalid> {
        match written.text.trim().parse::<u64>() {
            Ok(0) => Err(written.invalid("expected at least 1 byte per second, found 0")),
            Ok(n) => Ok(BytesPerSecond(n)),
            Err(_) => Err(written.expected("a whole number of bytes per second, at least 1")),
        }
    }
}

/// A size in bytes: a whole number of bytes (`65536`) or a whole number followed by `KiB`, `MiB`
/// or `GiB` (`64KiB`, `1 MiB`). Ranges are the caller's: they differ per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

/// What [`ByteSize`] accepts, for error messages.
pub const BYTE_SIZE_FORMS: &str =
    "a whole number of bytes, or of KiB, MiB or GiB (like 65536, 64KiB or 1MiB)";

impl Value for ByteSize {
    fn check(written: &Written<'_>) -> Result<Self, Invalid> {
        let text = written.text.trim();
        let digits_end = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(digits_end);
        let multiplier: u64 = match unit.trim_start() {
            "" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => return Err(written.expected(BYTE_SIZE_FORMS)),
        };
        number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(multiplier))
            .map(ByteSize)
            .ok_or_else(|| written.expected(BYTE_SIZE_FORMS))
    }
}

/// One of a fixed set of words, e.g. `direction: downstream`.
pub trait Word: Sized + Copy + 'static {
    const WORDS: &'static [(&'static str, Self)];
}

impl<T: Word> Value for T {
    fn check(written: &Written<'_>) -> Result<Self, Invalid> {
        let text = written.text.trim();
        match T::WORDS.iter().find(|(word, _)| *word == text) {
            Some((_, value)) => Ok(*value),
            None => {
                let words: Vec<&str> = T::WORDS.iter().map(|(word, _)| *word).collect();
                Err(written.expected(&format!("one of {}", words.join(", "))))
            }
        }
    }
}

impl Word for crate::chaos::Direction {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("upstream", Self::Upstream),
        ("downstream", Self::Downstream),
        ("both", Self::Both),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: Value>(text: &str) -> Result<T, String> {
        let written = Written {
            text,
            at: Location::UNKNOWN,
            path: "k",
        };
        T::check(&written).map_err(|e| e.to_string())
    }

    #[test]
    fn durations_are_capped_and_positive_ones_above_zero() {
        assert_eq!(check::<Dur>("0s"), Ok(Dur(Duration::ZERO)));
        assert_eq!(
            check::<PositiveDur>("1m 30s"),
            Ok(PositiveDur(Duration::from_secs(90)))
        );
        assert_eq!(
            check::<PositiveDur>("0s"),
            Err(
                "k: expected a duration greater than zero like 500ms, 5s or 2m, found \"0s\""
                    .into()
            )
        );
        assert_eq!(
            check::<Dur>("9223372036854775807s"),
            Err(
                "k: expected a duration of at most 365 days, found \"9223372036854775807s\"".into()
            )
        );
        assert_eq!(check::<Dur>("365days").map(|d| d.0), Ok(MAX_DURATION));
        assert!(check::<Dur>("366days").is_err());
        assert!(check::<Dur>("-1s").is_err());
    }

    #[test]
    fn fractions_and_rates_have_ranges() {
        assert_eq!(check::<Fraction>("0.25"), Ok(Fraction(0.25)));
        assert_eq!(
            check::<Fraction>("1.5"),
            Err("k: expected a number from 0.0 to 1.0, found 1.5".into())
        );
        for bad in ["NaN", "inf", "-0.1", "half"] {
            assert!(check::<Fraction>(bad).is_err(), "{bad}");
        }
        assert_eq!(check::<BytesPerSecond>("10"), Ok(BytesPerSecond(10)));
        assert!(check::<BytesPerSecond>("0").is_err());
        assert!(check::<BytesPerSecond>("1.5").is_err());
        assert!(check::<BytesPerSecond>("-1").is_err());
    }

    #[test]
    fn byte_sizes_are_bytes_or_binary_units() {
        assert_eq!(check::<ByteSize>("65536"), Ok(ByteSize(65536)));
        assert_eq!(check::<ByteSize>("64KiB"), Ok(ByteSize(64 << 10)));
        assert_eq!(check::<ByteSize>(" 1 MiB "), Ok(ByteSize(1 << 20)));
        assert_eq!(check::<ByteSize>("2GiB"), Ok(ByteSize(2 << 30)));
        assert_eq!(
            check::<ByteSize>("64KB"),
            Err(format!("k: expected {BYTE_SIZE_FORMS}, found \"64KB\""))
        );
        for bad in [
            "",
            "KiB",
            "1.5MiB",
            "-1",
            "1 TiB",
            "0x10",
            "99999999999999999999GiB",
        ] {
            assert!(check::<ByteSize>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "x".repeat(10_000);
        let err = check::<Dur>(&long).expect_err("not a duration");
        assert!(err.len() < 200, "{err}");
        assert!(
            err.ends_with(&format!("\"{}\"...", "x".repeat(80))),
            "{err}"
        );
        assert_eq!(quoted("short"), "\"short\"");
        assert_eq!(quoted(&"é".repeat(80)), format!("{:?}", "é".repeat(80)));
    }
}
