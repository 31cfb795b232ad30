//! End-to-end tests of the audit devices on real files.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hush_audit::{
    verify, AllHmacd, AuditError, ChainHead, FileSink, HmacdData, OpenWarning, Problem,
    ResumeSource, Salt, VerifyReport, GENESIS_HASH,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const DEVICE: &str = "file/";

fn entry(i: u64) -> Value {
    json!({
        "time": "2025-01-01T00:00:00.000000000Z",
        "type": if i.is_multiple_of(2) { "request" } else { "response" },
        "auth": {"client_token": "hmac-sha256:aa", "policies": ["default"], "token_ttl": 3600},
        "request": {
            "id": format!("req-{i}"),
            "operation": "read",
            "path": format!("secret/item-{i:04}"),
            "data": {"value": "hmac-sha256:bb", "n": i},
        },
        "error": "",
    })
}

/// A log path in an existing directory (sinks never create directories).
fn log_path(dir: &tempfile::TempDir) -> PathBuf {
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    logs.join("audit.log")
}

/// Writes a fresh log of `n` entries and returns its head.
async fn write_log(path: &Path, n: u64) -> ChainHead {
    let (sink, report) = FileSink::open(path.to_str().unwrap(), DEVICE, None)
        .await
        .unwrap();
    assert!(report.is_clean(), "{:?}", report.warnings);
    for i in 1..=n {
        sink.append(entry(i)).await.unwrap();
    }
    sink.close().await;
    sink.head()
}

fn read_lines(path: &Path) -> Vec<Vec<u8>> {
    let content = std::fs::read(path).unwrap();
    assert!(content.ends_with(b"\n"));
    content[..content.len() - 1]
        .split(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    std::fs::write(path, out).unwrap();
}

fn verify_file(path: &Path, head: Option<&ChainHead>) -> VerifyReport {
    let f = std::fs::File::open(path).unwrap();
    verify(std::io::BufReader::new(f), head)
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(hush_crypto::hash::sha256(b))
}

fn assert_bad(r: &VerifyReport, line: u64, kind: Problem) {
    assert!(!r.ok, "expected failure, got {r:?}");
    assert_eq!(r.first_bad_line, Some(line), "{r:?}");
    assert_eq!(r.kind, Some(kind), "{r:?}");
    assert!(r.problem.as_deref().is_some_and(|p| !p.is_empty()));
}

#[tokio::test]
async fn clean_log_of_100_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let head = write_log(&path, 100).await;
    assert_eq!(head.seq, 100);

    let r = verify_file(&path, None);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.lines, 100);
    assert_eq!(r.first_bad_line, None);
    assert_eq!(r.first_seq, Some(1));
    assert_eq!(r.last.as_ref(), Some(&head));
    assert_eq!(r.device.as_deref(), Some(DEVICE));
    assert!(verify_file(&path, Some(&head)).ok);

    // Lines are Vault-format entries plus the chain field, which is all that was added.
    let lines = read_lines(&path);
    let first: Value = serde_json::from_slice(&lines[0]).unwrap();
    assert_eq!(first["hush_chain"]["seq"], 1);
    assert_eq!(first["hush_chain"]["prev"], GENESIS_HASH);
    assert_eq!(first["hush_chain"]["device"], DEVICE);
    let mut stripped = first.clone();
    stripped.as_object_mut().unwrap().remove("hush_chain");
    assert_eq!(stripped, entry(1));
    let second: Value = serde_json::from_slice(&lines[1]).unwrap();
    assert_eq!(second["hush_chain"]["prev"], sha_hex(&lines[0]));
}

#[tokio::test]
async fn edited_line_is_reported_at_the_next_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let head = write_log(&path, 100).await;
    let mut lines = read_lines(&path);
    // One character of line 50's request path: item-0050 -> item-0051.
    let text = String::from_utf8(lines[49].clone()).unwrap();
    assert!(text.contains("item-0050"));
    lines[49] = text.replacen("item-0050", "item-0051", 1).into_bytes();
    write_lines(&path, &lines);

    let r = verify_file(&path, None);
    assert_bad(&r, 51, Problem::PrevMismatch);
    assert_eq!(r.lines, 100);
    assert_eq!(r.last.as_ref().map(|h| h.seq), Some(50));
    assert_bad(&verify_file(&path, Some(&head)), 51, Problem::PrevMismatch);
}

#[tokio::test]
async fn edited_last_line_needs_the_expected_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let head = write_log(&path, 100).await;
    let mut lines = read_lines(&path);
    let text = String::from_utf8(lines[99].clone()).unwrap();
    lines[99] = text.replacen("item-0100", "item-0101", 1).into_bytes();
    write_lines(&path, &lines);

    assert!(verify_file(&path, None).ok);
    assert_bad(&verify_file(&path, Some(&head)), 100, Problem::HeadMismatch);
}

