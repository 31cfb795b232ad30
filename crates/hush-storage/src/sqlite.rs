//! The embedded SQLite backend, hush's default storage.
//!
//! Layout on disk, for a data file `hush.db`:
//!
//! * `hush.db` (+ `hush.db-wal`, `hush.db-shm`): the database, mode 0600, in a
//!   directory created with mode 0700 if missing. SQLite gives the `-wal` and
//!   `-shm` files the main file's mode, which is why the main file is created
//!   here, with 0600, before SQLite ever opens it.
//! * `hush.db.lock`: an advisory lock held for the backend's lifetime so that
//!   a second server on the same data fails at start instead of interleaving
//!   writes with the first.
//!
//! Writes go to one writer thread that owns the only read-write connection and
//! commits whatever has queued up in one transaction (group commit, see
//! [`writer`]). Reads run inline on the caller's thread on pooled read-only
//! connections: in WAL mode a point read takes microseconds and never waits for
//! the writer, so handing it to another thread would cost more than the read.

mod files;
mod writer;

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::cache::{Lookup, ReadCache};
use crate::list::{self, Entry, Names};
use crate::{validate_key, validate_prefix, Backend, Op, Result, StorageError};
use writer::Writer;

/// The schema version this build creates and understands (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// How long a connection waits for a lock held by another connection before
/// giving up with SQLITE_BUSY. Only WAL recovery and checkpoints contend here.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Idle read connections kept for reuse; extra ones opened under load are closed.
const MAX_IDLE_READERS: usize = 8;

/// After a checkpoint, the WAL file is truncated to at most this size so one
/// burst of writes does not leave a huge file behind forever.
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// The writer's page cache, in KiB (SQLite's `-N` form). Every commit descends the key index
/// for each row it writes; with SQLite's 2 MiB default those pages were re-read from the
/// file on most commits. Readers keep the default: SQLite drops a connection's page cache
/// whenever another connection committed, so a reader's cache rarely survives a write.
const WRITER_CACHE_KIB: i64 = -32 * 1024;

/// WAL pages between automatic checkpoints (SQLite's default is 1000). A page rewritten by
/// many commits is copied back to the main file once per checkpoint, so checkpointing less
/// often copies fewer pages; `journal_size_limit` still trims the file afterwards.
const AUTOCHECKPOINT_PAGES: i64 = 8000;

/// Pages of the main file are read through a memory map instead of `pread` copies. The map
/// is a window onto the file, not memory hush holds.
const MMAP_BYTES: i64 = 1 << 30;

/// How a [`SqliteBackend`] is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Entries of the read cache (`None`: no cache).
    pub cache_entries: Option<usize>,
    /// Read the main file through a memory map (the default). Off when the process locks its
    /// memory: locked, the map's pages stay resident for as long as the file is open, so a
    /// large database would pin as much RAM as it has bytes; with `pread`, SQLite's bounded page
    /// caches are all it holds.
    pub mmap: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            cache_entries: Some(crate::DEFAULT_CACHE_ENTRIES),
            mmap: true,
        }
    }
}

const GET_SQL: &str = "SELECT value FROM kv WHERE key = ?1";
const LIST_FROM_SQL: &str = "SELECT key FROM kv WHERE key >= ?1 ORDER BY key";
const LIST_RANGE_SQL: &str = "SELECT key FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key";

