//! The client commands against a real `hush server --dev`, one server per test: login, token,
//! policy, secrets, kv (v1 and v2), the generic read/write/delete/list, and audit.

use crate::common;

use std::fs;

use crate::common::{parse_yaml, write_file, DevServer, Hush};
use serde_json::json;

/// Creates a token with the given policies (and the default one) and returns it.
fn create_token(server: &DevServer, policies: &[&str]) -> String {
    let mut args = vec!["token", "create", "-field=token"];
    let flags: Vec<String> = policies.iter().map(|p| format!("-policy={p}")).collect();
    args.extend(flags.iter().map(String::as_str));
    let run = server.root().run(&args);
    run.ok();
    let token = run.stdout();
    assert!(!token.is_empty() && !token.ends_with('\n'), "{token:?}");
    token
}

#[test]
fn login_saves_the_token_privately_and_the_environment_wins() {
    let server = DevServer::start();
    let token = create_token(&server, &["default"]);
    let user = server.hush();

    let run = user.run(&["login", &token]);
    run.ok();
    let stdout = run.stdout();
    assert!(
        stdout.starts_with("Success! You are now authenticated."),
        "{stdout}"
    );
    assert!(
        stdout.contains("token_policies       [\"default\"]"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&token),
        "the token must not be printed: {stdout}"
    );
    assert_eq!(
        fs::read_to_string(user.token_file()).unwrap(),
        format!("{token}\n")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(user.token_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    // The saved token is used by later commands...
    let policies =
        |h: &Hush| h.run(&["token", "lookup", "-format=json"]).json()["data"]["policies"].clone();
    assert_eq!(policies(&user), json!(["default"]));
    // ...unless VAULT_TOKEN is set, and HUSH_TOKEN wins over both.
    let with_vault = server.hush().env("VAULT_TOKEN", "root");
    fs::write(with_vault.token_file(), format!("{token}\n")).unwrap();
    assert_eq!(policies(&with_vault), json!(["root"]));
    let both = with_vault.env("HUSH_TOKEN", &token);
    assert_eq!(policies(&both), json!(["default"]));

    // A token the server rejects is not saved.
    let run = user.run(&["login", "not-a-token"]);
    run.expect_code(1);
    assert!(
        run.stderr().contains("rejected the token"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        fs::read_to_string(user.token_file()).unwrap(),
        format!("{token}\n")
    );

    // From standard input, and printed rather than saved with --no-store.
    let other = server.hush();
    let run = other.run_with_stdin(&["login", "-no-store", "-"], &format!("{token}\n"));
    run.ok();
    assert!(run.stdout().contains(&token), "{}", run.stdout());
    assert!(!other.token_file().exists());

    // A login while HUSH_TOKEN is set warns that the variable still wins.
    let run = server
        .hush()
        .env("HUSH_TOKEN", "root")
        .run(&["login", &token]);
    run.ok();
    assert!(run.stderr().contains("HUSH_TOKEN"), "{}", run.stderr());
}

#[test]
fn token_create_lookup_renew_capabilities_revoke() {
    let server = DevServer::start();
    let root = server.root();

    let created = root.run(&[
        "token",
        "create",
        "--policy",
        "default",
        "--ttl",
        "1h",
        "--renewable",
        "--metadata",
        "team=ops",
        "--display-name",
        "ci",
        "--format",
        "json",
    ]);
    created.ok();
    let auth = created.json()["auth"].clone();
    let token = auth["client_token"].as_str().unwrap().to_owned();
    let accessor = auth["accessor"].as_str().unwrap().to_owned();
    assert_eq!(auth["lease_duration"], 3600);
    assert_eq!(auth["renewable"], true);
    assert_eq!(auth["metadata"]["team"], "ops");

    // The table shows the new token and Vault's rows.
    let table = root.run(&["token", "create", "-policy=default", "-ttl=10m"]);
    table.ok();
    for row in [
        "token ",
        "token_accessor ",
        "token_duration       10m",
        "policies ",
    ] {
        assert!(table.stdout().contains(row), "{row}: {}", table.stdout());
    }

    let looked = root.run(&["token", "lookup", "-format=json", &token]);
    looked.ok();
    let data = looked.json()["data"].clone();
    assert_eq!(data["meta"]["team"], "ops");
    assert!(data["ttl"].as_u64().unwrap() <= 3600);
    let by_accessor = root.run(&[
        "token",
        "lookup",
        "-accessor",
        &accessor,
        "-field=display_name",
    ]);
    by_accessor.ok();
    assert_eq!(by_accessor.stdout(), "token-ci");

    let renewed = root.run(&["token", "renew", "-increment=30m", "-format=json", &token]);
    renewed.ok();
    assert_eq!(renewed.json()["auth"]["lease_duration"], 1800);
    let own = server.hush().env("HUSH_TOKEN", &token);
    own.run(&["token", "renew"]).ok();

    let caps = own.run(&["token", "capabilities", "secret/data/x"]);
    caps.ok();
    assert_eq!(caps.stdout(), "deny\n");
    let caps = root.run(&["token", "capabilities", &token, "auth/token/lookup-self"]);
    caps.ok();
    assert_eq!(caps.stdout(), "read\n");
    let caps = root.run(&["token", "capabilities", "-format=json", "sys/mounts"]);
    caps.ok();
    assert_eq!(caps.json(), json!(["root"]));

    let revoked = root.run(&["token", "revoke", &token]);
    revoked.ok();
    assert_eq!(revoked.stdout(), "Success! Revoked token (if it existed)\n");
    assert_ne!(root.run(&["token", "lookup", &token]).code(), 0);

    // Revoking oneself, and by accessor.
    let mine = create_token(&server, &["default"]);
    server
        .hush()
        .env("HUSH_TOKEN", &mine)
        .run(&["token", "revoke", "-self"])
        .ok();
    assert_ne!(
        server
            .hush()
            .env("HUSH_TOKEN", &mine)
            .run(&["token", "lookup"])
            .code(),
        0
    );
    let other = root.run(&["token", "create", "-format=json"]).json()["auth"].clone();
    root.run(&[
        "token",
        "revoke",
        "-accessor",
        other["accessor"].as_str().unwrap(),
    ])
    .ok();
    assert_ne!(
        root.run(&["token", "lookup", other["client_token"].as_str().unwrap()])
            .code(),
        0
    );

    // --mode orphan revokes the parent only; a plain revoke takes the children along.
    let parent = create_token(&server, &[]);
    let as_parent = server.hush().env("HUSH_TOKEN", &parent);
    let child = as_parent.run(&["token", "create", "-field=token"]).stdout();
    let grandchild_parent = create_token(&server, &[]);
    let grandchild = server
        .hush()
        .env("HUSH_TOKEN", &grandchild_parent)
        .run(&["token", "create", "-field=token"])
        .stdout();
    root.run(&["token", "revoke", "-mode=orphan", &parent]).ok();
    assert_ne!(root.run(&["token", "lookup", &parent]).code(), 0);
    let orphaned = root.run(&["token", "lookup", "-field=orphan", &child]);
    orphaned.ok();
    assert_eq!(orphaned.stdout(), "true");
    root.run(&["token", "revoke", &grandchild_parent]).ok();
    assert_ne!(root.run(&["token", "lookup", &grandchild]).code(), 0);

    // Usage errors exit 2.
    root.run(&["token", "revoke"]).expect_code(2);
    root.run(&["token", "revoke", ""]).expect_code(2);
    root.run(&["token", "lookup", ""]).expect_code(2);
    root.run(&["token", "create", "-renewable", "maybe"])
        .expect_code(2);
    root.run(&["token", "create", "-ttl=soon"]).expect_code(2);
}

#[test]
fn policy_write_read_list_delete_and_fmt() {
    let server = DevServer::start();
    let root = server.root();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "app.hcl",
        "path \"secret/data/app/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n",
    );

    let run = root.run(&["policy", "write", "app", &file]);
    run.ok();
    assert_eq!(run.stdout(), "Success! Uploaded policy: app\n");
    let read = root.run(&["policy", "read", "app"]);
    read.ok();
    assert!(
        read.stdout().contains("path \"secret/data/app/*\""),
        "{}",
        read.stdout()
    );
    let listed = root.run(&["policy", "list", "-format=json"]);
    listed.ok();
    let names = listed.json();
    assert!(names.as_array().unwrap().contains(&json!("app")), "{names}");
    let plain = root.run(&["policy", "list"]).stdout();
    assert!(plain.lines().any(|l| l == "app"), "{plain}");
    assert!(plain.lines().any(|l| l == "default"), "{plain}");

    // From standard input, and then effective for a token.
    let run = root.run_with_stdin(
        &["policy", "write", "reader", "-"],
        r#"path "secret/data/shared" { capabilities = ["read"] }"#,
    );
    run.ok();
    let token = create_token(&server, &["reader"]);
    let caps = root.run(&["token", "capabilities", &token, "secret/data/shared"]);
    assert_eq!(caps.stdout(), "read\n");

    // The server's rejection of a bad policy is shown.
    let bad = write_file(
        dir.path(),
        "bad.hcl",
        "path \"x\" { capabilities = [\"fly\"] }\n",
    );
    let run = root.run(&["policy", "write", "bad", &bad]);
    run.expect_code(1);
    assert!(run.stderr().contains("fly"), "{}", run.stderr());

    root.run(&["policy", "delete", "app"]).ok();
    let run = root.run(&["policy", "read", "app"]);
    run.expect_code(2);
    assert_eq!(run.stderr(), "No policy named: app\n");

    // fmt rewrites a messy file canonically, offline.
    let messy = write_file(
        dir.path(),
        "messy.hcl",
        "path   \"secret/*\"   {capabilities=[\"read\",\"list\"]}\n\n\n",
    );
    let run = Hush::new().run(&["policy", "fmt", &messy]);
    run.ok();
    assert_eq!(
        run.stdout(),
        format!("Success! Formatted policy: {messy}\n")
    );
    let formatted = fs::read_to_string(&messy).unwrap();
    assert_ne!(
        formatted,
        "path   \"secret/*\"   {capabilities=[\"read\",\"list\"]}\n\n\n"
    );
    assert!(formatted.contains("path \"secret/*\""), "{formatted}");
    // Formatting is stable.
    Hush::new().run(&["policy", "fmt", &messy]).ok();
    assert_eq!(fs::read_to_string(&messy).unwrap(), formatted);

    let broken = write_file(
        dir.path(),
        "broken.hcl",
        "path \"a\" {\n  capabilities = [\"read\"]\n}\npath \"b\" {\n  capabilities = [\"read\"\n",
    );
    let before = fs::read_to_string(&broken).unwrap();
    let run = Hush::new().run(&["policy", "fmt", &broken]);
    run.expect_code(1);
    assert!(run.stderr().contains("at line 5"), "{}", run.stderr());
    assert_eq!(
        fs::read_to_string(&broken).unwrap(),
        before,
        "a bad file is left alone"
    );
    let unknown = write_file(
        dir.path(),
        "unknown.hcl",
        "path \"a\" {\n  capabilities = [\"read\"]\n}\n\npath \"b\" {\n  capabilities = [\"jump\"]\n}\n",
    );
    let run = Hush::new().run(&["policy", "fmt", &unknown]);
    run.expect_code(1);
    assert!(run.stderr().contains("(line 6)"), "{}", run.stderr());
    assert!(run.stderr().contains("jump"), "{}", run.stderr());
}

#[test]
fn secrets_enable_list_tune_move_disable() {
    let server = DevServer::start();
    let root = server.root();

    let run = root.run(&[
        "secrets",
        "enable",
        "-path=team",
        "-version=2",
        "-description=team secrets",
        "-default-lease-ttl=1h",
        "kv",
    ]);
    run.ok();
    assert_eq!(
        run.stdout(),
        "Success! Enabled the kv secrets engine at: team/\n"
    );
    let run = root.run(&["secrets", "enable", "kv-v2"]);
    run.ok();
    assert_eq!(
        run.stdout(),
        "Success! Enabled the kv-v2 secrets engine at: kv-v2/\n"
    );

    let mounts = root.run(&["secrets", "list", "-format=json"]).json();
    assert_eq!(mounts["team/"]["options"]["version"], "2");
    assert_eq!(mounts["team/"]["description"], "team secrets");
    assert_eq!(mounts["team/"]["config"]["default_lease_ttl"], 3600);
    assert_eq!(mounts["kv-v2/"]["options"]["version"], "2");
    let table = root.run(&["secrets", "list"]);
    table.ok();
    assert!(table.stdout().starts_with("Path "), "{}", table.stdout());
    assert!(
        table.stdout().contains("team secrets"),
        "{}",
        table.stdout()
    );
    let detailed = root.run(&["secrets", "list", "-detailed"]);
    detailed.ok();
    assert!(
        detailed.stdout().contains("Default TTL"),
        "{}",
        detailed.stdout()
    );
    assert!(
        detailed.stdout().contains("map[version:2]"),
        "{}",
        detailed.stdout()
    );

    let run = root.run(&[
        "secrets",
        "tune",
        "-default-lease-ttl=30m",
        "-max-lease-ttl=2h",
        "-description=tuned",
        "team/",
    ]);
    run.ok();
    assert_eq!(
        run.stdout(),
        "Success! Tuned the secrets engine at: team/\n"
    );
    let tuned = root
        .run(&["read", "-format=json", "sys/mounts/team/tune"])
        .json();
    assert_eq!(tuned["data"]["default_lease_ttl"], 1800);
    assert_eq!(tuned["data"]["max_lease_ttl"], 7200);
    assert_eq!(tuned["data"]["description"], "tuned");

    root.run(&["kv", "put", "team/app", "k=v"]).ok();
    let run = root.run(&["secrets", "move", "team", "moved"]);
    run.ok();
    assert!(
        run.stdout()
            .contains("Success! Finished moving secrets engine team/ to moved/"),
        "{}",
        run.stdout()
    );
    let mounts = root.run(&["secrets", "list", "-format=json"]).json();
    assert!(
        mounts.get("team/").is_none() && mounts.get("moved/").is_some(),
        "{mounts}"
    );
    let moved = root.run(&["kv", "get", "-field=k", "moved/app"]);
    moved.ok();
    assert_eq!(moved.stdout(), "v");

    let run = root.run(&["secrets", "disable", "moved"]);
    run.ok();
    assert_eq!(
        run.stdout(),
        "Success! Disabled the secrets engine (if it existed) at: moved/\n"
    );
    let mounts = root.run(&["secrets", "list", "-format=json"]).json();
    assert!(mounts.get("moved/").is_none(), "{mounts}");
}

#[test]
fn kv_v2_put_get_versions_and_formats() {
    let server = DevServer::start();
    let root = server.root();

    let put = root.run(&["kv", "put", "secret/app/db", "user=admin", "password=pw1"]);
    put.ok();
    let stdout = put.stdout();
    assert!(stdout.contains("secret/data/app/db\n"), "{stdout}");
    assert!(stdout.contains("version            1\n"), "{stdout}");

    // --field prints the bare value; pipes get no newline.
    let run = root.run(&["kv", "get", "-field=password", "secret/app/db"]);
    run.ok();
    assert_eq!(run.stdout(), "pw1");
    let run = root.run(&["kv", "get", "-mount=secret", "-field=user", "app/db"]);
    assert_eq!(run.stdout(), "admin");

    let table = root.run(&["kv", "get", "secret/app/db"]);
    table.ok();
    for part in ["== Secret Path ==", "Metadata", "Data", "password    pw1"] {
        assert!(table.stdout().contains(part), "{part}: {}", table.stdout());
    }

    root.run(&[
        "kv",
        "put",
        "-format=json",
        "secret/app/db",
        "user=admin",
        "password=pw2",
    ])
    .ok();
    let json = root
        .run(&["kv", "get", "-format=json", "secret/app/db"])
        .json();
    assert_eq!(json["data"]["data"]["password"], "pw2");
    assert_eq!(json["data"]["metadata"]["version"], 2);
    let yaml = root.run(&["kv", "get", "-format=yaml", "secret/app/db"]);
    yaml.ok();
    let parsed = parse_yaml(&yaml.stdout());
    assert_eq!(parsed["data"], json["data"], "{}", yaml.stdout());
    if let Some(by_pyyaml) = common::yaml_with_python(&yaml.stdout()) {
        assert_eq!(by_pyyaml["data"], json["data"], "{}", yaml.stdout());
    }
    let old = root.run(&[
        "kv",
        "get",
        "-version=1",
        "-field=password",
        "secret/app/db",
    ]);
    assert_eq!(old.stdout(), "pw1");
    let field_json = root.run(&["kv", "get", "-field=user", "-format=json", "secret/app/db"]);
    assert_eq!(field_json.json(), json!("admin"));

    // Patch keeps the other keys; rw and key removal too.
    root.run(&["kv", "patch", "secret/app/db", "password=pw3"])
        .ok();
    let data = root
        .run(&["kv", "get", "-format=json", "secret/app/db"])
        .json()["data"]["data"]
        .clone();
    assert_eq!(data, json!({"user": "admin", "password": "pw3"}));
    root.run(&[
        "kv",
        "patch",
        "-method=rw",
        "-remove-data=user",
        "secret/app/db",
        "extra=x",
    ])
    .ok();
    let data = root
        .run(&["kv", "get", "-format=json", "secret/app/db"])
        .json()["data"]["data"]
        .clone();
    assert_eq!(data, json!({"password": "pw3", "extra": "x"}));
    let run = root.run(&["kv", "patch", "secret/app/nope", "a=b"]);
    run.expect_code(2);
    assert_eq!(run.stderr(), "No value found at secret/data/app/nope\n");

    // List.
    root.run(&["kv", "put", "secret/app/api", "key=k"]).ok();
    let run = root.run(&["kv", "list", "secret/app"]);
    run.ok();
    assert_eq!(run.stdout(), "Keys\n----\napi\ndb\n");
    let keys = root.run(&["kv", "list", "-format=json", "secret/"]).json();
    assert_eq!(keys, json!(["app/"]));
    let run = root.run(&["kv", "list", "secret/nothing"]);
    run.expect_code(2);
    assert_eq!(run.stderr(), "No value found at secret/metadata/nothing/\n");

    // Missing secrets exit 2 with Vault's message.
    let run = root.run(&["kv", "get", "secret/nope"]);
    run.expect_code(2);
    assert_eq!(run.stderr(), "No value found at secret/data/nope\n");
    assert!(run.stdout().is_empty());
}

#[test]
fn kv_v2_commands_wrap_only_the_final_request() {
    let server = DevServer::start();
    let root = server.root();
    root.run(&["kv", "put", "secret/app", "password=pw1"]).ok();

    // The mount lookup is not wrapped, so the command still knows the mount is KV v2.
    let wrapped = root.run(&["kv", "get", "-wrap-ttl=5m", "-format=json", "secret/app"]);
    wrapped.ok();
    let json = wrapped.json();
    let token = json["wrap_info"]["token"].as_str().unwrap().to_owned();
    assert_eq!(json["wrap_info"]["ttl"], 300, "{json}");
    assert!(json["data"].is_null(), "{json}");
    let unwrapped = root.run(&["unwrap", "-format=json", &token]).json();
    assert_eq!(unwrapped["data"]["data"]["password"], "pw1", "{unwrapped}");

    // The environment variable works the same way, and the table shows the wrapping token.
    let table = server
        .root()
        .env("VAULT_WRAP_TTL", "60s")
        .run(&["kv", "get", "secret/app"]);
    table.ok();
    assert!(
        table.stdout().contains("wrapping_token "),
        "{}",
        table.stdout()
    );
    assert!(!table.stdout().contains("pw1"), "{}", table.stdout());

    // A patch reads the current version unwrapped and wraps only its write.
    let patch = root.run(&[
        "kv",
        "patch",
        "-method=rw",
        "-wrap-ttl=5m",
        "secret/app",
        "user=u",
    ]);
    patch.ok();
    assert!(
        patch.stdout().contains("wrapping_token "),
        "{}",
        patch.stdout()
    );
    let current = root
        .run(&["kv", "get", "-format=json", "secret/app"])
        .json();
    assert_eq!(current["data"]["data"]["user"], "u", "{current}");
    assert_eq!(current["data"]["metadata"]["version"], 2, "{current}");
}

#[test]
fn kv_v2_delete_undelete_destroy_rollback_and_metadata() {
    let server = DevServer::start();
    let root = server.root();
    for value in ["one", "two", "three"] {
        root.run(&["kv", "put", "secret/cfg", &format!("v={value}")])
            .ok();
    }

    // Soft-delete the latest: its metadata is still shown, the data is gone.
    let run = root.run(&["kv", "delete", "secret/cfg"]);
    run.ok();
    assert_eq!(
        run.stdout(),
        "Success! Data deleted (if it existed) at: secret/data/cfg\n"
    );
    let run = root.run(&["kv", "get", "-field=v", "secret/cfg"]);
    run.expect_code(2);
    assert_eq!(run.stderr(), "No data found at secret/data/cfg\n");
    let deleted = root.run(&["kv", "get", "-format=json", "secret/cfg"]);
    deleted.ok();
    assert!(deleted.json()["data"]["data"].is_null());
    assert_ne!(deleted.json()["data"]["metadata"]["deletion_time"], "");

    let run = root.run(&["kv", "undelete", "-versions=3", "secret/cfg"]);
    run.ok();
    assert_eq!(
        run.stdout(),
        "Success! Data written to: secret/undelete/cfg\n"
    );
    assert_eq!(
        root.run(&["kv", "get", "-field=v", "secret/cfg"]).stdout(),
        "three"
    );

    root.run(&["kv", "delete", "-versions=2", "secret/cfg"])
        .ok();
    assert_eq!(
        root.run(&["kv", "get", "-version=2", "-field=v", "secret/cfg"])
            .code(),
        2
    );
    root.run(&["kv", "destroy", "-versions", "1,2", "secret/cfg"])
        .ok();
    let metadata = root
        .run(&["kv", "metadata", "get", "-format=json", "secret/cfg"])
        .json();
    assert_eq!(metadata["data"]["versions"]["1"]["destroyed"], true);
    assert_eq!(metadata["data"]["versions"]["2"]["destroyed"], true);
    root.run(&["kv", "undelete", "secret/cfg"]).expect_code(2);

    // Rolling back to a destroyed version fails; to a live one makes a new version.
    let run = root.run(&["kv", "rollback", "-version=1", "secret/cfg"]);
    run.expect_code(1);
    assert!(
        run.stderr().contains("deleted or destroyed"),
        "{}",
        run.stderr()
    );
    root.run(&["kv", "put", "secret/cfg", "v=four"]).ok();
    let run = root.run(&["kv", "rollback", "-version=3", "-format=json", "secret/cfg"]);
    run.ok();
    assert_eq!(run.json()["data"]["version"], 5);
    assert_eq!(
        root.run(&["kv", "get", "-field=v", "secret/cfg"]).stdout(),
        "three"
    );
    root.run(&["kv", "rollback", "-version=9", "secret/cfg"])
        .expect_code(2);

    // Metadata: settings, check-and-set, custom metadata.
    let run = root.run(&[
        "kv",
        "metadata",
        "put",
        "-max-versions=7",
        "-cas-required",
        "-delete-version-after=1h",
        "-custom-metadata=owner=ops",
        "secret/cfg",
    ]);
    run.ok();
    assert_eq!(
        run.stdout(),
        "Success! Data written to: secret/metadata/cfg\n"
    );
    let metadata = root
        .run(&["kv", "metadata", "get", "-format=json", "secret/cfg"])
        .json();
    let data = &metadata["data"];
    assert_eq!(data["max_versions"], 7);
    assert_eq!(data["cas_required"], true);
    assert_eq!(data["custom_metadata"], json!({"owner": "ops"}));
    assert_eq!(data["current_version"], 5);
    let run = root.run(&["kv", "put", "secret/cfg", "v=five"]);
    run.expect_code(1);
    assert!(run.stderr().contains("check-and-set"), "{}", run.stderr());
    assert!(
        run.stderr().contains("on secret/data/cfg"),
        "{}",
        run.stderr()
    );
    // In the CLI's terms: -cas=N, not the API's JSON.
    assert!(run.stderr().contains("pass -cas=N"), "{}", run.stderr());
    assert!(!run.stderr().contains("\"options\""), "{}", run.stderr());
    root.run(&["kv", "put", "-cas=5", "secret/cfg", "v=five"])
        .ok();
    root.run(&[
        "kv",
        "metadata",
        "patch",
        "-cas-required=false",
        "-custom-metadata=team=a",
        "secret/cfg",
    ])
    .ok();
    let data = root
        .run(&["kv", "metadata", "get", "-format=json", "secret/cfg"])
        .json()["data"]
        .clone();
    assert_eq!(data["cas_required"], false);
    assert_eq!(
        data["custom_metadata"],
        json!({"owner": "ops", "team": "a"})
    );
    let table = root.run(&["kv", "metadata", "get", "secret/cfg"]);
    table.ok();
    for part in [
        "Metadata Path",
        "secret/metadata/cfg",
        "max_versions",
        "Version 6",
    ] {
        assert!(table.stdout().contains(part), "{part}: {}", table.stdout());
    }

    let run = root.run(&["kv", "metadata", "delete", "secret/cfg"]);
    run.ok();
    root.run(&["kv", "metadata", "get", "secret/cfg"])
        .expect_code(2);
    root.run(&["kv", "get", "secret/cfg"]).expect_code(2);
}

#[test]
fn kv_values_from_files_and_stdin_and_vault_spellings() {
    let server = DevServer::start();
    let root = server.root();
    let dir = tempfile::tempdir().unwrap();
    let cert = write_file(dir.path(), "cert.pem", "-----BEGIN X-----\nabc\n");

    let run = root.run_with_stdin(
        &[
            "kv",
            "put",
            "-mount=secret",
            "tls",
            &format!("cert=@{cert}"),
            "key=-",
            "at=\\@home",
        ],
        "from stdin\n",
    );
    run.ok();
    let data = root
        .run(&["kv", "get", "-format=json", "secret/tls"])
        .json()["data"]["data"]
        .clone();
    assert_eq!(
        data,
        json!({"cert": "-----BEGIN X-----\nabc\n", "key": "from stdin\n", "at": "@home"})
    );
    let run = root.run(&["kv", "get", "-field=cert", "secret/tls"]);
    assert_eq!(run.stdout(), "-----BEGIN X-----\nabc\n");

    let run = root.run_with_stdin(&["kv", "put", "secret/json", "-"], r#"{"n": 1, "s": "x"}"#);
    run.ok();
    let data = root
        .run(&["kv", "get", "-format=json", "secret/json"])
        .json()["data"]["data"]
        .clone();
    assert_eq!(data, json!({"n": 1, "s": "x"}));

    // Usage errors: stdin twice, unreadable file, nothing to write, malformed pair.
    let run = root.run_with_stdin(&["kv", "put", "secret/x", "a=-", "b=-"], "v");
    run.expect_code(2);
    assert!(run.stderr().contains("already read"), "{}", run.stderr());
    let run = root.run(&["kv", "put", "secret/x", "a=@/no/such/file"]);
    run.expect_code(2);
    assert!(run.stderr().contains("/no/such/file"), "{}", run.stderr());
    root.run(&["kv", "put", "secret/x"]).expect_code(2);
    let run = root.run(&["kv", "put", "secret/x", "password:hunter2"]);
    run.expect_code(2);
    assert!(!run.stderr().contains("hunter2"), "{}", run.stderr());

    // The vault CLI's single-dash spellings, including the global -address.
    let run = server.hush().env("HUSH_TOKEN", "root").run(&[
        "kv",
        "get",
        &format!("-address={}", server.address),
        "-field=s",
        "-mount=secret",
        "json",
    ]);
    run.ok();
    assert_eq!(run.stdout(), "x");
}

#[test]
fn kv_v1_mounts_work_directly_on_paths() {
    let server = DevServer::start();
    let root = server.root();
    root.run(&["secrets", "enable", "-path=old", "kv"]).ok();

    let run = root.run(&["kv", "put", "old/app", "a=1", "b=2"]);
    run.ok();
    assert_eq!(run.stdout(), "Success! Data written to: old/app\n");
    assert_eq!(
        root.run(&["kv", "get", "-field=a", "old/app"]).stdout(),
        "1"
    );
    let table = root.run(&["kv", "get", "old/app"]);
    assert_eq!(
        table.stdout(),
        "Key                 Value\n---                 -----\nrefresh_interval    768h\n\
         a                   1\nb                   2\n"
    );
    assert_eq!(
        root.run(&["kv", "list", "old"]).stdout(),
        "Keys\n----\napp\n"
    );

    let run = root.run(&["kv", "patch", "old/app", "a=3"]);
    run.expect_code(2);
    assert!(run.stderr().contains("KV version 2"), "{}", run.stderr());
    root.run(&["kv", "get", "-version=1", "old/app"])
        .expect_code(2);
    root.run(&["kv", "metadata", "get", "old/app"])
        .expect_code(2);

    root.run(&["kv", "delete", "old/app"]).ok();
    let run = root.run(&["kv", "get", "old/app"]);
    run.expect_code(2);
    assert_eq!(run.stderr(), "No value found at old/app\n");
}

#[test]
fn generic_read_write_delete_list_and_permission_errors() {
    let server = DevServer::start();
    let root = server.root();

    let run = root.run(&["write", "sys/mounts/gen", "type=kv"]);
    run.ok();
    assert_eq!(run.stdout(), "Success! Data written to: sys/mounts/gen\n");
    root.run(&["write", "gen/app", "user=u", "n=5"]).ok();
    assert_eq!(root.run(&["read", "-field=user", "gen/app"]).stdout(), "u");
    let table = root.run(&["read", "gen/app"]);
    // KV v1 answers with a lease duration, which the vault CLI shows as a refresh interval.
    assert_eq!(
        table.stdout(),
        "Key                 Value\n---                 -----\nrefresh_interval    768h\n\
         n                   5\nuser                u\n"
    );
    let yaml = root.run(&["read", "-format=yaml", "gen/app"]);
    assert_eq!(
        parse_yaml(&yaml.stdout())["data"],
        json!({"user": "u", "n": "5"})
    );
    assert_eq!(root.run(&["list", "gen"]).stdout(), "Keys\n----\napp\n");
    let run = root.run(&["delete", "gen/app"]);
    run.ok();
    assert_eq!(
        run.stdout(),
        "Success! Data deleted (if it existed) at: gen/app\n"
    );
    let run = root.run(&["read", "gen/app"]);
    run.expect_code(2);
    assert_eq!(run.stderr(), "No value found at gen/app\n");
    root.run(&["list", "gen/"]).expect_code(2);
    let run = root.run(&["read", "-field=nope", "sys/mounts/gen/tune"]);
    run.expect_code(1);
    assert_eq!(run.stderr(), "Field \"nope\" not present in secret\n");

    // A write that answers with a token prints it; a repeated key becomes a list.
    let created = root.run(&[
        "write",
        "-format=json",
        "auth/token/create",
        "policies=default",
        "policies=reader",
        "ttl=1h",
    ]);
    created.ok();
    let auth = created.json()["auth"].clone();
    assert_eq!(auth["policies"], json!(["default", "reader"]));
    let token = auth["client_token"].as_str().unwrap().to_owned();

    // Writing nothing needs --force.
    let user = server.hush().env("HUSH_TOKEN", &token);
    user.run(&["write", "auth/token/renew-self"]).expect_code(2);
    user.run(&["write", "-f", "-format=json", "auth/token/renew-self"])
        .ok();

    // Permission errors name the status and the path; the token is not shown.
    let run = user.run(&["read", "secret/data/x"]);
    run.expect_code(1);
    assert_eq!(
        run.stderr(),
        "Error: permission denied (HTTP 403) on secret/data/x\n"
    );
    // Without access to the mount, its KV version is unknown and v1 is assumed, as the vault CLI
    // does: the write goes to secret/x.
    let run = user.run(&["kv", "put", "secret/x", "password=hunter2"]);
    run.expect_code(1);
    assert!(
        run.stderr().contains("(HTTP 403) on secret/x"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("hunter2") && !run.stderr().contains(&token));
}

#[test]
fn audit_enable_verify_tamper_and_truncate() {
    let server = DevServer::start();
    let root = server.root();
    let log = server.path("audit.log");
    let log_str = log.to_str().unwrap();

    let run = root.run(&["audit", "enable", "file", &format!("file_path={log_str}")]);
    run.ok();
    assert_eq!(
        run.stdout(),
        "Success! Enabled the file audit device at: file/\n"
    );
    let list = root.run(&["audit", "list", "-detailed"]);
    list.ok();
    assert!(
        list.stdout().contains(&format!("file_path={log_str}")),
        "{}",
        list.stdout()
    );
    for i in 0..3 {
        root.run(&["kv", "put", "secret/a", &format!("v={i}")]).ok();
        root.run(&["kv", "get", "secret/a"]).ok();
    }

    let run = Hush::new().run(&["audit", "verify", log_str]);
    run.ok();
    let lines = fs::read_to_string(&log).unwrap().lines().count();
    assert!(lines >= 12, "{lines}");
    assert_eq!(
        run.stdout(),
        format!("OK: {lines} lines, chain intact (seq 1..{lines})\n")
    );
    let run = root.run(&["audit", "verify", "-device=file/", log_str]);
    run.ok();
    assert!(run.stdout().starts_with("OK: "), "{}", run.stdout());
    assert!(
        run.stdout().contains("reaches the expected head"),
        "{}",
        run.stdout()
    );
    let head = root.run(&["read", "-field=head", "sys/audit-head/file"]);
    head.ok();
    let run = Hush::new().run(&["audit", "verify", "-head", &head.stdout(), log_str]);
    run.ok();
    // An intact copy taken before asking the server compares with the head as of the copy:
    // the verify request's own entry, written after the copy, is not expected in it.
    let copy = server.path("copy.log");
    fs::copy(&log, &copy).unwrap();
    let run = root.run(&["audit", "verify", "-device=file", copy.to_str().unwrap()]);
    run.ok();
    assert!(
        run.stdout().contains("reaches the expected head"),
        "{}",
        run.stdout()
    );

    // An edited line is reported at the next line, whose prev no longer matches.
    let text = fs::read_to_string(&log).unwrap();
    let mut edited: Vec<String> = text.lines().map(str::to_owned).collect();
    edited[2] = edited[2].replacen("\"type\":\"request\"", "\"type\":\"requesT\"", 1);
    edited[2] = edited[2].replacen("\"type\":\"response\"", "\"type\":\"responsE\"", 1);
    assert_ne!(
        edited[2],
        text.lines().nth(2).unwrap(),
        "the edit changed nothing"
    );
    let tampered = server.path("tampered.log");
    fs::write(&tampered, edited.join("\n") + "\n").unwrap();
    let run = Hush::new().run(&["audit", "verify", tampered.to_str().unwrap()]);
    run.expect_code(1);
    assert!(
        run.stdout().starts_with("TAMPERED: line 4: "),
        "{}",
        run.stdout()
    );
    let run = Hush::new().run(&[
        "audit",
        "verify",
        "-format=json",
        tampered.to_str().unwrap(),
    ]);
    run.expect_code(1);
    assert_eq!(run.json()["first_bad_line"], 4);

    // Whole lines cut off the end look intact offline; the server's head catches it.
    let text = fs::read_to_string(&log).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    let cut = server.path("cut.log");
    fs::write(&cut, kept[..kept.len() - 2].join("\n") + "\n").unwrap();
    let cut_str = cut.to_str().unwrap();
    Hush::new().run(&["audit", "verify", cut_str]).ok();
    let run = root.run(&["audit", "verify", "-device", "file", cut_str]);
    run.expect_code(1);
    assert!(
        run.stdout().starts_with("TAMPERED: line "),
        "{}",
        run.stdout()
    );
    assert!(run.stdout().contains("cut off the end"), "{}", run.stdout());
    assert!(run.stderr().contains("writes to"), "{}", run.stderr());

    // Unreadable files and malformed heads are usage errors.
    let run = Hush::new().run(&["audit", "verify", "/no/such/audit.log"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("/no/such/audit.log"),
        "{}",
        run.stderr()
    );
    Hush::new()
        .run(&["audit", "verify", "-head=12", log_str])
        .expect_code(2);
    root.run(&["audit", "verify", "-device=nope/", log_str])
        .expect_code(1);

    let run = root.run(&["audit", "disable", "file"]);
    run.ok();
    assert_eq!(
        run.stdout(),
        "Success! Disabled audit device (if it was enabled) at: file/\n"
    );
    let run = root.run(&["audit", "list"]);
    run.expect_code(2);
    assert_eq!(run.stdout(), "No audit devices are enabled.\n");
}

#[test]
fn kv_errors_name_the_users_path_not_the_mount_lookup() {
    let server = DevServer::start();
    let root = server.root();
    root.run(&["operator", "seal"]).ok();
    let run = root.run(&["kv", "get", "secret/app"]);
    run.expect_code(1);
    let stderr = run.stderr();
    assert!(stderr.contains("secret/app"), "{stderr}");
    assert!(stderr.contains("sealed"), "{stderr}");
    assert!(!stderr.contains("sys/internal"), "{stderr}");
}

#[test]
fn path_help_and_step_down() {
    let server = DevServer::start();
    let root = server.root();
    let run = root.run(&["path-help", "sys/mounts"]);
    run.ok();
    assert!(run.stdout().contains("GET"), "{}", run.stdout());
    let run = root.run(&["path-help", "secret/data/app"]);
    run.ok();
    assert!(run.stdout().contains("data"), "{}", run.stdout());
    let run = server.hush().run(&["path-help", "sys/mounts"]);
    run.expect_code(1);

    let run = root.run(&["operator", "step-down"]);
    run.ok();
    assert!(
        run.stdout().starts_with("Success! Stepped down"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stderr()
            .contains("not part of a high-availability cluster"),
        "{}",
        run.stderr()
    );
}
