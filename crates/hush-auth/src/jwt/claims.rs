//! The checks a verified JWT's claims must pass for a role: times with Vault's leeways, issuer,
//! audience, subject, bound claims; and reading the claims the login maps into metadata.
//! Every failure names the check that failed.

use hush_core::error::{CoreError, Result};
use serde_json::{Map, Value};

use super::JwtRole;
use crate::fields::rfc3339_nanos;

/// Vault's default leeways (seconds) for a value of 0.
pub const DEFAULT_CLOCK_SKEW_LEEWAY: i64 = 60;
/// Default `expiration_leeway`.
pub const DEFAULT_EXPIRATION_LEEWAY: i64 = 150;
/// Default `not_before_leeway`.
pub const DEFAULT_NOT_BEFORE_LEEWAY: i64 = 150;

fn fail(msg: String) -> CoreError {
    CoreError::InvalidCredentials(msg)
}

/// A leeway setting: 0 means the default, a negative value turns the check off (`None`).
fn leeway(v: i64, default: i64) -> Option<i64> {
    match v {
        0 => Some(default),
        v if v < 0 => None,
        v => Some(v),
    }
}

/// Reads a claim by name, or by JSON pointer when the name starts with '/' (nested claims).
pub(crate) fn get_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if name.starts_with('/') {
        let mut cur: Option<&Value> = None;
        for (i, part) in name.split('/').skip(1).enumerate() {
            let part = part.replace("~1", "/").replace("~0", "~");
            cur = if i == 0 {
                claims.get(&part)
            } else {
                match cur? {
                    Value::Object(m) => m.get(&part),
                    Value::Array(a) => part.parse::<usize>().ok().and_then(|n| a.get(n)),
                    _ => None,
                }
            };
        }
        cur.filter(|v| !v.is_null())
    } else {
        claims.get(name).filter(|v| !v.is_null())
    }
}

/// A scalar claim as a string (strings, numbers, booleans).
pub(crate) fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)) {
            Some(t) => Ok(Some(t)),
            None => Err(fail(format!("the JWT's '{name}' claim is not a time"))),
        },
        Some(_) => Err(fail(format!(
            "the JWT's '{name}' claim must be a number of seconds since 1970"
        ))),
    }
}

fn show_time(unix: i64) -> String {
    rfc3339_nanos(unix.saturating_mul(1_000_000_000))
}

/// The expiry, not-before and issued-at checks, with the role's leeways.
pub(crate) fn check_times(role: &JwtRole, claims: &Map<String, Value>, now: i64) -> Result<()> {
    let skew = leeway(role.clock_skew_leeway, DEFAULT_CLOCK_SKEW_LEEWAY).unwrap_or(0);
    if let Some(exp_leeway) = leeway(role.expiration_leeway, DEFAULT_EXPIRATION_LEEWAY) {
        let Some(exp) = time_claim(claims, "exp")? else {
            return Err(fail(
                "the JWT has no 'exp' (expiry) claim; tokens must expire (a role's \
                 expiration_leeway of -1 turns this check off)"
                    .into(),
            ));
        };
        if now > exp.saturating_add(exp_leeway).saturating_add(skew) {
            return Err(fail(format!(
                "the JWT is expired: exp is {} (allowed leeway {}s)",
                show_time(exp),
                exp_leeway + skew
            )));
        }
    }
    if let Some(nbf_leeway) = leeway(role.not_before_leeway, DEFAULT_NOT_BEFORE_LEEWAY) {
        if let Some(nbf) = time_claim(claims, "nbf")? {
            if now < nbf.saturating_sub(nbf_leeway).saturating_sub(skew) {
                return Err(fail(format!(
                    "the JWT is not valid yet: nbf is {} (allowed leeway {}s)",
                    show_time(nbf),
                    nbf_leeway + skew
                )));
            }
        }
        if let Some(iat) = time_claim(claims, "iat")? {
            if now < iat.saturating_sub(nbf_leeway).saturating_sub(skew) {
                return Err(fail(format!(
                    "the JWT is not valid yet: it was issued in the future (iat is {})",
                    show_time(iat)
                )));
            }
        }
    }
    Ok(())
}

fn string_or_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(scalar_string).collect(),
        Some(other) => scalar_string(other).into_iter().collect(),
        None => Vec::new(),
    }
}

/// Issuer, audience and subject.
pub(crate) fn check_identity(
    role: &JwtRole,
    claims: &Map<String, Value>,
    bound_issuer: &str,
) -> Result<()> {
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    if !bound_issuer.is_empty() && iss != bound_issuer {
        return Err(fail(format!(
            "the JWT's issuer \"{iss}\" is not the configured bound_issuer \"{bound_issuer}\""
        )));
    }
    let aud = string_or_list(claims.get("aud"));
    if role.bound_audiences.is_empty() {
        if !aud.is_empty() {
            return Err(fail(format!(
                "the JWT has an audience ({}) but the role has no bound_audiences: add the \
                 audience to the role's bound_audiences",
                aud.join(", ")
            )));
        }
    } else if !aud.iter().any(|a| role.bound_audiences.contains(a)) {
        return Err(fail(format!(
            "the JWT's audience ({}) matches none of the role's bound_audiences ({})",
            if aud.is_empty() {
                "none".to_string()
            } else {
                aud.join(", ")
            },
            role.bound_audiences.join(", ")
        )));
    }
    if !role.bound_subject.is_empty() {
        let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
        if sub != role.bound_subject {
            return Err(fail(format!(
                "the JWT's subject \"{sub}\" does not match the role's bound_subject"
            )));
        }
    }
    Ok(())
}

/// The role's `bound_claims`: every listed claim must be present and one of its values must
/// match one of the allowed values (exactly, or as a `*` glob when `bound_claims_type` is
/// "glob").
pub(crate) fn check_bound_claims(role: &JwtRole, claims: &Map<String, Value>) -> Result<()> {
    let glob = role.bound_claims_type == "glob";
    for (name, expected) in &role.bound_claims {
        let Some(actual) = get_claim(claims, name) else {
            return Err(fail(format!(
                "the JWT lacks the claim \"{name}\" that the role's bound_claims require"
            )));
        };
        let allowed = string_or_list(Some(expected));
        let have = string_or_list(Some(actual));
        let ok = have.iter().any(|h| {
            allowed.iter().any(|a| {
                if glob {
                    crate::glob::matches(a, h)
                } else {
                    a == h
                }
            })
        });
        if !ok {
            return Err(fail(format!(
                "the JWT's claim \"{name}\" does not match the role's bound_claims (allowed: {})",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        hush_core::logical::map(v)
    }

    #[test]
    fn pointers_and_scalars() {
        let c = claims(json!({"a": {"b": ["x", "y"], "c/d": 1}, "n": 5}));
        assert_eq!(get_claim(&c, "/a/b/1"), Some(&json!("y")));
        assert_eq!(get_claim(&c, "/a/c~1d"), Some(&json!(1)));
        assert_eq!(get_claim(&c, "n"), Some(&json!(5)));
        assert_eq!(get_claim(&c, "/missing/x"), None);
        assert_eq!(scalar_string(&json!(5)).unwrap(), "5");
        assert!(scalar_string(&json!({})).is_none());
    }

    #[test]
    fn leeways_follow_vault() {
        assert_eq!(leeway(0, 150), Some(150));
        assert_eq!(leeway(-1, 150), None);
        assert_eq!(leeway(5, 150), Some(5));
    }
}
