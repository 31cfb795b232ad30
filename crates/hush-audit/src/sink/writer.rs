//! The writer-thread engine (stdout, and files synced per batch): one thread writes every entry
//! queued while the previous batch was synced, syncs once, then answers each caller.

use super::*;

pub(super) struct Writer {
    pub(super) out: Output,
    pub(super) device: String,
    pub(super) device_json: String,
    pub(super) head: ChainHead,
    pub(super) policy: SyncPolicy,
    pub(super) last_sync: std::time::Instant,
    pub(super) shared: Arc<Shared>,
}

impl Writer {
    pub(super) fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Job>,
        stopped: watch::Sender<bool>,
    ) {
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
