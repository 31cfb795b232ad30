//! Durations on the command line: `--interval 30s`, `--grace 500ms`.

use std::time::Duration;

/// Parses `250ms`, `30s`, `5m`, `1h`, or a bare number of seconds (`30`).
///
/// Zero is rejected: a zero polling interval would hammer the server and a zero grace period
/// would skip the graceful stop altogether. Used as a clap `value_parser`, so the error text is
/// shown next to the option name.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    hush_client::parse_positive_duration(text).ok_or_else(|| {
        format!("\"{text}\" is not a duration: use a positive number with ms, s, m or h (e.g. 30s)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn rejects_nonsense_and_zero() {
        for bad in ["", "0", "0s", "-1s", "1d", "s", "1.5s", "ten"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("not a duration"), "{bad}: {err}");
        }
    }
}
