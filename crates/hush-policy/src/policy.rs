//! Parsed policies: what each `path` block says, checked once for HCL and JSON alike.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde_json::Value;

use crate::capability::{Capability, CapabilitySet};
use crate::error::PolicyError;
use crate::source::{self, line_at, RawField, RawRule};
use crate::template;

/// One `path "<pattern>" { ... }` block of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    /// The path pattern, without a leading `/`: an exact path, a prefix ending in `*`, and/or
    /// `+` segments matching exactly one path segment each. May contain `{{identity...}}`
    /// templates until [`Policy::render`] fills them in.
    pub pattern: String,
    /// What the rule grants. A rule holding `deny` holds nothing else.
    pub capabilities: CapabilitySet,
    /// Parameter names (lower-cased) a write may carry, each with the values it may take
    /// (empty: any value; `*` suffix/prefix globs allowed). The key `"*"` allows any
    /// parameter. Empty map: no restriction.
    pub allowed_parameters: BTreeMap<String, Vec<Value>>,
    /// Parameter names (lower-cased) a write may not carry, or may not carry with these values
    /// (empty list: any value). Wins over `allowed_parameters`. The key `"*"` forbids every
    /// parameter.
    pub denied_parameters: BTreeMap<String, Vec<Value>>,
    /// Parameter names a write must carry (compared case-insensitively).
    pub required_parameters: Vec<String>,
    /// Smallest response-wrapping TTL a client may ask for; setting it makes wrapping
    /// mandatory.
    pub min_wrapping_ttl: Option<Duration>,
    /// Largest response-wrapping TTL a client may ask for; setting it makes wrapping
    /// mandatory.
    pub max_wrapping_ttl: Option<Duration>,
}

impl PathRule {
    /// A rule granting `capabilities` on `pattern`, with no parameter or wrapping constraints.
    pub fn new(pattern: impl Into<String>, capabilities: CapabilitySet) -> PathRule {
        PathRule {
            pattern: pattern.into(),
            capabilities,
            allowed_parameters: BTreeMap::new(),
            denied_parameters: BTreeMap::new(),
            required_parameters: Vec::new(),
            min_wrapping_ttl: None,
            max_wrapping_ttl: None,
        }
    }

    /// Whether the pattern holds `{{identity...}}` templates that [`Policy::render`] must fill
    /// in before the rule can match anything.
    pub fn is_templated(&self) -> bool {
        self.pattern.contains("{{")
    }
}

/// A named ACL policy: an ordered list of path rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The policy's name, as given to [`parse`].
    pub name: String,
    /// The path blocks, in source order.
    pub rules: Vec<PathRule>,
}

impl Policy {
    /// Whether any rule uses `{{identity...}}` templates.
    pub fn is_templated(&self) -> bool {
        self.rules.iter().any(PathRule::is_templated)
    }

    /// Fills in `{{identity...}}` templates for one token's identity.
    ///
    /// `resolve` receives the parameter inside the braces, trimmed (for example
    /// `identity.entity.id` or `identity.entity.metadata.team`), and returns its value, or
    /// `None` when the token has no such value. As in Vault, a rule whose templates cannot all
    /// be resolved is dropped (it grants nothing). A rule is also dropped when a value holds
    /// `*`, `+` or braces: identity data must never turn a literal path into a glob.
    pub fn render<F>(&self, resolve: F) -> Policy
    where
        F: Fn(&str) -> Option<String>,
    {
        let rules = self
            .rules
            .iter()
            .filter_map(|rule| {
                if !rule.is_templated() {
                    return Some(rule.clone());
                }
                let pattern = template::render(&rule.pattern, &resolve)?;
                Some(PathRule {
                    pattern,
                    ..rule.clone()
                })
            })
            .collect();
        Policy {
            name: self.name.clone(),
            rules,
        }
    }
}

/// The largest policy text accepted (Vault has no limit; real policies are a few KiB).
pub const MAX_POLICY_BYTES: usize = 1 << 20;

