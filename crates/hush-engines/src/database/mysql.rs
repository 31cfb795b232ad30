//! The MySQL/MariaDB plugin (`mysql-database-plugin`), over mysql_async's connection pool.
//!
//! MySQL commits every account statement (`CREATE USER`, `GRANT`) on its own, so a creation
//! cannot be one transaction: when a statement fails, the role's `rollback_statements` run, or
//! by default `DROP USER IF EXISTS`, so no half-made user is left behind.
//!
//! TLS as Vault's plugin (go-sql-driver) has it: the DSN's `?tls=true` (verified against the
//! public roots), `tls=skip-verify` (encrypted, unverified) or `tls=false`, and the
//! configuration's `tls_ca` (PEM: verify against it), `tls_certificate_key` (PEM of a client
//! certificate and its RSA key), `tls_server_name` (the name the certificate must hold, and
//! the SNI) and `tls_skip_verify`. A `tls_ca` or `tls_certificate_key` turns TLS on, as in
//! Vault.

use async_trait::async_trait;
use hush_core::error::{CoreError, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{ClientIdentity, Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts, SslOpts};
use rustls::pki_types::PrivateKeyDer;

use super::plugin::{fill, split_statements, Plugin, PluginError, Statements};
use super::DbConfig;

/// The plugin's name in `config/:name`.
pub const PLUGIN_NAME: &str = "mysql-database-plugin";

/// MySQL's user names are at most 32 characters.
pub const MAX_USERNAME: usize = 32;

/// A pool of connections to one server.
pub struct Mysql {
    pool: Pool,
    /// The pool's options, for [`Plugin::check_login`]'s own connection.
    opts: Opts,
    target: String,
    /// Whether connections use TLS, for the hint on a refused plain login.
    tls: bool,
}

/// The DSN's `tls` parameter and the configuration's TLS fields as mysql_async's options;
/// `None` for no TLS.
fn ssl_opts(c: &DbConfig, url: &str) -> Result<Option<SslOpts>> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let tls_param = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.to_ascii_lowercase());
    let custom = !c.tls_ca.trim().is_empty() || !c.tls_certificate_key.trim().is_empty();
    let mut opts = match tls_param.as_deref() {
        // The configuration's certificates decide when they are given, as in Vault, which
        // registers them as the DSN's TLS configuration.
        _ if custom => SslOpts::default(),
        None | Some("false" | "0" | "") => return Ok(None),
        Some("true" | "1") => SslOpts::default(),
        Some("skip-verify") => SslOpts::default().with_danger_accept_invalid_certs(true),
        Some("preferred") => {
            return Err(CoreError::bad(
                "tls=preferred in 'connection_url' is not supported (hush does not fall back \
                 to plain text): use tls=true, tls=skip-verify or tls=false",
            ))
        }
        Some(other) => {
            return Err(CoreError::bad(format!(
                "tls={other} in 'connection_url' is not one of true, skip-verify, false; give \
                 a CA in 'tls_ca' for a server whose certificate a private CA signed"
            )))
        }
    };
    if !c.tls_ca.trim().is_empty() {
        super::tls::pem_certificates(c.tls_ca.as_bytes(), "'tls_ca'").map_err(CoreError::bad)?;
        opts = opts
            .with_root_certs(vec![c.tls_ca.as_bytes().to_vec().into()])
            .with_disable_built_in_roots(true);
    }
    if !c.tls_certificate_key.trim().is_empty() {
        let pem = c.tls_certificate_key.as_bytes();
        super::tls::pem_certificates(pem, "'tls_certificate_key'").map_err(CoreError::bad)?;
        // mysql_async reads PKCS#1 RSA keys only: say so now rather than at the first
        // connection.
        match super::tls::pem_private_key(pem, "'tls_certificate_key'") {
            Ok(PrivateKeyDer::Pkcs1(_)) => {}
            Ok(_) => {
                return Err(CoreError::bad(
                    "'tls_certificate_key' holds a key hush's MySQL driver cannot use: give an \
                     RSA key in PKCS#1 PEM (-----BEGIN RSA PRIVATE KEY-----) with its \
                     certificate",
                ))
            }
            Err(e) => return Err(CoreError::bad(e)),
        }
        opts = opts.with_client_identity(Some(ClientIdentity::new(
            pem.to_vec().into(),
            pem.to_vec().into(),
        )));
    }
    if !c.tls_server_name.trim().is_empty() {
        opts = opts.with_danger_tls_hostname_override(Some(c.tls_server_name.trim().to_string()));
    }
    if c.tls_skip_verify {
        opts = opts.with_danger_accept_invalid_certs(true);
    }
    Ok(Some(opts))
}

impl Mysql {
    /// A plugin for `c`: Vault writes the URL as `{{username}}:{{password}}@tcp(host:port)/`,
    /// a Go DSN; both that and `mysql://user:pass@host:port/db` are accepted.
    pub fn new(c: &DbConfig) -> Result<Self> {
        let (host, port, db) = parse_target(&c.connection_url)?;
        let constraints = PoolConstraints::new(0, c.max_open_connections.max(1) as usize)
            .ok_or_else(|| CoreError::bad("'max_open_connections' must be at least 1"))?;
        let ssl = ssl_opts(c, &c.connection_url)?;
        let opts = Opts::from(
            OptsBuilder::default()
                .ip_or_hostname(host.clone())
                .tcp_port(port)
                .user(Some(c.username.clone()))
                .pass(Some(c.password.clone()))
                .db_name(db)
                .ssl_opts(ssl.clone())
                .pool_opts(PoolOpts::default().with_constraints(constraints)),
        );
        Ok(Mysql {
            pool: Pool::new(opts.clone()),
            opts,
            target: format!("{host}:{port}"),
            tls: ssl.is_some(),
        })
    }

