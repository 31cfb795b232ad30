//! Vault's documented matching, precedence and constraint rules, as tables.

use std::time::Duration;

use hush_policy::{parse, Acl, Capability, CapabilitySet, Decision, Policy};
use serde_json::{json, Map, Value};

use Capability::*;

fn policy(name: &str, text: &str) -> Policy {
    parse(name, text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn acl(texts: &[&str]) -> Acl {
    let policies: Vec<Policy> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| policy(&format!("p{i}"), t))
        .collect();
    Acl::new(&policies.iter().collect::<Vec<_>>())
}

fn allowed(acl: &Acl, path: &str, cap: Capability) -> bool {
    acl.check(path, cap, false, None, None).allowed
}

fn with_data(acl: &Acl, path: &str, cap: Capability, data: Value) -> Decision {
    let Value::Object(map) = data else {
        panic!("data must be an object")
    };
    acl.check(path, cap, false, Some(&map), None)
}

/// One row: path, capability, expected outcome, and why (shown on failure).
type Row<'a> = (&'a str, Capability, bool, &'a str);

fn run_table(acl: &Acl, rows: &[Row<'_>]) {
    for (path, cap, expected, why) in rows {
        let decision = acl.check(path, *cap, false, None, None);
        assert_eq!(
            decision.allowed,
            *expected,
            "{path} {cap}: {why}; decision {decision:?}; matched {:?}",
            acl.matched_rule(path)
        );
        assert_eq!(decision.reason.is_none(), *expected, "{path} {cap}");
    }
}

#[test]
fn documented_glob_examples() {
    let acl = acl(&[r#"
# Permit reading only "secret/foo": not "secret/food" or "secret/foo/bar".
path "secret/foo" { capabilities = ["read"] }
# Everything under "secret/bar/", but not "secret/bars/zip".
path "secret/bar/*" { capabilities = ["read"] }
# Everything prefixed with "zip-".
path "secret/zip-*" { capabilities = ["read"] }
# The "teamb" path under any top-level path under secret/.
path "secret/+/teamb" { capabilities = ["read"] }
# secret/foo/bar/teamb, secret/bar/foo/teamb, ...
path "secret/+/+/teamb" { capabilities = ["read"] }
"#]);
    run_table(
        &acl,
        &[
            ("secret/foo", Read, true, "exact"),
            ("secret/food", Read, false, "exact does not prefix-match"),
            ("secret/foo/bar", Read, false, "exact does not match below"),
            ("secret/bar/zip", Read, true, "prefix"),
            ("secret/bar/zip/zap", Read, true, "prefix spans segments"),
            ("secret/bars/zip", Read, false, "prefix is a string prefix"),
            ("secret/zip-zap", Read, true, "prefix inside a segment"),
            (
                "secret/zip-zap/zong",
                Read,
                true,
                "prefix inside a segment, deeper",
            ),
            ("secret/zip/zap", Read, false, "no zip- prefix"),
            ("secret/a/teamb", Read, true, "+ takes one segment"),
            ("secret/a/b/teamb", Read, true, "+/+ takes two segments"),
            (
                "secret/a/b/c/teamb",
                Read,
                false,
                "no pattern takes three segments",
            ),
            ("secret/teamb", Read, false, "+ needs a segment"),
            (
                "secret/a/teamb/x",
                Read,
                false,
                "+ patterns without * are exact length",
            ),
            ("secret/foo", Update, false, "only read granted"),
        ],
    );
}

#[test]
fn documented_precedence_example() {
    // "secret/*" vs "secret/+/+/foo/*": the first wildcard is at the same place and both end
    // in *, so the one with more + segments (the latter) has lower priority.
    let acl = acl(&[r#"
path "secret/*"         { capabilities = ["read"] }
path "secret/+/+/foo/*" { capabilities = ["update"] }
"#]);
    assert!(allowed(&acl, "secret/a/b/foo/c", Read));
    assert!(!allowed(&acl, "secret/a/b/foo/c", Update));
    assert_eq!(acl.matched_rule("secret/a/b/foo/c"), Some("secret/*"));
}

#[test]
fn each_priority_rule() {
    struct Case {
        rules: &'static str,
        path: &'static str,
        winner: &'static str,
        why: &'static str,
    }
    let cases = [
        Case {
            rules: r#"path "foo/a*" { capabilities = ["read"] }
                      path "foo/+" { capabilities = ["update"] }"#,
            path: "foo/abc",
            winner: "foo/a*",
            why: "1: the first glob comes later in foo/a* than the + in foo/+",
        },
        Case {
            rules: r#"path "foo/bar/+/baz" { capabilities = ["read"] }
                      path "foo/+/+/baz" { capabilities = ["update"] }"#,
            path: "foo/bar/x/baz",
            winner: "foo/bar/+/baz",
            why: "1: the first + comes later",
        },
        Case {
            rules: r#"path "secret/*" { capabilities = ["read"] }
                      path "secret/+" { capabilities = ["update"] }"#,
            path: "secret/x",
            winner: "secret/+",
            why: "2: secret/* ends in * and secret/+ does not",
        },
        Case {
            rules: r#"path "foo/+/bar" { capabilities = ["read"] }
                      path "foo/+/ba*" { capabilities = ["update"] }"#,
            path: "foo/x/bar",
            winner: "foo/+/bar",
            why: "2: the glob ranks lower",
        },
        Case {
            rules: r#"path "a/+/+/*" { capabilities = ["read"] }
                      path "a/+/c/*" { capabilities = ["update"] }"#,
            path: "a/x/c/d",
            winner: "a/+/c/*",
            why: "3: fewer + segments",
        },
        Case {
            rules: r#"path "foo/+/bar/ba*" { capabilities = ["read"] }
                      path "foo/+/bar/b*" { capabilities = ["update"] }"#,
            path: "foo/x/bar/baz",
            winner: "foo/+/bar/ba*",
            why: "4: longer",
        },
        Case {
            rules: r#"path "secret/foo*" { capabilities = ["read"] }
                      path "secret/*" { capabilities = ["update"] }"#,
            path: "secret/foobar",
            winner: "secret/foo*",
            why: "1: longest prefix (the glob comes later)",
        },
        Case {
            rules: r#"path "x/+/a/+" { capabilities = ["read"] }
                      path "x/+/+/a" { capabilities = ["update"] }"#,
            path: "x/1/a/a",
            winner: "x/+/a/+",
            why: "5: same position, kind, + count and length: the lexically greater wins",
        },
        Case {
            rules: r#"path "secret/+/teamb" { capabilities = ["update"] }
                      path "secret/a/teamb" { capabilities = ["read"] }"#,
            path: "secret/a/teamb",
            winner: "secret/a/teamb",
            why: "an exact match beats every glob",
        },
        Case {
            rules: r#"path "1/2/*" { capabilities = ["create"] }
                      path "1/2/+" { capabilities = ["read"] }
                      path "1/2/+/+" { capabilities = ["update"] }"#,
            path: "1/2/3/4",
            winner: "1/2/+/+",
            why: "2: the non-glob segment rule beats the prefix at the same position",
        },
        Case {
            rules: r#"path "1/2/*" { capabilities = ["create"] }
                      path "1/2/+" { capabilities = ["read"] }
                      path "1/2/+/+" { capabilities = ["update"] }"#,
            path: "1/2/3/4/5",
            winner: "1/2/*",
            why: "only the prefix matches five segments",
        },
    ];
    for case in cases {
        let acl = acl(&[case.rules]);
        assert_eq!(
            acl.matched_rule(case.path),
            Some(case.winner),
            "{}: {}",
            case.path,
            case.why
        );
        let winner_read = case
            .rules
            .contains(&format!("\"{}\" {{ capabilities = [\"read\"]", case.winner));
        assert_eq!(allowed(&acl, case.path, Read), winner_read, "{}", case.why);
    }
}

#[test]
fn highest_priority_alone_counts_even_when_a_lower_one_grants_more() {
    let acl = acl(&[
        r#"path "secret/*" { capabilities = ["create", "read", "update", "delete", "list"] }"#,
        r#"path "secret/foo*" { capabilities = ["read"] }"#,
    ]);
    run_table(
        &acl,
        &[
            ("secret/foobar", Read, true, "secret/foo* decides"),
            ("secret/foobar", Update, false, "secret/* is not consulted"),
            ("secret/other", Update, true, "only secret/* matches"),
        ],
    );
    assert_eq!(acl.capabilities("secret/foobar"), ["read"]);
}

#[test]
fn same_pattern_unions_across_policies_and_deny_wins() {
    let union = acl(&[
        r#"path "secret/*" { capabilities = ["read"] }"#,
        r#"path "secret/*" { capabilities = ["list"] }"#,
        r#"path "secret/x" { capabilities = ["update"] }"#,
    ]);
    assert_eq!(union.capabilities("secret/a"), ["list", "read"]);
    assert!(allowed(&union, "secret/a", Read));
    assert!(allowed(&union, "secret/a", List));
    // Different patterns are never unioned: the exact rule alone decides secret/x.
    assert_eq!(union.capabilities("secret/x"), ["update"]);
    assert!(!allowed(&union, "secret/x", Read));

    let denied = acl(&[
        r#"path "secret/*" { capabilities = ["read", "sudo"] }"#,
        r#"path "secret/*" { capabilities = ["deny"] }"#,
        r#"path "secret/*" { capabilities = ["update"] }"#,
    ]);
    for cap in [Read, Update, List, Create, Delete, Patch, Sudo] {
        assert!(!allowed(&denied, "secret/a", cap), "{cap}");
    }
    assert_eq!(denied.capabilities("secret/a"), ["deny"]);
    let decision = denied.check("secret/a", Read, false, None, None);
    assert!(!decision.sudo);
    assert_eq!(decision.capabilities, CapabilitySet::DENY);
    assert!(decision
        .reason
        .unwrap()
        .contains("denied by rule \"secret/*\""));

    // Deny in a lower-priority pattern does not reach an exact grant.
    let exact_over_deny = acl(&[
        r#"path "secret/*" { capabilities = ["deny"] }"#,
        r#"path "secret/open" { capabilities = ["read"] }"#,
    ]);
    assert!(allowed(&exact_over_deny, "secret/open", Read));
    assert!(!allowed(&exact_over_deny, "secret/closed", Read));
}

/// Vault's own single-policy and layered-policy tables (legacy forms, sudo, segments).
#[test]
fn vault_layered_policies() {
    let p1 = r#"
path "dev/*" { policy = "sudo" }
path "stage/*" { policy = "write" }
path "stage/aws/*" {
  policy = "read"
  capabilities = ["update", "sudo"]
}
path "stage/aws/policy/*" { policy = "sudo" }
path "prod/*" { policy = "read" }
path "prod/aws/*" { policy = "deny" }
path "sys/*" { policy = "deny" }
path "foo/bar" { capabilities = ["read", "create", "sudo"] }
path "baz/quux" { capabilities = ["read", "create", "patch"] }
path "test/+/segment" { capabilities = ["read"] }
path "+/segment/at/front" { capabilities = ["read"] }
path "test/segment/at/end/+" { capabilities = ["read"] }
path "test/segment/at/end/v2/+/" { capabilities = ["read"] }
path "test/+/wildcard/+/*" { capabilities = ["read"] }
"#;
    let p2 = r#"
path "dev/hide/*" { policy = "deny" }
path "stage/aws/policy/*" {
  policy = "deny"
  capabilities = ["read", "update", "sudo"]
}
path "prod/*" { policy = "write" }
path "sys/seal" { policy = "sudo" }
path "foo/bar" { capabilities = ["deny"] }
path "baz/quux" { capabilities = ["deny"] }
"#;
    // (path, capability, allowed, sudo)
    let single: &[(&str, Capability, bool, bool)] = &[
        ("root", Read, false, false),
        ("dev/foo", Read, true, true),
        ("dev/foo", Update, true, true),
        ("stage/foo", Delete, true, false),
        ("stage/aws/foo", List, true, true),
        ("stage/aws/foo", Update, true, true),
        ("stage/aws/policy/foo", Update, true, true),
        ("prod/foo", Delete, false, false),
        ("prod/foo", Update, false, false),
        ("prod/foo", Read, true, false),
        ("prod/foo", List, true, false),
        ("prod/aws/foo", Read, false, false),
        ("foo/bar", Read, true, true),
        ("foo/bar", List, false, true),
        ("foo/bar", Update, false, true),
        ("foo/bar", Create, true, true),
        ("baz/quux", Read, true, false),
        ("baz/quux", Create, true, false),
        ("baz/quux", Patch, true, false),
        ("baz/quux", List, false, false),
        ("baz/quux", Update, false, false),
        ("test/foo/bar/segment", Read, false, false),
        ("test/foo/segment", Read, true, false),
        ("test/bar/segment", Read, true, false),
        ("test/segment/at/frond", Read, false, false),
        ("test/segment/at/front", Read, true, false),
        ("test/segment/at/end/foo", Read, true, false),
        ("test/segment/at/end/foo/", Read, false, false),
        ("test/segment/at/end/v2/foo/", Read, true, false),
        ("test/segment/wildcard/at/foo/", Read, true, false),
        ("test/segment/wildcard/at/end", Read, true, false),
        ("test/segment/wildcard/at/end/", Read, true, false),
    ];
    let acl1 = acl(&[p1]);
    for (path, cap, ok, sudo) in single {
        let d = acl1.check(path, *cap, false, None, None);
        assert_eq!((d.allowed, d.sudo), (*ok, *sudo), "single: {path} {cap}");
    }
    let layered: &[(&str, Capability, bool, bool)] = &[
        ("root", Read, false, false),
        ("dev/foo", Read, true, true),
        ("dev/foo", Update, true, true),
        ("dev/hide/foo", Read, false, false),
        ("dev/hide/foo", Update, false, false),
        ("stage/foo", Delete, true, false),
        ("stage/aws/foo", List, true, true),
        ("stage/aws/foo", Update, true, true),
        ("stage/aws/policy/foo", Update, false, false),
        ("prod/foo", Delete, true, false),
        ("prod/foo", Update, true, false),
        ("prod/foo", Read, true, false),
        ("prod/foo", List, true, false),
        ("prod/aws/foo", Read, false, false),
        ("sys/status", Read, false, false),
        ("sys/seal", Update, true, true),
        ("foo/bar", Read, false, false),
        ("foo/bar", Create, false, false),
        ("baz/quux", Read, false, false),
        ("baz/quux", Patch, false, false),
    ];
    let acl2 = acl(&[p1, p2]);
    for (path, cap, ok, sudo) in layered {
        let d = acl2.check(path, *cap, false, None, None);
        assert_eq!((d.allowed, d.sudo), (*ok, *sudo), "layered: {path} {cap}");
    }
    // Order of policies does not matter.
    let acl3 = acl(&[p2, p1]);
    for (path, cap, ok, _) in layered {
        assert_eq!(allowed(&acl3, path, *cap), *ok, "reversed: {path} {cap}");
    }
    assert_eq!(acl1.capabilities("dev"), ["deny"]);
    assert_eq!(
        acl1.capabilities("dev/"),
        ["create", "delete", "list", "read", "sudo", "update"]
    );
    assert_eq!(
        acl1.capabilities("stage/aws/test"),
        ["list", "read", "sudo", "update"]
    );
}

#[test]
fn sudo_is_required_on_root_protected_paths() {
    let acl = acl(&[r#"
path "sys/audit/*" { capabilities = ["create", "update", "sudo"] }
path "sys/mounts/*" { capabilities = ["create", "update"] }
"#]);
    let ok = acl.check("sys/audit/file", Update, true, None, None);
    assert!(ok.allowed && ok.sudo);
    let no = acl.check("sys/mounts/x", Update, true, None, None);
    assert!(!no.allowed);
    assert!(no.reason.unwrap().contains("root-protected"));
    assert!(acl.check("sys/mounts/x", Update, false, None, None).allowed);
}

#[test]
fn list_ignores_a_trailing_slash_when_finding_the_rule() {
    let acl = acl(&[r#"
path "secret/metadata/app" { capabilities = ["list"] }
path "kv/*" { capabilities = ["list"] }
path "kv/team/*" { capabilities = ["read"] }
"#]);
    assert!(allowed(&acl, "secret/metadata/app/", List));
    assert!(!allowed(&acl, "secret/metadata/app/", Read));
    // For list, "kv/team/" is first looked up as "kv/team", which only kv/* matches.
    assert!(allowed(&acl, "kv/team/", List));
    assert!(allowed(&acl, "kv/team/x", Read));
    assert_eq!(acl.capabilities("secret/metadata/app/"), ["list"]);
}

#[test]
fn leading_slashes_are_ignored() {
    let acl = acl(&[r#"path "/secret/x" { capabilities = ["read"] }"#]);
    assert!(allowed(&acl, "secret/x", Read));
    assert!(allowed(&acl, "//secret/x", Read));
    assert_eq!(acl.capabilities("/secret/x"), ["read"]);
}

#[test]
fn root_acl_allows_everything() {
    let root = Acl::root();
    assert!(root.is_root());
    for cap in [Create, Read, Update, Patch, Delete, List, Sudo] {
        let d = root.check("sys/anything", cap, true, None, None);
        assert!(d.allowed && d.sudo && d.reason.is_none(), "{cap}");
    }
    assert_eq!(root.capabilities("x"), ["root"]);
    assert!(root.has_mount_access("secret/"));

    // A policy named root makes the ACL root, as in Vault.
    let named = Acl::new(&[&policy("root", "# root\n")]);
    assert!(named.is_root());
    assert!(!Acl::new(&[]).is_root());
    assert!(!allowed(&Acl::new(&[]), "anything", Read));
    assert_eq!(Acl::new(&[]).capabilities("anything"), ["deny"]);
}

#[test]
fn empty_capability_rule_shadows_lower_rules() {
    let acl = acl(&[r#"
path "secret/*" { capabilities = ["read"] }
path "secret/locked" { capabilities = [] }
"#]);
    assert!(!allowed(&acl, "secret/locked", Read));
    assert_eq!(acl.capabilities("secret/locked"), ["deny"]);
}

#[test]
fn denial_reasons_name_path_rule_and_capability_but_no_values() {
    let acl = acl(&[r#"
path "secret/*" {
  capabilities = ["read", "update"]
  allowed_parameters = { "role" = ["dev"] }
}
"#]);
    let none = acl.check("other/x", Read, false, None, None);
    let reason = none.reason.unwrap();
    assert!(
        reason.contains("\"other/x\"") && reason.contains("read"),
        "{reason}"
    );

    let missing = acl.check("secret/x", Delete, false, None, None);
    let reason = missing.reason.unwrap();
    assert!(
        reason.contains("\"secret/*\"") && reason.contains("\"delete\""),
        "{reason}"
    );
    assert_eq!(missing.capabilities, CapabilitySet::of(&[Read, Update]));

    let param = with_data(&acl, "secret/x", Update, json!({"role": "s3cr3t-admin"}));
    let reason = param.reason.unwrap();
    assert!(reason.contains("\"role\""), "{reason}");
    assert!(!reason.contains("s3cr3t"), "values must not leak: {reason}");
}

#[test]
fn allowed_denied_and_required_parameters() {
    let acl = acl(&[r#"
path "dev/*" {
  policy = "write"
  allowed_parameters = { "zip" = [] }
}
path "broken/phone" {
  policy = "write"
  allowed_parameters = { "steve" = [] }
  denied_parameters = { "steve" = [] }
}
path "hello/world" {
  policy = "write"
  allowed_parameters = { "*" = [] }
  denied_parameters = { "*" = [] }
}
path "tree/fort" {
  policy = "write"
  allowed_parameters = { "*" = [] }
  denied_parameters = { "foo" = [] }
}
path "fruit/apple" {
  policy = "write"
  allowed_parameters = { "pear" = [] }
  denied_parameters = { "*" = [] }
}
path "cold/weather" {
  policy = "write"
  allowed_parameters = {}
  denied_parameters = {}
}
path "var/req" {
  policy = "write"
  required_parameters = ["foo"]
}
path "values/*" {
  capabilities = ["create", "update", "patch", "read", "list", "delete"]
  allowed_parameters = {
    "allow" = ["good"]
    "multi" = ["good", "good1", "*good3"]
    "prefix" = ["baz/*"]
    "int" = [1, 2]
    "bool" = [false]
    "map" = [{ "good" = "one" }]
    "roles" = ["dev"]
    "*" = []
  }
  denied_parameters = {
    "deny" = ["bad*"]
    "DENY_MULTI" = ["bad", "bad1"]
  }
}
"#]);
    // (path, data, allowed)
    let rows: &[(&str, Value, bool)] = &[
        ("dev/ops", json!({"zip": "x"}), true),
        ("dev/ops", json!({"zap": "x"}), false),
        ("dev/ops", json!({}), true),
        ("broken/phone", json!({"steve": 1}), false),
        ("hello/world", json!({"a": 1}), false),
        ("hello/world", json!({}), true),
        ("tree/fort", json!({"foo": 1}), false),
        ("tree/fort", json!({"beer": 1}), true),
        ("fruit/apple", json!({"pear": 1}), false),
        ("cold/weather", json!({"anything": 1}), true),
        ("var/req", json!({"foo": 1}), true),
        ("var/req", json!({"bar": 1}), false),
        ("var/req", json!({}), false),
        // Values.
        ("values/x", json!({"allow": "good"}), true),
        ("values/x", json!({"allow": "bad"}), false),
        ("values/x", json!({"ALLOW": "good"}), true),
        ("values/x", json!({"multi": "good1"}), true),
        ("values/x", json!({"multi": "xgood3"}), true),
        ("values/x", json!({"multi": "good,good1, agood3"}), true),
        ("values/x", json!({"multi": "good,nope"}), false),
        ("values/x", json!({"multi": ["good", "good1"]}), true),
        ("values/x", json!({"multi": ["good", "nope"]}), false),
        ("values/x", json!({"prefix": "baz/quux"}), true),
        ("values/x", json!({"prefix": "bar/quux"}), false),
        ("values/x", json!({"int": 1}), true),
        ("values/x", json!({"int": 2.0}), true),
        ("values/x", json!({"int": 3}), false),
        ("values/x", json!({"int": "1"}), false),
        ("values/x", json!({"bool": false}), true),
        ("values/x", json!({"bool": true}), false),
        ("values/x", json!({"map": {"good": "one"}}), true),
        ("values/x", json!({"map": {"good": "two"}}), false),
        ("values/x", json!({"other": "anything"}), true),
        ("values/x", json!({"deny": "ok"}), true),
        ("values/x", json!({"deny": "badness"}), false),
        ("values/x", json!({"Deny": "bad"}), false),
        ("values/x", json!({"deny_multi": "ok,bad1"}), false),
        ("values/x", json!({"deny_multi": ["ok", "bad"]}), false),
        ("values/x", json!({"deny_multi": ["ok"]}), true),
        // Empty lists and strings do not slip through a populated allow list.
        ("values/x", json!({"roles": []}), false),
        ("values/x", json!({"roles": ""}), false),
        ("values/x", json!({"roles": ["dev"]}), true),
    ];
    for (path, data, expected) in rows {
        for cap in [Create, Update] {
            let d = with_data(&acl, path, cap, data.clone());
            assert_eq!(d.allowed, *expected, "{path} {cap} {data}: {:?}", d.reason);
        }
    }
    // Parameters are checked for read and patch too, never for list and delete.
    assert!(!with_data(&acl, "values/x", Read, json!({"allow": "bad"})).allowed);
    assert!(!with_data(&acl, "values/x", Patch, json!({"allow": "bad"})).allowed);
    assert!(with_data(&acl, "values/x", List, json!({"allow": "bad"})).allowed);
    assert!(with_data(&acl, "values/x", Delete, json!({"allow": "bad"})).allowed);
    // No data at all passes everything except required parameters.
    assert!(acl.check("values/x", Update, false, None, None).allowed);
    assert!(!acl.check("var/req", Update, false, None, None).allowed);
}

#[test]
fn merged_parameters_and_ttls() {
    let acl = acl(&[
        r#"
path "foo/bar" {
  policy = "write"
  denied_parameters = { "baz" = [] }
  required_parameters = ["baz"]
}
path "hello/universe" {
  policy = "write"
  allowed_parameters = { "foo" = [] }
  required_parameters = ["foo"]
  max_wrapping_ttl = 300
  min_wrapping_ttl = 100
}
path "allow/all" {
  policy = "write"
  allowed_parameters = { "test" = [], "test1" = ["foo"] }
}
path "value/merge" {
  policy = "write"
  allowed_parameters = { "test" = [1, 2] }
}
path "value/empty" {
  policy = "write"
  allowed_parameters = { "empty" = [] }
}
"#,
        r#"
path "foo/bar" {
  policy = "write"
  denied_parameters = { "zip" = [] }
}
path "hello/universe" {
  policy = "write"
  allowed_parameters = { "bar" = [] }
  required_parameters = ["bar"]
  max_wrapping_ttl = 200
  min_wrapping_ttl = 50
}
path "allow/all" {
  policy = "write"
  allowed_parameters = { "*" = [] }
}
path "value/merge" {
  policy = "write"
  allowed_parameters = { "test" = [3, 4] }
}
path "value/empty" {
  policy = "write"
  allowed_parameters = { "empty" = [1] }
}
"#,
    ]);
    // Denied lists merge: both baz and zip are denied (baz is also required, so it can never
    // pass, exactly as in Vault).
    assert!(!with_data(&acl, "foo/bar", Update, json!({"zip": 1, "baz": 1})).allowed);
    // Required parameters merge.
    let ttl = Some(Duration::from_secs(100));
    let data = json!({"foo": 1, "bar": 2});
    let Value::Object(map) = data else {
        unreachable!()
    };
    assert!(
        acl.check("hello/universe", Update, false, Some(&map), ttl)
            .allowed
    );
    let mut only_foo = Map::new();
    only_foo.insert("foo".into(), json!(1));
    assert!(
        !acl.check("hello/universe", Update, false, Some(&only_foo), ttl)
            .allowed
    );
    // TTLs merge to the smaller of each: min 50s, max 200s.
    for (secs, ok) in [(49, false), (50, true), (200, true), (201, false)] {
        let d = acl.check(
            "hello/universe",
            Update,
            false,
            Some(&map),
            Some(Duration::from_secs(secs)),
        );
        assert_eq!(d.allowed, ok, "ttl {secs}: {:?}", d.reason);
    }
    let unwrapped = acl.check("hello/universe", Update, false, Some(&map), None);
    assert!(!unwrapped.allowed);
    assert!(unwrapped
        .reason
        .unwrap()
        .contains("response wrapping is required"));
    // "*" merged in allows any parameter; test1 keeps its value list.
    assert!(with_data(&acl, "allow/all", Update, json!({"anything": 1})).allowed);
    assert!(!with_data(&acl, "allow/all", Update, json!({"test1": "bar"})).allowed);
    assert!(with_data(&acl, "allow/all", Update, json!({"test1": "foo"})).allowed);
    // Value lists concatenate.
    for v in [1, 2, 3, 4] {
        assert!(
            with_data(&acl, "value/merge", Update, json!({"test": v})).allowed,
            "{v}"
        );
    }
    assert!(!with_data(&acl, "value/merge", Update, json!({"test": 5})).allowed);
    // An empty list (any value) absorbs a populated one.
    assert!(with_data(&acl, "value/empty", Update, json!({"empty": 99})).allowed);
}

#[test]
fn wrapping_ttl_bounds() {
    let acl = acl(&[r#"
path "auth/approle/role/my-role/secret-id" {
  capabilities = ["create", "update"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = "90s"
}
path "working/phone" {
  policy = "write"
  max_wrapping_ttl = 400
}
"#]);
    let path = "auth/approle/role/my-role/secret-id";
    for (ttl, ok) in [
        (None, false),
        (Some(Duration::from_millis(500)), false),
        (Some(Duration::from_secs(1)), true),
        (Some(Duration::from_secs(90)), true),
        (Some(Duration::from_secs(91)), false),
    ] {
        assert_eq!(
            acl.check(path, Update, false, None, ttl).allowed,
            ok,
            "{ttl:?}"
        );
    }
    assert!(
        !acl.check("working/phone", Update, false, None, None)
            .allowed
    );
    assert!(
        acl.check(
            "working/phone",
            Update,
            false,
            None,
            Some(Duration::from_secs(400))
        )
        .allowed
    );
}

#[test]
fn mount_access_for_ui_mounts() {
    let acl = acl(&[r#"
path "secret/data/app/config" { capabilities = ["read"] }
path "kv/*" { capabilities = ["deny"] }
path "team/+/data/*" { capabilities = ["read"] }
path "other/+/x" { capabilities = [] }
path "pre*" { capabilities = ["list"] }
"#]);
    assert!(acl.has_mount_access("secret/"));
    assert!(acl.has_mount_access("secret"));
    assert!(!acl.has_mount_access("kv/"));
    assert!(acl.has_mount_access("team/"));
    assert!(acl.has_mount_access("team/blue/"));
    assert!(!acl.has_mount_access("other/"));
    assert!(acl.has_mount_access("prefix-mount/"));
    assert!(!acl.has_mount_access("nothing/"));
}
