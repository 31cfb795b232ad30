//! The compiled ACL: Vault's matching, merging and checking rules.
//!
//! Matching (Vault's `acl.go` semantics, re-implemented):
//! - An exact rule for the path wins outright.
//! - Otherwise every glob rule that matches competes: prefix rules (`secret/*`, only the
//!   longest matching prefix can win among them) and segment rules (`secret/+/x`,
//!   `secret/+/x/*`). The single highest-priority one decides; there is no union across
//!   different patterns. P1 ranks below P2 when, checked in order: its first `+` or `*` comes
//!   earlier; it ends in `*` and P2 does not; it has more `+` segments; it is shorter; it sorts
//!   lower.
//! - The same pattern in several policies is merged first: capabilities are unioned, `deny`
//!   wins, parameter lists are merged, and the smaller of two wrapping TTLs is kept.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::capability::{Capability, CapabilitySet};
use crate::policy::{PathRule, Policy};

/// What a rule (or several rules with the same pattern, merged) allows.
#[derive(Debug, Clone)]
struct Perms {
    /// The pattern as written in the policies, for audit reasons and [`Acl::matched_rule`].
    pattern: String,
    capabilities: CapabilitySet,
    allowed: HashMap<String, Vec<Value>>,
    denied: HashMap<String, Vec<Value>>,
    required: Vec<String>,
    min_wrapping_ttl: Option<Duration>,
    max_wrapping_ttl: Option<Duration>,
}

impl Perms {
    fn from_rule(rule: &PathRule) -> Perms {
        Perms {
            pattern: rule.pattern.clone(),
            capabilities: rule.capabilities,
            allowed: rule.allowed_parameters.clone().into_iter().collect(),
            denied: rule.denied_parameters.clone().into_iter().collect(),
            required: rule.required_parameters.clone(),
            min_wrapping_ttl: rule.min_wrapping_ttl,
            max_wrapping_ttl: rule.max_wrapping_ttl,
        }
    }

    /// Merges another rule with the same pattern into this one.
    fn merge(&mut self, rule: &PathRule) {
        if self.capabilities.is_deny() {
            return;
        }
        if rule.capabilities.is_deny() {
            self.capabilities = CapabilitySet::DENY;
            self.allowed.clear();
            self.denied.clear();
            return;
        }
        self.capabilities = self.capabilities.union(rule.capabilities);
        // Keep the shorter lifetime of two, the bias Vault applies to every merged TTL.
        self.min_wrapping_ttl = smaller(self.min_wrapping_ttl, rule.min_wrapping_ttl);
        self.max_wrapping_ttl = smaller(self.max_wrapping_ttl, rule.max_wrapping_ttl);
        merge_parameters(&mut self.allowed, &rule.allowed_parameters);
        merge_parameters(&mut self.denied, &rule.denied_parameters);
        for name in &rule.required_parameters {
            if !self.required.contains(name) {
                self.required.push(name.clone());
            }
        }
    }
}

fn smaller(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Vault's merge of parameter maps: an empty list (any value) absorbs a populated one,
/// otherwise the value lists are concatenated.
fn merge_parameters(
    into: &mut HashMap<String, Vec<Value>>,
    from: &std::collections::BTreeMap<String, Vec<Value>>,
) {
    for (name, values) in from {
        match into.get_mut(name) {
            Some(existing) if existing.is_empty() || values.is_empty() => existing.clear(),
            Some(existing) => {
                let mut merged = values.clone();
                merged.append(existing);
                *existing = merged;
            }
            None => {
                into.insert(name.clone(), values.clone());
            }
        }
    }
}

/// A rule with `+` segments.
#[derive(Debug, Clone)]
struct SegmentRule {
    /// The pattern without its trailing `*`, split on `/`.
    segments: Vec<String>,
    is_prefix: bool,
    /// Byte index of the first `+` in the pattern.
    first_wildcard: usize,
    /// Number of segments that are exactly `+`.
    wildcards: usize,
    /// The pattern without its trailing `*`.
    stem: String,
    perms: Perms,
}

impl SegmentRule {
    /// Vault's segment matching: `+` takes any one segment, a trailing `*` turns the last
    /// segment into a prefix match and allows more segments after it.
    fn matches(&self, path: &str) -> bool {
        let path_len = path.split('/').count();
        if path_len < self.segments.len() || (!self.is_prefix && path_len != self.segments.len()) {
            return false;
        }
        let last = self.segments.len() - 1;
        self.segments
            .iter()
            .zip(path.split('/'))
            .enumerate()
            .all(|(i, (pattern, part))| {
                pattern == "+"
                    || pattern == part
                    || (self.is_prefix && i == last && part.starts_with(pattern.as_str()))
            })
    }

    /// Vault's check for "could this rule grant something under the mount `mount_parts`".
    fn may_match_under(&self, mount_parts: &[&str]) -> bool {
        if self.segments.len() < mount_parts.len() {
            return false;
        }
        let last = self.segments.len() - 1;
        mount_parts
            .iter()
            .zip(&self.segments)
            .enumerate()
            .all(|(i, (part, pattern))| {
                pattern == "+"
                    || pattern == part
                    || (self.is_prefix && i == last && part.starts_with(pattern.as_str()))
            })
    }
}

/// The priority of a glob candidate: a larger key wins (see the module documentation).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Priority<'a> {
    first_wildcard: usize,
    not_prefix: bool,
    fewer_wildcards: std::cmp::Reverse<usize>,
    len: usize,
    stem: &'a str,
}

