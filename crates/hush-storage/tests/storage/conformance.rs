//! Behaviour every backend must share, run against each of them.

use std::sync::Arc;

use hush_storage::{Backend, MemoryBackend, Op, SqliteBackend, StorageError};

use crate::temp_db;

fn put(key: &str, value: &[u8]) -> Op {
    Op::Put {
        key: key.to_owned(),
        value: value.to_vec(),
    }
}

fn delete(key: &str) -> Op {
    Op::Delete {
        key: key.to_owned(),
    }
}

/// The whole suite. Each part leaves its own namespace, so they can share a backend.
async fn conformance(backend: &dyn Backend) {
    crud(backend).await;
    values(backend).await;
    invalid_keys(backend).await;
    listing(backend).await;
    transactions(backend).await;
}

async fn crud(b: &dyn Backend) {
    assert_eq!(b.get("crud/k").await.unwrap(), None, "missing key");
    b.put("crud/k", b"one".to_vec()).await.unwrap();
    assert_eq!(b.get("crud/k").await.unwrap().as_deref(), Some(&b"one"[..]));
    b.put("crud/k", b"two".to_vec()).await.unwrap();
    assert_eq!(b.get("crud/k").await.unwrap().as_deref(), Some(&b"two"[..]));
    b.delete("crud/k").await.unwrap();
    assert_eq!(b.get("crud/k").await.unwrap(), None, "deleted key");
    b.delete("crud/k").await.unwrap();
    b.delete("crud/never-existed").await.unwrap();
    assert_eq!(b.list("crud/").await.unwrap(), Vec::<String>::new());
}

async fn values(b: &dyn Backend) {
    let every_byte: Vec<u8> = (0..=255).collect();
    let big: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    for (key, value) in [
        ("values/empty", Vec::new()),
        ("values/every-byte", every_byte),
        ("values/big", big),
    ] {
        b.put(key, value.clone()).await.unwrap();
        assert_eq!(b.get(key).await.unwrap(), Some(value), "{key}");
    }
}

async fn invalid_keys(b: &dyn Backend) {
    for key in ["", "folder/", "nul\0byte"] {
        let err = b.put(key, b"x".to_vec()).await.unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidKey { .. }),
            "{key:?}: {err}"
        );
        assert!(matches!(
            b.get(key).await,
            Err(StorageError::InvalidKey { .. })
        ));
        assert!(matches!(
            b.delete(key).await,
            Err(StorageError::InvalidKey { .. })
        ));
    }
    for prefix in ["no-slash", "a/b"] {
        let err = b.list(prefix).await.unwrap_err();
        assert!(
            err.to_string().contains("end with '/'"),
            "{prefix:?}: {err}"
        );
    }
    // A transaction with one bad key applies nothing.
    let err = b
        .transaction(vec![put("invalid/ok", b"1"), put("invalid/", b"2")])
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidKey { .. }), "{err}");
    assert_eq!(b.get("invalid/ok").await.unwrap(), None);
}

async fn listing(b: &dyn Backend) {
    let keys = [
        "l/a",
        "l/a/b",
        "l/a/c/d",
        "l/a/c/e",
        "l/a-",
        "l/a0",
        "l/b",
        "l/x%/1",
        "l/xa/2",
        "l/x_/3",
        "l/xb/4",
        "l/ü/ñ",
        "l/日本/語",
        "l/\u{10FFFF}/max",
        "l/\u{10FFFF}",
        "l/%",
        "l/_",
        "l-sibling",
        "l0",
    ];
    for key in keys {
        b.put(key, key.as_bytes().to_vec()).await.unwrap();
    }
    let list = |prefix: &'static str| async move { b.list(prefix).await.unwrap() };

    assert_eq!(
        list("l/").await,
        [
            "%",
            "_",
            "a",
            "a-",
            "a/",
            "a0",
            "b",
            "x%/",
            "x_/",
            "xa/",
            "xb/",
            "ü/",
            "日本/",
            "\u{10FFFF}",
            "\u{10FFFF}/",
        ],
        "folders collapse, each name once, sorted by bytes"
    );
    // "l/a" is both a key and a folder; listing the folder shows its content only.
    assert_eq!(list("l/a/").await, ["b", "c/"]);
    assert_eq!(list("l/a/c/").await, ["d", "e"]);
    // '%' and '_' are literal, not wildcards.
    assert_eq!(list("l/x%/").await, ["1"]);
    assert_eq!(list("l/x_/").await, ["3"]);
    assert_eq!(list("l/ü/").await, ["ñ"]);
    assert_eq!(list("l/日本/").await, ["語"]);
    assert_eq!(list("l/\u{10FFFF}/").await, ["max"]);
    assert_eq!(list("l/missing/").await, Vec::<String>::new());
    assert_eq!(
        list("l/a/b/").await,
        Vec::<String>::new(),
        "a key is not a folder"
    );

    let root = list("").await;
    for name in ["l/", "l-sibling", "l0"] {
        assert!(
            root.contains(&name.to_owned()),
            "{name} missing from {root:?}"
        );
    }
    let mut sorted = root.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        root, sorted,
        "root listing is sorted and without duplicates"
    );

    b.delete("l/a/c/d").await.unwrap();
    b.delete("l/a/c/e").await.unwrap();
    assert_eq!(list("l/a/").await, ["b"], "an emptied folder disappears");
}

