//! A small YAML emitter for the JSON values the CLI prints with `--format yaml`.
//!
//! Only what JSON can hold is needed (maps, lists, strings, numbers, booleans, null), so this
//! writes block-style YAML directly instead of pulling in a YAML library. The output is valid
//! YAML 1.2 and reads back the same with YAML 1.1 parsers (PyYAML): any string that could be
//! read as something else (`true`, `no`, `1.5`, `null`, `~`, a date...) or that holds a
//! character with a meaning in YAML is double-quoted.

use std::fmt::Write as _;

use serde_json::Value;

/// Renders `value` as a YAML document, ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
    out
}

/// A value that fits on the line of its key or dash: scalars and empty collections.
fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

fn is_block(value: &Value) -> bool {
    match value {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (key, value) in map {
        pad(out, indent);
        out.push_str(&string(key));
        out.push(':');
        write_child(out, value, indent);
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        // A nested collection is written two columns in, then its first line's indentation is
        // replaced by the dash: `- key: value` followed by `  other: value`.
        if is_block(item) {
            let mut nested = String::new();
            write_block(&mut nested, item, indent + 2);
            pad(out, indent);
            out.push_str("- ");
            out.push_str(&nested[indent + 2..]);
        } else {
            pad(out, indent);
            out.push_str("- ");
            out.push_str(&inline(item));
            out.push('\n');
        }
    }
}

/// Writes what follows `key:`: the value on the same line, or a nested block below it.
fn write_child(out: &mut String, value: &Value, indent: usize) {
    if is_block(value) {
        out.push('\n');
        write_block(out, value, indent + 2);
    } else {
        out.push(' ');
        out.push_str(&inline(value));
        out.push('\n');
    }
}

fn write_block(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) => write_map(out, map, indent),
        Value::Array(items) => write_seq(out, items, indent),
        scalar => {
            pad(out, indent);
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
}

/// Numbers as YAML floats and integers. Floats always get a dot and a signed exponent, which
/// YAML 1.1 parsers require to read `1e16` as a number rather than a string.
fn number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let text = n.to_string();
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m.to_owned(), Some(e.to_owned())),
        None => (text.clone(), None),
    };
    let mantissa = if mantissa.contains('.') {
        mantissa
    } else {
        format!("{mantissa}.0")
    };
    match exponent {
        Some(e) if e.starts_with(['-', '+']) => format!("{mantissa}e{e}"),
        Some(e) => format!("{mantissa}e+{e}"),
        None => mantissa,
    }
}

/// Words YAML 1.1 or 1.2 reads as booleans or null when unquoted.
const RESERVED: &[&str] = &[
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
];

/// Whether `s` can be written without quotes and still read back as the same string.
///
/// Deliberately narrow: a letter, `_` or `/` first (so nothing numeric, no indicator character
/// and no `.inf`), then letters, digits, `_`, `.`, `/`, `-` and single inner spaces.
fn is_plain(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphabetic() || first == '_' || first == '/') {
        return false;
    }
    if s.ends_with(' ') || s.contains("  ") {
        return false;
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-' | ' '))
    {
        return false;
    }
    !RESERVED.contains(&s.to_ascii_lowercase().as_str())
}

fn string(s: &str) -> String {
    if is_plain(s) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_printable(c) => out.push(c),
            // Writing into a String cannot fail.
            c if (c as u32) <= 0xff => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// YAML's printable characters (c-printable, YAML 1.2 section 5.1), which may appear as they are
/// inside a double-quoted scalar; everything else must be escaped.
fn is_printable(c: char) -> bool {
    matches!(c as u32,
        0x20..=0x7e | 0x85 | 0xa0..=0xd7ff | 0xe000..=0xfffd | 0x10000..=0x10ffff)
        && c != '\u{feff}'
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_lists_and_nesting() {
        let value = json!({
            "data": {"password": "hunter2", "port": 5432, "tags": ["a", "b"], "empty": {}},
            "list": [{"k": "v", "num": 1, "n": 2}, ["x"], []],
            "nothing": null,
            "ok": true
        });
        assert_eq!(
            to_yaml(&value),
            "data:\n  empty: {}\n  password: hunter2\n  port: 5432\n  tags:\n    - a\n    - b\n\
             list:\n  - k: v\n    \"n\": 2\n    num: 1\n  - - x\n  - []\nnothing: null\nok: true\n"
        );
    }

    #[test]
    fn ambiguous_strings_are_quoted() {
        for s in [
            "true",
            "No",
            "y",
            "null",
            "~",
            "",
            "123",
            "1.5",
            "0x1f",
            "2024-01-01",
            ".inf",
            "-",
            "- a",
            "a: b",
            "a #b",
            "@x",
            "*x",
            "&x",
            "!x",
            "%x",
            "`x",
            "'x",
            "\"x",
            "{a}",
            "[a]",
            "a,b",
            " a",
            "a ",
            "hmac-sha256:ab",
            "line\nbreak",
            "tab\t",
            "ünï",
        ] {
            let out = string(s);
            assert!(out.starts_with('"'), "{s:?} -> {out}");
        }
        for s in [
            "secret/",
            "kv_abc",
            "hvs.CAES",
            "default",
            "some words here",
            "/var/log",
        ] {
            assert_eq!(string(s), s);
        }
    }

    #[test]
    fn escapes_are_yaml_escapes() {
        assert_eq!(string("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(string("\u{7f}\u{1}"), r#""\x7F\x01""#);
        assert_eq!(string("\u{feff}"), r#""\uFEFF""#);
        assert_eq!(string("é"), "\"é\"");
    }

    #[test]
    fn numbers_read_back_as_numbers() {
        assert_eq!(number(&serde_json::Number::from(-7)), "-7");
        let f = |x: f64| number(&serde_json::Number::from_f64(x).unwrap());
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(1e16), "1.0e+16");
        assert_eq!(f(2.5e-7), "2.5e-7");
    }

    #[test]
    fn top_level_scalars_and_empty_collections() {
        assert_eq!(to_yaml(&json!("x y")), "x y\n");
        assert_eq!(to_yaml(&json!(["a"])), "- a\n");
        assert_eq!(to_yaml(&json!({})), "{}\n");
        assert_eq!(to_yaml(&json!(null)), "null\n");
    }
}
