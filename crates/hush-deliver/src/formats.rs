//! Writing secrets in the formats of `hush export`, with the quoting each one needs.
//!
//! * **dotenv** / **dotenv-export**: `KEY='value'` when the value holds no `'`, `\`, carriage
//!   return or other control character (then it is literal for python-dotenv, docker compose,
//!   node's dotenv and POSIX shells alike, `$` included, and newlines are kept as they are);
//!   otherwise `KEY="value"` with `\\`, `\"`, `\n` and `\r` escaped (read back exactly by
//!   python-dotenv, node's dotenv and docker compose, except that compose expands `$` in
//!   double-quoted values). `dotenv-export` puts `export ` in front of each line, which
//!   dotenv readers accept and shells need. Note that python-dotenv expands `${NAME}` in any
//!   value unless read with `interpolate=False`; no quoting prevents that.
//! * **json**: one object, keys sorted, values keeping their JSON type.
//! * **yaml**: one mapping, keys and strings double-quoted with YAML escapes, non-string values
//!   in flow style.
//! * **tfvars**: `name = "value"` in HCL, with `\\`, `\"`, `\n`, `\r`, `\t` and `\uXXXX`
//!   escapes, and `${` / `%{` written as `$${` / `%%{` so they are not read as interpolation.
//! * **k8s-secret**: a `v1` `Secret` manifest with the values base64-encoded under `data`.

use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::source::SecretValue;

/// One entry to write: name and value.
pub type Entry<'a> = (&'a str, &'a SecretValue);

