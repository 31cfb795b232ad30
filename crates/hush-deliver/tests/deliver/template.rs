//! `hush template`: rendering, errors, re-rendering on change, atomic replacement.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::json;

use crate::common::Server;

const LONG: Duration = Duration::from_secs(20);

#[test]
fn renders_secrets_with_filters_into_a_private_file() {
    let server = Server::start();
    server.put(
        "app/db",
        json!({"user": "app", "password": "p\"w$1", "port": 5432}),
    );
    let dir = tempfile::tempdir().unwrap();
    let tmpl = dir.path().join("db.conf.tmpl");
    let out_file = dir.path().join("db.conf");
    std::fs::write(
        &tmpl,
        "{% set db = secret(\"secret/app/db\") %}user={{ db.user }}\n\
         password={{ db.password }}\n\
         port={{ db.port + 1 }}\n\
         json={{ db.password | to_json }}\n\
         b64={{ db.user | base64 }} back={{ db.user | base64 | b64decode }}\n\
         optional={{ db.get(\"missing\", \"default\") }} has_user={{ \"user\" in db }}\n",
    )
    .unwrap();
    let out = server
        .cmd(&["template", "-i"])
        .arg(&tmpl)
        .arg("-o")
        .arg(&out_file)
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "user=app\npassword=p\"w$1\nport=5433\njson=\"p\\\"w$1\"\nb64=YXBw back=app\n\
         optional=default has_user=True\n"
    );
    let mode = std::fs::metadata(&out_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn template_errors_name_the_line_and_key_and_write_nothing() {
    let server = Server::start();
    server.put("app", json!({"user": "u"}));
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("out.conf");
    let cases = [
        (
            "syntax.tmpl",
            "ok\n{% if %}\n",
            vec!["syntax.tmpl, line 2", "syntax error"],
        ),
        (
            "missing-key.tmpl",
            "a\nb\n{{ secret(\"secret/app\").pasword }}\n",
            vec!["line 3", "\"pasword\"", "secret/app"],
        ),
        (
            "missing-path.tmpl",
            "{{ secret(\"secret/nope\").x }}\n",
            vec!["line 1", "secret/nope", "name each secret"],
        ),
        (
            "undefined.tmpl",
            "{{ nothing }}\n",
            vec!["line 1", "nothing"],
        ),
    ];
    for (name, text, wants) in cases {
        let tmpl = dir.path().join(name);
        std::fs::write(&tmpl, text).unwrap();
        let out = server
            .cmd(&["template", "-i"])
            .arg(&tmpl)
            .arg("-o")
            .arg(&out_file)
            .run();
        assert_ne!(out.code, 0, "{name}: {out:?}");
        for want in wants {
            assert!(
                out.stderr.contains(want),
                "{name}: missing {want:?} in {out:?}"
            );
        }
        assert!(!out_file.exists(), "{name}: nothing written");
        // `hush template` has no --recursive: no message may suggest it.
        assert!(!out.stderr.contains("--recursive"), "{name}: {out:?}");
    }
}

#[test]
fn watch_re_renders_after_a_change_and_runs_exec() {
    let server = Server::start();
    server.put("app", json!({"token": "first"}));
    let dir = tempfile::tempdir().unwrap();
    let tmpl = dir.path().join("t.tmpl");
    let out_file = dir.path().join("t.out");
    let log = dir.path().join("exec.log");
    std::fs::write(&tmpl, "token={{ secret(\"secret/app\").token }}\n").unwrap();
    let exec = format!("cat {} >> {}", out_file.display(), log.display());
    let mut hush = server
        .cmd(&["template", "--watch", "--interval", "200ms", "-i"])
        .arg(&tmpl)
        .arg("-o")
        .arg(&out_file)
        .arg("--exec")
        .arg(&exec)
        .spawn();
    wait_for(|| std::fs::read_to_string(&log).unwrap_or_default() == "token=first\n");

    server.put("app", json!({"token": "second"}));
    hush.expect_err("secrets changed", LONG);
    wait_for(|| std::fs::read_to_string(&log).unwrap_or_default() == "token=first\ntoken=second\n");
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "token=second\n"
    );

    // Without a change, nothing is rewritten or run again.
    thread::sleep(Duration::from_millis(600));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "token=first\ntoken=second\n"
    );
    hush.signal(Signal::SIGTERM);
    assert_eq!(hush.wait(LONG), 0);
}

#[test]
fn replacement_is_atomic_for_a_reader() {
    let server = Server::start();
    server.put("app", json!({"v": "A"}));
    let dir = tempfile::tempdir().unwrap();
    let tmpl = dir.path().join("big.tmpl");
    let out_file = dir.path().join("big.out");
    // About 400 KB of output, so that a non-atomic write would be seen half done.
    std::fs::write(
        &tmpl,
        "{% set v = secret(\"secret/app\").v %}{% for i in range(50000) %}{{ v }}{{ v }}{{ v }}{{ v }}{{ v }}{{ v }}{{ v }}\n{% endfor %}",
    )
    .unwrap();
    let mut hush = server
        .cmd(&["template", "--watch", "--interval", "100ms", "-i"])
        .arg(&tmpl)
        .arg("-o")
        .arg(&out_file)
        .spawn();
    wait_for(|| out_file.exists());

    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let stop = Arc::clone(&stop);
        let reads = Arc::clone(&reads);
        let path = out_file.clone();
        thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            while !stop.load(Ordering::SeqCst) {
                let text = std::fs::read_to_string(&path).expect("the file is always there");
                assert_eq!(text.len(), 50_000 * 8, "a complete file every time");
                let first = text.as_bytes()[0];
                assert!(
                    text.bytes().all(|b| b == first || b == b'\n'),
                    "one version per read, never a mix"
                );
                seen.insert(first);
                reads.fetch_add(1, Ordering::SeqCst);
            }
            seen
        })
    };
    for v in ["B", "C", "D", "E"] {
        server.put("app", json!({ "v": v }));
        hush.expect_err("secrets changed", LONG);
    }
    wait_for(|| {
        std::fs::read_to_string(&out_file)
            .unwrap_or_default()
            .starts_with('E')
    });
    stop.store(true, Ordering::SeqCst);
    let seen = reader.join().expect("the reader saw only whole files");
    assert!(reads.load(Ordering::SeqCst) > 10, "the reader kept reading");
    assert!(seen.len() >= 2, "the reader saw the file change: {seen:?}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".hush-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary files left: {leftovers:?}"
    );
    hush.signal(Signal::SIGTERM);
    assert_eq!(hush.wait(LONG), 0);
}

fn wait_for(cond: impl Fn() -> bool) {
    let deadline = Instant::now() + LONG;
    while !cond() {
        assert!(Instant::now() < deadline, "condition not met in time");
        thread::sleep(Duration::from_millis(20));
    }
}
