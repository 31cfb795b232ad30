//! The database secrets engine (`hush secrets enable database`), with Vault's API: connection
//! configurations (`config/:name`), roles (`roles/:name`) and dynamic credentials
//! (`creds/:name`): a new database user with a generated password for each read, under a lease
//! whose expiry or revocation drops the user.
//!
//! Each database kind is a [`plugin::Plugin`]: PostgreSQL (`postgresql-database-plugin`) is
//! [`postgres`], MySQL and MariaDB (`mysql-database-plugin`) [`mysql`]. The engine keeps connections pooled per configuration, rebuilt when the
//! configuration changes (or on `reset/:name`).

pub mod mysql;
pub mod plugin;
pub mod postgres;
mod rotator;
mod static_roles;
pub mod tls;
pub mod username;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use hush_core::engine::{EngineRequest, LogicalBackend, Registry};
use hush_core::error::{CoreError, Result};
use hush_core::fields;
use hush_core::framework::{Field, FieldType, PathSpec, PathTable, Paths};
use hush_core::logical::{map, LeaseSecret, Operation, Response};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use plugin::{Plugin, Statements};

/// The engine's type name.
pub const TYPE: &str = "database";

/// Registers the engine.
pub fn register(registry: &mut Registry) {
    registry.register(
        TYPE,
        Arc::new(|_entry| Ok(Arc::new(DatabaseBackend::default()) as Arc<dyn LogicalBackend>)),
    );
}

/// A connection configuration as stored (inside the barrier).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct DbConfig {
    /// The plugin, e.g. `postgresql-database-plugin`.
    pub plugin_name: String,
    /// The connection URL, with `{{username}}` and `{{password}}` placeholders.
    pub connection_url: String,
    /// The user hush connects as.
    pub username: String,
    /// Its password: never returned.
    pub password: String,
    /// The roles that may use this configuration (`*`: all).
    pub allowed_roles: Vec<String>,
    /// Connections kept open at most.
    pub max_open_connections: u32,
    /// Statements that change hush's own password (`rotate-root`).
    pub root_rotation_statements: Vec<String>,
    /// Whether the connection was checked when the configuration was written.
    pub verify_connection: bool,
    /// MySQL: the PEM CA the server's certificate must chain to.
    #[serde(default)]
    pub tls_ca: String,
    /// MySQL: the PEM client certificate and key (never returned).
    #[serde(default)]
    pub tls_certificate_key: String,
    /// MySQL: the name the server's certificate must hold.
    #[serde(default)]
    pub tls_server_name: String,
    /// MySQL: encrypt without checking the certificate.
    #[serde(default)]
    pub tls_skip_verify: bool,
    /// How user names are made (Vault's username template); empty: the plugin's default.
    #[serde(default)]
    pub username_template: String,
    /// The password policy (sys/policies/password) passwords follow; empty: Vault's default.
    #[serde(default)]
    pub password_policy: String,
}

impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("plugin_name", &self.plugin_name)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A role: how credentials for it are made and removed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    /// The configuration it uses.
    pub db_name: String,
    /// What creates a user.
    pub creation_statements: Vec<String>,
    /// What removes one (empty: the plugin's default).
    pub revocation_statements: Vec<String>,
    /// What undoes a creation that failed half-way.
    pub rollback_statements: Vec<String>,
    /// What extends a user's life on renewal (empty: the plugin's default).
    pub renew_statements: Vec<String>,
    /// TTL of the credentials' leases, seconds (0: the mount's default).
    pub default_ttl: u64,
    /// Their maximum life, seconds (0: the mount's maximum).
    pub max_ttl: u64,
}

/// The database engine of one mount.
#[derive(Default)]
pub struct DatabaseBackend {
    /// Open connections by configuration name; dropped when a configuration changes.
    plugins: Mutex<HashMap<String, Arc<dyn Plugin>>>,
    /// Serializes static-role rotations (scheduled and asked for) so two never race.
    rotations: tokio::sync::Mutex<()>,
}

