//! The file / stdout audit device: chained lines, written in groups by the appending tasks (or,
//! for stdout and per-batch fsync, one writer thread with group commit), chain resumption.

use std::fmt;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};

use crate::chain::{build_line, line_hash, parse_line, ChainField, ChainHead, CHAIN_FIELD};
use crate::error::AuditError;
use crate::tail::{end_of_last_complete_line, RevLines};

/// The `path` that selects standard output instead of a file (as in Vault's file device).
pub const STDOUT: &str = "stdout";

/// A batch stops growing at this many lines or bytes, so one slow disk flush cannot make a
/// single `write_all` unboundedly large.
const MAX_BATCH_LINES: usize = 4096;
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Where the chain of a freshly opened sink continues from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeSource {
    /// Nothing to resume: the next line is seq 1 with the genesis prev.
    Genesis,
    /// The file's last complete line.
    File,
    /// The head the server recorded (stdout, or a file that does not match it).
    ExpectedHead,
}

/// Something `open` found that the operator must know about. `Display` explains it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenWarning {
    /// The file does not end where the server's recorded head says it should: it was truncated,
    /// replaced or edited while the device was closed. The chain continues from the recorded
    /// head, so `verify` keeps failing at the first new line: the break stays visible.
    HeadMismatch {
        /// The head the server recorded.
        expected: ChainHead,
        /// The head found in the file (`None` when empty or unreadable).
        file_head: Option<ChainHead>,
        /// What exactly differs.
        detail: String,
    },
    /// The file ended with a partial line (a write torn by a crash, or a cut); those bytes were
    /// removed so that new lines start on a line of their own. They were never acknowledged
    /// to any caller, because `append` only returns after the whole batch is synced.
    TornTail {
        /// How many bytes were removed.
        bytes: u64,
    },
    /// The file's last line carries no readable chain (not a hush log, or damaged), so the chain
    /// cannot link to it by seq.
    UnchainedLastLine {
        /// Why the line was rejected.
        detail: String,
    },
    /// The existing file was readable by group or others; it was reset to 0600.
    PermissionsTightened {
        /// The mode found (permission bits only).
        old_mode: u32,
    },
}

impl fmt::Display for OpenWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeadMismatch {
                expected, detail, ..
            } => write!(
                f,
                "audit log does not match the recorded chain head {expected}: {detail}; the chain \
                 continues from the recorded head, so `verify` will report the break"
            ),
            Self::TornTail { bytes } => write!(
                f,
                "audit log ended with an incomplete line ({bytes} bytes, a torn write or a cut); \
                 it was removed before appending"
            ),
            Self::UnchainedLastLine { detail } => write!(
                f,
                "the last line of the audit log has no usable hash chain ({detail}); new lines \
                 cannot link to it, and `verify` will report the break"
            ),
            Self::PermissionsTightened { old_mode } => write!(
                f,
                "audit log had mode {old_mode:04o}, readable by other users; it was changed to 0600"
            ),
        }
    }
}

/// What `open` found and where the chain continues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenReport {
    /// The head the next line will link to (its seq will be `head.seq + 1`).
    pub head: ChainHead,
    /// Where `head` came from.
    pub resumed_from: ResumeSource,
    /// The head found in the file, if it had a chained last line.
    pub file_head: Option<ChainHead>,
    /// Everything the operator must be told; empty when the file matched.
    pub warnings: Vec<OpenWarning>,
}

impl OpenReport {
    /// True when the file continued the recorded chain without any finding.
    pub fn is_clean(&self) -> bool {
        self.warnings.is_empty()
    }
}

/// Counters of a sink since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Lines written and synced.
    pub lines: u64,
    /// `write_all` + `sync_data` rounds (group commits) that carried them.
    pub batches: u64,
}

struct Shared {
    head: Mutex<ChainHead>,
    lines: AtomicU64,
    batches: AtomicU64,
    /// Why the sink stopped accepting entries, once it did.
    failed: Mutex<Option<String>>,
}

struct Job {
    /// The serialized entry; `None` asks only for a sync of what was written so far.
    entry: Option<Vec<u8>>,
    reply: oneshot::Sender<Result<ChainHead, AuditError>>,
}

/// When the writer makes written lines durable with `sync_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Every batch is synced before its callers are answered: nothing acknowledged is lost
    /// even when the machine loses power.
    EveryBatch,
    /// Callers are answered once their batch is written to the operating system (so a killed
    /// process loses nothing); the file is synced at most this long after a write, and on
    /// [`FileSink::sync`]. Only an OS crash or power loss can drop the unsynced tail, which the
    /// chain then reports as a truncation.
    Interval(std::time::Duration),
}

enum Output {
    File(File),
    Stdout,
}

impl Output {
    /// Writes a whole batch; syncs it when `sync` (stdout is flushed either way).
    fn write_batch(&mut self, buf: &[u8], sync: bool) -> io::Result<()> {
        match self {
            Self::File(f) => {
                f.write_all(buf)?;
                if sync {
                    f.sync_data()?;
                }
                Ok(())
            }
            Self::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(buf)?;
                out.flush()
            }
        }
    }
}

