//! Parsing of request parameters with Vault's lenient typing: query parameters arrive as strings
//! (`?version=3`), JSON bodies as numbers or booleans, and both forms must be accepted.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::error::KvError;

/// Vault's limits on `custom_metadata`.
pub(crate) const MAX_CUSTOM_METADATA_KEYS: usize = 64;
pub(crate) const MAX_CUSTOM_METADATA_KEY_LEN: usize = 128;
pub(crate) const MAX_CUSTOM_METADATA_VALUE_LEN: usize = 512;

/// A parameter's value, treating JSON null (and an empty query string) as absent.
pub(crate) fn get<'a>(data: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    match data.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(v) => Some(v),
    }
}

/// A short description of a JSON value's type, for error messages (never the value itself:
/// it could be secret).
pub(crate) fn kind(v: &Value) -> &'static str {
    hush_core::fields::kind(v)
}

/// A non-negative whole number, from a JSON number or a decimal string.
pub(crate) fn uint(v: &Value, field: &str) -> Result<u64, KvError> {
    let bad = || {
        KvError::param(
            field,
            format!(
                "expected a whole number >= 0 (such as 3 or \"3\"), found {}",
                kind(v)
            ),
        )
    };
    match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                return Ok(u);
            }
            match n.as_f64() {
                // An integral float such as 3.0; 2^53 bounds the exactly representable integers.
                Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= 9_007_199_254_740_992.0 => {
                    Ok(f as u64)
                }
                _ => Err(KvError::param(
                    field,
                    format!("expected a whole number >= 0, found {n}"),
                )),
            }
        }
        Value::String(s) => s.trim().parse::<u64>().map_err(|_| {
            KvError::param(
                field,
                format!(
                    "expected a whole number >= 0, found the string {:?}",
                    s.trim()
                ),
            )
        }),
        _ => Err(bad()),
    }
}

/// A whole number that must fit in 32 bits (`max_versions`).
pub(crate) fn uint32(v: &Value, field: &str) -> Result<u32, KvError> {
    let n = uint(v, field)?;
    u32::try_from(n).map_err(|_| {
        KvError::param(
            field,
            format!("{n} is too large; the maximum is {}", u32::MAX),
        )
    })
}

/// A boolean by [`hush_core::fields::parse_bool`]'s rule (Vault's), in KV's error shape.
pub(crate) fn boolean(v: &Value, field: &str) -> Result<bool, KvError> {
    hush_core::fields::parse_bool(field, v).map_err(|_| {
        KvError::param(
            field,
            format!(
                "expected true or false (or 1, 0, t, f, TRUE, FALSE), found {}",
                kind(v)
            ),
        )
    })
}

/// A duration, as a Go duration string (`"3h25m19s"`) or a whole number of seconds.
pub(crate) fn duration(v: &Value, field: &str) -> Result<Duration, KvError> {
    hush_config::duration::parse_duration_value(v).map_err(|e| KvError::param(field, e.to_string()))
}

/// Whether a duration parameter is negative (`-1`, `"-1s"`): the mount config treats any
/// negative `delete_version_after` as "disabled for every secret", as Vault does.
pub(crate) fn is_negative_duration(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_f64().is_some_and(|f| f < 0.0),
        Value::String(s) => {
            let s = s.trim();
            // "-0s" and friends are zero, not negative: they clear the setting.
            s.starts_with('-') && s[1..].chars().any(|c| c.is_ascii_digit() && c != '0')
        }
        _ => false,
    }
}

/// A duration in nanoseconds. Parsed durations never exceed `i64::MAX` nanoseconds, so this
/// cannot overflow for values from [`duration`]; the cap is only a guard.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The `versions` list of the delete/undelete/destroy endpoints: a JSON list of numbers or
/// numeric strings, a single number, or a comma-separated string (`"1,2"`), like Vault.
pub(crate) fn versions(data: &Map<String, Value>) -> Result<Vec<u64>, KvError> {
    const FIELD: &str = "versions";
    let out = match get(data, FIELD) {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(uint(item, &format!("{FIELD}[{i}]"))?);
            }
            out
        }
        Some(Value::String(s)) => {
            let mut out = Vec::new();
            for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                out.push(part.parse::<u64>().map_err(|_| {
                    KvError::param(
                        FIELD,
                        format!(
                            "{part:?} is not a version number; send a list of whole numbers \
                             such as [1, 2]"
                        ),
                    )
                })?);
            }
            out
        }
        Some(v @ Value::Number(_)) => vec![uint(v, FIELD)?],
        Some(other) => {
            return Err(KvError::param(
                FIELD,
                format!(
                    "expected a list of version numbers such as [1, 2], found {}",
                    kind(other)
                ),
            ))
        }
    };
    if out.is_empty() {
        return Err(KvError::NoVersions);
    }
    Ok(out)
}

