//! Durability across kill -9: every write acknowledged before the kill must be
//! in the database afterwards.
//!
//! The test re-runs this test binary as a child in "writer" mode (selected by
//! an environment variable), which writes continuously from many tasks and
//! prints `ACK <key>` after each acknowledged write. The parent SIGKILLs it
//! mid-stream, reopens the database and checks every acknowledged key.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hush_storage::{Backend, Op, SqliteBackend};

use crate::temp_db;

/// Selects writer mode and names the database the child writes to.
const CHILD_DB: &str = "HUSH_STORAGE_CRASH_CHILD";
/// Namespaces each round's keys.
const CHILD_ROUND: &str = "HUSH_STORAGE_CRASH_ROUND";
const CHILD_TEST: &str = "crash::crash_child_writer";

/// Concurrent writer tasks in the child, so batches of several requests are
/// in flight when the kill lands.
const CHILD_TASKS: usize = 16;

/// The value written under `key`: derived from it, of varying length.
fn value_for(key: &str) -> Vec<u8> {
    let len = 16 + key.len() * 37 % 3000;
    key.bytes().cycle().take(len).collect()
}

/// Writer mode: only meaningful when started by `acknowledged_writes_survive_sigkill`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "helper process of acknowledged_writes_survive_sigkill, which runs it"]
async fn crash_child_writer() {
    let db = std::env::var(CHILD_DB).unwrap_or_else(|_| {
        panic!(
            "{CHILD_TEST} is started by acknowledged_writes_survive_sigkill; it needs {CHILD_DB}"
        )
    });
    let round = std::env::var(CHILD_ROUND).expect("the round number");
    let backend = Arc::new(SqliteBackend::open(Path::new(&db)).expect("open the database"));
    // Bounded so an orphaned child cannot run forever.
    let deadline = Instant::now() + Duration::from_secs(120);
    let tasks: Vec<_> = (0..CHILD_TASKS)
        .map(|task| {
            let b = Arc::clone(&backend);
            let round = round.clone();
            tokio::spawn(async move {
                for n in 0.. {
                    if Instant::now() > deadline {
                        break;
                    }
                    if n % 5 == 4 {
                        let a = format!("r{round}/tx/{task}-{n}/a");
                        let z = format!("r{round}/tx/{task}-{n}/z");
                        let ops = vec![
                            Op::Put {
                                key: a.clone(),
                                value: value_for(&a),
                            },
                            Op::Put {
                                key: z.clone(),
                                value: value_for(&z),
                            },
                        ];
                        b.transaction(ops).await.expect("transaction");
                        println!("ACK {a}\nACK {z}");
                    } else {
                        let key = format!("r{round}/put/{task}-{n}");
                        b.put(&key, value_for(&key)).await.expect("put");
                        println!("ACK {key}");
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer task");
    }
}

/// Runs one child until `wanted` acknowledgements, kills it, and returns every
/// key it acknowledged (including those still in the pipe at the kill).
fn run_and_kill_child(db: &Path, round: usize, wanted: usize) -> BTreeSet<String> {
    let exe = std::env::current_exe().expect("path of the test binary");
    let mut child = Command::new(exe)
        .args([
            CHILD_TEST,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, db)
        .env(CHILD_ROUND, round.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child writer");

    // Read on a thread so a silent child turns into a timeout, not a hang.
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines, acks) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // Tolerate libtest's own output sharing a line with ours.
            if let Some(at) = line.find("ACK ") {
                if lines.send(line[at + 4..].to_owned()).is_err() {
                    break;
                }
            }
        }
    });

    let mut acked = BTreeSet::new();
    while acked.len() < wanted {
        match acks.recv_timeout(Duration::from_secs(60)) {
            Ok(key) => {
                acked.insert(key);
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "child stopped acknowledging after {} writes: {e}",
                    acked.len()
                );
            }
        }
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap the child");
    assert!(
        !status.success(),
        "the child must have died of the kill: {status}"
    );
    // Whatever it printed before dying was acknowledged too.
    acked.extend(acks.iter());
    reader.join().expect("stdout reader");
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let (_dir, db) = temp_db();
    let mut all_acked = BTreeSet::new();
    for (round, wanted) in [(0, 300), (1, 500), (2, 700)] {
        let acked = run_and_kill_child(&db, round, wanted);
        assert!(acked.len() >= wanted);

        let backend = SqliteBackend::open(&db).expect("reopen after the kill");
        all_acked.extend(acked);
        // Earlier rounds' writes must survive the later kills and recoveries too.
        for key in &all_acked {
            let value = backend.get(key).await.expect("read an acknowledged key");
            assert!(
                value.as_deref() == Some(value_for(key).as_slice()),
                "acknowledged key {key} lost or wrong after kill -9 in round {round}: \
                 found {:?} bytes",
                value.map(|v| v.len())
            );
        }
        // Transactions are all-or-nothing, acknowledged or not.
        let prefix = format!("r{round}/tx/");
        let folders = backend.list(&prefix).await.expect("list transactions");
        for folder in folders {
            let names = backend.list(&format!("{prefix}{folder}")).await.unwrap();
            assert_eq!(
                names,
                ["a", "z"],
                "transaction {prefix}{folder} half applied"
            );
        }
    }
}