#[tokio::test]
async fn deleted_line_is_a_seq_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_log(&path, 100).await;
    let mut lines = read_lines(&path);
    lines.remove(49);
    write_lines(&path, &lines);

    let r = verify_file(&path, None);
    assert_bad(&r, 50, Problem::SeqGap);
    assert_eq!(r.lines, 99);
}

#[tokio::test]
async fn inserted_copy_of_another_line_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_log(&path, 100).await;
    let mut lines = read_lines(&path);
    let copy = lines[9].clone();
    lines.insert(50, copy);
    write_lines(&path, &lines);

    let r = verify_file(&path, None);
    assert_bad(&r, 51, Problem::SeqNotIncreasing);
    assert_eq!(r.lines, 101);
}

#[tokio::test]
async fn fabricated_lines_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let head = write_log(&path, 100).await;
    let original = read_lines(&path);

    // A well-forged line (right seq, right prev): the original line after it repeats its seq.
    let mut forged = entry(999);
    forged["hush_chain"] = json!({"seq": 51, "prev": sha_hex(&original[49]), "device": DEVICE});
    let mut lines = original.clone();
    lines.insert(50, serde_json::to_vec(&forged).unwrap());
    write_lines(&path, &lines);
    assert_bad(&verify_file(&path, None), 52, Problem::SeqNotIncreasing);

    // A clumsy forgery (made-up prev) is caught at the line itself.
    forged["hush_chain"]["prev"] = json!("ab".repeat(32));
    let mut lines = original.clone();
    lines.insert(50, serde_json::to_vec(&forged).unwrap());
    write_lines(&path, &lines);
    assert_bad(&verify_file(&path, None), 51, Problem::PrevMismatch);

    // A forged line appended at the end chains fine offline; the expected head catches it.
    forged["hush_chain"] = json!({"seq": 101, "prev": head.hash, "device": DEVICE});
    let mut lines = original.clone();
    lines.push(serde_json::to_vec(&forged).unwrap());
    write_lines(&path, &lines);
    assert!(verify_file(&path, None).ok);
    // The head is inside the file and matches: appended lines after it are not flagged by
    // verify, because a head fetched earlier may legitimately be older than the file.
    assert!(verify_file(&path, Some(&head)).ok);

    // A line without any chain (plain Vault line) and a garbage line.
    let mut lines = original.clone();
    lines.insert(20, serde_json::to_vec(&entry(5)).unwrap());
    write_lines(&path, &lines);
    assert_bad(&verify_file(&path, None), 21, Problem::MissingChain);
    let mut lines = original;
    lines.insert(20, b"not json".to_vec());
    write_lines(&path, &lines);
    assert_bad(&verify_file(&path, None), 21, Problem::InvalidJson);
}

#[tokio::test]
async fn swapped_adjacent_lines_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_log(&path, 100).await;
    let mut lines = read_lines(&path);
    lines.swap(49, 50);
    write_lines(&path, &lines);

    assert_bad(&verify_file(&path, None), 50, Problem::SeqGap);
}

#[tokio::test]
async fn truncation_mid_line_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let head = write_log(&path, 100).await;
    let content = std::fs::read(&path).unwrap();
    let lines = read_lines(&path);

    // Cut inside the last line.
    let cut = content.len() - lines[99].len() / 2;
    std::fs::write(&path, &content[..cut]).unwrap();
    let r = verify_file(&path, None);
    assert_bad(&r, 100, Problem::IncompleteLastLine);
    assert_eq!(r.lines, 100);
    assert_eq!(r.last.as_ref().map(|h| h.seq), Some(99));
    assert_bad(
        &verify_file(&path, Some(&head)),
        100,
        Problem::IncompleteLastLine,
    );

    // Cut inside line 60: everything after is gone, line 60 is incomplete.
    let start_60: usize = lines[..59].iter().map(|l| l.len() + 1).sum();
    std::fs::write(&path, &content[..start_60 + 10]).unwrap();
    let r = verify_file(&path, None);
    assert_bad(&r, 60, Problem::IncompleteLastLine);
    assert_eq!(r.lines, 60);
}

