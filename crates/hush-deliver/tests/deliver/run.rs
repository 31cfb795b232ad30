//! `hush run` with real child processes.

use std::time::{Duration, Instant};

use hush_client::Method;
use nix::sys::signal::Signal;
use serde_json::json;

use crate::common::{env_lines, Deliver, Server};

const LONG: Duration = Duration::from_secs(20);

#[test]
fn env_from_several_paths_later_paths_override() {
    let server = Server::start();
    server.mount_kv1("kv1");
    server.put("app", json!({"A": "from-v2", "B": "from-v2", "PORT": 5432}));
    server.api(
        Method::PUT,
        "kv1/app/prod",
        Some(json!({"B": "from-v1", "C": "only-v1"})),
    );
    let out = server
        .cmd(&["run", "--path", "secret/app", "--path", "kv1/app/prod"])
        .child(&["env"])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    let env = env_lines(&out.stdout);
    assert_eq!(env["A"], "from-v2");
    assert_eq!(env["B"], "from-v1", "the later path wins");
    assert_eq!(env["C"], "only-v1");
    assert_eq!(env["PORT"], "5432", "non-strings are passed as JSON text");
    assert!(env.contains_key("PATH"), "the environment is inherited");

    // The other order, and key selection.
    let out = server
        .cmd(&["run", "--path", "kv1/app/prod", "--path", "secret/app"])
        .args(&["--only", "A,B,C", "--except", "C"])
        .child(&["printenv", "A", "B", "C"])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "A=from-v2\nB=from-v2\nC unset\n");
}

#[test]
fn recursive_version_and_prefix() {
    let server = Server::start();
    server.put("tree/a", json!({"ONE": "1"}));
    server.put("tree/sub/b", json!({"TWO": "2"}));
    server.put("ver", json!({"V": "first"}));
    server.put("ver", json!({"V": "second"}));
    let out = server
        .cmd(&[
            "run",
            "--path",
            "secret/tree",
            "--recursive",
            "--prefix",
            "APP_",
        ])
        .child(&["printenv", "APP_ONE", "APP_TWO"])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "APP_ONE=1\nAPP_TWO=2\n");

    let out = server
        .cmd(&["run", "--path", "secret/ver", "--version", "1"])
        .child(&["printenv", "V"])
        .run();
    assert_eq!(out.stdout, "V=first\n", "{out:?}");
}

#[test]
fn existing_variables_need_override() {
    let server = Server::start();
    server.put("app", json!({"EXISTING": "from-secret"}));
    let out = server
        .cmd(&["run", "--path", "secret/app"])
        .env("EXISTING", "from-parent")
        .child(&["echo", "child-started"])
        .run();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("EXISTING"), "{out:?}");
    assert!(out.stderr.contains("--override"), "{out:?}");
    assert!(
        !out.stdout.contains("child-started"),
        "nothing is started: {out:?}"
    );
    assert!(
        !out.stderr.contains("from-secret"),
        "no value in messages: {out:?}"
    );

    let out = server
        .cmd(&["run", "--path", "secret/app", "--override"])
        .env("EXISTING", "from-parent")
        .child(&["printenv", "EXISTING"])
        .run();
    assert_eq!(out.stdout, "EXISTING=from-secret\n", "{out:?}");
}

#[test]
fn tf_vars() {
    let server = Server::start();
    server.put(
        "infra/aws",
        json!({"region": "eu-west-1", "access_key": "AKIA123", "secret_key": "wJalr/XUt"}),
    );
    let out = server
        .cmd(&["run", "--path", "secret/infra/aws", "--tf-vars"])
        .child(&["env"])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    let env = env_lines(&out.stdout);
    assert_eq!(env["TF_VAR_region"], "eu-west-1");
    assert_eq!(env["TF_VAR_access_key"], "AKIA123");
    assert_eq!(env["TF_VAR_secret_key"], "wJalr/XUt");
    assert!(!env.contains_key("region"));
}

