//! AppRole: roles, role IDs, secret IDs and their limits.

use serde_json::{json, Value};

use crate::helpers::{data, Harness};

async fn setup(role: &str, body: Value) -> (Harness, String) {
    let h = Harness::new().await;
    h.enable("approle", "approle").await;
    h.write(&format!("auth/approle/role/{role}"), body)
        .await
        .unwrap();
    let r = h
        .read(&format!("auth/approle/role/{role}/role-id"))
        .await
        .unwrap();
    let role_id = data(&r)["role_id"].as_str().unwrap().to_string();
    (h, role_id)
}

async fn secret_id(h: &Harness, role: &str, body: Value) -> (String, String) {
    let r = h
        .write(&format!("auth/approle/role/{role}/secret-id"), body)
        .await
        .unwrap();
    let d = data(&r);
    (
        d["secret_id"].as_str().unwrap().to_string(),
        d["secret_id_accessor"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn role_secret_id_with_metadata_and_login() {
    let (h, role_id) = setup(
        "web",
        json!({"token_policies": ["web"], "token_ttl": "20m", "secret_id_ttl": "1h",
               "secret_id_num_uses": 10}),
    )
    .await;
    assert_eq!(role_id.len(), 36, "a UUID-style role ID");
    let read = h.read("auth/approle/role/web").await.unwrap();
    let d = data(&read);
    assert_eq!(d["bind_secret_id"], true);
    assert_eq!(d["secret_id_ttl"], 3600);
    assert_eq!(d["secret_id_num_uses"], 10);
    assert_eq!(d["token_policies"], json!(["web"]));
    assert_eq!(d["policies"], json!(["web"]));
    assert_eq!(d["period"], 0);
    assert_eq!(d["token_ttl"], 1200);
    assert_eq!(
        data(&h.list("auth/approle/role").await.unwrap())["keys"],
        json!(["web"])
    );

    // hvac sends metadata as a JSON-encoded string.
    let r = h
        .write(
            "auth/approle/role/web/secret-id",
            json!({"metadata": "{\"team\": \"payments\"}"}),
        )
        .await
        .unwrap();
    let d = data(&r);
    assert_eq!(d["secret_id_ttl"], 3600);
    assert_eq!(d["secret_id_num_uses"], 10);
    let sid = d["secret_id"].as_str().unwrap().to_string();
    let accessor = d["secret_id_accessor"].as_str().unwrap().to_string();

    let auth = h
        .login_ok(
            "auth/approle/login",
            json!({"role_id": role_id, "secret_id": sid}),
        )
        .await;
    assert_eq!(auth.policies, ["default", "web"]);
    assert_eq!(auth.lease_duration, 1200);
    let meta = auth.metadata.unwrap();
    assert_eq!(meta["role_name"], "web");
    assert_eq!(meta["team"], "payments");
    let me = h.lookup_self(&auth.client_token).await;
    assert_eq!(me["display_name"], "approle");

    // One use is gone.
    let r = h
        .write(
            "auth/approle/role/web/secret-id/lookup",
            json!({"secret_id": sid}),
        )
        .await
        .unwrap();
    let d = data(&r);
    assert_eq!(d["secret_id_num_uses"], 9);
    assert_eq!(d["secret_id_accessor"], accessor);
    assert_eq!(d["metadata"], json!({"team": "payments"}));
    assert!(d["expiration_time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        data(&h.list("auth/approle/role/web/secret-id").await.unwrap())["keys"],
        json!([accessor])
    );
}

#[tokio::test]
async fn role_id_read_and_set() {
    let (h, old_id) = setup("svc", json!({})).await;
    h.write(
        "auth/approle/role/svc/role-id",
        json!({"role_id": "my-custom-role-id"}),
    )
    .await
    .unwrap();
    let r = h.read("auth/approle/role/svc/role-id").await.unwrap();
    assert_eq!(data(&r)["role_id"], "my-custom-role-id");
    let (sid, _) = secret_id(&h, "svc", json!({})).await;
    h.login_fails(
        "auth/approle/login",
        json!({"role_id": old_id, "secret_id": sid}),
        400,
        "invalid role ID or secret ID",
    )
    .await;
    h.login_ok(
        "auth/approle/login",
        json!({"role_id": "my-custom-role-id", "secret_id": sid}),
    )
    .await;
    // A role ID belongs to one role.
    h.write("auth/approle/role/other", json!({})).await.unwrap();
    let e = h
        .write(
            "auth/approle/role/other/role-id",
            json!({"role_id": "my-custom-role-id"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(
        e.to_string().contains("already used by another role"),
        "{e}"
    );
    // Role IDs can also be chosen at creation.
    h.write("auth/approle/role/third", json!({"role_id": "third-id"}))
        .await
        .unwrap();
    let r = h.read("auth/approle/role/third/role-id").await.unwrap();
    assert_eq!(data(&r)["role_id"], "third-id");
}

#[tokio::test]
async fn unknown_role_and_wrong_secret_look_the_same() {
    let (h, role_id) = setup("app", json!({})).await;
    let (sid, _) = secret_id(&h, "app", json!({})).await;
    let a = h
        .login_fails(
            "auth/approle/login",
            json!({"role_id": role_id, "secret_id": "not-the-secret"}),
            400,
            "invalid role ID or secret ID",
        )
        .await;
    let b = h
        .login_fails(
            "auth/approle/login",
            json!({"role_id": "no-such-role-id", "secret_id": sid}),
            400,
            "invalid role ID or secret ID",
        )
        .await;
    assert_eq!(a, b);
    h.login_fails(
        "auth/approle/login",
        json!({"role_id": role_id}),
        400,
        "invalid role ID or secret ID",
    )
    .await;
    h.login_fails(
        "auth/approle/login",
        json!({"secret_id": sid}),
        400,
        "missing 'role_id'",
    )
    .await;
}

#[tokio::test]
async fn num_uses_run_out() {
    let (h, role_id) = setup("batchjob", json!({})).await;
    let (sid, _) = secret_id(&h, "batchjob", json!({"num_uses": 2})).await;
    let body = json!({"role_id": role_id, "secret_id": sid});
    h.login_ok("auth/approle/login", body.clone()).await;
    h.login_ok("auth/approle/login", body.clone()).await;
    h.login_fails(
        "auth/approle/login",
        body,
        400,
        "invalid role ID or secret ID",
    )
    .await;
    // The used-up secret ID is gone.
    let r = h
        .write(
            "auth/approle/role/batchjob/secret-id/lookup",
            json!({"secret_id": sid}),
        )
        .await
        .unwrap();
    assert!(r.data.is_none());
    assert_eq!(
        h.list("auth/approle/role/batchjob/secret-id")
            .await
            .unwrap()
            .status,
        Some(404)
    );
}

#[tokio::test]
async fn secret_ids_expire() {
    let (h, role_id) = setup("short", json!({})).await;
    let (sid, _) = secret_id(&h, "short", json!({"ttl": "1s"})).await;
    secret_id(&h, "short", json!({"ttl": 1})).await;
    let (_, kept) = secret_id(&h, "short", json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    h.login_fails(
        "auth/approle/login",
        json!({"role_id": role_id, "secret_id": sid}),
        400,
        "invalid role ID or secret ID",
    )
    .await;
    // The failed login removed its expired secret ID; tidy removes the other one.
    let r = h
        .write("auth/approle/tidy/secret-id", json!({}))
        .await
        .unwrap();
    assert!(
        r.warnings[0].contains("1 expired secret IDs removed"),
        "{:?}",
        r.warnings
    );
    let listed = h.list("auth/approle/role/short/secret-id").await.unwrap();
    assert_eq!(data(&listed)["keys"], json!([kept]));
}

#[tokio::test]
async fn secret_id_limits_cannot_exceed_the_role() {
    let (h, _) = setup(
        "limited",
        json!({"secret_id_ttl": 600, "secret_id_num_uses": 5,
               "secret_id_bound_cidrs": ["10.0.0.0/8"]}),
    )
    .await;
    let cases = [
        (json!({"ttl": 3600}), "secret_id_ttl"),
        (json!({"num_uses": 50}), "secret_id_num_uses"),
        (json!({"num_uses": 0}), "secret_id_num_uses"),
        (
            json!({"cidr_list": "192.168.0.0/16"}),
            "secret_id_bound_cidrs",
        ),
        (json!({"metadata": "not json"}), "'metadata'"),
        (json!({"metadata": {"n": 1}}), "'metadata'"),
    ];
    for (body, needle) in cases {
        let e = h
            .write("auth/approle/role/limited/secret-id", body)
            .await
            .unwrap_err();
        assert_eq!(e.status(), 400, "{e}");
        assert!(
            e.to_string().contains(needle),
            "\"{e}\" should mention {needle}"
        );
    }
    let r = h
        .write(
            "auth/approle/role/limited/secret-id",
            json!({"ttl": 60, "num_uses": 2}),
        )
        .await
        .unwrap();
    assert_eq!(data(&r)["secret_id_ttl"], 60);
    assert_eq!(data(&r)["secret_id_num_uses"], 2);
}

#[tokio::test]
async fn cidr_mismatch() {
    let (h, role_id) = setup("net", json!({"secret_id_bound_cidrs": "10.0.0.0/8"})).await;
    let (sid, _) = secret_id(&h, "net", json!({"cidr_list": ["10.1.0.0/16"]})).await;
    let body = json!({"role_id": role_id, "secret_id": sid});
    h.login_fails_from(
        "auth/approle/login",
        body.clone(),
        Some("192.168.0.9".parse().unwrap()),
        400,
        "192.168.0.9",
    )
    .await;
    // Inside the role's block but outside the secret ID's.
    let msg = h
        .login_fails_from(
            "auth/approle/login",
            body.clone(),
            Some("10.2.0.1".parse().unwrap()),
            400,
            "cidr_list",
        )
        .await;
    assert!(msg.contains("10.2.0.1"), "{msg}");
    let r = h
        .login_from(
            "auth/approle/login",
            body,
            Some("10.1.4.4".parse().unwrap()),
        )
        .await
        .unwrap();
    assert!(!r.auth.unwrap().client_token.is_empty());
}

#[tokio::test]
async fn lookup_and_destroy_by_id_and_accessor() {
    let (h, role_id) = setup("ops", json!({})).await;
    let (sid1, acc1) = secret_id(&h, "ops", json!({})).await;
    let (sid2, acc2) = secret_id(&h, "ops", json!({})).await;
    let r = h
        .write(
            "auth/approle/role/ops/secret-id-accessor/lookup",
            json!({"secret_id_accessor": acc1}),
        )
        .await
        .unwrap();
    assert_eq!(data(&r)["secret_id_accessor"], acc1);
    assert_eq!(data(&r)["expiration_time"], "0001-01-01T00:00:00Z");

    h.write(
        "auth/approle/role/ops/secret-id/destroy",
        json!({"secret_id": sid1}),
    )
    .await
    .unwrap();
    h.login_fails(
        "auth/approle/login",
        json!({"role_id": role_id, "secret_id": sid1}),
        400,
        "invalid role ID or secret ID",
    )
    .await;
    let e = h
        .write(
            "auth/approle/role/ops/secret-id-accessor/lookup",
            json!({"secret_id_accessor": acc1}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);
    assert!(e.to_string().contains(&acc1), "{e}");

    h.login_ok(
        "auth/approle/login",
        json!({"role_id": role_id, "secret_id": sid2}),
    )
    .await;
    h.write(
        "auth/approle/role/ops/secret-id-accessor/destroy",
        json!({"secret_id_accessor": acc2}),
    )
    .await
    .unwrap();
    h.login_fails(
        "auth/approle/login",
        json!({"role_id": role_id, "secret_id": sid2}),
        400,
        "invalid role ID or secret ID",
    )
    .await;
    assert_eq!(
        h.list("auth/approle/role/ops/secret-id")
            .await
            .unwrap()
            .status,
        Some(404)
    );
}

#[tokio::test]
async fn custom_secret_id() {
    let (h, role_id) = setup("push", json!({})).await;
    let r = h
        .write(
            "auth/approle/role/push/custom-secret-id",
            json!({"secret_id": "my-chosen-secret", "metadata": {"env": "ci"}}),
        )
        .await
        .unwrap();
    assert_eq!(data(&r)["secret_id"], "my-chosen-secret");
    let e = h
        .write(
            "auth/approle/role/push/custom-secret-id",
            json!({"secret_id": "my-chosen-secret"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("already registered"), "{e}");
    let auth = h
        .login_ok(
            "auth/approle/login",
            json!({"role_id": role_id, "secret_id": "my-chosen-secret"}),
        )
        .await;
    assert_eq!(auth.metadata.unwrap()["env"], "ci");
}

#[tokio::test]
async fn secret_ids_are_not_stored_in_clear() {
    let (h, role_id) = setup("vaulted", json!({})).await;
    let (sid, accessor) = secret_id(&h, "vaulted", json!({"metadata": "{\"a\": \"b\"}"})).await;
    h.write(
        "auth/approle/role/vaulted/custom-secret-id",
        json!({"secret_id": "custom-secret-zz"}),
    )
    .await
    .unwrap();
    h.login_ok(
        "auth/approle/login",
        json!({"role_id": role_id, "secret_id": sid}),
    )
    .await;
    let records = h.mount_records("approle/").await;
    assert!(records.len() >= 5, "{records:?}");
    let mut saw_secret_record = false;
    for (key, value) in &records {
        let text = String::from_utf8_lossy(value);
        for secret in [sid.as_str(), "custom-secret-zz"] {
            assert!(!key.contains(secret), "storage key {key} holds a secret ID");
            assert!(
                !text.contains(secret),
                "record {key} holds a secret ID: {text}"
            );
        }
        // Accessors appear only inside records, never in keys.
        assert!(
            !key.contains(&accessor),
            "storage key {key} holds an accessor"
        );
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(value) {
            if m.get("secret_id_accessor") == Some(&json!(accessor)) {
                saw_secret_record = true;
                assert!(key.starts_with("secret-id/"), "{key}");
                assert!(m.values().all(|v| v != &json!(sid)));
            }
        }
    }
    assert!(saw_secret_record);
}

#[tokio::test]
async fn properties_bind_secret_id_false_and_delete() {
    let (h, role_id) = setup("props", json!({})).await;
    h.write(
        "auth/approle/role/props/token-ttl",
        json!({"token_ttl": "5m"}),
    )
    .await
    .unwrap();
    let r = h.read("auth/approle/role/props/token-ttl").await.unwrap();
    assert_eq!(data(&r)["token_ttl"], 300);
    h.write(
        "auth/approle/role/props/policies",
        json!({"policies": "x,y"}),
    )
    .await
    .unwrap();
    let r = h.read("auth/approle/role/props/policies").await.unwrap();
    assert_eq!(data(&r)["token_policies"], json!(["x", "y"]));
    assert_eq!(data(&r)["policies"], json!(["x", "y"]));

    // Without a secret ID, a CIDR constraint is required.
    let e = h
        .write("auth/approle/role/props", json!({"bind_secret_id": false}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("at least one constraint"), "{e}");
    h.write(
        "auth/approle/role/props",
        json!({"bind_secret_id": false, "secret_id_bound_cidrs": ["127.0.0.0/8"]}),
    )
    .await
    .unwrap();
    let auth = h
        .login_ok("auth/approle/login", json!({"role_id": role_id}))
        .await;
    assert_eq!(auth.lease_duration, 300);
    assert_eq!(auth.policies, ["default", "x", "y"]);
    let e = h
        .write("auth/approle/role/props/secret-id", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("bind_secret_id"), "{e}");

    h.delete("auth/approle/role/props").await.unwrap();
    assert_eq!(
        h.read("auth/approle/role/props").await.unwrap().status,
        Some(404)
    );
    h.login_fails(
        "auth/approle/login",
        json!({"role_id": role_id}),
        400,
        "invalid role ID or secret ID",
    )
    .await;
    let e = h
        .write("auth/approle/role/bad", json!({"secret_id_ttl": "never"}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("'secret_id_ttl'"), "{e}");
}

#[tokio::test]
async fn local_secret_ids_is_read_only_after_creation() {
    let (h, _) = setup("fixed", json!({"local_secret_ids": true})).await;
    let r = h
        .read("auth/approle/role/fixed/local-secret-ids")
        .await
        .unwrap();
    assert_eq!(data(&r)["local_secret_ids"], true);
    for write in [
        h.write(
            "auth/approle/role/fixed/local-secret-ids",
            json!({"local_secret_ids": false}),
        )
        .await,
        h.delete("auth/approle/role/fixed/local-secret-ids").await,
    ] {
        let err = write.unwrap_err();
        assert_eq!(err.status(), 405, "{err}");
        assert!(err.to_string().contains("this path accepts GET"), "{err}");
    }
    let r = h
        .read("auth/approle/role/fixed/local-secret-ids")
        .await
        .unwrap();
    assert_eq!(data(&r)["local_secret_ids"], true);
}
