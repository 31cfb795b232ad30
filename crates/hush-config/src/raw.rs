//! One document tree for both input formats.
//!
//! HCL (`listener "tcp" { address = "..." }`) and Vault's JSON form
//! (`{"listener": {"tcp": {"address": "..."}}}`) are both lowered into [`Raw`], an ordered tree
//! that keeps repeated keys. A block `NAME "L1" "L2" { body }` becomes the entry
//! `NAME: {L1: {L2: body}}`, which is exactly the JSON spelling, so the interpreter in
//! `server.rs` only has to understand one shape.
//!
//! `serde_json::Value` is not used for the tree because its maps are sorted and deduplicated:
//! listener order matters and a repeated key should be reported, not silently dropped.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use zeroize::Zeroize;

use crate::ConfigError;

/// A parsed value, in source order, with repeated keys preserved.
#[derive(Debug)]
pub(crate) enum Raw {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Raw>),
    Object(Vec<(String, Raw)>),
}

impl Drop for Raw {
    /// The tree holds the seal key if it was written literally; wipe every string on the way out.
    fn drop(&mut self) {
        if let Raw::String(s) = self {
            s.zeroize();
        }
    }
}

impl Raw {
    /// Describes the kind of value for error messages, without revealing the value itself.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Raw::Null => "null",
            Raw::Bool(_) => "a boolean",
            Raw::Number(_) => "a number",
            Raw::String(_) => "a string",
            Raw::Array(_) => "a list",
            Raw::Object(_) => "a block/object",
        }
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Raw, E> {
        serde_json::Number::from_f64(v)
            .map(Raw::Number)
            .ok_or_else(|| E::custom("numbers must be finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::String(v))
    }

    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Raw>()? {
            entries.push((key, value));
        }
        Ok(Raw::Object(entries))
    }
}

/// Parses Vault's JSON configuration form.
pub(crate) fn parse_json(text: &str, file: &str) -> Result<Raw, ConfigError> {
    serde_json::from_str::<Raw>(text).map_err(|e| {
        let full = e.to_string();
        // serde_json appends the position to its message; it is reported separately.
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
        ConfigError::Syntax {
            file: file.to_string(),
            format: "JSON",
            line: e.line(),
            column: e.column(),
            message,
        }
    })
}

/// Parses HCL and lowers blocks into the JSON shape.
///
/// `labeled` lists the top-level block names that take exactly one type label (`storage "sqlite"`),
/// so that a missing or extra label gets a precise message instead of a confusing one later.
pub(crate) fn parse_hcl(text: &str, file: &str, labeled: &[&str]) -> Result<Raw, ConfigError> {
    if let Err(e) = crate::nesting::check(text, crate::nesting::MAX_NESTING) {
        return Err(ConfigError::Syntax {
            file: file.to_string(),
            format: "HCL",
            line: e.line(),
            column: 0,
            message: e.to_string(),
        });
    }
    let mut body = hcl::parse(text).map_err(|e| hcl_syntax_error(e, file))?;
    let lowered = lower_body(&body, file, "the top level", Some(labeled));
    wipe_body(&mut body);
    lowered
}

/// Overwrites the string literals of a parsed HCL body, which may include a literal seal key.
fn wipe_body(body: &mut hcl::Body) {
    for structure in body.iter_mut() {
        match structure {
            hcl::Structure::Attribute(attr) => wipe_expression(&mut attr.expr),
            hcl::Structure::Block(block) => wipe_body(&mut block.body),
        }
    }
}

fn wipe_expression(expr: &mut hcl::Expression) {
    match expr {
        hcl::Expression::String(s) => s.zeroize(),
        hcl::Expression::TemplateExpr(template) => match template.as_mut() {
            hcl::TemplateExpr::QuotedString(s) => s.zeroize(),
            hcl::TemplateExpr::Heredoc(heredoc) => heredoc.template.zeroize(),
        },
        hcl::Expression::Array(items) => items.iter_mut().for_each(wipe_expression),
        hcl::Expression::Object(object) => object.values_mut().for_each(wipe_expression),
        hcl::Expression::Parenthesis(inner) => wipe_expression(inner),
        _ => {}
    }
}

fn wipe_value(value: &mut hcl::Value) {
    match value {
        hcl::Value::String(s) => s.zeroize(),
        hcl::Value::Array(items) => items.iter_mut().for_each(wipe_value),
        hcl::Value::Object(map) => map.values_mut().for_each(wipe_value),
        _ => {}
    }
}

fn hcl_syntax_error(err: hcl::Error, file: &str) -> ConfigError {
    // The parser's own Display quotes the offending source line, which could be a line holding a
    // literal seal key; only the message and position are reported.
    match err {
        hcl::Error::Parse(parse) => ConfigError::Syntax {
            file: file.to_string(),
            format: "HCL",
            line: parse.location().line(),
            column: parse.location().column(),
            message: parse.message().to_string(),
        },
        other => ConfigError::Syntax {
            file: file.to_string(),
            format: "HCL",
            line: 0,
            column: 0,
            message: other.to_string(),
        },
    }
}