fn paths() -> &'static Paths<DatabaseBackend> {
    static PATHS: OnceLock<Paths<DatabaseBackend>> = OnceLock::new();
    PATHS.get_or_init(|| {
        use Operation::{Delete, List, Read, Update};
        Paths::new(
            "this database secrets engine",
            "",
            vec![
                PathSpec::new("config", "The connection configurations.").op(
                    List,
                    "List configurations.",
                    |_, req, _| Box::pin(list(req, "config/")),
                ),
                PathSpec::new("config/{name}", "A connection to a database.")
                    .op(
                        Read,
                        "Read a configuration (never its password).",
                        |b: &DatabaseBackend, req, c| Box::pin(b.config_read(req, c.get("name"))),
                    )
                    .op(
                        Update,
                        "Write a configuration.",
                        |b: &DatabaseBackend, req, c| Box::pin(b.config_write(req, c.get("name"))),
                    )
                    .op(
                        Delete,
                        "Delete a configuration.",
                        |b: &DatabaseBackend, req, c| Box::pin(b.config_delete(req, c.get("name"))),
                    )
                    .fields(CONFIG_FIELDS),
                PathSpec::new(
                    "reset/{name}",
                    "Close and reopen a configuration's connections.",
                )
                .op(
                    Update,
                    "Reset the connections.",
                    |b: &DatabaseBackend, req, c| Box::pin(b.reset(req, c.get("name"))),
                ),
                PathSpec::new(
                    "rotate-root/{name}",
                    "Change the password hush connects with; the new one is never shown.",
                )
                .op(
                    Update,
                    "Rotate the root credentials.",
                    |b: &DatabaseBackend, req, c| Box::pin(b.rotate_root(req, c.get("name"))),
                ),
                PathSpec::new("roles", "The roles.").op(List, "List roles.", |_, req, _| {
                    Box::pin(list(req, "roles/"))
                }),
                PathSpec::new("roles/{name}", "A role: how its credentials are made.")
                    .op(Read, "Read a role.", |_, req, c| {
                        Box::pin(role_read(req, c.get("name")))
                    })
                    .op(Update, "Write a role.", |_, req, c| {
                        Box::pin(role_write(req, c.get("name")))
                    })
                    .op(Delete, "Delete a role.", |_, req, c| {
                        Box::pin(role_delete(req, c.get("name")))
                    })
                    .fields(ROLE_FIELDS),
                PathSpec::new("static-roles", "The static roles.").op(
                    List,
                    "List static roles.",
                    |_, req, _| Box::pin(list(req, "static-roles/")),
                ),
                PathSpec::new(
                    "static-roles/{name}",
                    "An existing database user whose password hush rotates.",
                )
                .op(Read, "Read a static role.", |_, req, c| {
                    Box::pin(static_roles::static_role_read(req, c.get("name")))
                })
                .op(
                    Update,
                    "Write a static role.",
                    |b: &DatabaseBackend, req, c| Box::pin(b.static_role_write(req, c.get("name"))),
                )
                .op(
                    Delete,
                    "Delete a static role (the user stays).",
                    |_, req, c| Box::pin(static_roles::static_role_delete(req, c.get("name"))),
                )
                .fields(STATIC_ROLE_FIELDS),
                PathSpec::new(
                    "static-creds/{name}",
                    "The current password of a static role.",
                )
                .op(
                    Read,
                    "Read the current credentials.",
                    |b: &DatabaseBackend, req, c| Box::pin(b.static_creds(req, c.get("name"))),
                ),
                PathSpec::new("rotate-role/{name}", "Rotate a static role's password now.").op(
                    Update,
                    "Rotate now.",
                    |b: &DatabaseBackend, req, c| Box::pin(b.rotate_role(req, c.get("name"))),
                ),
                PathSpec::new("creds/{name}", "New credentials of a role, under a lease.")
                    .op(
                        Read,
                        "Create credentials.",
                        |b: &DatabaseBackend, req, c| Box::pin(b.creds(req, c.get("name"))),
                    )
                    .reads_have_effects(),
            ],
        )
    })
}

