//! The writer thread and its group commit.
//!
//! With `synchronous=FULL` every COMMIT costs an fsync, typically 0.1-10 ms.
//! Committing each write on its own would cap hush at a few hundred to a few
//! thousand writes per second whatever the hardware. Instead, one thread owns
//! the only read-write connection; callers queue their operations and wait.
//! The thread takes the first queued request, drains everything else already
//! waiting (up to [`MAX_BATCH`]), applies the lot in one transaction and
//! answers the callers only after COMMIT has returned, i.e. after the fsync.
//! Under load the batch grows while the previous fsync runs, so the cost of
//! each fsync is shared by every writer that arrived meanwhile.
//!
//! Each request runs inside its own SAVEPOINT, so a request that fails (say a
//! value over SQLite's size limit) is rolled back alone and gets its own error
//! while the rest of the batch commits.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::cache::ReadCache;
use crate::{Op, Result, StorageError};

/// Most requests committed in one transaction. Bounds the latency a batch adds
/// for its first caller and the memory held by one transaction.
const MAX_BATCH: usize = 1024;

const PUT_SQL: &str =
    "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const DELETE_SQL: &str = "DELETE FROM kv WHERE key = ?1";

/// One caller's operations (applied atomically) and where to send the outcome.
struct Request {
    ops: Vec<Op>,
    reply: oneshot::Sender<Result<()>>,
}

/// Handle to the writer thread. Dropping it lets the thread finish every
/// request already queued, close the connection and exit, and waits for that.
pub(super) struct Writer {
    queue: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread, which takes ownership of `conn`.
    pub(super) fn spawn(conn: Connection, cache: Option<Arc<ReadCache>>) -> std::io::Result<Self> {
        let (queue, requests) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("hush-storage-writer".into())
            .spawn(move || run(conn, requests, cache))?;
        Ok(Writer {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Queues `ops` and waits until they are committed (or have failed).
    ///
    /// If the caller stops waiting (the future is dropped), the ops are still
    /// applied: they are already queued.
    pub(super) async fn submit(&self, ops: Vec<Op>) -> Result<()> {
        let (reply, outcome) = oneshot::channel();
        let queue = self.queue.as_ref().ok_or(StorageError::Closed)?;
        queue
            .send(Request { ops, reply })
            .map_err(|_| StorageError::Closed)?;
        // A dropped reply means the thread died (it never drops one otherwise).
        outcome.await.map_err(|_| StorageError::Closed)?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel is the shutdown signal: `recv` keeps returning
        // queued requests and reports disconnection only once they are gone.
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the storage writer thread panicked; queued writes were lost");
            }
        }
    }
}

fn run(conn: Connection, requests: mpsc::Receiver<Request>, cache: Option<Arc<ReadCache>>) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = requests.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let ops: Vec<&[Op]> = batch.iter().map(|r| r.ops.as_slice()).collect();
        let keys = || ops.iter().flat_map(|o| o.iter()).map(Op::key);
        let marks = cache.as_ref().map(|cache| cache.begin_write(keys()));
        let outcomes = commit_batch(&conn, &ops);
        if let (Some(cache), Some(marks)) = (&cache, marks) {
            // Before anyone is answered, so an acknowledged write is never read stale.
            let writes = ops.iter().zip(&outcomes).flat_map(|(ops, outcome)| {
                ops.iter().map(move |op| {
                    let committed = outcome.is_ok().then_some(match op {
                        Op::Put { value, .. } => Some(value.as_slice()),
                        Op::Delete { .. } => None,
                    });
                    (op.key(), committed)
                })
            });
            cache.end_write(writes, marks);
        }
        tracing::debug!(requests = batch.len(), "storage group commit");
        for (request, outcome) in batch.drain(..).zip(outcomes) {
            // The caller may have stopped waiting; its write happened anyway.
            let _ = request.reply.send(outcome);
        }
    }
    // Dropping `conn` closes the database; as the last connection SQLite
    // checkpoints the WAL into the main file and removes it.
    drop(conn);
}

/// Applies every request of `batch` in one transaction and returns one outcome
/// per request, in order. Only returns `Ok` for a request once COMMIT succeeded.
fn commit_batch(conn: &Connection, batch: &[&[Op]]) -> Vec<Result<()>> {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        return fail_all(batch.len(), "starting a write transaction", e);
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for ops in batch {
        match apply_request(conn, ops) {
            Ok(()) => outcomes.push(Ok(())),
            Err(Failure::Request(e)) => {
                outcomes.push(Err(StorageError::sqlite("writing to the data file", e)))
            }
            Err(Failure::Batch(e)) => {
                abort(conn);
                return fail_all(batch.len(), "writing to the data file", e);
            }
        }
    }
    if let Err(e) = exec(conn, "COMMIT") {
        abort(conn);
        let shared = Arc::new(e);
        // Requests that failed on their own keep their more specific error.
        for outcome in &mut outcomes {
            if outcome.is_ok() {
                *outcome = Err(StorageError::Sqlite {
                    context: "committing writes to the data file",
                    source: Arc::clone(&shared),
                });
            }
        }
    }
    outcomes
}

