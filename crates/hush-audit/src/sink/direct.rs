//! The direct write engine: appending tasks chain lines under a short lock and write them in
//! groups themselves; a syncer thread fsyncs on the interval, and written chunks are handed
//! back to the kernel's writeback.

use super::*;

/// The state of a [`Mode::Direct`] sink.
///
/// Appending is split in two so concurrent requests share `write` calls: a line is chained and
/// queued under the short `chain` lock (copy + SHA-256), then whoever holds `out` writes every
/// queued line with one `write_all`. A caller goes on only once `written` covers its line, so
/// every line still reaches the OS before the request it records does.
pub(super) struct Direct {
    pub(super) chain: Mutex<Chain>,
    /// Held while queued lines are written, so batches reach the file in chain order.
    /// `None` once the sink is closed.
    pub(super) out: Mutex<Option<File>>,
    /// Sequence number of the last line handed to the OS.
    pub(super) written: AtomicU64,
    /// A second handle on the same file, so an fsync never holds up appends.
    pub(super) sync_file: File,
    pub(super) shared: Arc<Shared>,
    pub(super) device: String,
    pub(super) device_json: String,
}

pub(super) struct Chain {
    /// No more lines are accepted.
    pub(super) closed: bool,
    pub(super) head: ChainHead,
    /// Chained, newline-terminated lines not yet written, in chain order.
    pub(super) queued: Vec<u8>,
    pub(super) queued_lines: u64,
    /// The previous batch's buffer, kept to reuse its allocation.
    pub(super) spare: Vec<u8>,
    /// Set by the first failed write or sync: the file's tail is unknown after it.
    pub(super) failed: Option<String>,
    /// Lines were written since the last sync.
    pub(super) unsynced: bool,
}

impl Direct {
    /// Chains and queues one line; returns its head. Nothing is written yet.
    pub(super) fn enqueue(&self, entry: &[u8]) -> Result<ChainHead, AuditError> {
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
    pub(super) fn flush_to(&self, seq: u64) -> Result<(), AuditError> {
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
    pub(super) fn write_queued(&self, out: &mut Option<File>) -> Result<(), AuditError> {
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
    pub(super) fn check_linked(&self) {
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
    pub(super) fn sync(&self) -> Result<ChainHead, AuditError> {
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
    pub(super) fn close(&self) {
        let mut out = lock(&self.out);
        lock(&self.chain).closed = true;
        if out.is_some() {
            // A failure is recorded in the state (and logged); the final sync reports it.
            let _ = self.write_queued(&mut out);
        }
        *out = None;
    }

    pub(super) fn head(&self) -> ChainHead {
        lock(&self.chain).head.clone()
    }

    pub(super) fn failed(&self, reason: &str) -> AuditError {
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
pub(super) const WRITEBACK_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// The syncer thread of a [`Mode::Direct`] sink: starts writeback of what was written every
/// [`WRITEBACK_EVERY`], syncs every `every` while lines are unsynced, and once more when told to
/// stop (or when the sink is dropped).
pub(super) fn run_syncer(
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
pub(super) struct Writeback {
    /// Everything before this offset was kicked already.
    pub(super) kicked: u64,
    /// The start of the previous kick: its pages were still being written then, so they are
    /// dropped with the next one.
    pub(super) previous: u64,
}

impl Writeback {
    /// Never touches the last 64 KiB: a dropped partial page would have to be read back from
    /// disk by the next append, inside a request.
    const KEEP: u64 = 64 * 1024;

    pub(super) fn kick(&mut self, file: &File) {
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
pub(super) fn advise_dont_need(file: &File, offset: u64, len: u64) -> bool {
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
pub(super) fn advise_dont_need(_file: &File, _offset: u64, _len: u64) -> bool {
    false
}
