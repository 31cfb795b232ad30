//! KV version 1: plain JSON objects per path.

use crate::common::{assert_plain_404, body, status, Kv};
use hush_core::logical::Operation;
use serde_json::{json, Value};

#[tokio::test]
async fn put_get_list_delete() {
    let kv = Kv::v1();
    assert!(!kv.exists("app/db").await);
    let w = kv
        .write(
            "app/db",
            json!({"user": "u", "port": 5432, "tags": ["a"], "ttl": "1h"}),
        )
        .await;
    assert_eq!(status(&w), 204);
    assert!(kv.exists("app/db").await);

    let r = kv.read("app/db").await;
    assert_eq!(status(&r), 200);
    assert_eq!(
        body(&r),
        json!({"user": "u", "port": 5432, "tags": ["a"], "ttl": "1h"})
    );

    // A write replaces the whole secret.
    kv.write("app/db", json!({"only": "this"})).await;
    assert_eq!(body(&kv.read("app/db").await), json!({"only": "this"}));

    kv.write("app/cache", json!({"k": "v"})).await;
    kv.write("app/nested/deep", json!({"k": "v"})).await;
    kv.write("top", json!({"k": "v"})).await;
    assert_eq!(body(&kv.list("").await)["keys"], json!(["app/", "top"]));
    assert_eq!(
        body(&kv.list("app").await)["keys"],
        json!(["cache", "db", "nested/"])
    );
    assert_eq!(
        body(&kv.list("app/").await)["keys"],
        json!(["cache", "db", "nested/"])
    );
    assert_plain_404(&kv.list("nothing/").await);

    let d = kv
        .call(Operation::Delete, "app/db", Value::Null)
        .await
        .unwrap();
    assert_eq!(status(&d), 204);
    assert_plain_404(&kv.read("app/db").await);
    assert!(!kv.exists("app/db").await);
}

#[tokio::test]
async fn v2_endpoint_names_are_plain_keys_in_v1() {
    let kv = Kv::v1();
    kv.write("data/x", json!({"data": {"nested": true}})).await;
    kv.write("config", json!({"max_versions": 3})).await;
    assert_eq!(
        body(&kv.read("data/x").await),
        json!({"data": {"nested": true}})
    );
    assert_eq!(body(&kv.read("config").await), json!({"max_versions": 3}));
}

#[tokio::test]
async fn bad_requests() {
    let kv = Kv::v1();
    let e = kv.bad_request(Operation::Update, "empty", json!({})).await;
    assert!(e.contains("missing data fields"), "{e}");
    let e = kv.bad_request(Operation::Update, "", json!({"a": 1})).await;
    assert!(e.contains("missing path"), "{e}");
    let e = kv
        .bad_request(Operation::Update, "dir/", json!({"a": 1}))
        .await;
    assert!(e.contains("ends with '/'"), "{e}");
    let e = kv
        .bad_request(Operation::Update, "t", json!({"ttl": "forever"}))
        .await;
    assert!(e.contains("\"ttl\""), "{e}");
    assert!(!kv.stored("t").await);
    assert!(!kv.stored("empty").await);

    let e = kv
        .call(Operation::Patch, "x", json!({"a": 1}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 405);
    assert!(e.to_string().contains("version 1"), "{e}");

    // Reads of paths that cannot hold a secret are plain 404s.
    assert_plain_404(&kv.read("").await);
    assert_plain_404(&kv.read("dir/").await);
}

#[tokio::test]
async fn create_is_distinguished_from_update() {
    let kv = Kv::v1();
    let create = kv
        .call(Operation::Create, "c", json!({"a": 1}))
        .await
        .unwrap();
    assert_eq!(status(&create), 204);
    assert_eq!(body(&kv.read("c").await), json!({"a": 1}));
    assert!(kv.exists("c").await);
    assert!(!kv.exists("").await);
}