/// How far a failure reaches.
enum Failure {
    /// Only this request was undone; the batch's transaction is intact.
    Request(rusqlite::Error),
    /// The whole transaction is gone or unusable; the batch must fail.
    Batch(rusqlite::Error),
}

fn apply_request(conn: &Connection, ops: &[Op]) -> std::result::Result<(), Failure> {
    exec(conn, "SAVEPOINT request").map_err(Failure::Batch)?;
    match apply_ops(conn, ops) {
        Ok(()) => exec(conn, "RELEASE request").map_err(Failure::Batch),
        // Some errors (disk full, I/O error, RAISE(ROLLBACK)) make SQLite roll
        // back the entire transaction on its own: everything applied earlier in
        // this batch is gone, so every caller must hear about it.
        Err(e) if conn.is_autocommit() => Err(Failure::Batch(e)),
        Err(e) => {
            exec(conn, "ROLLBACK TO request")
                .and_then(|()| exec(conn, "RELEASE request"))
                .map_err(Failure::Batch)?;
            Err(Failure::Request(e))
        }
    }
}

fn apply_ops(conn: &Connection, ops: &[Op]) -> rusqlite::Result<()> {
    for op in ops {
        match op {
            Op::Put { key, value } => {
                conn.prepare_cached(PUT_SQL)?.execute((key, value))?;
            }
            Op::Delete { key } => {
                conn.prepare_cached(DELETE_SQL)?.execute([key])?;
            }
        }
    }
    Ok(())
}

/// Runs a statement without parameters through the statement cache: the
/// transaction-control statements run for every request, so re-parsing them
/// each time would be wasted work.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Leaves no transaction open after a failure, so the next batch starts clean.
fn abort(conn: &Connection) {
    if !conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::error!(error = %e, "could not roll back a failed storage transaction");
        }
    }
}

fn fail_all(n: usize, context: &'static str, e: rusqlite::Error) -> Vec<Result<()>> {
    let shared = Arc::new(e);
    (0..n)
        .map(|_| {
            Err(StorageError::Sqlite {
                context,
                source: Arc::clone(&shared),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().expect("open in-memory db");
        conn.execute_batch(
            "CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
             -- A poisoned key fails its own statement only ...
             CREATE TRIGGER poison BEFORE INSERT ON kv WHEN NEW.key LIKE 'poison%'
             BEGIN SELECT RAISE(ABORT, 'poisoned key'); END;
             -- ... while a doomed key makes SQLite drop the whole transaction.
             CREATE TRIGGER doom BEFORE INSERT ON kv WHEN NEW.key = 'doom'
             BEGIN SELECT RAISE(ROLLBACK, 'doomed key'); END;",
        )
        .expect("create schema");
        conn
    }

    fn put(key: &str) -> Op {
        Op::Put {
            key: key.into(),
            value: key.as_bytes().to_vec(),
        }
    }

    fn keys(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT key FROM kv ORDER BY key")
            .expect("prepare");
        let rows = stmt.query_map([], |r| r.get(0)).expect("query");
        rows.collect::<rusqlite::Result<_>>().expect("rows")
    }

    #[test]
    fn a_failing_request_is_rolled_back_alone() {
        let conn = db();
        let first = [put("a")];
        let bad = [put("b"), put("poison")];
        let last = [put("c"), Op::Delete { key: "a".into() }, put("a2")];
        let outcomes = commit_batch(&conn, &[&first, &bad, &last]);

        assert!(outcomes[0].is_ok(), "{:?}", outcomes[0]);
        let err = outcomes[1]
            .as_ref()
            .expect_err("the poisoned request must fail");
        assert!(err.to_string().contains("poisoned key"), "{err}");
        assert!(outcomes[2].is_ok(), "{:?}", outcomes[2]);
        // "b" shared a request with the poison, so it is gone with it.
        assert_eq!(keys(&conn), ["a2", "c"]);
        assert!(conn.is_autocommit(), "no transaction may be left open");
    }

    #[test]
    fn losing_the_transaction_fails_the_whole_batch() {
        let conn = db();
        let outcomes = commit_batch(&conn, &[&[put("a")], &[put("doom")], &[put("c")]]);
        assert_eq!(outcomes.len(), 3);
        for outcome in &outcomes {
            let err = outcome.as_ref().expect_err("every request must fail");
            assert!(err.to_string().contains("doomed key"), "{err}");
        }
        assert!(keys(&conn).is_empty());
        assert!(conn.is_autocommit());

        // The connection is still usable for the next batch.
        let outcomes = commit_batch(&conn, &[&[put("d")]]);
        assert!(outcomes[0].is_ok(), "{:?}", outcomes[0]);
        assert_eq!(keys(&conn), ["d"]);
    }

    #[test]
    fn a_failed_begin_fails_every_request() {
        let conn = db();
        conn.execute_batch("BEGIN").expect("begin");
        // BEGIN inside a transaction is an error: nothing can be applied.
        let outcomes = commit_batch(&conn, &[&[put("a")], &[put("b")]]);
        assert!(outcomes.iter().all(Result::is_err), "{outcomes:?}");
        conn.execute_batch("ROLLBACK").expect("rollback");
        assert!(keys(&conn).is_empty());
    }
}
