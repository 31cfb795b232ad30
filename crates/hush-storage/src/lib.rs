//! Storage backends for hush.
//!
//! Everything hush persists goes through the [`Backend`] trait: a flat map from
//! `/`-separated UTF-8 paths (`core/keyring`, `logical/<uuid>/data/app`) to opaque
//! byte strings. This layer knows nothing about encryption or about what a path
//! means; values arrive here already sealed by the barrier above, and the storage
//! medium is treated as untrusted by that layer.
//!
//! Two backends are provided:
//!
//! * [`SqliteBackend`], the default: an embedded SQLite file in WAL mode with
//!   `synchronous=FULL`, a single writer thread doing group commit, and inline
//!   reads from a small pool of read-only connections.
//! * [`MemoryBackend`]: a `BTreeMap` behind a lock, for development and tests.
//!
//! Keys must be non-empty, must not contain NUL and must not end with `/`
//! (a trailing `/` is what marks a folder in [`Backend::list`] output, so such a
//! key could never be listed unambiguously).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cache;
mod list;
mod memory;
mod sqlite;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use cache::DEFAULT_ENTRIES as DEFAULT_CACHE_ENTRIES;
pub use memory::MemoryBackend;
pub use sqlite::{SqliteBackend, SqliteOptions};

/// Everything that can go wrong in a storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Another process (or another backend in this process) holds the data file's lock.
    #[error(
        "the data file {path} is in use by another hush server (lock {lock} is held); \
         stop it or choose another path"
    )]
    Locked {
        /// The database file that was being opened.
        path: PathBuf,
        /// The sidecar lock file that is held.
        lock: PathBuf,
    },

    /// A file system operation on the data file, its directory or its lock failed.
    #[error(
        "could not {action} {path}: {source}; check that the path is correct, \
         that hush may write there and that the disk is not full"
    )]
    Io {
        /// What was being attempted, e.g. "create the data directory".
        action: &'static str,
        /// The path it was attempted on.
        path: PathBuf,
        /// The underlying operating system error.
        #[source]
        source: std::io::Error,
    },

    /// SQLite reported an error.
    ///
    /// The source is shared (`Arc`) because a failed group commit reports the
    /// same error to every caller of the batch.
    #[error(
        "SQLite failed while {context}: {source}; check free disk space and the \
         data file's permissions, and that the file is a hush database"
    )]
    Sqlite {
        /// What the backend was doing.
        context: &'static str,
        /// The error reported by SQLite.
        #[source]
        source: Arc<rusqlite::Error>,
    },

    /// The data file was written by a newer hush with a schema this build does not know.
    #[error(
        "the data file {path} has schema version {found} but this hush supports only \
         version {supported}; upgrade hush to open it"
    )]
    UnsupportedSchema {
        /// The database file.
        path: PathBuf,
        /// The schema version found in the file (`PRAGMA user_version`).
        found: i64,
        /// The schema version this build writes and reads.
        supported: i64,
    },

    /// The backend has shut down and can no longer accept writes.
    #[error(
        "the storage backend is closed (its writer thread has stopped); \
         restart the hush server"
    )]
    Closed,

    /// A key or list prefix was malformed. This is a bug in the caller.
    #[error("invalid storage key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected key or prefix.
        key: String,
        /// Why it was rejected and what a valid one looks like.
        reason: &'static str,
    },
}

impl StorageError {
    fn sqlite(context: &'static str, source: rusqlite::Error) -> Self {
        StorageError::Sqlite {
            context,
            source: Arc::new(source),
        }
    }
}

/// Result type of every storage operation.
pub type Result<T> = std::result::Result<T, StorageError>;

/// One operation of an atomic [`Backend::transaction`].
#[derive(Clone, PartialEq, Eq)]
pub enum Op {
    /// Create or overwrite `key` with `value`.
    Put {
        /// The storage path.
        key: String,
        /// The opaque (already encrypted) value.
        value: Vec<u8>,
    },
    /// Remove `key`; removing a missing key is not an error.
    Delete {
        /// The storage path.
        key: String,
    },
}

