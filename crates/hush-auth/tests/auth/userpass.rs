//! userpass: users, logins, password and policy changes.

use serde_json::json;

use crate::helpers::{data, Harness};

#[tokio::test]
async fn create_login_and_read_back() {
    let h = Harness::new().await;
    h.enable("userpass", "userpass").await;
    h.write(
        "auth/userpass/users/Alice",
        json!({"password": "s3cret-pass", "token_policies": "dev,ops", "token_ttl": "1h",
               "token_max_ttl": 7200}),
    )
    .await
    .unwrap();

    // Usernames are case-insensitive: stored and matched lowercased.
    let listed = h.list("auth/userpass/users").await.unwrap();
    assert_eq!(data(&listed)["keys"], json!(["alice"]));
    let read = h.read("auth/userpass/users/alice").await.unwrap();
    let d = data(&read);
    assert_eq!(d["token_policies"], json!(["dev", "ops"]));
    assert_eq!(d["policies"], json!(["dev", "ops"]));
    assert_eq!(d["token_ttl"], 3600);
    assert_eq!(d["token_max_ttl"], 7200);
    assert!(d.get("password").is_none() && d.get("password_hash").is_none());

    let auth = h
        .login_ok(
            "auth/userpass/login/ALICE",
            json!({"password": "s3cret-pass"}),
        )
        .await;
    assert_eq!(auth.policies, ["default", "dev", "ops"]);
    assert_eq!(auth.metadata.as_ref().unwrap()["username"], "alice");
    assert_eq!(auth.lease_duration, 3600);
    assert!(auth.renewable);
    let me = h.lookup_self(&auth.client_token).await;
    assert_eq!(me["display_name"], "userpass-alice");
    assert_eq!(me["meta"]["username"], "alice");

    // The password is stored only as an argon2id hash.
    for (key, value) in h.mount_records("userpass/").await {
        let text = String::from_utf8_lossy(&value);
        assert!(!text.contains("s3cret-pass"), "{key} holds the password");
        if key == "user/alice" {
            assert!(text.contains("$argon2id$v=19$m=19456,t=2,p=1$"), "{text}");
        }
    }

    h.delete("auth/userpass/users/alice").await.unwrap();
    assert_eq!(
        h.read("auth/userpass/users/alice").await.unwrap().status,
        Some(404)
    );
    h.login_fails(
        "auth/userpass/login/alice",
        json!({"password": "s3cret-pass"}),
        400,
        "invalid username or password",
    )
    .await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let h = Harness::new().await;
    h.enable("userpass", "userpass").await;
    h.write("auth/userpass/users/bob", json!({"password": "right"}))
        .await
        .unwrap();
    let wrong = h
        .login_fails(
            "auth/userpass/login/bob",
            json!({"password": "wrong"}),
            400,
            "invalid username or password",
        )
        .await;
    let unknown = h
        .login_fails(
            "auth/userpass/login/nobody",
            json!({"password": "wrong"}),
            400,
            "invalid username or password",
        )
        .await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, "invalid username or password");
    h.login_fails(
        "auth/userpass/login/bob",
        json!({}),
        400,
        "missing 'password'",
    )
    .await;
}

#[tokio::test]
async fn password_and_policy_updates() {
    let h = Harness::new().await;
    h.enable("people", "userpass").await;
    h.write(
        "auth/people/users/carol",
        json!({"password": "first", "policies": ["a"]}),
    )
    .await
    .unwrap();
    h.write(
        "auth/people/users/carol/password",
        json!({"password": "second"}),
    )
    .await
    .unwrap();
    h.login_fails(
        "auth/people/login/carol",
        json!({"password": "first"}),
        400,
        "invalid username or password",
    )
    .await;
    let auth = h
        .login_ok("auth/people/login/carol", json!({"password": "second"}))
        .await;
    assert_eq!(auth.policies, ["a", "default"]);
    let me = h.lookup_self(&auth.client_token).await;
    assert_eq!(me["display_name"], "people-carol");

    h.write(
        "auth/people/users/carol/policies",
        json!({"token_policies": "b, c"}),
    )
    .await
    .unwrap();
    let auth = h
        .login_ok("auth/people/login/carol", json!({"password": "second"}))
        .await;
    assert_eq!(auth.policies, ["b", "c", "default"]);

    // Updating other fields keeps the password.
    h.write(
        "auth/people/users/carol",
        json!({"token_no_default_policy": true}),
    )
    .await
    .unwrap();
    let auth = h
        .login_ok("auth/people/login/carol", json!({"password": "second"}))
        .await;
    assert_eq!(auth.policies, ["b", "c"]);

    let e = h
        .write(
            "auth/people/users/nobody/password",
            json!({"password": "x"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("does not exist"), "{e}");
}

#[tokio::test]
async fn bad_user_fields_are_refused() {
    let h = Harness::new().await;
    h.enable("userpass", "userpass").await;
    let cases = [
        (json!({"token_ttl": "1h"}), "missing 'password'"),
        (
            json!({"password": "p", "token_ttl": "forever"}),
            "'token_ttl'",
        ),
        (
            json!({"password": "p", "token_type": "batch"}),
            "not supported",
        ),
        (
            json!({"password": "p", "token_bound_cidrs": "300.1.1.1/8"}),
            "token_bound_cidrs",
        ),
        (json!({"password": ""}), "may not be empty"),
    ];
    for (body, needle) in cases {
        let e = h.write("auth/userpass/users/dave", body).await.unwrap_err();
        assert_eq!(e.status(), 400, "{e}");
        assert!(
            e.to_string().contains(needle),
            "\"{e}\" should mention {needle}"
        );
    }
    assert_eq!(
        h.read("auth/userpass/users/dave").await.unwrap().status,
        Some(404)
    );
}

#[tokio::test]
async fn token_bound_cidrs_are_checked_at_login() {
    let h = Harness::new().await;
    h.enable("userpass", "userpass").await;
    h.write(
        "auth/userpass/users/erin",
        json!({"password": "pw", "token_bound_cidrs": ["10.0.0.0/8"]}),
    )
    .await
    .unwrap();
    h.login_fails_from(
        "auth/userpass/login/erin",
        json!({"password": "pw"}),
        Some("192.168.1.5".parse().unwrap()),
        400,
        "192.168.1.5",
    )
    .await;
    let resp = h
        .login_from(
            "auth/userpass/login/erin",
            json!({"password": "pw"}),
            Some("10.1.2.3".parse().unwrap()),
        )
        .await
        .unwrap();
    assert!(!resp.auth.unwrap().client_token.is_empty());
}
