//! `hush export`: golden files for every format, with hostile values.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::common::Server;

/// Values that break naive quoting: quotes, newlines, `$`, `=`, backslashes, HCL template
/// sequences, control characters, unicode, and a non-string value.
pub fn hostile() -> Value {
    json!({
        "PLAIN": "simple",
        "QUOTES": "she said \"hi\" and 'bye'",
        "NEWLINES": "line1\nline2\n",
        "DOLLAR": "pa$word $HOME $(cmd) `tick` $$",
        "TEMPLATE_SEQ": "${var.x} %{if true}y%{endif} $${z}",
        "EQUALS": "a=b==c",
        "UNICODE": "héllo wörld ✓ 日本 😀",
        "BACKSLASH": "C:\\path\\n \\\"",
        "CONTROL": "a\tb\r\nc\u{1b}[0m",
        "EMPTY": "",
        "HASH": "value # not a comment",
        "SPACES": "  padded  ",
        "NUMBER": 5432
    })
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compares `actual` with the golden file; `UPDATE_GOLDEN=1` rewrites it instead.
fn check_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(actual, expected, "golden file {name} differs");
}

#[test]
fn golden_files_for_every_format() {
    let server = Server::start();
    server.put("golden/app", hostile());
    let formats = [
        ("dotenv", "export.env", vec![]),
        ("dotenv-export", "export-export.env", vec![]),
        ("json", "export.json", vec![]),
        ("yaml", "export.yaml", vec![]),
        ("tfvars", "export.tfvars", vec![]),
        (
            "k8s-secret",
            "export-k8s-secret.yaml",
            vec!["--name", "golden-app", "--namespace", "prod"],
        ),
    ];
    for (format, golden, extra) in formats {
        let out = server
            .cmd(&["export", "--path", "secret/golden/app", "--format", format])
            .args(&extra)
            .run();
        assert_eq!(out.code, 0, "{format}: {out:?}");
        check_golden(golden, &out.stdout);
    }
}

#[test]
fn outputs_parse_back_to_the_same_values() {
    let server = Server::start();
    server.put("golden/app", hostile());
    let expected = hostile();

    let out = server
        .cmd(&["export", "--path", "secret/golden/app", "--format", "json"])
        .run();
    let parsed: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(parsed, expected);

    // YAML and dotenv through the import parsers of this crate.
    let out = server
        .cmd(&["export", "--path", "secret/golden/app", "--format", "yaml"])
        .run();
    let tree = hush_deliver::parse::parse_yaml("x.yaml", &out.stdout).unwrap();
    let yaml: Value = Value::Object(tree.iter().map(|(k, n)| (k.clone(), n.to_json())).collect());
    assert_eq!(yaml, expected);

    for format in ["dotenv", "dotenv-export"] {
        let out = server
            .cmd(&["export", "--path", "secret/golden/app", "--format", format])
            .run();
        let tree = hush_deliver::parse::parse_dotenv("x.env", &out.stdout).unwrap();
        for (key, node) in tree {
            let want = match &expected[&key] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(node.to_json(), Value::String(want), "{format} {key}");
        }
    }

    // k8s-secret: base64 of each value.
    let out = server
        .cmd(&[
            "export",
            "--path",
            "secret/golden/app",
            "--format",
            "k8s-secret",
        ])
        .run();
    assert!(
        out.stdout.contains("  name: \"app\"\n"),
        "name from the path: {out:?}"
    );
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode("she said \"hi\" and 'bye'");
    assert!(
        out.stdout.contains(&format!("\"QUOTES\": \"{b64}\"")),
        "{out:?}"
    );
}

#[test]
fn output_file_is_private_and_not_overwritten_without_force() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start();
    server.put("app", json!({"A": "1"}));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.env");
    let file_arg = file.to_str().unwrap();
    let out = server
        .cmd(&[
            "export",
            "--path",
            "secret/app",
            "--format",
            "dotenv",
            "-o",
            file_arg,
        ])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "", "nothing on stdout with -o");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "A='1'\n");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    server.put("app", json!({"A": "2"}));
    let out = server
        .cmd(&[
            "export",
            "--path",
            "secret/app",
            "--format",
            "dotenv",
            "-o",
            file_arg,
        ])
        .run();
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("--force") && out.stderr.contains("app.env"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "A='1'\n");

    let out = server
        .cmd(&[
            "export",
            "--path",
            "secret/app",
            "--format",
            "dotenv",
            "-o",
            file_arg,
        ])
        .arg("--force")
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "A='2'\n");
}

#[test]
fn bad_input_for_export() {
    let server = Server::start();
    server.put("weird", json!({"db.password": "x", "tls.crt": "c"}));
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--path", "secret/weird", "--format", "dotenv"],
            vec!["\"db.password\"", "--sanitize-names"],
        ),
        (
            vec!["--path", "secret/weird", "--format", "tfvars"],
            vec!["\"db.password\""],
        ),
        (
            vec![
                "--path",
                "secret/weird",
                "--format",
                "k8s-secret",
                "--name",
                "Bad_Name",
            ],
            vec!["Bad_Name"],
        ),
        (
            vec![
                "--path",
                "secret/weird",
                "--format",
                "k8s-secret",
                "--type",
                "kubernetes.io/tls",
            ],
            vec!["tls.key"],
        ),
        (
            vec!["--path", "secret/missing", "--format", "json"],
            vec!["secret/missing"],
        ),
    ];
    for (args, wants) in cases {
        let out = server.cmd(&["export"]).args(&args).run();
        assert_ne!(out.code, 0, "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "nothing written: {out:?}");
        for want in wants {
            assert!(
                out.stderr.contains(want),
                "{args:?}: missing {want:?} in {out:?}"
            );
        }
    }
    let out = server
        .cmd(&[
            "export",
            "--path",
            "secret/weird",
            "--format",
            "dotenv",
            "--sanitize-names",
        ])
        .run();
    assert_eq!(out.stdout, "db_password='x'\ntls_crt='c'\n", "{out:?}");
}

#[test]
fn tfvars_evaluate_to_the_same_values_in_hcl() {
    let server = Server::start();
    server.put("golden/app", hostile());
    let out = server
        .cmd(&[
            "export",
            "--path",
            "secret/golden/app",
            "--format",
            "tfvars",
        ])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    // Evaluated, not just parsed: `$${` and `%%{` must come back as literal `${` and `%{`.
    let evaluated: Value =
        hcl::eval::from_str(&out.stdout, &hcl::eval::Context::new()).expect("valid HCL");
    assert_eq!(evaluated, hostile());
}