/// A hash-chained audit device writing Vault-format JSON lines to a file or to stdout.
///
/// A file synced on an interval (the default) is written by the appending tasks themselves:
/// lines are chained under a short lock and written in groups, and each caller goes on once
/// its line is with the OS; a syncer thread fsyncs. Stdout and files synced per batch go
/// through one writer thread, which writes every entry queued while the previous batch was
/// being synced with one `write_all`, makes them durable with one `sync_data` (stdout: one
/// flush) and only then answers each caller. Request tasks never hold a lock across the fsync.
/// Dropping the sink stops the writer after it has written what was already queued.
pub struct FileSink {
    device: String,
    mode: Mode,
    shared: Arc<Shared>,
    notice: Option<Value>,
}

/// How appends reach the output.
enum Mode {
    /// Through the writer thread (stdout, and files synced per batch).
    Thread {
        tx: Mutex<Option<mpsc::UnboundedSender<Job>>>,
        stopped: watch::Receiver<bool>,
    },
    /// Written by the appending tasks themselves (see [`Direct`]), with a syncer thread for
    /// the interval fsync. A file that is acknowledged once the OS has the line needs no thread
    /// hop: handing each line to a writer thread and waking the caller back cost more CPU than
    /// the `write` itself.
    Direct {
        direct: Arc<Direct>,
        /// Dropping it (close, or the sink dropped) makes the syncer sync once more and stop.
        stop: Mutex<Option<std::sync::mpsc::Sender<()>>>,
        syncer: Mutex<Option<std::thread::JoinHandle<()>>>,
    },
}

/// The state of a [`Mode::Direct`] sink.
///
/// Appending is split in two so concurrent requests share `write` calls: a line is chained and
/// queued under the short `chain` lock (copy + SHA-256), then whoever holds `out` writes every
/// queued line with one `write_all`. A caller goes on only once `written` covers its line, so
/// every line still reaches the OS before the request it records does.
struct Direct {
    chain: Mutex<Chain>,
    /// Held while queued lines are written, so batches reach the file in chain order.
    /// `None` once the sink is closed.
    out: Mutex<Option<File>>,
    /// Sequence number of the last line handed to the OS.
    written: AtomicU64,
    /// A second handle on the same file, so an fsync never holds up appends.
    sync_file: File,
    shared: Arc<Shared>,
    device: String,
    device_json: String,
}

struct Chain {
    /// No more lines are accepted.
    closed: bool,
    head: ChainHead,
    /// Chained, newline-terminated lines not yet written, in chain order.
    queued: Vec<u8>,
    queued_lines: u64,
    /// The previous batch's buffer, kept to reuse its allocation.
    spare: Vec<u8>,
    /// Set by the first failed write or sync: the file's tail is unknown after it.
    failed: Option<String>,
    /// Lines were written since the last sync.
    unsynced: bool,
}

impl Direct {
    /// Chains and queues one line; returns its head. Nothing is written yet.
    fn enqueue(&self, entry: &[u8]) -> Result<ChainHead, AuditError> {
        let mut guard = lock(&self.chain);
        let st = &mut *guard;
        if let Some(reason) = &st.failed {
            return Err(self.failed(reason));
        }
        if st.closed {
            return Err(AuditError::Closed {
                device: self.device.clone(),
            });
        }
        // `open` refuses a head at u64::MAX; saturating only matters after 2^64 lines.
        let seq = st.head.seq.saturating_add(1);
        let start = st.queued.len();
        build_line(&mut st.queued, entry, seq, &st.head.hash, &self.device_json);
        let head = ChainHead {
            seq,
            hash: line_hash(&st.queued[start..]),
        };
        st.queued.push(b'\n');
        st.queued_lines += 1;
        st.head = head.clone();
        Ok(head)
    }

    /// Returns once the line `seq` is written: by this caller, together with every line queued
    /// before it, or by a concurrent caller that took it along.
    fn flush_to(&self, seq: u64) -> Result<(), AuditError> {
        if self.written.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let mut out = lock(&self.out);
        if self.written.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        self.write_queued(&mut out)?;
        if self.written.load(Ordering::Acquire) >= seq {
            Ok(())
        } else {
            // Only a close between enqueue and here leaves the line unwritten; close writes
            // what was queued, so this is reached only if that write failed.
            Err(AuditError::Closed {
                device: self.device.clone(),
            })
        }
    }

    /// Writes every queued line with one `write_all`. The caller holds `out`.
    fn write_queued(&self, out: &mut Option<File>) -> Result<(), AuditError> {
        let (mut batch, lines, upto) = {
            let mut st = lock(&self.chain);
            if let Some(reason) = &st.failed {
                return Err(self.failed(reason));
            }
            if st.queued_lines == 0 {
                return Ok(());
            }
            let spare = std::mem::take(&mut st.spare);
            let batch = std::mem::replace(&mut st.queued, spare);
            let lines = std::mem::take(&mut st.queued_lines);
            (batch, lines, st.head.seq)
        };
        let Some(file) = out.as_mut() else {
            return Err(AuditError::Closed {
                device: self.device.clone(),
            });
        };
        let result = file.write_all(&batch);
        let mut st = lock(&self.chain);
        match result {
            Ok(()) => {
                st.unsynced = true;
                batch.clear();
                st.spare = batch;
                drop(st);
                self.written.store(upto, Ordering::Release);
                self.shared.lines.fetch_add(lines, Ordering::Relaxed);
                self.shared.batches.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                // As in the writer thread: after a failed write the tail is unknown, so the
                // device stops; re-opening resumes from what reached the file.
                tracing::error!(
                    device = %self.device,
                    error = %e,
                    "audit device write failed; the device stopped accepting entries"
                );
                st.failed = Some(e.to_string());
                *lock(&self.shared.failed) = st.failed.clone();
                Err(AuditError::Write {
                    device: self.device.clone(),
                    source: Arc::new(e),
                })
            }
        }
    }

