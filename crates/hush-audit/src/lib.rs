//! hush's audit devices: every request and response as one line of HashiCorp Vault's file-audit
//! JSON format, with secrets HMAC'd, and every line hash-chained to the one before it so that an
//! edited, deleted, inserted, reordered or truncated line is detected.
//!
//! # HMAC
//!
//! As in Vault, each device has its own salt; sensitive strings become
//! `"hmac-sha256:<hex of HMAC-SHA256(salt, value)>"` ([`Salt::hmac`], also what
//! `sys/audit-hash` returns). The entry writer serializes values through [`Hmacd`] (one string)
//! and [`HmacdData`] (every string of a `data` object, object values and array items, not keys,
//! skipping the top-level keys a mount lists in `audit_non_hmac_request_keys` /
//! `audit_non_hmac_response_keys`), so nothing is copied to be hashed. Vault's choice of fields:
//! tokens always; accessors unless `hmac_accessor=false`; request and response data;
//! `wrap_info`'s token and accessors; nothing with `log_raw`.
//!
//! # The chain
//!
//! Each line is the entry object with one extra top-level field, written first:
//!
//! ```json
//! {"hush_chain":{"seq":7,"prev":"<64 hex>","device":"file/"},"time":"...","type":"request",...}
//! ```
//!
//! - `seq` counts the device's lines from 1, never resetting (also not across restarts or
//!   rotations);
//! - `prev` is the lowercase hex SHA-256 of the previous line's exact bytes without the newline;
//!   the first line of a new device has the genesis prev, 64 zeros ([`GENESIS_HASH`]);
//! - `device` is the device id, so each device (each file) has its own chain and a line copied
//!   from another device's log is detected.
//!
//! Vault-format consumers ignore unknown top-level fields, and `time`, `type`, `auth`,
//! `request`, `response` and `error` are unchanged. Hashing the exact bytes (rather than a
//! canonical re-encoding) makes any byte change count and keeps verification independent of
//! JSON key order.
//!
//! The head of a chain is [`ChainHead`] `{seq, hash}` of its last line. The chain is not keyed:
//! whoever can write the file can recompute a consistent chain from any point on. What stops
//! that is the head the server keeps inside its encrypted barrier (`expected_head` of
//! [`FileSink::open`] and [`verify`]): a rewritten or shortened log no longer ends at it.
//!
//! # Writing
//!
//! [`FileSink`] writes to a file (mode 0600) or stdout. With [`SyncPolicy::EveryBatch`] (and for
//! stdout) one writer thread group commits: entries queued while a `sync_data` runs go out
//! together in the next `write_all` + `sync_data`, and each `append` resolves only once its line
//! is durable. With [`SyncPolicy::Interval`] a file is written by the appending tasks
//! themselves: a line is chained under a short lock, the append yields once so other ready
//! tasks can queue theirs, and one of them writes all queued lines with one `write_all`;
//! `append` resolves once the OS has the line, and a syncer thread syncs it within the
//! interval. On open the chain resumes from the file's last complete line; a partial last line
//! (torn write) is removed. If the file does not match the server's recorded head, open succeeds with a warning, the chain
//! continues from the recorded head so the gap stays detectable by [`verify`], and
//! [`FileSink::tamper_notice`] gives an entry documenting the break.
//!
//! # Sockets and syslog
//!
//! [`NetSink`] writes the same chained lines to a TCP, UDP or unix socket (a line and a newline
//! per entry) or to the local syslog daemon (one RFC 3164-style frame per entry,
//! [`Facility`] by Vault's names), so a captured stream verifies like a file. Lines are sent
//! one at a time over one connection; the head moves only once the kernel took a whole line,
//! so an entry that could not be sent leaves no gap, and one lost after that does. A broken
//! connection is replaced once per entry, within the write timeout. The head of a stream
//! cannot be read back from the receiver: the server's recorded head is where it continues.
//!
//! # Verifying
//!
//! [`verify`] reads a log and reports the first bad line (1-based):
//!
//! - an edited line is reported at the **next** line (its `prev` no longer matches); an edit of
//!   the last line is only detectable with an expected head;
//! - a deleted line: at the line after the gap (seq skips);
//! - an inserted line, copied or fabricated: at the inserted line when its seq or prev do not
//!   fit, else at the line after it (seq repeats);
//! - two swapped lines: at the first of them (seq skips);
//! - a cut in the middle of a line: at that line (no newline);
//! - whole lines cut off the end: only with an expected head, reported at `lines + 1`.
//!
//! A log may start at a seq above 1 when it continues a rotated file; its first line must then
//! not have the genesis prev, and `first_seq` tells where it starts. Concatenating the rotated
//! files in order verifies as one chain.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod chain;
mod error;
mod hmac;
mod net;
mod sink;
mod syslog;
mod tail;
mod verify;

pub use chain::{ChainHead, ParseHeadError, CHAIN_FIELD, GENESIS_HASH};
pub use error::AuditError;
pub use hmac::{hmac_auth, AllHmacd, HmacOptions, Hmacd, HmacdData, Salt, HMAC_PREFIX};
pub use net::{NetSink, SocketType, Target};
pub use sink::{FileSink, OpenReport, OpenWarning, ResumeSource, SinkStats, SyncPolicy, STDOUT};
pub use syslog::{
    check_tag as check_syslog_tag, Facility, UnsupportedValue, DEFAULT_SYSLOG_PATHS, SEVERITY_INFO,
};
pub use verify::{verify, Problem, VerifyReport};