const CONFIG_FIELDS: &[Field] = &[
    Field::new(
        "plugin_name",
        FieldType::String,
        "postgresql-database-plugin.",
    ),
    Field::new(
        "connection_url",
        FieldType::String,
        "postgresql://{{username}}:{{password}}@host:port/db",
    ),
    Field::new("username", FieldType::String, "The user hush connects as."),
    Field::new(
        "password",
        FieldType::String,
        "Its password (never shown again).",
    ),
    Field::new(
        "allowed_roles",
        FieldType::Strings,
        "Roles that may use it; * for all.",
    ),
    Field::new(
        "max_open_connections",
        FieldType::Int,
        "Connections open at most (4).",
    ),
    Field::new(
        "max_idle_connections",
        FieldType::Int,
        "Accepted (idle = open).",
    ),
    Field::new(
        "max_connection_lifetime",
        FieldType::Any,
        "Accepted and ignored.",
    ),
    Field::new(
        "verify_connection",
        FieldType::Bool,
        "Connect before saving (true).",
    ),
    Field::new(
        "root_rotation_statements",
        FieldType::Strings,
        "Statements that change hush's own password.",
    ),
    Field::new(
        "password_policy",
        FieldType::String,
        "A password policy of sys/policies/password for generated passwords.",
    ),
    Field::new(
        "username_template",
        FieldType::String,
        "How user names are made, e.g. {{.RoleName}}-{{random 8}}.",
    ),
    Field::new(
        "tls_ca",
        FieldType::String,
        "MySQL: PEM CA for the server's certificate.",
    ),
    Field::new(
        "tls_certificate_key",
        FieldType::String,
        "MySQL: PEM client certificate and RSA key.",
    ),
    Field::new(
        "tls_server_name",
        FieldType::String,
        "MySQL: the name the server's certificate holds.",
    ),
    Field::new(
        "tls_skip_verify",
        FieldType::Bool,
        "MySQL: do not check the server's certificate.",
    ),
];

const ROLE_FIELDS: &[Field] = &[
    Field::new("db_name", FieldType::String, "The configuration to use."),
    Field::new(
        "creation_statements",
        FieldType::Strings,
        "What creates a user.",
    ),
    Field::new(
        "revocation_statements",
        FieldType::Strings,
        "What removes one.",
    ),
    Field::new(
        "rollback_statements",
        FieldType::Strings,
        "What undoes a failed creation.",
    ),
    Field::new(
        "renew_statements",
        FieldType::Strings,
        "What extends a user's life.",
    ),
    Field::new("default_ttl", FieldType::Duration, "The leases' TTL."),
    Field::new(
        "max_ttl",
        FieldType::Duration,
        "The credentials' maximum life.",
    ),
];

const STATIC_ROLE_FIELDS: &[Field] = &[
    Field::new("db_name", FieldType::String, "The configuration to use."),
    Field::new("username", FieldType::String, "The existing database user."),
    Field::new(
        "rotation_period",
        FieldType::Duration,
        "Time between rotations.",
    ),
    Field::new(
        "rotation_schedule",
        FieldType::String,
        "Cron schedule of rotations (UTC), e.g. 0 0 * * SAT; instead of rotation_period.",
    ),
    Field::new(
        "rotation_window",
        FieldType::Duration,
        "How late a scheduled rotation may start (at least 1h).",
    ),
    Field::new(
        "rotation_statements",
        FieldType::Strings,
        "What sets the password.",
    ),
];

/// The plugins hush has.
const PLUGINS: &[&str] = &[postgres::PLUGIN_NAME, mysql::PLUGIN_NAME];

fn check_name(what: &str, name: &str) -> Result<()> {
    hush_core::canonical::check_name(what, name)
}

async fn list(req: &EngineRequest<'_>, folder: &str) -> Result<Response> {
    let keys: Vec<String> = req
        .view
        .list(folder)
        .await?
        .into_iter()
        .filter(|k| !k.ends_with('/'))
        .collect();
    if keys.is_empty() {
        return Ok(Response::raw(404, json!({ "errors": [] })));
    }
    Ok(Response::data(map(json!({ "keys": keys }))))
}

