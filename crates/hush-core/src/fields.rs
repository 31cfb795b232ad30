//! Request fields, read with one rule per type: Vault's (its `framework` field types with
//! mapstructure's weak decoding), so a client that works against Vault sends values hush reads
//! the same way. Every reader treats a missing field and `null` alike (`None`), and every error
//! is a 400 that names the field, shows what was sent (its kind for lists and objects) and says
//! what is accepted.
//!
//! | type | accepted |
//! | --- | --- |
//! | boolean | JSON `true`/`false`; a string Go's `strconv.ParseBool` accepts (`1 t T TRUE true True`, `0 f F FALSE false False`); `""` is false; a number is true unless 0 |
//! | string | a JSON string; a number or boolean as its text |
//! | unsigned integer | a JSON number with no fraction (also `5.0`); a string of digits; `""` is 0 |
//! | duration | Go duration text (`"1h30m"`) or whole seconds (number or string); `""` is 0 |
//! | list of strings | a JSON list of strings, or one comma-separated string; items trimmed, empty ones dropped |
//! | CIDR list | a list of strings as above, each a CIDR block or address (parsed once, typed) |
//! | string map | an object of string values, or that object encoded as a JSON string |

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::cidr::Cidr;
use crate::error::{CoreError, Result};

/// A name for people of the kind of a JSON value ("a string", "a list", ...).
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// What was sent, for an error message: scalars as written, containers by kind (their content
/// may be long, or secret).
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() <= 64 => format!("\"{s}\""),
        Value::String(_) => "a long string".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => kind(other).to_owned(),
    }
}

/// The one error shape: `'field' must be <expected>, got <value>`.
pub fn invalid(field: &str, expected: &str, got: &Value) -> CoreError {
    CoreError::bad(format!("'{field}' must be {expected}, got {}", shown(got)))
}

/// The field's value, `None` when absent or `null`.
pub fn get<'a>(data: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    data.get(field).filter(|v| !v.is_null())
}

/// Whether the request carries `field` with a non-null value.
pub fn has(data: &Map<String, Value>, field: &str) -> bool {
    get(data, field).is_some()
}

/// A boolean value by Vault's rule (see the module table).
pub fn parse_bool(field: &str, v: &Value) -> Result<bool> {
    const EXPECTED: &str = "true or false";
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" | "" => Ok(false),
            _ => Err(invalid(field, EXPECTED, v)),
        },
        Value::Number(n) => Ok(n.as_f64().is_some_and(|f| f != 0.0)),
        _ => Err(invalid(field, EXPECTED, v)),
    }
}

/// An optional boolean field.
pub fn bool(data: &Map<String, Value>, field: &str) -> Result<Option<bool>> {
    get(data, field).map(|v| parse_bool(field, v)).transpose()
}

/// An optional string field; numbers and booleans are taken as their text.
pub fn string(data: &Map<String, Value>, field: &str) -> Result<Option<String>> {
    match get(data, field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
        Some(v) => Err(invalid(field, "a string", v)),
    }
}

/// An optional string field borrowed from the request; only JSON strings are accepted.
pub fn str<'a>(data: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>> {
    match get(data, field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(v) => Err(invalid(field, "a string", v)),
    }
}

/// A string field that must be present and non-empty; the error says so by name.
pub fn required_str<'a>(data: &'a Map<String, Value>, field: &str) -> Result<&'a str> {
    str(data, field)?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| CoreError::bad(format!("'{field}' is required")))
}

/// An unsigned integer value by Vault's rule (see the module table).
pub fn parse_u64(field: &str, v: &Value) -> Result<u64> {
    const EXPECTED: &str = "a whole number of 0 or more";
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(n) => Ok(n),
            // Integral floats such as 5.0 come from some JSON encoders.
            None => match n.as_f64() {
                Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 9.0e15 => Ok(f as u64),
                _ => Err(invalid(field, EXPECTED, v)),
            },
        },
        Value::String(s) if s.trim().is_empty() => Ok(0),
        Value::String(s) => s.trim().parse().map_err(|_| invalid(field, EXPECTED, v)),
        _ => Err(invalid(field, EXPECTED, v)),
    }
}

/// An optional unsigned integer field.
pub fn u64(data: &Map<String, Value>, field: &str) -> Result<Option<u64>> {
    get(data, field).map(|v| parse_u64(field, v)).transpose()
}

