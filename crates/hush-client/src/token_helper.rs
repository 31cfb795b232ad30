//! The token helper file `~/.hush-token`: where `hush login` keeps the token for later commands.
//!
//! Reading it is part of [`crate::ClientConfig::from_env`]; this module writes it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{home_dir, TOKEN_FILE_NAME};
use crate::error::ClientError;

/// The token helper file of the current user: `$HOME/.hush-token`, or `None` when no home
/// directory is known.
pub fn token_file_path() -> Option<PathBuf> {
    home_dir().map(|home| home.join(TOKEN_FILE_NAME))
}

/// Saves `token` to `path`, replacing the file atomically.
///
/// The token is written to a new file in the same directory, created with mode 0600 (owner
/// read/write only) before any byte is written, flushed to disk, and renamed over `path`. A
/// reader therefore sees the old token or the new one, never a partial file, and the token is
/// never readable by other users, not even for a moment. An existing file's (possibly looser)
/// mode is not inherited.
pub fn store_token(path: &Path, token: &str) -> Result<(), ClientError> {
    let fail = |source: io::Error| ClientError::TokenFileWrite {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| fail(io::Error::other("the path does not name a file")))?;
    let mut temp_name = file_name.to_owned();
    temp_name.push(format!(".tmp-{}", unique_suffix()));
    let temp = dir.join(temp_name);

    let result = write_new_private(&temp, token).and_then(|()| fs::rename(&temp, path));
    if result.is_err() {
        // The temporary file holds the token: do not leave it behind. If removing fails too,
        // the rename error is still the one worth reporting.
        let _ = fs::remove_file(&temp);
    }
    result.map_err(fail)
}

/// Creates `path` (which must not exist, so that a planted file or symlink is never written
/// through) with owner-only permissions and writes `token` plus a newline to it.
fn write_new_private(path: &Path, token: &str) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file: File = options.open(path)?;
    file.write_all(token.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// A suffix that differs between processes and between calls in one process.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{nanos}-{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientConfig;

    #[test]
    fn stores_and_replaces_the_token_readably_by_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TOKEN_FILE_NAME);
        store_token(&path, "first").unwrap();
        store_token(&path, "second").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "second\n");
        let cfg = ClientConfig::from_lookup(None, |_| None, Some(&path)).unwrap();
        assert_eq!(cfg.token.as_deref(), Some("second"));
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private_even_if_the_old_one_was_not() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TOKEN_FILE_NAME);
        fs::write(&path, "old\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        store_token(&path, "new").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir").join(TOKEN_FILE_NAME);
        let err = store_token(&path, "t").unwrap_err();
        assert!(matches!(err, ClientError::TokenFileWrite { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(TOKEN_FILE_NAME), "{text}");
        assert!(
            !text.contains(": t."),
            "the token must not be in the message: {text}"
        );
    }
}
