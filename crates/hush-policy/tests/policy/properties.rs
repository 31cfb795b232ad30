//! Property tests of the matching rules and of canonical formatting.

use std::collections::BTreeMap;
use std::time::Duration;

use hush_policy::{parse, Acl, Capability, CapabilitySet, PathRule, Policy};
use proptest::prelude::*;
use serde_json::Value;

const GRANTS: [Capability; 7] = [
    Capability::Create,
    Capability::Read,
    Capability::Update,
    Capability::Patch,
    Capability::Delete,
    Capability::List,
    Capability::Sudo,
];

fn grants() -> impl Strategy<Value = CapabilitySet> {
    (0u8..128).prop_map(|bits| {
        GRANTS
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, c)| *c)
            .collect()
    })
}

/// Grants, or (one time in five) `deny`.
fn any_caps() -> impl Strategy<Value = CapabilitySet> {
    prop_oneof![4 => grants(), 1 => Just(CapabilitySet::DENY)]
}

/// A request path of one to five short segments (no trailing slash).
fn request_path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["a", "b", "ab", "c", "data"]),
        1..6,
    )
    .prop_map(|segments| segments.join("/"))
}

/// A glob pattern that matches `path`: a string prefix plus `*`, or the path with some
/// segments replaced by `+` (optionally cut short and ending in `/*` or a partial segment
/// plus `*`).
fn glob_for(path: String) -> impl Strategy<Value = String> {
    let segments: Vec<String> = path.split('/').map(str::to_string).collect();
    let n = segments.len();
    let prefix = (0..=path.len()).prop_map({
        let path = path.clone();
        move |k| format!("{}*", &path[..k])
    });
    let segment = (prop::collection::vec(any::<bool>(), n), 0..=n, 0usize..3)
        .prop_map(move |(plus, keep, tail)| {
            let mut parts: Vec<String> = segments
                .iter()
                .zip(&plus)
                .map(|(s, p)| if *p { "+".to_string() } else { s.clone() })
                .collect();
            if !parts.iter().any(|p| p == "+") {
                parts[0] = "+".to_string();
            }
            match tail {
                // The whole path with + segments: matches exactly this many segments.
                0 => parts.join("/"),
                // Cut after `keep` segments and glob the rest.
                1 => {
                    let keep = keep.max(1).min(n);
                    let head = parts[..keep].join("/");
                    if keep == n {
                        // Nothing left to glob: a trailing `/*` would need one more segment.
                        head
                    } else {
                        format!("{head}/*")
                    }
                }
                // Keep one character of the segment after the cut, then glob.
                _ => {
                    let keep = keep.min(n - 1);
                    let next = &segments[keep];
                    let head = parts[..keep].join("/");
                    let partial = format!("{}*", &next[..1]);
                    if head.is_empty() {
                        partial
                    } else {
                        format!("{head}/{partial}")
                    }
                }
            }
        })
        .prop_filter("+ followed by * is invalid", |p| !p.contains("+*"));
    prop_oneof![prefix, segment]
}

/// Unrelated rules, most of which do not match the request path.
fn noise_rule() -> impl Strategy<Value = PathRule> {
    (
        prop::collection::vec(prop::sample::select(vec!["a", "b", "x", "+", "zz"]), 1..5),
        any::<bool>(),
        any_caps(),
    )
        .prop_filter_map("valid pattern", |(segments, glob, caps)| {
            let mut pattern = segments.join("/");
            if glob {
                pattern.push('*');
            }
            (!pattern.contains("+*")).then(|| PathRule::new(pattern, caps))
        })
}

fn policy_of(name: &str, rules: Vec<PathRule>) -> Policy {
    Policy {
        name: name.to_string(),
        rules,
    }
}

fn expected_names(caps: CapabilitySet) -> Vec<String> {
    if caps.is_empty() || caps.is_deny() {
        return vec!["deny".to_string()];
    }
    let mut names: Vec<String> = caps.names().into_iter().map(String::from).collect();
    names.sort();
    names
}

