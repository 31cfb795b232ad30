//! The error type of this crate.

use std::fmt;

/// Why a policy or a policy name was rejected.
///
/// Messages name what is wrong and how to fix it; they quote the policy text (paths, keys,
/// capability names) but never request data, so they are safe to return to the client that
/// uploaded the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The text is not valid HCL or JSON.
    #[error("policy syntax error at line {line}, column {column}: {message}")]
    Syntax {
        /// One-based line of the error.
        line: usize,
        /// One-based column of the error.
        column: usize,
        /// What the parser expected or found.
        message: String,
    },
    /// The text parsed, but what it says is not a valid policy.
    #[error("invalid policy{}: {message}", Where { path: path.as_deref(), line: *line })]
    Invalid {
        /// The `path "..."` block at fault, when the error is inside one.
        path: Option<String>,
        /// One-based line of the offending block or attribute, when it could be found.
        line: Option<usize>,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A capability name that Vault does not know.
    #[error(
        "unknown capability {name:?}; valid capabilities are create, read, update, patch, \
         delete, list, sudo, deny"
    )]
    UnknownCapability {
        /// The name as written.
        name: String,
    },
    /// A policy name that cannot be used.
    #[error("invalid policy name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it is invalid and what a valid name looks like.
        reason: String,
    },
}

/// Renders the location part of [`PolicyError::Invalid`]: ` in path "x" (line 3)`.
struct Where<'a> {
    path: Option<&'a str>,
    line: Option<usize>,
}

impl fmt::Display for Where<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = self.path {
            write!(f, " in path {path:?}")?;
        }
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_renders_location_when_known() {
        let err = PolicyError::Invalid {
            path: Some("secret/*".into()),
            line: Some(3),
            message: "boom".into(),
        };
        assert_eq!(
            err.to_string(),
            "invalid policy in path \"secret/*\" (line 3): boom"
        );
        let err = PolicyError::Invalid {
            path: None,
            line: None,
            message: "boom".into(),
        };
        assert_eq!(err.to_string(), "invalid policy: boom");
    }
}
