//! The PostgreSQL plugin (`postgresql-database-plugin`), over tokio-postgres with a small pool
//! of connections per configuration.
//!
//! TLS follows libpq's settings in the connection URL, as Vault's plugin (pgx) reads them:
//! `sslmode` (`disable`, `allow`, `prefer`, the default, `require`, `verify-ca`,
//! `verify-full`), `sslrootcert` (a CA file on the hush server, or `system`), `sslcert` and
//! `sslkey` (a client certificate), in the URL's query (`postgresql://...?sslmode=verify-full`)
//! or as `key=value` words (`host=db sslmode=require`). tokio-postgres reads none of them but
//! `sslmode`'s weaker half, so they are taken out of the URL here and become a rustls
//! configuration ([`super::tls`]).

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use hush_core::error::{CoreError, Result};
use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config};

use super::plugin::{fill, split_statements, Plugin, PluginError, Statements};
use super::tls::{self, PgTls, Verify};
use super::DbConfig;

/// The plugin's name in `config/:name`.
pub const PLUGIN_NAME: &str = "postgresql-database-plugin";

/// Open connections to one database, at most `max_open` at a time.
pub struct Postgres {
    config: Config,
    tls: PgTls,
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

/// A value inside `'...'` of a `key=value` connection string: `\` and `'` escaped, as libpq
/// and tokio-postgres read them.
fn dsn_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// libpq's TLS settings, taken out of a connection URL.
#[derive(Debug, Default, PartialEq)]
struct TlsParams {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
    sslcert: Option<String>,
    sslkey: Option<String>,
}

impl TlsParams {
    /// Keeps `key`'s value if it is one of these settings; false for any other key.
    fn take(&mut self, key: &str, value: &str) -> bool {
        let slot = match key {
            "sslmode" => &mut self.sslmode,
            "sslrootcert" => &mut self.sslrootcert,
            "sslcert" => &mut self.sslcert,
            "sslkey" => &mut self.sslkey,
            _ => return false,
        };
        *slot = Some(value.to_string());
        true
    }
}

/// The connection URL's form: a `postgres://` URL, or libpq's `key=value` words.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Form {
    Url,
    Words,
}