/// The `options` object of a data write or patch (absent means no options).
pub(crate) fn options(data: &Map<String, Value>) -> Result<Option<&Map<String, Value>>, KvError> {
    match get(data, "options") {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(KvError::param(
            "options",
            format!(
                "expected an object such as {{\"cas\": 1}}, found {}",
                kind(other)
            ),
        )),
    }
}

/// `options.cas`, if given.
pub(crate) fn cas(options: Option<&Map<String, Value>>) -> Result<Option<u64>, KvError> {
    match options.and_then(|o| get(o, "cas")) {
        None => Ok(None),
        Some(v) => uint(v, "options.cas").map(Some),
    }
}

/// One `custom_metadata` value. Vault decodes values weakly into strings, so numbers and
/// booleans are accepted and rendered as text; lists and objects are refused rather than
/// flattened in some guessed way.
fn metadata_value(key: &str, v: &Value) -> Result<String, KvError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(KvError::CustomMetadata(format!(
            "the value of key {key:?} is {}; values must be strings",
            kind(other)
        ))),
    }
}

/// A `custom_metadata` object for a metadata write (which replaces the whole map).
pub(crate) fn custom_metadata(v: &Value) -> Result<BTreeMap<String, String>, KvError> {
    let Value::Object(m) = v else {
        return Err(KvError::CustomMetadata(format!(
            "expected an object of string keys and string values such as {{\"owner\": \
             \"team-a\"}}, found {}",
            kind(v)
        )));
    };
    let mut out = BTreeMap::new();
    for (k, v) in m {
        if v.is_null() {
            return Err(KvError::CustomMetadata(format!(
                "the value of key {k:?} is null; values must be non-empty strings (to remove \
                 a key with null, use PATCH on the metadata)"
            )));
        }
        out.insert(k.clone(), metadata_value(k, v)?);
    }
    validate_custom_metadata(&out)?;
    Ok(out)
}

/// Applies a `custom_metadata` merge patch (null removes a key) and validates the result.
pub(crate) fn patch_custom_metadata(
    current: Option<&BTreeMap<String, String>>,
    patch: &Value,
) -> Result<Option<BTreeMap<String, String>>, KvError> {
    let m = match patch {
        Value::Null => return Ok(None),
        Value::Object(m) => m,
        other => {
            return Err(KvError::CustomMetadata(format!(
                "expected an object of string keys and string values (null removes a key), \
                 found {}",
                kind(other)
            )))
        }
    };
    let mut out = current.cloned().unwrap_or_default();
    for (k, v) in m {
        if v.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), metadata_value(k, v)?);
        }
    }
    validate_custom_metadata(&out)?;
    Ok(Some(out))
}

