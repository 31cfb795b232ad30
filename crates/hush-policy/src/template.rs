//! `{{identity...}}` templates in path patterns (Vault's "templated policies").
//!
//! A pattern such as `secret/data/{{identity.entity.id}}/*` is stored as written and filled in
//! per token by [`crate::Policy::render`]. Until then it matches nothing: the ACL skips rules
//! that still hold a template, as Vault skips rules it cannot fill in.

/// Checks that every `{{` is closed and names a parameter Vault's ACL templating knows.
pub(crate) fn validate(pattern: &str) -> Result<(), String> {
    for piece in split(pattern)? {
        if let Piece::Param(param) = piece {
            if !known_parameter(param) {
                return Err(format!(
                    "unknown template parameter {param:?}; templates take identity.entity.id, \
                     identity.entity.name, identity.entity.metadata.<key>, \
                     identity.entity.aliases.<mount accessor>.(id|name|metadata.<key>|\
                     custom_metadata.<key>), identity.groups.ids.<id>.(name|metadata.<key>) or \
                     identity.groups.names.<name>.(id|metadata.<key>)"
                ));
            }
        }
    }
    Ok(())
}

/// Fills in a validated pattern, or `None` when a parameter has no value or its value could
/// change what the pattern means.
///
/// As in Vault (`identitytpl`, `ErrTemplatedWildcard`), a value holding `*` or `+` is refused
/// rather than pasted in: a user who may set their own metadata must not turn
/// `secret/{{identity.entity.metadata.team}}/*` into `secret/+/*`. Braces are refused so that
/// a value cannot look like another template, an empty value as Vault refuses it (the pattern
/// would name its parent), and `.` or `..` segments because they could climb out of the
/// folder the author meant; request paths never hold such segments, so these rules only ever
/// remove access.
pub(crate) fn render(pattern: &str, resolve: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::with_capacity(pattern.len());
    for piece in split(pattern).ok()? {
        match piece {
            Piece::Literal(text) => out.push_str(text),
            Piece::Param(param) => {
                let value = resolve(param)?;
                if !safe_value(&value) {
                    return None;
                }
                out.push_str(&value);
            }
        }
    }
    Some(out)
}

/// Whether a filled-in value may stand in a path pattern (see [`render`]).
fn safe_value(value: &str) -> bool {
    !value.is_empty()
        && !value.contains(['*', '+', '{', '}'])
        && !value.chars().any(char::is_control)
        && !value.split('/').any(|seg| seg == "." || seg == "..")
}

