//! The single error type of the crate.

use std::sync::Arc;

/// Everything that can go wrong while opening an audit device or appending to it.
///
/// Messages name the device or file and say how to fix the problem. They never contain entry
/// contents: an entry may hold values the caller forgot to HMAC.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The log file (or its parent directory) could not be created, opened or inspected.
    #[error(
        "cannot open audit log \"{path}\": {source}; check that its directory exists or can be \
         created and that the hush user may read and write there"
    )]
    Open {
        /// The file path given to `open`.
        path: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The path is not one an audit log may be written to.
    #[error("audit log path \"{path}\" is refused: {reason}")]
    Refused {
        /// The file path given to `open`.
        path: String,
        /// Why, and what to do instead.
        reason: String,
    },

    /// The path exists but is not a regular file (a directory, socket, device...).
    #[error(
        "audit log path \"{path}\" exists but is not a regular file; point the audit device at a \
         file path (or \"stdout\")"
    )]
    NotAFile {
        /// The file path given to `open`.
        path: String,
    },

    /// The file's last line belongs to another device's chain, though this device has written
    /// lines of its own before (a new device continues such a file instead).
    #[error(
        "audit log \"{path}\" ends with the hash chain of audit device \"{found}\", but device \
         \"{device}\" has written lines before and expects its own chain there: another device \
         wrote to its file. Every enabled audit device needs its own file: point this one at a new \
         path (disable and enable it again), and verify the old file with `hush audit verify`"
    )]
    ForeignChain {
        /// The file path given to `open`.
        path: String,
        /// The device id found in the file's last line.
        found: String,
        /// The device id this sink was opened for.
        device: String,
    },

    /// Writing or syncing a batch failed. The sink stops accepting entries afterwards, because
    /// the state of the file's tail is unknown; re-opening resumes from what reached the disk.
    #[error(
        "writing to audit device \"{device}\" failed: {source}; the device has stopped, fix the \
         underlying problem (disk full, permissions, I/O error) and re-open it"
    )]
    Write {
        /// The device id.
        device: String,
        /// The underlying I/O error, shared by every entry of the failed batch.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// An earlier write failure stopped the sink.
    #[error(
        "audit device \"{device}\" stopped after an earlier write failure ({reason}); fix the \
         underlying problem and re-open the device"
    )]
    Failed {
        /// The device id.
        device: String,
        /// The earlier failure.
        reason: String,
    },

    /// `append` was called after `close` (or the writer thread is gone).
    #[error("audit device \"{device}\" is closed; re-open it before appending entries")]
    Closed {
        /// The device id.
        device: String,
    },

    /// The chain to resume is at the largest possible seq; no further line can be numbered.
    #[error(
        "the hash chain of audit log \"{path}\" is at seq 2^64-1 and cannot continue; the file \
         or the recorded head is corrupt: move the file away and start a new log"
    )]
    SeqExhausted {
        /// The file path given to `open`.
        path: String,
    },

    /// The writer thread could not be started.
    #[error(
        "could not start the writer thread of audit device \"{device}\": {source}; the process \
         may have hit its thread limit"
    )]
    Spawn {
        /// The device id.
        device: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The entry handed to `append` is not a JSON object.
    #[error(
        "audit entry must be a JSON object, got a JSON {kind}; pass the Vault-format entry object \
         ({{\"time\",\"type\",\"auth\",\"request\",...}})"
    )]
    NotAnObject {
        /// The JSON type that was given ("array", "string", ...).
        kind: &'static str,
    },

    /// The entry already carries the field the chain is stored in.
    #[error(
        "audit entry already has a \"hush_chain\" field; that field is reserved for the hash \
         chain and added by the audit device, remove it from the entry"
    )]
    ReservedField,

    /// The entry could not be serialized (cannot happen for values built by serde_json, but the
    /// serializer's signature is fallible).
    #[error(
        "audit entry could not be encoded as JSON: {0}; build the entry with serde_json::json!"
    )]
    Encode(#[source] serde_json::Error),

    /// A socket or syslog device could not connect to its receiver.
    #[error("audit device \"{device}\" cannot connect to {target}: {source}; {hint}")]
    Connect {
        /// The device's name (its path).
        device: String,
        /// Where it connects to (kind and address, or the syslog socket).
        target: String,
        /// What to check.
        hint: &'static str,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// Sending a line to a socket or syslog device failed (also after one reconnect). The
    /// entry was not recorded by this device; the next entry connects again.
    #[error(
        "sending to audit device \"{device}\" at {target} failed: {source}; the entry was not \
         recorded there, and the next one reconnects: check that the receiver is up and reading"
    )]
    Send {
        /// The device's name (its path).
        device: String,
        /// Where it sends to.
        target: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A line is larger than the datagram socket takes in one message.
    #[error(
        "audit entry of {bytes} bytes is larger than {target} takes in one datagram, so \
         audit device \"{device}\" did not record it; use a stream socket (socket_type tcp \
         or unix, or a syslog daemon listening on a stream socket), raise the socket buffer \
         limit (net.core.wmem_default on Linux), or record large entries with a file device \
         as well"
    )]
    TooLarge {
        /// The device's name (its path).
        device: String,
        /// Where it sends to.
        target: String,
        /// The size of the message refused.
        bytes: usize,
    },

    /// A blocking helper task of `open` panicked or was cancelled.
    #[error(
        "opening audit log \"{path}\" was interrupted: {reason}; retry, and report a bug if it \
         persists"
    )]
    Interrupted {
        /// The file path given to `open`.
        path: String,
        /// What happened to the task.
        reason: String,
    },
}