fn lower_body(
    body: &hcl::Body,
    file: &str,
    stanza: &str,
    labeled: Option<&[&str]>,
) -> Result<Raw, ConfigError> {
    let mut entries = Vec::new();
    for structure in body.iter() {
        match structure {
            hcl::Structure::Attribute(attr) => {
                let value = evaluate(attr, file, stanza)?;
                entries.push((attr.key().to_string(), value));
            }
            hcl::Structure::Block(block) => {
                let name = block.identifier();
                let labels: Vec<&str> = block.labels().iter().map(|l| l.as_str()).collect();
                if let Some(names) = labeled {
                    if names.contains(&name) && labels.len() != 1 {
                        return Err(ConfigError::InvalidStanza {
                            file: file.to_string(),
                            stanza: format!("{name} stanza"),
                            reason: format!(
                                "a {name} block takes exactly one type label, as in \
                                 {name} \"TYPE\" {{ ... }}; found {} labels",
                                labels.len()
                            ),
                        });
                    }
                }
                let inner_stanza = std::iter::once(name.to_string())
                    .chain(labels.iter().map(|l| format!("{l:?}")))
                    .collect::<Vec<_>>()
                    .join(" ");
                let mut inner = lower_body(block.body(), file, &inner_stanza, None)?;
                for label in labels.iter().rev() {
                    inner = Raw::Object(vec![(label.to_string(), inner)]);
                }
                entries.push((name.to_string(), inner));
            }
        }
    }
    Ok(Raw::Object(entries))
}

/// Evaluates an attribute's expression with no variables or functions: Vault configs are plain
/// literals, but evaluating lets `-1` or `(3600)` reach the validators and be judged there.
fn evaluate(attr: &hcl::Attribute, file: &str, stanza: &str) -> Result<Raw, ConfigError> {
    use hcl::eval::{Context, ErrorKind, Evaluate};

    if let Some(what) = not_literal(attr.expr()) {
        return Err(ConfigError::InvalidValue {
            file: file.to_string(),
            stanza: stanza.to_string(),
            key: attr.key().to_string(),
            reason: format!(
                "{what} are not supported; hush configuration values must be literals (quoted \
                 strings, numbers, true/false, lists and objects of them)"
            ),
        });
    }
    let mut value = attr.expr().evaluate(&Context::new()).map_err(|error| {
        // Only variants that cannot echo a literal value are shown in detail.
        let detail = match error.kind() {
            ErrorKind::UndefinedVar(v) => format!("undefined variable `{v}`"),
            ErrorKind::UndefinedFunc(f) => format!("undefined function `{f}`"),
            _ => "the expression cannot be evaluated".to_string(),
        };
        ConfigError::InvalidValue {
            file: file.to_string(),
            stanza: stanza.to_string(),
            key: attr.key().to_string(),
            reason: format!(
                "{detail}; hush configuration values must be literals (quoted strings, numbers, \
                 true/false); variables, functions and interpolation are not supported"
            ),
        }
    })?;
    let lowered = lower_value(&value, file, stanza, attr.key());
    wipe_value(&mut value);
    lowered
}

/// Names what makes `expr` more than a literal, if anything does. Arithmetic is refused rather
/// than evaluated: `0/0` or `1e308*10` has no finite value for any setting. Recursion is bounded
/// by the nesting check that ran before the parser.
fn not_literal(expr: &hcl::Expression) -> Option<&'static str> {
    use hcl::expr::{Expression as E, Operation};
    match expr {
        E::Array(items) => items.iter().find_map(not_literal),
        E::Object(entries) => entries.iter().find_map(|(key, value)| match key {
            hcl::expr::ObjectKey::Expression(k) => not_literal(k).or_else(|| not_literal(value)),
            _ => not_literal(value),
        }),
        E::Parenthesis(inner) => not_literal(inner),
        E::Operation(op) => match op.as_ref() {
            Operation::Unary(u) => not_literal(&u.expr),
            Operation::Binary(_) => Some("arithmetic and comparison operators"),
        },
        // Evaluation reaches into what is traversed or called before it fails on the
        // variable or function, so those parts must be literals too.
        E::Traversal(t) => not_literal(&t.expr).or_else(|| {
            t.operators.iter().find_map(|op| match op {
                hcl::expr::TraversalOperator::Index(e) => not_literal(e),
                _ => None,
            })
        }),
        E::FuncCall(f) => f.args.iter().find_map(not_literal),
        E::Conditional(_) => Some("conditional expressions"),
        E::ForExpr(_) => Some("for expressions"),
        E::TemplateExpr(t) => match hcl::template::Template::from_expr(t) {
            Ok(tpl) => tpl.elements().iter().find_map(|e| match e {
                hcl::template::Element::Literal(_) => None,
                hcl::template::Element::Interpolation(i) => not_literal(&i.expr),
                hcl::template::Element::Directive(_) => Some("template directives (`%{...}`)"),
            }),
            // The evaluator reports the template's own syntax error.
            Err(_) => None,
        },
        _ => None,
    }
}

fn lower_value(
    value: &hcl::Value,
    file: &str,
    stanza: &str,
    key: &str,
) -> Result<Raw, ConfigError> {
    Ok(match value {
        hcl::Value::Null => Raw::Null,
        hcl::Value::Bool(b) => Raw::Bool(*b),
        hcl::Value::Number(n) => {
            let number = if let Some(u) = n.as_u64() {
                serde_json::Number::from(u)
            } else if let Some(i) = n.as_i64() {
                serde_json::Number::from(i)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .ok_or_else(|| ConfigError::InvalidValue {
                        file: file.to_string(),
                        stanza: stanza.to_string(),
                        key: key.to_string(),
                        reason: "numbers must be finite".to_string(),
                    })?
            };
            Raw::Number(number)
        }
        hcl::Value::String(s) => Raw::String(s.clone()),
        hcl::Value::Array(items) => Raw::Array(
            items
                .iter()
                .map(|item| lower_value(item, file, stanza, key))
                .collect::<Result<_, _>>()?,
        ),
        hcl::Value::Object(map) => Raw::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), lower_value(v, file, stanza, key)?)))
                .collect::<Result<_, ConfigError>>()?,
        ),
    })
}
