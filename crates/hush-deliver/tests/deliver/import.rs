//! `hush import`: round trips, dry runs, check-and-set, bad files.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use hush_client::Method;
use serde_json::{json, Value};

use crate::common::{block_on, Server, ROOT};
use crate::export::hostile;

fn version(server: &Server, rel: &str) -> u64 {
    server
        .api(Method::GET, &format!("secret/metadata/{rel}"), None)
        .and_then(|v| v.pointer("/data/current_version").and_then(Value::as_u64))
        .unwrap_or(0)
}

#[test]
fn round_trip_export_then_import_is_identical() {
    let server = Server::start();
    server.put("src", hostile());
    let dir = tempfile::tempdir().unwrap();
    for (format, file, typed) in [
        ("json", "s.json", true),
        ("yaml", "s.yaml", true),
        ("dotenv", "s.env", false),
        ("dotenv-export", "s-export.env", false),
    ] {
        let path = dir.path().join(file);
        let out = server
            .cmd(&["export", "--path", "secret/src", "--format", format, "-o"])
            .arg(&path)
            .run();
        assert_eq!(out.code, 0, "{out:?}");
        let target = format!("dst-{format}");
        let out = server
            .cmd(&["import", "--path", &format!("secret/{target}")])
            .arg(&path)
            .run();
        assert_eq!(out.code, 0, "{format}: {out:?}");
        assert!(
            out.stdout.ends_with("created 13, updated 0, unchanged 0\n"),
            "{out:?}"
        );
        let copied = server.get(&target).unwrap();
        let mut expected = hostile();
        if !typed {
            // dotenv has only strings.
            expected["NUMBER"] = json!("5432");
        }
        assert_eq!(copied, expected, "{format} round trip");

        // Importing the same file again changes nothing and writes no new version.
        let before = version(&server, &target);
        let out = server
            .cmd(&["import", "--path", &format!("secret/{target}")])
            .arg(&path)
            .run();
        assert!(
            out.stdout.ends_with("created 0, updated 0, unchanged 13\n"),
            "{out:?}"
        );
        assert_eq!(version(&server, &target), before);
    }
}

#[test]
fn dry_run_shows_the_diff_masked_and_changes_nothing() {
    let server = Server::start();
    server.put(
        "app",
        json!({"SAME": "same-value", "CHANGED": "old-value", "KEPT": "k"}),
    );
    let before = version(&server, "app");
    let out = server
        .cmd(&[
            "import",
            "--path",
            "secret/app",
            "--dry-run",
            "--format",
            "dotenv",
            "-",
        ])
        .stdin("SAME=same-value\nCHANGED=new-value\nNEW=brand-new-value\n")
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        "secret/app\n  ~ CHANGED (changed)\n  + NEW (new)\n  = SAME (unchanged)\n\
         dry run, nothing written: would create 1, update 1, leave 1 unchanged\n"
    );
    for value in ["same-value", "new-value", "old-value", "brand-new-value"] {
        assert!(!out.stdout.contains(value) && !out.stderr.contains(value));
    }
    assert_eq!(version(&server, "app"), before);
    assert_eq!(
        server.get("app").unwrap(),
        json!({"SAME": "same-value", "CHANGED": "old-value", "KEPT": "k"})
    );

    // The real import merges: KEPT stays.
    let out = server
        .cmd(&["import", "--path", "secret/app", "--format", "dotenv", "-"])
        .stdin("SAME=same-value\nCHANGED=new-value\nNEW=brand-new-value\n")
        .run();
    assert!(
        out.stdout.ends_with("created 1, updated 1, unchanged 1\n"),
        "{out:?}"
    );
    assert_eq!(
        server.get("app").unwrap(),
        json!({"SAME": "same-value", "CHANGED": "new-value", "KEPT": "k", "NEW": "brand-new-value"})
    );
}

#[test]
fn nested_files_go_to_sub_paths() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let json_file = dir.path().join("app.json");
    std::fs::write(
        &json_file,
        r#"{"TOP": "t", "db": {"user": "u", "password": "p"}, "cache": {"redis": {"url": "r"}}}"#,
    )
    .unwrap();
    let yaml_file = dir.path().join("more.yml");
    std::fs::write(&yaml_file, "EXTRA: e\ndb:\n  port: 5432\n").unwrap();
    let out = server
        .cmd(&["import", "--path", "secret/nest", "--nested"])
        .arg(&json_file)
        .arg(&yaml_file)
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        server.get("nest").unwrap(),
        json!({"TOP": "t", "EXTRA": "e"})
    );
    assert_eq!(
        server.get("nest/db").unwrap(),
        json!({"user": "u", "password": "p", "port": 5432})
    );
    assert_eq!(server.get("nest/cache/redis").unwrap(), json!({"url": "r"}));

    // Without --nested the mapping is one JSON value.
    let out = server
        .cmd(&["import", "--path", "secret/flat"])
        .arg(&json_file)
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        server.get("flat").unwrap()["db"],
        json!({"user": "u", "password": "p"})
    );
}

