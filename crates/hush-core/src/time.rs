//! Time in the formats of Vault's wire protocol (the formatting itself is
//! [`hush_config::time`]'s, shared by every crate).

/// Formats unix seconds as RFC 3339 in UTC with nine fractional digits, as Vault prints
/// token and lease times.
pub fn rfc3339(unix: i64) -> String {
    hush_config::time::rfc3339_nanos(unix.saturating_mul(1_000_000_000))
}

/// The current time as Unix seconds.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}
