//! KV version 2 against a real encrypted view: every endpoint and the shapes clients read.

use crate::common;

use std::sync::Arc;

use crate::common::{assert_plain_404, body, is_vault_time, status, Kv};
use chrono::Duration;
use hush_core::logical::Operation;
use hush_engines::kv::{KvBackend, KvVersion};
use serde_json::{json, Value};

const CAS_MISMATCH: &str = "check-and-set parameter did not match the current version";
const CAS_REQUIRED: &str = "check-and-set parameter required for this call";

#[tokio::test]
async fn write_then_read_has_vaults_shape() {
    let kv = Kv::v2();
    let w = kv
        .write("data/app/db", json!({"data": {"user": "u", "pw": "p"}}))
        .await;
    assert_eq!(status(&w), 200);
    let b = body(&w);
    assert_eq!(b["version"], json!(1));
    assert_eq!(b["deletion_time"], json!(""));
    assert_eq!(b["destroyed"], json!(false));
    assert_eq!(b["custom_metadata"], Value::Null);
    assert_eq!(b["created_time"], json!("2024-05-06T07:08:09.123456789Z"));
    assert_eq!(b.as_object().unwrap().len(), 5, "{b}");

    let r = kv.read("data/app/db").await;
    assert_eq!(status(&r), 200);
    let b = body(&r);
    assert_eq!(b["data"], json!({"user": "u", "pw": "p"}));
    let m = &b["metadata"];
    assert_eq!(m["version"], json!(1));
    assert_eq!(m["deletion_time"], json!(""));
    assert_eq!(m["destroyed"], json!(false));
    assert_eq!(m["custom_metadata"], Value::Null);
    assert!(is_vault_time(m["created_time"].as_str().unwrap()));

    // A second version; reading an older one by query string (as hvac sends it).
    kv.clock.advance(Duration::seconds(1));
    let w2 = kv
        .write("data/app/db", json!({"data": {"user": "u2"}}))
        .await;
    assert_eq!(body(&w2)["version"], json!(2));
    let r1 = kv
        .call(Operation::Read, "data/app/db", json!({"version": "1"}))
        .await
        .unwrap();
    assert_eq!(body(&r1)["data"], json!({"user": "u", "pw": "p"}));
    let r0 = kv
        .call(Operation::Read, "data/app/db", json!({"version": 0}))
        .await
        .unwrap();
    assert_eq!(body(&r0)["data"], json!({"user": "u2"}));
    assert_eq!(body(&r0)["metadata"]["version"], json!(2));
}

#[tokio::test]
async fn missing_secrets_and_versions_are_plain_404s() {
    let kv = Kv::v2();
    assert_plain_404(&kv.read("data/nope").await);
    kv.write("data/x", json!({"data": {"a": 1}})).await;
    let r = kv
        .call(Operation::Read, "data/x", json!({"version": 7}))
        .await
        .unwrap();
    assert_plain_404(&r);
    assert_plain_404(&kv.read("metadata/nope").await);
    assert_plain_404(&kv.read("subkeys/nope").await);
}