    /// Stops the device if its file was unlinked (deleted, or its directory removed): lines
    /// appended to it would reach no file anyone can read. Checked once a second by the
    /// syncer, not per request.
    fn check_linked(&self) {
        use std::os::unix::fs::MetadataExt;
        let unlinked = match self.sync_file.metadata() {
            Ok(m) => m.nlink() == 0,
            Err(_) => false,
        };
        if !unlinked {
            return;
        }
        let mut st = lock(&self.chain);
        if st.failed.is_none() {
            tracing::error!(
                device = %self.device,
                "audit log file was deleted (or its directory removed) while in use; the device \
                 stopped accepting entries: it opens the path again by itself once its \
                 directory exists (or disable the device)"
            );
            st.failed =
                Some("the log file was deleted (or its directory removed) while in use".to_owned());
            *lock(&self.shared.failed) = st.failed.clone();
        }
    }

    /// Makes every line queued so far durable; returns the head that is now durable.
    fn sync(&self) -> Result<ChainHead, AuditError> {
        let head = {
            let mut out = lock(&self.out);
            if out.is_some() {
                self.write_queued(&mut out)?;
            }
            let mut st = lock(&self.chain);
            if let Some(reason) = &st.failed {
                return Err(self.failed(reason));
            }
            if !st.unsynced {
                return Ok(st.head.clone());
            }
            st.unsynced = false;
            st.head.clone()
        };
        // Lines appended meanwhile may be synced too, which is harmless; `unsynced` is set
        // again by their write, so they are synced next time as well.
        if let Err(e) = self.sync_file.sync_data() {
            tracing::error!(
                device = %self.device,
                error = %e,
                "audit device fsync failed; the device stopped accepting entries"
            );
            lock(&self.chain).failed = Some(e.to_string());
            *lock(&self.shared.failed) = Some(e.to_string());
            return Err(AuditError::Write {
                device: self.device.clone(),
                source: Arc::new(e),
            });
        }
        Ok(head)
    }

    /// Stops accepting lines and writes those already queued.
    fn close(&self) {
        let mut out = lock(&self.out);
        lock(&self.chain).closed = true;
        if out.is_some() {
            // A failure is recorded in the state (and logged); the final sync reports it.
            let _ = self.write_queued(&mut out);
        }
        *out = None;
    }

    fn head(&self) -> ChainHead {
        lock(&self.chain).head.clone()
    }

    fn failed(&self, reason: &str) -> AuditError {
        AuditError::Failed {
            device: self.device.clone(),
            reason: reason.to_owned(),
        }
    }
}

/// How often the syncer of a [`Mode::Direct`] sink hands newly written lines to the disk.
///
/// An fsync of a second's worth of log under load (tens of MB in ext4's ordered mode) took
/// 20+ ms, and appends that extend the file wait for the journal meanwhile: that stall was
/// the whole p99 of a read. Starting writeback every tick leaves the interval fsync little to
/// write. The kick is asynchronous, so appends never wait for it.
const WRITEBACK_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// The syncer thread of a [`Mode::Direct`] sink: starts writeback of what was written every
/// [`WRITEBACK_EVERY`], syncs every `every` while lines are unsynced, and once more when told to
/// stop (or when the sink is dropped).
fn run_syncer(
    direct: Arc<Direct>,
    stop: std::sync::mpsc::Receiver<()>,
    every: std::time::Duration,
) {
    let tick = every.min(WRITEBACK_EVERY);
    let mut last_sync = std::time::Instant::now();
    let mut writeback = Writeback::default();
    loop {
        match stop.recv_timeout(tick) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if last_sync.elapsed() >= every {
                    direct.check_linked();
                    // A failure is recorded in the state (and logged); appends report it.
                    let _ = direct.sync();
                    last_sync = std::time::Instant::now();
                } else {
                    writeback.kick(&direct.sync_file);
                }
            }
            _ => {
                let _ = direct.sync();
                return;
            }
        }
    }
}

/// Early writeback of an append-only file, through `POSIX_FADV_DONTNEED` on what was written
/// since the last kick: Linux starts writing those pages without waiting, and drops the pages
/// of earlier kicks once they are clean. The log is only read back when a device is opened,
/// so its pages are of no use in memory.
#[derive(Default)]
struct Writeback {
    /// Everything before this offset was kicked already.
    kicked: u64,
    /// The start of the previous kick: its pages were still being written then, so they are
    /// dropped with the next one.
    previous: u64,
}

impl Writeback {
    /// Never touches the last 64 KiB: a dropped partial page would have to be read back from
    /// disk by the next append, inside a request.
    const KEEP: u64 = 64 * 1024;