fn statements(data: &Map<String, Value>, field: &str) -> Result<Vec<String>> {
    Ok(fields::strings(data, field)?
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

async fn load_config(req: &EngineRequest<'_>, name: &str) -> Result<Option<DbConfig>> {
    req.view.get_json(&format!("config/{name}")).await
}

/// The configuration `db_name`, or the 400 that says it does not exist.
async fn require_config(req: &EngineRequest<'_>, db_name: &str) -> Result<DbConfig> {
    load_config(req, db_name).await?.ok_or_else(|| {
        CoreError::bad(format!(
            "database configuration \"{db_name}\" does not exist: write config/{db_name} first"
        ))
    })
}

async fn load_role(req: &EngineRequest<'_>, name: &str) -> Result<Option<Role>> {
    req.view.get_json(&format!("roles/{name}")).await
}

impl DatabaseBackend {
    /// The open plugin of configuration `name` (connected on first use).
    async fn plugin(&self, name: &str, config: &DbConfig) -> Result<Arc<dyn Plugin>> {
        if let Some(p) = self.plugins.lock().get(name) {
            return Ok(p.clone());
        }
        let p = open_plugin(config)?;
        self.plugins.lock().insert(name.to_string(), p.clone());
        Ok(p)
    }

    async fn config_read(&self, req: &EngineRequest<'_>, name: &str) -> Result<Response> {
        check_name("database configuration", name)?;
        let c = load_config(req, name)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("no database configuration \"{name}\"")))?;
        let mut details = json!({
            "connection_url": c.connection_url,
            "username": c.username,
            "max_open_connections": c.max_open_connections,
        });
        if !c.username_template.is_empty() {
            details["username_template"] = json!(c.username_template);
        }
        if c.plugin_name == mysql::PLUGIN_NAME {
            // tls_certificate_key holds a private key: never returned, like the password.
            details["tls_ca"] = json!(c.tls_ca);
            details["tls_server_name"] = json!(c.tls_server_name);
            details["tls_skip_verify"] = json!(c.tls_skip_verify);
        }
        Ok(Response::data(map(json!({
            "plugin_name": c.plugin_name,
            "connection_details": details,
            "allowed_roles": c.allowed_roles,
            "root_credentials_rotate_statements": c.root_rotation_statements,
            "password_policy": c.password_policy,
            "verify_connection": c.verify_connection,
        }))))
    }

    async fn config_write(&self, req: &EngineRequest<'_>, name: &str) -> Result<Response> {
        check_name("database configuration", name)?;
        let d = req.data;
        let existing = load_config(req, name).await?;
        let plugin_name = fields::string(d, "plugin_name")?
            .or_else(|| existing.as_ref().map(|e| e.plugin_name.clone()))
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                CoreError::bad(format!(
                    "'plugin_name' is required: one of {}",
                    PLUGINS.join(", ")
                ))
            })?;
        if !PLUGINS.contains(&plugin_name.as_str()) {
            return Err(CoreError::bad(format!(
                "plugin \"{plugin_name}\" is not available: hush has {}",
                PLUGINS.join(", ")
            )));
        }
        let kept = |field: &str, old: Option<&str>| -> Result<String> {
            Ok(fields::string(d, field)?
                .or_else(|| old.map(str::to_string))
                .unwrap_or_default())
        };
        let old = existing.as_ref();
        let tls_ca = kept("tls_ca", old.map(|e| e.tls_ca.as_str()))?;
        let tls_certificate_key = kept(
            "tls_certificate_key",
            old.map(|e| e.tls_certificate_key.as_str()),
        )?;
        let tls_server_name = kept("tls_server_name", old.map(|e| e.tls_server_name.as_str()))?;
        let tls_skip_verify = fields::bool(d, "tls_skip_verify")?
            .or_else(|| old.map(|e| e.tls_skip_verify))
            .unwrap_or(false);
        if plugin_name == postgres::PLUGIN_NAME
            && (!tls_ca.is_empty()
                || !tls_certificate_key.is_empty()
                || !tls_server_name.is_empty()
                || tls_skip_verify)
        {
            return Err(CoreError::bad(
                "tls_ca, tls_certificate_key, tls_server_name and tls_skip_verify are \
                 mysql-database-plugin settings: for PostgreSQL put libpq's settings in \
                 'connection_url', e.g. ?sslmode=verify-full&sslrootcert=/path/ca.pem",
            ));
        }
        let username_template = kept(
            "username_template",
            old.map(|e| e.username_template.as_str()),
        )?;
        if !username_template.is_empty() {
            // Parsed and tried once, as Vault does, so a template that cannot make a name is
            // refused now rather than at every creds call.
            username::Template::parse(&username_template)
                .and_then(|t| {
                    t.render(&username::Metadata {
                        display_name: "token".into(),
                        role_name: "role".into(),
                    })
                })
                .map_err(|e| {
                    CoreError::bad(format!("'username_template' is not a valid template: {e}"))
                })?;
        }
        // As in Vault, the policy is looked up when a password is made, so it may be written
        // after the configuration; one that does not exist then is a 400 naming it.
        let password_policy = kept("password_policy", old.map(|e| e.password_policy.as_str()))?;
        if !password_policy.is_empty() {
            check_name("password policy", &password_policy)?;
        }
        let connection_url = fields::string(d, "connection_url")?
            .or_else(|| existing.as_ref().map(|e| e.connection_url.clone()))
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                CoreError::bad(
                    "'connection_url' is required, e.g. \
                     postgresql://{{username}}:{{password}}@db.example.com:5432/postgres",
                )
            })?;
        let username = fields::string(d, "username")?
            .or_else(|| existing.as_ref().map(|e| e.username.clone()))
            .unwrap_or_default();
        let password = fields::string(d, "password")?
            .or_else(|| existing.as_ref().map(|e| e.password.clone()))
            .unwrap_or_default();
        let max_open = fields::u64(d, "max_open_connections")?
            .or_else(|| existing.as_ref().map(|e| u64::from(e.max_open_connections)))
            .unwrap_or(4);
        if max_open == 0 || max_open > 1000 {
            return Err(CoreError::bad(
                "'max_open_connections' must be between 1 and 1000",
            ));
        }
        let config = DbConfig {
            plugin_name,
            connection_url,
            username,
            password,
            allowed_roles: fields::strings(d, "allowed_roles")?
                .or_else(|| existing.as_ref().map(|e| e.allowed_roles.clone()))
                .unwrap_or_default(),
            max_open_connections: u32::try_from(max_open).unwrap_or(4),
            root_rotation_statements: match d.get("root_rotation_statements") {
                Some(_) => statements(d, "root_rotation_statements")?,
                None => existing
                    .as_ref()
                    .map(|e| e.root_rotation_statements.clone())
                    .unwrap_or_default(),
            },
            verify_connection: fields::bool(d, "verify_connection")?.unwrap_or(true),
            tls_ca,
            tls_certificate_key,
            tls_server_name,
            tls_skip_verify,
            username_template,
            password_policy,
        };
        let plugin = open_plugin(&config)?;
        if config.verify_connection {
            plugin.verify().await.map_err(|e| {
                CoreError::bad(format!(
                    "error verifying the connection to database \"{name}\": {e}; the \
                     configuration was not saved (verify_connection=false saves it unchecked)"
                ))
            })?;
        }
        req.view
            .put_json(&format!("config/{name}"), &config)
            .await?;
        self.plugins.lock().insert(name.to_string(), plugin);
        Ok(Response::no_content())
    }

    async fn config_delete(&self, req: &EngineRequest<'_>, name: &str) -> Result<Response> {
        check_name("database configuration", name)?;
        req.view.delete(&format!("config/{name}")).await?;
        self.plugins.lock().remove(name);
        Ok(Response::no_content())
    }

    async fn reset(&self, req: &EngineRequest<'_>, name: &str) -> Result<Response> {
        check_name("database configuration", name)?;
        let config = load_config(req, name)
            .await?
            .ok_or_else(|| CoreError::bad(format!("no database configuration \"{name}\"")))?;
        let plugin = open_plugin(&config)?;
        plugin
            .verify()
            .await
            .map_err(|e| CoreError::Upstream(e.to_string()))?;
        self.plugins.lock().insert(name.to_string(), plugin);
        Ok(Response::no_content())
    }

    async fn rotate_root(&self, req: &EngineRequest<'_>, name: &str) -> Result<Response> {
        check_name("database configuration", name)?;
        let mut config = load_config(req, name)
            .await?
            .ok_or_else(|| CoreError::bad(format!("no database configuration \"{name}\"")))?;
        if config.username.is_empty() {
            return Err(CoreError::bad(
                "this configuration has no 'username': rotate-root changes that user's password",
            ));
        }
        let new_password = generate_password(req, &config).await?;
        let plugin = self.plugin(name, &config).await?;
        plugin
            .set_password(
                &config.root_rotation_statements,
                &config.username,
                &new_password,
            )
            .await
            .map_err(|e| {
                CoreError::Upstream(format!("rotating the root credentials failed: {e}"))
            })?;
        config.password = new_password.to_string();
        req.view
            .put_json(&format!("config/{name}"), &config)
            .await?;
        // New connections with the new password; the old ones keep working until they close.
        self.plugins
            .lock()
            .insert(name.to_string(), open_plugin(&config)?);
        tracing::info!(
            config = name,
            "rotated a database configuration's root password"
        );
        Ok(Response::no_content())
    }

    async fn creds(&self, req: &EngineRequest<'_>, name: &str) -> Result<Response> {
        check_name("role", name)?;
        let role = load_role(req, name)
            .await?
            .ok_or_else(|| CoreError::bad(format!("unknown role: \"{name}\"")))?;
        let config = load_config(req, &role.db_name).await?.ok_or_else(|| {
            CoreError::bad(format!(
                "role \"{name}\" uses database configuration \"{}\", which does not exist",
                role.db_name
            ))
        })?;
        check_allowed(&config, &role.db_name, name)?;
        let plugin = self.plugin(&role.db_name, &config).await?;
        let username = new_username(&config, req.display_name, name, plugin.max_username())?;
        let password = generate_password(req, &config).await?;
        let ttl = effective_ttl(req, &role);
        let expiration = chrono::Utc::now()
            + chrono::Duration::seconds(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 4));
        plugin
            .create_user(
                &Statements {
                    main: &role.creation_statements,
                    rollback: &role.rollback_statements,
                },
                &username,
                &password,
                &expiration.format("%Y-%m-%d %H:%M:%S%z").to_string(),
            )
            .await
            .map_err(|e| {
                CoreError::bad(format!("creating credentials for role \"{name}\": {e}"))
            })?;
        let mut internal = Map::new();
        internal.insert("username".into(), json!(username));
        internal.insert("role".into(), json!(name));
        internal.insert("db_name".into(), json!(role.db_name));
        let mut resp = Response::data(map(json!({
            "username": username,
            "password": password.as_str(),
        })));
        resp.secret = Some(LeaseSecret {
            ttl,
            max_ttl: Duration::from_secs(role.max_ttl),
            renewable: true,
            internal,
        });
        Ok(resp)
    }

    /// The plugin and role statements for a leased user.
    async fn for_lease(
        &self,
        req: &EngineRequest<'_>,
        internal: &Map<String, Value>,
    ) -> Result<(Arc<dyn Plugin>, Option<Role>, String)> {
        let field = |k: &str| {
            internal
                .get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| CoreError::Internal(format!("a database lease has no {k}")))
        };
        let (username, db_name, role) = (field("username")?, field("db_name")?, field("role")?);
        let config = load_config(req, &db_name).await?.ok_or_else(|| {
            CoreError::Upstream(format!(
                "database configuration \"{db_name}\" is gone, so user \"{username}\" cannot be \
                 dropped; restore the configuration, or revoke-force the lease"
            ))
        })?;
        let plugin = self.plugin(&db_name, &config).await?;
        Ok((plugin, load_role(req, &role).await?, username))
    }
}

