//! Writing files that hold secrets: owner-only (0600) from the first byte, and either created
//! new or replaced atomically.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::DeliverError;

/// Options for a new file readable and writable by its owner only; `create_new` refuses an
/// existing file or a planted symlink.
fn private_new() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Creates `path`, which must not exist, with mode 0600 and writes `bytes` to it.
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> Result<(), DeliverError> {
    let mut file = private_new().open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            DeliverError::OutputExists {
                path: path.to_owned(),
            }
        } else {
            DeliverError::io("create", path, e)
        }
    })?;
    let result = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = result {
        // A half-written secrets file is worse than none.
        drop(file);
        let _ = fs::remove_file(path);
        return Err(DeliverError::io("write", path, e));
    }
    Ok(())
}

/// Replaces `path` atomically: `bytes` go to a new 0600 file in the same directory, which is
/// flushed to disk and renamed over `path`. A reader sees the old content or the new one, never
/// a partial file, and the old file's (possibly looser) mode is not inherited.
pub(crate) fn replace_atomically(path: &Path, bytes: &[u8]) -> Result<(), DeliverError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        DeliverError::io(
            "write",
            path,
            io::Error::other("the path does not name a file"),
        )
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".hush-{}", unique_suffix()));
    let temp = dir.join(temp_name);

    let result = (|| -> io::Result<()> {
        let mut file: File = private_new().open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        // Makes the rename itself durable; a directory that cannot be opened for syncing
        // (some filesystems) does not make the write fail.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(DeliverError::io("write", path, e));
    }
    Ok(())
}

/// Writes an output file: created new, or replaced atomically when `force` is set.
pub(crate) fn write_output(path: &Path, bytes: &[u8], force: bool) -> Result<(), DeliverError> {
    if force {
        replace_atomically(path, bytes)
    } else {
        write_new(path, bytes)
    }
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

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.env");
        write_output(&path, b"A=1\n", false).unwrap();
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        let err = write_output(&path, b"A=2\n", false).unwrap_err();
        assert!(matches!(err, DeliverError::OutputExists { .. }));
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"A=1\n");
    }

    #[test]
    fn force_replaces_atomically_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.env");
        fs::write(&path, "old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        }
        write_output(&path, b"new", true).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_directory_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/out.env");
        let err = replace_atomically(&path, b"x").unwrap_err().to_string();
        assert!(err.contains("out.env"), "{err}");
        let err = write_new(&path, b"x").unwrap_err().to_string();
        assert!(err.contains("out.env"), "{err}");
    }
}