    fn kick(&mut self, file: &File) {
        let Ok(meta) = file.metadata() else { return };
        let end = meta.len().saturating_sub(Self::KEEP) & !(Self::KEEP - 1);
        if end <= self.kicked {
            return;
        }
        let start = self.previous;
        if advise_dont_need(file, start, end - start) {
            self.previous = self.kicked;
            self.kicked = end;
        }
    }
}

/// Starts writeback of, and drops the clean pages of, `len` bytes at `offset`. Advice only: a
/// failure changes nothing about durability, which the interval fsync provides.
#[cfg(target_os = "linux")]
fn advise_dont_need(file: &File, offset: u64, len: u64) -> bool {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return false;
    };
    nix::fcntl::posix_fadvise(
        file,
        offset,
        len,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    )
    .is_ok()
}

#[cfg(not(target_os = "linux"))]
fn advise_dont_need(_file: &File, _offset: u64, _len: u64) -> bool {
    false
}

impl fmt::Debug for FileSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSink")
            .field("device", &self.device)
            .field("head", &self.head())
            .finish_non_exhaustive()
    }
}

/// Mutex poisoning only means a panic happened elsewhere while the lock was held; the guarded
/// values (a head, an optional sender) are replaced whole, so they are never half-updated.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FileSink {
    /// Opens the device at `path` (created with mode 0600, parent directories with 0700 as
    /// needed) and resumes the chain from the file's last complete line, so a restart continues
    /// the chain. `path` `"stdout"` writes to standard output; the chain then starts from
    /// `expected_head` or the genesis.
    ///
    /// `expected_head` is the head the server last recorded (kept inside the barrier). When the
    /// file does not match it, open still succeeds, the chain continues from the recorded head
    /// (so the gap stays detectable) and [`OpenReport::warnings`] says what differs; append
    /// [`FileSink::tamper_notice`] as the next entry so the log itself documents the break.
    /// A file that is *ahead* of the recorded head is fine if its chain passes through it
    /// (lines synced just before a crash, before the server recorded the new head).
    pub async fn open(
        path: &str,
        device_id: &str,
        expected_head: Option<ChainHead>,
    ) -> Result<(FileSink, OpenReport), AuditError> {
        Self::open_with_policy(path, device_id, expected_head, SyncPolicy::EveryBatch).await
    }

    /// [`FileSink::open`] with a chosen [`SyncPolicy`].
    pub async fn open_with_policy(
        path: &str,
        device_id: &str,
        expected_head: Option<ChainHead>,
        policy: SyncPolicy,
    ) -> Result<(FileSink, OpenReport), AuditError> {
        Self::open_inner(path, device_id, expected_head, policy, false).await
    }

    /// Continues the chain at `head` in the file at `path`, after the previous file was
    /// rotated away (renamed by logrotate, say): a new or empty file there is what rotation
    /// leaves, so it starts with seq `head.seq + 1` linked to `head` and no warning. The file
    /// that is still there (nothing was rotated) resumes as [`FileSink::open`] would, and the
    /// same files are refused.
    pub async fn open_rotated(
        path: &str,
        device_id: &str,
        head: ChainHead,
        policy: SyncPolicy,
    ) -> Result<(FileSink, OpenReport), AuditError> {
        Self::open_inner(path, device_id, Some(head), policy, true).await
    }

    async fn open_inner(
        path: &str,
        device_id: &str,
        expected_head: Option<ChainHead>,
        policy: SyncPolicy,
        rotated: bool,
    ) -> Result<(FileSink, OpenReport), AuditError> {
        let (output, report) = if path == STDOUT {
            let report = OpenReport {
                head: expected_head.clone().unwrap_or_else(ChainHead::genesis),
                resumed_from: if expected_head.is_some() {
                    ResumeSource::ExpectedHead
                } else {
                    ResumeSource::Genesis
                },
                file_head: None,
                warnings: Vec::new(),
            };
            (Output::Stdout, report)
        } else {
            let (p, d, e) = (path.to_owned(), device_id.to_owned(), expected_head.clone());
            let (file, report) =
                tokio::task::spawn_blocking(move || open_file(&p, &d, e.as_ref(), rotated))
                    .await
                    .map_err(|e| AuditError::Interrupted {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    })??;
            (Output::File(file), report)
        };
        if report.head.seq == u64::MAX {
            return Err(AuditError::SeqExhausted {
                path: path.to_owned(),
            });
        }

        let device_json = serde_json::to_string(device_id).map_err(AuditError::Encode)?;
        let notice = tamper_notice(device_id, expected_head.as_ref(), &report);
        let shared = Arc::new(Shared {
            head: Mutex::new(report.head.clone()),
            lines: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            failed: Mutex::new(None),
        });
        let mode = match (policy, output) {
            (SyncPolicy::Interval(every), Output::File(file)) => {
                let sync_file = file.try_clone().map_err(|source| AuditError::Spawn {
                    device: device_id.to_owned(),
                    source,
                })?;
                let direct = Arc::new(Direct {
                    chain: Mutex::new(Chain {
                        closed: false,
                        head: report.head.clone(),
                        queued: Vec::new(),
                        queued_lines: 0,
                        spare: Vec::new(),
                        failed: None,
                        unsynced: false,
                    }),
                    out: Mutex::new(Some(file)),
                    written: AtomicU64::new(report.head.seq),
                    sync_file,
                    shared: Arc::clone(&shared),
                    device: device_id.to_owned(),
                    device_json,
                });
                let (stop_tx, stop_rx) = std::sync::mpsc::channel();
                let for_thread = Arc::clone(&direct);
                let syncer = std::thread::Builder::new()
                    .name("hush-audit-sync".to_owned())
                    .spawn(move || run_syncer(for_thread, stop_rx, every))
                    .map_err(|source| AuditError::Spawn {
                        device: device_id.to_owned(),
                        source,
                    })?;
                Mode::Direct {
                    direct,
                    stop: Mutex::new(Some(stop_tx)),
                    syncer: Mutex::new(Some(syncer)),
                }
            }
            (policy, out) => {
                let (tx, rx) = mpsc::unbounded_channel();
                let (stopped_tx, stopped_rx) = watch::channel(false);
                let writer = Writer {
                    out,
                    device: device_id.to_owned(),
                    device_json,
                    head: report.head.clone(),
                    policy,
                    last_sync: std::time::Instant::now(),
                    shared: Arc::clone(&shared),
                };
                std::thread::Builder::new()
                    .name("hush-audit-writer".to_owned())
                    .spawn(move || writer.run(rx, stopped_tx))
                    .map_err(|source| AuditError::Spawn {
                        device: device_id.to_owned(),
                        source,
                    })?;
                Mode::Thread {
                    tx: Mutex::new(Some(tx)),
                    stopped: stopped_rx,
                }
            }
        };
        let sink = FileSink {
            device: device_id.to_owned(),
            mode,
            shared,
            notice,
        };
        Ok((sink, report))
    }

    /// Appends one Vault-format entry (a JSON object, already HMAC'd) as one chained line and
    /// returns the new head, once the line is written (and, with [`SyncPolicy::EveryBatch`],
    /// synced; stdout: flushed).
    ///
    /// If the future is dropped before it resolves, the entry may still be written.
    pub async fn append(&self, entry: Value) -> Result<ChainHead, AuditError> {
        let obj = entry.as_object().ok_or(AuditError::NotAnObject {
            kind: json_kind(&entry),
        })?;
        if obj.contains_key(CHAIN_FIELD) {
            return Err(AuditError::ReservedField);
        }
        let bytes = serde_json::to_vec(&entry).map_err(AuditError::Encode)?;
        self.push(bytes).await
    }

    /// [`FileSink::append`] for an entry the caller serialized itself (compact JSON of an
    /// object whose top level has no `hush_chain` key), which saves building a `Value`.
    /// Anything else is refused with [`AuditError::NotAnObject`] or
    /// [`AuditError::ReservedField`] before it is written.
    pub async fn append_serialized(&self, bytes: Vec<u8>) -> Result<ChainHead, AuditError> {
        check_serialized(&bytes)?;
        self.push(bytes).await
    }

    /// [`FileSink::append_serialized`] without waiting for the write: the entry is chained
    /// and queued, and written by the next append that waits (which writes every line queued
    /// before its own), or by [`FileSink::sync`] or [`FileSink::close`]. For an entry whose
    /// request has no effect until a later entry of the same caller is written, as a read's
    /// request entry before its response entry. Sinks written by the writer thread (stdout,
    /// files synced per batch) have no queue of their own and append it as usual.
    pub async fn queue_serialized(&self, bytes: Vec<u8>) -> Result<ChainHead, AuditError> {
        check_serialized(&bytes)?;
        match &self.mode {
            Mode::Direct { direct, .. } => direct.enqueue(&bytes),
            Mode::Thread { .. } => self.push(bytes).await,
        }
    }

    /// Appends an entry already checked to be a serialized object without the chain field.
    async fn push(&self, bytes: Vec<u8>) -> Result<ChainHead, AuditError> {
        match &self.mode {
            Mode::Direct { direct, .. } => {
                let head = direct.enqueue(&bytes)?;
                // Let the other tasks that are ready run first: their lines join this one's
                // `write`, which costs more than the yield once requests arrive concurrently.
                tokio::task::yield_now().await;
                direct.flush_to(head.seq)?;
                Ok(head)
            }
            Mode::Thread { tx, .. } => {
                let (reply, answer) = oneshot::channel();
                {
                    let guard = lock(tx);
                    let sender = guard.as_ref().ok_or_else(|| self.closed())?;
                    sender
                        .send(Job {
                            entry: Some(bytes),
                            reply,
                        })
                        .map_err(|_| self.closed())?;
                }
                answer.await.map_err(|_| self.closed())?
            }
        }
    }

    /// Makes every line written so far durable, and returns the head it reached. The core
    /// calls this before recording the head inside the barrier.
    pub async fn sync(&self) -> Result<ChainHead, AuditError> {
        match &self.mode {
            Mode::Direct { direct, .. } => {
                let direct = Arc::clone(direct);
                tokio::task::spawn_blocking(move || direct.sync())
                    .await
                    .map_err(|_| self.closed())?
            }
            Mode::Thread { tx, .. } => {
                let (reply, answer) = oneshot::channel();
                {
                    let guard = lock(tx);
                    let sender = guard.as_ref().ok_or_else(|| self.closed())?;
                    sender
                        .send(Job { entry: None, reply })
                        .map_err(|_| self.closed())?;
                }
                answer.await.map_err(|_| self.closed())?
            }
        }
    }

    /// Why the sink stopped accepting entries (a failed write or sync, or its file unlinked),
    /// if it did. A stopped sink stays stopped: re-open the path to go on.
    pub fn failure(&self) -> Option<String> {
        lock(&self.shared.failed).clone()
    }

    /// The head of the last line written (the open head before any append).
    pub fn head(&self) -> ChainHead {
        match &self.mode {
            Mode::Direct { direct, .. } => direct.head(),
            Mode::Thread { .. } => lock(&self.shared.head).clone(),
        }
    }

    /// The device id this sink chains under.
    pub fn device_id(&self) -> &str {
        &self.device
    }

    /// Lines and group commits since open.
    pub fn stats(&self) -> SinkStats {
        SinkStats {
            lines: self.shared.lines.load(Ordering::Relaxed),
            batches: self.shared.batches.load(Ordering::Relaxed),
        }
    }

    /// When `open` found something wrong, a Vault-shaped entry (`"type": "hush_audit_notice"`)
    /// describing it: the expected and found heads and the warnings. Append it as the first
    /// entry after resuming so the break is documented next to where `verify` reports it.
    /// It contains no request data.
    pub fn tamper_notice(&self) -> Option<Value> {
        self.notice.clone()
    }

    /// Stops accepting entries, lets the writer finish every entry already queued, and waits
    /// until it has stopped. Later `append` calls fail with [`AuditError::Closed`].
    pub async fn close(&self) {
        match &self.mode {
            Mode::Thread { tx, stopped } => {
                drop(lock(tx).take());
                let mut stopped = stopped.clone();
                // An error means the writer is gone already (its sender was dropped), which
                // is the state we are waiting for.
                let _ = stopped.wait_for(|s| *s).await;
            }
            Mode::Direct {
                direct,
                stop,
                syncer,
            } => {
                direct.close();
                drop(lock(stop).take());
                let handle = lock(syncer).take();
                if let Some(handle) = handle {
                    // The syncer's last act is the final sync; a panic there has nothing left
                    // to report to.
                    let _ = tokio::task::spawn_blocking(move || handle.join()).await;
                }
            }
        }
    }

    fn closed(&self) -> AuditError {
        AuditError::Closed {
            device: self.device.clone(),
        }
    }
}

