//! Helpers shared by the integration tests: running the real `hush` binary in a clean
//! environment, a real `hush server --dev` on a free port, and a reader for the YAML subset the
//! CLI prints.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Map, Value};

/// The binary under test.
pub fn hush_bin() -> &'static str {
    env!("CARGO_BIN_EXE_hush")
}

use hush_testkit::scrub;

/// Runs `hush` with `args` in a clean environment: no HUSH_*/VAULT_* variables and a home
/// directory of its own (without a token file), so the developer's own setup cannot leak in.
/// Every run of one `Hush` shares that home directory.
pub struct Hush {
    pub home: tempfile::TempDir,
    envs: Vec<(String, String)>,
    stdin: Option<String>,
}

impl Default for Hush {
    fn default() -> Self {
        Self::new()
    }
}

impl Hush {
    pub fn new() -> Self {
        Hush {
            home: tempfile::tempdir().unwrap(),
            envs: Vec::new(),
            stdin: None,
        }
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.envs.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn stdin(mut self, input: &str) -> Self {
        self.stdin = Some(input.to_owned());
        self
    }

    /// The token helper file of this home directory.
    pub fn token_file(&self) -> PathBuf {
        self.home.path().join(".hush-token")
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, self.stdin.as_deref().unwrap_or_default())
    }

    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut command = Command::new(hush_bin());
        command.args(args);
        scrub(&mut command);
        command
            .env("HOME", self.home.path())
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // The command may exit without reading its input; that is not a test failure.
        let _ = stdin.write_all(input.as_bytes());
        drop(stdin);
        let args = args.iter().map(|s| s.to_string()).collect();
        Run {
            output: child.wait_with_output().unwrap(),
            args,
        }
    }
}

/// The outcome of one run.
pub struct Run {
    pub output: Output,
    args: Vec<String>,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output
            .status
            .code()
            .expect("hush was killed by a signal")
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Asserts the exit code, showing the command and its output otherwise.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            code,
            "hush {:?}\nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.stdout(),
            self.stderr()
        );
        self
    }

    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout()).unwrap_or_else(|e| {
            panic!(
                "hush {:?}: stdout is not JSON ({e}):\n{}",
                self.args,
                self.stdout()
            )
        })
    }
}

/// A `hush server --dev` on a free port (the test kit's), killed when dropped, that hands out
/// client environments pointed at it.
pub struct DevServer(hush_testkit::DevServer);

pub use hush_testkit::ROOT_TOKEN;

impl std::ops::Deref for DevServer {
    type Target = hush_testkit::DevServer;
    fn deref(&self) -> &hush_testkit::DevServer {
        &self.0
    }
}

impl DevServer {
    pub fn start() -> DevServer {
        DevServer(hush_testkit::DevServer::start_binary(Path::new(hush_bin())))
    }

    /// A client environment pointed at this server, without a token.
    pub fn hush(&self) -> Hush {
        Hush::new().env("HUSH_ADDR", &self.address)
    }

    /// A client environment pointed at this server, with the root token.
    pub fn root(&self) -> Hush {
        self.hush().env("HUSH_TOKEN", ROOT_TOKEN)
    }
}

