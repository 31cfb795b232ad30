//! SQLite-specific behaviour: persistence, file modes, the process lock,
//! group commit under concurrency and shutdown.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use hush_storage::{Backend, Op, SqliteBackend, StorageError};

use crate::temp_db;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let (_dir, path) = temp_db();
    {
        let b = SqliteBackend::open(&path).unwrap();
        b.put("core/keyring", b"ring".to_vec()).await.unwrap();
        b.put("logical/1/a", b"a".to_vec()).await.unwrap();
        b.put("logical/1/gone", b"x".to_vec()).await.unwrap();
        b.delete("logical/1/gone").await.unwrap();
        b.transaction(vec![
            Op::Put {
                key: "logical/2/b".into(),
                value: b"b".to_vec(),
            },
            Op::Put {
                key: "sys/token/id/abc".into(),
                value: b"t".to_vec(),
            },
        ])
        .await
        .unwrap();
    }
    // Twice: the first reopen also checks a cleanly closed file is reusable.
    for _ in 0..2 {
        let b = SqliteBackend::open(&path).unwrap();
        assert_eq!(
            b.get("core/keyring").await.unwrap().as_deref(),
            Some(&b"ring"[..])
        );
        assert_eq!(b.get("logical/1/gone").await.unwrap(), None);
        assert_eq!(b.list("").await.unwrap(), ["core/", "logical/", "sys/"]);
        assert_eq!(b.list("logical/").await.unwrap(), ["1/", "2/"]);
        assert_eq!(b.list("logical/1/").await.unwrap(), ["a"]);
        assert_eq!(
            b.get("logical/2/b").await.unwrap().as_deref(),
            Some(&b"b"[..])
        );
        assert_eq!(
            b.get("sys/token/id/abc").await.unwrap().as_deref(),
            Some(&b"t"[..])
        );
    }
}

#[tokio::test]
async fn files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("var/lib/hush");
    let path = data_dir.join("hush.db");
    let b = SqliteBackend::open(&path).unwrap();
    assert_eq!(b.path(), path);
    b.put("k", b"v".to_vec()).await.unwrap();

    assert_eq!(mode(&data_dir), 0o700, "data directory");
    assert_eq!(mode(&dir.path().join("var/lib")), 0o700, "created parent");
    for file in [
        path.clone(),
        with_suffix(&path, "-wal"),
        with_suffix(&path, "-shm"),
        with_suffix(&path, ".lock"),
    ] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

#[tokio::test]
async fn an_existing_readable_data_file_is_restricted() {
    let (_dir, path) = temp_db();
    drop(SqliteBackend::open(&path).unwrap());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let b = SqliteBackend::open(&path).unwrap();
    b.put("k", b"v".to_vec()).await.unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&with_suffix(&path, "-wal")), 0o600);
}