/// Storage in one SQLite file. See the module documentation for the design.
///
/// Reads run on the calling thread and take microseconds. A write that has
/// been submitted is applied even if its caller stops waiting. Dropping the
/// backend blocks until every queued write is committed and the file is
/// closed, then releases the lock.
pub struct SqliteBackend {
    path: PathBuf,
    // Field order is drop order, and it matters: the read connections close
    // first, then the writer drains its queue and closes the last connection
    // (which lets SQLite checkpoint and remove the WAL), and only then is the
    // process lock released.
    readers: ReaderPool,
    writer: Writer,
    /// Shared with the writer thread, which invalidates what it commits.
    cache: Option<Arc<ReadCache>>,
    _lock: File,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at `path` and takes its lock.
    ///
    /// Fails with [`StorageError::Locked`] if another backend, in this or any
    /// other process, has the same file open. Blocking (file creation, fsync of
    /// the directory, SQLite recovery after a crash): call it at start-up or
    /// from a blocking context.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_cache(path, Some(crate::DEFAULT_CACHE_ENTRIES))
    }

    /// [`SqliteBackend::open`] with a read cache of `cache_entries` entries (`None`: no cache).
    /// The cache is sound because the lock makes this backend the file's only writer.
    pub fn open_with_cache(path: &Path, cache_entries: Option<usize>) -> Result<Self> {
        Self::open_with(
            path,
            SqliteOptions {
                cache_entries,
                ..SqliteOptions::default()
            },
        )
    }

    /// [`SqliteBackend::open`] with `options`.
    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<Self> {
        let SqliteOptions {
            cache_entries,
            mmap,
        } = options;
        let mmap_bytes = if mmap { MMAP_BYTES } else { 0 };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let dir_created = files::create_private_dir(dir)?;
        let lock = files::lock(path)?;
        let file_created = files::create_private_file(path)?;
        if dir_created || file_created {
            // Make the new directory entries themselves survive an OS crash.
            files::sync_dir(dir)?;
        }

        let conn = open_writer(path, mmap_bytes)?;
        let cache = cache_entries.map(|n| Arc::new(ReadCache::new(n)));
        let writer = Writer::spawn(conn, cache.clone()).map_err(|source| StorageError::Io {
            action: "start the storage writer thread for",
            path: path.to_owned(),
            source,
        })?;
        tracing::debug!(path = %path.display(), "opened sqlite storage");
        Ok(SqliteBackend {
            path: path.to_owned(),
            readers: ReaderPool {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
                mmap_bytes,
            },
            writer,
            cache,
            _lock: lock,
        })
    }

    /// The database file this backend stores its data in.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Opens the single read-write connection and brings the file to the current schema.
fn open_writer(path: &Path, mmap_bytes: i64) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StorageError::sqlite("opening the data file", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| StorageError::sqlite("setting the busy timeout", e))?;

    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|e| StorageError::sqlite("switching the data file to WAL mode", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StorageError::sqlite(
            "switching the data file to WAL mode",
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!(
                    "journal mode stayed {mode:?}; the file system must support \
                     shared memory (WAL does not work on network file systems)"
                )),
            ),
        ));
    }
    // FULL: in WAL mode every COMMIT fsyncs the WAL, so an acknowledged write
    // survives an OS crash or power loss, not only a process crash.
    // fullfsync only matters on macOS, where plain fsync does not flush the drive.
    for (name, value) in [
        ("synchronous", "FULL"),
        ("fullfsync", "ON"),
        ("checkpoint_fullfsync", "ON"),
    ] {
        conn.pragma_update(None, name, value)
            .map_err(|e| StorageError::sqlite("configuring durability pragmas", e))?;
    }
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)
        .map_err(|e| StorageError::sqlite("configuring the WAL size limit", e))?;
    for (name, value, context) in [
        (
            "cache_size",
            WRITER_CACHE_KIB,
            "configuring the writer's page cache",
        ),
        (
            "wal_autocheckpoint",
            AUTOCHECKPOINT_PAGES,
            "configuring WAL checkpoints",
        ),
        ("mmap_size", mmap_bytes, "configuring memory-mapped reads"),
    ] {
        conn.pragma_update(None, name, value)
            .map_err(|e| StorageError::sqlite(context, e))?;
    }

    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| StorageError::sqlite("reading the schema version", e))?;
    match version {
        0 => conn
            .execute_batch(
                "BEGIN IMMEDIATE;
                 CREATE TABLE IF NOT EXISTS kv (
                     key   TEXT PRIMARY KEY NOT NULL,
                     value BLOB NOT NULL
                 ) WITHOUT ROWID;
                 PRAGMA user_version = 1;
                 COMMIT;",
            )
            .map_err(|e| StorageError::sqlite("creating the schema", e))?,
        SCHEMA_VERSION => {}
        found => {
            return Err(StorageError::UnsupportedSchema {
                path: path.to_owned(),
                found,
                supported: SCHEMA_VERSION,
            })
        }
    }
    Ok(conn)
}

