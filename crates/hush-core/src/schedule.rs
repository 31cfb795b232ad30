//! Cron schedules for rotations (`rotation_schedule`, with its `rotation_window`), as Vault
//! reads them: the standard five fields `minute hour day-of-month month day-of-week`, in UTC.
//!
//! Each field is `*` (or `?`), a value, a range `a-b`, any of those with a step (`*/15`,
//! `1-30/2`, `5/10` meaning `5-max/10`), or a comma-separated list of them. Months may be
//! written `JAN`..`DEC` and days of the week `SUN`..`SAT` (either case); Sunday is 0, and 7 as
//! well, as in Vixie cron. When both day fields are restricted a day matches if either does
//! (Vixie cron's rule, which Vault's parser, robfig/cron, follows); when one of them is an
//! unstepped `*` or `?`, the other alone decides. Descriptors (`@daily`), seconds and time
//! zones are not part of Vault's format and are refused.
//!
//! The next occurrence is found by walking months, days, hours and minutes, skipping whole
//! units that cannot match, within [`SEARCH_YEARS`] years: a schedule that never matches
//! (`0 0 30 2 *`) yields `None` instead of looping.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};

/// How far ahead an occurrence is searched. Eight years is the longest gap a valid schedule
/// can have (29 February skips 2100); nine leave margin.
pub const SEARCH_YEARS: i32 = 9;

/// The shortest `rotation_window` Vault accepts, in seconds.
pub const MIN_ROTATION_WINDOW_SECS: u64 = 3600;

/// The longest schedule text accepted.
const MAX_TEXT: usize = 256;

/// Why a schedule was refused: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError(String);

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScheduleError {}

/// One field's bounds and names.
struct Spec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Spec = Spec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Spec = Spec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Spec = Spec {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Spec = Spec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
// 7 is Sunday too; it is folded onto 0 after parsing.
const DOW: Spec = Spec {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// The day-of-month field was an unstepped `*` or `?`.
    days_star: bool,
    /// The day-of-week field was an unstepped `*` or `?`.
    weekdays_star: bool,
}

/// A field's value: a number or, where the field has names, a name (case-insensitive).
fn value(spec: &Spec, text: &str) -> Result<u32, ScheduleError> {
    if let Some(i) = spec.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        // Months are named from 1, weekdays from 0.
        return Ok(i as u32 + spec.min);
    }
    let n: u32 = text.parse().map_err(|_| {
        ScheduleError(format!(
            "{} \"{text}\" is not a number{}",
            spec.name,
            if spec.names.is_empty() {
                String::new()
            } else {
                format!(" or one of {}", spec.names.join(", "))
            }
        ))
    })?;
    if n < spec.min || n > spec.max {
        return Err(ScheduleError(format!(
            "{} {n} is out of range {}-{}",
            spec.name, spec.min, spec.max
        )));
    }
    Ok(n)
}

/// A field's bits, and whether it was an unstepped `*` / `?`.
fn field(spec: &Spec, text: &str) -> Result<(u64, bool), ScheduleError> {
    let mut bits = 0u64;
    let mut star = false;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(ScheduleError(format!(
                "{} \"{text}\" has an empty list item",
                spec.name
            )));
        }
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| {
                    ScheduleError(format!("{} step \"{s}\" is not a number", spec.name))
                })?;
                if step == 0 || step > spec.max {
                    return Err(ScheduleError(format!(
                        "{} step {step} must be from 1 to {}",
                        spec.name, spec.max
                    )));
                }
                (r, Some(step))
            }
            None => (item, None),
        };
        let (start, end) = if range == "*" || range == "?" {
            if step.is_none_or(|s| s == 1) {
                star = true;
            }
            (spec.min, spec.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(spec, a)?, value(spec, b)?);
            if a > b {
                return Err(ScheduleError(format!(
                    "{} range {range} starts after it ends",
                    spec.name
                )));
            }
            (a, b)
        } else {
            let a = value(spec, range)?;
            // `5/10` is `5-max/10`, as robfig/cron and Vixie cron read it.
            (a, if step.is_some() { spec.max } else { a })
        };
        let step = step.unwrap_or(1);
        let mut v = start;
        while v <= end {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok((bits, star))
}

