//! Static roles: an existing database user whose password hush sets and then rotates every
//! `rotation_period`, or on a cron `rotation_schedule` (UTC) that may start late by at most
//! its `rotation_window`, handing the current one out at `static-creds/:name` (Vault's API).

use hush_core::engine::EngineRequest;
use hush_core::error::{CoreError, Result};
use hush_core::fields;
use hush_core::logical::{map, Response};
use hush_core::schedule::{self, CronSchedule};
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
    /// Seconds between rotations (0 when a schedule is used instead).
    pub rotation_period: u64,
    /// The cron schedule of rotations (empty when a period is used instead).
    #[serde(default)]
    pub rotation_schedule: String,
    /// How late, in seconds, a scheduled rotation may still start (0: any time before the
    /// next one).
    #[serde(default)]
    pub rotation_window: u64,
    /// Unix seconds of the next scheduled rotation (schedules only).
    #[serde(default)]
    pub next_rotation: i64,
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

/// The parsed schedule of `text`, or the 400 that names what is wrong with it.
fn parse_schedule(text: &str) -> Result<CronSchedule> {
    let parsed = CronSchedule::parse(text).map_err(|e| {
        CoreError::bad(format!(
            "'rotation_schedule' \"{text}\" is not a cron schedule: {e}"
        ))
    })?;
    if parsed.next_after_unix(now()).is_none() {
        return Err(CoreError::bad(format!(
            "'rotation_schedule' \"{text}\" never occurs (a day that does not exist, such as \
             30 February)"
        )));
    }
    Ok(parsed)
}

impl StaticRole {
    /// Whether rotations follow a schedule rather than a period.
    fn scheduled(&self) -> bool {
        !self.rotation_schedule.is_empty()
    }

    /// Unix seconds of the next rotation.
    fn next_rotation_time(&self) -> i64 {
        if self.scheduled() {
            self.next_rotation
        } else {
            self.last_rotation
                .saturating_add(i64::try_from(self.rotation_period).unwrap_or(i64::MAX / 4))
        }
    }

    /// After a rotation at `at`: the next scheduled time (schedules only).
    fn schedule_from(&mut self, at: i64) {
        if self.scheduled() {
            // The schedule was checked when it was written, so None is impossible in practice;
            // far in the future then, rather than a rotation on every tick.
            self.next_rotation = CronSchedule::parse(&self.rotation_schedule)
                .ok()
                .and_then(|s| s.next_after_unix(at))
                .unwrap_or(i64::MAX / 4);
        }
    }

    /// How the role is rotated, as Vault shows it (read and static-creds).
    fn rotation_fields(&self, out: &mut serde_json::Map<String, serde_json::Value>) {
        if self.scheduled() {
            out.insert("rotation_schedule".into(), json!(self.rotation_schedule));
            if self.rotation_window > 0 {
                out.insert("rotation_window".into(), json!(self.rotation_window));
            }
        } else {
            out.insert("rotation_period".into(), json!(self.rotation_period));
        }
    }
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
        let password = generate_password(req, &config).await?;
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
        role.schedule_from(role.last_rotation);
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
        // Vault's rules: a period or a schedule, never both; a window only with a schedule.
        let period = fields::duration(d, "rotation_period")?.map(|p| p.as_secs());
        let schedule_text = fields::string(d, "rotation_schedule")?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let window = fields::duration(d, "rotation_window")?.map(|w| w.as_secs());
        let (mut rotation_period, mut rotation_schedule, mut rotation_window) =
            existing.as_ref().map_or((0, String::new(), 0), |r| {
                (
                    r.rotation_period,
                    r.rotation_schedule.clone(),
                    r.rotation_window,
                )
            });
        match (period, &schedule_text) {
            (Some(_), Some(_)) => {
                return Err(CoreError::bad(
                    "mutually exclusive fields rotation_period and rotation_schedule were both \
                     specified; only one of them can be provided",
                ))
            }
            (None, None) if existing.is_none() => {
                return Err(CoreError::bad(
                    "one of 'rotation_period' (e.g. 24h) or 'rotation_schedule' (cron, e.g. \
                     \"0 0 * * SAT\") is required to create a static role",
                ))
            }
            (Some(p), None) => {
                if p < MIN_PERIOD_SECS {
                    return Err(CoreError::bad("'rotation_period' must be at least 1s"));
                }
                if window.is_some() {
                    return Err(CoreError::bad(
                        "'rotation_window' is invalid with use of rotation_period: it bounds \
                         how late a rotation_schedule's rotation may start",
                    ));
                }
                (rotation_period, rotation_schedule, rotation_window) = (p, String::new(), 0);
            }
            (None, Some(text)) => {
                parse_schedule(text)?;
                (rotation_period, rotation_schedule) = (0, text.clone());
            }
            (None, None) => {}
        }
        if let Some(w) = window {
            if rotation_schedule.is_empty() {
                return Err(CoreError::bad(
                    "'rotation_window' applies to a rotation_schedule only: this static role \
                     rotates on its rotation_period",
                ));
            }
            schedule::check_rotation_window(w)
                .map_err(|e| CoreError::bad(format!("'rotation_window' is invalid: {e}")))?;
            rotation_window = w;
        }
        let rotation_statements = match d.get("rotation_statements") {
            Some(_) => statements(d, "rotation_statements")?,
            None => existing
                .as_ref()
                .map(|r| r.rotation_statements.clone())
                .unwrap_or_default(),
        };
        let schedule_changed = schedule_text.is_some();
        let mut role = StaticRole {
            db_name,
            username,
            rotation_period,
            rotation_schedule,
            rotation_window,
            next_rotation: existing.as_ref().map_or(0, |r| r.next_rotation),
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
            if schedule_changed {
                // Vault's: the first scheduled time after the last rotation (already past, it
                // is due at once, within its window).
                role.schedule_from(role.last_rotation);
            }
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
        let mut out = map(json!({
            "username": role.username,
            "password": role.password,
            "last_vault_rotation": hush_core::time::rfc3339(role.last_rotation),
            "ttl": (role.next_rotation_time() - now()).max(0),
        }));
        role.rotation_fields(&mut out);
        Ok(Response::data(out))
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
            let (at, next) = (now(), role.next_rotation_time());
            if at < next {
                continue;
            }
            if role.scheduled() && !schedule::inside_window(next, role.rotation_window, at) {
                // Vault's rule: a scheduled rotation that could not start within its window
                // is skipped until the next scheduled time.
                let mut role = role;
                role.schedule_from(at);
                tracing::info!(
                    role = %name,
                    "a scheduled static role rotation missed its rotation_window; it waits for \
                     the next scheduled time"
                );
                req.view.put_json(&key(&name), &role).await?;
                continue;
            }
            if let Err(e) = self.rotate_static(req, &name, role).await {
                tracing::warn!(role = %name, error = %e, "static role rotation failed; retried");
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
    let mut out = map(json!({
        "db_name": r.db_name,
        "username": r.username,
        "rotation_statements": r.rotation_statements,
        "last_vault_rotation": hush_core::time::rfc3339(r.last_rotation),
        "credential_type": "password",
    }));
    r.rotation_fields(&mut out);
    Ok(Response::data(out))
}

pub(super) async fn static_role_delete(req: &EngineRequest<'_>, name: &str) -> Result<Response> {
    check_name("static role", name)?;
    req.view.delete(&key(name)).await?;
    Ok(Response::no_content())
}