/// `key=value` words as libpq writes them: a value is bare (a backslash escapes the next
/// character) or in single quotes (the same escapes). `None` when they do not parse, which
/// tokio-postgres then reports in its own words.
fn dsn_words(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    loop {
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        if it.peek().is_none() {
            return Some(out);
        }
        let mut key = String::new();
        while let Some(&c) = it.peek() {
            if c.is_whitespace() || c == '=' {
                break;
            }
            key.push(c);
            it.next();
        }
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        if it.next() != Some('=') || key.is_empty() {
            return None;
        }
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        let mut value = String::new();
        if it.peek() == Some(&'\'') {
            it.next();
            loop {
                match it.next()? {
                    '\'' => break,
                    '\\' => value.push(it.next()?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = it.peek() {
                if c.is_whitespace() {
                    break;
                }
                it.next();
                if c == '\\' {
                    value.push(it.next()?);
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

/// The connection URL without libpq's TLS settings (which tokio-postgres refuses as unknown),
/// its form, and those settings.
fn split_tls(url: &str) -> (String, Form, TlsParams) {
    let mut params = TlsParams::default();
    let trimmed = url.trim();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        let Some((base, query)) = trimmed.split_once('?') else {
            return (trimmed.to_string(), Form::Url, params);
        };
        let mut kept = form_urlencoded::Serializer::new(String::new());
        let mut any = false;
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if !params.take(&k, &v) {
                kept.append_pair(&k, &v);
                any = true;
            }
        }
        let rest = if any {
            format!("{base}?{}", kept.finish())
        } else {
            base.to_string()
        };
        return (rest, Form::Url, params);
    }
    match dsn_words(trimmed) {
        Some(words) => {
            let kept: Vec<String> = words
                .into_iter()
                .filter(|(k, v)| !params.take(k, v))
                .map(|(k, v)| format!("{k}='{}'", dsn_escape(&v)))
                .collect();
            (kept.join(" "), Form::Words, params)
        }
        None => (trimmed.to_string(), Form::Words, params),
    }
}

/// The contents of the file a TLS setting names; the error names the setting and the file.
fn read_file(setting: &str, path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        CoreError::bad(format!(
            "{setting}={path} in 'connection_url' cannot be read on the hush server ({e}): \
             the file must exist there and be readable by hush"
        ))
    })
}

/// tokio-postgres' `sslmode` and the rustls configuration for libpq's settings.
fn tls_settings(p: &TlsParams) -> Result<(SslMode, Arc<rustls::ClientConfig>)> {
    let root = p.sslrootcert.as_deref().filter(|r| !r.is_empty());
    let (mode, verify) = match p.sslmode.as_deref().unwrap_or("prefer") {
        "disable" => (SslMode::Disable, Verify::Nothing),
        // libpq's `allow` tries without TLS first; tokio-postgres cannot, so it is `prefer`.
        "allow" | "prefer" => (SslMode::Prefer, Verify::Nothing),
        // libpq: "if a root CA file exists, require behaves like verify-ca".
        "require" if root.is_some() => (SslMode::Require, Verify::Chain),
        "require" => (SslMode::Require, Verify::Nothing),
        "verify-ca" => (SslMode::Require, Verify::Chain),
        "verify-full" => (SslMode::Require, Verify::Full),
        other => {
            return Err(CoreError::bad(format!(
                "sslmode={other} in 'connection_url' is not one of disable, allow, prefer, \
                 require, verify-ca, verify-full"
            )))
        }
    };
    let roots = match root {
        Some("system") | None => Vec::new(),
        Some(path) => tls::pem_certificates(
            &read_file("sslrootcert", path)?,
            &format!("sslrootcert={path}"),
        )
        .map_err(CoreError::bad)?,
    };
    let identity = match (p.sslcert.as_deref(), p.sslkey.as_deref()) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            let chain =
                tls::pem_certificates(&read_file("sslcert", cert)?, &format!("sslcert={cert}"))
                    .map_err(CoreError::bad)?;
            let key_pem = zeroize::Zeroizing::new(read_file("sslkey", key)?);
            let key =
                tls::pem_private_key(&key_pem, &format!("sslkey={key}")).map_err(CoreError::bad)?;
            Some(tls::Identity { chain, key })
        }
        _ => {
            return Err(CoreError::bad(
                "'connection_url' has one of sslcert and sslkey without the other: a client \
                 certificate needs both files",
            ))
        }
    };
    let config = tls::client_config(verify, roots, identity)
        .map_err(|e| CoreError::bad(format!("TLS settings of 'connection_url': {e}")))?;
    Ok((mode, config))
}

impl Postgres {
    /// A plugin for `c`; connects on first use.
    pub fn new(c: &DbConfig) -> Result<Self> {
        let (url, form, tls_params) = split_tls(&c.connection_url);
        let (user, pass) = match form {
            Form::Url => (
                encode(&c.username),
                zeroize::Zeroizing::new(encode(&c.password)),
            ),
            Form::Words => (
                dsn_escape(&c.username),
                zeroize::Zeroizing::new(dsn_escape(&c.password)),
            ),
        };
        let url = zeroize::Zeroizing::new(
            url.replace("{{username}}", &user)
                .replace("{{password}}", &pass),
        );
        // The URL may hold the password now: errors describe it without quoting it.
        let mut config = Config::from_str(&url).map_err(|e| {
            CoreError::bad(format!(
                "'connection_url' is not a PostgreSQL connection URL ({e}); write it as \
                 postgresql://{{{{username}}}}:{{{{password}}}}@host:5432/dbname"
            ))
        })?;
        let (mode, tls_config) = tls_settings(&tls_params)?;
        config.ssl_mode(mode);
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
            tls: PgTls::new(tls_config),
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(c.max_open_connections.max(1) as usize)),
            target: format!("{host}:{port}"),
        })
    }

    async fn connect(&self) -> std::result::Result<Client, PluginError> {
        self.connect_as(&self.config).await
    }

    /// One new connection with `config` (the plugin's, or it with other credentials).
    async fn connect_as(&self, config: &Config) -> std::result::Result<Client, PluginError> {
        let connect = config.connect(self.tls.clone());
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
                    PluginError::Connect(format!(
                        "cannot connect to {}: {}",
                        self.target,
                        tls::explain(&error_text(&e))
                    ))
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

/// A tokio-postgres error in full: the server's own message (its `Display` says only "db
/// error"), or the error with its causes (a TLS failure's reason is a cause).
fn error_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {} ({})", db.severity(), db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    // Error chains are short; the bound keeps a cyclic one from looping.
    for _ in 0..8 {
        let Some(cause) = source else { break };
        let t = cause.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = cause.source();
    }
    text
}