#[tokio::test]
async fn soft_delete_undelete_and_destroy() {
    let kv = Kv::v2();
    kv.write("data/s", json!({"data": {"k": "v1"}})).await;
    kv.write("data/s", json!({"data": {"k": "v2"}})).await;

    // DELETE data/ soft-deletes the latest version: 404 with the metadata and data = null.
    kv.clock.advance(Duration::seconds(5));
    let d = kv
        .call(Operation::Delete, "data/s", Value::Null)
        .await
        .unwrap();
    assert_eq!(status(&d), 204);
    kv.clock.advance(Duration::milliseconds(1));
    let r = kv.read("data/s").await;
    assert_eq!(status(&r), 404);
    let b = body(&r);
    assert_eq!(b["data"], Value::Null);
    assert_eq!(b["metadata"]["version"], json!(2));
    assert_eq!(b["metadata"]["destroyed"], json!(false));
    assert_eq!(
        b["metadata"]["deletion_time"],
        json!("2024-05-06T07:08:14.123456789Z")
    );
    // Version 1 is untouched.
    let r1 = kv
        .call(Operation::Read, "data/s", json!({"version": 1}))
        .await
        .unwrap();
    assert_eq!(body(&r1)["data"], json!({"k": "v1"}));

    // Undelete brings it back.
    let u = kv.write("undelete/s", json!({"versions": [2]})).await;
    assert_eq!(status(&u), 204);
    assert_eq!(body(&kv.read("data/s").await)["data"], json!({"k": "v2"}));

    // delete/ with numeric strings, then destroy: the data is gone from storage for good.
    kv.write("delete/s", json!({"versions": ["1", "2"]})).await;
    kv.clock.advance(Duration::milliseconds(1));
    assert_eq!(status(&kv.read("data/s").await), 404);
    assert!(kv.stored("versions/s/1").await);
    let x = kv.write("destroy/s", json!({"versions": [1]})).await;
    assert_eq!(status(&x), 204);
    assert!(!kv.stored("versions/s/1").await);
    assert!(kv.stored("versions/s/2").await);
    let r1 = kv
        .call(Operation::Read, "data/s", json!({"version": 1}))
        .await
        .unwrap();
    assert_eq!(status(&r1), 404);
    assert_eq!(body(&r1)["metadata"]["destroyed"], json!(true));
    assert_eq!(body(&r1)["data"], Value::Null);
    // A destroyed version cannot be undeleted.
    kv.write("undelete/s", json!({"versions": [1, 2]})).await;
    let r1 = kv
        .call(Operation::Read, "data/s", json!({"version": 1}))
        .await
        .unwrap();
    assert_eq!(status(&r1), 404);
    assert_eq!(body(&kv.read("data/s").await)["data"], json!({"k": "v2"}));

    let meta = body(&kv.read("metadata/s").await);
    assert_eq!(meta["versions"]["1"]["destroyed"], json!(true));
    assert_eq!(meta["versions"]["2"]["deletion_time"], json!(""));

    // Deleting a missing secret, or with unknown versions, is a quiet success like Vault.
    let d = kv
        .call(Operation::Delete, "data/none", Value::Null)
        .await
        .unwrap();
    assert_eq!(status(&d), 204);
    assert_eq!(
        status(&kv.write("delete/s", json!({"versions": [99]})).await),
        204
    );
}

#[tokio::test]
async fn version_lists_are_validated() {
    let kv = Kv::v2();
    kv.write("data/s", json!({"data": {"k": "v"}})).await;
    for endpoint in ["delete/s", "undelete/s", "destroy/s"] {
        for bad in [json!({}), json!({"versions": []})] {
            let e = kv.bad_request(Operation::Update, endpoint, bad).await;
            assert!(e.contains("no version number provided"), "{e}");
        }
        let e = kv
            .bad_request(Operation::Update, endpoint, json!({"versions": ["one"]}))
            .await;
        assert!(e.contains("versions[0]"), "{e}");
    }
    // Nothing changed.
    assert_eq!(body(&kv.read("data/s").await)["data"], json!({"k": "v"}));
}

#[tokio::test]
async fn check_and_set() {
    let kv = Kv::v2();
    // cas=0 writes only when the secret does not exist.
    let w = kv
        .write("data/c", json!({"data": {"n": 1}, "options": {"cas": 0}}))
        .await;
    assert_eq!(body(&w)["version"], json!(1));
    let e = kv
        .bad_request(
            Operation::Update,
            "data/c",
            json!({"data": {"n": 2}, "options": {"cas": 0}}),
        )
        .await;
    assert!(e.contains(CAS_MISMATCH), "{e}");
    let e = kv
        .bad_request(
            Operation::Update,
            "data/c",
            json!({"data": {"n": 2}, "options": {"cas": 5}}),
        )
        .await;
    assert!(e.contains(CAS_MISMATCH), "{e}");
    // The right version wins; strings are accepted like Vault's weak decoding.
    let w = kv
        .write("data/c", json!({"data": {"n": 2}, "options": {"cas": "1"}}))
        .await;
    assert_eq!(body(&w)["version"], json!(2));
    assert_eq!(body(&kv.read("data/c").await)["data"], json!({"n": 2}));

    let e = kv
        .bad_request(
            Operation::Update,
            "data/c",
            json!({"data": {"n": 3}, "options": {"cas": "two"}}),
        )
        .await;
    assert!(e.contains("options.cas"), "{e}");
    let e = kv
        .bad_request(
            Operation::Update,
            "data/c",
            json!({"data": {}, "options": 3}),
        )
        .await;
    assert!(e.contains("\"options\""), "{e}");
}

