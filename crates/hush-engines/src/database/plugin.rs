//! What a database plugin does for the engine: one module per database kind.

use async_trait::async_trait;

/// A plugin's failure, in the database's own words (never with a password in it).
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The connection URL or a setting cannot be used.
    #[error("{0}")]
    Config(String),
    /// The database could not be reached or refused hush's login.
    #[error("{0}")]
    Connect(String),
    /// A statement failed.
    #[error("{0}")]
    Statement(String),
}

/// Statements to run for a creation, and what undoes them if one fails.
pub struct Statements<'a> {
    /// The statements.
    pub main: &'a [String],
    /// Run when one of `main` fails, best effort.
    pub rollback: &'a [String],
}

/// One database kind.
#[async_trait]
pub trait Plugin: Send + Sync {
    /// The longest user name the database takes.
    fn max_username(&self) -> usize {
        63
    }
    /// Connects and checks that the configured user can log in.
    async fn verify(&self) -> Result<(), PluginError>;
    /// Opens one connection of its own (the configuration's host, port, database and TLS
    /// settings) as `username` with `password`, runs `SELECT 1` and closes it: whether those
    /// credentials log in, e.g. a new password before it is handed out. Never pooled, so the
    /// pool keeps the configured user's connections only. A refusal is
    /// [`PluginError::Connect`] in the database's words, which never hold the password.
    async fn check_login(&self, username: &str, password: &str) -> Result<(), PluginError>;
    /// Creates a user with `password` valid until `expiration`, running `statements.main`
    /// (with `{{name}}`, `{{username}}`, `{{password}}`, `{{expiration}}` filled in) in one
    /// transaction; on failure runs the rollback statements and reports the database's error.
    async fn create_user(
        &self,
        statements: &Statements<'_>,
        username: &str,
        password: &str,
        expiration: &str,
    ) -> Result<(), PluginError>;
    /// Removes a user (the plugin's default statements when `statements` is empty) and ends
    /// its sessions.
    async fn revoke_user(&self, statements: &[String], username: &str) -> Result<(), PluginError>;
    /// Moves a user's expiry to `expiration`.
    async fn renew_user(
        &self,
        statements: &[String],
        username: &str,
        expiration: &str,
    ) -> Result<(), PluginError>;
    /// Sets a user's password (rotate-root).
    async fn set_password(
        &self,
        statements: &[String],
        username: &str,
        password: &str,
    ) -> Result<(), PluginError>;
}

/// `template` with the placeholders filled in.
pub fn fill(template: &str, username: &str, password: &str, expiration: &str) -> String {
    template
        .replace("{{name}}", username)
        .replace("{{username}}", username)
        .replace("{{password}}", password)
        .replace("{{expiration}}", expiration)
}

/// The single statements of a list whose items may each hold several, separated by `;`
/// outside quotes (Vault accepts both forms).
pub fn split_statements(items: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for item in items {
        let (mut cur, mut quote) = (String::new(), None::<char>);
        for c in item.chars() {
            match (quote, c) {
                (None, '\'' | '"') => {
                    quote = Some(c);
                    cur.push(c);
                }
                (Some(q), c) if c == q => {
                    quote = None;
                    cur.push(c);
                }
                (None, ';') => {
                    if !cur.trim().is_empty() {
                        out.push(cur.trim().to_string());
                    }
                    cur.clear();
                }
                _ => cur.push(c),
            }
        }
        if !cur.trim().is_empty() {
            out.push(cur.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_outside_quotes_only() {
        let got = split_statements(&[
            "CREATE ROLE \"{{name}}\" WITH PASSWORD 'a;b'; GRANT x TO \"{{name}}\";".into(),
            "SELECT 1".into(),
        ]);
        assert_eq!(
            got,
            vec![
                "CREATE ROLE \"{{name}}\" WITH PASSWORD 'a;b'",
                "GRANT x TO \"{{name}}\"",
                "SELECT 1"
            ]
        );
        assert_eq!(fill("{{name}}/{{password}}", "u", "p", "e"), "u/p");
    }
}