/// The outcome of [`Acl::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Whether the deciding rule grants `sudo` (root tokens always have it).
    pub sudo: bool,
    /// The capabilities of the deciding rule at this path (empty when no rule matches).
    pub capabilities: CapabilitySet,
    /// When denied: which rule and which capability, parameter or wrapping constraint said
    /// no. Meant for the audit log, not for the client (which only sees "permission denied").
    /// Never holds parameter values.
    pub reason: Option<String>,
}

impl Decision {
    fn deny(capabilities: CapabilitySet, reason: String) -> Decision {
        Decision {
            allowed: false,
            sudo: capabilities.contains(Capability::Sudo),
            capabilities,
            reason: Some(reason),
        }
    }
}

/// A token's compiled policies.
///
/// Built once per distinct set of policies and then only read: checks do no allocation unless
/// they deny (to write the reason) or a parameter name needs lower-casing.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    root: bool,
    exact: HashMap<String, Perms>,
    /// Prefix rules keyed by their prefix (the pattern without `*`).
    prefix: HashMap<String, Perms>,
    /// The distinct prefix lengths, longest first, so the longest matching prefix is the
    /// first hit.
    prefix_lengths: Vec<usize>,
    segment: Vec<SegmentRule>,
}

impl Acl {
    /// Compiles policies into an ACL.
    ///
    /// Rules with the same pattern are merged across policies (capabilities unioned, `deny`
    /// wins, parameter constraints combined). A policy named `root` makes the whole ACL root,
    /// as in Vault. Rules whose pattern still holds an `{{identity...}}` template (the policy
    /// was not [rendered](Policy::render)) are skipped: they grant nothing.
    pub fn new(policies: &[&Policy]) -> Acl {
        if policies.iter().any(|p| p.name == "root") {
            return Acl::root();
        }
        let mut acl = Acl::default();
        let mut segment: HashMap<String, Perms> = HashMap::new();
        for rule in policies.iter().flat_map(|p| &p.rules) {
            if rule.is_templated() {
                continue;
            }
            let pattern = rule.pattern.as_str();
            // Same buckets as Vault: the merge key of a prefix rule is its prefix, so
            // `secret/*` and the exact `secret/` stay distinct rules.
            let (map, key) = if has_segment_wildcards(pattern) {
                (&mut segment, pattern)
            } else if let Some(prefix) = pattern.strip_suffix('*') {
                (&mut acl.prefix, prefix)
            } else {
                (&mut acl.exact, pattern)
            };
            match map.get_mut(key) {
                Some(perms) => perms.merge(rule),
                None => {
                    map.insert(key.to_string(), Perms::from_rule(rule));
                }
            }
        }
        let lengths: BTreeSet<usize> = acl.prefix.keys().map(String::len).collect();
        acl.prefix_lengths = lengths.into_iter().rev().collect();
        let mut segment: Vec<SegmentRule> = segment
            .into_iter()
            .map(|(pattern, perms)| {
                let pattern = pattern.as_str();
                let (stem, is_prefix) = match pattern.strip_suffix('*') {
                    Some(stem) => (stem, true),
                    None => (pattern, false),
                };
                let segments: Vec<String> = stem.split('/').map(str::to_string).collect();
                SegmentRule {
                    wildcards: segments.iter().filter(|s| *s == "+").count(),
                    segments,
                    is_prefix,
                    first_wildcard: pattern.find('+').unwrap_or(pattern.len()),
                    stem: stem.to_string(),
                    perms,
                }
            })
            .collect();
        // Deterministic order, so that equal inputs give equal ACLs (useful when debugging).
        segment.sort_by(|a, b| a.perms.pattern.cmp(&b.perms.pattern));
        acl.segment = segment;
        acl
    }