#[tokio::test]
async fn truncation_of_whole_lines_needs_the_expected_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let head = write_log(&path, 100).await;
    let lines = read_lines(&path);
    write_lines(&path, &lines[..90]);

    let offline = verify_file(&path, None);
    assert!(offline.ok, "{offline:?}");
    assert_eq!(offline.lines, 90);
    assert_eq!(offline.last.as_ref().map(|h| h.seq), Some(90));

    let with_head = verify_file(&path, Some(&head));
    assert_bad(&with_head, 91, Problem::TruncatedAtEnd);
    assert_eq!(with_head.lines, 90);
    assert!(with_head.problem.unwrap().contains("10 line(s)"));

    // An emptied file too.
    std::fs::write(&path, b"").unwrap();
    assert!(verify_file(&path, None).ok);
    assert_bad(&verify_file(&path, Some(&head)), 1, Problem::TruncatedAtEnd);
}

#[tokio::test]
async fn resume_continues_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let p = path.to_str().unwrap();

    let (sink, report) = FileSink::open(p, DEVICE, None).await.unwrap();
    assert_eq!(report.resumed_from, ResumeSource::Genesis);
    assert_eq!(report.head, ChainHead::genesis());
    for i in 1..=10 {
        let h = sink.append(entry(i)).await.unwrap();
        assert_eq!(h.seq, i);
    }
    sink.close().await;
    let recorded = sink.head();
    assert_eq!(recorded.seq, 10);

    let (sink, report) = FileSink::open(p, DEVICE, Some(recorded.clone()))
        .await
        .unwrap();
    assert!(report.is_clean(), "{:?}", report.warnings);
    assert_eq!(report.resumed_from, ResumeSource::File);
    assert_eq!(report.head, recorded);
    assert_eq!(report.file_head.as_ref(), Some(&recorded));
    assert!(sink.tamper_notice().is_none());
    for i in 11..=20 {
        sink.append(entry(i)).await.unwrap();
    }
    sink.close().await;

    let r = verify_file(&path, Some(&sink.head()));
    assert!(r.ok, "{r:?}");
    assert_eq!(r.lines, 20);
    assert_eq!(r.last.as_ref().map(|h| h.seq), Some(20));
    let seqs: Vec<u64> = read_lines(&path)
        .iter()
        .map(|l| {
            serde_json::from_slice::<Value>(l).unwrap()["hush_chain"]["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());

    // Without a recorded head the chain resumes from the file as well.
    let (sink, report) = FileSink::open(p, DEVICE, None).await.unwrap();
    assert_eq!(report.head.seq, 20);
    assert_eq!(sink.append(entry(21)).await.unwrap().seq, 21);
    sink.close().await;
    assert!(verify_file(&path, None).ok);
}

#[tokio::test]
async fn resume_with_mismatching_head_warns_and_keeps_the_break_visible() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let p = path.to_str().unwrap();
    let head = write_log(&path, 20).await;

    // The server recorded a head the file does not contain (as if the file had been replaced).
    let bogus = ChainHead {
        seq: 20,
        hash: sha_hex(b"something else"),
    };
    let (sink, report) = FileSink::open(p, DEVICE, Some(bogus.clone()))
        .await
        .unwrap();
    assert_eq!(report.resumed_from, ResumeSource::ExpectedHead);
    assert_eq!(report.file_head.as_ref(), Some(&head));
    assert!(matches!(
        &report.warnings[..],
        [OpenWarning::HeadMismatch { expected, file_head: Some(f), .. }]
            if *expected == bogus && *f == head
    ));
    assert!(report.warnings[0].to_string().contains("does not match"));
    let notice = sink.tamper_notice().expect("a notice documents the break");
    assert_eq!(notice["type"], "hush_audit_notice");
    assert_eq!(notice["hush_notice"]["expected_head"]["seq"], 20);
    let h = sink.append(notice).await.unwrap();
    assert_eq!(h.seq, 21);
    sink.append(entry(22)).await.unwrap();
    sink.close().await;
    // Strict: the real gap is still reported, at the notice line.
    assert_bad(&verify_file(&path, None), 21, Problem::PrevMismatch);
}

#[tokio::test]
async fn resume_after_truncation_warns_and_verify_reports_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let p = path.to_str().unwrap();
    let head = write_log(&path, 20).await;
    let lines = read_lines(&path);
    write_lines(&path, &lines[..15]);

    let (sink, report) = FileSink::open(p, DEVICE, Some(head.clone())).await.unwrap();
    assert!(matches!(
        &report.warnings[..],
        [OpenWarning::HeadMismatch { file_head: Some(f), detail, .. }]
            if f.seq == 15 && detail.contains("5 line(s) are missing")
    ));
    assert_eq!(report.head, head);
    let h = sink.append(entry(21)).await.unwrap();
    assert_eq!(h.seq, 21);
    sink.close().await;
    let r = verify_file(&path, None);
    assert_bad(&r, 16, Problem::SeqGap);
    assert!(r.problem.unwrap().contains("5 line(s) were deleted"));

    // A deleted file with a recorded head: warned, and the new file links to the old head.
    std::fs::remove_file(&path).unwrap();
    let recorded = ChainHead {
        seq: 21,
        hash: h.hash,
    };
    let (sink, report) = FileSink::open(p, DEVICE, Some(recorded.clone()))
        .await
        .unwrap();
    assert!(matches!(
        &report.warnings[..],
        [OpenWarning::HeadMismatch {
            file_head: None,
            ..
        }]
    ));
    assert_eq!(sink.append(entry(22)).await.unwrap().seq, 22);
    sink.close().await;
    let r = verify_file(&path, Some(&recorded));
    assert!(r.ok, "{r:?}");
    assert_eq!(r.first_seq, Some(22));
}

