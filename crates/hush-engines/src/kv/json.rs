//! JSON transformations on secret data: RFC 7386 merge patch (KV v2 PATCH) and the subkeys
//! skeleton (values replaced by null).

use serde_json::{Map, Value};

/// Applies an RFC 7386 JSON merge patch to `target`: an object patch merges key by key, a null
/// member removes the key, and anything else replaces the target.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// The structure of a secret with every leaf replaced by null. `depth` 0 means unlimited;
/// otherwise keys at that depth are shown as leaves even if they hold objects (depth 1: only
/// the top-level keys).
pub(crate) fn subkeys(data: &Map<String, Value>, depth: u64) -> Map<String, Value> {
    strip(data, 1, depth)
}

fn strip(data: &Map<String, Value>, level: u64, depth: u64) -> Map<String, Value> {
    data.iter()
        .map(|(key, value)| {
            let shown = match value {
                Value::Object(inner) if !inner.is_empty() && (depth == 0 || level < depth) => {
                    Value::Object(strip(inner, level + 1, depth))
                }
                _ => Value::Null,
            };
            (key.clone(), shown)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(target: Value, patch: Value) -> Value {
        let mut t = target;
        merge_patch(&mut t, &patch);
        t
    }

    #[test]
    fn rfc7386_examples() {
        // The test cases of RFC 7386, appendix A.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, want) in cases {
            assert_eq!(
                patched(target.clone(), patch.clone()),
                want,
                "{target} + {patch}"
            );
        }
    }

    #[test]
    fn subkeys_replace_leaves() {
        let data = json!({"foo": "abc", "bar": {"baz": "def", "deep": {"x": 1}}, "quux": {}});
        let Value::Object(data) = data else {
            unreachable!()
        };
        assert_eq!(
            Value::Object(subkeys(&data, 0)),
            json!({"foo": null, "bar": {"baz": null, "deep": {"x": null}}, "quux": null})
        );
        assert_eq!(
            Value::Object(subkeys(&data, 1)),
            json!({"foo": null, "bar": null, "quux": null})
        );
        assert_eq!(
            Value::Object(subkeys(&data, 2)),
            json!({"foo": null, "bar": {"baz": null, "deep": null}, "quux": null})
        );
    }
}