impl Op {
    /// The key this operation touches.
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }
}

// Values are ciphertext, but debug output still has no business carrying them:
// only their length is shown.
impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Put { key, value } => f
                .debug_struct("Put")
                .field("key", key)
                .field("value_len", &value.len())
                .finish(),
            Op::Delete { key } => f.debug_struct("Delete").field("key", key).finish(),
        }
    }
}

/// A key/value store of opaque blobs under `/`-separated paths.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Short name for status output: `"sqlite"`, `"inmem"`.
    fn kind(&self) -> &'static str;

    /// The value stored at `key`, or `None` if there is none.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Stores `value` at `key`, replacing any previous value.
    ///
    /// Returns only once the write is durable (survives kill -9 of the process
    /// and, for sqlite, an OS crash: `synchronous=FULL`).
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()>;

    /// Removes `key`. Deleting a missing key is `Ok`. Durable on return, like `put`.
    async fn delete(&self, key: &str) -> Result<()>;

    /// Vault's list semantics: the names directly under `prefix` (which must be
    /// `""` or end with `/`). A deeper key contributes its first segment with a
    /// trailing `/` (`"folder/"`); each name appears once; the result is sorted
    /// by byte order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;

    /// Applies all `ops` atomically (all or none) and durably, in order: when two
    /// ops touch the same key, the later one wins.
    async fn transaction(&self, ops: Vec<Op>) -> Result<()>;

    /// Every entry, read as of one moment (no write lands half-seen), sorted by key: what a
    /// snapshot copies while the server keeps serving.
    async fn entries(&self) -> Result<Vec<(String, Vec<u8>)>>;
}

/// Rejects keys that could not be stored or listed unambiguously.
pub(crate) fn validate_key(key: &str) -> Result<()> {
    let reason = if key.is_empty() {
        "a key must not be empty"
    } else if key.ends_with('/') {
        "a key must not end with '/' (that marks a folder in list output)"
    } else if key.contains('\0') {
        "a key must not contain a NUL character"
    } else {
        return Ok(());
    };
    Err(StorageError::InvalidKey {
        key: key.to_owned(),
        reason,
    })
}

/// Rejects list prefixes that are not a folder: `""` or a path ending in `/`.
pub(crate) fn validate_prefix(prefix: &str) -> Result<()> {
    let reason = if !prefix.is_empty() && !prefix.ends_with('/') {
        "a list prefix must be empty or end with '/'"
    } else if prefix.contains('\0') {
        "a list prefix must not contain a NUL character"
    } else {
        return Ok(());
    };
    Err(StorageError::InvalidKey {
        key: prefix.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        for good in ["a", "a/b", "%_", "ünï/cödé", "a//b", "/a"] {
            assert!(validate_key(good).is_ok(), "{good:?} should be valid");
        }
        for bad in ["", "a/", "/", "a\0b"] {
            let err = validate_key(bad).expect_err(bad);
            assert!(matches!(err, StorageError::InvalidKey { .. }), "{err}");
        }
    }

    #[test]
    fn prefixes_are_validated() {
        for good in ["", "a/", "a/b/", "/"] {
            assert!(validate_prefix(good).is_ok(), "{good:?} should be valid");
        }
        for bad in ["a", "a/b", "\0/"] {
            assert!(validate_prefix(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn op_debug_hides_values() {
        let op = Op::Put {
            key: "core/keyring".into(),
            value: b"very secret bytes".to_vec(),
        };
        let shown = format!("{op:?}");
        assert!(shown.contains("core/keyring"), "{shown}");
        assert!(shown.contains("17"), "{shown}");
        assert!(!shown.contains("118"), "value bytes leaked: {shown}");
    }

    #[test]
    fn locked_message_names_the_files_and_the_fix() {
        let err = StorageError::Locked {
            path: "/var/lib/hush/hush.db".into(),
            lock: "/var/lib/hush/hush.db.lock".into(),
        };
        let msg = err.to_string();
        assert!(msg.contains("/var/lib/hush/hush.db.lock"), "{msg}");
        assert!(msg.contains("choose another path"), "{msg}");
    }
}