/// Parses a policy written in HCL or in Vault's JSON form.
///
/// HCL: `path "secret/*" { capabilities = ["read", "list"] }`, including Vault's legacy
/// `policy = "read" | "write" | "sudo" | "deny"` and the parameter and wrapping keys.
/// JSON (detected by a leading `{`): `{"path": {"secret/*": {"capabilities": ["read"]}}}`.
///
/// Empty (or whitespace-only) text is an error; text with no path block (only comments) is a
/// valid policy that grants nothing, as in Vault.
///
/// # Errors
///
/// [`PolicyError::Syntax`] with the line and column for malformed HCL/JSON;
/// [`PolicyError::Invalid`] naming the path block (and its line) for an unknown key, an
/// unknown capability or legacy policy value, a `*` that is not the last character, `+*`, a
/// bad parameter map, a malformed TTL or a minimum TTL above the maximum, or a malformed
/// `{{identity...}}` template.
pub fn parse(name: &str, text: &str) -> Result<Policy, PolicyError> {
    if text.trim().is_empty() {
        return Err(PolicyError::Invalid {
            path: None,
            line: None,
            message: "the policy text is empty; write at least one block such as \
                      `path \"secret/*\" { capabilities = [\"read\"] }`"
                .to_string(),
        });
    }
    if text.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::Invalid {
            path: None,
            line: None,
            message: format!(
                "the policy text is {} bytes, more than the limit of {MAX_POLICY_BYTES}; split \
                 it into several policies",
                text.len()
            ),
        });
    }
    // Checked before any parser runs: the HCL parser recurses once per bracket level.
    if let Err(e) = hush_config::nesting::check(text, hush_config::nesting::MAX_NESTING) {
        return Err(PolicyError::Syntax {
            line: e.line(),
            column: 1,
            message: e.to_string(),
        });
    }
    let raw = if source::looks_like_json(text) {
        source::json_rules(text)?
    } else {
        source::hcl_rules(text)?
    };
    let rules = raw
        .into_iter()
        .map(|rule| build_rule(text, rule))
        .collect::<Result<_, _>>()?;
    Ok(Policy {
        name: name.to_string(),
        rules,
    })
}