/// An optional whole number that must lie in `range`; `what` names the kind of number in
/// the error ("a whole number", "an HTTP status code").
pub fn u64_in(
    data: &Map<String, Value>,
    field: &str,
    range: std::ops::RangeInclusive<u64>,
    what: &str,
) -> Result<Option<u64>> {
    let Some(v) = get(data, field) else {
        return Ok(None);
    };
    match parse_u64(field, v).ok() {
        Some(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(CoreError::bad(format!(
            "'{field}' must be {what} from {} to {}, got {v}",
            range.start(),
            range.end()
        ))),
    }
}

/// A duration value: Go duration text or whole seconds; `""` is zero.
pub fn parse_duration(field: &str, v: &Value) -> Result<Duration> {
    match v {
        Value::String(s) if s.trim().is_empty() => Ok(Duration::ZERO),
        _ => hush_config::duration::parse_duration_value(v).map_err(|e| {
            CoreError::bad(format!(
                "'{field}': {e} (give whole seconds such as 3600 or a duration such as \"1h\")"
            ))
        }),
    }
}

/// An optional duration field.
pub fn duration(data: &Map<String, Value>, field: &str) -> Result<Option<Duration>> {
    get(data, field)
        .map(|v| parse_duration(field, v))
        .transpose()
}

/// An optional duration field in whole seconds.
pub fn seconds(data: &Map<String, Value>, field: &str) -> Result<Option<u64>> {
    Ok(duration(data, field)?.map(|d| d.as_secs()))
}

/// A list of strings: a JSON list of strings or one comma-separated string; items are
/// trimmed and empty ones dropped.
pub fn parse_strings(field: &str, v: &Value) -> Result<Vec<String>> {
    match v {
        Value::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) if s.trim().is_empty() => {}
                    Value::String(s) => out.push(s.trim().to_owned()),
                    other => return Err(invalid(field, "a list of strings", other)),
                }
            }
            Ok(out)
        }
        other => Err(invalid(
            field,
            "a list of strings or a comma-separated string",
            other,
        )),
    }
}