impl CronSchedule {
    /// Parses a five-field schedule; the error names the field and what is wrong with it.
    pub fn parse(text: &str) -> Result<CronSchedule, ScheduleError> {
        if text.len() > MAX_TEXT {
            return Err(ScheduleError(format!(
                "it is longer than {MAX_TEXT} characters"
            )));
        }
        let trimmed = text.trim();
        if trimmed.starts_with('@') || trimmed.starts_with("TZ=") || trimmed.starts_with("CRON_TZ=")
        {
            return Err(ScheduleError(
                "descriptors (@daily) and time zones are not supported: write five fields, \
                 read in UTC"
                    .into(),
            ));
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        let [m, h, dom, mon, dow] = fields[..] else {
            return Err(ScheduleError(format!(
                "it has {} field{}, not 5 (minute hour day-of-month month day-of-week, e.g. \
                 \"0 0 * * SAT\")",
                fields.len(),
                if fields.len() == 1 { "" } else { "s" }
            )));
        };
        let (minutes, _) = field(&MINUTE, m)?;
        let (hours, _) = field(&HOUR, h)?;
        let (days, days_star) = field(&DOM, dom)?;
        let (months, _) = field(&MONTH, mon)?;
        let (mut weekdays, weekdays_star) = field(&DOW, dow)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays & !(1 << 7)) | 1;
        }
        Ok(CronSchedule {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            days_star,
            weekdays_star,
        })
    }

    /// Whether the day of `date` matches (Vixie cron's rule for the two day fields).
    fn day_matches(&self, date: NaiveDate) -> bool {
        let dom = self.days & (1 << date.day()) != 0;
        let dow = self.weekdays & (1 << date.weekday().num_days_from_sunday()) != 0;
        if self.days_star || self.weekdays_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// Whether the minute that holds `t` is one of the schedule's.
    pub fn matches(&self, t: DateTime<Utc>) -> bool {
        self.months & (1 << t.month()) != 0
            && self.day_matches(t.date_naive())
            && self.hours & (1 << t.hour()) != 0
            && self.minutes & (1 << t.minute()) != 0
    }

    /// The first scheduled minute strictly after `t`, or `None` when there is none within
    /// [`SEARCH_YEARS`] years (a date that does not exist, such as 30 February).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = t.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        let limit = start.year().checked_add(SEARCH_YEARS)?;
        let mut c = start;
        // Each turn moves to the next month, day, hour or minute, or returns; the year limit
        // bounds the turns (about 9 * 366 days, then at most 24 hours and 60 minutes).
        while c.year() <= limit {
            if self.months & (1 << c.month()) == 0 {
                let (y, m) = if c.month() == 12 {
                    (c.year() + 1, 1)
                } else {
                    (c.year(), c.month() + 1)
                };
                c = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single()?;
                continue;
            }
            if !self.day_matches(c.date_naive()) {
                c = Utc.from_utc_datetime(&c.date_naive().succ_opt()?.and_hms_opt(0, 0, 0)?);
                continue;
            }
            if self.hours & (1 << c.hour()) == 0 {
                c = c.with_minute(0)? + Duration::hours(1);
                continue;
            }
            if self.minutes & (1 << c.minute()) == 0 {
                c += Duration::minutes(1);
                continue;
            }
            return Some(c);
        }
        None
    }

    /// [`CronSchedule::next_after`] in Unix seconds.
    pub fn next_after_unix(&self, t: i64) -> Option<i64> {
        Some(
            self.next_after(DateTime::from_timestamp(t, 0)?)?
                .timestamp(),
        )
    }
}

/// Checks a `rotation_window` (seconds), as Vault does: at least an hour.
pub fn check_rotation_window(secs: u64) -> Result<(), ScheduleError> {
    if secs < MIN_ROTATION_WINDOW_SECS {
        return Err(ScheduleError(format!(
            "rotation_window must be {MIN_ROTATION_WINDOW_SECS} seconds or more, got {secs}"
        )));
    }
    Ok(())
}

