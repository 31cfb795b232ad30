//! RFC 3339 timestamps in UTC as Go and Vault print them.
//!
//! Every audited request stamps one or two of these, and KV v2 renders several per read, so
//! they are formatted by hand into one small string rather than through a general
//! date-time formatter (which goes through `fmt` and several intermediate strings).

/// Nanoseconds per second.
const NANOS: i64 = 1_000_000_000;

/// Unix nanoseconds as `2018-03-22T02:24:06.945319214Z`: always nine fractional digits (Go's
/// `time.RFC3339Nano` keeps them in audit entries this way via a fixed layout).
pub fn rfc3339_nanos(nanos: i64) -> String {
    let mut out = String::with_capacity(30);
    push(&mut out, nanos, false);
    out
}

/// Unix nanoseconds as Go's `time.RFC3339Nano`: up to nine fractional digits with trailing
/// zeros dropped, and no fraction at all on a whole second (`2018-03-22T02:24:06.9Z`,
/// `2018-03-22T02:24:06Z`).
pub fn rfc3339_go(nanos: i64) -> String {
    let mut out = String::with_capacity(30);
    push(&mut out, nanos, true);
    out
}

/// The current time as [`rfc3339_nanos`] prints it.
pub fn now_rfc3339_nanos() -> String {
    rfc3339_nanos(unix_nanos_now())
}

/// The current Unix time in nanoseconds (0 before 1970, which a running server never sees;
/// saturated past year 2262, which `i64` nanoseconds cannot hold).
pub fn unix_nanos_now() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

fn push(out: &mut String, nanos: i64, trim: bool) {
    let secs = nanos.div_euclid(NANOS);
    let frac = nanos.rem_euclid(NANOS);
    let days = secs.div_euclid(86_400);
    let in_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    push_digits(out, year, 4);
    out.push('-');
    push_digits(out, month, 2);
    out.push('-');
    push_digits(out, day, 2);
    out.push('T');
    push_digits(out, in_day / 3600, 2);
    out.push(':');
    push_digits(out, in_day / 60 % 60, 2);
    out.push(':');
    push_digits(out, in_day % 60, 2);
    if !(trim && frac == 0) {
        let mut digits = 9;
        let mut f = frac;
        if trim {
            while f % 10 == 0 {
                f /= 10;
                digits -= 1;
            }
        }
        out.push('.');
        push_digits(out, f, digits);
    }
    out.push('Z');
}

/// Appends `n` (non-negative) zero-padded to `width` digits.
fn push_digits(out: &mut String, n: i64, width: u32) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    while v > 0 {
        i -= 1;
        // `v % 10` is below 10, so the cast cannot truncate.
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let start = buf.len().saturating_sub(width as usize).min(i);
    for &b in &buf[start..] {
        out.push(char::from(b));
    }
}

/// The proleptic Gregorian date of a count of days since 1970-01-01 (the standard
/// era-based conversion: 400-year eras of 146,097 days, March-based years).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, SecondsFormat};

    fn chrono_nanos(n: i64) -> String {
        DateTime::from_timestamp_nanos(n).to_rfc3339_opts(SecondsFormat::Nanos, true)
    }

    #[test]
    fn matches_chrono_across_the_calendar() {
        // Leap days, century and 400-year boundaries, the epoch, and every kind of fraction.
        let mut samples = vec![
            0,
            1,
            NANOS - 1,
            NANOS,
            1_521_685_446_945_319_214,
            951_782_400 * NANOS,   // 2000-02-29
            4_107_542_400 * NANOS, // 2100-03-01
            -NANOS,                // 1969-12-31T23:59:59
            i64::MAX,              // 2262-04-11T23:47:16.854775807Z
        ];
        let mut x: i64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            // xorshift: spread samples over 1970..2262 without a dependency.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push(x.rem_euclid(i64::MAX));
        }
        for n in samples {
            assert_eq!(rfc3339_nanos(n), chrono_nanos(n), "at {n}");
        }
    }

    #[test]
    fn go_form_drops_trailing_zeros() {
        assert_eq!(
            rfc3339_go(1_521_685_446_945_319_214),
            "2018-03-22T02:24:06.945319214Z"
        );
        assert_eq!(
            rfc3339_go(1_521_685_446_900_000_000),
            "2018-03-22T02:24:06.9Z"
        );
        assert_eq!(
            rfc3339_go(1_521_685_446_000_000_010),
            "2018-03-22T02:24:06.00000001Z"
        );
        assert_eq!(
            rfc3339_go(1_521_685_446_000_000_000),
            "2018-03-22T02:24:06Z"
        );
        assert_eq!(rfc3339_go(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn now_is_current() {
        let before = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let now = unix_nanos_now();
        assert!(now >= before);
        assert_eq!(
            now_rfc3339_nanos().len(),
            "2018-03-22T02:24:06.945319214Z".len()
        );
    }
}
