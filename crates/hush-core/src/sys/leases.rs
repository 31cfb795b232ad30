//! `sys/leases/*`.

use crate::ctx::Ctx;
use crate::error::{CoreError, Result};
use crate::logical::Response;

/// `sys/leases/revoke-prefix/:prefix`: hush's only leases are tokens, so this revokes every token
/// created under the prefix (e.g. `auth/userpass/login`, `auth/token/create`), with children.
pub(super) async fn revoke_prefix(ctx: &Ctx<'_>, prefix: &str) -> Result<Response> {
    let prefix = prefix.trim_start_matches('/');
    if prefix.is_empty() {
        return Err(CoreError::bad(
            "a prefix is required, e.g. sys/leases/revoke-prefix/auth/userpass/login",
        ));
    }
    let revoked = ctx.un.tokens.revoke_by_path_prefix(prefix).await?;
    tracing::info!(prefix, revoked, "revoked tokens by prefix");
    Ok(Response::no_content())
}