fn db_error(e: tokio_postgres::Error) -> PluginError {
    match e.as_db_error() {
        Some(db) => PluginError::Statement(format!("{}: {}", db.code().code(), db.message())),
        None => PluginError::Statement(e.to_string()),
    }
}

/// How often a transaction that lost a race with another is run again.
const RACE_ATTEMPTS: u32 = 5;

/// Whether a failed transaction lost a race with a concurrent one and may simply be run again:
/// a serialization failure, a deadlock, or PostgreSQL's "tuple concurrently updated" (two
/// transactions changing the privileges of one table at once: a GRANT for a new user while an
/// expired one's privileges are revoked).
fn lost_a_race(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        matches!(db.code().code(), "40001" | "40P01")
            || (db.code().code() == "XX000" && db.message().contains("concurrently updated"))
    })
}

/// Runs statements in one transaction, again (a few times, after a short pause) when it lost a
/// race with a concurrent transaction; each attempt is rolled back whole when it fails.
async fn run_in_transaction(
    client: &mut Client,
    statements: &[String],
) -> std::result::Result<(), PluginError> {
    let mut attempt = 1;
    loop {
        match try_transaction(client, statements).await {
            Err(e) if lost_a_race(&e) && attempt < RACE_ATTEMPTS => {
                let jitter = hush_crypto::random_below(20).unwrap_or(0);
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(
                    10 * attempt + jitter,
                )))
                .await;
                attempt += 1;
            }
            other => return other.map_err(db_error),
        }
    }
}