/// Writes a file and returns its path as a string.
pub fn write_file(dir: &Path, name: &str, contents: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Reads a YAML document with PyYAML, a second, independent YAML reader, when `python3` with
/// the `yaml` module is installed (it is not a requirement of the test suite).
pub fn yaml_with_python(text: &str) -> Option<Value> {
    let script = "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let _ = stdin.write_all(text.as_bytes());
    drop(stdin);
    let output = child.wait_with_output().ok()?;
    if !output.status.success() {
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}

/// Reads the YAML the CLI writes (block maps and lists, plain and double-quoted scalars, `{}`
/// and `[]`) into JSON, independently of the CLI's own emitter. Panics on anything else, so a
/// malformed document fails the test.
pub fn parse_yaml(text: &str) -> Value {
    let lines: Vec<(usize, String)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| (l.len() - l.trim_start().len(), l.trim_start().to_owned()))
        .collect();
    assert!(!lines.is_empty(), "empty YAML document");
    let mut lines = lines;
    let mut pos = 0;
    let indent = lines[0].0;
    let value = yaml_block(&mut lines, &mut pos, indent);
    assert_eq!(pos, lines.len(), "unparsed YAML from line {pos}:\n{text}");
    value
}

fn yaml_block(lines: &mut [(usize, String)], pos: &mut usize, indent: usize) -> Value {
    let first = lines[*pos].1.clone();
    if first == "-" || first.starts_with("- ") {
        let mut items = Vec::new();
        while *pos < lines.len() && lines[*pos].0 == indent {
            let line = lines[*pos].1.clone();
            let Some(rest) = line.strip_prefix('-') else {
                break;
            };
            let rest = rest.trim_start();
            if rest.starts_with("- ") || yaml_key(rest).is_some() {
                // A nested collection starting on the dash's line: re-read that line two
                // columns in, as the collection's first line.
                lines[*pos] = (indent + 2, rest.to_owned());
                items.push(yaml_block(lines, pos, indent + 2));
            } else {
                *pos += 1;
                items.push(yaml_scalar(rest));
            }
        }
        Value::Array(items)
    } else {
        let mut map = Map::new();
        while *pos < lines.len() && lines[*pos].0 == indent {
            let line = lines[*pos].1.clone();
            let (key, rest) =
                yaml_key(&line).unwrap_or_else(|| panic!("not a `key: value` line: {line}"));
            *pos += 1;
            let value = if rest.is_empty() {
                let child = lines[*pos].0;
                assert!(child > indent, "nested block not indented: {line}");
                yaml_block(lines, pos, child)
            } else {
                yaml_scalar(&rest)
            };
            assert!(map.insert(key, value).is_none(), "duplicate key in YAML");
        }
        Value::Object(map)
    }
}

/// Splits `key: value` (or `key:`), with a plain or double-quoted key.
fn yaml_key(line: &str) -> Option<(String, String)> {
    if line.starts_with('"') {
        let (key, used) = yaml_quoted(line);
        let rest = line[used..].strip_prefix(':')?;
        return Some((key, rest.trim().to_owned()));
    }
    let at = line
        .char_indices()
        .find(|&(i, c)| c == ':' && line[i + 1..].chars().next().is_none_or(|n| n == ' '))?
        .0;
    Some((line[..at].to_owned(), line[at + 1..].trim().to_owned()))
}

fn yaml_scalar(text: &str) -> Value {
    match text {
        "null" | "~" => return Value::Null,
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        "{}" => return Value::Object(Map::new()),
        "[]" => return Value::Array(Vec::new()),
        _ => {}
    }
    if text.starts_with('"') {
        let (s, used) = yaml_quoted(text);
        assert_eq!(used, text.len(), "junk after a quoted scalar: {text}");
        return Value::String(s);
    }
    if let Ok(n) = text.parse::<i64>() {
        return Value::from(n);
    }
    if let Ok(f) = text.parse::<f64>() {
        return Value::from(f);
    }
    assert!(
        !text.contains(": ") && !text.starts_with(['\'', '[', '{', '&', '*', '!', '|', '>']),
        "a plain scalar YAML would not read as a string: {text}"
    );
    Value::String(text.to_owned())
}

/// Parses a double-quoted scalar at the start of `text`; returns it and the bytes used.
fn yaml_quoted(text: &str) -> (String, usize) {
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, i + 1),
            '\\' => {
                let (_, e) = chars.next().expect("dangling escape");
                let mut hex = |n: usize| {
                    let digits: String = (0..n).map(|_| chars.next().unwrap().1).collect();
                    char::from_u32(u32::from_str_radix(&digits, 16).unwrap()).unwrap()
                };
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '"' => '"',
                    '\\' => '\\',
                    '/' => '/',
                    'x' => hex(2),
                    'u' => hex(4),
                    'U' => hex(8),
                    other => panic!("unknown escape \\{other}"),
                });
            }
            c => out.push(c),
        }
    }
    panic!("unterminated quoted scalar: {text}");
}
