//! File system set-up around the database: private modes, the process lock and
//! directory syncs.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

use crate::{Result, StorageError};

/// Mode of every file the backend creates: owner read/write only.
#[cfg(unix)]
const FILE_MODE: u32 = 0o600;
/// Mode of a data directory the backend creates: owner only.
#[cfg(unix)]
const DIR_MODE: u32 = 0o700;

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StorageError {
    let path = path.to_owned();
    move |source| StorageError::Io {
        action,
        path,
        source,
    }
}

/// `<path>` with `suffix` appended to its file name (`hush.db` -> `hush.db.lock`).
pub(super) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates `dir` (and missing parents) with mode 0700. Returns whether it had
/// to be created; an existing directory is left as the operator set it up.
pub(super) fn create_private_dir(dir: &Path) -> Result<bool> {
    if dir.is_dir() {
        return Ok(false);
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(DIR_MODE);
    builder
        .create(dir)
        .map_err(io_error("create the data directory", dir))?;
    Ok(true)
}

/// Opens `<path>.lock` (mode 0600) and takes an exclusive advisory lock on it,
/// without waiting. The lock lives as long as the returned file.
pub(super) fn lock(path: &Path) -> Result<File> {
    let lock_path = sidecar(path, ".lock");
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    options.mode(FILE_MODE);
    let file = options
        .open(&lock_path)
        .map_err(io_error("open the lock file", &lock_path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StorageError::Locked {
            path: path.to_owned(),
            lock: lock_path,
        }),
        Err(TryLockError::Error(source)) => Err(StorageError::Io {
            action: "lock",
            path: lock_path,
            source,
        }),
    }
}

/// Creates the database file with mode 0600 before SQLite sees it, so SQLite
/// (which copies the main file's mode to `-wal` and `-shm`) never creates
/// anything readable by others, whatever the umask. Returns whether the file
/// was created. An existing file that others can read is tightened to 0600.
pub(super) fn create_private_file(path: &Path) -> Result<bool> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(FILE_MODE);
    match options.open(path) {
        Ok(file) => {
            // Creation is subject to the umask, which can only remove bits;
            // make the mode exact so the owner can always write.
            restrict(path, &file)?;
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            for file_path in [
                path.to_owned(),
                sidecar(path, "-wal"),
                sidecar(path, "-shm"),
            ] {
                match File::open(&file_path) {
                    Ok(file) => restrict(&file_path, &file)?,
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error("open", &file_path)(e)),
                }
            }
            Ok(false)
        }
        Err(e) => Err(io_error("create the data file", path)(e)),
    }
}

/// Sets `file`'s mode to 0600 if it is anything else.
#[cfg(unix)]
fn restrict(path: &Path, file: &File) -> Result<()> {
    let mode = file
        .metadata()
        .map_err(io_error("read the permissions of", path))?
        .permissions()
        .mode()
        & 0o777;
    if mode != FILE_MODE {
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{mode:o}"),
                "data file was accessible to other users; restricting it to 0600"
            );
        }
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
            .map_err(io_error("set the permissions of", path))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _file: &File) -> Result<()> {
    Ok(())
}

/// fsyncs `dir` so that entries just created in it survive an OS crash. When
/// the directory itself is new, its own entry in the parent is synced too.
#[cfg(unix)]
pub(super) fn sync_dir(dir: &Path) -> Result<()> {
    let sync = |d: &Path| {
        File::open(d)
            .and_then(|f| f.sync_all())
            .map_err(io_error("sync the directory", d))
    };
    sync(dir)?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync(parent)?;
    }
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}