#[tokio::test]
async fn cas_required_by_mount_or_secret() {
    let kv = Kv::v2();
    kv.write("config", json!({"cas_required": true})).await;
    let e = kv
        .bad_request(Operation::Update, "data/r", json!({"data": {"a": 1}}))
        .await;
    assert!(e.contains(CAS_REQUIRED), "{e}");
    assert_plain_404(&kv.read("data/r").await);
    kv.write("data/r", json!({"data": {"a": 1}, "options": {"cas": 0}}))
        .await;

    // A secret asking for cas_required=false under such a mount gets Vault's warning.
    let w = kv.write("metadata/r", json!({"cas_required": false})).await;
    assert!(
        w.warnings
            .iter()
            .any(|w| w.contains("mandated by backend config")),
        "{w:?}"
    );

    let kv = Kv::v2();
    kv.write("metadata/k", json!({"cas_required": true})).await;
    let e = kv
        .bad_request(Operation::Update, "data/k", json!({"data": {"a": 1}}))
        .await;
    assert!(e.contains(CAS_REQUIRED), "{e}");
    // Metadata without versions: current_version is 0, so cas=0 works.
    let w = kv
        .write("data/k", json!({"data": {"a": 1}, "options": {"cas": 0}}))
        .await;
    assert_eq!(body(&w)["version"], json!(1));
    // Patches honour it too.
    let e = kv
        .bad_request(Operation::Patch, "data/k", json!({"data": {"b": 2}}))
        .await;
    assert!(e.contains(CAS_REQUIRED), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cas_writers_exactly_one_wins() {
    let kv = Arc::new(Kv::v2());
    for round in 0..5 {
        let path = format!("data/race{round}");
        let mut tasks = Vec::new();
        for i in 0..16 {
            let kv = kv.clone();
            let path = path.clone();
            tasks.push(tokio::spawn(async move {
                kv.call(
                    Operation::Update,
                    &path,
                    json!({"data": {"writer": i}, "options": {"cas": 0}}),
                )
                .await
            }));
        }
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(r) => {
                    assert_eq!(body(&r)["version"], json!(1));
                    wins += 1;
                }
                Err(e) => assert!(e.to_string().contains(CAS_MISMATCH), "{e}"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
        let meta = body(&kv.read(&path.replace("data/", "metadata/")).await);
        assert_eq!(meta["current_version"], json!(1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_lose_no_version() {
    let kv = Arc::new(Kv::v2());
    kv.write("metadata/busy", json!({"max_versions": 100}))
        .await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let kv = kv.clone();
        tasks.push(tokio::spawn(async move {
            kv.call(Operation::Update, "data/busy", json!({"data": {"i": i}}))
                .await
                .map(|r| body(&r)["version"].as_u64().unwrap())
        }));
    }
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.unwrap().unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=24).collect::<Vec<u64>>());
    let meta = body(&kv.read("metadata/busy").await);
    assert_eq!(meta["versions"].as_object().unwrap().len(), 24);
}

#[tokio::test]
async fn versions_beyond_max_are_pruned() {
    let kv = Kv::v2();
    kv.write("config", json!({"max_versions": 3})).await;
    for i in 1..=5 {
        kv.write("data/p", json!({"data": {"i": i}})).await;
    }
    let meta = body(&kv.read("metadata/p").await);
    assert_eq!(meta["current_version"], json!(5));
    assert_eq!(meta["oldest_version"], json!(3));
    let mut kept: Vec<&String> = meta["versions"].as_object().unwrap().keys().collect();
    kept.sort();
    assert_eq!(kept, vec!["3", "4", "5"]);
    for gone in [1, 2] {
        assert!(!kv.stored(&format!("versions/p/{gone}")).await);
        let r = kv
            .call(Operation::Read, "data/p", json!({"version": gone}))
            .await
            .unwrap();
        assert_plain_404(&r);
    }
    assert!(kv.stored("versions/p/3").await);

    // The secret's own max_versions overrides the mount's.
    kv.write("metadata/p", json!({"max_versions": 1})).await;
    kv.write("data/p", json!({"data": {"i": 6}})).await;
    let meta = body(&kv.read("metadata/p").await);
    assert_eq!(meta["versions"].as_object().unwrap().len(), 1);
    assert_eq!(meta["oldest_version"], json!(6));
    for gone in 3..=5 {
        assert!(!kv.stored(&format!("versions/p/{gone}")).await);
    }

    // Default: ten versions (max_versions 0 resets the mount to it).
    kv.write("config", json!({"max_versions": 0})).await;
    for i in 0..12 {
        kv.write("data/d", json!({"data": {"i": i}})).await;
    }
    let meta = body(&kv.read("metadata/d").await);
    assert_eq!(meta["versions"].as_object().unwrap().len(), 10);
    assert_eq!(meta["oldest_version"], json!(3));
}

#[tokio::test]
async fn delete_version_after_expires_versions() {
    let kv = Kv::v2();
    kv.write("config", json!({"delete_version_after": "1s"}))
        .await;
    let w = kv.write("data/e", json!({"data": {"a": 1}})).await;
    // The deadline is visible from the start.
    assert_eq!(
        body(&w)["deletion_time"],
        json!("2024-05-06T07:08:10.123456789Z")
    );
    assert_eq!(status(&kv.read("data/e").await), 200);

    kv.clock.advance(Duration::milliseconds(1100));
    let r = kv.read("data/e").await;
    assert_eq!(status(&r), 404);
    assert_eq!(body(&r)["data"], Value::Null);
    assert_eq!(
        body(&r)["metadata"]["deletion_time"],
        json!("2024-05-06T07:08:10.123456789Z")
    );
    // Patch refuses an expired secret with the version's metadata.
    let p = kv
        .call(Operation::Patch, "data/e", json!({"data": {"b": 2}}))
        .await
        .unwrap();
    assert_eq!(status(&p), 404);
    assert_eq!(body(&p)["version"], json!(1));

    // The smaller of the mount's and the secret's settings wins.
    kv.write("metadata/f", json!({"delete_version_after": "500ms"}))
        .await;
    let w = kv.write("data/f", json!({"data": {"a": 1}})).await;
    assert_eq!(
        body(&w)["deletion_time"],
        json!("2024-05-06T07:08:10.723456789Z")
    );

    // A negative mount value disables deadlines everywhere; it reads back as Vault's -1s.
    kv.write("config", json!({"delete_version_after": -1}))
        .await;
    assert_eq!(
        body(&kv.read("config").await)["delete_version_after"],
        json!("-1s")
    );
    let w = kv.write("data/f", json!({"data": {"a": 2}})).await;
    assert_eq!(body(&w)["deletion_time"], json!(""));

    // Undelete of an expired version gives it a fresh deadline when one applies.
    kv.write("config", json!({"delete_version_after": "10s"}))
        .await;
    kv.write("undelete/e", json!({"versions": [1]})).await;
    let r = kv.read("data/e").await;
    assert_eq!(status(&r), 200);
    assert_eq!(
        body(&r)["metadata"]["deletion_time"],
        json!("2024-05-06T07:08:20.223456789Z")
    );
}

#[tokio::test]
async fn delete_version_after_with_the_real_clock() {
    let engine = Arc::new(KvBackend::new());
    let kv = common::Kv {
        engine,
        view: common::view(),
        mount: common::mount("kv", Some("2")),
        clock: Arc::new(common::ManualClock::new()),
    };
    kv.write("config", json!({"delete_version_after": 1})).await;
    kv.write("data/t", json!({"data": {"a": 1}})).await;
    assert_eq!(status(&kv.read("data/t").await), 200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = kv.read("data/t").await;
    assert_eq!(status(&r), 404);
    assert_eq!(body(&r)["data"], Value::Null);
}

#[tokio::test]
async fn merge_patch() {
    let kv = Kv::v2();
    kv.write(
        "data/m",
        json!({"data": {"a": 1, "b": {"c": 2, "d": 3}, "keep": "x"}}),
    )
    .await;
    let p = kv
        .call(
            Operation::Patch,
            "data/m",
            json!({"data": {"a": null, "b": {"c": null, "e": 4}, "f": [1, 2]}, "options": {"cas": 1}}),
        )
        .await
        .unwrap();
    assert_eq!(status(&p), 200);
    assert_eq!(body(&p)["version"], json!(2));
    assert_eq!(
        body(&kv.read("data/m").await)["data"],
        json!({"b": {"d": 3, "e": 4}, "keep": "x", "f": [1, 2]})
    );

    let e = kv
        .bad_request(
            Operation::Patch,
            "data/m",
            json!({"data": {"z": 1}, "options": {"cas": 1}}),
        )
        .await;
    assert!(e.contains(CAS_MISMATCH), "{e}");
    let e = kv.bad_request(Operation::Patch, "data/m", json!({})).await;
    assert!(e.contains("no data provided"), "{e}");

    // Nothing to patch: 404.
    let p = kv
        .call(Operation::Patch, "data/none", json!({"data": {"a": 1}}))
        .await
        .unwrap();
    assert_plain_404(&p);
    // A soft-deleted current version cannot be patched.
    kv.call(Operation::Delete, "data/m", Value::Null)
        .await
        .unwrap();
    kv.clock.advance(Duration::milliseconds(1));
    let p = kv
        .call(Operation::Patch, "data/m", json!({"data": {"a": 1}}))
        .await
        .unwrap();
    assert_eq!(status(&p), 404);
    assert_eq!(body(&p)["version"], json!(2));
    assert_ne!(body(&p)["deletion_time"], json!(""));
}

#[tokio::test]
async fn metadata_read_write_patch_delete() {
    let kv = Kv::v2();
    // Metadata can exist before any version.
    let w = kv
        .write(
            "metadata/app",
            json!({
                "max_versions": 5,
                "cas_required": false,
                "delete_version_after": "3h",
                "custom_metadata": {"owner": "team-a", "tier": 1}
            }),
        )
        .await;
    assert_eq!(status(&w), 204);
    assert!(kv.exists("data/app").await);
    assert_plain_404(&kv.read("data/app").await);

    kv.clock.advance(Duration::seconds(2));
    let wd = kv.write("data/app", json!({"data": {"k": "v"}})).await;
    assert_eq!(
        body(&wd)["custom_metadata"],
        json!({"owner": "team-a", "tier": "1"})
    );
    let r = kv.read("data/app").await;
    assert_eq!(
        body(&r)["metadata"]["custom_metadata"],
        json!({"owner": "team-a", "tier": "1"})
    );

    let m = body(&kv.read("metadata/app").await);
    assert_eq!(m["max_versions"], json!(5));
    assert_eq!(m["cas_required"], json!(false));
    assert_eq!(m["delete_version_after"], json!("3h0m0s"));
    assert_eq!(m["current_version"], json!(1));
    assert_eq!(m["oldest_version"], json!(0));
    assert_eq!(m["created_time"], json!("2024-05-06T07:08:09.123456789Z"));
    assert_eq!(m["updated_time"], json!("2024-05-06T07:08:11.123456789Z"));
    assert_eq!(
        m["versions"]["1"],
        json!({"created_time": "2024-05-06T07:08:11.123456789Z", "deletion_time": "2024-05-06T10:08:11.123456789Z", "destroyed": false})
    );
    let keys: Vec<&String> = m.as_object().unwrap().keys().collect();
    for k in [
        "cas_required",
        "created_time",
        "current_version",
        "custom_metadata",
        "delete_version_after",
        "max_versions",
        "oldest_version",
        "updated_time",
        "versions",
    ] {
        assert!(keys.contains(&&k.to_string()), "missing {k} in {m}");
    }

    // PATCH merges custom_metadata (null removes a key) and leaves other fields alone.
    let p = kv
        .call(
            Operation::Patch,
            "metadata/app",
            json!({"custom_metadata": {"tier": null, "env": "prod"}, "max_versions": 7}),
        )
        .await
        .unwrap();
    assert_eq!(status(&p), 204);
    let m = body(&kv.read("metadata/app").await);
    assert_eq!(
        m["custom_metadata"],
        json!({"owner": "team-a", "env": "prod"})
    );
    assert_eq!(m["max_versions"], json!(7));
    assert_eq!(m["delete_version_after"], json!("3h0m0s"));
    // PATCH of missing metadata is a 404.
    let p = kv
        .call(
            Operation::Patch,
            "metadata/none",
            json!({"max_versions": 1}),
        )
        .await
        .unwrap();
    assert_plain_404(&p);

    // POST replaces custom_metadata wholesale; hvac always sends delete_version_after.
    kv.write(
        "metadata/app",
        json!({"custom_metadata": {"only": "this"}, "delete_version_after": "0s"}),
    )
    .await;
    let m = body(&kv.read("metadata/app").await);
    assert_eq!(m["custom_metadata"], json!({"only": "this"}));
    assert_eq!(m["delete_version_after"], json!("0s"));
    assert_eq!(m["max_versions"], json!(7));

    // DELETE removes every version and the metadata.
    kv.write("data/app", json!({"data": {"k": "v2"}})).await;
    assert!(kv.stored("versions/app/1").await && kv.stored("versions/app/2").await);
    let d = kv
        .call(Operation::Delete, "metadata/app", Value::Null)
        .await
        .unwrap();
    assert_eq!(status(&d), 204);
    assert_plain_404(&kv.read("metadata/app").await);
    assert_plain_404(&kv.read("data/app").await);
    assert!(!kv.stored("versions/app/1").await);
    assert!(!kv.stored("versions/app/2").await);
    assert!(!kv.stored("metadata/app").await);
    assert!(!kv.exists("data/app").await);
    // Writing again starts over at version 1.
    let w = kv.write("data/app", json!({"data": {"k": "new"}})).await;
    assert_eq!(body(&w)["version"], json!(1));
}

#[tokio::test]
async fn metadata_inputs_are_validated_and_nothing_is_written() {
    let kv = Kv::v2();
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases = [
        (json!({"custom_metadata": many}), "at most 64 keys"),
        (
            json!({"custom_metadata": {"k".repeat(129): "v"}}),
            "length of key",
        ),
        (
            json!({"custom_metadata": {"k": "v".repeat(513)}}),
            "length of value",
        ),
        (json!({"custom_metadata": "owner=me"}), "custom_metadata"),
        (json!({"max_versions": -1}), "max_versions"),
        (json!({"max_versions": "lots"}), "max_versions"),
        (json!({"cas_required": "maybe"}), "cas_required"),
        (
            json!({"delete_version_after": "soon"}),
            "delete_version_after",
        ),
        (json!({"delete_version_after": "-5s"}), "cannot be negative"),
    ];
    for (input, want) in cases {
        let e = kv
            .bad_request(Operation::Update, "metadata/v", input.clone())
            .await;
        assert!(e.contains(want), "{input}: {e}");
        assert!(!kv.stored("metadata/v").await, "{input} wrote something");
    }
    kv.write("metadata/v", json!({"custom_metadata": {"a": "b"}}))
        .await;
    let e = kv
        .bad_request(
            Operation::Patch,
            "metadata/v",
            json!({"custom_metadata": {"k": "v".repeat(513)}}),
        )
        .await;
    assert!(e.contains("length of value"), "{e}");
    assert_eq!(
        body(&kv.read("metadata/v").await)["custom_metadata"],
        json!({"a": "b"})
    );
}

#[tokio::test]
async fn subkeys_with_depth() {
    let kv = Kv::v2();
    kv.write(
        "data/sk",
        json!({"data": {"foo": "abc", "bar": {"baz": "def", "deep": {"x": 1}}, "quux": {}}}),
    )
    .await;
    let r = kv.read("subkeys/sk").await;
    assert_eq!(status(&r), 200);
    let b = body(&r);
    assert_eq!(
        b["subkeys"],
        json!({"foo": null, "bar": {"baz": null, "deep": {"x": null}}, "quux": null})
    );
    assert_eq!(b["metadata"]["version"], json!(1));
    let r = kv
        .call(Operation::Read, "subkeys/sk", json!({"depth": "1"}))
        .await
        .unwrap();
    assert_eq!(
        body(&r)["subkeys"],
        json!({"foo": null, "bar": null, "quux": null})
    );
    let r = kv
        .call(
            Operation::Read,
            "subkeys/sk",
            json!({"depth": 2, "version": 1}),
        )
        .await
        .unwrap();
    assert_eq!(
        body(&r)["subkeys"],
        json!({"foo": null, "bar": {"baz": null, "deep": null}, "quux": null})
    );
    let e = kv
        .bad_request(Operation::Read, "subkeys/sk", json!({"depth": "deep"}))
        .await;
    assert!(e.contains("depth"), "{e}");
    // Deleted: 404 with metadata and subkeys = null.
    kv.call(Operation::Delete, "data/sk", Value::Null)
        .await
        .unwrap();
    kv.clock.advance(Duration::milliseconds(1));
    let r = kv.read("subkeys/sk").await;
    assert_eq!(status(&r), 404);
    assert_eq!(body(&r)["subkeys"], Value::Null);
    assert_eq!(body(&r)["metadata"]["version"], json!(1));
}

#[tokio::test]
async fn list_folders() {
    let kv = Kv::v2();
    for p in ["a", "a/b", "c/d/e", "c/f"] {
        kv.write(&format!("data/{p}"), json!({"data": {"x": 1}}))
            .await;
    }
    // Metadata-only secrets are listed too.
    kv.write("metadata/g", json!({"max_versions": 2})).await;
    let keys = |r: &hush_core::logical::Response| body(r)["keys"].clone();
    assert_eq!(
        keys(&kv.list("metadata/").await),
        json!(["a", "a/", "c/", "g"])
    );
    assert_eq!(
        keys(&kv.list("metadata").await),
        json!(["a", "a/", "c/", "g"])
    );
    assert_eq!(keys(&kv.list("metadata/c").await), json!(["d/", "f"]));
    assert_eq!(keys(&kv.list("metadata/c/").await), json!(["d/", "f"]));
    assert_plain_404(&kv.list("metadata/nope/").await);
    assert_plain_404(&Kv::v2().list("metadata/").await);

    // LIST on data/ is not an endpoint; the error points to metadata/.
    let e = kv
        .call(Operation::List, "data/c", Value::Null)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 405);
    assert!(e.to_string().contains("metadata/c/"), "{e}");
}

#[tokio::test]
async fn config_read_write() {
    let kv = Kv::v2();
    assert_eq!(
        body(&kv.read("config").await),
        json!({"max_versions": 0, "cas_required": false, "delete_version_after": "0s"})
    );
    // hvac's configure() payload.
    let w = kv
        .write(
            "config",
            json!({"max_versions": 10, "delete_version_after": "0s"}),
        )
        .await;
    assert_eq!(status(&w), 204);
    kv.write(
        "config",
        json!({"max_versions": "5", "cas_required": "true", "delete_version_after": 10800}),
    )
    .await;
    assert_eq!(
        body(&kv.read("config").await),
        json!({"max_versions": 5, "cas_required": true, "delete_version_after": "3h0m0s"})
    );
    // Partial updates keep the other fields.
    kv.write("config", json!({"delete_version_after": "3h25m19s"}))
        .await;
    assert_eq!(
        body(&kv.read("config").await),
        json!({"max_versions": 5, "cas_required": true, "delete_version_after": "3h25m19s"})
    );
    for (bad, field) in [
        (json!({"max_versions": "x"}), "max_versions"),
        (json!({"max_versions": 1.5}), "max_versions"),
        (json!({"max_versions": 4_294_967_296_u64}), "max_versions"),
        (json!({"cas_required": []}), "cas_required"),
        (
            json!({"delete_version_after": "3 days"}),
            "delete_version_after",
        ),
        (
            json!({"delete_version_after": true}),
            "delete_version_after",
        ),
    ] {
        let e = kv
            .bad_request(Operation::Update, "config", bad.clone())
            .await;
        assert!(e.contains(field), "{bad}: {e}");
    }
    assert_eq!(body(&kv.read("config").await)["max_versions"], json!(5));
    // A typo is ignored with a warning that names it.
    let w = kv.write("config", json!({"max_version": 3})).await;
    assert!(
        w.warnings.iter().any(|w| w.contains("max_version")),
        "{w:?}"
    );
    assert_eq!(body(&kv.read("config").await)["max_versions"], json!(5));
    // config only reads and writes.
    let e = kv
        .call(Operation::Delete, "config", Value::Null)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 405);
}

#[tokio::test]
async fn bad_data_writes_are_400s_that_write_nothing() {
    let kv = Kv::v2();
    let cases = [
        (json!({}), "no data provided"),
        (json!({"data": null}), "no data provided"),
        (json!({"data": "text"}), "\"data\""),
        (json!({"data": [1, 2]}), "\"data\""),
        (json!({"foo": "bar"}), "no data provided"),
    ];
    for (input, want) in cases {
        let e = kv
            .bad_request(Operation::Update, "data/w", input.clone())
            .await;
        assert!(e.contains(want), "{input}: {e}");
    }
    assert!(!kv.stored("metadata/w").await);
    let e = kv
        .bad_request(Operation::Read, "data/w", json!({"version": "latest"}))
        .await;
    assert!(e.contains("\"version\""), "{e}");
    let e = kv
        .bad_request(Operation::Update, "data/", json!({"data": {"a": 1}}))
        .await;
    assert!(
        e.contains("missing path") && e.contains("secret/data/"),
        "{e}"
    );
    let e = kv
        .bad_request(Operation::Update, "data/dir/", json!({"data": {"a": 1}}))
        .await;
    assert!(e.contains("ends with '/'"), "{e}");
    let e = kv
        .bad_request(Operation::Update, "data/a/../b", json!({"data": {"a": 1}}))
        .await;
    assert!(e.contains("'..'"), "{e}");
    // An empty object is a valid secret.
    let w = kv.write("data/empty", json!({"data": {}})).await;
    assert_eq!(body(&w)["version"], json!(1));
    assert_eq!(body(&kv.read("data/empty").await)["data"], json!({}));
}

#[tokio::test]
async fn unknown_paths_and_operations() {
    let kv = Kv::v2();
    for (op, path) in [
        (Operation::Read, "app/db"),
        (Operation::Update, "app/db"),
        (Operation::Read, ""),
        (Operation::Read, "config/x"),
    ] {
        let e = kv.call(op, path, json!({"a": 1})).await.unwrap_err();
        assert_eq!(e.status(), 404, "{path}");
        assert!(
            e.to_string()
                .contains("Invalid path for a versioned K/V secrets engine"),
            "{e}"
        );
    }
    let e = kv
        .call(Operation::Read, "delete/x", Value::Null)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 405);
    assert!(e.to_string().contains("POST/PUT"), "{e}");
    let e = kv
        .call(Operation::Delete, "subkeys/x", Value::Null)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 405);
}

#[tokio::test]
async fn existence_decides_create_or_update() {
    let kv = Kv::v2();
    assert!(!kv.exists("data/new").await);
    assert!(!kv.exists("metadata/new").await);
    kv.write("data/new", json!({"data": {"a": 1}})).await;
    assert!(kv.exists("data/new").await);
    assert!(kv.exists("metadata/new").await);
    // Still "exists" once every version is deleted, as in Vault.
    kv.call(Operation::Delete, "data/new", Value::Null)
        .await
        .unwrap();
    assert!(kv.exists("data/new").await);
    assert!(kv.exists("config").await);
    assert!(kv.exists("destroy/new").await);
}

#[tokio::test]
async fn stored_data_is_encrypted_and_bound_to_its_path() {
    let kv = Kv::v2();
    kv.write(
        "data/enc",
        json!({"data": {"password": "hunter2-very-secret"}}),
    )
    .await;
    // Every value under the mount decrypts through the view and is JSON.
    let raw = kv.view.get("versions/enc/1").await.unwrap().unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&raw).unwrap(),
        json!({"password": "hunter2-very-secret"})
    );
    // Debug output of the engine names no secret.
    let dbg = format!("{:?}", KvBackend::new());
    assert!(dbg.contains("KvBackend"));
}