#[tokio::test]
async fn file_ahead_of_recorded_head_is_fine_if_it_chains_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let p = path.to_str().unwrap();
    write_log(&path, 10).await;
    let lines = read_lines(&path);
    // As if the server crashed after syncing lines 8..=10 but before recording their head.
    let recorded = ChainHead {
        seq: 7,
        hash: sha_hex(&lines[6]),
    };
    let (sink, report) = FileSink::open(p, DEVICE, Some(recorded.clone()))
        .await
        .unwrap();
    assert!(report.is_clean(), "{:?}", report.warnings);
    assert_eq!(report.head.seq, 10);
    sink.close().await;

    let wrong = ChainHead {
        seq: 7,
        hash: sha_hex(&lines[5]),
    };
    let (_sink, report) = FileSink::open(p, DEVICE, Some(wrong)).await.unwrap();
    assert!(matches!(
        &report.warnings[..],
        [OpenWarning::HeadMismatch { .. }]
    ));
    // seq stays above the file's, prev is the recorded hash: the next line breaks visibly.
    assert_eq!(report.head.seq, 10);
    assert_eq!(report.head.hash, sha_hex(&lines[5]));
}

#[tokio::test]
async fn torn_tail_is_trimmed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let p = path.to_str().unwrap();
    let head = write_log(&path, 5).await;
    let mut content = std::fs::read(&path).unwrap();
    let torn = b"{\"hush_chain\":{\"seq\":6,";
    content.extend_from_slice(torn);
    std::fs::write(&path, &content).unwrap();

    let (sink, report) = FileSink::open(p, DEVICE, Some(head.clone())).await.unwrap();
    assert_eq!(
        report.warnings,
        vec![OpenWarning::TornTail {
            bytes: torn.len() as u64
        }]
    );
    assert_eq!(report.head, head);
    assert!(sink.tamper_notice().is_some());
    sink.append(entry(6)).await.unwrap();
    sink.close().await;
    let r = verify_file(&path, None);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.lines, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_form_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let (sink, _) = FileSink::open(path.to_str().unwrap(), DEVICE, None)
        .await
        .unwrap();
    let sink = Arc::new(sink);
    let mut tasks = Vec::new();
    for t in 0..50u64 {
        let sink = Arc::clone(&sink);
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..20 {
                seqs.push(sink.append(entry(t * 100 + i)).await.unwrap().seq);
            }
            seqs
        }));
    }
    let mut acknowledged = HashSet::new();
    for t in tasks {
        for s in t.await.unwrap() {
            assert!(acknowledged.insert(s), "seq {s} acknowledged twice");
        }
    }
    sink.close().await;
    assert_eq!(acknowledged, (1..=1000).collect::<HashSet<u64>>());
    let stats = sink.stats();
    assert_eq!(stats.lines, 1000);
    assert!(stats.batches >= 1 && stats.batches <= 1000, "{stats:?}");

    let r = verify_file(&path, Some(&sink.head()));
    assert!(r.ok, "{r:?}");
    assert_eq!(r.lines, 1000);
    let seqs: Vec<u64> = read_lines(&path)
        .iter()
        .map(|l| {
            serde_json::from_slice::<Value>(l).unwrap()["hush_chain"]["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=1000).collect::<Vec<_>>());
}

#[tokio::test]
async fn devices_have_separate_chains() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    let (sa, _) = FileSink::open(a.to_str().unwrap(), "file-a/", None)
        .await
        .unwrap();
    let (sb, _) = FileSink::open(b.to_str().unwrap(), "file-b/", None)
        .await
        .unwrap();
    for i in 1..=5 {
        assert_eq!(sa.append(entry(i)).await.unwrap().seq, i);
        assert_eq!(sb.append(entry(i)).await.unwrap().seq, i);
    }
    sa.close().await;
    sb.close().await;
    assert_eq!(verify_file(&a, None).device.as_deref(), Some("file-a/"));
    assert!(verify_file(&b, None).ok);
    // Same entries, different device ids: the chains differ.
    assert_ne!(sa.head(), sb.head());

    // A line from b swapped into a is detected by device id.
    let mut la = read_lines(&a);
    la[2] = read_lines(&b)[2].clone();
    write_lines(&a, &la);
    assert_bad(&verify_file(&a, None), 3, Problem::DeviceChanged);

    // A new device opened on b's file (b disabled, the path enabled again) continues it with a
    // chain of its own that links to b's last line: the file verifies as two segments.
    let (sc, _) = FileSink::open(b.to_str().unwrap(), "file-c/", None)
        .await
        .unwrap();
    for i in 1..=3 {
        assert_eq!(sc.append(entry(i)).await.unwrap().seq, i);
    }
    let head_c = sc.head();
    sc.close().await;
    let report = verify_file(&b, Some(&head_c));
    assert!(report.ok, "{report:?}");
    assert_eq!(report.segments, 2);
    assert_eq!(report.device.as_deref(), Some("file-c/"));
    assert_eq!(report.lines, 8);
    // The second segment's first line must link to the first's last: cutting b's last line
    // breaks it.
    let mut lb = read_lines(&b);
    lb.remove(4);
    write_lines(&b, &lb);
    assert_bad(&verify_file(&b, None), 5, Problem::DeviceChanged);

    // But a device that has written before does not continue another device's file: its
    // recorded head says the file should end with its own chain.
    let err = FileSink::open(a.to_str().unwrap(), "file-b/", Some(head_c))
        .await
        .unwrap_err();
    assert!(matches!(err, AuditError::ForeignChain { .. }), "{err}");
    assert!(err.to_string().contains("own file"), "{err}");
}

#[tokio::test]
async fn log_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_log(&path, 1).await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // An existing file readable by others is tightened, with a warning.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (sink, report) = FileSink::open(path.to_str().unwrap(), DEVICE, None)
        .await
        .unwrap();
    assert_eq!(
        report.warnings,
        vec![OpenWarning::PermissionsTightened { old_mode: 0o644 }]
    );
    sink.close().await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[tokio::test]
async fn append_rejects_bad_entries_and_closed_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let (sink, _) = FileSink::open(path.to_str().unwrap(), DEVICE, None)
        .await
        .unwrap();
    let err = sink.append(json!([1, 2])).await.unwrap_err();
    assert!(
        matches!(err, AuditError::NotAnObject { kind: "array" }),
        "{err}"
    );
    let err = sink
        .append(json!({"hush_chain": {"seq": 1}}))
        .await
        .unwrap_err();
    assert!(matches!(err, AuditError::ReservedField), "{err}");
    sink.append(entry(1)).await.unwrap();
    sink.close().await;
    sink.close().await;
    let err = sink.append(entry(2)).await.unwrap_err();
    assert!(matches!(err, AuditError::Closed { .. }), "{err}");
    assert_eq!(sink.head().seq, 1);
    assert!(verify_file(&path, None).ok);
}

