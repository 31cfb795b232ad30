//! Front ends: HCL and JSON policy text to a format-neutral list of raw path blocks.
//!
//! Both front ends only check structure (what is a block, what is a key, literal values). The
//! meaning of each key is checked once, for both formats, in `policy.rs`.

use std::fmt;

use hcl::edit::expr::{Expression, ObjectKey};
use hcl::edit::structure::{Body, Structure};
use hcl::edit::Span;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::error::PolicyError;

/// One `path "..." { ... }` block before its keys are interpreted.
#[derive(Debug)]
pub(crate) struct RawRule {
    /// The pattern exactly as written (leading `/` not yet stripped).
    pub pattern: String,
    /// Byte offset of the block in the source, for error lines.
    pub offset: Option<usize>,
    /// The keys of the block, in source order.
    pub fields: Vec<RawField>,
}

/// One `key = value` inside a path block.
#[derive(Debug)]
pub(crate) struct RawField {
    pub key: String,
    /// Byte offset of the attribute in the source, for error lines.
    pub offset: Option<usize>,
    pub value: Value,
}

/// One-based line of a byte offset in `text`.
pub(crate) fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Whether the text is Vault's JSON policy form rather than HCL.
///
/// An HCL body can never start with `{`, so the first significant character decides.
pub(crate) fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

fn invalid(text: &str, offset: Option<usize>, message: String) -> PolicyError {
    PolicyError::Invalid {
        path: None,
        line: offset.map(|o| line_at(text, o)),
        message,
    }
}

const TOP_LEVEL_HINT: &str = "a policy holds only `path \"<pattern>\" { capabilities = [...] }` \
                              blocks (and an optional `name`)";

// ---------------------------------------------------------------------------------------------
// HCL
// ---------------------------------------------------------------------------------------------

/// Reads the path blocks of an HCL policy.
pub(crate) fn hcl_rules(text: &str) -> Result<Vec<RawRule>, PolicyError> {
    let body: Body = text.parse().map_err(|err: hcl::edit::parser::Error| {
        let near = err.line().trim();
        PolicyError::Syntax {
            line: err.location().line(),
            column: err.location().column(),
            message: if near.is_empty() {
                err.message().to_string()
            } else {
                format!("{} (in `{near}`)", err.message())
            },
        }
    })?;

    let mut rules = Vec::new();
    for structure in body.iter() {
        match structure {
            Structure::Block(block) => {
                let offset = block.span().map(|s| s.start);
                let ident = block.ident.as_str();
                if ident != "path" {
                    return Err(invalid(
                        text,
                        offset,
                        format!("unknown top-level block {ident:?}; {TOP_LEVEL_HINT}"),
                    ));
                }
                let [label] = block.labels.as_slice() else {
                    return Err(invalid(
                        text,
                        offset,
                        format!(
                            "a path block takes exactly one quoted pattern, found {} labels; \
                             write `path \"secret/*\" {{ ... }}`",
                            block.labels.len()
                        ),
                    ));
                };
                let pattern = label.as_str().to_string();
                let fields = hcl_block_fields(text, &pattern, &block.body)?;
                rules.push(RawRule {
                    pattern,
                    offset,
                    fields,
                });
            }
            Structure::Attribute(attr) => {
                let offset = attr.span().map(|s| s.start);
                match attr.key.as_str() {
                    // Vault reads and ignores a top-level name; the stored name wins.
                    "name" => {}
                    // HCL1 also allows `path = { "pattern" = { ... } }`, the shape of the JSON form.
                    "path" => {
                        let value = hcl_value(text, &attr.value)?;
                        json_paths(text, value, offset, &mut rules)?;
                    }
                    other => {
                        return Err(invalid(
                            text,
                            offset,
                            format!("unknown top-level key {other:?}; {TOP_LEVEL_HINT}"),
                        ))
                    }
                }
            }
        }
    }
    Ok(rules)
}

/// The keys of one path block's body.
fn hcl_block_fields(text: &str, pattern: &str, body: &Body) -> Result<Vec<RawField>, PolicyError> {
    let mut fields = Vec::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) => fields.push(RawField {
                key: attr.key.as_str().to_string(),
                offset: attr.span().map(|s| s.start),
                value: hcl_value(text, &attr.value)?,
            }),
            Structure::Block(block) => {
                let offset = block.span().map(|s| s.start);
                let key = block.ident.as_str();
                // HCL1 let `allowed_parameters { foo = [] }` stand for the attribute form; keep
                // accepting it for parameter maps, the only nested values policies have.
                if block.labels.is_empty()
                    && matches!(key, "allowed_parameters" | "denied_parameters")
                {
                    let mut map = serde_json::Map::new();
                    for inner in block.body.iter() {
                        let Structure::Attribute(attr) = inner else {
                            return Err(PolicyError::Invalid {
                                path: Some(pattern.to_string()),
                                line: offset.map(|o| line_at(text, o)),
                                message: format!(
                                    "{key} holds `name = [values]` entries, not blocks"
                                ),
                            });
                        };
                        map.insert(attr.key.as_str().to_string(), hcl_value(text, &attr.value)?);
                    }
                    fields.push(RawField {
                        key: key.to_string(),
                        offset,
                        value: Value::Object(map),
                    });
                } else {
                    // Let the semantic check report it like any other unknown key, so
                    // enterprise-only blocks such as control_group get their specific message.
                    fields.push(RawField {
                        key: key.to_string(),
                        offset,
                        value: Value::Null,
                    });
                }
            }
        }
    }
    Ok(fields)
}