/// Checks a policy name as written, without normalizing it (see [`normalize_name`]).
///
/// Valid names are what Vault's API routes accept: letters, digits, `_`, `-` and `.`,
/// starting and ending with a letter, digit or `_`, and lower-case (Vault lower-cases names
/// on write, so an upper-case name would silently become another one). `root` and `default`
/// are valid here; refusing to overwrite or delete them is the caller's job, and it matters:
/// [`crate::Acl::new`] treats any policy named `root` as the root policy.
///
/// # Errors
///
/// [`PolicyError::InvalidName`] saying what is wrong.
pub fn validate_name(name: &str) -> Result<(), PolicyError> {
    let fail = |reason: &str| {
        Err(PolicyError::InvalidName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return fail("a policy name must not be empty");
    }
    if name.contains('/') {
        return fail("a policy name must not contain '/'");
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return fail(
            "policy names are lower-case (Vault lower-cases them); write it in lower case",
        );
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if !name.chars().all(|c| word(c) || c == '-' || c == '.') {
        return fail("use only letters, digits, '_', '-' and '.'");
    }
    let (first, last) = (name.chars().next(), name.chars().last());
    if !first.is_some_and(word) || !last.is_some_and(word) {
        return fail("a policy name must start and end with a letter, digit or '_'");
    }
    Ok(())
}

/// Normalizes a policy name the way Vault does (trim surrounding whitespace, lower-case), then
/// validates it with [`validate_name`].
///
/// # Errors
///
/// [`PolicyError::InvalidName`] when the normalized name is still invalid.
pub fn normalize_name(name: &str) -> Result<String, PolicyError> {
    let normalized = name.trim().to_lowercase();
    match validate_name(&normalized) {
        Ok(()) => Ok(normalized),
        // Report the name as the caller gave it, with the reason found for its normal form.
        Err(PolicyError::InvalidName { reason, .. }) => Err(PolicyError::InvalidName {
            name: name.to_string(),
            reason,
        }),
        Err(other) => Err(other),
    }
}

/// Keys a path block may hold. `comment` and `subscribe_event_types` are accepted and
/// ignored: the first is documentation, the second only grants event subscriptions, which
/// hush does not offer, so ignoring it can never widen access.
const VALID_KEYS: &[&str] = &[
    "capabilities",
    "policy",
    "allowed_parameters",
    "denied_parameters",
    "required_parameters",
    "min_wrapping_ttl",
    "max_wrapping_ttl",
    "comment",
    "subscribe_event_types",
];

/// Interprets one raw path block.
fn build_rule(text: &str, raw: RawRule) -> Result<PathRule, PolicyError> {
    let block_line = raw.offset.map(|o| line_at(text, o));
    let err_at = |offset: Option<usize>, message: String| PolicyError::Invalid {
        path: Some(raw.pattern.clone()),
        line: offset.map(|o| line_at(text, o)).or(block_line),
        message,
    };

    let mut seen = HashSet::new();
    for field in &raw.fields {
        match field.key.as_str() {
            "mfa_methods" | "control_group" => {
                return Err(err_at(
                    field.offset,
                    format!(
                        "{:?} is a Vault Enterprise feature that hush does not enforce; remove \
                         it (keeping it would grant access without the check it asks for)",
                        field.key
                    ),
                ))
            }
            key if !VALID_KEYS.contains(&key) => {
                return Err(err_at(
                    field.offset,
                    format!(
                        "unknown key {key:?}; a path block may hold capabilities, policy, \
                         allowed_parameters, denied_parameters, required_parameters, \
                         min_wrapping_ttl, max_wrapping_ttl and comment"
                    ),
                ))
            }
            key => {
                if !seen.insert(key) {
                    return Err(err_at(
                        field.offset,
                        format!("{key:?} is set twice in the same path block; keep one"),
                    ));
                }
            }
        }
    }

    let pattern = normalize_pattern(&raw.pattern).map_err(|message| err_at(None, message))?;
    let field = |key: &str| raw.fields.iter().find(|f| f.key == key);

    let mut capabilities = CapabilitySet::new();
    if let Some(f) = field("policy") {
        let legacy = match &f.value {
            Value::String(s) => legacy_capabilities(s),
            _ => None,
        };
        capabilities = legacy.ok_or_else(|| {
            err_at(
                f.offset,
                format!(
                    "invalid policy {}; the legacy `policy` key takes \"deny\", \"read\", \
                     \"write\" or \"sudo\" (or use capabilities = [...])",
                    f.value
                ),
            )
        })?;
    }
    if let Some(f) = field("capabilities") {
        let Value::Array(items) = &f.value else {
            return Err(err_at(
                f.offset,
                format!(
                    "capabilities must be a list of names such as [\"read\", \"list\"], found {}",
                    f.value
                ),
            ));
        };
        for item in items {
            let Value::String(name) = item else {
                return Err(err_at(
                    f.offset,
                    format!("capabilities must be quoted names such as \"read\", found {item}"),
                ));
            };
            // Newer Vault versions know `subscribe` (event streams) and `recover` (snapshot
            // recovery), operations hush does not have. They only ever grant, so dropping
            // them keeps such policies importable without widening anything.
            if matches!(name.as_str(), "subscribe" | "recover") {
                continue;
            }
            let cap = name
                .parse::<Capability>()
                .map_err(|e| err_at(f.offset, e.to_string()))?;
            capabilities.insert(cap);
        }
    }

    // As in Vault, `deny` replaces every other capability and the rule's constraints are not
    // read: nothing is allowed, so they could never apply.
    if capabilities.is_deny() {
        return Ok(PathRule::new(pattern, CapabilitySet::DENY));
    }

    let mut rule = PathRule::new(pattern, capabilities);
    if let Some(f) = field("allowed_parameters") {
        rule.allowed_parameters =
            parameter_map(f, "allowed_parameters").map_err(|m| err_at(f.offset, m))?;
    }
    if let Some(f) = field("denied_parameters") {
        rule.denied_parameters =
            parameter_map(f, "denied_parameters").map_err(|m| err_at(f.offset, m))?;
    }
    if let Some(f) = field("required_parameters") {
        rule.required_parameters = required_list(f).map_err(|m| err_at(f.offset, m))?;
    }
    if let Some(f) = field("min_wrapping_ttl") {
        rule.min_wrapping_ttl = ttl(f).map_err(|m| err_at(f.offset, m))?;
    }
    if let Some(f) = field("max_wrapping_ttl") {
        rule.max_wrapping_ttl = ttl(f).map_err(|m| err_at(f.offset, m))?;
    }
    if let (Some(min), Some(max)) = (rule.min_wrapping_ttl, rule.max_wrapping_ttl) {
        if max < min {
            return Err(err_at(
                field("max_wrapping_ttl").and_then(|f| f.offset),
                format!(
                    "max_wrapping_ttl ({}) cannot be less than min_wrapping_ttl ({})",
                    hush_config::format_duration(max),
                    hush_config::format_duration(min)
                ),
            ));
        }
    }
    Ok(rule)
}

/// Strips the leading `/` (Vault paths start after it) and checks the glob characters.
fn normalize_pattern(pattern: &str) -> Result<String, String> {
    let pattern = pattern.strip_prefix('/').unwrap_or(pattern);
    if pattern.contains("+*") {
        return Err(
            "`+*` is not allowed: `+` stands for one whole segment and `*` is a \
                    trailing prefix glob; write \"a/+/*\" or \"a/+\""
                .to_string(),
        );
    }
    if let Some(pos) = pattern.find('*') {
        // Vault would read such a `*` as a literal character, which is never what the author
        // meant; refusing it is safer than a rule that silently matches nothing.
        if pos != pattern.len() - 1 {
            return Err(
                "`*` may only be the last character of a pattern (it is a prefix glob, \
                        not a wildcard); use `+` for one path segment, e.g. \"secret/+/config\""
                    .to_string(),
            );
        }
    }
    template::validate(pattern)?;
    Ok(pattern.to_string())
}

/// Vault's legacy `policy = "..."` values.
fn legacy_capabilities(value: &str) -> Option<CapabilitySet> {
    use Capability::*;
    // Vault maps "write" to create, read, update, delete and list: patch did not exist when
    // the legacy form was retired and was never added to it.
    Some(match value {
        "deny" => CapabilitySet::DENY,
        "read" => CapabilitySet::of(&[Read, List]),
        "write" => CapabilitySet::of(&[Create, Read, Update, Delete, List]),
        "sudo" => CapabilitySet::of(&[Create, Read, Update, Delete, List, Sudo]),
        _ => return None,
    })
}

/// Reads `allowed_parameters` / `denied_parameters`: `{ "name" = [values] }`.
fn parameter_map(field: &RawField, key: &str) -> Result<BTreeMap<String, Vec<Value>>, String> {
    let Value::Object(map) = &field.value else {
        return Err(format!(
            "{key} must map parameter names to lists of values, such as \
             {{ \"bar\" = [\"zip\", \"zap\"], \"*\" = [] }}"
        ));
    };
    let mut out = BTreeMap::new();
    for (name, values) in map {
        if name.contains('*') && name != "*" {
            return Err(format!(
                "{key}: parameter name {name:?} cannot contain `*`; only the name \"*\" \
                 (meaning any parameter) is a wildcard"
            ));
        }
        let Value::Array(values) = values else {
            return Err(format!(
                "{key}: the values of {name:?} must be a list, such as [\"zip\", \"zap\"] \
                 (or [] for any value)"
            ));
        };
        let values = values.iter().map(canonical_numbers).collect();
        // Vault matches parameter names case-insensitively by lower-casing both sides.
        if out.insert(name.to_lowercase(), values).is_some() {
            return Err(format!(
                "{key}: parameter {name:?} is listed twice (names are case-insensitive); \
                 merge the two lists"
            ));
        }
    }
    Ok(out)
}

/// Writes integral floats (`2.0`) as integers. HCL cannot tell the two apart, so without this
/// a JSON policy would not survive `to_hcl` unchanged; matching compares numbers by value, so
/// nothing else changes.
fn canonical_numbers(value: &Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // The bounds are exact powers of two, so the casts below cannot saturate.
            if f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
                Value::from(f as i64)
            } else if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                Value::from(f as u64)
            } else {
                value.clone()
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), canonical_numbers(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn required_list(field: &RawField) -> Result<Vec<String>, String> {
    let Value::Array(items) = &field.value else {
        return Err(
            "required_parameters must be a list of parameter names, such as [\"bar\"]".into(),
        );
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(name) if name.contains('*') => Err(format!(
                "required_parameters: {name:?} cannot contain `*`; list exact parameter names"
            )),
            Value::String(name) => Ok(name.clone()),
            other => Err(format!(
                "required_parameters must hold quoted parameter names, found {other}"
            )),
        })
        .collect()
}

/// Reads a wrapping TTL; zero means unset, as in Vault.
fn ttl(field: &RawField) -> Result<Option<Duration>, String> {
    let duration = hush_config::parse_duration_value(&field.value)
        .map_err(|e| format!("{}: {e}", field.key))?;
    Ok((!duration.is_zero()).then_some(duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "default",
            "root",
            "my-policy",
            "a",
            "a.b_c-d",
            "_x_",
            "team1",
        ] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("a/b", "'/'"),
            ("Admin", "lower-case"),
            ("-a", "start and end"),
            ("a.", "start and end"),
            ("a b", "letters, digits"),
            ("é", "letters, digits"),
        ] {
            let err = validate_name(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert_eq!(normalize_name("  Admin ").unwrap(), "admin");
        let err = normalize_name(" ").unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn legacy_write_has_no_patch() {
        let caps = legacy_capabilities("write").unwrap();
        assert!(!caps.contains(Capability::Patch));
        assert_eq!(
            caps.names(),
            vec!["create", "read", "update", "delete", "list"]
        );
    }

    #[test]
    fn pattern_rules() {
        assert_eq!(normalize_pattern("/secret/*").unwrap(), "secret/*");
        assert!(normalize_pattern("secret/+*").is_err());
        assert!(normalize_pattern("secret/*/x").is_err());
        assert!(normalize_pattern("secret/**").is_err());
        assert_eq!(normalize_pattern("*").unwrap(), "*");
        assert_eq!(normalize_pattern("").unwrap(), "");
    }
}