fn assert_grants_exactly(acl: &Acl, path: &str, caps: CapabilitySet) -> Result<(), TestCaseError> {
    for cap in GRANTS {
        let decision = acl.check(path, cap, false, None, None);
        let expected = !caps.is_deny() && caps.contains(cap);
        prop_assert_eq!(decision.allowed, expected, "{} {}", path, cap);
    }
    prop_assert_eq!(acl.capabilities(path), expected_names(caps));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (1) An exact rule for a path decides it, whatever glob rules (in any policy) say.
    #[test]
    fn exact_rule_beats_every_glob(
        (path, globs) in request_path().prop_flat_map(|p| {
            let globs = prop::collection::vec((glob_for(p.clone()), any_caps()), 0..6);
            (Just(p), globs)
        }),
        noise in prop::collection::vec(noise_rule(), 0..5),
        exact in any_caps(),
        split in any::<bool>(),
    ) {
        let glob_rules: Vec<PathRule> =
            globs.into_iter().map(|(g, c)| PathRule::new(g, c)).collect();
        let mut rules = vec![PathRule::new(path.clone(), exact)];
        rules.extend(noise);
        // Noise may repeat the exact pattern; those rules merge with it (deny wins).
        let same: Vec<CapabilitySet> = rules
            .iter()
            .filter(|r| r.pattern == path)
            .map(|r| r.capabilities)
            .collect();
        let expected = if same.iter().any(|c| c.is_deny()) {
            CapabilitySet::DENY
        } else {
            same.iter().fold(CapabilitySet::EMPTY, |acc, c| acc.union(*c))
        };
        let acl = if split {
            let a = policy_of("a", rules);
            let b = policy_of("b", glob_rules);
            Acl::new(&[&b, &a])
        } else {
            rules.extend(glob_rules);
            Acl::new(&[&policy_of("a", rules)])
        };
        prop_assert_eq!(acl.matched_rule(&path), Some(path.as_str()));
        assert_grants_exactly(&acl, &path, expected)?;
    }

    /// (1, strict) Without same-pattern noise the exact rule's own capabilities are the answer.
    #[test]
    fn exact_rule_capabilities_are_the_answer(
        (path, globs) in request_path().prop_flat_map(|p| {
            let globs = prop::collection::vec((glob_for(p.clone()), any_caps()), 1..6);
            (Just(p), globs)
        }),
        exact in any_caps(),
    ) {
        let mut rules: Vec<PathRule> =
            globs.into_iter().map(|(g, c)| PathRule::new(g, c)).collect();
        rules.push(PathRule::new(path.clone(), exact));
        let acl = Acl::new(&[&policy_of("p", rules)]);
        assert_grants_exactly(&acl, &path, exact)?;
    }

    /// (2) A policy with a single `*` rule grants exactly its capabilities everywhere.
    #[test]
    fn single_star_rule_grants_exactly_its_capabilities(
        caps in any_caps(),
        paths in prop::collection::vec(request_path(), 1..8),
    ) {
        let acl = Acl::new(&[&policy_of("p", vec![PathRule::new("*", caps)])]);
        for path in &paths {
            assert_grants_exactly(&acl, path, caps)?;
        }
        // Also through the parser.
        let text = policy_of("p", vec![PathRule::new("*", caps)]).to_hcl();
        let parsed = parse("p", &text).unwrap();
        let acl = Acl::new(&[&parsed]);
        for path in &paths {
            assert_grants_exactly(&acl, path, caps)?;
        }
    }

    /// (3) Denying the winning pattern (in another policy) denies the path.
    #[test]
    fn deny_on_winning_pattern_denies(
        (path, globs) in request_path().prop_flat_map(|p| {
            let globs = prop::collection::vec((glob_for(p.clone()), grants()), 1..6);
            (Just(p), globs)
        }),
        noise in prop::collection::vec(noise_rule(), 0..5),
        with_exact in any::<bool>(),
        exact in grants(),
    ) {
        let mut rules: Vec<PathRule> =
            globs.into_iter().map(|(g, c)| PathRule::new(g, c)).collect();
        rules.extend(noise);
        if with_exact {
            rules.push(PathRule::new(path.clone(), exact));
        }
        let base = policy_of("base", rules);
        let winner = Acl::new(&[&base])
            .matched_rule(&path)
            .expect("a glob derived from the path matches it")
            .to_string();
        let deny = policy_of("deny", vec![PathRule::new(winner.clone(), CapabilitySet::DENY)]);
        for acl in [Acl::new(&[&base, &deny]), Acl::new(&[&deny, &base])] {
            prop_assert_eq!(acl.matched_rule(&path), Some(winner.as_str()));
            assert_grants_exactly(&acl, &path, CapabilitySet::DENY)?;
            prop_assert!(!acl.check(&path, Capability::Sudo, true, None, None).allowed);
        }
    }

    /// (4) `capabilities(path)` agrees with `check(path, cap)` for every capability.
    #[test]
    fn capabilities_agree_with_check(
        (path, globs) in request_path().prop_flat_map(|p| {
            let globs = prop::collection::vec((glob_for(p.clone()), any_caps()), 0..4);
            (Just(p), globs)
        }),
        noise in prop::collection::vec(noise_rule(), 0..8),
        probe in request_path(),
    ) {
        let mut rules: Vec<PathRule> =
            globs.into_iter().map(|(g, c)| PathRule::new(g, c)).collect();
        rules.extend(noise);
        let (first, second) = rules.split_at(rules.len() / 2);
        let p1 = policy_of("one", first.to_vec());
        let p2 = policy_of("two", second.to_vec());
        let acl = Acl::new(&[&p1, &p2]);
        for path in [&path, &probe] {
            let names = acl.capabilities(path);
            let denied = names == ["deny"];
            for cap in GRANTS {
                let decision = acl.check(path, cap, false, None, None);
                let listed = names.iter().any(|n| n == cap.name());
                prop_assert_eq!(decision.allowed, listed, "{} {} {:?}", path, cap, names);
                prop_assert_eq!(decision.sudo, names.iter().any(|n| n == "sudo"));
                if denied {
                    prop_assert!(!decision.allowed);
                }
            }
            let mut sorted = names.clone();
            sorted.sort();
            prop_assert_eq!(&sorted, &names);
        }
    }

    /// `parse(to_hcl(p)) == p` for arbitrary rules, including awkward characters.
    #[test]
    fn to_hcl_round_trips(rules in prop::collection::vec(arbitrary_rule(), 0..5)) {
        let policy = policy_of("p", rules);
        let text = policy.to_hcl();
        let parsed = parse("p", &text);
        prop_assert!(parsed.is_ok(), "{:?}\n{}", parsed, text);
        let parsed = parsed.unwrap();
        prop_assert_eq!(&parsed, &policy, "{}", text);
        prop_assert_eq!(parsed.to_hcl(), text);
    }
}

