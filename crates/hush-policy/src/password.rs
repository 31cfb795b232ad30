//! Password policies in Vault's language: how long a generated password is and which
//! characters it must contain.
//!
//! ```hcl
//! length = 20
//! rule "charset" {
//!   charset   = "abcdefghijklmnopqrstuvwxyz"
//!   min-chars = 1
//! }
//! rule "charset" {
//!   charset   = "0123456789"
//!   min-chars = 2
//! }
//! ```
//!
//! A password is drawn from the union of the rules' character sets and holds at least each
//! rule's `min-chars` characters of its set. Parsing is pure; drawing the characters is the
//! caller's (it needs a CSPRNG), through [`PasswordPolicy::generate`].

use crate::error::PolicyError;

/// The longest password a policy may ask for: generation and storage stay bounded.
pub const MAX_LENGTH: usize = 4096;
/// The length when a policy gives none (Vault's default policy generates 20 characters).
pub const DEFAULT_LENGTH: usize = 20;
/// The longest password policy text accepted.
const MAX_TEXT_BYTES: usize = 64 * 1024;

/// One `rule "charset"` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharsetRule {
    /// The characters of the rule, each once, in the order first written.
    pub charset: Vec<char>,
    /// How many characters of the password must come from this set.
    pub min_chars: usize,
}

/// A parsed password policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Characters per password.
    pub length: usize,
    /// The charset rules, in order.
    pub rules: Vec<CharsetRule>,
    /// Every character a password may hold: the union of the rules' sets, each once.
    pub charset: Vec<char>,
}

fn invalid(message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        path: None,
        line: None,
        message: message.into(),
    }
}

fn literal_usize(key: &str, expr: &hcl::Expression) -> Result<usize, PolicyError> {
    let n = match expr {
        hcl::Expression::Number(n) => n.as_u64(),
        hcl::Expression::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    n.and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| invalid(format!("'{key}' must be a whole number of 0 or more")))
}

fn dedup(chars: impl Iterator<Item = char>, into: &mut Vec<char>) {
    for c in chars {
        if !into.contains(&c) {
            into.push(c);
        }
    }
}

/// Parses a password policy (HCL, as Vault's `sys/policies/password/:name` takes it).
///
/// # Errors
///
/// [`PolicyError::Syntax`] for malformed HCL; [`PolicyError::Invalid`] for an unknown key or
/// rule type, a missing or empty or non-printable charset, a length of 0 or above
/// [`MAX_LENGTH`], or rules whose `min-chars` add up to more than the length.
pub fn parse_password_policy(text: &str) -> Result<PasswordPolicy, PolicyError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(invalid(format!(
            "the password policy is {} bytes, more than the limit of {MAX_TEXT_BYTES}",
            text.len()
        )));
    }
    if let Err(e) = hush_config::nesting::check(text, hush_config::nesting::MAX_NESTING) {
        return Err(PolicyError::Syntax {
            line: e.line(),
            column: 1,
            message: e.to_string(),
        });
    }
    let body: hcl::Body = hcl::parse(text).map_err(|e| PolicyError::Syntax {
        line: 1,
        column: 1,
        message: e.to_string(),
    })?;
    let mut length = None;
    let mut rules = Vec::new();
    for structure in body.iter() {
        match structure {
            hcl::Structure::Attribute(a) if a.key() == "length" => {
                if length.is_some() {
                    return Err(invalid("'length' is given twice; keep one"));
                }
                length = Some(literal_usize("length", a.expr())?);
            }
            hcl::Structure::Attribute(a) => {
                return Err(invalid(format!(
                    "unknown key '{}': a password policy has 'length' and rule \"charset\" \
                     blocks",
                    a.key()
                )))
            }
            hcl::Structure::Block(b) if b.identifier() == "rule" => {
                let labels: Vec<&str> = b.labels().iter().map(|l| l.as_str()).collect();
                match labels.as_slice() {
                    ["charset"] => {}
                    [other] => {
                        return Err(invalid(format!(
                            "unrecognized rule type \"{other}\": the rule type is \"charset\""
                        )))
                    }
                    _ => {
                        return Err(invalid(
                            "a rule block takes one type label: rule \"charset\" { ... }",
                        ))
                    }
                }
                rules.push(parse_rule(b.body())?);
            }
            hcl::Structure::Block(b) => {
                return Err(invalid(format!(
                    "unknown block '{}': a password policy has 'length' and rule \"charset\" \
                     blocks",
                    b.identifier()
                )))
            }
        }
    }
    let length = length.unwrap_or(DEFAULT_LENGTH);
    if length == 0 {
        return Err(invalid("'length' must be greater than 0"));
    }
    if length > MAX_LENGTH {
        return Err(invalid(format!(
            "'length' {length} is more than the limit of {MAX_LENGTH}"
        )));
    }
    if rules.is_empty() {
        return Err(invalid(
            "no charset specified: add at least one rule \"charset\" { charset = \"...\" }",
        ));
    }
    let required: usize = rules.iter().map(|r| r.min_chars).sum();
    if required > length {
        return Err(invalid(format!(
            "specified rules require at least {required} characters but {length} is specified: \
             raise 'length' or lower the rules' min-chars"
        )));
    }
    let mut charset = Vec::new();
    for r in &rules {
        dedup(r.charset.iter().copied(), &mut charset);
    }
    Ok(PasswordPolicy {
        length,
        rules,
        charset,
    })
}