#[tokio::test]
async fn kv_v2_alias_and_registry() {
    let mut registry = hush_core::engine::Registry::new();
    hush_engines::register(&mut registry);
    let kinds = registry.kinds();
    assert!(kinds.contains(&"kv".to_string()) && kinds.contains(&"kv-v2".to_string()));

    // kv-v2 is version 2 even without options.
    let alias = common::mount("kv-v2", None);
    let engine = registry.create(&alias).unwrap();
    let kv = common::Kv {
        engine,
        view: common::view(),
        mount: alias,
        clock: Arc::new(common::ManualClock::new()),
    };
    let w = kv.write("data/x", json!({"data": {"a": 1}})).await;
    assert_eq!(body(&w)["version"], json!(1));
    assert_eq!(KvBackend::v2_only().version_for(&kv.mount), KvVersion::V2);

    // kv follows options.version, and refuses nonsense.
    assert_eq!(
        KvVersion::of_mount(&common::mount("kv", Some("2"))),
        KvVersion::V2
    );
    assert_eq!(
        KvVersion::of_mount(&common::mount("kv", None)),
        KvVersion::V1
    );
    let e = registry
        .create(&common::mount("kv", Some("3")))
        .err()
        .expect("version 3 must be refused");
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("options.version"), "{e}");
}