fn open_plugin(config: &DbConfig) -> Result<Arc<dyn Plugin>> {
    match config.plugin_name.as_str() {
        postgres::PLUGIN_NAME => Ok(Arc::new(postgres::Postgres::new(config)?)),
        mysql::PLUGIN_NAME => Ok(Arc::new(mysql::Mysql::new(config)?)),
        other => Err(CoreError::bad(format!(
            "plugin \"{other}\" is not available"
        ))),
    }
}

fn check_allowed(config: &DbConfig, db_name: &str, role: &str) -> Result<()> {
    if config.allowed_roles.iter().any(|r| r == "*" || r == role) {
        return Ok(());
    }
    Err(CoreError::bad(format!(
        "role \"{role}\" is not allowed by database configuration \"{db_name}\": add it to the \
         configuration's allowed_roles"
    )))
}

/// Vault's system default lease TTL, used when neither the role nor the mount sets one.
const DEFAULT_TTL_SECS: u64 = 768 * 3600;

/// The credentials' TTL: the role's, else the mount's, else Vault's default. Always set, so the
/// database's own expiry of the user is never earlier than the lease (which the core may only
/// shorten, to the maximum).
fn effective_ttl(req: &EngineRequest<'_>, role: &Role) -> Duration {
    let ttl = [role.default_ttl, req.mount.config.default_lease_ttl]
        .into_iter()
        .find(|t| *t > 0)
        .unwrap_or(DEFAULT_TTL_SECS);
    Duration::from_secs(ttl)
}

