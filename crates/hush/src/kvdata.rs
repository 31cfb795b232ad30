//! The `key=value` arguments of `kv put`, `kv patch`, `write` and `audit enable`, with the
//! vault CLI's conventions:
//!
//! - `key=value`: a string value (the server converts it where a number or boolean is expected);
//! - `key=@file`: the file's contents, exactly (a trailing newline is kept); `key=\@x` is the
//!   literal `@x`;
//! - `key=-`: everything on standard input, exactly;
//! - `-` alone: a JSON object read from standard input, merged in;
//! - `@file.json` alone: a JSON object read from the file, merged in;
//! - a key given twice becomes a list (`policies=a policies=b`).
//!
//! Standard input can be read only once per command.

use std::io::Read;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::commands::UsageError;

/// Parses data arguments, reading standard input from `stdin` when an argument asks for it.
pub fn parse(args: &[String], stdin: &mut dyn Read) -> Result<Map<String, Value>, UsageError> {
    let mut parser = Parser {
        stdin,
        stdin_used: false,
        data: Map::new(),
    };
    for arg in args {
        parser.add(arg)?;
    }
    Ok(parser.data)
}

struct Parser<'a> {
    stdin: &'a mut dyn Read,
    stdin_used: bool,
    data: Map<String, Value>,
}

impl Parser<'_> {
    fn add(&mut self, arg: &str) -> Result<(), UsageError> {
        if arg.is_empty() {
            return Ok(());
        }
        let Some((key, value)) = arg.split_once('=') else {
            if arg == "-" {
                let text = self.read_stdin("-")?;
                return self.merge_json(&text, "standard input");
            }
            if let Some(file) = arg.strip_prefix('@') {
                let text = read_file(file, arg)?;
                return self.merge_json(&text, file);
            }
            return Err(UsageError::new(format!(
                "invalid data argument \"{}\": expected key=value, key=@file, key=- (standard \
                 input), @file.json or - (a JSON object on standard input)",
                printable_key(arg)
            )));
        };
        if key.is_empty() {
            return Err(UsageError::new(
                "invalid data argument \"=...\": the key before \"=\" is empty",
            ));
        }
        let value = if let Some(file) = value.strip_prefix('@') {
            read_file(file, key)?
        } else if let Some(literal) = value.strip_prefix("\\@") {
            Zeroizing::new(format!("@{literal}"))
        } else if value == "-" {
            self.read_stdin(key)?
        } else {
            Zeroizing::new(value.to_owned())
        };
        self.insert(key.to_owned(), Value::String(value.to_string()));
        Ok(())
    }

    /// Adds a value; a repeated key turns into a list of all its values, in order.
    fn insert(&mut self, key: String, value: Value) {
        match self.data.get_mut(&key) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                self.data.insert(key, value);
            }
        }
    }

    fn read_stdin(&mut self, for_key: &str) -> Result<Zeroizing<String>, UsageError> {
        if self.stdin_used {
            return Err(UsageError::new(format!(
                "standard input was already read for another argument; \"{}=-\" cannot read it \
                 again. Use key=@file for the other values",
                printable_key(for_key)
            )));
        }
        self.stdin_used = true;
        let mut bytes = Zeroizing::new(Vec::new());
        self.stdin
            .read_to_end(&mut bytes)
            .map_err(|e| UsageError::new(format!("could not read standard input: {e}")))?;
        utf8(bytes, "standard input")
    }

    fn merge_json(&mut self, text: &str, source: &str) -> Result<(), UsageError> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            UsageError::new(format!(
                "{source} does not hold a JSON object: {e}. Give a JSON object such as \
                 {{\"key\": \"value\"}}, or use key=@{source} to store the file as one value"
            ))
        })?;
        let Value::Object(map) = value else {
            return Err(UsageError::new(format!(
                "{source} holds JSON but not an object; give an object such as \
                 {{\"key\": \"value\"}}"
            )));
        };
        for (key, value) in map {
            self.insert(key, value);
        }
        Ok(())
    }
}

/// Reads a file named in an argument; errors name the file, never its contents.
fn read_file(path: &str, for_key: &str) -> Result<Zeroizing<String>, UsageError> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
        UsageError::new(format!(
            "could not read the file \"{path}\" given for \"{}\": {e}",
            printable_key(for_key)
        ))
    })?);
    utf8(bytes, path)
}

fn utf8(bytes: Zeroizing<Vec<u8>>, source: &str) -> Result<Zeroizing<String>, UsageError> {
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_owned())),
        Err(_) => Err(UsageError::new(format!(
            "{source} is not UTF-8 text; encode binary data first (e.g. with base64)"
        ))),
    }
}

/// The part of an argument that can go into an error message: up to the first `=`, so that a
/// mistyped `password:hunter2` does not echo the password.
fn printable_key(arg: &str) -> String {
    let key = arg.split(['=', ':']).next().unwrap_or_default();
    if key.len() < arg.len() {
        format!("{key}...")
    } else {
        key.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_files_and_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cert.pem");
        std::fs::write(&file, "PEM\n").unwrap();
        let file_arg = format!("cert=@{}", file.display());
        let mut stdin: &[u8] = b"from stdin\n";
        let data = parse(
            &args(&["user=admin", &file_arg, "pass=-", "at=\\@home", "empty="]),
            &mut stdin,
        )
        .unwrap();
        assert_eq!(
            Value::Object(data),
            json!({"user": "admin", "cert": "PEM\n", "pass": "from stdin\n", "at": "@home",
                   "empty": ""})
        );
    }

    #[test]
    fn repeated_keys_become_lists() {
        let data = parse(&args(&["p=a", "p=b", "p=c", "x=1"]), &mut &b""[..]).unwrap();
        assert_eq!(Value::Object(data), json!({"p": ["a", "b", "c"], "x": "1"}));
    }

    #[test]
    fn json_objects_from_stdin_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("d.json");
        std::fs::write(&file, r#"{"n": 1, "b": true}"#).unwrap();
        let mut stdin: &[u8] = br#"{"a": "x"}"#;
        let data = parse(&args(&["-", &format!("@{}", file.display())]), &mut stdin).unwrap();
        assert_eq!(Value::Object(data), json!({"a": "x", "n": 1, "b": true}));
        let err = parse(&args(&["-"]), &mut &b"[1]"[..]).unwrap_err();
        assert!(err.to_string().contains("not an object"), "{err}");
    }

    #[test]
    fn stdin_is_read_once() {
        let err = parse(&args(&["a=-", "b=-"]), &mut &b"x"[..]).unwrap_err();
        assert!(err.to_string().contains("already read"), "{err}");
    }

    #[test]
    fn malformed_arguments_do_not_echo_values() {
        let err = parse(&args(&["password:hunter2"]), &mut &b""[..]).unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("key=value"), "{text}");
        let err = parse(&args(&["=x"]), &mut &b""[..]).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let err = parse(&args(&["k=@/no/such/file"]), &mut &b""[..]).unwrap_err();
        assert!(err.to_string().contains("/no/such/file"), "{err}");
    }
}