async fn transactions(b: &dyn Backend) {
    b.put("tx/old", b"old".to_vec()).await.unwrap();
    b.transaction(vec![
        put("tx/a", b"1"),
        put("tx/b", b"2"),
        delete("tx/old"),
        put("tx/a", b"3"),
        delete("tx/missing"),
        put("tx/gone", b"x"),
        delete("tx/gone"),
    ])
    .await
    .unwrap();
    assert_eq!(
        b.get("tx/a").await.unwrap().as_deref(),
        Some(&b"3"[..]),
        "later op wins"
    );
    assert_eq!(b.get("tx/b").await.unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(b.get("tx/old").await.unwrap(), None);
    assert_eq!(b.get("tx/gone").await.unwrap(), None, "later delete wins");
    assert_eq!(b.list("tx/").await.unwrap(), ["a", "b"]);
    b.transaction(Vec::new()).await.unwrap();
}

/// Readers never observe half a transaction. Each transaction sets `x` then `y`
/// to the same counter; a reader that reads `x` first must then see `y >= x`.
/// Were the two puts visible one at a time, it could catch `x` already bumped
/// and `y` not yet.
async fn transactions_are_atomic_for_readers(backend: Arc<dyn Backend>) {
    const ROUNDS: u64 = 300;
    let writer = {
        let b = Arc::clone(&backend);
        tokio::spawn(async move {
            for i in 1..=ROUNDS {
                let v = i.to_be_bytes().to_vec();
                b.transaction(vec![put("atomic/x", &v), put("atomic/y", &v)])
                    .await
                    .unwrap();
            }
        })
    };
    let read = |key: &'static str| {
        let b = Arc::clone(&backend);
        async move {
            b.get(key).await.unwrap().map_or(0, |v| {
                u64::from_be_bytes(v.try_into().expect("an 8-byte counter"))
            })
        }
    };
    let mut observed = 0;
    while !writer.is_finished() {
        let x = read("atomic/x").await;
        let y = read("atomic/y").await;
        assert!(
            y >= x,
            "saw x={x} but y={y}: a transaction was half visible"
        );
        observed = observed.max(x);
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    assert_eq!(read("atomic/x").await, ROUNDS);
    assert_eq!(read("atomic/y").await, ROUNDS);
    assert!(observed <= ROUNDS);
}

#[tokio::test]
async fn memory_backend_conforms() {
    let backend = MemoryBackend::new();
    assert_eq!(backend.kind(), "inmem");
    conformance(&backend).await;
}

#[tokio::test]
async fn sqlite_backend_conforms() {
    let (_dir, path) = temp_db();
    let backend = SqliteBackend::open(&path).unwrap();
    assert_eq!(backend.kind(), "sqlite");
    conformance(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_transactions_are_atomic_for_readers() {
    transactions_are_atomic_for_readers(Arc::new(MemoryBackend::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_transactions_are_atomic_for_readers() {
    let (_dir, path) = temp_db();
    transactions_are_atomic_for_readers(Arc::new(SqliteBackend::open(&path).unwrap())).await;
}
