//! Static roles: an existing database user whose password hush sets and then rotates every
//! `rotation_period`, handing the current one out at `static-creds/:name` (Vault's API).

use hush_core::engine::EngineRequest;
use hush_core::error::{CoreError, Result};
use hush_core::fields;
use hush_core::logical::{map, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    check_allowed, check_name, generate_password, require_config, statements, DatabaseBackend,
};

/// The shortest rotation period accepted (rotations are checked every few seconds).
const MIN_PERIOD_SECS: u64 = 1;

/// A static role as stored: the user, its current password, and when it was set.
#[derive(Clone, Serialize, Deserialize)]
pub struct StaticRole {
    /// The configuration it uses.
    pub db_name: String,
    /// The existing database user.
    pub username: String,
    /// Seconds between rotations.
    pub rotation_period: u64,
    /// What sets the password (empty: the plugin's default).
    pub rotation_statements: Vec<String>,
    /// The current password.
    pub password: String,
    /// Unix seconds of the last rotation.
    pub last_rotation: i64,
}

fn key(name: &str) -> String {
    format!("static-roles/{name}")
}

/// The static role `name`, or the 400 that says there is none.
async fn load_static(req: &EngineRequest<'_>, name: &str) -> Result<StaticRole> {
    req.view
        .get_json(&key(name))
        .await?
        .ok_or_else(|| CoreError::bad(format!("unknown static role: \"{name}\"")))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl DatabaseBackend {
    /// Sets a new password for the static role `name` and stores it.
    async fn rotate_static(
        &self,
        req: &EngineRequest<'_>,
        name: &str,
        mut role: StaticRole,
    ) -> Result<StaticRole> {
        let config = require_config(req, &role.db_name).await?;
        let plugin = self.plugin(&role.db_name, &config).await?;
        let password = generate_password()?;
        plugin
            .set_password(&role.rotation_statements, &role.username, &password)
            .await
            .map_err(|e| {
                CoreError::Upstream(format!(
                    "rotating the password of \"{}\" (static role \"{name}\") failed: {e}; the \
                     current password stays",
                    role.username
                ))
            })?;
        role.password = password.to_string();
        role.last_rotation = now();
        req.view.put_json(&key(name), &role).await?;
        tracing::info!(role = name, "rotated a static role's password");
        Ok(role)
    }

    pub(super) async fn static_role_write(
        &self,
        req: &EngineRequest<'_>,
        name: &str,
    ) -> Result<Response> {
        check_name("static role", name)?;
        let _rotations = self.rotations.lock().await;
        let d = req.data;
        let existing: Option<StaticRole> = req.view.get_json(&key(name)).await?;
        let db_name = fields::string(d, "db_name")?
            .or_else(|| existing.as_ref().map(|r| r.db_name.clone()))
            .filter(|n| !n.is_empty())
            .ok_or_else(|| CoreError::bad("'db_name' is required: the configuration to use"))?;
        let config = require_config(req, &db_name).await?;
        check_allowed(&config, &db_name, name)?;
        let username = fields::string(d, "username")?
            .or_else(|| existing.as_ref().map(|r| r.username.clone()))
            .filter(|u| !u.is_empty())
            .ok_or_else(|| CoreError::bad("'username' is required: the existing database user"))?;
        if existing.as_ref().is_some_and(|r| r.username != username) {
            return Err(CoreError::bad(
                "a static role's username cannot change: delete the role and create it again",
            ));
        }
        let period = fields::duration(d, "rotation_period")?
            .map(|p| p.as_secs())
            .or_else(|| existing.as_ref().map(|r| r.rotation_period))
            .ok_or_else(|| {
                CoreError::bad("'rotation_period' is required, e.g. 24h (or seconds)")
            })?;
        if period < MIN_PERIOD_SECS {
            return Err(CoreError::bad("'rotation_period' must be at least 1s"));
        }
        if fields::string(d, "rotation_schedule")?.is_some_and(|s| !s.is_empty()) {
            return Err(CoreError::bad(
                "'rotation_schedule' (cron) is not supported yet: use rotation_period",
            ));
        }
        let rotation_statements = match d.get("rotation_statements") {
            Some(_) => statements(d, "rotation_statements")?,
            None => existing
                .as_ref()
                .map(|r| r.rotation_statements.clone())
                .unwrap_or_default(),
        };
        let role = StaticRole {
            db_name,
            username,
            rotation_period: period,
            rotation_statements,
            password: existing
                .as_ref()
                .map(|r| r.password.clone())
                .unwrap_or_default(),
            last_rotation: existing.as_ref().map_or(0, |r| r.last_rotation),
        };
        if existing.is_none() {
            // As Vault does: the user's password is hush's from the start.
            self.rotate_static(req, name, role).await?;
        } else {
            req.view.put_json(&key(name), &role).await?;
        }
        Ok(Response::no_content())
    }

    pub(super) async fn static_creds(
        &self,
        req: &EngineRequest<'_>,
        name: &str,
    ) -> Result<Response> {
        check_name("static role", name)?;
        let role = load_static(req, name).await?;
        let next = role.last_rotation + i64::try_from(role.rotation_period).unwrap_or(i64::MAX / 4);
        Ok(Response::data(map(json!({
            "username": role.username,
            "password": role.password,
            "last_vault_rotation": hush_core::time::rfc3339(role.last_rotation),
            "rotation_period": role.rotation_period,
            "ttl": (next - now()).max(0),
        }))))
    }

    pub(super) async fn rotate_role(
        &self,
        req: &EngineRequest<'_>,
        name: &str,
    ) -> Result<Response> {
        check_name("static role", name)?;
        let _rotations = self.rotations.lock().await;
        let role = load_static(req, name).await?;
        self.rotate_static(req, name, role).await?;
        Ok(Response::no_content())
    }

    /// Rotates every static role whose period is up; a failure is retried at the next call.
    pub(super) async fn rotate_due(&self, req: &EngineRequest<'_>) -> Result<()> {
        let _rotations = self.rotations.lock().await;
        for name in req.view.list("static-roles/").await? {
            if name.ends_with('/') {
                continue;
            }
            let Some(role) = req.view.get_json::<StaticRole>(&key(&name)).await? else {
                continue;
            };
            let due =
                role.last_rotation + i64::try_from(role.rotation_period).unwrap_or(i64::MAX / 4);
            if now() >= due {
                if let Err(e) = self.rotate_static(req, &name, role).await {
                    tracing::warn!(role = %name, error = %e, "static role rotation failed; retried");
                }
            }
        }
        Ok(())
    }
}

pub(super) async fn static_role_read(req: &EngineRequest<'_>, name: &str) -> Result<Response> {
    check_name("static role", name)?;
    let r: StaticRole = req
        .view
        .get_json(&key(name))
        .await?
        .ok_or_else(|| CoreError::NotFound(format!("no static role \"{name}\"")))?;
    Ok(Response::data(map(json!({
        "db_name": r.db_name,
        "username": r.username,
        "rotation_period": r.rotation_period,
        "rotation_statements": r.rotation_statements,
        "last_vault_rotation": hush_core::time::rfc3339(r.last_rotation),
        "credential_type": "password",
    }))))
}

pub(super) async fn static_role_delete(req: &EngineRequest<'_>, name: &str) -> Result<Response> {
    check_name("static role", name)?;
    req.view.delete(&key(name)).await?;
    Ok(Response::no_content())
}