#[test]
fn flatten_json() {
    let server = Server::start();
    server.put(
        "cloud",
        json!({
            "db": "{\"DB_USER\": \"app\", \"DB_PORT\": 5432}",
            "api": {"API_TOKEN": "t0ken"},
            "PLAIN": "p"
        }),
    );
    let out = server
        .cmd(&["run", "--path", "secret/cloud", "--flatten-json"])
        .child(&["printenv", "DB_USER", "DB_PORT", "API_TOKEN", "PLAIN", "db"])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        "DB_USER=app\nDB_PORT=5432\nAPI_TOKEN=t0ken\nPLAIN=p\ndb unset\n"
    );
}

#[test]
fn reset_env_keeps_only_the_minimal_set() {
    let server = Server::start();
    server.put("app", json!({"SECRET_A": "a"}));
    let out = server
        .cmd(&["run", "--path", "secret/app", "--reset-env"])
        .env("PARENT_ONLY", "1")
        .env("LANG", "C.UTF-8")
        .child(&["env"])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    let env = env_lines(&out.stdout);
    assert_eq!(env["SECRET_A"], "a");
    assert_eq!(env["LANG"], "C.UTF-8");
    assert!(
        env.contains_key("PATH") && env.contains_key("HOME"),
        "{env:?}"
    );
    let allowed = [
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TMPDIR", "SHELL",
        "TZ", "SECRET_A",
    ];
    for name in env.keys() {
        assert!(
            allowed.contains(&name.as_str()),
            "{name} leaked into the child"
        );
    }
}

#[test]
fn exit_codes_and_death_by_signal() {
    let server = Server::start();
    server.put("app", json!({"A": "1"}));
    let run = |steps: &[&str]| {
        server
            .cmd(&["run", "--path", "secret/app"])
            .child(steps)
            .run()
            .code
    };
    assert_eq!(run(&["exit", "0"]), 0);
    assert_eq!(run(&["exit", "7"]), 7);
    assert_eq!(run(&["kill-self", "TERM"]), 128 + 15);
    assert_eq!(run(&["kill-self", "KILL"]), 128 + 9);
    assert_eq!(run(&["kill-self", "INT"]), 128 + 2);
}

#[test]
fn signals_are_forwarded() {
    let server = Server::start();
    server.put("app", json!({"A": "1"}));
    for (sig, name) in [
        (Signal::SIGTERM, "TERM"),
        (Signal::SIGINT, "INT"),
        (Signal::SIGHUP, "HUP"),
        (Signal::SIGQUIT, "QUIT"),
    ] {
        let mut hush = server
            .cmd(&["run", "--path", "secret/app"])
            .child(&["wait-signal"])
            .spawn();
        hush.expect_out("ready", LONG);
        hush.signal(sig);
        hush.expect_out(&format!("got {name}"), LONG);
        assert_eq!(hush.wait(LONG), 0, "the child handled {name} and exited 0");
    }

    // A child that does not handle SIGTERM dies of it; hush reports 128+15.
    let mut hush = server
        .cmd(&["run", "--path", "secret/app"])
        .child(&["echo", "ready", "+", "sleep", "30"])
        .spawn();
    hush.expect_out("ready", LONG);
    hush.signal(Signal::SIGTERM);
    assert_eq!(hush.wait(LONG), 143);
}

#[test]
fn shell_mode() {
    let server = Server::start();
    server.put("app", json!({"GREETING": "hello"}));
    let out = server
        .cmd(&["run", "--path", "secret/app", "--shell", "--"])
        .args(&["echo \"$GREETING world\" && exit 3"])
        .run();
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(out.stdout, "hello world\n");
}

#[test]
fn redact_including_values_split_across_writes() {
    let server = Server::start();
    server.put(
        "app",
        json!({"TOKEN": "hunter2-secret-value", "SHORT": "abc", "OTHER": "p@ss w0rd"}),
    );
    let out = server
        .cmd(&["run", "--path", "secret/app", "--redact"])
        .child(&[
            "echo-split",
            "token=hunter2-sec",
            "ret-value short=abc",
            "+",
            "echo-split",
            "--stderr",
            "err: p@ss",
            " w0rd!",
            "+",
            "echo",
            "plain line",
        ])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout, "token=[REDACTED] short=abc\nplain line\n",
        "values of 3 bytes are not redacted"
    );
    assert_eq!(out.stderr, "err: [REDACTED]!\n");

    // Without --redact the output is passed through untouched.
    let out = server
        .cmd(&["run", "--path", "secret/app"])
        .child(&["echo-split", "token=hunter2-sec", "ret-value"])
        .run();
    assert_eq!(out.stdout, "token=hunter2-secret-value\n");
}

