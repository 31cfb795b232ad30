//! Canonical HCL output (`hush policy fmt`).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use crate::policy::{PathRule, Policy};

impl Policy {
    /// Formats the policy as canonical HCL: path blocks in their order, two-space indent,
    /// `capabilities = ["read", "list"]` in canonical capability order, parameter maps sorted by
    /// name, TTLs as Go durations. The legacy `policy = "..."` form is written as the
    /// capabilities it stands for.
    ///
    /// [`crate::parse`] of the output gives back an equal policy. A policy without rules is
    /// written as a comment, which parses back to a policy without rules.
    pub fn to_hcl(&self) -> String {
        if self.rules.is_empty() {
            return "# This policy has no path rules: it grants nothing.\n".to_string();
        }
        let mut out = String::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            write_rule(&mut out, rule);
        }
        out
    }
}

fn write_rule(out: &mut String, rule: &PathRule) {
    out.push_str("path ");
    push_quoted(out, &rule.pattern);
    out.push_str(" {\n  capabilities = [");
    for (i, name) in rule.capabilities.names().into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_quoted(out, name);
    }
    out.push_str("]\n");
    write_parameters(out, "allowed_parameters", &rule.allowed_parameters);
    write_parameters(out, "denied_parameters", &rule.denied_parameters);
    if !rule.required_parameters.is_empty() {
        out.push_str("  required_parameters = [");
        for (i, name) in rule.required_parameters.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            push_quoted(out, name);
        }
        out.push_str("]\n");
    }
    for (key, ttl) in [
        ("min_wrapping_ttl", rule.min_wrapping_ttl),
        ("max_wrapping_ttl", rule.max_wrapping_ttl),
    ] {
        if let Some(ttl) = ttl {
            let _ = writeln!(out, "  {key} = \"{}\"", hush_config::format_duration(ttl));
        }
    }
    out.push_str("}\n");
}

fn write_parameters(out: &mut String, key: &str, params: &BTreeMap<String, Vec<Value>>) {
    if params.is_empty() {
        return;
    }
    let _ = writeln!(out, "  {key} = {{");
    for (name, values) in params {
        out.push_str("    ");
        push_quoted(out, name);
        out.push_str(" = ");
        push_value(out, &Value::Array(values.clone()));
        out.push('\n');
    }
    out.push_str("  }\n");
}

/// Writes a JSON value as an HCL literal.
fn push_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => push_quoted(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                out.push_str(if i > 0 { ", " } else { " " });
                push_quoted(out, key);
                out.push_str(" = ");
                push_value(out, item);
            }
            out.push_str(if map.is_empty() { "}" } else { " }" });
        }
    }
}

/// Writes an HCL quoted string. Besides the usual escapes, `${` and `%{` are doubled so that
/// HCL reads them as literal text rather than as the start of an interpolation.
pub(crate) fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes() {
        let mut out = String::new();
        push_quoted(&mut out, "a\"b\\c\n${x}%{y}$z\u{1}");
        assert_eq!(out, r#""a\"b\\c\n$${x}%%{y}$z\u0001""#);
    }

    #[test]
    fn values_render_as_hcl() {
        let mut out = String::new();
        push_value(
            &mut out,
            &serde_json::json!([null, true, 1, 2.5, "s", [], {}, {"k": "v"}]),
        );
        assert_eq!(out, r#"[null, true, 1, 2.5, "s", [], {}, { "k" = "v" }]"#);
    }
}