#[test]
fn kv_v1_import() {
    let server = Server::start();
    server.mount_kv1("kv1");
    let out = server
        .cmd(&["import", "--path", "kv1/app", "--format", "dotenv", "-"])
        .stdin("A=1\nB=\"two words\"\n")
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    let data = server.api(Method::GET, "kv1/app", None).unwrap();
    assert_eq!(data["data"], json!({"A": "1", "B": "two words"}));
}

#[test]
fn invalid_files_import_nothing() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.env");
    std::fs::write(&good, "GOOD=1\n").unwrap();
    let cases = [
        (
            "bad.env",
            "A=1\nthis line has no equals\n",
            "bad.env, line 2",
        ),
        ("open.env", "A=1\nB=\"never closed\n", "open.env, line 2"),
        (
            "bad.json",
            "{\n  \"a\": \"x\",\n  oops\n}",
            "bad.json, line 3",
        ),
        ("list.json", "[1, 2]", "object"),
        ("bad.yaml", "a: 1\nb: [unclosed\n", "bad.yaml, line"),
        ("empty.yaml", "# nothing\n", "no key"),
    ];
    for (name, text, want) in cases {
        let bad = dir.path().join(name);
        std::fs::write(&bad, text).unwrap();
        // The good file comes first: it must not be imported either.
        let out = server
            .cmd(&["import", "--path", "secret/never"])
            .arg(&good)
            .arg(&bad)
            .run();
        assert_ne!(out.code, 0, "{name}: {out:?}");
        assert!(
            out.stderr.contains(want),
            "{name}: missing {want:?} in {out:?}"
        );
        assert_eq!(server.get("never"), None, "{name}: nothing imported");
    }
}

/// A proxy in front of the server that, the first time it sees a write to `path`, writes to
/// that secret itself first: a concurrent edit landing between the import's read and write.
fn interfering_proxy(server_addr: String, path: &'static str) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let fired = Arc::new(AtomicBool::new(false));
    let fired_flag = Arc::clone(&fired);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let upstream = server_addr.clone();
            let fired = Arc::clone(&fired_flag);
            thread::spawn(move || proxy_connection(stream, &upstream, path, &fired));
        }
    });
    (addr, fired)
}

fn proxy_connection(client: TcpStream, upstream: &str, path: &str, fired: &AtomicBool) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut client = client;
    loop {
        let mut head = Vec::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("connection:") {
                continue;
            }
            head.push(line);
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request_line = head.first().cloned().unwrap_or_default();
        if request_line.starts_with("PUT ")
            && request_line.contains(path)
            && !fired.swap(true, Ordering::SeqCst)
        {
            let client = hush_client::Client::new(hush_client::ClientConfig {
                address: format!("http://{}", upstream.trim_start_matches("http://")),
                token: Some(ROOT.to_owned()),
                ..hush_client::ClientConfig::default()
            })
            .unwrap();
            block_on(client.write(&path[4..], json!({"data": {"CONCURRENT": "someone else"}})))
                .unwrap();
        }
        let mut up = TcpStream::connect(upstream.trim_start_matches("http://")).unwrap();
        let mut request = head.concat();
        request.push_str("connection: close\r\n\r\n");
        up.write_all(request.as_bytes()).unwrap();
        up.write_all(&body).unwrap();
        let mut response = Vec::new();
        let _ = up.read_to_end(&mut response);
        if client.write_all(&response).is_err() {
            return;
        }
    }
}

#[test]
fn a_concurrent_edit_is_reported_not_overwritten() {
    let server = Server::start();
    server.put("shared", json!({"A": "original"}));
    let (proxy, fired) = interfering_proxy(server.addr.clone(), "/v1/secret/data/shared");
    let out = crate::common::Deliver::new(&proxy)
        .args(&[
            "import",
            "--path",
            "secret/shared",
            "--format",
            "dotenv",
            "-",
        ])
        .stdin("A=mine\n")
        .run();
    assert!(
        fired.load(Ordering::SeqCst),
        "the proxy interfered: {out:?}"
    );
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("secret/shared"), "{out:?}");
    assert!(out.stderr.contains("check-and-set"), "{out:?}");
    assert!(
        !out.stdout.contains("created"),
        "no success summary: {out:?}"
    );
    assert_eq!(
        server.get("shared").unwrap(),
        json!({"CONCURRENT": "someone else"}),
        "the concurrent edit survives"
    );
}