/// The default user name template when the requester's display name is not known: Vault's
/// default without its `DisplayName` part (hush's engines are not told the token's display
/// name), so `v-<role>-<random>-<unix time>`, at most 63 characters for PostgreSQL and 32 for
/// MySQL (whose role part is shorter so that the random part always fits).
fn default_template(plugin_name: &str) -> &'static str {
    if plugin_name == mysql::PLUGIN_NAME {
        username::MYSQL_DEFAULT
    } else {
        username::POSTGRES_DEFAULT
    }
}

/// A new user name for role `role` from the configuration's `username_template` (or the
/// plugin's default), at most `max` characters.
fn new_username(config: &DbConfig, display_name: &str, role: &str, max: usize) -> Result<String> {
    let text = if config.username_template.is_empty() {
        default_template(&config.plugin_name)
    } else {
        config.username_template.as_str()
    };
    let meta = username::Metadata {
        display_name: display_name.to_string(),
        role_name: role.to_string(),
    };
    let name = username::Template::parse(text)
        .and_then(|t| t.render(&meta))
        .map_err(|e| CoreError::bad(format!("'username_template' cannot make a user name: {e}")))?;
    let length = name.chars().count();
    if name.trim().is_empty() {
        return Err(CoreError::bad(
            "'username_template' made an empty user name: give it a {{random 20}} part",
        ));
    }
    if length > max {
        return Err(CoreError::bad(format!(
            "'username_template' made \"{name}\" ({length} characters), longer than the {max} \
             the database takes: end the template with | truncate {max}"
        )));
    }
    Ok(name)
}