/// The cheap checks of an entry serialized by the caller: an object, and (in debug builds, which
/// parse it) no `hush_chain` key at its top level.
fn check_serialized(bytes: &[u8]) -> Result<(), AuditError> {
    if bytes.first() != Some(&b'{') || bytes.last() != Some(&b'}') {
        return Err(AuditError::NotAnObject {
            kind: "text that is not an object",
        });
    }
    #[cfg(debug_assertions)]
    {
        let v: Value = serde_json::from_slice(bytes).map_err(AuditError::Encode)?;
        if v.get(CHAIN_FIELD).is_some() {
            return Err(AuditError::ReservedField);
        }
    }
    Ok(())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn tamper_notice(device: &str, expected: Option<&ChainHead>, report: &OpenReport) -> Option<Value> {
    if report.warnings.is_empty() {
        return None;
    }
    let warnings: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
    Some(json!({
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "type": "hush_audit_notice",
        "hush_notice": {
            "event": "chain_resumed_with_warnings",
            "device": device,
            "expected_head": expected,
            "file_head": report.file_head,
            "resumed_head": report.head,
            "warnings": warnings,
        }
    }))
}

struct Writer {
    out: Output,
    device: String,
    device_json: String,
    head: ChainHead,
    policy: SyncPolicy,
    last_sync: std::time::Instant,
    shared: Arc<Shared>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>, stopped: watch::Sender<bool>) {
        let mut batch: Vec<Job> = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut heads: Vec<ChainHead> = Vec::new();
        let mut failed: Option<String> = None;
        // `blocking_recv` returns the queued jobs even after every sender is gone, and `None`
        // only once the queue is empty: close/drop never lose an accepted entry.
        while let Some(first) = rx.blocking_recv() {
            let mut bytes = first.entry.as_ref().map_or(0, Vec::len);
            batch.push(first);
            while batch.len() < MAX_BATCH_LINES && bytes < MAX_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(job) => {
                        bytes += job.entry.as_ref().map_or(0, Vec::len);
                        batch.push(job);
                    }
                    Err(_) => break,
                }
            }
            if let Some(reason) = &failed {
                for job in batch.drain(..) {
                    // A caller that gave up waiting has dropped its receiver; nothing to tell it.
                    let _ = job.reply.send(Err(AuditError::Failed {
                        device: self.device.clone(),
                        reason: reason.clone(),
                    }));
                }
                continue;
            }
            buf.clear();
            heads.clear();
            let mut head = self.head.clone();
            let mut sync_asked = false;
            for job in &batch {
                let Some(entry) = &job.entry else {
                    sync_asked = true;
                    heads.push(head.clone());
                    continue;
                };
                let start = buf.len();
                // `open` refuses a head at u64::MAX and one batch adds at most MAX_BATCH_LINES,
                // so this only saturates after 2^64 lines, which no disk holds.
                let seq = head.seq.saturating_add(1);
                build_line(&mut buf, entry, seq, &head.hash, &self.device_json);
                head = ChainHead {
                    seq,
                    hash: line_hash(&buf[start..]),
                };
                buf.push(b'\n');
                heads.push(head.clone());
            }
            let sync = match self.policy {
                SyncPolicy::EveryBatch => true,
                SyncPolicy::Interval(every) => sync_asked || self.last_sync.elapsed() >= every,
            };
            match self.out.write_batch(&buf, sync) {
                Ok(()) => {
                    if sync {
                        self.last_sync = std::time::Instant::now();
                    }
                    self.head = head.clone();
                    *lock(&self.shared.head) = head;
                    self.shared
                        .lines
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    self.shared.batches.fetch_add(1, Ordering::Relaxed);
                    for (job, h) in batch.drain(..).zip(heads.drain(..)) {
                        // See above: a dropped receiver just means the caller stopped waiting.
                        let _ = job.reply.send(Ok(h));
                    }
                }
                Err(e) => {
                    // After a failed write or fsync the file's tail is unknown (and Linux may
                    // have dropped the dirty pages), so stop here; re-opening resumes from what
                    // actually reached the disk.
                    tracing::error!(
                        device = %self.device,
                        error = %e,
                        "audit device write failed; the device stopped accepting entries"
                    );
                    let e = Arc::new(e);
                    failed = Some(e.to_string());
                    *lock(&self.shared.failed) = failed.clone();
                    for job in batch.drain(..) {
                        let _ = job.reply.send(Err(AuditError::Write {
                            device: self.device.clone(),
                            source: Arc::clone(&e),
                        }));
                    }
                }
            }
        }
        // Nobody may be waiting for this; a send error just means no receiver is left.
        let _ = stopped.send(true);
    }
}

