//! Go-style durations, as Vault accepts them for every TTL field.
//!
//! Vault clients and configuration files write durations either as Go duration strings
//! (`"768h"`, `"1h30m"`, `"1.5h"`, `"300ms"`) or as a whole number of seconds (`3600` or
//! `"3600"`). Responses render them the way Go's `time.Duration.String` does (`"768h0m0s"`), so
//! both directions live here.
//!
//! The accepted range is Go's: at most `i64::MAX` nanoseconds (about 292 years). Anything longer
//! is rejected rather than silently saturated, so a value that Vault would refuse is refused here
//! too.

use std::time::Duration;

/// Examples appended to every parse error so the operator sees what a valid value looks like.
const EXAMPLES: &str = "valid examples: \"768h\", \"1h30m\", \"1.5h\", \"10s\", \"300ms\", \
                        or a whole number of seconds such as 3600";

/// The longest duration Go can represent, in nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Fractional digits beyond this are ignored: even with the largest unit (hours) they are below
/// one nanosecond, and capping them keeps the arithmetic inside `u128`.
const MAX_FRACTION_DIGITS: usize = 18;

/// Why a duration could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// The input was empty or only whitespace.
    #[error("empty duration; {EXAMPLES}")]
    Empty,
    /// The input started with a minus sign.
    #[error("invalid duration {input:?}: negative durations are not allowed; {EXAMPLES}")]
    Negative {
        /// The input as written (trimmed).
        input: String,
    },
    /// The duration is longer than Go's maximum (about 292 years).
    #[error(
        "invalid duration {input:?}: longer than the maximum of 2562047h47m16.854775807s; \
         {EXAMPLES}"
    )]
    Overflow {
        /// The input as written (trimmed).
        input: String,
    },
    /// A number was followed by a unit that Go does not know.
    #[error(
        "invalid duration {input:?}: unknown unit {unit:?}; units are ns, us (or µs), ms, s, m \
         and h (there is no unit for days: write 24h); {EXAMPLES}"
    )]
    UnknownUnit {
        /// The input as written (trimmed).
        input: String,
        /// The unit that was not recognised.
        unit: String,
    },
    /// The input is not shaped like a duration at all.
    #[error("invalid duration {input:?}: {reason}; {EXAMPLES}")]
    Malformed {
        /// The input as written (trimmed).
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A JSON number of seconds had a fractional part.
    #[error(
        "invalid duration {input}: a number of seconds must be a whole number; write a string \
         with a unit instead, such as \"1.5s\"; {EXAMPLES}"
    )]
    FractionalSeconds {
        /// The number as written.
        input: String,
    },
    /// The JSON value was neither a string nor a number.
    #[error(
        "invalid duration: expected a string or a number of seconds, found {found}; {EXAMPLES}"
    )]
    WrongType {
        /// The kind of value that was found, e.g. "a boolean".
        found: &'static str,
    },
}