#[test]
fn mount_rules_normalize_refuse_version_changes_and_give_the_dev_mount() {
    let mut registry = hush_core::engine::Registry::new();
    hush_engines::kv::register(&mut registry);
    // (type, options.version) as sent -> as stored.
    for (kind, version, want_kind, want_version) in [
        ("kv-v2", None, "kv", Some("2")),
        ("kv-v2", Some("1"), "kv", Some("2")),
        ("kv", Some("v2"), "kv", Some("2")),
        ("kv", Some(" 1 "), "kv", Some("1")),
        ("kv", None, "kv", None),
    ] {
        let mut entry = common::mount(kind, version);
        registry.normalize(&mut entry);
        assert_eq!(entry.kind, want_kind, "{kind} {version:?}");
        assert_eq!(
            entry.options.get("version").map(String::as_str),
            want_version,
            "{kind} {version:?}"
        );
    }
    // (stored version, tuned version) -> accepted?
    for (stored, tuned, ok) in [
        (Some("2"), "2", true),
        (Some("2"), "v2", true),
        (None, "1", true),
        (Some("1"), "2", false),
        (Some("2"), "1", false),
        (None, "2", false),
    ] {
        let entry = common::mount("kv", stored);
        let mut options = std::collections::BTreeMap::new();
        options.insert("version".to_string(), tuned.to_string());
        let r = registry.tune_options(&entry, &mut options);
        assert_eq!(r.is_ok(), ok, "{stored:?} -> {tuned}: {r:?}");
        if let Err(e) = r {
            assert_eq!(e.status(), 400);
            assert!(e.to_string().contains("hush export"), "{e}");
        } else {
            assert_eq!(options["version"], tuned.trim_start_matches('v'));
        }
    }
    let dev = registry.dev_mounts();
    assert_eq!(dev.len(), 1);
    assert_eq!(dev[0].path, "secret/");
    assert_eq!(dev[0].kind, "kv");
    assert_eq!(dev[0].options.get("version").map(String::as_str), Some("2"));
}