/// A new password for `config`: from its `password_policy` (read from sys/policies/password
/// through the core, so a policy changed there applies at once), or Vault's default.
async fn generate_password(
    req: &EngineRequest<'_>,
    config: &DbConfig,
) -> Result<Zeroizing<String>> {
    if config.password_policy.is_empty() {
        return default_password();
    }
    let name = &config.password_policy;
    let policy = req
        .peers("a database configuration's password_policy")?
        .password_policy(name)
        .await?
        .ok_or_else(|| {
            CoreError::bad(format!(
                "password policy \"{name}\" does not exist: write sys/policies/password/{name}, \
                 or clear the configuration's password_policy"
            ))
        })?;
    hush_core::engine::generate_password(&policy)
}

/// Vault's default password policy: 20 characters with at least one lower-case letter, one
/// upper-case letter, one digit and one dash.
fn default_password() -> Result<Zeroizing<String>> {
    static POLICY: OnceLock<hush_policy::PasswordPolicy> = OnceLock::new();
    hush_core::engine::generate_password(
        POLICY.get_or_init(hush_policy::PasswordPolicy::vault_default),
    )
}

async fn role_read(req: &EngineRequest<'_>, name: &str) -> Result<Response> {
    check_name("role", name)?;
    let r = load_role(req, name)
        .await?
        .ok_or_else(|| CoreError::NotFound(format!("no role \"{name}\"")))?;
    Ok(Response::data(map(json!({
        "db_name": r.db_name,
        "creation_statements": r.creation_statements,
        "revocation_statements": r.revocation_statements,
        "rollback_statements": r.rollback_statements,
        "renew_statements": r.renew_statements,
        "default_ttl": r.default_ttl,
        "max_ttl": r.max_ttl,
        "credential_type": "password",
    }))))
}

