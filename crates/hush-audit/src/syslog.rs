//! The syslog side of [`crate::NetSink`]: facilities by Vault's names, the local syslog
//! sockets, and the RFC 3164-style frame Go's `log/syslog` writes to them.

use std::fmt;
use std::str::FromStr;

/// The syslog sockets tried, in this order, when no `socket_path` is given: those Go's
/// `log/syslog` (and so Vault) tries, first as datagram sockets, then as stream sockets.
pub const DEFAULT_SYSLOG_PATHS: [&str; 3] = ["/dev/log", "/var/run/syslog", "/var/run/log"];

/// The severity of every audit message: INFO, as in Vault.
pub const SEVERITY_INFO: u8 = 6;

/// A syslog facility, by the names Vault accepts (`AUTH`, `LOCAL0`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Facility {
    /// Kernel messages (0).
    Kern,
    /// User-level messages (1).
    User,
    /// The mail system (2).
    Mail,
    /// System daemons (3).
    Daemon,
    /// Security and authorization (4): Vault's default.
    Auth,
    /// Messages of syslogd itself (5).
    Syslog,
    /// The line printer subsystem (6).
    Lpr,
    /// Network news (7).
    News,
    /// UUCP (8).
    Uucp,
    /// The clock daemon (9).
    Cron,
    /// Private security and authorization (10).
    Authpriv,
    /// The FTP daemon (11).
    Ftp,
    /// Local use 0 to 7 (16 to 23); the number is 0..=7.
    Local(u8),
}

/// Vault's facility names with their codes; `LOCAL0`..`LOCAL7` are handled apart.
const NAMED: [(&str, Facility); 12] = [
    ("KERN", Facility::Kern),
    ("USER", Facility::User),
    ("MAIL", Facility::Mail),
    ("DAEMON", Facility::Daemon),
    ("AUTH", Facility::Auth),
    ("SYSLOG", Facility::Syslog),
    ("LPR", Facility::Lpr),
    ("NEWS", Facility::News),
    ("UUCP", Facility::Uucp),
    ("CRON", Facility::Cron),
    ("AUTHPRIV", Facility::Authpriv),
    ("FTP", Facility::Ftp),
];

impl Facility {
    /// The facility's number (RFC 3164 section 4.1.1).
    pub fn code(self) -> u8 {
        match self {
            Self::Kern => 0,
            Self::User => 1,
            Self::Mail => 2,
            Self::Daemon => 3,
            Self::Auth => 4,
            Self::Syslog => 5,
            Self::Lpr => 6,
            Self::News => 7,
            Self::Uucp => 8,
            Self::Cron => 9,
            Self::Authpriv => 10,
            Self::Ftp => 11,
            Self::Local(n) => 16 + n.min(7),
        }
    }

    /// The PRI value of a message of this facility at `severity` (facility * 8 + severity).
    pub fn priority(self, severity: u8) -> u8 {
        self.code() * 8 + (severity & 7)
    }
}

impl fmt::Display for Facility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Self::Local(n) = self {
            return write!(f, "LOCAL{}", n.min(&7));
        }
        let name = NAMED
            .iter()
            .find(|(_, fac)| fac == self)
            .map_or("?", |(name, _)| name);
        f.write_str(name)
    }
}

/// A value of a device option that hush does not support; `Display` names the option, the
/// value and what to use instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{option} \"{value}\" is not supported: use {expected}")]
pub struct UnsupportedValue {
    /// The option's name (`facility`, `socket_type`).
    pub option: &'static str,
    /// The value given (cut to 64 characters).
    pub value: String,
    /// The values accepted.
    pub expected: &'static str,
}

impl UnsupportedValue {
    pub(crate) fn new(option: &'static str, value: &str, expected: &'static str) -> Self {
        Self {
            option,
            value: value.chars().take(64).collect(),
            expected,
        }
    }
}

impl FromStr for Facility {
    type Err = UnsupportedValue;

    /// Vault's names, in any case (go-syslog upper-cases them too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        if let Some((_, fac)) = NAMED.iter().find(|(name, _)| *name == upper) {
            return Ok(*fac);
        }
        match upper.strip_prefix("LOCAL").map(str::as_bytes) {
            Some([d @ b'0'..=b'7']) => Ok(Self::Local(d - b'0')),
            _ => Err(UnsupportedValue::new(
                "facility",
                s,
                "KERN, USER, MAIL, DAEMON, AUTH, SYSLOG, LPR, NEWS, UUCP, CRON, AUTHPRIV, FTP or \
                 LOCAL0 to LOCAL7",
            )),
        }
    }
}