async fn try_transaction(
    client: &mut Client,
    statements: &[String],
) -> std::result::Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    for s in statements {
        tx.batch_execute(s).await?;
    }
    tx.commit().await
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

    async fn check_login(
        &self,
        username: &str,
        password: &str,
    ) -> std::result::Result<(), PluginError> {
        let mut config = self.config.clone();
        config.user(username).password(password);
        let client = self.connect_as(&config).await?;
        let out = client.simple_query("SELECT 1").await.map_err(|e| {
            PluginError::Connect(format!(
                "{} logged in to {} but SELECT 1 failed: {}",
                username,
                self.target,
                db_error(e)
            ))
        });
        // Dropping the client ends the connection (its task sees the channel close).
        drop(client);
        out.map(|_| ())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_come_out_of_urls_and_words() {
        let (rest, form, p) = split_tls(
            "postgresql://{{username}}:{{password}}@db:5432/app?sslmode=verify-full&\
             sslrootcert=/ca.pem&application_name=hush",
        );
        assert_eq!(form, Form::Url);
        assert_eq!(
            rest,
            "postgresql://{{username}}:{{password}}@db:5432/app?application_name=hush"
        );
        assert_eq!(p.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(p.sslrootcert.as_deref(), Some("/ca.pem"));
        let (rest, _, p) = split_tls("postgres://u@db/app?sslmode=require");
        assert_eq!(
            (rest.as_str(), p.sslmode.as_deref()),
            ("postgres://u@db/app", Some("require"))
        );

        let (rest, form, p) = split_tls(
            "host=db user={{username}} password={{password}} sslmode = verify-ca \
             sslrootcert='/a b/c\\'s.pem'",
        );
        assert_eq!(form, Form::Words);
        assert_eq!(
            rest,
            "host='db' user='{{username}}' password='{{password}}'"
        );
        assert_eq!(p.sslrootcert.as_deref(), Some("/a b/c's.pem"));
        assert_eq!(p.sslmode.as_deref(), Some("verify-ca"));
    }

    #[test]
    fn credentials_are_escaped_for_each_form() {
        let mut c = DbConfig {
            connection_url:
                "host=127.0.0.1 user={{username}} password={{password}} sslmode=disable".into(),
            username: "o'neil".into(),
            password: "p'w\\ d".into(),
            max_open_connections: 1,
            ..DbConfig::default()
        };
        let pg = Postgres::new(&c).unwrap();
        assert_eq!(pg.config.get_user(), Some("o'neil"));
        assert_eq!(pg.config.get_password(), Some(&b"p'w\\ d"[..]));
        assert_eq!(pg.config.get_ssl_mode(), SslMode::Disable);
        c.connection_url = "postgresql://{{username}}:{{password}}@127.0.0.1/db".into();
        let pg = Postgres::new(&c).unwrap();
        assert_eq!(pg.config.get_password(), Some(&b"p'w\\ d"[..]));
        assert_eq!(pg.config.get_ssl_mode(), SslMode::Prefer);
    }

    #[test]
    fn bad_tls_settings_are_refused_with_the_reason() {
        let mut c = DbConfig {
            max_open_connections: 1,
            ..DbConfig::default()
        };
        for (query, why) in [
            ("sslmode=maybe", "sslmode=maybe"),
            (
                "sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
                "cannot be read",
            ),
            ("sslcert=/x.pem", "without the other"),
        ] {
            c.connection_url = format!("postgresql://u:p@127.0.0.1/db?{query}");
            let e = Postgres::new(&c).err().expect(query).to_string();
            assert!(e.contains(why), "{query}: {e}");
        }
    }

    /// Against a real server when `HUSH_TEST_PG_URL` (a connection URL with `{{username}}` and
    /// `{{password}}`), `HUSH_TEST_PG_USER` and `HUSH_TEST_PG_PASSWORD` are set (the Python
    /// fixture's server, for instance); otherwise there is nothing to connect to.
    #[tokio::test]
    async fn check_login_against_a_real_server() {
        let (Ok(url), Ok(user), Ok(password)) = (
            std::env::var("HUSH_TEST_PG_URL"),
            std::env::var("HUSH_TEST_PG_USER"),
            std::env::var("HUSH_TEST_PG_PASSWORD"),
        ) else {
            eprintln!("HUSH_TEST_PG_URL is not set: no PostgreSQL to log in to");
            return;
        };
        let c = DbConfig {
            connection_url: url,
            username: user.clone(),
            password: password.clone(),
            max_open_connections: 1,
            ..DbConfig::default()
        };
        let pg = Postgres::new(&c).unwrap();
        pg.check_login(&user, &password).await.unwrap();
        let e = pg
            .check_login(&user, "not-the-password-0xq")
            .await
            .unwrap_err();
        assert!(matches!(e, PluginError::Connect(_)), "{e}");
        let text = e.to_string();
        assert!(text.contains("password authentication failed"), "{text}");
        assert!(!text.contains("not-the-password-0xq"));
        // The pool was not touched: the configured user still connects.
        pg.verify().await.unwrap();
    }
}
