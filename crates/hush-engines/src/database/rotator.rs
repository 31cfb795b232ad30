//! The database engine as the rotator of another mount's secret (a KV secret rotated with
//! `generator=database`): it sets and tests the passwords of existing users through one of
//! its connections, as it does for static roles, without storing them.

use hush_core::engine::{CredentialChange, CredentialOp, EngineRequest};
use hush_core::error::{CoreError, Result};

use super::static_roles::StaticRole;
use super::{check_name, require_config, DatabaseBackend};

impl DatabaseBackend {
    /// [`hush_core::engine::LogicalBackend::change_credential`] for this engine.
    pub(super) async fn rotator(
        &self,
        req: &EngineRequest<'_>,
        change: &CredentialChange<'_>,
    ) -> Result<()> {
        check_name("database configuration", change.target)?;
        let config = require_config(req, change.target).await?;
        if change.username.trim().is_empty() {
            return Err(CoreError::bad("the database user to rotate has no name"));
        }
        if change.username == config.username {
            return Err(CoreError::bad(format!(
                "\"{}\" is the user hush itself connects as through {}config/{}: rotate it with \
                 rotate-root/{}, not as a secret's user",
                change.username, req.mount.path, change.target, change.target
            )));
        }
        // A user a static role rotates has its password changed by that role: two rotations of
        // one password would undo each other.
        for name in req.view.list("static-roles/").await? {
            if name.ends_with('/') {
                continue;
            }
            let Some(role) = req
                .view
                .get_json::<StaticRole>(&format!("static-roles/{name}"))
                .await?
            else {
                continue;
            };
            if role.db_name == change.target && role.username == change.username {
                return Err(CoreError::bad(format!(
                    "\"{}\" is rotated by the static role \"{name}\" of {}: use one or the \
                     other (delete the static role, or read static-creds/{name})",
                    change.username, req.mount.path
                )));
            }
        }
        let plugin = self.plugin(change.target, &config).await?;
        match change.op {
            CredentialOp::Check => Ok(()),
            CredentialOp::Set => plugin
                .set_password(&[], change.username, change.password)
                .await
                .map_err(|e| {
                    CoreError::Upstream(format!(
                        "setting the password of \"{}\" through {}config/{} failed: {e}",
                        change.username, req.mount.path, change.target
                    ))
                }),
            CredentialOp::Test => plugin
                .check_login(change.username, change.password)
                .await
                .map_err(|e| {
                    CoreError::Upstream(format!(
                        "logging in as \"{}\" with the new password through {}config/{} \
                         failed: {e}",
                        change.username, req.mount.path, change.target
                    ))
                }),
        }
    }
}