#[test]
fn watch_restarts_the_child_when_a_value_changes() {
    let server = Server::start();
    server.put("app", json!({"TOKEN": "v1", "STABLE": "s"}));
    let mut hush = server
        .cmd(&["run", "--path", "secret/app", "--watch"])
        .args(&["--interval", "200ms", "--grace", "5s"])
        .child(&["printenv", "TOKEN", "+", "wait-signal"])
        .spawn();
    hush.expect_out("TOKEN=v1", LONG);
    hush.expect_out("ready", LONG);

    server.put("app", json!({"TOKEN": "v2", "STABLE": "s"}));
    hush.expect_err("hush: secrets changed (TOKEN); restarting", LONG);
    hush.expect_out("got TERM", LONG);
    hush.expect_out("TOKEN=v2", LONG);
    hush.expect_out("ready", LONG);
    assert!(
        hush.seen_err.iter().all(|l| !l.contains("v2")),
        "values are never printed: {:?}",
        hush.seen_err
    );

    // Stopping hush stops the child, which exits 0 after handling SIGTERM.
    hush.signal(Signal::SIGTERM);
    hush.expect_out("got TERM", LONG);
    assert_eq!(hush.wait(LONG), 0);
}

#[test]
fn watch_kills_a_child_that_ignores_sigterm_after_the_grace_period() {
    let server = Server::start();
    server.put("app", json!({"TOKEN": "v1"}));
    let mut hush = server
        .cmd(&["run", "--path", "secret/app", "--watch"])
        .args(&["--interval", "200ms", "--grace", "500ms"])
        .child(&["printenv", "TOKEN", "+", "pid", "+", "ignore-term"])
        .spawn();
    let first = hush.expect_out("pid=", LONG);
    hush.expect_out("ready", LONG);
    server.put("app", json!({"TOKEN": "v2"}));
    hush.expect_err("restarting", LONG);
    let restarted = Instant::now();
    hush.expect_out("TOKEN=v2", LONG);
    assert!(
        restarted.elapsed() >= Duration::from_millis(300),
        "the grace period was given"
    );
    let second = hush.expect_out("pid=", LONG);
    assert_ne!(first, second, "a new child");
    let first_pid: i32 = first["pid=".len()..].parse().unwrap();
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(first_pid), None).is_err(),
        "the first child was killed"
    );

    // The second child ignores the forwarded SIGTERM too; killing it ends hush with 128+9.
    hush.expect_out("ready", LONG);
    let second_pid: i32 = second["pid=".len()..].parse().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(second_pid), Signal::SIGKILL).unwrap();
    assert_eq!(hush.wait(LONG), 137);
}

#[test]
fn watch_exits_with_the_child_code() {
    let server = Server::start();
    server.put("app", json!({"A": "1"}));
    let mut hush = server
        .cmd(&[
            "run",
            "--path",
            "secret/app",
            "--watch",
            "--interval",
            "200ms",
        ])
        .child(&["sleep", "0.5", "+", "exit", "4"])
        .spawn();
    assert_eq!(hush.wait(LONG), 4);
}