/// Quotes a dotenv value (see the module documentation for the rule).
pub fn dotenv_value(value: &str) -> String {
    let literal_ok = !value
        .chars()
        .any(|c| c == '\'' || c == '\\' || (c.is_control() && c != '\n' && c != '\t'));
    if literal_ok {
        return format!("'{value}'");
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes `KEY=value` lines (with `export ` in front when `export` is set).
pub fn dotenv(entries: &[Entry<'_>], export: bool) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    for (name, value) in entries {
        if export {
            out.push_str("export ");
        }
        out.push_str(name);
        out.push('=');
        out.push_str(&dotenv_value(value.as_str()));
        out.push('\n');
    }
    out
}

/// Writes a JSON object, pretty-printed, keys sorted.
pub fn json(entries: &[Entry<'_>]) -> Zeroizing<String> {
    let map: serde_json::Map<String, Value> = entries
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.to_json()))
        .collect();
    // Serializing a Value into a String cannot fail: every key is a string.
    let mut out = Zeroizing::new(
        serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_else(|_| "{}".to_owned()),
    );
    out.push('\n');
    out
}

/// Quotes a string as a YAML double-quoted scalar.
///
/// Everything YAML does not allow unescaped (controls, DEL, C1 controls, the byte-order mark,
/// the non-characters U+FFFE/U+FFFF) and the characters YAML 1.1 readers such as PyYAML treat
/// as line breaks (U+0085, U+2028, U+2029) are escaped, so YAML 1.1 and 1.2 readers agree.
pub fn yaml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if (c as u32) < 0x20 || ('\u{7f}'..='\u{9f}').contains(&c) => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON value as a YAML flow node (strings double-quoted as in [`yaml_string`]).
pub fn yaml_value(value: &Value) -> String {
    match value {
        Value::String(s) => yaml_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(yaml_value).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", yaml_string(k), yaml_value(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        // null, booleans and numbers are spelled the same in JSON and YAML.
        other => other.to_string(),
    }
}

/// Writes a YAML mapping, one `"KEY": value` line per entry.
pub fn yaml(entries: &[Entry<'_>]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    if entries.is_empty() {
        out.push_str("{}\n");
    }
    for (name, value) in entries {
        out.push_str(&yaml_string(name));
        out.push_str(": ");
        out.push_str(&yaml_value(&value.to_json()));
        out.push('\n');
    }
    out
}

/// Quotes a string as an HCL quoted template that evaluates to exactly `value`.
pub fn hcl_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `${` and `%{` open an interpolation or a directive; doubling the sigil makes
            // them literal.
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON value as an HCL expression.
pub fn hcl_value(value: &Value) -> String {
    match value {
        Value::String(s) => hcl_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(hcl_value).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{} = {}", hcl_string(k), hcl_value(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// Whether `name` is an HCL identifier (what a `.tfvars` attribute name must be).
pub fn is_hcl_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Writes `name = value` lines for `tofu/terraform -var-file`.
pub fn tfvars(entries: &[Entry<'_>]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    for (name, value) in entries {
        out.push_str(name);
        out.push_str(" = ");
        out.push_str(&hcl_value(&value.to_json()));
        out.push('\n');
    }
    out
}

/// The metadata of a Kubernetes Secret manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sMeta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if any.
    pub namespace: Option<String>,
    /// `type`, e.g. `Opaque`.
    pub secret_type: String,
}

/// Whether `name` is a DNS-1123 subdomain (what `metadata.name` of a Secret must be).
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Whether `name` is a DNS-1123 label (what a namespace must be).
pub fn is_dns_label(name: &str) -> bool {
    name.len() <= 63 && !name.contains('.') && is_dns_subdomain(name)
}

/// Whether `key` may be a key of a Secret's `data` (`[-._a-zA-Z0-9]+`, at most 253 long).
pub fn is_k8s_data_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// Keys a Secret of a built-in `type` must have (Kubernetes rejects it otherwise).
pub fn k8s_required_keys(secret_type: &str) -> &'static [&'static str] {
    match secret_type {
        "kubernetes.io/tls" => &["tls.crt", "tls.key"],
        "kubernetes.io/dockerconfigjson" => &[".dockerconfigjson"],
        "kubernetes.io/dockercfg" => &[".dockercfg"],
        "kubernetes.io/ssh-auth" => &["ssh-privatekey"],
        _ => &[],
    }
}

/// Writes a `v1` `Secret` manifest with every value base64-encoded under `data`.
pub fn k8s_secret(entries: &[Entry<'_>], meta: &K8sMeta) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    out.push_str("apiVersion: v1\nkind: Secret\nmetadata:\n");
    let _ = writeln!(out, "  name: {}", yaml_string(&meta.name));
    if let Some(ns) = &meta.namespace {
        let _ = writeln!(out, "  namespace: {}", yaml_string(ns));
    }
    let _ = writeln!(out, "type: {}", yaml_string(&meta.secret_type));
    if entries.is_empty() {
        out.push_str("data: {}\n");
        return out;
    }
    out.push_str("data:\n");
    let engine = base64::engine::general_purpose::STANDARD;
    for (name, value) in entries {
        let encoded = Zeroizing::new(engine.encode(value.as_str().as_bytes()));
        let _ = writeln!(out, "  {}: \"{}\"", yaml_string(name), encoded.as_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_quoting() {
        assert_eq!(dotenv_value("plain"), "'plain'");
        assert_eq!(dotenv_value("pa$word ${HOME}"), "'pa$word ${HOME}'");
        assert_eq!(dotenv_value("two\nlines"), "'two\nlines'");
        assert_eq!(dotenv_value("it's"), "\"it's\"");
        assert_eq!(dotenv_value(r#"a\b"c"#), r#""a\\b\"c""#);
        assert_eq!(dotenv_value("it's\r\nx"), "\"it's\\r\\nx\"");
        assert_eq!(dotenv_value(""), "''");
    }

    #[test]
    fn yaml_quoting() {
        assert_eq!(yaml_string("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(yaml_string("\u{1b}[0m\u{7f}"), r#""\x1B[0m\x7F""#);
        assert_eq!(yaml_string("\u{2028}\u{85}é😀"), "\"\\L\\Né😀\"");
        assert_eq!(
            yaml_value(&serde_json::json!({"a": [1, true, null, "x"]})),
            r#"{"a": [1, true, null, "x"]}"#
        );
    }

    #[test]
    fn hcl_quoting() {
        assert_eq!(
            hcl_string("${var.x} %{if} $x %x"),
            r#""$${var.x} %%{if} $x %x""#
        );
        assert_eq!(hcl_string("$${a}"), r#""$$${a}""#);
        assert_eq!(hcl_string("q\"b\\\n\t\u{1}"), r#""q\"b\\\n\t\u0001""#);
        assert_eq!(
            hcl_value(&serde_json::json!({"k": [1, "v"]})),
            r#"{ "k" = [1, "v"] }"#
        );
        assert!(is_hcl_identifier("db_password-2"));
        assert!(!is_hcl_identifier("2x"));
        assert!(!is_hcl_identifier("a.b"));
    }

    #[test]
    fn k8s_names() {
        assert!(is_dns_subdomain("my-app.prod"));
        assert!(!is_dns_subdomain("My_App"));
        assert!(!is_dns_subdomain("-x"));
        assert!(is_dns_label("prod"));
        assert!(!is_dns_label("a.b"));
        assert!(is_k8s_data_key("tls.crt"));
        assert!(!is_k8s_data_key("a/b"));
        assert!(!is_k8s_data_key(".."));
        assert_eq!(
            k8s_required_keys("kubernetes.io/tls"),
            ["tls.crt", "tls.key"]
        );
    }

    #[test]
    fn json_keeps_types_and_sorts() {
        let a = SecretValue::string("x\"y");
        let b = SecretValue::from_json(serde_json::json!(42));
        let out = json(&[("b", &a), ("a", &b)]);
        assert_eq!(out.as_str(), "{\n  \"a\": 42,\n  \"b\": \"x\\\"y\"\n}\n");
    }
}