    fn connect_error(&self, e: mysql_async::Error) -> PluginError {
        let text = e.to_string();
        // MariaDB answers a plain login to a server with require_secure_transport with
        // "Access denied", which does not say that TLS is what is missing.
        let hint = if !self.tls && text.contains("(1045)") {
            "; if the server takes TLS connections only, give its CA in tls_ca or add ?tls=true \
             to connection_url"
        } else {
            ""
        };
        PluginError::Connect(format!(
            "cannot connect to {}: {}{hint}",
            self.target,
            super::tls::explain(&text)
        ))
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
            .map_err(|e| self.connect_error(e))
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

    async fn check_login(
        &self,
        username: &str,
        password: &str,
    ) -> std::result::Result<(), PluginError> {
        let opts = OptsBuilder::from_opts(self.opts.clone())
            .user(Some(username))
            .pass(Some(password));
        let connect = mysql_async::Conn::new(opts);
        let mut conn = tokio::time::timeout(std::time::Duration::from_secs(10), connect)
            .await
            .map_err(|_| {
                PluginError::Connect(format!(
                    "connecting to {} timed out after 10 s",
                    self.target
                ))
            })?
            .map_err(|e| self.connect_error(e))?;
        let out = conn.query_drop("SELECT 1").await.map_err(|e| {
            PluginError::Connect(format!(
                "{username} logged in to {} but SELECT 1 failed: {e}",
                self.target
            ))
        });
        // A polite close; a connection that cannot say goodbye is dropped all the same.
        let _ = conn.disconnect().await;
        out
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

    fn config(url: &str) -> DbConfig {
        DbConfig {
            connection_url: url.into(),
            username: "u".into(),
            password: "p".into(),
            max_open_connections: 1,
            ..DbConfig::default()
        }
    }

    #[test]
    fn tls_from_the_dsn_and_vaults_fields() {
        let url = "{{username}}:{{password}}@tcp(db:3306)/";
        assert!(ssl_opts(&config(url), url).unwrap().is_none());
        let skip = format!("{url}?tls=skip-verify");
        assert!(ssl_opts(&config(&skip), &skip)
            .unwrap()
            .unwrap()
            .accept_invalid_certs());
        let on = format!("{url}?tls=true");
        assert!(!ssl_opts(&config(&on), &on)
            .unwrap()
            .unwrap()
            .accept_invalid_certs());
        for (q, why) in [
            ("?tls=preferred", "not supported"),
            ("?tls=custom", "not one of"),
        ] {
            let u = format!("{url}{q}");
            assert!(ssl_opts(&config(&u), &u)
                .unwrap_err()
                .to_string()
                .contains(why));
        }
        let mut c = config(url);
        c.tls_ca = "junk".into();
        assert!(ssl_opts(&c, url)
            .unwrap_err()
            .to_string()
            .contains("'tls_ca'"));
        let ca = rcgen::generate_simple_self_signed(vec!["db".into()]).unwrap();
        c.tls_ca = ca.cert.pem();
        c.tls_server_name = "db.internal".into();
        let o = ssl_opts(&c, url).unwrap().unwrap();
        assert_eq!(o.tls_hostname_override(), Some("db.internal"));
        assert!(o.disable_built_in_roots());
        // A PKCS#8 key (rcgen's) is refused with what to give instead.
        c.tls_certificate_key = format!("{}{}", ca.cert.pem(), ca.signing_key.serialize_pem());
        assert!(ssl_opts(&c, url)
            .unwrap_err()
            .to_string()
            .contains("PKCS#1"));
    }

    /// Against a real server when `HUSH_TEST_MYSQL_URL` (Vault's DSN with `{{username}}` and
    /// `{{password}}`), `HUSH_TEST_MYSQL_USER` and `HUSH_TEST_MYSQL_PASSWORD` are set.
    #[tokio::test]
    async fn check_login_against_a_real_server() {
        let (Ok(url), Ok(user), Ok(password)) = (
            std::env::var("HUSH_TEST_MYSQL_URL"),
            std::env::var("HUSH_TEST_MYSQL_USER"),
            std::env::var("HUSH_TEST_MYSQL_PASSWORD"),
        ) else {
            eprintln!("HUSH_TEST_MYSQL_URL is not set: no MySQL to log in to");
            return;
        };
        let mut c = config(&url);
        c.username = user.clone();
        c.password = password.clone();
        let db = Mysql::new(&c).unwrap();
        db.check_login(&user, &password).await.unwrap();
        let e = db
            .check_login(&user, "not-the-password-0xq")
            .await
            .unwrap_err();
        assert!(matches!(e, PluginError::Connect(_)), "{e}");
        let text = e.to_string();
        assert!(text.contains("Access denied"), "{text}");
        assert!(!text.contains("not-the-password-0xq"));
        db.verify().await.unwrap();
    }
}
