//! Parsing, error reporting and canonical formatting of policies.

use std::collections::BTreeMap;
use std::time::Duration;

use hush_policy::{parse, Acl, Capability, CapabilitySet, PathRule, PolicyError, DEFAULT_POLICY};
use serde_json::json;

use Capability::*;

fn caps(list: &[Capability]) -> CapabilitySet {
    CapabilitySet::of(list)
}

fn invalid(text: &str) -> (Option<String>, Option<usize>, String) {
    match parse("p", text) {
        Err(PolicyError::Invalid {
            path,
            line,
            message,
        }) => (path, line, message),
        other => panic!("expected an Invalid error for {text:?}, got {other:?}"),
    }
}

/// The detailed example from Vault's policy documentation.
const DOCS_EXAMPLE: &str = r#"
# This section grants all access on "secret/*". Further restrictions can be
# applied to this broad policy, as shown below.
path "secret/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}

# Even though we allowed secret/*, this line explicitly denies
# secret/super-secret. This takes precedence.
path "secret/super-secret" {
  capabilities = ["deny"]
}

# Policies can also specify allowed, disallowed, and required parameters.
path "secret/restricted" {
  capabilities = ["create"]
  allowed_parameters = {
    "foo" = []
    "bar" = ["zip", "zap"]
  }
}
"#;

#[test]
fn parses_vault_docs_example() {
    let policy = parse("docs", DOCS_EXAMPLE).unwrap();
    assert_eq!(policy.name, "docs");
    assert_eq!(policy.rules.len(), 3);
    assert_eq!(policy.rules[0].pattern, "secret/*");
    assert_eq!(
        policy.rules[0].capabilities,
        caps(&[Create, Read, Update, Patch, Delete, List])
    );
    assert_eq!(
        policy.rules[1],
        PathRule::new("secret/super-secret", caps(&[Deny]))
    );
    let restricted = &policy.rules[2];
    assert_eq!(restricted.capabilities, caps(&[Create]));
    assert_eq!(
        restricted.allowed_parameters,
        BTreeMap::from([
            ("foo".to_string(), vec![]),
            ("bar".to_string(), vec![json!("zip"), json!("zap")]),
        ])
    );
}

#[test]
fn json_form_equals_hcl_form() {
    let json_text = r#"{
      "path": {
        "secret/*": {"capabilities": ["create", "read", "update", "patch", "delete", "list"]},
        "secret/super-secret": {"capabilities": ["deny"]},
        "secret/restricted": {
          "capabilities": ["create"],
          "allowed_parameters": {"foo": [], "bar": ["zip", "zap"]}
        }
      }
    }"#;
    assert_eq!(
        parse("docs", json_text).unwrap(),
        parse("docs", DOCS_EXAMPLE).unwrap()
    );
}

#[test]
fn json_list_form_and_top_level_name() {
    let text = r#"{"name": "ignored", "path": [
        {"a/*": {"policy": "read"}},
        {"b": [{"capabilities": ["update"]}]}
    ]}"#;
    let policy = parse("p", text).unwrap();
    assert_eq!(policy.name, "p");
    assert_eq!(
        policy.rules,
        vec![
            PathRule::new("a/*", caps(&[Read, List])),
            PathRule::new("b", caps(&[Update])),
        ]
    );
}

#[test]
fn hcl_attribute_form_of_path() {
    let text = r#"path = { "secret/x" = { capabilities = ["read"] } }"#;
    assert_eq!(
        parse("p", text).unwrap().rules,
        vec![PathRule::new("secret/x", caps(&[Read]))]
    );
}

#[test]
fn legacy_policy_values() {
    let text = r#"
path "r" { policy = "read" }
path "w" { policy = "write" }
path "s" { policy = "sudo" }
path "d" { policy = "deny" }
path "mixed" {
  policy = "read"
  capabilities = ["create", "sudo"]
}
path "deny-wins" {
  policy = "deny"
  capabilities = ["read"]
}
"#;
    let rules = parse("legacy", text).unwrap().rules;
    let got: Vec<_> = rules
        .iter()
        .map(|r| (r.pattern.as_str(), r.capabilities))
        .collect();
    assert_eq!(
        got,
        vec![
            ("r", caps(&[Read, List])),
            // Vault's legacy "write" predates patch and never gained it.
            ("w", caps(&[Create, Read, Update, Delete, List])),
            ("s", caps(&[Create, Read, Update, Delete, List, Sudo])),
            ("d", caps(&[Deny])),
            ("mixed", caps(&[Create, Read, List, Sudo])),
            ("deny-wins", caps(&[Deny])),
        ]
    );
}