/// Parses a Go duration string or a bare whole number of seconds.
///
/// Surrounding whitespace is ignored. Accepted units are `ns`, `us`, `µs`, `ms`, `s`, `m` and
/// `h`; segments may be combined (`"2h45m10s"`) and may have a fractional part (`"1.5h"`).
/// A bare integer (`"45"`) means seconds, as in Vault. `"0"` is zero.
///
/// # Errors
///
/// Empty input, a minus sign, an unknown or missing unit, anything longer than about 292 years,
/// and anything else that is not a duration; the error quotes the input and shows valid examples.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let input = s.trim();
    if input.is_empty() {
        return Err(DurationError::Empty);
    }
    let owned = || input.to_string();
    let malformed = |reason| DurationError::Malformed {
        input: owned(),
        reason,
    };
    let overflow = || DurationError::Overflow { input: owned() };

    // Go accepts "-0", but no TTL in hush is meaningfully negative, so any sign is refused.
    if input.starts_with('-') {
        return Err(DurationError::Negative { input: owned() });
    }
    let mut rest = input.strip_prefix('+').unwrap_or(input);
    if rest.is_empty() {
        return Err(malformed("a sign must be followed by a number"));
    }

    // Vault's extension to Go: a bare integer is a number of seconds.
    if rest.bytes().all(|b| b.is_ascii_digit()) {
        let secs = parse_digits(rest).ok_or_else(overflow)?;
        let nanos = secs.checked_mul(NANOS_PER_SEC).ok_or_else(overflow)?;
        return nanos_to_duration(nanos).ok_or_else(overflow);
    }

    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let int_digits = &rest[..int_end];
        rest = &rest[int_end..];

        let mut frac_digits = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_end = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            frac_digits = &after_dot[..frac_end];
            rest = &after_dot[frac_end..];
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(malformed("every unit must be preceded by a number"));
        }

        let unit_end = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        if unit.is_empty() {
            return Err(malformed(
                "a number is missing its unit (write \"1h30m\", not \"1h30\")",
            ));
        }
        if unit.chars().any(char::is_whitespace) {
            return Err(malformed("spaces are not allowed inside a duration"));
        }
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            // Go accepts both the micro sign (U+00B5) and the Greek mu (U+03BC).
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3_600 * NANOS_PER_SEC,
            other => {
                return Err(DurationError::UnknownUnit {
                    input: owned(),
                    unit: other.to_string(),
                })
            }
        };

        let whole = if int_digits.is_empty() {
            0
        } else {
            parse_digits(int_digits).ok_or_else(overflow)?
        };
        let mut part = whole.checked_mul(unit_nanos).ok_or_else(overflow)?;
        if !frac_digits.is_empty() {
            let kept = &frac_digits[..frac_digits.len().min(MAX_FRACTION_DIGITS)];
            // At most 18 digits: always fits, and the product stays below 3.6e30.
            let numerator = parse_digits(kept).ok_or_else(overflow)?;
            let scale = 10u128.pow(kept.len() as u32);
            // Truncation (not rounding) matches Go.
            part = part
                .checked_add(numerator * unit_nanos / scale)
                .ok_or_else(overflow)?;
        }
        total = total.checked_add(part).ok_or_else(overflow)?;
        if total > MAX_NANOS {
            return Err(overflow());
        }
    }
    nanos_to_duration(total).ok_or_else(overflow)
}

/// Parses a duration given as a JSON value: a string as in [`parse_duration`], or a number of
/// whole seconds.
///
/// # Errors
///
/// Negative or fractional numbers, numbers beyond Go's range, invalid strings, and values that
/// are neither strings nor numbers.
pub fn parse_duration_value(v: &serde_json::Value) -> Result<Duration, DurationError> {
    match v {
        serde_json::Value::String(s) => parse_duration(s),
        serde_json::Value::Number(n) => {
            let overflow = || DurationError::Overflow {
                input: n.to_string(),
            };
            if let Some(secs) = n.as_u64() {
                let nanos = u128::from(secs)
                    .checked_mul(NANOS_PER_SEC)
                    .ok_or_else(overflow)?;
                return nanos_to_duration(nanos).ok_or_else(overflow);
            }
            if n.as_i64().is_some() {
                // as_u64 failed, so the integer is negative.
                return Err(DurationError::Negative {
                    input: n.to_string(),
                });
            }
            match n.as_f64() {
                Some(f) if f < 0.0 => Err(DurationError::Negative {
                    input: n.to_string(),
                }),
                Some(f) if f.fract() == 0.0 && f.is_finite() => {
                    // An integral float such as 3600.0: accept it as the integer it denotes.
                    if f >= MAX_NANOS as f64 / NANOS_PER_SEC as f64 {
                        return Err(overflow());
                    }
                    // In range and integral, so the conversion is exact enough for seconds.
                    let secs = f as u64;
                    nanos_to_duration(u128::from(secs) * NANOS_PER_SEC).ok_or_else(overflow)
                }
                _ => Err(DurationError::FractionalSeconds {
                    input: n.to_string(),
                }),
            }
        }
        serde_json::Value::Null => Err(DurationError::WrongType { found: "null" }),
        serde_json::Value::Bool(_) => Err(DurationError::WrongType { found: "a boolean" }),
        serde_json::Value::Array(_) => Err(DurationError::WrongType { found: "a list" }),
        serde_json::Value::Object(_) => Err(DurationError::WrongType { found: "an object" }),
    }
}

