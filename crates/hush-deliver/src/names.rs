//! Turning secret keys into environment variable names.
//!
//! A name is `[A-Za-z_][A-Za-z0-9_]*` (with `--tf-vars`, `-` is allowed too, because OpenTofu
//! and Terraform variable names may contain it and the variables are set directly, not through
//! a shell). The name of a key is `--prefix` + the key; `--tf-vars` puts `TF_VAR_` in front of
//! that. A key that does not make a valid name is an error naming it, unless
//! `--sanitize-names` is given, which keeps the case, replaces every character other than
//! ASCII letters, digits and `_` by `_`, and puts `_` in front of a name starting with a digit.
//! Two different keys that end up with the same name are an error naming both.

use std::collections::BTreeMap;

use crate::error::DeliverError;
use crate::source::{SecretSet, SecretValue};

/// How keys become names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameRules {
    /// Put in front of every key.
    pub prefix: String,
    /// Name variables `TF_VAR_<prefix><key>` for OpenTofu/Terraform.
    pub tf_vars: bool,
    /// Map invalid names to valid ones instead of failing.
    pub sanitize: bool,
}

/// One variable to set.
#[derive(Debug, Clone)]
pub struct EnvVar<'a> {
    /// The variable name.
    pub name: String,
    /// The key it came from.
    pub key: &'a str,
    /// The secret path it came from.
    pub origin: &'a str,
    /// The value.
    pub value: &'a SecretValue,
}

/// Whether `name` can be an environment variable name (dashes allowed only when `dash`).
pub fn is_valid_name(name: &str, dash: bool) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (dash && c == '-'))
}

/// The `--sanitize-names` rule: keep the case, replace anything but `[A-Za-z0-9_]` by `_`,
/// and put `_` in front of a leading digit (or of nothing, for an empty key).
pub fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Why a name is not valid, in words.
fn why_invalid(name: &str) -> &'static str {
    if name.is_empty() {
        "is empty"
    } else if name.starts_with(|c: char| c.is_ascii_digit()) {
        "starts with a digit"
    } else {
        "contains characters other than letters, digits and _"
    }
}

/// Names every key of `set` by `rules`, in name order.
pub fn env_vars<'a>(
    set: &'a SecretSet,
    rules: &NameRules,
) -> Result<Vec<EnvVar<'a>>, DeliverError> {
    if !rules.prefix.is_empty() && !is_valid_name(&rules.prefix, rules.tf_vars) {
        return Err(DeliverError::Usage(format!(
            "the --prefix \"{}\" is not a valid start of a variable name: use letters, digits \
             and _, not starting with a digit",
            rules.prefix
        )));
    }
    let mut out: BTreeMap<String, EnvVar<'a>> = BTreeMap::new();
    for (key, secret) in &set.entries {
        let raw = format!("{}{key}", rules.prefix);
        let name = if is_valid_name(&raw, rules.tf_vars) {
            raw
        } else if rules.sanitize {
            sanitize(&raw)
        } else {
            return Err(DeliverError::InvalidName {
                key: key.clone(),
                path: secret.origin.clone(),
                reason: format!(
                    "is not a valid environment variable name as \"{raw}\" ({}): rename the \
                     key, or pass --sanitize-names to replace invalid characters with _",
                    why_invalid(&raw)
                ),
            });
        };
        let name = if rules.tf_vars {
            format!("TF_VAR_{name}")
        } else {
            name
        };
        let var = EnvVar {
            name: name.clone(),
            key,
            origin: &secret.origin,
            value: &secret.value,
        };
        if let Some(first) = out.get(&name) {
            return Err(DeliverError::NameClash {
                name,
                first_key: first.key.to_owned(),
                first_path: first.origin.to_owned(),
                second_key: key.clone(),
                second_path: secret.origin.clone(),
            });
        }
        out.insert(name, var);
    }
    Ok(out.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Secret;

    fn set(keys: &[&str]) -> SecretSet {
        SecretSet {
            entries: keys
                .iter()
                .map(|k| {
                    (
                        k.to_string(),
                        Secret {
                            value: SecretValue::string("v"),
                            origin: "secret/app".into(),
                        },
                    )
                })
                .collect(),
        }
    }

    fn names(set: &SecretSet, rules: &NameRules) -> Vec<String> {
        env_vars(set, rules)
            .unwrap()
            .into_iter()
            .map(|v| v.name)
            .collect()
    }

    #[test]
    fn validity() {
        assert!(is_valid_name("DB_PASSWORD", false));
        assert!(is_valid_name("_x1", false));
        assert!(!is_valid_name("1x", false));
        assert!(!is_valid_name("a-b", false));
        assert!(is_valid_name("a-b", true));
        assert!(!is_valid_name("", false));
        assert!(!is_valid_name("é", false));
    }

    #[test]
    fn sanitize_rule() {
        assert_eq!(sanitize("db.password"), "db_password");
        assert_eq!(sanitize("9lives"), "_9lives");
        assert_eq!(sanitize("Mixed-Case key"), "Mixed_Case_key");
        assert_eq!(sanitize("é"), "_");
        assert_eq!(sanitize(""), "_");
    }

    #[test]
    fn prefix_and_tf_vars() {
        let s = set(&["region", "access-key"]);
        let rules = NameRules {
            tf_vars: true,
            ..NameRules::default()
        };
        assert_eq!(names(&s, &rules), ["TF_VAR_access-key", "TF_VAR_region"]);
        let rules = NameRules {
            prefix: "APP_".into(),
            sanitize: true,
            ..NameRules::default()
        };
        assert_eq!(names(&s, &rules), ["APP_access_key", "APP_region"]);
    }

    #[test]
    fn invalid_names_are_errors_naming_the_key() {
        let err = env_vars(&set(&["db.password"]), &NameRules::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"db.password\""), "{text}");
        assert!(text.contains("secret/app"), "{text}");
        assert!(text.contains("--sanitize-names"), "{text}");
    }

    #[test]
    fn clashes_name_both_keys() {
        let rules = NameRules {
            sanitize: true,
            ..NameRules::default()
        };
        let err = env_vars(&set(&["a-b", "a.b"]), &rules)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"a-b\"") && err.contains("\"a.b\""), "{err}");
        assert!(err.contains("a_b"), "{err}");
    }

    #[test]
    fn bad_prefix() {
        let rules = NameRules {
            prefix: "1X".into(),
            ..NameRules::default()
        };
        assert!(env_vars(&set(&["a"]), &rules).is_err());
    }
}
