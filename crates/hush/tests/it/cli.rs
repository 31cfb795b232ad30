//! The real `hush` binary, run as a user would run it. None of these tests needs a hush server;
//! where an answer is needed, a scripted stand-in serves canned responses.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use crate::common::Hush;

/// An address where nothing listens: a port just released by the OS.
fn dead_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// Serves `responses` (path -> (status, JSON body)) over plain HTTP, one request per
/// connection, for as long as the test runs. Returns the address.
fn stand_in_server(responses: Vec<(&'static str, u16, &'static str)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            answer(stream, &responses);
        }
    });
    address
}

fn answer(stream: TcpStream, responses: &[(&'static str, u16, &'static str)]) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let (status, body) = responses
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, s, b)| (*s, *b))
        .unwrap_or((404, r#"{"errors":[]}"#));
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = reader.into_inner();
    let _ = stream.write_all(response.as_bytes());
}

const SEALED: &str = r#"{"type":"shamir","initialized":true,"sealed":true,"t":3,"n":5,
    "progress":2,"nonce":"f00d","version":"0.1.0","migration":false,"recovery_seal":false,
    "storage_type":"sqlite"}"#;

#[test]
fn version_prints_the_package_version() {
    let run = Hush::new().run(&["version"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(
        run.stdout(),
        format!("hush v{}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn status_without_a_server_names_the_address_and_how_to_change_it() {
    let address = dead_address();
    let run = Hush::new().env("HUSH_ADDR", &address).run(&["status"]);
    assert_eq!(run.code(), 1);
    let stderr = run.stderr();
    assert!(stderr.starts_with("Error: "), "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
    assert!(
        stderr.contains("--address, HUSH_ADDR or VAULT_ADDR"),
        "{stderr}"
    );
    assert!(run.stdout().is_empty());
}

#[test]
fn vault_addr_is_used_when_hush_addr_is_unset() {
    let address = dead_address();
    let run = Hush::new().env("VAULT_ADDR", &address).run(&["status"]);
    assert_eq!(run.code(), 1);
    assert!(run.stderr().contains(&address), "{}", run.stderr());
}

#[test]
fn single_dash_address_is_rewritten() {
    let run = Hush::new().run(&["-address=http://127.0.0.1:1", "status"]);
    assert_eq!(run.code(), 1);
    assert!(
        run.stderr()
            .contains("could not connect to hush at http://127.0.0.1:1"),
        "{}",
        run.stderr()
    );
    // And after the subcommand, with the value as a separate argument.
    let run = Hush::new().run(&["status", "-address", "http://127.0.0.1:1"]);
    assert!(
        run.stderr().contains("http://127.0.0.1:1"),
        "{}",
        run.stderr()
    );
}

#[test]
fn invalid_key_shares_is_a_usage_error() {
    let run = Hush::new().run(&["init", "-key-shares=abc"]);
    assert_eq!(run.code(), 2);
    let stderr = run.stderr();
    assert!(stderr.contains("key-shares"), "{stderr}");
    assert!(stderr.contains("abc"), "{stderr}");
}

#[test]
fn a_mistyped_vault_style_option_gets_the_same_tip_as_the_double_dash_form() {
    for (args, typo, tip) in [
        (
            &["kv", "get", "-versoin=1", "secret/x"][..],
            "versoin",
            "--version",
        ),
        (
            &["token", "create", "-polcy=default"][..],
            "polcy",
            "--policy",
        ),
    ] {
        let single = Hush::new().run(args);
        assert_eq!(single.code(), 2, "{}", single.stderr());
        let stderr = single.stderr();
        assert!(stderr.contains(typo), "{stderr}");
        assert!(stderr.contains(tip), "{stderr}");
        let double: Vec<String> = args
            .iter()
            .map(|a| match a.strip_prefix('-') {
                Some(rest) if rest.starts_with(typo) => format!("--{rest}"),
                _ => a.to_string(),
            })
            .collect();
        let double: Vec<&str> = double.iter().map(String::as_str).collect();
        assert_eq!(Hush::new().run(&double).stderr(), stderr);
    }
}

#[test]
fn server_help_lists_no_client_options_and_dev_refuses_a_data_dir() {
    let help = Hush::new().run(&["server", "--help"]);
    assert_eq!(help.code(), 0, "{}", help.stderr());
    for client_only in ["--wrap-ttl", "--ca-cert", "--tls-skip-verify", "--address"] {
        assert!(
            !help.stdout().contains(client_only),
            "{client_only}: {}",
            help.stdout()
        );
    }
    assert!(help.stdout().contains("--data-dir"), "{}", help.stdout());
    // Client commands still take them.
    let help = Hush::new().run(&["kv", "get", "--help"]);
    assert!(help.stdout().contains("--wrap-ttl"), "{}", help.stdout());

    let dir = tempfile::tempdir().unwrap();
    let run = Hush::new().run(&[
        "server",
        "--dev",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr().contains("--data-dir has no effect with --dev"),
        "{}",
        run.stderr()
    );
}

#[test]
fn unknown_commands_and_options_are_usage_errors() {
    assert_eq!(Hush::new().run(&["frobnicate"]).code(), 2);
    assert_eq!(Hush::new().run(&["status", "-no-such-option"]).code(), 2);
    let run = Hush::new().run(&["-help"]);
    assert_eq!(run.code(), 0);
    assert!(run.stdout().contains("unseal"), "{}", run.stdout());
}

#[test]
fn invalid_address_is_explained() {
    let run = Hush::new().run(&["status", "--address", "localhost:8200"]);
    assert_eq!(run.code(), 1);
    assert!(run.stderr().contains("http://"), "{}", run.stderr());
}

#[test]
fn empty_unseal_key_from_stdin_is_rejected_before_connecting() {
    let run = Hush::new()
        .stdin("\n")
        .run(&["unseal", "-address=http://127.0.0.1:1"]);
    assert_eq!(run.code(), 1);
    assert!(
        run.stderr().contains("the unseal key is empty"),
        "{}",
        run.stderr()
    );
}

#[test]
fn seal_without_a_token_says_how_to_provide_one() {
    let run = Hush::new().run(&["seal", "-address", &dead_address()]);
    assert_eq!(run.code(), 1);
    assert!(run.stderr().contains("HUSH_TOKEN"), "{}", run.stderr());
}

#[test]
fn status_of_a_sealed_server_exits_2_with_a_table() {
    let address = stand_in_server(vec![("/v1/sys/seal-status", 200, SEALED)]);
    let run = Hush::new().run(&["status", "-address", &address]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    let stdout = run.stdout();
    assert!(stdout.starts_with("Key "), "{stdout}");
    assert!(stdout.contains("Sealed             true\n"), "{stdout}");
    assert!(stdout.contains("Unseal Progress    2/3\n"), "{stdout}");
    assert!(stdout.contains("Unseal Nonce       f00d\n"), "{stdout}");
}

#[test]
fn status_json_and_unsealed_exit_code() {
    let unsealed = r#"{"type":"shamir","initialized":true,"sealed":false,"t":1,"n":1,
        "cluster_name":"c1","cluster_id":"id1","version":"0.1.0"}"#;
    let address = stand_in_server(vec![
        ("/v1/sys/seal-status", 200, unsealed),
        ("/v1/sys/leader", 200, r#"{"ha_enabled":false}"#),
    ]);
    let run = Hush::new().run(&["status", "-format=json", "-address", &address]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let value: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(value["sealed"], false);
    assert_eq!(value["cluster_name"], "c1");
    assert_eq!(value["ha_enabled"], false);
}

#[test]
fn init_prints_keys_and_root_token() {
    let address = stand_in_server(vec![
        (
            "/v1/sys/init",
            200,
            r#"{"keys":["0a","0b"],"keys_base64":["Cg==","Cw=="],"root_token":"hvs.root"}"#,
        ),
        ("/v1/sys/seal-status", 200, SEALED),
    ]);
    let run = Hush::new().run(&[
        "operator",
        "init",
        "-key-shares=2",
        "-key-threshold=2",
        "-address",
        &address,
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stdout = run.stdout();
    assert!(stdout.contains("Unseal Key 1: Cg==\n"), "{stdout}");
    assert!(stdout.contains("Unseal Key 2: Cw==\n"), "{stdout}");
    assert!(
        stdout.contains("Initial Root Token: hvs.root\n"),
        "{stdout}"
    );
}

#[test]
fn server_errors_are_printed_with_their_message() {
    let address = stand_in_server(vec![(
        "/v1/sys/seal",
        403,
        r#"{"errors":["permission denied"]}"#,
    )]);
    let run = Hush::new()
        .env("VAULT_TOKEN", "not-a-real-token")
        .run(&["seal", "-address", &address]);
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr(),
        "Error: permission denied (HTTP 403) on sys/seal\n"
    );
}

#[test]
fn completions_are_scripts_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef hush"),
        ("fish", "complete -c hush"),
    ] {
        let run = Hush::new().run(&["completion", shell]);
        assert_eq!(run.code(), 0, "{shell}: {}", run.stderr());
        assert!(
            run.stdout().contains(marker),
            "{shell}: {}",
            &run.stdout()[..200.min(run.stdout().len())]
        );
        assert!(run.stdout().contains("kv"), "{shell}");
    }
    assert_eq!(Hush::new().run(&["completion", "tcsh"]).code(), 2);
}

#[test]
fn print_token_prints_the_token_the_cli_would_send() {
    let run = Hush::new()
        .env("HUSH_TOKEN", "hvs.example")
        .run(&["print", "token"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.stdout(), "hvs.example\n");
    let run = Hush::new().run(&["print", "token"]);
    assert_eq!(run.code(), 1);
    assert!(run.stderr().contains("no token"), "{}", run.stderr());
}