#[test]
fn bad_legacy_value_is_named() {
    let (path, line, message) = invalid("path \"a\" {\n  policy = \"admin\"\n}\n");
    assert_eq!(path.as_deref(), Some("a"));
    assert_eq!(line, Some(2));
    assert!(message.contains("invalid policy \"admin\""), "{message}");
    assert!(
        message.contains("\"deny\", \"read\", \"write\" or \"sudo\""),
        "{message}"
    );
}

#[test]
fn parameter_constraints_and_ttls() {
    let text = r#"
path "/auth/approle/role/my-role/secret-id" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "Bar" = ["baz/*"]
    "*"   = []
  }
  denied_parameters = {
    "ttl" = [0, "0s"]
  }
  required_parameters = ["bar", "Baz"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = 90
}
"#;
    let rule = parse("p", text).unwrap().rules.remove(0);
    // The leading slash is dropped: Vault paths start after it.
    assert_eq!(rule.pattern, "auth/approle/role/my-role/secret-id");
    assert_eq!(
        rule.allowed_parameters,
        BTreeMap::from([
            ("*".to_string(), vec![]),
            // Parameter names are case-insensitive, stored lower-cased.
            ("bar".to_string(), vec![json!("baz/*")]),
        ])
    );
    assert_eq!(
        rule.denied_parameters,
        BTreeMap::from([("ttl".to_string(), vec![json!(0), json!("0s")])])
    );
    assert_eq!(rule.required_parameters, vec!["bar", "Baz"]);
    assert_eq!(rule.min_wrapping_ttl, Some(Duration::from_secs(1)));
    assert_eq!(rule.max_wrapping_ttl, Some(Duration::from_secs(90)));
}

#[test]
fn hcl1_block_form_of_parameters() {
    let text = "path \"x\" {\n  capabilities = [\"create\"]\n  denied_parameters {\n    bar = []\n  }\n}\n";
    let rule = parse("p", text).unwrap().rules.remove(0);
    assert_eq!(
        rule.denied_parameters,
        BTreeMap::from([("bar".to_string(), vec![])])
    );
}

#[test]
fn deny_rule_drops_its_constraints() {
    let text = r#"path "x" {
  capabilities = ["deny", "read"]
  allowed_parameters = { "a" = [] }
  min_wrapping_ttl = "1s"
}"#;
    assert_eq!(
        parse("p", text).unwrap().rules,
        vec![PathRule::new("x", caps(&[Deny]))]
    );
}

#[test]
fn comments_only_policy_is_empty_but_valid() {
    let policy = parse("p", "# nothing here\n// nor here\n").unwrap();
    assert!(policy.rules.is_empty());
    assert!(
        !Acl::new(&[&policy])
            .check("a", Read, false, None, None)
            .allowed
    );
}

#[test]
fn empty_text_is_an_error() {
    for text in ["", "  \n\t "] {
        let (path, _, message) = invalid(text);
        assert_eq!(path, None);
        assert!(message.contains("policy text is empty"), "{message}");
    }
}