async fn role_write(req: &EngineRequest<'_>, name: &str) -> Result<Response> {
    check_name("role", name)?;
    let d = req.data;
    let existing = load_role(req, name).await?;
    let db_name = fields::string(d, "db_name")?
        .or_else(|| existing.as_ref().map(|r| r.db_name.clone()))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| CoreError::bad("'db_name' is required: the configuration to use"))?;
    let config = require_config(req, &db_name).await?;
    check_allowed(&config, &db_name, name)?;
    let keep = |field: &str, old: Option<&Vec<String>>| -> Result<Vec<String>> {
        match d.get(field) {
            Some(_) => statements(d, field),
            None => Ok(old.cloned().unwrap_or_default()),
        }
    };
    let creation = keep(
        "creation_statements",
        existing.as_ref().map(|r| &r.creation_statements),
    )?;
    if creation.is_empty() {
        return Err(CoreError::bad(
            "'creation_statements' is required, e.g. CREATE ROLE \"{{name}}\" WITH LOGIN \
             PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
        ));
    }
    let secs = |field: &str, old: u64| -> Result<u64> {
        Ok(fields::duration(d, field)?.map_or(old, |t| t.as_secs()))
    };
    let default_ttl = secs(
        "default_ttl",
        existing.as_ref().map_or(0, |r| r.default_ttl),
    )?;
    let max_ttl = secs("max_ttl", existing.as_ref().map_or(0, |r| r.max_ttl))?;
    if max_ttl > 0 && default_ttl > max_ttl {
        return Err(CoreError::bad(format!(
            "'default_ttl' ({default_ttl}s) is longer than 'max_ttl' ({max_ttl}s)"
        )));
    }
    let mount_max = req.mount.config.max_lease_ttl;
    if mount_max > 0 && (default_ttl > mount_max || max_ttl > mount_max) {
        return Err(CoreError::bad(format!(
            "the role's TTLs must not exceed the mount's max_lease_ttl ({mount_max}s)"
        )));
    }
    let role = Role {
        db_name,
        creation_statements: creation,
        revocation_statements: keep(
            "revocation_statements",
            existing.as_ref().map(|r| &r.revocation_statements),
        )?,
        rollback_statements: keep(
            "rollback_statements",
            existing.as_ref().map(|r| &r.rollback_statements),
        )?,
        renew_statements: keep(
            "renew_statements",
            existing.as_ref().map(|r| &r.renew_statements),
        )?,
        default_ttl,
        max_ttl,
    };
    req.view.put_json(&format!("roles/{name}"), &role).await?;
    Ok(Response::no_content())
}

async fn role_delete(req: &EngineRequest<'_>, name: &str) -> Result<Response> {
    check_name("role", name)?;
    req.view.delete(&format!("roles/{name}")).await?;
    Ok(Response::no_content())
}

#[async_trait]
impl LogicalBackend for DatabaseBackend {
    async fn handle(&self, req: &EngineRequest<'_>) -> Result<Response> {
        paths().handle(self, req).await
    }

    fn paths(&self) -> Option<&dyn PathTable> {
        Some(paths())
    }

    async fn periodic(&self, req: &EngineRequest<'_>) -> Result<()> {
        self.rotate_due(req).await
    }

    async fn change_credential(
        &self,
        req: &EngineRequest<'_>,
        change: &hush_core::engine::CredentialChange<'_>,
    ) -> Result<()> {
        self.rotator(req, change).await
    }

    async fn revoke_secret(
        &self,
        req: &EngineRequest<'_>,
        internal: &Map<String, Value>,
    ) -> Result<()> {
        let (plugin, role, username) = self.for_lease(req, internal).await?;
        let statements = role.map(|r| r.revocation_statements).unwrap_or_default();
        plugin
            .revoke_user(&statements, &username)
            .await
            .map_err(|e| CoreError::Upstream(format!("dropping user \"{username}\": {e}")))
    }

    async fn renew_secret(
        &self,
        req: &EngineRequest<'_>,
        internal: &Map<String, Value>,
    ) -> Result<()> {
        let (plugin, role, username) = self.for_lease(req, internal).await?;
        let statements = role.map(|r| r.renew_statements).unwrap_or_default();
        // The database's own expiry of the user moves with the lease.
        let until = req
            .data
            .get("expire_time")
            .and_then(Value::as_i64)
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .ok_or_else(|| CoreError::Internal("a renewal without its new expiry".into()))?;
        plugin
            .renew_user(
                &statements,
                &username,
                &until.format("%Y-%m-%d %H:%M:%S%z").to_string(),
            )
            .await
            .map_err(|e| CoreError::Upstream(format!("renewing user \"{username}\": {e}")))
    }
}