/// Converts a literal HCL expression to JSON. Policies hold only literals: anything computed
/// (variables, function calls, `${...}` interpolation) is an error.
fn hcl_value(text: &str, expr: &Expression) -> Result<Value, PolicyError> {
    let offset = expr.span().map(|s| s.start);
    let reject = |what: &str, fix: &str| invalid(text, offset, format!("{what} {fix}"));
    Ok(match expr {
        Expression::Null(_) => Value::Null,
        Expression::Bool(b) => Value::Bool(*b.value()),
        Expression::Number(n) => {
            let n = n.value();
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| {
                        reject("a number that is not finite", "cannot be used in a policy")
                    })?
            }
        }
        Expression::String(s) => Value::String(s.value().clone()),
        Expression::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| hcl_value(text, item))
                .collect::<Result<_, _>>()?,
        ),
        Expression::Object(object) => {
            let mut map = serde_json::Map::new();
            for (key, value) in object.iter() {
                let key = match key {
                    ObjectKey::Ident(ident) => ident.as_str().to_string(),
                    ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                    ObjectKey::Expression(_) => {
                        return Err(reject(
                            "an object key must be a name or a quoted string;",
                            "write `\"key\" = [...]`",
                        ))
                    }
                };
                map.insert(key, hcl_value(text, value.expr())?);
            }
            Value::Object(map)
        }
        Expression::Parenthesis(inner) => hcl_value(text, inner.inner())?,
        Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => {
            return Err(reject(
                "string interpolation (`${...}` or `%{...}`) is not supported in policies;",
                "write `$${` or `%%{` for a literal `${` or `%{`, and use `{{identity...}}` \
                 templates in path patterns",
            ))
        }
        Expression::Variable(name) => {
            return Err(reject(
                &format!("unquoted word `{}`;", name.as_str()),
                "policy values are literals: put it in double quotes",
            ))
        }
        _ => {
            return Err(reject(
                "expressions (operators, function calls, conditionals, references) are not \
                 supported in policies;",
                "write a literal string, number, list or object",
            ))
        }
    })
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

/// Reads the path blocks of a JSON policy: `{"path": {"secret/*": {"capabilities": [...]}}}`.
pub(crate) fn json_rules(text: &str) -> Result<Vec<RawRule>, PolicyError> {
    let top: Ordered = serde_json::from_str(text).map_err(|err| PolicyError::Syntax {
        line: err.line(),
        column: err.column(),
        message: json_error_message(&err),
    })?;
    let Ordered::Object(entries) = top else {
        return Err(invalid(
            text,
            None,
            "a JSON policy must be an object such as \
             {\"path\": {\"secret/*\": {\"capabilities\": [\"read\"]}}}"
                .to_string(),
        ));
    };
    let mut rules = Vec::new();
    let mut cursor = Cursor { text, pos: 0 };
    for (key, value) in entries {
        match key.as_str() {
            "name" => {}
            "path" => ordered_paths(&mut cursor, value, &mut rules)?,
            other => {
                return Err(invalid(
                    text,
                    None,
                    format!("unknown top-level key {other:?}; {TOP_LEVEL_HINT}"),
                ))
            }
        }
    }
    Ok(rules)
}

/// serde_json appends " at line L column C" to its messages; the location is reported
/// separately, so strip it.
fn json_error_message(err: &serde_json::Error) -> String {
    let full = err.to_string();
    match full.rfind(" at line ") {
        Some(pos) => full[..pos].to_string(),
        None => full,
    }
}

/// Finds successive `"pattern":` keys in JSON text so errors can name a line.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn find_key(&mut self, key: &str) -> Option<usize> {
        let quoted = serde_json::to_string(key).ok()?;
        let mut from = self.pos;
        while let Some(rel) = self.text.get(from..)?.find(&quoted) {
            let start = from + rel;
            let after = start + quoted.len();
            if self.text[after..].trim_start().starts_with(':') {
                self.pos = after;
                return Some(start);
            }
            from = after;
        }
        None
    }
}