/// Vault's limits: at most 64 keys, keys of 1..=128 bytes, values of 1..=512 bytes, printable.
pub(crate) fn validate_custom_metadata(m: &BTreeMap<String, String>) -> Result<(), KvError> {
    if m.len() > MAX_CUSTOM_METADATA_KEYS {
        return Err(KvError::CustomMetadata(format!(
            "payload must contain at most {MAX_CUSTOM_METADATA_KEYS} keys, provided {}; remove \
             some keys",
            m.len()
        )));
    }
    let mut problems = Vec::new();
    for (k, v) in m {
        if k.is_empty() || k.len() > MAX_CUSTOM_METADATA_KEY_LEN {
            problems.push(format!(
                "length of key {k:?} is {} but must be 0 < len(key) <= \
                 {MAX_CUSTOM_METADATA_KEY_LEN}",
                k.len()
            ));
        }
        if v.is_empty() || v.len() > MAX_CUSTOM_METADATA_VALUE_LEN {
            problems.push(format!(
                "length of value for key {k:?} is {} but must be 0 < len(value) <= \
                 {MAX_CUSTOM_METADATA_VALUE_LEN}",
                v.len()
            ));
        }
        if k.chars().any(char::is_control) {
            problems.push(format!("key {k:?} contains unprintable characters"));
        }
        if v.chars().any(char::is_control) {
            problems.push(format!(
                "value for key {k:?} contains unprintable characters"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(KvError::CustomMetadata(problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn uint_accepts_numbers_and_strings() {
        assert_eq!(uint(&json!(3), "f").unwrap(), 3);
        assert_eq!(uint(&json!("3"), "f").unwrap(), 3);
        assert_eq!(uint(&json!(3.0), "f").unwrap(), 3);
        let e = uint(&json!(-1), "version").unwrap_err().to_string();
        assert!(e.contains("\"version\""), "{e}");
        assert!(uint(&json!("x"), "f").is_err());
        assert!(uint(&json!(1.5), "f").is_err());
        assert!(uint(&json!([1]), "f").is_err());
    }

    #[test]
    fn booleans_like_go() {
        assert!(boolean(&json!(true), "f").unwrap());
        assert!(boolean(&json!("TRUE"), "f").unwrap());
        assert!(!boolean(&json!("0"), "f").unwrap());
        assert!(!boolean(&json!(0), "f").unwrap());
        let e = boolean(&json!("yes"), "cas_required")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cas_required") && e.contains("true or false"),
            "{e}"
        );
    }

    #[test]
    fn versions_in_every_form() {
        assert_eq!(
            versions(&obj(json!({"versions": [1, "2"]}))).unwrap(),
            vec![1, 2]
        );
        assert_eq!(
            versions(&obj(json!({"versions": "3, 4"}))).unwrap(),
            vec![3, 4]
        );
        assert_eq!(versions(&obj(json!({"versions": 5}))).unwrap(), vec![5]);
        for empty in [
            json!({}),
            json!({"versions": []}),
            json!({"versions": null}),
        ] {
            let e = versions(&obj(empty)).unwrap_err();
            assert!(matches!(e, KvError::NoVersions), "{e}");
        }
        let e = versions(&obj(json!({"versions": [1, "x"]})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("versions[1]"), "{e}");
        assert!(versions(&obj(json!({"versions": {"a": 1}}))).is_err());
    }

    #[test]
    fn negative_durations_are_recognised() {
        assert!(is_negative_duration(&json!(-1)));
        assert!(is_negative_duration(&json!("-1s")));
        assert!(!is_negative_duration(&json!("-0s")));
        assert!(!is_negative_duration(&json!("1s")));
        assert!(!is_negative_duration(&json!(0)));
    }

    #[test]
    fn custom_metadata_limits() {
        let ok = custom_metadata(&json!({"owner": "me", "n": 5})).unwrap();
        assert_eq!(ok.get("n").map(String::as_str), Some("5"));

        let many: Map<String, Value> = (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
        let e = custom_metadata(&Value::Object(many))
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 64 keys, provided 65"), "{e}");

        let e = custom_metadata(&json!({"k".repeat(129): "v"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("length of key") && e.contains("129"), "{e}");

        let e = custom_metadata(&json!({"k": "v".repeat(513)}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("length of value") && e.contains("513"), "{e}");

        let e = custom_metadata(&json!({"k": ""})).unwrap_err().to_string();
        assert!(e.contains("length of value"), "{e}");

        let e = custom_metadata(&json!({"k": "a\nb"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unprintable"), "{e}");

        let e = custom_metadata(&json!({"k": {"nested": 1}}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be strings"), "{e}");

        assert!(custom_metadata(&json!(["a"])).is_err());
        // Exactly at the limits is fine.
        let edge: Map<String, Value> = (0..64)
            .map(|i| (format!("{i:0>128}"), json!("v".repeat(512))))
            .collect();
        assert_eq!(custom_metadata(&Value::Object(edge)).unwrap().len(), 64);
    }

    #[test]
    fn custom_metadata_patch_removes_with_null() {
        let current: BTreeMap<String, String> = [
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
        ]
        .into();
        let out = patch_custom_metadata(Some(&current), &json!({"a": null, "c": "3"}))
            .unwrap()
            .unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), vec!["b", "c"]);
        assert_eq!(
            patch_custom_metadata(Some(&current), &Value::Null).unwrap(),
            None
        );
    }
}