/// Appends one message as Go's `log/syslog` sends it to the local daemon:
/// `<PRI>TIMESTAMP TAG[PID]: MESSAGE` and a newline (no hostname: the local daemon adds it).
/// `timestamp` is in the `Jan _2 15:04:05` form ([`timestamp`]).
pub fn frame(out: &mut Vec<u8>, priority: u8, timestamp: &str, tag: &str, pid: u32, msg: &[u8]) {
    out.push(b'<');
    out.extend_from_slice(priority.to_string().as_bytes());
    out.push(b'>');
    out.extend_from_slice(timestamp.as_bytes());
    out.push(b' ');
    out.extend_from_slice(tag.as_bytes());
    out.push(b'[');
    out.extend_from_slice(pid.to_string().as_bytes());
    out.extend_from_slice(b"]: ");
    out.extend_from_slice(msg);
    if msg.last() != Some(&b'\n') {
        out.push(b'\n');
    }
}

/// The local time as RFC 3164 writes it (Go's `time.Stamp`): `Jan _2 15:04:05`, the day
/// padded with a space.
pub fn timestamp() -> String {
    chrono::Local::now().format("%b %e %H:%M:%S").to_string()
}

/// Why a syslog tag is refused, if it is: it must be non-empty, at most 64 bytes, and free of
/// whitespace, control characters, `:`, `[` and `]`, which would end the tag early for a
/// daemon parsing the frame.
pub fn check_tag(tag: &str) -> Result<(), &'static str> {
    if tag.is_empty() {
        return Err("it is empty");
    }
    if tag.len() > 64 {
        return Err("it is longer than 64 bytes");
    }
    if tag
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ':' | '[' | ']'))
    {
        return Err("it contains whitespace, a control character, ':', '[' or ']'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facilities_parse_in_any_case_and_have_their_codes() {
        let all = [
            ("kern", 0),
            ("USER", 1),
            ("Mail", 2),
            ("daemon", 3),
            ("AUTH", 4),
            ("syslog", 5),
            ("lpr", 6),
            ("news", 7),
            ("uucp", 8),
            ("cron", 9),
            ("authpriv", 10),
            ("FTP", 11),
            ("local0", 16),
            ("LOCAL7", 23),
        ];
        for (name, code) in all {
            let fac: Facility = name.parse().unwrap();
            assert_eq!(fac.code(), code, "{name}");
            assert_eq!(fac.to_string(), name.to_ascii_uppercase());
            assert_eq!(fac.to_string().parse::<Facility>().unwrap(), fac);
        }
        assert_eq!(" local3 ".parse::<Facility>().unwrap(), Facility::Local(3));
    }

    #[test]
    fn unknown_facilities_are_refused_with_the_list() {
        for bad in ["", "LOCAL8", "LOCAL", "LOCAL00", "security", "AUTH2", "4"] {
            let err = bad.parse::<Facility>().unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("facility \"{bad}\" is not supported")),
                "{text}"
            );
            assert!(
                text.contains("AUTHPRIV") && text.contains("LOCAL0 to LOCAL7"),
                "{text}"
            );
        }
    }

    #[test]
    fn priority_is_facility_times_eight_plus_severity() {
        assert_eq!(Facility::Local(0).priority(SEVERITY_INFO), 134);
        assert_eq!(Facility::Auth.priority(SEVERITY_INFO), 38);
        assert_eq!(Facility::Kern.priority(SEVERITY_INFO), 6);
        assert_eq!(Facility::Local(7).priority(SEVERITY_INFO), 190);
    }

    #[test]
    fn frame_is_gos_local_format() {
        let mut out = Vec::new();
        frame(&mut out, 134, "Jan  2 15:04:05", "vault", 42, b"{\"a\":1}");
        assert_eq!(out, b"<134>Jan  2 15:04:05 vault[42]: {\"a\":1}\n");
        // A message that already ends with a newline gets no second one.
        out.clear();
        frame(&mut out, 38, "Dec 31 23:59:59", "hush", 7, b"x\n");
        assert_eq!(out, b"<38>Dec 31 23:59:59 hush[7]: x\n");
    }

    #[test]
    fn timestamp_has_the_stamp_shape() {
        let t = timestamp();
        let b = t.as_bytes();
        assert_eq!(b.len(), 15, "{t}");
        assert!(
            b[0].is_ascii_uppercase() && b[3] == b' ' && b[6] == b' ',
            "{t}"
        );
        assert!(b[4] == b' ' || b[4].is_ascii_digit(), "{t}");
        assert_eq!((b[9], b[12]), (b':', b':'), "{t}");
    }

    #[test]
    fn tags_that_would_break_the_frame_are_refused() {
        assert!(check_tag("vault").is_ok());
        assert!(check_tag("hush-audit_1.x/a").is_ok());
        for bad in ["", "a b", "a:b", "a[1]", "a\nb", &"x".repeat(65)] {
            assert!(check_tag(bad).is_err(), "{bad:?}");
        }
    }
}