fn ordered_paths(
    cursor: &mut Cursor<'_>,
    value: Ordered,
    rules: &mut Vec<RawRule>,
) -> Result<(), PolicyError> {
    match value {
        Ordered::Object(entries) => {
            for (pattern, rule) in entries {
                let offset = cursor.find_key(&pattern);
                push_json_rule(cursor.text, pattern, offset, rule.into_json(), rules)?;
            }
            Ok(())
        }
        // HCL1's JSON form may repeat `path` as a list of single-entry objects.
        Ordered::Array(items) => {
            for item in items {
                ordered_paths(cursor, item, rules)?;
            }
            Ok(())
        }
        _ => Err(invalid(
            cursor.text,
            None,
            "\"path\" must be an object mapping patterns to rules, such as \
             {\"secret/*\": {\"capabilities\": [\"read\"]}}"
                .to_string(),
        )),
    }
}

/// Handles the value of a top-level `path = {...}` written in HCL (same shape as JSON).
fn json_paths(
    text: &str,
    value: Value,
    offset: Option<usize>,
    rules: &mut Vec<RawRule>,
) -> Result<(), PolicyError> {
    match value {
        Value::Object(map) => {
            for (pattern, rule) in map {
                push_json_rule(text, pattern, offset, rule, rules)?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for item in items {
                json_paths(text, item, offset, rules)?;
            }
            Ok(())
        }
        _ => Err(invalid(
            text,
            offset,
            "`path` must map patterns to rules: path = { \"secret/*\" = { capabilities = [\"read\"] } }"
                .to_string(),
        )),
    }
}

fn push_json_rule(
    text: &str,
    pattern: String,
    offset: Option<usize>,
    rule: Value,
    rules: &mut Vec<RawRule>,
) -> Result<(), PolicyError> {
    match rule {
        Value::Object(map) => {
            let fields = map
                .into_iter()
                .map(|(key, value)| RawField { key, offset, value })
                .collect();
            rules.push(RawRule {
                pattern,
                offset,
                fields,
            });
            Ok(())
        }
        Value::Array(items) => {
            for item in items {
                push_json_rule(text, pattern.clone(), offset, item, rules)?;
            }
            Ok(())
        }
        _ => Err(PolicyError::Invalid {
            line: offset.map(|o| line_at(text, o)),
            path: Some(pattern),
            message: "the rule must be an object such as {\"capabilities\": [\"read\"]}"
                .to_string(),
        }),
    }
}

/// A JSON value whose objects keep their keys in source order, so `to_hcl` can keep the path
/// blocks of a JSON policy in the order they were written.
enum Ordered {
    Scalar(Value),
    Array(Vec<Ordered>),
    Object(Vec<(String, Ordered)>),
}

impl Ordered {
    fn into_json(self) -> Value {
        match self {
            Ordered::Scalar(v) => v,
            Ordered::Array(items) => Value::Array(items.into_iter().map(Self::into_json).collect()),
            Ordered::Object(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, v.into_json()))
                    .collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> Visitor<'de> for OrderedVisitor {
    type Value = Ordered;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Ordered, E> {
        Ok(Ordered::Scalar(Value::Null))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Ordered, E> {
        Ok(Ordered::Scalar(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ordered, E> {
        Ok(Ordered::Scalar(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ordered, E> {
        Ok(Ordered::Scalar(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Ordered, E> {
        serde_json::Number::from_f64(v)
            .map(|n| Ordered::Scalar(Value::Number(n)))
            .ok_or_else(|| E::custom("numbers must be finite"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Ordered, E> {
        Ok(Ordered::Scalar(Value::String(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Ordered, E> {
        Ok(Ordered::Scalar(Value::String(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Ordered::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Ordered>()? {
            entries.push((key, value));
        }
        Ok(Ordered::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_at_counts_newlines() {
        let text = "a\nb\nc";
        assert_eq!(line_at(text, 0), 1);
        assert_eq!(line_at(text, 2), 2);
        assert_eq!(line_at(text, 4), 3);
        assert_eq!(line_at(text, 100), 3);
    }

    #[test]
    fn json_keeps_source_order() {
        let rules = json_rules(
            r#"{"path": {"z/*": {"capabilities": ["read"]}, "a": {"capabilities": []}}}"#,
        )
        .unwrap();
        let patterns: Vec<_> = rules.iter().map(|r| r.pattern.as_str()).collect();
        assert_eq!(patterns, vec!["z/*", "a"]);
    }

    #[test]
    fn json_cursor_finds_successive_keys() {
        let text = "{\n\"path\": {\n  \"a\": {},\n  \"b\": {}\n}}";
        let mut cursor = Cursor { text, pos: 0 };
        assert_eq!(cursor.find_key("a").map(|o| line_at(text, o)), Some(3));
        assert_eq!(cursor.find_key("b").map(|o| line_at(text, o)), Some(4));
        assert_eq!(cursor.find_key("a"), None);
    }

    #[test]
    fn hcl_nested_parameter_block_is_an_object() {
        let rules = hcl_rules(
            "path \"x\" {\n  capabilities = [\"create\"]\n  allowed_parameters {\n    foo = []\n  }\n}\n",
        )
        .unwrap();
        let field = rules[0]
            .fields
            .iter()
            .find(|f| f.key == "allowed_parameters")
            .unwrap();
        assert_eq!(field.value, serde_json::json!({"foo": []}));
    }
}