enum Piece<'a> {
    Literal(&'a str),
    /// The parameter between the braces, trimmed.
    Param(&'a str),
}

fn split(pattern: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = pattern;
    loop {
        let open = rest.find("{{");
        let close = rest.find("}}");
        match (open, close) {
            (None, None) => {
                if !rest.is_empty() {
                    pieces.push(Piece::Literal(rest));
                }
                return Ok(pieces);
            }
            (Some(o), Some(c)) if o < c => {
                if o > 0 {
                    pieces.push(Piece::Literal(&rest[..o]));
                }
                let inner = &rest[o + 2..c];
                if inner.contains("{{") {
                    return Err("nested `{{` in a template; write `{{identity.entity.id}}`".into());
                }
                pieces.push(Piece::Param(inner.trim()));
                rest = &rest[c + 2..];
            }
            (Some(_), None) => {
                return Err("`{{` without a closing `}}`; write `{{identity.entity.id}}`".into())
            }
            _ => return Err("`}}` without an opening `{{`".into()),
        }
    }
}

fn known_parameter(param: &str) -> bool {
    let nonempty = |s: &str| !s.is_empty();
    let metadata = |s: &str, prefix: &str| s.strip_prefix(prefix).is_some_and(nonempty);
    let Some(rest) = param.strip_prefix("identity.") else {
        return false;
    };
    if let Some(entity) = rest.strip_prefix("entity.") {
        if matches!(entity, "id" | "name") || metadata(entity, "metadata.") {
            return true;
        }
        return entity
            .strip_prefix("aliases.")
            .and_then(|alias| alias.split_once('.'))
            .is_some_and(|(accessor, field)| {
                !accessor.is_empty()
                    && (matches!(field, "id" | "name")
                        || metadata(field, "metadata.")
                        || metadata(field, "custom_metadata."))
            });
    }
    let group = |prefix: &str, own: &str| {
        rest.strip_prefix(prefix)
            .and_then(|g| g.split_once('.'))
            .is_some_and(|(key, field)| {
                !key.is_empty() && (field == own || metadata(field, "metadata."))
            })
    };
    group("groups.ids.", "name") || group("groups.names.", "id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_vault_parameters() {
        for ok in [
            "a/{{identity.entity.id}}/*",
            "a/{{ identity.entity.name }}",
            "{{identity.entity.metadata.team}}",
            "{{identity.entity.aliases.auth_k8s_1.metadata.service_account_namespace}}",
            "{{identity.entity.aliases.acc.custom_metadata.x}}",
            "{{identity.entity.aliases.acc.name}}",
            "{{identity.groups.ids.abc.name}}",
            "{{identity.groups.names.ops.id}}",
            "{{identity.groups.names.ops.metadata.k}}",
            "plain/path",
        ] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_malformed_templates() {
        for (bad, why) in [
            ("a/{{identity.entity.id", "without a closing"),
            ("a/}}", "without an opening"),
            ("{{identity.entity.idx}}", "unknown template parameter"),
            ("{{foo}}", "unknown template parameter"),
            (
                "{{identity.entity.metadata.}}",
                "unknown template parameter",
            ),
            ("{{identity.groups.ids.x.id}}", "unknown template parameter"),
            ("{{ {{identity.entity.id}} }}", "nested"),
        ] {
            let err = validate(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn render_fills_and_refuses_globs() {
        let resolve = |p: &str| match p {
            "identity.entity.id" => Some("e-1".to_string()),
            "identity.entity.name" => Some("evil*".to_string()),
            _ => None,
        };
        assert_eq!(
            render("s/{{identity.entity.id}}/*", &resolve).as_deref(),
            Some("s/e-1/*")
        );
        assert_eq!(render("s/{{identity.entity.name}}", &resolve), None);
        assert_eq!(render("s/{{identity.entity.metadata.x}}", &resolve), None);
    }

    #[test]
    fn render_fills_every_occurrence_and_keeps_literals() {
        let resolve = |p: &str| match p {
            "identity.entity.name" => Some("alice".to_string()),
            "identity.groups.names.ops.id" => Some("g-1".to_string()),
            _ => None,
        };
        assert_eq!(
            render(
                "kv/{{identity.entity.name}}/{{ identity.groups.names.ops.id }}/{{identity.entity.name}}+x",
                &resolve
            )
            .as_deref(),
            Some("kv/alice/g-1/alice+x")
        );
        assert_eq!(render("plain/*", &resolve).as_deref(), Some("plain/*"));
        // One missing value drops the whole pattern, whatever else resolves.
        assert_eq!(
            render(
                "kv/{{identity.entity.name}}/{{identity.entity.metadata.k}}",
                &resolve
            ),
            None
        );
    }

    #[test]
    fn values_cannot_change_the_pattern() {
        for value in [
            "*",
            "a*",
            "+",
            "a+b",
            "{{identity.entity.id}}",
            "}",
            "",
            "..",
            "a/../b",
            "./x",
            "x/.",
            "a\nb",
            "tab\tx",
        ] {
            let resolve = move |_: &str| Some(value.to_string());
            assert_eq!(
                render("secret/{{identity.entity.metadata.team}}/*", &resolve),
                None,
                "{value:?}"
            );
        }
        // Slashes are allowed, as in Vault; the value stays literal segments.
        let resolve = |_: &str| Some("team/a.b".to_string());
        assert_eq!(
            render("secret/{{identity.entity.metadata.team}}/*", &resolve).as_deref(),
            Some("secret/team/a.b/*")
        );
    }
}