/// Formats a duration the way Go's `time.Duration.String` does: `"768h0m0s"`, `"1h30m0s"`,
/// `"1m30s"`, `"10s"`, `"1.5s"`, `"300ms"`, `"2µs"`, `"5ns"`, and `"0s"` for zero.
///
/// The output always parses back with [`parse_duration`] to the same value (for durations within
/// Go's range).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < NANOS_PER_SEC {
        // Below one second Go switches to the largest unit that keeps the integer part non-zero.
        return if nanos < 1_000 {
            format!("{nanos}ns")
        } else if nanos < 1_000_000 {
            format!("{}\u{b5}s", decimal(nanos, 3))
        } else {
            format!("{}ms", decimal(nanos, 6))
        };
    }
    let total_secs = nanos / NANOS_PER_SEC;
    let hours = total_secs / 3_600;
    let minutes = (total_secs % 3_600) / 60;
    let seconds = decimal(nanos % (60 * NANOS_PER_SEC), 9);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// Renders `value / 10^scale` with the fractional part's trailing zeros (and a bare dot) removed.
fn decimal(value: u128, scale: u32) -> String {
    let divisor = 10u128.pow(scale);
    let whole = value / divisor;
    let frac = value % divisor;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:0width$}", width = scale as usize);
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Parses ASCII digits into a `u128`, or `None` on overflow. Callers pass only digit strings.
fn parse_digits(digits: &str) -> Option<u128> {
    digits.bytes().try_fold(0u128, |acc, b| {
        acc.checked_mul(10)?.checked_add(u128::from(b - b'0'))
    })
}