/// Read-only connections reused across calls.
struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// `mmap_size` of each read connection.
    mmap_bytes: i64,
}

impl ReaderPool {
    /// Runs `read` on an idle connection (or a new one), then returns it to the pool.
    fn with<T>(
        &self,
        context: &'static str,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        // Pop in its own statement so the pool lock is not held while reading.
        let idle = self.idle.lock().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        // A connection that just failed is dropped rather than reused, in case
        // the failure left it in an odd state; opening a new one is cheap.
        let value = read(&conn).map_err(|e| StorageError::sqlite(context, e))?;
        let mut idle = self.idle.lock();
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        Ok(value)
    }

    fn open(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| StorageError::sqlite("opening a read connection", e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| StorageError::sqlite("setting the busy timeout", e))?;
        conn.pragma_update(None, "mmap_size", self.mmap_bytes)
            .map_err(|e| StorageError::sqlite("configuring a read connection", e))?;
        Ok(conn)
    }
}

/// Vault's list semantics as a series of index range scans: one scan runs
/// until it meets a folder, then a new one starts just past that folder.
fn list_names(conn: &Connection, prefix: &str) -> rusqlite::Result<Vec<String>> {
    let upper = list::successor(prefix);
    let mut names = Names::default();
    let mut from = prefix.to_owned();
    'scan: loop {
        let mut stmt;
        let mut rows = match &upper {
            Some(upper) => {
                stmt = conn.prepare_cached(LIST_RANGE_SQL)?;
                stmt.query((&from, upper))?
            }
            None => {
                stmt = conn.prepare_cached(LIST_FROM_SQL)?;
                stmt.query([&from])?
            }
        };
        while let Some(row) = rows.next()? {
            let key = row.get_ref(0)?.as_str()?;
            match list::entry(prefix, key) {
                None if key.starts_with(prefix) => continue,
                // Unreachable with the upper bound in place, but cheap insurance.
                None => break 'scan,
                Some(Entry::Leaf(name)) => names.push(name),
                Some(Entry::Folder(name)) => {
                    names.push(name);
                    from = list::after_folder(prefix, name);
                    continue 'scan;
                }
            }
        }
        break;
    }
    Ok(names.into_vec())
}

#[async_trait::async_trait]
impl Backend for SqliteBackend {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn entries(&self) -> Result<Vec<(String, Vec<u8>)>> {
        // One statement on a read connection: in WAL mode it reads one snapshot of the file,
        // whatever the writer commits meanwhile.
        self.readers
            .with("reading every entry for a snapshot", |conn| {
                let mut stmt = conn.prepare("SELECT key, value FROM kv ORDER BY key")?;
                let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
                rows.collect()
            })
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate_key(key)?;
        let ticket = match self.cache.as_deref().map(|c| c.lookup(key)) {
            Some(Lookup::Hit(value)) => return Ok(value),
            Some(Lookup::Miss(ticket)) => Some(ticket),
            None => None,
        };
        let value = self.readers.with("reading a key", |conn| {
            conn.prepare_cached(GET_SQL)?
                .query_row([key], |row| row.get(0))
                .optional()
        })?;
        if let (Some(cache), Some(ticket)) = (self.cache.as_deref(), ticket) {
            cache.fill(ticket, key, &value);
        }
        Ok(value)
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        validate_key(key)?;
        self.writer
            .submit(vec![Op::Put {
                key: key.to_owned(),
                value,
            }])
            .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        validate_key(key)?;
        self.writer
            .submit(vec![Op::Delete {
                key: key.to_owned(),
            }])
            .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        validate_prefix(prefix)?;
        self.readers
            .with("listing keys", |conn| list_names(conn, prefix))
    }

    async fn transaction(&self, ops: Vec<Op>) -> Result<()> {
        for op in &ops {
            validate_key(op.key())?;
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.writer.submit(ops).await
    }
}