/// Whether the file's first line is a chained audit entry (read from offset 0, at most 1 MiB).
fn starts_with_chained_line(file: &File) -> std::io::Result<bool> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut offset = 0u64;
    while buf.len() < (1 << 20) {
        let n = file.read_at(&mut chunk, offset)?;
        if n == 0 {
            break;
        }
        offset += n as u64;
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.iter().position(|b| *b == b'\n') {
            buf.truncate(end);
            return Ok(parse_line(&buf).is_ok());
        }
    }
    Ok(parse_line(&buf).is_ok())
}

/// The blocking part of `open` for a file path.
fn open_file(
    path: &str,
    device: &str,
    expected: Option<&ChainHead>,
    rotated: bool,
) -> Result<(File, OpenReport), AuditError> {
    let io_err = |source| AuditError::Open {
        path: path.to_owned(),
        source,
    };
    let refused = |reason: String| AuditError::Refused {
        path: path.to_owned(),
        reason,
    };
    let p = Path::new(path);
    // Nothing is created but the log itself: a path under a directory that does not exist is
    // a mistake (or an attempt to plant a file somewhere new), not a request to make one.
    if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(refused(format!(
                "its directory {} does not exist; create it (mode 0700) first",
                parent.display()
            )));
        }
    }
    if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(refused(
            "it is a symbolic link; give the path of the log file itself".into(),
        ));
    }
    // Read access is needed to resume the chain from the file's end. O_NOFOLLOW closes the
    // window between the check above and the open.
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(p)
        .map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(AuditError::NotAFile {
            path: path.to_owned(),
        });
    }
    // An existing file is only ever appended to if it already is an audit log: its first line
    // is a chained entry. Anything else (a key file, a config) is left exactly as it is.
    if meta.len() > 0 && !starts_with_chained_line(&file).map_err(io_err)? {
        return Err(refused(
            "the file exists and is not a hush audit log (its first line is not a chained audit \
             entry); it was left unchanged: choose a new file name"
                .into(),
        ));
    }
    let mut warnings = Vec::new();
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        file.set_permissions(Permissions::from_mode(0o600))
            .map_err(io_err)?;
        warnings.push(OpenWarning::PermissionsTightened { old_mode: mode });
    }

    let len = meta.len();
    let mut end = len;
    if len > 0 {
        let mut last = [0u8];
        file.read_exact_at(&mut last, len - 1).map_err(io_err)?;
        if last[0] != b'\n' {
            end = end_of_last_complete_line(&file, len).map_err(io_err)?;
            file.set_len(end).map_err(io_err)?;
            // The trim must be durable before new lines land after it.
            file.sync_data().map_err(io_err)?;
            warnings.push(OpenWarning::TornTail { bytes: len - end });
        }
    }

    let mut rev = RevLines::new(&file, end);
    let last_line = rev.next_line().map_err(io_err)?;
    let (head, resumed_from, file_head) = match last_line {
        None => match expected {
            Some(e) if rotated => (e.clone(), ResumeSource::ExpectedHead, None),
            Some(e) if e.seq > 0 => {
                warnings.push(OpenWarning::HeadMismatch {
                    expected: e.clone(),
                    file_head: None,
                    detail: format!(
                        "the file is empty or new but this device last wrote seq {}: it was \
                         deleted or truncated (or rotated away: then verify the rotated files \
                         together)",
                        e.seq
                    ),
                });
                (e.clone(), ResumeSource::ExpectedHead, None)
            }
            _ => (ChainHead::genesis(), ResumeSource::Genesis, None),
        },
        Some(line) => {
            let hash = line_hash(&line);
            match parse_line(&line) {
                Err(detail) => {
                    warnings.push(OpenWarning::UnchainedLastLine { detail });
                    match expected {
                        Some(e) => (e.clone(), ResumeSource::ExpectedHead, None),
                        None => (ChainHead { seq: 0, hash }, ResumeSource::File, None),
                    }
                }
                Ok(c) if c.device != device => {
                    return Err(AuditError::ForeignChain {
                        path: path.to_owned(),
                        found: c.device,
                        device: device.to_owned(),
                    })
                }
                Ok(c) => {
                    let fh = ChainHead { seq: c.seq, hash };
                    let mismatch = match expected {
                        None => None,
                        Some(e) => compare_with_expected(&mut rev, &fh, &c, e).map_err(io_err)?,
                    };
                    match (mismatch, expected) {
                        (Some(detail), Some(e)) => {
                            warnings.push(OpenWarning::HeadMismatch {
                                expected: e.clone(),
                                file_head: Some(fh.clone()),
                                detail,
                            });
                            // Continue from the recorded head (with a seq past both) so the
                            // first new line cannot chain to the file: the break stays visible.
                            let head = ChainHead {
                                seq: fh.seq.max(e.seq),
                                hash: e.hash.clone(),
                            };
                            (head, ResumeSource::ExpectedHead, Some(fh))
                        }
                        _ => (fh.clone(), ResumeSource::File, Some(fh)),
                    }
                }
            }
        }
    };
    let report = OpenReport {
        head,
        resumed_from,
        file_head,
        warnings,
    };
    Ok((file, report))
}

