//! The MySQL/MariaDB plugin (`mysql-database-plugin`), over mysql_async's connection pool.
//!
//! MySQL commits every account statement (`CREATE USER`, `GRANT`) on its own, so a creation
//! cannot be one transaction: when a statement fails, the role's `rollback_statements` run, or
//! by default `DROP USER IF EXISTS`, so no half-made user is left behind.

use async_trait::async_trait;
use hush_core::error::{CoreError, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};

use super::plugin::{fill, split_statements, Plugin, PluginError, Statements};
use super::DbConfig;

/// The plugin's name in `config/:name`.
pub const PLUGIN_NAME: &str = "mysql-database-plugin";

/// MySQL's user names are at most 32 characters.
pub const MAX_USERNAME: usize = 32;

/// A pool of connections to one server.
pub struct Mysql {
    pool: Pool,
    target: String,
}

impl Mysql {
    /// A plugin for `c`: Vault writes the URL as `{{username}}:{{password}}@tcp(host:port)/`,
    /// a Go DSN; both that and `mysql://user:pass@host:port/db` are accepted.
    pub fn new(c: &DbConfig) -> Result<Self> {
        let (host, port, db) = parse_target(&c.connection_url)?;
        let constraints = PoolConstraints::new(0, c.max_open_connections.max(1) as usize)
            .ok_or_else(|| CoreError::bad("'max_open_connections' must be at least 1"))?;
        let opts = OptsBuilder::default()
            .ip_or_hostname(host.clone())
            .tcp_port(port)
            .user(Some(c.username.clone()))
            .pass(Some(c.password.clone()))
            .db_name(db)
            .pool_opts(PoolOpts::default().with_constraints(constraints));
        Ok(Mysql {
            pool: Pool::new(Opts::from(opts)),
            target: format!("{host}:{port}"),
        })
    }

    async fn conn(&self) -> std::result::Result<mysql_async::Conn, PluginError> {
        tokio::time::timeout(std::time::Duration::from_secs(10), self.pool.get_conn())
            .await
            .map_err(|_| {
                PluginError::Connect(format!(
                    "connecting to {} timed out after 10 s",
                    self.target
                ))
            })?
            .map_err(|e| PluginError::Connect(format!("cannot connect to {}: {e}", self.target)))
    }
}

/// Host, port and database of a Go-style DSN (`user:pass@tcp(host:port)/db`) or a URL
/// (`mysql://user:pass@host:port/db`); the credentials come from the configuration.
fn parse_target(url: &str) -> Result<(String, u16, Option<String>)> {
    let bad = || {
        CoreError::bad(
            "'connection_url' is not a MySQL address: write {{username}}:{{password}}@tcp(host:3306)/ \
             (Vault's form) or mysql://{{username}}:{{password}}@host:3306/",
        )
    };
    let rest = url.rsplit_once('@').map_or(url, |(_, r)| r);
    let rest = rest.strip_prefix("mysql://").unwrap_or(rest);
    let (addr, db) = if let Some(inner) = rest.strip_prefix("tcp(") {
        let (addr, after) = inner.split_once(')').ok_or_else(bad)?;
        (addr, after.trim_start_matches('/'))
    } else {
        rest.split_once('/').unwrap_or((rest, ""))
    };
    let db = db.split('?').next().unwrap_or("");
    let (host, port) = match addr.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
        None => (addr, 3306),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((
        host.trim_matches(|c| c == '[' || c == ']').to_string(),
        port,
        (!db.is_empty()).then(|| db.to_string()),
    ))
}

fn sql_error(e: mysql_async::Error) -> PluginError {
    PluginError::Statement(e.to_string())
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "''")
}

#[async_trait]
impl Plugin for Mysql {
    fn max_username(&self) -> usize {
        MAX_USERNAME
    }

    async fn verify(&self) -> std::result::Result<(), PluginError> {
        let mut c = self.conn().await?;
        c.query_drop("SELECT 1").await.map_err(sql_error)
    }

    async fn create_user(
        &self,
        statements: &Statements<'_>,
        username: &str,
        password: &str,
        expiration: &str,
    ) -> std::result::Result<(), PluginError> {
        let mut c = self.conn().await?;
        for s in split_statements(statements.main) {
            if let Err(e) = c
                .query_drop(fill(&s, username, password, expiration))
                .await
                .map_err(sql_error)
            {
                let rollback: Vec<String> = if statements.rollback.is_empty() {
                    vec![format!("DROP USER IF EXISTS '{}'@'%'", quote(username))]
                } else {
                    split_statements(statements.rollback)
                        .iter()
                        .map(|s| fill(s, username, password, expiration))
                        .collect()
                };
                for r in rollback {
                    let _ = c.query_drop(r).await;
                }
                return Err(e);
            }
        }
        Ok(())
    }

    async fn revoke_user(
        &self,
        statements: &[String],
        username: &str,
    ) -> std::result::Result<(), PluginError> {
        let mut c = self.conn().await?;
        // Its open sessions would otherwise keep working.
        let sessions: Vec<u64> = c
            .exec(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?",
                (username,),
            )
            .await
            .map_err(sql_error)?;
        for id in sessions {
            let _ = c.query_drop(format!("KILL {id}")).await;
        }
        let steps: Vec<String> = if statements.is_empty() {
            vec![format!("DROP USER IF EXISTS '{}'@'%'", quote(username))]
        } else {
            split_statements(statements)
                .iter()
                .map(|s| fill(s, username, "", ""))
                .collect()
        };
        for s in steps {
            c.query_drop(s).await.map_err(sql_error)?;
        }
        Ok(())
    }

    async fn renew_user(
        &self,
        statements: &[String],
        username: &str,
        expiration: &str,
    ) -> std::result::Result<(), PluginError> {
        // MySQL accounts have no expiry of their own: only a role's renew statements apply.
        if statements.is_empty() {
            return Ok(());
        }
        let mut c = self.conn().await?;
        for s in split_statements(statements) {
            c.query_drop(fill(&s, username, "", expiration))
                .await
                .map_err(sql_error)?;
        }
        Ok(())
    }

    async fn set_password(
        &self,
        statements: &[String],
        username: &str,
        password: &str,
    ) -> std::result::Result<(), PluginError> {
        let mut c = self.conn().await?;
        let steps: Vec<String> = if statements.is_empty() {
            vec![format!(
                "ALTER USER '{}'@'%' IDENTIFIED BY '{}'",
                quote(username),
                quote(password)
            )]
        } else {
            split_statements(statements)
                .iter()
                .map(|s| fill(s, username, password, ""))
                .collect()
        };
        for s in steps {
            c.query_drop(s).await.map_err(sql_error)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vaults_dsn_and_urls_name_the_server() {
        assert_eq!(
            parse_target("{{username}}:{{password}}@tcp(127.0.0.1:3307)/").unwrap(),
            ("127.0.0.1".into(), 3307, None)
        );
        assert_eq!(
            parse_target("mysql://{{username}}:{{password}}@db.example.com/app").unwrap(),
            ("db.example.com".into(), 3306, Some("app".into()))
        );
        assert!(parse_target("{{username}}:{{password}}@tcp(h:port)/").is_err());
        assert!(parse_target("@tcp(:3306)/").is_err());
    }
}