#[tokio::test]
async fn a_second_open_fails_while_the_first_is_alive() {
    let (_dir, path) = temp_db();
    let first = SqliteBackend::open(&path).unwrap();
    first.put("k", b"v".to_vec()).await.unwrap();

    let err = SqliteBackend::open(&path).unwrap_err();
    match &err {
        StorageError::Locked { path: p, lock } => {
            assert_eq!(p, &path);
            assert_eq!(lock, &with_suffix(&path, ".lock"));
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("another hush server"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    // The failed open disturbed nothing.
    assert_eq!(first.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));

    drop(first);
    let second = SqliteBackend::open(&path).unwrap();
    assert_eq!(second.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_all_land() {
    const WRITERS: usize = 200;
    let (_dir, path) = temp_db();
    let backend = Arc::new(SqliteBackend::open(&path).unwrap());
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let b = Arc::clone(&backend);
            tokio::spawn(async move {
                let key = format!("many/{i:03}");
                b.put(&key, key.as_bytes().repeat(i + 1)).await.unwrap();
                // Acknowledged means readable, by anyone, right away.
                assert_eq!(
                    b.get(&key).await.unwrap(),
                    Some(key.as_bytes().repeat(i + 1))
                );
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(backend.list("many/").await.unwrap().len(), WRITERS);
    drop(backend);

    let backend = SqliteBackend::open(&path).unwrap();
    let names = backend.list("many/").await.unwrap();
    let expected: Vec<String> = (0..WRITERS).map(|i| format!("{i:03}")).collect();
    assert_eq!(names, expected);
    for i in 0..WRITERS {
        let key = format!("many/{i:03}");
        assert_eq!(
            backend.get(&key).await.unwrap(),
            Some(key.as_bytes().repeat(i + 1)),
            "{key}"
        );
    }
}

/// A caller that gives up waiting has still queued its write; dropping the
/// backend must apply it (not lose it, not hang).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_finishes_writes_of_callers_that_stopped_waiting() {
    let (_dir, path) = temp_db();
    let backend = SqliteBackend::open(&path).unwrap();
    for i in 0..100 {
        let key = format!("abandoned/{i:03}");
        let put = backend.put(&key, vec![7; 100]);
        // Poll the put exactly once (which queues it), then drop it.
        tokio::select! {
            biased;
            result = put => result.unwrap(),
            () = std::future::ready(()) => {}
        }
    }
    drop(backend);

    let backend = SqliteBackend::open(&path).unwrap();
    assert_eq!(backend.list("abandoned/").await.unwrap().len(), 100);
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let (_dir, path) = temp_db();
    drop(SqliteBackend::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);

    let err = SqliteBackend::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::UnsupportedSchema {
                found: 99,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade hush"), "{err}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_an_error() {
    let (_dir, path) = temp_db();
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = SqliteBackend::open(&path).unwrap_err();
    assert!(matches!(err, StorageError::Sqlite { .. }), "{err:?}");
    assert!(err.to_string().contains("hush database"), "{err}");
}

#[tokio::test]
async fn a_data_path_under_a_file_is_an_io_error() {
    let (dir, _) = temp_db();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let err = SqliteBackend::open(&blocker.join("hush.db")).unwrap_err();
    assert!(matches!(err, StorageError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

/// A key that was read is cached; writing it refreshes the cached value from the committing
/// thread (no trip to the database on the next read). Concurrent read-modify-write loops on a
/// few keys always read the value last acknowledged, and the file agrees after a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cached_keys_read_their_latest_acknowledged_write() {
    let (_dir, path) = temp_db();
    {
        let b = Arc::new(SqliteBackend::open(&path).unwrap());
        let mut tasks = Vec::new();
        for t in 0..4u32 {
            let b = Arc::clone(&b);
            tasks.push(tokio::spawn(async move {
                let key = format!("logical/rmw/{t}");
                // Absent at first: the miss is cached, and the first write replaces it.
                assert_eq!(b.get(&key).await.unwrap(), None);
                for i in 0..200u32 {
                    let want = (i > 0).then(|| (i - 1).to_string().into_bytes());
                    assert_eq!(b.get(&key).await.unwrap(), want, "{key} before write {i}");
                    b.transaction(vec![
                        Op::Put {
                            key: key.clone(),
                            value: i.to_string().into_bytes(),
                        },
                        Op::Put {
                            key: format!("{key}/v{i}"),
                            value: b"bulk".to_vec(),
                        },
                    ])
                    .await
                    .unwrap();
                }
                b.delete(&key).await.unwrap();
                assert_eq!(b.get(&key).await.unwrap(), None);
                b.put(&key, b"last".to_vec()).await.unwrap();
                assert_eq!(b.get(&key).await.unwrap().as_deref(), Some(&b"last"[..]));
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    let b = SqliteBackend::open(&path).unwrap();
    for t in 0..4u32 {
        let key = format!("logical/rmw/{t}");
        assert_eq!(b.get(&key).await.unwrap().as_deref(), Some(&b"last"[..]));
        assert_eq!(
            b.get(&format!("{key}/v199")).await.unwrap().as_deref(),
            Some(&b"bulk"[..])
        );
    }
}
