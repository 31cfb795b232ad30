//! The canonical form of a request path, and the one naming rule for the objects a path names.
//!
//! The pipeline computes the canonical path once, before the ACL is asked, and hands the
//! handler only that form: the name a policy is checked against is exactly the name the handler
//! acts on. A spelling that could name the same object twice (a trailing `/`, `//`, upper case
//! where names are case-insensitive) is either rewritten to the one form here or refused with
//! 400; handlers never normalize names themselves.

use std::borrow::Cow;

use crate::error::{CoreError, Result};
use crate::logical::Operation;

/// The longest object name accepted (users, roles, policies, mount path segments).
pub const MAX_NAME_LEN: usize = 512;

/// The generic canonical form of a request path (below `/v1/`): no leading `/`; empty segments
/// (`a//b`) collapsed; for every operation but LIST, no trailing `/` (an object name never ends
/// in one; a LIST is checked against the folder with its slash). Refused with 400: `.` and `..`
/// segments and control characters, which no client sends for a real object.
pub fn request_path(path: &str, op: Operation) -> Result<Cow<'_, str>> {
    if let Some(c) = path.chars().find(|c| c.is_control()) {
        return Err(CoreError::bad(format!(
            "invalid request path {path:?}: it contains the control character U+{:04X}; \
             percent-encoded control characters are not allowed in paths",
            c as u32
        )));
    }
    let trimmed = path.trim_start_matches('/');
    let keep_trailing = op == Operation::List && trimmed.ends_with('/');
    let clean = !trimmed.contains("//") && (keep_trailing || !trimmed.ends_with('/'));
    let mut out = String::new();
    for seg in trimmed.split('/') {
        if seg == "." || seg == ".." {
            return Err(CoreError::bad(format!(
                "invalid request path \"{path}\": segments \".\" and \"..\" are not allowed; \
                 give the path of the object itself"
            )));
        }
        if clean || seg.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(seg);
    }
    if clean {
        return Ok(Cow::Borrowed(trimmed));
    }
    if keep_trailing && !out.is_empty() {
        out.push('/');
    }
    Ok(Cow::Owned(out))
}

/// The one naming rule for users, roles, policies, quotas and each segment of a mount path:
/// 1 to [`MAX_NAME_LEN`] bytes of ASCII letters, digits, `_`, `-`, `.` and `@`, starting and
/// ending with a letter, digit or `_`. So `..`, names with spaces at either end, and names
/// that differ only by an ignored character are refused instead of being trimmed into another
/// object's name.
pub fn check_name(kind: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(CoreError::bad(format!("missing {kind} name in the path")));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(CoreError::bad(format!(
            "the {kind} name is too long ({} bytes): at most {MAX_NAME_LEN}",
            name.len()
        )));
    }
    let edge = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let inner = |c: char| edge(c) || matches!(c, '-' | '.' | '@');
    let first_last_ok = name.starts_with(edge) && name.ends_with(edge);
    if !first_last_ok || !name.chars().all(inner) {
        return Err(CoreError::bad(format!(
            "invalid {kind} name {name:?}: use ASCII letters, digits, '_', '-', '.' and '@', \
             starting and ending with a letter, digit or '_'"
        )));
    }
    Ok(())
}

/// Canonicalizes the object name that follows `prefix` in `rel` (e.g. `users/` in
/// `users/Admin/password`): checks it with [`check_name`] and, for case-insensitive names,
/// lower-cases it. Paths that do not start with `prefix`, or end right after it, are returned
/// as they are.
pub fn name_after<'a>(
    rel: Cow<'a, str>,
    prefix: &str,
    kind: &str,
    case_insensitive: bool,
) -> Result<Cow<'a, str>> {
    let Some(rest) = rel.strip_prefix(prefix) else {
        return Ok(rel);
    };
    let (name, tail) = match rest.split_once('/') {
        Some((n, t)) => (n, Some(t)),
        None => (rest, None),
    };
    if name.is_empty() && tail.is_none() {
        return Ok(rel);
    }
    let lowered = if case_insensitive {
        name.to_lowercase()
    } else {
        name.to_string()
    };
    check_name(kind, &lowered)?;
    if lowered == name {
        return Ok(rel);
    }
    let mut out = format!("{prefix}{lowered}");
    if let Some(t) = tail {
        out.push('/');
        out.push_str(t);
    }
    Ok(Cow::Owned(out))
}

/// Checks every segment of a mount path named after `prefix` (`mounts/`, `auth/`, `audit/`):
/// mount paths are case-sensitive, so nothing is rewritten; a segment that breaks the naming
/// rule is refused.
pub fn mount_path_after<'a>(rel: Cow<'a, str>, prefix: &str) -> Result<Cow<'a, str>> {
    if let Some(rest) = rel.strip_prefix(prefix) {
        for seg in rest.split('/').filter(|s| !s.is_empty()) {
            check_name("mount path segment", seg)?;
        }
    }
    Ok(rel)
}

/// The offset of what follows the first of `prefixes` that `rel` starts with, when something
/// does: the start of a credential carried in the path.
pub fn credential_after(rel: &str, prefixes: &[&str]) -> Option<usize> {
    prefixes
        .iter()
        .find(|p| rel.len() > p.len() && rel.starts_with(*p))
        .map(|p| p.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(p: &str, op: Operation) -> String {
        request_path(p, op).unwrap().into_owned()
    }

    #[test]
    fn generic_forms() {
        assert_eq!(canon("secret/data/a", Operation::Read), "secret/data/a");
        assert_eq!(
            canon("/secret//data///a/", Operation::Read),
            "secret/data/a"
        );
        assert_eq!(
            canon("secret/metadata/", Operation::List),
            "secret/metadata/"
        );
        assert_eq!(
            canon("secret//metadata//", Operation::List),
            "secret/metadata/"
        );
        assert_eq!(
            canon("sys/mounts/secret/", Operation::Delete),
            "sys/mounts/secret"
        );
        assert_eq!(canon("", Operation::Read), "");
        for bad in ["a/../b", "a/./b", "..", "a/\u{0}b", "a/b\n"] {
            assert!(request_path(bad, Operation::Read).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names() {
        for ok in [
            "admin",
            "a",
            "web-app",
            "svc.account",
            "user@example.com",
            "_x_",
        ] {
            check_name("user", ok).unwrap();
        }
        for bad in ["", " admin", "admin ", "..", ".x", "x-", "a b", "a/b", "é"] {
            assert!(check_name("user", bad).is_err(), "{bad:?}");
        }
        assert!(check_name("user", &"a".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn name_segments() {
        let n = |p: &str, ci| {
            name_after(Cow::Borrowed(p), "users/", "user", ci)
                .map(Cow::into_owned)
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            n("users/ADMIN/password", true).unwrap(),
            "users/admin/password"
        );
        assert_eq!(n("users/ADMIN", false).unwrap(), "users/ADMIN");
        assert_eq!(n("users/", true).unwrap(), "users/");
        assert_eq!(n("login/X", true).unwrap(), "login/X");
        assert!(n("users/ admin", true).is_err());
        assert!(n("users/../x", true).is_err());
    }
}