fn parse_rule(body: &hcl::Body) -> Result<CharsetRule, PolicyError> {
    let mut charset = None;
    let mut min_chars = 0;
    for structure in body.iter() {
        let hcl::Structure::Attribute(a) = structure else {
            return Err(invalid(
                "a charset rule holds only 'charset' and 'min-chars'",
            ));
        };
        match a.key() {
            "charset" => {
                let hcl::Expression::String(s) = a.expr() else {
                    return Err(invalid("a rule's 'charset' must be a quoted string"));
                };
                if let Some(c) = s.chars().find(|c| c.is_control()) {
                    return Err(invalid(format!(
                        "non-printable character in charset (U+{:04X})",
                        u32::from(c)
                    )));
                }
                let mut set = Vec::new();
                dedup(s.chars(), &mut set);
                if set.is_empty() {
                    return Err(invalid("a rule's 'charset' must not be empty"));
                }
                charset = Some(set);
            }
            "min-chars" => min_chars = literal_usize("min-chars", a.expr())?,
            other => {
                return Err(invalid(format!(
                    "unknown key '{other}' in a charset rule: use 'charset' and 'min-chars'"
                )))
            }
        }
    }
    let charset = charset
        .ok_or_else(|| invalid("a charset rule needs 'charset', the characters it allows"))?;
    Ok(CharsetRule { charset, min_chars })
}

impl PasswordPolicy {
    /// Vault's default password policy: 20 characters with at least one lower-case letter, one
    /// upper-case letter, one digit and one dash (what a database engine generates when no
    /// policy is named).
    pub fn vault_default() -> PasswordPolicy {
        let rule = |set: &str| CharsetRule {
            charset: set.chars().collect(),
            min_chars: 1,
        };
        let rules = vec![
            rule("abcdefghijklmnopqrstuvwxyz"),
            rule("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            rule("0123456789"),
            rule("-"),
        ];
        PasswordPolicy {
            length: DEFAULT_LENGTH,
            charset: rules
                .iter()
                .flat_map(|r| r.charset.iter().copied())
                .collect(),
            rules,
        }
    }

    /// A password: each rule's `min-chars` from its set, the rest from the whole charset, in
    /// an order shuffled by `random_below(n)`, which must return a uniform value below `n`
    /// from a cryptographic source.
    pub fn generate(&self, mut random_below: impl FnMut(usize) -> usize) -> String {
        let mut chars = Vec::with_capacity(self.length);
        for rule in &self.rules {
            for _ in 0..rule.min_chars {
                chars.push(rule.charset[random_below(rule.charset.len())]);
            }
        }
        while chars.len() < self.length {
            chars.push(self.charset[random_below(self.charset.len())]);
        }
        // Fisher-Yates, so the required characters are not always first.
        for i in (1..chars.len()).rev() {
            let j = random_below(i + 1);
            chars.swap(i, j);
        }
        chars.into_iter().collect()
    }

    /// [`PasswordPolicy::generate`] with a source that may fail (the CSPRNG): its first error
    /// is returned instead of a password.
    pub fn try_generate<E>(
        &self,
        mut random_below: impl FnMut(usize) -> Result<usize, E>,
    ) -> Result<String, E> {
        let mut failure = None;
        let password = self.generate(|n| match random_below(n) {
            Ok(i) => i,
            Err(e) => {
                failure.get_or_insert(e);
                0
            }
        });
        match failure {
            Some(e) => Err(e),
            None => Ok(password),
        }
    }

    /// Whether `password` meets the policy (length and every rule's minimum).
    pub fn accepts(&self, password: &str) -> bool {
        password.chars().count() == self.length
            && password.chars().all(|c| self.charset.contains(&c))
            && self
                .rules
                .iter()
                .all(|r| password.chars().filter(|c| r.charset.contains(c)).count() >= r.min_chars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> impl FnMut(usize) -> usize {
        let mut n = 0usize;
        move |below| {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (n >> 33) % below
        }
    }

    #[test]
    fn vaults_example_parses_and_generates_conforming_passwords() {
        let p = parse_password_policy(
            r#"
length = 20
rule "charset" {
  charset = "abcdefghijklmnopqrstuvwxyz"
  min-chars = 1
}
rule "charset" {
  charset = "0123456789"
  min-chars = 4
}
rule "charset" {
  charset = "!@#$%^&*"
  min-chars = 2
}"#,
        )
        .unwrap();
        assert_eq!(p.length, 20);
        assert_eq!(p.charset.len(), 26 + 10 + 8);
        let mut rng = counter();
        for _ in 0..200 {
            let pw = p.generate(&mut rng);
            assert!(p.accepts(&pw), "{pw}");
        }
    }

    #[test]
    fn bad_policies_say_what_is_wrong() {
        for (text, needle) in [
            (
                "length = 4\nrule \"charset\" {\n charset = \"ab\"\n min-chars = 5\n}",
                "require at least 5",
            ),
            ("length = 10", "no charset"),
            (
                "length = 0\nrule \"charset\" { charset = \"a\" }",
                "greater than 0",
            ),
            (
                "length = 999999\nrule \"charset\" { charset = \"a\" }",
                "limit",
            ),
            ("rule \"charset\" { charset = \"\" }", "must not be empty"),
            (
                "rule \"bogus\" { charset = \"a\" }",
                "unrecognized rule type",
            ),
            ("size = 3", "unknown key 'size'"),
            ("rule \"charset\" { min-chars = 1 }", "needs 'charset'"),
            ("rule \"charset\" { charset = \"a\tb\" }", "non-printable"),
            (
                "length = -3\nrule \"charset\" { charset = \"a\" }",
                "whole number",
            ),
            ("length = [", "syntax"),
        ] {
            let e = parse_password_policy(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn duplicate_characters_count_once_and_length_defaults() {
        let p = parse_password_policy("rule \"charset\" { charset = \"aab\" }").unwrap();
        assert_eq!(p.charset, vec!['a', 'b']);
        assert_eq!(p.length, DEFAULT_LENGTH);
    }
}