#[test]
fn bad_input_is_reported_and_nothing_is_started() {
    let server = Server::start();
    server.put("empty", json!({}));
    server.put("badname", json!({"db.password": "x"}));
    server.put("clash", json!({"a-b": "1", "a.b": "2"}));
    server.put("denied", json!({"A": "1"}));
    let limited = server.token_with_policy(
        "limited",
        r#"path "secret/data/allowed" { capabilities = ["read"] }"#,
    );

    let cases: Vec<(Deliver, &[&str])> = vec![
        (
            server.cmd(&["run", "--path", "secret/nope"]),
            &["secret/nope", "no secret"],
        ),
        (
            server.cmd(&["run", "--path", "secret/empty"]),
            &["secret/empty", "empty"],
        ),
        (
            server.cmd(&["run", "--path", "secret/badname"]),
            &["\"db.password\"", "--sanitize-names"],
        ),
        (
            server.cmd(&["run", "--path", "secret/clash", "--sanitize-names"]),
            &["\"a-b\"", "\"a.b\"", "a_b"],
        ),
        (
            server
                .cmd(&["run", "--path", "secret/denied"])
                .token(&limited),
            &["permission denied", "secret/denied"],
        ),
        (
            server
                .cmd(&["run", "--path", "secret/denied"])
                .env_remove("HUSH_TOKEN"),
            &["no token: set HUSH_TOKEN", "hush login"],
        ),
        (
            server
                .cmd(&["run", "--path", "secret/denied"])
                .token("hvs.not-a-token-of-this-server"),
            &["this token is not valid", "expired, revoked"],
        ),
        (
            server.cmd(&["run", "--path", "secret/badname", "--only", "typo"]),
            &["\"typo\""],
        ),
    ];
    for (cmd, wants) in cases {
        let out = cmd.child(&["echo", "child-started"]).run();
        assert_ne!(out.code, 0, "{out:?}");
        assert!(!out.stdout.contains("child-started"), "{out:?}");
        for want in wants {
            assert!(out.stderr.contains(want), "missing {want:?} in {out:?}");
        }
    }

    // --sanitize-names makes the invalid name valid.
    let out = server
        .cmd(&["run", "--path", "secret/badname", "--sanitize-names"])
        .child(&["printenv", "db_password"])
        .run();
    assert_eq!(out.stdout, "db_password=x\n", "{out:?}");

    // A program that does not exist.
    let out = server
        .cmd(&["run", "--path", "secret/denied", "--", "/no/such/program"])
        .run();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("/no/such/program"), "{out:?}");
}

#[test]
fn unreachable_server_is_retried_then_reported_with_the_address() {
    let addr = format!("http://127.0.0.1:{}", crate::common::free_port());
    let started = Instant::now();
    let out = Deliver::new(&addr)
        .args(&["run", "--path", "secret/app"])
        .child(&["echo", "child-started"])
        .run();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains(&addr), "{out:?}");
    assert!(out.stderr.contains("3 attempts"), "{out:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "retried briefly"
    );
    assert!(!out.stdout.contains("child-started"));
}

#[test]
fn approle_login_then_run() {
    let server = Server::start();
    server.api(
        Method::POST,
        "sys/auth/approle",
        Some(json!({"type": "approle"})),
    );
    server.put("app", json!({"FROM_APPROLE": "yes"}));
    server.token_with_policy(
        "app-read",
        r#"path "secret/data/app" { capabilities = ["read"] }
           path "sys/internal/ui/mounts/*" { capabilities = ["read"] }"#,
    );
    server.api(
        Method::POST,
        "auth/approle/role/app",
        Some(json!({"token_policies": ["app-read"]})),
    );
    let role_id = server
        .api(Method::GET, "auth/approle/role/app/role-id", None)
        .expect("role id")["data"]["role_id"]
        .as_str()
        .expect("role_id")
        .to_owned();
    let secret_id = server
        .api(Method::POST, "auth/approle/role/app/secret-id", None)
        .expect("secret id")["data"]["secret_id"]
        .as_str()
        .expect("secret_id")
        .to_owned();
    let out = server
        .cmd(&["run", "--auth-method", "approle", "--role-id", &role_id])
        .args(&["--path", "secret/app"])
        .env_remove("HUSH_TOKEN")
        .env("HUSH_SECRET_ID", &secret_id)
        .child(&["printenv", "FROM_APPROLE", "HUSH_SECRET_ID"])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout, "FROM_APPROLE=yes\nHUSH_SECRET_ID unset\n",
        "the login credential is not passed on"
    );

    let out = server
        .cmd(&["run", "--auth-method", "approle", "--role-id", &role_id])
        .args(&["--path", "secret/app"])
        .env_remove("HUSH_TOKEN")
        .env("HUSH_SECRET_ID", "wrong")
        .child(&["echo", "child-started"])
        .run();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("auth/approle/login"), "{out:?}");
    assert!(!out.stdout.contains("child-started"));

    // No secret ID at all: the refusal says so, not only the server's "invalid secret id".
    let out = server
        .cmd(&["run", "--auth-method", "approle", "--role-id", &role_id])
        .args(&["--path", "secret/app"])
        .env_remove("HUSH_TOKEN")
        .child(&["echo", "child-started"])
        .run();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("HUSH_SECRET_ID is not set"), "{out:?}");

    // A mount where no method is enabled.
    let out = server
        .cmd(&[
            "run",
            "--auth-method",
            "approle",
            "--auth-path",
            "nothing-here",
        ])
        .args(&["--role-id", &role_id, "--path", "secret/app"])
        .env_remove("HUSH_TOKEN")
        .env("HUSH_SECRET_ID", &secret_id)
        .child(&["echo", "child-started"])
        .run();
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("nothing at auth/nothing-here accepts a login"),
        "{out:?}"
    );
}