/// Checks that the file's chain passes through the recorded head `e`; returns what differs.
///
/// `fh` / `last` are the file's last line. When the file is ahead of `e`, walks back to the
/// line with seq `e.seq + 1` and checks that its prev is `e.hash`.
fn compare_with_expected(
    rev: &mut RevLines<'_>,
    fh: &ChainHead,
    last: &ChainField,
    e: &ChainHead,
) -> io::Result<Option<String>> {
    if fh.seq == e.seq {
        return Ok((fh.hash != e.hash).then(|| {
            format!(
                "the file's last line (seq {}) hashes to {} instead of {}: it was edited or the \
                 file was replaced",
                fh.seq, fh.hash, e.hash
            )
        }));
    }
    if fh.seq < e.seq {
        return Ok(Some(format!(
            "the file ends at seq {} but this device last wrote seq {}: {} line(s) are missing \
             (the file was truncated or replaced)",
            fh.seq,
            e.seq,
            e.seq - fh.seq
        )));
    }
    // fh.seq > e.seq, so e.seq + 1 <= fh.seq cannot overflow.
    let target = e.seq + 1;
    let mut current = last.clone();
    loop {
        if current.seq == target {
            return Ok((current.prev != e.hash).then(|| {
                format!(
                    "the file goes on to seq {} but its line with seq {target} does not link to \
                     the recorded head: the file was replaced or rewritten",
                    fh.seq
                )
            }));
        }
        let next = match rev.next_line()? {
            Some(line) => parse_line(&line),
            None => Err("reached the start of the file".to_owned()),
        };
        match next {
            Ok(c) if c.seq < current.seq && c.seq >= target => current = c,
            Ok(_) | Err(_) => {
                return Ok(Some(format!(
                    "the file goes on to seq {} but no intact line with seq {target} links to the \
                     recorded head: the file was replaced or rewritten",
                    fh.seq
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Advice is Linux's only; elsewhere a kick never succeeds.
    #[cfg(target_os = "linux")]
    #[test]
    fn writeback_kicks_whole_written_chunks_and_leaves_the_tail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .unwrap();
        let mut wb = Writeback::default();

        // Less than the kept tail: nothing to hand over.
        file.write_all(&[b'a'; 60 * 1024]).unwrap();
        wb.kick(&file);
        assert_eq!((wb.previous, wb.kicked), (0, 0));

        // 300 KiB: everything up to the 64 KiB boundary at least 64 KiB before the end.
        file.write_all(&[b'b'; 240 * 1024]).unwrap();
        wb.kick(&file);
        assert_eq!((wb.previous, wb.kicked), (0, 192 * 1024));

        // The next kick starts where the previous one did, so its pages are dropped too.
        file.write_all(&[b'c'; 200 * 1024]).unwrap();
        wb.kick(&file);
        assert_eq!((wb.previous, wb.kicked), (192 * 1024, 384 * 1024));

        // Nothing new: no call at all.
        wb.kick(&file);
        assert_eq!((wb.previous, wb.kicked), (192 * 1024, 384 * 1024));

        // Advice never changes what the file holds.
        let back = std::fs::read(&path).unwrap();
        assert_eq!(back.len(), 500 * 1024);
        assert!(back[..60 * 1024].iter().all(|&b| b == b'a'));
        assert!(back[60 * 1024..300 * 1024].iter().all(|&b| b == b'b'));
        assert!(back[300 * 1024..].iter().all(|&b| b == b'c'));
    }
}
