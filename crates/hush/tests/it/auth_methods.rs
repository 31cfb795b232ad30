//! Issue 4 and 5 commands against a real `hush server --dev`: login methods, `hush auth`,
//! response wrapping, and `hush run`.

use crate::common::DevServer;

#[test]
fn auth_enable_list_tune_and_userpass_login() {
    let server = DevServer::start();
    let root = server.root();
    root.run(&["auth", "enable", "--description", "people", "userpass"])
        .ok();
    let list = root.run(&["auth", "list", "--format", "json"]);
    list.ok();
    let mounts = list.json();
    assert_eq!(mounts["userpass/"]["type"], "userpass", "{mounts}");
    assert_eq!(mounts["userpass/"]["description"], "people");
    root.run(&[
        "auth",
        "tune",
        "--default-lease-ttl",
        "1h",
        "--user-lockout-threshold",
        "5",
        "userpass",
    ])
    .ok();
    root.run(&[
        "write",
        "auth/userpass/users/al",
        "password=pw1",
        "policies=default",
    ])
    .ok();

    // Vault's single-dash spelling, and no token needed to log in.
    let user = server.hush();
    let run = user.run(&[
        "login",
        "-method=userpass",
        "--no-store",
        "--format",
        "json",
        "username=al",
        "password=pw1",
    ]);
    run.ok();
    let auth = run.json();
    assert!(
        auth["auth"]["client_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{auth}"
    );
    assert!(!user.token_file().exists());
    let wrong = user.run(&[
        "login",
        "--method",
        "userpass",
        "username=al",
        "password=nope",
    ]);
    assert_eq!(wrong.code(), 1, "{}", wrong.stderr());

    root.run(&["auth", "disable", "userpass"]).ok();
    let list = root.run(&["auth", "list", "--format", "json"]);
    assert!(list.json().get("userpass/").is_none());
}

#[test]
fn approle_login_stores_the_token() {
    let server = DevServer::start();
    let root = server.root();
    root.run(&["auth", "enable", "--path", "ar", "approle"])
        .ok();
    root.run(&["write", "auth/ar/role/app", "token_policies=default"])
        .ok();
    let role_id = root.run(&["read", "--field", "role_id", "auth/ar/role/app/role-id"]);
    role_id.ok();
    let secret = root.run(&[
        "write",
        "-f",
        "--field",
        "secret_id",
        "auth/ar/role/app/secret-id",
    ]);
    secret.ok();
    let user = server.hush();
    user.run(&[
        "login",
        "--method",
        "approle",
        "--path",
        "ar",
        &format!("role_id={}", role_id.stdout().trim()),
        &format!("secret_id={}", secret.stdout().trim()),
    ])
    .ok();
    let stored = std::fs::read_to_string(user.token_file()).unwrap();
    assert!(!stored.trim().is_empty());
    user.run(&["token", "lookup"]).ok();
}

#[test]
fn wrap_ttl_and_unwrap() {
    let server = DevServer::start();
    let root = server.root();
    root.run(&["kv", "put", "secret/wrapped", "answer=42"]).ok();
    let wrapped = root.run(&[
        "read",
        "--wrap-ttl",
        "5m",
        "--field",
        "wrapping_token",
        "secret/data/wrapped",
    ]);
    wrapped.ok();
    let token = wrapped.stdout().trim().to_owned();
    assert!(!token.is_empty());
    let unwrapped = server.hush().run(&["unwrap", "--format", "json", &token]);
    unwrapped.ok();
    assert_eq!(unwrapped.json()["data"]["data"]["answer"], "42");
    // A wrapping token works once.
    let again = server.hush().run(&["unwrap", &token]);
    assert_ne!(again.code(), 0);
}

#[test]
fn run_puts_secrets_in_the_child_environment() {
    let server = DevServer::start();
    let root = server.root();
    root.run(&["kv", "put", "secret/x", "DB_PASSWORD=s3cret"])
        .ok();
    let run = root.run(&[
        "run",
        "--path",
        "secret/x",
        "--",
        "/usr/bin/env",
        "-u",
        "HOME",
    ]);
    run.ok();
    assert!(
        run.stdout().contains("DB_PASSWORD=s3cret"),
        "{}",
        run.stdout()
    );
}