/// Starts `deliver` (a watching `hush run` of secret/app printing TOKEN), sees `before`, waits
/// `wait` (several token TTLs), changes the secret to `after` and checks the watcher still read
/// it, with no failed refresh on the way.
fn watcher_outlives_its_token(
    server: &Server,
    deliver: Deliver,
    before: &str,
    after: &str,
    wait: Duration,
) {
    let mut hush = deliver
        .child(&["printenv", "TOKEN", "+", "wait-signal"])
        .spawn();
    hush.expect_out(&format!("TOKEN={before}"), LONG);
    hush.expect_out("ready", LONG);
    std::thread::sleep(wait);
    server.put("app", json!({ "TOKEN": after }));
    hush.expect_err("hush: secrets changed (TOKEN); restarting", LONG);
    hush.expect_out(&format!("TOKEN={after}"), LONG);
    // The restarted child handles SIGTERM only once it says so; a signal before that would
    // end it by the default action (143), which is right but not what this test is about.
    hush.expect_out("ready", LONG);
    assert!(
        hush.seen_err.iter().all(|l| !l.contains("could not")),
        "no refresh failed: {:?}",
        hush.seen_err
    );
    hush.signal(Signal::SIGTERM);
    assert_eq!(hush.wait(LONG), 0);
}

/// A watcher outlives its token's TTL: hush renews it (a token from the configuration), and
/// logs in again once renewal cannot go further (a login token at its maximum TTL).
#[test]
fn watch_keeps_its_token_alive_by_renewing_or_logging_in_again() {
    let server = Server::start();
    server.put("app", json!({"TOKEN": "v1"}));
    server.api(
        Method::PUT,
        "sys/policies/acl/app",
        Some(json!({"policy": "path \"secret/data/app\" { capabilities = [\"read\"] }"})),
    );
    let watch = || {
        server
            .cmd(&["run", "--path", "secret/app", "--watch"])
            .args(&["--interval", "200ms", "--grace", "5s"])
    };

    // A renewable 2-second token given in the environment, watched for three TTLs.
    let short = server
        .api(
            Method::POST,
            "auth/token/create",
            Some(json!({"policies": ["app"], "ttl": "2s"})),
        )
        .expect("token answer")["auth"]["client_token"]
        .as_str()
        .expect("client_token")
        .to_owned();
    watcher_outlives_its_token(
        &server,
        watch().token(&short),
        "v1",
        "v2",
        Duration::from_secs(6),
    );

    // An AppRole login whose tokens live at most 3 seconds: renewal stops there, so hush logs
    // in again.
    server.api(
        Method::POST,
        "sys/auth/approle",
        Some(json!({"type": "approle"})),
    );
    server.api(
        Method::POST,
        "auth/approle/role/watcher",
        Some(json!({"token_policies": ["app"], "token_ttl": "2s", "token_max_ttl": "3s"})),
    );
    let role_id = server
        .api(Method::GET, "auth/approle/role/watcher/role-id", None)
        .expect("role id")["data"]["role_id"]
        .as_str()
        .expect("role_id")
        .to_owned();
    let secret_id = server
        .api(Method::POST, "auth/approle/role/watcher/secret-id", None)
        .expect("secret id")["data"]["secret_id"]
        .as_str()
        .expect("secret_id")
        .to_owned();
    let login = watch()
        .args(&["--auth-method", "approle", "--role-id", &role_id])
        .env("HUSH_SECRET_ID", &secret_id)
        .env_remove("HUSH_TOKEN");
    watcher_outlives_its_token(&server, login, "v2", "v3", Duration::from_secs(8));
}