/// Converts nanoseconds to a `Duration` if they are within Go's range.
fn nanos_to_duration(nanos: u128) -> Option<Duration> {
    if nanos > MAX_NANOS {
        return None;
    }
    let secs = u64::try_from(nanos / NANOS_PER_SEC).ok()?;
    let sub = u32::try_from(nanos % NANOS_PER_SEC).ok()?;
    Some(Duration::new(secs, sub))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn valid_strings() {
        let cases: &[(&str, Duration)] = &[
            ("768h", secs(768 * 3600)),
            ("1h30m", secs(5400)),
            ("1.5h", secs(5400)),
            ("10s", secs(10)),
            ("300ms", Duration::from_millis(300)),
            ("2h45m10s", secs(2 * 3600 + 45 * 60 + 10)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("45", secs(45)),
            ("  10m ", secs(600)),
            ("\t5s\n", secs(5)),
            ("+5s", secs(5)),
            ("1ns", Duration::from_nanos(1)),
            ("7us", Duration::from_micros(7)),
            ("7\u{b5}s", Duration::from_micros(7)),
            ("7\u{3bc}s", Duration::from_micros(7)),
            (".5s", Duration::from_millis(500)),
            ("1.s", secs(1)),
            ("1.25m", secs(75)),
            ("1h1h", secs(7200)),
            ("0.000000001s", Duration::from_nanos(1)),
            // Digits beyond nanosecond precision are truncated, as in Go.
            ("1.0000000019s", Duration::new(1, 1)),
            (
                "2562047h47m16.854775807s",
                Duration::new(9_223_372_036, 854_775_807),
            ),
            ("9223372036", secs(9_223_372_036)),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_duration(input).as_ref(),
                Ok(expected),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn invalid_strings() {
        // (input, fragment the message must contain)
        let cases: &[(&str, &str)] = &[
            ("", "empty duration"),
            ("   ", "empty duration"),
            ("-5s", "negative"),
            ("-0", "negative"),
            ("-45", "negative"),
            ("5d", "unknown unit \"d\""),
            ("1w", "unknown unit \"w\""),
            ("10sec", "unknown unit \"sec\""),
            ("1h30", "missing its unit"),
            ("1.5", "missing its unit"),
            ("h", "preceded by a number"),
            (".s", "preceded by a number"),
            ("+", "followed by a number"),
            ("1h 30m", "spaces"),
            ("abc", "preceded by a number"),
            ("2562047h47m16.854775808s", "longer than the maximum"),
            ("9223372037", "longer than the maximum"),
            (
                "99999999999999999999999999999999999999999999h",
                "longer than the maximum",
            ),
            ("100000000000000000000000", "longer than the maximum"),
        ];
        for (input, fragment) in cases {
            let err = parse_duration(input).expect_err(input);
            let msg = err.to_string();
            assert!(msg.contains(fragment), "{input:?}: {msg}");
            assert!(msg.contains("valid examples"), "{input:?}: {msg}");
            if !input.trim().is_empty() {
                assert!(
                    msg.contains(input.trim()),
                    "message must quote {input:?}: {msg}"
                );
            }
        }
    }

    #[test]
    fn json_values() {
        let ok: &[(serde_json::Value, Duration)] = &[
            (json!(3600), secs(3600)),
            (json!(0), Duration::ZERO),
            (json!(3600.0), secs(3600)),
            (json!("768h"), secs(768 * 3600)),
            (json!("45"), secs(45)),
        ];
        for (value, expected) in ok {
            assert_eq!(
                parse_duration_value(value).as_ref(),
                Ok(expected),
                "{value}"
            );
        }
        let bad: &[(serde_json::Value, &str)] = &[
            (json!(-1), "negative"),
            (json!(-1.5), "negative"),
            (json!(1.5), "whole number"),
            (json!(true), "found a boolean"),
            (json!(null), "found null"),
            (json!([1]), "found a list"),
            (json!({"a": 1}), "found an object"),
            (json!("5d"), "unknown unit"),
            (json!(u64::MAX), "longer than the maximum"),
            (json!(1e300), "longer than the maximum"),
        ];
        for (value, fragment) in bad {
            let msg = parse_duration_value(value)
                .expect_err("must fail")
                .to_string();
            assert!(msg.contains(fragment), "{value}: {msg}");
        }
    }

    #[test]
    fn format_like_go() {
        let cases: &[(Duration, &str)] = &[
            (Duration::ZERO, "0s"),
            (secs(768 * 3600), "768h0m0s"),
            (secs(5400), "1h30m0s"),
            (secs(90), "1m30s"),
            (secs(10), "10s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(300), "300ms"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_micros(2), "2\u{b5}s"),
            (Duration::from_nanos(2500), "2.5\u{b5}s"),
            (Duration::from_nanos(5), "5ns"),
            (Duration::new(3661, 1), "1h1m1.000000001s"),
            (secs(3600), "1h0m0s"),
        ];
        for (d, expected) in cases {
            assert_eq!(format_duration(*d), *expected, "{d:?}");
        }
    }

    #[test]
    fn format_then_parse_round_trips() {
        let samples = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(999),
            Duration::from_nanos(1_001),
            Duration::from_micros(999_999),
            Duration::from_millis(1),
            Duration::new(59, 999_999_999),
            secs(60),
            secs(3599),
            secs(768 * 3600),
            Duration::new(123_456, 789),
            Duration::new(9_223_372_036, 854_775_807),
        ];
        for d in samples {
            let text = format_duration(d);
            assert_eq!(parse_duration(&text), Ok(d), "{text}");
        }
        for text in ["1h30m0s", "10s", "1.5s", "300ms", "768h0m0s", "2\u{b5}s"] {
            let d = parse_duration(text).expect(text);
            assert_eq!(format_duration(d), text);
        }
    }
}
