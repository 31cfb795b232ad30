//! Durations as the vault CLI takes and shows them: `--ttl 1h30m`, `token_duration 768h`.

use std::fmt;
use std::str::FromStr;

/// A whole number of seconds given on the command line (`90`, `90s`, `15m`, `1h30m`, `7d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub u64);

impl Seconds {
    /// The form sent to the server: seconds with an `s`, which both hush and Vault parse.
    pub fn wire(self) -> String {
        format!("{}s", self.0)
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&human(self.0))
    }
}

/// Why a duration was rejected; clap prints it after the option name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError(String);

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\" is not a duration; use whole seconds (3600) or numbers with units s, m, h \
             or d, as in 90s, 15m, 1h30m or 7d",
            self.0
        )
    }
}

impl std::error::Error for DurationError {}

impl FromStr for Seconds {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || DurationError(text.to_owned());
        let s = text.trim();
        if s.is_empty() {
            return Err(invalid());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse().map(Seconds).map_err(|_| invalid());
        }
        let mut total: u64 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(invalid());
            }
            let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let factor = match &rest[..unit_len] {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                _ => return Err(invalid()),
            };
            rest = &rest[unit_len..];
            total = number
                .checked_mul(factor)
                .and_then(|n| total.checked_add(n))
                .ok_or_else(invalid)?;
        }
        Ok(Seconds(total))
    }
}

/// Formats seconds like the vault CLI: Go's duration text without trailing zero units
/// (`768h`, `1h30m`, `45s`, `0s`).
pub fn human(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h{m}m"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

/// Whether a response field holds a duration in seconds, by the naming convention the vault CLI
/// relies on to print such fields as durations.
pub fn looks_like_duration(key: &str) -> bool {
    key == "period"
        || key.ends_with("_period")
        || key == "ttl"
        || key.ends_with("_ttl")
        || key == "duration"
        || key.ends_with("_duration")
        || key == "lease_max"
        || key == "ttl_max"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vault_style_durations() {
        for (text, secs) in [
            ("0", 0),
            ("3600", 3600),
            ("90s", 90),
            ("15m", 900),
            ("1h30m", 5400),
            ("1h0m10s", 3610),
            ("7d", 604_800),
        ] {
            assert_eq!(text.parse::<Seconds>(), Ok(Seconds(secs)), "{text}");
        }
        for bad in ["", "h", "1x", "1.5h", "-1", "1h-", "99999999999999999999"] {
            let err = bad.parse::<Seconds>().unwrap_err();
            assert!(err.to_string().contains("1h30m"), "{bad}: {err}");
        }
    }

    #[test]
    fn human_durations_drop_zero_units() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(45), "45s");
        assert_eq!(human(90), "1m30s");
        assert_eq!(human(1800), "30m");
        assert_eq!(human(3600), "1h");
        assert_eq!(human(5400), "1h30m");
        assert_eq!(human(2_764_800), "768h");
        assert_eq!(human(3601), "1h0m1s");
        assert_eq!(Seconds(60).wire(), "60s");
    }

    #[test]
    fn duration_fields_by_name() {
        assert!(looks_like_duration("ttl"));
        assert!(looks_like_duration("creation_ttl"));
        assert!(looks_like_duration("token_duration"));
        assert!(!looks_like_duration("ttl_count"));
        assert!(!looks_like_duration("policies"));
    }
}