#[test]
fn malformed_hcl_reports_line_and_column() {
    let text = "path \"a\" {\n  capabilities = [\"read\"]\n}\n\npath \"b\" {\n  capabilities = [\"read\"\n}\n";
    match parse("p", text) {
        Err(err @ PolicyError::Syntax { .. }) => {
            let PolicyError::Syntax { line, column, .. } = &err else {
                unreachable!()
            };
            assert_eq!(*line, 7, "{err}");
            assert!(*column >= 1, "{err}");
            assert!(
                err.to_string().starts_with("policy syntax error at line 7"),
                "{err}"
            );
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn malformed_json_reports_line_and_column() {
    let text = "{\n  \"path\": {\n    \"a\": {\"capabilities\": [\"read\"],}\n  }\n}";
    match parse("p", text) {
        Err(PolicyError::Syntax {
            line,
            column,
            message,
        }) => {
            assert_eq!(line, 3);
            assert!(column > 1);
            assert!(!message.contains(" at line "), "{message}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn unknown_capability_names_path_line_and_valid_ones() {
    let text = "path \"ok\" {\n  capabilities = [\"read\"]\n}\n\npath \"secret/*\" {\n  capabilities = [\"read\", \"reed\"]\n}\n";
    let (path, line, message) = invalid(text);
    assert_eq!(path.as_deref(), Some("secret/*"));
    assert_eq!(line, Some(6));
    assert!(message.contains("unknown capability \"reed\""), "{message}");
    assert!(message.contains("create, read, update, patch, delete, list, sudo, deny"));
    let err = parse("p", text).unwrap_err().to_string();
    assert!(
        err.starts_with("invalid policy in path \"secret/*\" (line 6): "),
        "{err}"
    );
}

#[test]
fn unknown_capability_in_json_names_the_line() {
    let text = "{\"path\": {\n  \"a\": {\"capabilities\": [\"read\"]},\n  \"b\": {\"capabilities\": [\"Read\"]}\n}}";
    let (path, line, message) = invalid(text);
    assert_eq!(path.as_deref(), Some("b"));
    assert_eq!(line, Some(3));
    assert!(message.contains("unknown capability \"Read\""), "{message}");
}

#[test]
fn glob_not_at_end_is_rejected() {
    let (path, line, message) =
        invalid("\npath \"secret/*/config\" {\n  capabilities = [\"read\"]\n}\n");
    assert_eq!(path.as_deref(), Some("secret/*/config"));
    assert_eq!(line, Some(2));
    assert!(
        message.contains("`*` may only be the last character"),
        "{message}"
    );
    assert!(message.contains("use `+`"), "{message}");

    let (_, _, message) = invalid("path \"secret/+*\" { capabilities = [\"read\"] }");
    assert!(message.contains("`+*` is not allowed"), "{message}");
}

#[test]
fn unknown_key_is_rejected_with_valid_keys() {
    let (path, line, message) =
        invalid("path \"a\" {\n  capabilities = [\"read\"]\n  capabilites = [\"list\"]\n}\n");
    assert_eq!(path.as_deref(), Some("a"));
    assert_eq!(line, Some(3));
    assert!(message.contains("unknown key \"capabilites\""), "{message}");
    assert!(message.contains("allowed_parameters"), "{message}");

    let (path, line, message) = invalid("\n\npolicy = \"read\"\n");
    assert_eq!(path, None);
    assert_eq!(line, Some(3));
    assert!(
        message.contains("unknown top-level key \"policy\""),
        "{message}"
    );

    let (_, _, message) = invalid("{\"paths\": {}}");
    assert!(
        message.contains("unknown top-level key \"paths\""),
        "{message}"
    );
}

#[test]
fn enterprise_only_keys_are_refused() {
    let (_, _, message) = invalid(
        "path \"a\" {\n  capabilities = [\"read\"]\n  control_group = {\n    ttl = \"4h\"\n  }\n}\n",
    );
    assert!(message.contains("Vault Enterprise"), "{message}");
    let (_, _, message) =
        invalid("path \"a\" {\n  capabilities = [\"read\"]\n  mfa_methods = [\"okta\"]\n}\n");
    assert!(message.contains("\"mfa_methods\""), "{message}");
}

#[test]
fn ignored_keys_are_accepted() {
    let text = "path \"a\" {\n  comment = \"why\"\n  capabilities = [\"read\"]\n}\n";
    assert_eq!(
        parse("p", text).unwrap().rules,
        vec![PathRule::new("a", caps(&[Read]))]
    );
}

#[test]
fn other_semantic_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "path \"a\" { capabilities = \"read\" }",
            "capabilities must be a list",
        ),
        (
            "path \"a\" {\n  capabilities = [\"read\"]\n  capabilities = [\"list\"]\n}",
            "line 3, column 3: invalid attribute; expected unique attribute key",
        ),
        (
            "path \"a\" {\n  allowed_parameters = {}\n  allowed_parameters {\n  }\n}",
            "\"allowed_parameters\" is set twice in the same path block",
        ),
        (
            "path \"a\" {\n  capabilities = [\"read\"]\n  min_wrapping_ttl = \"1 hour\"\n}",
            "min_wrapping_ttl: invalid duration",
        ),
        (
            "path \"a\" {\n  capabilities = [\"read\"]\n  min_wrapping_ttl = \"2m\"\n  max_wrapping_ttl = \"1m\"\n}",
            "max_wrapping_ttl (1m0s) cannot be less than min_wrapping_ttl (2m0s)",
        ),
        (
            "path \"a\" {\n  capabilities = [\"create\"]\n  allowed_parameters = { \"bar\" = \"zip\" }\n}",
            "must be a list",
        ),
        (
            "path \"a\" {\n  capabilities = [\"create\"]\n  allowed_parameters = { \"b*\" = [] }\n}",
            "cannot contain `*`",
        ),
        (
            "path \"a\" {\n  capabilities = [\"create\"]\n  allowed_parameters = { \"A\" = [], \"a\" = [] }\n}",
            "listed twice",
        ),
        (
            "path \"a\" {\n  capabilities = [\"create\"]\n  required_parameters = [\"x*\"]\n}",
            "cannot contain `*`",
        ),
        (
            "path \"a\" { capabilities = [read] }",
            "unquoted word `read`",
        ),
        (
            "path \"a\" { capabilities = [\"${x}\"] }",
            "interpolation",
        ),
        ("path \"a\" \"b\" { capabilities = [] }", "exactly one"),
        ("resource \"a\" { }", "unknown top-level block \"resource\""),
        (
            "path \"a/{{identity.entity.nme}}\" { capabilities = [\"read\"] }",
            "unknown template parameter \"identity.entity.nme\"",
        ),
    ];
    for (text, expected) in cases {
        let err = parse("p", text).unwrap_err().to_string();
        assert!(err.contains(expected), "{text:?}: {err}");
    }
}

#[test]
fn to_hcl_is_canonical() {
    let text = r#"
path "secret/*" { policy = "read" }
path "secret/foo" {
  capabilities = ["list", "read", "create"]
  allowed_parameters = {
    "bar" = ["zip", "zap"]
    "*" = []
  }
  denied_parameters = { "n" = [1, true, null] }
  required_parameters = ["bar"]
  min_wrapping_ttl = 1
  max_wrapping_ttl = "90m"
}
"#;
    let policy = parse("p", text).unwrap();
    let expected = r#"path "secret/*" {
  capabilities = ["read", "list"]
}

path "secret/foo" {
  capabilities = ["create", "read", "list"]
  allowed_parameters = {
    "*" = []
    "bar" = ["zip", "zap"]
  }
  denied_parameters = {
    "n" = [1, true, null]
  }
  required_parameters = ["bar"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = "1h30m0s"
}
"#;
    assert_eq!(policy.to_hcl(), expected);
    assert_eq!(parse("p", &policy.to_hcl()).unwrap(), policy);
}

#[test]
fn to_hcl_round_trips_examples() {
    for text in [DOCS_EXAMPLE, DEFAULT_POLICY, "# empty\n"] {
        let policy = parse("p", text).unwrap();
        let formatted = policy.to_hcl();
        assert_eq!(parse("p", &formatted).unwrap(), policy, "{formatted}");
        // Formatting is idempotent.
        assert_eq!(parse("p", &formatted).unwrap().to_hcl(), formatted);
    }
}

#[test]
fn json_policy_formats_in_source_order() {
    let text = r#"{"path": {"z": {"capabilities": ["read"]}, "a": {"capabilities": ["list"]}}}"#;
    let formatted = parse("p", text).unwrap().to_hcl();
    assert!(
        formatted.find("\"z\"").unwrap() < formatted.find("\"a\"").unwrap(),
        "{formatted}"
    );
}

#[test]
fn default_policy_parses_and_grants_only_self_service() {
    let policy = parse("default", DEFAULT_POLICY).unwrap();
    assert!(policy.is_templated());
    let acl = Acl::new(&[&policy]);
    assert!(
        acl.check("auth/token/lookup-self", Read, false, None, None)
            .allowed
    );
    assert!(
        acl.check("auth/token/renew-self", Update, false, None, None)
            .allowed
    );
    assert!(
        acl.check("sys/capabilities-self", Update, false, None, None)
            .allowed
    );
    assert!(
        acl.check("sys/leases/renew", Update, false, None, None)
            .allowed
    );
    assert!(
        acl.check("sys/leases/lookup", Update, false, None, None)
            .allowed
    );
    assert!(
        acl.check("sys/wrapping/unwrap", Update, false, None, None)
            .allowed
    );
    assert!(
        acl.check("sys/tools/hash/sha2-256", Update, false, None, None)
            .allowed
    );
    assert!(
        acl.check("cubbyhole/my/secret", Create, false, None, None)
            .allowed
    );
    assert!(acl.check("cubbyhole/", List, false, None, None).allowed);
    assert!(
        acl.check(
            "identity/oidc/provider/default/authorize",
            Read,
            false,
            None,
            None
        )
        .allowed
    );

    for (path, cap) in [
        ("secret/foo", Read),
        ("secret/data/foo", Read),
        ("secret/", List),
        ("auth/token/lookup-self", Update),
        ("auth/token/create", Update),
        ("sys/policies/acl/default", Update),
        ("cubbyhole/x", Patch),
    ] {
        let decision = acl.check(path, cap, false, None, None);
        assert!(!decision.allowed, "{path} {cap}");
        assert!(decision.reason.is_some());
    }
    assert_eq!(acl.capabilities("secret/foo"), ["deny"]);
    assert_eq!(acl.capabilities("auth/token/lookup-self"), ["read"]);

    // Unrendered identity templates match nothing, even the literal template text.
    assert!(
        !acl.check(
            "identity/entity/id/{{identity.entity.id}}",
            Read,
            false,
            None,
            None
        )
        .allowed
    );
    // Rendered for a token with an entity, they grant the self lookup only.
    let rendered = policy.render(|param| match param {
        "identity.entity.id" => Some("e-123".to_string()),
        "identity.entity.name" => Some("alice".to_string()),
        _ => None,
    });
    assert!(!rendered.is_templated());
    let acl = Acl::new(&[&rendered]);
    assert!(
        acl.check("identity/entity/id/e-123", Read, false, None, None)
            .allowed
    );
    assert!(
        acl.check("identity/entity/name/alice", Read, false, None, None)
            .allowed
    );
    assert!(
        !acl.check("identity/entity/id/e-456", Read, false, None, None)
            .allowed
    );
    // Without an entity the templated rules are dropped, the rest stays.
    let no_entity = policy.render(|_| None);
    assert_eq!(no_entity.rules.len(), policy.rules.len() - 2);
}

#[test]
fn templated_policy_scopes_each_caller_to_its_own_path() {
    let policy = parse(
        "per-user",
        r#"
        path "secret/data/{{identity.entity.name}}/*" { capabilities = ["create", "read", "update"] }
        path "secret/data/teams/{{identity.entity.metadata.team}}" { capabilities = ["read"] }
        path "secret/data/shared" { capabilities = ["read"] }
        path "kv/{{identity.entity.aliases.userpass_1.name}}/{{identity.groups.names.ops.id}}" {
            capabilities = ["read"]
        }
        "#,
    )
    .unwrap();
    let alice = policy.render(|p| match p {
        "identity.entity.name" => Some("alice".into()),
        "identity.entity.metadata.team" => Some("payments".into()),
        "identity.entity.aliases.userpass_1.name" => Some("al".into()),
        "identity.groups.names.ops.id" => Some("g1".into()),
        _ => None,
    });
    let acl = Acl::new(&[&alice]);
    let can = |acl: &Acl, path: &str, cap| acl.check(path, cap, false, None, None).allowed;
    assert!(can(&acl, "secret/data/alice/db", Create));
    assert!(can(&acl, "secret/data/alice/db", Read));
    assert!(!can(&acl, "secret/data/bob/db", Read));
    assert!(can(&acl, "secret/data/teams/payments", Read));
    assert!(!can(&acl, "secret/data/teams/other", Read));
    assert!(can(&acl, "kv/al/g1", Read));
    assert!(can(&acl, "secret/data/shared", Read));

    // A metadata value holding a glob is not pasted in: the rule is left out, so the caller
    // does not reach every team's secrets.
    let sneaky = policy.render(|p| match p {
        "identity.entity.name" => Some("mallory".into()),
        "identity.entity.metadata.team" => Some("*".into()),
        _ => None,
    });
    assert_eq!(sneaky.rules.len(), 2);
    let acl = Acl::new(&[&sneaky]);
    assert!(!can(&acl, "secret/data/teams/payments", Read));
    assert!(can(&acl, "secret/data/mallory/x", Read));
    // Nor may a value climb out of its folder.
    let climber = policy.render(|p| match p {
        "identity.entity.name" => Some("../alice".into()),
        _ => None,
    });
    assert_eq!(climber.rules.len(), 1);
    // No identity at all: only the plain rule is left.
    assert_eq!(policy.render(|_| None).rules.len(), 1);
}

#[test]
fn json_integral_floats_survive_formatting() {
    let text = r#"{"path": {"a": {"capabilities": ["create"],
        "allowed_parameters": {"n": [2.0, 1.5, -3.0, {"k": [4.0]}]}}}}"#;
    let policy = parse("p", text).unwrap();
    assert_eq!(
        policy.rules[0].allowed_parameters["n"],
        vec![json!(2), json!(1.5), json!(-3), json!({"k": [4]})]
    );
    assert_eq!(parse("p", &policy.to_hcl()).unwrap(), policy);
}

#[test]
fn newer_vault_only_capabilities_are_ignored() {
    let text = r#"path "sys/events/*" { capabilities = ["read", "subscribe", "recover"] }"#;
    assert_eq!(
        parse("p", text).unwrap().rules,
        vec![PathRule::new("sys/events/*", caps(&[Read]))]
    );
}