    /// The ACL of a root token: everything is allowed, including `sudo`.
    pub fn root() -> Acl {
        Acl {
            root: true,
            ..Acl::default()
        }
    }

    /// Whether this is a root ACL.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// Vault's resultant ACL (`sys/internal/ui/resultant-acl`): every merged rule, exact paths
    /// by path and glob paths by pattern (a `*` rule by its prefix, as Vault keys them), with
    /// capabilities and any parameter or wrapping constraints; and whether it is root.
    pub fn resultant(&self) -> Value {
        fn entry(p: &Perms) -> Value {
            let mut o = serde_json::Map::new();
            o.insert(
                "capabilities".into(),
                serde_json::json!(p.capabilities.names()),
            );
            let sorted = |m: &HashMap<String, Vec<Value>>| {
                let mut m: Vec<_> = m.iter().collect();
                m.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    m.into_iter()
                        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                        .collect(),
                )
            };
            if !p.allowed.is_empty() {
                o.insert("allowed_parameters".into(), sorted(&p.allowed));
            }
            if !p.denied.is_empty() {
                o.insert("denied_parameters".into(), sorted(&p.denied));
            }
            if !p.required.is_empty() {
                o.insert("required_parameters".into(), serde_json::json!(p.required));
            }
            if let Some(d) = p.min_wrapping_ttl {
                o.insert("min_wrapping_ttl".into(), serde_json::json!(d.as_secs()));
            }
            if let Some(d) = p.max_wrapping_ttl {
                o.insert("max_wrapping_ttl".into(), serde_json::json!(d.as_secs()));
            }
            Value::Object(o)
        }
        let exact: BTreeMap<&str, Value> = self
            .exact
            .iter()
            .map(|(k, p)| (k.as_str(), entry(p)))
            .collect();
        let mut glob: BTreeMap<String, Value> = self
            .prefix
            .iter()
            .map(|(k, p)| (k.clone(), entry(p)))
            .collect();
        for rule in &self.segment {
            glob.insert(rule.perms.pattern.clone(), entry(&rule.perms));
        }
        serde_json::json!({
            "exact_paths": exact,
            "glob_paths": glob,
            "root": self.root,
        })
    }

    /// Decides one request.
    ///
    /// - `needed`: the capability of the operation (the core maps GET→read, LIST→list,
    ///   POST/PUT→create or update, PATCH→patch, DELETE→delete).
    /// - `needs_sudo`: the path is root-protected, so the deciding rule must also grant `sudo`.
    /// - `data`: the request parameters. As in Vault, `allowed_parameters`,
    ///   `denied_parameters` and `required_parameters` are checked for read, create, update and
    ///   patch (Vault also checks reads, whose query parameters are data), not for list or
    ///   delete.
    /// - `wrap_ttl`: the response-wrapping TTL the client asked for, checked against
    ///   `min_wrapping_ttl`/`max_wrapping_ttl`; either bound makes wrapping mandatory.
    ///
    /// For `list`, a trailing `/` is ignored when looking for the rule, as Vault does.
    pub fn check(
        &self,
        path: &str,
        needed: Capability,
        needs_sudo: bool,
        data: Option<&Map<String, Value>>,
        wrap_ttl: Option<Duration>,
    ) -> Decision {
        if self.root {
            return Decision {
                allowed: true,
                sudo: true,
                capabilities: CapabilitySet::ALL_GRANTS,
                reason: None,
            };
        }
        let path = path.trim_start_matches('/');
        let Some(perms) = self.lookup(path, needed == Capability::List) else {
            return Decision::deny(
                CapabilitySet::EMPTY,
                format!(
                    "no policy rule matches path {path:?} (needed {needed:?})",
                    needed = needed.name()
                ),
            );
        };
        let caps = perms.capabilities;
        let rule = perms.pattern.as_str();
        if caps.is_deny() {
            return Decision::deny(caps, format!("path {path:?} is denied by rule {rule:?}"));
        }
        let granted = match needed {
            Capability::Deny => false,
            cap => caps.contains(cap),
        };
        if !granted {
            return Decision::deny(
                caps,
                format!(
                    "rule {rule:?} grants {:?} on {path:?}, not {:?}",
                    caps.names(),
                    needed.name()
                ),
            );
        }
        if let Some(reason) = wrapping_violation(perms, wrap_ttl) {
            return Decision::deny(caps, format!("rule {rule:?} on {path:?}: {reason}"));
        }
        if matches!(
            needed,
            Capability::Read | Capability::Create | Capability::Update | Capability::Patch
        ) {
            if let Some(reason) = parameter_violation(perms, data) {
                return Decision::deny(caps, format!("rule {rule:?} on {path:?}: {reason}"));
            }
        }
        let sudo = caps.contains(Capability::Sudo);
        if needs_sudo && !sudo {
            return Decision::deny(
                caps,
                format!(
                    "path {path:?} is root-protected and rule {rule:?} does not grant \"sudo\""
                ),
            );
        }
        Decision {
            allowed: true,
            sudo,
            capabilities: caps,
            reason: None,
        }
    }

    /// The capability names at `path`, sorted, as `sys/capabilities` returns them: `["root"]`
    /// for a root ACL, `["deny"]` when no rule matches, the rule denies, or it grants nothing.
    ///
    /// Like Vault, this looks the path up the way a list request would (a trailing `/` is
    /// ignored when finding the rule).
    pub fn capabilities(&self, path: &str) -> Vec<String> {
        if self.root {
            return vec!["root".to_string()];
        }
        let path = path.trim_start_matches('/');
        let caps = self
            .lookup(path, true)
            .map_or(CapabilitySet::EMPTY, |p| p.capabilities);
        if caps.is_empty() || caps.is_deny() {
            return vec!["deny".to_string()];
        }
        let mut names: Vec<String> = caps.names().into_iter().map(str::to_string).collect();
        names.sort_unstable();
        names
    }

    /// The pattern of the rule that decides requests at `path` (as a non-list request would
    /// find it), or `None` when no rule matches. For audit logs and debugging.
    pub fn matched_rule(&self, path: &str) -> Option<&str> {
        if self.root {
            return None;
        }
        self.lookup(path.trim_start_matches('/'), false)
            .map(|p| p.pattern.as_str())
    }

    /// Whether the ACL grants anything at or under `mount_path` (for example `"secret/"`), as
    /// Vault checks before answering `sys/internal/ui/mounts/<path>`: a rule on the mount
    /// itself, or any exact, prefix or segment rule that can match below it and is not `deny`.
    pub fn has_mount_access(&self, mount_path: &str) -> bool {
        if self.root {
            return true;
        }
        let trimmed = mount_path.trim_start_matches('/');
        let mount: Cow<'_, str> = if trimmed.ends_with('/') {
            Cow::Borrowed(trimmed)
        } else {
            Cow::Owned(format!("{trimmed}/"))
        };
        if self.capabilities(&mount) != ["deny"] {
            return true;
        }
        let grants = |p: &Perms| !p.capabilities.is_empty() && !p.capabilities.is_deny();
        let under = |map: &HashMap<String, Perms>| {
            map.iter()
                .any(|(key, perms)| key.starts_with(mount.as_ref()) && grants(perms))
        };
        if under(&self.exact) || under(&self.prefix) {
            return true;
        }
        let parts: Vec<&str> = mount.trim_end_matches('/').split('/').collect();
        self.segment
            .iter()
            .any(|rule| grants(&rule.perms) && rule.may_match_under(&parts))
    }

    /// Finds the deciding rule, in Vault's order: exact, (for list) exact without the trailing
    /// slash, (for list) globs without the trailing slash, then globs.
    fn lookup(&self, path: &str, list: bool) -> Option<&Perms> {
        if let Some(perms) = self.exact.get(path) {
            return Some(perms);
        }
        if list {
            if let Some(trimmed) = path.strip_suffix('/') {
                if let Some(perms) = self.exact.get(trimmed) {
                    return Some(perms);
                }
                if let Some(perms) = self.glob_lookup(trimmed) {
                    return Some(perms);
                }
            }
        }
        self.glob_lookup(path)
    }

    /// The highest-priority prefix or segment rule matching `path`.
    fn glob_lookup(&self, path: &str) -> Option<&Perms> {
        let prefix = self.prefix_lengths.iter().find_map(|&len| {
            let candidate = path.get(..len)?;
            self.prefix.get_key_value(candidate)
        });
        let mut best: Option<(Priority<'_>, &Perms)> = prefix.map(|(key, perms)| {
            (
                Priority {
                    first_wildcard: key.len(),
                    not_prefix: false,
                    fewer_wildcards: std::cmp::Reverse(0),
                    len: key.len(),
                    stem: key.as_str(),
                },
                perms,
            )
        });
        for rule in &self.segment {
            if !rule.matches(path) {
                continue;
            }
            let priority = Priority {
                first_wildcard: rule.first_wildcard,
                not_prefix: !rule.is_prefix,
                fewer_wildcards: std::cmp::Reverse(rule.wildcards),
                len: rule.stem.len(),
                stem: rule.stem.as_str(),
            };
            if best.as_ref().is_none_or(|(b, _)| priority > *b) {
                best = Some((priority, &rule.perms));
            }
        }
        best.map(|(_, perms)| perms)
    }
}