/// Whether a rotation scheduled at `scheduled` (Unix seconds) may start at `now`: it is due,
/// and, when `window_secs` is not 0, no more than that long late. A rotation that missed its
/// window waits for the next scheduled time.
pub fn inside_window(scheduled: i64, window_secs: u64, now: i64) -> bool {
    if now < scheduled {
        return false;
    }
    window_secs == 0
        || now < scheduled.saturating_add(i64::try_from(window_secs).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(expr: &str, from: &str) -> Option<String> {
        CronSchedule::parse(expr)
            .unwrap()
            .next_after(at(from))
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    }

    #[test]
    fn every_minute_and_steps() {
        assert_eq!(
            next("* * * * *", "2024-01-01T00:00:30Z").unwrap(),
            "2024-01-01T00:01:00Z"
        );
        // Strictly after: a time on the schedule moves on to the next one.
        assert_eq!(
            next("* * * * *", "2024-01-01T00:01:00Z").unwrap(),
            "2024-01-01T00:02:00Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2024-01-01T00:16:00Z").unwrap(),
            "2024-01-01T00:30:00Z"
        );
        assert_eq!(
            next("5/20 * * * *", "2024-01-01T00:26:00Z").unwrap(),
            "2024-01-01T00:45:00Z"
        );
        assert_eq!(
            next("1-10/3,30 * * * *", "2024-01-01T00:10:00Z").unwrap(),
            "2024-01-01T00:30:00Z"
        );
        assert_eq!(
            next("0 */6 * * *", "2024-01-01T06:00:00Z").unwrap(),
            "2024-01-01T12:00:00Z"
        );
    }

    #[test]
    fn month_and_year_ends() {
        assert_eq!(
            next("0 0 1 * *", "2024-12-15T10:00:00Z").unwrap(),
            "2025-01-01T00:00:00Z"
        );
        assert_eq!(
            next("59 23 31 12 *", "2024-12-31T23:59:00Z").unwrap(),
            "2025-12-31T23:59:00Z"
        );
        // The 31st is only in months that have one.
        assert_eq!(
            next("0 0 31 * *", "2024-04-01T00:00:00Z").unwrap(),
            "2024-05-31T00:00:00Z"
        );
        assert_eq!(
            next("0 12 * JAN,jul *", "2024-02-01T00:00:00Z").unwrap(),
            "2024-07-01T12:00:00Z"
        );
    }

    #[test]
    fn february_29() {
        assert_eq!(
            next("0 0 29 2 *", "2024-03-01T00:00:00Z").unwrap(),
            "2028-02-29T00:00:00Z"
        );
        // 2100 is not a leap year: eight years from 2096 to 2104.
        assert_eq!(
            next("0 0 29 FEB *", "2096-03-01T00:00:00Z").unwrap(),
            "2104-02-29T00:00:00Z"
        );
        assert_eq!(next("0 0 30 2 *", "2024-01-01T00:00:00Z"), None);
        assert_eq!(next("0 0 31 4,6,9,11 *", "2024-01-01T00:00:00Z"), None);
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        // Both restricted: either matches (the 13th, or any Friday). 2024-09-06 is a Friday.
        assert_eq!(
            next("0 0 13 * 5", "2024-09-01T00:00:00Z").unwrap(),
            "2024-09-06T00:00:00Z"
        );
        assert_eq!(
            next("0 0 13 * FRI", "2024-09-07T00:00:00Z").unwrap(),
            "2024-09-13T00:00:00Z"
        );
        // One of them *: the other alone.
        assert_eq!(
            next("0 0 * * SAT", "2024-09-01T00:00:00Z").unwrap(),
            "2024-09-07T00:00:00Z"
        );
        assert_eq!(
            next("0 0 13 * *", "2024-09-01T00:00:00Z").unwrap(),
            "2024-09-13T00:00:00Z"
        );
        assert_eq!(
            next("0 0 13 * ?", "2024-09-01T00:00:00Z").unwrap(),
            "2024-09-13T00:00:00Z"
        );
        // 7 is Sunday; ranges of names. 2024-09-01 is a Sunday.
        assert_eq!(
            next("0 0 * * 7", "2024-08-31T00:00:00Z").unwrap(),
            "2024-09-01T00:00:00Z"
        );
        assert_eq!(
            next("30 9 * * MON-FRI", "2024-08-31T00:00:00Z").unwrap(),
            "2024-09-02T09:30:00Z"
        );
        // A stepped * restricts (robfig/cron): every other day of the month OR Mondays.
        assert_eq!(
            next("0 0 */2 * MON", "2024-09-01T00:00:00Z").unwrap(),
            "2024-09-02T00:00:00Z"
        );
    }

    #[test]
    fn bad_schedules_name_the_field() {
        for (expr, why) in [
            ("* * * *", "4 fields, not 5"),
            ("* * * * * *", "6 fields"),
            ("60 * * * *", "minute 60 is out of range 0-59"),
            ("* 24 * * *", "hour 24"),
            ("* * 0 * *", "day of month 0"),
            ("* * * 13 *", "month 13"),
            ("* * * FOO *", "month \"FOO\" is not a number or one of JAN"),
            ("* * * * 8", "day of week 8"),
            ("*/0 * * * *", "step 0"),
            ("5-1 * * * *", "starts after it ends"),
            ("1,,2 * * * *", "empty list item"),
            ("x * * * *", "minute \"x\" is not a number"),
            ("@daily", "descriptors"),
            ("TZ=UTC * * * * *", "time zones"),
        ] {
            let e = CronSchedule::parse(expr).expect_err(expr).to_string();
            assert!(e.contains(why), "{expr}: {e}");
        }
        assert!(CronSchedule::parse(&"* ".repeat(200)).is_err());
    }

    #[test]
    fn matches_and_windows() {
        let s = CronSchedule::parse("0 0 * * SAT").unwrap();
        assert!(s.matches(at("2024-09-07T00:00:59Z")));
        assert!(!s.matches(at("2024-09-07T00:01:00Z")));
        assert_eq!(
            s.next_after_unix(0),
            Some(at("1970-01-03T00:00:00Z").timestamp())
        );
        assert!(check_rotation_window(3599).is_err());
        assert!(check_rotation_window(3600).is_ok());
        assert!(!inside_window(100, 3600, 99));
        assert!(inside_window(100, 3600, 100));
        assert!(inside_window(100, 3600, 3699));
        assert!(!inside_window(100, 3600, 3700));
        assert!(inside_window(100, 0, 1_000_000));
    }
}
