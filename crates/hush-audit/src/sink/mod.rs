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

mod direct;
mod resume;
mod writer;

use direct::*;
use resume::*;
use writer::*;

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
pub(crate) fn check_serialized(bytes: &[u8]) -> Result<(), AuditError> {
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