/// Vault's test for "this pattern has `+` segments": exactly `+`, or a segment starting with
/// `+` after a `/`, or a leading `+/`.
fn has_segment_wildcards(pattern: &str) -> bool {
    pattern == "+" || pattern.contains("/+") || pattern.starts_with("+/")
}

fn wrapping_violation(perms: &Perms, wrap_ttl: Option<Duration>) -> Option<String> {
    let fmt = hush_config::format_duration;
    if let Some(max) = perms.max_wrapping_ttl {
        match wrap_ttl {
            None => {
                return Some(format!(
                    "response wrapping is required (max_wrapping_ttl {})",
                    fmt(max)
                ))
            }
            Some(ttl) if ttl > max => {
                return Some(format!(
                    "wrapping TTL {} is above max_wrapping_ttl {}",
                    fmt(ttl),
                    fmt(max)
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(min) = perms.min_wrapping_ttl {
        match wrap_ttl {
            None => {
                return Some(format!(
                    "response wrapping is required (min_wrapping_ttl {})",
                    fmt(min)
                ))
            }
            Some(ttl) if ttl < min => {
                return Some(format!(
                    "wrapping TTL {} is below min_wrapping_ttl {}",
                    fmt(ttl),
                    fmt(min)
                ))
            }
            Some(_) => {}
        }
    }
    // Merging rules can produce a minimum above the maximum; no TTL satisfies both.
    if let (Some(min), Some(max)) = (perms.min_wrapping_ttl, perms.max_wrapping_ttl) {
        if max < min {
            return Some(format!(
                "merged rules ask for a wrapping TTL of at least {} and at most {}",
                fmt(min),
                fmt(max)
            ));
        }
    }
    None
}

fn lower(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) || !name.is_ascii() {
        Cow::Owned(name.to_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Vault's parameter checks, in Vault's order: required, then denied, then allowed.
fn parameter_violation(perms: &Perms, data: Option<&Map<String, Value>>) -> Option<String> {
    let empty = Map::new();
    let data = data.unwrap_or(&empty);
    for name in &perms.required {
        let key = lower(name);
        if !data.contains_key(key.as_ref()) {
            return Some(format!("required parameter {key:?} is missing"));
        }
    }
    if data.is_empty() {
        return None;
    }
    if !perms.denied.is_empty() {
        if perms.denied.contains_key("*") {
            return Some("denied_parameters forbids every parameter (\"*\")".to_string());
        }
        for (name, value) in data {
            if let Some(list) = perms.denied.get(lower(name).as_ref()) {
                if value_in_denied_list(value, list) {
                    return Some(format!("parameter {name:?} has a denied value"));
                }
            }
        }
    }
    if perms.allowed.is_empty() {
        return None;
    }
    let allow_any_name = perms.allowed.contains_key("*");
    if allow_any_name && perms.allowed.len() == 1 {
        return None;
    }
    for (name, value) in data {
        match perms.allowed.get(lower(name).as_ref()) {
            None if !allow_any_name => {
                return Some(format!("parameter {name:?} is not in allowed_parameters"))
            }
            Some(list) if !value_in_allowed_list(value, list) => {
                return Some(format!(
                    "parameter {name:?} has a value allowed_parameters does not allow"
                ))
            }
            _ => {}
        }
    }
    None
}

/// Whether a request value is allowed by a populated or empty (any value) list.
///
/// As in Vault, a list or a comma-separated string passes when every element is allowed.
/// Unlike Vault, an empty list or an empty string does not pass vacuously: it must be
/// allowed itself, so `"policies" = ["dev"]` cannot be bypassed with `policies = []`.
fn value_in_allowed_list(value: &Value, list: &[Value]) -> bool {
    if list.is_empty() || value_in_list(value, list) {
        return true;
    }
    match value {
        Value::Array(items) if !items.is_empty() => {
            items.iter().all(|item| value_in_list(item, list))
        }
        Value::String(s) if !s.is_empty() => {
            comma_elements(s).all(|part| list.iter().any(|allowed| string_matches(allowed, part)))
        }
        _ => false,
    }
}

/// Whether a request value hits a denied list: the value itself, or (as in Vault) any element
/// of a list or of a comma-separated string.
fn value_in_denied_list(value: &Value, list: &[Value]) -> bool {
    if list.is_empty() || value_in_list(value, list) {
        return true;
    }
    match value {
        Value::Array(items) => items.iter().any(|item| value_in_list(item, list)),
        Value::String(s) => {
            comma_elements(s).any(|part| list.iter().any(|denied| string_matches(denied, part)))
        }
        _ => false,
    }
}

/// Vault splits comma-separated strings and trims each element.
fn comma_elements(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim)
}

fn string_matches(pattern: &Value, value: &str) -> bool {
    matches!(pattern, Value::String(p) if glob_match(p, value))
}

fn value_in_list(value: &Value, list: &[Value]) -> bool {
    list.iter().any(|item| match (item, value) {
        (Value::String(pattern), Value::String(v)) => glob_match(pattern, v),
        (Value::Number(a), Value::Number(b)) => numbers_equal(a, b),
        (a, b) => a == b,
    })
}

/// Numbers compare by value (`1` equals `1.0`): request bodies and policy files do not agree
/// on integer versus float spelling.
fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Vault's value globs: `*x*` contains, `*x` suffix, `x*` prefix, otherwise equality. Patterns
/// shorter than two characters (including a lone `*`) only match themselves.
fn glob_match(pattern: &str, value: &str) -> bool {
    if pattern.len() < 2 {
        return pattern == value;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(rest), Some(_)) => value.contains(&rest[..rest.len() - 1]),
        (Some(suffix), None) => value.ends_with(suffix),
        (None, Some(prefix)) => value.starts_with(prefix),
        (None, None) => pattern == value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_follow_vault() {
        assert!(glob_match("foo-*", "foo-bar"));
        assert!(!glob_match("foo-*", "xfoo-bar"));
        assert!(glob_match("*-bar", "foo-bar"));
        assert!(glob_match("*oo*", "foobar"));
        assert!(glob_match("**", "anything"));
        assert!(glob_match("*", "*"));
        assert!(!glob_match("*", "x"));
        assert!(glob_match("zip", "zip"));
        assert!(!glob_match("zip", "zap"));
    }

    #[test]
    fn numbers_compare_by_value() {
        let one = serde_json::Number::from(1);
        let one_f = serde_json::Number::from_f64(1.0).unwrap();
        assert!(numbers_equal(&one, &one_f));
        assert!(!numbers_equal(&one, &serde_json::Number::from(2)));
    }

    #[test]
    fn segment_classification() {
        assert!(has_segment_wildcards("+"));
        assert!(has_segment_wildcards("a/+/b"));
        assert!(has_segment_wildcards("+/b"));
        assert!(!has_segment_wildcards("a+b"));
        assert!(!has_segment_wildcards("a/*"));
    }
}