#[tokio::test]
async fn dropping_a_sink_does_not_hang_and_keeps_written_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let p = path.to_str().unwrap();
    {
        let (sink, _) = FileSink::open(p, DEVICE, None).await.unwrap();
        sink.append(entry(1)).await.unwrap();
    }
    let (sink, report) = FileSink::open(p, DEVICE, None).await.unwrap();
    assert_eq!(report.head.seq, 1);
    sink.close().await;
}

#[tokio::test]
async fn stdout_sink_starts_from_the_expected_head() {
    let start = ChainHead {
        seq: 41,
        hash: sha_hex(b"previous line"),
    };
    let (sink, report) = FileSink::open("stdout", "stdout/", Some(start.clone()))
        .await
        .unwrap();
    assert_eq!(report.resumed_from, ResumeSource::ExpectedHead);
    assert_eq!(report.head, start);
    let h = sink.append(json!({"type": "request"})).await.unwrap();
    assert_eq!(h.seq, 42);
    sink.close().await;

    let (sink, report) = FileSink::open("stdout", "stdout/", None).await.unwrap();
    assert_eq!(report.resumed_from, ResumeSource::Genesis);
    sink.close().await;
}

#[test]
fn verify_checks_the_start_of_a_log() {
    let line = |seq: u64, prev: &str| {
        serde_json::to_vec(&json!({"hush_chain": {"seq": seq, "prev": prev, "device": "d"}}))
            .unwrap()
    };
    let check = |lines: &[Vec<u8>], head: Option<&ChainHead>| {
        let mut buf = Vec::new();
        for l in lines {
            buf.extend_from_slice(l);
            buf.push(b'\n');
        }
        verify(&buf[..], head)
    };
    let other = sha_hex(b"x");
    // Rotated log: starts later, links to something.
    let l5 = line(5, &other);
    let r = check(&[l5.clone(), line(6, &sha_hex(&l5))], None);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.first_seq, Some(5));
    // ...and must link to the expected head when that is just before it.
    let head4 = ChainHead {
        seq: 4,
        hash: sha_hex(b"y"),
    };
    assert_bad(
        &check(std::slice::from_ref(&l5), Some(&head4)),
        1,
        Problem::HeadMismatch,
    );
    let head4 = ChainHead {
        seq: 4,
        hash: other.clone(),
    };
    assert!(check(&[l5], Some(&head4)).ok);
    // A later seq with the genesis prev, or seq 1 without it, is a replaced start.
    assert_bad(&check(&[line(5, GENESIS_HASH)], None), 1, Problem::BadStart);
    assert_bad(&check(&[line(1, &other)], None), 1, Problem::BadStart);
    // Blank lines are not allowed.
    assert_bad(&check(&[b"".to_vec()], None), 1, Problem::InvalidJson);
    // An empty log is fine without a head.
    let r = check(&[], None);
    assert!(r.ok && r.lines == 0 && r.last.is_none());
}