fn pattern() -> impl Strategy<Value = String> {
    let chars = prop::sample::select(vec![
        "a",
        "b",
        "/",
        "-",
        ".",
        "_",
        "\"",
        "\\",
        "$",
        "%",
        "{",
        " ",
        "é",
        "\n",
        "\t",
        "+",
        "{{identity.entity.id}}",
        "${",
        "%{",
    ]);
    (prop::collection::vec(chars, 0..10), any::<bool>()).prop_filter_map(
        "valid pattern",
        |(pieces, glob)| {
            let mut p: String = pieces.concat();
            if glob {
                p.push('*');
            }
            let valid = !p.starts_with('/')
                && !p.contains("+*")
                && !p.contains("{{{")
                && !p.replace("{{identity.entity.id}}", "").contains("{{");
            valid.then_some(p)
        },
    )
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![0.5f64, -2.25, 1e300, 3.125e-7, 2.0, -3.0, 0.0])
            // The parser stores integral floats as integers (HCL cannot tell them apart).
            .prop_map(|f| if f.fract() == 0.0 && f.abs() < 1e18 {
                Value::from(f as i64)
            } else {
                Value::from(f)
            }),
        "[a-z*/ \"\\\\${}%é]{0,8}".prop_map(Value::String),
    ]
}

fn param_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => scalar(),
        1 => prop::collection::vec(scalar(), 0..3).prop_map(Value::Array),
        1 => prop::collection::btree_map("[a-z]{1,4}", scalar(), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
}

fn param_map() -> impl Strategy<Value = BTreeMap<String, Vec<Value>>> {
    prop::collection::btree_map(
        prop_oneof![1 => Just("*".to_string()), 5 => "[a-z_][a-z0-9_.-]{0,5}"],
        prop::collection::vec(param_value(), 0..3),
        0..4,
    )
}

fn ttl() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(None),
        (1u64..100_000).prop_map(|s| Some(Duration::from_secs(s))),
        (1u64..100_000).prop_map(|ms| Some(Duration::from_millis(ms))),
    ]
}

fn arbitrary_rule() -> impl Strategy<Value = PathRule> {
    (
        pattern(),
        any_caps(),
        param_map(),
        param_map(),
        prop::collection::vec("[a-zA-Z_]{1,6}", 0..3),
        ttl(),
        ttl(),
    )
        .prop_map(|(pattern, caps, allowed, denied, required, a, b)| {
            if caps.is_deny() {
                return PathRule::new(pattern, caps);
            }
            let (min, max) = match (a, b) {
                (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                other => other,
            };
            PathRule {
                pattern,
                capabilities: caps,
                allowed_parameters: allowed,
                denied_parameters: denied,
                required_parameters: required,
                min_wrapping_ttl: min,
                max_wrapping_ttl: max,
            }
        })
}
