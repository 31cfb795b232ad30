//! The PostgreSQL plugin (`postgresql-database-plugin`), over tokio-postgres with a small pool
//! of connections per configuration.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use hush_core::error::{CoreError, Result};
use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tokio_postgres::{Client, Config, NoTls};

use super::plugin::{fill, split_statements, Plugin, PluginError, Statements};
use super::DbConfig;

/// The plugin's name in `config/:name`.
pub const PLUGIN_NAME: &str = "postgresql-database-plugin";

/// Open connections to one database, at most `max_open` at a time.
pub struct Postgres {
    config: Config,
    idle: Mutex<Vec<Client>>,
    slots: Arc<Semaphore>,
    /// host:port, for messages.
    target: String,
}

/// Percent-encodes a user name or password for a URL's user-info part.
fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl Postgres {
    /// A plugin for `c`; connects on first use.
    pub fn new(c: &DbConfig) -> Result<Self> {
        let url = c
            .connection_url
            .replace("{{username}}", &encode(&c.username))
            .replace("{{password}}", &encode(&c.password));
        // The URL may hold the password now: errors describe it without quoting it.
        let config = Config::from_str(&url).map_err(|e| {
            CoreError::bad(format!(
                "'connection_url' is not a PostgreSQL connection URL ({e}); write it as \
                 postgresql://{{{{username}}}}:{{{{password}}}}@host:5432/dbname"
            ))
        })?;
        let host = config
            .get_hosts()
            .first()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let port = config.get_ports().first().copied().unwrap_or(5432);
        Ok(Postgres {
            config,
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(c.max_open_connections.max(1) as usize)),
            target: format!("{host}:{port}"),
        })
    }

    async fn connect(&self) -> std::result::Result<Client, PluginError> {
        let connect = self.config.connect(NoTls);
        let (client, connection) =
            tokio::time::timeout(std::time::Duration::from_secs(10), connect)
                .await
                .map_err(|_| {
                    PluginError::Connect(format!(
                        "connecting to {} timed out after 10 s",
                        self.target
                    ))
                })?
                .map_err(|e| {
                    PluginError::Connect(format!("cannot connect to {}: {e}", self.target))
                })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a PostgreSQL connection ended");
            }
        });
        Ok(client)
    }

    /// Runs `f` on a pooled connection.
    async fn with<T>(
        &self,
        f: impl for<'c> FnOnce(
            &'c mut Client,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = std::result::Result<T, PluginError>> + Send + 'c>,
        >,
    ) -> std::result::Result<T, PluginError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| PluginError::Connect("the connection pool is closed".into()))?;
        let pooled = self.idle.lock().pop();
        let mut client = match pooled {
            Some(c) if !c.is_closed() => c,
            _ => self.connect().await?,
        };
        let out = f(&mut client).await;
        if !client.is_closed() {
            self.idle.lock().push(client);
        }
        out
    }
}

fn db_error(e: tokio_postgres::Error) -> PluginError {
    match e.as_db_error() {
        Some(db) => PluginError::Statement(format!("{}: {}", db.code().code(), db.message())),
        None => PluginError::Statement(e.to_string()),
    }
}

/// Runs statements in one transaction.
async fn run_in_transaction(
    client: &mut Client,
    statements: &[String],
) -> std::result::Result<(), PluginError> {
    let tx = client.transaction().await.map_err(db_error)?;
    for s in statements {
        tx.batch_execute(s).await.map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[async_trait]
impl Plugin for Postgres {
    async fn verify(&self) -> std::result::Result<(), PluginError> {
        self.with(|c| {
            Box::pin(async move {
                c.simple_query("SELECT 1").await.map_err(db_error)?;
                Ok(())
            })
        })
        .await
    }

    async fn create_user(
        &self,
        statements: &Statements<'_>,
        username: &str,
        password: &str,
        expiration: &str,
    ) -> std::result::Result<(), PluginError> {
        let main: Vec<String> = split_statements(statements.main)
            .iter()
            .map(|s| fill(s, username, password, expiration))
            .collect();
        let rollback: Vec<String> = split_statements(statements.rollback)
            .iter()
            .map(|s| fill(s, username, password, expiration))
            .collect();
        self.with(move |c| {
            Box::pin(async move {
                match run_in_transaction(c, &main).await {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        // The transaction was rolled back; statements outside it (none by
                        // default) are what the role's rollback_statements undo.
                        for s in &rollback {
                            let _ = c.batch_execute(s).await;
                        }
                        Err(e)
                    }
                }
            })
        })
        .await
    }

    async fn revoke_user(
        &self,
        statements: &[String],
        username: &str,
    ) -> std::result::Result<(), PluginError> {
        let custom: Vec<String> = split_statements(statements)
            .iter()
            .map(|s| fill(s, username, "", ""))
            .collect();
        let user = username.to_string();
        self.with(move |c| {
            Box::pin(async move {
                // A dropped user's open sessions would otherwise keep working.
                c.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
                    &[&user],
                )
                .await
                .map_err(db_error)?;
                if !custom.is_empty() {
                    return run_in_transaction(c, &custom).await;
                }
                let exists = c
                    .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&user])
                    .await
                    .map_err(db_error)?
                    .is_some();
                if !exists {
                    return Ok(());
                }
                // What Vault's plugin does by default: take back every privilege in every
                // schema, then drop the role.
                let schemas = c
                    .query(
                        "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' \
                         AND nspname <> 'information_schema'",
                        &[],
                    )
                    .await
                    .map_err(db_error)?;
                let ident = quote_ident(&user);
                let mut steps = Vec::new();
                for row in schemas {
                    let schema = quote_ident(row.get::<_, &str>(0));
                    for what in ["TABLES", "SEQUENCES", "FUNCTIONS"] {
                        steps.push(format!(
                            "REVOKE ALL PRIVILEGES ON ALL {what} IN SCHEMA {schema} FROM {ident}"
                        ));
                    }
                    steps.push(format!("REVOKE USAGE ON SCHEMA {schema} FROM {ident}"));
                }
                steps.push(format!(
                    "DO $$ BEGIN EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM %I', \
                     current_database(), '{}'); END $$",
                    user.replace('\'', "''")
                ));
                steps.push(format!("DROP ROLE IF EXISTS {ident}"));
                run_in_transaction(c, &steps).await
            })
        })
        .await
    }

    async fn renew_user(
        &self,
        statements: &[String],
        username: &str,
        expiration: &str,
    ) -> std::result::Result<(), PluginError> {
        let steps: Vec<String> = if statements.is_empty() {
            vec![format!(
                "ALTER ROLE {} VALID UNTIL '{}'",
                quote_ident(username),
                expiration.replace('\'', "''")
            )]
        } else {
            split_statements(statements)
                .iter()
                .map(|s| fill(s, username, "", expiration))
                .collect()
        };
        self.with(move |c| Box::pin(async move { run_in_transaction(c, &steps).await }))
            .await
    }

    async fn set_password(
        &self,
        statements: &[String],
        username: &str,
        password: &str,
    ) -> std::result::Result<(), PluginError> {
        let steps: Vec<String> = if statements.is_empty() {
            vec![format!(
                "ALTER ROLE {} WITH PASSWORD '{}'",
                quote_ident(username),
                password.replace('\'', "''")
            )]
        } else {
            split_statements(statements)
                .iter()
                .map(|s| fill(s, username, password, ""))
                .collect()
        };
        self.with(move |c| Box::pin(async move { run_in_transaction(c, &steps).await }))
            .await
    }
}
