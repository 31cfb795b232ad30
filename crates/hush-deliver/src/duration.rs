//! Durations on the command line: `--interval 30s`, `--grace 500ms`.

use std::time::Duration;

/// Parses `250ms`, `30s`, `5m`, `1h`, or a bare number of seconds (`30`).
///
/// Zero is rejected: a zero polling interval would hammer the server and a zero grace period
/// would skip the graceful stop altogether. Used as a clap `value_parser`, so the error text is
/// shown next to the option name.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!("\"{text}\" is not a duration: use a positive number with ms, s, m or h (e.g. 30s)")
    };
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let duration = match unit {
        "" | "s" => Duration::from_secs(number),
        "ms" => Duration::from_millis(number),
        "m" => Duration::from_secs(number.checked_mul(60).ok_or_else(invalid)?),
        "h" => Duration::from_secs(number.checked_mul(3600).ok_or_else(invalid)?),
        _ => return Err(invalid()),
    };
    if duration.is_zero() {
        return Err(invalid());
    }
    Ok(duration)
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