/// `data` as an audit entry writes it.
fn hmacd(v: &Value, salt: &Salt, skip: &[String]) -> Value {
    let data = v.as_object().expect("an object");
    serde_json::to_value(HmacdData {
        data,
        salt: Some(salt),
        skip,
    })
    .expect("serializes")
}

#[test]
fn hmacd_data_recurses_and_honors_skip() {
    let salt = Salt::new(b"device salt".to_vec());
    let v = json!({
        "password": "hunter2",
        "nested": {"list": ["a", 1, true, null, {"deep": "b"}], "n": 2.5},
        "common_name": "example.com",
        "flag": false,
    });
    let v = hmacd(&v, &salt, &["common_name".to_owned()]);
    assert_eq!(v["password"], salt.hmac("hunter2"));
    assert_eq!(v["nested"]["list"][0], salt.hmac("a"));
    assert_eq!(v["nested"]["list"][1], 1);
    assert_eq!(v["nested"]["list"][2], true);
    assert_eq!(v["nested"]["list"][3], Value::Null);
    assert_eq!(v["nested"]["list"][4]["deep"], salt.hmac("b"));
    assert_eq!(v["nested"]["n"], 2.5);
    assert_eq!(v["common_name"], "example.com");
    assert_eq!(v["flag"], false);
    assert!(v["password"].as_str().unwrap().starts_with("hmac-sha256:"));

    // Deterministic per salt, different across salts.
    let same = Salt::new(b"device salt".to_vec());
    let other = Salt::new(b"other salt".to_vec());
    assert_eq!(salt.hmac("hunter2"), same.hmac("hunter2"));
    assert_ne!(salt.hmac("hunter2"), other.hmac("hunter2"));

    // Skip only applies to top-level keys.
    let v = hmacd(
        &json!({"outer": {"common_name": "x"}}),
        &salt,
        &["common_name".to_owned()],
    );
    assert_eq!(v["outer"]["common_name"], salt.hmac("x"));
    // A bare string is hashed too.
    let s = json!("s");
    let v = serde_json::to_value(AllHmacd {
        value: &s,
        salt: &salt,
    })
    .expect("serializes");
    assert_eq!(v, json!(salt.hmac("s")));
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `hashed` has the shape of `orig`, with each string replaced by its HMAC.
fn is_hmac_of(orig: &Value, hashed: &Value, salt: &Salt) -> bool {
    match (orig, hashed) {
        (Value::String(o), Value::String(h)) => *h == salt.hmac(o),
        (Value::Array(o), Value::Array(h)) => {
            o.len() == h.len() && o.iter().zip(h).all(|(a, b)| is_hmac_of(a, b, salt))
        }
        (Value::Object(o), Value::Object(h)) => {
            o.len() == h.len()
                && o.iter()
                    .all(|(k, a)| h.get(k).is_some_and(|b| is_hmac_of(a, b, salt)))
        }
        (o, h) => o == h,
    }
}

proptest! {
    #[test]
    fn hmacd_replaces_exactly_the_strings(v in arb_json(), skip in "[a-z]{1,6}") {
        let salt = Salt::new(b"prop".to_vec());
        let skip = vec![skip];
        let hashed = match &v {
            Value::Object(_) => hmacd(&v, &salt, &skip),
            _ => serde_json::to_value(AllHmacd { value: &v, salt: &salt }).expect("serializes"),
        };
        match (&v, &hashed) {
            (Value::Object(o), Value::Object(h)) => {
                prop_assert_eq!(o.len(), h.len());
                for (k, a) in o {
                    let b = &h[k];
                    if skip.contains(k) {
                        prop_assert_eq!(a, b);
                    } else {
                        prop_assert!(is_hmac_of(a, b, &salt));
                    }
                }
            }
            _ => prop_assert!(is_hmac_of(&v, &hashed, &salt)),
        }
    }
}

/// Opens a file sink synced every `every` (the default policy for files).
async fn open_interval(
    path: &str,
    head: Option<hush_audit::ChainHead>,
    every: std::time::Duration,
) -> (FileSink, hush_audit::OpenReport) {
    FileSink::open_with_policy(path, DEVICE, head, hush_audit::SyncPolicy::Interval(every))
        .await
        .unwrap()
}

/// The default for files: each line written by the appending task (no writer thread), synced
/// by the syncer within the interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_sink_chains_concurrent_appends_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let p = path.to_str().unwrap().to_owned();
    let every = std::time::Duration::from_millis(50);
    let (sink, report) = open_interval(&p, None, every).await;
    assert!(report.is_clean());
    let sink = Arc::new(sink);
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let sink = Arc::clone(&sink);
        tasks.push(tokio::spawn(async move {
            for i in 0..50u64 {
                let mut e = entry(t * 1000 + i);
                // Pre-serialized entries take the same path as values.
                if i % 2 == 0 {
                    sink.append(e).await.unwrap();
                } else {
                    e["request"]["path"] = json!("serialized");
                    sink.append_serialized(serde_json::to_vec(&e).unwrap())
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(sink.head().seq, 400);
    assert_eq!(sink.stats().lines, 400);
    // Synced on demand, and the head it reports is the last line's.
    assert_eq!(sink.sync().await.unwrap(), sink.head());
    // Bad serialized input is refused before anything is written.
    assert!(matches!(
        sink.append_serialized(b"[1,2]".to_vec()).await,
        Err(AuditError::NotAnObject { .. })
    ));
    sink.close().await;
    let head = sink.head();
    assert!(matches!(
        sink.append(entry(1)).await,
        Err(AuditError::Closed { .. })
    ));
    assert!(verify_file(&path, Some(&head)).ok);
    assert_eq!(read_lines(&path).len(), 400);

    // Reopened with the recorded head, the chain continues.
    let (again, report) = open_interval(&p, Some(head.clone()), every).await;
    assert!(report.is_clean(), "{:?}", report.warnings);
    again.append(entry(9)).await.unwrap();
    again.close().await;
    assert_eq!(again.head().seq, 401);
    assert!(verify_file(&path, Some(&again.head())).ok);
}

/// While lines keep coming, the syncer hands what was written to the disk in between its
/// fsyncs (and lets the kernel drop those pages): the file still ends up whole and chained,
/// with appends landing right after pages that were handed over and dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_sink_survives_early_writeback_between_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let p = path.to_str().unwrap().to_owned();
    // No interval sync during the test: only the writeback ticks run.
    let (sink, _) = open_interval(&p, None, std::time::Duration::from_secs(3600)).await;
    let filler = "x".repeat(2000);
    for round in 0..6u64 {
        for i in 0..200u64 {
            let mut e = entry(round * 1000 + i);
            e["request"]["data"]["filler"] = json!(filler);
            sink.append(e).await.unwrap();
        }
        // Longer than a writeback tick, so each round's lines are handed over before the next.
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    }
    sink.close().await;
    let head = sink.head();
    assert_eq!(head.seq, 1200);
    assert!(std::fs::metadata(&path).unwrap().len() > 2_000_000);
    assert_eq!(read_lines(&path).len(), 1200);
    assert!(verify_file(&path, Some(&head)).ok);
}

/// An append whose caller goes away after its line was chained (a client that hung up) still
/// reaches the file, in order, by the next writer, a sync or close; and lines appended by
/// tasks that are ready together share `write` calls.
#[tokio::test(flavor = "current_thread")]
async fn interval_sink_writes_abandoned_lines_and_shares_writes() {
    use std::future::Future;
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let p = path.to_str().unwrap().to_owned();
    let (sink, _) = open_interval(&p, None, std::time::Duration::from_secs(3600)).await;

    // Polled once: the line is chained, then the append yields; dropping it abandons the wait.
    {
        let mut first = Box::pin(sink.append(entry(1)));
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(first.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(sink.head().seq, 1);
    assert_eq!(sink.stats().lines, 0, "nothing written yet");
    // The next append writes both, in chain order.
    sink.append(entry(2)).await.unwrap();
    assert_eq!(sink.stats().lines, 2);
    assert_eq!(read_lines(&path).len(), 2);

    // Ten tasks ready at once on one thread: their lines go out in fewer writes than lines.
    let sink = Arc::new(sink);
    let before = sink.stats();
    let tasks: Vec<_> = (0..10u64)
        .map(|i| {
            let sink = Arc::clone(&sink);
            tokio::spawn(async move { sink.append(entry(100 + i)).await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let after = sink.stats();
    assert_eq!(after.lines - before.lines, 10);
    assert!(
        after.batches - before.batches < 10,
        "10 lines took {} writes",
        after.batches - before.batches
    );

    // Abandoned again, then closed: close writes it.
    {
        let mut last = Box::pin(sink.append(entry(3)));
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(last.as_mut().poll(&mut cx).is_pending());
    }
    sink.close().await;
    let head = sink.head();
    assert_eq!(head.seq, 13);
    assert_eq!(read_lines(&path).len(), 13);
    assert!(verify_file(&path, Some(&head)).ok);
}

/// A queued line (a read's request entry) is written by the next append that waits, in chain
/// order and in the same write; on a sink without a queue of its own it is appended at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_lines_go_out_with_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let p = path.to_str().unwrap().to_owned();
    let (sink, _) = open_interval(&p, None, std::time::Duration::from_secs(3600)).await;

    let queued = sink
        .queue_serialized(serde_json::to_vec(&entry(1)).unwrap())
        .await
        .unwrap();
    assert_eq!(queued.seq, 1);
    assert_eq!(sink.stats().lines, 0, "queued, not written");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    let head = sink.append(entry(2)).await.unwrap();
    assert_eq!(head.seq, 2);
    let stats = sink.stats();
    assert_eq!(
        (stats.lines, stats.batches),
        (2, 1),
        "both lines in one write"
    );
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 2);
    let first: Value = serde_json::from_slice(&lines[0]).unwrap();
    assert_eq!(first["request"]["id"], "req-1");

    // What is checked for an append is checked for a queued entry: nothing is chained.
    assert!(matches!(
        sink.queue_serialized(b"[1]".to_vec()).await,
        Err(AuditError::NotAnObject { .. })
    ));
    assert_eq!(sink.head().seq, 2);

    // A queued line nobody follows is written by sync (and so by the syncer), or by close.
    sink.queue_serialized(serde_json::to_vec(&entry(3)).unwrap())
        .await
        .unwrap();
    let synced = sink.sync().await.unwrap();
    assert_eq!(synced.seq, 3);
    assert_eq!(read_lines(&path).len(), 3);
    sink.queue_serialized(serde_json::to_vec(&entry(4)).unwrap())
        .await
        .unwrap();
    sink.close().await;
    assert_eq!(read_lines(&path).len(), 4);
    assert!(verify_file(&path, Some(&sink.head())).ok);

    // Files synced per batch go through the writer thread: queued means written there.
    let every = log_path(&dir).with_file_name("every.log");
    let (strict, _) = FileSink::open_with_policy(
        every.to_str().unwrap(),
        DEVICE,
        None,
        hush_audit::SyncPolicy::EveryBatch,
    )
    .await
    .unwrap();
    strict
        .queue_serialized(serde_json::to_vec(&entry(5)).unwrap())
        .await
        .unwrap();
    assert_eq!(read_lines(&every).len(), 1);
    strict.close().await;
}

#[tokio::test]
async fn paths_that_are_not_audit_logs_are_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no").join("such").join("audit.log");
    let err = FileSink::open(missing.to_str().unwrap(), DEVICE, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuditError::Refused { .. }), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!dir.path().join("no").exists());

    let key = dir.path().join("seal.key");
    std::fs::write(&key, b"not a log, no newline").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = FileSink::open(key.to_str().unwrap(), DEVICE, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a hush audit log"), "{err}");
    assert_eq!(std::fs::read(&key).unwrap(), b"not a log, no newline");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);

    let target = log_path(&dir);
    write_log(&target, 2).await;
    let link = dir.path().join("link.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = FileSink::open(link.to_str().unwrap(), DEVICE, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    // The real log itself still opens and continues its chain.
    let (sink, report) = FileSink::open(target.to_str().unwrap(), DEVICE, None)
        .await
        .unwrap();
    assert!(report.is_clean(), "{:?}", report.warnings);
    sink.close().await;
}
