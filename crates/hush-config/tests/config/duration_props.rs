//! Properties of Go-style duration parsing and formatting over arbitrary inputs.

use std::time::Duration;

use hush_config::{format_duration, parse_duration, parse_duration_value};
use proptest::prelude::*;

/// Go's largest duration: i64::MAX nanoseconds.
const MAX_SECS: u64 = 9_223_372_036;

proptest! {
    #[test]
    fn formatted_durations_parse_back(secs in 0..MAX_SECS, nanos in 0u32..1_000_000_000) {
        let d = Duration::new(secs, nanos);
        let text = format_duration(d);
        prop_assert_eq!(parse_duration(&text), Ok(d), "{}", text);
    }

    #[test]
    fn integer_seconds_mean_seconds(secs in 0..MAX_SECS) {
        let expected = Duration::from_secs(secs);
        prop_assert_eq!(parse_duration(&secs.to_string()), Ok(expected));
        prop_assert_eq!(parse_duration_value(&serde_json::json!(secs)), Ok(expected));
    }

    #[test]
    fn arbitrary_input_never_panics_and_errors_show_examples(input in "\\PC{0,24}") {
        if let Err(e) = parse_duration(&input) {
            let message = e.to_string();
            prop_assert!(message.contains("valid examples"), "{}", message);
        }
    }

    #[test]
    fn segments_add_up(h in 0u64..10_000, m in 0u64..600, s in 0u64..6_000, ms in 0u64..5_000) {
        let text = format!("{h}h{m}m{s}s{ms}ms");
        let expected = Duration::from_secs(h * 3600 + m * 60 + s) + Duration::from_millis(ms);
        prop_assert_eq!(parse_duration(&text), Ok(expected));
    }
}