/// An optional list-of-strings field.
pub fn strings(data: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>> {
    get(data, field)
        .map(|v| parse_strings(field, v))
        .transpose()
}

/// An optional list of CIDR blocks (or single addresses), each parsed.
pub fn cidrs(data: &Map<String, Value>, field: &str) -> Result<Option<Vec<Cidr>>> {
    let Some(list) = strings(data, field)? else {
        return Ok(None);
    };
    list.iter()
        .map(|block| Cidr::parse(block).map_err(|e| CoreError::bad(format!("'{field}': {e}"))))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// An optional object whose values are all strings; that object encoded as a JSON string is
/// accepted too (as Vault does for AppRole metadata), and `""` is an empty map.
pub fn string_map(
    data: &Map<String, Value>,
    field: &str,
) -> Result<Option<BTreeMap<String, String>>> {
    const EXPECTED: &str = "an object of string values such as {\"team\": \"payments\"} (or that \
                            object encoded as a JSON string)";
    let decoded;
    let obj = match get(data, field) {
        None => return Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(Some(BTreeMap::new())),
        Some(v @ Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => {
                decoded = m;
                &decoded
            }
            _ => return Err(invalid(field, EXPECTED, v)),
        },
        Some(Value::Object(m)) => m,
        Some(v) => return Err(invalid(field, EXPECTED, v)),
    };
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        match v {
            Value::String(s) => {
                out.insert(k.clone(), s.clone());
            }
            other => {
                return Err(CoreError::bad(format!(
                    "'{field}': the value of \"{k}\" must be a string, got {}",
                    kind(other)
                )))
            }
        }
    }
    Ok(Some(out))
}

/// A policy list as it is stored in a role or mount: trimmed, lowercase, sorted, without
/// duplicates or empty names. Tokens get [`normalize_policies`] on top.
pub fn clean_policies<S: AsRef<str>>(policies: &[S]) -> Vec<String> {
    let mut out: Vec<String> = policies
        .iter()
        .map(|p| p.as_ref().trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Normalizes a token's policy list as Vault does: [`clean_policies`], then just `root` if it
/// holds `root`, else `default` added unless asked not to.
pub fn normalize_policies(policies: &[String], add_default: bool) -> Vec<String> {
    let mut out = clean_policies(policies);
    if out.iter().any(|p| p == "root") {
        return vec!["root".into()];
    }
    if add_default && !out.iter().any(|p| p == "default") {
        out.push("default".into());
        out.sort();
    }
    out
}

/// A TTL field in whole seconds, as [`seconds`] reads it; Vault's `"system"` (the mount's or
/// the server's default) is 0, as `""` is.
pub fn ttl_field(data: &Map<String, Value>, field: &str) -> Result<Option<u64>> {
    match get(data, field) {
        Some(Value::String(s)) if s.trim() == "system" => Ok(Some(0)),
        _ => seconds(data, field),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn data(v: Value) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("f".into(), v);
        m
    }

    #[test]
    fn booleans_follow_go_parse_bool_and_weak_decoding() {
        for (v, want) in [
            (json!(true), true),
            (json!(false), false),
            (json!("1"), true),
            (json!("t"), true),
            (json!("T"), true),
            (json!("TRUE"), true),
            (json!("True"), true),
            (json!("true"), true),
            (json!("0"), false),
            (json!("f"), false),
            (json!("F"), false),
            (json!("FALSE"), false),
            (json!("False"), false),
            (json!("false"), false),
            (json!(""), false),
            (json!(1), true),
            (json!(0), false),
            (json!(2.5), true),
        ] {
            assert_eq!(bool(&data(v.clone()), "f").unwrap(), Some(want), "{v}");
        }
        for v in [
            json!("yes"),
            json!("tRuE"),
            json!(" true"),
            json!([true]),
            json!({}),
        ] {
            let e = bool(&data(v.clone()), "f").unwrap_err().to_string();
            assert!(e.contains("'f' must be true or false, got"), "{v}: {e}");
        }
        assert_eq!(bool(&data(Value::Null), "f").unwrap(), None);
        assert_eq!(bool(&Map::new(), "f").unwrap(), None);
    }

    #[test]
    fn strings_integers_and_durations() {
        assert_eq!(string(&data(json!(5)), "f").unwrap().as_deref(), Some("5"));
        assert_eq!(
            string(&data(json!(true)), "f").unwrap().as_deref(),
            Some("true")
        );
        assert!(string(&data(json!([1])), "f")
            .unwrap_err()
            .to_string()
            .contains("must be a string, got a list"));
        assert_eq!(str(&data(json!("x")), "f").unwrap(), Some("x"));
        assert!(str(&data(json!(1)), "f").is_err());
        for (v, want) in [
            (json!(7), 7),
            (json!(7.0), 7),
            (json!(" 7 "), 7),
            (json!(""), 0),
        ] {
            assert_eq!(u64(&data(v.clone()), "f").unwrap(), Some(want), "{v}");
        }
        for v in [json!(-1), json!(1.5), json!("x"), json!(true)] {
            assert!(u64(&data(v.clone()), "f").is_err(), "{v}");
        }
        for (v, want) in [
            (json!("1h30m"), 5400),
            (json!(60), 60),
            (json!("60"), 60),
            (json!(""), 0),
        ] {
            assert_eq!(seconds(&data(v.clone()), "f").unwrap(), Some(want), "{v}");
        }
        let e = seconds(&data(json!("soon")), "f").unwrap_err().to_string();
        assert!(e.contains("'f'") && e.contains("3600"), "{e}");
    }

    #[test]
    fn lists_cidrs_and_maps() {
        assert_eq!(
            strings(&data(json!(" a, b ,,c")), "f").unwrap(),
            Some(vec!["a".to_owned(), "b".to_owned(), "c".to_owned()])
        );
        assert_eq!(
            strings(&data(json!(["a", " ", "b "])), "f").unwrap(),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        let e = strings(&data(json!(["a", 1])), "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'f' must be a list of strings, got 1"), "{e}");
        assert!(strings(&data(json!({})), "f").is_err());
        let c = cidrs(&data(json!("10.0.0.0/8, 127.0.0.1")), "f")
            .unwrap()
            .unwrap();
        assert_eq!(c.len(), 2);
        assert!(cidrs(&data(json!("10.0.0.0/33")), "f").is_err());
        assert_eq!(
            string_map(&data(json!("{\"a\":\"b\"}")), "f").unwrap(),
            Some(BTreeMap::from([("a".to_owned(), "b".to_owned())]))
        );
        assert_eq!(
            string_map(&data(json!("")), "f").unwrap(),
            Some(BTreeMap::new())
        );
        let e = string_map(&data(json!({"a": 1})), "f")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the value of \"a\" must be a string, got a number"),
            "{e}"
        );
    }

    #[test]
    fn errors_never_echo_long_or_structured_values() {
        let long = "s".repeat(200);
        let e = u64(&data(json!(long)), "f").unwrap_err().to_string();
        assert!(e.ends_with("got a long string"), "{e}");
        let e = bool(&data(json!({"password": "hunter2"})), "f")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
